/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <time.h>

#include <gnutls/x509.h>

#include "sm-error.h"
#include "sm-tls-private.h"

struct _SmTlsCertificate
{
  gatomicrefcount  ref_count;
  char            *id;
  gnutls_pcert_st *pcerts;
  unsigned int     n_pcerts;
  gnutls_privkey_t key;
  GStrv            names; /* lower case; SAN DNS names, or the CN */
};

struct _SmTlsCredentials
{
  GObject                          parent_instance;

  /* Guards what handshakes read (certificates, priority, ALPN, ticket
   * key): streams in other threads may share these credentials. */
  GMutex                           lock;

  /* shared by all sessions; the certificate is picked per session by
   * sm_tls_stream_retrieve_certificate() */
  gnutls_certificate_credentials_t x509;
  GPtrArray                       *certificates; /* SmTlsCertificate, oldest first */

  char                            *priority_string;
  gnutls_priority_t                priority; /* sessions keep their own reference */

  GStrv                            alpn_protocols;
  gnutls_datum_t                  *alpn_datums;
  guint                            n_alpn;

  gnutls_datum_t                   ticket_key;
  GSource                         *ticket_key_source;
};

enum
{
  PROP_0,
  PROP_PRIORITY,
  PROP_ALPN_PROTOCOLS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_TYPE (SmTlsCredentials, sm_tls_credentials, G_TYPE_OBJECT)

/* Certificates */

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

  for (begin = strstr (pem, "-----BEGIN "); begin != NULL;
       begin = strstr (begin + 1, "-----BEGIN "))
    {
      const char *line_end = strchr (begin, '\n');
      const char *marker = strstr (begin, end_marker);

      if (marker != NULL && (line_end == NULL || marker < line_end))
        return TRUE;
    }
  return FALSE;
}

/* @id NULL: only checking, no validity warning */
static SmTlsCertificate *
sm_tls_certificate_new (const char *id, const char *cert_pem, const char *key_pem, GError **error)
{
  g_autoptr (SmTlsCertificate) cert = NULL;
  gnutls_datum_t        cert_datum = { (unsigned char *) cert_pem, strlen (cert_pem) };
  gnutls_x509_crt_t    *crts = NULL;
  unsigned int          n_crts = 0;
  gnutls_x509_privkey_t x509_key = NULL;
  int                   ret;

  if (!pem_has_block (cert_pem, "CERTIFICATE"))
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_TLS, "no certificate in TLS certificate PEM");
      return NULL;
    }

  ret = gnutls_x509_crt_list_import2 (&crts, &n_crts, &cert_datum, GNUTLS_X509_FMT_PEM, 0);
  if (ret < 0 || n_crts == 0)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TLS, "TLS certificate could not be parsed: %s",
                   ret < 0 ? gnutls_strerror (ret) : "empty chain");
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

  ret = gnutls_privkey_init (&cert->key);
  if (ret == 0)
    ret = gnutls_privkey_import_x509 (cert->key, x509_key, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
  if (ret < 0)
    {
      gnutls_x509_privkey_deinit (x509_key);
      g_set_error (error, SM_ERROR, SM_ERROR_TLS, "TLS private key could not be parsed: %s",
                   gnutls_strerror (ret));
      return NULL;
    }

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

static gboolean
certificate_matches (SmTlsCertificate *cert, const char *server_name, gboolean wildcard)
{
  for (guint i = 0; cert->names[i] != NULL; i++)
    {
      if (wildcard ? name_matches_wildcard (cert->names[i], server_name)
                   : name_matches_exactly (cert->names[i], server_name))
        return TRUE;
    }
  return FALSE;
}

SmTlsCertificate *
sm_tls_credentials_select (SmTlsCredentials *self, const char *server_name)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  GPtrArray *certs = self->certificates;

  if (certs->len == 0)
    return NULL;

  if (server_name != NULL)
    {
      for (int pass = 0; pass < 2; pass++)
        {
          for (guint i = certs->len; i > 0; i--)
            {
              SmTlsCertificate *cert = g_ptr_array_index (certs, i - 1);
              if (certificate_matches (cert, server_name, pass == 1))
                return sm_tls_certificate_ref (cert);
            }
        }
    }

  return sm_tls_certificate_ref (g_ptr_array_index (certs, certs->len - 1));
}

