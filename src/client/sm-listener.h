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

/* @control_address: "host:port", "[v6]:port" or "unix:/path" (a Unix
 * socket of the daemon's); NULL for the default (127.0.0.1:9999, or
 * $SOCKETMASTER_ADDRESS if set) */
SmListener *sm_listener_new (const char *control_address, const SmSocketDefinition *definition);
/* Registers with several daemons (e.g. behind a balancer), one session
 * each: every one reconnects on its own, a stream from any of them is a
 * public connection, and the listener is connected while any daemon is.
 * @control_addresses: NULL-terminated, each as above; NULL or empty: the
 * comma-separated list in $SOCKETMASTER_ADDRESS, or the default. See
 * sm_listener_start_async() for how starting and #SmListener::lost
 * behave with several. */
SmListener *sm_listener_new_for_addresses (const char *const        *control_addresses,
                                           const SmSocketDefinition *definition);

/* Connects and registers. A daemon that resets or drops the connection
 * during the handshake (busy, restarting) or does not answer
 * (SM_ERROR_TIMED_OUT) is tried again with backoff for up to
 * #SmListener:reconnect-timeout (0: not at all); then the start fails with
 * the last such error. Fails at once with a refusal, whose message is the
 * daemon's: SM_ERROR_REJECTED from a daemon that answered in the original
 * format (e.g. the port is in use), or, to an extension request (see
 * sm_listener_set_token()), the code the daemon gave: SM_ERROR_UNAUTHORIZED
 * (token missing or wrong), SM_ERROR_PERMISSION_DENIED, SM_ERROR_ROUTE_OWNED,
 * SM_ERROR_ADDRESS_IN_USE, SM_ERROR_CONFLICT (the port's mode),
 * SM_ERROR_TLS, SM_ERROR_LIMIT, SM_ERROR_UNSUPPORTED or
 * SM_ERROR_INVALID_ARGUMENT (malformed); sm_listener_error_is_refusal()
 * tells them all from other failures. Fails also with a
 * connection error (no daemon listening), G_IO_ERROR_PENDING if already
 * started or SM_ERROR_CLOSED after close or abort. A failed start may be
 * retried, and so may a listener that gave up (#SmListener::lost). */
void        sm_listener_start_async (SmListener         *self,
                                     GCancellable       *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer            user_data);
/* With several daemons: registers with all at once, and succeeds once
 * each has answered or failed if any accepted and none refused; a daemon
 * that could not be reached is registered with in the background until it
 * is. A refusal by any one fails the start (and ends the others'
 * registrations). #SmListener::lost comes once every daemon is lost. */
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
/* The first daemon's address */
const char               *sm_listener_get_control_address (SmListener *self);
/* NULL-terminated: one address per daemon */
const char *const        *sm_listener_get_control_addresses (SmListener *self);
/* Seconds to keep retrying after losing the daemon (default 30; 0: never) */
void                      sm_listener_set_reconnect_timeout (SmListener *self, double seconds);
double                    sm_listener_get_reconnect_timeout (SmListener *self);

/* The shared secret of a daemon that requires one for TCP control
 * connections (its --token-file). NULL (the default): $SOCKETMASTER_TOKEN
 * when set and not empty; "": no token. Takes effect at the next
 * registration (start or reconnect). A token or a name makes the listener
 * register with the extension handshake (docs/PROTOCOL.md §7), which the
 * original Go daemon does not know; without them it uses the original
 * format. */
void                      sm_listener_set_token (SmListener *self, const char *token);
const char               *sm_listener_get_token (SmListener *self);
/* A label for the daemon's logs and D-Bus; NULL or "": none */
void                      sm_listener_set_name (SmListener *self, const char *name);
const char               *sm_listener_get_name (SmListener *self);

/* 1 or 2: the daemon starts each stream with a PROXY protocol header
 * (v1 text or v2 binary) naming the public client, which the listener
 * reads before handing the stream out; 0 (the default): none. Raw TCP
 * services only (an HTTP port refuses it: SM_ERROR_UNSUPPORTED); needs
 * the extension handshake, like a token. A stream whose header is
 * malformed is reset, the others go on. Used from the next registration
 * on. */
void                      sm_listener_set_proxy_protocol (SmListener *self, guint version);
guint                     sm_listener_get_proxy_protocol (SmListener *self);
/* The public client's address (a GInetSocketAddress) of a stream from a
 * listener with a PROXY protocol version; NULL without one, or when the
 * daemon did not know it (a LOCAL header) */
GSocketAddress           *sm_listener_stream_get_client_address (GIOStream *stream);
/* The public address the client connected to, likewise */
GSocketAddress           *sm_listener_stream_get_public_address (GIOStream *stream);

/* TRUE when @error (from a start) is the daemon's refusal, in either format:
 * asking again the same way fails again (see sm_listener_start_async()) */
gboolean                  sm_listener_error_is_refusal (const GError *error);

G_END_DECLS
