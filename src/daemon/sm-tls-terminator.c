/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "sm-address.h"
#include "sm-error.h"
#include "sm-proxy-accept.h"
#include "sm-source-limit.h"
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
  SmSourceLimit    *limit;
};

/* One handshake in progress; owned by its task (task data) */
typedef struct
{
  char           *peer;
  SmSourceTicket *ticket;
  GCancellable   *cancellable; /* ours: dropping the handshake cancels it */
  GCancellable   *caller_cancellable;
  gulong          caller_cancelled_id;
  GSource        *first_byte_source;
} Handshake;

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
  /* Handshakes still running hold a reference: none are left */
  g_clear_pointer (&self->limit, sm_source_limit_free);

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
}

SmTlsTerminator *
sm_tls_terminator_new (const char        *display_name,
                       gint64             hold_us,
                       const char        *priority,
                       const char *const *alpn_protocols,
                       int                handshake_timeout)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *what = NULL;
  SmTlsTerminator *self;

  g_return_val_if_fail (display_name != NULL, NULL);
  g_return_val_if_fail (hold_us > 0, NULL);
  g_return_val_if_fail (handshake_timeout > 0, NULL);

  self = g_object_new (SM_TYPE_TLS_TERMINATOR, NULL);
  self->display_name = g_strdup (display_name);
  self->hold_us = hold_us;
  self->handshake_timeout = handshake_timeout;
  self->credentials = sm_tls_credentials_new ();
  what = g_strdup_printf ("TLS handshakes on %s", display_name);
  self->limit =
      sm_source_limit_new (what, SM_TLS_MAX_HANDSHAKES, SM_SOURCE_LIMIT_DEFAULT_MAX_PER_SOURCE);

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

void
sm_tls_terminator_set_handshake_limits (SmTlsTerminator *self,
                                        guint            max_total,
                                        guint            max_per_source)
{
  g_return_if_fail (SM_IS_TLS_TERMINATOR (self));

  sm_source_limit_set_max (self->limit, max_total, max_per_source);
}

static void
handshake_free (Handshake *handshake)
{
  g_clear_pointer (&handshake->first_byte_source, g_source_destroy);
  g_cancellable_disconnect (handshake->caller_cancellable, handshake->caller_cancelled_id);
  g_clear_object (&handshake->caller_cancellable);
  g_clear_object (&handshake->cancellable);
  sm_source_ticket_release (handshake->ticket);
  g_free (handshake->peer);
  g_free (handshake);
}

static void
on_caller_cancelled (GCancellable *caller_cancellable, gpointer user_data)
{
  GCancellable *cancellable = user_data;

  g_cancellable_cancel (cancellable);
}

/* Only tells the limit which handshakes are silent: the TLS stream reads
 * the bytes itself */
static gboolean
on_first_byte (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  Handshake *handshake = user_data;

  sm_source_ticket_progress (handshake->ticket);
  handshake->first_byte_source = NULL;
  return G_SOURCE_REMOVE;
}

static void
handshake_done_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  SmTlsTerminator *self = g_task_get_source_object (task);
  Handshake       *handshake = g_task_get_task_data (task);
  SmTlsStream     *stream = SM_TLS_STREAM (source_object);
  g_autoptr (GError) error = NULL;

  self->n_handshakes--;
  g_clear_pointer (&handshake->ticket, sm_source_ticket_release);
  /* the task may outlive this (its callback can come in a later
   * iteration), and the closed socket would wake this source */
  g_clear_pointer (&handshake->first_byte_source, g_source_destroy);

  if (!sm_tls_stream_handshake_finish (stream, result, &error))
    {
      /* Remote input: tracing only */
      g_debug ("Connection from %s to %s: %s", handshake->peer, self->display_name, error->message);
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
  g_autofree char *key = NULL;
  GSocket         *socket;
  Handshake       *handshake;

  g_return_if_fail (SM_IS_TLS_TERMINATOR (self));
  g_return_if_fail (G_IS_SOCKET_CONNECTION (connection));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, sm_tls_terminator_handshake_async);
  handshake = g_new0 (Handshake, 1);
  g_task_set_task_data (task, handshake, (GDestroyNotify) handshake_free);
  /* Behind a trusted balancer, the client its PROXY header named */
  remote = sm_proxy_accept_get_client_address (G_IO_STREAM (connection));
  handshake->peer = sm_address_format_socket (remote);
  key = sm_address_source_key (remote);

  /* Dropped to make room for a newer one: cancelled */
  handshake->cancellable = g_cancellable_new ();
  handshake->ticket = sm_source_limit_admit (
      self->limit, key, (SmSourceEvictFunc) g_cancellable_cancel, handshake->cancellable);
  if (handshake->ticket == NULL)
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      g_task_return_new_error (task, SM_ERROR, SM_ERROR_FAILED,
                               "too many TLS handshakes in progress from %s", key);
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
  /* --tls-workers: the signatures on other cores than the event loop's */
  sm_tls_stream_set_workers (stream, sm_tls_workers_get_default ());

  /* The handshake's flights are small: no Nagle delays between them */
  socket = g_socket_connection_get_socket (connection);
  g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  if (cancellable != NULL)
    {
      handshake->caller_cancellable = g_object_ref (cancellable);
      handshake->caller_cancelled_id =
          g_cancellable_connect (cancellable, G_CALLBACK (on_caller_cancelled),
                                 g_object_ref (handshake->cancellable), g_object_unref);
    }
  handshake->first_byte_source = g_socket_create_source (socket, G_IO_IN, NULL);
  g_source_set_callback (handshake->first_byte_source, G_SOURCE_FUNC (on_first_byte), handshake,
                         NULL);
  g_source_set_static_name (handshake->first_byte_source, "[socketmaster] TLS first byte");
  g_source_attach (handshake->first_byte_source, NULL);
  /* the context owns it until it fires or handshake_free() destroys it */
  g_source_unref (handshake->first_byte_source);

  self->n_handshakes++;
  sm_tls_stream_handshake_async (stream, self->handshake_timeout, handshake->cancellable,
                                 handshake_done_cb, g_steal_pointer (&task));
}

SmTlsStream *
sm_tls_terminator_handshake_finish (SmTlsTerminator *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, sm_tls_terminator_handshake_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
