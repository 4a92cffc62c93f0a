/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-http-limits.h"
#include "sm-port-limits.h"
#include "sm-proxy-accept.h"
#include "sm-route.h"

G_BEGIN_DECLS

/**
 * SmPortMode:
 * @SM_PORT_MODE_TCP: every connection is copied as is to one service
 * @SM_PORT_MODE_HTTP: an HTTP/1.1 reverse proxy routing each request
 *
 * Set by the first service of a port; the others must ask for the same.
 */
typedef enum
{
  SM_PORT_MODE_TCP,
  SM_PORT_MODE_HTTP,
} SmPortMode;

/* "raw TCP" or "HTTP", for messages */
const char *sm_port_mode_to_string (SmPortMode mode);

/**
 * SmPort:
 *
 * One public listener, keyed by (address, port), and the services that
 * registered on it. Each accepted connection goes to the next route in
 * round-robin order that still takes streams and has fewer than
 * #SmPortLimits.max_streams_per_service open. With no such route the
 * connection waits (unread) for one to register or to have room, at most
 * the hold timeout. Past the port's or the daemon's connection limit a new
 * connection is closed right after accept.
 *
 * TLS: a port terminates TLS while it has certificates: from the first
 * service that registers one (sm_port_add_route()) until the hold timeout
 * after the last such service left. Then every new connection on it is
 * TLS, whatever its services registered: a service without a certificate
 * is served through TLS with the others' certificates, chosen by SNI (see
 * sm-tls-credentials.h). A connection still waiting for a service when the
 * port starts terminating TLS gets the TLS handshake too, and so do those
 * accepted while the first service with a certificate completes its
 * registration (they wait for it). HTTP ports offer ALPN "http/1.1".
 * #SmPort::tls-changed tells when termination starts or stops.
 *
 * In HTTP mode each connection goes to an #SmHttpProxy, which asks the
 * port's #SmHttpRouter for a route per request and may wait there for a
 * service that left to come back. The port tells its router when routes
 * come and go; its connections never call the port.
 *
 * A port with no routes and no reservation closes itself after the hold
 * timeout and emits #SmPort::closed. A reservation (sm_port_reserve()) keeps
 * it open while a service's handshake answer is being written.
 */
#define SM_TYPE_PORT (sm_port_get_type ())
G_DECLARE_FINAL_TYPE (SmPort, sm_port, SM, PORT, GObject)

/* The registry's key: "ADDRESS|PORT", ADDRESS empty for all interfaces */
char         *sm_port_make_key (GInetAddress *address, guint16 number);

/* Binds and starts listening. @address NULL: all interfaces.
 * @drain (may be NULL), when cancelled, lets this port's HTTP connections
 * finish their request in progress and close; @cancellable aborts this
 * port's proxied connections when cancelled. */
SmPort       *sm_port_new (GInetAddress *address,
                           guint16       number,
                           SmPortMode    mode,
                           double        hold_timeout,
                           GCancellable *drain,
                           GCancellable *cancellable,
                           GError      **error);
/* Same on a listening @socket bound elsewhere (an upgrade's predecessor,
 * systemd's file descriptor store): @address and @number are what it is
 * bound to */
SmPort       *sm_port_new_for_socket (GSocket      *socket,
                                      GInetAddress *address,
                                      guint16       number,
                                      SmPortMode    mode,
                                      double        hold_timeout,
                                      GCancellable *drain,
                                      GCancellable *cancellable,
                                      GError      **error);

GInetAddress *sm_port_get_address (SmPort *self);
guint16       sm_port_get_number (SmPort *self);
SmPortMode    sm_port_get_mode (SmPort *self);
const char   *sm_port_get_key (SmPort *self);
/* "*:8000", "127.0.0.1:8000", "[::1]:8000" */
const char   *sm_port_get_display_name (SmPort *self);
/* Routes in round-robin order (transfer none; do not modify) */
GPtrArray    *sm_port_get_routes (SmPort *self);
/* Waiting connections (raw TCP) or requests (HTTP) */
guint         sm_port_get_n_queued (SmPort *self);
gboolean      sm_port_is_closed (SmPort *self);

void          sm_port_reserve (SmPort *self);
void          sm_port_release (SmPort *self);
/* The reservation is for a service with a certificate: until the
 * reservations are over, new connections wait for it rather than being
 * served without TLS */
void          sm_port_expect_tls (SmPort *self);
/* An adopted port that terminated TLS before the upgrade: new connections
 * wait for the first service instead of being served without TLS */
void          sm_port_wait_for_tls (SmPort *self);
/* Consumes one reservation */
void          sm_port_add_route (SmPort *self, SmRoute *route);

/* TLS: the GnuTLS priority string (checked by the caller; NULL: the
 * default) and the seconds a client has to complete its handshake, for
 * the TLS set up from now on */
void          sm_port_set_tls_options (SmPort *self, const char *priority, int handshake_timeout);
/* Whether new connections get the TLS handshake */
gboolean      sm_port_get_tls (SmPort *self);

/* HTTP mode: limits for the connections accepted from now on */
void          sm_port_set_http_limits (SmPort *self, const SmHttpLimits *limits);

/* Limits for the connections and streams from now on (default:
 * sm_port_limits_init()); @total counts the public connections of all
 * ports that share it (default: the port's own) */
void          sm_port_set_limits (SmPort *self, const SmPortLimits *limits, SmOpenCount *total);

/* Trusted balancers (--accept-proxy; NULL: none): their connections from
 * now on must start with a PROXY header, read within the HTTP header
 * timeout, whose addresses then stand for the connection's */
void          sm_port_set_accept_proxy (SmPort *self, SmProxyAccept *proxy_accept);

/* Stops accepting and drops waiting connections; routes stay */
void          sm_port_stop_listening (SmPort *self);
/* Upgrade: stops accepting but leaves the connections the kernel queued to
 * the successor that shares the socket */
void          sm_port_hand_over (SmPort *self);
/* HTTP port adopted in an upgrade: its requests wait until @n_routes
 * services registered (the predecessor had them), or for the hold timeout,
 * rather than getting 404 from the first to come back */
void          sm_port_await_routes (SmPort *self, guint n_routes);
/* The listening socket, NULL once it stopped listening */
GSocket      *sm_port_get_listen_socket (SmPort *self);
/* Stops listening, closes the routes' sessions, emits #SmPort::closed */
void          sm_port_close (SmPort *self);

/* One public connection (raw TCP) or request (HTTP) waiting for a service */
typedef struct
{
  GSocketAddress *client;    /* the public client, NULL when not known */
  const char     *host;      /* HTTP: the request's host; NULL in raw TCP */
  const char     *path;      /* HTTP: the request's path; NULL in raw TCP */
  gint64          queued_at; /* g_get_monotonic_time() when it began to wait */
} SmPortWaiting;

typedef void (*SmPortWaitingFunc) (const SmPortWaiting *waiting, gpointer user_data);

/* Calls @func for each waiting connection or request, oldest first (for
 * inspection: @func must not change the port) */
void sm_port_foreach_waiting (SmPort *self, SmPortWaitingFunc func, gpointer user_data);

G_END_DECLS
