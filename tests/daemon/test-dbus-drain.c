/* SPDX-License-Identifier: MIT */
/*
 * Route.Drain on a private bus: two replicas of one HTTP route under load
 * (keep-alive and new connections), one drained over D-Bus; no request
 * fails, the drained service gets GoAway once its requests are done and
 * the other keeps serving. Then the system bus policy: an unprivileged
 * peer (socketmasterctl run as nobody) is refused, root is not.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "sm-test-dbus.h"
#include "sm-test-http-client.h"
#include "sm-test-http-responder.h"
#include "test-upgrade-util.h"

#define TIMEOUT_MS       60000
#define N_CLIENTS        4
/* Requests served before the drain, and by the other replica after it */
#define N_BEFORE         200
#define N_AFTER          200

typedef struct {
  SmTestService       *service;
  SmTestHttpResponder *responder;
  guint                n_served; /* streams handed to the responder */
} Replica;

typedef struct {
  guint16  port;
  gint     stop;       /* the clients finish */
  gint     drained;    /* set once replica a saw GoAway */
  gint     n_ok;       /* responses with the right body */
  gint     n_failed;   /* anything else */
  gint     n_from_a_after; /* answered by a after its GoAway */
  gint     n_from_b;
  gint     n_done;     /* clients that returned */
} Load;

typedef struct {
  Load     *load;
  gboolean  keep_alive;
} Client;

static void
replica_serve (Replica *replica)
{
  while (replica->n_served < sm_test_service_get_n_accepted (replica->service))
    {
      g_autoptr(SmYamuxStream) stream = sm_test_service_next_stream (replica->service,
                                                                     TIMEOUT_MS);

      sm_test_http_responder_serve (replica->responder, G_IO_STREAM (stream));
      replica->n_served++;
    }
}

/* One GET on @connection; counts it; FALSE if the connection is unusable */
static gboolean
one_request (Load                 *load,
             SmTestHttpConnection *connection,
             gboolean              keep_alive)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autofree char *request = g_strdup_printf ("GET /x HTTP/1.1\r\nHost: x\r\n%s\r\n",
                                              keep_alive ? "" : "Connection: close\r\n");
  gboolean drained = g_atomic_int_get (&load->drained);
  const char *text;

  sm_test_http_send (connection, request);
  reply = sm_test_http_receive (connection, "GET", &error);
  if (reply == NULL || reply->status != 200)
    {
      g_test_message ("request failed: %s", reply != NULL ? "status" : error->message);
      g_atomic_int_inc (&load->n_failed);
      return FALSE;
    }

  text = sm_test_http_reply_text (reply);
  if (g_strcmp0 (text, "a GET /x\n") == 0)
    {
      if (drained)
        g_atomic_int_inc (&load->n_from_a_after);
    }
  else if (g_strcmp0 (text, "b GET /x\n") == 0)
    g_atomic_int_inc (&load->n_from_b);
  else
    {
      g_test_message ("unexpected response: %s", text);
      g_atomic_int_inc (&load->n_failed);
      return FALSE;
    }
  g_atomic_int_inc (&load->n_ok);
  return reply->keep_alive;
}

static gpointer
client_run (gpointer data)
{
  Client *client = data;
  Load *load = client->load;
  SmTestHttpConnection *connection = NULL;

  while (!g_atomic_int_get (&load->stop))
    {
      if (connection == NULL)
        connection = sm_test_http_connect (load->port);
      if (!one_request (load, connection, client->keep_alive) || !client->keep_alive)
        g_clear_pointer (&connection, sm_test_http_connection_free);
    }
  g_clear_pointer (&connection, sm_test_http_connection_free);
  g_atomic_int_inc (&load->n_done);
  g_main_context_wakeup (NULL);
  return NULL;
}

typedef struct {
  Replica *a;
  Replica *b;
  Load    *load;
  gint    *counter;
  gint     target;   /* *counter to reach; counter NULL: a's GoAway */
} Serve;

static gboolean
serve_until (gpointer data)
{
  Serve *serve = data;

  replica_serve (serve->a);
  replica_serve (serve->b);
  if (serve->counter == NULL)
    return sm_test_service_saw_go_away (serve->a->service);
  /* A failure ends the wait, but not the clients' */
  if (serve->counter != &serve->load->n_done && g_atomic_int_get (&serve->load->n_failed) > 0)
    return TRUE;
  return g_atomic_int_get (serve->counter) >= serve->target;
}

/* Answers the services' streams until *@counter reaches @target (or a's
 * GoAway if @counter is NULL) */
static void
serve_while (Replica *a, Replica *b, Load *load, gint *counter, gint target, const char *what)
{
  Serve serve = { a, b, load, counter, target };

  if (!sm_test_wait_until (serve_until, &serve, TIMEOUT_MS))
    sm_test_fail ("timed out waiting for %s", what);
}

