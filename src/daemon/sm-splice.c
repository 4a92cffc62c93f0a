/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-event-loop.h"
#include "sm-http-buffer.h"
#include "sm-pollable-source.h"
#include "sm-splice.h"
#include "sm-yamux-stream.h"

/*
 * Each direction is a small state machine: it waits for its input to
 * become readable while its buffer is empty, and for its output to become
 * writable while its buffer holds unwritten bytes. Never both: a direction
 * with buffered bytes does not read (backpressure), so memory per splice
 * is bounded by the two buffers, which are only held while bytes are in
 * them. Each stream has one watch in the event core (sm-event-loop.h)
 * for what both directions want of it.
 */

/* How many buffers' worth of bytes one direction may read per dispatch
 * before it lets other sources of the main context run. */
#define SM_SPLICE_BUFFERS_PER_DISPATCH 4

typedef enum
{
  SM_SPLICE_WAIT_NONE,
  SM_SPLICE_WAIT_READABLE,
  SM_SPLICE_WAIT_WRITABLE,
} SmSpliceWait;

typedef struct _SmSplice SmSplice;

typedef struct
{
  SmSplice              *splice;
  const char            *name;         /* for debug output */
  GIOStream             *target;       /* the stream our output belongs to */
  SmYamuxStream         *yamux;        /* the input's, when it is a yamux stream: no copy */
  SmYamuxStream         *yamux_output; /* the output's, when it is one: read only what it takes */
  GPollableInputStream  *input;
  GPollableOutputStream *output;

  guint8                *buffer;
  gsize                  start; /* first unwritten byte */
  gsize                  end;   /* one past the last buffered byte */

  SmSpliceWait           waiting;
  /* A short read means the input had nothing more (a socket or a yamux
   * stream): wait for it instead of asking again for a WOULD_BLOCK. */
  gboolean               short_read_drains;
  gboolean               drained;

  guint64                written;
  gboolean               eof;
  gboolean               done;
} SmSpliceDirection;

struct _SmSplice
{
  GTask             *task; /* the reference held while running */
  GMainContext      *context;
  GCancellable      *cancellable;
  GIOStream         *a;
  GIOStream         *b;
  gsize              buffer_size;

  SmSpliceDirection  a_to_b;
  SmSpliceDirection  b_to_a;
  SmEventWatch      *watch_a;
  SmEventWatch      *watch_b;

  SmEventCancelWatch cancel_watch;
  GError            *error; /* why we are ending, NULL on success */
  guint              pending_closes;
  gboolean           ending;
};

static void sm_splice_end (SmSplice *splice, GError *error);

static void
sm_splice_direction_release_buffer (SmSpliceDirection *dir)
{
  if (dir->buffer != NULL)
    sm_http_buffer_memory_give (g_steal_pointer (&dir->buffer), dir->splice->buffer_size);
  dir->start = dir->end = 0;
}

static void
sm_splice_stop_watching (SmSplice *splice)
{
  g_clear_pointer (&splice->watch_a, sm_event_watch_free);
  g_clear_pointer (&splice->watch_b, sm_event_watch_free);
  sm_event_cancel_watch_stop (&splice->cancel_watch);
  splice->a_to_b.waiting = splice->b_to_a.waiting = SM_SPLICE_WAIT_NONE;
}

static void
sm_splice_free (gpointer data)
{
  SmSplice *splice = data;

  sm_splice_stop_watching (splice);
  sm_splice_direction_release_buffer (&splice->a_to_b);
  sm_splice_direction_release_buffer (&splice->b_to_a);
  g_clear_error (&splice->error);
  g_clear_object (&splice->a);
  g_clear_object (&splice->b);
  g_clear_object (&splice->cancellable);
  g_main_context_unref (splice->context);
  g_free (splice);
}

static void
sm_splice_direction_done (SmSpliceDirection *dir)
{
  SmSplice *splice = dir->splice;

  g_debug ("splice %p: %s done after %" G_GUINT64_FORMAT " bytes", splice, dir->name, dir->written);
  dir->done = TRUE;
  if (splice->a_to_b.done && splice->b_to_a.done)
    sm_splice_end (splice, NULL);
}

