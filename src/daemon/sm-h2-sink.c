/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-h2-sink.h"

struct _SmH2Sink
{
  GOutputStream parent_instance;
  SmHttpBuffer  buffer;
};

static void sm_h2_sink_pollable_iface_init (GPollableOutputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SmH2Sink,
                               sm_h2_sink,
                               G_TYPE_OUTPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                      sm_h2_sink_pollable_iface_init))

static gssize
sink_write_nonblocking (GPollableOutputStream *stream, const void *data, gsize len, GError **error)
{
  SmH2Sink     *self = SM_H2_SINK (stream);
  SmHttpBuffer *buffer = &self->buffer;
  gsize         room = sm_http_buffer_make_room (buffer);

  if (room == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "the sink is full");
      return -1;
    }
  if (buffer->data == NULL)
    buffer->data = sm_http_buffer_memory_take (buffer->capacity);
  len = MIN (len, room);
  memcpy (buffer->data + buffer->end, data, len);
  buffer->end += len;
  return (gssize) len;
}

static gboolean
sink_is_writable (GPollableOutputStream *stream)
{
  return sm_http_buffer_make_room (&SM_H2_SINK (stream)->buffer) > 0;
}

static gboolean
sink_can_poll (GPollableOutputStream *stream)
{
  return TRUE;
}

/* Never waited on (see the type's comment): a source that fires at once */
static GSource *
sink_create_source (GPollableOutputStream *stream, GCancellable *cancellable)
{
  GSource *source = g_timeout_source_new (0);

  return g_pollable_source_new_full (stream, source, cancellable);
}

static gssize
sink_write (GOutputStream *stream,
            const void    *data,
            gsize          len,
            GCancellable  *cancellable,
            GError       **error)
{
  return sink_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (stream), data, len, error);
}

static void
sm_h2_sink_pollable_iface_init (GPollableOutputStreamInterface *iface)
{
  iface->can_poll = sink_can_poll;
  iface->is_writable = sink_is_writable;
  iface->create_source = sink_create_source;
  iface->write_nonblocking = sink_write_nonblocking;
}

static void
sm_h2_sink_finalize (GObject *object)
{
  sm_http_buffer_clear (&SM_H2_SINK (object)->buffer);
  G_OBJECT_CLASS (sm_h2_sink_parent_class)->finalize (object);
}

static void
sm_h2_sink_class_init (SmH2SinkClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sm_h2_sink_finalize;
  G_OUTPUT_STREAM_CLASS (klass)->write_fn = sink_write;
}

static void
sm_h2_sink_init (SmH2Sink *self)
{
}

SmH2Sink *
sm_h2_sink_new (gsize capacity)
{
  SmH2Sink *self = g_object_new (SM_TYPE_H2_SINK, NULL);

  sm_http_buffer_init (&self->buffer, capacity);
  return self;
}

SmHttpBuffer *
sm_h2_sink_get_buffer (SmH2Sink *self)
{
  g_return_val_if_fail (SM_IS_H2_SINK (self), NULL);
  return &self->buffer;
}
