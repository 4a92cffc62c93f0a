/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-bus-generated.h"
#include "sm-dbus.h"
#include "sm-error.h"

/* A Port or a Route on the bus: the registry's object, and the D-Bus
 * object exported for it with its one interface */
typedef struct
{
  union
  {
    SmPort  *port;
    SmRoute *route;
    GObject *source;
  };
  union
  {
    SmBusPort  *port_iface;
    SmBusRoute *route_iface;
    GObject    *iface;
  };
  char                *path;
  SmBusObjectSkeleton *object;
  guint64              number; /* ports: the N of /org/socketmaster/port/N */
} Entry;

struct _SmDbus
{
  GObject                   parent_instance;

  SmRegistry               *registry;
  SmBusManager             *manager;
  GDBusObjectManagerServer *object_manager;
  GHashTable               *ports;  /* SmPort -> Entry */
  GHashTable               *routes; /* SmRoute -> Entry */
  guint64                   next_port_number;
  guint                     refresh_source;

  GBusType                  bus_type;
  gboolean                  replace;
  SmDbusUpgradeFunc         upgrade_func;
  gpointer                  upgrade_data;
  GCancellable             *cancellable;
  GDBusConnection          *connection;
  guint                     owner_id;
  gboolean                  name_owned;
};

G_DEFINE_FINAL_TYPE (SmDbus, sm_dbus, G_TYPE_OBJECT)

static guint64
unix_usec (GDateTime *time)
{
  return (guint64) g_date_time_to_unix (time) * G_USEC_PER_SEC +
         (guint64) g_date_time_get_microsecond (time);
}

/* For messages; sm_dbus_own_name() takes only these two */
static const char *
bus_type_name (GBusType bus_type)
{
  return bus_type == G_BUS_TYPE_SYSTEM ? "system" : "session";
}

/* ---- Ports and routes as objects ---- */

static const char *
port_mode (SmPort *port)
{
  return sm_port_get_mode (port) == SM_PORT_MODE_HTTP ? "http" : "tcp";
}

static guint
port_active_connections (SmPort *port)
{
  GPtrArray *routes = sm_port_get_routes (port);
  guint      active = 0;

  for (guint i = 0; i < routes->len; i++)
    active += sm_route_get_active_streams (g_ptr_array_index (routes, i));

  return active;
}

static void
refresh_route_counters (Entry *entry)
{
  sm_bus_route_set_active_streams (entry->route_iface, sm_route_get_active_streams (entry->route));
  sm_bus_route_set_total_streams (entry->route_iface, sm_route_get_total_streams (entry->route));
  sm_bus_route_set_bytes_in (entry->route_iface, sm_route_get_bytes_in (entry->route));
  sm_bus_route_set_bytes_out (entry->route_iface, sm_route_get_bytes_out (entry->route));
  sm_bus_route_set_requests_served (entry->route_iface,
                                    sm_route_get_requests_served (entry->route));
}

static void
refresh_port_counters (Entry *entry)
{
  sm_bus_port_set_active_connections (entry->port_iface, port_active_connections (entry->port));
  sm_bus_port_set_queued_connections (entry->port_iface, sm_port_get_n_queued (entry->port));
}

/* Kept in step with the objects (not left to the next refresh), so a
 * reader never sees fewer ports or routes in the totals than on the bus */
static void
refresh_totals (SmDbus *self)
{
  sm_bus_manager_set_port_count (self->manager, g_hash_table_size (self->ports));
  sm_bus_manager_set_route_count (self->manager, g_hash_table_size (self->routes));
}

/* The generated setters queue a PropertiesChanged only for values that
 * differ, and send the queue from an idle: one emission per object at most
 * per refresh, none when nothing moved. */
