/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-error.h"
#include "sm-event-loop.h"
#include "sm-pollable-source.h"
#include "sm-rate-limit.h"
#include "sm-route.h"

/* A stream waiting in its route's pool; the slots are the route's, made
 * once, so keeping a stream costs no allocation */
typedef struct
{
  GList          link; /* in the route's idle or spare queue */
  SmRoute       *route;
  SmYamuxStream *stream; /* NULL: spare */
  SmEventWatch  *watch;  /* anything readable ends it */
  gint64         since;  /* monotonic time it was kept */
} IdleStream;

struct _SmRoute
{
  GObject             parent_instance;

  guint64             id;
  SmSocketDefinition *definition;
  SmYamuxSession     *session;
  char               *peer;
  guint32             owner;
  char               *name;
  guint               proxy_protocol;
  gint64              connected_at;
  GDateTime          *connected_since;

  guint               active_streams;
  guint64             total_streams;
  guint64             bytes_in;
  guint64             bytes_out;
  guint64             requests_served;

  IdleStream         *idle_slots; /* SM_ROUTE_MAX_IDLE_STREAMS, made at the first use */
  GQueue              idle;       /* of IdleStream: the last kept first */
  GQueue              spare;
  GSource            *idle_timer; /* for the oldest idle stream */

  gboolean            gone;
  gboolean            draining; /* the daemon stops: keep no idle streams */
  gboolean            stopped;  /* an operator drained it: GoAway once idle */
};

enum
{
  SIGNAL_GONE,
  SIGNAL_STREAM_FINISHED,
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
  sm_route_close_idle_streams (self);
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

  sm_route_close_idle_streams (self);
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
  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->connected_since, g_date_time_unref);
  g_free (self->idle_slots);

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
  /* Port limits: room for another stream (sm-port-limits.h) */
  signals[SIGNAL_STREAM_FINISHED] =
      g_signal_new ("stream-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 0);
}

static void
sm_route_init (SmRoute *self)
{
  g_queue_init (&self->idle);
  g_queue_init (&self->spare);
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

void
sm_route_set_owner (SmRoute *self, guint32 owner, const char *name)
{
  g_return_if_fail (SM_IS_ROUTE (self));

  self->owner = owner;
  g_free (self->name);
  self->name = g_strdup (name);
}

void
sm_route_drain (SmRoute *self)
{
  g_return_if_fail (SM_IS_ROUTE (self));

  self->draining = TRUE;
  sm_route_close_idle_streams (self);
}

/* The operator's drain is over once no stream is in use: the service may
 * leave (the session closes when the last reference goes) */
static void
go_away_if_done (SmRoute *self)
{
  if (!self->stopped || self->active_streams > 0 || self->session == NULL ||
      sm_yamux_session_is_closed (self->session) || sm_yamux_session_is_going_away (self->session))
    return;

  g_debug ("Service %s drained: GoAway", self->peer);
  sm_yamux_session_go_away (self->session, SM_YAMUX_GO_AWAY_NORMAL);
}

gboolean
sm_route_stop_taking (SmRoute *self)
{
  g_autoptr (SmRoute) hold = NULL;

  g_return_val_if_fail (SM_IS_ROUTE (self), FALSE);

  if (self->stopped || sm_route_is_gone (self))
    return FALSE;

  /* The port drops its reference in mark_gone() */
  hold = g_object_ref (self);
  self->stopped = TRUE;
  g_message ("Draining service %s: %u streams in use", self->peer, self->active_streams);
  /* Closes the idle streams; the port lets the route go and HTTP keeps its
   * definition as departed, so requests go to peers or wait */
  mark_gone (self);
  go_away_if_done (self);
  return TRUE;
}

gboolean
sm_route_is_stopped (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), FALSE);
  return self->stopped;
}

guint32
sm_route_get_owner (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), 0);
  return self->owner;
}

const char *
sm_route_get_name (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), NULL);
  return self->name;
}

void
sm_route_set_proxy_protocol (SmRoute *self, guint version)
{
  g_return_if_fail (SM_IS_ROUTE (self));
  g_return_if_fail (version <= 2);
  self->proxy_protocol = version;
}

guint
sm_route_get_proxy_protocol (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), 0);
  return self->proxy_protocol;
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
  g_autoptr (SmRoute) hold = NULL;

  g_return_if_fail (SM_IS_ROUTE (self));
  g_return_if_fail (self->active_streams > 0);

  self->active_streams--;
  self->bytes_in += bytes_in;
  self->bytes_out += bytes_out;
  /* A handler may drop what was the last other reference */
  hold = g_object_ref (self);
  g_signal_emit (self, signals[SIGNAL_STREAM_FINISHED], 0);
  go_away_if_done (self);
}

/* Idle streams ------------------------------------------------------------- */

static gboolean on_idle_timer (gpointer user_data);

/* Leaves the pool: the stream and its watch are the caller's */
static void
unlink_idle (IdleStream *idle)
{
  SmRoute *self = idle->route;

  g_queue_unlink (&self->idle, &idle->link);
  g_queue_push_head_link (&self->spare, &idle->link);
  idle->stream = NULL;
  idle->watch = NULL;
  if (self->idle.length == 0)
    sm_source_clear (&self->idle_timer);
}

