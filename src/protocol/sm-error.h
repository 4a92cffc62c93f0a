/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SM_ERROR (sm_error_quark ())

/**
 * SmError:
 * @SM_ERROR_FAILED: anything else
 * @SM_ERROR_PROTOCOL: the peer sent bytes that break the wire protocol
 * @SM_ERROR_TOO_LARGE: a length from the network is over its limit
 * @SM_ERROR_INVALID_ARGUMENT: a well-formed request asks for something invalid
 *   (port 0, unknown flag bits)
 * @SM_ERROR_TIMED_OUT: the peer did not finish in time
 * @SM_ERROR_ADDRESS_IN_USE: another program holds the requested port
 * @SM_ERROR_PERMISSION_DENIED: binding the port needs privileges we lack
 * @SM_ERROR_ADDRESS_NOT_AVAILABLE: the requested address is not local
 * @SM_ERROR_CONFLICT: the request clashes with one of our own listeners
 * @SM_ERROR_TLS: certificate or key problem
 * @SM_ERROR_CLOSED: the session or stream is closed
 * @SM_ERROR_GOING_AWAY: the session no longer accepts new streams
 * @SM_ERROR_REJECTED: the daemon answered the handshake with a non-OK status
 *
 * Error codes of the #SM_ERROR domain.
 */
typedef enum
{
  SM_ERROR_FAILED,
  SM_ERROR_PROTOCOL,
  SM_ERROR_TOO_LARGE,
  SM_ERROR_INVALID_ARGUMENT,
  SM_ERROR_TIMED_OUT,
  SM_ERROR_ADDRESS_IN_USE,
  SM_ERROR_PERMISSION_DENIED,
  SM_ERROR_ADDRESS_NOT_AVAILABLE,
  SM_ERROR_CONFLICT,
  SM_ERROR_TLS,
  SM_ERROR_CLOSED,
  SM_ERROR_GOING_AWAY,
  SM_ERROR_REJECTED,
} SmError;

GQuark sm_error_quark (void);

G_END_DECLS
