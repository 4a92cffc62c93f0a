/* SPDX-License-Identifier: MIT */
/*
 * The PROXY protocol against the daemon process: headers to services that
 * ask for them (proxy_protocol, PROTOCOL.md §7), headers from trusted
 * balancers (--accept-proxy), and --public-address.
 *
 * The services run in process (sm-test-service.c); the clients are
 * blocking sockets in the test thread, which only block on the daemon,
 * and wait for the service's answers on the main context.
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "sm-proxy-header.h"
#include "sm-test-util.h"
#include "tls-test-support.h"

#define TIMEOUT_MS 20000
#define BALANCER   "127.0.0.5"

static const char *const accept_proxy_args[] = { "--accept-proxy", BALANCER "/32",
                                                 "--http-header-timeout", "1", NULL };

/* Blocking TCP connection to @host:@port, from @source (NULL: any) */
static GSocket *
connect_from (const char *source, const char *host, guint16 port, GError **error)
{
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new_from_string (host, port);
  g_autoptr (GSocket) socket = NULL;

  socket = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, error);
  if (socket == NULL)
    return NULL;
  g_socket_set_timeout (socket, 30);
  if (source != NULL)
    {
      g_autoptr (GSocketAddress) local = g_inet_socket_address_new_from_string (source, 0);

      if (!g_socket_bind (socket, local, FALSE, error))
        return NULL;
    }
  if (!g_socket_connect (socket, address, NULL, error))
    return NULL;
  return g_steal_pointer (&socket);
}

static GSocket *
connect_or_fail (const char *source, const char *host, guint16 port)
{
  g_autoptr (GError) error = NULL;
  GSocket *socket = connect_from (source, host, port, &error);

  g_assert_no_error (error);
  return socket;
}

static gboolean
is_readable (gpointer data)
{
  return g_socket_condition_check (data, G_IO_IN) != 0;
}

static gboolean
on_wake (GSocket *socket, GIOCondition condition, gpointer data)
{
  return G_SOURCE_REMOVE;
}

/* What the service wrote back reaches the client: the in-process service
 * needs the main context to send it */
static char *
receive_text (GSocket *socket, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSource) wake = g_socket_create_source (socket, G_IO_IN, NULL);
  char *text = g_malloc0 (len + 1);

  /* Only wakes the context up: the condition is checked after each turn */
  g_source_set_callback (wake, G_SOURCE_FUNC (on_wake), NULL, NULL);
  g_source_attach (wake, NULL);
  if (!sm_test_wait_until (is_readable, socket, TIMEOUT_MS))
    sm_test_fail ("nothing came back in %u ms", TIMEOUT_MS);
  g_source_destroy (wake);
  g_assert_cmpuint (sm_test_receive_exactly (socket, text, len, &error), ==, len);
  g_assert_no_error (error);
  return text;
}

static SmTestService *
service_new (SmTestDaemon *daemon, const char *address, guint16 port, guint proxy_protocol)
{
  g_autoptr (SmExtensionRequest) request = NULL;
  SmTestService *service;

  request = sm_extension_request_new (sm_socket_definition_new (port));
  sm_socket_definition_set_address (request->definition, address);
  request->proxy_protocol = proxy_protocol;
  service = sm_test_service_new_extension (daemon->control_address, request, NULL);
  sm_test_service_set_mode (service, SM_TEST_SERVICE_QUEUE);
  return service;
}

/* Reads the header that starts @stream, exactly */
static SmProxyHeader
read_proxy_header (SmYamuxStream *stream, guint version)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (stream));
  guint8        buffer[SM_PROXY_HEADER_MAX_SIZE];
  gsize         have = 0, consumed = 0, n_read = 0;
  g_autoptr (GError) error = NULL;
  SmProxyHeader header;

  /* One byte at a time: nothing past the header is taken */
  for (;;)
    {
      SmHandshakeResult result;

      g_assert_true (g_input_stream_read_all (input, buffer + have, 1, &n_read, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (n_read, ==, 1);
      have++;
      result = sm_proxy_header_parse (buffer, have, &consumed, &header, &error);
      g_assert_no_error (error);
      if (result == SM_HANDSHAKE_COMPLETE)
        break;
    }
  g_assert_cmpuint (header.version, ==, version);
  g_assert_cmpuint (consumed, ==, have);
  return header;
}

static void
assert_address (GSocketAddress *address, const char *expected)
{
  g_autofree char *host = NULL;
  g_autofree char *text = NULL;

  g_assert_nonnull (address);
  host = g_inet_address_to_string (
      g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)));
  text = g_strdup_printf ("%s %u", host,
                          g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)));
  g_assert_cmpstr (text, ==, expected);
}

