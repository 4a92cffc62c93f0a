/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The base of our pollable input streams (a yamux stream's and a TLS
 * stream's reading halves). It implements GPollableInputStream once over a
 * few class methods, reads in blocking mode by waiting on the stream's own
 * source between non-blocking reads, and closes asynchronously in place:
 * GIO's default close_async would call close_fn in a worker thread.
 */

#include <gio/gio.h>

G_BEGIN_DECLS

#define SM_TYPE_POLLABLE_INPUT_STREAM (sm_pollable_input_stream_get_type ())
G_DECLARE_DERIVABLE_TYPE (SmPollableInputStream,
                          sm_pollable_input_stream,
                          SM,
                          POLLABLE_INPUT_STREAM,
                          GInputStream)

/**
 * SmPollableInputStreamClass:
 * @source_name: the name of the default source (a static string), or NULL
 * @is_ready: g_pollable_input_stream_is_readable(): readable, or in a state
 *   (EOF, error, closed) that the next read reports at once. The default
 *   source asks it before and after every poll, so it must not do I/O.
 * @read_nonblocking: g_pollable_input_stream_read_nonblocking()
 * @create_source: g_pollable_input_stream_create_source(); by default a
 *   source of sm-pollable-source.h that polls @is_ready, named
 *   @source_name
 * @can_poll: g_pollable_input_stream_can_poll(); TRUE if unset
 * @notifies: the stream calls sm_pollable_input_stream_notify() whenever it
 *   may have become readable (or reached EOF, an error, its end), so the event
 *   core (sm-event-loop.h) can wait for it without a source
 * @get_poll_base: optional: the stream this one is built on, whose
 *   readiness is this one's, except that *@ready is set when this one is
 *   ready by itself (buffered bytes, errors); NULL if there is none. The
 *   event core (sm-event-loop.h) watches the descriptor under it.
 * @get_context: the context whose dispatches make the stream ready, which
 *   a blocking read iterates (only its owner thread can); by default the
 *   thread-default context
 *
 * Subclasses set GInputStreamClass's close_fn (if closing does anything),
 * which close_async calls in place, and may replace read_fn when they can
 * block by themselves.
 */
struct _SmPollableInputStreamClass
{
  GInputStreamClass parent_class;

  const char       *source_name;
  gboolean          notifies;

  gboolean (*is_ready) (SmPollableInputStream *self);
  gssize (*read_nonblocking) (SmPollableInputStream *self,
                              void                  *buffer,
                              gsize                  count,
                              GError               **error);
  GSource *(*create_source) (SmPollableInputStream *self, GCancellable *cancellable);
  gboolean (*can_poll) (SmPollableInputStream *self);
  GMainContext *(*get_context) (SmPollableInputStream *self);
  GObject *(*get_poll_base) (SmPollableInputStream *self, gboolean *ready);
};

/* The event core's hook: @func (@user_data) runs, synchronously, each
 * time a stream whose class @notifies may have become readable. One hook
 * per stream, the last one set; @func NULL removes it if it is still the
 * one set with @user_data. */
void sm_pollable_input_stream_set_notify (SmPollableInputStream *self,
                                          void (*func) (gpointer user_data),
                                          gpointer user_data);
/* For subclasses: the stream may have become readable */
void sm_pollable_input_stream_notify (SmPollableInputStream *self);

G_END_DECLS
