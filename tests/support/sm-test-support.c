/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>
#include <sys/socket.h>

#include "sm-test-support.h"

/* Waiting on the main context */

static gboolean
on_deadline (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_CONTINUE;
}

GSource *
sm_test_deadline_new (GMainContext *context,
                      gboolean     *expired)
{
  GSource *source = g_timeout_source_new_seconds (SM_TEST_TIMEOUT_SECONDS);

  *expired = FALSE;
  g_source_set_callback (source, on_deadline, expired, NULL);
  g_source_attach (source, context);
  return source;
}

void
sm_test_deadline_clear (GSource **deadline)
{
  g_source_destroy (*deadline);
  g_clear_pointer (deadline, g_source_unref);
}

void
sm_test_settle (void)
{
  guint dispatches = 0;

  for (guint round = 0; round < 3; round++)
    while (g_main_context_iteration (NULL, FALSE))
      g_assert_cmpuint (++dispatches, <, 100000);
}

/* Streams */

void
sm_test_socketpair (GIOStream **a,
                    GIOStream **b)
{
  int fds[2];
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket_a = NULL;
  g_autoptr(GSocket) socket_b = NULL;

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
  socket_a = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  socket_b = g_socket_new_from_fd (fds[1], &error);
  g_assert_no_error (error);
  *a = G_IO_STREAM (g_socket_connection_factory_create_connection (socket_a));
  *b = G_IO_STREAM (g_socket_connection_factory_create_connection (socket_b));
}

GPollableInputStream *
sm_test_input_of (GIOStream *stream)
{
  return G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (stream));
}

GPollableOutputStream *
sm_test_output_of (GIOStream *stream)
{
  return G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (stream));
}

void
sm_test_write_all (GIOStream  *stream,
                   const char *text)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all (g_io_stream_get_output_stream (stream), text, strlen (text),
                             NULL, NULL, &error);
  g_assert_no_error (error);
}

