/* SPDX-License-Identifier: MIT */
#pragma once

/* SmHttpProxy's insides, shared by sm-http-proxy.c and
 * sm-http-proxy-requests.c (reading requests) */

#include "sm-event-loop.h"
#include "sm-http-exchange.h"
#include "sm-http-proxy.h"

G_BEGIN_DECLS

typedef enum
{
  SM_HTTP_PROXY_READ_HEAD, /* waiting for a complete request head */
  SM_HTTP_PROXY_EXCHANGE,  /* the exchange has the request */
  SM_HTTP_PROXY_FLUSH,     /* writing what is queued of a response, then the next request */
  SM_HTTP_PROXY_CLOSING,   /* last response out: half-closed, draining */
  SM_HTTP_PROXY_DONE,
} SmHttpProxyState;

typedef enum
{
  SM_HTTP_PROXY_TIMER_NONE,
  SM_HTTP_PROXY_TIMER_HEADER,   /* the request head must be complete by then */
  SM_HTTP_PROXY_TIMER_IDLE,     /* keep-alive: the next request must start */
  SM_HTTP_PROXY_TIMER_LINGER,   /* closing: close even if not drained */
  SM_HTTP_PROXY_TIMER_BODY,     /* more of the request body must come */
  SM_HTTP_PROXY_TIMER_RESPONSE, /* the service must start answering */
} SmHttpProxyTimer;

struct _SmHttpProxy
{
  GObject                parent_instance;

  SmHttpRouter          *router;
  GIOStream             *client;
  GPollableInputStream  *client_input;
  GPollableOutputStream *client_output;
  GSocketAddress        *client_address;
  char                  *client_ip;
  SmHttpLimits           limits;
  SmEventCancelWatch     drain_watch;
  SmEventCancelWatch     shutdown_watch;
  SmEventTimer           release_timer; /* frees the exchange between requests */
  gboolean               started;
  gboolean               tracing; /* debug messages are shown */

  SmHttpProxyState       state;
  guint                  n_requests;
  gboolean               keep_alive; /* the connection goes on after the response in FLUSH */
  gboolean               draining;   /* the daemon is shutting down: no next request */

  SmHttpBuffer           in; /* request heads, bodies, pipelined requests */
  gboolean               client_half_closed;
  gsize                  discarded;
  SmHttpHeadScanner      head_scanner;
  SmEventWatch          *client_watch;
  SmHttpOutput           out;
  SmEventTimer           timer;
  SmHttpProxyTimer       timer_kind;

  SmHttpExchange        *exchange; /* while a request is in progress */
  gboolean               https;
};

/* sm-http-proxy.c */
/* The exchange of the request in progress, made when first needed */
SmHttpExchange *sm_http_proxy_get_exchange (SmHttpProxy *self);
void            sm_http_proxy_set_timer (SmHttpProxy *self, SmHttpProxyTimer kind);
/* Writes what is queued: the bytes moved, or -1 when the client is gone
 * and the connection ended */
gssize          sm_http_proxy_flush_out (SmHttpProxy *self);
/* Writes what is left, then closes without resetting the connection */
void            sm_http_proxy_start_closing (SmHttpProxy *self);
/* Releases everything; @close_client: FALSE when something else took
 * the client's stream over */
void            sm_http_proxy_end (SmHttpProxy *self, gboolean close_client);
/* SmHttpExchangeConnection.response_queued */
void            sm_http_proxy_response_queued (gpointer connection, gboolean keep_alive);

/* sm-http-proxy-requests.c */
/* Our own answer with @status, then the connection closes */
void            sm_http_proxy_answer (SmHttpProxy *self, guint status);
/* Hands the connection over to an SmH2Connection */
void            sm_http_proxy_serve_h2 (SmHttpProxy *self);
/* The loop's steps in SM_HTTP_PROXY_READ_HEAD and SM_HTTP_PROXY_FLUSH:
 * TRUE when they made progress */
gboolean        sm_http_proxy_read_request_head (SmHttpProxy *self);
gboolean        sm_http_proxy_pump_flush (SmHttpProxy *self);

G_END_DECLS
