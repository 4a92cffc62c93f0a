/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <pwd.h>
#include <string.h>

#include "sm-error.h"
#include "sm-http-matcher.h"
#include "sm-policy.h"
#include "sm-route-claims.h"

typedef struct
{
  guint32  owner;
  gboolean http;
  char    *domain_suffix; /* lower case */
  char    *path_prefix;
  guint    n_routes; /* services serving it now */
  gint64   left_at;  /* when n_routes last dropped to 0 */
} Claim;

struct _SmRouteClaims
{
  gint64     hold_us;
  GPtrArray *claims; /* Claim */
};

static void
claim_free (Claim *claim)
{
  g_free (claim->domain_suffix);
  g_free (claim->path_prefix);
  g_free (claim);
}

SmRouteClaims *
sm_route_claims_new (gint64 hold_us)
{
  SmRouteClaims *self = g_new0 (SmRouteClaims, 1);

  self->hold_us = hold_us;
  self->claims = g_ptr_array_new_with_free_func ((GDestroyNotify) claim_free);
  return self;
}

void
sm_route_claims_free (SmRouteClaims *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->claims);
  g_free (self);
}

static char *
describe_owner (guint32 owner)
{
  struct passwd pw, *result = NULL;
  char          buffer[1024];

  if (owner == SM_POLICY_OWNER_UNKNOWN)
    return g_strdup ("an unidentified peer");
  if (getpwuid_r (owner, &pw, buffer, sizeof buffer, &result) == 0 && result != NULL)
    return g_strdup_printf ("uid %u (%s)", owner, pw.pw_name);
  return g_strdup_printf ("uid %u", owner);
}

static gboolean
domains_overlap (const char *a, const char *b)
{
  return sm_http_domain_covers (a, b) || sm_http_domain_covers (b, a);
}

static gboolean
paths_overlap (const char *a, const char *b)
{
  return sm_http_path_covers (a, b) || sm_http_path_covers (b, a);
}

/* A certificate name ("*.example.com" or a host) names a host the route
 * serves: its wildcard covers the route's suffix, or the route's suffix
 * covers the name */
static gboolean
name_is_served (const char *name, const char *domain_suffix)
{
  if (g_str_has_prefix (name, "*."))
    return domains_overlap (name + 2, domain_suffix);
  return sm_http_domain_covers (domain_suffix, name);
}

static gboolean
is_alive (SmRouteClaims *self, Claim *claim, gint64 now)
{
  return claim->n_routes > 0 || now - claim->left_at < self->hold_us;
}

static char *
describe_route (const char *domain_suffix, const char *path_prefix)
{
  return g_strdup_printf ("%s%s", *domain_suffix != '\0' ? domain_suffix : "(any host)",
                          *path_prefix != '\0' ? path_prefix : "/");
}

static gboolean
check_claim (Claim             *claim,
             guint16            number,
             gboolean           http,
             const char        *domain_suffix,
             const char        *path_prefix,
             const char *const *cert_names,
             gboolean           port_has_tls,
             GError           **error)
{
  g_autofree char *owner = describe_owner (claim->owner);
  g_autofree char *theirs = NULL;
  g_autofree char *ours = NULL;

  if (!http || !claim->http)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_ROUTE_OWNED, "route owned: port %u is held by %s",
                   number, owner);
      return FALSE;
    }

  if (cert_names != NULL && !port_has_tls)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED,
                   "permission denied: port %u serves plain HTTP for %s; "
                   "only they can make it a TLS port",
                   number, owner);
      return FALSE;
    }

  theirs = describe_route (claim->domain_suffix, claim->path_prefix);
  for (guint i = 0; cert_names != NULL && cert_names[i] != NULL; i++)
    if (name_is_served (cert_names[i], claim->domain_suffix))
      {
        g_set_error (error, SM_ERROR, SM_ERROR_ROUTE_OWNED,
                     "route owned: a certificate for %s cannot be added on port %u, "
                     "where %s serves %s",
                     cert_names[i], number, owner, theirs);
        return FALSE;
      }

  if (!domains_overlap (claim->domain_suffix, domain_suffix) ||
      !paths_overlap (claim->path_prefix, path_prefix))
    return TRUE;

  ours = describe_route (domain_suffix, path_prefix);
  if (g_ascii_strcasecmp (claim->domain_suffix, domain_suffix) == 0 &&
      strcmp (claim->path_prefix, path_prefix) == 0)
    g_set_error (error, SM_ERROR, SM_ERROR_ROUTE_OWNED, "route owned: %s on port %u belongs to %s",
                 ours, number, owner);
  else if (sm_http_domain_covers (claim->domain_suffix, domain_suffix) &&
           sm_http_path_covers (claim->path_prefix, path_prefix))
    g_set_error (error, SM_ERROR, SM_ERROR_ROUTE_OWNED,
                 "route owned: %s on port %u would shadow %s, which belongs to %s", ours, number,
                 theirs, owner);
  else
    g_set_error (error, SM_ERROR, SM_ERROR_ROUTE_OWNED,
                 "route owned: %s on port %u overlaps %s, which belongs to %s", ours, number,
                 theirs, owner);
  return FALSE;
}

