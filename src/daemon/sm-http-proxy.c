/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "sm-error.h"
#include "sm-event-loop.h"
#include "sm-h2-connection.h"
#include "sm-http-exchange.h"
#include "sm-http-proxy.h"
#include "sm-http-trace.h"
#include "sm-tcp-proxy.h"
#include "sm-tls-stream.h"

/*
 * The public side of an HTTP connection: reading request heads with their
 * limits and timers, writing, our own answers, and closing without
 * losing the last response. Each request goes to the connection's
 * exchange (sm-http-exchange.h), which calls back through the functions
 * of exchange_vtable below.
 */

/* RFC 6585; libsoup 3.2 has no name for it */
#define SM_HTTP_STATUS_HEADER_FIELDS_TOO_LARGE 431

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

G_DEFINE_FINAL_TYPE (SmHttpProxy, sm_http_proxy, G_TYPE_OBJECT)

static void start_closing (SmHttpProxy *self);
static void run (SmHttpProxy *self);
static void finish (SmHttpProxy *self);
static void end (SmHttpProxy *self, gboolean close_client);
static void abort_connection (gpointer connection, const char *reason);
static void response_queued (gpointer connection, gboolean keep_alive);

static void
stop_watching (SmHttpProxy *self)
{
  sm_event_cancel_watch_stop (&self->drain_watch);
  sm_event_cancel_watch_stop (&self->shutdown_watch);
  sm_event_timer_clear (&self->release_timer);
}

static void
sm_http_proxy_finalize (GObject *object)
{
  SmHttpProxy *self = SM_HTTP_PROXY (object);

  stop_watching (self);
  g_clear_pointer (&self->client_watch, sm_event_watch_free);
  sm_event_timer_clear (&self->timer);
  g_clear_pointer (&self->exchange, sm_http_exchange_free);
  sm_http_output_clear (&self->out);
  sm_http_buffer_clear (&self->in);
  g_clear_object (&self->client);
  g_clear_object (&self->client_address);
  g_clear_object (&self->router);
  g_clear_pointer (&self->client_ip, g_free);

  G_OBJECT_CLASS (sm_http_proxy_parent_class)->finalize (object);
}

static void
sm_http_proxy_class_init (SmHttpProxyClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = sm_http_proxy_finalize;
}

static void
sm_http_proxy_init (SmHttpProxy *self)
{
}

/* The client's address as services should see it: an IPv4 client of a
 * dual-stack listener is shown as IPv4, not as ::ffff:a.b.c.d */
static char *
describe_client_ip (GSocketAddress *client_address)
{
  static const guint8 v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
  GInetAddress       *address;
  const guint8       *bytes;

  if (!G_IS_INET_SOCKET_ADDRESS (client_address))
    return g_strdup ("unknown");

  address = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (client_address));
  bytes = g_inet_address_to_bytes (address);
  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 &&
      memcmp (bytes, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0)
    return g_strdup_printf ("%u.%u.%u.%u", bytes[12], bytes[13], bytes[14], bytes[15]);
  return g_inet_address_to_string (address);
}

static const SmHttpExchangeConnection exchange_vtable;

SmHttpProxy *
sm_http_proxy_new (SmHttpRouter       *router,
                   GIOStream          *client,
                   GSocketAddress     *client_address,
                   gboolean            https,
                   const SmHttpLimits *limits)
{
  SmHttpProxy   *self;
  GInputStream  *input;
  GOutputStream *output;

  g_return_val_if_fail (SM_IS_HTTP_ROUTER (router), NULL);
  g_return_val_if_fail (G_IS_IO_STREAM (client), NULL);
  g_return_val_if_fail (client_address == NULL || G_IS_SOCKET_ADDRESS (client_address), NULL);
  g_return_val_if_fail (limits != NULL && limits->max_head_size > 0, NULL);

  input = g_io_stream_get_input_stream (client);
  output = g_io_stream_get_output_stream (client);
  g_return_val_if_fail (G_IS_POLLABLE_INPUT_STREAM (input), NULL);
  g_return_val_if_fail (g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (input)), NULL);
  g_return_val_if_fail (G_IS_POLLABLE_OUTPUT_STREAM (output), NULL);
  g_return_val_if_fail (g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (output)),
                        NULL);

  self = g_object_new (SM_TYPE_HTTP_PROXY, NULL);
  self->router = g_object_ref (router);
  self->client = g_object_ref (client);
  self->client_input = G_POLLABLE_INPUT_STREAM (input);
  self->client_output = G_POLLABLE_OUTPUT_STREAM (output);
  self->client_address = client_address != NULL ? g_object_ref (client_address) : NULL;
  self->client_ip = describe_client_ip (client_address);
  self->limits = *limits;
  self->tracing = sm_http_trace_enabled ();

  /* A whole head must fit in the input buffer */
  sm_http_buffer_init (&self->in, MAX (limits->max_head_size, SM_HTTP_PROXY_BUFFER_SIZE));
  sm_http_output_init (&self->out, self->client_output);
  self->https = https;

  return self;
}

