/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-handshake.h"
#include "sm-test-wire.h"

#define TEST_CERT "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
#define TEST_KEY  "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"

static SmSocketDefinition *
make_definition (guint8 flags)
{
  SmSocketDefinition *def = sm_socket_definition_new (8080);

  sm_socket_definition_set_address (def, "127.0.0.1");
  if (flags & SM_HANDSHAKE_FLAG_HTTP)
    sm_socket_definition_set_http (def, "bücher.example.com", "/api/v1");
  if (flags & SM_HANDSHAKE_FLAG_TLS)
    sm_socket_definition_set_tls (def, TEST_CERT, TEST_KEY);

  return def;
}

static GByteArray *
encode_definition (const SmSocketDefinition *def)
{
  GByteArray *bytes = g_byte_array_new ();

  sm_handshake_encode_request (def, bytes);
  return bytes;
}

static void
assert_definitions_equal (const SmSocketDefinition *a,
                          const SmSocketDefinition *b)
{
  g_assert_cmpstr (sm_socket_definition_get_address (a), ==, sm_socket_definition_get_address (b));
  g_assert_cmpuint (sm_socket_definition_get_port (a), ==, sm_socket_definition_get_port (b));
  g_assert_cmpint (sm_socket_definition_has_http (a), ==, sm_socket_definition_has_http (b));
  g_assert_cmpstr (sm_socket_definition_get_domain_suffix (a), ==, sm_socket_definition_get_domain_suffix (b));
  g_assert_cmpstr (sm_socket_definition_get_path_prefix (a), ==, sm_socket_definition_get_path_prefix (b));
  g_assert_cmpint (sm_socket_definition_has_tls (a), ==, sm_socket_definition_has_tls (b));
  g_assert_cmpstr (sm_socket_definition_get_tls_cert (a), ==, sm_socket_definition_get_tls_cert (b));
  g_assert_cmpstr (sm_socket_definition_get_tls_key (a), ==, sm_socket_definition_get_tls_key (b));
}

/* Parses @bytes expecting an error; returns it for further checks */
static GError *
parse_request_expect_error (const GByteArray *bytes,
                            SmError           code)
{
  g_autoptr(SmSocketDefinition) def = NULL;
  GError *error = NULL;
  gsize consumed = 12345;

  g_assert_cmpint (sm_handshake_parse_request (bytes->data, bytes->len, &consumed, &def, &error),
                   ==, SM_HANDSHAKE_ERROR);
  g_assert_error (error, SM_ERROR, (gint) code);
  g_assert_null (def);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_true (g_str_has_prefix (error->message, "invalid handshake: "));

  return error;
}

static void
test_definition_accessors (void)
{
  g_autoptr(SmSocketDefinition) def = sm_socket_definition_new (443);

  g_assert_cmpstr (sm_socket_definition_get_address (def), ==, "");
  g_assert_cmpuint (sm_socket_definition_get_port (def), ==, 443);
  g_assert_false (sm_socket_definition_has_http (def));
  g_assert_null (sm_socket_definition_get_domain_suffix (def));
  g_assert_null (sm_socket_definition_get_path_prefix (def));
  g_assert_false (sm_socket_definition_has_tls (def));
  g_assert_null (sm_socket_definition_get_tls_cert (def));
  g_assert_null (sm_socket_definition_get_tls_key (def));

  sm_socket_definition_set_address (def, "::1");
  g_assert_cmpstr (sm_socket_definition_get_address (def), ==, "::1");
  sm_socket_definition_set_address (def, NULL);
  g_assert_cmpstr (sm_socket_definition_get_address (def), ==, "");
  sm_socket_definition_set_port (def, 8443);
  g_assert_cmpuint (sm_socket_definition_get_port (def), ==, 8443);

  sm_socket_definition_set_http (def, NULL, NULL);
  g_assert_true (sm_socket_definition_has_http (def));
  g_assert_cmpstr (sm_socket_definition_get_domain_suffix (def), ==, "");
  g_assert_cmpstr (sm_socket_definition_get_path_prefix (def), ==, "");
  sm_socket_definition_set_http (def, "example.com", "/app");
  g_assert_cmpstr (sm_socket_definition_get_domain_suffix (def), ==, "example.com");
  g_assert_cmpstr (sm_socket_definition_get_path_prefix (def), ==, "/app");

  sm_socket_definition_set_tls (def, TEST_CERT, TEST_KEY);
  g_assert_true (sm_socket_definition_has_tls (def));
  g_assert_cmpstr (sm_socket_definition_get_tls_cert (def), ==, TEST_CERT);
  g_assert_cmpstr (sm_socket_definition_get_tls_key (def), ==, TEST_KEY);

  sm_socket_definition_set_tls (def, NULL, NULL);
  g_assert_false (sm_socket_definition_has_tls (def));
  g_assert_null (sm_socket_definition_get_tls_cert (def));
  g_assert_null (sm_socket_definition_get_tls_key (def));
}