void
sm_test_assert_read (GIOStream  *stream,
                     const char *expected)
{
  g_autoptr(GError) error = NULL;
  gsize len = strlen (expected);
  g_autofree char *buffer = g_malloc0 (len + 1);
  gsize n = 0;

  g_input_stream_read_all (g_io_stream_get_input_stream (stream), buffer, len, &n, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (buffer, ==, expected);
}

void
sm_test_assert_eof (GIOStream *stream)
{
  g_autoptr(GError) error = NULL;
  char byte;

  g_assert_cmpint (g_input_stream_read (g_io_stream_get_input_stream (stream), &byte, 1, NULL,
                                        &error), ==, 0);
  g_assert_no_error (error);
}

void
sm_test_assert_read_fails (GIOStream *stream,
                           gint       code)
{
  g_autoptr(GError) error = NULL;
  char byte;

  g_assert_cmpint (g_input_stream_read (g_io_stream_get_input_stream (stream), &byte, 1, NULL,
                                        &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, code);
}

void
sm_test_close_output (GIOStream *stream)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_close (g_io_stream_get_output_stream (stream), NULL, &error);
  g_assert_no_error (error);
}

void
sm_test_close (GIOStream *stream)
{
  g_autoptr(GError) error = NULL;

  g_io_stream_close (stream, NULL, &error);
  g_assert_no_error (error);
}

/* Pattern bytes */

static inline guint8
pattern_byte (guint   seed,
              guint64 offset)
{
  return (guint8) ((offset * 131) ^ (offset >> 11) ^ (offset >> 19) ^ seed);
}

void
sm_test_pattern_fill (guint8  *buffer,
                      gsize    len,
                      guint    seed,
                      guint64  offset)
{
  for (gsize i = 0; i < len; i++)
    buffer[i] = pattern_byte (seed, offset + i);
}

guint8 *
sm_test_pattern_new (gsize len,
                     guint seed)
{
  guint8 *buffer = g_malloc (len);

  sm_test_pattern_fill (buffer, len, seed, 0);
  return buffer;
}

gssize
sm_test_pattern_find_mismatch (const guint8 *buffer,
                               gsize         len,
                               guint         seed,
                               guint64       offset)
{
  for (gsize i = 0; i < len; i++)
    if (buffer[i] != pattern_byte (seed, offset + i))
      return i;
  return -1;
}

/* A peer that sends and checks pattern bytes */

void
sm_test_peer_init (SmTestPeer *peer,
                   GIOStream  *stream,
                   guint8      seed)
{
  memset (peer, 0, sizeof *peer);
  peer->stream = stream;
  peer->cancellable = g_cancellable_new ();
  peer->send_seed = seed;
  peer->first_mismatch = G_MAXUINT64;
}

void
sm_test_peer_clear (SmTestPeer *peer)
{
  g_assert_cmpuint (peer->pending, ==, 0);
  g_clear_object (&peer->stream);
  g_clear_object (&peer->cancellable);
  g_clear_error (&peer->send_error);
  g_clear_error (&peer->recv_error);
}

void
sm_test_peer_shutdown_write (SmTestPeer *peer)
{
  g_autoptr(GError) error = NULL;

  if (G_IS_SOCKET_CONNECTION (peer->stream))
    g_socket_shutdown (g_socket_connection_get_socket (G_SOCKET_CONNECTION (peer->stream)),
                       FALSE, TRUE, &error);
  else
    g_output_stream_close (g_io_stream_get_output_stream (peer->stream), NULL, &error);
  g_assert_no_error (error);
}

static void peer_send_next (SmTestPeer *peer);

static void
on_peer_written (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  SmTestPeer *peer = user_data;
  gssize n;

  peer->pending--;
  n = g_output_stream_write_finish (G_OUTPUT_STREAM (object), result, &peer->send_error);
  if (n < 0)
    return;
  peer->sent += n;
  peer_send_next (peer);
}

static void
peer_send_next (SmTestPeer *peer)
{
  gsize chunk = MIN (SM_TEST_PEER_CHUNK, peer->to_send - peer->sent);

  if (chunk == 0)
    {
      if (peer->shutdown_when_sent)
        sm_test_peer_shutdown_write (peer);
      peer->send_done = TRUE;
      return;
    }

  sm_test_pattern_fill (peer->send_buffer, chunk, peer->send_seed, peer->sent);
  peer->pending++;
  g_output_stream_write_async (g_io_stream_get_output_stream (peer->stream),
                               peer->send_buffer, chunk, G_PRIORITY_DEFAULT,
                               peer->cancellable, on_peer_written, peer);
}

void
sm_test_peer_start_send (SmTestPeer *peer,
                         guint64     bytes,
                         gboolean    shutdown_when_sent)
{
  peer->to_send = bytes;
  peer->shutdown_when_sent = shutdown_when_sent;
  peer_send_next (peer);
}

static void peer_receive_next (SmTestPeer *peer);

static void
on_peer_read (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  SmTestPeer *peer = user_data;
  gssize n;

  peer->pending--;
  n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &peer->recv_error);
  if (n < 0)
    return;
  if (n == 0)
    {
      peer->got_eof = TRUE;
      return;
    }

  if (peer->first_mismatch == G_MAXUINT64)
    {
      gssize bad = sm_test_pattern_find_mismatch (peer->recv_buffer, n, peer->recv_seed,
                                                  peer->received);

      if (bad >= 0)
        peer->first_mismatch = peer->received + bad;
    }
  peer->received += n;

  if (peer->notify != NULL && peer->received >= peer->notify_at)
    {
      void (*notify) (gpointer) = peer->notify;

      peer->notify = NULL;
      notify (peer->notify_data);
    }
  /* The notify hook may have closed the stream to stop reading. */
  if (!g_io_stream_is_closed (peer->stream))
    peer_receive_next (peer);
}

static void
peer_receive_next (SmTestPeer *peer)
{
  peer->pending++;
  g_input_stream_read_async (g_io_stream_get_input_stream (peer->stream),
                             peer->recv_buffer, sizeof peer->recv_buffer,
                             G_PRIORITY_DEFAULT, peer->cancellable,
                             on_peer_read, peer);
}

void
sm_test_peer_start_receive (SmTestPeer *peer,
                            guint8      expected_seed)
{
  peer->recv_seed = expected_seed;
  peer_receive_next (peer);
}

void
sm_test_peer_notify_at (SmTestPeer *peer,
                        guint64     received,
                        void      (*notify) (gpointer data),
                        gpointer    notify_data)
{
  peer->notify_at = received;
  peer->notify = notify;
  peer->notify_data = notify_data;
}

void
sm_test_peer_assert_received (SmTestPeer *peer,
                              guint64     expected)
{
  g_assert_cmpuint (peer->first_mismatch, ==, G_MAXUINT64);
  g_assert_no_error (peer->recv_error);
  g_assert_true (peer->got_eof);
  g_assert_cmpuint (peer->received, ==, expected);
}
