/* SPDX-License-Identifier: MIT */
/* Route choice for HTTP requests: ranking, turns among replicas, and
 * waiting for services that left (SmHttpMatcher) */
#include "config.h"

#include <sys/socket.h>

#include "sm-http-matcher.h"

#define HOLD_US (30 * G_USEC_PER_SEC)

typedef struct {
  GPtrArray *routes;     /* as a port holds them, in registration order */
  GPtrArray *peers;      /* the other ends of the sessions' socketpairs */
  guint64    next_id;
} Routes;

static void
routes_init (Routes *routes)
{
  routes->routes = g_ptr_array_new_with_free_func (g_object_unref);
  routes->peers = g_ptr_array_new_with_free_func (g_object_unref);
  routes->next_id = 1;
}

static void
routes_clear (Routes *routes)
{
  for (guint i = 0; i < routes->routes->len; i++)
    {
      SmYamuxSession *session = sm_route_get_session (g_ptr_array_index (routes->routes, i));

      if (!sm_yamux_session_is_closed (session))
        sm_yamux_session_close (session);
    }
  g_ptr_array_unref (routes->routes);
  g_ptr_array_unref (routes->peers);
  /* Deferred closes and finalizers */
  for (guint i = 0; i < 100 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);
}

static SmRoute *
add_route (Routes        *routes,
           SmHttpMatcher *matcher,
           const char    *domain_suffix,
           const char    *path_prefix)
{
  g_autoptr(SmSocketDefinition) definition = sm_socket_definition_new (8000);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) ours = NULL;
  g_autoptr(GSocket) theirs = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(SmYamuxSession) session = NULL;
  g_autofree char *peer = NULL;
  SmYamuxConfig config;
  SmRoute *route;
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  ours = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  theirs = g_socket_new_from_fd (fds[1], &error);
  g_assert_no_error (error);
  connection = g_socket_connection_factory_create_connection (ours);
  sm_yamux_config_init (&config);
  config.keepalive_interval_ms = 0;
  session = sm_yamux_session_new (G_IO_STREAM (connection), SM_YAMUX_ROLE_CLIENT, &config, NULL);

  sm_socket_definition_set_http (definition, domain_suffix, path_prefix);
  peer = g_strdup_printf ("service-%" G_GUINT64_FORMAT, routes->next_id);
  route = sm_route_new (routes->next_id++, definition, session, peer);
  g_ptr_array_add (routes->routes, route);
  g_ptr_array_add (routes->peers, g_steal_pointer (&theirs));
  sm_http_matcher_route_added (matcher, route);
  return route;
}

static void
remove_route (Routes        *routes,
              SmHttpMatcher *matcher,
              SmRoute       *route,
              gint64         now)
{
  g_autoptr(SmRoute) hold = g_object_ref (route);

  sm_yamux_session_close (sm_route_get_session (route));
  g_assert_true (sm_route_is_gone (route));
  g_ptr_array_remove (routes->routes, route);
  sm_http_matcher_route_removed (matcher, route, now);
}

static SmRoute *
expect_found (SmHttpMatcher *matcher,
              Routes        *routes,
              const char    *host,
              const char    *path,
              gint64         now)
{
  SmRoute *route = NULL;

  g_assert_cmpint (sm_http_matcher_match (matcher, routes->routes, host, path, now, &route), ==,
                   SM_HTTP_MATCH_FOUND);
  g_assert_nonnull (route);
  return route;
}

static void
expect_result (SmHttpMatcher *matcher,
               Routes        *routes,
               const char    *host,
               const char    *path,
               gint64         now,
               SmHttpMatch    expected)
{
  SmRoute *route = NULL;

  g_assert_cmpint (sm_http_matcher_match (matcher, routes->routes, host, path, now, &route), ==,
                   expected);
  g_assert_null (route);
}

static void
test_ranking (void)
{
  g_autoptr(SmHttpMatcher) matcher = sm_http_matcher_new (HOLD_US);
  Routes routes;
  SmRoute *a, *ab, *domain, *dot_domain_a, *all;

  routes_init (&routes);
  a = add_route (&routes, matcher, "", "/a/");
  ab = add_route (&routes, matcher, "", "/a/b/");
  domain = add_route (&routes, matcher, "example.com", "");
  dot_domain_a = add_route (&routes, matcher, ".Example.com", "/a/");

  /* Longer domain suffix first, then longer path prefix */
  g_assert_true (expect_found (matcher, &routes, "x.example.com", "/a/b/c", 0) == dot_domain_a);
  g_assert_true (expect_found (matcher, &routes, "example.com", "/a/b/c", 0) == domain);
  g_assert_true (expect_found (matcher, &routes, "other.org", "/a/b/c", 0) == ab);
  g_assert_true (expect_found (matcher, &routes, "other.org", "/a/bc", 0) == a);
  /* The codec hands hosts lowercased; suffixes match in any case */
  g_assert_true (expect_found (matcher, &routes, "www.example.com", "/a/", 0) == dot_domain_a);
  /* "example.com" is a plain suffix, as in the original */
  g_assert_true (expect_found (matcher, &routes, "notexample.com", "/", 0) == domain);
  /* Nothing matches, nothing left: 404 */
  expect_result (matcher, &routes, "other.org", "/b", 0, SM_HTTP_MATCH_NONE);
  expect_result (matcher, &routes, "", "/", 0, SM_HTTP_MATCH_NONE);

  /* A catch-all ranks last */
  all = add_route (&routes, matcher, "", "");
  g_assert_true (expect_found (matcher, &routes, "other.org", "/b", 0) == all);
  g_assert_true (expect_found (matcher, &routes, "other.org", "/a/x", 0) == a);

  routes_clear (&routes);
}

