/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Writes handshake primitives (docs/PROTOCOL.md §2) for tests that craft requests
 * by hand, valid or not. Deliberately separate from the codec, so that the
 * codec and its tests cannot share an endianness bug.
 */

#include <glib.h>

G_BEGIN_DECLS

void sm_test_append_u64 (GByteArray *out, guint64 value);
void sm_test_append_byte (GByteArray *out, guint8 byte);
/* A string as the protocol sends it: its length, then its @len bytes */
void sm_test_append_string_bytes (GByteArray *out, const char *bytes, gsize len);
void sm_test_append_string (GByteArray *out, const char *string);

G_END_DECLS
