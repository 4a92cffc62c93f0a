/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A fake service manager for systemd's notify protocol: a Unix datagram
 * socket of ours, in a temporary directory, whose path goes into
 * $NOTIFY_SOCKET; each datagram is read with the descriptors it carried
 * (FDSTORE=1).
 */

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  char    *dir;
  char    *path;
  GSocket *socket;
} SmTestNotifyManager;

typedef struct
{
  char   *state;
  GArray *fds; /* int, closed when the notification is freed */
} SmTestNotification;

void                sm_test_notify_manager_init (SmTestNotifyManager *manager);
void                sm_test_notify_manager_clear (SmTestNotifyManager *manager);

/* The next datagram; NULL when none came within @timeout_ms */
SmTestNotification *sm_test_notify_receive (SmTestNotifyManager *manager, guint timeout_ms);
/* Skips datagrams until one holds @line as a whole line; fails the test
 * when none comes within @timeout_ms */
SmTestNotification *sm_test_notify_wait_for (SmTestNotifyManager *manager,
                                             const char          *line,
                                             guint                timeout_ms);
gboolean            sm_test_notification_has_line (const SmTestNotification *notification,
                                                   const char               *line);
void                sm_test_notification_free (SmTestNotification *notification);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmTestNotification, sm_test_notification_free)

G_END_DECLS
