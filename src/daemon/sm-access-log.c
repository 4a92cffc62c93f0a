/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <gio/gunixoutputstream.h>
#include <json-glib/json-glib.h>

#include "sm-access-log.h"
#include "sm-error.h"
#include "sm-metrics.h"

struct _SmAccessLog
{
  GObject           parent_instance;

  char             *path; /* NULL: standard output */
  SmAccessLogFormat format;
  GOutputStream    *output;
  GString          *queue;   /* lines not handed to a write yet */
  GBytes           *writing; /* the lines of the write in flight */
  guint64           dropped;
  guint64           dropped_unreported;
  gboolean          failed; /* the last write failed: said once */
};

G_DEFINE_FINAL_TYPE (SmAccessLog, sm_access_log, G_TYPE_OBJECT)

static SmAccessLog *default_log;

static void
sm_access_log_finalize (GObject *object)
{
  SmAccessLog *self = SM_ACCESS_LOG (object);

  g_clear_object (&self->output);
  g_string_free (self->queue, TRUE);
  g_clear_pointer (&self->writing, g_bytes_unref);
  g_free (self->path);

  G_OBJECT_CLASS (sm_access_log_parent_class)->finalize (object);
}

static void
sm_access_log_class_init (SmAccessLogClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sm_access_log_finalize;
}

static void
sm_access_log_init (SmAccessLog *self)
{
  self->queue = g_string_new (NULL);
}

gboolean
sm_access_log_parse_format (const char *text, SmAccessLogFormat *format, GError **error)
{
  if (g_strcmp0 (text, "json") == 0)
    *format = SM_ACCESS_LOG_JSON;
  else if (g_strcmp0 (text, "combined") == 0)
    *format = SM_ACCESS_LOG_COMBINED;
  else
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                   "unknown access log format “%s” (json or combined)", text);
      return FALSE;
    }
  return TRUE;
}

static GOutputStream *
open_output (const char *path, GError **error)
{
  g_autoptr (GFile) file = NULL;

  if (path == NULL)
    return g_unix_output_stream_new (STDOUT_FILENO, FALSE);

  file = g_file_new_for_path (path);
  return G_OUTPUT_STREAM (g_file_append_to (file, G_FILE_CREATE_NONE, NULL, error));
}

SmAccessLog *
sm_access_log_new (const char *path, SmAccessLogFormat format, GError **error)
{
  g_autoptr (SmAccessLog) self = g_object_new (SM_TYPE_ACCESS_LOG, NULL);

  g_return_val_if_fail (path != NULL, NULL);

  self->path = g_strcmp0 (path, "-") != 0 ? g_strdup (path) : NULL;
  self->format = format;
  self->output = open_output (self->path, error);
  if (self->output == NULL)
    return NULL;
  return g_steal_pointer (&self);
}

gboolean
sm_access_log_reopen (SmAccessLog *self, GError **error)
{
  GOutputStream *output;

  g_return_val_if_fail (SM_IS_ACCESS_LOG (self), FALSE);

  if (self->path == NULL)
    return TRUE;
  output = open_output (self->path, error);
  if (output == NULL)
    return FALSE;

  /* A write in flight holds the old stream; it is closed when done */
  if (self->writing == NULL)
    g_output_stream_close (self->output, NULL, NULL);
  g_set_object (&self->output, output);
  g_object_unref (output);
  self->failed = FALSE;
  return TRUE;
}

static void start_write (SmAccessLog *self);

static void
write_done_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (SmAccessLog) self = user_data;
  GOutputStream *output = G_OUTPUT_STREAM (source_object);
  g_autoptr (GError) error = NULL;

  if (!g_output_stream_write_all_finish (output, result, NULL, &error) && !self->failed)
    {
      g_warning ("Cannot write the access log: %s", error->message);
      self->failed = TRUE;
    }
  g_clear_pointer (&self->writing, g_bytes_unref);
  if (output != self->output)
    g_output_stream_close (output, NULL, NULL);

  if (self->dropped_unreported > 0)
    {
      g_warning ("Access log: dropped %" G_GUINT64_FORMAT " line(s), writing fell behind",
                 self->dropped_unreported);
      self->dropped_unreported = 0;
    }
  start_write (self);
}

