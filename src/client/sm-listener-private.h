/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Internal to the project (tests, interop checks): not exported by
 * libsocketmaster. Link the "smclient" static library to use it.
 */

#include "sm-listener.h"
#include "sm-yamux-session.h"

G_BEGIN_DECLS

/* Counters of the current control session; all zero while disconnected */
void sm_listener_get_yamux_stats (SmListener *self, SmYamuxStats *stats);

G_END_DECLS
