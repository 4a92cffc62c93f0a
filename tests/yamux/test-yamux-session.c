/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "test-yamux-util.h"

/*
 * Component tests of the yamux transport: SmYamuxSession and the streams
 * it multiplexes, against each other and against hand-made frames.
 */

static void
test_open_accept (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(SmYamuxStream) first = NULL;
  g_autoptr(SmYamuxStream) second = NULL;
  g_autoptr(SmYamuxStream) pushed = NULL;
  SmYamuxStream *accepted;
  SmYamuxStats stats;

  fixture_start (fixture, NULL, NULL);
  first = open_stream (&fixture->client);
  second = open_stream (&fixture->client);
  g_assert_cmpuint (sm_yamux_stream_get_id (first), ==, 1);
  g_assert_cmpuint (sm_yamux_stream_get_id (second), ==, 3);
  g_assert_true (sm_yamux_stream_get_session (first) == fixture->client.session);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->client.session), ==, 2);
  g_assert_cmpuint (fixture->client.n_streams_notifications, ==, 2);

  write_all (first, "hello");
  WAIT_FOR (fixture, fixture->server.incoming->len == 2);
  accepted = g_ptr_array_index (fixture->server.incoming, 0);
  g_assert_cmpuint (sm_yamux_stream_get_id (accepted), ==, 1);
  assert_read (accepted, "hello");
  write_all (accepted, "world");
  assert_read (first, "world");

  /* The server opens even ids, the client accepts them. */
  pushed = open_stream (&fixture->server);
  g_assert_cmpuint (sm_yamux_stream_get_id (pushed), ==, 2);
  write_all (pushed, "push");
  WAIT_FOR (fixture, fixture->client.incoming->len == 1);
  assert_read (g_ptr_array_index (fixture->client.incoming, 0), "push");

  /* Closed both ways, every stream leaves both tables. */
  close_stream (first);
  close_stream (second);
  close_stream (pushed);
  for (guint i = 0; i < fixture->server.incoming->len; i++)
    close_stream (g_ptr_array_index (fixture->server.incoming, i));
  close_stream (g_ptr_array_index (fixture->client.incoming, 0));
  WAIT_FOR (fixture, sm_yamux_session_get_n_streams (fixture->client.session) == 0 &&
                     sm_yamux_session_get_n_streams (fixture->server.session) == 0);

  sm_yamux_session_get_stats (fixture->client.session, &stats);
  g_assert_cmpuint (stats.streams_opened, ==, 2);
  g_assert_cmpuint (stats.streams_accepted, ==, 1);
  g_assert_cmpuint (stats.bytes_sent, ==, strlen ("hello"));
  g_assert_cmpuint (stats.bytes_received, ==, strlen ("world") + strlen ("push"));
  g_assert_false (fixture->client.closed);
  g_assert_false (fixture->server.closed);
}

static void
test_concurrent_echo (Fixture       *fixture,
                      gconstpointer  data)
{
  guint max_pending_syn = GPOINTER_TO_UINT (data);
  const guint n_streams = 200;
  const gsize size = MIB;
  g_autofree guint8 *pattern = make_pattern (size);
  g_autofree Transfer *transfers = g_new0 (Transfer, n_streams);
  SmYamuxConfig config;
  SmYamuxStats stats;
  guint n_echoed = 0;
  guint n_done = 0;

  test_config (&config);
  config.max_pending_syn = max_pending_syn;
  fixture_start (fixture, &config, NULL);
  fixture->server.take_incoming = FALSE;
  g_signal_connect (fixture->server.session, "incoming", G_CALLBACK (on_incoming_echo), &n_echoed);

  for (guint i = 0; i < n_streams; i++)
    {
      transfers[i].stream = open_stream (&fixture->client);
      transfers[i].seed = (i * 97) % CHUNK;
      transfers[i].pattern = pattern;
      transfers[i].size = size;
      transfer_write (&transfers[i]);
      transfer_read (&transfers[i]);
    }
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->client.session), ==, n_streams);

  while (n_done < n_streams)
    {
      WAIT_FOR (fixture, transfers[n_done].read_done);
      g_assert_true (transfers[n_done].write_done);
      n_done++;
    }
  WAIT_FOR (fixture, n_echoed == n_streams);
  WAIT_FOR (fixture, sm_yamux_session_get_n_streams (fixture->client.session) == 0 &&
                     sm_yamux_session_get_n_streams (fixture->server.session) == 0);

  sm_yamux_session_get_stats (fixture->client.session, &stats);
  g_assert_cmpuint (stats.streams_opened, ==, n_streams);
  g_assert_cmpuint (stats.bytes_sent, ==, n_streams * size);
  g_assert_cmpuint (stats.bytes_received, ==, n_streams * size);

  for (guint i = 0; i < n_streams; i++)
    g_object_unref (transfers[i].stream);
  g_assert_false (fixture->client.closed);
  g_assert_false (fixture->server.closed);
}

