/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-error.h"
#include "sm-http-proxy-private.h"
#include "sm-pollable-source.h"
#include "sm-splice.h"

/*
 * One request and its response, between the public connection and a
 * service: the request head (rewritten for forwarding) and body go to the
 * service while its response is read and passed on, so a service may
 * answer early (100 Continue, or a final answer before the body is in).
 */

static void route_request (SmHttpProxy *self);

/* Resent after a failure before any response byte: safe methods whose
 * repetition harms nothing, with nothing to resend but the head */
static gboolean
can_retry (SmHttpProxy *self)
{
  const char *method = self->request->method;

  return self->attempts < 2 && self->request->body == SM_HTTP_BODY_NONE &&
         (g_str_equal (method, "GET") || g_str_equal (method, "HEAD") ||
          g_str_equal (method, "OPTIONS"));
}

static void
stop_upstream_write_watch (SmHttpProxy *self)
{
  if (self->upstream_write_watch != NULL)
    {
      g_source_destroy (self->upstream_write_watch);
      g_clear_pointer (&self->upstream_write_watch, g_source_unref);
    }
  self->upstream_write_blocked = FALSE;
}

static void
stop_upstream_watches (SmHttpProxy *self)
{
  stop_upstream_write_watch (self);
  if (self->upstream != NULL)
    sm_http_upstream_watch (self->upstream, FALSE);
}

/* Forgets this attempt's service and what it sent */
static void
drop_upstream (SmHttpProxy *self, gboolean reusable, gboolean reset)
{
  SmHttpUpstream *upstream = g_steal_pointer (&self->upstream);

  /* Its read watch goes with it: to the pool, or closed */
  stop_upstream_write_watch (self);
  self->up_in.start = self->up_in.end = 0;
  self->upstream_eof = FALSE;
  self->upstream_write_failed = FALSE;
  self->response_started = FALSE;
  sm_http_head_scanner_init (&self->response_scanner);
  g_clear_pointer (&self->response, sm_http_response_free);
  self->response_pending = 0;
  self->response_body_complete = FALSE;
  self->response_done = FALSE;

  if (upstream == NULL)
    return;
  if (reset)
    sm_http_upstream_close (upstream, TRUE);
  else
    sm_http_upstream_release (upstream, reusable);
}

void
sm_http_proxy_clear_request (SmHttpProxy *self)
{
  if (self->waiter != NULL)
    sm_port_cancel_wait (self->port, g_steal_pointer (&self->waiter));
  drop_upstream (self, FALSE, TRUE);
  g_clear_pointer (&self->request, sm_http_request_free);
  /* Kept for the next request, unless a big head made it big */
  if (self->request_head->allocated_len > SM_HTTP_PROXY_KEPT_HEAD_SIZE)
    {
      g_string_free (self->request_head, TRUE);
      self->request_head = g_string_new (NULL);
    }
  g_string_truncate (self->request_head, 0);
  self->request_head_sent = 0;
  self->request_pending = 0;
  self->request_body_complete = FALSE;
  self->request_done = FALSE;
  self->attempts = 0;
}

/* The service failed before the response was complete */
static void
upstream_failed (SmHttpProxy *self, const char *reason)
{
  gboolean retry;

  SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: %s %s on %s failed: %s", self->client_ip,
                       self->request->method, self->request->target,
                       sm_route_get_peer (self->upstream->route), reason);

  /* Part of the response went out: nothing sensible can follow it */
  if (self->response != NULL)
    {
      sm_http_proxy_abort (self, "the service broke off its response");
      return;
    }

  retry = !self->response_started && can_retry (self);
  drop_upstream (self, FALSE, TRUE);

  if (retry)
    {
      SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: sending %s %s again", self->client_ip,
                           self->request->method, self->request->target);
      self->request_head_sent = 0;
      self->request_done = FALSE;
      self->attempts++;
      route_request (self);
      return;
    }

  /* The rest of a body we stopped reading would be taken for requests */
  sm_http_proxy_answer (self, SOUP_STATUS_BAD_GATEWAY, !self->request_done, NULL);
}

