/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <time.h>

#include <gnutls/x509.h>

#include "sm-error.h"
#include "sm-tls-certificate.h"
#include "sm-tls-credentials.h"
#include "sm-tls-rsa-signer.h"

struct _SmTlsCertificate
{
  gatomicrefcount  ref_count;
  char            *id;
  gnutls_pcert_st *pcerts;
  unsigned int     n_pcerts;
  gnutls_privkey_t key;
  GStrv            names; /* lower case; SAN DNS names, or the CN */
};

SmTlsCertificate *
sm_tls_certificate_ref (SmTlsCertificate *cert)
{
  g_atomic_ref_count_inc (&cert->ref_count);
  return cert;
}

void
sm_tls_certificate_unref (SmTlsCertificate *cert)
{
  if (!g_atomic_ref_count_dec (&cert->ref_count))
    return;

  for (unsigned int i = 0; i < cert->n_pcerts; i++)
    gnutls_pcert_deinit (&cert->pcerts[i]);
  g_free (cert->pcerts);
  if (cert->key != NULL)
    gnutls_privkey_deinit (cert->key);
  g_strfreev (cert->names);
  g_free (cert->id);
  g_free (cert);
}

const char *
sm_tls_certificate_get_id (SmTlsCertificate *cert)
{
  return cert->id;
}

const char *const *
sm_tls_certificate_get_names (SmTlsCertificate *cert)
{
  return (const char *const *) cert->names;
}

guint
sm_tls_certificate_get_chain_length (SmTlsCertificate *cert)
{
  return cert->n_pcerts;
}

void
sm_tls_certificate_get_credentials (SmTlsCertificate *cert,
                                    gnutls_pcert_st **pcerts,
                                    unsigned int     *n_pcerts,
                                    gnutls_privkey_t *key)
{
  *pcerts = cert->pcerts;
  *n_pcerts = cert->n_pcerts;
  *key = cert->key;
}

static void
free_x509_list (gnutls_x509_crt_t *crts, unsigned int n_crts)
{
  for (unsigned int i = 0; i < n_crts; i++)
    gnutls_x509_crt_deinit (crts[i]);
  gnutls_free (crts);
}

static char *
normalize_dns_name (const char *name, gsize length)
{
  while (length > 0 && name[length - 1] == '.')
    length--;
  if (length == 0 || memchr (name, '\0', length) != NULL)
    return NULL;

  return g_ascii_strdown (name, length);
}

/* The names a certificate is selected by: its SAN DNS names, or its CN
 * when it has no DNS name (as browsers did before they required SANs). */
static GStrv
collect_dns_names (gnutls_x509_crt_t crt)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  char buffer[256];

  for (unsigned int seq = 0;; seq++)
    {
      size_t size = sizeof buffer;
      int    type = gnutls_x509_crt_get_subject_alt_name (crt, seq, buffer, &size, NULL);

      if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        break;
      /* longer than any DNS name: cannot match, skip it */
      if (type == GNUTLS_E_SHORT_MEMORY_BUFFER)
        continue;
      if (type < 0)
        break;
      if (type == GNUTLS_SAN_DNSNAME)
        {
          char *name = normalize_dns_name (buffer, size);
          if (name != NULL)
            g_ptr_array_add (names, name);
        }
    }

  if (names->len == 0)
    {
      size_t size = sizeof buffer;

      if (gnutls_x509_crt_get_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buffer, &size) ==
          0)
        {
          char *name = normalize_dns_name (buffer, size);
          if (name != NULL)
            g_ptr_array_add (names, name);
        }
    }

  g_ptr_array_add (names, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&names), FALSE);
}

static void
warn_if_not_valid_now (const char *id, gnutls_x509_crt_t crt)
{
  time_t         now = time (NULL);
  time_t         not_before = gnutls_x509_crt_get_activation_time (crt);
  time_t         not_after = gnutls_x509_crt_get_expiration_time (crt);
  gnutls_datum_t dn = { NULL, 0 };
  g_autoptr (GDateTime) when = NULL;
  g_autofree char *when_text = NULL;
  gboolean         expired = not_after != (time_t) -1 && not_after < now;
  gboolean         early = not_before != (time_t) -1 && not_before > now;

  if (!expired && !early)
    return;

  when = g_date_time_new_from_unix_utc (expired ? not_after : not_before);
  when_text = when != NULL ? g_date_time_format_iso8601 (when) : g_strdup ("?");
  gnutls_x509_crt_get_dn3 (crt, &dn, 0);

  if (expired)
    g_warning ("TLS certificate \"%s\" (%s) expired on %s; serving it anyway", id,
               dn.data != NULL ? (char *) dn.data : "?", when_text);
  else
    g_warning ("TLS certificate \"%s\" (%s) is not valid before %s; serving it anyway", id,
               dn.data != NULL ? (char *) dn.data : "?", when_text);
  gnutls_free (dn.data);
}