static void
test_half_close (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  SmYamuxStream *server;

  fixture_start (fixture, NULL, NULL);

  /* The client finishes its request first. */
  client = open_stream (&fixture->client);
  write_all (client, "request");
  close_output (client);
  WAIT_FOR (fixture, fixture->server.incoming->len == 1);
  server = g_ptr_array_index (fixture->server.incoming, 0);
  assert_read (server, "request");
  assert_eof (server);
  write_all (server, "reply");
  close_output (server);
  assert_read (client, "reply");
  assert_eof (client);
  WAIT_FOR (fixture, sm_yamux_session_get_n_streams (fixture->client.session) == 0 &&
                     sm_yamux_session_get_n_streams (fixture->server.session) == 0);
  g_clear_object (&client);

  /* The server finishes first. */
  client = open_stream (&fixture->client);
  write_all (client, "hi");
  WAIT_FOR (fixture, fixture->server.incoming->len == 2);
  server = g_ptr_array_index (fixture->server.incoming, 1);
  assert_read (server, "hi");
  write_all (server, "push");
  close_output (server);
  assert_read (client, "push");
  assert_eof (client);
  write_all (client, "ack");
  close_output (client);
  assert_read (server, "ack");
  assert_eof (server);
  WAIT_FOR (fixture, sm_yamux_session_get_n_streams (fixture->client.session) == 0 &&
                     sm_yamux_session_get_n_streams (fixture->server.session) == 0);
}

static void
test_reset (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  g_autoptr(GError) error = NULL;
  SmYamuxStream *server;

  fixture_start (fixture, NULL, NULL);
  client = open_stream (&fixture->client);
  write_all (client, "doomed");
  WAIT_FOR (fixture, fixture->server.incoming->len == 1);
  server = g_ptr_array_index (fixture->server.incoming, 0);
  WAIT_FOR (fixture, g_pollable_input_stream_is_readable (
                       G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (G_IO_STREAM (server)))));

  sm_yamux_stream_reset (client);
  g_assert_false (sm_yamux_stream_was_reset (client));
  assert_read_fails (client, G_IO_ERROR_CONNECTION_CLOSED);
  WAIT_FOR (fixture, sm_yamux_stream_was_reset (server));

  /* Unread data goes with the reset. */
  assert_read_fails (server, G_IO_ERROR_CONNECTION_CLOSED);
  g_output_stream_write (g_io_stream_get_output_stream (G_IO_STREAM (server)),
                         "x", 1, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->client.session), ==, 0);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->server.session), ==, 0);
  g_assert_false (fixture->server.closed);
}

static void
test_refused_without_handler (Fixture       *fixture,
                              gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;

  fixture_start (fixture, NULL, NULL);
  fixture->server.take_incoming = FALSE;   /* a handler that takes nothing */
  client = open_stream (&fixture->client);
  write_all (client, "anyone?");
  WAIT_FOR (fixture, sm_yamux_stream_was_reset (client));
  assert_read_fails (client, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->server.session), ==, 0);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->client.session), ==, 0);
}

static void
on_write_all_done (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GError **error = user_data;
  gsize written = 0;

  g_assert_false (g_output_stream_write_all_finish (G_OUTPUT_STREAM (object), result,
                                                    &written, error));
  g_assert_cmpuint (written, ==, 2 * MIB);
}

