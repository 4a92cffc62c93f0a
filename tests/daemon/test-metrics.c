/* SPDX-License-Identifier: MIT */
/*
 * --metrics: the registry's formatting (label escaping, histograms, every
 * family with # HELP and # TYPE) in process, and the daemon end to end:
 * requests through an HTTP port counted by route and code, scraped over
 * HTTP, and the output checked by a parser of the Prometheus text format.
 */
#include "config.h"

#include <string.h>

#include "sm-metrics-server.h"
#include "sm-metrics.h"
#include "sm-test-http-client.h"

#define WAIT_MS 30000

/* ---- A parser of the text format (version 0.0.4) ---- */

typedef struct
{
  char       *name;
  GHashTable *labels;
  double      value;
} Sample;

static void
sample_free (Sample *sample)
{
  g_free (sample->name);
  g_hash_table_unref (sample->labels);
  g_free (sample);
}

static gboolean
is_name_char (char c, gboolean first)
{
  return g_ascii_isalpha (c) || c == '_' || c == ':' || (!first && g_ascii_isdigit (c));
}

/* A metric or label name at *p; NULL if none */
static char *
parse_name (const char **p)
{
  const char *start = *p;

  if (!is_name_char (**p, TRUE))
    return NULL;
  while (is_name_char (**p, FALSE))
    (*p)++;
  return g_strndup (start, (gsize) (*p - start));
}

static gboolean
parse_labels (const char **p, GHashTable *labels)
{
  (*p)++; /* { */
  while (**p != '}')
    {
      g_autofree char *name = parse_name (p);
      GString         *value;

      if (name == NULL || *(*p)++ != '=' || *(*p)++ != '"')
        return FALSE;
      value = g_string_new (NULL);
      for (; **p != '"'; (*p)++)
        {
          if (**p == '\0' || **p == '\n')
            {
              g_string_free (value, TRUE);
              return FALSE;
            }
          if (**p == '\\')
            {
              (*p)++;
              if (**p == 'n')
                g_string_append_c (value, '\n');
              else if (**p == '\\' || **p == '"')
                g_string_append_c (value, **p);
              else
                {
                  g_string_free (value, TRUE);
                  return FALSE;
                }
            }
          else
            g_string_append_c (value, **p);
        }
      (*p)++;
      if (g_hash_table_contains (labels, name))
        {
          g_string_free (value, TRUE);
          return FALSE;
        }
      g_hash_table_insert (labels, g_steal_pointer (&name), g_string_free (value, FALSE));
      if (**p == ',')
        (*p)++;
      else if (**p != '}')
        return FALSE;
    }
  (*p)++;
  return TRUE;
}

static const char *
family_of (const char *name, GHashTable *types)
{
  static const char *const suffixes[] = { "_bucket", "_sum", "_count" };

  if (g_hash_table_contains (types, name))
    return name;
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    if (g_str_has_suffix (name, suffixes[i]))
      {
        g_autofree char *base = g_strndup (name, strlen (name) - strlen (suffixes[i]));
        const char *type = g_hash_table_lookup (types, base);

        if (g_strcmp0 (type, "histogram") == 0)
          {
            gpointer key = NULL;

            g_hash_table_lookup_extended (types, base, &key, NULL);
            return key;
          }
      }
  return NULL;
}

/* The samples of @text (element-type Sample), or fails the test: every
 * line a comment or a sample, every sample of a family with # TYPE and
 * # HELP seen before it, families contiguous, values numbers */
