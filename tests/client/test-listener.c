/* SPDX-License-Identifier: MIT */

/*
 * SmListener (the client library) against the fake daemon of
 * sm-fake-daemon.c: defaults, handshake, rejection, incoming vs accept,
 * echo, graceful close, the accept backlog, statistics and disposal.
 * Losing the daemon is in test-listener-reconnect.c.
 */

#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-client-fixture.h"
#include "sm-handshake.h"
#include "sm-listener.h"
#include "sm-listener-private.h"

/* ---- tests ---- */

static void
test_defaults (void)
{
  g_autoptr(SmSocketDefinition) definition = sm_socket_definition_new (8080);
  g_autoptr(SmListener) listener = NULL;
  g_autoptr(SmSocketDefinition) stored = NULL;
  g_autofree char *address = NULL;
  double reconnect_timeout = 0;
  gboolean connected = TRUE;

  g_unsetenv ("SOCKETMASTER_ADDRESS");
  listener = sm_listener_new (NULL, definition);
  g_assert_cmpstr (sm_listener_get_control_address (listener), ==, SM_DEFAULT_CONTROL_ADDRESS);
  g_object_get (listener,
                "control-address", &address,
                "definition", &stored,
                "reconnect-timeout", &reconnect_timeout,
                "connected", &connected,
                NULL);
  g_assert_cmpstr (address, ==, SM_DEFAULT_CONTROL_ADDRESS);
  g_assert_cmpuint (sm_socket_definition_get_port (stored), ==, 8080);
  g_assert_true (sm_listener_get_definition (listener) != definition);
  g_assert_cmpfloat (reconnect_timeout, ==, 30);
  g_assert_false (connected);
}

static void
test_address_from_environment (void)
{
  g_autoptr(SmSocketDefinition) definition = sm_socket_definition_new (8080);
  g_autoptr(SmListener) listener = NULL;

  g_setenv ("SOCKETMASTER_ADDRESS", "[::1]:7777", TRUE);
  listener = sm_listener_new (NULL, definition);
  g_assert_cmpstr (sm_listener_get_control_address (listener), ==, "[::1]:7777");
  g_unsetenv ("SOCKETMASTER_ADDRESS");
}

/* An address given to the listener wins over the environment */
static void
test_address_given (void)
{
  g_autoptr(SmSocketDefinition) definition = sm_socket_definition_new (8080);
  g_autoptr(SmListener) listener = NULL;

  g_setenv ("SOCKETMASTER_ADDRESS", "[::1]:7777", TRUE);
  listener = sm_listener_new ("127.0.0.2:1234", definition);
  g_assert_cmpstr (sm_listener_get_control_address (listener), ==, "127.0.0.2:1234");
  g_unsetenv ("SOCKETMASTER_ADDRESS");
}

