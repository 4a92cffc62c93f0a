/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "sm-error.h"
#include "sm-tls-private.h"

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

  /* both NULL if GnuTLS refused the default and no other was set */
  char                            *priority_string;
  gnutls_priority_t                priority; /* sessions keep their own reference */

  GStrv                            alpn_protocols;
  gnutls_datum_t                  *alpn_datums;
  guint                            n_alpn;

  gnutls_datum_t                   ticket_key; /* empty: no session tickets */
  GSource                         *ticket_key_source;

  /* Why GnuTLS could not set up the certificate credentials or the
   * default priority: sessions are then refused with this error (a daemon
   * must not abort over it). The first failure wins. */
  GError                          *init_error;
};

G_DEFINE_TYPE (SmTlsCredentials, sm_tls_credentials, G_TYPE_OBJECT)

/* Certificates */

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
              if (sm_tls_certificate_matches (cert, server_name, pass == 1))
                return sm_tls_certificate_ref (cert);
            }
        }
    }

  return sm_tls_certificate_ref (g_ptr_array_index (certs, certs->len - 1));
}

static gboolean
find_certificate (SmTlsCredentials *self, const char *id, guint *index)
{
  for (guint i = 0; i < self->certificates->len; i++)
    {
      SmTlsCertificate *cert = g_ptr_array_index (self->certificates, i);
      if (g_str_equal (sm_tls_certificate_get_id (cert), id))
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

  g_debug ("TLS certificate \"%s\" added (%u in chain)", id,
           sm_tls_certificate_get_chain_length (cert));
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
  if (self->priority != NULL)
    gnutls_priority_deinit (self->priority);
  self->priority = cache;
  g_mutex_unlock (&self->lock);
  g_free (self->priority_string);
  self->priority_string = g_strdup (priority);
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
  return TRUE;
}

gboolean
sm_tls_credentials_setup_session (SmTlsCredentials *self, gnutls_session_t session, GError **error)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  int ret;

  /* GnuTLS refused these at init (see init_failed()); a priority string
   * set since then replaces the default */
  if (self->x509 == NULL || self->priority == NULL)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TLS, "TLS session setup failed: %s",
                   self->init_error->message);
      return FALSE;
    }

  ret = gnutls_priority_set (session, self->priority);
  if (ret == 0)
    ret = gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, self->x509);
  if (ret == 0 && self->ticket_key.data != NULL)
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

/* Replaces the key. The old one is dropped even if no new one comes:
 * tickets must not outlive SM_TLS_TICKET_KEY_LIFETIME_SECONDS. */
static void
generate_ticket_key (SmTlsCredentials *self)
{
  int ret;

  free_ticket_key (self);
  ret = gnutls_session_ticket_key_generate (&self->ticket_key);
  /* only fails when out of memory or without a working RNG; clients
   * then do full handshakes until the next rotation */
  if (ret < 0)
    {
      self->ticket_key.data = NULL;
      self->ticket_key.size = 0;
      g_warning ("Could not generate a TLS session ticket key, serving without session "
                 "tickets: %s",
                 gnutls_strerror (ret));
    }
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

/* Logs and keeps the failure, for sm_tls_credentials_setup_session() */
static void
init_failed (SmTlsCredentials *self, const char *what, int ret)
{
  g_warning ("%s, refusing TLS handshakes: %s", what, gnutls_strerror (ret));
  if (self->init_error == NULL)
    self->init_error = g_error_new (SM_ERROR, SM_ERROR_TLS, "%s: %s", what, gnutls_strerror (ret));
}

static void
sm_tls_credentials_dispose (GObject *object)
{
  SmTlsCredentials *self = SM_TLS_CREDENTIALS (object);

  sm_source_clear (&self->ticket_key_source);
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
  if (self->x509 != NULL)
    gnutls_certificate_free_credentials (self->x509);
  if (self->priority != NULL)
    gnutls_priority_deinit (self->priority);
  g_free (self->priority_string);
  g_strfreev (self->alpn_protocols);
  g_free (self->alpn_datums);
  free_ticket_key (self);
  g_clear_error (&self->init_error);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (sm_tls_credentials_parent_class)->finalize (object);
}

static void
sm_tls_credentials_class_init (SmTlsCredentialsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_tls_credentials_dispose;
  object_class->finalize = sm_tls_credentials_finalize;
}

static void
sm_tls_credentials_init (SmTlsCredentials *self)
{
  const char *error_position = NULL;
  int         ret;

  g_mutex_init (&self->lock);
  self->certificates = g_ptr_array_new_with_free_func ((GDestroyNotify) sm_tls_certificate_unref);

  ret = gnutls_certificate_allocate_credentials (&self->x509);
  if (ret == 0)
    gnutls_certificate_set_retrieve_function2 (self->x509, sm_tls_stream_retrieve_certificate);
  else
    {
      self->x509 = NULL;
      init_failed (self, "Could not allocate TLS credentials", ret);
    }

  /* e.g. a system-wide GnuTLS configuration that disables TLS 1.2 and 1.3 */
  ret = gnutls_priority_init2 (&self->priority, SM_TLS_DEFAULT_PRIORITY, &error_position, 0);
  if (ret == 0)
    self->priority_string = g_strdup (SM_TLS_DEFAULT_PRIORITY);
  else
    {
      self->priority = NULL;
      init_failed (self, "GnuTLS refuses the default TLS priority string", ret);
    }

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
