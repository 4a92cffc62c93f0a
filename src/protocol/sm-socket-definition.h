/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * SmSocketDefinition:
 *
 * What a service asks the daemon for: a public listener (address, port),
 * optionally HTTP routing (domain suffix, path prefix) and TLS termination
 * (PEM certificate chain and key). Mirrors the original's
 * `protocol.SocketDefinition`. Opaque; use the accessors. A boxed type
 * (#SM_TYPE_SOCKET_DEFINITION), so bindings copy and free it.
 */
typedef struct _SmSocketDefinition SmSocketDefinition;

#define SM_TYPE_SOCKET_DEFINITION (sm_socket_definition_get_type ())
GType               sm_socket_definition_get_type (void) G_GNUC_CONST;

SmSocketDefinition *sm_socket_definition_new (guint16 port);
SmSocketDefinition *sm_socket_definition_copy (const SmSocketDefinition *def);
void                sm_socket_definition_free (SmSocketDefinition *def);

void                sm_socket_definition_set_address (SmSocketDefinition *def, const char *address);
const char         *sm_socket_definition_get_address (const SmSocketDefinition *def);
/**
 * sm_socket_definition_set_port:
 * @def: a #SmSocketDefinition
 * @port: the public TCP port to ask for
 */
void                sm_socket_definition_set_port (SmSocketDefinition *def, guint16 port);
/**
 * sm_socket_definition_get_port:
 * @def: a #SmSocketDefinition
 *
 * Returns: the public TCP port asked for
 */
guint16             sm_socket_definition_get_port (const SmSocketDefinition *def);

/* HTTP routing; either string may be NULL or "" (matches everything) */
void                sm_socket_definition_set_http (SmSocketDefinition *def,
                                                   const char         *domain_suffix,
                                                   const char         *path_prefix);
/**
 * sm_socket_definition_has_http:
 * @def: a #SmSocketDefinition
 *
 * Returns: %TRUE after sm_socket_definition_set_http(): the daemon routes
 *   HTTP requests to this service by host and path
 */
gboolean            sm_socket_definition_has_http (const SmSocketDefinition *def);
const char         *sm_socket_definition_get_domain_suffix (const SmSocketDefinition *def);
const char         *sm_socket_definition_get_path_prefix (const SmSocketDefinition *def);

/* TLS termination; PEM text (certificate chain, private key) */
void
sm_socket_definition_set_tls (SmSocketDefinition *def, const char *cert_pem, const char *key_pem);
/**
 * sm_socket_definition_has_tls:
 * @def: a #SmSocketDefinition
 *
 * Returns: %TRUE after sm_socket_definition_set_tls(): the daemon
 *   terminates TLS for this service
 */
gboolean    sm_socket_definition_has_tls (const SmSocketDefinition *def);
const char *sm_socket_definition_get_tls_cert (const SmSocketDefinition *def);
const char *sm_socket_definition_get_tls_key (const SmSocketDefinition *def);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmSocketDefinition, sm_socket_definition_free)

G_END_DECLS