static void
test_bad_address (void)
{
  g_autoptr(SmSocketDefinition) definition = sm_socket_definition_new (8080);
  g_autoptr(SmListener) listener = sm_listener_new ("127.0.0.1", definition);
  g_autoptr(GError) error = NULL;

  g_assert_false (sm_listener_start (listener, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_handshake (SmClientFixture *fixture,
                gconstpointer    data)
{
  g_autoptr(GByteArray) expected = g_byte_array_new ();
  g_autoptr(SmSocketDefinition) received = NULL;
  g_autoptr(GError) error = NULL;
  GBytes *request;
  gsize consumed = 0;

  /* every field on the wire, in the definition the listener was made with */
  g_clear_object (&fixture->listener);
  sm_socket_definition_set_http (fixture->definition, "example.com", "/api");
  sm_socket_definition_set_tls (fixture->definition, "-----CERT-----\n", "-----KEY-----\n");
  fixture->listener = sm_client_fixture_new_listener (fixture);
  sm_client_fixture_start (fixture);
  g_assert_cmpstr (fixture->connected_log->str, ==, "t");

  g_assert_cmpuint (fixture->daemon->requests->len, ==, 1);
  request = g_ptr_array_index (fixture->daemon->requests, 0);
  sm_handshake_encode_request (fixture->definition, expected);
  g_assert_cmpmem (g_bytes_get_data (request, NULL), g_bytes_get_size (request),
                   expected->data, expected->len);

  g_assert_cmpint (sm_handshake_parse_request (g_bytes_get_data (request, NULL),
                                               g_bytes_get_size (request),
                                               &consumed, &received, &error),
                   ==, SM_HANDSHAKE_COMPLETE);
  g_assert_no_error (error);
  g_assert_cmpuint (consumed, ==, g_bytes_get_size (request));
  g_assert_cmpstr (sm_socket_definition_get_address (received), ==, "127.0.0.1");
  g_assert_cmpuint (sm_socket_definition_get_port (received), ==, 8080);
  g_assert_cmpstr (sm_socket_definition_get_domain_suffix (received), ==, "example.com");
  g_assert_cmpstr (sm_socket_definition_get_path_prefix (received), ==, "/api");
  g_assert_cmpstr (sm_socket_definition_get_tls_cert (received), ==, "-----CERT-----\n");
  g_assert_cmpstr (sm_socket_definition_get_tls_key (received), ==, "-----KEY-----\n");
}

/* A second start is refused; the registration stays */
static void
test_start_twice (SmClientFixture *fixture,
                  gconstpointer    data)
{
  g_autoptr(GError) error = NULL;

  sm_client_fixture_start (fixture);
  g_assert_false (sm_listener_start (fixture->listener, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PENDING);
  g_assert_true (sm_listener_is_connected (fixture->listener));
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 1);
}

/* The daemon refuses the registration */
static void
start_rejected (SmClientFixture *fixture)
{
  const char *status = "listen tcp 127.0.0.1:8080: bind: address already in use";
  g_autoptr(GError) error = NULL;

  sm_fake_daemon_set_answer (fixture->daemon, status);
  g_assert_false (sm_listener_start (fixture->listener, NULL, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_REJECTED);
  g_assert_cmpstr (error->message, ==, status);
  g_assert_false (sm_listener_is_connected (fixture->listener));
  g_assert_cmpstr (fixture->connected_log->str, ==, "");
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 1);
}

static void
test_rejected (SmClientFixture *fixture,
               gconstpointer    data)
{
  start_rejected (fixture);
}

/* The start is cancelled while the daemon does not answer */
static void
start_cancelled (SmClientFixture *fixture)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  SmFakeAsyncWait wait = { 0 };

  /* the daemon reads the handshake and never answers */
  sm_fake_daemon_set_answer (fixture->daemon, NULL);
  sm_listener_start_async (fixture->listener, cancellable, sm_fake_async_done, &wait);
  WAIT_UNTIL (fixture->daemon->requests->len == 1);
  g_assert_false (wait.done);

  g_cancellable_cancel (cancellable);
  WAIT_UNTIL (wait.done);
  g_assert_false (sm_listener_start_finish (fixture->listener, wait.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (sm_listener_is_connected (fixture->listener));
  g_clear_object (&wait.result);
}

static void
test_start_cancelled (SmClientFixture *fixture,
                      gconstpointer    data)
{
  start_cancelled (fixture);
}

/* A start that was refused (@data FALSE) or cancelled (TRUE) may be
 * retried */
static void
test_retry (SmClientFixture *fixture,
            gconstpointer    data)
{
  if (GPOINTER_TO_INT (data))
    start_cancelled (fixture);
  else
    start_rejected (fixture);
  sm_fake_daemon_set_answer (fixture->daemon, SM_HANDSHAKE_STATUS_OK);
  sm_client_fixture_start (fixture);
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 2);
}

/* A handler returning TRUE takes the stream: nothing is queued */
static void
test_incoming_taken (SmClientFixture *fixture,
                     gconstpointer    data)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  GIOStream *taken;

  sm_client_fixture_start (fixture);
  fixture->take_streams = TRUE;
  stream = sm_fake_daemon_open_stream (fixture->daemon);
  WAIT_UNTIL (fixture->taken->len == 1);
  taken = g_ptr_array_index (fixture->taken, 0);
  g_assert_cmpuint (sm_fake_stream_id (taken), ==, sm_fake_stream_id (stream));
  g_assert_cmpuint (fixture->n_incoming, ==, 1);

  /* it carries data both ways */
  sm_fake_stream_write (G_IO_STREAM (stream), "to the service");
  sm_fake_stream_expect (taken, "to the service");
  sm_fake_stream_write (taken, "to the public");
  sm_fake_stream_expect (G_IO_STREAM (stream), "to the public");
}

/* Otherwise it waits for accept */
static void
test_incoming_accepted (SmClientFixture *fixture,
                        gconstpointer    data)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  g_autoptr(GIOStream) accepted = NULL;

  sm_client_fixture_start (fixture);
  stream = sm_fake_daemon_open_stream (fixture->daemon);
  WAIT_UNTIL (fixture->n_incoming == 1);
  accepted = sm_client_fixture_accept (fixture);
  g_assert_cmpuint (sm_fake_stream_id (accepted), ==, sm_fake_stream_id (stream));

  /* it carries data both ways */
  sm_fake_stream_write (G_IO_STREAM (stream), "to the service");
  sm_fake_stream_expect (accepted, "to the service");
  sm_fake_stream_write (accepted, "to the public");
  sm_fake_stream_expect (G_IO_STREAM (stream), "to the public");
}

/* Waiting accepts are served first come, first served; a cancelled one
 * takes nothing */
static void
test_accept_order (SmClientFixture *fixture,
                   gconstpointer    data)
{
  g_autoptr(SmYamuxStream) c = NULL, d = NULL;
  g_autoptr(GIOStream) first = NULL, second = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  SmFakeAsyncWait wait1 = { 0 }, wait2 = { 0 }, cancelled = { 0 };

  sm_client_fixture_start (fixture);
  sm_listener_accept_async (fixture->listener, cancellable, sm_fake_async_done, &cancelled);
  sm_listener_accept_async (fixture->listener, NULL, sm_fake_async_done, &wait1);
  sm_listener_accept_async (fixture->listener, NULL, sm_fake_async_done, &wait2);
  g_cancellable_cancel (cancellable);
  WAIT_UNTIL (cancelled.done);
  g_assert_null (sm_listener_accept_finish (fixture->listener, cancelled.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_object (&cancelled.result);
  g_clear_error (&error);

  c = sm_fake_daemon_open_stream (fixture->daemon);
  d = sm_fake_daemon_open_stream (fixture->daemon);
  WAIT_UNTIL (wait1.done && wait2.done);
  first = sm_listener_accept_finish (fixture->listener, wait1.result, &error);
  g_assert_no_error (error);
  second = sm_listener_accept_finish (fixture->listener, wait2.result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sm_fake_stream_id (first), ==, sm_fake_stream_id (c));
  g_assert_cmpuint (sm_fake_stream_id (second), ==, sm_fake_stream_id (d));
  g_clear_object (&wait1.result);
  g_clear_object (&wait2.result);
  g_assert_cmpuint (fixture->n_incoming, ==, 2);
}

typedef struct {
  GBytes   *payload;
  guint8   *received;
  gsize     n_received;
  gboolean  written;
  gboolean  read;
} EchoCheck;

static void
on_echo_spliced (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GIOStream) stream = user_data;
  g_autoptr(GError) error = NULL;

  g_output_stream_splice_finish (G_OUTPUT_STREAM (source), result, &error);
  g_assert_no_error (error);
}

/* The service: echo every stream it gets */
static gboolean
on_incoming_echo (SmListener *listener,
                  GIOStream  *stream,
                  gpointer    user_data)
{
  g_output_stream_splice_async (g_io_stream_get_output_stream (stream),
                                g_io_stream_get_input_stream (stream),
                                G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE |
                                G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                G_PRIORITY_DEFAULT, NULL, on_echo_spliced,
                                g_object_ref (stream));
  return TRUE;
}

static void
on_echo_written (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  EchoCheck *check = user_data;
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error);
  g_assert_no_error (error);
  /* FIN: the echo ends when the service sees EOF */
  g_output_stream_close (G_OUTPUT_STREAM (source), NULL, &error);
  g_assert_no_error (error);
  check->written = TRUE;
}

static void
on_echo_read (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  EchoCheck *check = user_data;
  g_autoptr(GError) error = NULL;

  g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &check->n_received, &error);
  g_assert_no_error (error);
  check->read = TRUE;
}

