/* SPDX-License-Identifier: MIT */
/*
 * The libcrypto RSA signer against GnuTLS's own key: PKCS#1 v1.5
 * signatures must be the very same bytes, RSA-PSS ones must verify, and
 * decryption must give back what the public key encrypted.
 */
#include <string.h>

#include "sm-tls-rsa-signer.h"
#include "tls-test-support.h"

#define CHECK_GNUTLS(call) g_assert_cmpint ((call), ==, 0)

typedef struct {
  gnutls_privkey_t signer; /* libcrypto */
  gnutls_privkey_t native; /* GnuTLS */
  gnutls_pubkey_t  pubkey;
} Keys;

static gnutls_x509_privkey_t
copy_rsa_key (void)
{
  gnutls_x509_privkey_t copy;

  CHECK_GNUTLS (gnutls_x509_privkey_init (&copy));
  CHECK_GNUTLS (gnutls_x509_privkey_cpy (copy, test_pki.a.key));
  return copy;
}

static void
keys_init (Keys *keys)
{
  g_autoptr(GError) error = NULL;

  keys->signer = sm_tls_rsa_signer_new (copy_rsa_key (), &error);
  g_assert_no_error (error);
  g_assert_nonnull (keys->signer);
  g_assert_cmpint (gnutls_privkey_get_type (keys->signer), ==, GNUTLS_PRIVKEY_EXT);

  CHECK_GNUTLS (gnutls_privkey_init (&keys->native));
  CHECK_GNUTLS (gnutls_privkey_import_x509 (keys->native, copy_rsa_key (),
                                            GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE));
  CHECK_GNUTLS (gnutls_pubkey_init (&keys->pubkey));
  CHECK_GNUTLS (gnutls_pubkey_import_x509 (keys->pubkey, test_pki.a.crt, 0));
}

static void
keys_clear (Keys *keys)
{
  gnutls_privkey_deinit (keys->signer);
  gnutls_privkey_deinit (keys->native);
  gnutls_pubkey_deinit (keys->pubkey);
}

static gboolean
datum_equal (const gnutls_datum_t *a, const gnutls_datum_t *b)
{
  return a->size == b->size && memcmp (a->data, b->data, a->size) == 0;
}

/* Verifies, and no longer does once one byte of the data changed */
static void
assert_verifies (Keys *keys, gnutls_sign_algorithm_t algo, const gnutls_datum_t *data,
                 const gnutls_datum_t *signature)
{
  g_autofree unsigned char *changed = g_memdup2 (data->data, data->size);
  gnutls_datum_t            changed_data = { changed, data->size };

  g_assert_cmpint (gnutls_pubkey_verify_data2 (keys->pubkey, algo, 0, data, signature), >=, 0);
  changed[0] ^= 1;
  g_assert_cmpint (gnutls_pubkey_verify_data2 (keys->pubkey, algo, 0, &changed_data, signature), ==,
                   GNUTLS_E_PK_SIG_VERIFY_FAILED);
}

static void
test_signatures (void)
{
  const gnutls_sign_algorithm_t algos[] = {
    GNUTLS_SIGN_RSA_SHA256,          GNUTLS_SIGN_RSA_SHA384,          GNUTLS_SIGN_RSA_SHA512,
    GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, GNUTLS_SIGN_RSA_PSS_RSAE_SHA384, GNUTLS_SIGN_RSA_PSS_RSAE_SHA512,
  };
  gnutls_datum_t data = { (unsigned char *) "the handshake so far", 20 };
  Keys           keys;

  keys_init (&keys);
  for (guint i = 0; i < G_N_ELEMENTS (algos); i++)
    {
      gnutls_datum_t signature = { NULL, 0 }, native_signature = { NULL, 0 };
      gboolean       pss = gnutls_sign_get_pk_algorithm (algos[i]) == GNUTLS_PK_RSA_PSS;

      g_test_message ("%s", gnutls_sign_get_name (algos[i]));
      CHECK_GNUTLS (gnutls_privkey_sign_data2 (keys.signer, algos[i], 0, &data, &signature));
      assert_verifies (&keys, algos[i], &data, &signature);

      /* PKCS#1 v1.5 has no randomness: the very same bytes as GnuTLS's */
      CHECK_GNUTLS (gnutls_privkey_sign_data2 (keys.native, algos[i], 0, &data, &native_signature));
      g_assert_true (pss != datum_equal (&signature, &native_signature));

      gnutls_free (signature.data);
      gnutls_free (native_signature.data);
    }
  keys_clear (&keys);
}

