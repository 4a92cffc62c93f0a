/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-event-loop.h"

/* Cancellation: SmEventCancelWatch, on the loop's timers */

/* What a cancellable's watches share, kept on the cancellable */
typedef struct
{
  GCancellable *cancellable; /* not owned: it owns us */
  gulong        handler;
  GQueue        watches; /* of SmEventCancelWatch */
  SmEventTimer  timer;
} CancelGroup;

static GQuark
cancel_group_quark (void)
{
  static GQuark quark;

  if (G_UNLIKELY (quark == 0))
    quark = g_quark_from_static_string ("sm-event-cancel-group");
  return quark;
}

/* The cancellable is finalized: its handlers are gone already */
static void
cancel_group_free (gpointer data)
{
  CancelGroup *group = data;

  sm_event_timer_clear (&group->timer);
  g_free (group);
}

static void
on_cancel_group_timer (gpointer user_data)
{
  CancelGroup  *group = user_data;
  /* The watches' references may be the last: the group goes with it */
  GCancellable *cancellable = g_object_ref (group->cancellable);
  GList        *link;

  /* Each runs once; a callback may stop others meanwhile */
  while ((link = g_queue_pop_head_link (&group->watches)) != NULL)
    {
      SmEventCancelWatch *watch = link->data;

      g_clear_object (&watch->cancellable);
      watch->func (watch->user_data);
    }
  g_object_unref (cancellable);
}

/* Runs inside g_cancellable_cancel(): the event loop takes it from here */
static void
on_group_cancelled (GCancellable *cancellable, gpointer user_data)
{
  CancelGroup *group = user_data;

  sm_event_timer_schedule (&group->timer, 0);
}

void
sm_event_cancel_watch_start (SmEventCancelWatch *watch,
                             GCancellable       *cancellable,
                             SmEventFunc         func,
                             gpointer            user_data)
{
  CancelGroup *group;

  g_return_if_fail (watch != NULL && func != NULL);
  g_return_if_fail (G_IS_CANCELLABLE (cancellable));

  group = g_object_get_qdata (G_OBJECT (cancellable), cancel_group_quark ());
  if (group == NULL)
    {
      group = g_new0 (CancelGroup, 1);
      group->cancellable = cancellable;
      g_queue_init (&group->watches);
      sm_event_timer_init (&group->timer, on_cancel_group_timer, group);
      g_object_set_qdata_full (G_OBJECT (cancellable), cancel_group_quark (), group,
                               cancel_group_free);
      /* Called at once if already cancelled */
      group->handler =
          g_cancellable_connect (cancellable, G_CALLBACK (on_group_cancelled), group, NULL);
    }

  *watch = (SmEventCancelWatch){ .cancellable = g_object_ref (cancellable),
                                 .func = func,
                                 .user_data = user_data };
  watch->link.data = watch;
  g_queue_push_tail_link (&group->watches, &watch->link);
  if (g_cancellable_is_cancelled (cancellable))
    sm_event_timer_schedule (&group->timer, 0);
}

void
sm_event_cancel_watch_stop (SmEventCancelWatch *watch)
{
  CancelGroup *group;

  g_return_if_fail (watch != NULL);

  if (watch->cancellable == NULL)
    return;
  group = g_object_get_qdata (G_OBJECT (watch->cancellable), cancel_group_quark ());
  g_queue_unlink (&group->watches, &watch->link);
  g_clear_object (&watch->cancellable);
}
