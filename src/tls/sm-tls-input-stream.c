/* SPDX-License-Identifier: MIT */
#include "sm-tls-private.h"

/* The reading half of an SmTlsStream; all the work is done there. */
struct _SmTlsInputStream
{
  SmPollableInputStream parent_instance;

  GWeakRef              tls; /* the TLS stream owns us */
};

G_DEFINE_TYPE (SmTlsInputStream, sm_tls_input_stream, SM_TYPE_POLLABLE_INPUT_STREAM)

/* GnuTLS blocks by itself, on a blocking transport: no main context */
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
sm_tls_input_stream_read_nonblocking (SmPollableInputStream *stream,
                                      void                  *buffer,
                                      gsize                  count,
                                      GError               **error)
{
  return sm_tls_stream_read (&SM_TLS_INPUT_STREAM (stream)->tls, G_INPUT_STREAM (stream), buffer,
                             count, FALSE, NULL, error);
}

static gboolean
sm_tls_input_stream_can_poll (SmPollableInputStream *stream)
{
  return sm_tls_stream_can_poll (&SM_TLS_INPUT_STREAM (stream)->tls);
}

static gboolean
sm_tls_input_stream_is_ready (SmPollableInputStream *stream)
{
  return sm_tls_stream_is_ready (&SM_TLS_INPUT_STREAM (stream)->tls, G_IO_IN);
}

static GObject *
sm_tls_input_stream_get_poll_base (SmPollableInputStream *stream, gboolean *ready)
{
  return sm_tls_stream_get_poll_base (&SM_TLS_INPUT_STREAM (stream)->tls, G_IO_IN, ready);
}

static GSource *
sm_tls_input_stream_create_source (SmPollableInputStream *stream, GCancellable *cancellable)
{
  return sm_tls_stream_create_source (&SM_TLS_INPUT_STREAM (stream)->tls, G_OBJECT (stream),
                                      G_IO_IN, cancellable);
}

static void
sm_tls_input_stream_finalize (GObject *object)
{
  g_weak_ref_clear (&SM_TLS_INPUT_STREAM (object)->tls);

  G_OBJECT_CLASS (sm_tls_input_stream_parent_class)->finalize (object);
}

/* No close_fn: there is nothing to release, the TLS stream closes the
 * transport */
static void
sm_tls_input_stream_class_init (SmTlsInputStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sm_tls_input_stream_finalize;
  G_INPUT_STREAM_CLASS (klass)->read_fn = sm_tls_input_stream_read;

  klass->parent_class.is_ready = sm_tls_input_stream_is_ready;
  klass->parent_class.read_nonblocking = sm_tls_input_stream_read_nonblocking;
  klass->parent_class.create_source = sm_tls_input_stream_create_source;
  klass->parent_class.get_poll_base = sm_tls_input_stream_get_poll_base;
  klass->parent_class.can_poll = sm_tls_input_stream_can_poll;
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
