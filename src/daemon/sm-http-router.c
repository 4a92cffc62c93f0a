/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-expiry.h"
#include "sm-http-router.h"
#include "sm-port-limits.h"
#include "sm-rate-limit.h"

struct _SmHttpWaiter
{
  GSocketAddress  *client;
  char            *host;
  char            *path;
  gint64           queued_at;
  SmHttpRouteReady callback;
  gpointer         user_data;
};

struct _SmHttpRouter
{
  GObject        parent_instance;

  char          *display_name;
  gint64         hold_us;
  GPtrArray     *routes; /* in registration order */
  SmHttpMatcher *matcher;
  gboolean       closed;
  guint          max_streams; /* per service session */

  /* Requests waiting for a service that left */
  gboolean       waiting_allowed; /* while the port listens */
  guint          max_waiting;
  GQueue         waiters; /* oldest first: one timeout for all */
  guint          expire_source;
  SmRateLimit    overflow_log_limit;
};

G_DEFINE_FINAL_TYPE (SmHttpRouter, sm_http_router, G_TYPE_OBJECT)

static void schedule_expiry (SmHttpRouter *self);

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
  SmHttpRouter *self = user_data;
  gint64        now = g_get_monotonic_time ();
  SmHttpWaiter *waiter;
  GQueue        expired = G_QUEUE_INIT;

  self->expire_source = 0;

  while ((waiter = g_queue_peek_head (&self->waiters)) != NULL &&
         now - waiter->queued_at >= self->hold_us)
    {
      g_debug ("Request for %s%s on %s found no service in time", waiter->host, waiter->path,
               self->display_name);
      g_queue_push_tail (&expired, g_queue_pop_head (&self->waiters));
    }
  schedule_expiry (self);

  while ((waiter = g_queue_pop_head (&expired)) != NULL)
    waiter_answer (waiter, NULL);

  return G_SOURCE_REMOVE;
}

static void
schedule_expiry (SmHttpRouter *self)
{
  SmHttpWaiter *oldest = g_queue_peek_head (&self->waiters);

  sm_expiry_schedule (&self->expire_source, oldest != NULL ? oldest->queued_at : -1, self->hold_us,
                      on_expired, self);
}

/* Answers every waiting request with NULL */
static void
drop_waiting (SmHttpRouter *self)
{
  GQueue        dropped = self->waiters;
  SmHttpWaiter *waiter;

  g_queue_init (&self->waiters);
  g_clear_handle_id (&self->expire_source, g_source_remove);

  while ((waiter = g_queue_pop_head (&dropped)) != NULL)
    waiter_answer (waiter, NULL);
}

static void
sm_http_router_dispose (GObject *object)
{
  SmHttpRouter *self = SM_HTTP_ROUTER (object);

  drop_waiting (self);
  g_ptr_array_set_size (self->routes, 0);

  G_OBJECT_CLASS (sm_http_router_parent_class)->dispose (object);
}

static void
sm_http_router_finalize (GObject *object)
{
  SmHttpRouter *self = SM_HTTP_ROUTER (object);

  g_ptr_array_unref (self->routes);
  g_clear_pointer (&self->matcher, sm_http_matcher_free);
  g_free (self->display_name);

  G_OBJECT_CLASS (sm_http_router_parent_class)->finalize (object);
}

static void
sm_http_router_class_init (SmHttpRouterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_http_router_dispose;
  object_class->finalize = sm_http_router_finalize;
}

static void
sm_http_router_init (SmHttpRouter *self)
{
  self->routes = g_ptr_array_new_with_free_func (g_object_unref);
  self->waiting_allowed = TRUE;
  g_queue_init (&self->waiters);
  sm_rate_limit_init (&self->overflow_log_limit, 10 * G_USEC_PER_SEC, 1);
  self->max_streams = SM_PORT_DEFAULT_MAX_STREAMS_PER_SERVICE;
}

SmHttpRouter *
sm_http_router_new (const char *display_name, gint64 hold_us, guint max_waiting)
{
  SmHttpRouter *self;

  g_return_val_if_fail (display_name != NULL, NULL);
  g_return_val_if_fail (hold_us > 0, NULL);

  self = g_object_new (SM_TYPE_HTTP_ROUTER, NULL);
  self->display_name = g_strdup (display_name);
  self->hold_us = hold_us;
  self->max_waiting = max_waiting;
  self->matcher = sm_http_matcher_new (hold_us);

  return self;
}

