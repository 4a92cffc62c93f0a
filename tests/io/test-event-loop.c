/* SPDX-License-Identifier: MIT */
/*
 * The event core of sm-event-loop.c: watches in the epoll set, the
 * GSource fallback, layered streams ready by themselves, and the timer heap.
 */

#include "config.h"

#include "sm-event-loop.h"
#include "sm-pollable-input-stream.h"
#include "sm-pollable-output-stream.h"
#include "sm-test-support.h"

typedef struct
{
  SmEventWatch *watch;
  GIOStream    *stream;
  guint         readable;
  guint         writable;
  gboolean      drain;             /* read what is there when readable */
  SmEventWatch *free_on_readable;  /* another watch freed from the callback */
  gboolean      free_self;
} Watcher;

static void
on_readable (gpointer user_data)
{
  Watcher *w = user_data;
  char     buffer[64];

  w->readable++;
  if (w->drain)
    while (g_pollable_input_stream_read_nonblocking (sm_test_input_of (w->stream), buffer,
                                                     sizeof buffer, NULL, NULL) > 0)
      ;
  if (w->free_on_readable != NULL)
    g_clear_pointer (&w->free_on_readable, sm_event_watch_free);
  if (w->free_self)
    g_clear_pointer (&w->watch, sm_event_watch_free);
}

static void
on_writable (gpointer user_data)
{
  Watcher *w = user_data;

  w->writable++;
}

static void
watcher_init (Watcher *w, GIOStream *stream)
{
  *w = (Watcher){ .stream = stream };
  w->watch = sm_event_watch_new (sm_test_input_of (stream), sm_test_output_of (stream),
                                 on_readable, on_writable, w, "test watch");
}

/* A socket's streams are polled in the epoll set, level-triggered, and
 * only for what is wanted */
static void
test_socket_watch (void)
{
  g_autoptr (GIOStream) a = NULL;
  g_autoptr (GIOStream) b = NULL;
  Watcher w;

  sm_test_socketpair (&a, &b);
  watcher_init (&w, a);
  g_assert_true (sm_event_watch_is_polled (w.watch));

  sm_event_watch_update (w.watch, TRUE, FALSE);
  sm_test_settle ();
  g_assert_cmpuint (w.readable, ==, 0);

  sm_test_write_all (b, "hello");
  SM_TEST_WAIT_FOR (w.readable >= 2); /* unread: level-triggered */
  g_assert_cmpuint (w.writable, ==, 0);

  /* Not wanted: quiet, although still readable */
  sm_event_watch_update (w.watch, FALSE, FALSE);
  w.readable = 0;
  sm_test_settle ();
  g_assert_cmpuint (w.readable, ==, 0);

  /* Reading drains it: no more calls */
  w.drain = TRUE;
  sm_event_watch_update (w.watch, TRUE, FALSE);
  SM_TEST_WAIT_FOR (w.readable >= 1);
  sm_test_settle ();
  g_assert_cmpuint (w.readable, ==, 1);

  /* Writable while wanted, and a hang-up makes it readable (EOF) */
  sm_event_watch_update (w.watch, TRUE, TRUE);
  SM_TEST_WAIT_FOR (w.writable >= 1);
  sm_event_watch_update (w.watch, TRUE, FALSE);
  w.readable = 0;
  sm_test_close (b);
  SM_TEST_WAIT_FOR (w.readable >= 1);

  sm_event_watch_free (w.watch);
}

/* Watches freed from a callback, their own or another one whose event is
 * in the same batch, are never called again */
