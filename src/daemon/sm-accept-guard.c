/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <sys/resource.h>

#include "sm-accept-guard.h"

/*
 * What the daemon opens besides public connections: stdio, the main
 * context's and GLib's worker's eventfds, the D-Bus connection, a listening
 * socket for each new port, the control connections of services that
 * register meanwhile, and short-lived ones (GnuTLS, /proc, files). None of
 * that grows with public connections, so a fixed reserve fits any limit;
 * 32 leaves room for all of it at once. A tiny limit keeps half for
 * public connections.
 */
#define SM_ACCEPT_GUARD_RESERVE 32

struct _SmAcceptGuard
{
  GObject       parent_instance;

  guint         limit; /* 0: RLIMIT_NOFILE's soft limit, read each time */
  guint         pause_ms;
  SmAcceptTally tally;

  GPtrArray    *paused; /* GSocketService (owned), stopped until the next tick */
  guint         tick_source;
};

G_DEFINE_FINAL_TYPE (SmAcceptGuard, sm_accept_guard, G_TYPE_OBJECT)

guint
sm_accept_guard_reserve (guint limit, SmAcceptKind kind)
{
  guint reserve = MIN (SM_ACCEPT_GUARD_RESERVE, limit / 2);

  return kind == SM_ACCEPT_CONTROL ? reserve / 2 : reserve;
}

gboolean
sm_accept_guard_fd_ok (int fd, guint limit, SmAcceptKind kind)
{
  /* Descriptors 0 to @fd - 1 are all in use, and @fd too now */
  return fd < 0 || (guint) fd < limit - sm_accept_guard_reserve (limit, kind);
}

void
sm_accept_tally_init (SmAcceptTally *self, gint64 interval_us)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (interval_us > 0);

  *self = (SmAcceptTally){ .interval_us = interval_us, .max_fd = -1 };
}

SmAcceptReport
sm_accept_tally_refused (SmAcceptTally *self, int fd, guint limit, gint64 now)
{
  g_return_val_if_fail (self != NULL, SM_ACCEPT_REPORT_NONE);

  self->refused++;
  self->refused_total++;
  self->last_refusal = now;
  self->max_fd = MAX (self->max_fd, fd);
  self->limit = limit;

  if (!self->exhausted)
    {
      self->exhausted = TRUE;
      self->episode_start = now;
      return SM_ACCEPT_REPORT_EXHAUSTED;
    }

  return now - self->last_line >= self->interval_us ? SM_ACCEPT_REPORT_STILL
                                                    : SM_ACCEPT_REPORT_NONE;
}

SmAcceptReport
sm_accept_tally_tick (SmAcceptTally *self, gint64 now)
{
  g_return_val_if_fail (self != NULL, SM_ACCEPT_REPORT_NONE);

  if (!self->exhausted)
    return SM_ACCEPT_REPORT_NONE;

  /* Refusals since the last line are told with this one */
  if (now - self->last_refusal < self->interval_us)
    return SM_ACCEPT_REPORT_NONE;

  self->exhausted = FALSE;
  return SM_ACCEPT_REPORT_RECOVERED;
}

void
sm_accept_tally_logged (SmAcceptTally *self, gint64 now)
{
  g_return_if_fail (self != NULL);

  self->last_line = now;
  self->refused = 0;
  self->max_fd = -1;
  if (!self->exhausted)
    self->refused_total = 0;
}

static guint
current_limit (SmAcceptGuard *self)
{
  struct rlimit limit;

  if (self->limit > 0)
    return self->limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY ||
      limit.rlim_cur > G_MAXINT)
    return G_MAXINT;

  return (guint) limit.rlim_cur;
}

/* One line at most per report, with the counts since the last one */
static void
report (SmAcceptGuard *self, SmAcceptReport what, gint64 now)
{
  const SmAcceptTally *tally = &self->tally;

  switch (what)
    {
    case SM_ACCEPT_REPORT_NONE:
      return;

    case SM_ACCEPT_REPORT_EXHAUSTED:
      g_warning ("Out of file descriptors (at least %d of %u in use): closing new connections "
                 "and pausing accepts for %u ms at a time",
                 tally->max_fd + 1, tally->limit, self->pause_ms);
      break;

    case SM_ACCEPT_REPORT_STILL:
      g_warning ("Still out of file descriptors (at least %d of %u in use): %" G_GUINT64_FORMAT
                 " connections refused since the last message",
                 tally->max_fd + 1, tally->limit, tally->refused);
      break;

    case SM_ACCEPT_REPORT_RECOVERED:
      g_message ("File descriptors: accepting again, none refused for %.3g s (%" G_GUINT64_FORMAT
                 " refused in %.3g s, %" G_GUINT64_FORMAT " since the last message)",
                 (double) tally->interval_us / G_USEC_PER_SEC, tally->refused_total,
                 (double) (tally->last_refusal - tally->episode_start) / G_USEC_PER_SEC,
                 tally->refused);
      break;

    default:
      g_assert_not_reached ();
    }

  sm_accept_tally_logged (&self->tally, now);
}

