/* SPDX-License-Identifier: MIT */
#pragma once

#include "sm-connection-queue.h"
#include "sm-http-router.h"
#include "sm-port.h"

G_BEGIN_DECLS

/* sm_port_foreach_waiting() over a port's queue of raw connections and its
 * router's waiting requests (@router may be NULL) */
void sm_port_waiting_foreach (SmConnectionQueue *queued,
                              SmHttpRouter      *router,
                              SmPortWaitingFunc  func,
                              gpointer           user_data);

G_END_DECLS
