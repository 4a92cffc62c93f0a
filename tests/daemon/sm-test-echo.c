/* SPDX-License-Identifier: MIT */
/* Echo checks through a public port, asynchronous on the main context so
 * that in-process services sharing that context keep running. */
#include "config.h"

#include "sm-test-util.h"

#define ECHO_CHUNK (64 * 1024)

typedef struct {
  GSocketConnection *connection;
  GCancellable      *cancellable;  /* ours: stops the other direction on failure */
  GCancellable      *outer_cancellable;
  gulong             cancelled_id;
  gsize              size;
  guint32            seed;
  gsize              sent;
  gsize              received;
  guint              pending;      /* async operations in flight */
  GError            *error;        /* first failure */
  guint8             send_buffer[ECHO_CHUNK];
  guint8             receive_buffer[ECHO_CHUNK];
} EchoCheck;

static void
echo_check_free (gpointer data)
{
  EchoCheck *check = data;

  if (check->cancelled_id != 0)
    g_cancellable_disconnect (check->outer_cancellable, check->cancelled_id);
  g_clear_object (&check->outer_cancellable);
  g_clear_object (&check->connection);
  g_clear_object (&check->cancellable);
  g_clear_error (&check->error);
  g_free (check);
}

static void
echo_fail (EchoCheck *check,
           GError    *error)
{
  if (check->error == NULL)
    check->error = error;
  else
    g_error_free (error);
  g_cancellable_cancel (check->cancellable);
}

/* Called when an operation ended; the last one settles the task */
static void
echo_settle (GTask *task)
{
  EchoCheck *check = g_task_get_task_data (task);

  if (check->pending > 0)
    return;
  if (check->error == NULL && (check->sent < check->size || check->received < check->size))
    return;
  g_io_stream_close (G_IO_STREAM (check->connection), NULL, NULL);
  if (check->error != NULL)
    g_task_return_error (task, g_steal_pointer (&check->error));
  else
    {
      g_debug ("echo check: %zu bytes sent and received intact", check->received);
      g_task_return_boolean (task, TRUE);
    }
}

static void echo_send_next (GTask *task);
static void echo_receive_next (GTask *task);

static void
echo_sent_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  g_autoptr(GTask) task = data;
  EchoCheck *check = g_task_get_task_data (task);
  GError *error = NULL;
  gssize n;

  check->pending--;
  n = g_output_stream_write_finish (G_OUTPUT_STREAM (source), result, &error);
  if (n < 0)
    echo_fail (check, error);
  else if (check->error == NULL)
    {
      check->sent += n;
      if (check->sent < check->size)
        echo_send_next (task);
    }
  echo_settle (task);
}

static void
echo_send_next (GTask *task)
{
  EchoCheck *check = g_task_get_task_data (task);
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (check->connection));
  gsize len = MIN (ECHO_CHUNK, check->size - check->sent);

  sm_test_fill_pattern (check->send_buffer, len, check->sent, check->seed);
  check->pending++;
  g_output_stream_write_async (output, check->send_buffer, len, G_PRIORITY_DEFAULT,
                               check->cancellable, echo_sent_cb, g_object_ref (task));
}

static void
echo_received_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  g_autoptr(GTask) task = data;
  EchoCheck *check = g_task_get_task_data (task);
  GError *error = NULL;
  gssize n;
  gssize bad;

  check->pending--;
  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n < 0)
    echo_fail (check, error);
  else if (check->error != NULL)
    ;
  else if (n == 0)
    echo_fail (check, g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                   "connection closed after %zu of %zu echoed bytes",
                                   check->received, check->size));
  else if ((bad = sm_test_check_pattern (check->receive_buffer, n, check->received,
                                         check->seed)) >= 0)
    echo_fail (check, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                   "echoed data differs at offset %zu of %zu",
                                   check->received + bad, check->size));
  else
    {
      check->received += n;
      if (check->received < check->size)
        echo_receive_next (task);
    }
  echo_settle (task);
}

static void
echo_receive_next (GTask *task)
{
  EchoCheck *check = g_task_get_task_data (task);
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (check->connection));

  check->pending++;
  /* Never ask for more than was sent: extra bytes would be a bug the
   * pattern check could not attribute */
  g_input_stream_read_async (input, check->receive_buffer,
                             MIN (ECHO_CHUNK, check->size - check->received),
                             G_PRIORITY_DEFAULT, check->cancellable, echo_received_cb,
                             g_object_ref (task));
}

static void
echo_connected_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      data)
{
  g_autoptr(GTask) task = data;
  EchoCheck *check = g_task_get_task_data (task);
  GError *error = NULL;

  check->pending--;
  if (!g_socket_connection_connect_finish (check->connection, result, &error))
    echo_fail (check, error);
  else if (check->size > 0)
    {
      echo_send_next (task);
      echo_receive_next (task);
    }
  echo_settle (task);
}

