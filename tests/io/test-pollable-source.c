/* SPDX-License-Identifier: MIT */
/*
 * The readiness sources of sm-pollable-source.c.
 */

#include "config.h"

#include <unistd.h>
#include <gio/gunixinputstream.h>

#include "sm-pollable-source.h"
#include "sm-test-support.h"

typedef struct {
  GObject *stream;        /* what the callback was given */
  guint    dispatches;
  guint    depth;         /* callbacks running now */
  guint    max_depth;
  gboolean stop;          /* return G_SOURCE_REMOVE */
} Counter;

static gboolean
on_ready_count (GObject  *stream,
                gpointer  user_data)
{
  Counter *counter = user_data;

  counter->stream = stream;
  counter->dispatches++;
  return counter->stop ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

/* A GSocketConnection's stream gets a source on its socket, which
 * dispatches the stream, level-triggered, as long as data is unread. */
static void
test_socket_read_source (void)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(GSource) source = NULL;
  g_autoptr(GError) error = NULL;
  Counter counter = { 0 };
  char buffer[16];

  sm_test_socketpair (&a, &b);
  source = sm_stream_create_read_source (sm_test_input_of (a), NULL);
  g_assert_cmpstr (g_source_get_name (source), ==, "[socketmaster] socket readable");
  g_source_set_callback (source, G_SOURCE_FUNC (on_ready_count), &counter, NULL);
  g_source_attach (source, NULL);

  sm_test_settle ();
  g_assert_cmpuint (counter.dispatches, ==, 0);

  sm_test_write_all (b, "hello");
  SM_TEST_WAIT_FOR (counter.dispatches >= 1);
  g_assert_true (counter.stream == G_OBJECT (sm_test_input_of (a)));

  /* Still unread: fires again */
  SM_TEST_WAIT_FOR (counter.dispatches >= 2);

  g_assert_cmpint (g_pollable_input_stream_read_nonblocking (sm_test_input_of (a), buffer, sizeof buffer,
                                                             NULL, &error), ==, 5);
  g_assert_no_error (error);
  sm_test_settle ();
  g_assert_cmpuint (counter.dispatches, ==, 2);

  g_source_destroy (source);
}

/* The write source of a full socket fires once the peer makes room. */
static void
test_socket_write_source (void)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(GSource) source = NULL;
  g_autofree char *chunk = g_malloc0 (64 * 1024);
  Counter counter = { 0 };
  gsize filled = 0;

  sm_test_socketpair (&a, &b);
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_pollable_output_stream_write_nonblocking (sm_test_output_of (a), chunk, 64 * 1024,
                                                             NULL, &error);
      if (n < 0)
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
          break;
        }
      filled += n;
    }

  source = sm_stream_create_write_source (sm_test_output_of (a), NULL);
  g_assert_cmpstr (g_source_get_name (source), ==, "[socketmaster] socket writable");
  g_source_set_callback (source, G_SOURCE_FUNC (on_ready_count), &counter, NULL);
  g_source_attach (source, NULL);
  sm_test_settle ();
  g_assert_cmpuint (counter.dispatches, ==, 0);

  while (filled > 0)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_input_stream_read (g_io_stream_get_input_stream (b), chunk, 64 * 1024,
                                      NULL, &error);

      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      filled -= n;
    }
  counter.stop = TRUE;
  SM_TEST_WAIT_FOR (counter.dispatches >= 1);
  g_assert_cmpuint (counter.dispatches, ==, 1);
  g_assert_true (counter.stream == G_OBJECT (sm_test_output_of (a)));
  g_assert_true (g_source_is_destroyed (source));
}

/* Only a GSocketConnection's own streams have a socket; a
 * GTcpWrapperConnection's socket is not what its streams read. */
static void
test_get_socket (void)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(GInputStream) memory = g_memory_input_stream_new_from_data ("x", 1, NULL);
  g_autoptr(GOutputStream) sink = g_memory_output_stream_new_resizable ();
  g_autoptr(GIOStream) simple = g_simple_io_stream_new (memory, sink);
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketConnection) wrapper = NULL;
  g_autoptr(GError) error = NULL;

  sm_test_socketpair (&a, &b);
  g_assert_true (sm_stream_get_socket (G_OBJECT (sm_test_input_of (a))) ==
                 g_socket_connection_get_socket (G_SOCKET_CONNECTION (a)));
  g_assert_true (sm_stream_get_socket (G_OBJECT (sm_test_output_of (a))) ==
                 g_socket_connection_get_socket (G_SOCKET_CONNECTION (a)));

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  wrapper = g_tcp_wrapper_connection_new (simple, socket);
  g_assert_null (sm_stream_get_socket (G_OBJECT (g_io_stream_get_input_stream (G_IO_STREAM (wrapper)))));
  g_assert_null (sm_stream_get_socket (G_OBJECT (memory)));
}