static void
refresh_counters (SmDbus *self)
{
  GHashTableIter iter;
  gpointer       value;
  guint          active = 0;
  guint          queued = 0;

  g_hash_table_iter_init (&iter, self->routes);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    refresh_route_counters (value);

  g_hash_table_iter_init (&iter, self->ports);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Entry *entry = value;

      refresh_port_counters (entry);
      active += sm_bus_port_get_active_connections (entry->port_iface);
      queued += sm_bus_port_get_queued_connections (entry->port_iface);
    }

  refresh_totals (self);
  sm_bus_manager_set_active_connections (self->manager, active);
  sm_bus_manager_set_queued_connections (self->manager, queued);
}

static gboolean
on_refresh (gpointer user_data)
{
  SmDbus *self = user_data;

  refresh_counters (self);
  return G_SOURCE_CONTINUE;
}

/* Counters are only read while someone can see them, and only while there
 * is something to count: an idle daemon without ports never wakes up. */
static void
update_refresh_timer (SmDbus *self)
{
  gboolean wanted = self->connection != NULL && g_hash_table_size (self->ports) > 0;

  if (wanted && self->refresh_source == 0)
    {
      self->refresh_source = g_timeout_add_seconds (SM_DBUS_REFRESH_SECONDS, on_refresh, self);
      g_source_set_name_by_id (self->refresh_source, "[socketmaster] D-Bus counters");
    }
  else if (!wanted && self->refresh_source != 0)
    {
      g_clear_handle_id (&self->refresh_source, g_source_remove);
      /* The last reading: totals drop to zero */
      refresh_counters (self);
    }
}

/* Routes in the port's order (registration order) */
static void
refresh_port_routes (SmDbus *self, Entry *entry)
{
  GPtrArray *routes = sm_port_get_routes (entry->port);
  g_autoptr (GPtrArray) paths = g_ptr_array_new ();

  for (guint i = 0; i < routes->len; i++)
    {
      Entry *route_entry = g_hash_table_lookup (self->routes, g_ptr_array_index (routes, i));

      if (route_entry != NULL)
        g_ptr_array_add (paths, route_entry->path);
    }
  g_ptr_array_add (paths, NULL);

  sm_bus_port_set_routes (entry->port_iface, (const char *const *) paths->pdata);
  sm_bus_port_set_mode (entry->port_iface, port_mode (entry->port));
  sm_bus_port_set_tls (entry->port_iface, sm_port_get_tls (entry->port));
}

static void
entry_free (gpointer data)
{
  Entry *entry = data;

  g_object_unref (entry->source);
  g_free (entry->path);
  g_clear_object (&entry->object);
  g_object_unref (entry->iface);
  g_free (entry);
}

/* Puts @entry's object, with its interface already set, on the bus */
static void
entry_export (SmDbus *self, Entry *entry)
{
  g_dbus_object_manager_server_export (self->object_manager,
                                       G_DBUS_OBJECT_SKELETON (entry->object));
  g_debug ("D-Bus: %s added", entry->path);
  refresh_totals (self);
}

/* Takes the entry of @source, if any, off the bus and out of @table */
static void
entry_unexport (SmDbus *self, GHashTable *table, gpointer source)
{
  Entry *entry = g_hash_table_lookup (table, source);

  if (entry == NULL)
    return;

  g_debug ("D-Bus: %s removed", entry->path);
  g_dbus_object_manager_server_unexport (self->object_manager, entry->path);
  g_hash_table_remove (table, source);
  refresh_totals (self);
}

