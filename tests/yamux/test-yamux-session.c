/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-test-yamux.h"

/*
 * Component tests of the yamux transport: SmYamuxSession and the streams
 * it multiplexes, against each other and against hand-made frames.
 */

#define MIB (1024 * 1024)

static void
test_open_accept (SmTestYamux   *fixture,
                  gconstpointer  data)
{
  g_autoptr(SmYamuxStream) first = NULL;
  g_autoptr(SmYamuxStream) second = NULL;
  SmYamuxStream *accepted;
  SmYamuxStats stats;

  sm_test_yamux_start (fixture, NULL, NULL);
  first = sm_test_yamux_open_stream (&fixture->client);
  second = sm_test_yamux_open_stream (&fixture->client);
  g_assert_cmpuint (sm_yamux_stream_get_id (first), ==, 1);
  g_assert_cmpuint (sm_yamux_stream_get_id (second), ==, 3);
  g_assert_true (sm_yamux_stream_get_session (first) == fixture->client.session);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->client.session), ==, 2);
  g_assert_cmpuint (fixture->client.n_streams_notifications, ==, 2);

  sm_test_write_all (G_IO_STREAM (first), "hello");
  SM_TEST_WAIT_FOR (fixture->server.incoming->len == 2);
  accepted = g_ptr_array_index (fixture->server.incoming, 0);
  g_assert_cmpuint (sm_yamux_stream_get_id (accepted), ==, 1);
  sm_test_assert_read (G_IO_STREAM (accepted), "hello");
  sm_test_write_all (G_IO_STREAM (accepted), "world");
  sm_test_assert_read (G_IO_STREAM (first), "world");

  /* Closed both ways, every stream leaves both tables. */
  sm_test_close (G_IO_STREAM (first));
  sm_test_close (G_IO_STREAM (second));
  for (guint i = 0; i < fixture->server.incoming->len; i++)
    sm_test_close (G_IO_STREAM (g_ptr_array_index (fixture->server.incoming, i)));
  SM_TEST_WAIT_FOR (sm_yamux_session_get_n_streams (fixture->client.session) == 0 &&
                    sm_yamux_session_get_n_streams (fixture->server.session) == 0);

  sm_yamux_session_get_stats (fixture->client.session, &stats);
  g_assert_cmpuint (stats.streams_opened, ==, 2);
  g_assert_cmpuint (stats.streams_accepted, ==, 0);
  g_assert_cmpuint (stats.bytes_sent, ==, strlen ("hello"));
  g_assert_cmpuint (stats.bytes_received, ==, strlen ("world"));
  g_assert_false (fixture->client.closed);
  g_assert_false (fixture->server.closed);
}

/* The server opens even ids, the client accepts them. */
static void
test_server_opens (SmTestYamux   *fixture,
                   gconstpointer  data)
{
  g_autoptr(SmYamuxStream) pushed = NULL;
  SmYamuxStream *accepted;
  SmYamuxStats stats;

  sm_test_yamux_start (fixture, NULL, NULL);
  pushed = sm_test_yamux_open_stream (&fixture->server);
  g_assert_cmpuint (sm_yamux_stream_get_id (pushed), ==, 2);
  sm_test_write_all (G_IO_STREAM (pushed), "push");
  SM_TEST_WAIT_FOR (fixture->client.incoming->len == 1);
  accepted = g_ptr_array_index (fixture->client.incoming, 0);
  g_assert_cmpuint (sm_yamux_stream_get_id (accepted), ==, 2);
  sm_test_assert_read (G_IO_STREAM (accepted), "push");

  sm_test_close (G_IO_STREAM (pushed));
  sm_test_close (G_IO_STREAM (accepted));
  SM_TEST_WAIT_FOR (sm_yamux_session_get_n_streams (fixture->client.session) == 0 &&
                    sm_yamux_session_get_n_streams (fixture->server.session) == 0);

  sm_yamux_session_get_stats (fixture->client.session, &stats);
  g_assert_cmpuint (stats.streams_opened, ==, 0);
  g_assert_cmpuint (stats.streams_accepted, ==, 1);
  g_assert_cmpuint (stats.bytes_received, ==, strlen ("push"));
  g_assert_false (fixture->client.closed);
  g_assert_false (fixture->server.closed);
}

