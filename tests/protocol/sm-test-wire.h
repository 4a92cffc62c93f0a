/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Writes handshake primitives (PROTOCOL.md §2) for tests that craft requests
 * by hand, valid or not. Deliberately separate from the codec, so that the
 * codec and its tests cannot share an endianness bug.
 */

#include <string.h>
#include <glib.h>

G_BEGIN_DECLS

static inline void
sm_test_append_u64 (GByteArray *out,
                    guint64     value)
{
  for (int shift = 56; shift >= 0; shift -= 8)
    {
      guint8 byte = (value >> shift) & 0xff;
      g_byte_array_append (out, &byte, 1);
    }
}

static inline void
sm_test_append_byte (GByteArray *out,
                     guint8      byte)
{
  g_byte_array_append (out, &byte, 1);
}

static inline void
sm_test_append_string_bytes (GByteArray *out,
                             const char *bytes,
                             gsize       len)
{
  sm_test_append_u64 (out, len);
  g_byte_array_append (out, (const guint8 *) bytes, len);
}

static inline void
sm_test_append_string (GByteArray *out,
                       const char *string)
{
  sm_test_append_string_bytes (out, string, strlen (string));
}

G_END_DECLS
