/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "sm-address.h"
#include "sm-metrics-events.h"
#include "sm-proxy-accept.h"
#include "sm-proxy-header.h"
#include "sm-splice.h"
#include "sm-tcp-proxy.h"

struct _SmTcpProxy
{
  GObject        parent_instance;

  GIOStream     *connection;
  SmRoute       *route;
  SmYamuxStream *stream;
  char          *client;
  gsize          buffer_size;
  GBytes        *proxy_header; /* NULL: none; written before the client's bytes */
  GCancellable  *cancellable;
  SmSpliceCounts moved; /* before the copy */
  gboolean       started;
  gint64         started_at; /* for the access log */
};

G_DEFINE_FINAL_TYPE (SmTcpProxy, sm_tcp_proxy, G_TYPE_OBJECT)

static void
sm_tcp_proxy_finalize (GObject *object)
{
  SmTcpProxy *self = SM_TCP_PROXY (object);

  g_clear_object (&self->stream);
  g_clear_object (&self->connection);
  g_clear_object (&self->route);
  g_clear_pointer (&self->client, g_free);
  g_clear_pointer (&self->proxy_header, g_bytes_unref);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (sm_tcp_proxy_parent_class)->finalize (object);
}

static void
sm_tcp_proxy_class_init (SmTcpProxyClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = sm_tcp_proxy_finalize;
}

static void
sm_tcp_proxy_init (SmTcpProxy *self)
{
}

static GBytes *
make_proxy_header (guint version, GIOStream *client, GSocketAddress *client_address)
{
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  g_autoptr (GSocketAddress) local = sm_proxy_accept_get_local_address (client);
  SmProxyHeader header;

  sm_proxy_header_init (&header, version, client_address, local);
  sm_proxy_header_encode (&header, bytes);
  return g_byte_array_free_to_bytes (g_steal_pointer (&bytes));
}

SmTcpProxy *
sm_tcp_proxy_new (GIOStream            *client,
                  GSocketAddress       *client_address,
                  SmRoute              *route,
                  SmYamuxStream        *stream,
                  gsize                 buffer_size,
                  const SmSpliceCounts *moved)
{
  SmTcpProxy *self;

  g_return_val_if_fail (G_IS_IO_STREAM (client), NULL);
  g_return_val_if_fail (client_address == NULL || G_IS_SOCKET_ADDRESS (client_address), NULL);
  g_return_val_if_fail (SM_IS_ROUTE (route), NULL);
  g_return_val_if_fail (SM_IS_YAMUX_STREAM (stream), NULL);

  self = g_object_new (SM_TYPE_TCP_PROXY, NULL);
  self->connection = g_object_ref (client);
  self->route = g_object_ref (route);
  self->stream = g_object_ref (stream);
  self->client =
      client_address != NULL ? sm_address_format_socket (client_address) : g_strdup ("(unknown)");
  self->buffer_size = buffer_size;
  if (moved != NULL)
    self->moved = *moved;
  if (sm_route_get_proxy_protocol (route) != 0)
    self->proxy_header =
        make_proxy_header (sm_route_get_proxy_protocol (route), client, client_address);

  return self;
}

static void
splice_done_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (SmTcpProxy) self = user_data;
  g_autoptr (GError) error = NULL;
  SmSpliceCounts counts = { 0, 0 };

  if (!sm_splice_finish (result, &counts, &error))
    g_debug ("Connection from %s (stream %u to %s) aborted: %s", self->client,
             sm_yamux_stream_get_id (self->stream), sm_route_get_peer (self->route),
             error->message);
  else
    g_debug ("Connection from %s (stream %u to %s) done: %" G_GUINT64_FORMAT
             " bytes in, %" G_GUINT64_FORMAT " bytes out",
             self->client, sm_yamux_stream_get_id (self->stream), sm_route_get_peer (self->route),
             counts.a_to_b, counts.b_to_a);

  sm_route_stream_finished (self->route, self->moved.a_to_b + counts.a_to_b,
                            self->moved.b_to_a + counts.b_to_a);
  sm_metrics_tcp_done (&(SmTcpRecord){ self->route, self->client, error != NULL, counts.a_to_b,
                                       counts.b_to_a, g_get_monotonic_time () - self->started_at });
}

static void
start_splice (SmTcpProxy *self)
{
  sm_splice_async (self->connection, G_IO_STREAM (self->stream), self->buffer_size,
                   self->cancellable, splice_done_cb, g_object_ref (self));
}

static void
proxy_header_written_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (SmTcpProxy) self = user_data;
  g_autoptr (GError) error = NULL;

  if (g_output_stream_write_all_finish (G_OUTPUT_STREAM (source_object), result, NULL, &error))
    {
      start_splice (self);
      return;
    }

  g_debug ("Connection from %s (stream %u to %s): PROXY header not sent: %s", self->client,
           sm_yamux_stream_get_id (self->stream), sm_route_get_peer (self->route), error->message);
  sm_yamux_stream_reset (self->stream);
  g_io_stream_close_async (G_IO_STREAM (self->stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_io_stream_close_async (self->connection, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  sm_route_stream_finished (self->route, self->moved.a_to_b, self->moved.b_to_a);
}

void
sm_tcp_proxy_start (SmTcpProxy *self, GCancellable *cancellable)
{
  g_return_if_fail (SM_IS_TCP_PROXY (self));
  g_return_if_fail (!self->started);

  self->started = TRUE;
  self->started_at = g_get_monotonic_time ();

  /* Interactive protocols go through us; do not add Nagle delays (a TLS
   * connection had them turned off for its handshake) */
  if (G_IS_SOCKET_CONNECTION (self->connection))
    g_socket_set_option (g_socket_connection_get_socket (G_SOCKET_CONNECTION (self->connection)),
                         IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  g_debug ("Connection from %s goes to %s as stream %u", self->client,
           sm_route_get_peer (self->route), sm_yamux_stream_get_id (self->stream));

  self->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  if (self->proxy_header == NULL)
    {
      start_splice (self);
      return;
    }

  /* A new stream has a whole window: this only waits when the session's
   * output queue is full */
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (self->stream)),
                                   g_bytes_get_data (self->proxy_header, NULL),
                                   g_bytes_get_size (self->proxy_header), G_PRIORITY_DEFAULT,
                                   cancellable, proxy_header_written_cb, g_object_ref (self));
}