/* Credentials */

static gboolean
find_certificate (SmTlsCredentials *self, const char *id, guint *index)
{
  for (guint i = 0; i < self->certificates->len; i++)
    {
      SmTlsCertificate *cert = g_ptr_array_index (self->certificates, i);
      if (g_str_equal (cert->id, id))
        {
          *index = i;
          return TRUE;
        }
    }
  return FALSE;
}

gboolean
sm_tls_credentials_add (SmTlsCredentials *self,
                        const char       *id,
                        const char       *cert_pem,
                        const char       *key_pem,
                        GError          **error)
{
  SmTlsCertificate *cert;
  guint             index;

  g_return_val_if_fail (SM_IS_TLS_CREDENTIALS (self), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);
  g_return_val_if_fail (cert_pem != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  cert = sm_tls_certificate_new (id, cert_pem, key_pem, error);
  if (cert == NULL)
    return FALSE;

  g_mutex_lock (&self->lock);
  if (find_certificate (self, id, &index))
    g_ptr_array_remove_index (self->certificates, index);
  g_ptr_array_add (self->certificates, cert);
  g_mutex_unlock (&self->lock);

  g_debug ("TLS certificate \"%s\" added (%u in chain)", id, cert->n_pcerts);
  return TRUE;
}

gboolean
sm_tls_credentials_check (const char *cert_pem, const char *key_pem, GError **error)
{
  g_autoptr (SmTlsCertificate) cert = NULL;

  g_return_val_if_fail (cert_pem != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  cert = sm_tls_certificate_new (NULL, cert_pem, key_pem, error);
  return cert != NULL;
}

gboolean
sm_tls_credentials_remove (SmTlsCredentials *self, const char *id)
{
  g_autoptr (GMutexLocker) locker = NULL;
  guint index;

  g_return_val_if_fail (SM_IS_TLS_CREDENTIALS (self), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);

  locker = g_mutex_locker_new (&self->lock);
  if (!find_certificate (self, id, &index))
    return FALSE;

  /* handshakes that chose it hold their own reference */
  g_ptr_array_remove_index (self->certificates, index);
  g_debug ("TLS certificate \"%s\" removed", id);
  return TRUE;
}

guint
sm_tls_credentials_get_n_certificates (SmTlsCredentials *self)
{
  g_return_val_if_fail (SM_IS_TLS_CREDENTIALS (self), 0);

  return self->certificates->len;
}

const char *
sm_tls_credentials_get_priority (SmTlsCredentials *self)
{
  g_return_val_if_fail (SM_IS_TLS_CREDENTIALS (self), NULL);

  return self->priority_string;
}

gboolean
sm_tls_credentials_set_priority (SmTlsCredentials *self, const char *priority, GError **error)
{
  gnutls_priority_t cache = NULL;
  const char       *error_position = NULL;
  int               ret;

  g_return_val_if_fail (SM_IS_TLS_CREDENTIALS (self), FALSE);
  g_return_val_if_fail (priority != NULL, FALSE);

  if (g_strcmp0 (priority, self->priority_string) == 0)
    return TRUE;

  ret = gnutls_priority_init2 (&cache, priority, &error_position, 0);
  if (ret < 0)
    {
      if (ret == GNUTLS_E_INVALID_REQUEST && error_position != NULL)
        g_set_error (error, SM_ERROR, SM_ERROR_TLS, "invalid TLS priority string at \"%s\"",
                     error_position);
      else
        g_set_error (error, SM_ERROR, SM_ERROR_TLS, "invalid TLS priority string: %s",
                     gnutls_strerror (ret));
      return FALSE;
    }

  /* sessions already set up hold a reference on the old cache */
  g_mutex_lock (&self->lock);
  gnutls_priority_deinit (self->priority);
  self->priority = cache;
  g_mutex_unlock (&self->lock);
  g_free (self->priority_string);
  self->priority_string = g_strdup (priority);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PRIORITY]);
  return TRUE;
}

