/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-test-yamux.h"
#include "sm-yamux-private.h"

/*
 * Receive windows of yamux streams (auto-tuning, see SmYamuxFlow): a
 * reader that stalls makes its stream buffer no more than the window cap
 * and slows no other stream; a reader that keeps up gets its window grown
 * up to the cap; a receive buffer keeps no memory once emptied.
 */

#define MIB           (1024 * 1024)
#define STALLED_BYTES (8 * MIB)
#define GROW_BYTES    (16 * MIB)

/* SM_TEST_WAIT_FOR, also asserting after every dispatch that @stream
 * buffers no more than @bound */
#define WAIT_FOR_BOUNDED(condition, stream, bound)                                  \
  G_STMT_START                                                                      \
  {                                                                                 \
    gboolean expired_;                                                              \
    GSource *deadline_ = sm_test_deadline_new (NULL, &expired_);                    \
                                                                                    \
    while (!(condition) && !expired_)                                               \
      {                                                                             \
        g_main_context_iteration (NULL, TRUE);                                      \
        g_assert_cmpuint (sm_yamux_stream_get_buffered (stream), <=, (bound));      \
      }                                                                             \
    sm_test_deadline_clear (&deadline_);                                            \
    g_assert_false (expired_);                                                      \
  }                                                                                 \
  G_STMT_END

typedef struct
{
  gboolean done;
  gsize    written;
  GError  *error;
} WriteAll;

static void
on_write_all_done (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  WriteAll *write = user_data;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (object), result, &write->written,
                                    &write->error);
  write->done = TRUE;
}

/* One non-blocking read of @stream into @out, after the *@n bytes already
 * there; @out has room for @len */
static void
read_some (SmYamuxStream *stream, guint8 *out, gsize len, gsize *n)
{
  g_autoptr(GError) error = NULL;
  gssize got;

  got = g_pollable_input_stream_read_nonblocking (sm_test_input_of (G_IO_STREAM (stream)),
                                                  out + *n, len - *n, NULL, &error);
  if (got < 0)
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
  else
    *n += got;
}

static void
test_stalled_reader (SmTestYamux   *fixture,
                     gconstpointer  data)
{
  const gsize cap = SM_YAMUX_DEFAULT_MAX_STREAM_WINDOW;
  g_autoptr(SmYamuxStream) stalled = NULL;
  g_autofree guint8 *pattern = sm_test_pattern_new (STALLED_BYTES, 0);
  g_autofree guint8 *received = g_malloc (STALLED_BYTES);
  WriteAll write = { 0 };
  SmTestPeer peer;
  SmYamuxStream *stalled_server;
  guint n_echoed = 0;
  gsize n = 0;

  /* The default config: the daemon's */
  sm_test_yamux_start (fixture, NULL, NULL);

  /* Stream 1: the peer writes 8 MiB, our reader does not read */
  stalled = sm_test_yamux_open_stream (&fixture->client);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (stalled)), pattern,
                                   STALLED_BYTES, G_PRIORITY_DEFAULT, NULL, on_write_all_done,
                                   &write);
  SM_TEST_WAIT_FOR (fixture->server.incoming->len == 1);
  stalled_server = g_ptr_array_index (fixture->server.incoming, 0);

  /* Stream 2 of the same session meanwhile moves 8 MiB each way */
  fixture->server.take_incoming = FALSE;
  g_signal_connect (fixture->server.session, "incoming",
                    G_CALLBACK (sm_test_yamux_echo_incoming), &n_echoed);
  sm_test_peer_init (&peer, G_IO_STREAM (sm_test_yamux_open_stream (&fixture->client)), 1);
  sm_test_peer_start_send (&peer, 8 * MIB, TRUE);
  sm_test_peer_start_receive (&peer, 1);
  WAIT_FOR_BOUNDED (peer.got_eof || peer.recv_error != NULL, stalled_server, cap);
  sm_test_peer_assert_received (&peer, 8 * MIB);
  sm_test_peer_clear (&peer);

  /* Stream 1 holds one initial window, which did not grow, and its writer
   * waits */
  sm_test_settle ();
  g_assert_cmpuint (sm_yamux_stream_get_buffered (stalled_server), ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (sm_yamux_stream_get_receive_window (stalled_server), ==,
                    SM_YAMUX_INITIAL_WINDOW);
  g_assert_false (write.done);
  g_assert_false (g_pollable_output_stream_is_writable (sm_test_output_of (G_IO_STREAM (stalled))));

  /* The reader resumes and gets every byte, in order, then EOF */
  WAIT_FOR_BOUNDED ((read_some (stalled_server, received, STALLED_BYTES, &n), n == STALLED_BYTES),
                    stalled_server, cap);
  g_assert_true (memcmp (received, pattern, STALLED_BYTES) == 0);
  SM_TEST_WAIT_FOR (write.done);
  g_assert_no_error (write.error);
  g_assert_cmpuint (write.written, ==, STALLED_BYTES);
  sm_test_close_output (G_IO_STREAM (stalled));
  sm_test_assert_eof (G_IO_STREAM (stalled_server));
  g_assert_cmpuint (sm_yamux_stream_get_buffered (stalled_server), ==, 0);
}

