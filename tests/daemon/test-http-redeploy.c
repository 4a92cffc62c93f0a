/* SPDX-License-Identifier: MIT */
/*
 * HTTP services coming and going: requests for a service that left wait
 * for its return (or get 503 after the hold timeout), and a redeploy
 * under continuous keep-alive load, graceful or by SIGKILL, costs no
 * request and no connection. Services are sm-test-http-service processes.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "sm-test-http-client.h"
#include "sm-test-util.h"

#define TIMEOUT_MS 60000

/* ---- Waiting for a service ---- */

static void
test_request_waits_for_returning_service (void)
{
  SmTestDaemon *daemon = sm_test_http_daemon_start (30, TRUE, NULL);
  guint16 port = sm_test_free_port ();
  g_autofree char *target = g_strdup_printf ("http://127.0.0.1:%u/x/1", port);
  const char *args[] = { "-w", "|%{http_code}", target, NULL };
  g_autoptr(SmTestCurl) curl = NULL;
  SmTestProcess *v1, *v2, *other;
  g_autofree char *unknown = NULL;

  v1 = sm_test_http_service_start (daemon, port, "", "/x/", "v1");
  other = sm_test_http_service_start (daemon, port, "", "/y/", "other");
  sm_test_http_service_stop (v1);
  sm_test_daemon_wait_for_line (daemon, "left 127.0.0.1:", TIMEOUT_MS);

  /* Matches the service that left: waits (queued, not refused) */
  curl = sm_test_curl_spawn (args);
  sm_test_daemon_wait_for_line (daemon, "Request for 127.0.0.1/x/1 waits for a service",
                                TIMEOUT_MS);
  g_assert_false (sm_test_curl_is_done (curl));

  /* Matches nothing that was ever there: 404 meanwhile, at once */
  {
    g_autofree char *other_target = g_strdup_printf ("http://127.0.0.1:%u/z", port);
    const char *other_args[] = { "-w", "|%{http_code}", other_target, NULL };

    unknown = sm_test_curl (other_args);
    g_assert_cmpstr (unknown, ==, "404 Not Found\n|404");
  }
  g_assert_false (sm_test_curl_is_done (curl));

  /* The new version registers: the waiting request goes to it */
  v2 = sm_test_http_service_start (daemon, port, "", "/x/", "v2");
  g_assert_cmpstr (sm_test_curl_wait (curl, TIMEOUT_MS), ==, "v2 GET /x/1\n|200");

  sm_test_http_service_stop (v2);
  sm_test_http_service_stop (other);
  sm_test_daemon_stop (daemon);
}

typedef struct {
  guint16 port;
} PortContext;

static gpointer
hold_timeout_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = sm_test_http_get (connection, "x", "/gone/1");

  g_assert_cmpuint (reply->status, ==, 503);
  g_assert_nonnull (soup_message_headers_get_one (reply->headers, "Retry-After"));
  return NULL;
}

static void
test_hold_timeout_gives_503 (void)
{
  SmTestDaemon *daemon = sm_test_http_daemon_start (1.5, TRUE, NULL);
  PortContext context = { sm_test_free_port () };
  SmTestProcess *service;

  service = sm_test_http_service_start (daemon, context.port, "", "/gone/", "gone");
  sm_test_http_service_stop (service);
  sm_test_daemon_wait_for_line (daemon, "left 127.0.0.1:", TIMEOUT_MS);

  sm_test_thread_join (sm_test_thread_new ("hold-timeout", hold_timeout_client, &context),
                       TIMEOUT_MS);
  sm_test_daemon_stop (daemon);
}

/* ---- Redeploy under load ---- */

#define N_LOAD_CONNECTIONS 4

typedef struct {
  guint16 port;
  gint    stop;
  gint    n_total;
  gint    n_by_version[3];   /* [1]: v1, [2]: v2 */
} Load;

typedef struct {
  Load  *load;
  guint  index;
} LoadClient;

/* GETs back to back on one keep-alive connection; any failure, or a
 * closed connection, fails the test */
static gpointer
load_client (gpointer data)
{
  LoadClient *client = data;
  Load *load = client->load;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (load->port);

  for (guint i = 0; !g_atomic_int_get (&load->stop); i++)
    {
      g_autofree char *path = g_strdup_printf ("/r/%u/%u", client->index, i);
      g_autoptr(SmTestHttpReply) reply = sm_test_http_get (connection, "x", path);
      const char *text = sm_test_http_reply_text (reply);
      guint version;

      if (reply->status != 200)
        sm_test_fail ("GET %s: status %u: %s", path, reply->status, text);
      g_assert_true (reply->keep_alive);
      g_assert_true (text[0] == 'v' && (text[1] == '1' || text[1] == '2'));
      g_assert_cmpstr (text + 2, ==, strchr (text, ' '));
      version = (guint) (text[1] - '0');
      g_assert_true (g_str_has_suffix (text, "\n") && strstr (text, path) != NULL);
      g_atomic_int_inc (&load->n_by_version[version]);
      g_atomic_int_inc (&load->n_total);
      /* The test thread waits for these counts on its main context */
      g_main_context_wakeup (NULL);
    }
  return NULL;
}