static void
test_turns (void)
{
  g_autoptr(SmHttpMatcher) matcher = sm_http_matcher_new (HOLD_US);
  Routes routes;
  SmRoute *r1, *r2, *r3, *r4, *other;
  SmRoute *picked[6];

  routes_init (&routes);
  r1 = add_route (&routes, matcher, "", "/api/");
  other = add_route (&routes, matcher, "", "/");
  r2 = add_route (&routes, matcher, "", "/api/");
  r3 = add_route (&routes, matcher, "", "/api/");

  /* Earliest registered first, then in turn */
  for (guint i = 0; i < G_N_ELEMENTS (picked); i++)
    picked[i] = expect_found (matcher, &routes, "h", "/api/x", 0);
  g_assert_true (picked[0] == r1 && picked[1] == r2 && picked[2] == r3);
  g_assert_true (picked[3] == r1 && picked[4] == r2 && picked[5] == r3);
  g_assert_true (expect_found (matcher, &routes, "h", "/other", 0) == other);

  /* A new replica joins the turns at once */
  r4 = add_route (&routes, matcher, "", "/api/");
  g_assert_true (expect_found (matcher, &routes, "h", "/api/x", 0) == r4);
  g_assert_true (expect_found (matcher, &routes, "h", "/api/x", 0) == r1);

  /* A replica going away leaves the turns; the others go on serving */
  remove_route (&routes, matcher, r2, 0);
  for (guint i = 0; i < 6; i++)
    g_assert_true (expect_found (matcher, &routes, "h", "/api/x", 0) != r2);

  routes_clear (&routes);
}

static void
test_gone_before_removed (void)
{
  g_autoptr(SmHttpMatcher) matcher = sm_http_matcher_new (HOLD_US);
  Routes routes;
  SmRoute *a, *ab;

  routes_init (&routes);
  a = add_route (&routes, matcher, "", "/a/");
  ab = add_route (&routes, matcher, "", "/a/b/");

  /* Its session failed; the port has not removed it yet: wait, no 404
   * and no worse match */
  sm_yamux_session_close (sm_route_get_session (ab));
  expect_result (matcher, &routes, "h", "/a/b/x", 0, SM_HTTP_MATCH_WAIT);
  g_assert_true (expect_found (matcher, &routes, "h", "/a/x", 0) == a);
  sm_yamux_session_close (sm_route_get_session (a));
  expect_result (matcher, &routes, "h", "/a/x", 0, SM_HTTP_MATCH_WAIT);
  expect_result (matcher, &routes, "h", "/b", 0, SM_HTTP_MATCH_NONE);

  routes_clear (&routes);
}

static void
test_waiting_for_returning_service (void)
{
  g_autoptr(SmHttpMatcher) matcher = sm_http_matcher_new (HOLD_US);
  Routes routes;
  SmRoute *a, *ab, *gone_but_listed, *back;

  routes_init (&routes);
  a = add_route (&routes, matcher, "", "/a/");
  ab = add_route (&routes, matcher, "", "/a/b/");

  /* /a/b/ left: its requests wait rather than go to /a/ */
  remove_route (&routes, matcher, ab, 1000);
  g_assert_cmpuint (sm_http_matcher_get_n_recent (matcher, 1000), ==, 1);
  expect_result (matcher, &routes, "h", "/a/b/x", 1000, SM_HTTP_MATCH_WAIT);
  g_assert_true (expect_found (matcher, &routes, "h", "/a/x", 1000) == a);
  expect_result (matcher, &routes, "h", "/c", 1000, SM_HTTP_MATCH_NONE);

  /* A route that is gone but not yet removed is a service that just left */
  gone_but_listed = add_route (&routes, matcher, "", "/a/b/c/");
  sm_yamux_session_close (sm_route_get_session (gone_but_listed));
  expect_result (matcher, &routes, "h", "/a/b/c/x", 2000, SM_HTTP_MATCH_WAIT);
  expect_result (matcher, &routes, "h", "/a/b/x", 2000, SM_HTTP_MATCH_WAIT);

  /* Its replacement serves, and the record is forgotten */
  back = add_route (&routes, matcher, "", "/a/b/");
  g_assert_true (expect_found (matcher, &routes, "h", "/a/b/x", 3000) == back);
  expect_result (matcher, &routes, "h", "/a/b/c/x", 3000, SM_HTTP_MATCH_WAIT);
  g_assert_cmpuint (sm_http_matcher_get_n_recent (matcher, 3000), ==, 0);

  /* After the hold timeout, a service that left is forgotten: 404 */
  remove_route (&routes, matcher, back, 5000);
  remove_route (&routes, matcher, gone_but_listed, 5000);
  expect_result (matcher, &routes, "h", "/a/b/x", 5000 + HOLD_US - 1, SM_HTTP_MATCH_WAIT);
  g_assert_true (expect_found (matcher, &routes, "h", "/a/b/x", 5000 + HOLD_US) == a);
  remove_route (&routes, matcher, a, 6000);
  expect_result (matcher, &routes, "h", "/a/b/x", 6000 + HOLD_US, SM_HTTP_MATCH_NONE);
  g_assert_cmpuint (sm_http_matcher_get_n_recent (matcher, 6000 + HOLD_US), ==, 0);

  routes_clear (&routes);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/http-matcher/ranking", test_ranking);
  g_test_add_func ("/http-matcher/turns-among-replicas", test_turns);
  g_test_add_func ("/http-matcher/waiting-for-a-returning-service",
                   test_waiting_for_returning_service);
  g_test_add_func ("/http-matcher/gone-before-the-port-knows", test_gone_before_removed);

  return g_test_run ();
}
