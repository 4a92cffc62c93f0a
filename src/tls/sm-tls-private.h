/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared between the TLS credentials, the TLS stream and its input and
 * output streams; not part of any public API. */

#include <gio/gio.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>

#include "sm-pollable-input-stream.h"
#include "sm-pollable-output-stream.h"
#include "sm-pollable-source.h"
#include "sm-tls-certificate.h"
#include "sm-tls-credentials.h"
#include "sm-tls-stream.h"
#include "sm-tls-workers.h"

G_BEGIN_DECLS

/* The certificate the selection rule (see sm-tls-credentials.h) picks for
 * @server_name (NULL: no SNI); a new reference, NULL if there is none. */
SmTlsCertificate *sm_tls_credentials_select (SmTlsCredentials *self, const char *server_name);
/* Applies priority, certificate credentials, ALPN and tickets to a new
 * server session; fails with SM_ERROR_TLS if GnuTLS could not set these
 * credentials up. Certificates are then chosen per handshake by the
 * callback below, which finds its stream with gnutls_session_get_ptr(). */
gboolean
sm_tls_credentials_setup_session (SmTlsCredentials *self, gnutls_session_t session, GError **error);
gnutls_certificate_retrieve_function2 sm_tls_stream_retrieve_certificate;

/* SmTlsStream internals, shared by sm-tls-stream.c (session, transport,
 * handshake, life cycle) and sm-tls-record-io.c (reading and writing
 * records, close_notify and the half-close, polling). */

typedef enum
{
  SM_TLS_HANDSHAKE_NOT_STARTED,
  SM_TLS_HANDSHAKE_RUNNING,
  SM_TLS_HANDSHAKE_DONE,
  SM_TLS_HANDSHAKE_FAILED,
} SmTlsHandshakeState;

typedef enum
{
  SM_TLS_OUTPUT_OPEN,
  SM_TLS_OUTPUT_SHUTTING_DOWN, /* flushing, then sending close_notify */
  SM_TLS_OUTPUT_SHUT,          /* done (or given up) and the base half-closed */
} SmTlsOutputState;

struct _SmTlsStream
{
  GIOStream              parent_instance;

  gboolean               set_up;
  GIOStream             *base;
  GPollableInputStream  *base_input; /* owned by base */
  GPollableOutputStream *base_output;
  gboolean               base_closed;
  GInputStream          *input;
  GOutputStream         *output;

  SmTlsCredentials      *credentials;
  SmTlsCertificate      *certificate; /* chosen at the handshake */
  gnutls_session_t       session;

  /* Read ahead of GnuTLS, which asks for a record's 5-byte header and then
   * for its body: one read then gets both of a small record. Held only
   * while it has bytes, so an idle connection keeps no buffer. */
  guint8                *pull_buffer;
  gsize                  pull_start;
  gsize                  pull_end;

  /* how the transport callbacks do I/O during the current GnuTLS call */
  gboolean               blocking;
  GCancellable          *cancellable;
  GError                *transport_error;

  SmTlsHandshakeState    handshake_state;
  GTask                 *handshake_task;
  GCancellable          *handshake_cancellable; /* the task's */
  /* With workers, each gnutls_handshake() call runs in their thread while
   * step_in_worker: nothing here touches the session or the base then.
   * What would (timeout, cancellation, closing) waits for the step to come
   * back: step_abandoned (atomic) makes a step not yet started skip its
   * work, and the deferred flags below are acted upon when it is back. */
  SmTlsWorkers          *workers;
  gboolean               step_in_worker;
  int                    step_abandoned;
  int                    step_ret;
  GError                *handshake_abort_error;
  gboolean               close_pending;
  gboolean               shutdown_pending;
  GSource               *handshake_wait_source;
  GSource               *handshake_timeout_source;
  int                    handshake_timeout;
  char                  *server_name;
  char                  *alpn;

  GError                *fatal_error; /* the session is unusable both ways */
  GError                *read_error;  /* sticky: truncation */
  gboolean               read_eof;
  gboolean               truncation_is_eof;

  gboolean               write_pending; /* GnuTLS holds the end of an accepted record */
  GError                *write_error;   /* sticky: the output is unusable */
  SmTlsOutputState       output_state;
  GSource               *output_source; /* sends what GnuTLS holds as the socket drains */
  GSource               *linger_source;
  GError                *shutdown_error;
  GPtrArray             *shutdown_waiters; /* GTask */
  gboolean               close_base_after_shutdown;
  gboolean               holds_shutdown_ref; /* while closing in the background */
};

