/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-test-dbus.h"

#include <glib/gstdio.h>
#include <string.h>

/* ---- The bus ---- */

static void
on_signal (GDBusConnection *connection,
           const char      *sender,
           const char      *path,
           const char      *interface,
           const char      *member,
           GVariant        *parameters,
           gpointer         data)
{
  SmTestBus *self = data;

  if (!g_str_has_prefix (path, SM_DBUS_PATH))
    return;

  self->n_signals++;
  if (g_strcmp0 (member, "InterfacesAdded") == 0)
    {
      const char *object_path;

      g_variant_get_child (parameters, 0, "&o", &object_path);
      g_ptr_array_add (self->added, g_strdup (object_path));
    }
  else if (g_strcmp0 (member, "InterfacesRemoved") == 0)
    {
      const char *object_path;

      g_variant_get_child (parameters, 0, "&o", &object_path);
      g_ptr_array_add (self->removed, g_strdup (object_path));
    }
  else if (g_strcmp0 (member, "PropertiesChanged") == 0)
    {
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->n_changed, path));

      g_hash_table_insert (self->n_changed, g_strdup (path), GUINT_TO_POINTER (n + 1));
    }
}

/* Both kinds listen in @dir; the session kind lets anyone do anything */
static const char bus_config[] =
  "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
  " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
  "<busconfig>\n"
  "  <type>%s</type>\n"
  "  <listen>unix:path=%s/bus</listen>\n"
  "  <auth>EXTERNAL</auth>\n"
  "%s"
  "</busconfig>\n";

static const char session_policy[] =
  "  <policy context=\"default\">\n"
  "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
  "    <allow eavesdrop=\"true\"/>\n"
  "    <allow own=\"*\"/>\n"
  "  </policy>\n";

/* As dbus's system.conf: owning and calling are denied unless a policy
 * file (included after) allows them */
static const char system_policy[] =
  "  <policy context=\"default\">\n"
  "    <allow user=\"*\"/>\n"
  "    <deny own=\"*\"/>\n"
  "    <deny send_type=\"method_call\"/>\n"
  "    <allow send_type=\"signal\"/>\n"
  "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
  "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
  "    <allow receive_type=\"method_call\"/>\n"
  "    <allow receive_type=\"method_return\"/>\n"
  "    <allow receive_type=\"error\"/>\n"
  "    <allow receive_type=\"signal\"/>\n"
  "    <allow send_destination=\"org.freedesktop.DBus\"\n"
  "           send_interface=\"org.freedesktop.DBus\"/>\n"
  "    <allow send_destination=\"org.freedesktop.DBus\"\n"
  "           send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
  "  </policy>\n"
  "  <include>%s</include>\n";

static SmTestBus *
bus_start (SmTestBusType  type,
           const char    *policy_path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *policy = NULL;
  g_autofree char *config = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *config_arg = NULL;
  SmTestBus *self = g_new0 (SmTestBus, 1);
  gboolean system = type == SM_TEST_BUS_SYSTEM;

  self->type = type;
  self->dir = g_dir_make_tmp ("socketmaster-bus-XXXXXX", &error);
  g_assert_no_error (error);

  policy = system ? g_strdup_printf (system_policy, policy_path) : g_strdup (session_policy);
  config = g_strdup_printf (bus_config, system ? "system" : "session", self->dir, policy);
  config_path = g_build_filename (self->dir, "bus.conf", NULL);
  g_file_set_contents (config_path, config, -1, &error);
  g_assert_no_error (error);

  config_arg = g_strdup_printf ("--config-file=%s", config_path);
  {
    const char * const argv[] = { "dbus-daemon", config_arg, "--nofork", "--print-address=1",
                                  NULL };

    self->process = sm_test_process_spawn (system ? "system-bus" : "session-bus", argv);
  }
  self->address = g_strdup (sm_test_process_wait_for_line (self->process, "unix:path=",
                                                           SM_TEST_DBUS_WAIT_MS));
  g_strstrip (self->address);
  self->env[0] = g_strdup_printf ("DBUS_%s_BUS_ADDRESS=%s", system ? "SYSTEM" : "SESSION",
                               self->address);

  self->connection = g_dbus_connection_new_for_address_sync (
    self->address,
    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
    G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
    NULL, NULL, &error);
  g_assert_no_error (error);
  g_dbus_connection_set_exit_on_close (self->connection, FALSE);

  self->added = g_ptr_array_new_with_free_func (g_free);
  self->removed = g_ptr_array_new_with_free_func (g_free);
  self->n_changed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->subscription = g_dbus_connection_signal_subscribe (self->connection, NULL, NULL, NULL,
                                                           NULL, NULL,
                                                           G_DBUS_SIGNAL_FLAGS_NONE,
                                                           on_signal, self, NULL);
  return self;
}

