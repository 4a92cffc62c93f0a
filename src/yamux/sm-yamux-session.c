/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "sm-error.h"
#include "sm-yamux-private.h"

/*
 * The session object: lifecycle, stream table, SYN slots, keep-alive and
 * go-away. Reading the connection is in sm-yamux-reader.c, writing it in
 * sm-yamux-writer.c.
 */

G_DEFINE_TYPE (SmYamuxSession, sm_yamux_session, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_N_STREAMS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum
{
  SIGNAL_INCOMING,
  SIGNAL_GO_AWAY,
  SIGNAL_CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

void
sm_yamux_config_init (SmYamuxConfig *config)
{
  g_return_if_fail (config != NULL);

  /* Fields not named here are zero */
  *config = (SmYamuxConfig){
    .max_stream_window = SM_YAMUX_DEFAULT_MAX_STREAM_WINDOW,
    .keepalive_interval_ms = SM_YAMUX_DEFAULT_KEEPALIVE_INTERVAL,
    .keepalive_timeout_ms = SM_YAMUX_DEFAULT_KEEPALIVE_TIMEOUT,
    .write_timeout_ms = SM_YAMUX_DEFAULT_WRITE_TIMEOUT,
    .accept_backlog = SM_YAMUX_DEFAULT_ACCEPT_BACKLOG,
    .max_pending_syn = SM_YAMUX_DEFAULT_MAX_PENDING_SYN,
    .write_buffer_limit = SM_YAMUX_DEFAULT_WRITE_BUFFER_LIMIT,
    .stream_close_timeout_ms = SM_YAMUX_DEFAULT_STREAM_CLOSE_TIMEOUT,
  };
}

static void
session_notify_n_streams (SmYamuxSession *self)
{
  guint n_streams = g_hash_table_size (self->streams);

  if (n_streams == self->notified_n_streams)
    return;

  self->notified_n_streams = n_streams;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_STREAMS]);
}

/* Ends the session: no more I/O, streams fail, "closed" is emitted once.
 * Callers hold a reference or are a dispatch of one of our sources. */
void
sm_yamux_session_terminate (SmYamuxSession *self, const GError *error, gboolean emit)
{
  g_autoptr (GError) reason = error != NULL ? g_error_copy (error) : NULL;
  g_autoptr (GPtrArray) streams = NULL;
  GHashTableIter iter;
  gpointer       value;

  if (self->closed)
    return;

  g_object_ref (self);
  self->closed = TRUE;
  g_debug ("yamux session %p closed: %s", self, reason != NULL ? reason->message : "orderly end");

  sm_yamux_session_end_reading (self);
  sm_source_clear (&self->keepalive_source);
  sm_source_clear (&self->ping_timeout_source);
  sm_source_clear (&self->fail_source);
  g_clear_error (&self->fail_error);
  sm_yamux_session_end_writing (self);
  g_io_stream_close (self->connection, NULL, NULL);

  g_queue_clear (&self->syn_waiting);
  self->n_syn_pending = 0;

  streams = g_ptr_array_new_full (g_hash_table_size (self->streams), g_object_unref);
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      g_ptr_array_add (streams, value);
      g_hash_table_iter_steal (&iter);
    }
  for (guint i = 0; i < streams->len; i++)
    sm_yamux_stream_abort (g_ptr_array_index (streams, i), TRUE);

  session_notify_n_streams (self);
  if (emit)
    g_signal_emit (self, signals[SIGNAL_CLOSED], 0, reason);
  g_object_unref (self);
}

static gboolean
on_fail_idle (gpointer user_data)
{
  SmYamuxSession *self = user_data;
  g_autoptr (GError) error = g_steal_pointer (&self->fail_error);

  g_clear_pointer (&self->fail_source, g_source_unref);
  sm_yamux_session_terminate (self, error, TRUE);
  return G_SOURCE_REMOVE;
}

/* Takes @error. The session stops all I/O now and ends from an idle. */
void
sm_yamux_session_fail (SmYamuxSession *self, GError *error)
{
  if (!sm_yamux_session_is_running (self))
    {
      g_error_free (error);
      return;
    }

  self->fail_error = error;
  sm_yamux_session_stop_reading (self);
  sm_yamux_session_stop_writing (self);
  self->fail_source = g_idle_source_new ();
  g_source_set_priority (self->fail_source, G_PRIORITY_HIGH);
  g_source_set_callback (self->fail_source, on_fail_idle, self, NULL);
  g_source_set_static_name (self->fail_source, "[socketmaster] yamux session failure");
  g_source_attach (self->fail_source, self->context);
}

