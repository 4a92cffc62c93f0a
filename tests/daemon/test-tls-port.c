/* SPDX-License-Identifier: MIT */
/*
 * Component tests of a port's TLS around registrations, on the daemon's
 * objects in this process: a service is a yamux session over a socketpair,
 * registered directly, so a test can hold a registration between its
 * reservation and its route, the moment a real service has read "OK" but
 * the daemon has not added its certificate yet.
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sm-registry.h"
#include "sm-test-util.h"
#include "tls-test-support.h"

#define WAIT_MS 20000

typedef struct {
  SmYamuxSession *daemon_side;
  SmYamuxSession *service_side;
} Session;

static GSocketConnection *
connection_from_fd (int fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new_from_fd (fd, &error);

  g_assert_no_error (error);
  return g_socket_connection_factory_create_connection (socket);
}

static void
session_init (Session *session)
{
  g_autoptr(GSocketConnection) daemon_connection = NULL;
  g_autoptr(GSocketConnection) service_connection = NULL;
  SmYamuxConfig config;
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  daemon_connection = connection_from_fd (fds[0]);
  service_connection = connection_from_fd (fds[1]);
  sm_yamux_config_init (&config);
  session->daemon_side = sm_yamux_session_new (G_IO_STREAM (daemon_connection),
                                               SM_YAMUX_ROLE_CLIENT, &config, NULL);
  session->service_side = sm_yamux_session_new (G_IO_STREAM (service_connection),
                                                SM_YAMUX_ROLE_SERVER, &config, NULL);
}

static void
session_clear (Session *session)
{
  sm_yamux_session_close (session->service_side);
  g_clear_object (&session->service_side);
  g_clear_object (&session->daemon_side);
}

typedef struct {
  SmPort *port;
  guint   n_queued;
} QueuedWait;

static gboolean
has_queued (gpointer data)
{
  QueuedWait *wait = data;

  return sm_port_get_n_queued (wait->port) >= wait->n_queued;
}

static void
wait_for_queued (SmPort *port,
                 guint   n_queued)
{
  QueuedWait wait = { port, n_queued };

  if (!sm_test_wait_until (has_queued, &wait, WAIT_MS))
    sm_test_fail ("no connection waits on %s", sm_port_get_display_name (port));
}

static void
run_pending (void)
{
  for (guint i = 0; i < 1000 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);
}

/* An HTTP definition with a.example.test's certificate */
static SmSocketDefinition *
tls_definition (guint16 port)
{
  SmSocketDefinition *definition = sm_socket_definition_new (port);

  sm_socket_definition_set_address (definition, "127.0.0.1");
  sm_socket_definition_set_http (definition, "", "/");
  sm_socket_definition_set_tls (definition, test_pki.a.cert_pem, test_pki.a.key_pem);
  return definition;
}

static SmRegistry *
registry_new (void)
{
  SmRegistry *registry = sm_registry_new (30);
  SmHttpLimits limits;
  g_autoptr(GError) error = NULL;

  /* The TLS client below sends no request: 408 and close after 1 s */
  g_assert_true (sm_http_limits_set (&limits, SM_HTTP_DEFAULT_MAX_HEAD_SIZE, 1, 5, &error));
  sm_registry_set_http_limits (registry, &limits);
  return registry;
}

static void
registry_free (SmRegistry *registry)
{
  sm_registry_close (registry);
  g_object_unref (registry);
  run_pending ();
}

/* A connection that comes between the reservation of a new HTTP port for
 * a service with a certificate and its route waits, and then gets TLS */
static void
test_waits_for_first_certificate (void)
{
  SmRegistry *registry = registry_new ();
  guint16 number = sm_test_free_port ();
  g_autoptr(SmSocketDefinition) definition = tls_definition (number);
  g_autoptr(SmPort) port = NULL;
  g_autoptr(SmRoute) route = NULL;
  g_autoptr(TestClient) client = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  Session session;

  port = sm_registry_reserve (registry, definition, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (sm_port_get_tls (port));

  socket = sm_test_connect (number, &error);
  g_assert_no_error (error);
  client = test_client_new ("a.example.test", SCRIPT_NONE);
  client->verify = TRUE;
  client->verify_host = "a.example.test";
  client->offer_alpn = TRUE;
  test_client_start (client, dup (g_socket_get_fd (socket)));
  g_clear_object (&socket);
  wait_for_queued (port, 1);

  session_init (&session);
  route = sm_registry_add_route (registry, port, definition, session.daemon_side, "test:1", NULL, NULL,
                                 0);
  g_assert_true (sm_port_get_tls (port));
  g_assert_cmpuint (sm_port_get_n_queued (port), ==, 0);

  test_client_finish (client);
  g_assert_cmpint (client->handshake_ret, ==, 0);
  g_assert_cmpuint (client->verify_status, ==, 0);
  g_assert_cmpstr (client->peer_dn, ==, test_pki.a.dn);
  /* It offered h2 first: HTTP ports speak HTTP/2 too */
  g_assert_cmpstr (client->alpn, ==, "h2");

  session_clear (&session);
  registry_free (registry);
}

static gpointer
plain_request_thread (gpointer data)
{
  guint16 port = GPOINTER_TO_UINT (data);
  const char request[] = "GET / HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = sm_test_connect (port, &error);
  g_autoptr(GBytes) response = NULL;

  g_assert_no_error (error);
  sm_test_send_all (socket, request, strlen (request));
  response = sm_test_receive_to_eof (socket, 64 * 1024, &error);
  g_assert_no_error (error);
  return g_strndup (g_bytes_get_data (response, NULL), g_bytes_get_size (response));
}

/* When that registration is given up, the connection is served as it is */
static void
test_served_plain_without_certificate (void)
{
  SmRegistry *registry = registry_new ();
  guint16 number = sm_test_free_port ();
  g_autoptr(SmSocketDefinition) definition = tls_definition (number);
  g_autoptr(SmPort) port = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *response = NULL;
  SmTestThread *thread;

  port = sm_registry_reserve (registry, definition, NULL, &error);
  g_assert_no_error (error);

  thread = sm_test_thread_new ("plain-client", plain_request_thread, GUINT_TO_POINTER (number));
  wait_for_queued (port, 1);

  /* Its "OK" could not be written, say */
  sm_port_release (port);
  response = sm_test_thread_join (thread, WAIT_MS);
  /* No service on the port: nothing to route to */
  g_assert_true (g_str_has_prefix (response, "HTTP/1.1 404 "));
  g_assert_false (sm_port_get_tls (port));

  registry_free (registry);
}

int
main (int   argc,
      char *argv[])
{
  int result;

  g_test_init (&argc, &argv, NULL);
  test_pki_make ();

  g_test_add_func ("/tls-port/waits-for-first-certificate", test_waits_for_first_certificate);
  g_test_add_func ("/tls-port/served-plain-without-certificate",
                   test_served_plain_without_certificate);

  result = g_test_run ();
  test_pki_free ();
  return result;
}
