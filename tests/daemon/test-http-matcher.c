/* SPDX-License-Identifier: MIT */
/* Route choice for HTTP requests: ranking, turns among replicas, and
 * waiting for services that left (SmHttpMatcher) */
#include "config.h"

#include <stdlib.h>

#include "sm-http-matcher.h"
#include "sm-test-routes.h"

#define HOLD_US (30 * G_USEC_PER_SEC)

typedef struct {
  SmHttpMatcher *matcher;
  SmTestRoutes   routes;
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  fixture->matcher = sm_http_matcher_new (HOLD_US);
  sm_test_routes_init (&fixture->routes);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  sm_test_routes_clear (&fixture->routes);
  sm_http_matcher_free (fixture->matcher);
}

static SmRoute *
add_route (Fixture    *fixture,
           const char *domain_suffix,
           const char *path_prefix)
{
  SmRoute *route = sm_test_routes_add (&fixture->routes, domain_suffix, path_prefix);

  sm_http_matcher_route_added (fixture->matcher, route);
  return route;
}

/* Its service left at @now, and the port was told */
static void
remove_route (Fixture *fixture,
              SmRoute *route,
              gint64   now)
{
  sm_test_routes_leave (&fixture->routes, route);
  sm_http_matcher_route_removed (fixture->matcher, route, now);
}

static SmRoute *
expect_found (Fixture    *fixture,
              const char *host,
              const char *path,
              gint64      now)
{
  SmRoute *route = NULL;

  g_assert_cmpint (sm_http_matcher_match (fixture->matcher, fixture->routes.routes, host, path,
                                          now, &route), ==, SM_HTTP_MATCH_FOUND);
  g_assert_nonnull (route);
  return route;
}

static void
expect_result (Fixture     *fixture,
               const char  *host,
               const char  *path,
               gint64       now,
               SmHttpMatch  expected)
{
  SmRoute *route = NULL;

  g_assert_cmpint (sm_http_matcher_match (fixture->matcher, fixture->routes.routes, host, path,
                                          now, &route), ==, expected);
  g_assert_null (route);
}

static void
test_ranking (Fixture       *fixture,
              gconstpointer  data)
{
  SmRoute *a = add_route (fixture, "", "/a/");
  SmRoute *ab = add_route (fixture, "", "/a/b/");
  SmRoute *domain = add_route (fixture, "example.com", "");
  SmRoute *dot_domain_a = add_route (fixture, ".Example.com", "/a/");

  /* Longer domain suffix first, then longer path prefix */
  g_assert_true (expect_found (fixture, "x.example.com", "/a/b/c", 0) == dot_domain_a);
  g_assert_true (expect_found (fixture, "example.com", "/a/b/c", 0) == domain);
  g_assert_true (expect_found (fixture, "other.org", "/a/b/c", 0) == ab);
  g_assert_true (expect_found (fixture, "other.org", "/a/bc", 0) == a);
  /* The codec hands hosts lowercased; suffixes match in any case */
  g_assert_true (expect_found (fixture, "www.example.com", "/a/", 0) == dot_domain_a);
  /* Suffixes match at a label boundary, unlike the original */
  expect_result (fixture, "notexample.com", "/", 0, SM_HTTP_MATCH_NONE);
  g_assert_true (expect_found (fixture, "notexample.com", "/a/", 0) == a);
  /* Nothing matches, nothing left: 404 */
  expect_result (fixture, "other.org", "/b", 0, SM_HTTP_MATCH_NONE);
  expect_result (fixture, "", "/", 0, SM_HTTP_MATCH_NONE);
}

static void
test_catch_all_ranks_last (Fixture       *fixture,
                           gconstpointer  data)
{
  SmRoute *a = add_route (fixture, "", "/a/");
  SmRoute *all = add_route (fixture, "", "");

  g_assert_true (expect_found (fixture, "other.org", "/b", 0) == all);
  g_assert_true (expect_found (fixture, "other.org", "/a/x", 0) == a);
}

