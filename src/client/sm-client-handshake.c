/* SPDX-License-Identifier: MIT */

#include "config.h"

#include <glib/gi18n-lib.h>

#include <string.h>

#include "sm-client-handshake.h"
#include "sm-error.h"
#include "sm-handshake.h"

#define TOKEN_VARIABLE "SOCKETMASTER_TOKEN"
#define UNIX_PREFIX    "unix:"

#define STATUS_READ_CHUNK 4096

typedef struct
{
  GSocketConnection *connection;
  GByteArray        *request;
  GByteArray        *input;
  gboolean           extension; /* the request is in the extension format */
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
  g_autoptr (GError) refusal = NULL;
  g_autofree char  *status = NULL;
  gsize             consumed = 0;
  gssize            n_read;
  SmHandshakeResult parsed;

  n_read = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n_read < 0)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (n_read == 0)
    {
      g_task_return_new_error (task, SM_ERROR, SM_ERROR_CLOSED,
                               _ ("The daemon closed the connection during the handshake"));
      return;
    }

  g_byte_array_append (handshake->input, handshake->chunk, n_read);

  /* The parsers reject a length over its limit before the bytes arrive,
   * so the buffer stays bounded. */
  if (handshake->extension)
    parsed = sm_extension_parse_response (handshake->input->data, handshake->input->len, &consumed,
                                          NULL, &refusal, &error);
  else
    parsed = sm_handshake_parse_status (handshake->input->data, handshake->input->len, &consumed,
                                        &status, &error);
  switch (parsed)
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

  /* the daemon's words, unchanged: they are meant for the user */
  if (!handshake->extension && g_strcmp0 (status, SM_HANDSHAKE_STATUS_OK) != 0)
    refusal = g_error_new_literal (SM_ERROR, SM_ERROR_REJECTED, status);
  if (refusal != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&refusal));
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

/* The daemon reset or dropped us during the handshake (busy, restarting,
 * a flood from elsewhere): worth trying again, even on the first
 * registration. A refusal (status), a malformed answer or no daemon at
 * all is not. */
gboolean
sm_client_handshake_is_transient (const GError *error)
{
  return g_error_matches (error, SM_ERROR, SM_ERROR_CLOSED) ||
         g_error_matches (error, SM_ERROR, SM_ERROR_TIMED_OUT) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
}

/**
 * sm_client_parse_control_address:
 * @control_address: "host:port", "[v6]:port" or "unix:/path"
 * @error: a #GIOError
 *
 * Returns: (transfer full) (nullable): what to connect to
 */
GSocketConnectable *
sm_client_parse_control_address (const char *control_address, GError **error)
{
  g_autoptr (GSocketConnectable) connectable = NULL;

  if (g_str_has_prefix (control_address, UNIX_PREFIX))
    {
      const char *path = control_address + strlen (UNIX_PREFIX);

      if (*path != '\0')
        return G_SOCKET_CONNECTABLE (g_unix_socket_address_new (path));
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _ ("Control address “%s” has no path"), control_address);
      return NULL;
    }

  connectable = g_network_address_parse (control_address, 0, error);
  if (connectable == NULL)
    return NULL;
  if (g_network_address_get_port (G_NETWORK_ADDRESS (connectable)) == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _ ("Control address “%s” has no port"), control_address);
      return NULL;
    }
  return g_steal_pointer (&connectable);
}

/* Encodes @request: in the original format unless it needs a field that
 * format lacks, so that the original daemon keeps working with us */
static gboolean
encode_request (const SmExtensionRequest *request, GByteArray *out)
{
  SmExtensionRequest effective = *request;

  if (effective.token == NULL)
    effective.token = (char *) g_getenv (TOKEN_VARIABLE);
  if (effective.token != NULL && effective.token[0] == '\0')
    effective.token = NULL;
  if (effective.name != NULL && effective.name[0] == '\0')
    effective.name = NULL;

  if (effective.token == NULL && effective.name == NULL && effective.proxy_protocol == 0)
    {
      sm_handshake_encode_request (request->definition, out);
      return FALSE;
    }

  sm_extension_encode_request (&effective, out);
  return TRUE;
}

void
sm_client_handshake_async (const char               *control_address,
                           const SmExtensionRequest *request,
                           GCancellable             *cancellable,
                           GAsyncReadyCallback       callback,
                           gpointer                  user_data)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnectable) connectable = NULL;
  g_autoptr (GTask) task = NULL;
  g_autoptr (GError) error = NULL;
  SmClientHandshake *handshake;

  g_return_if_fail (control_address != NULL);
  g_return_if_fail (request != NULL && request->definition != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, sm_client_handshake_async);

  handshake = g_new0 (SmClientHandshake, 1);
  handshake->request = g_byte_array_new ();
  handshake->input = g_byte_array_new ();
  handshake->extension = encode_request (request, handshake->request);
  g_task_set_task_data (task, handshake, sm_client_handshake_free);

  connectable = sm_client_parse_control_address (control_address, &error);
  if (connectable == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* the control connection is local by design: never via a proxy */
  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_connect_async (client, connectable, cancellable, on_connected,
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
