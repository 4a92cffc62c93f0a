/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "sm-error.h"
#include "sm-extension-handshake.h"

#define TEST_CERT "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
#define TEST_KEY  "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"

/* The codes of PROTOCOL.md §7, in its order */
static const char *const wire_codes[] = {
  "malformed", "unsupported", "unauthorized", "permission-denied", "route-owned",
  "port-in-use", "mode-conflict", "bad-certificate", "limit",
};

/* @prefix, the length of @json, then @json (written by hand, not by the
 * codec) */
static GByteArray *
frame (const guint8 *prefix,
       gsize         prefix_len,
       const char   *json,
       gsize         json_len)
{
  GByteArray *bytes = g_byte_array_new ();
  guint8 length[4] = { json_len >> 24, json_len >> 16, json_len >> 8, json_len };

  g_byte_array_append (bytes, prefix, prefix_len);
  g_byte_array_append (bytes, length, sizeof length);
  g_byte_array_append (bytes, (const guint8 *) json, json_len);
  return bytes;
}

static GByteArray *
frame_request (const char *json,
               gsize       json_len)
{
  static const guint8 magic[] = { 0x80, 'S', 'M', 'X', 0, 0, 0, 2 };

  return frame (magic, sizeof magic, json, json_len);
}

static GByteArray *
frame_response (const char *json)
{
  return frame (NULL, 0, json, strlen (json));
}

static GByteArray *
encode_request (const SmExtensionRequest *request)
{
  GByteArray *bytes = g_byte_array_new ();

  sm_extension_encode_request (request, bytes);
  return bytes;
}

static SmExtensionRequest *
parse_request_complete (const GByteArray *bytes)
{
  g_autoptr(GError) error = NULL;
  SmExtensionRequest *request = NULL;
  gsize consumed = 0;

  g_assert_cmpint (sm_extension_parse_request (bytes->data, bytes->len, &consumed, &request, &error),
                   ==, SM_HANDSHAKE_COMPLETE);
  g_assert_no_error (error);
  g_assert_cmpuint (consumed, ==, bytes->len);
  g_assert_nonnull (request);
  return request;
}

/* Parses @json as a request body expecting an error; returns its wire code */
static const char *
request_error_code (const char *json, gsize json_len, SmError *out_code)
{
  g_autoptr(GByteArray) bytes = frame_request (json, json_len);
  g_autoptr(SmExtensionRequest) request = NULL;
  g_autoptr(GError) error = NULL;
  gsize consumed = 12345;
  const char *code;

  g_assert_cmpint (sm_extension_parse_request (bytes->data, bytes->len, &consumed, &request, &error),
                   ==, SM_HANDSHAKE_ERROR);
  g_assert_nonnull (error);
  g_assert_true (error->domain == SM_ERROR);
  g_assert_null (request);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_true (g_str_has_prefix (error->message, "invalid handshake: "));
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_test_message ("%s -> %s", json_len < 200 && g_utf8_validate (json, json_len, NULL) ? json : "(bytes)", error->message);
  if (out_code != NULL)
    *out_code = error->code;
  code = sm_extension_error_code (error);
  return code;
}

static void
assert_requests_equal (const SmExtensionRequest *a,
                       const SmExtensionRequest *b)
{
  const SmSocketDefinition *da = a->definition, *db = b->definition;

  g_assert_cmpstr (sm_socket_definition_get_address (da), ==, sm_socket_definition_get_address (db));
  g_assert_cmpuint (sm_socket_definition_get_port (da), ==, sm_socket_definition_get_port (db));
  g_assert_cmpint (sm_socket_definition_has_http (da), ==, sm_socket_definition_has_http (db));
  g_assert_cmpstr (sm_socket_definition_get_domain_suffix (da), ==, sm_socket_definition_get_domain_suffix (db));
  g_assert_cmpstr (sm_socket_definition_get_path_prefix (da), ==, sm_socket_definition_get_path_prefix (db));
  g_assert_cmpint (sm_socket_definition_has_tls (da), ==, sm_socket_definition_has_tls (db));
  g_assert_cmpstr (sm_socket_definition_get_tls_cert (da), ==, sm_socket_definition_get_tls_cert (db));
  g_assert_cmpstr (sm_socket_definition_get_tls_key (da), ==, sm_socket_definition_get_tls_key (db));
  g_assert_cmpstr (a->token, ==, b->token);
  g_assert_cmpstr (a->name, ==, b->name);
  g_assert_cmpuint (a->proxy_protocol, ==, b->proxy_protocol);
}

