/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls-test-support.h"

TestPki test_pki;

/* PKI generation */

#define CHECK_GNUTLS(call) g_assert_cmpint ((call), >=, 0)

char *
datum_to_string (gnutls_datum_t *datum)
{
  char *text = g_strndup ((const char *) datum->data, datum->size);

  gnutls_free (datum->data);
  return text;
}

void
test_cert_make (TestCert    *cert,
                const char  *cn,
                const char **dns_names,
                gboolean     rsa,
                TestCert    *issuer,
                gboolean     is_ca,
                gint64       not_before_days,
                gint64       not_after_days)
{
  static guint32 serial = 1;
  unsigned char serial_bytes[4];
  unsigned char key_id[64];
  size_t key_id_size = sizeof key_id;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gnutls_datum_t datum;

  CHECK_GNUTLS (gnutls_x509_privkey_init (&cert->key));
  CHECK_GNUTLS (gnutls_x509_privkey_generate (cert->key, rsa ? GNUTLS_PK_RSA : GNUTLS_PK_ECDSA,
                                              rsa ? 2048 : GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1),
                                              0));

  serial++;
  serial_bytes[0] = serial >> 24;
  serial_bytes[1] = serial >> 16;
  serial_bytes[2] = serial >> 8;
  serial_bytes[3] = serial;

  cert->dn = g_strdup_printf ("CN=%s", cn);
  CHECK_GNUTLS (gnutls_x509_crt_init (&cert->crt));
  CHECK_GNUTLS (gnutls_x509_crt_set_version (cert->crt, 3));
  CHECK_GNUTLS (gnutls_x509_crt_set_serial (cert->crt, serial_bytes, sizeof serial_bytes));
  CHECK_GNUTLS (gnutls_x509_crt_set_activation_time (cert->crt, now + not_before_days * 86400));
  CHECK_GNUTLS (gnutls_x509_crt_set_expiration_time (cert->crt, now + not_after_days * 86400));
  CHECK_GNUTLS (gnutls_x509_crt_set_dn (cert->crt, cert->dn, NULL));
  CHECK_GNUTLS (gnutls_x509_crt_set_key (cert->crt, cert->key));
  for (guint i = 0; dns_names != NULL && dns_names[i] != NULL; i++)
    CHECK_GNUTLS (gnutls_x509_crt_set_subject_alt_name (cert->crt, GNUTLS_SAN_DNSNAME, dns_names[i],
                                                        strlen (dns_names[i]), GNUTLS_FSAN_APPEND));
  CHECK_GNUTLS (gnutls_x509_crt_set_basic_constraints (cert->crt, is_ca, -1));
  if (is_ca)
    {
      CHECK_GNUTLS (gnutls_x509_crt_set_key_usage (cert->crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN));
    }
  else
    {
      /* as RSA server certificates are issued: fit for the RSA key exchange too */
      unsigned int usage = GNUTLS_KEY_DIGITAL_SIGNATURE | (rsa ? GNUTLS_KEY_KEY_ENCIPHERMENT : 0);

      CHECK_GNUTLS (gnutls_x509_crt_set_key_usage (cert->crt, usage));
      CHECK_GNUTLS (gnutls_x509_crt_set_key_purpose_oid (cert->crt, GNUTLS_KP_TLS_WWW_SERVER, 0));
    }
  CHECK_GNUTLS (gnutls_x509_crt_get_key_id (cert->crt, 0, key_id, &key_id_size));
  CHECK_GNUTLS (gnutls_x509_crt_set_subject_key_id (cert->crt, key_id, key_id_size));
  if (issuer != NULL)
    {
      key_id_size = sizeof key_id;
      CHECK_GNUTLS (gnutls_x509_crt_get_key_id (issuer->crt, 0, key_id, &key_id_size));
      CHECK_GNUTLS (gnutls_x509_crt_set_authority_key_id (cert->crt, key_id, key_id_size));
    }
  CHECK_GNUTLS (gnutls_x509_crt_sign2 (cert->crt, issuer != NULL ? issuer->crt : cert->crt,
                                       issuer != NULL ? issuer->key : cert->key,
                                       GNUTLS_DIG_SHA256, 0));

  CHECK_GNUTLS (gnutls_x509_crt_export2 (cert->crt, GNUTLS_X509_FMT_PEM, &datum));
  cert->cert_pem = datum_to_string (&datum);
  CHECK_GNUTLS (gnutls_x509_privkey_export2 (cert->key, GNUTLS_X509_FMT_PEM, &datum));
  cert->key_pem = datum_to_string (&datum);
  CHECK_GNUTLS (gnutls_x509_privkey_export2_pkcs8 (cert->key, GNUTLS_X509_FMT_PEM, NULL,
                                                   GNUTLS_PKCS_PLAIN, &datum));
  cert->key_pkcs8_pem = datum_to_string (&datum);
}

