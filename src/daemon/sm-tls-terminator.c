/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "sm-address.h"
#include "sm-error.h"
#include "sm-rate-limit.h"
#include "sm-tls-terminator.h"

typedef struct
{
  char  *id;
  gint64 expires_at;
} RetiredCertificate;

struct _SmTlsTerminator
{
  GObject           parent_instance;

  char             *display_name;
  gint64            hold_us;
  int               handshake_timeout;
  SmTlsCredentials *credentials;
  gboolean          active;

  /* Oldest first: with one hold timeout for all, they expire in order */
  GQueue            retired;
  guint             retire_source;

  guint             n_handshakes;
  SmRateLimit       overflow_log_limit;
};

enum
{
  SIGNAL_ACTIVE_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (SmTlsTerminator, sm_tls_terminator, G_TYPE_OBJECT)

static void
retired_certificate_free (RetiredCertificate *retired)
{
  g_free (retired->id);
  g_free (retired);
}

static void
update_active (SmTlsTerminator *self)
{
  gboolean active = sm_tls_credentials_get_n_certificates (self->credentials) > 0;

  if (active == self->active)
    return;

  self->active = active;
  if (active)
    g_message ("TLS enabled on %s", self->display_name);
  else
    g_message ("TLS disabled on %s: no service with a certificate left", self->display_name);
  g_signal_emit (self, signals[SIGNAL_ACTIVE_CHANGED], 0);
}

static void schedule_retirement (SmTlsTerminator *self);

static gboolean
on_retirement_due (gpointer user_data)
{
  SmTlsTerminator    *self = user_data;
  gint64              now = g_get_monotonic_time ();
  RetiredCertificate *retired;

  self->retire_source = 0;
  while ((retired = g_queue_peek_head (&self->retired)) != NULL && retired->expires_at <= now)
    {
      g_queue_pop_head (&self->retired);
      if (sm_tls_credentials_remove (self->credentials, retired->id))
        g_message ("TLS certificate \"%s\" on %s dropped: its service left", retired->id,
                   self->display_name);
      retired_certificate_free (retired);
    }

  schedule_retirement (self);
  update_active (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_retirement (SmTlsTerminator *self)
{
  RetiredCertificate *oldest = g_queue_peek_head (&self->retired);
  gint64              remaining_us;

  if (oldest == NULL || self->retire_source != 0)
    return;

  remaining_us = MAX (0, oldest->expires_at - g_get_monotonic_time ());
  self->retire_source =
      g_timeout_add ((guint) ((remaining_us + 999) / 1000), on_retirement_due, self);
}

static void
sm_tls_terminator_dispose (GObject *object)
{
  SmTlsTerminator *self = SM_TLS_TERMINATOR (object);

  g_clear_handle_id (&self->retire_source, g_source_remove);
  g_queue_clear_full (&self->retired, (GDestroyNotify) retired_certificate_free);

  G_OBJECT_CLASS (sm_tls_terminator_parent_class)->dispose (object);
}

static void
sm_tls_terminator_finalize (GObject *object)
{
  SmTlsTerminator *self = SM_TLS_TERMINATOR (object);

  g_clear_object (&self->credentials);
  g_clear_pointer (&self->display_name, g_free);

  G_OBJECT_CLASS (sm_tls_terminator_parent_class)->finalize (object);
}

static void
sm_tls_terminator_class_init (SmTlsTerminatorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_tls_terminator_dispose;
  object_class->finalize = sm_tls_terminator_finalize;

  signals[SIGNAL_ACTIVE_CHANGED] =
      g_signal_new ("active-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 0);
}

static void
sm_tls_terminator_init (SmTlsTerminator *self)
{
  g_queue_init (&self->retired);
  sm_rate_limit_init (&self->overflow_log_limit, 10 * G_USEC_PER_SEC, 5);
}

SmTlsTerminator *
sm_tls_terminator_new (const char        *display_name,
                       gint64             hold_us,
                       const char        *priority,
                       const char *const *alpn_protocols,
                       int                handshake_timeout)
{
  g_autoptr (GError) error = NULL;
  SmTlsTerminator *self;

  g_return_val_if_fail (display_name != NULL, NULL);
  g_return_val_if_fail (hold_us > 0, NULL);
  g_return_val_if_fail (handshake_timeout > 0, NULL);

  self = g_object_new (SM_TYPE_TLS_TERMINATOR, NULL);
  self->display_name = g_strdup (display_name);
  self->hold_us = hold_us;
  self->handshake_timeout = handshake_timeout;
  self->credentials = sm_tls_credentials_new ();

  /* Both were checked when the options were read */
  if (priority != NULL && !sm_tls_credentials_set_priority (self->credentials, priority, &error))
    g_warning ("Using the default TLS priority on %s: %s", display_name, error->message);
  g_clear_error (&error);
  if (!sm_tls_credentials_set_alpn_protocols (self->credentials, alpn_protocols, &error))
    g_warning ("No ALPN on %s: %s", display_name, error->message);

  return self;
}

gboolean
sm_tls_terminator_is_active (SmTlsTerminator *self)
{
  g_return_val_if_fail (SM_IS_TLS_TERMINATOR (self), FALSE);
  return self->active;
}

guint
sm_tls_terminator_get_n_handshakes (SmTlsTerminator *self)
{
  g_return_val_if_fail (SM_IS_TLS_TERMINATOR (self), 0);
  return self->n_handshakes;
}

gboolean
sm_tls_terminator_add_certificate (SmTlsTerminator *self,
                                   const char      *id,
                                   const char      *cert_pem,
                                   const char      *key_pem,
                                   GError         **error)
{
  g_return_val_if_fail (SM_IS_TLS_TERMINATOR (self), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);

  if (!sm_tls_credentials_add (self->credentials, id, cert_pem, key_pem, error))
    return FALSE;

  update_active (self);
  return TRUE;
}

void
sm_tls_terminator_retire_certificate (SmTlsTerminator *self, const char *id)
{
  RetiredCertificate *retired;

  g_return_if_fail (SM_IS_TLS_TERMINATOR (self));
  g_return_if_fail (id != NULL);

  retired = g_new0 (RetiredCertificate, 1);
  retired->id = g_strdup (id);
  retired->expires_at = g_get_monotonic_time () + self->hold_us;
  g_queue_push_tail (&self->retired, retired);

  schedule_retirement (self);
}

static void
handshake_done_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  SmTlsTerminator *self = g_task_get_source_object (task);
  SmTlsStream     *stream = SM_TLS_STREAM (source_object);
  g_autoptr (GError) error = NULL;

  self->n_handshakes--;

  if (!sm_tls_stream_handshake_finish (stream, result, &error))
    {
      /* Remote input: tracing only */
      g_debug ("Connection from %s to %s: %s", (const char *) g_task_get_task_data (task),
               self->display_name, error->message);
      g_io_stream_close (G_IO_STREAM (stream), NULL, NULL);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  g_task_return_pointer (task, g_object_ref (stream), g_object_unref);
}

void
sm_tls_terminator_handshake_async (SmTlsTerminator    *self,
                                   GSocketConnection  *connection,
                                   GCancellable       *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (SmTlsStream) stream = NULL;
  g_autoptr (GSocketAddress) remote = NULL;
  g_autoptr (GError) error = NULL;

  g_return_if_fail (SM_IS_TLS_TERMINATOR (self));
  g_return_if_fail (G_IS_SOCKET_CONNECTION (connection));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, sm_tls_terminator_handshake_async);
  remote = g_socket_connection_get_remote_address (connection, NULL);
  g_task_set_task_data (
      task, remote != NULL ? sm_address_format_socket (remote) : g_strdup ("(unknown)"), g_free);

  if (self->n_handshakes >= SM_TLS_MAX_HANDSHAKES)
    {
      sm_rate_limit_log (&self->overflow_log_limit, G_LOG_LEVEL_WARNING,
                         "Closing a connection to %s: %u TLS handshakes already in progress",
                         self->display_name, self->n_handshakes);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      g_task_return_new_error (task, SM_ERROR, SM_ERROR_FAILED,
                               "too many TLS handshakes in progress");
      return;
    }

  stream = sm_tls_stream_new_server (G_IO_STREAM (connection), self->credentials, &error);
  if (stream == NULL)
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* Clients that just close are done, not broken: the service gets a FIN
   * (raw TCP), and HTTP framing tells a cut-off message by itself */
  sm_tls_stream_set_truncation_is_eof (stream, TRUE);

  /* The handshake's flights are small: no Nagle delays between them */
  g_socket_set_option (g_socket_connection_get_socket (connection), IPPROTO_TCP, TCP_NODELAY, 1,
                       NULL);

  self->n_handshakes++;
  sm_tls_stream_handshake_async (stream, self->handshake_timeout, cancellable, handshake_done_cb,
                                 g_steal_pointer (&task));
}

SmTlsStream *
sm_tls_terminator_handshake_finish (SmTlsTerminator *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, sm_tls_terminator_handshake_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