static char *
describe (GSocketAddress *address)
{
  g_autofree char *host = g_inet_address_to_string (
      g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)));

  return g_strdup_printf ("%s %u", host,
                          g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)));
}

/* A client of @service's port at @host: the stream starts with a header
 * naming it and @host:port, then its bytes, and the answer comes back */
static void
check_header_to_service (SmTestService *service,
                         const char    *host,
                         guint16        port,
                         guint          version)
{
  g_autoptr (GSocket) client = connect_or_fail (NULL, host, port);
  g_autoptr (GSocketAddress) client_address = g_socket_get_local_address (client, NULL);
  g_autoptr (SmYamuxStream) stream = NULL;
  g_autoptr (GSocketAddress) source = NULL;
  g_autoptr (GSocketAddress) destination = NULL;
  g_autofree char *expected_source = describe (client_address);
  g_autofree char *expected_destination = g_strdup_printf ("%s %u", host, port);
  g_autofree char *data = NULL;
  g_autofree char *answer = NULL;
  SmProxyHeader header;

  sm_test_send_all (client, "hello, service", 14);
  stream = sm_test_service_next_stream (service, TIMEOUT_MS);
  header = read_proxy_header (stream, version);
  g_assert_false (header.local);
  source = sm_proxy_header_get_source (&header);
  destination = sm_proxy_header_get_destination (&header);
  assert_address (source, expected_source);
  assert_address (destination, expected_destination);

  data = sm_test_stream_read_until (stream, "service");
  g_assert_cmpstr (data, ==, "hello, service");
  sm_test_stream_write (stream, "hello, client");
  answer = receive_text (client, 13);
  g_assert_cmpstr (answer, ==, "hello, client");
}

static void
test_to_service (gconstpointer data)
{
  guint version = GPOINTER_TO_UINT (data);
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  guint16 port = sm_test_free_port ();
  SmTestService *service = service_new (daemon, "127.0.0.1", port, version);

  check_header_to_service (service, "127.0.0.1", port, version);
  check_header_to_service (service, "127.0.0.1", port, version);

  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
}

static gboolean
have_ipv6_loopback (void)
{
  g_autoptr (GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_STREAM,
                                             G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new_from_string ("::1", 0);

  return socket != NULL && g_socket_bind (socket, address, FALSE, NULL);
}

static void
test_to_service_ipv6 (void)
{
  SmTestDaemon *daemon;
  SmTestService *service;
  guint16 port;

  if (!have_ipv6_loopback ())
    {
      g_test_skip ("no IPv6 loopback (::1)");
      return;
    }
  daemon = sm_test_daemon_start (30);
  port = sm_test_free_port ();
  service = service_new (daemon, "::1", port, 2);
  check_header_to_service (service, "::1", port, 2);
  sm_test_service_free (service);

  port = sm_test_free_port ();
  service = service_new (daemon, "::1", port, 1);
  check_header_to_service (service, "::1", port, 1);
  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
}

/* HTTP services get X-Forwarded-For instead */
static void
test_http_refused (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start (30);
  g_autoptr (SmExtensionRequest) request = NULL;
  g_autoptr (GByteArray) encoded = g_byte_array_new ();
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) refusal = NULL;
  guint8 answer[4096];
  gsize  len = 0;

  request = sm_extension_request_new (sm_socket_definition_new (sm_test_free_port ()));
  sm_socket_definition_set_address (request->definition, "127.0.0.1");
  sm_socket_definition_set_http (request->definition, "", "");
  request->proxy_protocol = 1;
  sm_extension_encode_request (request, encoded);

  socket = sm_test_connect_address (daemon->control_address, &error);
  g_assert_no_error (error);
  sm_test_send_all (socket, encoded->data, encoded->len);
  for (;;)
    {
      gssize n = g_socket_receive (socket, (char *) answer + len, sizeof answer - len, NULL,
                                   &error);

      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      len += (gsize) n;
      if (sm_extension_parse_response (answer, len, NULL, NULL, &refusal, NULL) !=
          SM_HANDSHAKE_NEED_MORE)
        break;
    }
  g_assert_error (refusal, SM_ERROR, SM_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (refusal->message, "not for HTTP ports"));
  sm_test_daemon_stop (daemon);
}

/* ---- From trusted balancers ---- */