SmTestBus *
sm_test_bus_new (void)
{
  return bus_start (SM_TEST_BUS_SESSION, NULL);
}

SmTestBus *
sm_test_bus_new_system (const char *policy_path)
{
  return bus_start (SM_TEST_BUS_SYSTEM, policy_path);
}

const char * const *
sm_test_bus_env (SmTestBus *self)
{
  return (const char * const *) self->env;
}

void
sm_test_bus_free (SmTestBus *self)
{
  g_autofree char *config_path = NULL;
  g_autofree char *socket_path = NULL;

  if (self == NULL)
    return;

  g_dbus_connection_signal_unsubscribe (self->connection, self->subscription);
  g_dbus_connection_close_sync (self->connection, NULL, NULL);
  g_object_unref (self->connection);
  sm_test_process_terminate (self->process, TRUE);
  sm_test_process_free (self->process);

  config_path = g_build_filename (self->dir, "bus.conf", NULL);
  socket_path = g_build_filename (self->dir, "bus", NULL);
  g_unlink (config_path);
  g_unlink (socket_path);
  g_rmdir (self->dir);

  g_ptr_array_unref (self->added);
  g_ptr_array_unref (self->removed);
  g_hash_table_unref (self->n_changed);
  g_free (self->address);
  g_free (self->env[0]);
  g_free (self->dir);
  g_free (self);
}

char *
sm_test_bus_get_owner (SmTestBus  *self,
                       const char *name)
{
  g_autoptr(GVariant) reply = NULL;
  char *owner = NULL;

  reply = g_dbus_connection_call_sync (self->connection, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "GetNameOwner", g_variant_new ("(s)", name),
                                       G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE, -1,
                                       NULL, NULL);
  if (reply != NULL)
    g_variant_get (reply, "(s)", &owner);
  return owner;
}

typedef struct {
  const char *name;
  const char *not_this_owner;
  char       *owner;
} OwnerWait;

static void
on_name_owner_changed (GDBusConnection *connection,
                       const char      *sender,
                       const char      *path,
                       const char      *interface,
                       const char      *member,
                       GVariant        *parameters,
                       gpointer         data)
{
  g_main_context_wakeup (NULL);
}

static gboolean
owner_is_new (gpointer data)
{
  OwnerWait *wait = data;

  return wait->owner != NULL;
}

static gboolean
check_owner (SmTestBus *self,
             gpointer   data)
{
  OwnerWait *wait = data;

  g_free (wait->owner);
  wait->owner = sm_test_bus_get_owner (self, wait->name);
  if (wait->owner != NULL && g_strcmp0 (wait->owner, wait->not_this_owner) == 0)
    g_clear_pointer (&wait->owner, g_free);
  return wait->owner != NULL;
}

static gboolean
poll_owner (gpointer data)
{
  gpointer *args = data;

  return check_owner (args[0], args[1]);
}

char *
sm_test_bus_wait_for_owner (SmTestBus  *self,
                            const char *name,
                            const char *not_this_owner)
{
  OwnerWait wait = { name, not_this_owner, NULL };
  gpointer args[] = { self, &wait };
  guint subscription;

  /* NameOwnerChanged wakes the loop; the check asks the bus itself */
  subscription = g_dbus_connection_signal_subscribe (self->connection, "org.freedesktop.DBus",
                                                     "org.freedesktop.DBus", "NameOwnerChanged",
                                                     "/org/freedesktop/DBus", name,
                                                     G_DBUS_SIGNAL_FLAGS_NONE,
                                                     on_name_owner_changed, NULL, NULL);
  sm_test_wait_until (poll_owner, args, SM_TEST_DBUS_WAIT_MS);
  g_dbus_connection_signal_unsubscribe (self->connection, subscription);
  if (!owner_is_new (&wait))
    sm_test_fail ("nobody (new) took the name %s within %u ms", name, SM_TEST_DBUS_WAIT_MS);
  return wait.owner;
}

typedef struct {
  SmTestBus      *bus;
  SmTestBusCheck  check;
  gpointer        data;
  guint           checked_at;   /* n_signals at the last check */
  gboolean        result;
} BusWait;

static gboolean
bus_wait_done (gpointer data)
{
  BusWait *wait = data;

  /* Only a new signal can change what the daemon says */
  if (wait->checked_at != wait->bus->n_signals)
    {
      wait->checked_at = wait->bus->n_signals;
      wait->result = wait->check (wait->bus, wait->data);
    }
  return wait->result;
}

