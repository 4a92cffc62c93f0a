/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-event-loop.h"
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
/* Who registered it (a uid, or SM_POLICY_OWNER_UNKNOWN; 0 until set) and
 * the label it gave in the extension handshake (NULL: none) */
void                      sm_route_set_owner (SmRoute *self, guint32 owner, const char *name);
guint32                   sm_route_get_owner (SmRoute *self);
const char               *sm_route_get_name (SmRoute *self);
/* Raw TCP: the PROXY protocol version (1 or 2) each of its streams starts
 * with, 0 for none (PROTOCOL.md §7) */
void                      sm_route_set_proxy_protocol (SmRoute *self, guint version);
guint                     sm_route_get_proxy_protocol (SmRoute *self);
/* g_get_monotonic_time() at registration */
gint64                    sm_route_get_connected_at (SmRoute *self);
/* Wall-clock time of registration */
GDateTime                *sm_route_get_connected_since (SmRoute *self);

/* Streams in use by public connections (not the idle ones) */
guint                     sm_route_get_active_streams (SmRoute *self);
guint64                   sm_route_get_total_streams (SmRoute *self);
/* Bytes from public clients to the service, and back, counted when a
 * stream ends or goes idle */
guint64                   sm_route_get_bytes_in (SmRoute *self);
guint64                   sm_route_get_bytes_out (SmRoute *self);
/* HTTP requests whose response went out complete */
guint64                   sm_route_get_requests_served (SmRoute *self);
void                      sm_route_request_served (SmRoute *self);

gboolean                  sm_route_is_gone (SmRoute *self);

/* Opens a stream to the service for one public connection. On failure
 * (SM_ERROR_GOING_AWAY, SM_ERROR_CLOSED) the route becomes gone. */
SmYamuxStream            *sm_route_open_stream (SmRoute *self, GError **error);
/* A stream opened with sm_route_open_stream() or taken with
 * sm_route_take_idle_stream() is no longer in use: closed, or about to be
 * kept idle. Counts what went over it meanwhile, then emits
 * #SmRoute::stream-finished (the route may take another stream). */
void sm_route_stream_finished (SmRoute *self, guint64 bytes_in, guint64 bytes_out);

/*
 * Idle streams: a stream that carried an HTTP request and its response,
 * and can carry another, waits in its route's pool for the next request
 * of any public connection, so a connection between requests holds no
 * stream. Streams are taken most recently kept first.
 *
 * While a stream waits, anything readable on it (the service closed it,
 * reset it, or sent stray bytes) ends it, and so does its route going away
 * (a draining service waits for its streams to close) or
 * SM_ROUTE_IDLE_STREAM_TIMEOUT_US without use. A stream is never kept or
 * handed out once its route is gone. Idle streams do not count as active.
 */

/* Per route, whatever the number of public connections: each idle stream
 * is an open connection in the service (its buffers there, about 1 KiB
 * here). Enough for the requests a busy service has in flight at once to
 * find a stream when they come back: with 32, 500 busy clients opened and
 * closed a stream per request, which cost the daemon a third of its
 * requests/s. Streams unused for SM_ROUTE_IDLE_STREAM_TIMEOUT_US go, so a
 * route keeps only what its traffic reuses. */
#define SM_ROUTE_MAX_IDLE_STREAMS 1024
/* Unused this long, an idle stream is closed: a route keeps idle only the
 * streams its traffic reuses. A new stream costs little, so this is short;
 * it also bounds how long the daemon's own GoAway, which a route does not
 * see unless sm_route_close_idle_streams() is called, leaves idle streams
 * open and holding up the drain. */
#define SM_ROUTE_IDLE_STREAM_TIMEOUT_US (2 * G_USEC_PER_SEC)

/* The idle stream kept last, or NULL if none is left. *@watch: its watch
 * in the event core (the caller sets its callbacks) or NULL. The stream
 * counts as active again. */
SmYamuxStream *sm_route_take_idle_stream (SmRoute *self, SmEventWatch **watch);
/* Keeps @stream idle, with @watch (its watch, or NULL): both are
 * taken over. FALSE, taking nothing, if the route is gone or holds
 * SM_ROUTE_MAX_IDLE_STREAMS: the caller closes the stream. */
gboolean sm_route_keep_idle_stream (SmRoute *self, SmYamuxStream *stream, SmEventWatch *watch);
guint    sm_route_get_idle_streams (SmRoute *self);
/* Closes the idle streams: the daemon is going away (its own GoAway) */
void     sm_route_close_idle_streams (SmRoute *self);
/* The daemon is stopping: the route still takes requests that arrive on
 * connections being finished, but keeps no stream idle any more */
void     sm_route_drain (SmRoute *self);

/* An operator drained it (Route.Drain): the route takes no new connection
 * or request from now on (it is gone for whoever picks a route, so they go
 * to its peers or wait as for a departed service, and #SmRoute::gone is
 * emitted), while the streams it has open finish; once none is left (at
 * once if none is open) the service gets GoAway. FALSE if it was already
 * gone or drained. */
gboolean sm_route_stop_taking (SmRoute *self);
gboolean sm_route_is_stopped (SmRoute *self);

G_END_DECLS
