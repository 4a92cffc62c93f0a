/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-route.h"

G_BEGIN_DECLS

/* Public connections waiting for a service, per port; more are closed */
#define SM_PORT_MAX_QUEUED 1024

/**
 * SmPort:
 *
 * One public listener, keyed by (address, port), and the services that
 * registered on it. Each accepted connection goes to the next route in
 * round-robin order that still takes streams. With no such route the
 * connection waits (unread) for one to register, at most the hold timeout.
 *
 * A port with no routes and no reservation closes itself after the hold
 * timeout and emits #SmPort::closed. A reservation (sm_port_reserve()) keeps
 * it open while a service's handshake answer is being written.
 */
#define SM_TYPE_PORT (sm_port_get_type ())
G_DECLARE_FINAL_TYPE (SmPort, sm_port, SM, PORT, GObject)

/* The registry's key: "ADDRESS|PORT", ADDRESS empty for all interfaces */
char         *sm_port_make_key         (GInetAddress  *address,
                                        guint16        number);

/* Binds and starts listening. @address NULL: all interfaces.
 * @cancellable aborts this port's proxied connections when cancelled. */
SmPort       *sm_port_new              (GInetAddress  *address,
                                        guint16        number,
                                        double         hold_timeout,
                                        GCancellable  *cancellable,
                                        GError       **error);

GInetAddress *sm_port_get_address      (SmPort        *self);
guint16       sm_port_get_number       (SmPort        *self);
const char   *sm_port_get_key          (SmPort        *self);
/* "*:8000", "127.0.0.1:8000", "[::1]:8000" */
const char   *sm_port_get_display_name (SmPort        *self);
/* Routes in round-robin order (transfer none; do not modify) */
GPtrArray    *sm_port_get_routes       (SmPort        *self);
guint         sm_port_get_n_queued     (SmPort        *self);
gboolean      sm_port_is_closed        (SmPort        *self);

void          sm_port_reserve          (SmPort        *self);
void          sm_port_release          (SmPort        *self);
/* Consumes one reservation */
void          sm_port_add_route        (SmPort        *self,
                                        SmRoute       *route);

/* Stops accepting and drops waiting connections; routes stay */
void          sm_port_stop_listening   (SmPort        *self);
/* Stops listening, closes the routes' sessions, emits #SmPort::closed */
void          sm_port_close            (SmPort        *self);

G_END_DECLS
