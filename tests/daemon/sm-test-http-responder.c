/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sm-http-parser.h"
#include "sm-test-http-responder.h"
#include "sm-yamux-stream.h"

#define READ_CHUNK     (64 * 1024)
#define MAX_HEAD       (64 * 1024)

struct _SmTestHttpResponder {
  gint   ref_count;
  char  *name;
  GList *conns;
  guint  n_requests;
  gboolean freed;
};

typedef struct _Conn Conn;
typedef void (*ConnStep) (Conn *conn);

struct _Conn {
  SmTestHttpResponder *responder;
  GIOStream           *stream;
  GInputStream        *input;
  GOutputStream       *output;
  GByteArray          *in;
  guint8               chunk[READ_CHUNK];
  gboolean             eof;
  SmHttpHeadScanner    scanner;
  SmHttpRequest       *request;
  SmHttpBodyTracker    body;
  gboolean             body_complete;
  GString             *out;
  ConnStep             after_write;
  ConnStep             after_read;
  gboolean             close_after;
  guint64              big_remaining;
  guint64              big_offset;
  gboolean             ended;
};

static void conn_next_request (Conn *conn);

static SmTestHttpResponder *
responder_ref (SmTestHttpResponder *self)
{
  self->ref_count++;
  return self;
}

static void
responder_unref (SmTestHttpResponder *self)
{
  if (--self->ref_count > 0)
    return;
  g_free (self->name);
  g_free (self);
}

/* ---- Connection plumbing ---- */

static void
stream_closed_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
}

static void
conn_free (Conn *conn)
{
  conn->responder->conns = g_list_remove (conn->responder->conns, conn);
  responder_unref (conn->responder);
  g_clear_pointer (&conn->request, sm_http_request_free);
  g_byte_array_unref (conn->in);
  g_string_free (conn->out, TRUE);
  g_object_unref (conn->stream);
  g_free (conn);
}

/* Closes the stream (FIN after the peer's, so the stream ends both ways) */
static void
conn_end (Conn *conn)
{
  if (!conn->ended)
    g_io_stream_close_async (conn->stream, G_PRIORITY_DEFAULT, NULL, stream_closed_cb, NULL);
  conn_free (conn);
}

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      data)
{
  Conn *conn = data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (n < 0)
    {
      g_debug ("responder %s: read: %s", conn->responder->name, error->message);
      conn_end (conn);
      return;
    }
  if (n == 0)
    conn->eof = TRUE;
  else
    g_byte_array_append (conn->in, conn->chunk, (guint) n);
  conn->after_read (conn);
}

static void
conn_read (Conn     *conn,
           ConnStep  next)
{
  conn->after_read = next;
  g_input_stream_read_async (conn->input, conn->chunk, sizeof conn->chunk, G_PRIORITY_DEFAULT,
                             NULL, read_cb, conn);
}

static void
write_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      data)
{
  Conn *conn = data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      g_debug ("responder %s: write: %s", conn->responder->name, error->message);
      conn_end (conn);
      return;
    }
  g_string_truncate (conn->out, 0);
  conn->after_write (conn);
}

/* Writes conn->out in one call */
static void
conn_write (Conn     *conn,
            ConnStep  next)
{
  conn->after_write = next;
  g_output_stream_write_all_async (conn->output, conn->out->str, conn->out->len,
                                   G_PRIORITY_DEFAULT, NULL, write_cb, conn);
}

static void
consume_input (Conn  *conn,
               gsize  len)
{
  g_byte_array_remove_range (conn->in, 0, (guint) len);
}

/* ---- Responses ---- */

static void
append_seen (Conn       *conn,
             const char *name)
{
  const char *value = soup_message_headers_get_list (conn->request->headers, name);

  g_string_append_printf (conn->out, "X-Seen-%s: %s\r\n", name,
                          value != NULL && *value != '\0' ? value : "-");
}

static const char *
reason_for (guint status)
{
  const char *phrase = soup_status_get_phrase (status);

  return phrase != NULL ? phrase : "Whatever";
}

static void
append_head_start (Conn  *conn,
                   guint  status)
{
  static const char * const seen[] = {
    "Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded",
    "Connection", "Keep-Alive", "Upgrade", "TE", "Proxy-Authorization", "Transfer-Encoding",
    "Content-Length", "Expect",
  };

  g_string_append_printf (conn->out, "HTTP/1.1 %u %s\r\nX-Service: %s\r\n", status,
                          reason_for (status), conn->responder->name);
  for (guint i = 0; i < G_N_ELEMENTS (seen); i++)
    append_seen (conn, seen[i]);
}

/* Paths name what they want anywhere: "/a/echo" echoes */
static gboolean
has_part (const char *path,
          const char *part)
{
  return strstr (path, part) != NULL;
}

