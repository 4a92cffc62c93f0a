/* SPDX-License-Identifier: MIT */
/* struct ucred, to read the gid GCredentials has no getter for */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <gio/gunixconnection.h>

#include "sm-address.h"
#include "sm-error.h"
#include "sm-peer-credentials.h"

/* An answer about one socket is a message of about 100 bytes plus a few
 * attributes; anything longer than this is not an answer to our request */
#define ANSWER_BUFFER_SIZE 8192

/* ---- The messages (pure) ---- */

typedef struct
{
  struct nlmsghdr         header;
  struct inet_diag_req_v2 request;
} DiagRequest;

gsize
sm_sock_diag_build_request (const SmSockDiagTuple *tuple, guint32 seq, guint8 *buffer, gsize size)
{
  DiagRequest message;
  gsize       address_len;

  g_return_val_if_fail (tuple != NULL && buffer != NULL, 0);
  g_return_val_if_fail (tuple->family == AF_INET || tuple->family == AF_INET6, 0);

  if (size < sizeof message)
    return 0;

  memset (&message, 0, sizeof message);
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  /* No NLM_F_DUMP: the kernel looks up this one socket */
  message.header.nlmsg_flags = NLM_F_REQUEST;
  message.header.nlmsg_seq = seq;
  message.request.sdiag_family = (guint8) tuple->family;
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = ~0U;
  message.request.id.idiag_sport = g_htons (tuple->source_port);
  message.request.id.idiag_dport = g_htons (tuple->destination_port);
  address_len = tuple->family == AF_INET ? 4 : 16;
  memcpy (message.request.id.idiag_src, tuple->source, address_len);
  memcpy (message.request.id.idiag_dst, tuple->destination, address_len);
  message.request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  message.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

  memcpy (buffer, &message, sizeof message);
  return sizeof message;
}

/* The kernel falls back to a listening socket when no connected one has
 * the tuple, and reports TIME_WAIT and request sockets (no process holds
 * them) as owned by uid 0: only the exact socket, held by a process, says
 * who the peer is. */
static gboolean
same_address (const SmSockDiagTuple *tuple,
              guint8                 family,
              const __be32          *found,
              const guint8          *wanted)
{
  if (family == tuple->family)
    return memcmp (found, wanted, tuple->family == AF_INET ? 4 : 16) == 0;

  /* An IPv6 socket connected to an IPv4-mapped address is an IPv4
   * connection; kernels may describe it either way */
  return family == AF_INET6 && tuple->family == AF_INET &&
         memcmp (found, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 &&
         memcmp ((const guint8 *) found + 12, wanted, 4) == 0;
}

static gboolean
check_diag_message (const SmSockDiagTuple *tuple, const struct inet_diag_msg *msg, GError **error)
{
  if (msg->id.idiag_sport != g_htons (tuple->source_port) ||
      msg->id.idiag_dport != g_htons (tuple->destination_port) ||
      !same_address (tuple, msg->idiag_family, msg->id.idiag_src, tuple->source) ||
      !same_address (tuple, msg->idiag_family, msg->id.idiag_dst, tuple->destination))
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_FAILED, "the kernel described another socket");
      return FALSE;
    }

  if (msg->idiag_state == TCP_LISTEN || msg->idiag_state == TCP_TIME_WAIT || msg->idiag_inode == 0)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "no process holds the socket (state %u)",
                   msg->idiag_state);
      return FALSE;
    }

  return TRUE;
}