/* Every pause ends at the next tick; ticks go on until the episode is over,
 * to log the last counts */
static gboolean
on_tick (gpointer user_data)
{
  SmAcceptGuard *self = user_data;
  g_autoptr (GPtrArray) paused = NULL;
  gint64 now = g_get_monotonic_time ();

  paused = g_steal_pointer (&self->paused);
  self->paused = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < paused->len; i++)
    g_socket_service_start (g_ptr_array_index (paused, i));

  report (self, sm_accept_tally_tick (&self->tally, now), now);

  if (self->tally.exhausted || self->paused->len > 0)
    return G_SOURCE_CONTINUE;

  self->tick_source = 0;
  return G_SOURCE_REMOVE;
}

gboolean
sm_accept_guard_admit (SmAcceptGuard     *self,
                       GSocketService    *service,
                       GSocketConnection *connection,
                       SmAcceptKind       kind)
{
  guint  limit;
  int    fd;
  gint64 now;

  g_return_val_if_fail (SM_IS_ACCEPT_GUARD (self), TRUE);
  g_return_val_if_fail (G_IS_SOCKET_SERVICE (service), TRUE);
  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (connection), TRUE);

  fd = g_socket_get_fd (g_socket_connection_get_socket (connection));
  limit = current_limit (self);
  if (sm_accept_guard_fd_ok (fd, limit, kind))
    return TRUE;

  /* Frees the descriptor now; the client sees the connection closed */
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);

  /* Stopped from its own "incoming" handler, the service queues no new
   * accept once the handler returns */
  if (!g_ptr_array_find (self->paused, service, NULL))
    {
      g_socket_service_stop (service);
      g_ptr_array_add (self->paused, g_object_ref (service));
    }
  g_debug ("Descriptor %d of %u: connection closed, listener paused", fd, limit);

  now = g_get_monotonic_time ();
  report (self, sm_accept_tally_refused (&self->tally, fd, limit, now), now);
  if (self->tick_source == 0)
    self->tick_source = g_timeout_add (self->pause_ms, on_tick, self);

  return FALSE;
}

void
sm_accept_guard_forget (SmAcceptGuard *self, GSocketService *service)
{
  g_return_if_fail (SM_IS_ACCEPT_GUARD (self));
  g_return_if_fail (G_IS_SOCKET_SERVICE (service));

  g_ptr_array_remove (self->paused, service);
}

guint
sm_accept_guard_get_n_paused (SmAcceptGuard *self)
{
  g_return_val_if_fail (SM_IS_ACCEPT_GUARD (self), 0);
  return self->paused->len;
}

void
sm_accept_guard_set_limit (SmAcceptGuard *self, guint limit)
{
  g_return_if_fail (SM_IS_ACCEPT_GUARD (self));
  self->limit = limit;
}

void
sm_accept_guard_set_timing (SmAcceptGuard *self, guint pause_ms, gint64 log_interval_us)
{
  g_return_if_fail (SM_IS_ACCEPT_GUARD (self));
  g_return_if_fail (pause_ms > 0 && log_interval_us > 0);

  self->pause_ms = pause_ms;
  self->tally.interval_us = log_interval_us;
}

static void
sm_accept_guard_dispose (GObject *object)
{
  SmAcceptGuard *self = SM_ACCEPT_GUARD (object);

  /* Whatever it paused stays stopped: only its owner still holds it */
  g_clear_handle_id (&self->tick_source, g_source_remove);
  g_clear_pointer (&self->paused, g_ptr_array_unref);

  G_OBJECT_CLASS (sm_accept_guard_parent_class)->dispose (object);
}

static void
sm_accept_guard_class_init (SmAcceptGuardClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = sm_accept_guard_dispose;
}

static void
sm_accept_guard_init (SmAcceptGuard *self)
{
  self->pause_ms = SM_ACCEPT_GUARD_DEFAULT_PAUSE_MS;
  sm_accept_tally_init (&self->tally, SM_ACCEPT_GUARD_DEFAULT_LOG_INTERVAL_US);
  self->paused = g_ptr_array_new_with_free_func (g_object_unref);
}

SmAcceptGuard *
sm_accept_guard_new (void)
{
  return g_object_new (SM_TYPE_ACCEPT_GUARD, NULL);
}

SmAcceptGuard *
sm_accept_guard_get_default (void)
{
  static SmAcceptGuard *guard;

  if (g_once_init_enter (&guard))
    g_once_init_leave (&guard, sm_accept_guard_new ());

  return guard;
}
