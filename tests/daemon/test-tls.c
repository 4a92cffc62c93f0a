/* SPDX-License-Identifier: MIT */
/*
 * TLS termination end to end: a real daemon process, services in this
 * process (scripted yamux echo services, and HTTP services on the client
 * library), public clients that are real curl processes or the GnuTLS
 * client of tls-test-support running in a thread. The PKI is generated at
 * start; only the CA certificate is written to disk, for curl.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "socketmaster.h"
#include "sm-test-http-responder.h"
#include "sm-test-util.h"
#include "tls-test-support.h"

#define WAIT_MS 30000
/* What the echo services write first: SCRIPT_ECHO expects it */
#define WELCOME "welcome\n"

static char *ca_file;
static char *ca_dir;

/* ---- HTTP services on the client library, in this process ---- */

typedef struct {
  SmListener          *listener;
  SmTestHttpResponder *responder;
  gboolean             started;
  GError              *error;
} HttpService;

static gboolean
on_http_incoming (SmListener *listener,
                  GIOStream  *stream,
                  gpointer    data)
{
  HttpService *service = data;

  sm_test_http_responder_serve (service->responder, stream);
  return TRUE;
}

static void
http_service_started_cb (GObject      *object,
                         GAsyncResult *result,
                         gpointer      data)
{
  HttpService *service = data;

  sm_listener_start_finish (SM_LISTENER (object), result, &service->error);
  service->started = TRUE;
}

/* @cert_pem NULL: no TLS definition */
static HttpService *
http_service_new (SmTestDaemon *daemon,
                  guint16       port,
                  const char   *domain,
                  const char   *prefix,
                  const char   *name,
                  const char   *cert_pem,
                  const char   *key_pem)
{
  g_autoptr(SmSocketDefinition) definition = sm_socket_definition_new (port);
  HttpService *service = g_new0 (HttpService, 1);

  sm_socket_definition_set_address (definition, "127.0.0.1");
  sm_socket_definition_set_http (definition, domain, prefix);
  if (cert_pem != NULL)
    sm_socket_definition_set_tls (definition, cert_pem, key_pem);

  service->responder = sm_test_http_responder_new (name);
  service->listener = sm_listener_new (daemon->control_address, definition);
  sm_listener_set_reconnect_timeout (service->listener, 0);
  g_signal_connect (service->listener, "incoming", G_CALLBACK (on_http_incoming), service);
  sm_listener_start_async (service->listener, NULL, http_service_started_cb, service);
  test_wait_for (&service->started, "an HTTP service's registration");
  g_assert_no_error (service->error);
  return service;
}

static void
http_service_free (HttpService *service)
{
  g_signal_handlers_disconnect_by_data (service->listener, service);
  sm_listener_abort (service->listener);
  g_object_unref (service->listener);
  sm_test_http_responder_free (service->responder);
  g_free (service);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HttpService, http_service_free)

/* ---- curl ---- */

/* GET https://@host:@port@path, @host resolving to 127.0.0.1, verified
 * against the test CA; fails the test unless curl succeeds. The output
 * (headers with --include, TLS details with --verbose) is in the process. */
static SmTestProcess *
curl_get (const char *host,
          guint16     port,
          const char *path)
{
  g_autofree char *resolve = g_strdup_printf ("%s:%u:127.0.0.1", host, port);
  g_autofree char *url = g_strdup_printf ("https://%s:%u%s", host, port, path);
  const char *argv[] = {
    "curl", "--silent", "--show-error", "--verbose", "--include", "--max-time", "20",
    "--http1.1", "--cacert", ca_file, "--resolve", resolve, url, NULL
  };
  SmTestProcess *curl = sm_test_process_spawn ("curl", argv);
  int status = sm_test_process_wait_exit (curl, WAIT_MS);

  if (status != 0)
    {
      sm_test_process_dump (curl);
      sm_test_fail ("curl %s exited with %d", url, status);
    }
  return curl;
}

static void
assert_line (SmTestProcess *process,
             const char    *text)
{
  if (sm_test_process_count_lines (process, text) == 0)
    {
      sm_test_process_dump (process);
      sm_test_fail ("no line with \"%s\"", text);
    }
}