/* > 0 written, 0 would block, -1 failed (handled by the caller) */
static gssize
write_upstream (SmHttpProxy *self, const guint8 *data, gsize len, GError **error)
{
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (self->upstream->stream));
  g_autoptr (GError) local_error = NULL;
  gssize n;

  n = g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (output), data, len,
                                                  NULL, &local_error);
  if (n < 0 && g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    n = 0;
  else if (n < 0)
    g_propagate_error (error, g_steal_pointer (&local_error));

  if (n == 0)
    self->upstream_write_blocked = TRUE;
  else if (n > 0)
    self->upstream->bytes_in += (guint64) n;
  return n;
}

gboolean
sm_http_proxy_upstream_readable (SmHttpProxy *self, GPollableInputStream *input)
{
  g_autoptr (SmHttpProxy) hold = g_object_ref (self);
  g_autoptr (GError) error = NULL;
  gsize  room = sm_http_buffer_make_room (&self->up_in);
  gssize n;

  if (room == 0)
    {
      sm_http_proxy_run (self);
      return G_SOURCE_CONTINUE;
    }

  n = g_pollable_input_stream_read_nonblocking (input, self->up_in.data + self->up_in.end, room,
                                                NULL, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;

  if (n < 0)
    {
      upstream_failed (self, error->message);
    }
  else if (n == 0)
    {
      self->upstream_eof = TRUE;
    }
  else
    {
      self->up_in.end += (gsize) n;
      self->upstream->bytes_out += (guint64) n;
      self->response_started = TRUE;
    }

  sm_http_proxy_run (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_upstream_writable (GObject *pollable_stream, gpointer user_data)
{
  SmHttpProxy *self = user_data;
  g_autoptr (SmHttpProxy) hold = g_object_ref (self);

  self->upstream_write_blocked = FALSE;
  sm_http_proxy_run (self);
  return G_SOURCE_CONTINUE;
}

static void
set_upstream_write_watch (SmHttpProxy *self, gboolean wanted)
{
  GOutputStream *output;

  if (!wanted)
    {
      stop_upstream_write_watch (self);
      return;
    }
  if (self->upstream_write_watch != NULL)
    return;

  output = g_io_stream_get_output_stream (G_IO_STREAM (self->upstream->stream));
  self->upstream_write_watch =
      sm_stream_create_write_source (G_POLLABLE_OUTPUT_STREAM (output), NULL);
  g_source_set_callback (self->upstream_write_watch, G_SOURCE_FUNC (on_upstream_writable), self,
                         NULL);
  g_source_set_static_name (self->upstream_write_watch, "[socketmaster] HTTP service writable");
  g_source_attach (self->upstream_write_watch, NULL);
}

void
sm_http_proxy_update_upstream_watches (SmHttpProxy *self)
{
  gboolean exchanging =
      self->state == SM_HTTP_PROXY_EXCHANGE || self->state == SM_HTTP_PROXY_TUNNEL_FLUSH;

  if (self->upstream == NULL || !exchanging)
    {
      stop_upstream_watches (self);
      return;
    }

  sm_http_upstream_watch (self->upstream, self->state == SM_HTTP_PROXY_EXCHANGE &&
                                              !self->upstream_eof && !self->response_done &&
                                              sm_http_buffer_make_room (&self->up_in) > 0);
  set_upstream_write_watch (self, self->upstream_write_blocked);
}

/* Request ------------------------------------------------------------------ */

static void
on_route_ready (SmRoute *route, gpointer user_data)
{
  SmHttpProxy *self = user_data;
  g_autoptr (SmHttpProxy) hold = g_object_ref (self);

  self->waiter = NULL;
  if (route == NULL)
    {
      g_autoptr (SoupMessageHeaders) extra = NULL;

      extra = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
      SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: no service came for %s%s in time",
                           self->client_ip, self->request->host, self->request->path);
      soup_message_headers_append (extra, "Retry-After", "5");
      sm_http_proxy_answer (self, SOUP_STATUS_SERVICE_UNAVAILABLE,
                            self->request->body != SM_HTTP_BODY_NONE, extra);
    }
  else
    {
      g_autoptr (GError) error = NULL;

      self->upstream = sm_http_upstream_take (self, route, &error);
      if (self->upstream == NULL)
        route_request (self);
      else
        self->state = SM_HTTP_PROXY_EXCHANGE;
    }

  sm_http_proxy_run (self);
}

/* Finds the service for the request and starts sending it there */
static void
route_request (SmHttpProxy *self)
{
  SmHttpRequest *request = self->request;

  for (;;)
    {
      g_autoptr (GError) error = NULL;
      SmRoute *route = NULL;

      switch (sm_port_match_http (self->port, request->host, request->path, &route))
        {
        case SM_HTTP_MATCH_FOUND:
          self->upstream = sm_http_upstream_take (self, route, &error);
          if (self->upstream == NULL)
            {
              /* The route is gone now: the next match waits for it to
               * come back, or finds another */
              SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: %s", self->client_ip,
                                   error->message);
              continue;
            }
          SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: %s %s%s goes to %s (stream %u)",
                               self->client_ip, request->method, request->host, request->target,
                               sm_route_get_peer (route),
                               sm_yamux_stream_get_id (self->upstream->stream));
          self->state = SM_HTTP_PROXY_EXCHANGE;
          return;

        case SM_HTTP_MATCH_WAIT:
          self->waiter = sm_port_wait_for_http_route (
              self->port, self->client_address, request->host, request->path, on_route_ready, self);
          if (self->waiter == NULL)
            {
              sm_http_proxy_answer (self, SOUP_STATUS_SERVICE_UNAVAILABLE,
                                    request->body != SM_HTTP_BODY_NONE, NULL);
              return;
            }
          self->state = SM_HTTP_PROXY_WAIT_ROUTE;
          return;

        case SM_HTTP_MATCH_NONE:
        default:
          SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: no service for %s%s",
                               self->client_ip, request->host, request->path);
          /* Its body, unread, would be taken for the next request */
          sm_http_proxy_answer (self, SOUP_STATUS_NOT_FOUND, request->body != SM_HTTP_BODY_NONE,
                                NULL);
          return;
        }
    }
}