static void
test_concurrent_echo (SmTestYamux   *fixture,
                      gconstpointer  data)
{
  guint max_pending_syn = GPOINTER_TO_UINT (data);
  const guint n_streams = 200;
  const gsize size = MIB;
  g_autofree SmTestPeer *peers = g_new0 (SmTestPeer, n_streams);
  SmYamuxConfig config;
  SmYamuxStats stats;
  guint n_echoed = 0;

  sm_test_yamux_config_init (&config);
  config.max_pending_syn = max_pending_syn;
  sm_test_yamux_start (fixture, &config, NULL);
  fixture->server.take_incoming = FALSE;
  g_signal_connect (fixture->server.session, "incoming",
                    G_CALLBACK (sm_test_yamux_echo_incoming), &n_echoed);

  /* Each stream has its own seed and gets it back. */
  for (guint i = 0; i < n_streams; i++)
    {
      sm_test_peer_init (&peers[i], G_IO_STREAM (sm_test_yamux_open_stream (&fixture->client)),
                         i * 97);
      sm_test_peer_start_send (&peers[i], size, TRUE);
      sm_test_peer_start_receive (&peers[i], peers[i].send_seed);
    }
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->client.session), ==, n_streams);

  for (guint i = 0; i < n_streams; i++)
    {
      SM_TEST_WAIT_FOR (peers[i].got_eof || peers[i].recv_error != NULL);
      g_assert_true (peers[i].send_done);
      sm_test_peer_assert_received (&peers[i], size);
    }
  SM_TEST_WAIT_FOR (n_echoed == n_streams);
  SM_TEST_WAIT_FOR (sm_yamux_session_get_n_streams (fixture->client.session) == 0 &&
                    sm_yamux_session_get_n_streams (fixture->server.session) == 0);

  sm_yamux_session_get_stats (fixture->client.session, &stats);
  g_assert_cmpuint (stats.streams_opened, ==, n_streams);
  g_assert_cmpuint (stats.bytes_sent, ==, n_streams * size);
  g_assert_cmpuint (stats.bytes_received, ==, n_streams * size);

  for (guint i = 0; i < n_streams; i++)
    sm_test_peer_clear (&peers[i]);
  g_assert_false (fixture->client.closed);
  g_assert_false (fixture->server.closed);
}

/* The client finishes its request first. */
static void
test_half_close_client_first (SmTestYamux   *fixture,
                              gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  SmYamuxStream *server;

  sm_test_yamux_start (fixture, NULL, NULL);
  client = sm_test_yamux_open_stream (&fixture->client);
  sm_test_write_all (G_IO_STREAM (client), "request");
  sm_test_close_output (G_IO_STREAM (client));
  SM_TEST_WAIT_FOR (fixture->server.incoming->len == 1);
  server = g_ptr_array_index (fixture->server.incoming, 0);
  sm_test_assert_read (G_IO_STREAM (server), "request");
  sm_test_assert_eof (G_IO_STREAM (server));
  sm_test_write_all (G_IO_STREAM (server), "reply");
  sm_test_close_output (G_IO_STREAM (server));
  sm_test_assert_read (G_IO_STREAM (client), "reply");
  sm_test_assert_eof (G_IO_STREAM (client));
  SM_TEST_WAIT_FOR (sm_yamux_session_get_n_streams (fixture->client.session) == 0 &&
                    sm_yamux_session_get_n_streams (fixture->server.session) == 0);
}

/* The server finishes first. */
static void
test_half_close_server_first (SmTestYamux   *fixture,
                              gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  SmYamuxStream *server;

  sm_test_yamux_start (fixture, NULL, NULL);
  client = sm_test_yamux_open_stream (&fixture->client);
  sm_test_write_all (G_IO_STREAM (client), "hi");
  SM_TEST_WAIT_FOR (fixture->server.incoming->len == 1);
  server = g_ptr_array_index (fixture->server.incoming, 0);
  sm_test_assert_read (G_IO_STREAM (server), "hi");
  sm_test_write_all (G_IO_STREAM (server), "push");
  sm_test_close_output (G_IO_STREAM (server));
  sm_test_assert_read (G_IO_STREAM (client), "push");
  sm_test_assert_eof (G_IO_STREAM (client));
  sm_test_write_all (G_IO_STREAM (client), "ack");
  sm_test_close_output (G_IO_STREAM (client));
  sm_test_assert_read (G_IO_STREAM (server), "ack");
  sm_test_assert_eof (G_IO_STREAM (server));
  SM_TEST_WAIT_FOR (sm_yamux_session_get_n_streams (fixture->client.session) == 0 &&
                    sm_yamux_session_get_n_streams (fixture->server.session) == 0);
}

