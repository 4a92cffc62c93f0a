/* SPDX-License-Identifier: MIT */

/*
 * One SmListener registered with two fake daemons (a service behind a
 * balancer): streams from both arrive, one daemon going away (GoAway and
 * close, or for good) does not disturb the other, a daemon that was away
 * (at the start, or longer than the reconnect timeout) is registered with
 * once it is back, the listener is lost only when both are, a refusal by
 * either fails the start, closing drains both; $SOCKETMASTER_ADDRESS as a
 * comma-separated list.
 */

#include "config.h"

#include "sm-client-fixture.h"
#include "sm-error.h"
#include "sm-listener-private.h"

#define ADDRESS_VARIABLE "SOCKETMASTER_ADDRESS"

/* The fixture's daemon is the first one; this adds the second and a
 * listener registered with both */
typedef struct {
  SmClientFixture base;
  SmFakeDaemon   *second;
} MultiFixture;

static void
multi_set_up (MultiFixture  *fixture,
              gconstpointer  data)
{
  SmClientFixture *base = &fixture->base;
  const char *addresses[3] = { NULL };

  sm_client_fixture_set_up (base, data);
  fixture->second = sm_fake_daemon_new ();

  /* a listener of the fixture's kind, for both daemons */
  g_clear_object (&base->listener);
  addresses[0] = base->daemon->address;
  addresses[1] = fixture->second->address;
  base->listener = sm_client_fixture_new_listener_for (base, addresses);
}

static void
multi_tear_down (MultiFixture  *fixture,
                 gconstpointer  data)
{
  if (fixture->base.listener != NULL)
    sm_listener_abort (fixture->base.listener);
  sm_fake_daemon_free (fixture->second);
  sm_client_fixture_tear_down (&fixture->base, data);
}

/* A stream from @daemon reaches the listener and back */
static void
assert_serves_from (MultiFixture *fixture,
                    SmFakeDaemon *daemon,
                    const char   *text)
{
  g_autoptr(SmYamuxStream) daemon_side = sm_fake_daemon_open_stream (daemon);
  g_autoptr(GIOStream) service_side = NULL;

  sm_fake_stream_write (G_IO_STREAM (daemon_side), text);
  service_side = sm_client_fixture_accept (&fixture->base);
  sm_fake_stream_expect (service_side, text);
  sm_fake_stream_write (service_side, "ok");
  sm_fake_stream_expect (G_IO_STREAM (daemon_side), "ok");
  sm_fake_stream_close (service_side);
}

static void
test_both_serve (MultiFixture  *fixture,
                 gconstpointer  data)
{
  SmClientFixture *base = &fixture->base;
  const char *const *addresses = sm_listener_get_control_addresses (base->listener);
  g_auto(GStrv) from_property = NULL;

  g_assert_cmpuint (g_strv_length ((char **) addresses), ==, 2);
  g_assert_cmpstr (addresses[0], ==, base->daemon->address);
  g_assert_cmpstr (addresses[1], ==, fixture->second->address);
  g_assert_cmpstr (sm_listener_get_control_address (base->listener), ==, base->daemon->address);
  g_object_get (base->listener, "control-addresses", &from_property, NULL);
  g_assert_true (g_strv_equal ((const char *const *) from_property, addresses));

  sm_client_fixture_start (base);
  g_assert_cmpuint (base->daemon->requests->len, ==, 1);
  g_assert_cmpuint (fixture->second->requests->len, ==, 1);
  g_assert_cmpstr (base->connected_log->str, ==, "t");

  assert_serves_from (fixture, base->daemon, "from one");
  assert_serves_from (fixture, fixture->second, "from two");
  assert_serves_from (fixture, base->daemon, "one again");
}

/* One daemon drains and leaves (GoAway, then close) and comes back: the
 * other serves all along, even a stream open across it */