static GPtrArray *
parse_exposition (const char *text)
{
  g_autoptr (GPtrArray) samples = g_ptr_array_new_with_free_func ((GDestroyNotify) sample_free);
  g_autoptr (GHashTable) types = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GHashTable) helps = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) finished = g_hash_table_new (g_str_hash, g_str_equal);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  const char *current = NULL;
  guint       n = g_strv_length (lines);

  g_assert_true (g_str_has_suffix (text, "\n"));
  for (guint i = 0; i + 1 < n; i++)
    {
      const char *p = lines[i];
      g_autofree char *name = NULL;
      Sample          *sample;
      char            *end;

      if (g_str_has_prefix (p, "# HELP ") || g_str_has_prefix (p, "# TYPE "))
        {
          gboolean is_type = p[2] == 'T';

          p += 7;
          name = parse_name (&p);
          g_assert_nonnull (name);
          g_assert_cmpint (*p, ==, ' ');
          p++;
          if (is_type)
            {
              g_assert_true (g_strv_contains (
                  (const char *const[]){ "counter", "gauge", "histogram", "summary", "untyped", NULL },
                  p));
              g_assert_false (g_hash_table_contains (types, name));
              g_hash_table_insert (types, g_strdup (name), g_strdup (p));
            }
          else
            {
              g_assert_false (g_hash_table_contains (helps, name));
              g_hash_table_add (helps, g_strdup (name));
            }
          continue;
        }
      g_assert_cmpint (*p, !=, '#');
      g_assert_cmpint (*p, !=, '\0');

      sample = g_new0 (Sample, 1);
      sample->labels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_ptr_array_add (samples, sample);
      sample->name = parse_name (&p);
      g_assert_nonnull (sample->name);
      if (*p == '{')
        g_assert_true (parse_labels (&p, sample->labels));
      g_assert_cmpint (*p, ==, ' ');
      p++;
      if (g_str_equal (p, "+Inf") || g_str_equal (p, "-Inf") || g_str_equal (p, "NaN"))
        continue;
      sample->value = g_ascii_strtod (p, &end);
      g_assert_true (end != p && (*end == '\0' || *end == ' '));

      {
        const char *family = family_of (sample->name, types);

        g_assert_nonnull (family);
        g_assert_true (g_hash_table_contains (helps, family));
        if (g_strcmp0 (family, current) != 0)
          {
            g_assert_false (g_hash_table_contains (finished, family));
            if (current != NULL)
              g_hash_table_add (finished, (gpointer) current);
            current = family;
          }
      }
    }
  return g_steal_pointer (&samples);
}

/* The value of the one sample named @name with these labels ("k", "v", …,
 * NULL); -1 if none */
static double
find_sample (GPtrArray *samples, const char *name, ...)
{
  for (guint i = 0; i < samples->len; i++)
    {
      Sample     *sample = samples->pdata[i];
      gboolean    match = g_str_equal (sample->name, name);
      const char *key;
      va_list     args;

      va_start (args, name);
      while (match && (key = va_arg (args, const char *)) != NULL)
        match = g_strcmp0 (g_hash_table_lookup (sample->labels, key), va_arg (args, const char *)) == 0;
      va_end (args);
      if (match)
        return sample->value;
    }
  return -1;
}

/* ---- In process ---- */

static void
test_escape (void)
{
  g_autoptr (GString) out = g_string_new (NULL);

  sm_metrics_escape_label_value (out, "a\\b\"c\nd/é");
  g_assert_cmpstr (out->str, ==, "a\\\\b\\\"c\\nd/é");
}

static void
test_histogram (void)
{
  g_autoptr (GString) out = g_string_new (NULL);
  guint64 buckets[SM_METRICS_N_BUCKETS] = { 1, 0, 2 };

  sm_metrics_format_header (out, "x_seconds", "histogram", "Help.");
  sm_metrics_format_histogram (out, "x_seconds", "a=\"1\"", buckets, 4, 1.5);
  g_assert_nonnull (strstr (out->str, "# HELP x_seconds Help.\n# TYPE x_seconds histogram\n"));
  g_assert_nonnull (strstr (out->str, "x_seconds_bucket{a=\"1\",le=\"0.005\"} 1\n"));
  g_assert_nonnull (strstr (out->str, "x_seconds_bucket{a=\"1\",le=\"0.01\"} 1\n"));
  g_assert_nonnull (strstr (out->str, "x_seconds_bucket{a=\"1\",le=\"0.025\"} 3\n"));
  g_assert_nonnull (strstr (out->str, "x_seconds_bucket{a=\"1\",le=\"10\"} 3\n"));
  g_assert_nonnull (strstr (out->str, "x_seconds_bucket{a=\"1\",le=\"+Inf\"} 4\n"));
  g_assert_nonnull (strstr (out->str, "x_seconds_sum{a=\"1\"} 1.5\n"));
  g_assert_nonnull (strstr (out->str, "x_seconds_count{a=\"1\"} 4\n"));
  g_ptr_array_unref (parse_exposition (out->str));
}

