/* SPDX-License-Identifier: MIT */
/*
 * socketmasterctl: what a running socketmaster daemon is doing, read over
 * D-Bus (org.socketmaster.xml), as tables or as JSON.
 */
#include "config.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "sm-bus-names.h"
#include "sm-ctl-table.h"
#include "sm-ctl-time.h"

/* A daemon that does not answer in this time is stuck: say so */
#define SM_CTL_CALL_TIMEOUT_MS 10000

typedef enum
{
  EXIT_OK = 0,
  EXIT_ERROR = 1,
  EXIT_USAGE = 2,
} ExitCode;

/* What one run read from the daemon */
typedef struct
{
  GDBusConnection *connection;
  const char      *bus_name; /* "system" or "session", for messages */
  char            *owner;    /* the daemon's unique name: one daemon per run */
  GVariant        *manager;  /* a{sv} */
  GPtrArray       *ports;    /* SmCtlObject, by number */
  GPtrArray       *routes;   /* SmCtlObject, by number */
} SmCtlState;

typedef struct
{
  char     *path;
  guint64   number;     /* the last element of the path */
  GVariant *properties; /* a{sv} */
} SmCtlObject;

static void
sm_ctl_object_free (SmCtlObject *object)
{
  g_free (object->path);
  g_variant_unref (object->properties);
  g_free (object);
}

static void
sm_ctl_state_clear (SmCtlState *state)
{
  g_clear_object (&state->connection);
  g_clear_pointer (&state->owner, g_free);
  g_clear_pointer (&state->manager, g_variant_unref);
  g_clear_pointer (&state->ports, g_ptr_array_unref);
  g_clear_pointer (&state->routes, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SmCtlState, sm_ctl_state_clear)

/* ---- Reading the bus ---- */

static GVariant *
call (SmCtlState         *state,
      const char         *path,
      const char         *interface,
      const char         *method,
      GVariant           *parameters,
      const GVariantType *reply_type,
      GError            **error)
{
  return g_dbus_connection_call_sync (state->connection, state->owner, path, interface, method,
                                      parameters, reply_type, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                                      SM_CTL_CALL_TIMEOUT_MS, NULL, error);
}

static gboolean
find_daemon (SmCtlState *state, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) local_error = NULL;

  /* Asking who owns the name, rather than calling it, never starts a daemon
   * through bus activation: this tool only looks */
  reply = g_dbus_connection_call_sync (
      state->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
      "GetNameOwner", g_variant_new ("(s)", SM_DBUS_NAME), G_VARIANT_TYPE ("(s)"),
      G_DBUS_CALL_FLAGS_NONE, SM_CTL_CALL_TIMEOUT_MS, NULL, &local_error);
  if (reply == NULL)
    {
      if (g_error_matches (local_error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                     _ ("socketmaster is not running (nothing owns %s on the %s bus)"),
                     SM_DBUS_NAME, state->bus_name);
      else
        g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  g_variant_get (reply, "(s)", &state->owner);
  return TRUE;
}

static gboolean
read_manager (SmCtlState *state, GError **error)
{
  g_autoptr (GVariant) reply =
      call (state, SM_DBUS_PATH, "org.freedesktop.DBus.Properties", "GetAll",
            g_variant_new ("(s)", SM_DBUS_MANAGER_IFACE), G_VARIANT_TYPE ("(a{sv})"), error);

  if (reply == NULL)
    return FALSE;

  g_variant_get (reply, "(@a{sv})", &state->manager);
  return TRUE;
}

static gint
compare_objects (gconstpointer a, gconstpointer b)
{
  const SmCtlObject *object_a = *(const SmCtlObject *const *) a;
  const SmCtlObject *object_b = *(const SmCtlObject *const *) b;

  return object_a->number < object_b->number ? -1 : object_a->number > object_b->number;
}

static SmCtlObject *
object_new (const char *path, GVariant *properties)
{
  SmCtlObject *object = g_new0 (SmCtlObject, 1);
  const char  *last = strrchr (path, '/');

  object->path = g_strdup (path);
  object->number = last != NULL ? g_ascii_strtoull (last + 1, NULL, 10) : 0;
  object->properties = g_variant_ref (properties);
  return object;
}

/* One GetManagedObjects: every port and route as of the same moment */
static gboolean
read_objects (SmCtlState *state, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariantIter) objects = NULL;
  const char   *path;
  GVariantIter *interfaces;

  reply = call (state, SM_DBUS_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                NULL, G_VARIANT_TYPE ("(a{oa{sa{sv}}})"), error);
  if (reply == NULL)
    return FALSE;

  state->ports = g_ptr_array_new_with_free_func ((GDestroyNotify) sm_ctl_object_free);
  state->routes = g_ptr_array_new_with_free_func ((GDestroyNotify) sm_ctl_object_free);

  g_variant_get (reply, "(a{oa{sa{sv}}})", &objects);
  while (g_variant_iter_next (objects, "{&oa{sa{sv}}}", &path, &interfaces))
    {
      const char *interface;
      GVariant   *properties;

      while (g_variant_iter_next (interfaces, "{&s@a{sv}}", &interface, &properties))
        {
          if (g_strcmp0 (interface, SM_DBUS_PORT_IFACE) == 0)
            g_ptr_array_add (state->ports, object_new (path, properties));
          else if (g_strcmp0 (interface, SM_DBUS_ROUTE_IFACE) == 0)
            g_ptr_array_add (state->routes, object_new (path, properties));
          g_variant_unref (properties);
        }
      g_variant_iter_free (interfaces);
    }

  g_ptr_array_sort (state->ports, compare_objects);
  g_ptr_array_sort (state->routes, compare_objects);
  return TRUE;
}

/* ---- Property access (a missing or mistyped property reads as empty) ---- */

static const char *
get_string (GVariant *properties, const char *name)
{
  const char *value = NULL;

  if (!g_variant_lookup (properties, name, "&s", &value) &&
      !g_variant_lookup (properties, name, "&o", &value))
    return "";
  return value;
}

static guint64
get_uint (GVariant *properties, const char *name)
{
  g_autoptr (GVariant) value = g_variant_lookup_value (properties, name, NULL);

  if (value == NULL)
    return 0;
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
    return g_variant_get_uint64 (value);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
    return g_variant_get_uint32 (value);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT16))
    return g_variant_get_uint16 (value);
  return 0;
}

