/* SPDX-License-Identifier: MIT */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "sm-error.h"
#include "sm-tls-rsa-signer.h"

/* The one thing TLS decrypts with a server's key: the TLS 1.2 RSA key
 * exchange's premaster secret, always 48 bytes (RFC 5246, 7.4.7.1) */
#define PREMASTER_SECRET_SIZE 48

typedef struct
{
  EVP_PKEY        *pkey;   /* libcrypto's copy, for signing */
  gnutls_privkey_t native; /* GnuTLS's, for decrypting */
  unsigned int     bits;
} RsaSigner;

static void
rsa_signer_free (RsaSigner *signer)
{
  EVP_PKEY_free (signer->pkey);
  if (signer->native != NULL)
    gnutls_privkey_deinit (signer->native);
  g_free (signer);
}

static const EVP_MD *
digest_for (gnutls_digest_algorithm_t digest)
{
  switch (digest)
    {
    case GNUTLS_DIG_SHA1:
      return EVP_sha1 ();
    case GNUTLS_DIG_SHA256:
      return EVP_sha256 ();
    case GNUTLS_DIG_SHA384:
      return EVP_sha384 ();
    case GNUTLS_DIG_SHA512:
      return EVP_sha512 ();
    default:
      return NULL;
    }
}

/* How libcrypto makes @algo with an RSA (rsaEncryption) key. GNUTLS_SIGN_RSA_RAW
 * is PKCS#1 v1.5 over a DigestInfo GnuTLS has already built, so no digest. */
static gboolean
signature_params (gnutls_sign_algorithm_t algo, const EVP_MD **md, int *padding)
{
  if (algo == GNUTLS_SIGN_RSA_RAW)
    {
      *md = NULL;
      *padding = RSA_PKCS1_PADDING;
      return TRUE;
    }
  if (!gnutls_sign_supports_pk_algorithm (algo, GNUTLS_PK_RSA))
    return FALSE;

  *md = digest_for (gnutls_sign_get_hash_algorithm (algo));
  *padding = gnutls_sign_get_pk_algorithm (algo) == GNUTLS_PK_RSA_PSS ? RSA_PKCS1_PSS_PADDING
                                                                      : RSA_PKCS1_PADDING;
  return *md != NULL;
}

static int
rsa_signer_sign_hash (gnutls_privkey_t        key,
                      gnutls_sign_algorithm_t algo,
                      void                   *user_data,
                      unsigned int            flags,
                      const gnutls_datum_t   *hash,
                      gnutls_datum_t         *signature)
{
  RsaSigner    *signer = user_data;
  const EVP_MD *md;
  int           padding;
  EVP_PKEY_CTX *ctx;
  size_t        size = 0;
  int           ret = GNUTLS_E_PK_SIGN_FAILED;

  /* A reproducible PSS signature needs an empty salt, which TLS never asks for */
  if (!signature_params (algo, &md, &padding) ||
      (padding == RSA_PKCS1_PSS_PADDING && (flags & GNUTLS_PRIVKEY_FLAG_REPRODUCIBLE)))
    return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;

  /* A context per signature: handshakes sign on several threads at once */
  ctx = EVP_PKEY_CTX_new (signer->pkey, NULL);
  if (ctx != NULL && EVP_PKEY_sign_init (ctx) > 0 &&
      EVP_PKEY_CTX_set_rsa_padding (ctx, padding) > 0 &&
      (md == NULL || EVP_PKEY_CTX_set_signature_md (ctx, md) > 0) &&
      (padding != RSA_PKCS1_PSS_PADDING ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen (ctx, RSA_PSS_SALTLEN_DIGEST) > 0) &&
      EVP_PKEY_sign (ctx, NULL, &size, hash->data, hash->size) > 0)
    {
      signature->data = gnutls_malloc (size);
      if (signature->data == NULL)
        ret = GNUTLS_E_MEMORY_ERROR;
      else if (EVP_PKEY_sign (ctx, signature->data, &size, hash->data, hash->size) > 0)
        {
          signature->size = size;
          ret = 0;
        }
      else
        {
          gnutls_free (signature->data);
          signature->data = NULL;
        }
    }
  if (ret != 0)
    {
      g_debug ("RSA signature (%s) failed in libcrypto", gnutls_sign_get_name (algo));
      ERR_clear_error ();
    }
  EVP_PKEY_CTX_free (ctx);
  /* libcrypto frees a thread's random generators (blinding took from
   * them) only when the thread ends, and the worker threads live as long
   * as the process: let go of them now, they are remade cheaply */
  OPENSSL_thread_stop ();
  return ret;
}

