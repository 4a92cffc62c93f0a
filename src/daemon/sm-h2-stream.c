/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdio.h>

#include "sm-event-loop.h"
#include "sm-h2-codec.h"
#include "sm-h2-sink.h"
#include "sm-h2-stream.h"
#include "sm-http-exchange.h"
#include "sm-http-trace.h"

/* RFC 6585; libsoup 3.2 has no name for it */
#define STATUS_HEADER_FIELDS_TOO_LARGE 431
/* Hex digits of a size and two CRLFs around a chunk */
#define CHUNK_OVERHEAD 20

typedef enum
{
  TIMER_NONE,
  TIMER_BODY,     /* more of the request body must come */
  TIMER_RESPONSE, /* the service must start answering */
} StreamTimer;

struct _SmH2Stream
{
  GObject                  parent_instance;

  const SmH2StreamContext *context;
  nghttp2_session         *session;
  gint32                   id;
  gboolean                 tracing;

  /* The request */
  SmH2RequestHead          head;
  gboolean                 head_too_large;
  gboolean                 no_body;    /* END_STREAM came with the head */
  gboolean                 end_stream; /* the client sent all */
  gboolean                 chunked;
  GByteArray              *body;        /* DATA not in the exchange's input yet */
  GString                 *trailers;    /* request trailer fields, "name: value\r\n" */
  gboolean                 body_framed; /* the end of the body is in the input */
  SmHttpBuffer             input;

  /* Its exchange, and the response it writes */
  SmHttpExchange          *exchange;
  gboolean                 begun;
  gboolean                 flushing;      /* the exchange queued all: writing it to the sink */
  gboolean                 exchange_over; /* all of the response is in the sink */
  gboolean                 closed;        /* nghttp2 closed the stream */
  SmH2Sink                *sink;
  SmHttpOutput             output;

  SmHttpHeadScanner        scanner;
  SmHttpResponse          *response; /* its head went out */
  guint64                  remaining;
  SmH2Dechunker            dechunker;
  gboolean                 deferred;  /* nghttp2 waits for resume_data */
  gboolean                 body_done; /* its end went to nghttp2 */
  gboolean                 failed;    /* reset by us */

  SmEventTimer             timer;
  StreamTimer              timer_kind;
};

G_DEFINE_FINAL_TYPE (SmH2Stream, sm_h2_stream, G_TYPE_OBJECT)

static void
sm_h2_stream_finalize (GObject *object)
{
  SmH2Stream *self = SM_H2_STREAM (object);

  sm_event_timer_clear (&self->timer);
  g_clear_pointer (&self->exchange, sm_http_exchange_free);
  sm_http_output_clear (&self->output);
  g_clear_object (&self->sink);
  sm_h2_request_head_clear (&self->head);
  g_clear_pointer (&self->body, g_byte_array_unref);
  if (self->trailers != NULL)
    g_string_free (self->trailers, TRUE);
  sm_http_buffer_clear (&self->input);
  g_clear_pointer (&self->response, sm_http_response_free);
  sm_h2_dechunker_clear (&self->dechunker);
  g_object_unref (self->context->connection);

  G_OBJECT_CLASS (sm_h2_stream_parent_class)->finalize (object);
}

static void
sm_h2_stream_class_init (SmH2StreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sm_h2_stream_finalize;
}

static void
sm_h2_stream_init (SmH2Stream *self)
{
}

static void on_timer (gpointer user_data);

SmH2Stream *
sm_h2_stream_new (const SmH2StreamContext *context, nghttp2_session *session, gint32 id)
{
  SmH2Stream *self = g_object_new (SM_TYPE_H2_STREAM, NULL);

  self->context = context;
  self->session = session;
  self->id = id;
  self->tracing = context->tracing;
  sm_h2_request_head_init (&self->head, context->limits.max_head_size);
  self->body = g_byte_array_new ();
  self->trailers = g_string_new (NULL);
  sm_http_buffer_init (&self->input, SM_H2_STREAM_INPUT_SIZE);
  self->sink = sm_h2_sink_new (SM_H2_STREAM_SINK_SIZE);
  sm_http_output_init (&self->output, G_POLLABLE_OUTPUT_STREAM (self->sink));
  sm_h2_dechunker_init (&self->dechunker);
  sm_event_timer_init (&self->timer, on_timer, self);
  g_object_ref (context->connection);
  return self;
}

