/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "sm-error.h"
#include "sm-notify.h"

struct _SmNotify
{
  GObject     parent_instance;

  SmRegistry *registry;
  char       *status; /* the last one sent */
  guint       timer;
  gboolean    enabled;
};

G_DEFINE_FINAL_TYPE (SmNotify, sm_notify, G_TYPE_OBJECT)

static void
sm_notify_finalize (GObject *object)
{
  SmNotify *self = SM_NOTIFY (object);

  g_clear_handle_id (&self->timer, g_source_remove);
  g_clear_object (&self->registry);
  g_free (self->status);

  G_OBJECT_CLASS (sm_notify_parent_class)->finalize (object);
}

static void
sm_notify_class_init (SmNotifyClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sm_notify_finalize;
}

static void
sm_notify_init (SmNotify *self)
{
}

SmNotify *
sm_notify_new (SmRegistry *registry)
{
  SmNotify *self;

  g_return_val_if_fail (SM_IS_REGISTRY (registry), NULL);

  self = g_object_new (SM_TYPE_NOTIFY, NULL);
  self->registry = g_object_ref (registry);
  self->enabled = g_getenv ("NOTIFY_SOCKET") != NULL;
  return self;
}

char *
sm_notify_format_status (guint n_ports, guint n_services, guint n_queued)
{
  return g_strdup_printf ("%u ports, %u services, %u queued", n_ports, n_services, n_queued);
}

#ifndef HAVE_LIBSYSTEMD
/* The protocol of sd_notify(3): one datagram to the Unix socket named by
 * $NOTIFY_SOCKET, a path or "@" for the abstract namespace */
static gboolean
send_datagram (const char *socket_name, const char *state, GError **error)
{
  struct sockaddr_un address = { .sun_family = AF_UNIX };
  gsize              name_len = strlen (socket_name);
  socklen_t          address_len;
  int                fd;
  gssize             sent;
  int                saved_errno;

  if ((socket_name[0] != '/' && socket_name[0] != '@') || name_len < 2 ||
      name_len >= sizeof address.sun_path)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT, "invalid NOTIFY_SOCKET “%s”",
                   socket_name);
      return FALSE;
    }
  memcpy (address.sun_path, socket_name, name_len);
  if (address.sun_path[0] == '@')
    address.sun_path[0] = '\0';
  address_len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + name_len);

  fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "socket: %s",
                   g_strerror (errno));
      return FALSE;
    }
  sent =
      sendto (fd, state, strlen (state), MSG_NOSIGNAL, (struct sockaddr *) &address, address_len);
  saved_errno = errno;
  close (fd);
  if (sent < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "%s: %s", socket_name,
                   g_strerror (saved_errno));
      return FALSE;
    }
  return TRUE;
}
#endif

gboolean
sm_notify_send (const char *state, GError **error)
{
#ifdef HAVE_LIBSYSTEMD
  int result = sd_notify (0, state);

  if (result < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-result), "sd_notify: %s",
                   g_strerror (-result));
      return FALSE;
    }
  return result > 0;
#else
  const char *socket_name = g_getenv ("NOTIFY_SOCKET");

  return socket_name != NULL && send_datagram (socket_name, state, error);
#endif
}

static void
send_logged (const char *state)
{
  g_autoptr (GError) error = NULL;

  if (!sm_notify_send (state, &error) && error != NULL)
    g_debug ("Cannot notify the service manager: %s", error->message);
}

static char *
current_status (SmNotify *self)
{
  g_autoptr (GList) ports = sm_registry_get_ports (self->registry);
  guint n_services = 0;
  guint n_queued = 0;

  for (GList *l = ports; l != NULL; l = l->next)
    {
      n_services += sm_port_get_routes (l->data)->len;
      n_queued += sm_port_get_n_queued (l->data);
    }
  return sm_notify_format_status (g_list_length (ports), n_services, n_queued);
}

/* Polled rather than hooked into every change: at most one datagram a
 * second, whatever the churn */
static gboolean
on_status_timer (gpointer user_data)
{
  SmNotify        *self = user_data;
  g_autofree char *status = current_status (self);
  g_autofree char *state = NULL;

  if (g_strcmp0 (status, self->status) == 0)
    return G_SOURCE_CONTINUE;

  state = g_strconcat ("STATUS=", status, NULL);
  send_logged (state);
  g_free (self->status);
  self->status = g_steal_pointer (&status);
  return G_SOURCE_CONTINUE;
}

void
sm_notify_ready (SmNotify *self)
{
  g_autofree char *state = NULL;

  g_return_if_fail (SM_IS_NOTIFY (self));

  if (!self->enabled || self->timer != 0)
    return;
  g_free (self->status);
  self->status = current_status (self);
  state = g_strconcat ("READY=1\nSTATUS=", self->status, NULL);
  send_logged (state);
  self->timer = g_timeout_add_seconds (1, on_status_timer, self);
}

void
sm_notify_stopping (SmNotify *self)
{
  g_return_if_fail (SM_IS_NOTIFY (self));

  if (!self->enabled)
    return;
  g_clear_handle_id (&self->timer, g_source_remove);
  send_logged ("STOPPING=1\nSTATUS=Draining");
}