static gboolean
echo_checks_done (const EchoCheck *checks,
                  guint            n_checks)
{
  for (guint i = 0; i < n_checks; i++)
    if (!checks[i].written || !checks[i].read)
      return FALSE;
  return TRUE;
}

static void
test_echo_concurrent (SmClientFixture *fixture,
                      gconstpointer    data)
{
  enum { N_STREAMS = 5, PAYLOAD_SIZE = 300 * 1024 };
  SmYamuxStream *streams[N_STREAMS];
  EchoCheck checks[N_STREAMS];

  g_signal_connect (fixture->listener, "incoming", G_CALLBACK (on_incoming_echo), NULL);
  sm_client_fixture_start (fixture);

  for (guint i = 0; i < N_STREAMS; i++)
    {
      guint8 *payload = g_malloc (PAYLOAD_SIZE);

      for (gsize j = 0; j < PAYLOAD_SIZE; j++)
        payload[j] = (guint8) (i * 31 + j * 7 + j / 251);

      checks[i] = (EchoCheck) { 0 };
      checks[i].payload = g_bytes_new_take (payload, PAYLOAD_SIZE);
      checks[i].received = g_malloc (PAYLOAD_SIZE + 1);
      streams[i] = sm_fake_daemon_open_stream (fixture->daemon);

      /* one more than sent: the echo must end with EOF, not more data */
      g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (streams[i])),
                                     checks[i].received, PAYLOAD_SIZE + 1, G_PRIORITY_DEFAULT,
                                     NULL, on_echo_read, &checks[i]);
      g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (streams[i])),
                                       g_bytes_get_data (checks[i].payload, NULL), PAYLOAD_SIZE,
                                       G_PRIORITY_DEFAULT, NULL, on_echo_written, &checks[i]);
    }

  WAIT_UNTIL (echo_checks_done (checks, N_STREAMS));

  g_assert_cmpuint (fixture->n_incoming, ==, N_STREAMS);
  for (guint i = 0; i < N_STREAMS; i++)
    {
      g_assert_cmpmem (checks[i].received, checks[i].n_received,
                       g_bytes_get_data (checks[i].payload, NULL), PAYLOAD_SIZE);
      sm_fake_stream_close (G_IO_STREAM (streams[i]));
      g_object_unref (streams[i]);
      g_bytes_unref (checks[i].payload);
      g_free (checks[i].received);
    }
}

