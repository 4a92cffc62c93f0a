/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-yamux-private.h"

/*
 * The writing half of an SmYamuxStream, a GPollableOutputStream that
 * sends DATA frames within the peer's window; closing it sends FIN. What
 * it shares with the reading half (sources, blocking writes, closing) is
 * in sm-yamux-stream.c.
 */

struct _SmYamuxOutputStream
{
  GOutputStream  parent_instance;
  SmYamuxStream *owner; /* not owned; NULL once it is finalized */
};

static void sm_yamux_output_stream_pollable_iface_init (GPollableOutputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE (SmYamuxOutputStream,
                         sm_yamux_output_stream,
                         G_TYPE_OUTPUT_STREAM,
                         G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                sm_yamux_output_stream_pollable_iface_init))

/* Asked by our sources before and after every poll: no checked cast on
 * this path, the sources only ever hold our own streams. */
gboolean
sm_yamux_output_stream_is_ready (GObject *object)
{
  SmYamuxStream *owner = ((SmYamuxOutputStream *) object)->owner;

  return owner == NULL || sm_yamux_stream_is_writable (owner);
}

static gboolean
sm_yamux_output_stream_is_writable (GPollableOutputStream *pollable)
{
  return sm_yamux_output_stream_is_ready (G_OBJECT (pollable));
}

static gssize
sm_yamux_output_stream_write_nonblocking (GPollableOutputStream *pollable,
                                          const void            *buffer,
                                          gsize                  count,
                                          GError               **error)
{
  SmYamuxOutputStream *self = SM_YAMUX_OUTPUT_STREAM (pollable);

  if (self->owner == NULL)
    return sm_yamux_stream_set_closed_error (error);
  return sm_yamux_stream_write_nonblocking (self->owner, buffer, count, error);
}

static GSource *
sm_yamux_output_stream_create_source (GPollableOutputStream *pollable, GCancellable *cancellable)
{
  return sm_yamux_stream_source_new (G_OBJECT (pollable), G_IO_OUT, cancellable);
}

static gboolean
sm_yamux_output_stream_can_poll (GPollableOutputStream *pollable)
{
  return TRUE;
}

static void
sm_yamux_output_stream_pollable_iface_init (GPollableOutputStreamInterface *iface)
{
  iface->can_poll = sm_yamux_output_stream_can_poll;
  iface->is_writable = sm_yamux_output_stream_is_writable;
  iface->create_source = sm_yamux_output_stream_create_source;
  iface->write_nonblocking = sm_yamux_output_stream_write_nonblocking;
}

static gssize
sm_yamux_output_stream_write (GOutputStream *stream,
                              const void    *buffer,
                              gsize          count,
                              GCancellable  *cancellable,
                              GError       **error)
{
  SmYamuxOutputStream *self = SM_YAMUX_OUTPUT_STREAM (stream);

  return sm_yamux_stream_write_blocking (G_OBJECT (self), &self->owner, buffer, count, cancellable,
                                         error);
}

static gboolean
sm_yamux_output_stream_close (GOutputStream *stream, GCancellable *cancellable, GError **error)
{
  SmYamuxOutputStream *self = SM_YAMUX_OUTPUT_STREAM (stream);

  if (self->owner != NULL)
    sm_yamux_stream_close_write (self->owner);
  return TRUE;
}

static void
sm_yamux_output_stream_close_async (GOutputStream      *stream,
                                    int                 io_priority,
                                    GCancellable       *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer            user_data)
{
  sm_yamux_output_stream_close (stream, cancellable, NULL);
  sm_yamux_stream_return_closed (stream, sm_yamux_output_stream_close_async, io_priority,
                                 cancellable, callback, user_data);
}

static gboolean
sm_yamux_output_stream_close_finish (GOutputStream *stream, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
sm_yamux_output_stream_class_init (SmYamuxOutputStreamClass *klass)
{
  GOutputStreamClass *output_class = G_OUTPUT_STREAM_CLASS (klass);

  output_class->write_fn = sm_yamux_output_stream_write;
  output_class->close_fn = sm_yamux_output_stream_close;
  output_class->close_async = sm_yamux_output_stream_close_async;
  output_class->close_finish = sm_yamux_output_stream_close_finish;
}

static void
sm_yamux_output_stream_init (SmYamuxOutputStream *self)
{
}

GOutputStream *
sm_yamux_output_stream_new (SmYamuxStream *owner)
{
  SmYamuxOutputStream *self = g_object_new (SM_TYPE_YAMUX_OUTPUT_STREAM, NULL);

  self->owner = owner;
  return G_OUTPUT_STREAM (self);
}

void
sm_yamux_output_stream_detach (SmYamuxOutputStream *self)
{
  self->owner = NULL;
}
