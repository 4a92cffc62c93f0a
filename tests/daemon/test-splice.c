/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>

#include "sm-splice.h"
#include "sm-yamux-session.h"
#include "sm-yamux-stream.h"
#include "sm-test-support.h"

/*
 * Layout of every test:
 *
 *   a_app ⇄ a_splice ══ sm_splice ══ b_splice ⇄ b_app
 *
 * The test drives a_app and b_app (SmTestPeer) with async GIO in the same
 * main context as the splice. The pairs are socketpairs, pipes, loopback
 * TCP, or two ends of one yamux stream.
 */

#define MIB (1024 * 1024)

typedef struct {
  SmTestPeer      a_app;
  SmTestPeer      b_app;
  GIOStream      *a_splice;
  GIOStream      *b_splice;
  GCancellable   *splice_cancellable;
  SmYamuxSession *client_session;
  SmYamuxSession *server_session;

  gboolean        splice_done;
  gboolean        splice_ok;
  GError         *splice_error;
  SmSpliceCounts  counts;
} Fixture;

/* Two pipes as one GIOStream pair: not a GSocketConnection, so the splice
 * half-closes by closing the output stream. */
static void
pipe_pair (GIOStream **first,
           GIOStream **second)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) first_in = NULL;
  g_autoptr(GOutputStream) first_out = NULL;
  g_autoptr(GInputStream) second_in = NULL;
  g_autoptr(GOutputStream) second_out = NULL;
  int to_second[2], to_first[2];

  g_assert_true (g_unix_open_pipe (to_second, FD_CLOEXEC, &error));
  g_assert_no_error (error);
  g_assert_true (g_unix_open_pipe (to_first, FD_CLOEXEC, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++)
    {
      g_assert_true (g_unix_set_fd_nonblocking (to_second[i], TRUE, &error));
      g_assert_true (g_unix_set_fd_nonblocking (to_first[i], TRUE, &error));
    }

  first_in = g_unix_input_stream_new (to_first[0], TRUE);
  first_out = g_unix_output_stream_new (to_second[1], TRUE);
  second_in = g_unix_input_stream_new (to_second[0], TRUE);
  second_out = g_unix_output_stream_new (to_first[1], TRUE);
  *first = g_simple_io_stream_new (first_in, first_out);
  *second = g_simple_io_stream_new (second_in, second_out);
}

/* Loopback TCP: the only way to get a real ECONNRESET */
static void
tcp_pair (GIOStream **client,
          GIOStream **server)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_socket_client_set_enable_proxy (socket_client, FALSE);
  g_assert_true (g_socket_listener_add_address (listener, any_port, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error));
  g_assert_no_error (error);
  *client = G_IO_STREAM (g_socket_client_connect (socket_client, G_SOCKET_CONNECTABLE (bound),
                                                  NULL, &error));
  g_assert_no_error (error);
  *server = G_IO_STREAM (g_socket_listener_accept (listener, NULL, NULL, &error));
  g_assert_no_error (error);
}

static void
fixture_init (Fixture   *fixture,
              GIOStream *a_app,
              GIOStream *a_splice,
              GIOStream *b_splice,
              GIOStream *b_app)
{
  sm_test_peer_init (&fixture->a_app, a_app, 0x11);
  sm_test_peer_init (&fixture->b_app, b_app, 0x77);
  fixture->a_splice = a_splice;
  fixture->b_splice = b_splice;
  fixture->splice_cancellable = g_cancellable_new ();
}

/* The b pair is always a socketpair; @make_a_pair makes the a pair */
static void
fixture_setup_pairs (Fixture *fixture,
                     void   (*make_a_pair) (GIOStream **, GIOStream **))
{
  GIOStream *a_app, *a_splice, *b_splice, *b_app;

  make_a_pair (&a_app, &a_splice);
  sm_test_socketpair (&b_splice, &b_app);
  fixture_init (fixture, a_app, a_splice, b_splice, b_app);
}

static void
fixture_setup_sockets (Fixture       *fixture,
                       gconstpointer  data)
{
  fixture_setup_pairs (fixture, sm_test_socketpair);
}

