/* SPDX-License-Identifier: MIT */
/*
 * The daemon end to end in TCP mode: a real daemon process, services that
 * are real processes (examples/tcp-echo, i.e. the client library) or
 * in-process scripted services (the raw yamux session), and public
 * connections over loopback.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "sm-test-util.h"

#define WAIT_MS 30000

static void
assert_connection_refused (guint16 port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = sm_test_connect (port, &error);

  g_assert_null (socket);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
}

/* ---- Echo through the client library ---- */

static void
test_echo_concurrent (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestProcess *echo = sm_test_tcp_echo_start (daemon->control_address, port, "tcp-echo");

  sm_test_echo_many (port, 5, 256 * 1024, WAIT_MS);

  sm_test_process_terminate (echo, FALSE);
  sm_test_process_free (echo);
  sm_test_daemon_stop (daemon);
}

static void
test_echo_many_large (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestProcess *echo = sm_test_tcp_echo_start (daemon->control_address, port, "tcp-echo");

  /* All on one service session: one yamux connection carries 200 streams,
   * each moving 1 MiB both ways */
  sm_test_echo_many (port, 200, 1024 * 1024, 150000);
  g_assert_cmpuint (sm_test_process_count_lines (daemon->process, "registered"), ==, 1);

  sm_test_process_terminate (echo, FALSE);
  sm_test_process_free (echo);
  sm_test_daemon_stop (daemon);
}

/* ---- Half-close ---- */

