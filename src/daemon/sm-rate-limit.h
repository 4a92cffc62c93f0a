/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Bounds how often messages caused by remote input are logged: at most
 * @burst per @interval_us, the rest are counted and reported with the next
 * message that gets through. Pure: the caller passes the time.
 */

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  gint64   interval_us;
  guint    burst;
  gboolean in_window;
  gint64   window_start;
  guint    count;
  guint    suppressed;
} SmRateLimit;

#define SM_RATE_LIMIT_INIT(interval_us, burst) \
  {                                            \
    (interval_us), (burst), FALSE, 0, 0, 0     \
  }

void     sm_rate_limit_init (SmRateLimit *self, gint64 interval_us, guint burst);
/* TRUE if a message may be logged at @now; then *out_suppressed (may be
 * NULL) tells how many were held back since the last one logged. */
gboolean sm_rate_limit_check (SmRateLimit *self, gint64 now, guint *out_suppressed);

/* "" or " (N similar messages suppressed)", to end the message with */
char    *sm_rate_limit_describe_suppressed (guint suppressed);

/* Logs the message at @level (in the "socketmaster" log domain) if
 * sm_rate_limit_check() allows it now, ended with how many were held
 * back since the last one. */
void     sm_rate_limit_log (SmRateLimit *self, GLogLevelFlags level, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

G_END_DECLS
