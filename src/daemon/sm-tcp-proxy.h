/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-route.h"
#include "sm-splice.h"
#include "sm-yamux-stream.h"

G_BEGIN_DECLS

/* Towards the service, held only while bytes are in it, and each read
 * takes no more than the stream's window lets it send at once, so a
 * service that stops reading pins none of it. Up to 1 MiB at a time when
 * the service grants that much: on loopback a 1 MiB read and write cost
 * far less CPU per byte than four of 256 KiB. Towards the client the
 * splice writes from the yamux stream's own buffer: a client that stops
 * reading pins only the stream's window. */
#define SM_TCP_PROXY_BUFFER_SIZE (1024 * 1024)

/**
 * SmTcpProxy:
 *
 * One public connection in raw TCP mode, or an HTTP connection after its
 * request switched protocols (101): its bytes are copied to and from a
 * yamux stream opened to a service, until both sides are done or either
 * breaks. It keeps itself alive while it runs and tells its route how much
 * went through when it ends.
 *
 * The public side may be any GIOStream with pollable input and output (a
 * GSocketConnection, or a TLS stream over one).
 *
 * A route that asked for the PROXY protocol (sm_route_get_proxy_protocol())
 * gets a header before the client's bytes, naming the client and the
 * address it reached (sm_proxy_accept_get_local_address()). Only raw TCP
 * routes ask for it: an HTTP tunnel never starts with one.
 */
#define SM_TYPE_TCP_PROXY (sm_tcp_proxy_get_type ())
G_DECLARE_FINAL_TYPE (SmTcpProxy, sm_tcp_proxy, SM, TCP_PROXY, GObject)

/* @stream must come from sm_route_open_stream (@route); @client_address
 * is for messages (NULL: unknown); @buffer_size: per direction. @moved
 * (NULL: none): bytes already sent over @stream (an HTTP connection's
 * requests and responses before its tunnel), counted with the copy's. */
SmTcpProxy *sm_tcp_proxy_new (GIOStream            *client,
                              GSocketAddress       *client_address,
                              SmRoute              *route,
                              SmYamuxStream        *stream,
                              gsize                 buffer_size,
                              const SmSpliceCounts *moved);
/* Cancelling @cancellable aborts the copy (daemon shutdown) */
void        sm_tcp_proxy_start (SmTcpProxy *self, GCancellable *cancellable);

G_END_DECLS
