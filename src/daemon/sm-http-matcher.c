/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-http-matcher.h"
#include "sm-http-parser.h"

typedef struct
{
  char  *domain_suffix; /* lowercased: hosts match case-insensitively */
  char  *path_prefix;
  gint64 left_at;
} RecentDefinition;

struct _SmHttpMatcher
{
  gint64      hold_us;
  GQueue      recent;      /* RecentDefinition, oldest first */
  GHashTable *last_picked; /* SmRoute * (not owned) -> pick number */
  gsize       n_picks;
};

static const char *
domain_of (SmRoute *route)
{
  const char *domain = sm_socket_definition_get_domain_suffix (sm_route_get_definition (route));

  return domain != NULL ? domain : "";
}

static const char *
prefix_of (SmRoute *route)
{
  const char *prefix = sm_socket_definition_get_path_prefix (sm_route_get_definition (route));

  return prefix != NULL ? prefix : "";
}

static void
recent_definition_free (RecentDefinition *recent)
{
  g_free (recent->domain_suffix);
  g_free (recent->path_prefix);
  g_free (recent);
}

static gboolean
same_definition (RecentDefinition *recent, SmRoute *route)
{
  return g_ascii_strcasecmp (recent->domain_suffix, domain_of (route)) == 0 &&
         strcmp (recent->path_prefix, prefix_of (route)) == 0;
}

static void
forget_definition (SmHttpMatcher *self, SmRoute *route)
{
  GList *l = self->recent.head;

  while (l != NULL)
    {
      GList *next = l->next;

      if (same_definition (l->data, route))
        {
          recent_definition_free (l->data);
          g_queue_delete_link (&self->recent, l);
        }
      l = next;
    }
}

static void
expire_recent (SmHttpMatcher *self, gint64 now)
{
  RecentDefinition *oldest;

  while ((oldest = g_queue_peek_head (&self->recent)) != NULL &&
         now - oldest->left_at >= self->hold_us)
    recent_definition_free (g_queue_pop_head (&self->recent));
}

/* @host ends with @suffix at a label boundary: equal, or preceded by a dot
 * (a suffix given with its leading dot brings its own boundary) */
static gboolean
domain_matches (const char *host, const char *suffix)
{
  gsize       host_len = strlen (host);
  gsize       suffix_len = strlen (suffix);
  const char *tail;

  if (suffix_len == 0)
    return TRUE;
  if (suffix_len > host_len)
    return FALSE;
  tail = host + host_len - suffix_len;
  if (g_ascii_strcasecmp (tail, suffix) != 0)
    return FALSE;
  return tail == host || suffix[0] == '.' || tail[-1] == '.';
}

gboolean
sm_http_match (const char *host,
               const char *path,
               const char *domain_suffix,
               const char *path_prefix)
{
  host = host != NULL ? host : "";
  path = path != NULL ? path : "";
  domain_suffix = domain_suffix != NULL ? domain_suffix : "";
  path_prefix = path_prefix != NULL ? path_prefix : "";

  return domain_matches (host, domain_suffix) && g_str_has_prefix (path, path_prefix);
}

gboolean
sm_http_domain_covers (const char *suffix, const char *host_or_suffix)
{
  suffix = suffix != NULL ? suffix : "";
  host_or_suffix = host_or_suffix != NULL ? host_or_suffix : "";

  /* "" matches every host, so only "" covers it; otherwise what
   * @host_or_suffix matches is itself and names under it, which @suffix
   * covers exactly when it matches @host_or_suffix as a host */
  if (*host_or_suffix == '\0')
    return *suffix == '\0';
  return domain_matches (host_or_suffix, suffix);
}

gboolean
sm_http_path_covers (const char *prefix, const char *path_or_prefix)
{
  return sm_http_match (NULL, path_or_prefix, NULL, prefix);
}

static int
compare_longer_first (const char *a, const char *b)
{
  gsize len_a = a != NULL ? strlen (a) : 0;
  gsize len_b = b != NULL ? strlen (b) : 0;

  return len_a > len_b ? -1 : len_a < len_b ? 1 : 0;
}

int
sm_http_route_compare (const char *domain_suffix_a,
                       const char *path_prefix_a,
                       const char *domain_suffix_b,
                       const char *path_prefix_b)
{
  int by_domain = compare_longer_first (domain_suffix_a, domain_suffix_b);

  if (by_domain != 0)
    return by_domain;
  return compare_longer_first (path_prefix_a, path_prefix_b);
}

SmHttpMatcher *
sm_http_matcher_new (gint64 hold_us)
{
  SmHttpMatcher *self = g_new0 (SmHttpMatcher, 1);

  self->hold_us = hold_us;
  g_queue_init (&self->recent);
  self->last_picked = g_hash_table_new (g_direct_hash, g_direct_equal);

  return self;
}

