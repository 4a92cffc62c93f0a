/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers of test-yamux-session.c, kept apart to keep both files short.
 */

#include <string.h>
#include <gio/gio.h>

#include "sm-error.h"
#include "sm-yamux-session.h"
#include "sm-yamux-stream.h"
#include "test-fixture-util.h"

/*
 * Two yamux sessions (client and server roles) over a socketpair in the
 * default main context, or one session facing a "raw" peer: the test's own
 * socket end, through which it reads and writes hand-made frames.
 */

#define MIB (1024 * 1024)
#define TEST_TIMEOUT_SECONDS 60
#define CHUNK (64 * 1024)

typedef struct {
  SmYamuxSession *session;
  GPtrArray      *incoming;      /* SmYamuxStream, taken by the handler */
  gboolean        take_incoming;
  gboolean        closed;
  GError         *closed_error;
  gboolean        got_go_away;
  guint           go_away_code;
  guint           n_streams_notifications;
} Side;

typedef struct {
  Side        client;
  Side        server;
  GIOStream  *raw;               /* the raw peer's end, if any */
  GByteArray *raw_input;         /* read from it, not yet parsed */
  guint       timeout_id;
  gboolean    timed_out;
} Fixture;

static void
on_incoming (SmYamuxSession *session,
             SmYamuxStream  *stream,
             Side           *side)
{
  if (side->take_incoming)
    g_ptr_array_add (side->incoming, g_object_ref (stream));
}

static void
on_closed (SmYamuxSession *session,
           const GError   *error,
           Side           *side)
{
  g_assert_false (side->closed);
  side->closed = TRUE;
  side->closed_error = error != NULL ? g_error_copy (error) : NULL;
}

static void
on_go_away (SmYamuxSession *session,
            guint           code,
            Side           *side)
{
  side->got_go_away = TRUE;
  side->go_away_code = code;
}

static void
on_n_streams (GObject    *object,
              GParamSpec *pspec,
              Side       *side)
{
  side->n_streams_notifications++;
}

static void
side_init (Side               *side,
           GIOStream          *connection,
           SmYamuxRole         role,
           const SmYamuxConfig *config)
{
  side->session = sm_yamux_session_new (connection, role, config, NULL);
  side->incoming = g_ptr_array_new_with_free_func (g_object_unref);
  side->take_incoming = TRUE;
  g_signal_connect (side->session, "incoming", G_CALLBACK (on_incoming), side);
  g_signal_connect (side->session, "closed", G_CALLBACK (on_closed), side);
  g_signal_connect (side->session, "go-away", G_CALLBACK (on_go_away), side);
  g_signal_connect (side->session, "notify::n-streams", G_CALLBACK (on_n_streams), side);
}

static void
side_clear (Side *side)
{
  if (side->session == NULL)
    return;
  g_signal_handlers_disconnect_by_data (side->session, side);
  g_clear_pointer (&side->incoming, g_ptr_array_unref);
  g_clear_object (&side->session);
  g_clear_error (&side->closed_error);
}

static void
test_config (SmYamuxConfig *config)
{
  sm_yamux_config_init (config);
  config->keepalive_interval_ms = 0;
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  fixture->timeout_id = g_timeout_add_seconds (TEST_TIMEOUT_SECONDS, on_test_timeout,
                                              &fixture->timed_out);
  fixture->raw_input = g_byte_array_new ();
}

static void
fixture_start (Fixture             *fixture,
               const SmYamuxConfig *client_config,
               const SmYamuxConfig *server_config)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  SmYamuxConfig config;

  test_config (&config);
  make_connections (&a, &b);
  side_init (&fixture->client, a, SM_YAMUX_ROLE_CLIENT, client_config ? client_config : &config);
  side_init (&fixture->server, b, SM_YAMUX_ROLE_SERVER, server_config ? server_config : &config);
}