static SmExtensionRequest *
make_full_request (void)
{
  SmExtensionRequest *request = sm_extension_request_new (sm_socket_definition_new (8443));

  sm_socket_definition_set_address (request->definition, "::1");
  sm_socket_definition_set_http (request->definition, "bücher.example.com", "/api/\"v1\"\\");
  sm_socket_definition_set_tls (request->definition, TEST_CERT, TEST_KEY);
  request->token = g_strdup ("s3cret \u00e9\t\n");
  request->name = g_strdup ("my service");
  request->proxy_protocol = 2;
  return request;
}

static void
test_is_request (void)
{
  static const guint8 extension[] = { 0x80 };
  g_autoptr(SmSocketDefinition) def = sm_socket_definition_new (80);
  g_autoptr(SmExtensionRequest) request = make_full_request ();
  g_autoptr(GByteArray) original = g_byte_array_new ();
  g_autoptr(GByteArray) encoded = encode_request (request);

  g_assert_true (sm_extension_is_request (extension, 1));
  g_assert_true (sm_extension_is_request (encoded->data, encoded->len));
  sm_handshake_encode_request (def, original);
  g_assert_false (sm_extension_is_request (original->data, original->len));
  g_assert_false (sm_extension_is_request (original->data, 1));
}

static void
test_request_round_trip (void)
{
  static const guint8 trailing[] = { 0x00, 0x01, 0x00, 0x01, 'y' };
  g_autoptr(GPtrArray) requests = g_ptr_array_new_with_free_func ((GDestroyNotify) sm_extension_request_free);
  SmExtensionRequest *minimal = sm_extension_request_new (sm_socket_definition_new (1));
  SmExtensionRequest *empty_http = sm_extension_request_new (sm_socket_definition_new (65535));
  SmExtensionRequest *token_only = sm_extension_request_new (sm_socket_definition_new (9999));
  SmExtensionRequest *name_only = sm_extension_request_new (sm_socket_definition_new (80));

  sm_socket_definition_set_http (empty_http->definition, NULL, NULL);
  empty_http->proxy_protocol = 1;
  token_only->token = g_strdup ("");
  sm_socket_definition_set_address (name_only->definition, "127.0.0.1");
  name_only->name = g_strdup ("日本語");
  g_ptr_array_add (requests, make_full_request ());
  g_ptr_array_add (requests, minimal);
  g_ptr_array_add (requests, empty_http);
  g_ptr_array_add (requests, token_only);
  g_ptr_array_add (requests, name_only);

  for (guint i = 0; i < requests->len; i++)
    {
      const SmExtensionRequest *request = requests->pdata[i];
      g_autoptr(GByteArray) bytes = encode_request (request);
      g_autoptr(SmExtensionRequest) parsed = parse_request_complete (bytes);
      g_autoptr(SmExtensionRequest) parsed_again = NULL;
      gsize consumed = 0;

      assert_requests_equal (request, parsed);

      /* What follows the request (yamux frames) is not part of it */
      g_byte_array_append (bytes, trailing, sizeof trailing);
      g_assert_cmpint (sm_extension_parse_request (bytes->data, bytes->len, &consumed, &parsed_again, NULL),
                       ==, SM_HANDSHAKE_COMPLETE);
      g_assert_cmpuint (consumed, ==, bytes->len - sizeof trailing);
      assert_requests_equal (request, parsed_again);
    }
}

