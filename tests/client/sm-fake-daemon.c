/* SPDX-License-Identifier: MIT */

#include "config.h"

#include <string.h>

#include "sm-extension-handshake.h"
#include "sm-fake-daemon.h"
#include "sm-handshake.h"

/* What a daemon without version 2 answers to the magic (PROTOCOL.md §7) */
#define ORIGINAL_REFUSAL "invalid handshake: address is 9246819500274221058 bytes long, limit is 65536"

/* ---- waiting on the main context ---- */

gboolean
sm_fake_wait_timeout (gpointer user_data)
{
  g_error ("Timed out waiting for %s", (const char *) user_data);
  return G_SOURCE_REMOVE;
}

/* ---- the fake daemon ---- */

/* One control connection until its handshake is answered */
typedef struct {
  SmFakeDaemon      *daemon;
  GSocketConnection *connection;
  GByteArray        *input;
  GByteArray        *reply;
  gboolean           accepted;  /* the reply is an OK */
  guint8             chunk[4096];
} SmFakeControl;

static void
sm_fake_control_free (SmFakeControl *control)
{
  g_clear_object (&control->connection);
  g_clear_pointer (&control->input, g_byte_array_unref);
  g_clear_pointer (&control->reply, g_byte_array_unref);
  g_free (control);
}

static void
on_fake_go_away (SmYamuxSession *session,
                 guint           code,
                 SmFakeDaemon   *daemon)
{
  g_assert_cmpuint (code, ==, SM_YAMUX_GO_AWAY_NORMAL);
  daemon->n_go_away++;
}

static void
on_fake_closed (SmYamuxSession *session,
                const GError   *error,
                SmFakeDaemon   *daemon)
{
  daemon->n_closed++;
}

static void
on_fake_reply_written (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  SmFakeControl *control = user_data;
  SmFakeDaemon *daemon = control->daemon;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) leftover = NULL;
  SmYamuxConfig config;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error);
  g_assert_no_error (error);

  if (!control->accepted)
    {
      /* like the daemon: a refusal ends the connection */
      g_io_stream_close (G_IO_STREAM (control->connection), NULL, NULL);
      sm_fake_control_free (control);
      return;
    }

  /* one registration at a time in these tests, but one that saw GoAway
   * registers again while its old session drains */
  if (daemon->session != NULL && !sm_yamux_session_is_closed (daemon->session))
    {
      g_assert_true (sm_yamux_session_is_going_away (daemon->session));
      g_ptr_array_add (daemon->old_sessions, g_steal_pointer (&daemon->session));
    }
  g_clear_object (&daemon->session);

  sm_yamux_config_init (&config);
  leftover = g_bytes_new (control->input->data, control->input->len);
  daemon->session = sm_yamux_session_new (G_IO_STREAM (control->connection),
                                          SM_YAMUX_ROLE_CLIENT, &config, leftover);
  g_signal_connect (daemon->session, "go-away", G_CALLBACK (on_fake_go_away), daemon);
  g_signal_connect (daemon->session, "closed", G_CALLBACK (on_fake_closed), daemon);
  sm_fake_control_free (control);
}

static void sm_fake_control_read (SmFakeControl *control);

