/* SPDX-License-Identifier: MIT */

/*
 * SmListener with the PROXY protocol (sm_listener_set_proxy_protocol())
 * against the fake daemon: the request asks for it in the extension
 * format, each stream's header (v1 and v2, IPv4 and IPv6, LOCAL, split
 * across writes) is read before the stream is handed out, the client's
 * address comes with the stream and its bytes are intact; a malformed or
 * missing header resets that stream only.
 */

#include "config.h"

#include <string.h>

#include "sm-client-fixture.h"
#include "sm-extension-handshake.h"
#include "sm-listener-private.h"
#include "sm-proxy-header.h"

typedef struct {
  guint       version;
  const char *client;     /* "host:port" */
  const char *public;
} HeaderCase;

static const HeaderCase v1_ipv4 = { 1, "203.0.113.7:51234", "192.0.2.1:8080" };
static const HeaderCase v2_ipv4 = { 2, "203.0.113.7:51234", "192.0.2.1:8080" };
static const HeaderCase v1_ipv6 = { 1, "[2001:db8::7]:51234", "[2001:db8::1]:8080" };
static const HeaderCase v2_ipv6 = { 2, "[2001:db8::7]:51234", "[2001:db8::1]:8080" };

static GSocketAddress *
parse_address (const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnectable) connectable = g_network_address_parse (text, 0, &error);
  g_autoptr(GInetAddress) address = NULL;

  g_assert_no_error (error);
  address = g_inet_address_new_from_string (g_network_address_get_hostname (G_NETWORK_ADDRESS (connectable)));
  g_assert_nonnull (address);
  return g_inet_socket_address_new (address, g_network_address_get_port (G_NETWORK_ADDRESS (connectable)));
}

/* The header of @header_case, as the daemon sends it */
static GByteArray *
encode_header (const HeaderCase *header_case)
{
  g_autoptr(GSocketAddress) client = parse_address (header_case->client);
  g_autoptr(GSocketAddress) public = parse_address (header_case->public);
  GByteArray *bytes = g_byte_array_new ();
  SmProxyHeader header;

  sm_proxy_header_init (&header, header_case->version, client, public);
  sm_proxy_header_encode (&header, bytes);
  return bytes;
}

static char *
address_string (GSocketAddress *address)
{
  g_assert_true (G_IS_INET_SOCKET_ADDRESS (address));
  return g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (address));
}

static void
start_with_proxy (SmClientFixture *fixture,
                  guint            version)
{
  const SmExtensionRequest *request;
  guint from_property = 0;

  sm_listener_set_proxy_protocol (fixture->listener, version);
  g_assert_cmpuint (sm_listener_get_proxy_protocol (fixture->listener), ==, version);
  g_object_get (fixture->listener, "proxy-protocol", &from_property, NULL);
  g_assert_cmpuint (from_property, ==, version);
  sm_client_fixture_start (fixture);

  /* asked for in the extension format */
  g_assert_cmpuint (fixture->daemon->requests->len, ==, 1);
  request = g_ptr_array_index (fixture->daemon->extension_requests, 0);
  g_assert_nonnull (request);
  g_assert_cmpuint (request->proxy_protocol, ==, version);
}

/* The service side echoes after checking what came with the stream */
static void
assert_stream_with_addresses (GIOStream  *service_side,
                              const char *client,
                              const char *public)
{
  g_autofree char *client_text = NULL;
  g_autofree char *public_text = NULL;

  client_text = address_string (sm_listener_stream_get_client_address (service_side));
  public_text = address_string (sm_listener_stream_get_public_address (service_side));
  g_assert_cmpstr (client_text, ==, client);
  g_assert_cmpstr (public_text, ==, public);
}

static void
test_header (SmClientFixture *fixture,
             gconstpointer    data)
{
  const HeaderCase *header_case = data;
  g_autoptr(GByteArray) header = encode_header (header_case);
  g_autoptr(SmYamuxStream) daemon_side = NULL;
  g_autoptr(GIOStream) service_side = NULL;

  start_with_proxy (fixture, header_case->version);

  /* the header and the client's first bytes in one write */
  g_byte_array_append (header, (const guint8 *) "hello", 5);
  daemon_side = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write_bytes (G_IO_STREAM (daemon_side), header->data, header->len);
  service_side = sm_client_fixture_accept (fixture);

  assert_stream_with_addresses (service_side, header_case->client, header_case->public);
  sm_fake_stream_expect (service_side, "hello");
  sm_fake_stream_write (service_side, "back");
  sm_fake_stream_expect (G_IO_STREAM (daemon_side), "back");
  sm_fake_stream_write (G_IO_STREAM (daemon_side), " again");
  sm_fake_stream_expect (service_side, " again");
  sm_fake_stream_close (service_side);
}

/* Bytes the listener's session received so far */
static guint64
bytes_received (SmClientFixture *fixture)
{
  SmYamuxStats stats;

  sm_listener_get_yamux_stats (fixture->listener, &stats);
  return stats.bytes_received;
}

