/* SPDX-License-Identifier: MIT */
/*
 * sm-bench-tls: helper of tests/bench/tls-bench.
 *
 *   sm-bench-tls --pki DIR [--key-type ecdsa|rsa]
 *       writes a throw-away CA (DIR/ca.pem) and a server certificate for
 *       bench.test, localhost and 127.0.0.1 signed by it (DIR/cert.pem,
 *       DIR/key.pem: PKCS#8), made with the GnuTLS API
 *   sm-bench-tls --connections --port N [--sni NAME] [--seconds S] [--threads T]
 *                [--handshake-only]
 *       new TLS connections per second against 127.0.0.1:N: each one is a
 *       full handshake (no resumption) followed by one request
 *       "GET /bench" with "Connection: close", whose answer must be
 *       200 "hello" (with --handshake-only: close_notify instead, so only
 *       the TLS server is measured); T threads (default 4) with blocking
 *       sockets for S seconds (default 10)
 *
 * Prints "connections/s: X", then "errors: Y". The client does not verify
 * the certificate: it measures the servers, not its own chain checks.
 */
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define REQUEST "GET /bench HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n"
#define MAX_RESPONSE 4096

static char    *opt_pki;
static char    *opt_key_type;
static gboolean opt_connections;
static int      opt_port;
static char    *opt_sni;
static int      opt_seconds = 10;
static int      opt_threads = 4;
static gboolean opt_handshake_only;

static GOptionEntry option_entries[] = {
  { "pki", 0, 0, G_OPTION_ARG_FILENAME, &opt_pki, "Write a CA and a server certificate here", "DIR" },
  { "key-type", 0, 0, G_OPTION_ARG_STRING, &opt_key_type, "ecdsa (P-256, default) or rsa (2048)", "TYPE" },
  { "connections", 0, 0, G_OPTION_ARG_NONE, &opt_connections, "Measure new TLS connections per second", NULL },
  { "port", 0, 0, G_OPTION_ARG_INT, &opt_port, "Server port on 127.0.0.1", "N" },
  { "sni", 0, 0, G_OPTION_ARG_STRING, &opt_sni, "Server name to send (default: none)", "NAME" },
  { "seconds", 0, 0, G_OPTION_ARG_INT, &opt_seconds, "Duration (default 10)", "S" },
  { "threads", 0, 0, G_OPTION_ARG_INT, &opt_threads, "Client threads (default 4)", "T" },
  { "handshake-only", 0, 0, G_OPTION_ARG_NONE, &opt_handshake_only, "No request: close_notify after the handshake", NULL },
  { NULL }
};

#define CHECK(call) \
  G_STMT_START { \
    int check_ret = (call); \
    if (check_ret < 0) \
      { \
        g_printerr ("sm-bench-tls: %s: %s\n", #call, gnutls_strerror (check_ret)); \
        exit (EXIT_FAILURE); \
      } \
  } G_STMT_END

/* ---- PKI ---- */

typedef struct {
  gnutls_x509_privkey_t key;
  gnutls_x509_crt_t     crt;
} Cert;

static void
make_cert (Cert       *cert,
           const char *cn,
           gboolean    is_ca,
           gboolean    rsa,
           Cert       *issuer)
{
  static unsigned char serial = 1;
  time_t now = time (NULL);
  const unsigned char loopback[] = { 127, 0, 0, 1 };
  unsigned char key_id[64];
  size_t key_id_size = sizeof key_id;
  g_autofree char *dn = g_strdup_printf ("CN=%s", cn);

  CHECK (gnutls_x509_privkey_init (&cert->key));
  CHECK (gnutls_x509_privkey_generate (cert->key, rsa ? GNUTLS_PK_RSA : GNUTLS_PK_ECDSA,
                                       rsa ? 2048 : GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1),
                                       0));
  CHECK (gnutls_x509_crt_init (&cert->crt));
  CHECK (gnutls_x509_crt_set_version (cert->crt, 3));
  serial++;
  CHECK (gnutls_x509_crt_set_serial (cert->crt, &serial, 1));
  CHECK (gnutls_x509_crt_set_activation_time (cert->crt, now - 3600));
  CHECK (gnutls_x509_crt_set_expiration_time (cert->crt, now + 7 * 86400));
  CHECK (gnutls_x509_crt_set_dn (cert->crt, dn, NULL));
  CHECK (gnutls_x509_crt_set_key (cert->crt, cert->key));
  CHECK (gnutls_x509_crt_set_basic_constraints (cert->crt, is_ca, -1));
  if (is_ca)
    {
      CHECK (gnutls_x509_crt_set_key_usage (cert->crt, GNUTLS_KEY_KEY_CERT_SIGN));
    }
  else
    {
      CHECK (gnutls_x509_crt_set_key_usage (cert->crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                                       GNUTLS_KEY_KEY_ENCIPHERMENT));
      CHECK (gnutls_x509_crt_set_key_purpose_oid (cert->crt, GNUTLS_KP_TLS_WWW_SERVER, 0));
      CHECK (gnutls_x509_crt_set_subject_alt_name (cert->crt, GNUTLS_SAN_DNSNAME, "bench.test",
                                                   strlen ("bench.test"), GNUTLS_FSAN_APPEND));
      CHECK (gnutls_x509_crt_set_subject_alt_name (cert->crt, GNUTLS_SAN_DNSNAME, "localhost",
                                                   strlen ("localhost"), GNUTLS_FSAN_APPEND));
      CHECK (gnutls_x509_crt_set_subject_alt_name (cert->crt, GNUTLS_SAN_IPADDRESS, loopback,
                                                   sizeof loopback, GNUTLS_FSAN_APPEND));
    }
  CHECK (gnutls_x509_crt_get_key_id (cert->crt, 0, key_id, &key_id_size));
  CHECK (gnutls_x509_crt_set_subject_key_id (cert->crt, key_id, key_id_size));
  if (issuer != NULL)
    {
      key_id_size = sizeof key_id;
      CHECK (gnutls_x509_crt_get_key_id (issuer->crt, 0, key_id, &key_id_size));
      CHECK (gnutls_x509_crt_set_authority_key_id (cert->crt, key_id, key_id_size));
    }
  CHECK (gnutls_x509_crt_sign2 (cert->crt, issuer != NULL ? issuer->crt : cert->crt,
                                issuer != NULL ? issuer->key : cert->key, GNUTLS_DIG_SHA256, 0));
}

