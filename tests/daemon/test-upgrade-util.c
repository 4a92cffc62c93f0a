/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-upgrade-util.h"

#define TIMEOUT_MS 60000

/* ---- Who holds a socket ---- */

/* The inode of the socket listening on 127.0.0.1:@port, from /proc/net/tcp */
guint64
sm_test_listening_inode (guint16 port)
{
  g_autofree char *table = NULL;
  g_autofree char *local = g_strdup_printf ("0100007F:%04X", port);
  g_auto (GStrv) lines = NULL;

  g_assert_true (g_file_get_contents ("/proc/net/tcp", &table, NULL, NULL));
  lines = g_strsplit (table, "\n", -1);
  for (guint i = 1; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = g_strsplit_set (g_strstrip (lines[i]), " ", -1);
      g_autoptr (GPtrArray) words = g_ptr_array_new ();

      for (guint j = 0; fields[j] != NULL; j++)
        if (fields[j][0] != '\0')
          g_ptr_array_add (words, fields[j]);
      /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
      if (words->len >= 10 && g_str_equal (words->pdata[1], local) &&
          g_str_equal (words->pdata[3], "0A"))
        return g_ascii_strtoull (words->pdata[9], NULL, 10);
    }
  sm_test_fail ("nothing listens on 127.0.0.1:%u", port);
}

gboolean
sm_test_process_holds_socket (GPid pid, guint64 inode)
{
  g_autofree char *dir_path = g_strdup_printf ("/proc/%d/fd", (int) pid);
  g_autofree char *wanted = g_strdup_printf ("socket:[%" G_GUINT64_FORMAT "]", inode);
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *name;

  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir_path, name, NULL);
      g_autofree char *target = g_file_read_link (path, NULL);

      if (g_strcmp0 (target, wanted) == 0)
        return TRUE;
    }
  return FALSE;
}

/* ---- The upgrade ---- */

/* Killed if the test fails before stopping it (it is no GSubprocess) */
static pid_t successor_pid;

static void
kill_successor (void)
{
  if (successor_pid > 0)
    kill (successor_pid, SIGKILL);
}

/* A failed assertion aborts without atexit handlers */
static void
on_abort (int signal_number)
{
  kill_successor ();
  signal (signal_number, SIG_DFL);
  raise (signal_number);
}

typedef struct
{
  pid_t    pid;
  gboolean exited;
  int      status;
} Successor;

static gboolean
successor_exited (gpointer data)
{
  Successor *successor = data;

  return successor->exited;
}

static void
on_successor_exited (GPid pid, gint status, gpointer data)
{
  Successor *successor = data;

  successor->status = status;
  successor->exited = TRUE;
  g_spawn_close_pid (pid);
}

GPid
sm_test_upgrade_wait (SmTestDaemon *daemon)
{
  const char      *line;
  const char      *found;
  g_autofree char *digits = NULL;
  guint64          pid = 0;

  line = sm_test_process_wait_for_line (daemon->process, "is ready and takes over", TIMEOUT_MS);
  found = strstr (line, "process ");
  g_assert_nonnull (found);
  digits = g_strndup (found + 8, strspn (found + 8, "0123456789"));
  g_assert_true (g_ascii_string_to_unsigned (digits, 10, 1, G_MAXINT, &pid, NULL));
  g_test_message ("process %" G_GUINT64_FORMAT " takes over", pid);
  successor_pid = (pid_t) pid;
  return (GPid) pid;
}

GPid
sm_test_upgrade (SmTestDaemon *daemon)
{
  sm_test_process_send_signal (daemon->process, SIGUSR2);
  return sm_test_upgrade_wait (daemon);
}

void
sm_test_upgrade_stop (GPid pid)
{
  Successor successor = { pid, FALSE, 0 };

  /* Ours since the old daemon exited (we are a subreaper) */
  g_child_watch_add (pid, on_successor_exited, &successor);
  g_assert_cmpint (kill (pid, SIGTERM), ==, 0);
  if (!sm_test_wait_until (successor_exited, &successor, TIMEOUT_MS))
    {
      kill (pid, SIGKILL);
      sm_test_fail ("the new daemon (%d) did not stop", (int) pid);
    }
  successor_pid = 0;
  g_assert_true (WIFEXITED (successor.status));
  g_assert_cmpint (WEXITSTATUS (successor.status), ==, 0);
}

void
sm_test_upgrade_init (void)
{
  /* The new daemon is orphaned when the old one exits: it becomes ours */
  if (prctl (PR_SET_CHILD_SUBREAPER, 1) != 0)
    g_error ("PR_SET_CHILD_SUBREAPER: %s", g_strerror (errno));
  atexit (kill_successor);
  signal (SIGABRT, on_abort);
}