static void
fixture_setup_pipes (Fixture       *fixture,
                     gconstpointer  data)
{
  fixture_setup_pairs (fixture, pipe_pair);
}

static void
fixture_setup_tcp (Fixture       *fixture,
                   gconstpointer  data)
{
  fixture_setup_pairs (fixture, tcp_pair);
}

static void
on_yamux_incoming (SmYamuxSession *session,
                   SmYamuxStream  *stream,
                   gpointer        user_data)
{
  GIOStream **accepted = user_data;

  *accepted = g_object_ref (G_IO_STREAM (stream));
}

/* The b pair is one yamux stream: opened by the daemon-like client
 * session (b_splice), accepted by the service-like server (b_app). */
static void
fixture_setup_yamux (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GIOStream) client_link = NULL;
  g_autoptr(GIOStream) server_link = NULL;
  GIOStream *a_app, *a_splice, *b_app = NULL;
  SmYamuxStream *b_splice;

  sm_test_socketpair (&a_app, &a_splice);
  sm_test_socketpair (&client_link, &server_link);
  fixture->client_session = sm_yamux_session_new (client_link, SM_YAMUX_ROLE_CLIENT, NULL, NULL);
  fixture->server_session = sm_yamux_session_new (server_link, SM_YAMUX_ROLE_SERVER, NULL, NULL);
  g_signal_connect (fixture->server_session, "incoming", G_CALLBACK (on_yamux_incoming), &b_app);

  b_splice = sm_yamux_session_open_stream (fixture->client_session, &error);
  g_assert_no_error (error);
  fixture_init (fixture, a_app, a_splice, G_IO_STREAM (b_splice), NULL);
  SM_TEST_WAIT_FOR (b_app != NULL);
  fixture->b_app.stream = b_app;
  g_signal_handlers_disconnect_by_data (fixture->server_session, &b_app);
}

/* As fixture_setup_yamux, but a_splice reads 4 MiB of a_app's pattern
 * from memory: how far the splice read tells exactly what it took. */
static void
fixture_setup_yamux_from_memory (Fixture       *fixture,
                                 gconstpointer  data)
{
  g_autoptr(GInputStream) input = NULL;
  g_autoptr(GOutputStream) output = g_memory_output_stream_new_resizable ();

  fixture_setup_yamux (fixture, data);
  input = g_memory_input_stream_new_from_data (sm_test_pattern_new (4 * MIB, fixture->a_app.send_seed),
                                               4 * MIB, g_free);
  /* The socketpair's ends are not used: swap them for the memory streams */
  g_clear_object (&fixture->a_app.stream);
  g_clear_object (&fixture->a_splice);
  fixture->a_splice = g_simple_io_stream_new (input, output);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  /* Let every async operation of the test peers finish before freeing */
  g_cancellable_cancel (fixture->a_app.cancellable);
  g_cancellable_cancel (fixture->b_app.cancellable);
  SM_TEST_WAIT_FOR (fixture->a_app.pending == 0 && fixture->b_app.pending == 0);
  if (!fixture->splice_done)
    {
      g_cancellable_cancel (fixture->splice_cancellable);
      SM_TEST_WAIT_FOR (fixture->splice_done);
    }

  if (fixture->client_session != NULL)
    {
      sm_yamux_session_close (fixture->client_session);
      sm_yamux_session_close (fixture->server_session);
    }
  sm_test_peer_clear (&fixture->a_app);
  sm_test_peer_clear (&fixture->b_app);
  g_clear_object (&fixture->client_session);
  g_clear_object (&fixture->server_session);
  g_clear_object (&fixture->a_splice);
  g_clear_object (&fixture->b_splice);
  g_clear_object (&fixture->splice_cancellable);
  g_clear_error (&fixture->splice_error);
}

static void
on_splice_done (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Fixture *fixture = user_data;

  g_assert_null (object);
  fixture->splice_ok = sm_splice_finish (result, &fixture->counts, &fixture->splice_error);
  fixture->splice_done = TRUE;
}

