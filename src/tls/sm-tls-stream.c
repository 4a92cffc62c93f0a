/* SPDX-License-Identifier: MIT */
/* SmTlsStream: the GnuTLS session, its transport over the base stream, the
 * handshake and the stream's life cycle. Reading and writing records,
 * closing the output and polling are in sm-tls-record-io.c. */
#include <errno.h>
#include <string.h>

#include "sm-error.h"
#include "sm-tls-private.h"

/* iovecs handed to one writev; GnuTLS copes with a partial write */
#define MAX_PUSH_VECTORS 64

G_DEFINE_TYPE (SmTlsStream, sm_tls_stream, G_TYPE_IO_STREAM)

/* Transport: GnuTLS reads and writes the base streams through these */

void
sm_tls_stream_begin_io (SmTlsStream *self, gboolean blocking, GCancellable *cancellable)
{
  self->blocking = blocking;
  self->cancellable = cancellable;
  g_clear_error (&self->transport_error);
}

void
sm_tls_stream_end_io (SmTlsStream *self)
{
  self->blocking = FALSE;
  self->cancellable = NULL;
}

static ssize_t
transport_failed (SmTlsStream *self, GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    {
      g_error_free (error);
      gnutls_transport_set_errno (self->session, EAGAIN);
    }
  else
    {
      g_clear_error (&self->transport_error);
      self->transport_error = error;
      gnutls_transport_set_errno (self->session, EIO);
    }
  return -1;
}

/* Bytes read ahead per read, when GnuTLS asks for fewer */
#define PULL_AHEAD_SIZE 4096

static void
pull_buffer_release (SmTlsStream *self)
{
  g_clear_pointer (&self->pull_buffer, g_free);
  self->pull_start = self->pull_end = 0;
}

static ssize_t
pull_cb (gnutls_transport_ptr_t transport, void *buffer, size_t size)
{
  SmTlsStream *self = transport;
  GError      *error = NULL;
  gsize        taken;
  gssize       n;

  if (self->pull_start == self->pull_end && size < PULL_AHEAD_SIZE)
    {
      if (self->pull_buffer == NULL)
        self->pull_buffer = g_malloc (PULL_AHEAD_SIZE);
      n = g_pollable_stream_read (G_INPUT_STREAM (self->base_input), self->pull_buffer,
                                  PULL_AHEAD_SIZE, self->blocking, self->cancellable, &error);
      if (n <= 0)
        pull_buffer_release (self);
      if (n < 0)
        return transport_failed (self, error);
      self->pull_start = 0;
      self->pull_end = (gsize) n;
    }

  if (self->pull_start == self->pull_end)
    {
      /* Big reads (a record's body) go straight to GnuTLS; or the EOF */
      n = g_pollable_stream_read (G_INPUT_STREAM (self->base_input), buffer, MIN (size, G_MAXSSIZE),
                                  self->blocking, self->cancellable, &error);
      if (n < 0)
        return transport_failed (self, error);
      return n;
    }

  taken = MIN (size, self->pull_end - self->pull_start);
  memcpy (buffer, self->pull_buffer + self->pull_start, taken);
  self->pull_start += taken;
  if (self->pull_start == self->pull_end)
    pull_buffer_release (self);
  return taken;
}

gboolean
sm_tls_stream_has_read_ahead (SmTlsStream *self)
{
  return self->pull_start < self->pull_end;
}

static ssize_t
push_cb (gnutls_transport_ptr_t transport, const void *buffer, size_t size)
{
  SmTlsStream *self = transport;
  GError      *error = NULL;
  gssize       n;

  n = g_pollable_stream_write (G_OUTPUT_STREAM (self->base_output), buffer, MIN (size, G_MAXSSIZE),
                               self->blocking, self->cancellable, &error);
  if (n < 0)
    return transport_failed (self, error);
  return n;
}

