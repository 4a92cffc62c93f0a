/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-metrics.h"

const double sm_metrics_buckets[SM_METRICS_N_BUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                          0.5,   1,    2.5,   5,    10 };

typedef struct
{
  guint64 buckets[SM_METRICS_N_BUCKETS]; /* not cumulative; summed when formatted */
  guint64 count;
  double  sum;
} Histogram;

/* Shared with the weak references of active connections, which may
 * outlive the metrics (tests make their own) */
typedef struct
{
  guint64 connections;
  guint   active;
  guint64 bytes_in;
  guint64 bytes_out;
} PortCounts;

struct _SmMetrics
{
  GObject     parent_instance;

  GHashTable *requests;      /* formatted labels -> guint64 * */
  GHashTable *durations;     /* formatted labels -> Histogram */
  GHashTable *ports;         /* port number -> PortCounts (rc box) */
  GHashTable *registrations; /* result -> guint64 * */
  guint64     access_log_dropped;
  gboolean    collecting;
};

G_DEFINE_FINAL_TYPE (SmMetrics, sm_metrics, G_TYPE_OBJECT)

static void
sm_metrics_finalize (GObject *object)
{
  SmMetrics *self = SM_METRICS (object);

  g_hash_table_unref (self->requests);
  g_hash_table_unref (self->durations);
  g_hash_table_unref (self->ports);
  g_hash_table_unref (self->registrations);

  G_OBJECT_CLASS (sm_metrics_parent_class)->finalize (object);
}

static void
sm_metrics_class_init (SmMetricsClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sm_metrics_finalize;
}

static void
sm_metrics_init (SmMetrics *self)
{
  self->requests = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->durations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->ports = g_hash_table_new_full (NULL, NULL, NULL, g_rc_box_release);
  self->registrations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

SmMetrics *
sm_metrics_new (void)
{
  return g_object_new (SM_TYPE_METRICS, NULL);
}

void
sm_metrics_set_collecting (SmMetrics *self, gboolean collecting)
{
  g_return_if_fail (SM_IS_METRICS (self));
  self->collecting = collecting;
}

gboolean
sm_metrics_is_collecting (SmMetrics *self)
{
  g_return_val_if_fail (SM_IS_METRICS (self), FALSE);
  return self->collecting;
}

SmMetrics *
sm_metrics_get_default (void)
{
  static SmMetrics *metrics;

  if (metrics == NULL)
    metrics = sm_metrics_new ();
  return metrics;
}

void
sm_metrics_escape_label_value (GString *out, const char *value)
{
  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == '\\')
        g_string_append (out, "\\\\");
      else if (*p == '"')
        g_string_append (out, "\\\"");
      else if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
}

static void
append_label (GString *out, const char *name, const char *value)
{
  if (out->len > 0)
    g_string_append_c (out, ',');
  g_string_append_printf (out, "%s=\"", name);
  sm_metrics_escape_label_value (out, value);
  g_string_append_c (out, '"');
}

static void
append_port_label (GString *out, guint16 port)
{
  char text[8];

  g_snprintf (text, sizeof text, "%u", port);
  append_label (out, "port", text);
}

static guint64 *
counter_lookup (GHashTable *table, const char *key)
{
  guint64 *counter = g_hash_table_lookup (table, key);

  if (counter == NULL)
    {
      counter = g_new0 (guint64, 1);
      g_hash_table_insert (table, g_strdup (key), counter);
    }
  return counter;
}

static PortCounts *
port_lookup (SmMetrics *self, guint16 port)
{
  PortCounts *counts = g_hash_table_lookup (self->ports, GUINT_TO_POINTER (port));

  if (counts == NULL)
    {
      counts = g_rc_box_new0 (PortCounts);
      g_hash_table_insert (self->ports, GUINT_TO_POINTER (port), counts);
    }
  return counts;
}

void
sm_metrics_count_http (SmMetrics *self,
                       guint16    port,
                       SmRoute   *route,
                       guint      status,
                       gint64     duration_us)
{
  const SmSocketDefinition *definition = route != NULL ? sm_route_get_definition (route) : NULL;
  g_autoptr (GString) labels = g_string_new (NULL);
  Histogram *histogram;
  double     seconds = (double) MAX (duration_us, 0) / G_USEC_PER_SEC;
  char       code[8];

  g_return_if_fail (SM_IS_METRICS (self));

  append_port_label (labels, port);
  append_label (labels, "domain",
                definition != NULL ? sm_socket_definition_get_domain_suffix (definition) : "");
  append_label (labels, "path",
                definition != NULL ? sm_socket_definition_get_path_prefix (definition) : "");

  histogram = g_hash_table_lookup (self->durations, labels->str);
  if (histogram == NULL)
    {
      histogram = g_new0 (Histogram, 1);
      g_hash_table_insert (self->durations, g_strdup (labels->str), histogram);
    }
  for (guint i = 0; i < SM_METRICS_N_BUCKETS; i++)
    if (seconds <= sm_metrics_buckets[i])
      {
        histogram->buckets[i]++;
        break;
      }
  histogram->count++;
  histogram->sum += seconds;

  g_snprintf (code, sizeof code, "%u", status);
  append_label (labels, "code", code);
  (*counter_lookup (self->requests, labels->str))++;
}

