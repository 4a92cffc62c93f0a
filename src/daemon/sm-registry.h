/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-peer-credentials.h"
#include "sm-policy.h"
#include "sm-port.h"
#include "sm-route.h"
#include "sm-socket-definition.h"
#include "sm-yamux-session.h"

G_BEGIN_DECLS

/**
 * SmRegistry:
 *
 * All public ports and the services registered on them. It decides whether
 * a service's request can be served, opens ports on first use and forgets
 * them when they close.
 *
 * Signals (for observers such as a D-Bus layer):
 *   "port-added" (SmPort *), "port-removed" (SmPort *); a port's own
 *   "route-added" and "route-removed" tell about its services.
 */
#define SM_TYPE_REGISTRY (sm_registry_get_type ())
G_DECLARE_FINAL_TYPE (SmRegistry, sm_registry, SM, REGISTRY, GObject)

/* @hold_timeout: seconds a port with no service keeps its waiting
 * connections and stays open */
SmRegistry *sm_registry_new (double hold_timeout);

double      sm_registry_get_hold_timeout (SmRegistry *self);
/* For HTTP ports opened from now on (default: sm_http_limits_init()) */
void        sm_registry_set_http_limits (SmRegistry *self, const SmHttpLimits *limits);
/* For ports opened from now on (default: sm_port_limits_init()); the
 * total of public connections counts over all ports */
void        sm_registry_set_port_limits (SmRegistry *self, const SmPortLimits *limits);

/* For ports opened from now on: the GnuTLS priority string (NULL: the
 * default, SM_TLS_DEFAULT_PRIORITY) and the seconds a public client has to
 * complete its TLS handshake. Fails with SM_ERROR_TLS for a priority
 * string GnuTLS refuses, SM_ERROR_INVALID_ARGUMENT for a timeout out of
 * range; nothing changes then. */
gboolean    sm_registry_set_tls_options (SmRegistry *self,
                                         const char *priority,
                                         int         handshake_timeout,
                                         GError    **error);

/* --public-address: every port opened from now on listens on @address,
 * whatever its service asked for (NULL: what it asked for) */
void        sm_registry_set_public_address (SmRegistry *self, GInetAddress *address);
/* --accept-proxy: the trusted balancers of ports opened from now on (NULL:
 * none; see sm_port_set_accept_proxy()) */
void        sm_registry_set_accept_proxy (SmRegistry *self, SmProxyAccept *proxy_accept);

/* Who may register what (default: sm_policy_new()) */
void        sm_registry_set_policy (SmRegistry *self, SmPolicy *policy);
SmPolicy   *sm_registry_get_policy (SmRegistry *self);

/* Checks @definition against the policy for the peer @creds (NULL: the
 * daemon itself, trusted as root) and finds or opens its port. The port
 * comes back reserved: follow with sm_registry_add_route() or
 * sm_port_release(). The error message is meant for the service
 * (handshake status). */
SmPort     *sm_registry_reserve (SmRegistry               *self,
                                 const SmSocketDefinition *definition,
                                 const SmPeerCredentials  *creds,
                                 GError                  **error);
/* Gives up a reservation without registering: the claim on the route goes */
void        sm_registry_release (SmRegistry               *self,
                                 SmPort                   *port,
                                 const SmSocketDefinition *definition,
                                 const SmPeerCredentials  *creds);
/* Registers a service on a port reserved for it (transfer full); the
 * route belongs to @creds' owner (NULL: root). @name: the service's label
 * (may be NULL). @proxy_protocol: the PROXY header version its streams
 * start with (0: none; raw TCP only). */
SmRoute    *sm_registry_add_route (SmRegistry               *self,
                                   SmPort                   *port,
                                   const SmSocketDefinition *definition,
                                   SmYamuxSession           *session,
                                   const char               *peer,
                                   const SmPeerCredentials  *creds,
                                   const char               *name,
                                   guint                     proxy_protocol);

SmPort     *sm_registry_lookup_port (SmRegistry *self, GInetAddress *address, guint16 number);
/* (transfer container) */
GList      *sm_registry_get_ports (SmRegistry *self);
/* Streams still open on the registered services' sessions */
guint       sm_registry_get_n_active_streams (SmRegistry *self);
/* Public connections open now, on all ports */
guint       sm_registry_get_n_connections (SmRegistry *self);

/* First stage of an orderly exit: refuse new registrations and close the
 * public listeners. Open connections carry on: HTTP connections finish the
 * request in progress (or their first one) with Connection: close, idle
 * keep-alive ones close; services keep serving them. */
void        sm_registry_shutdown (SmRegistry *self);
/* Upgrade: a port on @socket, a listener inherited from the daemon this
 * process replaces, with no service yet (connections wait as for a
 * departed one); @tls: it terminated TLS there, so connections wait for a
 * certificate too. The port belongs to the registry. */
SmPort     *sm_registry_adopt_port (SmRegistry *self,
                                    GSocket    *socket,
                                    SmPortMode  mode,
                                    gboolean    tls,
                                    GError    **error);
/* Upgrade: sm_registry_shutdown(), but the connections the kernel queued
 * on the public listeners are left to the successor sharing them */
void        sm_registry_hand_over (SmRegistry *self);
/* GoAway to every registered service: the client library registers with
 * the successor then, while the streams open here finish */
void        sm_registry_go_away (SmRegistry *self);
/* Last stage: abort proxied connections, close all sessions and ports */
void        sm_registry_close (SmRegistry *self);

G_END_DECLS
