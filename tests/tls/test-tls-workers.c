/* SPDX-License-Identifier: MIT */
/*
 * TLS handshakes whose steps run in a worker pool (SmTlsWorkers): many at
 * once, a client stalled mid-handshake timed out while the others finish,
 * closing and cancelling while a step waits in the pool, and the daemon's
 * SmTlsTerminator (per-source limit, shutdown) with handshakes in flight.
 * test-tls-stream runs its whole suite through a pool as well, and without
 * one (--tls-workers 0).
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sm-error.h"
#include "sm-tls-terminator.h"
#include "sm-tls-workers.h"
#include "tls-test-support.h"

/* One server side handshake, of an SmTlsStream or of the terminator */
typedef struct {
  SmTlsStream *tls;
  gboolean     done;
  GError      *error;
} Handshake;

static void
handshake_free (Handshake *handshake)
{
  if (handshake->tls != NULL)
    g_io_stream_close (G_IO_STREAM (handshake->tls), NULL, NULL);
  g_clear_object (&handshake->tls);
  g_clear_error (&handshake->error);
  g_free (handshake);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Handshake, handshake_free)

static void
stream_handshake_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Handshake *handshake = user_data;

  sm_tls_stream_handshake_finish (SM_TLS_STREAM (source), result, &handshake->error);
  handshake->done = TRUE;
}

/* A handshake over a new socketpair; the client's end in *client_fd */
static Handshake *
stream_handshake_start (SmTlsCredentials *creds,
                        SmTlsWorkers     *workers,
                        int               timeout_seconds,
                        GCancellable     *cancellable,
                        int              *client_fd)
{
  g_autoptr(GError) error = NULL;
  Handshake *handshake = g_new0 (Handshake, 1);

  handshake->tls = test_server_stream_new (creds, workers, client_fd, NULL, &error);
  g_assert_no_error (error);
  sm_tls_stream_handshake_async (handshake->tls, timeout_seconds, cancellable,
                                 stream_handshake_cb, handshake);
  return handshake;
}

static SmTlsCredentials *
test_credentials (void)
{
  SmTlsCredentials *creds = sm_tls_credentials_new ();

  /* a: RSA-2048, b: ECDSA P-256 */
  g_assert_true (sm_tls_credentials_add (creds, "a", test_pki.a.cert_pem, test_pki.a.key_pem, NULL));
  g_assert_true (sm_tls_credentials_add (creds, "b", test_pki.b.cert_pem, test_pki.b.key_pem, NULL));
  return creds;
}

