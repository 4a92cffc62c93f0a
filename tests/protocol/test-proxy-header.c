/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-proxy-header.h"

static const guint8 v2_signature[] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                       0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

static GSocketAddress *
address (const char *text, guint16 port)
{
  return g_inet_socket_address_new_from_string (text, port);
}

static char *
address_text (GSocketAddress *socket_address)
{
  g_autofree char *host = NULL;

  g_assert_nonnull (socket_address);
  host = g_inet_address_to_string (
      g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (socket_address)));
  return g_strdup_printf ("%s %u", host,
                          g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (socket_address)));
}

static GByteArray *
encode_addresses (guint version, const char *source, guint16 sport, const char *dest, guint16 dport)
{
  g_autoptr(GSocketAddress) s = address (source, sport);
  g_autoptr(GSocketAddress) d = address (dest, dport);
  GByteArray   *bytes = g_byte_array_new ();
  SmProxyHeader header;

  sm_proxy_header_init (&header, version, s, d);
  sm_proxy_header_encode (&header, bytes);
  return bytes;
}

/* Parses @bytes (followed by some data of the connection's own), checks
 * every shorter prefix is NEED_MORE, and returns the header */
static SmProxyHeader
parse_complete (const GByteArray *bytes)
{
  g_autoptr(GByteArray) with_data = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  SmProxyHeader header;
  gsize         consumed = 0;

  for (gsize i = 0; i < bytes->len; i++)
    {
      g_assert_cmpint (sm_proxy_header_parse (bytes->data, i, &consumed, &header, &error), ==,
                       SM_HANDSHAKE_NEED_MORE);
      g_assert_no_error (error);
      g_assert_cmpuint (consumed, ==, 0);
    }
  g_byte_array_append (with_data, bytes->data, bytes->len);
  g_byte_array_append (with_data, (const guint8 *) "GET / HTTP/1.1\r\n", 16);
  g_assert_cmpint (sm_proxy_header_parse (with_data->data, with_data->len, &consumed, &header,
                                          &error),
                   ==, SM_HANDSHAKE_COMPLETE);
  g_assert_no_error (error);
  g_assert_cmpuint (consumed, ==, bytes->len);
  return header;
}

static void
check_round_trip (guint version, const char *source, guint16 sport, const char *dest, guint16 dport)
{
  g_autoptr(GByteArray) bytes = encode_addresses (version, source, sport, dest, dport);
  g_autoptr(GSocketAddress) s = NULL;
  g_autoptr(GSocketAddress) d = NULL;
  g_autofree char *expected_source = g_strdup_printf ("%s %u", source, sport);
  g_autofree char *expected_destination = g_strdup_printf ("%s %u", dest, dport);
  g_autofree char *source_text = NULL;
  g_autofree char *destination_text = NULL;
  SmProxyHeader header = parse_complete (bytes);

  g_assert_cmpuint (header.version, ==, version);
  g_assert_false (header.local);
  s = sm_proxy_header_get_source (&header);
  d = sm_proxy_header_get_destination (&header);
  source_text = address_text (s);
  destination_text = address_text (d);
  g_assert_cmpstr (source_text, ==, expected_source);
  g_assert_cmpstr (destination_text, ==, expected_destination);
}

static void
test_v1_tcp4 (void)
{
  g_autoptr(GByteArray) bytes = encode_addresses (1, "203.0.113.7", 56324, "192.0.2.1", 443);

  g_assert_cmpmem (bytes->data, bytes->len, "PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n", 44);
  check_round_trip (1, "203.0.113.7", 56324, "192.0.2.1", 443);
  check_round_trip (1, "0.0.0.0", 0, "255.255.255.255", 65535);
}

