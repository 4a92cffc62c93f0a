/* SPDX-License-Identifier: MIT */
/*
 * Component tests of the registry and its ports, without the control
 * protocol: services are yamux sessions over socketpairs, registered
 * directly, and public clients are real loopback connections.
 */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gunixconnection.h>

#include "sm-error.h"
#include "sm-registry.h"

#define TIMEOUT_MS 20000

/* ---- Waiting ---- */

static gboolean
on_wait_timeout (gpointer user_data)
{
  g_error ("Timed out waiting for %s", (const char *) user_data);
  return G_SOURCE_REMOVE;
}

static void
wait_for (const gboolean *flag,
          const char     *what)
{
  guint timeout = g_timeout_add (TIMEOUT_MS, on_wait_timeout, (gpointer) what);

  while (!*flag)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout);
}

static void
wait_for_count (const guint *count,
                guint        at_least,
                const char  *what)
{
  guint timeout = g_timeout_add (TIMEOUT_MS, on_wait_timeout, (gpointer) what);

  while (*count < at_least)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout);
}

static void
wait_for_queued (SmPort *port,
                 guint   n_queued)
{
  guint timeout = g_timeout_add (TIMEOUT_MS, on_wait_timeout, (gpointer) "a queued connection");

  while (sm_port_get_n_queued (port) < n_queued)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout);
}

/* Runs what is ready, so deferred closes and cancelled I/O finish */
static void
drain_main_context (void)
{
  for (guint i = 0; i < 1000 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);
}

/* ---- Sockets ---- */

static guint16
free_port (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (socket, address, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);

  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static GSocketConnection *
connect_public (guint16 port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  GSocketConnection *connection;

  /* Loopback connects complete in the kernel's backlog: no need for the
   * main loop to run the accept. */
  connection = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);

  return connection;
}

static gboolean
connect_is_refused (guint16 port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;

  connection = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
}

typedef struct {
  gboolean  done;
  GBytes   *bytes;
  GError   *error;
} ReadResult;

static void
read_done_cb (GObject      *source_object,
              GAsyncResult *result,
              gpointer      user_data)
{
  ReadResult *read = user_data;

  read->bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source_object), result,
                                                  &read->error);
  read->done = TRUE;
}

/* Reads until @expected came, or EOF if @expected is NULL */
static void
expect_input (GSocketConnection *connection,
              const char        *expected)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  g_autoptr(GString) received = g_string_new (NULL);

  for (;;)
    {
      ReadResult read = { FALSE, NULL, NULL };

      g_input_stream_read_bytes_async (input, 4096, G_PRIORITY_DEFAULT, NULL,
                                       read_done_cb, &read);
      wait_for (&read.done, "public input");

      if (read.error != NULL)
        {
          /* A reset counts as the end for "expect EOF" */
          g_assert_null (expected);
          g_error_free (read.error);
          return;
        }

      if (g_bytes_get_size (read.bytes) == 0)
        {
          g_bytes_unref (read.bytes);
          g_assert_null (expected);
          return;
        }

      g_string_append_len (received, g_bytes_get_data (read.bytes, NULL),
                           (gssize) g_bytes_get_size (read.bytes));
      g_bytes_unref (read.bytes);

      g_assert_nonnull (expected);
      g_assert_true (g_str_has_prefix (expected, received->str));
      if (strcmp (received->str, expected) == 0)
        return;
    }
}

static void
send_text (GSocketConnection *connection,
           const char        *text)
{
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  g_autoptr(GError) error = NULL;

  /* Small writes to a loopback socket never block */
  g_output_stream_write_all (output, text, strlen (text), NULL, NULL, &error);
  g_assert_no_error (error);
}

/* ---- An in-process echo service ---- */

typedef struct {
  GIOStream *stream;
  guint8     buffer[4096];
} Echo;

static void echo_read (Echo *echo);

static void
echo_free (Echo *echo)
{
  g_io_stream_close (echo->stream, NULL, NULL);
  g_object_unref (echo->stream);
  g_free (echo);
}

static void
echo_written_cb (GObject      *source_object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Echo *echo = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source_object), result, NULL, NULL))
    echo_free (echo);
  else
    echo_read (echo);
}

