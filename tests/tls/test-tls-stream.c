/* SPDX-License-Identifier: MIT */
/*
 * SmTlsCredentials and SmTlsStream against a GnuTLS client running in a
 * thread over a socketpair. Every certificate and key is generated here, at
 * test time (tls-test-support.c).
 */
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "sm-error.h"
#include "sm-tls-credentials.h"
#include "sm-tls-stream.h"
#include "tls-test-support.h"

/* Server: an SmTlsStream over one end of a socketpair, the client on the
 * other */

typedef struct {
  SmTlsStream *tls;
  gboolean     handshake_done;
  GError      *handshake_error;
  gboolean     done;           /* end of the server script */
  GError      *error;
  GString     *received;
  char         buffer[1000];   /* small on purpose: records get split */
  gsize        wanted;         /* collect_read() stops once received has this many */
  gboolean     got_wanted;
} Server;

/* Closed explicitly: a pending operation may still hold a reference, and
 * the client waits for the close */
static void
server_drop_tls (Server *server)
{
  if (server->tls != NULL)
    g_io_stream_close (G_IO_STREAM (server->tls), NULL, NULL);
  g_clear_object (&server->tls);
}

static void
server_free (Server *server)
{
  server_drop_tls (server);
  g_clear_error (&server->handshake_error);
  g_clear_error (&server->error);
  g_string_free (server->received, TRUE);
  g_free (server);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Server, server_free)

/* Set while the tests run again with their handshakes in a worker pool */
static SmTlsWorkers *test_workers;

static SmTlsStream *
new_server_stream (SmTlsCredentials  *creds,
                   int               *client_fd,
                   GError           **error)
{
  return test_server_stream_new (creds, test_workers, client_fd, NULL, error);
}

static void
start_pair (SmTlsCredentials  *creds,
            TestClient        *client,
            Server           **server_out,
            gboolean           start_client)
{
  g_autoptr(GError) error = NULL;
  Server *server = g_new0 (Server, 1);
  int fd;

  server->tls = new_server_stream (creds, &fd, &error);
  g_assert_no_error (error);
  server->received = g_string_new (NULL);

  if (start_client)
    test_client_start (client, fd);
  else
    client->fd = fd;
  *server_out = server;
}

static void
handshake_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Server *server = user_data;

  sm_tls_stream_handshake_finish (SM_TLS_STREAM (source), result, &server->handshake_error);
  server->handshake_done = TRUE;
}

static Server *
start_handshake (SmTlsCredentials *creds,
                 TestClient       *client)
{
  Server *server;

  start_pair (creds, client, &server, TRUE);
  sm_tls_stream_handshake_async (server->tls, 10, NULL, handshake_cb, server);
  return server;
}

static SmTlsCredentials *
credentials_with (TestCert   *first,
                  const char *first_id,
                  ...) G_GNUC_NULL_TERMINATED;

static SmTlsCredentials *
credentials_with (TestCert   *first,
                  const char *first_id,
                  ...)
{
  SmTlsCredentials *creds = sm_tls_credentials_new ();
  TestCert *cert = first;
  const char *id = first_id;
  va_list args;

  va_start (args, first_id);
  while (cert != NULL)
    {
      g_autoptr(GError) error = NULL;

      g_assert_true (sm_tls_credentials_add (creds, id, cert->cert_pem, cert->key_pem, &error));
      g_assert_no_error (error);
      cert = va_arg (args, TestCert *);
      if (cert != NULL)
        id = va_arg (args, const char *);
    }
  va_end (args);
  return creds;
}

/* Server scripts */

static void echo_read (Server *server);

static void
closed_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Server *server = user_data;

  g_io_stream_close_finish (G_IO_STREAM (source), result, &server->error);
  server->done = TRUE;
}

static void
echo_written_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Server *server = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &server->error))
    server->done = TRUE;
  else
    echo_read (server);
}

static void
echo_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Server *server = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &server->error);
  GIOStream *tls = G_IO_STREAM (server->tls);

  if (n < 0)
    server->done = TRUE;
  else if (n == 0)
    g_io_stream_close_async (tls, G_PRIORITY_DEFAULT, NULL, closed_cb, server);
  else
    g_output_stream_write_all_async (g_io_stream_get_output_stream (tls), server->buffer, n,
                                     G_PRIORITY_DEFAULT, NULL, echo_written_cb, server);
}

/* Echoes until EOF, then closes the whole stream */
static void
echo_read (Server *server)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (server->tls)),
                             server->buffer, sizeof server->buffer, G_PRIORITY_DEFAULT, NULL,
                             echo_read_cb, server);
}

static void collect_read (Server *server);

static void
collect_read_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Server *server = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &server->error);

  if (n <= 0)
    {
      server->done = TRUE;
      return;
    }
  g_string_append_len (server->received, server->buffer, n);
  if (server->wanted > 0 && server->received->len >= server->wanted)
    {
      server->got_wanted = TRUE;
      return;
    }
  collect_read (server);
}

/* Reads into server->received until EOF or an error */
static void
collect_read (Server *server)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (server->tls)),
                             server->buffer, sizeof server->buffer, G_PRIORITY_DEFAULT, NULL,
                             collect_read_cb, server);
}

static void
wait_handshake (Server *server)
{
  test_wait_for (&server->handshake_done, "the handshake");
  g_assert_no_error (server->handshake_error);
}

