/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-http-limits.h"
#include "sm-port.h"

G_BEGIN_DECLS

/* Per direction: client input (at least the head limit) and service input */
#define SM_HTTP_PROXY_BUFFER_SIZE (64 * 1024)
/* A service's response head may not be larger (502) */
#define SM_HTTP_PROXY_MAX_RESPONSE_HEAD (64 * 1024)
/* Idle keep-alive streams to services kept per public connection */
#define SM_HTTP_PROXY_MAX_IDLE_STREAMS 4
/* After the last response of a connection: time to write it and to read
 * what the client still sends, so that closing does not reset the
 * connection under the response */
#define SM_HTTP_PROXY_LINGER_MS        2000
#define SM_HTTP_PROXY_LINGER_MAX_BYTES (1024 * 1024)

/**
 * SmHttpProxy:
 *
 * One public connection of a port in HTTP mode: an HTTP/1.1 reverse proxy
 * that routes every request on its own (sm_port_match_http()). Requests
 * are handled one at a time, in order; pipelined requests wait in the
 * input buffer. Bodies stream through bounded buffers both ways, the
 * response being read while the request body is still being sent.
 *
 * Each request goes to a yamux stream to its service, reused for later
 * requests to the same service while both sides keep the connection
 * alive. A stream is never reused once its service is going away, and an
 * idle one is closed at once then, so a draining service is not held up.
 *
 * A request that failed on its service before any response byte came back
 * is sent again once (GET, HEAD or OPTIONS without a body); other failures
 * get 502. After a 101 the connection becomes a raw tunnel to the service.
 *
 * The public stream may be any GIOStream with pollable input and output
 * (a GSocketConnection, or a TLS stream over one). The proxy keeps itself
 * alive until the connection is over.
 */
#define SM_TYPE_HTTP_PROXY (sm_http_proxy_get_type ())
G_DECLARE_FINAL_TYPE (SmHttpProxy, sm_http_proxy, SM, HTTP_PROXY, GObject)

/* @client_address: the client's, for the forwarding headers (NULL:
 * "unknown"); @https: the client connected with TLS */
SmHttpProxy *sm_http_proxy_new (SmPort             *port,
                                GIOStream          *client,
                                GSocketAddress     *client_address,
                                gboolean            https,
                                const SmHttpLimits *limits);
/* Cancelling @cancellable aborts the connection (daemon shutdown) */
void         sm_http_proxy_start (SmHttpProxy *self, GCancellable *cancellable);

G_END_DECLS
