/* SPDX-License-Identifier: MIT */
/*
 * socketmasterctl's timestamps: relative ages in the tables, ISO 8601 in
 * the JSON, from the daemon's microseconds since the epoch.
 */
#include "config.h"

#include "sm-ctl-time.h"

#define SECOND G_USEC_PER_SEC
#define MINUTE (G_GINT64_CONSTANT (60) * SECOND)
#define HOUR   (60 * MINUTE)
#define DAY    (24 * HOUR)

static void
assert_ago (guint64     usec,
            gint64      now,
            const char *expected)
{
  g_autofree char *text = sm_ctl_format_time_ago (usec, now);

  g_assert_cmpstr (text, ==, expected);
}

static void
test_ago (void)
{
  const gint64 now = G_GINT64_CONSTANT (1780000000) * SECOND + 123456;

  assert_ago (0, now, "-");
  assert_ago (now, now, "just now");
  assert_ago (now - SECOND + 1, now, "just now");
  /* A clock set back */
  assert_ago (now + HOUR, now, "just now");
  assert_ago (now - SECOND, now, "1 s ago");
  assert_ago (now - 59 * SECOND, now, "59 s ago");
  assert_ago (now - MINUTE, now, "1 min ago");
  assert_ago (now - 3 * MINUTE - 59 * SECOND, now, "3 min ago");
  assert_ago (now - 59 * MINUTE, now, "59 min ago");
  assert_ago (now - HOUR, now, "1 h ago");
  assert_ago (now - 23 * HOUR - 59 * MINUTE, now, "23 h ago");
  assert_ago (now - DAY, now, "1 day ago");
  assert_ago (now - 400 * DAY, now, "400 days ago");
  assert_ago (1, now, "20601 days ago");
}

static void
assert_iso8601 (guint64     usec,
                const char *expected)
{
  g_autofree char *text = sm_ctl_format_time_iso8601 (usec);

  g_assert_cmpstr (text, ==, expected);
}

static void
test_iso8601 (void)
{
  assert_iso8601 (0, NULL);
  assert_iso8601 (G_GUINT64_CONSTANT (1780000000) * SECOND, "2026-05-28T20:26:40Z");
  assert_iso8601 (G_GUINT64_CONSTANT (1780000000) * SECOND + 123456,
                  "2026-05-28T20:26:40.123456Z");
  assert_iso8601 (1, "1970-01-01T00:00:00.000001Z");
  /* Beyond what GDateTime holds (year 9999): none rather than garbage */
  assert_iso8601 (G_MAXUINT64, NULL);
}

int
main (int   argc,
      char *argv[])
{
  /* The English strings, whatever the test's environment says */
  g_setenv ("LANGUAGE", "C", TRUE);
  g_setenv ("LC_ALL", "C", TRUE);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/ctl-time/ago", test_ago);
  g_test_add_func ("/ctl-time/iso8601", test_iso8601);

  return g_test_run ();
}
