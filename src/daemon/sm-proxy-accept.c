/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "sm-address.h"
#include "sm-error.h"
#include "sm-proxy-accept.h"
#include "sm-proxy-header.h"
#include "sm-source-limit.h"
#include "sm-tls-stream.h"

struct _SmProxyAccept
{
  GObject        parent_instance;

  GPtrArray     *trusted; /* of GInetAddressMask */
  SmSourceLimit *limit;
  guint          n_pending;
};

/* One header being read; owned by its task (task data) */
typedef struct
{
  GSocketConnection *connection;
  char              *peer;
  char              *port;
  SmSourceTicket    *ticket;
  GCancellable      *cancellable; /* ours: eviction and the caller's cancel it */
  GCancellable      *caller_cancellable;
  gulong             caller_cancelled_id;
  GSource           *read_source;
  GSource           *timeout_source;
  guint              timeout_ms;
  guint8            *buffer; /* SM_PROXY_HEADER_MAX_SIZE */
  gsize              have;   /* bytes of the header read so far */
  gboolean           heard;  /* its peer sent something */
} Pending;

/* What the header said, kept on the connection */
typedef struct
{
  GSocketAddress *client;
  GSocketAddress *local;
} HeaderAddresses;

/* The daemon has one thread */
static GQuark
header_addresses_quark (void)
{
  static GQuark quark;

  if (quark == 0)
    quark = g_quark_from_static_string ("sm-proxy-accept-addresses");
  return quark;
}

G_DEFINE_FINAL_TYPE (SmProxyAccept, sm_proxy_accept, G_TYPE_OBJECT)

static void
header_addresses_free (HeaderAddresses *addresses)
{
  g_clear_object (&addresses->client);
  g_clear_object (&addresses->local);
  g_free (addresses);
}

static void
pending_free (Pending *pending)
{
  g_clear_pointer (&pending->read_source, g_source_destroy);
  g_clear_pointer (&pending->timeout_source, g_source_destroy);
  g_cancellable_disconnect (pending->caller_cancellable, pending->caller_cancelled_id);
  g_clear_object (&pending->caller_cancellable);
  g_clear_object (&pending->cancellable);
  sm_source_ticket_release (pending->ticket);
  g_clear_object (&pending->connection);
  g_free (pending->peer);
  g_free (pending->port);
  g_free (pending->buffer);
  g_free (pending);
}

static void
sm_proxy_accept_finalize (GObject *object)
{
  SmProxyAccept *self = SM_PROXY_ACCEPT (object);

  g_clear_pointer (&self->limit, sm_source_limit_free);
  g_clear_pointer (&self->trusted, g_ptr_array_unref);

  G_OBJECT_CLASS (sm_proxy_accept_parent_class)->finalize (object);
}

static void
sm_proxy_accept_class_init (SmProxyAcceptClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sm_proxy_accept_finalize;
}

static void
sm_proxy_accept_init (SmProxyAccept *self)
{
}

SmProxyAccept *
sm_proxy_accept_new (GPtrArray *trusted)
{
  SmProxyAccept *self;

  g_return_val_if_fail (trusted != NULL && trusted->len > 0, NULL);

  self = g_object_new (SM_TYPE_PROXY_ACCEPT, NULL);
  self->trusted = g_ptr_array_ref (trusted);
  self->limit = sm_source_limit_new ("PROXY headers being read", SM_PROXY_ACCEPT_MAX_PENDING,
                                     SM_PROXY_ACCEPT_MAX_PENDING);
  return self;
}

void
sm_proxy_accept_set_max_pending (SmProxyAccept *self, guint max_pending)
{
  g_return_if_fail (SM_IS_PROXY_ACCEPT (self));
  sm_source_limit_set_max (self->limit, max_pending, max_pending);
}

/* A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d; the networks
 * are written as IPv4 */
static GInetAddress *
unmap_ipv4 (GInetAddress *address)
{
  static const guint8 prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
  const guint8       *bytes = g_inet_address_to_bytes (address);

  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 &&
      memcmp (bytes, prefix, sizeof prefix) == 0)
    return g_inet_address_new_from_bytes (bytes + sizeof prefix, G_SOCKET_FAMILY_IPV4);
  return g_object_ref (address);
}

