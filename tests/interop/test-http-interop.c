/* SPDX-License-Identifier: MIT */
/*
 * HTTP routing end to end: real curl processes talk to the daemon's public
 * port; behind it, Go services written like users of the original Go
 * socketmaster (net/http serving a hashicorp/yamux session) and the C
 * example http-hello (libsoup's SoupServer on the client library).
 *
 * The Go service answers with its text and echoes in headers what reached
 * it (X-Seen-Host, X-Seen-Path, X-Seen-Forwarded-For, X-Seen-Body-Bytes),
 * and reports how many requests and streams it saw when it stops.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include <glib/gstdio.h>

#include "sm-interop-util.h"
#include "sm-test-util.h"

#define WAIT_MS 30000

/* ---- curl ---- */

typedef struct {
  gboolean  done;
  char     *out;
  char     *err;
  GError   *error;
} CurlRun;

static void
on_curl_done (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  CurlRun *run = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (object), result,
                                        &run->out, &run->err, &run->error);
  run->done = TRUE;
}

static gboolean
curl_done (gpointer data)
{
  return ((CurlRun *) data)->done;
}

/* Runs curl with @args after our common options; returns its stdout.
 * Fails the test unless curl exits with status 0. */
static char *
run_curl (const char * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) curl = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *command = NULL;
  g_autofree char *curl_path = g_find_program_in_path ("curl");
  CurlRun run = { 0 };

  if (curl_path == NULL)
    sm_test_fail ("curl is not installed (it is in build-aux/dev's test packages)");

  g_ptr_array_add (argv, curl_path);
  g_ptr_array_add (argv, (gpointer) "--silent");
  g_ptr_array_add (argv, (gpointer) "--show-error");
  g_ptr_array_add (argv, (gpointer) "--noproxy");
  g_ptr_array_add (argv, (gpointer) "*");
  g_ptr_array_add (argv, (gpointer) "--max-time");
  g_ptr_array_add (argv, (gpointer) "60");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  command = g_strjoinv (" ", (char **) argv->pdata);
  g_test_message ("running %s", command);

  curl = g_subprocess_newv ((const char * const *) argv->pdata,
                            G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                            &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (curl, NULL, NULL, on_curl_done, &run);
  if (!sm_test_wait_until (curl_done, &run, 2 * WAIT_MS))
    {
      g_subprocess_force_exit (curl);
      sm_test_wait_until (curl_done, &run, WAIT_MS);
      sm_test_fail ("curl did not finish: %s", command);
    }
  g_assert_no_error (run.error);
  if (!g_subprocess_get_if_exited (curl) || g_subprocess_get_exit_status (curl) != 0)
    sm_test_fail ("%s failed (status %d): %s", command,
                  g_subprocess_get_status (curl), run.err);
  g_free (run.err);
  return run.out;
}

typedef struct {
  guint  status;
  char  *head;   /* status line and fields */
  char  *body;
} Response;

static void
response_free (Response *response)
{
  g_free (response->head);
  g_free (response->body);
  g_free (response);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Response, response_free)

/* The value of field @name in @response (a new string), or NULL */
static char *
response_field (Response   *response,
                const char *name)
{
  g_auto(GStrv) lines = g_strsplit (response->head, "\r\n", -1);
  gsize name_len = strlen (name);

  for (guint i = 1; lines[i] != NULL; i++)
    if (g_ascii_strncasecmp (lines[i], name, name_len) == 0 && lines[i][name_len] == ':')
      return g_strstrip (g_strdup (lines[i] + name_len + 1));
  return NULL;
}

static void
assert_field (Response   *response,
              const char *name,
              const char *expected)
{
  g_autofree char *value = response_field (response, name);

  if (g_strcmp0 (value, expected) != 0)
    sm_test_fail ("%s is \"%s\", expected \"%s\"; response head:\n%s",
                  name, value != NULL ? value : "(none)", expected, response->head);
}

/* One request on a new connection: curl --include, optional extra
 * arguments (NULL-terminated) before the URL */
