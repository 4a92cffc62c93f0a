/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-address.h"
#include "sm-error.h"
#include "sm-metrics-events.h"
#include "sm-port-limits.h"

/* One line per interval and count; the next one tells how many were
 * held back */
#define REFUSAL_LOG_INTERVAL_US (10 * G_USEC_PER_SEC)

void
sm_port_limits_init (SmPortLimits *limits)
{
  g_return_if_fail (limits != NULL);

  limits->max_connections = SM_PORT_DEFAULT_MAX_CONNECTIONS;
  limits->max_connections_per_port = SM_PORT_DEFAULT_MAX_CONNECTIONS_PER_PORT;
  limits->max_queued_per_port = SM_PORT_DEFAULT_MAX_QUEUED;
  limits->max_streams_per_service = SM_PORT_DEFAULT_MAX_STREAMS_PER_SERVICE;
}

static gboolean
check_limit (const char *option, gint64 value, guint *out_value, GError **error)
{
  if (value < 1 || value > SM_PORT_LIMITS_MAX)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT, "%s must be 1 to %d", option,
                   SM_PORT_LIMITS_MAX);
      return FALSE;
    }
  *out_value = (guint) value;
  return TRUE;
}

gboolean
sm_port_limits_set (SmPortLimits *limits,
                    gint64        max_connections,
                    gint64        max_connections_per_port,
                    gint64        max_queued_per_port,
                    gint64        max_streams_per_service,
                    GError      **error)
{
  SmPortLimits checked;

  g_return_val_if_fail (limits != NULL, FALSE);

  if (!check_limit ("--max-connections", max_connections, &checked.max_connections, error) ||
      !check_limit ("--max-connections-per-port", max_connections_per_port,
                    &checked.max_connections_per_port, error) ||
      !check_limit ("--max-queued-per-port", max_queued_per_port, &checked.max_queued_per_port,
                    error) ||
      !check_limit ("--max-streams-per-service", max_streams_per_service,
                    &checked.max_streams_per_service, error))
    return FALSE;

  *limits = checked;
  return TRUE;
}

guint
sm_port_limits_route_room (SmRoute *route, guint max_streams)
{
  SmYamuxSession *session = sm_route_get_session (route);
  guint           n_streams;

  /* Without a session it opens nothing: sm_route_open_stream() fails */
  if (session == NULL)
    return G_MAXUINT;
  /* A stream closing still counts until both sides are done with it */
  n_streams = sm_yamux_session_get_n_streams (session);
  return (n_streams < max_streams ? max_streams - n_streams : 0) +
         sm_route_get_idle_streams (route);
}

SmOpenCount *
sm_open_count_new (void)
{
  SmOpenCount *count = g_rc_box_new0 (SmOpenCount);

  sm_rate_limit_init (&count->log_limit, REFUSAL_LOG_INTERVAL_US, 1);
  return count;
}

SmOpenCount *
sm_open_count_ref (SmOpenCount *count)
{
  return g_rc_box_acquire (count);
}

void
sm_open_count_unref (SmOpenCount *count)
{
  g_rc_box_release (count);
}

static void
on_connection_finalized (gpointer data, GObject *where_the_object_was)
{
  SmOpenCount *count = data;

  g_warn_if_fail (count->n_open > 0);
  count->n_open--;
  sm_open_count_unref (count);
}

static void
log_refusal (SmOpenCount       *count,
             GSocketConnection *connection,
             const char        *name,
             const char        *what,
             const char        *option)
{
  g_autoptr (GSocketAddress) remote = NULL;
  g_autofree char *peer = NULL;
  g_autofree char *more = NULL;
  guint            suppressed = 0;

  if (!sm_rate_limit_check (&count->log_limit, g_get_monotonic_time (), &suppressed))
    return;

  remote = g_socket_connection_get_remote_address (connection, NULL);
  peer = remote != NULL ? sm_address_format_socket (remote) : g_strdup ("(unknown)");
  more = sm_rate_limit_describe_suppressed (suppressed);
  g_warning ("Closing connection from %s to %s: %u public connections already open %s (%s)%s", peer,
             name, count->n_open, what, option, more);
}