static SmTestService *
http_service_new (SmTestDaemon *daemon, guint16 port)
{
  SmTestService *service = sm_test_service_new_http (daemon->control_address, port, NULL, "", "");

  sm_test_service_set_mode (service, SM_TEST_SERVICE_QUEUE);
  return service;
}

/* Sends @prefix then a request from @source; returns the head the service
 * got, after answering it */
static char *
forwarded_request (SmTestService *service,
                   const char    *source,
                   guint16        port,
                   const void    *prefix,
                   gsize          prefix_len)
{
  static const char request[] = "GET /who HTTP/1.1\r\nHost: example.com\r\n\r\n";
  g_autoptr (GSocket) client = connect_or_fail (source, "127.0.0.1", port);
  g_autoptr (SmYamuxStream) stream = NULL;
  g_autofree char *status = NULL;
  char *head;

  if (prefix_len > 0)
    sm_test_send_all (client, prefix, prefix_len);
  sm_test_send_all (client, request, strlen (request));
  stream = sm_test_service_next_stream (service, TIMEOUT_MS);
  head = sm_test_stream_read_until (stream, "\r\n\r\n");
  /* Not kept for the next request: each one comes on a new stream */
  sm_test_stream_write (stream, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
  status = receive_text (client, 15);
  g_assert_cmpstr (status, ==, "HTTP/1.1 200 OK");
  return head;
}

static void
assert_forwarded_for (const char *head, const char *client)
{
  g_autofree char *line = g_strdup_printf ("\r\nX-Forwarded-For: %s\r\n", client);

  if (strstr (head, line) == NULL)
    sm_test_fail ("no X-Forwarded-For: %s in:\n%s", client, head);
}

static void
test_accept_forwarded_for (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start_with_args (30, accept_proxy_args);
  guint16 port = sm_test_free_port ();
  SmTestService *service = http_service_new (daemon, port);
  static const guint8 v2[] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
                               0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 198,  51,   100,  9,
                               127,  0,    0,    1,    0x30, 0x39, 0x00, 0x50 };
  g_autofree char *v1_line = g_strdup_printf ("PROXY TCP4 203.0.113.7 127.0.0.1 56324 %u\r\n", port);
  g_autofree char *head = NULL;

  head = forwarded_request (service, BALANCER, port, v1_line, strlen (v1_line));
  assert_forwarded_for (head, "203.0.113.7");
  g_clear_pointer (&head, g_free);

  /* Binary, and nothing of it left in the request */
  head = forwarded_request (service, BALANCER, port, v2, sizeof v2);
  g_assert_true (g_str_has_prefix (head, "GET /who HTTP/1.1\r\n"));
  assert_forwarded_for (head, "198.51.100.9");

  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
}

static const guint8 v2_local[] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
                                   0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00 };

/* Health checks: LOCAL, and v1 UNKNOWN, leave the balancer's own address */
static void
test_accept_local (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start_with_args (30, accept_proxy_args);
  guint16 port = sm_test_free_port ();
  SmTestService *service = http_service_new (daemon, port);
  g_autofree char *head = NULL;

  head = forwarded_request (service, BALANCER, port, v2_local, sizeof v2_local);
  assert_forwarded_for (head, BALANCER);
  g_clear_pointer (&head, g_free);
  head = forwarded_request (service, BALANCER, port, "PROXY UNKNOWN\r\n", 15);
  assert_forwarded_for (head, BALANCER);

  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
}

/* From a peer that is not trusted, a header is data: not HTTP, 400 */
static void
test_accept_untrusted (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start_with_args (30, accept_proxy_args);
  guint16 port = sm_test_free_port ();
  SmTestService *service = http_service_new (daemon, port);
  g_autofree char *request = g_strdup_printf (
      "PROXY TCP4 203.0.113.7 127.0.0.1 56324 %u\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", port);
  g_autoptr (GSocket) client = connect_or_fail ("127.0.0.1", "127.0.0.1", port);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) answer = NULL;

  sm_test_send_all (client, request, strlen (request));
  answer = sm_test_receive_to_eof (client, 64 * 1024, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (answer), >=, 12);
  g_assert_cmpmem (g_bytes_get_data (answer, NULL), 12, "HTTP/1.1 400", 12);
  g_assert_cmpuint (sm_test_service_get_n_accepted (service), ==, 0);

  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
}

/* A trusted peer that sends no header, or half of one, is closed after
 * the header timeout */
