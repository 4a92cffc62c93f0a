/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "sm-address.h"
#include "sm-error.h"
#include "sm-listen-socket.h"

/* GIO folds EADDRNOTAVAIL and friends into G_IO_ERROR_FAILED, but services
 * deserve to know why they got no listener, so bind(2) is called directly
 * and its errno kept. @address NULL: all interfaces, through a dual-stack
 * IPv6 socket. */
static GSocket *
bind_and_listen (GInetAddress *address, guint16 port, int *out_errno, GError **error)
{
  g_autoptr (GInetAddress) any6 = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketAddress) socket_address = NULL;
  struct sockaddr_storage native;
  gssize                  native_size;
  gboolean                dual_stack = address == NULL;

  *out_errno = 0;
  if (dual_stack)
    address = any6 = g_inet_address_new_any (G_SOCKET_FAMILY_IPV6);

  socket = g_socket_new (g_inet_address_get_family (address), G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, error);
  if (socket == NULL)
    {
      *out_errno = EAFNOSUPPORT;
      return NULL;
    }

  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 &&
      !g_socket_set_option (socket, IPPROTO_IPV6, IPV6_V6ONLY, dual_stack ? 0 : 1, error))
    return NULL;

  /* So a restarted daemon gets its ports back despite TIME_WAIT */
  if (!g_socket_set_option (socket, SOL_SOCKET, SO_REUSEADDR, 1, error))
    return NULL;

  socket_address = g_inet_socket_address_new (address, port);
  native_size = g_socket_address_get_native_size (socket_address);
  if (native_size < 0 || (gsize) native_size > sizeof native ||
      !g_socket_address_to_native (socket_address, &native, sizeof native, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error_literal (error, SM_ERROR, SM_ERROR_FAILED, "unsupported socket address");
      return NULL;
    }

  if (bind (g_socket_get_fd (socket), (struct sockaddr *) &native, (socklen_t) native_size) != 0)
    {
      int saved_errno = errno;

      *out_errno = saved_errno;
      g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "%s", g_strerror (saved_errno));
      return NULL;
    }

  /* GIO's default backlog of 10 drops connections under load */
  g_socket_set_listen_backlog (socket, SOMAXCONN);
  if (!g_socket_listen (socket, error))
    {
      *out_errno = EINVAL;
      return NULL;
    }

  return g_steal_pointer (&socket);
}

static void
set_bind_error (GError      **error,
                int           bind_errno,
                GInetAddress *address,
                guint16       port,
                const GError *cause)
{
  g_autofree char *host = sm_address_to_host (address);

  switch (bind_errno)
    {
    case EADDRINUSE:
      g_set_error (error, SM_ERROR, SM_ERROR_ADDRESS_IN_USE,
                   "port %u on %s is already in use by another program", port, host);
      break;

    case EACCES:
    case EPERM:
      if (port < 1024)
        g_set_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED,
                     "permission denied to listen on port %u "
                     "(binding ports below 1024 needs CAP_NET_BIND_SERVICE)",
                     port);
      else
        g_set_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED,
                     "permission denied to listen on port %u", port);
      break;

    case EADDRNOTAVAIL:
      g_set_error (error, SM_ERROR, SM_ERROR_ADDRESS_NOT_AVAILABLE,
                   "address %s is not an address of this machine", host);
      break;

    default:
      g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "cannot listen on port %u on %s: %s", port,
                   host, cause != NULL ? cause->message : g_strerror (bind_errno));
      break;
    }
}

GSocket *
sm_listen_socket_new (GInetAddress *address, guint16 port, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  GSocket *socket;
  int      bind_errno = 0;

  socket = bind_and_listen (address, port, &bind_errno, &local_error);

  /* No IPv6 on this host: all interfaces means all IPv4 ones */
  if (socket == NULL && address == NULL &&
      (bind_errno == EAFNOSUPPORT || bind_errno == EADDRNOTAVAIL))
    {
      g_autoptr (GInetAddress) any4 = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);

      g_clear_error (&local_error);
      socket = bind_and_listen (any4, port, &bind_errno, &local_error);
    }

  if (socket == NULL)
    set_bind_error (error, bind_errno, address, port, local_error);

  return socket;
}

guint
sm_listen_socket_accept_pending (GSocket                 *socket,
                                 guint                    max,
                                 SmListenSocketAcceptFunc func,
                                 gpointer                 user_data)
{
  GSocket *accepted;
  guint    n_accepted = 0;

  g_return_val_if_fail (G_IS_SOCKET (socket), 0);

  g_socket_set_blocking (socket, FALSE);
  while (n_accepted < max && (accepted = g_socket_accept (socket, NULL, NULL)) != NULL)
    {
      g_autoptr (GSocketConnection) connection =
          g_socket_connection_factory_create_connection (accepted);

      g_object_unref (accepted);
      n_accepted++;
      if (!func (connection, user_data))
        break;
    }
  return n_accepted;
}