static gboolean
key_matches_certificate (gnutls_x509_privkey_t key, gnutls_x509_crt_t crt)
{
  unsigned char crt_id[64];
  unsigned char key_id[64];
  size_t        crt_id_size = sizeof crt_id;
  size_t        key_id_size = sizeof key_id;

  if (gnutls_x509_crt_get_key_id (crt, GNUTLS_KEYID_USE_SHA256, crt_id, &crt_id_size) < 0 ||
      gnutls_x509_privkey_get_key_id (key, GNUTLS_KEYID_USE_SHA256, key_id, &key_id_size) < 0)
    return FALSE;

  return crt_id_size == key_id_size && memcmp (crt_id, key_id, crt_id_size) == 0;
}

static gboolean
pem_has_block (const char *pem, const char *label_suffix)
{
  g_autofree char *end_marker = g_strconcat (label_suffix, "-----", NULL);
  const char      *begin;

  /* Each BEGIN line is searched on its own: linear in the PEM's size */
  for (begin = strstr (pem, "-----BEGIN "); begin != NULL;
       begin = strstr (begin + 1, "-----BEGIN "))
    {
      const char *line_end = strchr (begin, '\n');
      gssize      line_len = line_end != NULL ? line_end - begin : -1;

      if (g_strstr_len (begin, line_len, end_marker) != NULL)
        return TRUE;
    }
  return FALSE;
}

/* Chains are served whole on every handshake: the leaf first, each
 * certificate issued by the next, none twice */
static gboolean
check_chain_order (gnutls_x509_crt_t *crts, unsigned int n_crts, GError **error)
{
  for (unsigned int i = 0; i < n_crts; i++)
    {
      for (unsigned int j = i + 1; j < n_crts; j++)
        {
          if (gnutls_x509_crt_equals (crts[i], crts[j]))
            {
              g_set_error (error, SM_ERROR, SM_ERROR_TLS,
                           "TLS certificate chain holds certificate %u twice (also as %u)", i + 1,
                           j + 1);
              return FALSE;
            }
        }
      if (i + 1 < n_crts && !gnutls_x509_crt_check_issuer (crts[i], crts[i + 1]))
        {
          g_set_error (error, SM_ERROR, SM_ERROR_TLS,
                       "TLS certificate chain is not in order: certificate %u is not issued by "
                       "certificate %u (the leaf comes first, then each issuer)",
                       i + 1, i + 2);
          return FALSE;
        }
    }
  return TRUE;
}

/* The key GnuTLS signs with; takes @x509_key. RSA keys sign with
 * libcrypto where it is built in (sm-tls-rsa-signer.h says why). */
