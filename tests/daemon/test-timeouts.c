/* SPDX-License-Identifier: MIT */
/*
 * The timeouts of a whole HTTP exchange (--http-body-timeout,
 * --http-response-timeout) and the daemon's signals: SIGHUP is survived,
 * SIGTERM drains (--drain-timeout) the requests in flight before exiting.
 * The daemon and the service run as processes; the clients are blocking
 * raw clients in worker threads.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "sm-test-http-client.h"
#include "sm-test-util.h"

#define TIMEOUT_MS 60000

typedef struct {
  SmTestDaemon  *daemon;
  SmTestProcess *service;
  guint16        port;
  gint           sent;
} Fixture;

static void
fixture_setup (Fixture            *fixture,
               gboolean            verbose,
               const char * const *daemon_args)
{
  fixture->daemon = sm_test_http_daemon_start (30, verbose, daemon_args);
  fixture->port = sm_test_free_port ();
  fixture->service = sm_test_http_service_start (fixture->daemon, fixture->port, "", "",
                                                 "timeouts");
  fixture->sent = 0;
}

static void
fixture_teardown (Fixture *fixture)
{
  if (fixture->daemon != NULL)
    sm_test_daemon_stop (fixture->daemon);
  sm_test_http_service_stop (fixture->service);
}

static void
run_in_thread (const char *name,
               GThreadFunc func,
               gpointer    data)
{
  sm_test_thread_join (sm_test_thread_new (name, func, data), TIMEOUT_MS);
}

/* A plain request on a new connection is served */
static void
assert_serves (guint16 port)
{
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (port);
  g_autoptr(SmTestHttpReply) reply = sm_test_http_get (connection, "x", "/plain");

  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_nonnull (strstr (sm_test_http_reply_text (reply), "timeouts GET /plain"));
}

/* ---- The request body ---- */

static gpointer
slow_body_client (gpointer data)
{
  Fixture *fixture = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (fixture->port);
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  /* 10 bytes of the 100 announced, then silence: 408, and the end */
  sm_test_http_send (connection, "POST /upload HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Length: 100\r\n\r\n0123456789");
  reply = sm_test_http_receive (connection, "POST", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->status, ==, 408);
  g_assert_false (reply->keep_alive);
  g_assert_true (sm_test_http_closed_by_peer (connection));

  assert_serves (fixture->port);
  return NULL;
}

static void
test_slow_body (void)
{
  const char *args[] = { "--http-body-timeout", "1", NULL };
  Fixture fixture;

  fixture_setup (&fixture, FALSE, args);
  run_in_thread ("slow body", slow_body_client, &fixture);
  fixture_teardown (&fixture);
}

/* ---- The response ---- */

static gpointer
silent_service_client (gpointer data)
{
  Fixture *fixture = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (fixture->port);
  g_autoptr(SmTestHttpReply) reply = NULL;

  /* The service would answer after 10 s; the daemon waits 1 s */
  reply = sm_test_http_get (connection, "x", "/slow?ms=10000");
  g_assert_cmpuint (reply->status, ==, 504);
  g_clear_pointer (&reply, sm_test_http_reply_free);

  /* The connection goes on */
  reply = sm_test_http_get (connection, "x", "/plain");
  g_assert_cmpuint (reply->status, ==, 200);
  return NULL;
}

static void
test_silent_service (void)
{
  const char *args[] = { "--http-response-timeout", "1", NULL };
  Fixture fixture;

  fixture_setup (&fixture, FALSE, args);
  run_in_thread ("silent service", silent_service_client, &fixture);
  fixture_teardown (&fixture);
}

/* ---- Signals ---- */

static gpointer
serve_client (gpointer data)
{
  Fixture *fixture = data;

  assert_serves (fixture->port);
  return NULL;
}

static void
test_sighup (void)
{
  Fixture fixture;

  fixture_setup (&fixture, FALSE, NULL);
  sm_test_process_send_signal (fixture.daemon->process, SIGHUP);
  sm_test_daemon_wait_for_line (fixture.daemon, "SIGHUP", TIMEOUT_MS);
  g_assert_true (sm_test_process_is_running (fixture.daemon->process));
  run_in_thread ("after SIGHUP", serve_client, &fixture);
  fixture_teardown (&fixture);
}

static gpointer
draining_client (gpointer data)
{
  Fixture *fixture = data;
  g_autoptr(SmTestHttpConnection) idle = sm_test_http_connect (fixture->port);
  g_autoptr(SmTestHttpConnection) busy = sm_test_http_connect (fixture->port);
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  /* An idle keep-alive connection, after one request */
  reply = sm_test_http_get (idle, "x", "/plain");
  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_true (reply->keep_alive);
  g_clear_pointer (&reply, sm_test_http_reply_free);

  /* A request the service answers after 3 s, in flight at SIGTERM */
  sm_test_http_send (busy, "GET /slow?ms=3000 HTTP/1.1\r\nHost: x\r\n\r\n");
  sm_test_signal_int (&fixture->sent, 1);

  reply = sm_test_http_receive (busy, "GET", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_nonnull (strstr (sm_test_http_reply_text (reply), "timeouts GET /slow?ms=3000"));
  /* The last one on that connection */
  g_assert_false (reply->keep_alive);
  g_assert_true (sm_test_http_closed_by_peer (busy));
  g_assert_true (sm_test_http_closed_by_peer (idle));
  return NULL;
}

static void
test_sigterm_drains (void)
{
  Fixture fixture;
  SmTestThread *client;

  fixture_setup (&fixture, TRUE, NULL);
  client = sm_test_thread_new ("draining", draining_client, &fixture);
  sm_test_wait_for_int (&fixture.sent, 1, TIMEOUT_MS, "the slow request");
  sm_test_daemon_wait_for_line (fixture.daemon, "/slow?ms=3000 goes to", TIMEOUT_MS);

  sm_test_process_send_signal (fixture.daemon->process, SIGTERM);
  g_assert_cmpint (sm_test_process_wait_exit (fixture.daemon->process, TIMEOUT_MS), ==, 0);
  sm_test_thread_join (client, TIMEOUT_MS);

  sm_test_daemon_free (g_steal_pointer (&fixture.daemon));
  fixture_teardown (&fixture);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/timeouts/slow-body-408", test_slow_body);
  g_test_add_func ("/timeouts/silent-service-504", test_silent_service);
  g_test_add_func ("/signals/sighup-survived", test_sighup);
  g_test_add_func ("/signals/sigterm-lets-a-3s-request-finish", test_sigterm_drains);

  return g_test_run ();
}
