/* SPDX-License-Identifier: MIT */
/*
 * tcp-echo: a complete socketmaster service in one file.
 *
 * It asks the socketmaster daemon for a public TCP port and sends every
 * byte a client writes back to that client. It never opens a listening
 * socket itself: the daemon owns the public port and hands each public
 * connection over as a GIOStream.
 *
 * Without a daemon, or when the daemon drops the registration or stays
 * away, it keeps running and registers again, waiting longer between
 * tries (up to 10 s); only a refusal (e.g. the port is taken) ends it.
 *
 *   socketmaster --bind 127.0.0.1:9999 &
 *   tcp-echo --port 7000 &
 *   nc 127.0.0.1 7000
 *
 * With --proxy-protocol 1 or 2 the daemon tells it each client's address
 * (a PROXY protocol header the library reads), which it prints. With
 * --control given several times it registers with several daemons (e.g.
 * behind a load balancer) and serves the connections of all.
 *
 * Ctrl-C (or SIGTERM) stops it gracefully: the daemon sends no new
 * connections, the ones in progress finish, then the program exits.
 * A second Ctrl-C stops it at once.
 */

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib-unix.h>
#include <socketmaster.h>

/* Waits before registering again after a failure */
#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS   10000

typedef struct {
  GMainLoop  *loop;
  SmListener *listener;
  guint16     port;
  gboolean    stopping;
  int         exit_status;
  guint       retry_ms; /* next wait before registering again */
  guint       retry_id;
} Echo;

static void
on_stream_closed (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_io_stream_close_finish (G_IO_STREAM (object), result, NULL);
}

static void
on_echo_done (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GIOStream) stream = user_data;
  g_autoptr(GError) error = NULL;
  gssize echoed;

  echoed = g_output_stream_splice_finish (G_OUTPUT_STREAM (object), result, &error);
  if (echoed < 0)
    g_debug ("Connection ended with an error: %s", error->message);
  else
    g_debug ("Connection done, echoed %" G_GSSIZE_FORMAT " bytes", echoed);

  /* Closing the stream hands it back: the listener forgets it, which is
   * what a graceful close waits for. */
  g_io_stream_close_async (stream, G_PRIORITY_DEFAULT, NULL, on_stream_closed, NULL);
}

/* A public client connected. Returning TRUE means we take the stream. */
static gboolean
on_incoming (SmListener *listener,
             GIOStream  *stream,
             gpointer    user_data)
{
  GSocketAddress *client = sm_listener_stream_get_client_address (stream);

  /* only with --proxy-protocol, and when the daemon knew it */
  if (client != NULL)
    {
      g_autofree char *text = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (client));

      g_print ("tcp-echo: connection from %s\n", text);
      fflush (stdout);
    }

  /* Copy everything the client sends back to it. When the client finishes
   * sending (EOF), CLOSE_TARGET closes our output, which half-closes the
   * connection: the client sees EOF after the last echoed byte. */
  g_output_stream_splice_async (g_io_stream_get_output_stream (stream),
                                g_io_stream_get_input_stream (stream),
                                G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                G_PRIORITY_DEFAULT, NULL,
                                on_echo_done, g_object_ref (stream));
  return TRUE;
}

/* Registering failed or the daemon stayed away: try again later, waiting
 * longer each time (up to RETRY_MAX_MS), and keep running meanwhile */
static void on_started (GObject *object, GAsyncResult *result, gpointer user_data);

static void
on_retry (gpointer user_data)
{
  Echo *echo = user_data;

  echo->retry_id = 0;
  sm_listener_start_async (echo->listener, NULL, on_started, echo);
}

static void
retry_later (Echo *echo)
{
  g_printerr ("tcp-echo: registering again in %u ms\n", echo->retry_ms);
  echo->retry_id = g_timeout_add_once (echo->retry_ms, on_retry, echo);
  echo->retry_ms = MIN (echo->retry_ms * 2, RETRY_MAX_MS);
}

/* The daemon went away and did not come back within the reconnect timeout */
static void
on_lost (SmListener *listener,
         GError     *error,
         gpointer    user_data)
{
  Echo *echo = user_data;

  g_printerr ("tcp-echo: lost the daemon: %s\n", error->message);
  if (!echo->stopping)
    retry_later (echo);
}

