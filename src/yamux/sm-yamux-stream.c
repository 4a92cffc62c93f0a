/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>

#include "sm-yamux-private.h"

/*
 * State of one stream. The session feeds it frames and holds a reference
 * while the stream is "attached" (in its table); the stream leaves once FIN
 * went both ways, on a reset, or when the session ends. Its halves are
 * sm-yamux-input-stream.c and sm-yamux-output-stream.c; their readiness
 * (data, window, and also EOF, errors and closing, which the next call
 * reports at once) is read by level-triggered sources, which all run in
 * the session's context, so changing a flag here is all a source needs;
 * the event core (sm-event-loop.h) is told of every change that may make
 * a half ready (stream_notify()), and then needs no source at all.
 */

struct _SmYamuxStream
{
  GIOStream       parent_instance;

  SmYamuxSession *session; /* weak pointer */
  GMainContext   *context;
  guint32         id;
  SmYamuxFlow     flow;
  SmYamuxBuffer   receive_buffer;
  GInputStream   *input;
  GOutputStream  *output;
  GSource        *close_timeout_source;
  guint           close_timeout_ms;

  guint           outbound : 1; /* we opened it */
  guint           attached : 1; /* in the session's table */
  guint           opened : 1;   /* our SYN (outbound) or ACK (inbound) went out */
  guint           acked : 1;    /* outbound: the peer answered our SYN */
  guint           fin_sent : 1; /* output closed; FIN rides on the SYN if that waits */
  guint           fin_received : 1;
  guint           reset : 1; /* by either side */
  guint           reset_by_peer : 1;
  guint           session_ended : 1;
  guint           read_closed : 1;
};

G_DEFINE_TYPE (SmYamuxStream, sm_yamux_stream, G_TYPE_IO_STREAM)

static void
stream_send_header (SmYamuxStream *self, guint16 flags, guint32 length)
{
  if (self->attached && self->session != NULL)
    sm_yamux_session_send_header (self->session, SM_YAMUX_TYPE_WINDOW_UPDATE, flags, self->id,
                                  length);
}

/* A half may have become ready: data, window, EOF, an error, the end */
static void
stream_notify (SmYamuxStream *self)
{
  if (self->input != NULL)
    sm_pollable_input_stream_notify (SM_POLLABLE_INPUT_STREAM (self->input));
  if (self->output != NULL)
    sm_pollable_output_stream_notify (SM_POLLABLE_OUTPUT_STREAM (self->output));
}

/* The caller holds a reference: the session drops its own here. */
static void
stream_leave_session (SmYamuxStream *self)
{
  sm_source_clear (&self->close_timeout_source);

  if (!self->attached)
    return;

  self->attached = FALSE;
  if (self->session != NULL)
    sm_yamux_session_remove_stream (self->session, self);
  stream_notify (self);
}

void
sm_yamux_stream_notify_writable (SmYamuxStream *self)
{
  if (self->output != NULL)
    sm_pollable_output_stream_notify (SM_POLLABLE_OUTPUT_STREAM (self->output));
}

static void
stream_drop_received (SmYamuxStream *self)
{
  sm_yamux_buffer_clear (&self->receive_buffer);
}

/* @len buffered bytes are gone (read or discarded): grant the peer more
 * window when the flow accounting says an update is due. */
static void
stream_credit (SmYamuxStream *self, gsize len)
{
  guint32 window = self->flow.window;
  guint32 delta = sm_yamux_flow_consume (&self->flow, len);

  if (G_UNLIKELY (self->flow.window != window))
    g_debug ("yamux stream %u: receive window grown to %u bytes", self->id, self->flow.window);

  /* After its FIN the peer sends nothing more: an update would be noise. */
  if (delta > 0 && !self->fin_received && !self->reset)
    stream_send_header (self, 0, delta);
}

static gboolean
on_close_timeout (gpointer user_data)
{
  SmYamuxStream *self = user_data;

  g_debug ("yamux stream %u: no FIN from the peer after ours, resetting", self->id);
  g_clear_pointer (&self->close_timeout_source, g_source_unref);
  sm_yamux_stream_reset (self);
  return G_SOURCE_REMOVE;
}

static GInputStream *
sm_yamux_stream_get_input_stream (GIOStream *stream)
{
  return SM_YAMUX_STREAM (stream)->input;
}

