/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-expiry.h"

void
sm_expiry_schedule (guint      *source,
                    gint64      oldest_queued_at,
                    gint64      hold_us,
                    GSourceFunc func,
                    gpointer    data)
{
  gint64 remaining_us;

  if (oldest_queued_at < 0)
    {
      g_clear_handle_id (source, g_source_remove);
      return;
    }
  if (*source != 0)
    return;

  remaining_us = MAX (0, oldest_queued_at + hold_us - g_get_monotonic_time ());
  *source = g_timeout_add ((guint) ((remaining_us + 999) / 1000), func, data);
}