/* Streams that are not a socket connection's own get their own source. */
static void
test_fallback_source (void)
{
  g_autoptr(GInputStream) memory = g_memory_input_stream_new_from_data ("x", 1, NULL);
  g_autoptr(GSource) source = NULL;
  Counter counter = { 0 };

  source = sm_stream_create_read_source (G_POLLABLE_INPUT_STREAM (memory), NULL);
  g_assert_cmpstr (g_source_get_name (source), !=, "[socketmaster] socket readable");
  counter.stop = TRUE;
  g_source_set_callback (source, G_SOURCE_FUNC (on_ready_count), &counter, NULL);
  g_source_attach (source, NULL);
  SM_TEST_WAIT_FOR (counter.dispatches >= 1);
  g_assert_true (counter.stream == G_OBJECT (memory));
}

/* A source over in-process state, as the yamux and TLS streams use */

#define TEST_TYPE_FLAG (test_flag_get_type ())
G_DECLARE_FINAL_TYPE (TestFlag, test_flag, TEST, FLAG, GObject)

struct _TestFlag
{
  GObject  parent_instance;
  gboolean ready;
};

G_DEFINE_TYPE (TestFlag, test_flag, G_TYPE_OBJECT)

static void
test_flag_class_init (TestFlagClass *klass)
{
}

static void
test_flag_init (TestFlag *self)
{
}

static gboolean
flag_is_ready (GObject *object)
{
  return TEST_FLAG (object)->ready;
}

static void
test_ready_func (void)
{
  g_autoptr(GInputStream) memory = g_memory_input_stream_new ();
  g_autoptr(TestFlag) flag = g_object_new (TEST_TYPE_FLAG, NULL);
  g_autoptr(GSource) source = NULL;
  Counter counter = { 0 };

  source = sm_pollable_source_new (G_OBJECT (memory), flag_is_ready, G_OBJECT (flag), NULL);
  g_source_set_callback (source, G_SOURCE_FUNC (on_ready_count), &counter, NULL);
  g_source_attach (source, NULL);
  sm_test_settle ();
  g_assert_cmpuint (counter.dispatches, ==, 0);

  flag->ready = TRUE;
  g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (counter.dispatches, ==, 1);
  g_assert_true (counter.stream == G_OBJECT (memory));
  g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (counter.dispatches, ==, 2);

  flag->ready = FALSE;
  sm_test_settle ();
  g_assert_cmpuint (counter.dispatches, ==, 2);
  g_source_destroy (source);
}

static void
test_cancellable (void)
{
  g_autoptr(GInputStream) memory = g_memory_input_stream_new ();
  g_autoptr(TestFlag) flag = g_object_new (TEST_TYPE_FLAG, NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GSource) source = NULL;
  Counter counter = { 0 };

  source = sm_pollable_source_new (G_OBJECT (memory), flag_is_ready, G_OBJECT (flag), cancellable);
  counter.stop = TRUE;
  g_source_set_callback (source, G_SOURCE_FUNC (on_ready_count), &counter, NULL);
  g_source_attach (source, NULL);
  sm_test_settle ();
  g_assert_cmpuint (counter.dispatches, ==, 0);

  g_cancellable_cancel (cancellable);
  SM_TEST_WAIT_FOR (counter.dispatches >= 1);
  g_assert_cmpuint (counter.dispatches, ==, 1);
}

/* libsoup sets closures and dummy callbacks on stream sources */
static gboolean
on_closure_ready (GObject  *stream,
                  gpointer  user_data)
{
  guint *calls = user_data;

  g_assert_true (G_IS_INPUT_STREAM (stream));
  (*calls)++;
  return G_SOURCE_REMOVE;
}

static void
test_closure (void)
{
  g_autoptr(GInputStream) memory = g_memory_input_stream_new ();
  g_autoptr(TestFlag) flag = g_object_new (TEST_TYPE_FLAG, NULL);
  g_autoptr(GSource) source = NULL;
  guint calls = 0;
  GClosure *closure;

  flag->ready = TRUE;
  source = sm_pollable_source_new (G_OBJECT (memory), flag_is_ready, G_OBJECT (flag), NULL);
  closure = g_cclosure_new (G_CALLBACK (on_closure_ready), &calls, NULL);
  g_source_set_closure (source, closure);
  g_source_attach (source, NULL);
  g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (calls, ==, 1);
  g_assert_true (g_source_is_destroyed (source));
}