static void
test_format (void)
{
  g_autoptr (SmMetrics) metrics = sm_metrics_new ();
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GPtrArray) samples = NULL;
  g_autoptr (GObject) connection = g_object_new (G_TYPE_OBJECT, NULL);
  const char *const families[] = {
    "socketmaster_http_requests_total",   "socketmaster_http_request_duration_seconds",
    "socketmaster_connections_total",     "socketmaster_connections_active",
    "socketmaster_connections_queued",    "socketmaster_services",
    "socketmaster_bytes_total",           "socketmaster_registrations_total",
    "socketmaster_access_log_dropped_total",
  };

  for (guint i = 0; i < 3; i++)
    sm_metrics_count_http (metrics, 8000, NULL, 404, 20000);
  sm_metrics_count_bytes (metrics, 8000, 10, 20);
  sm_metrics_count_connection (metrics, 8000, connection);
  sm_metrics_count_registration (metrics, "ok");
  sm_metrics_count_registration (metrics, "route-\"owned\"");
  sm_metrics_format (metrics, NULL, out);

  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      g_autofree char *help = g_strdup_printf ("# HELP %s ", families[i]);
      g_autofree char *type = g_strdup_printf ("# TYPE %s ", families[i]);

      g_assert_nonnull (strstr (out->str, help));
      g_assert_nonnull (strstr (out->str, type));
    }
  samples = parse_exposition (out->str);
  g_assert_cmpfloat (find_sample (samples, "socketmaster_http_requests_total", "port", "8000",
                                  "domain", "", "path", "", "code", "404", NULL),
                     ==, 3);
  g_assert_cmpfloat (find_sample (samples, "socketmaster_http_request_duration_seconds_bucket",
                                  "port", "8000", "le", "0.025", NULL),
                     ==, 3);
  g_assert_cmpfloat (find_sample (samples, "socketmaster_http_request_duration_seconds_bucket",
                                  "port", "8000", "le", "0.01", NULL),
                     ==, 0);
  g_assert_cmpfloat (find_sample (samples, "socketmaster_bytes_total", "port", "8000", "direction",
                                  "out", NULL),
                     ==, 20);
  g_assert_cmpfloat (find_sample (samples, "socketmaster_connections_total", "port", "8000", NULL),
                     ==, 1);
  g_assert_cmpfloat (find_sample (samples, "socketmaster_connections_active", "port", "8000", NULL),
                     ==, 1);
  g_assert_cmpfloat (
      find_sample (samples, "socketmaster_registrations_total", "result", "route-\"owned\"", NULL),
      ==, 1);

  /* A connection stops being active when it goes */
  g_clear_object (&connection);
  g_string_truncate (out, 0);
  sm_metrics_format (metrics, NULL, out);
  g_clear_pointer (&samples, g_ptr_array_unref);
  samples = parse_exposition (out->str);
  g_assert_cmpfloat (find_sample (samples, "socketmaster_connections_active", "port", "8000", NULL),
                     ==, 0);
}

/* ---- The daemon ---- */

/* The port of "Serving metrics on http://127.0.0.1:PORT/metrics" */
static guint16
metrics_port (SmTestDaemon *daemon)
{
  const char *line = sm_test_daemon_wait_for_line (daemon, "Serving metrics on http://", WAIT_MS);
  const char *start = strstr (line, "http://127.0.0.1:");
  guint64     port = 0;

  g_assert_nonnull (start);
  start += strlen ("http://127.0.0.1:");
  port = g_ascii_strtoull (start, NULL, 10);
  g_assert_cmpuint (port, >, 0);
  return (guint16) port;
}

static SmTestHttpReply *
request (guint16 port, const char *text)
{
  g_autoptr (SmTestHttpConnection) connection = sm_test_http_connect (port);
  g_autoptr (GError) error = NULL;
  const char *method = g_str_has_prefix (text, "HEAD") ? "HEAD" : "GET";
  SmTestHttpReply *reply;

  sm_test_http_send (connection, text);
  reply = sm_test_http_receive (connection, method, &error);
  g_assert_no_error (error);
  return reply;
}

