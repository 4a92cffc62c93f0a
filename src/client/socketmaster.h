/* SPDX-License-Identifier: MIT */
#pragma once

/* libsocketmaster: register a service with the socketmaster daemon and
 * receive its public connections as GIOStreams. */

#define SOCKETMASTER_INSIDE
#include "sm-error.h"
#include "sm-socket-definition.h"
#include "sm-listener.h"
#undef SOCKETMASTER_INSIDE