void
sm_http_matcher_free (SmHttpMatcher *self)
{
  if (self == NULL)
    return;

  g_queue_clear_full (&self->recent, (GDestroyNotify) recent_definition_free);
  g_hash_table_unref (self->last_picked);
  g_free (self);
}

void
sm_http_matcher_route_added (SmHttpMatcher *self, SmRoute *route)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (SM_IS_ROUTE (route));

  forget_definition (self, route);
}

void
sm_http_matcher_route_removed (SmHttpMatcher *self, SmRoute *route, gint64 now)
{
  RecentDefinition *recent;

  g_return_if_fail (self != NULL);
  g_return_if_fail (SM_IS_ROUTE (route));

  g_hash_table_remove (self->last_picked, route);

  /* One record per definition, kept in the order they left */
  forget_definition (self, route);
  recent = g_new0 (RecentDefinition, 1);
  recent->domain_suffix = g_ascii_strdown (domain_of (route), -1);
  recent->path_prefix = g_strdup (prefix_of (route));
  recent->left_at = now;
  g_queue_push_tail (&self->recent, recent);
}

/* Pick numbers live in the table's values; on 32-bit hosts they wrap
 * after 2^32 picks, which only reorders one turn */
static gsize
get_last_picked (SmHttpMatcher *self, SmRoute *route)
{
  return GPOINTER_TO_SIZE (g_hash_table_lookup (self->last_picked, route));
}

static void
set_last_picked (SmHttpMatcher *self, SmRoute *route, gsize pick)
{
  g_hash_table_insert (self->last_picked, route, GSIZE_TO_POINTER (pick));
}

SmHttpMatch
sm_http_matcher_match (SmHttpMatcher *self,
                       GPtrArray     *routes,
                       const char    *host,
                       const char    *path,
                       gint64         now,
                       SmRoute      **out_route)
{
  SmRoute *best = NULL;
  SmRoute *best_gone = NULL;
  gsize    best_pick = 0;

  g_return_val_if_fail (self != NULL, SM_HTTP_MATCH_NONE);
  g_return_val_if_fail (routes != NULL, SM_HTTP_MATCH_NONE);
  g_return_val_if_fail (out_route != NULL, SM_HTTP_MATCH_NONE);

  *out_route = NULL;
  expire_recent (self, now);

  for (guint i = 0; i < routes->len; i++)
    {
      SmRoute *route = g_ptr_array_index (routes, i);
      int      order;
      gsize    pick;

      if (!sm_http_match (host, path, domain_of (route), prefix_of (route)))
        continue;

      /* Gone, and the port was not told yet (a session that failed ends
       * from an idle): a service that left a moment ago */
      if (sm_route_is_gone (route))
        {
          if (best_gone == NULL ||
              sm_http_route_compare (domain_of (route), prefix_of (route), domain_of (best_gone),
                                     prefix_of (best_gone)) < 0)
            best_gone = route;
          continue;
        }

      pick = get_last_picked (self, route);
      if (best == NULL)
        {
          best = route;
          best_pick = pick;
          continue;
        }

      /* Equal rank on the same request means the same definition: take
       * turns, the earlier registration first on a tie */
      order = sm_http_route_compare (domain_of (route), prefix_of (route), domain_of (best),
                                     prefix_of (best));
      if (order < 0 || (order == 0 && pick < best_pick))
        {
          best = route;
          best_pick = pick;
        }
    }

  /* A service that left is awaited only when it would rank first: a worse
   * match answering meanwhile would be a wrong answer, not a fallback */
  if (best_gone != NULL &&
      (best == NULL || sm_http_route_compare (domain_of (best_gone), prefix_of (best_gone),
                                              domain_of (best), prefix_of (best)) < 0))
    return SM_HTTP_MATCH_WAIT;
  for (GList *l = self->recent.head; l != NULL; l = l->next)
    {
      RecentDefinition *recent = l->data;

      if (!sm_http_match (host, path, recent->domain_suffix, recent->path_prefix))
        continue;
      if (best == NULL || sm_http_route_compare (recent->domain_suffix, recent->path_prefix,
                                                 domain_of (best), prefix_of (best)) < 0)
        return SM_HTTP_MATCH_WAIT;
    }

  if (best == NULL)
    return SM_HTTP_MATCH_NONE;

  set_last_picked (self, best, ++self->n_picks);
  *out_route = best;
  return SM_HTTP_MATCH_FOUND;
}

guint
sm_http_matcher_get_n_recent (SmHttpMatcher *self, gint64 now)
{
  g_return_val_if_fail (self != NULL, 0);

  expire_recent (self, now);
  return self->recent.length;
}
