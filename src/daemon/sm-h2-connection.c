/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <nghttp2/nghttp2.h>

#include "sm-event-loop.h"
#include "sm-h2-connection.h"
#include "sm-h2-stream.h"
#include "sm-http-proxy.h"
#include "sm-http-trace.h"

#define READ_SIZE (16 * 1024)

typedef enum
{
  STATE_OPEN,
  STATE_CLOSING, /* GOAWAY out: half-closed, draining */
  STATE_DONE,
} State;

struct _SmH2Connection
{
  GObject                parent_instance;

  SmH2StreamContext      context;
  char                  *client_ip;
  GIOStream             *client;
  GPollableInputStream  *input;
  GPollableOutputStream *output;
  gboolean               tracing;
  gboolean               started;

  nghttp2_session       *session;
  SmEventWatch          *watch;
  SmEventTimer           timer;
  SmEventTimer           reap_timer;  /* frees closed streams outside their code */
  SmEventTimer           flush_timer; /* runs woken streams once per loop iteration */
  SmEventCancelWatch     drain_watch;
  SmEventCancelWatch     shutdown_watch;

  GByteArray            *out;
  gsize                  out_sent;
  gboolean               out_blocked;
  gboolean               eof;
  gboolean               half_closed;

  GHashTable            *streams;  /* id → SmH2Stream, open */
  GQueue                 to_begin; /* heads complete, not routed yet */
  GPtrArray             *dirty;    /* streams to run */
  GPtrArray             *dead;     /* closed, freed by reap_timer */

  State                  state;
  guint                  running;
  gboolean               again;
  gboolean               draining;
  gboolean               calm; /* GOAWAY ENHANCE_YOUR_CALM sent */
  guint                  n_requests;
  gint64                 last_request; /* a stream opened or closed */
  gint64                 last_io;      /* bytes moved either way */
  double                 reset_tokens;
  gint64                 reset_at;
};

G_DEFINE_FINAL_TYPE (SmH2Connection, sm_h2_connection, G_TYPE_OBJECT)

static void run (SmH2Connection *self);
static void finish (SmH2Connection *self, const char *reason);

static void
sm_h2_connection_finalize (GObject *object)
{
  SmH2Connection *self = SM_H2_CONNECTION (object);

  g_clear_pointer (&self->watch, sm_event_watch_free);
  sm_event_timer_clear (&self->timer);
  sm_event_timer_clear (&self->reap_timer);
  sm_event_timer_clear (&self->flush_timer);
  sm_event_cancel_watch_stop (&self->drain_watch);
  sm_event_cancel_watch_stop (&self->shutdown_watch);
  g_queue_clear_full (&self->to_begin, g_object_unref);
  g_clear_pointer (&self->dirty, g_ptr_array_unref);
  g_clear_pointer (&self->dead, g_ptr_array_unref);
  g_clear_pointer (&self->streams, g_hash_table_unref);
  g_clear_pointer (&self->session, nghttp2_session_del);
  g_clear_pointer (&self->out, g_byte_array_unref);
  g_clear_object (&self->client);
  g_clear_object (&self->context.router);
  g_clear_object (&self->context.address);
  g_clear_pointer (&self->client_ip, g_free);

  G_OBJECT_CLASS (sm_h2_connection_parent_class)->finalize (object);
}

static void
sm_h2_connection_class_init (SmH2ConnectionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sm_h2_connection_finalize;
}

static void
sm_h2_connection_init (SmH2Connection *self)
{
}

/* Streams ------------------------------------------------------------------ */

static void
wake (gpointer connection, gpointer stream)
{
  SmH2Connection *self = connection;

  if (self->state == STATE_DONE)
    return;
  if (!g_ptr_array_find (self->dirty, stream, NULL))
    g_ptr_array_add (self->dirty, g_object_ref (stream));
  /* Services answer many streams in one loop iteration: running them
   * together at its end puts their frames in one TLS record and one
   * write, instead of one each (a third of the daemon's time went there) */
  if (self->running > 0)
    self->again = TRUE;
  else
    sm_event_timer_schedule (&self->flush_timer, sm_event_loop_get_time ());
}

