/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-event-loop.h"
#include "sm-http-trace.h"
#include "sm-http-upstream.h"

struct _SmHttpUpstream
{
  SmHttpUpstreamSlot *slot;
  SmRoute            *route; /* NULL: the slot is empty */
  SmYamuxStream      *stream;
  /* Kept across uses, and in the route's pool while idle (where anything
   * readable ends the stream) */
  SmEventWatch       *watch;
  guint64             bytes_in; /* client to service, in this use */
  guint64             bytes_out;
};

struct _SmHttpUpstreamSlot
{
  const char    *client_ip; /* the connection's */
  gboolean       tracing;
  GSourceFunc    readable; /* for the stream in use */
  GSourceFunc    writable;
  gpointer       user_data;
  /* Embedded: a request costs no allocation of its own */
  SmHttpUpstream upstream;
};

SmHttpUpstreamSlot *
sm_http_upstream_slot_new (const char *client_ip,
                           gboolean    tracing,
                           GSourceFunc readable,
                           GSourceFunc writable,
                           gpointer    user_data)
{
  SmHttpUpstreamSlot *slot = g_new0 (SmHttpUpstreamSlot, 1);

  slot->client_ip = client_ip;
  slot->tracing = tracing;
  slot->readable = readable;
  slot->writable = writable;
  slot->user_data = user_data;
  slot->upstream.slot = slot;
  return slot;
}

void
sm_http_upstream_slot_free (SmHttpUpstreamSlot *slot)
{
  g_return_if_fail (slot->upstream.route == NULL);
  g_free (slot);
}

/* Empties the slot: drops its watches and references (closing the stream,
 * if at all, is the caller's) */
static void
upstream_clear (SmHttpUpstream *upstream)
{
  g_clear_pointer (&upstream->watch, sm_event_watch_free);
  g_clear_object (&upstream->stream);
  g_clear_object (&upstream->route);
}

void
sm_http_upstream_close (SmHttpUpstream *upstream, gboolean reset)
{
  SM_HTTP_DEBUG (upstream->slot, "HTTP connection from %s: %s stream %u to %s",
                 upstream->slot->client_ip, reset ? "resetting" : "closing",
                 sm_yamux_stream_get_id (upstream->stream), sm_route_get_peer (upstream->route));

  sm_http_upstream_watch (upstream, FALSE, FALSE);
  if (reset)
    sm_yamux_stream_reset (upstream->stream);
  else
    /* Sends FIN; the yamux stream's close never blocks */
    g_io_stream_close_async (G_IO_STREAM (upstream->stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);

  sm_route_stream_finished (upstream->route, upstream->bytes_in, upstream->bytes_out);
  upstream_clear (upstream);
}

void
sm_http_upstream_detach (SmHttpUpstream *upstream, SmSpliceCounts *moved)
{
  moved->a_to_b = upstream->bytes_in;
  moved->b_to_a = upstream->bytes_out;
  upstream_clear (upstream);
}

void
sm_http_upstream_get_counts (SmHttpUpstream *upstream, SmSpliceCounts *moved)
{
  moved->a_to_b = upstream->bytes_in;
  moved->b_to_a = upstream->bytes_out;
}

static void
on_readable (gpointer user_data)
{
  SmHttpUpstreamSlot *slot = user_data;

  slot->readable (slot->user_data);
}

static void
on_writable (gpointer user_data)
{
  SmHttpUpstreamSlot *slot = user_data;

  slot->writable (slot->user_data);
}

SmHttpUpstream *
sm_http_upstream_take (SmHttpUpstreamSlot *slot, SmRoute *route, gboolean reuse, GError **error)
{
  SmHttpUpstream *upstream = &slot->upstream;
  const char     *how = "idle";

  g_return_val_if_fail (upstream->route == NULL, NULL);

  if (reuse)
    upstream->stream = sm_route_take_idle_stream (route, &upstream->watch);
  if (upstream->stream == NULL)
    {
      upstream->stream = sm_route_open_stream (route, error);
      if (upstream->stream == NULL)
        return NULL;
      how = "new";
    }
  upstream->route = g_object_ref (route);
  upstream->bytes_in = 0;
  upstream->bytes_out = 0;
  /* The watch comes from the pool with the previous user's callback */
  if (upstream->watch != NULL)
    sm_event_watch_set_callbacks (upstream->watch, on_readable, on_writable, slot);

  SM_HTTP_DEBUG (slot, "HTTP connection from %s: %s stream %u to %s", slot->client_ip, how,
                 sm_yamux_stream_get_id (upstream->stream), sm_route_get_peer (route));
  return upstream;
}

void
sm_http_upstream_release (SmHttpUpstream *upstream, gboolean reusable)
{
  if (reusable)
    {
      /* Watched while idle too: its read watch goes along */
      sm_http_upstream_watch (upstream, TRUE, FALSE);
      if (sm_route_keep_idle_stream (upstream->route, upstream->stream, upstream->watch))
        {
          sm_route_stream_finished (upstream->route, upstream->bytes_in, upstream->bytes_out);
          /* The route's now */
          upstream->stream = NULL;
          upstream->watch = NULL;
          upstream_clear (upstream);
          return;
        }
    }
  sm_http_upstream_close (upstream, FALSE);
}

SmRoute *
sm_http_upstream_get_route (SmHttpUpstream *upstream)
{
  return upstream->route;
}

SmYamuxStream *
sm_http_upstream_get_stream (SmHttpUpstream *upstream)
{
  return upstream->stream;
}

gssize
sm_http_upstream_write (SmHttpUpstream *upstream, const guint8 *data, gsize len, GError **error)
{
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (upstream->stream));
  g_autoptr (GError) local_error = NULL;
  gssize n;

  n = g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (output), data, len,
                                                  NULL, &local_error);
  if (n > 0)
    upstream->bytes_in += (guint64) n;
  else if (n < 0 && g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    n = 0;
  else if (n < 0)
    g_propagate_error (error, g_steal_pointer (&local_error));
  return n;
}

gssize
sm_http_upstream_read (SmHttpUpstream *upstream, SmHttpBuffer *buffer, GError **error)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (upstream->stream));
  gssize        n = sm_http_buffer_fill (buffer, G_POLLABLE_INPUT_STREAM (input), error);

  if (n > 0)
    upstream->bytes_out += (guint64) n;
  return n;
}

void
sm_http_upstream_request_served (SmHttpUpstream *upstream)
{
  sm_route_request_served (upstream->route);
}

void
sm_http_upstream_watch (SmHttpUpstream *upstream, gboolean readable, gboolean writable)
{
  GIOStream *stream = G_IO_STREAM (upstream->stream);

  if (upstream->watch == NULL && !readable && !writable)
    return;
  if (upstream->watch == NULL)
    upstream->watch = sm_event_watch_new (
        G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (stream)),
        G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (stream)), on_readable, on_writable,
        upstream->slot, "[socketmaster] HTTP service stream");
  sm_event_watch_update (upstream->watch, readable, writable);
}
