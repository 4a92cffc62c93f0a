/* SPDX-License-Identifier: MIT */
/* What a certificate chain may be (sm_tls_credentials_check(), which the
 * registry runs before anything opens): bounded in size and length,
 * ordered from the leaf to each issuer, no certificate twice. Chains are
 * made at run time with GnuTLS. */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-tls-credentials.h"
#include "tls-test-support.h"

/* A CA, then intermediates each issued by the one before, then a leaf
 * issued by the last: enough for a chain of SM_TLS_MAX_CHAIN_LENGTH + 1 */
#define N_LEVELS (SM_TLS_MAX_CHAIN_LENGTH + 1)

static TestCert levels[N_LEVELS]; /* [0] the CA ... [N_LEVELS - 1] the leaf */

static void
make_levels (void)
{
  for (guint i = 0; i < N_LEVELS; i++)
    {
      g_autofree char *cn = g_strdup_printf ("level %u", i);
      gboolean leaf = i == N_LEVELS - 1;
      const char *names[] = { "leaf.chain.test", NULL };

      test_cert_make (&levels[i], leaf ? "leaf.chain.test" : cn, leaf ? names : NULL, FALSE,
                      i > 0 ? &levels[i - 1] : NULL, !leaf, -1, 30);
    }
}

static void
free_levels (void)
{
  for (guint i = 0; i < N_LEVELS; i++)
    test_cert_free (&levels[i]);
}

/* The leaf, then its first @n_issuers issuers in order */
static char *
ordered_chain (guint n_issuers)
{
  GString *pem = g_string_new (NULL);

  for (guint i = 0; i <= n_issuers; i++)
    g_string_append (pem, levels[N_LEVELS - 1 - i].cert_pem);
  return g_string_free (pem, FALSE);
}

static const char *
leaf_key (void)
{
  return levels[N_LEVELS - 1].key_pem;
}

static void
assert_accepted (const char *cert_pem,
                 const char *key_pem)
{
  g_autoptr(SmTlsCredentials) creds = sm_tls_credentials_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (sm_tls_credentials_check (cert_pem, key_pem, &error));
  g_assert_no_error (error);
  g_assert_true (sm_tls_credentials_add (creds, "ok", cert_pem, key_pem, &error));
  g_assert_no_error (error);
}

