/* SPDX-License-Identifier: MIT */

#include "config.h"

#include <glib/gi18n-lib.h>

#include <string.h>

#include "sm-client-handshake.h"
#include "sm-control-link-private.h"
#include "sm-error.h"

G_DEFINE_FINAL_TYPE (SmControlLink, sm_control_link, G_TYPE_OBJECT)

GSource *
sm_control_link_add_source (SmControlLink *self,
                            GSource       *source,
                            GSourceFunc    func,
                            const char    *name)
{
  g_source_set_callback (source, func, self, NULL);
  g_source_set_static_name (source, name);
  g_source_attach (source, self->context);
  g_source_unref (source);

  /* the context owns it: whoever clears the pointer destroys the source,
   * and its callback clears the pointer before returning G_SOURCE_REMOVE */
  return source;
}

void
sm_control_link_set_connected (SmControlLink *self, gboolean connected)
{
  if (self->connected == connected)
    return;

  self->connected = connected;
  /* disowned: the owner is being disposed */
  if (self->events != NULL)
    self->events->connected_changed (self->owner);
}

/* --- session --- */

/* Forgets the session; @close: end it first (it has not ended by itself) */
static void
sm_control_link_drop_session (SmControlLink *self, gboolean close)
{
  g_autoptr (SmYamuxSession) session = g_steal_pointer (&self->session);

  if (session == NULL)
    return;

  g_signal_handlers_disconnect_by_data (session, self);
  if (close)
    sm_yamux_session_close (session);
}

static void
sm_control_link_complete_close (SmControlLink *self)
{
  g_autoptr (GTask) task = g_steal_pointer (&self->close_task);

  g_clear_pointer (&self->close_cancel_source, g_source_destroy);
  g_clear_pointer (&self->drained_source, g_source_destroy);
  sm_control_link_drop_session (self, TRUE);
  self->state = SM_CONTROL_LINK_CLOSED;

  g_object_ref (self);
  sm_control_link_set_connected (self, FALSE);
  if (task != NULL)
    g_task_return_boolean (task, TRUE);
  g_object_unref (self);
}

static void
on_old_session_closed (SmYamuxSession *session, const GError *error, SmControlLink *self)
{
  g_debug ("Drained control session with %s ended", self->control_address);
  g_signal_handlers_disconnect_by_data (session, self);
  g_ptr_array_remove_fast (self->old_sessions, session);
  /* disowned: the owner is being disposed */
  if (self->events != NULL)
    self->events->old_session_ended (self->owner);
}

static void
sm_control_link_close_old_sessions (SmControlLink *self)
{
  g_autoptr (GPtrArray) sessions = g_steal_pointer (&self->old_sessions);

  self->old_sessions = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; sessions != NULL && i < sessions->len; i++)
    {
      SmYamuxSession *session = g_ptr_array_index (sessions, i);

      g_signal_handlers_disconnect_by_data (session, self);
      sm_yamux_session_close (session);
    }
}

static void
on_session_closed (SmYamuxSession *session, const GError *error, SmControlLink *self)
{
  g_debug ("Control session with %s ended: %s", self->control_address,
           error != NULL ? error->message : "orderly");

  if (self->state == SM_CONTROL_LINK_CLOSING)
    {
      /* the daemon ended it while we drained: nothing left to wait for */
      sm_control_link_drop_session (self, FALSE);
      sm_control_link_complete_close (self);
      return;
    }

  g_return_if_fail (self->state == SM_CONTROL_LINK_CONNECTED);

  /* not asked for (daemon restart, broken connection): register again */
  sm_control_link_drop_session (self, FALSE);
  sm_control_link_reconnect (self, error);
}

static void
on_session_go_away (SmYamuxSession *session, guint code, SmControlLink *self)
{
  g_debug ("The daemon at %s is going away (code %u)", self->control_address, code);
  /* Without reconnecting, the session is used until the daemon ends it */
  if (self->state != SM_CONTROL_LINK_CONNECTED || session != self->session ||
      self->reconnect_timeout <= 0)
    return;

  /* An upgrade (its successor listens at the same address already), a
   * drain, a shutdown: register again at once, so there is no gap, and
   * keep this session until the daemon closes it, its streams done */
  g_signal_handlers_disconnect_by_data (session, self);
  g_signal_connect (session, "closed", G_CALLBACK (on_old_session_closed), self);
  g_ptr_array_add (self->old_sessions, g_steal_pointer (&self->session));
  sm_control_link_reconnect (self, NULL);
}

