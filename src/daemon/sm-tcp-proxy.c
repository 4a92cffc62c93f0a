/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "sm-address.h"
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
  SmSpliceCounts moved; /* before the copy */
  gboolean       started;
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
}

void
sm_tcp_proxy_start (SmTcpProxy *self, GCancellable *cancellable)
{
  g_return_if_fail (SM_IS_TCP_PROXY (self));
  g_return_if_fail (!self->started);

  self->started = TRUE;

  /* Interactive protocols go through us; do not add Nagle delays (a TLS
   * connection had them turned off for its handshake) */
  if (G_IS_SOCKET_CONNECTION (self->connection))
    g_socket_set_option (g_socket_connection_get_socket (G_SOCKET_CONNECTION (self->connection)),
                         IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  g_debug ("Connection from %s goes to %s as stream %u", self->client,
           sm_route_get_peer (self->route), sm_yamux_stream_get_id (self->stream));

  sm_splice_async (self->connection, G_IO_STREAM (self->stream), self->buffer_size, cancellable,
                   splice_done_cb, g_object_ref (self));
}
