/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-pollable-source.h"
#include "sm-yamux-private.h"

/*
 * The connection side of a session.
 *
 * The reader owns one pollable source on the connection and never stops
 * reading: the peer must respect each stream's receive window, so a slow
 * reader stalls only its own stream. Frames are parsed in place in one big
 * buffer and DATA payloads are copied straight into their stream; the rest
 * of a big payload is read from the socket into the stream directly.
 *
 * The writer owns one byte queue and one source for the session's life
 * (write_source). Frames go into the queue whole and the source's prepare,
 * which GLib runs right before the context polls again, hands everything
 * that the last iteration queued to the socket in one writev(): replies
 * and window updates of many streams share one syscall and one TCP
 * segment, at no cost in latency (the loop would poll next). Big DATA
 * frames skip the queue and go to the socket at once, saving a copy. What
 * the socket does not take waits in the queue while a child source
 * watches the connection for room.
 */

#define READ_BUFFER_SIZE (256 * 1024)
/* Bytes read per dispatch before other sources get a turn. */
#define READ_BUDGET (1024 * 1024)
/* Payload left in a DATA frame above which it is read in place */
#define DIRECT_READ_MIN (16 * 1024)
/* Segments of the output queue handed to one writev() */
#define FLUSH_VECTORS 16
/* DATA payloads from this size on are written without queueing */
#define DIRECT_WRITE_MIN (16 * 1024)

typedef struct
{
  GSource         source;
  SmYamuxSession *session;     /* not owned: it destroys us before it goes */
  GSource        *output_wait; /* child while the connection is full */
  GError         *error;       /* a failed write, for dispatch to handle */
  gboolean        full;        /* the socket took less than offered */
  gboolean        room_made;   /* the queue fell below its limit */
} SmYamuxWriterSource;

static void session_start_reading (SmYamuxSession *self);

/* Writes as much of the queue as the connection takes now: FALSE on a
 * write failure. *@full when it took less than offered. */
static gboolean
session_write_queue (SmYamuxSession *self, gboolean *full, GError **error)
{
  gsize queued;

  *full = FALSE;
  while ((queued = sm_yamux_buffer_get_length (&self->output_queue)) > 0)
    {
      GOutputVector vectors[FLUSH_VECTORS];
      guint         n_vectors = sm_yamux_buffer_peek (&self->output_queue, vectors, FLUSH_VECTORS);
      GPollableReturn ret;
      gsize           offered = 0;
      gsize           written = 0;

      for (guint i = 0; i < n_vectors; i++)
        offered += vectors[i].size;

      ret = g_pollable_output_stream_writev_nonblocking (self->output, vectors, n_vectors, &written,
                                                         NULL, error);
      if (ret == G_POLLABLE_RETURN_FAILED)
        return FALSE;
      if (ret == G_POLLABLE_RETURN_WOULD_BLOCK)
        {
          *full = TRUE;
          break;
        }

      sm_yamux_buffer_consume (&self->output_queue, written);
      self->bytes_written += written;
      /* A short write means the socket is full: wait instead of asking
       * again for an EAGAIN. */
      if (written < offered)
        {
          *full = TRUE;
          break;
        }
    }
  return TRUE;
}

static gboolean
session_output_is_blocked (SmYamuxSession *self)
{
  SmYamuxWriterSource *writer = (SmYamuxWriterSource *) self->write_source;

  return writer == NULL || writer->output_wait != NULL || writer->full;
}

/* Watches the connection for room while @full, and only then. */
static void
session_watch_output (SmYamuxSession *self, gboolean full)
{
  SmYamuxWriterSource *writer = (SmYamuxWriterSource *) self->write_source;

  if (writer == NULL || full == (writer->output_wait != NULL))
    return;

  if (full)
    {
      writer->output_wait = sm_stream_create_write_source (self->output, NULL);
      g_source_set_dummy_callback (writer->output_wait);
      g_source_add_child_source (self->write_source, writer->output_wait);
    }
  else
    {
      g_source_remove_child_source (self->write_source, writer->output_wait);
      g_clear_pointer (&writer->output_wait, g_source_unref);
    }
}

void
sm_yamux_session_flush (SmYamuxSession *self)
{
  g_autoptr (GError) error = NULL;
  gboolean full;

  if (!sm_yamux_session_is_running (self))
    return;

  if (!session_write_queue (self, &full, &error))
    {
      sm_yamux_session_fail (self, g_steal_pointer (&error));
      return;
    }
  session_watch_output (self, full);

  if (self->reading_paused &&
      sm_yamux_buffer_get_length (&self->output_queue) < self->config.write_buffer_limit)
    {
      self->reading_paused = FALSE;
      session_start_reading (self);
    }
}

