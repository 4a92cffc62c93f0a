/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-test-yamux.h"

#define RAW_CHUNK   (64 * 1024)
#define ECHO_BUFFER (64 * 1024)

static void
on_incoming (SmYamuxSession  *session,
             SmYamuxStream   *stream,
             SmTestYamuxSide *side)
{
  if (side->take_incoming)
    g_ptr_array_add (side->incoming, g_object_ref (stream));
}

static void
on_closed (SmYamuxSession  *session,
           const GError    *error,
           SmTestYamuxSide *side)
{
  g_assert_false (side->closed);
  side->closed = TRUE;
  side->closed_error = error != NULL ? g_error_copy (error) : NULL;
}

static void
on_go_away (SmYamuxSession  *session,
            guint            code,
            SmTestYamuxSide *side)
{
  side->got_go_away = TRUE;
  side->go_away_code = code;
}

static void
on_n_streams (GObject         *object,
              GParamSpec      *pspec,
              SmTestYamuxSide *side)
{
  side->n_streams_notifications++;
}

void
sm_test_yamux_side_start (SmTestYamuxSide     *side,
                          GIOStream           *connection,
                          SmYamuxRole          role,
                          const SmYamuxConfig *config,
                          GBytes              *initial_input)
{
  side->session = sm_yamux_session_new (connection, role, config, initial_input);
  side->incoming = g_ptr_array_new_with_free_func (g_object_unref);
  side->take_incoming = TRUE;
  g_signal_connect (side->session, "incoming", G_CALLBACK (on_incoming), side);
  g_signal_connect (side->session, "closed", G_CALLBACK (on_closed), side);
  g_signal_connect (side->session, "go-away", G_CALLBACK (on_go_away), side);
  g_signal_connect (side->session, "notify::n-streams", G_CALLBACK (on_n_streams), side);
}

static void
side_clear (SmTestYamuxSide *side)
{
  if (side->session == NULL)
    return;
  g_signal_handlers_disconnect_by_data (side->session, side);
  g_clear_pointer (&side->incoming, g_ptr_array_unref);
  g_clear_object (&side->session);
  g_clear_error (&side->closed_error);
}

void
sm_test_yamux_config_init (SmYamuxConfig *config)
{
  sm_yamux_config_init (config);
  config->keepalive_interval_ms = 0;
}

void
sm_test_yamux_setup (SmTestYamux   *fixture,
                     gconstpointer  data)
{
  fixture->raw_input = g_byte_array_new ();
}

void
sm_test_yamux_start (SmTestYamux         *fixture,
                     const SmYamuxConfig *client_config,
                     const SmYamuxConfig *server_config)
{
  g_autoptr(GIOStream) a = NULL;
  g_autoptr(GIOStream) b = NULL;
  SmYamuxConfig config;

  sm_test_yamux_config_init (&config);
  sm_test_socketpair (&a, &b);
  sm_test_yamux_side_start (&fixture->client, a, SM_YAMUX_ROLE_CLIENT,
                            client_config ? client_config : &config, NULL);
  sm_test_yamux_side_start (&fixture->server, b, SM_YAMUX_ROLE_SERVER,
                            server_config ? server_config : &config, NULL);
}

SmTestYamuxSide *
sm_test_yamux_start_raw (SmTestYamux         *fixture,
                         SmYamuxRole          role,
                         const SmYamuxConfig *config)
{
  g_autoptr(GIOStream) a = NULL;
  SmTestYamuxSide *side = role == SM_YAMUX_ROLE_CLIENT ? &fixture->client : &fixture->server;
  SmYamuxConfig defaults;

  sm_test_yamux_config_init (&defaults);
  sm_test_socketpair (&a, &fixture->raw);
  sm_test_yamux_side_start (side, a, role, config ? config : &defaults, NULL);
  return side;
}

void
sm_test_yamux_teardown (SmTestYamux   *fixture,
                        gconstpointer  data)
{
  side_clear (&fixture->client);
  side_clear (&fixture->server);
  g_clear_object (&fixture->raw);
  g_byte_array_unref (fixture->raw_input);
  /* Let idle completions of closed streams run before the leak check. */
  sm_test_settle ();
}

SmYamuxStream *
sm_test_yamux_open_stream (SmTestYamuxSide *side)
{
  g_autoptr(GError) error = NULL;
  SmYamuxStream *stream = sm_yamux_session_open_stream (side->session, &error);

  g_assert_no_error (error);
  g_assert_nonnull (stream);
  return stream;
}

/* Echo */

typedef struct {
  SmYamuxStream *stream;
  guint8         buffer[ECHO_BUFFER];
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
      sm_test_close (G_IO_STREAM (echo->stream));
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

void
sm_test_yamux_echo_incoming (SmYamuxSession *session,
                             SmYamuxStream  *stream,
                             guint          *n_done)
{
  Echo *echo = g_new0 (Echo, 1);

  echo->stream = g_object_ref (stream);
  echo->n_done = n_done;
  echo_read (echo);
}

/* Raw peer */

void
sm_test_yamux_raw_send (SmTestYamux *fixture,
                        guint8       type,
                        guint16      flags,
                        guint32      stream_id,
                        guint32      length,
                        const void  *payload,
                        gsize        payload_len)
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

void
sm_test_yamux_raw_write_all (SmTestYamux *fixture,
                             const void  *data,
                             gsize        len)
{
  GPollableOutputStream *output = sm_test_output_of (fixture->raw);
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
          SM_TEST_WAIT_FOR (writable);
          continue;
        }
      done += n;
    }
}

/* Reads more raw input while the main loop runs. FALSE on EOF. */
static gboolean
raw_fill (SmTestYamux *fixture)
{
  GPollableInputStream *input = sm_test_input_of (fixture->raw);
  g_autoptr(GSource) source = g_pollable_input_stream_create_source (input, NULL);
  g_autoptr(GError) error = NULL;
  guint8 buffer[RAW_CHUNK];
  gboolean readable = FALSE;
  gssize n;

  g_source_set_callback (source, G_SOURCE_FUNC (on_raw_ready), &readable, NULL);
  g_source_attach (source, NULL);
  SM_TEST_WAIT_FOR (readable);

  n = g_pollable_input_stream_read_nonblocking (input, buffer, sizeof buffer, NULL, &error);
  g_assert_no_error (error);
  g_byte_array_append (fixture->raw_input, buffer, n);
  return n > 0;
}

gboolean
sm_test_yamux_raw_read_frame (SmTestYamux   *fixture,
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