static void
start_splice (Fixture *fixture,
              gsize    buffer_size)
{
  sm_splice_async (fixture->a_splice, fixture->b_splice, buffer_size,
                   fixture->splice_cancellable, on_splice_done, fixture);
}

/* Each app reads and checks what the other one sends */
static void
peers_start_receive (Fixture *fixture)
{
  sm_test_peer_start_receive (&fixture->a_app, fixture->b_app.send_seed);
  sm_test_peer_start_receive (&fixture->b_app, fixture->a_app.send_seed);
}

static void
assert_splice_succeeded (Fixture *fixture,
                         guint64  a_to_b,
                         guint64  b_to_a)
{
  g_assert_no_error (fixture->splice_error);
  g_assert_true (fixture->splice_ok);
  g_assert_cmpuint (fixture->counts.a_to_b, ==, a_to_b);
  g_assert_cmpuint (fixture->counts.b_to_a, ==, b_to_a);
}

/* Waits for the splice to end with an I/O error, as when a side breaks */
static void
wait_splice_io_error (Fixture *fixture)
{
  SM_TEST_WAIT_FOR (fixture->splice_done);
  g_assert_false (fixture->splice_ok);
  g_assert_nonnull (fixture->splice_error);
  g_assert_true (fixture->splice_error->domain == G_IO_ERROR);
  g_test_message ("splice error: %s", fixture->splice_error->message);
}

static void
test_bulk_both_ways (Fixture       *fixture,
                     gconstpointer  data)
{
  const guint64 size = 16 * MIB;
  SmTestPeer *a = &fixture->a_app, *b = &fixture->b_app;

  start_splice (fixture, 0);
  peers_start_receive (fixture);
  sm_test_peer_start_send (a, size, TRUE);
  sm_test_peer_start_send (b, size, TRUE);

  SM_TEST_WAIT_FOR (fixture->splice_done && a->got_eof && b->got_eof);

  assert_splice_succeeded (fixture, size, size);
  g_assert_true (a->send_done);
  g_assert_true (b->send_done);
  sm_test_peer_assert_received (a, size);
  sm_test_peer_assert_received (b, size);
  /* The splice closed its ends when it finished */
  g_assert_true (g_io_stream_is_closed (fixture->a_splice));
  g_assert_true (g_io_stream_is_closed (fixture->b_splice));
}

/* a_app ends its side first; b_app still talks afterwards, then ends. */
static void
test_half_close (Fixture       *fixture,
                 gconstpointer  data)
{
  const guint64 a_size = 1000, b_size = 300 * 1024;
  SmTestPeer *a = &fixture->a_app, *b = &fixture->b_app;

  start_splice (fixture, 0);
  peers_start_receive (fixture);
  sm_test_peer_start_send (a, a_size, TRUE);

  SM_TEST_WAIT_FOR (b->got_eof);
  sm_test_peer_assert_received (b, a_size);
  g_assert_false (fixture->splice_done);
  g_assert_false (a->got_eof);
  g_assert_cmpuint (a->received, ==, 0);

  /* The other direction still flows after the half-close */
  sm_test_peer_start_send (b, b_size, FALSE);
  SM_TEST_WAIT_FOR ((b->send_done && a->received == b_size) || a->got_eof);
  g_assert_false (a->got_eof);
  g_assert_false (fixture->splice_done);

  sm_test_peer_shutdown_write (b);
  SM_TEST_WAIT_FOR (fixture->splice_done && a->got_eof);
  sm_test_peer_assert_received (a, b_size);
  assert_splice_succeeded (fixture, a_size, b_size);
}

/* Same, with b_app ending first, and the a side made of pipes so the
 * half-close towards it closes an output stream instead of a socket. */