static void
test_backpressure (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(SmYamuxStream) stalled = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) stalled_error = NULL;
  g_autofree guint8 *pattern = make_pattern (16 * MIB);
  Transfer transfer = { 0 };
  SmYamuxStream *stalled_server;
  GPollableInputStream *stalled_input;
  guint8 *sink = g_malloc (4 * MIB);
  SmYamuxConfig config;
  guint n_echoed = 0;
  gsize buffered = 0;
  gssize n;

  test_config (&config);
  config.max_stream_window = 2 * MIB;
  fixture_start (fixture, &config, &config);

  /* A stream whose reader never reads: the writer stops after one window. */
  stalled = open_stream (&fixture->client);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (stalled)),
                                   pattern, 16 * MIB, G_PRIORITY_DEFAULT, cancellable,
                                   on_write_all_done, &stalled_error);
  WAIT_FOR (fixture, fixture->server.incoming->len == 1);
  stalled_server = g_ptr_array_index (fixture->server.incoming, 0);
  settle (&fixture->timed_out);
  g_assert_false (g_pollable_output_stream_is_writable (
                    G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (stalled)))));

  /* Another stream of the same session still moves 8 MiB. */
  fixture->server.take_incoming = FALSE;
  g_signal_connect (fixture->server.session, "incoming", G_CALLBACK (on_incoming_echo), &n_echoed);
  transfer.stream = open_stream (&fixture->client);
  transfer.pattern = pattern;
  transfer.size = 8 * MIB;
  transfer_write (&transfer);
  transfer_read (&transfer);
  WAIT_FOR (fixture, transfer.read_done);
  g_object_unref (transfer.stream);

  /* The stalled writer is still blocked with exactly one window sent. */
  settle (&fixture->timed_out);
  g_assert_null (stalled_error);
  stalled_input = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (G_IO_STREAM (stalled_server)));
  while ((n = g_pollable_input_stream_read_nonblocking (stalled_input, sink + buffered,
                                                        4 * MIB - buffered, NULL, NULL)) > 0)
    buffered += n;
  g_assert_cmpuint (buffered, ==, 2 * MIB);
  g_assert_true (memcmp (sink, pattern, buffered) == 0);
  g_free (sink);

  g_cancellable_cancel (cancellable);
  WAIT_FOR (fixture, stalled_error != NULL);
  g_assert_error (stalled_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  sm_yamux_stream_reset (stalled);
}

static void
test_window_overrun (Fixture       *fixture,
                     gconstpointer  data)
{
  Side *server = fixture_start_raw (fixture, SM_YAMUX_ROLE_SERVER, NULL);
  SmYamuxHeader header;
  guint32 window;

  raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_SYN, 1, 0, NULL, 0);
  g_assert_true (raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_WINDOW_UPDATE);
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_ACK);
  window = SM_YAMUX_INITIAL_WINDOW + header.length;
  g_assert_cmpuint (window, ==, SM_YAMUX_DEFAULT_MAX_STREAM_WINDOW);

  /* One byte more than the window: the header alone is the violation. */
  raw_send (fixture, SM_YAMUX_TYPE_DATA, 0, 1, window + 1, NULL, 0);
  WAIT_FOR (fixture, server->closed);
  g_assert_error (server->closed_error, SM_ERROR, SM_ERROR_PROTOCOL);
  g_assert_true (sm_yamux_session_is_closed (server->session));

  g_assert_true (raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_GO_AWAY);
  g_assert_cmpuint (header.length, ==, SM_YAMUX_GO_AWAY_PROTOCOL_ERROR);
  g_assert_false (raw_read_frame (fixture, &header));
}

static void
test_bad_stream_id (Fixture       *fixture,
                    gconstpointer  data)
{
  Side *server = fixture_start_raw (fixture, SM_YAMUX_ROLE_SERVER, NULL);

  /* A client must open odd ids. */
  raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_SYN, 2, 0, NULL, 0);
  WAIT_FOR (fixture, server->closed);
  g_assert_error (server->closed_error, SM_ERROR, SM_ERROR_PROTOCOL);
  g_assert_cmpuint (server->incoming->len, ==, 0);
}

