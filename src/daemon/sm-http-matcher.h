/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "sm-route.h"

G_BEGIN_DECLS

/* TRUE if @domain_suffix ends @host at a label boundary, compared without
 * regard to ASCII case ("example.com" matches "example.com" and
 * "www.example.com" but not "notexample.com"; ".example.com" only names
 * under it), and @path_prefix is a prefix of @path (case-sensitive); "" or
 * NULL matches everything. The original matched any string suffix. */
gboolean sm_http_match (const char *host,
                        const char *path,
                        const char *domain_suffix,
                        const char *path_prefix);

/* TRUE if every host that @host_or_suffix matches (as a host, or as a
 * DomainSuffix) is also matched by @suffix: equal, or ending with it at a
 * label boundary; "" covers everything. For route ownership. */
gboolean sm_http_domain_covers (const char *suffix, const char *host_or_suffix);

/* TRUE if every path that @path_or_prefix matches (as a path, or as a
 * PathPrefix) is also matched by @prefix: a plain byte prefix, as the
 * matcher uses; "" covers everything. */
gboolean sm_http_path_covers (const char *prefix, const char *path_or_prefix);

/* Ranking of two routes: negative if route a is preferred (longer domain
 * suffix first, then longer path prefix), 0 if they rank the same (the
 * caller then prefers the earlier registration). */
int      sm_http_route_compare (const char *domain_suffix_a,
                                const char *path_prefix_a,
                                const char *domain_suffix_b,
                                const char *path_prefix_b);

/*
 * Picks the service for one HTTP request among the routes of a port
 * (docs/PROTOCOL.md §6): candidates are the routes whose DomainSuffix ends
 * the request's host at a label boundary and whose PathPrefix starts its
 * path; the longer DomainSuffix wins, then the longer PathPrefix. Routes with the same
 * definition (replicas, or a new version next to the old one) take turns:
 * the one picked least recently goes next, the earliest registered first.
 *
 * It also remembers, for the hold timeout, the definitions of services
 * that left, so that a request whose best match is such a service can wait
 * for its return instead of going to a worse match or getting 404.
 */

typedef struct _SmHttpMatcher SmHttpMatcher;

typedef enum
{
  SM_HTTP_MATCH_NONE,  /* nothing matches, now or recently: 404 */
  SM_HTTP_MATCH_FOUND, /* *out_route serves the request */
  SM_HTTP_MATCH_WAIT,  /* the best match is a service that left within the
                          hold timeout: wait for it to come back */
} SmHttpMatch;

SmHttpMatcher *sm_http_matcher_new (gint64 hold_us);
void           sm_http_matcher_free (SmHttpMatcher *self);

/* A route joined the port: it replaces any service with the same
 * definition that left */
void           sm_http_matcher_route_added (SmHttpMatcher *self, SmRoute *route);
/* A route left the port at @now (g_get_monotonic_time()) */
void           sm_http_matcher_route_removed (SmHttpMatcher *self, SmRoute *route, gint64 now);

/* @routes: the port's routes in registration order; one that is gone but
 * still listed counts as a service that just left. On FOUND, *out_route
 * (transfer none) counts as picked for the turns. */
SmHttpMatch    sm_http_matcher_match (SmHttpMatcher *self,
                                      GPtrArray     *routes,
                                      const char    *host,
                                      const char    *path,
                                      gint64         now,
                                      SmRoute      **out_route);

/* Definitions that left less than the hold timeout ago */
guint          sm_http_matcher_get_n_recent (SmHttpMatcher *self, gint64 now);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmHttpMatcher, sm_http_matcher_free)

G_END_DECLS