static void
write_datum (const char     *dir,
             const char     *name,
             gnutls_datum_t *datum,
             int             mode)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  if (!g_file_set_contents_full (path, (const char *) datum->data, datum->size,
                                 G_FILE_SET_CONTENTS_CONSISTENT, mode, &error))
    {
      g_printerr ("sm-bench-tls: %s\n", error->message);
      exit (EXIT_FAILURE);
    }
  gnutls_free (datum->data);
}

static int
write_pki (void)
{
  gboolean rsa = g_strcmp0 (opt_key_type, "rsa") == 0;
  Cert ca, server;
  gnutls_datum_t datum;

  if (opt_key_type != NULL && !rsa && g_strcmp0 (opt_key_type, "ecdsa") != 0)
    {
      g_printerr ("sm-bench-tls: --key-type is ecdsa or rsa\n");
      return EXIT_FAILURE;
    }

  make_cert (&ca, "sm-bench-tls CA", TRUE, rsa, NULL);
  make_cert (&server, "bench.test", FALSE, rsa, &ca);

  CHECK (gnutls_x509_crt_export2 (ca.crt, GNUTLS_X509_FMT_PEM, &datum));
  write_datum (opt_pki, "ca.pem", &datum, 0644);
  CHECK (gnutls_x509_crt_export2 (server.crt, GNUTLS_X509_FMT_PEM, &datum));
  write_datum (opt_pki, "cert.pem", &datum, 0644);
  CHECK (gnutls_x509_privkey_export2_pkcs8 (server.key, GNUTLS_X509_FMT_PEM, NULL,
                                            GNUTLS_PKCS_PLAIN, &datum));
  write_datum (opt_pki, "key.pem", &datum, 0600);

  gnutls_x509_crt_deinit (ca.crt);
  gnutls_x509_privkey_deinit (ca.key);
  gnutls_x509_crt_deinit (server.crt);
  gnutls_x509_privkey_deinit (server.key);
  return EXIT_SUCCESS;
}

/* ---- New connections per second ---- */

typedef struct {
  gnutls_certificate_credentials_t credentials;
  gint64                           deadline;
  guint64                          connections;
  guint64                          errors;
  char                            *first_error;
} Worker;

