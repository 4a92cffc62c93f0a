/* SPDX-License-Identifier: MIT */
/*
 * The daemon and its buses: it keeps proxying when the bus is missing,
 * vanishes or the name is taken; --replace takes the name over; the
 * system bus policy (on a private bus with system-like defaults) lets only
 * the daemon's user own the name and everyone read; the systemd unit and
 * the activation file agree and pass systemd-analyze verify.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "sm-test-dbus.h"

#define ECHO_SIZE (64 * 1024)

/* A service on a fresh port of @daemon and one echo through it */
static void
assert_proxying (SmTestDaemon *daemon)
{
  guint16 port = sm_test_free_port ();
  SmTestService *service = sm_test_service_new (daemon->control_address, port, NULL);

  sm_test_echo_many (port, 2, ECHO_SIZE, SM_TEST_DBUS_WAIT_MS);
  sm_test_service_free (service);
}

/* Spawns the daemon with @name set to @value in its environment */
static SmTestDaemon *
start_daemon_with_env (const char         *name,
                       const char         *value,
                       const char * const *args)
{
  g_autofree char *variable = g_strdup_printf ("%s=%s", name, value);
  const char * const env[] = { variable, NULL };

  return sm_test_daemon_start_full (30, args, env);
}

/* ---- Buses that fail ---- */

static void
test_bus_unavailable (void)
{
  const char * const args[] = { "--session-bus", NULL };
  SmTestDaemon *daemon = start_daemon_with_env ("DBUS_SESSION_BUS_ADDRESS",
                                                "unix:path=/nonexistent/socketmaster-test-bus",
                                                args);

  sm_test_daemon_wait_for_line (daemon, "Cannot connect to the session bus", SM_TEST_DBUS_WAIT_MS);
  assert_proxying (daemon);
  sm_test_daemon_stop (daemon);
}

static void
test_bus_vanishes (void)
{
  SmTestBus *bus = sm_test_bus_new ();
  SmTestDaemon *daemon = sm_test_bus_start_daemon (bus, 30, NULL);

  /* Stops the bus daemon under our daemon's feet */
  sm_test_bus_free (bus);
  sm_test_daemon_wait_for_line (daemon, "Lost the connection to the session bus",
                                SM_TEST_DBUS_WAIT_MS);
  assert_proxying (daemon);
  sm_test_daemon_stop (daemon);
}

/* ---- The name ---- */

static void
on_flag_name (GDBusConnection *connection,
              const char      *name,
              gpointer         data)
{
  sm_test_signal_int (data, 1);
}

static void
test_name_taken (void)
{
  SmTestBus *bus = sm_test_bus_new ();
  const char * const args[] = { "--session-bus", NULL };
  g_autofree char *test_owner = NULL;
  g_autofree char *daemon_owner = NULL;
  g_autoptr(GVariant) address = NULL;
  SmTestDaemon *daemon;
  gint acquired = 0;
  guint owner_id;

  /* Someone else has the name, and does not let it be replaced */
  owner_id = g_bus_own_name_on_connection (bus->connection, SM_DBUS_NAME,
                                           G_BUS_NAME_OWNER_FLAGS_NONE, on_flag_name, NULL,
                                           &acquired, NULL);
  sm_test_wait_for_int (&acquired, 1, SM_TEST_DBUS_WAIT_MS, "the test owning the name");
  test_owner = sm_test_bus_get_owner (bus, SM_DBUS_NAME);

  daemon = sm_test_daemon_start_full (30, args, sm_test_bus_env (bus));
  sm_test_daemon_wait_for_line (daemon, "Cannot own the name " SM_DBUS_NAME
                                " on the session bus", SM_TEST_DBUS_WAIT_MS);
  assert_proxying (daemon);

  /* Once it is free, the daemon gets it (it waited in the queue) */
  g_bus_unown_name (owner_id);
  daemon_owner = sm_test_bus_wait_for_owner (bus, SM_DBUS_NAME, test_owner);
  sm_test_daemon_wait_for_line (daemon, "Acquired the name " SM_DBUS_NAME,
                                SM_TEST_DBUS_WAIT_MS);
  address = sm_test_bus_get (bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE,
                             "ControlAddress");
  g_assert_nonnull (address);
  g_assert_cmpstr (g_variant_get_string (address, NULL), ==, daemon->control_address);

  sm_test_daemon_stop (daemon);
  sm_test_bus_free (bus);
}

