/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-address.h"
#include "sm-error.h"
#include "sm-http-parser.h"
#include "sm-metrics-server.h"

/* Not in libsoup 3.2's SoupStatus */
#define STATUS_HEADER_FIELDS_TOO_LARGE 431

struct _SmMetricsServer
{
  GObject         parent_instance;

  SmMetrics      *metrics;
  SmRegistry     *registry;
  GSocketService *service;
  char           *address;
  guint           n_clients;
};

G_DEFINE_FINAL_TYPE (SmMetricsServer, sm_metrics_server, G_TYPE_OBJECT)

/* One scrape: its connection, the request read so far, the answer */
typedef struct
{
  SmMetricsServer   *server;
  GSocketConnection *connection;
  GCancellable      *cancellable;
  GByteArray        *request;
  GString           *response;
  guint              timeout;
} Client;

static void
client_free (Client *client)
{
  g_clear_handle_id (&client->timeout, g_source_remove);
  g_io_stream_close (G_IO_STREAM (client->connection), NULL, NULL);
  g_object_unref (client->connection);
  g_object_unref (client->cancellable);
  g_byte_array_unref (client->request);
  if (client->response != NULL)
    g_string_free (client->response, TRUE);
  client->server->n_clients--;
  g_object_unref (client->server);
  g_free (client);
}

static gboolean
on_client_timeout (gpointer user_data)
{
  Client *client = user_data;

  client->timeout = 0;
  g_cancellable_cancel (client->cancellable);
  return G_SOURCE_REMOVE;
}

static void
written_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  Client *client = user_data;
  g_autoptr (GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source_object), result, NULL, &error))
    g_debug ("Metrics: cannot answer: %s", error->message);
  client_free (client);
}

/* 200 with the metrics, or an error: always the last answer on the
 * connection */
static void
answer (Client *client, const SmHttpRequest *request, guint status)
{
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (client->connection));
  gboolean       head_only = request != NULL && g_str_equal (request->method, "HEAD");
  gsize          head_len;

  client->response = g_string_new (NULL);
  if (status == SOUP_STATUS_OK)
    {
      g_autoptr (GString) body = g_string_new (NULL);

      sm_metrics_format (client->server->metrics, client->server->registry, body);
      g_string_append_printf (client->response,
                              "HTTP/1.1 200 OK\r\n"
                              "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                              "Content-Length: %" G_GSIZE_FORMAT "\r\n"
                              "Connection: close\r\n\r\n",
                              body->len);
      head_len = client->response->len;
      g_string_append_len (client->response, body->str, (gssize) body->len);
    }
  else
    {
      g_autoptr (SoupMessageHeaders) extra = NULL;

      if (status == SOUP_STATUS_METHOD_NOT_ALLOWED)
        {
          extra = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
          soup_message_headers_append (extra, "Allow", "GET, HEAD");
        }
      head_len = sm_http_write_error_response (status, NULL, TRUE, extra, client->response);
    }
  if (head_only)
    g_string_truncate (client->response, head_len);

  g_output_stream_write_all_async (output, client->response->str, client->response->len,
                                   G_PRIORITY_DEFAULT, client->cancellable, written_cb, client);
}

static void read_more (Client *client);

/* Answers once the head is in; FALSE to read more */
static gboolean
handle_request (Client *client)
{
  g_autoptr (SmHttpRequest) request = NULL;
  g_autoptr (GError) error = NULL;
  gsize head_len = 0;
  guint status = SOUP_STATUS_BAD_REQUEST;

  switch (sm_http_find_head_end (NULL, client->request->data, client->request->len,
                                 SM_METRICS_SERVER_MAX_REQUEST, &head_len, &error))
    {
    case SM_HTTP_NEED_MORE:
      return FALSE;
    case SM_HTTP_ERROR:
      answer (client, NULL,
              g_error_matches (error, SM_ERROR, SM_ERROR_TOO_LARGE) ? STATUS_HEADER_FIELDS_TOO_LARGE
                                                                    : SOUP_STATUS_BAD_REQUEST);
      return TRUE;
    case SM_HTTP_COMPLETE:
    default:
      break;
    }

  if (!sm_http_request_parse (client->request->data, head_len, &request, &status, &error))
    answer (client, NULL, status);
  else if (!g_str_equal (request->path, "/metrics"))
    answer (client, request, SOUP_STATUS_NOT_FOUND);
  else if (!g_str_equal (request->method, "GET") && !g_str_equal (request->method, "HEAD"))
    answer (client, request, SOUP_STATUS_METHOD_NOT_ALLOWED);
  else
    answer (client, request, SOUP_STATUS_OK);
  return TRUE;
}

