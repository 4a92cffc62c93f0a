/* SPDX-License-Identifier: MIT */
/*
 * Idle streams to an HTTP service are pooled per route, not per public
 * connection: keep-alive clients taking turns share a stream, many idle
 * keep-alive clients leave at most SM_ROUTE_MAX_IDLE_STREAMS streams open
 * at the service, a stream the service closes while idle costs no
 * request, and idle streams do not hold up the daemon's shutdown.
 *
 * The daemon is a process; the service runs in this process on the raw
 * yamux session (SmTestService), so the test sees every stream it gets
 * and when the daemon closes one. Clients are blocking sockets in worker
 * threads. The route's pool itself is also tested in process, on routes
 * over socketpairs (sm-test-routes).
 */
#include "config.h"

#include <string.h>

#include "sm-route.h"
#include "sm-test-http-client.h"
#include "sm-test-http-responder.h"
#include "sm-test-routes.h"
#include "sm-test-support.h"
#include "sm-test-util.h"

#define TIMEOUT_MS 60000
#define N_IDLE_CLIENTS 100

G_STATIC_ASSERT (N_IDLE_CLIENTS < SM_ROUTE_MAX_IDLE_STREAMS);

typedef struct {
  SmTestDaemon         *daemon;
  guint16               port;
  SmTestService        *service;
  SmTestHttpResponder  *responder;
  guint                 n_served;   /* streams handed to the responder */
  SmTestHttpConnection *clients[N_IDLE_CLIENTS];
  gint                  done;       /* set by a worker thread */
} Fixture;

static void
fixture_setup (Fixture            *fixture,
               const char * const *daemon_args)
{
  memset (fixture, 0, sizeof *fixture);
  fixture->daemon = sm_test_http_daemon_start (30, FALSE, daemon_args);
  fixture->port = sm_test_free_port ();
  fixture->service = sm_test_service_new_http (fixture->daemon->control_address, fixture->port,
                                               NULL, "", "");
  sm_test_service_set_mode (fixture->service, SM_TEST_SERVICE_QUEUE);
  fixture->responder = sm_test_http_responder_new ("pool");
}

static void
fixture_teardown (Fixture *fixture)
{
  for (guint i = 0; i < N_IDLE_CLIENTS; i++)
    g_clear_pointer (&fixture->clients[i], sm_test_http_connection_free);
  /* The service leaves first: its idle streams close with its route */
  g_clear_pointer (&fixture->service, sm_test_service_free);
  g_clear_pointer (&fixture->responder, sm_test_http_responder_free);
  if (fixture->daemon != NULL)
    sm_test_daemon_stop (fixture->daemon);
}

/* Hands the streams the service got to the responder */
static void
serve_new_streams (Fixture *fixture)
{
  while (fixture->n_served < sm_test_service_get_n_accepted (fixture->service))
    {
      g_autoptr(SmYamuxStream) stream = sm_test_service_next_stream (fixture->service,
                                                                     TIMEOUT_MS);

      sm_test_http_responder_serve (fixture->responder, G_IO_STREAM (stream));
      fixture->n_served++;
    }
}

static gboolean
serve_until_done (gpointer data)
{
  Fixture *fixture = data;

  serve_new_streams (fixture);
  return g_atomic_int_get (&fixture->done) != 0;
}

/* Runs @func in a worker thread while the service answers every stream */
static void
run_client (Fixture     *fixture,
            const char  *name,
            GThreadFunc  func)
{
  SmTestThread *thread;

  g_atomic_int_set (&fixture->done, 0);
  thread = sm_test_thread_new (name, func, fixture);
  if (!sm_test_wait_until (serve_until_done, fixture, TIMEOUT_MS))
    sm_test_fail ("%s did not finish within %u ms", name, TIMEOUT_MS);
  sm_test_thread_join (thread, TIMEOUT_MS);
}

