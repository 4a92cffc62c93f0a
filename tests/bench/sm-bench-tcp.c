/* SPDX-License-Identifier: MIT */
/*
 * sm-bench-tcp: the moving parts of tests/bench/tcp-throughput and of the
 * bulk TCP runs of tests/bench/bench.
 *
 *   sm-bench-tcp freeport
 *       prints a currently free loopback TCP port
 *   sm-bench-tcp sink --port N
 *       plain TCP server: accepts one connection, reads and discards until
 *       EOF, closes, prints the byte count
 *   sm-bench-tcp serve --control HOST:PORT --port N [--source|--echo]
 *       the same sink as a socketmaster service: every stream the daemon
 *       hands over is drained until EOF, then closed; runs until SIGTERM.
 *       With --source, every stream gets an endless stream of bytes
 *       instead, until it fails (the stalled TCP readers of scale-bench);
 *       with --echo, every stream gets back what it sends
 *   sm-bench-tcp listen --port N [--source|--echo]
 *       the plain TCP counterpart of serve (what direct runs and other
 *       proxies talk to): drains, floods or echoes every connection it
 *       accepts, until SIGTERM
 *   sm-bench-tcp send --connect HOST:PORT --bytes N [--streams K] [--download|--echo]
 *       writes N bytes, shuts down its sending side, waits until the peer
 *       closes (so every byte was consumed), prints bytes, seconds, MB/s.
 *       With --streams K, K connections at once (one thread each) carry
 *       N/K bytes each, timed from when all are connected until the last
 *       one is done. With --download, each connection reads its share
 *       from the peer instead (a serve or listen --source), then closes.
 *       With --echo, each connection writes its share and reads it back at
 *       once (from an echo service: serve --echo, go-echo-service)
 *
 * Status lines go to stdout, flushed, so the script can wait for them.
 * The plain modes use blocking sockets (send --echo waits for either
 * direction instead): simplest for a measuring tool.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <socketmaster.h>

#include "sm-bench-util.h"

#define CHUNK_SIZE  (256 * 1024)
#define MAX_STREAMS 1024

static char    *opt_control;
static char    *opt_connect;
static char    *opt_address;
static int      opt_port;
static gint64   opt_bytes = -1;
static gboolean opt_source;
static gboolean opt_download;
static gboolean opt_echo;
static int      opt_streams = 1;

static GOptionEntry option_entries[] = {
  { "control", 0, 0, G_OPTION_ARG_STRING, &opt_control, "Daemon control address (serve)", "HOST:PORT" },
  { "connect", 0, 0, G_OPTION_ARG_STRING, &opt_connect, "Where to send (send)", "HOST:PORT" },
  { "address", 0, 0, G_OPTION_ARG_STRING, &opt_address, "Listening address (sink, listen, serve; default 127.0.0.1)", "ADDR" },
  { "port", 0, 0, G_OPTION_ARG_INT, &opt_port, "Listening port (sink, listen, serve)", "N" },
  { "bytes", 0, 0, G_OPTION_ARG_INT64, &opt_bytes, "How many bytes to send (send)", "N" },
  { "source", 0, 0, G_OPTION_ARG_NONE, &opt_source, "Write endlessly to every stream instead of draining it (serve, listen)", NULL },
  { "streams", 0, 0, G_OPTION_ARG_INT, &opt_streams, "Concurrent connections sharing --bytes (send; default 1)", "K" },
  { "download", 0, 0, G_OPTION_ARG_NONE, &opt_download, "Read the bytes from the peer instead of writing them (send)", NULL },
  { "echo", 0, 0, G_OPTION_ARG_NONE, &opt_echo, "Send the bytes and read them back (send); echo every stream (serve, listen)", NULL },
  { NULL }
};

static int
fail (const char *mode,
      GError     *error)
{
  g_printerr ("sm-bench-tcp %s: %s\n", mode, error->message);
  return EXIT_FAILURE;
}

static int
run_sink (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) listener = NULL;
  g_autoptr(GSocket) connection = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autofree guint8 *buffer = g_malloc (CHUNK_SIZE);
  guint64 received = 0;

  if (opt_port < 1 || opt_port > 65535)
    {
      g_printerr ("sm-bench-tcp sink: --port N is required\n");
      return EXIT_FAILURE;
    }

  address = listen_address_new (opt_address, opt_port, &error);
  if (address == NULL)
    return fail ("sink", error);
  listener = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM,
                           G_SOCKET_PROTOCOL_TCP, &error);
  if (listener == NULL ||
      !g_socket_bind (listener, address, TRUE, &error) ||
      !g_socket_listen (listener, &error))
    return fail ("sink", error);

  print_status ("sink: listening on %s:%d", opt_address, opt_port);

  connection = g_socket_accept (listener, NULL, &error);
  if (connection == NULL)
    return fail ("sink", error);

  while (TRUE)
    {
      gssize n = g_socket_receive (connection, (char *) buffer, CHUNK_SIZE, NULL, &error);

      if (n < 0)
        return fail ("sink", error);
      if (n == 0)
        break;
      received += n;
    }

  /* Closing tells the sender that everything arrived. */
  if (!g_socket_close (connection, &error))
    return fail ("sink", error);
  print_status ("sink: received %" G_GUINT64_FORMAT " bytes", received);
  return EXIT_SUCCESS;
}

