/* SPDX-License-Identifier: MIT */

/*
 * SmListener (the client library) against the fake daemon of
 * sm-fake-daemon.c: handshake, rejection, incoming vs accept, echo,
 * reconnecting, giving up, graceful close, the accept backlog and disposal
 * at awkward moments.
 */

#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-fake-daemon.h"
#include "sm-handshake.h"
#include "sm-listener.h"
#include "sm-listener-private.h"

/* ---- fixture: a fake daemon and a listener registered with it ---- */

typedef struct {
  SmFakeDaemon       *daemon;
  SmSocketDefinition *definition;
  SmListener         *listener;
  GString            *connected_log;   /* 't'/'f' for each notify::connected */
  gboolean            take_streams;    /* the incoming handler returns TRUE */
  GPtrArray          *taken;           /* streams the handler took */
  guint               n_incoming;
  GError             *lost_error;
} Fixture;

static void
on_connected_changed (SmListener *listener,
                      GParamSpec *pspec,
                      Fixture    *fixture)
{
  g_string_append_c (fixture->connected_log, sm_listener_is_connected (listener) ? 't' : 'f');
}

static gboolean
on_incoming (SmListener *listener,
             GIOStream  *stream,
             Fixture    *fixture)
{
  g_assert_true (SM_IS_YAMUX_STREAM (stream));
  fixture->n_incoming++;
  if (!fixture->take_streams)
    return FALSE;

  g_ptr_array_add (fixture->taken, g_object_ref (stream));
  return TRUE;
}

static void
on_lost (SmListener   *listener,
         const GError *error,
         Fixture      *fixture)
{
  g_assert_nonnull (error);
  g_assert_null (fixture->lost_error);
  g_assert_false (sm_listener_is_connected (listener));
  fixture->lost_error = g_error_copy (error);
}

static SmListener *
fixture_new_listener (Fixture *fixture)
{
  SmListener *listener = sm_listener_new (fixture->daemon->address, fixture->definition);

  g_signal_connect (listener, "notify::connected", G_CALLBACK (on_connected_changed), fixture);
  g_signal_connect (listener, "incoming", G_CALLBACK (on_incoming), fixture);
  g_signal_connect (listener, "lost", G_CALLBACK (on_lost), fixture);

  return listener;
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  fixture->daemon = sm_fake_daemon_new ();
  fixture->definition = sm_socket_definition_new (8080);
  sm_socket_definition_set_address (fixture->definition, "127.0.0.1");
  fixture->connected_log = g_string_new (NULL);
  fixture->taken = g_ptr_array_new_with_free_func (g_object_unref);
  fixture->listener = fixture_new_listener (fixture);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  if (fixture->listener != NULL)
    {
      sm_listener_abort (fixture->listener);
      g_clear_object (&fixture->listener);
    }
  g_ptr_array_unref (fixture->taken);
  sm_fake_daemon_free (fixture->daemon);
  sm_socket_definition_free (fixture->definition);
  g_string_free (fixture->connected_log, TRUE);
  g_clear_error (&fixture->lost_error);

  /* let closed sockets and sessions release what they hold */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
fixture_start (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;

  sm_listener_start (fixture->listener, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (sm_listener_is_connected (fixture->listener));
}

static GIOStream *
fixture_accept (Fixture *fixture)
{
  SmFakeAsyncWait wait = { 0 };
  g_autoptr(GError) error = NULL;
  GIOStream *stream;

  sm_listener_accept_async (fixture->listener, NULL, sm_fake_async_done, &wait);
  WAIT_UNTIL (wait.done);
  stream = sm_listener_accept_finish (fixture->listener, wait.result, &error);
  g_assert_no_error (error);
  g_object_unref (wait.result);

  return stream;
}

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
  g_clear_object (&listener);

  g_setenv ("SOCKETMASTER_ADDRESS", "[::1]:7777", TRUE);
  listener = sm_listener_new (NULL, definition);
  g_assert_cmpstr (sm_listener_get_control_address (listener), ==, "[::1]:7777");
  g_clear_object (&listener);

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
test_handshake (Fixture       *fixture,
                gconstpointer  data)
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
  fixture->listener = fixture_new_listener (fixture);
  fixture_start (fixture);
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

  /* a second start is refused; the registration stays */
  g_assert_false (sm_listener_start (fixture->listener, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PENDING);
  g_assert_true (sm_listener_is_connected (fixture->listener));
}

static void
test_rejected (Fixture       *fixture,
               gconstpointer  data)
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

  /* a failed start may be retried */
  g_clear_error (&error);
  sm_fake_daemon_set_answer (fixture->daemon, SM_HANDSHAKE_STATUS_OK);
  fixture_start (fixture);
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 2);
}