static int
connect_loopback (void)
{
  struct sockaddr_in address = { 0 };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;

  if (fd < 0)
    return -1;
  address.sin_family = AF_INET;
  address.sin_port = htons ((guint16) opt_port);
  address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect (fd, (struct sockaddr *) &address, sizeof address) != 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* One connection: handshake, request, the whole answer. NULL on success,
 * else what went wrong. */
static const char *
one_connection (Worker *worker)
{
  gnutls_session_t session;
  char response[MAX_RESPONSE + 1];
  gsize received = 0;
  const char *failure = NULL;
  ssize_t n;
  int fd = connect_loopback ();
  int ret;

  if (fd < 0)
    return g_strerror (errno);

  gnutls_init (&session, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL);
  gnutls_set_default_priority (session);
  gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, worker->credentials);
  if (opt_sni != NULL)
    gnutls_server_name_set (session, GNUTLS_NAME_DNS, opt_sni, strlen (opt_sni));
  gnutls_transport_set_int (session, fd);
  gnutls_handshake_set_timeout (session, 20000);

  do
    ret = gnutls_handshake (session);
  while (ret < 0 && !gnutls_error_is_fatal (ret));
  if (ret < 0)
    {
      failure = gnutls_strerror (ret);
      goto out;
    }
  if (opt_handshake_only)
    {
      /* the server may already be gone: only the handshake counts */
      gnutls_bye (session, GNUTLS_SHUT_WR);
      goto out;
    }

  do
    n = gnutls_record_send (session, REQUEST, strlen (REQUEST));
  while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
  if (n != (ssize_t) strlen (REQUEST))
    {
      failure = n < 0 ? gnutls_strerror ((int) n) : "short write";
      goto out;
    }

  /* Until the server closes; without close_notify is fine too */
  while (received < MAX_RESPONSE)
    {
      n = gnutls_record_recv (session, response + received, MAX_RESPONSE - received);
      if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
        continue;
      if (n <= 0)
        break;
      received += (gsize) n;
    }
  response[received] = '\0';
  if (!g_str_has_prefix (response, "HTTP/1.1 200 ") || strstr (response, "\r\n\r\nhello") == NULL)
    failure = "unexpected answer";

out:
  gnutls_deinit (session);
  close (fd);
  return failure;
}

static gpointer
worker_thread (gpointer data)
{
  Worker *worker = data;

  while (g_get_monotonic_time () < worker->deadline)
    {
      const char *failure = one_connection (worker);

      if (failure == NULL)
        {
          worker->connections++;
          continue;
        }
      worker->errors++;
      if (worker->first_error == NULL)
        worker->first_error = g_strdup (failure);
    }
  return NULL;
}

static int
measure_connections (void)
{
  gnutls_certificate_credentials_t credentials;
  g_autofree Worker *workers = NULL;
  g_autofree GThread **threads = NULL;
  guint64 connections = 0;
  guint64 errors = 0;
  gint64 start, elapsed;

  if (opt_port < 1 || opt_port > 65535 || opt_seconds < 1 || opt_threads < 1)
    {
      g_printerr ("sm-bench-tls: --connections needs --port N, --seconds and --threads > 0\n");
      return EXIT_FAILURE;
    }

  CHECK (gnutls_certificate_allocate_credentials (&credentials));
  workers = g_new0 (Worker, opt_threads);
  threads = g_new0 (GThread *, opt_threads);
  start = g_get_monotonic_time ();
  for (int i = 0; i < opt_threads; i++)
    {
      workers[i].credentials = credentials;
      workers[i].deadline = start + (gint64) opt_seconds * G_USEC_PER_SEC;
      threads[i] = g_thread_new ("client", worker_thread, &workers[i]);
    }
  for (int i = 0; i < opt_threads; i++)
    {
      g_thread_join (threads[i]);
      connections += workers[i].connections;
      errors += workers[i].errors;
    }
  elapsed = g_get_monotonic_time () - start;

  printf ("connections/s: %.0f\n", (double) connections * G_USEC_PER_SEC / (double) elapsed);
  printf ("errors: %" G_GUINT64_FORMAT "\n", errors);
  for (int i = 0; i < opt_threads; i++)
    {
      if (workers[i].first_error != NULL)
        {
          printf ("first error: %s\n", workers[i].first_error);
          break;
        }
    }
  for (int i = 0; i < opt_threads; i++)
    g_free (workers[i].first_error);
  gnutls_certificate_free_credentials (credentials);
  return EXIT_SUCCESS;
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("- TLS benchmark helper");
  g_autoptr(GError) error = NULL;

  signal (SIGPIPE, SIG_IGN);
  g_option_context_add_main_entries (context, option_entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("sm-bench-tls: %s\n", error->message);
      return EXIT_FAILURE;
    }

  if (opt_pki != NULL && !opt_connections)
    return write_pki ();
  if (opt_connections && opt_pki == NULL)
    return measure_connections ();

  g_printerr ("usage: sm-bench-tls --pki DIR | --connections --port N\n");
  return EXIT_FAILURE;
}