static void
test_one_goes_away (MultiFixture  *fixture,
                    gconstpointer  data)
{
  SmClientFixture *base = &fixture->base;
  g_autoptr(SmYamuxStream) long_daemon_side = NULL;
  g_autoptr(GIOStream) long_service_side = NULL;

  sm_client_fixture_start (base);
  long_daemon_side = sm_fake_daemon_open_stream (fixture->second);
  sm_fake_stream_write (G_IO_STREAM (long_daemon_side), "a");
  long_service_side = sm_client_fixture_accept (base);
  sm_fake_stream_expect (long_service_side, "a");

  sm_yamux_session_go_away (base->daemon->session, SM_YAMUX_GO_AWAY_NORMAL);
  assert_serves_from (fixture, fixture->second, "during the drain");

  /* the first one is registered with again at once, its old session
   * closing later; the listener stayed connected */
  WAIT_UNTIL (base->daemon->requests->len == 2 && base->daemon->session != NULL &&
              !sm_yamux_session_is_closed (base->daemon->session));
  sm_fake_daemon_drop_old_sessions (base->daemon);
  g_assert_cmpstr (base->connected_log->str, ==, "t");
  g_assert_cmpuint (fixture->second->requests->len, ==, 1);
  g_assert_cmpuint (fixture->second->n_closed, ==, 0);

  sm_fake_stream_write (G_IO_STREAM (long_daemon_side), "b");
  sm_fake_stream_expect (long_service_side, "b");
  assert_serves_from (fixture, base->daemon, "back");
  assert_serves_from (fixture, fixture->second, "still here");
}

/* Bytes received by the listener's sessions now */
static guint64
bytes_received (SmClientFixture *fixture)
{
  SmYamuxStats stats;

  sm_listener_get_yamux_stats (fixture->listener, &stats);
  return stats.bytes_received;
}

/* Counts the client library's "Giving up on the daemon at ADDRESS" */
typedef struct {
  const char *address;
  guint       n_given_up;
} GiveUpWatch;

static void
on_client_message (const char     *domain,
                   GLogLevelFlags  level,
                   const char     *message,
                   gpointer        user_data)
{
  GiveUpWatch *watch = user_data;
  g_autofree char *prefix = g_strdup_printf ("Giving up on the daemon at %s:", watch->address);

  if (g_str_has_prefix (message, prefix))
    watch->n_given_up++;
}

/* A stream queued from a daemon whose session ends is reset; one from the
 * other daemon stays queued */
static void
test_queued_streams (MultiFixture  *fixture,
                     gconstpointer  data)
{
  SmClientFixture *base = &fixture->base;
  g_autoptr(SmYamuxStream) dead = NULL;
  g_autoptr(SmYamuxStream) alive = NULL;
  g_autoptr(GIOStream) accepted = NULL;
  g_autoptr(GError) error = NULL;

  sm_listener_set_reconnect_timeout (base->listener, 0);
  sm_client_fixture_start (base);
  dead = sm_fake_daemon_open_stream (base->daemon);
  sm_fake_stream_write (G_IO_STREAM (dead), "dead");
  alive = sm_fake_daemon_open_stream (fixture->second);
  sm_fake_stream_write (G_IO_STREAM (alive), "alive");
  WAIT_UNTIL (base->n_incoming == 2);

  WAIT_UNTIL (bytes_received (base) == 9);

  sm_fake_daemon_stop_listening (base->daemon);
  sm_fake_daemon_drop_session (base->daemon);
  error = sm_fake_stream_read_error (G_IO_STREAM (dead));
  g_clear_error (&error);
  /* the listener forgot that session: "alive" is all that is left */
  WAIT_UNTIL (bytes_received (base) == 5);
  g_assert_true (sm_listener_is_connected (base->listener));

  accepted = sm_client_fixture_accept (base);
  sm_fake_stream_expect (accepted, "alive");
}

/* A daemon that is down at the start does not hold the others back; it
 * gets the service once it is up */
static void
test_one_down_at_start (MultiFixture  *fixture,
                        gconstpointer  data)
{
  SmClientFixture *base = &fixture->base;
  g_autoptr(GSocketConnectable) parsed = NULL;
  guint16 port;

  parsed = g_network_address_parse (fixture->second->address, 0, NULL);
  port = g_network_address_get_port (G_NETWORK_ADDRESS (parsed));
  sm_fake_daemon_free (fixture->second);
  fixture->second = NULL;

  sm_client_fixture_start (base);
  assert_serves_from (fixture, base->daemon, "first");

  fixture->second = sm_fake_daemon_new_on_port (port);
  WAIT_UNTIL (fixture->second->session != NULL);
  assert_serves_from (fixture, fixture->second, "second, late");
  g_assert_cmpstr (base->connected_log->str, ==, "t");
}

/* A daemon lost for longer than the reconnect timeout is tried again in
 * the background while the other serves */
