/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-event-loop.h"
#include "sm-pollable-source.h"
#include "sm-yamux-private.h"

/*
 * The reading side of a session: reads the connection and hands each
 * frame to the session or to its stream.
 *
 * The reader owns one watch on the connection in the event core, so that
 * the streams it wakes run in the same dispatch, and never stops
 * reading for a slow stream: the peer must respect each stream's receive
 * window, so a slow reader stalls only its own stream. Frames are parsed
 * in place in one big buffer and DATA payloads are copied straight into
 * their stream; the rest of a big payload is read from the socket into
 * the stream directly.
 */

#define READ_BUFFER_SIZE (256 * 1024)
/* Bytes read per dispatch before other sources get a turn. */
#define READ_BUDGET (1024 * 1024)
/* Payload left in a DATA frame above which it is read in place */
#define DIRECT_READ_MIN (16 * 1024)

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
    sm_yamux_session_handle_ack (self, stream);

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
          sm_yamux_session_handle_ping (self, &header);
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
session_unwatch_input (SmYamuxSession *self)
{
  g_clear_pointer (&self->read_watch, sm_event_watch_free);
}

static void
on_input_ready (gpointer user_data)
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
      if (sm_yamux_session_get_queued (self) >
          2 * self->config.write_buffer_limit + SM_YAMUX_MAX_DATA_FRAME)
        {
          g_debug ("yamux session %p: output overloaded, pausing input", self);
          self->reading_paused = TRUE;
          session_unwatch_input (self);
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
            sm_yamux_session_connection_lost (self, error);
          break;
        }
      if (n == 0)
        {
          sm_yamux_session_connection_lost (self, NULL);
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
}

/* The session never writes through this watch: the writer flushes its
 * queue before each poll */
static void
on_output_ready (gpointer user_data)
{
}

static void
session_watch_input (SmYamuxSession *self)
{
  if (self->read_watch != NULL || !sm_yamux_session_is_running (self))
    return;

  /* The event core is the thread-default context's: make that ours, as
   * a reader resumed from an iteration that did not push it would
   * otherwise land in another context */
  g_main_context_push_thread_default (self->context);
  self->read_watch = sm_event_watch_new (self->input, self->output, on_input_ready, on_output_ready,
                                         self, "yamux session input");
  g_main_context_pop_thread_default (self->context);
  sm_event_watch_update (self->read_watch, TRUE, FALSE);
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
sm_yamux_session_start_reading (SmYamuxSession *self, GBytes *initial_input)
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

  session_watch_input (self);
}

void
sm_yamux_session_resume_reading (SmYamuxSession *self)
{
  self->reading_paused = FALSE;
  session_watch_input (self);
}

void
sm_yamux_session_stop_reading (SmYamuxSession *self)
{
  session_unwatch_input (self);
}

void
sm_yamux_session_end_reading (SmYamuxSession *self)
{
  session_unwatch_input (self);
  sm_source_clear (&self->initial_input_source);
  g_clear_object (&self->payload_stream);
  self->payload_remaining = 0;
}
