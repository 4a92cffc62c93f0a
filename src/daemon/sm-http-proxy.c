/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "sm-error.h"
#include "sm-http-proxy-private.h"
#include "sm-pollable-source.h"

/*
 * The public side of an HTTP connection: reading request heads with their
 * limits and timers, writing, our own answers, and closing without
 * losing the last response. See sm-http-proxy-private.h for the layout.
 */

G_DEFINE_FINAL_TYPE (SmHttpProxy, sm_http_proxy, G_TYPE_OBJECT)

static void start_closing (SmHttpProxy *self);

static void
destroy_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
sm_http_proxy_finalize (GObject *object)
{
  SmHttpProxy *self = SM_HTTP_PROXY (object);

  g_assert (self->upstream == NULL);
  g_assert (self->idle->len == 0);

  destroy_source (&self->client_read_watch);
  destroy_source (&self->client_write_watch);
  destroy_source (&self->timer);
  destroy_source (&self->cancel_watch);
  g_clear_pointer (&self->request, sm_http_request_free);
  g_clear_pointer (&self->response, sm_http_response_free);
  g_string_free (self->request_head, TRUE);
  g_string_free (self->out, TRUE);
  g_free (self->in.data);
  g_free (self->up_in.data);
  g_ptr_array_unref (self->idle);
  g_clear_object (&self->client);
  g_clear_object (&self->client_address);
  g_clear_object (&self->port);
  g_clear_object (&self->cancellable);
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
  self->out = g_string_new (NULL);
  self->request_head = g_string_new (NULL);
  self->idle = g_ptr_array_new ();
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

SmHttpProxy *
sm_http_proxy_new (SmPort             *port,
                   GIOStream          *client,
                   GSocketAddress     *client_address,
                   gboolean            https,
                   const SmHttpLimits *limits)
{
  SmHttpProxy   *self;
  GInputStream  *input;
  GOutputStream *output;

  g_return_val_if_fail (SM_IS_PORT (port), NULL);
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
  self->port = g_object_ref (port);
  self->client = g_object_ref (client);
  self->client_input = G_POLLABLE_INPUT_STREAM (input);
  self->client_output = G_POLLABLE_OUTPUT_STREAM (output);
  self->client_address = client_address != NULL ? g_object_ref (client_address) : NULL;
  self->client_ip = describe_client_ip (client_address);
  self->https = https;
  self->limits = *limits;
  self->tracing = !g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);

  /* A whole head must fit in the input buffer */
  self->in.capacity = MAX (limits->max_head_size, SM_HTTP_PROXY_BUFFER_SIZE);
  self->in.data = g_malloc (self->in.capacity);
  G_STATIC_ASSERT (SM_HTTP_PROXY_BUFFER_SIZE >= SM_HTTP_PROXY_MAX_RESPONSE_HEAD);
  self->up_in.capacity = SM_HTTP_PROXY_BUFFER_SIZE;
  self->up_in.data = g_malloc (self->up_in.capacity);

  return self;
}

/* Timers ------------------------------------------------------------------- */

/* One timer per connection, re-armed for every request. It is a deadline
 * that prepare and check read, so that arming it takes no allocation, no
 * lock and no wake-up of the context (g_source_set_ready_time() signals
 * the context's eventfd each time). */
typedef struct
{
  GSource source;
  gint64  deadline; /* monotonic time in µs; -1: disarmed */
} TimerSource;

static gboolean
timer_source_prepare (GSource *source, gint *timeout)
{
  TimerSource *timer = (TimerSource *) source;
  gint64       now;

  *timeout = -1;
  if (timer->deadline < 0)
    return FALSE;
  now = g_source_get_time (source);
  if (now >= timer->deadline)
    return TRUE;
  *timeout = (gint) MIN ((timer->deadline - now + 999) / 1000, G_MAXINT);
  return FALSE;
}

static gboolean
timer_source_check (GSource *source)
{
  TimerSource *timer = (TimerSource *) source;

  return timer->deadline >= 0 && g_source_get_time (source) >= timer->deadline;
}

static gboolean
timer_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  ((TimerSource *) source)->deadline = -1;
  return callback (user_data);
}

