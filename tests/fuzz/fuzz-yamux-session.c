/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sm-event-loop.h"
#include "sm-yamux-session.h"
#include "sm-yamux-stream.h"

/*
 * The yamux session state machine fed by a hostile peer: an SmYamuxSession
 * on one end of a socketpair, the harness on the other. The input is a
 * program: each operation either sends the session bytes (raw, or a frame
 * built from a few input bytes, so that the fuzzer reaches the states
 * behind valid headers quickly) or acts on the session's side as an
 * application would (open, read, write, close, reset streams, ping, go
 * away), directly or from an SmEventWatch as the daemon's proxies do.
 * After each operation both sides run until neither makes progress. No
 * timer ever fires (all intervals are an hour): runs are deterministic.
 */

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

/* Bound of pump()'s rounds, against a source that would stay ready */
#define MAX_ROUNDS 1024
/* Most payload bytes of a DATA frame we send: enough for the direct read
 * path (16 KiB and up); a bigger frame's length runs on into the frames
 * that follow. */
#define BIG_SIZE (48 * 1024)
/* Most bytes written to a stream at once: a whole frame of the session */
#define WRITE_SIZE (256 * 1024)
/* Pings that floods send in one run: enough to pause the session's
 * reading with a small output queue, few enough to keep runs fast */
#define MAX_FLOOD 4096

typedef struct
{
  const guint8 *data;
  size_t        size;
} Input;

typedef struct
{
  GMainContext   *context;
  SmYamuxSession *session;
  int             peer;       /* our end of the socketpair */
  gboolean        peer_shut;  /* we sent EOF */
  gboolean        peer_deaf;  /* we stopped reading: the session's output piles up */
  guint           n_flooded;  /* pings sent by floods */
  GByteArray     *to_session; /* bytes the socket has not taken yet */
  GPtrArray      *streams;    /* HarnessStream */
  gboolean        accept;     /* take incoming streams (else the session resets them) */
  guint           n_closed;   /* "closed" emissions */
} Harness;

/* A stream the application holds, and its watch while it has one */
typedef struct
{
  SmYamuxStream *stream;
  SmEventWatch  *watch;
  gboolean       reading;  /* the watch reads whatever arrives */
  gsize          to_write; /* the watch writes this much more */
} HarnessStream;

static const guint8 zeros[WRITE_SIZE];
static guint8       scratch[64 * 1024];

static guint8
take_u8 (Input *in)
{
  guint8 value;

  if (in->size == 0)
    return 0;
  value = in->data[0];
  in->data++;
  in->size--;
  return value;
}

static guint32
take_u32 (Input *in)
{
  guint32 value = 0;

  for (guint i = 0; i < 4; i++)
    value = (value << 8) | take_u8 (in);
  return value;
}

/* Up to @len bytes of the input, the rest zeros, to send to the session */
static void
take_bytes_to (Input *in, gsize len, GByteArray *out)
{
  gsize n = MIN (len, in->size);

  g_byte_array_append (out, in->data, n);
  in->data += n;
  in->size -= n;
  if (len > n)
    g_byte_array_append (out, zeros, len - n);
}

static void
append_header (GByteArray *out, guint8 type, guint16 flags, guint32 id, guint32 length)
{
  SmYamuxHeader header = { SM_YAMUX_VERSION, type, flags, id, length };
  guint8        encoded[SM_YAMUX_HEADER_SIZE];

  sm_yamux_header_encode (&header, encoded);
  g_byte_array_append (out, encoded, sizeof encoded);
}

static void
harness_stream_free (HarnessStream *hs)
{
  g_clear_pointer (&hs->watch, sm_event_watch_free);
  g_object_unref (hs->stream);
  g_free (hs);
}

/* Takes @stream */
static void
harness_add_stream (Harness *h, SmYamuxStream *stream)
{
  HarnessStream *hs = g_new0 (HarnessStream, 1);

  hs->stream = stream;
  g_ptr_array_add (h->streams, hs);
}

/* Level-triggered: each callback must end the condition or stop wanting it */
static void
watch_update (HarnessStream *hs)
{
  sm_event_watch_update (hs->watch, hs->reading, hs->to_write > 0);
}