static void
test_definition_copy (void)
{
  g_autoptr(SmSocketDefinition) def = make_definition (SM_HANDSHAKE_FLAG_HTTP | SM_HANDSHAKE_FLAG_TLS);
  g_autoptr(SmSocketDefinition) copy = NULL;

  copy = g_boxed_copy (SM_TYPE_SOCKET_DEFINITION, def);
  assert_definitions_equal (def, copy);
  /* A deep copy: changing the original leaves the copy alone */
  sm_socket_definition_set_http (def, "other.org", "/");
  g_assert_cmpstr (sm_socket_definition_get_domain_suffix (copy), ==, "bücher.example.com");
  sm_socket_definition_set_tls (def, NULL, NULL);
  g_assert_true (sm_socket_definition_has_tls (copy));
  g_assert_cmpstr (sm_socket_definition_get_tls_key (copy), ==, TEST_KEY);
}

static void
test_request_round_trip (void)
{
  static const guint8 trailing[] = { 0x00, 0x01, 0x00, 0x01, 'y', 'a', 'm', 'u', 'x' };
  g_autoptr(GPtrArray) definitions = g_ptr_array_new_with_free_func ((GDestroyNotify) sm_socket_definition_free);
  SmSocketDefinition *empty_strings = sm_socket_definition_new (65535);

  for (guint8 flags = 0; flags <= 3; flags++)
    g_ptr_array_add (definitions, make_definition (flags));
  sm_socket_definition_set_http (empty_strings, NULL, NULL);
  g_ptr_array_add (definitions, empty_strings);

  for (guint i = 0; i < definitions->len; i++)
    {
      SmSocketDefinition *def = g_ptr_array_index (definitions, i);
      g_autoptr(SmSocketDefinition) parsed = NULL;
      g_autoptr(GByteArray) bytes = encode_definition (def);
      g_autoptr(GError) error = NULL;
      gsize message_len = bytes->len;
      gsize consumed = 0;

      g_byte_array_append (bytes, trailing, sizeof trailing);

      g_assert_cmpint (sm_handshake_parse_request (bytes->data, bytes->len, &consumed, &parsed, &error),
                       ==, SM_HANDSHAKE_COMPLETE);
      g_assert_no_error (error);
      g_assert_cmpuint (consumed, ==, message_len);
      g_assert_nonnull (parsed);
      assert_definitions_equal (def, parsed);
    }

  g_assert_cmpstr (sm_socket_definition_get_address (empty_strings), ==, "");
  g_assert_cmpstr (sm_socket_definition_get_path_prefix (empty_strings), ==, "");
}

static void
test_request_encoding (void)
{
  static const guint8 expected_full[] = {
    0, 0, 0, 0, 0, 0, 0, 9, '1', '2', '7', '.', '0', '.', '0', '.', '1',
    0, 0, 0, 0, 0, 0, 0x1f, 0x90,           /* port 8080 */
    0x03,                                   /* HTTP | TLS */
    0, 0, 0, 0, 0, 0, 0, 3, 'a', '.', 'b',
    0, 0, 0, 0, 0, 0, 0, 2, '/', 'x',
    0, 0, 0, 0, 0, 0, 0, 1, 'C',
    0, 0, 0, 0, 0, 0, 0, 1, 'K',
  };
  static const guint8 expected_minimal[] = {
    0, 0, 0, 0, 0, 0, 0, 0,                 /* address "" */
    0, 0, 0, 0, 0, 0, 0x12, 0x34,           /* port 0x1234 */
    0x00,
  };
  static const guint8 expected_tls_only[] = {
    0, 0, 0, 0, 0, 0, 0, 2, 'l', 'o',
    0, 0, 0, 0, 0, 0, 0x01, 0xbb,           /* port 443 */
    0x02,
    0, 0, 0, 0, 0, 0, 0, 2, 'C', 'C',
    0, 0, 0, 0, 0, 0, 0, 3, 'K', 'K', 'K',
  };
  g_autoptr(SmSocketDefinition) full = sm_socket_definition_new (8080);
  g_autoptr(SmSocketDefinition) minimal = sm_socket_definition_new (0x1234);
  g_autoptr(SmSocketDefinition) tls_only = sm_socket_definition_new (443);
  g_autoptr(GByteArray) full_bytes = NULL;
  g_autoptr(GByteArray) minimal_bytes = NULL;
  g_autoptr(GByteArray) tls_only_bytes = NULL;

  sm_socket_definition_set_address (full, "127.0.0.1");
  sm_socket_definition_set_http (full, "a.b", "/x");
  sm_socket_definition_set_tls (full, "C", "K");
  full_bytes = encode_definition (full);
  g_assert_cmpmem (full_bytes->data, full_bytes->len, expected_full, sizeof expected_full);

  minimal_bytes = encode_definition (minimal);
  g_assert_cmpmem (minimal_bytes->data, minimal_bytes->len, expected_minimal, sizeof expected_minimal);

  sm_socket_definition_set_address (tls_only, "lo");
  sm_socket_definition_set_tls (tls_only, "CC", "KKK");
  tls_only_bytes = encode_definition (tls_only);
  g_assert_cmpmem (tls_only_bytes->data, tls_only_bytes->len, expected_tls_only, sizeof expected_tls_only);
}

