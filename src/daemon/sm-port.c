/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <math.h>

#include "sm-accept-guard.h"
#include "sm-address.h"
#include "sm-connection-queue.h"
#include "sm-http-proxy.h"
#include "sm-http-router.h"
#include "sm-listen-socket.h"
#include "sm-port.h"
#include "sm-port-private.h"
#include "sm-port-limits.h"
#include "sm-port-waiting.h"
#include "sm-tcp-proxy.h"
#include "sm-tls-terminator.h"

enum
{
  SIGNAL_ROUTE_ADDED,
  SIGNAL_ROUTE_REMOVED,
  SIGNAL_CLOSED,
  SIGNAL_TLS_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (SmPort, sm_port, G_TYPE_OBJECT)

static void on_route_gone (SmRoute *route, SmPort *self);
static void serve_http (SmPort *self, GIOStream *stream, GSocketAddress *remote, gboolean https);

const char *
sm_port_mode_to_string (SmPortMode mode)
{
  return mode == SM_PORT_MODE_HTTP ? "HTTP" : "raw TCP";
}

gboolean
sm_port_terminates_tls (SmPort *self)
{
  return self->tls != NULL && sm_tls_terminator_is_active (self->tls);
}

/* Unique per registration: a certificate outlives its route for the hold
 * timeout, and the service may register again meanwhile */
static char *
make_certificate_id (SmRoute *route)
{
  return g_strdup_printf ("route %" G_GUINT64_FORMAT " from %s", sm_route_get_id (route),
                          sm_route_get_peer (route));
}

static void
drop_queued (SmPort *self)
{
  if (self->queued != NULL)
    sm_connection_queue_drop_all (self->queued);

  if (self->router != NULL)
    sm_http_router_stop_waiting (self->router);
}

static void update_hold_timer (SmPort *self);

static void
remove_route (SmPort *self, SmRoute *route)
{
  guint index;

  if (!g_ptr_array_find (self->routes, route, &index))
    return;

  g_signal_handlers_disconnect_by_func (route, on_route_gone, self);
  sm_room_watch_remove (&self->capacity.room, route);
  g_ptr_array_remove_index (self->routes, index);
  if (index < self->next_route)
    self->next_route--;
  if (self->router != NULL)
    sm_http_router_remove_route (self->router, route);
  if (self->tls != NULL && sm_socket_definition_has_tls (sm_route_get_definition (route)))
    {
      g_autofree char *id = make_certificate_id (route);

      sm_tls_terminator_retire_certificate (self->tls, id);
    }

  g_message ("Service %s left %s", sm_route_get_peer (route), self->display_name);
  g_signal_emit (self, signals[SIGNAL_ROUTE_REMOVED], 0, route);
  g_object_unref (route);

  update_hold_timer (self);
}

static void
on_route_gone (SmRoute *route, SmPort *self)
{
  remove_route (self, route);
}

/* Hands @connection to the next route that has room and opens a stream
 * for it; FALSE when none does */
static gboolean
dispatch (SmPort *self, GIOStream *connection, GSocketAddress *client)
{
  /* Each turn either tries a route or removes one */
  for (guint tried = 0; tried < self->routes->len;)
    {
      guint index = self->next_route % self->routes->len;
      /* A failing open makes the route gone, which drops the port's ref */
      g_autoptr (SmRoute) route = g_object_ref (g_ptr_array_index (self->routes, index));
      g_autoptr (SmYamuxStream) stream = NULL;
      g_autoptr (SmTcpProxy) proxy = NULL;
      g_autoptr (GError) error = NULL;

      if (sm_port_limits_route_room (route, self->capacity.limits.max_streams_per_service) == 0)
        {
          g_debug ("Service %s on %s has %u streams open", sm_route_get_peer (route),
                   self->display_name, self->capacity.limits.max_streams_per_service);
          self->next_route = index + 1;
          tried++;
          continue;
        }

      stream = sm_route_open_stream (route, &error);
      if (stream == NULL)
        {
          g_debug ("Service %s on %s takes no new connections: %s", sm_route_get_peer (route),
                   self->display_name, error->message);
          remove_route (self, route);
          continue;
        }

      self->next_route = index + 1;
      proxy = sm_tcp_proxy_new (connection, client, route, stream, SM_TCP_PROXY_BUFFER_SIZE, NULL);
      sm_tcp_proxy_start (proxy, self->cancellable);
      return TRUE;
    }

  return FALSE;
}

static void
flush_queue (SmPort *self)
{
  GIOStream      *connection;
  GSocketAddress *client;

  while (sm_connection_queue_peek (self->queued, &connection, &client))
    {
      gboolean raw = G_IS_SOCKET_CONNECTION (connection);

      /* It came before the port terminated TLS; the service it would go
       * to now expects TLS */
      if (raw && sm_port_terminates_tls (self))
        {
          g_autoptr (GSocketConnection) taken = g_object_ref (G_SOCKET_CONNECTION (connection));

          sm_connection_queue_pop (self->queued);
          sm_port_start_handshake (self, taken);
          continue;
        }
      /* Its certificate is on the way, or its service after an upgrade */
      if ((raw && self->tls_expected) || self->n_awaited > 0)
        return;

      /* HTTP ports only queue while a certificate is expected */
      if (self->mode == SM_PORT_MODE_HTTP)
        serve_http (self, connection, client, !raw);
      else if (!dispatch (self, connection, client))
        return;

      sm_connection_queue_pop (self->queued);
    }
}

/* @stream: the public connection, or a TLS stream over it */
static void
serve_http (SmPort *self, GIOStream *stream, GSocketAddress *remote, gboolean https)
{
  g_autoptr (SmHttpProxy) proxy = NULL;

  proxy = sm_http_proxy_new (self->router, stream, remote, https, &self->http_limits);
  sm_http_proxy_start (proxy, self->drain, self->cancellable);
}

/* @stream: the public connection, or a TLS stream over it */
void
sm_port_serve (SmPort *self, GIOStream *stream, GSocketAddress *client, gboolean tls)
{
  if (self->mode == SM_PORT_MODE_HTTP && self->n_awaited > 0)
    {
      sm_connection_queue_push (self->queued, stream, client);
      return;
    }
  if (self->mode == SM_PORT_MODE_HTTP)
    {
      serve_http (self, stream, client, tls);
      return;
    }

  /* Connections already waiting go first */
  flush_queue (self);
  if (sm_connection_queue_get_length (self->queued) > 0 || !dispatch (self, stream, client))
    sm_connection_queue_push (self->queued, stream, client);
}

static void
on_tls_active_changed (SmTlsTerminator *tls, SmPort *self)
{
  g_signal_emit (self, signals[SIGNAL_TLS_CHANGED], 0);
}

static void
add_certificate (SmPort *self, SmRoute *route)
{
  const SmSocketDefinition *definition = sm_route_get_definition (route);
  g_autofree char          *id = make_certificate_id (route);
  g_autoptr (GError) error = NULL;

  if (self->tls == NULL)
    {
      /* HTTP/2 preferred: SmHttpProxy hands h2 connections to SmH2Connection */
      static const char *const http_alpn[] = { "h2", "http/1.1", NULL };

      self->tls = sm_tls_terminator_new (self->display_name, self->hold_us, self->tls_priority,
                                         self->mode == SM_PORT_MODE_HTTP ? http_alpn : NULL,
                                         self->tls_handshake_timeout);
      g_signal_connect (self->tls, "active-changed", G_CALLBACK (on_tls_active_changed), self);
    }

  /* Checked before the port was reserved: this only fails on a bug */
  if (!sm_tls_terminator_add_certificate (self->tls, id,
                                          sm_socket_definition_get_tls_cert (definition),
                                          sm_socket_definition_get_tls_key (definition), &error))
    g_warning ("Service %s on %s: %s", sm_route_get_peer (route), self->display_name,
               error->message);
}

static gboolean
has_waiting (gpointer user_data)
{
  return sm_port_get_n_queued (user_data) > 0;
}

static gboolean
on_room (gpointer user_data)
{
  SmPort *self = user_data;

  flush_queue (self);
  if (self->router != NULL)
    sm_http_router_flush_waiting (self->router);
  return G_SOURCE_REMOVE;
}

static gboolean
on_hold_expired (gpointer user_data)
{
  SmPort *self = user_data;

  self->hold_source = 0;
  g_debug ("No service on %s for %.3g s", self->display_name,
           (double) self->hold_us / G_USEC_PER_SEC);
  sm_port_close (self);

  return G_SOURCE_REMOVE;
}

static void
update_hold_timer (SmPort *self)
{
  if (!self->closed && self->routes->len == 0 && self->n_reservations == 0)
    {
      if (self->hold_source == 0)
        self->hold_source =
            g_timeout_add ((guint) ((self->hold_us + 999) / 1000), on_hold_expired, self);
    }
  else
    {
      g_clear_handle_id (&self->hold_source, g_source_remove);
    }
}

static void
sm_port_dispose (GObject *object)
{
  SmPort *self = SM_PORT (object);

  sm_port_stop_listening (self);
  g_clear_handle_id (&self->hold_source, g_source_remove);
  g_clear_handle_id (&self->await_source, g_source_remove);
  sm_room_watch_clear (&self->capacity.room); /* finalize frees the rest */

  if (self->tls != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->tls, self);
      g_clear_object (&self->tls);
    }