static void
test_ping (Fixture       *fixture,
           gconstpointer  data)
{
  SmYamuxConfig config;
  SmYamuxStats client_stats = { 0 }, server_stats = { 0 };

  test_config (&config);
  config.keepalive_interval_ms = 10;
  config.keepalive_timeout_ms = 10000;
  fixture_start (fixture, &config, &config);

  while (client_stats.pongs_received < 3 || server_stats.pongs_received < 3)
    {
      g_main_context_iteration (NULL, TRUE);
      g_assert_false (fixture->timed_out);
      sm_yamux_session_get_stats (fixture->client.session, &client_stats);
      sm_yamux_session_get_stats (fixture->server.session, &server_stats);
    }
  g_assert_cmpuint (client_stats.pings_sent, >=, client_stats.pongs_received);
  g_assert_cmpuint (server_stats.pings_received, >=, client_stats.pongs_received);
  g_assert_cmpuint (client_stats.pings_received, >=, server_stats.pongs_received);
  g_assert_false (fixture->client.closed);
  g_assert_false (fixture->server.closed);
}

static void
test_keepalive_timeout (Fixture       *fixture,
                        gconstpointer  data)
{
  SmYamuxConfig config;
  Side *client;

  test_config (&config);
  config.keepalive_interval_ms = 10;
  config.keepalive_timeout_ms = 100;
  /* The raw peer never reads nor answers. */
  client = fixture_start_raw (fixture, SM_YAMUX_ROLE_CLIENT, &config);
  WAIT_FOR (fixture, client->closed);
  g_assert_error (client->closed_error, SM_ERROR, SM_ERROR_TIMED_OUT);
}

static void
test_write_timeout (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree guint8 *pattern = make_pattern (SM_YAMUX_INITIAL_WINDOW);
  SmYamuxConfig config;
  Side *client;

  test_config (&config);
  config.write_timeout_ms = 100;
  client = fixture_start_raw (fixture, SM_YAMUX_ROLE_CLIENT, &config);

  /* 32 initial windows are more than the socket and the queue hold. */
  for (guint i = 0; i < 32 && !client->closed; i++)
    {
      SmYamuxStream *stream = open_stream (client);
      GPollableOutputStream *output = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (stream)));
      gsize sent = 0;
      gssize n;

      g_ptr_array_add (streams, stream);
      while ((n = g_pollable_output_stream_write_nonblocking (output, pattern + sent,
                                                              SM_YAMUX_INITIAL_WINDOW - sent,
                                                              NULL, NULL)) > 0)
        sent += n;
    }
  WAIT_FOR (fixture, client->closed);
  g_assert_error (client->closed_error, SM_ERROR, SM_ERROR_TIMED_OUT);
  assert_read_fails (g_ptr_array_index (streams, 0), G_IO_ERROR_CONNECTION_CLOSED);
}

static void
test_go_away (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  g_autoptr(GError) error = NULL;
  SmYamuxStream *refused;
  SmYamuxStream *server;

  fixture_start (fixture, NULL, NULL);
  client = open_stream (&fixture->client);
  write_all (client, "before");
  WAIT_FOR (fixture, fixture->server.incoming->len == 1);
  server = g_ptr_array_index (fixture->server.incoming, 0);

  sm_yamux_session_go_away (fixture->server.session, SM_YAMUX_GO_AWAY_NORMAL);
  g_assert_true (sm_yamux_session_is_going_away (fixture->server.session));
  WAIT_FOR (fixture, fixture->client.got_go_away);
  g_assert_cmpuint (fixture->client.go_away_code, ==, SM_YAMUX_GO_AWAY_NORMAL);
  g_assert_true (sm_yamux_session_is_going_away (fixture->client.session));

  refused = sm_yamux_session_open_stream (fixture->client.session, &error);
  g_assert_null (refused);
  g_assert_error (error, SM_ERROR, SM_ERROR_GOING_AWAY);

  /* The live stream carries on both ways. */
  assert_read (server, "before");
  write_all (server, "after");
  assert_read (client, "after");
  write_all (client, "still");
  assert_read (server, "still");
  g_assert_false (fixture->client.closed);
  g_assert_false (fixture->server.closed);

  /* EOF after GoAway is an orderly end. */
  sm_yamux_session_close (fixture->server.session);
  WAIT_FOR (fixture, fixture->client.closed);
  g_assert_no_error (fixture->client.closed_error);
  g_assert_true (fixture->server.closed);
}

