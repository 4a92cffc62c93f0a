/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * A listening TCP socket on @address (NULL: all interfaces, IPv6 and IPv4
 * through one dual-stack socket when the host has IPv6) and @port (0:
 * ephemeral). Errors are SM_ERROR_ADDRESS_IN_USE, SM_ERROR_PERMISSION_DENIED,
 * SM_ERROR_ADDRESS_NOT_AVAILABLE or SM_ERROR_FAILED, with a message fit to
 * send to a service as its handshake status.
 */
GSocket *sm_listen_socket_new (GInetAddress *address, guint16 port, GError **error);

/* Accepts, without blocking, up to @max connections the kernel has
 * completed on @socket and passes each to @func, which returns FALSE to
 * stop there. A listener that stops takes every one first (closing it
 * would reset them) and answers them; a listener woken by a burst takes a
 * batch at once. Returns how many were accepted. */
typedef gboolean (*SmListenSocketAcceptFunc) (GSocketConnection *connection, gpointer user_data);
guint sm_listen_socket_accept_pending (GSocket                 *socket,
                                       guint                    max,
                                       SmListenSocketAcceptFunc func,
                                       gpointer                 user_data);

G_END_DECLS
