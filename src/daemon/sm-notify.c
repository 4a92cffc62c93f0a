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
#include "sm-upgrade.h"

struct _SmNotify
{
  GObject     parent_instance;

  SmRegistry *registry;
  char       *status; /* the last one sent */
  guint       timer;
  gboolean    enabled;
  gboolean    main_pid; /* an upgrade started us: say we are the main process */
  GHashTable *stored;   /* SmPort -> the name its listener is stored under */
};

G_DEFINE_FINAL_TYPE (SmNotify, sm_notify, G_TYPE_OBJECT)

static void
sm_notify_finalize (GObject *object)
{
  SmNotify *self = SM_NOTIFY (object);

  g_clear_handle_id (&self->timer, g_source_remove);
  if (self->registry != NULL)
    g_signal_handlers_disconnect_by_data (self->registry, self);
  if (self->stored != NULL)
    {
      GHashTableIter iter;
      gpointer       port;

      g_hash_table_iter_init (&iter, self->stored);
      while (g_hash_table_iter_next (&iter, &port, NULL))
        g_signal_handlers_disconnect_by_data (port, self);
      g_hash_table_unref (self->stored);
    }
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
send_datagram (const char *socket_name,
               const char *state,
               const int  *fds,
               guint       n_fds,
               GError    **error)
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
  {
    struct iovec  iov = { (void *) state, strlen (state) };
    struct msghdr message = {
      .msg_name = &address, .msg_namelen = address_len, .msg_iov = &iov, .msg_iovlen = 1
    };
    g_autofree char *control = NULL;

    /* The descriptors of FDSTORE=1 ride along as SCM_RIGHTS */
    if (n_fds > 0)
      {
        struct cmsghdr *header;

        message.msg_controllen = CMSG_SPACE (sizeof (int) * n_fds);
        message.msg_control = control = g_malloc0 (message.msg_controllen);
        header = CMSG_FIRSTHDR (&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN (sizeof (int) * n_fds);
        memcpy (CMSG_DATA (header), fds, sizeof (int) * n_fds);
      }
    sent = sendmsg (fd, &message, MSG_NOSIGNAL);
  }
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
  return sm_notify_send_with_fds (state, NULL, 0, error);
}

gboolean
sm_notify_send_with_fds (const char *state, const int *fds, guint n_fds, GError **error)
{
#ifdef HAVE_LIBSYSTEMD
  int result = sd_pid_notify_with_fds (0, 0, state, fds, n_fds);

  if (result < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-result), "sd_notify: %s",
                   g_strerror (-result));
      return FALSE;
    }
  return result > 0;
#else
  const char *socket_name = g_getenv ("NOTIFY_SOCKET");

  return socket_name != NULL && send_datagram (socket_name, state, fds, n_fds, error);
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
  if (self->main_pid)
    state = g_strdup_printf ("MAINPID=%d\nREADY=1\nSTATUS=%s", (int) getpid (), self->status);
  else
    state = g_strconcat ("READY=1\nSTATUS=", self->status, NULL);
  send_logged (state);
  self->timer = g_timeout_add_seconds (1, on_status_timer, self);
}

/* The listeners stay in the store when we stop: a restarted daemon
 * takes them back, and closing ours then must not remove them */
static void
stop_storing (SmNotify *self)
{
  GHashTableIter iter;
  gpointer       port;

  if (self->stored == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->registry, self);
  g_hash_table_iter_init (&iter, self->stored);
  while (g_hash_table_iter_next (&iter, &port, NULL))
    g_signal_handlers_disconnect_by_data (port, self);
  g_hash_table_remove_all (self->stored);
}

void
sm_notify_stopping (SmNotify *self)
{
  g_return_if_fail (SM_IS_NOTIFY (self));

  if (!self->enabled)
    return;
  g_clear_handle_id (&self->timer, g_source_remove);
  stop_storing (self);
  send_logged ("STOPPING=1\nSTATUS=Draining");
}

void
sm_notify_set_upgraded (SmNotify *self)
{
  g_return_if_fail (SM_IS_NOTIFY (self));
  self->main_pid = TRUE;
}

void
sm_notify_hand_over (SmNotify *self)
{
  g_return_if_fail (SM_IS_NOTIFY (self));

  /* The successor said MAINPID= and keeps STATUS= current: a STOPPING=1
   * from us would stop the service */
  if (!self->enabled)
    return;
  g_clear_handle_id (&self->timer, g_source_remove);
  stop_storing (self);
}

static void
store_fd (const char *name, GSocket *socket)
{
  g_autofree char *state = g_strdup_printf ("FDSTORE=1\nFDNAME=%s", name);
  g_autoptr (GError) error = NULL;
  int fd = g_socket_get_fd (socket);

  if (!sm_notify_send_with_fds (state, &fd, 1, &error) && error != NULL)
    g_debug ("Cannot store %s with the service manager: %s", name, error->message);
}

static void
unstore_port (SmNotify *self, SmPort *port)
{
  const char      *name = g_hash_table_lookup (self->stored, port);
  g_autofree char *state = NULL;

  if (name == NULL)
    return;
  state = g_strdup_printf ("FDSTOREREMOVE=1\nFDNAME=%s", name);
  send_logged (state);
  g_hash_table_remove (self->stored, port);
}

static void
store_port (SmNotify *self, SmPort *port)
{
  GSocket *socket = sm_port_get_listen_socket (port);
  char    *name;

  if (socket == NULL)
    return;
  /* After a restart, wait for at least one service */
  name = sm_upgrade_port_name (port, 1);
  store_fd (name, socket);
  g_hash_table_insert (self->stored, port, name);
}

/* The name says whether it terminates TLS: stored again under the new one */
static void
on_port_tls_changed (SmPort *port, SmNotify *self)
{
  g_autofree char *name = sm_upgrade_port_name (port, 1);

  if (g_strcmp0 (name, g_hash_table_lookup (self->stored, port)) == 0)
    return;
  unstore_port (self, port);
  store_port (self, port);
}

static void
on_port_added (SmRegistry *registry, SmPort *port, SmNotify *self)
{
  store_port (self, port);
  g_signal_connect (port, "tls-changed", G_CALLBACK (on_port_tls_changed), self);
}

static void
on_port_removed (SmRegistry *registry, SmPort *port, SmNotify *self)
{
  g_signal_handlers_disconnect_by_data (port, self);
  unstore_port (self, port);
}

void
sm_notify_store_listeners (SmNotify *self, GPtrArray *control_sockets)
{
  g_autoptr (GList) ports = NULL;

  g_return_if_fail (SM_IS_NOTIFY (self));

  if (!self->enabled || self->stored != NULL)
    return;
  self->stored = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  for (guint i = 0; i < control_sockets->len; i++)
    store_fd (SM_UPGRADE_NAME_CONTROL, g_ptr_array_index (control_sockets, i));

  ports = sm_registry_get_ports (self->registry);
  for (GList *l = ports; l != NULL; l = l->next)
    on_port_added (self->registry, l->data, self);
  g_signal_connect (self->registry, "port-added", G_CALLBACK (on_port_added), self);
  g_signal_connect (self->registry, "port-removed", G_CALLBACK (on_port_removed), self);
}
