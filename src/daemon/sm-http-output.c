/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-http-output.h"

void
sm_http_output_init (SmHttpOutput *self, GPollableOutputStream *stream)
{
  self->stream = stream;
  self->queue = g_string_new (NULL);
  self->sent = 0;
  self->blocked = FALSE;
}

void
sm_http_output_clear (SmHttpOutput *self)
{
  if (self->queue != NULL)
    g_string_free (g_steal_pointer (&self->queue), TRUE);
}

/* Heads are a few hundred bytes; a queue that grew for a large answer
 * gives its memory back between requests */
#define IDLE_QUEUE_MAX 256

void
sm_http_output_trim (SmHttpOutput *self)
{
  if (sm_http_output_pending (self) || self->queue->allocated_len <= IDLE_QUEUE_MAX)
    return;
  g_string_free (self->queue, TRUE);
  self->queue = g_string_new (NULL);
  self->sent = 0;
}

gboolean
sm_http_output_pending (SmHttpOutput *self)
{
  return self->sent < self->queue->len;
}

/* > 0 written, 0 would block, -1 failed */
static gssize
write_raw (SmHttpOutput *self, const guint8 *data, gsize len, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  gssize n;

  n = g_pollable_output_stream_write_nonblocking (self->stream, data, len, NULL, &local_error);
  if (n < 0 && g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    n = 0;
  else if (n < 0)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return -1;
    }

  if (n == 0)
    self->blocked = TRUE;
  return n;
}

static void
queue_written (SmHttpOutput *self)
{
  g_string_truncate (self->queue, 0);
  self->sent = 0;
}

static gssize
flush (SmHttpOutput *self, GError **error)
{
  gsize moved = 0;

  while (sm_http_output_pending (self))
    {
      gssize n = write_raw (self, (const guint8 *) self->queue->str + self->sent,
                            self->queue->len - self->sent, error);
      if (n < 0)
        return -1;
      if (n == 0)
        return (gssize) moved;
      self->sent += (gsize) n;
      moved += (gsize) n;
    }

  queue_written (self);
  return (gssize) moved;
}

gssize
sm_http_output_write (SmHttpOutput *self,
                      const guint8 *data,
                      gsize         len,
                      gsize        *data_written,
                      GError      **error)
{
  gsize         queued = self->queue->len - self->sent;
  GOutputVector vectors[2] = {
    { self->queue->str + self->sent, queued },
    { data, len },
  };
  gsize written = 0;

  *data_written = 0;
  if (len == 0)
    return flush (self, error);
  if (queued == 0)
    {
      gssize n = write_raw (self, data, len, error);

      if (n > 0)
        *data_written = (gsize) n;
      return n;
    }

  switch (g_pollable_output_stream_writev_nonblocking (
      self->stream, vectors, G_N_ELEMENTS (vectors), &written, NULL, error))
    {
    case G_POLLABLE_RETURN_OK:
      break;
    case G_POLLABLE_RETURN_WOULD_BLOCK:
      self->blocked = TRUE;
      return 0;
    case G_POLLABLE_RETURN_FAILED:
    default:
      return -1;
    }

  if (written == 0)
    {
      self->blocked = TRUE;
      return 0;
    }
  if (written < queued)
    {
      self->sent += written;
      return (gssize) written;
    }
  queue_written (self);
  *data_written = written - queued;
  return (gssize) written;
}