/* The served certificate, the service that answered and what it saw */
static void
assert_https_answer (const char *host,
                     guint16     port,
                     const char *path,
                     const char *subject,
                     const char *service)
{
  g_autoptr(SmTestProcess) curl = curl_get (host, port, path);
  g_autofree char *subject_line = g_strdup_printf ("subject: %s", subject);
  g_autofree char *service_line = g_strdup_printf ("X-Service: %s\r", service);
  g_autofree char *body = g_strdup_printf ("%s GET %s", service, path);

  assert_line (curl, "SSL certificate verify ok");
  assert_line (curl, subject_line);
  assert_line (curl, "HTTP/1.1 200 OK");
  assert_line (curl, service_line);
  assert_line (curl, body);
  assert_line (curl, "X-Seen-X-Forwarded-Proto: https");
  /* curl offers only HTTP/1.1 (--http1.1; h2 is tested in test-h2) */
  assert_line (curl, "ALPN: server accepted http/1.1");
  g_assert_cmpuint (sm_test_process_count_lines (curl, "ALPN: server accepted h2"), ==, 0);
}

/* ---- The GnuTLS client ---- */

static int
connect_fd (guint16 port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = sm_test_connect (port, &error);
  int fd;

  g_assert_no_error (error);
  /* The client owns and closes its descriptor */
  fd = dup (g_socket_get_fd (socket));
  g_assert_cmpint (fd, >=, 0);
  return fd;
}

/* Starts a client in its thread that verifies the chain against the CA,
 * and the host name if @verify_host; test_client_finish() waits for it */
static TestClient *
tls_client_start (guint16       port,
                  const char   *server_name,
                  gboolean      verify_host,
                  ClientScript  script)
{
  TestClient *client = test_client_new (server_name, script);

  client->verify = TRUE;
  client->verify_host = verify_host ? server_name : NULL;
  client->offer_alpn = TRUE;
  test_client_start (client, connect_fd (port));
  return client;
}

/* Echo through TLS (SCRIPT_ECHO, services tagged WELCOME); returns the
 * subject of the certificate served. The host name is not verified: some
 * tests ask for names the certificate served does not have. */
static char *
tls_echo (guint16     port,
          const char *server_name)
{
  g_autoptr(TestClient) client = tls_client_start (port, server_name, FALSE, SCRIPT_ECHO);

  test_client_finish (client);
  g_assert_cmpint (client->handshake_ret, ==, 0);
  /* Raw TCP ports offer no ALPN */
  g_assert_null (client->alpn);
  return g_strdup (client->peer_dn);
}

static void
assert_tls_echo (guint16     port,
                 const char *server_name,
                 const char *subject)
{
  g_autofree char *served = tls_echo (port, server_name);

  g_assert_cmpstr (served, ==, subject);
}

/* ---- Plain public clients, in a thread (the services run here) ---- */

static gpointer
plain_welcome_thread (gpointer data)
{
  guint16 port = GPOINTER_TO_UINT (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = sm_test_connect (port, &error);
  char buffer[sizeof WELCOME - 1];

  if (socket == NULL)
    return GINT_TO_POINTER (FALSE);
  return GINT_TO_POINTER (sm_test_receive_exactly (socket, buffer, sizeof buffer, NULL) ==
                          sizeof buffer &&
                          memcmp (buffer, WELCOME, sizeof buffer) == 0);
}

/* A plain connection gets the welcome of an echo service */
static gboolean
plain_welcome (guint16 port)
{
  SmTestThread *thread = sm_test_thread_new ("plain-client", plain_welcome_thread,
                                             GUINT_TO_POINTER (port));

  return GPOINTER_TO_INT (sm_test_thread_join (thread, WAIT_MS));
}

static gpointer
closed_by_peer_thread (gpointer data)
{
  return GINT_TO_POINTER (sm_test_socket_is_closed_by_peer (data));
}

/* ---- Registrations ---- */

/* A service reads "OK" before the daemon has its route (and certificate)
 * in place; the daemon logs the registration once it has */
static void
wait_registered (SmTestDaemon *daemon,
                 guint16       port,
                 guint         n)
{
  g_autofree char *text = g_strdup_printf ("registered on 127.0.0.1:%u", port);

  sm_test_process_wait_for_lines (daemon->process, text, n, WAIT_MS);
}

/* Hand-written, for the exact status */

static char *
register_tls_raw (SmTestDaemon *daemon,
                  guint16       port,
                  const char   *cert_pem,
                  const char   *key_pem)
{
  g_autoptr(GByteArray) request = sm_test_handshake_new ("127.0.0.1", port, 0x02);
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) error = NULL;
  char *status;

  sm_test_append_string (request, cert_pem);
  sm_test_append_string (request, key_pem);
  socket = sm_test_connect_address (daemon->control_address, &error);
  g_assert_no_error (error);
  sm_test_send_all (socket, request->data, request->len);
  status = sm_test_read_status (socket, &error);
  g_assert_no_error (error);
  return status;
}

