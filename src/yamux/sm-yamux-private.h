/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Internal API between the files of this library: the byte queue
 * (sm-yamux-buffer.c), the session (sm-yamux-session.c, sm-yamux-reader.c,
 * sm-yamux-writer.c), the stream (sm-yamux-stream.c) and its halves
 * (sm-yamux-input-stream.c, sm-yamux-output-stream.c). Not installed, not
 * for other modules.
 */

#include "sm-pollable-input-stream.h"
#include "sm-pollable-output-stream.h"
#include "sm-pollable-source.h"
#include "sm-yamux-session.h"
#include "sm-yamux-stream.h"

G_BEGIN_DECLS

/* Largest DATA payload we send in one frame; bigger writes are short.
 * A frame never exceeds the peer's window either, so a peer with the
 * usual 256 KiB windows gets no bigger frames than before; one that grants
 * more gets fewer, bigger writes, which on loopback cost far less CPU per
 * byte than 256 KiB ones. */
#define SM_YAMUX_MAX_DATA_FRAME (1024 * 1024)

/*
 * A byte queue: a list of heap segments, appended at the tail and consumed
 * from the head, so nothing is ever moved or reallocated. Its bound comes
 * from whoever fills it (a stream's receive window, the session's write
 * buffer limit).
 */
typedef struct _SmYamuxSegment SmYamuxSegment;

typedef struct
{
  SmYamuxSegment *head;
  SmYamuxSegment *tail;
  gsize           length;
} SmYamuxBuffer;

static inline gsize
sm_yamux_buffer_get_length (const SmYamuxBuffer *buffer)
{
  return buffer->length;
}

void    sm_yamux_buffer_append (SmYamuxBuffer *buffer, const void *data, gsize len);
/* Room for up to @want bytes at the tail, to be filled in place and then
 * committed; *@available says how much (at least 1). */
guint8 *sm_yamux_buffer_reserve (SmYamuxBuffer *buffer, gsize want, gsize *available);
void    sm_yamux_buffer_commit (SmYamuxBuffer *buffer, gsize len);
/* Copies up to @len bytes out and consumes them; returns how many. */
gsize   sm_yamux_buffer_pop (SmYamuxBuffer *buffer, void *out, gsize len);
void    sm_yamux_buffer_consume (SmYamuxBuffer *buffer, gsize len);
/* Points up to @max_vectors vectors at the queued bytes, in order;
 * returns how many it filled. */
guint sm_yamux_buffer_peek (const SmYamuxBuffer *buffer, GOutputVector *vectors, guint max_vectors);
/* Empties the queue and frees its memory. */
void  sm_yamux_buffer_clear (SmYamuxBuffer *buffer);

/*
 * The session is one object in three files, which share its struct:
 *  - sm-yamux-session.c: the object, its stream table and SYN slots,
 *    keep-alive, go-away and its end;
 *  - sm-yamux-reader.c: reads the connection and hands each frame to the
 *    session or to its stream;
 *  - sm-yamux-writer.c: queues frames and writes them to the connection.
 * The first group of fields is set up by sm-yamux-session.c and read by
 * all three; each other group belongs to the file named above it, which
 * the other files call through the functions declared below, except where
 * a field's comment says otherwise. Everything runs in @context.
 */
struct _SmYamuxSession
{
  GObject                parent_instance;

  GIOStream             *connection;
  GPollableInputStream  *input;
  GPollableOutputStream *output;
  GMainContext          *context;
  SmYamuxRole            role;
  SmYamuxConfig          config;
  gboolean               tracing;

  /* sm-yamux-session.c; the reader looks streams up by id. */
  GHashTable            *streams;       /* id → SmYamuxStream, owned */
  GQueue                 syn_waiting;   /* outbound streams whose SYN waits for a slot */
  guint                  n_syn_pending; /* our SYNs on the wire, not yet answered */
  guint32                next_stream_id;
  guint                  notified_n_streams;

  /* sm-yamux-reader.c: frames are parsed in place in read_buffer (which
   * sm-yamux-session.c frees in finalize: a dispatch of the reader may
   * still use it after the session ended). */
  guint8                *read_buffer;
  gsize                  read_capacity;
  gsize                  read_start;
  gsize                  read_end;
  struct _SmEventWatch  *read_watch;
  gboolean               reading_paused; /* too much output queued; the writer resumes */
  GSource               *initial_input_source;
  guint32                payload_remaining; /* of the DATA frame being received */
  SmYamuxStream         *payload_stream;    /* its stream, or NULL to discard it */
  gboolean               payload_fin;       /* FIN of that frame, applied after its payload */

