/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-http-parser.h"
#include "sm-rate-limit.h"
#include "sm-route.h"

G_BEGIN_DECLS

/*
 * Where the daemon's code reports what operators watch: each hook counts
 * into the default #SmMetrics and writes the default #SmAccessLog's line
 * (if there is one), so the proxies need one call each.
 */

/* One HTTP request, answered by a service or by us */
typedef struct
{
  guint16     port;
  SmRoute    *route;  /* NULL: no route (404, or the request never parsed) */
  const char *client; /* the client's IP address, NULL if unknown */
  const char *method; /* NULL when no request parsed */
  const char *host;
  const char *target;     /* as received (not a metrics label) */
  const char *version;    /* "HTTP/1.1" */
  const char *referer;    /* NULL if none */
  const char *user_agent; /* NULL if none */
  guint       status;
  guint64     bytes_in; /* from the client, as relayed */
  guint64     bytes_out;
  gint64      duration_us;
} SmHttpRecord;

/* One raw TCP connection (or a tunnel after 101), at its end */
typedef struct
{
  SmRoute    *route;
  const char *client; /* "ADDRESS:PORT", or NULL */
  gboolean    failed; /* aborted rather than closed in order */
  guint64     bytes_in;
  guint64     bytes_out;
  gint64      duration_us;
} SmTcpRecord;

void    sm_metrics_http_done (const SmHttpRecord *record);
void    sm_metrics_tcp_done (const SmTcpRecord *record);
/* sm_metrics_http_done() for an HTTP exchange: @port_name ("*:8000"),
 * @request (NULL: it never parsed), @version: the client's protocol
 * ("HTTP/2"; NULL: the request's HTTP/1.x), @started_at:
 * g_get_monotonic_time() when its head was in */
void    sm_metrics_http_answered (const char          *port_name,
                                  SmRoute             *route,
                                  const char          *client_ip,
                                  const SmHttpRequest *request,
                                  const char          *version,
                                  guint                status,
                                  guint64              bytes_in,
                                  guint64              bytes_out,
                                  gint64               started_at);
/* A public connection admitted on the port shown as @port_name ("*:8000") */
void    sm_metrics_connection_admitted (const char *port_name, GSocketConnection *connection);
/* Logs "Service … registered on …" naming the route, with journal fields,
 * and counts the registration */
void    sm_metrics_route_registered (SmRoute *route, const char *port_name);
/* Logs a refusal (within @limit) with journal fields, and counts it.
 * @port: the port asked for, 0 if unknown; @who: the peer's identity */
void    sm_metrics_registration_refused (SmRateLimit  *limit,
                                         const char   *peer,
                                         const char   *who,
                                         guint16       port,
                                         const GError *refusal);

/* The number at the end of a port's display name ("[::1]:8000": 8000) */
guint16 sm_metrics_port_from_name (const char *port_name);

G_END_DECLS
