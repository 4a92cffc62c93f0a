/* SPDX-License-Identifier: MIT */
/*
 * Peer identity of control connections: SO_PEERCRED for Unix sockets, the
 * kernel's socket table (sock_diag) for TCP, the pure netlink message
 * helpers, and the daemon listening on a Unix control socket.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <glib/gstdio.h>
#include <gio/gunixsocketaddress.h>

#include "sm-address.h"
#include "sm-control.h"
#include "sm-error.h"
#include "sm-peer-credentials.h"
#include "sm-test-util.h"

#define NOBODY 65534

/* ---- Sockets in process ---- */

typedef struct {
  GSocket           *listener;
  GSocket           *client;
  GSocketConnection *server; /* the accepted end, as SmControl gets it */
} Pair;

static void
pair_clear (Pair *pair)
{
  g_clear_object (&pair->server);
  g_clear_object (&pair->client);
  g_clear_object (&pair->listener);
}

static GSocket *
listen_on (GSocketAddress *address,
           gboolean        dual_stack,
           GError        **error)
{
  g_autoptr(GSocket) listener = NULL;

  listener = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM,
                           G_SOCKET_PROTOCOL_DEFAULT, error);
  if (listener == NULL)
    return NULL;
  if (g_socket_address_get_family (address) == G_SOCKET_FAMILY_IPV6 &&
      !g_socket_set_option (listener, IPPROTO_IPV6, IPV6_V6ONLY, dual_stack ? 0 : 1, error))
    return NULL;
  if (!g_socket_bind (listener, address, FALSE, error) || !g_socket_listen (listener, error))
    return NULL;
  g_socket_set_timeout (listener, 30);
  return g_steal_pointer (&listener);
}

static GSocketConnection *
accept_one (GSocket *listener)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) accepted = g_socket_accept (listener, NULL, &error);

  g_assert_no_error (error);
  return g_socket_connection_factory_create_connection (accepted);
}

/* A connection from us to a listener on @bind_address (the port of an
 * inet one is ephemeral); FALSE if that address family is unavailable */
static gboolean
pair_open (Pair           *pair,
           GSocketAddress *bind_address,
           GSocketAddress *connect_to,
           gboolean        dual_stack)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) bound = NULL;

  memset (pair, 0, sizeof *pair);
  pair->listener = listen_on (bind_address, dual_stack, &error);
  if (pair->listener == NULL)
    {
      g_test_message ("cannot listen: %s", error->message);
      return FALSE;
    }
  bound = g_socket_get_local_address (pair->listener, &error);
  g_assert_no_error (error);

  /* @connect_to keeps its address; the port is the listener's */
  if (G_IS_INET_SOCKET_ADDRESS (bound))
    {
      GInetAddress *host = g_inet_socket_address_get_address (
          G_INET_SOCKET_ADDRESS (connect_to != NULL ? connect_to : bound));

      connect_to = g_inet_socket_address_new (
          host, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
    }
  else
    connect_to = g_object_ref (bound);

  pair->client = g_socket_new (g_socket_address_get_family (connect_to), G_SOCKET_TYPE_STREAM,
                               G_SOCKET_PROTOCOL_DEFAULT, &error);
  g_assert_no_error (error);
  g_socket_connect (pair->client, connect_to, NULL, &error);
  g_object_unref (connect_to);
  g_assert_no_error (error);
  pair->server = accept_one (pair->listener);
  return TRUE;
}

static gid_t
primary_group (uid_t uid)
{
  struct passwd *pw = getpwuid (uid);

  return pw != NULL ? pw->pw_gid : (gid_t) -1;
}

static void
assert_tcp_self (const char *bind_host,
                 const char *connect_host,
                 gboolean    dual_stack)
{
  g_autoptr(GSocketAddress) bind_address = g_inet_socket_address_new_from_string (bind_host, 0);
  g_autoptr(GSocketAddress) connect_to =
      connect_host != NULL ? g_inet_socket_address_new_from_string (connect_host, 1) : NULL;
  g_autofree char *described = NULL;
  SmPeerCredentials creds;
  Pair pair;

  if (!pair_open (&pair, bind_address, connect_to, dual_stack))
    {
      g_test_skip ("this address family is not available");
      return;
    }

  sm_peer_credentials_lookup (pair.server, &creds);
  g_assert_true (creds.known);
  g_assert_false (creds.is_unix);
  g_assert_cmpuint (creds.uid, ==, getuid ());
  g_assert_cmpuint (creds.gid, ==, primary_group (getuid ()));
  g_assert_cmpint (creds.pid, ==, 0);

  described = sm_peer_credentials_describe (&creds);
  g_assert_true (g_str_has_prefix (described, "uid "));
  g_test_message ("%s", described);

  pair_clear (&pair);
}

static void
test_tcp4_self (void)
{
  assert_tcp_self ("127.0.0.1", NULL, FALSE);
}

static void
test_tcp6_self (void)
{
  assert_tcp_self ("::1", NULL, FALSE);
}

/* A dual-stack listener sees ::ffff:127.0.0.1; the peer's socket is IPv4 */
static void
test_tcp_mapped_self (void)
{
  assert_tcp_self ("::", "127.0.0.1", TRUE);
}

