/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-registry.h"
#include "sm-route.h"

G_BEGIN_DECLS

/*
 * SmMetrics: the counters and histograms behind --metrics, in the
 * Prometheus text format (version 0.0.4). Labels are bounded by what
 * registered: a port's number, a route's domain suffix and path prefix
 * (never a request's own path: unmatched requests count under empty
 * ones), a status code, a refusal's error name. Gauges (services, queued
 * connections) are read from the registry when formatting.
 */
#define SM_TYPE_METRICS (sm_metrics_get_type ())
G_DECLARE_FINAL_TYPE (SmMetrics, sm_metrics, SM, METRICS, GObject)

/* Buckets of socketmaster_http_request_duration_seconds (Prometheus's
 * defaults), in seconds; +Inf is implied */
#define SM_METRICS_N_BUCKETS 11
extern const double sm_metrics_buckets[SM_METRICS_N_BUCKETS];

SmMetrics          *sm_metrics_new (void);
/* The daemon's, which the hooks of sm-metrics-events.h count into */
SmMetrics          *sm_metrics_get_default (void);
/* Whether anyone reads @self (a metrics server serves it): the hooks run
 * per request and per connection count only then, so a daemon without
 * --metrics pays nothing for them */
void                sm_metrics_set_collecting (SmMetrics *self, gboolean collecting);
gboolean            sm_metrics_is_collecting (SmMetrics *self);

/* @route NULL: the request matched no route (or never parsed) */
void                sm_metrics_count_http (SmMetrics *self,
                                           guint16    port,
                                           SmRoute   *route,
                                           guint      status,
                                           gint64     duration_us);
void                sm_metrics_count_bytes (SmMetrics *self, guint16 port, guint64 in, guint64 out);
/* A public connection was admitted; it counts as active until @connection
 * is finalized */
void sm_metrics_count_connection (SmMetrics *self, guint16 port, GObject *connection);
/* @result: "ok" or the refusal's error name */
void sm_metrics_count_registration (SmMetrics *self, const char *result);
void sm_metrics_count_access_log_drops (SmMetrics *self, guint64 n);

/* Appends every family; @registry (may be NULL) gives the gauges */
void sm_metrics_format (SmMetrics *self, SmRegistry *registry, GString *out);

/* Pure helpers of the format, for the tests */
/* Appends @value escaped as a label value (backslash, quote, newline) */
void sm_metrics_escape_label_value (GString *out, const char *value);
/* Appends the # HELP and # TYPE lines */
void sm_metrics_format_header (GString *out, const char *name, const char *type, const char *help);
/* Appends _bucket, _sum and _count samples of one labelled histogram;
 * @labels: the label pairs already formatted ("a=\"x\",b=\"y\"") */
void sm_metrics_format_histogram (GString       *out,
                                  const char    *name,
                                  const char    *labels,
                                  const guint64 *buckets,
                                  guint64        count,
                                  double         sum);

G_END_DECLS
