/* SPDX-License-Identifier: MIT */
/*
 * sm-bench-idle: the client population of tests/bench/scale-bench.
 *
 *   sm-bench-idle --port N --count C [--host ADDR] [--path P] [--tls]
 *                 [--stalled [--raw]] [--concurrency K] [--once]
 *
 * Opens C connections to ADDR:N (default 127.0.0.1), at most K at a time
 * being set up (default 200), each with a TLS handshake first if --tls (no
 * certificate verification: it measures servers, not its own checks).
 *
 *   default     each sends one keep-alive "GET P" (default /bench), reads
 *               the whole response (head and Content-Length body), then
 *               holds the connection idle
 *   --stalled   each sends "GET P" (e.g. /big/16777216) and never reads
 *               anything (a small receive buffer, so that the server's side
 *               fills up early): a stalled reader
 *   --raw       with --stalled: sends nothing at all, for a TCP port whose
 *               service writes endlessly (sm-bench-tcp serve --source)
 *
 * Prints "ready HELD failed F" once every connection is held or failed
 * (the first failure's reason on the next line), then holds them until
 * SIGTERM or SIGINT, or EOF on stdin when stdin is a pipe. Then it prints
 * "closed-by-peer X" (held connections the server closed meanwhile; idle
 * mode only), closes everything and exits. With --once it exits as soon
 * as it printed "ready" (a readiness check), with status 0 if no
 * connection failed.
 *
 * One thread and one epoll set: an idle connection costs it nothing.
 */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gnutls/gnutls.h>

/* A response head and "hello\n" fit, for idle connections */
#define RESPONSE_MAX   4096
#define STALLED_RCVBUF 4096
#define MAX_EVENTS     256

typedef enum {
  STATE_CONNECTING,
  STATE_HANDSHAKING,
  STATE_SENDING,
  STATE_READING,
  STATE_HELD,
  STATE_CLOSED,
} State;

typedef struct {
  int              fd;
  State            state;
  gnutls_session_t tls;
  gsize            sent;
  gsize            received;
  char            *response; /* while reading */
} Conn;

static char    *opt_host;
static char    *opt_path;
static int      opt_port;
static int      opt_count;
static int      opt_concurrency = 200;
static gboolean opt_tls;
static gboolean opt_stalled;
static gboolean opt_once;
static gboolean opt_raw;

static GOptionEntry option_entries[] = {
  { "host", 0, 0, G_OPTION_ARG_STRING, &opt_host, "Server address (default 127.0.0.1)", "ADDR" },
  { "port", 0, 0, G_OPTION_ARG_INT, &opt_port, "Server port", "N" },
  { "count", 0, 0, G_OPTION_ARG_INT, &opt_count, "Connections to hold", "C" },
  { "path", 0, 0, G_OPTION_ARG_STRING, &opt_path, "Request path (default /bench)", "P" },
  { "tls", 0, 0, G_OPTION_ARG_NONE, &opt_tls, "TLS handshake first", NULL },
  { "stalled", 0, 0, G_OPTION_ARG_NONE, &opt_stalled, "Send the request, never read", NULL },
  { "concurrency", 0, 0, G_OPTION_ARG_INT, &opt_concurrency, "Connections set up at a time (default 200)", "K" },
  { "once", 0, 0, G_OPTION_ARG_NONE, &opt_once, "Exit once every connection is set up", NULL },
  { "raw", 0, 0, G_OPTION_ARG_NONE, &opt_raw, "With --stalled: no request, plain TCP", NULL },
  { NULL }
};

typedef struct {
  int                              epoll_fd;
  GSocketAddress                  *address;
  gnutls_certificate_credentials_t credentials;
  char                            *request;
  Conn                            *conns;
  int                              opened;      /* connections started */
  int                              in_progress; /* started, neither held nor failed */
  int                              held;
  int                              failed;
  int                              closed_by_peer;
  char                            *first_error;
} Client;

