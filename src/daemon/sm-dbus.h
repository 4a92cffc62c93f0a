/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-bus-names.h"
#include "sm-registry.h"

G_BEGIN_DECLS

/* Counters are read this often; PropertiesChanged carries only what changed
 * since the last reading, so no object emits more often than this whatever
 * the load. */
#define SM_DBUS_REFRESH_SECONDS 1

/**
 * SmDbus:
 *
 * Publishes the state of an #SmRegistry on D-Bus (org.socketmaster.xml):
 * the Manager at /org/socketmaster, and through the ObjectManager there a
 * Port object per public listener and a Route object per registered
 * service, added and removed as the registry changes.
 *
 * It only observes: the proxy never waits for the bus, and a missing bus or
 * a taken name is logged while the daemon carries on.
 */
#define SM_TYPE_DBUS (sm_dbus_get_type ())
G_DECLARE_FINAL_TYPE (SmDbus, sm_dbus, SM, DBUS, GObject)

/* @control_address: where services connect, "HOST:PORT" */
SmDbus *sm_dbus_new (SmRegistry *registry, const char *control_address);

/* Connects to @bus_type, exports the objects and asks for SM_DBUS_NAME
 * (taking it over from another owner if @replace). Asynchronous; failures
 * are logged, never fatal. Call once. */
void    sm_dbus_own_name (SmDbus *self, GBusType bus_type, gboolean replace);

/* Manager.Upgrade(): starts the upgrade, or says why not */
typedef gboolean (*SmDbusUpgradeFunc) (gpointer user_data, GError **error);
void     sm_dbus_set_upgrade_func (SmDbus *self, SmDbusUpgradeFunc func, gpointer user_data);
/* Whether SM_DBUS_NAME is ours right now */
gboolean sm_dbus_is_name_owned (SmDbus *self);

G_END_DECLS
