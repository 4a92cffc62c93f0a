/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <sys/stat.h>

#include "sm-error.h"
#include "sm-token.h"

GBytes *
sm_token_load (const char *path, GError **error)
{
  g_autoptr (GInputStream) input = NULL;
  g_autofree guint8 *token = NULL;
  struct stat        st;
  gsize              len = 0;
  int                fd;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* O_NONBLOCK: a FIFO must not block us before fstat() refuses it.
   * The checks are on the descriptor we read, so nothing can be swapped
   * in between. */
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    {
      int saved_errno = errno;

      if (saved_errno == ELOOP)
        g_set_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED,
                     "Token file %s is a symbolic link; give the file itself", path);
      else
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                     "Cannot open token file %s: %s", path, g_strerror (saved_errno));
      return NULL;
    }
  input = g_unix_input_stream_new (fd, TRUE);

  if (fstat (fd, &st) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Cannot stat token file %s: %s", path, g_strerror (saved_errno));
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED,
                   "Token file %s is not a regular file", path);
      return NULL;
    }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED,
                   "Token file %s has mode %04o: it must not be readable or writable by group "
                   "or others (chmod 600)",
                   path, (guint) (st.st_mode & 07777));
      return NULL;
    }

  /* Room for the longest token, its newline and one byte more, which
   * tells a token that is too long. */
  token = g_malloc (SM_TOKEN_MAX_SIZE + 2);
  if (!g_input_stream_read_all (input, token, SM_TOKEN_MAX_SIZE + 2, &len, NULL, error))
    {
      g_prefix_error (error, "Cannot read token file %s: ", path);
      return NULL;
    }
  if (len > 0 && token[len - 1] == '\n')
    len--;

  if (len == 0)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED, "Token file %s is empty", path);
      return NULL;
    }
  if (len > SM_TOKEN_MAX_SIZE)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED,
                   "Token in %s is longer than %u bytes", path, SM_TOKEN_MAX_SIZE);
      return NULL;
    }
  /* A JSON string that json-glib hands over cannot carry one */
  if (memchr (token, '\0', len) != NULL)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED, "Token in %s contains a NUL byte",
                   path);
      return NULL;
    }

  return g_bytes_new_take (g_realloc (g_steal_pointer (&token), len), len);
}

/* SHA-256 of @data into @digest (32 bytes) */
static void
token_digest (const void *data, gsize len, guint8 *digest)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize digest_len = 32;

  g_checksum_update (checksum, data, len);
  g_checksum_get_digest (checksum, digest, &digest_len);
}

gboolean
sm_token_equal (GBytes *expected, const char *presented, gsize presented_len)
{
  guint8        expected_digest[32];
  guint8        presented_digest[32];
  gsize         expected_len;
  const guint8 *expected_data;

  g_return_val_if_fail (expected != NULL, FALSE);
  g_return_val_if_fail (presented != NULL || presented_len == 0, FALSE);

  /* Digests have one size whatever the lengths, and gnutls_memcmp() looks
   * at every byte: the compare takes the same time for every token. */
  expected_data = g_bytes_get_data (expected, &expected_len);
  token_digest (expected_data, expected_len, expected_digest);
  token_digest (presented, presented_len, presented_digest);

  return gnutls_memcmp (expected_digest, presented_digest, sizeof expected_digest) == 0 &&
         expected_len > 0;
}