static SmTlsWorkers *
workers_new (guint n_threads)
{
  g_autoptr(GError) error = NULL;
  SmTlsWorkers *workers = sm_tls_workers_new (n_threads, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (sm_tls_workers_get_n_threads (workers), ==, n_threads);
  return workers;
}

/* Dispatches what is ready, without waiting */
static void
run_pending (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* Gate: a job that keeps a worker thread busy until opened, so that the
 * steps submitted meanwhile wait in the pool */

typedef struct {
  GMutex   lock;
  GCond    cond;
  gboolean entered;
  gboolean open;
  gboolean done;
} Gate;

static void
gate_work (gpointer data)
{
  Gate *gate = data;

  g_mutex_lock (&gate->lock);
  gate->entered = TRUE;
  g_cond_broadcast (&gate->cond);
  while (!gate->open)
    g_cond_wait (&gate->cond, &gate->lock);
  g_mutex_unlock (&gate->lock);
}

static gboolean
gate_done (gpointer data)
{
  Gate *gate = data;

  gate->done = TRUE;
  return G_SOURCE_REMOVE;
}

/* Occupies the one thread of @workers until gate_open() */
static void
gate_close (Gate         *gate,
            SmTlsWorkers *workers)
{
  g_mutex_init (&gate->lock);
  g_cond_init (&gate->cond);
  sm_tls_workers_run (workers, gate_work, gate_done, gate, NULL, NULL);
  g_mutex_lock (&gate->lock);
  while (!gate->entered)
    g_cond_wait (&gate->cond, &gate->lock);
  g_mutex_unlock (&gate->lock);
}

static void
gate_open (Gate *gate)
{
  g_mutex_lock (&gate->lock);
  gate->open = TRUE;
  g_cond_broadcast (&gate->cond);
  g_mutex_unlock (&gate->lock);
  test_wait_for (&gate->done, "the gate job");
  g_mutex_clear (&gate->lock);
  g_cond_clear (&gate->cond);
}

/* Staller: a client that sends its ClientHello and then nothing, so the
 * server does its part of the handshake (signature included) and waits
 * for the client's Finished forever */

typedef struct {
  gnutls_session_t                 session;
  gnutls_certificate_credentials_t credentials;
  int                              fd;
} Staller;

static ssize_t
staller_push (gnutls_transport_ptr_t transport,
              const void            *data,
              size_t                 size)
{
  Staller *staller = transport;

  return send (staller->fd, data, size, MSG_NOSIGNAL);
}

static ssize_t
staller_pull (gnutls_transport_ptr_t transport,
              void                  *data,
              size_t                 size)
{
  Staller *staller = transport;

  gnutls_transport_set_errno (staller->session, EAGAIN);
  return -1;
}

static Staller *
staller_start (int         fd,
               const char *server_name)
{
  Staller *staller = g_new0 (Staller, 1);

  staller->fd = fd;
  g_assert_cmpint (gnutls_init (&staller->session, GNUTLS_CLIENT | GNUTLS_NONBLOCK), ==, 0);
  g_assert_cmpint (gnutls_set_default_priority (staller->session), ==, 0);
  g_assert_cmpint (gnutls_certificate_allocate_credentials (&staller->credentials), ==, 0);
  g_assert_cmpint (gnutls_credentials_set (staller->session, GNUTLS_CRD_CERTIFICATE,
                                           staller->credentials), ==, 0);
  g_assert_cmpint (gnutls_server_name_set (staller->session, GNUTLS_NAME_DNS, server_name,
                                           strlen (server_name)), ==, 0);
  gnutls_transport_set_ptr (staller->session, staller);
  gnutls_transport_set_push_function (staller->session, staller_push);
  gnutls_transport_set_pull_function (staller->session, staller_pull);
  /* sends the ClientHello, then finds nothing to read */
  g_assert_cmpint (gnutls_handshake (staller->session), ==, GNUTLS_E_AGAIN);
  return staller;
}

/* Whether the server answered the ClientHello before it closed */
static gboolean
staller_got_answer (Staller *staller)
{
  char byte;

  return recv (staller->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

static void
staller_free (Staller *staller)
{
  gnutls_deinit (staller->session);
  gnutls_certificate_free_credentials (staller->credentials);
  close (staller->fd);
  g_free (staller);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Staller, staller_free)

/* Tests of the stream */

#define N_CONCURRENT 40

/* Many handshakes at once, RSA and ECDSA, through two threads */
static void
test_many_concurrent (void)
{
  g_autoptr(SmTlsCredentials) creds = test_credentials ();
  g_autoptr(SmTlsWorkers) workers = workers_new (2);
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) test_client_free);
  g_autoptr(GPtrArray) handshakes = g_ptr_array_new_with_free_func ((GDestroyNotify) handshake_free);

  for (guint i = 0; i < N_CONCURRENT; i++)
    {
      TestClient *client = test_client_new (i % 2 ? "b.example.test" : "a.example.test",
                                            SCRIPT_NONE);
      int fd;

      g_ptr_array_add (handshakes, stream_handshake_start (creds, workers, 10, NULL, &fd));
      g_ptr_array_add (clients, client);
      test_client_start (client, fd);
    }

  for (guint i = 0; i < N_CONCURRENT; i++)
    {
      Handshake *handshake = g_ptr_array_index (handshakes, i);
      TestClient *client = g_ptr_array_index (clients, i);

      test_wait_for (&handshake->done, "a handshake");
      g_assert_no_error (handshake->error);
      g_assert_cmpstr (sm_tls_stream_get_certificate_id (handshake->tls), ==, i % 2 ? "b" : "a");
      g_io_stream_close (G_IO_STREAM (handshake->tls), NULL, NULL);
      test_client_finish (client);
      g_assert_cmpint (client->handshake_ret, ==, 0);
    }

  /* each handshake took at least one step in the pool */
  g_assert_cmpuint (sm_tls_workers_get_n_jobs_run (workers), >=, N_CONCURRENT);
}

#define N_BESIDES_STALLED 8

/* A client stalled after its ClientHello is timed out; the others,
 * started after it in the same single thread, complete */
static void
test_stalled_timed_out (void)
{
  g_autoptr(SmTlsCredentials) creds = test_credentials ();
  g_autoptr(SmTlsWorkers) workers = workers_new (1);
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) test_client_free);
  g_autoptr(GPtrArray) handshakes = g_ptr_array_new_with_free_func ((GDestroyNotify) handshake_free);
  g_autoptr(Handshake) stalled = NULL;
  g_autoptr(Staller) staller = NULL;
  int fd;

  stalled = stream_handshake_start (creds, workers, 1, NULL, &fd);
  staller = staller_start (fd, "a.example.test");

  for (guint i = 0; i < N_BESIDES_STALLED; i++)
    {
      TestClient *client = test_client_new ("a.example.test", SCRIPT_NONE);

      g_ptr_array_add (handshakes, stream_handshake_start (creds, workers, 10, NULL, &fd));
      g_ptr_array_add (clients, client);
      test_client_start (client, fd);
    }

  for (guint i = 0; i < N_BESIDES_STALLED; i++)
    {
      Handshake *handshake = g_ptr_array_index (handshakes, i);
      TestClient *client = g_ptr_array_index (clients, i);

      test_wait_for (&handshake->done, "a handshake");
      g_assert_no_error (handshake->error);
      /* the client waits for our close_notify */
      g_io_stream_close (G_IO_STREAM (handshake->tls), NULL, NULL);
      test_client_finish (client);
      g_assert_cmpint (client->handshake_ret, ==, 0);
    }

  test_wait_for (&stalled->done, "the stalled handshake's timeout");
  g_assert_error (stalled->error, SM_ERROR, SM_ERROR_TIMED_OUT);
  g_assert_true (staller_got_answer (staller));
}

