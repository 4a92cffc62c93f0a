/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-peer-credentials.h"
#include "sm-rate-limit.h"
#include "sm-registry.h"
#include "sm-source-limit.h"

G_BEGIN_DECLS

/* A service has this long to send its handshake and read our answer */
#define SM_CONTROL_HANDSHAKE_TIMEOUT_SECONDS 10
/* Unfinished handshakes larger than SM_HANDSHAKE_MAX_STRING (those with
 * certificates) are refused once all buffered bytes pass this */
#define SM_CONTROL_MAX_BUFFERED_BYTES (64 * 1024 * 1024)

/**
 * SmControlConnection:
 *
 * A control connection until its handshake is over: reads the service's
 * SocketDefinition without blocking anything else, asks the registry for
 * the port, answers with a status and, after "OK" went out, turns the
 * connection into a yamux session registered as a route.
 *
 * #SmControlConnection::finished is emitted once, whatever the outcome.
 */
#define SM_TYPE_CONTROL_CONNECTION (sm_control_connection_get_type ())
G_DECLARE_FINAL_TYPE (SmControlConnection, sm_control_connection, SM, CONTROL_CONNECTION, GObject)

/* @log_limit bounds the messages about refused services; it must outlive
 * the connection (it is shared by all of them). @buffered_total is a
 * g_rc_box()ed byte count shared by all unfinished handshakes, capped at
 * SM_CONTROL_MAX_BUFFERED_BYTES. */
SmControlConnection *sm_control_connection_new (GSocketConnection *connection,
                                                SmRegistry        *registry,
                                                SmRateLimit       *log_limit,
                                                gsize             *buffered_total);
/* Takes @ticket: released when the handshake is over, told of each read */
void        sm_control_connection_set_ticket (SmControlConnection *self, SmSourceTicket *ticket);
void        sm_control_connection_start (SmControlConnection *self);
/* Drops the connection now (daemon shutdown) */
void        sm_control_connection_abort (SmControlConnection *self);
const char *sm_control_connection_get_peer (SmControlConnection *self);

G_END_DECLS
