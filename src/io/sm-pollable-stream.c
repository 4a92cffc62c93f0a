/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-pollable-stream-private.h"

static gssize
stream_io_nonblocking (GObject     *stream,
                       GIOCondition condition,
                       void        *buffer,
                       gsize        count,
                       GError     **error)
{
  if (condition == G_IO_IN)
    return SM_POLLABLE_INPUT_STREAM_GET_CLASS (stream)->read_nonblocking (
        (SmPollableInputStream *) stream, buffer, count, error);
  return SM_POLLABLE_OUTPUT_STREAM_GET_CLASS (stream)->write_nonblocking (
      (SmPollableOutputStream *) stream, buffer, count, error);
}

static GMainContext *
stream_ref_context (GObject *stream, GIOCondition condition)
{
  GMainContext *context;

  if (condition == G_IO_IN)
    context =
        SM_POLLABLE_INPUT_STREAM_GET_CLASS (stream)->get_context ((SmPollableInputStream *) stream);
  else
    context = SM_POLLABLE_OUTPUT_STREAM_GET_CLASS (stream)->get_context (
        (SmPollableOutputStream *) stream);
  return g_main_context_ref (context != NULL ? context : g_main_context_default ());
}

static GSource *
stream_create_source (GObject *stream, GIOCondition condition, GCancellable *cancellable)
{
  if (condition == G_IO_IN)
    return g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (stream), cancellable);
  return g_pollable_output_stream_create_source (G_POLLABLE_OUTPUT_STREAM (stream), cancellable);
}

static gboolean
on_wait_ready (GObject *stream, gpointer user_data)
{
  gboolean *ready = user_data;

  *ready = TRUE;
  return G_SOURCE_CONTINUE;
}

/* Iterates the stream's context until its source dispatches: ready, or
 * @cancellable cancelled. */
static gboolean
stream_wait (GObject *stream, GIOCondition condition, GCancellable *cancellable, GError **error)
{
  g_autoptr (GMainContext) context = stream_ref_context (stream, condition);
  gboolean ready = FALSE;
  GSource *source;

  if (!g_main_context_acquire (context))
    {
      g_set_error_literal (
          error, G_IO_ERROR, G_IO_ERROR_FAILED,
          "Blocking I/O on this stream is only possible in the thread of its main context");
      return FALSE;
    }

  source = stream_create_source (stream, condition, cancellable);
  g_source_set_callback (source, G_SOURCE_FUNC (on_wait_ready), &ready, NULL);
  g_source_attach (source, context);
  while (!ready)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (source);
  g_source_unref (source);
  g_main_context_release (context);

  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

gssize
sm_pollable_stream_io_blocking (GObject      *stream,
                                GIOCondition  condition,
                                void         *buffer,
                                gsize         count,
                                GCancellable *cancellable,
                                GError      **error)
{
  for (;;)
    {
      GError *local_error = NULL;
      gssize  n = stream_io_nonblocking (stream, condition, buffer, count, &local_error);

      if (n >= 0 || !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (local_error != NULL)
            g_propagate_error (error, local_error);
          return n;
        }
      g_error_free (local_error);

      if (!stream_wait (stream, condition, cancellable, error))
        return -1;
    }
}

void
sm_pollable_stream_close_async (GObject            *stream,
                                GIOCondition        condition,
                                int                 io_priority,
                                GCancellable       *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer            user_data)
{
  g_autoptr (GTask) task = g_task_new (stream, cancellable, callback, user_data);
  GError  *error = NULL;
  gboolean closed = TRUE;

  g_task_set_source_tag (task, sm_pollable_stream_close_async);
  g_task_set_priority (task, io_priority);

  if (condition == G_IO_IN)
    {
      GInputStreamClass *klass = G_INPUT_STREAM_GET_CLASS (stream);

      if (klass->close_fn != NULL)
        closed = klass->close_fn (G_INPUT_STREAM (stream), cancellable, &error);
    }
  else
    {
      GOutputStreamClass *klass = G_OUTPUT_STREAM_GET_CLASS (stream);

      if (klass->close_fn != NULL)
        closed = klass->close_fn (G_OUTPUT_STREAM (stream), cancellable, &error);
    }

  if (closed)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}
