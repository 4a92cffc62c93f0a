/* SPDX-License-Identifier: MIT */
/* SmTlsStream: reading and writing records, closing the output
 * (close_notify, half-close, linger) and polling, for its input and output
 * streams. The session, its transport and the handshake are in
 * sm-tls-stream.c. */
#include <string.h>

#include "sm-error.h"
#include "sm-pollable-source.h"
#include "sm-tls-private.h"

/* plaintext of one TLS record: what a single write takes at most */
#define MAX_RECORD_PLAINTEXT 16384

/* The TLS stream behind an input or output stream; NULL with
 * G_IO_ERROR_CLOSED once it is gone */
static SmTlsStream *
ref_tls (GWeakRef *tls_ref, GError **error)
{
  SmTlsStream *self = g_weak_ref_get (tls_ref);

  if (self == NULL)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "TLS stream is closed");
  return self;
}

static gboolean
check_io_allowed (SmTlsStream *self, GCancellable *cancellable, GError **error)
{
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  if (self->base_closed)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "TLS stream is closed");
      return FALSE;
    }
  if (self->fatal_error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->fatal_error));
      return FALSE;
    }
  if (self->handshake_state != SM_TLS_HANDSHAKE_DONE)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                           "TLS handshake has not completed");
      return FALSE;
    }
  return TRUE;
}

/* Reading */

static gssize
read_record (SmTlsStream  *self,
             void         *buffer,
             gsize         count,
             gboolean      blocking,
             GCancellable *cancellable,
             GError      **error)
{
  if (!check_io_allowed (self, cancellable, error))
    return -1;
  if (self->read_error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->read_error));
      return -1;
    }
  if (self->read_eof || count == 0)
    return 0;

  for (;;)
    {
      ssize_t ret;

      sm_tls_stream_begin_io (self, blocking, cancellable);
      ret = gnutls_record_recv (self->session, buffer, MIN (count, G_MAXSSIZE));
      sm_tls_stream_end_io (self);

      if (ret > 0)
        return ret;
      if (ret == 0)
        {
          g_debug ("TLS peer sent close_notify");
          self->read_eof = TRUE;
          return 0;
        }

      switch (ret)
        {
        case GNUTLS_E_INTERRUPTED:
        case GNUTLS_E_WARNING_ALERT_RECEIVED:
          continue;

        case GNUTLS_E_AGAIN:
          /* also after GnuTLS handled a post-handshake message: a
           * blocking read then goes on waiting for data */
          if (blocking)
            continue;
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "Operation would block");
          return -1;

        case GNUTLS_E_REHANDSHAKE:
          /* renegotiation only serves client certificates, which we never
           * ask for, and it has a long history of attacks */
          g_debug ("TLS peer asked for renegotiation; refusing");
          sm_tls_stream_begin_io (self, FALSE, NULL);
          gnutls_alert_send (self->session, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
          sm_tls_stream_end_io (self);
          self->fatal_error =
              g_error_new_literal (SM_ERROR, SM_ERROR_TLS, "TLS renegotiation refused");
          g_propagate_error (error, g_error_copy (self->fatal_error));
          return -1;

        case GNUTLS_E_PREMATURE_TERMINATION:
          if (self->truncation_is_eof)
            {
              self->read_eof = TRUE;
              return 0;
            }
          sm_tls_stream_set_gnutls_error (self, ret, "TLS read failed", &self->read_error);
          g_propagate_error (error, g_error_copy (self->read_error));
          return -1;

        default:
          if ((ret == GNUTLS_E_PULL_ERROR || ret == GNUTLS_E_PUSH_ERROR) ||
              !gnutls_error_is_fatal (ret))
            {
              sm_tls_stream_set_gnutls_error (self, ret, "TLS read failed", error);
              return -1;
            }
          sm_tls_stream_set_gnutls_error (self, ret, "TLS read failed", &self->fatal_error);
          g_propagate_error (error, g_error_copy (self->fatal_error));
          return -1;
        }
    }
}

gssize
sm_tls_stream_read (GWeakRef     *tls_ref,
                    GInputStream *input,
                    void         *buffer,
                    gsize         count,
                    gboolean      blocking,
                    GCancellable *cancellable,
                    GError      **error)
{
  g_autoptr (SmTlsStream) self = ref_tls (tls_ref, error);

  if (self == NULL)
    return -1;
  if (g_input_stream_is_closed (input))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "Stream is already closed");
      return -1;
    }
  return read_record (self, buffer, count, blocking, cancellable, error);
}

/* Writing and closing the output */

static void drive_output (SmTlsStream *self);