static void
test_half_close_reverse_pipes (Fixture       *fixture,
                               gconstpointer  data)
{
  const guint64 a_size = 1 * MIB, b_size = 1 * MIB + 7;
  SmTestPeer *a = &fixture->a_app, *b = &fixture->b_app;

  start_splice (fixture, 16 * 1024);
  peers_start_receive (fixture);
  sm_test_peer_start_send (b, b_size, TRUE);

  SM_TEST_WAIT_FOR (a->got_eof);
  sm_test_peer_assert_received (a, b_size);
  g_assert_false (fixture->splice_done);
  g_assert_false (b->got_eof);

  sm_test_peer_start_send (a, a_size, TRUE);
  SM_TEST_WAIT_FOR (fixture->splice_done && b->got_eof);
  sm_test_peer_assert_received (b, a_size);
  assert_splice_succeeded (fixture, a_size, b_size);
}

static void
reset_connection (gpointer data)
{
  SmTestPeer *peer = data;
  GSocket *socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (peer->stream));
  struct linger linger = { .l_onoff = 1, .l_linger = 0 };

  /* SO_LINGER 0: close() sends RST instead of FIN */
  g_assert_cmpint (setsockopt (g_socket_get_fd (socket), SOL_SOCKET, SO_LINGER,
                               &linger, sizeof linger), ==, 0);
  g_assert_true (g_io_stream_close (peer->stream, NULL, NULL));
}

static void
close_connection (gpointer data)
{
  SmTestPeer *peer = data;

  g_assert_true (g_io_stream_close (peer->stream, NULL, NULL));
}

/* Waits until @peer saw its connection end: EOF or error on read, and its
 * pending write failed. */
