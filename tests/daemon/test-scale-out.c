/* SPDX-License-Identifier: MIT */

/*
 * Scale-out (docs/scale-out.md): HAProxy in front of two daemons, one
 * HTTP service (examples/http-hello) registered with both.
 *
 *   clients (4 threads) -> HAProxy 127.0.0.1:FRONT, mode tcp, send-proxy-v2
 *     -> daemon A, public listeners on 127.0.0.2 (--public-address)
 *     -> daemon B, public listeners on 127.0.0.3
 *        (both --accept-proxy 127.0.0.1/32) -> http-hello --control A --control B
 *
 * The clients send requests on keep-alive connections and on new ones
 * while daemon A gets SIGTERM: it drains and exits, HAProxy's health
 * checks take it out, and no request fails; B serves on alone. As every
 * HTTP client does (RFC 9112 §9.3.1), a request on a reused connection
 * that closes before any byte of the answer is asked again on a new one:
 * the idle connection and the next request crossed. A request on a new
 * connection gets no second chance. Skipped when haproxy is not installed.
 */

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "sm-test-http-client.h"

#define N_WORKERS           4
#define KEEP_ALIVE_REQUESTS 5
#define REQUESTS_BEFORE     200 /* answered before A gets SIGTERM */
#define REQUESTS_AFTER      200 /* answered after A is gone */
#define HOST                "scale.test"
#define BODY                "scaled\n"
#define TIMEOUT_MS          60000

typedef struct {
  guint16  port;        /* HAProxy's frontend */
  gint     stop;
  gint     n_answered;  /* requests answered, by all workers */
  gint     n_again;     /* asked again after a reused connection closed */
  gint     n_failed;
  GMutex   lock;
  GString *failures;    /* what failed, for the log */
} Run;

static void
run_record_failure (Run        *run,
                    const char *what,
                    const char *why)
{
  g_atomic_int_inc (&run->n_failed);
  g_mutex_lock (&run->lock);
  if (run->failures->len < 4096)
    g_string_append_printf (run->failures, "%s: %s\n", what, why);
  g_mutex_unlock (&run->lock);
}

/* One GET on @connection. TRUE when answered; otherwise @error, and
 * *@nothing_arrived tells whether the answer had not begun */
static gboolean
request (SmTestHttpConnection  *connection,
         gboolean              *keep_alive,
         gboolean              *nothing_arrived,
         GError               **error)
{
  static const char text[] = "GET / HTTP/1.1\r\nHost: " HOST "\r\n\r\n";
  g_autoptr(SmTestHttpReply) reply = NULL;
  gsize sent = 0;

  *nothing_arrived = TRUE;
  while (sent < sizeof text - 1)
    {
      gssize n = g_socket_send (connection->socket, text + sent, sizeof text - 1 - sent, NULL,
                                error);
      if (n < 0)
        return FALSE;
      sent += n;
    }

  reply = sm_test_http_receive (connection, "GET", error);
  if (reply == NULL)
    {
      *nothing_arrived = connection->buffer->len == 0;
      return FALSE;
    }
  *nothing_arrived = FALSE;
  if (reply->status != 200 || g_strcmp0 (sm_test_http_reply_text (reply), BODY) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "status %u, body \"%s\"", reply->status,
                   sm_test_http_reply_text (reply));
      return FALSE;
    }
  *keep_alive = reply->keep_alive;
  return TRUE;
}

/* Until told to stop: a keep-alive connection for a few requests, then a
 * request on a connection of its own, and so on */