static gboolean
get_boolean (GVariant *properties, const char *name)
{
  gboolean value = FALSE;

  g_variant_lookup (properties, name, "b", &value);
  return value;
}

static SmCtlObject *
find_object (GPtrArray *objects, const char *path)
{
  for (guint i = 0; i < objects->len; i++)
    {
      SmCtlObject *object = g_ptr_array_index (objects, i);

      if (g_strcmp0 (object->path, path) == 0)
        return object;
    }
  return NULL;
}

/* ---- Formatting ---- */

static char *
format_listen (GVariant *port_properties)
{
  const char *address = get_string (port_properties, "Address");
  guint       port = (guint) get_uint (port_properties, "Port");

  if (strchr (address, ':') != NULL)
    return g_strdup_printf ("[%s]:%u", address, port);
  return g_strdup_printf ("%s:%u", address, port);
}

static char *
format_port_of (SmCtlState *state, const char *port_path)
{
  SmCtlObject *port = find_object (state->ports, port_path);

  return port != NULL ? format_listen (port->properties) : g_strdup (port_path);
}

static char *
format_text (const char *text)
{
  return g_strdup (text != NULL && *text != '\0' ? text : "-");
}

static char *
format_route_ids (GVariant *port_properties)
{
  g_autoptr (GString) ids = g_string_new (NULL);
  g_autofree const char **paths = NULL;

  if (!g_variant_lookup (port_properties, "Routes", "^a&o", &paths))
    return g_strdup ("-");
  for (guint i = 0; paths[i] != NULL; i++)
    {
      const char *last = strrchr (paths[i], '/');

      g_string_append_printf (ids, "%s%s", i > 0 ? "," : "", last != NULL ? last + 1 : paths[i]);
    }
  return ids->len > 0 ? g_string_free (g_steal_pointer (&ids), FALSE) : g_strdup ("-");
}