void
sm_yamux_session_protocol_error (SmYamuxSession *self, GError *error)
{
  g_autoptr (GError) owned_error = error;

  g_debug ("yamux session %p: protocol error: %s", self, error->message);
  sm_yamux_session_write_frame (self, SM_YAMUX_TYPE_GO_AWAY, 0, 0, SM_YAMUX_GO_AWAY_PROTOCOL_ERROR,
                                NULL, 0);
  self->local_go_away = TRUE;
  sm_yamux_session_terminate (self, owned_error, TRUE);
}

static void
session_send_waiting_syns (SmYamuxSession *self)
{
  while (sm_yamux_session_is_running (self) && self->n_syn_pending < self->config.max_pending_syn &&
         !g_queue_is_empty (&self->syn_waiting))
    {
      SmYamuxStream *stream = g_queue_pop_head (&self->syn_waiting);

      self->n_syn_pending++;
      sm_yamux_stream_send_open (stream);
    }
}

static void session_send_ping (SmYamuxSession *self);

static gboolean
on_ping_timeout (gpointer user_data)
{
  SmYamuxSession *self = user_data;
  g_autoptr (GError) error = NULL;

  g_clear_pointer (&self->ping_timeout_source, g_source_unref);
  g_set_error (&error, SM_ERROR, SM_ERROR_TIMED_OUT,
               "The yamux peer did not answer a ping within %u ms",
               self->config.keepalive_timeout_ms);
  sm_yamux_session_terminate (self, error, TRUE);
  return G_SOURCE_REMOVE;
}

static void
session_send_ping (SmYamuxSession *self)
{
  if (!sm_yamux_session_is_running (self))
    return;

  self->stats.pings_sent++;
  sm_yamux_session_write_frame (self, SM_YAMUX_TYPE_PING, SM_YAMUX_FLAG_SYN, 0,
                                self->ping_next_id++, NULL, 0);

  if (self->ping_timeout_source == NULL && self->config.keepalive_timeout_ms > 0)
    {
      self->ping_timeout_source = g_timeout_source_new (self->config.keepalive_timeout_ms);
      g_source_set_callback (self->ping_timeout_source, on_ping_timeout, self, NULL);
      g_source_set_static_name (self->ping_timeout_source, "[socketmaster] yamux ping timeout");
      g_source_attach (self->ping_timeout_source, self->context);
    }
}

static gboolean
on_keepalive (gpointer user_data)
{
  SmYamuxSession *self = user_data;

  /* One keep-alive in flight at a time; its timeout covers the rest. */
  if (self->ping_unanswered_id == self->ping_next_id)
    session_send_ping (self);
  return G_SOURCE_CONTINUE;
}

void
sm_yamux_session_handle_ping (SmYamuxSession *self, const SmYamuxHeader *header)
{
  guint32 outstanding, offset;

  if (header->flags & SM_YAMUX_FLAG_SYN)
    {
      self->stats.pings_received++;
      sm_yamux_session_write_frame (self, SM_YAMUX_TYPE_PING, SM_YAMUX_FLAG_ACK, 0, header->length,
                                    NULL, 0);
      return;
    }

  if ((header->flags & SM_YAMUX_FLAG_ACK) == 0)
    return;

  /* Modular arithmetic: the ids in flight are [unanswered, next). */
  outstanding = self->ping_next_id - self->ping_unanswered_id;
  offset = header->length - self->ping_unanswered_id;
  if (offset >= outstanding)
    return;

  self->stats.pongs_received++;
  self->ping_unanswered_id = header->length + 1;
  if (self->ping_unanswered_id == self->ping_next_id)
    sm_source_clear (&self->ping_timeout_source);
}

void
sm_yamux_session_handle_go_away (SmYamuxSession *self, const SmYamuxHeader *header)
{
  g_debug ("yamux session %p: peer going away (code %u)", self, header->length);

  self->remote_go_away = TRUE;
  self->remote_go_away_code = header->length;

  /* The peer would reset these SYNs: fail them here instead. */
  while (!g_queue_is_empty (&self->syn_waiting))
    {
      g_autoptr (SmYamuxStream) stream = g_object_ref (g_queue_pop_head (&self->syn_waiting));

      sm_yamux_stream_abort (stream, FALSE);
    }

  g_signal_emit (self, signals[SIGNAL_GO_AWAY], 0, (guint) header->length);
}

