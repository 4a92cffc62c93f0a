/* SPDX-License-Identifier: MIT */
#pragma once

#include <string.h>

#include <gio/gio.h>

#include "sm-http-parser.h"

G_BEGIN_DECLS

/*
 * The bytes read from one side of an HTTP connection and not yet passed
 * on: bytes [start, end) of data are pending. An HTTP connection has one
 * for its client and its exchange one for the service; the exchange takes
 * request bodies from the client's.
 *
 * A buffer holds memory only while bytes are pending: data is taken (from
 * a small pool of buffers of the usual size) when bytes are read into it,
 * and given back when the last pending byte is consumed, so that idle
 * keep-alive connections hold none.
 */
typedef struct
{
  guint8  *data;
  gsize    capacity;
  gsize    start;
  gsize    end;
  gboolean eof; /* the stream it is filled from ended */
} SmHttpBuffer;

/* Memory for buffers: the pool keeps some of the usual size for reuse */
guint8 *sm_http_buffer_memory_take (gsize capacity);
void    sm_http_buffer_memory_give (guint8 *data, gsize capacity);
/* Frees the pooled buffers nobody took since the last call (periodically) */
void    sm_http_buffer_memory_trim (void);

static inline void
sm_http_buffer_init (SmHttpBuffer *buffer, gsize capacity)
{
  buffer->data = NULL;
  buffer->capacity = capacity;
  buffer->start = buffer->end = 0;
  buffer->eof = FALSE;
}

static inline void
sm_http_buffer_clear (SmHttpBuffer *buffer)
{
  if (buffer->data != NULL)
    sm_http_buffer_memory_give (g_steal_pointer (&buffer->data), buffer->capacity);
  buffer->start = buffer->end = 0;
}

static inline gsize
sm_http_buffer_length (const SmHttpBuffer *buffer)
{
  return buffer->end - buffer->start;
}

static inline const guint8 *
sm_http_buffer_peek (const SmHttpBuffer *buffer)
{
  return buffer->data != NULL ? buffer->data + buffer->start : (const guint8 *) "";
}

static inline void
sm_http_buffer_consume (SmHttpBuffer *buffer, gsize len)
{
  g_assert (len <= sm_http_buffer_length (buffer));
  buffer->start += len;
  if (buffer->start == buffer->end)
    sm_http_buffer_clear (buffer);
}

/* Forgets the pending bytes */
static inline void
sm_http_buffer_discard (SmHttpBuffer *buffer)
{
  sm_http_buffer_clear (buffer);
}

/* Room after the pending bytes, moving them to the front if that helps */
static inline gsize
sm_http_buffer_make_room (SmHttpBuffer *buffer)
{
  if (buffer->start > 0 && buffer->end == buffer->capacity)
    {
      memmove (buffer->data, buffer->data + buffer->start, sm_http_buffer_length (buffer));
      buffer->end -= buffer->start;
      buffer->start = 0;
    }
  return buffer->capacity - buffer->end;
}

/* Reads what @input has without blocking into the room after the
 * pending bytes (there must be some): > 0 bytes read, 0 end of stream
 * (->eof is set), -1 failed or would block (G_IO_ERROR_WOULD_BLOCK) */
gssize sm_http_buffer_fill (SmHttpBuffer *buffer, GPollableInputStream *input, GError **error);

/* A body passing through a buffer, request or response: its tracker
 * tells which of the buffer's bytes are the body's */
typedef struct
{
  SmHttpBodyTracker tracker;
  gboolean          complete; /* its end is counted */
  gsize             pending;  /* counted bytes at the start of the buffer, to pass on */
  gboolean          done;     /* all of it was passed on */
} SmHttpBodyRelay;

typedef enum
{
  SM_HTTP_RELAY_WAIT,     /* nothing to count yet */
  SM_HTTP_RELAY_PROGRESS, /* bytes counted (->pending), or the body is done */
  SM_HTTP_RELAY_EOF,      /* the buffer's stream ended before the body */
  SM_HTTP_RELAY_ERROR,    /* malformed */
} SmHttpRelayStep;

void sm_http_body_relay_init (SmHttpBodyRelay *relay, SmHttpBodyKind kind, guint64 content_length);
/* Counts the next bytes of the body in @buffer, once those counted before
 * were passed on (->pending is 0) */
SmHttpRelayStep
sm_http_body_relay_count (SmHttpBodyRelay *relay, SmHttpBuffer *buffer, GError **error);

G_END_DECLS
