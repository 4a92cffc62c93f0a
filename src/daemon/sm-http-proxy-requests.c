/* SPDX-License-Identifier: MIT */
/* SmHttpProxy's requests: a head read within its limits (or HTTP/2's
 * preface, handed over), our own answers, and going on to the next one */
#include "config.h"

#include "sm-error.h"
#include "sm-h2-connection.h"
#include "sm-http-proxy-private.h"
#include "sm-http-trace.h"

/* RFC 6585; libsoup 3.2 has no name for it */
#define SM_HTTP_STATUS_HEADER_FIELDS_TOO_LARGE 431

/* Requests ----------------------------------------------------------------- */

/* Our own answer (to a request that is late, too big or malformed):
 * then the connection closes */
void
sm_http_proxy_answer (SmHttpProxy *self, guint status)
{
  sm_http_proxy_response_queued (
      self, sm_http_exchange_answer (sm_http_proxy_get_exchange (self), status, TRUE, NULL));
}

/* The client speaks HTTP/2: the connection is an SmH2Connection from now
 * on, with what was read so far */
void
sm_http_proxy_serve_h2 (SmHttpProxy *self)
{
  g_autoptr (SmH2Connection) connection =
      sm_h2_connection_new (self->router, self->client, self->client_address, self->client_ip,
                            self->https, &self->limits);

  g_clear_pointer (&self->client_watch, sm_event_watch_free);
  sm_h2_connection_start (connection, sm_http_buffer_peek (&self->in),
                          sm_http_buffer_length (&self->in), self->drain_watch.cancellable,
                          self->shutdown_watch.cancellable);
  sm_http_buffer_discard (&self->in);
  sm_http_proxy_end (self, FALSE);
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

gboolean
sm_http_proxy_read_request_head (SmHttpProxy *self)
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
      sm_http_proxy_start_closing (self);
      return TRUE;
    }
  if (is_h2_preface (self, &maybe_h2))
    {
      sm_http_proxy_serve_h2 (self);
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
      sm_http_proxy_start_closing (self);
      return TRUE;

    case SM_HTTP_ERROR:
      SM_HTTP_DEBUG (self, "HTTP connection from %s: %s", self->client_ip, error->message);
      sm_http_proxy_answer (self, g_error_matches (error, SM_ERROR, SM_ERROR_TOO_LARGE)
                                      ? SM_HTTP_STATUS_HEADER_FIELDS_TOO_LARGE
                                      : SOUP_STATUS_BAD_REQUEST);
      return TRUE;

    case SM_HTTP_COMPLETE:
    default:
      break;
    }

  sm_http_proxy_set_timer (self, SM_HTTP_PROXY_TIMER_NONE);

  if (!sm_http_request_parse (sm_http_buffer_peek (&self->in), head_len, &request, &status, &error))
    {
      SM_HTTP_DEBUG (self, "HTTP connection from %s: bad request: %s", self->client_ip,
                     error->message);
      sm_http_proxy_answer (self, status);
      return TRUE;
    }

  sm_http_buffer_consume (&self->in, head_len);
  sm_http_head_scanner_init (&self->head_scanner);
  self->n_requests++;
  self->state = SM_HTTP_PROXY_EXCHANGE;
  sm_http_exchange_begin (sm_http_proxy_get_exchange (self), request);
  return TRUE;
}

/* The current request is over: next request, or close */
static void
request_over (SmHttpProxy *self)
{
  if (!self->keep_alive || self->draining)
    {
      sm_http_proxy_start_closing (self);
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
  sm_http_proxy_set_timer (self, sm_http_buffer_length (&self->in) > 0 ? SM_HTTP_PROXY_TIMER_HEADER
                                                                       : SM_HTTP_PROXY_TIMER_IDLE);
}

gboolean
sm_http_proxy_pump_flush (SmHttpProxy *self)
{
  gssize n = sm_http_proxy_flush_out (self);

  if (n < 0)
    return TRUE;
  if (sm_http_output_pending (&self->out))
    return n > 0;

  request_over (self);
  return TRUE;
}