static void
test_free_from_callback (void)
{
  g_autoptr (GIOStream) a1 = NULL;
  g_autoptr (GIOStream) b1 = NULL;
  g_autoptr (GIOStream) a2 = NULL;
  g_autoptr (GIOStream) b2 = NULL;
  Watcher w1, w2;

  sm_test_socketpair (&a1, &b1);
  sm_test_socketpair (&a2, &b2);
  watcher_init (&w1, a1);
  watcher_init (&w2, a2);
  sm_event_watch_update (w1.watch, TRUE, FALSE);
  sm_event_watch_update (w2.watch, TRUE, FALSE);

  /* Whichever runs first frees the other */
  w1.free_on_readable = w2.watch;
  w2.free_on_readable = w1.watch;
  w1.drain = w2.drain = TRUE;
  sm_test_write_all (b1, "x");
  sm_test_write_all (b2, "y");
  SM_TEST_WAIT_FOR (w1.readable + w2.readable >= 1);
  sm_test_settle ();
  g_assert_cmpuint (w1.readable + w2.readable, ==, 1);

  /* The survivor frees itself */
  sm_test_write_all (b1, "x");
  sm_test_write_all (b2, "y");
  if (w1.readable == 1)
    {
      w1.free_on_readable = NULL;
      w1.free_self = TRUE;
      SM_TEST_WAIT_FOR (w1.watch == NULL);
    }
  else
    {
      w2.free_on_readable = NULL;
      w2.free_self = TRUE;
      SM_TEST_WAIT_FOR (w2.watch == NULL);
    }
  sm_test_settle ();
}

/* Streams without a descriptor get GSources: a memory stream is always
 * readable and writable */
static void
test_fallback_watch (void)
{
  g_autoptr (GInputStream) input = g_memory_input_stream_new_from_data ("abc", 3, NULL);
  g_autoptr (GOutputStream) output = g_memory_output_stream_new_resizable ();
  Watcher       w = { 0 };
  SmEventWatch *watch = sm_event_watch_new (G_POLLABLE_INPUT_STREAM (input),
                                            G_POLLABLE_OUTPUT_STREAM (output), on_readable,
                                            on_writable, &w, "test fallback");

  g_assert_false (sm_event_watch_is_polled (watch));
  sm_event_watch_update (watch, TRUE, TRUE);
  SM_TEST_WAIT_FOR (w.readable >= 1 && w.writable >= 1);
  sm_event_watch_update (watch, FALSE, FALSE);
  w.readable = w.writable = 0;
  sm_test_settle ();
  g_assert_cmpuint (w.readable + w.writable, ==, 0);
  sm_event_watch_free (watch);
}

/* A stream layered on a socket stream, ready by itself when told (as a
 * TLS stream holding decrypted bytes) */
#define TEST_TYPE_LAYERED (test_layered_get_type ())
G_DECLARE_FINAL_TYPE (TestLayered, test_layered, TEST, LAYERED, SmPollableInputStream)

struct _TestLayered
{
  SmPollableInputStream parent_instance;
  GObject              *base;
  gboolean              ready;
};

G_DEFINE_FINAL_TYPE (TestLayered, test_layered, SM_TYPE_POLLABLE_INPUT_STREAM)

static GObject *
test_layered_get_poll_base (SmPollableInputStream *stream, gboolean *ready)
{
  *ready = TEST_LAYERED (stream)->ready;
  return TEST_LAYERED (stream)->base;
}

static gboolean
test_layered_is_ready (SmPollableInputStream *stream)
{
  return TEST_LAYERED (stream)->ready;
}

static void
test_layered_class_init (TestLayeredClass *klass)
{
  SM_POLLABLE_INPUT_STREAM_CLASS (klass)->get_poll_base = test_layered_get_poll_base;
  SM_POLLABLE_INPUT_STREAM_CLASS (klass)->is_ready = test_layered_is_ready;
}

static void
test_layered_init (TestLayered *self)
{
}

static void
test_layered_ready_by_itself (void)
{
  g_autoptr (GIOStream) a = NULL;
  g_autoptr (GIOStream) b = NULL;
  g_autoptr (TestLayered) layered = NULL;
  SmEventWatch *watch;
  Watcher       w = { 0 };

  sm_test_socketpair (&a, &b);
  layered = g_object_new (TEST_TYPE_LAYERED, NULL);
  layered->base = G_OBJECT (sm_test_input_of (a));
  watch = sm_event_watch_new (G_POLLABLE_INPUT_STREAM (layered), sm_test_output_of (a),
                              on_readable, on_writable, &w, "test layered");
  g_assert_true (sm_event_watch_is_polled (watch));

  sm_event_watch_update (watch, TRUE, FALSE);
  sm_test_settle ();
  g_assert_cmpuint (w.readable, ==, 0);

  /* Ready without a byte on the socket: dispatched, again and again
   * while it stays so */
  layered->ready = TRUE;
  sm_event_watch_update (watch, TRUE, FALSE);
  SM_TEST_WAIT_FOR (w.readable >= 3);
  layered->ready = FALSE;
  w.readable = 0;
  sm_test_settle ();
  g_assert_cmpuint (w.readable, ==, 0);

  /* The socket still counts */
  sm_test_write_all (b, "z");
  SM_TEST_WAIT_FOR (w.readable >= 1);
  sm_event_watch_free (watch);
}

