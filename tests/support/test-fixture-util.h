/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers shared by the transport tests (test-io-util.h, test-yamux-util.h,
 * test-splice.c): socketpair connections, bytes whose value depends on
 * their offset, and waiting on the default main context with a deadline.
 */

#include <sys/socket.h>
#include <gio/gio.h>

/* For a timeout source: sets the gboolean it points to. The source stays,
 * so that its id remains valid for g_source_remove(). */
static inline gboolean
on_test_timeout (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_CONTINUE;
}

/* Iterates the default context until @condition holds; @fixture has a
 * `timed_out` flag, set by an on_test_timeout() source. */
#define WAIT_FOR(fixture, condition)                  \
  G_STMT_START {                                      \
    while (!(condition) && !(fixture)->timed_out)     \
      g_main_context_iteration (NULL, TRUE);          \
    g_assert_false ((fixture)->timed_out);            \
  } G_STMT_END

/* Dispatches until nothing is ready. Over a socketpair the kernel moves
 * bytes at once, so afterwards nothing changes until the test acts. */
static inline void
settle (const gboolean *timed_out)
{
  for (guint round = 0; round < 3; round++)
    while (g_main_context_iteration (NULL, FALSE) && !*timed_out)
      ;
  g_assert_false (*timed_out);
}

/* Bytes whose value depends on their offset, so that a lost, duplicated or
 * reordered chunk shows up as a mismatch. */
static inline guint8
pattern_byte (guint   seed,
              guint64 offset)
{
  return (guint8) ((offset * 131) ^ (offset >> 11) ^ (offset >> 19) ^ seed);
}

/* Two connected GSocketConnections over a Unix socketpair */
static inline void
make_connections (GIOStream **a,
                  GIOStream **b)
{
  int fds[2];
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket_a = NULL;
  g_autoptr(GSocket) socket_b = NULL;

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
  socket_a = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  socket_b = g_socket_new_from_fd (fds[1], &error);
  g_assert_no_error (error);
  *a = G_IO_STREAM (g_socket_connection_factory_create_connection (socket_a));
  *b = G_IO_STREAM (g_socket_connection_factory_create_connection (socket_b));
}
