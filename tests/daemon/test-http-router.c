/* SPDX-License-Identifier: MIT */
/* Which service answers an HTTP request on a port, now or once it is back
 * (SmHttpRouter): matching over the port's routes, requests waiting for a
 * service that left, cancelling, timing out and stopping */
#include "config.h"

#include "sm-http-router.h"
#include "sm-test-routes.h"

#define HOLD_US     (30 * G_USEC_PER_SEC)
#define MAX_WAITING 4

typedef struct {
  SmHttpRouter *router;
  SmTestRoutes  routes;
} Fixture;

/* What a waiting request was told */
typedef struct {
  guint    calls;
  SmRoute *route;
} Answer;

static void
on_route_ready (SmRoute  *route,
                gpointer  user_data)
{
  Answer *answer = user_data;

  answer->calls++;
  answer->route = route;
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  gint64 hold_us = data != NULL ? *(const gint64 *) data : HOLD_US;

  fixture->router = sm_http_router_new ("*:8000", hold_us, MAX_WAITING);
  sm_test_routes_init (&fixture->routes);
}

/* Tests leave no request waiting: their answers live on their stacks */
static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  g_assert_cmpuint (sm_http_router_get_n_waiting (fixture->router), ==, 0);
  g_object_unref (fixture->router);
  sm_test_routes_clear (&fixture->routes);
}

static SmRoute *
add_route (Fixture    *fixture,
           const char *path_prefix)
{
  SmRoute *route = sm_test_routes_add (&fixture->routes, "", path_prefix);

  sm_http_router_add_route (fixture->router, route);
  sm_http_router_flush_waiting (fixture->router);
  return route;
}

static void
remove_route (Fixture *fixture,
              SmRoute *route)
{
  sm_test_routes_leave (&fixture->routes, route);
  sm_http_router_remove_route (fixture->router, route);
}

static SmHttpMatch
match (Fixture    *fixture,
       const char *path,
       SmRoute   **out_route)
{
  return sm_http_router_match (fixture->router, "example.com", path, out_route);
}

static SmHttpWaiter *
wait_for (Fixture    *fixture,
          const char *path,
          Answer     *answer)
{
  return sm_http_router_wait (fixture->router, NULL, "example.com", path, on_route_ready, answer);
}

static void
test_match (Fixture       *fixture,
            gconstpointer  data)
{
  SmRoute *a = add_route (fixture, "/a/");
  SmRoute *route = NULL;

  g_assert_cmpstr (sm_http_router_get_display_name (fixture->router), ==, "*:8000");
  g_assert_cmpint (match (fixture, "/a/x", &route), ==, SM_HTTP_MATCH_FOUND);
  g_assert_true (route == a);
  g_assert_cmpint (match (fixture, "/b/x", &route), ==, SM_HTTP_MATCH_NONE);
  g_assert_null (route);
}

static void
test_departed_route_waits (Fixture       *fixture,
                           gconstpointer  data)
{
  SmRoute *a = add_route (fixture, "/a/");
  SmRoute *route = NULL;

  remove_route (fixture, a);
  g_assert_cmpint (match (fixture, "/a/x", &route), ==, SM_HTTP_MATCH_WAIT);
  g_assert_null (route);
}

static void
test_closed_matches_nothing (Fixture       *fixture,
                             gconstpointer  data)
{
  SmRoute *route = NULL;

  add_route (fixture, "/a/");
  sm_http_router_close (fixture->router);
  g_assert_cmpint (match (fixture, "/a/x", &route), ==, SM_HTTP_MATCH_NONE);
  g_assert_null (route);
}

static void
test_waiter_gets_returning_route (Fixture       *fixture,
                                  gconstpointer  data)
{
  Answer answer = { 0 };
  SmRoute *back;

  remove_route (fixture, add_route (fixture, "/a/"));
  g_assert_nonnull (wait_for (fixture, "/a/x", &answer));
  g_assert_cmpuint (sm_http_router_get_n_waiting (fixture->router), ==, 1);

  /* Another service registering changes nothing for it */
  add_route (fixture, "/b/");
  g_assert_cmpuint (answer.calls, ==, 0);

  back = add_route (fixture, "/a/");
  g_assert_cmpuint (answer.calls, ==, 1);
  g_assert_true (answer.route == back);
  g_assert_cmpuint (sm_http_router_get_n_waiting (fixture->router), ==, 0);
}

static void
test_cancelled_waiter_is_not_answered (Fixture       *fixture,
                                       gconstpointer  data)
{
  Answer answer = { 0 };
  SmHttpWaiter *waiter;

  remove_route (fixture, add_route (fixture, "/a/"));
  waiter = wait_for (fixture, "/a/x", &answer);
  g_assert_nonnull (waiter);

  sm_http_router_cancel_wait (fixture->router, waiter);
  g_assert_cmpuint (sm_http_router_get_n_waiting (fixture->router), ==, 0);
  add_route (fixture, "/a/");
  g_assert_cmpuint (answer.calls, ==, 0);
}