void
sm_yamux_session_write_frame (SmYamuxSession *self,
                              SmYamuxType     type,
                              guint16         flags,
                              guint32         stream_id,
                              guint32         length,
                              const void     *payload,
                              gsize           payload_len)
{
  SmYamuxHeader header = { SM_YAMUX_VERSION, type, flags, stream_id, length };
  guint8        encoded[SM_YAMUX_HEADER_SIZE];
  GOutputVector vectors[2] = {
    { encoded, SM_YAMUX_HEADER_SIZE },
    { payload, payload_len },
  };
  g_autoptr (GError) error = NULL;
  GPollableReturn ret;
  gboolean        full;
  gsize           written = 0;

  if (!sm_yamux_session_is_running (self))
    return;

  if (G_UNLIKELY (self->tracing))
    g_debug ("yamux session %p: send %s flags 0x%x stream %u length %u", self,
             sm_yamux_type_to_string (type), flags, stream_id, length);

  sm_yamux_header_encode (&header, encoded);

  if (payload_len < DIRECT_WRITE_MIN || session_output_is_blocked (self))
    {
      sm_yamux_buffer_append (&self->output_queue, encoded, SM_YAMUX_HEADER_SIZE);
      sm_yamux_buffer_append (&self->output_queue, payload, payload_len);
      return;
    }

  /* A big frame: what is queued goes first, then the frame straight from
   * the caller's buffer; only what the socket does not take is copied. */
  if (!session_write_queue (self, &full, &error))
    {
      sm_yamux_session_fail (self, g_steal_pointer (&error));
      return;
    }
  if (!full)
    {
      ret = g_pollable_output_stream_writev_nonblocking (self->output, vectors, 2, &written, NULL,
                                                         &error);
      if (ret == G_POLLABLE_RETURN_FAILED)
        {
          sm_yamux_session_fail (self, g_steal_pointer (&error));
          return;
        }
      if (ret != G_POLLABLE_RETURN_OK)
        written = 0;
      self->bytes_written += written;
      full = written < SM_YAMUX_HEADER_SIZE + payload_len;
    }

  if (written < SM_YAMUX_HEADER_SIZE)
    {
      sm_yamux_buffer_append (&self->output_queue, encoded + written,
                              SM_YAMUX_HEADER_SIZE - written);
      written = SM_YAMUX_HEADER_SIZE;
    }
  sm_yamux_buffer_append (&self->output_queue,
                          (const guint8 *) payload + (written - SM_YAMUX_HEADER_SIZE),
                          payload_len - (written - SM_YAMUX_HEADER_SIZE));
  session_watch_output (self, full);
}

/* Work for dispatch: a failure, watching for room, waking the streams
 * that wait for room, resuming reading */
static gboolean
writer_has_work (SmYamuxWriterSource *writer)
{
  SmYamuxSession *self = writer->session;

  return writer->error != NULL || writer->full || writer->room_made ||
         (self->reading_paused &&
          sm_yamux_buffer_get_length (&self->output_queue) < self->config.write_buffer_limit);
}

/* Runs right before the context polls: the flush point of the queue. */
static gboolean
writer_prepare (GSource *source, gint *timeout)
{
  SmYamuxWriterSource *writer = (SmYamuxWriterSource *) source;
  SmYamuxSession      *self = writer->session;
  gsize                limit = self->config.write_buffer_limit;
  gsize                before = sm_yamux_buffer_get_length (&self->output_queue);

  *timeout = -1;
  if (before > 0 && writer->output_wait == NULL && !writer->full && writer->error == NULL)
    {
      session_write_queue (self, &writer->full, &writer->error);
      /* Stream sources prepared before us saw no room: poll must not
       * sleep on that. */
      if (before >= limit && sm_yamux_buffer_get_length (&self->output_queue) < limit)
        writer->room_made = TRUE;
    }
  return writer_has_work (writer);
}

/* GLib adds the readiness of the output_wait child. */
static gboolean
writer_check (GSource *source)
{
  return writer_has_work ((SmYamuxWriterSource *) source);
}

