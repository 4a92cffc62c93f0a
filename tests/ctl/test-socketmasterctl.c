/* SPDX-License-Identifier: MIT */
/*
 * socketmasterctl against a daemon on a private bus: its JSON is what the
 * bus says, its tables show the same, and without a daemon it fails with
 * one clear line.
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "sm-test-dbus.h"

typedef struct {
  SmTestBus        *bus;
  SmTestDaemon     *daemon;
  guint16           port_a;        /* two services */
  guint16           port_b;        /* one service */
  SmTestService    *services[3];
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->bus = sm_test_bus_new ();
  fixture->daemon = sm_test_bus_start_daemon (fixture->bus, 30, NULL);
  fixture->port_a = sm_test_free_port ();
  fixture->port_b = sm_test_free_port ();
  fixture->services[0] = sm_test_service_new (fixture->daemon->control_address,
                                              fixture->port_a, NULL);
  fixture->services[1] = sm_test_service_new (fixture->daemon->control_address,
                                              fixture->port_a, NULL);
  fixture->services[2] = sm_test_service_new (fixture->daemon->control_address,
                                              fixture->port_b, NULL);
  /* Until all three are registered */
  sm_test_bus_wait_uint (fixture->bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE,
                         "RouteCount", 3);
  sm_test_bus_wait_uint (fixture->bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE,
                         "PortCount", 2);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  for (guint i = 0; i < G_N_ELEMENTS (fixture->services); i++)
    g_clear_pointer (&fixture->services[i], sm_test_service_free);
  sm_test_daemon_stop (fixture->daemon);
  sm_test_bus_free (fixture->bus);
}

/* socketmasterctl --session COMMAND [--json]; asserts exit status 0 */
static char *
run_ctl (SmTestBus  *bus,
         const char *command,
         gboolean    json)
{
  const char * const argv[] = { SM_TEST_CTL, "--session", command, json ? "--json" : NULL, NULL };
  g_autofree char *err = NULL;
  int status;
  char *out = sm_test_run (argv, sm_test_bus_env (bus), &status, &err);

  g_assert_cmpint (status, ==, 0);
  g_assert_cmpstr (err, ==, "");
  return out;
}

static JsonNode *
run_ctl_json (SmTestBus  *bus,
              const char *command)
{
  g_autofree char *out = run_ctl (bus, command, TRUE);
  g_autoptr(GError) error = NULL;

  JsonNode *node = json_from_string (out, &error);
  g_assert_no_error (error);
  g_assert_nonnull (node);
  return node;
}

/* A timestamp of the bus (microseconds since the epoch, 0 for none) is
 * ISO 8601 in UTC for the same microsecond, or null */
static void
assert_time_matches (const char *path,
                     const char *name,
                     guint64     usec,
                     JsonNode   *actual)
{
  g_autoptr(GDateTime) time = NULL;
  const char *text;

  if (actual == NULL)
    sm_test_fail ("%s: %s is missing in the JSON", path, name);
  if (usec == 0)
    {
      g_assert_true (JSON_NODE_HOLDS_NULL (actual));
      return;
    }
  g_assert_true (JSON_NODE_HOLDS_VALUE (actual));
  text = json_node_get_string (actual);
  g_assert_nonnull (text);
  g_assert_true (g_str_has_suffix (text, "Z"));
  time = g_date_time_new_from_iso8601 (text, NULL);
  g_assert_nonnull (time);
  g_assert_cmpuint ((guint64) g_date_time_to_unix (time) * G_USEC_PER_SEC +
                    (guint64) g_date_time_get_microsecond (time), ==, usec);
}

/* Every property the bus has for @path is in @object, with the same value */
static void
assert_object_matches_bus (JsonObject *object,
                           GHashTable *bus_objects,
                           const char *interface)
{
  const char *path = json_object_get_string_member (object, "ObjectPath");
  GVariant *interfaces = g_hash_table_lookup (bus_objects, path);
  g_autoptr(GVariant) properties = NULL;
  GVariantIter iter;
  const char *name;
  GVariant *value;

  g_assert_nonnull (interfaces);
  properties = g_variant_lookup_value (interfaces, interface, G_VARIANT_TYPE_VARDICT);
  g_assert_nonnull (properties);
  /* The properties and ObjectPath, nothing else */
  g_assert_cmpuint (json_object_get_size (object), ==, g_variant_n_children (properties) + 1);

  g_variant_iter_init (&iter, properties);
  while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
    {
      g_autoptr(JsonNode) expected = NULL;
      JsonNode *actual = json_object_get_member (object, name);
      g_autofree char *expected_text = NULL;

      if (g_str_equal (name, "ConnectedSince") || g_str_equal (name, "EmptySince"))
        {
          assert_time_matches (path, name, g_variant_get_uint64 (value), actual);
          g_variant_unref (value);
          continue;
        }
      expected = json_gvariant_serialize (value);
      expected_text = json_to_string (expected, FALSE);

      if (actual == NULL || !json_node_equal (actual, expected))
        sm_test_fail ("%s: %s is %s on the bus but %s in the JSON", path, name, expected_text,
                      actual != NULL ? json_to_string (actual, FALSE) : "missing");
      g_variant_unref (value);
    }
}

