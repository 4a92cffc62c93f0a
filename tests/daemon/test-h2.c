/* SPDX-License-Identifier: MIT */
/*
 * HTTP/2 to clients, end to end: curl with prior knowledge on a plain
 * port and with ALPN h2 (fully verified against the test CA) on a TLS
 * port, routed by path and by domain, HTTP/1.1 still served on the same
 * ports, a 5 MiB body echoed, trailers; hostile clients (rapid reset,
 * CONTINUATION flood, PING and SETTINGS floods, a window never opened)
 * and a drain, with h2-client.py (the h2 package); a redeploy by SIGKILL
 * under HTTP/2 load. Services are sm-test-http-service processes.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include <glib/gstdio.h>

#include "sm-test-http-client.h"
#include "sm-test-util.h"
#include "tls-test-support.h"

#define TIMEOUT_MS 60000
#define BIG_BODY   (5 * 1024 * 1024)

static char       *tmp_dir;
static char       *ca_file;
static char       *cert_file;
static char       *key_file;
static const char *python; /* one that has h2, or NULL */

typedef struct
{
  SmTestDaemon *daemon;
  guint16       port;
} Fixture;

/* @verbose: for the tests that wait for the daemon's debug lines */
static void
fixture_setup_full (Fixture *fixture, const char *const *daemon_args, gboolean verbose)
{
  fixture->daemon = sm_test_http_daemon_start (30, verbose, daemon_args);
  fixture->port = sm_test_free_port ();
}

static void
fixture_setup (Fixture *fixture, const char *const *daemon_args)
{
  fixture_setup_full (fixture, daemon_args, FALSE);
}

static char *
url (Fixture *fixture, const char *scheme_host, const char *path)
{
  return g_strdup_printf ("%s:%u%s", scheme_host, fixture->port, path);
}

/* curl @args... (NULL-terminated) @url, printing "BODY|STATUS|VERSION" */
static char *
curl_w (const char *target, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  va_list     ap;
  const char *arg;

  va_start (ap, target);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (args, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (args, (gpointer) "-w");
  g_ptr_array_add (args, (gpointer) "|%{http_code}|%{http_version}");
  g_ptr_array_add (args, (gpointer) target);
  g_ptr_array_add (args, NULL);
  return sm_test_curl ((const char *const *) args->pdata);
}

static gboolean
have_python_h2 (void)
{
  if (python == NULL)
    g_test_skip ("no python3 with the h2 package (Debian python3-h2)");
  return python != NULL;
}

/* h2-client.py @mode on the fixture's port with @args... (NULL-terminated) */
static SmTestProcess *
client_spawn (Fixture *fixture, const char *mode, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  va_list     ap;
  const char *arg;

  g_ptr_array_add (argv, g_strdup (python));
  g_ptr_array_add (argv, g_strdup (SM_TEST_H2_CLIENT));
  g_ptr_array_add (argv, g_strdup (mode));
  g_ptr_array_add (argv, g_strdup_printf ("%u", fixture->port));
  va_start (ap, mode);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, g_strdup (arg));
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  return sm_test_process_spawn (mode, (const char *const *) argv->pdata);
}

/* The client must exit 0: the daemon behaved as its mode expects */
static void
client_finish (SmTestProcess *client)
{
  int status = sm_test_process_wait_exit (client, 3 * TIMEOUT_MS);

  if (status != 0)
    {
      sm_test_process_dump (client);
      sm_test_fail ("h2-client.py exited with %d", status);
    }
  sm_test_process_free (client);
}

/* Requests a service served in all, from its last words on SIGTERM */
static guint
stop_service_counting (SmTestProcess *service)
{
  const char *line;
  guint64     count;

  sm_test_process_send_signal (service, SIGTERM);
  line = sm_test_process_wait_for_line (service, "stopped after", TIMEOUT_MS);
  /* the line belongs to the process: read it before that goes */
  count = g_ascii_strtoull (strstr (line, "stopped after ") + strlen ("stopped after "), NULL, 10);
  g_assert_cmpint (sm_test_process_wait_exit (service, TIMEOUT_MS), ==, 0);
  sm_test_process_free (service);
  return (guint) count;
}

