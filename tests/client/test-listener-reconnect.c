/* SPDX-License-Identifier: MIT */

/*
 * SmListener losing the fake daemon of sm-fake-daemon.c: reconnecting
 * after a crash or a GoAway, giving up after the reconnect timeout, being
 * refused on the way back, and disposal while reconnecting; a first
 * registration the daemon drops unanswered is retried too.
 */

#include "config.h"

#include "sm-client-fixture.h"
#include "sm-error.h"

static void
test_reconnect (SmClientFixture *fixture,
                gconstpointer    data)
{
  g_autoptr(SmYamuxStream) stream = NULL;
  g_autoptr(GIOStream) accepted = NULL;
  GBytes *first, *second;

  sm_client_fixture_start (fixture);

  /* the daemon goes away without warning; it is back at once */
  sm_fake_daemon_drop_session (fixture->daemon);
  WAIT_UNTIL (fixture->daemon->requests->len == 2 && sm_listener_is_connected (fixture->listener));
  g_assert_cmpstr (fixture->connected_log->str, ==, "tft");
  g_assert_null (fixture->lost_error);

  first = g_ptr_array_index (fixture->daemon->requests, 0);
  second = g_ptr_array_index (fixture->daemon->requests, 1);
  g_assert_true (g_bytes_equal (first, second));

  /* the new session carries streams */
  stream = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write (G_IO_STREAM (stream), "ping");
  accepted = sm_client_fixture_accept (fixture);
  sm_fake_stream_expect (accepted, "ping");
  sm_fake_stream_write (accepted, "pong");
  sm_fake_stream_expect (G_IO_STREAM (stream), "pong");
}

static void
test_reconnect_after_go_away (SmClientFixture *fixture,
                              gconstpointer    data)
{
  g_autoptr(SmYamuxStream) old_stream = NULL;
  g_autoptr(SmYamuxStream) stream = NULL;
  g_autoptr(GIOStream) old_accepted = NULL;
  g_autoptr(GIOStream) accepted = NULL;

  sm_client_fixture_start (fixture);
  old_stream = sm_fake_daemon_open_stream (fixture->daemon);
  old_accepted = sm_client_fixture_accept (fixture);

  /* a daemon upgrading or shutting down: GoAway first. The listener
   * registers again at once (an upgrade's successor listens at the same
   * address), while the old session keeps carrying its stream */
  sm_yamux_session_go_away (fixture->daemon->session, SM_YAMUX_GO_AWAY_NORMAL);
  WAIT_UNTIL (fixture->daemon->requests->len == 2 && sm_listener_is_connected (fixture->listener));
  g_assert_cmpstr (fixture->connected_log->str, ==, "tft");
  g_assert_cmpuint (fixture->daemon->old_sessions->len, ==, 1);
  sm_fake_stream_write (G_IO_STREAM (old_stream), "draining");
  sm_fake_stream_expect (old_accepted, "draining");
  sm_fake_stream_write (old_accepted, "reply");
  sm_fake_stream_expect (G_IO_STREAM (old_stream), "reply");

  /* then the old session closes: nothing changes for the listener */
  sm_fake_daemon_drop_old_sessions (fixture->daemon);
  WAIT_UNTIL (fixture->daemon->n_closed == 1);
  g_assert_true (sm_listener_is_connected (fixture->listener));
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 2);

  stream = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write (G_IO_STREAM (stream), "back");
  accepted = sm_client_fixture_accept (fixture);
  sm_fake_stream_expect (accepted, "back");
}

