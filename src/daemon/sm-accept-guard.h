/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Keeps the listeners' own accept() from ever failing with EMFILE.
 *
 * Out of descriptors, GLib's GSocketService logs "fail: Too many open
 * files" and queues the next accept at once: the listening socket is still
 * readable, so it spins at 100% CPU and logs tens of thousands of lines a
 * second. So every "incoming" handler hands the accepted connection to the
 * guard first. Linux hands out the lowest free descriptor, so the number of
 * the new socket says how many are in use at least: one at or past
 * RLIMIT_NOFILE minus a reserve is closed at once (the client gets a prompt
 * close rather than a wait in the backlog), and that listener's
 * GSocketService is stopped until the guard's next tick (one every pause,
 * while descriptors run out), then started again. The
 * reserve is kept for what the daemon needs besides public connections
 * (see sm_accept_guard_reserve()). Refusals are counted and logged once
 * per log interval at most, never per connection.
 *
 * One guard for the whole process (the limit is the process's):
 * sm_accept_guard_get_default(). The decisions are pure functions (the
 * reserve, SmAcceptTally) so they can be tested without running out of
 * anything; SmAcceptGuard does the I/O around them.
 */

#include <gio/gio.h>

G_BEGIN_DECLS

/* The longest a listener stays stopped after a refusal */
#define SM_ACCEPT_GUARD_DEFAULT_PAUSE_MS 250
/* At most one log line per this, while descriptors run out */
#define SM_ACCEPT_GUARD_DEFAULT_LOG_INTERVAL_US (5 * G_USEC_PER_SEC)

typedef enum
{
  SM_ACCEPT_PUBLIC,  /* public ports: stop first */
  SM_ACCEPT_CONTROL, /* the control port: may use half of the reserve, so
                      * services still register while the public side is
                      * out of descriptors */
} SmAcceptKind;

/* ---- Pure decisions ---- */

/* Descriptors kept free below @limit (RLIMIT_NOFILE) for a listener of
 * @kind */
guint    sm_accept_guard_reserve (guint limit, SmAcceptKind kind);
/* TRUE if a connection accepted as descriptor @fd may be kept */
gboolean sm_accept_guard_fd_ok (int fd, guint limit, SmAcceptKind kind);

typedef enum
{
  SM_ACCEPT_REPORT_NONE,
  SM_ACCEPT_REPORT_EXHAUSTED, /* the first refusal of an episode */
  SM_ACCEPT_REPORT_STILL,     /* a refusal an interval after the last line */
  SM_ACCEPT_REPORT_RECOVERED, /* an interval went by without refusals */
} SmAcceptReport;

/* Counts refusals and says when to log. An episode starts with a refusal
 * and ends once @interval_us passed without one. */
typedef struct
{
  gint64   interval_us;
  gboolean exhausted;
  gint64   episode_start;
  gint64   last_line;
  gint64   last_refusal;
  guint64  refused;       /* since the last line */
  guint64  refused_total; /* in this episode */
  int      max_fd;        /* highest descriptor refused since the last line */
  guint    limit;         /* the limit at that time */
} SmAcceptTally;

void           sm_accept_tally_init (SmAcceptTally *self, gint64 interval_us);
/* One connection refused at @now, accepted as @fd under @limit */
SmAcceptReport sm_accept_tally_refused (SmAcceptTally *self, int fd, guint limit, gint64 now);
/* Called regularly while an episode is on (at the end of each pause): ends
 * it once an interval passed without refusals */
SmAcceptReport sm_accept_tally_tick (SmAcceptTally *self, gint64 now);
/* After a report other than NONE, once its line is written: starts
 * counting for the next line */
void           sm_accept_tally_logged (SmAcceptTally *self, gint64 now);

/* ---- The guard ---- */

#define SM_TYPE_ACCEPT_GUARD (sm_accept_guard_get_type ())
G_DECLARE_FINAL_TYPE (SmAcceptGuard, sm_accept_guard, SM, ACCEPT_GUARD, GObject)

/* The process's guard, created on first use (never freed) */
SmAcceptGuard *sm_accept_guard_get_default (void);
SmAcceptGuard *sm_accept_guard_new (void);

/* For tests: a fixed limit instead of RLIMIT_NOFILE's soft limit (0: that
 * one again), another pause and log interval */
void           sm_accept_guard_set_limit (SmAcceptGuard *self, guint limit);
void     sm_accept_guard_set_timing (SmAcceptGuard *self, guint pause_ms, gint64 log_interval_us);

/* In the "incoming" handler of @service, before anything else. FALSE: the
 * guard closed @connection and paused @service; return at once. */
gboolean sm_accept_guard_admit (SmAcceptGuard     *self,
                                GSocketService    *service,
                                GSocketConnection *connection,
                                SmAcceptKind       kind);
/* The owner stops @service for good: a pause no longer restarts it */
void     sm_accept_guard_forget (SmAcceptGuard *self, GSocketService *service);
guint    sm_accept_guard_get_n_paused (SmAcceptGuard *self);

G_END_DECLS
