/* SPDX-License-Identifier: MIT */
/*
 * The daemon's D-Bus interface as tools see it, on a private bus per test:
 * what Introspect returns matches org.socketmaster.xml, which documents
 * every member; gdbus and busctl walk the tree; errors have D-Bus names.
 */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-test-dbus.h"

#define LONG_HOLD_TIMEOUT  30.0
#define DOC_ANNOTATION     "org.gtk.GDBus.DocString"

/* ---- Error domain ---- */

static void
test_error_domain (void)
{
  g_autoptr(GError) error = g_error_new_literal (SM_ERROR, SM_ERROR_GOING_AWAY, "bye");
  g_autoptr(GError) decoded = NULL;
  g_autofree char *name = NULL;

  name = g_dbus_error_encode_gerror (error);
  g_assert_cmpstr (name, ==, SM_DBUS_ERROR_PREFIX "GoingAway");

  decoded = g_dbus_error_new_for_dbus_error (SM_DBUS_ERROR_PREFIX "Conflict", "clash");
  g_assert_error (decoded, SM_ERROR, SM_ERROR_CONFLICT);
}

/* ---- Introspection ---- */

static GDBusNodeInfo *
load_reference (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *xml = NULL;
  GDBusNodeInfo *node;

  g_file_get_contents (SM_TEST_INTERFACE_XML, &xml, NULL, &error);
  g_assert_no_error (error);
  node = g_dbus_node_info_new_for_xml (xml, &error);
  g_assert_no_error (error);
  return node;
}

static void
assert_documented (GDBusAnnotationInfo **annotations,
                   const char           *what)
{
  if (g_dbus_annotation_info_lookup (annotations, DOC_ANNOTATION) == NULL)
    sm_test_fail ("org.socketmaster.xml: %s has no %s annotation", what, DOC_ANNOTATION);
}

/* gdbus-codegen turns doc annotations into documentation: they never reach
 * the bus, so the comparison leaves them out */
static void
strip_docs (GDBusAnnotationInfo **annotations)
{
  guint kept = 0;

  for (guint i = 0; annotations != NULL && annotations[i] != NULL; i++)
    {
      if (g_str_has_prefix (annotations[i]->key, DOC_ANNOTATION))
        g_dbus_annotation_info_unref (annotations[i]);
      else
        annotations[kept++] = annotations[i];
    }
  if (annotations != NULL)
    annotations[kept] = NULL;
}

static char *
interface_to_xml (GDBusInterfaceInfo *info)
{
  GString *xml = g_string_new (NULL);

  strip_docs (info->annotations);
  for (guint i = 0; info->methods != NULL && info->methods[i] != NULL; i++)
    {
      GDBusMethodInfo *method = info->methods[i];

      strip_docs (method->annotations);
      for (guint j = 0; method->in_args != NULL && method->in_args[j] != NULL; j++)
        strip_docs (method->in_args[j]->annotations);
      for (guint j = 0; method->out_args != NULL && method->out_args[j] != NULL; j++)
        strip_docs (method->out_args[j]->annotations);
    }
  for (guint i = 0; info->signals != NULL && info->signals[i] != NULL; i++)
    strip_docs (info->signals[i]->annotations);
  for (guint i = 0; info->properties != NULL && info->properties[i] != NULL; i++)
    strip_docs (info->properties[i]->annotations);

  g_dbus_interface_info_generate_xml (info, 0, xml);
  return g_string_free (xml, FALSE);
}

/* Every member of the source has its documentation */
static void
test_interface_documented (void)
{
  g_autoptr(GDBusNodeInfo) reference = load_reference ();

  g_assert_nonnull (reference->interfaces);
  g_assert_nonnull (reference->interfaces[0]);
  for (guint i = 0; reference->interfaces[i] != NULL; i++)
    {
      GDBusInterfaceInfo *info = reference->interfaces[i];

      assert_documented (info->annotations, info->name);
      for (guint j = 0; info->methods != NULL && info->methods[j] != NULL; j++)
        {
          GDBusMethodInfo *method = info->methods[j];

          assert_documented (method->annotations, method->name);
          for (guint k = 0; method->in_args != NULL && method->in_args[k] != NULL; k++)
            assert_documented (method->in_args[k]->annotations, method->in_args[k]->name);
          for (guint k = 0; method->out_args != NULL && method->out_args[k] != NULL; k++)
            assert_documented (method->out_args[k]->annotations, method->out_args[k]->name);
        }
      for (guint j = 0; info->signals != NULL && info->signals[j] != NULL; j++)
        assert_documented (info->signals[j]->annotations, info->signals[j]->name);
      for (guint j = 0; info->properties != NULL && info->properties[j] != NULL; j++)
        assert_documented (info->properties[j]->annotations, info->properties[j]->name);
    }
}

