/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-http-matcher.h"
#include "sm-route.h"

G_BEGIN_DECLS

/**
 * SmHttpRouter:
 *
 * Which service answers an HTTP request on one port: the port's routes
 * and an #SmHttpMatcher to choose among them, and the requests waiting
 * for a service that left to come back (SM_HTTP_MATCH_WAIT).
 *
 * The port that owns it tells it when routes come and go; the port's
 * connections (#SmHttpProxy) ask it for a route per request, and never
 * talk to the port. Nothing polls: each waiting request is answered once,
 * with its route when one registers, or with NULL at the end of the hold
 * timeout or when the port stops listening.
 */
#define SM_TYPE_HTTP_ROUTER (sm_http_router_get_type ())
G_DECLARE_FINAL_TYPE (SmHttpRouter, sm_http_router, SM, HTTP_ROUTER, GObject)

typedef struct _SmHttpWaiter SmHttpWaiter;

/* @route: where to send the request (transfer none), or NULL when no
 * service came in time, or the port stopped listening */
typedef void (*SmHttpRouteReady) (SmRoute *route, gpointer user_data);

/* @display_name: the port's, for messages; @max_waiting: requests that
 * may wait at once */
SmHttpRouter *sm_http_router_new (const char *display_name, gint64 hold_us, guint max_waiting);
const char   *sm_http_router_get_display_name (SmHttpRouter *self);
/* @max_waiting as above; @max_streams: streams open at once on one
 * service's session (default SM_PORT_DEFAULT_MAX_STREAMS_PER_SERVICE).
 * A request whose service is at that limit goes to a replica with room,
 * or waits as for a service that left: the port calls
 * sm_http_router_flush_waiting() when streams end. */
void          sm_http_router_set_limits (SmHttpRouter *self, guint max_waiting, guint max_streams);

/* The port's routes, in registration order */
void          sm_http_router_add_route (SmHttpRouter *self, SmRoute *route);
void          sm_http_router_remove_route (SmHttpRouter *self, SmRoute *route);
/* A route registered, or streams ended: the waiting requests that now
 * match a route with room go to it; those whose service was forgotten
 * meanwhile get NULL */
void          sm_http_router_flush_waiting (SmHttpRouter *self);

/* The route for one request (see #SmHttpMatcher); NONE once closed */
SmHttpMatch
sm_http_router_match (SmHttpRouter *self, const char *host, const char *path, SmRoute **out_route);
/* Calls @callback once: when a route for the request registers, at the
 * end of the hold timeout, or when the port stops listening. NULL (and
 * no call) when the port does not listen or too many requests already
 * wait: the caller answers 503 at once. @client (may be NULL) is only
 * shown to observers. */
SmHttpWaiter *sm_http_router_wait (SmHttpRouter    *self,
                                   GSocketAddress  *client,
                                   const char      *host,
                                   const char      *path,
                                   SmHttpRouteReady callback,
                                   gpointer         user_data);
/* Forgets a waiter whose callback has not run yet */
void          sm_http_router_cancel_wait (SmHttpRouter *self, SmHttpWaiter *waiter);

/* The port stopped listening: answers every waiting request with NULL,
 * and later ones cannot wait */
void          sm_http_router_stop_waiting (SmHttpRouter *self);
/* The port closed: no request matches any more */
void          sm_http_router_close (SmHttpRouter *self);

guint         sm_http_router_get_n_waiting (SmHttpRouter *self);

typedef void (*SmHttpWaiterFunc) (GSocketAddress *client,
                                  const char     *host,
                                  const char     *path,
                                  gint64          queued_at,
                                  gpointer        user_data);

/* Oldest first; @func must not change the router */
void sm_http_router_foreach_waiting (SmHttpRouter *self, SmHttpWaiterFunc func, gpointer user_data);

G_END_DECLS