static void
on_flush (gpointer user_data)
{
  SmH2Connection *self = user_data;
  g_autoptr (SmH2Connection) hold = g_object_ref (self);

  run (self);
}

static void
on_reap (gpointer user_data)
{
  SmH2Connection *self = user_data;
  g_autoptr (SmH2Connection) hold = g_object_ref (self);
  /* The last stream may take the connection's last reference */
  g_autoptr (GPtrArray) dead = g_steal_pointer (&self->dead);

  self->dead = g_ptr_array_new_with_free_func (g_object_unref);
}

static SmH2Stream *
lookup_stream (SmH2Connection *self, gint32 id)
{
  return nghttp2_session_get_stream_user_data (self->session, id);
}

/* Whether a client that cancels one more stream is still within bounds */
static gboolean
take_reset_token (SmH2Connection *self)
{
  gint64 now = g_get_monotonic_time ();

  self->reset_tokens =
      MIN ((double) SM_H2_RESET_BURST, self->reset_tokens + (double) (now - self->reset_at) *
                                                                SM_H2_RESET_RATE / G_USEC_PER_SEC);
  self->reset_at = now;
  if (self->reset_tokens < 1)
    return FALSE;
  self->reset_tokens -= 1;
  return TRUE;
}

/* nghttp2's callbacks: they only store what came ----------------------------- */

static int
on_begin_headers (nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
  SmH2Connection *self = user_data;
  SmH2Stream     *stream;

  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST || self->calm)
    return 0;

  stream = sm_h2_stream_new (&self->context, session, frame->hd.stream_id);
  g_hash_table_insert (self->streams, GINT_TO_POINTER (frame->hd.stream_id), stream);
  nghttp2_session_set_stream_user_data (session, frame->hd.stream_id, stream);
  self->last_request = g_get_monotonic_time ();
  return 0;
}

static int
on_header (nghttp2_session     *session,
           const nghttp2_frame *frame,
           const guint8        *name,
           gsize                name_len,
           const guint8        *value,
           gsize                value_len,
           guint8               flags,
           void                *user_data)
{
  SmH2Stream *stream = lookup_stream (user_data, frame->hd.stream_id);

  if (stream == NULL || frame->hd.type != NGHTTP2_HEADERS)
    return 0;
  if (!sm_h2_stream_add_field (stream, frame->headers.cat == NGHTTP2_HCAT_HEADERS, name, name_len,
                               value, value_len))
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return 0;
}

static int
on_frame_recv (nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
  SmH2Connection *self = user_data;
  SmH2Stream     *stream = NULL;
  gboolean        end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

  if (frame->hd.stream_id != 0)
    stream = lookup_stream (self, frame->hd.stream_id);

  switch (frame->hd.type)
    {
    case NGHTTP2_HEADERS:
      if (stream == NULL)
        break;
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        {
          /* Routed once nghttp2 is done with what came: a stream the same
           * read cancels costs no service a request */
          sm_h2_stream_head_done (stream, end_stream);
          g_queue_push_tail (&self->to_begin, g_object_ref (stream));
          self->n_requests++;
        }
      else if (end_stream)
        sm_h2_stream_end (stream);
      break;

    case NGHTTP2_DATA:
      if (stream != NULL && end_stream)
        sm_h2_stream_end (stream);
      break;

    case NGHTTP2_RST_STREAM:
      if (!self->calm && !take_reset_token (self))
        {
          g_message ("HTTP/2 connection from %s: too many cancelled streams; closing it",
                     self->client_ip);
          self->calm = TRUE;
          nghttp2_session_terminate_session (session, NGHTTP2_ENHANCE_YOUR_CALM);
        }
      break;

    default:
      break;
    }
  return 0;
}

