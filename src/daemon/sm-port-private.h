/* SPDX-License-Identifier: MIT */
#pragma once

/* SmPort's insides, shared by sm-port.c and sm-port-accept.c (the way in
 * of a public connection) */

#include "sm-connection-queue.h"
#include "sm-http-router.h"
#include "sm-port.h"
#include "sm-tls-terminator.h"

G_BEGIN_DECLS

struct _SmPort
{
  GObject            parent_instance;

  GInetAddress      *address;
  guint16            number;
  SmPortMode         mode;
  char              *key;
  char              *display_name;
  gint64             hold_us;
  GCancellable      *cancellable;
  GCancellable      *drain; /* NULL: none */
  GSocket           *listen_socket;

  GSocketService    *service;
  gboolean           listening;
  gboolean           closed;

  GPtrArray         *routes;
  guint              next_route;
  guint              n_reservations;
  guint              hold_source;

  SmConnectionQueue *queued; /* raw TCP, or waiting for a certificate */

  SmPortCapacity     capacity;
  SmProxyAccept     *proxy_accept; /* NULL: no trusted balancers */

  /* HTTP mode */
  SmHttpLimits       http_limits;
  SmHttpRouter      *router;

  /* TLS termination, set up by the first certificate */
  SmTlsTerminator   *tls;
  char              *tls_priority;
  int                tls_handshake_timeout;
  gboolean           tls_expected; /* a service with a certificate is registering */

  /* Adopted in an upgrade: registrations awaited before HTTP requests are
   * routed (others would get 404 meanwhile), until the hold timeout */
  guint              n_awaited;
  guint              await_source;
};

/* sm-port.c */
gboolean sm_port_terminates_tls (SmPort *self);
/* Hands @stream (the public connection, or a TLS stream over it) to a
 * service or the HTTP proxy, or queues it */
void     sm_port_serve (SmPort *self, GIOStream *stream, GSocketAddress *client, gboolean tls);

/* Connections one wake-up of a public listener accepts at most */
#define SM_PORT_ACCEPT_BATCH 64

/* sm-port-accept.c: the listener's "incoming" handler */
gboolean sm_port_on_incoming (GSocketService    *service,
                              GSocketConnection *connection,
                              GObject           *source_object,
                              SmPort            *self);
/* Admits and serves one accepted connection (limits, PROXY header, TLS):
 * FALSE when the listener was paused near the descriptor limit */
gboolean sm_port_admit (SmPort *self, GSocketConnection *connection);
/* Handshakes run concurrently; the connection is served once it is done */
void     sm_port_start_handshake (SmPort *self, GSocketConnection *connection);

G_END_DECLS
