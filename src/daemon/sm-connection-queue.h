/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Public connections of one port waiting, unread, for a service (raw TCP),
 * or for the port's first certificate (any mode), oldest first. Each waits
 * at most the hold timeout, then it is closed; when @max_length already
 * wait, a new one is closed at once (with a rate-limited warning). The
 * port takes them out as it can serve them.
 */

typedef struct _SmConnectionQueue SmConnectionQueue;

/* @name: the port, for messages */
SmConnectionQueue *sm_connection_queue_new (const char *name, gint64 hold_us, guint max_length);
/* For the connections pushed from now on */
void               sm_connection_queue_set_max_length (SmConnectionQueue *self, guint max_length);
/* Closes the connections still waiting, then frees */
void               sm_connection_queue_free (SmConnectionQueue *self);

/* @connection: the public connection, or a TLS stream over it; @client
 * may be NULL. Takes references. */
void
sm_connection_queue_push (SmConnectionQueue *self, GIOStream *connection, GSocketAddress *client);
/* The oldest, still queued (transfer none); FALSE when none waits */
gboolean sm_connection_queue_peek (SmConnectionQueue *self,
                                   GIOStream        **out_connection,
                                   GSocketAddress   **out_client);
/* Forgets the oldest without closing it: the caller took it over */
void     sm_connection_queue_pop (SmConnectionQueue *self);
/* Closes every waiting connection */
void     sm_connection_queue_drop_all (SmConnectionQueue *self);
guint    sm_connection_queue_get_length (SmConnectionQueue *self);

typedef void (*SmConnectionQueueFunc) (GSocketAddress *client,
                                       gint64          queued_at,
                                       gpointer        user_data);

/* Oldest first; @func must not change the queue */
void sm_connection_queue_foreach (SmConnectionQueue    *self,
                                  SmConnectionQueueFunc func,
                                  gpointer              user_data);

G_END_DECLS
