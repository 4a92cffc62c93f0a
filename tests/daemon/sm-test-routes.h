/* SPDX-License-Identifier: MIT */
#pragma once

#include "sm-route.h"

G_BEGIN_DECLS

/*
 * Routes as a port holds them, in registration order, each with a yamux
 * session over a socketpair whose other end nobody reads: enough for the
 * HTTP matcher and router, which only look at definitions and at whether
 * a route is gone.
 */
typedef struct
{
  GPtrArray *routes;
  GPtrArray *left;  /* routes whose service left, kept until the end */
  GPtrArray *peers; /* the other ends of the sessions' socketpairs */
  guint64    next_id;
} SmTestRoutes;

void     sm_test_routes_init (SmTestRoutes *routes);
/* Closes the sessions, then lets their deferred work run */
void     sm_test_routes_clear (SmTestRoutes *routes);

/* A new route for DomainSuffix @domain_suffix and PathPrefix @path_prefix
 * (transfer none: @routes holds it) */
SmRoute *sm_test_routes_add (SmTestRoutes *routes,
                             const char   *domain_suffix,
                             const char   *path_prefix);
/* Its service leaves: the route is gone, and no longer listed (it stays
 * valid until sm_test_routes_clear()) */
void     sm_test_routes_leave (SmTestRoutes *routes, SmRoute *route);

G_END_DECLS
