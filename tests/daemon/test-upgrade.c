/* SPDX-License-Identifier: MIT */
/*
 * Upgrading the daemon without losing a connection (docs/upgrade.md):
 * SIGUSR2 while clients keep going. The old process starts a successor,
 * hands it its listeners and drains; services on the client library
 * register with the successor on GoAway.
 *
 * - HTTP: four client threads (two on keep-alive connections, two with a
 *   new connection per request) against examples/http-hello; no request
 *   fails and no connection is refused, before, during and after.
 * - Raw TCP: tcp-echo, and a connection opened before the upgrade that
 *   echoes 8 MiB across it, intact, while new connections are served.
 *
 * Afterwards the control port and the public port are the same sockets
 * (same inode), held by the new process; the old one has exited. The test
 * makes itself a child subreaper, so the successor becomes its child once
 * the old daemon exits, and is stopped and reaped by its PID.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "sm-test-http-client.h"
#include "test-upgrade-util.h"

#define TIMEOUT_MS 60000
#define N_CLIENTS  4
/* Requests answered before the upgrade, and after the successor took over */
#define N_BEFORE   200
#define N_AFTER    200
#define LONG_SIZE  (8 * 1024 * 1024)
#define LONG_CHUNK (64 * 1024)

static gboolean
old_exited (gpointer data)
{
  return !sm_test_process_is_running (data);
}

/* The old process exits, the new one holds the same listeners */
static void
check_taken_over (SmTestDaemon *daemon,
                  pid_t         old_pid,
                  pid_t         new_pid,
                  guint64       control_inode,
                  guint64       public_inode,
                  guint16       public_port)
{
  g_assert_cmpint (new_pid, !=, old_pid);
  if (!sm_test_wait_until (old_exited, daemon->process, TIMEOUT_MS))
    sm_test_fail ("the old daemon (%d) did not exit", (int) old_pid);
  g_assert_cmpuint (sm_test_listening_inode (daemon->control_port), ==, control_inode);
  g_assert_cmpuint (sm_test_listening_inode (public_port), ==, public_inode);
  g_assert_true (sm_test_process_holds_socket (new_pid, control_inode));
  g_assert_true (sm_test_process_holds_socket (new_pid, public_inode));
  g_assert_cmpint (kill (old_pid, 0), <, 0);
}

/* ---- HTTP under load ---- */

typedef struct
{
  guint16 port;
  gint    stop;
  gint    n_ok;
  gint    n_failed;
  gint    n_retried; /* reused connections closed before any response byte */
  gint    n_done;
} Load;

typedef struct
{
  Load    *load;
  gboolean keep_alive;
} Client;

static gpointer
client_run (gpointer data)
{
  Client               *client = data;
  Load                 *load = client->load;
  SmTestHttpConnection *connection = NULL;
  guint                 n_on_connection = 0;
  g_autofree char      *request = g_strdup_printf ("GET /u HTTP/1.1\r\nHost: x\r\n%s\r\n",
                                              client->keep_alive ? "" : "Connection: close\r\n");

  while (!g_atomic_int_get (&load->stop))
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (SmTestHttpReply) reply = NULL;

      /* A refused connection fails the test here */
      if (connection == NULL)
        {
          connection = sm_test_http_connect (load->port);
          n_on_connection = 0;
        }
      sm_test_http_send (connection, request);
      reply = sm_test_http_receive (connection, "GET", &error);

      /* What every HTTP client does (RFC 9112 §9.3.1): a reused
       * connection the server closed between requests is retried */
      if (reply == NULL && n_on_connection > 0 && connection->buffer->len == 0)
        {
          g_atomic_int_inc (&load->n_retried);
          g_clear_pointer (&connection, sm_test_http_connection_free);
          continue;
        }
      if (reply == NULL || reply->status != 200 ||
          g_strcmp0 (sm_test_http_reply_text (reply), "svc\n") != 0)
        {
          g_test_message ("request failed: %s",
                          reply == NULL ? error->message : sm_test_http_reply_text (reply));
          g_atomic_int_inc (&load->n_failed);
          g_clear_pointer (&connection, sm_test_http_connection_free);
          continue;
        }
      g_atomic_int_inc (&load->n_ok);
      g_main_context_wakeup (NULL); /* the test thread counts */
      n_on_connection++;
      if (!client->keep_alive || !reply->keep_alive)
        g_clear_pointer (&connection, sm_test_http_connection_free);
    }
  g_clear_pointer (&connection, sm_test_http_connection_free);
  g_atomic_int_inc (&load->n_done);
  g_main_context_wakeup (NULL);
  return NULL;
}

