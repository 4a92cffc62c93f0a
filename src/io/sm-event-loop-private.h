/* SPDX-License-Identifier: MIT */
#pragma once

/* What the event core's files share: the loop (sm-event-loop.c) and its
 * timer heap (sm-event-timer.c) */

#include "sm-event-loop.h"

G_BEGIN_DECLS

typedef struct
{
  GSource       source;
  GMainContext *context;
  int           epoll_fd;
  gpointer      epoll_tag;
  GPtrArray    *timers;    /* SmEventTimer *, a binary min-heap on key */
  GQueue        pending;   /* watches ready without their descriptor */
  GQueue        batch;     /* those being dispatched from it now */
  GSList       *graveyard; /* watches freed during this dispatch */
  gboolean      dispatching;
  gboolean      epoll_suspended; /* out of the poll set during a nested iteration */
} SmEventLoop;

/* The loop of the thread-default context, made on first use */
SmEventLoop *sm_event_loop_get (void);

static inline SmEventTimer *
sm_event_loop_heap_at (SmEventLoop *loop, guint i)
{
  return g_ptr_array_index (loop->timers, i);
}

static inline gboolean
sm_event_loop_timers_due (SmEventLoop *loop, gint64 now)
{
  return loop->timers->len > 0 && sm_event_loop_heap_at (loop, 0)->key <= now;
}

/* Runs the timers due at @now, in order */
void sm_event_loop_dispatch_timers (SmEventLoop *loop, gint64 now);

G_END_DECLS