/* What the daemon must answer for PEM GnuTLS cannot read */
static char *
expected_certificate_error (const char *pem)
{
  gnutls_datum_t datum = { (unsigned char *) pem, strlen (pem) };
  gnutls_x509_crt_t *crts = NULL;
  unsigned int n_crts = 0;
  int ret = gnutls_x509_crt_list_import2 (&crts, &n_crts, &datum, GNUTLS_X509_FMT_PEM, 0);

  g_assert_cmpint (ret, <, 0);
  return g_strdup_printf ("TLS certificate could not be parsed: %s", gnutls_strerror (ret));
}

static char *
expected_key_error (const char *pem)
{
  gnutls_datum_t datum = { (unsigned char *) pem, strlen (pem) };
  gnutls_x509_privkey_t key;
  int ret;

  g_assert_cmpint (gnutls_x509_privkey_init (&key), ==, 0);
  ret = gnutls_x509_privkey_import2 (key, &datum, GNUTLS_X509_FMT_PEM, NULL, 0);
  gnutls_x509_privkey_deinit (key);
  g_assert_cmpint (ret, <, 0);
  return g_strdup_printf ("TLS private key could not be parsed: %s", gnutls_strerror (ret));
}

static gboolean
can_connect (guint16 port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = sm_test_connect (port, &error);

  return socket != NULL;
}

/* ---- Tests ---- */

static gboolean
have_curl (void)
{
  g_autofree char *path = g_find_program_in_path ("curl");

  if (path == NULL)
    g_test_skip ("curl is not installed");
  return path != NULL;
}

/* The original's TestTLS: one HTTP service with a certificate, a client
 * that verifies it for real */
static HttpService *
https_service_a (SmTestDaemon *daemon,
                 guint16       port)
{
  HttpService *service = http_service_new (daemon, port, "", "/a/", "svc-a",
                                           test_pki.a.cert_pem, test_pki.a.key_pem);
  g_autofree char *enabled = g_strdup_printf ("TLS enabled on 127.0.0.1:%u", port);

  sm_test_daemon_wait_for_line (daemon, enabled, WAIT_MS);
  return service;
}

static void
test_https_one_service (void)
{
  SmTestDaemon *daemon = NULL;
  g_autoptr(HttpService) service = NULL;
  guint16 port = sm_test_free_port ();

  if (!have_curl ())
    return;

  daemon = sm_test_daemon_start (5);
  service = https_service_a (daemon, port);

  assert_https_answer ("a.example.test", port, "/a/", test_pki.a.dn, "svc-a");

  g_clear_pointer (&service, http_service_free);
  sm_test_daemon_stop (daemon);
}

/* A service without a certificate joins: served through TLS too */
static void
test_https_service_without_certificate (void)
{
  SmTestDaemon *daemon = NULL;
  g_autoptr(HttpService) service = NULL;
  g_autoptr(HttpService) plain = NULL;
  guint16 port = sm_test_free_port ();

  if (!have_curl ())
    return;

  daemon = sm_test_daemon_start (5);
  service = https_service_a (daemon, port);
  plain = http_service_new (daemon, port, "", "/plain/", "svc-plain", NULL, NULL);
  sm_test_daemon_wait_for_line (daemon, "registered no certificate", WAIT_MS);
  assert_https_answer ("a.example.test", port, "/plain/", test_pki.a.dn, "svc-plain");
  assert_https_answer ("a.example.test", port, "/a/x", test_pki.a.dn, "svc-a");

  g_clear_pointer (&plain, http_service_free);
  g_clear_pointer (&service, http_service_free);
  sm_test_daemon_stop (daemon);
}

