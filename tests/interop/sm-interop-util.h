/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers of test-interop.c and test-http-interop.c: reading the Go
 * peers' summary lines.
 */

#include <string.h>
#include <glib.h>

#include "sm-test-util.h"

/* The number after " NAME=" in a stats line such as
 * "go-echo: stats pings-sent=3 streams=12"; fails the test without one */
static inline guint64
stat_value (const char *line,
            const char *name)
{
  g_autofree char *key = g_strconcat (" ", name, "=", NULL);
  const char *found = strstr (line, key);

  if (found == NULL)
    sm_test_fail ("no %s in \"%s\"", name, line);
  return g_ascii_strtoull (found + strlen (key), NULL, 10);
}