/* The TLS 1.0/1.1 signature: PKCS#1 v1.5 over an MD5+SHA1 digest given
 * as it is (GNUTLS_SIGN_RSA_RAW in the callback) */
static void
test_tls1_signature (void)
{
  unsigned char  digest[36];
  gnutls_datum_t data = { digest, sizeof digest };
  gnutls_datum_t signature = { NULL, 0 }, native_signature = { NULL, 0 };
  Keys           keys;

  memset (digest, 0x5a, sizeof digest);
  keys_init (&keys);
  CHECK_GNUTLS (gnutls_privkey_sign_hash (keys.signer, 0, GNUTLS_PRIVKEY_SIGN_FLAG_TLS1_RSA, &data,
                                          &signature));
  CHECK_GNUTLS (gnutls_privkey_sign_hash (keys.native, 0, GNUTLS_PRIVKEY_SIGN_FLAG_TLS1_RSA, &data,
                                          &native_signature));
  g_assert_cmpuint (signature.size, ==, 256);
  g_assert_true (datum_equal (&signature, &native_signature));
  gnutls_free (signature.data);
  gnutls_free (native_signature.data);
  keys_clear (&keys);
}

/* Only the algorithms an RSA key makes */
static void
test_other_algorithms_refused (void)
{
  gnutls_datum_t data = { (unsigned char *) "data", 4 };
  gnutls_datum_t signature = { NULL, 0 };
  Keys           keys;

  keys_init (&keys);
  g_assert_cmpint (gnutls_privkey_sign_data2 (keys.signer, GNUTLS_SIGN_ECDSA_SHA256, 0, &data,
                                              &signature), <, 0);
  g_assert_null (signature.data);
  keys_clear (&keys);
}

/* The TLS 1.2 RSA key exchange: a 48-byte premaster secret */
static void
test_decrypt (void)
{
  unsigned char  secret[48], decrypted[48];
  gnutls_datum_t plain = { secret, sizeof secret };
  gnutls_datum_t ciphertext = { NULL, 0 };
  Keys           keys;

  for (guint i = 0; i < sizeof secret; i++)
    secret[i] = (unsigned char) (i * 7 + 1);
  keys_init (&keys);
  CHECK_GNUTLS (gnutls_pubkey_encrypt_data (keys.pubkey, 0, &plain, &ciphertext));

  CHECK_GNUTLS (gnutls_privkey_decrypt_data2 (keys.signer, 0, &ciphertext, decrypted,
                                              sizeof decrypted));
  g_assert_cmpmem (decrypted, sizeof decrypted, secret, sizeof secret);

  /* a ciphertext that is not one: refused, in the return value */
  ciphertext.data[ciphertext.size / 2] ^= 0x40;
  g_assert_cmpint (gnutls_privkey_decrypt_data2 (keys.signer, 0, &ciphertext, decrypted,
                                                 sizeof decrypted), <, 0);
  gnutls_free (ciphertext.data);
  keys_clear (&keys);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  test_pki_make ();
  g_test_add_func ("/tls-rsa-signer/signatures", test_signatures);
  g_test_add_func ("/tls-rsa-signer/tls1-signature", test_tls1_signature);
  g_test_add_func ("/tls-rsa-signer/other-algorithms-refused", test_other_algorithms_refused);
  g_test_add_func ("/tls-rsa-signer/decrypt", test_decrypt);
  ret = g_test_run ();
  test_pki_free ();
  return ret;
}