static gpointer
worker (gpointer data)
{
  Run *run = data;

  while (!g_atomic_int_get (&run->stop))
    {
      g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (run->port);
      guint n_on_connection = 0;

      for (guint i = 0; i < KEEP_ALIVE_REQUESTS && !g_atomic_int_get (&run->stop); i++)
        {
          g_autoptr(GError) error = NULL;
          gboolean keep_alive = FALSE;
          gboolean nothing_arrived = FALSE;

          if (request (connection, &keep_alive, &nothing_arrived, &error))
            {
              g_atomic_int_inc (&run->n_answered);
              n_on_connection++;
              if (!keep_alive)
                break;
              continue;
            }

          if (n_on_connection == 0 || !nothing_arrived)
            {
              run_record_failure (run, n_on_connection == 0 ? "new connection" : "keep-alive",
                                  error->message);
              break;
            }

          /* the reused connection was closed under the request: again, on
           * a new connection, which must answer */
          g_atomic_int_inc (&run->n_again);
          g_clear_error (&error);
          sm_test_http_connection_free (g_steal_pointer (&connection));
          connection = sm_test_http_connect (run->port);
          n_on_connection = 0;
          if (!request (connection, &keep_alive, &nothing_arrived, &error))
            {
              run_record_failure (run, "asked again", error->message);
              break;
            }
          g_atomic_int_inc (&run->n_answered);
          n_on_connection++;
          if (!keep_alive)
            break;
        }

      /* then one request alone on a new connection */
      if (!g_atomic_int_get (&run->stop))
        {
          g_autoptr(SmTestHttpConnection) single = sm_test_http_connect (run->port);
          g_autoptr(GError) error = NULL;
          gboolean keep_alive, nothing_arrived;

          if (request (single, &keep_alive, &nothing_arrived, &error))
            g_atomic_int_inc (&run->n_answered);
          else
            run_record_failure (run, "new connection", error->message);
        }
    }

  return NULL;
}

static char *
write_haproxy_config (const char *dir,
                      guint16     front_port,
                      guint16     public_port)
{
  g_autofree char *path = g_build_filename (dir, "haproxy.cfg", NULL);
  g_autofree char *config = NULL;
  g_autoptr(GError) error = NULL;

  /* As in docs/scale-out.md, with checks fast enough for a test */
  config = g_strdup_printf (
    "global\n"
    "  maxconn 1024\n"
    "  log stderr format short local0 info\n"
    "\n"
    "defaults\n"
    "  mode tcp\n"
    "  log global\n"
    "  timeout connect 2s\n"
    "  timeout client 30s\n"
    "  timeout server 30s\n"
    "  retries 3\n"
    "  option redispatch\n"
    "\n"
    "frontend public\n"
    "  bind 127.0.0.1:%u\n"
    "  default_backend daemons\n"
    "\n"
    "backend daemons\n"
    "  balance roundrobin\n"
    "  default-server send-proxy-v2 check check-send-proxy inter 100ms fall 1 rise 2\n"
    "  server a 127.0.0.2:%u\n"
    "  server b 127.0.0.3:%u\n",
    front_port, public_port, public_port);
  g_file_set_contents (path, config, -1, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&path);
}

static SmTestDaemon *
start_daemon (const char *public_address)
{
  const char *const args[] = { "--no-bus", "--public-address", public_address,
                               "--accept-proxy", "127.0.0.1/32", NULL };

  return sm_test_daemon_start_with_args (5, args);
}

/* One request through HAProxy from the test thread (a worker's blocking
 * calls): TRUE when answered */
