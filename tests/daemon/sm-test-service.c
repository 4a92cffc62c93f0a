/* SPDX-License-Identifier: MIT */
/* An in-process service speaking the protocol directly (hand-written
 * handshake, then the yamux server role), so tests can script what the
 * service side does to a stream: echo it, half-close it, reset it. Also
 * blocking I/O on such streams, and the example service as a process. */
#include "config.h"

#include "sm-test-util.h"

#include <string.h>

#define SERVICE_ECHO_BUFFER (32 * 1024)

struct _SmTestService {
  guint16            port;
  char              *tag;
  char              *peer;        /* our end of the control connection */
  SmTestServiceMode  mode;
  GSocketConnection *connection;
  SmYamuxSession    *session;
  GQueue             streams;     /* QUEUE mode: accepted, not yet taken */
  guint              n_accepted;
  gboolean           saw_go_away;
  gboolean           closed;
};

/* ---- Echo of one stream ---- */

typedef struct {
  SmYamuxStream *stream;
  guint8         buffer[SERVICE_ECHO_BUFFER];
} EchoStream;

static void echo_stream_read (EchoStream *echo);

static void
echo_stream_closed_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      data)
{
  EchoStream *echo = data;

  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
  g_object_unref (echo->stream);
  g_free (echo);
}

static void
echo_stream_finish (EchoStream *echo)
{
  /* After the peer's EOF this sends our FIN: the echo mirrors half-close */
  g_io_stream_close_async (G_IO_STREAM (echo->stream), G_PRIORITY_DEFAULT, NULL,
                           echo_stream_closed_cb, echo);
}

static void
echo_stream_written_cb (GObject      *source,
                        GAsyncResult *result,
                        gpointer      data)
{
  EchoStream *echo = data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      g_debug ("service echo: write failed: %s", error->message);
      echo_stream_finish (echo);
      return;
    }
  echo_stream_read (echo);
}

static void
echo_stream_read_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      data)
{
  EchoStream *echo = data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n <= 0)
    {
      if (n < 0)
        g_debug ("service echo: read failed: %s", error->message);
      echo_stream_finish (echo);
      return;
    }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (echo->stream)),
                                   echo->buffer, n, G_PRIORITY_DEFAULT, NULL,
                                   echo_stream_written_cb, echo);
}

static void
echo_stream_read (EchoStream *echo)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (echo->stream)),
                             echo->buffer, sizeof echo->buffer, G_PRIORITY_DEFAULT, NULL,
                             echo_stream_read_cb, echo);
}

void
sm_test_service_echo_stream (SmTestService *self,
                             SmYamuxStream *stream)
{
  EchoStream *echo = g_new0 (EchoStream, 1);
  gsize tag_len = self->tag != NULL ? strlen (self->tag) : 0;

  echo->stream = g_object_ref (stream);
  if (tag_len == 0)
    {
      echo_stream_read (echo);
      return;
    }
  /* The tag tells a test which service took the connection */
  memcpy (echo->buffer, self->tag, MIN (tag_len, sizeof echo->buffer));
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)),
                                   echo->buffer, MIN (tag_len, sizeof echo->buffer),
                                   G_PRIORITY_DEFAULT, NULL, echo_stream_written_cb, echo);
}

/* ---- Session ---- */

static void
on_incoming (SmYamuxSession *session,
             SmYamuxStream  *stream,
             gpointer        data)
{
  SmTestService *self = data;

  self->n_accepted++;
  g_debug ("service %s: stream %u", self->tag ? self->tag : "", sm_yamux_stream_get_id (stream));
  if (self->mode == SM_TEST_SERVICE_QUEUE)
    g_queue_push_tail (&self->streams, g_object_ref (stream));
  else
    sm_test_service_echo_stream (self, stream);
}

static void
on_go_away (SmYamuxSession *session,
            guint           code,
            gpointer        data)
{
  SmTestService *self = data;

  g_test_message ("service on port %u: the daemon sent GoAway (code %u)", self->port, code);
  self->saw_go_away = TRUE;
}

