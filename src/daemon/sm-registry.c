/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <math.h>
#include <netinet/in.h>

#include "sm-address.h"
#include "sm-error.h"
#include "sm-metrics-events.h"
#include "sm-registry.h"
#include "sm-route-claims.h"
#include "sm-tls-certificate.h"
#include "sm-tls-credentials.h"
#include "sm-tls-terminator.h"

struct _SmRegistry
{
  GObject        parent_instance;

  double         hold_timeout;
  SmHttpLimits   http_limits;
  char          *tls_priority; /* NULL: the default */
  int            tls_handshake_timeout;
  GHashTable    *ports; /* key (owned) -> SmPort (owned) */
  SmPolicy      *policy;
  GHashTable    *claims;   /* port key (owned) -> SmRouteClaims (owned) */
  GHashTable    *services; /* owner -> services registered now */
  guint          n_services;
  guint64        next_route_id;
  GCancellable  *drain;       /* HTTP connections finish their request and close */
  GCancellable  *cancellable; /* aborts every proxied connection */
  gboolean       shutting_down;

  SmPortLimits   port_limits;
  SmOpenCount   *n_connections; /* public, on all ports */

  GInetAddress  *public_address; /* NULL: the one each service asks for */
  SmProxyAccept *proxy_accept;   /* NULL: no trusted balancers */
};

