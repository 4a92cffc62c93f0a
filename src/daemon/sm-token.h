/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The shared secret that TCP control connections present (--token-file).
 * Unix-socket peers are known by uid and need none.
 */

#include <glib.h>

G_BEGIN_DECLS

/* Longest token accepted, trailing newline not counted */
#define SM_TOKEN_MAX_SIZE 4096

/* Reads the token from @path. Refuses (SM_ERROR_PERMISSION_DENIED) a file
 * readable or writable by group or others, a symlink, anything but a
 * regular file, an empty token, one over SM_TOKEN_MAX_SIZE or one holding
 * a NUL byte; strips one trailing newline. Other failures to open or read
 * are G_IO_ERRORs. */
GBytes  *sm_token_load (const char *path, GError **error);

/* Whether @presented is @expected. Constant time: no early exit on the
 * first difference, and neither content nor length of @expected shows in
 * how long it takes (only @presented_len does). */
gboolean sm_token_equal (GBytes *expected, const char *presented, gsize presented_len);

G_END_DECLS
