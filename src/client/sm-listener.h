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

/**
 * sm_listener_new:
 * @control_address: (nullable): "host:port" or "[v6]:port" of the daemon's
 *   control port, or "unix:/path" of its control socket; %NULL for
 *   `$SOCKETMASTER_ADDRESS` or the built-in default (127.0.0.1:9999)
 * @definition: the public listener to ask for; copied
 *
 * Creates a listener for one daemon. Nothing happens before
 * sm_listener_start_async().
 *
 * Returns: (transfer full): a new listener
 */
SmListener *sm_listener_new (const char *control_address, const SmSocketDefinition *definition);

/**
 * sm_listener_new_for_addresses:
 * @control_addresses: (nullable) (array zero-terminated=1): the control
 *   addresses of several daemons (e.g. behind a balancer), each as for
 *   sm_listener_new(); %NULL or empty for the comma-separated list in
 *   `$SOCKETMASTER_ADDRESS`, or the built-in default
 * @definition: the public listener to ask each daemon for; copied
 *
 * Creates a listener that registers with several daemons, one session
 * each: every one reconnects on its own, a stream from any of them is a
 * public connection, and the listener is connected while any daemon is.
 * See sm_listener_start_async() for how starting and #SmListener::lost
 * behave with several.
 *
 * Returns: (transfer full): a new listener registering with every daemon
 */
SmListener *sm_listener_new_for_addresses (const char *const        *control_addresses,
                                           const SmSocketDefinition *definition);

/**
 * sm_listener_start_async:
 * @self: a listener
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the listener is registered or
 *   failed to
 * @user_data: data for @callback
 *
 * Connects and registers. A daemon that resets or drops the connection
 * during the handshake (busy, restarting) or does not answer
 * (%SM_ERROR_TIMED_OUT) is tried again with backoff for up to
 * #SmListener:reconnect-timeout (0: not at all); then the start fails with
 * the last such error.
 *
 * It fails at once with a refusal, whose message is the daemon's:
 * %SM_ERROR_REJECTED from a daemon that answered in the original format
 * (e.g. the port is in use), or, to an extension request (see
 * sm_listener_set_token()), the code the daemon gave:
 * %SM_ERROR_UNAUTHORIZED (token missing or wrong),
 * %SM_ERROR_PERMISSION_DENIED, %SM_ERROR_ROUTE_OWNED,
 * %SM_ERROR_ADDRESS_IN_USE, %SM_ERROR_CONFLICT (the port's mode),
 * %SM_ERROR_TLS, %SM_ERROR_LIMIT, %SM_ERROR_UNSUPPORTED or
 * %SM_ERROR_INVALID_ARGUMENT (malformed); sm_listener_error_is_refusal()
 * tells them all from other failures. It fails also with a connection
 * error (no daemon listening), %G_IO_ERROR_PENDING if already started or
 * %SM_ERROR_CLOSED after close or abort. A failed start may be retried,
 * and so may a listener that gave up (#SmListener::lost).
 *
 * With several daemons it registers with all at once, and succeeds once
 * each has answered or failed if any accepted and none refused; a daemon
 * that could not be reached is registered with in the background until it
 * is. A refusal by any one fails the start (and ends the others'
 * registrations). #SmListener::lost comes once every daemon is lost.
 */
void        sm_listener_start_async (SmListener         *self,
                                     GCancellable       *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer            user_data);

/**
 * sm_listener_start_finish:
 * @self: a listener
 * @result: the result passed to the callback of sm_listener_start_async()
 * @error: return location for a #GError
 *
 * Finishes sm_listener_start_async().
 *
 * Returns: %TRUE once registered
 */
gboolean    sm_listener_start_finish (SmListener *self, GAsyncResult *result, GError **error);

/**
 * sm_listener_start:
 * @self: a listener
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Blocking version of sm_listener_start_async(): iterates the listener's
 * main context (the thread-default one of the thread that created it)
 * until the start completes.
 *
 * Returns: %TRUE once registered
 */
gboolean    sm_listener_start (SmListener *self, GCancellable *cancellable, GError **error);

/**
 * sm_listener_accept_async:
 * @self: a listener
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the next public connection
 * @user_data: data for @callback
 *
 * Waits for the next public connection that no #SmListener::incoming
 * handler took, first in first out. Fails with %SM_ERROR_CLOSED after
 * close or abort, and with the #SmListener::lost error once the listener
 * gave up.
 */
void        sm_listener_accept_async (SmListener         *self,
                                      GCancellable       *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer            user_data);

/**
 * sm_listener_accept_finish:
 * @self: a listener
 * @result: the result passed to the callback of sm_listener_accept_async()
 * @error: return location for a #GError
 *
 * Finishes sm_listener_accept_async().
 *
 * Returns: (transfer full): the next public connection; the caller closes
 *   it (g_io_stream_close_async()) when done
 */
GIOStream  *sm_listener_accept_finish (SmListener *self, GAsyncResult *result, GError **error);

/**
 * sm_listener_close_async:
 * @self: a listener
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called once drained
 * @user_data: data for @callback
 *
 * Graceful stop: the daemon is told to send nothing new (yamux GoAway),
 * the call waits until the streams handed out are closed both ways, then
 * disconnects. Cancelling stops waiting: live streams are dropped and the
 * call fails with %G_IO_ERROR_CANCELLED.
 */
void        sm_listener_close_async (SmListener         *self,
                                     GCancellable       *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer            user_data);