/* Every key as a client of another language would write it */
static void
test_request_every_field (void)
{
  static const char json[] =
      "{ \"port\": 443, \"address\": \"127.0.0.1\",\n"
      "  \"http\": { \"domain_suffix\": \"example.com\", \"path_prefix\": \"/a\" },\n"
      "  \"tls\": { \"cert\": \"C\", \"key\": \"K\" },\n"
      "  \"proxy_protocol\": 1, \"token\": \"t\\u00e9\\n\\/\\\"\", \"name\": \"web \\ud83d\\ude00\" }";
  g_autoptr(GByteArray) bytes = frame_request (json, strlen (json));
  g_autoptr(SmExtensionRequest) request = parse_request_complete (bytes);
  g_autoptr(GByteArray) http_only = frame_request ("{\"port\":80,\"http\":{}}", 21);
  g_autoptr(SmExtensionRequest) http_request = parse_request_complete (http_only);
  const SmSocketDefinition *def = request->definition;

  g_assert_cmpuint (sm_socket_definition_get_port (def), ==, 443);
  g_assert_cmpstr (sm_socket_definition_get_address (def), ==, "127.0.0.1");
  g_assert_true (sm_socket_definition_has_http (def));
  g_assert_cmpstr (sm_socket_definition_get_domain_suffix (def), ==, "example.com");
  g_assert_cmpstr (sm_socket_definition_get_path_prefix (def), ==, "/a");
  g_assert_true (sm_socket_definition_has_tls (def));
  g_assert_cmpstr (sm_socket_definition_get_tls_cert (def), ==, "C");
  g_assert_cmpstr (sm_socket_definition_get_tls_key (def), ==, "K");
  g_assert_cmpuint (request->proxy_protocol, ==, 1);
  g_assert_cmpstr (request->token, ==, "té\n/\"");
  g_assert_cmpstr (request->name, ==, "web 😀");

  /* absent members: all interfaces, no TLS, no token or name */
  def = http_request->definition;
  g_assert_cmpstr (sm_socket_definition_get_address (def), ==, "");
  g_assert_true (sm_socket_definition_has_http (def));
  g_assert_cmpstr (sm_socket_definition_get_domain_suffix (def), ==, "");
  g_assert_cmpstr (sm_socket_definition_get_path_prefix (def), ==, "");
  g_assert_false (sm_socket_definition_has_tls (def));
  g_assert_null (http_request->token);
  g_assert_null (http_request->name);
  g_assert_cmpuint (http_request->proxy_protocol, ==, 0);
}

static void
test_request_encoding (void)
{
  static const guint8 expected[] = {
    0x80, 'S', 'M', 'X', 0x00, 0x00, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x0d,
    '{', '"', 'p', 'o', 'r', 't', '"', ':', '8', '0', '0', '0', '}',
  };
  g_autoptr(SmExtensionRequest) request = sm_extension_request_new (sm_socket_definition_new (8000));
  g_autoptr(GByteArray) bytes = g_byte_array_new ();

  /* appends */
  g_byte_array_append (bytes, (const guint8 *) "x", 1);
  sm_extension_encode_request (request, bytes);
  g_assert_cmpmem (bytes->data + 1, bytes->len - 1, expected, sizeof expected);
}