static void
test_replace (void)
{
  SmTestBus *bus = sm_test_bus_new ();
  SmTestDaemon *first = sm_test_bus_start_daemon (bus, 30, NULL);
  g_autofree char *first_owner = sm_test_bus_get_owner (bus, SM_DBUS_NAME);
  const char * const replace[] = { "--replace", NULL };
  g_autofree char *second_owner = NULL;
  g_autoptr(GVariant) address = NULL;
  SmTestDaemon *second;

  second = sm_test_bus_start_daemon (bus, 30, replace);
  second_owner = sm_test_bus_wait_for_owner (bus, SM_DBUS_NAME, first_owner);
  g_assert_cmpstr (second_owner, !=, first_owner);
  sm_test_daemon_wait_for_line (first, "took the name " SM_DBUS_NAME
                                " on the session bus over", SM_TEST_DBUS_WAIT_MS);

  address = sm_test_bus_get (bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE,
                             "ControlAddress");
  g_assert_cmpstr (g_variant_get_string (address, NULL), ==, second->control_address);

  /* Losing the name changes nothing for the proxy */
  assert_proxying (first);
  assert_proxying (second);

  sm_test_daemon_stop (second);
  sm_test_daemon_stop (first);
  sm_test_bus_free (bus);
}

/* ---- The system bus policy ---- */

static char *
read_policy (void)
{
  g_autoptr(GError) error = NULL;
  char *policy = NULL;

  g_file_get_contents (SM_TEST_DATA_DIR "/org.socketmaster.conf", &policy, NULL, &error);
  g_assert_no_error (error);
  return policy;
}

/* Our policy with the owner's user changed to @user; returns its path */
static char *
write_policy_for (const char *user,
                  const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *policy = read_policy ();
  g_autofree char *owner = g_strdup_printf ("<policy user=\"%s\">", user);
  g_auto(GStrv) parts = g_strsplit (policy, "<policy user=\"socketmaster\">", -1);
  g_autofree char *changed = NULL;
  char *path = g_build_filename (dir, "org.socketmaster.conf", NULL);

  g_assert_cmpuint (g_strv_length (parts), ==, 2);
  changed = g_strjoinv (owner, parts);
  g_file_set_contents (path, changed, -1, &error);
  g_assert_no_error (error);
  return path;
}

static void
test_policy_foreign_owner (void)
{
  SmTestBus *bus;
  SmTestDaemon *daemon;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  const char * const args[] = { "--system-bus", NULL };

  if (g_strcmp0 (g_get_user_name (), "socketmaster") == 0)
    {
      g_test_skip ("runs as the daemon's own user");
      return;
    }

  /* The policy as installed */
  bus = sm_test_bus_new_system (SM_TEST_DATA_DIR "/org.socketmaster.conf");

  /* Only the user socketmaster may own the name */
  reply = g_dbus_connection_call_sync (bus->connection, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "RequestName",
                                       g_variant_new ("(su)", SM_DBUS_NAME, 4),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1,
                                       NULL, &error);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED);

  /* A daemon run by someone else says so, and proxies all the same */
  daemon = sm_test_daemon_start_full (30, args, sm_test_bus_env (bus));
  sm_test_daemon_wait_for_line (daemon, "Cannot own the name " SM_DBUS_NAME
                                " on the system bus", SM_TEST_DBUS_WAIT_MS);
  assert_proxying (daemon);

  sm_test_daemon_stop (daemon);
  sm_test_bus_free (bus);
}