void
sm_test_bus_wait (SmTestBus      *self,
                  SmTestBusCheck  check,
                  gpointer        data,
                  const char     *what)
{
  BusWait wait = { self, check, data, self->n_signals, FALSE };

  wait.result = check (self, data);
  if (!sm_test_wait_until (bus_wait_done, &wait, SM_TEST_DBUS_WAIT_MS))
    sm_test_fail ("timed out after %u ms waiting for %s", SM_TEST_DBUS_WAIT_MS, what);
}

GVariant *
sm_test_bus_call (SmTestBus          *self,
                  const char         *path,
                  const char         *interface,
                  const char         *method,
                  GVariant           *parameters,
                  const GVariantType *reply_type,
                  GError            **error)
{
  return g_dbus_connection_call_sync (self->connection, SM_DBUS_NAME, path, interface,
                                      method, parameters, reply_type,
                                      G_DBUS_CALL_FLAGS_NO_AUTO_START, SM_TEST_DBUS_WAIT_MS,
                                      NULL, error);
}

GVariant *
sm_test_bus_get (SmTestBus  *self,
                 const char *path,
                 const char *interface,
                 const char *name)
{
  g_autoptr(GVariant) reply = NULL;
  GVariant *value = NULL;

  reply = sm_test_bus_call (self, path, "org.freedesktop.DBus.Properties", "Get",
                            g_variant_new ("(ss)", interface, name), G_VARIANT_TYPE ("(v)"),
                            NULL);
  if (reply != NULL)
    g_variant_get (reply, "(v)", &value);
  return value;
}

GVariant *
sm_test_bus_get_all (SmTestBus  *self,
                     const char *path,
                     const char *interface)
{
  g_autoptr(GVariant) reply = NULL;
  GVariant *properties = NULL;

  reply = sm_test_bus_call (self, path, "org.freedesktop.DBus.Properties", "GetAll",
                            g_variant_new ("(s)", interface), G_VARIANT_TYPE ("(a{sv})"), NULL);
  if (reply != NULL)
    g_variant_get (reply, "(@a{sv})", &properties);
  return properties;
}

guint64
sm_test_bus_get_uint (SmTestBus  *self,
                      const char *path,
                      const char *interface,
                      const char *name)
{
  g_autoptr(GVariant) value = sm_test_bus_get (self, path, interface, name);

  if (value == NULL)
    sm_test_fail ("%s has no property %s.%s", path, interface, name);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
    return g_variant_get_uint64 (value);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
    return g_variant_get_uint32 (value);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT16))
    return g_variant_get_uint16 (value);
  sm_test_fail ("%s.%s on %s is a %s, not an unsigned integer", interface, name, path,
                g_variant_get_type_string (value));
}

typedef struct {
  const char *path;
  const char *interface;
  const char *name;
  guint64     value;
} UintWait;

static gboolean
uint_reached (SmTestBus *self,
              gpointer   data)
{
  UintWait *wait = data;
  g_autoptr(GVariant) value = sm_test_bus_get (self, wait->path, wait->interface, wait->name);

  if (value == NULL)
    return FALSE;
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
    return g_variant_get_uint64 (value) == wait->value;
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
    return g_variant_get_uint32 (value) == wait->value;
  return FALSE;
}

void
sm_test_bus_wait_uint (SmTestBus  *self,
                       const char *path,
                       const char *interface,
                       const char *name,
                       guint64     value)
{
  UintWait wait = { path, interface, name, value };
  g_autofree char *what = g_strdup_printf ("%s %s = %" G_GUINT64_FORMAT, path, name, value);

  sm_test_bus_wait (self, uint_reached, &wait, what);
}

GHashTable *
sm_test_bus_get_objects (SmTestBus *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariantIter) iter = NULL;
  GHashTable *objects;
  const char *path;
  GVariant *interfaces;

  reply = sm_test_bus_call (self, SM_DBUS_PATH, "org.freedesktop.DBus.ObjectManager",
                            "GetManagedObjects", NULL, G_VARIANT_TYPE ("(a{oa{sa{sv}}})"),
                            &error);
  g_assert_no_error (error);

  objects = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                   (GDestroyNotify) g_variant_unref);
  g_variant_get (reply, "(a{oa{sa{sv}}})", &iter);
  while (g_variant_iter_next (iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    g_hash_table_insert (objects, g_strdup (path), interfaces);
  return objects;
}

static guint
count_path (GPtrArray  *paths,
            const char *path)
{
  guint n = 0;

  for (guint i = 0; i < paths->len; i++)
    if (g_strcmp0 (g_ptr_array_index (paths, i), path) == 0)
      n++;
  return n;
}

guint
sm_test_bus_count_removed (SmTestBus  *self,
                           const char *path)
{
  return count_path (self->removed, path);
}

guint
sm_test_bus_count_changed (SmTestBus  *self,
                           const char *path)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->n_changed, path));
}