static void
echo_read_cb (GObject      *source_object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Echo *echo = user_data;
  gssize n_read = g_input_stream_read_finish (G_INPUT_STREAM (source_object), result, NULL);

  if (n_read <= 0)
    {
      echo_free (echo);
      return;
    }

  g_output_stream_write_all_async (g_io_stream_get_output_stream (echo->stream),
                                   echo->buffer, (gsize) n_read, G_PRIORITY_DEFAULT, NULL,
                                   echo_written_cb, echo);
}

static void
echo_read (Echo *echo)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (echo->stream),
                             echo->buffer, sizeof echo->buffer, G_PRIORITY_DEFAULT, NULL,
                             echo_read_cb, echo);
}

typedef struct {
  SmYamuxSession *daemon_side;
  SmYamuxSession *service_side;
  SmRoute        *route;
  guint           n_streams;
  gboolean        service_closed;
} Service;

static void
on_service_incoming (SmYamuxSession *session,
                     SmYamuxStream  *stream,
                     Service        *service)
{
  Echo *echo = g_new0 (Echo, 1);

  service->n_streams++;
  echo->stream = g_object_ref (G_IO_STREAM (stream));
  echo_read (echo);
}

static void
on_service_closed (SmYamuxSession *session,
                   GError         *error,
                   Service        *service)
{
  service->service_closed = TRUE;
}

static GSocketConnection *
connection_from_fd (int fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new_from_fd (fd, &error);

  g_assert_no_error (error);
  return g_socket_connection_factory_create_connection (socket);
}