static GSourceFuncs timer_source_funcs = {
  .prepare = timer_source_prepare,
  .check = timer_source_check,
  .dispatch = timer_source_dispatch,
};

static gboolean
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
          SM_HTTP_PROXY_DEBUG (self,
                               "HTTP connection from %s: no complete request head within %u ms",
                               self->client_ip, self->limits.header_timeout_ms);
          sm_http_proxy_answer (self, SOUP_STATUS_REQUEST_TIMEOUT, TRUE, NULL);
        }
      else
        {
          start_closing (self);
        }
      break;
    case SM_HTTP_PROXY_TIMER_IDLE:
      SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: idle for %u ms; closing it",
                           self->client_ip, self->limits.idle_timeout_ms);
      start_closing (self);
      break;
    case SM_HTTP_PROXY_TIMER_LINGER:
      sm_http_proxy_finish (self);
      break;
    case SM_HTTP_PROXY_TIMER_NONE:
    default:
      break;
    }

  sm_http_proxy_run (self);
  /* Disarmed until set again, or destroyed if the connection ended */
  return G_SOURCE_CONTINUE;
}

static void
set_timer (SmHttpProxy *self, SmHttpProxyTimer kind)
{
  TimerSource *timer = (TimerSource *) self->timer;
  guint        ms;

  if (timer == NULL)
    return;
  self->timer_kind = kind;
  timer->deadline = -1;

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
    case SM_HTTP_PROXY_TIMER_NONE:
    default:
      return;
    }

  timer->deadline = g_source_get_time (self->timer) + (gint64) ms * 1000;
}

/* Public side I/O ---------------------------------------------------------- */

