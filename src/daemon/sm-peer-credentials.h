/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Who is at the other end of a control connection. Unix peers tell the
 * kernel's SO_PEERCRED; for TCP the kernel's socket table is asked through
 * NETLINK_SOCK_DIAG (inet_diag) who owns the peer's socket, which only
 * works for peers on this machine. Anything that cannot be found makes the
 * peer unknown, which gets the least rights.
 */

#include <gio/gio.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* How long a TCP lookup may wait for the kernel's answer (it comes at once:
 * the kernel answers a request for one socket while it is being sent) */
#define SM_PEER_CREDENTIALS_TIMEOUT_MS 100

typedef struct
{
  gboolean known;   /* FALSE: the owner could not be found: least rights */
  gboolean is_unix; /* came over a Unix socket (SO_PEERCRED) */
  uid_t    uid;     /* valid when known */
  gid_t    gid;     /* the peer's gid (Unix) or the uid's primary group (TCP,
                     * from getpwuid_r); (gid_t) -1 if unknown */
  pid_t    pid;     /* Unix peers only, else 0 */
} SmPeerCredentials;

/* Never fails: an unknown peer is reported as known = FALSE (g_debug why).
 * A TCP lookup blocks for at most SM_PEER_CREDENTIALS_TIMEOUT_MS. */
void  sm_peer_credentials_lookup (GSocketConnection *connection, SmPeerCredentials *out);
/* "uid 1000 (alice)", "uid 1000" without a user name, or "unknown": for
 * logs and refusal messages */
char *sm_peer_credentials_describe (const SmPeerCredentials *creds);

/* The owner of the local TCP socket at the other end of a connection whose
 * ends are @local (ours) and @remote (the peer's): a forged pair finds
 * nothing. Sets only known, uid and gid of @out (the rest is zeroed). */
void  sm_peer_credentials_lookup_tcp (GSocketAddress    *local,
                                      GSocketAddress    *remote,
                                      SmPeerCredentials *out);

/* ---- The sock_diag messages, pure functions for tests ---- */

/* One TCP socket as its owner sees it. Addresses in network order (4 bytes
 * used for AF_INET), ports in host order. */
typedef struct
{
  int     family; /* AF_INET or AF_INET6 */
  guint8  source[16];
  guint16 source_port;
  guint8  destination[16];
  guint16 destination_port;
} SmSockDiagTuple;

/* The SOCK_DIAG_BY_FAMILY request for exactly that socket, in any TCP
 * state. Returns the length written, or 0 when @size is too small. */
gsize
sm_sock_diag_build_request (const SmSockDiagTuple *tuple, guint32 seq, guint8 *buffer, gsize size);

/* Reads the kernel's answer to that request: TRUE with the owner's uid
 * when it describes exactly that socket and a process holds it. An error
 * answer, no match, a socket in TIME_WAIT or LISTEN, or a truncated or
 * malformed answer is FALSE with @error set (SM_ERROR_PROTOCOL for a
 * malformed answer, SM_ERROR_FAILED otherwise). */
gboolean sm_sock_diag_parse_answer (const SmSockDiagTuple *tuple,
                                    guint32                seq,
                                    const guint8          *answer,
                                    gsize                  len,
                                    uid_t                 *out_uid,
                                    GError               **error);

/* The tuple of @remote's socket (its source is @remote, its destination
 * @local); IPv4-mapped IPv6 addresses become IPv4. FALSE if these are not
 * both IP addresses of the same family. */
gboolean sm_sock_diag_tuple_from_connection (GSocketAddress  *local,
                                             GSocketAddress  *remote,
                                             SmSockDiagTuple *out);

G_END_DECLS