static void
test_dummy_callback (void)
{
  g_autoptr(GInputStream) memory = g_memory_input_stream_new ();
  g_autoptr(TestFlag) flag = g_object_new (TEST_TYPE_FLAG, NULL);
  g_autoptr(GSource) dummy = NULL;

  flag->ready = TRUE;
  dummy = sm_pollable_source_new (G_OBJECT (memory), flag_is_ready, G_OBJECT (flag), NULL);
  g_source_set_dummy_callback (dummy);
  g_source_attach (dummy, NULL);
  g_main_context_iteration (NULL, FALSE);
  g_assert_false (g_source_is_destroyed (dummy));
  g_source_destroy (dummy);
}

/* A nested iteration inside the callback (a blocking call, say) must not
 * run the callback again, although the socket stays readable; other
 * sources do run, and the source fires again once the callback returns. */
typedef struct {
  Counter  counter;
  gboolean other_ran;
} NestedData;

static gboolean
on_other (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
on_ready_nested (GObject  *stream,
                 gpointer  user_data)
{
  NestedData *data = user_data;

  data->counter.dispatches++;
  data->counter.depth++;
  data->counter.max_depth = MAX (data->counter.max_depth, data->counter.depth);
  if (data->counter.dispatches == 1)
    {
      g_idle_add (on_other, &data->other_ran);
      for (guint i = 0; i < 5; i++)
        g_main_context_iteration (NULL, FALSE);
    }
  data->counter.depth--;
  return G_SOURCE_CONTINUE;
}

static void
test_no_recursion (void)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GSource) source = NULL;
  NestedData data = { { 0 } };

  sm_test_socketpair (&a, &b);
  source = sm_stream_create_read_source (sm_test_input_of (a), cancellable);
  g_source_set_callback (source, G_SOURCE_FUNC (on_ready_nested), &data, NULL);
  g_source_attach (source, NULL);

  sm_test_write_all (b, "x");
  SM_TEST_WAIT_FOR (data.counter.dispatches >= 1);
  g_assert_cmpuint (data.counter.dispatches, ==, 1);
  g_assert_cmpuint (data.counter.max_depth, ==, 1);
  g_assert_true (data.other_ran);

  /* Back in the poll set: still readable, so it fires again */
  SM_TEST_WAIT_FOR (data.counter.dispatches >= 2);
  g_assert_cmpuint (data.counter.max_depth, ==, 1);
  g_source_destroy (source);
}

/* Cancelled during a nested iteration of the callback: dispatched once
 * the callback has returned, not inside it. */
static gboolean
on_ready_cancel_nested (GObject  *stream,
                        gpointer  user_data)
{
  Counter *counter = user_data;
  GCancellable *cancellable = G_CANCELLABLE (counter->stream);

  counter->dispatches++;
  counter->depth++;
  counter->max_depth = MAX (counter->max_depth, counter->depth);
  if (counter->dispatches == 1)
    {
      g_cancellable_cancel (cancellable);
      for (guint i = 0; i < 5; i++)
        g_main_context_iteration (NULL, FALSE);
    }
  counter->depth--;
  return G_SOURCE_CONTINUE;
}

static void
test_cancelled_while_dispatching (void)
{
  g_autoptr(GInputStream) memory = g_memory_input_stream_new ();
  g_autoptr(TestFlag) flag = g_object_new (TEST_TYPE_FLAG, NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GSource) source = NULL;
  Counter counter = { 0 };

  counter.stream = G_OBJECT (cancellable);
  flag->ready = TRUE;
  source = sm_pollable_source_new (G_OBJECT (memory), flag_is_ready, G_OBJECT (flag), cancellable);
  g_source_set_callback (source, G_SOURCE_FUNC (on_ready_cancel_nested), &counter, NULL);
  g_source_attach (source, NULL);

  g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (counter.dispatches, ==, 1);
  flag->ready = FALSE;
  g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (counter.dispatches, ==, 2);
  g_assert_cmpuint (counter.max_depth, ==, 1);
  sm_test_settle ();
  g_assert_cmpuint (counter.dispatches, ==, 2);
  g_source_destroy (source);
}

