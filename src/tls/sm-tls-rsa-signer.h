/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * An RSA private key for GnuTLS whose signatures are made by libcrypto
 * (OpenSSL). A full handshake with an RSA certificate spends most of its
 * time in the server's one signature, and libcrypto signs about six times
 * faster than GnuTLS/nettle on the same core. Everything else, the key
 * exchange included, stays with GnuTLS; only built with -Dopenssl_signer.
 */

#include <glib.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

G_BEGIN_DECLS

/* A key that signs with libcrypto and decrypts (TLS 1.2 RSA key
 * exchange) with GnuTLS in constant time. Takes @x509_key, an RSA key,
 * in every case. */
gnutls_privkey_t sm_tls_rsa_signer_new (gnutls_x509_privkey_t x509_key, GError **error);

G_END_DECLS
