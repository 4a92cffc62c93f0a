/* SPDX-License-Identifier: MIT */
/*
 * Hostile and broken control connections against a real daemon, while a
 * well-behaved service stays registered and a public echo loop keeps
 * running through it. The handshake bytes are written by hand so the test
 * does not depend on the codec it is checking.
 *
 * The test cases share one daemon and run in order; the last one checks
 * that the service and the daemon survived all of it.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "sm-test-util.h"

#define WAIT_MS 30000
#define N_SILENT 50

static struct {
  SmTestDaemon   *daemon;
  SmTestService  *service;
  guint16         port;
  SmTestEchoLoop *echo_loop;
} fixture;

static void
ensure_fixture (void)
{
  if (fixture.daemon != NULL)
    return;
  fixture.daemon = sm_test_daemon_start (30);
  fixture.port = sm_test_free_port ();
  fixture.service = sm_test_service_new (fixture.daemon->control_address, fixture.port, NULL);
  fixture.echo_loop = sm_test_echo_loop_start (fixture.port, 16 * 1024);
}

/* ---- One control connection with given bytes, in a worker thread ---- */

typedef struct {
  const char *control_address;
  GBytes     *request;
  char       *status;          /* NULL: closed without one */
  gboolean    closed_after;    /* the daemon closed after the status */
} Attempt;

static gboolean
send_tolerant (GSocket      *socket,
               const guint8 *data,
               gsize         len)
{
  while (len > 0)
    {
      g_autoptr(GError) error = NULL;
      gssize sent = g_socket_send (socket, (const char *) data, len, NULL, &error);

      /* The daemon may give up on us before it read everything */
      if (sent < 0)
        {
          g_test_message ("send stopped early: %s", error->message);
          return FALSE;
        }
      data += sent;
      len -= sent;
    }
  return TRUE;
}

static gpointer
attempt_thread (gpointer data)
{
  Attempt *attempt = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = sm_test_connect_address (attempt->control_address, &error);
  gsize len;
  const guint8 *bytes = g_bytes_get_data (attempt->request, &len);

  g_assert_no_error (error);
  if (send_tolerant (socket, bytes, len))
    /* No more is coming: a daemon waiting for the rest must give up */
    g_socket_shutdown (socket, FALSE, TRUE, NULL);
  attempt->status = sm_test_read_status (socket, &error);
  if (attempt->status == NULL)
    g_test_message ("no status: %s", error->message);
  else
    attempt->closed_after = sm_test_socket_is_closed_by_peer (socket);
  return NULL;
}

/* Returns the status, NULL if the daemon closed without one */
static char *
attempt_handshake (GBytes  *request,
                   gboolean expect_status)
{
  Attempt attempt = { fixture.daemon->control_address, request, NULL, FALSE };

  sm_test_thread_join (sm_test_thread_new ("attempt", attempt_thread, &attempt), 2 * WAIT_MS);
  if (attempt.status != NULL)
    {
      g_test_message ("status: %s", attempt.status);
      g_assert_cmpstr (attempt.status, !=, "OK");
      g_assert_true (attempt.closed_after);
    }
  else if (expect_status)
    sm_test_fail ("the daemon closed without a status");
  g_assert_true (sm_test_process_is_running (fixture.daemon->process));
  return attempt.status;
}

static char *
attempt_handshake_bytes (GByteArray *request)
{
  g_autoptr(GBytes) bytes = g_bytes_new (request->data, request->len);

  return attempt_handshake (bytes, TRUE);
}

static void
assert_mentions (const char *status,
                 const char *text)
{
  g_autofree char *status_lower = g_ascii_strdown (status, -1);
  g_autofree char *text_lower = g_ascii_strdown (text, -1);

  if (strstr (status_lower, text_lower) == NULL)
    sm_test_fail ("status \"%s\" does not mention \"%s\"", status, text);
}

/* ---- Cases ---- */