/* A base that is no socket (a pipe) is watched through a child source. */
static void
test_pipe_base (void)
{
  g_autoptr(GInputStream) memory = g_memory_input_stream_new ();
  g_autoptr(GInputStream) pipe_input = NULL;
  g_autoptr(TestFlag) flag = g_object_new (TEST_TYPE_FLAG, NULL);
  g_autoptr(GSource) source = NULL;
  Counter counter = { 0 };
  int fds[2];

  g_assert_no_errno (pipe (fds));
  pipe_input = g_unix_input_stream_new (fds[0], TRUE);
  source = sm_pollable_source_new (G_OBJECT (memory), flag_is_ready, G_OBJECT (flag), NULL);
  sm_pollable_source_add_base (source, G_OBJECT (pipe_input), G_IO_IN);
  g_source_set_callback (source, G_SOURCE_FUNC (on_ready_count), &counter, NULL);
  g_source_attach (source, NULL);
  sm_test_settle ();
  g_assert_cmpuint (counter.dispatches, ==, 0);

  g_assert_cmpint (write (fds[1], "x", 1), ==, 1);
  counter.stop = TRUE;
  SM_TEST_WAIT_FOR (counter.dispatches >= 1);
  g_assert_true (counter.stream == G_OBJECT (memory));
  close (fds[1]);
}

/* The point of all this: dispatching a socket source leaves the poll set
 * alone, so nothing signals the context's wake-up fd. A poll function
 * that sees our fds counts how often another one (the wake-up fd, the
 * only other one in this context) was ready. */
static int wakeups;
static int watched_fd;

static gint
counting_poll (GPollFD *fds,
               guint    nfds,
               gint     timeout)
{
  gint ret = g_poll (fds, nfds, timeout);

  for (guint i = 0; i < nfds; i++)
    if (fds[i].fd != watched_fd && (fds[i].revents & G_IO_IN))
      wakeups++;
  return ret;
}

static gboolean
on_ready_read (GObject  *stream,
               gpointer  user_data)
{
  guint *reads = user_data;
  char buffer[64];

  g_assert_cmpint (g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (stream),
                                                             buffer, sizeof buffer, NULL, NULL), >, 0);
  (*reads)++;
  return G_SOURCE_CONTINUE;
}

static guint
count_wakeups (gboolean ours)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  g_autoptr(GSource) source = NULL;
  GSource *deadline;
  gboolean expired;
  guint reads = 0;

  g_main_context_push_thread_default (context);
  sm_test_socketpair (&a, &b);
  watched_fd = g_socket_get_fd (g_socket_connection_get_socket (G_SOCKET_CONNECTION (a)));
  g_main_context_set_poll_func (context, counting_poll);
  source = ours ? sm_stream_create_read_source (sm_test_input_of (a), NULL)
                : g_pollable_input_stream_create_source (sm_test_input_of (a), NULL);
  g_source_set_callback (source, G_SOURCE_FUNC (on_ready_read), &reads, NULL);
  g_source_attach (source, context);
  while (g_main_context_iteration (context, FALSE))
    ;

  deadline = sm_test_deadline_new (context, &expired);
  wakeups = 0;
  for (guint i = 0; i < 10 && !expired; i++)
    {
      sm_test_write_all (b, "ping");
      while (reads < i + 1 && !expired)
        g_main_context_iteration (context, TRUE);
    }
  while (g_main_context_iteration (context, FALSE))
    ;
  sm_test_deadline_clear (&deadline);
  g_assert_false (expired);

  g_source_destroy (source);
  g_main_context_pop_thread_default (context);
  return wakeups;
}

static void
test_no_wakeups (void)
{
  /* GLib's own source wakes the context on every dispatch: the check
   * that the counter sees what it should */
  g_assert_cmpuint (count_wakeups (FALSE), >=, 10);
  g_assert_cmpuint (count_wakeups (TRUE), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/pollable-source/socket-read", test_socket_read_source);
  g_test_add_func ("/pollable-source/socket-write", test_socket_write_source);
  g_test_add_func ("/pollable-source/get-socket", test_get_socket);
  g_test_add_func ("/pollable-source/fallback", test_fallback_source);
  g_test_add_func ("/pollable-source/ready-func", test_ready_func);
  g_test_add_func ("/pollable-source/cancellable", test_cancellable);
  g_test_add_func ("/pollable-source/closure", test_closure);
  g_test_add_func ("/pollable-source/dummy-callback", test_dummy_callback);
  g_test_add_func ("/pollable-source/no-recursion", test_no_recursion);
  g_test_add_func ("/pollable-source/cancelled-while-dispatching", test_cancelled_while_dispatching);
  g_test_add_func ("/pollable-source/pipe-base", test_pipe_base);
  g_test_add_func ("/pollable-source/no-wakeups", test_no_wakeups);

  return g_test_run ();
}
