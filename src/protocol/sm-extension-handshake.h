/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Pure codec for the extension handshake, version 2 (docs/PROTOCOL.md §7):
 * magic, a length-prefixed JSON request, a length-prefixed JSON response.
 * Incremental like sm-handshake.h: call again on the whole buffer; the
 * answer is NEED_MORE, COMPLETE or ERROR, and a length over the limit is
 * refused from its 4 bytes, before the body arrives or anything is
 * allocated for it.
 */

#include <glib.h>
#include <json-glib/json-glib.h>

#include "sm-error.h"
#include "sm-handshake.h"
#include "sm-socket-definition.h"

G_BEGIN_DECLS

#define SM_EXTENSION_MAGIC_SIZE  8
#define SM_EXTENSION_LENGTH_SIZE 4
#define SM_EXTENSION_MAX_LENGTH  (1024 * 1024)
#define SM_EXTENSION_VERSION     2

/* TRUE when @data (at least 1 byte) starts like an extension request: an
 * original request never starts with 0x80 (PROTOCOL.md §7) */
gboolean sm_extension_is_request (const guint8 *data, gsize len);

typedef struct
{
  SmSocketDefinition *definition;     /* port, address, http, tls; never NULL */
  char               *token;          /* NULL when absent */
  char               *name;           /* NULL when absent */
  guint               proxy_protocol; /* 0 when absent, else 1 or 2 */
} SmExtensionRequest;

/* @definition: (transfer full) */
SmExtensionRequest *sm_extension_request_new (SmSocketDefinition *definition);
void                sm_extension_request_free (SmExtensionRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmExtensionRequest, sm_extension_request_free)

/* Request (service -> daemon). On error an SM_ERROR whose wire code
 * (sm_extension_error_code()) is `malformed` (SM_ERROR_PROTOCOL,
 * SM_ERROR_INVALID_ARGUMENT, SM_ERROR_TOO_LARGE) or `unsupported`
 * (SM_ERROR_UNSUPPORTED: an unknown key or version), with a message fit to
 * send back. */
SmHandshakeResult sm_extension_parse_request (const guint8        *data,
                                              gsize                len,
                                              gsize               *consumed,
                                              SmExtensionRequest **out_request,
                                              GError             **error);
void              sm_extension_encode_request (const SmExtensionRequest *request, GByteArray *out);

/* Response (daemon -> service). @refusal NULL: {"status": "ok"}; else an
 * error with the code of @refusal and its message. @extra (nullable):
 * members added to the response, such as "route". */
void sm_extension_encode_response (const GError *refusal, JsonObject *extra, GByteArray *out);
/* On COMPLETE, @out_refusal is NULL for "ok" and otherwise the daemon's
 * refusal as an SM_ERROR (sm_extension_error_from_code(), the daemon's
 * message verbatim); a daemon without version 2 answers in the original
 * format, which becomes SM_ERROR_REJECTED with its status text.
 * @out_response: the whole JSON object (NULL for an original answer). */
SmHandshakeResult sm_extension_parse_response (const guint8 *data,
                                               gsize         len,
                                               gsize        *consumed,
                                               JsonObject  **out_response,
                                               GError      **out_refusal,
                                               GError      **error);

/* The wire code of an error (PROTOCOL.md §7), and back */
const char       *sm_extension_error_code (const GError *error);
/* An unknown code gives SM_ERROR_REJECTED */
SmError           sm_extension_error_from_code (const char *code);

G_END_DECLS
