/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The server side of one TLS connection (GnuTLS) as a GIOStream, over a
 * connected base stream whose input and output are pollable (a
 * GSocketConnection, or any pollable GIOStream). The TLS stream's own
 * input and output implement GPollableInputStream/GPollableOutputStream,
 * so GIO's async calls work on them without threads.
 *
 *  - sm_tls_stream_handshake_async() must finish before any I/O; earlier
 *    reads and writes fail with G_IO_ERROR_NOT_CONNECTED.
 *  - reading gives the peer's data, then EOF (0) after its close_notify.
 *    A peer that closes the transport without close_notify (truncation)
 *    makes the read fail with G_IO_ERROR_CONNECTION_CLOSED, so a truncated
 *    stream is never mistaken for a complete one; a caller that does not
 *    care may treat that error as EOF. A renegotiation attempt fails the
 *    read with SM_ERROR_TLS (refused, the session is then unusable).
 *  - a write takes at most one TLS record (16 KiB) of plaintext. When the
 *    socket cannot take the whole record, GnuTLS keeps the rest and the
 *    write still counts as done: the stream stops being writable until the
 *    rest is out, and sends it on its own as the socket drains (from the
 *    thread-default main context of the writer). Such a deferred failure
 *    is reported by the next write or close.
 *  - closing the output stream sends close_notify, then half-closes the
 *    base: g_socket_shutdown (SHUT_WR) on a GSocketConnection, closing the
 *    base output stream otherwise. Reading still works afterwards.
 *  - closing the TLS stream closes its output as above, then the base
 *    stream.
 *  - closing never blocks: what the socket cannot take yet (the end of a
 *    record, close_notify) is sent from the thread-default main context as
 *    it drains, keeping the stream alive meanwhile, for at most
 *    SM_TLS_STREAM_LINGER_SECONDS; then the base is closed anyway. A sync
 *    close returns at once; an async close finishes when this is done,
 *    failing with G_IO_ERROR_TIMED_OUT if the time ran out (the base is
 *    still closed). @cancellable is only checked when closing starts.
 *  - sync (blocking) reads and writes block the calling thread on the base
 *    stream (they do not iterate a main context): the daemon uses the
 *    non-blocking and async calls only.
 *
 * One thread (the one running the thread-default main context where the
 * stream is used) owns a stream; different streams may live in different
 * threads and share one SmTlsCredentials. A handshake given workers lends
 * the stream to a worker thread for each step (see below).
 */

#include <gio/gio.h>
#include "sm-tls-credentials.h"
#include "sm-tls-workers.h"

G_BEGIN_DECLS

#define SM_TLS_STREAM_LINGER_SECONDS 10

#define SM_TYPE_TLS_STREAM (sm_tls_stream_get_type ())
G_DECLARE_FINAL_TYPE (SmTlsStream, sm_tls_stream, SM, TLS_STREAM, GIOStream)

/* Fails with G_IO_ERROR_NOT_SUPPORTED if @base is not pollable, with
 * SM_ERROR_TLS if GnuTLS refuses to set up the session. */
SmTlsStream *sm_tls_stream_new_server (GIOStream *base, SmTlsCredentials *creds, GError **error);
GIOStream   *sm_tls_stream_get_base_stream (SmTlsStream *self);

/* Runs each step of the handshake (the CPU-heavy part of TLS) in one of
 * @workers' threads instead of the thread-default main context, which
 * still waits for the socket between steps and gets the result; NULL (the
 * default): on the main context. Before sm_tls_stream_handshake_async().
 * The stream must not be used from its thread meanwhile: it is not handed
 * out before the handshake is done, and closing it (or a timeout) while a
 * step runs takes effect when the step is back. */
void         sm_tls_stream_set_workers (SmTlsStream *self, SmTlsWorkers *workers);

/* Runs the handshake without blocking. Fails with SM_ERROR_TIMED_OUT when
 * it takes longer than @timeout_seconds (<= 0: no limit), with
 * SM_ERROR_TLS when it fails (message from GnuTLS), with
 * G_IO_ERROR_CANCELLED when cancelled. Only one handshake per stream. */
void         sm_tls_stream_handshake_async (SmTlsStream        *self,
                                            int                 timeout_seconds,
                                            GCancellable       *cancellable,
                                            GAsyncReadyCallback callback,
                                            gpointer            user_data);
gboolean sm_tls_stream_handshake_finish (SmTlsStream *self, GAsyncResult *result, GError **error);

/* Whether a peer that closes the transport without close_notify reads as
 * EOF (TRUE) or fails the read with G_IO_ERROR_CONNECTION_CLOSED (FALSE,
 * the default). A proxy that frames messages itself, or copies raw bytes
 * like a plain TCP connection would, wants TRUE: many clients just close. */
void     sm_tls_stream_set_truncation_is_eof (SmTlsStream *self, gboolean truncation_is_eof);

/* After a successful handshake; NULL before. */
/* SNI host name the client asked for, lower case; NULL if none (or not a
 * plain DNS name) */
const char *sm_tls_stream_get_server_name (SmTlsStream *self);
/* negotiated ALPN protocol, NULL if none */
const char *sm_tls_stream_get_alpn (SmTlsStream *self);
/* id of the certificate served; on a resumed session (no certificate is
 * sent) the one the selection rule picks now, NULL if none is left */
const char *sm_tls_stream_get_certificate_id (SmTlsStream *self);

G_END_DECLS
