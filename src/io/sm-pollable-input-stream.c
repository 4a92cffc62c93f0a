/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-pollable-source.h"
#include "sm-pollable-stream-private.h"

typedef struct
{
  SmPollableNotify notify;
} SmPollableInputStreamPrivate;

static void sm_pollable_input_stream_pollable_iface_init (GPollableInputStreamInterface *iface);

G_DEFINE_ABSTRACT_TYPE_WITH_CODE (SmPollableInputStream,
                                  sm_pollable_input_stream,
                                  G_TYPE_INPUT_STREAM,
                                  G_ADD_PRIVATE (SmPollableInputStream) G_IMPLEMENT_INTERFACE (
                                      G_TYPE_POLLABLE_INPUT_STREAM,
                                      sm_pollable_input_stream_pollable_iface_init))

/* The interface methods below are called with our own streams only (GIO
 * checks the interface), and this one by our sources before and after
 * every poll: no checked casts. */
static gboolean
input_stream_is_ready (GObject *object)
{
  SmPollableInputStream *self = (SmPollableInputStream *) object;

  return SM_POLLABLE_INPUT_STREAM_GET_CLASS (self)->is_ready (self);
}

static gboolean
sm_pollable_input_stream_can_poll (GPollableInputStream *pollable)
{
  SmPollableInputStream      *self = (SmPollableInputStream *) pollable;
  SmPollableInputStreamClass *klass = SM_POLLABLE_INPUT_STREAM_GET_CLASS (self);

  return klass->can_poll == NULL || klass->can_poll (self);
}

static gboolean
sm_pollable_input_stream_is_readable (GPollableInputStream *pollable)
{
  return input_stream_is_ready (G_OBJECT (pollable));
}

static GSource *
sm_pollable_input_stream_create_source (GPollableInputStream *pollable, GCancellable *cancellable)
{
  SmPollableInputStream *self = (SmPollableInputStream *) pollable;

  return SM_POLLABLE_INPUT_STREAM_GET_CLASS (self)->create_source (self, cancellable);
}

static gssize
sm_pollable_input_stream_read_nonblocking (GPollableInputStream *pollable,
                                           void                 *buffer,
                                           gsize                 count,
                                           GError              **error)
{
  SmPollableInputStream *self = (SmPollableInputStream *) pollable;

  return SM_POLLABLE_INPUT_STREAM_GET_CLASS (self)->read_nonblocking (self, buffer, count, error);
}

static void
sm_pollable_input_stream_pollable_iface_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = sm_pollable_input_stream_can_poll;
  iface->is_readable = sm_pollable_input_stream_is_readable;
  iface->create_source = sm_pollable_input_stream_create_source;
  iface->read_nonblocking = sm_pollable_input_stream_read_nonblocking;
}

static GSource *
sm_pollable_input_stream_real_create_source (SmPollableInputStream *self, GCancellable *cancellable)
{
  const char *name = SM_POLLABLE_INPUT_STREAM_GET_CLASS (self)->source_name;
  GSource    *source;

  source =
      sm_pollable_source_new (G_OBJECT (self), input_stream_is_ready, G_OBJECT (self), cancellable);
  if (name != NULL)
    g_source_set_static_name (source, name);
  return source;
}

static GMainContext *
sm_pollable_input_stream_real_get_context (SmPollableInputStream *self)
{
  return g_main_context_get_thread_default ();
}

static gssize
sm_pollable_input_stream_read (GInputStream *stream,
                               void         *buffer,
                               gsize         count,
                               GCancellable *cancellable,
                               GError      **error)
{
  return sm_pollable_stream_io_blocking (G_OBJECT (stream), G_IO_IN, buffer, count, cancellable,
                                         error);
}

static void
sm_pollable_input_stream_close_async (GInputStream       *stream,
                                      int                 io_priority,
                                      GCancellable       *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer            user_data)
{
  sm_pollable_stream_close_async (G_OBJECT (stream), G_IO_IN, io_priority, cancellable, callback,
                                  user_data);
}

static gboolean
sm_pollable_input_stream_close_finish (GInputStream *stream, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
sm_pollable_input_stream_class_init (SmPollableInputStreamClass *klass)
{
  klass->create_source = sm_pollable_input_stream_real_create_source;
  klass->get_context = sm_pollable_input_stream_real_get_context;

  klass->parent_class.read_fn = sm_pollable_input_stream_read;
  /* GIO's own would call close_fn in a worker thread */
  klass->parent_class.close_async = sm_pollable_input_stream_close_async;
  klass->parent_class.close_finish = sm_pollable_input_stream_close_finish;
}

static void
sm_pollable_input_stream_init (SmPollableInputStream *self)
{
}

void
sm_pollable_input_stream_set_notify (SmPollableInputStream *self,
                                     void (*func) (gpointer user_data),
                                     gpointer user_data)
{
  SmPollableInputStreamPrivate *priv = sm_pollable_input_stream_get_instance_private (self);

  g_return_if_fail (SM_IS_POLLABLE_INPUT_STREAM (self));
  g_return_if_fail (func == NULL || SM_POLLABLE_INPUT_STREAM_GET_CLASS (self)->notifies);

  sm_pollable_notify_set (&priv->notify, func, user_data);
}

void
sm_pollable_input_stream_notify (SmPollableInputStream *self)
{
  SmPollableInputStreamPrivate *priv = sm_pollable_input_stream_get_instance_private (self);

  sm_pollable_notify_emit (&priv->notify);
}