static void
test_request_wrong_types (void)
{
  g_autofree char *long_address = NULL;
  g_autofree char *long_token = NULL;
  g_autofree char *at_limit = NULL;
  g_autofree char *deep = NULL;
  static const char *const malformed[] = {
    /* wrong types */
    "{\"port\":\"80\"}",
    "{\"port\":80.0}",
    "{\"port\":8e1}",
    "{\"port\":true}",
    "{\"port\":null}",
    "{\"port\":[80]}",
    "{\"port\":80,\"address\":1}",
    "{\"port\":80,\"address\":null}",
    "{\"port\":80,\"http\":\"/a\"}",
    "{\"port\":80,\"http\":[]}",
    "{\"port\":80,\"http\":{\"domain_suffix\":1}}",
    "{\"port\":80,\"http\":{\"path_prefix\":{}}}",
    "{\"port\":80,\"tls\":true}",
    "{\"port\":80,\"tls\":{\"cert\":1,\"key\":\"K\"}}",
    "{\"port\":80,\"tls\":{\"cert\":\"C\",\"key\":[]}}",
    "{\"port\":80,\"token\":1}",
    "{\"port\":80,\"name\":false}",
    "{\"port\":80,\"proxy_protocol\":\"1\"}",
    "{\"port\":80,\"proxy_protocol\":1.5}",
    /* bad values */
    "{}",
    "{\"address\":\"\"}",
    "{\"port\":0}",
    "{\"port\":-1}",
    "{\"port\":65536}",
    "{\"port\":80,\"proxy_protocol\":0}",
    "{\"port\":80,\"proxy_protocol\":3}",
    "{\"port\":80,\"tls\":{\"cert\":\"C\"}}",
    "{\"port\":80,\"tls\":{}}",
    "{\"port\":80,\"port\":81}",
    "{\"port\":80,\"http\":{\"path_prefix\":\"/a\",\"path_prefix\":\"/b\"}}",
    /* not an object, not JSON, or not plain JSON */
    "[]",
    "\"port\"[]",
    "\"port\"",
    "80",
    "",
    " ",
    "{\"port\":80",
    "{\"port\":80}}",
    "{\"port\":80} {}",
    "{\"port\":80,}",
    "{'port':80}",
    "{\"port\":0x50}",
    "/* c */{\"port\":80}",
    "{\"port\":80} // c",
    "{\"port\":80,\"token\":\"a\\u0000b\"}",
    "{\"port\":80,\"a\\u0000\":1}",
    "{\"port\":80,\"name\":\"\\777\"}",
    "{\"port\":80,\"name\":\"\\x41\"}",
    "{\"port\":80,\"name\":\"\\ud800\"}",
    "{\"port\":80,\"name\":\"\\udc00\"}",
    "{\"port\":80,\"name\":\"\\ud800\\u0041\"}",
    "{\"port\":80,\"name\":\"\\udc00\\ud800\"}",
    "{\"port\":80,\"name\":\"\\ud800\\ud800\"}",
    "{\"port\":80,\"name\":\"\\ud800\"",
    "{\"port\":80,\"name\":\"\\u12\"}",
    "{\"port\":80,\"name\":\"\\uzzzz\"}",
    "{\"port\":80,\"name\":\"\\u\"}",
    "{\"port\":18446744073709551696}",
    "{\"port\":0000000000000000080}",
    "{\"port\":80,\"name\":\"\xff\"}",
    "{\"port\":80,\"name\":\"\xc3\"}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (malformed); i++)
    g_assert_cmpstr (request_error_code (malformed[i], strlen (malformed[i]), NULL), ==, "malformed");

  /* a NUL byte in the text */
  g_assert_cmpstr (request_error_code ("{\"port\":80}\0", 12, NULL), ==, "malformed");

  /* nesting: json-glib would recurse once per level */
  deep = g_strnfill (SM_EXTENSION_MAX_LENGTH, '[');
  g_assert_cmpstr (request_error_code (deep, SM_EXTENSION_MAX_LENGTH, NULL), ==, "malformed");

  /* strings over the original's limits */
  long_address = g_strdup_printf ("{\"port\":80,\"address\":\"%0*d\"}", SM_HANDSHAKE_MAX_STRING + 1, 0);
  g_assert_cmpstr (request_error_code (long_address, strlen (long_address), NULL), ==, "malformed");
  long_token = g_strdup_printf ("{\"port\":80,\"token\":\"%0*d\"}", SM_HANDSHAKE_MAX_STRING + 1, 0);
  g_assert_cmpstr (request_error_code (long_token, strlen (long_token), NULL), ==, "malformed");
  {
    g_autoptr(GByteArray) bytes = NULL;
    g_autoptr(SmExtensionRequest) request = NULL;

    at_limit = g_strdup_printf ("{\"port\":80,\"name\":\"%0*d\"}", SM_HANDSHAKE_MAX_STRING, 0);
    bytes = frame_request (at_limit, strlen (at_limit));
    request = parse_request_complete (bytes);
    g_assert_cmpuint (strlen (request->name), ==, SM_HANDSHAKE_MAX_STRING);
  }
}

static void
test_request_unknown_key (void)
{
  static const char *const unsupported[] = {
    "{\"port\":80,\"color\":\"blue\"}",
    "{\"color\":\"blue\"}",
    "{\"port\":\"80\",\"color\":1}",
    "{\"port\":80,\"http\":{\"host\":\"a\"}}",
    "{\"port\":80,\"tls\":{\"cert\":\"C\",\"key\":\"K\",\"chain\":\"X\"}}",
    "{\"port\":80,\"Port\":80}",
  };
  static const guint8 version3[] = { 0x80, 'S', 'M', 'X', 0, 0, 0, 3, 0, 0, 0, 2, '{', '}' };
  g_autoptr(GError) error = NULL;
  g_autofree char *long_key = NULL;
  SmError code = SM_ERROR_FAILED;

  for (guint i = 0; i < G_N_ELEMENTS (unsupported); i++)
    {
      g_assert_cmpstr (request_error_code (unsupported[i], strlen (unsupported[i]), &code), ==, "unsupported");
      g_assert_cmpint (code, ==, SM_ERROR_UNSUPPORTED);
    }

  /* a later version of the format */
  g_assert_cmpint (sm_extension_parse_request (version3, sizeof version3, NULL, NULL, &error),
                   ==, SM_HANDSHAKE_ERROR);
  g_assert_error (error, SM_ERROR, SM_ERROR_UNSUPPORTED);
  g_assert_cmpstr (sm_extension_error_code (error), ==, "unsupported");

  /* the key is quoted back, but not at any length */
  long_key = g_strdup_printf ("{\"port\":80,\"%0*d\":1}", 100000, 0);
  {
    g_autoptr(GByteArray) bytes = frame_request (long_key, strlen (long_key));
    g_autoptr(GError) long_error = NULL;

    g_assert_cmpint (sm_extension_parse_request (bytes->data, bytes->len, NULL, NULL, &long_error),
                     ==, SM_HANDSHAKE_ERROR);
    g_assert_error (long_error, SM_ERROR, SM_ERROR_UNSUPPORTED);
    g_assert_cmpuint (strlen (long_error->message), <, 200);
  }
}

/* The 4 length bytes alone decide: nothing of the body needs to be there */
static void
test_request_oversize (void)
{
  static const guint32 lengths[] = { SM_EXTENSION_MAX_LENGTH + 1, 0x7fffffff, 0xffffffff };
  g_autoptr(GByteArray) at_limit = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++)
    {
      g_autoptr(GByteArray) bytes = frame_request ("{\"port\":80}", 11);
      g_autoptr(GError) error = NULL;
      gsize consumed = 1;

      bytes->data[8] = lengths[i] >> 24;
      bytes->data[9] = lengths[i] >> 16;
      bytes->data[10] = lengths[i] >> 8;
      bytes->data[11] = lengths[i];
      g_assert_cmpint (sm_extension_parse_request (bytes->data, 12, &consumed, NULL, &error),
                       ==, SM_HANDSHAKE_ERROR);
      g_assert_error (error, SM_ERROR, SM_ERROR_TOO_LARGE);
      g_assert_cmpuint (consumed, ==, 0);
      g_assert_cmpstr (sm_extension_error_code (error), ==, "malformed");
      g_test_message ("%s", error->message);
    }

  /* exactly the limit waits for its bytes */
  at_limit = frame_request ("{\"port\":80}", 11);
  at_limit->data[9] = 0x10;
  at_limit->data[10] = 0x00;
  at_limit->data[11] = 0x00;
  g_assert_cmpint (sm_extension_parse_request (at_limit->data, at_limit->len, NULL, NULL, NULL),
                   ==, SM_HANDSHAKE_NEED_MORE);
}

