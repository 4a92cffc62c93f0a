/* SPDX-License-Identifier: MIT */
/*
 * --access-log: the line formats in process (JSON, combined), and the
 * daemon end to end: exactly one line per HTTP request with its status
 * and path, one per raw TCP connection, and a new file after SIGHUP.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

#include "sm-access-log.h"
#include "sm-error.h"
#include "sm-test-http-client.h"

#define WAIT_MS 30000

/* ---- In process ---- */

static void
test_parse_format (void)
{
  g_autoptr (GError) error = NULL;
  SmAccessLogFormat format;

  g_assert_true (sm_access_log_parse_format ("json", &format, NULL));
  g_assert_cmpint (format, ==, SM_ACCESS_LOG_JSON);
  g_assert_true (sm_access_log_parse_format ("combined", &format, NULL));
  g_assert_cmpint (format, ==, SM_ACCESS_LOG_COMBINED);
  g_assert_false (sm_access_log_parse_format ("common", &format, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT);
}

static JsonObject *
parse_object (const char *line)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (g_str_has_suffix (line, "\n") || strchr (line, '\n') == NULL);
  json_parser_load_from_data (parser, line, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
test_format (void)
{
  g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr (GDateTime) time = g_date_time_new (utc, 2026, 3, 4, 5, 6, 7);
  SmHttpRecord record = {
    .port = 8000,
    .client = "192.0.2.1",
    .method = "GET",
    .host = "example.com",
    .target = "/a?\"q\"\n",
    .version = "HTTP/1.1",
    .user_agent = "curl/8",
    .status = 404,
    .bytes_in = 12,
    .bytes_out = 34,
    .duration_us = 1500000,
  };
  g_autofree char *json = sm_access_log_format_http (SM_ACCESS_LOG_JSON, time, &record);
  g_autofree char *combined = sm_access_log_format_http (SM_ACCESS_LOG_COMBINED, time, &record);
  g_autoptr (JsonObject) object = NULL;

  /* One line, whatever the request held */
  g_assert_true (g_str_has_suffix (json, "}\n"));
  g_assert_true (strchr (json, '\n') == json + strlen (json) - 1);
  object = parse_object (json);
  g_assert_cmpstr (json_object_get_string_member (object, "time"), ==, "2026-03-04T05:06:07Z");
  g_assert_cmpstr (json_object_get_string_member (object, "type"), ==, "http");
  g_assert_cmpstr (json_object_get_string_member (object, "client"), ==, "192.0.2.1");
  g_assert_cmpstr (json_object_get_string_member (object, "method"), ==, "GET");
  g_assert_cmpstr (json_object_get_string_member (object, "host"), ==, "example.com");
  g_assert_cmpstr (json_object_get_string_member (object, "path"), ==, "/a?\"q\"\n");
  g_assert_cmpint (json_object_get_int_member (object, "status"), ==, 404);
  g_assert_cmpint (json_object_get_int_member (object, "port"), ==, 8000);
  g_assert_cmpint (json_object_get_int_member (object, "bytes_in"), ==, 12);
  g_assert_cmpint (json_object_get_int_member (object, "bytes_out"), ==, 34);
  g_assert_cmpfloat (json_object_get_double_member (object, "duration"), ==, 1.5);
  g_assert_true (json_object_get_null_member (object, "route"));

  g_assert_cmpstr (combined, ==,
                   "192.0.2.1 - - [04/Mar/2026:05:06:07 +0000] \"GET /a?\\x22q\\x22\\x0A HTTP/1.1\" "
                   "404 34 \"-\" \"curl/8\"\n");

  /* A request that never parsed */
  record.method = record.host = record.target = record.version = record.user_agent = NULL;
  record.status = 400;
  g_free (combined);
  combined = sm_access_log_format_http (SM_ACCESS_LOG_COMBINED, time, &record);
  g_assert_cmpstr (combined, ==,
                   "192.0.2.1 - - [04/Mar/2026:05:06:07 +0000] \"-\" 400 34 \"-\" \"-\"\n");
}

/* ---- The daemon ---- */

/* The lines of @path (none if it does not exist) */
static GStrv
read_lines (const char *path)
{
  g_autofree char *text = NULL;
  GStrv            lines;
  guint            n;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_new0 (char *, 1);
  lines = g_strsplit (text, "\n", -1);
  /* The text ends with a newline: drop the empty last piece */
  n = g_strv_length (lines);
  if (n > 0 && lines[n - 1][0] == '\0')
    g_clear_pointer (&lines[n - 1], g_free);
  return lines;
}

/* Polls @path until it has @n lines (the writer is another process:
 * nothing to wait on but the file), then checks it holds no more */
static GStrv
wait_for_lines (const char *path, guint n)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;

  for (;;)
    {
      GStrv lines = read_lines (path);

      if (g_strv_length (lines) >= n || g_get_monotonic_time () > deadline)
        {
          g_assert_cmpuint (g_strv_length (lines), ==, n);
          return lines;
        }
      g_strfreev (lines);
      g_usleep (10 * 1000);
    }
}

static void
http_get (guint16 port, const char *path, guint status)
{
  g_autoptr (SmTestHttpConnection) connection = sm_test_http_connect (port);
  g_autoptr (SmTestHttpReply) reply = sm_test_http_get (connection, "x", path);

  g_assert_cmpuint (reply->status, ==, status);
}

static void
assert_http_line (const char *line, const char *path, gint64 status, const char *prefix)
{
  g_autoptr (JsonObject) object = parse_object (line);

  g_assert_cmpstr (json_object_get_string_member (object, "type"), ==, "http");
  g_assert_cmpstr (json_object_get_string_member (object, "method"), ==, "GET");
  g_assert_cmpstr (json_object_get_string_member (object, "path"), ==, path);
  g_assert_cmpstr (json_object_get_string_member (object, "client"), ==, "127.0.0.1");
  g_assert_cmpint (json_object_get_int_member (object, "status"), ==, status);
  g_assert_cmpint (json_object_get_int_member (object, "bytes_out"), >, 0);
  if (prefix == NULL)
    g_assert_true (json_object_get_null_member (object, "route"));
  else
    {
      JsonObject *route = json_object_get_object_member (object, "route");

      g_assert_cmpstr (json_object_get_string_member (route, "prefix"), ==, prefix);
      g_assert_cmpstr (json_object_get_string_member (route, "domain"), ==, "");
    }
}

static void
test_daemon (void)
{
  g_autofree char *dir = g_dir_make_tmp ("sm-access-log-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "access.log", NULL);
  g_autofree char *rotated = g_build_filename (dir, "access.log.1", NULL);
  const char *const args[] = { "--access-log", path, NULL };
  SmTestDaemon *daemon = sm_test_http_daemon_start (30, FALSE, args);
  guint16       http_port = sm_test_free_port ();
  guint16       tcp_port = sm_test_free_port ();
  SmTestProcess *service = sm_test_http_service_start (daemon, http_port, "", "/a", "a");
  SmTestProcess *echo = NULL;
  g_auto (GStrv) lines = NULL;

  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *target = g_strdup_printf ("/a/%u?q=%u", i, i);

      http_get (http_port, target, 200);
    }
  http_get (http_port, "/elsewhere", 404);
  lines = wait_for_lines (path, 6);
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *target = g_strdup_printf ("/a/%u?q=%u", i, i);

      assert_http_line (lines[i], target, 200, "/a");
    }
  assert_http_line (lines[5], "/elsewhere", 404, NULL);
  g_clear_pointer (&lines, g_strfreev);

  /* Raw TCP: a line per closed connection */
  echo = sm_test_tcp_echo_start (daemon->control_address, tcp_port, "tcp-echo");
  sm_test_echo_many (tcp_port, 2, 1000, WAIT_MS);
  lines = wait_for_lines (path, 8);
  for (guint i = 6; i < 8; i++)
    {
      g_autoptr (JsonObject) object = parse_object (lines[i]);

      g_assert_cmpstr (json_object_get_string_member (object, "type"), ==, "tcp");
      g_assert_cmpint (json_object_get_int_member (object, "port"), ==, tcp_port);
      g_assert_cmpint (json_object_get_int_member (object, "bytes_in"), ==, 1000);
      g_assert_cmpint (json_object_get_int_member (object, "bytes_out"), >=, 1000);
      g_assert_true (g_str_has_prefix (json_object_get_string_member (object, "client"),
                                       "127.0.0.1:"));
    }
  g_clear_pointer (&lines, g_strfreev);

  /* logrotate: moved away, then SIGHUP; the next line goes to a new file */
  g_assert_cmpint (g_rename (path, rotated), ==, 0);
  sm_test_process_send_signal (daemon->process, SIGHUP);
  sm_test_daemon_wait_for_line (daemon, "access log reopened", WAIT_MS);
  http_get (http_port, "/a/after", 200);
  lines = wait_for_lines (path, 1);
  assert_http_line (lines[0], "/a/after", 200, "/a");
  g_clear_pointer (&lines, g_strfreev);
  lines = wait_for_lines (rotated, 8);

  sm_test_process_terminate (echo, FALSE);
  sm_test_process_free (echo);
  sm_test_http_service_stop (service);
  sm_test_daemon_stop (daemon);
  g_unlink (path);
  g_unlink (rotated);
  g_rmdir (dir);
}

