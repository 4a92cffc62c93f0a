/* SPDX-License-Identifier: MIT */
/*
 * The daemon's D-Bus objects, on a private bus per test: they and their
 * properties follow ports, services and waiting connections, and counters
 * reach the bus coalesced.
 */
#include "config.h"

#include <unistd.h>

#include <string.h>

#include <json-glib/json-glib.h>

#include "sm-test-dbus.h"

/* Long enough for registrations, short enough to watch a port close */
#define SHORT_HOLD_TIMEOUT 3.0
#define LONG_HOLD_TIMEOUT  30.0

static gboolean
object_removed (SmTestBus *bus,
                gpointer   data)
{
  return sm_test_bus_count_removed (bus, data) > 0;
}

static void
wait_for_removal (SmTestBus  *bus,
                  const char *path)
{
  g_autofree char *what = g_strdup_printf ("InterfacesRemoved for %s", path);

  sm_test_bus_wait (bus, object_removed, (gpointer) path, what);
}

static gboolean
port_is_empty (SmTestBus *bus,
               gpointer   data)
{
  return sm_test_bus_get_uint (bus, data, SM_DBUS_PORT_IFACE, "EmptySince") != 0;
}

static const char *
get_string (GVariant   *properties,
            const char *name)
{
  const char *value = NULL;

  if (!g_variant_lookup (properties, name, "&s", &value) &&
      !g_variant_lookup (properties, name, "&o", &value))
    sm_test_fail ("no string property %s", name);
  return value;
}

static guint64
get_uint64 (GVariant   *properties,
            const char *name)
{
  guint64 value = 0;

  if (!g_variant_lookup (properties, name, "t", &value))
    sm_test_fail ("no uint64 property %s", name);
  return value;
}

static guint32
get_uint32 (GVariant   *properties,
            const char *name)
{
  guint32 value = 0;

  if (!g_variant_lookup (properties, name, "u", &value))
    sm_test_fail ("no uint32 property %s", name);
  return value;
}

static gboolean
get_boolean (GVariant   *properties,
             const char *name)
{
  gboolean value = FALSE;

  if (!g_variant_lookup (properties, name, "b", &value))
    sm_test_fail ("no boolean property %s", name);
  return value;
}

static GVariant *
get_queued_connections (SmTestBus *bus)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  reply = sm_test_bus_call (bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE,
                            "GetQueuedConnections", NULL, G_VARIANT_TYPE ("(a(osqssd))"),
                            &error);
  g_assert_no_error (error);
  return g_variant_get_child_value (reply, 0);
}

/* ---- Objects follow ports and services ---- */

typedef struct {
  const char *port_path;
  const char *route_path;
} SingleRoute;

static gboolean
port_has_only_route (SmTestBus *bus,
                     gpointer   data)
{
  SingleRoute *single = data;
  g_auto(GStrv) routes = sm_test_bus_get_port_routes (bus, single->port_path);

  return routes != NULL && g_strv_length (routes) == 1 &&
         g_strcmp0 (routes[0], single->route_path) == 0;
}

static void
check_route (SmTestBus        *bus,
             const char       *route_path,
             const char       *port_path,
             SmTestService    *service,
             gboolean          http,
             const char       *path_prefix,
             gint64            registered_after,
             gint64            registered_before)
{
  g_autoptr(GVariant) route = sm_test_bus_get_all (bus, route_path, SM_DBUS_ROUTE_IFACE);
  guint64 since;

  g_assert_nonnull (route);
  g_assert_cmpstr (get_string (route, "Port"), ==, port_path);
  g_assert_cmpstr (get_string (route, "DomainSuffix"), ==, "");
  g_assert_cmpstr (get_string (route, "PathPrefix"), ==, http ? path_prefix : "");
  g_assert_false (get_boolean (route, "Tls"));
  g_assert_cmpstr (get_string (route, "Peer"), ==, sm_test_service_get_peer (service));
  /* The service is this process's, identified through the kernel */
  g_assert_cmpuint (get_uint32 (route, "Owner"), ==, geteuid ());
  g_assert_cmpstr (get_string (route, "Name"), ==, "");
  since = get_uint64 (route, "ConnectedSince");
  g_assert_cmpuint (since, >=, (guint64) registered_after);
  g_assert_cmpuint (since, <=, (guint64) registered_before);
  g_assert_cmpuint (get_uint32 (route, "ActiveStreams"), ==, 0);
  g_assert_cmpuint (get_uint64 (route, "TotalStreams"), ==, 0);
  g_assert_cmpuint (get_uint64 (route, "BytesIn"), ==, 0);
  g_assert_cmpuint (get_uint64 (route, "BytesOut"), ==, 0);
  g_assert_cmpuint (get_uint64 (route, "RequestsServed"), ==, 0);
}

