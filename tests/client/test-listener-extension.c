/* SPDX-License-Identifier: MIT */

/*
 * SmListener and the extension handshake (PROTOCOL.md §7) against the fake
 * daemon: the original format unless a token or a name is set, the token
 * from $SOCKETMASTER_TOKEN, refusal codes as SM_ERROR codes, an original
 * daemon's answer to an extension request, and Unix control sockets.
 */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "sm-client-fixture.h"
#include "sm-error.h"
#include "sm-extension-handshake.h"
#include "sm-handshake.h"
#include "sm-listener.h"

#define TOKEN_VARIABLE "SOCKETMASTER_TOKEN"

/* The only request the fake daemon received, as parsed; NULL when it was
 * in the original format */
static const SmExtensionRequest *
only_request (SmClientFixture *fixture)
{
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 1);
  return g_ptr_array_index (fixture->daemon->extension_requests, 0);
}

/* The listener registered, and a public connection reaches it and back */
static void
assert_serves (SmClientFixture *fixture)
{
  g_autoptr(SmYamuxStream) daemon_side = NULL;
  g_autoptr(GIOStream) service_side = NULL;

  g_assert_true (sm_listener_is_connected (fixture->listener));
  daemon_side = sm_fake_daemon_open_stream (fixture->daemon);
  service_side = sm_client_fixture_accept (fixture);
  sm_fake_stream_write (G_IO_STREAM (daemon_side), "ping");
  sm_fake_stream_expect (service_side, "ping");
  sm_fake_stream_write (service_side, "pong");
  sm_fake_stream_expect (G_IO_STREAM (daemon_side), "pong");
  sm_fake_stream_close (service_side);
}

static void
test_original_without_token (SmClientFixture *fixture,
                             gconstpointer    data)
{
  g_autofree char *token = NULL;
  g_autofree char *name = NULL;
  GBytes *bytes;

  g_assert_null (sm_listener_get_token (fixture->listener));
  g_assert_null (sm_listener_get_name (fixture->listener));
  g_object_get (fixture->listener, "token", &token, "name", &name, NULL);
  g_assert_null (token);
  g_assert_null (name);

  sm_client_fixture_start (fixture);
  g_assert_null (only_request (fixture));
  bytes = g_ptr_array_index (fixture->daemon->requests, 0);
  g_assert_false (sm_extension_is_request (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes)));
  assert_serves (fixture);
}

static void
test_token (SmClientFixture *fixture,
            gconstpointer    data)
{
  const SmExtensionRequest *request;

  sm_listener_set_token (fixture->listener, "s3cret");
  g_assert_cmpstr (sm_listener_get_token (fixture->listener), ==, "s3cret");
  sm_client_fixture_start (fixture);

  request = only_request (fixture);
  g_assert_nonnull (request);
  g_assert_cmpstr (request->token, ==, "s3cret");
  g_assert_null (request->name);
  g_assert_cmpuint (request->proxy_protocol, ==, 0);
  g_assert_cmpstr (sm_socket_definition_get_address (request->definition), ==, "127.0.0.1");
  g_assert_cmpuint (sm_socket_definition_get_port (request->definition), ==, 8080);
  assert_serves (fixture);
}

/* The whole definition goes over the extension format too */
static void
test_name (SmClientFixture *fixture,
           gconstpointer    data)
{
  const SmExtensionRequest *request;
  const SmSocketDefinition *definition;

  g_clear_object (&fixture->listener);
  sm_socket_definition_set_http (fixture->definition, "example.com", "/api");
  sm_socket_definition_set_tls (fixture->definition, "-----CERT-----\n", "-----KEY-----\n");
  fixture->listener = sm_client_fixture_new_listener (fixture);
  g_object_set (fixture->listener, "name", "web frontend", NULL);
  g_assert_cmpstr (sm_listener_get_name (fixture->listener), ==, "web frontend");
  sm_client_fixture_start (fixture);

  request = only_request (fixture);
  g_assert_nonnull (request);
  g_assert_null (request->token);
  g_assert_cmpstr (request->name, ==, "web frontend");
  definition = request->definition;
  g_assert_cmpstr (sm_socket_definition_get_domain_suffix (definition), ==, "example.com");
  g_assert_cmpstr (sm_socket_definition_get_path_prefix (definition), ==, "/api");
  g_assert_cmpstr (sm_socket_definition_get_tls_cert (definition), ==, "-----CERT-----\n");
  g_assert_cmpstr (sm_socket_definition_get_tls_key (definition), ==, "-----KEY-----\n");
  assert_serves (fixture);
}