/* The responder's answer to "GET @path" */
static void
assert_response (SmTestHttpConnection *connection,
                 const char           *path,
                 gboolean              keep_alive)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SmTestHttpReply) reply = sm_test_http_receive (connection, "GET", &error);
  g_autofree char *expected = g_strdup_printf ("pool GET %s\n", path);

  g_assert_no_error (error);
  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_cmpint (reply->keep_alive, ==, keep_alive);
  g_assert_cmpstr (sm_test_http_reply_text (reply), ==, expected);
}

/* "GET @path", keep-alive, with @extra_fields ("" or lines ending in CRLF) */
static void
send_get (SmTestHttpConnection *connection,
          const char           *path,
          const char           *extra_fields)
{
  g_autofree char *request = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", path,
                                              extra_fields);

  sm_test_http_send (connection, request);
}

static void
assert_get (SmTestHttpConnection *connection,
            const char           *path)
{
  send_get (connection, path, "");
  assert_response (connection, path, TRUE);
}

/* ---- Clients taking turns ---- */

static gpointer
taking_turns_client (gpointer data)
{
  Fixture *fixture = data;

  fixture->clients[0] = sm_test_http_connect (fixture->port);
  fixture->clients[1] = sm_test_http_connect (fixture->port);
  for (guint i = 0; i < 3; i++)
    {
      assert_get (fixture->clients[0], "/a");
      assert_get (fixture->clients[1], "/b");
    }
  sm_test_signal_int (&fixture->done, 1);
  return NULL;
}

/* Between its requests a connection holds no stream: the other one's
 * request goes on the same stream */
static void
test_clients_taking_turns_share_a_stream (void)
{
  Fixture fixture;

  fixture_setup (&fixture, NULL);
  run_client (&fixture, "taking turns", taking_turns_client);

  g_assert_cmpuint (sm_test_service_get_n_accepted (fixture.service), ==, 1);
  g_assert_cmpuint (sm_test_http_responder_get_n_requests (fixture.responder), ==, 6);
  fixture_teardown (&fixture);
}

static gpointer
closing_client (gpointer data)
{
  Fixture *fixture = data;
  g_autoptr(SmTestHttpConnection) closing = sm_test_http_connect (fixture->port);

  send_get (closing, "/last", "Connection: close\r\n");
  assert_response (closing, "/last", FALSE);
  g_assert_true (sm_test_http_closed_by_peer (closing));

  fixture->clients[0] = sm_test_http_connect (fixture->port);
  assert_get (fixture->clients[0], "/next");
  sm_test_signal_int (&fixture->done, 1);
  return NULL;
}

/* A connection that closes after its response leaves its stream to the
 * others */
static void
test_closing_client_leaves_its_stream (void)
{
  Fixture fixture;

  fixture_setup (&fixture, NULL);
  run_client (&fixture, "closing client", closing_client);

  g_assert_cmpuint (sm_test_service_get_n_accepted (fixture.service), ==, 1);
  fixture_teardown (&fixture);
}

/* ---- Many idle keep-alive clients ---- */

static gpointer
many_clients_send (gpointer data)
{
  Fixture *fixture = data;
  char path[32];

  for (guint i = 0; i < N_IDLE_CLIENTS; i++)
    {
      g_snprintf (path, sizeof path, "/c%u", i);
      fixture->clients[i] = sm_test_http_connect (fixture->port);
      send_get (fixture->clients[i], path, "");
    }
  for (guint i = 0; i < N_IDLE_CLIENTS; i++)
    {
      g_snprintf (path, sizeof path, "/c%u", i);
      assert_response (fixture->clients[i], path, TRUE);
    }
  sm_test_signal_int (&fixture->done, 1);
  return NULL;
}

static gpointer
many_clients_again (gpointer data)
{
  Fixture *fixture = data;

  for (guint i = 0; i < N_IDLE_CLIENTS; i += 10)
    assert_get (fixture->clients[i], "/again");
  sm_test_signal_int (&fixture->done, 1);
  return NULL;
}

static gboolean
all_requests_arrived (gpointer data)
{
  Fixture *fixture = data;

  return sm_test_service_get_n_accepted (fixture->service) >= N_IDLE_CLIENTS;
}