gboolean
sm_route_claims_check (SmRouteClaims     *self,
                       guint16            number,
                       guint32            owner,
                       gboolean           http,
                       const char        *domain_suffix,
                       const char        *path_prefix,
                       const char *const *cert_names,
                       gboolean           port_has_tls,
                       gint64             now,
                       GError           **error)
{
  g_return_val_if_fail (self != NULL, FALSE);

  domain_suffix = domain_suffix != NULL ? domain_suffix : "";
  path_prefix = path_prefix != NULL ? path_prefix : "";

  for (guint i = 0; i < self->claims->len; i++)
    {
      Claim *claim = g_ptr_array_index (self->claims, i);

      if (claim->owner == owner || !is_alive (self, claim, now))
        continue;
      if (!check_claim (claim, number, http, domain_suffix, path_prefix, cert_names, port_has_tls,
                        error))
        return FALSE;
    }
  return TRUE;
}

static Claim *
find_claim (SmRouteClaims *self,
            guint32        owner,
            gboolean       http,
            const char    *domain_suffix,
            const char    *path_prefix)
{
  for (guint i = 0; i < self->claims->len; i++)
    {
      Claim *claim = g_ptr_array_index (self->claims, i);

      if (claim->owner == owner && claim->http == http &&
          g_ascii_strcasecmp (claim->domain_suffix, domain_suffix) == 0 &&
          strcmp (claim->path_prefix, path_prefix) == 0)
        return claim;
    }
  return NULL;
}

void
sm_route_claims_add (SmRouteClaims *self,
                     guint32        owner,
                     gboolean       http,
                     const char    *domain_suffix,
                     const char    *path_prefix)
{
  Claim *claim;

  g_return_if_fail (self != NULL);

  domain_suffix = domain_suffix != NULL ? domain_suffix : "";
  path_prefix = path_prefix != NULL ? path_prefix : "";

  claim = find_claim (self, owner, http, domain_suffix, path_prefix);
  if (claim == NULL)
    {
      claim = g_new0 (Claim, 1);
      claim->owner = owner;
      claim->http = http;
      claim->domain_suffix = g_ascii_strdown (domain_suffix, -1);
      claim->path_prefix = g_strdup (path_prefix);
      g_ptr_array_add (self->claims, claim);
    }
  claim->n_routes++;
}

void
sm_route_claims_remove (SmRouteClaims *self,
                        guint32        owner,
                        gboolean       http,
                        const char    *domain_suffix,
                        const char    *path_prefix,
                        gint64         now)
{
  Claim *claim;

  g_return_if_fail (self != NULL);

  domain_suffix = domain_suffix != NULL ? domain_suffix : "";
  path_prefix = path_prefix != NULL ? path_prefix : "";

  claim = find_claim (self, owner, http, domain_suffix, path_prefix);
  g_return_if_fail (claim != NULL && claim->n_routes > 0);

  if (--claim->n_routes == 0)
    claim->left_at = now;

  /* Expired claims go, so the list stays as long as the live routes */
  for (guint i = self->claims->len; i-- > 0;)
    {
      Claim *other = g_ptr_array_index (self->claims, i);

      if (!is_alive (self, other, now))
        g_ptr_array_remove_index_fast (self->claims, i);
    }
}
