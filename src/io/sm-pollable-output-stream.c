/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-pollable-source.h"
#include "sm-pollable-stream-private.h"

typedef struct
{
  SmPollableNotify notify;
} SmPollableOutputStreamPrivate;

static void sm_pollable_output_stream_pollable_iface_init (GPollableOutputStreamInterface *iface);

G_DEFINE_ABSTRACT_TYPE_WITH_CODE (SmPollableOutputStream,
                                  sm_pollable_output_stream,
                                  G_TYPE_OUTPUT_STREAM,
                                  G_ADD_PRIVATE (SmPollableOutputStream) G_IMPLEMENT_INTERFACE (
                                      G_TYPE_POLLABLE_OUTPUT_STREAM,
                                      sm_pollable_output_stream_pollable_iface_init))

/* The interface methods below are called with our own streams only (GIO
 * checks the interface), and this one by our sources before and after
 * every poll: no checked casts. */
static gboolean
output_stream_is_ready (GObject *object)
{
  SmPollableOutputStream *self = (SmPollableOutputStream *) object;

  return SM_POLLABLE_OUTPUT_STREAM_GET_CLASS (self)->is_ready (self);
}

static gboolean
sm_pollable_output_stream_can_poll (GPollableOutputStream *pollable)
{
  SmPollableOutputStream      *self = (SmPollableOutputStream *) pollable;
  SmPollableOutputStreamClass *klass = SM_POLLABLE_OUTPUT_STREAM_GET_CLASS (self);

  return klass->can_poll == NULL || klass->can_poll (self);
}

static gboolean
sm_pollable_output_stream_is_writable (GPollableOutputStream *pollable)
{
  return output_stream_is_ready (G_OBJECT (pollable));
}

static GSource *
sm_pollable_output_stream_create_source (GPollableOutputStream *pollable, GCancellable *cancellable)
{
  SmPollableOutputStream *self = (SmPollableOutputStream *) pollable;

  return SM_POLLABLE_OUTPUT_STREAM_GET_CLASS (self)->create_source (self, cancellable);
}

static gssize
sm_pollable_output_stream_write_nonblocking (GPollableOutputStream *pollable,
                                             const void            *buffer,
                                             gsize                  count,
                                             GError               **error)
{
  SmPollableOutputStream *self = (SmPollableOutputStream *) pollable;

  return SM_POLLABLE_OUTPUT_STREAM_GET_CLASS (self)->write_nonblocking (self, buffer, count, error);
}

static void
sm_pollable_output_stream_pollable_iface_init (GPollableOutputStreamInterface *iface)
{
  iface->can_poll = sm_pollable_output_stream_can_poll;
  iface->is_writable = sm_pollable_output_stream_is_writable;
  iface->create_source = sm_pollable_output_stream_create_source;
  iface->write_nonblocking = sm_pollable_output_stream_write_nonblocking;
}

static GSource *
sm_pollable_output_stream_real_create_source (SmPollableOutputStream *self,
                                              GCancellable           *cancellable)
{
  const char *name = SM_POLLABLE_OUTPUT_STREAM_GET_CLASS (self)->source_name;
  GSource    *source;

  source = sm_pollable_source_new (G_OBJECT (self), output_stream_is_ready, G_OBJECT (self),
                                   cancellable);
  if (name != NULL)
    g_source_set_static_name (source, name);
  return source;
}

static GMainContext *
sm_pollable_output_stream_real_get_context (SmPollableOutputStream *self)
{
  return g_main_context_get_thread_default ();
}

static gssize
sm_pollable_output_stream_write (GOutputStream *stream,
                                 const void    *buffer,
                                 gsize          count,
                                 GCancellable  *cancellable,
                                 GError       **error)
{
  /* The buffer is only read: the cast serves the shared signature. */
  return sm_pollable_stream_io_blocking (G_OBJECT (stream), G_IO_OUT, (void *) buffer, count,
                                         cancellable, error);
}

static void
sm_pollable_output_stream_close_async (GOutputStream      *stream,
                                       int                 io_priority,
                                       GCancellable       *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer            user_data)
{
  sm_pollable_stream_close_async (G_OBJECT (stream), G_IO_OUT, io_priority, cancellable, callback,
                                  user_data);
}

static gboolean
sm_pollable_output_stream_close_finish (GOutputStream *stream, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
sm_pollable_output_stream_class_init (SmPollableOutputStreamClass *klass)
{
  klass->create_source = sm_pollable_output_stream_real_create_source;
  klass->get_context = sm_pollable_output_stream_real_get_context;

  klass->parent_class.write_fn = sm_pollable_output_stream_write;
  /* GIO's own would call close_fn in a worker thread */
  klass->parent_class.close_async = sm_pollable_output_stream_close_async;
  klass->parent_class.close_finish = sm_pollable_output_stream_close_finish;
}

static void
sm_pollable_output_stream_init (SmPollableOutputStream *self)
{
}

void
sm_pollable_output_stream_set_notify (SmPollableOutputStream *self,
                                      void (*func) (gpointer user_data),
                                      gpointer user_data)
{
  SmPollableOutputStreamPrivate *priv = sm_pollable_output_stream_get_instance_private (self);

  g_return_if_fail (SM_IS_POLLABLE_OUTPUT_STREAM (self));
  g_return_if_fail (func == NULL || SM_POLLABLE_OUTPUT_STREAM_GET_CLASS (self)->notifies);

  sm_pollable_notify_set (&priv->notify, func, user_data);
}

void
sm_pollable_output_stream_notify (SmPollableOutputStream *self)
{
  SmPollableOutputStreamPrivate *priv = sm_pollable_output_stream_get_instance_private (self);

  sm_pollable_notify_emit (&priv->notify);
}