gboolean
sm_sock_diag_parse_answer (const SmSockDiagTuple *tuple,
                           guint32                seq,
                           const guint8          *answer,
                           gsize                  len,
                           uid_t                 *out_uid,
                           GError               **error)
{
  gsize offset = 0;

  g_return_val_if_fail (tuple != NULL && out_uid != NULL, FALSE);
  g_return_val_if_fail (answer != NULL || len == 0, FALSE);

  while (offset < len)
    {
      struct nlmsghdr header;
      const guint8   *payload;
      gsize           payload_len;

      if (len - offset < sizeof header)
        {
          g_set_error_literal (error, SM_ERROR, SM_ERROR_PROTOCOL, "truncated netlink message");
          return FALSE;
        }
      /* Copied out: the buffer need not be aligned */
      memcpy (&header, answer + offset, sizeof header);
      if (header.nlmsg_len < NLMSG_HDRLEN || header.nlmsg_len > len - offset)
        {
          g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL,
                       "netlink message of %u bytes where %zu are left", header.nlmsg_len,
                       len - offset);
          return FALSE;
        }
      payload = answer + offset + NLMSG_HDRLEN;
      payload_len = header.nlmsg_len - NLMSG_HDRLEN;

      if (header.nlmsg_seq == seq)
        {
          if (header.nlmsg_type == NLMSG_ERROR)
            {
              struct nlmsgerr err;

              if (payload_len < sizeof err.error)
                {
                  g_set_error_literal (error, SM_ERROR, SM_ERROR_PROTOCOL,
                                       "truncated netlink error");
                  return FALSE;
                }
              memcpy (&err.error, payload, sizeof err.error);
              /* 0 would be an acknowledgement, which we did not ask for */
              if (err.error != 0)
                {
                  g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "the kernel answered: %s",
                               g_strerror (err.error == G_MININT ? EINVAL : -err.error));
                  return FALSE;
                }
            }
          else if (header.nlmsg_type == NLMSG_DONE)
            break;
          else if (header.nlmsg_type == SOCK_DIAG_BY_FAMILY)
            {
              struct inet_diag_msg msg;

              if (payload_len < sizeof msg)
                {
                  g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL,
                               "inet_diag answer of %zu bytes, %zu expected", payload_len,
                               sizeof msg);
                  return FALSE;
                }
              memcpy (&msg, payload, sizeof msg);
              if (!check_diag_message (tuple, &msg, error))
                return FALSE;
              *out_uid = msg.idiag_uid;
              return TRUE;
            }
        }

      /* The last message need not be padded */
      if (NLMSG_ALIGN (header.nlmsg_len) >= len - offset)
        break;
      offset += NLMSG_ALIGN (header.nlmsg_len);
    }

  g_set_error_literal (error, SM_ERROR, SM_ERROR_FAILED, "no such socket");
  return FALSE;
}

static gboolean
is_v4_mapped (GInetAddress *address)
{
  return g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 &&
         memcmp (g_inet_address_to_bytes (address), "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0;
}

static gboolean
tuple_address (GInetAddress *address, int family, guint8 *out)
{
  const guint8 *bytes = g_inet_address_to_bytes (address);

  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4)
    {
      if (family != AF_INET)
        return FALSE;
      memcpy (out, bytes, 4);
    }
  else if (family == AF_INET)
    {
      if (!is_v4_mapped (address))
        return FALSE;
      memcpy (out, bytes + 12, 4);
    }
  else
    memcpy (out, bytes, 16);
  return TRUE;
}

gboolean
sm_sock_diag_tuple_from_connection (GSocketAddress  *local,
                                    GSocketAddress  *remote,
                                    SmSockDiagTuple *out)
{
  GInetAddress *local_address, *remote_address;

  g_return_val_if_fail (out != NULL, FALSE);

  memset (out, 0, sizeof *out);
  if (!G_IS_INET_SOCKET_ADDRESS (local) || !G_IS_INET_SOCKET_ADDRESS (remote))
    return FALSE;

  local_address = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local));
  remote_address = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote));

  /* A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d; their socket
   * is an IPv4 one */
  if (g_inet_address_get_family (remote_address) == G_SOCKET_FAMILY_IPV4 ||
      (is_v4_mapped (remote_address) && is_v4_mapped (local_address)))
    out->family = AF_INET;
  else
    out->family = AF_INET6;

  if (!tuple_address (remote_address, out->family, out->source) ||
      !tuple_address (local_address, out->family, out->destination))
    return FALSE;
  out->source_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (remote));
  out->destination_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));

  return TRUE;
}

/* ---- Asking the kernel ---- */

/* One request, one answer, on a socket of its own: nothing can be left
 * over from an earlier lookup */
static gboolean
query_owner (const SmSockDiagTuple *tuple, uid_t *out_uid, GError **error)
{
  static gint        next_seq = 1;
  guint32            seq = (guint32) g_atomic_int_add (&next_seq, 1);
  guint8             request[sizeof (DiagRequest)];
  guint8             answer[ANSWER_BUFFER_SIZE];
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  struct sockaddr_nl from;
  socklen_t          from_len = sizeof from;
  struct timeval     timeout = { 0, SM_PEER_CREDENTIALS_TIMEOUT_MS * 1000 };
  gsize              request_len;
  gssize             n;
  int                fd;
  int                saved_errno;

  request_len = sm_sock_diag_build_request (tuple, seq, request, sizeof request);
  g_assert (request_len == sizeof request);

  fd = socket (AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0)
    {
      saved_errno = errno;
      g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "no sock_diag socket: %s",
                   g_strerror (saved_errno));
      return FALSE;
    }

  if (setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
      sendto (fd, request, request_len, 0, (struct sockaddr *) &kernel, sizeof kernel) !=
          (gssize) request_len)
    {
      saved_errno = errno;
      close (fd);
      g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "cannot ask sock_diag: %s",
                   g_strerror (saved_errno));
      return FALSE;
    }

  do
    n = recvfrom (fd, answer, sizeof answer, MSG_TRUNC, (struct sockaddr *) &from, &from_len);
  while (n < 0 && errno == EINTR);
  saved_errno = errno;
  close (fd);

  if (n < 0)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "no answer from sock_diag: %s",
                   g_strerror (saved_errno));
      return FALSE;
    }
  if ((gsize) n > sizeof answer)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "sock_diag answer of %zd bytes", n);
      return FALSE;
    }
  if (from_len < sizeof from || from.nl_family != AF_NETLINK || from.nl_pid != 0)
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_FAILED, "answer not from the kernel");
      return FALSE;
    }

  return sm_sock_diag_parse_answer (tuple, seq, answer, (gsize) n, out_uid, error);
}

