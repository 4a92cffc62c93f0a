/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-control.h"
#include "sm-registry.h"

G_BEGIN_DECLS

/*
 * The listening sockets a process got at start: from the daemon it
 * replaces (sm-upgrade.h), from systemd's file descriptor store after a
 * restart, or from socket activation (a socket named "control"). Read
 * with sd_listen_fds_with_names() when built with libsystemd, else from
 * the same variables by hand; the variables are removed either way.
 */
typedef struct _SmInherited SmInherited;

/* Never fails: descriptors that are not listening sockets, or whose name
 * means nothing to us, are logged and closed */
SmInherited                *sm_inherited_take (void);
/* Whether a predecessor started us (and waits for sm_inherited_ready()) */
gboolean                    sm_inherited_is_upgrade (SmInherited *self);
/* The inherited control listener matching --bind @unix_path, or @address
 * (NULL: all interfaces) and @port (0: any); NULL if none. (transfer full) */
GSocket                    *sm_inherited_take_control (SmInherited  *self,
                                                       const char   *unix_path,
                                                       GInetAddress *address,
                                                       guint16       port);
/* Opens a port in @registry on every inherited public listener; returns
 * how many */
guint                       sm_inherited_adopt_ports (SmInherited *self, SmRegistry *registry);
/* Tells the predecessor we accept now, so it stops */
void                        sm_inherited_ready (SmInherited *self);
/* Closes whatever was not taken */
void                        sm_inherited_free (SmInherited *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmInherited, sm_inherited_free)

G_END_DECLS
