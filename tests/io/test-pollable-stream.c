/* SPDX-License-Identifier: MIT */
/*
 * The base classes of sm-pollable-input-stream.c and
 * sm-pollable-output-stream.c, through small subclasses: queues in memory
 * whose readiness changes in dispatches of the main context (as a yamux
 * stream's does), and a pipe watched through its file descriptor (as a
 * TLS stream watches its socket).
 */

#include "config.h"

#include <string.h>
#include <unistd.h>
#include <gio/gunixinputstream.h>

#include "sm-pollable-input-stream.h"
#include "sm-pollable-output-stream.h"
#include "sm-pollable-source.h"
#include "sm-test-support.h"

/* ---- An input stream over a byte queue ---- */

#define TEST_TYPE_QUEUE_INPUT (test_queue_input_get_type ())
G_DECLARE_FINAL_TYPE (TestQueueInput, test_queue_input, TEST, QUEUE_INPUT, SmPollableInputStream)

struct _TestQueueInput
{
  SmPollableInputStream parent_instance;
  GByteArray           *queue;
  gboolean              eof;
  GMainContext         *context; /* NULL: the base class's default */
  guint                 closes;
  GThread              *close_thread;
};

G_DEFINE_TYPE (TestQueueInput, test_queue_input, SM_TYPE_POLLABLE_INPUT_STREAM)

static gboolean
queue_input_is_ready (SmPollableInputStream *stream)
{
  TestQueueInput *self = TEST_QUEUE_INPUT (stream);

  return self->queue->len > 0 || self->eof;
}

static gssize
queue_input_read_nonblocking (SmPollableInputStream *stream,
                              void                  *buffer,
                              gsize                  count,
                              GError               **error)
{
  TestQueueInput *self = TEST_QUEUE_INPUT (stream);
  gsize n = MIN (count, self->queue->len);

  if (n > 0)
    {
      memcpy (buffer, self->queue->data, n);
      g_byte_array_remove_range (self->queue, 0, n);
      return n;
    }
  if (self->eof)
    return 0;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "Empty");
  return -1;
}

static GMainContext *
queue_input_get_context (SmPollableInputStream *stream)
{
  TestQueueInput *self = TEST_QUEUE_INPUT (stream);

  if (self->context != NULL)
    return self->context;
  return SM_POLLABLE_INPUT_STREAM_CLASS (test_queue_input_parent_class)->get_context (stream);
}

static gboolean
queue_input_close (GInputStream *stream, GCancellable *cancellable, GError **error)
{
  TestQueueInput *self = TEST_QUEUE_INPUT (stream);

  self->closes++;
  self->close_thread = g_thread_self ();
  return TRUE;
}

static void
queue_input_finalize (GObject *object)
{
  TestQueueInput *self = TEST_QUEUE_INPUT (object);

  g_byte_array_unref (self->queue);
  g_clear_pointer (&self->context, g_main_context_unref);
  G_OBJECT_CLASS (test_queue_input_parent_class)->finalize (object);
}

static void
test_queue_input_class_init (TestQueueInputClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = queue_input_finalize;
  G_INPUT_STREAM_CLASS (klass)->close_fn = queue_input_close;
  klass->parent_class.source_name = "test queue readable";
  klass->parent_class.is_ready = queue_input_is_ready;
  klass->parent_class.read_nonblocking = queue_input_read_nonblocking;
  klass->parent_class.get_context = queue_input_get_context;
}

static void
test_queue_input_init (TestQueueInput *self)
{
  self->queue = g_byte_array_new ();
}

/* ---- An output stream with room for so many bytes ---- */

#define TEST_TYPE_QUEUE_OUTPUT (test_queue_output_get_type ())
G_DECLARE_FINAL_TYPE (TestQueueOutput, test_queue_output, TEST, QUEUE_OUTPUT, SmPollableOutputStream)

struct _TestQueueOutput
{
  SmPollableOutputStream parent_instance;
  GByteArray            *written;
  gsize                  room;
  gboolean               fail_close;
  guint                  closes;
  GThread               *close_thread;
};