gssize
sm_http_proxy_write_client (SmHttpProxy *self, const guint8 *data, gsize len)
{
  g_autoptr (GError) error = NULL;
  gssize n;

  n = g_pollable_output_stream_write_nonblocking (self->client_output, data, len, NULL, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    n = 0;
  else if (n < 0)
    {
      sm_http_proxy_abort (self, error->message);
      return -1;
    }

  if (n == 0)
    self->client_write_blocked = TRUE;
  return n;
}

gssize
sm_http_proxy_write_client_after_out (SmHttpProxy  *self,
                                      const guint8 *data,
                                      gsize         len,
                                      gsize        *data_written)
{
  g_autoptr (GError) error = NULL;
  gsize         out_left = self->out->len - self->out_sent;
  GOutputVector vectors[2] = {
    { self->out->str + self->out_sent, out_left },
    { data, len },
  };
  gsize written = 0;

  *data_written = 0;
  if (out_left == 0)
    {
      gssize n = sm_http_proxy_write_client (self, data, len);

      if (n > 0)
        *data_written = (gsize) n;
      return n;
    }

  switch (g_pollable_output_stream_writev_nonblocking (
      self->client_output, vectors, G_N_ELEMENTS (vectors), &written, NULL, &error))
    {
    case G_POLLABLE_RETURN_OK:
      break;
    case G_POLLABLE_RETURN_WOULD_BLOCK:
      self->client_write_blocked = TRUE;
      return 0;
    case G_POLLABLE_RETURN_FAILED:
    default:
      sm_http_proxy_abort (self, error->message);
      return -1;
    }

  if (written == 0)
    {
      self->client_write_blocked = TRUE;
      return 0;
    }
  if (written < out_left)
    {
      self->out_sent += written;
      return (gssize) written;
    }
  g_string_truncate (self->out, 0);
  self->out_sent = 0;
  *data_written = written - out_left;
  return (gssize) written;
}

gboolean
sm_http_proxy_out_pending (SmHttpProxy *self)
{
  return self->out_sent < self->out->len;
}

gboolean
sm_http_proxy_flush_out (SmHttpProxy *self)
{
  gboolean progress = FALSE;

  while (sm_http_proxy_out_pending (self))
    {
      gssize n = sm_http_proxy_write_client (self, (const guint8 *) self->out->str + self->out_sent,
                                             self->out->len - self->out_sent);
      if (n < 0)
        return TRUE;
      if (n == 0)
        return progress;
      self->out_sent += (gsize) n;
      progress = TRUE;
    }

  g_string_truncate (self->out, 0);
  self->out_sent = 0;
  return progress;
}

static gboolean
on_client_readable (GObject *pollable_stream, gpointer user_data)
{
  SmHttpProxy *self = user_data;
  g_autoptr (SmHttpProxy) hold = g_object_ref (self);
  g_autoptr (GError) error = NULL;
  gsize  room;
  gssize n;

  /* Once closing, whatever comes is only read to be dropped */
  if (self->state == SM_HTTP_PROXY_CLOSING)
    self->in.start = self->in.end = 0;

  room = sm_http_buffer_make_room (&self->in);
  if (room == 0)
    {
      sm_http_proxy_run (self);
      return G_SOURCE_CONTINUE;
    }

  n = g_pollable_input_stream_read_nonblocking (self->client_input, self->in.data + self->in.end,
                                                room, NULL, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;

  if (n < 0)
    {
      /* A peer that already got its last response may reset: that is the end */
      if (self->state == SM_HTTP_PROXY_CLOSING)
        sm_http_proxy_finish (self);
      else
        sm_http_proxy_abort (self, error->message);
      return G_SOURCE_REMOVE;
    }

  if (n == 0)
    {
      self->client_eof = TRUE;
    }
  else if (self->state == SM_HTTP_PROXY_CLOSING)
    {
      self->discarded += (gsize) n;
      if (self->discarded >= SM_HTTP_PROXY_LINGER_MAX_BYTES)
        {
          sm_http_proxy_finish (self);
          return G_SOURCE_REMOVE;
        }
    }
  else
    {
      self->in.end += (gsize) n;
      /* A new request started: it has the header timeout to complete */
      if (self->state == SM_HTTP_PROXY_READ_HEAD && self->timer_kind == SM_HTTP_PROXY_TIMER_IDLE)
        set_timer (self, SM_HTTP_PROXY_TIMER_HEADER);
    }

  sm_http_proxy_run (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_client_writable (GObject *pollable_stream, gpointer user_data)
{
  SmHttpProxy *self = user_data;
  g_autoptr (SmHttpProxy) hold = g_object_ref (self);

  self->client_write_blocked = FALSE;
  sm_http_proxy_run (self);
  return G_SOURCE_CONTINUE;
}

static void
update_client_watches (SmHttpProxy *self)
{
  gboolean reading;

  switch (self->state)
    {
    case SM_HTTP_PROXY_READ_HEAD:
    case SM_HTTP_PROXY_WAIT_ROUTE:
    case SM_HTTP_PROXY_EXCHANGE:
    case SM_HTTP_PROXY_ANSWER:
      /* Pipelined requests wait in the buffer, bounded by its size */
      reading = !self->client_eof && sm_http_buffer_make_room (&self->in) > 0;
      break;
    case SM_HTTP_PROXY_CLOSING:
      reading = !self->client_eof;
      break;
    case SM_HTTP_PROXY_TUNNEL_FLUSH:
    case SM_HTTP_PROXY_TUNNEL:
    case SM_HTTP_PROXY_DONE:
    default:
      reading = FALSE;
      break;
    }

  if (!reading)
    destroy_source (&self->client_read_watch);
  else if (self->client_read_watch == NULL)
    {
      self->client_read_watch = sm_stream_create_read_source (self->client_input, NULL);
      g_source_set_callback (self->client_read_watch, G_SOURCE_FUNC (on_client_readable), self,
                             NULL);
      g_source_set_static_name (self->client_read_watch, "[socketmaster] HTTP client readable");
      g_source_attach (self->client_read_watch, NULL);
    }

  if (!self->client_write_blocked || self->state == SM_HTTP_PROXY_TUNNEL)
    destroy_source (&self->client_write_watch);
  else if (self->client_write_watch == NULL)
    {
      self->client_write_watch = sm_stream_create_write_source (self->client_output, NULL);
      g_source_set_callback (self->client_write_watch, G_SOURCE_FUNC (on_client_writable), self,
                             NULL);
      g_source_set_static_name (self->client_write_watch, "[socketmaster] HTTP client writable");
      g_source_attach (self->client_write_watch, NULL);
    }
}

/* Requests ----------------------------------------------------------------- */

static gboolean
read_request_head (SmHttpProxy *self)
{
  g_autoptr (GError) error = NULL;
  SmHttpRequest *request = NULL;
  gsize          len = sm_http_buffer_length (&self->in);
  gsize          head_len = 0;
  guint          status = SOUP_STATUS_BAD_REQUEST;

  if (len == 0)
    {
      if (!self->client_eof)
        return FALSE;
      start_closing (self);
      return TRUE;
    }

  switch (sm_http_find_head_end (&self->head_scanner, sm_http_buffer_peek (&self->in), len,
                                 self->limits.max_head_size, &head_len, &error))
    {
    case SM_HTTP_NEED_MORE:
      if (!self->client_eof)
        return FALSE;
      SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: closed in the middle of a request head",
                           self->client_ip);
      start_closing (self);
      return TRUE;

    case SM_HTTP_ERROR:
      SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: %s", self->client_ip, error->message);
      sm_http_proxy_answer (self,
                            g_error_matches (error, SM_ERROR, SM_ERROR_TOO_LARGE)
                                ? SM_HTTP_STATUS_HEADER_FIELDS_TOO_LARGE
                                : SOUP_STATUS_BAD_REQUEST,
                            TRUE, NULL);
      return TRUE;

    case SM_HTTP_COMPLETE:
    default:
      break;
    }

  set_timer (self, SM_HTTP_PROXY_TIMER_NONE);

  if (!sm_http_request_parse (sm_http_buffer_peek (&self->in), head_len, &request, &status, &error))
    {
      SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: bad request: %s", self->client_ip,
                           error->message);
      sm_http_proxy_answer (self, status, TRUE, NULL);
      return TRUE;
    }

  sm_http_buffer_consume (&self->in, head_len);
  sm_http_head_scanner_init (&self->head_scanner);
  sm_http_proxy_begin_request (self, request);
  return TRUE;
}

void
sm_http_proxy_answer (SmHttpProxy        *self,
                      guint               status,
                      gboolean            close_connection,
                      SoupMessageHeaders *extra_headers)
{
  SmHttpRequest *request = self->request;
  gsize          start = self->out->len;
  gsize          head_len;

  /* No request (it did not parse) or an HTTP/1.0 one: close to be safe */
  if (close_connection || request == NULL || request->version != SOUP_HTTP_1_1)
    self->keep_client = FALSE;

  head_len =
      sm_http_write_error_response (status, NULL, !self->keep_client, extra_headers, self->out);
  if (request != NULL && g_str_equal (request->method, "HEAD"))
    g_string_truncate (self->out, start + head_len);

  SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: answering %u%s", self->client_ip, status,
                       self->keep_client ? "" : " and closing");

  /* A service that was sending a response keeps none of it */
  sm_http_proxy_clear_request (self);
  set_timer (self, SM_HTTP_PROXY_TIMER_NONE);
  self->state = SM_HTTP_PROXY_ANSWER;
}

static gboolean
pump_answer (SmHttpProxy *self)
{
  gboolean progress = sm_http_proxy_flush_out (self);

  if (self->state != SM_HTTP_PROXY_ANSWER)
    return TRUE;
  if (sm_http_proxy_out_pending (self))
    return progress;

  sm_http_proxy_request_over (self);
  return TRUE;
}

void
sm_http_proxy_request_over (SmHttpProxy *self)
{
  sm_http_proxy_clear_request (self);

  if (!self->keep_client)
    {
      start_closing (self);
      return;
    }

  self->state = SM_HTTP_PROXY_READ_HEAD;
  sm_http_head_scanner_init (&self->head_scanner);
  set_timer (self, sm_http_buffer_length (&self->in) > 0 ? SM_HTTP_PROXY_TIMER_HEADER
                                                         : SM_HTTP_PROXY_TIMER_IDLE);
}

/* Closing ------------------------------------------------------------------ */

/* Writes what is left, half-closes, then reads until the client closes
 * too: closing with unread input would reset the connection, and the
 * reset can destroy the last response before the client reads it */
static void
start_closing (SmHttpProxy *self)
{
  sm_http_proxy_clear_request (self);
  sm_http_upstream_close_idle (self);
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
  gboolean progress = sm_http_proxy_flush_out (self);

  if (self->state != SM_HTTP_PROXY_CLOSING)
    return TRUE;
  if (sm_http_proxy_out_pending (self))
    return progress;

  if (!self->client_half_closed)
    {
      half_close (self);
      progress = TRUE;
    }
  if (self->client_eof)
    {
      sm_http_proxy_finish (self);
      return TRUE;
    }
  return progress;
}

void
sm_http_proxy_finish (SmHttpProxy *self)
{
  if (self->state == SM_HTTP_PROXY_DONE)
    return;

  SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: closed after %u request(s)", self->client_ip,
                       self->n_requests);

  self->state = SM_HTTP_PROXY_DONE;
  sm_http_proxy_clear_request (self);
  sm_http_upstream_close_idle (self);
  destroy_source (&self->client_read_watch);
  destroy_source (&self->client_write_watch);
  destroy_source (&self->timer);
  destroy_source (&self->cancel_watch);
  g_io_stream_close_async (self->client, G_PRIORITY_DEFAULT, NULL, NULL, NULL);

  /* The reference sm_http_proxy_start() took */
  g_object_unref (self);
}

