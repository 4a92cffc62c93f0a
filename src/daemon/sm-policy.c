/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sm-error.h"
#include "sm-policy.h"
#include "sm-token.h"

/* Ports below this need privileges, as for bind(2) */
#define PRIVILEGED_PORT_LIMIT 1024
/* getgrouplist() answers for more groups than this are cut off */
#define MAX_GROUPS 1024

struct _SmPolicy
{
  GObject parent_instance;

  char   *privileged_group;
  uid_t   daemon_uid;
  GArray *allowed_uids; /* uid_t */
  GArray *allowed_gids; /* gid_t */
  GBytes *token;
  guint   max_services;
  guint   max_services_per_user;
};

G_DEFINE_FINAL_TYPE (SmPolicy, sm_policy, G_TYPE_OBJECT)

static void
sm_policy_finalize (GObject *object)
{
  SmPolicy *self = SM_POLICY (object);

  g_free (self->privileged_group);
  g_array_unref (self->allowed_uids);
  g_array_unref (self->allowed_gids);
  g_clear_pointer (&self->token, g_bytes_unref);

  G_OBJECT_CLASS (sm_policy_parent_class)->finalize (object);
}

static void
sm_policy_class_init (SmPolicyClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sm_policy_finalize;
}

static void
sm_policy_init (SmPolicy *self)
{
  self->privileged_group = g_strdup (SM_POLICY_DEFAULT_PRIVILEGED_GROUP);
  self->daemon_uid = geteuid ();
  self->allowed_uids = g_array_new (FALSE, FALSE, sizeof (uid_t));
  self->allowed_gids = g_array_new (FALSE, FALSE, sizeof (gid_t));
  self->max_services = SM_POLICY_DEFAULT_MAX_SERVICES;
  self->max_services_per_user = SM_POLICY_DEFAULT_MAX_SERVICES_PER_USER;
}

SmPolicy *
sm_policy_new (void)
{
  return g_object_new (SM_TYPE_POLICY, NULL);
}

void
sm_policy_set_privileged_group (SmPolicy *self, const char *group)
{
  g_return_if_fail (SM_IS_POLICY (self));
  g_return_if_fail (group != NULL);

  g_free (self->privileged_group);
  self->privileged_group = g_strdup (group);
}

static gboolean
parse_id (const char *text, guint32 *out_id)
{
  guint64 value;

  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32 - 1, &value, NULL))
    return FALSE;
  *out_id = (guint32) value;
  return TRUE;
}

gboolean
sm_policy_allow_user (SmPolicy *self, const char *user, GError **error)
{
  struct passwd *pw;
  guint32        id;
  uid_t          uid;

  g_return_val_if_fail (SM_IS_POLICY (self), FALSE);
  g_return_val_if_fail (user != NULL, FALSE);

  if (parse_id (user, &id))
    uid = id;
  else if ((pw = getpwnam (user)) != NULL)
    uid = pw->pw_uid;
  else
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT, "no user named “%s”", user);
      return FALSE;
    }

  g_array_append_val (self->allowed_uids, uid);
  return TRUE;
}

static gboolean
lookup_group (const char *group, gid_t *out_gid)
{
  struct group *gr;
  guint32       id;

  if (parse_id (group, &id))
    {
      *out_gid = id;
      return TRUE;
    }
  gr = getgrnam (group);
  if (gr == NULL)
    return FALSE;
  *out_gid = gr->gr_gid;
  return TRUE;
}

gboolean
sm_policy_allow_group (SmPolicy *self, const char *group, GError **error)
{
  gid_t gid;

  g_return_val_if_fail (SM_IS_POLICY (self), FALSE);
  g_return_val_if_fail (group != NULL, FALSE);

  if (!lookup_group (group, &gid))
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT, "no group named “%s”", group);
      return FALSE;
    }

  g_array_append_val (self->allowed_gids, gid);
  return TRUE;
}

void
sm_policy_set_token (SmPolicy *self, GBytes *token)
{
  g_return_if_fail (SM_IS_POLICY (self));

  g_clear_pointer (&self->token, g_bytes_unref);
  if (token != NULL)
    self->token = g_bytes_ref (token);
}

void
sm_policy_set_max_services (SmPolicy *self, guint total, guint per_user)
{
  g_return_if_fail (SM_IS_POLICY (self));
  g_return_if_fail (total > 0 && per_user > 0);

  self->max_services = total;
  self->max_services_per_user = per_user;
}

guint
sm_policy_get_max_services (SmPolicy *self)
{
  g_return_val_if_fail (SM_IS_POLICY (self), 0);
  return self->max_services;
}