static void
on_session_incoming (SmYamuxSession *session, SmYamuxStream *stream, SmControlLink *self)
{
  /* closing: the daemon sent it before it saw our GoAway */
  if (self->state != SM_CONTROL_LINK_CONNECTED)
    {
      sm_yamux_stream_reset (stream);
      return;
    }

  self->events->incoming (stream, self->owner);
}

/* How far a service's stream windows may grow while the application keeps
 * up: past 512 KiB the daemon sends an upload in frames of up to 1 MiB,
 * which on loopback cost far less CPU per byte (measured: 2 MiB moved a
 * single upload 1.2x faster than 512 KiB; 4 and 8 MiB added little). A
 * stream whose application stops reading holds at most this much. */
#define SM_CONTROL_LINK_MAX_STREAM_WINDOW (2 * 1024 * 1024)

void
sm_control_link_set_session (SmControlLink *self, GSocketConnection *connection, GBytes *leftover)
{
  SmYamuxConfig config;

  g_assert (self->session == NULL);

  sm_yamux_config_init (&config);
  config.max_stream_window = SM_CONTROL_LINK_MAX_STREAM_WINDOW;
  g_main_context_push_thread_default (self->context);
  self->session =
      sm_yamux_session_new (G_IO_STREAM (connection), SM_YAMUX_ROLE_SERVER, &config, leftover);
  g_main_context_pop_thread_default (self->context);

  g_signal_connect (self->session, "incoming", G_CALLBACK (on_session_incoming), self);
  g_signal_connect (self->session, "go-away", G_CALLBACK (on_session_go_away), self);
  g_signal_connect (self->session, "closed", G_CALLBACK (on_session_closed), self);
}

/* --- starting and stopping --- */

static gboolean
on_start_cancelled (GCancellable *cancellable, gpointer user_data)
{
  SmControlLink *self = user_data;
  g_autoptr (GTask) task = g_steal_pointer (&self->start_task);

  self->start_cancel_source = NULL;
  sm_control_link_abandon_attempt (self);
  g_clear_pointer (&self->retry_source, g_source_destroy);
  g_clear_error (&self->last_error);
  self->state = SM_CONTROL_LINK_IDLE;
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, _ ("Operation was cancelled"));

  return G_SOURCE_REMOVE;
}

void
sm_control_link_start_async (SmControlLink      *self,
                             GCancellable       *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnectable) connectable = NULL;

  g_return_if_fail (SM_IS_CONTROL_LINK (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, sm_control_link_start_async);
  /* cancellation is handled below, so a registration that succeeded is
   * never reported as cancelled */
  g_task_set_check_cancellable (task, FALSE);

  /* after giving up, a listener may be started again */
  if (self->state != SM_CONTROL_LINK_IDLE && self->state != SM_CONTROL_LINK_LOST)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               _ ("The listener was already started"));
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;
  if (self->request->definition == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               _ ("The listener has no socket definition"));
      return;
    }
  /* a bad address fails now, not at the first attempt */
  connectable = sm_client_parse_control_address (self->control_address, &error);
  if (connectable == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  self->state = SM_CONTROL_LINK_STARTING;
  self->start_task = g_steal_pointer (&task);
  /* transient failures are retried for the reconnect timeout */
  self->lost_at_us = g_get_monotonic_time ();
  self->retry_delay_ms = RECONNECT_FIRST_DELAY_MS;
  g_clear_error (&self->last_error);

  /* a source, not a "cancelled" handler: completing the task there could
   * disconnect from @cancellable inside its own emission and deadlock */
  if (cancellable != NULL)
    self->start_cancel_source = sm_control_link_add_source (
        self, g_cancellable_source_new (cancellable), G_SOURCE_FUNC (on_start_cancelled),
        "[socketmaster] start cancelled");

  sm_control_link_begin_attempt (self, HANDSHAKE_TIMEOUT_MS);
}