static gboolean
on_test_timeout (gpointer user_data)
{
  g_error ("no answer within the test's timeout");
  return G_SOURCE_REMOVE;
}

static void
test_waiter_times_out (Fixture       *fixture,
                       gconstpointer  data)
{
  Answer answer = { 0 };
  guint timeout;

  remove_route (fixture, add_route (fixture, "/a/"));
  g_assert_nonnull (wait_for (fixture, "/a/x", &answer));

  timeout = g_timeout_add_seconds (10, on_test_timeout, NULL);
  while (answer.calls == 0)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout);

  g_assert_cmpuint (answer.calls, ==, 1);
  g_assert_null (answer.route);
  g_assert_cmpuint (sm_http_router_get_n_waiting (fixture->router), ==, 0);
}

static void
test_stop_waiting (Fixture       *fixture,
                   gconstpointer  data)
{
  Answer answer = { 0 };
  Answer later = { 0 };

  remove_route (fixture, add_route (fixture, "/a/"));
  g_assert_nonnull (wait_for (fixture, "/a/x", &answer));

  /* The port stops listening: waiting requests are answered at once, and
   * no new one may wait */
  sm_http_router_stop_waiting (fixture->router);
  g_assert_cmpuint (answer.calls, ==, 1);
  g_assert_null (answer.route);
  g_assert_null (wait_for (fixture, "/a/x", &later));
  g_assert_cmpuint (later.calls, ==, 0);
}

static void
test_too_many_waiting (Fixture       *fixture,
                       gconstpointer  data)
{
  Answer answers[MAX_WAITING + 1] = { { 0 } };

  remove_route (fixture, add_route (fixture, "/a/"));
  for (guint i = 0; i < MAX_WAITING; i++)
    g_assert_nonnull (wait_for (fixture, "/a/x", &answers[i]));

  g_test_expect_message ("socketmaster", G_LOG_LEVEL_WARNING,
                         "Refusing a request: 4 requests to *:8000 already wait for a service");
  g_assert_null (wait_for (fixture, "/a/x", &answers[MAX_WAITING]));
  g_test_assert_expected_messages ();

  sm_http_router_stop_waiting (fixture->router);
  for (guint i = 0; i < MAX_WAITING; i++)
    g_assert_cmpuint (answers[i].calls, ==, 1);
  g_assert_cmpuint (answers[MAX_WAITING].calls, ==, 0);
}

static void
count_waiting (GSocketAddress *client,
               const char     *host,
               const char     *path,
               gint64          queued_at,
               gpointer        user_data)
{
  GString *seen = user_data;

  g_assert_null (client);
  g_assert_cmpint (queued_at, >, 0);
  g_string_append_printf (seen, "%s%s;", host, path);
}

static void
test_foreach_waiting (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GString) seen = g_string_new (NULL);
  Answer first = { 0 }, second = { 0 };

  remove_route (fixture, add_route (fixture, "/a/"));
  g_assert_nonnull (wait_for (fixture, "/a/1", &first));
  g_assert_nonnull (wait_for (fixture, "/a/2", &second));

  /* Oldest first */
  sm_http_router_foreach_waiting (fixture->router, count_waiting, seen);
  g_assert_cmpstr (seen->str, ==, "example.com/a/1;example.com/a/2;");

  sm_http_router_stop_waiting (fixture->router);
  g_assert_cmpuint (first.calls + second.calls, ==, 2);
}

static void
add_test (const char    *path,
          gconstpointer  data,
          void          (*func) (Fixture *, gconstpointer))
{
  g_test_add (path, Fixture, data, fixture_setup, func, fixture_teardown);
}

int
main (int   argc,
      char *argv[])
{
  static const gint64 short_hold_us = 50 * 1000;

  g_test_init (&argc, &argv, NULL);

  add_test ("/http-router/match", NULL, test_match);
  add_test ("/http-router/departed-route-waits", NULL, test_departed_route_waits);
  add_test ("/http-router/closed-matches-nothing", NULL, test_closed_matches_nothing);
  add_test ("/http-router/waiter-gets-the-returning-route", NULL,
            test_waiter_gets_returning_route);
  add_test ("/http-router/cancelled-waiter-is-not-answered", NULL,
            test_cancelled_waiter_is_not_answered);
  add_test ("/http-router/waiter-times-out", &short_hold_us, test_waiter_times_out);
  add_test ("/http-router/stop-waiting", NULL, test_stop_waiting);
  add_test ("/http-router/too-many-waiting", NULL, test_too_many_waiting);
  add_test ("/http-router/foreach-waiting", NULL, test_foreach_waiting);

  return g_test_run ();
}
