/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Internals of SmHttpProxy, shared by its files:
 *  - sm-http-proxy.c: the public connection (reading, writing, timers,
 *    watches, the request loop, our own answers, closing);
 *  - sm-http-exchange.c: one request and its response between the public
 *    connection and a service, retries, and the tunnel after a 101;
 *  - sm-http-upstream.c: streams to services and the idle ones kept for
 *    reuse.
 *
 * Everything is driven by sm_http_proxy_run(): it makes all the progress
 * the buffers and the streams allow, then watches for exactly what it
 * waits for (readable input with room to store it, writable output it
 * could not finish writing). Memory per connection is bounded by its two
 * buffers and one head being written.
 */

#include <string.h>

#include "sm-http-parser.h"
#include "sm-http-proxy.h"
#include "sm-route.h"
#include "sm-yamux-stream.h"

G_BEGIN_DECLS

/* g_debug() formats its message even when debug output is off, and these
 * run for every request: only format what can be seen. Whether it can is
 * asked once per connection. */
#define SM_HTTP_PROXY_DEBUG(self, ...) \
  G_STMT_START                         \
  {                                    \
    if (G_UNLIKELY ((self)->tracing))  \
      g_debug (__VA_ARGS__);           \
  }                                    \
  G_STMT_END

/* A request head buffer this big or smaller is reused for the next one */
#define SM_HTTP_PROXY_KEPT_HEAD_SIZE (8 * 1024)

/* RFC 6585; libsoup 3.2 has no name for it */
#define SM_HTTP_STATUS_HEADER_FIELDS_TOO_LARGE 431

typedef enum
{
  SM_HTTP_PROXY_READ_HEAD,    /* waiting for a complete request head */
  SM_HTTP_PROXY_WAIT_ROUTE,   /* the request waits for its service */
  SM_HTTP_PROXY_EXCHANGE,     /* request and response being relayed */
  SM_HTTP_PROXY_ANSWER,       /* writing a response of our own */
  SM_HTTP_PROXY_TUNNEL_FLUSH, /* after a 101: writing what is buffered */
  SM_HTTP_PROXY_TUNNEL,       /* spliced to the service */
  SM_HTTP_PROXY_CLOSING,      /* last response out: half-closed, draining */
  SM_HTTP_PROXY_DONE,
} SmHttpProxyState;

typedef enum
{
  SM_HTTP_PROXY_TIMER_NONE,
  SM_HTTP_PROXY_TIMER_HEADER, /* the request head must be complete by then */
  SM_HTTP_PROXY_TIMER_IDLE,   /* keep-alive: the next request must start */
  SM_HTTP_PROXY_TIMER_LINGER, /* closing: close even if not drained */
} SmHttpProxyTimer;

/* Bytes [start, end) of data are pending */
typedef struct
{
  guint8 *data;
  gsize   capacity;
  gsize   start;
  gsize   end;
} SmHttpBuffer;

static inline gsize
sm_http_buffer_length (const SmHttpBuffer *buffer)
{
  return buffer->end - buffer->start;
}

static inline const guint8 *
sm_http_buffer_peek (const SmHttpBuffer *buffer)
{
  return buffer->data + buffer->start;
}

static inline void
sm_http_buffer_consume (SmHttpBuffer *buffer, gsize len)
{
  g_assert (len <= sm_http_buffer_length (buffer));
  buffer->start += len;
  if (buffer->start == buffer->end)
    buffer->start = buffer->end = 0;
}

/* Room after the pending bytes, moving them to the front if that helps */
static inline gsize
sm_http_buffer_make_room (SmHttpBuffer *buffer)
{
  if (buffer->start > 0 && buffer->end == buffer->capacity)
    {
      memmove (buffer->data, buffer->data + buffer->start, sm_http_buffer_length (buffer));
      buffer->end -= buffer->start;
      buffer->start = 0;
    }
  return buffer->capacity - buffer->end;
}

/* A yamux stream to a service, in use or idle in the proxy's pool */
typedef struct
{
  SmHttpProxy   *proxy; /* not owned */
  SmRoute       *route;
  SmYamuxStream *stream;
  /* Readable: for the exchange while in use (see
   * sm_http_proxy_update_upstream_watches()), and while idle, when
   * anything readable ends it. One source kept across both, because
   * sources cost more to make than to keep. */
  GSource       *read_watch;
  gboolean       idle;         /* in the proxy's pool */
  gulong         gone_handler; /* the route going away ends it while idle */
  guint64        bytes_in;     /* client to service */
  guint64        bytes_out;
  guint          n_requests;
} SmHttpUpstream;

struct _SmHttpProxy
{
  GObject                parent_instance;

  SmPort                *port;
  GIOStream             *client;
  GPollableInputStream  *client_input;
  GPollableOutputStream *client_output;
  GSocketAddress        *client_address;
  char                  *client_ip;
  gboolean               https;
  SmHttpLimits           limits;
  GCancellable          *cancellable;
  GSource               *cancel_watch;
  gboolean               started;
  gboolean               tracing; /* debug messages are shown */

