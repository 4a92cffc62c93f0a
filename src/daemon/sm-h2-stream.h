/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>
#include <nghttp2/nghttp2.h>

#include "sm-http-limits.h"
#include "sm-http-router.h"

G_BEGIN_DECLS

/* A stream's request body waiting for room, bounded by its HTTP/2 window */
#define SM_H2_STREAM_WINDOW (64 * 1024 - 1)
/* The request as its exchange reads it (HTTP/1.1 framing) */
#define SM_H2_STREAM_INPUT_SIZE (16 * 1024)
/* The response as the exchange writes it: a whole head must fit */
#define SM_H2_STREAM_SINK_SIZE (64 * 1024)

/**
 * SmH2StreamContext:
 * @router: the port's
 * @address: the client's (NULL: unknown)
 * @ip: the client's IP address for the forwarding headers
 * @https: the client connected with TLS
 * @limits: the port's HTTP limits (the exchange's timeouts)
 * @tracing: debug messages are shown
 * @wake: the stream has something for its connection to send, or took
 *   something it waited for: the connection runs (not re-entered)
 * @connection: passed to @wake; each stream holds a reference
 *
 * What every stream of one connection shares; the connection's, and it
 * outlives them.
 */
typedef struct
{
  SmHttpRouter   *router;
  GSocketAddress *address;
  const char     *ip;
  gboolean        https;
  SmHttpLimits    limits;
  gboolean        tracing;
  void (*wake) (gpointer connection, gpointer stream);
  GObject *connection;
} SmH2StreamContext;

/**
 * SmH2Stream:
 *
 * One HTTP/2 stream of a client: one request, routed and relayed by an
 * #SmHttpExchange exactly as an HTTP/1.1 request (same routing, waiting
 * for a departed service, retries, forwarding headers, answers of our
 * own), to which the stream is an HTTP/1.1 client: it writes the request
 * as HTTP/1.1 into the exchange's input and reads the HTTP/1.1 response
 * from the exchange's output (#SmH2Sink), which it turns into HEADERS and
 * DATA frames through nghttp2's deferred data provider.
 *
 * Flow control: request DATA is given back to the client's window
 * (nghttp2_session_consume()) only as it moves into the exchange's input,
 * which empties as the yamux stream takes it; response bytes leave the
 * sink only as the client's window lets DATA frames out, and a full sink
 * stops the exchange from reading its yamux stream. Memory per stream is
 * bounded by the window and the two buffers, whoever is slow.
 *
 * The connection (#SmH2Connection) calls the functions below from its
 * nghttp2 callbacks; they only store what came, so that nothing of the
 * exchange runs inside nghttp2.
 */
#define SM_TYPE_H2_STREAM (sm_h2_stream_get_type ())
G_DECLARE_FINAL_TYPE (SmH2Stream, sm_h2_stream, SM, H2_STREAM, GObject)

SmH2Stream          *
sm_h2_stream_new (const SmH2StreamContext *context, nghttp2_session *session, gint32 id);
gint32   sm_h2_stream_get_id (SmH2Stream *self);

/* From the callbacks: a field of the request head (@trailer: after the
 * body); FALSE if the stream must be reset */
gboolean sm_h2_stream_add_field (SmH2Stream   *self,
                                 gboolean      trailer,
                                 const guint8 *name,
                                 gsize         name_len,
                                 const guint8 *value,
                                 gsize         value_len);
/* The request head is complete (@end_stream: without a body) */
void     sm_h2_stream_head_done (SmH2Stream *self, gboolean end_stream);
/* Request body bytes; the client said it sent all */
void     sm_h2_stream_data (SmH2Stream *self, const guint8 *data, gsize len);
void     sm_h2_stream_end (SmH2Stream *self);
/* nghttp2 closed the stream: the exchange stops at once (a service
 * still answering has its yamux stream reset); @reset_by_client: the
 * client cancelled it before the response was complete */
void     sm_h2_stream_closed (SmH2Stream *self, guint32 error_code, gboolean *reset_by_client);

/* Outside the callbacks: routes the request whose head is complete */
void     sm_h2_stream_begin (SmH2Stream *self);
gboolean sm_h2_stream_has_begun (SmH2Stream *self);
gboolean sm_h2_stream_is_closed (SmH2Stream *self);
/* Makes all the progress it can; the connection sends what it submitted */
void     sm_h2_stream_run (SmH2Stream *self);
/* Whether response bytes wait for the client's window */
gboolean sm_h2_stream_blocked_by_client (SmH2Stream *self);

G_END_DECLS