/* One connection of send: its share of the bytes, in one direction */
typedef struct {
  GSocketConnection *connection;
  guint64            bytes;
  guint64            done;
  GError            *error;
} Transfer;

static void
fill_pattern (guint8 *buffer)
{
  /* Not all zeros, in case anything on the path compresses */
  for (gsize i = 0; i < CHUNK_SIZE; i++)
    buffer[i] = (guint8) (i * 7 + (i >> 9));
}

static gboolean
transfer_upload (Transfer *transfer,
                 GSocket  *socket,
                 guint8   *buffer)
{
  fill_pattern (buffer);
  while (transfer->done < transfer->bytes)
    {
      gsize chunk = MIN ((guint64) CHUNK_SIZE, transfer->bytes - transfer->done);
      gssize n = g_socket_send (socket, (const char *) buffer, chunk, NULL, &transfer->error);

      if (n < 0)
        return FALSE;
      transfer->done += n;
    }
  if (!g_socket_shutdown (socket, FALSE, TRUE, &transfer->error))
    return FALSE;

  /* The receiver closes once it has read everything: wait for that. */
  while (TRUE)
    {
      gssize n = g_socket_receive (socket, (char *) buffer, CHUNK_SIZE, NULL, &transfer->error);

      if (n == 0)
        return TRUE;
      if (n < 0)
        return FALSE;
    }
}

static gboolean
transfer_download (Transfer *transfer,
                   GSocket  *socket,
                   guint8   *buffer)
{
  while (transfer->done < transfer->bytes)
    {
      gsize chunk = MIN ((guint64) CHUNK_SIZE, transfer->bytes - transfer->done);
      gssize n = g_socket_receive (socket, (char *) buffer, chunk, NULL, &transfer->error);

      if (n < 0)
        return FALSE;
      if (n == 0)
        {
          g_set_error (&transfer->error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                       "the peer closed after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes",
                       transfer->done, transfer->bytes);
          return FALSE;
        }
      transfer->done += n;
    }
  /* Closing with unread bytes pending (a reset) stops the source */
  return g_socket_close (socket, &transfer->error);
}

/* Writes and reads back at once in one thread, as a GSocket is not to be
 * used from two threads: non-blocking, waiting for either direction */
