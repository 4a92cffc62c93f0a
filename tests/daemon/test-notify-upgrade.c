/* SPDX-License-Identifier: MIT */
/*
 * The notify protocol around an upgrade, against a fake service manager (a
 * Unix datagram socket of ours named by $NOTIFY_SOCKET) that receives the
 * descriptors sent with FDSTORE=1:
 *
 * - READY=1 with STATUS=, then FDSTORE=1 with FDNAME=control and the
 *   control listener, and FDSTORE=1 with the public listener once a
 *   service opened its port: each descriptor a listening socket on the
 *   right port;
 * - on SIGUSR2, MAINPID= with the new process's PID (which sends READY=1
 *   and stores the listeners again), and nothing from the old one that
 *   would stop the service (STOPPING=1) or empty the store
 *   (FDSTOREREMOVE=1).
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sm-test-notify.h"
#include "test-upgrade-util.h"

#define WAIT_MS 30000

/* The value of @key= in the datagram, or NULL */
static char *
get_value (const SmTestNotification *datagram, const char *key)
{
  g_auto (GStrv) lines = g_strsplit (datagram->state, "\n", -1);
  g_autofree char *prefix = g_strconcat (key, "=", NULL);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], prefix))
      return g_strdup (lines[i] + strlen (prefix));
  return NULL;
}

/* FDSTORE=1 with exactly one descriptor: a listening TCP socket on
 * 127.0.0.1:@port */
static void
check_stored_listener (const SmTestNotification *datagram, guint16 port)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketAddress) local = NULL;
  int       listening = 0;
  socklen_t len = sizeof listening;
  int       fd;

  g_assert_true (sm_test_notification_has_line (datagram, "FDSTORE=1"));
  g_assert_cmpuint (datagram->fds->len, ==, 1);
  fd = dup (g_array_index (datagram->fds, int, 0));
  g_assert_cmpint (getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len), ==, 0);
  g_assert_cmpint (listening, ==, 1);
  socket = g_socket_new_from_fd (fd, &error);
  g_assert_no_error (error);
  local = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)), ==, port);
}

static void
test_upgrade_notifies (void)
{
  SmTestNotifyManager manager = { 0 };
  g_autofree char *env_notify = NULL;
  g_autofree char *public_name = NULL;
  g_autofree char *main_pid = NULL;
  g_autoptr (SmTestNotification) ready = NULL;
  g_autoptr (SmTestNotification) control = NULL;
  g_autoptr (SmTestNotification) public = NULL;
  g_autoptr (SmTestNotification) taken_over = NULL;
  SmTestDaemon  *daemon;
  SmTestService *service;
  guint16        port = sm_test_free_port ();
  GPid           old_pid, new_pid;
  gboolean       stored_control = FALSE, stored_public = FALSE;

  sm_test_notify_manager_init (&manager);
  env_notify = g_strconcat ("NOTIFY_SOCKET=", manager.path, NULL);
  {
    const char *const extra[] = { "--no-bus", NULL };
    const char *const env[] = { env_notify, NULL };

    daemon = sm_test_daemon_start_full (30, extra, env);
  }
  old_pid = (GPid) g_ascii_strtoll (sm_test_process_get_identifier (daemon->process), NULL, 10);

  ready = sm_test_notify_wait_for (&manager, "READY=1", WAIT_MS);
  g_assert_nonnull (strstr (ready->state, "STATUS=0 ports, 0 services, 0 queued"));
  control = sm_test_notify_wait_for (&manager, "FDNAME=control", WAIT_MS);
  check_stored_listener (control, daemon->control_port);

  service = sm_test_service_new (daemon->control_address, port, NULL);
  public_name = g_strdup_printf ("FDNAME=public-tcp/1/127.0.0.1|%u", port);
  public = sm_test_notify_wait_for (&manager, public_name, WAIT_MS);
  check_stored_listener (public, port);

  /* The new process says it is the main one, and stores the listeners */
  sm_test_process_send_signal (daemon->process, SIGUSR2);
  taken_over = sm_test_notify_wait_for (&manager, "READY=1", WAIT_MS);
  main_pid = get_value (taken_over, "MAINPID");
  g_assert_nonnull (main_pid);
  new_pid = sm_test_upgrade_wait (daemon);
  g_assert_cmpint (new_pid, !=, old_pid);
  g_assert_cmpint (g_ascii_strtoll (main_pid, NULL, 10), ==, new_pid);

  /* Until the old process is gone (the service re-registers at once, so it
   * has nothing left to drain): nothing that stops the service or empties
   * the store */
  while (!stored_control || !stored_public || sm_test_process_is_running (daemon->process))
    {
      g_autoptr (SmTestNotification) datagram = sm_test_notify_receive (&manager, 100);

      if (datagram == NULL)
        {
          g_main_context_iteration (NULL, FALSE);
          continue;
        }
      g_assert_false (sm_test_notification_has_line (datagram, "STOPPING=1"));
      g_assert_null (strstr (datagram->state, "FDSTOREREMOVE=1"));
      if (sm_test_notification_has_line (datagram, "FDNAME=control"))
        {
          check_stored_listener (datagram, daemon->control_port);
          stored_control = TRUE;
        }
      if (sm_test_notification_has_line (datagram, public_name))
        {
          check_stored_listener (datagram, port);
          stored_public = TRUE;
        }
    }

  sm_test_service_free (service);
  sm_test_upgrade_stop (new_pid);
  sm_test_daemon_free (daemon);
  sm_test_notify_manager_clear (&manager);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  sm_test_upgrade_init ();
  g_test_add_func ("/notify/upgrade", test_upgrade_notifies);
  return g_test_run ();
}