static void
on_watch_readable (gpointer user_data)
{
  HarnessStream *hs = user_data;
  GInputStream  *input = g_io_stream_get_input_stream (G_IO_STREAM (hs->stream));
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (input), scratch,
                                                16 * 1024, NULL, &error);
  if (n == 0 || (n < 0 && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)))
    {
      hs->reading = FALSE;
      watch_update (hs);
    }
}

static void
on_watch_writable (gpointer user_data)
{
  HarnessStream *hs = user_data;
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (hs->stream));
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (output), zeros,
                                                  MIN (hs->to_write, 16 * 1024), NULL, &error);
  if (n > 0)
    hs->to_write -= n;
  else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    hs->to_write = 0;
  if (hs->to_write == 0)
    watch_update (hs);
}

static void
on_incoming (SmYamuxSession *session, SmYamuxStream *stream, gpointer user_data)
{
  Harness *h = user_data;

  if (h->accept)
    harness_add_stream (h, g_object_ref (stream));
}

static void
on_closed (SmYamuxSession *session, const GError *error, gpointer user_data)
{
  Harness *h = user_data;

  h->n_closed++;
}

/* Lets both sides run until neither makes progress: our bytes go out,
 * the session's answers are read and dropped, its sources dispatch. */
static void
pump (Harness *h)
{
  for (guint round = 0; round < MAX_ROUNDS; round++)
    {
      gboolean progress = FALSE;
      gssize   n;

      if (h->to_session->len > 0)
        {
          n = send (h->peer, h->to_session->data, h->to_session->len, MSG_DONTWAIT | MSG_NOSIGNAL);
          if (n > 0)
            {
              g_byte_array_remove_range (h->to_session, 0, n);
              progress = TRUE;
            }
          else if (n < 0 && errno != EAGAIN)
            {
              g_byte_array_set_size (h->to_session, 0); /* the session closed its end */
            }
        }

      while (!h->peer_deaf && recv (h->peer, scratch, sizeof scratch, MSG_DONTWAIT) > 0)
        progress = TRUE;

      for (guint i = 0; i < 16 && g_main_context_iteration (h->context, FALSE); i++)
        progress = TRUE;

      if (!progress)
        break;
    }
}

static HarnessStream *
pick_stream (Harness *h, Input *in)
{
  guint8 index = take_u8 (in);

  if (h->streams->len == 0)
    return NULL;
  return g_ptr_array_index (h->streams, index % h->streams->len);
}

/* What the stream API promises whatever the peer sent */
static void
check_stream (SmYamuxStream *stream)
{
  if (sm_yamux_stream_get_buffered (stream) > sm_yamux_stream_get_receive_window (stream))
    abort ();
}

static void
stream_step (Harness *h, guint8 op, HarnessStream *hs, Input *in)
{
  SmYamuxStream *stream = hs->stream;
  GInputStream  *input = g_io_stream_get_input_stream (G_IO_STREAM (stream));
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (stream));
  g_autoptr(GError) error = NULL;

  switch (op)
    {
    case 0: /* read */
      {
        gsize  len = ((gsize) take_u8 (in) + 1) * 256;
        gssize n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (input),
                                                             scratch, len, NULL, &error);

        if ((n < 0) != (error != NULL) || n > (gssize) len)
          abort ();
      }
      break;

    case 1: /* read without a copy */
      {
        GOutputVector vectors[4];
        guint         n_vectors = sm_yamux_stream_peek (stream, vectors, G_N_ELEMENTS (vectors));
        gsize         total = 0;

        for (guint i = 0; i < n_vectors; i++)
          total += vectors[i].size;
        if (total > sm_yamux_stream_get_buffered (stream))
          abort ();
        sm_yamux_stream_consume (stream, total * take_u8 (in) / 255);
      }
      break;

    case 2: /* write */
      {
        gsize  len = (gsize) take_u8 (in) * (WRITE_SIZE / 256);
        gssize n = g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (output),
                                                               zeros, len, NULL, &error);

        if ((n < 0) != (error != NULL) || n > (gssize) len)
          abort ();
      }
      break;

    case 3: /* half-close: FIN */
      g_output_stream_close (output, NULL, NULL);
      break;

    case 4:
      g_input_stream_close (input, NULL, NULL);
      break;

    case 5:
      g_io_stream_close (G_IO_STREAM (stream), NULL, NULL);
      break;

    case 6:
      sm_yamux_stream_reset (stream);
      break;

    case 7: /* the application lets go of it, closed or not */
      g_ptr_array_remove_fast (h->streams, hs);
      return;

    case 8: /* reading and writing from the event core, as the proxies do */
      {
        guint8 what = take_u8 (in);

        if (hs->watch == NULL)
          hs->watch = sm_event_watch_new (G_POLLABLE_INPUT_STREAM (input),
                                          G_POLLABLE_OUTPUT_STREAM (output), on_watch_readable,
                                          on_watch_writable, hs, "fuzz");
        hs->reading = (what & 1) != 0;
        hs->to_write = (gsize) (what >> 1) * 2048;
        watch_update (hs);
      }
      break;

    case 9:
      g_clear_pointer (&hs->watch, sm_event_watch_free);
      break;

    default:
      g_assert_not_reached ();
    }

  check_stream (stream);
}

