/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-error.h"
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
 * The writer owns one byte queue; frames go in whole, so small frames
 * coalesce into big writes. With nothing queued a frame is handed to the
 * socket directly; what the socket does not take waits in the queue for a
 * pollable source. While the reader runs, frames are only queued and
 * flushed once at the end of its batch.
 */

#define READ_BUFFER_SIZE (256 * 1024)
/* Bytes read per dispatch before other sources get a turn. */
#define READ_BUDGET      (1024 * 1024)
/* Payload left in a DATA frame above which it is read in place */
#define DIRECT_READ_MIN  (16 * 1024)
/* Segments of the output queue handed to one writev() */
#define FLUSH_VECTORS    16

static void session_wait_writable (SmYamuxSession *self);
static void session_start_reading (SmYamuxSession *self);

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
  guint8 encoded[SM_YAMUX_HEADER_SIZE];

  if (!sm_yamux_session_is_running (self))
    return;

  if (G_UNLIKELY (self->tracing))
    g_debug ("yamux session %p: send %s flags 0x%x stream %u length %u",
             self, sm_yamux_type_to_string (type), flags, stream_id, length);

  sm_yamux_header_encode (&header, encoded);

  /* Nothing queued: hand header and payload to the socket directly and
   * queue only what it did not take, saving a copy on the fast path. */
  if (self->batch_depth == 0 && self->write_source == NULL &&
      sm_yamux_buffer_get_length (&self->output_queue) == 0)
    {
      GOutputVector vectors[2] = {
        { encoded, SM_YAMUX_HEADER_SIZE },
        { payload, payload_len },
      };
      g_autoptr(GError) error = NULL;
      GPollableReturn ret;
      gsize written = 0;

      ret = g_pollable_output_stream_writev_nonblocking (self->output, vectors,
                                                         payload_len > 0 ? 2 : 1,
                                                         &written, NULL, &error);
      if (ret == G_POLLABLE_RETURN_FAILED)
        {
          sm_yamux_session_fail (self, g_steal_pointer (&error));
          return;
        }
      if (ret != G_POLLABLE_RETURN_OK)
        written = 0;
      self->bytes_written += written;

      if (written < SM_YAMUX_HEADER_SIZE)
        {
          sm_yamux_buffer_append (&self->output_queue, encoded + written,
                                  SM_YAMUX_HEADER_SIZE - written);
          sm_yamux_buffer_append (&self->output_queue, payload, payload_len);
        }
      else
        {
          gsize payload_written = written - SM_YAMUX_HEADER_SIZE;

          sm_yamux_buffer_append (&self->output_queue,
                                  (const guint8 *) payload + payload_written,
                                  payload_len - payload_written);
        }
      if (sm_yamux_buffer_get_length (&self->output_queue) > 0)
        session_wait_writable (self);
      return;
    }

  sm_yamux_buffer_append (&self->output_queue, encoded, SM_YAMUX_HEADER_SIZE);
  sm_yamux_buffer_append (&self->output_queue, payload, payload_len);
  if (self->batch_depth == 0 && self->write_source == NULL)
    sm_yamux_session_flush (self);
}

/* Writes as much of the queue as the connection takes now; the rest waits
 * for the connection to become writable. */
void
sm_yamux_session_flush (SmYamuxSession *self)
{
  gsize queued;

  if (!sm_yamux_session_is_running (self))
    return;

  while ((queued = sm_yamux_buffer_get_length (&self->output_queue)) > 0)
    {
      GOutputVector vectors[FLUSH_VECTORS];
      guint n_vectors = sm_yamux_buffer_peek (&self->output_queue, vectors, FLUSH_VECTORS);
      g_autoptr(GError) error = NULL;
      GPollableReturn ret;
      gsize offered = 0;
      gsize written = 0;

      for (guint i = 0; i < n_vectors; i++)
        offered += vectors[i].size;

      ret = g_pollable_output_stream_writev_nonblocking (self->output, vectors, n_vectors,
                                                         &written, NULL, &error);
      if (ret == G_POLLABLE_RETURN_FAILED)
        {
          sm_yamux_session_fail (self, g_steal_pointer (&error));
          return;
        }
      if (ret == G_POLLABLE_RETURN_WOULD_BLOCK)
        break;

      sm_yamux_buffer_consume (&self->output_queue, written);
      self->bytes_written += written;
      /* A short write means the socket is full: wait instead of asking
       * again for an EAGAIN. */
      if (written < offered)
        break;
    }

  if (sm_yamux_buffer_get_length (&self->output_queue) == 0)
    sm_yamux_clear_source (&self->write_source);
  else
    session_wait_writable (self);

  if (self->reading_paused &&
      sm_yamux_buffer_get_length (&self->output_queue) < self->config.write_buffer_limit)
    {
      self->reading_paused = FALSE;
      session_start_reading (self);
    }
}

static gboolean
on_output_ready (GObject  *pollable,
                 gpointer  user_data)
{
  SmYamuxSession *self = user_data;

  g_object_ref (self);
  sm_yamux_session_flush (self);
  g_object_unref (self);
  return G_SOURCE_CONTINUE;
}

static void
session_wait_writable (SmYamuxSession *self)
{
  if (self->write_source != NULL)
    return;

  self->write_source = g_pollable_output_stream_create_source (self->output, NULL);
  g_source_set_callback (self->write_source, G_SOURCE_FUNC (on_output_ready), self, NULL);
  g_source_set_static_name (self->write_source, "[socketmaster] yamux session output");
  g_source_attach (self->write_source, self->context);
}

