/* SPDX-License-Identifier: MIT */
/*
 * No lock-outs (issue 9): pending TLS and control handshakes are limited
 * per source address, and when all the room is taken the oldest silent one
 * makes way for the new one. On the daemon's objects in this process,
 * with small limits; flooding clients bind 127.0.0.2 and up, legitimate
 * ones come from 127.0.0.1.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "sm-address.h"
#include "sm-control.h"
#include "sm-source-limit.h"
#include "sm-test-util.h"
#include "sm-tls-terminator.h"
#include "tls-test-support.h"

#define WAIT_MS 20000

/* ---- SmSourceLimit ---- */

typedef struct {
  SmSourceTicket *ticket;
  gboolean        evicted;
} Entry;

static void
on_evict (gpointer user_data)
{
  Entry *entry = user_data;

  g_assert_false (entry->evicted);
  entry->evicted = TRUE;
}

static void
test_limit_per_source (void)
{
  g_autoptr(SmSourceLimit) limit = sm_source_limit_new ("test", 100, 2);
  Entry entries[4] = { 0 };

  entries[0].ticket = sm_source_limit_admit (limit, "a", on_evict, &entries[0]);
  entries[1].ticket = sm_source_limit_admit (limit, "a", on_evict, &entries[1]);
  g_assert_cmpuint (sm_source_limit_get_n_from (limit, "a"), ==, 2);

  /* Full, and the oldest is silent: it makes way */
  entries[2].ticket = sm_source_limit_admit (limit, "a", on_evict, &entries[2]);
  g_assert_nonnull (entries[2].ticket);
  g_assert_true (entries[0].evicted);
  g_assert_false (entries[1].evicted);
  g_assert_cmpuint (sm_source_limit_get_n_from (limit, "a"), ==, 2);

  /* Full, none silent: refused; others are not affected */
  sm_source_ticket_progress (entries[1].ticket);
  sm_source_ticket_progress (entries[2].ticket);
  g_assert_null (sm_source_limit_admit (limit, "a", on_evict, &entries[3]));
  entries[3].ticket = sm_source_limit_admit (limit, "b", on_evict, &entries[3]);
  g_assert_nonnull (entries[3].ticket);
  g_assert_cmpuint (sm_source_limit_get_n_pending (limit), ==, 3);

  for (guint i = 0; i < G_N_ELEMENTS (entries); i++)
    sm_source_ticket_release (entries[i].ticket);
  g_assert_cmpuint (sm_source_limit_get_n_pending (limit), ==, 0);
  g_assert_cmpuint (sm_source_limit_get_n_from (limit, "a"), ==, 0);
}

static void
test_limit_oldest_silent_first (void)
{
  SmSourceLimit *limit = sm_source_limit_new ("test", 3, 10);
  Entry entries[6] = { 0 };

  entries[0].ticket = sm_source_limit_admit (limit, "a", on_evict, &entries[0]);
  entries[1].ticket = sm_source_limit_admit (limit, "b", on_evict, &entries[1]);
  entries[2].ticket = sm_source_limit_admit (limit, "c", on_evict, &entries[2]);
  sm_source_ticket_progress (entries[0].ticket);

  /* Full: the oldest silent one goes, not the oldest */
  entries[3].ticket = sm_source_limit_admit (limit, "d", on_evict, &entries[3]);
  g_assert_true (entries[1].evicted);
  g_assert_false (entries[0].evicted);

  /* None silent: the one heard from the longest ago */
  sm_source_ticket_progress (entries[2].ticket);
  sm_source_ticket_progress (entries[3].ticket);
  sm_source_ticket_progress (entries[0].ticket);
  entries[4].ticket = sm_source_limit_admit (limit, "e", on_evict, &entries[4]);
  g_assert_true (entries[2].evicted);
  g_assert_false (entries[0].evicted);
  g_assert_false (entries[3].evicted);
  g_assert_cmpuint (sm_source_limit_get_n_pending (limit), ==, 3);

  /* Tickets may outlive the limit */
  sm_source_limit_free (limit);
  for (guint i = 0; i < G_N_ELEMENTS (entries); i++)
    sm_source_ticket_release (entries[i].ticket);
}

/* ---- Flooding clients ---- */

/* Connected from @from (no port) to @to, non-blocking */
static GSocket *
connect_from (const char *from, GSocketAddress *to)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (from);
  g_autoptr(GSocketAddress) local = g_inet_socket_address_new (inet, 0);
  g_autoptr(GSocket) socket = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (socket, local, FALSE, &error);
  g_assert_no_error (error);
  g_socket_connect (socket, to, NULL, &error);
  g_assert_no_error (error);
  g_socket_set_blocking (socket, FALSE);
  return g_steal_pointer (&socket);
}

/* EOF or reset from the daemon (non-blocking) */
static gboolean
is_closed (GSocket *socket)
{
  char byte;
  g_autoptr(GError) error = NULL;
  gssize n = g_socket_receive (socket, &byte, 1, NULL, &error);

  return n == 0 || (n < 0 && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK));
}