static void
test_unknown_stream (Fixture       *fixture,
                     gconstpointer  data)
{
  Side *server = fixture_start_raw (fixture, SM_YAMUX_ROLE_SERVER, NULL);
  SmYamuxHeader header;
  guint8 junk[1000];

  memset (junk, 'j', sizeof junk);
  raw_send (fixture, SM_YAMUX_TYPE_DATA, 0, 99, sizeof junk, junk, sizeof junk);
  raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, 0, 77, 4096, NULL, 0);
  raw_send (fixture, SM_YAMUX_TYPE_DATA, SM_YAMUX_FLAG_SYN, 1, 2, "ok", 2);
  raw_send (fixture, SM_YAMUX_TYPE_PING, SM_YAMUX_FLAG_SYN, 0, 1234, NULL, 0);

  g_assert_true (raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_WINDOW_UPDATE);
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_ACK);
  g_assert_cmpuint (header.stream_id, ==, 1);
  g_assert_true (raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_PING);
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_ACK);
  g_assert_cmpuint (header.length, ==, 1234);

  g_assert_cmpuint (server->incoming->len, ==, 1);
  assert_read (g_ptr_array_index (server->incoming, 0), "ok");
  g_assert_false (server->closed);
}

static void
test_initial_input (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GBytes) initial = NULL;
  SmYamuxHeader header = { SM_YAMUX_VERSION, SM_YAMUX_TYPE_DATA, SM_YAMUX_FLAG_SYN, 1, 5 };
  guint8 frame[SM_YAMUX_HEADER_SIZE + 5];
  Side *server = &fixture->server;

  sm_yamux_header_encode (&header, frame);
  memcpy (frame + SM_YAMUX_HEADER_SIZE, "early", 5);
  initial = g_bytes_new (frame, sizeof frame);

  make_connections (&a, &fixture->raw);
  server->session = sm_yamux_session_new (a, SM_YAMUX_ROLE_SERVER, NULL, initial);
  server->incoming = g_ptr_array_new_with_free_func (g_object_unref);
  server->take_incoming = TRUE;
  g_signal_connect (server->session, "incoming", G_CALLBACK (on_incoming), server);
  g_signal_connect (server->session, "closed", G_CALLBACK (on_closed), server);

  WAIT_FOR (fixture, server->incoming->len == 1);
  assert_read (g_ptr_array_index (server->incoming, 0), "early");
}

static void
test_pending_syn_limit (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func (g_object_unref);
  SmYamuxConfig config;
  SmYamuxHeader header;
  guint32 ping_id = 100;
  Side *client;
  GArray *syns = g_array_new (FALSE, FALSE, sizeof (guint32));

  test_config (&config);
  config.max_pending_syn = 3;
  client = fixture_start_raw (fixture, SM_YAMUX_ROLE_CLIENT, &config);
  for (guint i = 0; i < 5; i++)
    g_ptr_array_add (streams, open_stream (client));
  g_assert_cmpuint (sm_yamux_session_get_n_streams (client->session), ==, 5);
  /* A stream whose SYN waits cannot be written yet. */
  g_assert_false (g_pollable_output_stream_is_writable (
                    G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (g_ptr_array_index (streams, 4)))));

  /* Frames up to a ping's answer: everything the session sent before it. */
#define READ_SYNS_UNTIL_PONG()                                                  \
  G_STMT_START {                                                                \
    g_array_set_size (syns, 0);                                                 \
    raw_send (fixture, SM_YAMUX_TYPE_PING, SM_YAMUX_FLAG_SYN, 0, ++ping_id, NULL, 0); \
    for (;;)                                                                    \
      {                                                                         \
        g_assert_true (raw_read_frame (fixture, &header));                      \
        if (header.type == SM_YAMUX_TYPE_PING && header.length == ping_id)      \
          break;                                                                \
        g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_WINDOW_UPDATE);        \
        g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_SYN);                 \
        g_array_append_val (syns, header.stream_id);                            \
      }                                                                         \
  } G_STMT_END

  READ_SYNS_UNTIL_PONG ();
  g_assert_cmpuint (syns->len, ==, 3);
  g_assert_cmpuint (g_array_index (syns, guint32, 0), ==, 1);
  g_assert_cmpuint (g_array_index (syns, guint32, 2), ==, 5);

  /* Each answer lets one more SYN out, in order. */
  raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_ACK, 3, 0, NULL, 0);
  READ_SYNS_UNTIL_PONG ();
  g_assert_cmpuint (syns->len, ==, 1);
  g_assert_cmpuint (g_array_index (syns, guint32, 0), ==, 7);

  /* So does a refusal. */
  raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_RST, 1, 0, NULL, 0);
  READ_SYNS_UNTIL_PONG ();
  g_assert_cmpuint (syns->len, ==, 1);
  g_assert_cmpuint (g_array_index (syns, guint32, 0), ==, 9);
  g_assert_true (sm_yamux_stream_was_reset (g_ptr_array_index (streams, 0)));

  raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_ACK, 5, 0, NULL, 0);
  READ_SYNS_UNTIL_PONG ();
  g_assert_cmpuint (syns->len, ==, 0);