gint32
sm_h2_stream_get_id (SmH2Stream *self)
{
  return self->id;
}

gboolean
sm_h2_stream_has_begun (SmH2Stream *self)
{
  return self->begun;
}

gboolean
sm_h2_stream_is_closed (SmH2Stream *self)
{
  return self->closed;
}

static void
wake (SmH2Stream *self)
{
  self->context->wake (self->context->connection, self);
}

/* From nghttp2's callbacks ------------------------------------------------- */

gboolean
sm_h2_stream_add_field (SmH2Stream   *self,
                        gboolean      trailer,
                        const guint8 *name,
                        gsize         name_len,
                        const guint8 *value,
                        gsize         value_len)
{
  g_autoptr (GError) error = NULL;

  if (trailer)
    {
      /* Passed on as the trailers of the chunked body, within the same bound */
      self->head.size += name_len + value_len + 32;
      if (self->head.size > self->head.limit)
        return FALSE;
      g_string_append_len (self->trailers, (const char *) name, (gssize) name_len);
      g_string_append (self->trailers, ": ");
      g_string_append_len (self->trailers, (const char *) value, (gssize) value_len);
      g_string_append (self->trailers, "\r\n");
      return TRUE;
    }

  /* Answered 431 once the head is complete, as over HTTP/1.1 */
  if (self->head_too_large)
    return TRUE;
  if (!sm_h2_request_head_add (&self->head, name, name_len, value, value_len, &error))
    {
      SM_HTTP_DEBUG (self, "HTTP/2 connection from %s: stream %d: %s", self->context->ip, self->id,
                     error->message);
      self->head_too_large = TRUE;
    }
  return TRUE;
}

void
sm_h2_stream_head_done (SmH2Stream *self, gboolean end_stream)
{
  self->no_body = end_stream;
  self->end_stream = end_stream;
}

void
sm_h2_stream_data (SmH2Stream *self, const guint8 *data, gsize len)
{
  /* Nobody reads it any more: its window goes back at once */
  if (self->exchange_over || self->flushing || self->closed || self->failed)
    {
      nghttp2_session_consume (self->session, self->id, len);
      return;
    }
  g_byte_array_append (self->body, data, (guint) len);
  wake (self);
}

void
sm_h2_stream_end (SmH2Stream *self)
{
  self->end_stream = TRUE;
  wake (self);
}

void
sm_h2_stream_closed (SmH2Stream *self, guint32 error_code, gboolean *reset_by_client)
{
  *reset_by_client = error_code != NGHTTP2_NO_ERROR && !self->failed && !self->body_done;
  self->closed = TRUE;
  sm_event_timer_clear (&self->timer);
  /* A service still busy with it has its stream reset */
  if (self->exchange != NULL)
    sm_http_exchange_reset (self->exchange);
  /* Its unread DATA counted in the connection's window */
  if (self->body->len > 0)
    nghttp2_session_consume_connection (self->session, self->body->len);
  g_byte_array_set_size (self->body, 0);
}

/* The exchange's side ------------------------------------------------------ */

/* Stops the stream: RST_STREAM, and the exchange lets its service go */
static void
fail (SmH2Stream *self, const char *reason)
{
  if (self->failed || self->closed)
    return;
  SM_HTTP_DEBUG (self, "HTTP/2 connection from %s: stream %d reset: %s", self->context->ip,
                 self->id, reason);
  self->failed = TRUE;
  sm_event_timer_clear (&self->timer);
  if (self->exchange != NULL)
    sm_http_exchange_reset (self->exchange);
  nghttp2_submit_rst_stream (self->session, NGHTTP2_FLAG_NONE, self->id, NGHTTP2_INTERNAL_ERROR);
  wake (self);
}

static void
response_queued (gpointer connection, gboolean keep_alive)
{
  SmH2Stream *self = connection;

  /* Whether the service's stream stays open is the exchange's business;
   * the client's connection goes on anyway */
  self->flushing = TRUE;
  sm_event_timer_clear (&self->timer);
  self->timer_kind = TIMER_NONE;
  wake (self);
}

