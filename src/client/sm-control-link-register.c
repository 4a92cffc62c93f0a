/* SPDX-License-Identifier: MIT */
/* SmControlLink's registrations: one attempt at a time with its timeout,
 * retries with backoff, and registering again after losing the daemon */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "sm-client-handshake.h"
#include "sm-control-link-private.h"
#include "sm-error.h"

static void sm_control_link_attempt_done (SmControlLink     *self,
                                          GSocketConnection *connection,
                                          GBytes            *leftover,
                                          GError            *error);

/* --- registration attempts --- */

static void
on_registered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SmControlLink *self;
  g_autoptr (GSocketConnection) connection = NULL;
  g_autoptr (GBytes) leftover = NULL;
  GError *error = NULL;

  connection = sm_client_handshake_finish (result, &leftover, &error);

  /* Only an abandoned attempt is cancelled, and its link may be gone
   * already: see sm_control_link_abandon_attempt() */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_error_free (error);
      return;
    }

  self = SM_CONTROL_LINK (user_data);
  g_clear_object (&self->attempt_cancellable);
  g_clear_pointer (&self->attempt_timeout_source, g_source_destroy);
  if (error != NULL)
    g_debug ("Registration with %s failed: %s", self->control_address, error->message);

  sm_control_link_attempt_done (self, connection, leftover, error);
}

void
sm_control_link_abandon_attempt (SmControlLink *self)
{
  if (self->attempt_cancellable == NULL)
    return;

  g_cancellable_cancel (self->attempt_cancellable);
  g_clear_object (&self->attempt_cancellable);
  g_clear_pointer (&self->attempt_timeout_source, g_source_destroy);
}

static gboolean
on_attempt_timeout (gpointer user_data)
{
  SmControlLink *self = user_data;
  GError        *error;

  self->attempt_timeout_source = NULL;
  sm_control_link_abandon_attempt (self);

  error = g_error_new (SM_ERROR, SM_ERROR_TIMED_OUT, _ ("No answer from the daemon at %s"),
                       self->control_address);
  g_debug ("%s", error->message);
  sm_control_link_attempt_done (self, NULL, NULL, error);

  return G_SOURCE_REMOVE;
}

void
sm_control_link_begin_attempt (SmControlLink *self, guint timeout_ms)
{
  g_assert (self->attempt_cancellable == NULL);

  g_debug ("Registering with the daemon at %s", self->control_address);
  self->attempt_cancellable = g_cancellable_new ();
  self->attempt_proxy_protocol = self->request->proxy_protocol;
  self->attempt_timeout_source =
      sm_control_link_add_source (self, g_timeout_source_new (timeout_ms), on_attempt_timeout,
                                  "[socketmaster] handshake timeout");

  g_main_context_push_thread_default (self->context);
  sm_client_handshake_async (self->control_address, self->request, self->attempt_cancellable,
                             on_registered, self);
  g_main_context_pop_thread_default (self->context);
}

/* --- reconnecting --- */

/* The first registration failed for good: the caller decides */
static void
sm_control_link_fail_start (SmControlLink *self, GError *error)
{
  g_autoptr (GTask) start_task = g_steal_pointer (&self->start_task);

  if (error == NULL)
    error = g_error_new (SM_ERROR, SM_ERROR_CLOSED, _ ("Could not register with the daemon at %s"),
                         self->control_address);
  g_clear_pointer (&self->start_cancel_source, g_source_destroy);
  g_clear_error (&self->last_error);
  self->state = SM_CONTROL_LINK_IDLE;
  g_task_return_error (start_task, error);
}

static void
sm_control_link_give_up (SmControlLink *self)
{
  g_autoptr (GError) error = NULL;

  if (self->last_error != NULL)
    error = g_steal_pointer (&self->last_error);
  else
    error = g_error_new (SM_ERROR, SM_ERROR_CLOSED, _ ("Lost the connection to the daemon at %s"),
                         self->control_address);

  g_message (_ ("Giving up on the daemon at %s: %s"), self->control_address, error->message);
  self->state = SM_CONTROL_LINK_LOST;
  g_object_ref (self);
  self->events->lost (error, self->owner);
  g_object_unref (self);
}