/* ---- Commands ---- */

/* The bus's timestamps (microseconds since the epoch, 0 for none) */
static const char *const time_properties[] = { "ConnectedSince", "EmptySince" };

static JsonNode *
object_to_json (SmCtlObject *object)
{
  JsonNode   *node = json_gvariant_serialize (object->properties);
  JsonObject *json = json_node_get_object (node);

  /* ISO 8601 for programs, which would otherwise have to know the unit */
  for (guint i = 0; i < G_N_ELEMENTS (time_properties); i++)
    if (json_object_has_member (json, time_properties[i]))
      {
        g_autofree char *time =
            sm_ctl_format_time_iso8601 (get_uint (object->properties, time_properties[i]));

        if (time != NULL)
          json_object_set_string_member (json, time_properties[i], time);
        else
          json_object_set_null_member (json, time_properties[i]);
      }
  json_object_set_string_member (json, "ObjectPath", object->path);
  return node;
}

static JsonNode *
objects_to_json (GPtrArray *objects)
{
  JsonArray *array = json_array_sized_new (objects->len);
  JsonNode  *node = json_node_new (JSON_NODE_ARRAY);

  for (guint i = 0; i < objects->len; i++)
    json_array_add_element (array, object_to_json (g_ptr_array_index (objects, i)));
  json_node_take_array (node, array);
  return node;
}

static void
print_status (SmCtlState *state)
{
  GVariant *manager = state->manager;
  double    hold_timeout = 0;

  g_variant_lookup (manager, "HoldTimeout", "d", &hold_timeout);

  g_print ("%-20s %s\n", _ ("Version:"), get_string (manager, "Version"));
  g_print ("%-20s %s\n", _ ("Control address:"), get_string (manager, "ControlAddress"));
  g_print ("%-20s %g s\n", _ ("Hold timeout:"), hold_timeout);
  g_print ("%-20s %" G_GUINT64_FORMAT "\n", _ ("Ports:"), get_uint (manager, "PortCount"));
  g_print ("%-20s %" G_GUINT64_FORMAT "\n", _ ("Routes:"), get_uint (manager, "RouteCount"));
  g_print ("%-20s %" G_GUINT64_FORMAT "\n", _ ("Active connections:"),
           get_uint (manager, "ActiveConnections"));
  g_print ("%-20s %" G_GUINT64_FORMAT "\n", _ ("Queued connections:"),
           get_uint (manager, "QueuedConnections"));
}

static void
print_ports (SmCtlState *state)
{
  g_autoptr (SmCtlTable) table = NULL;
  gint64 now = g_get_real_time ();

  if (state->ports->len == 0)
    {
      g_print ("%s\n", _ ("No ports are open."));
      return;
    }

  table = sm_ctl_table_new (_ ("ID"), _ ("LISTEN"), _ ("MODE"), _ ("TLS"), _ ("ROUTES"),
                            _ ("ACTIVE"), _ ("QUEUED"), _ ("EMPTIED"), NULL);
  for (guint i = 0; i < state->ports->len; i++)
    {
      SmCtlObject *port = g_ptr_array_index (state->ports, i);
      GVariant    *p = port->properties;

      sm_ctl_table_add_row (
          table, g_strdup_printf ("%" G_GUINT64_FORMAT, port->number), format_listen (p),
          format_text (get_string (p, "Mode")),
          g_strdup (get_boolean (p, "Tls") ? _ ("yes") : _ ("no")), format_route_ids (p),
          g_strdup_printf ("%" G_GUINT64_FORMAT, get_uint (p, "ActiveConnections")),
          g_strdup_printf ("%" G_GUINT64_FORMAT, get_uint (p, "QueuedConnections")),
          sm_ctl_format_time_ago (get_uint (p, "EmptySince"), now), NULL);
    }
  sm_ctl_table_print (table);
}

