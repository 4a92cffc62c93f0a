/* SPDX-License-Identifier: MIT */
#include "sm-tls-private.h"

/* The writing half of an SmTlsStream; all the work is done there. */
struct _SmTlsOutputStream
{
  SmPollableOutputStream parent_instance;

  GWeakRef               tls; /* the TLS stream owns us */
};

static void sm_tls_output_stream_pollable_init (GPollableOutputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE (SmTlsOutputStream,
                         sm_tls_output_stream,
                         SM_TYPE_POLLABLE_OUTPUT_STREAM,
                         G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                sm_tls_output_stream_pollable_init))

/* GnuTLS blocks by itself, on a blocking transport: no main context */
static gssize
sm_tls_output_stream_write (GOutputStream *stream,
                            const void    *buffer,
                            gsize          count,
                            GCancellable  *cancellable,
                            GError       **error)
{
  return sm_tls_stream_write (&SM_TLS_OUTPUT_STREAM (stream)->tls, buffer, count, TRUE, cancellable,
                              error);
}

static gssize
sm_tls_output_stream_write_nonblocking (SmPollableOutputStream *stream,
                                        const void             *buffer,
                                        gsize                   count,
                                        GError                **error)
{
  return sm_tls_stream_write (&SM_TLS_OUTPUT_STREAM (stream)->tls, buffer, count, FALSE, NULL,
                              error);
}

static GPollableReturn
sm_tls_output_stream_writev_nonblocking (GPollableOutputStream *pollable,
                                         const GOutputVector   *vectors,
                                         gsize                  n_vectors,
                                         gsize                 *bytes_written,
                                         GError               **error)
{
  return sm_tls_stream_writev_nonblocking (&SM_TLS_OUTPUT_STREAM (pollable)->tls, vectors,
                                           n_vectors, bytes_written, error);
}

/* The rest of the interface is SmPollableOutputStream's: the vtable
 * starts as a copy of the parent's */
static void
sm_tls_output_stream_pollable_init (GPollableOutputStreamInterface *iface)
{
  iface->writev_nonblocking = sm_tls_output_stream_writev_nonblocking;
}

static gboolean
sm_tls_output_stream_can_poll (SmPollableOutputStream *stream)
{
  return sm_tls_stream_can_poll (&SM_TLS_OUTPUT_STREAM (stream)->tls);
}

static gboolean
sm_tls_output_stream_is_ready (SmPollableOutputStream *stream)
{
  return sm_tls_stream_is_ready (&SM_TLS_OUTPUT_STREAM (stream)->tls, G_IO_OUT);
}

static GObject *
sm_tls_output_stream_get_poll_base (SmPollableOutputStream *stream, gboolean *ready)
{
  return sm_tls_stream_get_poll_base (&SM_TLS_OUTPUT_STREAM (stream)->tls, G_IO_OUT, ready);
}

static GSource *
sm_tls_output_stream_create_source (SmPollableOutputStream *stream, GCancellable *cancellable)
{
  return sm_tls_stream_create_source (&SM_TLS_OUTPUT_STREAM (stream)->tls, G_OBJECT (stream),
                                      G_IO_OUT, cancellable);
}

/* Starts close_notify and the half-close, and returns: see sm-tls-stream.h */
static gboolean
sm_tls_output_stream_close (GOutputStream *stream, GCancellable *cancellable, GError **error)
{
  return sm_tls_stream_close_output (&SM_TLS_OUTPUT_STREAM (stream)->tls, error);
}

/* Unlike the base class's, completes once the half-close is done */
static void
sm_tls_output_stream_close_async (GOutputStream      *stream,
                                  int                 io_priority,
                                  GCancellable       *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer            user_data)
{
  GTask *task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, sm_tls_output_stream_close_async);
  g_task_set_check_cancellable (task, FALSE);
  g_task_set_priority (task, io_priority);
  sm_tls_stream_close_output_async (&SM_TLS_OUTPUT_STREAM (stream)->tls, task);
}

static void
sm_tls_output_stream_finalize (GObject *object)
{
  g_weak_ref_clear (&SM_TLS_OUTPUT_STREAM (object)->tls);

  G_OBJECT_CLASS (sm_tls_output_stream_parent_class)->finalize (object);
}

static void
sm_tls_output_stream_class_init (SmTlsOutputStreamClass *klass)
{
  GOutputStreamClass *output_class = G_OUTPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = sm_tls_output_stream_finalize;

  output_class->write_fn = sm_tls_output_stream_write;
  output_class->close_fn = sm_tls_output_stream_close;
  output_class->close_async = sm_tls_output_stream_close_async;

  klass->parent_class.is_ready = sm_tls_output_stream_is_ready;
  klass->parent_class.write_nonblocking = sm_tls_output_stream_write_nonblocking;
  klass->parent_class.create_source = sm_tls_output_stream_create_source;
  klass->parent_class.get_poll_base = sm_tls_output_stream_get_poll_base;
  klass->parent_class.can_poll = sm_tls_output_stream_can_poll;
}

static void
sm_tls_output_stream_init (SmTlsOutputStream *self)
{
  g_weak_ref_init (&self->tls, NULL);
}

GOutputStream *
sm_tls_output_stream_new (SmTlsStream *tls)
{
  SmTlsOutputStream *self = g_object_new (SM_TYPE_TLS_OUTPUT_STREAM, NULL);

  g_weak_ref_set (&self->tls, tls);
  return G_OUTPUT_STREAM (self);
}
