/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-accept-guard.h"
#include "sm-address.h"
#include "sm-control-connection.h"
#include "sm-control.h"
#include "sm-listen-socket.h"
#include "sm-rate-limit.h"
#include "sm-source-limit.h"

struct _SmControl
{
  GObject         parent_instance;

  SmRegistry     *registry;
  GSocketService *service;
  GSocketAddress *local_address;
  gboolean        listening;

  GHashTable     *pending; /* set of SmControlConnection (owned) */
  SmSourceLimit  *limit;
  gsize          *buffered_total; /* bytes buffered by pending handshakes */

  SmRateLimit     refusal_log_limit;
};

G_DEFINE_FINAL_TYPE (SmControl, sm_control, G_TYPE_OBJECT)

static void
on_connection_finished (SmControlConnection *connection, SmControl *self)
{
  g_signal_handlers_disconnect_by_func (connection, on_connection_finished, self);
  g_hash_table_remove (self->pending, connection);
}

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             SmControl         *self)
{
  SmSourceTicket  *ticket;
  g_autofree char *key = NULL;
  g_autoptr (GSocketAddress) remote = NULL;
  g_autoptr (SmControlConnection) control_connection = NULL;

  if (!self->listening)
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }

  /* Near the descriptor limit: closed, and the control port paused */
  if (!sm_accept_guard_admit (sm_accept_guard_get_default (), service, connection,
                              SM_ACCEPT_CONTROL))
    return TRUE;

  control_connection = sm_control_connection_new (connection, self->registry,
                                                  &self->refusal_log_limit, self->buffered_total);
  remote = g_socket_connection_get_remote_address (connection, NULL);
  key = sm_address_source_key (remote);
  /* Aborted if it has to make room for a newer one */
  ticket = sm_source_limit_admit (self->limit, key, (SmSourceEvictFunc) sm_control_connection_abort,
                                  control_connection);
  if (ticket == NULL)
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }

  sm_control_connection_set_ticket (control_connection, ticket);
  g_hash_table_add (self->pending, g_object_ref (control_connection));
  g_signal_connect (control_connection, "finished", G_CALLBACK (on_connection_finished), self);
  sm_control_connection_start (control_connection);

  return TRUE;
}

static void
sm_control_dispose (GObject *object)
{
  SmControl *self = SM_CONTROL (object);

  if (self->pending != NULL)
    sm_control_stop (self);

  if (self->service != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->service, self);
      g_clear_object (&self->service);
    }
  g_clear_pointer (&self->pending, g_hash_table_unref);
  g_clear_pointer (&self->limit, sm_source_limit_free);
  g_clear_pointer (&self->buffered_total, g_rc_box_release);
  g_clear_object (&self->local_address);
  g_clear_object (&self->registry);

  G_OBJECT_CLASS (sm_control_parent_class)->dispose (object);
}

static void
sm_control_class_init (SmControlClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_control_dispose;
}

static void
sm_control_init (SmControl *self)
{
  self->pending = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
  self->limit = sm_source_limit_new ("control handshakes", SM_CONTROL_DEFAULT_MAX_PENDING,
                                     SM_SOURCE_LIMIT_DEFAULT_MAX_PER_SOURCE);
  self->buffered_total = g_rc_box_new0 (gsize);
  sm_rate_limit_init (&self->refusal_log_limit, 10 * G_USEC_PER_SEC, 10);
}

SmControl *
sm_control_new (SmRegistry *registry)
{
  SmControl *self;

  g_return_val_if_fail (SM_IS_REGISTRY (registry), NULL);

  self = g_object_new (SM_TYPE_CONTROL, NULL);
  self->registry = g_object_ref (registry);

  return self;
}

gboolean
sm_control_listen (SmControl *self, GInetAddress *address, guint16 port, GError **error)
{
  g_autoptr (GSocket) socket = NULL;

  g_return_val_if_fail (SM_IS_CONTROL (self), FALSE);
  g_return_val_if_fail (self->service == NULL, FALSE);

  socket = sm_listen_socket_new (address, port, error);
  if (socket == NULL)
    return FALSE;

  self->local_address = g_socket_get_local_address (socket, error);
  if (self->local_address == NULL)
    return FALSE;

  self->service = g_socket_service_new ();
  if (!g_socket_listener_add_socket (G_SOCKET_LISTENER (self->service), socket, NULL, error))
    {
      g_clear_object (&self->service);
      g_clear_object (&self->local_address);
      return FALSE;
    }
  g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);
  self->listening = TRUE;

  return TRUE;
}

GSocketAddress *
sm_control_get_local_address (SmControl *self)
{
  g_return_val_if_fail (SM_IS_CONTROL (self), NULL);
  return self->local_address;
}

void
sm_control_set_max_pending (SmControl *self, guint max_pending, guint max_per_source)
{
  g_return_if_fail (SM_IS_CONTROL (self));

  sm_source_limit_set_max (self->limit, max_pending, max_per_source);
}

guint
sm_control_get_n_pending (SmControl *self)
{
  g_return_val_if_fail (SM_IS_CONTROL (self), 0);
  return g_hash_table_size (self->pending);
}

void
sm_control_stop (SmControl *self)
{
  g_autoptr (GList) connections = NULL;

  g_return_if_fail (SM_IS_CONTROL (self));

  if (self->listening)
    {
      self->listening = FALSE;
      sm_accept_guard_forget (sm_accept_guard_get_default (), self->service);
      g_socket_service_stop (self->service);
      g_socket_listener_close (G_SOCKET_LISTENER (self->service));
    }

  /* Aborting one removes it from the table */
  connections = g_hash_table_get_keys (self->pending);
  for (GList *l = connections; l != NULL; l = l->next)
    sm_control_connection_abort (l->data);
}