static gboolean
transfer_echo (Transfer *transfer,
               GSocket  *socket,
               guint8   *buffer)
{
  g_autofree guint8 *in = g_malloc (CHUNK_SIZE);
  guint64 sent = 0;
  gboolean shut_down = FALSE;

  fill_pattern (buffer);
  g_socket_set_blocking (socket, FALSE);
  while (TRUE)
    {
      GIOCondition wait = G_IO_IN;
      gssize n;

      if (sent < transfer->bytes)
        {
          n = g_socket_send (socket, (const char *) buffer,
                             MIN ((guint64) CHUNK_SIZE, transfer->bytes - sent), NULL,
                             &transfer->error);
          if (n > 0)
            sent += n;
          else if (!g_error_matches (transfer->error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            return FALSE;
          else
            wait |= G_IO_OUT;
          g_clear_error (&transfer->error);
        }
      else if (!shut_down)
        {
          if (!g_socket_shutdown (socket, FALSE, TRUE, &transfer->error))
            return FALSE;
          shut_down = TRUE;
        }

      n = g_socket_receive (socket, (char *) in, CHUNK_SIZE, NULL, &transfer->error);
      if (n == 0)
        break;
      if (n > 0)
        {
          transfer->done += n;
          if (transfer->done > transfer->bytes)
            break;
          continue;
        }
      if (!g_error_matches (transfer->error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return FALSE;
      g_clear_error (&transfer->error);
      if (!g_socket_condition_wait (socket, wait, NULL, &transfer->error))
        return FALSE;
    }

  if (transfer->done != transfer->bytes)
    {
      g_set_error (&transfer->error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "%" G_GUINT64_FORMAT " bytes echoed for %" G_GUINT64_FORMAT " sent",
                   transfer->done, transfer->bytes);
      return FALSE;
    }
  return TRUE;
}

static gpointer
transfer_run (gpointer data)
{
  Transfer *transfer = data;
  g_autofree guint8 *buffer = g_malloc (CHUNK_SIZE);
  GSocket *socket = g_socket_connection_get_socket (transfer->connection);

  if (opt_download)
    transfer_download (transfer, socket, buffer);
  else if (opt_echo)
    transfer_echo (transfer, socket, buffer);
  else
    transfer_upload (transfer, socket, buffer);
  return NULL;
}

static int
run_send (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnectable) target = NULL;
  g_autofree Transfer *transfers = NULL;
  g_autofree GThread **threads = NULL;
  int connected = 0;
  guint64 total = 0;
  gint64 started, finished;
  double seconds;
  int status = EXIT_SUCCESS;

  if (opt_connect == NULL || opt_bytes < 0)
    {
      g_printerr ("sm-bench-tcp send: --connect HOST:PORT and --bytes N are required\n");
      return EXIT_FAILURE;
    }
  if (opt_streams < 1 || opt_streams > MAX_STREAMS)
    {
      g_printerr ("sm-bench-tcp send: --streams must be 1 to %d\n", MAX_STREAMS);
      return EXIT_FAILURE;
    }
  target = g_network_address_parse (opt_connect, 0, &error);
  if (target == NULL)
    return fail ("send", error);

  /* All connected before the clock starts: it times the transfer only */
  g_socket_client_set_enable_proxy (client, FALSE);
  transfers = g_new0 (Transfer, opt_streams);
  threads = g_new0 (GThread *, opt_streams);
  for (; connected < opt_streams; connected++)
    {
      Transfer *transfer = &transfers[connected];

      transfer->bytes = (guint64) opt_bytes / opt_streams +
                        ((guint64) connected < (guint64) opt_bytes % opt_streams ? 1 : 0);
      transfer->connection = g_socket_client_connect (client, target, NULL, &error);
      if (transfer->connection == NULL)
        {
          status = fail ("send", error);
          goto out;
        }
    }

  started = g_get_monotonic_time ();
  for (int i = 0; i < opt_streams; i++)
    threads[i] = g_thread_new ("transfer", transfer_run, &transfers[i]);
  for (int i = 0; i < opt_streams; i++)
    g_thread_join (threads[i]);
  finished = g_get_monotonic_time ();

  for (int i = 0; i < opt_streams; i++)
    {
      total += transfers[i].done;
      if (transfers[i].error != NULL && status == EXIT_SUCCESS)
        status = fail ("send", transfers[i].error);
    }
  if (status == EXIT_SUCCESS)
    {
      seconds = MAX (finished - started, 1) / (double) G_USEC_PER_SEC;
      print_status ("send: bytes=%" G_GUINT64_FORMAT " seconds=%.3f MB/s=%.1f streams=%d",
                    total, seconds, total / seconds / 1e6, opt_streams);
    }

out:
  for (int i = 0; i < connected; i++)
    {
      g_clear_object (&transfers[i].connection);
      g_clear_error (&transfers[i].error);
    }
  return status;
}

/* ---- serve: the sink behind the daemon ---- */

typedef struct {
  GIOStream *stream;
  guint8    *buffer;
  guint64    received;
} Drain;

static void
drain_free (Drain *drain)
{
  g_object_unref (drain->stream);
  g_free (drain->buffer);
  g_free (drain);
}

static void
on_drained_stream_closed (GObject      *object,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  g_io_stream_close_finish (G_IO_STREAM (object), result, NULL);
}

static void drain_next (Drain *drain);

static void
drain_end (Drain  *drain,
           GError *error)
{
  if (error != NULL)
    g_printerr ("sm-bench-tcp serve: %s\n", error->message);
  else
    print_status ("serve: received %" G_GUINT64_FORMAT " bytes", drain->received);
  g_io_stream_close_async (drain->stream, G_PRIORITY_DEFAULT, NULL,
                           on_drained_stream_closed, NULL);
  drain_free (drain);
}

static void
on_echoed (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Drain *drain = user_data;
  g_autoptr(GError) error = NULL;

  if (g_output_stream_write_all_finish (G_OUTPUT_STREAM (object), result, NULL, &error))
    drain_next (drain);
  else
    drain_end (drain, error);
}

static void
on_drain_read (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  Drain *drain = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &error);
  if (n > 0 && opt_echo)
    {
      drain->received += n;
      g_output_stream_write_all_async (g_io_stream_get_output_stream (drain->stream),
                                       drain->buffer, n, G_PRIORITY_DEFAULT, NULL,
                                       on_echoed, drain);
      return;
    }
  if (n > 0)
    {
      drain->received += n;
      drain_next (drain);
      return;
    }
  drain_end (drain, error);
}

static void
drain_next (Drain *drain)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (drain->stream),
                             drain->buffer, CHUNK_SIZE, G_PRIORITY_DEFAULT,
                             NULL, on_drain_read, drain);
}

