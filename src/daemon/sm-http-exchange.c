/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-error.h"
#include "sm-http-exchange-private.h"
#include "sm-http-trace.h"
#include "sm-http-upstream.h"
#include "sm-metrics-events.h"

static void     route_request (SmHttpExchange *self);
static gboolean on_upstream_readable (gpointer user_data);
static gboolean on_upstream_writable (gpointer user_data);

SmHttpExchange *
sm_http_exchange_new (GObject                        *connection,
                      const SmHttpExchangeConnection *vtable,
                      const SmHttpExchangeClient     *client,
                      SmHttpRouter                   *router)
{
  SmHttpExchange *self = g_new0 (SmHttpExchange, 1);

  self->connection = connection;
  self->vtable = vtable;
  self->client = *client;
  self->tracing = client->tracing;
  self->router = g_object_ref (router);
  self->request_head = g_string_new (NULL);
  self->slot = sm_http_upstream_slot_new (client->ip, client->tracing, on_upstream_readable,
                                          on_upstream_writable, self);
  G_STATIC_ASSERT (SM_HTTP_EXCHANGE_BUFFER_SIZE >= SM_HTTP_EXCHANGE_MAX_RESPONSE_HEAD);
  sm_http_buffer_init (&self->up_in, SM_HTTP_EXCHANGE_BUFFER_SIZE);
  return self;
}

void
sm_http_exchange_free (SmHttpExchange *self)
{
  sm_http_exchange_reset (self);
  sm_http_upstream_slot_free (self->slot);
  g_string_free (self->request_head, TRUE);
  sm_http_buffer_clear (&self->up_in);
  g_object_unref (self->router);
  g_free (self);
}

/* Resent after a failure before any response byte: safe methods whose
 * repetition harms nothing, with nothing to resend but the head */
static gboolean
can_retry (SmHttpExchange *self)
{
  const char *method = self->request->method;

  return self->attempts < 2 && self->request->body == SM_HTTP_BODY_NONE &&
         (g_str_equal (method, "GET") || g_str_equal (method, "HEAD") ||
          g_str_equal (method, "OPTIONS"));
}

/* Forgets this attempt's service and what it sent */
static void
drop_upstream (SmHttpExchange *self, gboolean reusable, gboolean reset)
{
  SmHttpUpstream *upstream = g_steal_pointer (&self->upstream);

  /* Its watches go with it: to its route's idle streams, or closed */
  self->upstream_write_blocked = FALSE;
  sm_http_buffer_discard (&self->up_in);
  self->up_in.eof = FALSE;
  self->upstream_write_failed = FALSE;
  self->response_started = FALSE;
  sm_http_head_scanner_init (&self->response_scanner);
  g_clear_pointer (&self->response, sm_http_response_free);
  sm_http_body_relay_init (&self->response_body, SM_HTTP_BODY_NONE, 0);

  if (upstream == NULL)
    return;
  if (reset)
    sm_http_upstream_close (upstream, TRUE);
  else
    sm_http_upstream_release (upstream, reusable);
}

void
sm_http_exchange_reset (SmHttpExchange *self)
{
  self->phase = PHASE_IDLE;
  if (self->waiter != NULL)
    sm_http_router_cancel_wait (self->router, g_steal_pointer (&self->waiter));
  drop_upstream (self, FALSE, TRUE);
  g_clear_pointer (&self->request, sm_http_request_free);
  /* Kept for the next request, unless a big head made it big */
  if (self->request_head->allocated_len > KEPT_HEAD_SIZE)
    {
      g_string_free (self->request_head, TRUE);
      self->request_head = g_string_new (NULL);
    }
  g_string_truncate (self->request_head, 0);
  self->request_head_sent = 0;
  sm_http_body_relay_init (&self->request_body, SM_HTTP_BODY_NONE, 0);
  self->attempts = 0;
  self->n_informational = 0;
}

void
sm_http_exchange_stop_keep_alive (SmHttpExchange *self)
{
  self->no_keep_alive = TRUE;
  /* Too late for a response head already written */
  if (self->response == NULL)
    self->keep_alive = FALSE;
}

