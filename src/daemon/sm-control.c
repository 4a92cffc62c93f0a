/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gunixconnection.h>
#include <gio/gunixsocketaddress.h>

#include "sm-accept-guard.h"
#include "sm-address.h"
#include "sm-control-connection.h"
#include "sm-control.h"
#include "sm-error.h"
#include "sm-listen-socket.h"
#include "sm-peer-credentials.h"
#include "sm-rate-limit.h"
#include "sm-source-limit.h"

struct _SmControl
{
  GObject         parent_instance;

  SmRegistry     *registry;
  GSocketService *service;
  GSocketAddress *local_address; /* of the first TCP listener */
  GArray         *unix_sockets;  /* of UnixSocketFile, removed at stop */
  GPtrArray      *listeners;     /* descriptions, NULL-terminated */
  GPtrArray      *sockets;       /* of GSocket, in the same order */
  gboolean        listening;

  GHashTable     *pending; /* set of SmControlConnection (owned) */
  SmSourceLimit  *limit;
  gsize          *buffered_total; /* bytes buffered by pending handshakes */

  SmRateLimit     refusal_log_limit;
};

/* The file we bound, so stop removes only ours and not one another
 * process has put there since */
typedef struct
{
  char *path;
  dev_t device;
  ino_t inode;
} UnixSocketFile;

G_DEFINE_FINAL_TYPE (SmControl, sm_control, G_TYPE_OBJECT)

static void
unix_socket_file_clear (gpointer data)
{
  UnixSocketFile *file = data;

  g_free (file->path);
}

/* Whom a new connection counts against while its handshake is pending: an
 * address for TCP peers (see sm_address_source_key()), the uid for Unix
 * peers (all unknown Unix peers share one key) */
static char *
source_key (GSocketConnection *connection)
{
  g_autoptr (GSocketAddress) remote = NULL;

  if (G_IS_UNIX_CONNECTION (connection))
    {
      SmPeerCredentials creds;

      sm_peer_credentials_lookup (connection, &creds);
      if (!creds.known)
        return g_strdup ("unix");
      return g_strdup_printf ("uid:%u", (guint) creds.uid);
    }

  remote = g_socket_connection_get_remote_address (connection, NULL);
  return sm_address_source_key (remote);
}

static void
on_connection_finished (SmControlConnection *connection, SmControl *self)
{
  g_signal_handlers_disconnect_by_func (connection, on_connection_finished, self);
  g_hash_table_remove (self->pending, connection);
}

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             SmControl         *self)
{
  SmSourceTicket  *ticket;
  g_autofree char *key = NULL;
  g_autoptr (SmControlConnection) control_connection = NULL;

  if (!self->listening)
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }

  /* Near the descriptor limit: closed, and the control port paused */
  if (!sm_accept_guard_admit (sm_accept_guard_get_default (), service, connection,
                              SM_ACCEPT_CONTROL))
    return TRUE;

  control_connection = sm_control_connection_new (connection, self->registry,
                                                  &self->refusal_log_limit, self->buffered_total);
  key = source_key (connection);
  /* Aborted if it has to make room for a newer one */
  ticket = sm_source_limit_admit (self->limit, key, (SmSourceEvictFunc) sm_control_connection_abort,
                                  control_connection);
  if (ticket == NULL)
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }

  sm_control_connection_set_ticket (control_connection, ticket);
  g_hash_table_add (self->pending, g_object_ref (control_connection));
  g_signal_connect (control_connection, "finished", G_CALLBACK (on_connection_finished), self);
  sm_control_connection_start (control_connection);

  return TRUE;
}

static void
sm_control_dispose (GObject *object)
{
  SmControl *self = SM_CONTROL (object);

  if (self->pending != NULL)
    sm_control_stop (self);

  if (self->service != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->service, self);
      g_clear_object (&self->service);
    }
  g_clear_pointer (&self->pending, g_hash_table_unref);
  g_clear_pointer (&self->unix_sockets, g_array_unref);
  g_clear_pointer (&self->listeners, g_ptr_array_unref);
  g_clear_pointer (&self->sockets, g_ptr_array_unref);
  g_clear_pointer (&self->limit, sm_source_limit_free);
  g_clear_pointer (&self->buffered_total, g_rc_box_release);
  g_clear_object (&self->local_address);
  g_clear_object (&self->registry);

  G_OBJECT_CLASS (sm_control_parent_class)->dispose (object);
}

static void
sm_control_class_init (SmControlClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_control_dispose;
}