/* Encoding appends: existing bytes are kept */
static void
test_request_encoding_appends (void)
{
  g_autoptr(SmSocketDefinition) def = make_definition (0);
  g_autoptr(GByteArray) once = encode_definition (def);
  g_autoptr(GByteArray) bytes = g_byte_array_new ();

  g_byte_array_append (bytes, (const guint8 *) "previous", 8);
  sm_handshake_encode_request (def, bytes);
  g_assert_cmpuint (bytes->len, ==, 8 + once->len);
  g_assert_cmpmem (bytes->data, 8, "previous", 8);
  g_assert_cmpmem (bytes->data + 8, once->len, once->data, once->len);
}

static void
test_request_truncated (void)
{
  g_autoptr(GPtrArray) requests = g_ptr_array_new_with_free_func ((GDestroyNotify) g_byte_array_unref);
  g_autoptr(SmSocketDefinition) multibyte = sm_socket_definition_new (1);

  for (guint8 flags = 0; flags <= 3; flags++)
    {
      g_autoptr(SmSocketDefinition) def = make_definition (flags);
      g_ptr_array_add (requests, encode_definition (def));
    }
  /* Cuts land inside multi-byte characters of every text field */
  sm_socket_definition_set_address (multibyte, "ä€𝄞");
  sm_socket_definition_set_http (multibyte, "𝄞€ä", "€𝄞ä");
  g_ptr_array_add (requests, encode_definition (multibyte));

  for (guint i = 0; i < requests->len; i++)
    {
      GByteArray *bytes = g_ptr_array_index (requests, i);

      for (gsize len = 0; len < bytes->len; len++)
        {
          g_autoptr(SmSocketDefinition) def = NULL;
          g_autoptr(GError) error = NULL;
          gsize consumed = 12345;
          SmHandshakeResult result;

          result = sm_handshake_parse_request (bytes->data, len, &consumed, &def, &error);
          if (result != SM_HANDSHAKE_NEED_MORE)
            g_error ("request %u cut at %" G_GSIZE_FORMAT "/%u: result %d, %s",
                     i, len, bytes->len, result, error ? error->message : "no error");
          g_assert_no_error (error);
          g_assert_null (def);
          g_assert_cmpuint (consumed, ==, 0);
        }

      g_assert_cmpint (sm_handshake_parse_request (bytes->data, bytes->len, NULL, NULL, NULL),
                       ==, SM_HANDSHAKE_COMPLETE);
    }
}

typedef enum {
  FIELD_ADDRESS,
  FIELD_DOMAIN_SUFFIX,
  FIELD_PATH_PREFIX,
  FIELD_CERT,
  FIELD_KEY,
  N_FIELDS
} Field;

static const struct {
  const char *name;
  guint64     limit;
} fields[N_FIELDS] = {
  { "address", SM_HANDSHAKE_MAX_STRING },
  { "domain suffix", SM_HANDSHAKE_MAX_STRING },
  { "path prefix", SM_HANDSHAKE_MAX_STRING },
  { "certificate", SM_HANDSHAKE_MAX_PEM },
  { "key", SM_HANDSHAKE_MAX_PEM },
};

/* A request with HTTP and TLS whose @field is announced with @length and
 * stops right after that length field. */