/* The exchange exists while a request is in progress (or an answer of our
 * own is made): an idle keep-alive connection does not pay for it */
static SmHttpExchange *
get_exchange (SmHttpProxy *self)
{
  SmHttpExchangeClient client;

  if (self->exchange != NULL)
    return self->exchange;

  client = (SmHttpExchangeClient){
    .address = self->client_address,
    .ip = self->client_ip,
    .https = self->https,
    .input = &self->in,
    .output = &self->out,
    .tracing = self->tracing,
  };
  self->exchange = sm_http_exchange_new (G_OBJECT (self), &exchange_vtable, &client, self->router);
  if (self->draining)
    sm_http_exchange_stop_keep_alive (self->exchange);
  return self->exchange;
}

/* Timers ------------------------------------------------------------------- */

/* Our own answer (to a request that is late, too big or malformed):
 * then the connection closes */
static void
answer (SmHttpProxy *self, guint status)
{
  response_queued (self, sm_http_exchange_answer (get_exchange (self), status, TRUE, NULL));
}

/* One timer per connection, re-armed for every request, in the event
 * core's shared heap */
static void
on_timer (gpointer user_data)
{
  SmHttpProxy *self = user_data;
  g_autoptr (SmHttpProxy) hold = g_object_ref (self);
  SmHttpProxyTimer kind = self->timer_kind;

  self->timer_kind = SM_HTTP_PROXY_TIMER_NONE;

  switch (kind)
    {
    case SM_HTTP_PROXY_TIMER_HEADER:
      if (sm_http_buffer_length (&self->in) > 0)
        {
          SM_HTTP_DEBUG (self, "HTTP connection from %s: no complete request head within %u ms",
                         self->client_ip, self->limits.header_timeout_ms);
          answer (self, SOUP_STATUS_REQUEST_TIMEOUT);
        }
      else
        {
          start_closing (self);
        }
      break;
    case SM_HTTP_PROXY_TIMER_IDLE:
      SM_HTTP_DEBUG (self, "HTTP connection from %s: idle for %u ms; closing it", self->client_ip,
                     self->limits.idle_timeout_ms);
      start_closing (self);
      break;
    case SM_HTTP_PROXY_TIMER_LINGER:
      finish (self);
      break;
    case SM_HTTP_PROXY_TIMER_BODY:
      if (self->state == SM_HTTP_PROXY_EXCHANGE &&
          sm_http_exchange_get_wait (self->exchange) == SM_HTTP_EXCHANGE_WAIT_BODY)
        sm_http_exchange_time_out (self->exchange, SM_HTTP_EXCHANGE_WAIT_BODY);
      break;
    case SM_HTTP_PROXY_TIMER_RESPONSE:
      if (self->state == SM_HTTP_PROXY_EXCHANGE &&
          sm_http_exchange_get_wait (self->exchange) == SM_HTTP_EXCHANGE_WAIT_RESPONSE)
        sm_http_exchange_time_out (self->exchange, SM_HTTP_EXCHANGE_WAIT_RESPONSE);
      break;
    case SM_HTTP_PROXY_TIMER_NONE:
    default:
      break;
    }

  run (self);
}

static void
set_timer (SmHttpProxy *self, SmHttpProxyTimer kind)
{
  guint ms;

  if (self->state == SM_HTTP_PROXY_DONE)
    return;
  self->timer_kind = kind;

  switch (kind)
    {
    case SM_HTTP_PROXY_TIMER_HEADER:
      ms = self->limits.header_timeout_ms;
      break;
    case SM_HTTP_PROXY_TIMER_IDLE:
      ms = self->limits.idle_timeout_ms;
      break;
    case SM_HTTP_PROXY_TIMER_LINGER:
      ms = SM_HTTP_PROXY_LINGER_MS;
      break;
    case SM_HTTP_PROXY_TIMER_BODY:
      ms = self->limits.body_timeout_ms;
      break;
    case SM_HTTP_PROXY_TIMER_RESPONSE:
      ms = self->limits.response_timeout_ms;
      break;
    case SM_HTTP_PROXY_TIMER_NONE:
    default:
      sm_event_timer_schedule (&self->timer, -1);
      return;
    }

  sm_event_timer_schedule_in (&self->timer, (gint64) ms * 1000);
}