/* The header arrives in pieces, each one read before the next is sent */
static void
test_split (SmClientFixture *fixture,
            gconstpointer    data)
{
  const HeaderCase *header_case = data;
  g_autoptr(GByteArray) header = encode_header (header_case);
  g_autoptr(SmYamuxStream) daemon_side = NULL;
  g_autoptr(GIOStream) service_side = NULL;
  gsize cuts[] = { 1, 5, 12, 13, 15, header->len - 1 };
  gsize sent = 0;

  start_with_proxy (fixture, header_case->version);
  daemon_side = sm_fake_daemon_open_stream (fixture->daemon);

  for (guint i = 0; i < G_N_ELEMENTS (cuts); i++)
    {
      g_assert_cmpuint (cuts[i], >, sent);
      g_assert_cmpuint (cuts[i], <, header->len);
      sm_fake_stream_write_bytes (G_IO_STREAM (daemon_side), header->data + sent, cuts[i] - sent);
      sent = cuts[i];
      WAIT_UNTIL (bytes_received (fixture) == sent);
      /* let the reader see it: it must wait for the rest */
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_assert_cmpuint (fixture->n_incoming, ==, 0);
    }

  /* the last byte of the header with the client's first ones */
  g_byte_array_append (header, (const guint8 *) "data", 4);
  sm_fake_stream_write_bytes (G_IO_STREAM (daemon_side), header->data + sent, header->len - sent);
  service_side = sm_client_fixture_accept (fixture);
  g_assert_cmpuint (fixture->n_incoming, ==, 1);

  assert_stream_with_addresses (service_side, header_case->client, header_case->public);
  sm_fake_stream_expect (service_side, "data");
}

/* A stream whose header is wrong is reset; the session and the next
 * streams are fine */
static void
test_malformed (SmClientFixture *fixture,
                gconstpointer    data)
{
  static const char *const malformed[] = {
    "PROXY TCP4 203.0.113.7 192.0.2.1 51234 99999\r\nhello",
    "PROXY TCP4 203.0.113.7\r\n",
    "GET / HTTP/1.1\r\n\r\n",
    "PROXY TCP4 203.0.113.7 192.0.2.1 51234 8080 and far too much after it..........................\r\n",
    "\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff", /* v2, length over the cap */
    "\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c", /* v2, version 3 */
  };
  static const gsize lengths[] = { 0, 0, 0, 0, 16, 16 };
  g_autoptr(GByteArray) good = encode_header (&v2_ipv4);

  start_with_proxy (fixture, 2);

  for (guint i = 0; i < G_N_ELEMENTS (malformed); i++)
    {
      g_autoptr(SmYamuxStream) daemon_side = sm_fake_daemon_open_stream (fixture->daemon);
      g_autoptr(GError) error = NULL;
      gsize len = lengths[i] != 0 ? lengths[i] : strlen (malformed[i]);

      g_test_message ("malformed header %u", i);
      sm_fake_stream_write_bytes (G_IO_STREAM (daemon_side), malformed[i], len);
      error = sm_fake_stream_read_error (G_IO_STREAM (daemon_side));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
      g_assert_true (sm_yamux_stream_was_reset (daemon_side));
      g_assert_cmpuint (fixture->n_incoming, ==, 0);
    }

  /* the session goes on */
  {
    g_autoptr(SmYamuxStream) daemon_side = sm_fake_daemon_open_stream (fixture->daemon);
    g_autoptr(GIOStream) service_side = NULL;

    g_byte_array_append (good, (const guint8 *) "ok", 2);
    sm_fake_stream_write_bytes (G_IO_STREAM (daemon_side), good->data, good->len);
    service_side = sm_client_fixture_accept (fixture);
    assert_stream_with_addresses (service_side, v2_ipv4.client, v2_ipv4.public);
    sm_fake_stream_expect (service_side, "ok");
  }
  g_assert_true (sm_listener_is_connected (fixture->listener));
}

/* A stream that ends before its header is not handed out */
static void
test_end_before_header (SmClientFixture *fixture,
                        gconstpointer    data)
{
  g_autoptr(SmYamuxStream) daemon_side = NULL;
  g_autoptr(SmYamuxStream) reset_side = NULL;
  g_autoptr(GError) error = NULL;

  start_with_proxy (fixture, 1);

  daemon_side = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write (G_IO_STREAM (daemon_side), "PROXY TCP4 ");
  g_output_stream_close (g_io_stream_get_output_stream (G_IO_STREAM (daemon_side)), NULL, &error);
  g_assert_no_error (error);
  error = sm_fake_stream_read_error (G_IO_STREAM (daemon_side));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_clear_error (&error);

  reset_side = sm_fake_daemon_open_stream (fixture->daemon);
  sm_yamux_stream_reset (reset_side);

  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (fixture->n_incoming, ==, 0);
}