static GOutputStream *
sm_yamux_stream_get_output_stream (GIOStream *stream)
{
  return SM_YAMUX_STREAM (stream)->output;
}

static void
sm_yamux_stream_finalize (GObject *object)
{
  SmYamuxStream *self = SM_YAMUX_STREAM (object);

  sm_yamux_input_stream_detach (SM_YAMUX_INPUT_STREAM (self->input));
  sm_yamux_output_stream_detach (SM_YAMUX_OUTPUT_STREAM (self->output));
  g_clear_object (&self->input);
  g_clear_object (&self->output);
  stream_drop_received (self);
  sm_source_clear (&self->close_timeout_source);
  if (self->session != NULL)
    g_object_remove_weak_pointer (G_OBJECT (self->session), (gpointer *) &self->session);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (sm_yamux_stream_parent_class)->finalize (object);
}

static void
sm_yamux_stream_class_init (SmYamuxStreamClass *klass)
{
  GIOStreamClass *io_stream_class = G_IO_STREAM_CLASS (klass);

  io_stream_class->get_input_stream = sm_yamux_stream_get_input_stream;
  io_stream_class->get_output_stream = sm_yamux_stream_get_output_stream;
  G_OBJECT_CLASS (klass)->finalize = sm_yamux_stream_finalize;
}

static void
sm_yamux_stream_init (SmYamuxStream *self)
{
  self->input = sm_yamux_input_stream_new (self);
  self->output = sm_yamux_output_stream_new (self);
}

guint32
sm_yamux_stream_get_id (SmYamuxStream *self)
{
  g_return_val_if_fail (SM_IS_YAMUX_STREAM (self), 0);

  return self->id;
}

SmYamuxSession *
sm_yamux_stream_get_session (SmYamuxStream *self)
{
  g_return_val_if_fail (SM_IS_YAMUX_STREAM (self), NULL);

  return self->session;
}

void
sm_yamux_stream_reset (SmYamuxStream *self)
{
  g_return_if_fail (SM_IS_YAMUX_STREAM (self));

  if (self->reset)
    return;

  g_object_ref (self);
  g_debug ("yamux stream %u: reset", self->id);
  /* A SYN still waiting never reached the peer: nothing to tell it. */
  if (self->opened)
    stream_send_header (self, SM_YAMUX_FLAG_RST, 0);
  self->reset = TRUE;
  stream_drop_received (self);
  stream_leave_session (self);
  stream_notify (self);
  g_object_unref (self);
}

gboolean
sm_yamux_stream_was_reset (SmYamuxStream *self)
{
  g_return_val_if_fail (SM_IS_YAMUX_STREAM (self), FALSE);

  return self->reset_by_peer;
}

gsize
sm_yamux_stream_get_buffered (SmYamuxStream *self)
{
  g_return_val_if_fail (SM_IS_YAMUX_STREAM (self), 0);

  return sm_yamux_buffer_get_length (&self->receive_buffer);
}

/* Nothing more can be written: a write fails at once, so it never waits */
static gboolean
stream_write_is_over (SmYamuxStream *self)
{
  return self->reset || self->session_ended || self->fin_sent || !self->attached;
}

gsize
sm_yamux_stream_get_write_room (SmYamuxStream *self)
{
  g_return_val_if_fail (SM_IS_YAMUX_STREAM (self), 0);

  if (stream_write_is_over (self))
    return SM_YAMUX_MAX_DATA_FRAME;
  if (!sm_yamux_stream_is_writable (self))
    return 0;
  return sm_yamux_flow_sendable (&self->flow, SM_YAMUX_MAX_DATA_FRAME);
}

guint32
sm_yamux_stream_get_receive_window (SmYamuxStream *self)
{
  g_return_val_if_fail (SM_IS_YAMUX_STREAM (self), 0);

  return self->flow.window;
}

guint
sm_yamux_stream_peek (SmYamuxStream *self, GOutputVector *vectors, guint max_vectors)
{
  g_return_val_if_fail (SM_IS_YAMUX_STREAM (self), 0);

  if (self->read_closed || self->reset)
    return 0;
  return sm_yamux_buffer_peek (&self->receive_buffer, vectors, max_vectors);
}