static gnutls_privkey_t
private_key_new (gnutls_x509_privkey_t x509_key, GError **error)
{
  gnutls_privkey_t key = NULL;
  int              ret;

#ifdef HAVE_OPENSSL_SIGNER
  if (gnutls_x509_privkey_get_pk_algorithm (x509_key) == GNUTLS_PK_RSA)
    return sm_tls_rsa_signer_new (x509_key, error);
#endif

  ret = gnutls_privkey_init (&key);
  if (ret == 0)
    ret = gnutls_privkey_import_x509 (key, x509_key, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
  if (ret < 0)
    {
      if (key != NULL)
        gnutls_privkey_deinit (key);
      gnutls_x509_privkey_deinit (x509_key);
      g_set_error (error, SM_ERROR, SM_ERROR_TLS, "TLS private key could not be parsed: %s",
                   gnutls_strerror (ret));
      return NULL;
    }
  return key;
}

SmTlsCertificate *
sm_tls_certificate_new (const char *id, const char *cert_pem, const char *key_pem, GError **error)
{
  g_autoptr (SmTlsCertificate) cert = NULL;
  gsize                 cert_size = strlen (cert_pem);
  gnutls_datum_t        cert_datum = { (unsigned char *) cert_pem, cert_size };
  gnutls_x509_crt_t    *crts = NULL;
  unsigned int          n_crts = SM_TLS_MAX_CHAIN_LENGTH;
  gnutls_x509_privkey_t x509_key = NULL;
  int                   ret;

  /* Before any parsing: a huge chain would stall the loop */
  if (cert_size > SM_TLS_MAX_CHAIN_PEM_SIZE)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TLS,
                   "TLS certificate chain is %" G_GSIZE_FORMAT " bytes long, limit is %u",
                   cert_size, SM_TLS_MAX_CHAIN_PEM_SIZE);
      return NULL;
    }
  if (key_pem != NULL && strlen (key_pem) > SM_TLS_MAX_KEY_PEM_SIZE)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TLS,
                   "TLS private key is %" G_GSIZE_FORMAT " bytes long, limit is %u",
                   strlen (key_pem), SM_TLS_MAX_KEY_PEM_SIZE);
      return NULL;
    }

  if (!pem_has_block (cert_pem, "CERTIFICATE"))
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_TLS, "no certificate in TLS certificate PEM");
      return NULL;
    }

  /* Certificates past the limit are counted, not parsed */
  crts = gnutls_malloc (sizeof *crts * SM_TLS_MAX_CHAIN_LENGTH);
  ret = gnutls_x509_crt_list_import (crts, &n_crts, &cert_datum, GNUTLS_X509_FMT_PEM,
                                     GNUTLS_X509_CRT_LIST_IMPORT_FAIL_IF_EXCEED);
  if (ret == GNUTLS_E_SHORT_MEMORY_BUFFER)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TLS,
                   "TLS certificate chain has %u certificates, limit is %u", n_crts,
                   SM_TLS_MAX_CHAIN_LENGTH);
      gnutls_free (crts);
      return NULL;
    }
  if (ret <= 0)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TLS, "TLS certificate could not be parsed: %s",
                   ret < 0 ? gnutls_strerror (ret) : "empty chain");
      gnutls_free (crts);
      return NULL;
    }
  n_crts = (unsigned int) ret;

  if (!check_chain_order (crts, n_crts, error))
    {
      free_x509_list (crts, n_crts);
      return NULL;
    }

  if (key_pem == NULL || !pem_has_block (key_pem, "PRIVATE KEY"))
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_TLS,
                           "TLS private key could not be parsed: no private key in PEM");
      free_x509_list (crts, n_crts);
      return NULL;
    }

  ret = gnutls_x509_privkey_init (&x509_key);
  if (ret == 0)
    {
      gnutls_datum_t key_datum = { (unsigned char *) key_pem, strlen (key_pem) };
      ret = gnutls_x509_privkey_import2 (x509_key, &key_datum, GNUTLS_X509_FMT_PEM, NULL, 0);
    }
  if (ret < 0)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TLS, "TLS private key could not be parsed: %s",
                   gnutls_strerror (ret));
      gnutls_x509_privkey_deinit (x509_key);
      free_x509_list (crts, n_crts);
      return NULL;
    }

  if (!key_matches_certificate (x509_key, crts[0]))
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_TLS,
                           "TLS private key does not match the certificate");
      gnutls_x509_privkey_deinit (x509_key);
      free_x509_list (crts, n_crts);
      return NULL;
    }

  cert = g_new0 (SmTlsCertificate, 1);
  g_atomic_ref_count_init (&cert->ref_count);
  cert->id = g_strdup (id);
  cert->names = collect_dns_names (crts[0]);
  if (id != NULL)
    warn_if_not_valid_now (id, crts[0]);

  cert->pcerts = g_new0 (gnutls_pcert_st, n_crts);
  cert->n_pcerts = n_crts;
  ret = gnutls_pcert_import_x509_list (cert->pcerts, crts, &cert->n_pcerts, 0);
  free_x509_list (crts, n_crts);
  if (ret < 0)
    {
      cert->n_pcerts = 0;
      gnutls_x509_privkey_deinit (x509_key);
      g_set_error (error, SM_ERROR, SM_ERROR_TLS, "TLS certificate could not be parsed: %s",
                   gnutls_strerror (ret));
      return NULL;
    }

  cert->key = private_key_new (x509_key, error);
  if (cert->key == NULL)
    return NULL;

  return g_steal_pointer (&cert);
}

static gboolean
name_matches_exactly (const char *pattern, const char *server_name)
{
  return g_ascii_strcasecmp (pattern, server_name) == 0;
}

/* "*.example.com" covers exactly one label: "a.example.com" only */
static gboolean
name_matches_wildcard (const char *pattern, const char *server_name)
{
  const char *first_dot;

  if (!g_str_has_prefix (pattern, "*.") || pattern[2] == '\0')
    return FALSE;

  first_dot = strchr (server_name, '.');
  if (first_dot == NULL || first_dot == server_name)
    return FALSE;

  return g_ascii_strcasecmp (first_dot + 1, pattern + 2) == 0;
}

gboolean
sm_tls_certificate_matches (SmTlsCertificate *cert, const char *server_name, gboolean wildcard)
{
  for (guint i = 0; cert->names[i] != NULL; i++)
    {
      if (wildcard ? name_matches_wildcard (cert->names[i], server_name)
                   : name_matches_exactly (cert->names[i], server_name))
        return TRUE;
    }
  return FALSE;
}