#undef READ_SYNS_UNTIL_PONG
  g_array_unref (syns);
}

static void
test_stream_close_timeout (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  SmYamuxStream *server;
  SmYamuxConfig config;

  test_config (&config);
  config.stream_close_timeout_ms = 50;
  fixture_start (fixture, &config, NULL);
  client = open_stream (&fixture->client);
  close_stream (client);
  WAIT_FOR (fixture, fixture->server.incoming->len == 1);
  server = g_ptr_array_index (fixture->server.incoming, 0);
  assert_eof (server);

  /* The server never closes its side: the client gives up with a reset. */
  WAIT_FOR (fixture, sm_yamux_stream_was_reset (server));
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->client.session), ==, 0);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->server.session), ==, 0);
  assert_read_fails (server, G_IO_ERROR_CONNECTION_CLOSED);
}

static void
test_session_close (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(SmYamuxStream) open = NULL;
  g_autoptr(SmYamuxStream) finished = NULL;
  g_autoptr(GError) error = NULL;
  SmYamuxStream *server_open, *server_finished;

  fixture_start (fixture, NULL, NULL);
  open = open_stream (&fixture->client);
  finished = open_stream (&fixture->client);
  write_all (open, "pending");
  write_all (finished, "last words");
  close_output (finished);
  WAIT_FOR (fixture, fixture->server.incoming->len == 2);
  server_open = g_ptr_array_index (fixture->server.incoming, 0);
  server_finished = g_ptr_array_index (fixture->server.incoming, 1);
  settle (&fixture->timed_out);

  sm_yamux_session_close (fixture->client.session);
  g_assert_true (fixture->client.closed);
  g_assert_no_error (fixture->client.closed_error);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->client.session), ==, 0);
  g_output_stream_write (g_io_stream_get_output_stream (G_IO_STREAM (open)), "x", 1, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_clear_error (&error);
  g_assert_null (sm_yamux_session_open_stream (fixture->client.session, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_CLOSED);

  /* The peer sees GoAway then EOF: an orderly end. Buffered data is still
   * read, then the stream fails, or reads EOF if the FIN had arrived. */
  WAIT_FOR (fixture, fixture->server.closed);
  g_assert_no_error (fixture->server.closed_error);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->server.session), ==, 0);
  assert_read (server_open, "pending");
  assert_read_fails (server_open, G_IO_ERROR_CONNECTION_CLOSED);
  assert_read (server_finished, "last words");
  assert_eof (server_finished);
}

static void
test_connection_lost (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  Side *client = fixture_start_raw (fixture, SM_YAMUX_ROLE_CLIENT, NULL);

  SmYamuxHeader header;

  stream = open_stream (client);
  /* Read the SYN first: closing over unread bytes would be a reset. */
  g_assert_true (raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_SYN);
  g_io_stream_close (fixture->raw, NULL, NULL);
  WAIT_FOR (fixture, client->closed);
  g_assert_error (client->closed_error, SM_ERROR, SM_ERROR_CLOSED);
  assert_read_fails (stream, G_IO_ERROR_CONNECTION_CLOSED);
}

static void
on_idle_read (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  gssize *n = user_data;

  *n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, NULL);
}