static void
on_closed (SmYamuxSession *session,
           GError         *error,
           gpointer        data)
{
  SmTestService *self = data;

  g_test_message ("service on port %u: session closed (%s)", self->port,
                  error != NULL ? error->message : "orderly");
  self->closed = TRUE;
}

/* An extension answer (docs/PROTOCOL.md §7), exactly its bytes: "OK", or
 * the refusal's code and message */
static char *
read_extension_status (GSocket *socket,
                       GError **error)
{
  g_autoptr(GByteArray) answer = g_byte_array_new ();
  g_autoptr(GError) refusal = NULL;
  guint32 length;

  g_byte_array_set_size (answer, 4);
  if (sm_test_receive_exactly (socket, answer->data, 4, error) != 4)
    return NULL;
  length = GUINT32_FROM_BE (*(guint32 *) answer->data);
  g_assert_cmpuint (length, <=, 64 * 1024);
  g_byte_array_set_size (answer, 4 + length);
  if (sm_test_receive_exactly (socket, answer->data + 4, length, error) != length)
    return NULL;
  if (sm_extension_parse_response (answer->data, answer->len, NULL, NULL, &refusal, error) !=
      SM_HANDSHAKE_COMPLETE)
    return NULL;
  if (refusal != NULL)
    return g_strdup_printf ("%s: %s", sm_extension_error_code (refusal), refusal->message);
  return g_strdup ("OK");
}