static int
on_data_chunk_recv (nghttp2_session *session,
                    guint8           flags,
                    gint32           stream_id,
                    const guint8    *data,
                    gsize            len,
                    void            *user_data)
{
  SmH2Stream *stream = lookup_stream (user_data, stream_id);

  if (stream == NULL)
    nghttp2_session_consume (session, stream_id, len);
  else
    sm_h2_stream_data (stream, data, len);
  return 0;
}

static int
on_stream_close (nghttp2_session *session, gint32 stream_id, guint32 error_code, void *user_data)
{
  SmH2Connection *self = user_data;
  SmH2Stream     *stream = lookup_stream (self, stream_id);
  gboolean        cancelled = FALSE;

  if (stream == NULL)
    return 0;

  sm_h2_stream_closed (stream, error_code, &cancelled);
  SM_HTTP_DEBUG (self, "HTTP/2 connection from %s: stream %d closed%s", self->client_ip, stream_id,
                 cancelled ? " by the client" : "");
  nghttp2_session_set_stream_user_data (session, stream_id, NULL);
  /* Its code may be on the stack: freed from the loop */
  g_ptr_array_add (self->dead, g_object_ref (stream));
  g_hash_table_remove (self->streams, GINT_TO_POINTER (stream_id));
  sm_event_timer_schedule (&self->reap_timer, 0);
  self->last_request = g_get_monotonic_time ();
  return 0;
}

/* Output ------------------------------------------------------------------- */

/* Makes frames and writes them; FALSE when the connection ended */
static gboolean
send_frames (SmH2Connection *self)
{
  for (;;)
    {
      g_autoptr (GError) error = NULL;
      gssize n;

      while (self->out->len - self->out_sent < SM_H2_OUTPUT_HIGH)
        {
          const guint8 *data = NULL;
          gssize        len = nghttp2_session_mem_send (self->session, &data);

          if (len < 0)
            {
              finish (self, nghttp2_strerror ((int) len));
              return FALSE;
            }
          if (len == 0)
            break;
          if (self->out_sent > 0 && self->out_sent == self->out->len)
            {
              g_byte_array_set_size (self->out, 0);
              self->out_sent = 0;
            }
          g_byte_array_append (self->out, data, (guint) len);
        }

      if (self->out_sent == self->out->len)
        {
          g_byte_array_set_size (self->out, 0);
          self->out_sent = 0;
          return TRUE;
        }

      n = g_pollable_output_stream_write_nonblocking (
          self->output, self->out->data + self->out_sent, self->out->len - self->out_sent, NULL,
          &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        n = 0;
      else if (n < 0)
        {
          finish (self, error->message);
          return FALSE;
        }
      if (n == 0)
        {
          self->out_blocked = TRUE;
          return TRUE;
        }
      self->out_sent += (gsize) n;
      self->last_io = sm_event_loop_get_time ();
      if (self->out_sent > SM_H2_OUTPUT_HIGH)
        {
          g_byte_array_remove_range (self->out, 0, (guint) self->out_sent);
          self->out_sent = 0;
        }
    }
}

/* Closing ------------------------------------------------------------------ */

static void
finish (SmH2Connection *self, const char *reason)
{
  GHashTableIter iter;
  gpointer       stream;

  if (self->state == STATE_DONE)
    return;
  SM_HTTP_DEBUG (self, "HTTP/2 connection from %s: closed after %u request(s)%s%s", self->client_ip,
                 self->n_requests, reason != NULL ? ": " : "", reason != NULL ? reason : "");
  self->state = STATE_DONE;

  /* Their services stop at once */
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &stream))
    {
      gboolean cancelled;

      sm_h2_stream_closed (stream, NGHTTP2_CANCEL, &cancelled);
      g_ptr_array_add (self->dead, g_object_ref (stream));
    }
  g_hash_table_remove_all (self->streams);
  g_queue_clear_full (&self->to_begin, g_object_unref);
  g_ptr_array_set_size (self->dirty, 0);
  sm_event_timer_schedule (&self->reap_timer, 0);

  g_clear_pointer (&self->watch, sm_event_watch_free);
  sm_event_timer_clear (&self->timer);
  sm_event_cancel_watch_stop (&self->drain_watch);
  sm_event_cancel_watch_stop (&self->shutdown_watch);
  g_io_stream_close_async (self->client, G_PRIORITY_DEFAULT, NULL, NULL, NULL);

  /* Taken by sm_h2_connection_start() */
  g_object_unref (self);
}

