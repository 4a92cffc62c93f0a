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

/* Sends @state ("READY=1\nSTATUS=…") to $NOTIFY_SOCKET; FALSE (with
 * @error) if it could not, and FALSE without error if there is none */
gboolean  sm_notify_send (const char *state, GError **error);
/* "N ports, M services, K queued" */
char     *sm_notify_format_status (guint n_ports, guint n_services, guint n_queued);

G_END_DECLS
