/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the upgrade tests share: who holds a listening socket, SIGUSR2 and
 * the PID of the process that took over, and stopping that process. The
 * test becomes a child subreaper (sm_test_upgrade_init()), so the new
 * daemon, orphaned when the old one exits, is its child: stopped and
 * reaped by its PID, and killed if the test aborts.
 */

#include "sm-test-util.h"

G_BEGIN_DECLS

void     sm_test_upgrade_init (void);
/* The inode of the socket listening on 127.0.0.1:@port (/proc/net/tcp) */
guint64  sm_test_listening_inode (guint16 port);
gboolean sm_test_process_holds_socket (GPid pid, guint64 inode);
/* Waits for the old daemon to say the new one took over; its PID */
GPid     sm_test_upgrade_wait (SmTestDaemon *daemon);
/* SIGUSR2, then sm_test_upgrade_wait() */
GPid     sm_test_upgrade (SmTestDaemon *daemon);
/* SIGTERM to the new daemon; it must exit with 0 */
void     sm_test_upgrade_stop (GPid pid);

G_END_DECLS