G_DEFINE_TYPE (TestQueueOutput, test_queue_output, SM_TYPE_POLLABLE_OUTPUT_STREAM)

static gboolean
queue_output_is_ready (SmPollableOutputStream *stream)
{
  return TEST_QUEUE_OUTPUT (stream)->room > 0;
}

static gssize
queue_output_write_nonblocking (SmPollableOutputStream *stream,
                                const void             *buffer,
                                gsize                   count,
                                GError                **error)
{
  TestQueueOutput *self = TEST_QUEUE_OUTPUT (stream);
  gsize n = MIN (count, self->room);

  if (n == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "Full");
      return -1;
    }
  g_byte_array_append (self->written, buffer, n);
  self->room -= n;
  return n;
}

static gboolean
queue_output_close (GOutputStream *stream, GCancellable *cancellable, GError **error)
{
  TestQueueOutput *self = TEST_QUEUE_OUTPUT (stream);

  self->closes++;
  self->close_thread = g_thread_self ();
  if (self->fail_close)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "Close failed");
      return FALSE;
    }
  return TRUE;
}

static void
queue_output_finalize (GObject *object)
{
  g_byte_array_unref (TEST_QUEUE_OUTPUT (object)->written);
  G_OBJECT_CLASS (test_queue_output_parent_class)->finalize (object);
}

static void
test_queue_output_class_init (TestQueueOutputClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = queue_output_finalize;
  G_OUTPUT_STREAM_CLASS (klass)->close_fn = queue_output_close;
  klass->parent_class.is_ready = queue_output_is_ready;
  klass->parent_class.write_nonblocking = queue_output_write_nonblocking;
}

static void
test_queue_output_init (TestQueueOutput *self)
{
  self->written = g_byte_array_new ();
}

/* ---- An input stream over a pipe, watched through its descriptor ---- */

#define TEST_TYPE_PIPE_INPUT (test_pipe_input_get_type ())
G_DECLARE_FINAL_TYPE (TestPipeInput, test_pipe_input, TEST, PIPE_INPUT, SmPollableInputStream)

struct _TestPipeInput
{
  SmPollableInputStream parent_instance;
  GPollableInputStream *base;
};

G_DEFINE_TYPE (TestPipeInput, test_pipe_input, SM_TYPE_POLLABLE_INPUT_STREAM)

static gboolean
pipe_input_is_ready (SmPollableInputStream *stream)
{
  return g_pollable_input_stream_is_readable (TEST_PIPE_INPUT (stream)->base);
}

static gssize
pipe_input_read_nonblocking (SmPollableInputStream *stream,
                             void                  *buffer,
                             gsize                  count,
                             GError               **error)
{
  return g_pollable_input_stream_read_nonblocking (TEST_PIPE_INPUT (stream)->base, buffer, count,
                                                   NULL, error);
}

/* Only the base tells readiness */
static GSource *
pipe_input_create_source (SmPollableInputStream *stream, GCancellable *cancellable)
{
  GSource *source = sm_pollable_source_new (G_OBJECT (stream), NULL, NULL, cancellable);

  sm_pollable_source_add_base (source, G_OBJECT (TEST_PIPE_INPUT (stream)->base), G_IO_IN);
  return source;
}

static void
pipe_input_finalize (GObject *object)
{
  g_clear_object (&TEST_PIPE_INPUT (object)->base);
  G_OBJECT_CLASS (test_pipe_input_parent_class)->finalize (object);
}

static void
test_pipe_input_class_init (TestPipeInputClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pipe_input_finalize;
  klass->parent_class.is_ready = pipe_input_is_ready;
  klass->parent_class.read_nonblocking = pipe_input_read_nonblocking;
  klass->parent_class.create_source = pipe_input_create_source;
}

static void
test_pipe_input_init (TestPipeInput *self)
{
}

/* ---- Helpers ---- */

static gboolean
feed_hello (gpointer user_data)
{
  g_byte_array_append (TEST_QUEUE_INPUT (user_data)->queue, (const guint8 *) "hello", 5);
  return G_SOURCE_REMOVE;
}

