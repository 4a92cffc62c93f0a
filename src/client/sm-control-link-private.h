/* SPDX-License-Identifier: MIT */
#pragma once

/* SmControlLink's insides, shared by sm-control-link.c and
 * sm-control-link-register.c (registering, retrying and reconnecting) */

#include "sm-control-link.h"

G_BEGIN_DECLS

/* The daemon drops handshakes slower than this too (docs/PROTOCOL.md §3) */
#define HANDSHAKE_TIMEOUT_MS     10000
#define RECONNECT_FIRST_DELAY_MS 50
#define RECONNECT_MAX_DELAY_MS   1000

typedef enum
{
  SM_CONTROL_LINK_IDLE,     /* not started, or start failed */
  SM_CONTROL_LINK_STARTING, /* first registration in progress */
  SM_CONTROL_LINK_CONNECTED,
  SM_CONTROL_LINK_RECONNECTING, /* lost the daemon, retrying */
  SM_CONTROL_LINK_CLOSING,      /* GoAway sent, waiting for streams */
  SM_CONTROL_LINK_CLOSED,
  SM_CONTROL_LINK_LOST, /* gave up reconnecting */
} SmControlLinkState;

struct _SmControlLink
{
  GObject                    parent_instance;

  const SmControlLinkEvents *events; /* NULL once disowned */
  gpointer                   owner;
  GMainContext              *context;
  char                      *control_address;
  SmExtensionRequest        *request; /* its definition is NULL until set */
  double                     reconnect_timeout;

  SmControlLinkState         state;
  gboolean                   connected;

  /* the registration in progress, if any */
  GCancellable              *attempt_cancellable;
  GSource                   *attempt_timeout_source;
  GTask                     *start_task;
  GSource                   *start_cancel_source;

  SmYamuxSession            *session;
  /* sessions the daemon sent GoAway on, kept until their streams are done
   * and it closes them, while we register again (an upgrade's successor) */
  GPtrArray                 *old_sessions;
  guint                      attempt_proxy_protocol; /* asked for by the attempt */
  guint                      session_proxy_protocol; /* and by the session's */

  gint64                     lost_at_us;
  guint                      retry_delay_ms;
  GSource                   *retry_source;
  GError                    *last_error; /* why the session or last attempt failed */

  GTask                     *close_task;
  GSource                   *close_cancel_source;
  GSource                   *drained_source;
};

/* sm-control-link.c */
/* Attaches @source to the link's context, @func called with the link */
GSource *sm_control_link_add_source (SmControlLink *self,
                                     GSource       *source,
                                     GSourceFunc    func,
                                     const char    *name);
void     sm_control_link_set_connected (SmControlLink *self, gboolean connected);
/* Serves the yamux session of a connection that just registered */
void
sm_control_link_set_session (SmControlLink *self, GSocketConnection *connection, GBytes *leftover);

/* sm-control-link-register.c */
void sm_control_link_begin_attempt (SmControlLink *self, guint timeout_ms);
/* Cancels the attempt in progress, if any, without reporting it */
void sm_control_link_abandon_attempt (SmControlLink *self);
/* The session is gone (@error: why, NULL after GoAway): registers again
 * within the reconnect timeout */
void sm_control_link_reconnect (SmControlLink *self, const GError *error);

G_END_DECLS
