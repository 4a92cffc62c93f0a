/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers of test-pollable-source.c and test-yamux-writer.c: waiting on the
 * default main context with a deadline, pollable ends of a connection.
 */

#include <string.h>
#include <gio/gio.h>

#include "test-fixture-util.h"

#define TEST_TIMEOUT_SECONDS 30

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

