/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-http-buffer.h"
#include "sm-route.h"
#include "sm-splice.h"
#include "sm-yamux-stream.h"

G_BEGIN_DECLS

/*
 * The yamux stream a public HTTP connection uses for one request
 * (#SmHttpUpstream), held in the connection's #SmHttpUpstreamSlot: one at
 * a time, and none between requests.
 *
 * A stream that served a request and can serve another goes back to its
 * route's pool of idle streams (sm_route_keep_idle_stream()), for the next
 * request of any connection; a request takes one from there or opens a new
 * one. A stream carries nothing of a connection from one use to the next:
 * its watches call whoever uses it now, and messages name that client.
 */

typedef struct _SmHttpUpstreamSlot SmHttpUpstreamSlot;
typedef struct _SmHttpUpstream     SmHttpUpstream;

/* @client_ip and @tracing: the connection's, for messages (@client_ip
 * must outlive the slot). @readable and @writable run when the stream in
 * use becomes so, while it is watched for it (sm_http_upstream_watch()). */
SmHttpUpstreamSlot                *sm_http_upstream_slot_new (const char *client_ip,
                                                              gboolean    tracing,
                                                              GSourceFunc readable,
                                                              GSourceFunc writable,
                                                              gpointer    user_data);
/* No stream may be in use */
void                               sm_http_upstream_slot_free (SmHttpUpstreamSlot *slot);

/* A stream to @route in @slot, which must hold none: an idle one of the
 * route if @reuse, else (or if there is none) a new one */
SmHttpUpstream *
sm_http_upstream_take (SmHttpUpstreamSlot *slot, SmRoute *route, gboolean reuse, GError **error);
/* Back to its route's idle streams if it can serve another request and
 * there is room, else closed; the slot is empty again */
void           sm_http_upstream_release (SmHttpUpstream *upstream, gboolean reusable);

SmRoute       *sm_http_upstream_get_route (SmHttpUpstream *upstream);
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

/* @reset: abort (RST) instead of closing (FIN); the slot is empty again */
void   sm_http_upstream_close (SmHttpUpstream *upstream, gboolean reset);
/* The stream goes on without the slot (a tunnel after a 101): empties the
 * slot, which leaves the stream open, and tells what went over it. Whoever
 * takes the stream reports it finished to its route. */
void   sm_http_upstream_detach (SmHttpUpstream *upstream, SmSpliceCounts *moved);
/* Bytes moved to the service (a_to_b) and back in this use */
void   sm_http_upstream_get_counts (SmHttpUpstream *upstream, SmSpliceCounts *moved);

G_END_DECLS