static void
print_routes (SmCtlState *state)
{
  g_autoptr (SmCtlTable) table = NULL;
  gint64 now = g_get_real_time ();

  if (state->routes->len == 0)
    {
      g_print ("%s\n", _ ("No services are registered."));
      return;
    }

  table = sm_ctl_table_new (_ ("ID"), _ ("LISTEN"), _ ("DOMAIN"), _ ("PATH"), _ ("TLS"), _ ("PEER"),
                            _ ("CONNECTED"), _ ("ACTIVE"), _ ("STREAMS"), _ ("IN"), _ ("OUT"),
                            _ ("REQUESTS"), NULL);
  for (guint i = 0; i < state->routes->len; i++)
    {
      SmCtlObject *route = g_ptr_array_index (state->routes, i);
      GVariant    *r = route->properties;

      sm_ctl_table_add_row (
          table, g_strdup_printf ("%" G_GUINT64_FORMAT, route->number),
          format_port_of (state, get_string (r, "Port")),
          format_text (get_string (r, "DomainSuffix")), format_text (get_string (r, "PathPrefix")),
          g_strdup (get_boolean (r, "Tls") ? _ ("yes") : _ ("no")),
          format_text (get_string (r, "Peer")),
          sm_ctl_format_time_ago (get_uint (r, "ConnectedSince"), now),
          g_strdup_printf ("%" G_GUINT64_FORMAT, get_uint (r, "ActiveStreams")),
          g_strdup_printf ("%" G_GUINT64_FORMAT, get_uint (r, "TotalStreams")),
          g_format_size (get_uint (r, "BytesIn")), g_format_size (get_uint (r, "BytesOut")),
          g_strdup_printf ("%" G_GUINT64_FORMAT, get_uint (r, "RequestsServed")), NULL);
    }
  sm_ctl_table_print (table);
}

static JsonNode *
queued_to_json (GVariant *connections)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  GVariantIter iter;
  const char  *port, *client, *host, *path;
  guint16      client_port;
  double       waited;

  json_builder_begin_array (builder);
  g_variant_iter_init (&iter, connections);
  while (g_variant_iter_next (&iter, "(&o&sq&s&sd)", &port, &client, &client_port, &host, &path,
                              &waited))
    {
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "Port");
      json_builder_add_string_value (builder, port);
      json_builder_set_member_name (builder, "ClientAddress");
      json_builder_add_string_value (builder, client);
      json_builder_set_member_name (builder, "ClientPort");
      json_builder_add_int_value (builder, client_port);
      json_builder_set_member_name (builder, "Host");
      json_builder_add_string_value (builder, host);
      json_builder_set_member_name (builder, "Path");
      json_builder_add_string_value (builder, path);
      json_builder_set_member_name (builder, "WaitedSeconds");
      json_builder_add_double_value (builder, waited);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  return json_builder_get_root (builder);
}

static void
print_queued (SmCtlState *state, GVariant *connections)
{
  g_autoptr (SmCtlTable) table = NULL;
  GVariantIter iter;
  const char  *port, *client, *host, *path;
  guint16      client_port;
  double       waited;

  if (g_variant_n_children (connections) == 0)
    {
      g_print ("%s\n", _ ("No connections are waiting."));
      return;
    }

  table = sm_ctl_table_new (_ ("LISTEN"), _ ("CLIENT"), _ ("HOST"), _ ("PATH"), _ ("WAITED"), NULL);
  g_variant_iter_init (&iter, connections);
  while (g_variant_iter_next (&iter, "(&o&sq&s&sd)", &port, &client, &client_port, &host, &path,
                              &waited))
    {
      char *client_text;

      if (*client == '\0')
        client_text = g_strdup ("-");
      else if (strchr (client, ':') != NULL)
        client_text = g_strdup_printf ("[%s]:%u", client, client_port);
      else
        client_text = g_strdup_printf ("%s:%u", client, client_port);

      sm_ctl_table_add_row (table, format_port_of (state, port), client_text, format_text (host),
                            format_text (path), g_strdup_printf (_ ("%.1f s"), waited), NULL);
    }
  sm_ctl_table_print (table);
}