const char *
sm_http_router_get_display_name (SmHttpRouter *self)
{
  g_return_val_if_fail (SM_IS_HTTP_ROUTER (self), NULL);
  return self->display_name;
}

void
sm_http_router_set_limits (SmHttpRouter *self, guint max_waiting, guint max_streams)
{
  g_return_if_fail (SM_IS_HTTP_ROUTER (self));
  g_return_if_fail (max_waiting > 0 && max_streams > 0);

  self->max_waiting = max_waiting;
  self->max_streams = max_streams;
}

void
sm_http_router_add_route (SmHttpRouter *self, SmRoute *route)
{
  g_return_if_fail (SM_IS_HTTP_ROUTER (self));
  g_return_if_fail (SM_IS_ROUTE (route));

  g_ptr_array_add (self->routes, g_object_ref (route));
  sm_http_matcher_route_added (self->matcher, route);
}

void
sm_http_router_remove_route (SmHttpRouter *self, SmRoute *route)
{
  g_autoptr (SmRoute) hold = NULL;

  g_return_if_fail (SM_IS_HTTP_ROUTER (self));
  g_return_if_fail (SM_IS_ROUTE (route));

  hold = g_object_ref (route);
  if (g_ptr_array_remove (self->routes, route))
    sm_http_matcher_route_removed (self->matcher, route, g_get_monotonic_time ());
}

static const char *
or_empty (const char *text)
{
  return text != NULL ? text : "";
}

static gboolean
same_definition (SmRoute *a, SmRoute *b)
{
  const SmSocketDefinition *da = sm_route_get_definition (a);
  const SmSocketDefinition *db = sm_route_get_definition (b);

  return g_ascii_strcasecmp (or_empty (sm_socket_definition_get_domain_suffix (da)),
                             or_empty (sm_socket_definition_get_domain_suffix (db))) == 0 &&
         g_strcmp0 (or_empty (sm_socket_definition_get_path_prefix (da)),
                    or_empty (sm_socket_definition_get_path_prefix (db))) == 0;
}

/* @granted (may be NULL): routes already promised to requests in this
 * pass (SmRoute * -> count), which the streams do not show yet */
static gboolean
has_room (SmHttpRouter *self, SmRoute *route, GHashTable *granted)
{
  guint n_granted = granted != NULL ? GPOINTER_TO_UINT (g_hash_table_lookup (granted, route)) : 0;

  return sm_port_limits_route_room (route, self->max_streams) > n_granted;
}

/* The matcher's choice when its service has room for another stream, else
 * the next of its replicas that has room; with none, the request waits as
 * for a service that left, until a stream ends (the port then calls
 * sm_http_router_flush_waiting()) or the hold timeout */
static SmHttpMatch
match_with_room (SmHttpRouter *self,
                 const char   *host,
                 const char   *path,
                 gint64        now,
                 GHashTable   *granted,
                 SmRoute     **out_route)
{
  g_autoptr (GPtrArray) replicas = NULL;
  SmHttpMatch match;
  SmRoute    *best;

  match = sm_http_matcher_match (self->matcher, self->routes, host, path, now, out_route);
  if (match != SM_HTTP_MATCH_FOUND || has_room (self, *out_route, granted))
    return match;

  best = *out_route;
  *out_route = NULL;
  replicas = g_ptr_array_new ();
  for (guint i = 0; i < self->routes->len; i++)
    {
      SmRoute *route = g_ptr_array_index (self->routes, i);

      if (route != best && !sm_route_is_gone (route) && same_definition (route, best) &&
          has_room (self, route, granted))
        g_ptr_array_add (replicas, route);
    }
  /* Among them, the matcher's turns */
  if (replicas->len > 0 && sm_http_matcher_match (self->matcher, replicas, host, path, now,
                                                  out_route) == SM_HTTP_MATCH_FOUND)
    return SM_HTTP_MATCH_FOUND;

  g_debug ("Request for %s%s on %s: service %s has %u streams open", host, path, self->display_name,
           sm_route_get_peer (best), self->max_streams);
  *out_route = NULL;
  return SM_HTTP_MATCH_WAIT;
}