static guint
count_interface (GHashTable *bus_objects,
                 const char *interface)
{
  GHashTableIter iter;
  gpointer interfaces;
  guint n = 0;

  g_hash_table_iter_init (&iter, bus_objects);
  while (g_hash_table_iter_next (&iter, NULL, &interfaces))
    {
      g_autoptr(GVariant) properties = g_variant_lookup_value (interfaces, interface, NULL);

      if (properties != NULL)
        n++;
    }
  return n;
}

static void
test_routes_json (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(JsonNode) routes = run_ctl_json (fixture->bus, "routes");
  g_autoptr(GHashTable) bus_objects = sm_test_bus_get_objects (fixture->bus);
  g_autoptr(GPtrArray) peers = g_ptr_array_new ();
  JsonArray *array;

  g_assert_true (JSON_NODE_HOLDS_ARRAY (routes));
  array = json_node_get_array (routes);
  g_assert_cmpuint (json_array_get_length (array), ==, 3);
  g_assert_cmpuint (count_interface (bus_objects, SM_DBUS_ROUTE_IFACE), ==, 3);

  for (guint i = 0; i < 3; i++)
    {
      JsonObject *route = json_array_get_object_element (array, i);

      assert_object_matches_bus (route, bus_objects, SM_DBUS_ROUTE_IFACE);
      g_ptr_array_add (peers, (gpointer) json_object_get_string_member (route, "Peer"));
    }
  /* In registration order, and every service is there */
  for (guint i = 0; i < 3; i++)
    g_assert_cmpstr (g_ptr_array_index (peers, i), ==, sm_test_service_get_peer (fixture->services[i]));
}