static void
start_write (SmAccessLog *self)
{
  gsize len = self->queue->len;

  if (self->writing != NULL || len == 0)
    return;

  self->writing = g_string_free_to_bytes (self->queue);
  self->queue = g_string_sized_new (MIN (len, 4096));
  g_output_stream_write_all_async (self->output, g_bytes_get_data (self->writing, NULL), len,
                                   G_PRIORITY_DEFAULT, NULL, write_done_cb, g_object_ref (self));
}

static void
add_line (SmAccessLog *self, char *line)
{
  gsize len = strlen (line);

  if (self->queue->len + len > SM_ACCESS_LOG_MAX_QUEUED)
    {
      self->dropped++;
      self->dropped_unreported++;
      sm_metrics_count_access_log_drops (sm_metrics_get_default (), 1);
    }
  else
    {
      g_string_append_len (self->queue, line, (gssize) len);
      start_write (self);
    }
  g_free (line);
}

void
sm_access_log_http (SmAccessLog *self, const SmHttpRecord *record)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();

  g_return_if_fail (SM_IS_ACCESS_LOG (self));
  add_line (self, sm_access_log_format_http (self->format, now, record));
}

void
sm_access_log_tcp (SmAccessLog *self, const SmTcpRecord *record)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();

  g_return_if_fail (SM_IS_ACCESS_LOG (self));
  add_line (self, sm_access_log_format_tcp (self->format, now, record));
}

void
sm_access_log_flush (SmAccessLog *self)
{
  g_return_if_fail (SM_IS_ACCESS_LOG (self));

  /* Bounded: a write that never completes must not hold the exit */
  for (guint i = 0; i < 1000 && self->writing != NULL; i++)
    g_main_context_iteration (NULL, TRUE);
  if (self->writing == NULL && self->queue->len > 0)
    {
      g_output_stream_write_all (self->output, self->queue->str, self->queue->len, NULL, NULL,
                                 NULL);
      g_string_truncate (self->queue, 0);
    }
}

guint64
sm_access_log_get_dropped (SmAccessLog *self)
{
  g_return_val_if_fail (SM_IS_ACCESS_LOG (self), 0);
  return self->dropped;
}

SmAccessLog *
sm_access_log_get_default (void)
{
  return default_log;
}

void
sm_access_log_set_default (SmAccessLog *log)
{
  g_return_if_fail (log == NULL || SM_IS_ACCESS_LOG (log));
  g_set_object (&default_log, log);
}

/* Formatting ------------------------------------------------------------ */

static void
add_route (JsonBuilder *builder, SmRoute *route)
{
  const SmSocketDefinition *definition;

  json_builder_set_member_name (builder, "route");
  if (route == NULL)
    {
      json_builder_add_null_value (builder);
      return;
    }
  definition = sm_route_get_definition (route);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "port");
  json_builder_add_int_value (builder, sm_socket_definition_get_port (definition));
  if (sm_socket_definition_has_http (definition))
    {
      json_builder_set_member_name (builder, "domain");
      json_builder_add_string_value (builder, sm_socket_definition_get_domain_suffix (definition));
      json_builder_set_member_name (builder, "prefix");
      json_builder_add_string_value (builder, sm_socket_definition_get_path_prefix (definition));
    }
  if (sm_route_get_name (route) != NULL)
    {
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, sm_route_get_name (route));
    }
  json_builder_end_object (builder);
}

static void
add_string (JsonBuilder *builder, const char *name, const char *value)
{
  json_builder_set_member_name (builder, name);
  if (value != NULL)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

static void
add_common (JsonBuilder *builder,
            const char  *type,
            GDateTime   *time,
            const char  *client,
            guint64      bytes_in,
            guint64      bytes_out,
            gint64       duration_us)
{
  g_autofree char *iso = g_date_time_format_iso8601 (time);

  add_string (builder, "time", iso);
  add_string (builder, "type", type);
  add_string (builder, "client", client);
  json_builder_set_member_name (builder, "bytes_in");
  json_builder_add_int_value (builder, (gint64) MIN (bytes_in, G_MAXINT64));
  json_builder_set_member_name (builder, "bytes_out");
  json_builder_add_int_value (builder, (gint64) MIN (bytes_out, G_MAXINT64));
  json_builder_set_member_name (builder, "duration");
  json_builder_add_double_value (builder, (double) duration_us / G_USEC_PER_SEC);
}

static char *
finish_json (JsonBuilder *builder)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, NULL);
  return g_strconcat (text, "\n", NULL);
}