static GByteArray *
build_request_up_to (Field   field,
                     guint64 length)
{
  static const char *values[N_FIELDS] = { "127.0.0.1", "example.com", "/", TEST_CERT, TEST_KEY };
  GByteArray *bytes = g_byte_array_new ();

  if (field != FIELD_ADDRESS)
    {
      sm_test_append_string (bytes, values[FIELD_ADDRESS]);
      sm_test_append_u64 (bytes, 80);
      sm_test_append_byte (bytes, SM_HANDSHAKE_FLAG_HTTP | SM_HANDSHAKE_FLAG_TLS);
      for (Field earlier = FIELD_DOMAIN_SUFFIX; earlier < field; earlier++)
        sm_test_append_string (bytes, values[earlier]);
    }
  sm_test_append_u64 (bytes, length);

  return bytes;
}

static void
test_request_oversized (void)
{
  for (Field field = 0; field < N_FIELDS; field++)
    {
      g_autoptr(GByteArray) bytes = build_request_up_to (field, fields[field].limit + 1);
      g_autoptr(GError) error = NULL;
      g_autofree char *expected = NULL;

      error = parse_request_expect_error (bytes, SM_ERROR_TOO_LARGE);
      expected = g_strdup_printf ("invalid handshake: %s is %" G_GUINT64_FORMAT " bytes long, "
                                  "limit is %" G_GUINT64_FORMAT,
                                  fields[field].name, fields[field].limit + 1, fields[field].limit);
      g_assert_cmpstr (error->message, ==, expected);
    }
}

static void
test_request_huge_length (void)
{
  static const guint64 lengths[] = { G_GUINT64_CONSTANT (1) << 62, G_MAXUINT64 };

  for (gsize i = 0; i < G_N_ELEMENTS (lengths); i++)
    {
      for (Field field = 0; field < N_FIELDS; field++)
        {
          g_autoptr(GByteArray) bytes = build_request_up_to (field, lengths[i]);
          g_autoptr(GError) error = parse_request_expect_error (bytes, SM_ERROR_TOO_LARGE);

          g_assert_nonnull (strstr (error->message, fields[field].name));
        }
    }

  {
    g_autoptr(GByteArray) bytes = build_request_up_to (FIELD_ADDRESS, G_GUINT64_CONSTANT (1) << 62);
    g_autoptr(GError) error = parse_request_expect_error (bytes, SM_ERROR_TOO_LARGE);

    g_assert_cmpstr (error->message, ==,
                     "invalid handshake: address is 4611686018427387904 bytes long, limit is 65536");
  }
}

static void
test_request_bad_port (void)
{
  static const struct {
    guint64     port;
    const char *message;
  } cases[] = {
    { 0, "invalid handshake: port 0 is out of range 1-65535" },
    { 65536, "invalid handshake: port 65536 is out of range 1-65535" },
    { 70000, "invalid handshake: port 70000 is out of range 1-65535" },
    { G_GUINT64_CONSTANT (1) << 63, "invalid handshake: port 9223372036854775808 is out of range 1-65535" },
    { G_MAXUINT64, "invalid handshake: port 18446744073709551615 is out of range 1-65535" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GByteArray) bytes = g_byte_array_new ();
      g_autoptr(GError) error = NULL;

      /* Detected before the flags byte arrives */
      sm_test_append_string (bytes, "");
      sm_test_append_u64 (bytes, cases[i].port);

      error = parse_request_expect_error (bytes, SM_ERROR_INVALID_ARGUMENT);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }
}

/* The ends of the range are fine */
static void
test_request_port_range_ends (void)
{
  for (guint port = 1; port <= 65535; port += 65534)
    {
      g_autoptr(GByteArray) bytes = g_byte_array_new ();
      g_autoptr(SmSocketDefinition) def = NULL;

      sm_test_append_string (bytes, "");
      sm_test_append_u64 (bytes, port);
      sm_test_append_byte (bytes, 0);
      g_assert_cmpint (sm_handshake_parse_request (bytes->data, bytes->len, NULL, &def, NULL),
                       ==, SM_HANDSHAKE_COMPLETE);
      g_assert_cmpuint (sm_socket_definition_get_port (def), ==, port);
    }
}