/* @reset: abort (RST) instead of closing (FIN) */
static void
close_idle (IdleStream *idle, gboolean reset)
{
  g_autoptr (SmYamuxStream) stream = g_steal_pointer (&idle->stream);

  sm_event_watch_free (g_steal_pointer (&idle->watch));
  unlink_idle (idle);
  if (reset)
    sm_yamux_stream_reset (stream);
  else
    /* Sends FIN; the yamux stream's close never blocks */
    g_io_stream_close_async (G_IO_STREAM (stream), G_PRIORITY_DEFAULT, NULL, NULL, NULL);
}

static void
on_idle_readable (gpointer user_data)
{
  IdleStream   *idle = user_data;
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (idle->stream));
  guint8        byte;
  gssize        n_read;
  g_autoptr (GError) error = NULL;

  n_read = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (input), &byte, 1,
                                                     NULL, &error);
  if (n_read < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return;

  /* A service answers requests only: bytes now are a protocol error */
  g_debug ("Idle stream %u to %s %s", sm_yamux_stream_get_id (idle->stream), idle->route->peer,
           n_read == 0  ? "closed by the service"
           : n_read > 0 ? "sent stray bytes"
                        : error->message);
  close_idle (idle, n_read != 0);
}

/* Idle streams are only watched for reading */
static void
on_idle_writable (gpointer user_data)
{
}

static void
schedule_idle_timer (SmRoute *self)
{
  IdleStream *oldest = self->idle.tail->data;
  gint64      left = oldest->since + SM_ROUTE_IDLE_STREAM_TIMEOUT_US - g_get_monotonic_time ();

  sm_source_clear (&self->idle_timer);
  /* Rounded up: early, it would find nothing to close */
  self->idle_timer = g_timeout_source_new ((guint) (MAX (left, 0) / 1000 + 1));
  g_source_set_callback (self->idle_timer, on_idle_timer, self, NULL);
  g_source_set_static_name (self->idle_timer, "[socketmaster] idle streams");
  g_source_attach (self->idle_timer, NULL);
}

static gboolean
on_idle_timer (gpointer user_data)
{
  SmRoute *self = user_data;
  gint64   now = g_get_monotonic_time ();

  if (sm_route_is_gone (self))
    {
      sm_route_close_idle_streams (self);
      return G_SOURCE_REMOVE;
    }

  while (self->idle.length > 0)
    {
      IdleStream *oldest = self->idle.tail->data;

      if (oldest->since + SM_ROUTE_IDLE_STREAM_TIMEOUT_US > now)
        {
          schedule_idle_timer (self);
          break;
        }
      close_idle (oldest, FALSE);
    }
  return G_SOURCE_REMOVE;
}

SmYamuxStream *
sm_route_take_idle_stream (SmRoute *self, SmEventWatch **watch)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), NULL);
  g_return_val_if_fail (watch != NULL, NULL);

  *watch = NULL;
  if (sm_route_is_gone (self))
    {
      sm_route_close_idle_streams (self);
      return NULL;
    }

  while (self->idle.length > 0)
    {
      IdleStream    *idle = self->idle.head->data;
      GInputStream  *input = g_io_stream_get_input_stream (G_IO_STREAM (idle->stream));
      SmYamuxStream *stream;

      /* Closed by the service (or reset) a moment ago, and the watch did
       * not run yet: a request sent there would fail */
      if (g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (input)))
        {
          close_idle (idle, FALSE);
          continue;
        }

      stream = g_steal_pointer (&idle->stream);
      *watch = g_steal_pointer (&idle->watch);
      unlink_idle (idle);
      self->active_streams++;
      return stream;
    }
  return NULL;
}

gboolean
sm_route_keep_idle_stream (SmRoute *self, SmYamuxStream *stream, SmEventWatch *watch)
{
  IdleStream *idle;

  g_return_val_if_fail (SM_IS_ROUTE (self), FALSE);
  g_return_val_if_fail (SM_IS_YAMUX_STREAM (stream), FALSE);

  if (sm_route_is_gone (self) || self->draining || self->idle.length >= SM_ROUTE_MAX_IDLE_STREAMS)
    return FALSE;

  if (self->idle_slots == NULL)
    {
      self->idle_slots = g_new0 (IdleStream, SM_ROUTE_MAX_IDLE_STREAMS);
      for (guint i = 0; i < SM_ROUTE_MAX_IDLE_STREAMS; i++)
        {
          self->idle_slots[i].link.data = &self->idle_slots[i];
          self->idle_slots[i].route = self;
          g_queue_push_tail_link (&self->spare, &self->idle_slots[i].link);
        }
    }

  idle = self->spare.head->data;
  g_queue_unlink (&self->spare, &idle->link);
  g_queue_push_head_link (&self->idle, &idle->link);
  idle->stream = stream;
  idle->since = g_get_monotonic_time ();
  if (watch == NULL)
    watch = sm_event_watch_new (
        G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (G_IO_STREAM (stream))),
        G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (stream))),
        on_idle_readable, on_idle_writable, idle, "[socketmaster] idle stream");
  idle->watch = watch;
  sm_event_watch_set_callbacks (watch, on_idle_readable, on_idle_writable, idle);
  sm_event_watch_update (watch, TRUE, FALSE);

  if (self->idle_timer == NULL)
    schedule_idle_timer (self);
  return TRUE;
}

guint
sm_route_get_idle_streams (SmRoute *self)
{
  g_return_val_if_fail (SM_IS_ROUTE (self), 0);
  return self->idle.length;
}

void
sm_route_close_idle_streams (SmRoute *self)
{
  g_return_if_fail (SM_IS_ROUTE (self));

  while (self->idle.length > 0)
    close_idle (self->idle.head->data, FALSE);
}