/* Several certificates on one HTTP port, chosen by SNI: RSA and ECDSA
 * keys, PKCS#1, PKCS#8 and SEC1 key PEMs, a chain with its intermediate
 * (curl trusts only the root), a wildcard */
static void
test_https_sni (void)
{
  SmTestDaemon *daemon = NULL;
  g_autoptr(HttpService) a = NULL;
  g_autoptr(HttpService) b = NULL;
  g_autoptr(HttpService) chain = NULL;
  g_autoptr(HttpService) wild = NULL;
  guint16 port = sm_test_free_port ();

  if (!have_curl ())
    return;

  daemon = sm_test_daemon_start (5);
  a = http_service_new (daemon, port, "a.example.test", "/", "svc-a",
                        test_pki.a.cert_pem, test_pki.a.key_pem);
  b = http_service_new (daemon, port, "b.example.test", "/", "svc-b",
                        test_pki.b.cert_pem, test_pki.b.key_pkcs8_pem);
  chain = http_service_new (daemon, port, "chain.example.test", "/", "svc-chain",
                            test_pki.chain_pem, test_pki.chain.key_pem);
  wild = http_service_new (daemon, port, "wild.test", "/", "svc-wild",
                           test_pki.wild.cert_pem, test_pki.wild.key_pkcs8_pem);
  wait_registered (daemon, port, 4);

  assert_https_answer ("a.example.test", port, "/", test_pki.a.dn, "svc-a");
  assert_https_answer ("b.example.test", port, "/b", test_pki.b.dn, "svc-b");
  assert_https_answer ("chain.example.test", port, "/c", test_pki.chain.dn, "svc-chain");
  assert_https_answer ("x.wild.test", port, "/w", test_pki.wild.dn, "svc-wild");
  /* Again, the other way round: nothing sticks from one to the next */
  assert_https_answer ("b.example.test", port, "/", test_pki.b.dn, "svc-b");
  assert_https_answer ("a.example.test", port, "/", test_pki.a.dn, "svc-a");

  g_clear_pointer (&wild, http_service_free);
  g_clear_pointer (&chain, http_service_free);
  g_clear_pointer (&b, http_service_free);
  g_clear_pointer (&a, http_service_free);
  sm_test_daemon_stop (daemon);
}

/* A raw TCP service with a.example.test's certificate (PKCS#8 key) */
static SmTestService *
tcp_service_a (SmTestDaemon *daemon,
               guint16       port)
{
  SmTestService *service = sm_test_service_new_tls (daemon->control_address, port, WELCOME,
                                                    test_pki.a.cert_pem,
                                                    test_pki.a.key_pkcs8_pem);

  wait_registered (daemon, port, 1);
  return service;
}

