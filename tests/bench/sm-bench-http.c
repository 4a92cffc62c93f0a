/* SPDX-License-Identifier: MIT */
/*
 * sm-bench-http: the HTTP backend of tests/bench/http-rps.
 *
 *   sm-bench-http --free-port
 *       prints a currently free loopback TCP port
 *   sm-bench-http --listen-port N [--address A]
 *       plain TCP HTTP server (what nginx and the direct runs talk to)
 *   sm-bench-http --control HOST:PORT --port N [--address A] [--prefix P]
 *                 [--tls-cert FILE --tls-key FILE]
 *       the same server as a socketmaster HTTP service (prefix default /),
 *       the daemon terminating TLS with that certificate if given
 *
 * It answers every request with "hello\n" (Content-Length: 6), except
 * GET /big/SIZE, answered with SIZE bytes (at most 1 GiB) generated as the
 * client reads them (what tests/bench/scale-bench's stalled readers ask
 * for). It keeps connections alive (HTTP/1.1 unless "Connection: close"; HTTP/1.0 only
 * with "Connection: keep-alive") and answers pipelined requests in order.
 * Request bodies with Content-Length are read and dropped; chunked request
 * bodies are answered with 501 and the connection is closed.
 *
 * It is built for speed rather than generality: one thread, non-blocking
 * reads and writes on pollable streams watched through the daemon's event
 * core (src/io/sm-event-loop.h: one epoll set, so that thousands of
 * connections or yamux streams do not make the backend the bottleneck of
 * either path), one fixed input buffer and one bounded output buffer per
 * connection. While the output buffer is full
 * (the client does not read its responses), nothing more is read.
 *
 * Status lines go to stdout, flushed, so the script can wait for them.
 * SIGINT/SIGTERM print the request and connection counts and exit.
 */

/* memmem() */
#define _GNU_SOURCE

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <socketmaster.h>

#include "sm-bench-util.h"
#include "sm-event-loop.h"

/* A request head must fit in the input buffer */
#define INPUT_SIZE       (16 * 1024)
/* Pipelined requests are not parsed while this much output is pending */
#define OUTPUT_LIMIT     (64 * 1024)
#define MAX_BODY_DIGITS  18
/* GET /big/SIZE: the largest SIZE */
#define MAX_BIG_BODY     (G_GUINT64_CONSTANT (1) << 30)

#define RESPONSE_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
#define RESPONSE_BODY "hello\n"

static char    *opt_control;
static char    *opt_address;
static char    *opt_prefix;
static char    *opt_tls_cert;
static char    *opt_tls_key;
static int      opt_listen_port;
static int      opt_port;
static gboolean opt_free_port;

static GOptionEntry option_entries[] = {
  { "free-port", 0, 0, G_OPTION_ARG_NONE, &opt_free_port, "Print a free loopback port and exit", NULL },
  { "listen-port", 0, 0, G_OPTION_ARG_INT, &opt_listen_port, "Serve plain TCP on this port", "N" },
  { "control", 0, 0, G_OPTION_ARG_STRING, &opt_control, "Register with the daemon at this control address", "HOST:PORT" },
  { "port", 0, 0, G_OPTION_ARG_INT, &opt_port, "Public port to ask the daemon for (with --control)", "N" },
  { "address", 0, 0, G_OPTION_ARG_STRING, &opt_address, "Listening address (default 127.0.0.1)", "ADDR" },
  { "prefix", 0, 0, G_OPTION_ARG_STRING, &opt_prefix, "Path prefix to register (with --control; default /)", "PATH" },
  { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &opt_tls_cert, "PEM certificate chain for the daemon to serve (with --control)", "FILE" },
  { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &opt_tls_key, "PEM private key of --tls-cert", "FILE" },
  { NULL }
};

typedef struct {
  GMainLoop  *loop;
  GHashTable *open_connections;  /* set of Connection */
  guint64     requests;
  guint64     connections;
  int         exit_status;
} Bench;

typedef struct {
  Bench                 *bench;
  GIOStream             *stream;
  GPollableInputStream  *input;
  GPollableOutputStream *output;
  SmEventWatch          *watch;          /* the daemon's event core, as the daemon uses it */
  gboolean               reading;
  gboolean               writing;
  GByteArray            *out;
  gsize                  out_sent;
  gsize                  in_len;
  gsize                  in_parsed;      /* start of the first unanswered request */
  gsize                  scan_from;      /* where to look for the end of its head */
  guint64                body_to_skip;   /* request body bytes still to drop */
  guint64                body_to_send;   /* response body bytes of /big/SIZE still to send */
  gboolean               read_eof;
  gboolean               closing;        /* close once the output is flushed */
  guint8                 in[INPUT_SIZE];
} Connection;