static gboolean
writer_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  SmYamuxWriterSource *writer = (SmYamuxWriterSource *) source;
  g_autoptr (SmYamuxSession) self = g_object_ref (writer->session);

  writer->room_made = FALSE;
  if (writer->error != NULL)
    {
      /* Destroys this source */
      sm_yamux_session_fail (self, g_steal_pointer (&writer->error));
      return G_SOURCE_REMOVE;
    }
  if (writer->full)
    {
      writer->full = FALSE;
      session_watch_output (self, TRUE);
      return G_SOURCE_CONTINUE;
    }

  /* Room in the connection, or reading to resume */
  sm_yamux_session_flush (self);
  return G_SOURCE_CONTINUE;
}

static void
writer_finalize (GSource *source)
{
  SmYamuxWriterSource *writer = (SmYamuxWriterSource *) source;

  g_clear_pointer (&writer->output_wait, g_source_unref);
  g_clear_error (&writer->error);
}

static GSourceFuncs writer_source_funcs = {
  .prepare = writer_prepare,
  .check = writer_check,
  .dispatch = writer_dispatch,
  .finalize = writer_finalize,
};

static void
session_start_writer (SmYamuxSession *self)
{
  SmYamuxWriterSource *writer;

  self->write_source = g_source_new (&writer_source_funcs, sizeof (SmYamuxWriterSource));
  writer = (SmYamuxWriterSource *) self->write_source;
  writer->session = self;
  g_source_set_static_name (self->write_source, "[socketmaster] yamux session output");
  /* Its dispatch never iterates the context; recursing saves GLib the
   * poll-set changes (eventfd writes) around each dispatch of its child. */
  g_source_set_can_recurse (self->write_source, TRUE);
  g_source_attach (self->write_source, self->context);
}

static gboolean
on_write_watchdog (gpointer user_data)
{
  SmYamuxSession *self = user_data;
  gint64          now = g_get_monotonic_time ();
  g_autoptr (GError) error = NULL;

  if (sm_yamux_buffer_get_length (&self->output_queue) == 0 ||
      self->bytes_written != self->watchdog_bytes_written)
    {
      self->watchdog_bytes_written = self->bytes_written;
      self->watchdog_progress_time = now;
      return G_SOURCE_CONTINUE;
    }

  if (now - self->watchdog_progress_time < (gint64) self->config.write_timeout_ms * 1000)
    return G_SOURCE_CONTINUE;

  g_set_error (&error, SM_ERROR, SM_ERROR_TIMED_OUT,
               "Writing to the yamux connection made no progress for %u ms",
               self->config.write_timeout_ms);
  sm_yamux_session_terminate (self, error, TRUE);
  return G_SOURCE_REMOVE;
}

static void
session_handle_ping (SmYamuxSession *self, const SmYamuxHeader *header)
{
  guint32 outstanding, offset;

  if (header->flags & SM_YAMUX_FLAG_SYN)
    {
      self->stats.pings_received++;
      sm_yamux_session_write_frame (self, SM_YAMUX_TYPE_PING, SM_YAMUX_FLAG_ACK, 0, header->length,
                                    NULL, 0);
      return;
    }

  if ((header->flags & SM_YAMUX_FLAG_ACK) == 0)
    return;

  /* Modular arithmetic: the ids in flight are [unanswered, next). */
  outstanding = self->ping_next_id - self->ping_unanswered_id;
  offset = header->length - self->ping_unanswered_id;
  if (offset >= outstanding)
    return;

  self->stats.pongs_received++;
  self->ping_unanswered_id = header->length + 1;
  if (self->ping_unanswered_id == self->ping_next_id)
    sm_yamux_clear_source (&self->ping_timeout_source);
}