  /* sm-yamux-writer.c */
  SmYamuxBuffer          output_queue;
  GSource               *write_source; /* flushes the queue before each poll */
  guint64                bytes_written;
  GSource               *write_watchdog_source;
  guint64                watchdog_bytes_written;
  gint64                 watchdog_progress_time;

  /* sm-yamux-session.c: keep-alive */
  GSource               *keepalive_source;
  GSource               *ping_timeout_source;
  guint32                ping_next_id;
  guint32                ping_unanswered_id; /* oldest ping without an answer */

  /* sm-yamux-session.c: a write failure found inside a stream call ends
   * the session from an idle callback, so "closed" handlers never run
   * under a caller's feet. */
  GSource               *fail_source;
  GError                *fail_error;

  /* sm-yamux-session.c */
  gboolean               local_go_away;
  gboolean               remote_go_away;
  guint32                remote_go_away_code;
  gboolean               closed;
  SmYamuxStats           stats; /* the reader and writer count payload bytes */
};

/* Neither closed nor failing: I/O goes on. */
static inline gboolean
sm_yamux_session_is_running (SmYamuxSession *self)
{
  return !self->closed && self->fail_error == NULL;
}

/* sm-yamux-session.c, for the reader and the writer */
/* Ends the session at once: I/O stops, streams fail, "closed" is emitted
 * if @emit. The caller holds a reference or dispatches one of our sources. */
void     sm_yamux_session_terminate (SmYamuxSession *self, const GError *error, gboolean emit);
/* Takes @error: stops I/O now and ends the session from an idle, so that
 * "closed" handlers never run inside a stream call. */
void     sm_yamux_session_fail (SmYamuxSession *self, GError *error);
/* Takes @error: sends GoAway(protocol error) and ends the session. */
void     sm_yamux_session_protocol_error (SmYamuxSession *self, GError *error);
/* EOF (@read_error NULL) or a read failure on the connection */
void     sm_yamux_session_connection_lost (SmYamuxSession *self, const GError *read_error);
/* The peer's SYN for @id. FALSE if the session ended. */
gboolean sm_yamux_session_accept_stream (SmYamuxSession *self, guint32 id);
/* An ACK for @stream: if it answers our SYN, that SYN's slot is free. */
void     sm_yamux_session_handle_ack (SmYamuxSession *self, SmYamuxStream *stream);
void     sm_yamux_session_handle_ping (SmYamuxSession *self, const SmYamuxHeader *header);
void     sm_yamux_session_handle_go_away (SmYamuxSession *self, const SmYamuxHeader *header);

/* sm-yamux-reader.c */
void     sm_yamux_session_start_reading (SmYamuxSession *self, GBytes *initial_input);
/* After a pause for too much queued output */
void     sm_yamux_session_resume_reading (SmYamuxSession *self);
/* Stops reading now, the session failing */
void     sm_yamux_session_stop_reading (SmYamuxSession *self);
/* Stops reading for good and drops the frame being received */
void     sm_yamux_session_end_reading (SmYamuxSession *self);

/* sm-yamux-writer.c */
void     sm_yamux_session_start_writing (SmYamuxSession *self);
/* Ends a session whose output makes no progress for write_timeout_ms */
void     sm_yamux_session_start_watchdog (SmYamuxSession *self);
/* Stops writing now, the session failing */
void     sm_yamux_session_stop_writing (SmYamuxSession *self);
/* Stops writing for good: what the connection takes of the queue now goes
 * out, the rest is dropped. */
void     sm_yamux_session_end_writing (SmYamuxSession *self);
/* Queues a frame, which goes out with the others right before the context
 * polls again; a big DATA frame goes to the socket at once. */
void     sm_yamux_session_write_frame (SmYamuxSession *self,
                                       SmYamuxType     type,
                                       guint16         flags,
                                       guint32         stream_id,
                                       guint32         length,
                                       const void     *payload,
                                       gsize           payload_len);

/* Output queued and not yet written */
static inline gsize
sm_yamux_session_get_queued (SmYamuxSession *self)
{
  return sm_yamux_buffer_get_length (&self->output_queue);
}

/* Session side, used by streams: sm-yamux-session.c */
GMainContext        *sm_yamux_session_get_context (SmYamuxSession *self);
const SmYamuxConfig *sm_yamux_session_get_config (SmYamuxSession *self);
/* @stream left the session: drops the session's reference to it. */
void                 sm_yamux_session_remove_stream (SmYamuxSession *self, SmYamuxStream *stream);
/* sm-yamux-writer.c: TRUE while the session takes more output (alive,
 * queue under its limit) */