static SmTestService *
register_service (const char *control_address,
                  guint16     port,
                  const char *tag,
                  GByteArray *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  g_autofree char *status = NULL;
  SmYamuxConfig config;
  SmTestService *self;

  socket = sm_test_connect_address (control_address, &error);
  g_assert_no_error (error);
  sm_test_send_all (socket, request->data, request->len);
  /* Exactly the status is read: the daemon may start the session at once */
  if (sm_extension_is_request (request->data, request->len))
    status = read_extension_status (socket, &error);
  else
    status = sm_test_read_status (socket, &error);
  if (status == NULL)
    sm_test_fail ("registering port %u: no status: %s", port, error->message);
  if (g_strcmp0 (status, "OK") != 0)
    sm_test_fail ("registering port %u: status \"%s\"", port, status);
  /* A GSocket timeout would also fire on the session's idle sources */
  g_socket_set_timeout (socket, 0);

  self = g_new0 (SmTestService, 1);
  self->port = port;
  self->tag = g_strdup (tag);
  local = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  self->peer = g_strdup_printf ("127.0.0.1:%u",
                                g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
  g_queue_init (&self->streams);
  self->connection = g_socket_connection_factory_create_connection (socket);
  sm_yamux_config_init (&config);
  self->session = sm_yamux_session_new (G_IO_STREAM (self->connection), SM_YAMUX_ROLE_SERVER,
                                        &config, NULL);
  g_signal_connect (self->session, "incoming", G_CALLBACK (on_incoming), self);
  g_signal_connect (self->session, "go-away", G_CALLBACK (on_go_away), self);
  g_signal_connect (self->session, "closed", G_CALLBACK (on_closed), self);
  return self;
}

SmTestService *
sm_test_service_new (const char *control_address,
                     guint16     port,
                     const char *tag)
{
  g_autoptr(GByteArray) request = sm_test_handshake_new ("127.0.0.1", port, 0);

  return register_service (control_address, port, tag, request);
}

SmTestService *
sm_test_service_new_extension (const char               *control_address,
                               const SmExtensionRequest *request,
                               const char               *tag)
{
  g_autoptr(GByteArray) encoded = g_byte_array_new ();

  sm_extension_encode_request (request, encoded);
  return register_service (control_address, sm_socket_definition_get_port (request->definition),
                           tag, encoded);
}

SmTestService *
sm_test_service_new_tls (const char *control_address,
                         guint16     port,
                         const char *tag,
                         const char *cert_pem,
                         const char *key_pem)
{
  /* flags bit 1: TLS definition follows (docs/PROTOCOL.md §3) */
  g_autoptr(GByteArray) request = sm_test_handshake_new ("127.0.0.1", port, 0x02);

  sm_test_append_string (request, cert_pem);
  sm_test_append_string (request, key_pem);
  return register_service (control_address, port, tag, request);
}

SmTestService *
sm_test_service_new_http (const char *control_address,
                          guint16     port,
                          const char *tag,
                          const char *domain_suffix,
                          const char *path_prefix)
{
  /* flags bit 0: HTTP definition follows (docs/PROTOCOL.md §3) */
  g_autoptr(GByteArray) request = sm_test_handshake_new ("127.0.0.1", port, 0x01);

  sm_test_append_string (request, domain_suffix);
  sm_test_append_string (request, path_prefix);
  return register_service (control_address, port, tag, request);
}

void
sm_test_service_set_mode (SmTestService    *self,
                          SmTestServiceMode mode)
{
  self->mode = mode;
}

static gboolean
has_stream_or_closed (gpointer data)
{
  SmTestService *self = data;

  return !g_queue_is_empty (&self->streams) || self->closed;
}

SmYamuxStream *
sm_test_service_next_stream (SmTestService *self,
                             guint          timeout_ms)
{
  sm_test_wait_until (has_stream_or_closed, self, timeout_ms);
  if (g_queue_is_empty (&self->streams))
    sm_test_fail ("service on port %u: no stream within %u ms%s", self->port, timeout_ms,
                  self->closed ? " (session closed)" : "");
  return g_queue_pop_head (&self->streams);
}

const char *
sm_test_service_get_peer (SmTestService *self)
{
  return self->peer;
}

guint
sm_test_service_get_n_accepted (SmTestService *self)
{
  return self->n_accepted;
}

gboolean
sm_test_service_saw_go_away (SmTestService *self)
{
  return self->saw_go_away;
}

gboolean
sm_test_service_is_closed (SmTestService *self)
{
  return self->closed;
}

void
sm_test_service_free (SmTestService *self)
{
  SmYamuxStream *stream;

  if (self == NULL)
    return;
  while ((stream = g_queue_pop_head (&self->streams)) != NULL)
    {
      sm_yamux_stream_reset (stream);
      g_object_unref (stream);
    }
  g_signal_handlers_disconnect_by_data (self->session, self);
  if (!sm_yamux_session_is_closed (self->session))
    sm_yamux_session_close (self->session);
  g_object_unref (self->session);
  g_object_unref (self->connection);
  g_free (self->tag);
  g_free (self->peer);
  g_free (self);
}

/* ---- Stream I/O in the test thread ---- */

char *
sm_test_stream_read_until (SmYamuxStream *stream,
                           const char    *end)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (stream));
  g_autoptr(GString) text = g_string_new (NULL);

  while (end == NULL || !g_str_has_suffix (text->str, end))
    {
      g_autoptr(GError) error = NULL;
      char c;
      gssize n = g_input_stream_read (input, &c, 1, NULL, &error);

      g_assert_no_error (error);
      if (n == 0 && end == NULL)
        break;
      if (n == 0)
        sm_test_fail ("EOF before \"%s\" after \"%s\"", end, text->str);
      g_string_append_c (text, c);
      g_assert_cmpuint (text->len, <, 64 * 1024);
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

void
sm_test_stream_write (SmYamuxStream *stream,
                      const char    *text)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (stream)), text,
                             strlen (text), NULL, NULL, &error);
  g_assert_no_error (error);
}

/* ---- The example service ---- */

SmTestProcess *
sm_test_tcp_echo_start (const char *control_address,
                        guint16     port,
                        const char *name)
{
  g_autofree char *port_arg = g_strdup_printf ("%u", port);
  g_autofree char *ready = g_strdup_printf ("tcp-echo: serving port %u", port);
  const char *argv[] = {
    SM_TEST_TCP_ECHO, "--control", control_address, "--address", "127.0.0.1",
    "--port", port_arg, NULL
  };
  SmTestProcess *echo = sm_test_process_spawn (name, argv);

  sm_test_process_wait_for_line (echo, ready, 30000);
  return echo;
}
