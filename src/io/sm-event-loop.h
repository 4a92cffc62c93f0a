/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The event core of the connection paths (HACKING.md, "The event core").
 *
 * GLib's main loop polls every descriptor and prepares and checks every
 * GSource of a context on each iteration, so with one or two sources per
 * public connection every event costs O(connections): 5,000 idle
 * keep-alive clients slowed the busy ones fifty-fold. Here one epoll set
 * per GMainContext is attached as a single GSource: connections register
 * their descriptors (SmEventWatch) and deadlines (SmEventTimer) with it,
 * and an iteration costs O(ready events). Listeners, D-Bus and the control
 * plane stay ordinary GSources of the same context.
 *
 * Everything here belongs to the thread-default context of the thread
 * that made it, and is used from that thread only.
 */

#include <gio/gio.h>

G_BEGIN_DECLS

typedef void (*SmEventFunc) (gpointer user_data);

/*
 * A connection's watch on its stream pair: @on_readable runs while
 * @input is readable and reading is wanted, @on_writable while @output
 * is writable and writing is wanted (level-triggered, as a GSource). Both
 * streams must be pollable, and the halves of one GIOStream.
 *
 * A GSocketConnection's streams, and streams that tell their base stream
 * (SmPollableInputStream's get_poll_base, as TLS streams do) down to a
 * socket, are watched in the epoll set; streams that say when they may
 * have become ready (SmPollableInputStream's notifies, as yamux streams
 * do) are dispatched from the loop's pending queue: no GSource at all.
 * Any other stream gets a GSource while it is watched.
 */
typedef struct _SmEventWatch SmEventWatch;

SmEventWatch                *sm_event_watch_new (GPollableInputStream  *input,
                                                 GPollableOutputStream *output,
                                                 SmEventFunc            on_readable,
                                                 SmEventFunc            on_writable,
                                                 gpointer               user_data,
                                                 const char            *name);
/* Who is called from now on (a pooled stream changes hands) */
void                         sm_event_watch_set_callbacks (SmEventWatch *watch,
                                                           SmEventFunc   on_readable,
                                                           SmEventFunc   on_writable,
                                                           gpointer      user_data);
/* What is wanted now; costs a system call only when it changes */
void     sm_event_watch_update (SmEventWatch *watch, gboolean reading, gboolean writing);
/* Safe from the watch's own callbacks: nothing runs for it afterwards */
void     sm_event_watch_free (SmEventWatch *watch);
/* Whether the streams are watched without a GSource */
gboolean sm_event_watch_is_polled (SmEventWatch *watch);

/*
 * A deadline, embedded in its owner: @func runs once when the monotonic
 * time (g_get_monotonic_time(), µs) reaches it. All timers of a context
 * share one heap; moving a deadline later, as keep-alive and body timers
 * do on every request, is O(1).
 */
typedef struct
{
  gint64      deadline; /* -1: disarmed */
  gint64      key;      /* its place in the heap: <= deadline while armed */
  guint       index;    /* 1 + its index in the heap; 0: not in it */
  SmEventFunc func;
  gpointer    user_data;
  gpointer    loop;
} SmEventTimer;

void sm_event_timer_init (SmEventTimer *timer, SmEventFunc func, gpointer user_data);
/* @deadline in µs of monotonic time; -1 disarms */
void sm_event_timer_schedule (SmEventTimer *timer, gint64 deadline);
/* @delay µs from the current iteration's time */
void sm_event_timer_schedule_in (SmEventTimer *timer, gint64 delay);
/* Disarms and leaves the heap: call before the timer's memory goes */
void sm_event_timer_clear (SmEventTimer *timer);

/*
 * A connection's watch on a cancellable shared by many (drain, shutdown),
 * embedded in its owner: @func runs once, from the event loop and not
 * inside g_cancellable_cancel(), after @cancellable is cancelled (or at
 * once if it already is). All watches of one cancellable share a single
 * signal handler, where g_cancellable_connect() would cost each a
 * handler and a closure.
 */
typedef struct
{
  GList         link; /* in its cancellable's list */
  GCancellable *cancellable;
  SmEventFunc   func;
  gpointer      user_data;
} SmEventCancelWatch;

void   sm_event_cancel_watch_start (SmEventCancelWatch *watch,
                                    GCancellable       *cancellable,
                                    SmEventFunc         func,
                                    gpointer            user_data);
/* Harmless if never started, or if it already ran */
void   sm_event_cancel_watch_stop (SmEventCancelWatch *watch);

/* The monotonic time of the current iteration (cached, as g_source_get_time()) */
gint64 sm_event_loop_get_time (void);

G_END_DECLS