gboolean
sm_http_exchange_answer (SmHttpExchange     *self,
                         guint               status,
                         gboolean            close_connection,
                         SoupMessageHeaders *extra_headers)
{
  SmHttpRequest *request = self->request;
  GString       *out = self->client.output->queue;
  gsize          start = out->len;
  gsize          head_len;
  gboolean       keep_alive;

  /* No request (it did not parse) or an HTTP/1.0 one: close to be safe */
  if (close_connection || request == NULL || request->version != SOUP_HTTP_1_1)
    self->keep_alive = FALSE;
  keep_alive = self->keep_alive;

  head_len = sm_http_write_error_response (status, NULL, !keep_alive, extra_headers, out);
  if (request != NULL && g_str_equal (request->method, "HEAD"))
    g_string_truncate (out, start + head_len);

  SM_HTTP_DEBUG (self, "HTTP connection from %s: answering %u%s", self->client.ip, status,
                 keep_alive ? "" : " and closing");
  sm_metrics_http_answered (sm_http_router_get_display_name (self->router),
                            self->upstream != NULL ? sm_http_upstream_get_route (self->upstream)
                                                   : NULL,
                            self->client.ip, request, self->client.version, status,
                            self->request_head->len, out->len - start, self->started_at);

  /* A service that was sending a response keeps none of it */
  sm_http_exchange_reset (self);
  return keep_alive;
}

/* Our answer ends the exchange */
static void
respond (SmHttpExchange *self, guint status, gboolean close_connection, SoupMessageHeaders *extra)
{
  gboolean keep_alive = sm_http_exchange_answer (self, status, close_connection, extra);

  self->vtable->response_queued (self->connection, keep_alive);
}

void
sm_http_exchange_abort (SmHttpExchange *self, const char *reason)
{
  self->vtable->abort (self->connection, reason);
}

gssize
sm_http_exchange_write_client (SmHttpExchange *self,
                               const guint8   *data,
                               gsize           len,
                               gsize          *data_written)
{
  g_autoptr (GError) error = NULL;
  gssize n = sm_http_output_write (self->client.output, data, len, data_written, &error);

  if (n < 0)
    sm_http_exchange_abort (self, error->message);
  return n;
}

/* The service failed before the response was complete */
static void
upstream_failed (SmHttpExchange *self, const char *reason)
{
  gboolean retry;

  SM_HTTP_DEBUG (self, "HTTP connection from %s: %s %s on %s failed: %s", self->client.ip,
                 self->request->method, self->request->target,
                 sm_route_get_peer (sm_http_upstream_get_route (self->upstream)), reason);

  /* Part of the response went out: nothing sensible can follow it */
  if (self->response != NULL)
    {
      sm_http_exchange_abort (self, "the service broke off its response");
      return;
    }

  retry = !self->response_started && can_retry (self);
  drop_upstream (self, FALSE, TRUE);

  if (retry)
    {
      SM_HTTP_DEBUG (self, "HTTP connection from %s: sending %s %s again", self->client.ip,
                     self->request->method, self->request->target);
      self->request_head_sent = 0;
      self->request_body.done = FALSE;
      self->attempts++;
      route_request (self);
      return;
    }

  /* The rest of a body we stopped reading would be taken for requests */
  respond (self, SOUP_STATUS_BAD_GATEWAY, !self->request_body.done, NULL);
}

gssize
sm_http_exchange_write_upstream (SmHttpExchange *self,
                                 const guint8   *data,
                                 gsize           len,
                                 GError        **error)
{
  gssize n = sm_http_upstream_write (self->upstream, data, len, error);

  if (n == 0)
    self->upstream_write_blocked = TRUE;
  return n;
}

gboolean
sm_http_exchange_write_request_head (SmHttpExchange *self, gssize *n, GError **error)
{
  if (self->request_head_sent >= self->request_head->len)
    return FALSE;

  *n = sm_http_exchange_write_upstream (
      self, (const guint8 *) self->request_head->str + self->request_head_sent,
      self->request_head->len - self->request_head_sent, error);
  if (*n > 0)
    self->request_head_sent += (gsize) *n;
  return TRUE;
}

