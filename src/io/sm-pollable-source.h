/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Readiness sources for pollable streams, shared by the yamux and TLS
 * streams (which implement GPollable*Stream on their own state) and by the
 * code that waits on streams (splice, the yamux session, the TLS stream).
 *
 * Every source made here dispatches a GPollableSourceFunc with its stream,
 * works with g_source_set_closure() and g_source_set_dummy_callback(), and
 * never dispatches recursively: while its callback runs, nested iterations
 * of the context leave it alone, as GLib does for any source. Unlike GLib,
 * it gets there without taking its file descriptor out of the poll set and
 * putting it back around every dispatch (each of which wakes the context
 * up through its eventfd); that only happens when a nested iteration
 * actually runs inside the callback.
 */

#include <gio/gio.h>

G_BEGIN_DECLS

/* Whether the stream can go on now, judged by in-process state held by
 * @object: readable or writable, or in a state (EOF, error, closed) that
 * the next call reports at once. Must not do I/O. */
typedef gboolean (*SmPollableReadyFunc) (GObject *object);

/*
 * A level-triggered source for @stream (a GPollableInputStream or
 * GPollableOutputStream): @is_ready (@ready_object) is asked before and
 * after each poll, and @is_ready may be NULL when only a base stream (see
 * below) tells readiness. The source holds references to @stream and
 * @ready_object. It also dispatches when @cancellable is cancelled.
 */
GSource *sm_pollable_source_new (GObject            *stream,
                                 SmPollableReadyFunc is_ready,
                                 GObject            *ready_object,
                                 GCancellable       *cancellable);
/*
 * Also dispatches while @base_stream (a pollable stream that @stream is
 * built on) is ready for @condition (G_IO_IN or G_IO_OUT). A
 * GSocketConnection's own input or output stream is watched through its
 * socket's file descriptor; any other pollable stream through a child
 * source. Call before attaching.
 */
void sm_pollable_source_add_base (GSource *source, GObject *base_stream, GIOCondition condition);

/*
 * What g_pollable_input_stream_create_source() and
 * g_pollable_output_stream_create_source() return, with the same callback
 * type, but cheaper for a GSocketConnection's own streams: their source
 * polls the socket directly instead of nesting a socket source in a
 * GPollableSource. Other streams get the source they make themselves.
 */
GSource *sm_stream_create_read_source (GPollableInputStream *stream, GCancellable *cancellable);
GSource *sm_stream_create_write_source (GPollableOutputStream *stream, GCancellable *cancellable);

/* The socket behind a GSocketConnection's own input or output stream
 * (not a wrapper's, such as GTcpWrapperConnection's); NULL for any other
 * stream. No new reference. */
GSocket *sm_stream_get_socket (GObject *stream);

/* Destroys *@source, if any, drops our reference and sets it to NULL */
void     sm_source_clear (GSource **source);

G_END_DECLS