static void
print_json (JsonNode *node)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_pretty (generator, TRUE);
  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, NULL);
  g_print ("%s\n", text);
}

typedef enum
{
  COMMAND_STATUS,
  COMMAND_PORTS,
  COMMAND_ROUTES,
  COMMAND_QUEUED,
  COMMAND_DRAIN,
  COMMAND_UPGRADE,
} Command;

static gboolean
parse_command (const char *name, Command *out_command)
{
  static const struct
  {
    const char *name;
    Command     command;
  } commands[] = {
    { "status", COMMAND_STATUS }, { "ports", COMMAND_PORTS }, { "routes", COMMAND_ROUTES },
    { "queued", COMMAND_QUEUED }, { "drain", COMMAND_DRAIN }, { "upgrade", COMMAND_UPGRADE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_strcmp0 (name, commands[i].name) == 0)
      {
        *out_command = commands[i].command;
        return TRUE;
      }
  return FALSE;
}

/* A route's object path from its id ("3") or its path */
static char *
route_path (const char *route, GError **error)
{
  guint64 id;

  if (g_variant_is_object_path (route) && g_str_has_prefix (route, SM_DBUS_ROUTE_PATH "/"))
    return g_strdup (route);
  if (g_ascii_string_to_unsigned (route, 10, 0, G_MAXUINT64, &id, NULL))
    return g_strdup_printf (SM_DBUS_ROUTE_PATH "/%" G_GUINT64_FORMAT, id);

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               _ ("not a route: %s (a route id or object path, see \"routes\")"), route);
  return NULL;
}

/* Route.Drain: the daemon answers once the route takes nothing new */
static gboolean
drain (SmCtlState *state, const char *route, GError **error)
{
  g_autofree char *path = route_path (route, error);
  g_autoptr (GVariant) reply = NULL;

  if (path == NULL)
    return FALSE;
  reply = call (state, path, SM_DBUS_ROUTE_IFACE, "Drain", NULL, G_VARIANT_TYPE_UNIT, error);
  return reply != NULL;
}

static gboolean
run (SmCtlState *state, Command command, const char *argument, gboolean json, GError **error)
{
  g_autoptr (JsonNode) node = NULL;

  if (!find_daemon (state, error))
    return FALSE;

  switch (command)
    {
    case COMMAND_STATUS:
      if (!read_manager (state, error))
        return FALSE;
      if (json)
        node = json_gvariant_serialize (state->manager);
      else
        print_status (state);
      break;

    case COMMAND_PORTS:
      if (!read_objects (state, error))
        return FALSE;
      if (json)
        node = objects_to_json (state->ports);
      else
        print_ports (state);
      break;

    case COMMAND_ROUTES:
      if (!read_objects (state, error))
        return FALSE;
      if (json)
        node = objects_to_json (state->routes);
      else
        print_routes (state);
      break;

    case COMMAND_QUEUED:
      {
        g_autoptr (GVariant) reply = NULL;
        g_autoptr (GVariant) connections = NULL;

        /* The ports first: the listing names them */
        if (!read_objects (state, error))
          return FALSE;
        reply = call (state, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE, "GetQueuedConnections", NULL,
                      G_VARIANT_TYPE ("(a(osqssd))"), error);
        if (reply == NULL)
          return FALSE;
        connections = g_variant_get_child_value (reply, 0);
        if (json)
          node = queued_to_json (connections);
        else
          print_queued (state, connections);
      }
      break;

    case COMMAND_DRAIN:
      if (!drain (state, argument, error))
        return FALSE;
      break;

    case COMMAND_UPGRADE:
      {
        /* Answered once the new process is started; this one then drains */
        g_autoptr (GVariant) reply = call (state, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE, "Upgrade",
                                           NULL, G_VARIANT_TYPE_UNIT, error);

        if (reply == NULL)
          return FALSE;
      }
      break;

    default:
      g_assert_not_reached ();
    }

  if (node != NULL)
    print_json (node);
  return TRUE;
}