static void
test_http_under_load (void)
{
  SmTestDaemon *daemon = sm_test_http_daemon_start (30, FALSE, NULL);
  g_autoptr (SmTestProcess) service = NULL;
  Load          load = { 0 };
  Client        clients[N_CLIENTS];
  SmTestThread *threads[N_CLIENTS];
  pid_t         old_pid =
      (pid_t) g_ascii_strtoll (sm_test_process_get_identifier (daemon->process), NULL, 10);
  pid_t   new_pid;
  guint64 control_inode, public_inode;
  gint    n_at_upgrade;

  load.port = sm_test_free_port ();
  {
    g_autofree char  *port = g_strdup_printf ("%u", load.port);
    const char *const argv[] = { SM_TEST_HTTP_HELLO,
                                 "--control",
                                 daemon->control_address,
                                 "--address",
                                 "127.0.0.1",
                                 "--port",
                                 port,
                                 "--text",
                                 "svc",
                                 NULL };

    service = sm_test_process_spawn ("http-hello", argv);
    sm_test_process_wait_for_line (service, "serving", TIMEOUT_MS);
  }
  control_inode = sm_test_listening_inode (daemon->control_port);
  public_inode = sm_test_listening_inode (load.port);

  for (guint i = 0; i < N_CLIENTS; i++)
    {
      clients[i] = (Client){ &load, i % 2 == 0 };
      threads[i] = sm_test_thread_new ("client", client_run, &clients[i]);
    }
  sm_test_wait_for_int (&load.n_ok, N_BEFORE, TIMEOUT_MS, "requests before the upgrade");

  new_pid = sm_test_upgrade (daemon);
  n_at_upgrade = g_atomic_int_get (&load.n_ok);
  check_taken_over (daemon, old_pid, new_pid, control_inode, public_inode, load.port);
  /* The service registered with the new process, which serves */
  sm_test_wait_for_int (&load.n_ok, n_at_upgrade + N_AFTER, TIMEOUT_MS,
                        "requests after the upgrade");

  g_atomic_int_set (&load.stop, 1);
  for (guint i = 0; i < N_CLIENTS; i++)
    sm_test_thread_join (threads[i], TIMEOUT_MS);
  g_test_message ("%d requests answered, %d failed, %d retried on a closed keep-alive "
                  "connection",
                  load.n_ok, load.n_failed, load.n_retried);
  g_assert_cmpint (load.n_failed, ==, 0);

  sm_test_process_terminate (service, TRUE);
  sm_test_upgrade_stop (new_pid);
  sm_test_daemon_free (daemon);
}

/* ---- Raw TCP: a long transfer across the upgrade ---- */

typedef struct
{
  guint16  port;
  gint     half; /* the first MiB went both ways */
  GMutex   lock;
  GCond    cond;
  gboolean go; /* the upgrade is done: send the rest */
} LongTransfer;

static void
echo_range (GSocket *socket, guint8 *buffer, gsize from, gsize to)
{
  g_autoptr (GError) error = NULL;

  for (gsize offset = from; offset < to; offset += LONG_CHUNK)
    {
      gsize  len = MIN (LONG_CHUNK, to - offset);
      gssize wrong;

      sm_test_fill_pattern (buffer, len, offset, 7);
      sm_test_send_all (socket, buffer, len);
      memset (buffer, 0, len);
      g_assert_cmpuint (sm_test_receive_exactly (socket, buffer, len, &error), ==, len);
      g_assert_no_error (error);
      wrong = sm_test_check_pattern (buffer, len, offset, 7);
      if (wrong >= 0)
        sm_test_fail ("byte %" G_GSIZE_FORMAT " of the long transfer differs",
                      offset + (gsize) wrong);
    }
}

static gpointer
long_transfer_run (gpointer data)
{
  LongTransfer *transfer = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = sm_test_connect (transfer->port, &error);
  g_autofree guint8 *buffer = g_malloc (LONG_CHUNK);

  g_assert_no_error (error);
  echo_range (socket, buffer, 0, 1024 * 1024);
  sm_test_signal_int (&transfer->half, 1);

  g_mutex_lock (&transfer->lock);
  while (!transfer->go)
    g_cond_wait (&transfer->cond, &transfer->lock);
  g_mutex_unlock (&transfer->lock);

  echo_range (socket, buffer, 1024 * 1024, LONG_SIZE);
  g_socket_shutdown (socket, FALSE, TRUE, NULL);
  g_assert_true (sm_test_socket_is_closed_by_peer (socket));
  return GINT_TO_POINTER (1);
}

static void
test_tcp_long_transfer (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  g_autoptr (SmTestProcess) echo = NULL;
  LongTransfer  transfer = { 0 };
  SmTestThread *thread;
  pid_t         old_pid =
      (pid_t) g_ascii_strtoll (sm_test_process_get_identifier (daemon->process), NULL, 10);
  pid_t   new_pid;
  guint64 control_inode, public_inode;

  transfer.port = sm_test_free_port ();
  g_mutex_init (&transfer.lock);
  g_cond_init (&transfer.cond);
  echo = sm_test_tcp_echo_start (daemon->control_address, transfer.port, "tcp-echo");
  control_inode = sm_test_listening_inode (daemon->control_port);
  public_inode = sm_test_listening_inode (transfer.port);

  thread = sm_test_thread_new ("long", long_transfer_run, &transfer);
  sm_test_wait_for_int (&transfer.half, 1, TIMEOUT_MS, "the first MiB");

  new_pid = sm_test_upgrade (daemon);
  /* New connections meanwhile: the service is registered with the new
   * process while the long one still goes through the old */
  sm_test_process_wait_for_lines (echo, "Registered with the daemon", 2, TIMEOUT_MS);
  sm_test_echo_many (transfer.port, 8, 64 * 1024, TIMEOUT_MS);
  g_assert_true (sm_test_process_is_running (daemon->process));

  g_mutex_lock (&transfer.lock);
  transfer.go = TRUE;
  g_cond_signal (&transfer.cond);
  g_mutex_unlock (&transfer.lock);
  g_assert_cmpint (GPOINTER_TO_INT (sm_test_thread_join (thread, TIMEOUT_MS)), ==, 1);

  check_taken_over (daemon, old_pid, new_pid, control_inode, public_inode, transfer.port);
  sm_test_echo_many (transfer.port, 4, 64 * 1024, TIMEOUT_MS);

  sm_test_process_terminate (echo, TRUE);
  sm_test_upgrade_stop (new_pid);
  sm_test_daemon_free (daemon);
  g_mutex_clear (&transfer.lock);
  g_cond_clear (&transfer.cond);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  sm_test_upgrade_init ();

  g_test_add_func ("/upgrade/http-under-load", test_http_under_load);
  g_test_add_func ("/upgrade/tcp-long-transfer", test_tcp_long_transfer);
  return g_test_run ();
}
