/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <glib/gstdio.h>
#include <unistd.h>

#include <gio/gunixfdmessage.h>
#include <gio/gunixsocketaddress.h>

#include "sm-test-notify.h"
#include "sm-test-util.h"

void
sm_test_notify_manager_init (SmTestNotifyManager *manager)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketAddress) address = NULL;

  manager->dir = g_dir_make_tmp ("sm-notify-XXXXXX", &error);
  g_assert_no_error (error);
  manager->path = g_build_filename (manager->dir, "notify", NULL);
  manager->socket =
      g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
  g_assert_no_error (error);
  address = g_unix_socket_address_new (manager->path);
  g_socket_bind (manager->socket, address, FALSE, &error);
  g_assert_no_error (error);
}

void
sm_test_notify_manager_clear (SmTestNotifyManager *manager)
{
  g_clear_object (&manager->socket);
  g_unlink (manager->path);
  g_rmdir (manager->dir);
  g_free (manager->path);
  g_free (manager->dir);
}

void
sm_test_notification_free (SmTestNotification *notification)
{
  for (guint i = 0; i < notification->fds->len; i++)
    close (g_array_index (notification->fds, int, i));
  g_array_unref (notification->fds);
  g_free (notification->state);
  g_free (notification);
}

SmTestNotification *
sm_test_notify_receive (SmTestNotifyManager *manager, guint timeout_ms)
{
  g_autoptr (GError) error = NULL;
  GSocketControlMessage **messages = NULL;
  gint                    n_messages = 0;
  char                    buffer[4096];
  GInputVector            vector = { buffer, sizeof buffer - 1 };
  SmTestNotification     *notification;
  gssize                  n;

  if (!g_socket_condition_timed_wait (manager->socket, G_IO_IN,
                                      (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND, NULL, NULL))
    return NULL;
  n = g_socket_receive_message (manager->socket, NULL, &vector, 1, &messages, &n_messages, NULL,
                                NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, >, 0);
  buffer[n] = '\0';

  notification = g_new0 (SmTestNotification, 1);
  notification->state = g_strdup (buffer);
  notification->fds = g_array_new (FALSE, FALSE, sizeof (int));
  for (gint i = 0; i < n_messages; i++)
    {
      if (G_IS_UNIX_FD_MESSAGE (messages[i]))
        {
          gint  n_fds = 0;
          gint *fds = g_unix_fd_message_steal_fds (G_UNIX_FD_MESSAGE (messages[i]), &n_fds);

          g_array_append_vals (notification->fds, fds, (guint) n_fds);
          g_free (fds);
        }
      g_object_unref (messages[i]);
    }
  g_free (messages);
  g_test_message ("notification: %s (%u descriptors)", notification->state,
                  notification->fds->len);
  return notification;
}

gboolean
sm_test_notification_has_line (const SmTestNotification *notification, const char *line)
{
  g_auto (GStrv) lines = g_strsplit (notification->state, "\n", -1);

  return g_strv_contains ((const char *const *) lines, line);
}

SmTestNotification *
sm_test_notify_wait_for (SmTestNotifyManager *manager, const char *line, guint timeout_ms)
{
  for (;;)
    {
      g_autoptr (SmTestNotification) notification = sm_test_notify_receive (manager, timeout_ms);

      if (notification == NULL)
        sm_test_fail ("no notification with %s", line);
      if (sm_test_notification_has_line (notification, line))
        return g_steal_pointer (&notification);
    }
}