int
main (int argc, char *argv[])
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (SmCtlState) state = {
    NULL,
  };
  gboolean           system_bus = FALSE;
  gboolean           session_bus = FALSE;
  gboolean           json = FALSE;
  gboolean           version = FALSE;
  GBusType           bus_type;
  Command            command;
  const GOptionEntry entries[] = {
    { "system", 0, 0, G_OPTION_ARG_NONE, &system_bus,
      N_ ("Read the daemon on the system bus (default when run as root)"), NULL },
    { "session", 0, 0, G_OPTION_ARG_NONE, &session_bus,
      N_ ("Read the daemon on the session bus (default otherwise)"), NULL },
    /* The daemon's spellings */
    { "system-bus", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &system_bus, NULL, NULL },
    { "session-bus", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &session_bus, NULL, NULL },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &json, N_ ("Print JSON instead of a table"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_ ("Print the version and exit"), NULL },
    { NULL }
  };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  context = g_option_context_new (_ ("status|ports|routes|queued|drain ROUTE|upgrade"));
  g_option_context_set_summary (context, _ ("Show what a running socketmaster daemon is doing."));
  g_option_context_set_description (
      context, _ ("Commands:\n"
                  "  status   The daemon and its totals\n"
                  "  ports    The public ports it listens on\n"
                  "  routes   The services registered on them\n"
                  "  queued   The public connections waiting for a service\n"
                  "  drain ROUTE  Give the route (its id or object path) no new\n"
                  "           connections; once its own have finished, its service\n"
                  "           is told to go away (root or the socketmaster group)\n"
                  "  upgrade  Start a new daemon from the installed binary that takes\n"
                  "           every listener over; this one finishes its connections\n"
                  "           and exits (root or the socketmaster group)\n"));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s: %s\n", g_get_prgname (), error->message);
      return EXIT_USAGE;
    }

  if (version)
    {
      g_print ("socketmasterctl %s\n", PACKAGE_VERSION);
      return EXIT_OK;
    }

  if (argc < 2 || !parse_command (argv[1], &command) || argc != (command == COMMAND_DRAIN ? 3 : 2))
    {
      g_printerr (_ ("%s: expected one command: status, ports, routes, queued, drain ROUTE or "
                     "upgrade (see --help)\n"),
                  g_get_prgname ());
      return EXIT_USAGE;
    }
  if (system_bus && session_bus)
    {
      g_printerr (_ ("%s: --system and --session exclude each other\n"), g_get_prgname ());
      return EXIT_USAGE;
    }

  /* Like the daemon: root talks to the system service */
  if (system_bus)
    bus_type = G_BUS_TYPE_SYSTEM;
  else if (session_bus)
    bus_type = G_BUS_TYPE_SESSION;
  else
    bus_type = geteuid () == 0 ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION;
  state.bus_name = bus_type == G_BUS_TYPE_SYSTEM ? "system" : "session";

  state.connection = g_bus_get_sync (bus_type, NULL, &error);
  if (state.connection == NULL)
    {
      g_printerr (_ ("%s: cannot connect to the %s bus: %s\n"), g_get_prgname (), state.bus_name,
                  error->message);
      return EXIT_ERROR;
    }

  if (!run (&state, command, argc > 2 ? argv[2] : NULL, json, &error))
    {
      g_dbus_error_strip_remote_error (error);
      g_printerr ("%s: %s\n", g_get_prgname (), error->message);
      return EXIT_ERROR;
    }

  return EXIT_OK;
}
