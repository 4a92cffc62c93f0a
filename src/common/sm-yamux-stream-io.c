/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-yamux-private.h"

/*
 * The pollable input and output halves of an SmYamuxStream, and the
 * GSource that reports their readiness.
 *
 * The source is level-triggered: its prepare and check ask the stream
 * whether it is ready (data, window, EOF, error and closed all count, so
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
  SmYamuxStream *owner;           /* not owned; NULL once it is finalized */
};

struct _SmYamuxOutputStream
{
  GOutputStream  parent_instance;
  SmYamuxStream *owner;
};

static void sm_yamux_input_stream_pollable_iface_init  (GPollableInputStreamInterface  *iface);
static void sm_yamux_output_stream_pollable_iface_init (GPollableOutputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE (SmYamuxInputStream, sm_yamux_input_stream, G_TYPE_INPUT_STREAM,
                         G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                sm_yamux_input_stream_pollable_iface_init))

G_DEFINE_TYPE_WITH_CODE (SmYamuxOutputStream, sm_yamux_output_stream, G_TYPE_OUTPUT_STREAM,
                         G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                sm_yamux_output_stream_pollable_iface_init))

/* Readiness source */

typedef struct {
  GSource  source;
  GObject *stream;     /* an SmYamuxInputStream or SmYamuxOutputStream, owned */
  gboolean is_input;
} SmYamuxStreamSource;

static gboolean sm_yamux_input_stream_is_readable  (GPollableInputStream  *pollable);
static gboolean sm_yamux_output_stream_is_writable (GPollableOutputStream *pollable);

static gboolean
stream_source_is_ready (SmYamuxStreamSource *self)
{
  if (self->is_input)
    return sm_yamux_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (self->stream));
  return sm_yamux_output_stream_is_writable (G_POLLABLE_OUTPUT_STREAM (self->stream));
}

static gboolean
stream_source_prepare (GSource *source,
                       gint    *timeout)
{
  *timeout = -1;
  return stream_source_is_ready ((SmYamuxStreamSource *) source);
}

static gboolean
stream_source_check (GSource *source)
{
  return stream_source_is_ready ((SmYamuxStreamSource *) source);
}

static gboolean
stream_source_dispatch (GSource     *source,
                        GSourceFunc  callback,
                        gpointer     user_data)
{
  SmYamuxStreamSource *self = (SmYamuxStreamSource *) source;
  GPollableSourceFunc func = (GPollableSourceFunc) (void (*) (void)) callback;

  if (func == NULL)
    {
      g_warning ("yamux stream source dispatched without a callback");
      return G_SOURCE_REMOVE;
    }
  return func (self->stream, user_data);
}

static void
stream_source_finalize (GSource *source)
{
  SmYamuxStreamSource *self = (SmYamuxStreamSource *) source;

  g_clear_object (&self->stream);
}

/* Needed by g_source_set_closure() and g_source_set_dummy_callback(),
 * which libsoup calls on the sources of the streams it reads */
static gboolean
stream_source_closure_callback (GObject  *stream,
                                gpointer  data)
{
  GClosure *closure = data;
  GValue param = G_VALUE_INIT;
  GValue result_value = G_VALUE_INIT;
  gboolean result;

  g_value_init (&result_value, G_TYPE_BOOLEAN);
  g_value_init (&param, G_TYPE_OBJECT);
  g_value_set_object (&param, stream);
  g_closure_invoke (closure, &result_value, 1, &param, NULL);
  result = g_value_get_boolean (&result_value);
  g_value_unset (&result_value);
  g_value_unset (&param);
  return result;
}

static GSourceFuncs stream_source_funcs = {
  .prepare = stream_source_prepare,
  .check = stream_source_check,
  .dispatch = stream_source_dispatch,
  .finalize = stream_source_finalize,
  .closure_callback = (GSourceFunc) (void *) stream_source_closure_callback,
};

static GSource *
stream_source_new (GObject      *stream,
                   GCancellable *cancellable)
{
  GSource *source = g_source_new (&stream_source_funcs, sizeof (SmYamuxStreamSource));
  SmYamuxStreamSource *self = (SmYamuxStreamSource *) source;

  self->stream = g_object_ref (stream);
  self->is_input = SM_IS_YAMUX_INPUT_STREAM (stream);
  g_source_set_static_name (source, self->is_input ? "[socketmaster] yamux stream readable"
                                                   : "[socketmaster] yamux stream writable");

  /* As g_pollable_source_new_full(): a cancelled cancellable makes the
   * child ready, which dispatches the parent. */
  if (cancellable != NULL)
    {
      GSource *cancellable_source = g_cancellable_source_new (cancellable);

      g_source_set_dummy_callback (cancellable_source);
      g_source_add_child_source (source, cancellable_source);
      g_source_unref (cancellable_source);
    }

  return source;
}

static gboolean
on_wait_ready (GObject  *stream,
               gpointer  user_data)
{
  gboolean *ready = user_data;

  *ready = TRUE;
  return G_SOURCE_CONTINUE;
}

/* Blocking I/O: iterates the session's context until @stream is ready. */
static gboolean
stream_wait (GObject       *stream,
             GMainContext  *context,
             GCancellable  *cancellable,
             GError       **error)
{
  gboolean ready = FALSE;
  GSource *source;

  if (!g_main_context_acquire (context))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           "Blocking I/O on a yamux stream is only possible in the thread of its session");
      return FALSE;
    }

  source = stream_source_new (stream, cancellable);
  g_source_set_callback (source, G_SOURCE_FUNC (on_wait_ready), &ready, NULL);
  g_source_attach (source, context);
  while (!ready)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (source);
  g_source_unref (source);
  g_main_context_release (context);

  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