/* Milliseconds of reconnecting left, 0 when the time is up */
static guint
sm_control_link_time_left (SmControlLink *self)
{
  gint64 deadline_us = self->lost_at_us + (gint64) (self->reconnect_timeout * G_USEC_PER_SEC);
  gint64 left_us = deadline_us - g_get_monotonic_time ();

  if (left_us <= 0)
    return 0;
  return (guint) MIN (left_us / 1000 + 1, G_MAXUINT);
}

static gboolean
on_retry (gpointer user_data)
{
  SmControlLink *self = user_data;
  guint          left_ms = sm_control_link_time_left (self);

  self->retry_source = NULL;
  if (left_ms == 0 && self->state == SM_CONTROL_LINK_STARTING)
    sm_control_link_fail_start (self, g_steal_pointer (&self->last_error));
  else if (left_ms == 0)
    sm_control_link_give_up (self);
  else
    sm_control_link_begin_attempt (self, MIN (left_ms, HANDSHAKE_TIMEOUT_MS));

  return G_SOURCE_REMOVE;
}

static void
sm_control_link_schedule_retry (SmControlLink *self, guint delay_ms)
{
  guint left_ms = sm_control_link_time_left (self);

  if (left_ms == 0 && self->state == SM_CONTROL_LINK_STARTING)
    {
      sm_control_link_fail_start (self, g_steal_pointer (&self->last_error));
      return;
    }
  if (left_ms == 0)
    {
      sm_control_link_give_up (self);
      return;
    }

  self->retry_source = sm_control_link_add_source (
      self, g_timeout_source_new (MIN (delay_ms, left_ms)), on_retry, "[socketmaster] reconnect");
}

void
sm_control_link_reconnect (SmControlLink *self, const GError *error)
{
  g_clear_error (&self->last_error);
  if (error != NULL)
    self->last_error = g_error_copy (error);
  self->state = SM_CONTROL_LINK_RECONNECTING;
  self->lost_at_us = g_get_monotonic_time ();
  self->retry_delay_ms = RECONNECT_FIRST_DELAY_MS;

  g_object_ref (self);
  sm_control_link_set_connected (self, FALSE);

  /* a "connected" handler may have closed us meanwhile */
  if (self->state == SM_CONTROL_LINK_RECONNECTING)
    {
      if (self->reconnect_timeout > 0)
        g_message (_ ("Lost the daemon at %s, reconnecting"), self->control_address);
      sm_control_link_schedule_retry (self, 0);
    }
  g_object_unref (self);
}

static void
sm_control_link_attempt_done (SmControlLink     *self,
                              GSocketConnection *connection,
                              GBytes            *leftover,
                              GError            *error)
{
  g_autoptr (GError) owned_error = error;
  g_autoptr (GTask) start_task = NULL;

  g_return_if_fail (self->state == SM_CONTROL_LINK_STARTING ||
                    self->state == SM_CONTROL_LINK_RECONNECTING);

  if (owned_error != NULL && self->state == SM_CONTROL_LINK_STARTING &&
      (!sm_client_handshake_is_transient (owned_error) || sm_control_link_time_left (self) == 0))
    {
      sm_control_link_fail_start (self, g_steal_pointer (&owned_error));
      return;
    }

  if (owned_error != NULL)
    {
      if (self->state == SM_CONTROL_LINK_STARTING)
        g_message (_ ("Registration with the daemon at %s failed (%s), retrying"),
                   self->control_address, owned_error->message);
      g_clear_error (&self->last_error);
      self->last_error = g_steal_pointer (&owned_error);
      sm_control_link_schedule_retry (self, self->retry_delay_ms);
      self->retry_delay_ms = MIN (self->retry_delay_ms * 2, RECONNECT_MAX_DELAY_MS);
      return;
    }

  if (self->state == SM_CONTROL_LINK_STARTING)
    {
      start_task = g_steal_pointer (&self->start_task);
      g_clear_pointer (&self->start_cancel_source, g_source_destroy);
    }

  g_message (_ ("Registered with the daemon at %s"), self->control_address);
  g_clear_error (&self->last_error);
  sm_control_link_set_session (self, connection, leftover);
  self->session_proxy_protocol = self->attempt_proxy_protocol;
  self->state = SM_CONTROL_LINK_CONNECTED;

  g_object_ref (self);
  sm_control_link_set_connected (self, TRUE);
  if (start_task != NULL)
    g_task_return_boolean (start_task, TRUE);
  g_object_unref (self);
}
