/* SPDX-License-Identifier: MIT */
/*
 * systemd's notify protocol against a fake service manager: a Unix
 * datagram socket of ours named by $NOTIFY_SOCKET. The daemon says
 * READY=1 with a STATUS= once it listens, a new STATUS= after a
 * registration, and STOPPING=1 when it drains.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>

#include "sm-notify.h"
#include "sm-test-notify.h"
#include "sm-test-util.h"

#define WAIT_MS 30000

/* The next datagram, as text; fails the test after WAIT_MS */
static char *
receive_state (SmTestNotifyManager *manager)
{
  g_autoptr (SmTestNotification) notification = sm_test_notify_receive (manager, WAIT_MS);

  if (notification == NULL)
    sm_test_fail ("no notification within %d ms", WAIT_MS);
  return g_steal_pointer (&notification->state);
}

/* Skips datagrams until one holds @line as a whole line */
static void
wait_for_state (SmTestNotifyManager *manager, const char *line)
{
  sm_test_notification_free (sm_test_notify_wait_for (manager, line, WAIT_MS));
}

static void
test_format_status (void)
{
  g_autofree char *status = sm_notify_format_status (2, 3, 4);

  g_assert_cmpstr (status, ==, "2 ports, 3 services, 4 queued");
}

/* In process: sm_notify_send() to a path and to nothing */
static void
test_send (void)
{
  SmTestNotifyManager manager = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *state = NULL;

  sm_test_notify_manager_init (&manager);
  g_setenv ("NOTIFY_SOCKET", manager.path, TRUE);
  g_assert_true (sm_notify_send ("STATUS=hello", &error));
  g_assert_no_error (error);
  state = receive_state (&manager);
  g_assert_cmpstr (state, ==, "STATUS=hello");

  g_unsetenv ("NOTIFY_SOCKET");
  g_assert_false (sm_notify_send ("STATUS=nobody", &error));
  g_assert_no_error (error);
  sm_test_notify_manager_clear (&manager);
}

/* "@NAME": a socket in the abstract namespace */
static void
test_send_abstract (void)
{
  g_autofree char *name = g_strdup_printf ("sm-test-notify-%d-%u", getpid (), g_random_int ());
  g_autofree char *env = g_strconcat ("@", name, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketAddress) address = NULL;
  g_autoptr (GSocket) socket = NULL;
  SmTestNotifyManager manager = { 0 };
  g_autofree char *state = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_DEFAULT,
                         &error);
  g_assert_no_error (error);
  address = g_unix_socket_address_new_with_type (name, -1, G_UNIX_SOCKET_ADDRESS_ABSTRACT);
  g_socket_bind (socket, address, FALSE, &error);
  g_assert_no_error (error);

  g_setenv ("NOTIFY_SOCKET", env, TRUE);
  g_assert_true (sm_notify_send ("READY=1", &error));
  g_assert_no_error (error);
  g_unsetenv ("NOTIFY_SOCKET");
  manager.socket = socket;
  state = receive_state (&manager);
  g_assert_cmpstr (state, ==, "READY=1");
}

static void
test_daemon (void)
{
  SmTestNotifyManager manager = { 0 };
  g_autofree char *env_socket = NULL;
  SmTestDaemon *daemon;
  SmTestService *service;
  guint16 port = sm_test_free_port ();
  g_autofree char *state = NULL;

  sm_test_notify_manager_init (&manager);
  env_socket = g_strconcat ("NOTIFY_SOCKET=", manager.path, NULL);
  daemon = sm_test_daemon_start_full (30, NULL, (const char *const[]){ env_socket, NULL });

  state = receive_state (&manager);
  g_assert_cmpstr (state, ==, "READY=1\nSTATUS=0 ports, 0 services, 0 queued");

  service = sm_test_service_new (daemon->control_address, port, NULL);
  wait_for_state (&manager, "STATUS=1 ports, 1 services, 0 queued");

  sm_test_process_send_signal (daemon->process, SIGTERM);
  wait_for_state (&manager, "STOPPING=1");
  sm_test_service_free (service);
  g_assert_cmpint (sm_test_process_wait_exit (daemon->process, WAIT_MS), ==, 0);
  sm_test_daemon_free (daemon);
  sm_test_notify_manager_clear (&manager);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/notify/format-status", test_format_status);
  g_test_add_func ("/notify/send", test_send);
  g_test_add_func ("/notify/send-abstract", test_send_abstract);
  g_test_add_func ("/notify/daemon", test_daemon);

  return g_test_run ();
}