enum
{
  SIGNAL_PORT_ADDED,
  SIGNAL_PORT_REMOVED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (SmRegistry, sm_registry, G_TYPE_OBJECT)

static void
on_port_closed (SmPort *port, SmRegistry *self)
{
  g_autoptr (SmPort) hold = g_object_ref (port);

  g_signal_handlers_disconnect_by_data (port, self);
  /* It closed after the hold timeout without services: no claim is alive */
  g_hash_table_remove (self->claims, sm_port_get_key (port));
  if (g_hash_table_remove (self->ports, sm_port_get_key (port)))
    g_signal_emit (self, signals[SIGNAL_PORT_REMOVED], 0, port);
}

static void
sm_registry_dispose (GObject *object)
{
  SmRegistry *self = SM_REGISTRY (object);

  if (self->ports != NULL)
    {
      GHashTableIter iter;
      gpointer       port;

      g_hash_table_iter_init (&iter, self->ports);
      while (g_hash_table_iter_next (&iter, NULL, &port))
        g_signal_handlers_disconnect_by_data (port, self);
      g_clear_pointer (&self->ports, g_hash_table_unref);
    }

  G_OBJECT_CLASS (sm_registry_parent_class)->dispose (object);
}

static void
sm_registry_finalize (GObject *object)
{
  SmRegistry *self = SM_REGISTRY (object);

  g_clear_object (&self->cancellable);
  g_clear_object (&self->drain);
  g_clear_pointer (&self->tls_priority, g_free);
  g_clear_pointer (&self->n_connections, sm_open_count_unref);
  g_clear_pointer (&self->claims, g_hash_table_unref);
  g_clear_pointer (&self->services, g_hash_table_unref);
  g_clear_object (&self->policy);
  g_clear_object (&self->public_address);
  g_clear_object (&self->proxy_accept);

  G_OBJECT_CLASS (sm_registry_parent_class)->finalize (object);
}

static void
sm_registry_class_init (SmRegistryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_registry_dispose;
  object_class->finalize = sm_registry_finalize;

  signals[SIGNAL_PORT_ADDED] =
      g_signal_new ("port-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                    G_TYPE_NONE, 1, SM_TYPE_PORT);
  signals[SIGNAL_PORT_REMOVED] =
      g_signal_new ("port-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 1, SM_TYPE_PORT);
}

static void
sm_registry_init (SmRegistry *self)
{
  self->ports = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->policy = sm_policy_new ();
  self->claims = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) sm_route_claims_free);
  self->services = g_hash_table_new (g_direct_hash, g_direct_equal);
  self->next_route_id = 1;
  self->cancellable = g_cancellable_new ();
  self->drain = g_cancellable_new ();
  sm_http_limits_init (&self->http_limits);
  sm_port_limits_init (&self->port_limits);
  self->n_connections = sm_open_count_new ();
  self->tls_handshake_timeout = SM_TLS_DEFAULT_HANDSHAKE_TIMEOUT;
}

SmRegistry *
sm_registry_new (double hold_timeout)
{
  SmRegistry *self;

  g_return_val_if_fail (hold_timeout > 0 && isfinite (hold_timeout), NULL);

  self = g_object_new (SM_TYPE_REGISTRY, NULL);
  self->hold_timeout = hold_timeout;

  return self;
}

double
sm_registry_get_hold_timeout (SmRegistry *self)
{
  g_return_val_if_fail (SM_IS_REGISTRY (self), 0);
  return self->hold_timeout;
}

void
sm_registry_set_http_limits (SmRegistry *self, const SmHttpLimits *limits)
{
  g_return_if_fail (SM_IS_REGISTRY (self));
  g_return_if_fail (limits != NULL);
  g_return_if_fail (limits->max_head_size > 0);

  self->http_limits = *limits;
}

void
sm_registry_set_port_limits (SmRegistry *self, const SmPortLimits *limits)
{
  g_return_if_fail (SM_IS_REGISTRY (self));
  g_return_if_fail (limits != NULL);

  self->port_limits = *limits;
}

void
sm_registry_set_public_address (SmRegistry *self, GInetAddress *address)
{
  g_return_if_fail (SM_IS_REGISTRY (self));
  g_set_object (&self->public_address, address);
}

void
sm_registry_set_accept_proxy (SmRegistry *self, SmProxyAccept *proxy_accept)
{
  g_return_if_fail (SM_IS_REGISTRY (self));
  g_set_object (&self->proxy_accept, proxy_accept);
}

gboolean
sm_registry_set_tls_options (SmRegistry *self,
                             const char *priority,
                             int         handshake_timeout,
                             GError    **error)
{
  g_return_val_if_fail (SM_IS_REGISTRY (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (handshake_timeout < 1 || handshake_timeout > SM_TLS_MAX_HANDSHAKE_TIMEOUT)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                   "the TLS handshake timeout must be 1 to %d seconds",
                   SM_TLS_MAX_HANDSHAKE_TIMEOUT);
      return FALSE;
    }

  if (priority != NULL)
    {
      g_autoptr (SmTlsCredentials) scratch = sm_tls_credentials_new ();

      if (!sm_tls_credentials_set_priority (scratch, priority, error))
        return FALSE;
    }

  g_free (self->tls_priority);
  self->tls_priority = g_strdup (priority);
  self->tls_handshake_timeout = handshake_timeout;
  return TRUE;
}

void
sm_registry_set_policy (SmRegistry *self, SmPolicy *policy)
{
  g_return_if_fail (SM_IS_REGISTRY (self));
  g_return_if_fail (SM_IS_POLICY (policy));

  g_set_object (&self->policy, policy);
}

SmPolicy *
sm_registry_get_policy (SmRegistry *self)
{
  g_return_val_if_fail (SM_IS_REGISTRY (self), NULL);
  return self->policy;
}

static guint
count_services (SmRegistry *self, guint32 owner)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->services, GUINT_TO_POINTER (owner)));
}

static void on_route_removed (SmPort *port, SmRoute *route, SmRegistry *self);

static SmRouteClaims *
get_claims (SmRegistry *self, SmPort *port)
{
  SmRouteClaims *claims = g_hash_table_lookup (self->claims, sm_port_get_key (port));

  if (claims == NULL)
    {
      claims = sm_route_claims_new ((gint64) (self->hold_timeout * G_USEC_PER_SEC));
      g_hash_table_insert (self->claims, g_strdup (sm_port_get_key (port)), claims);
      g_signal_connect (port, "route-removed", G_CALLBACK (on_route_removed), self);
    }
  return claims;
}

