/* SPDX-License-Identifier: MIT */
/*
 * Limits on the public side (issue 10, item 5): public connections per
 * port and in total, connections and requests waiting per port, streams
 * per service. The daemon is a process with small limits; past a limit a
 * new connection is closed (or, for a waiting HTTP request, answered 503)
 * at once, the earlier ones keep working, and refusing thousands costs the
 * daemon no memory.
 *
 * Services run in this process on the raw yamux session (SmTestService:
 * echo, tagged echo, or streams kept by the test); the public side is
 * blocking sockets in worker threads. The pieces (options, counts, the
 * HTTP router at a stream limit) are also tested in process.
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>

#include "sm-error.h"
#include "sm-http-router.h"
#include "sm-port-limits.h"
#include "sm-test-http-client.h"
#include "sm-test-routes.h"
#include "sm-test-util.h"

#define WAIT_MS    30000
#define N_REFUSED  2000
/* VmRSS growth allowed over N_REFUSED refused connections */
#define MAX_RSS_GROWTH_KIB (20 * 1024)

/* ---- Public side, blocking ---- */

static void
echo_check (GSocket *socket, const char *text)
{
  gsize len = strlen (text);
  g_autofree char *back = g_malloc0 (len + 1);
  g_autoptr(GError) error = NULL;

  sm_test_send_all (socket, text, len);
  g_assert_cmpuint (sm_test_receive_exactly (socket, back, len, &error), ==, len);
  g_assert_no_error (error);
  g_assert_cmpstr (back, ==, text);
}

static GSocket *
connect_port (guint16 port)
{
  g_autoptr(GError) error = NULL;
  GSocket *socket = sm_test_connect (port, &error);

  g_assert_no_error (error);
  return socket;
}

/* Reads the tag an echoing SmTestService writes first */
static char
read_tag (GSocket *socket)
{
  g_autoptr(GError) error = NULL;
  char tag = 0;

  g_assert_cmpuint (sm_test_receive_exactly (socket, &tag, 1, &error), ==, 1);
  g_assert_no_error (error);
  return tag;
}

/* The daemon closes it at once: EOF (or a reset) before any byte */
static void
assert_refused (guint16 port)
{
  g_autoptr(GSocket) socket = connect_port (port);

  g_assert_true (sm_test_socket_is_closed_by_peer (socket));
}

/* Nothing readable yet (no EOF, no reset): the daemon holds it */
static gboolean
still_open (GSocket *socket)
{
  return g_socket_condition_check (socket, G_IO_IN | G_IO_HUP | G_IO_ERR) == 0;
}

/* A connection the daemon serves: retried while the daemon has not yet
 * seen earlier connections go (a closed connection leaves its count once
 * the daemon is done with it, which the client cannot watch) */
static GSocket *
connect_served (guint16 port)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;

  while (g_get_monotonic_time () < deadline)
    {
      g_autoptr(GSocket) socket = connect_port (port);
      g_autoptr(GError) error = NULL;
      char back[4] = { 0 };

      sm_test_send_all (socket, "new", 3);
      if (sm_test_receive_exactly (socket, back, 3, &error) == 3 && memcmp (back, "new", 3) == 0)
        return g_steal_pointer (&socket);
    }
  sm_test_fail ("no connection to port %u was served in time", port);
}

/* Opens @n more connections to @port, each checked with an echo of
 * @text; the service writes @tag first (0: no tag) */
static void
open_echoing (GPtrArray *sockets, guint16 port, guint n, char tag, const char *text)
{
  for (guint i = 0; i < n; i++)
    {
      GSocket *socket = connect_port (port);

      g_ptr_array_add (sockets, socket);
      if (tag != 0)
        g_assert_cmpint (read_tag (socket), ==, tag);
      echo_check (socket, text);
    }
}

/* Closes the oldest of @sockets */
static void
close_first (GPtrArray *sockets)
{
  g_autoptr(GSocket) first = g_ptr_array_steal_index (sockets, 0);

  g_socket_close (first, NULL);
}