/* Tests */

static void
test_echo (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) client = test_client_new ("b.example.test", SCRIPT_ECHO);
  g_autoptr(Server) server = NULL;

  client->verify = TRUE;
  client->verify_host = "b.example.test";
  server = start_handshake (creds, client);
  wait_handshake (server);

  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (server->tls)),
                                   "welcome\n", 8, G_PRIORITY_DEFAULT, NULL, echo_written_cb, server);
  test_wait_for (&server->done, "the echo");
  test_client_finish (client);
  g_assert_no_error (server->error);
  g_assert_true (g_io_stream_is_closed (G_IO_STREAM (server->tls)));
  g_assert_true (g_io_stream_is_closed (sm_tls_stream_get_base_stream (server->tls)));
  g_assert_cmpint (client->handshake_ret, ==, 0);
  g_assert_cmpstr (client->peer_dn, ==, test_pki.b.dn);
}

/* An RSA certificate through each way TLS uses its key: a TLS 1.3 RSA-PSS
 * signature, a TLS 1.2 PKCS#1 v1.5 signature (ECDHE-RSA) and the TLS 1.2
 * RSA key exchange, which decrypts instead and which only a server
 * priority that names it allows (libcrypto signs where it is built in,
 * GnuTLS decrypts: sm-tls-rsa-signer.c) */
static void
test_rsa_key_uses (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.a, "a", NULL);
  g_autoptr(GError) error = NULL;
  const char *priorities[] = {
    "NORMAL:-VERS-ALL:+VERS-TLS1.3",
    "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA",
    "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA",
  };

  g_assert_true (sm_tls_credentials_set_priority (creds, SM_TLS_DEFAULT_PRIORITY ":+RSA", &error));
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (priorities); i++)
    {
      g_autoptr(TestClient) client = test_client_new ("a.example.test", SCRIPT_ECHO);
      g_autoptr(Server) server = NULL;

      g_test_message ("client priority %s", priorities[i]);
      client->verify = TRUE;
      client->verify_host = "a.example.test";
      client->priority = priorities[i];
      server = start_handshake (creds, client);
      wait_handshake (server);

      g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (server->tls)),
                                       "welcome\n", 8, G_PRIORITY_DEFAULT, NULL, echo_written_cb,
                                       server);
      test_wait_for (&server->done, "the echo");
      test_client_finish (client);
      g_assert_no_error (server->error);
      g_assert_cmpint (client->handshake_ret, ==, 0);
      g_assert_cmpuint (client->verify_status, ==, 0);
      g_assert_cmpstr (client->peer_dn, ==, test_pki.a.dn);
    }
}

static gboolean
set_flag_cb (GObject *stream, gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Two records that arrive in one read: once the first is read, the
 * stream must be readable for the second (which waits in the read-ahead
 * or in GnuTLS), as the socket has nothing more to say. A response head
 * and body written as two vectors go out as one record. */
static void
test_records (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) client = test_client_new ("b.example.test", SCRIPT_RECORDS);
  g_autoptr(Server) server = NULL;
  g_autoptr(GError) error = NULL;
  GOutputVector vectors[] = { { "head:", 5 }, { "body", 4 } };
  GPollableInputStream *input;
  GPollableOutputStream *output;
  gsize written = 0;

  server = start_handshake (creds, client);
  wait_handshake (server);
  /* Three bytes at a time: GnuTLS stops at the end of the first record,
   * and the second waits for us */
  input = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (G_IO_STREAM (server->tls)));
  for (guint i = 0; i < 2; i++)
    {
      gboolean ready = FALSE;
      GSource *readable = g_pollable_input_stream_create_source (input, NULL);
      char     part[3];

      g_source_set_callback (readable, G_SOURCE_FUNC (set_flag_cb), &ready, NULL);
      g_source_attach (readable, NULL);
      test_wait_for (&ready, i == 0 ? "the first record" : "the second record to be readable");
      g_source_destroy (readable);
      g_source_unref (readable);
      g_assert_cmpint (g_pollable_input_stream_read_nonblocking (input, part, sizeof part, NULL,
                                                                 &error),
                       ==, 3);
      g_assert_no_error (error);
      g_string_append_len (server->received, part, 3);
    }
  g_assert_cmpstr (server->received->str, ==, "onetwo");

  output = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (server->tls)));
  g_assert_cmpint (g_pollable_output_stream_writev_nonblocking (output, vectors,
                                                                G_N_ELEMENTS (vectors), &written,
                                                                NULL, &error),
                   ==, G_POLLABLE_RETURN_OK);
  g_assert_no_error (error);
  g_assert_cmpuint (written, ==, 9);

  server->wanted = 0;
  collect_read (server);
  test_wait_for (&server->done, "the client's close_notify");
  g_assert_no_error (server->error);
  server_drop_tls (server);
  test_client_finish (client);
  g_assert_cmpstr (client->first_record, ==, "head:body");
}

typedef struct {
  const char *server_name;
  const char *expected_id;
  TestCert   *expected;
} SelectionCase;

