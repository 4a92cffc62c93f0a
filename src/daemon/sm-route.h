/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-socket-definition.h"
#include "sm-yamux-session.h"
#include "sm-yamux-stream.h"

G_BEGIN_DECLS

/**
 * SmRoute:
 *
 * One registered service: what it asked for, the yamux session that leads
 * to it, and counters about the public connections sent its way.
 *
 * The route owns its session. It is "gone" once the service can take no
 * new streams (it sent GoAway, or the session ended); #SmRoute::gone is
 * emitted once at that point. Streams already open carry on; when the last
 * reference to a gone route is dropped its session is closed.
 */
#define SM_TYPE_ROUTE (sm_route_get_type ())
G_DECLARE_FINAL_TYPE (SmRoute, sm_route, SM, ROUTE, GObject)

SmRoute                  *sm_route_new (guint64                   id,
                                        const SmSocketDefinition *definition,
                                        SmYamuxSession           *session,
                                        const char               *peer);

guint64                   sm_route_get_id (SmRoute *self);
const SmSocketDefinition *sm_route_get_definition (SmRoute *self);
SmYamuxSession           *sm_route_get_session (SmRoute *self);
/* The service's control connection, as "HOST:PORT" */
const char               *sm_route_get_peer (SmRoute *self);
/* g_get_monotonic_time() at registration */
gint64                    sm_route_get_connected_at (SmRoute *self);
/* Wall-clock time of registration */
GDateTime                *sm_route_get_connected_since (SmRoute *self);

guint                     sm_route_get_active_streams (SmRoute *self);
guint64                   sm_route_get_total_streams (SmRoute *self);
/* Bytes from public clients to the service, and back, of finished streams */
guint64                   sm_route_get_bytes_in (SmRoute *self);
guint64                   sm_route_get_bytes_out (SmRoute *self);
/* HTTP requests whose response went out complete */
guint64                   sm_route_get_requests_served (SmRoute *self);
void                      sm_route_request_served (SmRoute *self);

gboolean                  sm_route_is_gone (SmRoute *self);

/* Opens a stream to the service for one public connection. On failure
 * (SM_ERROR_GOING_AWAY, SM_ERROR_CLOSED) the route becomes gone. */
SmYamuxStream            *sm_route_open_stream (SmRoute *self, GError **error);
/* A stream opened with sm_route_open_stream() is over */
void sm_route_stream_finished (SmRoute *self, guint64 bytes_in, guint64 bytes_out);

G_END_DECLS
