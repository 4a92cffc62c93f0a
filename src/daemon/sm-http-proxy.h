/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-http-limits.h"
#include "sm-http-router.h"

G_BEGIN_DECLS

/* The client's input: at least the head limit; and a tunnel's buffers */
#define SM_HTTP_PROXY_BUFFER_SIZE (64 * 1024)
/* After the last response of a connection: time to write it and to read
 * what the client still sends, so that closing does not reset the
 * connection under the response */
#define SM_HTTP_PROXY_LINGER_MS        2000
#define SM_HTTP_PROXY_LINGER_MAX_BYTES (1024 * 1024)

/**
 * SmHttpProxy:
 *
 * One public connection of a port in HTTP mode: an HTTP/1.1 reverse proxy
 * that routes every request on its own. Requests are handled one at a
 * time, in order; pipelined requests wait in the input buffer.
 *
 * One request, from accept to the service, goes through:
 *  - #SmPort accepts the connection (and terminates TLS) and makes the
 *    proxy with the port's #SmHttpRouter;
 *  - the proxy (this file) reads the request head, with its size limit
 *    and timers, and owns the public stream: reading, writing, closing
 *    without losing the last response;
 *  - its #SmHttpExchange asks the router which service the request goes
 *    to (or waits there for one that left to come back), relays the
 *    request and the response, retries, and hands a 101 over to a raw
 *    tunnel (#SmTcpProxy);
 *  - sm-http-upstream.c opens or reuses the yamux stream to the service.
 *
 * Everything is driven by one loop: it makes all the progress the
 * buffers and the streams allow, then watches for exactly what it waits
 * for (readable input with room to store it, writable output it could not
 * finish writing). Memory per connection is bounded by its buffers and
 * one head being written.
 *
 * The public stream may be any GIOStream with pollable input and output
 * (a GSocketConnection, or a TLS stream over one). The proxy keeps itself
 * alive until the connection is over.
 */
#define SM_TYPE_HTTP_PROXY (sm_http_proxy_get_type ())
G_DECLARE_FINAL_TYPE (SmHttpProxy, sm_http_proxy, SM, HTTP_PROXY, GObject)

/* @client_address: the client's, for the forwarding headers (NULL:
 * "unknown"); @https: the client connected with TLS */
SmHttpProxy *sm_http_proxy_new (SmHttpRouter       *router,
                                GIOStream          *client,
                                GSocketAddress     *client_address,
                                gboolean            https,
                                const SmHttpLimits *limits);
/* Cancelling @drain lets the request in progress finish and then closes
 * the connection (the first stage of the daemon's shutdown); cancelling
 * @cancellable aborts the connection (the last stage). Either may be NULL. */
void sm_http_proxy_start (SmHttpProxy *self, GCancellable *drain, GCancellable *cancellable);

G_END_DECLS