void
sm_http_proxy_begin_request (SmHttpProxy *self, SmHttpRequest *request)
{
  const char *host_field = soup_message_headers_get_one (request->headers, "Host");

  self->request = request;
  self->attempts = 1;
  self->n_requests++;
  self->keep_client = request->keep_alive;

  sm_http_strip_hop_by_hop (request->headers, request->upgrade);
  sm_http_add_forwarding_headers (request->headers, self->client_ip, self->https, host_field);
  sm_http_request_write_head (request, self->request_head);

  sm_http_body_tracker_init (&self->request_body, request->body, request->content_length);
  self->request_body_complete = request->body == SM_HTTP_BODY_NONE;

  route_request (self);
}

static gboolean
pump_request (SmHttpProxy *self)
{
  g_autoptr (GError) error = NULL;
  gssize n;

  if (self->upstream_write_failed || self->request_done)
    return FALSE;

  if (self->request_head_sent < self->request_head->len)
    {
      n = write_upstream (self, (const guint8 *) self->request_head->str + self->request_head_sent,
                          self->request_head->len - self->request_head_sent, &error);
      if (n > 0)
        self->request_head_sent += (gsize) n;
    }
  else if (self->request_pending == 0)
    {
      gsize consumed = 0;

      if (self->request_body_complete)
        {
          self->request_done = TRUE;
          return TRUE;
        }
      if (sm_http_buffer_length (&self->in) == 0)
        {
          if (!self->client_eof)
            return FALSE;
          sm_http_proxy_abort (self, "the client closed the connection in a request body");
          return TRUE;
        }

      switch (sm_http_body_tracker_feed (&self->request_body, sm_http_buffer_peek (&self->in),
                                         sm_http_buffer_length (&self->in), &consumed, &error))
        {
        case SM_HTTP_ERROR:
          SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: bad request body: %s",
                               self->client_ip, error->message);
          if (self->response != NULL)
            sm_http_proxy_abort (self, "bad request body");
          else
            sm_http_proxy_answer (self, SOUP_STATUS_BAD_REQUEST, TRUE, NULL);
          return TRUE;
        case SM_HTTP_COMPLETE:
          self->request_body_complete = TRUE;
          break;
        case SM_HTTP_NEED_MORE:
        default:
          break;
        }
      self->request_pending = consumed;
      return TRUE;
    }
  else
    {
      n = write_upstream (self, sm_http_buffer_peek (&self->in), self->request_pending, &error);
      if (n > 0)
        {
          sm_http_buffer_consume (&self->in, (gsize) n);
          self->request_pending -= (gsize) n;
        }
    }

  if (n < 0)
    {
      /* The read side tells whether an answer came before the failure */
      SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: writing to %s: %s", self->client_ip,
                           sm_route_get_peer (self->upstream->route), error->message);
      self->upstream_write_failed = TRUE;
      self->upstream_write_blocked = FALSE;
      return TRUE;
    }
  return n > 0;
}

