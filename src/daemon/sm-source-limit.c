/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-rate-limit.h"
#include "sm-source-limit.h"

typedef struct
{
  char  *key;
  guint  n_pending;
  GQueue silent; /* its silent tickets, oldest first (source_link) */
} Source;

struct _SmSourceTicket
{
  SmSourceLimit    *limit; /* NULL once dropped or orphaned */
  Source           *source;
  gboolean          silent;
  GList             global_link; /* in limit->silent or limit->active */
  GList             source_link; /* in source->silent while silent */
  SmSourceEvictFunc evict;
  gpointer          user_data;
};

struct _SmSourceLimit
{
  char       *what;
  guint       max_total;
  guint       max_per_source;
  GHashTable *sources; /* key -> Source (owned) */
  GQueue      silent;  /* oldest first */
  GQueue      active;  /* least recently heard from first */
  SmRateLimit log_limit;
};

static void
source_free (Source *source)
{
  g_free (source->key);
  g_free (source);
}

SmSourceLimit *
sm_source_limit_new (const char *what, guint max_total, guint max_per_source)
{
  SmSourceLimit *self;

  g_return_val_if_fail (what != NULL, NULL);

  self = g_new0 (SmSourceLimit, 1);
  self->what = g_strdup (what);
  self->sources =
      g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) source_free);
  sm_rate_limit_init (&self->log_limit, 10 * G_USEC_PER_SEC, 5);
  sm_source_limit_set_max (self, max_total, max_per_source);

  return self;
}

static void
orphan_all (GQueue *queue)
{
  for (GList *l = queue->head; l != NULL; l = l->next)
    {
      SmSourceTicket *ticket = l->data;

      ticket->limit = NULL;
      ticket->source = NULL;
    }
}

void
sm_source_limit_free (SmSourceLimit *self)
{
  if (self == NULL)
    return;

  orphan_all (&self->silent);
  orphan_all (&self->active);
  g_hash_table_unref (self->sources);
  g_free (self->what);
  g_free (self);
}

void
sm_source_limit_set_max (SmSourceLimit *self, guint max_total, guint max_per_source)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (max_total > 0 && max_per_source > 0);

  self->max_total = max_total;
  self->max_per_source = max_per_source;
}

guint
sm_source_limit_get_n_pending (SmSourceLimit *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->silent.length + self->active.length;
}

guint
sm_source_limit_get_n_from (SmSourceLimit *self, const char *key)
{
  Source *source;

  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (key != NULL, 0);

  source = g_hash_table_lookup (self->sources, key);
  return source != NULL ? source->n_pending : 0;
}

/* No longer counted */
static void
ticket_unlink (SmSourceTicket *ticket)
{
  SmSourceLimit *self = ticket->limit;
  Source        *source = ticket->source;

  if (self == NULL)
    return;

  if (ticket->silent)
    {
      g_queue_unlink (&self->silent, &ticket->global_link);
      g_queue_unlink (&source->silent, &ticket->source_link);
    }
  else
    g_queue_unlink (&self->active, &ticket->global_link);

  ticket->limit = NULL;
  ticket->source = NULL;
  if (--source->n_pending == 0)
    g_hash_table_remove (self->sources, source->key);
}

static void
evict (SmSourceLimit *self, SmSourceTicket *victim, const char *why)
{
  sm_rate_limit_log (&self->log_limit, G_LOG_LEVEL_MESSAGE,
                     "%s: dropping a %s one from %s (%s, %u pending)", self->what,
                     victim->silent ? "silent" : "stalled", victim->source->key, why,
                     sm_source_limit_get_n_pending (self));
  ticket_unlink (victim);
  victim->evict (victim->user_data);
}

SmSourceTicket *
sm_source_limit_admit (SmSourceLimit    *self,
                       const char       *key,
                       SmSourceEvictFunc evict_func,
                       gpointer          user_data)
{
  SmSourceTicket *ticket;
  Source         *source;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (evict_func != NULL, NULL);

  source = g_hash_table_lookup (self->sources, key);
  if (source != NULL && source->n_pending >= self->max_per_source)
    {
      if (source->silent.head == NULL)
        {
          sm_rate_limit_log (&self->log_limit, G_LOG_LEVEL_MESSAGE,
                             "%s: refusing a connection from %s (%u pending from there)",
                             self->what, key, source->n_pending);
          return NULL;
        }
      evict (self, source->silent.head->data, "too many from there");
    }

  if (sm_source_limit_get_n_pending (self) >= self->max_total)
    {
      GList *oldest = self->silent.head != NULL ? self->silent.head : self->active.head;

      evict (self, oldest->data, "no room left");
    }

  /* Evicting may have removed it */
  source = g_hash_table_lookup (self->sources, key);
  if (source == NULL)
    {
      source = g_new0 (Source, 1);
      source->key = g_strdup (key);
      g_queue_init (&source->silent);
      g_hash_table_insert (self->sources, source->key, source);
    }

  ticket = g_new0 (SmSourceTicket, 1);
  ticket->limit = self;
  ticket->source = source;
  ticket->silent = TRUE;
  ticket->global_link.data = ticket;
  ticket->source_link.data = ticket;
  ticket->evict = evict_func;
  ticket->user_data = user_data;
  source->n_pending++;
  g_queue_push_tail_link (&self->silent, &ticket->global_link);
  g_queue_push_tail_link (&source->silent, &ticket->source_link);

  return ticket;
}

void
sm_source_ticket_progress (SmSourceTicket *ticket)
{
  SmSourceLimit *self;

  g_return_if_fail (ticket != NULL);

  self = ticket->limit;
  if (self == NULL)
    return;

  if (ticket->silent)
    {
      ticket->silent = FALSE;
      g_queue_unlink (&self->silent, &ticket->global_link);
      g_queue_unlink (&ticket->source->silent, &ticket->source_link);
    }
  else
    g_queue_unlink (&self->active, &ticket->global_link);

  g_queue_push_tail_link (&self->active, &ticket->global_link);
}

void
sm_source_ticket_release (SmSourceTicket *ticket)
{
  if (ticket == NULL)
    return;

  ticket_unlink (ticket);
  g_free (ticket);
}