static void
test_async_read_wakes (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  SmYamuxStream *server;
  char buffer[16] = { 0 };
  gssize n = -2;
  SmYamuxConfig config;

  /* No timers at all, so that an idle loop has nothing to dispatch. */
  test_config (&config);
  config.write_timeout_ms = 0;
  fixture_start (fixture, &config, &config);
  client = open_stream (&fixture->client);
  WAIT_FOR (fixture, fixture->server.incoming->len == 1);
  server = g_ptr_array_index (fixture->server.incoming, 0);

  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (client)),
                             buffer, sizeof buffer, G_PRIORITY_DEFAULT, NULL, on_idle_read, &n);
  /* A waiting source is not ready: the loop would sleep, not spin. */
  settle (&fixture->timed_out);
  g_assert_false (g_main_context_iteration (NULL, FALSE));
  g_assert_cmpint (n, ==, -2);

  write_all (server, "wake");
  WAIT_FOR (fixture, n != -2);
  g_assert_cmpint (n, ==, 4);
  g_assert_cmpstr (buffer, ==, "wake");
}

static void
test_local_go_away_refuses (Fixture       *fixture,
                            gconstpointer  data)
{
  Side *server = fixture_start_raw (fixture, SM_YAMUX_ROLE_SERVER, NULL);
  SmYamuxHeader header;

  sm_yamux_session_go_away (server->session, SM_YAMUX_GO_AWAY_NORMAL);
  g_assert_true (raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_GO_AWAY);
  g_assert_cmpuint (header.length, ==, SM_YAMUX_GO_AWAY_NORMAL);

  raw_send (fixture, SM_YAMUX_TYPE_DATA, SM_YAMUX_FLAG_SYN, 1, 3, "hey", 3);
  g_assert_true (raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_WINDOW_UPDATE);
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_RST);
  g_assert_cmpuint (header.stream_id, ==, 1);
  g_assert_cmpuint (server->incoming->len, ==, 0);
  g_assert_false (server->closed);
}