static void
test_request_bad_magic (void)
{
  static const guint8 original[] = { 0x00, 0x00, 0x00, 0x00 };
  static const guint8 wrong[] = { 0x80, 'S', 'M', 'Y' };
  static const guint8 wrong_first[] = { 0x81 };
  static const guint8 prefix[] = { 0x80, 'S', 'M', 'X', 0, 0 };

  g_assert_cmpint (sm_extension_parse_request (original, sizeof original, NULL, NULL, NULL), ==, SM_HANDSHAKE_ERROR);
  g_assert_cmpint (sm_extension_parse_request (wrong, sizeof wrong, NULL, NULL, NULL), ==, SM_HANDSHAKE_ERROR);
  g_assert_cmpint (sm_extension_parse_request (wrong, 3, NULL, NULL, NULL), ==, SM_HANDSHAKE_NEED_MORE);
  g_assert_cmpint (sm_extension_parse_request (wrong_first, 1, NULL, NULL, NULL), ==, SM_HANDSHAKE_ERROR);
  g_assert_cmpint (sm_extension_parse_request (prefix, sizeof prefix, NULL, NULL, NULL), ==, SM_HANDSHAKE_NEED_MORE);
  g_assert_cmpint (sm_extension_parse_request (prefix, 0, NULL, NULL, NULL), ==, SM_HANDSHAKE_NEED_MORE);
}

