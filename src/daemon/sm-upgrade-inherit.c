/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "sm-upgrade-inherit.h"
#include "sm-upgrade.h"

#define LISTEN_FDS_START 3
/* More would be a corrupt environment, not our listeners */
#define MAX_INHERITED 65536

typedef struct
{
  char    *name;
  GSocket *socket; /* NULL once taken */
} Inherited;

struct _SmInherited
{
  GArray *sockets;  /* of Inherited */
  int     ready_fd; /* the predecessor's pipe, or -1 */
};

static void
inherited_clear (gpointer data)
{
  Inherited *inherited = data;

  g_free (inherited->name);
  g_clear_object (&inherited->socket);
}

/* The names systemd or our predecessor gave, or NULL if none were passed */
static int
listen_fds (char ***out_names)
{
#ifdef HAVE_LIBSYSTEMD
  int n = sd_listen_fds_with_names (1, out_names);

  if (n < 0)
    g_warning ("Cannot read the inherited sockets: %s", g_strerror (-n));
  return MAX (n, 0);
#else
  const char *pid_text = g_getenv ("LISTEN_PID");
  const char *fds_text = g_getenv ("LISTEN_FDS");
  const char *names_text = g_getenv ("LISTEN_FDNAMES");
  guint64     pid = 0;
  guint64     n = 0;

  *out_names = NULL;
  if (pid_text != NULL && fds_text != NULL &&
      g_ascii_string_to_unsigned (pid_text, 10, 1, G_MAXINT, &pid, NULL) &&
      (pid_t) pid == getpid () &&
      g_ascii_string_to_unsigned (fds_text, 10, 0, MAX_INHERITED, &n, NULL))
    {
      if (names_text != NULL)
        *out_names = g_strsplit (names_text, ":", -1);
      for (guint64 i = 0; i < n; i++)
        fcntl (LISTEN_FDS_START + (int) i, F_SETFD, FD_CLOEXEC);
    }
  g_unsetenv ("LISTEN_PID");
  g_unsetenv ("LISTEN_FDS");
  g_unsetenv ("LISTEN_FDNAMES");
  return (int) n;
#endif
}

static gboolean
is_listening_stream (int fd)
{
  int       value = 0;
  socklen_t len = sizeof value;

  if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &value, &len) != 0 || value != SOCK_STREAM)
    return FALSE;
  len = sizeof value;
  return getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) == 0 && value != 0;
}

static int
take_ready_fd (void)
{
  const char *text = g_getenv (SM_UPGRADE_READY_ENV);
  guint64     fd = 0;

  if (text == NULL)
    return -1;
  g_unsetenv (SM_UPGRADE_READY_ENV);
  if (!g_ascii_string_to_unsigned (text, 10, LISTEN_FDS_START, G_MAXINT, &fd, NULL) ||
      fcntl ((int) fd, F_SETFD, FD_CLOEXEC) != 0)
    {
      g_warning ("Ignoring %s=%s: not a descriptor of ours", SM_UPGRADE_READY_ENV, text);
      return -1;
    }
  return (int) fd;
}

SmInherited *
sm_inherited_take (void)
{
  SmInherited *self = g_new0 (SmInherited, 1);
  g_auto (GStrv) names = NULL;
  int n = listen_fds (&names);

  self->sockets = g_array_new (FALSE, TRUE, sizeof (Inherited));
  g_array_set_clear_func (self->sockets, inherited_clear);
  self->ready_fd = take_ready_fd ();

  for (int i = 0; i < n; i++)
    {
      int         fd = LISTEN_FDS_START + i;
      const char *name = names != NULL && i < (int) g_strv_length (names) ? names[i] : "unknown";
      g_autoptr (GError) error = NULL;
      Inherited  inherited = { NULL, NULL };
      gboolean   control, tls;
      SmPortMode mode;
      guint      n_routes;

      if (!sm_upgrade_parse_name (name, &control, &mode, &tls, &n_routes) ||
          !is_listening_stream (fd))
        {
          g_warning ("Inherited descriptor %d (%s) is not a listener of ours; closing it", fd,
                     name);
          close (fd);
          continue;
        }
      inherited.socket = g_socket_new_from_fd (fd, &error);
      if (inherited.socket == NULL)
        {
          g_warning ("Inherited descriptor %d (%s): %s", fd, name, error->message);
          close (fd);
          continue;
        }
      /* The predecessor accepts on it too until it hands over: a lost race
       * for a connection must give EAGAIN, not block in accept() */
      g_socket_set_blocking (inherited.socket, FALSE);
      inherited.name = g_strdup (name);
      g_array_append_val (self->sockets, inherited);
    }
  if (n > 0)
    g_debug ("Inherited %u listening sockets", self->sockets->len);
  return self;
}