/* A reader that keeps up with a writer held back by the window: its window
 * grows to the cap, while that of the other direction, where nothing
 * moves, stays. */
typedef struct
{
  guint32  cap;  /* the session's, 0: the default */
  gboolean peek; /* read with sm_yamux_stream_peek() and _consume(), no copy */
} GrowCase;

/* Like read_some(), without a copy on the stream's side: everything
 * buffered, a few vectors at a time */
static void
peek_some (SmYamuxStream *stream, guint8 *out, gsize len, gsize *n)
{
  GOutputVector vectors[4];
  guint         n_vectors;

  while (*n < len && (n_vectors = sm_yamux_stream_peek (stream, vectors, 4)) > 0)
    {
      gsize taken = 0;

      for (guint i = 0; i < n_vectors && *n + taken < len; i++)
        {
          gsize size = MIN (vectors[i].size, len - *n - taken);

          memcpy (out + *n + taken, vectors[i].buffer, size);
          taken += size;
        }
      sm_yamux_stream_consume (stream, taken);
      *n += taken;
    }
}

static void
test_grows_keeping_up (SmTestYamux   *fixture,
                       gconstpointer  data)
{
  const GrowCase *grow = data;
  guint32 cap = grow->cap;
  g_autoptr(SmYamuxStream) client = NULL;
  g_autofree guint8 *received = g_malloc (GROW_BYTES);
  SmYamuxStream *server;
  SmTestPeer sender;
  SmYamuxConfig config;
  gsize n = 0;

  sm_test_yamux_config_init (&config);
  if (cap != 0)
    config.max_stream_window = cap;
  cap = config.max_stream_window;
  sm_test_yamux_start (fixture, &config, &config);

  client = sm_test_yamux_open_stream (&fixture->client);
  sm_test_peer_init (&sender, G_IO_STREAM (g_object_ref (client)), 2);
  sm_test_peer_start_send (&sender, GROW_BYTES, TRUE);
  SM_TEST_WAIT_FOR (fixture->server.incoming->len == 1);
  server = g_ptr_array_index (fixture->server.incoming, 0);
  g_assert_cmpuint (sm_yamux_stream_get_receive_window (server), ==, SM_YAMUX_INITIAL_WINDOW);

  /* The window, not the reader, holds the writer back (as over a long
   * round trip): each time, the reader waits for the writer to use up the
   * window, then reads everything. */
  while (n < GROW_BYTES)
    {
      WAIT_FOR_BOUNDED (sm_yamux_stream_get_buffered (server) ==
                            MIN (sm_yamux_stream_get_receive_window (server), GROW_BYTES - n),
                        server, cap);
      if (grow->peek)
        peek_some (server, received, GROW_BYTES, &n);
      else
        read_some (server, received, GROW_BYTES, &n);
      g_assert_cmpuint (sm_yamux_stream_get_buffered (server), ==, 0);
    }
  g_assert_cmpint (sm_test_pattern_find_mismatch (received, GROW_BYTES, 2, 0), ==, -1);
  sm_test_assert_eof (G_IO_STREAM (server));
  g_assert_cmpuint (sm_yamux_stream_get_receive_window (server), ==, cap);
  g_assert_cmpuint (sm_yamux_stream_get_receive_window (client), ==, SM_YAMUX_INITIAL_WINDOW);
  SM_TEST_WAIT_FOR (sender.send_done);
  sm_test_peer_clear (&sender);
}

/* A receive buffer that was emptied holds no segment, also when the last
 * read straight into it (a reserved segment) got nothing. */
