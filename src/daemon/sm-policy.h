/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-peer-credentials.h"

G_BEGIN_DECLS

/* The group whose members may take ports below 1024 (--privileged-group) */
#define SM_POLICY_DEFAULT_PRIVILEGED_GROUP "socketmaster"
/* Registered services in total and per user (--max-services,
 * --max-services-per-user) */
#define SM_POLICY_DEFAULT_MAX_SERVICES          4096
#define SM_POLICY_DEFAULT_MAX_SERVICES_PER_USER 512

/* The owner of routes registered by a peer whose uid is unknown: such
 * peers share it, and nobody else may join their routes */
#define SM_POLICY_OWNER_UNKNOWN G_MAXUINT32

/**
 * SmPolicy:
 *
 * Who may register what, decided from the peer's identity alone (route
 * ownership, which also depends on what is registered, is
 * #SmRouteClaims's): the allow lists (--allow-user, --allow-group), ports
 * below 1024 (root, the daemon's own user, members of the privileged
 * group) and the token TCP peers must present (--token-file).
 *
 * Refusals are SM_ERROR_PERMISSION_DENIED or SM_ERROR_UNAUTHORIZED with a
 * message naming the rule, fit to send to the service.
 */
#define SM_TYPE_POLICY (sm_policy_get_type ())
G_DECLARE_FINAL_TYPE (SmPolicy, sm_policy, SM, POLICY, GObject)

SmPolicy *sm_policy_new (void);

/* A group that does not exist is accepted (its members: none) */
void      sm_policy_set_privileged_group (SmPolicy *self, const char *group);
/* @user, @group: a name or a number. Fails for an unknown name. */
gboolean  sm_policy_allow_user (SmPolicy *self, const char *user, GError **error);
gboolean  sm_policy_allow_group (SmPolicy *self, const char *group, GError **error);
/* @token NULL: TCP peers need none */
void      sm_policy_set_token (SmPolicy *self, GBytes *token);
void      sm_policy_set_max_services (SmPolicy *self, guint total, guint per_user);
guint     sm_policy_get_max_services (SmPolicy *self);
guint     sm_policy_get_max_services_per_user (SmPolicy *self);

/* The owner of what @creds registers: its uid, or SM_POLICY_OWNER_UNKNOWN */
guint32   sm_policy_owner_of (const SmPeerCredentials *creds);
/* Root may join and shadow any route */
gboolean  sm_policy_is_superuser (const SmPeerCredentials *creds);

/* Whether @creds may register services at all (the allow lists) */
gboolean  sm_policy_check_peer (SmPolicy *self, const SmPeerCredentials *creds, GError **error);
/* Whether @creds may take public port @number */
gboolean  sm_policy_check_port (SmPolicy                *self,
                                const SmPeerCredentials *creds,
                                guint16                  number,
                                GError                 **error);

/* Whether @creds must present the token: TCP peers, when one is set */
gboolean  sm_policy_needs_token (SmPolicy *self, const SmPeerCredentials *creds);
/* @token NULL: none was presented. Compared in constant time. */
gboolean  sm_policy_check_token (SmPolicy *self, const char *token, GError **error);

G_END_DECLS