static void
test_graceful_close (SmClientFixture *fixture,
                     gconstpointer    data)
{
  g_autoptr(SmYamuxStream) busy = NULL;
  g_autoptr(SmYamuxStream) unaccepted = NULL;
  g_autoptr(GIOStream) accepted = NULL;
  g_autoptr(GError) error = NULL;
  SmFakeAsyncWait close = { 0 };
  SmFakeAsyncWait accept = { 0 };

  sm_client_fixture_start (fixture);

  busy = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write (G_IO_STREAM (busy), "hello");
  accepted = sm_client_fixture_accept (fixture);
  sm_fake_stream_expect (accepted, "hello");

  unaccepted = sm_fake_daemon_open_stream (fixture->daemon);
  WAIT_UNTIL (fixture->n_incoming == 2);

  sm_listener_close_async (fixture->listener, NULL, sm_fake_async_done, &close);

  /* the daemon is told to route nothing new here */
  WAIT_UNTIL (fixture->daemon->n_go_away == 1);
  /* a connection nobody accepted is dropped */
  error = sm_fake_stream_read_error (G_IO_STREAM (unaccepted));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_true (sm_yamux_stream_was_reset (unaccepted));
  g_clear_error (&error);

  /* no more accepts */
  sm_listener_accept_async (fixture->listener, NULL, sm_fake_async_done, &accept);
  WAIT_UNTIL (accept.done);
  g_assert_null (sm_listener_accept_finish (fixture->listener, accept.result, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_CLOSED);
  g_clear_object (&accept.result);
  g_clear_error (&error);

  /* the connection handed out keeps working, and the close waits for it */
  sm_fake_stream_write (accepted, "still here");
  sm_fake_stream_expect (G_IO_STREAM (busy), "still here");
  sm_fake_stream_write (G_IO_STREAM (busy), "and here");
  sm_fake_stream_expect (accepted, "and here");
  g_assert_false (close.done);
  g_assert_true (sm_listener_is_connected (fixture->listener));

  /* the service finishes it; the public side then closes too */
  sm_fake_stream_close (accepted);
  sm_fake_stream_expect (G_IO_STREAM (busy), "");
  sm_fake_stream_close (G_IO_STREAM (busy));

  WAIT_UNTIL (close.done);
  g_assert_true (sm_listener_close_finish (fixture->listener, close.result, &error));
  g_assert_no_error (error);
  g_clear_object (&close.result);
  g_assert_false (sm_listener_is_connected (fixture->listener));
  g_assert_cmpstr (fixture->connected_log->str, ==, "tf");

  WAIT_UNTIL (fixture->daemon->n_closed == 1);
  /* closing on purpose is no reason to come back */
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 1);
  g_assert_null (fixture->lost_error);
}