/* An IPv6 socket connecting to an IPv4-mapped address is an IPv6 socket
 * in the kernel's table, with an IPv4 connection */
static void
test_tcp_mapped_client_self (void)
{
  assert_tcp_self ("127.0.0.1", "::ffff:127.0.0.1", FALSE);
}

static void
test_unix_self (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sm-peer-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "s.sock", NULL);
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);
  SmPeerCredentials creds;
  Pair pair;

  g_assert_no_error (error);
  g_assert_true (pair_open (&pair, address, NULL, FALSE));

  sm_peer_credentials_lookup (pair.server, &creds);
  g_assert_true (creds.known);
  g_assert_true (creds.is_unix);
  g_assert_cmpuint (creds.uid, ==, getuid ());
  g_assert_cmpuint (creds.gid, ==, getgid ());
  g_assert_cmpint (creds.pid, ==, getpid ());

  pair_clear (&pair);
  g_unlink (path);
  g_rmdir (dir);
}

/* Tuples the kernel has no connected socket for, including ones where it
 * would fall back to a listening socket */
static void
test_tcp_forged (void)
{
  g_autoptr(GSocketAddress) bind_address = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_autoptr(GSocketAddress) listening = NULL;
  g_autoptr(GSocketAddress) nowhere = g_inet_socket_address_new_from_string ("127.0.0.1", 1);
  g_autoptr(GSocketAddress) remote_host = g_inet_socket_address_new_from_string ("192.0.2.1", 40000);
  g_autoptr(GSocketAddress) unix_address = g_unix_socket_address_new ("/nonexistent");
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) client_address = NULL;
  g_autoptr(GSocketAddress) server_address = NULL;
  SmPeerCredentials creds;
  Pair pair;

  g_assert_true (pair_open (&pair, bind_address, NULL, FALSE));
  listening = g_socket_get_local_address (pair.listener, &error);
  g_assert_no_error (error);
  client_address = g_socket_get_local_address (pair.client, &error);
  g_assert_no_error (error);
  server_address = g_socket_get_local_address (g_socket_connection_get_socket (pair.server),
                                               &error);
  g_assert_no_error (error);

  /* The real one first, so the others fail for the right reason */
  sm_peer_credentials_lookup_tcp (server_address, client_address, &creds);
  g_assert_true (creds.known);

  /* Nobody has 127.0.0.1:1 */
  sm_peer_credentials_lookup_tcp (server_address, nowhere, &creds);
  g_assert_false (creds.known);
  g_assert_cmpuint (creds.gid, ==, (gid_t) -1);

  /* The peer "is" our listening socket: the kernel answers with the
   * listener, which says nothing about who connected */
  sm_peer_credentials_lookup_tcp (nowhere, listening, &creds);
  g_assert_false (creds.known);

  /* Right source, wrong destination */
  sm_peer_credentials_lookup_tcp (nowhere, client_address, &creds);
  g_assert_false (creds.known);

  /* Another machine */
  sm_peer_credentials_lookup_tcp (server_address, remote_host, &creds);
  g_assert_false (creds.known);

  /* Not TCP */
  sm_peer_credentials_lookup_tcp (server_address, unix_address, &creds);
  g_assert_false (creds.known);
  sm_peer_credentials_lookup_tcp (NULL, NULL, &creds);
  g_assert_false (creds.known);

  {
    g_autofree char *described = sm_peer_credentials_describe (&creds);

    g_assert_cmpstr (described, ==, "unknown");
  }

  pair_clear (&pair);
}

/* Once the peer closed its socket no process holds it (orphaned, then
 * TIME_WAIT, which the kernel reports as uid 0): unknown, never root */
static void
test_tcp_peer_closed (void)
{
  g_autoptr(GSocketAddress) bind_address = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_autoptr(GError) error = NULL;
  SmPeerCredentials creds;
  Pair pair;
  char byte;

  g_assert_true (pair_open (&pair, bind_address, NULL, FALSE));
  g_socket_close (pair.client, &error);
  g_assert_no_error (error);
  /* Its FIN has arrived: the kernel's table is past the close */
  g_socket_set_timeout (g_socket_connection_get_socket (pair.server), 30);
  g_assert_cmpint (g_socket_receive (g_socket_connection_get_socket (pair.server), &byte, 1,
                                     NULL, &error), ==, 0);

  sm_peer_credentials_lookup (pair.server, &creds);
  g_assert_false (creds.known);

  /* And after our side closed too: TIME_WAIT on the peer's side */
  {
    g_autoptr(GSocketAddress) local =
        g_socket_connection_get_local_address (pair.server, NULL);
    g_autoptr(GSocketAddress) remote =
        g_socket_connection_get_remote_address (pair.server, NULL);

    g_io_stream_close (G_IO_STREAM (pair.server), NULL, &error);
    g_assert_no_error (error);
    sm_peer_credentials_lookup_tcp (local, remote, &creds);
    g_assert_false (creds.known);
  }

  pair_clear (&pair);
}

/* ---- A peer running as nobody ---- */

