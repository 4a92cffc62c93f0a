/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "sm-address.h"
#include "sm-control-connection.h"
#include "sm-error.h"
#include "sm-extension-handshake.h"
#include "sm-handshake.h"
#include "sm-metrics-events.h"
#include "sm-pollable-source.h"

/* After a refusal, how long we keep reading (and discarding) before
 * closing: closing with unread input would send a reset that can destroy
 * the status before the service reads it. */
#define LINGER_TIMEOUT_MS 2000
#define LINGER_MAX_BYTES  (1024 * 1024)
#define READ_CHUNK_SIZE   (16 * 1024)

struct _SmControlConnection
{
  GObject             parent_instance;

  GSocketConnection  *connection;
  SmRegistry         *registry;
  SmRateLimit        *log_limit;
  gsize              *buffered_total; /* shared by all handshakes (rc box) */
  char               *peer;
  SmPeerCredentials   creds;
  SmSourceTicket     *ticket; /* until the handshake is over */

  GByteArray         *buffer;
  GSource            *read_source;
  guint               timeout_source;
  GCancellable       *cancellable;
  gsize               discarded;

  gboolean            format_known; /* from the first byte */
  gboolean            extension;    /* the extension handshake (§7) */
  SmSocketDefinition *definition;
  SmExtensionRequest *request; /* extension only; owns no definition */
  GBytes             *leftover;
  SmPort             *port;   /* reserved while "OK" is written */
  GBytes             *status; /* being written */

  gboolean            started;
  gboolean            handed_over;
  gboolean            finished;
};

enum
{
  SIGNAL_FINISHED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (SmControlConnection, sm_control_connection, G_TYPE_OBJECT)

static void
stop_reading (SmControlConnection *self)
{
  sm_source_clear (&self->read_source);
}

static void
release_port (SmControlConnection *self)
{
  if (self->port == NULL)
    return;
  sm_registry_release (self->registry, self->port, self->definition, &self->creds);
  g_clear_object (&self->port);
}

static void
finish (SmControlConnection *self)
{
  g_autoptr (SmControlConnection) hold = NULL;

  if (self->finished)
    return;

  self->finished = TRUE;
  g_clear_pointer (&self->ticket, sm_source_ticket_release);
  stop_reading (self);
  g_clear_handle_id (&self->timeout_source, g_source_remove);
  g_cancellable_cancel (self->cancellable);

  release_port (self);

  if (!self->handed_over)
    g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);

  /* The handler usually drops the last other reference */
  hold = g_object_ref (self);
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0);
}

static void
watch_input (SmControlConnection *self, GPollableSourceFunc callback)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (self->connection));

  stop_reading (self);
  self->read_source = g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (input), NULL);
  g_source_set_callback (self->read_source, G_SOURCE_FUNC (callback), self, NULL);
  g_source_attach (self->read_source, NULL);
}

/* One non-blocking read: > 0 bytes read, 0 EOF, -1 nothing yet, -2 error */
static gssize
read_some (SmControlConnection *self, guint8 *chunk, gsize size)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (self->connection));
  g_autoptr (GError) error = NULL;
  gssize n_read;

  n_read = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (input), chunk, size,
                                                     NULL, &error);
  if (n_read >= 0)
    return n_read;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return -1;

  g_debug ("Control connection from %s: %s", self->peer, error->message);
  return -2;
}

/* @refusal NULL: the request is accepted. Answered in the request's format. */
static void
write_status (SmControlConnection *self, const GError *refusal, GAsyncReadyCallback callback)
{
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (self->connection));
  g_autoptr (GByteArray) encoded = g_byte_array_new ();

  if (self->extension)
    sm_extension_encode_response (refusal, NULL, encoded);
  else
    sm_handshake_encode_status (refusal != NULL ? refusal->message : SM_HANDSHAKE_STATUS_OK,
                                encoded);
  self->status = g_byte_array_free_to_bytes (g_steal_pointer (&encoded));

  g_output_stream_write_all_async (output, g_bytes_get_data (self->status, NULL),
                                   g_bytes_get_size (self->status), G_PRIORITY_DEFAULT,
                                   self->cancellable, callback, g_object_ref (self));
}