static void
redeploy_under_load (gboolean abrupt)
{
  SmTestDaemon *daemon = sm_test_http_daemon_start (30, FALSE, NULL);
  Load load = { sm_test_free_port () };
  LoadClient clients[N_LOAD_CONNECTIONS];
  SmTestThread *threads[N_LOAD_CONNECTIONS];
  SmTestProcess *v1, *v2;
  gint total_at_switch;

  v1 = sm_test_http_service_start (daemon, load.port, "", "/r/", "v1");
  for (guint i = 0; i < N_LOAD_CONNECTIONS; i++)
    {
      clients[i].load = &load;
      clients[i].index = i;
      threads[i] = sm_test_thread_new ("load", load_client, &clients[i]);
    }
  sm_test_wait_for_int (&load.n_total, 300, TIMEOUT_MS, "requests to v1");

  if (abrupt)
    {
      /* Requests in flight die with it: they must be sent again */
      sm_test_process_send_signal (v1, SIGKILL);
      g_assert_cmpint (sm_test_process_wait_exit (v1, TIMEOUT_MS), ==, -SIGKILL);
      sm_test_process_free (v1);
    }
  else
    {
      /* GoAway: in-flight requests finish there, new ones wait */
      sm_test_http_service_stop (v1);
    }
  total_at_switch = g_atomic_int_get (&load.n_total);
  g_test_message ("v1 is gone after %d requests", total_at_switch);

  v2 = sm_test_http_service_start (daemon, load.port, "", "/r/", "v2");
  sm_test_wait_for_int (&load.n_by_version[2], 300, TIMEOUT_MS, "requests to v2");
  sm_test_wait_for_int (&load.n_total, 1000, TIMEOUT_MS, "1000 requests");

  g_atomic_int_set (&load.stop, 1);
  for (guint i = 0; i < N_LOAD_CONNECTIONS; i++)
    sm_test_thread_join (threads[i], TIMEOUT_MS);
  g_test_message ("%d requests: %d to v1, %d to v2, none failed", load.n_total,
                  load.n_by_version[1], load.n_by_version[2]);
  g_assert_cmpint (load.n_by_version[1] + load.n_by_version[2], ==, load.n_total);

  sm_test_http_service_stop (v2);
  sm_test_daemon_stop (daemon);
}

static void
test_redeploy_graceful (void)
{
  redeploy_under_load (FALSE);
}

static void
test_redeploy_sigkill (void)
{
  redeploy_under_load (TRUE);
}

/* ---- Requests in flight when a service dies ---- */

typedef struct {
  guint16 port;
} InFlightContext;

static gpointer
post_in_flight_client (gpointer data)
{
  InFlightContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  /* Not idempotent: never sent twice, 502 */
  sm_test_http_send (connection, "POST /slow?ms=5000&post HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Length: 4\r\n\r\ndata");
  reply = sm_test_http_receive (connection, "POST", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->status, ==, 502);
  g_assert_true (reply->keep_alive);
  g_clear_pointer (&reply, sm_test_http_reply_free);

  /* The connection is still good: this one waits for v2 */
  reply = sm_test_http_get (connection, "x", "/after-502");
  g_assert_cmpstr (sm_test_http_reply_text (reply), ==, "v2 GET /after-502\n");
  return NULL;
}

static gpointer
get_in_flight_client (gpointer data)
{
  InFlightContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;

  /* Idempotent and no response byte yet: sent again, to the new version */
  reply = sm_test_http_get (connection, "x", "/slow?ms=5000&get");
  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_cmpstr (sm_test_http_reply_text (reply), ==, "v2 GET /slow?ms=5000&get\n");
  return NULL;
}

static void
test_in_flight_when_service_dies (void)
{
  SmTestDaemon *daemon = sm_test_http_daemon_start (30, TRUE, NULL);
  InFlightContext context = { sm_test_free_port () };
  SmTestProcess *v1, *v2;
  SmTestThread *post, *get;

  v1 = sm_test_http_service_start (daemon, context.port, "", "/", "v1");
  post = sm_test_thread_new ("post", post_in_flight_client, &context);
  get = sm_test_thread_new ("get", get_in_flight_client, &context);
  sm_test_daemon_wait_for_line (daemon, "/slow?ms=5000&post goes to", TIMEOUT_MS);
  sm_test_daemon_wait_for_line (daemon, "/slow?ms=5000&get goes to", TIMEOUT_MS);

  sm_test_process_send_signal (v1, SIGKILL);
  g_assert_cmpint (sm_test_process_wait_exit (v1, TIMEOUT_MS), ==, -SIGKILL);
  sm_test_process_free (v1);
  sm_test_daemon_wait_for_line (daemon, "sending GET /slow?ms=5000&get again", TIMEOUT_MS);

  v2 = sm_test_http_service_start (daemon, context.port, "", "/", "v2");
  sm_test_thread_join (post, TIMEOUT_MS);
  sm_test_thread_join (get, TIMEOUT_MS);

  sm_test_http_service_stop (v2);
  sm_test_daemon_stop (daemon);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/http/wait/request-waits-for-returning-service",
                   test_request_waits_for_returning_service);
  g_test_add_func ("/http/wait/hold-timeout-gives-503", test_hold_timeout_gives_503);
  g_test_add_func ("/http/redeploy/graceful-under-load", test_redeploy_graceful);
  g_test_add_func ("/http/redeploy/sigkill-under-load", test_redeploy_sigkill);
  g_test_add_func ("/http/retry/in-flight-when-service-dies", test_in_flight_when_service_dies);

  return g_test_run ();
}
