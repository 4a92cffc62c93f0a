/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * SmControlLink: a service's registration with the daemon, kept alive.
 * Connects and registers (sm-client-handshake), runs the yamux session
 * (server role), re-registers with backoff when the session ends without
 * being asked to, and drains on close. Internal to the client library:
 * its owner is SmLinkGroup (one link per daemon), which it tells what
 * happens through SmControlLinkEvents; SmListener is the public face.
 */

#include <gio/gio.h>
#include "sm-extension-handshake.h"
#include "sm-yamux-session.h"
#include "sm-yamux-stream.h"

G_BEGIN_DECLS

#define SM_TYPE_CONTROL_LINK (sm_control_link_get_type ())
G_DECLARE_FINAL_TYPE (SmControlLink, sm_control_link, SM, CONTROL_LINK, GObject)

typedef struct
{
  /* The daemon opened @stream while registered: keep a reference to keep
   * it, reset it if it is not wanted */
  void (*incoming) (SmYamuxStream *stream, gpointer owner);
  /* Reconnecting timed out; the link stays down */
  void (*lost) (const GError *error, gpointer owner);
  /* sm_control_link_is_connected() changed */
  void (*connected_changed) (gpointer owner);
  /* A session the daemon sent GoAway on ended after the link registered
   * again (queued streams of it are dead) */
  void (*old_session_ended) (gpointer owner);
} SmControlLinkEvents;

/* Runs in the thread-default main context of the calling thread. Set the
 * address and the definition before starting. @events (static) go to
 * @owner until sm_control_link_disown(). */
SmControlLink *sm_control_link_new (const SmControlLinkEvents *events, gpointer owner);
/* For the owner's dispose: no more events, and the registration ends */
void           sm_control_link_disown (SmControlLink *self);

void           sm_control_link_start_async (SmControlLink      *self,
                                            GCancellable       *cancellable,
                                            GAsyncReadyCallback callback,
                                            gpointer            user_data);
gboolean sm_control_link_start_finish (SmControlLink *self, GAsyncResult *result, GError **error);

/* GoAway, wait until no stream is left, disconnect. Cancelling disconnects
 * at once (G_IO_ERROR_CANCELLED). */
void     sm_control_link_close_async (SmControlLink      *self,
                                      GCancellable       *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer            user_data);
gboolean sm_control_link_close_finish (SmControlLink *self, GAsyncResult *result, GError **error);
void     sm_control_link_abort (SmControlLink *self);
/* Like abort, but the link may be started again: a start in progress fails
 * with SM_ERROR_CLOSED, a close in progress completes */
void     sm_control_link_stop (SmControlLink *self);

gboolean sm_control_link_is_connected (SmControlLink *self);
/* The session ended unasked and the link is registering again */
gboolean sm_control_link_is_reconnecting (SmControlLink *self);

/* @control_address: "host:port", "[v6]:port", "unix:/path"; initially
 * SM_DEFAULT_CONTROL_ADDRESS (SmLinkGroup reads the environment) */
void     sm_control_link_set_control_address (SmControlLink *self, const char *control_address);
const char *sm_control_link_get_control_address (SmControlLink *self);
/* @definition: copied; NULL (the initial value) makes start fail */
void sm_control_link_set_definition (SmControlLink *self, const SmSocketDefinition *definition);
/* What each registration asks for: the definition above, and a token, a
 * name and proxy_protocol the owner may change at any time (used from the next
 * registration on; see sm_client_handshake_async()) */
SmExtensionRequest *sm_control_link_get_request (SmControlLink *self);
/* The proxy_protocol of the request the current session registered with */
guint               sm_control_link_get_session_proxy_protocol (SmControlLink *self);
/* Seconds to keep retrying after the session ends; 0: give up at once */
void                sm_control_link_set_reconnect_timeout (SmControlLink *self, double seconds);
/* Counters of the current session; all zero while disconnected */
void                sm_control_link_get_yamux_stats (SmControlLink *self, SmYamuxStats *stats);

G_END_DECLS