/* All handshakes run at the same time */
static void
check_selection (SmTlsCredentials    *creds,
                 const SelectionCase *cases,
                 guint                n_cases)
{
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) test_client_free);
  g_autoptr(GPtrArray) servers = g_ptr_array_new_with_free_func ((GDestroyNotify) server_free);

  for (guint i = 0; i < n_cases; i++)
    {
      TestClient *client = test_client_new (cases[i].server_name, SCRIPT_NONE);

      g_ptr_array_add (clients, client);
      g_ptr_array_add (servers, start_handshake (creds, client));
    }

  for (guint i = 0; i < n_cases; i++)
    {
      TestClient *client = g_ptr_array_index (clients, i);
      Server *server = g_ptr_array_index (servers, i);
      g_autofree char *lower = g_ascii_strdown (cases[i].server_name ? cases[i].server_name : "", -1);

      g_test_message ("server name %s", cases[i].server_name);
      wait_handshake (server);
      g_assert_cmpstr (sm_tls_stream_get_certificate_id (server->tls), ==, cases[i].expected_id);
      g_assert_cmpstr (sm_tls_stream_get_server_name (server->tls), ==,
                       cases[i].server_name != NULL ? lower : NULL);
      server_drop_tls (server);

      test_client_finish (client);
      g_assert_cmpint (client->handshake_ret, ==, 0);
      g_assert_cmpstr (client->peer_dn, ==, cases[i].expected->dn);
    }
}

/* Five certificates, "d" added last; with @newer also "a-new" (another
 * certificate for a.example.test) and then "star" (*.example.test) */
static SmTlsCredentials *
selection_credentials (gboolean newer)
{
  SmTlsCredentials *creds = credentials_with (&test_pki.cn_only, "cn", &test_pki.a, "a",
                                              &test_pki.b, "b", &test_pki.wild, "wild",
                                              &test_pki.d, "d", NULL);

  if (newer)
    {
      g_assert_true (sm_tls_credentials_add (creds, "a-new", test_pki.a_new.cert_pem,
                                             test_pki.a_new.key_pem, NULL));
      g_assert_true (sm_tls_credentials_add (creds, "star", test_pki.wild_example.cert_pem,
                                             test_pki.wild_example.key_pem, NULL));
    }
  return creds;
}

static void
test_sni_selection (void)
{
  g_autoptr(SmTlsCredentials) creds = selection_credentials (FALSE);
  const SelectionCase cases[] = {
    { "a.example.test", "a", &test_pki.a },
    { "B.Example.Test", "b", &test_pki.b },
    { "x.wild.test", "wild", &test_pki.wild },
    { "cn.example.test", "cn", &test_pki.cn_only },
    { "deep.x.wild.test", "d", &test_pki.d },   /* a wildcard covers one label */
    { "wild.test", "d", &test_pki.d },
    { "unknown.test", "d", &test_pki.d },
    { NULL, "d", &test_pki.d },                 /* no SNI: most recently added */
  };

  check_selection (creds, cases, G_N_ELEMENTS (cases));
}

/* The newest exact match wins, even over a more recent wildcard */
static void
test_sni_selection_newest (void)
{
  g_autoptr(SmTlsCredentials) creds = selection_credentials (TRUE);
  const SelectionCase cases[] = {
    { "a.example.test", "a-new", &test_pki.a_new },
    { "other.example.test", "star", &test_pki.wild_example },
    { "unknown.test", "star", &test_pki.wild_example },
  };

  check_selection (creds, cases, G_N_ELEMENTS (cases));
}

/* A removed certificate is no longer chosen: the older one is again */
static void
test_sni_selection_after_remove (void)
{
  g_autoptr(SmTlsCredentials) creds = selection_credentials (TRUE);
  const SelectionCase cases[] = {
    { "a.example.test", "a", &test_pki.a },
    { "unknown.test", "star", &test_pki.wild_example },
  };

  g_assert_true (sm_tls_credentials_remove (creds, "a-new"));
  g_assert_false (sm_tls_credentials_remove (creds, "a-new"));
  g_assert_cmpuint (sm_tls_credentials_get_n_certificates (creds), ==, 6);
  check_selection (creds, cases, G_N_ELEMENTS (cases));
}

static void
test_key_formats (void)
{
  g_autoptr(SmTlsCredentials) creds = sm_tls_credentials_new ();
  g_autoptr(GError) error = NULL;
  const SelectionCase cases[] = {
    { "a.example.test", "rsa-pkcs8", &test_pki.a },
    { "b.example.test", "ec-pkcs8", &test_pki.b },
  };

  g_assert_true (g_str_has_prefix (test_pki.a.key_pem, "-----BEGIN RSA PRIVATE KEY-----"));
  g_assert_true (g_str_has_prefix (test_pki.a.key_pkcs8_pem, "-----BEGIN PRIVATE KEY-----"));
  g_assert_true (g_str_has_prefix (test_pki.b.key_pem, "-----BEGIN EC PRIVATE KEY-----"));
  g_assert_true (g_str_has_prefix (test_pki.b.key_pkcs8_pem, "-----BEGIN PRIVATE KEY-----"));

  sm_tls_credentials_add (creds, "rsa-pkcs1", test_pki.a.cert_pem, test_pki.a.key_pem, &error);
  g_assert_no_error (error);
  sm_tls_credentials_add (creds, "rsa-pkcs8", test_pki.a.cert_pem, test_pki.a.key_pkcs8_pem, &error);
  g_assert_no_error (error);
  sm_tls_credentials_add (creds, "ec-sec1", test_pki.b.cert_pem, test_pki.b.key_pem, &error);
  g_assert_no_error (error);
  sm_tls_credentials_add (creds, "ec-pkcs8", test_pki.b.cert_pem, test_pki.b.key_pkcs8_pem, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sm_tls_credentials_get_n_certificates (creds), ==, 4);

  check_selection (creds, cases, G_N_ELEMENTS (cases));
}

