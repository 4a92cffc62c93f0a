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

G_END_DECLS