/* Whether the status went out and the connection is still ours to use */
static gboolean
status_written (SmControlConnection *self, GObject *output, GAsyncResult *result)
{
  g_autoptr (GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (output), result, NULL, &error))
    {
      if (!self->finished)
        g_debug ("Control connection from %s: cannot send status: %s", self->peer, error->message);
      finish (self);
      return FALSE;
    }

  return !self->finished;
}

static gboolean
on_linger_readable (GObject *pollable_stream, gpointer user_data)
{
  SmControlConnection *self = user_data;
  guint8               chunk[READ_CHUNK_SIZE];
  gssize               n_read = read_some (self, chunk, sizeof chunk);

  if (n_read == -1)
    return G_SOURCE_CONTINUE;

  if (n_read > 0)
    {
      self->discarded += (gsize) n_read;
      if (self->discarded < LINGER_MAX_BYTES)
        return G_SOURCE_CONTINUE;
    }

  finish (self);
  return G_SOURCE_REMOVE;
}

static gboolean
on_linger_timeout (gpointer user_data)
{
  SmControlConnection *self = user_data;

  self->timeout_source = 0;
  finish (self);
  return G_SOURCE_REMOVE;
}

static void
refusal_written_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (SmControlConnection) self = user_data;
  GSocket *socket;

  if (!status_written (self, source_object, result))
    return;

  /* Let the status reach the service, then wait for it to hang up */
  socket = g_socket_connection_get_socket (self->connection);
  g_socket_shutdown (socket, FALSE, TRUE, NULL);

  g_clear_handle_id (&self->timeout_source, g_source_remove);
  self->timeout_source = g_timeout_add (LINGER_TIMEOUT_MS, on_linger_timeout, self);
  watch_input (self, on_linger_readable);
}

static void
refuse (SmControlConnection *self, const GError *refusal)
{
  g_autofree char *who = sm_peer_credentials_describe (&self->creds);

  sm_metrics_registration_refused (
      self->log_limit, self->peer, who,
      self->definition != NULL ? sm_socket_definition_get_port (self->definition) : 0, refusal);

  write_status (self, refusal, refusal_written_cb);
}

static void
refuse_literal (SmControlConnection *self, SmError code, const char *message)
{
  g_autoptr (GError) refusal = g_error_new_literal (SM_ERROR, code, message);

  refuse (self, refusal);
}

/* What a service may send ahead on one stream: with the 64 KiB buffer of
 * the HTTP exchange that passes the stream's bytes on, a public client
 * that stops reading pins at most 512 KiB of our memory (a raw TCP
 * port's splice writes from the stream's own buffer: the window alone,
 * sm-tcp-proxy.h) */
#define SM_CONTROL_MAX_STREAM_WINDOW (448 * 1024)

static void
ok_written_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (SmControlConnection) self = user_data;
  g_autoptr (SmYamuxSession) session = NULL;
  g_autoptr (SmRoute) route = NULL;
  g_autoptr (SmPort) port = NULL;
  SmYamuxConfig config;

  if (!status_written (self, source_object, result))
    return;

  /* The handshake is over: the rest of the connection is the session's */
  g_clear_handle_id (&self->timeout_source, g_source_remove);
  port = g_steal_pointer (&self->port);
  sm_yamux_config_init (&config);
  config.max_stream_window = SM_CONTROL_MAX_STREAM_WINDOW;
  session = sm_yamux_session_new (G_IO_STREAM (self->connection), SM_YAMUX_ROLE_CLIENT, &config,
                                  self->leftover);
  self->handed_over = TRUE;
  route = sm_registry_add_route (self->registry, port, self->definition, session, self->peer,
                                 &self->creds, self->request != NULL ? self->request->name : NULL,
                                 self->request != NULL ? self->request->proxy_protocol : 0);

  finish (self);
}

/* What only the extension handshake can ask for */
static gboolean
check_extension (SmControlConnection *self, GError **error)
{
  SmPolicy *policy = sm_registry_get_policy (self->registry);

  if (sm_policy_needs_token (policy, &self->creds) &&
      !sm_policy_check_token (policy, self->request->token, error))
    return FALSE;

  /* HTTP services get X-Forwarded-For and Forwarded instead */
  if (self->request->proxy_protocol != 0 && sm_socket_definition_has_http (self->definition))
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_UNSUPPORTED,
                           "unsupported: proxy_protocol is for raw TCP ports, not for HTTP ports "
                           "(their services get X-Forwarded-For)");
      return FALSE;
    }
  return TRUE;
}