static void
test_request_incremental (void)
{
  g_autoptr(SmExtensionRequest) request = make_full_request ();
  g_autoptr(GByteArray) bytes = encode_request (request);

  for (gsize len = 0; len < bytes->len; len++)
    {
      SmExtensionRequest *partial = NULL;
      GError *error = NULL;
      gsize consumed = 1;

      g_assert_cmpint (sm_extension_parse_request (bytes->data, len, &consumed, &partial, &error),
                       ==, SM_HANDSHAKE_NEED_MORE);
      g_assert_no_error (error);
      g_assert_null (partial);
      g_assert_cmpuint (consumed, ==, 0);
    }

  {
    g_autoptr(SmExtensionRequest) parsed = parse_request_complete (bytes);
    assert_requests_equal (request, parsed);
  }
}

static void
parse_response_complete (const GByteArray *bytes,
                         JsonObject      **out_response,
                         GError          **out_refusal)
{
  g_autoptr(GError) error = NULL;
  gsize consumed = 0;

  g_assert_cmpint (sm_extension_parse_response (bytes->data, bytes->len, &consumed, out_response,
                                                out_refusal, &error),
                   ==, SM_HANDSHAKE_COMPLETE);
  g_assert_no_error (error);
  g_assert_cmpuint (consumed, ==, bytes->len);

  /* and not before its last byte */
  for (gsize len = 0; len < bytes->len; len++)
    g_assert_cmpint (sm_extension_parse_response (bytes->data, len, &consumed, NULL, NULL, NULL),
                     ==, SM_HANDSHAKE_NEED_MORE);
}

static void
test_response_ok (void)
{
  g_autoptr(GByteArray) bytes = g_byte_array_new ();
  g_autoptr(GByteArray) with_extra = g_byte_array_new ();
  g_autoptr(JsonObject) extra = json_object_new ();
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(JsonObject) extra_response = NULL;
  g_autoptr(GError) refusal = NULL;

  sm_extension_encode_response (NULL, NULL, bytes);
  g_assert_cmpmem (bytes->data, bytes->len, "\0\0\0\017{\"status\":\"ok\"}", 19);
  parse_response_complete (bytes, &response, &refusal);
  g_assert_no_error (refusal);
  g_assert_cmpstr (json_object_get_string_member (response, "status"), ==, "ok");

  /* informational members; ours win */
  json_object_set_string_member (extra, "route", "/org/socketmaster/Route/7");
  json_object_set_string_member (extra, "status", "error");
  json_object_set_string_member (extra, "code", "limit");
  sm_extension_encode_response (NULL, extra, with_extra);
  parse_response_complete (with_extra, &extra_response, &refusal);
  g_assert_no_error (refusal);
  g_assert_cmpstr (json_object_get_string_member (extra_response, "route"), ==, "/org/socketmaster/Route/7");
  g_assert_cmpstr (json_object_get_string_member (extra_response, "status"), ==, "ok");
  g_assert_false (json_object_has_member (extra_response, "code"));
}