/* One session of @role facing the test's raw socket. */
static Side *
fixture_start_raw (Fixture             *fixture,
                   SmYamuxRole          role,
                   const SmYamuxConfig *config)
{
  g_autoptr(GIOStream) a = NULL;
  Side *side = role == SM_YAMUX_ROLE_CLIENT ? &fixture->client : &fixture->server;
  SmYamuxConfig defaults;

  test_config (&defaults);
  make_connections (&a, &fixture->raw);
  side_init (side, a, role, config ? config : &defaults);
  return side;
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  side_clear (&fixture->client);
  side_clear (&fixture->server);
  g_clear_object (&fixture->raw);
  g_byte_array_unref (fixture->raw_input);
  g_clear_handle_id (&fixture->timeout_id, g_source_remove);
  /* Let idle completions of closed streams run before the leak check. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* Raw peer */

static void
raw_send (Fixture *fixture,
          guint8   type,
          guint16  flags,
          guint32  stream_id,
          guint32  length,
          const void *payload,
          gsize    payload_len)
{
  SmYamuxHeader header = { SM_YAMUX_VERSION, type, flags, stream_id, length };
  guint8 encoded[SM_YAMUX_HEADER_SIZE];
  GOutputStream *output = g_io_stream_get_output_stream (fixture->raw);
  g_autoptr(GError) error = NULL;

  sm_yamux_header_encode (&header, encoded);
  g_output_stream_write_all (output, encoded, sizeof encoded, NULL, NULL, &error);
  g_assert_no_error (error);
  if (payload_len > 0)
    g_output_stream_write_all (output, payload, payload_len, NULL, NULL, &error);
  g_assert_no_error (error);
}

static gboolean
on_raw_ready (GObject  *stream,
              gpointer  user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Writes @len bytes while the main loop runs (the session reads them). */
static void
raw_write_all (Fixture    *fixture,
               const void *data,
               gsize       len)
{
  GPollableOutputStream *output = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (fixture->raw));
  gsize done = 0;

  while (done < len)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_pollable_output_stream_write_nonblocking (output, (const guint8 *) data + done,
                                                             len - done, NULL, &error);

      if (n < 0)
        {
          g_autoptr(GSource) source = g_pollable_output_stream_create_source (output, NULL);
          gboolean writable = FALSE;

          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
          g_source_set_callback (source, G_SOURCE_FUNC (on_raw_ready), &writable, NULL);
          g_source_attach (source, NULL);
          WAIT_FOR (fixture, writable);
          continue;
        }
      done += n;
    }
}

/* Reads more raw input while the main loop runs. FALSE on EOF. */
static gboolean
raw_fill (Fixture *fixture)
{
  GPollableInputStream *input = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (fixture->raw));
  g_autoptr(GSource) source = g_pollable_input_stream_create_source (input, NULL);
  g_autoptr(GError) error = NULL;
  guint8 buffer[CHUNK];
  gboolean readable = FALSE;
  gssize n;

  g_source_set_callback (source, G_SOURCE_FUNC (on_raw_ready), &readable, NULL);
  g_source_attach (source, NULL);
  WAIT_FOR (fixture, readable);

  n = g_pollable_input_stream_read_nonblocking (input, buffer, sizeof buffer, NULL, &error);
  g_assert_no_error (error);
  g_byte_array_append (fixture->raw_input, buffer, n);
  return n > 0;
}

/* Next frame from the session; its DATA payload is skipped. FALSE on EOF. */
static gboolean
raw_read_frame (Fixture       *fixture,
                SmYamuxHeader *header)
{
  g_autoptr(GError) error = NULL;
  gsize payload;

  while (fixture->raw_input->len < SM_YAMUX_HEADER_SIZE)
    if (!raw_fill (fixture))
      return FALSE;
  g_assert_true (sm_yamux_header_decode (fixture->raw_input->data, header, &error));
  g_assert_no_error (error);
  payload = header->type == SM_YAMUX_TYPE_DATA ? header->length : 0;
  while (fixture->raw_input->len < SM_YAMUX_HEADER_SIZE + payload)
    g_assert_true (raw_fill (fixture));
  g_byte_array_remove_range (fixture->raw_input, 0, SM_YAMUX_HEADER_SIZE + payload);
  return TRUE;
}

/* Stream helpers */

static void
write_all (SmYamuxStream *stream,
           const char    *text)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (stream)),
                             text, strlen (text), NULL, NULL, &error);
  g_assert_no_error (error);
}

static void
assert_read (SmYamuxStream *stream,
             const char    *expected)
{
  g_autoptr(GError) error = NULL;
  gsize len = strlen (expected);
  g_autofree char *buffer = g_malloc0 (len + 1);
  gsize n = 0;

  g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (stream)),
                           buffer, len, &n, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (buffer, ==, expected);
}

static void
assert_eof (SmYamuxStream *stream)
{
  g_autoptr(GError) error = NULL;
  char byte;

  g_assert_cmpint (g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (stream)),
                                        &byte, 1, NULL, &error), ==, 0);
  g_assert_no_error (error);
}

static void
assert_read_fails (SmYamuxStream *stream,
                   gint           code)
{
  g_autoptr(GError) error = NULL;
  char byte;

  g_assert_cmpint (g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (stream)),
                                        &byte, 1, NULL, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, code);
}

static void
close_output (SmYamuxStream *stream)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_close (g_io_stream_get_output_stream (G_IO_STREAM (stream)), NULL, &error);
  g_assert_no_error (error);
}

