/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-http-buffer.h"
#include "sm-http-proxy.h"

/* Buffers of the usual size (a connection's, a splice's) kept for reuse:
 * enough for the connections that move data at one time on a busy
 * machine (freeing and taking 64 KiB chunks from malloc instead made it
 * consolidate its heap over and over: a tenth of the daemon's time with
 * 500 busy clients). What a burst left in the pool goes back at the next
 * sm_http_buffer_memory_trim(). */
#define POOL_BUFFER_SIZE SM_HTTP_PROXY_BUFFER_SIZE
#define POOL_MAX_BUFFERS 1024

G_LOCK_DEFINE_STATIC (pool);
static guint8 *pool[POOL_MAX_BUFFERS];
static guint   pool_size;
static guint   pool_low; /* the fewest buffers in the pool since the last trim */

guint8 *
sm_http_buffer_memory_take (gsize capacity)
{
  guint8 *data = NULL;

  if (capacity == POOL_BUFFER_SIZE)
    {
      G_LOCK (pool);
      if (pool_size > 0)
        data = pool[--pool_size];
      pool_low = MIN (pool_low, pool_size);
      G_UNLOCK (pool);
    }
  return data != NULL ? data : g_malloc (capacity);
}

void
sm_http_buffer_memory_give (guint8 *data, gsize capacity)
{
  if (capacity == POOL_BUFFER_SIZE)
    {
      G_LOCK (pool);
      if (pool_size < POOL_MAX_BUFFERS)
        {
          pool[pool_size++] = g_steal_pointer (&data);
        }
      G_UNLOCK (pool);
    }
  g_free (data);
}

void
sm_http_buffer_memory_trim (void)
{
  guint n_unused;

  G_LOCK (pool);
  /* Never taken since the last trim: not needed */
  n_unused = pool_low;
  for (guint i = 0; i < n_unused; i++)
    g_free (pool[--pool_size]);
  pool_low = pool_size;
  G_UNLOCK (pool);
}

gssize
sm_http_buffer_fill (SmHttpBuffer *buffer, GPollableInputStream *input, GError **error)
{
  gssize n;

  if (buffer->data == NULL)
    buffer->data = sm_http_buffer_memory_take (buffer->capacity);
  n = g_pollable_input_stream_read_nonblocking (input, buffer->data + buffer->end,
                                                buffer->capacity - buffer->end, NULL, error);
  if (n > 0)
    buffer->end += (gsize) n;
  else if (n == 0)
    buffer->eof = TRUE;
  /* Nothing came: an idle connection keeps no memory */
  if (buffer->end == 0)
    sm_http_buffer_clear (buffer);
  return n;
}

void
sm_http_body_relay_init (SmHttpBodyRelay *relay, SmHttpBodyKind kind, guint64 content_length)
{
  sm_http_body_tracker_init (&relay->tracker, kind, content_length);
  relay->complete = kind == SM_HTTP_BODY_NONE;
  relay->pending = 0;
  relay->done = FALSE;
}

SmHttpRelayStep
sm_http_body_relay_count (SmHttpBodyRelay *relay, SmHttpBuffer *buffer, GError **error)
{
  gsize consumed = 0;

  if (relay->complete)
    {
      relay->done = TRUE;
      return SM_HTTP_RELAY_PROGRESS;
    }
  if (sm_http_buffer_length (buffer) == 0)
    return buffer->eof ? SM_HTTP_RELAY_EOF : SM_HTTP_RELAY_WAIT;

  switch (sm_http_body_tracker_feed (&relay->tracker, sm_http_buffer_peek (buffer),
                                     sm_http_buffer_length (buffer), &consumed, error))
    {
    case SM_HTTP_ERROR:
      return SM_HTTP_RELAY_ERROR;
    case SM_HTTP_COMPLETE:
      relay->complete = TRUE;
      break;
    case SM_HTTP_NEED_MORE:
    default:
      break;
    }
  relay->pending = consumed;
  return SM_HTTP_RELAY_PROGRESS;
}
