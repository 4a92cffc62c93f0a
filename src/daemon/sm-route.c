/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-error.h"
#include "sm-rate-limit.h"
#include "sm-route.h"

struct _SmRoute
{
  GObject             parent_instance;

  guint64             id;
  SmSocketDefinition *definition;
  SmYamuxSession     *session;
  char               *peer;
  gint64              connected_at;
  GDateTime          *connected_since;

  guint               active_streams;
  guint64             total_streams;
  guint64             bytes_in;
  guint64             bytes_out;
  guint64             requests_served;

  gboolean            gone;
};

enum
{
  SIGNAL_GONE,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (SmRoute, sm_route, G_TYPE_OBJECT)

static void
mark_gone (SmRoute *self)
{
  g_autoptr (SmRoute) hold = NULL;

  if (self->gone)
    return;

  self->gone = TRUE;
  /* A handler may drop what was the last other reference */
  hold = g_object_ref (self);
  g_signal_emit (self, signals[SIGNAL_GONE], 0);
}

static void
on_session_go_away (SmYamuxSession *session, guint code, SmRoute *self)
{
  g_debug ("Service %s sent GoAway (code %u)", self->peer, code);
  mark_gone (self);
}

/* Services are local programs, but one that keeps reconnecting to break
 * the protocol must not flood the log */
static SmRateLimit violation_log_limit = SM_RATE_LIMIT_INIT (10 * G_USEC_PER_SEC, 10);

static void
on_session_closed (SmYamuxSession *session, GError *error, SmRoute *self)
{
  /* A protocol violation or a service that stopped answering is worth
   * seeing without --verbose; a plain close or a reset is not */
  if (error != NULL && error->domain == SM_ERROR && error->code != SM_ERROR_CLOSED)
    sm_rate_limit_log (&violation_log_limit, G_LOG_LEVEL_MESSAGE, "Dropped service %s: %s",
                       self->peer, error->message);
  else if (error != NULL)
    g_debug ("Session with service %s ended: %s", self->peer, error->message);
  else
    g_debug ("Session with service %s ended", self->peer);
  mark_gone (self);
}

static gboolean
close_session_cb (gpointer user_data)
{
  sm_yamux_session_close (SM_YAMUX_SESSION (user_data));
  return G_SOURCE_REMOVE;
}

static void
sm_route_dispose (GObject *object)
{
  SmRoute *self = SM_ROUTE (object);

  if (self->session != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->session, self);

      /* Nothing can use the session any more. The close is deferred because
       * the last reference may be dropped from one of the session's own
       * signal handlers. */
      if (!sm_yamux_session_is_closed (self->session))
        g_idle_add_full (G_PRIORITY_DEFAULT, close_session_cb, g_steal_pointer (&self->session),
                         g_object_unref);
      g_clear_object (&self->session);
    }

  G_OBJECT_CLASS (sm_route_parent_class)->dispose (object);
}

static void
sm_route_finalize (GObject *object)
{
  SmRoute *self = SM_ROUTE (object);

  g_clear_pointer (&self->definition, sm_socket_definition_free);
  g_clear_pointer (&self->peer, g_free);
  g_clear_pointer (&self->connected_since, g_date_time_unref);

  G_OBJECT_CLASS (sm_route_parent_class)->finalize (object);
}

static void
sm_route_class_init (SmRouteClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_route_dispose;
  object_class->finalize = sm_route_finalize;

  signals[SIGNAL_GONE] = g_signal_new ("gone", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
sm_route_init (SmRoute *self)
{
}

SmRoute *
sm_route_new (guint64                   id,
              const SmSocketDefinition *definition,
              SmYamuxSession           *session,
              const char               *peer)
{
  SmRoute *self;

  g_return_val_if_fail (definition != NULL, NULL);
  g_return_val_if_fail (SM_IS_YAMUX_SESSION (session), NULL);
  g_return_val_if_fail (peer != NULL, NULL);

  self = g_object_new (SM_TYPE_ROUTE, NULL);
  self->id = id;
  self->definition = sm_socket_definition_copy (definition);
  self->session = g_object_ref (session);
  self->peer = g_strdup (peer);
  self->connected_at = g_get_monotonic_time ();
  self->connected_since = g_date_time_new_now_utc ();

  g_signal_connect (session, "go-away", G_CALLBACK (on_session_go_away), self);
  g_signal_connect (session, "closed", G_CALLBACK (on_session_closed), self);

  /* The session may have ended before we got to watch it */
  if (sm_yamux_session_is_closed (session) || sm_yamux_session_is_going_away (session))
    self->gone = TRUE;

  return self;
}

guint64
sm_route_get_id (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), 0);
  return self->id;
}

const SmSocketDefinition *
sm_route_get_definition (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), NULL);
  return self->definition;
}

SmYamuxSession *
sm_route_get_session (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), NULL);
  return self->session;
}

const char *
sm_route_get_peer (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), NULL);
  return self->peer;
}

gint64
sm_route_get_connected_at (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), 0);
  return self->connected_at;
}

GDateTime *
sm_route_get_connected_since (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), NULL);
  return self->connected_since;
}

guint
sm_route_get_active_streams (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), 0);
  return self->active_streams;
}

guint64
sm_route_get_total_streams (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), 0);
  return self->total_streams;
}

guint64
sm_route_get_bytes_in (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), 0);
  return self->bytes_in;
}

guint64
sm_route_get_bytes_out (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), 0);
  return self->bytes_out;
}

guint64
sm_route_get_requests_served (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), 0);
  return self->requests_served;
}

void
sm_route_request_served (SmRoute *self)
{
  g_return_if_fail (SM_IS_ROUTE (self));
  self->requests_served++;
}

gboolean
sm_route_is_gone (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), TRUE);

  /* Our own GoAway (daemon shutdown) emits no signal */
  if (!self->gone && self->session != NULL &&
      (sm_yamux_session_is_going_away (self->session) ||
       sm_yamux_session_is_closed (self->session)))
    self->gone = TRUE;

  return self->gone;
}

SmYamuxStream *
sm_route_open_stream (SmRoute *self, GError **error)
{
  SmYamuxStream *stream;

  g_return_val_if_fail (SM_IS_ROUTE (self), NULL);

  if (sm_route_is_gone (self))
    {
      g_set_error (error, SM_ERROR, SM_ERROR_GOING_AWAY, "service %s takes no new connections",
                   self->peer);
      return NULL;
    }

  stream = sm_yamux_session_open_stream (self->session, error);
  if (stream == NULL)
    {
      mark_gone (self);
      return NULL;
    }

  self->active_streams++;
  self->total_streams++;
  return stream;
}

void
sm_route_stream_finished (SmRoute *self, guint64 bytes_in, guint64 bytes_out)
{
  g_return_if_fail (SM_IS_ROUTE (self));
  g_return_if_fail (self->active_streams > 0);

  self->active_streams--;
  self->bytes_in += bytes_in;
  self->bytes_out += bytes_out;
}