static void
test_reset (SmTestYamux   *fixture,
            gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  g_autoptr(GError) error = NULL;
  SmYamuxStream *server;

  sm_test_yamux_start (fixture, NULL, NULL);
  client = sm_test_yamux_open_stream (&fixture->client);
  sm_test_write_all (G_IO_STREAM (client), "doomed");
  SM_TEST_WAIT_FOR (fixture->server.incoming->len == 1);
  server = g_ptr_array_index (fixture->server.incoming, 0);
  SM_TEST_WAIT_FOR (g_pollable_input_stream_is_readable (sm_test_input_of (G_IO_STREAM (server))));

  sm_yamux_stream_reset (client);
  g_assert_false (sm_yamux_stream_was_reset (client));
  sm_test_assert_read_fails (G_IO_STREAM (client), G_IO_ERROR_CONNECTION_CLOSED);
  SM_TEST_WAIT_FOR (sm_yamux_stream_was_reset (server));

  /* Unread data goes with the reset. */
  sm_test_assert_read_fails (G_IO_STREAM (server), G_IO_ERROR_CONNECTION_CLOSED);
  g_output_stream_write (g_io_stream_get_output_stream (G_IO_STREAM (server)),
                         "x", 1, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->client.session), ==, 0);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->server.session), ==, 0);
  g_assert_false (fixture->server.closed);
}

static void
test_refused_without_handler (SmTestYamux   *fixture,
                              gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;

  sm_test_yamux_start (fixture, NULL, NULL);
  fixture->server.take_incoming = FALSE;   /* a handler that takes nothing */
  client = sm_test_yamux_open_stream (&fixture->client);
  sm_test_write_all (G_IO_STREAM (client), "anyone?");
  SM_TEST_WAIT_FOR (sm_yamux_stream_was_reset (client));
  sm_test_assert_read_fails (G_IO_STREAM (client), G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->server.session), ==, 0);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->client.session), ==, 0);
}

static void
test_window_overrun (SmTestYamux   *fixture,
                     gconstpointer  data)
{
  SmTestYamuxSide *server = sm_test_yamux_start_raw (fixture, SM_YAMUX_ROLE_SERVER, NULL);
  SmYamuxHeader header;
  guint32 window;

  sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_SYN, 1, 0, NULL, 0);
  g_assert_true (sm_test_yamux_raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_WINDOW_UPDATE);
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_ACK);
  /* Windows start at the initial one; they grow only as data is read */
  window = SM_YAMUX_INITIAL_WINDOW + header.length;
  g_assert_cmpuint (window, ==, SM_YAMUX_INITIAL_WINDOW);

  /* One byte more than the window: the header alone is the violation. */
  sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_DATA, 0, 1, window + 1, NULL, 0);
  SM_TEST_WAIT_FOR (server->closed);
  g_assert_error (server->closed_error, SM_ERROR, SM_ERROR_PROTOCOL);
  g_assert_true (sm_yamux_session_is_closed (server->session));

  g_assert_true (sm_test_yamux_raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_GO_AWAY);
  g_assert_cmpuint (header.length, ==, SM_YAMUX_GO_AWAY_PROTOCOL_ERROR);
  g_assert_false (sm_test_yamux_raw_read_frame (fixture, &header));
}

static void
test_bad_stream_id (SmTestYamux   *fixture,
                    gconstpointer  data)
{
  SmTestYamuxSide *server = sm_test_yamux_start_raw (fixture, SM_YAMUX_ROLE_SERVER, NULL);

  /* A client must open odd ids. */
  sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_SYN, 2, 0, NULL, 0);
  SM_TEST_WAIT_FOR (server->closed);
  g_assert_error (server->closed_error, SM_ERROR, SM_ERROR_PROTOCOL);
  g_assert_cmpuint (server->incoming->len, ==, 0);
}

static guint64
get_pongs_received (SmTestYamuxSide *side)
{
  SmYamuxStats stats;

  sm_yamux_session_get_stats (side->session, &stats);
  return stats.pongs_received;
}

static void
test_ping (SmTestYamux   *fixture,
           gconstpointer  data)
{
  SmYamuxConfig config;
  SmYamuxStats client_stats, server_stats;

  sm_test_yamux_config_init (&config);
  config.keepalive_interval_ms = 10;
  config.keepalive_timeout_ms = 10000;
  sm_test_yamux_start (fixture, &config, &config);

  SM_TEST_WAIT_FOR (get_pongs_received (&fixture->client) >= 3 &&
                    get_pongs_received (&fixture->server) >= 3);
  sm_yamux_session_get_stats (fixture->client.session, &client_stats);
  sm_yamux_session_get_stats (fixture->server.session, &server_stats);
  g_assert_cmpuint (client_stats.pings_sent, >=, client_stats.pongs_received);
  g_assert_cmpuint (server_stats.pings_received, >=, client_stats.pongs_received);
  g_assert_cmpuint (client_stats.pings_received, >=, server_stats.pongs_received);
  g_assert_false (fixture->client.closed);
  g_assert_false (fixture->server.closed);
}