gboolean
sm_proxy_accept_is_trusted (SmProxyAccept *self, GSocketConnection *connection)
{
  g_autoptr (GSocketAddress) peer = NULL;
  g_autoptr (GInetAddress) address = NULL;

  g_return_val_if_fail (SM_IS_PROXY_ACCEPT (self), FALSE);
  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (connection), FALSE);

  peer = g_socket_connection_get_remote_address (connection, NULL);

  if (!G_IS_INET_SOCKET_ADDRESS (peer))
    return FALSE;
  address = unmap_ipv4 (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (peer)));
  for (guint i = 0; i < self->trusted->len; i++)
    if (g_inet_address_mask_matches (g_ptr_array_index (self->trusted, i), address))
      return TRUE;
  return FALSE;
}

guint
sm_proxy_accept_get_n_pending (SmProxyAccept *self)
{
  g_return_val_if_fail (SM_IS_PROXY_ACCEPT (self), 0);
  return self->n_pending;
}

/* Ends @task once: the sources go, and on failure the connection */
static void
complete (GTask *task, GError *error)
{
  SmProxyAccept *self = g_task_get_source_object (task);
  Pending       *pending = g_task_get_task_data (task);

  g_clear_pointer (&pending->read_source, g_source_destroy);
  g_clear_pointer (&pending->timeout_source, g_source_destroy);
  g_clear_pointer (&pending->ticket, sm_source_ticket_release);
  self->n_pending--;

  if (error != NULL)
    {
      /* Remote input: tracing only */
      g_debug ("Connection from %s to %s: %s", pending->peer, pending->port, error->message);
      g_io_stream_close (G_IO_STREAM (pending->connection), NULL, NULL);
      g_task_return_error (task, error);
    }
  else
    {
      g_task_return_pointer (task, g_object_ref (pending->connection), g_object_unref);
    }
  g_object_unref (task);
}

static void
keep_addresses (Pending *pending, const SmProxyHeader *header)
{
  HeaderAddresses *addresses;

  /* LOCAL: a health check of the balancer's own; the real peer stands */
  if (header->local)
    return;
  addresses = g_new0 (HeaderAddresses, 1);
  addresses->client = sm_proxy_header_get_source (header);
  addresses->local = sm_proxy_header_get_destination (header);
  g_object_set_qdata_full (G_OBJECT (pending->connection), header_addresses_quark (), addresses,
                           (GDestroyNotify) header_addresses_free);
}

/* Peeks at what arrived, then reads exactly what belongs to the header:
 * all of it while the header is incomplete, up to its end once complete */
static gboolean
read_header (GTask *task, GError **error)
{
  Pending          *pending = g_task_get_task_data (task);
  int               fd = g_socket_get_fd (g_socket_connection_get_socket (pending->connection));
  SmProxyHeader     header;
  SmHandshakeResult result;
  gsize             consumed = 0, take;
  ssize_t           n;

  n = recv (fd, pending->buffer + pending->have, SM_PROXY_HEADER_MAX_SIZE - pending->have,
            MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return TRUE;
  if (n <= 0)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_CLOSED, "closed before its PROXY header%s%s",
                   n < 0 ? ": " : "", n < 0 ? g_strerror (errno) : "");
      return FALSE;
    }
  if (!pending->heard)
    {
      pending->heard = TRUE;
      sm_source_ticket_progress (pending->ticket);
    }

  result =
      sm_proxy_header_parse (pending->buffer, pending->have + (gsize) n, &consumed, &header, error);
  if (result == SM_HANDSHAKE_ERROR)
    return FALSE;
  take = result == SM_HANDSHAKE_COMPLETE ? consumed - pending->have : (gsize) n;

  /* Already in the socket's buffer: this cannot come up short */
  if (recv (fd, pending->buffer + pending->have, take, MSG_DONTWAIT) != (ssize_t) take)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "reading its PROXY header: %s",
                   g_strerror (errno));
      return FALSE;
    }
  pending->have += take;
  if (result == SM_HANDSHAKE_COMPLETE)
    {
      keep_addresses (pending, &header);
      complete (task, NULL);
    }
  return TRUE;
}

static gboolean
on_readable (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  GTask   *task = user_data;
  Pending *pending = g_task_get_task_data (task);
  GError  *error = NULL;

  if (g_cancellable_is_cancelled (pending->cancellable))
    {
      /* The caller's, or ours: a newer one took its place */
      complete (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                           "cancelled while reading its PROXY header"));
      return G_SOURCE_CONTINUE;
    }
  if (!read_header (task, &error))
    complete (task, error);
  /* Once complete() destroyed this source, what it returns is ignored */
  return G_SOURCE_CONTINUE;
}

