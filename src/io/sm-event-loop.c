/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <gio/gfiledescriptorbased.h>

#include "sm-event-loop-private.h"
#include "sm-pollable-input-stream.h"
#include "sm-pollable-output-stream.h"
#include "sm-pollable-source.h"

/* Events taken from the epoll set per dispatch: the rest wait for the
 * next iteration, so that other sources are not starved */
#define MAX_EVENTS 256

struct _SmEventWatch
{
  SmEventLoop           *loop;
  GPollableInputStream  *input;
  GPollableOutputStream *output;
  SmEventFunc            on_readable;
  SmEventFunc            on_writable;
  gpointer               user_data;
  const char            *name;

  int                    fd;         /* -1: not pollable here, GSources instead */
  gboolean               layered;    /* streams above the descriptor's (TLS) */
  gboolean               notified;   /* no descriptor: the streams say when they may be ready */
  guint32                registered; /* EPOLLIN | EPOLLOUT in the set */
  gboolean               reading;
  gboolean               writing;
  gboolean               dead;

  GList                  pending_link;
  GQueue                *queued; /* &loop->pending, &loop->batch, or NULL */

  GSource               *read_source; /* only when fd is -1 */
  GSource               *write_source;
};

G_LOCK_DEFINE_STATIC (loops);
static GHashTable *loops; /* GMainContext -> SmEventLoop */

/* The loop ------------------------------------------------------------------ */

/*
 * The loop's source may recurse as far as GLib knows, for the reason
 * sm-pollable-source.c gives (blocking a source during its dispatch costs
 * two eventfd writes and a wasted wake-up, here for every batch of events),
 * and keeps itself out of nested iterations instead: while it dispatches,
 * prepare and check say "not ready", and a nested iteration that really
 * prepares it takes the epoll descriptor out of the poll set until the
 * dispatch returns. Everything it watches is level-triggered (epoll, the
 * pending queue, the timer heap), so nothing is lost meanwhile.
 */
static gboolean
event_loop_prepare (GSource *source, gint *timeout)
{
  SmEventLoop *loop = (SmEventLoop *) source;
  gint64       now;

  *timeout = -1;
  if (loop->dispatching)
    {
      if (!loop->epoll_suspended)
        {
          g_source_modify_unix_fd (source, loop->epoll_tag, 0);
          loop->epoll_suspended = TRUE;
        }
      return FALSE;
    }
  if (loop->pending.length > 0)
    {
      *timeout = 0;
      return TRUE;
    }
  if (loop->timers->len == 0)
    return FALSE;

  now = g_source_get_time (source);
  if (sm_event_loop_timers_due (loop, now))
    return TRUE;
  *timeout = (gint) MIN ((sm_event_loop_heap_at (loop, 0)->key - now + 999) / 1000, G_MAXINT);
  return FALSE;
}

static gboolean
event_loop_check (GSource *source)
{
  SmEventLoop *loop = (SmEventLoop *) source;

  if (loop->dispatching)
    return FALSE;
  return loop->pending.length > 0 || g_source_query_unix_fd (source, loop->epoll_tag) != 0 ||
         sm_event_loop_timers_due (loop, g_source_get_time (source));
}

static gboolean watch_ready_without_fd (SmEventWatch *watch, GIOCondition condition);
static void     watch_check_pending (SmEventWatch *watch);

static void
watch_dispatch (SmEventWatch *watch, gboolean readable, gboolean writable)
{
  if (readable && watch->reading && !watch->dead)
    watch->on_readable (watch->user_data);
  if (writable && watch->writing && !watch->dead)
    watch->on_writable (watch->user_data);
  if (!watch->dead)
    watch_check_pending (watch);
}