gboolean
sm_open_count_admit (SmOpenCount       *port,
                     guint              port_max,
                     SmOpenCount       *total,
                     guint              total_max,
                     GSocketConnection *connection,
                     const char        *name)
{
  g_return_val_if_fail (port != NULL && total != NULL, FALSE);
  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (connection), FALSE);

  if (port->n_open >= port_max)
    {
      log_refusal (port, connection, name, "on this port", "--max-connections-per-port");
      return FALSE;
    }
  if (total->n_open >= total_max)
    {
      log_refusal (total, connection, name, "on all ports", "--max-connections");
      return FALSE;
    }

  port->n_open++;
  total->n_open++;
  g_object_weak_ref (G_OBJECT (connection), on_connection_finalized, sm_open_count_ref (port));
  g_object_weak_ref (G_OBJECT (connection), on_connection_finalized, sm_open_count_ref (total));
  return TRUE;
}

void
sm_room_watch_init (SmRoomWatch *self, SmRoomWanted wanted, GSourceFunc func, gpointer data)
{
  *self = (SmRoomWatch){ wanted, func, data, 0 };
}

static gboolean
on_room (gpointer user_data)
{
  SmRoomWatch *self = user_data;

  self->source = 0;
  return self->func (self->data);
}

/* From a signal: the call waits for the main loop */
static void
on_streams_changed (SmRoomWatch *self)
{
  if (self->source == 0 && self->wanted (self->data))
    self->source = g_idle_add_full (G_PRIORITY_DEFAULT, on_room, self, NULL);
}

void
sm_room_watch_add (SmRoomWatch *self, SmRoute *route)
{
  SmYamuxSession *session = sm_route_get_session (route);

  g_signal_connect_swapped (route, "stream-finished", G_CALLBACK (on_streams_changed), self);
  if (session != NULL)
    g_signal_connect_swapped (session, "notify::n-streams", G_CALLBACK (on_streams_changed), self);
}

void
sm_room_watch_remove (SmRoomWatch *self, SmRoute *route)
{
  SmYamuxSession *session = sm_route_get_session (route);

  g_signal_handlers_disconnect_by_func (route, on_streams_changed, self);
  if (session != NULL)
    g_signal_handlers_disconnect_by_func (session, on_streams_changed, self);
}

void
sm_room_watch_clear (SmRoomWatch *self)
{
  g_clear_handle_id (&self->source, g_source_remove);
}

void
sm_port_capacity_init (SmPortCapacity *self, SmRoomWanted wanted, GSourceFunc func, gpointer data)
{
  sm_port_limits_init (&self->limits);
  self->n_open = sm_open_count_new ();
  self->total = sm_open_count_new ();
  sm_room_watch_init (&self->room, wanted, func, data);
}

void
sm_port_capacity_clear (SmPortCapacity *self)
{
  sm_room_watch_clear (&self->room);
  g_clear_pointer (&self->n_open, sm_open_count_unref);
  g_clear_pointer (&self->total, sm_open_count_unref);
}

void
sm_port_capacity_set (SmPortCapacity *self, const SmPortLimits *limits, SmOpenCount *total)
{
  self->limits = *limits;
  sm_open_count_ref (total);
  g_clear_pointer (&self->total, sm_open_count_unref);
  self->total = total;
}

gboolean
sm_port_capacity_admit (SmPortCapacity *self, GSocketConnection *connection, const char *name)
{
  if (!sm_open_count_admit (self->n_open, self->limits.max_connections_per_port, self->total,
                            self->limits.max_connections, connection, name))
    return FALSE;
  sm_metrics_connection_admitted (name, connection);
  return TRUE;
}