static void
session_handle_stream_frame (SmYamuxSession *self, const SmYamuxHeader *header)
{
  g_autoptr (SmYamuxStream) stream = NULL;
  g_autoptr (GError) error = NULL;
  gboolean is_data = header->type == SM_YAMUX_TYPE_DATA;

  if ((header->flags & SM_YAMUX_FLAG_SYN) &&
      !sm_yamux_session_accept_stream (self, header->stream_id))
    return;

  stream = g_hash_table_lookup (self->streams, GUINT_TO_POINTER (header->stream_id));
  if (stream == NULL)
    {
      /* Most likely a stream we reset: its data still has to be read. */
      if (G_UNLIKELY (self->tracing))
        g_debug ("yamux session %p: %s frame for unknown stream %u ignored", self,
                 sm_yamux_type_to_string (header->type), header->stream_id);
      if (is_data)
        self->payload_remaining = header->length;
      return;
    }
  g_object_ref (stream);

  if (header->flags & SM_YAMUX_FLAG_ACK)
    {
      if (sm_yamux_stream_is_syn_pending (stream))
        {
          sm_yamux_stream_handle_ack (stream);
          self->n_syn_pending--;
          sm_yamux_session_send_waiting_syns (self);
        }
    }

  if (header->flags & SM_YAMUX_FLAG_RST)
    {
      sm_yamux_stream_handle_rst (stream);
      if (is_data)
        self->payload_remaining = header->length;
      return;
    }

  if (!is_data)
    {
      if (!sm_yamux_stream_handle_grant (stream, header->length, &error))
        {
          sm_yamux_session_protocol_error (self, g_steal_pointer (&error));
          return;
        }
      if (header->flags & SM_YAMUX_FLAG_FIN)
        sm_yamux_stream_handle_fin (stream);
      return;
    }

  if (!sm_yamux_stream_handle_data (stream, header->length, &error))
    {
      sm_yamux_session_protocol_error (self, g_steal_pointer (&error));
      return;
    }

  if (header->length == 0)
    {
      if (header->flags & SM_YAMUX_FLAG_FIN)
        sm_yamux_stream_handle_fin (stream);
      return;
    }

  self->payload_remaining = header->length;
  self->payload_stream = g_steal_pointer (&stream);
  self->payload_fin = (header->flags & SM_YAMUX_FLAG_FIN) != 0;
}

static void
session_finish_payload (SmYamuxSession *self)
{
  g_autoptr (SmYamuxStream) stream = g_steal_pointer (&self->payload_stream);

  if (stream != NULL && self->payload_fin)
    sm_yamux_stream_handle_fin (stream);
  self->payload_fin = FALSE;
}

/* Parses every complete frame in the read buffer; a partial header stays. */
static void
session_process_input (SmYamuxSession *self)
{
  while (sm_yamux_session_is_running (self))
    {
      gsize         available = self->read_end - self->read_start;
      SmYamuxHeader header;
      g_autoptr (GError) error = NULL;

      if (self->payload_remaining > 0)
        {
          gsize chunk = MIN (available, self->payload_remaining);

          if (chunk == 0)
            break;
          if (self->payload_stream != NULL)
            sm_yamux_stream_push_data (self->payload_stream, self->read_buffer + self->read_start,
                                       chunk);
          self->read_start += chunk;
          self->payload_remaining -= chunk;
          self->stats.bytes_received += chunk;
          if (self->payload_remaining == 0)
            session_finish_payload (self);
          continue;
        }

      if (available < SM_YAMUX_HEADER_SIZE)
        break;

      if (!sm_yamux_header_decode (self->read_buffer + self->read_start, &header, &error))
        {
          sm_yamux_session_protocol_error (self, g_steal_pointer (&error));
          break;
        }
      self->read_start += SM_YAMUX_HEADER_SIZE;

      if (G_UNLIKELY (self->tracing))
        g_debug ("yamux session %p: recv %s flags 0x%x stream %u length %u", self,
                 sm_yamux_type_to_string (header.type), header.flags, header.stream_id,
                 header.length);

      switch ((SmYamuxType) header.type)
        {
        case SM_YAMUX_TYPE_DATA:
        case SM_YAMUX_TYPE_WINDOW_UPDATE:
          session_handle_stream_frame (self, &header);
          break;
        case SM_YAMUX_TYPE_PING:
          session_handle_ping (self, &header);
          break;
        case SM_YAMUX_TYPE_GO_AWAY:
          sm_yamux_session_handle_go_away (self, &header);
          break;
        default:
          g_assert_not_reached ();
        }
    }

  if (self->read_start == self->read_end)
    {
      self->read_start = self->read_end = 0;
    }
  else if (self->payload_remaining == 0 && self->read_start > 0)
    {
      gsize left = self->read_end - self->read_start;

      memmove (self->read_buffer, self->read_buffer + self->read_start, left);
      self->read_start = 0;
      self->read_end = left;
    }
}

static void
session_connection_lost (SmYamuxSession *self, const GError *read_error)
{
  g_autoptr (GError) error = NULL;

  if (read_error != NULL)
    error = g_error_copy (read_error);
  else if (self->remote_go_away && self->remote_go_away_code != SM_YAMUX_GO_AWAY_NORMAL)
    error = g_error_new (SM_ERROR, SM_ERROR_PROTOCOL, "The yamux peer went away with error code %u",
                         self->remote_go_away_code);
  else if (!self->remote_go_away && !self->local_go_away)
    error = g_error_new_literal (SM_ERROR, SM_ERROR_CLOSED, "The yamux peer closed the connection");

  sm_yamux_session_terminate (self, error, TRUE);
}