/* ---- Users ---- */

/* getpwuid_r with a buffer that grows as needed; FALSE if there is no such
 * user (or the lookup failed) */
static gboolean
lookup_user (uid_t uid, gid_t *out_gid, char **out_name)
{
  struct passwd    pwd;
  struct passwd   *result = NULL;
  g_autofree char *buffer = NULL;
  gsize            size = 1024;
  int              status;

  for (;;)
    {
      buffer = g_realloc (buffer, size);
      status = getpwuid_r (uid, &pwd, buffer, size, &result);
      if (status != ERANGE || size >= 1024 * 1024)
        break;
      size *= 2;
    }
  if (status != 0 || result == NULL)
    return FALSE;

  if (out_gid != NULL)
    *out_gid = pwd.pw_gid;
  if (out_name != NULL)
    *out_name = g_strdup (pwd.pw_name);
  return TRUE;
}

void
sm_peer_credentials_lookup_tcp (GSocketAddress    *local,
                                GSocketAddress    *remote,
                                SmPeerCredentials *out)
{
  SmSockDiagTuple tuple;
  uid_t           uid;
  g_autoptr (GError) error = NULL;

  g_return_if_fail (out != NULL);

  memset (out, 0, sizeof *out);
  out->gid = (gid_t) -1;

  if (!sm_sock_diag_tuple_from_connection (local, remote, &tuple))
    {
      g_debug ("Peer owner unknown: not a TCP connection");
      return;
    }

  if (!query_owner (&tuple, &uid, &error))
    {
      g_autofree char *peer = sm_address_format_socket (remote);

      /* Also every peer on another machine */
      g_debug ("Owner of %s unknown: %s", peer, error->message);
      return;
    }

  out->known = TRUE;
  out->uid = uid;
  if (!lookup_user (uid, &out->gid, NULL))
    out->gid = (gid_t) -1;
}

static void
lookup_unix (GSocketConnection *connection, SmPeerCredentials *out)
{
  GSocket *socket = g_socket_connection_get_socket (connection);
  g_autoptr (GCredentials) credentials = NULL;
  g_autoptr (GError) error = NULL;
  const struct ucred *ucred;

  out->is_unix = TRUE;
  credentials = g_socket_get_credentials (socket, &error);
  if (credentials == NULL)
    {
      g_debug ("Unix peer unknown: %s", error->message);
      return;
    }

  ucred = g_credentials_get_native (credentials, G_CREDENTIALS_TYPE_LINUX_UCRED);
  if (ucred == NULL || ucred->uid == (uid_t) -1)
    {
      g_debug ("Unix peer unknown: no credentials");
      return;
    }

  out->known = TRUE;
  out->uid = ucred->uid;
  out->gid = ucred->gid;
  out->pid = ucred->pid;
}

void
sm_peer_credentials_lookup (GSocketConnection *connection, SmPeerCredentials *out)
{
  g_autoptr (GSocketAddress) local = NULL;
  g_autoptr (GSocketAddress) remote = NULL;

  g_return_if_fail (G_IS_SOCKET_CONNECTION (connection));
  g_return_if_fail (out != NULL);

  memset (out, 0, sizeof *out);
  out->gid = (gid_t) -1;

  if (g_socket_get_family (g_socket_connection_get_socket (connection)) == G_SOCKET_FAMILY_UNIX)
    {
      lookup_unix (connection, out);
      return;
    }

  local = g_socket_connection_get_local_address (connection, NULL);
  remote = g_socket_connection_get_remote_address (connection, NULL);
  sm_peer_credentials_lookup_tcp (local, remote, out);
}

char *
sm_peer_credentials_describe (const SmPeerCredentials *creds)
{
  g_autofree char *name = NULL;

  g_return_val_if_fail (creds != NULL, NULL);

  if (!creds->known)
    return g_strdup ("unknown");

  if (lookup_user (creds->uid, NULL, &name))
    return g_strdup_printf ("uid %u (%s)", (guint) creds->uid, name);
  return g_strdup_printf ("uid %u", (guint) creds->uid);
}
