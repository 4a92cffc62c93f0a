/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <glib/gi18n.h>

#include "sm-ctl-time.h"

#define SECONDS_PER_MINUTE 60
#define SECONDS_PER_HOUR   (60 * SECONDS_PER_MINUTE)
#define SECONDS_PER_DAY    (24 * SECONDS_PER_HOUR)

char *
sm_ctl_format_time_ago (guint64 usec, gint64 now_usec)
{
  guint64 seconds;
  guint   days;

  if (usec == 0)
    return g_strdup ("-");
  /* A clock set back since then is no reason to print a negative age */
  if (now_usec < 0 || usec >= (guint64) now_usec)
    return g_strdup (_ ("just now"));

  seconds = ((guint64) now_usec - usec) / G_USEC_PER_SEC;
  if (seconds == 0)
    return g_strdup (_ ("just now"));
  if (seconds < SECONDS_PER_MINUTE)
    /* TRANSLATORS: an age in seconds, in a column of the tables */
    return g_strdup_printf (_ ("%u s ago"), (guint) seconds);
  if (seconds < SECONDS_PER_HOUR)
    return g_strdup_printf (_ ("%u min ago"), (guint) (seconds / SECONDS_PER_MINUTE));
  if (seconds < SECONDS_PER_DAY)
    return g_strdup_printf (_ ("%u h ago"), (guint) (seconds / SECONDS_PER_HOUR));
  days = (guint) MIN (seconds / SECONDS_PER_DAY, G_MAXUINT);
  return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u day ago", "%u days ago", days), days);
}

char *
sm_ctl_format_time_iso8601 (guint64 usec)
{
  g_autoptr (GDateTime) seconds = NULL;
  g_autoptr (GDateTime) time = NULL;

  if (usec == 0 || usec / G_USEC_PER_SEC > G_MAXINT64)
    return NULL;
  seconds = g_date_time_new_from_unix_utc ((gint64) (usec / G_USEC_PER_SEC));
  if (seconds == NULL)
    return NULL;
  time = g_date_time_add (seconds, (GTimeSpan) (usec % G_USEC_PER_SEC));
  return time != NULL ? g_date_time_format_iso8601 (time) : NULL;
}