static gboolean
within_idle_bound (gpointer data)
{
  Fixture *fixture = data;

  return sm_test_http_responder_get_n_streams (fixture->responder) <= SM_ROUTE_MAX_IDLE_STREAMS;
}

static gboolean
no_stream_open (gpointer data)
{
  Fixture *fixture = data;

  return sm_test_http_responder_get_n_streams (fixture->responder) == 0;
}

/* Requests in flight at once each get a stream; once answered, their
 * clients idle and hold none: the route keeps the streams (within its
 * bound) until they are unused for SM_ROUTE_IDLE_STREAM_TIMEOUT_US, then
 * closes them while the clients stay connected */
static void
test_idle_clients_leave_bounded_streams (void)
{
  Fixture fixture;
  SmTestThread *thread;

  fixture_setup (&fixture, NULL);

  /* No answer before every request has its stream: one stream each */
  thread = sm_test_thread_new ("many clients", many_clients_send, &fixture);
  if (!sm_test_wait_until (all_requests_arrived, &fixture, TIMEOUT_MS))
    sm_test_fail ("the service got %u streams, expected %u",
                  sm_test_service_get_n_accepted (fixture.service), N_IDLE_CLIENTS);
  serve_new_streams (&fixture);
  sm_test_thread_join (thread, TIMEOUT_MS);
  g_assert_cmpuint (sm_test_service_get_n_accepted (fixture.service), ==, N_IDLE_CLIENTS);

  /* The clients hold their connections; the route closes the streams
   * once unused */
  g_assert_true (within_idle_bound (&fixture));
  if (!sm_test_wait_until (no_stream_open, &fixture, TIMEOUT_MS))
    sm_test_fail ("%u streams open at the service with %u idle clients, expected none",
                  sm_test_http_responder_get_n_streams (fixture.responder), N_IDLE_CLIENTS);
  g_test_message ("%u streams open at the service with %u idle clients",
                  sm_test_http_responder_get_n_streams (fixture.responder), N_IDLE_CLIENTS);

  /* The idle connections still work */
  run_client (&fixture, "clients again", many_clients_again);
  g_assert_cmpuint (sm_test_http_responder_get_n_requests (fixture.responder), ==,
                    N_IDLE_CLIENTS + N_IDLE_CLIENTS / 10);
  g_assert_true (within_idle_bound (&fixture));
  fixture_teardown (&fixture);
}

/* ---- The service closes an idle stream ---- */

static gpointer
one_request (gpointer data)
{
  Fixture *fixture = data;
  g_autoptr(SmTestHttpReply) reply = sm_test_http_get (fixture->clients[0], "x", "/");

  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_true (reply->keep_alive);
  sm_test_signal_int (&fixture->done, 1);
  return g_strdup (sm_test_http_reply_text (reply));
}

/* Answers the request on @stream with @body */
static void
answer_on (SmYamuxStream *stream,
           const char    *body)
{
  g_autofree char *head = sm_test_stream_read_until (stream, "\r\n\r\n");
  g_autofree char *response = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                                               strlen (body), body);

  g_assert_true (g_str_has_prefix (head, "GET / HTTP/1.1\r\n"));
  sm_test_stream_write (stream, response);
}

/* One request from the first client, answered with @body on @stream, or
 * on the service's next stream if @stream is NULL; returns that stream */
static SmYamuxStream *
request_answered (Fixture       *fixture,
                  SmYamuxStream *stream,
                  const char    *body)
{
  SmTestThread *thread = sm_test_thread_new ("client", one_request, fixture);
  g_autofree char *text = NULL;

  if (stream == NULL)
    stream = sm_test_service_next_stream (fixture->service, TIMEOUT_MS);
  else
    g_object_ref (stream);
  answer_on (stream, body);
  text = sm_test_thread_join (thread, TIMEOUT_MS);
  g_assert_cmpstr (text, ==, body);
  return stream;
}

