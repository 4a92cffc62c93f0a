/* SPDX-License-Identifier: MIT */

#include "config.h"

#include <glib/gi18n-lib.h>

#include <string.h>

#include "sm-control-link.h"
#include "sm-error.h"
#include "sm-link-group.h"
#include "sm-listener.h"

/* Background registrations with a daemon that is away: a connection
 * attempt now and then costs little, and the daemon may be back any time */
#define RESTART_FIRST_DELAY_MS 250
#define RESTART_MAX_DELAY_MS   5000

typedef enum
{
  SM_LINK_GROUP_IDLE, /* not started, start failed, or lost */
  SM_LINK_GROUP_STARTING,
  SM_LINK_GROUP_STARTED,
  SM_LINK_GROUP_CLOSING,
  SM_LINK_GROUP_CLOSED,
} SmLinkGroupState;

typedef struct
{
  SmLinkGroup   *group; /* not a reference: the group owns its members */
  SmControlLink *link;
  gboolean       in_first_start; /* part of the group's start */
  GSource       *restart_source;
  guint          restart_delay_ms;
} SmLinkMember;

struct _SmLinkGroup
{
  GObject                  parent_instance;

  const SmLinkGroupEvents *events; /* NULL once disowned */
  gpointer                 owner;
  GMainContext            *context;
  char                   **control_addresses;
  GPtrArray               *members; /* SmLinkMember, one per address */
  SmExtensionRequest      *request;
  double                   reconnect_timeout;

  SmLinkGroupState         state;
  gboolean                 connected;
  GError                  *last_lost_error;

  GTask                   *start_task;
  GSource                 *start_cancel_source;
  gboolean                 start_cancelled;
  guint                    n_starting;
  guint                    n_started;
  GError                  *start_error; /* a fatal one wins over others */

  GTask                   *close_task;
  guint                    n_closing;
  GError                  *close_error;
};

G_DEFINE_FINAL_TYPE (SmLinkGroup, sm_link_group, G_TYPE_OBJECT)

static void sm_link_member_restart_later (SmLinkMember *member);

