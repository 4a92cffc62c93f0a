/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The daemon's timestamps are microseconds since the Unix epoch, 0 for
 * none. For people: how long ago, "-" for none ("3 min ago"). */
char *sm_ctl_format_time_ago (guint64 usec, gint64 now_usec);
/* For programs: ISO 8601 in UTC with the microseconds, NULL for none */
char *sm_ctl_format_time_iso8601 (guint64 usec);

G_END_DECLS