/* ---- serve --source: an endless stream to every connection ---- */

typedef struct {
  GIOStream *stream;
  guint8    *buffer;
} Flood;

static void flood_next (Flood *flood);

static void
on_flood_written (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Flood *flood = user_data;

  if (g_output_stream_write_finish (G_OUTPUT_STREAM (object), result, NULL) > 0)
    {
      flood_next (flood);
      return;
    }
  /* The client went away: nothing is pending on the stream any more */
  g_io_stream_close (flood->stream, NULL, NULL);
  g_object_unref (flood->stream);
  g_free (flood->buffer);
  g_free (flood);
}

static void
flood_next (Flood *flood)
{
  g_output_stream_write_async (g_io_stream_get_output_stream (flood->stream), flood->buffer,
                               CHUNK_SIZE, G_PRIORITY_DEFAULT, NULL, on_flood_written, flood);
}

static void
flood_start (GIOStream *stream)
{
  Flood *flood = g_new0 (Flood, 1);

  flood->stream = g_object_ref (stream);
  flood->buffer = g_malloc (CHUNK_SIZE);
  fill_pattern (flood->buffer);
  flood_next (flood);
}

static void
serve_stream (GIOStream *stream)
{
  Drain *drain;

  if (opt_source)
    {
      flood_start (stream);
      return;
    }
  drain = g_new0 (Drain, 1);
  drain->stream = g_object_ref (stream);
  drain->buffer = g_malloc (CHUNK_SIZE);
  drain_next (drain);
}

static gboolean
on_incoming (SmListener *listener,
             GIOStream  *stream,
             gpointer    user_data)
{
  serve_stream (stream);
  return TRUE;
}

static gboolean
on_plain_incoming (GSocketService    *service,
                   GSocketConnection *connection,
                   GObject           *source_object,
                   gpointer           user_data)
{
  serve_stream (G_IO_STREAM (connection));
  return TRUE;
}

typedef struct {
  GMainLoop *loop;
  int        exit_status;
} Serve;

static void
on_started (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  Serve *serve = user_data;
  g_autoptr(GError) error = NULL;

  if (!sm_listener_start_finish (SM_LISTENER (object), result, &error))
    {
      serve->exit_status = fail ("serve", error);
      g_main_loop_quit (serve->loop);
      return;
    }
  print_status ("serve: serving port %d", opt_port);
}

static void
on_lost (SmListener *listener,
         GError     *error,
         gpointer    user_data)
{
  Serve *serve = user_data;

  serve->exit_status = fail ("serve", error);
  g_main_loop_quit (serve->loop);
}

