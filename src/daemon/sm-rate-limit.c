/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-rate-limit.h"

void
sm_rate_limit_init (SmRateLimit *self, gint64 interval_us, guint burst)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (interval_us > 0 && burst > 0);

  *self = (SmRateLimit) SM_RATE_LIMIT_INIT (interval_us, burst);
}

gboolean
sm_rate_limit_check (SmRateLimit *self, gint64 now, guint *out_suppressed)
{
  g_return_val_if_fail (self != NULL, FALSE);

  /* Unsigned distance: now - window_start could overflow gint64 */
  if (!self->in_window || now < self->window_start ||
      (guint64) now - (guint64) self->window_start >= (guint64) self->interval_us)
    {
      self->in_window = TRUE;
      self->window_start = now;
      self->count = 0;
    }

  if (self->count >= self->burst)
    {
      if (self->suppressed < G_MAXUINT)
        self->suppressed++;
      return FALSE;
    }

  self->count++;
  if (out_suppressed != NULL)
    *out_suppressed = self->suppressed;
  self->suppressed = 0;
  return TRUE;
}

char *
sm_rate_limit_describe_suppressed (guint suppressed)
{
  if (suppressed == 0)
    return g_strdup ("");

  return g_strdup_printf (" (%u similar messages suppressed)", suppressed);
}

void
sm_rate_limit_log (SmRateLimit *self, GLogLevelFlags level, const char *format, ...)
{
  g_autofree char *message = NULL;
  g_autofree char *more = NULL;
  guint            suppressed = 0;
  va_list          args;

  if (!sm_rate_limit_check (self, g_get_monotonic_time (), &suppressed))
    return;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  more = sm_rate_limit_describe_suppressed (suppressed);
  g_log (G_LOG_DOMAIN, level, "%s%s", message, more);
}
