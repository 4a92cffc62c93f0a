/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Bounds what unfinished handshakes (TLS, control) can hold, so that a
 * flood from one source cannot lock the others out: at most
 * @max_per_source pending from one source (see sm_address_source_key()),
 * at most @max_total in all.
 *
 * A new handshake from a source at its limit takes the place of that
 * source's oldest silent one (nothing received yet), or is refused when
 * none is silent. A new handshake when all the room is taken takes the
 * place of the oldest silent one overall, or else of the one whose peer
 * sent something the longest ago: the new one is never refused because of
 * other sources.
 *
 * Pure bookkeeping, no I/O: the owner drops what it is told to drop.
 */

#include <glib.h>

G_BEGIN_DECLS

#define SM_SOURCE_LIMIT_DEFAULT_MAX_PER_SOURCE 64

typedef struct _SmSourceLimit  SmSourceLimit;
typedef struct _SmSourceTicket SmSourceTicket;

/* Drop the handshake now. Its ticket is no longer counted; the owner still
 * frees it with sm_source_ticket_release(). Called from
 * sm_source_limit_admit(), which must not be called from here. */
typedef void (*SmSourceEvictFunc) (gpointer user_data);

/* @what: "TLS handshakes on *:443", for messages */
SmSourceLimit *sm_source_limit_new (const char *what, guint max_total, guint max_per_source);
/* Tickets still held are no longer counted (they can still be released) */
void           sm_source_limit_free (SmSourceLimit *self);
/* Takes effect for the next admission */
void           sm_source_limit_set_max (SmSourceLimit *self, guint max_total, guint max_per_source);
guint          sm_source_limit_get_n_pending (SmSourceLimit *self);
guint          sm_source_limit_get_n_from (SmSourceLimit *self, const char *key);

/* Counts one more pending handshake from @key, dropping another one first
 * if needed (@evict of its owner is called). NULL: refused, @key has
 * @max_per_source pending and none of them is silent. */
SmSourceTicket *sm_source_limit_admit (SmSourceLimit    *self,
                                       const char       *key,
                                       SmSourceEvictFunc evict,
                                       gpointer          user_data);

/* The peer sent something: no longer silent, and the last to be dropped */
void            sm_source_ticket_progress (SmSourceTicket *ticket);
/* The handshake is over (or was dropped); NULL is ignored */
void            sm_source_ticket_release (SmSourceTicket *ticket);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmSourceLimit, sm_source_limit_free)

G_END_DECLS
