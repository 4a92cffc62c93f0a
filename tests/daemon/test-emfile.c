/* SPDX-License-Identifier: MIT */
/*
 * Calm under descriptor exhaustion (issue 9): the daemon, its limit lowered
 * to 64 descriptors (prlimit(2), as `prlimit --nofile=64` would), gets many
 * more public connections than that, held open. It must stay alive and
 * responsive (services still register meanwhile; after the flood a normal
 * connection is served), log a bounded number of lines about it, never
 * GLib's "fail: Too many open files", and not spin.
 */
#define _GNU_SOURCE
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sm-test-util.h"

#define WAIT_MS  30000
#define LIMIT    64
#define N_FLOOD  300
/* Connections the daemon closes while the flood is held: one per pause of
 * 250 ms, so the hold lasts over a second */
#define N_HOLD   6

typedef struct {
  GSocket *socket;
  guint   *n_closed;
} FloodConnection;

static void
flood_connection_free (gpointer data)
{
  FloodConnection *connection = data;

  g_object_unref (connection->socket);
  g_free (connection);
}

/* The daemon never sends on these (the service has no tag): readable means
 * it closed the connection */
static gboolean
on_flood_readable (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  FloodConnection *connection = user_data;

  (*connection->n_closed)++;
  return G_SOURCE_REMOVE;
}

static GPtrArray *
flood_open (guint16 port, guint n, guint *n_closed)
{
  GPtrArray *flood = g_ptr_array_new_with_free_func (flood_connection_free);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSource) source = NULL;
      FloodConnection *connection = g_new0 (FloodConnection, 1);

      /* The kernel completes the connection; it waits in the backlog */
      connection->socket = sm_test_connect (port, &error);
      g_assert_no_error (error);
      connection->n_closed = n_closed;
      g_ptr_array_add (flood, connection);

      source = g_socket_create_source (connection->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
      g_source_set_callback (source, G_SOURCE_FUNC (on_flood_readable), connection, NULL);
      g_source_attach (source, NULL);
    }
  return flood;
}

static void
flood_close (GPtrArray *flood)
{
  for (guint i = 0; i < flood->len; i++)
    {
      FloodConnection *connection = g_ptr_array_index (flood, i);
      GSource *source = g_main_context_find_source_by_user_data (NULL, connection);

      if (source != NULL)
        g_source_destroy (source);
    }
  g_ptr_array_unref (flood);
}

static pid_t
daemon_pid (SmTestDaemon *daemon)
{
  const char *id = sm_test_process_get_identifier (daemon->process);

  g_assert_nonnull (id);
  return (pid_t) atoi (id);
}

/* utime + stime of @pid, in microseconds */
static gint64
cpu_time_us (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *contents = NULL;
  g_auto(GStrv) fields = NULL;
  g_autoptr(GError) error = NULL;
  const char *after_name;
  long ticks_per_second = sysconf (_SC_CLK_TCK);

  g_assert_true (g_file_get_contents (path, &contents, NULL, &error));
  g_assert_no_error (error);
  /* Fields 14 and 15 (utime, stime); the name (field 2) may hold spaces */
  after_name = strrchr (contents, ')');
  g_assert_nonnull (after_name);
  fields = g_strsplit (after_name + 2, " ", 0);
  g_assert_cmpuint (g_strv_length (fields), >, 12);
  g_assert_cmpint (ticks_per_second, >, 0);

  return (g_ascii_strtoll (fields[11], NULL, 10) + g_ascii_strtoll (fields[12], NULL, 10)) *
         G_USEC_PER_SEC / ticks_per_second;
}

static gboolean
n_closed_reached (gpointer data)
{
  return *(guint *) data >= N_HOLD;
}

static void
test_flood (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  guint16 second_port;
  g_autoptr(SmTestService) service = NULL;
  g_autoptr(SmTestService) second = NULL;
  struct rlimit limit = { LIMIT, LIMIT };
  GPtrArray *flood;
  guint n_closed = 0;
  guint n_lines;
  gint64 cpu_before, cpu_after, wall_before, wall_after;
  pid_t pid = daemon_pid (daemon);

  service = sm_test_service_new (daemon->control_address, port, NULL);
  sm_test_echo_many (port, 2, 4096, WAIT_MS);

  g_assert_cmpint (prlimit (pid, RLIMIT_NOFILE, &limit, NULL), ==, 0);

  /* Far more than the limit allows, all held open */
  flood = flood_open (port, N_FLOOD, &n_closed);
  sm_test_daemon_wait_for_line (daemon, "Out of file descriptors", WAIT_MS);

  /* Held while the daemon closes a few more, one per pause */
  cpu_before = cpu_time_us (pid);
  wall_before = g_get_monotonic_time ();
  n_closed = 0;
  if (!sm_test_wait_until (n_closed_reached, &n_closed, WAIT_MS))
    sm_test_fail ("the daemon closed %u flood connections, expected %u", n_closed, N_HOLD);
  cpu_after = cpu_time_us (pid);
  wall_after = g_get_monotonic_time ();
  g_assert_true (sm_test_process_is_running (daemon->process));
  g_test_message ("daemon CPU time while the flood was held: %" G_GINT64_FORMAT
                  " ms of %" G_GINT64_FORMAT " ms",
                  (cpu_after - cpu_before) / 1000, (wall_after - wall_before) / 1000);
  /* Spinning would take about all of it; a machine too busy to give it
   * that can only make it smaller */
  g_assert_cmpint (cpu_after - cpu_before, <, (wall_after - wall_before) / 2);

  /* The control port keeps part of the reserve: services still register */
  second_port = sm_test_free_port ();
  second = sm_test_service_new (daemon->control_address, second_port, NULL);

  /* Once the flood is gone (the episode ends with a line once nothing was
   * refused for a while: until then, connections still in the backlog or
   * not yet closed by the daemon may keep it at its reserve, and a new
   * one may be refused), connections are served again */
  flood_close (flood);
  sm_test_daemon_wait_for_line (daemon, "accepting again", WAIT_MS);
  sm_test_echo_many (port, 4, 4096, WAIT_MS);
  sm_test_echo_many (second_port, 2, 4096, WAIT_MS);

  /* A bounded number of lines in all, none from GLib's accept loop */
  n_lines = sm_test_process_count_lines (daemon->process, "descriptors");
  g_test_message ("%u lines about descriptors", n_lines);
  g_assert_cmpuint (n_lines, >=, 2);
  g_assert_cmpuint (n_lines, <=, 6);
  g_assert_cmpuint (sm_test_process_count_lines (daemon->process, "fail:"), ==, 0);
  g_assert_cmpuint (sm_test_process_count_lines (daemon->process, "Too many open files"), ==, 0);

  g_clear_pointer (&second, sm_test_service_free);
  g_clear_pointer (&service, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/emfile/flood", test_flood);

  return g_test_run ();
}
