/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-yamux-private.h"

/*
 * Segments are sized to what is appended, within these bounds: a few bytes
 * of a quiet stream cost one small block, bulk data fills big ones.
 *
 * Bulk data allocates and frees big segments at a high rate; given straight
 * back to malloc they make the heap grow and shrink all the time (brk and
 * page faults cost more than the copies). Small exchanges (a request, a
 * response) empty a queue and start a new segment every time. So each
 * thread keeps a few freed segments of both bounds for reuse, freed when
 * the thread ends. Sessions and their streams live in one thread, so the
 * cache needs no lock. It is small, as it is never given back: what a burst
 * (many stalled streams, say) freed beyond it goes back to malloc. Big
 * segments churn in bulk transfers, where a stream's window (512 KiB by
 * default) holds 8 of them and the write queue (about 1 MiB) 16. With a
 * cache of 16, 16 streams of a session sending bulk data at once made the
 * daemon call brk() 2,800 times per GiB (and fault the pages in again);
 * 64 cut that to 330, for at most 4 MiB kept after such a burst.
 */
#define SEGMENT_MIN_SIZE         (4 * 1024)
#define SEGMENT_MAX_SIZE         (64 * 1024)
#define SEGMENT_CACHE_SMALL_SIZE 64 /* 256 KiB */
#define SEGMENT_CACHE_BIG_SIZE   64 /* 4 MiB */

struct _SmYamuxSegment
{
  SmYamuxSegment *next;
  gsize           start; /* first unread byte */
  gsize           end;   /* one past the last written byte */
  gsize           size;
  guint8          data[];
};

typedef struct
{
  SmYamuxSegment *head;
  guint           len;
} SegmentList;

typedef struct
{
  SegmentList small; /* SEGMENT_MIN_SIZE */
  SegmentList big;   /* SEGMENT_MAX_SIZE */
} SegmentCache;

static void
segment_list_free (SegmentList *list)
{
  while (list->head != NULL)
    {
      SmYamuxSegment *next = list->head->next;

      g_free (list->head);
      list->head = next;
    }
}

static void
segment_cache_free (gpointer data)
{
  SegmentCache *cache = data;

  segment_list_free (&cache->small);
  segment_list_free (&cache->big);
  g_free (cache);
}

static GPrivate segment_cache_key = G_PRIVATE_INIT (segment_cache_free);

/* The cached segments of @size, or NULL if that size is not cached */
static SegmentList *
segment_cache_get (gsize size)
{
  SegmentCache *cache;

  if (size != SEGMENT_MIN_SIZE && size != SEGMENT_MAX_SIZE)
    return NULL;

  cache = g_private_get (&segment_cache_key);
  if (G_UNLIKELY (cache == NULL))
    {
      cache = g_new0 (SegmentCache, 1);
      g_private_set (&segment_cache_key, cache);
    }
  return size == SEGMENT_MIN_SIZE ? &cache->small : &cache->big;
}

static SmYamuxSegment *
segment_new (gsize size)
{
  SegmentList    *cached = segment_cache_get (size);
  SmYamuxSegment *segment = NULL;

  if (cached != NULL && cached->head != NULL)
    {
      segment = cached->head;
      cached->head = segment->next;
      cached->len--;
    }

  if (segment == NULL)
    {
      segment = g_malloc (sizeof (SmYamuxSegment) + size);
      segment->size = size;
    }

  segment->next = NULL;
  segment->start = segment->end = 0;
  return segment;
}

static void
segment_free (SmYamuxSegment *segment)
{
  SegmentList *cached = segment_cache_get (segment->size);
  guint        limit =
      segment->size == SEGMENT_MIN_SIZE ? SEGMENT_CACHE_SMALL_SIZE : SEGMENT_CACHE_BIG_SIZE;

  if (cached != NULL && cached->len < limit)
    {
      segment->next = cached->head;
      cached->head = segment;
      cached->len++;
      return;
    }
  g_free (segment);
}

