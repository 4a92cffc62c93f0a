/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The base of our pollable output streams (a yamux stream's and a TLS
 * stream's writing halves). It implements GPollableOutputStream once over a
 * few class methods, writes in blocking mode by waiting on the stream's own
 * source between non-blocking writes, and closes asynchronously in place:
 * GIO's default close_async would call close_fn in a worker thread.
 */

#include <gio/gio.h>

G_BEGIN_DECLS

#define SM_TYPE_POLLABLE_OUTPUT_STREAM (sm_pollable_output_stream_get_type ())
G_DECLARE_DERIVABLE_TYPE (SmPollableOutputStream,
                          sm_pollable_output_stream,
                          SM,
                          POLLABLE_OUTPUT_STREAM,
                          GOutputStream)

/**
 * SmPollableOutputStreamClass:
 * @source_name: the name of the default source (a static string), or NULL
 * @is_ready: g_pollable_output_stream_is_writable(): writable, or in a state
 *   (error, closed) that the next write reports at once. The default
 *   source asks it before and after every poll, so it must not do I/O.
 * @write_nonblocking: g_pollable_output_stream_write_nonblocking()
 * @create_source: g_pollable_output_stream_create_source(); by default a
 *   source of sm-pollable-source.h that polls @is_ready, named
 *   @source_name
 * @can_poll: g_pollable_output_stream_can_poll(); TRUE if unset
 * @notifies: the stream calls sm_pollable_output_stream_notify() whenever it
 *   may have become writable (or reached EOF, an error, its end), so the event
 *   core (sm-event-loop.h) can wait for it without a source
 * @get_poll_base: optional: the stream this one is built on, whose
 *   readiness is this one's, except that *@ready is set when this one is
 *   ready by itself (buffered bytes, errors); NULL if there is none. The
 *   event core (sm-event-loop.h) watches the descriptor under it.
 * @get_context: the context whose dispatches make the stream ready, which
 *   a blocking write iterates (only its owner thread can); by default the
 *   thread-default context
 *
 * Subclasses set GOutputStreamClass's close_fn (if closing does anything),
 * which close_async calls in place, and may replace write_fn when they can
 * block by themselves.
 */
struct _SmPollableOutputStreamClass
{
  GOutputStreamClass parent_class;

  const char        *source_name;
  gboolean           notifies;

  gboolean (*is_ready) (SmPollableOutputStream *self);
  gssize (*write_nonblocking) (SmPollableOutputStream *self,
                               const void             *buffer,
                               gsize                   count,
                               GError                **error);
  GSource *(*create_source) (SmPollableOutputStream *self, GCancellable *cancellable);
  gboolean (*can_poll) (SmPollableOutputStream *self);
  GMainContext *(*get_context) (SmPollableOutputStream *self);
  GObject *(*get_poll_base) (SmPollableOutputStream *self, gboolean *ready);
};

/* The event core's hook: @func (@user_data) runs, synchronously, each
 * time a stream whose class @notifies may have become writable. One hook
 * per stream, the last one set; @func NULL removes it if it is still the
 * one set with @user_data. */
void sm_pollable_output_stream_set_notify (SmPollableOutputStream *self,
                                           void (*func) (gpointer user_data),
                                           gpointer user_data);
/* For subclasses: the stream may have become writable */
void sm_pollable_output_stream_notify (SmPollableOutputStream *self);

G_END_DECLS