void
test_cert_free (TestCert *cert)
{
  gnutls_x509_crt_deinit (cert->crt);
  gnutls_x509_privkey_deinit (cert->key);
  g_free (cert->cert_pem);
  g_free (cert->key_pem);
  g_free (cert->key_pkcs8_pem);
  g_free (cert->dn);
}

void
test_pki_make (void)
{
  test_cert_make (&test_pki.ca, "Test Root CA", NULL, FALSE, NULL, TRUE, -1, 30);
  test_cert_make (&test_pki.intermediate, "Test Intermediate CA", NULL, FALSE, &test_pki.ca, TRUE, -1, 30);
  test_cert_make (&test_pki.a, "a.example.test", (const char *[]) { "a.example.test", NULL }, TRUE, &test_pki.ca, FALSE, -1, 30);
  test_cert_make (&test_pki.b, "b.example.test", (const char *[]) { "b.example.test", NULL }, FALSE, &test_pki.ca, FALSE, -1, 30);
  test_cert_make (&test_pki.wild, "wild.test", (const char *[]) { "*.wild.test", NULL }, FALSE, &test_pki.ca, FALSE, -1, 30);
  test_cert_make (&test_pki.cn_only, "cn.example.test", NULL, FALSE, &test_pki.ca, FALSE, -1, 30);
  test_cert_make (&test_pki.d, "d.example.test", (const char *[]) { "d.example.test", NULL }, FALSE, &test_pki.ca, FALSE, -1, 30);
  test_cert_make (&test_pki.a_new, "a-new.example.test", (const char *[]) { "a.example.test", NULL }, FALSE, &test_pki.ca, FALSE, -1, 30);
  test_cert_make (&test_pki.wild_example, "star.example.test", (const char *[]) { "*.example.test", NULL }, FALSE, &test_pki.ca, FALSE, -1, 30);
  test_cert_make (&test_pki.expired, "expired.example.test", (const char *[]) { "expired.example.test", NULL }, FALSE, &test_pki.ca, FALSE, -30, -1);
  test_cert_make (&test_pki.future, "future.example.test", (const char *[]) { "future.example.test", NULL }, FALSE, &test_pki.ca, FALSE, 10, 30);
  test_cert_make (&test_pki.chain, "chain.example.test", (const char *[]) { "chain.example.test", NULL }, FALSE, &test_pki.intermediate, FALSE, -1, 30);
  test_pki.chain_pem = g_strconcat (test_pki.chain.cert_pem, test_pki.intermediate.cert_pem, NULL);
}

void
test_pki_free (void)
{
  TestCert *certs[] = { &test_pki.ca, &test_pki.intermediate, &test_pki.a, &test_pki.b, &test_pki.wild, &test_pki.cn_only, &test_pki.d,
                        &test_pki.a_new, &test_pki.wild_example, &test_pki.expired, &test_pki.future, &test_pki.chain };

  for (guint i = 0; i < G_N_ELEMENTS (certs); i++)
    test_cert_free (certs[i]);
  g_free (test_pki.chain_pem);
}

/* Main loop helpers */

static gboolean
test_timed_out_cb (gpointer user_data)
{
  g_error ("Timed out waiting for %s", (const char *) user_data);
  return G_SOURCE_REMOVE;
}