/* Closing never blocks nor fails, so the async variants complete in the
 * calling thread. */
static void
stream_return_closed (gpointer             stream,
                      gpointer             source_tag,
                      int                  io_priority,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_set_priority (task, io_priority);
  g_task_return_boolean (task, TRUE);
}

/* Input */

static gboolean
sm_yamux_input_stream_is_readable (GPollableInputStream *pollable)
{
  SmYamuxInputStream *self = SM_YAMUX_INPUT_STREAM (pollable);

  return self->owner == NULL || sm_yamux_stream_is_readable (self->owner);
}

static gssize
sm_yamux_input_stream_read_nonblocking (GPollableInputStream  *pollable,
                                        void                  *buffer,
                                        gsize                  count,
                                        GError               **error)
{
  SmYamuxInputStream *self = SM_YAMUX_INPUT_STREAM (pollable);

  if (self->owner == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "Stream is already closed");
      return -1;
    }
  return sm_yamux_stream_read_nonblocking (self->owner, buffer, count, error);
}

static GSource *
sm_yamux_input_stream_create_source (GPollableInputStream *pollable,
                                     GCancellable         *cancellable)
{
  return stream_source_new (G_OBJECT (pollable), cancellable);
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
sm_yamux_input_stream_read (GInputStream  *stream,
                            void          *buffer,
                            gsize          count,
                            GCancellable  *cancellable,
                            GError       **error)
{
  SmYamuxInputStream *self = SM_YAMUX_INPUT_STREAM (stream);

  for (;;)
    {
      GError *local_error = NULL;
      gssize n;

      n = sm_yamux_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (self),
                                                  buffer, count, &local_error);
      if (n >= 0 || !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (local_error != NULL)
            g_propagate_error (error, local_error);
          return n;
        }
      g_error_free (local_error);

      if (!stream_wait (G_OBJECT (self), sm_yamux_stream_get_context (self->owner),
                        cancellable, error))
        return -1;
    }
}

static gboolean
sm_yamux_input_stream_close (GInputStream  *stream,
                             GCancellable  *cancellable,
                             GError       **error)
{
  SmYamuxInputStream *self = SM_YAMUX_INPUT_STREAM (stream);

  if (self->owner != NULL)
    sm_yamux_stream_close_read (self->owner);
  return TRUE;
}

static void
sm_yamux_input_stream_close_async (GInputStream        *stream,
                                   int                  io_priority,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  sm_yamux_input_stream_close (stream, cancellable, NULL);
  stream_return_closed (stream, sm_yamux_input_stream_close_async,
                        io_priority, cancellable, callback, user_data);
}

static gboolean
sm_yamux_input_stream_close_finish (GInputStream  *stream,
                                    GAsyncResult  *result,
                                    GError       **error)
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
  SmYamuxOutputStream *self = SM_YAMUX_OUTPUT_STREAM (pollable);

  return self->owner == NULL || sm_yamux_stream_is_writable (self->owner);
}

static gssize
sm_yamux_output_stream_write_nonblocking (GPollableOutputStream  *pollable,
                                          const void             *buffer,
                                          gsize                   count,
                                          GError                **error)
{
  SmYamuxOutputStream *self = SM_YAMUX_OUTPUT_STREAM (pollable);

  if (self->owner == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "Stream is already closed");
      return -1;
    }
  return sm_yamux_stream_write_nonblocking (self->owner, buffer, count, error);
}

static GSource *
sm_yamux_output_stream_create_source (GPollableOutputStream *pollable,
                                      GCancellable          *cancellable)
{
  return stream_source_new (G_OBJECT (pollable), cancellable);
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
sm_yamux_output_stream_write (GOutputStream  *stream,
                              const void     *buffer,
                              gsize           count,
                              GCancellable   *cancellable,
                              GError        **error)
{
  SmYamuxOutputStream *self = SM_YAMUX_OUTPUT_STREAM (stream);

  for (;;)
    {
      GError *local_error = NULL;
      gssize n;

      n = sm_yamux_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (self),
                                                    buffer, count, &local_error);
      if (n >= 0 || !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (local_error != NULL)
            g_propagate_error (error, local_error);
          return n;
        }
      g_error_free (local_error);

      if (!stream_wait (G_OBJECT (self), sm_yamux_stream_get_context (self->owner),
                        cancellable, error))
        return -1;
    }
}

static gboolean
sm_yamux_output_stream_close (GOutputStream  *stream,
                              GCancellable   *cancellable,
                              GError        **error)
{
  SmYamuxOutputStream *self = SM_YAMUX_OUTPUT_STREAM (stream);

  if (self->owner != NULL)
    sm_yamux_stream_close_write (self->owner);
  return TRUE;
}

static void
sm_yamux_output_stream_close_async (GOutputStream       *stream,
                                    int                  io_priority,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  sm_yamux_output_stream_close (stream, cancellable, NULL);
  stream_return_closed (stream, sm_yamux_output_stream_close_async,
                        io_priority, cancellable, callback, user_data);
}

static gboolean
sm_yamux_output_stream_close_finish (GOutputStream  *stream,
                                     GAsyncResult   *result,
                                     GError        **error)
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