static void
test_accept_timeout (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start_with_args (30, accept_proxy_args);
  guint16 port = sm_test_free_port ();
  SmTestService *service = http_service_new (daemon, port);
  g_autoptr (GSocket) silent = connect_or_fail (BALANCER, "127.0.0.1", port);
  g_autoptr (GSocket) partial = connect_or_fail (BALANCER, "127.0.0.1", port);

  sm_test_send_all (partial, "PROXY TCP4 203.0.113.7 ", 23);
  g_assert_true (sm_test_socket_is_closed_by_peer (silent));
  g_assert_true (sm_test_socket_is_closed_by_peer (partial));
  g_assert_cmpuint (sm_test_service_get_n_accepted (service), ==, 0);

  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
}

/* Malformed headers from a trusted peer close its connection, and only
 * it */
static void
test_accept_malformed (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start_with_args (30, accept_proxy_args);
  guint16 port = sm_test_free_port ();
  SmTestService *service = http_service_new (daemon, port);
  static const guint8 bad_version[] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
                                        0x55, 0x49, 0x54, 0x0a, 0x11, 0x11, 0x00, 0x0c };
  static const guint8 oversize[] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
                                     0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0xff, 0xff };
  static const guint8 short_inet[] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55,
                                       0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x04, 1,    2,
                                       3,    4 };
  g_autoptr (GString) long_line = g_string_new ("PROXY UNKNOWN ");
  const struct
  {
    const void *bytes;
    gsize       len;
  } inputs[] = {
    { "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27 },
    { "PROXY TCP4 203.0.113.7 127.0.0.1 99999 80\r\n", 43 },
    { "PROXY TCP6 203.0.113.7 127.0.0.1 1 80\r\n", 39 },
    { "PROXY TCP4 203.0.113.7 127.0.0.1 1 80\n", 38 },
    { bad_version, sizeof bad_version },
    { oversize, sizeof oversize },
    { short_inet, sizeof short_inet },
    { NULL, 0 },
  };
  g_autofree char *head = NULL;

  while (long_line->len < 200)
    g_string_append_c (long_line, 'x');
  for (gsize i = 0; i < G_N_ELEMENTS (inputs); i++)
    {
      g_autoptr (GSocket) client = connect_or_fail (BALANCER, "127.0.0.1", port);
      const void *bytes = inputs[i].bytes != NULL ? inputs[i].bytes : long_line->str;
      gsize       len = inputs[i].bytes != NULL ? inputs[i].len : long_line->len;

      g_test_message ("input %" G_GSIZE_FORMAT, i);
      sm_test_send_all (client, bytes, len);
      g_assert_true (sm_test_socket_is_closed_by_peer (client));
    }
  g_assert_cmpuint (sm_test_service_get_n_accepted (service), ==, 0);

  /* The daemon goes on */
  head = forwarded_request (service, BALANCER, port, "PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n", 36);
  assert_forwarded_for (head, "192.0.2.1");

  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
}

/* Behind a balancer, the header to a raw TCP service names the client the
 * balancer named, and the address that client reached */
static void
test_accept_to_service (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start_with_args (30, accept_proxy_args);
  guint16 port = sm_test_free_port ();
  SmTestService *service = service_new (daemon, "127.0.0.1", port, 2);
  g_autoptr (GSocket) client = connect_or_fail (BALANCER, "127.0.0.1", port);
  g_autoptr (SmYamuxStream) stream = NULL;
  g_autoptr (GSocketAddress) source = NULL;
  g_autoptr (GSocketAddress) destination = NULL;
  g_autofree char *data = NULL;
  static const char line[] = "PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\nbytes";
  SmProxyHeader header;

  sm_test_send_all (client, line, strlen (line));
  stream = sm_test_service_next_stream (service, TIMEOUT_MS);
  header = read_proxy_header (stream, 2);
  source = sm_proxy_header_get_source (&header);
  destination = sm_proxy_header_get_destination (&header);
  assert_address (source, "2001:db8::7 40000");
  assert_address (destination, "2001:db8::1 443");
  data = sm_test_stream_read_until (stream, "bytes");
  g_assert_cmpstr (data, ==, "bytes");

  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
}

/* TLS starts right after the header: curl sends its own PROXY line, then
 * its ClientHello */
