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

/*
 * The byte at @offset is (offset * 131) ^ (offset >> 11) ^ (offset >> 19)
 * ^ seed, truncated. Within an aligned block of 2 KiB the last three terms
 * do not change and the first repeats every 256 bytes: a block is one row
 * of 256 bytes, repeated. Copying rows keeps the per-byte work, which the
 * sanitizers make slow, off the paths that move hundreds of MiB.
 */
#define PATTERN_BLOCK 2048
#define PATTERN_ROW   256

static void
pattern_row (guint8  row[PATTERN_ROW],
             guint   seed,
             guint64 offset)
{
  guint8 k = (guint8) ((offset >> 11) ^ (offset >> 19) ^ seed);

  for (guint i = 0; i < PATTERN_ROW; i++)
    row[i] = (guint8) (i * 131) ^ k;
}

void
sm_test_pattern_fill (guint8  *buffer,
                      gsize    len,
                      guint    seed,
                      guint64  offset)
{
  while (len > 0)
    {
      guint8 row[PATTERN_ROW];
      gsize n = MIN (len, PATTERN_BLOCK - offset % PATTERN_BLOCK);

      pattern_row (row, seed, offset);
      for (gsize done = 0; done < n;)
        {
          gsize start = (offset + done) % PATTERN_ROW;
          gsize step = MIN (n - done, PATTERN_ROW - start);

          memcpy (buffer + done, row + start, step);
          done += step;
        }
      buffer += n;
      len -= n;
      offset += n;
    }
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
  guint8 expected[PATTERN_BLOCK];

  for (gsize done = 0; done < len;)
    {
      gsize n = MIN (len - done, sizeof expected);

      sm_test_pattern_fill (expected, n, seed, offset + done);
      if (memcmp (buffer + done, expected, n) != 0)
        for (gsize i = 0;; i++)
          if (buffer[done + i] != expected[i])
            return done + i;
      done += n;
    }
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