/* Closing the stream while its step waits in the pool: the base is closed
 * only once the step is back (never under a worker), and the handshake
 * fails as closed */
static void
test_close_while_queued (void)
{
  g_autoptr(SmTlsCredentials) creds = test_credentials ();
  g_autoptr(SmTlsWorkers) workers = workers_new (1);
  g_autoptr(TestClient) client = test_client_new ("b.example.test", SCRIPT_NONE);
  g_autoptr(Handshake) handshake = NULL;
  g_autoptr(GError) error = NULL;
  GIOStream *base;
  Gate gate = { 0 };
  int fd;

  gate_close (&gate, workers);
  handshake = stream_handshake_start (creds, workers, 10, NULL, &fd);
  test_client_start (client, fd);
  base = sm_tls_stream_get_base_stream (handshake->tls);

  g_assert_true (g_io_stream_close (G_IO_STREAM (handshake->tls), NULL, &error));
  g_assert_no_error (error);
  run_pending ();
  g_assert_false (handshake->done);
  g_assert_false (g_io_stream_is_closed (base));

  gate_open (&gate);
  test_wait_for (&handshake->done, "the handshake to fail");
  g_assert_error (handshake->error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_assert_true (g_io_stream_is_closed (base));
  /* the abandoned step skipped its work: the client got nothing */
  test_client_finish (client);
  g_assert_cmpint (client->handshake_ret, <, 0);
}

/* Cancelled while its step waits in the pool: fails as cancelled once the
 * step is back */
static void
test_cancel_while_queued (void)
{
  g_autoptr(SmTlsCredentials) creds = test_credentials ();
  g_autoptr(SmTlsWorkers) workers = workers_new (1);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(Handshake) handshake = NULL;
  Gate gate = { 0 };
  int fd;

  gate_close (&gate, workers);
  handshake = stream_handshake_start (creds, workers, 10, cancellable, &fd);
  g_cancellable_cancel (cancellable);
  run_pending ();
  g_assert_false (handshake->done);

  gate_open (&gate);
  test_wait_for (&handshake->done, "the handshake to fail");
  g_assert_error (handshake->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  close (fd);
}

/* Tests of the terminator, which takes the default pool as the daemon
 * sets it (--tls-workers) */

/* A connected TCP pair on loopback: the server's end as a
 * GSocketConnection, the client's as a descriptor */
static GSocketConnection *
tcp_pair (GSocket *listener,
          int     *client_fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) address = g_socket_get_local_address (listener, &error);
  g_autoptr(GSocket) client = NULL;
  g_autoptr(GSocket) server = NULL;

  g_assert_no_error (error);
  client = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_connect (client, address, NULL, &error));
  g_assert_no_error (error);
  server = g_socket_accept (listener, NULL, &error);
  g_assert_no_error (error);

  *client_fd = dup (g_socket_get_fd (client));
  g_assert_cmpint (*client_fd, >=, 0);
  return g_socket_connection_factory_create_connection (server);
}