static void
test_accept_tls (void)
{
  SmTestDaemon *daemon = sm_test_daemon_start_with_args (30, accept_proxy_args);
  guint16 port = sm_test_free_port ();
  g_autoptr (SmExtensionRequest) request = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SmYamuxStream) stream = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-proxy-protocol-XXXXXX", &error);
  g_autofree char *ca_file = g_build_filename (dir, "ca.pem", NULL);
  g_autofree char *resolve = g_strdup_printf ("a.example.test:%u:127.0.0.1", port);
  g_autofree char *url = g_strdup_printf ("https://a.example.test:%u/tls", port);
  g_autofree char *head = NULL;
  const char *argv[] = { "curl", "--silent", "--show-error", "--max-time", "20",
                         "--haproxy-protocol", "--interface", BALANCER, "--cacert", ca_file,
                         "--resolve", resolve, url, NULL };
  SmTestService *service;
  SmTestProcess *curl;

  g_assert_no_error (error);
  g_file_set_contents (ca_file, test_pki.ca.cert_pem, -1, &error);
  g_assert_no_error (error);
  request = sm_extension_request_new (sm_socket_definition_new (port));
  sm_socket_definition_set_address (request->definition, "127.0.0.1");
  sm_socket_definition_set_http (request->definition, "", "");
  sm_socket_definition_set_tls (request->definition, test_pki.a.cert_pem, test_pki.a.key_pem);
  service = sm_test_service_new_extension (daemon->control_address, request, NULL);
  sm_test_service_set_mode (service, SM_TEST_SERVICE_QUEUE);

  curl = sm_test_process_spawn ("curl", argv);
  stream = sm_test_service_next_stream (service, TIMEOUT_MS);
  head = sm_test_stream_read_until (stream, "\r\n\r\n");
  assert_forwarded_for (head, BALANCER);
  g_assert_nonnull (strstr (head, "\r\nX-Forwarded-Proto: https\r\n"));
  sm_test_stream_write (stream, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 6\r\n\r\nsecret");
  g_assert_cmpint (sm_test_process_wait_exit (curl, TIMEOUT_MS), ==, 0);
  g_assert_cmpuint (sm_test_process_count_lines (curl, "secret"), ==, 1);

  sm_test_process_free (curl);
  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
  g_unlink (ca_file);
  g_rmdir (dir);
}

/* ---- --public-address ---- */

static void
assert_refused (const char *host, guint16 port)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = connect_from (NULL, host, port, &error);

  g_assert_null (socket);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
}

static void
check_public_only (SmTestService *service, guint16 port)
{
  g_autoptr (GSocket) client = connect_or_fail (NULL, "127.0.0.2", port);
  g_autoptr (SmYamuxStream) stream = NULL;
  g_autofree char *data = NULL;

  sm_test_send_all (client, "ping", 4);
  stream = sm_test_service_next_stream (service, TIMEOUT_MS);
  data = sm_test_stream_read_until (stream, "ping");
  g_assert_cmpstr (data, ==, "ping");
  assert_refused ("127.0.0.1", port);
}

static void
test_public_address (void)
{
  static const char *const args[] = { "--public-address", "127.0.0.2", NULL };
  SmTestDaemon *daemon = sm_test_daemon_start_with_args (30, args);
  guint16 port = sm_test_free_port ();
  SmTestService *service = service_new (daemon, "127.0.0.1", port, 0);

  check_public_only (service, port);
  sm_test_service_free (service);

  /* All interfaces, asked: the public address only */
  port = sm_test_free_port ();
  service = service_new (daemon, "", port, 0);
  check_public_only (service, port);
  sm_test_service_free (service);
  sm_test_daemon_stop (daemon);
}

int
main (int argc, char *argv[])
{
  int result;

  g_test_init (&argc, &argv, NULL);
  test_pki_make ();

  g_test_add_data_func ("/proxy-protocol/to-service/v1", GUINT_TO_POINTER (1), test_to_service);
  g_test_add_data_func ("/proxy-protocol/to-service/v2", GUINT_TO_POINTER (2), test_to_service);
  g_test_add_func ("/proxy-protocol/to-service/ipv6", test_to_service_ipv6);
  g_test_add_func ("/proxy-protocol/to-service/http-refused", test_http_refused);
  g_test_add_func ("/proxy-protocol/accept/forwarded-for", test_accept_forwarded_for);
  g_test_add_func ("/proxy-protocol/accept/local", test_accept_local);
  g_test_add_func ("/proxy-protocol/accept/untrusted", test_accept_untrusted);
  g_test_add_func ("/proxy-protocol/accept/timeout", test_accept_timeout);
  g_test_add_func ("/proxy-protocol/accept/malformed", test_accept_malformed);
  g_test_add_func ("/proxy-protocol/accept/to-service", test_accept_to_service);
  g_test_add_func ("/proxy-protocol/accept/tls", test_accept_tls);
  g_test_add_func ("/proxy-protocol/public-address", test_public_address);

  result = g_test_run ();
  test_pki_free ();
  return result;
}