static void
test_reconnect_gives_up (SmClientFixture *fixture,
                         gconstpointer    data)
{
  g_autoptr(GError) error = NULL;
  SmFakeAsyncWait accept = { 0 };
  gint64 dropped_at;

  sm_listener_set_reconnect_timeout (fixture->listener, 0.3);
  sm_client_fixture_start (fixture);
  sm_listener_accept_async (fixture->listener, NULL, sm_fake_async_done, &accept);

  /* the daemon is gone for good */
  sm_fake_daemon_stop_listening (fixture->daemon);
  dropped_at = g_get_monotonic_time ();
  sm_fake_daemon_drop_session (fixture->daemon);

  WAIT_UNTIL (fixture->lost_error != NULL);
  /* it kept trying for the whole reconnect-timeout */
  g_assert_cmpint (g_get_monotonic_time () - dropped_at, >=, 300 * 1000);
  g_assert_error (fixture->lost_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_cmpstr (fixture->connected_log->str, ==, "tf");
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 1);

  /* waiting accepts fail with the same error, and so do new ones */
  WAIT_UNTIL (accept.done);
  g_assert_null (sm_listener_accept_finish (fixture->listener, accept.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_clear_object (&accept.result);
  g_clear_error (&error);

  sm_listener_accept_async (fixture->listener, NULL, sm_fake_async_done, &accept);
  WAIT_UNTIL (accept.result != NULL);
  g_assert_null (sm_listener_accept_finish (fixture->listener, accept.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_clear_object (&accept.result);
}

static void
test_reconnect_rejected (SmClientFixture *fixture,
                         gconstpointer    data)
{
  const char *status = "port 8080 is in use by another program";

  sm_listener_set_reconnect_timeout (fixture->listener, 0.3);
  sm_client_fixture_start (fixture);

  /* the daemon restarted, but meanwhile another program took the port */
  sm_fake_daemon_set_answer (fixture->daemon, status);
  sm_fake_daemon_drop_session (fixture->daemon);

  WAIT_UNTIL (fixture->lost_error != NULL);
  g_assert_error (fixture->lost_error, SM_ERROR, SM_ERROR_REJECTED);
  g_assert_cmpstr (fixture->lost_error->message, ==, status);
  /* a refusal is retried like any other failure */
  g_assert_cmpuint (fixture->daemon->requests->len, >=, 3);
  g_assert_false (sm_listener_is_connected (fixture->listener));
}

static void
on_connected_changed_dispose (SmListener *listener,
                              GParamSpec *pspec,
                              gboolean   *disconnected)
{
  if (!sm_listener_is_connected (listener))
    *disconnected = TRUE;
}

static void
test_dispose_reconnecting (SmClientFixture *fixture,
                           gconstpointer    data)
{
  g_autoptr(SmListener) probe = NULL;
  gboolean disconnected = FALSE;

  g_signal_connect (fixture->listener, "notify::connected",
                    G_CALLBACK (on_connected_changed_dispose), &disconnected);
  sm_client_fixture_start (fixture);
  sm_fake_daemon_drop_session (fixture->daemon);
  WAIT_UNTIL (disconnected);
  g_clear_object (&fixture->listener);

  /* A registration of another listener goes through the same loop: had
   * the disposed one kept retrying, its handshake would be there too. */
  sm_socket_definition_set_port (fixture->definition, 8081);
  probe = sm_listener_new (fixture->daemon->address, fixture->definition);
  g_assert_true (sm_listener_start (probe, NULL, NULL));
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 2);
  sm_listener_abort (probe);
}

/* A daemon that drops the first registrations unanswered (busy, a flood
 * from elsewhere) is tried again with backoff: the start succeeds */
static void
test_start_retries_after_reset (SmClientFixture *fixture,
                                gconstpointer    data)
{
  fixture->daemon->n_drop = 3;
  sm_client_fixture_start (fixture);
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 4);
  g_assert_cmpuint (fixture->daemon->n_drop, ==, 0);
  g_assert_cmpstr (fixture->connected_log->str, ==, "t");
}

/* ... for the reconnect timeout, then the start fails with the reason */
static void
test_start_retries_give_up (SmClientFixture *fixture,
                            gconstpointer    data)
{
  g_autoptr(GError) error = NULL;
  SmFakeAsyncWait wait = { 0 };

  fixture->daemon->n_drop = G_MAXUINT;
  sm_listener_set_reconnect_timeout (fixture->listener, 0.3);
  sm_listener_start_async (fixture->listener, NULL, sm_fake_async_done, &wait);
  WAIT_UNTIL (wait.done);
  g_assert_false (sm_listener_start_finish (fixture->listener, wait.result, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_CLOSED);
  g_assert_cmpuint (fixture->daemon->requests->len, >, 1);
  g_assert_false (sm_listener_is_connected (fixture->listener));
  g_clear_object (&wait.result);

  /* and it may be started again */
  fixture->daemon->n_drop = 0;
  sm_client_fixture_start (fixture);
}

/* A refusal is the daemon's answer: not retried */
static void
test_start_rejected_not_retried (SmClientFixture *fixture,
                                 gconstpointer    data)
{
  g_autoptr(GError) error = NULL;
  SmFakeAsyncWait wait = { 0 };

  sm_fake_daemon_set_answer (fixture->daemon, "port in use");
  sm_listener_start_async (fixture->listener, NULL, sm_fake_async_done, &wait);
  WAIT_UNTIL (wait.done);
  g_assert_false (sm_listener_start_finish (fixture->listener, wait.result, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_REJECTED);
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 1);
  g_clear_object (&wait.result);
}

/* A listener that gave up may be started again */
static void
test_restart_after_lost (SmClientFixture *fixture,
                         gconstpointer    data)
{
  sm_listener_set_reconnect_timeout (fixture->listener, 0.2);
  sm_client_fixture_start (fixture);
  fixture->daemon->n_drop = G_MAXUINT;
  sm_fake_daemon_drop_session (fixture->daemon);
  WAIT_UNTIL (fixture->lost_error != NULL);

  fixture->daemon->n_drop = 0;
  sm_client_fixture_start (fixture);
  g_assert_true (sm_listener_is_connected (fixture->listener));
  g_assert_cmpstr (fixture->connected_log->str, ==, "tft");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  /* the original handshake, whatever the environment */
  g_unsetenv ("SOCKETMASTER_TOKEN");

  SM_CLIENT_TEST_ADD ("/listener/reconnect", test_reconnect);
  SM_CLIENT_TEST_ADD ("/listener/reconnect-after-go-away", test_reconnect_after_go_away);
  SM_CLIENT_TEST_ADD ("/listener/reconnect-gives-up", test_reconnect_gives_up);
  SM_CLIENT_TEST_ADD ("/listener/reconnect-rejected", test_reconnect_rejected);
  SM_CLIENT_TEST_ADD ("/listener/dispose-reconnecting", test_dispose_reconnecting);
  SM_CLIENT_TEST_ADD ("/listener/start-retries-after-reset", test_start_retries_after_reset);
  SM_CLIENT_TEST_ADD ("/listener/start-retries-give-up", test_start_retries_give_up);
  SM_CLIENT_TEST_ADD ("/listener/start-rejected-not-retried", test_start_rejected_not_retried);
  SM_CLIENT_TEST_ADD ("/listener/restart-after-lost", test_restart_after_lost);

  return g_test_run ();
}