void
sm_http_proxy_abort (SmHttpProxy *self, const char *reason)
{
  SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: aborted: %s", self->client_ip, reason);
  sm_http_proxy_finish (self);
}

/* The loop ----------------------------------------------------------------- */

void
sm_http_proxy_run (SmHttpProxy *self)
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
          progress = sm_http_proxy_pump_exchange (self);
          break;
        case SM_HTTP_PROXY_ANSWER:
          progress = pump_answer (self);
          break;
        case SM_HTTP_PROXY_TUNNEL_FLUSH:
          progress = sm_http_proxy_pump_tunnel (self);
          break;
        case SM_HTTP_PROXY_CLOSING:
          progress = pump_closing (self);
          break;
        case SM_HTTP_PROXY_WAIT_ROUTE:
        case SM_HTTP_PROXY_TUNNEL:
        case SM_HTTP_PROXY_DONE:
        default:
          progress = FALSE;
          break;
        }
    }

  if (self->state == SM_HTTP_PROXY_DONE)
    return;
  update_client_watches (self);
  sm_http_proxy_update_upstream_watches (self);
}

static gboolean
on_cancelled (GCancellable *cancellable, gpointer user_data)
{
  SmHttpProxy *self = user_data;
  g_autoptr (SmHttpProxy) hold = g_object_ref (self);

  g_clear_pointer (&self->cancel_watch, g_source_unref);
  /* A tunnel's splice watches the same cancellable and ends it */
  if (self->state != SM_HTTP_PROXY_TUNNEL)
    sm_http_proxy_abort (self, "socketmaster is shutting down");
  return G_SOURCE_REMOVE;
}