static Response *
http_request (guint16     port,
              const char *host,
              const char *path,
              ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *output = NULL;
  Response *response = g_new0 (Response, 1);
  const char *start;
  const char *head_end;
  const char *arg;
  va_list extra;

  g_ptr_array_add (args, g_strdup ("--include"));
  if (host != NULL)
    {
      g_ptr_array_add (args, g_strdup ("--header"));
      g_ptr_array_add (args, g_strdup_printf ("Host: %s", host));
    }
  va_start (extra, path);
  while ((arg = va_arg (extra, const char *)) != NULL)
    g_ptr_array_add (args, g_strdup (arg));
  va_end (extra);
  g_ptr_array_add (args, g_strdup_printf ("http://127.0.0.1:%u%s", port, path));
  g_ptr_array_add (args, NULL);

  output = run_curl ((const char * const *) args->pdata);
  start = output;
  do
    {
      head_end = strstr (start, "\r\n\r\n");
      if (head_end == NULL || !g_str_has_prefix (start, "HTTP/1.1 "))
        sm_test_fail ("no HTTP/1.1 response from port %u for %s: \"%s\"", port, path, output);
      response->status = (guint) g_ascii_strtoull (start + strlen ("HTTP/1.1 "), NULL, 10);
      /* --include shows interim responses (100 Continue) too: skip them */
      if (response->status >= 200)
        break;
      start = head_end + 4;
    }
  while (TRUE);
  response->head = g_strndup (start, head_end - start);
  response->body = g_strdup (head_end + 4);
  return response;
}

/* ---- Services ---- */

static SmTestProcess *
start_go_http (SmTestDaemon *daemon,
               guint16       port,
               const char   *domain,
               const char   *prefix,
               const char   *text)
{
  g_autofree char *port_arg = g_strdup_printf ("%u", port);
  g_autofree char *ready = g_strdup_printf ("go-http: serving %s%s on port %u", domain, prefix, port);
  g_autofree char *name = g_strdup_printf ("go-http %s", text);
  const char *argv[] = {
    SM_TEST_GO_HTTP_SERVICE, "-control", daemon->control_address, "-port", port_arg,
    "-domain", domain, "-prefix", prefix, "-text", text, NULL
  };
  SmTestProcess *service = sm_test_process_spawn (name, argv);

  sm_test_process_wait_for_line (service, ready, WAIT_MS);
  return service;
}

/* Stops a Go service; returns what it counted */
static void
stop_go_http (SmTestProcess *service,
              guint64       *out_requests,
              guint64       *out_streams)
{
  const char *stats;

  sm_test_process_terminate (service, FALSE);
  stats = sm_test_process_wait_for_line (service, "go-http: stats ", WAIT_MS);
  if (out_requests != NULL)
    *out_requests = stat_value (stats, "requests");
  if (out_streams != NULL)
    *out_streams = stat_value (stats, "streams");
  sm_test_process_free (service);
}

/* ---- Tests ---- */

typedef struct {
  const char *host;
  const char *path;
  const char *service;   /* NULL: no service matches, 404 */
} RoutingCase;