static void
test_drain_under_load (void)
{
  SmTestBus *bus = sm_test_bus_new ();
  SmTestDaemon *daemon = sm_test_bus_start_daemon (bus, 30, NULL);
  Load load = { 0 };
  Replica a = { 0 }, b = { 0 };
  Client clients[N_CLIENTS];
  SmTestThread *threads[N_CLIENTS];
  g_autofree char *route_a = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  gint drained_at;

  load.port = sm_test_free_port ();
  a.service = sm_test_service_new_http (daemon->control_address, load.port, NULL, "", "");
  b.service = sm_test_service_new_http (daemon->control_address, load.port, NULL, "", "");
  sm_test_service_set_mode (a.service, SM_TEST_SERVICE_QUEUE);
  sm_test_service_set_mode (b.service, SM_TEST_SERVICE_QUEUE);
  a.responder = sm_test_http_responder_new ("a");
  b.responder = sm_test_http_responder_new ("b");
  g_free (sm_test_bus_wait_for_port (bus, load.port, 2));
  route_a = sm_test_bus_find_route (bus, sm_test_service_get_peer (a.service));

  /* Half the clients keep their connection, half open one per request */
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      clients[i] = (Client) { &load, i % 2 == 0 };
      threads[i] = sm_test_thread_new ("client", client_run, &clients[i]);
    }

  serve_while (&a, &b, &load, &load.n_ok, N_BEFORE, "requests before the drain");
  g_assert_cmpint (g_atomic_int_get (&load.n_failed), ==, 0);
  g_assert_cmpuint (sm_test_http_responder_get_n_requests (a.responder), >, 0);

  /* Asynchronous: the services answer while the daemon handles it */
  g_dbus_connection_call (bus->connection, SM_DBUS_NAME, route_a, SM_DBUS_ROUTE_IFACE, "Drain",
                          NULL, G_VARIANT_TYPE_UNIT, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                          TIMEOUT_MS, NULL, NULL, NULL);
  serve_while (&a, &b, &load, NULL, 0, "GoAway to the drained service");
  g_atomic_int_set (&load.drained, 1);
  g_assert_false (sm_test_service_saw_go_away (b.service));

  drained_at = g_atomic_int_get (&load.n_from_b);
  serve_while (&a, &b, &load, &load.n_from_b, drained_at + N_AFTER, "requests after the drain");
  g_atomic_int_set (&load.stop, 1);
  /* The clients' last requests need the services */
  serve_while (&a, &b, &load, &load.n_done, N_CLIENTS, "the clients to finish");
  for (guint i = 0; i < N_CLIENTS; i++)
    sm_test_thread_join (threads[i], TIMEOUT_MS);

  g_assert_cmpint (g_atomic_int_get (&load.n_failed), ==, 0);
  g_assert_cmpint (g_atomic_int_get (&load.n_from_a_after), ==, 0);
  g_assert_cmpint (g_atomic_int_get (&load.n_from_b), >=, drained_at + N_AFTER);
  g_assert_false (sm_test_service_saw_go_away (b.service));

  /* The route left the bus; draining it again finds nothing */
  reply = sm_test_bus_call (bus, route_a, SM_DBUS_ROUTE_IFACE, "Drain", NULL, NULL, &error);
  g_assert_null (reply);
  g_assert_nonnull (error);

  sm_test_service_free (a.service);
  sm_test_service_free (b.service);
  sm_test_http_responder_free (a.responder);
  sm_test_http_responder_free (b.responder);
  sm_test_daemon_stop (daemon);
  sm_test_bus_free (bus);
}

/* ---- The system bus policy ---- */

/* Our installed policy with the owner's user changed to @user; its path */
static char *
write_policy_for (const char *user,
                  const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *policy = NULL;
  g_autofree char *owner = g_strdup_printf ("<policy user=\"%s\">", user);
  g_auto(GStrv) parts = NULL;
  g_autofree char *changed = NULL;
  char *path = g_build_filename (dir, "org.socketmaster.conf", NULL);

  g_file_get_contents (SM_TEST_DATA_DIR "/org.socketmaster.conf", &policy, NULL, &error);
  g_assert_no_error (error);
  /* Drain: root and the group only */
  g_assert_nonnull (strstr (policy, "<policy user=\"root\">"));
  g_assert_nonnull (strstr (policy, "<policy group=\"socketmaster\">"));
  parts = g_strsplit (policy, "<policy user=\"socketmaster\">", -1);
  g_assert_cmpuint (g_strv_length (parts), ==, 2);
  changed = g_strjoinv (owner, parts);
  g_file_set_contents (path, changed, -1, &error);
  g_assert_no_error (error);
  return path;
}