void
sm_metrics_count_bytes (SmMetrics *self, guint16 port, guint64 in, guint64 out)
{
  PortCounts *counts;

  g_return_if_fail (SM_IS_METRICS (self));

  counts = port_lookup (self, port);
  counts->bytes_in += in;
  counts->bytes_out += out;
}

static void
on_connection_finalized (gpointer data, GObject *where_the_object_was)
{
  PortCounts *counts = data;

  counts->active--;
  g_rc_box_release (counts);
}

void
sm_metrics_count_connection (SmMetrics *self, guint16 port, GObject *connection)
{
  PortCounts *counts;

  g_return_if_fail (SM_IS_METRICS (self));
  g_return_if_fail (G_IS_OBJECT (connection));

  counts = port_lookup (self, port);
  counts->connections++;
  counts->active++;
  g_object_weak_ref (connection, on_connection_finalized, g_rc_box_acquire (counts));
}

void
sm_metrics_count_registration (SmMetrics *self, const char *result)
{
  g_autoptr (GString) labels = g_string_new (NULL);

  g_return_if_fail (SM_IS_METRICS (self));

  append_label (labels, "result", result);
  (*counter_lookup (self->registrations, labels->str))++;
}

void
sm_metrics_count_access_log_drops (SmMetrics *self, guint64 n)
{
  g_return_if_fail (SM_IS_METRICS (self));

  self->access_log_dropped += n;
}

void
sm_metrics_format_header (GString *out, const char *name, const char *type, const char *help)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
format_sample (GString *out, const char *name, const char *labels, guint64 value)
{
  if (labels != NULL && *labels != '\0')
    g_string_append_printf (out, "%s{%s} %" G_GUINT64_FORMAT "\n", name, labels, value);
  else
    g_string_append_printf (out, "%s %" G_GUINT64_FORMAT "\n", name, value);
}

void
sm_metrics_format_histogram (GString       *out,
                             const char    *name,
                             const char    *labels,
                             const guint64 *buckets,
                             guint64        count,
                             double         sum)
{
  const char *sep = labels[0] != '\0' ? "," : "";
  guint64     cumulative = 0;
  char        number[G_ASCII_DTOSTR_BUF_SIZE];

  for (guint i = 0; i < SM_METRICS_N_BUCKETS; i++)
    {
      cumulative += buckets[i];
      g_string_append_printf (
          out, "%s_bucket{%s%sle=\"%s\"} %" G_GUINT64_FORMAT "\n", name, labels, sep,
          g_ascii_formatd (number, sizeof number, "%g", sm_metrics_buckets[i]), cumulative);
    }
  g_string_append_printf (out, "%s_bucket{%s%sle=\"+Inf\"} %" G_GUINT64_FORMAT "\n", name, labels,
                          sep, count);
  g_string_append_printf (out, "%s_sum{%s} %s\n", name, labels,
                          g_ascii_dtostr (number, sizeof number, sum));
  g_string_append_printf (out, "%s_count{%s} %" G_GUINT64_FORMAT "\n", name, labels, count);
}

/* Keys in a stable order, so scrapes compare line by line */
static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static GPtrArray *
get_keys (GHashTable *table)
{
  GPtrArray     *keys = g_ptr_array_sized_new (g_hash_table_size (table));
  GHashTableIter iter;
  gpointer       key;

  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (keys, key);
  return keys;
}

static GPtrArray *
sorted_keys (GHashTable *table)
{
  GPtrArray *keys = get_keys (table);

  g_ptr_array_sort (keys, compare_strings);
  return keys;
}

static void
format_counter_table (GString *out, const char *name, GHashTable *table)
{
  g_autoptr (GPtrArray) keys = sorted_keys (table);

  for (guint i = 0; i < keys->len; i++)
    format_sample (out, name, keys->pdata[i],
                   *(guint64 *) g_hash_table_lookup (table, keys->pdata[i]));
}

/* Per port: what the registry has now, and what was ever counted */
typedef struct
{
  guint services;
  guint queued;
} PortGauges;

static GHashTable *
collect_gauges (SmMetrics *self, SmRegistry *registry)
{
  GHashTable *gauges = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  g_autoptr (GList) ports = registry != NULL ? sm_registry_get_ports (registry) : NULL;
  GHashTableIter iter;
  gpointer       key;

  g_hash_table_iter_init (&iter, self->ports);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_hash_table_insert (gauges, key, g_new0 (PortGauges, 1));

  for (GList *l = ports; l != NULL; l = l->next)
    {
      guint16     number = sm_port_get_number (l->data);
      PortGauges *port = g_hash_table_lookup (gauges, GUINT_TO_POINTER (number));

      if (port == NULL)
        {
          port = g_new0 (PortGauges, 1);
          g_hash_table_insert (gauges, GUINT_TO_POINTER (number), port);
        }
      port->services += sm_port_get_routes (l->data)->len;
      port->queued += sm_port_get_n_queued (l->data);
    }
  return gauges;
}