static void
test_request_bad_flags (void)
{
  static const struct {
    guint8      flags;
    const char *message;
  } cases[] = {
    { 0x04, "invalid handshake: unknown flag bits 0x04" },
    { 0x80, "invalid handshake: unknown flag bits 0x80" },
    { 0x87, "invalid handshake: unknown flag bits 0x84" },
    { 0xff, "invalid handshake: unknown flag bits 0xfc" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GByteArray) bytes = g_byte_array_new ();
      g_autoptr(GError) error = NULL;

      /* Detected before any field the flags announce */
      sm_test_append_string (bytes, "127.0.0.1");
      sm_test_append_u64 (bytes, 80);
      sm_test_append_byte (bytes, cases[i].flags);

      error = parse_request_expect_error (bytes, SM_ERROR_INVALID_ARGUMENT);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }
}

static void
test_request_at_limit (void)
{
  g_autofree char *text = g_strnfill (SM_HANDSHAKE_MAX_STRING, 'a');
  g_autofree char *pem = g_strnfill (SM_HANDSHAKE_MAX_PEM, 'P');
  g_autoptr(SmSocketDefinition) def = sm_socket_definition_new (80);
  g_autoptr(SmSocketDefinition) parsed = NULL;
  g_autoptr(GByteArray) bytes = NULL;
  g_autoptr(GError) error = NULL;
  gsize consumed = 0;

  sm_socket_definition_set_address (def, text);
  sm_socket_definition_set_http (def, text, text);
  sm_socket_definition_set_tls (def, pem, pem);
  bytes = encode_definition (def);

  g_assert_cmpint (sm_handshake_parse_request (bytes->data, bytes->len, &consumed, &parsed, &error),
                   ==, SM_HANDSHAKE_COMPLETE);
  g_assert_no_error (error);
  g_assert_cmpuint (consumed, ==, bytes->len);
  assert_definitions_equal (def, parsed);
}

static void
test_request_bad_text (void)
{
  static const struct {
    Field       field;
    const char *bytes;
    gsize       len;
    const char *message;
  } cases[] = {
    { FIELD_ADDRESS, "127.0\0.0.1", 10, "invalid handshake: address contains a NUL byte" },
    { FIELD_ADDRESS, "\xff", 1, "invalid handshake: address is not valid UTF-8" },
    { FIELD_DOMAIN_SUFFIX, "ex\xc3(ample", 9, "invalid handshake: domain suffix is not valid UTF-8" },
    { FIELD_DOMAIN_SUFFIX, "\0", 1, "invalid handshake: domain suffix contains a NUL byte" },
    /* complete string ending inside a character */
    { FIELD_PATH_PREFIX, "/caf\xc3", 5, "invalid handshake: path prefix is not valid UTF-8" },
    { FIELD_PATH_PREFIX, "/\xed\xa0\x80", 4, "invalid handshake: path prefix is not valid UTF-8" },
    { FIELD_CERT, "-----BEGIN\0", 11, "invalid handshake: certificate contains a NUL byte" },
    { FIELD_KEY, "\0-----BEGIN", 11, "invalid handshake: key contains a NUL byte" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GByteArray) bytes = build_request_up_to (cases[i].field, cases[i].len);
      gsize header_len = bytes->len;
      gboolean failed = FALSE;

      g_byte_array_append (bytes, (const guint8 *) cases[i].bytes, cases[i].len);
      /* What follows is irrelevant: the error is in the string itself */
      sm_test_append_string (bytes, "trailing");

      for (gsize len = header_len; len <= bytes->len; len++)
        {
          g_autoptr(GError) error = NULL;
          SmHandshakeResult result;

          result = sm_handshake_parse_request (bytes->data, len, NULL, NULL, &error);
          if (result == SM_HANDSHAKE_NEED_MORE)
            {
              /* Once the whole string is there, the error is certain */
              g_assert_cmpuint (len, <, header_len + cases[i].len);
              g_assert_false (failed);
              continue;
            }
          g_assert_cmpint (result, ==, SM_HANDSHAKE_ERROR);
          g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
          g_assert_cmpstr (error->message, ==, cases[i].message);
          failed = TRUE;
        }
      g_assert_true (failed);
    }
}

/* A NUL is refused as soon as it arrives, long before the string ends */
static void
test_request_early_nul (void)
{
  g_autoptr(GByteArray) bytes = build_request_up_to (FIELD_ADDRESS, 1000);
  g_autoptr(GError) error = NULL;

  sm_test_append_byte (bytes, '\0');
  g_assert_cmpint (sm_handshake_parse_request (bytes->data, bytes->len, NULL, NULL, &error),
                   ==, SM_HANDSHAKE_ERROR);
  g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
}

