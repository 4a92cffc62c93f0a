/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-expiry.h"
#include "sm-http-wait-queue.h"

struct _SmHttpWaiter
{
  GSocketAddress  *client;
  char            *host;
  char            *path;
  gint64           queued_at;
  SmHttpRouteReady callback;
  gpointer         user_data;
};

struct _SmHttpWaitQueue
{
  char  *name;
  gint64 hold_us;
  guint  max_waiting;
  GQueue waiters; /* oldest first: one timeout for all */
  guint  expire_source;
};

static void schedule_expiry (SmHttpWaitQueue *self);

static void
waiter_free (SmHttpWaiter *waiter)
{
  g_clear_object (&waiter->client);
  g_free (waiter->host);
  g_free (waiter->path);
  g_free (waiter);
}

/* @waiter is out of the queue: the callback may queue again */
static void
waiter_answer (SmHttpWaiter *waiter, SmRoute *route)
{
  SmHttpRouteReady callback = waiter->callback;
  gpointer         user_data = waiter->user_data;

  waiter_free (waiter);
  callback (route, user_data);
}

static gboolean
on_expired (gpointer user_data)
{
  SmHttpWaitQueue *self = user_data;
  gint64           now = g_get_monotonic_time ();
  SmHttpWaiter    *waiter;
  GQueue           expired = G_QUEUE_INIT;

  self->expire_source = 0;

  while ((waiter = g_queue_peek_head (&self->waiters)) != NULL &&
         now - waiter->queued_at >= self->hold_us)
    {
      g_debug ("Request for %s%s on %s found no service in time", waiter->host, waiter->path,
               self->name);
      g_queue_push_tail (&expired, g_queue_pop_head (&self->waiters));
    }
  schedule_expiry (self);

  while ((waiter = g_queue_pop_head (&expired)) != NULL)
    waiter_answer (waiter, NULL);

  return G_SOURCE_REMOVE;
}

static void
schedule_expiry (SmHttpWaitQueue *self)
{
  SmHttpWaiter *oldest = g_queue_peek_head (&self->waiters);

  sm_expiry_schedule (&self->expire_source, oldest != NULL ? oldest->queued_at : -1, self->hold_us,
                      on_expired, self);
}

SmHttpWaitQueue *
sm_http_wait_queue_new (const char *name, gint64 hold_us, guint max_waiting)
{
  SmHttpWaitQueue *self = g_new0 (SmHttpWaitQueue, 1);

  self->name = g_strdup (name);
  self->hold_us = hold_us;
  self->max_waiting = max_waiting;
  g_queue_init (&self->waiters);

  return self;
}

void
sm_http_wait_queue_free (SmHttpWaitQueue *self)
{
  if (self == NULL)
    return;

  sm_http_wait_queue_drop_all (self);
  g_free (self->name);
  g_free (self);
}

SmHttpWaiter *
sm_http_wait_queue_push (SmHttpWaitQueue *self,
                         GSocketAddress  *client,
                         const char      *host,
                         const char      *path,
                         SmHttpRouteReady callback,
                         gpointer         user_data)
{
  SmHttpWaiter *waiter;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (callback != NULL, NULL);

  if (self->waiters.length >= self->max_waiting)
    return NULL;

  g_debug ("Request for %s%s waits for a service on %s", host, path, self->name);

  waiter = g_new0 (SmHttpWaiter, 1);
  waiter->client = client != NULL ? g_object_ref (client) : NULL;
  waiter->host = g_strdup (host);
  waiter->path = g_strdup (path);
  waiter->queued_at = g_get_monotonic_time ();
  waiter->callback = callback;
  waiter->user_data = user_data;
  g_queue_push_tail (&self->waiters, waiter);

  schedule_expiry (self);
  return waiter;
}

void
sm_http_wait_queue_cancel (SmHttpWaitQueue *self, SmHttpWaiter *waiter)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (waiter != NULL);

  if (!g_queue_remove (&self->waiters, waiter))
    g_return_if_reached ();
  waiter_free (waiter);

  /* The timer may have been the removed waiter's: an early one only
   * reschedules, but none must remain for an empty queue */
  if (self->waiters.length == 0)
    schedule_expiry (self);
}

guint
sm_http_wait_queue_get_length (SmHttpWaitQueue *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->waiters.length;
}

void
sm_http_wait_queue_foreach (SmHttpWaitQueue *self, SmHttpWaiterFunc func, gpointer user_data)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (func != NULL);

  for (GList *l = self->waiters.head; l != NULL; l = l->next)
    {
      SmHttpWaiter *waiter = l->data;

      func (waiter->client, waiter->host, waiter->path, waiter->queued_at, user_data);
    }
}

void
sm_http_wait_queue_flush (SmHttpWaitQueue *self, SmHttpMatcher *matcher, GPtrArray *routes)
{
  GQueue        still_waiting = G_QUEUE_INIT;
  GQueue        ready = G_QUEUE_INIT;
  SmHttpWaiter *waiter;
  gint64        now = g_get_monotonic_time ();

  g_return_if_fail (self != NULL);

  /* Decide for all first: answering runs the requests' code, which may
   * queue new waiters or remove routes */
  while ((waiter = g_queue_pop_head (&self->waiters)) != NULL)
    {
      SmRoute *route = NULL;

      switch (sm_http_matcher_match (matcher, routes, waiter->host, waiter->path, now, &route))
        {
        case SM_HTTP_MATCH_WAIT:
          g_queue_push_tail (&still_waiting, waiter);
          break;
        case SM_HTTP_MATCH_FOUND:
          g_queue_push_tail (&ready, waiter);
          g_queue_push_tail (&ready, g_object_ref (route));
          break;
        case SM_HTTP_MATCH_NONE:
        default:
          g_queue_push_tail (&ready, waiter);
          g_queue_push_tail (&ready, NULL);
          break;
        }
    }
  self->waiters = still_waiting;
  schedule_expiry (self);

  while ((waiter = g_queue_pop_head (&ready)) != NULL)
    {
      g_autoptr (SmRoute) route = g_queue_pop_head (&ready);

      waiter_answer (waiter, route);
    }
}

void
sm_http_wait_queue_drop_all (SmHttpWaitQueue *self)
{
  GQueue        dropped;
  SmHttpWaiter *waiter;

  g_return_if_fail (self != NULL);

  dropped = self->waiters;
  g_queue_init (&self->waiters);
  g_clear_handle_id (&self->expire_source, g_source_remove);

  while ((waiter = g_queue_pop_head (&dropped)) != NULL)
    waiter_answer (waiter, NULL);
}
