/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-http-buffer.h"
#include "sm-http-output.h"
#include "sm-http-parser.h"
#include "sm-http-router.h"
#include "sm-splice.h"

G_BEGIN_DECLS

/* Service input buffered per connection; a response head may not be
 * larger (502) */
#define SM_HTTP_EXCHANGE_BUFFER_SIZE       (64 * 1024)
#define SM_HTTP_EXCHANGE_MAX_RESPONSE_HEAD (64 * 1024)
/* Interim (1xx) responses relayed per request; one more is a broken
 * response (502, or the connection closes) */
#define SM_HTTP_EXCHANGE_MAX_INFORMATIONAL 10

/*
 * SmHttpExchange: one request and its response between a public HTTP
 * connection (#SmHttpProxy) and a service. It asks the router for the
 * request's service (waiting there if the service is away), sends the
 * request head (rewritten for forwarding) and body to a yamux stream while
 * it reads the response and passes it on, so a service may answer early
 * (100 Continue, or a final answer before the body is in). A request that
 * failed on its service before any response byte came back is sent again
 * once (GET, HEAD or OPTIONS without a body); other failures get 502.
 * After a 101 it writes out what is buffered either way and hands the
 * stream over for a raw tunnel.
 *
 * A connection has one exchange, reused for each of its requests in turn,
 * and the slot for the one stream to a service it uses at a time
 * (sm-http-upstream.h) with it, so a request costs no allocation of its
 * own. Between requests it holds no stream: idle ones wait in their
 * route's pool for any connection.
 *
 * The connection and its exchange talk through a narrow interface: the
 * connection starts requests, runs the exchange (sm_http_exchange_pump())
 * and resets it; the exchange takes request bodies from the connection's
 * input buffer, queues response heads on the connection's output, and
 * calls back through #SmHttpExchangeConnection.
 */
typedef struct _SmHttpExchange SmHttpExchange;

/**
 * SmHttpExchangeConnection:
 * @response_queued: the response is out or queued on the output; the
 *   connection writes what is queued, then reads the next request if
 *   @keep_alive, else closes
 * @tunnel: the request switched protocols and everything buffered is out:
 *   the connection splices its client with @stream from now on; @moved
 *   are the bytes the exchange already moved over @stream
 * @abort: ends the connection at once
 * @run: something the exchange waited for happened: the connection makes
 *   what progress it can
 *
 * What an exchange needs from its connection, besides its buffers. After
 * any call but @run the exchange is over: the connection resets it and
 * gives it the next request, or ends.
 */
typedef struct
{
  void (*response_queued) (gpointer connection, gboolean keep_alive);
  void (*tunnel) (gpointer              connection,
                  SmRoute              *route,
                  SmYamuxStream        *stream,
                  const SmSpliceCounts *moved);
  void (*abort) (gpointer connection, const char *reason);
  void (*run) (gpointer connection);
} SmHttpExchangeConnection;

/**
 * SmHttpExchangeClient:
 * @address: the client's (NULL: unknown), shown to the router's observers
 * @ip: the client's IP address as services see it (forwarding headers)
 * @https: the client connected with TLS
 * @input: the connection's input buffer: request bodies are taken from
 *   it, and after a 101 whatever the client sent
 * @output: the connection's output: response heads are queued there,
 *   and bodies written through it
 * @tracing: debug messages are shown
 * @version: the client's protocol for the metrics and the access log
 *   ("HTTP/2"), NULL for the request's own
 *
 * The public side of the connection, as the exchange sees it. Everything
 * is the connection's and outlives the exchange.
 */
typedef struct
{
  GSocketAddress *address;
  const char     *ip;
  gboolean        https;
  SmHttpBuffer   *input;
  SmHttpOutput   *output;
  gboolean        tracing;
  const char     *version;
} SmHttpExchangeClient;

/* @connection (a GObject, held while the exchange calls it back) gets the
 * calls of @vtable */
SmHttpExchange *sm_http_exchange_new (GObject                        *connection,
                                      const SmHttpExchangeConnection *vtable,
                                      const SmHttpExchangeClient     *client,
                                      SmHttpRouter                   *router);
/* Resets the exchange (a stream in use is reset) and frees it */
void            sm_http_exchange_free (SmHttpExchange *self);

/* Takes @request, with its body (if any) at the start of the input, and
 * routes it: it waits for its service, goes to it, or is answered at once
 * (404, 503) */
void            sm_http_exchange_begin (SmHttpExchange *self, SmHttpRequest *request);
/* Makes the progress the buffers and streams allow; TRUE if it made any */
gboolean        sm_http_exchange_pump (SmHttpExchange *self);
/* Whether it waits for the client's input to be written to the service
 * before the client may be read again (after a 101) */
gboolean        sm_http_exchange_holds_input (SmHttpExchange *self);
/* Watches the service's stream for what the exchange waits for */
void            sm_http_exchange_update_watches (SmHttpExchange *self);

/* Queues an answer of ours to the current request (or to none: @close
 * then) on the output and resets the exchange. Returns whether the
 * connection may go on after it. */
gboolean        sm_http_exchange_answer (SmHttpExchange     *self,
                                         guint               status,
                                         gboolean            close_connection,
                                         SoupMessageHeaders *extra_headers);
/* Forgets the request in progress, if any: a service that was sending a
 * response keeps none of it, its stream is reset */
void            sm_http_exchange_reset (SmHttpExchange *self);

/* The daemon is draining: the response in progress, if its head is not out
 * yet, and any later one close the connection */
void            sm_http_exchange_stop_keep_alive (SmHttpExchange *self);

/**
 * SmHttpExchangeWait:
 * @SM_HTTP_EXCHANGE_WAIT_NONE: nothing the connection times
 * @SM_HTTP_EXCHANGE_WAIT_BODY: for more of the request body from the
 *   client (everything received so far went to the service)
 * @SM_HTTP_EXCHANGE_WAIT_RESPONSE: for the service to start answering
 *   (the request head went out, no response byte came yet)
 *
 * What the exchange waits for, for the connection's timers
 */
typedef enum
{
  SM_HTTP_EXCHANGE_WAIT_NONE,
  SM_HTTP_EXCHANGE_WAIT_BODY,
  SM_HTTP_EXCHANGE_WAIT_RESPONSE,
} SmHttpExchangeWait;

SmHttpExchangeWait sm_http_exchange_get_wait (SmHttpExchange *self);
/* The wait @wait lasted too long: 408 (or an abort, if a response is on
 * its way) for a body, 504 for a response; the service's stream is reset */
void               sm_http_exchange_time_out (SmHttpExchange *self, SmHttpExchangeWait wait);

G_END_DECLS