static gboolean
saw_go_away (gpointer data)
{
  return sm_test_service_saw_go_away (data);
}

/* A private system bus with the installed policy (this user in place of
 * the socketmaster user) that nobody can reach, and a daemon on it */
typedef struct
{
  char         *dir;
  char         *policy;
  SmTestBus    *bus;
  SmTestDaemon *daemon;
} PolicyBus;

/* FALSE, with the test skipped, unless we are root */
static gboolean
policy_bus_start (PolicyBus *pb)
{
  g_autoptr(GError) error = NULL;

  if (geteuid () != 0)
    {
      g_test_skip ("needs root, to run socketmasterctl as nobody");
      return FALSE;
    }
  pb->dir = g_dir_make_tmp ("socketmaster-policy-XXXXXX", &error);
  g_assert_no_error (error);
  pb->policy = write_policy_for (g_get_user_name (), pb->dir);
  pb->bus = sm_test_bus_new_system (pb->policy);
  /* nobody reaches the bus's socket */
  g_assert_cmpint (g_chmod (pb->bus->dir, 0755), ==, 0);
  pb->daemon = sm_test_bus_start_daemon (pb->bus, 30, NULL);
  return TRUE;
}

/* After the daemon is gone */
static void
policy_bus_free (PolicyBus *pb)
{
  sm_test_bus_free (pb->bus);
  g_unlink (pb->policy);
  g_rmdir (pb->dir);
  g_free (pb->policy);
  g_free (pb->dir);
}

/* socketmasterctl --system @command @arg (may be NULL) as nobody: the bus
 * refuses it */
static void
assert_refused_to_nobody (PolicyBus *pb, const char *command, const char *arg)
{
  const char *const argv[] = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               SM_TEST_CTL, "--system", command, arg, NULL };
  g_autofree char *err = NULL;
  g_autofree char *out = NULL;
  int status;

  out = sm_test_run (argv, sm_test_bus_env (pb->bus), &status, &err);
  g_test_message ("as nobody: status %d, %s", status, err);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "Rejected send message"));
}

static void
test_drain_policy (void)
{
  g_autofree char *route = NULL;
  g_autofree char *err = NULL;
  g_autofree char *out = NULL;
  PolicyBus pb = { 0 };
  SmTestService *service;
  guint16 port = sm_test_free_port ();
  int status;

  if (!policy_bus_start (&pb))
    return;
  service = sm_test_service_new (pb.daemon->control_address, port, NULL);
  g_free (sm_test_bus_wait_for_port (pb.bus, port, 1));
  route = sm_test_bus_find_route (pb.bus, sm_test_service_get_peer (service));

  assert_refused_to_nobody (&pb, "drain", route);
  g_assert_false (sm_test_service_saw_go_away (service));

  /* Root may (by the route's id) */
  {
    const char *id = strrchr (route, '/') + 1;
    const char * const argv[] = { SM_TEST_CTL, "--system", "drain", id, NULL };

    out = sm_test_run (argv, sm_test_bus_env (pb.bus), &status, &err);
    g_assert_cmpint (status, ==, 0);
    if (!sm_test_wait_until (saw_go_away, service, TIMEOUT_MS))
      sm_test_fail ("the drained service got no GoAway");
  }

  sm_test_service_free (service);
  sm_test_daemon_stop (pb.daemon);
  policy_bus_free (&pb);
}

/* Manager.Upgrade: refused to nobody (the daemon carries on as it was),
 * allowed to root (a new process takes over) */
static void
test_upgrade_policy (void)
{
  g_autofree char *err = NULL;
  g_autofree char *out = NULL;
  PolicyBus pb = { 0 };
  GPid new_pid;
  int status;

  if (!policy_bus_start (&pb))
    return;

  assert_refused_to_nobody (&pb, "upgrade", NULL);
  g_assert_cmpuint (sm_test_process_count_lines (pb.daemon->process, "Upgrade:"), ==, 0);

  {
    const char * const argv[] = { SM_TEST_CTL, "--system", "upgrade", NULL };

    out = sm_test_run (argv, sm_test_bus_env (pb.bus), &status, &err);
    g_assert_cmpint (status, ==, 0);
    new_pid = sm_test_upgrade_wait (pb.daemon);
  }

  sm_test_upgrade_stop (new_pid);
  sm_test_daemon_free (pb.daemon);
  policy_bus_free (&pb);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  sm_test_upgrade_init ();
  g_test_add_func ("/dbus/drain/under-load", test_drain_under_load);
  g_test_add_func ("/dbus/drain/policy", test_drain_policy);
  g_test_add_func ("/dbus/upgrade/policy", test_upgrade_policy);
  return g_test_run ();
}