gboolean             sm_yamux_session_can_send (SmYamuxSession *self);
void                 sm_yamux_session_send_header (SmYamuxSession *self,
                                                   SmYamuxType     type,
                                                   guint16         flags,
                                                   guint32         stream_id,
                                                   guint32         length);
void
sm_yamux_session_send_data (SmYamuxSession *self, guint32 stream_id, const void *data, guint32 len);

/* Stream side, used by the session. */
SmYamuxStream          *
sm_yamux_stream_new_internal (SmYamuxSession *session, guint32 id, gboolean outbound);
/* Sends our SYN (outbound) or ACK (inbound) with the initial window delta. */
void     sm_yamux_stream_send_open (SmYamuxStream *self);
/* Outbound stream whose SYN is out and not yet answered. */
gboolean sm_yamux_stream_is_syn_pending (SmYamuxStream *self);
/* Outbound stream whose SYN has not been sent yet. */
gboolean sm_yamux_stream_is_syn_waiting (SmYamuxStream *self);
void     sm_yamux_stream_handle_ack (SmYamuxStream *self);
/* The session's output queue has room again */
void     sm_yamux_stream_notify_writable (SmYamuxStream *self);
gboolean sm_yamux_stream_handle_grant (SmYamuxStream *self, guint32 delta, GError **error);
/* A DATA frame of @len bytes announced: checks and charges the window. */
gboolean sm_yamux_stream_handle_data (SmYamuxStream *self, guint32 len, GError **error);
/* Payload bytes of an announced DATA frame. */
void     sm_yamux_stream_push_data (SmYamuxStream *self, const guint8 *data, gsize len);
/* Reads up to @max payload bytes from @input straight into the receive
 * buffer, saving a copy for bulk data. Only while the stream takes data
 * (see push_data); *@requested is how much was asked for. */
gboolean sm_yamux_stream_takes_data (SmYamuxStream *self);
gssize   sm_yamux_stream_receive_from (SmYamuxStream        *self,
                                       GPollableInputStream *input,
                                       gsize                 max,
                                       gsize                *requested,
                                       GError              **error);
void     sm_yamux_stream_handle_fin (SmYamuxStream *self);
void     sm_yamux_stream_handle_rst (SmYamuxStream *self);
/* Fails the stream without telling the peer (session over, SYN never sent). */
void     sm_yamux_stream_abort (SmYamuxStream *self, gboolean session_ended);

/* Stream side, used by its input and output streams. */
gboolean sm_yamux_stream_is_readable (SmYamuxStream *self);
gboolean sm_yamux_stream_is_writable (SmYamuxStream *self);
/* Non-blocking: G_IO_ERROR_WOULD_BLOCK when nothing can be done now. */
gssize
sm_yamux_stream_read_nonblocking (SmYamuxStream *self, void *buffer, gsize count, GError **error);
gssize        sm_yamux_stream_write_nonblocking (SmYamuxStream *self,
                                                 const void    *buffer,
                                                 gsize          count,
                                                 GError       **error);
void          sm_yamux_stream_close_read (SmYamuxStream *self);
void          sm_yamux_stream_close_write (SmYamuxStream *self);
/* Sets G_IO_ERROR_CLOSED and returns -1 */
gssize        sm_yamux_stream_set_closed_error (GError **error);
/* The session's: blocking reads and writes iterate it */
GMainContext *sm_yamux_stream_get_context (SmYamuxStream *self);

/* The pollable halves of a stream (sm-yamux-input-stream.c and
 * sm-yamux-output-stream.c). They point back at their stream without a
 * reference; the stream detaches them when it is finalized, after which
 * they behave as closed. */
#define SM_TYPE_YAMUX_INPUT_STREAM (sm_yamux_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (SmYamuxInputStream,
                      sm_yamux_input_stream,
                      SM,
                      YAMUX_INPUT_STREAM,
                      SmPollableInputStream)

#define SM_TYPE_YAMUX_OUTPUT_STREAM (sm_yamux_output_stream_get_type ())
G_DECLARE_FINAL_TYPE (SmYamuxOutputStream,
                      sm_yamux_output_stream,
                      SM,
                      YAMUX_OUTPUT_STREAM,
                      SmPollableOutputStream)

GInputStream  *sm_yamux_input_stream_new (SmYamuxStream *owner);
void           sm_yamux_input_stream_detach (SmYamuxInputStream *self);
GOutputStream *sm_yamux_output_stream_new (SmYamuxStream *owner);
void           sm_yamux_output_stream_detach (SmYamuxOutputStream *self);

G_END_DECLS
