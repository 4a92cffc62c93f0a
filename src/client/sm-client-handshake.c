/* SPDX-License-Identifier: MIT */

#include "config.h"

#include "sm-client-handshake.h"
#include "sm-error.h"
#include "sm-handshake.h"

#define STATUS_READ_CHUNK 4096

typedef struct
{
  GSocketConnection *connection;
  GByteArray        *request;
  GByteArray        *input;
  guint8             chunk[STATUS_READ_CHUNK];
} SmClientHandshake;

typedef struct
{
  GSocketConnection *connection;
  GBytes            *leftover;
} SmClientHandshakeResult;

static void
sm_client_handshake_free (gpointer data)
{
  SmClientHandshake *handshake = data;

  g_clear_object (&handshake->connection);
  g_clear_pointer (&handshake->request, g_byte_array_unref);
  g_clear_pointer (&handshake->input, g_byte_array_unref);
  g_free (handshake);
}

static void
sm_client_handshake_result_free (gpointer data)
{
  SmClientHandshakeResult *result = data;

  g_clear_object (&result->connection);
  g_clear_pointer (&result->leftover, g_bytes_unref);
  g_free (result);
}

static void on_status_read (GObject *source, GAsyncResult *result, gpointer user_data);

static void
sm_client_handshake_read_status (GTask *task)
{
  SmClientHandshake *handshake = g_task_get_task_data (task);
  GInputStream      *input = g_io_stream_get_input_stream (G_IO_STREAM (handshake->connection));

  g_input_stream_read_async (input, handshake->chunk, sizeof handshake->chunk, G_PRIORITY_DEFAULT,
                             g_task_get_cancellable (task), on_status_read, g_object_ref (task));
}

static void
on_status_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  SmClientHandshake       *handshake = g_task_get_task_data (task);
  SmClientHandshakeResult *handshake_result;
  g_autoptr (GError) error = NULL;
  g_autofree char *status = NULL;
  gsize            consumed = 0;
  gssize           n_read;

  n_read = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n_read < 0)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (n_read == 0)
    {
      g_task_return_new_error (task, SM_ERROR, SM_ERROR_CLOSED,
                               "The daemon closed the connection during the handshake");
      return;
    }

  g_byte_array_append (handshake->input, handshake->chunk, n_read);

  /* The parser rejects a status length over its limit before the bytes
   * arrive, so the buffer stays bounded. */
  switch (sm_handshake_parse_status (handshake->input->data, handshake->input->len, &consumed,
                                     &status, &error))
    {
    case SM_HANDSHAKE_NEED_MORE:
      sm_client_handshake_read_status (task);
      return;

    case SM_HANDSHAKE_ERROR:
      g_task_return_error (task, g_steal_pointer (&error));
      return;

    case SM_HANDSHAKE_COMPLETE:
      break;

    default:
      g_assert_not_reached ();
    }

  if (g_strcmp0 (status, SM_HANDSHAKE_STATUS_OK) != 0)
    {
      /* the daemon's words, unchanged: they are meant for the user */
      g_task_return_error (task, g_error_new_literal (SM_ERROR, SM_ERROR_REJECTED, status));
      return;
    }

  handshake_result = g_new0 (SmClientHandshakeResult, 1);
  handshake_result->connection = g_steal_pointer (&handshake->connection);
  handshake_result->leftover =
      g_bytes_new (handshake->input->data + consumed, handshake->input->len - consumed);
  g_task_return_pointer (task, handshake_result, sm_client_handshake_result_free);
}

static void
on_request_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  sm_client_handshake_read_status (task);
}

static void
on_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  SmClientHandshake *handshake = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  GOutputStream *output;

  handshake->connection = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  if (handshake->connection == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  output = g_io_stream_get_output_stream (G_IO_STREAM (handshake->connection));
  g_output_stream_write_all_async (output, handshake->request->data, handshake->request->len,
                                   G_PRIORITY_DEFAULT, g_task_get_cancellable (task),
                                   on_request_written, g_object_ref (task));
}

void
sm_client_handshake_async (GSocketConnectable       *control_address,
                           const SmSocketDefinition *definition,
                           GCancellable             *cancellable,
                           GAsyncReadyCallback       callback,
                           gpointer                  user_data)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GTask) task = NULL;
  SmClientHandshake *handshake;

  g_return_if_fail (G_IS_SOCKET_CONNECTABLE (control_address));
  g_return_if_fail (definition != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, sm_client_handshake_async);

  handshake = g_new0 (SmClientHandshake, 1);
  handshake->request = g_byte_array_new ();
  handshake->input = g_byte_array_new ();
  sm_handshake_encode_request (definition, handshake->request);
  g_task_set_task_data (task, handshake, sm_client_handshake_free);

  /* the control connection is local by design: never via a proxy */
  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_connect_async (client, control_address, cancellable, on_connected,
                                 g_steal_pointer (&task));
}

GSocketConnection *
sm_client_handshake_finish (GAsyncResult *result, GBytes **out_leftover, GError **error)
{
  SmClientHandshakeResult *handshake_result;
  GSocketConnection       *connection;

  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == sm_client_handshake_async, NULL);
  g_return_val_if_fail (out_leftover != NULL, NULL);

  handshake_result = g_task_propagate_pointer (G_TASK (result), error);
  if (handshake_result == NULL)
    return NULL;

  connection = g_steal_pointer (&handshake_result->connection);
  *out_leftover = g_steal_pointer (&handshake_result->leftover);
  sm_client_handshake_result_free (handshake_result);

  return connection;
}