void
sm_yamux_session_handle_ack (SmYamuxSession *self, SmYamuxStream *stream)
{
  if (!sm_yamux_stream_is_syn_pending (stream))
    return;

  sm_yamux_stream_handle_ack (stream);
  self->n_syn_pending--;
  session_send_waiting_syns (self);
}

/* A SYN from the peer. FALSE if it broke the protocol (session over). */
gboolean
sm_yamux_session_accept_stream (SmYamuxSession *self, guint32 id)
{
  gboolean       peer_opens_odd = self->role == SM_YAMUX_ROLE_SERVER;
  SmYamuxStream *stream;

  if (((id & 1) == 1) != peer_opens_odd)
    {
      sm_yamux_session_protocol_error (
          self, g_error_new (SM_ERROR, SM_ERROR_PROTOCOL,
                             "yamux peer opened stream %u, an id of our own parity", id));
      return FALSE;
    }

  if (g_hash_table_contains (self->streams, GUINT_TO_POINTER (id)))
    {
      sm_yamux_session_protocol_error (
          self, g_error_new (SM_ERROR, SM_ERROR_PROTOCOL,
                             "yamux peer opened stream %u, which is in use", id));
      return FALSE;
    }

  if (self->local_go_away ||
      !g_signal_has_handler_pending (self, signals[SIGNAL_INCOMING], 0, FALSE))
    {
      g_debug ("yamux session %p: refusing stream %u", self, id);
      sm_yamux_session_write_frame (self, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_RST, id, 0,
                                    NULL, 0);
      return TRUE;
    }

  stream = sm_yamux_stream_new_internal (self, id, FALSE);
  g_hash_table_insert (self->streams, GUINT_TO_POINTER (id), stream);
  self->stats.streams_accepted++;
  sm_yamux_stream_send_open (stream);
  session_notify_n_streams (self);

  g_signal_emit (self, signals[SIGNAL_INCOMING], 0, stream);

  /* The table's reference is the only one left: no handler took it. */
  if (g_hash_table_lookup (self->streams, GUINT_TO_POINTER (id)) == stream &&
      g_atomic_int_get (&G_OBJECT (stream)->ref_count) == 1)
    {
      g_debug ("yamux session %p: nobody took stream %u, resetting it", self, id);
      sm_yamux_stream_reset (stream);
    }

  return sm_yamux_session_is_running (self);
}

void
sm_yamux_session_connection_lost (SmYamuxSession *self, const GError *read_error)
{
  g_autoptr (GError) error = NULL;

  if (read_error != NULL)
    error = g_error_copy (read_error);
  else if (self->remote_go_away && self->remote_go_away_code != SM_YAMUX_GO_AWAY_NORMAL)
    error = g_error_new (SM_ERROR, SM_ERROR_PROTOCOL, "The yamux peer went away with error code %u",
                         self->remote_go_away_code);
  else if (!self->remote_go_away && !self->local_go_away)
    error = g_error_new_literal (SM_ERROR, SM_ERROR_CLOSED, "The yamux peer closed the connection");

  sm_yamux_session_terminate (self, error, TRUE);
}

static void
sm_yamux_session_dispose (GObject *object)
{
  SmYamuxSession *self = SM_YAMUX_SESSION (object);

  /* Nobody is left to hear "closed". */
  sm_yamux_session_terminate (self, NULL, FALSE);

  G_OBJECT_CLASS (sm_yamux_session_parent_class)->dispose (object);
}

static void
sm_yamux_session_finalize (GObject *object)
{
  SmYamuxSession *self = SM_YAMUX_SESSION (object);

  g_hash_table_unref (self->streams);
  g_free (self->read_buffer);
  g_clear_object (&self->connection);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (sm_yamux_session_parent_class)->finalize (object);
}

