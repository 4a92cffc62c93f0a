/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sm-error.h"
#include "sm-http-parser.h"
#include "sm-test-http-client.h"

#define RECEIVE_CHUNK (64 * 1024)

/* ---- Processes ---- */

SmTestDaemon *
sm_test_http_daemon_start (double              hold_timeout,
                           gboolean            verbose,
                           const char * const *extra_args)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();

  g_ptr_array_add (args, (gpointer) "--no-bus");
  if (verbose && !g_test_verbose ())
    g_ptr_array_add (args, (gpointer) "--verbose");
  for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (args, (gpointer) extra_args[i]);
  g_ptr_array_add (args, NULL);

  return sm_test_daemon_start_with_args (hold_timeout, (const char * const *) args->pdata);
}

guint64
sm_test_process_memory_kib (SmTestProcess *process,
                            const char    *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/status",
                                           sm_test_process_get_identifier (process));
  g_autofree char *status = NULL;
  g_autofree char *key = g_strconcat ("\n", field, ":", NULL);
  g_autoptr(GError) error = NULL;
  const char *found;

  if (!g_file_get_contents (path, &status, NULL, &error))
    sm_test_fail ("cannot read %s: %s", path, error->message);
  found = strstr (status, key);
  if (found == NULL)
    sm_test_fail ("no %s in %s", field, path);
  return g_ascii_strtoull (found + strlen (key), NULL, 10);
}

SmTestProcess *
sm_test_http_service_start (SmTestDaemon *daemon,
                            guint16       port,
                            const char   *domain_suffix,
                            const char   *path_prefix,
                            const char   *name)
{
  return sm_test_http_service_start_tls (daemon, port, domain_suffix, path_prefix, name, NULL,
                                         NULL);
}

SmTestProcess *
sm_test_http_service_start_tls (SmTestDaemon *daemon,
                                guint16       port,
                                const char   *domain_suffix,
                                const char   *path_prefix,
                                const char   *name,
                                const char   *cert_file,
                                const char   *key_file)
{
  g_autofree char *port_text = g_strdup_printf ("%u", port);
  g_autofree char *ready = g_strdup_printf ("sm-test-http-service %s: serving", name);
  const char *argv[] = {
    SM_TEST_HTTP_SERVICE, "--control", daemon->control_address, "--port", port_text,
    "--domain", domain_suffix, "--prefix", path_prefix, "--name", name,
    cert_file != NULL ? "--tls-cert" : NULL, cert_file, "--tls-key", key_file, NULL
  };
  SmTestProcess *service = sm_test_process_spawn (name, argv);

  sm_test_process_wait_for_line (service, ready, 30000);
  return service;
}

void
sm_test_http_service_stop (SmTestProcess *service)
{
  sm_test_process_terminate (service, FALSE);
  sm_test_process_free (service);
}

/* ---- curl ---- */

struct _SmTestCurl {
  GSubprocess *process;
  gboolean     done;
  char        *out;
  char        *err;
  char        *command;
  GError      *error;
};

static void
curl_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  SmTestCurl *curl = data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &curl->out, &curl->err,
                                        &curl->error);
  curl->done = TRUE;
}