/* A refusal or a bad address: asking again the same way fails again */
static gboolean
sm_link_group_error_is_fatal (const GError *error)
{
  return sm_listener_error_is_refusal (error) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static SmLinkMember *
sm_link_group_find_member (SmLinkGroup *self, SmControlLink *link)
{
  for (guint i = 0; self->members != NULL && i < self->members->len; i++)
    {
      SmLinkMember *member = g_ptr_array_index (self->members, i);

      if (member->link == link)
        return member;
    }
  return NULL;
}

/* Stops every link (they may be started again) and their restarts */
static void
sm_link_group_stop_links (SmLinkGroup *self)
{
  g_object_ref (self);
  for (guint i = 0; i < self->members->len; i++)
    {
      SmLinkMember *member = g_ptr_array_index (self->members, i);

      g_clear_pointer (&member->restart_source, g_source_destroy);
      sm_control_link_stop (member->link);
    }
  g_object_unref (self);
}

static gboolean
sm_link_member_is_alive (SmLinkMember *member)
{
  return member->in_first_start || sm_control_link_is_connected (member->link) ||
         sm_control_link_is_reconnecting (member->link);
}

/* After a link gave up: the service is lost once no daemon is left */
static void
sm_link_group_check_alive (SmLinkGroup *self)
{
  g_autoptr (GError) error = NULL;

  if (self->state != SM_LINK_GROUP_STARTED)
    return;
  for (guint i = 0; i < self->members->len; i++)
    if (sm_link_member_is_alive (g_ptr_array_index (self->members, i)))
      return;

  error = g_steal_pointer (&self->last_lost_error);
  if (error == NULL)
    error = g_error_new_literal (SM_ERROR, SM_ERROR_CLOSED, _ ("Lost every daemon"));
  self->state = SM_LINK_GROUP_IDLE;
  sm_link_group_stop_links (self);
  if (self->events != NULL)
    self->events->lost (error, self->owner);
}

static void
sm_link_group_update_connected (SmLinkGroup *self)
{
  gboolean connected = FALSE;

  for (guint i = 0; i < self->members->len && !connected; i++)
    connected = sm_control_link_is_connected (
        ((SmLinkMember *) g_ptr_array_index (self->members, i))->link);

  if (connected == self->connected)
    return;
  self->connected = connected;
  if (self->events != NULL)
    self->events->connected_changed (self->owner);
}

/* --- events of the links --- */

static void
on_member_incoming (SmYamuxStream *stream, gpointer owner)
{
  SmLinkMember *member = owner;

  if (member->group->events != NULL)
    member->group->events->incoming (
        stream, sm_control_link_get_session_proxy_protocol (member->link), member->group->owner);
  else
    sm_yamux_stream_reset (stream);
}

static void
on_member_lost (const GError *error, gpointer owner)
{
  SmLinkMember *member = owner;
  SmLinkGroup  *self = member->group;

  g_clear_error (&self->last_lost_error);
  self->last_lost_error = g_error_copy (error);

  /* while starting, sm_link_group_finish_start() restarts it */
  if (self->state != SM_LINK_GROUP_STARTED)
    return;

  sm_link_member_restart_later (member);
  sm_link_group_check_alive (self);
}

static void
on_member_connected_changed (gpointer owner)
{
  SmLinkMember *member = owner;
  SmLinkGroup  *self = member->group;

  g_object_ref (self);
  if (!sm_control_link_is_connected (member->link) && self->events != NULL)
    self->events->session_ended (self->owner);
  sm_link_group_update_connected (self);
  g_object_unref (self);
}

static void
on_member_old_session_ended (gpointer owner)
{
  SmLinkMember *member = owner;
  SmLinkGroup  *self = member->group;

  if (self->events != NULL)
    self->events->session_ended (self->owner);
}

static const SmControlLinkEvents member_events = {
  .incoming = on_member_incoming,
  .lost = on_member_lost,
  .connected_changed = on_member_connected_changed,
  .old_session_ended = on_member_old_session_ended,
};

/* --- starting --- */

static void
sm_link_group_finish_start (SmLinkGroup *self)
{
  g_autoptr (GTask) task = g_steal_pointer (&self->start_task);
  g_autoptr (GError) error = g_steal_pointer (&self->start_error);

  g_clear_pointer (&self->start_cancel_source, g_source_destroy);

  /* closed or aborted meanwhile: the links said so */
  if (self->state != SM_LINK_GROUP_STARTING)
    {
      g_task_return_new_error (task, SM_ERROR, SM_ERROR_CLOSED, _ ("The listener is closed"));
      return;
    }

  if (self->n_started == 0 && self->start_cancelled)
    {
      g_clear_error (&error);
      g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _ ("Operation was cancelled"));
    }
  if (self->n_started == 0 || (error != NULL && sm_link_group_error_is_fatal (error)))
    {
      self->state = SM_LINK_GROUP_IDLE;
      sm_link_group_stop_links (self);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  self->state = SM_LINK_GROUP_STARTED;
  for (guint i = 0; i < self->members->len; i++)
    {
      SmLinkMember *member = g_ptr_array_index (self->members, i);

      if (!sm_link_member_is_alive (member))
        sm_link_member_restart_later (member);
    }
  g_object_ref (self);
  g_task_return_boolean (task, TRUE);
  /* the daemons that accepted may all have been lost meanwhile */
  sm_link_group_check_alive (self);
  g_object_unref (self);
}

static void
sm_link_group_first_start_done (SmLinkGroup *self, gboolean started, GError *error)
{
  if (started)
    self->n_started++;
  else if (self->start_error == NULL || (sm_link_group_error_is_fatal (error) &&
                                         !sm_link_group_error_is_fatal (self->start_error)))
    {
      g_clear_error (&self->start_error);
      self->start_error = g_error_copy (error);
    }

  g_assert (self->n_starting > 0);
  self->n_starting--;

  /* the others would be undone anyway */
  if (!started && sm_link_group_error_is_fatal (error))
    sm_link_group_stop_links (self);
  if (self->n_starting == 0 && self->start_task != NULL)
    sm_link_group_finish_start (self);
}

static void
on_member_started (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (SmLinkGroup) self = user_data;
  g_autoptr (GError) error = NULL;
  SmControlLink *link = SM_CONTROL_LINK (source);
  SmLinkMember  *member = sm_link_group_find_member (self, link);
  gboolean       started = sm_control_link_start_finish (link, result, &error);

  if (member == NULL) /* disposed */
    return;

  if (member->in_first_start)
    {
      member->in_first_start = FALSE;
      sm_link_group_first_start_done (self, started, error);
      return;
    }

  /* a background registration */
  if (self->state != SM_LINK_GROUP_STARTED)
    return;
  if (started)
    {
      member->restart_delay_ms = RESTART_FIRST_DELAY_MS;
      return;
    }
  if (sm_link_group_error_is_fatal (error))
    g_warning (_ ("The daemon at %s refused the service: %s"),
               sm_control_link_get_control_address (link), error->message);
  sm_link_member_restart_later (member);
}

static gboolean
on_restart (gpointer user_data)
{
  SmLinkMember *member = user_data;

  member->restart_source = NULL;
  g_debug ("Registering with the daemon at %s again",
           sm_control_link_get_control_address (member->link));
  sm_control_link_start_async (member->link, NULL, on_member_started, g_object_ref (member->group));

  return G_SOURCE_REMOVE;
}

static void
sm_link_member_restart_later (SmLinkMember *member)
{
  SmLinkGroup *self = member->group;

  if (member->restart_source != NULL)
    return;

  member->restart_source = g_timeout_source_new (member->restart_delay_ms);
  g_source_set_callback (member->restart_source, on_restart, member, NULL);
  g_source_set_static_name (member->restart_source, "[socketmaster] register again");
  g_source_attach (member->restart_source, self->context);
  g_source_unref (member->restart_source);
  member->restart_delay_ms = MIN (member->restart_delay_ms * 2, RESTART_MAX_DELAY_MS);
}

static gboolean
on_start_cancelled (GCancellable *cancellable, gpointer user_data)
{
  SmLinkGroup *self = user_data;

  self->start_cancel_source = NULL;
  self->start_cancelled = TRUE;
  /* registrations still in progress fail; those done stay */
  for (guint i = 0; i < self->members->len; i++)
    {
      SmLinkMember *member = g_ptr_array_index (self->members, i);

      if (member->in_first_start)
        sm_control_link_stop (member->link);
    }

  return G_SOURCE_REMOVE;
}

void
sm_link_group_start_async (SmLinkGroup        *self,
                           GCancellable       *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (SM_IS_LINK_GROUP (self));
  g_return_if_fail (self->members != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, sm_link_group_start_async);
  g_task_set_check_cancellable (task, FALSE);

  if (self->state == SM_LINK_GROUP_CLOSING || self->state == SM_LINK_GROUP_CLOSED)
    {
      g_task_return_new_error (task, SM_ERROR, SM_ERROR_CLOSED, _ ("The listener is closed"));
      return;
    }
  if (self->state != SM_LINK_GROUP_IDLE)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               _ ("The listener was already started"));
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;

  self->state = SM_LINK_GROUP_STARTING;
  self->start_task = g_steal_pointer (&task);
  self->start_cancelled = FALSE;
  self->n_starting = self->members->len;
  self->n_started = 0;
  g_clear_error (&self->start_error);
  g_clear_error (&self->last_lost_error);

  /* a source, not a "cancelled" handler, as in SmControlLink */
  if (cancellable != NULL)
    {
      self->start_cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (self->start_cancel_source, G_SOURCE_FUNC (on_start_cancelled), self,
                             NULL);
      g_source_set_static_name (self->start_cancel_source, "[socketmaster] start cancelled");
      g_source_attach (self->start_cancel_source, self->context);
      g_source_unref (self->start_cancel_source);
    }

  g_object_ref (self);
  for (guint i = 0; i < self->members->len; i++)
    {
      SmLinkMember *member = g_ptr_array_index (self->members, i);

      member->in_first_start = TRUE;
      member->restart_delay_ms = RESTART_FIRST_DELAY_MS;
    }
  /* a link may fail at once (a bad address), stopping the others */
  for (guint i = 0; i < self->members->len && self->state == SM_LINK_GROUP_STARTING; i++)
    {
      SmLinkMember *member = g_ptr_array_index (self->members, i);

      if (member->in_first_start)
        sm_control_link_start_async (member->link, NULL, on_member_started, g_object_ref (self));
    }
  g_object_unref (self);
}

