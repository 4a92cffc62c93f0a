/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sm-error.h"
#include "sm-handshake.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
check_request (const guint8 *data,
               size_t        size)
{
  g_autoptr(SmSocketDefinition) def = NULL;
  g_autoptr(GError) error = NULL;
  gsize consumed = 0;
  SmHandshakeResult result;

  result = sm_handshake_parse_request (data, size, &consumed, &def, &error);
  if (result == SM_HANDSHAKE_ERROR)
    {
      if (error == NULL || error->domain != SM_ERROR || consumed != 0 || def != NULL)
        abort ();
      return;
    }
  if (error != NULL)
    abort ();
  if (result == SM_HANDSHAKE_NEED_MORE)
    {
      if (consumed != 0 || def != NULL)
        abort ();
      return;
    }

  /* Complete: the encoding is canonical, and one byte less is not enough */
  {
    g_autoptr(GByteArray) encoded = g_byte_array_new ();

    if (consumed == 0 || consumed > size || def == NULL)
      abort ();
    sm_handshake_encode_request (def, encoded);
    if (encoded->len != consumed || memcmp (encoded->data, data, consumed) != 0)
      abort ();
    if (sm_handshake_parse_request (data, consumed - 1, NULL, NULL, NULL) != SM_HANDSHAKE_NEED_MORE)
      abort ();
  }
}

static void
check_status (const guint8 *data,
              size_t        size)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *status = NULL;
  gsize consumed = 0;
  SmHandshakeResult result;

  result = sm_handshake_parse_status (data, size, &consumed, &status, &error);
  if (result != SM_HANDSHAKE_COMPLETE)
    {
      if ((result == SM_HANDSHAKE_ERROR) != (error != NULL) || status != NULL || consumed != 0)
        abort ();
      return;
    }

  {
    g_autoptr(GByteArray) encoded = g_byte_array_new ();

    if (error != NULL || status == NULL || !g_utf8_validate (status, -1, NULL))
      abort ();
    sm_handshake_encode_status (status, encoded);
    if (encoded->len != consumed || memcmp (encoded->data, data, consumed) != 0)
      abort ();
  }
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  check_request (data, size);
  check_status (data, size);
  return 0;
}