static void
test_keepalive_timeout (SmTestYamux   *fixture,
                        gconstpointer  data)
{
  SmYamuxConfig config;
  SmTestYamuxSide *client;

  sm_test_yamux_config_init (&config);
  config.keepalive_interval_ms = 10;
  config.keepalive_timeout_ms = 100;
  /* The raw peer never reads nor answers. */
  client = sm_test_yamux_start_raw (fixture, SM_YAMUX_ROLE_CLIENT, &config);
  SM_TEST_WAIT_FOR (client->closed);
  g_assert_error (client->closed_error, SM_ERROR, SM_ERROR_TIMED_OUT);
}

static void
test_write_timeout (SmTestYamux   *fixture,
                    gconstpointer  data)
{
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree guint8 *pattern = sm_test_pattern_new (SM_YAMUX_INITIAL_WINDOW, 0);
  SmYamuxConfig config;
  SmTestYamuxSide *client;

  sm_test_yamux_config_init (&config);
  config.write_timeout_ms = 100;
  client = sm_test_yamux_start_raw (fixture, SM_YAMUX_ROLE_CLIENT, &config);

  /* 32 initial windows are more than the socket and the queue hold. */
  for (guint i = 0; i < 32 && !client->closed; i++)
    {
      SmYamuxStream *stream = sm_test_yamux_open_stream (client);
      GPollableOutputStream *output = sm_test_output_of (G_IO_STREAM (stream));
      gsize sent = 0;
      gssize n;

      g_ptr_array_add (streams, stream);
      while ((n = g_pollable_output_stream_write_nonblocking (output, pattern + sent,
                                                              SM_YAMUX_INITIAL_WINDOW - sent,
                                                              NULL, NULL)) > 0)
        sent += n;
    }
  SM_TEST_WAIT_FOR (client->closed);
  g_assert_error (client->closed_error, SM_ERROR, SM_ERROR_TIMED_OUT);
  sm_test_assert_read_fails (G_IO_STREAM (g_ptr_array_index (streams, 0)), G_IO_ERROR_CONNECTION_CLOSED);
}

static void
test_go_away (SmTestYamux   *fixture,
              gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  g_autoptr(GError) error = NULL;
  SmYamuxStream *refused;
  SmYamuxStream *server;

  sm_test_yamux_start (fixture, NULL, NULL);
  client = sm_test_yamux_open_stream (&fixture->client);
  sm_test_write_all (G_IO_STREAM (client), "before");
  SM_TEST_WAIT_FOR (fixture->server.incoming->len == 1);
  server = g_ptr_array_index (fixture->server.incoming, 0);

  sm_yamux_session_go_away (fixture->server.session, SM_YAMUX_GO_AWAY_NORMAL);
  g_assert_true (sm_yamux_session_is_going_away (fixture->server.session));
  SM_TEST_WAIT_FOR (fixture->client.got_go_away);
  g_assert_cmpuint (fixture->client.go_away_code, ==, SM_YAMUX_GO_AWAY_NORMAL);
  g_assert_true (sm_yamux_session_is_going_away (fixture->client.session));

  refused = sm_yamux_session_open_stream (fixture->client.session, &error);
  g_assert_null (refused);
  g_assert_error (error, SM_ERROR, SM_ERROR_GOING_AWAY);

  /* The live stream carries on both ways. */
  sm_test_assert_read (G_IO_STREAM (server), "before");
  sm_test_write_all (G_IO_STREAM (server), "after");
  sm_test_assert_read (G_IO_STREAM (client), "after");
  sm_test_write_all (G_IO_STREAM (client), "still");
  sm_test_assert_read (G_IO_STREAM (server), "still");
  g_assert_false (fixture->client.closed);
  g_assert_false (fixture->server.closed);

  /* EOF after GoAway is an orderly end. */
  sm_yamux_session_close (fixture->server.session);
  SM_TEST_WAIT_FOR (fixture->client.closed);
  g_assert_no_error (fixture->client.closed_error);
  g_assert_true (fixture->server.closed);
}

