/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-metrics.h"
#include "sm-registry.h"

G_BEGIN_DECLS

/* Longest request head read; larger ones get 431 */
#define SM_METRICS_SERVER_MAX_REQUEST (8 * 1024)
/* Seconds a scraper has to send its request and read the answer */
#define SM_METRICS_SERVER_TIMEOUT 10
/* Scrapes served at once; more connections are closed */
#define SM_METRICS_SERVER_MAX_CLIENTS 16

/*
 * SmMetricsServer: --metrics, a tiny HTTP/1.1 responder for Prometheus:
 * GET (or HEAD) /metrics gets the text format, other paths 404, other
 * methods 405. One request per connection, parsed with the project's
 * codec.
 */
#define SM_TYPE_METRICS_SERVER (sm_metrics_server_get_type ())
G_DECLARE_FINAL_TYPE (SmMetricsServer, sm_metrics_server, SM, METRICS_SERVER, GObject)

SmMetricsServer *sm_metrics_server_new (SmMetrics *metrics, SmRegistry *registry);
/* @address: "HOST:PORT" as for sm_address_parse_bind() (port 0: any) */
gboolean    sm_metrics_server_listen (SmMetricsServer *self, const char *address, GError **error);
/* Where it listens, "HOST:PORT", once listening */
const char *sm_metrics_server_get_address (SmMetricsServer *self);
void        sm_metrics_server_stop (SmMetricsServer *self);

G_END_DECLS