static int
compare_ports (gconstpointer a, gconstpointer b)
{
  guint x = GPOINTER_TO_UINT (*(gpointer const *) a);
  guint y = GPOINTER_TO_UINT (*(gpointer const *) b);

  return x < y ? -1 : x > y;
}

typedef enum
{
  PORT_CONNECTIONS,
  PORT_ACTIVE,
  PORT_QUEUED,
  PORT_SERVICES,
  PORT_BYTES,
} PortFamily;

static void
format_port_family (SmMetrics  *self,
                    GHashTable *gauges,
                    GPtrArray  *numbers,
                    PortFamily  family,
                    GString    *out)
{
  for (guint i = 0; i < numbers->len; i++)
    {
      guint16          number = (guint16) GPOINTER_TO_UINT (numbers->pdata[i]);
      PortCounts      *counts = g_hash_table_lookup (self->ports, numbers->pdata[i]);
      PortGauges      *port = g_hash_table_lookup (gauges, numbers->pdata[i]);
      const PortCounts none = { 0 };
      g_autoptr (GString) labels = g_string_new (NULL);

      if (counts == NULL)
        counts = (PortCounts *) &none;
      append_port_label (labels, number);
      switch (family)
        {
        case PORT_CONNECTIONS:
          format_sample (out, "socketmaster_connections_total", labels->str, counts->connections);
          break;
        case PORT_ACTIVE:
          format_sample (out, "socketmaster_connections_active", labels->str, counts->active);
          break;
        case PORT_QUEUED:
          format_sample (out, "socketmaster_connections_queued", labels->str, port->queued);
          break;
        case PORT_SERVICES:
          format_sample (out, "socketmaster_services", labels->str, port->services);
          break;
        case PORT_BYTES:
        default:
          g_string_append (labels, ",direction=\"in\"");
          format_sample (out, "socketmaster_bytes_total", labels->str, counts->bytes_in);
          g_string_truncate (labels, labels->len - strlen (",direction=\"in\""));
          g_string_append (labels, ",direction=\"out\"");
          format_sample (out, "socketmaster_bytes_total", labels->str, counts->bytes_out);
          break;
        }
    }
}

void
sm_metrics_format (SmMetrics *self, SmRegistry *registry, GString *out)
{
  g_autoptr (GHashTable) gauges = NULL;
  g_autoptr (GPtrArray) numbers = NULL;
  g_autoptr (GPtrArray) keys = NULL;

  g_return_if_fail (SM_IS_METRICS (self));
  g_return_if_fail (registry == NULL || SM_IS_REGISTRY (registry));

  sm_metrics_format_header (out, "socketmaster_http_requests_total", "counter",
                            "HTTP requests answered, by port, route and status code.");
  format_counter_table (out, "socketmaster_http_requests_total", self->requests);

  sm_metrics_format_header (out, "socketmaster_http_request_duration_seconds", "histogram",
                            "Time from a request's head to the end of its response.");
  keys = sorted_keys (self->durations);
  for (guint i = 0; i < keys->len; i++)
    {
      Histogram *histogram = g_hash_table_lookup (self->durations, keys->pdata[i]);

      sm_metrics_format_histogram (out, "socketmaster_http_request_duration_seconds",
                                   keys->pdata[i], histogram->buckets, histogram->count,
                                   histogram->sum);
    }

  gauges = collect_gauges (self, registry);
  numbers = get_keys (gauges);
  g_ptr_array_sort (numbers, compare_ports);
  sm_metrics_format_header (out, "socketmaster_connections_total", "counter",
                            "Public connections accepted.");
  format_port_family (self, gauges, numbers, PORT_CONNECTIONS, out);
  sm_metrics_format_header (out, "socketmaster_connections_active", "gauge",
                            "Public connections open now.");
  format_port_family (self, gauges, numbers, PORT_ACTIVE, out);
  sm_metrics_format_header (out, "socketmaster_connections_queued", "gauge",
                            "Connections or HTTP requests waiting for a service.");
  format_port_family (self, gauges, numbers, PORT_QUEUED, out);
  sm_metrics_format_header (out, "socketmaster_services", "gauge", "Services registered.");
  format_port_family (self, gauges, numbers, PORT_SERVICES, out);
  sm_metrics_format_header (out, "socketmaster_bytes_total", "counter",
                            "Bytes relayed: in from public clients, out to them.");
  format_port_family (self, gauges, numbers, PORT_BYTES, out);

  sm_metrics_format_header (out, "socketmaster_registrations_total", "counter",
                            "Service registrations: ok, or the refusal's error.");
  format_counter_table (out, "socketmaster_registrations_total", self->registrations);

  sm_metrics_format_header (out, "socketmaster_access_log_dropped_total", "counter",
                            "Access log lines dropped because the writer fell behind.");
  format_sample (out, "socketmaster_access_log_dropped_total", NULL, self->access_log_dropped);
}