/* Response ----------------------------------------------------------------- */

static void
start_tunnel (SmHttpProxy *self, SmHttpResponse *response)
{
  SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: %s switched protocols; tunnelling",
                       self->client_ip, sm_route_get_peer (self->upstream->route));

  sm_http_strip_hop_by_hop (response->headers, TRUE);
  sm_http_response_write_head (response, self->out);
  sm_http_response_free (response);
  self->state = SM_HTTP_PROXY_TUNNEL_FLUSH;
}

/* Parses the next response head; TRUE if it made progress */
static gboolean
read_response_head (SmHttpProxy *self)
{
  g_autoptr (GError) error = NULL;
  SmHttpResponse *response = NULL;
  SmHttpRequest  *request = self->request;
  gsize           head_len = 0;

  if (sm_http_buffer_length (&self->up_in) == 0)
    {
      if (!self->upstream_eof)
        return FALSE;
      upstream_failed (self, "closed before responding");
      return TRUE;
    }

  switch (sm_http_find_head_end (&self->response_scanner, sm_http_buffer_peek (&self->up_in),
                                 sm_http_buffer_length (&self->up_in),
                                 SM_HTTP_PROXY_MAX_RESPONSE_HEAD, &head_len, &error))
    {
    case SM_HTTP_NEED_MORE:
      if (!self->upstream_eof)
        return FALSE;
      upstream_failed (self, "closed in the middle of a response head");
      return TRUE;
    case SM_HTTP_ERROR:
      upstream_failed (self, error->message);
      return TRUE;
    case SM_HTTP_COMPLETE:
    default:
      break;
    }

  if (!sm_http_response_parse (sm_http_buffer_peek (&self->up_in), head_len, request->method,
                               &response, &error))
    {
      upstream_failed (self, error->message);
      return TRUE;
    }
  sm_http_buffer_consume (&self->up_in, head_len);
  sm_http_head_scanner_init (&self->response_scanner);

  if (response->informational)
    {
      /* HTTP/1.0 clients do not expect them (RFC 9110 §15.2) */
      if (request->version == SOUP_HTTP_1_1)
        {
          sm_http_strip_hop_by_hop (response->headers, FALSE);
          sm_http_response_write_head (response, self->out);
        }
      sm_http_response_free (response);
      return TRUE;
    }

  if (response->switching_protocols)
    {
      if (request->upgrade)
        {
          start_tunnel (self, response);
          return TRUE;
        }
      sm_http_response_free (response);
      upstream_failed (self, "101 Switching Protocols without an upgrade request");
      return TRUE;
    }

  /* A close-delimited body ends the connection; the service's own wish to
   * close only concerns its stream: the public connection stays up */
  if (response->body == SM_HTTP_BODY_UNTIL_CLOSE)
    self->keep_client = FALSE;
  sm_http_strip_hop_by_hop (response->headers, FALSE);
  if (!self->keep_client)
    soup_message_headers_append (response->headers, "Connection", "close");
  else if (request->version == SOUP_HTTP_1_0)
    soup_message_headers_append (response->headers, "Connection", "keep-alive");
  sm_http_response_write_head (response, self->out);

  sm_http_body_tracker_init (&self->response_body, response->body, response->content_length);
  self->response_body_complete = response->body == SM_HTTP_BODY_NONE;
  self->response = response;
  return TRUE;
}