static void
close_all (GPtrArray *sockets)
{
  for (guint i = 0; i < sockets->len; i++)
    g_socket_close (g_ptr_array_index (sockets, i), NULL);
  g_ptr_array_set_size (sockets, 0);
}

/* ---- Connections per port, RSS ---- */

#define PER_PORT 20

typedef struct {
  SmTestDaemon *daemon;
  guint16       port;
  guint16       port_b;
  gint64        elapsed_us; /* of the refusals */
} Flood;

static gpointer
per_port_thread (gpointer data)
{
  Flood *flood = data;
  guint16 port = flood->port;
  g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func (g_object_unref);
  guint64 rss_before, rss_after;
  gint64 started;

  open_echoing (held, port, PER_PORT, 0, "hello");

  /* Past the limit: closed at once, the others go on */
  started = g_get_monotonic_time ();
  for (guint i = 0; i < 30; i++)
    assert_refused (port);
  for (guint i = 0; i < held->len; i++)
    echo_check (g_ptr_array_index (held, i), "still here");

  /* Refusing costs nothing that stays */
  rss_before = sm_test_process_memory_kib (flood->daemon->process, "VmRSS");
  for (guint i = 0; i < N_REFUSED; i++)
    assert_refused (port);
  rss_after = sm_test_process_memory_kib (flood->daemon->process, "VmRSS");
  flood->elapsed_us = g_get_monotonic_time () - started;
  g_test_message ("daemon VmRSS %" G_GUINT64_FORMAT " KiB before %u refused connections, %"
                  G_GUINT64_FORMAT " KiB after", rss_before, N_REFUSED, rss_after);
  g_assert_cmpuint (rss_after, <, rss_before + MAX_RSS_GROWTH_KIB);
  for (guint i = 0; i < held->len; i++)
    echo_check (g_ptr_array_index (held, i), "and after");

  /* Connections that end leave room */
  for (guint i = 0; i < 5; i++)
    close_first (held);
  for (guint i = 0; i < 5; i++)
    g_ptr_array_add (held, connect_served (port));
  assert_refused (port);

  close_all (held);
  return NULL;
}

static void
test_connections_per_port (void)
{
  const char *args[] = { "--no-bus", "--max-connections-per-port", G_STRINGIFY (PER_PORT), NULL };
  Flood flood = { sm_test_daemon_start_with_args (30, args), sm_test_free_port (), 0, 0 };
  g_autoptr(SmTestService) service = NULL;
  guint n_lines, max_lines;

  service = sm_test_service_new (flood.daemon->control_address, flood.port, NULL);
  sm_test_thread_join (sm_test_thread_new ("per-port", per_port_thread, &flood), 8 * WAIT_MS);

  /* One line per 10 s interval, not one per connection */
  n_lines = sm_test_process_count_lines (flood.daemon->process, "already open on this port");
  max_lines = 2 + (guint) (flood.elapsed_us / (10 * G_USEC_PER_SEC));
  g_test_message ("%u lines about the limit", n_lines);
  g_assert_cmpuint (n_lines, >=, 1);
  g_assert_cmpuint (n_lines, <=, max_lines);

  g_clear_pointer (&service, sm_test_service_free);
  sm_test_daemon_stop (flood.daemon);
}

/* ---- Connections in total ---- */

static gpointer
total_thread (gpointer data)
{
  Flood *flood = data;
  g_autoptr(GPtrArray) on_a = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) on_b = g_ptr_array_new_with_free_func (g_object_unref);

  open_echoing (on_a, flood->port, 4, 0, "a");
  assert_refused (flood->port);
  open_echoing (on_b, flood->port_b, 2, 0, "b");
  /* Port b has room, the daemon has none */
  assert_refused (flood->port_b);

  for (guint i = 0; i < on_a->len; i++)
    echo_check (g_ptr_array_index (on_a, i), "a again");

  /* One of a's goes: b takes one more */
  close_first (on_a);
  g_ptr_array_add (on_b, connect_served (flood->port_b));
  assert_refused (flood->port_b);

  close_all (on_a);
  close_all (on_b);
  return NULL;
}

