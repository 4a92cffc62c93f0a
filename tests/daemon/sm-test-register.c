/* SPDX-License-Identifier: MIT */
/*
 * A service that only registers: sends one handshake to the daemon, prints
 * the answer as one line and, if accepted, holds its registration until
 * SIGTERM. test-trust runs it as root and, through setpriv, as nobody, so
 * the daemon sees two users.
 *
 *   sm-test-register [OPTIONS] CONTROL PORT [DOMAIN_SUFFIX PATH_PREFIX]
 *
 * CONTROL is HOST:PORT or unix:PATH. Prints "STATUS OK" or
 * "STATUS REFUSED CODE MESSAGE" (CODE "-" for an original-format refusal).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>

#include "sm-extension-handshake.h"
#include "sm-handshake.h"

static gboolean
on_sigterm (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

static GSocketConnection *
connect_control (const char *control, GError **error)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();

  /* Loopback only; and the proxy settings would need a home it may not
   * have when run as nobody */
  g_socket_client_set_enable_proxy (client, FALSE);

  if (g_str_has_prefix (control, "unix:"))
    {
      g_autoptr (GSocketAddress) address = g_unix_socket_address_new (control + 5);

      return g_socket_client_connect (client, G_SOCKET_CONNECTABLE (address), NULL, error);
    }
  return g_socket_client_connect_to_host (client, control, 0, NULL, error);
}

/* Reads until @parse says the answer is complete */
static gboolean
read_answer (GInputStream *input, gboolean extension, char **out_line, GError **error)
{
  g_autoptr (GByteArray) buffer = g_byte_array_new ();

  for (;;)
    {
      guint8            chunk[4096];
      gssize            n_read;
      gsize             consumed = 0;
      SmHandshakeResult result;
      g_autoptr (GError) refusal = NULL;
      g_autoptr (JsonObject) response = NULL;
      g_autofree char *status = NULL;

      n_read = g_input_stream_read (input, chunk, sizeof chunk, NULL, error);
      if (n_read < 0)
        return FALSE;
      if (n_read == 0)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                               "closed before a complete answer");
          return FALSE;
        }
      g_byte_array_append (buffer, chunk, (guint) n_read);

      if (extension)
        result = sm_extension_parse_response (buffer->data, buffer->len, &consumed, &response,
                                              &refusal, error);
      else
        result = sm_handshake_parse_status (buffer->data, buffer->len, &consumed, &status, error);

      if (result == SM_HANDSHAKE_ERROR)
        return FALSE;
      if (result == SM_HANDSHAKE_NEED_MORE)
        continue;

      if (extension && refusal != NULL)
        *out_line = g_strdup_printf ("STATUS REFUSED %s %s", sm_extension_error_code (refusal),
                                     refusal->message);
      else if (extension || g_strcmp0 (status, SM_HANDSHAKE_STATUS_OK) == 0)
        *out_line = g_strdup ("STATUS OK");
      else
        *out_line = g_strdup_printf ("STATUS REFUSED - %s", status);
      return TRUE;
    }
}

int
main (int argc, char *argv[])
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnection) connection = NULL;
  g_autoptr (SmExtensionRequest) request = NULL;
  g_autoptr (GByteArray) encoded = g_byte_array_new ();
  g_autoptr (GMainLoop) loop = NULL;
  g_autofree char *line = NULL;
  g_autofree char *token = NULL;
  g_autofree char *name = NULL;
  g_autofree char *cert_file = NULL;
  g_autofree char *key_file = NULL;
  gboolean         extension = FALSE;
  guint64          port;
  const GOptionEntry entries[] = {
    { "v2", 0, 0, G_OPTION_ARG_NONE, &extension, "Use the extension handshake", NULL },
    { "token", 0, 0, G_OPTION_ARG_STRING, &token, "Token (implies --v2)", "TOKEN" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "Name (implies --v2)", "NAME" },
    { "cert", 0, 0, G_OPTION_ARG_FILENAME, &cert_file, "PEM certificate chain", "FILE" },
    { "key", 0, 0, G_OPTION_ARG_FILENAME, &key_file, "PEM key", "FILE" },
    { NULL }
  };

  context = g_option_context_new ("CONTROL PORT [DOMAIN_SUFFIX PATH_PREFIX]");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || (argc != 3 && argc != 5) ||
      !g_ascii_string_to_unsigned (argv[2], 10, 1, 65535, &port, NULL))
    {
      g_printerr ("usage: sm-test-register [OPTIONS] CONTROL PORT [DOMAIN PREFIX]\n");
      return 2;
    }

  request = sm_extension_request_new (sm_socket_definition_new ((guint16) port));
  sm_socket_definition_set_address (request->definition, "127.0.0.1");
  if (argc == 5)
    sm_socket_definition_set_http (request->definition, argv[3], argv[4]);
  if (cert_file != NULL && key_file != NULL)
    {
      g_autofree char *cert = NULL;
      g_autofree char *key = NULL;

      if (!g_file_get_contents (cert_file, &cert, NULL, &error) ||
          !g_file_get_contents (key_file, &key, NULL, &error))
        {
          g_printerr ("%s\n", error->message);
          return 2;
        }
      sm_socket_definition_set_tls (request->definition, cert, key);
    }
  request->token = g_steal_pointer (&token);
  request->name = g_steal_pointer (&name);
  extension = extension || request->token != NULL || request->name != NULL;

  /* Before anything is printed: the test may stop us right after */
  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, on_sigterm, loop);

  if (extension)
    sm_extension_encode_request (request, encoded);
  else
    sm_handshake_encode_request (request->definition, encoded);

  connection = connect_control (argv[1], &error);
  if (connection == NULL ||
      !g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)),
                                  encoded->data, encoded->len, NULL, NULL, &error) ||
      !read_answer (g_io_stream_get_input_stream (G_IO_STREAM (connection)), extension, &line,
                    &error))
    {
      g_print ("STATUS FAILED %s\n", error->message);
      fflush (stdout);
      return 1;
    }

  g_print ("%s\n", line);
  fflush (stdout);
  if (!g_str_equal (line, "STATUS OK"))
    return 0;

  /* Registered: hold the route (the daemon's yamux session is never
   * answered, which it tolerates as an idle service) until told to go */
  g_main_loop_run (loop);
  return 0;
}
