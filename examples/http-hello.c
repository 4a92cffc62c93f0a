/* SPDX-License-Identifier: MIT */
/*
 * http-hello: an HTTP service behind socketmaster's HTTP routing.
 *
 * It registers a path prefix (and optionally a domain suffix) on a public
 * port and answers every request under that prefix with a fixed text.
 * Several services can share one port: the daemon routes each request to
 * the service with the longest matching domain suffix, then path prefix.
 *
 *   socketmaster &
 *   http-hello --prefix /a --text "From A" &
 *   http-hello --prefix /b --text "From B" &
 *   curl localhost:8000/a/      # → From A
 *   curl localhost:8000/b/      # → From B
 *
 * The HTTP side is libsoup's SoupServer: it never listens itself, every
 * public connection the daemon hands over is given to it with
 * soup_server_accept_iostream().
 *
 * Without a daemon, or when the daemon drops the registration or stays
 * away, it keeps running and registers again, waiting longer between
 * tries (up to 10 s); only a refusal (e.g. the port is taken) ends it.
 *
 * With --control given several times it registers with several daemons
 * (e.g. each one behind a load balancer, see docs/scale-out.md) and
 * serves the requests of all.
 *
 * Ctrl-C (or SIGTERM) stops it gracefully: the daemon routes nothing new
 * here, requests in progress are answered, then connections still waiting
 * for a request are closed and the program exits. A second Ctrl-C stops it
 * at once.
 */

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <libsoup/soup.h>
#include <socketmaster.h>

/* Waits before registering again after a failure */
#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS   10000

typedef struct {
  GMainLoop      *loop;
  SmListener     *listener;
  SoupServer     *server;
  GSocketAddress *local_address;
  GSocketAddress *remote_address;
  const char     *prefix;
  GBytes         *body;
  guint16         port;
  guint           requests_in_progress;
  gboolean        stopping;
  gboolean        disconnected;
  int             exit_status;
  guint           retry_ms; /* next wait before registering again */
  guint           retry_id;
} Hello;

static void
on_request (SoupServer        *server,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *query,
            gpointer           user_data)
{
  Hello *hello = user_data;
  SoupMessageHeaders *response_headers = soup_server_message_get_response_headers (msg);

  /* The daemon matches prefixes as plain strings ("/a" covers "/abc"), so
   * this does too, rather than SoupServer's per-segment path map. A
   * request outside the prefix only arrives when the daemon had nothing
   * better, e.g. through a wider service that left. */
  if (!g_str_has_prefix (path, hello->prefix))
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
      soup_server_message_set_response (msg, "text/plain; charset=utf-8",
                                        SOUP_MEMORY_STATIC, "Not Found\n", 10);
    }
  else
    {
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_server_message_set_response (msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY,
                                        g_bytes_get_data (hello->body, NULL),
                                        g_bytes_get_size (hello->body));
    }

  /* SoupServer (libsoup 3.2) keeps a connection alive only when it has a
   * listener of its own, which this one never has: it closes each stream
   * after one response. HTTP wants a server that does so to say it in
   * every response (RFC 9112 §9.6); the daemon then opens a new stream
   * for the next request, while its public connection stays open. */
  soup_message_headers_replace (response_headers, "Connection", "close");
}

/* Connections waiting for a request would keep a graceful close waiting
 * forever: once no request is being answered, drop them. */
static void
disconnect_when_idle (Hello *hello)
{
  if (!hello->stopping || hello->disconnected || hello->requests_in_progress > 0)
    return;

  g_debug ("No request in progress, closing idle connections");
  hello->disconnected = TRUE;
  soup_server_disconnect (hello->server);
}

/* A request head and body arrived: from here until it is answered (or
 * aborted), it is in progress. Connections waiting for their next request
 * do not count. */
static void
on_request_read (SoupServer        *server,
                 SoupServerMessage *msg,
                 gpointer           user_data)
{
  Hello *hello = user_data;

  hello->requests_in_progress++;
  g_object_set_data (G_OBJECT (msg), "http-hello-in-progress", GINT_TO_POINTER (TRUE));
}

static void
on_request_done (SoupServer        *server,
                 SoupServerMessage *msg,
                 gpointer           user_data)
{
  Hello *hello = user_data;

  if (g_object_steal_data (G_OBJECT (msg), "http-hello-in-progress") == NULL)
    return;
  hello->requests_in_progress--;
  disconnect_when_idle (hello);
}