const char *const *
sm_tls_credentials_get_alpn_protocols (SmTlsCredentials *self)
{
  g_return_val_if_fail (SM_IS_TLS_CREDENTIALS (self), NULL);

  return (const char *const *) self->alpn_protocols;
}

gboolean
sm_tls_credentials_set_alpn_protocols (SmTlsCredentials  *self,
                                       const char *const *protocols,
                                       GError           **error)
{
  guint n = protocols != NULL ? g_strv_length ((GStrv) protocols) : 0;

  g_return_val_if_fail (SM_IS_TLS_CREDENTIALS (self), FALSE);

  if (n > SM_TLS_MAX_ALPN_PROTOCOLS)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                   "at most %d ALPN protocols are supported", SM_TLS_MAX_ALPN_PROTOCOLS);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    {
      gsize length = strlen (protocols[i]);
      if (length == 0 || length > SM_TLS_MAX_ALPN_PROTOCOL_SIZE)
        {
          g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                       "ALPN protocol names are 1 to %d bytes long", SM_TLS_MAX_ALPN_PROTOCOL_SIZE);
          return FALSE;
        }
    }

  g_mutex_lock (&self->lock);
  g_strfreev (self->alpn_protocols);
  g_free (self->alpn_datums);
  self->alpn_protocols = n > 0 ? g_strdupv ((GStrv) protocols) : NULL;
  self->alpn_datums = n > 0 ? g_new0 (gnutls_datum_t, n) : NULL;
  self->n_alpn = n;
  for (guint i = 0; i < n; i++)
    {
      self->alpn_datums[i].data = (unsigned char *) self->alpn_protocols[i];
      self->alpn_datums[i].size = strlen (self->alpn_protocols[i]);
    }
  g_mutex_unlock (&self->lock);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ALPN_PROTOCOLS]);
  return TRUE;
}

gboolean
sm_tls_credentials_setup_session (SmTlsCredentials *self, gnutls_session_t session, GError **error)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  int ret;

  ret = gnutls_priority_set (session, self->priority);
  if (ret == 0)
    ret = gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, self->x509);
  if (ret == 0)
    ret = gnutls_session_ticket_enable_server (session, &self->ticket_key);
  /* gnutls copies the names */
  if (ret == 0 && self->n_alpn > 0)
    ret = gnutls_alpn_set_protocols (session, self->alpn_datums, self->n_alpn,
                                     GNUTLS_ALPN_SERVER_PRECEDENCE);
  if (ret < 0)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TLS, "TLS session setup failed: %s",
                   gnutls_strerror (ret));
      return FALSE;
    }

  gnutls_certificate_server_set_request (session, GNUTLS_CERT_IGNORE);
  return TRUE;
}

static void
free_ticket_key (SmTlsCredentials *self)
{
  if (self->ticket_key.data == NULL)
    return;

  gnutls_memset (self->ticket_key.data, 0, self->ticket_key.size);
  gnutls_free (self->ticket_key.data);
  self->ticket_key.data = NULL;
  self->ticket_key.size = 0;
}

static void
generate_ticket_key (SmTlsCredentials *self)
{
  int ret;

  free_ticket_key (self);
  ret = gnutls_session_ticket_key_generate (&self->ticket_key);
  /* only fails when out of memory or without a working RNG */
  if (ret < 0)
    g_error ("Could not generate a TLS session ticket key: %s", gnutls_strerror (ret));
}

static gboolean
rotate_ticket_key_cb (gpointer user_data)
{
  SmTlsCredentials *self = user_data;

  g_debug ("Rotating the TLS session ticket key");
  g_mutex_lock (&self->lock);
  generate_ticket_key (self);
  g_mutex_unlock (&self->lock);
  return G_SOURCE_CONTINUE;
}