gboolean
sm_link_group_start_finish (SmLinkGroup *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- stopping --- */

static void
on_member_closed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (SmLinkGroup) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GTask) task = NULL;

  if (!sm_control_link_close_finish (SM_CONTROL_LINK (source), result, &error) &&
      self->close_error == NULL)
    self->close_error = g_steal_pointer (&error);

  g_assert (self->n_closing > 0);
  if (--self->n_closing > 0 || self->close_task == NULL)
    return;

  task = g_steal_pointer (&self->close_task);
  self->state = SM_LINK_GROUP_CLOSED;
  if (self->close_error != NULL)
    g_task_return_error (task, g_steal_pointer (&self->close_error));
  else
    g_task_return_boolean (task, TRUE);
}

void
sm_link_group_close_async (SmLinkGroup        *self,
                           GCancellable       *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (SM_IS_LINK_GROUP (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, sm_link_group_close_async);
  g_task_set_check_cancellable (task, FALSE);

  if (self->state == SM_LINK_GROUP_CLOSING)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               _ ("The listener is already closing"));
      return;
    }

  self->state = SM_LINK_GROUP_CLOSING;
  self->close_task = g_steal_pointer (&task);
  self->n_closing = self->members->len;
  g_clear_error (&self->close_error);

  g_object_ref (self);
  for (guint i = 0; i < self->members->len; i++)
    {
      SmLinkMember *member = g_ptr_array_index (self->members, i);

      g_clear_pointer (&member->restart_source, g_source_destroy);
      sm_control_link_close_async (member->link, cancellable, on_member_closed,
                                   g_object_ref (self));
    }
  g_object_unref (self);
}