/* An HTTP service for @path_prefix, or a raw TCP one */
static SmTestService *
new_service (const char *control_address,
             guint16     port,
             gboolean    http,
             const char *path_prefix)
{
  if (http)
    return sm_test_service_new_http (control_address, port, NULL, "", path_prefix);
  return sm_test_service_new (control_address, port, NULL);
}

/* Two services on one port (HTTP /a and /b, or two raw TCP services) */
typedef struct {
  gboolean          http;
  SmTestBus        *bus;
  SmTestDaemon     *daemon;
  SmTestService    *a;
  SmTestService    *b;
  char             *port_path;
  char             *route_a;
  char             *route_b;
  gint64            before_registering;
  gint64            after_registering;  /* the daemon made their routes */
} TwoRoutes;

static void
two_routes_set_up (TwoRoutes     *fixture,
                   gconstpointer  data)
{
  guint16 port = sm_test_free_port ();

  fixture->http = GPOINTER_TO_INT (data);
  fixture->bus = sm_test_bus_new ();
  fixture->daemon = sm_test_bus_start_daemon (fixture->bus, SHORT_HOLD_TIMEOUT, NULL);
  fixture->before_registering = g_get_real_time ();
  fixture->a = new_service (fixture->daemon->control_address, port, fixture->http, "/a");
  fixture->b = new_service (fixture->daemon->control_address, port, fixture->http, "/b");
  /* The daemon makes a route after the service read "OK" */
  fixture->port_path = sm_test_bus_wait_for_port (fixture->bus, port, 2);
  fixture->after_registering = g_get_real_time ();
  fixture->route_a = sm_test_bus_find_route (fixture->bus, sm_test_service_get_peer (fixture->a));
  fixture->route_b = sm_test_bus_find_route (fixture->bus, sm_test_service_get_peer (fixture->b));
  g_assert_nonnull (fixture->route_a);
  g_assert_nonnull (fixture->route_b);
}

static void
two_routes_tear_down (TwoRoutes     *fixture,
                      gconstpointer  data)
{
  g_clear_pointer (&fixture->a, sm_test_service_free);
  g_clear_pointer (&fixture->b, sm_test_service_free);
  sm_test_daemon_stop (fixture->daemon);
  sm_test_bus_free (fixture->bus);
  g_free (fixture->port_path);
  g_free (fixture->route_a);
  g_free (fixture->route_b);
}

/* One Port object listing both Route objects, in registration order */
static void
test_routes_properties (TwoRoutes     *fixture,
                        gconstpointer  data)
{
  SmTestBus *bus = fixture->bus;
  g_autoptr(GVariant) properties = sm_test_bus_get_all (bus, fixture->port_path,
                                                        SM_DBUS_PORT_IFACE);
  g_auto(GStrv) routes = sm_test_bus_get_port_routes (bus, fixture->port_path);

  g_assert_nonnull (properties);
  g_assert_cmpstr (get_string (properties, "Address"), ==, "127.0.0.1");
  g_assert_cmpstr (get_string (properties, "Mode"), ==, fixture->http ? "http" : "tcp");
  g_assert_false (get_boolean (properties, "Tls"));
  g_assert_cmpuint (get_uint32 (properties, "ActiveConnections"), ==, 0);
  g_assert_cmpuint (get_uint32 (properties, "QueuedConnections"), ==, 0);
  g_assert_cmpuint (get_uint64 (properties, "EmptySince"), ==, 0);
  g_assert_cmpuint (g_strv_length (routes), ==, 2);
  g_assert_cmpstr (routes[0], ==, fixture->route_a);
  g_assert_cmpstr (routes[1], ==, fixture->route_b);

  check_route (bus, fixture->route_a, fixture->port_path, fixture->a, fixture->http, "/a",
               fixture->before_registering, fixture->after_registering);
  check_route (bus, fixture->route_b, fixture->port_path, fixture->b, fixture->http, "/b",
               fixture->before_registering, fixture->after_registering);

  sm_test_bus_wait_uint (bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE, "PortCount", 1);
  sm_test_bus_wait_uint (bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE, "RouteCount", 2);
}

/* They leave one by one; the port is marked empty, then goes after the
 * hold timeout */