void
sm_http_router_flush_waiting (SmHttpRouter *self)
{
  GQueue        still_waiting = G_QUEUE_INIT;
  GQueue        ready = G_QUEUE_INIT;
  SmHttpWaiter *waiter;
  gint64        now = g_get_monotonic_time ();
  g_autoptr (GHashTable) granted = NULL;

  g_return_if_fail (SM_IS_HTTP_ROUTER (self));

  /* Decide for all first: answering runs the requests' code, which may
   * queue new waiters or remove routes */
  while ((waiter = g_queue_pop_head (&self->waiters)) != NULL)
    {
      SmRoute *route = NULL;

      switch (match_with_room (self, waiter->host, waiter->path, now, granted, &route))
        {
        case SM_HTTP_MATCH_WAIT:
          g_queue_push_tail (&still_waiting, waiter);
          break;
        case SM_HTTP_MATCH_FOUND:
          /* Each request answered in this pass takes a stream */
          if (granted == NULL)
            granted = g_hash_table_new (NULL, NULL);
          g_hash_table_insert (
              granted, route,
              GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (granted, route)) + 1));
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

SmHttpMatch
sm_http_router_match (SmHttpRouter *self, const char *host, const char *path, SmRoute **out_route)
{
  g_return_val_if_fail (SM_IS_HTTP_ROUTER (self), SM_HTTP_MATCH_NONE);
  g_return_val_if_fail (out_route != NULL, SM_HTTP_MATCH_NONE);

  *out_route = NULL;
  if (self->closed)
    return SM_HTTP_MATCH_NONE;
  return match_with_room (self, host, path, g_get_monotonic_time (), NULL, out_route);
}

SmHttpWaiter *
sm_http_router_wait (SmHttpRouter    *self,
                     GSocketAddress  *client,
                     const char      *host,
                     const char      *path,
                     SmHttpRouteReady callback,
                     gpointer         user_data)
{
  SmHttpWaiter *waiter;

  g_return_val_if_fail (SM_IS_HTTP_ROUTER (self), NULL);
  g_return_val_if_fail (callback != NULL, NULL);

  if (!self->waiting_allowed)
    return NULL;

  if (self->waiters.length >= self->max_waiting)
    {
      sm_rate_limit_log (&self->overflow_log_limit, G_LOG_LEVEL_WARNING,
                         "Refusing a request: %u requests to %s already wait for a service",
                         self->waiters.length, self->display_name);
      return NULL;
    }

  g_debug ("Request for %s%s waits for a service on %s", host, path, self->display_name);

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
sm_http_router_cancel_wait (SmHttpRouter *self, SmHttpWaiter *waiter)
{
  g_return_if_fail (SM_IS_HTTP_ROUTER (self));
  g_return_if_fail (waiter != NULL);

  if (!g_queue_remove (&self->waiters, waiter))
    g_return_if_reached ();
  waiter_free (waiter);

  /* The timer may have been the removed waiter's: an early one only
   * reschedules, but none must remain for an empty queue */
  if (self->waiters.length == 0)
    schedule_expiry (self);
}

void
sm_http_router_stop_waiting (SmHttpRouter *self)
{
  g_return_if_fail (SM_IS_HTTP_ROUTER (self));

  self->waiting_allowed = FALSE;
  drop_waiting (self);
}

void
sm_http_router_close (SmHttpRouter *self)
{
  g_return_if_fail (SM_IS_HTTP_ROUTER (self));

  self->closed = TRUE;
}

guint
sm_http_router_get_n_waiting (SmHttpRouter *self)
{
  g_return_val_if_fail (SM_IS_HTTP_ROUTER (self), 0);
  return self->waiters.length;
}

void
sm_http_router_foreach_waiting (SmHttpRouter *self, SmHttpWaiterFunc func, gpointer user_data)
{
  g_return_if_fail (SM_IS_HTTP_ROUTER (self));
  g_return_if_fail (func != NULL);

  for (GList *l = self->waiters.head; l != NULL; l = l->next)
    {
      SmHttpWaiter *waiter = l->data;

      func (waiter->client, waiter->host, waiter->path, waiter->queued_at, user_data);
    }
}