gboolean
sm_link_group_close_finish (SmLinkGroup *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
sm_link_group_abort (SmLinkGroup *self)
{
  g_return_if_fail (SM_IS_LINK_GROUP (self));

  self->state = SM_LINK_GROUP_CLOSED;
  g_object_ref (self);
  for (guint i = 0; self->members != NULL && i < self->members->len; i++)
    {
      SmLinkMember *member = g_ptr_array_index (self->members, i);

      g_clear_pointer (&member->restart_source, g_source_destroy);
      sm_control_link_abort (member->link);
    }
  g_object_unref (self);
}

/* --- accessors and GObject --- */

SmLinkGroup *
sm_link_group_new (const SmLinkGroupEvents *events, gpointer owner)
{
  SmLinkGroup *self;

  g_return_val_if_fail (events != NULL, NULL);

  self = g_object_new (SM_TYPE_LINK_GROUP, NULL);
  self->events = events;
  self->owner = owner;

  return self;
}

void
sm_link_group_disown (SmLinkGroup *self)
{
  g_return_if_fail (SM_IS_LINK_GROUP (self));

  self->events = NULL;
  self->owner = NULL;
  sm_link_group_abort (self);
}

GMainContext *
sm_link_group_get_context (SmLinkGroup *self)
{
  g_return_val_if_fail (SM_IS_LINK_GROUP (self), NULL);

  return self->context;
}

char **
sm_link_group_split_addresses (const char *list)
{
  g_auto (GStrv) parts = NULL;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) addresses = NULL;

  if (list == NULL)
    return NULL;

  parts = g_strsplit (list, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (*g_strstrip (parts[i]) != '\0')
      g_strv_builder_add (builder, parts[i]);
  addresses = g_strv_builder_end (builder);

  return addresses[0] != NULL ? g_steal_pointer (&addresses) : NULL;
}

static void
sm_link_member_free (gpointer data)
{
  SmLinkMember *member = data;

  g_clear_pointer (&member->restart_source, g_source_destroy);
  sm_control_link_disown (member->link);
  g_clear_object (&member->link);
  g_free (member);
}

void
sm_link_group_set_control_addresses (SmLinkGroup *self, const char *const *control_addresses)
{
  g_return_if_fail (SM_IS_LINK_GROUP (self));
  g_return_if_fail (self->members == NULL);

  if (control_addresses != NULL && control_addresses[0] != NULL)
    self->control_addresses = g_strdupv ((char **) control_addresses);
  else
    self->control_addresses = sm_link_group_split_addresses (g_getenv ("SOCKETMASTER_ADDRESS"));
  if (self->control_addresses == NULL)
    self->control_addresses = g_strdupv ((char *[]){ SM_DEFAULT_CONTROL_ADDRESS, NULL });

  self->members = g_ptr_array_new_with_free_func (sm_link_member_free);
  for (guint i = 0; self->control_addresses[i] != NULL; i++)
    {
      SmLinkMember *member = g_new0 (SmLinkMember, 1);

      member->group = self;
      member->restart_delay_ms = RESTART_FIRST_DELAY_MS;
      g_main_context_push_thread_default (self->context);
      member->link = sm_control_link_new (&member_events, member);
      g_main_context_pop_thread_default (self->context);
      sm_control_link_set_control_address (member->link, self->control_addresses[i]);
      sm_control_link_set_definition (member->link, self->request->definition);
      sm_control_link_set_reconnect_timeout (member->link, self->reconnect_timeout);
      g_ptr_array_add (self->members, member);
    }
  sm_link_group_update_request (self);
}

const char *const *
sm_link_group_get_control_addresses (SmLinkGroup *self)
{
  g_return_val_if_fail (SM_IS_LINK_GROUP (self), NULL);

  return (const char *const *) self->control_addresses;
}

SmExtensionRequest *
sm_link_group_get_request (SmLinkGroup *self)
{
  g_return_val_if_fail (SM_IS_LINK_GROUP (self), NULL);

  return self->request;
}

void
sm_link_group_update_request (SmLinkGroup *self)
{
  g_return_if_fail (SM_IS_LINK_GROUP (self));

  for (guint i = 0; self->members != NULL && i < self->members->len; i++)
    {
      SmLinkMember       *member = g_ptr_array_index (self->members, i);
      SmExtensionRequest *request = sm_control_link_get_request (member->link);

      g_free (request->token);
      request->token = g_strdup (self->request->token);
      g_free (request->name);
      request->name = g_strdup (self->request->name);
      request->proxy_protocol = self->request->proxy_protocol;
    }
}

gboolean
sm_link_group_is_connected (SmLinkGroup *self)
{
  g_return_val_if_fail (SM_IS_LINK_GROUP (self), FALSE);

  return self->connected;
}

void
sm_link_group_set_reconnect_timeout (SmLinkGroup *self, double seconds)
{
  g_return_if_fail (SM_IS_LINK_GROUP (self));
  g_return_if_fail (seconds >= 0);

  self->reconnect_timeout = seconds;
  for (guint i = 0; self->members != NULL && i < self->members->len; i++)
    sm_control_link_set_reconnect_timeout (
        ((SmLinkMember *) g_ptr_array_index (self->members, i))->link, seconds);
}

double
sm_link_group_get_reconnect_timeout (SmLinkGroup *self)
{
  g_return_val_if_fail (SM_IS_LINK_GROUP (self), 0);

  return self->reconnect_timeout;
}

void
sm_link_group_get_yamux_stats (SmLinkGroup *self, SmYamuxStats *stats)
{
  g_return_if_fail (SM_IS_LINK_GROUP (self));
  g_return_if_fail (stats != NULL);

  memset (stats, 0, sizeof *stats);
  for (guint i = 0; self->members != NULL && i < self->members->len; i++)
    {
      SmLinkMember *member = g_ptr_array_index (self->members, i);
      SmYamuxStats  one;

      sm_control_link_get_yamux_stats (member->link, &one);
      stats->pings_sent += one.pings_sent;
      stats->pongs_received += one.pongs_received;
      stats->pings_received += one.pings_received;
      stats->streams_opened += one.streams_opened;
      stats->streams_accepted += one.streams_accepted;
      stats->bytes_sent += one.bytes_sent;
      stats->bytes_received += one.bytes_received;
    }
}

static void
sm_link_group_dispose (GObject *object)
{
  SmLinkGroup *self = SM_LINK_GROUP (object);

  /* tasks hold a reference to us: none is pending here */
  self->events = NULL;
  g_clear_pointer (&self->members, g_ptr_array_unref);
  self->connected = FALSE;

  G_OBJECT_CLASS (sm_link_group_parent_class)->dispose (object);
}

static void
sm_link_group_finalize (GObject *object)
{
  SmLinkGroup *self = SM_LINK_GROUP (object);

  g_clear_pointer (&self->control_addresses, g_strfreev);
  g_clear_pointer (&self->request, sm_extension_request_free);
  g_clear_error (&self->last_lost_error);
  g_clear_error (&self->start_error);
  g_clear_error (&self->close_error);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (sm_link_group_parent_class)->finalize (object);
}

static void
sm_link_group_class_init (SmLinkGroupClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_link_group_dispose;
  object_class->finalize = sm_link_group_finalize;
}

static void
sm_link_group_init (SmLinkGroup *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->reconnect_timeout = 30;
  self->request = g_new0 (SmExtensionRequest, 1);
  self->state = SM_LINK_GROUP_IDLE;
}
