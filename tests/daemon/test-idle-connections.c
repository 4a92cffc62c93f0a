/* SPDX-License-Identifier: MIT */
/*
 * Many idle keep-alive connections: 2,000 clients that each made one
 * request and stay connected must not stop other requests from being
 * served, must keep working themselves, and must not hold buffers in the
 * daemon. (How fast requests go meanwhile is measured by
 * tests/bench/scale-bench, not asserted here.)
 */
#include "config.h"

#include <sys/resource.h>

#include "sm-test-http-client.h"
#include "sm-test-util.h"

#define N_IDLE 2000
/* Daemon memory per idle connection that would mean it keeps buffers
 * for them (an I/O buffer is 64 KiB; the target is about 2 KiB) */
#define MAX_KIB_PER_IDLE 8
/* AddressSanitizer's redzones and its quarantine of freed memory (up to
 * 256 MiB) make the daemon's RSS say nothing about what it keeps */
#if defined(__SANITIZE_ADDRESS__)
#define CHECK_MEMORY FALSE
#else
#define CHECK_MEMORY TRUE
#endif

static gboolean
raise_descriptor_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
    return FALSE;
  /* The clients here and their connections in the daemon, which inherits it */
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < 2 * N_IDLE + 256)
    return FALSE;
  limit.rlim_cur = MAX (limit.rlim_cur, (rlim_t) (2 * N_IDLE + 256));
  return setrlimit (RLIMIT_NOFILE, &limit) == 0;
}

static void
assert_hello (SmTestHttpConnection *connection)
{
  g_autoptr (SmTestHttpReply) reply = sm_test_http_get (connection, "example.com", "/idle");

  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_true (reply->keep_alive);
}

static void
test_idle_keep_alive (void)
{
  SmTestDaemon  *daemon;
  g_autoptr (GPtrArray) idle = NULL;
  SmTestProcess *service;
  guint16        port;
  guint64        before_kib, after_kib;

  if (!raise_descriptor_limit ())
    {
      g_test_skip ("needs a descriptor limit of at least 2 * " G_STRINGIFY (N_IDLE));
      return;
    }

  daemon = sm_test_http_daemon_start (30, FALSE, NULL);
  port = sm_test_free_port ();
  service = sm_test_http_service_start (daemon, port, "", "", "idle");

  /* Warm up, so that what is measured below is what idle connections add */
  for (guint i = 0; i < 20; i++)
    {
      g_autoptr (SmTestHttpConnection) connection = sm_test_http_connect (port);
      assert_hello (connection);
    }
  before_kib = sm_test_process_memory_kib (daemon->process, "VmRSS");

  idle = g_ptr_array_new_with_free_func ((GDestroyNotify) sm_test_http_connection_free);
  for (guint i = 0; i < N_IDLE; i++)
    {
      SmTestHttpConnection *connection = sm_test_http_connect (port);

      assert_hello (connection);
      g_ptr_array_add (idle, connection);
    }
  after_kib = sm_test_process_memory_kib (daemon->process, "VmRSS");
  g_test_message ("daemon VmRSS %" G_GUINT64_FORMAT " KiB before, %" G_GUINT64_FORMAT
                  " KiB with %u idle keep-alive connections",
                  before_kib, after_kib, N_IDLE);
  if (CHECK_MEMORY)
    g_assert_cmpuint (after_kib, <=, before_kib + (guint64) N_IDLE * MAX_KIB_PER_IDLE);

  /* New clients are served while they are held */
  for (guint i = 0; i < 50; i++)
    {
      g_autoptr (SmTestHttpConnection) connection = sm_test_http_connect (port);
      assert_hello (connection);
      assert_hello (connection);
    }

  /* And the idle ones still work, first and last included */
  for (guint i = 0; i < N_IDLE; i += 97)
    assert_hello (g_ptr_array_index (idle, i));
  assert_hello (g_ptr_array_index (idle, N_IDLE - 1));

  g_clear_pointer (&idle, g_ptr_array_unref);
  sm_test_http_service_stop (service);
  sm_test_daemon_stop (daemon);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/idle-connections/keep-alive", test_idle_keep_alive);

  return g_test_run ();
}
