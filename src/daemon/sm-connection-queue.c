/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-expiry.h"
#include "sm-address.h"
#include "sm-connection-queue.h"
#include "sm-rate-limit.h"

typedef struct
{
  GIOStream      *connection;
  GSocketAddress *client;
  gint64          queued_at;
} QueuedConnection;

struct _SmConnectionQueue
{
  char       *name;
  gint64      hold_us;
  guint       max_length;
  GQueue      connections; /* QueuedConnection, oldest first */
  guint       expire_source;
  SmRateLimit overflow_log_limit;
};

static char *
describe_client (GSocketAddress *client)
{
  return client != NULL ? sm_address_format_socket (client) : g_strdup ("(unknown)");
}

static void
queued_connection_free (QueuedConnection *queued)
{
  g_clear_object (&queued->connection);
  g_clear_object (&queued->client);
  g_free (queued);
}

static void
queued_connection_drop (QueuedConnection *queued)
{
  g_io_stream_close (queued->connection, NULL, NULL);
  queued_connection_free (queued);
}

static void schedule_expiry (SmConnectionQueue *self);

static gboolean
on_expired (gpointer user_data)
{
  SmConnectionQueue *self = user_data;
  gint64             now = g_get_monotonic_time ();
  QueuedConnection  *queued;

  self->expire_source = 0;

  /* One timeout for all: the oldest expire first */
  while ((queued = g_queue_peek_head (&self->connections)) != NULL &&
         now - queued->queued_at >= self->hold_us)
    {
      g_autofree char *peer = describe_client (queued->client);

      g_debug ("Connection from %s to %s found no service in time; closing it", peer, self->name);
      g_queue_pop_head (&self->connections);
      queued_connection_drop (queued);
    }

  schedule_expiry (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_expiry (SmConnectionQueue *self)
{
  QueuedConnection *oldest = g_queue_peek_head (&self->connections);

  sm_expiry_schedule (&self->expire_source, oldest != NULL ? oldest->queued_at : -1, self->hold_us,
                      on_expired, self);
}

SmConnectionQueue *
sm_connection_queue_new (const char *name, gint64 hold_us, guint max_length)
{
  SmConnectionQueue *self = g_new0 (SmConnectionQueue, 1);

  self->name = g_strdup (name);
  self->hold_us = hold_us;
  self->max_length = max_length;
  g_queue_init (&self->connections);
  sm_rate_limit_init (&self->overflow_log_limit, 10 * G_USEC_PER_SEC, 1);
  return self;
}

void
sm_connection_queue_set_max_length (SmConnectionQueue *self, guint max_length)
{
  g_return_if_fail (max_length > 0);

  self->max_length = max_length;
}

void
sm_connection_queue_free (SmConnectionQueue *self)
{
  if (self == NULL)
    return;

  sm_connection_queue_drop_all (self);
  g_free (self->name);
  g_free (self);
}

void
sm_connection_queue_push (SmConnectionQueue *self, GIOStream *connection, GSocketAddress *client)
{
  g_autofree char  *peer = describe_client (client);
  QueuedConnection *queued;

  if (self->connections.length >= self->max_length)
    {
      sm_rate_limit_log (&self->overflow_log_limit, G_LOG_LEVEL_WARNING,
                         "Closing connection from %s: %u connections to %s already wait "
                         "for a service",
                         peer, self->connections.length, self->name);
      g_io_stream_close (connection, NULL, NULL);
      return;
    }

  g_debug ("Connection from %s waits for a service on %s", peer, self->name);

  queued = g_new0 (QueuedConnection, 1);
  queued->connection = g_object_ref (connection);
  queued->client = client != NULL ? g_object_ref (client) : NULL;
  queued->queued_at = g_get_monotonic_time ();
  g_queue_push_tail (&self->connections, queued);

  schedule_expiry (self);
}

gboolean
sm_connection_queue_peek (SmConnectionQueue *self,
                          GIOStream        **out_connection,
                          GSocketAddress   **out_client)
{
  QueuedConnection *queued = g_queue_peek_head (&self->connections);

  if (queued == NULL)
    return FALSE;

  *out_connection = queued->connection;
  *out_client = queued->client;
  return TRUE;
}

void
sm_connection_queue_pop (SmConnectionQueue *self)
{
  QueuedConnection *queued = g_queue_pop_head (&self->connections);

  g_return_if_fail (queued != NULL);

  queued_connection_free (queued);
  schedule_expiry (self);
}

void
sm_connection_queue_drop_all (SmConnectionQueue *self)
{
  QueuedConnection *queued;

  g_clear_handle_id (&self->expire_source, g_source_remove);
  while ((queued = g_queue_pop_head (&self->connections)) != NULL)
    queued_connection_drop (queued);
}

guint
sm_connection_queue_get_length (SmConnectionQueue *self)
{
  return self->connections.length;
}

void
sm_connection_queue_foreach (SmConnectionQueue    *self,
                             SmConnectionQueueFunc func,
                             gpointer              user_data)
{
  for (GList *l = self->connections.head; l != NULL; l = l->next)
    {
      QueuedConnection *queued = l->data;

      func (queued->client, queued->queued_at, user_data);
    }
}