static GVariant *
call_daemon (SmTestBus          *bus,
             const char         *interface,
             const char         *method,
             GVariant           *parameters,
             const GVariantType *reply_type,
             GError            **error)
{
  return sm_test_bus_call (bus, SM_DBUS_PATH, interface, method, parameters, reply_type,
                           error);
}

static void
test_policy_everyone_reads (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("socketmaster-policy-XXXXXX", &error);
  g_autofree char *policy = write_policy_for (g_get_user_name (), dir);
  SmTestBus *bus = sm_test_bus_new_system (policy);
  SmTestDaemon *daemon = sm_test_bus_start_daemon (bus, 30, NULL);
  const char * const ctl[] = { SM_TEST_CTL, "--system", "status", NULL };
  g_autofree char *out = NULL;
  int status;

  /* Sending is governed by the default context: what anyone may do */
  {
    g_autoptr(GVariant) xml = call_daemon (bus, "org.freedesktop.DBus.Introspectable",
                                           "Introspect", NULL, G_VARIANT_TYPE ("(s)"), &error);
    g_assert_no_error (error);
  }
  {
    g_autoptr(GVariant) all = call_daemon (bus, "org.freedesktop.DBus.Properties", "GetAll",
                                           g_variant_new ("(s)", SM_DBUS_MANAGER_IFACE),
                                           G_VARIANT_TYPE ("(a{sv})"), &error);
    g_assert_no_error (error);
  }
  {
    g_autoptr(GVariant) objects = call_daemon (bus, "org.freedesktop.DBus.ObjectManager",
                                               "GetManagedObjects", NULL,
                                               G_VARIANT_TYPE ("(a{oa{sa{sv}}})"), &error);
    g_assert_no_error (error);
  }
  {
    g_autoptr(GVariant) queued = call_daemon (bus, SM_DBUS_MANAGER_IFACE,
                                              "GetQueuedConnections", NULL,
                                              G_VARIANT_TYPE ("(a(osqssd))"), &error);
    g_assert_no_error (error);
  }

  /* Nothing else reaches the daemon (it would answer otherwise) */
  {
    g_autoptr(GVariant) set = call_daemon (bus, "org.freedesktop.DBus.Properties", "Set",
                                           g_variant_new ("(ssv)", SM_DBUS_MANAGER_IFACE,
                                                          "Version", g_variant_new_string ("x")),
                                           NULL, &error);
    g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED);
    g_clear_error (&error);
  }

  /* socketmasterctl reads the system bus */
  out = sm_test_run (ctl, sm_test_bus_env (bus), &status, NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, daemon->control_address));

  sm_test_daemon_stop (daemon);
  sm_test_bus_free (bus);
  g_unlink (policy);
  g_rmdir (dir);
}

/* ---- Installed files ---- */

static GKeyFile *
load_key_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  GKeyFile *key_file = g_key_file_new ();

  g_key_file_load_from_file (key_file, path, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
  return key_file;
}

static char *
get_key (GKeyFile   *key_file,
         const char *group,
         const char *key)
{
  g_autoptr(GError) error = NULL;
  char *value = g_key_file_get_value (key_file, group, key, &error);

  if (value == NULL)
    sm_test_fail ("[%s] %s: %s", group, key, error->message);
  return value;
}

static void
assert_key (GKeyFile   *key_file,
            const char *group,
            const char *key,
            const char *expected)
{
  g_autofree char *value = get_key (key_file, group, key);

  g_assert_cmpstr (value, ==, expected);
}