void
sm_yamux_buffer_append (SmYamuxBuffer *buffer, const void *data, gsize len)
{
  const guint8 *bytes = data;

  while (len > 0)
    {
      SmYamuxSegment *tail = buffer->tail;
      gsize           n;

      if (tail == NULL || tail->end == tail->size)
        {
          tail = segment_new (CLAMP (len, SEGMENT_MIN_SIZE, SEGMENT_MAX_SIZE));
          if (buffer->tail != NULL)
            buffer->tail->next = tail;
          else
            buffer->head = tail;
          buffer->tail = tail;
        }

      n = MIN (len, tail->size - tail->end);
      memcpy (tail->data + tail->end, bytes, n);
      tail->end += n;
      buffer->length += n;
      bytes += n;
      len -= n;
    }
}

guint8 *
sm_yamux_buffer_reserve (SmYamuxBuffer *buffer, gsize want, gsize *available)
{
  SmYamuxSegment *tail = buffer->tail;

  g_assert (want > 0);

  if (tail == NULL || tail->size - tail->end < MIN (want, SEGMENT_MIN_SIZE))
    {
      tail = segment_new (CLAMP (want, SEGMENT_MIN_SIZE, SEGMENT_MAX_SIZE));
      if (buffer->tail != NULL)
        buffer->tail->next = tail;
      else
        buffer->head = tail;
      buffer->tail = tail;
    }

  *available = MIN (want, tail->size - tail->end);
  return tail->data + tail->end;
}

void
sm_yamux_buffer_commit (SmYamuxBuffer *buffer, gsize len)
{
  g_assert (buffer->tail != NULL && len <= buffer->tail->size - buffer->tail->end);

  buffer->tail->end += len;
  buffer->length += len;
}

/* Consumes @len bytes, copying them to @out unless it is NULL. */
static void
sm_yamux_buffer_take (SmYamuxBuffer *buffer, guint8 *out, gsize len)
{
  g_assert (len <= buffer->length);

  while (len > 0)
    {
      SmYamuxSegment *head = buffer->head;
      gsize           n = MIN (len, head->end - head->start);

      if (out != NULL)
        {
          memcpy (out, head->data + head->start, n);
          out += n;
        }
      head->start += n;
      buffer->length -= n;
      len -= n;

      if (head->start == head->end)
        {
          buffer->head = head->next;
          if (buffer->head == NULL)
            buffer->tail = NULL;
          segment_free (head);
        }
    }

  /* Only an empty segment reserved at the tail can be left: an idle queue
   * keeps no memory. */
  if (buffer->length == 0)
    sm_yamux_buffer_clear (buffer);
}

gsize
sm_yamux_buffer_pop (SmYamuxBuffer *buffer, void *out, gsize len)
{
  len = MIN (len, buffer->length);
  sm_yamux_buffer_take (buffer, out, len);
  return len;
}

void
sm_yamux_buffer_consume (SmYamuxBuffer *buffer, gsize len)
{
  sm_yamux_buffer_take (buffer, NULL, len);
}

guint
sm_yamux_buffer_peek (const SmYamuxBuffer *buffer, GOutputVector *vectors, guint max_vectors)
{
  guint n = 0;

  for (SmYamuxSegment *segment = buffer->head; segment != NULL && n < max_vectors;
       segment = segment->next)
    {
      /* A segment reserved for a read that got nothing yet */
      if (segment->end == segment->start)
        continue;
      vectors[n].buffer = segment->data + segment->start;
      vectors[n].size = segment->end - segment->start;
      n++;
    }
  return n;
}

void
sm_yamux_buffer_clear (SmYamuxBuffer *buffer)
{
  while (buffer->head != NULL)
    {
      SmYamuxSegment *next = buffer->head->next;

      segment_free (buffer->head);
      buffer->head = next;
    }
  buffer->tail = NULL;
  buffer->length = 0;
}
