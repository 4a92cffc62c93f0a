/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-test-wire.h"

void
sm_test_append_u64 (GByteArray *out,
                    guint64     value)
{
  for (int shift = 56; shift >= 0; shift -= 8)
    {
      guint8 byte = (value >> shift) & 0xff;
      g_byte_array_append (out, &byte, 1);
    }
}

void
sm_test_append_byte (GByteArray *out,
                     guint8      byte)
{
  g_byte_array_append (out, &byte, 1);
}

void
sm_test_append_string_bytes (GByteArray *out,
                             const char *bytes,
                             gsize       len)
{
  sm_test_append_u64 (out, len);
  g_byte_array_append (out, (const guint8 *) bytes, len);
}

void
sm_test_append_string (GByteArray *out,
                       const char *string)
{
  sm_test_append_string_bytes (out, string, strlen (string));
}