static void
test_routes_services_leave (TwoRoutes     *fixture,
                            gconstpointer  data)
{
  SmTestBus *bus = fixture->bus;
  const char *port_path = fixture->port_path;
  SingleRoute only_b = { port_path, fixture->route_b };
  guint64 empty_since;
  gint64 before_last;

  /* One leaves: its Route goes, the port stays with a service */
  g_clear_pointer (&fixture->a, sm_test_service_free);
  wait_for_removal (bus, fixture->route_a);
  sm_test_bus_wait (bus, port_has_only_route, &only_b, "the port to list only route b");
  g_assert_cmpuint (sm_test_bus_get_uint (bus, port_path, SM_DBUS_PORT_IFACE,
                                          "EmptySince"), ==, 0);
  g_assert_cmpuint (sm_test_bus_count_removed (bus, port_path), ==, 0);
  g_assert_cmpuint (sm_test_bus_count_removed (bus, fixture->route_b), ==, 0);

  /* The last leaves: the port is empty, then closes */
  before_last = g_get_real_time ();
  g_clear_pointer (&fixture->b, sm_test_service_free);
  wait_for_removal (bus, fixture->route_b);
  sm_test_bus_wait (bus, port_is_empty, (gpointer) port_path, "EmptySince to be set");
  empty_since = sm_test_bus_get_uint (bus, port_path, SM_DBUS_PORT_IFACE, "EmptySince");
  g_assert_cmpuint (empty_since, >=, (guint64) before_last);
  g_assert_cmpuint (empty_since, <=, (guint64) g_get_real_time ());
  g_assert_cmpuint (sm_test_bus_count_removed (bus, port_path), ==, 0);

  wait_for_removal (bus, port_path);
  g_assert_null (sm_test_bus_get_all (bus, port_path, SM_DBUS_PORT_IFACE));
  sm_test_bus_wait_uint (bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE, "PortCount", 0);
  sm_test_bus_wait_uint (bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE, "RouteCount", 0);
}

/* ---- Queued connections ---- */

/* Raw TCP: a connection to a port without services waits; it is listed,
 * counted, and leaves the list when a service comes and serves it */
static void
test_queued_tcp (void)
{
  SmTestBus *bus = sm_test_bus_new ();
  SmTestDaemon *daemon = sm_test_bus_start_daemon (bus, LONG_HOLD_TIMEOUT, NULL);
  guint16 port = sm_test_free_port ();
  SmTestService *first = sm_test_service_new (daemon->control_address, port, NULL);
  g_autofree char *port_path = sm_test_bus_wait_for_port (bus, port, 1);
  g_autoptr(GVariant) queued = NULL;
  g_autoptr(GVariant) after = NULL;
  SmTestService *second;
  const char *queued_port, *client, *host, *path;
  guint16 client_port;
  double waited;
  gint done = 0;

  /* Without services the port keeps connections waiting */
  sm_test_service_free (first);
  sm_test_bus_wait (bus, port_is_empty, port_path, "EmptySince to be set");

  sm_test_echo_start (port, 1000, 7, &done);
  sm_test_bus_wait_uint (bus, port_path, SM_DBUS_PORT_IFACE, "QueuedConnections", 1);
  sm_test_bus_wait_uint (bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE,
                         "QueuedConnections", 1);

  queued = get_queued_connections (bus);
  g_assert_cmpuint (g_variant_n_children (queued), ==, 1);
  g_variant_get_child (queued, 0, "(&o&sq&s&sd)", &queued_port, &client, &client_port, &host,
                       &path, &waited);
  g_assert_cmpstr (queued_port, ==, port_path);
  g_assert_cmpstr (client, ==, "127.0.0.1");
  g_assert_cmpuint (client_port, !=, 0);
  g_assert_cmpuint (client_port, !=, port);
  g_assert_cmpstr (host, ==, "");
  g_assert_cmpstr (path, ==, "");
  g_assert_cmpfloat (waited, >=, 0);
  g_assert_cmpfloat (waited, <, LONG_HOLD_TIMEOUT);
  g_assert_false (done);

  /* A service comes: the connection is served and leaves the queue */
  second = sm_test_service_new (daemon->control_address, port, NULL);
  sm_test_wait_for_int (&done, 1, SM_TEST_DBUS_WAIT_MS, "the queued echo");
  after = get_queued_connections (bus);
  g_assert_cmpuint (g_variant_n_children (after), ==, 0);
  sm_test_bus_wait_uint (bus, port_path, SM_DBUS_PORT_IFACE, "QueuedConnections", 0);
  sm_test_bus_wait_uint (bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE,
                         "QueuedConnections", 0);
  g_assert_cmpuint (sm_test_bus_get_uint (bus, port_path, SM_DBUS_PORT_IFACE,
                                          "EmptySince"), ==, 0);

  sm_test_service_free (second);
  sm_test_daemon_stop (daemon);
  sm_test_bus_free (bus);
}