static void connection_run (Connection *conn);

/* ---- Connections ---- */

static void
connection_free (Connection *conn)
{
  /* Safe from the watch's own callback */
  sm_event_watch_free (conn->watch);
  /* Neither a socket nor a yamux stream blocks to close */
  g_io_stream_close (conn->stream, NULL, NULL);
  g_object_unref (conn->stream);
  g_byte_array_unref (conn->out);
  g_hash_table_remove (conn->bench->open_connections, conn);
  g_free (conn);
}

static void
append_response (Connection *conn,
                 guint       status,
                 const char *reason,
                 gboolean    with_body)
{
  g_autofree char *status_line = NULL;

  if (status == 200)
    {
      g_byte_array_append (conn->out, (const guint8 *) RESPONSE_HEAD, strlen (RESPONSE_HEAD));
    }
  else
    {
      status_line = g_strdup_printf ("HTTP/1.1 %u %s\r\nContent-Length: 0\r\n", status, reason);
      g_byte_array_append (conn->out, (const guint8 *) status_line, strlen (status_line));
      with_body = FALSE;
    }
  if (conn->closing)
    g_byte_array_append (conn->out, (const guint8 *) "Connection: close\r\n", 19);
  g_byte_array_append (conn->out, (const guint8 *) "\r\n", 2);
  if (with_body)
    g_byte_array_append (conn->out, (const guint8 *) RESPONSE_BODY, strlen (RESPONSE_BODY));
}

/* The size of a "GET /big/SIZE" request, or 0 for any other request */
static guint64
big_body_size (const char *head,
               const char *version)
{
  g_autofree char *size = NULL;
  guint64 value = 0;

  if (strncmp (head, "GET /big/", 9) != 0 || version - 1 <= head + 9)
    return 0;
  size = g_strndup (head + 9, version - 1 - head - 9);
  if (!g_ascii_string_to_unsigned (size, 10, 1, MAX_BIG_BODY, &value, NULL))
    return 0;
  return value;
}

/* The head of the answer to GET /big/SIZE; its body goes out as the
 * client reads (fill_big_body()) */
static void
append_big_response (Connection *conn,
                     guint64     size)
{
  g_autofree char *head = NULL;

  head = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                          "Content-Length: %" G_GUINT64_FORMAT "\r\n%s\r\n",
                          size, conn->closing ? "Connection: close\r\n" : "");
  g_byte_array_append (conn->out, (const guint8 *) head, strlen (head));
  conn->body_to_send = size;
}

/* Adds /big/SIZE body bytes to the output, up to its limit */
static void
fill_big_body (Connection *conn)
{
  static const guint8 filler[OUTPUT_LIMIT];
  gsize pending = conn->out->len - conn->out_sent;
  gsize n;

  if (pending >= OUTPUT_LIMIT)
    return;
  n = (gsize) MIN ((guint64) (OUTPUT_LIMIT - pending), conn->body_to_send);
  g_byte_array_append (conn->out, filler, (guint) n);
  conn->body_to_send -= n;
}

static gboolean
field_name_is (const char *line,
               gsize       line_len,
               const char *name)
{
  gsize name_len = strlen (name);

  return line_len > name_len && line[name_len] == ':' &&
         g_ascii_strncasecmp (line, name, name_len) == 0;
}

/* The value of a "Name: value" line, without surrounding whitespace */
static char *
field_value (const char *line,
             gsize       line_len)
{
  const char *colon = memchr (line, ':', line_len);

  return g_strstrip (g_strndup (colon + 1, line + line_len - colon - 1));
}

static gboolean
token_list_contains (const char *value,
                     const char *token)
{
  g_auto(GStrv) items = g_strsplit (value, ",", -1);

  for (guint i = 0; items[i] != NULL; i++)
    if (g_ascii_strcasecmp (g_strstrip (items[i]), token) == 0)
      return TRUE;
  return FALSE;
}

/* Answers one complete request head. Sets conn->closing when the
 * connection must close after the answer (which then says so). */