static Service *
service_register (SmRegistry *registry,
                  const char *address,
                  guint16     port,
                  const char *peer)
{
  g_autoptr(SmSocketDefinition) definition = sm_socket_definition_new (port);
  g_autoptr(GSocketConnection) daemon_connection = NULL;
  g_autoptr(GSocketConnection) service_connection = NULL;
  g_autoptr(SmPort) reserved = NULL;
  g_autoptr(GError) error = NULL;
  SmYamuxConfig config;
  Service *service = g_new0 (Service, 1);
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  daemon_connection = connection_from_fd (fds[0]);
  service_connection = connection_from_fd (fds[1]);

  sm_yamux_config_init (&config);
  service->daemon_side = sm_yamux_session_new (G_IO_STREAM (daemon_connection),
                                               SM_YAMUX_ROLE_CLIENT, &config, NULL);
  service->service_side = sm_yamux_session_new (G_IO_STREAM (service_connection),
                                                SM_YAMUX_ROLE_SERVER, &config, NULL);
  g_signal_connect (service->service_side, "incoming", G_CALLBACK (on_service_incoming), service);
  g_signal_connect (service->service_side, "closed", G_CALLBACK (on_service_closed), service);

  sm_socket_definition_set_address (definition, address);
  reserved = sm_registry_reserve (registry, definition, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (reserved);

  service->route = sm_registry_add_route (registry, reserved, definition,
                                          service->daemon_side, peer, NULL, NULL, 0);
  g_assert_nonnull (service->route);
  g_assert_cmpstr (sm_route_get_peer (service->route), ==, peer);

  return service;
}

static void
service_free (Service *service)
{
  g_signal_handlers_disconnect_by_data (service->service_side, service);
  sm_yamux_session_close (service->service_side);
  g_object_unref (service->service_side);
  g_object_unref (service->daemon_side);
  g_object_unref (service->route);
  g_free (service);
  drain_main_context ();
}

/* ---- Registry observer ---- */

typedef struct {
  guint ports_added;
  guint ports_removed;
  guint routes_added;
  guint routes_removed;
  SmRoute *last_removed_route;
} Events;

static void
on_route_added (SmPort *port, SmRoute *route, Events *events)
{
  events->routes_added++;
}

static void
on_route_removed (SmPort *port, SmRoute *route, Events *events)
{
  events->routes_removed++;
  events->last_removed_route = route;
}

/* Routes are observed on their ports */
static void
on_port_added (SmRegistry *registry, SmPort *port, Events *events)
{
  events->ports_added++;
  g_signal_connect (port, "route-added", G_CALLBACK (on_route_added), events);
  g_signal_connect (port, "route-removed", G_CALLBACK (on_route_removed), events);
}

static void
on_port_removed (SmRegistry *registry, SmPort *port, Events *events)
{
  events->ports_removed++;
  g_signal_handlers_disconnect_by_data (port, events);
}

static SmRegistry *
registry_new (double  hold_timeout,
              Events *events)
{
  SmRegistry *registry = sm_registry_new (hold_timeout);

  g_signal_connect (registry, "port-added", G_CALLBACK (on_port_added), events);
  g_signal_connect (registry, "port-removed", G_CALLBACK (on_port_removed), events);

  return registry;
}

static void
registry_dispose (SmRegistry *registry)
{
  sm_registry_close (registry);
  g_object_unref (registry);
  drain_main_context ();
}

static char *
reserve_error (SmRegistry *registry,
               const char *address,
               guint16     port,
               guint8      features,
               GQuark     *out_domain,
               int        *out_code)
{
  g_autoptr(SmSocketDefinition) definition = sm_socket_definition_new (port);
  g_autoptr(SmPort) reserved = NULL;
  g_autoptr(GError) error = NULL;

  sm_socket_definition_set_address (definition, address);
  if (features & 1)
    sm_socket_definition_set_http (definition, "example.com", "/");
  if (features & 2)
    sm_socket_definition_set_tls (definition, "CERT", "KEY");

  reserved = sm_registry_reserve (registry, definition, NULL, &error);
  if (reserved != NULL)
    {
      sm_port_release (reserved);
      return NULL;
    }

  *out_domain = error->domain;
  *out_code = error->code;
  return g_strdup (error->message);
}

static gboolean
nonlocal_bind_allowed (void)
{
  g_autofree char *value = NULL;

  if (!g_file_get_contents ("/proc/sys/net/ipv4/ip_nonlocal_bind", &value, NULL, NULL))
    return FALSE;

  return g_str_has_prefix (value, "1");
}

/* ---- Tests ---- */

/* Asserts that reserving @port on @address (features as reserve_error())
 * fails with @code and @expected */
static void
expect_refusal (SmRegistry *registry,
                const char *address,
                guint16     port,
                guint8      features,
                int         expected_code,
                const char *expected)
{
  g_autofree char *message = NULL;
  GQuark domain = 0;
  int code = -1;

  message = reserve_error (registry, address, port, features, &domain, &code);
  g_assert_cmpstr (message, ==, expected);
  g_assert_true (domain == SM_ERROR);
  g_assert_cmpint (code, ==, expected_code);
}

/* A certificate that does not parse: no port opened */
static void
test_refuses_bad_certificate (void)
{
  Events events = { 0 };
  g_autoptr(SmRegistry) registry = registry_new (30, &events);
  guint16 port = free_port ();

  expect_refusal (registry, "", port, 2, SM_ERROR_TLS, "no certificate in TLS certificate PEM");
  g_assert_null (sm_registry_lookup_port (registry, NULL, port));
  g_assert_cmpuint (events.ports_added, ==, 0);
  registry_dispose (g_steal_pointer (&registry));
}

static void
test_refuses_host_name (void)
{
  Events events = { 0 };
  g_autoptr(SmRegistry) registry = registry_new (30, &events);

  expect_refusal (registry, "example.com", free_port (), 0, SM_ERROR_INVALID_ARGUMENT,
                  "address must be an IP address");
  registry_dispose (g_steal_pointer (&registry));
}

/* TEST-NET-1: documentation only, never assigned to this machine (unless
 * the host allows binding foreign addresses) */
static void
test_refuses_foreign_address (void)
{
  Events events = { 0 };
  g_autoptr(SmRegistry) registry = NULL;

  if (nonlocal_bind_allowed ())
    {
      g_test_skip ("this host allows binding foreign addresses");
      return;
    }
  registry = registry_new (30, &events);
  expect_refusal (registry, "192.0.2.1", free_port (), 0, SM_ERROR_ADDRESS_NOT_AVAILABLE,
                  "address 192.0.2.1 is not an address of this machine");
  registry_dispose (g_steal_pointer (&registry));
}

/* Another program holds the port */
static void
test_refuses_port_in_use (void)
{
  Events events = { 0 };
  g_autoptr(SmRegistry) registry = registry_new (30, &events);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) squatter_address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocket) squatter = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *expected = NULL;
  guint16 busy_port;

  squatter = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                           G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (squatter, squatter_address, FALSE, &error);
  g_assert_no_error (error);
  g_socket_listen (squatter, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (squatter, &error);
  g_assert_no_error (error);
  busy_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));

  expected = g_strdup_printf ("port %u on 127.0.0.1 is already in use by another program",
                              busy_port);
  expect_refusal (registry, "127.0.0.1", busy_port, 0, SM_ERROR_ADDRESS_IN_USE, expected);
  registry_dispose (g_steal_pointer (&registry));
}

