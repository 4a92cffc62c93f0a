/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-registry.h"

G_BEGIN_DECLS

/* Handshakes in progress at once, and from one source address
 * (SM_SOURCE_LIMIT_DEFAULT_MAX_PER_SOURCE): bounds the memory unfinished
 * handshakes can hold. A new connection beyond the total takes the place
 * of the oldest silent one (see SmSourceLimit), so a flood from one source
 * does not lock the other services out. */
#define SM_CONTROL_DEFAULT_MAX_PENDING 1024

/**
 * SmControl:
 *
 * The control listener services connect to. Every connection gets its
 * handshake read concurrently with all others (#SmControlConnection) and,
 * once accepted, becomes a route in the #SmRegistry.
 */
#define SM_TYPE_CONTROL (sm_control_get_type ())
G_DECLARE_FINAL_TYPE (SmControl, sm_control, SM, CONTROL, GObject)

SmControl *sm_control_new (SmRegistry *registry);

/* Each call adds one more listening socket; all of them feed the same
 * handshakes and limits. */

/* @address NULL: all interfaces; @port 0: ephemeral */
gboolean   sm_control_listen (SmControl *self, GInetAddress *address, guint16 port, GError **error);
/* A Unix socket at @path, mode 0666 (the policy decides per uid, not the
 * file mode). A socket file nobody answers on is replaced; one in use, or
 * a file that is not a socket, is SM_ERROR_ADDRESS_IN_USE. Unlinked by
 * sm_control_stop(). */
gboolean   sm_control_listen_unix (SmControl *self, const char *path, GError **error);
/* A listening socket bound elsewhere (an upgrade's predecessor, systemd):
 * TCP, or Unix with a path (removed by sm_control_stop() like one of ours) */
gboolean   sm_control_adopt (SmControl *self, GSocket *socket, GError **error);
/* The listening sockets (GSocket), in the order of the listen calls */
GPtrArray *sm_control_get_sockets (SmControl *self);
/* Upgrade: sm_control_stop(), but the Unix socket files stay for the
 * successor that shares the sockets */
void       sm_control_hand_over (SmControl *self);
/* The address the first TCP listener actually bound, or NULL before any */
GSocketAddress    *sm_control_get_local_address (SmControl *self);
/* Where it listens, in the order of the listen calls: "127.0.0.1:9999"
 * (the port actually bound), "unix:/run/socketmaster/control.sock" */
const char *const *sm_control_get_listeners (SmControl *self);

void  sm_control_set_max_pending (SmControl *self, guint max_pending, guint max_per_source);
guint sm_control_get_n_pending (SmControl *self);

/* Stops accepting and drops the handshakes in progress */
void  sm_control_stop (SmControl *self);

G_END_DECLS