/* Public side I/O ---------------------------------------------------------- */

/* Writes what is queued: the bytes moved, or -1 when the client is gone
 * and the connection ended */
static gssize
flush_out (SmHttpProxy *self)
{
  g_autoptr (GError) error = NULL;
  gsize  unused;
  gssize n = sm_http_output_write (&self->out, NULL, 0, &unused, &error);

  if (n < 0)
    abort_connection (self, error->message);
  return n;
}

static void
on_client_readable (gpointer user_data)
{
  SmHttpProxy *self = user_data;
  g_autoptr (SmHttpProxy) hold = g_object_ref (self);
  g_autoptr (GError) error = NULL;
  gssize n;

  /* Once closing, whatever comes is only read to be dropped */
  if (self->state == SM_HTTP_PROXY_CLOSING)
    sm_http_buffer_discard (&self->in);

  if (sm_http_buffer_make_room (&self->in) == 0)
    {
      run (self);
      return;
    }

  n = sm_http_buffer_fill (&self->in, self->client_input, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return;

  if (n < 0)
    {
      /* A peer that already got its last response may reset: that is the end */
      if (self->state == SM_HTTP_PROXY_CLOSING)
        finish (self);
      else
        abort_connection (self, error->message);
      return;
    }

  if (n > 0 && self->state == SM_HTTP_PROXY_CLOSING)
    {
      self->discarded += (gsize) n;
      if (self->discarded >= SM_HTTP_PROXY_LINGER_MAX_BYTES)
        {
          finish (self);
          return;
        }
    }
  /* A new request started: it has the header timeout to complete */
  else if (n > 0 && self->state == SM_HTTP_PROXY_READ_HEAD &&
           self->timer_kind == SM_HTTP_PROXY_TIMER_IDLE)
    set_timer (self, SM_HTTP_PROXY_TIMER_HEADER);
  /* Body bytes came: the client has the body timeout again for the next */
  else if (n > 0 && self->timer_kind == SM_HTTP_PROXY_TIMER_BODY)
    set_timer (self, SM_HTTP_PROXY_TIMER_BODY);

  run (self);
}

static void
on_client_writable (gpointer user_data)
{
  SmHttpProxy *self = user_data;
  g_autoptr (SmHttpProxy) hold = g_object_ref (self);

  self->out.blocked = FALSE;
  run (self);
}

static void
update_client_watches (SmHttpProxy *self)
{
  gboolean reading;

  switch (self->state)
    {
    case SM_HTTP_PROXY_READ_HEAD:
    case SM_HTTP_PROXY_EXCHANGE:
    case SM_HTTP_PROXY_FLUSH:
      /* Pipelined requests wait in the buffer, bounded by its size */
      reading = !self->in.eof && sm_http_buffer_make_room (&self->in) > 0 &&
                (self->exchange == NULL || !sm_http_exchange_holds_input (self->exchange));
      break;
    case SM_HTTP_PROXY_CLOSING:
      reading = !self->in.eof;
      break;
    case SM_HTTP_PROXY_DONE:
    default:
      reading = FALSE;
      break;
    }

  sm_event_watch_update (self->client_watch, reading, self->out.blocked);
}

/* Requests ----------------------------------------------------------------- */

/* The client speaks HTTP/2: the connection is an SmH2Connection from now
 * on, with what was read so far */
static void
serve_h2 (SmHttpProxy *self)
{
  g_autoptr (SmH2Connection) connection =
      sm_h2_connection_new (self->router, self->client, self->client_address, self->client_ip,
                            self->https, &self->limits);

  g_clear_pointer (&self->client_watch, sm_event_watch_free);
  sm_h2_connection_start (connection, sm_http_buffer_peek (&self->in),
                          sm_http_buffer_length (&self->in), self->drain_watch.cancellable,
                          self->shutdown_watch.cancellable);
  sm_http_buffer_discard (&self->in);
  end (self, FALSE);
}

/* The first bytes are HTTP/2's preface (prior knowledge): TRUE once all
 * of it came, *@maybe while what came is a prefix of it */
static gboolean
is_h2_preface (SmHttpProxy *self, gboolean *maybe)
{
  gsize len = MIN (sm_http_buffer_length (&self->in), SM_H2_PREFACE_LEN);

  *maybe =
      self->n_requests == 0 && memcmp (sm_http_buffer_peek (&self->in), SM_H2_PREFACE, len) == 0;
  return *maybe && len == SM_H2_PREFACE_LEN;
}

static gboolean
read_request_head (SmHttpProxy *self)
{
  g_autoptr (GError) error = NULL;
  SmHttpRequest *request = NULL;
  gsize          len = sm_http_buffer_length (&self->in);
  gsize          head_len = 0;
  guint          status = SOUP_STATUS_BAD_REQUEST;
  gboolean       maybe_h2;

  if (len == 0)
    {
      if (!self->in.eof)
        return FALSE;
      start_closing (self);
      return TRUE;
    }
  if (is_h2_preface (self, &maybe_h2))
    {
      serve_h2 (self);
      return TRUE;
    }
  if (maybe_h2 && !self->in.eof)
    return FALSE;

  switch (sm_http_find_head_end (&self->head_scanner, sm_http_buffer_peek (&self->in), len,
                                 self->limits.max_head_size, &head_len, &error))
    {
    case SM_HTTP_NEED_MORE:
      if (!self->in.eof)
        return FALSE;
      SM_HTTP_DEBUG (self, "HTTP connection from %s: closed in the middle of a request head",
                     self->client_ip);
      start_closing (self);
      return TRUE;

    case SM_HTTP_ERROR:
      SM_HTTP_DEBUG (self, "HTTP connection from %s: %s", self->client_ip, error->message);
      answer (self, g_error_matches (error, SM_ERROR, SM_ERROR_TOO_LARGE)
                        ? SM_HTTP_STATUS_HEADER_FIELDS_TOO_LARGE
                        : SOUP_STATUS_BAD_REQUEST);
      return TRUE;

    case SM_HTTP_COMPLETE:
    default:
      break;
    }

  set_timer (self, SM_HTTP_PROXY_TIMER_NONE);

  if (!sm_http_request_parse (sm_http_buffer_peek (&self->in), head_len, &request, &status, &error))
    {
      SM_HTTP_DEBUG (self, "HTTP connection from %s: bad request: %s", self->client_ip,
                     error->message);
      answer (self, status);
      return TRUE;
    }

  sm_http_buffer_consume (&self->in, head_len);
  sm_http_head_scanner_init (&self->head_scanner);
  self->n_requests++;
  self->state = SM_HTTP_PROXY_EXCHANGE;
  sm_http_exchange_begin (get_exchange (self), request);
  return TRUE;
}

/* The current request is over: next request, or close */
static void
request_over (SmHttpProxy *self)
{
  if (!self->keep_alive || self->draining)
    {
      start_closing (self);
      return;
    }

  /* The exchange goes once the loop is back from whatever called us,
   * possibly its own code */
  if (self->exchange != NULL)
    {
      sm_http_exchange_reset (self->exchange);
      sm_event_timer_schedule (&self->release_timer, 0);
    }

  self->state = SM_HTTP_PROXY_READ_HEAD;
  sm_http_head_scanner_init (&self->head_scanner);
  sm_http_output_trim (&self->out);
  set_timer (self, sm_http_buffer_length (&self->in) > 0 ? SM_HTTP_PROXY_TIMER_HEADER
                                                         : SM_HTTP_PROXY_TIMER_IDLE);
}

static gboolean
pump_flush (SmHttpProxy *self)
{
  gssize n = flush_out (self);

  if (n < 0)
    return TRUE;
  if (sm_http_output_pending (&self->out))
    return n > 0;

  request_over (self);
  return TRUE;
}

/* Closing ------------------------------------------------------------------ */

/* Writes what is left, half-closes, then reads until the client closes
 * too: closing with unread input would reset the connection, and the
 * reset can destroy the last response before the client reads it */
static void
start_closing (SmHttpProxy *self)
{
  if (self->exchange != NULL)
    sm_http_exchange_reset (self->exchange);
  self->state = SM_HTTP_PROXY_CLOSING;
  set_timer (self, SM_HTTP_PROXY_TIMER_LINGER);
}

static void
half_close (SmHttpProxy *self)
{
  self->client_half_closed = TRUE;

  if (G_IS_SOCKET_CONNECTION (self->client))
    {
      GSocket *socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (self->client));

      g_socket_shutdown (socket, FALSE, TRUE, NULL);
      return;
    }

  /* A TLS stream sends close_notify, then half-closes its base */
  g_output_stream_close_async (G_OUTPUT_STREAM (self->client_output), G_PRIORITY_DEFAULT, NULL,
                               NULL, NULL);
}

