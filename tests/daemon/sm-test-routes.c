/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-test-routes.h"
#include "sm-test-support.h"

void
sm_test_routes_init (SmTestRoutes *routes)
{
  routes->routes = g_ptr_array_new_with_free_func (g_object_unref);
  routes->left = g_ptr_array_new_with_free_func (g_object_unref);
  routes->peers = g_ptr_array_new_with_free_func (g_object_unref);
  routes->next_id = 1;
}

void
sm_test_routes_clear (SmTestRoutes *routes)
{
  for (guint i = 0; i < routes->routes->len; i++)
    {
      SmYamuxSession *session = sm_route_get_session (g_ptr_array_index (routes->routes, i));

      if (!sm_yamux_session_is_closed (session))
        sm_yamux_session_close (session);
    }
  g_clear_pointer (&routes->routes, g_ptr_array_unref);
  g_clear_pointer (&routes->left, g_ptr_array_unref);
  g_clear_pointer (&routes->peers, g_ptr_array_unref);
  /* Deferred closes and finalizers */
  sm_test_settle ();
}

SmRoute *
sm_test_routes_add (SmTestRoutes *routes,
                    const char   *domain_suffix,
                    const char   *path_prefix)
{
  g_autoptr(SmSocketDefinition) definition = sm_socket_definition_new (8000);
  g_autoptr(GIOStream) ours = NULL;
  g_autoptr(GIOStream) theirs = NULL;
  g_autoptr(SmYamuxSession) session = NULL;
  g_autofree char *peer = NULL;
  SmYamuxConfig config;
  SmRoute *route;

  sm_test_socketpair (&ours, &theirs);
  sm_yamux_config_init (&config);
  config.keepalive_interval_ms = 0;
  session = sm_yamux_session_new (ours, SM_YAMUX_ROLE_CLIENT, &config, NULL);

  sm_socket_definition_set_http (definition, domain_suffix, path_prefix);
  peer = g_strdup_printf ("service-%" G_GUINT64_FORMAT, routes->next_id);
  route = sm_route_new (routes->next_id++, definition, session, peer);
  g_ptr_array_add (routes->routes, route);
  g_ptr_array_add (routes->peers, g_steal_pointer (&theirs));
  return route;
}

void
sm_test_routes_leave (SmTestRoutes *routes, SmRoute *route)
{
  sm_yamux_session_close (sm_route_get_session (route));
  g_assert_true (sm_route_is_gone (route));
  g_ptr_array_add (routes->left, g_object_ref (route));
  g_assert_true (g_ptr_array_remove (routes->routes, route));
}