static void
test_connections_total (void)
{
  const char *args[] = { "--no-bus", "--max-connections", "6", "--max-connections-per-port", "4",
                         NULL };
  Flood flood = { sm_test_daemon_start_with_args (30, args), sm_test_free_port (),
                  sm_test_free_port (), 0 };
  g_autoptr(SmTestService) service_a = NULL;
  g_autoptr(SmTestService) service_b = NULL;

  service_a = sm_test_service_new (flood.daemon->control_address, flood.port, NULL);
  service_b = sm_test_service_new (flood.daemon->control_address, flood.port_b, NULL);
  sm_test_thread_join (sm_test_thread_new ("total", total_thread, &flood), 4 * WAIT_MS);
  sm_test_daemon_wait_for_line (flood.daemon, "already open on all ports", WAIT_MS);

  g_clear_pointer (&service_a, sm_test_service_free);
  g_clear_pointer (&service_b, sm_test_service_free);
  sm_test_daemon_stop (flood.daemon);
}

/* ---- Raw TCP: streams per service and the queue ---- */

typedef struct {
  guint16 port;
} Scenario;

static gpointer
tcp_queue_thread (gpointer data)
{
  Scenario *scenario = data;
  g_autoptr(GPtrArray) served = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) waiting = g_ptr_array_new_with_free_func (g_object_unref);

  /* The service's 2 streams */
  open_echoing (served, scenario->port, 2, 'A', "x");

  /* 3 wait, with their bytes unread */
  for (guint i = 0; i < 3; i++)
    {
      g_ptr_array_add (waiting, connect_port (scenario->port));
      sm_test_send_all (g_ptr_array_index (waiting, i), "q", 1);
    }
  /* The fourth is one too many. Accepted after them, so they were queued
   * (or closed) by the time it is closed */
  assert_refused (scenario->port);
  for (guint i = 0; i < waiting->len; i++)
    g_assert_true (still_open (g_ptr_array_index (waiting, i)));

  /* A stream ends: the oldest waiting one goes to the service */
  close_first (served);
  g_assert_cmpint (read_tag (g_ptr_array_index (waiting, 0)), ==, 'A');
  /* What it sent while it waited */
  g_assert_cmpint (read_tag (g_ptr_array_index (waiting, 0)), ==, 'q');
  echo_check (g_ptr_array_index (waiting, 0), "y");
  echo_check (g_ptr_array_index (served, 0), "z");

  close_all (served);
  close_all (waiting);
  return NULL;
}