/* Streams without a descriptor that say when they may be ready (as
 * yamux streams do) */
#define TEST_TYPE_NOTIFYING_IN (test_notifying_in_get_type ())
G_DECLARE_FINAL_TYPE (TestNotifyingIn, test_notifying_in, TEST, NOTIFYING_IN, SmPollableInputStream)
#define TEST_TYPE_NOTIFYING_OUT (test_notifying_out_get_type ())
G_DECLARE_FINAL_TYPE (TestNotifyingOut,
                      test_notifying_out,
                      TEST,
                      NOTIFYING_OUT,
                      SmPollableOutputStream)

struct _TestNotifyingIn
{
  SmPollableInputStream parent_instance;
  gboolean              ready;
};

struct _TestNotifyingOut
{
  SmPollableOutputStream parent_instance;
  gboolean               ready;
};

G_DEFINE_FINAL_TYPE (TestNotifyingIn, test_notifying_in, SM_TYPE_POLLABLE_INPUT_STREAM)
G_DEFINE_FINAL_TYPE (TestNotifyingOut, test_notifying_out, SM_TYPE_POLLABLE_OUTPUT_STREAM)

static gboolean
test_notifying_in_is_ready (SmPollableInputStream *stream)
{
  return TEST_NOTIFYING_IN (stream)->ready;
}

static gboolean
test_notifying_out_is_ready (SmPollableOutputStream *stream)
{
  return TEST_NOTIFYING_OUT (stream)->ready;
}

static void
test_notifying_in_class_init (TestNotifyingInClass *klass)
{
  SM_POLLABLE_INPUT_STREAM_CLASS (klass)->is_ready = test_notifying_in_is_ready;
  SM_POLLABLE_INPUT_STREAM_CLASS (klass)->notifies = TRUE;
}

static void
test_notifying_out_class_init (TestNotifyingOutClass *klass)
{
  SM_POLLABLE_OUTPUT_STREAM_CLASS (klass)->is_ready = test_notifying_out_is_ready;
  SM_POLLABLE_OUTPUT_STREAM_CLASS (klass)->notifies = TRUE;
}

static void
test_notifying_in_init (TestNotifyingIn *self)
{
}

static void
test_notifying_out_init (TestNotifyingOut *self)
{
}

static void
set_ready (TestNotifyingIn *in, TestNotifyingOut *out, gboolean in_ready, gboolean out_ready)
{
  in->ready = in_ready;
  out->ready = out_ready;
  sm_pollable_input_stream_notify (SM_POLLABLE_INPUT_STREAM (in));
  sm_pollable_output_stream_notify (SM_POLLABLE_OUTPUT_STREAM (out));
}

/* No source: dispatched when the streams say so, level-triggered, only
 * for what is wanted; freeing the older of two watches on the same
 * streams leaves the newer one its notifications */