static void
test_start_cancelled (Fixture       *fixture,
                      gconstpointer  data)
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

  sm_fake_daemon_set_answer (fixture->daemon, SM_HANDSHAKE_STATUS_OK);
  fixture_start (fixture);
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 2);
}

static void
test_incoming_and_accept (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(SmYamuxStream) a = NULL, b = NULL, c = NULL, d = NULL, e = NULL;
  g_autoptr(GIOStream) accepted = NULL;
  g_autoptr(GIOStream) first = NULL, second = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  SmFakeAsyncWait wait1 = { 0 }, wait2 = { 0 }, cancelled = { 0 };

  fixture_start (fixture);

  /* a handler returning TRUE takes the stream: nothing is queued */
  fixture->take_streams = TRUE;
  a = sm_fake_daemon_open_stream (fixture->daemon);
  WAIT_UNTIL (fixture->taken->len == 1);
  g_assert_cmpuint (sm_fake_stream_id (g_ptr_array_index (fixture->taken, 0)), ==, sm_fake_stream_id (a));

  /* otherwise it waits for accept */
  fixture->take_streams = FALSE;
  b = sm_fake_daemon_open_stream (fixture->daemon);
  WAIT_UNTIL (fixture->n_incoming == 2);
  accepted = fixture_accept (fixture);
  g_assert_cmpuint (sm_fake_stream_id (accepted), ==, sm_fake_stream_id (b));

  /* waiting accepts are served first come, first served; a cancelled one
   * takes nothing */
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

  /* the streams carry data both ways */
  sm_fake_stream_write (G_IO_STREAM (c), "to the service");
  sm_fake_stream_expect (first, "to the service");
  sm_fake_stream_write (g_ptr_array_index (fixture->taken, 0), "to the public");
  sm_fake_stream_expect (G_IO_STREAM (a), "to the public");
  g_assert_cmpuint (fixture->n_incoming, ==, 4);
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
test_echo_concurrent (Fixture       *fixture,
                      gconstpointer  data)
{
  enum { N_STREAMS = 5, PAYLOAD_SIZE = 300 * 1024 };
  SmYamuxStream *streams[N_STREAMS];
  EchoCheck checks[N_STREAMS];

  g_signal_connect (fixture->listener, "incoming", G_CALLBACK (on_incoming_echo), NULL);
  fixture_start (fixture);

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
test_reconnect (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  g_autoptr(GIOStream) accepted = NULL;
  GBytes *first, *second;

  fixture_start (fixture);

  /* the daemon goes away without warning; it is back at once */
  sm_fake_daemon_drop_session (fixture->daemon);
  WAIT_UNTIL (fixture->daemon->requests->len == 2 && sm_listener_is_connected (fixture->listener));
  g_assert_cmpstr (fixture->connected_log->str, ==, "tft");
  g_assert_null (fixture->lost_error);

  first = g_ptr_array_index (fixture->daemon->requests, 0);
  second = g_ptr_array_index (fixture->daemon->requests, 1);
  g_assert_true (g_bytes_equal (first, second));

  /* the new session carries streams */
  stream = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write (G_IO_STREAM (stream), "ping");
  accepted = fixture_accept (fixture);
  sm_fake_stream_expect (accepted, "ping");
  sm_fake_stream_write (accepted, "pong");
  sm_fake_stream_expect (G_IO_STREAM (stream), "pong");
}

static void
test_reconnect_after_go_away (Fixture       *fixture,
                              gconstpointer  data)
{
  g_autoptr(SmYamuxStream) old_stream = NULL;
  g_autoptr(SmYamuxStream) stream = NULL;
  g_autoptr(GIOStream) old_accepted = NULL;
  g_autoptr(GIOStream) accepted = NULL;

  fixture_start (fixture);
  old_stream = sm_fake_daemon_open_stream (fixture->daemon);
  old_accepted = fixture_accept (fixture);

  /* a daemon shutting down: GoAway first, the session stays up meanwhile */
  sm_yamux_session_go_away (fixture->daemon->session, SM_YAMUX_GO_AWAY_NORMAL);
  sm_fake_stream_write (G_IO_STREAM (old_stream), "draining");
  sm_fake_stream_expect (old_accepted, "draining");
  g_assert_true (sm_listener_is_connected (fixture->listener));
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 1);

  /* then an orderly close: not ours, so the listener comes back */
  sm_fake_daemon_drop_session (fixture->daemon);
  WAIT_UNTIL (fixture->daemon->requests->len == 2 && sm_listener_is_connected (fixture->listener));
  g_assert_cmpstr (fixture->connected_log->str, ==, "tft");

  stream = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write (G_IO_STREAM (stream), "back");
  accepted = fixture_accept (fixture);
  sm_fake_stream_expect (accepted, "back");
}

static void
test_reconnect_gives_up (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  SmFakeAsyncWait accept = { 0 };
  gint64 dropped_at;

  sm_listener_set_reconnect_timeout (fixture->listener, 0.3);
  fixture_start (fixture);
  sm_listener_accept_async (fixture->listener, NULL, sm_fake_async_done, &accept);

  /* the daemon is gone for good */
  sm_fake_daemon_stop_listening (fixture->daemon);
  dropped_at = g_get_monotonic_time ();
  sm_fake_daemon_drop_session (fixture->daemon);

  WAIT_UNTIL (fixture->lost_error != NULL);
  /* it kept trying for the whole reconnect-timeout */
  g_assert_cmpint (g_get_monotonic_time () - dropped_at, >=, 300 * 1000);
  g_assert_error (fixture->lost_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_cmpstr (fixture->connected_log->str, ==, "tf");
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 1);

  /* waiting accepts fail with the same error, and so do new ones */
  WAIT_UNTIL (accept.done);
  g_assert_null (sm_listener_accept_finish (fixture->listener, accept.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_clear_object (&accept.result);
  g_clear_error (&error);

  sm_listener_accept_async (fixture->listener, NULL, sm_fake_async_done, &accept);
  WAIT_UNTIL (accept.result != NULL);
  g_assert_null (sm_listener_accept_finish (fixture->listener, accept.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_clear_object (&accept.result);
}

static void
test_reconnect_rejected (Fixture       *fixture,
                         gconstpointer  data)
{
  const char *status = "port 8080 is in use by another program";

  sm_listener_set_reconnect_timeout (fixture->listener, 0.3);
  fixture_start (fixture);

  /* the daemon restarted, but meanwhile another program took the port */
  sm_fake_daemon_set_answer (fixture->daemon, status);
  sm_fake_daemon_drop_session (fixture->daemon);

  WAIT_UNTIL (fixture->lost_error != NULL);
  g_assert_error (fixture->lost_error, SM_ERROR, SM_ERROR_REJECTED);
  g_assert_cmpstr (fixture->lost_error->message, ==, status);
  /* a refusal is retried like any other failure */
  g_assert_cmpuint (fixture->daemon->requests->len, >=, 3);
  g_assert_false (sm_listener_is_connected (fixture->listener));
}

static void
test_graceful_close (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(SmYamuxStream) busy = NULL;
  g_autoptr(SmYamuxStream) unaccepted = NULL;
  g_autoptr(GIOStream) accepted = NULL;
  g_autoptr(GError) error = NULL;
  SmFakeAsyncWait close = { 0 };
  SmFakeAsyncWait accept = { 0 };

  fixture_start (fixture);

  busy = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write (G_IO_STREAM (busy), "hello");
  accepted = fixture_accept (fixture);
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
test_close_idle (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  SmFakeAsyncWait close = { 0 };

  fixture_start (fixture);
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
test_backlog_limit (Fixture       *fixture,
                    gconstpointer  data)
{
  enum { BACKLOG = 256 };
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  SmYamuxStream *extra;

  fixture_start (fixture);

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
      g_autoptr(GIOStream) accepted = fixture_accept (fixture);

      g_assert_cmpuint (sm_fake_stream_id (accepted), ==, sm_fake_stream_id (g_ptr_array_index (streams, i)));
      g_assert_false (sm_yamux_stream_was_reset (g_ptr_array_index (streams, i)));
      sm_yamux_stream_reset (SM_YAMUX_STREAM (accepted));
    }
}

static void
test_dispose_connected (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  g_autoptr(GIOStream) accepted = NULL;
  g_autoptr(GError) error = NULL;

  fixture_start (fixture);
  stream = sm_fake_daemon_open_stream (fixture->daemon);
  accepted = fixture_accept (fixture);

  /* dropping the last reference ends the registration */
  g_clear_object (&fixture->listener);
  WAIT_UNTIL (fixture->daemon->n_closed == 1);
  error = sm_fake_stream_read_error (accepted);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
}

static void
on_connected_changed_dispose (SmListener *listener,
                              GParamSpec *pspec,
                              gboolean   *disconnected)
{
  if (!sm_listener_is_connected (listener))
    *disconnected = TRUE;
}

static void
test_dispose_reconnecting (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(SmListener) probe = NULL;
  gboolean disconnected = FALSE;

  g_signal_connect (fixture->listener, "notify::connected",
                    G_CALLBACK (on_connected_changed_dispose), &disconnected);
  fixture_start (fixture);
  sm_fake_daemon_drop_session (fixture->daemon);
  WAIT_UNTIL (disconnected);
  g_clear_object (&fixture->listener);

  /* A registration of another listener goes through the same loop: had
   * the disposed one kept retrying, its handshake would be there too. */
  sm_socket_definition_set_port (fixture->definition, 8081);
  probe = sm_listener_new (fixture->daemon->address, fixture->definition);
  g_assert_true (sm_listener_start (probe, NULL, NULL));
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 2);
  sm_listener_abort (probe);
}

static guint64
listener_pings_received (SmListener *listener)
{
  SmYamuxStats stats;

  sm_listener_get_yamux_stats (listener, &stats);
  return stats.pings_received;
}

static void
test_yamux_stats (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  g_autoptr(GIOStream) accepted = NULL;
  SmYamuxStats stats;

  sm_listener_get_yamux_stats (fixture->listener, &stats);
  g_assert_cmpuint (stats.streams_accepted, ==, 0);

  fixture_start (fixture);
  stream = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write (G_IO_STREAM (stream), "12345");
  accepted = fixture_accept (fixture);
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

#define ADD_TEST(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/listener/defaults", test_defaults);
  g_test_add_func ("/listener/bad-address", test_bad_address);
  ADD_TEST ("/listener/handshake", test_handshake);
  ADD_TEST ("/listener/rejected", test_rejected);
  ADD_TEST ("/listener/start-cancelled", test_start_cancelled);
  ADD_TEST ("/listener/incoming-and-accept", test_incoming_and_accept);
  ADD_TEST ("/listener/echo-concurrent", test_echo_concurrent);
  ADD_TEST ("/listener/reconnect", test_reconnect);
  ADD_TEST ("/listener/reconnect-after-go-away", test_reconnect_after_go_away);
  ADD_TEST ("/listener/reconnect-gives-up", test_reconnect_gives_up);
  ADD_TEST ("/listener/reconnect-rejected", test_reconnect_rejected);
  ADD_TEST ("/listener/graceful-close", test_graceful_close);
  ADD_TEST ("/listener/close-idle", test_close_idle);
  ADD_TEST ("/listener/backlog-limit", test_backlog_limit);
  ADD_TEST ("/listener/yamux-stats", test_yamux_stats);
  ADD_TEST ("/listener/dispose-connected", test_dispose_connected);
  ADD_TEST ("/listener/dispose-reconnecting", test_dispose_reconnecting);

  return g_test_run ();
}