static void
test_one_lost (MultiFixture  *fixture,
               gconstpointer  data)
{
  SmClientFixture *base = &fixture->base;
  g_autoptr(GSocketConnectable) parsed = NULL;
  GiveUpWatch watch = { fixture->second->address, 0 };
  guint handler;
  guint16 port;

  sm_listener_set_reconnect_timeout (base->listener, 0.2);
  sm_client_fixture_start (base);
  handler = g_log_set_handler ("socketmaster-client", G_LOG_LEVEL_MESSAGE, on_client_message, &watch);

  parsed = g_network_address_parse (fixture->second->address, 0, NULL);
  port = g_network_address_get_port (G_NETWORK_ADDRESS (parsed));
  sm_fake_daemon_stop_listening (fixture->second);
  sm_fake_daemon_drop_session (fixture->second);

  /* past its reconnect timeout: the listener is not lost */
  WAIT_UNTIL (watch.n_given_up == 1);
  g_log_remove_handler ("socketmaster-client", handler);
  g_assert_null (base->lost_error);
  g_assert_true (sm_listener_is_connected (base->listener));
  assert_serves_from (fixture, base->daemon, "first");

  sm_fake_daemon_free (fixture->second);
  fixture->second = sm_fake_daemon_new_on_port (port);
  WAIT_UNTIL (fixture->second->session != NULL);
  assert_serves_from (fixture, fixture->second, "second is back");
  g_assert_null (base->lost_error);
}

/* Lost once both are gone for the reconnect timeout; a start brings it
 * back with both */
static void
test_both_lost (MultiFixture  *fixture,
                gconstpointer  data)
{
  SmClientFixture *base = &fixture->base;

  sm_listener_set_reconnect_timeout (base->listener, 0.2);
  sm_client_fixture_start (base);

  sm_fake_daemon_drop_session (base->daemon);
  sm_fake_daemon_stop_listening (fixture->second);
  sm_fake_daemon_drop_session (fixture->second);
  /* the first comes back (its address still listens): never lost */
  WAIT_UNTIL (base->daemon->requests->len == 2 && sm_listener_is_connected (base->listener));
  g_assert_null (base->lost_error);

  sm_fake_daemon_stop_listening (base->daemon);
  sm_fake_daemon_drop_session (base->daemon);
  WAIT_UNTIL (base->lost_error != NULL);
  g_assert_false (sm_listener_is_connected (base->listener));
  g_assert_true (g_str_has_suffix (base->connected_log->str, "f"));
}

/* A refusal by one daemon fails the start and ends the other's
 * registration */