static void
tunnel (gpointer connection, SmRoute *route, SmYamuxStream *stream, const SmSpliceCounts *moved)
{
  SmH2Stream *self = connection;

  /* HTTP/2 requests carry no Upgrade (nghttp2 refuses the field) */
  g_io_stream_close_async (G_IO_STREAM (stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  sm_route_stream_finished (route, moved->a_to_b, moved->b_to_a);
  fail (self, "a service switched protocols");
}

static void
abort_stream (gpointer connection, const char *reason)
{
  fail (connection, reason);
}

/* The connection runs the stream, and sends what it submitted */
static void
run_stream (gpointer connection)
{
  wake (connection);
}

static const SmHttpExchangeConnection exchange_vtable = {
  .response_queued = response_queued,
  .tunnel = tunnel,
  .abort = abort_stream,
  .run = run_stream,
};

/* Timers ------------------------------------------------------------------- */

static void
on_timer (gpointer user_data)
{
  SmH2Stream *self = user_data;
  g_autoptr (SmH2Stream) hold = g_object_ref (self);
  SmHttpExchangeWait wait =
      self->timer_kind == TIMER_BODY ? SM_HTTP_EXCHANGE_WAIT_BODY : SM_HTTP_EXCHANGE_WAIT_RESPONSE;

  self->timer_kind = TIMER_NONE;
  if (self->exchange != NULL && !self->flushing && !self->exchange_over &&
      sm_http_exchange_get_wait (self->exchange) == wait)
    sm_http_exchange_time_out (self->exchange, wait);
  wake (self);
}

/* Times what the exchange waits for, as the HTTP/1.1 connection does */
static void
update_timer (SmH2Stream *self)
{
  StreamTimer kind;
  guint       ms = 0;

  switch (sm_http_exchange_get_wait (self->exchange))
    {
    case SM_HTTP_EXCHANGE_WAIT_BODY:
      kind = TIMER_BODY;
      ms = self->context->limits.body_timeout_ms;
      break;
    case SM_HTTP_EXCHANGE_WAIT_RESPONSE:
      kind = TIMER_RESPONSE;
      ms = self->context->limits.response_timeout_ms;
      break;
    case SM_HTTP_EXCHANGE_WAIT_NONE:
    default:
      kind = TIMER_NONE;
      break;
    }

  if (kind == self->timer_kind)
    return;
  self->timer_kind = kind;
  if (kind == TIMER_NONE)
    sm_event_timer_schedule (&self->timer, -1);
  else
    sm_event_timer_schedule_in (&self->timer, (gint64) ms * 1000);
}

/* The request -------------------------------------------------------------- */

static void
input_append (SmHttpBuffer *input, const void *data, gsize len)
{
  if (input->data == NULL)
    input->data = sm_http_buffer_memory_take (input->capacity);
  memcpy (input->data + input->end, data, len);
  input->end += len;
}

/* Moves the request body into the exchange's input as it makes room,
 * giving the client's window back as it does */
static gboolean
feed_request (SmH2Stream *self)
{
  SmHttpBuffer *input = &self->input;
  gboolean      progress = FALSE;

  while (self->body->len > 0)
    {
      gsize room = sm_http_buffer_make_room (input);
      gsize n;

      if (self->chunked)
        {
          char size_line[CHUNK_OVERHEAD];
          int  size_len;

          if (room <= CHUNK_OVERHEAD)
            break;
          n = MIN (self->body->len, room - CHUNK_OVERHEAD);
          size_len = g_snprintf (size_line, sizeof size_line, "%" G_GSIZE_MODIFIER "x\r\n", n);
          input_append (input, size_line, (gsize) size_len);
          input_append (input, self->body->data, n);
          input_append (input, "\r\n", 2);
        }
      else
        {
          if (room == 0)
            break;
          n = MIN (self->body->len, room);
          input_append (input, self->body->data, n);
        }
      g_byte_array_remove_range (self->body, 0, (guint) n);
      nghttp2_session_consume (self->session, self->id, n);
      progress = TRUE;
    }

  if (self->chunked && self->end_stream && !self->body_framed && self->body->len == 0)
    {
      /* Trailers that cannot fit even an empty input are dropped */
      if (self->trailers->len + 5 > input->capacity)
        g_string_truncate (self->trailers, 0);
      if (sm_http_buffer_make_room (input) >= self->trailers->len + 5)
        {
          input_append (input, "0\r\n", 3);
          input_append (input, self->trailers->str, self->trailers->len);
          input_append (input, "\r\n", 2);
          self->body_framed = TRUE;
          progress = TRUE;
        }
    }
  return progress;
}

static void
answer (SmH2Stream *self, guint status)
{
  response_queued (self, sm_http_exchange_answer (self->exchange, status, TRUE, NULL));
}

void
sm_h2_stream_begin (SmH2Stream *self)
{
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  SmHttpRequest       *request = NULL;
  guint                status = SOUP_STATUS_BAD_REQUEST;
  SmHttpExchangeClient client = {
    .address = self->context->address,
    .ip = self->context->ip,
    .https = self->context->https,
    .input = &self->input,
    .output = &self->output,
    .tracing = self->tracing,
    .version = "HTTP/2",
  };

  g_return_if_fail (!self->begun);
  self->begun = TRUE;
  self->exchange =
      sm_http_exchange_new (G_OBJECT (self), &exchange_vtable, &client, self->context->router);

  if (self->head_too_large)
    {
      answer (self, STATUS_HEADER_FIELDS_TOO_LARGE);
      return;
    }

  /* Parsed as a client's HTTP/1.1 head: the same checks, the same request */
  sm_h2_request_head_write (&self->head, self->no_body, text, &self->chunked);
  if (!sm_http_request_parse ((const guint8 *) text->str, text->len, &request, &status, &error))
    {
      SM_HTTP_DEBUG (self, "HTTP/2 connection from %s: stream %d: bad request: %s",
                     self->context->ip, self->id, error->message);
      answer (self, status);
      return;
    }
  feed_request (self);
  sm_http_exchange_begin (self->exchange, request);
}

/* The response ------------------------------------------------------------- */

static gssize
read_body (nghttp2_session     *session,
           gint32               stream_id,
           guint8              *buf,
           gsize                length,
           guint32             *data_flags,
           nghttp2_data_source *source,
           gpointer             user_data)
{
  SmH2Stream   *self = source->ptr;
  SmHttpBuffer *sink = sm_h2_sink_get_buffer (self->sink);
  gsize         available = sm_http_buffer_length (sink);
  gsize         taken = 0;
  gsize         produced = 0;
  gboolean      eof = FALSE;

  switch (self->response->body)
    {
    case SM_HTTP_BODY_LENGTH:
      taken = produced = (gsize) MIN ((guint64) MIN (length, available), self->remaining);
      memcpy (buf, sm_http_buffer_peek (sink), taken);
      self->remaining -= taken;
      eof = self->remaining == 0;
      break;

    case SM_HTTP_BODY_CHUNKED:
      {
        g_autoptr (GError) error = NULL;

        switch (sm_h2_dechunker_feed (&self->dechunker, sm_http_buffer_peek (sink), available, buf,
                                      length, &taken, &produced, &error))
          {
          case SM_HTTP_ERROR:
            SM_HTTP_DEBUG (self, "HTTP/2 connection from %s: stream %d: %s", self->context->ip,
                           self->id, error->message);
            self->failed = TRUE;
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
          case SM_HTTP_COMPLETE:
            eof = TRUE;
            break;
          case SM_HTTP_NEED_MORE:
          default:
            break;
          }
      }
      break;

    case SM_HTTP_BODY_UNTIL_CLOSE:
    default:
      taken = produced = MIN (length, available);
      memcpy (buf, sm_http_buffer_peek (sink), taken);
      eof = self->exchange_over && taken == available;
      break;
    }

  if (taken > 0)
    {
      sm_http_buffer_consume (sink, taken);
      /* The exchange may write again */
      self->output.blocked = FALSE;
      wake (self);
    }

  if (eof)
    {
      g_auto (SmH2Fields) trailers = { NULL, NULL };

      sm_h2_fields_init (&trailers);
      if (self->response->body == SM_HTTP_BODY_CHUNKED)
        sm_h2_dechunker_get_trailers (&self->dechunker, &trailers);
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      if (trailers.nv->len > 0 &&
          nghttp2_submit_trailer (session, stream_id, (nghttp2_nv *) (gpointer) trailers.nv->data,
                                  trailers.nv->len) == 0)
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      self->body_done = TRUE;
      return (gssize) produced;
    }

  if (produced > 0 || taken > 0)
    return (gssize) produced;

  /* The service broke off its response (the exchange reset the stream) */
  if (self->exchange_over && sm_http_buffer_length (sink) == 0)
    {
      self->failed = TRUE;
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
  self->deferred = TRUE;
  return NGHTTP2_ERR_DEFERRED;
}

/* Sends the response head once it is in the sink (interim ones are not
 * passed on), and wakes nghttp2 up for body bytes that came */
static gboolean
pump_response (SmH2Stream *self)
{
  g_autoptr (GError) error = NULL;
  SmHttpBuffer         *sink = sm_h2_sink_get_buffer (self->sink);
  SmHttpResponse       *response = NULL;
  gsize                 head_len = 0;
  nghttp2_data_provider provider = { .source.ptr = self, .read_callback = read_body };
  g_auto (SmH2Fields) fields = { NULL, NULL };
  int rv;

  if (self->failed || self->closed)
    return FALSE;

  if (self->response != NULL)
    {
      if (!self->deferred || (sm_http_buffer_length (sink) == 0 && !self->exchange_over))
        return FALSE;
      self->deferred = FALSE;
      nghttp2_session_resume_data (self->session, self->id);
      return TRUE;
    }

  if (sm_http_buffer_length (sink) == 0)
    {
      if (self->exchange_over)
        fail (self, "no response");
      return FALSE;
    }

  switch (sm_http_find_head_end (&self->scanner, sm_http_buffer_peek (sink),
                                 sm_http_buffer_length (sink), SM_H2_STREAM_SINK_SIZE, &head_len,
                                 &error))
    {
    case SM_HTTP_NEED_MORE:
      if (self->exchange_over)
        fail (self, "incomplete response head");
      return FALSE;
    case SM_HTTP_ERROR:
      fail (self, error->message);
      return TRUE;
    case SM_HTTP_COMPLETE:
    default:
      break;
    }

  if (!sm_http_response_parse (sm_http_buffer_peek (sink), head_len, self->head.method, &response,
                               &error))
    {
      fail (self, error->message);
      return TRUE;
    }
  sm_http_buffer_consume (sink, head_len);
  sm_http_head_scanner_init (&self->scanner);
  self->output.blocked = FALSE;
  if (response->informational)
    {
      sm_http_response_free (response);
      return TRUE;
    }

  self->response = response;
  self->remaining = response->content_length;
  sm_h2_fields_init (&fields);
  sm_h2_fields_set_response (&fields, response);
  if (response->body == SM_HTTP_BODY_NONE)
    self->body_done = TRUE;
  rv = nghttp2_submit_response (self->session, self->id,
                                (const nghttp2_nv *) (gconstpointer) fields.nv->data,
                                fields.nv->len, self->body_done ? NULL : &provider);
  if (rv != 0)
    fail (self, nghttp2_strerror (rv));
  return TRUE;
}

/* The loop ----------------------------------------------------------------- */

void
sm_h2_stream_run (SmH2Stream *self)
{
  g_autoptr (SmH2Stream) hold = g_object_ref (self);
  gboolean progress = TRUE;

  if (!self->begun)
    return;

  while (progress && !self->closed && !self->failed)
    {
      progress = FALSE;
      if (!self->flushing && !self->exchange_over)
        {
          progress |= feed_request (self);
          progress |= sm_http_exchange_pump (self->exchange);
        }
      if (self->flushing && !self->failed)
        {
          g_autoptr (GError) error = NULL;
          gsize  unused;
          gssize n = sm_http_output_write (&self->output, NULL, 0, &unused, &error);

          progress |= n > 0;
          if (!sm_http_output_pending (&self->output))
            {
              self->flushing = FALSE;
              self->exchange_over = TRUE;
              progress = TRUE;
            }
        }
      progress |= pump_response (self);
    }

  if (self->closed || self->failed || self->flushing || self->exchange_over)
    return;
  update_timer (self);
  sm_http_exchange_update_watches (self->exchange);
}

gboolean
sm_h2_stream_blocked_by_client (SmH2Stream *self)
{
  if (self->closed || self->response == NULL || self->body_done)
    return FALSE;
  return sm_http_buffer_length (sm_h2_sink_get_buffer (self->sink)) > 0 &&
         (nghttp2_session_get_stream_remote_window_size (self->session, self->id) <= 0 ||
          nghttp2_session_get_remote_window_size (self->session) <= 0);
}