static void
test_close_idle (SmClientFixture *fixture,
                 gconstpointer    data)
{
  g_autoptr(GError) error = NULL;
  SmFakeAsyncWait close = { 0 };

  sm_client_fixture_start (fixture);
  sm_listener_close_async (fixture->listener, NULL, sm_fake_async_done, &close);
  WAIT_UNTIL (close.done && fixture->daemon->n_closed == 1);
  g_assert_true (sm_listener_close_finish (fixture->listener, close.result, &error));
  g_assert_no_error (error);
  g_clear_object (&close.result);
  g_assert_cmpuint (fixture->daemon->n_go_away, ==, 1);

  /* closed for good */
  g_assert_false (sm_listener_start (fixture->listener, NULL, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_CLOSED);
}

static void
test_backlog_limit (SmClientFixture *fixture,
                    gconstpointer    data)
{
  enum { BACKLOG = 256 };
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  SmYamuxStream *extra;

  sm_client_fixture_start (fixture);

  for (guint i = 0; i < BACKLOG + 1; i++)
    g_ptr_array_add (streams, sm_fake_daemon_open_stream (fixture->daemon));
  WAIT_UNTIL (fixture->n_incoming == BACKLOG + 1);

  /* one over the bound is turned away, the others wait for accept */
  extra = g_ptr_array_index (streams, BACKLOG);
  error = sm_fake_stream_read_error (G_IO_STREAM (extra));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_true (sm_yamux_stream_was_reset (extra));

  for (guint i = 0; i < BACKLOG; i++)
    {
      g_autoptr(GIOStream) accepted = sm_client_fixture_accept (fixture);

      g_assert_cmpuint (sm_fake_stream_id (accepted), ==, sm_fake_stream_id (g_ptr_array_index (streams, i)));
      g_assert_false (sm_yamux_stream_was_reset (g_ptr_array_index (streams, i)));
      sm_yamux_stream_reset (SM_YAMUX_STREAM (accepted));
    }
}

static void
test_dispose_connected (SmClientFixture *fixture,
                        gconstpointer    data)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  g_autoptr(GIOStream) accepted = NULL;
  g_autoptr(GError) error = NULL;

  sm_client_fixture_start (fixture);
  stream = sm_fake_daemon_open_stream (fixture->daemon);
  accepted = sm_client_fixture_accept (fixture);

  /* dropping the last reference ends the registration */
  g_clear_object (&fixture->listener);
  WAIT_UNTIL (fixture->daemon->n_closed == 1);
  error = sm_fake_stream_read_error (accepted);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
}