static void
test_turns (Fixture       *fixture,
            gconstpointer  data)
{
  SmRoute *r1 = add_route (fixture, "", "/api/");
  SmRoute *other = add_route (fixture, "", "/");
  SmRoute *r2 = add_route (fixture, "", "/api/");
  SmRoute *r3 = add_route (fixture, "", "/api/");
  SmRoute *picked[6];

  /* Earliest registered first, then in turn */
  for (guint i = 0; i < G_N_ELEMENTS (picked); i++)
    picked[i] = expect_found (fixture, "h", "/api/x", 0);
  g_assert_true (picked[0] == r1 && picked[1] == r2 && picked[2] == r3);
  g_assert_true (picked[3] == r1 && picked[4] == r2 && picked[5] == r3);
  g_assert_true (expect_found (fixture, "h", "/other", 0) == other);
}

static void
test_new_replica_joins_turns (Fixture       *fixture,
                              gconstpointer  data)
{
  SmRoute *r1 = add_route (fixture, "", "/api/");
  SmRoute *r2 = add_route (fixture, "", "/api/");
  SmRoute *r3;

  g_assert_true (expect_found (fixture, "h", "/api/x", 0) == r1);
  g_assert_true (expect_found (fixture, "h", "/api/x", 0) == r2);

  /* Never picked: it goes next */
  r3 = add_route (fixture, "", "/api/");
  g_assert_true (expect_found (fixture, "h", "/api/x", 0) == r3);
  g_assert_true (expect_found (fixture, "h", "/api/x", 0) == r1);
}

static void
test_leaving_replica_leaves_turns (Fixture       *fixture,
                                   gconstpointer  data)
{
  SmRoute *r1 = add_route (fixture, "", "/api/");
  SmRoute *r2 = add_route (fixture, "", "/api/");
  SmRoute *r3 = add_route (fixture, "", "/api/");

  g_assert_true (expect_found (fixture, "h", "/api/x", 0) == r1);
  remove_route (fixture, r2, 0);
  /* The others go on serving, in turn */
  for (guint i = 0; i < 4; i++)
    g_assert_true (expect_found (fixture, "h", "/api/x", 0) == (i % 2 == 0 ? r3 : r1));
}

static void
test_gone_before_removed (Fixture       *fixture,
                          gconstpointer  data)
{
  SmRoute *a = add_route (fixture, "", "/a/");
  SmRoute *ab = add_route (fixture, "", "/a/b/");

  /* Its session failed; the port has not removed it yet: wait, no 404
   * and no worse match */
  sm_yamux_session_close (sm_route_get_session (ab));
  expect_result (fixture, "h", "/a/b/x", 0, SM_HTTP_MATCH_WAIT);
  g_assert_true (expect_found (fixture, "h", "/a/x", 0) == a);
  sm_yamux_session_close (sm_route_get_session (a));
  expect_result (fixture, "h", "/a/x", 0, SM_HTTP_MATCH_WAIT);
  expect_result (fixture, "h", "/b", 0, SM_HTTP_MATCH_NONE);
}

static void
test_departed_service_is_awaited (Fixture       *fixture,
                                  gconstpointer  data)
{
  SmRoute *a = add_route (fixture, "", "/a/");
  SmRoute *ab = add_route (fixture, "", "/a/b/");

  /* /a/b/ left: its requests wait rather than go to /a/ */
  remove_route (fixture, ab, 1000);
  g_assert_cmpuint (sm_http_matcher_get_n_recent (fixture->matcher, 1000), ==, 1);
  expect_result (fixture, "h", "/a/b/x", 1000, SM_HTTP_MATCH_WAIT);
  g_assert_true (expect_found (fixture, "h", "/a/x", 1000) == a);
  expect_result (fixture, "h", "/c", 1000, SM_HTTP_MATCH_NONE);
}

static void
test_replacement_serves (Fixture       *fixture,
                         gconstpointer  data)
{
  SmRoute *ab = add_route (fixture, "", "/a/b/");
  SmRoute *gone_but_listed = add_route (fixture, "", "/a/b/c/");
  SmRoute *back;

  remove_route (fixture, ab, 1000);
  sm_yamux_session_close (sm_route_get_session (gone_but_listed));

  /* The record is forgotten once the same definition registers again;
   * a more specific service that left is still awaited */
  back = add_route (fixture, "", "/a/b/");
  g_assert_true (expect_found (fixture, "h", "/a/b/x", 3000) == back);
  expect_result (fixture, "h", "/a/b/c/x", 3000, SM_HTTP_MATCH_WAIT);
  g_assert_cmpuint (sm_http_matcher_get_n_recent (fixture->matcher, 3000), ==, 0);
}