static void
handle_request (SmControlConnection *self)
{
  g_autoptr (GError) error = NULL;

  if (self->extension && !check_extension (self, &error))
    {
      refuse (self, error);
      return;
    }

  self->port = sm_registry_reserve (self->registry, self->definition, &self->creds, &error);
  if (self->port == NULL)
    {
      refuse (self, error);
      return;
    }

  write_status (self, NULL, ok_written_cb);
}

/* Decided by the first byte. A TCP peer that must present a token but
 * speaks the original format, which has no place for one, is told at
 * once instead of after its whole request. */
static gboolean
choose_format (SmControlConnection *self)
{
  self->format_known = TRUE;
  self->extension = sm_extension_is_request (self->buffer->data, self->buffer->len);
  if (!self->extension &&
      sm_policy_needs_token (sm_registry_get_policy (self->registry), &self->creds))
    {
      refuse_literal (self, SM_ERROR_UNAUTHORIZED,
                      "unauthorized: this daemon requires a token from TCP peers, "
                      "sent in the extension handshake");
      return FALSE;
    }
  return TRUE;
}

static SmHandshakeResult
parse_request (SmControlConnection *self, gsize *consumed, GError **error)
{
  SmHandshakeResult result;

  if (!self->extension)
    return sm_handshake_parse_request (self->buffer->data, self->buffer->len, consumed,
                                       &self->definition, error);

  result = sm_extension_parse_request (self->buffer->data, self->buffer->len, consumed,
                                       &self->request, error);
  if (result == SM_HANDSHAKE_COMPLETE)
    self->definition = g_steal_pointer (&self->request->definition);
  return result;
}

static void
release_buffer (SmControlConnection *self)
{
  if (self->buffer == NULL)
    return;
  *self->buffered_total -= self->buffer->len;
  g_clear_pointer (&self->buffer, g_byte_array_unref);
}

static gboolean
on_handshake_readable (GObject *pollable_stream, gpointer user_data)
{
  SmControlConnection *self = user_data;
  guint8               chunk[READ_CHUNK_SIZE];
  g_autoptr (GError) error = NULL;
  SmHandshakeResult result;
  gsize             consumed = 0;
  gssize            n_read;

  /* One read per wake-up, so one busy client cannot hog the loop */
  n_read = read_some (self, chunk, sizeof chunk);
  if (n_read == -1)
    return G_SOURCE_CONTINUE;
  if (n_read == 0)
    g_debug ("Control connection from %s closed before its handshake was complete", self->peer);
  if (n_read <= 0)
    {
      finish (self);
      return G_SOURCE_REMOVE;
    }
  if (self->ticket != NULL)
    sm_source_ticket_progress (self->ticket);

  /* The parser fails as soon as a length is over its limit, which bounds
   * how large one buffer can grow; the shared total bounds the large ones
   * (certificates), so many slow clients cannot exhaust memory. Small
   * handshakes always get through: plain registrations are never refused
   * because someone else hogs the budget. */
  if (self->buffer->len + (gsize) n_read > SM_HANDSHAKE_MAX_STRING &&
      *self->buffered_total + (gsize) n_read > SM_CONTROL_MAX_BUFFERED_BYTES)
    {
      stop_reading (self);
      refuse_literal (self, SM_ERROR_LIMIT,
                      "socketmaster is busy with other registrations; try again");
      return G_SOURCE_REMOVE;
    }
  g_byte_array_append (self->buffer, chunk, (guint) n_read);
  *self->buffered_total += (gsize) n_read;
  if (!self->format_known && !choose_format (self))
    {
      stop_reading (self);
      return G_SOURCE_REMOVE;
    }
  result = parse_request (self, &consumed, &error);
  switch (result)
    {
    case SM_HANDSHAKE_NEED_MORE:
      return G_SOURCE_CONTINUE;

    case SM_HANDSHAKE_ERROR:
      stop_reading (self);
      refuse (self, error);
      return G_SOURCE_REMOVE;

    case SM_HANDSHAKE_COMPLETE:
    default:
      stop_reading (self);
      g_return_val_if_fail (consumed <= self->buffer->len, G_SOURCE_REMOVE);
      /* A fast service may send yamux frames right behind its request */
      if (consumed < self->buffer->len)
        self->leftover = g_bytes_new (self->buffer->data + consumed, self->buffer->len - consumed);
      release_buffer (self);
      handle_request (self);
      return G_SOURCE_REMOVE;
    }
}