static gboolean
pump_closing (SmHttpProxy *self)
{
  gssize   n = flush_out (self);
  gboolean progress = n > 0;

  if (n < 0)
    return TRUE;
  if (sm_http_output_pending (&self->out))
    return progress;

  if (!self->client_half_closed)
    {
      half_close (self);
      progress = TRUE;
    }
  if (self->in.eof)
    {
      finish (self);
      return TRUE;
    }
  return progress;
}

/* The connection is over: releases everything, and the reference
 * sm_http_proxy_start() took. @close_client: FALSE when a tunnel took the
 * client's stream over. */
static void
end (SmHttpProxy *self, gboolean close_client)
{
  self->state = SM_HTTP_PROXY_DONE;
  /* Freed with the connection: this may run inside the exchange's code */
  if (self->exchange != NULL)
    sm_http_exchange_reset (self->exchange);
  g_clear_pointer (&self->client_watch, sm_event_watch_free);
  sm_event_timer_clear (&self->timer);
  stop_watching (self);
  if (close_client)
    g_io_stream_close_async (self->client, G_PRIORITY_DEFAULT, NULL, NULL, NULL);

  g_object_unref (self);
}

static void
finish (SmHttpProxy *self)
{
  if (self->state == SM_HTTP_PROXY_DONE)
    return;

  SM_HTTP_DEBUG (self, "HTTP connection from %s: closed after %u request(s)", self->client_ip,
                 self->n_requests);
  end (self, TRUE);
}