/* @data: whether the service resets the stream rather than closing it */
static void
test_service_closes_idle_stream (gconstpointer data)
{
  gboolean reset = GPOINTER_TO_INT (data);
  Fixture fixture;
  g_autoptr(SmYamuxStream) first = NULL;
  g_autoptr(SmYamuxStream) second = NULL;
  g_autoptr(SmYamuxStream) third = NULL;

  fixture_setup (&fixture, NULL);
  fixture.clients[0] = sm_test_http_connect (fixture.port);
  first = request_answered (&fixture, NULL, "one");

  if (reset)
    {
      /* The next request comes at once: it may find the stream in the
       * pool still, or be sent on it before the reset arrives */
      sm_yamux_stream_reset (first);
    }
  else
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *rest = NULL;

      /* FIN: the daemon drops the idle stream and closes its side */
      g_output_stream_close (g_io_stream_get_output_stream (G_IO_STREAM (first)), NULL, &error);
      g_assert_no_error (error);
      rest = sm_test_stream_read_until (first, NULL);
      g_assert_cmpstr (rest, ==, "");
    }

  /* On a new stream, which is kept in turn */
  second = request_answered (&fixture, NULL, "two");
  g_assert_cmpuint (sm_test_service_get_n_accepted (fixture.service), ==, 2);
  third = request_answered (&fixture, second, "three");
  g_assert_cmpuint (sm_test_service_get_n_accepted (fixture.service), ==, 2);
  fixture_teardown (&fixture);
}

/* ---- Shutdown ---- */

static gpointer
request_and_leave (gpointer data)
{
  Fixture *fixture = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (fixture->port);

  assert_get (connection, "/bye");
  sm_test_signal_int (&fixture->done, 1);
  return NULL;
}

/* Idle streams do not hold up the daemon's drain: with only idle streams
 * left, it closes them and exits long before its drain timeout */
static void
test_sigterm_with_idle_streams (void)
{
  const char *args[] = { "--drain-timeout", "600", NULL };
  Fixture fixture;

  fixture_setup (&fixture, args);
  run_client (&fixture, "request and leave", request_and_leave);
  g_assert_cmpuint (sm_test_http_responder_get_n_streams (fixture.responder), ==, 1);

  /* SIGTERM; an exit within the 600 s of the drain, with status 0 */
  sm_test_daemon_stop (g_steal_pointer (&fixture.daemon));
  g_assert_true (sm_test_wait_until (no_stream_open, &fixture, TIMEOUT_MS));
  fixture_teardown (&fixture);
}

/* ---- The route's pool, in process ---- */

static SmYamuxStream *
open_stream (SmRoute *route)
{
  g_autoptr(GError) error = NULL;
  SmYamuxStream *stream = sm_route_open_stream (route, &error);

  g_assert_no_error (error);
  return stream;
}

/* Opens @n streams, uses them and keeps them idle */
static void
keep_new_streams (SmRoute *route,
                  guint    n)
{
  for (guint i = 0; i < n; i++)
    {
      SmYamuxStream *stream = open_stream (route);

      sm_route_stream_finished (route, 0, 0);
      g_assert_true (sm_route_keep_idle_stream (route, stream, NULL));
    }
}

/* At most SM_ROUTE_MAX_IDLE_STREAMS are kept; the last kept is taken
 * first, with its read watch, and counts as active again */
