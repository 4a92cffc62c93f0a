/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-pollable-source.h"
#include "sm-yamux-private.h"

/*
 * The pollable input and output halves of an SmYamuxStream.
 *
 * Their sources (sm-pollable-source.c) are level-triggered: prepare and
 * check ask the stream whether it is ready (data, window, EOF, error and closed all count, so
 * waiters wake up and see them). Everything that changes a stream runs as
 * a dispatch in the same main context, so the next prepare sees the change
 * and no explicit wake-up is needed; when nothing is ready the source asks
 * for no timeout and the loop sleeps.
 *
 * GIO's async defaults (read_async, write_async, splice_async) use this
 * pollable interface directly. close_async is overridden because GIO's
 * default would call close_fn from a worker thread.
 */

struct _SmYamuxInputStream
{
  GInputStream   parent_instance;
  SmYamuxStream *owner; /* not owned; NULL once it is finalized */
};

struct _SmYamuxOutputStream
{
  GOutputStream  parent_instance;
  SmYamuxStream *owner;
};

static void sm_yamux_input_stream_pollable_iface_init (GPollableInputStreamInterface *iface);
static void sm_yamux_output_stream_pollable_iface_init (GPollableOutputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE (SmYamuxInputStream,
                         sm_yamux_input_stream,
                         G_TYPE_INPUT_STREAM,
                         G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                sm_yamux_input_stream_pollable_iface_init))

G_DEFINE_TYPE_WITH_CODE (SmYamuxOutputStream,
                         sm_yamux_output_stream,
                         G_TYPE_OUTPUT_STREAM,
                         G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                sm_yamux_output_stream_pollable_iface_init))

/* Readiness, asked by the sources of sm-pollable-source.c before and after
 * every poll: no checked casts on this path, the sources only ever hold our
 * own streams. */

static gboolean
input_is_ready (GObject *object)
{
  SmYamuxStream *owner = ((SmYamuxInputStream *) object)->owner;

  return owner == NULL || sm_yamux_stream_is_readable (owner);
}

static gboolean
output_is_ready (GObject *object)
{
  SmYamuxStream *owner = ((SmYamuxOutputStream *) object)->owner;

  return owner == NULL || sm_yamux_stream_is_writable (owner);
}

static GSource *
stream_source_new (GObject *stream, SmPollableReadyFunc is_ready, GCancellable *cancellable)
{
  GSource *source = sm_pollable_source_new (stream, is_ready, stream, cancellable);

  g_source_set_static_name (source, is_ready == input_is_ready
                                        ? "[socketmaster] yamux stream readable"
                                        : "[socketmaster] yamux stream writable");
  return source;
}

static gboolean
on_wait_ready (GObject *stream, gpointer user_data)
{
  gboolean *ready = user_data;

  *ready = TRUE;
  return G_SOURCE_CONTINUE;
}

/* Blocking I/O: iterates the session's context until @stream is ready. */
static gboolean
stream_wait (GObject            *stream,
             SmPollableReadyFunc is_ready,
             GMainContext       *context,
             GCancellable       *cancellable,
             GError            **error)
{
  gboolean ready = FALSE;
  GSource *source;

  if (!g_main_context_acquire (context))
    {
      g_set_error_literal (
          error, G_IO_ERROR, G_IO_ERROR_FAILED,
          "Blocking I/O on a yamux stream is only possible in the thread of its session");
      return FALSE;
    }

  source = stream_source_new (stream, is_ready, cancellable);
  g_source_set_callback (source, G_SOURCE_FUNC (on_wait_ready), &ready, NULL);
  g_source_attach (source, context);
  while (!ready)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (source);
  g_source_unref (source);
  g_main_context_release (context);

  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

static gssize
stream_set_closed_error (GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "Stream is already closed");
  return -1;
}

typedef gssize (*StreamIoFunc) (SmYamuxStream *owner, void *buffer, gsize count, GError **error);