static void
conn_fail (Client     *client,
           Conn       *conn,
           const char *why)
{
  if (client->first_error == NULL)
    client->first_error = g_strdup (why);
  g_debug ("connection %d failed: %s", (int) (conn - client->conns), why);
  if (conn->tls != NULL)
    gnutls_deinit (conn->tls);
  conn->tls = NULL;
  close (conn->fd);
  conn->fd = -1;
  g_clear_pointer (&conn->response, g_free);
  conn->state = STATE_CLOSED;
  client->in_progress--;
  client->failed++;
}

static void
conn_watch (Client  *client,
            Conn    *conn,
            guint32  events)
{
  struct epoll_event event = { .events = events, .data.ptr = conn };

  if (epoll_ctl (client->epoll_fd, EPOLL_CTL_MOD, conn->fd, &event) != 0)
    g_error ("epoll_ctl: %s", g_strerror (errno));
}

static void
conn_hold (Client *client,
           Conn   *conn)
{
  g_clear_pointer (&conn->response, g_free);
  conn->state = STATE_HELD;
  client->in_progress--;
  client->held++;
  if (opt_stalled)
    {
      /* Never read: no interest at all, not even in hang-ups */
      epoll_ctl (client->epoll_fd, EPOLL_CTL_DEL, conn->fd, NULL);
      return;
    }
  /* Only to notice the server closing it */
  conn_watch (client, conn, EPOLLIN | EPOLLRDHUP);
}

/* How a TLS call that would block wants to continue */
static guint32
tls_direction (Conn *conn)
{
  return gnutls_record_get_direction (conn->tls) ? EPOLLOUT : EPOLLIN;
}

static gssize
conn_send (Conn       *conn,
           const char *data,
           gsize       len)
{
  if (conn->tls != NULL)
    {
      gssize n = gnutls_record_send (conn->tls, data, len);

      if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
        {
          errno = EAGAIN;
          return -1;
        }
      if (n < 0)
        errno = EPIPE;
      return n;
    }
  return send (conn->fd, data, len, MSG_NOSIGNAL);
}

static gssize
conn_recv (Conn  *conn,
           char  *data,
           gsize  len)
{
  if (conn->tls != NULL)
    {
      gssize n = gnutls_record_recv (conn->tls, data, len);

      if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
        {
          errno = EAGAIN;
          return -1;
        }
      if (n == GNUTLS_E_PREMATURE_TERMINATION)
        return 0;
      if (n < 0)
        errno = ECONNRESET;
      return n;
    }
  return recv (conn->fd, data, len, 0);
}

/* TRUE once the response is complete: a head and Content-Length bytes */
static gboolean
response_complete (Conn *conn)
{
  const char *head_end = g_strstr_len (conn->response, conn->received, "\r\n\r\n");
  const char *length;
  guint64 body_length = 0;

  if (head_end == NULL)
    return FALSE;
  length = g_strstr_len (conn->response, head_end - conn->response, "\r\nContent-Length:");
  if (length == NULL)
    length = g_strstr_len (conn->response, head_end - conn->response, "\r\ncontent-length:");
  if (length != NULL)
    body_length = g_ascii_strtoull (length + strlen ("\r\nContent-Length:"), NULL, 10);
  return conn->received >= (gsize) (head_end + 4 - conn->response) + body_length;
}