static void
close_stream (SmYamuxStream *stream)
{
  g_autoptr(GError) error = NULL;

  g_io_stream_close (G_IO_STREAM (stream), NULL, &error);
  g_assert_no_error (error);
}

static SmYamuxStream *
open_stream (Side *side)
{
  g_autoptr(GError) error = NULL;
  SmYamuxStream *stream = sm_yamux_session_open_stream (side->session, &error);

  g_assert_no_error (error);
  g_assert_nonnull (stream);
  return stream;
}

/* Echo: the server side copies each stream back until EOF, then closes. */

typedef struct {
  SmYamuxStream *stream;
  guint8         buffer[CHUNK];
  guint         *n_done;
} Echo;

static void echo_read (Echo *echo);

static void
on_echo_written (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Echo *echo = user_data;
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (object), result, NULL, &error);
  g_assert_no_error (error);
  echo_read (echo);
}

static void
on_echo_read (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Echo *echo = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &error);

  g_assert_no_error (error);
  if (n == 0)
    {
      close_stream (echo->stream);
      (*echo->n_done)++;
      g_object_unref (echo->stream);
      g_free (echo);
      return;
    }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (echo->stream)),
                                   echo->buffer, n, G_PRIORITY_DEFAULT, NULL,
                                   on_echo_written, echo);
}

static void
echo_read (Echo *echo)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (echo->stream)),
                             echo->buffer, sizeof echo->buffer, G_PRIORITY_DEFAULT, NULL,
                             on_echo_read, echo);
}

static void
on_incoming_echo (SmYamuxSession *session,
                  SmYamuxStream  *stream,
                  guint          *n_done)
{
  Echo *echo = g_new0 (Echo, 1);

  echo->stream = g_object_ref (stream);
  echo->n_done = n_done;
  echo_read (echo);
}

/* Client side of an echo: writes a pattern, half-closes, checks the echo. */
typedef struct {
  SmYamuxStream *stream;
  guint          seed;
  const guint8  *pattern;      /* CHUNK bytes longer than what we send */
  gsize          size;
  gsize          sent;
  gsize          received;
  gboolean       write_done;
  gboolean       read_done;
  guint8         buffer[CHUNK];
} Transfer;

static void transfer_write (Transfer *transfer);
static void transfer_read (Transfer *transfer);

static void
on_transfer_written (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Transfer *transfer = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_output_stream_write_finish (G_OUTPUT_STREAM (object), result, &error);

  g_assert_no_error (error);
  transfer->sent += n;
  transfer_write (transfer);
}

static void
transfer_write (Transfer *transfer)
{
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (transfer->stream));

  if (transfer->sent == transfer->size)
    {
      close_output (transfer->stream);
      transfer->write_done = TRUE;
      return;
    }
  g_output_stream_write_async (output, transfer->pattern + transfer->seed + transfer->sent,
                               MIN (CHUNK, transfer->size - transfer->sent),
                               G_PRIORITY_DEFAULT, NULL, on_transfer_written, transfer);
}

static void
on_transfer_read (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Transfer *transfer = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &error);

  g_assert_no_error (error);
  if (n == 0)
    {
      g_assert_cmpuint (transfer->received, ==, transfer->size);
      transfer->read_done = TRUE;
      return;
    }
  g_assert_cmpuint (transfer->received + n, <=, transfer->size);
  g_assert_true (memcmp (transfer->buffer,
                         transfer->pattern + transfer->seed + transfer->received, n) == 0);
  transfer->received += n;
  transfer_read (transfer);
}

static void
transfer_read (Transfer *transfer)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (transfer->stream)),
                             transfer->buffer, sizeof transfer->buffer, G_PRIORITY_DEFAULT,
                             NULL, on_transfer_read, transfer);
}

static guint8 *
make_pattern (gsize size)
{
  guint8 *pattern = g_malloc (size + CHUNK);

  for (gsize i = 0; i < size + CHUNK; i++)
    pattern[i] = pattern_byte (0, i);
  return pattern;
}

/* Reads a stream to its end, checking the pattern. */
typedef struct {
  SmYamuxStream *stream;
  const guint8  *pattern;
  gsize          received;
  gboolean       done;
  guint8         buffer[CHUNK];
} Sink;

static void
on_sink_read (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Sink *sink = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &error);

  g_assert_no_error (error);
  if (n == 0)
    {
      sink->done = TRUE;
      return;
    }
  g_assert_true (memcmp (sink->buffer, sink->pattern + sink->received, n) == 0);
  sink->received += n;
  g_input_stream_read_async (G_INPUT_STREAM (object), sink->buffer, sizeof sink->buffer,
                             G_PRIORITY_DEFAULT, NULL, on_sink_read, sink);
}