gboolean
sm_control_link_start_finish (SmControlLink *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Ends everything that runs on its own; tasks are the caller's business */
static void
sm_control_link_stop_activity (SmControlLink *self)
{
  sm_control_link_abandon_attempt (self);
  g_clear_pointer (&self->retry_source, g_source_destroy);
  g_clear_pointer (&self->start_cancel_source, g_source_destroy);
  g_clear_pointer (&self->close_cancel_source, g_source_destroy);
  g_clear_pointer (&self->drained_source, g_source_destroy);
}

/* Drops the registration and everything in progress, ending in @state */
static void
sm_control_link_drop (SmControlLink *self, SmControlLinkState state)
{
  g_autoptr (GTask) start_task = g_steal_pointer (&self->start_task);
  g_autoptr (GTask) close_task = g_steal_pointer (&self->close_task);

  g_debug ("Dropping the registration with %s", self->control_address);
  sm_control_link_stop_activity (self);
  sm_control_link_drop_session (self, TRUE);
  g_clear_error (&self->last_error);
  self->state = state;

  g_object_ref (self);
  sm_control_link_set_connected (self, FALSE);
  if (start_task != NULL)
    g_task_return_new_error (start_task, SM_ERROR, SM_ERROR_CLOSED, _ ("The listener is closed"));
  if (close_task != NULL)
    g_task_return_boolean (close_task, TRUE);
  g_object_unref (self);
}

void
sm_control_link_abort (SmControlLink *self)
{
  g_return_if_fail (SM_IS_CONTROL_LINK (self));

  if (self->state != SM_CONTROL_LINK_CLOSED)
    sm_control_link_drop (self, SM_CONTROL_LINK_CLOSED);
}

void
sm_control_link_stop (SmControlLink *self)
{
  g_return_if_fail (SM_IS_CONTROL_LINK (self));

  if (self->state != SM_CONTROL_LINK_CLOSED && self->state != SM_CONTROL_LINK_IDLE)
    sm_control_link_drop (self, SM_CONTROL_LINK_IDLE);
}

static gboolean
on_drained (gpointer user_data)
{
  SmControlLink *self = user_data;

  self->drained_source = NULL;
  if (sm_yamux_session_get_n_streams (self->session) > 0)
    return G_SOURCE_REMOVE;

  g_debug ("All connections finished, leaving %s", self->control_address);
  sm_control_link_complete_close (self);

  return G_SOURCE_REMOVE;
}

static void
sm_control_link_check_drained (SmControlLink *self)
{
  if (self->drained_source != NULL || sm_yamux_session_get_n_streams (self->session) > 0)
    return;

  /* from an idle: the session may be in the middle of its own bookkeeping */
  self->drained_source =
      sm_control_link_add_source (self, g_idle_source_new (), on_drained, "[socketmaster] drained");
}

static void
on_session_n_streams (GObject *session, GParamSpec *pspec, SmControlLink *self)
{
  if (self->state == SM_CONTROL_LINK_CLOSING)
    sm_control_link_check_drained (self);
}

static gboolean
on_close_cancelled (GCancellable *cancellable, gpointer user_data)
{
  SmControlLink *self = user_data;
  g_autoptr (GTask) task = g_steal_pointer (&self->close_task);

  self->close_cancel_source = NULL;
  g_debug ("Closing cancelled, dropping the remaining connections");
  sm_control_link_abort (self);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, _ ("Operation was cancelled"));

  return G_SOURCE_REMOVE;
}

void
sm_control_link_close_async (SmControlLink      *self,
                             GCancellable       *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (SM_IS_CONTROL_LINK (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, sm_control_link_close_async);
  g_task_set_check_cancellable (task, FALSE);

  if (self->state == SM_CONTROL_LINK_CLOSING)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               _ ("The listener is already closing"));
      return;
    }
  if (self->state != SM_CONTROL_LINK_CONNECTED)
    {
      sm_control_link_abort (self);
      g_task_return_boolean (task, TRUE);
      return;
    }

  /* the daemon stops routing new connections here once it sees GoAway */
  g_debug ("Closing: asking %s for no new connections", self->control_address);
  self->state = SM_CONTROL_LINK_CLOSING;
  self->close_task = g_steal_pointer (&task);
  sm_yamux_session_go_away (self->session, SM_YAMUX_GO_AWAY_NORMAL);
  g_signal_connect (self->session, "notify::n-streams", G_CALLBACK (on_session_n_streams), self);

  if (cancellable != NULL)
    self->close_cancel_source = sm_control_link_add_source (
        self, g_cancellable_source_new (cancellable), G_SOURCE_FUNC (on_close_cancelled),
        "[socketmaster] close cancelled");

  sm_control_link_check_drained (self);
}

