/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-socket-definition-private.h"

G_DEFINE_BOXED_TYPE (SmSocketDefinition,
                     sm_socket_definition,
                     sm_socket_definition_copy,
                     sm_socket_definition_free)

/**
 * sm_socket_definition_new:
 * @port: the public TCP port to ask for
 *
 * Creates a definition for a plain TCP listener on all interfaces, without
 * HTTP routing or TLS. The port is not validated here: the daemon answers
 * port 0 with an error status.
 *
 * Returns: (transfer full): a new #SmSocketDefinition
 */
SmSocketDefinition *
sm_socket_definition_new (guint16 port)
{
  SmSocketDefinition *def = g_new0 (SmSocketDefinition, 1);

  def->address = g_strdup ("");
  def->port = port;

  return def;
}

/**
 * sm_socket_definition_copy:
 * @def: a #SmSocketDefinition
 *
 * Returns: (transfer full): a deep copy of @def
 */
SmSocketDefinition *
sm_socket_definition_copy (const SmSocketDefinition *def)
{
  SmSocketDefinition *copy;

  g_return_val_if_fail (def != NULL, NULL);

  copy = g_new0 (SmSocketDefinition, 1);
  copy->address = g_strdup (def->address);
  copy->port = def->port;
  copy->has_http = def->has_http;
  copy->domain_suffix = g_strdup (def->domain_suffix);
  copy->path_prefix = g_strdup (def->path_prefix);
  copy->has_tls = def->has_tls;
  copy->tls_cert = g_strdup (def->tls_cert);
  copy->tls_key = g_strdup (def->tls_key);

  return copy;
}

/**
 * sm_socket_definition_free:
 * @def: (nullable): a #SmSocketDefinition
 */
void
sm_socket_definition_free (SmSocketDefinition *def)
{
  if (def == NULL)
    return;

  g_free (def->address);
  g_free (def->domain_suffix);
  g_free (def->path_prefix);
  g_free (def->tls_cert);
  g_free (def->tls_key);
  g_free (def);
}

/**
 * sm_socket_definition_set_address:
 * @def: a #SmSocketDefinition
 * @address: (nullable): the interface to listen on, e.g. "127.0.0.1";
 *   %NULL or "" means all interfaces
 */
void
sm_socket_definition_set_address (SmSocketDefinition *def, const char *address)
{
  g_return_if_fail (def != NULL);

  g_free (def->address);
  def->address = g_strdup (address != NULL ? address : "");
}

/**
 * sm_socket_definition_get_address:
 * @def: a #SmSocketDefinition
 *
 * Returns: the interface to listen on, "" for all interfaces; never %NULL
 */
const char *
sm_socket_definition_get_address (const SmSocketDefinition *def)
{
  g_return_val_if_fail (def != NULL, NULL);

  return def->address;
}

void
sm_socket_definition_set_port (SmSocketDefinition *def, guint16 port)
{
  g_return_if_fail (def != NULL);

  def->port = port;
}

guint16
sm_socket_definition_get_port (const SmSocketDefinition *def)
{
  g_return_val_if_fail (def != NULL, 0);

  return def->port;
}

/**
 * sm_socket_definition_set_http:
 * @def: a #SmSocketDefinition
 * @domain_suffix: (nullable): suffix the request's Host must end with
 * @path_prefix: (nullable): prefix the request's path must start with
 *
 * Turns on HTTP routing. %NULL is stored as "", which matches every request,
 * so set_http (def, NULL, NULL) asks for all HTTP traffic of the port.
 */
void
sm_socket_definition_set_http (SmSocketDefinition *def,
                               const char         *domain_suffix,
                               const char         *path_prefix)
{
  g_return_if_fail (def != NULL);

  g_free (def->domain_suffix);
  g_free (def->path_prefix);
  def->has_http = TRUE;
  def->domain_suffix = g_strdup (domain_suffix != NULL ? domain_suffix : "");
  def->path_prefix = g_strdup (path_prefix != NULL ? path_prefix : "");
}

gboolean
sm_socket_definition_has_http (const SmSocketDefinition *def)
{
  g_return_val_if_fail (def != NULL, FALSE);

  return def->has_http;
}

/**
 * sm_socket_definition_get_domain_suffix:
 * @def: a #SmSocketDefinition
 *
 * Returns: (nullable): the domain suffix ("" matches all hosts), or %NULL
 *   when @def has no HTTP routing
 */
const char *
sm_socket_definition_get_domain_suffix (const SmSocketDefinition *def)
{
  g_return_val_if_fail (def != NULL, NULL);

  return def->domain_suffix;
}

/**
 * sm_socket_definition_get_path_prefix:
 * @def: a #SmSocketDefinition
 *
 * Returns: (nullable): the path prefix ("" matches all paths), or %NULL
 *   when @def has no HTTP routing
 */
const char *
sm_socket_definition_get_path_prefix (const SmSocketDefinition *def)
{
  g_return_val_if_fail (def != NULL, NULL);

  return def->path_prefix;
}

/**
 * sm_socket_definition_set_tls:
 * @def: a #SmSocketDefinition
 * @cert_pem: (nullable): PEM certificate chain
 * @key_pem: (nullable): PEM private key
 *
 * Turns on TLS termination with the given certificate and key, or turns it
 * off when both are %NULL. Passing only one of them is a programming error.
 */
void
sm_socket_definition_set_tls (SmSocketDefinition *def, const char *cert_pem, const char *key_pem)
{
  g_return_if_fail (def != NULL);
  g_return_if_fail ((cert_pem == NULL) == (key_pem == NULL));

  g_free (def->tls_cert);
  g_free (def->tls_key);

  def->has_tls = cert_pem != NULL;
  def->tls_cert = g_strdup (cert_pem);
  def->tls_key = g_strdup (key_pem);
}

gboolean
sm_socket_definition_has_tls (const SmSocketDefinition *def)
{
  g_return_val_if_fail (def != NULL, FALSE);

  return def->has_tls;
}

/**
 * sm_socket_definition_get_tls_cert:
 * @def: a #SmSocketDefinition
 *
 * Returns: (nullable): the PEM certificate chain, or %NULL without TLS
 */
const char *
sm_socket_definition_get_tls_cert (const SmSocketDefinition *def)
{
  g_return_val_if_fail (def != NULL, NULL);

  return def->tls_cert;
}

/**
 * sm_socket_definition_get_tls_key:
 * @def: a #SmSocketDefinition
 *
 * Returns: (nullable): the PEM private key, or %NULL without TLS
 */
const char *
sm_socket_definition_get_tls_key (const SmSocketDefinition *def)
{
  g_return_val_if_fail (def != NULL, NULL);

  return def->tls_key;
}