/* The combined format from the daemon, to standard output with "-" */
static void
test_daemon_combined_stdout (void)
{
  const char *const args[] = { "--access-log", "-", "--access-log-format", "combined", NULL };
  SmTestDaemon *daemon = sm_test_http_daemon_start (30, FALSE, args);
  guint16       port = sm_test_free_port ();
  SmTestProcess *service = sm_test_http_service_start (daemon, port, "", "/a", "a");

  http_get (port, "/a/combined", 200);
  sm_test_daemon_wait_for_line (daemon, "127.0.0.1 - - [*] \"GET /a/combined HTTP/1.1\" 200 *",
                                WAIT_MS);
  sm_test_http_service_stop (service);
  sm_test_daemon_stop (daemon);
}

/* G_MESSAGES_DEBUG picks one area's debug output: HTTP, not yamux frames
 * nor the rest */
static void
test_debug_domains (void)
{
  const char *const args[] = { "--no-bus", NULL };
  const char *const env[] = { "G_MESSAGES_DEBUG=socketmaster-http", NULL };
  SmTestDaemon *daemon = sm_test_daemon_start_full (30, args, env);
  guint16       port = sm_test_free_port ();
  SmTestProcess *service = sm_test_http_service_start (daemon, port, "", "/a", "a");

  http_get (port, "/a/traced", 200);
  sm_test_daemon_wait_for_line (daemon, "socketmaster-http-DEBUG", WAIT_MS);
  sm_test_http_service_stop (service);
  g_assert_cmpuint (sm_test_process_count_lines (daemon->process, "socketmaster-yamux-DEBUG"), ==, 0);
  g_assert_cmpuint (sm_test_process_count_lines (daemon->process, "socketmaster-DEBUG"), ==, 0);
  g_assert_cmpuint (sm_test_process_count_lines (daemon->process, "socketmaster-control-DEBUG"), ==,
                    0);
  sm_test_daemon_stop (daemon);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/access-log/parse-format", test_parse_format);
  g_test_add_func ("/access-log/format", test_format);
  g_test_add_func ("/access-log/daemon", test_daemon);
  g_test_add_func ("/access-log/daemon-combined-stdout", test_daemon_combined_stdout);
  g_test_add_func ("/access-log/debug-domains", test_debug_domains);

  return g_test_run ();
}