void
test_wait_for (gboolean   *flag,
               const char *what)
{
  guint timeout_id = g_timeout_add_seconds (30, test_timed_out_cb, (gpointer) what);

  while (!*flag)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout_id);
}

/* Client: a blocking GnuTLS client in a thread */

#define CLIENT_CHECK(client, condition) \
  G_STMT_START { \
    if (!(condition)) \
      { \
        (client)->failure = g_strdup_printf ("line %d: %s", __LINE__, #condition); \
        return; \
      } \
  } G_STMT_END

static gboolean
client_done_cb (gpointer user_data)
{
  TestClient *client = user_data;

  client->done = TRUE;
  return G_SOURCE_REMOVE;
}

/* GnuTLS answers E_AGAIN after it handled a post-handshake message (a
 * TLS 1.3 session ticket), even on a blocking socket */
static ssize_t
client_recv (gnutls_session_t  session,
             char             *buffer,
             gsize             size)
{
  ssize_t n;

  do
    n = gnutls_record_recv (session, buffer, size);
  while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
  return n;
}

static gboolean
client_recv_exact (gnutls_session_t  session,
                   char             *buffer,
                   gsize             size)
{
  gsize got = 0;

  while (got < size)
    {
      ssize_t n = client_recv (session, buffer + got, size - got);
      if (n <= 0)
        return FALSE;
      got += n;
    }
  return TRUE;
}

static guint8
bulk_byte (gsize offset)
{
  return (guint8) ((offset * 7) ^ (offset >> 12));
}

static gpointer
bulk_writer_thread (gpointer data)
{
  gnutls_session_t session = data;
  char buffer[10000];
  gsize sent = 0;
  ssize_t n;

  while (sent < BULK_SIZE)
    {
      gsize size = MIN (sizeof buffer, BULK_SIZE - sent);

      for (gsize i = 0; i < size; i++)
        buffer[i] = bulk_byte (sent + i);
      /* E_AGAIN when the reading thread was handling a post-handshake
       * message (a TLS 1.3 session ticket) meanwhile: send it again */
      do
        n = gnutls_record_send (session, buffer, size);
      while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
      if (n <= 0)
        return GINT_TO_POINTER (FALSE);
      sent += n;
    }
  do
    n = gnutls_bye (session, GNUTLS_SHUT_WR);
  while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
  return GINT_TO_POINTER (n == 0);
}

static void
client_run_script (TestClient           *client,
                   gnutls_session_t  session)
{
  char buffer[4096];
  ssize_t n;

  switch (client->script)
    {
    case SCRIPT_NONE:
      /* until the server closes: TLS 1.3 tickets arrive after the handshake */
      while (client_recv (session, buffer, sizeof buffer) > 0)
        ;
      break;

    case SCRIPT_ECHO:
      CLIENT_CHECK (client, client_recv_exact (session, buffer, 8) && memcmp (buffer, "welcome\n", 8) == 0);
      CLIENT_CHECK (client, gnutls_record_send (session, "hello over tls", 14) == 14);
      CLIENT_CHECK (client, client_recv_exact (session, buffer, 14) && memcmp (buffer, "hello over tls", 14) == 0);
      CLIENT_CHECK (client, gnutls_bye (session, GNUTLS_SHUT_WR) == 0);
      CLIENT_CHECK (client, client_recv (session, buffer, sizeof buffer) == 0);
      break;

    case SCRIPT_HALF_CLOSE:
      CLIENT_CHECK (client, client_recv_exact (session, buffer, 3) && memcmp (buffer, "bye", 3) == 0);
      /* close_notify, then the socket itself is shut for writing */
      CLIENT_CHECK (client, client_recv (session, buffer, sizeof buffer) == 0);
      CLIENT_CHECK (client, recv (client->fd, buffer, sizeof buffer, 0) == 0);
      CLIENT_CHECK (client, gnutls_record_send (session, "still here", 10) == 10);
      CLIENT_CHECK (client, gnutls_bye (session, GNUTLS_SHUT_WR) == 0);
      break;

    case SCRIPT_BULK:
      {
        GThread *writer = g_thread_new ("bulk-writer", bulk_writer_thread, session);
        gsize received = 0;
        gboolean intact = TRUE;

        while ((n = client_recv (session, buffer, sizeof buffer)) > 0)
          {
            for (ssize_t i = 0; i < n; i++)
              intact = intact && (guint8) buffer[i] == bulk_byte (received + i);
            received += n;
          }
        CLIENT_CHECK (client, GPOINTER_TO_INT (g_thread_join (writer)));
        CLIENT_CHECK (client, n == 0);
        CLIENT_CHECK (client, received == BULK_SIZE);
        CLIENT_CHECK (client, intact);
      }
      break;

    case SCRIPT_BLOCKING:
      CLIENT_CHECK (client, gnutls_record_send (session, "ping", 4) == 4);
      CLIENT_CHECK (client, client_recv_exact (session, buffer, 4) && memcmp (buffer, "pong", 4) == 0);
      CLIENT_CHECK (client, gnutls_bye (session, GNUTLS_SHUT_WR) == 0);
      break;

    case SCRIPT_TRUNCATE:
      CLIENT_CHECK (client, gnutls_record_send (session, "partial", 7) == 7);
      CLIENT_CHECK (client, shutdown (client->fd, SHUT_WR) == 0);
      /* Open until the server closes: closing with its TLS 1.3 tickets
       * unread would reset the connection while it may still be sending
       * them */
      while (read (client->fd, buffer, sizeof buffer) > 0)
        ;
      break;

    case SCRIPT_RENEGOTIATE:
      /* refused: a warning alert, or the connection goes away */
      CLIENT_CHECK (client, gnutls_handshake (session) < 0);
      do
        n = client_recv (session, buffer, sizeof buffer);
      while (n > 0);
      break;

    case SCRIPT_RECORDS:
      gnutls_record_cork (session);
      CLIENT_CHECK (client, gnutls_record_send (session, "one", 3) == 3);
      CLIENT_CHECK (client, gnutls_record_send (session, "two", 3) == 3);
      CLIENT_CHECK (client, gnutls_record_uncork (session, GNUTLS_RECORD_WAIT) == 6);
      /* gnutls_record_recv() returns the data of one record at most */
      n = client_recv (session, buffer, sizeof buffer);
      CLIENT_CHECK (client, n > 0);
      client->first_record = g_strndup (buffer, n);
      CLIENT_CHECK (client, gnutls_bye (session, GNUTLS_SHUT_WR) == 0);
      do
        n = client_recv (session, buffer, sizeof buffer);
      while (n > 0);
      break;

    case SCRIPT_STALL:
      CLIENT_CHECK (client, read (client->release_fd, buffer, 1) == 1);
      do
        n = client_recv (session, buffer, sizeof buffer);
      while (n > 0);
      client->drain_result = n;
      break;
    }
}

static gpointer
client_thread (gpointer data)
{
  TestClient *client = data;
  gnutls_certificate_credentials_t credentials;
  gnutls_session_t session;
  GSource *done_source;
  gnutls_datum_t ca = { (unsigned char *) test_pki.ca.cert_pem, strlen (test_pki.ca.cert_pem) };
  gnutls_datum_t protocols[] = { { (unsigned char *) "h2", 2 }, { (unsigned char *) "http/1.1", 8 } };
  int ret;

  gnutls_certificate_allocate_credentials (&credentials);
  gnutls_certificate_set_x509_trust_mem (credentials, &ca, GNUTLS_X509_FMT_PEM);
  gnutls_init (&session, GNUTLS_CLIENT);
  ret = gnutls_priority_set_direct (session, client->priority != NULL ? client->priority : "NORMAL", NULL);
  if (ret < 0)
    client->failure = g_strdup_printf ("client priority: %s", gnutls_strerror (ret));
  gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, credentials);
  if (client->server_name != NULL)
    gnutls_server_name_set (session, GNUTLS_NAME_DNS, client->server_name, strlen (client->server_name));
  if (client->verify)
    gnutls_session_set_verify_cert (session, client->verify_host, 0);
  if (client->offer_alpn)
    gnutls_alpn_set_protocols (session, protocols, G_N_ELEMENTS (protocols), 0);
  if (client->resume_data.size > 0)
    gnutls_session_set_data (session, client->resume_data.data, client->resume_data.size);
  gnutls_transport_set_int (session, client->fd);
  gnutls_handshake_set_timeout (session, 20000);

  do
    ret = gnutls_handshake (session);
  while (ret < 0 && !gnutls_error_is_fatal (ret));
  client->handshake_ret = ret;
  client->verify_status = gnutls_session_get_verify_cert_status (session);

  if (ret == 0 && client->failure == NULL)
    {
      const gnutls_datum_t *peers = gnutls_certificate_get_peers (session, &client->n_peer_certs);
      gnutls_datum_t alpn;

      if (client->n_peer_certs > 0)
        {
          gnutls_x509_crt_t crt;
          gnutls_datum_t dn;

          gnutls_x509_crt_init (&crt);
          gnutls_x509_crt_import (crt, &peers[0], GNUTLS_X509_FMT_DER);
          gnutls_x509_crt_get_dn3 (crt, &dn, 0);
          client->peer_dn = datum_to_string (&dn);
          gnutls_x509_crt_deinit (crt);
        }
      if (!client->verify)
        gnutls_certificate_verify_peers3 (session, NULL, &client->verify_status);
      if (gnutls_alpn_get_selected_protocol (session, &alpn) == 0)
        client->alpn = g_strndup ((const char *) alpn.data, alpn.size);

      client->resumed = gnutls_session_is_resumed (session);
      client_run_script (client, session);
      if (client->save_session)
        gnutls_session_get_data2 (session, &client->session_data);
    }

  gnutls_deinit (session);
  gnutls_certificate_free_credentials (credentials);
  close (client->fd);
  /* Always through the main loop: g_main_context_invoke() would run the
   * callback right here when it can take the context, between the test's
   * check of the flag and its next poll, and nothing would wake that */
  done_source = g_idle_source_new ();
  g_source_set_callback (done_source, client_done_cb, client, NULL);
  g_source_attach (done_source, NULL);
  g_source_unref (done_source);
  return NULL;
}