static ssize_t
vec_push_cb (gnutls_transport_ptr_t transport, const giovec_t *iov, int iovcnt)
{
  SmTlsStream  *self = transport;
  GOutputVector vectors[MAX_PUSH_VECTORS];
  gsize         n_vectors = MIN ((gsize) MAX (iovcnt, 0), G_N_ELEMENTS (vectors));
  gsize         written = 0;
  GError       *error = NULL;

  for (gsize i = 0; i < n_vectors; i++)
    {
      vectors[i].buffer = iov[i].iov_base;
      vectors[i].size = iov[i].iov_len;
    }

  if (self->blocking)
    {
      if (!g_output_stream_writev (G_OUTPUT_STREAM (self->base_output), vectors, n_vectors,
                                   &written, self->cancellable, &error))
        return transport_failed (self, error);
    }
  else
    {
      GPollableReturn ret;

      ret = g_pollable_output_stream_writev_nonblocking (self->base_output, vectors, n_vectors,
                                                         &written, self->cancellable, &error);
      if (ret == G_POLLABLE_RETURN_WOULD_BLOCK)
        {
          gnutls_transport_set_errno (self->session, EAGAIN);
          return -1;
        }
      if (ret == G_POLLABLE_RETURN_FAILED)
        return transport_failed (self, error);
    }

  return MIN (written, G_MAXSSIZE);
}

/* Only used by GnuTLS when a timeout is set, which we never do: our
 * timeouts are main loop sources. Answers "ready" so that the pull
 * function, which knows whether to block, decides. */
static int
pull_timeout_cb (gnutls_transport_ptr_t transport, unsigned int ms)
{
  SmTlsStream *self = transport;

  if (ms == 0)
    return sm_tls_stream_has_read_ahead (self) ||
                   g_pollable_input_stream_is_readable (self->base_input)
               ? 1
               : 0;
  return 1;
}

void
sm_tls_stream_set_truncation_is_eof (SmTlsStream *self, gboolean truncation_is_eof)
{
  g_return_if_fail (SM_IS_TLS_STREAM (self));
  self->truncation_is_eof = truncation_is_eof;
}

/* Errors */

void
sm_tls_stream_set_gnutls_error (SmTlsStream *self, int ret, const char *what, GError **error)
{
  if ((ret == GNUTLS_E_PULL_ERROR || ret == GNUTLS_E_PUSH_ERROR) && self->transport_error != NULL)
    g_propagate_error (error, g_steal_pointer (&self->transport_error));
  else if (ret == GNUTLS_E_PREMATURE_TERMINATION)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                         "TLS peer closed the connection without close_notify");
  else
    g_set_error (error, SM_ERROR, SM_ERROR_TLS, "%s: %s", what, gnutls_strerror (ret));
}

/* Server name: what the client sent as SNI, if it is a plain DNS name */
static char *
read_server_name (gnutls_session_t session)
{
  char         name[256];
  size_t       size = sizeof name;
  unsigned int type = 0;

  if (gnutls_server_name_get (session, name, &size, &type, 0) != 0 || type != GNUTLS_NAME_DNS)
    return NULL;

  size = strnlen (name, MIN (size, sizeof name - 1));
  while (size > 0 && name[size - 1] == '.')
    size--;
  if (size == 0)
    return NULL;
  for (size_t i = 0; i < size; i++)
    {
      if (!g_ascii_isalnum (name[i]) && name[i] != '-' && name[i] != '.' && name[i] != '_')
        return NULL;
    }

  return g_ascii_strdown (name, size);
}

int
sm_tls_stream_retrieve_certificate (gnutls_session_t             session,
                                    const gnutls_datum_t        *req_ca_rdn,
                                    int                          n_req_ca_rdn,
                                    const gnutls_pk_algorithm_t *pk_algos,
                                    int                          n_pk_algos,
                                    gnutls_pcert_st            **pcerts,
                                    unsigned int                *n_pcerts,
                                    gnutls_privkey_t            *key)
{
  SmTlsStream *self = gnutls_session_get_ptr (session);

  /* GnuTLS may ask more than once per handshake: keep the first answer */
  if (self->certificate == NULL)
    {
      g_autofree char *server_name = read_server_name (session);
      self->certificate = sm_tls_credentials_select (self->credentials, server_name);
    }

  if (self->certificate == NULL)
    {
      /* the handshake then fails for lack of credentials */
      *pcerts = NULL;
      *n_pcerts = 0;
      *key = NULL;
      return 0;
    }

  sm_tls_certificate_get_credentials (self->certificate, pcerts, n_pcerts, key);
  return 0;
}

