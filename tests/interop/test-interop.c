/* SPDX-License-Identifier: MIT */
/*
 * Interoperability with hashicorp/yamux, the library of the original Go
 * socketmaster and its clients:
 *  - our daemon with a Go service (yamux.Server) that pings every 100 ms;
 *  - our client library (examples/tcp-echo) with a Go stand-in for the
 *    daemon (yamux.Client) that opens streams and pings.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "sm-interop-util.h"
#include "sm-test-util.h"

#define WAIT_MS 30000

static SmTestProcess *
start_go_echo (SmTestDaemon *daemon,
               guint16       port)
{
  g_autofree char *port_arg = g_strdup_printf ("%u", port);
  g_autofree char *ready = g_strdup_printf ("go-echo: serving port %u", port);
  const char *argv[] = {
    SM_TEST_GO_ECHO_SERVICE, "-control", daemon->control_address, "-port", port_arg,
    "-keepalive", "100ms", "-ping-timeout", "2s", NULL
  };
  SmTestProcess *go_echo = sm_test_process_spawn ("go-echo", argv);

  sm_test_process_wait_for_line (go_echo, ready, WAIT_MS);
  return go_echo;
}

static void
test_go_service_through_daemon (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  g_autofree char *left = g_strdup_printf ("Service * left *:%u", port);
  SmTestProcess *go_echo = start_go_echo (daemon, port);
  const char *stats;

  sm_test_echo_many (port, 8, 1024 * 1024, 2 * WAIT_MS);

  /* The Go side pings every 100 ms and ends the session if an answer takes
   * over 2 s: twenty answers span about two seconds of keep-alives */
  sm_test_process_wait_for_line (go_echo, "go-echo: keep-alive answered 20", WAIT_MS);
  g_assert_true (sm_test_process_is_running (go_echo));
  g_assert_cmpuint (sm_test_process_count_lines (daemon->process, left), ==, 0);
  sm_test_echo_many (port, 4, 256 * 1024, WAIT_MS);

  sm_test_process_terminate (go_echo, FALSE);
  stats = sm_test_process_wait_for_line (go_echo, "go-echo: stats ", WAIT_MS);
  g_assert_cmpuint (stat_value (stats, "pongs-received"), >=, 20);
  g_assert_cmpuint (stat_value (stats, "pings-sent"), >=, stat_value (stats, "pongs-received"));
  g_assert_cmpuint (stat_value (stats, "streams"), ==, 12);
  /* Our daemon pings every 30 s: none expected in a short test, but any
   * it sent were answered */
  g_assert_cmpuint (stat_value (stats, "pongs-sent"), ==, stat_value (stats, "pings-received"));
  sm_test_daemon_wait_for_line (daemon, left, WAIT_MS);

  sm_test_process_free (go_echo);
  sm_test_daemon_stop (daemon);
}

static void
test_client_library_with_go_daemon (void)
{
  guint16 port = sm_test_free_port ();
  g_autofree char *port_arg = g_strdup_printf ("%u", port);
  const char *fake_argv[] = {
    SM_TEST_GO_FAKE_DAEMON, "-streams", "16", "-size", "1048576", "-pings", "5",
    "-keepalive", "100ms", "-keepalives", "10", "-expect-port", port_arg, NULL
  };
  const char *prefix = "go-fake-daemon: listening on ";
  SmTestProcess *fake = sm_test_process_spawn ("go-fake-daemon", fake_argv);
  SmTestProcess *echo;
  g_autofree char *control = NULL;
  int status;

  control = g_strdup (strstr (sm_test_process_wait_for_line (fake, prefix, WAIT_MS), prefix) +
                      strlen (prefix));
  echo = sm_test_tcp_echo_start (control, port, "tcp-echo");

  status = sm_test_process_wait_exit (fake, 4 * WAIT_MS);
  if (status != 0)
    sm_test_fail ("go-fake-daemon failed (status %d)", status);
  sm_test_process_wait_for_line (fake, "go-fake-daemon: OK ", WAIT_MS);

  /* The session ended; the library may be reconnecting by now */
  sm_test_process_terminate (echo, FALSE);
  sm_test_process_free (echo);
  sm_test_process_free (fake);
}

int
main (int   argc,
      char *argv[])
{
  signal (SIGPIPE, SIG_IGN);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/interop/go-service-through-daemon", test_go_service_through_daemon);
  g_test_add_func ("/interop/client-library-with-go-daemon", test_client_library_with_go_daemon);

  return g_test_run ();
}