/* The daemon still serves a new client */
static void
assert_serves (Fixture *fixture)
{
  g_autofree char *target = url (fixture, "http://127.0.0.1", "/a/still");
  g_autofree char *out = curl_w (target, "--http2-prior-knowledge", NULL);

  g_assert_cmpstr (out, ==, "a GET /a/still\n|200|2");
}

/* A daemon (with @args) and the service "a" on /a/; h2-client.py @mode
 * with @mode_arg (may be NULL); then, if @still_serves, a new client is
 * served */
static void
run_client_mode (const char *const *args,
                 const char        *mode,
                 const char        *mode_arg,
                 gboolean           still_serves)
{
  Fixture        fixture;
  SmTestProcess *a;

  if (!have_python_h2 ())
    return;
  fixture_setup (&fixture, args);
  a = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/a/", "a");
  client_finish (client_spawn (&fixture, mode, mode_arg, NULL));
  if (still_serves)
    assert_serves (&fixture);
  sm_test_http_service_stop (a);
  sm_test_daemon_stop (fixture.daemon);
}

/* ---- Core ---- */

static void
test_prior_knowledge_routing (void)
{
  Fixture          fixture;
  SmTestProcess   *a, *b;
  g_autofree char *a_url = NULL, *b_url = NULL, *none_url = NULL;
  g_autofree char *out_a = NULL, *out_b = NULL, *out_none = NULL, *out_h1 = NULL;

  fixture_setup (&fixture, NULL);
  a = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/a/", "a");
  b = sm_test_http_service_start (fixture.daemon, fixture.port, "b.example", "", "b");
  a_url = url (&fixture, "http://127.0.0.1", "/a/x?q=1");
  b_url = url (&fixture, "http://127.0.0.1", "/x");
  none_url = url (&fixture, "http://127.0.0.1", "/none");

  /* By path, by domain (curl sends -H Host as :authority), and neither */
  out_a = curl_w (a_url, "--http2-prior-knowledge", NULL);
  g_assert_cmpstr (out_a, ==, "a GET /a/x?q=1\n|200|2");
  out_b = curl_w (b_url, "--http2-prior-knowledge", "-H", "Host: b.example", NULL);
  g_assert_cmpstr (out_b, ==, "b GET /x\n|200|2");
  out_none = curl_w (none_url, "--http2-prior-knowledge", NULL);
  g_assert_cmpstr (out_none, ==, "404 Not Found\n|404|2");
  /* HTTP/1.1 on the same port as before */
  out_h1 = curl_w (a_url, "--http1.1", NULL);
  g_assert_cmpstr (out_h1, ==, "a GET /a/x?q=1\n|200|1.1");

  sm_test_http_service_stop (a);
  sm_test_http_service_stop (b);
  sm_test_daemon_stop (fixture.daemon);
}

static void
test_forwarding_headers (void)
{
  Fixture          fixture;
  SmTestProcess   *a;
  g_autofree char *target = NULL, *out = NULL;

  fixture_setup (&fixture, NULL);
  a = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/a/", "a");
  target = url (&fixture, "http://127.0.0.1", "/a/h");
  out = curl_w (target, "--http2-prior-knowledge", "--include", NULL);
  /* Forwarding headers as for HTTP/1.1; nothing hop-by-hop goes back */
  g_assert_nonnull (strstr (out, "x-seen-x-forwarded-proto: http\r\n"));
  g_assert_nonnull (strstr (out, "x-seen-x-forwarded-for: 127.0.0.1\r\n"));
  g_assert_null (strstr (out, "\nconnection:"));
  g_assert_null (strstr (out, "\ntransfer-encoding:"));

  sm_test_http_service_stop (a);
  sm_test_daemon_stop (fixture.daemon);
}

static void
test_header_list_size (void)
{
  /* More than --http-max-head-size (64 KiB) of fields (curl would not
   * send them: we announce the limit): 431, and the next stream is served */
  run_client_mode (NULL, "big-head", NULL, FALSE);
}