static void
on_half_closed (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  SmSplice          *splice = g_task_get_task_data (task);
  SmSpliceDirection *dir;
  g_autoptr (GError) error = NULL;

  if (!g_output_stream_close_finish (G_OUTPUT_STREAM (object), result, &error))
    {
      if (!splice->ending)
        sm_splice_end (splice, g_steal_pointer (&error));
      return;
    }
  if (splice->ending)
    return;

  dir = G_OUTPUT_STREAM (object) == G_OUTPUT_STREAM (splice->a_to_b.output) ? &splice->a_to_b
                                                                            : &splice->b_to_a;
  sm_splice_direction_done (dir);
}

/* The source ended and everything it sent is written: pass the EOF on. */
static void
sm_splice_direction_half_close (SmSpliceDirection *dir)
{
  SmSplice *splice = dir->splice;

  g_debug ("splice %p: %s reached EOF, half-closing", splice, dir->name);

  /* Closing a GSocketConnection's output stream leaves the socket open, so
   * the peer would never see the EOF: shut the socket down instead. */
  if (G_IS_SOCKET_CONNECTION (dir->target))
    {
      GSocket *socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (dir->target));
      g_autoptr (GError) error = NULL;

      if (!g_socket_shutdown (socket, FALSE, TRUE, &error))
        {
          sm_splice_end (splice, g_steal_pointer (&error));
          return;
        }
      sm_splice_direction_done (dir);
      return;
    }

  /* For a yamux stream this sends FIN. */
  g_output_stream_close_async (G_OUTPUT_STREAM (dir->output), G_PRIORITY_DEFAULT, NULL,
                               on_half_closed, g_object_ref (splice->task));
}

/*
 * Moves bytes until the input or output would block, the source ended, or
 * this dispatch's budget is spent. Returns what to wait for next;
 * SM_SPLICE_WAIT_NONE when the direction finished or the splice is ending.
 */
