/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-event-loop-private.h"

/* Deadlines: one binary min-heap of SmEventTimer per loop */

static void
heap_set (SmEventLoop *loop, guint i, SmEventTimer *timer)
{
  g_ptr_array_index (loop->timers, i) = timer;
  timer->index = i + 1;
}

static void
heap_sift_up (SmEventLoop *loop, guint i)
{
  SmEventTimer *timer = sm_event_loop_heap_at (loop, i);

  while (i > 0)
    {
      guint parent = (i - 1) / 2;

      if (sm_event_loop_heap_at (loop, parent)->key <= timer->key)
        break;
      heap_set (loop, i, sm_event_loop_heap_at (loop, parent));
      i = parent;
    }
  heap_set (loop, i, timer);
}

static void
heap_sift_down (SmEventLoop *loop, guint i)
{
  SmEventTimer *timer = sm_event_loop_heap_at (loop, i);
  guint         n = loop->timers->len;

  for (;;)
    {
      guint child = 2 * i + 1;

      if (child >= n)
        break;
      if (child + 1 < n &&
          sm_event_loop_heap_at (loop, child + 1)->key < sm_event_loop_heap_at (loop, child)->key)
        child++;
      if (timer->key <= sm_event_loop_heap_at (loop, child)->key)
        break;
      heap_set (loop, i, sm_event_loop_heap_at (loop, child));
      i = child;
    }
  heap_set (loop, i, timer);
}

static void
heap_push (SmEventLoop *loop, SmEventTimer *timer)
{
  g_ptr_array_add (loop->timers, timer);
  heap_sift_up (loop, loop->timers->len - 1);
}

static void
heap_remove (SmEventLoop *loop, SmEventTimer *timer)
{
  guint         i = timer->index - 1;
  SmEventTimer *last = g_ptr_array_steal_index (loop->timers, loop->timers->len - 1);

  timer->index = 0;
  if (last == timer)
    return;
  heap_set (loop, i, last);
  heap_sift_down (loop, i);
  heap_sift_up (loop, last->index - 1);
}

void
sm_event_loop_dispatch_timers (SmEventLoop *loop, gint64 now)
{
  while (sm_event_loop_timers_due (loop, now))
    {
      SmEventTimer *timer = sm_event_loop_heap_at (loop, 0);

      if (timer->deadline < 0)
        {
          heap_remove (loop, timer);
          continue;
        }
      /* Moved later since it was queued: only now is it put where it
       * belongs, and compared again, so that timers fire in order */
      if (timer->key != timer->deadline)
        {
          timer->key = timer->deadline;
          heap_sift_down (loop, 0);
          continue;
        }
      heap_remove (loop, timer);
      timer->deadline = -1;
      timer->func (timer->user_data);
    }
}

void
sm_event_timer_init (SmEventTimer *timer, SmEventFunc func, gpointer user_data)
{
  *timer = (SmEventTimer){
    .deadline = -1, .func = func, .user_data = user_data, .loop = sm_event_loop_get ()
  };
}

void
sm_event_timer_schedule (SmEventTimer *timer, gint64 deadline)
{
  SmEventLoop *loop;

  g_return_if_fail (timer != NULL && timer->func != NULL);

  timer->deadline = deadline < 0 ? -1 : deadline;
  /* A disarmed timer is dropped when it comes to the top */
  if (deadline < 0)
    return;

  loop = timer->loop;

  if (timer->index == 0)
    {
      timer->key = deadline;
      heap_push (loop, timer);
    }
  else if (deadline < timer->key)
    {
      timer->key = deadline;
      heap_sift_up (loop, timer->index - 1);
    }
}

void
sm_event_timer_schedule_in (SmEventTimer *timer, gint64 delay)
{
  g_return_if_fail (timer != NULL && timer->loop != NULL);

  /* The loop's cached time: no clock read, no lookup of the loop */
  sm_event_timer_schedule (timer,
                           g_source_get_time (&((SmEventLoop *) timer->loop)->source) + delay);
}

void
sm_event_timer_clear (SmEventTimer *timer)
{
  g_return_if_fail (timer != NULL);

  timer->deadline = -1;
  if (timer->index != 0)
    heap_remove (timer->loop, timer);
}
