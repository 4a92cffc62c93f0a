/* SPDX-License-Identifier: MIT */
/*
 * SmAcceptGuard (issue 9, calm under descriptor exhaustion): the reserve,
 * when to log (SmAcceptTally, on a fake clock), and the guard pausing and
 * restarting real GSocketServices on loopback, with a made-up limit so
 * nothing has to run out.
 */
#include "config.h"

#include <unistd.h>

#include "sm-accept-guard.h"
#include "sm-test-util.h"

#define WAIT_MS 20000
#define MS      1000

/* ---- Pure decisions ---- */

static void
test_reserve (void)
{
  /* 32 kept for the daemon; the control port may use half of it */
  g_assert_cmpuint (sm_accept_guard_reserve (1024, SM_ACCEPT_PUBLIC), ==, 32);
  g_assert_cmpuint (sm_accept_guard_reserve (1024, SM_ACCEPT_CONTROL), ==, 16);
  g_assert_cmpuint (sm_accept_guard_reserve (1048576, SM_ACCEPT_PUBLIC), ==, 32);
  g_assert_cmpuint (sm_accept_guard_reserve (64, SM_ACCEPT_PUBLIC), ==, 32);
  /* A tiny limit keeps half for connections */
  g_assert_cmpuint (sm_accept_guard_reserve (20, SM_ACCEPT_PUBLIC), ==, 10);
  g_assert_cmpuint (sm_accept_guard_reserve (20, SM_ACCEPT_CONTROL), ==, 5);
  g_assert_cmpuint (sm_accept_guard_reserve (1, SM_ACCEPT_PUBLIC), ==, 0);

  /* The lowest free descriptor is handed out: descriptor 31 means 32 in use */
  g_assert_true (sm_accept_guard_fd_ok (31, 64, SM_ACCEPT_PUBLIC));
  g_assert_false (sm_accept_guard_fd_ok (32, 64, SM_ACCEPT_PUBLIC));
  g_assert_false (sm_accept_guard_fd_ok (63, 64, SM_ACCEPT_PUBLIC));
  g_assert_true (sm_accept_guard_fd_ok (47, 64, SM_ACCEPT_CONTROL));
  g_assert_false (sm_accept_guard_fd_ok (48, 64, SM_ACCEPT_CONTROL));
  g_assert_true (sm_accept_guard_fd_ok (991, 1024, SM_ACCEPT_PUBLIC));
  g_assert_false (sm_accept_guard_fd_ok (992, 1024, SM_ACCEPT_PUBLIC));
  g_assert_true (sm_accept_guard_fd_ok (-1, 64, SM_ACCEPT_PUBLIC));
}

static void
test_tally_episode (void)
{
  SmAcceptTally tally;
  gint64 t = 1000 * G_USEC_PER_SEC;

  sm_accept_tally_init (&tally, 5 * G_USEC_PER_SEC);
  g_assert_cmpint (sm_accept_tally_tick (&tally, t), ==, SM_ACCEPT_REPORT_NONE);

  /* The first refusal is told at once */
  g_assert_cmpint (sm_accept_tally_refused (&tally, 40, 64, t), ==, SM_ACCEPT_REPORT_EXHAUSTED);
  g_assert_cmpint (tally.max_fd, ==, 40);
  g_assert_cmpuint (tally.limit, ==, 64);
  g_assert_cmpuint (tally.refused, ==, 1);
  sm_accept_tally_logged (&tally, t);

  /* The next ones within the interval are only counted */
  g_assert_cmpint (sm_accept_tally_refused (&tally, 33, 64, t + 250 * MS), ==,
                   SM_ACCEPT_REPORT_NONE);
  g_assert_cmpint (sm_accept_tally_tick (&tally, t + 500 * MS), ==, SM_ACCEPT_REPORT_NONE);
  g_assert_cmpint (sm_accept_tally_refused (&tally, 35, 64, t + 4000 * MS), ==,
                   SM_ACCEPT_REPORT_NONE);
  g_assert_cmpuint (tally.refused, ==, 2);
  g_assert_cmpint (tally.max_fd, ==, 35);

  /* A refusal an interval after the last line: a line with the counts */
  g_assert_cmpint (sm_accept_tally_tick (&tally, t + 5000 * MS), ==, SM_ACCEPT_REPORT_NONE);
  g_assert_cmpint (sm_accept_tally_refused (&tally, 36, 64, t + 5100 * MS), ==,
                   SM_ACCEPT_REPORT_STILL);
  g_assert_cmpuint (tally.refused, ==, 3);
  g_assert_cmpint (tally.max_fd, ==, 36);
  sm_accept_tally_logged (&tally, t + 5100 * MS);
  g_assert_cmpuint (tally.refused, ==, 0);
  g_assert_cmpuint (tally.refused_total, ==, 4);

  /* Counted, no line yet; ticks tell nothing while refusals are recent */
  g_assert_cmpint (sm_accept_tally_refused (&tally, 33, 64, t + 6000 * MS), ==,
                   SM_ACCEPT_REPORT_NONE);
  g_assert_cmpint (sm_accept_tally_tick (&tally, t + 10500 * MS), ==, SM_ACCEPT_REPORT_NONE);

  /* An interval without refusals ends the episode, with what is left */
  g_assert_cmpint (sm_accept_tally_tick (&tally, t + 11000 * MS), ==,
                   SM_ACCEPT_REPORT_RECOVERED);
  g_assert_false (tally.exhausted);
  g_assert_cmpuint (tally.refused, ==, 1);
  g_assert_cmpuint (tally.refused_total, ==, 5);
  sm_accept_tally_logged (&tally, t + 11000 * MS);
  g_assert_cmpuint (tally.refused_total, ==, 0);
  g_assert_cmpint (sm_accept_tally_tick (&tally, t + 20000 * MS), ==, SM_ACCEPT_REPORT_NONE);

  /* A new episode starts with a line again */
  g_assert_cmpint (sm_accept_tally_refused (&tally, 40, 64, t + 21000 * MS), ==,
                   SM_ACCEPT_REPORT_EXHAUSTED);
}