static gboolean
on_timeout (gpointer user_data)
{
  GTask   *task = user_data;
  Pending *pending = g_task_get_task_data (task);

  complete (task, g_error_new (SM_ERROR, SM_ERROR_TIMED_OUT, "no complete PROXY header in %u ms",
                               pending->timeout_ms));
  return G_SOURCE_REMOVE;
}

static void
on_caller_cancelled (GCancellable *caller_cancellable, gpointer user_data)
{
  g_cancellable_cancel (user_data);
}

static GSource *
attach (GSource *source, GSourceFunc func, GTask *task, const char *name)
{
  g_source_set_callback (source, func, task, NULL);
  g_source_set_static_name (source, name);
  g_source_attach (source, NULL);
  /* the context owns it until it is destroyed */
  g_source_unref (source);
  return source;
}

void
sm_proxy_accept_read_async (SmProxyAccept      *self,
                            GSocketConnection  *connection,
                            const char         *display_name,
                            guint               timeout_ms,
                            GCancellable       *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer            user_data)
{
  g_autoptr (GSocketAddress) remote = NULL;
  g_autofree char *key = NULL;
  GTask           *task;
  Pending         *pending;

  g_return_if_fail (SM_IS_PROXY_ACCEPT (self));
  g_return_if_fail (G_IS_SOCKET_CONNECTION (connection));

  remote = g_socket_connection_get_remote_address (connection, NULL);
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, sm_proxy_accept_read_async);
  pending = g_new0 (Pending, 1);
  g_task_set_task_data (task, pending, (GDestroyNotify) pending_free);
  pending->connection = g_object_ref (connection);
  pending->peer = sm_address_format_socket (remote);
  pending->port = g_strdup (display_name);
  pending->timeout_ms = timeout_ms;
  pending->cancellable = g_cancellable_new ();
  key = sm_address_source_key (remote);
  self->n_pending++;

  pending->ticket = sm_source_limit_admit (
      self->limit, key, (SmSourceEvictFunc) g_cancellable_cancel, pending->cancellable);
  if (pending->ticket == NULL)
    {
      complete (task, g_error_new (SM_ERROR, SM_ERROR_LIMIT,
                                   "too many PROXY headers being read from %s", key));
      return;
    }
  if (cancellable != NULL)
    {
      pending->caller_cancellable = g_object_ref (cancellable);
      pending->caller_cancelled_id =
          g_cancellable_connect (cancellable, G_CALLBACK (on_caller_cancelled),
                                 g_object_ref (pending->cancellable), g_object_unref);
    }

  pending->buffer = g_malloc (SM_PROXY_HEADER_MAX_SIZE);
  pending->read_source =
      attach (g_socket_create_source (g_socket_connection_get_socket (connection), G_IO_IN,
                                      pending->cancellable),
              G_SOURCE_FUNC (on_readable), task, "[socketmaster] PROXY header");
  pending->timeout_source = attach (g_timeout_source_new (timeout_ms), on_timeout, task,
                                    "[socketmaster] PROXY header timeout");
}

GSocketConnection *
sm_proxy_accept_read_finish (SmProxyAccept *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, sm_proxy_accept_read_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static GSocketConnection *
socket_connection_of (GIOStream *stream)
{
  if (SM_IS_TLS_STREAM (stream))
    stream = sm_tls_stream_get_base_stream (SM_TLS_STREAM (stream));
  return G_IS_SOCKET_CONNECTION (stream) ? G_SOCKET_CONNECTION (stream) : NULL;
}

/* One of the header's addresses, else the socket's own */
static GSocketAddress *
get_address (GIOStream *stream, gboolean client)
{
  GSocketConnection *connection = socket_connection_of (stream);
  HeaderAddresses   *addresses;

  if (connection == NULL)
    return NULL;
  addresses = g_object_get_qdata (G_OBJECT (connection), header_addresses_quark ());
  if (addresses != NULL)
    return g_object_ref (client ? addresses->client : addresses->local);
  if (client)
    return g_socket_connection_get_remote_address (connection, NULL);
  return g_socket_connection_get_local_address (connection, NULL);
}

GSocketAddress *
sm_proxy_accept_get_client_address (GIOStream *stream)
{
  return get_address (stream, TRUE);
}

GSocketAddress *
sm_proxy_accept_get_local_address (GIOStream *stream)
{
  return get_address (stream, FALSE);
}
