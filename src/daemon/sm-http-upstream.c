/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-http-proxy-private.h"
#include "sm-pollable-source.h"

/*
 * Streams from one public connection to services. A stream that served a
 * request and can serve another waits in the proxy's idle pool. While it
 * waits, anything becoming readable on it (the service closing it, a
 * reset, stray bytes) ends it, and so does its service going away: a
 * draining service waits for its streams to close.
 */

static void
upstream_free (SmHttpUpstream *upstream)
{
  sm_http_upstream_watch (upstream, FALSE);
  g_clear_signal_handler (&upstream->gone_handler, upstream->route);
  g_clear_object (&upstream->stream);
  g_clear_object (&upstream->route);
  g_free (upstream);
}

/* Its read watch stays for the exchange that takes it */
static void
leave_pool (SmHttpUpstream *upstream)
{
  SmHttpProxy *self = upstream->proxy;

  upstream->idle = FALSE;
  g_ptr_array_remove (self->idle, upstream);
}

void
sm_http_upstream_close (SmHttpUpstream *upstream, gboolean reset)
{
  sm_http_upstream_watch (upstream, FALSE);

  SM_HTTP_PROXY_DEBUG (upstream->proxy,
                       "HTTP connection from %s: %s stream %u to %s after %u request(s)",
                       upstream->proxy->client_ip, reset ? "resetting" : "closing",
                       sm_yamux_stream_get_id (upstream->stream),
                       sm_route_get_peer (upstream->route), upstream->n_requests);

  if (reset)
    sm_yamux_stream_reset (upstream->stream);
  else
    /* Sends FIN; the yamux stream's close never blocks */
    g_io_stream_close_async (G_IO_STREAM (upstream->stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);

  sm_route_stream_finished (upstream->route, upstream->bytes_in, upstream->bytes_out);
  upstream_free (upstream);
}

void
sm_http_upstream_forget (SmHttpUpstream *upstream, guint64 bytes_in, guint64 bytes_out)
{
  sm_route_stream_finished (upstream->route, upstream->bytes_in + bytes_in,
                            upstream->bytes_out + bytes_out);
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
    return sm_http_proxy_upstream_readable (upstream->proxy,
                                            G_POLLABLE_INPUT_STREAM (pollable_stream));

  n_read = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (pollable_stream),
                                                     &byte, 1, NULL, &error);
  if (n_read < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;

  /* A service answers requests only: bytes now are a protocol error */
  SM_HTTP_PROXY_DEBUG (upstream->proxy, "HTTP connection from %s: idle stream %u to %s %s",
                       upstream->proxy->client_ip, sm_yamux_stream_get_id (upstream->stream),
                       sm_route_get_peer (upstream->route),
                       n_read == 0  ? "closed by the service"
                       : n_read > 0 ? "sent stray bytes"
                                    : error->message);

  leave_pool (upstream);
  sm_http_upstream_close (upstream, n_read != 0);
  return G_SOURCE_REMOVE;
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
sm_http_upstream_take (SmHttpProxy *self, SmRoute *route, GError **error)
{
  SmHttpUpstream *upstream;
  g_autoptr (SmYamuxStream) stream = NULL;

  for (guint i = 0; i < self->idle->len; i++)
    {
      GInputStream *input;

      upstream = g_ptr_array_index (self->idle, i);
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
  upstream->proxy = self;
  upstream->route = g_object_ref (route);
  upstream->stream = g_steal_pointer (&stream);
  /* Connected for the stream's whole life: cheaper than once per idle spell */
  upstream->gone_handler =
      g_signal_connect (route, "gone", G_CALLBACK (on_idle_route_gone), upstream);

  SM_HTTP_PROXY_DEBUG (self, "HTTP connection from %s: new stream %u to %s", self->client_ip,
                       sm_yamux_stream_get_id (upstream->stream), sm_route_get_peer (route));
  return upstream;
}

void
sm_http_upstream_release (SmHttpUpstream *upstream, gboolean reusable)
{
  SmHttpProxy *self = upstream->proxy;

  if (!reusable || sm_route_is_gone (upstream->route))
    {
      sm_http_upstream_close (upstream, FALSE);
      return;
    }

  if (self->idle->len >= SM_HTTP_PROXY_MAX_IDLE_STREAMS)
    {
      SmHttpUpstream *oldest = g_ptr_array_index (self->idle, 0);

      leave_pool (oldest);
      sm_http_upstream_close (oldest, FALSE);
    }

  upstream->idle = TRUE;
  sm_http_upstream_watch (upstream, TRUE);
  g_ptr_array_add (self->idle, upstream);
}

void
sm_http_upstream_watch (SmHttpUpstream *upstream, gboolean wanted)
{
  GInputStream *input;

  if (!wanted)
    {
      if (upstream->read_watch != NULL)
        {
          g_source_destroy (upstream->read_watch);
          g_clear_pointer (&upstream->read_watch, g_source_unref);
        }
      return;
    }
  if (upstream->read_watch != NULL)
    return;

  input = g_io_stream_get_input_stream (G_IO_STREAM (upstream->stream));
  upstream->read_watch = sm_stream_create_read_source (G_POLLABLE_INPUT_STREAM (input), NULL);
  g_source_set_callback (upstream->read_watch, G_SOURCE_FUNC (on_readable), upstream, NULL);
  g_source_set_static_name (upstream->read_watch, "[socketmaster] HTTP service stream");
  g_source_attach (upstream->read_watch, NULL);
}

void
sm_http_upstream_close_idle (SmHttpProxy *self)
{
  while (self->idle->len > 0)
    {
      SmHttpUpstream *upstream = g_ptr_array_index (self->idle, self->idle->len - 1);

      leave_pool (upstream);
      sm_http_upstream_close (upstream, FALSE);
    }
}