static void
test_buffer_released (void)
{
  g_autofree guint8 *pattern = sm_test_pattern_new (300 * 1024, 3);
  g_autofree guint8 *out = g_malloc (300 * 1024);
  SmYamuxBuffer buffer = { 0 };
  gsize available;

  sm_yamux_buffer_append (&buffer, pattern, 300 * 1024);
  g_assert_nonnull (sm_yamux_buffer_reserve (&buffer, 64 * 1024, &available));
  g_assert_cmpuint (available, >, 0);
  g_assert_cmpuint (sm_yamux_buffer_pop (&buffer, out, 300 * 1024), ==, 300 * 1024);
  g_assert_true (memcmp (out, pattern, 300 * 1024) == 0);
  g_assert_null (buffer.head);
  g_assert_null (buffer.tail);

  sm_yamux_buffer_append (&buffer, pattern, 10);
  sm_yamux_buffer_consume (&buffer, 10);
  g_assert_null (buffer.head);
  g_assert_cmpuint (sm_yamux_buffer_get_length (&buffer), ==, 0);
}

/* sm_yamux_stream_get_write_room(): what one non-blocking write takes */
static void
test_write_room (SmTestYamux   *fixture,
                 gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  g_autofree guint8 *pattern = sm_test_pattern_new (SM_YAMUX_INITIAL_WINDOW, 4);
  g_autofree guint8 *received = g_malloc (SM_YAMUX_INITIAL_WINDOW);
  GPollableOutputStream *output;
  SmYamuxStream *server;
  gssize written;
  gsize n = 0;

  sm_test_yamux_start (fixture, NULL, NULL);
  client = sm_test_yamux_open_stream (&fixture->client);
  output = sm_test_output_of (G_IO_STREAM (client));
  SM_TEST_WAIT_FOR (fixture->server.incoming->len == 1);
  server = g_ptr_array_index (fixture->server.incoming, 0);
  SM_TEST_WAIT_FOR (g_pollable_output_stream_is_writable (output));
  g_assert_cmpuint (sm_yamux_stream_get_write_room (client), ==, SM_YAMUX_INITIAL_WINDOW);

  /* A write takes what the room says, and uses it up */
  written = g_pollable_output_stream_write_nonblocking (output, pattern, 100 * 1024, NULL, NULL);
  g_assert_cmpint (written, ==, 100 * 1024);
  g_assert_cmpuint (sm_yamux_stream_get_write_room (client), ==,
                    SM_YAMUX_INITIAL_WINDOW - 100 * 1024);
  written = g_pollable_output_stream_write_nonblocking (output, pattern + 100 * 1024,
                                                        SM_YAMUX_INITIAL_WINDOW, NULL, NULL);
  g_assert_cmpint (written, ==, SM_YAMUX_INITIAL_WINDOW - 100 * 1024);
  g_assert_cmpuint (sm_yamux_stream_get_write_room (client), ==, 0);
  g_assert_false (g_pollable_output_stream_is_writable (output));

  /* The peer reads: its window updates (each at least half a window)
   * give room back */
  SM_TEST_WAIT_FOR ((read_some (server, received, SM_YAMUX_INITIAL_WINDOW, &n),
                     n == SM_YAMUX_INITIAL_WINDOW));
  g_assert_true (memcmp (received, pattern, SM_YAMUX_INITIAL_WINDOW) == 0);
  SM_TEST_WAIT_FOR (g_pollable_output_stream_is_writable (output));
  g_assert_cmpuint (sm_yamux_stream_get_write_room (client), >=, SM_YAMUX_INITIAL_WINDOW / 2);

  /* A stream that can no longer be written has room, so that a write
   * says why */
  sm_yamux_stream_reset (client);
  g_assert_cmpuint (sm_yamux_stream_get_write_room (client), >, 0);
  g_assert_cmpint (g_pollable_output_stream_write_nonblocking (output, pattern, 1, NULL, NULL),
                   ==, -1);
}

static const GrowCase default_cap = { 0, FALSE };
static const GrowCase large_cap = { 4 * MIB, FALSE };
static const GrowCase peeking = { 0, TRUE };

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/yamux-window/buffer-released", test_buffer_released);
  SM_TEST_YAMUX_ADD ("/yamux-window/stalled-reader", test_stalled_reader, NULL);
  SM_TEST_YAMUX_ADD ("/yamux-window/grows-keeping-up", test_grows_keeping_up, &default_cap);
  SM_TEST_YAMUX_ADD ("/yamux-window/grows-keeping-up-large-cap", test_grows_keeping_up,
                     &large_cap);
  SM_TEST_YAMUX_ADD ("/yamux-window/write-room", test_write_room, NULL);
  /* Reading without a copy grants window as reading does */
  SM_TEST_YAMUX_ADD ("/yamux-window/grows-keeping-up-peeking", test_grows_keeping_up, &peeking);
  return g_test_run ();
}