  SmHttpProxyState       state;
  guint                  n_requests;

  /* The public side */
  SmHttpBuffer           in;
  gboolean               client_eof;
  gboolean               client_half_closed;
  gsize                  discarded;
  SmHttpHeadScanner      head_scanner;
  GSource               *client_read_watch;
  GSource               *client_write_watch;
  gboolean               client_write_blocked;
  GString               *out; /* heads and answers of our own */
  gsize                  out_sent;
  GSource               *timer;
  SmHttpProxyTimer       timer_kind;

  /* The request in progress */
  SmHttpRequest         *request;
  GString               *request_head; /* kept until a response byte came, for a retry;
                                          empty between requests */
  gsize                  request_head_sent;
  SmHttpBodyTracker      request_body;
  gboolean               request_body_complete;
  gsize                  request_pending; /* body bytes at the start of in */
  gboolean               request_done;    /* all of it went to the service */
  guint                  attempts;
  SmHttpWaiter          *waiter;
  gboolean               keep_client; /* the connection goes on after this response */

  /* Its service */
  SmHttpUpstream        *upstream;
  SmHttpBuffer           up_in;
  gboolean               upstream_eof;
  gboolean               upstream_write_failed;
  GSource               *upstream_write_watch;
  gboolean               upstream_write_blocked;
  SmHttpHeadScanner      response_scanner;
  SmHttpResponse        *response;         /* the final response, once its head came */
  gboolean               response_started; /* a byte came from this attempt's service */
  SmHttpBodyTracker      response_body;
  gboolean               response_body_complete;
  gsize                  response_pending; /* body bytes at the start of up_in */
  gboolean               response_done;

  /* Idle streams to services, oldest first */
  GPtrArray             *idle;
};

/* sm-http-proxy.c */
void            sm_http_proxy_run (SmHttpProxy *self);
/* > 0 written, 0 would block (a watch follows), -1 the client is gone and
 * the proxy ended */
gssize          sm_http_proxy_write_client (SmHttpProxy *self, const guint8 *data, gsize len);
/* Writes what is pending in self->out and then @data in one call (a
 * response's head and the start of its body): > 0 bytes moved, of which
 * *data_written from @data; 0 would block; -1 as above */
gssize          sm_http_proxy_write_client_after_out (SmHttpProxy  *self,
                                                      const guint8 *data,
                                                      gsize         len,
                                                      gsize        *data_written);
/* Writes what is pending in self->out; TRUE if bytes moved */
gboolean        sm_http_proxy_flush_out (SmHttpProxy *self);
gboolean        sm_http_proxy_out_pending (SmHttpProxy *self);
/* Queues an answer of ours to the current request (or to none) */
void            sm_http_proxy_answer (SmHttpProxy        *self,
                                      guint               status,
                                      gboolean            close_connection,
                                      SoupMessageHeaders *extra_headers);
/* The current request is over: next request, or close */
void            sm_http_proxy_request_over (SmHttpProxy *self);
/* Ends everything at once (resets, closes) */
void            sm_http_proxy_abort (SmHttpProxy *self, const char *reason);
/* The connection is over: closes the public stream, releases everything */
void            sm_http_proxy_finish (SmHttpProxy *self);

/* sm-http-exchange.c */
void            sm_http_proxy_begin_request (SmHttpProxy *self, SmHttpRequest *request);
gboolean        sm_http_proxy_pump_exchange (SmHttpProxy *self);
gboolean        sm_http_proxy_pump_tunnel (SmHttpProxy *self);
void            sm_http_proxy_clear_request (SmHttpProxy *self);
/* Watches the service's stream for what the exchange waits for */
void            sm_http_proxy_update_upstream_watches (SmHttpProxy *self);

/* The callback of the service's stream's read watch while in use */
gboolean        sm_http_proxy_upstream_readable (SmHttpProxy *self, GPollableInputStream *input);

/* sm-http-upstream.c */
SmHttpUpstream *sm_http_upstream_take (SmHttpProxy *self, SmRoute *route, GError **error);
/* Back to the pool if it can serve another request, else closed */
void            sm_http_upstream_release (SmHttpUpstream *upstream, gboolean reusable);
/* @reset: abort (RST) instead of closing (FIN) */
void            sm_http_upstream_close (SmHttpUpstream *upstream, gboolean reset);
/* The stream was handed to a splice, which closes it */
void sm_http_upstream_forget (SmHttpUpstream *upstream, guint64 bytes_in, guint64 bytes_out);
void sm_http_upstream_close_idle (SmHttpProxy *self);
/* Makes or destroys the read watch */
void sm_http_upstream_watch (SmHttpUpstream *upstream, gboolean wanted);

G_END_DECLS