static void
test_notified_watch (void)
{
  g_autoptr (TestNotifyingIn) in = g_object_new (TEST_TYPE_NOTIFYING_IN, NULL);
  g_autoptr (TestNotifyingOut) out = g_object_new (TEST_TYPE_NOTIFYING_OUT, NULL);
  Watcher       w1 = { 0 }, w2 = { 0 };
  SmEventWatch *watch1, *watch2;

  watch1 = sm_event_watch_new (G_POLLABLE_INPUT_STREAM (in), G_POLLABLE_OUTPUT_STREAM (out),
                               on_readable, on_writable, &w1, "test notified");
  g_assert_true (sm_event_watch_is_polled (watch1));
  sm_event_watch_update (watch1, TRUE, FALSE);
  sm_test_settle ();
  g_assert_cmpuint (w1.readable + w1.writable, ==, 0);

  /* Writable but not wanted; then readable */
  set_ready (in, out, FALSE, TRUE);
  sm_test_settle ();
  g_assert_cmpuint (w1.readable + w1.writable, ==, 0);
  set_ready (in, out, TRUE, TRUE);
  SM_TEST_WAIT_FOR (w1.readable >= 3);
  g_assert_cmpuint (w1.writable, ==, 0);
  set_ready (in, out, FALSE, TRUE);
  w1.readable = 0;
  sm_test_settle ();
  g_assert_cmpuint (w1.readable, ==, 0);

  /* Wanting what is ready already dispatches, without a notification */
  sm_event_watch_update (watch1, TRUE, TRUE);
  SM_TEST_WAIT_FOR (w1.writable >= 1);
  sm_event_watch_update (watch1, FALSE, FALSE);

  watch2 = sm_event_watch_new (G_POLLABLE_INPUT_STREAM (in), G_POLLABLE_OUTPUT_STREAM (out),
                               on_readable, on_writable, &w2, "test notified 2");
  sm_event_watch_update (watch2, TRUE, FALSE);
  sm_event_watch_free (watch1);
  w1.readable = w1.writable = 0;
  set_ready (in, out, TRUE, FALSE);
  SM_TEST_WAIT_FOR (w2.readable >= 1);
  g_assert_cmpuint (w1.readable, ==, 0);

  sm_event_watch_free (watch2);
  /* Nobody listens any more */
  set_ready (in, out, TRUE, TRUE);
  sm_test_settle ();
  g_assert_cmpuint (w1.readable + w1.writable, ==, 0);
}

typedef struct
{
  SmEventCancelWatch watch;
  guint              runs;
  gboolean          *inside_cancel;
  gboolean           ran_inside;
} CancelCounter;

static void
on_cancel_watch (gpointer user_data)
{
  CancelCounter *counter = user_data;

  counter->runs++;
  counter->ran_inside |= *counter->inside_cancel;
}

/* Watches of one cancellable run once each, from the loop, not inside
 * g_cancellable_cancel(); a stopped one never; one started after the
 * cancellation runs too */
static void
test_cancel_watches (void)
{
  GCancellable *cancellable = g_cancellable_new ();
  gboolean      inside = FALSE;
  CancelCounter counters[4] = { 0 };

  for (guint i = 0; i < 3; i++)
    {
      counters[i].inside_cancel = &inside;
      sm_event_cancel_watch_start (&counters[i].watch, cancellable, on_cancel_watch, &counters[i]);
    }
  sm_event_cancel_watch_stop (&counters[1].watch);
  sm_test_settle ();
  g_assert_cmpuint (counters[0].runs + counters[1].runs + counters[2].runs, ==, 0);

  inside = TRUE;
  g_cancellable_cancel (cancellable);
  inside = FALSE;
  SM_TEST_WAIT_FOR (counters[0].runs == 1 && counters[2].runs == 1);

  counters[3].inside_cancel = &inside;
  sm_event_cancel_watch_start (&counters[3].watch, cancellable, on_cancel_watch, &counters[3]);
  SM_TEST_WAIT_FOR (counters[3].runs == 1);
  /* Stopping after it ran is harmless; the watches' references are gone */
  sm_event_cancel_watch_stop (&counters[0].watch);
  sm_test_settle ();

  g_assert_cmpuint (counters[0].runs, ==, 1);
  g_assert_cmpuint (counters[1].runs, ==, 0);
  g_assert_cmpuint (counters[2].runs, ==, 1);
  g_assert_cmpuint (counters[3].runs, ==, 1);
  for (guint i = 0; i < 4; i++)
    g_assert_false (counters[i].ran_inside);
  g_assert_cmpint (G_OBJECT (cancellable)->ref_count, ==, 1);
  g_object_unref (cancellable);
}

typedef struct
{
  SmEventTimer timer;
  gint64       fired_at;
  guint        fired;
  guint       *order;
  guint        id;
  gint64       due;
  guint        seq; /* when it fired, counted over all timers */
  SmEventTimer *clear_on_fire;
} TestTimer;