static void
test_refused_by_one (MultiFixture  *fixture,
                     gconstpointer  data)
{
  SmClientFixture *base = &fixture->base;
  g_autoptr(GError) error = NULL;

  sm_fake_daemon_set_answer (fixture->second, "port 8080 is in use by another program");
  g_assert_false (sm_listener_start (base->listener, NULL, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_REJECTED);
  g_assert_true (sm_listener_error_is_refusal (error));
  g_assert_false (sm_listener_is_connected (base->listener));

  /* the first one had accepted, or was about to: that registration ended */
  WAIT_UNTIL (base->daemon->session == NULL || sm_yamux_session_is_closed (base->daemon->session));

  /* a later start may succeed */
  g_clear_error (&error);
  sm_fake_daemon_set_answer (fixture->second, "OK");
  sm_client_fixture_start (base);
  assert_serves_from (fixture, fixture->second, "now");
}

/* Nobody there at all: the start fails with the connection error */
static void
test_none_there (MultiFixture  *fixture,
                 gconstpointer  data)
{
  SmClientFixture *base = &fixture->base;
  g_autoptr(GError) error = NULL;

  sm_fake_daemon_stop_listening (base->daemon);
  sm_fake_daemon_stop_listening (fixture->second);
  g_assert_false (sm_listener_start (base->listener, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_false (sm_listener_error_is_refusal (error));
}

static void
test_close_drains_both (MultiFixture  *fixture,
                        gconstpointer  data)
{
  SmClientFixture *base = &fixture->base;
  g_autoptr(SmYamuxStream) daemon_side = NULL;
  g_autoptr(GIOStream) service_side = NULL;
  g_autoptr(GError) error = NULL;
  SmFakeAsyncWait closed = { 0 };

  sm_client_fixture_start (base);
  daemon_side = sm_fake_daemon_open_stream (fixture->second);
  sm_fake_stream_write (G_IO_STREAM (daemon_side), "in flight");
  service_side = sm_client_fixture_accept (base);

  sm_listener_close_async (base->listener, NULL, sm_fake_async_done, &closed);
  WAIT_UNTIL (base->daemon->n_go_away == 1 && fixture->second->n_go_away == 1);
  /* the idle one is done, the other waits for its stream */
  WAIT_UNTIL (base->daemon->n_closed == 1);
  g_assert_false (closed.done);
  g_assert_cmpuint (fixture->second->n_closed, ==, 0);

  sm_fake_stream_expect (service_side, "in flight");
  sm_fake_stream_write (service_side, "done");
  sm_fake_stream_close (service_side);
  sm_fake_stream_expect (G_IO_STREAM (daemon_side), "done");
  sm_fake_stream_close (G_IO_STREAM (daemon_side));

  WAIT_UNTIL (closed.done);
  g_assert_true (sm_listener_close_finish (base->listener, closed.result, &error));
  g_assert_no_error (error);
  g_object_unref (closed.result);
  WAIT_UNTIL (fixture->second->n_closed == 1);
  g_assert_false (sm_listener_is_connected (base->listener));
}

/* $SOCKETMASTER_ADDRESS holds a list; blanks and empty items are ignored */
static void
test_environment (MultiFixture  *fixture,
                  gconstpointer  data)
{
  SmClientFixture *base = &fixture->base;
  g_autofree char *list = g_strdup_printf (" %s ,, %s ", base->daemon->address,
                                           fixture->second->address);
  g_autoptr(SmListener) listener = NULL;
  const char *const *addresses;

  g_setenv (ADDRESS_VARIABLE, list, TRUE);
  listener = sm_listener_new (NULL, base->definition);
  g_unsetenv (ADDRESS_VARIABLE);
  addresses = sm_listener_get_control_addresses (listener);
  g_assert_cmpuint (g_strv_length ((char **) addresses), ==, 2);
  g_assert_cmpstr (addresses[0], ==, base->daemon->address);
  g_assert_cmpstr (addresses[1], ==, fixture->second->address);

  g_setenv (ADDRESS_VARIABLE, " , ", TRUE);
  g_clear_object (&listener);
  listener = sm_listener_new_for_addresses (NULL, base->definition);
  g_unsetenv (ADDRESS_VARIABLE);
  addresses = sm_listener_get_control_addresses (listener);
  g_assert_cmpuint (g_strv_length ((char **) addresses), ==, 1);
  g_assert_cmpstr (addresses[0], ==, SM_DEFAULT_CONTROL_ADDRESS);

  /* the list registers with both */
  g_setenv (ADDRESS_VARIABLE, list, TRUE);
  g_clear_object (&base->listener);
  base->listener = sm_client_fixture_new_listener_for (base, NULL);
  g_unsetenv (ADDRESS_VARIABLE);
  sm_client_fixture_start (base);
  assert_serves_from (fixture, fixture->second, "via the environment");
  assert_serves_from (fixture, base->daemon, "and the first");
}

#define MULTI_TEST_ADD(path, func) \
  g_test_add (path, MultiFixture, NULL, multi_set_up, func, multi_tear_down)

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_unsetenv (ADDRESS_VARIABLE);

  MULTI_TEST_ADD ("/listener-multi/both-serve", test_both_serve);
  MULTI_TEST_ADD ("/listener-multi/one-goes-away", test_one_goes_away);
  MULTI_TEST_ADD ("/listener-multi/queued-streams", test_queued_streams);
  MULTI_TEST_ADD ("/listener-multi/one-down-at-start", test_one_down_at_start);
  MULTI_TEST_ADD ("/listener-multi/one-lost", test_one_lost);
  MULTI_TEST_ADD ("/listener-multi/both-lost", test_both_lost);
  MULTI_TEST_ADD ("/listener-multi/refused-by-one", test_refused_by_one);
  MULTI_TEST_ADD ("/listener-multi/none-there", test_none_there);
  MULTI_TEST_ADD ("/listener-multi/close-drains-both", test_close_drains_both);
  MULTI_TEST_ADD ("/listener-multi/environment", test_environment);

  return g_test_run ();
}