/* One of our own ports, on all interfaces, reserved */
typedef struct {
  Events      events;
  SmRegistry *registry;
  guint16     port;
  SmPort     *reserved;
} OwnPort;

static void
own_port_setup (OwnPort       *fixture,
                gconstpointer  data)
{
  g_autoptr(SmSocketDefinition) definition = NULL;
  g_autoptr(GError) error = NULL;

  fixture->registry = registry_new (30, &fixture->events);
  fixture->port = free_port ();
  definition = sm_socket_definition_new (fixture->port);
  sm_socket_definition_set_address (definition, "");
  fixture->reserved = sm_registry_reserve (fixture->registry, definition, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fixture->events.ports_added, ==, 1);
}

static void
own_port_teardown (OwnPort       *fixture,
                   gconstpointer  data)
{
  sm_port_release (fixture->reserved);
  g_clear_object (&fixture->reserved);
  registry_dispose (g_steal_pointer (&fixture->registry));
  g_assert_cmpuint (fixture->events.ports_removed, ==, 1);
}

/* A specific address next to all interfaces on one of our ports */
static void
test_refuses_other_address_on_own_port (OwnPort       *fixture,
                                        gconstpointer  data)
{
  g_autofree char *expected = g_strdup_printf ("port %u is already served on * by socketmaster; "
                                               "ask for the same address", fixture->port);

  expect_refusal (fixture->registry, "127.0.0.1", fixture->port, 0, SM_ERROR_CONFLICT, expected);
}

/* The same address joins the same port */
static void
test_same_address_joins_port (OwnPort       *fixture,
                              gconstpointer  data)
{
  GQuark domain = 0;
  int code = -1;

  g_assert_null (reserve_error (fixture->registry, "", fixture->port, 0, &domain, &code));
  g_assert_cmpuint (fixture->events.ports_added, ==, 1);
  g_assert_true (sm_registry_lookup_port (fixture->registry, NULL, fixture->port) ==
                 fixture->reserved);
}

/* A port keeps the mode (raw TCP or HTTP) of its first service */
static void
test_refuses_other_mode (OwnPort       *fixture,
                         gconstpointer  data)
{
  g_autofree char *expected = g_strdup_printf ("port %u serves raw TCP; a service asking for "
                                               "HTTP routing cannot join it", fixture->port);

  expect_refusal (fixture->registry, "", fixture->port, 1, SM_ERROR_CONFLICT, expected);
}

static void
test_hold_timeout_closes_port (void)
{
  Events events = { 0 };
  g_autoptr(SmRegistry) registry = registry_new (0.2, &events);
  g_autoptr(SmSocketDefinition) definition = NULL;
  g_autoptr(SmPort) reserved = NULL;
  g_autoptr(GError) error = NULL;
  guint16 port = free_port ();

  definition = sm_socket_definition_new (port);
  sm_socket_definition_set_address (definition, "127.0.0.1");
  reserved = sm_registry_reserve (registry, definition, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (connect_is_refused (port));

  sm_port_release (reserved);
  g_assert_null (sm_registry_lookup_port (registry, NULL, port));
  g_assert_nonnull (sm_registry_lookup_port (registry, sm_port_get_address (reserved), port));

  wait_for_count (&events.ports_removed, 1, "the idle port to close");
  g_assert_true (sm_port_is_closed (reserved));
  g_assert_null (sm_registry_lookup_port (registry, sm_port_get_address (reserved), port));
  g_assert_true (connect_is_refused (port));

  registry_dispose (g_steal_pointer (&registry));
}

static void
test_queued_connection_expires (void)
{
  Events events = { 0 };
  g_autoptr(SmRegistry) registry = registry_new (0.3, &events);
  g_autoptr(SmSocketDefinition) definition = NULL;
  g_autoptr(SmPort) reserved = NULL;
  g_autoptr(GSocketConnection) client = NULL;
  g_autoptr(GError) error = NULL;
  guint16 port = free_port ();
  gint64 start;

  definition = sm_socket_definition_new (port);
  reserved = sm_registry_reserve (registry, definition, NULL, &error);
  g_assert_no_error (error);

  /* Nobody serves the port yet: the connection waits, then is closed */
  start = g_get_monotonic_time ();
  client = connect_public (port);
  expect_input (client, NULL);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 300 * 1000 - 20 * 1000);
  g_assert_cmpuint (sm_port_get_n_queued (reserved), ==, 0);

  /* The reservation kept the port open */
  g_assert_cmpuint (events.ports_removed, ==, 0);
  g_assert_false (sm_port_is_closed (reserved));

  sm_port_release (reserved);
  wait_for_count (&events.ports_removed, 1, "the idle port to close");

  registry_dispose (g_steal_pointer (&registry));
}