static GSocket *
tcp_listener_new (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  GSocket *listener;

  listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                           &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (listener, address, TRUE, &error));
  g_assert_true (g_socket_listen (listener, &error));
  g_assert_no_error (error);
  return listener;
}

static SmTlsTerminator *
test_terminator (void)
{
  g_autoptr(GError) error = NULL;
  SmTlsTerminator *terminator = sm_tls_terminator_new ("test port", G_USEC_PER_SEC, NULL, NULL,
                                                       10);

  g_assert_true (sm_tls_terminator_add_certificate (terminator, "a", test_pki.a.cert_pem,
                                                    test_pki.a.key_pem, &error));
  g_assert_no_error (error);
  return terminator;
}

static void
terminator_handshake_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  Handshake *handshake = user_data;

  handshake->tls = sm_tls_terminator_handshake_finish (SM_TLS_TERMINATOR (source), result,
                                                       &handshake->error);
  handshake->done = TRUE;
}

static Handshake *
terminator_handshake_start (SmTlsTerminator *terminator,
                            GSocket         *listener,
                            GCancellable    *cancellable,
                            int             *client_fd)
{
  g_autoptr(GSocketConnection) connection = tcp_pair (listener, client_fd);
  Handshake *handshake = g_new0 (Handshake, 1);

  sm_tls_terminator_handshake_async (terminator, connection, cancellable, terminator_handshake_cb,
                                     handshake);
  return handshake;
}

