/* SPDX-License-Identifier: MIT */
/*
 * sm-test-http-service: an HTTP service in its own process for the HTTP
 * proxy tests (a test can kill it for real). It registers an HTTP
 * definition through the client library and serves every stream with
 * SmTestHttpResponder.
 *
 * Prints "sm-test-http-service NAME: serving" once registered. SIGTERM
 * stops it gracefully (GoAway, in-flight requests finish, exit 0) and
 * prints "stopping", then "stopped".
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib-unix.h>

#include "socketmaster.h"
#include "sm-test-http-responder.h"

typedef struct {
  GMainLoop           *loop;
  SmListener          *listener;
  SmTestHttpResponder *responder;
  char                *name;
  int                  exit_status;
} Service;

static gboolean
on_incoming (SmListener *listener,
             GIOStream  *stream,
             gpointer    data)
{
  Service *service = data;

  sm_test_http_responder_serve (service->responder, stream);
  return TRUE;
}

static void
on_started (GObject      *object,
            GAsyncResult *result,
            gpointer      data)
{
  Service *service = data;
  g_autoptr(GError) error = NULL;

  if (!sm_listener_start_finish (SM_LISTENER (object), result, &error))
    {
      g_print ("sm-test-http-service %s: refused: %s\n", service->name, error->message);
      fflush (stdout);
      service->exit_status = 2;
      g_main_loop_quit (service->loop);
      return;
    }
  g_print ("sm-test-http-service %s: serving\n", service->name);
  fflush (stdout);
}

static void
on_closed (GObject      *object,
           GAsyncResult *result,
           gpointer      data)
{
  Service *service = data;
  g_autoptr(GError) error = NULL;

  if (!sm_listener_close_finish (SM_LISTENER (object), result, &error))
    {
      g_print ("sm-test-http-service %s: close failed: %s\n", service->name, error->message);
      service->exit_status = EXIT_FAILURE;
    }
  else
    {
      g_print ("sm-test-http-service %s: stopped after %u requests\n", service->name,
               sm_test_http_responder_get_n_requests (service->responder));
    }
  fflush (stdout);
  g_main_loop_quit (service->loop);
}

static gboolean
on_sigterm (gpointer data)
{
  Service *service = data;

  g_print ("sm-test-http-service %s: stopping\n", service->name);
  fflush (stdout);
  sm_listener_close_async (service->listener, NULL, on_closed, service);
  return G_SOURCE_REMOVE;
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *control = NULL;
  g_autofree char *domain = NULL;
  g_autofree char *prefix = NULL;
  g_autofree char *name = NULL;
  g_autofree char *cert_file = NULL;
  g_autofree char *key_file = NULL;
  int port = 0;
  GOptionEntry entries[] = {
    { "control", 'c', 0, G_OPTION_ARG_STRING, &control, "Daemon control address", "HOST:PORT" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "Public port", "N" },
    { "domain", 'd', 0, G_OPTION_ARG_STRING, &domain, "DomainSuffix", "SUFFIX" },
    { "prefix", 'x', 0, G_OPTION_ARG_STRING, &prefix, "PathPrefix", "PREFIX" },
    { "name", 'n', 0, G_OPTION_ARG_STRING, &name, "Name in the answers", "NAME" },
    { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &cert_file, "TLS certificate (PEM)", "FILE" },
    { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &key_file, "TLS key (PEM)", "FILE" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(SmSocketDefinition) definition = NULL;
  Service service = { 0 };

  /* Writes to a vanished daemon must fail, not kill us */
  signal (SIGPIPE, SIG_IGN);

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || port < 1 || port > 65535)
    {
      g_printerr ("sm-test-http-service: %s\n",
                  error != NULL ? error->message : "--port is required");
      return EXIT_FAILURE;
    }

  definition = sm_socket_definition_new ((guint16) port);
  sm_socket_definition_set_address (definition, "127.0.0.1");
  sm_socket_definition_set_http (definition, domain != NULL ? domain : "",
                                 prefix != NULL ? prefix : "");
  if (cert_file != NULL && key_file != NULL)
    {
      g_autofree char *cert_pem = NULL;
      g_autofree char *key_pem = NULL;

      if (!g_file_get_contents (cert_file, &cert_pem, NULL, &error) ||
          !g_file_get_contents (key_file, &key_pem, NULL, &error))
        {
          g_printerr ("sm-test-http-service: %s\n", error->message);
          return EXIT_FAILURE;
        }
      sm_socket_definition_set_tls (definition, cert_pem, key_pem);
    }

  service.name = name != NULL ? name : "service";
  service.exit_status = EXIT_SUCCESS;
  service.loop = g_main_loop_new (NULL, FALSE);
  service.responder = sm_test_http_responder_new (service.name);
  service.listener = sm_listener_new (control, definition);
  /* A test restarts the daemon never; losing it is a failure */
  sm_listener_set_reconnect_timeout (service.listener, 0);
  g_signal_connect (service.listener, "incoming", G_CALLBACK (on_incoming), &service);
  g_unix_signal_add (SIGTERM, on_sigterm, &service);

  sm_listener_start_async (service.listener, NULL, on_started, &service);
  g_main_loop_run (service.loop);

  g_signal_handlers_disconnect_by_data (service.listener, &service);
  g_clear_object (&service.listener);
  sm_test_http_responder_free (service.responder);
  g_main_loop_unref (service.loop);
  return service.exit_status;
}