/* The exchange's side ------------------------------------------------------ */

static void
abort_connection (gpointer connection, const char *reason)
{
  SmHttpProxy *self = connection;

  SM_HTTP_DEBUG (self, "HTTP connection from %s: aborted: %s", self->client_ip, reason);
  finish (self);
}

static void
response_queued (gpointer connection, gboolean keep_alive)
{
  SmHttpProxy *self = connection;

  self->keep_alive = keep_alive;
  set_timer (self, SM_HTTP_PROXY_TIMER_NONE);
  self->state = SM_HTTP_PROXY_FLUSH;
}

/* After a 101 the connection is a raw TCP connection to the service */
static void
tunnel (gpointer connection, SmRoute *route, SmYamuxStream *stream, const SmSpliceCounts *moved)
{
  SmHttpProxy *self = connection;
  g_autoptr (SmTcpProxy) proxy = NULL;

  SM_HTTP_DEBUG (self, "HTTP connection from %s: a tunnel after %u request(s)", self->client_ip,
                 self->n_requests);

  /* The tunnel watches the client's descriptor from now on */
  g_clear_pointer (&self->client_watch, sm_event_watch_free);
  proxy = sm_tcp_proxy_new (self->client, self->client_address, route, stream,
                            SM_HTTP_PROXY_BUFFER_SIZE, moved);
  sm_tcp_proxy_start (proxy, self->shutdown_watch.cancellable);
  end (self, FALSE);
}

static void
run_connection (gpointer connection)
{
  run (connection);
}

static const SmHttpExchangeConnection exchange_vtable = {
  .response_queued = response_queued,
  .tunnel = tunnel,
  .abort = abort_connection,
  .run = run_connection,
};

/* The loop ----------------------------------------------------------------- */

/* Times what the exchange waits for; a wait that goes on keeps its
 * deadline */
static void
update_exchange_timer (SmHttpProxy *self)
{
  SmHttpProxyTimer kind;

  switch (sm_http_exchange_get_wait (self->exchange))
    {
    case SM_HTTP_EXCHANGE_WAIT_BODY:
      kind = SM_HTTP_PROXY_TIMER_BODY;
      break;
    case SM_HTTP_EXCHANGE_WAIT_RESPONSE:
      kind = SM_HTTP_PROXY_TIMER_RESPONSE;
      break;
    case SM_HTTP_EXCHANGE_WAIT_NONE:
    default:
      kind = SM_HTTP_PROXY_TIMER_NONE;
      break;
    }

  if (kind != self->timer_kind)
    set_timer (self, kind);
}