void
test_client_free (TestClient *client)
{
  g_free (client->peer_dn);
  g_free (client->alpn);
  g_free (client->failure);
  g_free (client->first_record);
  gnutls_free (client->session_data.data);
  g_free (client);
}

void
test_client_start (TestClient *client,
                   int         fd)
{
  client->fd = fd;
  client->thread = g_thread_new ("tls-client", client_thread, client);
}

void
test_client_finish (TestClient *client)
{
  test_wait_for (&client->done, "the client");
  g_thread_join (client->thread);
  g_assert_cmpstr (client->failure, ==, NULL);
}

TestClient *
test_client_new (const char   *server_name,
            ClientScript  script)
{
  TestClient *client = g_new0 (TestClient, 1);

  client->server_name = server_name;
  client->script = script;
  return client;
}

SmTlsStream *
test_server_stream_new (SmTlsCredentials   *creds,
                        SmTlsWorkers       *workers,
                        int                *client_fd,
                        GSocketConnection **connection_out,
                        GError            **error)
{
  g_autoptr(GError) socket_error = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  SmTlsStream *tls;
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  socket = g_socket_new_from_fd (fds[0], &socket_error);
  g_assert_no_error (socket_error);
  connection = g_socket_connection_factory_create_connection (socket);
  *client_fd = fds[1];
  tls = sm_tls_stream_new_server (G_IO_STREAM (connection), creds, error);
  if (tls != NULL && workers != NULL)
    sm_tls_stream_set_workers (tls, workers);
  if (connection_out != NULL)
    *connection_out = g_steal_pointer (&connection);
  return tls;
}
