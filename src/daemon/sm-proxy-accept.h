/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Headers being read at once: bounds what balancers that never send one
 * can hold (a buffer of SM_PROXY_HEADER_MAX_SIZE each). The sources are
 * the few trusted balancers, each carrying many clients, so one source
 * may take them all. */
#define SM_PROXY_ACCEPT_MAX_PENDING 1024

/**
 * SmProxyAccept:
 *
 * The PROXY protocol from trusted balancers (--accept-proxy), one for all
 * public ports. A connection whose peer is in one of the trusted networks
 * must start with a v1 or v2 header within the timeout, else it is closed.
 * The header is read without blocking and never past its end (peeked,
 * then exactly its bytes read), so what follows, a TLS ClientHello or an
 * HTTP request, is the connection's own. Its addresses then stand for the
 * connection's (sm_proxy_accept_get_client_address()); a LOCAL header
 * (health checks) leaves the real ones. Connections from other peers are
 * never looked at: a header from them is data.
 *
 * Pending reads are bounded like TLS handshakes (SmSourceLimit): a new one
 * past SM_PROXY_ACCEPT_MAX_PENDING takes the place of the oldest silent
 * one.
 */
#define SM_TYPE_PROXY_ACCEPT (sm_proxy_accept_get_type ())
G_DECLARE_FINAL_TYPE (SmProxyAccept, sm_proxy_accept, SM, PROXY_ACCEPT, GObject)

/* @trusted: of GInetAddressMask, not empty (a reference is taken) */
SmProxyAccept *sm_proxy_accept_new (GPtrArray *trusted);

/* Whether @connection's peer is a trusted balancer (an IPv4 peer of a
 * dual-stack listener counts as IPv4) */
gboolean       sm_proxy_accept_is_trusted (SmProxyAccept *self, GSocketConnection *connection);
guint          sm_proxy_accept_get_n_pending (SmProxyAccept *self);
/* For tests: SM_PROXY_ACCEPT_MAX_PENDING */
void           sm_proxy_accept_set_max_pending (SmProxyAccept *self, guint max_pending);

/* Reads the PROXY header that starts @connection, for at most
 * @timeout_ms; @display_name: the port, for messages */
void           sm_proxy_accept_read_async (SmProxyAccept      *self,
                                           GSocketConnection  *connection,
                                           const char         *display_name,
                                           guint               timeout_ms,
                                           GCancellable       *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer            user_data);
/* The connection (transfer full), or NULL when it was closed: no header
 * in time (SM_ERROR_TIMED_OUT), a malformed one (as the codec says), the
 * peer closed (SM_ERROR_CLOSED), cancelled or evicted
 * (G_IO_ERROR_CANCELLED); traced with g_debug */
GSocketConnection *
sm_proxy_accept_read_finish (SmProxyAccept *self, GAsyncResult *result, GError **error);

/* The public client and the address it reached, as the balancer's header
 * told, else the socket's own. @stream: a GSocketConnection or a TLS
 * stream over one (NULL for anything else). */
GSocketAddress *sm_proxy_accept_get_client_address (GIOStream *stream);
GSocketAddress *sm_proxy_accept_get_local_address (GIOStream *stream);

G_END_DECLS