/* Raw TCP through TLS, verified, and without SNI */
static void
test_tcp_echo (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (5);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) a = tcp_service_a (daemon, port);
  g_autoptr(TestClient) verified = NULL;

  verified = tls_client_start (port, "a.example.test", TRUE, SCRIPT_ECHO);
  test_client_finish (verified);
  g_assert_cmpint (verified->handshake_ret, ==, 0);
  g_assert_cmpuint (verified->verify_status, ==, 0);
  g_assert_cmpstr (verified->peer_dn, ==, test_pki.a.dn);
  g_assert_null (verified->alpn);
  assert_tls_echo (port, NULL, test_pki.a.dn);

  g_clear_pointer (&a, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

/* Session tickets: the second handshake resumes the first session */
static void
test_tcp_resumption (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (5);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) a = tcp_service_a (daemon, port);
  g_autoptr(TestClient) first = NULL;
  g_autoptr(TestClient) resumed = NULL;

  first = test_client_new ("a.example.test", SCRIPT_ECHO);
  first->verify = TRUE;
  first->verify_host = "a.example.test";
  first->offer_alpn = TRUE;
  first->save_session = TRUE;
  test_client_start (first, connect_fd (port));
  test_client_finish (first);
  g_assert_cmpint (first->handshake_ret, ==, 0);
  g_assert_cmpuint (first->session_data.size, >, 0);
  resumed = test_client_new ("a.example.test", SCRIPT_ECHO);
  resumed->resume_data = first->session_data;
  test_client_start (resumed, connect_fd (port));
  test_client_finish (resumed);
  resumed->resume_data.size = 0;
  g_assert_cmpint (resumed->handshake_ret, ==, 0);
  g_assert_true (resumed->resumed);

  g_clear_pointer (&a, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

/* TLS 1.2 and 1.3 only */
static void
test_tcp_old_versions_refused (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (5);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) a = tcp_service_a (daemon, port);
  g_autoptr(TestClient) old = NULL;

  old = test_client_new ("a.example.test", SCRIPT_ECHO);
  old->priority = "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0";
  test_client_start (old, connect_fd (port));
  test_client_finish (old);
  g_assert_cmpint (old->handshake_ret, <, 0);

  g_clear_pointer (&a, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

/* 4 MiB each way at once, ended by close_notify both ways */
static void
test_tcp_bulk (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (5);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) bulk = NULL;
  g_autoptr(TestClient) client = NULL;

  bulk = sm_test_service_new_tls (daemon->control_address, port, NULL,
                                  test_pki.b.cert_pem, test_pki.b.key_pem);
  wait_registered (daemon, port, 1);
  client = tls_client_start (port, "b.example.test", TRUE, SCRIPT_BULK);
  test_client_finish (client);
  g_assert_cmpint (client->handshake_ret, ==, 0);
  g_assert_cmpstr (client->peer_dn, ==, test_pki.b.dn);

  g_clear_pointer (&bulk, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

static SmTestService *
tcp_service_with (SmTestDaemon *daemon,
                  guint16       port,
                  TestCert     *cert)
{
  return sm_test_service_new_tls (daemon->control_address, port, WELCOME,
                                  cert->cert_pem, cert->key_pem);
}

/* A port terminates TLS from its first certificate on, for the services
 * without one as well */
static void
test_tcp_enabled_with_first_certificate (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (5);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) plain = NULL;
  g_autoptr(SmTestService) a = NULL;
  g_autofree char *enabled = g_strdup_printf ("TLS enabled on 127.0.0.1:%u", port);

  plain = sm_test_service_new (daemon->control_address, port, WELCOME);
  wait_registered (daemon, port, 1);
  g_assert_true (plain_welcome (port));

  a = tcp_service_with (daemon, port, &test_pki.a);
  sm_test_daemon_wait_for_line (daemon, enabled, WAIT_MS);
  /* Both services echo: the plain one is reached through TLS as well */
  for (guint i = 0; i < 4; i++)
    assert_tls_echo (port, NULL, test_pki.a.dn);
  g_assert_cmpuint (sm_test_service_get_n_accepted (plain), >, 1);

  g_clear_pointer (&a, sm_test_service_free);
  g_clear_pointer (&plain, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

/* By SNI; without SNI, or for another name, the most recent */
static void
test_tcp_certificate_selection (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (5);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) a = NULL;
  g_autoptr(SmTestService) b = NULL;

  a = tcp_service_with (daemon, port, &test_pki.a);
  wait_registered (daemon, port, 1);
  b = tcp_service_with (daemon, port, &test_pki.b);
  wait_registered (daemon, port, 2);
  assert_tls_echo (port, NULL, test_pki.b.dn);
  assert_tls_echo (port, "unknown.example.test", test_pki.b.dn);
  assert_tls_echo (port, "a.example.test", test_pki.a.dn);
  assert_tls_echo (port, "b.example.test", test_pki.b.dn);

  g_clear_pointer (&b, sm_test_service_free);
  g_clear_pointer (&a, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

/* A certificate stays for the hold timeout after its service, then goes */
static void
test_tcp_certificate_held_after_service (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (2);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) a = NULL;
  g_autoptr(SmTestService) b = NULL;
  g_autofree char *dropped = g_strdup_printf ("on 127.0.0.1:%u dropped", port);

  a = tcp_service_with (daemon, port, &test_pki.a);
  wait_registered (daemon, port, 1);
  b = tcp_service_with (daemon, port, &test_pki.b);
  wait_registered (daemon, port, 2);

  g_clear_pointer (&b, sm_test_service_free);
  assert_tls_echo (port, "b.example.test", test_pki.b.dn);
  sm_test_daemon_wait_for_line (daemon, dropped, WAIT_MS);
  assert_tls_echo (port, NULL, test_pki.a.dn);
  assert_tls_echo (port, "b.example.test", test_pki.a.dn);

  g_clear_pointer (&a, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

/* The last certificate leaves: plain again after the hold timeout */
static void
test_tcp_plain_after_last_certificate (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (2);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) plain = NULL;
  g_autoptr(SmTestService) a = NULL;
  g_autofree char *enabled = g_strdup_printf ("TLS enabled on 127.0.0.1:%u", port);
  g_autofree char *disabled = g_strdup_printf ("TLS disabled on 127.0.0.1:%u", port);

  plain = sm_test_service_new (daemon->control_address, port, WELCOME);
  wait_registered (daemon, port, 1);
  a = tcp_service_with (daemon, port, &test_pki.a);
  sm_test_daemon_wait_for_line (daemon, enabled, WAIT_MS);

  g_clear_pointer (&a, sm_test_service_free);
  assert_tls_echo (port, NULL, test_pki.a.dn);
  sm_test_daemon_wait_for_line (daemon, disabled, WAIT_MS);
  g_assert_true (plain_welcome (port));

  g_clear_pointer (&plain, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

typedef struct {
  const char *what;
  const char *cert_pem;
  const char *key_pem;
  char       *expected;
} BadCase;

/* Each bad certificate or key gets its own status and changes nothing:
 * a healthy TLS service on the same port serves throughout */
static void
test_bad_certificates (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (5);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) healthy = NULL;
  g_autoptr(TestClient) during = NULL;
  g_autoptr(TestClient) after = NULL;
  const char *bad_cert = "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n";
  const char *bad_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  BadCase cases[] = {
    { "garbage", "\x01\x02 garbage", test_pki.a.key_pem,
      g_strdup ("no certificate in TLS certificate PEM") },
    { "empty certificate", "", test_pki.a.key_pem,
      g_strdup ("no certificate in TLS certificate PEM") },
    { "unparsable certificate", bad_cert, test_pki.a.key_pem,
      expected_certificate_error (bad_cert) },
    { "no key", test_pki.a.cert_pem, "",
      g_strdup ("TLS private key could not be parsed: no private key in PEM") },
    { "unparsable key", test_pki.a.cert_pem, bad_key, expected_key_error (bad_key) },
    { "key of another certificate", test_pki.a.cert_pem, test_pki.b.key_pem,
      g_strdup ("TLS private key does not match the certificate") },
    { "chain with the wrong key", test_pki.chain_pem, test_pki.intermediate.key_pem,
      g_strdup ("TLS private key does not match the certificate") },
  };

  /* The transfer may come while the registration completes: it waits */
  healthy = sm_test_service_new_tls (daemon->control_address, port, NULL,
                                     test_pki.a.cert_pem, test_pki.a.key_pem);
  /* A transfer runs while the bad registrations come and go */
  during = tls_client_start (port, NULL, FALSE, SCRIPT_BULK);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *status = register_tls_raw (daemon, port, cases[i].cert_pem,
                                                  cases[i].key_pem);

      g_test_message ("%s: \"%s\"", cases[i].what, status);
      g_assert_cmpstr (status, ==, cases[i].expected);
      g_free (cases[i].expected);
    }

  test_client_finish (during);
  g_assert_cmpint (during->handshake_ret, ==, 0);
  g_assert_cmpstr (during->peer_dn, ==, test_pki.a.dn);

  /* Still the only certificate: none of the bad ones was added */
  after = tls_client_start (port, NULL, FALSE, SCRIPT_BULK);
  test_client_finish (after);
  g_assert_cmpstr (after->peer_dn, ==, test_pki.a.dn);
  g_assert_cmpuint (sm_test_service_get_n_accepted (healthy), ==, 2);

  g_clear_pointer (&healthy, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

/* On a port not open yet: it is not opened */
static void
test_bad_certificate_on_new_port (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (5);
  guint16 port = sm_test_free_port ();
  const char *bad_cert = "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n";
  g_autofree char *status = register_tls_raw (daemon, port, bad_cert, test_pki.a.key_pem);

  g_assert_true (g_str_has_prefix (status, "TLS certificate could not be parsed: "));
  g_assert_false (can_connect (port));

  sm_test_daemon_stop (daemon);
}

/* An expired certificate is served, with a warning */
static void
test_expired_certificate_served (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (5);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) expired = NULL;
  g_autoptr(TestClient) expired_client = NULL;

  expired = sm_test_service_new_tls (daemon->control_address, port, NULL,
                                     test_pki.expired.cert_pem, test_pki.expired.key_pem);
  sm_test_daemon_wait_for_line (daemon, "(CN=expired.example.test) expired on", WAIT_MS);
  expired_client = test_client_new ("expired.example.test", SCRIPT_BULK);
  test_client_start (expired_client, connect_fd (port));
  test_client_finish (expired_client);
  g_assert_cmpint (expired_client->handshake_ret, ==, 0);
  g_assert_cmpstr (expired_client->peer_dn, ==, test_pki.expired.dn);
  g_assert_true (expired_client->verify_status & GNUTLS_CERT_EXPIRED);

  g_clear_pointer (&expired, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

/* A client that stalls in its handshake is dropped after the timeout;
 * others are served meanwhile */
static void
test_stalled_handshake (void)
{
  const char * const args[] = { "--no-bus", "--verbose", "--tls-handshake-timeout", "1", NULL };
  SmTestDaemon *daemon = sm_test_daemon_start_with_args (5, args);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) service = NULL;
  GSocket *stalled[5];
  /* A TLS record header announcing a ClientHello that never comes */
  const guint8 partial_hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
  g_autofree char *timed_out =
    g_strdup_printf ("to 127.0.0.1:%u: TLS handshake timed out after 1 s", port);

  service = sm_test_service_new_tls (daemon->control_address, port, WELCOME,
                                     test_pki.a.cert_pem, test_pki.a.key_pem);

  for (guint i = 0; i < G_N_ELEMENTS (stalled); i++)
    {
      g_autoptr(GError) error = NULL;

      stalled[i] = sm_test_connect (port, &error);
      g_assert_no_error (error);
      if (i % 2 == 0)
        sm_test_send_all (stalled[i], partial_hello, sizeof partial_hello);
    }

  assert_tls_echo (port, "a.example.test", test_pki.a.dn);

  for (guint i = 0; i < G_N_ELEMENTS (stalled); i++)
    {
      SmTestThread *thread = sm_test_thread_new ("stalled", closed_by_peer_thread, stalled[i]);

      g_assert_true (GPOINTER_TO_INT (sm_test_thread_join (thread, WAIT_MS)));
      g_object_unref (stalled[i]);
    }
  sm_test_process_wait_for_lines (daemon->process, timed_out, G_N_ELEMENTS (stalled), WAIT_MS);
  g_assert_cmpuint (sm_test_service_get_n_accepted (service), ==, 1);

  g_clear_pointer (&service, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

/* ---- No lock-out by a flood of silent connections ---- */

#define N_FLOOD 100 /* from one address; the daemon lets it hold 64 handshakes */

/* Returns how many of the sockets the daemon closed, once 36 are */
static gpointer
flood_closed_thread (gpointer data)
{
  GSocket **sockets = data;
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;
  GPollFD fds[N_FLOOD];
  guint n_closed = 0;
  char byte;

  for (guint i = 0; i < N_FLOOD; i++)
    fds[i] = (GPollFD) { g_socket_get_fd (sockets[i]), G_IO_IN, 0 };
  while (n_closed < N_FLOOD - 64 && g_get_monotonic_time () < deadline)
    {
      g_poll (fds, N_FLOOD, 1000);
      for (guint i = 0; i < N_FLOOD; i++)
        if (fds[i].revents != 0 && g_socket_receive (sockets[i], &byte, 1, NULL, NULL) <= 0)
          {
            fds[i].fd = -1; /* poll() skips it from now on */
            n_closed++;
          }
    }
  return GUINT_TO_POINTER (n_closed);
}

/* Silent connections from 127.0.0.2 beyond its limit: the oldest are
 * dropped, and a client from 127.0.0.1 still gets its handshake and echo */
static void
test_silent_flood (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (5);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) a = tcp_service_a (daemon, port);
  g_autoptr(GInetAddress) from = g_inet_address_new_from_string ("127.0.0.2");
  g_autoptr(GSocketAddress) local = g_inet_socket_address_new (from, 0);
  g_autoptr(GSocketAddress) to = g_inet_socket_address_new_from_string ("127.0.0.1", port);
  g_autoptr(GError) error = NULL;
  GSocket *sockets[N_FLOOD];
  gpointer n_closed;

  for (guint i = 0; i < N_FLOOD; i++)
    {
      sockets[i] = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, 0, &error);
      g_assert_true (g_socket_bind (sockets[i], local, FALSE, &error));
      g_assert_true (g_socket_connect (sockets[i], to, NULL, &error));
    }
  n_closed = sm_test_thread_join (sm_test_thread_new ("flood", flood_closed_thread, sockets), 2 * WAIT_MS);
  g_assert_cmpuint (GPOINTER_TO_UINT (n_closed), >=, N_FLOOD - 64);

  assert_tls_echo (port, "a.example.test", test_pki.a.dn);
  for (guint i = 0; i < N_FLOOD; i++)
    g_object_unref (sockets[i]);
  g_clear_pointer (&a, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  int result;

  /* A peer closing first must be an error code, not a signal */
  signal (SIGPIPE, SIG_IGN);
  g_test_init (&argc, &argv, NULL);

  test_pki_make ();
  ca_dir = g_dir_make_tmp ("test-tls-XXXXXX", &error);
  g_assert_no_error (error);
  ca_file = g_build_filename (ca_dir, "ca.pem", NULL);
  g_file_set_contents (ca_file, test_pki.ca.cert_pem, -1, &error);
  g_assert_no_error (error);

  g_test_add_func ("/tls/https/one-service", test_https_one_service);
  g_test_add_func ("/tls/https/service-without-certificate",
                   test_https_service_without_certificate);
  g_test_add_func ("/tls/https/sni", test_https_sni);
  g_test_add_func ("/tls/tcp/echo", test_tcp_echo);
  g_test_add_func ("/tls/tcp/resumption", test_tcp_resumption);
  g_test_add_func ("/tls/tcp/old-versions-refused", test_tcp_old_versions_refused);
  g_test_add_func ("/tls/tcp/bulk", test_tcp_bulk);
  g_test_add_func ("/tls/tcp/enabled-with-first-certificate",
                   test_tcp_enabled_with_first_certificate);
  g_test_add_func ("/tls/tcp/certificate-selection", test_tcp_certificate_selection);
  g_test_add_func ("/tls/tcp/certificate-held-after-service",
                   test_tcp_certificate_held_after_service);
  g_test_add_func ("/tls/tcp/plain-after-last-certificate", test_tcp_plain_after_last_certificate);
  g_test_add_func ("/tls/bad-certificates", test_bad_certificates);
  g_test_add_func ("/tls/bad-certificate-on-new-port", test_bad_certificate_on_new_port);
  g_test_add_func ("/tls/expired-certificate-served", test_expired_certificate_served);
  g_test_add_func ("/tls/stalled-handshake", test_stalled_handshake);
  g_test_add_func ("/tls/silent-flood", test_silent_flood);

  result = g_test_run ();

  g_unlink (ca_file);
  g_rmdir (ca_dir);
  g_free (ca_file);
  g_free (ca_dir);
  test_pki_free ();
  return result;
}
