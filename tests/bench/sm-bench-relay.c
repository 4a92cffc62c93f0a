/* SPDX-License-Identifier: MIT */
/*
 * sm-bench-relay: the least a user-space TCP relay can cost, as the bench's
 * "relay" system. Bulk TCP through the daemon pays two more copies and
 * system calls per byte than direct, and a third process on the same
 * cores; this relay pays the same and nothing else (no event loop, no
 * framing), so its ratio to direct is the ceiling for any proxy on the
 * machine at hand.
 *
 *   sm-bench-relay --port N --connect HOST:PORT [--chunk BYTES]
 *       accepts connections on 127.0.0.1:N (or --address), connects each
 *       to HOST:PORT and copies both ways with blocking reads and writes of
 *       up to --chunk bytes (default 1 MiB, as the daemon's largest), one
 *       thread per direction; an EOF becomes a shutdown of the other side's
 *       sending half. Runs until SIGTERM.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "sm-bench-util.h"

static char *opt_connect;
static char *opt_address;
static int   opt_port;
static int   opt_chunk = 1024 * 1024;

static GOptionEntry option_entries[] = {
  { "connect", 0, 0, G_OPTION_ARG_STRING, &opt_connect, "Where to relay to", "HOST:PORT" },
  { "address", 0, 0, G_OPTION_ARG_STRING, &opt_address, "Listening address (default 127.0.0.1)", "ADDR" },
  { "port", 0, 0, G_OPTION_ARG_INT, &opt_port, "Listening port", "N" },
  { "chunk", 0, 0, G_OPTION_ARG_INT, &opt_chunk, "Bytes per read (default 1 MiB)", "BYTES" },
  { NULL }
};

/* One direction of one relayed connection */
typedef struct
{
  GSocket *from;
  GSocket *to;
} Direction;

static gboolean
send_all (GSocket *socket, const guint8 *data, gsize len, GError **error)
{
  while (len > 0)
    {
      gssize n = g_socket_send (socket, (const char *) data, len, NULL, error);

      if (n < 0)
        return FALSE;
      data += n;
      len -= n;
    }
  return TRUE;
}

static gpointer
direction_run (gpointer data)
{
  Direction *direction = data;
  g_autofree guint8 *buffer = g_malloc (opt_chunk);
  g_autoptr(GError) error = NULL;
  gssize n;

  while ((n = g_socket_receive (direction->from, (char *) buffer, opt_chunk, NULL, &error)) > 0)
    if (!send_all (direction->to, buffer, n, &error))
      break;
  /* EOF, or the end of either side: the other side's sending half ends */
  g_socket_shutdown (direction->to, FALSE, TRUE, NULL);
  if (error != NULL)
    g_socket_shutdown (direction->from, TRUE, FALSE, NULL);
  return NULL;
}

typedef struct
{
  GSocketConnection *client;
  GSocketAddress    *target;
} Relay;

static gpointer
relay_run (gpointer data)
{
  Relay *relay = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) upstream = NULL;
  GSocket *client = g_socket_connection_get_socket (relay->client);
  Direction up, down;
  GThread *up_thread;

  upstream = g_socket_new (g_socket_address_get_family (relay->target), G_SOCKET_TYPE_STREAM,
                           G_SOCKET_PROTOCOL_TCP, &error);
  if (upstream == NULL || !g_socket_connect (upstream, relay->target, NULL, &error))
    {
      g_printerr ("sm-bench-relay: %s\n", error->message);
    }
  else
    {
      up = (Direction){ client, upstream };
      down = (Direction){ upstream, client };
      up_thread = g_thread_new ("up", direction_run, &up);
      direction_run (&down);
      g_thread_join (up_thread);
    }
  g_object_unref (relay->client);
  g_object_unref (relay->target);
  g_free (relay);
  return NULL;
}

/* GSocketService's "incoming": hand the connection to a thread of its own */
static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  Relay *relay = g_new0 (Relay, 1);

  relay->client = g_object_ref (connection);
  relay->target = g_object_ref (G_SOCKET_ADDRESS (user_data));
  /* Blocking I/O in the relay's threads */
  g_socket_set_blocking (g_socket_connection_get_socket (connection), TRUE);
  g_thread_unref (g_thread_new ("relay", relay_run, relay));
  return TRUE;
}

/* IP:PORT, NULL if it is not */
static GSocketAddress *
target_address_new (const char *text)
{
  const char *colon = strrchr (text, ':');
  g_autofree char *host = NULL;

  if (colon == NULL)
    return NULL;
  host = g_strndup (text, colon - text);
  return g_inet_socket_address_new_from_string (host, (guint) atoi (colon + 1));
}

static gboolean
on_sigterm (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("- a bare TCP relay, for benchmarks");
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketService) service = g_socket_service_new ();
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketAddress) target = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);

  g_option_context_add_main_entries (context, option_entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("sm-bench-relay: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (opt_connect == NULL || opt_port < 1 || opt_port > 65535 || opt_chunk < 1)
    {
      g_printerr ("sm-bench-relay: --port N and --connect HOST:PORT are required\n");
      return EXIT_FAILURE;
    }

  /* before the listener opens: GLib applies the backlog when it listens */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (service), 4096);
  target = target_address_new (opt_connect);
  address = listen_address_new (opt_address != NULL ? opt_address : "127.0.0.1", opt_port, &error);
  if (target == NULL || address == NULL ||
      !g_socket_listener_add_address (G_SOCKET_LISTENER (service), address, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, NULL, &error))
    {
      g_printerr ("sm-bench-relay: %s\n", error != NULL ? error->message : "--connect wants IP:PORT");
      return EXIT_FAILURE;
    }

  signal (SIGPIPE, SIG_IGN);
  g_signal_connect (service, "incoming", G_CALLBACK (on_incoming), target);
  g_unix_signal_add (SIGTERM, on_sigterm, loop);
  g_socket_service_start (service);
  print_status ("relay: relaying port %d to %s", opt_port, opt_connect);
  g_main_loop_run (loop);
  return EXIT_SUCCESS;
}