gboolean
sm_inherited_is_upgrade (SmInherited *self)
{
  return self->ready_fd >= 0;
}

static gboolean
matches (GSocket *socket, const char *unix_path, GInetAddress *address, guint16 port)
{
  g_autoptr (GSocketAddress) local = g_socket_get_local_address (socket, NULL);

  if (local == NULL)
    return FALSE;
  if (unix_path != NULL)
    return G_IS_UNIX_SOCKET_ADDRESS (local) &&
           g_strcmp0 (g_unix_socket_address_get_path (G_UNIX_SOCKET_ADDRESS (local)), unix_path) ==
               0;
  if (!G_IS_INET_SOCKET_ADDRESS (local))
    return FALSE;
  if (port != 0 && g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)) != port)
    return FALSE;
  if (address == NULL)
    return g_inet_address_get_is_any (
        g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local)));
  return g_inet_address_equal (address,
                               g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local)));
}

GSocket *
sm_inherited_take_control (SmInherited  *self,
                           const char   *unix_path,
                           GInetAddress *address,
                           guint16       port)
{
  for (guint i = 0; i < self->sockets->len; i++)
    {
      Inherited *inherited = &g_array_index (self->sockets, Inherited, i);

      if (inherited->socket != NULL && g_str_equal (inherited->name, SM_UPGRADE_NAME_CONTROL) &&
          matches (inherited->socket, unix_path, address, port))
        return g_steal_pointer (&inherited->socket);
    }
  return NULL;
}

guint
sm_inherited_adopt_ports (SmInherited *self, SmRegistry *registry)
{
  guint n = 0;

  for (guint i = 0; i < self->sockets->len; i++)
    {
      Inherited *inherited = &g_array_index (self->sockets, Inherited, i);
      g_autoptr (GError) error = NULL;
      gboolean   control, tls;
      SmPortMode mode;
      guint      n_routes;
      SmPort    *port;

      if (inherited->socket == NULL ||
          !sm_upgrade_parse_name (inherited->name, &control, &mode, &tls, &n_routes) || control)
        continue;
      port = sm_registry_adopt_port (registry, inherited->socket, mode, tls, &error);
      if (port != NULL)
        sm_port_await_routes (port, n_routes);
      if (port == NULL)
        g_warning ("Cannot adopt the inherited listener %s: %s", inherited->name, error->message);
      else
        n++;
      g_clear_object (&inherited->socket);
    }
  return n;
}

void
sm_inherited_ready (SmInherited *self)
{
  const char byte = 'R';
  gssize     n;

  if (self->ready_fd < 0)
    return;
  do
    n = write (self->ready_fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    g_warning ("Cannot tell the previous process to stop: %s", g_strerror (errno));
  close (self->ready_fd);
  self->ready_fd = -1;
}

void
sm_inherited_free (SmInherited *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < self->sockets->len; i++)
    {
      Inherited *inherited = &g_array_index (self->sockets, Inherited, i);

      if (inherited->socket != NULL)
        g_debug ("Closing the unused inherited listener %s", inherited->name);
    }
  g_array_unref (self->sockets);
  if (self->ready_fd >= 0)
    close (self->ready_fd);
  g_free (self);
}
