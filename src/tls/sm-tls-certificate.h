/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One certificate of an SmTlsCredentials: the chain as GnuTLS serves it,
 * its private key and the DNS names it is selected by. Ref-counted so that
 * a handshake keeps the one it chose after it is removed from its
 * credentials. Not part of any public API.
 */

#include <glib.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>

G_BEGIN_DECLS

typedef struct _SmTlsCertificate SmTlsCertificate;

/* Parses and checks a PEM chain and key (see sm-tls-credentials.h for
 * the formats and the errors). @id NULL: only checking, so no validity
 * warning either. */
SmTlsCertificate *
sm_tls_certificate_new (const char *id, const char *cert_pem, const char *key_pem, GError **error);
SmTlsCertificate  *sm_tls_certificate_ref (SmTlsCertificate *cert);
void               sm_tls_certificate_unref (SmTlsCertificate *cert);

const char        *sm_tls_certificate_get_id (SmTlsCertificate *cert);
/* The names it is chosen by (lower case): SAN DNS names, or the CN */
const char *const *sm_tls_certificate_get_names (SmTlsCertificate *cert);
guint              sm_tls_certificate_get_chain_length (SmTlsCertificate *cert);
/* The chain and key handed to GnuTLS; owned by @cert */
void               sm_tls_certificate_get_credentials (SmTlsCertificate *cert,
                                                       gnutls_pcert_st **pcerts,
                                                       unsigned int     *n_pcerts,
                                                       gnutls_privkey_t *key);

/* Whether one of its names is @server_name (ASCII case insensitive) or,
 * with @wildcard, a "*.example.com" that covers it by one label */
gboolean
sm_tls_certificate_matches (SmTlsCertificate *cert, const char *server_name, gboolean wildcard);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmTlsCertificate, sm_tls_certificate_unref)

G_END_DECLS