static void
test_queued_connection_goes_to_new_route (void)
{
  Events events = { 0 };
  g_autoptr(SmRegistry) registry = registry_new (30, &events);
  g_autoptr(SmSocketDefinition) definition = NULL;
  g_autoptr(SmPort) first = NULL;
  g_autoptr(GSocketConnection) early = NULL;
  g_autoptr(GSocketConnection) later = NULL;
  g_autoptr(GError) error = NULL;
  guint16 port = free_port ();
  Service *service;

  /* A first service is in its handshake: the port is open, no route yet */
  definition = sm_socket_definition_new (port);
  first = sm_registry_reserve (registry, definition, NULL, &error);
  g_assert_no_error (error);

  early = connect_public (port);
  send_text (early, "early bird");
  wait_for_queued (first, 1);

  service = service_register (registry, "", port, "test:1");
  g_assert_cmpuint (events.routes_added, ==, 1);
  expect_input (early, "early bird");
  g_assert_cmpuint (service->n_streams, ==, 1);
  g_assert_cmpuint (sm_port_get_n_queued (first), ==, 0);

  later = connect_public (port);
  send_text (later, "second");
  expect_input (later, "second");
  g_assert_cmpuint (service->n_streams, ==, 2);
  g_assert_cmpuint (sm_route_get_total_streams (service->route), ==, 2);

  sm_port_release (first);
  g_clear_object (&early);
  g_clear_object (&later);
  registry_dispose (g_steal_pointer (&registry));
  g_assert_true (service->service_closed || sm_yamux_session_is_closed (service->daemon_side));
  service_free (service);
}

static void
expect_echo (guint16     port,
             const char *text)
{
  g_autoptr(GSocketConnection) client = connect_public (port);

  send_text (client, text);
  expect_input (client, text);
}

/* Two services on one raw TCP port */
typedef struct {
  Events      events;
  SmRegistry *registry;
  guint16     port;
  Service    *a;
  Service    *b;
} TwoServices;

static void
two_services_setup (TwoServices   *fixture,
                    gconstpointer  data)
{
  fixture->registry = registry_new (30, &fixture->events);
  fixture->port = free_port ();
  fixture->a = service_register (fixture->registry, "127.0.0.1", fixture->port, "test:a");
  fixture->b = service_register (fixture->registry, "127.0.0.1", fixture->port, "test:b");
  g_assert_cmpuint (fixture->events.ports_added, ==, 1);
  g_assert_cmpuint (fixture->events.routes_added, ==, 2);
}

static void
two_services_teardown (TwoServices   *fixture,
                       gconstpointer  data)
{
  registry_dispose (g_steal_pointer (&fixture->registry));
  service_free (fixture->a);
  service_free (fixture->b);
}

static void
test_round_robin (TwoServices   *fixture,
                  gconstpointer  data)
{
  for (guint i = 0; i < 6; i++)
    {
      g_autofree char *text = g_strdup_printf ("hello %u", i);

      expect_echo (fixture->port, text);
    }
  g_assert_cmpuint (fixture->a->n_streams, ==, 3);
  g_assert_cmpuint (fixture->b->n_streams, ==, 3);
}

