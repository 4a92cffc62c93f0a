/* SPDX-License-Identifier: MIT */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "sm-accept-queue.h"

struct _SmAcceptQueue
{
  GMainContext *context;
  guint         max_streams;
  GQueue        streams; /* SmYamuxStream*, owned */
  GQueue        waiting; /* GTask*, owned */
};

/* Task data of a waiting task with a cancellable */
typedef struct
{
  SmAcceptQueue *queue;
  GSource       *cancel_source;
} SmAcceptWait;

SmAcceptQueue *
sm_accept_queue_new (GMainContext *context, guint max_streams)
{
  SmAcceptQueue *queue = g_new0 (SmAcceptQueue, 1);

  queue->context = g_main_context_ref (context);
  queue->max_streams = max_streams;
  g_queue_init (&queue->streams);
  g_queue_init (&queue->waiting);

  return queue;
}

void
sm_accept_queue_free (SmAcceptQueue *queue)
{
  g_return_if_fail (queue->waiting.length == 0);

  sm_accept_queue_reset_streams (queue);
  g_main_context_unref (queue->context);
  g_free (queue);
}

static void
sm_accept_wait_free (gpointer data)
{
  SmAcceptWait *wait = data;

  g_source_destroy (wait->cancel_source);
  g_source_unref (wait->cancel_source);
  g_free (wait);
}

/* Takes the task out of the queue, with the queue's reference */
static GTask *
sm_accept_queue_pop_waiting (SmAcceptQueue *queue)
{
  GTask *task = g_queue_pop_head (&queue->waiting);

  /* stop watching the cancellable: the task completes now */
  if (task != NULL)
    g_task_set_task_data (task, NULL, NULL);

  return task;
}

gboolean
sm_accept_queue_push_stream (SmAcceptQueue *queue, SmYamuxStream *stream)
{
  g_autoptr (GTask) task = sm_accept_queue_pop_waiting (queue);

  if (task != NULL)
    {
      g_task_return_pointer (task, g_object_ref (stream), g_object_unref);
      return TRUE;
    }

  if (queue->streams.length >= queue->max_streams)
    return FALSE;

  g_queue_push_tail (&queue->streams, g_object_ref (stream));
  return TRUE;
}

SmYamuxStream *
sm_accept_queue_pop_stream (SmAcceptQueue *queue)
{
  return g_queue_pop_head (&queue->streams);
}

static gboolean
on_wait_cancelled (GCancellable *cancellable, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  SmAcceptWait *wait = g_task_get_task_data (task);

  g_queue_remove (&wait->queue->waiting, task);
  g_task_set_task_data (task, NULL, NULL);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, _ ("Operation was cancelled"));

  return G_SOURCE_REMOVE;
}

void
sm_accept_queue_wait (SmAcceptQueue *queue, GTask *task)
{
  GCancellable *cancellable = g_task_get_cancellable (task);
  SmAcceptWait *wait;

  if (cancellable != NULL)
    {
      /* a source, not a "cancelled" handler: completing the task from
       * inside g_cancellable_cancel() could deadlock its disconnection */
      wait = g_new0 (SmAcceptWait, 1);
      wait->queue = queue;
      wait->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (wait->cancel_source, G_SOURCE_FUNC (on_wait_cancelled), task, NULL);
      g_source_attach (wait->cancel_source, queue->context);
      g_task_set_task_data (task, wait, sm_accept_wait_free);
    }

  g_queue_push_tail (&queue->waiting, g_object_ref (task));
}

void
sm_accept_queue_fail_waiting (SmAcceptQueue *queue, const GError *error)
{
  GTask *task;

  while ((task = sm_accept_queue_pop_waiting (queue)) != NULL)
    {
      g_task_return_error (task, g_error_copy (error));
      g_object_unref (task);
    }
}

void
sm_accept_queue_reset_streams (SmAcceptQueue *queue)
{
  SmYamuxStream *stream;

  while ((stream = g_queue_pop_head (&queue->streams)) != NULL)
    {
      sm_yamux_stream_reset (stream);
      g_object_unref (stream);
    }
}

void
sm_accept_queue_reset_dead_streams (SmAcceptQueue *queue)
{
  GList *link = queue->streams.head;

  while (link != NULL)
    {
      GList          *next = link->next;
      SmYamuxStream  *stream = link->data;
      SmYamuxSession *session = sm_yamux_stream_get_session (stream);

      if (session == NULL || sm_yamux_session_is_closed (session))
        {
          g_queue_delete_link (&queue->streams, link);
          sm_yamux_stream_reset (stream);
          g_object_unref (stream);
        }
      link = next;
    }
}