/* The daemon opened a stream to us for a public connection with requests
 * routed here. Returning TRUE means we take the stream. */
static gboolean
on_incoming (SmListener *listener,
             GIOStream  *stream,
             gpointer    user_data)
{
  Hello *hello = user_data;
  g_autoptr(GError) error = NULL;

  if (hello->disconnected)
    {
      g_io_stream_close (stream, NULL, NULL);
      return TRUE;
    }

  if (!soup_server_accept_iostream (hello->server, stream,
                                    hello->local_address, hello->remote_address,
                                    &error))
    {
      g_warning ("Could not serve a connection: %s", error->message);
      g_io_stream_close (stream, NULL, NULL);
    }
  return TRUE;
}

/* Registering failed or the daemon stayed away: try again later, waiting
 * longer each time (up to RETRY_MAX_MS), and keep running meanwhile */
static void on_started (GObject *object, GAsyncResult *result, gpointer user_data);

static void
on_retry (gpointer user_data)
{
  Hello *hello = user_data;

  hello->retry_id = 0;
  sm_listener_start_async (hello->listener, NULL, on_started, hello);
}

static void
retry_later (Hello *hello)
{
  g_printerr ("http-hello: registering again in %u ms\n", hello->retry_ms);
  hello->retry_id = g_timeout_add_once (hello->retry_ms, on_retry, hello);
  hello->retry_ms = MIN (hello->retry_ms * 2, RETRY_MAX_MS);
}

/* The daemon went away and did not come back within the reconnect timeout */
static void
on_lost (SmListener *listener,
         GError     *error,
         gpointer    user_data)
{
  Hello *hello = user_data;

  g_printerr ("http-hello: lost the daemon: %s\n", error->message);
  if (!hello->stopping)
    retry_later (hello);
}

static void
on_started (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  Hello *hello = user_data;
  g_autoptr(GError) error = NULL;

  if (!sm_listener_start_finish (SM_LISTENER (object), result, &error))
    {
      g_printerr ("http-hello: could not register with the daemon: %s\n", error->message);
      /* A refusal (the port is taken, a bad definition) will not change;
       * anything else (no daemon yet, a reset) may */
      if (hello->stopping)
        return; /* closing ends the loop */
      if (sm_listener_error_is_refusal (error))
        {
          hello->exit_status = EXIT_FAILURE;
          g_main_loop_quit (hello->loop);
        }
      else
        retry_later (hello);
      return;
    }

  hello->retry_ms = RETRY_FIRST_MS;

  /* Flushed at once: scripts and tests wait for this line. */
  g_print ("http-hello: serving %s on port %u\n", hello->prefix, hello->port);
  fflush (stdout);
}

static void
on_listener_closed (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Hello *hello = user_data;
  g_autoptr(GError) error = NULL;

  if (!sm_listener_close_finish (SM_LISTENER (object), result, &error))
    g_printerr ("http-hello: closing: %s\n", error->message);
  g_main_loop_quit (hello->loop);
}

static gboolean
on_stop_signal (gpointer user_data)
{
  Hello *hello = user_data;

  if (hello->stopping)
    {
      /* Asked twice: drop the connections still in progress. */
      sm_listener_abort (hello->listener);
      g_main_loop_quit (hello->loop);
      return G_SOURCE_CONTINUE;
    }

  hello->stopping = TRUE;
  if (hello->retry_id != 0)
    {
      /* not registered: nothing to drain */
      g_clear_handle_id (&hello->retry_id, g_source_remove);
      g_main_loop_quit (hello->loop);
      return G_SOURCE_CONTINUE;
    }
  g_print ("http-hello: stopping, waiting for requests in progress\n");
  fflush (stdout);
  sm_listener_close_async (hello->listener, NULL, on_listener_closed, hello);
  disconnect_when_idle (hello);
  return G_SOURCE_CONTINUE;
}

