/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-http-trace.h"
#include "sm-http-upstream.h"
#include "sm-http-watch.h"

struct _SmHttpUpstreamPool
{
  const char *client_ip; /* the connection's */
  gboolean    tracing;
  GSourceFunc readable; /* for the stream in use */
  GSourceFunc writable;
  gpointer    user_data;
  GPtrArray  *idle; /* oldest first */
};

struct _SmHttpUpstream
{
  SmHttpUpstreamPool *pool; /* not owned */
  SmRoute            *route;
  SmYamuxStream      *stream;
  /* Readable: for the exchange while in use, and while idle, when
   * anything readable ends it. One source kept across both, because
   * sources cost more to make than to keep. */
  GSource            *read_watch;
  GSource            *write_watch;  /* for the exchange */
  gboolean            idle;         /* in the pool */
  gulong              gone_handler; /* the route going away ends it while idle */
  guint64             bytes_in;     /* client to service */
  guint64             bytes_out;
  guint               n_requests;
};

SmHttpUpstreamPool *
sm_http_upstream_pool_new (const char *client_ip,
                           gboolean    tracing,
                           GSourceFunc readable,
                           GSourceFunc writable,
                           gpointer    user_data)
{
  SmHttpUpstreamPool *pool = g_new0 (SmHttpUpstreamPool, 1);

  pool->client_ip = client_ip;
  pool->tracing = tracing;
  pool->readable = readable;
  pool->writable = writable;
  pool->user_data = user_data;
  pool->idle = g_ptr_array_new ();
  return pool;
}

void
sm_http_upstream_pool_free (SmHttpUpstreamPool *pool)
{
  sm_http_upstream_pool_close_idle (pool);
  g_ptr_array_unref (pool->idle);
  g_free (pool);
}

static void
upstream_free (SmHttpUpstream *upstream)
{
  sm_http_upstream_watch (upstream, FALSE, FALSE);
  g_clear_signal_handler (&upstream->gone_handler, upstream->route);
  g_clear_object (&upstream->stream);
  g_clear_object (&upstream->route);
  g_free (upstream);
}

/* Its read watch stays for the exchange that takes it */
static void
leave_pool (SmHttpUpstream *upstream)
{
  upstream->idle = FALSE;
  g_ptr_array_remove (upstream->pool->idle, upstream);
}