static void
test_ping_flood (Fixture       *fixture,
                 gconstpointer  data)
{
  GPollableOutputStream *output;
  g_autofree guint8 *pings = g_malloc (CHUNK);
  SmYamuxConfig config;
  SmYamuxHeader header;
  guint64 written = 0;
  Side *server;

  test_config (&config);
  config.write_buffer_limit = 64 * 1024;
  config.write_timeout_ms = 0;
  server = fixture_start_raw (fixture, SM_YAMUX_ROLE_SERVER, &config);
  output = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (fixture->raw));
  for (guint i = 0; i + SM_YAMUX_HEADER_SIZE <= CHUNK; i += SM_YAMUX_HEADER_SIZE)
    {
      SmYamuxHeader ping = { SM_YAMUX_VERSION, SM_YAMUX_TYPE_PING, SM_YAMUX_FLAG_SYN, 0, 7 };

      sm_yamux_header_encode (&ping, pings + i);
    }

  /* Ping without reading the answers: once its output is full the session
   * stops reading, so the flood blocks instead of filling its memory. */
  for (;;)
    {
      gsize offset = written % SM_YAMUX_HEADER_SIZE;
      gssize n = g_pollable_output_stream_write_nonblocking (output, pings + offset,
                                                             CHUNK - SM_YAMUX_HEADER_SIZE,
                                                             NULL, NULL);

      if (n < 0)
        {
          settle (&fixture->timed_out);
          n = g_pollable_output_stream_write_nonblocking (output, pings + offset,
                                                          CHUNK - SM_YAMUX_HEADER_SIZE,
                                                          NULL, NULL);
          if (n < 0)
            break;
        }
      written += n;
      g_assert_false (server->closed);
    }

  /* Once the answers are read the session reads again and answers all. */
  for (guint64 i = 0; i < written / SM_YAMUX_HEADER_SIZE; i++)
    {
      g_assert_true (raw_read_frame (fixture, &header));
      g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_PING);
      g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_ACK);
    }
  g_assert_false (server->closed);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_sync_io (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *pattern = make_pattern (2 * MIB);
  g_autofree Sink *sink = g_new0 (Sink, 1);
  SmYamuxConfig config;
  gsize written = 0;
  char byte;

  test_config (&config);
  config.max_stream_window = SM_YAMUX_INITIAL_WINDOW;
  fixture_start (fixture, &config, &config);
  client = open_stream (&fixture->client);
  WAIT_FOR (fixture, fixture->server.incoming->len == 1);
  sink->stream = g_ptr_array_index (fixture->server.incoming, 0);
  sink->pattern = pattern;
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (sink->stream)),
                             sink->buffer, sizeof sink->buffer, G_PRIORITY_DEFAULT,
                             NULL, on_sink_read, sink);

  /* Eight windows: the blocking write runs the loop until the reader
   * frees window, as often as it takes. */
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (client)),
                             pattern, 2 * MIB, &written, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (written, ==, 2 * MIB);
  close_output (client);
  WAIT_FOR (fixture, sink->done);
  g_assert_cmpuint (sink->received, ==, 2 * MIB);

  write_all (sink->stream, "done");
  assert_read (client, "done");

  /* A blocking read with nothing to come ends when cancelled. */
  g_timeout_add (10, cancel_cb, cancellable);
  g_assert_cmpint (g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (client)),
                                        &byte, 1, cancellable, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_big_frame (Fixture       *fixture,
                gconstpointer  data)
{
  const gsize size = 3 * MIB;
  g_autofree guint8 *pattern = make_pattern (size);
  g_autofree guint8 *received = g_malloc (size);
  SmYamuxHeader header;
  guint8 encoded[SM_YAMUX_HEADER_SIZE];
  g_autoptr(GError) error = NULL;
  Side *server = fixture_start_raw (fixture, SM_YAMUX_ROLE_SERVER, NULL);
  SmYamuxStream *stream;
  gsize n = 0;

  raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_SYN, 1, 0, NULL, 0);
  g_assert_true (raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_ACK);

  /* One frame far bigger than any read: it arrives in many pieces, and its
   * FIN only counts after the last one. */
  header = (SmYamuxHeader) { SM_YAMUX_VERSION, SM_YAMUX_TYPE_DATA, SM_YAMUX_FLAG_FIN, 1, size };
  sm_yamux_header_encode (&header, encoded);
  raw_write_all (fixture, encoded, sizeof encoded);
  raw_write_all (fixture, pattern, size);

  stream = g_ptr_array_index (server->incoming, 0);
  g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (stream)),
                           received, size, &n, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, size);
  g_assert_true (memcmp (received, pattern, size) == 0);
  assert_eof (stream);
  g_assert_false (server->closed);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, data) \
  g_test_add ("/yamux-session/" path, Fixture, data, fixture_setup, func, fixture_teardown)

  ADD ("open-accept", test_open_accept, NULL);
  ADD ("concurrent-echo", test_concurrent_echo, GUINT_TO_POINTER (SM_YAMUX_DEFAULT_MAX_PENDING_SYN));
  ADD ("concurrent-echo-queued-syn", test_concurrent_echo, GUINT_TO_POINTER (16));
  ADD ("half-close", test_half_close, NULL);
  ADD ("reset", test_reset, NULL);
  ADD ("refused-without-handler", test_refused_without_handler, NULL);
  ADD ("backpressure", test_backpressure, NULL);
  ADD ("window-overrun", test_window_overrun, NULL);
  ADD ("bad-stream-id", test_bad_stream_id, NULL);
  ADD ("ping", test_ping, NULL);
  ADD ("keepalive-timeout", test_keepalive_timeout, NULL);
  ADD ("write-timeout", test_write_timeout, NULL);
  ADD ("go-away", test_go_away, NULL);
  ADD ("unknown-stream", test_unknown_stream, NULL);
  ADD ("initial-input", test_initial_input, NULL);
  ADD ("pending-syn-limit", test_pending_syn_limit, NULL);
  ADD ("stream-close-timeout", test_stream_close_timeout, NULL);
  ADD ("session-close", test_session_close, NULL);
  ADD ("connection-lost", test_connection_lost, NULL);
  ADD ("async-read-wakes", test_async_read_wakes, NULL);
  ADD ("local-go-away-refuses", test_local_go_away_refuses, NULL);
  ADD ("ping-flood", test_ping_flood, NULL);
  ADD ("sync-io", test_sync_io, NULL);
  ADD ("big-frame", test_big_frame, NULL);

  return g_test_run ();
}