static const char *connect_script =
    "import socket, sys\n"
    "if sys.argv[1] == 'unix':\n"
    "    s = socket.socket(socket.AF_UNIX)\n"
    "    s.connect(sys.argv[2])\n"
    "else:\n"
    "    s = socket.create_connection((sys.argv[2], int(sys.argv[3])))\n"
    "sys.stdin.read()\n";

static gboolean
nobody_available (void)
{
  return getuid () == 0 && g_file_test ("/usr/bin/setpriv", G_FILE_TEST_IS_EXECUTABLE) &&
         g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE);
}

static gboolean
can_run_as_nobody (void)
{
  if (!nobody_available ())
    {
      g_test_skip ("needs root, /usr/bin/setpriv and /usr/bin/python3 to run a process as nobody");
      return FALSE;
    }
  return TRUE;
}

/* The connect script as nobody: connected until its stdin closes */
static GSubprocess *
spawn_nobody_peer (const char *kind,
                   const char *target,
                   const char *port)
{
  g_autoptr(GError) error = NULL;
  const char *argv[] = { "/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                         "--clear-groups", "/usr/bin/python3", "-c", connect_script,
                         kind, target, port, NULL };
  GSubprocess *child = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE, &error);

  g_assert_no_error (error);
  return child;
}

static void
end_nobody_peer (GSubprocess *child)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_close (g_subprocess_get_stdin_pipe (child), NULL, &error);
  g_assert_no_error (error);
  g_subprocess_wait_check (child, NULL, &error);
  g_assert_no_error (error);
}

/* Runs the connect script as nobody, accepts its connection, looks it up */
static void
assert_nobody_peer (GSocket    *listener,
                    const char *kind,
                    const char *target,
                    const char *port)
{
  g_autoptr(GSubprocess) child = spawn_nobody_peer (kind, target, port);
  g_autoptr(GSocketConnection) server = accept_one (listener);
  SmPeerCredentials creds;


  sm_peer_credentials_lookup (server, &creds);
  g_assert_true (creds.known);
  g_assert_cmpuint (creds.uid, ==, NOBODY);
  g_assert_cmpuint (creds.gid, ==, primary_group (NOBODY));
  g_assert_true (creds.is_unix == (g_strcmp0 (kind, "unix") == 0));
  if (creds.is_unix)
    g_assert_cmpint (creds.pid, ==, atoi (g_subprocess_get_identifier (child)));

  end_nobody_peer (child);
}

static void
test_nobody_tcp (void)
{
  g_autoptr(GSocketAddress) bind_address = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocket) listener = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *port = NULL;

  if (!can_run_as_nobody ())
    return;

  listener = listen_on (bind_address, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (listener, &error);
  g_assert_no_error (error);
  port = g_strdup_printf ("%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  assert_nobody_peer (listener, "tcp", "127.0.0.1", port);
}

static void
test_nobody_unix (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocket) listener = NULL;

  if (!can_run_as_nobody ())
    return;

  dir = g_dir_make_tmp ("sm-peer-XXXXXX", &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  path = g_build_filename (dir, "s.sock", NULL);
  address = g_unix_socket_address_new (path);
  listener = listen_on (address, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, 0666), ==, 0);

  assert_nobody_peer (listener, "unix", path, "");

  g_clear_object (&listener);
  g_unlink (path);
  g_rmdir (dir);
}

/* ---- The netlink messages ---- */

static void
example_tuple (SmSockDiagTuple *tuple)
{
  memset (tuple, 0, sizeof *tuple);
  tuple->family = AF_INET;
  memcpy (tuple->source, "\x7f\0\0\x01", 4);
  tuple->source_port = 40000;
  memcpy (tuple->destination, "\x7f\0\0\x01", 4);
  tuple->destination_port = 9999;
}