static void
test_ports_and_status_json (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autoptr(JsonNode) ports = run_ctl_json (fixture->bus, "ports");
  g_autoptr(JsonNode) status = run_ctl_json (fixture->bus, "status");
  g_autoptr(JsonNode) queued = run_ctl_json (fixture->bus, "queued");
  g_autoptr(GHashTable) bus_objects = sm_test_bus_get_objects (fixture->bus);
  JsonArray *array;
  JsonObject *manager;

  g_assert_true (JSON_NODE_HOLDS_ARRAY (ports));
  array = json_node_get_array (ports);
  g_assert_cmpuint (json_array_get_length (array), ==, 2);
  for (guint i = 0; i < 2; i++)
    assert_object_matches_bus (json_array_get_object_element (array, i), bus_objects,
                               SM_DBUS_PORT_IFACE);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (array, 0), "Port"),
                   ==, fixture->port_a);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (
                      json_array_get_object_element (array, 0), "Routes")), ==, 2);

  g_assert_true (JSON_NODE_HOLDS_OBJECT (status));
  manager = json_node_get_object (status);
  g_assert_cmpstr (json_object_get_string_member (manager, "Version"), ==, PACKAGE_VERSION);
  g_assert_cmpstr (json_object_get_string_member (manager, "ControlAddress"), ==,
                   fixture->daemon->control_address);
  g_assert_cmpfloat (json_object_get_double_member (manager, "HoldTimeout"), ==, 30);
  g_assert_cmpint (json_object_get_int_member (manager, "PortCount"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (manager, "RouteCount"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (manager, "QueuedConnections"), ==, 0);

  g_assert_true (JSON_NODE_HOLDS_ARRAY (queued));
  g_assert_cmpuint (json_array_get_length (json_node_get_array (queued)), ==, 0);
}

static void
test_tables (Fixture       *fixture,
             gconstpointer  data)
{
  g_autofree char *routes = run_ctl (fixture->bus, "routes", FALSE);
  g_autofree char *ports = run_ctl (fixture->bus, "ports", FALSE);
  g_autofree char *status = run_ctl (fixture->bus, "status", FALSE);
  g_autofree char *queued = run_ctl (fixture->bus, "queued", FALSE);
  g_autofree char *listen_a = g_strdup_printf ("127.0.0.1:%u", fixture->port_a);
  g_autofree char *listen_b = g_strdup_printf ("127.0.0.1:%u", fixture->port_b);
  g_auto(GStrv) route_lines = g_strsplit (routes, "\n", -1);
  g_auto(GStrv) port_lines = g_strsplit (ports, "\n", -1);

  /* A header and one line per route (and the final newline) */
  g_assert_cmpuint (g_strv_length (route_lines), ==, 5);
  g_assert_true (g_str_has_prefix (route_lines[0], "ID"));
  g_assert_nonnull (strstr (route_lines[0], "PEER"));
  for (guint i = 0; i < 3; i++)
    {
      g_assert_nonnull (strstr (route_lines[i + 1], sm_test_service_get_peer (fixture->services[i])));
      g_assert_nonnull (strstr (route_lines[i + 1], i < 2 ? listen_a : listen_b));
      /* CONNECTED SINCE, relative */
      g_assert_true (strstr (route_lines[i + 1], "just now") != NULL ||
                     strstr (route_lines[i + 1], " s ago") != NULL);
    }

  g_assert_cmpuint (g_strv_length (port_lines), ==, 4);
  g_assert_nonnull (strstr (port_lines[1], listen_a));
  g_assert_nonnull (strstr (port_lines[1], "tcp"));
  g_assert_nonnull (strstr (port_lines[2], listen_b));

  g_assert_nonnull (strstr (status, fixture->daemon->control_address));
  g_assert_nonnull (strstr (status, "Routes:"));
  g_assert_cmpstr (queued, ==, "No connections are waiting.\n");
}

static void
test_queued (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(JsonNode) queued = NULL;
  g_autofree char *table = NULL;
  g_autofree char *listen_b = g_strdup_printf ("127.0.0.1:%u", fixture->port_b);
  g_autoptr(SmTestService) service = NULL;
  JsonObject *entry;
  gint done = 0;

  /* port_b loses its service; a connection waits there */
  g_clear_pointer (&fixture->services[2], sm_test_service_free);
  sm_test_bus_wait_uint (fixture->bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE,
                         "RouteCount", 2);
  sm_test_echo_start (fixture->port_b, 100, 1, &done);
  sm_test_bus_wait_uint (fixture->bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE,
                         "QueuedConnections", 1);

  queued = run_ctl_json (fixture->bus, "queued");
  g_assert_cmpuint (json_array_get_length (json_node_get_array (queued)), ==, 1);
  entry = json_array_get_object_element (json_node_get_array (queued), 0);
  g_assert_true (g_str_has_prefix (json_object_get_string_member (entry, "Port"),
                                   SM_DBUS_PATH "/port/"));
  g_assert_cmpstr (json_object_get_string_member (entry, "ClientAddress"), ==, "127.0.0.1");
  g_assert_cmpint (json_object_get_int_member (entry, "ClientPort"), >, 0);
  g_assert_cmpstr (json_object_get_string_member (entry, "Host"), ==, "");
  g_assert_cmpfloat (json_object_get_double_member (entry, "WaitedSeconds"), >=, 0);

  table = run_ctl (fixture->bus, "queued", FALSE);
  g_assert_nonnull (strstr (table, "CLIENT"));
  g_assert_nonnull (strstr (table, listen_b));
  g_assert_nonnull (strstr (table, "127.0.0.1:"));

  service = sm_test_service_new (fixture->daemon->control_address, fixture->port_b, NULL);
  sm_test_wait_for_int (&done, 1, SM_TEST_DBUS_WAIT_MS, "the queued echo");
}

/* ---- Totals in step with the objects ---- */

typedef struct {
  const char *interface;
  guint       n;
} ObjectCount;

static gboolean
has_n_objects (SmTestBus *bus,
               gpointer   data)
{
  ObjectCount *count = data;
  g_autoptr(GHashTable) objects = sm_test_bus_get_objects (bus);

  return count_interface (objects, count->interface) == count->n;
}

/* The status that follows a listing never shows fewer ports or routes than
 * it: the totals change with the objects, not with the next refresh */
static void
assert_status_counts (SmTestBus *bus,
                      guint      ports,
                      guint      routes)
{
  ObjectCount count = { SM_DBUS_ROUTE_IFACE, routes };
  g_autoptr(JsonNode) status = NULL;
  JsonObject *manager;

  sm_test_bus_wait (bus, has_n_objects, &count, "the routes on the bus");
  status = run_ctl_json (bus, "status");
  manager = json_node_get_object (status);
  g_assert_cmpint (json_object_get_int_member (manager, "PortCount"), ==, ports);
  g_assert_cmpint (json_object_get_int_member (manager, "RouteCount"), ==, routes);
}

static void
test_status_in_step (void)
{
  SmTestBus *bus = sm_test_bus_new ();
  SmTestDaemon *daemon = sm_test_bus_start_daemon (bus, 30, NULL);
  guint16 port = sm_test_free_port ();
  SmTestService *first, *second;

  assert_status_counts (bus, 0, 0);
  first = sm_test_service_new (daemon->control_address, port, NULL);
  assert_status_counts (bus, 1, 1);
  second = sm_test_service_new (daemon->control_address, port, NULL);
  assert_status_counts (bus, 1, 2);
  sm_test_service_free (first);
  assert_status_counts (bus, 1, 1);
  /* The port stays for the hold timeout */
  sm_test_service_free (second);
  assert_status_counts (bus, 1, 0);

  sm_test_daemon_stop (daemon);
  sm_test_bus_free (bus);
}

/* ---- Without a daemon ---- */

static void
assert_one_line_failure (const char * const *env,
                         const char         *expected)
{
  const char * const argv[] = { SM_TEST_CTL, "--session", "status", NULL };
  g_autofree char *err = NULL;
  g_autofree char *out = NULL;
  int status;

  out = sm_test_run (argv, env, &status, &err);
  g_assert_cmpint (status, ==, 1);
  g_assert_cmpstr (out, ==, "");
  /* One line */
  g_assert_true (g_str_has_suffix (err, "\n"));
  g_assert_true (strchr (err, '\n') == err + strlen (err) - 1);
  g_assert_nonnull (strstr (err, expected));
}

static void
test_no_daemon (void)
{
  SmTestBus *bus = sm_test_bus_new ();
  const char * const no_bus[] = { "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus", NULL };

  assert_one_line_failure (sm_test_bus_env (bus), "socketmaster is not running");
  sm_test_bus_free (bus);

  assert_one_line_failure (no_bus, "cannot connect to the session bus");
}

static void
test_version (void)
{
  const char * const argv[] = { SM_TEST_CTL, "--version", NULL };
  g_autofree char *err = NULL;
  g_autofree char *out = NULL;
  int status;

  /* Needs no command and no bus */
  out = sm_test_run (argv, NULL, &status, &err);
  g_assert_cmpint (status, ==, 0);
  g_assert_cmpstr (out, ==, "socketmasterctl " PACKAGE_VERSION "\n");
  g_assert_cmpstr (err, ==, "");
}

static void
test_usage (void)
{
  const char * const no_command[] = { SM_TEST_CTL, "--session", NULL };
  const char * const unknown[] = { SM_TEST_CTL, "--session", "frobnicate", NULL };
  const char * const both[] = { SM_TEST_CTL, "--session", "--system", "status", NULL };
  const char * const * const cases[] = { no_command, unknown, both };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *err = NULL;
      g_autofree char *out = NULL;
      int status;

      /* Refused before any bus is used */
      out = sm_test_run (cases[i], NULL, &status, &err);
      g_assert_cmpint (status, ==, 2);
      g_assert_cmpstr (out, ==, "");
      g_assert_cmpstr (err, !=, "");
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/socketmasterctl/routes-json", Fixture, NULL, fixture_set_up, test_routes_json,
              fixture_tear_down);
  g_test_add ("/socketmasterctl/ports-status-json", Fixture, NULL, fixture_set_up,
              test_ports_and_status_json, fixture_tear_down);
  g_test_add ("/socketmasterctl/tables", Fixture, NULL, fixture_set_up, test_tables,
              fixture_tear_down);
  g_test_add ("/socketmasterctl/queued", Fixture, NULL, fixture_set_up, test_queued,
              fixture_tear_down);
  g_test_add_func ("/socketmasterctl/status-in-step", test_status_in_step);
  g_test_add_func ("/socketmasterctl/no-daemon", test_no_daemon);
  g_test_add_func ("/socketmasterctl/version", test_version);
  g_test_add_func ("/socketmasterctl/usage", test_usage);

  return g_test_run ();
}