/* The per-source limit still evicts the oldest silent handshake */
static void
test_terminator_source_limit (void)
{
  g_autoptr(SmTlsWorkers) workers = workers_new (2);
  g_autoptr(SmTlsTerminator) terminator = test_terminator ();
  g_autoptr(GSocket) listener = tcp_listener_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Handshake *silent[3];
  int fds[3];

  sm_tls_workers_set_default (workers);
  sm_tls_terminator_set_handshake_limits (terminator, 1024, 2);
  for (guint i = 0; i < G_N_ELEMENTS (silent); i++)
    silent[i] = terminator_handshake_start (terminator, listener, cancellable, &fds[i]);
  sm_tls_workers_set_default (NULL);

  test_wait_for (&silent[0]->done, "the oldest silent handshake to be evicted");
  g_assert_error (silent[0]->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (sm_tls_terminator_get_n_handshakes (terminator), ==, 2);
  g_assert_false (silent[1]->done);
  g_assert_false (silent[2]->done);

  g_cancellable_cancel (cancellable);
  for (guint i = 0; i < G_N_ELEMENTS (silent); i++)
    {
      test_wait_for (&silent[i]->done, "a handshake to be cancelled");
      g_assert_error (silent[i]->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      handshake_free (silent[i]);
      close (fds[i]);
    }
  g_assert_cmpuint (sm_tls_terminator_get_n_handshakes (terminator), ==, 0);
}

#define N_SHUTDOWN_DONE   4
#define N_SHUTDOWN_SILENT 3

/* Shutting down as the daemon does (cancel, drop the pool) with
 * handshakes waiting and one stalled mid-handshake: every one ends, none
 * leaks (sanitizer build) */
static void
test_terminator_shutdown (void)
{
  g_autoptr(SmTlsWorkers) workers = workers_new (2);
  g_autoptr(SmTlsTerminator) terminator = test_terminator ();
  g_autoptr(GSocket) listener = tcp_listener_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) test_client_free);
  g_autoptr(GPtrArray) done = g_ptr_array_new_with_free_func ((GDestroyNotify) handshake_free);
  g_autoptr(GPtrArray) cut = g_ptr_array_new_with_free_func ((GDestroyNotify) handshake_free);
  g_autoptr(GArray) silent_fds = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr(Staller) staller = NULL;
  int fd;

  sm_tls_workers_set_default (workers);
  for (guint i = 0; i < N_SHUTDOWN_DONE; i++)
    {
      TestClient *client = test_client_new ("a.example.test", SCRIPT_NONE);

      g_ptr_array_add (done, terminator_handshake_start (terminator, listener, cancellable, &fd));
      g_ptr_array_add (clients, client);
      test_client_start (client, fd);
    }
  for (guint i = 0; i < N_SHUTDOWN_SILENT; i++)
    {
      g_ptr_array_add (cut, terminator_handshake_start (terminator, listener, cancellable, &fd));
      g_array_append_val (silent_fds, fd);
    }
  g_ptr_array_add (cut, terminator_handshake_start (terminator, listener, cancellable, &fd));
  staller = staller_start (fd, "a.example.test");

  for (guint i = 0; i < done->len; i++)
    {
      Handshake *handshake = g_ptr_array_index (done, i);

      test_wait_for (&handshake->done, "a handshake");
      g_assert_no_error (handshake->error);
      g_io_stream_close (G_IO_STREAM (handshake->tls), NULL, NULL);
      test_client_finish (g_ptr_array_index (clients, i));
    }

  /* the daemon's shutdown: ports cancel their handshakes, then main()
   * drops the pool before its last iterations */
  g_cancellable_cancel (cancellable);
  sm_tls_workers_set_default (NULL);
  g_clear_object (&workers);
  for (guint i = 0; i < cut->len; i++)
    {
      Handshake *handshake = g_ptr_array_index (cut, i);

      test_wait_for (&handshake->done, "a handshake to be cut");
      g_assert_error (handshake->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    }
  g_assert_cmpuint (sm_tls_terminator_get_n_handshakes (terminator), ==, 0);
  for (guint i = 0; i < silent_fds->len; i++)
    close (g_array_index (silent_fds, int, i));
}

int
main (int    argc,
      char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  test_pki_make ();

  g_test_add_func ("/tls-workers/many-concurrent", test_many_concurrent);
  g_test_add_func ("/tls-workers/stalled-timed-out", test_stalled_timed_out);
  g_test_add_func ("/tls-workers/close-while-queued", test_close_while_queued);
  g_test_add_func ("/tls-workers/cancel-while-queued", test_cancel_while_queued);
  g_test_add_func ("/tls-workers/terminator/source-limit", test_terminator_source_limit);
  g_test_add_func ("/tls-workers/terminator/shutdown", test_terminator_shutdown);

  ret = g_test_run ();
  test_pki_free ();
  return ret;
}