/* PEM only has to be free of NUL bytes; GnuTLS judges the rest */
static void
test_request_pem_bytes (void)
{
  g_autoptr(GByteArray) bytes = build_request_up_to (FIELD_KEY, 2);
  g_autoptr(SmSocketDefinition) def = NULL;

  g_byte_array_append (bytes, (const guint8 *) "\xff\xfe", 2);
  g_assert_cmpint (sm_handshake_parse_request (bytes->data, bytes->len, NULL, &def, NULL),
                   ==, SM_HANDSHAKE_COMPLETE);
  g_assert_cmpstr (sm_socket_definition_get_tls_key (def), ==, "\xff\xfe");
}

static void
test_status_encoding (void)
{
  static const guint8 expected_ok[] = { 0, 0, 0, 0, 0, 0, 0, 2, 'O', 'K' };
  g_autoptr(GByteArray) ok_bytes = g_byte_array_new ();

  sm_handshake_encode_status (SM_HANDSHAKE_STATUS_OK, ok_bytes);
  g_assert_cmpmem (ok_bytes->data, ok_bytes->len, expected_ok, sizeof expected_ok);
}

static void
test_status_round_trip (void)
{
  static const char *statuses[] = {
    SM_HANDSHAKE_STATUS_OK,
    "",
    "invalid handshake: port 0 is out of range 1-65535",
    "port 80: Permission denied — ünïcödé 𝄞",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (statuses); i++)
    {
      g_autoptr(GByteArray) bytes = g_byte_array_new ();
      g_autoptr(GError) error = NULL;
      g_autofree char *status = NULL;
      gsize message_len;
      gsize consumed = 0;

      sm_handshake_encode_status (statuses[i], bytes);
      message_len = bytes->len;
      g_assert_cmpuint (message_len, ==, 8 + strlen (statuses[i]));
      /* The yamux session starts right after the status */
      g_byte_array_append (bytes, (const guint8 *) "\x00\x01\x00\x01", 4);

      g_assert_cmpint (sm_handshake_parse_status (bytes->data, bytes->len, &consumed, &status, &error),
                       ==, SM_HANDSHAKE_COMPLETE);
      g_assert_no_error (error);
      g_assert_cmpuint (consumed, ==, message_len);
      g_assert_cmpstr (status, ==, statuses[i]);

      for (gsize len = 0; len < message_len; len++)
        {
          g_autofree char *partial = NULL;
          gsize partial_consumed = 12345;

          g_assert_cmpint (sm_handshake_parse_status (bytes->data, len, &partial_consumed, &partial, &error),
                           ==, SM_HANDSHAKE_NEED_MORE);
          g_assert_no_error (error);
          g_assert_null (partial);
          g_assert_cmpuint (partial_consumed, ==, 0);
        }
    }
}

static void
test_status_too_long (void)
{
  static const guint64 lengths[] = {
    SM_HANDSHAKE_MAX_STATUS + 1, G_GUINT64_CONSTANT (1) << 62, G_MAXUINT64
  };

  for (gsize i = 0; i < G_N_ELEMENTS (lengths); i++)
    {
      g_autoptr(GByteArray) bytes = g_byte_array_new ();
      g_autoptr(GError) error = NULL;
      g_autofree char *status = NULL;
      g_autofree char *expected = NULL;

      sm_test_append_u64 (bytes, lengths[i]);
      g_assert_cmpint (sm_handshake_parse_status (bytes->data, bytes->len, NULL, &status, &error),
                       ==, SM_HANDSHAKE_ERROR);
      g_assert_error (error, SM_ERROR, SM_ERROR_TOO_LARGE);
      g_assert_null (status);
      expected = g_strdup_printf ("invalid handshake response: status is %" G_GUINT64_FORMAT " bytes long, "
                                  "limit is %d",
                                  lengths[i], SM_HANDSHAKE_MAX_STATUS);
      g_assert_cmpstr (error->message, ==, expected);
    }
}

static void
test_status_at_limit (void)
{
  g_autofree char *at_limit = g_strnfill (SM_HANDSHAKE_MAX_STATUS, 'x');
  g_autoptr(GByteArray) at_limit_bytes = g_byte_array_new ();
  g_autofree char *parsed = NULL;

  sm_test_append_string (at_limit_bytes, at_limit);
  g_assert_cmpint (sm_handshake_parse_status (at_limit_bytes->data, at_limit_bytes->len, NULL, &parsed, NULL),
                   ==, SM_HANDSHAKE_COMPLETE);
  g_assert_cmpstr (parsed, ==, at_limit);
}

static void
test_status_nul (void)
{
  g_autoptr(GByteArray) bytes = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  sm_test_append_string_bytes (bytes, "O\0K", 3);
  g_assert_cmpint (sm_handshake_parse_status (bytes->data, bytes->len, NULL, NULL, &error),
                   ==, SM_HANDSHAKE_ERROR);
  g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
}