static void
answer_request (Connection *conn,
                const char *head,
                gsize       head_len)
{
  const char *end = head + head_len;
  const char *line_end = memchr (head, '\r', head_len);
  const char *version;
  gboolean http_10, keep_alive, is_head, chunked = FALSE;
  gboolean have_length = FALSE, bad = FALSE;
  guint64 content_length = 0, big_size;

  /* "METHOD SP target SP HTTP/1.x" */
  version = line_end != NULL && line_end - head > 9 ? line_end - 8 : NULL;
  if (version == NULL || version[-1] != ' ' || memchr (head, ' ', version - 1 - head) == NULL ||
      (memcmp (version, "HTTP/1.1", 8) != 0 && memcmp (version, "HTTP/1.0", 8) != 0))
    {
      conn->closing = TRUE;
      append_response (conn, 400, "Bad Request", FALSE);
      return;
    }
  http_10 = version[7] == '0';
  keep_alive = !http_10;
  is_head = head_len > 5 && memcmp (head, "HEAD ", 5) == 0;

  for (const char *line = line_end + 2; line < end && *line != '\r'; )
    {
      const char *next = memchr (line, '\r', end - line);
      gsize line_len;

      if (next == NULL)
        break;
      line_len = next - line;

      if (field_name_is (line, line_len, "Content-Length"))
        {
          g_autofree char *value = field_value (line, line_len);
          guint64 length = 0;

          if (strlen (value) == 0 || strlen (value) > MAX_BODY_DIGITS ||
              !g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT64, &length, NULL) ||
              (have_length && length != content_length))
            bad = TRUE;
          have_length = TRUE;
          content_length = length;
        }
      else if (field_name_is (line, line_len, "Transfer-Encoding"))
        {
          chunked = TRUE;
        }
      else if (field_name_is (line, line_len, "Connection"))
        {
          g_autofree char *value = field_value (line, line_len);

          if (token_list_contains (value, "close"))
            keep_alive = FALSE;
          else if (http_10 && token_list_contains (value, "keep-alive"))
            keep_alive = TRUE;
        }
      line = next + 2;
    }

  if (bad)
    {
      conn->closing = TRUE;
      append_response (conn, 400, "Bad Request", FALSE);
      return;
    }
  if (chunked)
    {
      /* Not needed for a benchmark; refusing is safer than guessing */
      conn->closing = TRUE;
      append_response (conn, 501, "Not Implemented", FALSE);
      return;
    }

  conn->body_to_skip = content_length;
  conn->closing = !keep_alive;
  conn->bench->requests++;
  big_size = big_body_size (head, version);
  if (big_size > 0)
    append_big_response (conn, big_size);
  else
    append_response (conn, 200, "OK", !is_head);
}

/* Answers the complete requests in the input buffer, in order, until the
 * output buffer is full or the connection is to close. */
static void
answer_buffered_requests (Connection *conn)
{
  if (conn->body_to_send > 0)
    fill_big_body (conn);
  while (!conn->closing && conn->body_to_send == 0 && conn->out->len - conn->out_sent < OUTPUT_LIMIT)
    {
      gsize available = conn->in_len - conn->in_parsed;
      const guint8 *start = conn->in + conn->in_parsed;
      const guint8 *head_end;
      gsize scan_offset;

      if (conn->body_to_skip > 0)
        {
          gsize skip = MIN ((guint64) available, conn->body_to_skip);

          conn->body_to_skip -= skip;
          conn->in_parsed += skip;
          conn->scan_from = conn->in_parsed;
          if (conn->body_to_skip > 0)
            break;
          continue;
        }

      /* Resume the search a little before where the last one stopped, in
       * case the "\r\n\r\n" straddles two reads */
      scan_offset = conn->scan_from > conn->in_parsed + 3 ? conn->scan_from - 3 - conn->in_parsed : 0;
      head_end = available >= 4 ? memmem (start + scan_offset, available - scan_offset, "\r\n\r\n", 4) : NULL;
      if (head_end == NULL)
        {
          conn->scan_from = conn->in_len;
          if (available == INPUT_SIZE)
            {
              conn->closing = TRUE;
              append_response (conn, 431, "Request Header Fields Too Large", FALSE);
            }
          break;
        }

      answer_request (conn, (const char *) start, head_end + 4 - start);
      conn->in_parsed += head_end + 4 - start;
      conn->scan_from = conn->in_parsed;
      if (conn->body_to_send > 0)
        fill_big_body (conn);
    }

  /* Keep the unanswered bytes at the start so the next read has room */
  if (conn->in_parsed > 0)
    {
      memmove (conn->in, conn->in + conn->in_parsed, conn->in_len - conn->in_parsed);
      conn->in_len -= conn->in_parsed;
      conn->scan_from -= conn->in_parsed;
      conn->in_parsed = 0;
    }
}

static void
on_writable (gpointer user_data)
{
  Connection *conn = user_data;

  conn->writing = FALSE;
  connection_run (conn);
}

static void on_readable (gpointer user_data);