static guint64
query_number (const char *target,
              const char *key)
{
  const char *found = strstr (target, key);

  return found != NULL ? g_ascii_strtoull (found + strlen (key), NULL, 10) : 0;
}

static void
after_response (Conn *conn)
{
  conn->responder->n_requests++;
  g_clear_pointer (&conn->request, sm_http_request_free);
  if (conn->close_after)
    {
      conn_end (conn);
      return;
    }
  conn_next_request (conn);
}

static void
big_step (Conn *conn)
{
  gsize len;

  if (conn->big_remaining == 0)
    {
      after_response (conn);
      return;
    }
  len = (gsize) MIN (conn->big_remaining, READ_CHUNK);
  g_string_set_size (conn->out, len);
  for (gsize i = 0; i < len; i++)
    conn->out->str[i] = (char) sm_test_http_big_byte (conn->big_offset + i);
  conn->big_offset += len;
  conn->big_remaining -= len;
  conn_write (conn, big_step);
}

static gboolean
slow_answer_cb (gpointer data)
{
  Conn *conn = data;

  conn_write (conn, after_response);
  return G_SOURCE_REMOVE;
}

/* The request body was read: answer */
static void
respond (Conn *conn)
{
  SmHttpRequest *request = conn->request;
  gboolean head = g_str_equal (request->method, "HEAD");
  g_autofree char *body = NULL;
  guint status = 200;

  conn->close_after = !request->keep_alive || has_part (request->path, "/close") ||
                      has_part (request->path, "/until-close");

  if (has_part (request->path, "/status/"))
    status = (guint) g_ascii_strtoull (strstr (request->path, "/status/") + strlen ("/status/"),
                                       NULL, 10);
  append_head_start (conn, status);
  if (conn->close_after)
    g_string_append (conn->out, "Connection: close\r\n");

  if (has_part (request->path, "/big"))
    {
      conn->big_remaining = query_number (request->target, "bytes=");
      conn->big_offset = 0;
      g_string_append_printf (conn->out, "Content-Length: %" G_GUINT64_FORMAT "\r\n\r\n",
                              conn->big_remaining);
      if (head)
        conn->big_remaining = 0;
      conn_write (conn, big_step);
      return;
    }

  if (status < 200 || status == 204 || status == 304)
    {
      g_string_append (conn->out, "\r\n");
      conn_write (conn, after_response);
      return;
    }

  body = g_strdup_printf ("%s %s %s\n", conn->responder->name, request->method,
                          request->target);
  g_string_append (conn->out, "Content-Type: text/plain\r\n");
  if (!has_part (request->path, "/until-close"))
    g_string_append_printf (conn->out, "Content-Length: %zu\r\n", strlen (body));
  g_string_append (conn->out, "\r\n");
  if (!head)
    g_string_append (conn->out, body);

  if (has_part (request->path, "/slow"))
    {
      g_timeout_add ((guint) query_number (request->target, "ms="), slow_answer_cb, conn);
      return;
    }
  conn_write (conn, after_response);
}

/* Reads (and drops) the request body, then answers */
static void
discard_body (Conn *conn)
{
  g_autoptr(GError) error = NULL;
  gsize consumed = 0;

  while (!conn->body_complete && conn->in->len > 0)
    {
      SmHttpResult result = sm_http_body_tracker_feed (&conn->body, conn->in->data,
                                                       conn->in->len, &consumed, &error);

      if (result == SM_HTTP_ERROR)
        {
          g_debug ("responder %s: bad body: %s", conn->responder->name, error->message);
          conn_end (conn);
          return;
        }
      conn->body_complete = result == SM_HTTP_COMPLETE;
      consume_input (conn, consumed);
    }

  if (conn->body_complete)
    {
      respond (conn);
      return;
    }
  if (conn->eof)
    {
      conn_end (conn);
      return;
    }
  conn_read (conn, discard_body);
}

/* ---- Echo ---- */

static void
echo_body (Conn *conn)
{
  g_autoptr(GError) error = NULL;
  gsize consumed = 0;
  SmHttpResult result;

  if (conn->body_complete)
    {
      after_response (conn);
      return;
    }
  if (conn->in->len == 0)
    {
      if (conn->eof)
        conn_end (conn);
      else
        conn_read (conn, echo_body);
      return;
    }

  result = sm_http_body_tracker_feed (&conn->body, conn->in->data, conn->in->len, &consumed,
                                      &error);
  if (result == SM_HTTP_ERROR)
    {
      g_debug ("responder %s: bad body: %s", conn->responder->name, error->message);
      conn_end (conn);
      return;
    }
  conn->body_complete = result == SM_HTTP_COMPLETE;
  g_string_append_len (conn->out, (const char *) conn->in->data, (gssize) consumed);
  consume_input (conn, consumed);
  conn_write (conn, echo_body);
}

