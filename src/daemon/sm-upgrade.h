/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-control.h"
#include "sm-registry.h"

G_BEGIN_DECLS

/*
 * Upgrading without losing a connection (docs/upgrade.md): the daemon
 * starts a fresh copy of its binary with the same arguments and passes it
 * every listening socket the way systemd passes sockets (sd_listen_fds(3):
 * descriptors from 3 on, $LISTEN_FDS, $LISTEN_FDNAMES, $LISTEN_PID), plus
 * a pipe named by $SOCKETMASTER_UPGRADE_FD on which the successor says it
 * is ready. The names say what each socket is; the socket itself says
 * where it listens.
 */

/* A control listener (TCP or Unix) */
#define SM_UPGRADE_NAME_CONTROL "control"
/* Public ports: "public-" MODE ["-tls"] "/" N "/" KEY, e.g.
 * "public-http-tls/2/|443": N services to wait for (HTTP) */
#define SM_UPGRADE_NAME_PUBLIC "public-"
#define SM_UPGRADE_READY_ENV   "SOCKETMASTER_UPGRADE_FD"

/* The name of @port's listener: its mode, whether it terminates TLS, how
 * many services the successor should wait for (@n_routes), and its key
 * (unique per port, without ':', which $LISTEN_FDNAMES reserves) */
char    *sm_upgrade_port_name (SmPort *port, guint n_routes);
/* Parses a name: either a control listener, or a public port's mode, TLS
 * and services to wait for. FALSE for anything else. */
gboolean sm_upgrade_parse_name (const char *name,
                                gboolean   *out_control,
                                SmPortMode *out_mode,
                                gboolean   *out_tls,
                                guint      *out_n_routes);

/**
 * SmUpgrade:
 *
 * Starts the successor and waits for it to say it is ready. Signal
 * "finished" (gboolean ready, guint pid): ready, the caller hands over and
 * exits; not ready (the successor failed or took more than
 * SM_UPGRADE_TIMEOUT_SECONDS, then it is killed), the caller carries on.
 */
#define SM_UPGRADE_TIMEOUT_SECONDS 30

#define SM_TYPE_UPGRADE (sm_upgrade_get_type ())
G_DECLARE_FINAL_TYPE (SmUpgrade, sm_upgrade, SM, UPGRADE, GObject)

/* @argv: the daemon's own, as it was started */
SmUpgrade *sm_upgrade_new (const char *const *argv);
/* Starts the successor with the listeners of @control and @registry;
 * SM_ERROR_GOING_AWAY while one is starting already */
gboolean
sm_upgrade_start (SmUpgrade *self, SmControl *control, SmRegistry *registry, GError **error);
gboolean sm_upgrade_is_running (SmUpgrade *self);

G_END_DECLS
