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
 * @SM_ERROR_UNSUPPORTED: the request uses a feature the peer does not know
 * @SM_ERROR_UNAUTHORIZED: the token is missing or wrong
 * @SM_ERROR_ROUTE_OWNED: another user holds the route, or would be shadowed
 *   by it
 * @SM_ERROR_LIMIT: a resource limit of the daemon is reached
 *
 * Policy refusals (a port or route this peer may not take) use
 * @SM_ERROR_PERMISSION_DENIED; @SM_ERROR_CONFLICT is a mode conflict and
 * @SM_ERROR_TLS a bad certificate.
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
  SM_ERROR_UNSUPPORTED,
  SM_ERROR_UNAUTHORIZED,
  SM_ERROR_ROUTE_OWNED,
  SM_ERROR_LIMIT,
} SmError;

GQuark sm_error_quark (void);

G_END_DECLS