static void
test_unknown_stream (SmTestYamux   *fixture,
                     gconstpointer  data)
{
  SmTestYamuxSide *server = sm_test_yamux_start_raw (fixture, SM_YAMUX_ROLE_SERVER, NULL);
  SmYamuxHeader header;
  guint8 junk[1000];

  memset (junk, 'j', sizeof junk);
  sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_DATA, 0, 99, sizeof junk, junk, sizeof junk);
  sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, 0, 77, 4096, NULL, 0);
  sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_DATA, SM_YAMUX_FLAG_SYN, 1, 2, "ok", 2);
  sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_PING, SM_YAMUX_FLAG_SYN, 0, 1234, NULL, 0);

  g_assert_true (sm_test_yamux_raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_WINDOW_UPDATE);
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_ACK);
  g_assert_cmpuint (header.stream_id, ==, 1);
  g_assert_true (sm_test_yamux_raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_PING);
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_ACK);
  g_assert_cmpuint (header.length, ==, 1234);

  g_assert_cmpuint (server->incoming->len, ==, 1);
  sm_test_assert_read (G_IO_STREAM (g_ptr_array_index (server->incoming, 0)), "ok");
  g_assert_false (server->closed);
}

static void
test_initial_input (SmTestYamux   *fixture,
                    gconstpointer  data)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GBytes) initial = NULL;
  SmYamuxHeader header = { SM_YAMUX_VERSION, SM_YAMUX_TYPE_DATA, SM_YAMUX_FLAG_SYN, 1, 5 };
  guint8 frame[SM_YAMUX_HEADER_SIZE + 5];
  SmTestYamuxSide *server = &fixture->server;

  sm_yamux_header_encode (&header, frame);
  memcpy (frame + SM_YAMUX_HEADER_SIZE, "early", 5);
  initial = g_bytes_new (frame, sizeof frame);

  sm_test_socketpair (&a, &fixture->raw);
  sm_test_yamux_side_start (server, a, SM_YAMUX_ROLE_SERVER, NULL, initial);

  SM_TEST_WAIT_FOR (server->incoming->len == 1);
  sm_test_assert_read (G_IO_STREAM (g_ptr_array_index (server->incoming, 0)), "early");
}

static void
test_pending_syn_limit (SmTestYamux   *fixture,
                        gconstpointer  data)
{
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func (g_object_unref);
  SmYamuxConfig config;
  SmYamuxHeader header;
  guint32 ping_id = 100;
  SmTestYamuxSide *client;
  GArray *syns = g_array_new (FALSE, FALSE, sizeof (guint32));

  sm_test_yamux_config_init (&config);
  config.max_pending_syn = 3;
  client = sm_test_yamux_start_raw (fixture, SM_YAMUX_ROLE_CLIENT, &config);
  for (guint i = 0; i < 5; i++)
    g_ptr_array_add (streams, sm_test_yamux_open_stream (client));
  g_assert_cmpuint (sm_yamux_session_get_n_streams (client->session), ==, 5);
  /* A stream whose SYN waits cannot be written yet. */
  g_assert_false (g_pollable_output_stream_is_writable (
                    sm_test_output_of (g_ptr_array_index (streams, 4))));

  /* Frames up to a ping's answer: everything the session sent before it. */
#define READ_SYNS_UNTIL_PONG()                                                  \
  G_STMT_START {                                                                \
    g_array_set_size (syns, 0);                                                 \
    sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_PING, SM_YAMUX_FLAG_SYN, 0, ++ping_id, NULL, 0); \
    for (;;)                                                                    \
      {                                                                         \
        g_assert_true (sm_test_yamux_raw_read_frame (fixture, &header));                      \
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
  sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_ACK, 3, 0, NULL, 0);
  READ_SYNS_UNTIL_PONG ();
  g_assert_cmpuint (syns->len, ==, 1);
  g_assert_cmpuint (g_array_index (syns, guint32, 0), ==, 7);

  /* So does a refusal. */
  sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_RST, 1, 0, NULL, 0);
  READ_SYNS_UNTIL_PONG ();
  g_assert_cmpuint (syns->len, ==, 1);
  g_assert_cmpuint (g_array_index (syns, guint32, 0), ==, 9);
  g_assert_true (sm_yamux_stream_was_reset (g_ptr_array_index (streams, 0)));

  sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_ACK, 5, 0, NULL, 0);
  READ_SYNS_UNTIL_PONG ();
  g_assert_cmpuint (syns->len, ==, 0);
#undef READ_SYNS_UNTIL_PONG
  g_array_unref (syns);
}

