/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The certificates of one public port, for TLS termination on GnuTLS.
 *
 * Each certificate is added under an id (the registering service's) as a
 * PEM chain (leaf first, then intermediates, each issued by the next, none
 * twice, at most SM_TLS_MAX_CHAIN_LENGTH certificates and
 * SM_TLS_MAX_CHAIN_PEM_SIZE bytes; served whole) and a PEM
 * private key (RSA or ECDSA: PKCS#8 "PRIVATE KEY", PKCS#1
 * "RSA PRIVATE KEY" or SEC1 "EC PRIVATE KEY"; never encrypted). Adding an
 * id again replaces its certificate, which then counts as the most
 * recently added. An expired or not yet valid certificate is accepted with
 * a warning: refusing it would only turn a renewal delay into an outage.
 *
 * Certificate selection, per handshake, from the client's SNI server name:
 *  1. a certificate with a DNS name (subjectAltName DNS entries, or the
 *     subject CN when it has none) equal to the server name (ASCII case
 *     insensitive);
 *  2. otherwise a certificate with a wildcard name "*.example.com" that
 *     matches exactly one leftmost label ("a.example.com", not
 *     "a.b.example.com" nor "example.com");
 *  3. otherwise (no match, or no SNI) the most recently added certificate.
 * Among several certificates matching at the same step, the most recently
 * added wins. A handshake keeps the certificate it chose even if it is
 * removed meanwhile; changes only affect later handshakes.
 *
 * Session resumption uses session tickets, encrypted with a key that only
 * lives in memory and is replaced every SM_TLS_TICKET_KEY_LIFETIME_SECONDS
 * (GnuTLS also derives short-lived keys from it on its own); tickets from
 * before a replacement are no longer accepted and those clients do a full
 * handshake. The key rotation timer runs in the thread-default main
 * context of the thread that created the object. Should GnuTLS fail to
 * make a key (no working RNG), that is logged and sessions go without
 * tickets until the next rotation.
 *
 * Should GnuTLS refuse to set up the certificate credentials or the
 * default priority string, sm_tls_credentials_new() logs a warning and
 * returns credentials that refuse every TLS session (SM_ERROR_TLS from
 * sm_tls_stream_new_server()); a priority string set later that GnuTLS
 * accepts lifts the latter.
 */

#include <glib-object.h>

G_BEGIN_DECLS

/* TLS 1.2 and 1.3 only, server's cipher order */
#define SM_TLS_DEFAULT_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"

#define SM_TLS_TICKET_KEY_LIFETIME_SECONDS (24 * 60 * 60)

/* What a certificate and key may be: every handshake serves the whole
 * chain, and parsing a big one stalls the loop */
#define SM_TLS_MAX_CHAIN_LENGTH   10
#define SM_TLS_MAX_CHAIN_PEM_SIZE (64 * 1024)
#define SM_TLS_MAX_KEY_PEM_SIZE   (64 * 1024)

/* GnuTLS limits for the ALPN list we offer */
#define SM_TLS_MAX_ALPN_PROTOCOLS     8
#define SM_TLS_MAX_ALPN_PROTOCOL_SIZE 32

#define SM_TYPE_TLS_CREDENTIALS (sm_tls_credentials_get_type ())
G_DECLARE_FINAL_TYPE (SmTlsCredentials, sm_tls_credentials, SM, TLS_CREDENTIALS, GObject)

SmTlsCredentials *sm_tls_credentials_new (void);

/* Fails with SM_ERROR_TLS and a message fit for a handshake status:
 * "TLS certificate chain is N bytes long, limit is 65536",
 * "TLS private key is N bytes long, limit is 65536",
 * "no certificate in TLS certificate PEM",
 * "TLS certificate chain has N certificates, limit is 10",
 * "TLS certificate could not be parsed: ...",
 * "TLS certificate chain holds certificate N twice (also as M)",
 * "TLS certificate chain is not in order: certificate N is not issued by
 * certificate N+1 (...)",
 * "TLS private key could not be parsed: ...",
 * "TLS private key does not match the certificate". */
gboolean          sm_tls_credentials_add (SmTlsCredentials *self,
                                          const char       *id,
                                          const char       *cert_pem,
                                          const char       *key_pem,
                                          GError          **error);
/* Checks a certificate and key as sm_tls_credentials_add() does, with
 * the same errors, keeping and logging nothing: to refuse bad input before
 * anything changes. */
gboolean    sm_tls_credentials_check (const char *cert_pem, const char *key_pem, GError **error);
/* FALSE if there was no certificate with that id */
gboolean    sm_tls_credentials_remove (SmTlsCredentials *self, const char *id);
guint       sm_tls_credentials_get_n_certificates (SmTlsCredentials *self);

/* GnuTLS priority string, SM_TLS_DEFAULT_PRIORITY by
 * default (NULL if GnuTLS refused it). An invalid string fails with
 * SM_ERROR_TLS and changes nothing. */
const char *sm_tls_credentials_get_priority (SmTlsCredentials *self);
gboolean
sm_tls_credentials_set_priority (SmTlsCredentials *self, const char *priority, GError **error);

/* ALPN protocols offered, in our order of preference (the server's order
 * wins), none by default. A client that offers
 * none of them still connects, without ALPN. At most
 * SM_TLS_MAX_ALPN_PROTOCOLS names of 1 to SM_TLS_MAX_ALPN_PROTOCOL_SIZE
 * bytes, else SM_ERROR_INVALID_ARGUMENT. NULL or empty clears the list. */
const char *const *sm_tls_credentials_get_alpn_protocols (SmTlsCredentials *self);
gboolean           sm_tls_credentials_set_alpn_protocols (SmTlsCredentials  *self,
                                                          const char *const *protocols,
                                                          GError           **error);

G_END_DECLS