static void
assert_add_fails (SmTlsCredentials *creds,
                  const char       *cert_pem,
                  const char       *key_pem,
                  const char       *expected_message_prefix)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (sm_tls_credentials_add (creds, "bad", cert_pem, key_pem, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_TLS);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, expected_message_prefix));
}

static void
test_certificate_errors (void)
{
  g_autoptr(SmTlsCredentials) creds = sm_tls_credentials_new ();
  const char *broken_cert = "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n";
  const char *broken_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";

  assert_add_fails (creds, "garbage", test_pki.b.key_pem, "no certificate in TLS certificate PEM");
  assert_add_fails (creds, test_pki.b.key_pem, test_pki.b.key_pem, "no certificate in TLS certificate PEM");
  assert_add_fails (creds, broken_cert, test_pki.b.key_pem, "TLS certificate could not be parsed: ");
  assert_add_fails (creds, test_pki.b.cert_pem, broken_key, "TLS private key could not be parsed: ");
  assert_add_fails (creds, test_pki.b.cert_pem, "", "TLS private key could not be parsed: ");
  assert_add_fails (creds, test_pki.b.cert_pem, NULL, "TLS private key could not be parsed: ");
  assert_add_fails (creds, test_pki.b.cert_pem, test_pki.d.key_pem, "TLS private key does not match the certificate");
  assert_add_fails (creds, test_pki.a.cert_pem, test_pki.b.key_pkcs8_pem, "TLS private key does not match the certificate");
  g_assert_cmpuint (sm_tls_credentials_get_n_certificates (creds), ==, 0);
}

/* Refused, and the priority in use stays */
static void
test_invalid_priority (void)
{
  g_autoptr(SmTlsCredentials) creds = sm_tls_credentials_new ();
  g_autoptr(GError) error = NULL;

  g_assert_false (sm_tls_credentials_set_priority (creds, "NORMAL:+NO-SUCH-THING", &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_TLS);
  g_assert_cmpstr (sm_tls_credentials_get_priority (creds), ==, SM_TLS_DEFAULT_PRIORITY);
}

static void
test_invalid_alpn (void)
{
  g_autoptr(SmTlsCredentials) creds = sm_tls_credentials_new ();
  g_autoptr(GError) error = NULL;
  const char *bad_alpn[] = { "a-protocol-name-longer-than-32-bytes", NULL };

  g_assert_false (sm_tls_credentials_set_alpn_protocols (creds, bad_alpn, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT);
  g_assert_null (sm_tls_credentials_get_alpn_protocols (creds));
}

/* In a process whose GnuTLS configuration leaves the default priority
 * string nothing to allow */
static void
check_default_priority_refused (void)
{
  g_autoptr(SmTlsCredentials) creds = NULL;
  g_autoptr(SmTlsStream) tls = NULL;
  g_autoptr(GError) error = NULL;
  int client_fd;

  g_test_expect_message ("socketmaster-tls", G_LOG_LEVEL_WARNING,
                         "*default TLS priority string, refusing TLS handshakes*");
  creds = credentials_with (&test_pki.b, "b", NULL);
  g_test_assert_expected_messages ();
  g_assert_null (sm_tls_credentials_get_priority (creds));

  tls = new_server_stream (creds, &client_fd, &error);
  close (client_fd);
  g_assert_null (tls);
  g_assert_error (error, SM_ERROR, SM_ERROR_TLS);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "default TLS priority string"));
  g_clear_error (&error);

  /* a priority string GnuTLS accepts lifts it */
  sm_tls_credentials_set_priority (creds, "NORMAL:-VERS-ALL:+VERS-TLS1.1", &error);
  g_assert_no_error (error);
  tls = new_server_stream (creds, &client_fd, &error);
  close (client_fd);
  g_assert_no_error (error);
  g_assert_nonnull (tls);
}

/* GnuTLS reads its system-wide configuration as it starts: the test runs
 * again in a subprocess started with one that disables TLS 1.2 and 1.3 */
static void
test_default_priority_refused (void)
{
  const char *config = "[overrides]\ndisabled-version = tls1.3\ndisabled-version = tls1.2\n";
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  int fd;

  if (g_test_subprocess ())
    {
      check_default_priority_refused ();
      return;
    }

  fd = g_file_open_tmp ("test-tls-gnutls-XXXXXX.conf", &path, &error);
  g_assert_no_error (error);
  close (fd);
  g_file_set_contents (path, config, -1, &error);
  g_assert_no_error (error);

  /* no other thread runs at this point */
  g_setenv ("GNUTLS_SYSTEM_PRIORITY_FILE", path, TRUE);
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_unsetenv ("GNUTLS_SYSTEM_PRIORITY_FILE");
  g_unlink (path);
  g_test_trap_assert_passed ();
}

