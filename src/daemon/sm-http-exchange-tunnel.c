/* SPDX-License-Identifier: MIT */
/* SmHttpExchange after a 101: the hand-over of its stream to a tunnel */
#include "config.h"

#include "sm-http-exchange-private.h"
#include "sm-http-trace.h"
#include "sm-http-upstream.h"

void
sm_http_exchange_start_tunnel (SmHttpExchange *self, SmHttpResponse *response)
{
  SM_HTTP_DEBUG (self, "HTTP connection from %s: %s switched protocols; tunnelling",
                 self->client.ip, sm_route_get_peer (sm_http_upstream_get_route (self->upstream)));

  sm_http_strip_hop_by_hop (response->headers, TRUE);
  sm_http_response_write_head (response, self->client.output->queue);
  sm_http_response_free (response);
  self->phase = PHASE_TUNNEL_FLUSH;
}

/* After a 101: writes what is buffered either way, then hands the stream
 * over to the connection */
gboolean
sm_http_exchange_pump_tunnel (SmHttpExchange *self)
{
  g_autoptr (GError) error = NULL;
  SmHttpBuffer   *in = self->client.input;
  SmHttpUpstream *upstream;
  g_autoptr (SmRoute) route = NULL;
  g_autoptr (SmYamuxStream) stream = NULL;
  SmSpliceCounts moved;
  gboolean       progress = FALSE;
  gsize          written = 0;
  gssize         n;

  /* The 101's head, then what the service sent after it */
  n = sm_http_exchange_write_client (self, sm_http_buffer_peek (&self->up_in),
                                     sm_http_buffer_length (&self->up_in), &written);
  if (n < 0)
    return TRUE;
  sm_http_buffer_consume (&self->up_in, written);
  progress |= n > 0;

  n = 0;
  if (!sm_http_exchange_write_request_head (self, &n, &error) && sm_http_buffer_length (in) > 0)
    {
      n = sm_http_exchange_write_upstream (self, sm_http_buffer_peek (in),
                                           sm_http_buffer_length (in), &error);
      if (n > 0)
        sm_http_buffer_consume (in, (gsize) n);
    }
  if (n < 0)
    {
      sm_http_exchange_abort (self, error->message);
      return TRUE;
    }
  progress |= n > 0;

  if (sm_http_output_pending (self->client.output) || sm_http_buffer_length (&self->up_in) > 0 ||
      self->request_head_sent < self->request_head->len || sm_http_buffer_length (in) > 0)
    return progress;

  /* Everything buffered is out: from now on bytes flow raw both ways */
  upstream = g_steal_pointer (&self->upstream);
  route = g_object_ref (sm_http_upstream_get_route (upstream));
  stream = g_object_ref (sm_http_upstream_get_stream (upstream));
  sm_http_upstream_detach (upstream, &moved);
  self->vtable->tunnel (self->connection, route, stream, &moved);
  return TRUE;
}