/* Handshake */

static void handshake_step (SmTlsStream *self);

static void
handshake_clear_sources (SmTlsStream *self)
{
  sm_source_clear (&self->handshake_wait_source);
  sm_source_clear (&self->handshake_timeout_source);
}

static void
handshake_complete (SmTlsStream *self, GError *error)
{
  GTask *task = g_steal_pointer (&self->handshake_task);

  self->handshake_cancellable = NULL;
  handshake_clear_sources (self);
  if (error != NULL)
    {
      self->handshake_state = SM_TLS_HANDSHAKE_FAILED;
      g_clear_error (&self->fatal_error);
      self->fatal_error = g_error_copy (error);
      g_debug ("TLS handshake failed: %s", error->message);
      g_task_return_error (task, error);
    }
  else
    {
      g_task_return_boolean (task, TRUE);
    }
  /* may drop the last reference on self */
  g_object_unref (task);
}

static void
handshake_succeeded (SmTlsStream *self)
{
  gnutls_datum_t protocol = { NULL, 0 };

  self->handshake_state = SM_TLS_HANDSHAKE_DONE;
  self->server_name = read_server_name (self->session);
  if (gnutls_alpn_get_selected_protocol (self->session, &protocol) == 0 && protocol.size > 0)
    self->alpn = g_strndup ((const char *) protocol.data, protocol.size);
  /* a resumed session sends no certificate: report the one we would send */
  if (self->certificate == NULL)
    self->certificate = sm_tls_credentials_select (self->credentials, self->server_name);

  g_debug ("TLS handshake done: %s, server name %s, ALPN %s, certificate %s%s",
           gnutls_protocol_get_name (gnutls_protocol_get_version (self->session)),
           self->server_name != NULL ? self->server_name : "(none)",
           self->alpn != NULL ? self->alpn : "(none)",
           self->certificate != NULL ? sm_tls_certificate_get_id (self->certificate) : "(none)",
           gnutls_session_is_resumed (self->session) ? " (resumed)" : "");
  handshake_complete (self, NULL);
}

static void
handshake_failed (SmTlsStream *self, int ret)
{
  const char *reason;

  if ((ret == GNUTLS_E_PULL_ERROR || ret == GNUTLS_E_PUSH_ERROR) && self->transport_error != NULL)
    {
      reason = self->transport_error->message;
    }
  else
    {
      reason = gnutls_strerror (ret);
      /* best effort: tell the client why; nothing more is sent after */
      sm_tls_stream_begin_io (self, FALSE, NULL);
      gnutls_alert_send_appropriate (self->session, ret);
      sm_tls_stream_end_io (self);
    }

  handshake_complete (self,
                      g_error_new (SM_ERROR, SM_ERROR_TLS, "TLS handshake failed: %s", reason));
}

/* Ends the handshake with @error (taken), now or, while a step runs in a
 * worker, when it is back */
static void
handshake_abort (SmTlsStream *self, GError *error)
{
  if (!self->step_in_worker)
    {
      handshake_complete (self, error);
      return;
    }

  g_atomic_int_set (&self->step_abandoned, TRUE);
  if (self->handshake_abort_error == NULL)
    self->handshake_abort_error = error;
  else
    g_error_free (error);
}

static gboolean
handshake_ready_cb (GObject *pollable_stream, gpointer user_data)
{
  handshake_step (user_data);
  return G_SOURCE_REMOVE;
}

static gboolean
handshake_timeout_cb (gpointer user_data)
{
  SmTlsStream *self = user_data;

  g_clear_pointer (&self->handshake_timeout_source, g_source_unref);
  handshake_abort (self,
                   g_error_new (SM_ERROR, SM_ERROR_TIMED_OUT, "TLS handshake timed out after %d s",
                                self->handshake_timeout));
  return G_SOURCE_REMOVE;
}

/* One gnutls_handshake() call, as far as the socket lets it go */
static int
run_handshake_step (SmTlsStream *self)
{
  int ret;

  do
    {
      sm_tls_stream_begin_io (self, FALSE, self->handshake_cancellable);
      ret = gnutls_handshake (self->session);
      sm_tls_stream_end_io (self);
    }
  while (ret == GNUTLS_E_INTERRUPTED || ret == GNUTLS_E_WARNING_ALERT_RECEIVED);

  return ret;
}