static void
run (SmHttpProxy *self)
{
  g_autoptr (SmHttpProxy) hold = g_object_ref (self);
  gboolean progress = TRUE;

  while (progress)
    {
      switch (self->state)
        {
        case SM_HTTP_PROXY_READ_HEAD:
          progress = read_request_head (self);
          break;
        case SM_HTTP_PROXY_EXCHANGE:
          progress = sm_http_exchange_pump (self->exchange);
          break;
        case SM_HTTP_PROXY_FLUSH:
          progress = pump_flush (self);
          break;
        case SM_HTTP_PROXY_CLOSING:
          progress = pump_closing (self);
          break;
        case SM_HTTP_PROXY_DONE:
        default:
          progress = FALSE;
          break;
        }
    }

  if (self->state == SM_HTTP_PROXY_DONE)
    return;
  if (self->state == SM_HTTP_PROXY_EXCHANGE)
    update_exchange_timer (self);
  update_client_watches (self);
  if (self->exchange != NULL)
    sm_http_exchange_update_watches (self->exchange);
}

/* The daemon stops: the request in progress finishes with Connection:
 * close, an idle connection closes now */
static void
drain (SmHttpProxy *self)
{
  SM_HTTP_DEBUG (self, "HTTP connection from %s: draining", self->client_ip);
  self->draining = TRUE;
  if (self->exchange != NULL)
    sm_http_exchange_stop_keep_alive (self->exchange);
  /* A request may be here already: read it before deciding. A connection
   * that has not carried a request yet gets its first one answered (a
   * client retries a request on a reused connection that closes, not on
   * a new one); an idle keep-alive connection closes. */
  run (self);
  if (self->state == SM_HTTP_PROXY_READ_HEAD && sm_http_buffer_length (&self->in) == 0 &&
      self->n_requests > 0)
    start_closing (self);
  run (self);
}

static void
on_release_timer (gpointer user_data)
{
  SmHttpProxy *self = user_data;

  /* Between requests */
  if (self->state == SM_HTTP_PROXY_READ_HEAD && self->exchange != NULL)
    g_clear_pointer (&self->exchange, sm_http_exchange_free);
}

static void
on_drain (gpointer user_data)
{
  SmHttpProxy *self = user_data;
  g_autoptr (SmHttpProxy) hold = g_object_ref (self);

  if (!self->draining && self->state != SM_HTTP_PROXY_DONE)
    drain (self);
}

static void
on_shutdown (gpointer user_data)
{
  SmHttpProxy *self = user_data;
  g_autoptr (SmHttpProxy) hold = g_object_ref (self);

  abort_connection (self, "socketmaster is shutting down");
}

void
sm_http_proxy_start (SmHttpProxy *self, GCancellable *drain, GCancellable *cancellable)
{
  g_return_if_fail (SM_IS_HTTP_PROXY (self));
  g_return_if_fail (!self->started);
  g_return_if_fail (drain == NULL || G_IS_CANCELLABLE (drain));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  self->started = TRUE;
  /* Released by end() */
  g_object_ref (self);

  /* Small heads and interactive exchanges: no Nagle delays */
  if (G_IS_SOCKET_CONNECTION (self->client))
    g_socket_set_option (g_socket_connection_get_socket (G_SOCKET_CONNECTION (self->client)),
                         IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  sm_event_timer_init (&self->release_timer, on_release_timer, self);
  if (drain != NULL)
    sm_event_cancel_watch_start (&self->drain_watch, drain, on_drain, self);
  if (cancellable != NULL)
    sm_event_cancel_watch_start (&self->shutdown_watch, cancellable, on_shutdown, self);

  SM_HTTP_DEBUG (self, "HTTP connection from %s on %s", self->client_ip,
                 sm_http_router_get_display_name (self->router));

  sm_event_timer_init (&self->timer, on_timer, self);
  self->client_watch =
      sm_event_watch_new (self->client_input, self->client_output, on_client_readable,
                          on_client_writable, self, "[socketmaster] HTTP client");

  self->state = SM_HTTP_PROXY_READ_HEAD;
  set_timer (self, SM_HTTP_PROXY_TIMER_HEADER);
  /* ALPN chose HTTP/2 on a TLS port */
  if (SM_IS_TLS_STREAM (self->client) &&
      g_strcmp0 (sm_tls_stream_get_alpn (SM_TLS_STREAM (self->client)), "h2") == 0)
    {
      serve_h2 (self);
      return;
    }
  run (self);
}