static void
on_started (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  Echo *echo = user_data;
  g_autoptr(GError) error = NULL;

  if (!sm_listener_start_finish (SM_LISTENER (object), result, &error))
    {
      g_printerr ("tcp-echo: could not register with the daemon: %s\n", error->message);
      /* A refusal (the port is taken, a bad definition) will not change;
       * anything else (no daemon yet, a reset) may */
      if (echo->stopping)
        return; /* closing ends the loop */
      if (sm_listener_error_is_refusal (error))
        {
          echo->exit_status = EXIT_FAILURE;
          g_main_loop_quit (echo->loop);
        }
      else
        retry_later (echo);
      return;
    }

  echo->retry_ms = RETRY_FIRST_MS;

  /* Flushed at once: scripts and tests wait for this line. */
  g_print ("tcp-echo: serving port %u\n", echo->port);
  fflush (stdout);
}

static void
on_listener_closed (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Echo *echo = user_data;
  g_autoptr(GError) error = NULL;

  if (!sm_listener_close_finish (SM_LISTENER (object), result, &error))
    g_printerr ("tcp-echo: closing: %s\n", error->message);
  g_main_loop_quit (echo->loop);
}

static gboolean
on_stop_signal (gpointer user_data)
{
  Echo *echo = user_data;

  if (echo->stopping)
    {
      /* Asked twice: drop the connections still in progress. */
      sm_listener_abort (echo->listener);
      g_main_loop_quit (echo->loop);
      return G_SOURCE_CONTINUE;
    }

  echo->stopping = TRUE;
  if (echo->retry_id != 0)
    {
      /* not registered: nothing to drain */
      g_clear_handle_id (&echo->retry_id, g_source_remove);
      g_main_loop_quit (echo->loop);
      return G_SOURCE_CONTINUE;
    }
  g_print ("tcp-echo: stopping, waiting for open connections\n");
  fflush (stdout);
  sm_listener_close_async (echo->listener, NULL, on_listener_closed, echo);
  return G_SOURCE_CONTINUE;
}

int
main (int    argc,
      char **argv)
{
  g_auto(GStrv) control_addresses = NULL;
  g_autofree char *address = NULL;
  int port = 0;
  int proxy_protocol = 0;
  GOptionEntry entries[] = {
    { "control", 'c', 0, G_OPTION_ARG_STRING_ARRAY, &control_addresses,
      "Control address of a daemon, repeatable: the service registers with each "
      "(default: $SOCKETMASTER_ADDRESS, comma-separated, or 127.0.0.1:9999)", "HOST:PORT" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port,
      "Public TCP port to ask the daemon for (required)", "N" },
    { "address", 'a', 0, G_OPTION_ARG_STRING, &address,
      "Interface the daemon should listen on (default: all)", "ADDR" },
    { "proxy-protocol", 0, 0, G_OPTION_ARG_INT, &proxy_protocol,
      "Ask for a PROXY protocol header of version 1 or 2 with each connection "
      "and print the client's address (default: 0, none)", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(SmSocketDefinition) definition = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(SmListener) listener = NULL;
  guint sigint_id, sigterm_id;
  Echo echo = { 0 };

  setlocale (LC_ALL, "");

  context = g_option_context_new ("- echo TCP connections through socketmaster");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("tcp-echo: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (port < 1 || port > 65535)
    {
      g_printerr ("tcp-echo: --port N (1-65535) is required\n");
      return EXIT_FAILURE;
    }
  if (proxy_protocol < 0 || proxy_protocol > 2)
    {
      g_printerr ("tcp-echo: --proxy-protocol must be 0, 1 or 2\n");
      return EXIT_FAILURE;
    }

  /* A raw TCP definition: no HTTP routing, no TLS */
  definition = sm_socket_definition_new ((guint16) port);
  if (address != NULL)
    sm_socket_definition_set_address (definition, address);

  loop = g_main_loop_new (NULL, FALSE);
  /* one registration per daemon, e.g. each one behind a balancer */
  listener = sm_listener_new_for_addresses ((const char *const *) control_addresses, definition);

  sm_listener_set_proxy_protocol (listener, (guint) proxy_protocol);

  echo.loop = loop;
  echo.listener = listener;
  echo.port = (guint16) port;
  echo.exit_status = EXIT_SUCCESS;

  g_signal_connect (listener, "incoming", G_CALLBACK (on_incoming), &echo);
  g_signal_connect (listener, "lost", G_CALLBACK (on_lost), &echo);
  sigint_id = g_unix_signal_add (SIGINT, on_stop_signal, &echo);
  sigterm_id = g_unix_signal_add (SIGTERM, on_stop_signal, &echo);

  echo.retry_ms = RETRY_FIRST_MS;
  sm_listener_start_async (listener, NULL, on_started, &echo);
  g_main_loop_run (loop);

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_clear_handle_id (&echo.retry_id, g_source_remove);
  g_signal_handlers_disconnect_by_data (listener, &echo);

  return echo.exit_status;
}