gboolean
sm_control_link_close_finish (SmControlLink *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- accessors and GObject --- */

SmControlLink *
sm_control_link_new (const SmControlLinkEvents *events, gpointer owner)
{
  SmControlLink *self;

  g_return_val_if_fail (events != NULL, NULL);

  self = g_object_new (SM_TYPE_CONTROL_LINK, NULL);
  self->events = events;
  self->owner = owner;

  return self;
}

void
sm_control_link_disown (SmControlLink *self)
{
  g_return_if_fail (SM_IS_CONTROL_LINK (self));

  self->events = NULL;
  self->owner = NULL;
  sm_control_link_abort (self);
}

void
sm_control_link_set_control_address (SmControlLink *self, const char *control_address)
{
  g_return_if_fail (SM_IS_CONTROL_LINK (self));
  g_return_if_fail (control_address != NULL);
  g_return_if_fail (self->state == SM_CONTROL_LINK_IDLE);

  g_free (self->control_address);
  self->control_address = g_strdup (control_address);
}

const char *
sm_control_link_get_control_address (SmControlLink *self)
{
  g_return_val_if_fail (SM_IS_CONTROL_LINK (self), NULL);

  return self->control_address;
}

void
sm_control_link_set_definition (SmControlLink *self, const SmSocketDefinition *definition)
{
  g_return_if_fail (SM_IS_CONTROL_LINK (self));
  g_return_if_fail (self->state == SM_CONTROL_LINK_IDLE);

  g_clear_pointer (&self->request->definition, sm_socket_definition_free);
  if (definition != NULL)
    self->request->definition = sm_socket_definition_copy (definition);
}

SmExtensionRequest *
sm_control_link_get_request (SmControlLink *self)
{
  g_return_val_if_fail (SM_IS_CONTROL_LINK (self), NULL);

  return self->request;
}

gboolean
sm_control_link_is_connected (SmControlLink *self)
{
  g_return_val_if_fail (SM_IS_CONTROL_LINK (self), FALSE);

  return self->connected;
}

gboolean
sm_control_link_is_reconnecting (SmControlLink *self)
{
  g_return_val_if_fail (SM_IS_CONTROL_LINK (self), FALSE);

  return self->state == SM_CONTROL_LINK_RECONNECTING;
}

guint
sm_control_link_get_session_proxy_protocol (SmControlLink *self)
{
  g_return_val_if_fail (SM_IS_CONTROL_LINK (self), 0);

  return self->session_proxy_protocol;
}

void
sm_control_link_set_reconnect_timeout (SmControlLink *self, double seconds)
{
  g_return_if_fail (SM_IS_CONTROL_LINK (self));
  g_return_if_fail (seconds >= 0);

  self->reconnect_timeout = seconds;
}

void
sm_control_link_get_yamux_stats (SmControlLink *self, SmYamuxStats *stats)
{
  g_return_if_fail (SM_IS_CONTROL_LINK (self));
  g_return_if_fail (stats != NULL);

  memset (stats, 0, sizeof *stats);
  if (self->session != NULL)
    sm_yamux_session_get_stats (self->session, stats);
}

static void
sm_control_link_dispose (GObject *object)
{
  SmControlLink *self = SM_CONTROL_LINK (object);

  /* tasks hold a reference: none can be pending here */
  sm_control_link_stop_activity (self);
  sm_control_link_drop_session (self, TRUE);
  sm_control_link_close_old_sessions (self);
  g_clear_pointer (&self->old_sessions, g_ptr_array_unref);
  self->connected = FALSE;

  G_OBJECT_CLASS (sm_control_link_parent_class)->dispose (object);
}

static void
sm_control_link_finalize (GObject *object)
{
  SmControlLink *self = SM_CONTROL_LINK (object);

  g_clear_pointer (&self->control_address, g_free);
  g_clear_pointer (&self->request, sm_extension_request_free);
  g_clear_error (&self->last_error);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (sm_control_link_parent_class)->finalize (object);
}

static void
sm_control_link_class_init (SmControlLinkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_control_link_dispose;
  object_class->finalize = sm_control_link_finalize;
}

static void
sm_control_link_init (SmControlLink *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->reconnect_timeout = 30;
  self->request = g_new0 (SmExtensionRequest, 1);
  self->state = SM_CONTROL_LINK_IDLE;
  self->control_address = g_strdup (SM_DEFAULT_CONTROL_ADDRESS);
  self->old_sessions = g_ptr_array_new_with_free_func (g_object_unref);
}