/* The intermediate is served with the leaf: the client verifies the chain */
static void
test_chain (void)
{
  g_autoptr(SmTlsCredentials) creds = sm_tls_credentials_new ();
  g_autoptr(TestClient) client = test_client_new ("chain.example.test", SCRIPT_NONE);
  g_autoptr(Server) server = NULL;
  g_autoptr(GError) error = NULL;

  sm_tls_credentials_add (creds, "chain", test_pki.chain_pem, test_pki.chain.key_pem, &error);
  g_assert_no_error (error);
  client->verify = TRUE;
  client->verify_host = "chain.example.test";
  server = start_handshake (creds, client);
  wait_handshake (server);
  server_drop_tls (server);
  test_client_finish (client);
  g_assert_cmpint (client->handshake_ret, ==, 0);
  g_assert_cmpuint (client->verify_status, ==, 0);
  g_assert_cmpuint (client->n_peer_certs, ==, 2);
  g_assert_cmpstr (client->peer_dn, ==, test_pki.chain.dn);
}

/* The control: without the intermediate the client cannot verify */
static void
test_chain_leaf_only (void)
{
  g_autoptr(SmTlsCredentials) leaf_only = sm_tls_credentials_new ();
  g_autoptr(TestClient) unverifiable = test_client_new ("chain.example.test", SCRIPT_NONE);
  g_autoptr(Server) leaf_only_server = NULL;
  g_autoptr(GError) error = NULL;

  sm_tls_credentials_add (leaf_only, "leaf", test_pki.chain.cert_pem, test_pki.chain.key_pem, &error);
  g_assert_no_error (error);
  unverifiable->verify = TRUE;
  unverifiable->verify_host = "chain.example.test";
  leaf_only_server = start_handshake (leaf_only, unverifiable);
  test_wait_for (&leaf_only_server->handshake_done, "the handshake");
  g_assert_error (leaf_only_server->handshake_error, SM_ERROR, SM_ERROR_TLS);
  test_client_finish (unverifiable);
  g_assert_cmpint (unverifiable->handshake_ret, <, 0);
  g_assert_true (unverifiable->verify_status & GNUTLS_CERT_SIGNER_NOT_FOUND);
}

/* Added with a warning, and served */
static void
check_invalid_now_accepted (const char *id,
                            TestCert   *cert,
                            const char *warning_pattern,
                            const char *server_name,
                            unsigned    verify_flag)
{
  g_autoptr(SmTlsCredentials) creds = sm_tls_credentials_new ();
  g_autoptr(TestClient) client = test_client_new (server_name, SCRIPT_NONE);
  g_autoptr(Server) server = NULL;
  g_autoptr(GError) error = NULL;

  g_test_expect_message ("socketmaster-tls", G_LOG_LEVEL_WARNING, warning_pattern);
  sm_tls_credentials_add (creds, id, cert->cert_pem, cert->key_pem, &error);
  g_assert_no_error (error);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (sm_tls_credentials_get_n_certificates (creds), ==, 1);

  server = start_handshake (creds, client);
  wait_handshake (server);
  g_assert_cmpstr (sm_tls_stream_get_certificate_id (server->tls), ==, id);
  server_drop_tls (server);
  test_client_finish (client);
  g_assert_cmpint (client->handshake_ret, ==, 0);
  g_assert_cmpstr (client->peer_dn, ==, cert->dn);
  g_assert_true (client->verify_status & verify_flag);
}

static void
test_expired_accepted (void)
{
  check_invalid_now_accepted ("expired", &test_pki.expired,
                              "*\"expired\"*CN=expired.example.test*expired on*",
                              "expired.example.test", GNUTLS_CERT_EXPIRED);
}

static void
test_not_yet_valid_accepted (void)
{
  check_invalid_now_accepted ("future", &test_pki.future,
                              "*\"future\"*CN=future.example.test*not valid before*",
                              "future.example.test", GNUTLS_CERT_NOT_ACTIVATED);
}

static void
test_io_before_handshake (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) client = test_client_new (NULL, SCRIPT_NONE);
  g_autoptr(Server) server = NULL;
  g_autoptr(GError) error = NULL;
  GInputStream *input;
  GOutputStream *output;
  char buffer[16];

  start_pair (creds, client, &server, FALSE);

  input = g_io_stream_get_input_stream (G_IO_STREAM (server->tls));
  g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (input), buffer, sizeof buffer,
                                            NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_clear_error (&error);

  output = g_io_stream_get_output_stream (G_IO_STREAM (server->tls));
  g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (output), "x", 1, NULL,
                                              &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  close (client->fd);
}

static void
test_handshake_timeout (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) client = test_client_new (NULL, SCRIPT_NONE);
  g_autoptr(Server) server = NULL;

  /* the client end stays silent */
  start_pair (creds, client, &server, FALSE);

  sm_tls_stream_handshake_async (server->tls, 1, NULL, handshake_cb, server);
  test_wait_for (&server->handshake_done, "the handshake timeout");
  g_assert_error (server->handshake_error, SM_ERROR, SM_ERROR_TIMED_OUT);
  g_assert_null (sm_tls_stream_get_certificate_id (server->tls));
  close (client->fd);
}