/* Apache's %t, in English whatever the locale */
static char *
format_clf_time (GDateTime *time)
{
  static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
  g_autofree char         *rest = g_date_time_format (time, "%Y:%H:%M:%S %z");

  return g_strdup_printf ("%02d/%s/%s", g_date_time_get_day_of_month (time),
                          months[g_date_time_get_month (time) - 1], rest);
}

/* A quoted field of the combined format: quotes, backslashes and control
 * characters escaped as nginx does, "-" for none */
static void
append_quoted (GString *out, const char *value)
{
  g_string_append_c (out, '"');
  if (value == NULL || *value == '\0')
    g_string_append_c (out, '-');
  for (const char *p = value; p != NULL && *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (c == '"' || c == '\\' || c < 0x20 || c == 0x7f)
        g_string_append_printf (out, "\\x%02X", c);
      else
        g_string_append_c (out, (char) c);
    }
  g_string_append_c (out, '"');
}

char *
sm_access_log_format_http (SmAccessLogFormat format, GDateTime *time, const SmHttpRecord *record)
{
  g_autoptr (JsonBuilder) builder = NULL;
  g_autoptr (GString) out = NULL;
  g_autofree char *clf_time = NULL;
  g_autofree char *request = NULL;

  if (format == SM_ACCESS_LOG_COMBINED)
    {
      clf_time = format_clf_time (time);
      out = g_string_new (record->client != NULL ? record->client : "-");
      g_string_append_printf (out, " - - [%s] ", clf_time);
      if (record->method != NULL)
        request = g_strdup_printf ("%s %s %s", record->method, record->target,
                                   record->version != NULL ? record->version : "HTTP/1.1");
      append_quoted (out, request);
      g_string_append_printf (out, " %u %" G_GUINT64_FORMAT " ", record->status, record->bytes_out);
      append_quoted (out, record->referer);
      g_string_append_c (out, ' ');
      append_quoted (out, record->user_agent);
      g_string_append_c (out, '\n');
      return g_string_free (g_steal_pointer (&out), FALSE);
    }

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  add_common (builder, "http", time, record->client, record->bytes_in, record->bytes_out,
              record->duration_us);
  json_builder_set_member_name (builder, "port");
  json_builder_add_int_value (builder, record->port);
  add_string (builder, "method", record->method);
  add_string (builder, "host", record->host);
  add_string (builder, "path", record->target);
  json_builder_set_member_name (builder, "status");
  json_builder_add_int_value (builder, record->status);
  add_route (builder, record->route);
  return finish_json (builder);
}

char *
sm_access_log_format_tcp (SmAccessLogFormat format, GDateTime *time, const SmTcpRecord *record)
{
  guint16 port = sm_socket_definition_get_port (sm_route_get_definition (record->route));
  g_autoptr (JsonBuilder) builder = NULL;
  g_autofree char *clf_time = NULL;

  /* A connection has no request line: "TCP PORT" stands for one */
  if (format == SM_ACCESS_LOG_COMBINED)
    {
      g_autoptr (GString) out = g_string_new (NULL);

      clf_time = format_clf_time (time);
      g_string_append_printf (out, "%s - - [%s] \"TCP %u\" %s %" G_GUINT64_FORMAT " \"-\" \"-\"\n",
                              record->client != NULL ? record->client : "-", clf_time, port,
                              record->failed ? "500" : "200", record->bytes_out);
      return g_string_free (g_steal_pointer (&out), FALSE);
    }

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  add_common (builder, "tcp", time, record->client, record->bytes_in, record->bytes_out,
              record->duration_us);
  json_builder_set_member_name (builder, "port");
  json_builder_add_int_value (builder, port);
  json_builder_set_member_name (builder, "aborted");
  json_builder_add_boolean_value (builder, record->failed);
  add_route (builder, record->route);
  return finish_json (builder);
}