/* Body bytes are in, or about to be counted, that can go out in the same
 * write as the response head still pending in self->out */
static gboolean
response_body_ready (SmHttpProxy *self)
{
  return self->response != NULL &&
         (self->response_pending > 0 ||
          (!self->response_body_complete && sm_http_buffer_length (&self->up_in) > 0));
}

static gboolean
pump_response (SmHttpProxy *self)
{
  g_autoptr (GError) error = NULL;
  gsize  body_written = 0;
  gssize n;

  if (self->response == NULL)
    return read_response_head (self);

  if (self->response_pending == 0)
    {
      gsize consumed = 0;

      if (self->response_body_complete)
        {
          self->response_done = TRUE;
          return TRUE;
        }
      if (sm_http_buffer_length (&self->up_in) == 0)
        {
          if (!self->upstream_eof)
            return FALSE;
          if (!sm_http_body_tracker_finish (&self->response_body, &error))
            {
              upstream_failed (self, error->message);
              return TRUE;
            }
          self->response_body_complete = TRUE;
          return TRUE;
        }

      switch (sm_http_body_tracker_feed (&self->response_body, sm_http_buffer_peek (&self->up_in),
                                         sm_http_buffer_length (&self->up_in), &consumed, &error))
        {
        case SM_HTTP_ERROR:
          upstream_failed (self, error->message);
          return TRUE;
        case SM_HTTP_COMPLETE:
          self->response_body_complete = TRUE;
          break;
        case SM_HTTP_NEED_MORE:
        default:
          break;
        }
      self->response_pending = consumed;
      return TRUE;
    }

  /* The head goes out before any body byte, in the same write if it can */
  n = sm_http_proxy_write_client_after_out (self, sm_http_buffer_peek (&self->up_in),
                                            self->response_pending, &body_written);
  if (n <= 0)
    return n < 0;
  sm_http_buffer_consume (&self->up_in, body_written);
  self->response_pending -= body_written;
  return TRUE;
}

/* The response is out: hand the stream back and go on with the connection */
static void
finish_exchange (SmHttpProxy *self)
{
  SmHttpUpstream *upstream = self->upstream;
  gboolean        reusable;

  SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: %s %s%s answered %u by %s", self->client_ip,
                       self->request->method, self->request->host, self->request->target,
                       self->response->status, sm_route_get_peer (upstream->route));

  sm_route_request_served (upstream->route);
  upstream->n_requests++;

  /* A body the service did not wait for is unread here and there */
  if (!self->request_done)
    self->keep_client = FALSE;

  reusable = self->request_done && self->response->keep_alive && !self->upstream_eof &&
             !self->upstream_write_failed && sm_http_buffer_length (&self->up_in) == 0 &&
             self->keep_client;
  drop_upstream (self, reusable, !self->request_done);
  sm_http_proxy_request_over (self);
}

