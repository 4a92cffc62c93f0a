/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sm-error.h"
#include "sm-token.h"

/* A private directory per test, removed with everything in it */
typedef struct
{
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;

  fixture->dir = g_dir_make_tmp ("sm-test-token-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GDir) dir = g_dir_open (fixture->dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (fixture->dir, name, NULL);

      g_assert_no_errno (g_remove (path));
    }
  g_assert_no_errno (g_rmdir (fixture->dir));
  g_free (fixture->dir);
}

/* Writes @len bytes of @contents to a new file @name with @mode */
static char *
write_file (Fixture    *fixture,
            const char *name,
            const char *contents,
            gssize      len,
            mode_t      mode)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (fixture->dir, name, NULL);

  g_file_set_contents_full (path, contents, len, G_FILE_SET_CONTENTS_NONE, mode, &error);
  g_assert_no_error (error);
  /* The umask may have taken bits away */
  g_assert_no_errno (g_chmod (path, mode));
  return path;
}

static void
assert_loads (const char *path,
              const char *expected,
              gsize       expected_len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) token = sm_token_load (path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (token);
  g_assert_cmpmem (g_bytes_get_data (token, NULL), g_bytes_get_size (token), expected, expected_len);
}

static void
assert_refused (const char *path,
                const char *reason)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) token = sm_token_load (path, &error);

  g_assert_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED);
  g_assert_null (token);
  /* The message names the file and says what is wrong with it */
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, reason));
}

static void
test_load_private (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *path = write_file (fixture, "token", "s3cret", -1, 0600);
  g_autofree char *read_only = write_file (fixture, "read-only", "s3cret", -1, 0400);

  assert_loads (path, "s3cret", 6);
  assert_loads (read_only, "s3cret", 6);
}

static void
test_load_group_or_others (Fixture *fixture, gconstpointer user_data)
{
  const mode_t modes[] = { 0640, 0604, 0620, 0602, 0610, 0601, 0644, 0666 };

  for (gsize i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_autofree char *name = g_strdup_printf ("token-%04o", (guint) modes[i]);
      g_autofree char *path = write_file (fixture, name, "s3cret", -1, modes[i]);
      g_autofree char *mode = g_strdup_printf ("%04o", (guint) modes[i]);

      g_test_message ("mode %s", mode);
      assert_refused (path, mode);
    }
}

static void
test_load_symlink (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *target = write_file (fixture, "token", "s3cret", -1, 0600);
  g_autofree char *link = g_build_filename (fixture->dir, "link", NULL);

  g_assert_no_errno (symlink (target, link));
  assert_refused (link, "symbolic link");
}

static void
test_load_not_regular (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *fifo = g_build_filename (fixture->dir, "fifo", NULL);
  g_autofree char *subdir = g_build_filename (fixture->dir, "dir", NULL);

  /* A FIFO with no writer: refused, not waited on */
  g_assert_no_errno (mkfifo (fifo, 0600));
  assert_refused (fifo, "not a regular file");

  g_assert_no_errno (g_mkdir (subdir, 0700));
  assert_refused (subdir, "not a regular file");
}

static void
test_load_empty (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *empty = write_file (fixture, "empty", "", 0, 0600);
  g_autofree char *newline = write_file (fixture, "newline", "\n", -1, 0600);

  assert_refused (empty, "empty");
  assert_refused (newline, "empty");
}

static void
test_load_newline (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *one = write_file (fixture, "one", "s3cret\n", -1, 0600);
  g_autofree char *two = write_file (fixture, "two", "s3cret\n\n", -1, 0600);
  g_autofree char *inner = write_file (fixture, "inner", "s3\ncret", -1, 0600);

  assert_loads (one, "s3cret", 6);
  /* Only one is stripped: the rest is the token as written */
  assert_loads (two, "s3cret\n", 7);
  assert_loads (inner, "s3\ncret", 7);
}

static void
test_load_size (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *max = g_malloc (SM_TOKEN_MAX_SIZE + 2);
  g_autofree char *exact = NULL;
  g_autofree char *exact_newline = NULL;
  g_autofree char *over = NULL;

  memset (max, 'a', SM_TOKEN_MAX_SIZE + 1);
  exact = write_file (fixture, "exact", max, SM_TOKEN_MAX_SIZE, 0600);
  over = write_file (fixture, "over", max, SM_TOKEN_MAX_SIZE + 1, 0600);
  max[SM_TOKEN_MAX_SIZE] = '\n';
  exact_newline = write_file (fixture, "exact-newline", max, SM_TOKEN_MAX_SIZE + 1, 0600);

  assert_loads (exact, max, SM_TOKEN_MAX_SIZE);
  assert_loads (exact_newline, max, SM_TOKEN_MAX_SIZE);
  assert_refused (over, "longer than 4096 bytes");
}

static void
test_load_nul (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *path = write_file (fixture, "nul", "s3\0cret", 7, 0600);

  assert_refused (path, "NUL");
}

static void
test_load_missing (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *path = g_build_filename (fixture->dir, "missing", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) token = sm_token_load (path, &error);

  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_null (token);
  g_assert_nonnull (strstr (error->message, path));
}

static void
test_equal (void)
{
  g_autoptr(GBytes) token = g_bytes_new_static ("s3cret", 6);
  g_autoptr(GBytes) binary = g_bytes_new_static ("\xff\x01\n", 3);

  g_assert_true (sm_token_equal (token, "s3cret", 6));
  g_assert_true (sm_token_equal (binary, "\xff\x01\n", 3));

  /* Same length, one byte off: first, middle, last */
  g_assert_false (sm_token_equal (token, "t3cret", 6));
  g_assert_false (sm_token_equal (token, "s3Cret", 6));
  g_assert_false (sm_token_equal (token, "s3creu", 6));

  /* Prefixes either way */
  g_assert_false (sm_token_equal (token, "s3cre", 5));
  g_assert_false (sm_token_equal (token, "s3cret!", 7));
  g_assert_false (sm_token_equal (token, "s3cret\n", 7));
  g_assert_false (sm_token_equal (token, "s3cret\0", 7));

  /* Nothing presented */
  g_assert_false (sm_token_equal (token, "", 0));
  g_assert_false (sm_token_equal (token, NULL, 0));
}

static void
test_equal_empty_expected (void)
{
  g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);

  /* sm_token_load() never gives one, but an empty token matches nothing */
  g_assert_false (sm_token_equal (empty, "", 0));
  g_assert_false (sm_token_equal (empty, "x", 1));
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/token/load/private", test_load_private);
  ADD ("/token/load/group-or-others", test_load_group_or_others);
  ADD ("/token/load/symlink", test_load_symlink);
  ADD ("/token/load/not-regular", test_load_not_regular);
  ADD ("/token/load/empty", test_load_empty);
  ADD ("/token/load/newline", test_load_newline);
  ADD ("/token/load/size", test_load_size);
  ADD ("/token/load/nul", test_load_nul);
  ADD ("/token/load/missing", test_load_missing);
#undef ADD
  g_test_add_func ("/token/equal", test_equal);
  g_test_add_func ("/token/equal/empty-expected", test_equal_empty_expected);

  return g_test_run ();
}