/* On the handshake's context, with the result of a step */
static void
handshake_step_result (SmTlsStream *self, int ret)
{
  GError  *error = NULL;
  GSource *source;

  if (ret == 0)
    {
      handshake_succeeded (self);
      return;
    }
  /* cancelled while the step ran in a worker: the transport failed */
  if (g_cancellable_set_error_if_cancelled (self->handshake_cancellable, &error))
    {
      handshake_complete (self, error);
      return;
    }
  if (ret != GNUTLS_E_AGAIN)
    {
      handshake_failed (self, ret);
      return;
    }

  /* the pollable source also fires on cancellation */
  if (gnutls_record_get_direction (self->session) == 0)
    source = g_pollable_input_stream_create_source (self->base_input, self->handshake_cancellable);
  else
    source =
        g_pollable_output_stream_create_source (self->base_output, self->handshake_cancellable);
  g_source_set_callback (source, G_SOURCE_FUNC (handshake_ready_cb), self, NULL);
  g_source_set_static_name (source, "[socketmaster] TLS handshake");
  g_source_attach (source, g_task_get_context (self->handshake_task));
  self->handshake_wait_source = source;
}

/* In a worker thread, which has the session and the base to itself */
static void
handshake_step_work (gpointer data)
{
  SmTlsStream *self = data;

  /* given up while queued: the work would be thrown away */
  if (g_atomic_int_get (&self->step_abandoned))
    self->step_ret = GNUTLS_E_AGAIN;
  else
    self->step_ret = run_handshake_step (self);
}

static void close_both (SmTlsStream *self);

/* Back on the handshake's context; holds the reference the step took */
static gboolean
handshake_step_done (gpointer data)
{
  g_autoptr (SmTlsStream) self = data;

  self->step_in_worker = FALSE;
  if (self->handshake_abort_error != NULL)
    handshake_complete (self, g_steal_pointer (&self->handshake_abort_error));
  else
    handshake_step_result (self, self->step_ret);

  if (self->close_pending)
    close_both (self);
  else if (self->shutdown_pending)
    sm_tls_stream_begin_shutdown (self);
  return G_SOURCE_REMOVE;
}

static void
handshake_step (SmTlsStream *self)
{
  GError *error = NULL;

  sm_source_clear (&self->handshake_wait_source);

  if (g_cancellable_set_error_if_cancelled (self->handshake_cancellable, &error))
    {
      handshake_complete (self, error);
      return;
    }

  if (self->workers == NULL)
    {
      handshake_step_result (self, run_handshake_step (self));
      return;
    }

  /* the worker's reference keeps self alive until the step is back here */
  self->step_in_worker = TRUE;
  sm_tls_workers_run (self->workers, handshake_step_work, handshake_step_done, g_object_ref (self),
                      g_object_unref, g_task_get_context (self->handshake_task));
}

void
sm_tls_stream_set_workers (SmTlsStream *self, SmTlsWorkers *workers)
{
  g_return_if_fail (SM_IS_TLS_STREAM (self));
  g_return_if_fail (workers == NULL || SM_IS_TLS_WORKERS (workers));
  g_return_if_fail (self->handshake_state == SM_TLS_HANDSHAKE_NOT_STARTED);

  g_set_object (&self->workers, workers);
}

void
sm_tls_stream_handshake_async (SmTlsStream        *self,
                               int                 timeout_seconds,
                               GCancellable       *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (SM_IS_TLS_STREAM (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, sm_tls_stream_handshake_async);

  if (self->handshake_state != SM_TLS_HANDSHAKE_NOT_STARTED)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED,
                               "TLS handshake already started");
      return;
    }

  self->handshake_state = SM_TLS_HANDSHAKE_RUNNING;
  self->handshake_task = g_steal_pointer (&task);
  self->handshake_cancellable = cancellable;

  if (timeout_seconds > 0)
    {
      self->handshake_timeout = timeout_seconds;
      self->handshake_timeout_source =
          g_timeout_source_new ((guint) MIN (timeout_seconds, G_MAXINT / 1000) * 1000);
      g_source_set_callback (self->handshake_timeout_source, handshake_timeout_cb, self, NULL);
      g_source_set_static_name (self->handshake_timeout_source,
                                "[socketmaster] TLS handshake timeout");
      g_source_attach (self->handshake_timeout_source, g_task_get_context (self->handshake_task));
    }

  handshake_step (self);
}