/* Refused by check and add alike, with @message_start */
static void
assert_refused (const char *cert_pem,
                const char *key_pem,
                const char *message_start)
{
  g_autoptr(SmTlsCredentials) creds = sm_tls_credentials_new ();
  g_autoptr(GError) error = NULL;

  g_assert_false (sm_tls_credentials_check (cert_pem, key_pem, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_TLS);
  g_test_message ("refused: %s", error->message);
  g_assert_true (g_str_has_prefix (error->message, message_start));
  g_clear_error (&error);

  g_assert_false (sm_tls_credentials_add (creds, "bad", cert_pem, key_pem, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_TLS);
  g_assert_true (g_str_has_prefix (error->message, message_start));
  g_assert_cmpuint (sm_tls_credentials_get_n_certificates (creds), ==, 0);
}

static void
test_ordered_chains (void)
{
  /* The leaf alone, up to the limit, with or without the root */
  for (guint n = 0; n < SM_TLS_MAX_CHAIN_LENGTH; n++)
    {
      g_autofree char *chain = ordered_chain (n);

      g_test_message ("leaf and %u issuers", n);
      assert_accepted (chain, leaf_key ());
    }
}

static void
test_too_many_certificates (void)
{
  g_autofree char *chain = ordered_chain (SM_TLS_MAX_CHAIN_LENGTH);
  g_autofree char *message = g_strdup_printf ("TLS certificate chain has %u certificates, "
                                              "limit is %u", SM_TLS_MAX_CHAIN_LENGTH + 1,
                                              SM_TLS_MAX_CHAIN_LENGTH);
  g_autoptr(GString) many = g_string_new (levels[N_LEVELS - 1].cert_pem);

  assert_refused (chain, leaf_key (), message);

  /* Those past the limit are counted, not parsed */
  while (many->len + strlen (levels[0].cert_pem) <= SM_TLS_MAX_CHAIN_PEM_SIZE)
    g_string_append (many, levels[0].cert_pem);
  assert_refused (many->str, leaf_key (), "TLS certificate chain has ");
}

static void
test_size_limit (void)
{
  g_autofree char *chain = ordered_chain (1);
  g_autoptr(GString) pem = g_string_new (chain);
  g_autoptr(GString) key = g_string_new (leaf_key ());
  g_autoptr(GString) huge = g_string_new (chain);

  /* Text around PEM blocks is allowed: exactly at the limit still goes */
  while (pem->len < SM_TLS_MAX_CHAIN_PEM_SIZE)
    g_string_append_c (pem, '\n');
  g_string_truncate (pem, SM_TLS_MAX_CHAIN_PEM_SIZE);
  assert_accepted (pem->str, leaf_key ());

  g_string_append_c (pem, '\n');
  assert_refused (pem->str, leaf_key (),
                  "TLS certificate chain is 65537 bytes long, limit is 65536");

  /* 1 MiB of certificates: refused before anything is parsed */
  while (huge->len < 1024 * 1024)
    g_string_append (huge, levels[0].cert_pem);
  assert_refused (huge->str, leaf_key (), "TLS certificate chain is ");

  while (key->len <= SM_TLS_MAX_KEY_PEM_SIZE)
    g_string_append (key, "-----BEGIN \n");
  assert_refused (chain, key->str, "TLS private key is ");
}

static void
test_unordered_chains (void)
{
  const char *leaf = levels[N_LEVELS - 1].cert_pem;
  const char *issuer = levels[N_LEVELS - 2].cert_pem;
  const char *issuer2 = levels[N_LEVELS - 3].cert_pem;
  g_autofree char *reversed = g_strconcat (issuer, leaf, NULL);
  g_autofree char *skipped = g_strconcat (leaf, issuer2, NULL);
  g_autofree char *swapped = g_strconcat (leaf, issuer2, issuer, NULL);
  g_autofree char *foreign = g_strconcat (leaf, issuer, test_pki.intermediate.cert_pem, NULL);

  /* The key matches the first certificate, so only the order is wrong */
  assert_refused (reversed, levels[N_LEVELS - 2].key_pem,
                  "TLS certificate chain is not in order: certificate 1 is not issued by "
                  "certificate 2");
  assert_refused (skipped, leaf_key (), "TLS certificate chain is not in order: certificate 1 ");
  assert_refused (swapped, leaf_key (), "TLS certificate chain is not in order: certificate 1 ");
  assert_refused (foreign, leaf_key (), "TLS certificate chain is not in order: certificate 2 ");
}

static void
test_duplicated_certificates (void)
{
  const char *leaf = levels[N_LEVELS - 1].cert_pem;
  const char *issuer = levels[N_LEVELS - 2].cert_pem;
  const char *root = levels[0].cert_pem;
  g_autofree char *twice = g_strconcat (leaf, leaf, NULL);
  g_autofree char *issuer_twice = g_strconcat (leaf, issuer, issuer, NULL);
  g_autofree char *root_twice = g_strconcat (root, root, NULL);

  assert_refused (twice, leaf_key (), "TLS certificate chain holds certificate 1 twice");
  assert_refused (issuer_twice, leaf_key (), "TLS certificate chain holds certificate 2 twice");
  /* A self-signed certificate issues itself: only the duplicate check
   * catches it */
  assert_refused (root_twice, levels[0].key_pem,
                  "TLS certificate chain holds certificate 1 twice (also as 2)");
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  test_pki_make ();
  make_levels ();

  g_test_add_func ("/tls/chain-check/ordered", test_ordered_chains);
  g_test_add_func ("/tls/chain-check/too-many-certificates", test_too_many_certificates);
  g_test_add_func ("/tls/chain-check/size-limit", test_size_limit);
  g_test_add_func ("/tls/chain-check/unordered", test_unordered_chains);
  g_test_add_func ("/tls/chain-check/duplicated", test_duplicated_certificates);

  ret = g_test_run ();
  free_levels ();
  test_pki_free ();
  return ret;
}
