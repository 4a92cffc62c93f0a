/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-yamux-private.h"

/*
 * The reading half of an SmYamuxStream, a GPollableInputStream over the
 * stream's receive buffer. What it shares with the writing half (sources,
 * blocking reads, closing) is in sm-yamux-stream.c.
 */

struct _SmYamuxInputStream
{
  GInputStream   parent_instance;
  SmYamuxStream *owner; /* not owned; NULL once it is finalized */
};

static void sm_yamux_input_stream_pollable_iface_init (GPollableInputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE (SmYamuxInputStream,
                         sm_yamux_input_stream,
                         G_TYPE_INPUT_STREAM,
                         G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                sm_yamux_input_stream_pollable_iface_init))

/* Asked by our sources before and after every poll: no checked cast on
 * this path, the sources only ever hold our own streams. */
gboolean
sm_yamux_input_stream_is_ready (GObject *object)
{
  SmYamuxStream *owner = ((SmYamuxInputStream *) object)->owner;

  return owner == NULL || sm_yamux_stream_is_readable (owner);
}

static gboolean
sm_yamux_input_stream_is_readable (GPollableInputStream *pollable)
{
  return sm_yamux_input_stream_is_ready (G_OBJECT (pollable));
}

static gssize
sm_yamux_input_stream_read_nonblocking (GPollableInputStream *pollable,
                                        void                 *buffer,
                                        gsize                 count,
                                        GError              **error)
{
  SmYamuxInputStream *self = SM_YAMUX_INPUT_STREAM (pollable);

  if (self->owner == NULL)
    return sm_yamux_stream_set_closed_error (error);
  return sm_yamux_stream_read_nonblocking (self->owner, buffer, count, error);
}

static GSource *
sm_yamux_input_stream_create_source (GPollableInputStream *pollable, GCancellable *cancellable)
{
  return sm_yamux_stream_source_new (G_OBJECT (pollable), G_IO_IN, cancellable);
}

static gboolean
sm_yamux_input_stream_can_poll (GPollableInputStream *pollable)
{
  return TRUE;
}

static void
sm_yamux_input_stream_pollable_iface_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = sm_yamux_input_stream_can_poll;
  iface->is_readable = sm_yamux_input_stream_is_readable;
  iface->create_source = sm_yamux_input_stream_create_source;
  iface->read_nonblocking = sm_yamux_input_stream_read_nonblocking;
}

static gssize
sm_yamux_input_stream_read (GInputStream *stream,
                            void         *buffer,
                            gsize         count,
                            GCancellable *cancellable,
                            GError      **error)
{
  SmYamuxInputStream *self = SM_YAMUX_INPUT_STREAM (stream);

  return sm_yamux_stream_read_blocking (G_OBJECT (self), &self->owner, buffer, count, cancellable,
                                        error);
}

static gboolean
sm_yamux_input_stream_close (GInputStream *stream, GCancellable *cancellable, GError **error)
{
  SmYamuxInputStream *self = SM_YAMUX_INPUT_STREAM (stream);

  if (self->owner != NULL)
    sm_yamux_stream_close_read (self->owner);
  return TRUE;
}

static void
sm_yamux_input_stream_close_async (GInputStream       *stream,
                                   int                 io_priority,
                                   GCancellable       *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer            user_data)
{
  sm_yamux_input_stream_close (stream, cancellable, NULL);
  sm_yamux_stream_return_closed (stream, sm_yamux_input_stream_close_async, io_priority,
                                 cancellable, callback, user_data);
}

static gboolean
sm_yamux_input_stream_close_finish (GInputStream *stream, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
sm_yamux_input_stream_class_init (SmYamuxInputStreamClass *klass)
{
  GInputStreamClass *input_class = G_INPUT_STREAM_CLASS (klass);

  input_class->read_fn = sm_yamux_input_stream_read;
  input_class->close_fn = sm_yamux_input_stream_close;
  input_class->close_async = sm_yamux_input_stream_close_async;
  input_class->close_finish = sm_yamux_input_stream_close_finish;
}

static void
sm_yamux_input_stream_init (SmYamuxInputStream *self)
{
}

GInputStream *
sm_yamux_input_stream_new (SmYamuxStream *owner)
{
  SmYamuxInputStream *self = g_object_new (SM_TYPE_YAMUX_INPUT_STREAM, NULL);

  self->owner = owner;
  return G_INPUT_STREAM (self);
}

void
sm_yamux_input_stream_detach (SmYamuxInputStream *self)
{
  self->owner = NULL;
}