static void
sm_yamux_session_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  SmYamuxSession *self = SM_YAMUX_SESSION (object);

  switch (prop_id)
    {
    case PROP_N_STREAMS:
      g_value_set_uint (value, sm_yamux_session_get_n_streams (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sm_yamux_session_class_init (SmYamuxSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_yamux_session_dispose;
  object_class->finalize = sm_yamux_session_finalize;
  object_class->get_property = sm_yamux_session_get_property;

  properties[PROP_N_STREAMS] =
      g_param_spec_uint ("n-streams", NULL, NULL, 0, G_MAXUINT, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_INCOMING] =
      g_signal_new ("incoming", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                    G_TYPE_NONE, 1, SM_TYPE_YAMUX_STREAM);
  signals[SIGNAL_GO_AWAY] = g_signal_new ("go-away", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
  signals[SIGNAL_CLOSED] =
      g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                    G_TYPE_NONE, 1, G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
sm_yamux_session_init (SmYamuxSession *self)
{
  self->streams = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  g_queue_init (&self->syn_waiting);
}

SmYamuxSession *
sm_yamux_session_new (GIOStream           *connection,
                      SmYamuxRole          role,
                      const SmYamuxConfig *config,
                      GBytes              *initial_input)
{
  SmYamuxSession *self;
  GInputStream   *input;
  GOutputStream  *output;

  g_return_val_if_fail (G_IS_IO_STREAM (connection), NULL);
  g_return_val_if_fail (role == SM_YAMUX_ROLE_CLIENT || role == SM_YAMUX_ROLE_SERVER, NULL);

  input = g_io_stream_get_input_stream (connection);
  output = g_io_stream_get_output_stream (connection);
  g_return_val_if_fail (G_IS_POLLABLE_INPUT_STREAM (input) &&
                            g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (input)),
                        NULL);
  g_return_val_if_fail (G_IS_POLLABLE_OUTPUT_STREAM (output) &&
                            g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (output)),
                        NULL);

  self = g_object_new (SM_TYPE_YAMUX_SESSION, NULL);
  self->connection = g_object_ref (connection);
  self->input = G_POLLABLE_INPUT_STREAM (input);
  self->output = G_POLLABLE_OUTPUT_STREAM (output);
  self->context = g_main_context_ref_thread_default ();
  self->role = role;
  self->tracing = !g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);

  if (config != NULL)
    self->config = *config;
  else
    sm_yamux_config_init (&self->config);
  self->config.max_stream_window = MAX (self->config.max_stream_window, SM_YAMUX_INITIAL_WINDOW);
  self->config.max_pending_syn = MAX (self->config.max_pending_syn, 1);
  self->config.accept_backlog = MAX (self->config.accept_backlog, 1);
  if (self->config.write_buffer_limit == 0)
    self->config.write_buffer_limit = SM_YAMUX_DEFAULT_WRITE_BUFFER_LIMIT;

  self->next_stream_id = role == SM_YAMUX_ROLE_CLIENT ? 1 : 2;

  /* Window updates, pings and small writes of interactive streams must
   * not wait for the peer's delayed ACK; big writes coalesce in the queue. */
  if (G_IS_TCP_CONNECTION (connection))
    {
      GSocket *socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (connection));
      g_autoptr (GError) error = NULL;

      if (!g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, TRUE, &error))
        g_debug ("yamux session %p: cannot disable Nagle: %s", self, error->message);
    }

  /* Sources of one priority dispatch in the order they were attached. */
  sm_yamux_session_start_writing (self);
  sm_yamux_session_start_reading (self, initial_input);
  sm_yamux_session_start_watchdog (self);
  if (self->config.keepalive_interval_ms > 0)
    {
      self->keepalive_source = g_timeout_source_new (self->config.keepalive_interval_ms);
      g_source_set_callback (self->keepalive_source, on_keepalive, self, NULL);
      g_source_set_static_name (self->keepalive_source, "[socketmaster] yamux keep-alive");
      g_source_attach (self->keepalive_source, self->context);
    }

  g_debug ("yamux session %p started as %s", self,
           role == SM_YAMUX_ROLE_CLIENT ? "client" : "server");
  return self;
}

SmYamuxStream *
sm_yamux_session_open_stream (SmYamuxSession *self, GError **error)
{
  SmYamuxStream *stream;
  guint32        id;

  g_return_val_if_fail (SM_IS_YAMUX_SESSION (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!sm_yamux_session_is_running (self))
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_CLOSED, "The yamux session is closed");
      return NULL;
    }
  if (self->local_go_away || self->remote_go_away)
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_GOING_AWAY, "The yamux session is going away");
      return NULL;
    }
  if (self->next_stream_id >= G_MAXUINT32 - 1)
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_FAILED,
                           "The yamux session ran out of stream ids");
      return NULL;
    }

  id = self->next_stream_id;
  self->next_stream_id += 2;

  stream = sm_yamux_stream_new_internal (self, id, TRUE);
  g_hash_table_insert (self->streams, GUINT_TO_POINTER (id), stream);
  self->stats.streams_opened++;

  g_object_ref (self);
  if (self->n_syn_pending < self->config.max_pending_syn)
    {
      self->n_syn_pending++;
      sm_yamux_stream_send_open (stream);
    }
  else
    {
      g_queue_push_tail (&self->syn_waiting, stream);
    }
  g_object_ref (stream);
  session_notify_n_streams (self);
  g_object_unref (self);

  return stream;
}

