/* SPDX-License-Identifier: MIT */
/*
 * The yamux session's writer (sm-yamux-writer.c): small frames are
 * flushed together right before the context polls, big ones go out at
 * once, and a full socket holds the rest back, against a raw peer.
 */

#include "config.h"

#include <sys/socket.h>

#include "sm-test-yamux.h"

/* A client session facing the raw peer, with one stream open */
static SmYamuxStream *
writer_start (SmTestYamux *fixture,
              gsize        write_buffer_limit)
{
  SmYamuxConfig config;

  sm_test_yamux_config_init (&config);
  config.write_buffer_limit = write_buffer_limit;
  return sm_test_yamux_open_stream (sm_test_yamux_start_raw (fixture, SM_YAMUX_ROLE_CLIENT, &config));
}

/* The DATA payload of @stream_id that the raw end received so far,
 * parsed from its input */
typedef struct {
  guint32     stream_id;
  GByteArray *input;
  gsize       parsed;
  GByteArray *data;
} RawReader;

static void
raw_reader_init (RawReader     *reader,
                 SmYamuxStream *stream)
{
  reader->stream_id = sm_yamux_stream_get_id (stream);
  reader->input = g_byte_array_new ();
  reader->parsed = 0;
  reader->data = g_byte_array_new ();
}

static void
raw_reader_clear (RawReader *reader)
{
  g_byte_array_unref (reader->input);
  g_byte_array_unref (reader->data);
}

/* One non-blocking read from the raw end; FALSE if there was nothing. */
static gboolean
raw_reader_poll (SmTestYamux *fixture,
                 RawReader   *reader)
{
  guint8 chunk[16384];
  g_autoptr(GError) error = NULL;
  gssize n = g_pollable_input_stream_read_nonblocking (sm_test_input_of (fixture->raw), chunk,
                                                       sizeof chunk, NULL, &error);

  if (n < 0)
    {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
      return FALSE;
    }
  g_assert_cmpint (n, >, 0);
  g_byte_array_append (reader->input, chunk, n);

  while (reader->input->len - reader->parsed >= SM_YAMUX_HEADER_SIZE)
    {
      const guint8 *frame = reader->input->data + reader->parsed;
      SmYamuxHeader header;
      gsize payload;

      g_assert_true (sm_yamux_header_decode (frame, &header, &error));
      g_assert_no_error (error);
      payload = header.type == SM_YAMUX_TYPE_DATA ? header.length : 0;
      if (reader->input->len - reader->parsed < SM_YAMUX_HEADER_SIZE + payload)
        break;
      if (header.type == SM_YAMUX_TYPE_DATA)
        {
          g_assert_cmpuint (header.stream_id, ==, reader->stream_id);
          g_byte_array_append (reader->data, frame + SM_YAMUX_HEADER_SIZE, payload);
        }
      reader->parsed += SM_YAMUX_HEADER_SIZE + payload;
    }
  return TRUE;
}

/* Reads until @expected payload bytes arrived; the loop runs meanwhile. */
static GByteArray *
raw_read_data (SmTestYamux   *fixture,
               SmYamuxStream *stream,
               gsize          expected)
{
  RawReader reader;
  GByteArray *data;
  gboolean expired;
  GSource *deadline = sm_test_deadline_new (NULL, &expired);

  /* The raw end is not watched by the loop: sleep only when it is empty. */
  raw_reader_init (&reader, stream);
  while (reader.data->len < expected && !expired)
    if (!raw_reader_poll (fixture, &reader))
      g_main_context_iteration (NULL, TRUE);
  sm_test_deadline_clear (&deadline);
  g_assert_false (expired);
  g_assert_cmpuint (reader.data->len, ==, expected);
  data = g_byte_array_ref (reader.data);
  raw_reader_clear (&reader);
  return data;
}

static gsize
write_some (SmYamuxStream *stream,
            const guint8  *data,
            gsize          len)
{
  g_autoptr(GError) error = NULL;
  gssize n = g_pollable_output_stream_write_nonblocking (sm_test_output_of (G_IO_STREAM (stream)),
                                                         data, len, NULL, &error);

  if (n < 0)
    {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
      return 0;
    }
  return n;
}

/* Small frames wait for the flush before the next poll and a big frame
 * goes out at once: whatever the mix, the bytes arrive in order. */
static void
test_writer_order (SmTestYamux   *fixture,
                    gconstpointer  test_data)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  gsize sizes[] = { 10, 100, 40000, 7, 20000, 1, 65536, 3 };
  gsize total = 0;
  g_autofree guint8 *data = NULL;
  g_autoptr(GByteArray) received = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    total += sizes[i];
  data = g_malloc (total);
  sm_test_pattern_fill (data, total, 0, 0);

  stream = writer_start (fixture, SM_YAMUX_DEFAULT_WRITE_BUFFER_LIMIT);
  for (gsize i = 0, offset = 0; i < G_N_ELEMENTS (sizes); offset += sizes[i], i++)
    g_assert_cmpuint (write_some (stream, data + offset, sizes[i]), ==, sizes[i]);

  received = raw_read_data (fixture, stream, total);
  g_assert_cmpmem (received->data, received->len, data, total);
}