static gboolean
answers (guint16 port)
{
  g_autoptr(SmTestHttpConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  gboolean keep_alive, nothing_arrived;
  GSocket *socket = sm_test_connect (port, &error);

  if (socket == NULL)
    return FALSE;
  connection = g_new0 (SmTestHttpConnection, 1);
  connection->socket = socket;
  connection->buffer = g_byte_array_new ();
  return request (connection, &keep_alive, &nothing_arrived, &error);
}

static void
test_scale_out (void)
{
  g_autofree char *haproxy = g_find_program_in_path ("haproxy");
  g_autofree char *dir = NULL;
  g_autofree char *config = NULL;
  g_autofree char *front = NULL;
  g_autofree char *public = NULL;
  g_autoptr(GError) error = NULL;
  SmTestDaemon *daemon_a, *daemon_b;
  SmTestProcess *service, *balancer;
  SmTestThread *threads[N_WORKERS];
  guint16 front_port, public_port;
  gint64 deadline;
  gint before, after;
  Run run = { 0 };

  if (haproxy == NULL)
    {
      g_test_skip ("haproxy is not installed (build-aux/dev deps installs it)");
      return;
    }

  dir = g_dir_make_tmp ("sm-scale-out-XXXXXX", &error);
  g_assert_no_error (error);
  front_port = sm_test_free_port ();
  public_port = sm_test_free_port ();
  public = g_strdup_printf ("%u", public_port);

  daemon_a = start_daemon ("127.0.0.2");
  daemon_b = start_daemon ("127.0.0.3");

  /* one service, registered with both */
  {
    const char *const argv[] = { SM_TEST_HTTP_HELLO, "--control", daemon_a->control_address,
                                 "--control", daemon_b->control_address, "--port", public,
                                 "--domain", HOST, "--text", "scaled", NULL };

    service = sm_test_process_spawn ("http-hello", argv);
    sm_test_process_wait_for_line (service, "serving", 30000);
  }

  config = write_haproxy_config (dir, front_port, public_port);
  {
    const char *const argv[] = { haproxy, "-db", "-f", config, NULL };

    balancer = sm_test_process_spawn ("haproxy", argv);
  }

  /* HAProxy has no ready line: ask until it answers (bounded) */
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  while (!answers (front_port))
    {
      if (g_get_monotonic_time () > deadline || !sm_test_process_is_running (balancer))
        sm_test_fail ("HAProxy did not answer on port %u", front_port);
      g_usleep (50 * 1000); /* between connection attempts, not a synchronisation */
    }

  run.port = front_port;
  run.failures = g_string_new (NULL);
  g_mutex_init (&run.lock);
  for (guint i = 0; i < N_WORKERS; i++)
    {
      g_autofree char *name = g_strdup_printf ("client-%u", i);

      threads[i] = sm_test_thread_new (name, worker, &run);
    }

  /* mid-run, daemon A leaves: it drains and exits */
  sm_test_wait_for_int (&run.n_answered, REQUESTS_BEFORE, TIMEOUT_MS, "requests before");
  before = g_atomic_int_get (&run.n_answered);
  sm_test_process_send_signal (daemon_a->process, SIGTERM);
  g_assert_cmpint (sm_test_process_wait_exit (daemon_a->process, TIMEOUT_MS), ==, 0);
  g_test_message ("daemon A gone after %d requests", g_atomic_int_get (&run.n_answered));

  /* B serves on alone */
  after = g_atomic_int_get (&run.n_answered);
  sm_test_wait_for_int (&run.n_answered, after + REQUESTS_AFTER, TIMEOUT_MS, "requests after");

  sm_test_signal_int (&run.stop, 1);
  for (guint i = 0; i < N_WORKERS; i++)
    sm_test_thread_join (threads[i], TIMEOUT_MS);

  g_test_message ("%d requests answered (%d before the SIGTERM), %d asked again on a new "
                  "connection", run.n_answered, before, run.n_again);
  if (run.n_failed > 0)
    sm_test_fail ("%d requests failed:\n%s", run.n_failed, run.failures->str);
  g_assert_true (sm_test_process_is_running (daemon_b->process));
  g_assert_true (sm_test_process_is_running (service));

  sm_test_process_free (balancer);
  sm_test_http_service_stop (service);
  sm_test_daemon_stop (daemon_b);
  sm_test_daemon_free (daemon_a);
  g_string_free (run.failures, TRUE);
  g_mutex_clear (&run.lock);
  g_remove (config);
  g_rmdir (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/scale-out/haproxy-two-daemons-drain", test_scale_out);

  return g_test_run ();
}