static gboolean
set_eof (gpointer user_data)
{
  TEST_QUEUE_INPUT (user_data)->eof = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
make_room (gpointer user_data)
{
  TEST_QUEUE_OUTPUT (user_data)->room = 3;
  return G_SOURCE_REMOVE;
}

static gboolean
cancel (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

/* An idle on @context (NULL: the default one) that calls @func (@data) */
static void
add_idle (GMainContext *context, GSourceFunc func, gpointer data)
{
  g_autoptr (GSource) idle = g_idle_source_new ();

  g_source_set_callback (idle, func, data, NULL);
  g_source_attach (idle, context);
}

static gboolean
count_dispatch (GObject *stream, gpointer user_data)
{
  (*(guint *) user_data)++;
  return G_SOURCE_CONTINUE;
}

typedef struct
{
  gboolean      done;
  GAsyncResult *result;
} AsyncDone;

static void
on_async_done (GObject *object, GAsyncResult *result, gpointer user_data)
{
  AsyncDone *done = user_data;

  done->done = TRUE;
  done->result = g_object_ref (result);
}

/* ---- Tests ---- */

/* The interface over the class methods: can_poll by default, readiness,
 * a level-triggered source named after the class, non-blocking reads */
static void
test_pollable_interface (void)
{
  g_autoptr (TestQueueInput) input = g_object_new (TEST_TYPE_QUEUE_INPUT, NULL);
  GPollableInputStream *pollable = G_POLLABLE_INPUT_STREAM (input);
  g_autoptr (GSource) source = NULL;
  g_autoptr (GError) error = NULL;
  guint dispatches = 0;
  char buffer[8];

  g_assert_true (g_pollable_input_stream_can_poll (pollable));
  g_assert_false (g_pollable_input_stream_is_readable (pollable));
  g_assert_cmpint (g_pollable_input_stream_read_nonblocking (pollable, buffer, sizeof buffer, NULL,
                                                             &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);

  source = g_pollable_input_stream_create_source (pollable, NULL);
  g_assert_cmpstr (g_source_get_name (source), ==, "test queue readable");
  g_source_set_callback (source, G_SOURCE_FUNC (count_dispatch), &dispatches, NULL);
  g_source_attach (source, NULL);
  sm_test_settle ();
  g_assert_cmpuint (dispatches, ==, 0);

  feed_hello (input);
  g_assert_true (g_pollable_input_stream_is_readable (pollable));
  SM_TEST_WAIT_FOR (dispatches >= 2);
  g_assert_cmpint (g_pollable_input_stream_read_nonblocking (pollable, buffer, sizeof buffer, NULL,
                                                             NULL), ==, 5);
  sm_test_settle ();
  dispatches = 0;
  sm_test_settle ();
  g_assert_cmpuint (dispatches, ==, 0);
  g_source_destroy (source);
}

/* A blocking read iterates the context until the data comes, or EOF */
static void
test_blocking_read_waits (void)
{
  g_autoptr (TestQueueInput) input = g_object_new (TEST_TYPE_QUEUE_INPUT, NULL);
  g_autoptr (GError) error = NULL;
  char buffer[8] = { 0 };

  add_idle (NULL, feed_hello, input);
  g_assert_cmpint (g_input_stream_read (G_INPUT_STREAM (input), buffer, sizeof buffer, NULL, &error),
                   ==, 5);
  g_assert_no_error (error);
  g_assert_cmpmem (buffer, 5, "hello", 5);

  add_idle (NULL, set_eof, input);
  g_assert_cmpint (g_input_stream_read (G_INPUT_STREAM (input), buffer, sizeof buffer, NULL, &error),
                   ==, 0);
  g_assert_no_error (error);
}

/* ...and fails once its cancellable is cancelled */
static void
test_blocking_read_cancelled (void)
{
  g_autoptr (TestQueueInput) input = g_object_new (TEST_TYPE_QUEUE_INPUT, NULL);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  char buffer[8];

  add_idle (NULL, cancel, cancellable);
  g_assert_cmpint (g_input_stream_read (G_INPUT_STREAM (input), buffer, sizeof buffer, cancellable,
                                        &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* It iterates the context the stream names, not the thread-default one:
 * an idle there would cancel the read. */
static void
test_blocking_read_own_context (void)
{
  g_autoptr (TestQueueInput) input = g_object_new (TEST_TYPE_QUEUE_INPUT, NULL);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GSource) canary = g_idle_source_new ();
  g_autoptr (GError) error = NULL;
  char buffer[8];

  input->context = g_main_context_new ();
  add_idle (input->context, feed_hello, input);
  g_source_set_callback (canary, cancel, cancellable, NULL);
  g_source_attach (canary, NULL);

  g_assert_cmpint (g_input_stream_read (G_INPUT_STREAM (input), buffer, sizeof buffer, cancellable,
                                        &error), ==, 5);
  g_assert_no_error (error);
  g_assert_false (g_cancellable_is_cancelled (cancellable));
  g_source_destroy (canary);
}

typedef struct
{
  GMainContext *context;
  GMutex        lock;
  GCond         cond;
  gboolean      owned;
  gboolean      release;
} ContextOwner;

static gpointer
own_context (gpointer data)
{
  ContextOwner *owner = data;

  g_assert_true (g_main_context_acquire (owner->context));
  g_mutex_lock (&owner->lock);
  owner->owned = TRUE;
  g_cond_broadcast (&owner->cond);
  while (!owner->release)
    g_cond_wait (&owner->cond, &owner->lock);
  g_mutex_unlock (&owner->lock);
  g_main_context_release (owner->context);
  return NULL;
}

/* Only the thread that can acquire that context may block on it */
static void
test_blocking_read_other_thread (void)
{
  g_autoptr (TestQueueInput) input = g_object_new (TEST_TYPE_QUEUE_INPUT, NULL);
  g_autoptr (GError) error = NULL;
  ContextOwner owner = { 0 };
  GThread *thread;
  char buffer[8];

  input->context = g_main_context_new ();
  owner.context = input->context;
  g_mutex_init (&owner.lock);
  g_cond_init (&owner.cond);
  thread = g_thread_new ("context owner", own_context, &owner);
  g_mutex_lock (&owner.lock);
  while (!owner.owned)
    g_cond_wait (&owner.cond, &owner.lock);
  g_mutex_unlock (&owner.lock);

  g_assert_cmpint (g_input_stream_read (G_INPUT_STREAM (input), buffer, sizeof buffer, NULL,
                                        &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);

  g_mutex_lock (&owner.lock);
  owner.release = TRUE;
  g_cond_broadcast (&owner.cond);
  g_mutex_unlock (&owner.lock);
  g_thread_join (thread);
  g_mutex_clear (&owner.lock);
  g_cond_clear (&owner.cond);
}

/* A blocking write waits for room, and takes what fits */
static void
test_blocking_write_waits (void)
{
  g_autoptr (TestQueueOutput) output = g_object_new (TEST_TYPE_QUEUE_OUTPUT, NULL);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;

  add_idle (NULL, make_room, output);
  g_assert_cmpint (g_output_stream_write (G_OUTPUT_STREAM (output), "hello", 5, NULL, &error), ==,
                   3);
  g_assert_no_error (error);
  g_assert_cmpmem (output->written->data, output->written->len, "hel", 3);

  add_idle (NULL, cancel, cancellable);
  g_assert_cmpint (g_output_stream_write (G_OUTPUT_STREAM (output), "lo", 2, cancellable, &error),
                   ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (output->written->len, ==, 3);
}

/* close_async calls close_fn right away in the calling thread; the
 * result comes from the main context, as GTask does it. */
static void
test_close_async_in_place (void)
{
  g_autoptr (TestQueueInput) input = g_object_new (TEST_TYPE_QUEUE_INPUT, NULL);
  g_autoptr (TestQueueOutput) output = g_object_new (TEST_TYPE_QUEUE_OUTPUT, NULL);
  g_autoptr (GError) error = NULL;
  AsyncDone input_done = { 0 };
  AsyncDone output_done = { 0 };

  g_input_stream_close_async (G_INPUT_STREAM (input), G_PRIORITY_DEFAULT, NULL, on_async_done,
                              &input_done);
  g_output_stream_close_async (G_OUTPUT_STREAM (output), G_PRIORITY_DEFAULT, NULL, on_async_done,
                               &output_done);
  g_assert_cmpuint (input->closes, ==, 1);
  g_assert_true (input->close_thread == g_thread_self ());
  g_assert_cmpuint (output->closes, ==, 1);
  g_assert_true (output->close_thread == g_thread_self ());
  g_assert_false (input_done.done);

  SM_TEST_WAIT_FOR (input_done.done && output_done.done);
  g_assert_true (g_input_stream_close_finish (G_INPUT_STREAM (input), input_done.result, &error));
  g_assert_no_error (error);
  g_assert_true (
      g_output_stream_close_finish (G_OUTPUT_STREAM (output), output_done.result, &error));
  g_assert_no_error (error);
  g_assert_true (g_input_stream_is_closed (G_INPUT_STREAM (input)));
  g_assert_true (g_output_stream_is_closed (G_OUTPUT_STREAM (output)));
  g_object_unref (input_done.result);
  g_object_unref (output_done.result);
}

/* ...and a failing close_fn fails the task */
static void
test_close_async_fails (void)
{
  g_autoptr (TestQueueOutput) output = g_object_new (TEST_TYPE_QUEUE_OUTPUT, NULL);
  g_autoptr (GError) error = NULL;
  AsyncDone done = { 0 };

  output->fail_close = TRUE;
  g_output_stream_close_async (G_OUTPUT_STREAM (output), G_PRIORITY_DEFAULT, NULL, on_async_done,
                               &done);
  SM_TEST_WAIT_FOR (done.done);
  g_assert_false (g_output_stream_close_finish (G_OUTPUT_STREAM (output), done.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
  g_object_unref (done.result);
}

static gboolean
write_to_pipe (gpointer user_data)
{
  g_assert_cmpint (write (GPOINTER_TO_INT (user_data), "pipe", 4), ==, 4);
  return G_SOURCE_REMOVE;
}

/* A subclass with its own source, over a file descriptor: a blocking read
 * waits on that source */
static void
test_blocking_read_own_source (void)
{
  g_autoptr (TestPipeInput) input = g_object_new (TEST_TYPE_PIPE_INPUT, NULL);
  g_autoptr (GError) error = NULL;
  char buffer[8] = { 0 };
  int fds[2];

  g_assert_no_errno (pipe (fds));
  input->base = G_POLLABLE_INPUT_STREAM (g_unix_input_stream_new (fds[0], TRUE));

  add_idle (NULL, write_to_pipe, GINT_TO_POINTER (fds[1]));
  g_assert_cmpint (g_input_stream_read (G_INPUT_STREAM (input), buffer, sizeof buffer, NULL, &error),
                   ==, 4);
  g_assert_no_error (error);
  g_assert_cmpmem (buffer, 4, "pipe", 4);
  close (fds[1]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/pollable-stream/interface", test_pollable_interface);
  g_test_add_func ("/pollable-stream/blocking-read-waits", test_blocking_read_waits);
  g_test_add_func ("/pollable-stream/blocking-read-cancelled", test_blocking_read_cancelled);
  g_test_add_func ("/pollable-stream/blocking-read-own-context", test_blocking_read_own_context);
  g_test_add_func ("/pollable-stream/blocking-read-other-thread", test_blocking_read_other_thread);
  g_test_add_func ("/pollable-stream/blocking-read-own-source", test_blocking_read_own_source);
  g_test_add_func ("/pollable-stream/blocking-write-waits", test_blocking_write_waits);
  g_test_add_func ("/pollable-stream/close-async-in-place", test_close_async_in_place);
  g_test_add_func ("/pollable-stream/close-async-fails", test_close_async_fails);

  return g_test_run ();
}
