/* SPDX-License-Identifier: MIT */
/* The daemon's signals and its way out: exit, upgrade, reopening the
 * access log, and the drain before the process ends */
#include "config.h"

#include "sm-access-log.h"
#include "sm-error.h"
#include "sm-main-private.h"

gboolean
sm_main_start_upgrade (gpointer user_data, GError **error)
{
  ExitState *state = user_data;

  if (state->n_signals > 0 || state->handing_over)
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_GOING_AWAY, "socketmaster is shutting down");
      return FALSE;
    }
  return sm_upgrade_start (state->upgrade, state->control, state->registry, error);
}

gboolean
sm_main_on_upgrade_signal (gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  g_message ("SIGUSR2: upgrading");
  if (!sm_main_start_upgrade (user_data, &error))
    g_warning ("Cannot upgrade: %s", error->message);
  return G_SOURCE_CONTINUE;
}

void
sm_main_on_upgrade_finished (SmUpgrade *upgrade, gboolean ready, guint pid, ExitState *state)
{
  if (!ready || state->n_signals > 0)
    return;
  g_message ("Handing over to process %u", pid);
  state->handing_over = TRUE;
  g_main_loop_quit (state->loop);
}

gboolean
sm_main_on_exit_signal (gpointer user_data)
{
  ExitState *state = user_data;

  if (state->n_signals++ == 0)
    g_message ("Shutting down");
  else
    g_message ("Shutting down now");
  g_main_loop_quit (state->loop);

  return G_SOURCE_CONTINUE;
}

/* logrotate moved the access log away: write to a new file */
gboolean
sm_main_on_hangup_signal (gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  SmAccessLog *log = sm_access_log_get_default ();

  if (log == NULL)
    g_message ("SIGHUP received; no access log to reopen");
  else if (!sm_access_log_reopen (log, &error))
    g_warning ("SIGHUP: cannot reopen the access log: %s", error->message);
  else
    g_message ("SIGHUP: access log reopened");
  return G_SOURCE_CONTINUE;
}

static gboolean
on_drain_over (gpointer user_data)
{
  gboolean *over = user_data;

  *over = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs whatever is ready without blocking, so cancelled operations and
 * deferred closes complete and free their memory. */
void
sm_main_run_pending_work (void)
{
  /* A bound, in case something keeps rescheduling itself */
  for (guint i = 0; i < 1000 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);
}

/* Upgrade: services learn of the successor through GoAway, and the client
 * library registers with it at once. A session that saw GoAway takes no
 * new stream, so it is sent once every connection left here has its
 * stream (requests being read still need one), or after a moment. */
#define GO_AWAY_GRACE_US (2 * G_USEC_PER_SEC)

static void
go_away_when_quiet (SmRegistry *registry, gint64 started_us, gboolean *sent)
{
  if (*sent ||
      (sm_registry_get_n_connections (registry) > sm_registry_get_n_active_streams (registry) &&
       g_get_monotonic_time () - started_us < GO_AWAY_GRACE_US))
    return;
  g_debug ("Sending GoAway to the services");
  sm_registry_go_away (registry);
  *sent = TRUE;
}

static gboolean
on_go_away_check (gpointer user_data)
{
  return G_SOURCE_CONTINUE; /* only wakes the drain loop up */
}

/* Stops accepting, lets the requests in flight finish (HTTP keep-alive
 * connections close after their response) for at most @drain_timeout
 * seconds or until a second signal, then cuts what is left */
void
sm_main_shut_down (SmControl  *control,
                   SmRegistry *registry,
                   double      drain_timeout,
                   ExitState  *exit_state)
{
  gboolean drain_over = FALSE;
  guint    drain_source;
  guint    n_signals = exit_state->n_signals;
  gboolean go_away_sent = !exit_state->handing_over;
  gint64   started_us = g_get_monotonic_time ();
  guint    check_source = 0;

  if (exit_state->handing_over)
    {
      sm_control_hand_over (control);
      sm_registry_hand_over (registry);
      check_source = g_timeout_add (50, on_go_away_check, NULL);
    }
  else
    {
      sm_control_stop (control);
      sm_registry_shutdown (registry);
    }

  /* Until every public connection is finished: a connection accepted
   * just before the listener closed still gets its request answered */
  drain_source = g_timeout_add ((guint) (drain_timeout * 1000), on_drain_over, &drain_over);
  while (!drain_over && exit_state->n_signals == n_signals &&
         (sm_registry_get_n_active_streams (registry) > 0 ||
          sm_registry_get_n_connections (registry) > 0))
    {
      go_away_when_quiet (registry, started_us, &go_away_sent);
      g_main_context_iteration (NULL, TRUE);
    }
  if (!drain_over)
    g_source_remove (drain_source);
  g_clear_handle_id (&check_source, g_source_remove);
  if (sm_registry_get_n_active_streams (registry) > 0 ||
      sm_registry_get_n_connections (registry) > 0)
    g_message ("Cutting %u open connection(s) and %u stream(s)",
               sm_registry_get_n_connections (registry),
               sm_registry_get_n_active_streams (registry));

  sm_registry_close (registry);
  sm_main_run_pending_work ();
}