/* What went through is counted on the service's route */
static void
test_route_counters (void)
{
  SmTestBus *bus = sm_test_bus_new ();
  SmTestDaemon *daemon = sm_test_bus_start_daemon (bus, LONG_HOLD_TIMEOUT, NULL);
  guint16 port = sm_test_free_port ();
  SmTestService *service = sm_test_service_new (daemon->control_address, port, NULL);
  g_autofree char *port_path = sm_test_bus_wait_for_port (bus, port, 1);
  g_auto(GStrv) routes = sm_test_bus_get_port_routes (bus, port_path);
  gint done = 0;

  g_assert_cmpuint (g_strv_length (routes), ==, 1);
  sm_test_echo_start (port, 1000, 7, &done);
  sm_test_wait_for_int (&done, 1, SM_TEST_DBUS_WAIT_MS, "the echo");
  sm_test_bus_wait_uint (bus, routes[0], SM_DBUS_ROUTE_IFACE, "ActiveStreams", 0);
  sm_test_bus_wait_uint (bus, routes[0], SM_DBUS_ROUTE_IFACE, "TotalStreams", 1);
  sm_test_bus_wait_uint (bus, routes[0], SM_DBUS_ROUTE_IFACE, "BytesIn", 1000);
  sm_test_bus_wait_uint (bus, routes[0], SM_DBUS_ROUTE_IFACE, "BytesOut", 1000);
  g_assert_cmpuint (sm_test_bus_get_uint (bus, port_path, SM_DBUS_PORT_IFACE,
                                          "ActiveConnections"), ==, 0);

  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
  sm_test_bus_free (bus);
}

typedef struct {
  guint16  port;
  char    *response;
} HttpClient;

static gpointer
http_client_thread (gpointer data)
{
  HttpClient *client = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = sm_test_connect (client->port, &error);
  g_autoptr(GBytes) response = NULL;
  const char *request = "GET /a/x HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n";

  g_assert_no_error (error);
  sm_test_send_all (socket, request, strlen (request));
  response = sm_test_receive_to_eof (socket, 64 * 1024, &error);
  g_assert_no_error (error);
  client->response = g_strndup (g_bytes_get_data (response, NULL), g_bytes_get_size (response));
  return NULL;
}

/* HTTP: a request for a service that left waits; it is listed with its
 * host and path until a service for it comes back and answers it */
static void
test_queued_http (void)
{
  SmTestBus *bus = sm_test_bus_new ();
  SmTestDaemon *daemon = sm_test_bus_start_daemon (bus, LONG_HOLD_TIMEOUT, NULL);
  guint16 port = sm_test_free_port ();
  SmTestService *first = sm_test_service_new_http (daemon->control_address, port, NULL, "",
                                                   "/a");
  g_autofree char *port_path = sm_test_bus_wait_for_port (bus, port, 1);
  g_autoptr(SmTestService) second = NULL;
  g_autoptr(SmYamuxStream) stream = NULL;
  g_autoptr(GVariant) queued = NULL;
  g_autoptr(GVariant) after = NULL;
  g_autofree char *head = NULL;
  g_autofree char *route_path = NULL;
  HttpClient client = { port, NULL };
  SmTestThread *thread;
  const char *queued_port, *client_address, *host, *path;
  const char *answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  guint16 client_port;
  double waited;

  sm_test_service_free (first);
  sm_test_bus_wait (bus, port_is_empty, port_path, "EmptySince to be set");

  thread = sm_test_thread_new ("http-client", http_client_thread, &client);
  sm_test_bus_wait_uint (bus, port_path, SM_DBUS_PORT_IFACE, "QueuedConnections", 1);

  queued = get_queued_connections (bus);
  g_assert_cmpuint (g_variant_n_children (queued), ==, 1);
  g_variant_get_child (queued, 0, "(&o&sq&s&sd)", &queued_port, &client_address, &client_port,
                       &host, &path, &waited);
  g_assert_cmpstr (queued_port, ==, port_path);
  g_assert_cmpstr (client_address, ==, "127.0.0.1");
  g_assert_cmpstr (host, ==, "example.test");
  g_assert_cmpstr (path, ==, "/a/x");
  g_assert_cmpfloat (waited, >=, 0);
  g_assert_cmpfloat (waited, <, LONG_HOLD_TIMEOUT);

  /* The service comes back and answers */
  second = sm_test_service_new_http (daemon->control_address, port, NULL, "", "/a");
  sm_test_service_set_mode (second, SM_TEST_SERVICE_QUEUE);
  stream = sm_test_service_next_stream (second, SM_TEST_DBUS_WAIT_MS);
  head = sm_test_stream_read_until (stream, "\r\n\r\n");
  g_assert_true (g_str_has_prefix (head, "GET /a/x HTTP/1.1\r\n"));
  sm_test_stream_write (stream, answer);
  g_io_stream_close (G_IO_STREAM (stream), NULL, NULL);
  sm_test_thread_join (thread, SM_TEST_DBUS_WAIT_MS);
  g_assert_true (g_str_has_prefix (client.response, "HTTP/1.1 200 OK\r\n"));
  g_assert_true (g_str_has_suffix (client.response, "\r\n\r\nok"));

  after = get_queued_connections (bus);
  g_assert_cmpuint (g_variant_n_children (after), ==, 0);
  sm_test_bus_wait_uint (bus, port_path, SM_DBUS_PORT_IFACE, "QueuedConnections", 0);
  route_path = sm_test_bus_find_route (bus, sm_test_service_get_peer (second));
  g_assert_nonnull (route_path);
  sm_test_bus_wait_uint (bus, route_path, SM_DBUS_ROUTE_IFACE, "RequestsServed", 1);

  g_free (client.response);
  g_clear_pointer (&second, sm_test_service_free);
  sm_test_daemon_stop (daemon);
  sm_test_bus_free (bus);
}