static void
step (Harness *h, Input *in)
{
  guint8 op = take_u8 (in);

  switch (op % 19)
    {
    case 0: /* raw bytes: malformed headers, partial frames */
      take_bytes_to (in, (gsize) take_u8 (in) + 1, h->to_session);
      break;

    case 1: /* a small frame: fields from the input */
    case 2:
    case 3:
      {
        guint8  type = take_u8 (in) % 4;
        guint16 flags = take_u8 (in) & SM_YAMUX_FLAGS_ALL;
        guint32 id = (type == SM_YAMUX_TYPE_PING || type == SM_YAMUX_TYPE_GO_AWAY) ? 0
                                                                                   : take_u8 (in);

        if (type == SM_YAMUX_TYPE_DATA)
          {
            guint8 len = take_u8 (in);

            append_header (h->to_session, type, flags, id, len);
            take_bytes_to (in, len, h->to_session);
          }
        else
          {
            append_header (h->to_session, type, flags, id, take_u32 (in));
          }
      }
      break;

    case 4: /* a big DATA frame: the direct read path, window overruns */
      {
        guint16 flags = take_u8 (in) & SM_YAMUX_FLAGS_ALL;
        guint32 id = take_u8 (in);
        guint32 len = ((guint32) take_u8 (in) + 1) * 4096;

        append_header (h->to_session, SM_YAMUX_TYPE_DATA, flags, id, len);
        g_byte_array_append (h->to_session, zeros, MIN (len, BIG_SIZE));
      }
      break;

    case 5:
      {
        SmYamuxStream *stream = sm_yamux_session_open_stream (h->session, NULL);

        if (stream != NULL)
          harness_add_stream (h, stream);
      }
      break;

    case 6:
    case 7:
    case 8:
    case 9:
    case 10:
      {
        guint8         stream_op = take_u8 (in) % 10;
        HarnessStream *stream = pick_stream (h, in);

        if (stream != NULL)
          stream_step (h, stream_op, stream, in);
      }
      break;

    case 11:
      h->accept = !h->accept;
      break;

    case 12:
      sm_yamux_session_ping (h->session);
      break;

    case 13:
      sm_yamux_session_go_away (h->session, take_u8 (in) % 3);
      break;

    case 14:
      sm_yamux_session_close (h->session);
      break;

    case 15: /* EOF from the peer, once what we sent is out */
      pump (h);
      if (!h->peer_shut)
        shutdown (h->peer, SHUT_WR);
      h->peer_shut = TRUE;
      break;

    case 16: /* the peer stops reading, or reads again */
      h->peer_deaf = !h->peer_deaf;
      break;

    case 17: /* a flood of pings, each of which the session answers */
      {
        guint n = take_u8 (in) * 16;

        for (n = MIN (n, MAX_FLOOD - h->n_flooded); n > 0; n--, h->n_flooded++)
          append_header (h->to_session, SM_YAMUX_TYPE_PING, SM_YAMUX_FLAG_SYN, 0, n);
      }
      break;

    case 18: /* the peer goes away for good: the session's writes fail */
      shutdown (h->peer, SHUT_RD);
      break;

    default:
      g_assert_not_reached ();
    }

  if (h->peer_shut)
    g_byte_array_set_size (h->to_session, 0);
  pump (h);

  if (h->n_closed > 1 || (h->n_closed == 1) != sm_yamux_session_is_closed (h->session))
    abort ();
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* A critical is a broken promise of the API, never input to tolerate */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  signal (SIGPIPE, SIG_IGN);
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  Input   in = { data, size };
  Harness h = { 0 };
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GBytes) initial = NULL;
  SmYamuxConfig config;
  guint8        setup = take_u8 (&in);
  int           fds[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
    abort ();
  h.peer = fds[1];
  /* Small socket buffers: partial frames both ways, and output that piles
   * up in the session's queue after a few KiB */
  if (setup & 0x80)
    {
      int buffer_size = 16384;

      setsockopt (fds[0], SOL_SOCKET, SO_SNDBUF, &buffer_size, sizeof buffer_size);
      setsockopt (fds[1], SOL_SOCKET, SO_SNDBUF, &buffer_size, sizeof buffer_size);
    }
  socket = g_socket_new_from_fd (fds[0], NULL);
  if (socket == NULL)
    abort ();
  connection = g_socket_connection_factory_create_connection (socket);

  h.context = g_main_context_new ();
  g_main_context_push_thread_default (h.context);
  h.to_session = g_byte_array_new ();
  h.streams = g_ptr_array_new_with_free_func ((GDestroyNotify) harness_stream_free);
  h.accept = TRUE;

  /* Intervals no run reaches: timers are set up and cleared, never fire */
  sm_yamux_config_init (&config);
  config.keepalive_interval_ms = (setup & 0x01) ? 3600 * 1000 : 0;
  config.keepalive_timeout_ms = 3600 * 1000;
  config.write_timeout_ms = 3600 * 1000;
  config.stream_close_timeout_ms = 3600 * 1000;
  /* A small output queue makes streams unwritable and pauses reading */
  if (setup & 0x02)
    config.write_buffer_limit = 512;
  config.max_pending_syn = 1 + ((setup >> 2) & 3);
  if (setup & 0x10)
    config.max_stream_window = 4 * 1024 * 1024;
  /* Bytes read along with the handshake, parsed from the main loop */
  if (setup & 0x20)
    {
      g_autoptr(GByteArray) bytes = g_byte_array_new ();

      take_bytes_to (&in, take_u8 (&in), bytes);
      initial = g_byte_array_free_to_bytes (g_steal_pointer (&bytes));
    }

  h.session = sm_yamux_session_new (G_IO_STREAM (connection),
                                    (setup & 0x40) ? SM_YAMUX_ROLE_SERVER : SM_YAMUX_ROLE_CLIENT,
                                    &config, initial);
  g_signal_connect (h.session, "incoming", G_CALLBACK (on_incoming), &h);
  g_signal_connect (h.session, "closed", G_CALLBACK (on_closed), &h);
  pump (&h);

  while (in.size > 0)
    step (&h, &in);

  /* The end: every stream leaves, nothing is left behind */
  sm_yamux_session_close (h.session);
  pump (&h);
  if (h.n_closed != 1 || sm_yamux_session_get_n_streams (h.session) != 0)
    abort ();
  for (guint i = 0; i < h.streams->len; i++)
    check_stream (((HarnessStream *) g_ptr_array_index (h.streams, i))->stream);

  g_ptr_array_unref (h.streams);
  g_object_unref (h.session);
  close (h.peer);
  for (guint i = 0; i < MAX_ROUNDS && g_main_context_iteration (h.context, FALSE); i++)
    ;
  g_main_context_pop_thread_default (h.context);
  g_main_context_unref (h.context);
  g_byte_array_unref (h.to_session);
  return 0;
}
