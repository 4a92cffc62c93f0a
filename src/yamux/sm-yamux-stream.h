/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One yamux stream as a GIOStream. Its input and output streams implement
 * GPollableInputStream/GPollableOutputStream (non-blocking I/O plus sources
 * that fire on readiness), so the async GIO calls work without threads.
 *
 *  - reading gives the peer's data, then EOF (0) after the peer's FIN;
 *  - closing the output stream sends FIN (half-close);
 *  - closing the input stream discards whatever still arrives;
 *  - g_io_stream_close() does both; the stream leaves its session once
 *    FIN went both ways (or after a reset);
 *  - a reset by the peer, or the end of the session, makes pending and
 *    later I/O fail with G_IO_ERROR_CONNECTION_CLOSED;
 *  - blocking (sync) reads and writes are only allowed in the thread that
 *    owns the session's main context: they iterate that context.
 */

#include <gio/gio.h>
#include "sm-yamux-session.h"

G_BEGIN_DECLS

#define SM_TYPE_YAMUX_STREAM (sm_yamux_stream_get_type ())
G_DECLARE_FINAL_TYPE (SmYamuxStream, sm_yamux_stream, SM, YAMUX_STREAM, GIOStream)

guint32         sm_yamux_stream_get_id (SmYamuxStream *self);
/* NULL once the session is gone */
SmYamuxSession *sm_yamux_stream_get_session (SmYamuxStream *self);
/* Abort: sends RST, fails local I/O, leaves the session */
void            sm_yamux_stream_reset (SmYamuxStream *self);
/* TRUE if the peer reset it */
gboolean        sm_yamux_stream_was_reset (SmYamuxStream *self);
/* Received bytes not yet read: never more than the receive window */
gsize           sm_yamux_stream_get_buffered (SmYamuxStream *self);
/* Our receive window now (auto-tuned, see SmYamuxFlow) */
guint32         sm_yamux_stream_get_receive_window (SmYamuxStream *self);
/* Reading without a copy: the received bytes not read yet, as up to
 * @max_vectors vectors (none if there are none: then a read says why),
 * valid until the next call on the stream; sm_yamux_stream_consume()
 * then counts @len of them read (and grants window as a read does). */
guint sm_yamux_stream_peek (SmYamuxStream *self, GOutputVector *vectors, guint max_vectors);
void  sm_yamux_stream_consume (SmYamuxStream *self, gsize len);
/* How many bytes a non-blocking write would take now: 0 while it would
 * block (no window from the peer, or the session's output is full). A
 * stream that can no longer be written reports room, so that the write
 * itself tells why. Lets a relay read no more than it can pass on. */
gsize sm_yamux_stream_get_write_room (SmYamuxStream *self);

G_END_DECLS