/* Writes what it can. FALSE if the connection failed (and is gone). */
static gboolean
flush_output (Connection *conn)
{
  while (conn->out_sent < conn->out->len)
    {
      g_autoptr(GError) error = NULL;
      gssize n;

      n = g_pollable_output_stream_write_nonblocking (conn->output,
                                                      conn->out->data + conn->out_sent,
                                                      conn->out->len - conn->out_sent,
                                                      NULL, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          conn->writing = TRUE;
          return TRUE;
        }
      if (n < 0)
        {
          g_debug ("Write failed: %s", error->message);
          connection_free (conn);
          return FALSE;
        }
      conn->out_sent += n;
    }

  g_byte_array_set_size (conn->out, 0);
  conn->out_sent = 0;
  return TRUE;
}

static void
connection_run (Connection *conn)
{
  gboolean wants_read;

  do
    {
      answer_buffered_requests (conn);
      if (!flush_output (conn))
        return;
    }
  /* Stopped at the output limit and all of it went out: send the rest of
   * a big body, answer the rest */
  while (conn->out->len == 0 &&
         (conn->body_to_send > 0 ||
          (!conn->closing && conn->in_len > 0 && conn->body_to_skip == 0 &&
           memmem (conn->in, conn->in_len, "\r\n\r\n", 4) != NULL)));

  if (conn->out->len == 0 && conn->body_to_send == 0 && (conn->closing || conn->read_eof))
    {
      connection_free (conn);
      return;
    }

  wants_read = !conn->read_eof && !conn->closing && conn->out->len < OUTPUT_LIMIT &&
               conn->in_len < INPUT_SIZE;
  conn->reading = wants_read;
  sm_event_watch_update (conn->watch, conn->reading, conn->writing);
}

static void
on_readable (gpointer user_data)
{
  Connection *conn = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_pollable_input_stream_read_nonblocking (conn->input, conn->in + conn->in_len,
                                                INPUT_SIZE - conn->in_len, NULL, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return;
  if (n < 0)
    {
      g_debug ("Read failed: %s", error->message);
      connection_free (conn);
      return;
    }
  if (n == 0)
    conn->read_eof = TRUE;
  conn->in_len += n;
  /* May free conn */
  connection_run (conn);
}

static void
connection_start (Bench     *bench,
                  GIOStream *stream)
{
  Connection *conn = g_new0 (Connection, 1);

  conn->bench = bench;
  conn->stream = g_object_ref (stream);
  conn->input = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (stream));
  conn->output = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (stream));
  conn->out = g_byte_array_sized_new (1024);
  conn->watch = sm_event_watch_new (conn->input, conn->output, on_readable, on_writable, conn,
                                    "sm-bench-http connection");
  bench->connections++;
  g_hash_table_add (bench->open_connections, conn);
  connection_run (conn);
}

/* ---- Plain TCP ---- */

static gboolean
on_socket_incoming (GSocketService    *service,
                    GSocketConnection *connection,
                    GObject           *source_object,
                    gpointer           user_data)
{
  g_autoptr(GError) error = NULL;

  /* Responses are written whole: waiting for more to send gains nothing */
  if (!g_socket_set_option (g_socket_connection_get_socket (connection),
                            IPPROTO_TCP, TCP_NODELAY, 1, &error))
    g_debug ("TCP_NODELAY: %s", error->message);
  connection_start (user_data, G_IO_STREAM (connection));
  return TRUE;
}

static gboolean
listen_plain (Bench           *bench,
              GSocketService **out_service,
              GError         **error)
{
  g_autoptr(GSocketService) service = g_socket_service_new ();
  g_autoptr(GSocketAddress) address = NULL;

  address = listen_address_new (opt_address, opt_listen_port, error);
  if (address == NULL)
    return FALSE;
  /* As the daemon's: thousands of clients may connect at once */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (service), 4096);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (service), address, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, NULL, error))
    return FALSE;
  g_signal_connect (service, "incoming", G_CALLBACK (on_socket_incoming), bench);
  g_socket_service_start (service);

  print_status ("sm-bench-http: listening on %s:%d", opt_address, opt_listen_port);
  *out_service = g_steal_pointer (&service);
  return TRUE;
}

/* ---- Through the daemon ---- */

static gboolean
on_listener_incoming (SmListener *listener,
                      GIOStream  *stream,
                      gpointer    user_data)
{
  connection_start (user_data, stream);
  return TRUE;
}