static void
test_build_request (void)
{
  SmSockDiagTuple tuple;
  guint8 buffer[256];
  struct nlmsghdr header;
  struct inet_diag_req_v2 request;
  gsize len;

  example_tuple (&tuple);
  g_assert_cmpuint (sm_sock_diag_build_request (&tuple, 7, buffer, 8), ==, 0);

  len = sm_sock_diag_build_request (&tuple, 7, buffer, sizeof buffer);
  g_assert_cmpuint (len, ==, NLMSG_LENGTH (sizeof request));
  memcpy (&header, buffer, sizeof header);
  memcpy (&request, buffer + NLMSG_HDRLEN, sizeof request);

  g_assert_cmpuint (header.nlmsg_len, ==, len);
  g_assert_cmpuint (header.nlmsg_type, ==, SOCK_DIAG_BY_FAMILY);
  /* One socket, not a dump of all */
  g_assert_cmpuint (header.nlmsg_flags, ==, NLM_F_REQUEST);
  g_assert_cmpuint (header.nlmsg_seq, ==, 7);
  g_assert_cmpuint (request.sdiag_family, ==, AF_INET);
  g_assert_cmpuint (request.sdiag_protocol, ==, IPPROTO_TCP);
  g_assert_cmpuint (request.idiag_states, ==, ~0U);
  g_assert_cmpuint (request.id.idiag_sport, ==, g_htons (40000));
  g_assert_cmpuint (request.id.idiag_dport, ==, g_htons (9999));
  g_assert_cmpmem (request.id.idiag_src, 4, "\x7f\0\0\x01", 4);
  g_assert_cmpmem (request.id.idiag_dst, 4, "\x7f\0\0\x01", 4);
  g_assert_cmpuint (request.id.idiag_src[1], ==, 0);
  g_assert_cmpuint (request.id.idiag_cookie[0], ==, INET_DIAG_NOCOOKIE);
  g_assert_cmpuint (request.id.idiag_cookie[1], ==, INET_DIAG_NOCOOKIE);

  /* IPv6: all 16 bytes */
  tuple.family = AF_INET6;
  memcpy (tuple.source, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
  len = sm_sock_diag_build_request (&tuple, 8, buffer, sizeof buffer);
  g_assert_cmpuint (len, >, 0);
  memcpy (&request, buffer + NLMSG_HDRLEN, sizeof request);
  g_assert_cmpuint (request.sdiag_family, ==, AF_INET6);
  g_assert_cmpmem (request.id.idiag_src, 16, tuple.source, 16);
}

/* An answer as the kernel would send it for @tuple */
static GByteArray *
answer_new (const SmSockDiagTuple *tuple,
            guint32                seq,
            guint8                 state,
            uid_t                  uid,
            guint32                inode)
{
  GByteArray *answer = g_byte_array_new ();
  struct nlmsghdr header = { 0 };
  struct inet_diag_msg msg = { 0 };
  /* An attribute after the message, as the kernel adds some */
  const guint8 attribute[8] = { 5, 0, INET_DIAG_SHUTDOWN, 0, 0, 0, 0, 0 };

  msg.idiag_family = tuple->family;
  msg.idiag_state = state;
  msg.id.idiag_sport = g_htons (tuple->source_port);
  msg.id.idiag_dport = g_htons (tuple->destination_port);
  memcpy (msg.id.idiag_src, tuple->source, tuple->family == AF_INET ? 4 : 16);
  memcpy (msg.id.idiag_dst, tuple->destination, tuple->family == AF_INET ? 4 : 16);
  msg.idiag_uid = uid;
  msg.idiag_inode = inode;

  header.nlmsg_len = NLMSG_LENGTH (sizeof msg + sizeof attribute);
  header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  header.nlmsg_seq = seq;
  g_byte_array_append (answer, (const guint8 *) &header, sizeof header);
  g_byte_array_append (answer, (const guint8 *) &msg, sizeof msg);
  g_byte_array_append (answer, attribute, sizeof attribute);
  return answer;
}

static GByteArray *
error_answer_new (guint32 seq,
                  int     error_number,
                  gsize   payload_len)
{
  GByteArray *answer = g_byte_array_new ();
  struct nlmsghdr header = { 0 };
  struct nlmsgerr err = { 0 };

  err.error = -error_number;
  header.nlmsg_len = NLMSG_LENGTH (payload_len);
  header.nlmsg_type = NLMSG_ERROR;
  header.nlmsg_seq = seq;
  g_byte_array_append (answer, (const guint8 *) &header, sizeof header);
  g_byte_array_append (answer, (const guint8 *) &err, MIN (payload_len, sizeof err));
  return answer;
}

static gboolean
parse (const SmSockDiagTuple *tuple,
       GByteArray            *answer,
       gsize                  len,
       uid_t                 *uid,
       GError               **error)
{
  /* A copy of exactly @len bytes, so ASan sees any read past them */
  g_autofree guint8 *copy = g_memdup2 (answer->data, len);

  return sm_sock_diag_parse_answer (tuple, 3, copy, len, uid, error);
}

static void
test_parse_answer (void)
{
  SmSockDiagTuple tuple;
  g_autoptr(GByteArray) answer = NULL;
  g_autoptr(GError) error = NULL;
  uid_t uid = 0;

  example_tuple (&tuple);
  answer = answer_new (&tuple, 3, TCP_ESTABLISHED, 1000, 4242);
  g_assert_true (parse (&tuple, answer, answer->len, &uid, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (uid, ==, 1000);

  /* Without the padding of the last message */
  g_byte_array_set_size (answer, answer->len - 3);
  ((struct nlmsghdr *) answer->data)->nlmsg_len -= 3;
  g_assert_true (parse (&tuple, answer, answer->len, &uid, &error));
  g_assert_no_error (error);

  /* After a message with another sequence number */
  {
    g_autoptr(GByteArray) other = answer_new (&tuple, 2, TCP_ESTABLISHED, 0, 1);
    g_autoptr(GByteArray) good = answer_new (&tuple, 3, TCP_ESTABLISHED, 1001, 1);

    g_byte_array_append (other, good->data, good->len);
    g_assert_true (parse (&tuple, other, other->len, &uid, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (uid, ==, 1001);
  }

  /* An IPv6 socket on an IPv4 connection, described as IPv6 */
  {
    SmSockDiagTuple mapped = tuple;
    g_autoptr(GByteArray) v6 = NULL;

    mapped.family = AF_INET6;
    memcpy (mapped.source, "\0\0\0\0\0\0\0\0\0\0\xff\xff\x7f\0\0\x01", 16);
    memcpy (mapped.destination, mapped.source, 16);
    v6 = answer_new (&mapped, 3, TCP_ESTABLISHED, 1002, 1);
    g_assert_true (parse (&tuple, v6, v6->len, &uid, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (uid, ==, 1002);

    /* but not any IPv6 address that ends the same */
    mapped.source[10] = 0;
    g_clear_pointer (&v6, g_byte_array_unref);
    v6 = answer_new (&mapped, 3, TCP_ESTABLISHED, 1002, 1);
    g_assert_false (parse (&tuple, v6, v6->len, &uid, &error));
    g_assert_error (error, SM_ERROR, SM_ERROR_FAILED);
    g_clear_error (&error);
  }

  /* IPv6 */
  tuple.family = AF_INET6;
  memcpy (tuple.source, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
  memcpy (tuple.destination, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
  {
    g_autoptr(GByteArray) v6 = answer_new (&tuple, 3, TCP_CLOSE_WAIT, 65534, 9);

    g_assert_true (parse (&tuple, v6, v6->len, &uid, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (uid, ==, 65534);
  }
}

static void
test_parse_refused (void)
{
  SmSockDiagTuple tuple, other;
  uid_t uid = 4242;

  example_tuple (&tuple);

  /* Every length of a truncated answer, header included */
  {
    g_autoptr(GByteArray) answer = answer_new (&tuple, 3, TCP_ESTABLISHED, 1000, 1);

    for (gsize len = 1; len < NLMSG_LENGTH (sizeof (struct inet_diag_msg)); len++)
      {
        g_autoptr(GError) error = NULL;

        g_assert_false (parse (&tuple, answer, len, &uid, &error));
        g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
      }
  }

  /* A length field that is too short for the message, or too long for
   * what arrived */
  {
    g_autoptr(GByteArray) answer = answer_new (&tuple, 3, TCP_ESTABLISHED, 1000, 1);
    g_autoptr(GError) error = NULL;

    ((struct nlmsghdr *) answer->data)->nlmsg_len = NLMSG_LENGTH (8);
    g_assert_false (parse (&tuple, answer, answer->len, &uid, &error));
    g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
    g_clear_error (&error);

    ((struct nlmsghdr *) answer->data)->nlmsg_len = answer->len + 1;
    g_assert_false (parse (&tuple, answer, answer->len, &uid, &error));
    g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
    g_clear_error (&error);

    ((struct nlmsghdr *) answer->data)->nlmsg_len = 3;
    g_assert_false (parse (&tuple, answer, answer->len, &uid, &error));
    g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
  }

  /* The kernel's "no such socket", and an error too short to read */
  {
    g_autoptr(GByteArray) answer = error_answer_new (3, ENOENT, sizeof (struct nlmsgerr));
    g_autoptr(GByteArray) short_answer = error_answer_new (3, ENOENT, 2);
    g_autoptr(GError) error = NULL;

    g_assert_false (parse (&tuple, answer, answer->len, &uid, &error));
    g_assert_error (error, SM_ERROR, SM_ERROR_FAILED);
    g_assert_nonnull (strstr (error->message, g_strerror (ENOENT)));
    g_clear_error (&error);

    g_assert_false (parse (&tuple, short_answer, short_answer->len, &uid, &error));
    g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
  }

  /* Nothing, only other sequence numbers, only DONE */
  {
    g_autoptr(GByteArray) stale = answer_new (&tuple, 2, TCP_ESTABLISHED, 0, 1);
    g_autoptr(GByteArray) done = g_byte_array_new ();
    struct nlmsghdr header = { NLMSG_LENGTH (4), NLMSG_DONE, 0, 3, 0 };
    guint32 zero = 0;
    g_autoptr(GError) error = NULL;

    g_byte_array_append (done, (const guint8 *) &header, sizeof header);
    g_byte_array_append (done, (const guint8 *) &zero, sizeof zero);

    g_assert_false (sm_sock_diag_parse_answer (&tuple, 3, NULL, 0, &uid, &error));
    g_assert_error (error, SM_ERROR, SM_ERROR_FAILED);
    g_clear_error (&error);
    g_assert_false (parse (&tuple, stale, stale->len, &uid, &error));
    g_assert_error (error, SM_ERROR, SM_ERROR_FAILED);
    g_clear_error (&error);
    g_assert_false (parse (&tuple, done, done->len, &uid, &error));
    g_assert_error (error, SM_ERROR, SM_ERROR_FAILED);
  }

  /* Sockets no process holds (the kernel says uid 0 for them), and the
   * listener the kernel falls back to */
  {
    const struct {
      guint8  state;
      guint32 inode;
    } cases[] = {
      { TCP_TIME_WAIT, 0 },
      { TCP_FIN_WAIT2, 0 }, /* a TIME_WAIT socket reports its substate */
      { TCP_ESTABLISHED, 0 },
      { TCP_LISTEN, 77 },
      { TCP_TIME_WAIT, 77 },
    };

    for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        g_autoptr(GByteArray) answer = answer_new (&tuple, 3, cases[i].state, 0, cases[i].inode);
        g_autoptr(GError) error = NULL;

        g_assert_false (parse (&tuple, answer, answer->len, &uid, &error));
        g_assert_error (error, SM_ERROR, SM_ERROR_FAILED);
      }
  }

  /* Any other socket than the one asked for */
  for (guint i = 0; i < 5; i++)
    {
      g_autoptr(GByteArray) answer = NULL;
      g_autoptr(GError) error = NULL;

      other = tuple;
      switch (i)
        {
        case 0: other.source_port++; break;
        case 1: other.destination_port = 0; break;
        case 2: other.source[3] = 2; break;
        case 3: memset (other.destination, 0, sizeof other.destination); break;
        default: other.family = AF_INET6; break;
        }
      answer = answer_new (&other, 3, TCP_ESTABLISHED, 1000, 1);
      g_assert_false (parse (&tuple, answer, answer->len, &uid, &error));
      g_assert_error (error, SM_ERROR, SM_ERROR_FAILED);
    }

  g_assert_cmpuint (uid, ==, 4242);
}

static void
test_tuple_from_connection (void)
{
  g_autoptr(GSocketAddress) local4 = g_inet_socket_address_new_from_string ("127.0.0.1", 9999);
  g_autoptr(GSocketAddress) remote4 = g_inet_socket_address_new_from_string ("127.0.0.2", 40000);
  g_autoptr(GSocketAddress) local_mapped =
      g_inet_socket_address_new_from_string ("::ffff:127.0.0.1", 9999);
  g_autoptr(GSocketAddress) remote_mapped =
      g_inet_socket_address_new_from_string ("::ffff:127.0.0.2", 40000);
  g_autoptr(GSocketAddress) local6 = g_inet_socket_address_new_from_string ("::1", 9999);
  g_autoptr(GSocketAddress) remote6 = g_inet_socket_address_new_from_string ("2001:db8::2", 40000);
  g_autoptr(GSocketAddress) unix_address = g_unix_socket_address_new ("/x");
  SmSockDiagTuple tuple;

  /* The peer's source is our remote end */
  g_assert_true (sm_sock_diag_tuple_from_connection (local4, remote4, &tuple));
  g_assert_cmpint (tuple.family, ==, AF_INET);
  g_assert_cmpmem (tuple.source, 4, "\x7f\0\0\x02", 4);
  g_assert_cmpuint (tuple.source_port, ==, 40000);
  g_assert_cmpmem (tuple.destination, 4, "\x7f\0\0\x01", 4);
  g_assert_cmpuint (tuple.destination_port, ==, 9999);

  g_assert_true (sm_sock_diag_tuple_from_connection (local_mapped, remote_mapped, &tuple));
  g_assert_cmpint (tuple.family, ==, AF_INET);
  g_assert_cmpmem (tuple.source, 4, "\x7f\0\0\x02", 4);
  g_assert_cmpmem (tuple.destination, 4, "\x7f\0\0\x01", 4);

  g_assert_true (sm_sock_diag_tuple_from_connection (local6, remote6, &tuple));
  g_assert_cmpint (tuple.family, ==, AF_INET6);
  g_assert_cmpmem (tuple.source, 16, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02", 16);
  g_assert_cmpmem (tuple.destination, 16, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);

  /* Mixed families cannot be one TCP connection */
  g_assert_false (sm_sock_diag_tuple_from_connection (local6, remote4, &tuple));
  g_assert_false (sm_sock_diag_tuple_from_connection (local4, remote6, &tuple));
  g_assert_false (sm_sock_diag_tuple_from_connection (local4, unix_address, &tuple));
  g_assert_false (sm_sock_diag_tuple_from_connection (NULL, remote4, &tuple));
}

/* ---- SmControl on a Unix socket, in process ---- */

static GSocket *
connect_unix (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_DEFAULT, &error);

  g_assert_no_error (error);
  g_socket_set_timeout (socket, 30);
  g_socket_connect (socket, address, NULL, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&socket);
}


static gboolean
is_readable (gpointer data)
{
  /* The daemon never writes to a silent connection: readable is closed */
  return g_socket_condition_check (data, G_IO_IN | G_IO_HUP | G_IO_ERR) != 0;
}

typedef struct {
  SmControl *control;
  guint      n;
} PendingWait;

static gboolean
has_n_pending (gpointer data)
{
  PendingWait *wait = data;

  return sm_control_get_n_pending (wait->control) == wait->n;
}

/* Pending handshakes of Unix peers count against their uid, not against
 * one address all of them share; TCP peers keep their own count */
static void
test_control_unix_per_uid (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sm-control-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "c.sock", NULL);
  g_autofree char *unix_listener = g_strconcat ("unix:", path, NULL);
  g_autoptr(SmRegistry) registry = sm_registry_new (30);
  g_autoptr(SmControl) control = sm_control_new (registry);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GPtrArray) unix_peers = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GSocket) tcp_peer = NULL;
  g_autofree char *tcp_text = NULL;
  const char * const *listeners;
  PendingWait wait = { control, 0 };
  struct stat st;

  g_assert_no_error (error);
  g_assert_true (sm_control_listen_unix (control, path, &error));
  g_assert_no_error (error);
  g_assert_true (sm_control_listen (control, loopback, 0, &error));
  g_assert_no_error (error);
  sm_control_set_max_pending (control, 16, 2);

  /* In the order they were added; the TCP one has its real port */
  tcp_text = sm_address_format_socket (sm_control_get_local_address (control));
  listeners = sm_control_get_listeners (control);
  g_assert_cmpuint (g_strv_length ((char **) listeners), ==, 2);
  g_assert_cmpstr (listeners[0], ==, unix_listener);
  g_assert_cmpstr (listeners[1], ==, tcp_text);
  g_assert_false (g_str_has_suffix (tcp_text, ":0"));

  g_assert_cmpint (g_lstat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0666);

  /* A second listener on the same path is refused, the file kept */
  {
    g_autoptr(SmControl) other = sm_control_new (registry);

    g_assert_false (sm_control_listen_unix (other, path, &error));
    g_assert_error (error, SM_ERROR, SM_ERROR_ADDRESS_IN_USE);
    g_clear_error (&error);
    g_clear_object (&other);
    g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  }

  /* Two silent ones from our uid fill its share */
  for (guint i = 0; i < 2; i++)
    {
      g_ptr_array_add (unix_peers, connect_unix (path));
      wait.n = i + 1;
      g_assert_true (sm_test_wait_until (has_n_pending, &wait, 10000));
    }

  /* A TCP one is another source */
  tcp_peer = sm_test_connect (
      g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (sm_control_get_local_address (control))),
      &error);
  g_assert_no_error (error);
  wait.n = 3;
  g_assert_true (sm_test_wait_until (has_n_pending, &wait, 10000));

  /* A third from our uid takes the place of the oldest */
  g_ptr_array_add (unix_peers, connect_unix (path));
  g_assert_true (sm_test_wait_until (is_readable, unix_peers->pdata[0], 10000));
  g_assert_true (sm_test_wait_until (has_n_pending, &wait, 10000));
  g_assert_false (is_readable (unix_peers->pdata[1]));
  g_assert_false (is_readable (unix_peers->pdata[2]));
  g_assert_false (is_readable (tcp_peer));

  /* Another uid has a share of its own */
  if (nobody_available ())
    {
      g_autoptr(GSubprocess) child = NULL;

      g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
      child = spawn_nobody_peer ("unix", path, "");
      wait.n = 4;
      g_assert_true (sm_test_wait_until (has_n_pending, &wait, 10000));
      g_assert_false (is_readable (unix_peers->pdata[1]));
      g_assert_false (is_readable (unix_peers->pdata[2]));
      end_nobody_peer (child);
    }
  else
    g_test_message ("not root: no peer of another uid");

  /* Stopping removes the socket file */
  sm_control_stop (control);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  sm_registry_close (registry);
  g_rmdir (dir);
}

/* ---- The daemon on a Unix control socket ---- */

typedef struct {
  SmYamuxSession *session;
  GSocketConnection *connection;
  guint n_streams;
} UnixService;

static void
on_spliced (GObject      *source,
            GAsyncResult *result,
            gpointer      data)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_splice_finish (G_OUTPUT_STREAM (source), result, &error);
  if (error != NULL)
    g_test_message ("echo stream: %s", error->message);
  g_object_unref (data);
}

/* Echo: the stream's input goes back out on it */
static void
on_service_stream (SmYamuxSession *session,
                   SmYamuxStream  *stream,
                   gpointer        data)
{
  UnixService *service = data;
  GIOStream *io = G_IO_STREAM (stream);

  service->n_streams++;
  g_output_stream_splice_async (g_io_stream_get_output_stream (io),
                                g_io_stream_get_input_stream (io),
                                G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, G_PRIORITY_DEFAULT, NULL,
                                on_spliced, g_object_ref (stream));
}

static void
start_daemon_on_unix (const char *path, SmTestDaemon **out_daemon)
{
  g_autofree char *bind = g_strconcat ("unix:", path, NULL);
  g_autofree char *line = g_strconcat ("Listening for services on unix:", path, NULL);
  const char *args[] = { "--bind", bind, "--no-bus", NULL };

  *out_daemon = sm_test_daemon_start_with_args (5.0, args);
  sm_test_daemon_wait_for_line (*out_daemon, line, 10000);
}

static void
test_daemon_unix_socket (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sm-control-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "c.sock", NULL);
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GByteArray) request = NULL;
  g_autofree char *status = NULL;
  SmTestDaemon *daemon = NULL;
  SmYamuxConfig config;
  UnixService service = { 0 };
  guint16 port = sm_test_free_port ();
  struct stat st;

  g_assert_no_error (error);
  start_daemon_on_unix (path, &daemon);
  /* TCP stays the first line, and what tests connect to */
  g_assert_cmpstr (daemon->control_address, !=, "");
  g_assert_false (g_str_has_prefix (daemon->control_address, "unix:"));

  /* Anyone may connect; the policy decides per uid */
  g_assert_cmpint (g_lstat (path, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0666);

  /* The original handshake, unchanged */
  socket = connect_unix (path);
  request = sm_test_handshake_new ("127.0.0.1", port, 0);
  sm_test_send_all (socket, request->data, request->len);
  status = sm_test_read_status (socket, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (status, ==, "OK");
  g_socket_set_timeout (socket, 0);

  service.connection = g_socket_connection_factory_create_connection (socket);
  sm_yamux_config_init (&config);
  service.session = sm_yamux_session_new (G_IO_STREAM (service.connection),
                                          SM_YAMUX_ROLE_SERVER, &config, NULL);
  g_signal_connect (service.session, "incoming", G_CALLBACK (on_service_stream), &service);

  /* Public connections reach the service over the Unix socket */
  sm_test_echo_many (port, 3, 64 * 1024, 30000);
  g_assert_cmpuint (service.n_streams, ==, 3);

  sm_yamux_session_close (service.session);
  g_clear_object (&service.session);
  g_clear_object (&service.connection);

  /* Removed at exit */
  sm_test_daemon_stop (daemon);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_rmdir (dir);
}

/* A socket file left by a killed daemon is taken over; a live one is not,
 * nor a file that is not a socket */
static void
test_daemon_unix_socket_stale (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sm-control-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "c.sock", NULL);
  g_autofree char *bind = g_strconcat ("unix:", path, NULL);
  g_autofree char *regular = g_build_filename (dir, "file", NULL);
  g_autofree char *bind_regular = g_strconcat ("unix:", regular, NULL);
  const char *daemon_path = g_getenv ("SM_DAEMON");
  SmTestDaemon *first = NULL;
  SmTestDaemon *second = NULL;

  g_assert_no_error (error);
  start_daemon_on_unix (path, &first);

  /* In use: the second daemon refuses to start */
  {
    const char *argv[] = { daemon_path, "--bind", bind, "--no-bus", NULL };
    g_autoptr(SmTestProcess) refused = sm_test_process_spawn ("refused", argv);

    sm_test_process_wait_for_line (refused, "another process listens on", 10000);
    g_assert_cmpint (sm_test_process_wait_exit (refused, 10000), ==, 1);
  }
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));

  /* Killed: the file stays behind, and the next daemon replaces it */
  sm_test_process_send_signal (first->process, SIGKILL);
  sm_test_process_wait_exit (first->process, 10000);
  sm_test_daemon_free (first);
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));

  start_daemon_on_unix (path, &second);
  {
    g_autoptr(GSocket) socket = connect_unix (path);
    g_autoptr(GByteArray) request = sm_test_handshake_new ("127.0.0.1", 0, 0);
    g_autofree char *status = NULL;

    /* Answered: its main loop runs (and will handle SIGTERM) */
    sm_test_send_all (socket, request->data, request->len);
    status = sm_test_read_status (socket, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (status, !=, "OK");
  }
  sm_test_daemon_stop (second);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));

  /* Never a file that is not a socket */
  g_assert_true (g_file_set_contents (regular, "keep me", -1, &error));
  {
    const char *argv[] = { daemon_path, "--bind", bind_regular, "--no-bus", NULL };
    g_autoptr(SmTestProcess) refused = sm_test_process_spawn ("refused", argv);

    sm_test_process_wait_for_line (refused, "is not a socket", 10000);
    g_assert_cmpint (sm_test_process_wait_exit (refused, 10000), ==, 1);
  }
  g_assert_true (g_file_test (regular, G_FILE_TEST_IS_REGULAR));

  /* An empty path is refused at start */
  {
    const char *argv[] = { daemon_path, "--bind", "unix:", "--no-bus", NULL };
    g_autoptr(SmTestProcess) refused = sm_test_process_spawn ("refused", argv);

    sm_test_process_wait_for_line (refused, "invalid --bind address", 10000);
    g_assert_cmpint (sm_test_process_wait_exit (refused, 10000), ==, 1);
  }

  g_unlink (regular);
  g_rmdir (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/peer-credentials/tcp4/self", test_tcp4_self);
  g_test_add_func ("/peer-credentials/tcp6/self", test_tcp6_self);
  g_test_add_func ("/peer-credentials/tcp-mapped/self", test_tcp_mapped_self);
  g_test_add_func ("/peer-credentials/tcp-mapped/client-self", test_tcp_mapped_client_self);
  g_test_add_func ("/peer-credentials/unix/self", test_unix_self);
  g_test_add_func ("/peer-credentials/tcp/forged", test_tcp_forged);
  g_test_add_func ("/peer-credentials/tcp/peer-closed", test_tcp_peer_closed);
  g_test_add_func ("/peer-credentials/nobody/tcp", test_nobody_tcp);
  g_test_add_func ("/peer-credentials/nobody/unix", test_nobody_unix);
  g_test_add_func ("/peer-credentials/sock-diag/build-request", test_build_request);
  g_test_add_func ("/peer-credentials/sock-diag/parse-answer", test_parse_answer);
  g_test_add_func ("/peer-credentials/sock-diag/parse-refused", test_parse_refused);
  g_test_add_func ("/peer-credentials/sock-diag/tuple", test_tuple_from_connection);
  g_test_add_func ("/peer-credentials/control/unix-per-uid", test_control_unix_per_uid);
  g_test_add_func ("/peer-credentials/daemon/unix-socket", test_daemon_unix_socket);
  g_test_add_func ("/peer-credentials/daemon/unix-socket-stale", test_daemon_unix_socket_stale);

  return g_test_run ();
}