void
sm_yamux_stream_consume (SmYamuxStream *self, gsize len)
{
  g_return_if_fail (SM_IS_YAMUX_STREAM (self));
  g_return_if_fail (len <= sm_yamux_buffer_get_length (&self->receive_buffer));

  if (len == 0)
    return;
  sm_yamux_buffer_consume (&self->receive_buffer, len);
  stream_credit (self, len);
}

/* Internal API for the session (sm-yamux-private.h) */

SmYamuxStream *
sm_yamux_stream_new_internal (SmYamuxSession *session, guint32 id, gboolean outbound)
{
  SmYamuxStream       *self = g_object_new (SM_TYPE_YAMUX_STREAM, NULL);
  const SmYamuxConfig *config = sm_yamux_session_get_config (session);

  self->session = session;
  g_object_add_weak_pointer (G_OBJECT (session), (gpointer *) &self->session);
  self->context = g_main_context_ref (sm_yamux_session_get_context (session));
  self->id = id;
  self->outbound = outbound;
  self->attached = TRUE;
  self->close_timeout_ms = config->stream_close_timeout_ms;
  sm_yamux_flow_init (&self->flow, config->max_stream_window);

  return self;
}

void
sm_yamux_stream_send_open (SmYamuxStream *self)
{
  guint16 flags = self->outbound ? SM_YAMUX_FLAG_SYN : SM_YAMUX_FLAG_ACK;

  if (self->fin_sent)
    flags |= SM_YAMUX_FLAG_FIN;
  self->opened = TRUE;
  stream_send_header (self, flags, sm_yamux_flow_initial_delta (&self->flow));
  stream_notify (self);
}

gboolean
sm_yamux_stream_is_syn_pending (SmYamuxStream *self)
{
  return self->outbound && self->opened && !self->acked;
}

gboolean
sm_yamux_stream_is_syn_waiting (SmYamuxStream *self)
{
  return self->outbound && !self->opened;
}

void
sm_yamux_stream_handle_ack (SmYamuxStream *self)
{
  self->acked = TRUE;
}

gboolean
sm_yamux_stream_handle_grant (SmYamuxStream *self, guint32 delta, GError **error)
{
  if (!sm_yamux_flow_grant (&self->flow, delta, error))
    return FALSE;
  if (delta > 0)
    sm_yamux_stream_notify_writable (self);
  return TRUE;
}

gboolean
sm_yamux_stream_handle_data (SmYamuxStream *self, guint32 len, GError **error)
{
  if (!sm_yamux_flow_receive (&self->flow, len, error))
    {
      g_prefix_error (error, "Stream %u: ", self->id);
      return FALSE;
    }
  return TRUE;
}

gboolean
sm_yamux_stream_takes_data (SmYamuxStream *self)
{
  return !self->read_closed && !self->fin_received && !self->reset;
}

gssize
sm_yamux_stream_receive_from (SmYamuxStream        *self,
                              GPollableInputStream *input,
                              gsize                 max,
                              gsize                *requested,
                              GError              **error)
{
  guint8 *space = sm_yamux_buffer_reserve (&self->receive_buffer, max, requested);
  gssize  n;

  n = g_pollable_input_stream_read_nonblocking (input, space, *requested, NULL, error);
  if (n > 0)
    {
      sm_yamux_buffer_commit (&self->receive_buffer, n);
      stream_notify (self);
    }
  else if (sm_yamux_buffer_get_length (&self->receive_buffer) == 0)
    sm_yamux_buffer_clear (&self->receive_buffer); /* the segment reserved for nothing */
  return n;
}

void
sm_yamux_stream_push_data (SmYamuxStream *self, const guint8 *data, gsize len)
{
  /* Nobody will read it; still credit it so the peer's writer moves on. */
  if (!sm_yamux_stream_takes_data (self))
    {
      stream_credit (self, len);
      return;
    }

  sm_yamux_buffer_append (&self->receive_buffer, data, len);
  stream_notify (self);
}

void
sm_yamux_stream_handle_fin (SmYamuxStream *self)
{
  if (self->fin_received)
    return;

  self->fin_received = TRUE;
  if (self->fin_sent)
    stream_leave_session (self);
  stream_notify (self);
}

void
sm_yamux_stream_handle_rst (SmYamuxStream *self)
{
  g_debug ("yamux stream %u: reset by the peer", self->id);
  self->reset = TRUE;
  self->reset_by_peer = TRUE;
  stream_drop_received (self);
  stream_leave_session (self);
  stream_notify (self);
}

