/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * SmLinkGroup: a service's registrations with one or more daemons (behind a
 * balancer, a service registers with each daemon), one SmControlLink per
 * daemon, each reconnecting on its own. The owner (SmListener) sees one
 * registration: started, closed and aborted as a whole, connected while
 * any daemon is, lost once none is left. A daemon that is away while
 * another one serves (it was down at the start, or its link gave up) is
 * registered with again in the background, waiting longer each time, until
 * it is back. Internal to the client library.
 */

#include <gio/gio.h>
#include "sm-extension-handshake.h"
#include "sm-yamux-session.h"
#include "sm-yamux-stream.h"

G_BEGIN_DECLS

#define SM_TYPE_LINK_GROUP (sm_link_group_get_type ())
G_DECLARE_FINAL_TYPE (SmLinkGroup, sm_link_group, SM, LINK_GROUP, GObject)

typedef struct
{
  /* Any daemon opened @stream: keep a reference to keep it, reset it if it
   * is not wanted. @proxy_protocol: the version of the PROXY header it
   * starts with (what that registration asked for), 0 for none. */
  void (*incoming) (SmYamuxStream *stream, guint proxy_protocol, gpointer owner);
  /* No daemon is left: every link gave up reconnecting */
  void (*lost) (const GError *error, gpointer owner);
  /* sm_link_group_is_connected() changed */
  void (*connected_changed) (gpointer owner);
  /* One daemon's session ended: the streams it opened are dead */
  void (*session_ended) (gpointer owner);
} SmLinkGroupEvents;

/* Runs in the thread-default main context of the calling thread. Set the
 * definition and the addresses before starting. @events (static) go to
 * @owner until sm_link_group_disown(). */
SmLinkGroup  *sm_link_group_new (const SmLinkGroupEvents *events, gpointer owner);
void          sm_link_group_disown (SmLinkGroup *self);
GMainContext *sm_link_group_get_context (SmLinkGroup *self);

/* Once. @control_addresses: one per daemon ("host:port", "[v6]:port",
 * "unix:/path"); NULL or empty: $SOCKETMASTER_ADDRESS, a comma-separated
 * list, else SM_DEFAULT_CONTROL_ADDRESS */
void sm_link_group_set_control_addresses (SmLinkGroup *self, const char *const *control_addresses);
const char *const  *sm_link_group_get_control_addresses (SmLinkGroup *self);
/* Splits a comma-separated list of addresses, blanks around them ignored;
 * NULL when it holds none */
char              **sm_link_group_split_addresses (const char *list);

/* The request each registration sends (the definition is copied; token,
 * name and proxy_protocol may change at any time and are used from the
 * next registration on); call sm_link_group_update_request() after
 * changing it */
SmExtensionRequest *sm_link_group_get_request (SmLinkGroup *self);
void                sm_link_group_update_request (SmLinkGroup *self);

/* Registers with every daemon at once and completes when each one has
 * answered or failed: with success if any accepted and none refused
 * (those that failed are tried again in the background), else with a
 * refusal (sm_listener_error_is_refusal()), an invalid address, or the
 * first failure. A refusal or a bad address stops the others. */
void                sm_link_group_start_async (SmLinkGroup        *self,
                                               GCancellable       *cancellable,
                                               GAsyncReadyCallback callback,
                                               gpointer            user_data);
gboolean sm_link_group_start_finish (SmLinkGroup *self, GAsyncResult *result, GError **error);
/* Closes every link (see sm_control_link_close_async()) */
void     sm_link_group_close_async (SmLinkGroup        *self,
                                    GCancellable       *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer            user_data);
gboolean sm_link_group_close_finish (SmLinkGroup *self, GAsyncResult *result, GError **error);
void     sm_link_group_abort (SmLinkGroup *self);

gboolean sm_link_group_is_connected (SmLinkGroup *self);
/* Seconds each link keeps retrying after its session ends */
void     sm_link_group_set_reconnect_timeout (SmLinkGroup *self, double seconds);
double   sm_link_group_get_reconnect_timeout (SmLinkGroup *self);
/* Counters of the current sessions, added up */
void     sm_link_group_get_yamux_stats (SmLinkGroup *self, SmYamuxStats *stats);

G_END_DECLS