/**
 * sm_listener_close_finish:
 * @self: a listener
 * @result: the result passed to the callback of sm_listener_close_async()
 * @error: return location for a #GError
 *
 * Finishes sm_listener_close_async().
 *
 * Returns: %TRUE when every stream was closed in time
 */
gboolean    sm_listener_close_finish (SmListener *self, GAsyncResult *result, GError **error);

/**
 * sm_listener_abort:
 * @self: a listener
 *
 * Immediate stop: resets live streams and disconnects.
 */
void        sm_listener_abort (SmListener *self);

/**
 * sm_listener_is_connected:
 * @self: a listener
 *
 * Returns: %TRUE while registered with at least one daemon (see
 *   #SmListener:connected)
 */
gboolean    sm_listener_is_connected (SmListener *self);

/**
 * sm_listener_get_definition:
 * @self: a listener
 *
 * Returns: (transfer none): the public listener asked for
 */
const SmSocketDefinition *sm_listener_get_definition (SmListener *self);

/**
 * sm_listener_get_control_address:
 * @self: a listener
 *
 * Returns: (transfer none): the first daemon's control address
 */
const char               *sm_listener_get_control_address (SmListener *self);

/**
 * sm_listener_get_control_addresses:
 * @self: a listener
 *
 * Returns: (transfer none) (array zero-terminated=1): the control address
 *   of each daemon the listener registers with
 */
const char *const        *sm_listener_get_control_addresses (SmListener *self);

/**
 * sm_listener_set_reconnect_timeout:
 * @self: a listener
 * @seconds: how long to keep retrying after losing the daemon; 0 for not
 *   at all
 *
 * Sets #SmListener:reconnect-timeout (default 30 seconds).
 */
void                      sm_listener_set_reconnect_timeout (SmListener *self, double seconds);

/**
 * sm_listener_get_reconnect_timeout:
 * @self: a listener
 *
 * Returns: #SmListener:reconnect-timeout, in seconds
 */
double                    sm_listener_get_reconnect_timeout (SmListener *self);

/**
 * sm_listener_set_token:
 * @self: a listener
 * @token: (nullable): the shared secret of a daemon that requires one for
 *   TCP control connections (its `--token-file`); %NULL for
 *   `$SOCKETMASTER_TOKEN` when set and not empty, "" for none
 *
 * Takes effect at the next registration (start or reconnect). A token or a
 * name makes the listener register with the extension handshake
 * (docs/PROTOCOL.md §7), which the original Go daemon does not know;
 * without them it uses the original format.
 */
void                      sm_listener_set_token (SmListener *self, const char *token);

/**
 * sm_listener_get_token:
 * @self: a listener
 *
 * Returns: (nullable) (transfer none): the token set with
 *   sm_listener_set_token(); %NULL when none was (the environment is not
 *   read here)
 */
const char               *sm_listener_get_token (SmListener *self);

/**
 * sm_listener_set_name:
 * @self: a listener
 * @name: (nullable): a label for the daemon's logs and D-Bus; %NULL or ""
 *   for none
 *
 * Used from the next registration on; a name makes the listener register
 * with the extension handshake (docs/PROTOCOL.md §7).
 */
void                      sm_listener_set_name (SmListener *self, const char *name);

/**
 * sm_listener_get_name:
 * @self: a listener
 *
 * Returns: (nullable) (transfer none): the name set with
 *   sm_listener_set_name()
 */
const char               *sm_listener_get_name (SmListener *self);

/**
 * sm_listener_set_proxy_protocol:
 * @self: a listener
 * @version: 1 (text) or 2 (binary) to receive a PROXY protocol header of
 *   that version at the start of each stream, 0 (the default) for none
 *
 * The daemon then starts each stream with a header naming the public
 * client, which the listener reads before it hands the stream out (see
 * sm_listener_stream_get_client_address()); a stream whose header is
 * malformed is reset, the others go on. Used from the next registration
 * on, which then uses the extension handshake (docs/PROTOCOL.md §7); only
 * raw TCP services may ask for it (an HTTP one is refused with
 * %SM_ERROR_UNSUPPORTED).
 */
void                      sm_listener_set_proxy_protocol (SmListener *self, guint version);

/**
 * sm_listener_get_proxy_protocol:
 * @self: a listener
 *
 * Returns: the PROXY protocol version asked for, 0 for none
 */
guint                     sm_listener_get_proxy_protocol (SmListener *self);

/**
 * sm_listener_stream_get_client_address:
 * @stream: a stream handed out by a listener
 *
 * Returns: (nullable) (transfer none): the public client's address (a
 *   #GInetSocketAddress) of a stream from a listener with a PROXY protocol
 *   version; %NULL without one, or when the daemon did not know it (a
 *   LOCAL header)
 */
GSocketAddress           *sm_listener_stream_get_client_address (GIOStream *stream);

/**
 * sm_listener_stream_get_public_address:
 * @stream: a stream handed out by a listener
 *
 * Returns: (nullable) (transfer none): the public address the client
 *   connected to, as for sm_listener_stream_get_client_address()
 */
GSocketAddress           *sm_listener_stream_get_public_address (GIOStream *stream);

/**
 * sm_listener_error_is_refusal:
 * @error: (nullable): an error from sm_listener_start_finish()
 *
 * Tells the daemon's refusal, in either format, from other failures:
 * asking again the same way fails again (see sm_listener_start_async()).
 *
 * Returns: %TRUE for %SM_ERROR_REJECTED (original format) or one of the
 *   codes an extension refusal maps to
 */
gboolean                  sm_listener_error_is_refusal (const GError *error);

G_END_DECLS