static void
sm_tls_credentials_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  SmTlsCredentials *self = SM_TLS_CREDENTIALS (object);

  switch (prop_id)
    {
    case PROP_PRIORITY:
      g_value_set_string (value, self->priority_string);
      break;
    case PROP_ALPN_PROTOCOLS:
      g_value_set_boxed (value, self->alpn_protocols);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sm_tls_credentials_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  SmTlsCredentials *self = SM_TLS_CREDENTIALS (object);
  g_autoptr (GError) error = NULL;

  switch (prop_id)
    {
    case PROP_PRIORITY:
      if (!sm_tls_credentials_set_priority (self, g_value_get_string (value), &error))
        g_warning ("Ignoring TLS priority: %s", error->message);
      break;
    case PROP_ALPN_PROTOCOLS:
      if (!sm_tls_credentials_set_alpn_protocols (self, g_value_get_boxed (value), &error))
        g_warning ("Ignoring ALPN protocols: %s", error->message);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sm_tls_credentials_dispose (GObject *object)
{
  SmTlsCredentials *self = SM_TLS_CREDENTIALS (object);

  if (self->ticket_key_source != NULL)
    {
      g_source_destroy (self->ticket_key_source);
      g_clear_pointer (&self->ticket_key_source, g_source_unref);
    }
  g_mutex_lock (&self->lock);
  g_ptr_array_set_size (self->certificates, 0);
  g_mutex_unlock (&self->lock);

  G_OBJECT_CLASS (sm_tls_credentials_parent_class)->dispose (object);
}

static void
sm_tls_credentials_finalize (GObject *object)
{
  SmTlsCredentials *self = SM_TLS_CREDENTIALS (object);

  g_ptr_array_unref (self->certificates);
  gnutls_certificate_free_credentials (self->x509);
  if (self->priority != NULL)
    gnutls_priority_deinit (self->priority);
  g_free (self->priority_string);
  g_strfreev (self->alpn_protocols);
  g_free (self->alpn_datums);
  free_ticket_key (self);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (sm_tls_credentials_parent_class)->finalize (object);
}

static void
sm_tls_credentials_class_init (SmTlsCredentialsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = sm_tls_credentials_get_property;
  object_class->set_property = sm_tls_credentials_set_property;
  object_class->dispose = sm_tls_credentials_dispose;
  object_class->finalize = sm_tls_credentials_finalize;

  properties[PROP_PRIORITY] = g_param_spec_string (
      "priority", "Priority", "GnuTLS priority string", SM_TLS_DEFAULT_PRIORITY,
      G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ALPN_PROTOCOLS] =
      g_param_spec_boxed ("alpn-protocols", "ALPN protocols", "ALPN protocols offered", G_TYPE_STRV,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
sm_tls_credentials_init (SmTlsCredentials *self)
{
  const char *error_position = NULL;
  int         ret;

  g_mutex_init (&self->lock);
  self->certificates = g_ptr_array_new_with_free_func ((GDestroyNotify) sm_tls_certificate_unref);

  ret = gnutls_certificate_allocate_credentials (&self->x509);
  if (ret < 0)
    g_error ("Could not allocate TLS credentials: %s", gnutls_strerror (ret));
  gnutls_certificate_set_retrieve_function2 (self->x509, sm_tls_stream_retrieve_certificate);

  ret = gnutls_priority_init2 (&self->priority, SM_TLS_DEFAULT_PRIORITY, &error_position, 0);
  if (ret < 0)
    g_error ("GnuTLS rejects the default priority string: %s", gnutls_strerror (ret));
  self->priority_string = g_strdup (SM_TLS_DEFAULT_PRIORITY);

  generate_ticket_key (self);
  self->ticket_key_source = g_timeout_source_new_seconds (SM_TLS_TICKET_KEY_LIFETIME_SECONDS);
  g_source_set_callback (self->ticket_key_source, rotate_ticket_key_cb, self, NULL);
  g_source_set_static_name (self->ticket_key_source, "[socketmaster] TLS ticket key rotation");
  g_source_attach (self->ticket_key_source, g_main_context_get_thread_default ());
}

SmTlsCredentials *
sm_tls_credentials_new (void)
{
  return g_object_new (SM_TYPE_TLS_CREDENTIALS, NULL);
}