static void
start_echo (Conn *conn)
{
  SmHttpRequest *request = conn->request;

  if (request->expect_continue)
    g_string_append (conn->out, "HTTP/1.1 100 Continue\r\n\r\n");
  append_head_start (conn, 200);
  if (request->body == SM_HTTP_BODY_CHUNKED)
    g_string_append (conn->out, "Transfer-Encoding: chunked\r\n\r\n");
  else
    g_string_append_printf (conn->out, "Content-Length: %" G_GUINT64_FORMAT "\r\n\r\n",
                            request->body == SM_HTTP_BODY_LENGTH ? request->content_length : 0);
  conn->close_after = !request->keep_alive;
  conn_write (conn, echo_body);
}

/* ---- Upgrade: raw echo ---- */

static void raw_echo (Conn *conn);

static void
raw_echo (Conn *conn)
{
  if (conn->in->len > 0)
    {
      g_string_append_len (conn->out, (const char *) conn->in->data, conn->in->len);
      consume_input (conn, conn->in->len);
      conn_write (conn, raw_echo);
      return;
    }
  if (conn->eof)
    {
      conn_end (conn);
      return;
    }
  conn_read (conn, raw_echo);
}

static void
start_upgrade (Conn *conn)
{
  const char *protocol = soup_message_headers_get_one (conn->request->headers, "Upgrade");

  g_string_append_printf (conn->out,
                          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                          "Upgrade: %s\r\nX-Service: %s\r\n\r\n",
                          protocol, conn->responder->name);
  conn->responder->n_requests++;
  conn_write (conn, raw_echo);
}

/* ---- Requests ---- */

static void
conn_next_request (Conn *conn)
{
  g_autoptr(GError) error = NULL;
  gsize head_len = 0;
  guint status = 0;

  switch (sm_http_find_head_end (&conn->scanner, conn->in->data, conn->in->len, MAX_HEAD,
                                 &head_len, &error))
    {
    case SM_HTTP_NEED_MORE:
      if (conn->eof)
        conn_end (conn);
      else
        conn_read (conn, conn_next_request);
      return;
    case SM_HTTP_ERROR:
      g_debug ("responder %s: %s", conn->responder->name, error->message);
      conn_end (conn);
      return;
    case SM_HTTP_COMPLETE:
    default:
      break;
    }

  if (!sm_http_request_parse (conn->in->data, head_len, &conn->request, &status, &error))
    {
      g_debug ("responder %s: %s", conn->responder->name, error->message);
      conn_end (conn);
      return;
    }
  consume_input (conn, head_len);
  sm_http_head_scanner_init (&conn->scanner);
  sm_http_body_tracker_init (&conn->body, conn->request->body, conn->request->content_length);
  conn->body_complete = conn->request->body == SM_HTTP_BODY_NONE;

  if (has_part (conn->request->path, "/upgrade") && conn->request->upgrade)
    start_upgrade (conn);
  else if (has_part (conn->request->path, "/echo"))
    start_echo (conn);
  else
    discard_body (conn);
}

/* ---- Public ---- */

SmTestHttpResponder *
sm_test_http_responder_new (const char *name)
{
  SmTestHttpResponder *self = g_new0 (SmTestHttpResponder, 1);

  self->ref_count = 1;
  self->name = g_strdup (name);
  return self;
}

void
sm_test_http_responder_serve (SmTestHttpResponder *self,
                              GIOStream           *stream)
{
  Conn *conn = g_new0 (Conn, 1);

  conn->responder = responder_ref (self);
  conn->stream = g_object_ref (stream);
  conn->input = g_io_stream_get_input_stream (stream);
  conn->output = g_io_stream_get_output_stream (stream);
  conn->in = g_byte_array_new ();
  conn->out = g_string_new (NULL);
  self->conns = g_list_prepend (self->conns, conn);
  conn_next_request (conn);
}

guint
sm_test_http_responder_get_n_requests (SmTestHttpResponder *self)
{
  return self->n_requests;
}

guint
sm_test_http_responder_get_n_streams (SmTestHttpResponder *self)
{
  return g_list_length (self->conns);
}

void
sm_test_http_responder_free (SmTestHttpResponder *self)
{
  if (self == NULL)
    return;

  /* Their pending operations fail and free them */
  for (GList *l = self->conns; l != NULL; l = l->next)
    {
      Conn *conn = l->data;

      if (SM_IS_YAMUX_STREAM (conn->stream))
        sm_yamux_stream_reset (SM_YAMUX_STREAM (conn->stream));
      else
        g_io_stream_close (conn->stream, NULL, NULL);
      conn->ended = TRUE;
    }
  responder_unref (self);
}
