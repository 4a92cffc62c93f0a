/* SPDX-License-Identifier: MIT */
#pragma once

/* What the files of SmHttpExchange share: its state, and the helpers the
 * tunnel hand-over (sm-http-exchange-tunnel.c) uses */

#include "sm-http-exchange.h"
#include "sm-http-upstream.h"

G_BEGIN_DECLS

/* A request head buffer this big or smaller is reused for the next one */
#define KEPT_HEAD_SIZE (8 * 1024)

typedef enum
{
  PHASE_IDLE,         /* no request */
  PHASE_WAITING,      /* the request waits for its service */
  PHASE_RELAYING,     /* request and response being relayed */
  PHASE_TUNNEL_FLUSH, /* after a 101: writing what is buffered */
} Phase;

struct _SmHttpExchange
{
  GObject                        *connection; /* owns us */
  const SmHttpExchangeConnection *vtable;
  SmHttpExchangeClient            client;
  SmHttpRouter                   *router;
  gboolean                        tracing; /* for SM_HTTP_DEBUG */
  Phase                           phase;

  /* The request */
  SmHttpRequest                  *request;
  gboolean                        keep_alive;    /* the connection goes on after this response */
  gboolean                        no_keep_alive; /* draining: every response closes */
  GString                        *request_head;  /* kept until a response byte came, for a retry;
                                                    empty between requests */
  gsize                           request_head_sent;
  SmHttpBodyRelay                 request_body; /* done: all of it went to the service */
  guint                           attempts;
  SmHttpWaiter                   *waiter;
  gint64                          started_at; /* the head was in, for the metrics */

  /* Its service */
  SmHttpUpstreamSlot             *slot;
  SmHttpUpstream                 *upstream;
  SmHttpBuffer                    up_in;
  gboolean                        upstream_write_failed;
  gboolean                        upstream_write_blocked;
  SmHttpHeadScanner               response_scanner;
  guint                           n_informational;  /* 1xx relayed for this request */
  SmHttpResponse                 *response;         /* the final response, once its head came */
  gboolean                        response_started; /* a byte came from this attempt's service */
  SmHttpBodyRelay                 response_body;
};

/* Ends the connection at once */
void     sm_http_exchange_abort (SmHttpExchange *self, const char *reason);
/* Writes what is queued on the client's output, then @data: the bytes
 * moved, or -1 when the client is gone (the connection ended) */
gssize   sm_http_exchange_write_client (SmHttpExchange *self,
                                        const guint8   *data,
                                        gsize           len,
                                        gsize          *data_written);
/* > 0 written, 0 would block, -1 failed (handled by the caller) */
gssize   sm_http_exchange_write_upstream (SmHttpExchange *self,
                                          const guint8   *data,
                                          gsize           len,
                                          GError        **error);
/* Writes what is left of the request head; FALSE once it is all out */
gboolean sm_http_exchange_write_request_head (SmHttpExchange *self, gssize *n, GError **error);

/* After a 101 to an upgrade request: queues its head for the client */
void     sm_http_exchange_start_tunnel (SmHttpExchange *self, SmHttpResponse *response);
/* Writes what is buffered either way, then hands the stream over */
gboolean sm_http_exchange_pump_tunnel (SmHttpExchange *self);

G_END_DECLS