static void
dispatch_epoll (SmEventLoop *loop)
{
  struct epoll_event events[MAX_EVENTS];
  int                n = epoll_wait (loop->epoll_fd, events, MAX_EVENTS, 0);

  if (n < 0 && errno != EINTR)
    g_critical ("epoll_wait: %s", g_strerror (errno));

  for (int i = 0; i < n; i++)
    {
      SmEventWatch *watch = events[i].data.ptr;
      guint32       ev = events[i].events;

      watch_dispatch (watch, (ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) != 0,
                      (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0);
    }
}

static void
dispatch_pending (SmEventLoop *loop)
{
  GList *link;

  /* Only those pending now: a watch that stays ready runs again next
   * iteration, after the other sources had their turn. A watch freed
   * meanwhile leaves the batch. */
  loop->batch = loop->pending;
  g_queue_init (&loop->pending);
  for (link = loop->batch.head; link != NULL; link = link->next)
    ((SmEventWatch *) link->data)->queued = &loop->batch;

  while ((link = g_queue_pop_head_link (&loop->batch)) != NULL)
    {
      SmEventWatch *watch = link->data;

      watch->queued = NULL;
      watch_dispatch (watch, watch_ready_without_fd (watch, G_IO_IN),
                      watch_ready_without_fd (watch, G_IO_OUT));
    }
}

static void watch_free_now (SmEventWatch *watch);

static gboolean
event_loop_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  SmEventLoop *loop = (SmEventLoop *) source;

  /* Only a nested iteration could get here while we dispatch, and
   * prepare and check keep it from doing so */
  g_return_val_if_fail (!loop->dispatching, G_SOURCE_CONTINUE);

  loop->dispatching = TRUE;
  if (g_source_query_unix_fd (source, loop->epoll_tag) != 0)
    dispatch_epoll (loop);
  dispatch_pending (loop);
  sm_event_loop_dispatch_timers (loop, g_source_get_time (source));
  loop->dispatching = FALSE;
  if (loop->epoll_suspended)
    {
      g_source_modify_unix_fd (source, loop->epoll_tag, G_IO_IN);
      loop->epoll_suspended = FALSE;
    }

  g_slist_free_full (g_steal_pointer (&loop->graveyard), (GDestroyNotify) watch_free_now);
  return G_SOURCE_CONTINUE;
}

static void
event_loop_finalize (GSource *source)
{
  SmEventLoop *loop = (SmEventLoop *) source;

  G_LOCK (loops);
  if (loops != NULL && g_hash_table_lookup (loops, loop->context) == loop)
    g_hash_table_remove (loops, loop->context);
  G_UNLOCK (loops);

  g_slist_free_full (g_steal_pointer (&loop->graveyard), (GDestroyNotify) watch_free_now);
  g_ptr_array_unref (loop->timers);
  close (loop->epoll_fd);
}

static GSourceFuncs event_loop_funcs = {
  .prepare = event_loop_prepare,
  .check = event_loop_check,
  .dispatch = event_loop_dispatch,
  .finalize = event_loop_finalize,
};

/* The loop of the thread-default context, made on first use. The context
 * holds it; the caller gets no reference. */
SmEventLoop *
sm_event_loop_get (void)
{
  GMainContext *context = g_main_context_ref_thread_default ();
  SmEventLoop  *loop;

  G_LOCK (loops);
  if (loops == NULL)
    loops = g_hash_table_new (NULL, NULL);
  loop = g_hash_table_lookup (loops, context);
  if (loop == NULL)
    {
      int epoll_fd = epoll_create1 (EPOLL_CLOEXEC);

      if (epoll_fd < 0)
        g_error ("epoll_create1: %s", g_strerror (errno));
      loop = (SmEventLoop *) g_source_new (&event_loop_funcs, sizeof (SmEventLoop));
      loop->context = context;
      loop->epoll_fd = epoll_fd;
      loop->timers = g_ptr_array_new ();
      g_queue_init (&loop->pending);
      loop->epoll_tag = g_source_add_unix_fd (&loop->source, epoll_fd, G_IO_IN);
      g_source_set_static_name (&loop->source, "[socketmaster] event core");
      /* See event_loop_prepare() */
      g_source_set_can_recurse (&loop->source, TRUE);
      g_source_attach (&loop->source, context);
      /* The context keeps it until the context goes */
      g_source_unref (&loop->source);
      g_hash_table_insert (loops, context, loop);
    }
  G_UNLOCK (loops);

  g_main_context_unref (context);
  return loop;
}

gint64
sm_event_loop_get_time (void)
{
  return g_source_get_time (&sm_event_loop_get ()->source);
}

/* Watches ------------------------------------------------------------------- */

/* The base under @stream if it tells one (a TLS stream does), with
 * *@ready set if @stream is ready by itself; NULL otherwise */
static GObject *
stream_poll_base (GObject *stream, GIOCondition condition, gboolean *ready)
{
  *ready = FALSE;
  if (condition == G_IO_IN && SM_IS_POLLABLE_INPUT_STREAM (stream) &&
      SM_POLLABLE_INPUT_STREAM_GET_CLASS (stream)->get_poll_base != NULL)
    return SM_POLLABLE_INPUT_STREAM_GET_CLASS (stream)->get_poll_base (
        SM_POLLABLE_INPUT_STREAM (stream), ready);
  if (condition == G_IO_OUT && SM_IS_POLLABLE_OUTPUT_STREAM (stream) &&
      SM_POLLABLE_OUTPUT_STREAM_GET_CLASS (stream)->get_poll_base != NULL)
    return SM_POLLABLE_OUTPUT_STREAM_GET_CLASS (stream)->get_poll_base (
        SM_POLLABLE_OUTPUT_STREAM (stream), ready);
  return NULL;
}

/* Follows @stream down its poll bases to a descriptor, or -1; *@layered:
 * whether there was a base on the way (may be NULL) */