static SmSpliceWait
sm_splice_direction_pump (SmSpliceDirection *dir)
{
  SmSplice *splice = dir->splice;
  gsize     budget = splice->buffer_size * SM_SPLICE_BUFFERS_PER_DISPATCH;

  while (TRUE)
    {
      g_autoptr (GError) error = NULL;
      gsize  read_size;
      gssize n;

      if (dir->start < dir->end)
        {
          n = g_pollable_output_stream_write_nonblocking (dir->output, dir->buffer + dir->start,
                                                          dir->end - dir->start,
                                                          splice->cancellable, &error);
          if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            return SM_SPLICE_WAIT_WRITABLE;
          if (n < 0)
            {
              sm_splice_end (splice, g_steal_pointer (&error));
              return SM_SPLICE_WAIT_NONE;
            }
          /* Nothing accepted yet no error: treat like a full output. */
          if (n == 0)
            return SM_SPLICE_WAIT_WRITABLE;

          dir->start += n;
          dir->written += n;
          if (dir->start == dir->end)
            dir->start = dir->end = 0;
          continue;
        }

      if (dir->eof)
        {
          sm_splice_direction_half_close (dir);
          return SM_SPLICE_WAIT_NONE;
        }

      /* From a yamux stream's own buffer straight to the output: nothing
       * is copied, and a client that stops reading leaves the bytes there,
       * within the stream's window, instead of in a buffer of ours too */
      if (dir->yamux != NULL && budget > 0)
        {
          GOutputVector   vectors[16];
          guint           n_vectors = sm_yamux_stream_peek (dir->yamux, vectors, 16);
          gsize           offered = 0, written = 0;
          GPollableReturn ret;

          for (guint i = 0; i < n_vectors; i++)
            offered += vectors[i].size;
          if (offered > 0)
            {
              ret = g_pollable_output_stream_writev_nonblocking (
                  dir->output, vectors, n_vectors, &written, splice->cancellable, &error);
              if (ret == G_POLLABLE_RETURN_FAILED)
                {
                  sm_splice_end (splice, g_steal_pointer (&error));
                  return SM_SPLICE_WAIT_NONE;
                }
              sm_yamux_stream_consume (dir->yamux, written);
              dir->written += written;
              budget -= MIN (budget, written);
              if (ret == G_POLLABLE_RETURN_WOULD_BLOCK || written < offered)
                return SM_SPLICE_WAIT_WRITABLE;
              continue;
            }
          /* Nothing held: the read below tells EOF, an error or nothing yet */
        }

      /* Yield; the readable source fires again at once if more is ready. */
      if (budget == 0 || dir->drained)
        {
          dir->drained = FALSE;
          return SM_SPLICE_WAIT_READABLE;
        }

      /* Towards a yamux stream, read no more than its window lets it send
       * now: the bytes go out at once, and a service that stops reading
       * leaves them in the public socket, not in a buffer of ours. */
      read_size = splice->buffer_size;
      if (dir->yamux_output != NULL)
        {
          read_size = MIN (read_size, sm_yamux_stream_get_write_room (dir->yamux_output));
          if (read_size == 0)
            return SM_SPLICE_WAIT_WRITABLE;
        }

      if (dir->buffer == NULL)
        dir->buffer = sm_http_buffer_memory_take (splice->buffer_size);
      n = g_pollable_input_stream_read_nonblocking (dir->input, dir->buffer, read_size,
                                                    splice->cancellable, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return SM_SPLICE_WAIT_READABLE;
      if (n < 0)
        {
          sm_splice_end (splice, g_steal_pointer (&error));
          return SM_SPLICE_WAIT_NONE;
        }

      if (n == 0)
        dir->eof = TRUE;
      dir->drained = dir->short_read_drains && (gsize) n < read_size;
      dir->end = n;
      budget -= MIN (budget, (gsize) n);
    }
}

/* What the directions want of each stream, told to its watch */
static void
sm_splice_update_watches (SmSplice *splice)
{
  if (splice->ending)
    return;
  sm_event_watch_update (splice->watch_a, splice->a_to_b.waiting == SM_SPLICE_WAIT_READABLE,
                         splice->b_to_a.waiting == SM_SPLICE_WAIT_WRITABLE);
  sm_event_watch_update (splice->watch_b, splice->b_to_a.waiting == SM_SPLICE_WAIT_READABLE,
                         splice->a_to_b.waiting == SM_SPLICE_WAIT_WRITABLE);
}

static void
sm_splice_direction_run (SmSpliceDirection *dir)
{
  /* Ending the splice may drop the last other reference to the task,
   * which owns @dir. */
  g_autoptr (GTask) task = g_object_ref (dir->splice->task);

  dir->waiting = sm_splice_direction_pump (dir);
  /* Waiting with no bytes held (for input, or for a yamux window before
   * reading): an idle or held-back direction holds no buffer */
  if (dir->waiting != SM_SPLICE_WAIT_NONE && dir->start == dir->end)
    sm_splice_direction_release_buffer (dir);
  sm_splice_update_watches (dir->splice);
}

static void
on_a_readable (gpointer user_data)
{
  sm_splice_direction_run (&((SmSplice *) user_data)->a_to_b);
}

static void
on_a_writable (gpointer user_data)
{
  sm_splice_direction_run (&((SmSplice *) user_data)->b_to_a);
}

static void
on_b_readable (gpointer user_data)
{
  sm_splice_direction_run (&((SmSplice *) user_data)->b_to_a);
}

static void
on_b_writable (gpointer user_data)
{
  sm_splice_direction_run (&((SmSplice *) user_data)->a_to_b);
}

static void
sm_splice_return (SmSplice *splice)
{
  GTask *task = g_steal_pointer (&splice->task);

  g_debug ("splice %p: finished, %" G_GUINT64_FORMAT " bytes a->b, %" G_GUINT64_FORMAT
           " bytes b->a%s%s",
           splice, splice->a_to_b.written, splice->b_to_a.written,
           splice->error != NULL ? ": " : "", splice->error != NULL ? splice->error->message : "");

  if (splice->error != NULL)
    g_task_return_error (task, g_steal_pointer (&splice->error));
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
on_stream_closed (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  SmSplice *splice = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;

  /* Both directions are over by now; a failing close changes nothing. */
  if (!g_io_stream_close_finish (G_IO_STREAM (object), result, &error))
    g_debug ("splice %p: closing a stream: %s", splice, error->message);

  splice->pending_closes--;
  if (splice->pending_closes == 0)
    sm_splice_return (splice);
}

/* Takes @error; NULL when both directions finished normally. */
static void
sm_splice_end (SmSplice *splice, GError *error)
{
  GIOStream *streams[2] = { splice->a, splice->b };

  if (splice->ending)
    {
      g_clear_error (&error);
      return;
    }
  splice->ending = TRUE;
  splice->error = error;

  sm_splice_stop_watching (splice);

  for (guint i = 0; i < G_N_ELEMENTS (streams); i++)
    {
      /* A reset tells the far end the transfer broke; a FIN would look
       * like a clean end. */
      if (error != NULL && SM_IS_YAMUX_STREAM (streams[i]))
        {
          sm_yamux_stream_reset (SM_YAMUX_STREAM (streams[i]));
          continue;
        }
      splice->pending_closes++;
      g_io_stream_close_async (streams[i], G_PRIORITY_DEFAULT, NULL, on_stream_closed,
                               g_object_ref (splice->task));
    }

  if (splice->pending_closes == 0)
    sm_splice_return (splice);
}

static void
on_cancelled (gpointer user_data)
{
  SmSplice *splice = user_data;
  g_autoptr (GTask) task = g_object_ref (splice->task);

  sm_splice_end (splice,
                 g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled"));
}

static gboolean
sm_splice_direction_init (SmSpliceDirection *dir,
                          SmSplice          *splice,
                          const char        *name,
                          GIOStream         *source,
                          GIOStream         *target,
                          GError           **error)
{
  GInputStream  *input = g_io_stream_get_input_stream (source);
  GOutputStream *output = g_io_stream_get_output_stream (target);

  dir->splice = splice;
  dir->name = name;
  dir->target = target;

  if (!G_IS_POLLABLE_INPUT_STREAM (input) ||
      !g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (input)) ||
      !G_IS_POLLABLE_OUTPUT_STREAM (output) ||
      !g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (output)))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                           "Splicing needs pollable streams");
      return FALSE;
    }

  dir->input = G_POLLABLE_INPUT_STREAM (input);
  dir->output = G_POLLABLE_OUTPUT_STREAM (output);
  dir->short_read_drains =
      sm_stream_get_socket (G_OBJECT (input)) != NULL || SM_IS_YAMUX_STREAM (source);
  dir->yamux = SM_IS_YAMUX_STREAM (source) ? SM_YAMUX_STREAM (source) : NULL;
  dir->yamux_output = SM_IS_YAMUX_STREAM (target) ? SM_YAMUX_STREAM (target) : NULL;
  return TRUE;
}

