/* SPDX-License-Identifier: MIT */
#pragma once

/* What main.c shares with sm-main-signals.c: the state of the way out */

#include "sm-control.h"
#include "sm-registry.h"
#include "sm-upgrade.h"

G_BEGIN_DECLS

/* SIGINT and SIGTERM: the first starts the drain, the next cuts it short.
 * SIGUSR2 (or D-Bus Manager.Upgrade) starts a successor; once it is ready
 * the drain starts as well, handing the listeners over. */
typedef struct
{
  GMainLoop  *loop;
  guint       n_signals;
  SmUpgrade  *upgrade;
  SmControl  *control;
  SmRegistry *registry;
  gboolean    handing_over;
} ExitState;

/* sm_dbus_set_upgrade_func()'s: FALSE once the daemon is shutting down */
gboolean sm_main_start_upgrade (gpointer user_data, GError **error);
/* GSourceFuncs of g_unix_signal_add(): SIGUSR2, SIGINT and SIGTERM (on an
 * ExitState), SIGHUP (no data) */
gboolean sm_main_on_upgrade_signal (gpointer user_data);
gboolean sm_main_on_exit_signal (gpointer user_data);
gboolean sm_main_on_hangup_signal (gpointer user_data);
/* SmUpgrade's "finished" handler */
void sm_main_on_upgrade_finished (SmUpgrade *upgrade, gboolean ready, guint pid, ExitState *state);
void sm_main_run_pending_work (void);
void sm_main_shut_down (SmControl  *control,
                        SmRegistry *registry,
                        double      drain_timeout,
                        ExitState  *exit_state);

G_END_DECLS