static gssize
owner_write_nonblocking (SmYamuxStream *owner, void *buffer, gsize count, GError **error)
{
  return sm_yamux_stream_write_nonblocking (owner, buffer, count, error);
}

/* The blocking read_fn and write_fn: @io until it does not block. @owner
 * points at the stream's owner field, which a nested iteration may clear. */
static gssize
stream_io_blocking (GObject              *stream,
                    SmYamuxStream *const *owner,
                    StreamIoFunc          io,
                    SmPollableReadyFunc   is_ready,
                    void                 *buffer,
                    gsize                 count,
                    GCancellable         *cancellable,
                    GError              **error)
{
  for (;;)
    {
      GError *local_error = NULL;
      gssize  n;

      if (*owner == NULL)
        return stream_set_closed_error (error);

      n = io (*owner, buffer, count, &local_error);
      if (n >= 0 || !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (local_error != NULL)
            g_propagate_error (error, local_error);
          return n;
        }
      g_error_free (local_error);

      if (!stream_wait (stream, is_ready, sm_yamux_stream_get_context (*owner), cancellable, error))
        return -1;
    }
}

/* Closing never blocks nor fails, so the async variants complete in the
 * calling thread. */
static void
stream_return_closed (gpointer            stream,
                      gpointer            source_tag,
                      int                 io_priority,
                      GCancellable       *cancellable,
                      GAsyncReadyCallback callback,
                      gpointer            user_data)
{
  g_autoptr (GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_set_priority (task, io_priority);
  g_task_return_boolean (task, TRUE);
}

/* Input */

static gboolean
sm_yamux_input_stream_is_readable (GPollableInputStream *pollable)
{
  return input_is_ready (G_OBJECT (pollable));
}

static gssize
sm_yamux_input_stream_read_nonblocking (GPollableInputStream *pollable,
                                        void                 *buffer,
                                        gsize                 count,
                                        GError              **error)
{
  SmYamuxInputStream *self = SM_YAMUX_INPUT_STREAM (pollable);

  if (self->owner == NULL)
    return stream_set_closed_error (error);
  return sm_yamux_stream_read_nonblocking (self->owner, buffer, count, error);
}

static GSource *
sm_yamux_input_stream_create_source (GPollableInputStream *pollable, GCancellable *cancellable)
{
  return stream_source_new (G_OBJECT (pollable), input_is_ready, cancellable);
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

  return stream_io_blocking (G_OBJECT (self), &self->owner, sm_yamux_stream_read_nonblocking,
                             input_is_ready, buffer, count, cancellable, error);
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
  stream_return_closed (stream, sm_yamux_input_stream_close_async, io_priority, cancellable,
                        callback, user_data);
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

/* Output */

static gboolean
sm_yamux_output_stream_is_writable (GPollableOutputStream *pollable)
{
  return output_is_ready (G_OBJECT (pollable));
}

static gssize
sm_yamux_output_stream_write_nonblocking (GPollableOutputStream *pollable,
                                          const void            *buffer,
                                          gsize                  count,
                                          GError               **error)
{
  SmYamuxOutputStream *self = SM_YAMUX_OUTPUT_STREAM (pollable);

  if (self->owner == NULL)
    return stream_set_closed_error (error);
  return sm_yamux_stream_write_nonblocking (self->owner, buffer, count, error);
}

static GSource *
sm_yamux_output_stream_create_source (GPollableOutputStream *pollable, GCancellable *cancellable)
{
  return stream_source_new (G_OBJECT (pollable), output_is_ready, cancellable);
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

  /* The buffer is only read: the cast serves the shared signature. */
  return stream_io_blocking (G_OBJECT (self), &self->owner, owner_write_nonblocking,
                             output_is_ready, (void *) buffer, count, cancellable, error);
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
  stream_return_closed (stream, sm_yamux_output_stream_close_async, io_priority, cancellable,
                        callback, user_data);
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
