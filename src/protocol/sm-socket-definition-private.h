/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Fields of SmSocketDefinition, for code inside the project (the handshake
 * codec, the daemon) that reads many of them at once. Not installed.
 */

#include "sm-socket-definition.h"

G_BEGIN_DECLS

struct _SmSocketDefinition
{
  char    *address; /* never NULL; "" means all interfaces */
  guint16  port;

  gboolean has_http;
  char    *domain_suffix; /* non-NULL ("" allowed) iff has_http */
  char    *path_prefix;   /* non-NULL ("" allowed) iff has_http */

  gboolean has_tls;
  char    *tls_cert; /* PEM; non-NULL iff has_tls */
  char    *tls_key;  /* PEM; non-NULL iff has_tls */
};

G_END_DECLS