static void
test_route_pool_bound_and_order (void)
{
  SmTestRoutes routes;
  SmRoute *route;
  g_autoptr(SmYamuxStream) last = NULL;
  g_autoptr(SmYamuxStream) extra = NULL;
  g_autoptr(SmYamuxStream) taken = NULL;
  SmEventWatch *watch = NULL;

  sm_test_routes_init (&routes);
  route = sm_test_routes_add (&routes, "", "");
  keep_new_streams (route, SM_ROUTE_MAX_IDLE_STREAMS - 1);
  last = open_stream (route);
  sm_route_stream_finished (route, 0, 0);
  g_assert_true (sm_route_keep_idle_stream (route, g_object_ref (last), NULL));
  g_assert_cmpuint (sm_route_get_idle_streams (route), ==, SM_ROUTE_MAX_IDLE_STREAMS);
  g_assert_cmpuint (sm_route_get_active_streams (route), ==, 0);

  /* Full: the caller closes it */
  extra = open_stream (route);
  g_assert_false (sm_route_keep_idle_stream (route, extra, NULL));
  sm_route_stream_finished (route, 0, 0);
  g_io_stream_close (G_IO_STREAM (extra), NULL, NULL);

  taken = sm_route_take_idle_stream (route, &watch);
  g_assert_true (taken == last);
  g_assert_nonnull (watch);
  g_assert_true (sm_event_watch_is_polled (watch));
  g_assert_cmpuint (sm_route_get_idle_streams (route), ==, SM_ROUTE_MAX_IDLE_STREAMS - 1);
  g_assert_cmpuint (sm_route_get_active_streams (route), ==, 1);
  g_assert_cmpuint (sm_route_get_total_streams (route), ==, SM_ROUTE_MAX_IDLE_STREAMS + 1);

  /* Back, with its watch */
  sm_route_stream_finished (route, 0, 0);
  g_assert_true (sm_route_keep_idle_stream (route, g_steal_pointer (&taken), watch));
  sm_route_close_idle_streams (route);
  g_assert_cmpuint (sm_route_get_idle_streams (route), ==, 0);
  g_assert_null (sm_route_take_idle_stream (route, &watch));
  g_assert_null (watch);
  sm_test_routes_clear (&routes);
}

/* A route going away closes its idle streams and keeps no more */
static void
test_route_pool_gone (void)
{
  SmTestRoutes routes;
  SmRoute *route;
  g_autoptr(SmYamuxStream) stream = NULL;
  SmEventWatch *watch = NULL;

  sm_test_routes_init (&routes);
  route = sm_test_routes_add (&routes, "", "");
  keep_new_streams (route, 3);
  stream = open_stream (route);
  sm_route_stream_finished (route, 0, 0);

  sm_test_routes_leave (&routes, route);
  g_assert_cmpuint (sm_route_get_idle_streams (route), ==, 0);
  g_assert_false (sm_route_keep_idle_stream (route, stream, NULL));
  g_assert_null (sm_route_take_idle_stream (route, &watch));
  sm_test_routes_clear (&routes);
}

static gboolean
no_idle_stream (gpointer data)
{
  return sm_route_get_idle_streams (data) == 0;
}

/* Unused for SM_ROUTE_IDLE_STREAM_TIMEOUT_US, idle streams close */
static void
test_route_pool_timeout (void)
{
  SmTestRoutes routes;
  SmRoute *route;

  sm_test_routes_init (&routes);
  route = sm_test_routes_add (&routes, "", "");
  keep_new_streams (route, 2);
  g_assert_true (sm_test_wait_until (no_idle_stream, route, TIMEOUT_MS));
  sm_test_routes_clear (&routes);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/http/pool/route/bound-and-order", test_route_pool_bound_and_order);
  g_test_add_func ("/http/pool/route/gone-closes-idle-streams", test_route_pool_gone);
  g_test_add_func ("/http/pool/route/idle-streams-time-out", test_route_pool_timeout);

  g_test_add_func ("/http/pool/clients-taking-turns-share-a-stream",
                   test_clients_taking_turns_share_a_stream);
  g_test_add_func ("/http/pool/closing-client-leaves-its-stream",
                   test_closing_client_leaves_its_stream);
  g_test_add_func ("/http/pool/idle-clients-leave-bounded-streams",
                   test_idle_clients_leave_bounded_streams);
  g_test_add_data_func ("/http/pool/service-closes-idle-stream", GINT_TO_POINTER (FALSE),
                        test_service_closes_idle_stream);
  g_test_add_data_func ("/http/pool/service-resets-idle-stream", GINT_TO_POINTER (TRUE),
                        test_service_closes_idle_stream);
  g_test_add_func ("/http/pool/sigterm-with-idle-streams", test_sigterm_with_idle_streams);

  return g_test_run ();
}
