/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Pure codec for the control handshake (docs/PROTOCOL.md §2-4): no I/O.
 * The parsers are incremental in the simplest way: call them again on the
 * whole buffer received so far; they answer NEED_MORE until a complete
 * message is there, and fail as soon as a length or value is known to be bad
 * (before its bytes arrive, and before allocating anything for them).
 */

#include <glib.h>
#include "sm-socket-definition.h"

G_BEGIN_DECLS

/* Limits (docs/PROTOCOL.md §3, ours) */
#define SM_HANDSHAKE_MAX_STRING (64 * 1024)
#define SM_HANDSHAKE_MAX_PEM    (1024 * 1024)
#define SM_HANDSHAKE_MAX_STATUS (64 * 1024)

#define SM_HANDSHAKE_FLAG_HTTP 0x01
#define SM_HANDSHAKE_FLAG_TLS  0x02

#define SM_HANDSHAKE_STATUS_OK "OK"

typedef enum
{
  SM_HANDSHAKE_NEED_MORE, /* buffer holds a valid but incomplete prefix */
  SM_HANDSHAKE_COMPLETE,  /* *consumed bytes form one message, output set */
  SM_HANDSHAKE_ERROR,     /* input can never become valid; error set */
} SmHandshakeResult;

/* Request (service -> daemon). On error: SM_ERROR_PROTOCOL, SM_ERROR_TOO_LARGE
 * or SM_ERROR_INVALID_ARGUMENT, with a message fit to send back as status. */
SmHandshakeResult sm_handshake_parse_request (const guint8        *data,
                                              gsize                len,
                                              gsize               *consumed,
                                              SmSocketDefinition **out_definition,
                                              GError             **error);
void sm_handshake_encode_request (const SmSocketDefinition *definition, GByteArray *out);

/* Response (daemon -> service): one string */
SmHandshakeResult sm_handshake_parse_status (const guint8 *data,
                                             gsize         len,
                                             gsize        *consumed,
                                             char        **out_status,
                                             GError      **error);
void              sm_handshake_encode_status (const char *status, GByteArray *out);

G_END_DECLS