/* Records how long the loop wanted to sleep, and does not sleep. */
static gint last_poll_timeout;

static gint
recording_poll (GPollFD *fds,
                guint    nfds,
                gint     timeout)
{
  last_poll_timeout = timeout;
  return g_poll (fds, nfds, 0);
}

/* Streams that wait for room in the queue wake up when the flush before
 * the poll makes room, even though no fd becomes ready: a source
 * prepared before the writer must not let the loop sleep. */
static gboolean
on_writable (GObject  *stream,
             gpointer  user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_writer_makes_room (SmTestYamux   *fixture,
                    gconstpointer  test_data)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  guint8 data[100];
  g_autoptr(GSource) source = NULL;
  g_autoptr(GByteArray) received = NULL;
  gboolean writable = FALSE;
  gsize written = 0;
  gsize n;

  sm_test_pattern_fill (data, sizeof data, 0, 0);
  stream = writer_start (fixture, 4096);
  sm_test_settle ();

  while ((n = write_some (stream, data, sizeof data)) > 0)
    written += n;
  /* Queued with their headers, they reached the limit */
  g_assert_cmpuint (written, >, 4096 / 2);

  source = g_pollable_output_stream_create_source (sm_test_output_of (G_IO_STREAM (stream)), NULL);
  g_source_set_priority (source, G_PRIORITY_HIGH);
  g_source_set_callback (source, G_SOURCE_FUNC (on_writable), &writable, NULL);
  g_source_attach (source, NULL);

  /* The very next iteration must not sleep, and dispatches the stream */
  g_main_context_set_poll_func (NULL, recording_poll);
  g_main_context_iteration (NULL, TRUE);
  g_main_context_set_poll_func (NULL, NULL);
  g_assert_cmpint (last_poll_timeout, ==, 0);
  g_assert_true (writable);

  received = raw_read_data (fixture, stream, written);
  for (gsize i = 0; i < written; i++)
    g_assert_cmpuint (received->data[i], ==, data[i % sizeof data]);
}

/* With the socket full, frames queue up to the limit and go out as the
 * peer reads. All of it fits the initial window: no window updates. */
static void
test_writer_full_socket (SmTestYamux   *fixture,
                    gconstpointer  test_data)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  GIOStream *connection;
  gsize total = SM_YAMUX_INITIAL_WINDOW;
  g_autofree guint8 *data = g_malloc (total);
  g_autoptr(GError) error = NULL;
  RawReader reader;
  gsize written = 0;
  gboolean blocked = FALSE;
  gboolean expired;
  GSource *deadline;

  sm_test_pattern_fill (data, total, 0, 0);
  stream = writer_start (fixture, 16 * 1024);
  connection = sm_yamux_session_get_connection (fixture->client.session);
  g_socket_set_option (g_socket_connection_get_socket (G_SOCKET_CONNECTION (connection)),
                       SOL_SOCKET, SO_SNDBUF, 8192, &error);
  g_assert_no_error (error);
  sm_test_settle ();

  /* Big and small writes until the stream takes no more */
  for (guint i = 0; ; i++)
    {
      gsize step = write_some (stream, data + written, MIN (total - written, i % 2 ? 20000 : 500));

      if (step == 0)
        break;
      written += step;
    }
  g_assert_cmpuint (written, <, total);

  /* Blocked on the socket: nothing to do until the peer reads, so the
   * loop settles instead of spinning. */
  for (guint i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  g_assert_false (g_main_context_pending (NULL));

  raw_reader_init (&reader, stream);
  deadline = sm_test_deadline_new (NULL, &expired);
  while (reader.data->len < total && !expired)
    {
      if (written < total)
        {
          gsize step = write_some (stream, data + written, MIN (total - written, 30000));

          written += step;
          blocked |= step == 0;
        }
      if (!raw_reader_poll (fixture, &reader))
        g_main_context_iteration (NULL, TRUE);
    }
  sm_test_deadline_clear (&deadline);
  g_assert_false (expired);
  g_assert_true (blocked);
  g_assert_cmpmem (reader.data->data, reader.data->len, data, total);
  raw_reader_clear (&reader);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/yamux-writer/" path, SmTestYamux, NULL, sm_test_yamux_setup, func, \
              sm_test_yamux_teardown)

  ADD ("order", test_writer_order);
  ADD ("makes-room", test_writer_makes_room);
  ADD ("full-socket", test_writer_full_socket);

  return g_test_run ();
}