typedef struct {
  GPtrArray *sockets;
  guint      n_closed;
} ClosedWait;

static gboolean
has_n_closed (gpointer data)
{
  ClosedWait *wait = data;
  guint n = 0;

  for (guint i = 0; i < wait->sockets->len; i++)
    if (is_closed (g_ptr_array_index (wait->sockets, i)))
      n++;
  return n >= wait->n_closed;
}

/* ---- TLS ---- */

typedef struct {
  SmTlsTerminator *terminator;
  guint            n_accepted;
  guint            n_done;
  guint            n_ok;
} TlsServer;

static void
tls_handshake_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  TlsServer *server = user_data;
  g_autoptr(SmTlsStream) stream = NULL;

  stream = sm_tls_terminator_handshake_finish (SM_TLS_TERMINATOR (source), result, NULL);
  server->n_done++;
  if (stream != NULL)
    {
      server->n_ok++;
      g_io_stream_close (G_IO_STREAM (stream), NULL, NULL);
    }
}

static gboolean
on_tls_incoming (GSocketService    *service,
                 GSocketConnection *connection,
                 GObject           *source_object,
                 TlsServer         *server)
{
  server->n_accepted++;
  sm_tls_terminator_handshake_async (server->terminator, connection, NULL,
                                     tls_handshake_done_cb, server);
  return TRUE;
}

static gboolean
has_accepted (gpointer data)
{
  TlsServer *server = data;

  return server->n_accepted >= 14;
}

static void
test_tls_flood (void)
{
  TlsServer server = { 0 };
  g_autoptr(GSocketService) service = g_socket_service_new ();
  g_autoptr(GInetAddress) any = g_inet_address_new_from_string ("0.0.0.0");
  g_autoptr(GSocketAddress) bind_address = g_inet_socket_address_new (any, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GPtrArray) flood = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(TestClient) client = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  ClosedWait wait;

  server.terminator = sm_tls_terminator_new ("test", G_USEC_PER_SEC, NULL, NULL, 30);
  g_assert_true (sm_tls_terminator_add_certificate (server.terminator, "a", test_pki.a.cert_pem,
                                                    test_pki.a.key_pem, &error));
  g_assert_no_error (error);
  sm_tls_terminator_set_handshake_limits (server.terminator, 4, 2);

  /* the flood connects before anything is accepted */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (service), 128);
  g_socket_listener_add_address (G_SOCKET_LISTENER (service), bind_address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &effective, &error);
  g_assert_no_error (error);
  g_signal_connect (service, "incoming", G_CALLBACK (on_tls_incoming), &server);
  local = g_inet_socket_address_new_from_string (
      "127.0.0.1", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective)));

  /* 10 silent ones from one address, 4 from others: all the room */
  for (guint i = 0; i < 10; i++)
    g_ptr_array_add (flood, connect_from ("127.0.0.2", local));
  for (guint i = 0; i < 4; i++)
    g_ptr_array_add (flood, connect_from (i < 2 ? "127.0.0.3" : "127.0.0.4", local));
  g_assert_true (sm_test_wait_until (has_accepted, &server, WAIT_MS));

  /* 127.0.0.2 kept 2 at most, and the total is 4 */
  wait.sockets = flood;
  wait.n_closed = 10;
  g_assert_true (sm_test_wait_until (has_n_closed, &wait, WAIT_MS));
  g_assert_cmpuint (server.n_ok, ==, 0);

  /* A client from elsewhere still gets its handshake */
  socket = connect_from ("127.0.0.1", local);
  g_socket_set_blocking (socket, TRUE);
  client = test_client_new ("a.example.test", SCRIPT_NONE);
  test_client_start (client, dup (g_socket_get_fd (socket)));
  g_clear_object (&socket);
  test_client_finish (client);
  g_assert_cmpint (client->handshake_ret, ==, 0);
  g_assert_cmpuint (server.n_ok, ==, 1);

  /* It took the place of a silent one */
  wait.n_closed = 11;
  g_assert_true (sm_test_wait_until (has_n_closed, &wait, WAIT_MS));

  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
  g_ptr_array_set_size (flood, 0);
  while (server.n_done < server.n_accepted)
    g_main_context_iteration (NULL, TRUE);
  g_object_unref (server.terminator);
}

/* ---- Control ---- */

static gpointer
register_thread (gpointer data)
{
  GSocketAddress *control = data;
  guint16 port = sm_test_free_port ();
  g_autoptr(GByteArray) handshake = sm_test_handshake_new ("127.0.0.1", port, 0);
  g_autofree char *control_text = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) error = NULL;

  control_text = sm_address_format_socket (control);
  socket = sm_test_connect_address (control_text, &error);
  g_assert_no_error (error);
  sm_test_send_all (socket, handshake->data, handshake->len);
  return sm_test_read_status (socket, &error);
}