static void
test_random_bytes (void)
{
  ensure_fixture ();
  for (guint i = 0; i < 24; i++)
    {
      g_autoptr(GRand) rand = g_rand_new_with_seed (20240601 + i);
      g_autoptr(GByteArray) request = g_byte_array_new ();
      g_autoptr(GBytes) bytes = NULL;
      guint len = g_rand_int_range (rand, 1, 4096);
      g_autofree char *status = NULL;

      /* Most start like a real request, so the junk reaches the checks
       * of the later fields too */
      switch (i % 4)
        {
        case 1: /* a short Address whose bytes are junk (NUL, bad UTF-8) */
          sm_test_append_u64 (request, MIN (len, 32));
          break;
        case 2: /* junk Port */
          sm_test_append_string (request, "127.0.0.1");
          break;
        case 3: /* junk HTTP fields */
          sm_test_append_string (request, "127.0.0.1");
          sm_test_append_u64 (request, g_rand_int_range (rand, 1, 65536));
          g_byte_array_append (request, (const guint8 *) "\x01", 1);
          break;
        default: /* junk from the first byte */
          break;
        }
      for (guint j = 0; j < len; j++)
        {
          guint8 byte = g_rand_int (rand);
          g_byte_array_append (request, &byte, 1);
        }
      bytes = g_byte_array_free_to_bytes (g_steal_pointer (&request));
      status = attempt_handshake (bytes, FALSE);
    }
}

/* The daemon refuses @request with a status mentioning @text and, unless
 * NULL, @also */
static void
assert_refused (GByteArray *request,
                const char *text,
                const char *also)
{
  g_autofree char *status = NULL;

  ensure_fixture ();
  status = attempt_handshake_bytes (request);
  assert_mentions (status, text);
  if (also != NULL)
    assert_mentions (status, also);
}

/* A length near 2^62 announced for one field */
#define HUGE_LENGTH (G_GUINT64_CONSTANT (1) << 62)

static void
test_huge_address (void)
{
  g_autoptr(GByteArray) request = g_byte_array_new ();

  sm_test_append_u64 (request, HUGE_LENGTH);
  g_byte_array_append (request, (const guint8 *) "127.0.0.1", 9);
  assert_refused (request, "address", "long");
}

static void
test_huge_domain_suffix (void)
{
  g_autoptr(GByteArray) request = sm_test_handshake_new ("127.0.0.1", 8080, 0x01);

  sm_test_append_u64 (request, HUGE_LENGTH);
  assert_refused (request, "long", NULL);
}

static void
test_huge_path_prefix (void)
{
  g_autoptr(GByteArray) request = sm_test_handshake_new ("127.0.0.1", 8080, 0x01);

  sm_test_append_string (request, "example.com");
  sm_test_append_u64 (request, HUGE_LENGTH);
  assert_refused (request, "long", NULL);
}

static void
test_huge_certificate (void)
{
  g_autoptr(GByteArray) request = sm_test_handshake_new ("127.0.0.1", 8443, 0x02);

  sm_test_append_u64 (request, HUGE_LENGTH);
  assert_refused (request, "long", NULL);
}

static void
test_bad_port (gconstpointer data)
{
  const guint64 *port = data;
  g_autoptr(GByteArray) request = sm_test_handshake_new ("127.0.0.1", *port, 0);

  assert_refused (request, "port", NULL);
}

static void
test_unknown_flags (void)
{
  g_autoptr(GByteArray) request = sm_test_handshake_new ("127.0.0.1", 8080, 0x80);

  assert_refused (request, "flag", NULL);
}

static void
test_port_in_use (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) squatter = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GByteArray) request = NULL;
  guint16 port;

  ensure_fixture ();
  /* A program that is not socketmaster holds the port */
  squatter = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                           &error);
  g_assert_no_error (error);
  g_socket_bind (squatter, any_port, TRUE, &error);
  g_assert_no_error (error);
  g_socket_listen (squatter, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (squatter, &error);
  g_assert_no_error (error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));

  request = sm_test_handshake_new ("127.0.0.1", port, 0);
  assert_refused (request, "already in use", NULL);
}

/* ---- A registered service that breaks the yamux protocol ---- */