/* ---- Counters are coalesced ---- */

static void
test_counters_coalesced (void)
{
  SmTestBus *bus = sm_test_bus_new ();
  SmTestDaemon *daemon = sm_test_bus_start_daemon (bus, LONG_HOLD_TIMEOUT, NULL);
  guint16 port = sm_test_free_port ();
  SmTestService *service = sm_test_service_new (daemon->control_address, port, NULL);
  g_autofree char *port_path = sm_test_bus_wait_for_port (bus, port, 1);
  g_auto(GStrv) routes = sm_test_bus_get_port_routes (bus, port_path);
  const char *route_path = routes[0];
  const guint n_connections = 40;
  guint n_changed;
  gint64 start;
  double elapsed_s;

  start = g_get_monotonic_time ();
  for (guint i = 0; i < n_connections; i++)
    sm_test_echo_many (port, 1, 4096, SM_TEST_DBUS_WAIT_MS);
  sm_test_bus_wait_uint (bus, route_path, SM_DBUS_ROUTE_IFACE, "TotalStreams",
                         n_connections);
  sm_test_bus_wait_uint (bus, route_path, SM_DBUS_ROUTE_IFACE, "BytesIn",
                         n_connections * 4096);
  elapsed_s = (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC;
  n_changed = sm_test_bus_count_changed (bus, route_path);

  /* 80 stream events, at most one emission per refresh period */
  g_test_message ("%u connections, %u PropertiesChanged in %.1f s", n_connections, n_changed,
                  elapsed_s);
  g_assert_cmpuint (n_changed, >=, 1);
  g_assert_cmpuint (n_changed, <, n_connections);
  g_assert_cmpfloat (n_changed, <=, elapsed_s / 1.0 + 2);

  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
  sm_test_bus_free (bus);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/dbus/routes/tcp/properties", TwoRoutes, GINT_TO_POINTER (FALSE),
              two_routes_set_up, test_routes_properties, two_routes_tear_down);
  g_test_add ("/dbus/routes/http/properties", TwoRoutes, GINT_TO_POINTER (TRUE),
              two_routes_set_up, test_routes_properties, two_routes_tear_down);
  g_test_add ("/dbus/routes/tcp/services-leave", TwoRoutes, GINT_TO_POINTER (FALSE),
              two_routes_set_up, test_routes_services_leave, two_routes_tear_down);
  g_test_add ("/dbus/routes/http/services-leave", TwoRoutes, GINT_TO_POINTER (TRUE),
              two_routes_set_up, test_routes_services_leave, two_routes_tear_down);
  g_test_add_func ("/dbus/queued/tcp", test_queued_tcp);
  g_test_add_func ("/dbus/route-counters", test_route_counters);
  g_test_add_func ("/dbus/queued/http", test_queued_http);
  g_test_add_func ("/dbus/counters-coalesced", test_counters_coalesced);

  return g_test_run ();
}
