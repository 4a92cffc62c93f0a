/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-registry.h"

G_BEGIN_DECLS

/*
 * SmNotify: the service manager's notify protocol (sd_notify(3)): READY=1
 * once the control listeners are up, STATUS= kept current (checked once a
 * second, sent when it changed), STOPPING=1 when the drain starts. Does
 * nothing without $NOTIFY_SOCKET. Uses libsystemd when built with it,
 * else sends the datagram itself.
 */
#define SM_TYPE_NOTIFY (sm_notify_get_type ())
G_DECLARE_FINAL_TYPE (SmNotify, sm_notify, SM, NOTIFY, GObject)

SmNotify *sm_notify_new (SmRegistry *registry);
/* READY=1 with the first STATUS=, then STATUS= as it changes */
void      sm_notify_ready (SmNotify *self);
/* STOPPING=1; no more STATUS= */
void      sm_notify_stopping (SmNotify *self);

/* An upgrade started us: READY=1 comes with MAINPID= (the unit has
 * NotifyAccess=all), so the service manager follows the new process */
void      sm_notify_set_upgraded (SmNotify *self);
/* The successor took over: no more STATUS=, no STOPPING=1, and the
 * listeners stay in the store */
void      sm_notify_hand_over (SmNotify *self);
/* FDSTORE=1 with every listener: @control_sockets (GSocket) as "control",
 * the public ports as they open (named by sm_upgrade_port_name()), and
 * FDSTOREREMOVE=1 when one closes while the daemon runs. systemd gives
 * them back at the next start (sm-upgrade-inherit.h). */
void      sm_notify_store_listeners (SmNotify *self, GPtrArray *control_sockets);

/* Sends @state ("READY=1\nSTATUS=…") to $NOTIFY_SOCKET; FALSE (with
 * @error) if it could not, and FALSE without error if there is none */
gboolean  sm_notify_send (const char *state, GError **error);
/* Same with descriptors passed along (SCM_RIGHTS) */
gboolean  sm_notify_send_with_fds (const char *state, const int *fds, guint n_fds, GError **error);
/* "N ports, M services, K queued" */
char     *sm_notify_format_status (guint n_ports, guint n_services, guint n_queued);

G_END_DECLS