gboolean
sm_http_proxy_pump_exchange (SmHttpProxy *self)
{
  gboolean progress = FALSE;

  /* Otherwise pump_response() writes the head with the first body bytes */
  if (!response_body_ready (self))
    {
      progress |= sm_http_proxy_flush_out (self);
      if (self->state != SM_HTTP_PROXY_EXCHANGE)
        return TRUE;
    }

  progress |= pump_response (self);
  if (self->state != SM_HTTP_PROXY_EXCHANGE)
    return TRUE;

  if (self->response_done && !sm_http_proxy_out_pending (self))
    {
      finish_exchange (self);
      return TRUE;
    }

  progress |= pump_request (self);
  if (self->state != SM_HTTP_PROXY_EXCHANGE)
    return TRUE;

  /* Nothing will ever answer a stream that failed both ways */
  if (self->upstream_write_failed && self->upstream_eof && self->response == NULL &&
      sm_http_buffer_length (&self->up_in) == 0)
    {
      upstream_failed (self, "the stream broke");
      return TRUE;
    }
  return progress;
}

/* Tunnel ------------------------------------------------------------------- */

static void
tunnel_done_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (SmHttpProxy) self = user_data;
  g_autoptr (GError) error = NULL;
  SmSpliceCounts counts = { 0, 0 };

  if (!sm_splice_finish (result, &counts, &error))
    SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: tunnel aborted: %s", self->client_ip,
                         error->message);
  else
    SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: tunnel done", self->client_ip);

  /* Ended meanwhile (shutdown), which already reset the stream */
  if (self->upstream != NULL)
    sm_http_upstream_forget (g_steal_pointer (&self->upstream), counts.a_to_b, counts.b_to_a);
  sm_http_proxy_finish (self);
}

/* After a 101: writes what is buffered either way, then splices */
gboolean
sm_http_proxy_pump_tunnel (SmHttpProxy *self)
{
  g_autoptr (GError) error = NULL;
  gboolean progress = FALSE;
  gssize   n = 0;

  progress |= sm_http_proxy_flush_out (self);
  if (self->state != SM_HTTP_PROXY_TUNNEL_FLUSH)
    return TRUE;

  if (!sm_http_proxy_out_pending (self) && sm_http_buffer_length (&self->up_in) > 0)
    {
      n = sm_http_proxy_write_client (self, sm_http_buffer_peek (&self->up_in),
                                      sm_http_buffer_length (&self->up_in));
      if (n < 0)
        return TRUE;
      sm_http_buffer_consume (&self->up_in, (gsize) n);
      progress |= n > 0;
    }

  if (self->request_head_sent < self->request_head->len)
    {
      n = write_upstream (self, (const guint8 *) self->request_head->str + self->request_head_sent,
                          self->request_head->len - self->request_head_sent, &error);
      if (n > 0)
        self->request_head_sent += (gsize) n;
    }
  else if (sm_http_buffer_length (&self->in) > 0)
    {
      n = write_upstream (self, sm_http_buffer_peek (&self->in), sm_http_buffer_length (&self->in),
                          &error);
      if (n > 0)
        sm_http_buffer_consume (&self->in, (gsize) n);
    }
  if (n < 0)
    {
      sm_http_proxy_abort (self, error->message);
      return TRUE;
    }
  progress |= n > 0;

  if (sm_http_proxy_out_pending (self) || sm_http_buffer_length (&self->up_in) > 0 ||
      self->request_head_sent < self->request_head->len || sm_http_buffer_length (&self->in) > 0)
    return progress;

  /* Everything buffered is out: from now on bytes flow raw both ways */
  stop_upstream_watches (self);
  self->state = SM_HTTP_PROXY_TUNNEL;
  sm_splice_async (self->client, G_IO_STREAM (self->upstream->stream), SM_HTTP_PROXY_BUFFER_SIZE,
                   self->cancellable, tunnel_done_cb, g_object_ref (self));
  return TRUE;
}
