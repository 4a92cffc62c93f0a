/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A service's side of the control handshake (docs/PROTOCOL.md §1-4): connect to
 * the daemon, send the SocketDefinition, read the status. Internal to the
 * client library.
 */

#include <gio/gio.h>
#include "sm-socket-definition.h"

G_BEGIN_DECLS

/* Runs in the thread-default main context. Fails with SM_ERROR_REJECTED
 * (message: the daemon's status, verbatim), SM_ERROR_PROTOCOL, SM_ERROR_CLOSED
 * (EOF before the status), a GIO error from connecting or I/O, or
 * G_IO_ERROR_CANCELLED. There is no timeout: cancel @cancellable instead. */
void sm_client_handshake_async (GSocketConnectable       *control_address,
                                const SmSocketDefinition *definition,
                                GCancellable             *cancellable,
                                GAsyncReadyCallback       callback,
                                gpointer                  user_data);
/* Returns the connection, ready for yamux; @out_leftover: bytes that came
 * after the status (the daemon may open streams at once). */
GSocketConnection *
sm_client_handshake_finish (GAsyncResult *result, GBytes **out_leftover, GError **error);

G_END_DECLS