void
sm_http_upstream_close (SmHttpUpstream *upstream, gboolean reset)
{
  sm_http_upstream_watch (upstream, FALSE, FALSE);

  SM_HTTP_DEBUG (upstream->pool, "HTTP connection from %s: %s stream %u to %s after %u request(s)",
                 upstream->pool->client_ip, reset ? "resetting" : "closing",
                 sm_yamux_stream_get_id (upstream->stream), sm_route_get_peer (upstream->route),
                 upstream->n_requests);

  if (reset)
    sm_yamux_stream_reset (upstream->stream);
  else
    /* Sends FIN; the yamux stream's close never blocks */
    g_io_stream_close_async (G_IO_STREAM (upstream->stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);

  sm_route_stream_finished (upstream->route, upstream->bytes_in, upstream->bytes_out);
  upstream_free (upstream);
}

void
sm_http_upstream_detach (SmHttpUpstream *upstream, SmSpliceCounts *moved)
{
  moved->a_to_b = upstream->bytes_in;
  moved->b_to_a = upstream->bytes_out;
  upstream_free (upstream);
}

static gboolean
on_readable (GObject *pollable_stream, gpointer user_data)
{
  SmHttpUpstream *upstream = user_data;
  guint8          byte;
  gssize          n_read;
  g_autoptr (GError) error = NULL;

  if (!upstream->idle)
    return upstream->pool->readable (upstream->pool->user_data);

  n_read = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (pollable_stream),
                                                     &byte, 1, NULL, &error);
  if (n_read < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;

  /* A service answers requests only: bytes now are a protocol error */
  SM_HTTP_DEBUG (upstream->pool, "HTTP connection from %s: idle stream %u to %s %s",
                 upstream->pool->client_ip, sm_yamux_stream_get_id (upstream->stream),
                 sm_route_get_peer (upstream->route),
                 n_read == 0  ? "closed by the service"
                 : n_read > 0 ? "sent stray bytes"
                              : error->message);

  leave_pool (upstream);
  sm_http_upstream_close (upstream, n_read != 0);
  return G_SOURCE_REMOVE;
}

static gboolean
on_writable (GObject *pollable_stream, gpointer user_data)
{
  SmHttpUpstream *upstream = user_data;

  return upstream->pool->writable (upstream->pool->user_data);
}

static void
on_idle_route_gone (SmRoute *route, gpointer user_data)
{
  SmHttpUpstream *upstream = user_data;

  /* A stream in use ends with its exchange */
  if (!upstream->idle)
    return;
  leave_pool (upstream);
  sm_http_upstream_close (upstream, FALSE);
}

SmHttpUpstream *
sm_http_upstream_pool_take (SmHttpUpstreamPool *pool, SmRoute *route, GError **error)
{
  SmHttpUpstream *upstream;
  g_autoptr (SmYamuxStream) stream = NULL;

  for (guint i = 0; i < pool->idle->len; i++)
    {
      GInputStream *input;

      upstream = g_ptr_array_index (pool->idle, i);
      if (upstream->route != route)
        continue;

      leave_pool (upstream);
      /* Closed by the service (or reset) a moment ago, and the watch did
       * not run yet: a request sent there would fail */
      input = g_io_stream_get_input_stream (G_IO_STREAM (upstream->stream));
      if (sm_route_is_gone (route) ||
          g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (input)))
        {
          sm_http_upstream_close (upstream, FALSE);
          break;
        }
      return upstream;
    }

  stream = sm_route_open_stream (route, error);
  if (stream == NULL)
    return NULL;

  upstream = g_new0 (SmHttpUpstream, 1);
  upstream->pool = pool;
  upstream->route = g_object_ref (route);
  upstream->stream = g_steal_pointer (&stream);
  /* Connected for the stream's whole life: cheaper than once per idle spell */
  upstream->gone_handler =
      g_signal_connect (route, "gone", G_CALLBACK (on_idle_route_gone), upstream);

  SM_HTTP_DEBUG (pool, "HTTP connection from %s: new stream %u to %s", pool->client_ip,
                 sm_yamux_stream_get_id (upstream->stream), sm_route_get_peer (route));
  return upstream;
}

void
sm_http_upstream_pool_release (SmHttpUpstreamPool *pool,
                               SmHttpUpstream     *upstream,
                               gboolean            reusable)
{
  if (!reusable || sm_route_is_gone (upstream->route))
    {
      sm_http_upstream_close (upstream, FALSE);
      return;
    }

  if (pool->idle->len >= SM_HTTP_UPSTREAM_MAX_IDLE)
    {
      SmHttpUpstream *oldest = g_ptr_array_index (pool->idle, 0);

      leave_pool (oldest);
      sm_http_upstream_close (oldest, FALSE);
    }

  upstream->idle = TRUE;
  sm_http_upstream_watch (upstream, TRUE, FALSE);
  g_ptr_array_add (pool->idle, upstream);
}

void
sm_http_upstream_pool_close_idle (SmHttpUpstreamPool *pool)
{
  while (pool->idle->len > 0)
    {
      SmHttpUpstream *upstream = g_ptr_array_index (pool->idle, pool->idle->len - 1);

      leave_pool (upstream);
      sm_http_upstream_close (upstream, FALSE);
    }
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
  upstream->n_requests++;
}

void
sm_http_upstream_watch (SmHttpUpstream *upstream, gboolean readable, gboolean writable)
{
  GIOStream *stream = G_IO_STREAM (upstream->stream);

  sm_http_watch_update (&upstream->read_watch, readable, g_io_stream_get_input_stream (stream),
                        G_IO_IN, G_CALLBACK (on_readable), upstream,
                        "[socketmaster] HTTP service stream");
  sm_http_watch_update (&upstream->write_watch, writable, g_io_stream_get_output_stream (stream),
                        G_IO_OUT, G_CALLBACK (on_writable), upstream,
                        "[socketmaster] HTTP service writable");
}
