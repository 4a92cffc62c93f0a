/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers for the D-Bus tests: a private bus per test (a dbus-daemon of its
 * own, never the machine's), the daemon on it, synchronous reads of its
 * objects, waits driven by the daemon's own signals, and running
 * socketmasterctl. Services are sm-test-util.h's SmTestService.
 */

#include <gio/gio.h>

#include "sm-bus-names.h"
#include "sm-test-util.h"

G_BEGIN_DECLS


/* Waits on the bus and on processes */
#define SM_TEST_DBUS_WAIT_MS 30000

/* ---- A private bus and what the daemon signals on it ---- */

typedef enum {
  SM_TEST_BUS_SESSION,  /* anyone may own and call anything */
  SM_TEST_BUS_SYSTEM,   /* dbus's system bus defaults: denied unless a policy allows */
} SmTestBusType;

typedef struct {
  SmTestBusType    type;
  char            *dir;          /* the bus's configuration and socket */
  SmTestProcess   *process;      /* dbus-daemon, killed if the test dies */
  char            *address;
  char            *env[2];       /* DBUS_{SESSION,SYSTEM}_BUS_ADDRESS=address, NULL */
  GDBusConnection *connection;   /* the test's own connection */
  guint            subscription;
  guint            n_signals;    /* any signal from the daemon's objects */
  GPtrArray       *added;        /* object paths, InterfacesAdded */
  GPtrArray       *removed;      /* object paths, InterfacesRemoved */
  GHashTable      *n_changed;    /* object path -> PropertiesChanged count */
} SmTestBus;

/* Starts a session bus of the test's own; programs reach it through
 * sm_test_bus_env(), never the machine's buses */
SmTestBus  *sm_test_bus_new             (void);
/* A bus with the system bus's default policy and @policy_path included */
SmTestBus  *sm_test_bus_new_system      (const char   *policy_path);
/* Stops the bus */
void        sm_test_bus_free            (SmTestBus    *bus);
/* For programs that must use @bus: { "DBUS_..._BUS_ADDRESS=...", NULL } */
const char * const *sm_test_bus_env     (SmTestBus    *bus);

/* The unique name owning @name, or NULL */
char       *sm_test_bus_get_owner       (SmTestBus    *bus,
                                         const char   *name);
/* Until @name has an owner other than @not_this_owner (may be NULL);
 * returns it */
char       *sm_test_bus_wait_for_owner  (SmTestBus    *bus,
                                         const char   *name,
                                         const char   *not_this_owner);

typedef gboolean (*SmTestBusCheck) (SmTestBus *bus,
                                    gpointer   data);
/* Checks now and after every signal from the daemon; fails on timeout */
void        sm_test_bus_wait            (SmTestBus      *bus,
                                         SmTestBusCheck  check,
                                         gpointer        data,
                                         const char     *what);

/* Synchronous calls to the owner of org.socketmaster */
GVariant   *sm_test_bus_call            (SmTestBus          *bus,
                                         const char         *path,
                                         const char         *interface,
                                         const char         *method,
                                         GVariant           *parameters,
                                         const GVariantType *reply_type,
                                         GError            **error);
/* A property, or NULL if the object or property does not exist */
GVariant   *sm_test_bus_get             (SmTestBus    *bus,
                                         const char   *path,
                                         const char   *interface,
                                         const char   *name);
/* All properties of @interface on @path (a{sv}), or NULL */
GVariant   *sm_test_bus_get_all         (SmTestBus    *bus,
                                         const char   *path,
                                         const char   *interface);
guint64     sm_test_bus_get_uint        (SmTestBus    *bus,
                                         const char   *path,
                                         const char   *interface,
                                         const char   *name);
/* Waits until an unsigned property equals @value */
void        sm_test_bus_wait_uint       (SmTestBus    *bus,
                                         const char   *path,
                                         const char   *interface,
                                         const char   *name,
                                         guint64       value);
/* GetManagedObjects: object path -> a{sa{sv}} (owned by the table) */
GHashTable *sm_test_bus_get_objects     (SmTestBus    *bus);
guint       sm_test_bus_count_removed   (SmTestBus    *bus,
                                         const char   *path);
guint       sm_test_bus_count_changed   (SmTestBus    *bus,
                                         const char   *path);

/* The Port object listening on @port, or NULL */
char       *sm_test_bus_find_port       (SmTestBus    *bus,
                                         guint16       port);
/* The Route object of the service whose control connection is @peer */
char       *sm_test_bus_find_route      (SmTestBus    *bus,
                                         const char   *peer);
/* The Routes of the Port object at @port_path, or NULL */
char      **sm_test_bus_get_port_routes (SmTestBus    *bus,
                                         const char   *port_path);
/* Until a Port object for @port lists @n_routes routes; returns its path */
char       *sm_test_bus_wait_for_port   (SmTestBus    *bus,
                                         guint16       port,
                                         guint         n_routes);

/* The daemon on @bus (--session-bus or --system-bus), once it owns the name */
SmTestDaemon *sm_test_bus_start_daemon  (SmTestBus          *bus,
                                         double              hold_timeout,
                                         const char * const *extra_args);

/* ---- Programs ---- */

/* Runs @argv to its end with @env_overrides ("NAME=VALUE", NULL-terminated,
 * may be NULL); returns stdout, sets the exit status and stderr */
char *sm_test_run (const char * const *argv,
                   const char * const *env_overrides,
                   int                *out_status,
                   char              **out_stderr);

G_END_DECLS