static gboolean
on_write_watchdog (gpointer user_data)
{
  SmYamuxSession *self = user_data;
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GError) error = NULL;

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
session_handle_ping (SmYamuxSession      *self,
                     const SmYamuxHeader *header)
{
  guint32 outstanding, offset;

  if (header->flags & SM_YAMUX_FLAG_SYN)
    {
      self->stats.pings_received++;
      sm_yamux_session_write_frame (self, SM_YAMUX_TYPE_PING, SM_YAMUX_FLAG_ACK, 0,
                                    header->length, NULL, 0);
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
session_handle_stream_frame (SmYamuxSession      *self,
                             const SmYamuxHeader *header)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  gboolean is_data = header->type == SM_YAMUX_TYPE_DATA;

  if ((header->flags & SM_YAMUX_FLAG_SYN) &&
      !sm_yamux_session_accept_stream (self, header->stream_id))
    return;

  stream = g_hash_table_lookup (self->streams, GUINT_TO_POINTER (header->stream_id));
  if (stream == NULL)
    {
      /* Most likely a stream we reset: its data still has to be read. */
      if (G_UNLIKELY (self->tracing))
        g_debug ("yamux session %p: %s frame for unknown stream %u ignored",
                 self, sm_yamux_type_to_string (header->type), header->stream_id);
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
  g_autoptr(SmYamuxStream) stream = g_steal_pointer (&self->payload_stream);

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
      gsize available = self->read_end - self->read_start;
      SmYamuxHeader header;
      g_autoptr(GError) error = NULL;

      if (self->payload_remaining > 0)
        {
          gsize chunk = MIN (available, self->payload_remaining);

          if (chunk == 0)
            break;
          if (self->payload_stream != NULL)
            sm_yamux_stream_push_data (self->payload_stream,
                                       self->read_buffer + self->read_start, chunk);
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
        g_debug ("yamux session %p: recv %s flags 0x%x stream %u length %u",
                 self, sm_yamux_type_to_string (header.type), header.flags,
                 header.stream_id, header.length);

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
session_connection_lost (SmYamuxSession *self,
                         const GError   *read_error)
{
  g_autoptr(GError) error = NULL;

  if (read_error != NULL)
    error = g_error_copy (read_error);
  else if (self->remote_go_away && self->remote_go_away_code != SM_YAMUX_GO_AWAY_NORMAL)
    error = g_error_new (SM_ERROR, SM_ERROR_PROTOCOL,
                         "The yamux peer went away with error code %u",
                         self->remote_go_away_code);
  else if (!self->remote_go_away && !self->local_go_away)
    error = g_error_new_literal (SM_ERROR, SM_ERROR_CLOSED,
                                 "The yamux peer closed the connection");

  sm_yamux_session_terminate (self, error, TRUE);
}

static void
session_begin_batch (SmYamuxSession *self)
{
  g_object_ref (self);
  self->batch_depth++;
}

static void
session_end_batch (SmYamuxSession *self)
{
  if (--self->batch_depth == 0 && self->write_source == NULL)
    sm_yamux_session_flush (self);
  g_object_unref (self);
}

static gboolean
on_input_ready (GObject  *pollable,
                gpointer  user_data)
{
  SmYamuxSession *self = user_data;
  gsize budget = READ_BUDGET;

  session_begin_batch (self);
  session_process_input (self);

  while (sm_yamux_session_is_running (self) && budget > 0)
    {
      g_autoptr(GError) error = NULL;
      gsize space = self->read_capacity - self->read_end;
      gboolean direct;
      gssize n;

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
      direct = self->payload_remaining >= DIRECT_READ_MIN &&
               self->payload_stream != NULL &&
               sm_yamux_stream_takes_data (self->payload_stream);
      if (direct)
        n = sm_yamux_stream_receive_from (self->payload_stream, self->input,
                                          self->payload_remaining, &space, &error);
      else
        n = g_pollable_input_stream_read_nonblocking (self->input,
                                                      self->read_buffer + self->read_end,
                                                      space, NULL, &error);
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

  session_end_batch (self);
  return G_SOURCE_CONTINUE;
}

static void
session_start_reading (SmYamuxSession *self)
{
  if (self->read_source != NULL || !sm_yamux_session_is_running (self))
    return;

  self->read_source = g_pollable_input_stream_create_source (self->input, NULL);
  g_source_set_callback (self->read_source, G_SOURCE_FUNC (on_input_ready), self, NULL);
  g_source_set_static_name (self->read_source, "[socketmaster] yamux session input");
  g_source_attach (self->read_source, self->context);
}

static gboolean
on_initial_input (gpointer user_data)
{
  SmYamuxSession *self = user_data;

  g_clear_pointer (&self->initial_input_source, g_source_unref);
  session_begin_batch (self);
  session_process_input (self);
  session_end_batch (self);
  return G_SOURCE_REMOVE;
}

void
sm_yamux_session_start_io (SmYamuxSession *self,
                           GBytes         *initial_input)
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

  session_start_reading (self);

  if (self->config.write_timeout_ms > 0)
    {
      /* Checked a few times per timeout: a stall is noticed within 1.25x. */
      self->write_watchdog_source = g_timeout_source_new (MAX (self->config.write_timeout_ms / 4, 1));
      g_source_set_callback (self->write_watchdog_source, on_write_watchdog, self, NULL);
      g_source_set_static_name (self->write_watchdog_source, "[socketmaster] yamux write watchdog");
      g_source_attach (self->write_watchdog_source, self->context);
      self->watchdog_progress_time = g_get_monotonic_time ();
    }
}
