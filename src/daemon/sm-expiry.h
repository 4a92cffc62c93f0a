/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Keeps one timeout armed for the oldest entry of a FIFO whose entries
 * expire @hold_us after they were queued (@oldest_queued_at, monotonic;
 * negative when the queue is empty, which disarms it). An armed timer is
 * left alone: later entries expire later, so it fires first, and its
 * callback (which must zero *@source) calls this again. */
void sm_expiry_schedule (guint      *source,
                         gint64      oldest_queued_at,
                         gint64      hold_us,
                         GSourceFunc func,
                         gpointer    data);

G_END_DECLS
