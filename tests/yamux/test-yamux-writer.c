/* SPDX-License-Identifier: MIT */
/*
 * The yamux session's writer (sm-yamux-session-io.c): small frames are
 * flushed together right before the context polls, big ones go out at
 * once, and a full socket holds the rest back, against a raw peer.
 */

#include "config.h"

#include "sm-yamux-session.h"
#include "sm-yamux-stream.h"
#include "test-io-util.h"

typedef struct {
  SmYamuxSession *session;
  GIOStream      *raw;      /* the peer's end, read by hand */
  SmYamuxStream  *stream;
} WriterFixture;

static void
writer_fixture_start (WriterFixture *fixture,
                      gsize          write_buffer_limit)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GError) error = NULL;
  SmYamuxConfig config;

  sm_yamux_config_init (&config);
  config.keepalive_interval_ms = 0;
  config.write_buffer_limit = write_buffer_limit;
  make_connections (&a, &fixture->raw);
  fixture->session = sm_yamux_session_new (a, SM_YAMUX_ROLE_CLIENT, &config, NULL);
  fixture->stream = sm_yamux_session_open_stream (fixture->session, &error);
  g_assert_no_error (error);
}

static void
writer_fixture_stop (WriterFixture *fixture)
{
  g_io_stream_close (G_IO_STREAM (fixture->stream), NULL, NULL);
  g_clear_object (&fixture->stream);
  sm_yamux_session_close (fixture->session);
  g_clear_object (&fixture->session);
  g_clear_object (&fixture->raw);
  drain_default_context ();
}

/* The DATA payload the raw end received so far, parsed from its input */
typedef struct {
  GByteArray *input;
  gsize       parsed;
  GByteArray *data;
} RawReader;

static void
raw_reader_init (RawReader *reader)
{
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
raw_reader_poll (WriterFixture *fixture,
                 RawReader     *reader)
{
  guint8 chunk[16384];
  g_autoptr(GError) error = NULL;
  gssize n = g_pollable_input_stream_read_nonblocking (input_of (fixture->raw), chunk,
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
          g_assert_cmpuint (header.stream_id, ==, sm_yamux_stream_get_id (fixture->stream));
          g_byte_array_append (reader->data, frame + SM_YAMUX_HEADER_SIZE, payload);
        }
      reader->parsed += SM_YAMUX_HEADER_SIZE + payload;
    }
  return TRUE;
}

/* Reads until @expected payload bytes arrived; the loop runs meanwhile. */
static GByteArray *
raw_read_data (WriterFixture *fixture,
               gsize          expected)
{
  RawReader reader;
  GByteArray *data;
  gboolean expired;
  GSource *deadline = deadline_new (NULL, &expired);

  raw_reader_init (&reader);
  while (reader.data->len < expected && !expired)
    if (!raw_reader_poll (fixture, &reader))
      g_main_context_iteration (NULL, TRUE);
  deadline_clear (&deadline);
  g_assert_false (expired);
  g_assert_cmpuint (reader.data->len, ==, expected);
  data = g_byte_array_ref (reader.data);
  raw_reader_clear (&reader);
  return data;
}

static gsize
write_some (WriterFixture *fixture,
            const guint8  *data,
            gsize          len)
{
  g_autoptr(GError) error = NULL;
  gssize n = g_pollable_output_stream_write_nonblocking (
    G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (fixture->stream))),
    data, len, NULL, &error);

  if (n < 0)
    {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
      return 0;
    }
  return n;
}

static void
fill_pattern (guint8 *data,
              gsize   len)
{
  for (gsize i = 0; i < len; i++)
    data[i] = (guint8) (i * 7 + (i >> 8));
}

/* Small frames wait for the flush before the next poll and a big frame
 * goes out at once: whatever the mix, the bytes arrive in order. */