static void
half_close (SmH2Connection *self)
{
  self->half_closed = TRUE;
  if (G_IS_SOCKET_CONNECTION (self->client))
    {
      g_socket_shutdown (g_socket_connection_get_socket (G_SOCKET_CONNECTION (self->client)), FALSE,
                         TRUE, NULL);
      return;
    }
  /* A TLS stream sends close_notify, then half-closes its base */
  g_output_stream_close_async (G_OUTPUT_STREAM (self->output), G_PRIORITY_DEFAULT, NULL, NULL,
                               NULL);
}

/* GOAWAY, then the last frames out, then read until the client closes
 * (closing with unread input would reset the connection under them) */
static void
start_closing (SmH2Connection *self, guint32 error_code)
{
  if (self->state != STATE_OPEN)
    return;
  nghttp2_session_terminate_session (self->session, error_code);
  self->state = STATE_CLOSING;
  sm_event_timer_schedule_in (&self->timer, (gint64) SM_HTTP_PROXY_LINGER_MS * 1000);
}

/* Input -------------------------------------------------------------------- */

static void
on_readable (gpointer user_data)
{
  SmH2Connection *self = user_data;
  g_autoptr (SmH2Connection) hold = g_object_ref (self);
  g_autoptr (GError) error = NULL;
  guint8 buffer[READ_SIZE];
  gssize n;
  gssize used;

  n = g_pollable_input_stream_read_nonblocking (self->input, buffer, sizeof buffer, NULL, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return;
  if (n < 0)
    {
      finish (self, error->message);
      return;
    }
  if (n == 0)
    {
      self->eof = TRUE;
      finish (self, self->state == STATE_CLOSING ? NULL : "the client closed the connection");
      return;
    }
  if (self->state != STATE_OPEN)
    return;

  self->last_io = sm_event_loop_get_time ();
  used = nghttp2_session_mem_recv (self->session, buffer, (gsize) n);
  if (used < 0)
    {
      /* What nghttp2 queued (a GOAWAY) is worth a try */
      send_frames (self);
      finish (self, nghttp2_strerror ((int) used));
      return;
    }
  run (self);
}

static void
on_writable (gpointer user_data)
{
  SmH2Connection *self = user_data;

  self->out_blocked = FALSE;
  run (self);
}

/* The loop ----------------------------------------------------------------- */

static void
begin_streams (SmH2Connection *self)
{
  SmH2Stream *stream;

  while ((stream = g_queue_pop_head (&self->to_begin)) != NULL)
    {
      if (!sm_h2_stream_is_closed (stream) && !self->calm && self->state == STATE_OPEN)
        {
          sm_h2_stream_begin (stream);
          if (!g_ptr_array_find (self->dirty, stream, NULL))
            g_ptr_array_add (self->dirty, g_object_ref (stream));
        }
      g_object_unref (stream);
    }
}

static void
run_streams (SmH2Connection *self)
{
  while (self->dirty->len > 0 && self->state != STATE_DONE)
    {
      g_autoptr (SmH2Stream) stream = g_ptr_array_steal_index (self->dirty, self->dirty->len - 1);

      sm_h2_stream_run (stream);
    }
}

static gboolean
stalled_by_client (SmH2Connection *self)
{
  GHashTableIter iter;
  gpointer       stream;

  if (self->out_blocked)
    return TRUE;
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &stream))
    if (sm_h2_stream_blocked_by_client (stream))
      return TRUE;
  return FALSE;
}