static void
read_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  Client *client = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source_object), result, &error);
  if (bytes == NULL || g_bytes_get_size (bytes) == 0)
    {
      if (error != NULL)
        g_debug ("Metrics: %s", error->message);
      client_free (client);
      return;
    }
  g_byte_array_append (client->request, g_bytes_get_data (bytes, NULL),
                       (guint) g_bytes_get_size (bytes));
  if (!handle_request (client))
    read_more (client);
}

static void
read_more (Client *client)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (client->connection));
  /* The head's limit is checked by the codec; one byte past it tells */
  gsize         room = SM_METRICS_SERVER_MAX_REQUEST + 1 - client->request->len;

  g_input_stream_read_bytes_async (input, MIN (room, 4096), G_PRIORITY_DEFAULT, client->cancellable,
                                   read_cb, client);
}

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             SmMetricsServer   *self)
{
  Client *client;

  if (self->n_clients >= SM_METRICS_SERVER_MAX_CLIENTS)
    {
      g_debug ("Metrics: %u scrapes in progress; closing a connection", self->n_clients);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }

  client = g_new0 (Client, 1);
  client->server = g_object_ref (self);
  client->connection = g_object_ref (connection);
  client->cancellable = g_cancellable_new ();
  client->request = g_byte_array_new ();
  client->timeout = g_timeout_add_seconds (SM_METRICS_SERVER_TIMEOUT, on_client_timeout, client);
  self->n_clients++;
  read_more (client);
  return TRUE;
}

static void
sm_metrics_server_finalize (GObject *object)
{
  SmMetricsServer *self = SM_METRICS_SERVER (object);

  sm_metrics_server_stop (self);
  g_clear_object (&self->service);
  g_clear_object (&self->metrics);
  g_clear_object (&self->registry);
  g_free (self->address);

  G_OBJECT_CLASS (sm_metrics_server_parent_class)->finalize (object);
}

static void
sm_metrics_server_class_init (SmMetricsServerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sm_metrics_server_finalize;
}

static void
sm_metrics_server_init (SmMetricsServer *self)
{
}

SmMetricsServer *
sm_metrics_server_new (SmMetrics *metrics, SmRegistry *registry)
{
  SmMetricsServer *self;

  g_return_val_if_fail (SM_IS_METRICS (metrics), NULL);
  g_return_val_if_fail (registry == NULL || SM_IS_REGISTRY (registry), NULL);

  self = g_object_new (SM_TYPE_METRICS_SERVER, NULL);
  self->metrics = g_object_ref (metrics);
  sm_metrics_set_collecting (metrics, TRUE);
  self->registry = registry != NULL ? g_object_ref (registry) : NULL;
  return self;
}

gboolean
sm_metrics_server_listen (SmMetricsServer *self, const char *address, GError **error)
{
  g_autoptr (GInetAddress) inet = NULL;
  g_autoptr (GSocketAddress) wanted = NULL;
  g_autoptr (GSocketAddress) bound = NULL;
  guint16 port = 0;

  g_return_val_if_fail (SM_IS_METRICS_SERVER (self), FALSE);
  g_return_val_if_fail (self->service == NULL, FALSE);

  if (!sm_address_parse_bind (address, &inet, &port, error))
    return FALSE;
  if (inet == NULL)
    inet = g_inet_address_new_any (G_SOCKET_FAMILY_IPV6);
  wanted = g_inet_socket_address_new (inet, port);

  self->service = g_socket_service_new ();
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), wanted,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, &bound,
                                      error))
    {
      g_clear_object (&self->service);
      return FALSE;
    }
  self->address = sm_address_format_socket (bound);
  g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);
  g_socket_service_start (self->service);
  return TRUE;
}

const char *
sm_metrics_server_get_address (SmMetricsServer *self)
{
  g_return_val_if_fail (SM_IS_METRICS_SERVER (self), NULL);
  return self->address;
}

void
sm_metrics_server_stop (SmMetricsServer *self)
{
  g_return_if_fail (SM_IS_METRICS_SERVER (self));

  if (self->service == NULL)
    return;
  g_signal_handlers_disconnect_by_func (self->service, on_incoming, self);
  g_socket_service_stop (self->service);
  g_socket_listener_close (G_SOCKET_LISTENER (self->service));
}