static void
check_refused (SmTlsCredentials *creds,
               const char       *client_priority)
{
  g_autoptr(TestClient) client = test_client_new ("b.example.test", SCRIPT_NONE);
  g_autoptr(Server) server = NULL;

  client->priority = client_priority;
  server = start_handshake (creds, client);
  test_wait_for (&server->handshake_done, "the handshake");
  g_assert_error (server->handshake_error, SM_ERROR, SM_ERROR_TLS);
  g_test_message ("%s", server->handshake_error->message);
  server_drop_tls (server);
  test_client_finish (client);
  g_assert_cmpint (client->handshake_ret, <, 0);
}

/* TLS 1.2 and 1.3 only, by default */
static void
test_old_tls_refused (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);

  check_refused (creds, "NORMAL:-VERS-ALL:+VERS-TLS1.1");
  check_refused (creds, "NORMAL:-VERS-ALL:+VERS-TLS1.0");
}

/* The priority string is what sessions get */
static void
test_priority_applies (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(GError) error = NULL;

  sm_tls_credentials_set_priority (creds, "NORMAL:-VERS-ALL:+VERS-TLS1.3", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sm_tls_credentials_get_priority (creds), ==, "NORMAL:-VERS-ALL:+VERS-TLS1.3");
  check_refused (creds, "NORMAL:-VERS-ALL:+VERS-TLS1.2");
}

static SmTlsCredentials *
credentials_with_alpn (void)
{
  SmTlsCredentials *creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(GError) error = NULL;
  const char *protocols[] = { "http/1.1", NULL };

  sm_tls_credentials_set_alpn_protocols (creds, protocols, &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (sm_tls_credentials_get_alpn_protocols (creds), protocols);
  return creds;
}

static void
test_alpn (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with_alpn ();
  g_autoptr(TestClient) client = test_client_new ("b.example.test", SCRIPT_NONE);
  g_autoptr(Server) server = NULL;

  client->offer_alpn = TRUE;
  server = start_handshake (creds, client);
  wait_handshake (server);
  g_assert_cmpstr (sm_tls_stream_get_alpn (server->tls), ==, "http/1.1");
  server_drop_tls (server);
  test_client_finish (client);
  g_assert_cmpstr (client->alpn, ==, "http/1.1");
}

/* A client that offers no protocol still connects, without ALPN */
static void
test_alpn_not_offered (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with_alpn ();
  g_autoptr(TestClient) plain_client = test_client_new ("b.example.test", SCRIPT_NONE);
  g_autoptr(Server) plain_server = NULL;

  plain_server = start_handshake (creds, plain_client);
  wait_handshake (plain_server);
  g_assert_null (sm_tls_stream_get_alpn (plain_server->tls));
  g_clear_object (&plain_server->tls);
  test_client_finish (plain_client);
  g_assert_null (plain_client->alpn);
}

static void
half_close_closed_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  Server *server = user_data;

  if (!g_output_stream_close_finish (G_OUTPUT_STREAM (source), result, &server->error))
    server->done = TRUE;
  else
    collect_read (server);
}

static void
half_close_written_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  Server *server = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &server->error))
    server->done = TRUE;
  else
    g_output_stream_close_async (G_OUTPUT_STREAM (source), G_PRIORITY_DEFAULT, NULL,
                                 half_close_closed_cb, server);
}

static void
test_half_close (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) client = test_client_new ("b.example.test", SCRIPT_HALF_CLOSE);
  g_autoptr(Server) server = start_handshake (creds, client);

  wait_handshake (server);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (server->tls)),
                                   "bye", 3, G_PRIORITY_DEFAULT, NULL, half_close_written_cb, server);
  test_wait_for (&server->done, "the half-closed exchange");
  g_assert_no_error (server->error);
  g_assert_cmpstr (server->received->str, ==, "still here");
  test_client_finish (client);
}

static void
test_bulk (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) client = test_client_new ("b.example.test", SCRIPT_BULK);
  g_autoptr(Server) server = start_handshake (creds, client);
  GIOStream *base = sm_tls_stream_get_base_stream (server->tls);
  GSocket *socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (base));

  /* a small socket buffer: GnuTLS often holds the end of a record */
  g_socket_set_option (socket, SOL_SOCKET, SO_SNDBUF, 4096, NULL);
  wait_handshake (server);
  echo_read (server);
  test_wait_for (&server->done, "the bulk echo");
  g_assert_no_error (server->error);
  test_client_finish (client);
}

static void
test_blocking_io (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) client = test_client_new ("b.example.test", SCRIPT_BLOCKING);
  g_autoptr(Server) server = start_handshake (creds, client);
  g_autoptr(GError) error = NULL;
  GIOStream *tls;
  char buffer[8];
  gsize n = 0;

  wait_handshake (server);
  tls = G_IO_STREAM (server->tls);
  g_input_stream_read_all (g_io_stream_get_input_stream (tls), buffer, 4, &n, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (buffer, n, "ping", 4);
  g_output_stream_write_all (g_io_stream_get_output_stream (tls), "pong", 4, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_input_stream_read (g_io_stream_get_input_stream (tls), buffer, sizeof buffer,
                                        NULL, &error), ==, 0);
  g_assert_no_error (error);
  g_io_stream_close (tls, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_io_stream_is_closed (sm_tls_stream_get_base_stream (server->tls)));
  test_client_finish (client);
}