static void
test_stream_close_timeout (SmTestYamux   *fixture,
                           gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  SmYamuxStream *server;
  SmYamuxConfig config;

  sm_test_yamux_config_init (&config);
  config.stream_close_timeout_ms = 50;
  sm_test_yamux_start (fixture, &config, NULL);
  client = sm_test_yamux_open_stream (&fixture->client);
  sm_test_close (G_IO_STREAM (client));
  SM_TEST_WAIT_FOR (fixture->server.incoming->len == 1);
  server = g_ptr_array_index (fixture->server.incoming, 0);
  sm_test_assert_eof (G_IO_STREAM (server));

  /* The server never closes its side: the client gives up with a reset. */
  SM_TEST_WAIT_FOR (sm_yamux_stream_was_reset (server));
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->client.session), ==, 0);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->server.session), ==, 0);
  sm_test_assert_read_fails (G_IO_STREAM (server), G_IO_ERROR_CONNECTION_CLOSED);
}

static void
test_session_close (SmTestYamux   *fixture,
                    gconstpointer  data)
{
  g_autoptr(SmYamuxStream) open = NULL;
  g_autoptr(SmYamuxStream) finished = NULL;
  g_autoptr(GError) error = NULL;
  SmYamuxStream *server_open, *server_finished;

  sm_test_yamux_start (fixture, NULL, NULL);
  open = sm_test_yamux_open_stream (&fixture->client);
  finished = sm_test_yamux_open_stream (&fixture->client);
  sm_test_write_all (G_IO_STREAM (open), "pending");
  sm_test_write_all (G_IO_STREAM (finished), "last words");
  sm_test_close_output (G_IO_STREAM (finished));
  SM_TEST_WAIT_FOR (fixture->server.incoming->len == 2);
  server_open = g_ptr_array_index (fixture->server.incoming, 0);
  server_finished = g_ptr_array_index (fixture->server.incoming, 1);
  sm_test_settle ();

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
  SM_TEST_WAIT_FOR (fixture->server.closed);
  g_assert_no_error (fixture->server.closed_error);
  g_assert_cmpuint (sm_yamux_session_get_n_streams (fixture->server.session), ==, 0);
  sm_test_assert_read (G_IO_STREAM (server_open), "pending");
  sm_test_assert_read_fails (G_IO_STREAM (server_open), G_IO_ERROR_CONNECTION_CLOSED);
  sm_test_assert_read (G_IO_STREAM (server_finished), "last words");
  sm_test_assert_eof (G_IO_STREAM (server_finished));
}

static void
test_connection_lost (SmTestYamux   *fixture,
                      gconstpointer  data)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  SmTestYamuxSide *client = sm_test_yamux_start_raw (fixture, SM_YAMUX_ROLE_CLIENT, NULL);

  SmYamuxHeader header;

  stream = sm_test_yamux_open_stream (client);
  /* Read the SYN first: closing over unread bytes would be a reset. */
  g_assert_true (sm_test_yamux_raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_SYN);
  g_io_stream_close (fixture->raw, NULL, NULL);
  SM_TEST_WAIT_FOR (client->closed);
  g_assert_error (client->closed_error, SM_ERROR, SM_ERROR_CLOSED);
  sm_test_assert_read_fails (G_IO_STREAM (stream), G_IO_ERROR_CONNECTION_CLOSED);
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
test_async_read_wakes (SmTestYamux   *fixture,
                       gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  SmYamuxStream *server;
  char buffer[16] = { 0 };
  gssize n = -2;
  SmYamuxConfig config;

  /* No timers at all, so that an idle loop has nothing to dispatch. */
  sm_test_yamux_config_init (&config);
  config.write_timeout_ms = 0;
  sm_test_yamux_start (fixture, &config, &config);
  client = sm_test_yamux_open_stream (&fixture->client);
  SM_TEST_WAIT_FOR (fixture->server.incoming->len == 1);
  server = g_ptr_array_index (fixture->server.incoming, 0);

  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (client)),
                             buffer, sizeof buffer, G_PRIORITY_DEFAULT, NULL, on_idle_read, &n);
  /* A waiting source is not ready: the loop would sleep, not spin. */
  sm_test_settle ();
  g_assert_false (g_main_context_iteration (NULL, FALSE));
  g_assert_cmpint (n, ==, -2);

  sm_test_write_all (G_IO_STREAM (server), "wake");
  SM_TEST_WAIT_FOR (n != -2);
  g_assert_cmpint (n, ==, 4);
  g_assert_cmpstr (buffer, ==, "wake");
}