static gboolean
on_upstream_readable (gpointer user_data)
{
  SmHttpExchange *self = user_data;
  g_autoptr (GObject) hold = g_object_ref (self->connection);
  g_autoptr (GError) error = NULL;
  gssize n = 0;

  if (sm_http_buffer_make_room (&self->up_in) > 0)
    n = sm_http_upstream_read (self->upstream, &self->up_in, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;

  if (n < 0)
    upstream_failed (self, error->message);
  else if (n > 0)
    self->response_started = TRUE;

  self->vtable->run (self->connection);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_upstream_writable (gpointer user_data)
{
  SmHttpExchange *self = user_data;
  g_autoptr (GObject) hold = g_object_ref (self->connection);

  self->upstream_write_blocked = FALSE;
  self->vtable->run (self->connection);
  return G_SOURCE_CONTINUE;
}

void
sm_http_exchange_update_watches (SmHttpExchange *self)
{
  gboolean relaying = self->phase == PHASE_RELAYING;

  if (self->upstream == NULL)
    return;
  if (!relaying && self->phase != PHASE_TUNNEL_FLUSH)
    {
      sm_http_upstream_watch (self->upstream, FALSE, FALSE);
      return;
    }

  sm_http_upstream_watch (self->upstream,
                          relaying && !self->up_in.eof && !self->response_body.done &&
                              sm_http_buffer_make_room (&self->up_in) > 0,
                          self->upstream_write_blocked);
}

gboolean
sm_http_exchange_holds_input (SmHttpExchange *self)
{
  return self->phase == PHASE_TUNNEL_FLUSH;
}

/* Request ------------------------------------------------------------------ */

/* A stream to @route for this attempt. A retry goes on a new stream: the
 * idle one that failed may not be the only one its service closed. */
static SmHttpUpstream *
take_upstream (SmHttpExchange *self, SmRoute *route, GError **error)
{
  return sm_http_upstream_take (self->slot, route, self->attempts == 1, error);
}

/* No service in time, or no room to wait for one: come back later */
static void
respond_unavailable (SmHttpExchange *self)
{
  g_autoptr (SoupMessageHeaders) extra = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);

  soup_message_headers_append (extra, "Retry-After", "5");
  respond (self, SOUP_STATUS_SERVICE_UNAVAILABLE, self->request->body != SM_HTTP_BODY_NONE, extra);
}

static void
on_route_ready (SmRoute *route, gpointer user_data)
{
  SmHttpExchange *self = user_data;
  g_autoptr (GObject) hold = g_object_ref (self->connection);

  self->waiter = NULL;
  if (route == NULL)
    {
      SM_HTTP_DEBUG (self, "HTTP connection from %s: no service came for %s%s in time",
                     self->client.ip, self->request->host, self->request->path);
      respond_unavailable (self);
    }
  else
    {
      g_autoptr (GError) error = NULL;

      self->upstream = take_upstream (self, route, &error);
      if (self->upstream == NULL)
        route_request (self);
      else
        self->phase = PHASE_RELAYING;
    }

  self->vtable->run (self->connection);
}

/* Finds the service for the request and starts sending it there */
static void
route_request (SmHttpExchange *self)
{
  SmHttpRequest *request = self->request;

  for (;;)
    {
      g_autoptr (GError) error = NULL;
      SmRoute *route = NULL;

      switch (sm_http_router_match (self->router, request->host, request->path, &route))
        {
        case SM_HTTP_MATCH_FOUND:
          self->upstream = take_upstream (self, route, &error);
          if (self->upstream == NULL)
            {
              /* The route is gone now: the next match waits for it to
               * come back, or finds another */
              SM_HTTP_DEBUG (self, "HTTP connection from %s: %s", self->client.ip, error->message);
              continue;
            }
          SM_HTTP_DEBUG (self, "HTTP connection from %s: %s %s%s goes to %s (stream %u)",
                         self->client.ip, request->method, request->host, request->target,
                         sm_route_get_peer (route),
                         sm_yamux_stream_get_id (sm_http_upstream_get_stream (self->upstream)));
          self->phase = PHASE_RELAYING;
          return;

        case SM_HTTP_MATCH_WAIT:
          self->waiter = sm_http_router_wait (self->router, self->client.address, request->host,
                                              request->path, on_route_ready, self);
          if (self->waiter == NULL)
            {
              respond_unavailable (self);
              return;
            }
          self->phase = PHASE_WAITING;
          return;

        case SM_HTTP_MATCH_NONE:
        default:
          SM_HTTP_DEBUG (self, "HTTP connection from %s: no service for %s%s", self->client.ip,
                         request->host, request->path);
          /* Its body, unread, would be taken for the next request */
          respond (self, SOUP_STATUS_NOT_FOUND, request->body != SM_HTTP_BODY_NONE, NULL);
          return;
        }
    }
}

void
sm_http_exchange_begin (SmHttpExchange *self, SmHttpRequest *request)
{
  const char *host_field = soup_message_headers_get_one (request->headers, "Host");

  g_return_if_fail (self->phase == PHASE_IDLE && self->request == NULL);

  self->request = request;
  self->started_at = g_get_monotonic_time ();
  self->attempts = 1;
  self->keep_alive = request->keep_alive && !self->no_keep_alive;

  sm_http_request_strip_h2c (request);
  sm_http_strip_hop_by_hop (request->headers, request->upgrade);
  sm_http_add_forwarding_headers (request->headers, self->client.ip, self->client.https,
                                  host_field);
  sm_http_request_write_head (request, self->request_head);

  sm_http_body_relay_init (&self->request_body, request->body, request->content_length);

  route_request (self);
}

/* Finds where the next piece of the request body ends in the input */
static gboolean
count_request_body (SmHttpExchange *self)
{
  g_autoptr (GError) error = NULL;

  switch (sm_http_body_relay_count (&self->request_body, self->client.input, &error))
    {
    case SM_HTTP_RELAY_WAIT:
      return FALSE;
    case SM_HTTP_RELAY_EOF:
      sm_http_exchange_abort (self, "the client closed the connection in a request body");
      return TRUE;
    case SM_HTTP_RELAY_ERROR:
      SM_HTTP_DEBUG (self, "HTTP connection from %s: bad request body: %s", self->client.ip,
                     error->message);
      if (self->response != NULL)
        sm_http_exchange_abort (self, "bad request body");
      else
        respond (self, SOUP_STATUS_BAD_REQUEST, TRUE, NULL);
      return TRUE;
    case SM_HTTP_RELAY_PROGRESS:
    default:
      return TRUE;
    }
}

static gboolean
pump_request (SmHttpExchange *self)
{
  g_autoptr (GError) error = NULL;
  SmHttpBuffer *in = self->client.input;
  gssize        n = 0;

  if (self->upstream_write_failed || self->request_body.done)
    return FALSE;

  if (!sm_http_exchange_write_request_head (self, &n, &error))
    {
      if (self->request_body.pending == 0)
        return count_request_body (self);

      n = sm_http_exchange_write_upstream (self, sm_http_buffer_peek (in),
                                           self->request_body.pending, &error);
      if (n > 0)
        {
          sm_http_buffer_consume (in, (gsize) n);
          self->request_body.pending -= (gsize) n;
        }
    }

  if (n < 0)
    {
      /* The read side tells whether an answer came before the failure */
      SM_HTTP_DEBUG (self, "HTTP connection from %s: writing to %s: %s", self->client.ip,
                     sm_route_get_peer (sm_http_upstream_get_route (self->upstream)),
                     error->message);
      self->upstream_write_failed = TRUE;
      self->upstream_write_blocked = FALSE;
      return TRUE;
    }
  return n > 0;
}

/* Response ----------------------------------------------------------------- */

/* Parses the next response head; TRUE if it made progress */
static gboolean
read_response_head (SmHttpExchange *self)
{
  g_autoptr (GError) error = NULL;
  SmHttpResponse *response = NULL;
  SmHttpRequest  *request = self->request;
  gsize           head_len = 0;

  if (sm_http_buffer_length (&self->up_in) == 0)
    {
      if (!self->up_in.eof)
        return FALSE;
      upstream_failed (self, "closed before responding");
      return TRUE;
    }

  switch (sm_http_find_head_end (&self->response_scanner, sm_http_buffer_peek (&self->up_in),
                                 sm_http_buffer_length (&self->up_in),
                                 SM_HTTP_EXCHANGE_MAX_RESPONSE_HEAD, &head_len, &error))
    {
    case SM_HTTP_NEED_MORE:
      if (!self->up_in.eof)
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
      /* Each one is queued for the client whether it reads or not */
      if (++self->n_informational > SM_HTTP_EXCHANGE_MAX_INFORMATIONAL)
        {
          sm_http_response_free (response);
          upstream_failed (self, "too many interim (1xx) responses");
          return TRUE;
        }
      /* HTTP/1.0 clients do not expect them (RFC 9110 §15.2) */
      if (request->version == SOUP_HTTP_1_1)
        {
          sm_http_strip_hop_by_hop (response->headers, FALSE);
          sm_http_response_write_head (response, self->client.output->queue);
        }
      sm_http_response_free (response);
      return TRUE;
    }

  if (response->switching_protocols)
    {
      if (request->upgrade)
        {
          sm_http_exchange_start_tunnel (self, response);
          return TRUE;
        }
      sm_http_response_free (response);
      upstream_failed (self, "101 Switching Protocols without an upgrade request");
      return TRUE;
    }

  /* A close-delimited body ends the connection; the service's own wish to
   * close only concerns its stream: the public connection stays up */
  if (response->body == SM_HTTP_BODY_UNTIL_CLOSE)
    self->keep_alive = FALSE;
  sm_http_strip_hop_by_hop (response->headers, FALSE);
  if (!self->keep_alive)
    soup_message_headers_append (response->headers, "Connection", "close");
  else if (request->version == SOUP_HTTP_1_0)
    soup_message_headers_append (response->headers, "Connection", "keep-alive");
  sm_http_response_write_head (response, self->client.output->queue);

  sm_http_body_relay_init (&self->response_body, response->body, response->content_length);
  self->response = response;
  return TRUE;
}

/* Body bytes are in, or about to be counted, that can go out in the same
 * write as the response head still queued on the output */
static gboolean
response_body_ready (SmHttpExchange *self)
{
  return self->response != NULL &&
         (self->response_body.pending > 0 ||
          (!self->response_body.complete && sm_http_buffer_length (&self->up_in) > 0));
}

static gboolean
pump_response (SmHttpExchange *self)
{
  g_autoptr (GError) error = NULL;
  gsize  body_written = 0;
  gssize n;

  if (self->response == NULL)
    return read_response_head (self);

  if (self->response_body.pending == 0)
    {
      switch (sm_http_body_relay_count (&self->response_body, &self->up_in, &error))
        {
        case SM_HTTP_RELAY_WAIT:
          return FALSE;
        case SM_HTTP_RELAY_EOF:
          /* The end of a body that lasts until the service closes */
          if (!sm_http_body_tracker_finish (&self->response_body.tracker, &error))
            upstream_failed (self, error->message);
          else
            self->response_body.complete = TRUE;
          return TRUE;
        case SM_HTTP_RELAY_ERROR:
          upstream_failed (self, error->message);
          return TRUE;
        case SM_HTTP_RELAY_PROGRESS:
        default:
          return TRUE;
        }
    }

  /* The head goes out before any body byte, in the same write if it can */
  n = sm_http_exchange_write_client (self, sm_http_buffer_peek (&self->up_in),
                                     self->response_body.pending, &body_written);
  if (n <= 0)
    return n < 0;
  sm_http_buffer_consume (&self->up_in, body_written);
  self->response_body.pending -= body_written;
  return TRUE;
}

/* The response is out: hand the stream back and go on with the connection */
static void
finish_exchange (SmHttpExchange *self)
{
  SmHttpUpstream *upstream = self->upstream;
  gboolean        reusable;
  gboolean        keep_alive;
  SmSpliceCounts  moved;

  SM_HTTP_DEBUG (self, "HTTP connection from %s: %s %s%s answered %u by %s", self->client.ip,
                 self->request->method, self->request->host, self->request->target,
                 self->response->status, sm_route_get_peer (sm_http_upstream_get_route (upstream)));

  sm_http_upstream_request_served (upstream);
  sm_http_upstream_get_counts (upstream, &moved);
  sm_metrics_http_answered (sm_http_router_get_display_name (self->router),
                            sm_http_upstream_get_route (upstream), self->client.ip, self->request,
                            self->client.version, self->response->status, moved.a_to_b,
                            moved.b_to_a, self->started_at);

  /* A body the service did not wait for is unread here and there */
  if (!self->request_body.done)
    self->keep_alive = FALSE;

  keep_alive = self->keep_alive;
  /* The stream can serve another connection even if this one closes, but
   * an HTTP/1.0 request went out as one: its service may close after it */
  reusable = self->request_body.done && self->response->keep_alive && !self->up_in.eof &&
             !self->upstream_write_failed && sm_http_buffer_length (&self->up_in) == 0 &&
             self->request->version == SOUP_HTTP_1_1;
  drop_upstream (self, reusable, !self->request_body.done);
  sm_http_exchange_reset (self);
  self->vtable->response_queued (self->connection, keep_alive);
}

static gboolean
pump_relaying (SmHttpExchange *self)
{
  gboolean progress = FALSE;

  /* Otherwise pump_response() writes the head with the first body bytes */
  if (!response_body_ready (self))
    {
      gsize  unused;
      gssize n = sm_http_exchange_write_client (self, NULL, 0, &unused);

      if (n < 0)
        return TRUE;
      progress |= n > 0;
    }

  progress |= pump_response (self);
  if (self->phase != PHASE_RELAYING)
    return TRUE;

  if (self->response_body.done && !sm_http_output_pending (self->client.output))
    {
      finish_exchange (self);
      return TRUE;
    }

  progress |= pump_request (self);
  if (self->phase != PHASE_RELAYING)
    return TRUE;

  /* Nothing will ever answer a stream that failed both ways */
  if (self->upstream_write_failed && self->up_in.eof && self->response == NULL &&
      sm_http_buffer_length (&self->up_in) == 0)
    {
      upstream_failed (self, "the stream broke");
      return TRUE;
    }
  return progress;
}

gboolean
sm_http_exchange_pump (SmHttpExchange *self)
{
  switch (self->phase)
    {
    case PHASE_RELAYING:
      return pump_relaying (self);
    case PHASE_TUNNEL_FLUSH:
      return sm_http_exchange_pump_tunnel (self);
    case PHASE_IDLE:
    case PHASE_WAITING:
    default:
      return FALSE;
    }
}

/* Timeouts ----------------------------------------------------------------- */

SmHttpExchangeWait
sm_http_exchange_get_wait (SmHttpExchange *self)
{
  if (self->phase != PHASE_RELAYING || self->upstream_write_failed)
    return SM_HTTP_EXCHANGE_WAIT_NONE;

  /* Everything the client sent went to the service; more must come */
  if (!self->request_body.done && self->request_body.pending == 0 &&
      self->request_head_sent >= self->request_head->len)
    return SM_HTTP_EXCHANGE_WAIT_BODY;

  /* Including a service that does not take the request */
  if (!self->response_started)
    return SM_HTTP_EXCHANGE_WAIT_RESPONSE;

  return SM_HTTP_EXCHANGE_WAIT_NONE;
}

void
sm_http_exchange_time_out (SmHttpExchange *self, SmHttpExchangeWait wait)
{
  switch (wait)
    {
    case SM_HTTP_EXCHANGE_WAIT_BODY:
      SM_HTTP_DEBUG (self, "HTTP connection from %s: %s %s: the request body stalled",
                     self->client.ip, self->request->method, self->request->target);
      if (self->response != NULL)
        sm_http_exchange_abort (self, "the request body stalled");
      else
        respond (self, SOUP_STATUS_REQUEST_TIMEOUT, TRUE, NULL);
      break;

    case SM_HTTP_EXCHANGE_WAIT_RESPONSE:
      g_message ("HTTP connection from %s: %s %s%s: %s did not answer in time", self->client.ip,
                 self->request->method, self->request->host, self->request->target,
                 sm_route_get_peer (sm_http_upstream_get_route (self->upstream)));
      /* The rest of a body we stopped reading would be taken for requests */
      respond (self, SOUP_STATUS_GATEWAY_TIMEOUT, !self->request_body.done, NULL);
      break;

    case SM_HTTP_EXCHANGE_WAIT_NONE:
    default:
      break;
    }
}