/* A service holds its claim and counts from its reservation on, so two
 * registrations in flight cannot both take the same route */
static void
claim (SmRegistry *self, SmPort *port, const SmSocketDefinition *definition, guint32 owner)
{
  sm_route_claims_add (get_claims (self, port), owner, sm_port_get_mode (port) == SM_PORT_MODE_HTTP,
                       sm_socket_definition_get_domain_suffix (definition),
                       sm_socket_definition_get_path_prefix (definition));
  g_hash_table_insert (self->services, GUINT_TO_POINTER (owner),
                       GUINT_TO_POINTER (count_services (self, owner) + 1));
  self->n_services++;
}

static void
unclaim (SmRegistry *self, SmPort *port, const SmSocketDefinition *definition, guint32 owner)
{
  guint n_services = count_services (self, owner);

  sm_route_claims_remove (
      get_claims (self, port), owner, sm_port_get_mode (port) == SM_PORT_MODE_HTTP,
      sm_socket_definition_get_domain_suffix (definition),
      sm_socket_definition_get_path_prefix (definition), g_get_monotonic_time ());

  g_return_if_fail (n_services > 0 && self->n_services > 0);
  self->n_services--;
  if (n_services > 1)
    g_hash_table_insert (self->services, GUINT_TO_POINTER (owner),
                         GUINT_TO_POINTER (n_services - 1));
  else
    g_hash_table_remove (self->services, GUINT_TO_POINTER (owner));
}

/* What the policy says before any port is touched: the allow lists,
 * privileged ports and the number of services */
static gboolean
check_peer (SmRegistry *self, const SmPeerCredentials *creds, guint16 number, GError **error)
{
  guint32 owner = sm_policy_owner_of (creds);

  if (!sm_policy_check_peer (self->policy, creds, error) ||
      !sm_policy_check_port (self->policy, creds, number, error))
    return FALSE;

  if (self->n_services >= sm_policy_get_max_services (self->policy))
    {
      g_set_error (error, SM_ERROR, SM_ERROR_LIMIT, "limit: %u services are registered already",
                   self->n_services);
      return FALSE;
    }
  if (count_services (self, owner) >= sm_policy_get_max_services_per_user (self->policy))
    {
      g_set_error (error, SM_ERROR, SM_ERROR_LIMIT,
                   "limit: this user has %u services registered already",
                   count_services (self, owner));
      return FALSE;
    }
  return TRUE;
}

/* Route ownership on an open port; root may do anything */
static gboolean
check_claims (SmRegistry               *self,
              SmPort                   *port,
              const SmSocketDefinition *definition,
              const SmPeerCredentials  *creds,
              GError                  **error)
{
  g_autoptr (SmTlsCertificate) certificate = NULL;
  const char *const *names = NULL;

  if (sm_policy_is_superuser (creds))
    return TRUE;

  if (sm_socket_definition_has_tls (definition))
    {
      certificate = sm_tls_certificate_new ("check", sm_socket_definition_get_tls_cert (definition),
                                            sm_socket_definition_get_tls_key (definition), error);
      if (certificate == NULL)
        return FALSE;
      names = sm_tls_certificate_get_names (certificate);
    }

  return sm_route_claims_check (get_claims (self, port), sm_port_get_number (port),
                                sm_policy_owner_of (creds),
                                sm_port_get_mode (port) == SM_PORT_MODE_HTTP,
                                sm_socket_definition_get_domain_suffix (definition),
                                sm_socket_definition_get_path_prefix (definition), names,
                                sm_port_get_tls (port), g_get_monotonic_time (), error);
}

static void
on_route_removed (SmPort *port, SmRoute *route, SmRegistry *self)
{
  unclaim (self, port, sm_route_get_definition (route), sm_route_get_owner (route));
}

static gboolean
is_all_interfaces (GInetAddress *address)
{
  return address == NULL || g_inet_address_get_is_any (address);
}