static void
test_control_flood (void)
{
  g_autoptr(SmRegistry) registry = sm_registry_new (30);
  g_autoptr(SmControl) control = sm_control_new (registry);
  g_autoptr(GInetAddress) any = g_inet_address_new_from_string ("0.0.0.0");
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GPtrArray) silent = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) one_byte = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  g_autofree char *status = NULL;
  ClosedWait wait;
  guint16 control_port;

  g_assert_true (sm_control_listen (control, any, 0, &error));
  g_assert_no_error (error);
  sm_control_set_max_pending (control, 4, 2);
  control_port =
      g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (sm_control_get_local_address (control)));
  local = g_inet_socket_address_new_from_string ("127.0.0.1", control_port);

  /* Two silent ones from 127.0.0.3, then one-byte handshakes from
   * 127.0.0.2: it keeps 2, the rest are closed */
  for (guint i = 0; i < 2; i++)
    g_ptr_array_add (silent, connect_from ("127.0.0.3", local));
  for (guint i = 0; i < 8; i++)
    {
      GSocket *socket = connect_from ("127.0.0.2", local);

      g_socket_send (socket, "\0", 1, NULL, &error);
      g_assert_no_error (error);
      g_ptr_array_add (one_byte, socket);
      /* so the daemon saw its byte before the next one comes */
      if (i < 2)
        {
          while (sm_control_get_n_pending (control) < 3 + i)
            g_main_context_iteration (NULL, TRUE);
          for (guint j = 0; j < 100; j++)
            g_main_context_iteration (NULL, FALSE);
        }
    }
  wait.sockets = one_byte;
  wait.n_closed = 6;
  g_assert_true (sm_test_wait_until (has_n_closed, &wait, WAIT_MS));
  g_assert_cmpuint (sm_control_get_n_pending (control), ==, 4);

  /* A service from 127.0.0.1 registers: a silent one makes way */
  status = sm_test_thread_join (sm_test_thread_new ("register", register_thread, local), WAIT_MS);
  g_assert_cmpstr (status, ==, "OK");
  wait.sockets = silent;
  wait.n_closed = 1;
  g_assert_true (sm_test_wait_until (has_n_closed, &wait, WAIT_MS));

  sm_control_stop (control);
  sm_registry_close (registry);
}

/* ---- The example service retries ---- */

/* The daemon turns the example's registration away (its address has a
 * handshake pending already, which sent a byte); the example keeps
 * retrying and registers once there is room */
static void
test_example_retries (void)
{
  g_autoptr(SmRegistry) registry = sm_registry_new (30);
  g_autoptr(SmControl) control = sm_control_new (registry);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(SmTestProcess) example = NULL;
  g_autoptr(GSocket) hog = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *control_text = NULL;
  g_autofree char *port_text = NULL;
  guint16 port = sm_test_free_port ();

  g_assert_true (sm_control_listen (control, loopback, 0, &error));
  g_assert_no_error (error);
  sm_control_set_max_pending (control, 1, 1);
  local = g_object_ref (sm_control_get_local_address (control));
  control_text = sm_address_format_socket (local);
  port_text = g_strdup_printf ("%u", port);

  hog = connect_from ("127.0.0.1", local);
  g_socket_send (hog, "\0", 1, NULL, &error);
  g_assert_no_error (error);
  while (sm_control_get_n_pending (control) < 1)
    g_main_context_iteration (NULL, TRUE);
  /* and its byte is read (it is there already): it is not silent */
  for (guint i = 0; i < 100; i++)
    g_main_context_iteration (NULL, FALSE);

  {
    const char *argv[] = { SM_TEST_TCP_ECHO, "--control", control_text, "--port", port_text, NULL };

    example = sm_test_process_spawn ("tcp-echo", argv);
  }
  /* Turned away a few times, with growing waits between tries */
  sm_test_process_wait_for_lines (example, "failed (*), retrying", 3, WAIT_MS);
  g_assert_true (sm_test_process_is_running (example));

  g_clear_object (&hog);
  sm_test_process_wait_for_line (example, "tcp-echo: serving port", WAIT_MS);
  sm_test_echo_many (port, 1, 16 * 1024, WAIT_MS);

  sm_test_process_terminate (example, FALSE);
  sm_control_stop (control);
  sm_registry_close (registry);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  test_pki_make ();

  g_test_add_func ("/lockout/source-limit/per-source", test_limit_per_source);
  g_test_add_func ("/lockout/source-limit/oldest-silent-first", test_limit_oldest_silent_first);
  g_test_add_func ("/lockout/tls-flood", test_tls_flood);
  g_test_add_func ("/lockout/control-flood", test_control_flood);
  g_test_add_func ("/lockout/example-retries", test_example_retries);

  ret = g_test_run ();
  test_pki_free ();
  return ret;
}
