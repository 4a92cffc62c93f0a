/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-yamux-private.h"

/*
 * The writing half of an SmYamuxStream, a pollable output stream that
 * sends DATA frames within the peer's window; closing it sends FIN. The
 * base class does the rest. Blocking writes iterate the session's
 * context.
 */

struct _SmYamuxOutputStream
{
  SmPollableOutputStream parent_instance;
  SmYamuxStream         *owner; /* not owned; NULL once it is finalized */
};

G_DEFINE_TYPE (SmYamuxOutputStream, sm_yamux_output_stream, SM_TYPE_POLLABLE_OUTPUT_STREAM)

/* Asked by our sources before and after every poll: no checked cast on
 * this path, the sources only ever hold our own streams. */
static gboolean
sm_yamux_output_stream_is_ready (SmPollableOutputStream *stream)
{
  SmYamuxStream *owner = ((SmYamuxOutputStream *) stream)->owner;

  return owner == NULL || sm_yamux_stream_is_writable (owner);
}

static gssize
sm_yamux_output_stream_write_nonblocking (SmPollableOutputStream *stream,
                                          const void             *buffer,
                                          gsize                   count,
                                          GError                **error)
{
  SmYamuxOutputStream *self = SM_YAMUX_OUTPUT_STREAM (stream);

  if (self->owner == NULL)
    return sm_yamux_stream_set_closed_error (error);
  return sm_yamux_stream_write_nonblocking (self->owner, buffer, count, error);
}

/* Only called after a write would block, so the owner is there */
static GMainContext *
sm_yamux_output_stream_get_context (SmPollableOutputStream *stream)
{
  return sm_yamux_stream_get_context (SM_YAMUX_OUTPUT_STREAM (stream)->owner);
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
sm_yamux_output_stream_class_init (SmYamuxOutputStreamClass *klass)
{
  G_OUTPUT_STREAM_CLASS (klass)->close_fn = sm_yamux_output_stream_close;

  klass->parent_class.source_name = "[socketmaster] yamux stream writable";
  klass->parent_class.is_ready = sm_yamux_output_stream_is_ready;
  klass->parent_class.notifies = TRUE;
  klass->parent_class.write_nonblocking = sm_yamux_output_stream_write_nonblocking;
  klass->parent_class.get_context = sm_yamux_output_stream_get_context;
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