/* The kernel would refuse a wildcard and a specific address on the same
 * port, but blaming "another program" would mislead: it is us. */
static gboolean
check_conflicts (SmRegistry *self, GInetAddress *address, guint16 number, GError **error)
{
  GHashTableIter iter;
  gpointer       value;

  g_hash_table_iter_init (&iter, self->ports);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      SmPort       *port = value;
      GInetAddress *other = sm_port_get_address (port);

      if (sm_port_get_number (port) != number)
        continue;

      if (is_all_interfaces (address) || is_all_interfaces (other))
        {
          g_autofree char *host = sm_address_to_host (other);

          g_set_error (error, SM_ERROR, SM_ERROR_CONFLICT,
                       "port %u is already served on %s by socketmaster; "
                       "ask for the same address",
                       number, host);
          return FALSE;
        }
    }

  return TRUE;
}

/* @socket: an adopted listener (NULL: bind one) */
static SmPort *
open_port (SmRegistry   *self,
           GSocket      *socket,
           GInetAddress *address,
           guint16       number,
           SmPortMode    mode,
           GError      **error)
{
  g_autoptr (SmPort) port = NULL;

  if (!check_conflicts (self, address, number, error))
    return NULL;

  if (socket != NULL)
    port = sm_port_new_for_socket (socket, address, number, mode, self->hold_timeout, self->drain,
                                   self->cancellable, error);
  else
    port = sm_port_new (address, number, mode, self->hold_timeout, self->drain, self->cancellable,
                        error);
  if (port == NULL)
    return NULL;
  sm_port_set_http_limits (port, &self->http_limits);
  sm_port_set_limits (port, &self->port_limits, self->n_connections);
  sm_port_set_tls_options (port, self->tls_priority, self->tls_handshake_timeout);
  sm_port_set_accept_proxy (port, self->proxy_accept);

  g_signal_connect (port, "closed", G_CALLBACK (on_port_closed), self);
  g_hash_table_insert (self->ports, g_strdup (sm_port_get_key (port)), g_object_ref (port));
  g_signal_emit (self, signals[SIGNAL_PORT_ADDED], 0, port);

  return g_steal_pointer (&port);
}

SmPort *
sm_registry_reserve (SmRegistry               *self,
                     const SmSocketDefinition *definition,
                     const SmPeerCredentials  *creds,
                     GError                  **error)
{
  g_autoptr (GInetAddress) address = NULL;
  g_autoptr (SmPort) port = NULL;
  SmPortMode mode;
  guint16    number;

  g_return_val_if_fail (SM_IS_REGISTRY (self), NULL);
  g_return_val_if_fail (definition != NULL, NULL);

  if (self->shutting_down)
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_GOING_AWAY, "socketmaster is shutting down");
      return NULL;
    }

  mode = sm_socket_definition_has_http (definition) ? SM_PORT_MODE_HTTP : SM_PORT_MODE_TCP;

  number = sm_socket_definition_get_port (definition);
  if (number == 0)
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                           "port 0 is out of range 1-65535");
      return NULL;
    }

  if (creds != NULL && !check_peer (self, creds, number, error))
    return NULL;

  if (!sm_address_parse_service (sm_socket_definition_get_address (definition), &address, error))
    return NULL;
  if (self->public_address != NULL)
    {
      g_debug ("Port %u: listening on --public-address, not on \"%s\" as asked", number,
               sm_socket_definition_get_address (definition));
      g_set_object (&address, self->public_address);
    }

  /* A bad certificate changes nothing: no port is opened, none is
   * touched. The port adds it once the service is registered. */
  if (sm_socket_definition_has_tls (definition) &&
      !sm_tls_credentials_check (sm_socket_definition_get_tls_cert (definition),
                                 sm_socket_definition_get_tls_key (definition), error))
    return NULL;

  port = sm_registry_lookup_port (self, address, number);
  if (port != NULL)
    {
      g_object_ref (port);
      /* The original silently mixed both; one of them would get nonsense */
      if (sm_port_get_mode (port) != mode)
        {
          g_set_error (error, SM_ERROR, SM_ERROR_CONFLICT,
                       "port %u serves %s; a service asking for %s cannot join it", number,
                       sm_port_mode_to_string (sm_port_get_mode (port)),
                       mode == SM_PORT_MODE_HTTP ? "HTTP routing" : "raw TCP");
          return NULL;
        }
      if (creds != NULL && !check_claims (self, port, definition, creds, error))
        return NULL;
    }
  else
    {
      port = open_port (self, NULL, address, number, mode, error);
    }

  if (port == NULL)
    return NULL;

  sm_port_reserve (port);
  if (sm_socket_definition_has_tls (definition))
    sm_port_expect_tls (port);
  claim (self, port, definition, creds != NULL ? sm_policy_owner_of (creds) : 0);
  return g_steal_pointer (&port);
}

