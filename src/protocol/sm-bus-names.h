/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The names of the D-Bus interface (org.socketmaster.xml), in one place
 * for the daemon, socketmasterctl and the tests.
 */

#define SM_DBUS_NAME       "org.socketmaster"
#define SM_DBUS_PATH       "/org/socketmaster"
#define SM_DBUS_PORT_PATH  SM_DBUS_PATH "/port"
#define SM_DBUS_ROUTE_PATH SM_DBUS_PATH "/route"

#define SM_DBUS_MANAGER_IFACE SM_DBUS_NAME ".Manager"
#define SM_DBUS_PORT_IFACE    SM_DBUS_NAME ".Port"
#define SM_DBUS_ROUTE_IFACE   SM_DBUS_NAME ".Route"

/* D-Bus error names are this prefix and the SmError code's name, e.g.
 * "org.socketmaster.Error.GoingAway" for SM_ERROR_GOING_AWAY */
#define SM_DBUS_ERROR_PREFIX SM_DBUS_NAME ".Error."