static void
test_writer_order (void)
{
  WriterFixture fixture = { 0 };
  gsize sizes[] = { 10, 100, 40000, 7, 20000, 1, 65536, 3 };
  gsize total = 0;
  g_autofree guint8 *data = NULL;
  g_autoptr(GByteArray) received = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    total += sizes[i];
  data = g_malloc (total);
  fill_pattern (data, total);

  writer_fixture_start (&fixture, SM_YAMUX_DEFAULT_WRITE_BUFFER_LIMIT);
  for (gsize i = 0, offset = 0; i < G_N_ELEMENTS (sizes); offset += sizes[i], i++)
    g_assert_cmpuint (write_some (&fixture, data + offset, sizes[i]), ==, sizes[i]);

  received = raw_read_data (&fixture, total);
  g_assert_cmpmem (received->data, received->len, data, total);
  writer_fixture_stop (&fixture);
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
test_writer_makes_room (void)
{
  WriterFixture fixture = { 0 };
  guint8 data[100];
  g_autoptr(GSource) source = NULL;
  g_autoptr(GByteArray) received = NULL;
  gboolean writable = FALSE;
  gsize written = 0;
  gsize n;

  fill_pattern (data, sizeof data);
  writer_fixture_start (&fixture, 4096);
  drain_default_context ();

  while ((n = write_some (&fixture, data, sizeof data)) > 0)
    written += n;
  /* Queued with their headers, they reached the limit */
  g_assert_cmpuint (written, >, 4096 / 2);

  source = g_pollable_output_stream_create_source (
    G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (fixture.stream))), NULL);
  g_source_set_priority (source, G_PRIORITY_HIGH);
  g_source_set_callback (source, G_SOURCE_FUNC (on_writable), &writable, NULL);
  g_source_attach (source, NULL);

  /* The very next iteration must not sleep, and dispatches the stream */
  g_main_context_set_poll_func (NULL, recording_poll);
  g_main_context_iteration (NULL, TRUE);
  g_main_context_set_poll_func (NULL, NULL);
  g_assert_cmpint (last_poll_timeout, ==, 0);
  g_assert_true (writable);

  received = raw_read_data (&fixture, written);
  for (gsize i = 0; i < written; i++)
    g_assert_cmpuint (received->data[i], ==, data[i % sizeof data]);
  writer_fixture_stop (&fixture);
}

/* With the socket full, frames queue up to the limit and go out as the
 * peer reads. All of it fits the initial window: no window updates. */
static void
test_writer_full_socket (void)
{
  WriterFixture fixture = { 0 };
  gsize total = SM_YAMUX_INITIAL_WINDOW;
  g_autofree guint8 *data = g_malloc (total);
  g_autoptr(GError) error = NULL;
  RawReader reader;
  gsize written = 0;
  gboolean blocked = FALSE;
  gboolean expired;
  GSource *deadline;

  fill_pattern (data, total);
  writer_fixture_start (&fixture, 16 * 1024);
  g_socket_set_option (g_socket_connection_get_socket (G_SOCKET_CONNECTION (sm_yamux_session_get_connection (fixture.session))),
                       SOL_SOCKET, SO_SNDBUF, 8192, &error);
  g_assert_no_error (error);
  drain_default_context ();

  /* Big and small writes until the stream takes no more */
  for (guint i = 0; ; i++)
    {
      gsize step = write_some (&fixture, data + written, MIN (total - written, i % 2 ? 20000 : 500));

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

  raw_reader_init (&reader);
  deadline = deadline_new (NULL, &expired);
  while (reader.data->len < total && !expired)
    {
      if (written < total)
        {
          gsize step = write_some (&fixture, data + written, MIN (total - written, 30000));

          written += step;
          blocked |= step == 0;
        }
      if (!raw_reader_poll (&fixture, &reader))
        g_main_context_iteration (NULL, TRUE);
    }
  deadline_clear (&deadline);
  g_assert_false (expired);
  g_assert_true (blocked);
  g_assert_cmpmem (reader.data->data, reader.data->len, data, total);
  raw_reader_clear (&reader);
  writer_fixture_stop (&fixture);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/yamux-writer/order", test_writer_order);
  g_test_add_func ("/yamux-writer/makes-room", test_writer_makes_room);
  g_test_add_func ("/yamux-writer/full-socket", test_writer_full_socket);

  return g_test_run ();
}
