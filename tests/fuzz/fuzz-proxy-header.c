/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sm-error.h"
#include "sm-proxy-header.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static gboolean
same_header (const SmProxyHeader *a, const SmProxyHeader *b)
{
  gsize alen = a->family == G_SOCKET_FAMILY_IPV4 ? 4 : 16;

  if (a->local || b->local)
    return a->local == b->local;
  return a->family == b->family && a->source_port == b->source_port &&
         a->destination_port == b->destination_port &&
         memcmp (a->source_address, b->source_address, alen) == 0 &&
         memcmp (a->destination_address, b->destination_address, alen) == 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) encoded = g_byte_array_new ();
  SmProxyHeader header, again;
  gsize consumed = 0, consumed_again = 0;
  SmHandshakeResult result;

  result = sm_proxy_header_parse (data, size, &consumed, &header, &error);
  if (result == SM_HANDSHAKE_ERROR)
    {
      if (error == NULL || error->domain != SM_ERROR || consumed != 0)
        abort ();
      return 0;
    }
  if (error != NULL)
    abort ();
  if (result == SM_HANDSHAKE_NEED_MORE)
    {
      /* Never waits for more than a header can hold */
      if (consumed != 0 || size >= SM_PROXY_HEADER_MAX_SIZE)
        abort ();
      return 0;
    }

  /* Complete: within bounds, one byte less is not enough, and what it
   * says survives encoding in either version */
  if (consumed == 0 || consumed > size || consumed > SM_PROXY_HEADER_MAX_SIZE)
    abort ();
  if (header.version == 1 && consumed > SM_PROXY_HEADER_MAX_V1)
    abort ();
  if (sm_proxy_header_parse (data, consumed - 1, NULL, NULL, NULL) != SM_HANDSHAKE_NEED_MORE)
    abort ();
  for (guint version = 1; version <= 2; version++)
    {
      header.version = version;
      g_byte_array_set_size (encoded, 0);
      sm_proxy_header_encode (&header, encoded);
      if (sm_proxy_header_parse (encoded->data, encoded->len, &consumed_again, &again, NULL) !=
              SM_HANDSHAKE_COMPLETE ||
          consumed_again != encoded->len || !same_header (&header, &again))
        abort ();
    }
  return 0;
}