static void
on_listener_started (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Bench *bench = user_data;
  g_autoptr(GError) error = NULL;

  if (!sm_listener_start_finish (SM_LISTENER (object), result, &error))
    {
      g_printerr ("sm-bench-http: could not register: %s\n", error->message);
      bench->exit_status = EXIT_FAILURE;
      g_main_loop_quit (bench->loop);
      return;
    }
  print_status ("sm-bench-http: serving %s on port %d", opt_prefix, opt_port);
}

static void
on_listener_lost (SmListener *listener,
                  GError     *error,
                  gpointer    user_data)
{
  Bench *bench = user_data;

  g_printerr ("sm-bench-http: lost the daemon: %s\n", error->message);
  bench->exit_status = EXIT_FAILURE;
  g_main_loop_quit (bench->loop);
}

/* ---- Main ---- */

static gboolean
on_stop_signal (gpointer user_data)
{
  Bench *bench = user_data;

  g_main_loop_quit (bench->loop);
  return G_SOURCE_CONTINUE;
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GSocketService) service = NULL;
  g_autoptr(SmSocketDefinition) definition = NULL;
  g_autoptr(SmListener) listener = NULL;
  Bench bench = { 0 };
  guint sigint_id, sigterm_id;

  context = g_option_context_new ("- HTTP backend for the requests/s benchmark");
  g_option_context_add_main_entries (context, option_entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("sm-bench-http: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (opt_address == NULL)
    opt_address = g_strdup ("127.0.0.1");
  if (opt_prefix == NULL)
    opt_prefix = g_strdup ("/");

  if (opt_free_port)
    return print_free_port ("sm-bench-http");

  /* A client that vanishes must show up as a write error, not kill us */
  signal (SIGPIPE, SIG_IGN);

  loop = g_main_loop_new (NULL, FALSE);
  bench.loop = loop;
  bench.open_connections = g_hash_table_new (NULL, NULL);
  bench.exit_status = EXIT_SUCCESS;

  if (opt_listen_port > 0 && opt_listen_port <= 65535 && opt_control == NULL)
    {
      if (!listen_plain (&bench, &service, &error))
        {
          g_printerr ("sm-bench-http: %s\n", error->message);
          return EXIT_FAILURE;
        }
    }
  else if (opt_control != NULL && opt_port > 0 && opt_port <= 65535 && opt_listen_port == 0)
    {
      definition = sm_socket_definition_new ((guint16) opt_port);
      sm_socket_definition_set_address (definition, opt_address);
      sm_socket_definition_set_http (definition, NULL, opt_prefix);
      if (opt_tls_cert != NULL || opt_tls_key != NULL)
        {
          g_autofree char *cert = NULL;
          g_autofree char *key = NULL;

          if (opt_tls_cert == NULL || opt_tls_key == NULL ||
              !g_file_get_contents (opt_tls_cert, &cert, NULL, &error) ||
              !g_file_get_contents (opt_tls_key, &key, NULL, &error))
            {
              g_printerr ("sm-bench-http: %s\n", error != NULL ? error->message
                                                             : "--tls-cert needs --tls-key");
              return EXIT_FAILURE;
            }
          sm_socket_definition_set_tls (definition, cert, key);
        }
      listener = sm_listener_new (opt_control, definition);
      g_signal_connect (listener, "incoming", G_CALLBACK (on_listener_incoming), &bench);
      g_signal_connect (listener, "lost", G_CALLBACK (on_listener_lost), &bench);
      sm_listener_start_async (listener, NULL, on_listener_started, &bench);
    }
  else
    {
      g_printerr ("usage: sm-bench-http --free-port | --listen-port N | --control HOST:PORT --port N\n");
      return EXIT_FAILURE;
    }

  sigint_id = g_unix_signal_add (SIGINT, on_stop_signal, &bench);
  sigterm_id = g_unix_signal_add (SIGTERM, on_stop_signal, &bench);
  g_main_loop_run (loop);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);

  print_status ("sm-bench-http: served %" G_GUINT64_FORMAT " requests on %" G_GUINT64_FORMAT
                " connections", bench.requests, bench.connections);

  /* A benchmark tool: no graceful drain, just go */
  if (listener != NULL)
    {
      g_signal_handlers_disconnect_by_data (listener, &bench);
      sm_listener_abort (listener);
    }
  if (service != NULL)
    g_socket_service_stop (service);
  while (g_hash_table_size (bench.open_connections) > 0)
    {
      GHashTableIter iter;
      gpointer conn;

      g_hash_table_iter_init (&iter, bench.open_connections);
      g_hash_table_iter_next (&iter, &conn, NULL);
      connection_free (conn);
    }
  g_hash_table_unref (bench.open_connections);
  return bench.exit_status;
}