static void
on_fake_request_read (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  SmFakeControl *control = user_data;
  g_autoptr(SmSocketDefinition) definition = NULL;
  g_autoptr(SmExtensionRequest) request = NULL;
  g_autoptr(GError) error = NULL;
  GOutputStream *output;
  SmHandshakeResult parsed;
  gboolean extension;
  gsize consumed = 0;
  gssize n_read;

  n_read = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n_read <= 0)
    {
      /* the listener gave up on this connection (cancelled start) */
      sm_fake_control_free (control);
      return;
    }

  g_byte_array_append (control->input, control->chunk, n_read);
  extension = sm_extension_is_request (control->input->data, control->input->len);
  if (extension && control->daemon->original_only)
    /* it reads the magic as the length of the Address and gives up */
    parsed = control->input->len >= 8 ? SM_HANDSHAKE_COMPLETE : SM_HANDSHAKE_NEED_MORE;
  else if (extension)
    parsed = sm_extension_parse_request (control->input->data, control->input->len,
                                         &consumed, &request, &error);
  else
    parsed = sm_handshake_parse_request (control->input->data, control->input->len,
                                         &consumed, &definition, &error);
  switch (parsed)
    {
    case SM_HANDSHAKE_NEED_MORE:
      sm_fake_control_read (control);
      return;
    case SM_HANDSHAKE_ERROR:
      g_error ("Bad handshake from the listener: %s", error->message);
      return;
    case SM_HANDSHAKE_COMPLETE:
    default:
      break;
    }

  if (extension && control->daemon->original_only)
    consumed = control->input->len;
  g_ptr_array_add (control->daemon->requests, g_bytes_new (control->input->data, consumed));
  g_ptr_array_add (control->daemon->extension_requests, g_steal_pointer (&request));
  g_byte_array_remove_range (control->input, 0, consumed);

  if (control->daemon->n_drop > 0)
    {
      control->daemon->n_drop--;
      g_io_stream_close (G_IO_STREAM (control->connection), NULL, NULL);
      sm_fake_control_free (control);
      return;
    }

  if (control->daemon->answer == NULL)
    {
      /* stay silent; wait for the listener to hang up */
      sm_fake_control_read (control);
      return;
    }

  control->reply = g_byte_array_new ();
  control->accepted = g_strcmp0 (control->daemon->answer, SM_HANDSHAKE_STATUS_OK) == 0;
  if (extension && control->daemon->original_only)
    {
      control->accepted = FALSE;
      sm_handshake_encode_status (ORIGINAL_REFUSAL, control->reply);
    }
  else if (extension && control->accepted)
    {
      g_autoptr(JsonObject) extra = json_object_new ();

      json_object_set_string_member (extra, "route", "/org/socketmaster/Route/1");
      sm_extension_encode_response (NULL, extra, control->reply);
    }
  else if (extension)
    {
      g_autoptr(GError) refusal = g_error_new_literal (SM_ERROR, control->daemon->refusal_code,
                                                       control->daemon->answer);

      sm_extension_encode_response (refusal, NULL, control->reply);
    }
  else
    sm_handshake_encode_status (control->daemon->answer, control->reply);
  output = g_io_stream_get_output_stream (G_IO_STREAM (control->connection));
  g_output_stream_write_all_async (output, control->reply->data, control->reply->len,
                                   G_PRIORITY_DEFAULT, NULL, on_fake_reply_written, control);
}

static void
sm_fake_control_read (SmFakeControl *control)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (control->connection));

  g_input_stream_read_async (input, control->chunk, sizeof control->chunk,
                             G_PRIORITY_DEFAULT, NULL, on_fake_request_read, control);
}

static gboolean
on_fake_incoming (GSocketService    *service,
                  GSocketConnection *connection,
                  GObject           *source_object,
                  SmFakeDaemon      *daemon)
{
  SmFakeControl *control = g_new0 (SmFakeControl, 1);

  control->daemon = daemon;
  control->connection = g_object_ref (connection);
  control->input = g_byte_array_new ();
  sm_fake_control_read (control);

  return TRUE;
}

static SmFakeDaemon *
sm_fake_daemon_new_at (GSocketAddress  *address,
                       GSocketProtocol  protocol,
                       GSocketAddress **out_bound)
{
  SmFakeDaemon *daemon = g_new0 (SmFakeDaemon, 1);
  g_autoptr(GError) error = NULL;

  daemon->service = g_socket_service_new ();
  g_socket_listener_add_address (G_SOCKET_LISTENER (daemon->service), address,
                                 G_SOCKET_TYPE_STREAM, protocol,
                                 NULL, out_bound, &error);
  g_assert_no_error (error);
  daemon->answer = g_strdup (SM_HANDSHAKE_STATUS_OK);
  daemon->refusal_code = SM_ERROR_PERMISSION_DENIED;
  daemon->requests = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  daemon->old_sessions = g_ptr_array_new_with_free_func (g_object_unref);
  daemon->extension_requests =
    g_ptr_array_new_with_free_func ((GDestroyNotify) sm_extension_request_free);
  g_signal_connect (daemon->service, "incoming", G_CALLBACK (on_fake_incoming), daemon);
  g_socket_service_start (daemon->service);

  return daemon;
}

SmFakeDaemon *
sm_fake_daemon_new (void)
{
  return sm_fake_daemon_new_on_port (0);
}

SmFakeDaemon *
sm_fake_daemon_new_on_port (guint16 port)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  g_autoptr(GSocketAddress) bound = NULL;
  SmFakeDaemon *daemon;

  daemon = sm_fake_daemon_new_at (address, G_SOCKET_PROTOCOL_TCP, &bound);
  daemon->address = g_strdup_printf ("127.0.0.1:%u",
                                     g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  return daemon;
}

SmFakeDaemon *
sm_fake_daemon_new_unix (const char *path)
{
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);
  SmFakeDaemon *daemon;

  daemon = sm_fake_daemon_new_at (address, G_SOCKET_PROTOCOL_DEFAULT, NULL);
  daemon->address = g_strconcat ("unix:", path, NULL);
  return daemon;
}