static guint64
listener_pings_received (SmListener *listener)
{
  SmYamuxStats stats;

  sm_listener_get_yamux_stats (listener, &stats);
  return stats.pings_received;
}

static void
test_yamux_stats (SmClientFixture *fixture,
                  gconstpointer    data)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  g_autoptr(GIOStream) accepted = NULL;
  SmYamuxStats stats;

  sm_listener_get_yamux_stats (fixture->listener, &stats);
  g_assert_cmpuint (stats.streams_accepted, ==, 0);

  sm_client_fixture_start (fixture);
  stream = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write (G_IO_STREAM (stream), "12345");
  accepted = sm_client_fixture_accept (fixture);
  sm_fake_stream_expect (accepted, "12345");

  /* the daemon's keep-alive is answered and counted */
  sm_yamux_session_ping (fixture->daemon->session);
  WAIT_UNTIL (listener_pings_received (fixture->listener) == 1);
  sm_listener_get_yamux_stats (fixture->listener, &stats);
  g_assert_cmpuint (stats.streams_accepted, ==, 1);
  g_assert_cmpuint (stats.bytes_received, ==, 5);

  /* no session, nothing to count */
  sm_listener_abort (fixture->listener);
  sm_listener_get_yamux_stats (fixture->listener, &stats);
  g_assert_cmpuint (stats.pings_received, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  /* the original handshake, whatever the environment */
  g_unsetenv ("SOCKETMASTER_TOKEN");

  g_test_add_func ("/listener/defaults", test_defaults);
  g_test_add_func ("/listener/address-from-environment", test_address_from_environment);
  g_test_add_func ("/listener/address-given", test_address_given);
  g_test_add_func ("/listener/bad-address", test_bad_address);
  SM_CLIENT_TEST_ADD ("/listener/handshake", test_handshake);
  SM_CLIENT_TEST_ADD ("/listener/start-twice", test_start_twice);
  SM_CLIENT_TEST_ADD ("/listener/rejected", test_rejected);
  g_test_add ("/listener/retry-after-rejected", SmClientFixture, GINT_TO_POINTER (FALSE),
              sm_client_fixture_set_up, test_retry, sm_client_fixture_tear_down);
  SM_CLIENT_TEST_ADD ("/listener/start-cancelled", test_start_cancelled);
  g_test_add ("/listener/retry-after-cancelled", SmClientFixture, GINT_TO_POINTER (TRUE),
              sm_client_fixture_set_up, test_retry, sm_client_fixture_tear_down);
  SM_CLIENT_TEST_ADD ("/listener/incoming/taken-by-handler", test_incoming_taken);
  SM_CLIENT_TEST_ADD ("/listener/incoming/accepted", test_incoming_accepted);
  SM_CLIENT_TEST_ADD ("/listener/accept-order", test_accept_order);
  SM_CLIENT_TEST_ADD ("/listener/echo-concurrent", test_echo_concurrent);
  SM_CLIENT_TEST_ADD ("/listener/graceful-close", test_graceful_close);
  SM_CLIENT_TEST_ADD ("/listener/close-idle", test_close_idle);
  SM_CLIENT_TEST_ADD ("/listener/backlog-limit", test_backlog_limit);
  SM_CLIENT_TEST_ADD ("/listener/yamux-stats", test_yamux_stats);
  SM_CLIENT_TEST_ADD ("/listener/dispose-connected", test_dispose_connected);

  return g_test_run ();
}
