/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers of test-pollable-source.c and test-yamux-writer.c: socket pairs
 * and waiting on the default main context with a deadline.
 */

#include <string.h>
#include <sys/socket.h>
#include <gio/gio.h>

#define TEST_TIMEOUT_SECONDS 30

static inline gboolean
on_test_timeout (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_CONTINUE;
}

/* A flag that a timeout sets, for loops that wait on something else */
static inline GSource *
deadline_new (GMainContext *context,
              gboolean     *expired)
{
  GSource *source = g_timeout_source_new_seconds (TEST_TIMEOUT_SECONDS);

  *expired = FALSE;
  g_source_set_callback (source, on_test_timeout, expired, NULL);
  g_source_attach (source, context);
  return source;
}

static inline void
deadline_clear (GSource **deadline)
{
  g_source_destroy (*deadline);
  g_clear_pointer (deadline, g_source_unref);
}

/* Iterates the default context until *@count reaches @n; fails after a
 * while. */
static inline void
wait_for_count (const guint *count,
                guint        n)
{
  gboolean expired;
  GSource *deadline = deadline_new (NULL, &expired);

  while (*count < n && !expired)
    g_main_context_iteration (NULL, TRUE);
  deadline_clear (&deadline);
  g_assert_false (expired);
}

/* Dispatches until nothing is ready; a source that stays ready fails. */
static inline void
drain_default_context (void)
{
  guint rounds = 0;

  while (g_main_context_iteration (NULL, FALSE))
    g_assert_cmpuint (++rounds, <, 10000);
}

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

static inline GPollableInputStream *
input_of (GIOStream *stream)
{
  return G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (stream));
}

static inline GPollableOutputStream *
output_of (GIOStream *stream)
{
  return G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (stream));
}

static inline void
write_all (GIOStream  *stream,
           const char *text)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all (g_io_stream_get_output_stream (stream), text, strlen (text),
                             NULL, NULL, &error);
  g_assert_no_error (error);
}