static void
test_routing (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestProcess *services[] = {
    start_go_http (daemon, port, "", "/a/", "A"),
    start_go_http (daemon, port, "", "/a/b/", "AB"),
    start_go_http (daemon, port, "api.example.com", "", "API"),
    start_go_http (daemon, port, "www.example.com", "", "WWW"),
  };
  const RoutingCase cases[] = {
    { "localhost", "/a/x", "A" },
    { "localhost", "/a/b/x", "AB" },
    /* Prefixes match as strings: "/a/b/" is no prefix of "/a/bc" */
    { "localhost", "/a/bc", "A" },
    { "localhost", "/a/b/", "AB" },
    { "example.com", "/a/b/c", "AB" },
    /* A longer domain suffix beats a longer path prefix */
    { "api.example.com", "/a/b/x", "API" },
    { "api.example.com", "/", "API" },
    { "www.example.com", "/a/x", "WWW" },
    /* The port in Host does not take part in matching */
    { "www.example.com:8080", "/anything", "WWW" },
    { "localhost", "/z", NULL },
    { "localhost", "/a", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(Response) response = http_request (port, cases[i].host, cases[i].path, NULL);
      g_autofree char *body = NULL;

      g_test_message ("Host: %s, path %s -> %u", cases[i].host, cases[i].path, response->status);
      if (cases[i].service == NULL)
        {
          g_assert_cmpuint (response->status, ==, 404);
          continue;
        }
      g_assert_cmpuint (response->status, ==, 200);
      body = g_strdup_printf ("%s\n", cases[i].service);
      g_assert_cmpstr (response->body, ==, body);
      assert_field (response, "X-Service", cases[i].service);
      assert_field (response, "X-Seen-Host", cases[i].host);
      assert_field (response, "X-Seen-Path", cases[i].path);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (services); i++)
    stop_go_http (services[i], NULL, NULL);
  sm_test_daemon_stop (daemon);
}

static void
test_forwarding_headers (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestProcess *service = start_go_http (daemon, port, "", "/", "F");
  g_autoptr(Response) direct = NULL;
  g_autoptr(Response) chained = NULL;
  guint64 requests;

  /* The daemon tells the service who the client is */
  direct = http_request (port, "forward.test", "/who", NULL);
  g_assert_cmpuint (direct->status, ==, 200);
  assert_field (direct, "X-Seen-Forwarded-For", "127.0.0.1");
  assert_field (direct, "X-Seen-Forwarded-Proto", "http");

  /* Behind another proxy: the client is appended to the chain */
  chained = http_request (port, "forward.test", "/who",
                          "--header", "X-Forwarded-For: 203.0.113.7", NULL);
  g_assert_cmpuint (chained->status, ==, 200);
  assert_field (chained, "X-Seen-Forwarded-For", "203.0.113.7, 127.0.0.1");

  stop_go_http (service, &requests, NULL);
  g_assert_cmpuint (requests, ==, 2);
  sm_test_daemon_stop (daemon);
}

static void
test_round_robin (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestProcess *first = start_go_http (daemon, port, "", "/rr/", "R1");
  SmTestProcess *second = start_go_http (daemon, port, "", "/rr/", "R2");
  guint answered_by_first = 0, answered_by_second = 0;
  guint64 requests_first, requests_second;

  /* Identical definitions take turns, request by request */
  for (guint i = 0; i < 6; i++)
    {
      g_autoptr(Response) response = http_request (port, "localhost", "/rr/x", NULL);
      g_autofree char *service = NULL;

      g_assert_cmpuint (response->status, ==, 200);
      service = response_field (response, "X-Service");
      if (g_strcmp0 (service, "R1") == 0)
        answered_by_first++;
      else if (g_strcmp0 (service, "R2") == 0)
        answered_by_second++;
      else
        sm_test_fail ("unexpected X-Service %s", service);
    }
  g_assert_cmpuint (answered_by_first, ==, 3);
  g_assert_cmpuint (answered_by_second, ==, 3);

  stop_go_http (first, &requests_first, NULL);
  stop_go_http (second, &requests_second, NULL);
  g_assert_cmpuint (requests_first, ==, 3);
  g_assert_cmpuint (requests_second, ==, 3);
  sm_test_daemon_stop (daemon);
}

static void
test_keep_alive (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestProcess *a = start_go_http (daemon, port, "", "/a/", "A");
  SmTestProcess *ab = start_go_http (daemon, port, "", "/a/b/", "AB");
  g_autofree char *base = g_strdup_printf ("http://127.0.0.1:%u", port);
  g_autofree char *url1 = g_strconcat (base, "/a/1", NULL);
  g_autofree char *url2 = g_strconcat (base, "/a/b/2", NULL);
  g_autofree char *url3 = g_strconcat (base, "/a/3", NULL);
  g_autofree char *url4 = g_strconcat (base, "/a/b/4", NULL);
  /* One curl, four URLs: curl keeps its one connection; each request
   * must still be routed on its own */
  const char *args[] = {
    "--write-out", "|%{http_code}|%{num_connects}\n", url1, url2, url3, url4, NULL
  };
  g_autofree char *output = run_curl (args);
  guint64 requests, streams;

  g_assert_cmpstr (output, ==,
                   "A\n|200|1\n"
                   "AB\n|200|0\n"
                   "A\n|200|0\n"
                   "AB\n|200|0\n");

  /* The daemon kept one stream to each service for that connection */
  stop_go_http (a, &requests, &streams);
  g_assert_cmpuint (requests, ==, 2);
  g_assert_cmpuint (streams, ==, 1);
  stop_go_http (ab, &requests, &streams);
  g_assert_cmpuint (requests, ==, 2);
  g_assert_cmpuint (streams, ==, 1);
  sm_test_daemon_stop (daemon);
}

static void
test_request_bodies (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestProcess *service = start_go_http (daemon, port, "", "/upload", "U");
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-http-interop-XXXXXX", &error);
  g_autofree char *file = NULL;
  g_autofree char *data_arg = NULL;
  g_autofree guint8 *data = NULL;
  gsize size = 3 * 1024 * 1024 + 17;
  g_autoptr(Response) with_length = NULL;
  g_autoptr(Response) chunked = NULL;
  g_autofree char *expected_bytes = g_strdup_printf ("%" G_GSIZE_FORMAT, size);

  g_assert_no_error (error);
  file = g_build_filename (dir, "body", NULL);
  data = g_malloc (size);
  sm_test_fill_pattern (data, size, 0, 7);
  g_file_set_contents (file, (const char *) data, size, &error);
  g_assert_no_error (error);
  data_arg = g_strconcat ("@", file, NULL);

  /* Larger than a yamux stream window (256 KiB): flow control is used */
  with_length = http_request (port, "localhost", "/upload/length",
                              "--data-binary", data_arg, NULL);
  g_assert_cmpuint (with_length->status, ==, 200);
  assert_field (with_length, "X-Seen-Body-Bytes", expected_bytes);

  chunked = http_request (port, "localhost", "/upload/chunked",
                          "--header", "Transfer-Encoding: chunked",
                          "--data-binary", data_arg, NULL);
  g_assert_cmpuint (chunked->status, ==, 200);
  assert_field (chunked, "X-Seen-Body-Bytes", expected_bytes);

  g_unlink (file);
  g_rmdir (dir);
  stop_go_http (service, NULL, NULL);
  sm_test_daemon_stop (daemon);
}

/* The README's quick start with the C example built on libsoup */
static SmTestProcess *
start_http_hello (SmTestDaemon *daemon,
                  guint16       port,
                  const char   *prefix,
                  const char   *text)
{
  g_autofree char *port_arg = g_strdup_printf ("%u", port);
  g_autofree char *ready = g_strdup_printf ("http-hello: serving %s on port %u", prefix, port);
  const char *argv[] = {
    SM_TEST_HTTP_HELLO, "--control", daemon->control_address, "--address", "127.0.0.1",
    "--port", port_arg, "--prefix", prefix, "--text", text, NULL
  };
  SmTestProcess *hello = sm_test_process_spawn ("http-hello", argv);

  sm_test_process_wait_for_line (hello, ready, WAIT_MS);
  return hello;
}

static void
test_c_example (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestProcess *hello_a = start_http_hello (daemon, port, "/a", "From A");
  SmTestProcess *hello_b = start_http_hello (daemon, port, "/b", "From B");
  g_autofree char *url_a = g_strdup_printf ("http://127.0.0.1:%u/a/", port);
  g_autofree char *url_b = g_strdup_printf ("http://127.0.0.1:%u/b/page", port);
  const char *args[] = { url_a, url_b, url_a, NULL };
  g_autofree char *output = NULL;
  g_autoptr(Response) response = NULL;

  response = http_request (port, NULL, "/a/", NULL);
  if (!sm_test_process_is_running (hello_a))
    sm_test_fail ("http-hello --prefix /a died serving a request (status %d)",
                  sm_test_process_wait_exit (hello_a, WAIT_MS));
  g_assert_cmpuint (response->status, ==, 200);
  g_assert_cmpstr (response->body, ==, "From A\n");

  /* Both services on one kept-alive connection */
  output = run_curl (args);
  g_assert_cmpstr (output, ==, "From A\nFrom B\nFrom A\n");

  /* Graceful stop: exit status 0 once its connections are done */
  sm_test_process_terminate (hello_a, FALSE);
  sm_test_process_terminate (hello_b, FALSE);
  sm_test_process_free (hello_a);
  sm_test_process_free (hello_b);
  sm_test_daemon_stop (daemon);
}

int
main (int   argc,
      char *argv[])
{
  signal (SIGPIPE, SIG_IGN);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/http-interop/routing", test_routing);
  g_test_add_func ("/http-interop/forwarding-headers", test_forwarding_headers);
  g_test_add_func ("/http-interop/round-robin", test_round_robin);
  g_test_add_func ("/http-interop/keep-alive", test_keep_alive);
  g_test_add_func ("/http-interop/request-bodies", test_request_bodies);
  g_test_add_func ("/http-interop/c-example", test_c_example);

  return g_test_run ();
}