/* A flood refused every millisecond for 60 s, ticks every 250 ms: one line
 * per interval, not one per connection */
static void
test_tally_flood_bounded (void)
{
  SmAcceptTally tally;
  gint64 t = 0;
  guint lines = 0;
  guint64 told = 0;

  sm_accept_tally_init (&tally, 5 * G_USEC_PER_SEC);
  for (guint ms = 0; ms < 70000; ms++)
    {
      SmAcceptReport report = SM_ACCEPT_REPORT_NONE;

      t = ms * MS;
      if (ms < 60000)
        report = sm_accept_tally_refused (&tally, 60, 64, t);
      if (report == SM_ACCEPT_REPORT_NONE && ms % 250 == 0)
        report = sm_accept_tally_tick (&tally, t);
      if (report == SM_ACCEPT_REPORT_NONE)
        continue;

      lines++;
      told += tally.refused;
      if (report == SM_ACCEPT_REPORT_RECOVERED)
        g_assert_cmpuint (tally.refused_total, ==, 60000);
      sm_accept_tally_logged (&tally, t);
    }

  /* The first, one per 5 s, the end; every refusal counted once */
  g_assert_cmpuint (lines, <=, 1 + 60 / 5 + 1);
  g_assert_cmpuint (lines, >=, 3);
  g_assert_cmpuint (told, ==, 60000);
  g_assert_false (tally.exhausted);
}

/* ---- The guard around real services ---- */

typedef struct {
  SmAcceptGuard     *guard;
  SmAcceptKind       kind;
  guint              n_incoming;
  guint              n_admitted;
  GSocketConnection *kept;
} Listener;

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             Listener          *listener)
{
  listener->n_incoming++;
  if (!sm_accept_guard_admit (listener->guard, service, connection, listener->kind))
    return TRUE;

  listener->n_admitted++;
  g_clear_object (&listener->kept);
  listener->kept = g_object_ref (connection);
  return TRUE;
}

static GSocketService *
listener_start (Listener *listener, guint16 *out_port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  GSocketService *service = g_socket_service_new ();

  g_assert_true (g_socket_listener_add_address (G_SOCKET_LISTENER (service), address,
                                                G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                                NULL, &effective, &error));
  g_assert_no_error (error);
  *out_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  g_signal_connect (service, "incoming", G_CALLBACK (on_incoming), listener);
  return service;
}

typedef struct {
  guint *value;
  guint  at_least;
} AtLeast;

static gboolean
reached (gpointer data)
{
  AtLeast *wait = data;

  return *wait->value >= wait->at_least;
}

static void
wait_incoming (Listener *listener, guint n)
{
  AtLeast wait = { &listener->n_incoming, n };

  if (!sm_test_wait_until (reached, &wait, WAIT_MS))
    sm_test_fail ("%u connections seen, expected %u", listener->n_incoming, n);
}

static void
connect_client (guint16 port, GPtrArray *clients)
{
  g_autoptr(GError) error = NULL;
  GSocket *socket = sm_test_connect (port, &error);

  g_assert_no_error (error);
  g_ptr_array_add (clients, socket);
}

static gboolean
service_is_active (gpointer data)
{
  return g_socket_service_is_active (data);
}

static void
test_guard_pauses_and_resumes (void)
{
  g_autoptr(SmAcceptGuard) guard = sm_accept_guard_new ();
  Listener listener = { guard, SM_ACCEPT_PUBLIC, 0, 0, NULL };
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func (g_object_unref);
  GSocketService *service;
  guint16 port;

  /* Limit 1: every descriptor is past it, every connection refused */
  sm_accept_guard_set_limit (guard, 1);
  sm_accept_guard_set_timing (guard, 50, 200 * MS);
  service = listener_start (&listener, &port);

  g_test_expect_message ("socketmaster", G_LOG_LEVEL_WARNING, "Out of file descriptors*");
  connect_client (port, clients);
  wait_incoming (&listener, 1);
  g_test_assert_expected_messages ();

  /* Closed at once, and the service stopped */
  g_assert_cmpuint (listener.n_admitted, ==, 0);
  g_assert_true (sm_test_socket_is_closed_by_peer (g_ptr_array_index (clients, 0)));
  g_assert_false (g_socket_service_is_active (service));
  g_assert_cmpuint (sm_accept_guard_get_n_paused (guard), ==, 1);

  /* Started again after the pause; with room, connections are kept */
  if (!sm_test_wait_until (service_is_active, service, WAIT_MS))
    sm_test_fail ("the service was not started again");
  g_assert_cmpuint (sm_accept_guard_get_n_paused (guard), ==, 0);
  sm_accept_guard_set_limit (guard, 0);
  connect_client (port, clients);
  wait_incoming (&listener, 2);
  g_assert_cmpuint (listener.n_admitted, ==, 1);
  g_assert_true (g_socket_service_is_active (service));

  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
  g_object_unref (service);
  g_clear_object (&listener.kept);
}

