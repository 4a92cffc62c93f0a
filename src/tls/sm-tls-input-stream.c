/* SPDX-License-Identifier: MIT */
#include "sm-tls-private.h"

/* The reading half of an SmTlsStream; all the work is done there. */
struct _SmTlsInputStream
{
  GInputStream parent_instance;

  GWeakRef     tls; /* the TLS stream owns us */
};

static void sm_tls_input_stream_pollable_init (GPollableInputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE (SmTlsInputStream,
                         sm_tls_input_stream,
                         G_TYPE_INPUT_STREAM,
                         G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                sm_tls_input_stream_pollable_init))

static gssize
sm_tls_input_stream_read (GInputStream *stream,
                          void         *buffer,
                          gsize         count,
                          GCancellable *cancellable,
                          GError      **error)
{
  return sm_tls_stream_read (&SM_TLS_INPUT_STREAM (stream)->tls, stream, buffer, count, TRUE,
                             cancellable, error);
}

static gssize
sm_tls_input_stream_read_nonblocking (GPollableInputStream *stream,
                                      void                 *buffer,
                                      gsize                 count,
                                      GError              **error)
{
  return sm_tls_stream_read (&SM_TLS_INPUT_STREAM (stream)->tls, G_INPUT_STREAM (stream), buffer,
                             count, FALSE, NULL, error);
}

static gboolean
sm_tls_input_stream_can_poll (GPollableInputStream *stream)
{
  return sm_tls_stream_can_poll (&SM_TLS_INPUT_STREAM (stream)->tls);
}

static gboolean
sm_tls_input_stream_is_readable (GPollableInputStream *stream)
{
  return sm_tls_stream_is_ready (&SM_TLS_INPUT_STREAM (stream)->tls, G_IO_IN);
}

static GSource *
sm_tls_input_stream_create_source (GPollableInputStream *stream, GCancellable *cancellable)
{
  return sm_tls_stream_create_source (&SM_TLS_INPUT_STREAM (stream)->tls, G_OBJECT (stream),
                                      G_IO_IN, cancellable);
}

/* Nothing to release: the TLS stream closes the transport */
static gboolean
sm_tls_input_stream_close (GInputStream *stream, GCancellable *cancellable, GError **error)
{
  return TRUE;
}

/* GInputStream would close in a thread otherwise */
static void
sm_tls_input_stream_close_async (GInputStream       *stream,
                                 int                 io_priority,
                                 GCancellable       *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer            user_data)
{
  g_autoptr (GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, sm_tls_input_stream_close_async);
  g_task_return_boolean (task, TRUE);
}

static gboolean
sm_tls_input_stream_close_finish (GInputStream *stream, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
sm_tls_input_stream_finalize (GObject *object)
{
  g_weak_ref_clear (&SM_TLS_INPUT_STREAM (object)->tls);

  G_OBJECT_CLASS (sm_tls_input_stream_parent_class)->finalize (object);
}

static void
sm_tls_input_stream_class_init (SmTlsInputStreamClass *klass)
{
  GObjectClass      *object_class = G_OBJECT_CLASS (klass);
  GInputStreamClass *input_class = G_INPUT_STREAM_CLASS (klass);

  object_class->finalize = sm_tls_input_stream_finalize;

  input_class->read_fn = sm_tls_input_stream_read;
  input_class->close_fn = sm_tls_input_stream_close;
  input_class->close_async = sm_tls_input_stream_close_async;
  input_class->close_finish = sm_tls_input_stream_close_finish;
}

static void
sm_tls_input_stream_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = sm_tls_input_stream_can_poll;
  iface->is_readable = sm_tls_input_stream_is_readable;
  iface->create_source = sm_tls_input_stream_create_source;
  iface->read_nonblocking = sm_tls_input_stream_read_nonblocking;
}

static void
sm_tls_input_stream_init (SmTlsInputStream *self)
{
  g_weak_ref_init (&self->tls, NULL);
}

GInputStream *
sm_tls_input_stream_new (SmTlsStream *tls)
{
  SmTlsInputStream *self = g_object_new (SM_TYPE_TLS_INPUT_STREAM, NULL);

  g_weak_ref_set (&self->tls, tls);
  return G_INPUT_STREAM (self);
}
