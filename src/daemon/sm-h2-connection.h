/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-http-limits.h"
#include "sm-http-router.h"

G_BEGIN_DECLS

/* The client preface (RFC 9113 §3.4): prior knowledge on a plain port */
#define SM_H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define SM_H2_PREFACE_LEN 24

/* SETTINGS_MAX_CONCURRENT_STREAMS we announce */
#define SM_H2_MAX_CONCURRENT_STREAMS 100
/* The client's connection window: request bodies of all streams waiting
 * for their services */
#define SM_H2_CONNECTION_WINDOW (1024 * 1024)
/* Frames made ahead of the socket */
#define SM_H2_OUTPUT_HIGH (64 * 1024)
/* Rapid reset (CVE-2023-44487): streams a client may cancel at once, and
 * per second after that; past it, GOAWAY ENHANCE_YOUR_CALM */
#define SM_H2_RESET_BURST 100
#define SM_H2_RESET_RATE  50
/* Frames a client makes us answer (SETTINGS and PING acks) that may wait
 * for a client that does not read, and SETTINGS entries per frame */
#define SM_H2_MAX_OUTBOUND_ACK 1000
#define SM_H2_MAX_SETTINGS     32

/**
 * SmH2Connection:
 *
 * One public HTTP/2 connection of a port in HTTP mode (ALPN h2 on a TLS
 * port, or prior knowledge on a plain one; #SmHttpProxy sees which and
 * hands the connection over). nghttp2 does the framing, HPACK and the
 * protocol's checks; each stream is an #SmH2Stream, a request routed and
 * relayed as HTTP/1.1 to a service.
 *
 * The connection reads what the client sends only while the frames it
 * makes (acks included) fit in its bounded output, so a client that
 * floods without reading stops being read, and nghttp2 closes it when its
 * acks pile up. Timers: a connection that has not finished a request
 * head within the header timeout, or has no stream for the idle timeout,
 * is closed with GOAWAY; one whose streams wait for the client's window
 * or socket without progress for the idle timeout is closed too.
 */
#define SM_TYPE_H2_CONNECTION (sm_h2_connection_get_type ())
G_DECLARE_FINAL_TYPE (SmH2Connection, sm_h2_connection, SM, H2_CONNECTION, GObject)

/* @client_ip: the client's as services see it */
SmH2Connection *sm_h2_connection_new (SmHttpRouter       *router,
                                      GIOStream          *client,
                                      GSocketAddress     *client_address,
                                      const char         *client_ip,
                                      gboolean            https,
                                      const SmHttpLimits *limits);
/* @received: what was read from the client already (the preface).
 * Cancelling @drain sends GOAWAY, lets the streams finish, then closes;
 * cancelling @cancellable closes at once. Either may be NULL. */
void            sm_h2_connection_start (SmH2Connection *self,
                                        const guint8   *received,
                                        gsize           len,
                                        GCancellable   *drain,
                                        GCancellable   *cancellable);

G_END_DECLS