/* The daemon ends its session and says why at the default log level */
static void
test_protocol_violation_logged (void)
{
  /* A yamux header of version 9 */
  static const guint8 bad_frame[12] = { 9, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0 };
  g_autoptr(GByteArray) request = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *status = NULL;
  g_autoptr(GBytes) rest = NULL;
  const char *line;

  ensure_fixture ();
  request = sm_test_handshake_new ("127.0.0.1", sm_test_free_port (), 0);
  socket = sm_test_connect_address (fixture.daemon->control_address, &error);
  g_assert_no_error (error);
  sm_test_send_all (socket, request->data, request->len);
  status = sm_test_read_status (socket, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (status, ==, "OK");

  sm_test_send_all (socket, bad_frame, sizeof bad_frame);
  line = sm_test_daemon_wait_for_line (fixture.daemon, "unsupported yamux version 9", WAIT_MS);
  g_assert_nonnull (strstr (line, "-Message"));
  g_assert_nonnull (strstr (line, "Dropped service"));
  /* At most a GoAway frame, then the end of the connection */
  rest = sm_test_receive_to_eof (socket, 4096, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (rest), <=, 12);
}

/* ---- Connections that never finish their handshake ---- */

static gpointer
wait_dropped_thread (gpointer data)
{
  GSocket **silent = data;

  for (guint i = 0; i < N_SILENT; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *status = sm_test_read_status (silent[i], &error);

      /* A timeout status first is fine; then the connection must end */
      if (status != NULL)
        {
          g_assert_cmpstr (status, !=, "OK");
          g_assert_true (sm_test_socket_is_closed_by_peer (silent[i]));
        }
    }
  return NULL;
}

static void
test_silent_connections (void)
{
  GSocket *silent[N_SILENT];
  g_autoptr(GByteArray) partial = g_byte_array_new ();
  SmTestService *second;
  guint16 second_port = sm_test_free_port ();
  g_autofree char *left = g_strdup_printf ("Service * left *:%u", second_port);

  ensure_fixture ();
  sm_test_append_u64 (partial, 9);
  g_byte_array_append (partial, (const guint8 *) "127.", 4);
  for (guint i = 0; i < N_SILENT; i++)
    {
      g_autoptr(GError) error = NULL;

      silent[i] = sm_test_connect_address (fixture.daemon->control_address, &error);
      g_assert_no_error (error);
      if (i % 2 == 1)
        sm_test_send_all (silent[i], partial->data, partial->len);
    }

  /* Another service registers while they hang, and works */
  second = sm_test_service_new (fixture.daemon->control_address, second_port, NULL);
  sm_test_echo_many (second_port, 2, 64 * 1024, WAIT_MS);
  /* The silent ones were not dropped yet, so the registration did not wait
   * for their handshake timeout */
  for (guint i = 0; i < N_SILENT; i++)
    g_assert_cmpint (g_socket_condition_check (silent[i], G_IO_IN), ==, 0);

  /* Then the handshake timeout (10 s) drops every one of them */
  sm_test_thread_join (sm_test_thread_new ("silent", wait_dropped_thread, silent), 2 * WAIT_MS);
  for (guint i = 0; i < N_SILENT; i++)
    g_object_unref (silent[i]);

  sm_test_echo_many (second_port, 1, 16 * 1024, WAIT_MS);
  sm_test_service_free (second);
  sm_test_daemon_wait_for_line (fixture.daemon, left, WAIT_MS);
}

/* ---- Many large, unfinished handshakes ---- */

#define N_LARGE 72
#define LARGE_CERT (1024 * 1024)
/* Under the daemon's limit of pending handshakes per source address */
#define N_PER_SOURCE 32

/* Blocking, like sm_test_connect_address(), from 127.0.0.@host */
static GSocket *
connect_from (guint host, const char *host_and_port, GError **error)
{
  g_autofree char *from_text = g_strdup_printf ("127.0.0.%u", host);
  g_autoptr(GInetAddress) from = g_inet_address_new_from_string (from_text);
  g_autoptr(GSocketAddress) local = g_inet_socket_address_new (from, 0);
  g_autoptr(GSocketAddress) to = NULL;
  g_autoptr(GSocket) socket = NULL;
  const char *colon = strrchr (host_and_port, ':');

  g_assert_nonnull (colon);
  to = g_inet_socket_address_new_from_string ("127.0.0.1", (guint) g_ascii_strtoull (colon + 1, NULL, 10));
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
  if (socket == NULL)
    return NULL;
  g_socket_set_timeout (socket, 30);
  if (!g_socket_bind (socket, local, FALSE, error) || !g_socket_connect (socket, to, NULL, error))
    return NULL;
  return g_steal_pointer (&socket);
}

static void
test_memory_budget (void)
{
  GSocket *large[N_LARGE];
  GPollFD fds[N_LARGE];
  g_autoptr(GByteArray) request = sm_test_handshake_new ("127.0.0.1", 8443, 0x02);
  g_autofree guint8 *filler = g_malloc (LARGE_CERT - 1);
  SmTestService *small;
  guint16 small_port = sm_test_free_port ();
  guint n_refused = 0;

  ensure_fixture ();
  /* Each announces a 1 MiB certificate and sends all of it but one byte:
   * together more than the daemon lets unfinished handshakes buffer, from
   * a few addresses (fewer from each than the daemon limits) */
  sm_test_append_u64 (request, LARGE_CERT);
  memset (filler, 'A', LARGE_CERT - 1);
  for (guint i = 0; i < N_LARGE; i++)
    {
      g_autoptr(GError) error = NULL;

      large[i] = connect_from (2 + i / N_PER_SOURCE, fixture.daemon->control_address, &error);
      g_assert_no_error (error);
      sm_test_send_all (large[i], request->data, request->len);
      send_tolerant (large[i], filler, LARGE_CERT - 1);
    }

  /* Some were refused with a status, long before the handshake timeout */
  for (guint i = 0; i < N_LARGE; i++)
    fds[i] = (GPollFD) { g_socket_get_fd (large[i]), G_IO_IN, 0 };
  g_assert_cmpint (g_poll (fds, N_LARGE, 5000), >, 0);
  for (guint i = 0; i < N_LARGE; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *status = NULL;

      if (fds[i].revents == 0)
        continue;
      status = sm_test_read_status (large[i], &error);
      g_assert_nonnull (status);
      assert_mentions (status, "busy");
      n_refused++;
    }
  g_test_message ("%u of %u large handshakes refused", n_refused, N_LARGE);
  g_assert_cmpuint (n_refused, >, 0);
  g_assert_cmpuint (n_refused, <, N_LARGE);

  /* A plain registration still gets through meanwhile */
  small = sm_test_service_new (fixture.daemon->control_address, small_port, NULL);
  sm_test_echo_many (small_port, 1, 16 * 1024, WAIT_MS);
  sm_test_service_free (small);

  for (guint i = 0; i < N_LARGE; i++)
    g_object_unref (large[i]);
}

/* ---- After all that ---- */

static void
test_survivors (void)
{
  guint good_echoes;
  guint registered;
  guint left;

  ensure_fixture ();
  good_echoes = sm_test_echo_loop_stop (fixture.echo_loop);
  g_test_message ("%u echo checks succeeded during the test", good_echoes);
  g_assert_cmpuint (good_echoes, >, 0);
  g_assert_false (sm_test_service_is_closed (fixture.service));
  sm_test_echo_many (fixture.port, 4, 1024 * 1024, WAIT_MS);
  /* Every service that registered left on purpose, except this one */
  registered = sm_test_process_count_lines (fixture.daemon->process, "Service * registered *");
  left = sm_test_process_count_lines (fixture.daemon->process, "Service * left *");
  g_assert_cmpuint (left, ==, registered - 1);

  sm_test_service_free (fixture.service);
  sm_test_daemon_stop (fixture.daemon);
  fixture.daemon = NULL;
}

int
main (int   argc,
      char *argv[])
{
  static const guint64 bad_ports[] = { 0, 70000, G_MAXUINT64 };

  signal (SIGPIPE, SIG_IGN);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/bad-handshake/random-bytes", test_random_bytes);
  g_test_add_func ("/bad-handshake/huge-length/address", test_huge_address);
  g_test_add_func ("/bad-handshake/huge-length/domain-suffix", test_huge_domain_suffix);
  g_test_add_func ("/bad-handshake/huge-length/path-prefix", test_huge_path_prefix);
  g_test_add_func ("/bad-handshake/huge-length/certificate", test_huge_certificate);
  g_test_add_data_func ("/bad-handshake/bad-port/0", &bad_ports[0], test_bad_port);
  g_test_add_data_func ("/bad-handshake/bad-port/70000", &bad_ports[1], test_bad_port);
  g_test_add_data_func ("/bad-handshake/bad-port/max", &bad_ports[2], test_bad_port);
  g_test_add_func ("/bad-handshake/unknown-flags", test_unknown_flags);
  g_test_add_func ("/bad-handshake/port-in-use", test_port_in_use);
  g_test_add_func ("/bad-handshake/protocol-violation-logged", test_protocol_violation_logged);
  g_test_add_func ("/bad-handshake/silent-connections", test_silent_connections);
  g_test_add_func ("/bad-handshake/memory-budget", test_memory_budget);
  g_test_add_func ("/bad-handshake/service-and-daemon-survive", test_survivors);

  return g_test_run ();
}
