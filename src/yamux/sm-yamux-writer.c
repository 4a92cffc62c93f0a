/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-error.h"
#include "sm-pollable-source.h"
#include "sm-yamux-private.h"

/*
 * The writing side of a session: its output queue, the source that
 * flushes it, and the watchdog that ends a session whose output is stuck.
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

/* Writes as much of the queue as the connection takes now: FALSE on a
 * write failure. *@full when it took less than offered. */
/* Streams that found the queue full may write again: tell them */
static void
session_notify_room (SmYamuxSession *self)
{
  GHashTableIter iter;
  gpointer       stream;

  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &stream))
    sm_yamux_stream_notify_writable (stream);
}

static gboolean
session_write_queue (SmYamuxSession *self, gboolean *full, GError **error)
{
  gsize queued;
  gsize before = sm_yamux_buffer_get_length (&self->output_queue);
  gsize limit = self->config.write_buffer_limit;

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
  if (before >= limit && sm_yamux_buffer_get_length (&self->output_queue) < limit)
    session_notify_room (self);
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

/* Writes what the connection takes of the queue now, and lets the reader
 * go on once the queue is short again. */
static void
session_flush (SmYamuxSession *self)
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
    sm_yamux_session_resume_reading (self);
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
  session_flush (self);
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

void
sm_yamux_session_start_writing (SmYamuxSession *self)
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

void
sm_yamux_session_start_watchdog (SmYamuxSession *self)
{
  if (self->config.write_timeout_ms == 0)
    return;

  /* Checked a few times per timeout: a stall is noticed within 1.25x. */
  self->write_watchdog_source = g_timeout_source_new (MAX (self->config.write_timeout_ms / 4, 1));
  g_source_set_callback (self->write_watchdog_source, on_write_watchdog, self, NULL);
  g_source_set_static_name (self->write_watchdog_source, "[socketmaster] yamux write watchdog");
  g_source_attach (self->write_watchdog_source, self->context);
  self->watchdog_progress_time = g_get_monotonic_time ();
}

void
sm_yamux_session_stop_writing (SmYamuxSession *self)
{
  sm_source_clear (&self->write_source);
}

void
sm_yamux_session_end_writing (SmYamuxSession *self)
{
  sm_source_clear (&self->write_watchdog_source);
  sm_source_clear (&self->write_source);

  /* Best effort: what fits into the socket now goes out (a GoAway at least). */
  if (sm_yamux_buffer_get_length (&self->output_queue) > 0)
    {
      GOutputVector vectors[FLUSH_VECTORS];
      guint n_vectors = sm_yamux_buffer_peek (&self->output_queue, vectors, G_N_ELEMENTS (vectors));
      gsize written;

      g_pollable_output_stream_writev_nonblocking (self->output, vectors, n_vectors, &written, NULL,
                                                   NULL);
    }
  sm_yamux_buffer_clear (&self->output_queue);
}

gboolean
sm_yamux_session_can_send (SmYamuxSession *self)
{
  return sm_yamux_session_is_running (self) &&
         sm_yamux_buffer_get_length (&self->output_queue) < self->config.write_buffer_limit;
}

void
sm_yamux_session_send_header (SmYamuxSession *self,
                              SmYamuxType     type,
                              guint16         flags,
                              guint32         stream_id,
                              guint32         length)
{
  sm_yamux_session_write_frame (self, type, flags, stream_id, length, NULL, 0);
}

void
sm_yamux_session_send_data (SmYamuxSession *self, guint32 stream_id, const void *data, guint32 len)
{
  self->stats.bytes_sent += len;
  sm_yamux_session_write_frame (self, SM_YAMUX_TYPE_DATA, 0, stream_id, len, data, len);
}