/* LOCAL (v2) and UNKNOWN (v1): no addresses, the stream still goes on */
static void
test_local (SmClientFixture *fixture,
            gconstpointer    data)
{
  guint version = GPOINTER_TO_UINT (data);
  g_autoptr(GByteArray) header = g_byte_array_new ();
  g_autoptr(SmYamuxStream) daemon_side = NULL;
  g_autoptr(GIOStream) service_side = NULL;
  SmProxyHeader local;

  start_with_proxy (fixture, version);
  sm_proxy_header_init (&local, version, NULL, NULL);
  g_assert_true (local.local);
  sm_proxy_header_encode (&local, header);
  g_byte_array_append (header, (const guint8 *) "x", 1);

  daemon_side = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write_bytes (G_IO_STREAM (daemon_side), header->data, header->len);
  service_side = sm_client_fixture_accept (fixture);
  g_assert_null (sm_listener_stream_get_client_address (service_side));
  g_assert_null (sm_listener_stream_get_public_address (service_side));
  sm_fake_stream_expect (service_side, "x");
}

/* The "incoming" handler gets the stream with its addresses */
static void
test_incoming_handler (SmClientFixture *fixture,
                       gconstpointer    data)
{
  g_autoptr(GByteArray) header = encode_header (&v1_ipv6);
  g_autoptr(SmYamuxStream) daemon_side = NULL;
  GIOStream *taken;

  fixture->take_streams = TRUE;
  start_with_proxy (fixture, 1);
  daemon_side = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write_bytes (G_IO_STREAM (daemon_side), header->data, header->len);
  WAIT_UNTIL (fixture->taken->len == 1);

  taken = g_ptr_array_index (fixture->taken, 0);
  assert_stream_with_addresses (taken, v1_ipv6.client, v1_ipv6.public);
  sm_fake_stream_write (G_IO_STREAM (daemon_side), "abc");
  sm_fake_stream_expect (taken, "abc");
}

/* Without the option: original format, no header read, no addresses */
static void
test_without (SmClientFixture *fixture,
              gconstpointer    data)
{
  g_autoptr(SmYamuxStream) daemon_side = NULL;
  g_autoptr(GIOStream) service_side = NULL;

  g_assert_cmpuint (sm_listener_get_proxy_protocol (fixture->listener), ==, 0);
  sm_client_fixture_start (fixture);
  g_assert_null (g_ptr_array_index (fixture->daemon->extension_requests, 0));

  daemon_side = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write (G_IO_STREAM (daemon_side), "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
  service_side = sm_client_fixture_accept (fixture);
  g_assert_null (sm_listener_stream_get_client_address (service_side));
  sm_fake_stream_expect (service_side, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
}

/* Closing while a header is awaited: nothing is handed out, close ends */
static void
test_close_while_reading (SmClientFixture *fixture,
                          gconstpointer    data)
{
  g_autoptr(SmYamuxStream) daemon_side = NULL;
  g_autoptr(GError) error = NULL;

  start_with_proxy (fixture, 2);
  daemon_side = sm_fake_daemon_open_stream (fixture->daemon);
  sm_fake_stream_write (G_IO_STREAM (daemon_side), "\r\n\r\n");
  WAIT_UNTIL (bytes_received (fixture) == 4);

  sm_listener_abort (fixture->listener);
  error = sm_fake_stream_read_error (G_IO_STREAM (daemon_side));
  g_assert_nonnull (error);
  g_assert_cmpuint (fixture->n_incoming, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/listener-proxy/v1-ipv4", SmClientFixture, &v1_ipv4, sm_client_fixture_set_up,
              test_header, sm_client_fixture_tear_down);
  g_test_add ("/listener-proxy/v2-ipv4", SmClientFixture, &v2_ipv4, sm_client_fixture_set_up,
              test_header, sm_client_fixture_tear_down);
  g_test_add ("/listener-proxy/v1-ipv6", SmClientFixture, &v1_ipv6, sm_client_fixture_set_up,
              test_header, sm_client_fixture_tear_down);
  g_test_add ("/listener-proxy/v2-ipv6", SmClientFixture, &v2_ipv6, sm_client_fixture_set_up,
              test_header, sm_client_fixture_tear_down);
  g_test_add ("/listener-proxy/split-v1", SmClientFixture, &v1_ipv4, sm_client_fixture_set_up,
              test_split, sm_client_fixture_tear_down);
  g_test_add ("/listener-proxy/split-v2", SmClientFixture, &v2_ipv6, sm_client_fixture_set_up,
              test_split, sm_client_fixture_tear_down);
  g_test_add ("/listener-proxy/local-v1", SmClientFixture, GUINT_TO_POINTER (1),
              sm_client_fixture_set_up, test_local, sm_client_fixture_tear_down);
  g_test_add ("/listener-proxy/local-v2", SmClientFixture, GUINT_TO_POINTER (2),
              sm_client_fixture_set_up, test_local, sm_client_fixture_tear_down);
  SM_CLIENT_TEST_ADD ("/listener-proxy/malformed", test_malformed);
  SM_CLIENT_TEST_ADD ("/listener-proxy/end-before-header", test_end_before_header);
  SM_CLIENT_TEST_ADD ("/listener-proxy/incoming-handler", test_incoming_handler);
  SM_CLIENT_TEST_ADD ("/listener-proxy/without", test_without);
  SM_CLIENT_TEST_ADD ("/listener-proxy/close-while-reading", test_close_while_reading);

  return g_test_run ();
}