int
main (int    argc,
      char **argv)
{
  g_auto(GStrv) control_addresses = NULL;
  g_autofree char *address = NULL;
  g_autofree char *prefix = NULL;
  g_autofree char *domain = NULL;
  g_autofree char *text = NULL;
  g_autofree char *body_text = NULL;
  int port = 8000;
  GOptionEntry entries[] = {
    { "control", 'c', 0, G_OPTION_ARG_STRING_ARRAY, &control_addresses,
      "Control address of a daemon, repeatable: the service registers with each "
      "(default: $SOCKETMASTER_ADDRESS, comma-separated, or 127.0.0.1:9999)", "HOST:PORT" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port,
      "Public TCP port to ask the daemon for (default: 8000)", "N" },
    { "address", 'a', 0, G_OPTION_ARG_STRING, &address,
      "Interface the daemon should listen on (default: all)", "ADDR" },
    { "prefix", 0, 0, G_OPTION_ARG_STRING, &prefix,
      "Path prefix to serve (default: /, every path)", "PATH" },
    { "domain", 0, 0, G_OPTION_ARG_STRING, &domain,
      "Domain suffix to serve, e.g. example.com (default: any host)", "SUFFIX" },
    { "text", 't', 0, G_OPTION_ARG_STRING, &text,
      "Text to answer with (default: Hello)", "TEXT" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(SmSocketDefinition) definition = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(SmListener) listener = NULL;
  g_autoptr(SoupServer) server = NULL;
  g_autoptr(GSocketAddress) local_address = NULL;
  g_autoptr(GSocketAddress) remote_address = NULL;
  g_autoptr(GBytes) body = NULL;
  guint sigint_id, sigterm_id;
  Hello hello = { 0 };

  setlocale (LC_ALL, "");

  context = g_option_context_new ("- answer HTTP requests routed by socketmaster");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("http-hello: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (port < 1 || port > 65535)
    {
      g_printerr ("http-hello: --port must be 1-65535\n");
      return EXIT_FAILURE;
    }
  if (prefix == NULL)
    prefix = g_strdup ("/");
  if (prefix[0] != '/')
    {
      g_printerr ("http-hello: --prefix must start with /\n");
      return EXIT_FAILURE;
    }

  /* A line of text reads best in a terminal */
  if (text == NULL)
    text = g_strdup ("Hello");
  body_text = g_strdup_printf ("%s\n", text);
  body = g_bytes_new_take (g_steal_pointer (&body_text), strlen (text) + 1);

  definition = sm_socket_definition_new ((guint16) port);
  if (address != NULL)
    sm_socket_definition_set_address (definition, address);
  sm_socket_definition_set_http (definition, domain, prefix);

  /* The daemon owns the real sockets; SoupServer still wants addresses for
   * each connection, so it gets placeholders (the client's address arrives
   * in X-Forwarded-For). */
  local_address = g_inet_socket_address_new_from_string ("127.0.0.1", (guint) port);
  remote_address = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  server = soup_server_new ("server-header", "http-hello ", NULL);

  loop = g_main_loop_new (NULL, FALSE);
  /* one registration per daemon, e.g. each one behind a balancer */
  listener = sm_listener_new_for_addresses ((const char *const *) control_addresses, definition);

  hello.loop = loop;
  hello.listener = listener;
  hello.server = server;
  hello.local_address = local_address;
  hello.remote_address = remote_address;
  hello.prefix = prefix;
  hello.body = body;
  hello.port = (guint16) port;
  hello.exit_status = EXIT_SUCCESS;

  soup_server_add_handler (server, NULL, on_request, &hello, NULL);
  g_signal_connect (server, "request-read", G_CALLBACK (on_request_read), &hello);
  g_signal_connect (server, "request-finished", G_CALLBACK (on_request_done), &hello);
  g_signal_connect (server, "request-aborted", G_CALLBACK (on_request_done), &hello);
  g_signal_connect (listener, "incoming", G_CALLBACK (on_incoming), &hello);
  g_signal_connect (listener, "lost", G_CALLBACK (on_lost), &hello);
  sigint_id = g_unix_signal_add (SIGINT, on_stop_signal, &hello);
  sigterm_id = g_unix_signal_add (SIGTERM, on_stop_signal, &hello);

  hello.retry_ms = RETRY_FIRST_MS;
  sm_listener_start_async (listener, NULL, on_started, &hello);
  g_main_loop_run (loop);

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_clear_handle_id (&hello.retry_id, g_source_remove);
  g_signal_handlers_disconnect_by_data (listener, &hello);
  g_signal_handlers_disconnect_by_data (server, &hello);
  soup_server_disconnect (server);

  return hello.exit_status;
}