/* GnuTLS 3.7 offers an external key only a decryption callback that is not
 * told the size expected. Always answering with the premaster secret's size
 * keeps GnuTLS's constant-time handling of a bad ciphertext: the outcome
 * shows only in the return value, which GnuTLS treats without branching. */
static int
rsa_signer_decrypt (gnutls_privkey_t      key,
                    void                 *user_data,
                    const gnutls_datum_t *ciphertext,
                    gnutls_datum_t       *plaintext)
{
  RsaSigner *signer = user_data;

  plaintext->data = gnutls_malloc (PREMASTER_SECRET_SIZE);
  plaintext->size = plaintext->data != NULL ? PREMASTER_SECRET_SIZE : 0;
  if (plaintext->data == NULL)
    return GNUTLS_E_MEMORY_ERROR;
  return gnutls_privkey_decrypt_data2 (signer->native, 0, ciphertext, plaintext->data,
                                       PREMASTER_SECRET_SIZE);
}

static int
rsa_signer_info (gnutls_privkey_t key, unsigned int flags, void *user_data)
{
  RsaSigner    *signer = user_data;
  const EVP_MD *md;
  int           padding;

  if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
    return GNUTLS_PK_RSA;
  if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
    return (int) signer->bits;
  if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO)
    return signature_params (GNUTLS_FLAGS_TO_SIGN_ALGO (flags), &md, &padding);
  if (flags & GNUTLS_PRIVKEY_INFO_SIGN_ALGO)
    return GNUTLS_SIGN_UNKNOWN; /* no preference */
  return GNUTLS_E_UNIMPLEMENTED_FEATURE;
}

static void
rsa_signer_deinit (gnutls_privkey_t key, void *user_data)
{
  rsa_signer_free (user_data);
}

/* libcrypto's copy of the key, through PKCS#1 DER, which is wiped after */
static EVP_PKEY *
export_to_libcrypto (gnutls_x509_privkey_t x509_key)
{
  gnutls_datum_t       der = { NULL, 0 };
  const unsigned char *p;
  EVP_PKEY            *pkey;

  if (gnutls_x509_privkey_export2 (x509_key, GNUTLS_X509_FMT_DER, &der) < 0)
    return NULL;
  p = der.data;
  pkey = d2i_PrivateKey (EVP_PKEY_RSA, NULL, &p, (long) der.size);
  gnutls_memset (der.data, 0, der.size);
  gnutls_free (der.data);
  if (pkey == NULL)
    ERR_clear_error ();
  return pkey;
}

gnutls_privkey_t
sm_tls_rsa_signer_new (gnutls_x509_privkey_t x509_key, GError **error)
{
  RsaSigner       *signer;
  gnutls_privkey_t key = NULL;
  unsigned int     bits = 0;
  int              ret;

  g_return_val_if_fail (gnutls_x509_privkey_get_pk_algorithm2 (x509_key, &bits) == GNUTLS_PK_RSA,
                        NULL);

  signer = g_new0 (RsaSigner, 1);
  signer->bits = bits;
  signer->pkey = export_to_libcrypto (x509_key);
  ret = gnutls_privkey_init (&signer->native);
  if (ret == 0)
    ret = gnutls_privkey_import_x509 (signer->native, x509_key, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
  if (ret < 0)
    gnutls_x509_privkey_deinit (x509_key);
  if (ret == 0 && signer->pkey == NULL)
    ret = GNUTLS_E_PK_SIGN_FAILED;
  if (ret == 0)
    ret = gnutls_privkey_init (&key);
  if (ret == 0)
    {
      ret = gnutls_privkey_import_ext4 (key, signer, NULL, rsa_signer_sign_hash, rsa_signer_decrypt,
                                        rsa_signer_deinit, rsa_signer_info, 0);
      /* from here the key owns the signer */
      if (ret == 0)
        return key;
    }

  if (key != NULL)
    gnutls_privkey_deinit (key);
  rsa_signer_free (signer);
  g_set_error (error, SM_ERROR, SM_ERROR_TLS,
               "TLS private key could not be handed to libcrypto: %s", gnutls_strerror (ret));
  return NULL;
}
