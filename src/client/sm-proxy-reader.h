/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Reads the PROXY protocol header (sm-proxy-header.h) the daemon sends at
 * the start of each stream to a service that asked for it, for
 * SmListener. It takes the header's bytes and none after them: those are
 * the application's. Internal to the client library, except the public
 * accessors of the addresses found (sm_listener_stream_get_*_address()).
 */

#include <gio/gio.h>
#include "sm-proxy-header.h"
#include "sm-yamux-stream.h"

G_BEGIN_DECLS

/* Runs in the thread-default main context. Holds at most
 * SM_PROXY_HEADER_MAX_SIZE bytes. */
void           sm_proxy_reader_read_async (SmYamuxStream      *stream,
                                           GCancellable       *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer            user_data);
/* Returns @stream (transfer full), the addresses of its header attached
 * (sm_listener_stream_get_client_address() reads them). Fails with an
 * SM_ERROR_PROTOCOL or SM_ERROR_TOO_LARGE for a malformed header,
 * SM_ERROR_CLOSED for an end before it, an I/O error or
 * G_IO_ERROR_CANCELLED; the stream was then reset (unless cancelled). */
SmYamuxStream *sm_proxy_reader_read_finish (GAsyncResult *result, GError **error);

G_END_DECLS