static void
test_access_log (void)
{
  const char      *args[] = { "--access-log", "-", "--access-log-format", "combined", NULL };
  Fixture          fixture;
  SmTestProcess   *a;
  g_autofree char *target = NULL, *out = NULL;

  fixture_setup (&fixture, args);
  a = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/a/", "a");
  target = url (&fixture, "http://127.0.0.1", "/a/logged");
  out = curl_w (target, "--http2-prior-knowledge", NULL);
  g_assert_cmpstr (out, ==, "a GET /a/logged\n|200|2");
  /* Counted and logged as HTTP/1.1 requests are, with their protocol */
  sm_test_daemon_wait_for_line (fixture.daemon, "127.0.0.1 - - [*] \"GET /a/logged HTTP/2\" 200 *",
                                TIMEOUT_MS);

  sm_test_http_service_stop (a);
  sm_test_daemon_stop (fixture.daemon);
}

static void
test_big_post_echoed (void)
{
  Fixture            fixture;
  SmTestProcess     *a;
  g_autofree char   *in_path = g_build_filename (tmp_dir, "big-in", NULL);
  g_autofree char   *out_path = g_build_filename (tmp_dir, "big-out", NULL);
  g_autofree char   *data_arg = g_strconcat ("@", in_path, NULL);
  g_autofree guint8 *body = g_malloc (BIG_BODY);
  g_autofree char   *echoed = NULL;
  g_autofree char   *target = NULL, *out = NULL;
  g_autoptr (GError) error = NULL;
  gsize echoed_len = 0;

  for (gsize i = 0; i < BIG_BODY; i++)
    body[i] = (guint8) g_test_rand_int_range (0, 256);
  g_file_set_contents (in_path, (const char *) body, BIG_BODY, &error);
  g_assert_no_error (error);

  fixture_setup (&fixture, NULL);
  a = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/a/", "a");
  target = url (&fixture, "http://127.0.0.1", "/a/echo");
  out = curl_w (target, "--http2-prior-knowledge", "--data-binary", data_arg, "-o", out_path, NULL);
  g_assert_cmpstr (out, ==, "|200|2");
  g_file_get_contents (out_path, &echoed, &echoed_len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (echoed_len, ==, BIG_BODY);
  g_assert_true (memcmp (echoed, body, BIG_BODY) == 0);

  sm_test_http_service_stop (a);
  sm_test_daemon_stop (fixture.daemon);
  g_unlink (in_path);
  g_unlink (out_path);
}

static void
test_tls_alpn (void)
{
  Fixture          fixture;
  SmTestProcess   *a;
  g_autofree char *target = NULL, *resolve = NULL;
  g_autofree char *out_h2 = NULL, *out_h1 = NULL;

  fixture_setup (&fixture, NULL);
  a = sm_test_http_service_start_tls (fixture.daemon, fixture.port, "", "", "a", cert_file,
                                      key_file);
  target = url (&fixture, "https://a.example.test", "/tls");
  resolve = g_strdup_printf ("a.example.test:%u:127.0.0.1", fixture.port);

  /* Full verification: the test CA, the host name */
  out_h2 = curl_w (target, "--http2", "--cacert", ca_file, "--resolve", resolve, NULL);
  g_assert_cmpstr (out_h2, ==, "a GET /tls\n|200|2");
  out_h1 = curl_w (target, "--http1.1", "--cacert", ca_file, "--resolve", resolve, NULL);
  g_assert_cmpstr (out_h1, ==, "a GET /tls\n|200|1.1");

  sm_test_http_service_stop (a);
  sm_test_daemon_stop (fixture.daemon);
}

static void
test_trailers (void)
{
  /* A body without Content-Length and trailers, echoed with them */
  run_client_mode (NULL, "trailers", NULL, FALSE);
}

/* ---- Attacks ---- */

static void
test_rapid_reset (void)
{
  Fixture        fixture;
  SmTestProcess *a;
  guint          served;

  if (!have_python_h2 ())
    return;
  fixture_setup (&fixture, NULL);
  a = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/a/", "a");
  /* GOAWAY ENHANCE_YOUR_CALM, then closed */
  client_finish (client_spawn (&fixture, "rapid-reset", "2000", NULL));
  assert_serves (&fixture);
  served = stop_service_counting (a);
  g_test_message ("the service counted %u requests after 2000 cancelled ones", served);
  g_assert_cmpuint (served, <, 2000 / 10);
  sm_test_daemon_stop (fixture.daemon);
}

static void
test_continuation_flood (void)
{
  run_client_mode (NULL, "continuation", "100000", TRUE);
}

static void
test_floods (void)
{
  const char    *args[] = { "--http-header-timeout", "3", NULL };
  Fixture        fixture;
  SmTestProcess *a, *ping, *settings;

  if (!have_python_h2 ())
    return;
  fixture_setup (&fixture, args);
  a = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/a/", "a");
  /* Both closed in the end; others served meanwhile */
  ping = client_spawn (&fixture, "flood", "ping", "200000", NULL);
  settings = client_spawn (&fixture, "flood", "settings", "200000", NULL);
  assert_serves (&fixture);
  client_finish (ping);
  client_finish (settings);
  assert_serves (&fixture);
  sm_test_http_service_stop (a);
  sm_test_daemon_stop (fixture.daemon);
}

static void
test_zero_window (void)
{
  const char *args[] = { "--http-idle-timeout", "2", NULL };

  run_client_mode (args, "zero-window", "40", TRUE);
}

/* A slow service does not hold up the other streams of a connection */
static void
test_multiplex (void)
{
  Fixture        fixture;
  SmTestProcess *a, *b;

  if (!have_python_h2 ())
    return;
  fixture_setup (&fixture, NULL);
  a = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/a/", "a");
  b = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/b/", "b");
  client_finish (client_spawn (&fixture, "multiplex", NULL));
  sm_test_http_service_stop (a);
  sm_test_http_service_stop (b);
  sm_test_daemon_stop (fixture.daemon);
}

/* A client that stops reading a 64 MB response: the daemon's memory does
 * not grow with it (yamux windows and the stream's sink hold the service
 * back), and the whole response comes once it reads */
static void
test_slow_reader (void)
{
  Fixture          fixture;
  SmTestProcess   *a, *client;
  guint64          before, after;

  const char      *asan = g_getenv ("ASAN_OPTIONS");
  g_autofree char *saved = g_strdup (asan);
  g_autofree char *daemon_asan =
      g_strjoin (":", asan != NULL ? asan : "detect_leaks=1", "quarantine_size_mb=0", NULL);

  if (!have_python_h2 ())
    return;
  /* AddressSanitizer's quarantine would hold freed memory: that would
   * measure it, not us */
  g_setenv ("ASAN_OPTIONS", daemon_asan, TRUE);
  fixture_setup (&fixture, NULL);
  if (saved != NULL)
    g_setenv ("ASAN_OPTIONS", saved, TRUE);
  else
    g_unsetenv ("ASAN_OPTIONS");
  a = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/a/", "a");
  assert_serves (&fixture);
  before = sm_test_process_memory_kib (fixture.daemon->process, "VmHWM");
  client = client_spawn (&fixture, "slow-reader", "64000000", "3", NULL);
  sm_test_process_wait_for_line (client, "got 64000000", 3 * TIMEOUT_MS);
  client_finish (client);
  after = sm_test_process_memory_kib (fixture.daemon->process, "VmHWM");
  g_test_message ("daemon peak RSS %" G_GUINT64_FORMAT " KiB before, %" G_GUINT64_FORMAT
                  " KiB after 64 MB to a slow client",
                  before, after);
  g_assert_cmpuint (after, <, before + 16 * 1024);

  sm_test_http_service_stop (a);
  sm_test_daemon_stop (fixture.daemon);
}

/* ---- Drain and redeploy ---- */

static void
test_drain (void)
{
  Fixture        fixture;
  SmTestProcess *a, *client;

  if (!have_python_h2 ())
    return;
  fixture_setup_full (&fixture, NULL, TRUE);
  a = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/a/", "a");
  client = client_spawn (&fixture, "drain", NULL);
  sm_test_process_wait_for_line (client, "sent", TIMEOUT_MS);
  sm_test_daemon_wait_for_line (fixture.daemon, "GET 127.0.0.1/a/slow?ms=2000 goes to", TIMEOUT_MS);
  /* GOAWAY, the slow response still comes, then the daemon exits */
  sm_test_process_send_signal (fixture.daemon->process, SIGTERM);
  client_finish (client);
  g_assert_cmpint (sm_test_process_wait_exit (fixture.daemon->process, TIMEOUT_MS), ==, 0);
  sm_test_daemon_free (fixture.daemon);
  sm_test_process_free (a);
}

static void
test_redeploy_sigkill (void)
{
  Fixture        fixture;
  SmTestProcess *v1, *v2, *load;

  if (!have_python_h2 ())
    return;
  fixture_setup (&fixture, NULL);
  v1 = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/r/", "v1");
  load = client_spawn (&fixture, "load", "3000", "8", NULL);
  sm_test_process_wait_for_line (load, "done 300", TIMEOUT_MS);

  /* Requests in flight die with it: they are sent again to v2 */
  sm_test_process_send_signal (v1, SIGKILL);
  g_assert_cmpint (sm_test_process_wait_exit (v1, TIMEOUT_MS), ==, -SIGKILL);
  sm_test_process_free (v1);
  v2 = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/r/", "v2");

  /* Every request answered 200, some of them by v2 */
  sm_test_process_wait_for_line (load, "failed 0", 3 * TIMEOUT_MS);
  g_assert_cmpuint (sm_test_process_count_lines (load, "'v2'"), ==, 1);
  client_finish (load);
  sm_test_http_service_stop (v2);
  sm_test_daemon_stop (fixture.daemon);
}

static const char *
find_python (void)
{
  static const char *const candidates[] = { "/usr/bin/python3", "python3" };

  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      const char *argv[] = { candidates[i], "-c", "import h2, hyperframe", NULL };
      gint        status = -1;

      if (g_spawn_sync (NULL, (char **) argv, NULL,
                        G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                            G_SPAWN_STDERR_TO_DEV_NULL,
                        NULL, NULL, NULL, NULL, &status, NULL) &&
          g_spawn_check_wait_status (status, NULL))
        return candidates[i];
    }
  return NULL;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  test_pki_make ();
  tmp_dir = g_dir_make_tmp ("test-h2-XXXXXX", &error);
  g_assert_no_error (error);
  ca_file = g_build_filename (tmp_dir, "ca.pem", NULL);
  cert_file = g_build_filename (tmp_dir, "a.pem", NULL);
  key_file = g_build_filename (tmp_dir, "a.key", NULL);
  g_file_set_contents (ca_file, test_pki.ca.cert_pem, -1, &error);
  g_assert_no_error (error);
  g_file_set_contents (cert_file, test_pki.a.cert_pem, -1, &error);
  g_assert_no_error (error);
  g_file_set_contents (key_file, test_pki.a.key_pem, -1, &error);
  g_assert_no_error (error);
  python = find_python ();

  g_test_add_func ("/h2/prior-knowledge/routing", test_prior_knowledge_routing);
  g_test_add_func ("/h2/prior-knowledge/forwarding-headers", test_forwarding_headers);
  g_test_add_func ("/h2/prior-knowledge/5mib-post-echoed", test_big_post_echoed);
  g_test_add_func ("/h2/prior-knowledge/access-log", test_access_log);
  g_test_add_func ("/h2/limits/header-list-size", test_header_list_size);
  g_test_add_func ("/h2/tls/alpn", test_tls_alpn);
  g_test_add_func ("/h2/trailers", test_trailers);
  g_test_add_func ("/h2/attack/rapid-reset", test_rapid_reset);
  g_test_add_func ("/h2/attack/continuation-flood", test_continuation_flood);
  g_test_add_func ("/h2/attack/ping-and-settings-floods", test_floods);
  g_test_add_func ("/h2/attack/zero-window", test_zero_window);
  g_test_add_func ("/h2/flow-control/slow-reader", test_slow_reader);
  g_test_add_func ("/h2/flow-control/slow-service", test_multiplex);
  g_test_add_func ("/h2/drain", test_drain);
  g_test_add_func ("/h2/redeploy-sigkill-under-load", test_redeploy_sigkill);

  status = g_test_run ();

  g_unlink (ca_file);
  g_unlink (cert_file);
  g_unlink (key_file);
  g_rmdir (tmp_dir);
  g_free (ca_file);
  g_free (cert_file);
  g_free (key_file);
  g_free (tmp_dir);
  test_pki_free ();
  return status;
}