static gboolean
on_input_ready (GObject *pollable, gpointer user_data)
{
  SmYamuxSession *self = user_data;
  gsize           budget = READ_BUDGET;

  /* Handlers of what we read may drop the last other reference. */
  g_object_ref (self);
  session_process_input (self);

  while (sm_yamux_session_is_running (self) && budget > 0)
    {
      g_autoptr (GError) error = NULL;
      gsize    space = self->read_capacity - self->read_end;
      gboolean direct;
      gssize   n;

      /* Stream writes stop at the write buffer limit, so only frames the
       * peer makes us send (ping answers, refusals) get this far: a peer
       * that floods us with those but does not read waits until it does. */
      if (sm_yamux_buffer_get_length (&self->output_queue) >
          2 * self->config.write_buffer_limit + SM_YAMUX_MAX_DATA_FRAME)
        {
          g_debug ("yamux session %p: output overloaded, pausing input", self);
          self->reading_paused = TRUE;
          sm_yamux_clear_source (&self->read_source);
          break;
        }

      /* In the middle of a big payload (the read buffer is empty then):
       * read it straight into its stream, sparing a copy. */
      direct = self->payload_remaining >= DIRECT_READ_MIN && self->payload_stream != NULL &&
               sm_yamux_stream_takes_data (self->payload_stream);
      if (direct)
        n = sm_yamux_stream_receive_from (self->payload_stream, self->input,
                                          self->payload_remaining, &space, &error);
      else
        n = g_pollable_input_stream_read_nonblocking (
            self->input, self->read_buffer + self->read_end, space, NULL, &error);
      if (n < 0)
        {
          if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            session_connection_lost (self, error);
          break;
        }
      if (n == 0)
        {
          session_connection_lost (self, NULL);
          break;
        }

      budget -= MIN (budget, (gsize) n);
      if (direct)
        {
          self->payload_remaining -= n;
          self->stats.bytes_received += n;
          if (self->payload_remaining == 0)
            session_finish_payload (self);
        }
      else
        {
          self->read_end += n;
          session_process_input (self);
        }

      /* A short read drained the socket: let poll tell us about more. */
      if ((gsize) n < space)
        break;
    }

  g_object_unref (self);
  return G_SOURCE_CONTINUE;
}

static void
session_start_reading (SmYamuxSession *self)
{
  if (self->read_source != NULL || !sm_yamux_session_is_running (self))
    return;

  self->read_source = sm_stream_create_read_source (self->input, NULL);
  g_source_set_callback (self->read_source, G_SOURCE_FUNC (on_input_ready), self, NULL);
  g_source_set_static_name (self->read_source, "[socketmaster] yamux session input");
  g_source_attach (self->read_source, self->context);
}

static gboolean
on_initial_input (gpointer user_data)
{
  SmYamuxSession *self = user_data;

  g_clear_pointer (&self->initial_input_source, g_source_unref);
  g_object_ref (self);
  session_process_input (self);
  g_object_unref (self);
  return G_SOURCE_REMOVE;
}

void
sm_yamux_session_start_io (SmYamuxSession *self, GBytes *initial_input)
{
  gsize initial_len = initial_input != NULL ? g_bytes_get_size (initial_input) : 0;

  self->read_capacity = MAX (READ_BUFFER_SIZE, initial_len);
  self->read_buffer = g_malloc (self->read_capacity);
  if (initial_len > 0)
    {
      memcpy (self->read_buffer, g_bytes_get_data (initial_input, NULL), initial_len);
      self->read_end = initial_len;
      /* Parsed from the main loop, once "incoming" handlers are connected. */
      self->initial_input_source = g_idle_source_new ();
      g_source_set_callback (self->initial_input_source, on_initial_input, self, NULL);
      g_source_set_static_name (self->initial_input_source, "[socketmaster] yamux initial input");
      g_source_attach (self->initial_input_source, self->context);
    }

  session_start_writer (self);
  session_start_reading (self);

  if (self->config.write_timeout_ms > 0)
    {
      /* Checked a few times per timeout: a stall is noticed within 1.25x. */
      self->write_watchdog_source =
          g_timeout_source_new (MAX (self->config.write_timeout_ms / 4, 1));
      g_source_set_callback (self->write_watchdog_source, on_write_watchdog, self, NULL);
      g_source_set_static_name (self->write_watchdog_source, "[socketmaster] yamux write watchdog");
      g_source_attach (self->write_watchdog_source, self->context);
      self->watchdog_progress_time = g_get_monotonic_time ();
    }
}
