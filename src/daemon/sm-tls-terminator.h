/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-tls-stream.h"

G_BEGIN_DECLS

/* Seconds a public client has to complete its TLS handshake */
#define SM_TLS_DEFAULT_HANDSHAKE_TIMEOUT 10
#define SM_TLS_MAX_HANDSHAKE_TIMEOUT     3600
/* Handshakes in progress at once per port, and per source address
 * (SM_SOURCE_LIMIT_DEFAULT_MAX_PER_SOURCE): bounds what clients that never
 * finish can hold. A new connection beyond the total takes the place of
 * the oldest silent one (see SmSourceLimit), so a flood from one source
 * does not lock the others out. */
#define SM_TLS_MAX_HANDSHAKES 1024

/**
 * SmTlsTerminator:
 *
 * TLS termination for one public port: the certificates its services
 * registered (one #SmTlsCredentials, selection by SNI) and the handshakes
 * of its accepted connections.
 *
 * A certificate whose service left is kept for the port's hold timeout,
 * like the service's routes, so that a service being redeployed keeps its
 * name served meanwhile; then it is removed. The terminator is active
 * while it has at least one certificate; #SmTlsTerminator::active-changed
 * tells when that changes.
 */
#define SM_TYPE_TLS_TERMINATOR (sm_tls_terminator_get_type ())
G_DECLARE_FINAL_TYPE (SmTlsTerminator, sm_tls_terminator, SM, TLS_TERMINATOR, GObject)

/* @display_name: the port, for messages; @priority: a GnuTLS priority
 * string already checked (NULL: SM_TLS_DEFAULT_PRIORITY); @alpn_protocols:
 * offered to clients (NULL: none) */
SmTlsTerminator *sm_tls_terminator_new (const char        *display_name,
                                        gint64             hold_us,
                                        const char        *priority,
                                        const char *const *alpn_protocols,
                                        int                handshake_timeout);

gboolean         sm_tls_terminator_is_active (SmTlsTerminator *self);
guint            sm_tls_terminator_get_n_handshakes (SmTlsTerminator *self);

/* Errors as sm_tls_credentials_add(); nothing changes then */
gboolean         sm_tls_terminator_add_certificate (SmTlsTerminator *self,
                                                    const char      *id,
                                                    const char      *cert_pem,
                                                    const char      *key_pem,
                                                    GError         **error);
/* Its service left: removed after the hold timeout */
void             sm_tls_terminator_retire_certificate (SmTlsTerminator *self, const char *id);

/* For tests: the limits above */
void             sm_tls_terminator_set_handshake_limits (SmTlsTerminator *self,
                                                         guint            max_total,
                                                         guint            max_per_source);

/* Runs the server handshake on @connection, for at most the handshake
 * timeout (then SM_ERROR_TIMED_OUT). Fails at once (SM_ERROR_FAILED) when
 * its source has its limit of handshakes in progress and none is silent,
 * with G_IO_ERROR_CANCELLED when a newer one took its place. On failure the connection is
 * closed and the reason traced (g_debug). */
void             sm_tls_terminator_handshake_async (SmTlsTerminator    *self,
                                                    GSocketConnection  *connection,
                                                    GCancellable       *cancellable,
                                                    GAsyncReadyCallback callback,
                                                    gpointer            user_data);
SmTlsStream *
sm_tls_terminator_handshake_finish (SmTlsTerminator *self, GAsyncResult *result, GError **error);

G_END_DECLS