gboolean
sm_tls_stream_handshake_finish (SmTlsStream *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, sm_tls_stream_handshake_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

const char *
sm_tls_stream_get_server_name (SmTlsStream *self)
{
  g_return_val_if_fail (SM_IS_TLS_STREAM (self), NULL);

  return self->server_name;
}

const char *
sm_tls_stream_get_alpn (SmTlsStream *self)
{
  g_return_val_if_fail (SM_IS_TLS_STREAM (self), NULL);

  return self->alpn;
}

const char *
sm_tls_stream_get_certificate_id (SmTlsStream *self)
{
  g_return_val_if_fail (SM_IS_TLS_STREAM (self), NULL);

  if (self->handshake_state != SM_TLS_HANDSHAKE_DONE || self->certificate == NULL)
    return NULL;
  return sm_tls_certificate_get_id (self->certificate);
}

GIOStream *
sm_tls_stream_get_base_stream (SmTlsStream *self)
{
  g_return_val_if_fail (SM_IS_TLS_STREAM (self), NULL);

  return self->base;
}
/* GIOStream */

static GInputStream *
sm_tls_stream_get_input_stream (GIOStream *stream)
{
  return SM_TLS_STREAM (stream)->input;
}

static GOutputStream *
sm_tls_stream_get_output_stream (GIOStream *stream)
{
  return SM_TLS_STREAM (stream)->output;
}

/* Marks both halves closed and starts the shutdown; the base is closed
 * once that is done. */
static void
close_both (SmTlsStream *self)
{
  GError *error = NULL;

  if (self->handshake_state == SM_TLS_HANDSHAKE_RUNNING)
    error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                 "TLS stream closed during the handshake");
  /* a worker is using the base: closing it now could even let its
   * descriptor be reused under the worker */
  if (self->step_in_worker)
    {
      self->close_pending = TRUE;
      if (error != NULL)
        handshake_abort (self, error);
      return;
    }
  self->close_pending = FALSE;
  if (error != NULL)
    handshake_complete (self, error);

  self->close_base_after_shutdown = TRUE;
  /* fails (harmlessly) while an async write is in flight; the shutdown
   * below does not depend on it */
  if (self->output != NULL)
    g_output_stream_close (self->output, NULL, NULL);
  if (self->input != NULL)
    g_input_stream_close (self->input, NULL, NULL);
  sm_tls_stream_begin_shutdown (self);

  /* the output may have been shut before: a half-close */
  if (self->output_state == SM_TLS_OUTPUT_SHUT && self->set_up)
    sm_tls_stream_close_base (self);
}

static gboolean
sm_tls_stream_close_fn (GIOStream *stream, GCancellable *cancellable, GError **error)
{
  close_both (SM_TLS_STREAM (stream));
  return TRUE;
}

static void
sm_tls_stream_close_async (GIOStream          *stream,
                           int                 io_priority,
                           GCancellable       *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer            user_data)
{
  SmTlsStream *self = SM_TLS_STREAM (stream);
  GTask       *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, sm_tls_stream_close_async);
  g_task_set_check_cancellable (task, FALSE);
  g_task_set_priority (task, io_priority);

  close_both (self);
  sm_tls_stream_return_when_shut (self, task);
}