static void
test_local_go_away_refuses (SmTestYamux   *fixture,
                            gconstpointer  data)
{
  SmTestYamuxSide *server = sm_test_yamux_start_raw (fixture, SM_YAMUX_ROLE_SERVER, NULL);
  SmYamuxHeader header;

  sm_yamux_session_go_away (server->session, SM_YAMUX_GO_AWAY_NORMAL);
  g_assert_true (sm_test_yamux_raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_GO_AWAY);
  g_assert_cmpuint (header.length, ==, SM_YAMUX_GO_AWAY_NORMAL);

  sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_DATA, SM_YAMUX_FLAG_SYN, 1, 3, "hey", 3);
  g_assert_true (sm_test_yamux_raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_WINDOW_UPDATE);
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_RST);
  g_assert_cmpuint (header.stream_id, ==, 1);
  g_assert_cmpuint (server->incoming->len, ==, 0);
  g_assert_false (server->closed);
}

#define PINGS_SIZE (64 * 1024)

static void
test_ping_flood (SmTestYamux   *fixture,
                 gconstpointer  data)
{
  GPollableOutputStream *output;
  g_autofree guint8 *pings = g_malloc (PINGS_SIZE);
  SmYamuxConfig config;
  SmYamuxHeader header;
  guint64 written = 0;
  SmTestYamuxSide *server;

  sm_test_yamux_config_init (&config);
  config.write_buffer_limit = 64 * 1024;
  config.write_timeout_ms = 0;
  server = sm_test_yamux_start_raw (fixture, SM_YAMUX_ROLE_SERVER, &config);
  output = sm_test_output_of (fixture->raw);
  for (guint i = 0; i + SM_YAMUX_HEADER_SIZE <= PINGS_SIZE; i += SM_YAMUX_HEADER_SIZE)
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
                                                             PINGS_SIZE - SM_YAMUX_HEADER_SIZE,
                                                             NULL, NULL);

      if (n < 0)
        {
          sm_test_settle ();
          n = g_pollable_output_stream_write_nonblocking (output, pings + offset,
                                                          PINGS_SIZE - SM_YAMUX_HEADER_SIZE,
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
      g_assert_true (sm_test_yamux_raw_read_frame (fixture, &header));
      g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_PING);
      g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_ACK);
    }
  g_assert_false (server->closed);
}

/* Eight windows: the blocking write runs the loop until the reader frees
 * window, as often as it takes. */
static void
test_sync_write (SmTestYamux   *fixture,
                 gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *pattern = sm_test_pattern_new (2 * MIB, 5);
  SmTestPeer peer;
  SmYamuxConfig config;
  gsize written = 0;

  sm_test_yamux_config_init (&config);
  config.max_stream_window = SM_YAMUX_INITIAL_WINDOW;
  sm_test_yamux_start (fixture, &config, &config);
  client = sm_test_yamux_open_stream (&fixture->client);
  SM_TEST_WAIT_FOR (fixture->server.incoming->len == 1);
  sm_test_peer_init (&peer, g_object_ref (g_ptr_array_index (fixture->server.incoming, 0)), 0);
  sm_test_peer_start_receive (&peer, 5);

  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (client)),
                             pattern, 2 * MIB, &written, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (written, ==, 2 * MIB);
  sm_test_close_output (G_IO_STREAM (client));
  SM_TEST_WAIT_FOR (peer.got_eof || peer.recv_error != NULL);
  sm_test_peer_assert_received (&peer, 2 * MIB);

  /* And a blocking read waits for what the other side writes. */
  sm_test_write_all (peer.stream, "done");
  sm_test_assert_read (G_IO_STREAM (client), "done");
  sm_test_peer_clear (&peer);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

/* A blocking read with nothing to come ends when cancelled. */
static void
test_sync_read_cancelled (SmTestYamux   *fixture,
                          gconstpointer  data)
{
  g_autoptr(SmYamuxStream) client = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  char byte;

  sm_test_yamux_start (fixture, NULL, NULL);
  client = sm_test_yamux_open_stream (&fixture->client);
  g_timeout_add (10, cancel_cb, cancellable);
  g_assert_cmpint (g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (client)),
                                        &byte, 1, cancellable, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_big_frame (SmTestYamux   *fixture,
                gconstpointer  data)
{
  const gsize size = SM_YAMUX_INITIAL_WINDOW; /* what a new stream may receive */
  g_autofree guint8 *pattern = sm_test_pattern_new (size, 0);
  g_autofree guint8 *received = g_malloc (size);
  SmYamuxHeader header;
  guint8 encoded[SM_YAMUX_HEADER_SIZE];
  g_autoptr(GError) error = NULL;
  SmTestYamuxSide *server = sm_test_yamux_start_raw (fixture, SM_YAMUX_ROLE_SERVER, NULL);
  SmYamuxStream *stream;
  gsize n = 0;

  sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_SYN, 1, 0, NULL, 0);
  g_assert_true (sm_test_yamux_raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_ACK);

  /* One frame of the whole window, bigger than the socket takes at once: it
   * arrives in many pieces, and its FIN only counts after the last one. */
  header = (SmYamuxHeader) { SM_YAMUX_VERSION, SM_YAMUX_TYPE_DATA, SM_YAMUX_FLAG_FIN, 1, size };
  sm_yamux_header_encode (&header, encoded);
  sm_test_yamux_raw_write_all (fixture, encoded, sizeof encoded);
  sm_test_yamux_raw_write_all (fixture, pattern, size);

  stream = g_ptr_array_index (server->incoming, 0);
  g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (stream)),
                           received, size, &n, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, size);
  g_assert_true (memcmp (received, pattern, size) == 0);
  sm_test_assert_eof (G_IO_STREAM (stream));
  g_assert_false (server->closed);
}

