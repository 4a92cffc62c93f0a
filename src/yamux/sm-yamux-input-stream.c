/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-yamux-private.h"

/*
 * The reading half of an SmYamuxStream, a pollable input stream over the
 * stream's receive buffer; the base class does the rest. Blocking reads
 * iterate the session's context.
 */

struct _SmYamuxInputStream
{
  SmPollableInputStream parent_instance;
  SmYamuxStream        *owner; /* not owned; NULL once it is finalized */
};

G_DEFINE_TYPE (SmYamuxInputStream, sm_yamux_input_stream, SM_TYPE_POLLABLE_INPUT_STREAM)

/* Asked by our sources before and after every poll: no checked cast on
 * this path, the sources only ever hold our own streams. */
static gboolean
sm_yamux_input_stream_is_ready (SmPollableInputStream *stream)
{
  SmYamuxStream *owner = ((SmYamuxInputStream *) stream)->owner;

  return owner == NULL || sm_yamux_stream_is_readable (owner);
}

static gssize
sm_yamux_input_stream_read_nonblocking (SmPollableInputStream *stream,
                                        void                  *buffer,
                                        gsize                  count,
                                        GError               **error)
{
  SmYamuxInputStream *self = SM_YAMUX_INPUT_STREAM (stream);

  if (self->owner == NULL)
    return sm_yamux_stream_set_closed_error (error);
  return sm_yamux_stream_read_nonblocking (self->owner, buffer, count, error);
}

/* Only called after a read would block, so the owner is there */
static GMainContext *
sm_yamux_input_stream_get_context (SmPollableInputStream *stream)
{
  return sm_yamux_stream_get_context (SM_YAMUX_INPUT_STREAM (stream)->owner);
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
sm_yamux_input_stream_class_init (SmYamuxInputStreamClass *klass)
{
  G_INPUT_STREAM_CLASS (klass)->close_fn = sm_yamux_input_stream_close;

  klass->parent_class.source_name = "[socketmaster] yamux stream readable";
  klass->parent_class.is_ready = sm_yamux_input_stream_is_ready;
  klass->parent_class.notifies = TRUE;
  klass->parent_class.read_nonblocking = sm_yamux_input_stream_read_nonblocking;
  klass->parent_class.get_context = sm_yamux_input_stream_get_context;
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