static gboolean
on_handle_drain (SmBusRoute *iface, GDBusMethodInvocation *invocation, SmRoute *route)
{
  /* The object leaves the bus during sm_route_stop_taking() */
  g_autoptr (SmRoute) hold = g_object_ref (route);
  g_autoptr (SmBusRoute) hold_iface = g_object_ref (iface);

  if (sm_route_is_stopped (route) || sm_route_is_gone (route))
    {
      g_dbus_method_invocation_return_error (invocation, SM_ERROR, SM_ERROR_GOING_AWAY,
                                             "service %s is already leaving",
                                             sm_route_get_peer (route));
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  g_message ("D-Bus: %s asked to drain route %" G_GUINT64_FORMAT " (%s)",
             g_dbus_method_invocation_get_sender (invocation), sm_route_get_id (route),
             sm_route_get_peer (route));
  sm_bus_route_complete_drain (iface, invocation);
  sm_route_stop_taking (route);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
add_route (SmDbus *self, Entry *port_entry, SmRoute *route)
{
  const SmSocketDefinition *definition = sm_route_get_definition (route);
  Entry                    *entry;

  if (g_hash_table_contains (self->routes, route))
    return;

  entry = g_new0 (Entry, 1);
  entry->route = g_object_ref (route);
  entry->path = g_strdup_printf (SM_DBUS_ROUTE_PATH "/%" G_GUINT64_FORMAT, sm_route_get_id (route));
  entry->route_iface = sm_bus_route_skeleton_new ();
  sm_bus_route_set_port (entry->route_iface, port_entry->path);
  sm_bus_route_set_domain_suffix (entry->route_iface,
                                  sm_socket_definition_get_domain_suffix (definition) ?: "");
  sm_bus_route_set_path_prefix (entry->route_iface,
                                sm_socket_definition_get_path_prefix (definition) ?: "");
  sm_bus_route_set_tls (entry->route_iface, sm_socket_definition_has_tls (definition));
  sm_bus_route_set_peer (entry->route_iface, sm_route_get_peer (route));
  sm_bus_route_set_owner (entry->route_iface, sm_route_get_owner (route));
  sm_bus_route_set_name (entry->route_iface, sm_route_get_name (route) ?: "");
  sm_bus_route_set_connected_since (entry->route_iface,
                                    unix_usec (sm_route_get_connected_since (route)));
  refresh_route_counters (entry);
  /* Disconnected when the route goes, should the interface outlive it */
  g_signal_connect_object (entry->route_iface, "handle-drain", G_CALLBACK (on_handle_drain), route,
                           0);

  entry->object = sm_bus_object_skeleton_new (entry->path);
  sm_bus_object_skeleton_set_route (entry->object, entry->route_iface);
  g_hash_table_insert (self->routes, route, entry);
  entry_export (self, entry);
}

static void
remove_route (SmDbus *self, SmRoute *route)
{
  entry_unexport (self, self->routes, route);
}

static void
on_port_route_added (SmPort *port, SmRoute *route, SmDbus *self)
{
  Entry *entry = g_hash_table_lookup (self->ports, port);

  add_route (self, entry, route);
  refresh_port_routes (self, entry);
  sm_bus_port_set_empty_since (entry->port_iface, 0);
}

static void
on_port_route_removed (SmPort *port, SmRoute *route, SmDbus *self)
{
  Entry *entry = g_hash_table_lookup (self->ports, port);

  remove_route (self, route);
  refresh_port_routes (self, entry);
  if (sm_port_get_routes (port)->len == 0 && sm_bus_port_get_empty_since (entry->port_iface) == 0)
    sm_bus_port_set_empty_since (entry->port_iface, (guint64) g_get_real_time ());
}

/* The port keeps terminating TLS for the hold timeout after its last
 * certificate's service left, so this is not derived from the routes */
static void
on_port_tls_changed (SmPort *port, SmDbus *self)
{
  Entry *entry = g_hash_table_lookup (self->ports, port);

  sm_bus_port_set_tls (entry->port_iface, sm_port_get_tls (port));
}

static void
add_port (SmDbus *self, SmPort *port)
{
  g_autofree char *host = NULL;
  GPtrArray       *routes;
  Entry           *entry;

  if (g_hash_table_contains (self->ports, port))
    return;

  entry = g_new0 (Entry, 1);
  entry->port = g_object_ref (port);
  entry->number = ++self->next_port_number;
  entry->path = g_strdup_printf (SM_DBUS_PORT_PATH "/%" G_GUINT64_FORMAT, entry->number);
  entry->port_iface = sm_bus_port_skeleton_new ();
  host = sm_port_get_address (port) != NULL ? g_inet_address_to_string (sm_port_get_address (port))
                                            : g_strdup ("*");
  sm_bus_port_set_address (entry->port_iface, host);
  sm_bus_port_set_port (entry->port_iface, sm_port_get_number (port));
  refresh_port_counters (entry);
  g_hash_table_insert (self->ports, port, entry);

  routes = sm_port_get_routes (port);
  for (guint i = 0; i < routes->len; i++)
    add_route (self, entry, g_ptr_array_index (routes, i));
  refresh_port_routes (self, entry);

  entry->object = sm_bus_object_skeleton_new (entry->path);
  sm_bus_object_skeleton_set_port (entry->object, entry->port_iface);
  entry_export (self, entry);

  g_signal_connect (port, "route-added", G_CALLBACK (on_port_route_added), self);
  g_signal_connect (port, "route-removed", G_CALLBACK (on_port_route_removed), self);
  g_signal_connect (port, "tls-changed", G_CALLBACK (on_port_tls_changed), self);
  update_refresh_timer (self);
}

static void
remove_port (SmDbus *self, SmPort *port)
{
  GPtrArray *routes;

  if (!g_hash_table_contains (self->ports, port))
    return;

  g_signal_handlers_disconnect_by_data (port, self);
  routes = sm_port_get_routes (port);
  for (guint i = 0; i < routes->len; i++)
    remove_route (self, g_ptr_array_index (routes, i));

  entry_unexport (self, self->ports, port);
  update_refresh_timer (self);
}

static void
on_port_added (SmRegistry *registry, SmPort *port, SmDbus *self)
{
  add_port (self, port);
}

static void
on_port_removed (SmRegistry *registry, SmPort *port, SmDbus *self)
{
  remove_port (self, port);
}

/* ---- Manager methods ---- */

typedef struct
{
  GVariantBuilder *builder;
  const char      *port_path;
  gint64           now;
} QueuedListing;

static void
add_waiting (const SmPortWaiting *waiting, gpointer user_data)
{
  QueuedListing   *listing = user_data;
  g_autofree char *client_host = NULL;
  guint16          client_port = 0;

  if (G_IS_INET_SOCKET_ADDRESS (waiting->client))
    {
      GInetSocketAddress *client = G_INET_SOCKET_ADDRESS (waiting->client);

      client_host = g_inet_address_to_string (g_inet_socket_address_get_address (client));
      client_port = g_inet_socket_address_get_port (client);
    }

  g_variant_builder_add (listing->builder, "(osqssd)", listing->port_path,
                         client_host != NULL ? client_host : "", client_port,
                         waiting->host != NULL ? waiting->host : "",
                         waiting->path != NULL ? waiting->path : "",
                         (double) MAX (0, listing->now - waiting->queued_at) / G_USEC_PER_SEC);
}

static gint
compare_port_entries (gconstpointer a, gconstpointer b)
{
  const Entry *entry_a = *(const Entry *const *) a;
  const Entry *entry_b = *(const Entry *const *) b;

  return entry_a->number < entry_b->number ? -1 : entry_a->number > entry_b->number;
}

static gboolean
on_handle_get_queued_connections (SmBusManager          *manager,
                                  GDBusMethodInvocation *invocation,
                                  SmDbus                *self)
{
  g_autoptr (GPtrArray) entries = g_ptr_array_new ();
  GVariantBuilder builder;
  GHashTableIter  iter;
  gpointer        value;
  QueuedListing   listing = { &builder, NULL, g_get_monotonic_time () };

  g_hash_table_iter_init (&iter, self->ports);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (entries, value);
  g_ptr_array_sort (entries, compare_port_entries);

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(osqssd)"));
  for (guint i = 0; i < entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (entries, i);

      listing.port_path = entry->path;
      sm_port_foreach_waiting (entry->port, add_waiting, &listing);
    }

  sm_bus_manager_complete_get_queued_connections (manager, invocation,
                                                  g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_upgrade (SmBusManager *manager, GDBusMethodInvocation *invocation, SmDbus *self)
{
  g_autoptr (GError) error = NULL;

  g_message ("D-Bus: %s asked for an upgrade", g_dbus_method_invocation_get_sender (invocation));
  if (self->upgrade_func == NULL)
    g_set_error_literal (&error, SM_ERROR, SM_ERROR_UNSUPPORTED, "this daemon cannot upgrade");
  else
    self->upgrade_func (self->upgrade_data, &error);

  if (error != NULL)
    g_dbus_method_invocation_return_gerror (invocation, error);
  else
    sm_bus_manager_complete_upgrade (manager, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
sm_dbus_set_upgrade_func (SmDbus *self, SmDbusUpgradeFunc func, gpointer user_data)
{
  g_return_if_fail (SM_IS_DBUS (self));

  self->upgrade_func = func;
  self->upgrade_data = user_data;
}

/* ---- The bus ---- */

static void
unexport (SmDbus *self)
{
  if (self->connection == NULL)
    return;

  g_clear_handle_id (&self->owner_id, g_bus_unown_name);
  self->name_owned = FALSE;
  g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->manager));
  g_dbus_object_manager_server_set_connection (self->object_manager, NULL);
  g_signal_handlers_disconnect_by_data (self->connection, self);
  g_clear_object (&self->connection);
  update_refresh_timer (self);
}

static void
on_connection_closed (GDBusConnection *connection,
                      gboolean         remote_peer_vanished,
                      GError          *error,
                      SmDbus          *self)
{
  g_warning ("Lost the connection to the %s bus (%s); socketmaster carries on without D-Bus",
             bus_type_name (self->bus_type), error != NULL ? error->message : "closed");
  unexport (self);
}

static void
on_name_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  SmDbus *self = user_data;

  self->name_owned = TRUE;
  g_message ("Acquired the name %s on the %s bus", name, bus_type_name (self->bus_type));
}

static void
on_name_lost (GDBusConnection *connection, const char *name, gpointer user_data)
{
  SmDbus *self = user_data;

  /* A closed connection has its own message */
  if (connection == NULL || g_dbus_connection_is_closed (connection))
    return;

  if (self->name_owned)
    g_warning ("Another process took the name %s on the %s bus over (--replace); "
               "socketmaster carries on without it",
               name, bus_type_name (self->bus_type));
  else
    g_warning ("Cannot own the name %s on the %s bus: another process owns it or the bus "
               "policy does not allow it; socketmaster carries on without it",
               name, bus_type_name (self->bus_type));
  self->name_owned = FALSE;
}

static void
on_bus_ready (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (SmDbus) self = user_data;
  g_autoptr (GDBusConnection) connection = NULL;
  g_autoptr (GError) error = NULL;
  GBusNameOwnerFlags flags = G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT;

  connection = g_bus_get_finish (result, &error);
  if (connection == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("Cannot connect to the %s bus: %s; socketmaster carries on without D-Bus",
                   bus_type_name (self->bus_type), error->message);
      return;
    }
  if (g_cancellable_is_cancelled (self->cancellable))
    return;

  /* The proxy must outlive the bus (GDBus would raise SIGTERM) */
  g_dbus_connection_set_exit_on_close (connection, FALSE);
  self->connection = g_steal_pointer (&connection);
  g_signal_connect (self->connection, "closed", G_CALLBACK (on_connection_closed), self);

  /* Objects first, so the name never leads to an empty tree */
  g_dbus_object_manager_server_set_connection (self->object_manager, self->connection);
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->manager),
                                         self->connection, SM_DBUS_PATH, &error))
    {
      g_warning ("Cannot export %s on the %s bus: %s; socketmaster carries on without D-Bus",
                 SM_DBUS_PATH, bus_type_name (self->bus_type), error->message);
      unexport (self);
      return;
    }
  refresh_counters (self);
  update_refresh_timer (self);

  if (self->replace)
    flags |= G_BUS_NAME_OWNER_FLAGS_REPLACE;
  self->owner_id = g_bus_own_name_on_connection (self->connection, SM_DBUS_NAME, flags,
                                                 on_name_acquired, on_name_lost, self, NULL);
}