static void
sm_control_init (SmControl *self)
{
  self->pending = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
  self->limit = sm_source_limit_new ("control handshakes", SM_CONTROL_DEFAULT_MAX_PENDING,
                                     SM_SOURCE_LIMIT_DEFAULT_MAX_PER_SOURCE);
  self->buffered_total = g_rc_box_new0 (gsize);
  self->unix_sockets = g_array_new (FALSE, FALSE, sizeof (UnixSocketFile));
  g_array_set_clear_func (self->unix_sockets, unix_socket_file_clear);
  self->listeners = g_ptr_array_new_null_terminated (2, g_free, TRUE);
  self->sockets = g_ptr_array_new_with_free_func (g_object_unref);
  sm_rate_limit_init (&self->refusal_log_limit, 10 * G_USEC_PER_SEC, 10);
}

SmControl *
sm_control_new (SmRegistry *registry)
{
  SmControl *self;

  g_return_val_if_fail (SM_IS_REGISTRY (registry), NULL);

  self = g_object_new (SM_TYPE_CONTROL, NULL);
  self->registry = g_object_ref (registry);

  return self;
}

/* One GSocketService for all listeners: the accept guard pauses them
 * together */
static gboolean
add_listener (SmControl *self, GSocket *socket, GError **error)
{
  if (self->service == NULL)
    {
      self->service = g_socket_service_new ();
      g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);
    }

  if (!g_socket_listener_add_socket (G_SOCKET_LISTENER (self->service), socket, NULL, error))
    return FALSE;

  g_ptr_array_add (self->sockets, g_object_ref (socket));
  self->listening = TRUE;
  return TRUE;
}

/* An inherited TCP listener, described like a bound one */
static gboolean
adopt_tcp (SmControl *self, GSocket *socket, GError **error)
{
  g_autoptr (GSocketAddress) local_address = g_socket_get_local_address (socket, error);

  if (local_address == NULL || !add_listener (self, socket, error))
    return FALSE;

  g_ptr_array_add (self->listeners, sm_address_format_socket (local_address));
  if (self->local_address == NULL)
    self->local_address = g_steal_pointer (&local_address);
  return TRUE;
}

gboolean
sm_control_listen (SmControl *self, GInetAddress *address, guint16 port, GError **error)
{
  g_autoptr (GSocket) socket = NULL;

  g_return_val_if_fail (SM_IS_CONTROL (self), FALSE);
  g_return_val_if_fail (self->pending != NULL, FALSE);

  socket = sm_listen_socket_new (address, port, error);
  if (socket == NULL)
    return FALSE;

  return adopt_tcp (self, socket, error);
}

/* A socket file left by a daemon that died is replaced; one that still
 * answers belongs to a running daemon, and any other file is not ours */
static gboolean
remove_stale_socket (const char *path, GError **error)
{
  struct stat st;
  g_autoptr (GSocket) probe = NULL;
  g_autoptr (GSocketAddress) address = NULL;
  g_autoptr (GError) local_error = NULL;

  if (lstat (path, &st) != 0)
    return TRUE; /* nothing there; bind() will tell any other problem */

  if (!S_ISSOCK (st.st_mode))
    {
      g_set_error (error, SM_ERROR, SM_ERROR_ADDRESS_IN_USE, "%s exists and is not a socket", path);
      return FALSE;
    }

  probe =
      g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  if (probe == NULL)
    return FALSE;
  /* A listener with a full backlog must not block us: it is in use */
  g_socket_set_blocking (probe, FALSE);
  address = g_unix_socket_address_new (path);
  if (!g_socket_connect (probe, address, NULL, &local_error) &&
      g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
    {
      g_debug ("Removing the stale socket %s", path);
      if (unlink (path) != 0 && errno != ENOENT)
        {
          int saved_errno = errno;

          g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "cannot remove the stale socket %s: %s",
                       path, g_strerror (saved_errno));
          return FALSE;
        }
      return TRUE;
    }

  if (local_error == NULL || g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_PENDING) ||
      g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    g_set_error (error, SM_ERROR, SM_ERROR_ADDRESS_IN_USE, "another process listens on %s", path);
  else
    g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "cannot check %s: %s", path,
                 local_error->message);
  return FALSE;
}

/* @path (a socket file, as lstat() found it) is removed at stop if it is
 * still that file then */
static void
track_unix_socket (SmControl *self, const char *path, const struct stat *st)
{
  UnixSocketFile file = { g_strdup (path), st->st_dev, st->st_ino };

  g_array_append_val (self->unix_sockets, file);
}