static gboolean
output_ready_cb (GObject *pollable_stream, gpointer user_data)
{
  /* may stop watching, or finish the shutdown and drop self */
  drive_output (user_data);
  return G_SOURCE_CONTINUE;
}

static void
watch_output (SmTlsStream *self)
{
  if (self->output_source != NULL)
    return;

  self->output_source = sm_stream_create_write_source (self->base_output, NULL);
  g_source_set_callback (self->output_source, G_SOURCE_FUNC (output_ready_cb), self, NULL);
  g_source_set_static_name (self->output_source, "[socketmaster] TLS output");
  g_source_attach (self->output_source, g_main_context_get_thread_default ());
}

static void
set_write_error (SmTlsStream *self, int ret)
{
  g_clear_error (&self->write_error);
  sm_tls_stream_set_gnutls_error (self, ret, "TLS write failed", &self->write_error);
}

/* Hands GnuTLS's held record to the socket; FALSE with WOULD_BLOCK while
 * the socket is full */
static gboolean
flush_pending (SmTlsStream *self, gboolean blocking, GCancellable *cancellable, GError **error)
{
  ssize_t ret;

  if (self->write_error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->write_error));
      return FALSE;
    }
  if (!self->write_pending)
    return TRUE;

  /* GnuTLS documents NULL, 0 as "go on with the record you hold" */
  sm_tls_stream_begin_io (self, blocking, cancellable);
  ret = gnutls_record_send (self->session, NULL, 0);
  sm_tls_stream_end_io (self);

  if (ret >= 0)
    {
      self->write_pending = FALSE;
      return TRUE;
    }
  if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "Operation would block");
      return FALSE;
    }

  set_write_error (self, ret);
  g_propagate_error (error, g_error_copy (self->write_error));
  return FALSE;
}

gssize
sm_tls_stream_write (GWeakRef     *tls_ref,
                     const void   *buffer,
                     gsize         count,
                     gboolean      blocking,
                     GCancellable *cancellable,
                     GError      **error)
{
  g_autoptr (SmTlsStream) self = ref_tls (tls_ref, error);
  gsize   chunk = MIN (count, MAX_RECORD_PLAINTEXT);
  ssize_t ret;

  if (self == NULL)
    return -1;
  if (!check_io_allowed (self, cancellable, error))
    return -1;
  if (self->output_state != SM_TLS_OUTPUT_OPEN)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "TLS output is closed");
      return -1;
    }
  if (!flush_pending (self, blocking, cancellable, error))
    return -1;
  if (count == 0)
    return 0;

  sm_tls_stream_begin_io (self, blocking, cancellable);
  ret = gnutls_record_send (self->session, buffer, chunk);
  sm_tls_stream_end_io (self);

  if (ret >= 0)
    return ret;
  if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
    {
      /* GnuTLS has encrypted the whole chunk and holds what the socket
       * did not take: the data is ours now, sent as the socket drains */
      self->write_pending = TRUE;
      watch_output (self);
      return chunk;
    }

  set_write_error (self, ret);
  g_propagate_error (error, g_error_copy (self->write_error));
  return -1;
}

GPollableReturn
sm_tls_stream_writev_nonblocking (GWeakRef            *tls_ref,
                                  const GOutputVector *vectors,
                                  gsize                n_vectors,
                                  gsize               *bytes_written,
                                  GError             **error)
{
  g_autoptr (GError) local_error = NULL;
  guint8 record[MAX_RECORD_PLAINTEXT];
  gsize  gathered = 0;
  gssize n;

  *bytes_written = 0;
  /* One vector, or a first one that fills a record, needs no copy */
  if (n_vectors == 1 || (n_vectors > 1 && vectors[0].size >= sizeof record))
    {
      n = sm_tls_stream_write (tls_ref, vectors[0].buffer, vectors[0].size, FALSE, NULL,
                               &local_error);
    }
  else
    {
      for (gsize i = 0; i < n_vectors && gathered < sizeof record; i++)
        {
          gsize take = MIN (vectors[i].size, sizeof record - gathered);

          memcpy (record + gathered, vectors[i].buffer, take);
          gathered += take;
        }
      n = sm_tls_stream_write (tls_ref, record, gathered, FALSE, NULL, &local_error);
    }

  if (n >= 0)
    {
      *bytes_written = (gsize) n;
      return G_POLLABLE_RETURN_OK;
    }
  if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_POLLABLE_RETURN_WOULD_BLOCK;
  g_propagate_error (error, g_steal_pointer (&local_error));
  return G_POLLABLE_RETURN_FAILED;
}

