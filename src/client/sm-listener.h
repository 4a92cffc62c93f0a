/* SPDX-License-Identifier: MIT */
#pragma once

#if !defined(SOCKETMASTER_INSIDE) && !defined(SOCKETMASTER_COMPILATION)
#error "Only <socketmaster.h> can be included directly."
#endif

#include <gio/gio.h>
#include "sm-socket-definition.h"

G_BEGIN_DECLS

/**
 * SmListener:
 *
 * A service's side of socketmaster. It connects to the daemon's control
 * address, asks for a public listener described by an #SmSocketDefinition
 * and then receives each public connection as a #GIOStream.
 *
 * Connections arrive through the #SmListener::incoming signal (return TRUE
 * to take the stream) or, when no handler takes them, queue up for
 * sm_listener_accept_async() (up to 256; beyond that new ones are reset).
 *
 * If the control connection breaks (e.g. the daemon restarts), the listener
 * reconnects, retrying for up to #SmListener:reconnect-timeout seconds;
 * #SmListener:connected tells the current state and #SmListener::lost is
 * emitted when it gives up. sm_listener_close_async() drains: the daemon is
 * told to send nothing new (yamux GoAway) and the call completes once the
 * streams already handed out are closed.
 *
 * All of it runs in the thread-default main context of the thread that
 * created the listener.
 */
#define SM_TYPE_LISTENER (sm_listener_get_type ())
G_DECLARE_FINAL_TYPE (SmListener, sm_listener, SM, LISTENER, GObject)

/* @control_address: "host:port", "[v6]:port"; NULL for the default
 * (127.0.0.1:9999, or $SOCKETMASTER_ADDRESS if set) */
SmListener *sm_listener_new (const char *control_address, const SmSocketDefinition *definition);

/* Connects and registers. A daemon that resets or drops the connection
 * during the handshake (busy, restarting) or does not answer
 * (SM_ERROR_TIMED_OUT) is tried again with backoff for up to
 * #SmListener:reconnect-timeout (0: not at all); then the start fails with
 * the last such error. Fails at once with the daemon's status message as
 * an SM_ERROR_REJECTED error (a refusal, e.g. the port is in use), with a
 * connection error (no daemon listening), G_IO_ERROR_PENDING if already
 * started or SM_ERROR_CLOSED after close or abort. A failed start may be
 * retried, and so may a listener that gave up (#SmListener::lost). */
void        sm_listener_start_async (SmListener         *self,
                                     GCancellable       *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer            user_data);
gboolean    sm_listener_start_finish (SmListener *self, GAsyncResult *result, GError **error);
/* Blocking convenience: iterates the listener's main context (see above) */
gboolean    sm_listener_start (SmListener *self, GCancellable *cancellable, GError **error);

/* Next public connection, FIFO. Fails with SM_ERROR_CLOSED after close or
 * abort, and with the #SmListener::lost error once the listener gave up. */
void        sm_listener_accept_async (SmListener         *self,
                                      GCancellable       *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer            user_data);
GIOStream  *sm_listener_accept_finish (SmListener *self, GAsyncResult *result, GError **error);

/* Graceful stop: GoAway, wait until the streams handed out are closed both
 * ways, disconnect. Cancelling stops waiting: live streams are dropped and
 * the call fails with G_IO_ERROR_CANCELLED. */
void        sm_listener_close_async (SmListener         *self,
                                     GCancellable       *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer            user_data);
gboolean    sm_listener_close_finish (SmListener *self, GAsyncResult *result, GError **error);
/* Immediate stop: resets live streams and disconnects */
void        sm_listener_abort (SmListener *self);

gboolean    sm_listener_is_connected (SmListener *self);
const SmSocketDefinition *sm_listener_get_definition (SmListener *self);
const char               *sm_listener_get_control_address (SmListener *self);
/* Seconds to keep retrying after losing the daemon (default 30; 0: never) */
void                      sm_listener_set_reconnect_timeout (SmListener *self, double seconds);
double                    sm_listener_get_reconnect_timeout (SmListener *self);

G_END_DECLS