static guint fired_count;

static void
on_test_timer (gpointer user_data)
{
  TestTimer *t = user_data;

  t->fired++;
  t->seq = ++fired_count;
  t->fired_at = g_get_monotonic_time ();
  if (t->id != 0)
    *t->order = *t->order * 10 + t->id;
  if (t->clear_on_fire != NULL)
    sm_event_timer_clear (t->clear_on_fire);
}

static void
test_timer_init (TestTimer *t, guint id, guint *order)
{
  *t = (TestTimer){ .id = id, .order = order };
  sm_event_timer_init (&t->timer, on_test_timer, t);
}

/* Deadlines fire once each, in order, never early; moving one later or
 * earlier moves its firing; a disarmed or cleared one never fires */
static void
test_timers (void)
{
  TestTimer t1, t2, t3, t4, t5;
  guint     order = 0;
  gint64    now = sm_event_loop_get_time ();
  gint64    later;

  test_timer_init (&t1, 1, &order);
  test_timer_init (&t2, 2, &order);
  test_timer_init (&t3, 3, &order);
  test_timer_init (&t4, 4, &order);
  test_timer_init (&t5, 5, &order);

  sm_event_timer_schedule (&t3.timer, now + 30000);
  sm_event_timer_schedule (&t1.timer, now + 10000);
  sm_event_timer_schedule (&t2.timer, now + 20000);
  /* Moved later after it was queued */
  sm_event_timer_schedule (&t4.timer, now + 5000);
  later = now + 40000;
  sm_event_timer_schedule (&t4.timer, later);
  /* Disarmed, and one cleared by the first to fire */
  sm_event_timer_schedule (&t5.timer, now + 1000);
  sm_event_timer_schedule (&t5.timer, -1);
  t1.clear_on_fire = &t2.timer;

  SM_TEST_WAIT_FOR (t4.fired == 1);
  sm_test_settle ();
  g_assert_cmpuint (order, ==, 134);
  g_assert_cmpuint (t1.fired + t3.fired + t4.fired, ==, 3);
  g_assert_cmpuint (t2.fired + t5.fired, ==, 0);
  g_assert_cmpint (t1.fired_at, >=, now + 10000);
  g_assert_cmpint (t4.fired_at, >=, later);

  /* Moved earlier */
  order = 0;
  now = g_get_monotonic_time ();
  sm_event_timer_schedule (&t1.timer, now + 60 * G_USEC_PER_SEC);
  sm_event_timer_schedule (&t1.timer, now + 1000);
  SM_TEST_WAIT_FOR (t1.fired == 2);
  g_assert_cmpuint (order, ==, 1);

  sm_event_timer_clear (&t1.timer);
  sm_event_timer_clear (&t2.timer);
  sm_event_timer_clear (&t3.timer);
  sm_event_timer_clear (&t4.timer);
  sm_event_timer_clear (&t5.timer);
}

/* Many timers in random order come out sorted: the heap holds */
static void
test_timer_heap_order (void)
{
  enum { N = 500 };
  g_autofree TestTimer *timers = g_new0 (TestTimer, N);
  g_autoptr (GRand) rand = g_rand_new_with_seed (42);
  guint  order = 0;
  gint64 now = sm_event_loop_get_time ();
  g_autofree TestTimer **by_seq = g_new0 (TestTimer *, N);
  guint  first_seq = fired_count + 1;
  guint  fired = 0;

  for (guint i = 0; i < N; i++)
    {
      test_timer_init (&timers[i], 0, &order);
      timers[i].due = now + g_rand_int_range (rand, 1000, 50000);
      sm_event_timer_schedule (&timers[i].timer, timers[i].due);
      /* Some move, later or earlier, some go */
      if (i % 7 == 0)
        {
          timers[i].due = now + g_rand_int_range (rand, 1000, 50000);
          sm_event_timer_schedule (&timers[i].timer, timers[i].due);
        }
      if (i % 11 == 0)
        sm_event_timer_clear (&timers[i].timer);
    }
  for (guint i = 0; i < N; i++)
    if (timers[i].timer.deadline >= 0)
      fired++;

  SM_TEST_WAIT_FOR (({
    guint n = 0;
    for (guint i = 0; i < N; i++)
      n += timers[i].fired;
    n == fired;
  }));
  for (guint i = 0; i < N; i++)
    {
      g_assert_cmpuint (timers[i].fired, <=, 1);
      if (timers[i].fired)
        {
          g_assert_cmpint (timers[i].fired_at, >=, timers[i].due);
          by_seq[timers[i].seq - first_seq] = &timers[i];
        }
      sm_event_timer_clear (&timers[i].timer);
    }
  /* Fired in the order of their deadlines */
  for (guint k = 1; k < fired; k++)
    g_assert_cmpint (by_seq[k - 1]->due, <=, by_seq[k]->due);
}

