/* SPDX-License-Identifier: MIT */

#include "config.h"

#include "sm-client-fixture.h"

static void
on_connected_changed (SmListener      *listener,
                      GParamSpec      *pspec,
                      SmClientFixture *fixture)
{
  g_string_append_c (fixture->connected_log, sm_listener_is_connected (listener) ? 't' : 'f');
}

static gboolean
on_incoming (SmListener      *listener,
             GIOStream       *stream,
             SmClientFixture *fixture)
{
  g_assert_true (SM_IS_YAMUX_STREAM (stream));
  fixture->n_incoming++;
  if (!fixture->take_streams)
    return FALSE;

  g_ptr_array_add (fixture->taken, g_object_ref (stream));
  return TRUE;
}

static void
on_lost (SmListener      *listener,
         const GError    *error,
         SmClientFixture *fixture)
{
  g_assert_nonnull (error);
  g_assert_null (fixture->lost_error);
  g_assert_false (sm_listener_is_connected (listener));
  fixture->lost_error = g_error_copy (error);
}

static SmListener *
sm_client_fixture_record (SmClientFixture *fixture,
                          SmListener      *listener)
{
  g_signal_connect (listener, "notify::connected", G_CALLBACK (on_connected_changed), fixture);
  g_signal_connect (listener, "incoming", G_CALLBACK (on_incoming), fixture);
  g_signal_connect (listener, "lost", G_CALLBACK (on_lost), fixture);

  return listener;
}

SmListener *
sm_client_fixture_new_listener (SmClientFixture *fixture)
{
  return sm_client_fixture_record (fixture, sm_listener_new (fixture->daemon->address,
                                                             fixture->definition));
}

SmListener *
sm_client_fixture_new_listener_for (SmClientFixture   *fixture,
                                    const char *const *addresses)
{
  return sm_client_fixture_record (fixture, sm_listener_new_for_addresses (addresses,
                                                                           fixture->definition));
}

void
sm_client_fixture_set_up (SmClientFixture *fixture,
                          gconstpointer    data)
{
  fixture->daemon = sm_fake_daemon_new ();
  fixture->definition = sm_socket_definition_new (8080);
  sm_socket_definition_set_address (fixture->definition, "127.0.0.1");
  fixture->connected_log = g_string_new (NULL);
  fixture->taken = g_ptr_array_new_with_free_func (g_object_unref);
  fixture->listener = sm_client_fixture_new_listener (fixture);
}

void
sm_client_fixture_tear_down (SmClientFixture *fixture,
                             gconstpointer    data)
{
  if (fixture->listener != NULL)
    {
      sm_listener_abort (fixture->listener);
      g_clear_object (&fixture->listener);
    }
  g_ptr_array_unref (fixture->taken);
  sm_fake_daemon_free (fixture->daemon);
  sm_socket_definition_free (fixture->definition);
  g_string_free (fixture->connected_log, TRUE);
  g_clear_error (&fixture->lost_error);

  /* let closed sockets and sessions release what they hold */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

void
sm_client_fixture_start (SmClientFixture *fixture)
{
  g_autoptr(GError) error = NULL;

  sm_listener_start (fixture->listener, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (sm_listener_is_connected (fixture->listener));
}

GIOStream *
sm_client_fixture_accept (SmClientFixture *fixture)
{
  SmFakeAsyncWait wait = { 0 };
  g_autoptr(GError) error = NULL;
  GIOStream *stream;

  sm_listener_accept_async (fixture->listener, NULL, sm_fake_async_done, &wait);
  WAIT_UNTIL (wait.done);
  stream = sm_listener_accept_finish (fixture->listener, wait.result, &error);
  g_assert_no_error (error);
  g_object_unref (wait.result);

  return stream;
}