/* ---- GObject ---- */

static void
sm_dbus_dispose (GObject *object)
{
  SmDbus *self = SM_DBUS (object);

  g_cancellable_cancel (self->cancellable);
  unexport (self);

  if (self->registry != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->registry, self);
      g_clear_object (&self->registry);
    }

  if (self->ports != NULL)
    {
      GHashTableIter iter;
      gpointer       port;

      g_hash_table_iter_init (&iter, self->ports);
      while (g_hash_table_iter_next (&iter, &port, NULL))
        g_signal_handlers_disconnect_by_data (port, self);
    }
  g_clear_handle_id (&self->refresh_source, g_source_remove);
  g_clear_pointer (&self->routes, g_hash_table_unref);
  g_clear_pointer (&self->ports, g_hash_table_unref);

  if (self->manager != NULL)
    g_signal_handlers_disconnect_by_data (self->manager, self);
  g_clear_object (&self->manager);
  g_clear_object (&self->object_manager);

  G_OBJECT_CLASS (sm_dbus_parent_class)->dispose (object);
}

static void
sm_dbus_finalize (GObject *object)
{
  SmDbus *self = SM_DBUS (object);

  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (sm_dbus_parent_class)->finalize (object);
}

static void
sm_dbus_class_init (SmDbusClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_dbus_dispose;
  object_class->finalize = sm_dbus_finalize;

  /* Method errors of the SM_ERROR domain go out as org.socketmaster.Error.* */
  (void) sm_error_quark ();
}