static void
test_tcp_queue (void)
{
  const char *args[] = { "--no-bus", "--max-streams-per-service", "2", "--max-queued-per-port",
                         "3", NULL };
  SmTestDaemon *daemon = sm_test_daemon_start_with_args (30, args);
  Scenario scenario = { sm_test_free_port () };
  g_autoptr(SmTestService) service = NULL;

  service = sm_test_service_new (daemon->control_address, scenario.port, "A");
  sm_test_thread_join (sm_test_thread_new ("tcp-queue", tcp_queue_thread, &scenario), 4 * WAIT_MS);
  sm_test_daemon_wait_for_line (daemon, "already wait for a service", WAIT_MS);

  g_clear_pointer (&service, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

/* Two services at 2 streams each: a connection skips the full one */
static gpointer
next_route_thread (gpointer data)
{
  Scenario *scenario = data;
  g_autoptr(GPtrArray) open = g_ptr_array_new_with_free_func (g_object_unref);
  guint n_a = 0, n_b = 0;
  GSocket *b = NULL;
  GSocket *fifth;

  for (guint i = 0; i < 4; i++)
    {
      GSocket *socket = connect_port (scenario->port);
      char tag = read_tag (socket);

      g_ptr_array_add (open, socket);
      if (tag == 'A')
        n_a++;
      if (tag == 'B')
        {
          n_b++;
          b = socket;
        }
    }
  g_assert_cmpuint (n_a, ==, 2);
  g_assert_cmpuint (n_b, ==, 2);

  /* Round-robin would pick A next; A is full, B has room (or will) */
  g_assert_true (g_ptr_array_remove (open, b));
  fifth = connect_port (scenario->port);
  g_ptr_array_add (open, fifth);
  g_assert_cmpint (read_tag (fifth), ==, 'B');
  echo_check (fifth, "to b");
  for (guint i = 0; i < open->len; i++)
    echo_check (g_ptr_array_index (open, i), "all");

  close_all (open);
  return NULL;
}

static void
test_next_route (void)
{
  const char *args[] = { "--no-bus", "--max-streams-per-service", "2", NULL };
  SmTestDaemon *daemon = sm_test_daemon_start_with_args (30, args);
  Scenario scenario = { sm_test_free_port () };
  g_autoptr(SmTestService) service_a = NULL;
  g_autoptr(SmTestService) service_b = NULL;

  service_a = sm_test_service_new (daemon->control_address, scenario.port, "A");
  service_b = sm_test_service_new (daemon->control_address, scenario.port, "B");
  sm_test_thread_join (sm_test_thread_new ("next-route", next_route_thread, &scenario),
                       4 * WAIT_MS);

  g_clear_pointer (&service_a, sm_test_service_free);
  g_clear_pointer (&service_b, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

/* ---- HTTP: streams per service and waiting requests ---- */

typedef struct {
  guint16 port;
  guint   status; /* of the response */
  char   *retry_after;
  gint    done;
} HttpClient;

static gpointer
http_client_thread (gpointer data)
{
  HttpClient *client = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (client->port);
  g_autoptr(SmTestHttpReply) reply = NULL;

  reply = sm_test_http_get (connection, "limits.test", "/");
  client->status = reply->status;
  client->retry_after = g_strdup (soup_message_headers_get_one (reply->headers, "Retry-After"));
  return NULL;
}

static SmTestThread *
http_client_start (HttpClient *client, guint16 port)
{
  client->port = port;
  return sm_test_thread_new ("http-client", http_client_thread, client);
}

/* Answers the request on @stream and closes it: the stream ends */
static void
answer (SmYamuxStream *stream)
{
  g_autofree char *head = sm_test_stream_read_until (stream, "\r\n\r\n");

  g_assert_true (g_str_has_prefix (head, "GET / HTTP/1.1\r\n"));
  sm_test_stream_write (stream, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n"
                                "\r\nok");
  g_io_stream_close (G_IO_STREAM (stream), NULL, NULL);
}

#define N_HTTP 5

static void
test_http_queue (void)
{
  const char *args[] = { "--max-streams-per-service", "2", "--max-queued-per-port", "3", NULL };
  SmTestDaemon *daemon = sm_test_http_daemon_start (30, TRUE, args);
  guint16 port = sm_test_free_port ();
  g_autoptr(SmTestService) service = NULL;
  HttpClient clients[N_HTTP] = { { 0 } };
  HttpClient refused = { 0 };
  SmTestThread *threads[N_HTTP];
  SmYamuxStream *streams[N_HTTP] = { NULL };

  service = sm_test_service_new_http (daemon->control_address, port, NULL, "", "");
  sm_test_service_set_mode (service, SM_TEST_SERVICE_QUEUE);

  /* Two requests hold the service's 2 streams */
  for (guint i = 0; i < 2; i++)
    {
      threads[i] = http_client_start (&clients[i], port);
      streams[i] = sm_test_service_next_stream (service, WAIT_MS);
    }
  /* Three wait */
  for (guint i = 2; i < N_HTTP; i++)
    threads[i] = http_client_start (&clients[i], port);
  sm_test_process_wait_for_lines (daemon->process, "waits for a service", 3, WAIT_MS);

  /* One more gets 503 at once */
  sm_test_thread_join (http_client_start (&refused, port), WAIT_MS);
  g_assert_cmpuint (refused.status, ==, 503);
  g_assert_cmpstr (refused.retry_after, ==, "5");
  sm_test_daemon_wait_for_line (daemon, "already wait for a service", WAIT_MS);

  /* As streams end, the waiting requests get theirs, two at a time */
  for (guint i = 0; i < N_HTTP; i++)
    {
      if (streams[i] == NULL)
        streams[i] = sm_test_service_next_stream (service, WAIT_MS);
      answer (streams[i]);
      if (i + 2 < N_HTTP)
        streams[i + 2] = sm_test_service_next_stream (service, WAIT_MS);
    }
  for (guint i = 0; i < N_HTTP; i++)
    {
      sm_test_thread_join (threads[i], WAIT_MS);
      g_assert_cmpuint (clients[i].status, ==, 200);
      g_clear_object (&streams[i]);
      g_free (clients[i].retry_after);
    }
  g_assert_cmpuint (sm_test_service_get_n_accepted (service), ==, N_HTTP);
  g_free (refused.retry_after);

  g_clear_pointer (&service, sm_test_service_free);
  sm_test_daemon_stop (daemon);
}

/* ---- In process ---- */

static void
test_limits_set (void)
{
  SmPortLimits limits;
  g_autoptr(GError) error = NULL;

  sm_port_limits_init (&limits);
  g_assert_cmpuint (limits.max_connections, ==, SM_PORT_DEFAULT_MAX_CONNECTIONS);
  g_assert_cmpuint (limits.max_connections_per_port, ==, SM_PORT_DEFAULT_MAX_CONNECTIONS_PER_PORT);
  g_assert_cmpuint (limits.max_queued_per_port, ==, SM_PORT_DEFAULT_MAX_QUEUED);
  g_assert_cmpuint (limits.max_streams_per_service, ==, SM_PORT_DEFAULT_MAX_STREAMS_PER_SERVICE);

  g_assert_true (sm_port_limits_set (&limits, 1, 2, 3, SM_PORT_LIMITS_MAX, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (limits.max_connections, ==, 1);
  g_assert_cmpuint (limits.max_connections_per_port, ==, 2);
  g_assert_cmpuint (limits.max_queued_per_port, ==, 3);
  g_assert_cmpuint (limits.max_streams_per_service, ==, SM_PORT_LIMITS_MAX);

  /* Refused values change nothing, and the message names the option */
  g_assert_false (sm_port_limits_set (&limits, 5, 0, 5, 5, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "--max-connections-per-port"));
  g_clear_error (&error);
  g_assert_false (sm_port_limits_set (&limits, 5, 5, 5, (gint64) SM_PORT_LIMITS_MAX + 1, &error));
  g_assert_nonnull (strstr (error->message, "--max-streams-per-service"));
  g_clear_error (&error);
  g_assert_false (sm_port_limits_set (&limits, G_MININT64, 5, 5, 5, &error));
  g_clear_error (&error);
  g_assert_cmpuint (limits.max_connections, ==, 1);
  g_assert_cmpuint (limits.max_connections_per_port, ==, 2);
}

static GSocketConnection *
socketpair_connection (GSocket **out_peer)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  socket = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  *out_peer = g_socket_new_from_fd (fds[1], &error);
  g_assert_no_error (error);
  return g_socket_connection_factory_create_connection (socket);
}

/* A connection counts until its last reference goes, in its port's count
 * and in the total, which both outlive whoever made them */
static void
test_open_count (void)
{
  g_autoptr(SmOpenCount) port_a = sm_open_count_new ();
  g_autoptr(SmOpenCount) port_b = sm_open_count_new ();
  g_autoptr(SmOpenCount) total = sm_open_count_new ();
  g_autoptr(GPtrArray) connections = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) peers = g_ptr_array_new_with_free_func (g_object_unref);
  GSocketConnection *connection;
  GSocket *peer;

  for (guint i = 0; i < 6; i++)
    {
      connection = socketpair_connection (&peer);
      g_ptr_array_add (connections, connection);
      g_ptr_array_add (peers, peer);
    }

  /* Two per port, three in all */
  g_assert_true (sm_open_count_admit (port_a, 2, total, 3, connections->pdata[0], "a"));
  g_assert_true (sm_open_count_admit (port_a, 2, total, 3, connections->pdata[1], "a"));
  g_test_expect_message ("socketmaster", G_LOG_LEVEL_WARNING,
                         "Closing connection from unix to a: 2 public connections already open "
                         "on this port (--max-connections-per-port)");
  g_assert_false (sm_open_count_admit (port_a, 2, total, 3, connections->pdata[2], "a"));
  g_test_assert_expected_messages ();
  g_assert_true (sm_open_count_admit (port_b, 2, total, 3, connections->pdata[3], "b"));
  g_test_expect_message ("socketmaster", G_LOG_LEVEL_WARNING,
                         "*3 public connections already open on all ports (--max-connections)");
  g_assert_false (sm_open_count_admit (port_b, 2, total, 3, connections->pdata[4], "b"));
  g_test_assert_expected_messages ();
  /* Logged once per interval */
  g_assert_false (sm_open_count_admit (port_b, 2, total, 3, connections->pdata[4], "b"));
  g_assert_cmpuint (port_a->n_open, ==, 2);
  g_assert_cmpuint (port_b->n_open, ==, 1);
  g_assert_cmpuint (total->n_open, ==, 3);

  /* Dropping the last reference, not closing, is what counts */
  g_io_stream_close (connections->pdata[0], NULL, NULL);
  g_assert_cmpuint (total->n_open, ==, 3);
  g_ptr_array_remove_index (connections, 0);
  g_assert_cmpuint (port_a->n_open, ==, 1);
  g_assert_cmpuint (total->n_open, ==, 2);
  g_assert_true (sm_open_count_admit (port_b, 2, total, 3, connections->pdata[4], "b"));
  g_assert_cmpuint (port_b->n_open, ==, 2);

  /* The counts may go before their connections */
  g_clear_pointer (&port_a, sm_open_count_unref);
  g_clear_pointer (&total, sm_open_count_unref);
  g_ptr_array_set_size (connections, 0);
  g_assert_cmpuint (port_b->n_open, ==, 0);
}

typedef struct {
  guint    calls;
  SmRoute *route;
} Answer;

static void
on_route_ready (SmRoute *route, gpointer user_data)
{
  Answer *answer = user_data;

  answer->calls++;
  answer->route = route;
}

/* At one stream per service: a request goes to the replica with room,
 * then waits; a stream that ends lets one waiting request through */
static void
test_router_streams (void)
{
  g_autoptr(SmHttpRouter) router = sm_http_router_new ("*:8000", 30 * G_USEC_PER_SEC, 4);
  SmTestRoutes routes;
  SmRoute *first, *second, *other, *route = NULL;
  g_autoptr(SmYamuxStream) stream_1 = NULL;
  g_autoptr(SmYamuxStream) stream_2 = NULL;
  g_autoptr(SmYamuxStream) stream_3 = NULL;
  g_autoptr(GError) error = NULL;
  Answer answers[2] = { { 0 } };

  sm_test_routes_init (&routes);
  sm_http_router_set_limits (router, 4, 1);
  first = sm_test_routes_add (&routes, "", "/a");
  second = sm_test_routes_add (&routes, "", "/a");
  other = sm_test_routes_add (&routes, "", "/");
  sm_http_router_add_route (router, first);
  sm_http_router_add_route (router, second);
  sm_http_router_add_route (router, other);

  g_assert_cmpint (sm_http_router_match (router, "x", "/a/1", &route), ==, SM_HTTP_MATCH_FOUND);
  g_assert_true (route == first);
  stream_1 = sm_route_open_stream (first, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sm_port_limits_route_room (first, 1), ==, 0);

  /* Its turn or not, the full one is skipped */
  g_assert_cmpint (sm_http_router_match (router, "x", "/a/2", &route), ==, SM_HTTP_MATCH_FOUND);
  g_assert_true (route == second);
  stream_2 = sm_route_open_stream (second, &error);
  g_assert_no_error (error);

  /* Both full: waits rather than going to a worse match */
  g_assert_cmpint (sm_http_router_match (router, "x", "/a/3", &route), ==, SM_HTTP_MATCH_WAIT);
  g_assert_nonnull (sm_http_router_wait (router, NULL, "x", "/a/3", on_route_ready, &answers[0]));
  g_assert_nonnull (sm_http_router_wait (router, NULL, "x", "/a/4", on_route_ready, &answers[1]));
  g_assert_cmpint (sm_http_router_match (router, "x", "/b", &route), ==, SM_HTTP_MATCH_FOUND);
  g_assert_true (route == other);
  sm_http_router_flush_waiting (router);
  g_assert_cmpuint (answers[0].calls + answers[1].calls, ==, 0);

  /* One stream ends: one request goes, the other still waits */
  sm_yamux_stream_reset (stream_1);
  g_clear_object (&stream_1);
  g_assert_cmpuint (sm_port_limits_route_room (first, 1), ==, 1);
  sm_http_router_flush_waiting (router);
  g_assert_cmpuint (answers[0].calls, ==, 1);
  g_assert_true (answers[0].route == first);
  g_assert_cmpuint (answers[1].calls, ==, 0);
  g_assert_cmpuint (sm_http_router_get_n_waiting (router), ==, 1);

  stream_3 = sm_route_open_stream (first, &error);
  g_assert_no_error (error);
  sm_yamux_stream_reset (stream_2);
  sm_http_router_flush_waiting (router);
  g_assert_cmpuint (answers[1].calls, ==, 1);
  g_assert_true (answers[1].route == second);
  g_assert_cmpuint (sm_http_router_get_n_waiting (router), ==, 0);

  sm_yamux_stream_reset (stream_3);
  g_clear_object (&router);
  sm_test_routes_clear (&routes);
}

/* ---- Options ---- */

static void
test_bad_options (void)
{
  const char *const bad[][3] = {
    { "--max-connections", "0", NULL },
    { "--max-connections-per-port", "-1", NULL },
    { "--max-queued-per-port", "99999999999", NULL },
    { "--max-streams-per-service", "0", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      const char *argv[] = { g_getenv ("SM_DAEMON"), "--no-bus", "--bind", "127.0.0.1:0",
                             bad[i][0], bad[i][1], NULL };
      g_autoptr(SmTestProcess) process = NULL;

      g_assert_nonnull (argv[0]);
      process = sm_test_process_spawn ("daemon", argv);
      g_assert_cmpint (sm_test_process_wait_exit (process, WAIT_MS), !=, 0);
      g_assert_cmpuint (sm_test_process_count_lines (process, bad[i][0]), >=, 1);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/limits/set", test_limits_set);
  g_test_add_func ("/limits/open-count", test_open_count);
  g_test_add_func ("/limits/router-streams", test_router_streams);
  g_test_add_func ("/limits/connections-per-port", test_connections_per_port);
  g_test_add_func ("/limits/connections-total", test_connections_total);
  g_test_add_func ("/limits/tcp-queue", test_tcp_queue);
  g_test_add_func ("/limits/next-route", test_next_route);
  g_test_add_func ("/limits/http-queue", test_http_queue);
  g_test_add_func ("/limits/bad-options", test_bad_options);

  return g_test_run ();
}
