/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <gio/gio.h>

#include "sm-bus-names.h"
#include "sm-error.h"

static const GDBusErrorEntry sm_error_entries[] = {
  { SM_ERROR_FAILED, SM_DBUS_ERROR_PREFIX "Failed" },
  { SM_ERROR_PROTOCOL, SM_DBUS_ERROR_PREFIX "Protocol" },
  { SM_ERROR_TOO_LARGE, SM_DBUS_ERROR_PREFIX "TooLarge" },
  { SM_ERROR_INVALID_ARGUMENT, SM_DBUS_ERROR_PREFIX "InvalidArgument" },
  { SM_ERROR_TIMED_OUT, SM_DBUS_ERROR_PREFIX "TimedOut" },
  { SM_ERROR_ADDRESS_IN_USE, SM_DBUS_ERROR_PREFIX "AddressInUse" },
  { SM_ERROR_PERMISSION_DENIED, SM_DBUS_ERROR_PREFIX "PermissionDenied" },
  { SM_ERROR_ADDRESS_NOT_AVAILABLE, SM_DBUS_ERROR_PREFIX "AddressNotAvailable" },
  { SM_ERROR_CONFLICT, SM_DBUS_ERROR_PREFIX "Conflict" },
  { SM_ERROR_TLS, SM_DBUS_ERROR_PREFIX "Tls" },
  { SM_ERROR_CLOSED, SM_DBUS_ERROR_PREFIX "Closed" },
  { SM_ERROR_GOING_AWAY, SM_DBUS_ERROR_PREFIX "GoingAway" },
  { SM_ERROR_REJECTED, SM_DBUS_ERROR_PREFIX "Rejected" },
  { SM_ERROR_UNSUPPORTED, SM_DBUS_ERROR_PREFIX "Unsupported" },
  { SM_ERROR_UNAUTHORIZED, SM_DBUS_ERROR_PREFIX "Unauthorized" },
  { SM_ERROR_ROUTE_OWNED, SM_DBUS_ERROR_PREFIX "RouteOwned" },
  { SM_ERROR_LIMIT, SM_DBUS_ERROR_PREFIX "Limit" },
};

/* A new SmError code must get a D-Bus name here */
G_STATIC_ASSERT (G_N_ELEMENTS (sm_error_entries) == SM_ERROR_LIMIT + 1);

/* Registered as a D-Bus error domain, so that a GError of this domain
 * returned by a method reaches a caller under its D-Bus name and comes
 * back as the same GError to a GDBus caller. */
GQuark
sm_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("sm-error-quark", &quark, sm_error_entries,
                                      G_N_ELEMENTS (sm_error_entries));
  return (GQuark) quark;
}