SmTestCurl *
sm_test_curl_spawn (const char * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  SmTestCurl *curl = g_new0 (SmTestCurl, 1);

  g_ptr_array_add (argv, (gpointer) "curl");
  g_ptr_array_add (argv, (gpointer) "--silent");
  g_ptr_array_add (argv, (gpointer) "--show-error");
  g_ptr_array_add (argv, (gpointer) "--noproxy");
  g_ptr_array_add (argv, (gpointer) "*");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  curl->command = g_strjoinv (" ", (char **) argv->pdata);
  g_test_message ("running %s", curl->command);
  curl->process = g_subprocess_newv ((const char * const *) argv->pdata,
                                     G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                     G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  if (curl->process == NULL)
    sm_test_fail ("cannot run curl: %s", error->message);
  g_subprocess_communicate_utf8_async (curl->process, NULL, NULL, curl_done_cb, curl);
  return curl;
}

gboolean
sm_test_curl_is_done (SmTestCurl *curl)
{
  return curl->done;
}

static gboolean
curl_done (gpointer data)
{
  return ((SmTestCurl *) data)->done;
}

const char *
sm_test_curl_wait (SmTestCurl *curl,
                   guint       timeout_ms)
{
  if (!sm_test_wait_until (curl_done, curl, timeout_ms))
    sm_test_fail ("%s did not finish within %u ms", curl->command, timeout_ms);
  if (curl->error != NULL)
    sm_test_fail ("%s: %s", curl->command, curl->error->message);
  if (!g_subprocess_get_if_exited (curl->process) ||
      g_subprocess_get_exit_status (curl->process) != 0)
    sm_test_fail ("%s failed: %s", curl->command, curl->err != NULL ? curl->err : "");
  g_test_message ("curl said: %s", curl->out);
  return curl->out;
}

void
sm_test_curl_free (SmTestCurl *curl)
{
  if (curl == NULL)
    return;
  if (!curl->done)
    {
      g_subprocess_force_exit (curl->process);
      sm_test_wait_until (curl_done, curl, 30000);
    }
  g_clear_object (&curl->process);
  g_clear_error (&curl->error);
  g_free (curl->out);
  g_free (curl->err);
  g_free (curl->command);
  g_free (curl);
}

char *
sm_test_curl (const char * const *args)
{
  g_autoptr(SmTestCurl) curl = sm_test_curl_spawn (args);

  return g_strdup (sm_test_curl_wait (curl, 60000));
}

/* ---- Raw client ---- */

SmTestHttpConnection *
sm_test_http_connect (guint16 port)
{
  g_autoptr(GError) error = NULL;
  SmTestHttpConnection *connection = g_new0 (SmTestHttpConnection, 1);

  connection->socket = sm_test_connect (port, &error);
  g_assert_no_error (error);
  connection->buffer = g_byte_array_new ();
  return connection;
}

void
sm_test_http_connection_free (SmTestHttpConnection *connection)
{
  if (connection == NULL)
    return;
  g_socket_close (connection->socket, NULL);
  g_object_unref (connection->socket);
  g_byte_array_unref (connection->buffer);
  g_free (connection);
}

void
sm_test_http_send (SmTestHttpConnection *connection,
                   const char           *text)
{
  sm_test_send_all (connection->socket, text, strlen (text));
}

/* More bytes into the buffer; FALSE with @error on EOF or failure */
static gboolean
receive_more (SmTestHttpConnection  *connection,
              GError               **error)
{
  guint8 chunk[RECEIVE_CHUNK];
  gssize n = g_socket_receive (connection->socket, (char *) chunk, sizeof chunk, NULL, error);

  if (n < 0)
    return FALSE;
  if (n == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                           "The server closed the connection");
      return FALSE;
    }
  g_byte_array_append (connection->buffer, chunk, (guint) n);
  return TRUE;
}

/* Removes the chunk framing of a complete, valid chunked body; the
 * trailer section (without the final CRLF) goes to *trailers */
static GByteArray *
decode_chunked (const guint8  *raw,
                gsize          len,
                char         **trailers)
{
  GByteArray *body = g_byte_array_new ();
  gsize i = 0;

  while (i < len)
    {
      guint64 size = g_ascii_strtoull ((const char *) raw + i, NULL, 16);
      const guint8 *line_end = memchr (raw + i, '\n', len - i);

      g_assert_nonnull (line_end);
      i = (gsize) (line_end - raw) + 1;
      if (size == 0)
        break;
      g_assert_cmpuint (i + size + 2, <=, len);
      g_byte_array_append (body, raw + i, (guint) size);
      i += size + 2;
    }
  g_assert_cmpuint (i + 2, <=, len);
  *trailers = g_strndup ((const char *) raw + i, len - i - 2);
  return body;
}