/* The unit, the activation file and the bus policy agree */
static void
test_unit_and_activation (void)
{
  g_autoptr(GKeyFile) unit = load_key_file (SM_TEST_DATA_DIR "/socketmaster.service");
  g_autoptr(GKeyFile) activation = load_key_file (SM_TEST_DATA_DIR "/org.socketmaster.service");
  g_autofree char *policy = read_policy ();
  g_autofree char *user = get_key (unit, "Service", "User");
  g_autofree char *exec_start = get_key (unit, "Service", "ExecStart");
  g_autofree char *alias = get_key (unit, "Install", "Alias");
  g_autofree char *owner_policy = g_strdup_printf ("<policy user=\"%s\">", user);

  assert_key (unit, "Service", "Type", "notify");
  assert_key (unit, "Service", "BusName", SM_DBUS_NAME);
  /* systemctl help socketmaster */
  assert_key (unit, "Unit", "Documentation", "man:socketmaster(8) man:socketmasterctl(1)");
  assert_key (unit, "Service", "AmbientCapabilities", "CAP_NET_BIND_SERVICE");
  assert_key (unit, "Service", "CapabilityBoundingSet", "CAP_NET_BIND_SERVICE");
  assert_key (unit, "Service", "NoNewPrivileges", "yes");
  assert_key (unit, "Service", "ProtectSystem", "strict");
  /* AF_NETLINK: who owns a TCP peer's socket (sock_diag); the Unix
   * control socket lives in the runtime directory */
  assert_key (unit, "Service", "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX AF_NETLINK");
  assert_key (unit, "Service", "RuntimeDirectory", "socketmaster");
  g_assert_true (g_str_has_suffix (exec_start, "/socketmaster --system-bus --bind " SM_DEFAULT_CONTROL_ADDRESS
                                               " --bind unix:/run/socketmaster/control.sock"));

  assert_key (activation, "D-BUS Service", "Name", SM_DBUS_NAME);
  assert_key (activation, "D-BUS Service", "SystemdService", alias);
  assert_key (activation, "D-BUS Service", "User", user);
  assert_key (activation, "D-BUS Service", "Exec", exec_start);

  g_assert_nonnull (strstr (policy, owner_policy));
}

static void
test_systemd_analyze_verify (void)
{
  g_autofree char *analyze = g_find_program_in_path ("systemd-analyze");
  g_autoptr(GError) error = NULL;
  g_autofree char *unit = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto(GStrv) lines = NULL;
  int status;

  if (analyze == NULL)
    {
      g_test_skip ("systemd-analyze is not installed");
      return;
    }

  g_file_get_contents (SM_TEST_DATA_DIR "/socketmaster.service", &unit, NULL, &error);
  g_assert_no_error (error);

  /* verify wants ExecStart= to exist: point it at the daemon just built */
  lines = g_strsplit (unit, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "ExecStart="))
      {
        g_free (lines[i]);
        lines[i] = g_strdup_printf ("ExecStart=%s --system-bus", g_getenv ("SM_DAEMON"));
      }
  g_free (unit);
  unit = g_strjoinv ("\n", lines);

  dir = g_dir_make_tmp ("socketmaster-unit-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (dir, "socketmaster.service", NULL);
  g_file_set_contents (path, unit, -1, &error);
  g_assert_no_error (error);

  {
    const char * const argv[] = { analyze, "verify", "--man=no", path, NULL };

    out = sm_test_run (argv, NULL, &status, &err);
  }
  g_unlink (path);
  g_rmdir (dir);

  g_assert_cmpint (status, ==, 0);
  /* Unknown or bad settings are warnings: none about our unit */
  g_assert_null (strstr (out, "socketmaster.service:"));
  g_assert_null (strstr (err, "socketmaster.service:"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/dbus/bus/unavailable", test_bus_unavailable);
  g_test_add_func ("/dbus/bus/vanishes", test_bus_vanishes);
  g_test_add_func ("/dbus/bus/name-taken", test_name_taken);
  g_test_add_func ("/dbus/bus/replace", test_replace);
  g_test_add_func ("/dbus/policy/foreign-owner", test_policy_foreign_owner);
  g_test_add_func ("/dbus/policy/everyone-reads", test_policy_everyone_reads);
  g_test_add_func ("/dbus/data/unit-and-activation", test_unit_and_activation);
  g_test_add_func ("/dbus/data/systemd-analyze-verify", test_systemd_analyze_verify);

  return g_test_run ();
}