gboolean
sm_control_listen_unix (SmControl *self, const char *path, GError **error)
{
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketAddress) address = NULL;
  struct stat st;

  g_return_val_if_fail (SM_IS_CONTROL (self), FALSE);
  g_return_val_if_fail (self->pending != NULL, FALSE);
  g_return_val_if_fail (path != NULL && path[0] != '\0', FALSE);

  if (!remove_stale_socket (path, error))
    return FALSE;

  socket =
      g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  if (socket == NULL)
    return FALSE;
  address = g_unix_socket_address_new (path);
  if (!g_socket_bind (socket, address, FALSE, error))
    return FALSE;

  /* Any local user may connect: what it may register is decided per uid */
  if (chmod (path, 0666) != 0 || lstat (path, &st) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "cannot make %s accessible: %s", path,
                   g_strerror (saved_errno));
      unlink (path);
      return FALSE;
    }

  g_socket_set_listen_backlog (socket, SOMAXCONN);
  if (!g_socket_listen (socket, error) || !add_listener (self, socket, error))
    {
      unlink (path);
      return FALSE;
    }

  track_unix_socket (self, path, &st);
  g_ptr_array_add (self->listeners, g_strdup_printf ("unix:%s", path));
  return TRUE;
}

gboolean
sm_control_adopt (SmControl *self, GSocket *socket, GError **error)
{
  g_autoptr (GSocketAddress) local_address = NULL;
  struct stat st;
  const char *path;

  g_return_val_if_fail (SM_IS_CONTROL (self), FALSE);
  g_return_val_if_fail (self->pending != NULL, FALSE);
  g_return_val_if_fail (G_IS_SOCKET (socket), FALSE);

  if (g_socket_get_family (socket) != G_SOCKET_FAMILY_UNIX)
    return adopt_tcp (self, socket, error);

  local_address = g_socket_get_local_address (socket, error);
  if (local_address == NULL)
    return FALSE;
  path = g_unix_socket_address_get_path (G_UNIX_SOCKET_ADDRESS (local_address));
  if (g_unix_socket_address_get_address_type (G_UNIX_SOCKET_ADDRESS (local_address)) !=
          G_UNIX_SOCKET_ADDRESS_PATH ||
      !add_listener (self, socket, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error_literal (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                             "an inherited Unix control socket needs a path");
      return FALSE;
    }

  /* Removed at stop like one we bound, if it is still the same file */
  if (lstat (path, &st) == 0)
    track_unix_socket (self, path, &st);
  g_ptr_array_add (self->listeners, g_strdup_printf ("unix:%s", path));
  return TRUE;
}

GPtrArray *
sm_control_get_sockets (SmControl *self)
{
  g_return_val_if_fail (SM_IS_CONTROL (self), NULL);
  return self->sockets;
}

void
sm_control_hand_over (SmControl *self)
{
  g_return_if_fail (SM_IS_CONTROL (self));

  /* The successor listens on the same files now */
  g_array_set_size (self->unix_sockets, 0);
  sm_control_stop (self);
}

GSocketAddress *
sm_control_get_local_address (SmControl *self)
{
  g_return_val_if_fail (SM_IS_CONTROL (self), NULL);
  return self->local_address;
}

const char *const *
sm_control_get_listeners (SmControl *self)
{
  g_return_val_if_fail (SM_IS_CONTROL (self), NULL);
  return (const char *const *) self->listeners->pdata;
}

void
sm_control_set_max_pending (SmControl *self, guint max_pending, guint max_per_source)
{
  g_return_if_fail (SM_IS_CONTROL (self));

  sm_source_limit_set_max (self->limit, max_pending, max_per_source);
}

guint
sm_control_get_n_pending (SmControl *self)
{
  g_return_val_if_fail (SM_IS_CONTROL (self), 0);
  return g_hash_table_size (self->pending);
}

void
sm_control_stop (SmControl *self)
{
  g_autoptr (GList) connections = NULL;

  g_return_if_fail (SM_IS_CONTROL (self));

  if (self->listening)
    {
      self->listening = FALSE;
      sm_accept_guard_forget (sm_accept_guard_get_default (), self->service);
      g_socket_service_stop (self->service);
      g_socket_listener_close (G_SOCKET_LISTENER (self->service));
    }

  /* Ours, unless another process has replaced it since */
  for (guint i = 0; i < self->unix_sockets->len; i++)
    {
      UnixSocketFile *file = &g_array_index (self->unix_sockets, UnixSocketFile, i);
      struct stat     st;

      if (lstat (file->path, &st) == 0 && st.st_dev == file->device && st.st_ino == file->inode)
        unlink (file->path);
    }
  g_array_set_size (self->unix_sockets, 0);

  /* Aborting one removes it from the table */
  connections = g_hash_table_get_keys (self->pending);
  for (GList *l = connections; l != NULL; l = l->next)
    sm_control_connection_abort (l->data);
}