static gboolean
sm_tls_stream_close_finish (GIOStream *stream, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
sm_tls_stream_dispose (GObject *object)
{
  SmTlsStream *self = SM_TLS_STREAM (object);

  if (!g_io_stream_is_closed (G_IO_STREAM (self)))
    g_io_stream_close (G_IO_STREAM (self), NULL, NULL);

  /* the shutdown took a reference and finishes in the background; the
   * last unref comes back here once it is done */
  if (!self->holds_shutdown_ref)
    {
      handshake_clear_sources (self);
      sm_source_clear (&self->output_source);
      sm_source_clear (&self->linger_source);
    }

  G_OBJECT_CLASS (sm_tls_stream_parent_class)->dispose (object);
}

static void
sm_tls_stream_finalize (GObject *object)
{
  SmTlsStream *self = SM_TLS_STREAM (object);

  /* the session may point at the certificate's chain and key */
  if (self->session != NULL)
    gnutls_deinit (self->session);
  pull_buffer_release (self);
  g_clear_pointer (&self->certificate, sm_tls_certificate_unref);
  g_clear_object (&self->credentials);
  g_clear_object (&self->workers);
  g_clear_error (&self->handshake_abort_error);
  g_clear_object (&self->input);
  g_clear_object (&self->output);
  g_clear_object (&self->base);
  g_clear_error (&self->transport_error);
  g_clear_error (&self->fatal_error);
  g_clear_error (&self->read_error);
  g_clear_error (&self->write_error);
  g_clear_error (&self->shutdown_error);
  g_ptr_array_unref (self->shutdown_waiters);
  g_free (self->server_name);
  g_free (self->alpn);

  G_OBJECT_CLASS (sm_tls_stream_parent_class)->finalize (object);
}

static void
sm_tls_stream_class_init (SmTlsStreamClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GIOStreamClass *stream_class = G_IO_STREAM_CLASS (klass);

  object_class->dispose = sm_tls_stream_dispose;
  object_class->finalize = sm_tls_stream_finalize;

  stream_class->get_input_stream = sm_tls_stream_get_input_stream;
  stream_class->get_output_stream = sm_tls_stream_get_output_stream;
  stream_class->close_fn = sm_tls_stream_close_fn;
  stream_class->close_async = sm_tls_stream_close_async;
  stream_class->close_finish = sm_tls_stream_close_finish;
}

static void
sm_tls_stream_init (SmTlsStream *self)
{
  self->shutdown_waiters = g_ptr_array_new ();
}

SmTlsStream *
sm_tls_stream_new_server (GIOStream *base, SmTlsCredentials *creds, GError **error)
{
  g_autoptr (SmTlsStream) self = NULL;
  GInputStream  *input;
  GOutputStream *output;
  int            ret;

  g_return_val_if_fail (G_IS_IO_STREAM (base), NULL);
  g_return_val_if_fail (SM_IS_TLS_CREDENTIALS (creds), NULL);

  input = g_io_stream_get_input_stream (base);
  output = g_io_stream_get_output_stream (base);
  if (!G_IS_POLLABLE_INPUT_STREAM (input) ||
      !g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (input)) ||
      !G_IS_POLLABLE_OUTPUT_STREAM (output) ||
      !g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (output)))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                           "TLS needs a pollable base stream");
      return NULL;
    }

  self = g_object_new (SM_TYPE_TLS_STREAM, NULL);
  self->base = g_object_ref (base);
  self->base_input = G_POLLABLE_INPUT_STREAM (input);
  self->base_output = G_POLLABLE_OUTPUT_STREAM (output);
  self->credentials = g_object_ref (creds);

  ret = gnutls_init (&self->session, GNUTLS_SERVER | GNUTLS_NONBLOCK);
  if (ret < 0)
    {
      self->session = NULL;
      g_set_error (error, SM_ERROR, SM_ERROR_TLS, "TLS session setup failed: %s",
                   gnutls_strerror (ret));
      return NULL;
    }

  gnutls_session_set_ptr (self->session, self);
  gnutls_transport_set_ptr (self->session, self);
  gnutls_transport_set_pull_function (self->session, pull_cb);
  gnutls_transport_set_pull_timeout_function (self->session, pull_timeout_cb);
  gnutls_transport_set_push_function (self->session, push_cb);
  gnutls_transport_set_vec_push_function (self->session, vec_push_cb);
  /* our own timeout is a main loop source */
  gnutls_handshake_set_timeout (self->session, GNUTLS_INDEFINITE_TIMEOUT);

  if (!sm_tls_credentials_setup_session (creds, self->session, error))
    return NULL;

  self->input = sm_tls_input_stream_new (self);
  self->output = sm_tls_output_stream_new (self);
  self->set_up = TRUE;

  return g_steal_pointer (&self);
}