static void
test_truncation (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) client = test_client_new ("b.example.test", SCRIPT_TRUNCATE);
  g_autoptr(Server) server = start_handshake (creds, client);

  wait_handshake (server);
  collect_read (server);
  test_wait_for (&server->done, "the truncated stream");
  g_assert_error (server->error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_cmpstr (server->received->str, ==, "partial");
  server_drop_tls (server);
  test_client_finish (client);
}

/* A proxy may take a plain close as the end of the stream */
static void
test_truncation_is_eof (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) client = test_client_new ("b.example.test", SCRIPT_TRUNCATE);
  g_autoptr(Server) server = NULL;

  /* TLS 1.3 would send a session ticket after the handshake, which the
   * client leaves unread: its close would then be a reset, not a FIN */
  client->priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
  server = start_handshake (creds, client);
  sm_tls_stream_set_truncation_is_eof (server->tls, TRUE);
  wait_handshake (server);
  collect_read (server);
  test_wait_for (&server->done, "the truncated stream");
  g_assert_no_error (server->error);
  g_assert_cmpstr (server->received->str, ==, "partial");
  server_drop_tls (server);
  test_client_finish (client);
}

static void
test_renegotiation_refused (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) client = test_client_new ("b.example.test", SCRIPT_RENEGOTIATE);
  g_autoptr(Server) server = NULL;

  client->priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
  server = start_handshake (creds, client);
  wait_handshake (server);
  collect_read (server);
  test_wait_for (&server->done, "the renegotiation attempt");
  g_assert_error (server->error, SM_ERROR, SM_ERROR_TLS);
  g_assert_nonnull (strstr (server->error->message, "renegotiation refused"));
  server_drop_tls (server);
  test_client_finish (client);
}

static void
test_removed_during_handshake (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.a, "a", &test_pki.d, "d", NULL);
  g_autoptr(TestClient) client = test_client_new ("a.example.test", SCRIPT_NONE);
  g_autoptr(Server) server = NULL;
  GSocket *socket;
  struct pollfd pfd = { 0, POLLIN, 0 };

  client->verify = TRUE;
  client->verify_host = "a.example.test";
  start_pair (creds, client, &server, TRUE);

  /* once the ClientHello is there, the first handshake step picks "a" */
  socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (sm_tls_stream_get_base_stream (server->tls)));
  pfd.fd = g_socket_get_fd (socket);
  g_assert_cmpint (poll (&pfd, 1, 20000), ==, 1);
  sm_tls_stream_handshake_async (server->tls, 10, NULL, handshake_cb, server);
  g_assert_false (server->handshake_done);
  g_assert_true (sm_tls_credentials_remove (creds, "a"));
  g_clear_object (&creds);

  wait_handshake (server);
  g_assert_cmpstr (sm_tls_stream_get_certificate_id (server->tls), ==, "a");
  server_drop_tls (server);
  test_client_finish (client);
  g_assert_cmpint (client->handshake_ret, ==, 0);
  g_assert_cmpstr (client->peer_dn, ==, test_pki.a.dn);
}

static void
test_resumption (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) first = test_client_new ("b.example.test", SCRIPT_NONE);
  g_autoptr(TestClient) second = test_client_new ("b.example.test", SCRIPT_NONE);
  g_autoptr(Server) first_server = NULL;
  g_autoptr(Server) second_server = NULL;

  first->save_session = TRUE;
  first_server = start_handshake (creds, first);
  wait_handshake (first_server);
  g_clear_object (&first_server->tls);
  test_client_finish (first);
  g_assert_false (first->resumed);
  g_assert_cmpuint (first->session_data.size, >, 0);

  second->resume_data = first->session_data;
  second_server = start_handshake (creds, second);
  wait_handshake (second_server);
  g_assert_cmpstr (sm_tls_stream_get_certificate_id (second_server->tls), ==, "b");
  g_clear_object (&second_server->tls);
  test_client_finish (second);
  g_assert_true (second->resumed);
}

/* Writes to a client that does not read until nothing more fits */
static void
fill_buffers (Server *server)
{
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (server->tls));
  g_autoptr(GError) error = NULL;
  char chunk[4096] = { 0 };

  while (g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (output), chunk,
                                                     sizeof chunk, NULL, &error) > 0)
    ;
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
}

static void
test_close_linger (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) client = test_client_new ("b.example.test", SCRIPT_STALL);
  g_autoptr(Server) server = NULL;
  GIOStream *base;
  int release[2];

  g_assert_cmpint (pipe (release), ==, 0);
  client->release_fd = release[0];
  server = start_handshake (creds, client);
  wait_handshake (server);
  base = sm_tls_stream_get_base_stream (server->tls);
  fill_buffers (server);

  /* close_notify cannot go out: closing gives up after the linger time */
  g_io_stream_close_async (G_IO_STREAM (server->tls), G_PRIORITY_DEFAULT, NULL, closed_cb, server);
  g_assert_false (g_io_stream_is_closed (base));
  test_wait_for (&server->done, "the close to give up");
  g_assert_error (server->error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_true (g_io_stream_is_closed (base));

  g_assert_cmpint (write (release[1], "x", 1), ==, 1);
  test_client_finish (client);
  g_assert_cmpint (client->drain_result, <, 0);
  close (release[0]);
  close (release[1]);
}