void
sm_yamux_stream_abort (SmYamuxStream *self, gboolean session_ended)
{
  if (session_ended)
    {
      self->session_ended = TRUE;
    }
  else
    {
      self->reset = TRUE;
      stream_drop_received (self);
    }
  stream_leave_session (self);
  stream_notify (self);
}

/* Internal API for the input and output streams */

gboolean
sm_yamux_stream_is_readable (SmYamuxStream *self)
{
  return self->read_closed || self->reset || self->fin_received || self->session_ended ||
         !self->attached || sm_yamux_buffer_get_length (&self->receive_buffer) > 0;
}

gboolean
sm_yamux_stream_is_writable (SmYamuxStream *self)
{
  if (stream_write_is_over (self))
    return TRUE;

  return self->opened && self->flow.send_window > 0 && self->session != NULL &&
         sm_yamux_session_can_send (self->session);
}

gssize
sm_yamux_stream_set_closed_error (GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "Stream is already closed");
  return -1;
}

static gboolean
stream_check_alive (SmYamuxStream *self, GError **error)
{
  if (self->reset)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                           self->reset_by_peer ? "Stream reset by the peer" : "Stream was reset");
      return FALSE;
    }
  return TRUE;
}

gssize
sm_yamux_stream_read_nonblocking (SmYamuxStream *self, void *buffer, gsize count, GError **error)
{
  gsize n;

  if (self->read_closed)
    return sm_yamux_stream_set_closed_error (error);
  if (!stream_check_alive (self, error))
    return -1;

  n = sm_yamux_buffer_pop (&self->receive_buffer, buffer, count);
  if (n > 0)
    {
      stream_credit (self, n);
      return n;
    }
  if (count == 0 || self->fin_received)
    return 0;
  if (self->session_ended || !self->attached)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                           "The yamux session is closed");
      return -1;
    }

  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, g_strerror (EAGAIN));
  return -1;
}

gssize
sm_yamux_stream_write_nonblocking (SmYamuxStream *self,
                                   const void    *buffer,
                                   gsize          count,
                                   GError       **error)
{
  guint32 len;

  if (!stream_check_alive (self, error))
    return -1;
  if (self->fin_sent)
    return sm_yamux_stream_set_closed_error (error);
  if (self->session_ended || !self->attached || self->session == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                           "The yamux session is closed");
      return -1;
    }
  if (count == 0)
    return 0;

  if (!self->opened || self->flow.send_window == 0 || !sm_yamux_session_can_send (self->session))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, g_strerror (EAGAIN));
      return -1;
    }

  len = sm_yamux_flow_sendable (&self->flow, MIN (count, SM_YAMUX_MAX_DATA_FRAME));
  sm_yamux_flow_sent (&self->flow, len);
  sm_yamux_session_send_data (self->session, self->id, buffer, len);
  return len;
}

void
sm_yamux_stream_close_read (SmYamuxStream *self)
{
  gsize buffered = sm_yamux_buffer_get_length (&self->receive_buffer);

  if (self->read_closed)
    return;

  self->read_closed = TRUE;
  stream_drop_received (self);
  if (buffered > 0)
    stream_credit (self, buffered);
  stream_notify (self);
}

void
sm_yamux_stream_close_write (SmYamuxStream *self)
{
  if (self->fin_sent || self->reset || self->session_ended || !self->attached)
    return;

  g_object_ref (self);
  self->fin_sent = TRUE;
  /* A stream whose SYN still waits sends FIN along with it. */
  if (self->opened)
    stream_send_header (self, SM_YAMUX_FLAG_FIN, 0);

  stream_notify (self);
  if (self->fin_received)
    {
      stream_leave_session (self);
    }
  else if (self->close_timeout_ms > 0)
    {
      self->close_timeout_source = g_timeout_source_new (self->close_timeout_ms);
      g_source_set_callback (self->close_timeout_source, on_close_timeout, self, NULL);
      g_source_set_static_name (self->close_timeout_source,
                                "[socketmaster] yamux stream close timeout");
      g_source_attach (self->close_timeout_source, self->context);
    }
  g_object_unref (self);
}

GMainContext *
sm_yamux_stream_get_context (SmYamuxStream *self)
{
  return self->context;
}
