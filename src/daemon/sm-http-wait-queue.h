/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-http-matcher.h"
#include "sm-route.h"

G_BEGIN_DECLS

/*
 * HTTP requests of one port waiting for a service that left to come back
 * (SM_HTTP_MATCH_WAIT). Nothing polls: the port offers the queue its
 * routes whenever one registers, and each waiting request is answered
 * once, with its route, or with NULL at the end of the hold timeout.
 */

typedef struct _SmHttpWaitQueue SmHttpWaitQueue;
typedef struct _SmHttpWaiter    SmHttpWaiter;

/* @route: where to send the request (transfer none), or NULL when no
 * service came in time, or the port stopped listening */
typedef void (*SmHttpRouteReady) (SmRoute *route, gpointer user_data);

/* @name: the port, for messages */
SmHttpWaitQueue *sm_http_wait_queue_new (const char *name, gint64 hold_us, guint max_waiting);
/* Answers the requests still waiting with NULL, then frees */
void             sm_http_wait_queue_free (SmHttpWaitQueue *self);

/* NULL (and nothing will be called) when @max_waiting already wait.
 * @client (may be NULL) is only shown to observers. */
SmHttpWaiter    *sm_http_wait_queue_push (SmHttpWaitQueue *self,
                                          GSocketAddress  *client,
                                          const char      *host,
                                          const char      *path,
                                          SmHttpRouteReady callback,
                                          gpointer         user_data);
/* Forgets a waiter whose callback has not run */
void             sm_http_wait_queue_cancel (SmHttpWaitQueue *self, SmHttpWaiter *waiter);
guint            sm_http_wait_queue_get_length (SmHttpWaitQueue *self);

typedef void (*SmHttpWaiterFunc) (GSocketAddress *client,
                                  const char     *host,
                                  const char     *path,
                                  gint64          queued_at,
                                  gpointer        user_data);

/* Oldest first; @func must not change the queue */
void sm_http_wait_queue_foreach (SmHttpWaitQueue *self, SmHttpWaiterFunc func, gpointer user_data);

/* A route registered: the requests that now match go to their route;
 * those whose service was forgotten meanwhile get NULL */
void sm_http_wait_queue_flush (SmHttpWaitQueue *self, SmHttpMatcher *matcher, GPtrArray *routes);
/* Answers every waiting request with NULL */
void sm_http_wait_queue_drop_all (SmHttpWaitQueue *self);

G_END_DECLS