static gboolean
on_stop_signal (gpointer user_data)
{
  Serve *serve = user_data;

  g_main_loop_quit (serve->loop);
  /* run_serve() removes it */
  return G_SOURCE_CONTINUE;
}

static int
run_serve (void)
{
  g_autoptr(SmSocketDefinition) definition = NULL;
  g_autoptr(SmListener) listener = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Serve serve = { loop, EXIT_SUCCESS };
  guint sigint_id, sigterm_id;

  if (opt_port < 1 || opt_port > 65535)
    {
      g_printerr ("sm-bench-tcp serve: --port N is required\n");
      return EXIT_FAILURE;
    }

  definition = sm_socket_definition_new ((guint16) opt_port);
  sm_socket_definition_set_address (definition, opt_address);
  listener = sm_listener_new (opt_control, definition);
  g_signal_connect (listener, "incoming", G_CALLBACK (on_incoming), &serve);
  g_signal_connect (listener, "lost", G_CALLBACK (on_lost), &serve);
  sigint_id = g_unix_signal_add (SIGINT, on_stop_signal, &serve);
  sigterm_id = g_unix_signal_add (SIGTERM, on_stop_signal, &serve);

  sm_listener_start_async (listener, NULL, on_started, &serve);
  g_main_loop_run (loop);

  /* A benchmark tool: no graceful drain, just go. */
  g_clear_handle_id (&sigint_id, g_source_remove);
  g_clear_handle_id (&sigterm_id, g_source_remove);
  g_signal_handlers_disconnect_by_data (listener, &serve);
  sm_listener_abort (listener);
  return serve.exit_status;
}

/* ---- listen: serve's drain or source on a plain port ---- */

static int
run_listen (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketService) service = g_socket_service_new ();
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Serve serve = { loop, EXIT_SUCCESS };
  guint sigint_id, sigterm_id;

  if (opt_port < 1 || opt_port > 65535)
    {
      g_printerr ("sm-bench-tcp listen: --port N is required\n");
      return EXIT_FAILURE;
    }
  /* GLib's default backlog of 10 drops SYNs when a proxy opens 16 at once */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (service), 4096);
  address = listen_address_new (opt_address, opt_port, &error);
  if (address == NULL ||
      !g_socket_listener_add_address (G_SOCKET_LISTENER (service), address, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, NULL, &error))
    return fail ("listen", error);
  g_signal_connect (service, "incoming", G_CALLBACK (on_plain_incoming), NULL);
  sigint_id = g_unix_signal_add (SIGINT, on_stop_signal, &serve);
  sigterm_id = g_unix_signal_add (SIGTERM, on_stop_signal, &serve);
  g_socket_service_start (service);
  print_status ("listen: listening on %s:%d", opt_address, opt_port);

  g_main_loop_run (loop);

  g_clear_handle_id (&sigint_id, g_source_remove);
  g_clear_handle_id (&sigterm_id, g_source_remove);
  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
  return serve.exit_status;
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  const char *mode;

  context = g_option_context_new ("freeport|sink|listen|serve|send - TCP throughput benchmark helper");
  g_option_context_add_main_entries (context, option_entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return fail ("", error);
  if (opt_echo && (opt_source || opt_download))
    {
      g_printerr ("sm-bench-tcp: --echo goes with neither --source nor --download\n");
      return EXIT_FAILURE;
    }
  if (opt_address == NULL)
    opt_address = g_strdup ("127.0.0.1");
  if (argc != 2)
    {
      g_printerr ("usage: sm-bench-tcp freeport|sink|listen|serve|send [OPTIONS]\n");
      return EXIT_FAILURE;
    }

  /* A peer that vanishes must show up as an error, not kill us. */
  signal (SIGPIPE, SIG_IGN);

  mode = argv[1];
  if (g_str_equal (mode, "freeport"))
    return print_free_port ("sm-bench-tcp freeport");
  if (g_str_equal (mode, "sink"))
    return run_sink ();
  if (g_str_equal (mode, "send"))
    return run_send ();
  if (g_str_equal (mode, "serve"))
    return run_serve ();
  if (g_str_equal (mode, "listen"))
    return run_listen ();

  g_printerr ("sm-bench-tcp: unknown mode %s\n", mode);
  return EXIT_FAILURE;
}