static void
half_close_base (SmTlsStream *self)
{
  g_autoptr (GError) error = NULL;

  if (G_IS_SOCKET_CONNECTION (self->base))
    {
      GSocket *socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (self->base));
      g_socket_shutdown (socket, FALSE, TRUE, &error);
    }
  else
    {
      g_output_stream_close (G_OUTPUT_STREAM (self->base_output), NULL, &error);
    }

  if (error != NULL)
    g_debug ("Could not half-close the TLS transport: %s", error->message);
}

void
sm_tls_stream_close_base (SmTlsStream *self)
{
  g_autoptr (GError) error = NULL;

  if (self->base_closed)
    return;
  self->base_closed = TRUE;
  if (!g_io_stream_close (self->base, NULL, &error))
    g_debug ("Could not close the TLS transport: %s", error->message);
}

static void
finish_shutdown (SmTlsStream *self, GError *error)
{
  g_autoptr (GPtrArray) waiters = NULL;

  self->output_state = SM_TLS_OUTPUT_SHUT;
  sm_source_clear (&self->output_source);
  sm_source_clear (&self->linger_source);
  if (error != NULL)
    {
      g_debug ("TLS shutdown: %s", error->message);
      self->shutdown_error = g_error_copy (error);
    }

  if (self->set_up)
    {
      half_close_base (self);
      if (self->close_base_after_shutdown)
        sm_tls_stream_close_base (self);
    }

  waiters = g_steal_pointer (&self->shutdown_waiters);
  self->shutdown_waiters = g_ptr_array_new ();
  for (guint i = 0; i < waiters->len; i++)
    sm_tls_stream_return_when_shut (self, g_ptr_array_index (waiters, i));

  if (self->holds_shutdown_ref)
    {
      self->holds_shutdown_ref = FALSE;
      g_object_unref (self);
    }
}

static gboolean
send_close_notify (SmTlsStream *self, GError **error)
{
  int ret;

  sm_tls_stream_begin_io (self, FALSE, NULL);
  ret = gnutls_bye (self->session, GNUTLS_SHUT_WR);
  sm_tls_stream_end_io (self);

  if (ret == 0)
    return TRUE;
  if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "Operation would block");
  else
    sm_tls_stream_set_gnutls_error (self, ret, "TLS close_notify failed", error);
  return FALSE;
}

static void
drive_output (SmTlsStream *self)
{
  g_autoptr (GError) error = NULL;

  if (flush_pending (self, FALSE, NULL, &error) &&
      (self->output_state != SM_TLS_OUTPUT_SHUTTING_DOWN || send_close_notify (self, &error)))
    {
      if (self->output_state == SM_TLS_OUTPUT_SHUTTING_DOWN)
        finish_shutdown (self, NULL);
      else
        sm_source_clear (&self->output_source);
      return;
    }

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    {
      watch_output (self);
      return;
    }

  sm_source_clear (&self->output_source);
  if (self->output_state == SM_TLS_OUTPUT_SHUTTING_DOWN)
    finish_shutdown (self, error);
}

static gboolean
linger_timeout_cb (gpointer user_data)
{
  SmTlsStream *self = user_data;
  g_autoptr (GError) error = NULL;

  g_clear_pointer (&self->linger_source, g_source_unref);
  error =
      g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                   "TLS peer did not take close_notify within %d s", SM_TLS_STREAM_LINGER_SECONDS);
  finish_shutdown (self, error);
  return G_SOURCE_REMOVE;
}

void
sm_tls_stream_begin_shutdown (SmTlsStream *self)
{
  if (self->output_state != SM_TLS_OUTPUT_OPEN)
    return;
  /* a handshake step in a worker has the base: once it is back */
  if (self->step_in_worker)
    {
      self->shutdown_pending = TRUE;
      return;
    }
  self->shutdown_pending = FALSE;
  self->output_state = SM_TLS_OUTPUT_SHUTTING_DOWN;

  /* without a working session there is no close_notify to send */
  if (self->handshake_state != SM_TLS_HANDSHAKE_DONE || self->fatal_error != NULL ||
      self->write_error != NULL)
    {
      finish_shutdown (self, NULL);
      return;
    }

  /* stay alive until close_notify is out, even if every caller let go;
   * our caller still holds a reference, so self outlives drive_output() */
  self->holds_shutdown_ref = TRUE;
  g_object_ref (self);
  drive_output (self);

  if (self->output_state == SM_TLS_OUTPUT_SHUTTING_DOWN)
    {
      self->linger_source = g_timeout_source_new_seconds (SM_TLS_STREAM_LINGER_SECONDS);
      g_source_set_callback (self->linger_source, linger_timeout_cb, self, NULL);
      g_source_set_static_name (self->linger_source, "[socketmaster] TLS close linger");
      g_source_attach (self->linger_source, g_main_context_get_thread_default ());
    }
}