/* Whether bytes read from the base wait for GnuTLS */
gboolean sm_tls_stream_has_read_ahead (SmTlsStream *self);
/* Around each GnuTLS call: how the transport callbacks do I/O */
void     sm_tls_stream_begin_io (SmTlsStream *self, gboolean blocking, GCancellable *cancellable);
void     sm_tls_stream_end_io (SmTlsStream *self);
/* A failed GnuTLS call as a GError: the transport's own error, truncation
 * as G_IO_ERROR_CONNECTION_CLOSED, else SM_ERROR_TLS "@what: reason" */
void sm_tls_stream_set_gnutls_error (SmTlsStream *self, int ret, const char *what, GError **error);
/* Starts sending close_notify and half-closing the base, once */
void sm_tls_stream_begin_shutdown (SmTlsStream *self);
/* Returns @task (taking it over) with how the shutdown ended, once it has */
void sm_tls_stream_return_when_shut (SmTlsStream *self, GTask *task);
/* Closes the base stream, once */
void sm_tls_stream_close_base (SmTlsStream *self);

/* What SmTlsInputStream and SmTlsOutputStream delegate to. They hold their
 * TLS stream by the weak reference @tls_ref (the TLS stream owns them);
 * once it is gone, reading and writing fail with G_IO_ERROR_CLOSED,
 * closing succeeds at once and polling says ready (the next call reports
 * the closed stream). */

/* Also fails with G_IO_ERROR_CLOSED once @input is closed: GIO only
 * checks that before blocking reads */
gssize          sm_tls_stream_read (GWeakRef     *tls_ref,
                                    GInputStream *input,
                                    void         *buffer,
                                    gsize         count,
                                    gboolean      blocking,
                                    GCancellable *cancellable,
                                    GError      **error);
/* Gathers the vectors into one record (up to its size): a response head
 * and its body go out as one record and one write, where a write per
 * vector would send two. GPollableOutputStream's writev_nonblocking. */
GPollableReturn sm_tls_stream_writev_nonblocking (GWeakRef            *tls_ref,
                                                  const GOutputVector *vectors,
                                                  gsize                n_vectors,
                                                  gsize               *bytes_written,
                                                  GError             **error);
gssize          sm_tls_stream_write (GWeakRef     *tls_ref,
                                     const void   *buffer,
                                     gsize         count,
                                     gboolean      blocking,
                                     GCancellable *cancellable,
                                     GError      **error);
gboolean        sm_tls_stream_can_poll (GWeakRef *tls_ref);
gboolean        sm_tls_stream_is_ready (GWeakRef *tls_ref, GIOCondition condition);
/* The base stream whose readiness for @condition is the TLS stream's when
 * *@ready (ready without it) is FALSE; NULL once the TLS stream is gone */
GObject *sm_tls_stream_get_poll_base (GWeakRef *tls_ref, GIOCondition condition, gboolean *ready);
/* A GPollableSourceFunc source for @pollable_stream (the TLS input or
 * output stream) that fires when sm_tls_stream_is_ready() may be TRUE */
GSource *sm_tls_stream_create_source (GWeakRef     *tls_ref,
                                      GObject      *pollable_stream,
                                      GIOCondition  condition,
                                      GCancellable *cancellable);
/* Starts close_notify + half-close; returns at once (see sm-tls-stream.h)
 * with a deferred write failure, if any */
gboolean sm_tls_stream_close_output (GWeakRef *tls_ref, GError **error);
/* Same, and returns @task (taking it over; the output stream's own) once
 * the half-close is done or has failed */
void     sm_tls_stream_close_output_async (GWeakRef *tls_ref, GTask *task);

#define SM_TYPE_TLS_INPUT_STREAM (sm_tls_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (SmTlsInputStream,
                      sm_tls_input_stream,
                      SM,
                      TLS_INPUT_STREAM,
                      SmPollableInputStream)
/* Hold only a weak reference on @tls: the TLS stream owns them */
GInputStream *sm_tls_input_stream_new (SmTlsStream *tls);

#define SM_TYPE_TLS_OUTPUT_STREAM (sm_tls_output_stream_get_type ())
G_DECLARE_FINAL_TYPE (SmTlsOutputStream,
                      sm_tls_output_stream,
                      SM,
                      TLS_OUTPUT_STREAM,
                      SmPollableOutputStream)
GOutputStream *sm_tls_output_stream_new (SmTlsStream *tls);

G_END_DECLS