static void
on_timer (gpointer user_data)
{
  SmH2Connection *self = user_data;
  g_autoptr (SmH2Connection) hold = g_object_ref (self);

  switch (self->state)
    {
    case STATE_CLOSING:
      finish (self, NULL);
      return;
    case STATE_OPEN:
      if (g_hash_table_size (self->streams) == 0)
        {
          SM_HTTP_DEBUG (self, "HTTP/2 connection from %s: idle; closing it", self->client_ip);
          start_closing (self, NGHTTP2_NO_ERROR);
        }
      else if (stalled_by_client (self))
        {
          finish (self, "the client took nothing for the idle timeout");
          return;
        }
      else
        {
          /* Streams wait for their services, which have their own timers */
          self->last_io = sm_event_loop_get_time ();
        }
      break;
    case STATE_DONE:
    default:
      return;
    }
  run (self);
}

static void
update_timer (SmH2Connection *self)
{
  gint64 deadline;

  if (self->state != STATE_OPEN)
    return;
  if (g_hash_table_size (self->streams) == 0)
    deadline = self->last_request + (gint64) (self->n_requests == 0
                                                  ? self->context.limits.header_timeout_ms
                                                  : self->context.limits.idle_timeout_ms) *
                                        1000;
  else
    deadline = self->last_io + (gint64) self->context.limits.idle_timeout_ms * 1000;
  sm_event_timer_schedule (&self->timer, deadline);
}

static void
run (SmH2Connection *self)
{
  g_autoptr (SmH2Connection) hold = NULL;
  gboolean reading;

  if (self->running > 0 || self->state == STATE_DONE)
    {
      self->again = TRUE;
      return;
    }
  hold = g_object_ref (self);
  self->running++;
  do
    {
      self->again = FALSE;
      begin_streams (self);
      run_streams (self);
      if (self->state == STATE_DONE || !send_frames (self))
        break;
    }
  while (self->again || self->dirty->len > 0);
  self->running--;
  if (self->state == STATE_DONE)
    return;

  if (self->state == STATE_OPEN && ((!nghttp2_session_want_read (self->session) &&
                                     !nghttp2_session_want_write (self->session)) ||
                                    (self->draining && g_hash_table_size (self->streams) == 0)))
    start_closing (self, NGHTTP2_NO_ERROR);

  if (self->state == STATE_CLOSING)
    {
      /* terminate_session queued a GOAWAY */
      if (!send_frames (self))
        return;
      if (self->out->len == 0 && !self->half_closed)
        half_close (self);
      reading = !self->eof;
    }
  else
    {
      update_timer (self);
      reading = self->out->len - self->out_sent < SM_H2_OUTPUT_HIGH &&
                nghttp2_session_want_read (self->session);
    }
  sm_event_watch_update (self->watch, reading, self->out_blocked);
}

/* Cancellation ------------------------------------------------------------- */

static void
on_drain (gpointer user_data)
{
  SmH2Connection *self = user_data;
  g_autoptr (SmH2Connection) hold = g_object_ref (self);

  if (self->draining || self->state != STATE_OPEN)
    return;
  SM_HTTP_DEBUG (self, "HTTP/2 connection from %s: draining", self->client_ip);
  self->draining = TRUE;
  /* Streams up to the last one seen finish; later ones are refused */
  nghttp2_submit_goaway (self->session, NGHTTP2_FLAG_NONE,
                         nghttp2_session_get_last_proc_stream_id (self->session), NGHTTP2_NO_ERROR,
                         NULL, 0);
  run (self);
}

static void
on_shutdown (gpointer user_data)
{
  SmH2Connection *self = user_data;
  g_autoptr (SmH2Connection) hold = g_object_ref (self);

  finish (self, "socketmaster is shutting down");
}

/* Setup -------------------------------------------------------------------- */