static void
test_token_from_environment (SmClientFixture *fixture,
                             gconstpointer    data)
{
  const SmExtensionRequest *request;

  g_setenv (TOKEN_VARIABLE, "from-the-environment", TRUE);
  sm_client_fixture_start (fixture);
  request = only_request (fixture);
  g_assert_nonnull (request);
  g_assert_cmpstr (request->token, ==, "from-the-environment");
  /* the environment is read at each registration, not stored */
  g_assert_null (sm_listener_get_token (fixture->listener));
  g_unsetenv (TOKEN_VARIABLE);
}

/* A token given to the listener wins over the environment; "" means none */
static void
test_token_given (SmClientFixture *fixture,
                  gconstpointer    data)
{
  g_autoptr(SmListener) second = NULL;
  g_autoptr(GError) error = NULL;
  const SmExtensionRequest *request;

  g_setenv (TOKEN_VARIABLE, "from-the-environment", TRUE);
  sm_listener_set_token (fixture->listener, "given");
  sm_client_fixture_start (fixture);
  request = only_request (fixture);
  g_assert_cmpstr (request->token, ==, "given");

  /* the fake daemon takes one registration at a time */
  sm_listener_abort (fixture->listener);
  WAIT_UNTIL (fixture->daemon->n_closed == 1);
  second = sm_client_fixture_new_listener (fixture);
  sm_listener_set_token (second, "");
  g_assert_true (sm_listener_start (second, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 2);
  g_assert_null (g_ptr_array_index (fixture->daemon->extension_requests, 1));
  sm_listener_abort (second);
  g_unsetenv (TOKEN_VARIABLE);
}

/* Each code of §7 reaches the caller as its own SM_ERROR, with the
 * daemon's message; none is retried */
static void
test_refusal_codes (SmClientFixture *fixture,
                    gconstpointer    data)
{
  static const SmError codes[] = {
    SM_ERROR_INVALID_ARGUMENT, SM_ERROR_UNSUPPORTED, SM_ERROR_UNAUTHORIZED,
    SM_ERROR_PERMISSION_DENIED, SM_ERROR_ROUTE_OWNED, SM_ERROR_ADDRESS_IN_USE,
    SM_ERROR_CONFLICT, SM_ERROR_TLS, SM_ERROR_LIMIT,
  };

  for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
    {
      g_autoptr(SmListener) listener = sm_client_fixture_new_listener (fixture);
      g_autoptr(GError) error = NULL;
      g_autofree char *message = g_strdup_printf ("refused for reason %u", i);

      fixture->daemon->refusal_code = codes[i];
      sm_fake_daemon_set_answer (fixture->daemon, message);
      sm_listener_set_token (listener, "wrong");
      g_assert_false (sm_listener_start (listener, NULL, &error));
      g_assert_error (error, SM_ERROR, (gint) codes[i]);
      g_assert_cmpstr (error->message, ==, message);
      g_assert_true (sm_listener_error_is_refusal (error));
      g_assert_false (sm_listener_is_connected (listener));
      g_assert_cmpuint (fixture->daemon->requests->len, ==, i + 1);
    }

  /* an original refusal, to a listener without token or name, stays
   * SM_ERROR_REJECTED */
  {
    g_autoptr(GError) error = NULL;

    g_assert_false (sm_listener_start (fixture->listener, NULL, &error));
    g_assert_error (error, SM_ERROR, SM_ERROR_REJECTED);
    g_assert_true (sm_listener_error_is_refusal (error));
    g_assert_null (g_ptr_array_index (fixture->daemon->extension_requests, G_N_ELEMENTS (codes)));
  }
}

/* A daemon without version 2 refuses with an original status, which the
 * listener reports as such */
static void
test_original_daemon (SmClientFixture *fixture,
                      gconstpointer    data)
{
  g_autoptr(GError) error = NULL;

  fixture->daemon->original_only = TRUE;
  sm_listener_set_name (fixture->listener, "web");
  g_assert_false (sm_listener_start (fixture->listener, NULL, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_REJECTED);
  g_assert_true (g_str_has_prefix (error->message, "invalid handshake: address is "));

  /* without the name it registers in the original format */
  g_clear_error (&error);
  sm_listener_set_name (fixture->listener, NULL);
  sm_client_fixture_start (fixture);
  assert_serves (fixture);
}

/* The token is read again for a registration after losing the daemon */
static void
test_token_on_reconnect (SmClientFixture *fixture,
                         gconstpointer    data)
{
  const SmExtensionRequest *request;

  sm_client_fixture_start (fixture);
  g_assert_null (only_request (fixture));

  sm_listener_set_token (fixture->listener, "later");
  sm_fake_daemon_drop_session (fixture->daemon);
  WAIT_UNTIL (fixture->daemon->requests->len == 2 && sm_listener_is_connected (fixture->listener));
  request = g_ptr_array_index (fixture->daemon->extension_requests, 1);
  g_assert_nonnull (request);
  g_assert_cmpstr (request->token, ==, "later");
}

static void
test_unix_socket (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sm-test-client-XXXXXX", &error);
  g_autofree char *path = NULL;
  SmClientFixture fixture = { 0 };

  g_assert_no_error (error);
  path = g_build_filename (dir, "control.sock", NULL);

  /* the fixture, on a Unix socket */
  sm_client_fixture_set_up (&fixture, NULL);
  sm_fake_daemon_free (fixture.daemon);
  g_clear_object (&fixture.listener);
  fixture.daemon = sm_fake_daemon_new_unix (path);
  fixture.listener = sm_client_fixture_new_listener (&fixture);
  g_assert_cmpstr (sm_listener_get_control_address (fixture.listener), ==,
                   fixture.daemon->address);
  g_assert_true (g_str_has_prefix (fixture.daemon->address, "unix:/"));

  sm_client_fixture_start (&fixture);
  g_assert_null (only_request (&fixture));
  assert_serves (&fixture);

  sm_client_fixture_tear_down (&fixture, NULL);
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_bad_unix_address (void)
{
  g_autoptr(SmSocketDefinition) definition = sm_socket_definition_new (8080);
  g_autoptr(SmListener) listener = sm_listener_new ("unix:", definition);
  g_autoptr(SmListener) missing = sm_listener_new ("unix:/nonexistent/socketmaster.sock", definition);
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) missing_error = NULL;

  g_assert_false (sm_listener_start (listener, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_false (sm_listener_error_is_refusal (error));

  /* no daemon there: a connection error, at once */
  sm_listener_set_reconnect_timeout (missing, 0);
  g_assert_false (sm_listener_start (missing, NULL, &missing_error));
  g_assert_error (missing_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_false (sm_listener_error_is_refusal (missing_error));
  {
    static const SmError not_refusals[] = {
      SM_ERROR_FAILED, SM_ERROR_PROTOCOL, SM_ERROR_TOO_LARGE, SM_ERROR_TIMED_OUT,
      SM_ERROR_CLOSED, SM_ERROR_GOING_AWAY,
    };

    g_assert_false (sm_listener_error_is_refusal (NULL));
    for (guint i = 0; i < G_N_ELEMENTS (not_refusals); i++)
      {
        g_autoptr(GError) other = g_error_new_literal (SM_ERROR, not_refusals[i], "x");

        g_assert_false (sm_listener_error_is_refusal (other));
      }
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_unsetenv (TOKEN_VARIABLE);

  SM_CLIENT_TEST_ADD ("/listener/extension/original-without-token", test_original_without_token);
  SM_CLIENT_TEST_ADD ("/listener/extension/token", test_token);
  SM_CLIENT_TEST_ADD ("/listener/extension/name", test_name);
  SM_CLIENT_TEST_ADD ("/listener/extension/token-from-environment", test_token_from_environment);
  SM_CLIENT_TEST_ADD ("/listener/extension/token-given", test_token_given);
  SM_CLIENT_TEST_ADD ("/listener/extension/refusal-codes", test_refusal_codes);
  SM_CLIENT_TEST_ADD ("/listener/extension/original-daemon", test_original_daemon);
  SM_CLIENT_TEST_ADD ("/listener/extension/token-on-reconnect", test_token_on_reconnect);
  g_test_add_func ("/listener/extension/unix-socket", test_unix_socket);
  g_test_add_func ("/listener/extension/bad-unix-address", test_bad_unix_address);

  return g_test_run ();
}