static gpointer
public_half_close_thread (gpointer data)
{
  guint16 port = GPOINTER_TO_UINT (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = sm_test_connect (port, &error);
  GBytes *reply;

  g_assert_no_error (error);
  sm_test_send_all (socket, "hello, service", 14);
  g_socket_shutdown (socket, FALSE, TRUE, &error);
  g_assert_no_error (error);
  reply = sm_test_receive_to_eof (socket, 1024, &error);
  g_assert_no_error (error);
  return reply;
}

/* The public client's shutdown (SHUT_WR) reaches the service as EOF, and
 * the service's answer still comes back */
static void
test_half_close_from_public (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestService *service = sm_test_service_new (daemon->control_address, port, NULL);
  g_autoptr(SmYamuxStream) stream = NULL;
  g_autoptr(GBytes) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *request = NULL;
  SmTestThread *client;

  sm_test_service_set_mode (service, SM_TEST_SERVICE_QUEUE);
  client = sm_test_thread_new ("public", public_half_close_thread, GUINT_TO_POINTER (port));
  stream = sm_test_service_next_stream (service, WAIT_MS);
  request = sm_test_stream_read_until (stream, NULL);
  g_assert_cmpstr (request, ==, "hello, service");
  sm_test_stream_write (stream, "HELLO, SERVICE");
  g_io_stream_close (G_IO_STREAM (stream), NULL, &error);
  g_assert_no_error (error);

  reply = sm_test_thread_join (client, WAIT_MS);
  g_assert_cmpmem (g_bytes_get_data (reply, NULL), g_bytes_get_size (reply), "HELLO, SERVICE", 14);

  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
}

static gpointer
service_half_close_thread (gpointer data)
{
  guint16 port = GPOINTER_TO_UINT (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = sm_test_connect (port, &error);
  GBytes *greeting;

  g_assert_no_error (error);
  greeting = sm_test_receive_to_eof (socket, 1024, &error);
  g_assert_no_error (error);
  /* The service's output ended; ours is still open */
  sm_test_send_all (socket, "still here", 10);
  g_socket_shutdown (socket, FALSE, TRUE, &error);
  g_assert_no_error (error);
  g_assert_true (sm_test_socket_is_closed_by_peer (socket));
  return greeting;
}

/* The service closes its output: the public client reads EOF and can
 * still send, and the service receives it */
static void
test_half_close_from_service (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestService *service = sm_test_service_new (daemon->control_address, port, NULL);
  g_autoptr(SmYamuxStream) stream = NULL;
  g_autoptr(GBytes) greeting = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *late = NULL;
  SmTestThread *client;

  sm_test_service_set_mode (service, SM_TEST_SERVICE_QUEUE);
  client = sm_test_thread_new ("public", service_half_close_thread, GUINT_TO_POINTER (port));
  stream = sm_test_service_next_stream (service, WAIT_MS);
  sm_test_stream_write (stream, "goodbye\n");
  g_output_stream_close (g_io_stream_get_output_stream (G_IO_STREAM (stream)), NULL, &error);
  g_assert_no_error (error);
  late = sm_test_stream_read_until (stream, NULL);
  g_assert_cmpstr (late, ==, "still here");
  g_io_stream_close (G_IO_STREAM (stream), NULL, &error);
  g_assert_no_error (error);

  greeting = sm_test_thread_join (client, WAIT_MS);
  g_assert_cmpmem (g_bytes_get_data (greeting, NULL), g_bytes_get_size (greeting), "goodbye\n", 8);

  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
}

/* Small enough for the socket buffers: nobody reads while it is sent */
#define HALF_CLOSE_ECHO_SIZE (64 * 1024)

static gpointer
half_close_echo_thread (gpointer data)
{
  guint16 port = GPOINTER_TO_UINT (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = sm_test_connect (port, &error);
  g_autofree guint8 *sent = g_malloc (HALF_CLOSE_ECHO_SIZE);
  g_autoptr(GBytes) echoed = NULL;
  gsize len;
  const guint8 *data_echoed;

  g_assert_no_error (error);
  sm_test_fill_pattern (sent, HALF_CLOSE_ECHO_SIZE, 0, 11);
  sm_test_send_all (socket, sent, HALF_CLOSE_ECHO_SIZE);
  g_socket_shutdown (socket, FALSE, TRUE, &error);
  g_assert_no_error (error);
  echoed = sm_test_receive_to_eof (socket, HALF_CLOSE_ECHO_SIZE, &error);
  g_assert_no_error (error);
  data_echoed = g_bytes_get_data (echoed, &len);
  g_assert_cmpuint (len, ==, HALF_CLOSE_ECHO_SIZE);
  g_assert_cmpint (sm_test_check_pattern (data_echoed, len, 0, 11), ==, -1);
  return NULL;
}

/* The client library passes the public client's EOF to the service, and
 * the service's EOF back (tcp-echo closes its output at the end of input) */
static void
test_half_close_through_client_library (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestProcess *echo = sm_test_tcp_echo_start (daemon->control_address, port, "tcp-echo");

  sm_test_thread_join (sm_test_thread_new ("public", half_close_echo_thread,
                                           GUINT_TO_POINTER (port)), WAIT_MS);

  sm_test_process_terminate (echo, FALSE);
  sm_test_process_free (echo);
  sm_test_daemon_stop (daemon);
}

/* ---- A service leaves; connections wait for the hold timeout ---- */

typedef struct {
  guint16 port;
  gint    connected;
} QueuedClient;

static gpointer
queued_echo_thread (gpointer data)
{
  QueuedClient *queued = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = sm_test_connect (queued->port, &error);
  g_autofree guint8 *sent = g_malloc (64 * 1024);
  g_autofree guint8 *echoed = g_malloc (64 * 1024);
  gsize got;

  g_assert_no_error (error);
  sm_test_fill_pattern (sent, 64 * 1024, 0, 7);
  sm_test_send_all (socket, sent, 64 * 1024);
  sm_test_signal_int (&queued->connected, 1);
  got = sm_test_receive_exactly (socket, echoed, 64 * 1024, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (got, ==, 64 * 1024);
  g_assert_cmpint (sm_test_check_pattern (echoed, got, 0, 7), ==, -1);
  return NULL;
}

static void
test_service_returns_within_hold (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (20);
  guint16 port = sm_test_free_port ();
  g_autofree char *left = g_strdup_printf ("Service * left *:%u", port);
  g_autofree char *closed = g_strdup_printf ("Closed listener on *:%u", port);
  QueuedClient queued = { port, 0 };
  SmTestProcess *first = sm_test_tcp_echo_start (daemon->control_address, port, "tcp-echo-1");
  SmTestProcess *second;
  SmTestThread *client;

  sm_test_echo_many (port, 1, 16 * 1024, WAIT_MS);
  /* A crash, not a drain: the daemon only sees the connection break */
  sm_test_process_free (first);
  sm_test_daemon_wait_for_line (daemon, left, WAIT_MS);

  client = sm_test_thread_new ("queued", queued_echo_thread, &queued);
  sm_test_wait_for_int (&queued.connected, 1, WAIT_MS, "the public connection");
  second = sm_test_tcp_echo_start (daemon->control_address, port, "tcp-echo-2");
  sm_test_thread_join (client, WAIT_MS);
  g_assert_cmpuint (sm_test_process_count_lines (daemon->process, closed), ==, 0);

  sm_test_process_terminate (second, FALSE);
  sm_test_process_free (second);
  sm_test_daemon_stop (daemon);
}

static gpointer
abandoned_client_thread (gpointer data)
{
  guint16 port = GPOINTER_TO_UINT (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = sm_test_connect (port, &error);

  g_assert_no_error (error);
  sm_test_send_all (socket, "anyone there?", 13);
  return GINT_TO_POINTER (sm_test_socket_is_closed_by_peer (socket));
}

static void
test_hold_timeout_expires (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (3);
  guint16 port = sm_test_free_port ();
  g_autofree char *left = g_strdup_printf ("Service * left *:%u", port);
  g_autofree char *closed = g_strdup_printf ("Closed listener on *:%u", port);
  SmTestProcess *echo = sm_test_tcp_echo_start (daemon->control_address, port, "tcp-echo");
  SmTestThread *client;

  sm_test_process_free (echo);
  sm_test_daemon_wait_for_line (daemon, left, WAIT_MS);
  client = sm_test_thread_new ("abandoned", abandoned_client_thread, GUINT_TO_POINTER (port));
  g_assert_true (GPOINTER_TO_INT (sm_test_thread_join (client, 2 * WAIT_MS)));
  sm_test_daemon_wait_for_line (daemon, closed, WAIT_MS);
  assert_connection_refused (port);

  sm_test_daemon_stop (daemon);
}

/* ---- Several services on one port ---- */

static gpointer
read_tags_thread (gpointer data)
{
  guint16 port = GPOINTER_TO_UINT (data);
  GString *tags = g_string_new (NULL);

  for (guint i = 0; i < 8; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocket) socket = sm_test_connect (port, &error);
      char tag = 0;

      g_assert_no_error (error);
      g_assert_cmpuint (sm_test_receive_exactly (socket, &tag, 1, &error), ==, 1);
      g_assert_no_error (error);
      g_string_append_c (tags, tag);
    }
  return g_string_free (tags, FALSE);
}

static void
test_round_robin (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestService *a = sm_test_service_new (daemon->control_address, port, "A");
  SmTestService *b = sm_test_service_new (daemon->control_address, port, "B");
  g_autofree char *tags = NULL;

  tags = sm_test_thread_join (sm_test_thread_new ("tags", read_tags_thread,
                                                  GUINT_TO_POINTER (port)), WAIT_MS);
  g_test_message ("services taking the connections in turn: %s", tags);
  g_assert_cmpuint (strlen (tags), ==, 8);
  for (guint i = 1; i < 8; i++)
    g_assert_cmpint (tags[i], !=, tags[i - 1]);
  g_assert_cmpuint (sm_test_service_get_n_accepted (a), ==, 4);
  g_assert_cmpuint (sm_test_service_get_n_accepted (b), ==, 4);

  sm_test_service_free (a);
  sm_test_service_free (b);
  sm_test_daemon_stop (daemon);
}

/* ---- A reset stream ends only its own public connection ---- */

static gpointer
two_clients_thread (gpointer data)
{
  guint16 port = GPOINTER_TO_UINT (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) doomed = sm_test_connect (port, &error);
  g_autoptr(GSocket) survivor = NULL;
  char echoed[13];

  g_assert_no_error (error);
  sm_test_send_all (doomed, "first\n", 6);
  survivor = sm_test_connect (port, &error);
  g_assert_no_error (error);
  sm_test_send_all (survivor, "second\n", 7);

  g_assert_true (sm_test_socket_is_closed_by_peer (doomed));
  sm_test_send_all (survivor, "again\n", 6);
  g_assert_cmpuint (sm_test_receive_exactly (survivor, echoed, sizeof echoed, &error), ==,
                    sizeof echoed);
  g_assert_no_error (error);
  g_assert_cmpmem (echoed, sizeof echoed, "second\nagain\n", 13);
  return NULL;
}

static void
test_stream_reset_by_service (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestService *service = sm_test_service_new (daemon->control_address, port, NULL);
  SmTestThread *clients;
  SmYamuxStream *streams[2];
  char *lines[2];

  sm_test_service_set_mode (service, SM_TEST_SERVICE_QUEUE);
  clients = sm_test_thread_new ("clients", two_clients_thread, GUINT_TO_POINTER (port));
  for (guint i = 0; i < 2; i++)
    {
      streams[i] = sm_test_service_next_stream (service, WAIT_MS);
      lines[i] = sm_test_stream_read_until (streams[i], "\n");
    }
  for (guint i = 0; i < 2; i++)
    {
      if (g_str_equal (lines[i], "first\n"))
        sm_yamux_stream_reset (streams[i]);
      else
        {
          g_assert_cmpstr (lines[i], ==, "second\n");
          sm_test_stream_write (streams[i], lines[i]);
          sm_test_service_echo_stream (service, streams[i]);
        }
      g_object_unref (streams[i]);
      g_free (lines[i]);
    }
  sm_test_thread_join (clients, WAIT_MS);

  /* The session and the port are unharmed */
  g_assert_false (sm_test_service_is_closed (service));
  sm_test_service_set_mode (service, SM_TEST_SERVICE_ECHO);
  sm_test_echo_many (port, 3, 64 * 1024, WAIT_MS);

  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
}

/* ---- SIGTERM ---- */

static gboolean
service_session_closed (gpointer data)
{
  return sm_test_service_is_closed (data);
}

/* SIGTERM: the daemon exits 0 and nothing listens any more */
static void
terminate_daemon (SmTestDaemon *daemon)
{
  int status;

  sm_test_process_send_signal (daemon->process, SIGTERM);
  status = sm_test_process_wait_exit (daemon->process, WAIT_MS);
  if (status != 0)
    sm_test_fail ("the daemon exited with status %d after SIGTERM", status);
  assert_connection_refused (daemon->control_port);
}

/* The daemon tells its services it is going (GoAway) and closes the
 * sessions */
static void
test_sigterm_go_away (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestService *service = sm_test_service_new (daemon->control_address, port, NULL);

  sm_test_echo_many (port, 2, 64 * 1024, WAIT_MS);
  terminate_daemon (daemon);
  g_assert_true (sm_test_wait_until (service_session_closed, service, WAIT_MS));
  g_assert_true (sm_test_service_saw_go_away (service));
  assert_connection_refused (port);

  sm_test_service_free (service);
  sm_test_daemon_free (daemon);
}

/* A client-library service survives the loss of the daemon */
static void
test_sigterm_client_library (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestProcess *echo = sm_test_tcp_echo_start (daemon->control_address, port, "tcp-echo");

  sm_test_echo_many (port, 2, 64 * 1024, WAIT_MS);
  terminate_daemon (daemon);
  assert_connection_refused (port);

  /* The library is retrying in the background; it still stops cleanly */
  g_assert_true (sm_test_process_is_running (echo));
  sm_test_process_terminate (echo, FALSE);

  sm_test_process_free (echo);
  sm_test_daemon_free (daemon);
}

int
main (int   argc,
      char *argv[])
{
  /* A peer closing first must be an error code, not a signal */
  signal (SIGPIPE, SIG_IGN);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/tcp-proxy/echo/concurrent", test_echo_concurrent);
  g_test_add_func ("/tcp-proxy/echo/200-connections-1MiB", test_echo_many_large);
  g_test_add_func ("/tcp-proxy/half-close/from-public", test_half_close_from_public);
  g_test_add_func ("/tcp-proxy/half-close/from-service", test_half_close_from_service);
  g_test_add_func ("/tcp-proxy/half-close/through-client-library",
                   test_half_close_through_client_library);
  g_test_add_func ("/tcp-proxy/hold/service-returns", test_service_returns_within_hold);
  g_test_add_func ("/tcp-proxy/hold/timeout-expires", test_hold_timeout_expires);
  g_test_add_func ("/tcp-proxy/round-robin", test_round_robin);
  g_test_add_func ("/tcp-proxy/stream-reset-by-service", test_stream_reset_by_service);
  g_test_add_func ("/tcp-proxy/sigterm/go-away", test_sigterm_go_away);
  g_test_add_func ("/tcp-proxy/sigterm/client-library-survives", test_sigterm_client_library);

  return g_test_run ();
}