static void
sm_dbus_init (SmDbus *self)
{
  self->ports = g_hash_table_new_full (NULL, NULL, NULL, entry_free);
  self->routes = g_hash_table_new_full (NULL, NULL, NULL, entry_free);
  self->object_manager = g_dbus_object_manager_server_new (SM_DBUS_PATH);
  self->manager = sm_bus_manager_skeleton_new ();
  self->cancellable = g_cancellable_new ();
}

SmDbus *
sm_dbus_new (SmRegistry *registry, const char *control_address)
{
  g_autoptr (GList) ports = NULL;
  SmDbus *self;

  g_return_val_if_fail (SM_IS_REGISTRY (registry), NULL);
  g_return_val_if_fail (control_address != NULL, NULL);

  self = g_object_new (SM_TYPE_DBUS, NULL);
  self->registry = g_object_ref (registry);

  sm_bus_manager_set_version (self->manager, PACKAGE_VERSION);
  sm_bus_manager_set_control_address (self->manager, control_address);
  sm_bus_manager_set_hold_timeout (self->manager, sm_registry_get_hold_timeout (registry));
  g_signal_connect (self->manager, "handle-get-queued-connections",
                    G_CALLBACK (on_handle_get_queued_connections), self);
  g_signal_connect (self->manager, "handle-upgrade", G_CALLBACK (on_handle_upgrade), self);

  g_signal_connect (registry, "port-added", G_CALLBACK (on_port_added), self);
  g_signal_connect (registry, "port-removed", G_CALLBACK (on_port_removed), self);
  ports = sm_registry_get_ports (registry);
  for (GList *l = ports; l != NULL; l = l->next)
    add_port (self, l->data);
  refresh_counters (self);

  return self;
}

void
sm_dbus_own_name (SmDbus *self, GBusType bus_type, gboolean replace)
{
  g_return_if_fail (SM_IS_DBUS (self));
  g_return_if_fail (bus_type == G_BUS_TYPE_SYSTEM || bus_type == G_BUS_TYPE_SESSION);
  g_return_if_fail (self->connection == NULL && self->owner_id == 0);

  self->bus_type = bus_type;
  self->replace = replace;
  g_bus_get (bus_type, self->cancellable, on_bus_ready, g_object_ref (self));
}

gboolean
sm_dbus_is_name_owned (SmDbus *self)
{
  g_return_val_if_fail (SM_IS_DBUS (self), FALSE);
  return self->name_owned;
}