static void
test_close_in_background (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) client = test_client_new ("b.example.test", SCRIPT_STALL);
  g_autoptr(Server) server = NULL;
  g_autoptr(GIOStream) base = NULL;
  int release[2];

  g_assert_cmpint (pipe (release), ==, 0);
  client->release_fd = release[0];
  server = start_handshake (creds, client);
  wait_handshake (server);
  base = g_object_ref (sm_tls_stream_get_base_stream (server->tls));
  fill_buffers (server);

  /* dropped without closing: the stream lives on until its data and
   * close_notify are out, and closes the base only then */
  server_drop_tls (server);
  g_assert_false (g_io_stream_is_closed (base));
  g_assert_cmpint (write (release[1], "x", 1), ==, 1);
  test_client_finish (client);
  g_assert_cmpint (client->drain_result, ==, 0);
  g_assert_true (g_io_stream_is_closed (base));
  close (release[0]);
  close (release[1]);
}

static void
test_close_during_handshake (void)
{
  g_autoptr(SmTlsCredentials) creds = credentials_with (&test_pki.b, "b", NULL);
  g_autoptr(TestClient) client = test_client_new (NULL, SCRIPT_NONE);
  g_autoptr(Server) server = NULL;
  g_autoptr(GError) error = NULL;

  start_pair (creds, client, &server, FALSE);
  sm_tls_stream_handshake_async (server->tls, 10, NULL, handshake_cb, server);
  g_io_stream_close (G_IO_STREAM (server->tls), NULL, &error);
  g_assert_no_error (error);
  test_wait_for (&server->handshake_done, "the handshake to fail");
  g_assert_error (server->handshake_error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_assert_true (g_io_stream_is_closed (sm_tls_stream_get_base_stream (server->tls)));
  close (client->fd);
}

typedef struct {
  const char *path;
  GTestFunc   func;
} TestCase;

static const TestCase test_cases[] = {
  { "/tls/echo", test_echo },
  { "/tls/sni-selection", test_sni_selection },
  { "/tls/sni-selection/newest", test_sni_selection_newest },
  { "/tls/sni-selection/after-remove", test_sni_selection_after_remove },
  { "/tls/key-formats", test_key_formats },
  { "/tls/rsa-key-uses", test_rsa_key_uses },
  { "/tls/credentials/certificate-errors", test_certificate_errors },
  { "/tls/credentials/invalid-priority", test_invalid_priority },
  { "/tls/credentials/invalid-alpn", test_invalid_alpn },
  { "/tls/credentials/default-priority-refused", test_default_priority_refused },
  { "/tls/chain", test_chain },
  { "/tls/chain/leaf-only", test_chain_leaf_only },
  { "/tls/expired-accepted", test_expired_accepted },
  { "/tls/not-yet-valid-accepted", test_not_yet_valid_accepted },
  { "/tls/io-before-handshake", test_io_before_handshake },
  { "/tls/handshake-timeout", test_handshake_timeout },
  { "/tls/old-tls-refused", test_old_tls_refused },
  { "/tls/priority-applies", test_priority_applies },
  { "/tls/alpn", test_alpn },
  { "/tls/alpn/not-offered", test_alpn_not_offered },
  { "/tls/half-close", test_half_close },
  { "/tls/bulk", test_bulk },
  { "/tls/records", test_records },
  { "/tls/blocking-io", test_blocking_io },
  { "/tls/truncation", test_truncation },
  { "/tls/truncation-is-eof", test_truncation_is_eof },
  { "/tls/renegotiation-refused", test_renegotiation_refused },
  { "/tls/removed-during-handshake", test_removed_during_handshake },
  { "/tls/resumption", test_resumption },
  { "/tls/close-linger", test_close_linger },
  { "/tls/close-in-background", test_close_in_background },
  { "/tls/close-during-handshake", test_close_during_handshake },
};

/* The same test with each handshake step in one of two worker threads */
static void
run_with_workers (gconstpointer data)
{
  const TestCase *test_case = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(SmTlsWorkers) workers = sm_tls_workers_new (2, &error);

  g_assert_no_error (error);
  test_workers = workers;
  test_case->func ();
  test_workers = NULL;
  /* every handshake has ended: no step is left in the pool */
  g_assert_cmpuint (sm_tls_workers_get_n_jobs_run (workers), >, 0);
}

int
main (int    argc,
      char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  test_pki_make ();

  for (guint i = 0; i < G_N_ELEMENTS (test_cases); i++)
    g_test_add_func (test_cases[i].path, test_cases[i].func);
  /* "/tls/..." again as "/tls-workers/...", those with a handshake;
   * removed-during-handshake needs the first step to run within
   * sm_tls_stream_handshake_async(), which a worker does later */
  for (guint i = 0; i < G_N_ELEMENTS (test_cases); i++)
    {
      g_autofree char *path = NULL;

      if (g_str_has_prefix (test_cases[i].path, "/tls/credentials/") ||
          g_str_equal (test_cases[i].path, "/tls/io-before-handshake") ||
          g_str_equal (test_cases[i].path, "/tls/removed-during-handshake"))
        continue;
      path = g_strconcat ("/tls-workers", test_cases[i].path + strlen ("/tls"), NULL);
      g_test_add_data_func (path, &test_cases[i], run_with_workers);
    }

  ret = g_test_run ();
  test_pki_free ();
  return ret;
}