static void
test_hold_timeout_forgets (Fixture       *fixture,
                           gconstpointer  data)
{
  SmRoute *a = add_route (fixture, "", "/a/");
  SmRoute *ab = add_route (fixture, "", "/a/b/");

  /* After the hold timeout, a service that left is forgotten: the next
   * best match serves, and with none left, 404 */
  remove_route (fixture, ab, 5000);
  expect_result (fixture, "h", "/a/b/x", 5000 + HOLD_US - 1, SM_HTTP_MATCH_WAIT);
  g_assert_true (expect_found (fixture, "h", "/a/b/x", 5000 + HOLD_US) == a);
  remove_route (fixture, a, 6000);
  expect_result (fixture, "h", "/a/b/x", 6000 + HOLD_US, SM_HTTP_MATCH_NONE);
  g_assert_cmpuint (sm_http_matcher_get_n_recent (fixture->matcher, 6000 + HOLD_US), ==, 0);
}

static void
add_test (const char *path,
          void      (*func) (Fixture *, gconstpointer))
{
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown);
}

/* Routing ----------------------------------------------------------------- */

static void
test_route_match (void)
{
  static const struct {
    const char *host, *path, *suffix, *prefix;
    gboolean    match;
  } cases[] = {
    { "example.com", "/", "", "", TRUE },
    { "example.com", "/", NULL, NULL, TRUE },
    { "example.com", "/api/x", "example.com", "/api", TRUE },
    { "www.example.com", "/", "example.com", "", TRUE },
    { "example.com", "/", "Example.COM", "", TRUE },
    /* At a label boundary: the original's strings.HasSuffix matched
     * "notexample.com" too */
    { "notexample.com", "/", "example.com", "", FALSE },
    { "evilgood.test", "/", "good.test", "", FALSE },
    { "evil-good.test", "/", "good.test", "", FALSE },
    { "good.test", "/", "good.test", "", TRUE },
    { "x.good.test", "/", "good.test", "", TRUE },
    { "a.b.Good.Test", "/", "GOOD.test", "", TRUE },
    { "x.good.test", "/", "d.test", "", FALSE },
    { "x.good.test", "/", "test", "", TRUE },
    { "x.good.test", "/", ".test", "", TRUE },
    /* A leading dot names only what is under it */
    { "notexample.com", "/", ".example.com", "", FALSE },
    { "www.example.com", "/", ".example.com", "", TRUE },
    { "example.com", "/", ".example.com", "", FALSE },
    { "example.org", "/", "example.com", "", FALSE },
    { "com", "/", "example.com", "", FALSE },
    { "xample.com", "/", "example.com", "", FALSE },
    { "example.com", "/ap", "example.com", "/api", FALSE },
    { "example.com", "/API", "", "/api", FALSE },
    { "example.com", "/apix", "", "/api", TRUE },
    { "", "/", "", "/", TRUE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("case %u", i);
      g_assert_cmpint (sm_http_match (cases[i].host, cases[i].path, cases[i].suffix, cases[i].prefix),
                       ==, cases[i].match);
    }
}

typedef struct {
  const char *outer, *inner;
  gboolean    covers;
} CoversCase;

/* sm_http_domain_covers() or sm_http_path_covers() on each case; what a
 * field covers as a host or a path, it also matches */
static void
check_covers (const CoversCase *cases,
              guint             n_cases,
              gboolean          domain)
{
  for (guint i = 0; i < n_cases; i++)
    {
      const char *outer = cases[i].outer, *inner = cases[i].inner;

      g_test_message ("case %u: %s covers %s", i, outer, inner);
      g_assert_cmpint (domain ? sm_http_domain_covers (outer, inner)
                              : sm_http_path_covers (outer, inner), ==, cases[i].covers);
      if (!domain)
        g_assert_cmpint (sm_http_match ("", inner, "", outer), ==, cases[i].covers);
      else if (inner != NULL && inner[0] != '.')
        g_assert_cmpint (sm_http_match (inner, "/", outer, ""), ==, cases[i].covers);
    }
}

static void
test_domain_covers (void)
{
  static const CoversCase cases[] = {
    { "", "", TRUE },
    { NULL, NULL, TRUE },
    { "", "anything.test", TRUE },
    { "", ".anything.test", TRUE },
    { "good.test", "", FALSE },
    { ".good.test", NULL, FALSE },
    { "good.test", "good.test", TRUE },
    { "good.test", "GOOD.Test", TRUE },
    { "good.test", "x.good.test", TRUE },
    { "good.test", ".good.test", TRUE },
    { "good.test", ".x.good.test", TRUE },
    { "good.test", "evilgood.test", FALSE },
    { "good.test", ".evilgood.test", FALSE },
    { "good.test", "good.test.evil", FALSE },
    { "good.test", "test", FALSE },
    { ".good.test", ".good.test", TRUE },
    { ".good.test", "x.good.test", TRUE },
    { ".good.test", ".x.good.test", TRUE },
    /* "good.test" also matches good.test itself, which ".good.test" does not */
    { ".good.test", "good.test", FALSE },
    { ".good.test", "evilgood.test", FALSE },
    { "x.good.test", "good.test", FALSE },
  };

  check_covers (cases, G_N_ELEMENTS (cases), TRUE);
}

static void
test_path_covers (void)
{
  static const CoversCase cases[] = {
    { "", "", TRUE },
    { NULL, NULL, TRUE },
    { "", "/a", TRUE },
    { NULL, "/a", TRUE },
    { "/a", "", FALSE },
    { "/a", NULL, FALSE },
    { "/a", "/a", TRUE },
    { "/a", "/a/x", TRUE },
    /* Byte prefixes, as the matcher uses: "/a" also matches "/apple" */
    { "/a", "/apple", TRUE },
    { "/a/", "/a", FALSE },
    { "/a/", "/a/x", TRUE },
    { "/A", "/a", FALSE },
    { "/a/x", "/a", FALSE },
  };

  check_covers (cases, G_N_ELEMENTS (cases), FALSE);
}

typedef struct {
  const char *suffix;
  const char *prefix;
} Route;

static int
compare_routes (gconstpointer a,
                gconstpointer b)
{
  const Route *ra = a, *rb = b;

  return sm_http_route_compare (ra->suffix, ra->prefix, rb->suffix, rb->prefix);
}

static void
test_route_ranking (void)
{
  Route routes[] = {
    { "", "" },
    { "example.com", "" },
    { "", "/api/v1" },
    { "api.example.com", "" },
    { "example.com", "/api" },
  };
  static const Route expected[] = {
    { "api.example.com", "" },
    { "example.com", "/api" },
    { "example.com", "" },
    { "", "/api/v1" },
    { "", "" },
  };

  qsort (routes, G_N_ELEMENTS (routes), sizeof (Route), (GCompareFunc) compare_routes);
  for (guint i = 0; i < G_N_ELEMENTS (routes); i++)
    {
      g_assert_cmpstr (routes[i].suffix, ==, expected[i].suffix);
      g_assert_cmpstr (routes[i].prefix, ==, expected[i].prefix);
    }

  g_assert_cmpint (sm_http_route_compare ("a.com", "/x", "b.com", "/y"), ==, 0);
  g_assert_cmpint (sm_http_route_compare (NULL, NULL, "", ""), ==, 0);
  g_assert_cmpint (sm_http_route_compare ("a.com", "", "com", "/long/prefix"), <, 0);
  g_assert_cmpint (sm_http_route_compare ("com", "/long/prefix", "a.com", ""), >, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  add_test ("/http-matcher/ranking", test_ranking);
  add_test ("/http-matcher/catch-all-ranks-last", test_catch_all_ranks_last);
  add_test ("/http-matcher/turns-among-replicas", test_turns);
  add_test ("/http-matcher/new-replica-joins-the-turns", test_new_replica_joins_turns);
  add_test ("/http-matcher/leaving-replica-leaves-the-turns", test_leaving_replica_leaves_turns);
  add_test ("/http-matcher/gone-before-the-port-knows", test_gone_before_removed);
  add_test ("/http-matcher/departed-service-is-awaited", test_departed_service_is_awaited);
  add_test ("/http-matcher/replacement-serves", test_replacement_serves);
  add_test ("/http-matcher/hold-timeout-forgets", test_hold_timeout_forgets);

  g_test_add_func ("/http-matcher/route/match", test_route_match);
  g_test_add_func ("/http-matcher/route/ranking", test_route_ranking);
  g_test_add_func ("/http-matcher/route/domain-covers", test_domain_covers);
  g_test_add_func ("/http-matcher/route/path-covers", test_path_covers);
  return g_test_run ();
}
