/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Route ownership on one public port (pure: the caller passes the time).
 *
 * A route belongs to the user who registered it, while a service serves it
 * and for the hold timeout after the last one left: a redeploy is exactly
 * when someone else must not step in. Another owner may only add a route
 * that is disjoint from it: not the same route (joining), not a more
 * specific one (shadowing: a domain suffix under it or a path prefix
 * under it), and not a less specific one either (it would receive the
 * route's requests whenever its service is away). Two routes overlap when
 * their domain suffixes overlap (one covers the other at a label
 * boundary) and their path prefixes overlap. A raw TCP port belongs to
 * its first owner as a whole. The caller exempts root.
 */

typedef struct _SmRouteClaims SmRouteClaims;

SmRouteClaims                *sm_route_claims_new (gint64 hold_us);
void                          sm_route_claims_free (SmRouteClaims *self);

/* Whether @owner may add the route (@http FALSE: raw TCP) on this port
 * numbered @number. @cert_names (NULL when no certificate): the DNS names
 * of the certificate it brings, refused if another owner serves one of
 * them here. @port_has_tls: whether the port terminates TLS now (a
 * certificate may not turn another owner's plain port into a TLS one).
 * Errors: SM_ERROR_ROUTE_OWNED or SM_ERROR_PERMISSION_DENIED, with a
 * message for the service. */
gboolean                      sm_route_claims_check (SmRouteClaims     *self,
                                                     guint16            number,
                                                     guint32            owner,
                                                     gboolean           http,
                                                     const char        *domain_suffix,
                                                     const char        *path_prefix,
                                                     const char *const *cert_names,
                                                     gboolean           port_has_tls,
                                                     gint64             now,
                                                     GError           **error);

/* A route was registered, or one left at @now */
void                          sm_route_claims_add (SmRouteClaims *self,
                                                   guint32        owner,
                                                   gboolean       http,
                                                   const char    *domain_suffix,
                                                   const char    *path_prefix);
void                          sm_route_claims_remove (SmRouteClaims *self,
                                                      guint32        owner,
                                                      gboolean       http,
                                                      const char    *domain_suffix,
                                                      const char    *path_prefix,
                                                      gint64         now);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmRouteClaims, sm_route_claims_free)

G_END_DECLS
