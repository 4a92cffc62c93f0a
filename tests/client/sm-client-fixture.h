/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The fixture of the SmListener tests: a fake daemon (sm-fake-daemon.h)
 * and a listener made for it, not started yet, whose signals are recorded.
 */

#include "sm-fake-daemon.h"
#include "sm-listener.h"

G_BEGIN_DECLS

typedef struct {
  SmFakeDaemon       *daemon;
  SmSocketDefinition *definition;    /* 127.0.0.1:8080 */
  SmListener         *listener;
  GString            *connected_log; /* 't'/'f' for each notify::connected */
  gboolean            take_streams;  /* the incoming handler returns TRUE */
  GPtrArray          *taken;         /* streams the handler took */
  guint               n_incoming;
  GError             *lost_error;    /* from SmListener::lost */
} SmClientFixture;

void        sm_client_fixture_set_up       (SmClientFixture *fixture,
                                            gconstpointer    data);
void        sm_client_fixture_tear_down    (SmClientFixture *fixture,
                                            gconstpointer    data);
/* Another listener for @fixture->definition, recorded like the first */
SmListener *sm_client_fixture_new_listener (SmClientFixture *fixture);
/* Likewise, for several daemons (sm_listener_new_for_addresses()) */
SmListener *sm_client_fixture_new_listener_for (SmClientFixture   *fixture,
                                                const char *const *addresses);
/* Starts @fixture->listener; fails the test unless it registered */
void        sm_client_fixture_start        (SmClientFixture *fixture);
/* The next stream accepted by @fixture->listener; fails the test on error */
GIOStream  *sm_client_fixture_accept       (SmClientFixture *fixture);

#define SM_CLIENT_TEST_ADD(path, func) \
  g_test_add (path, SmClientFixture, NULL, sm_client_fixture_set_up, func, \
              sm_client_fixture_tear_down)

G_END_DECLS
