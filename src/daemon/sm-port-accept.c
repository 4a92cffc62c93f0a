/* SPDX-License-Identifier: MIT */
/* The way in of a public connection: admission, the PROXY header of a
 * trusted balancer, the TLS handshake, then SmPort's dispatch */
#include "config.h"

#include "sm-accept-guard.h"
#include "sm-listen-socket.h"
#include "sm-port-private.h"
#include "sm-tls-terminator.h"

static void
handshake_done_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (SmPort) self = user_data;
  g_autoptr (SmTlsStream) stream = NULL;
  g_autoptr (GSocketAddress) client = NULL;

  /* The terminator logs failures */
  stream = sm_tls_terminator_handshake_finish (SM_TLS_TERMINATOR (source_object), result, NULL);
  if (stream == NULL)
    return;

  if (!self->listening)
    {
      g_io_stream_close (G_IO_STREAM (stream), NULL, NULL);
      return;
    }

  client = sm_proxy_accept_get_client_address (G_IO_STREAM (stream));
  sm_port_serve (self, G_IO_STREAM (stream), client, TRUE);
}

/* Handshakes run concurrently; the connection is served once it is done */
void
sm_port_start_handshake (SmPort *self, GSocketConnection *connection)
{
  sm_tls_terminator_handshake_async (self->tls, connection, self->cancellable, handshake_done_cb,
                                     g_object_ref (self));
}

/* @connection is admitted, and its PROXY header read if it had to send one */
static void
accepted (SmPort *self, GSocketConnection *connection)
{
  g_autoptr (GSocketAddress) remote = NULL;

  /* Once a port terminates TLS, every new connection on it is TLS */
  if (sm_port_terminates_tls (self))
    {
      sm_port_start_handshake (self, connection);
      return;
    }

  remote = sm_proxy_accept_get_client_address (G_IO_STREAM (connection));
  /* The first certificate is being registered: served as plain, this
   * connection's ClientHello would go to a service, or to the HTTP parser */
  if (self->tls_expected || self->n_awaited > 0)
    sm_connection_queue_push (self->queued, G_IO_STREAM (connection), remote);
  else
    sm_port_serve (self, G_IO_STREAM (connection), remote, FALSE);
}

static void
proxy_header_read_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (SmPort) self = user_data;
  g_autoptr (GSocketConnection) connection = NULL;

  /* Failures are closed and traced there */
  connection = sm_proxy_accept_read_finish (SM_PROXY_ACCEPT (source_object), result, NULL);
  /* Accepted before the listener stopped (a drain): still answered */
  if (connection != NULL && !self->closed)
    accepted (self, connection);
  else if (connection != NULL)
    g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
}

gboolean
sm_port_admit (SmPort *self, GSocketConnection *connection)
{
  if (!self->listening)
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }

  /* Near the descriptor limit: closed, and this listener paused */
  if (!sm_accept_guard_admit (sm_accept_guard_get_default (), self->service, connection,
                              SM_ACCEPT_PUBLIC))
    return FALSE;

  /* Past the connection limits: closed before anything is read (a 503
   * would first need the request, or a TLS handshake) */
  if (!sm_port_capacity_admit (&self->capacity, connection, self->display_name))
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }

  /* A trusted balancer's connection starts with a PROXY header, within
   * the time an HTTP client has for its request head */
  if (self->proxy_accept != NULL && sm_proxy_accept_is_trusted (self->proxy_accept, connection))
    sm_proxy_accept_read_async (self->proxy_accept, connection, self->display_name,
                                self->http_limits.header_timeout_ms, self->cancellable,
                                proxy_header_read_cb, g_object_ref (self));
  else
    accepted (self, connection);
  return TRUE;
}

static gboolean
admit_pending (GSocketConnection *connection, gpointer user_data)
{
  return sm_port_admit (user_data, connection);
}

gboolean
sm_port_on_incoming (GSocketService    *service,
                     GSocketConnection *connection,
                     GObject           *source_object,
                     SmPort            *self)
{
  /* GSocketService accepts one connection per main loop iteration, and an
   * iteration also serves every busy connection: under a burst of new
   * clients the kernel's queue then drained at a few hundred a second (500
   * connecting clients waited up to 0.4 s). Take what is queued in a batch. */
  if (sm_port_admit (self, connection) && self->listening)
    sm_listen_socket_accept_pending (self->listen_socket, SM_PORT_ACCEPT_BATCH - 1, admit_pending,
                                     self);
  return TRUE;
}