/* Advances one connection as far as it goes without blocking */
static void
conn_step (Client   *client,
           Conn     *conn,
           guint32   events)
{
  int ret;
  gssize n;

  switch (conn->state)
    {
    case STATE_CONNECTING:
      {
        int error = 0;
        socklen_t len = sizeof error;

        getsockopt (conn->fd, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0)
          {
            conn_fail (client, conn, g_strerror (error));
            return;
          }
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
          return;
        if (events & (EPOLLERR | EPOLLHUP))
          {
            conn_fail (client, conn, "connection refused");
            return;
          }
        conn->state = opt_tls ? STATE_HANDSHAKING : STATE_SENDING;
        if (opt_tls)
          {
            gnutls_init (&conn->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
            gnutls_set_default_priority (conn->tls);
            gnutls_credentials_set (conn->tls, GNUTLS_CRD_CERTIFICATE, client->credentials);
            gnutls_transport_set_int (conn->tls, conn->fd);
          }
      }
      G_GNUC_FALLTHROUGH;

    case STATE_HANDSHAKING:
      if (conn->state == STATE_HANDSHAKING)
        {
          ret = gnutls_handshake (conn->tls);
          if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
            {
              conn_watch (client, conn, tls_direction (conn));
              return;
            }
          if (ret < 0)
            {
              conn_fail (client, conn, gnutls_strerror (ret));
              return;
            }
          conn->state = STATE_SENDING;
        }
      G_GNUC_FALLTHROUGH;

    case STATE_SENDING:
      while (conn->sent < strlen (client->request))
        {
          n = conn_send (conn, client->request + conn->sent, strlen (client->request) - conn->sent);
          if (n < 0 && errno == EAGAIN)
            {
              conn_watch (client, conn, conn->tls != NULL ? tls_direction (conn) : EPOLLOUT);
              return;
            }
          if (n <= 0)
            {
              conn_fail (client, conn, "cannot send the request");
              return;
            }
          conn->sent += n;
        }
      if (opt_stalled)
        {
          conn_hold (client, conn);
          return;
        }
      conn->state = STATE_READING;
      conn->response = g_malloc (RESPONSE_MAX + 1);
      G_GNUC_FALLTHROUGH;

    case STATE_READING:
      while (!response_complete (conn))
        {
          if (conn->received == RESPONSE_MAX)
            {
              conn_fail (client, conn, "response too large for an idle connection");
              return;
            }
          n = conn_recv (conn, conn->response + conn->received, RESPONSE_MAX - conn->received);
          if (n < 0 && errno == EAGAIN)
            {
              conn_watch (client, conn, conn->tls != NULL ? tls_direction (conn) : EPOLLIN);
              return;
            }
          if (n <= 0)
            {
              conn_fail (client, conn, "closed before the whole response");
              return;
            }
          conn->received += n;
          conn->response[conn->received] = '\0';
        }
      if (!g_str_has_prefix (conn->response, "HTTP/1.1 200 "))
        {
          conn_fail (client, conn, "the response is not 200");
          return;
        }
      conn_hold (client, conn);
      return;

    case STATE_HELD:
      {
        char scratch[512];

        /* TLS 1.3 session tickets may still come; anything else is the end */
        n = conn_recv (conn, scratch, sizeof scratch);
        if (n < 0 && errno == EAGAIN)
          {
            conn_watch (client, conn, EPOLLIN | EPOLLRDHUP);
            return;
          }
        if (n <= 0)
          {
            if (conn->tls != NULL)
              gnutls_deinit (conn->tls);
            conn->tls = NULL;
            close (conn->fd);
            conn->fd = -1;
            client->closed_by_peer++;
            conn->state = STATE_CLOSED;
          }
        return;
      }

    case STATE_CLOSED:
    default:
      return;
    }
}

/* Starts connections while fewer than --concurrency are being set up */
static void
open_more (Client *client)
{
  struct sockaddr_storage address;

  if (!g_socket_address_to_native (client->address, &address, sizeof address, NULL))
    g_error ("bad address");

  while (client->opened < opt_count && client->in_progress < opt_concurrency)
    {
      Conn *conn = &client->conns[client->opened++];
      struct epoll_event event = { .events = EPOLLOUT, .data.ptr = conn };
      int one = 1;

      client->in_progress++;
      conn->state = STATE_CONNECTING;
      conn->fd = socket (address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (conn->fd < 0)
        {
          conn_fail (client, conn, g_strerror (errno));
          continue;
        }
      setsockopt (conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (opt_stalled)
        {
          int rcvbuf = STALLED_RCVBUF;

          setsockopt (conn->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        }
      if (connect (conn->fd, (struct sockaddr *) &address, g_socket_address_get_native_size (client->address)) != 0 &&
          errno != EINPROGRESS)
        {
          conn_fail (client, conn, g_strerror (errno));
          continue;
        }
      if (epoll_ctl (client->epoll_fd, EPOLL_CTL_ADD, conn->fd, &event) != 0)
        g_error ("epoll_ctl: %s", g_strerror (errno));
    }
}

/* A file descriptor whose readability means "stop": signals, and stdin
 * if it is a pipe (a script's background job gets /dev/null instead) */
static int
watch_stop (int epoll_fd)
{
  struct epoll_event event = { .events = EPOLLIN, .data.ptr = NULL };
  struct stat st;
  sigset_t signals;
  int signal_fd;

  sigemptyset (&signals);
  sigaddset (&signals, SIGTERM);
  sigaddset (&signals, SIGINT);
  sigprocmask (SIG_BLOCK, &signals, NULL);
  signal_fd = signalfd (-1, &signals, SFD_CLOEXEC);
  if (signal_fd < 0 || epoll_ctl (epoll_fd, EPOLL_CTL_ADD, signal_fd, &event) != 0)
    g_error ("signalfd: %s", g_strerror (errno));
  if (fstat (STDIN_FILENO, &st) == 0 && S_ISFIFO (st.st_mode))
    epoll_ctl (epoll_fd, EPOLL_CTL_ADD, STDIN_FILENO, &event);
  return signal_fd;
}

static void
run (Client *client)
{
  struct epoll_event events[MAX_EVENTS];
  gboolean reported = FALSE;

  open_more (client);
  while (TRUE)
    {
      int n;

      if (!reported && client->held + client->failed == opt_count)
        {
          printf ("ready %d failed %d\n", client->held, client->failed);
          if (client->first_error != NULL)
            printf ("first error: %s\n", client->first_error);
          fflush (stdout);
          reported = TRUE;
          if (opt_once)
            return;
        }

      n = epoll_wait (client->epoll_fd, events, MAX_EVENTS, -1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        g_error ("epoll_wait: %s", g_strerror (errno));
      for (int i = 0; i < n; i++)
        {
          if (events[i].data.ptr == NULL)
            return;
          conn_step (client, events[i].data.ptr, events[i].events);
        }
      open_more (client);
    }
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("- hold idle or stalled connections");
  g_autoptr(GError) error = NULL;
  Client client = { 0 };
  int signal_fd;

  signal (SIGPIPE, SIG_IGN);
  g_option_context_add_main_entries (context, option_entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("sm-bench-idle: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (opt_port < 1 || opt_port > 65535 || opt_count < 1 || opt_concurrency < 1 ||
      (opt_raw && (!opt_stalled || opt_tls)))
    {
      g_printerr ("usage: sm-bench-idle --port N --count C [--tls] [--stalled [--raw]] [--path P]\n");
      return EXIT_FAILURE;
    }
  client.address = g_inet_socket_address_new_from_string (opt_host != NULL ? opt_host : "127.0.0.1",
                                                          (guint) opt_port);
  if (client.address == NULL)
    {
      g_printerr ("sm-bench-idle: bad address %s\n", opt_host);
      return EXIT_FAILURE;
    }

  if (opt_raw)
    client.request = g_strdup ("");
  else
    client.request = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: bench.test\r\n\r\n",
                                      opt_path != NULL ? opt_path : "/bench");
  client.conns = g_new0 (Conn, opt_count);
  client.epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  if (client.epoll_fd < 0)
    g_error ("epoll_create1: %s", g_strerror (errno));
  if (opt_tls && gnutls_certificate_allocate_credentials (&client.credentials) < 0)
    g_error ("gnutls_certificate_allocate_credentials failed");
  signal_fd = watch_stop (client.epoll_fd);

  run (&client);

  if (!opt_once)
    {
      printf ("closed-by-peer %d\n", client.closed_by_peer);
      fflush (stdout);
    }
  for (int i = 0; i < client.opened; i++)
    {
      Conn *conn = &client.conns[i];

      if (conn->tls != NULL)
        gnutls_deinit (conn->tls);
      if (conn->fd >= 0)
        close (conn->fd);
      g_free (conn->response);
    }
  if (client.credentials != NULL)
    gnutls_certificate_free_credentials (client.credentials);
  close (signal_fd);
  close (client.epoll_fd);
  g_free (client.conns);
  g_free (client.request);
  g_object_unref (client.address);
  return opt_once && client.failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