void
sm_splice_async (GIOStream          *a,
                 GIOStream          *b,
                 gsize               buffer_size,
                 GCancellable       *cancellable,
                 GAsyncReadyCallback callback,
                 gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GError) error = NULL;
  SmSplice *splice;

  g_return_if_fail (G_IS_IO_STREAM (a));
  g_return_if_fail (G_IS_IO_STREAM (b));
  g_return_if_fail (a != b);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, sm_splice_async);
  /* Cancellation is handled below so that it aborts like an error and a
   * splice that already finished keeps its result. */
  g_task_set_check_cancellable (task, FALSE);

  splice = g_new0 (SmSplice, 1);
  splice->task = g_object_ref (task);
  splice->context = g_main_context_ref_thread_default ();
  splice->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  splice->a = g_object_ref (a);
  splice->b = g_object_ref (b);
  splice->buffer_size = buffer_size != 0 ? buffer_size : SM_SPLICE_DEFAULT_BUFFER_SIZE;
  g_task_set_task_data (task, splice, sm_splice_free);

  g_debug ("splice %p: starting %s <-> %s", splice, G_OBJECT_TYPE_NAME (a), G_OBJECT_TYPE_NAME (b));

  if (!sm_splice_direction_init (&splice->a_to_b, splice, "a->b", a, b, &error) ||
      !sm_splice_direction_init (&splice->b_to_a, splice, "b->a", b, a, &error))
    {
      sm_splice_end (splice, g_steal_pointer (&error));
      return;
    }

  splice->watch_a = sm_event_watch_new (splice->a_to_b.input, splice->b_to_a.output, on_a_readable,
                                        on_a_writable, splice, "[socketmaster] splice");
  splice->watch_b = sm_event_watch_new (splice->b_to_a.input, splice->a_to_b.output, on_b_readable,
                                        on_b_writable, splice, "[socketmaster] splice");
  if (cancellable != NULL)
    sm_event_cancel_watch_start (&splice->cancel_watch, cancellable, on_cancelled, splice);

  /* Start from the main loop so that the caller's state is settled before
   * any byte moves or the callback can run. */
  splice->a_to_b.waiting = splice->b_to_a.waiting = SM_SPLICE_WAIT_READABLE;
  sm_splice_update_watches (splice);
}

gboolean
sm_splice_finish (GAsyncResult *result, SmSpliceCounts *counts, GError **error)
{
  SmSplice *splice;

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == sm_splice_async, FALSE);

  splice = g_task_get_task_data (G_TASK (result));
  if (counts != NULL)
    {
      counts->a_to_b = splice->a_to_b.written;
      counts->b_to_a = splice->b_to_a.written;
    }
  return g_task_propagate_boolean (G_TASK (result), error);
}
