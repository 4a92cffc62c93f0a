/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "sm-event-loop.h"
#include "sm-http-exchange.h"
#include "sm-http-proxy-private.h"
#include "sm-http-trace.h"
#include "sm-tcp-proxy.h"
#include "sm-tls-stream.h"

/*
 * The public side of an HTTP connection: reading request heads with their
 * limits and timers, writing, our own answers, and closing without
 * losing the last response. Each request goes to the connection's
 * exchange (sm-http-exchange.h), which calls back through the functions
 * of exchange_vtable below. Reading a head, the hand-over to HTTP/2 and
 * our own answers are in sm-http-proxy-requests.c.
 */

G_DEFINE_FINAL_TYPE (SmHttpProxy, sm_http_proxy, G_TYPE_OBJECT)

static void run (SmHttpProxy *self);
static void finish (SmHttpProxy *self);
static void abort_connection (gpointer connection, const char *reason);

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
SmHttpExchange *
sm_http_proxy_get_exchange (SmHttpProxy *self)
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
          sm_http_proxy_answer (self, SOUP_STATUS_REQUEST_TIMEOUT);
        }
      else
        {
          sm_http_proxy_start_closing (self);
        }
      break;
    case SM_HTTP_PROXY_TIMER_IDLE:
      SM_HTTP_DEBUG (self, "HTTP connection from %s: idle for %u ms; closing it", self->client_ip,
                     self->limits.idle_timeout_ms);
      sm_http_proxy_start_closing (self);
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

void
sm_http_proxy_set_timer (SmHttpProxy *self, SmHttpProxyTimer kind)
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
gssize
sm_http_proxy_flush_out (SmHttpProxy *self)
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
    sm_http_proxy_set_timer (self, SM_HTTP_PROXY_TIMER_HEADER);
  /* Body bytes came: the client has the body timeout again for the next */
  else if (n > 0 && self->timer_kind == SM_HTTP_PROXY_TIMER_BODY)
    sm_http_proxy_set_timer (self, SM_HTTP_PROXY_TIMER_BODY);

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

/* Closing ------------------------------------------------------------------ */

/* Writes what is left, half-closes, then reads until the client closes
 * too: closing with unread input would reset the connection, and the
 * reset can destroy the last response before the client reads it */
void
sm_http_proxy_start_closing (SmHttpProxy *self)
{
  if (self->exchange != NULL)
    sm_http_exchange_reset (self->exchange);
  self->state = SM_HTTP_PROXY_CLOSING;
  sm_http_proxy_set_timer (self, SM_HTTP_PROXY_TIMER_LINGER);
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
  gssize   n = sm_http_proxy_flush_out (self);
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
void
sm_http_proxy_end (SmHttpProxy *self, gboolean close_client)
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
  sm_http_proxy_end (self, TRUE);
}

/* The exchange's side ------------------------------------------------------ */

static void
abort_connection (gpointer connection, const char *reason)
{
  SmHttpProxy *self = connection;

  SM_HTTP_DEBUG (self, "HTTP connection from %s: aborted: %s", self->client_ip, reason);
  finish (self);
}

void
sm_http_proxy_response_queued (gpointer connection, gboolean keep_alive)
{
  SmHttpProxy *self = connection;

  self->keep_alive = keep_alive;
  sm_http_proxy_set_timer (self, SM_HTTP_PROXY_TIMER_NONE);
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
  sm_http_proxy_end (self, FALSE);
}

static void
run_connection (gpointer connection)
{
  run (connection);
}

static const SmHttpExchangeConnection exchange_vtable = {
  .response_queued = sm_http_proxy_response_queued,
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
    sm_http_proxy_set_timer (self, kind);
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
          progress = sm_http_proxy_read_request_head (self);
          break;
        case SM_HTTP_PROXY_EXCHANGE:
          progress = sm_http_exchange_pump (self->exchange);
          break;
        case SM_HTTP_PROXY_FLUSH:
          progress = sm_http_proxy_pump_flush (self);
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
    sm_http_proxy_start_closing (self);
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
  /* Released by sm_http_proxy_end() */
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
  sm_http_proxy_set_timer (self, SM_HTTP_PROXY_TIMER_HEADER);
  /* ALPN chose HTTP/2 on a TLS port */
  if (SM_IS_TLS_STREAM (self->client) &&
      g_strcmp0 (sm_tls_stream_get_alpn (SM_TLS_STREAM (self->client)), "h2") == 0)
    {
      sm_http_proxy_serve_h2 (self);
      return;
    }
  run (self);
}