typedef struct
{
  Watcher  w;
  guint    idle_runs;
  guint    polled_fds; /* descriptors a nested iteration polled */
  gboolean nested_done;
} Nesting;

static gboolean
on_nested_idle (gpointer user_data)
{
  ((Nesting *) user_data)->idle_runs++;
  return G_SOURCE_REMOVE;
}

static void
on_readable_nesting (gpointer user_data)
{
  Nesting      *n = user_data;
  GMainContext *context = g_main_context_default ();
  GPollFD       fds[64];
  gint          max_priority, timeout, n_fds;

  n->w.readable++;
  if (n->nested_done)
    return;
  n->nested_done = TRUE;

  /* Other sources run in a nested iteration; we do not, although the
   * socket is still readable */
  g_idle_add (on_nested_idle, n);
  for (guint i = 0; i < 3; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (n->idle_runs, ==, 1);
  g_assert_cmpuint (n->w.readable, ==, 1);

  /* Nor is the epoll descriptor polled (a nested loop would spin on it):
   * only GLib's own wake-up descriptor is */
  g_main_context_prepare (context, &max_priority);
  n_fds = g_main_context_query (context, max_priority, &timeout, fds, G_N_ELEMENTS (fds));
  g_assert_cmpint (n_fds, <=, (gint) G_N_ELEMENTS (fds));
  for (gint i = 0; i < n_fds; i++)
    if (fds[i].events != 0)
      n->polled_fds++;
  g_main_context_check (context, max_priority, fds, n_fds);
  g_main_context_dispatch (context);
  g_assert_cmpuint (n->polled_fds, ==, 1);
  g_assert_cmpuint (n->w.readable, ==, 1);
}

/* The event core's source keeps out of iterations nested in its own
 * dispatch (it may recurse as far as GLib knows, saving the poll-set
 * changes of blocking it), and is back afterwards */
static void
test_nested_iteration (void)
{
  g_autoptr (GIOStream) a = NULL;
  g_autoptr (GIOStream) b = NULL;
  Nesting n = { 0 };

  sm_test_socketpair (&a, &b);
  n.w.stream = a;
  n.w.watch = sm_event_watch_new (sm_test_input_of (a), sm_test_output_of (a), on_readable_nesting,
                                  on_writable, &n, "test watch");
  sm_event_watch_update (n.w.watch, TRUE, FALSE);
  sm_test_write_all (b, "x");

  SM_TEST_WAIT_FOR (n.nested_done);
  /* Still readable: called again once the outer dispatch returned */
  SM_TEST_WAIT_FOR (n.w.readable >= 2);

  sm_event_watch_free (n.w.watch);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/event-loop/socket-watch", test_socket_watch);
  g_test_add_func ("/event-loop/free-from-callback", test_free_from_callback);
  g_test_add_func ("/event-loop/fallback-watch", test_fallback_watch);
  g_test_add_func ("/event-loop/layered-ready-by-itself", test_layered_ready_by_itself);
  g_test_add_func ("/event-loop/notified-watch", test_notified_watch);
  g_test_add_func ("/event-loop/cancel-watches", test_cancel_watches);
  g_test_add_func ("/event-loop/timers", test_timers);
  g_test_add_func ("/event-loop/timer-heap-order", test_timer_heap_order);
  g_test_add_func ("/event-loop/nested-iteration", test_nested_iteration);

  return g_test_run ();
}