SmH2Connection *
sm_h2_connection_new (SmHttpRouter       *router,
                      GIOStream          *client,
                      GSocketAddress     *client_address,
                      const char         *client_ip,
                      gboolean            https,
                      const SmHttpLimits *limits)
{
  SmH2Connection *self;

  g_return_val_if_fail (SM_IS_HTTP_ROUTER (router), NULL);
  g_return_val_if_fail (G_IS_IO_STREAM (client), NULL);

  self = g_object_new (SM_TYPE_H2_CONNECTION, NULL);
  self->client = g_object_ref (client);
  self->input = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (client));
  self->output = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (client));
  self->client_ip = g_strdup (client_ip);
  self->tracing = sm_http_trace_enabled ();
  self->context = (SmH2StreamContext){
    .router = g_object_ref (router),
    .address = client_address != NULL ? g_object_ref (client_address) : NULL,
    .ip = self->client_ip,
    .https = https,
    .limits = *limits,
    .tracing = self->tracing,
    .wake = wake,
    .connection = G_OBJECT (self),
  };
  self->out = g_byte_array_new ();
  self->streams = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->dirty = g_ptr_array_new_with_free_func (g_object_unref);
  self->dead = g_ptr_array_new_with_free_func (g_object_unref);
  self->reset_tokens = SM_H2_RESET_BURST;
  self->reset_at = g_get_monotonic_time ();
  return self;
}

static gboolean
make_session (SmH2Connection *self)
{
  nghttp2_session_callbacks *callbacks = NULL;
  nghttp2_option            *option = NULL;
  nghttp2_settings_entry     settings[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, SM_H2_MAX_CONCURRENT_STREAMS },
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, SM_H2_STREAM_WINDOW },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (guint32) self->context.limits.max_head_size },
  };
  int rv;

  nghttp2_session_callbacks_new (&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback (callbacks, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback (callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback (callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback (callbacks, on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback (callbacks, on_stream_close);

  nghttp2_option_new (&option);
  /* The window opens as services take request bodies */
  nghttp2_option_set_no_auto_window_update (option, 1);
  nghttp2_option_set_max_outbound_ack (option, SM_H2_MAX_OUTBOUND_ACK);
  nghttp2_option_set_max_settings (option, SM_H2_MAX_SETTINGS);

  rv = nghttp2_session_server_new2 (&self->session, callbacks, self, option);
  nghttp2_option_del (option);
  nghttp2_session_callbacks_del (callbacks);
  if (rv != 0)
    return FALSE;

  nghttp2_submit_settings (self->session, NGHTTP2_FLAG_NONE, settings, G_N_ELEMENTS (settings));
  nghttp2_session_set_local_window_size (self->session, NGHTTP2_FLAG_NONE, 0,
                                         SM_H2_CONNECTION_WINDOW);
  return TRUE;
}

void
sm_h2_connection_start (SmH2Connection *self,
                        const guint8   *received,
                        gsize           len,
                        GCancellable   *drain,
                        GCancellable   *cancellable)
{
  g_return_if_fail (SM_IS_H2_CONNECTION (self));
  g_return_if_fail (!self->started);

  self->started = TRUE;
  /* Released by finish() */
  g_object_ref (self);

  if (G_IS_SOCKET_CONNECTION (self->client))
    g_socket_set_option (g_socket_connection_get_socket (G_SOCKET_CONNECTION (self->client)),
                         IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  sm_event_timer_init (&self->timer, on_timer, self);
  sm_event_timer_init (&self->reap_timer, on_reap, self);
  sm_event_timer_init (&self->flush_timer, on_flush, self);
  if (drain != NULL)
    sm_event_cancel_watch_start (&self->drain_watch, drain, on_drain, self);
  if (cancellable != NULL)
    sm_event_cancel_watch_start (&self->shutdown_watch, cancellable, on_shutdown, self);
  self->watch = sm_event_watch_new (self->input, self->output, on_readable, on_writable, self,
                                    "[socketmaster] HTTP/2 client");
  self->last_request = self->last_io = sm_event_loop_get_time ();

  SM_HTTP_DEBUG (self, "HTTP/2 connection from %s on %s", self->client_ip,
                 sm_http_router_get_display_name (self->context.router));

  if (!make_session (self))
    {
      finish (self, "no HTTP/2 session");
      return;
    }
  if (len > 0 && nghttp2_session_mem_recv (self->session, received, len) < 0)
    {
      finish (self, "bad HTTP/2 preface");
      return;
    }
  run (self);
}