  if (self->service != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->service, self);
      g_clear_object (&self->service);
    }

  while (self->routes->len > 0)
    {
      SmRoute *route = g_ptr_array_steal_index (self->routes, self->routes->len - 1);

      g_signal_handlers_disconnect_by_func (route, on_route_gone, self);
      sm_room_watch_remove (&self->capacity.room, route);
      g_object_unref (route);
    }

  G_OBJECT_CLASS (sm_port_parent_class)->dispose (object);
}

static void
sm_port_finalize (GObject *object)
{
  SmPort *self = SM_PORT (object);

  g_ptr_array_unref (self->routes);
  g_clear_pointer (&self->queued, sm_connection_queue_free);
  sm_port_capacity_clear (&self->capacity);
  g_clear_object (&self->router);
  g_clear_object (&self->proxy_accept);
  g_clear_object (&self->address);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->drain);
  g_clear_object (&self->listen_socket);
  g_clear_pointer (&self->key, g_free);
  g_clear_pointer (&self->display_name, g_free);
  g_clear_pointer (&self->tls_priority, g_free);

  G_OBJECT_CLASS (sm_port_parent_class)->finalize (object);
}

static void
sm_port_class_init (SmPortClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_port_dispose;
  object_class->finalize = sm_port_finalize;

  signals[SIGNAL_ROUTE_ADDED] =
      g_signal_new ("route-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 1, SM_TYPE_ROUTE);
  signals[SIGNAL_ROUTE_REMOVED] =
      g_signal_new ("route-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 1, SM_TYPE_ROUTE);
  signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_TLS_CHANGED] =
      g_signal_new ("tls-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 0);
}

static void
sm_port_init (SmPort *self)
{
  self->routes = g_ptr_array_new ();
  sm_http_limits_init (&self->http_limits);
  sm_port_capacity_init (&self->capacity, has_waiting, on_room, self);
  self->tls_handshake_timeout = SM_TLS_DEFAULT_HANDSHAKE_TIMEOUT;
}

char *
sm_port_make_key (GInetAddress *address, guint16 number)
{
  g_autofree char *host = address != NULL ? g_inet_address_to_string (address) : g_strdup ("");

  return g_strdup_printf ("%s|%u", host, number);
}

SmPort *
sm_port_new (GInetAddress *address,
             guint16       number,
             SmPortMode    mode,
             double        hold_timeout,
             GCancellable *drain,
             GCancellable *cancellable,
             GError      **error)
{
  g_autoptr (GSocket) socket = NULL;

  g_return_val_if_fail (address == NULL || G_IS_INET_ADDRESS (address), NULL);

  socket = sm_listen_socket_new (address, number, error);
  if (socket == NULL)
    return NULL;
  return sm_port_new_for_socket (socket, address, number, mode, hold_timeout, drain, cancellable,
                                 error);
}

SmPort *
sm_port_new_for_socket (GSocket      *socket,
                        GInetAddress *address,
                        guint16       number,
                        SmPortMode    mode,
                        double        hold_timeout,
                        GCancellable *drain,
                        GCancellable *cancellable,
                        GError      **error)
{
  g_autoptr (SmPort) self = NULL;

  g_return_val_if_fail (G_IS_SOCKET (socket), NULL);
  g_return_val_if_fail (address == NULL || G_IS_INET_ADDRESS (address), NULL);
  g_return_val_if_fail (hold_timeout > 0 && isfinite (hold_timeout), NULL);
  g_return_val_if_fail (drain == NULL || G_IS_CANCELLABLE (drain), NULL);
  g_return_val_if_fail (G_IS_CANCELLABLE (cancellable), NULL);

  self = g_object_new (SM_TYPE_PORT, NULL);
  self->address = address != NULL ? g_object_ref (address) : NULL;
  self->number = number;
  self->mode = mode;
  self->key = sm_port_make_key (address, number);
  self->display_name = sm_address_format (address, number);
  self->hold_us = (gint64) (hold_timeout * G_USEC_PER_SEC);
  self->cancellable = g_object_ref (cancellable);
  self->drain = drain != NULL ? g_object_ref (drain) : NULL;
  self->listen_socket = g_object_ref (socket);
  self->queued =
      sm_connection_queue_new (self->display_name, self->hold_us, SM_PORT_DEFAULT_MAX_QUEUED);
  if (mode == SM_PORT_MODE_HTTP)
    self->router =
        sm_http_router_new (self->display_name, self->hold_us, SM_PORT_DEFAULT_MAX_QUEUED);

  self->service = g_socket_service_new ();
  if (!g_socket_listener_add_socket (G_SOCKET_LISTENER (self->service), socket, NULL, error))
    return NULL;
  g_signal_connect (self->service, "incoming", G_CALLBACK (sm_port_on_incoming), self);
  self->listening = TRUE;

  g_message ("Opened %s listener on %s", sm_port_mode_to_string (mode), self->display_name);

  /* Without a reservation, nothing would ever close it */
  update_hold_timer (self);

  return g_steal_pointer (&self);
}

GInetAddress *
sm_port_get_address (SmPort *self)
{
  g_return_val_if_fail (SM_IS_PORT (self), NULL);
  return self->address;
}

guint16
sm_port_get_number (SmPort *self)
{
  g_return_val_if_fail (SM_IS_PORT (self), 0);
  return self->number;
}

SmPortMode
sm_port_get_mode (SmPort *self)
{
  g_return_val_if_fail (SM_IS_PORT (self), SM_PORT_MODE_TCP);
  return self->mode;
}

const char *
sm_port_get_key (SmPort *self)
{
  g_return_val_if_fail (SM_IS_PORT (self), NULL);
  return self->key;
}

const char *
sm_port_get_display_name (SmPort *self)
{
  g_return_val_if_fail (SM_IS_PORT (self), NULL);
  return self->display_name;
}

GPtrArray *
sm_port_get_routes (SmPort *self)
{
  g_return_val_if_fail (SM_IS_PORT (self), NULL);
  return self->routes;
}

guint
sm_port_get_n_queued (SmPort *self)
{
  g_return_val_if_fail (SM_IS_PORT (self), 0);
  return sm_connection_queue_get_length (self->queued) +
         (self->router != NULL ? sm_http_router_get_n_waiting (self->router) : 0);
}

gboolean
sm_port_is_closed (SmPort *self)
{
  g_return_val_if_fail (SM_IS_PORT (self), TRUE);
  return self->closed;
}

void
sm_port_reserve (SmPort *self)
{
  g_return_if_fail (SM_IS_PORT (self));
  g_return_if_fail (!self->closed);

  self->n_reservations++;
  update_hold_timer (self);
}

void
sm_port_expect_tls (SmPort *self)
{
  g_return_if_fail (SM_IS_PORT (self));
  g_return_if_fail (self->n_reservations > 0);

  if (!sm_port_terminates_tls (self))
    self->tls_expected = TRUE;
}

void
sm_port_wait_for_tls (SmPort *self)
{
  g_return_if_fail (SM_IS_PORT (self));

  if (!sm_port_terminates_tls (self))
    self->tls_expected = TRUE;
}

static gboolean
on_await_expired (gpointer user_data)
{
  SmPort *self = user_data;

  self->await_source = 0;
  g_debug ("%s: %u services did not come back; serving without them", self->display_name,
           self->n_awaited);
  self->n_awaited = 0;
  flush_queue (self);
  return G_SOURCE_REMOVE;
}

void
sm_port_await_routes (SmPort *self, guint n_routes)
{
  g_return_if_fail (SM_IS_PORT (self));

  if (self->mode != SM_PORT_MODE_HTTP || self->closed)
    return;
  self->n_awaited = n_routes;
  g_clear_handle_id (&self->await_source, g_source_remove);
  if (n_routes > 0)
    self->await_source =
        g_timeout_add ((guint) ((self->hold_us + 999) / 1000), on_await_expired, self);
}

GSocket *
sm_port_get_listen_socket (SmPort *self)
{
  g_return_val_if_fail (SM_IS_PORT (self), NULL);
  return self->listening ? self->listen_socket : NULL;
}

void
sm_port_hand_over (SmPort *self)
{
  g_return_if_fail (SM_IS_PORT (self));

  if (!self->listening)
    return;

  /* What the kernel has queued is the successor's to accept */
  self->listening = FALSE;
  sm_accept_guard_forget (sm_accept_guard_get_default (), self->service);
  g_socket_service_stop (self->service);
  g_socket_listener_close (G_SOCKET_LISTENER (self->service));
  g_message ("Handed the listener on %s over", self->display_name);
}

void
sm_port_release (SmPort *self)
{
  g_return_if_fail (SM_IS_PORT (self));
  g_return_if_fail (self->n_reservations > 0);

  self->n_reservations--;
  /* No certificate came: what waited for one is served as it is */
  if (self->n_reservations == 0 && self->tls_expected)
    {
      self->tls_expected = FALSE;
      flush_queue (self);
    }
  update_hold_timer (self);
}

void
sm_port_add_route (SmPort *self, SmRoute *route)
{
  g_return_if_fail (SM_IS_PORT (self));
  g_return_if_fail (SM_IS_ROUTE (route));
  g_return_if_fail (self->n_reservations > 0);
  g_return_if_fail (!self->closed);

  self->n_reservations--;
  if (self->n_awaited > 0 && --self->n_awaited == 0)
    g_clear_handle_id (&self->await_source, g_source_remove);
  g_ptr_array_add (self->routes, g_object_ref (route));
  g_signal_connect (route, "gone", G_CALLBACK (on_route_gone), self);
  sm_room_watch_add (&self->capacity.room, route);

  if (self->router != NULL)
    sm_http_router_add_route (self->router, route);

  /* Before the waiting connections are handed over: they may need it */
  if (sm_socket_definition_has_tls (sm_route_get_definition (route)))
    add_certificate (self, route);
  else if (sm_port_terminates_tls (self))
    g_message ("Service %s on %s registered no certificate; its clients are served "
               "through TLS with the port's certificates",
               sm_route_get_peer (route), self->display_name);
  g_signal_emit (self, signals[SIGNAL_ROUTE_ADDED], 0, route);
  if (self->n_reservations == 0)
    self->tls_expected = FALSE;

  if (sm_route_is_gone (route))
    remove_route (self, route);
  else if (self->router != NULL)
    sm_http_router_flush_waiting (self->router);
  flush_queue (self);

  update_hold_timer (self);
}

static gboolean
accept_pending (GSocketConnection *connection, gpointer user_data)
{
  /* a connection refused near the descriptor limit is closed: go on */
  sm_port_admit (user_data, connection);
  return TRUE;
}

void
sm_port_stop_listening (SmPort *self)
{
  g_return_if_fail (SM_IS_PORT (self));

  if (!self->listening)
    return;

  sm_listen_socket_accept_pending (self->listen_socket, G_MAXUINT, accept_pending, self);
  self->listening = FALSE;
  sm_accept_guard_forget (sm_accept_guard_get_default (), self->service);
  g_socket_service_stop (self->service);
  g_socket_listener_close (G_SOCKET_LISTENER (self->service));
  drop_queued (self);

  g_message ("Closed listener on %s", self->display_name);
}

void
sm_port_close (SmPort *self)
{
  g_autoptr (SmPort) hold = NULL;
  g_autoptr (GPtrArray) routes = NULL;

  g_return_if_fail (SM_IS_PORT (self));

  if (self->closed)
    return;

  /* A "closed" handler usually drops the owner's reference */
  hold = g_object_ref (self);
  self->closed = TRUE;
  if (self->router != NULL)
    sm_http_router_close (self->router);
  g_clear_handle_id (&self->hold_source, g_source_remove);
  g_clear_handle_id (&self->await_source, g_source_remove);
  sm_port_stop_listening (self);

  /* Closing a session makes its route gone, which removes it */
  routes = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < self->routes->len; i++)
    g_ptr_array_add (routes, g_object_ref (g_ptr_array_index (self->routes, i)));
  for (guint i = 0; i < routes->len; i++)
    {
      SmRoute        *route = g_ptr_array_index (routes, i);
      SmYamuxSession *session = sm_route_get_session (route);

      if (session != NULL && !sm_yamux_session_is_closed (session))
        sm_yamux_session_close (session);
      remove_route (self, route);
    }

  g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
}

void
sm_port_set_tls_options (SmPort *self, const char *priority, int handshake_timeout)
{
  g_return_if_fail (SM_IS_PORT (self));
  g_return_if_fail (handshake_timeout > 0);

  g_free (self->tls_priority);
  self->tls_priority = g_strdup (priority);
  self->tls_handshake_timeout = handshake_timeout;
}

gboolean
sm_port_get_tls (SmPort *self)
{
  g_return_val_if_fail (SM_IS_PORT (self), FALSE);
  return sm_port_terminates_tls (self);
}

void
sm_port_set_http_limits (SmPort *self, const SmHttpLimits *limits)
{
  g_return_if_fail (SM_IS_PORT (self));
  g_return_if_fail (limits != NULL);

  self->http_limits = *limits;
}

void
sm_port_set_accept_proxy (SmPort *self, SmProxyAccept *proxy_accept)
{
  g_return_if_fail (SM_IS_PORT (self));
  g_set_object (&self->proxy_accept, proxy_accept);
}

void
sm_port_set_limits (SmPort *self, const SmPortLimits *limits, SmOpenCount *total)
{
  g_return_if_fail (SM_IS_PORT (self));
  g_return_if_fail (limits != NULL && total != NULL);

  sm_port_capacity_set (&self->capacity, limits, total);
  sm_connection_queue_set_max_length (self->queued, limits->max_queued_per_port);
  if (self->router != NULL)
    sm_http_router_set_limits (self->router, limits->max_queued_per_port,
                               limits->max_streams_per_service);
}

void
sm_port_foreach_waiting (SmPort *self, SmPortWaitingFunc func, gpointer user_data)
{
  g_return_if_fail (SM_IS_PORT (self));
  g_return_if_fail (func != NULL);

  sm_port_waiting_foreach (self->queued, self->router, func, user_data);
}