static guint
find_limit (int first_fd, int n)
{
  for (guint limit = 1; limit < 65536; limit++)
    {
      gboolean fits = TRUE;

      for (int fd = first_fd; fd < first_fd + n; fd++)
        fits = fits && !sm_accept_guard_fd_ok (fd, limit, SM_ACCEPT_PUBLIC) &&
               sm_accept_guard_fd_ok (fd, limit, SM_ACCEPT_CONTROL);
      if (fits)
        return limit;
    }

  sm_test_fail ("no limit between the reserves for descriptors %d and up", first_fd);
}

/* Two listeners share the guard: each is paused on its own refusal, one
 * line for both; the control port still accepts where a public one stops */
static void
test_guard_shared (void)
{
  g_autoptr(SmAcceptGuard) guard = sm_accept_guard_new ();
  Listener public_listener = { guard, SM_ACCEPT_PUBLIC, 0, 0, NULL };
  Listener control_listener = { guard, SM_ACCEPT_CONTROL, 0, 0, NULL };
  GSocketService *public_service, *control_service;
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GArray) fillers = g_array_new (FALSE, FALSE, sizeof (int));
  guint16 public_port, control_port;
  int next_fd;

  public_service = listener_start (&public_listener, &public_port);
  control_service = listener_start (&control_listener, &control_port);
  /* Long enough that the second refusal gets no line of its own */
  sm_accept_guard_set_timing (guard, 50, 600 * G_USEC_PER_SEC);

  /* The next descriptors (the clients' sockets, the accepted ones) start
   * at the lowest free one: a limit that puts a few of them past the public
   * reserve, but not past the control one. Past 40 the window between the
   * two is 16 wide: fill the low ones. */
  while ((next_fd = dup (0)) < 40)
    {
      g_assert_cmpint (next_fd, >=, 0);
      g_array_append_val (fillers, next_fd);
    }
  close (next_fd);
  sm_accept_guard_set_limit (guard, find_limit (next_fd, 8));

  g_test_expect_message ("socketmaster", G_LOG_LEVEL_WARNING, "Out of file descriptors*");
  connect_client (public_port, clients);
  wait_incoming (&public_listener, 1);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (public_listener.n_admitted, ==, 0);
  g_assert_false (g_socket_service_is_active (public_service));

  connect_client (control_port, clients);
  wait_incoming (&control_listener, 1);
  g_assert_cmpuint (control_listener.n_admitted, ==, 1);
  g_assert_true (g_socket_service_is_active (control_service));

  /* Refused on the control port too: paused as well, no second line */
  sm_accept_guard_set_limit (guard, 1);
  connect_client (control_port, clients);
  wait_incoming (&control_listener, 2);
  g_assert_cmpuint (control_listener.n_admitted, ==, 1);
  g_assert_cmpuint (sm_accept_guard_get_n_paused (guard), ==, 2);

  /* Forgotten: released at once, and not started again */
  sm_accept_guard_forget (guard, control_service);
  g_assert_cmpuint (sm_accept_guard_get_n_paused (guard), ==, 1);
  g_object_add_weak_pointer (G_OBJECT (control_service), (gpointer *) &control_service);
  g_socket_listener_close (G_SOCKET_LISTENER (control_service));
  g_object_unref (control_service);
  g_assert_null (control_service);

  if (!sm_test_wait_until (service_is_active, public_service, WAIT_MS))
    sm_test_fail ("the public service was not started again");

  g_socket_service_stop (public_service);
  g_socket_listener_close (G_SOCKET_LISTENER (public_service));
  g_object_unref (public_service);
  g_clear_object (&control_listener.kept);
  for (guint i = 0; i < fillers->len; i++)
    close (g_array_index (fillers, int, i));
}

static const struct {
  const char *path;
  GTestFunc   func;
} tests[] = {
  { "/accept-guard/reserve", test_reserve },
  { "/accept-guard/tally-episode", test_tally_episode },
  { "/accept-guard/tally-flood-bounded", test_tally_flood_bounded },
  { "/accept-guard/pauses-and-resumes", test_guard_pauses_and_resumes },
  { "/accept-guard/shared", test_guard_shared },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (tests); i++)
    g_test_add_func (tests[i].path, tests[i].func);
  return g_test_run ();
}