static void
forward_cancel_cb (GCancellable *outer,
                   gpointer      data)
{
  g_cancellable_cancel (G_CANCELLABLE (data));
}

void
sm_test_echo_async (guint16             port,
                    gsize               size,
                    guint32             seed,
                    GCancellable       *cancellable,
                    GAsyncReadyCallback callback,
                    gpointer            user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) error = NULL;
  EchoCheck *check = g_new0 (EchoCheck, 1);

  check->size = size;
  check->seed = seed;
  check->cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    {
      check->outer_cancellable = g_object_ref (cancellable);
      check->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (forward_cancel_cb),
                                                 g_object_ref (check->cancellable),
                                                 g_object_unref);
    }
  g_task_set_task_data (task, check, echo_check_free);

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                         &error);
  g_assert_no_error (error);
  check->connection = g_socket_connection_factory_create_connection (socket);
  check->pending++;
  g_socket_connection_connect_async (check->connection, address, check->cancellable,
                                     echo_connected_cb, g_object_ref (task));
}

gboolean
sm_test_echo_finish (GAsyncResult *result,
                     GError      **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
echo_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  g_autoptr(GError) error = NULL;

  if (!sm_test_echo_finish (result, &error))
    sm_test_fail ("echo check failed: %s", error->message);
  sm_test_signal_int (data, 1);
}

void
sm_test_echo_start (guint16  port,
                    gsize    size,
                    guint32  seed,
                    gint    *done)
{
  sm_test_echo_async (port, size, seed, NULL, echo_done_cb, done);
}

/* ---- Many at once ---- */

typedef struct {
  gint     finished;
  guint    failed;
  GString *errors;
} EchoBatch;

static void
batch_echo_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      data)
{
  EchoBatch *batch = data;
  g_autoptr(GError) error = NULL;

  if (!sm_test_echo_finish (result, &error))
    {
      if (batch->failed++ < 5)
        g_string_append_printf (batch->errors, "\n  %s", error->message);
    }
  batch->finished++;
}

void
sm_test_echo_many (guint16 port,
                   guint   n_connections,
                   gsize   size,
                   guint   timeout_ms)
{
  EchoBatch batch = { 0, 0, g_string_new (NULL) };

  for (guint i = 0; i < n_connections; i++)
    sm_test_echo_async (port, size, g_test_rand_int (), NULL, batch_echo_cb, &batch);
  sm_test_wait_for_int (&batch.finished, n_connections, timeout_ms, "echo checks to finish");
  if (batch.failed > 0)
    sm_test_fail ("%u of %u echo checks of %zu bytes failed:%s", batch.failed, n_connections,
                  size, batch.errors->str);
  g_string_free (batch.errors, TRUE);
}

/* ---- Back to back ---- */

struct _SmTestEchoLoop {
  guint16  port;
  gsize    size;
  gboolean stopping;
  gint     running;
  guint    succeeded;
  GError  *error;
};

static void echo_loop_next (SmTestEchoLoop *loop);

static void
echo_loop_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  SmTestEchoLoop *loop = data;
  GError *error = NULL;

  if (sm_test_echo_finish (result, &error))
    loop->succeeded++;
  else if (loop->error == NULL)
    loop->error = error;
  else
    g_error_free (error);

  if (loop->stopping || loop->error != NULL)
    sm_test_signal_int (&loop->running, 0);
  else
    echo_loop_next (loop);
}

static void
echo_loop_next (SmTestEchoLoop *loop)
{
  sm_test_echo_async (loop->port, loop->size, g_test_rand_int (), NULL, echo_loop_cb, loop);
}

SmTestEchoLoop *
sm_test_echo_loop_start (guint16 port,
                         gsize   size)
{
  SmTestEchoLoop *loop = g_new0 (SmTestEchoLoop, 1);

  loop->port = port;
  loop->size = size;
  loop->running = 1;
  echo_loop_next (loop);
  return loop;
}

static gboolean
echo_loop_idle (gpointer data)
{
  SmTestEchoLoop *loop = data;

  return g_atomic_int_get (&loop->running) == 0;
}

guint
sm_test_echo_loop_stop (SmTestEchoLoop *loop)
{
  guint succeeded;

  loop->stopping = TRUE;
  if (!sm_test_wait_until (echo_loop_idle, loop, 60000))
    sm_test_fail ("the echo loop's last check did not finish");
  if (loop->error != NULL)
    sm_test_fail ("the echo loop failed after %u good checks: %s", loop->succeeded,
                  loop->error->message);
  succeeded = loop->succeeded;
  g_free (loop);
  return succeeded;
}