static void
test_status_encode_long (void)
{
  /* 3-byte characters, so that the limit falls inside one */
  g_autoptr(GString) long_status = g_string_new (NULL);
  g_autoptr(GByteArray) bytes = g_byte_array_new ();
  g_autofree char *parsed = NULL;
  gsize consumed = 0;

  while (long_status->len <= SM_HANDSHAKE_MAX_STATUS + 10)
    g_string_append (long_status, "€");
  g_assert_cmpuint (SM_HANDSHAKE_MAX_STATUS % 3, !=, 0);

  sm_handshake_encode_status (long_status->str, bytes);
  g_assert_cmpint (sm_handshake_parse_status (bytes->data, bytes->len, &consumed, &parsed, NULL),
                   ==, SM_HANDSHAKE_COMPLETE);
  g_assert_cmpuint (consumed, ==, bytes->len);
  g_assert_cmpuint (strlen (parsed), <=, SM_HANDSHAKE_MAX_STATUS);
  g_assert_cmpuint (strlen (parsed), >, SM_HANDSHAKE_MAX_STATUS - 3);
  g_assert_true (g_str_has_prefix (long_status->str, parsed));
}

/* A random buffer, either pure noise or a valid request with a few bytes
 * changed, so that parsing gets past the first fields often. */
static GByteArray *
random_request_bytes (GRand *rand)
{
  GByteArray *bytes;
  guint mutations;

  if (g_rand_int_range (rand, 0, 4) == 0)
    {
      gsize len = g_rand_int_range (rand, 0, 64);

      bytes = g_byte_array_sized_new (len);
      for (gsize i = 0; i < len; i++)
        sm_test_append_byte (bytes, g_rand_int_range (rand, 0, 256));
      return bytes;
    }

  {
    g_autoptr(SmSocketDefinition) def = make_definition (g_rand_int_range (rand, 0, 4));
    bytes = encode_definition (def);
  }

  mutations = g_rand_int_range (rand, 0, 4);
  for (guint i = 0; i < mutations && bytes->len > 0; i++)
    bytes->data[g_rand_int_range (rand, 0, bytes->len)] = g_rand_int_range (rand, 0, 256);

  /* Some trailing bytes, as a yamux frame would be */
  for (guint i = g_rand_int_range (rand, 0, 8); i > 0; i--)
    sm_test_append_byte (bytes, g_rand_int_range (rand, 0, 256));

  return bytes;
}

/* Parses every prefix of @bytes; checks that the answers agree with each
 * other: once an error or a complete message, always the same answer. */
static void
check_request_prefixes (const GByteArray *bytes,
                        guint            *n_complete,
                        guint            *n_error)
{
  SmHandshakeResult previous = SM_HANDSHAKE_NEED_MORE;
  gsize previous_consumed = 0;
  gint previous_code = -1;

  for (gsize len = 0; len <= bytes->len; len++)
    {
      g_autoptr(SmSocketDefinition) def = NULL;
      g_autoptr(GError) error = NULL;
      gsize consumed = 12345;
      SmHandshakeResult result;

      result = sm_handshake_parse_request (bytes->data, len, &consumed, &def, &error);
      g_assert_cmpuint (consumed, <=, len);

      switch (result)
        {
        case SM_HANDSHAKE_NEED_MORE:
          g_assert_cmpint (previous, ==, SM_HANDSHAKE_NEED_MORE);
          g_assert_no_error (error);
          g_assert_null (def);
          g_assert_cmpuint (consumed, ==, 0);
          break;

        case SM_HANDSHAKE_COMPLETE:
          {
            g_autoptr(GByteArray) encoded = encode_definition (def);

            g_assert_no_error (error);
            g_assert_cmpint (previous, !=, SM_HANDSHAKE_ERROR);
            if (previous == SM_HANDSHAKE_COMPLETE)
              g_assert_cmpuint (consumed, ==, previous_consumed);
            /* The encoding is canonical: the message re-encodes to itself */
            g_assert_cmpmem (encoded->data, encoded->len, bytes->data, consumed);
            previous_consumed = consumed;
          }
          break;

        case SM_HANDSHAKE_ERROR:
          g_assert_nonnull (error);
          g_assert_true (error->domain == SM_ERROR);
          g_assert_true (error->code == SM_ERROR_PROTOCOL ||
                         error->code == SM_ERROR_TOO_LARGE ||
                         error->code == SM_ERROR_INVALID_ARGUMENT);
          g_assert_null (def);
          g_assert_cmpint (previous, !=, SM_HANDSHAKE_COMPLETE);
          if (previous == SM_HANDSHAKE_ERROR)
            g_assert_cmpint (error->code, ==, previous_code);
          previous_code = error->code;
          break;

        default:
          g_assert_not_reached ();
        }
      previous = result;
    }

  if (previous == SM_HANDSHAKE_COMPLETE)
    (*n_complete)++;
  else if (previous == SM_HANDSHAKE_ERROR)
    (*n_error)++;
}