void
sm_registry_release (SmRegistry               *self,
                     SmPort                   *port,
                     const SmSocketDefinition *definition,
                     const SmPeerCredentials  *creds)
{
  g_return_if_fail (SM_IS_REGISTRY (self));
  g_return_if_fail (SM_IS_PORT (port));

  unclaim (self, port, definition, creds != NULL ? sm_policy_owner_of (creds) : 0);
  sm_port_release (port);
}

SmRoute *
sm_registry_add_route (SmRegistry               *self,
                       SmPort                   *port,
                       const SmSocketDefinition *definition,
                       SmYamuxSession           *session,
                       const char               *peer,
                       const SmPeerCredentials  *creds,
                       const char               *name,
                       guint                     proxy_protocol)
{
  SmRoute *route;
  guint32  owner = creds != NULL ? sm_policy_owner_of (creds) : 0;

  g_return_val_if_fail (SM_IS_REGISTRY (self), NULL);
  g_return_val_if_fail (SM_IS_PORT (port), NULL);

  /* The claim made at the reservation passes to the route: the port's
   * "route-removed" gives it back */
  route = sm_route_new (self->next_route_id++, definition, session, peer);
  sm_route_set_owner (route, owner, name);
  sm_route_set_proxy_protocol (route, proxy_protocol);
  if (sm_port_is_closed (port))
    unclaim (self, port, definition, owner);
  else
    {
      sm_port_add_route (port, route);
      sm_metrics_route_registered (route, sm_port_get_display_name (port));
    }

  return route;
}

SmPort *
sm_registry_lookup_port (SmRegistry *self, GInetAddress *address, guint16 number)
{
  g_autofree char *key = NULL;

  g_return_val_if_fail (SM_IS_REGISTRY (self), NULL);

  key = sm_port_make_key (address, number);
  return g_hash_table_lookup (self->ports, key);
}

GList *
sm_registry_get_ports (SmRegistry *self)
{
  g_return_val_if_fail (SM_IS_REGISTRY (self), NULL);
  return g_hash_table_get_values (self->ports);
}

guint
sm_registry_get_n_active_streams (SmRegistry *self)
{
  GHashTableIter iter;
  gpointer       value;
  guint          n_streams = 0;

  g_return_val_if_fail (SM_IS_REGISTRY (self), 0);

  g_hash_table_iter_init (&iter, self->ports);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      GPtrArray *routes = sm_port_get_routes (value);

      for (guint i = 0; i < routes->len; i++)
        {
          SmYamuxSession *session = sm_route_get_session (g_ptr_array_index (routes, i));

          if (session != NULL && !sm_yamux_session_is_closed (session))
            n_streams += sm_yamux_session_get_n_streams (session);
        }
    }

  return n_streams;
}

guint
sm_registry_get_n_connections (SmRegistry *self)
{
  g_return_val_if_fail (SM_IS_REGISTRY (self), 0);
  return self->n_connections->n_open;
}