void
sm_fake_daemon_stop_listening (SmFakeDaemon *daemon)
{
  g_socket_service_stop (daemon->service);
  g_socket_listener_close (G_SOCKET_LISTENER (daemon->service));
}

void
sm_fake_daemon_drop_session (SmFakeDaemon *daemon)
{
  g_assert_nonnull (daemon->session);
  sm_yamux_session_close (daemon->session);
}

void
sm_fake_daemon_drop_old_sessions (SmFakeDaemon *daemon)
{
  for (guint i = 0; i < daemon->old_sessions->len; i++)
    sm_yamux_session_close (g_ptr_array_index (daemon->old_sessions, i));
}

void
sm_fake_daemon_set_answer (SmFakeDaemon *daemon,
                           const char   *answer)
{
  g_free (daemon->answer);
  daemon->answer = g_strdup (answer);
}

SmYamuxStream *
sm_fake_daemon_open_stream (SmFakeDaemon *daemon)
{
  g_autoptr(GError) error = NULL;
  SmYamuxStream *stream;

  stream = sm_yamux_session_open_stream (daemon->session, &error);
  g_assert_no_error (error);

  return stream;
}

void
sm_fake_daemon_free (SmFakeDaemon *daemon)
{
  sm_fake_daemon_stop_listening (daemon);
  if (daemon->session != NULL)
    {
      g_signal_handlers_disconnect_by_data (daemon->session, daemon);
      sm_yamux_session_close (daemon->session);
      g_clear_object (&daemon->session);
    }
  for (guint i = 0; i < daemon->old_sessions->len; i++)
    {
      g_signal_handlers_disconnect_by_data (g_ptr_array_index (daemon->old_sessions, i), daemon);
      sm_yamux_session_close (g_ptr_array_index (daemon->old_sessions, i));
    }
  g_ptr_array_unref (daemon->old_sessions);
  g_clear_object (&daemon->service);
  g_ptr_array_unref (daemon->requests);
  g_ptr_array_unref (daemon->extension_requests);
  g_free (daemon->answer);
  g_free (daemon->address);
  g_free (daemon);
}

/* ---- stream I/O, waiting for completion ---- */

typedef struct {
  gboolean  done;
  gsize     n_bytes;
  GError   *error;
} IoWait;

static void
on_written (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  IoWait *wait = user_data;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, &wait->n_bytes, &wait->error);
  wait->done = TRUE;
}

static void
on_read (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  IoWait *wait = user_data;

  g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &wait->n_bytes, &wait->error);
  wait->done = TRUE;
}

void
sm_fake_stream_write (GIOStream  *stream,
                      const char *text)
{
  sm_fake_stream_write_bytes (stream, text, strlen (text));
}

void
sm_fake_stream_write_bytes (GIOStream  *stream,
                            const void *data,
                            gsize       len)
{
  IoWait wait = { 0 };

  g_output_stream_write_all_async (g_io_stream_get_output_stream (stream), data, len,
                                   G_PRIORITY_DEFAULT, NULL, on_written, &wait);
  WAIT_UNTIL (wait.done);
  g_assert_no_error (wait.error);
}

void
sm_fake_stream_expect (GIOStream  *stream,
                       const char *expected)
{
  gsize len = strlen (expected);
  g_autofree char *buffer = g_malloc0 (len + 1);
  IoWait wait = { 0 };

  g_input_stream_read_all_async (g_io_stream_get_input_stream (stream), buffer,
                                 len > 0 ? len : 1, G_PRIORITY_DEFAULT, NULL, on_read, &wait);
  WAIT_UNTIL (wait.done);
  g_assert_no_error (wait.error);
  g_assert_cmpuint (wait.n_bytes, ==, len);
  g_assert_cmpstr (buffer, ==, expected);
}

GError *
sm_fake_stream_read_error (GIOStream *stream)
{
  char buffer[16];
  IoWait wait = { 0 };

  g_input_stream_read_all_async (g_io_stream_get_input_stream (stream), buffer, sizeof buffer,
                                 G_PRIORITY_DEFAULT, NULL, on_read, &wait);
  WAIT_UNTIL (wait.done);
  g_assert_nonnull (wait.error);

  return wait.error;
}

void
sm_fake_stream_close (GIOStream *stream)
{
  g_autoptr(GError) error = NULL;

  g_io_stream_close (stream, NULL, &error);
  g_assert_no_error (error);
}


guint32
sm_fake_stream_id (gpointer stream)
{
  return sm_yamux_stream_get_id (SM_YAMUX_STREAM (stream));
}

void
sm_fake_async_done (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  SmFakeAsyncWait *wait = user_data;

  wait->result = g_object_ref (result);
  wait->done = TRUE;
}