static void
test_request_random (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (0x50c4e7);
  guint n_complete = 0;
  guint n_error = 0;
  guint iterations = g_test_slow () ? 20000 : 3000;

  for (guint i = 0; i < iterations; i++)
    {
      g_autoptr(GByteArray) bytes = random_request_bytes (rand);

      check_request_prefixes (bytes, &n_complete, &n_error);
    }

  g_test_message ("%u buffers: %u complete, %u errors", iterations, n_complete, n_error);
  /* The generator must exercise both outcomes, or this test proves little */
  g_assert_cmpuint (n_complete, >, iterations / 10);
  g_assert_cmpuint (n_error, >, iterations / 10);
}

static void
test_status_random (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (0x57a7);

  for (guint i = 0; i < 3000; i++)
    {
      g_autoptr(GByteArray) bytes = g_byte_array_new ();

      /* A small length half of the time, so that strings complete */
      if (g_rand_boolean (rand))
        sm_test_append_u64 (bytes, g_rand_int_range (rand, 0, 12));
      for (gsize j = g_rand_int_range (rand, 0, 24); j > 0; j--)
        sm_test_append_byte (bytes, g_rand_int_range (rand, 0, 256));

      for (gsize cut = 0; cut <= bytes->len; cut++)
        {
          g_autoptr(GError) error = NULL;
          g_autofree char *status = NULL;
          gsize consumed = 12345;
          SmHandshakeResult result;

          result = sm_handshake_parse_status (bytes->data, cut, &consumed, &status, &error);
          g_assert_cmpint (result == SM_HANDSHAKE_ERROR, ==, error != NULL);
          g_assert_cmpint (result == SM_HANDSHAKE_COMPLETE, ==, status != NULL);
          if (result == SM_HANDSHAKE_COMPLETE)
            {
              g_assert_cmpuint (consumed, ==, 8 + strlen (status));
              g_assert_cmpuint (consumed, <=, cut);
              g_assert_true (g_utf8_validate (status, -1, NULL));
            }
          else
            g_assert_cmpuint (consumed, ==, 0);
        }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/socket-definition/accessors", test_definition_accessors);
  g_test_add_func ("/socket-definition/copy", test_definition_copy);
  g_test_add_func ("/handshake/request/round-trip", test_request_round_trip);
  g_test_add_func ("/handshake/request/encoding", test_request_encoding);
  g_test_add_func ("/handshake/request/encoding-appends", test_request_encoding_appends);
  g_test_add_func ("/handshake/request/truncated", test_request_truncated);
  g_test_add_func ("/handshake/request/oversized", test_request_oversized);
  g_test_add_func ("/handshake/request/huge-length", test_request_huge_length);
  g_test_add_func ("/handshake/request/bad-port", test_request_bad_port);
  g_test_add_func ("/handshake/request/port-range-ends", test_request_port_range_ends);
  g_test_add_func ("/handshake/request/bad-flags", test_request_bad_flags);
  g_test_add_func ("/handshake/request/at-limit", test_request_at_limit);
  g_test_add_func ("/handshake/request/bad-text", test_request_bad_text);
  g_test_add_func ("/handshake/request/early-nul", test_request_early_nul);
  g_test_add_func ("/handshake/request/pem-bytes", test_request_pem_bytes);
  g_test_add_func ("/handshake/request/random", test_request_random);
  g_test_add_func ("/handshake/status/encoding", test_status_encoding);
  g_test_add_func ("/handshake/status/round-trip", test_status_round_trip);
  g_test_add_func ("/handshake/status/too-long", test_status_too_long);
  g_test_add_func ("/handshake/status/at-limit", test_status_at_limit);
  g_test_add_func ("/handshake/status/nul", test_status_nul);
  g_test_add_func ("/handshake/status/encode-long", test_status_encode_long);
  g_test_add_func ("/handshake/status/random", test_status_random);

  return g_test_run ();
}