/* A drains: it takes no new streams and leaves the pool at once */
static void
test_draining_service_leaves (TwoServices   *fixture,
                              gconstpointer  data)
{
  Service *a = fixture->a;

  sm_yamux_session_go_away (a->service_side, SM_YAMUX_GO_AWAY_NORMAL);
  wait_for_count (&fixture->events.routes_removed, 1, "the draining service to leave");
  g_assert_true (fixture->events.last_removed_route == a->route);
  g_assert_true (sm_route_is_gone (a->route));

  for (guint i = 0; i < 3; i++)
    expect_echo (fixture->port, "only b");
  g_assert_cmpuint (a->n_streams, ==, 0);
  g_assert_cmpuint (fixture->b->n_streams, ==, 3);
}

/* The last service disconnects: the port closes after the hold time */
static void
test_last_service_leaving_closes_port (void)
{
  Events events = { 0 };
  g_autoptr(SmRegistry) registry = registry_new (0.2, &events);
  guint16 port = free_port ();
  Service *service;

  service = service_register (registry, "127.0.0.1", port, "test:1");
  expect_echo (port, "hello");

  sm_yamux_session_close (service->service_side);
  wait_for_count (&events.routes_removed, 1, "the closed service to leave");
  g_assert_true (events.last_removed_route == service->route);
  wait_for_count (&events.ports_removed, 1, "the port without services to close");
  g_assert_true (connect_is_refused (port));

  registry_dispose (g_steal_pointer (&registry));
  service_free (service);
}

static void
on_service_go_away (SmYamuxSession *session,
                    guint           code,
                    gboolean       *got_go_away)
{
  *got_go_away = TRUE;
}

static void
test_shutdown (void)
{
  Events events = { 0 };
  g_autoptr(SmRegistry) registry = registry_new (30, &events);
  g_autoptr(GSocketConnection) client = NULL;
  guint16 port = free_port ();
  gboolean got_go_away = FALSE;
  Service *service;

  service = service_register (registry, "127.0.0.1", port, "test:1");
  g_signal_connect (service->service_side, "go-away",
                    G_CALLBACK (on_service_go_away), &got_go_away);

  client = connect_public (port);
  send_text (client, "open");
  expect_input (client, "open");
  g_assert_cmpuint (sm_registry_get_n_active_streams (registry), ==, 1);

  sm_registry_shutdown (registry);
  g_assert_true (connect_is_refused (port));

  /* The open connection still works until the registry closes, and the
   * service is not told to go before (it would leave, and requests
   * still arriving on such connections would find no route) */
  send_text (client, "still");
  expect_input (client, "still");
  g_assert_false (got_go_away);

  sm_registry_close (registry);
  wait_for (&got_go_away, "the service to hear GoAway");
  wait_for (&service->service_closed, "the service session to end");
  expect_input (client, NULL);
  g_assert_cmpuint (events.ports_removed, ==, 1);
  g_assert_cmpuint (events.routes_removed, ==, 1);

  registry_dispose (g_steal_pointer (&registry));
  service_free (service);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/registry/refuses/bad-certificate", test_refuses_bad_certificate);
  g_test_add_func ("/registry/refuses/host-name", test_refuses_host_name);
  g_test_add_func ("/registry/refuses/foreign-address", test_refuses_foreign_address);
  g_test_add_func ("/registry/refuses/port-in-use", test_refuses_port_in_use);
  g_test_add ("/registry/refuses/other-address-on-own-port", OwnPort, NULL, own_port_setup,
              test_refuses_other_address_on_own_port, own_port_teardown);
  g_test_add ("/registry/refuses/other-mode", OwnPort, NULL, own_port_setup,
              test_refuses_other_mode, own_port_teardown);
  g_test_add ("/registry/same-address-joins-port", OwnPort, NULL, own_port_setup,
              test_same_address_joins_port, own_port_teardown);
  g_test_add_func ("/registry/hold-timeout-closes-port", test_hold_timeout_closes_port);
  g_test_add_func ("/registry/queued-connection-expires", test_queued_connection_expires);
  g_test_add_func ("/registry/queued-connection-goes-to-new-route",
                   test_queued_connection_goes_to_new_route);
  g_test_add ("/registry/round-robin", TwoServices, NULL, two_services_setup, test_round_robin,
              two_services_teardown);
  g_test_add ("/registry/draining-service-leaves", TwoServices, NULL, two_services_setup,
              test_draining_service_leaves, two_services_teardown);
  g_test_add_func ("/registry/last-service-leaving-closes-port",
                   test_last_service_leaving_closes_port);
  g_test_add_func ("/registry/shutdown", test_shutdown);

  return g_test_run ();
}