static void
test_v1_tcp6 (void)
{
  g_autoptr(GByteArray) bytes = encode_addresses (1, "2001:db8::7", 1, "::1", 80);

  g_assert_cmpmem (bytes->data, bytes->len, "PROXY TCP6 2001:db8::7 ::1 1 80\r\n", 33);
  check_round_trip (1, "2001:db8::7", 1, "::1", 80);
  check_round_trip (1, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
                    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
}

static void
test_v2_tcp4 (void)
{
  static const guint8 expected[] = { 0x21, 0x11, 0x00, 0x0c, 203, 0, 113, 7, 192, 0, 2, 1,
                                     0xdc, 0x04, 0x01, 0xbb };
  g_autoptr(GByteArray) bytes = encode_addresses (2, "203.0.113.7", 56324, "192.0.2.1", 443);

  g_assert_cmpuint (bytes->len, ==, 28);
  g_assert_cmpmem (bytes->data, 12, v2_signature, 12);
  g_assert_cmpmem (bytes->data + 12, 16, expected, 16);
  check_round_trip (2, "203.0.113.7", 56324, "192.0.2.1", 443);
}

static void
test_v2_tcp6 (void)
{
  g_autoptr(GByteArray) bytes = encode_addresses (2, "2001:db8::7", 1, "::1", 80);

  g_assert_cmpuint (bytes->len, ==, 52);
  g_assert_cmpuint (bytes->data[13], ==, 0x21);
  check_round_trip (2, "2001:db8::7", 1, "::1", 80);
}

/* A dual-stack listener's IPv4 clients, and mixed families */
static void
test_mapped (void)
{
  g_autoptr(GByteArray) mapped = encode_addresses (1, "::ffff:10.0.0.1", 5, "::ffff:10.0.0.2", 6);
  g_autoptr(GByteArray) mixed = encode_addresses (1, "10.0.0.1", 5, "2001:db8::1", 6);

  g_assert_cmpmem (mapped->data, mapped->len, "PROXY TCP4 10.0.0.1 10.0.0.2 5 6\r\n", 34);
  g_assert_cmpmem (mixed->data, mixed->len, "PROXY TCP6 ::ffff:10.0.0.1 2001:db8::1 5 6\r\n", 44);
}

static void
test_local (void)
{
  g_autoptr(GByteArray) v1 = g_byte_array_new ();
  g_autoptr(GByteArray) v2 = g_byte_array_new ();
  g_autoptr(GSocketAddress) inet = address ("127.0.0.1", 1);
  SmProxyHeader header, parsed;

  sm_proxy_header_init (&header, 1, NULL, inet);
  g_assert_true (header.local);
  sm_proxy_header_encode (&header, v1);
  g_assert_cmpmem (v1->data, v1->len, "PROXY UNKNOWN\r\n", 15);
  parsed = parse_complete (v1);
  g_assert_true (parsed.local);
  g_assert_null (sm_proxy_header_get_source (&parsed));

  sm_proxy_header_init (&header, 2, NULL, NULL);
  sm_proxy_header_encode (&header, v2);
  g_assert_cmpuint (v2->len, ==, 16);
  g_assert_cmpuint (v2->data[12], ==, 0x20);
  parsed = parse_complete (v2);
  g_assert_true (parsed.local);
  g_assert_cmpuint (parsed.version, ==, 2);
}

static SmHandshakeResult
parse_text (const char *text, GError **error)
{
  gsize consumed = 99;
  SmHandshakeResult result;

  result = sm_proxy_header_parse ((const guint8 *) text, strlen (text), &consumed, NULL, error);
  if (result != SM_HANDSHAKE_COMPLETE)
    g_assert_cmpuint (consumed, ==, 0);
  return result;
}

static void
test_v1_accepted (void)
{
  const char *lines[] = {
    "PROXY UNKNOWN\r\n",
    "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
    "PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (lines); i++)
    g_assert_cmpint (parse_text (lines[i], NULL), ==, SM_HANDSHAKE_COMPLETE);
}

static void
test_v1_malformed (void)
{
  const char *lines[] = {
    "GET / HTTP/1.1\r\n",
    "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
    "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
    "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP4 ::1 ::1 1 2\r\n",
    "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n",
    "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
    "PROXY UNKNOWNX\r\n",
    "PROXY \r\n",
    "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\xc3\xa9\r\n",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (lines); i++)
    {
      g_autoptr(GError) error = NULL;

      g_test_message ("%s", lines[i]);
      g_assert_cmpint (parse_text (lines[i], &error), ==, SM_HANDSHAKE_ERROR);
      g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
    }
}

static void
test_v1_oversize (void)
{
  g_autoptr(GString) line = g_string_new ("PROXY UNKNOWN ");
  g_autoptr(GError) error = NULL;

  /* 107 bytes with CRLF is the longest allowed */
  while (line->len < 105)
    g_string_append_c (line, 'x');
  g_string_append (line, "\r\n");
  g_assert_cmpint (parse_text (line->str, NULL), ==, SM_HANDSHAKE_COMPLETE);

  g_string_insert_c (line, 20, 'x');
  g_assert_cmpint (parse_text (line->str, &error), ==, SM_HANDSHAKE_ERROR);
  g_assert_error (error, SM_ERROR, SM_ERROR_TOO_LARGE);
}

static GByteArray *
v2_header (guint8 command, guint8 family, guint16 length, gsize body)
{
  GByteArray *bytes = g_byte_array_new ();
  guint8      head[4] = { command, family, length >> 8, length & 0xff };

  g_byte_array_append (bytes, v2_signature, sizeof v2_signature);
  g_byte_array_append (bytes, head, sizeof head);
  for (gsize i = 0; i < body; i++)
    g_byte_array_append (bytes, (const guint8 *) "\0", 1);
  return bytes;
}

static void
expect_v2_error (GByteArray *bytes, SmError code)
{
  g_autoptr(GError) error = NULL;
  gsize consumed = 99;

  g_assert_cmpint (sm_proxy_header_parse (bytes->data, bytes->len, &consumed, NULL, &error), ==,
                   SM_HANDSHAKE_ERROR);
  g_assert_error (error, SM_ERROR, (gint) code);
  g_assert_cmpuint (consumed, ==, 0);
}

static void
test_v2_malformed (void)
{
  g_autoptr(GByteArray) bad_signature = v2_header (0x21, 0x11, 12, 12);
  g_autoptr(GByteArray) version_1 = v2_header (0x11, 0x11, 12, 12);
  g_autoptr(GByteArray) command_2 = v2_header (0x22, 0x11, 12, 12);
  g_autoptr(GByteArray) udp = v2_header (0x21, 0x12, 12, 12);
  g_autoptr(GByteArray) family_4 = v2_header (0x21, 0x41, 12, 12);
  g_autoptr(GByteArray) short_inet = v2_header (0x21, 0x11, 11, 11);
  g_autoptr(GByteArray) short_inet6 = v2_header (0x21, 0x21, 35, 35);
  g_autoptr(GByteArray) oversize = v2_header (0x21, 0x11, SM_PROXY_HEADER_MAX_V2_LENGTH + 1, 0);
  g_autoptr(GByteArray) bad_tlv = v2_header (0x21, 0x11, 14, 14);
  g_autoptr(GByteArray) tlv_overrun = v2_header (0x21, 0x11, 17, 17);

  bad_signature->data[6] = 'X';
  expect_v2_error (bad_signature, SM_ERROR_PROTOCOL);
  expect_v2_error (version_1, SM_ERROR_PROTOCOL);
  expect_v2_error (command_2, SM_ERROR_PROTOCOL);
  expect_v2_error (udp, SM_ERROR_PROTOCOL);
  expect_v2_error (family_4, SM_ERROR_PROTOCOL);
  expect_v2_error (short_inet, SM_ERROR_PROTOCOL);
  expect_v2_error (short_inet6, SM_ERROR_PROTOCOL);
  /* Refused from the length alone, before the body arrives */
  expect_v2_error (oversize, SM_ERROR_TOO_LARGE);
  /* 2 bytes left after the addresses: not even a TLV's head */
  expect_v2_error (bad_tlv, SM_ERROR_PROTOCOL);
  /* A TLV of 2 bytes announced as 0x0101 */
  tlv_overrun->data[16 + 12] = 0x01;
  tlv_overrun->data[16 + 13] = 0x01;
  tlv_overrun->data[16 + 14] = 0x01;
  expect_v2_error (tlv_overrun, SM_ERROR_PROTOCOL);

  /* Bad bytes are refused as soon as they arrive */
  g_byte_array_set_size (version_1, 13);
  expect_v2_error (version_1, SM_ERROR_PROTOCOL);
  g_byte_array_set_size (udp, 14);
  expect_v2_error (udp, SM_ERROR_PROTOCOL);
  g_byte_array_set_size (oversize, 16);
  expect_v2_error (oversize, SM_ERROR_TOO_LARGE);
}

static void
test_v2_skipped (void)
{
  /* TLVs after the addresses: a NOOP of 3 bytes and an empty one */
  g_autoptr(GByteArray) tlvs = v2_header (0x21, 0x11, 12 + 6 + 3, 0);
  static const guint8 addresses[12] = { 10, 0, 0, 1, 10, 0, 0, 2, 0, 80, 1, 0 };
  static const guint8 tlv_bytes[9] = { 0x04, 0x00, 0x03, 'a', 'b', 'c', 0x05, 0x00, 0x00 };
  /* LOCAL with addresses anyway, UNSPEC, and Unix: the real peer stands */
  g_autoptr(GByteArray) local_inet = v2_header (0x20, 0x11, 12, 12);
  g_autoptr(GByteArray) unspec = v2_header (0x21, 0x00, 5, 5);
  g_autoptr(GByteArray) unix_stream = v2_header (0x21, 0x31, 216, 216);
  g_autoptr(GByteArray) largest = v2_header (0x20, 0x00, SM_PROXY_HEADER_MAX_V2_LENGTH,
                                             SM_PROXY_HEADER_MAX_V2_LENGTH);
  g_autoptr(GSocketAddress) source = NULL;
  g_autofree char *text = NULL;
  SmProxyHeader header;

  g_byte_array_append (tlvs, addresses, sizeof addresses);
  g_byte_array_append (tlvs, tlv_bytes, sizeof tlv_bytes);
  header = parse_complete (tlvs);
  g_assert_false (header.local);
  source = sm_proxy_header_get_source (&header);
  text = address_text (source);
  g_assert_cmpstr (text, ==, "10.0.0.1 80");

  header = parse_complete (local_inet);
  g_assert_true (header.local);
  header = parse_complete (unspec);
  g_assert_true (header.local);
  header = parse_complete (unix_stream);
  g_assert_true (header.local);
  g_assert_null (sm_proxy_header_get_destination (&header));
  header = parse_complete (largest);
  g_assert_true (header.local);
}

static void
test_neither (void)
{
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (sm_proxy_header_parse (NULL, 0, NULL, NULL, NULL), ==, SM_HANDSHAKE_NEED_MORE);
  g_assert_cmpint (parse_text ("\x16\x03\x01", &error), ==, SM_HANDSHAKE_ERROR);
  g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_cmpint (parse_text ("\r\n\r\n\r\n", &error), ==, SM_HANDSHAKE_ERROR);
  g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
  g_assert_cmpint (parse_text ("PROX", NULL), ==, SM_HANDSHAKE_NEED_MORE);
  g_assert_cmpint (parse_text ("\r\n\r\n\0", NULL), ==, SM_HANDSHAKE_NEED_MORE);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/proxy-header/v1/tcp4", test_v1_tcp4);
  g_test_add_func ("/proxy-header/v1/tcp6", test_v1_tcp6);
  g_test_add_func ("/proxy-header/v1/accepted", test_v1_accepted);
  g_test_add_func ("/proxy-header/v1/malformed", test_v1_malformed);
  g_test_add_func ("/proxy-header/v1/oversize", test_v1_oversize);
  g_test_add_func ("/proxy-header/v2/tcp4", test_v2_tcp4);
  g_test_add_func ("/proxy-header/v2/tcp6", test_v2_tcp6);
  g_test_add_func ("/proxy-header/v2/malformed", test_v2_malformed);
  g_test_add_func ("/proxy-header/v2/skipped", test_v2_skipped);
  g_test_add_func ("/proxy-header/mapped", test_mapped);
  g_test_add_func ("/proxy-header/local", test_local);
  g_test_add_func ("/proxy-header/neither", test_neither);

  return g_test_run ();
}