/* Frames of every kind and size after big DATA frames, all in one burst
 * (payloads read in place and through the read buffer, headers split
 * across reads): each arrives whole and in order */
static void
test_bulk_then_small_frames (SmTestYamux   *fixture,
                             gconstpointer  data)
{
  const gsize sizes[] = { 65536, 40000, 5, 20000 };
  const gsize total = 65536 + 40000 + 5 + 20000;
  g_autofree guint8 *pattern = sm_test_pattern_new (total, 0);
  g_autofree guint8 *received = g_malloc (total);
  g_autoptr(GByteArray) burst = g_byte_array_new ();
  SmYamuxHeader header;
  guint8 encoded[SM_YAMUX_HEADER_SIZE];
  g_autoptr(GError) error = NULL;
  SmTestYamuxSide *server = sm_test_yamux_start_raw (fixture, SM_YAMUX_ROLE_SERVER, NULL);
  SmYamuxStream *stream;
  gsize offset = 0, n = 0;

  sm_test_yamux_raw_send (fixture, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_SYN, 1, 0, NULL, 0);
  g_assert_true (sm_test_yamux_raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_ACK);

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      header = (SmYamuxHeader) { SM_YAMUX_VERSION, SM_YAMUX_TYPE_DATA,
                                 i + 1 == G_N_ELEMENTS (sizes) ? SM_YAMUX_FLAG_FIN : 0, 1, sizes[i] };
      sm_yamux_header_encode (&header, encoded);
      g_byte_array_append (burst, encoded, sizeof encoded);
      g_byte_array_append (burst, pattern + offset, sizes[i]);
      offset += sizes[i];
      /* A ping right after the big ones */
      if (i == 1)
        {
          header = (SmYamuxHeader) { SM_YAMUX_VERSION, SM_YAMUX_TYPE_PING, SM_YAMUX_FLAG_SYN, 0, 4321 };
          sm_yamux_header_encode (&header, encoded);
          g_byte_array_append (burst, encoded, sizeof encoded);
        }
    }
  sm_test_yamux_raw_write_all (fixture, burst->data, burst->len);

  stream = g_ptr_array_index (server->incoming, 0);
  g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (stream)),
                           received, total, &n, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, total);
  g_assert_true (memcmp (received, pattern, total) == 0);
  sm_test_assert_eof (G_IO_STREAM (stream));

  g_assert_true (sm_test_yamux_raw_read_frame (fixture, &header));
  g_assert_cmpuint (header.type, ==, SM_YAMUX_TYPE_PING);
  g_assert_cmpuint (header.flags, ==, SM_YAMUX_FLAG_ACK);
  g_assert_cmpuint (header.length, ==, 4321);
  g_assert_false (server->closed);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, data) SM_TEST_YAMUX_ADD ("/yamux-session/" path, func, data)

  ADD ("open-accept", test_open_accept, NULL);
  ADD ("server-opens", test_server_opens, NULL);
  ADD ("concurrent-echo", test_concurrent_echo, GUINT_TO_POINTER (SM_YAMUX_DEFAULT_MAX_PENDING_SYN));
  ADD ("concurrent-echo-queued-syn", test_concurrent_echo, GUINT_TO_POINTER (16));
  ADD ("half-close-client-first", test_half_close_client_first, NULL);
  ADD ("half-close-server-first", test_half_close_server_first, NULL);
  ADD ("reset", test_reset, NULL);
  ADD ("refused-without-handler", test_refused_without_handler, NULL);
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
  ADD ("sync-write", test_sync_write, NULL);
  ADD ("sync-read-cancelled", test_sync_read_cancelled, NULL);
  ADD ("big-frame", test_big_frame, NULL);
  ADD ("bulk-then-small-frames", test_bulk_then_small_frames, NULL);

  return g_test_run ();
}