guint
sm_policy_get_max_services_per_user (SmPolicy *self)
{
  g_return_val_if_fail (SM_IS_POLICY (self), 0);
  return self->max_services_per_user;
}

guint32
sm_policy_owner_of (const SmPeerCredentials *creds)
{
  g_return_val_if_fail (creds != NULL, SM_POLICY_OWNER_UNKNOWN);
  return creds->known ? (guint32) creds->uid : SM_POLICY_OWNER_UNKNOWN;
}

gboolean
sm_policy_is_superuser (const SmPeerCredentials *creds)
{
  g_return_val_if_fail (creds != NULL, FALSE);
  return creds->known && creds->uid == 0;
}

/* Supplementary groups count: the user database is asked at each
 * registration, so a group change applies without restarting us. */
static gboolean
is_member (const SmPeerCredentials *creds, gid_t gid)
{
  g_autofree gid_t *groups = NULL;
  struct passwd     pw, *result = NULL;
  char              buffer[4096];
  int               n_groups = MAX_GROUPS;

  if (!creds->known)
    return FALSE;
  if (creds->gid == gid)
    return TRUE;
  if (getpwuid_r (creds->uid, &pw, buffer, sizeof buffer, &result) != 0 || result == NULL)
    return FALSE;
  if (pw.pw_gid == gid)
    return TRUE;

  groups = g_new (gid_t, n_groups);
  if (getgrouplist (pw.pw_name, pw.pw_gid, groups, &n_groups) < 0)
    n_groups = MAX_GROUPS;
  for (int i = 0; i < n_groups; i++)
    if (groups[i] == gid)
      return TRUE;
  return FALSE;
}

static gboolean
is_member_of_any (const SmPeerCredentials *creds, GArray *gids)
{
  for (guint i = 0; i < gids->len; i++)
    if (is_member (creds, g_array_index (gids, gid_t, i)))
      return TRUE;
  return FALSE;
}

gboolean
sm_policy_check_peer (SmPolicy *self, const SmPeerCredentials *creds, GError **error)
{
  g_autofree char *who = NULL;

  g_return_val_if_fail (SM_IS_POLICY (self), FALSE);
  g_return_val_if_fail (creds != NULL, FALSE);

  if (self->allowed_uids->len == 0 && self->allowed_gids->len == 0)
    return TRUE;
  if (sm_policy_is_superuser (creds))
    return TRUE;

  if (creds->known)
    {
      for (guint i = 0; i < self->allowed_uids->len; i++)
        if (g_array_index (self->allowed_uids, uid_t, i) == creds->uid)
          return TRUE;
      if (is_member_of_any (creds, self->allowed_gids))
        return TRUE;
    }

  who = sm_peer_credentials_describe (creds);
  g_set_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED,
               "permission denied: %s may not register services here "
               "(not in --allow-user or --allow-group)",
               who);
  return FALSE;
}

gboolean
sm_policy_check_port (SmPolicy                *self,
                      const SmPeerCredentials *creds,
                      guint16                  number,
                      GError                 **error)
{
  gid_t gid;

  g_return_val_if_fail (SM_IS_POLICY (self), FALSE);
  g_return_val_if_fail (creds != NULL, FALSE);

  if (number >= PRIVILEGED_PORT_LIMIT)
    return TRUE;
  if (creds->known && (creds->uid == 0 || creds->uid == self->daemon_uid))
    return TRUE;
  if (lookup_group (self->privileged_group, &gid) && is_member (creds, gid))
    return TRUE;

  g_set_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED,
               "permission denied: port %u needs root or group %s", number, self->privileged_group);
  return FALSE;
}

gboolean
sm_policy_needs_token (SmPolicy *self, const SmPeerCredentials *creds)
{
  g_return_val_if_fail (SM_IS_POLICY (self), FALSE);
  g_return_val_if_fail (creds != NULL, FALSE);

  return self->token != NULL && !creds->is_unix;
}

gboolean
sm_policy_check_token (SmPolicy *self, const char *token, GError **error)
{
  g_return_val_if_fail (SM_IS_POLICY (self), FALSE);

  if (self->token == NULL)
    return TRUE;

  if (token == NULL)
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_UNAUTHORIZED,
                           "unauthorized: this daemon requires a token from TCP peers");
      return FALSE;
    }
  if (!sm_token_equal (self->token, token, strlen (token)))
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_UNAUTHORIZED, "unauthorized: wrong token");
      return FALSE;
    }
  return TRUE;
}
