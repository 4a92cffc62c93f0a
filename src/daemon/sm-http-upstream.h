/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-http-buffer.h"
#include "sm-route.h"
#include "sm-splice.h"
#include "sm-yamux-stream.h"

G_BEGIN_DECLS

/* Idle keep-alive streams to services kept per public connection */
#define SM_HTTP_UPSTREAM_MAX_IDLE 4

/*
 * The yamux streams of one public HTTP connection to its services
 * (#SmHttpUpstream), and the idle ones kept for later requests to the
 * same service (#SmHttpUpstreamPool).
 *
 * A stream that served a request and can serve another waits in the
 * pool. While it waits, anything becoming readable on it (the service
 * closing it, a reset, stray bytes) ends it, and so does its service going
 * away: a draining service waits for its streams to close. A stream is
 * never reused once its service is going away.
 */

typedef struct _SmHttpUpstreamPool SmHttpUpstreamPool;
typedef struct _SmHttpUpstream     SmHttpUpstream;

/* @client_ip and @tracing: the connection's, for messages (@client_ip
 * must outlive the pool). @readable and @writable run when the stream in
 * use becomes so, while it is watched for it (sm_http_upstream_watch()). */
SmHttpUpstreamPool                *sm_http_upstream_pool_new (const char *client_ip,
                                                              gboolean    tracing,
                                                              GSourceFunc readable,
                                                              GSourceFunc writable,
                                                              gpointer    user_data);
/* No stream may be in use; closes the idle ones */
void                               sm_http_upstream_pool_free (SmHttpUpstreamPool *pool);

/* An idle stream to @route, or a new one */
SmHttpUpstream          *
sm_http_upstream_pool_take (SmHttpUpstreamPool *pool, SmRoute *route, GError **error);
/* Back to the pool if it can serve another request, else closed */
void     sm_http_upstream_pool_release (SmHttpUpstreamPool *pool,
                                        SmHttpUpstream     *upstream,
                                        gboolean            reusable);
void     sm_http_upstream_pool_close_idle (SmHttpUpstreamPool *pool);

SmRoute *sm_http_upstream_get_route (SmHttpUpstream *upstream);
SmYamuxStream *sm_http_upstream_get_stream (SmHttpUpstream *upstream);

/* Non-blocking; counted for the route. Write: > 0 written, 0 would
 * block, -1 failed. Read: as sm_http_buffer_fill(). */
gssize
sm_http_upstream_write (SmHttpUpstream *upstream, const guint8 *data, gsize len, GError **error);
gssize sm_http_upstream_read (SmHttpUpstream *upstream, SmHttpBuffer *buffer, GError **error);

/* A response went out complete */
void   sm_http_upstream_request_served (SmHttpUpstream *upstream);

/* Watches the stream in use for what the exchange waits for */
void   sm_http_upstream_watch (SmHttpUpstream *upstream, gboolean readable, gboolean writable);

/* @reset: abort (RST) instead of closing (FIN) */
void   sm_http_upstream_close (SmHttpUpstream *upstream, gboolean reset);
/* The stream goes on without the pool (a tunnel after a 101): frees
 * @upstream, which leaves the stream open, and tells what went over it.
 * Whoever takes the stream reports it finished to its route. */
void   sm_http_upstream_detach (SmHttpUpstream *upstream, SmSpliceCounts *moved);

G_END_DECLS