static void
assert_introspection_matches (SmTestBus  *bus,
                              const char *path,
                              const char *interface)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GDBusNodeInfo) reference = load_reference ();
  g_autoptr(GDBusNodeInfo) remote = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *actual = NULL;
  GDBusInterfaceInfo *remote_info;
  GDBusInterfaceInfo *reference_info;
  const char *xml;

  reply = sm_test_bus_call (bus, path, "org.freedesktop.DBus.Introspectable", "Introspect",
                            NULL, G_VARIANT_TYPE ("(s)"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(&s)", &xml);
  remote = g_dbus_node_info_new_for_xml (xml, &error);
  g_assert_no_error (error);

  remote_info = g_dbus_node_info_lookup_interface (remote, interface);
  if (remote_info == NULL)
    sm_test_fail ("%s does not have %s:\n%s", path, interface, xml);
  reference_info = g_dbus_node_info_lookup_interface (reference, interface);
  g_assert_nonnull (reference_info);

  expected = interface_to_xml (reference_info);
  actual = interface_to_xml (remote_info);
  g_assert_cmpstr (actual, ==, expected);
}

static void
test_introspect (void)
{
  SmTestBus *bus = sm_test_bus_new ();
  SmTestDaemon *daemon = sm_test_bus_start_daemon (bus, LONG_HOLD_TIMEOUT, NULL);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) service = sm_test_service_new (daemon->control_address, port, NULL);
  g_autofree char *port_path = sm_test_bus_wait_for_port (bus, port, 1);
  g_autofree char *route_path = sm_test_bus_find_route (bus, sm_test_service_get_peer (service));
  g_autofree char *port_node = g_strdup_printf ("node %s {", port_path);
  g_autofree char *route_node = g_strdup_printf ("node %s {", route_path);
  g_autofree char *output = NULL;
  const char * const argv[] = {
    "gdbus", "introspect", "--session", "--dest", SM_DBUS_NAME,
    "--object-path", SM_DBUS_PATH, "--recurse", NULL
  };
  int status;

  g_assert_nonnull (route_path);
  assert_introspection_matches (bus, SM_DBUS_PATH, SM_DBUS_MANAGER_IFACE);
  assert_introspection_matches (bus, port_path, SM_DBUS_PORT_IFACE);
  assert_introspection_matches (bus, route_path, SM_DBUS_ROUTE_IFACE);

  /* The command line tool walks the whole tree */
  output = sm_test_run (argv, sm_test_bus_env (bus), &status, NULL);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (output, "node /org/socketmaster {"));
  g_assert_nonnull (strstr (output, "interface org.socketmaster.Manager {"));
  g_assert_nonnull (strstr (output, port_node));
  g_assert_nonnull (strstr (output, "interface org.socketmaster.Port {"));
  g_assert_nonnull (strstr (output, route_node));
  g_assert_nonnull (strstr (output, "interface org.socketmaster.Route {"));

  g_clear_pointer (&service, sm_test_service_free);
  sm_test_daemon_stop (daemon);
  sm_test_bus_free (bus);
}

static void
test_busctl (void)
{
  g_autofree char *busctl = g_find_program_in_path ("busctl");
  SmTestBus *bus;
  SmTestDaemon *daemon;
  g_autofree char *output = NULL;
  g_autofree char *tree = NULL;
  int status;

  if (busctl == NULL)
    {
      g_test_skip ("busctl (systemd) is not installed");
      return;
    }

  bus = sm_test_bus_new ();
  daemon = sm_test_bus_start_daemon (bus, LONG_HOLD_TIMEOUT, NULL);

  /* busctl --user finds the test's bus through DBUS_SESSION_BUS_ADDRESS */
  {
    const char * const argv[] = {
      busctl, "--user", "--no-pager", "introspect", SM_DBUS_NAME, SM_DBUS_PATH, NULL
    };

    output = sm_test_run (argv, sm_test_bus_env (bus), &status, NULL);
    g_assert_cmpint (status, ==, 0);
    g_assert_nonnull (strstr (output, SM_DBUS_MANAGER_IFACE));
    g_assert_nonnull (strstr (output, ".GetQueuedConnections"));
    g_assert_nonnull (strstr (output, ".ControlAddress"));
    g_assert_nonnull (strstr (output, daemon->control_address));
  }
  {
    const char * const argv[] = {
      busctl, "--user", "--no-pager", "--list", "tree", SM_DBUS_NAME, NULL
    };

    tree = sm_test_run (argv, sm_test_bus_env (bus), &status, NULL);
    g_assert_cmpint (status, ==, 0);
    g_assert_nonnull (strstr (tree, SM_DBUS_PATH));
  }

  sm_test_daemon_stop (daemon);
  sm_test_bus_free (bus);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/dbus/error-domain", test_error_domain);
  g_test_add_func ("/dbus/interface-documented", test_interface_documented);
  g_test_add_func ("/dbus/introspect", test_introspect);
  g_test_add_func ("/dbus/busctl", test_busctl);

  return g_test_run ();
}
