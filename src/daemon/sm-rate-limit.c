/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-rate-limit.h"

void
sm_rate_limit_init (SmRateLimit *self,
                    gint64       interval_us,
                    guint        burst)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (interval_us > 0 && burst > 0);

  *self = (SmRateLimit) SM_RATE_LIMIT_INIT (interval_us, burst);
}

gboolean
sm_rate_limit_check (SmRateLimit *self,
                     gint64       now,
                     guint       *out_suppressed)
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