SmTestHttpReply *
sm_test_http_receive (SmTestHttpConnection  *connection,
                      const char            *method,
                      GError               **error)
{
  g_autoptr(SmHttpResponse) response = NULL;
  SmTestHttpReply *reply;
  SmHttpBodyTracker tracker;
  gsize head_len = 0;
  guint n_informational = 0;
  gsize body_end = 0;

  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      SmHttpResult result = sm_http_find_head_end (NULL, connection->buffer->data,
                                                   connection->buffer->len, 1024 * 1024,
                                                   &head_len, &local_error);

      g_assert_cmpint (result, !=, SM_HTTP_ERROR);
      if (result == SM_HTTP_NEED_MORE)
        {
          if (!receive_more (connection, error))
            return NULL;
          continue;
        }
      if (!sm_http_response_parse (connection->buffer->data, head_len, method, &response,
                                   &local_error))
        sm_test_fail ("bad response head: %s", local_error->message);
      g_byte_array_remove_range (connection->buffer, 0, (guint) head_len);
      if (!response->informational)
        break;
      n_informational++;
      g_clear_pointer (&response, sm_http_response_free);
    }

  sm_http_body_tracker_init (&tracker, response->body, response->content_length);
  while (response->body != SM_HTTP_BODY_NONE)
    {
      g_autoptr(GError) local_error = NULL;

      if (connection->buffer->len > body_end)
        {
          gsize consumed = 0;
          SmHttpResult result = sm_http_body_tracker_feed (&tracker,
                                                           connection->buffer->data + body_end,
                                                           connection->buffer->len - body_end,
                                                           &consumed, &local_error);

          g_assert_no_error (local_error);
          body_end += consumed;
          if (result == SM_HTTP_COMPLETE)
            break;
        }
      if (!receive_more (connection, &local_error))
        {
          if (response->body == SM_HTTP_BODY_UNTIL_CLOSE &&
              g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
            break;
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
    }

  reply = g_new0 (SmTestHttpReply, 1);
  reply->status = response->status;
  reply->headers = soup_message_headers_ref (response->headers);
  reply->n_informational = n_informational;
  reply->keep_alive = response->keep_alive;
  if (response->body == SM_HTTP_BODY_CHUNKED)
    reply->body = decode_chunked (connection->buffer->data, body_end, &reply->trailers);
  else
    {
      reply->trailers = g_strdup ("");
      reply->body = g_byte_array_new ();
      g_byte_array_append (reply->body, connection->buffer->data, (guint) body_end);
    }
  g_byte_array_remove_range (connection->buffer, 0, (guint) body_end);
  return reply;
}

gboolean
sm_test_http_closed_by_peer (SmTestHttpConnection *connection)
{
  return connection->buffer->len == 0 && sm_test_socket_is_closed_by_peer (connection->socket);
}

void
sm_test_http_reply_free (SmTestHttpReply *reply)
{
  if (reply == NULL)
    return;
  soup_message_headers_unref (reply->headers);
  g_byte_array_unref (reply->body);
  g_free (reply->trailers);
  g_free (reply);
}

const char *
sm_test_http_reply_text (SmTestHttpReply *reply)
{
  /* Keep a NUL after the bytes, outside the counted length */
  g_byte_array_append (reply->body, (const guint8 *) "", 1);
  g_byte_array_set_size (reply->body, reply->body->len - 1);
  return (const char *) reply->body->data;
}

SmTestHttpReply *
sm_test_http_get (SmTestHttpConnection *connection,
                  const char           *host,
                  const char           *path)
{
  g_autofree char *request = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
  g_autoptr(GError) error = NULL;
  SmTestHttpReply *reply;

  sm_test_http_send (connection, request);
  reply = sm_test_http_receive (connection, "GET", &error);
  if (reply == NULL)
    sm_test_fail ("GET %s (Host %s): %s", path, host, error->message);
  return reply;
}