void
sm_yamux_session_go_away (SmYamuxSession *self, SmYamuxGoAwayCode code)
{
  g_return_if_fail (SM_IS_YAMUX_SESSION (self));

  if (!sm_yamux_session_is_running (self) || self->local_go_away)
    return;

  self->local_go_away = TRUE;
  sm_yamux_session_write_frame (self, SM_YAMUX_TYPE_GO_AWAY, 0, 0, code, NULL, 0);
}

void
sm_yamux_session_close (SmYamuxSession *self)
{
  g_autoptr (GError) error = NULL;

  g_return_if_fail (SM_IS_YAMUX_SESSION (self));

  if (self->closed)
    return;

  error = g_steal_pointer (&self->fail_error);
  if (error == NULL && !self->local_go_away)
    {
      self->local_go_away = TRUE;
      sm_yamux_session_write_frame (self, SM_YAMUX_TYPE_GO_AWAY, 0, 0, SM_YAMUX_GO_AWAY_NORMAL,
                                    NULL, 0);
    }
  sm_yamux_session_terminate (self, error, TRUE);
}

gboolean
sm_yamux_session_is_closed (SmYamuxSession *self)
{
  g_return_val_if_fail (SM_IS_YAMUX_SESSION (self), TRUE);

  return !sm_yamux_session_is_running (self);
}

gboolean
sm_yamux_session_is_going_away (SmYamuxSession *self)
{
  g_return_val_if_fail (SM_IS_YAMUX_SESSION (self), FALSE);

  return self->local_go_away || self->remote_go_away;
}

guint
sm_yamux_session_get_n_streams (SmYamuxSession *self)
{
  g_return_val_if_fail (SM_IS_YAMUX_SESSION (self), 0);

  return g_hash_table_size (self->streams);
}

SmYamuxRole
sm_yamux_session_get_role (SmYamuxSession *self)
{
  g_return_val_if_fail (SM_IS_YAMUX_SESSION (self), SM_YAMUX_ROLE_CLIENT);

  return self->role;
}

GIOStream *
sm_yamux_session_get_connection (SmYamuxSession *self)
{
  g_return_val_if_fail (SM_IS_YAMUX_SESSION (self), NULL);

  return self->connection;
}

void
sm_yamux_session_get_stats (SmYamuxSession *self, SmYamuxStats *stats)
{
  g_return_if_fail (SM_IS_YAMUX_SESSION (self));
  g_return_if_fail (stats != NULL);

  *stats = self->stats;
}

void
sm_yamux_session_ping (SmYamuxSession *self)
{
  g_return_if_fail (SM_IS_YAMUX_SESSION (self));

  session_send_ping (self);
}

/* Internal API for streams (sm-yamux-private.h) */

GMainContext *
sm_yamux_session_get_context (SmYamuxSession *self)
{
  return self->context;
}

const SmYamuxConfig *
sm_yamux_session_get_config (SmYamuxSession *self)
{
  return &self->config;
}

void
sm_yamux_session_remove_stream (SmYamuxSession *self, SmYamuxStream *stream)
{
  guint32  id = sm_yamux_stream_get_id (stream);
  gboolean freed_syn_slot = FALSE;

  if (g_hash_table_lookup (self->streams, GUINT_TO_POINTER (id)) != stream)
    return;

  if (sm_yamux_stream_is_syn_pending (stream))
    {
      self->n_syn_pending--;
      freed_syn_slot = TRUE;
    }
  else if (sm_yamux_stream_is_syn_waiting (stream))
    {
      g_queue_remove (&self->syn_waiting, stream);
    }

  /* Handlers of notify::n-streams may drop the last reference to us. */
  g_object_ref (self);
  g_hash_table_remove (self->streams, GUINT_TO_POINTER (id));
  if (freed_syn_slot)
    session_send_waiting_syns (self);
  session_notify_n_streams (self);
  g_object_unref (self);
}