void
sm_http_proxy_start (SmHttpProxy *self, GCancellable *cancellable)
{
  g_return_if_fail (SM_IS_HTTP_PROXY (self));
  g_return_if_fail (!self->started);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  self->started = TRUE;
  /* Released by sm_http_proxy_finish() */
  g_object_ref (self);

  /* Small heads and interactive exchanges: no Nagle delays */
  if (G_IS_SOCKET_CONNECTION (self->client))
    g_socket_set_option (g_socket_connection_get_socket (G_SOCKET_CONNECTION (self->client)),
                         IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  if (cancellable != NULL)
    {
      self->cancellable = g_object_ref (cancellable);
      self->cancel_watch = g_cancellable_source_new (cancellable);
      g_source_set_callback (self->cancel_watch, G_SOURCE_FUNC (on_cancelled), self, NULL);
      g_source_set_static_name (self->cancel_watch, "[socketmaster] HTTP connection cancel");
      g_source_attach (self->cancel_watch, NULL);
    }

  SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s on %s", self->client_ip,
                       sm_port_get_display_name (self->port));

  self->timer = g_source_new (&timer_source_funcs, sizeof (TimerSource));
  ((TimerSource *) self->timer)->deadline = -1;
  g_source_set_callback (self->timer, on_timer, self, NULL);
  g_source_set_static_name (self->timer, "[socketmaster] HTTP connection timer");
  g_source_attach (self->timer, NULL);

  self->state = SM_HTTP_PROXY_READ_HEAD;
  set_timer (self, SM_HTTP_PROXY_TIMER_HEADER);
  sm_http_proxy_run (self);
}