static void
assert_peer_cut_off (Fixture  *fixture,
                     SmTestPeer *peer)
{
  SM_TEST_WAIT_FOR ((peer->got_eof || peer->recv_error != NULL) &&
                    (peer->send_done || peer->send_error != NULL));
  g_assert_false (peer->send_done);
  g_assert_error (peer->send_error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
}

/* @broken's connection breaks (@breaker) once it received @at bytes of
 * what the other app sends: the splice fails and cuts the sender off. */
static void
assert_break_mid_transfer (Fixture    *fixture,
                           SmTestPeer *broken,
                           void      (*breaker) (gpointer peer),
                           guint64     at)
{
  const guint64 offered = 256 * MIB;
  gboolean a_breaks = broken == &fixture->a_app;
  SmTestPeer *sender = a_breaks ? &fixture->b_app : &fixture->a_app;
  guint64 *to_broken = a_breaks ? &fixture->counts.b_to_a : &fixture->counts.a_to_b;
  guint64 *to_sender = a_breaks ? &fixture->counts.a_to_b : &fixture->counts.b_to_a;

  start_splice (fixture, 0);
  sm_test_peer_notify_at (broken, at, breaker, broken);
  peers_start_receive (fixture);
  sm_test_peer_start_send (sender, offered, TRUE);

  wait_splice_io_error (fixture);
  g_assert_cmpuint (*to_broken, >=, broken->received);
  g_assert_cmpuint (*to_broken, <, offered);
  g_assert_cmpuint (*to_sender, ==, 0);
  g_assert_cmpuint (broken->first_mismatch, ==, G_MAXUINT64);

  /* The other side was closed, not left hanging */
  g_assert_true (g_io_stream_is_closed (a_breaks ? fixture->b_splice : fixture->a_splice));
  assert_peer_cut_off (fixture, sender);
}

static void
test_reset_mid_transfer (Fixture       *fixture,
                         gconstpointer  data)
{
  assert_break_mid_transfer (fixture, &fixture->a_app, reset_connection, 256 * 1024);
}

static void
test_close_mid_transfer (Fixture       *fixture,
                         gconstpointer  data)
{
  assert_break_mid_transfer (fixture, &fixture->b_app, close_connection, 128 * 1024);
}

static void
test_backpressure (Fixture       *fixture,
                   gconstpointer  data)
{
  const guint64 offered = 64 * MIB;
  /* 16 KiB of splice buffer plus two socketpairs' kernel buffers (about
   * 200 KiB each by default) is far below this. */
  const guint64 bound = 4 * MIB;
  SmTestPeer *a = &fixture->a_app, *b = &fixture->b_app;
  guint64 stalled_at;

  start_splice (fixture, 16 * 1024);
  sm_test_peer_start_receive (a, b->send_seed);
  sm_test_peer_start_send (a, offered, TRUE);
  /* b_app does not read */

  sm_test_settle ();
  stalled_at = a->sent;
  g_test_message ("a_app could write %" G_GUINT64_FORMAT " bytes", stalled_at);
  g_assert_cmpuint (stalled_at, >, 0);
  g_assert_cmpuint (stalled_at, <, bound);
  g_assert_false (a->send_done);
  g_assert_false (fixture->splice_done);

  /* Still stuck after another round: the splice no longer reads a */
  sm_test_settle ();
  g_assert_cmpuint (a->sent, ==, stalled_at);

  /* Once b_app reads, everything arrives intact */
  sm_test_peer_start_receive (b, a->send_seed);
  sm_test_peer_shutdown_write (b);
  SM_TEST_WAIT_FOR (fixture->splice_done && b->got_eof && a->got_eof);
  sm_test_peer_assert_received (b, offered);
  sm_test_peer_assert_received (a, 0);
  assert_splice_succeeded (fixture, offered, 0);
}

/* Towards a yamux stream the splice reads only what the stream's window
 * lets it send: a service that does not read leaves the rest unread at
 * the source instead of in the splice's buffer. */
static void
test_yamux_reads_within_window (Fixture       *fixture,
                                gconstpointer  data)
{
  GSeekable *source = G_SEEKABLE (g_io_stream_get_input_stream (fixture->a_splice));
  SmTestPeer *b = &fixture->b_app;

  start_splice (fixture, 1 * MIB);
  /* b_app does not read: one initial window goes out, no more is read */
  sm_test_settle ();
  g_assert_cmpuint (sm_yamux_stream_get_buffered (SM_YAMUX_STREAM (b->stream)), ==,
                    SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpint (g_seekable_tell (source), ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (sm_yamux_stream_get_write_room (SM_YAMUX_STREAM (fixture->b_splice)), ==, 0);

  /* Once b_app reads, the rest follows, intact */
  sm_test_peer_start_receive (b, fixture->a_app.send_seed);
  sm_test_peer_shutdown_write (b);
  SM_TEST_WAIT_FOR (fixture->splice_done && b->got_eof);
  sm_test_peer_assert_received (b, 4 * MIB);
  assert_splice_succeeded (fixture, 4 * MIB, 0);
}

static void
cancel_splice (gpointer data)
{
  Fixture *fixture = data;

  g_cancellable_cancel (fixture->splice_cancellable);
}

static void
test_cancel (Fixture       *fixture,
             gconstpointer  data)
{
  const guint64 offered = 256 * MIB;
  SmTestPeer *a = &fixture->a_app, *b = &fixture->b_app;

  start_splice (fixture, 0);
  sm_test_peer_notify_at (b, 1 * MIB, cancel_splice, fixture);
  peers_start_receive (fixture);
  sm_test_peer_start_send (a, offered, TRUE);

  SM_TEST_WAIT_FOR (fixture->splice_done);
  g_assert_false (fixture->splice_ok);
  g_assert_error (fixture->splice_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (fixture->counts.a_to_b, >=, 1 * MIB);
  g_assert_cmpuint (fixture->counts.a_to_b, <, offered);
  g_assert_true (g_io_stream_is_closed (fixture->a_splice));
  g_assert_true (g_io_stream_is_closed (fixture->b_splice));

  /* Both peers see their connection end */
  SM_TEST_WAIT_FOR (b->got_eof);
  g_assert_cmpuint (b->received, ==, fixture->counts.a_to_b);
  g_assert_cmpuint (b->first_mismatch, ==, G_MAXUINT64);
  assert_peer_cut_off (fixture, a);
}

static void
test_cancel_before_start (Fixture       *fixture,
                          gconstpointer  data)
{
  SmTestPeer *a = &fixture->a_app, *b = &fixture->b_app;

  g_cancellable_cancel (fixture->splice_cancellable);
  start_splice (fixture, 0);
  /* Never synchronously */
  g_assert_false (fixture->splice_done);
  peers_start_receive (fixture);

  SM_TEST_WAIT_FOR (fixture->splice_done && a->got_eof && b->got_eof);
  g_assert_error (fixture->splice_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (fixture->counts.a_to_b, ==, 0);
  g_assert_cmpuint (fixture->counts.b_to_a, ==, 0);
}

/* EOF becomes a yamux FIN one way and a socket shutdown the other way */
static void
test_yamux_half_close (Fixture       *fixture,
                       gconstpointer  data)
{
  const guint64 a_size = 1 * MIB, b_size = 3 * MIB;
  SmTestPeer *a = &fixture->a_app, *b = &fixture->b_app;

  start_splice (fixture, 0);
  peers_start_receive (fixture);
  sm_test_peer_start_send (a, a_size, TRUE);

  SM_TEST_WAIT_FOR (b->got_eof);
  sm_test_peer_assert_received (b, a_size);
  g_assert_false (a->got_eof);

  sm_test_peer_start_send (b, b_size, TRUE);
  SM_TEST_WAIT_FOR (fixture->splice_done && a->got_eof);
  sm_test_peer_assert_received (a, b_size);
  assert_splice_succeeded (fixture, a_size, b_size);
  g_assert_false (sm_yamux_stream_was_reset (SM_YAMUX_STREAM (b->stream)));
}

/* A broken socket side resets the yamux stream instead of ending it */
static void
test_yamux_reset_on_abort (Fixture       *fixture,
                           gconstpointer  data)
{
  SmTestPeer *a = &fixture->a_app, *b = &fixture->b_app;

  start_splice (fixture, 0);
  sm_test_peer_notify_at (a, 128 * 1024, close_connection, a);
  peers_start_receive (fixture);
  sm_test_peer_start_send (b, 256 * MIB, TRUE);

  SM_TEST_WAIT_FOR (fixture->splice_done);
  g_assert_nonnull (fixture->splice_error);
  g_test_message ("splice error: %s", fixture->splice_error->message);

  SM_TEST_WAIT_FOR (b->send_error != NULL && b->recv_error != NULL);
  g_assert_true (sm_yamux_stream_was_reset (SM_YAMUX_STREAM (b->stream)));
  g_assert_error (b->send_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_error (b->recv_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_false (b->got_eof);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/splice/bulk-both-ways", Fixture, NULL,
              fixture_setup_sockets, test_bulk_both_ways, fixture_teardown);
  g_test_add ("/splice/half-close", Fixture, NULL,
              fixture_setup_sockets, test_half_close, fixture_teardown);
  g_test_add ("/splice/half-close-reverse-pipes", Fixture, NULL,
              fixture_setup_pipes, test_half_close_reverse_pipes, fixture_teardown);
  g_test_add ("/splice/reset-mid-transfer", Fixture, NULL,
              fixture_setup_tcp, test_reset_mid_transfer, fixture_teardown);
  g_test_add ("/splice/close-mid-transfer", Fixture, NULL,
              fixture_setup_sockets, test_close_mid_transfer, fixture_teardown);
  g_test_add ("/splice/backpressure", Fixture, NULL,
              fixture_setup_sockets, test_backpressure, fixture_teardown);
  g_test_add ("/splice/cancel", Fixture, NULL,
              fixture_setup_sockets, test_cancel, fixture_teardown);
  g_test_add ("/splice/cancel-before-start", Fixture, NULL,
              fixture_setup_sockets, test_cancel_before_start, fixture_teardown);
  g_test_add ("/splice/yamux-half-close", Fixture, NULL,
              fixture_setup_yamux, test_yamux_half_close, fixture_teardown);
  g_test_add ("/splice/yamux-reset-on-abort", Fixture, NULL,
              fixture_setup_yamux, test_yamux_reset_on_abort, fixture_teardown);
  g_test_add ("/splice/yamux-reads-within-window", Fixture, NULL,
              fixture_setup_yamux_from_memory, test_yamux_reads_within_window, fixture_teardown);

  return g_test_run ();
}