static gboolean
on_handshake_timeout (gpointer user_data)
{
  SmControlConnection *self = user_data;

  self->timeout_source = 0;
  g_debug ("Control connection from %s: no complete handshake within %u s; dropping it", self->peer,
           SM_CONTROL_HANDSHAKE_TIMEOUT_SECONDS);
  finish (self);

  return G_SOURCE_REMOVE;
}

static void
sm_control_connection_dispose (GObject *object)
{
  SmControlConnection *self = SM_CONTROL_CONNECTION (object);

  stop_reading (self);
  g_clear_pointer (&self->ticket, sm_source_ticket_release);
  g_clear_handle_id (&self->timeout_source, g_source_remove);
  release_port (self);

  G_OBJECT_CLASS (sm_control_connection_parent_class)->dispose (object);
}

static void
sm_control_connection_finalize (GObject *object)
{
  SmControlConnection *self = SM_CONTROL_CONNECTION (object);

  g_clear_object (&self->connection);
  g_clear_object (&self->registry);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->peer, g_free);
  release_buffer (self);
  g_rc_box_release (self->buffered_total);
  g_clear_pointer (&self->definition, sm_socket_definition_free);
  g_clear_pointer (&self->request, sm_extension_request_free);
  g_clear_pointer (&self->leftover, g_bytes_unref);
  g_clear_pointer (&self->status, g_bytes_unref);

  G_OBJECT_CLASS (sm_control_connection_parent_class)->finalize (object);
}

static void
sm_control_connection_class_init (SmControlConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_control_connection_dispose;
  object_class->finalize = sm_control_connection_finalize;

  signals[SIGNAL_FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
sm_control_connection_init (SmControlConnection *self)
{
  self->buffer = g_byte_array_new ();
  self->cancellable = g_cancellable_new ();
}

SmControlConnection *
sm_control_connection_new (GSocketConnection *connection,
                           SmRegistry        *registry,
                           SmRateLimit       *log_limit,
                           gsize             *buffered_total)
{
  g_autoptr (GSocketAddress) remote = NULL;
  SmControlConnection *self;

  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (connection), NULL);
  g_return_val_if_fail (SM_IS_REGISTRY (registry), NULL);
  g_return_val_if_fail (log_limit != NULL, NULL);
  g_return_val_if_fail (buffered_total != NULL, NULL);

  self = g_object_new (SM_TYPE_CONTROL_CONNECTION, NULL);
  self->connection = g_object_ref (connection);
  self->registry = g_object_ref (registry);
  self->log_limit = log_limit;
  self->buffered_total = g_rc_box_acquire (buffered_total);

  /* Asked once, now: the answer is the same for the whole connection */
  sm_peer_credentials_lookup (connection, &self->creds);
  remote = g_socket_connection_get_remote_address (connection, NULL);
  if (self->creds.is_unix)
    self->peer = g_strdup_printf ("unix:pid=%d", (int) self->creds.pid);
  else
    self->peer = remote != NULL ? sm_address_format_socket (remote) : g_strdup ("(unknown)");

  return self;
}

void
sm_control_connection_start (SmControlConnection *self)
{
  GSocket *socket;

  g_return_if_fail (SM_IS_CONTROL_CONNECTION (self));
  g_return_if_fail (!self->started);

  self->started = TRUE;
  g_debug ("Control connection from %s", self->peer);

  /* yamux frames are small and latency-bound */
  socket = g_socket_connection_get_socket (self->connection);
  g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  self->timeout_source =
      g_timeout_add_seconds (SM_CONTROL_HANDSHAKE_TIMEOUT_SECONDS, on_handshake_timeout, self);
  watch_input (self, on_handshake_readable);
}

void
sm_control_connection_set_ticket (SmControlConnection *self, SmSourceTicket *ticket)
{
  g_return_if_fail (SM_IS_CONTROL_CONNECTION (self));
  g_return_if_fail (self->ticket == NULL);

  self->ticket = ticket;
}

void
sm_control_connection_abort (SmControlConnection *self)
{
  g_return_if_fail (SM_IS_CONTROL_CONNECTION (self));

  finish (self);
}

const char *
sm_control_connection_get_peer (SmControlConnection *self)
{
  g_return_val_if_fail (SM_IS_CONTROL_CONNECTION (self), NULL);
  return self->peer;
}