static void
test_daemon (void)
{
  const char *const args[] = { "--metrics", "127.0.0.1:0", NULL };
  SmTestDaemon *daemon = sm_test_http_daemon_start (30, FALSE, args);
  guint16       port = sm_test_free_port ();
  guint16       scrape_port = metrics_port (daemon);
  g_autofree char *port_text = g_strdup_printf ("%u", port);
  g_autoptr (SmTestHttpConnection) connection = NULL;
  g_autoptr (SmTestHttpReply) reply = NULL;
  g_autoptr (GPtrArray) samples = NULL;
  SmTestProcess *service = sm_test_http_service_start (daemon, port, "", "/a", "a");

  connection = sm_test_http_connect (port);
  for (guint i = 0; i < 20; i++)
    {
      g_autoptr (SmTestHttpReply) answer = sm_test_http_get (connection, "x", "/a");

      g_assert_cmpuint (answer->status, ==, 200);
    }
  reply = sm_test_http_get (connection, "x", "/unmatched/secret");
  g_assert_cmpuint (reply->status, ==, 404);
  g_clear_pointer (&reply, sm_test_http_reply_free);

  reply = request (scrape_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_true (g_str_has_prefix (soup_message_headers_get_one (reply->headers, "Content-Type"),
                                   "text/plain; version=0.0.4"));
  samples = parse_exposition (sm_test_http_reply_text (reply));
  g_assert_cmpfloat (find_sample (samples, "socketmaster_http_requests_total", "port", port_text,
                                  "domain", "", "path", "/a", "code", "200", NULL),
                     ==, 20);
  g_assert_cmpfloat (find_sample (samples, "socketmaster_http_requests_total", "port", port_text,
                                  "domain", "", "path", "", "code", "404", NULL),
                     ==, 1);
  /* Never the raw path of an unmatched request */
  g_assert_null (strstr (sm_test_http_reply_text (reply), "secret"));
  g_assert_cmpfloat (find_sample (samples, "socketmaster_http_request_duration_seconds_count",
                                  "port", port_text, "path", "/a", NULL),
                     ==, 20);
  g_assert_cmpfloat (find_sample (samples, "socketmaster_services", "port", port_text, NULL), ==, 1);
  g_assert_cmpfloat (find_sample (samples, "socketmaster_connections_total", "port", port_text, NULL),
                     ==, 1);
  g_assert_cmpfloat (find_sample (samples, "socketmaster_registrations_total", "result", "ok", NULL),
                     ==, 1);
  g_assert_cmpfloat (find_sample (samples, "socketmaster_bytes_total", "port", port_text,
                                  "direction", "out", NULL),
                     >, 0);
  g_clear_pointer (&reply, sm_test_http_reply_free);

  /* Nothing but GET or HEAD /metrics */
  reply = request (scrape_port, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (reply->status, ==, 404);
  g_clear_pointer (&reply, sm_test_http_reply_free);
  reply = request (scrape_port, "DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (reply->status, ==, 405);
  g_clear_pointer (&reply, sm_test_http_reply_free);
  reply = request (scrape_port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (reply->status, ==, 200);
  g_clear_pointer (&reply, sm_test_http_reply_free);

  g_clear_pointer (&connection, sm_test_http_connection_free);
  sm_test_http_service_stop (service);
  sm_test_daemon_stop (daemon);
}

/* A head over the limit gets 431 (sent one byte past it and no more, so
 * the daemon reads all of it and closes cleanly) */
static void
test_daemon_large_request (void)
{
  const char *const args[] = { "--metrics", "127.0.0.1:0", NULL };
  SmTestDaemon *daemon = sm_test_http_daemon_start (30, FALSE, args);
  guint16       scrape_port = metrics_port (daemon);
  g_autoptr (GString) text = g_string_new ("GET /metrics HTTP/1.1\r\nX-Padding: ");
  g_autoptr (SmTestHttpReply) reply = NULL;

  while (text->len < SM_METRICS_SERVER_MAX_REQUEST + 1)
    g_string_append_c (text, 'a');
  reply = request (scrape_port, text->str);
  g_assert_cmpuint (reply->status, ==, 431);
  sm_test_daemon_stop (daemon);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/metrics/escape", test_escape);
  g_test_add_func ("/metrics/histogram", test_histogram);
  g_test_add_func ("/metrics/format", test_format);
  g_test_add_func ("/metrics/daemon", test_daemon);
  g_test_add_func ("/metrics/daemon-large-request", test_daemon_large_request);

  return g_test_run ();
}
