/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sm-error.h"
#include "sm-extension-handshake.h"
#include "sm-socket-definition-private.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static gboolean
same_request (const SmExtensionRequest *a,
              const SmExtensionRequest *b)
{
  const SmSocketDefinition *da = a->definition, *db = b->definition;

  return da->port == db->port && g_strcmp0 (da->address, db->address) == 0 &&
         da->has_http == db->has_http && g_strcmp0 (da->domain_suffix, db->domain_suffix) == 0 &&
         g_strcmp0 (da->path_prefix, db->path_prefix) == 0 && da->has_tls == db->has_tls &&
         g_strcmp0 (da->tls_cert, db->tls_cert) == 0 && g_strcmp0 (da->tls_key, db->tls_key) == 0 &&
         g_strcmp0 (a->token, b->token) == 0 && g_strcmp0 (a->name, b->name) == 0 &&
         a->proxy_protocol == b->proxy_protocol;
}

static void
check_request (const guint8 *data,
               size_t        size)
{
  g_autoptr(SmExtensionRequest) request = NULL;
  g_autoptr(GError) error = NULL;
  gsize consumed = 0;
  SmHandshakeResult result;

  result = sm_extension_parse_request (data, size, &consumed, &request, &error);
  if (result == SM_HANDSHAKE_ERROR)
    {
      const char *code;

      if (error == NULL || error->domain != SM_ERROR || consumed != 0 || request != NULL)
        abort ();
      /* a request is only ever refused as one of these two */
      code = sm_extension_error_code (error);
      if (strcmp (code, "malformed") != 0 && strcmp (code, "unsupported") != 0)
        abort ();
      return;
    }
  if (error != NULL)
    abort ();
  if (result == SM_HANDSHAKE_NEED_MORE)
    {
      if (consumed != 0 || request != NULL)
        abort ();
      return;
    }

  /* Complete: what we would send for it means the same, and one byte
   * less is not enough */
  {
    g_autoptr(GByteArray) encoded = g_byte_array_new ();
    g_autoptr(SmExtensionRequest) again = NULL;

    if (consumed == 0 || consumed > size || request == NULL ||
        request->definition->port == 0 || request->proxy_protocol > 2)
      abort ();
    sm_extension_encode_request (request, encoded);
    if (sm_extension_parse_request (encoded->data, encoded->len, NULL, &again, NULL) !=
        SM_HANDSHAKE_COMPLETE || !same_request (request, again))
      abort ();
    if (sm_extension_parse_request (data, consumed - 1, NULL, NULL, NULL) != SM_HANDSHAKE_NEED_MORE)
      abort ();
  }
}

static void
check_response (const guint8 *data,
                size_t        size)
{
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(GError) refusal = NULL;
  g_autoptr(GError) error = NULL;
  gsize consumed = 0;
  SmHandshakeResult result;

  result = sm_extension_parse_response (data, size, &consumed, &response, &refusal, &error);
  if (result != SM_HANDSHAKE_COMPLETE)
    {
      if ((result == SM_HANDSHAKE_ERROR) != (error != NULL) || response != NULL || refusal != NULL ||
          consumed != 0)
        abort ();
      return;
    }
  if (error != NULL || consumed == 0 || consumed > size)
    abort ();

  /* a refusal sent again reads back as the same error */
  if (refusal != NULL && refusal->code != SM_ERROR_REJECTED &&
      strlen (refusal->message) <= SM_HANDSHAKE_MAX_STATUS)
    {
      g_autoptr(GByteArray) encoded = g_byte_array_new ();
      g_autoptr(GError) again = NULL;

      if (!g_utf8_validate (refusal->message, -1, NULL))
        abort ();
      sm_extension_encode_response (refusal, response, encoded);
      if (sm_extension_parse_response (encoded->data, encoded->len, NULL, NULL, &again, NULL) !=
          SM_HANDSHAKE_COMPLETE || again == NULL || again->code != refusal->code ||
          strcmp (again->message, refusal->message) != 0)
        abort ();
    }
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  check_request (data, size);
  check_response (data, size);
  return 0;
}