static int
stream_poll_fd (GObject *stream, GIOCondition condition, gboolean *layered)
{
  gboolean unused;

  if (layered != NULL)
    *layered = FALSE;
  while (stream != NULL)
    {
      GSocket *socket = sm_stream_get_socket (stream);

      if (socket != NULL)
        return g_socket_get_fd (socket);
      if (G_IS_FILE_DESCRIPTOR_BASED (stream))
        return g_file_descriptor_based_get_fd (G_FILE_DESCRIPTOR_BASED (stream));
      stream = stream_poll_base (stream, condition, &unused);
      if (layered != NULL)
        *layered = TRUE;
    }
  return -1;
}

/* Whether a stream above the descriptor is ready by itself: on every
 * dispatch of a TLS watch, so it asks only the layers above */
static gboolean
stream_ready_above (GObject *stream, GIOCondition condition)
{
  gboolean ready = FALSE;

  while (!ready && stream != NULL)
    stream = stream_poll_base (stream, condition, &ready);
  return ready;
}

/* Whether a stream above the descriptor, or a stream without one, is
 * ready by itself */
static gboolean
watch_ready_without_fd (SmEventWatch *watch, GIOCondition condition)
{
  if (watch->notified)
    return condition == G_IO_IN ? g_pollable_input_stream_is_readable (watch->input)
                                : g_pollable_output_stream_is_writable (watch->output);
  if (!watch->layered)
    return FALSE;
  return stream_ready_above (
      condition == G_IO_IN ? G_OBJECT (watch->input) : G_OBJECT (watch->output), condition);
}

/* A TLS stream may hold decrypted bytes its socket no longer signals,
 * and streams without a descriptor are ready by themselves: such watches
 * are dispatched from the pending queue */
static void
watch_check_pending (SmEventWatch *watch)
{
  gboolean ready;

  if (watch->queued != NULL || !(watch->notified || (watch->fd >= 0 && watch->layered)))
    return;
  ready = (watch->reading && watch_ready_without_fd (watch, G_IO_IN)) ||
          (watch->writing && watch_ready_without_fd (watch, G_IO_OUT));
  if (!ready)
    return;
  watch->queued = &watch->loop->pending;
  g_queue_push_tail_link (watch->queued, &watch->pending_link);
}

/* A notifying stream may have become ready */
static void
on_stream_notify (gpointer user_data)
{
  SmEventWatch *watch = user_data;

  if (!watch->dead && (watch->reading || watch->writing))
    watch_check_pending (watch);
}

static gboolean
stream_notifies (GObject *stream)
{
  if (SM_IS_POLLABLE_INPUT_STREAM (stream))
    return SM_POLLABLE_INPUT_STREAM_GET_CLASS (stream)->notifies;
  if (SM_IS_POLLABLE_OUTPUT_STREAM (stream))
    return SM_POLLABLE_OUTPUT_STREAM_GET_CLASS (stream)->notifies;
  return FALSE;
}

