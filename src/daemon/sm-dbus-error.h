/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-error.h"

G_BEGIN_DECLS

/* D-Bus error names are this prefix and the code's name, e.g.
 * "org.socketmaster.Error.GoingAway" for SM_ERROR_GOING_AWAY */
#define SM_DBUS_ERROR_PREFIX "org.socketmaster.Error."

/* The SM_ERROR quark, after registering its D-Bus error names: a GError of
 * that domain returned by a method reaches the caller under its name, and
 * comes back as the same GError to a GDBus caller that registered it too.
 * Registration happens once; call this before the first method call. */
GQuark sm_dbus_error_quark (void);

G_END_DECLS