static void
test_response_codes (void)
{
  static const struct {
    GQuark domain;
    gint code;
    const char *wire;
  } cases[] = {
    { 0, SM_ERROR_PROTOCOL, "malformed" },
    { 0, SM_ERROR_TOO_LARGE, "malformed" },
    { 0, SM_ERROR_INVALID_ARGUMENT, "malformed" },
    { 0, SM_ERROR_ADDRESS_NOT_AVAILABLE, "malformed" },
    { 0, SM_ERROR_UNSUPPORTED, "unsupported" },
    { 0, SM_ERROR_UNAUTHORIZED, "unauthorized" },
    { 0, SM_ERROR_PERMISSION_DENIED, "permission-denied" },
    { 0, SM_ERROR_ROUTE_OWNED, "route-owned" },
    { 0, SM_ERROR_ADDRESS_IN_USE, "port-in-use" },
    { 0, SM_ERROR_CONFLICT, "mode-conflict" },
    { 0, SM_ERROR_TLS, "bad-certificate" },
    { 0, SM_ERROR_LIMIT, "limit" },
    { 0, SM_ERROR_GOING_AWAY, "limit" },
    { 0, SM_ERROR_FAILED, "limit" },
    { 0, SM_ERROR_TIMED_OUT, "limit" },
    { 0, SM_ERROR_CLOSED, "limit" },
    { 0, SM_ERROR_REJECTED, "limit" },
    { 1, G_IO_ERROR_ADDRESS_IN_USE, "port-in-use" },
    { 1, G_IO_ERROR_PERMISSION_DENIED, "permission-denied" },
    { 1, G_IO_ERROR_TOO_MANY_OPEN_FILES, "limit" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      GQuark domain = cases[i].domain == 0 ? SM_ERROR : G_IO_ERROR;
      g_autoptr(GError) sent = g_error_new (domain, cases[i].code, "refused “%u” ✓", i);
      g_autoptr(GByteArray) bytes = g_byte_array_new ();
      g_autoptr(JsonObject) response = NULL;
      g_autoptr(GError) refusal = NULL;

      g_assert_cmpstr (sm_extension_error_code (sent), ==, cases[i].wire);
      sm_extension_encode_response (sent, NULL, bytes);
      parse_response_complete (bytes, &response, &refusal);
      g_assert_nonnull (refusal);
      g_assert_true (refusal->domain == SM_ERROR);
      g_assert_cmpint (refusal->code, ==, sm_extension_error_from_code (cases[i].wire));
      g_assert_cmpstr (refusal->message, ==, sent->message);
      g_assert_cmpstr (json_object_get_string_member (response, "status"), ==, "error");
      g_assert_cmpstr (json_object_get_string_member (response, "code"), ==, cases[i].wire);
    }

  /* every code of §7 comes back as itself, to a distinct error */
  for (guint i = 0; i < G_N_ELEMENTS (wire_codes); i++)
    {
      g_autoptr(GError) error = g_error_new_literal (SM_ERROR, sm_extension_error_from_code (wire_codes[i]), "x");

      g_assert_cmpint (error->code, !=, SM_ERROR_REJECTED);
      g_assert_cmpstr (sm_extension_error_code (error), ==, wire_codes[i]);
      for (guint j = 0; j < i; j++)
        g_assert_cmpint (sm_extension_error_from_code (wire_codes[j]), !=, error->code);
    }
  g_assert_cmpint (sm_extension_error_from_code ("unauthorized"), ==, SM_ERROR_UNAUTHORIZED);
  g_assert_cmpint (sm_extension_error_from_code ("permission-denied"), ==, SM_ERROR_PERMISSION_DENIED);
  g_assert_cmpint (sm_extension_error_from_code ("out-of-coffee"), ==, SM_ERROR_REJECTED);
}

static void
test_response_refusal_text (void)
{
  g_autoptr(GByteArray) unknown = frame_response ("{\"status\":\"error\",\"code\":\"out-of-coffee\",\"message\":\"no coffee\"}");
  g_autoptr(GByteArray) no_message = frame_response ("{\"message\":7,\"code\":\"limit\",\"status\":\"error\",\"retry\":1}");
  g_autoptr(GByteArray) long_bytes = g_byte_array_new ();
  g_autoptr(GError) long_error = NULL;
  g_autoptr(GError) refusal = NULL;
  g_autoptr(GError) refusal2 = NULL;
  g_autoptr(GError) long_refusal = NULL;
  g_autofree char *long_message = NULL;
  GString *text = g_string_new (NULL);

  parse_response_complete (unknown, NULL, &refusal);
  g_assert_error (refusal, SM_ERROR, SM_ERROR_REJECTED);
  g_assert_cmpstr (refusal->message, ==, "no coffee");

  parse_response_complete (no_message, NULL, &refusal2);
  g_assert_error (refusal2, SM_ERROR, SM_ERROR_LIMIT);
  g_assert_cmpstr (refusal2->message, ==, "limit");

  /* cut at a character boundary, like an original status */
  while (text->len <= SM_HANDSHAKE_MAX_STATUS)
    g_string_append (text, "é");
  long_message = g_string_free (text, FALSE);
  long_error = g_error_new_literal (SM_ERROR, SM_ERROR_TLS, long_message);
  sm_extension_encode_response (long_error, NULL, long_bytes);
  parse_response_complete (long_bytes, NULL, &long_refusal);
  g_assert_error (long_refusal, SM_ERROR, SM_ERROR_TLS);
  g_assert_cmpuint (strlen (long_refusal->message), ==, SM_HANDSHAKE_MAX_STATUS);
  g_assert_true (g_str_has_prefix (long_message, long_refusal->message));
}

/* The note at the end of §7: a daemon without version 2 answers with an
 * original status, whose length begins with 4 zero bytes */
static void
test_response_original_daemon (void)
{
  static const char status[] = "invalid handshake: address is 9246819500274221058 bytes long, limit is 65536";
  g_autoptr(GByteArray) bytes = g_byte_array_new ();
  g_autoptr(GByteArray) ok = g_byte_array_new ();
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(GError) refusal = NULL;
  g_autoptr(GError) error = NULL;

  sm_handshake_encode_status (status, bytes);
  parse_response_complete (bytes, &response, &refusal);
  g_assert_null (response);
  g_assert_error (refusal, SM_ERROR, SM_ERROR_REJECTED);
  g_assert_cmpstr (refusal->message, ==, status);

  /* "OK" to a request it cannot have read is nonsense */
  sm_handshake_encode_status (SM_HANDSHAKE_STATUS_OK, ok);
  g_assert_cmpint (sm_extension_parse_response (ok->data, ok->len, NULL, NULL, NULL, &error),
                   ==, SM_HANDSHAKE_ERROR);
  g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
}

static void
test_response_bad (void)
{
  static const char *const bad[] = {
    "{}",
    "{\"status\":\"OK\"}",
    "{\"status\":true}",
    "{\"status\":\"error\"}",
    "{\"status\":\"error\",\"code\":1}",
    "[\"ok\"]",
    "\"addr,0.1\"[] \n{\"status\":\"ok\"}",
    "ok",
    "{\"status\":\"ok\"",
  };
  static const guint8 oversize[] = { 0x00, 0x10, 0x00, 0x01, '{' };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GByteArray) bytes = frame_response (bad[i]);
      g_autoptr(GError) error = NULL;
      GError *refusal = NULL;
      JsonObject *response = NULL;
      gsize consumed = 1;

      g_assert_cmpint (sm_extension_parse_response (bytes->data, bytes->len, &consumed, &response, &refusal, &error),
                       ==, SM_HANDSHAKE_ERROR);
      g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
      g_assert_null (refusal);
      g_assert_null (response);
      g_assert_cmpuint (consumed, ==, 0);
    }

  {
    g_autoptr(GError) error = NULL;

    g_assert_cmpint (sm_extension_parse_response (oversize, sizeof oversize, NULL, NULL, NULL, &error),
                     ==, SM_HANDSHAKE_ERROR);
    g_assert_error (error, SM_ERROR, SM_ERROR_TOO_LARGE);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/extension/is-request", test_is_request);
  g_test_add_func ("/extension/request/round-trip", test_request_round_trip);
  g_test_add_func ("/extension/request/every-field", test_request_every_field);
  g_test_add_func ("/extension/request/encoding", test_request_encoding);
  g_test_add_func ("/extension/request/wrong-types", test_request_wrong_types);
  g_test_add_func ("/extension/request/unknown-key", test_request_unknown_key);
  g_test_add_func ("/extension/request/oversize", test_request_oversize);
  g_test_add_func ("/extension/request/bad-magic", test_request_bad_magic);
  g_test_add_func ("/extension/request/incremental", test_request_incremental);
  g_test_add_func ("/extension/response/ok", test_response_ok);
  g_test_add_func ("/extension/response/codes", test_response_codes);
  g_test_add_func ("/extension/response/refusal-text", test_response_refusal_text);
  g_test_add_func ("/extension/response/original-daemon", test_response_original_daemon);
  g_test_add_func ("/extension/response/bad", test_response_bad);

  return g_test_run ();
}