static gboolean
on_fallback_readable (GObject *stream, gpointer user_data)
{
  SmEventWatch *watch = user_data;

  watch->on_readable (watch->user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_fallback_writable (GObject *stream, gpointer user_data)
{
  SmEventWatch *watch = user_data;

  watch->on_writable (watch->user_data);
  return G_SOURCE_CONTINUE;
}

static void
fallback_update (GSource **source,
                 gboolean  wanted,
                 GSource *(*create) (gpointer stream, GCancellable *cancellable),
                 gpointer      stream,
                 GSourceFunc   callback,
                 SmEventWatch *watch)
{
  if (!wanted)
    {
      sm_source_clear (source);
      return;
    }
  if (*source != NULL)
    return;
  *source = create (stream, NULL);
  g_source_set_callback (*source, callback, watch, NULL);
  g_source_set_static_name (*source, watch->name);
  g_source_attach (*source, watch->loop->context);
}

static GSource *
create_read_source (gpointer stream, GCancellable *cancellable)
{
  return sm_stream_create_read_source (stream, cancellable);
}

static GSource *
create_write_source (gpointer stream, GCancellable *cancellable)
{
  return sm_stream_create_write_source (stream, cancellable);
}

SmEventWatch *
sm_event_watch_new (GPollableInputStream  *input,
                    GPollableOutputStream *output,
                    SmEventFunc            on_readable,
                    SmEventFunc            on_writable,
                    gpointer               user_data,
                    const char            *name)
{
  SmEventWatch *watch;
  int           in_fd, out_fd;

  g_return_val_if_fail (G_IS_POLLABLE_INPUT_STREAM (input), NULL);
  g_return_val_if_fail (G_IS_POLLABLE_OUTPUT_STREAM (output), NULL);
  g_return_val_if_fail (on_readable != NULL && on_writable != NULL, NULL);

  watch = g_new0 (SmEventWatch, 1);
  watch->loop = sm_event_loop_get ();
  g_source_ref (&watch->loop->source);
  watch->input = g_object_ref (input);
  watch->output = g_object_ref (output);
  watch->on_readable = on_readable;
  watch->on_writable = on_writable;
  watch->user_data = user_data;
  watch->name = name;
  watch->pending_link.data = watch;

  in_fd = stream_poll_fd (G_OBJECT (input), G_IO_IN, &watch->layered);
  out_fd = stream_poll_fd (G_OBJECT (output), G_IO_OUT, NULL);
  watch->fd = in_fd >= 0 && in_fd == out_fd ? in_fd : -1;
  watch->notified =
      watch->fd < 0 && stream_notifies (G_OBJECT (input)) && stream_notifies (G_OBJECT (output));
  if (watch->notified)
    {
      sm_pollable_input_stream_set_notify (SM_POLLABLE_INPUT_STREAM (input), on_stream_notify,
                                           watch);
      sm_pollable_output_stream_set_notify (SM_POLLABLE_OUTPUT_STREAM (output), on_stream_notify,
                                            watch);
    }
  return watch;
}

void
sm_event_watch_set_callbacks (SmEventWatch *watch,
                              SmEventFunc   on_readable,
                              SmEventFunc   on_writable,
                              gpointer      user_data)
{
  g_return_if_fail (watch != NULL && !watch->dead);
  g_return_if_fail (on_readable != NULL && on_writable != NULL);

  watch->on_readable = on_readable;
  watch->on_writable = on_writable;
  watch->user_data = user_data;
}

gboolean
sm_event_watch_is_polled (SmEventWatch *watch)
{
  g_return_val_if_fail (watch != NULL, FALSE);

  return watch->fd >= 0 || watch->notified;
}

void
sm_event_watch_update (SmEventWatch *watch, gboolean reading, gboolean writing)
{
  guint32 wanted = (reading ? EPOLLIN | EPOLLRDHUP : 0) | (writing ? EPOLLOUT : 0);

  g_return_if_fail (watch != NULL && !watch->dead);

  watch->reading = reading;
  watch->writing = writing;

  if (watch->notified)
    {
      watch_check_pending (watch);
      return;
    }
  if (watch->fd < 0)
    {
      fallback_update (&watch->read_source, reading, create_read_source, watch->input,
                       G_SOURCE_FUNC (on_fallback_readable), watch);
      fallback_update (&watch->write_source, writing, create_write_source, watch->output,
                       G_SOURCE_FUNC (on_fallback_writable), watch);
      return;
    }

  if (wanted != watch->registered)
    {
      struct epoll_event event = { .events = wanted, .data.ptr = watch };
      int                op;

      /* Nothing wanted: out of the set, or a hang-up would be reported
       * on every iteration */
      if (wanted == 0)
        op = EPOLL_CTL_DEL;
      else if (watch->registered == 0)
        op = EPOLL_CTL_ADD;
      else
        op = EPOLL_CTL_MOD;
      if (epoll_ctl (watch->loop->epoll_fd, op, watch->fd, &event) < 0)
        g_critical ("epoll_ctl (%d) on %d: %s", op, watch->fd, g_strerror (errno));
      watch->registered = wanted;
    }
  watch_check_pending (watch);
}

static void
watch_free_now (SmEventWatch *watch)
{
  g_source_unref (&watch->loop->source);
  g_free (watch);
}

void
sm_event_watch_free (SmEventWatch *watch)
{
  SmEventLoop *loop;

  if (watch == NULL)
    return;
  g_return_if_fail (!watch->dead);

  loop = watch->loop;
  if (watch->fd >= 0 && watch->registered != 0)
    epoll_ctl (loop->epoll_fd, EPOLL_CTL_DEL, watch->fd, NULL);
  watch->registered = 0;
  if (watch->queued != NULL)
    g_queue_unlink (watch->queued, &watch->pending_link);
  watch->queued = NULL;
  sm_source_clear (&watch->read_source);
  sm_source_clear (&watch->write_source);
  if (watch->notified)
    {
      sm_pollable_input_stream_set_notify (SM_POLLABLE_INPUT_STREAM (watch->input), NULL, watch);
      sm_pollable_output_stream_set_notify (SM_POLLABLE_OUTPUT_STREAM (watch->output), NULL, watch);
    }
  g_clear_object (&watch->input);
  g_clear_object (&watch->output);
  watch->dead = TRUE;

  /* Events for it may still be in the batch being dispatched */
  if (loop->dispatching)
    loop->graveyard = g_slist_prepend (loop->graveyard, watch);
  else
    watch_free_now (watch);
}
