/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Support for the TLS tests: a throw-away PKI generated at test time with
 * the GnuTLS API (nothing is ever written to disk), and a blocking GnuTLS
 * client that runs a short script in its own thread.
 */

#include <gio/gio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "sm-tls-stream.h"

G_BEGIN_DECLS

#define BULK_SIZE (4 * 1024 * 1024)

typedef struct {
  gnutls_x509_privkey_t key;
  gnutls_x509_crt_t     crt;
  char                 *cert_pem;
  char                 *key_pem;        /* PKCS#1 (RSA) or SEC1 (EC) */
  char                 *key_pkcs8_pem;
  char                 *dn;
} TestCert;

/* All signed by ca, except chain (by intermediate); a is RSA, the rest
 * ECDSA. See test_pki_make() for names and validity. */
typedef struct {
  TestCert ca, intermediate;
  TestCert a, b, wild, cn_only, d, a_new, wild_example, expired, future, chain;
  char    *chain_pem;   /* chain leaf + intermediate */
} TestPki;

extern TestPki test_pki;

/* One certificate and its key, issued by @issuer (self-signed if NULL),
 * valid from @not_before_days to @not_after_days from now */
void        test_cert_make     (TestCert     *cert,
                                const char   *cn,
                                const char  **dns_names,
                                gboolean      rsa,
                                TestCert     *issuer,
                                gboolean      is_ca,
                                gint64        not_before_days,
                                gint64        not_after_days);
void        test_cert_free     (TestCert     *cert);

void        test_pki_make      (void);
void        test_pki_free      (void);

/* Iterates the default main context until *flag; aborts after 30 s */
void        test_wait_for      (gboolean   *flag,
                                const char *what);

typedef enum {
  SCRIPT_NONE,          /* handshake only, then close */
  SCRIPT_ECHO,          /* read welcome, echo a message, bye, read close_notify */
  SCRIPT_HALF_CLOSE,    /* read until close_notify, check the socket is shut, then send */
  SCRIPT_BULK,          /* send BULK_SIZE while receiving it back */
  SCRIPT_BLOCKING,      /* send "ping", expect "pong", bye */
  SCRIPT_TRUNCATE,      /* send "partial", then close the socket without close_notify */
  SCRIPT_RENEGOTIATE,   /* start a second handshake, then read until the server gives up */
  SCRIPT_STALL,         /* read nothing until a byte arrives on release_fd, then
                         * read until the end, into drain_result */
  SCRIPT_RECORDS,       /* send "one" and "two" as two records in one write, read
                         * one record into first_record, bye, read until the end */
} ClientScript;

typedef struct {
  /* set before test_client_start() */
  const char     *server_name;   /* SNI; NULL: none */
  gboolean        verify;        /* chain against the CA, and the host name if set */
  const char     *verify_host;
  const char     *priority;      /* NULL: "NORMAL" */
  gboolean        offer_alpn;    /* "h2", "http/1.1" */
  gnutls_datum_t  resume_data;   /* a session to resume; empty: none */
  ClientScript    script;
  int             release_fd;    /* SCRIPT_STALL */
  gboolean        save_session;  /* fill session_data: in TLS 1.3 that may wait
                                    for the server's ticket, so only when wanted */

  /* results, to read after test_client_finish() */
  int             handshake_ret;
  unsigned int    verify_status;
  unsigned int    n_peer_certs;
  char           *peer_dn;       /* of the leaf served */
  char           *alpn;
  gboolean        resumed;
  gnutls_datum_t  session_data;  /* to resume this session later */
  ssize_t         drain_result;  /* SCRIPT_STALL: 0 after close_notify */
  char           *first_record;  /* SCRIPT_RECORDS: the data of one record */
  char           *failure;       /* what the script found unexpected */

  int             fd;
  GThread        *thread;
  gboolean        done;
} TestClient;

TestClient *test_client_new    (const char   *server_name,
                                ClientScript  script);
/* Runs the handshake and the script over @fd in a thread; closes @fd */
void        test_client_start  (TestClient   *client,
                                int           fd);
/* Waits for the thread and asserts the script saw nothing unexpected */
void        test_client_finish (TestClient   *client);
void        test_client_free   (TestClient   *client);

char       *datum_to_string    (gnutls_datum_t *datum);

/* An SmTlsStream over one end of a new socketpair (a GSocketConnection,
 * in *@connection_out if not NULL), the other end in *@client_fd; its
 * handshake steps run in @workers if not NULL */
SmTlsStream *test_server_stream_new (SmTlsCredentials   *creds,
                                     SmTlsWorkers       *workers,
                                     int                *client_fd,
                                     GSocketConnection **connection_out,
                                     GError            **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestClient, test_client_free)

G_END_DECLS
