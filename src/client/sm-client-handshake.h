/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A service's side of the control handshake (docs/PROTOCOL.md §1-4, §7):
 * connect to the daemon, send the request, read the answer. Internal to the
 * client library.
 */

#include <gio/gio.h>
#include "sm-extension-handshake.h"

G_BEGIN_DECLS

/* Runs in the thread-default main context. @control_address: "host:port",
 * "[v6]:port" or "unix:/path" (sm_client_parse_control_address()).
 * @request: what to ask for; a NULL token means $SOCKETMASTER_TOKEN, and
 * an empty token or name none. With a token or a name the request is in
 * the extension format (PROTOCOL.md §7), else in the original one.
 * Fails with the daemon's refusal (its message verbatim): an original
 * status is SM_ERROR_REJECTED, an extension refusal the SM_ERROR of its
 * code (SM_ERROR_UNAUTHORIZED, SM_ERROR_PERMISSION_DENIED, ...). Also
 * fails with SM_ERROR_PROTOCOL, SM_ERROR_CLOSED (EOF before the answer), a
 * GIO error from parsing the address, connecting or I/O, or
 * G_IO_ERROR_CANCELLED. There is no timeout: cancel @cancellable instead. */
void sm_client_handshake_async (const char               *control_address,
                                const SmExtensionRequest *request,
                                GCancellable             *cancellable,
                                GAsyncReadyCallback       callback,
                                gpointer                  user_data);
/* Returns the connection, ready for yamux; @out_leftover: bytes that came
 * after the status (the daemon may open streams at once). */
GSocketConnection          *
sm_client_handshake_finish (GAsyncResult *result, GBytes **out_leftover, GError **error);

/* TRUE when the daemon dropped the attempt (worth another), FALSE when it
 * refused or could not be reached */
gboolean sm_client_handshake_is_transient (const GError *error);

/* G_IO_ERROR_INVALID_ARGUMENT when @control_address has no port or no path */
GSocketConnectable *sm_client_parse_control_address (const char *control_address, GError **error);

G_END_DECLS