void
sm_tls_stream_return_when_shut (SmTlsStream *self, GTask *task)
{
  if (self->output_state != SM_TLS_OUTPUT_SHUT)
    {
      g_ptr_array_add (self->shutdown_waiters, task);
      return;
    }

  if (self->shutdown_error != NULL)
    g_task_return_error (task, g_error_copy (self->shutdown_error));
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

gboolean
sm_tls_stream_close_output (GWeakRef *tls_ref, GError **error)
{
  g_autoptr (SmTlsStream) self = g_weak_ref_get (tls_ref);
  g_autoptr (GError) write_error = NULL;

  if (self == NULL)
    return TRUE;

  if (self->write_error != NULL)
    write_error = g_error_copy (self->write_error);
  sm_tls_stream_begin_shutdown (self);
  if (write_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&write_error));
      return FALSE;
    }
  return TRUE;
}

void
sm_tls_stream_close_output_async (GWeakRef *tls_ref, GTask *task)
{
  g_autoptr (SmTlsStream) self = g_weak_ref_get (tls_ref);
  GError *error = NULL;

  if (self == NULL)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }

  sm_tls_stream_begin_shutdown (self);
  if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task), &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  sm_tls_stream_return_when_shut (self, task);
}

/* Polling */

gboolean
sm_tls_stream_can_poll (GWeakRef *tls_ref)
{
  g_autoptr (SmTlsStream) self = g_weak_ref_get (tls_ref);

  return self != NULL && g_pollable_input_stream_can_poll (self->base_input) &&
         g_pollable_output_stream_can_poll (self->base_output);
}

/* Ready because of our own state, whatever the socket says */
static gboolean
is_ready_without_base (SmTlsStream *self, GIOCondition condition)
{
  if (self->handshake_state != SM_TLS_HANDSHAKE_DONE || self->fatal_error != NULL ||
      self->base_closed)
    return TRUE;

  if (condition & G_IO_IN)
    return self->read_error != NULL || self->read_eof ||
           gnutls_record_check_pending (self->session) > 0 || sm_tls_stream_has_read_ahead (self);

  return self->write_error != NULL || self->output_state != SM_TLS_OUTPUT_OPEN;
}

gboolean
sm_tls_stream_is_ready (GWeakRef *tls_ref, GIOCondition condition)
{
  g_autoptr (SmTlsStream) self = g_weak_ref_get (tls_ref);

  /* gone: the next call reports the closed stream at once */
  if (self == NULL || is_ready_without_base (self, condition))
    return TRUE;

  if (condition & G_IO_IN)
    return g_pollable_input_stream_is_readable (self->base_input);
  return g_pollable_output_stream_is_writable (self->base_output);
}

GObject *
sm_tls_stream_get_poll_base (GWeakRef *tls_ref, GIOCondition condition, gboolean *ready)
{
  g_autoptr (SmTlsStream) self = g_weak_ref_get (tls_ref);

  if (self == NULL)
    {
      *ready = TRUE;
      return NULL;
    }
  *ready = is_ready_without_base (self, condition);
  /* Held by the TLS stream for as long as its halves live */
  return condition & G_IO_IN ? G_OBJECT (self->base_input) : G_OBJECT (self->base_output);
}

static gboolean
input_ready_without_base (GObject *tls)
{
  return is_ready_without_base ((SmTlsStream *) tls, G_IO_IN);
}

static gboolean
output_ready_without_base (GObject *tls)
{
  return is_ready_without_base ((SmTlsStream *) tls, G_IO_OUT);
}

static gboolean
always_ready (GObject *object)
{
  return TRUE;
}

GSource *
sm_tls_stream_create_source (GWeakRef     *tls_ref,
                             GObject      *pollable_stream,
                             GIOCondition  condition,
                             GCancellable *cancellable)
{
  g_autoptr (SmTlsStream) self = g_weak_ref_get (tls_ref);
  GSource *source;

  /* Gone: the next call on @pollable_stream reports the closed stream */
  if (self == NULL)
    return sm_pollable_source_new (pollable_stream, always_ready, NULL, cancellable);

  if (condition & G_IO_IN)
    {
      source = sm_pollable_source_new (pollable_stream, input_ready_without_base, G_OBJECT (self),
                                       cancellable);
      sm_pollable_source_add_base (source, G_OBJECT (self->base_input), G_IO_IN);
    }
  else
    {
      source = sm_pollable_source_new (pollable_stream, output_ready_without_base, G_OBJECT (self),
                                       cancellable);
      sm_pollable_source_add_base (source, G_OBJECT (self->base_output), G_IO_OUT);
    }
  g_source_set_static_name (source, "[socketmaster] TLS stream");
  return source;
}