void
sm_registry_shutdown (SmRegistry *self)
{
  GHashTableIter iter;
  gpointer       value;

  g_return_if_fail (SM_IS_REGISTRY (self));

  self->shutting_down = TRUE;
  g_cancellable_cancel (self->drain);

  g_hash_table_iter_init (&iter, self->ports);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      GPtrArray *routes = sm_port_get_routes (value);

      sm_port_stop_listening (value);
      /* No GoAway yet: a service that saw one would leave (the client
       * library reconnects elsewhere), and the requests still arriving on
       * connections being finished would find no route. Sessions are
       * closed, with GoAway, by sm_registry_close(). */
      for (guint i = 0; i < routes->len; i++)
        sm_route_drain (g_ptr_array_index (routes, i));
    }
}

SmPort *
sm_registry_adopt_port (SmRegistry *self,
                        GSocket    *socket,
                        SmPortMode  mode,
                        gboolean    tls,
                        GError    **error)
{
  g_autoptr (GSocketAddress) local = NULL;
  g_autoptr (GInetAddress) address = NULL;
  SmPort  *port;
  guint16  number;
  gboolean dual_stack = FALSE;

  g_return_val_if_fail (SM_IS_REGISTRY (self), NULL);
  g_return_val_if_fail (G_IS_SOCKET (socket), NULL);

  local = g_socket_get_local_address (socket, error);
  if (local == NULL)
    return NULL;
  if (!G_IS_INET_SOCKET_ADDRESS (local))
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                           "a public port needs a TCP socket");
      return NULL;
    }
  number = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
  address = g_object_ref (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local)));
  /* sm_listen_socket_new() binds "all interfaces" (no address) as a
   * dual-stack IPv6 socket: the port's key has no address then */
  if (g_inet_address_get_is_any (address) &&
      g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
    {
      gint v6_only = 1;

      dual_stack =
          g_socket_get_option (socket, IPPROTO_IPV6, IPV6_V6ONLY, &v6_only, NULL) && v6_only == 0;
    }
  if (dual_stack)
    g_clear_object (&address);

  port = open_port (self, socket, address, number, mode, error);
  if (port == NULL)
    return NULL;
  if (tls)
    sm_port_wait_for_tls (port);
  g_object_unref (port); /* the table holds it */
  return port;
}

void
sm_registry_hand_over (SmRegistry *self)
{
  GHashTableIter iter;
  gpointer       value;

  g_return_if_fail (SM_IS_REGISTRY (self));

  g_hash_table_iter_init (&iter, self->ports);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    sm_port_hand_over (value);
  sm_registry_shutdown (self);
}

void
sm_registry_go_away (SmRegistry *self)
{
  GHashTableIter iter;
  gpointer       value;

  g_return_if_fail (SM_IS_REGISTRY (self));

  g_hash_table_iter_init (&iter, self->ports);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      GPtrArray *routes = sm_port_get_routes (value);

      for (guint i = 0; i < routes->len; i++)
        {
          SmYamuxSession *session = sm_route_get_session (g_ptr_array_index (routes, i));

          if (session != NULL && !sm_yamux_session_is_closed (session))
            sm_yamux_session_go_away (session, SM_YAMUX_GO_AWAY_NORMAL);
        }
    }
}

void
sm_registry_close (SmRegistry *self)
{
  g_autoptr (GPtrArray) ports = NULL;
  GHashTableIter iter;
  gpointer       value;

  g_return_if_fail (SM_IS_REGISTRY (self));

  self->shutting_down = TRUE;
  g_cancellable_cancel (self->drain);
  g_cancellable_cancel (self->cancellable);

  /* Each close removes the port from the table */
  ports = g_ptr_array_new_with_free_func (g_object_unref);
  g_hash_table_iter_init (&iter, self->ports);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (ports, g_object_ref (value));
  for (guint i = 0; i < ports->len; i++)
    sm_port_close (g_ptr_array_index (ports, i));
}