/* ---- Finding objects ---- */

/* The first object with @interface whose @property equals @value */
static char *
find_object (SmTestBus  *bus,
             const char *interface,
             const char *property,
             GVariant   *value)
{
  g_autoptr(GVariant) wanted = g_variant_ref_sink (value);
  g_autoptr(GHashTable) objects = sm_test_bus_get_objects (bus);
  GHashTableIter iter;
  gpointer path, interfaces;

  g_hash_table_iter_init (&iter, objects);
  while (g_hash_table_iter_next (&iter, &path, &interfaces))
    {
      g_autoptr(GVariant) properties = g_variant_lookup_value (interfaces, interface, NULL);
      g_autoptr(GVariant) found = NULL;

      if (properties != NULL)
        found = g_variant_lookup_value (properties, property, NULL);
      if (found != NULL && g_variant_equal (found, wanted))
        return g_strdup (path);
    }
  return NULL;
}

char *
sm_test_bus_find_port (SmTestBus *bus,
                       guint16    port)
{
  return find_object (bus, SM_DBUS_PORT_IFACE, "Port", g_variant_new_uint16 (port));
}

char *
sm_test_bus_find_route (SmTestBus  *bus,
                        const char *peer)
{
  return find_object (bus, SM_DBUS_ROUTE_IFACE, "Peer", g_variant_new_string (peer));
}

char **
sm_test_bus_get_port_routes (SmTestBus  *bus,
                             const char *port_path)
{
  g_autoptr(GVariant) routes = sm_test_bus_get (bus, port_path, SM_DBUS_PORT_IFACE,
                                                "Routes");

  return routes != NULL ? g_variant_dup_objv (routes, NULL) : NULL;
}

typedef struct {
  guint16  port;
  guint    n_routes;
  char    *path;
} PortWait;

static gboolean
port_has_routes (SmTestBus *bus,
                 gpointer   data)
{
  PortWait *wait = data;
  g_auto(GStrv) routes = NULL;

  if (wait->path == NULL)
    wait->path = sm_test_bus_find_port (bus, wait->port);
  if (wait->path == NULL)
    return FALSE;
  routes = sm_test_bus_get_port_routes (bus, wait->path);
  return routes != NULL && g_strv_length (routes) == wait->n_routes;
}

char *
sm_test_bus_wait_for_port (SmTestBus *bus,
                           guint16    port,
                           guint      n_routes)
{
  PortWait wait = { port, n_routes, NULL };
  g_autofree char *what = g_strdup_printf ("a Port object for %u with %u routes", port, n_routes);

  sm_test_bus_wait (bus, port_has_routes, &wait, what);
  return wait.path;
}

SmTestDaemon *
sm_test_bus_start_daemon (SmTestBus          *self,
                          double              hold_timeout,
                          const char * const *extra_args)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  g_autofree char *owner = NULL;
  SmTestDaemon *daemon;

  g_ptr_array_add (args, self->type == SM_TEST_BUS_SYSTEM ? "--system-bus" : "--session-bus");
  for (const char * const *arg = extra_args; arg != NULL && *arg != NULL; arg++)
    g_ptr_array_add (args, (char *) *arg);
  g_ptr_array_add (args, NULL);

  daemon = sm_test_daemon_start_full (hold_timeout, (const char * const *) args->pdata,
                                      sm_test_bus_env (self));
  sm_test_daemon_wait_for_line (daemon, "Acquired the name " SM_DBUS_NAME,
                                SM_TEST_DBUS_WAIT_MS);
  owner = sm_test_bus_wait_for_owner (self, SM_DBUS_NAME, NULL);
  return daemon;
}

/* ---- Programs ---- */

char *
sm_test_run (const char * const *argv,
             const char * const *env_overrides,
             int                *out_status,
             char              **out_stderr)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *command = g_strjoinv (" ", (char **) argv);
  char *out = NULL;
  char *err = NULL;

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  for (const char * const *env = env_overrides; env != NULL && *env != NULL; env++)
    {
      g_auto(GStrv) pair = g_strsplit (*env, "=", 2);

      g_subprocess_launcher_setenv (launcher, pair[0], pair[1] != NULL ? pair[1] : "", TRUE);
    }

  g_test_message ("running: %s", command);
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);

  *out_status = g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process)
                                                     : -g_subprocess_get_term_sig (process);
  g_test_message ("exit status %d; stdout:\n%s\nstderr:\n%s", *out_status, out, err);
  if (out_stderr != NULL)
    *out_stderr = err;
  else
    g_free (err);
  return out;
}
