/* SPDX-License-Identifier: MIT */
/* What the proxy does around parsed heads: body framing, head rewriting,
 * canned responses and route matching. */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-test-http.h"

/* Bodies ------------------------------------------------------------------ */

static const char chunked_body[] =
  "5;ext=1\r\nhello\r\n"
  "6 ; name=\"q v\"\r\n world\r\n"
  "A\r\n0123456789\r\n"
  "0\r\nX-Trailer: yes\r\nOther:1\r\n\r\n";

static void
test_chunked_decoder (void)
{
  g_autofree char *message = g_strconcat (chunked_body, "GET /next HTTP/1.1\r\n", NULL);
  const guint8 *buf = (const guint8 *) message;
  gsize body_len = strlen (chunked_body);
  gsize len = strlen (message);
  SmHttpChunkedDecoder decoder;
  gsize consumed = 0, total = 0;
  SmHttpResult result = SM_HTTP_NEED_MORE;

  /* In one piece: the body ends exactly before the next request */
  sm_http_chunked_decoder_init (&decoder);
  g_assert_cmpint (sm_http_chunked_feed (&decoder, buf, len, &consumed, NULL), ==, SM_HTTP_COMPLETE);
  g_assert_cmpuint (consumed, ==, body_len);
  g_assert_cmpint (sm_http_chunked_feed (&decoder, buf, len, &consumed, NULL), ==, SM_HTTP_COMPLETE);
  g_assert_cmpuint (consumed, ==, 0);

  /* Byte by byte */
  sm_http_chunked_decoder_init (&decoder);
  for (total = 0; total < len && result == SM_HTTP_NEED_MORE; total += consumed)
    {
      result = sm_http_chunked_feed (&decoder, buf + total, 1, &consumed, NULL);
      g_assert_cmpuint (consumed, ==, 1);
    }
  g_assert_cmpint (result, ==, SM_HTTP_COMPLETE);
  g_assert_cmpuint (total, ==, body_len);

  /* Two pieces, split everywhere */
  for (gsize split = 0; split < body_len; split++)
    {
      sm_http_chunked_decoder_init (&decoder);
      g_assert_cmpint (sm_http_chunked_feed (&decoder, buf, split, &consumed, NULL), ==, SM_HTTP_NEED_MORE);
      g_assert_cmpuint (consumed, ==, split);
      g_assert_cmpint (sm_http_chunked_feed (&decoder, buf + split, len - split, &consumed, NULL),
                       ==, SM_HTTP_COMPLETE);
      g_assert_cmpuint (consumed, ==, body_len - split);
    }

  /* The largest size we accept: 16 hex digits, data never buffered */
  sm_http_chunked_decoder_init (&decoder);
  g_assert_cmpint (sm_http_chunked_feed (&decoder, (const guint8 *) "FFFFFFFFFFFFFFFF\r\nabc", 21,
                                         &consumed, NULL), ==, SM_HTTP_NEED_MORE);
  g_assert_cmpuint (consumed, ==, 21);
}

static void
test_chunked_malformed (void)
{
  static const struct {
    const char *input;
    int         code;
  } cases[] = {
    { "x\r\n", SM_ERROR_PROTOCOL },
    { "\r\n", SM_ERROR_PROTOCOL },
    { " 5\r\n", SM_ERROR_PROTOCOL },
    { "-5\r\n", SM_ERROR_PROTOCOL },
    { "0x5\r\n", SM_ERROR_PROTOCOL },
    { "5 x\r\n", SM_ERROR_PROTOCOL },
    { "5\n", SM_ERROR_PROTOCOL },
    { "5\rX", SM_ERROR_PROTOCOL },
    { "5;a\x01\r\n", SM_ERROR_PROTOCOL },
    { "5;a\nhello", SM_ERROR_PROTOCOL },
    { "5\r\nhelloX\r\n", SM_ERROR_PROTOCOL },
    { "5\r\nhello\n0\r\n\r\n", SM_ERROR_PROTOCOL },
    { "5\r\nhello\r\r", SM_ERROR_PROTOCOL },
    { "0\r\n bad: x\r\n\r\n", SM_ERROR_PROTOCOL },
    { "0\r\nNoColon\r\n\r\n", SM_ERROR_PROTOCOL },
    { "0\r\nBad Name: x\r\n\r\n", SM_ERROR_PROTOCOL },
    { "0\r\nX: y\n\r\n", SM_ERROR_PROTOCOL },
    { "0\r\nX: y\x01\r\n\r\n", SM_ERROR_PROTOCOL },
    { "0\r\n\n", SM_ERROR_PROTOCOL },
    { "0\r\n\rX", SM_ERROR_PROTOCOL },
    { "10000000000000000\r\n", SM_ERROR_TOO_LARGE },
    { "00000000000000005\r\n", SM_ERROR_TOO_LARGE },
  };
  g_autoptr(GString) long_extension = g_string_new ("5;");
  g_autoptr(GString) huge_trailers = g_string_new ("0\r\n");
  SmHttpChunkedDecoder decoder;
  g_autoptr(GError) error = NULL;
  gsize consumed;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) case_error = NULL;

      g_test_message ("case %u", i);
      sm_http_chunked_decoder_init (&decoder);
      g_assert_cmpint (sm_http_chunked_feed (&decoder, (const guint8 *) cases[i].input,
                                             strlen (cases[i].input), &consumed, &case_error),
                       ==, SM_HTTP_ERROR);
      g_assert_error (case_error, SM_ERROR, cases[i].code);
      g_clear_error (&case_error);
      /* A failed decoder stays failed */
      g_assert_cmpint (sm_http_chunked_feed (&decoder, (const guint8 *) "0\r\n\r\n", 5,
                                             &consumed, &case_error), ==, SM_HTTP_ERROR);
      g_assert_error (case_error, SM_ERROR, SM_ERROR_PROTOCOL);
    }

  while (long_extension->len <= SM_HTTP_MAX_CHUNK_LINE)
    g_string_append_c (long_extension, 'a');
  sm_http_chunked_decoder_init (&decoder);
  g_assert_cmpint (sm_http_chunked_feed (&decoder, (const guint8 *) long_extension->str,
                                         long_extension->len, &consumed, &error), ==, SM_HTTP_ERROR);
  g_assert_error (error, SM_ERROR, SM_ERROR_TOO_LARGE);
  g_clear_error (&error);

  while (huge_trailers->len <= SM_HTTP_MAX_TRAILERS)
    g_string_append (huge_trailers, "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
  sm_http_chunked_decoder_init (&decoder);
  g_assert_cmpint (sm_http_chunked_feed (&decoder, (const guint8 *) huge_trailers->str,
                                         huge_trailers->len, &consumed, &error), ==, SM_HTTP_ERROR);
  g_assert_error (error, SM_ERROR, SM_ERROR_TOO_LARGE);
}

static const guint8 body_bytes[] = "0123456789abcdef";

static void
test_body_tracker_length (void)
{
  SmHttpBodyTracker tracker;
  g_autoptr(GError) error = NULL;
  gsize consumed = 99;

  sm_http_body_tracker_init (&tracker, SM_HTTP_BODY_LENGTH, 10);
  g_assert_cmpint (sm_http_body_tracker_feed (&tracker, body_bytes, 4, &consumed, NULL), ==, SM_HTTP_NEED_MORE);
  g_assert_cmpuint (consumed, ==, 4);
  g_assert_false (sm_http_body_tracker_finish (&tracker, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_CLOSED);
  g_clear_error (&error);
  g_assert_cmpint (sm_http_body_tracker_feed (&tracker, body_bytes, 16, &consumed, NULL), ==, SM_HTTP_COMPLETE);
  g_assert_cmpuint (consumed, ==, 6);
  g_assert_cmpint (sm_http_body_tracker_feed (&tracker, body_bytes, 16, &consumed, NULL), ==, SM_HTTP_COMPLETE);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_true (sm_http_body_tracker_finish (&tracker, NULL));
}

static void
test_body_tracker_none (void)
{
  SmHttpBodyTracker tracker;
  gsize consumed = 99;

  sm_http_body_tracker_init (&tracker, SM_HTTP_BODY_NONE, 0);
  g_assert_cmpint (sm_http_body_tracker_feed (&tracker, body_bytes, 16, &consumed, NULL), ==, SM_HTTP_COMPLETE);
  g_assert_cmpuint (consumed, ==, 0);
}

static void
test_body_tracker_until_close (void)
{
  SmHttpBodyTracker tracker;
  gsize consumed = 99;

  sm_http_body_tracker_init (&tracker, SM_HTTP_BODY_UNTIL_CLOSE, 0);
  g_assert_cmpint (sm_http_body_tracker_feed (&tracker, body_bytes, 16, &consumed, NULL), ==, SM_HTTP_NEED_MORE);
  g_assert_cmpuint (consumed, ==, 16);
  g_assert_true (sm_http_body_tracker_finish (&tracker, NULL));
}

static void
test_body_tracker_chunked (void)
{
  static const char chunked[] = "3\r\nabc\r\n0\r\n\r\nNEXT";
  SmHttpBodyTracker tracker;
  g_autoptr(GError) error = NULL;
  gsize consumed = 99;

  sm_http_body_tracker_init (&tracker, SM_HTTP_BODY_CHUNKED, 0);
  g_assert_cmpint (sm_http_body_tracker_feed (&tracker, (const guint8 *) chunked, 5, &consumed, NULL),
                   ==, SM_HTTP_NEED_MORE);
  g_assert_false (sm_http_body_tracker_finish (&tracker, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_CLOSED);
  g_clear_error (&error);
  g_assert_cmpint (sm_http_body_tracker_feed (&tracker, (const guint8 *) chunked + 5,
                                              strlen (chunked) - 5, &consumed, NULL), ==, SM_HTTP_COMPLETE);
  g_assert_cmpuint (5 + consumed, ==, strlen (chunked) - strlen ("NEXT"));
}

static void
test_body_tracker_chunked_malformed (void)
{
  SmHttpBodyTracker tracker;
  g_autoptr(GError) error = NULL;
  gsize consumed = 99;

  sm_http_body_tracker_init (&tracker, SM_HTTP_BODY_CHUNKED, 0);
  g_assert_cmpint (sm_http_body_tracker_feed (&tracker, (const guint8 *) "zz\r\n", 4, &consumed, &error),
                   ==, SM_HTTP_ERROR);
  g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
}

/* Rewriting --------------------------------------------------------------- */

static void
test_hop_by_hop (void)
{
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);

  soup_message_headers_append (headers, "Connection", "keep-alive, X-Secret");
  soup_message_headers_append (headers, "Connection", "Upgrade");
  soup_message_headers_append (headers, "Keep-Alive", "timeout=5");
  soup_message_headers_append (headers, "X-Secret", "1");
  soup_message_headers_append (headers, "x-secret", "2");
  soup_message_headers_append (headers, "Proxy-Connection", "keep-alive");
  soup_message_headers_append (headers, "TE", "trailers");
  soup_message_headers_append (headers, "Upgrade", "websocket");
  soup_message_headers_append (headers, "Proxy-Authorization", "Basic eDp5");
  soup_message_headers_append (headers, "Proxy-Authenticate", "Basic");
  soup_message_headers_append (headers, "Transfer-Encoding", "chunked");
  soup_message_headers_append (headers, "Trailer", "X-Checksum");
  soup_message_headers_append (headers, "X-Keep", "yes");
  sm_http_strip_hop_by_hop (headers, FALSE);
  g_assert_cmpuint (sm_test_http_count_fields (headers), ==, 3);
  g_assert_cmpstr (soup_message_headers_get_one (headers, "Transfer-Encoding"), ==, "chunked");
  g_assert_cmpstr (soup_message_headers_get_one (headers, "Trailer"), ==, "X-Checksum");
  g_assert_cmpstr (soup_message_headers_get_one (headers, "X-Keep"), ==, "yes");
}

/* An upgrade keeps Upgrade and "Connection: upgrade" */
static void
test_hop_by_hop_upgrade (void)
{
  g_autoptr(SoupMessageHeaders) upgrade = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);

  soup_message_headers_append (upgrade, "Connection", "Upgrade, X-Secret");
  soup_message_headers_append (upgrade, "Upgrade", "websocket");
  soup_message_headers_append (upgrade, "X-Secret", "1");
  soup_message_headers_append (upgrade, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  sm_http_strip_hop_by_hop (upgrade, TRUE);
  g_assert_cmpuint (sm_test_http_count_fields (upgrade), ==, 3);
  g_assert_cmpstr (soup_message_headers_get_one (upgrade, "Upgrade"), ==, "websocket");
  g_assert_cmpstr (soup_message_headers_get_one (upgrade, "Connection"), ==, "upgrade");
  g_assert_nonnull (soup_message_headers_get_one (upgrade, "Sec-WebSocket-Key"));
}

/* Connection cannot name the framing fields away */
static void
test_hop_by_hop_framing (void)
{
  g_autoptr(SoupMessageHeaders) framing = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);

  soup_message_headers_append (framing, "Connection", "Content-Length, Host, Transfer-Encoding");
  soup_message_headers_append (framing, "Content-Length", "5");
  soup_message_headers_append (framing, "Host", "a");
  sm_http_strip_hop_by_hop (framing, FALSE);
  g_assert_cmpuint (sm_test_http_count_fields (framing), ==, 2);
  g_assert_cmpstr (soup_message_headers_get_one (framing, "Content-Length"), ==, "5");
}

static SmHttpRequest *
parse_request (const char *head)
{
  g_autoptr(GError) error = NULL;
  SmHttpRequest *request = NULL;

  g_assert_true (sm_http_request_parse ((const guint8 *) head, strlen (head), &request, NULL,
                                        &error));
  g_assert_no_error (error);
  return request;
}

/* The head as it goes to the service */
static char *
forwarded_head (SmHttpRequest *request)
{
  GString *out = g_string_new (NULL);

  sm_http_request_strip_h2c (request);
  sm_http_strip_hop_by_hop (request->headers, request->upgrade);
  sm_http_request_write_head (request, out);
  return g_string_free (out, FALSE);
}

/* h2c smuggling: Upgrade: h2c and HTTP2-Settings never reach a service */
static void
test_strip_h2c (void)
{
  static const struct {
    const char *fields;
    gboolean    upgrade;
    const char *forwarded; /* fields after Host */
  } cases[] = {
    /* What curl --http2 sends */
    { "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
      "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n", FALSE, "" },
    /* HTTP2-Settings not named in Connection, h2c in any case */
    { "Connection: upgrade\r\nUpgrade: H2C\r\nHTTP2-Settings: AAMAAABk\r\n"
      "http2-settings: x\r\n", FALSE, "" },
    /* Other protocols stay */
    { "Connection: Upgrade\r\nUpgrade: h2c, websocket\r\n", TRUE,
      "Upgrade: websocket\r\nConnection: upgrade\r\n" },
    { "Connection: Upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n", TRUE,
      "Upgrade: websocket\r\nConnection: upgrade\r\n" },
    { "Connection: Upgrade\r\nUpgrade: websocket\r\n", TRUE,
      "Upgrade: websocket\r\nConnection: upgrade\r\n" },
    { "Connection: Upgrade\r\nUpgrade: h2c2, foo/h2c\r\n", TRUE,
      "Upgrade: h2c2, foo/h2c\r\nConnection: upgrade\r\n" },
    /* Without the upgrade option, Upgrade goes anyway */
    { "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\nX-Keep: 1\r\n", FALSE, "X-Keep: 1\r\n" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *head = g_strdup_printf ("GET / HTTP/1.1\r\nHost: a\r\n%s\r\n",
                                               cases[i].fields);
      g_autofree char *expected = g_strdup_printf ("GET / HTTP/1.1\r\nHost: a\r\n%s\r\n",
                                                   cases[i].forwarded);
      g_autoptr(SmHttpRequest) request = parse_request (head);
      g_autofree char *forwarded = NULL;

      g_test_message ("case %u", i);
      forwarded = forwarded_head (request);
      g_assert_cmpint (request->upgrade, ==, cases[i].upgrade);
      g_assert_cmpstr (forwarded, ==, expected);
    }
}

/* Without another protocol, the upgrade option leaves Connection too */
static void
test_strip_h2c_connection (void)
{
  g_autoptr(SmHttpRequest) request =
    parse_request ("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                   "Upgrade: h2c\r\n\r\n");

  g_assert_true (request->upgrade);
  sm_http_request_strip_h2c (request);
  g_assert_false (request->upgrade);
  g_assert_null (soup_message_headers_get_one (request->headers, "Upgrade"));
  g_assert_cmpstr (soup_message_headers_get_list (request->headers, "Connection"), ==,
                   "keep-alive");
}

static void
test_forwarding_headers (void)
{
  g_autoptr(SoupMessageHeaders) v4 = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);

  soup_message_headers_append (v4, "X-Forwarded-For", "1.2.3.4");
  sm_http_add_forwarding_headers (v4, "127.0.0.1", FALSE, "example.com");
  g_assert_cmpstr (soup_message_headers_get_list (v4, "X-Forwarded-For"), ==, "1.2.3.4, 127.0.0.1");
  g_assert_cmpstr (soup_message_headers_get_one (v4, "X-Forwarded-Proto"), ==, "http");
  g_assert_cmpstr (soup_message_headers_get_one (v4, "X-Forwarded-Host"), ==, "example.com");
  g_assert_cmpstr (soup_message_headers_get_list (v4, "Forwarded"), ==,
                   "for=127.0.0.1;proto=http;host=example.com");
}

/* Client-sent proto and host are replaced; the lists keep earlier hops */
static void
test_forwarding_headers_replace (void)
{
  g_autoptr(SoupMessageHeaders) v6 = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);

  soup_message_headers_append (v6, "X-Forwarded-For", "10.0.0.1");
  soup_message_headers_append (v6, "X-Forwarded-For", "10.0.0.2");
  soup_message_headers_append (v6, "X-Forwarded-Proto", "gopher");
  soup_message_headers_append (v6, "X-Forwarded-Host", "evil.example");
  soup_message_headers_append (v6, "Forwarded", "for=192.0.2.1");
  sm_http_add_forwarding_headers (v6, "2001:db8::1", TRUE, NULL);
  g_assert_cmpstr (soup_message_headers_get_list (v6, "X-Forwarded-For"), ==,
                   "10.0.0.1, 10.0.0.2, 2001:db8::1");
  g_assert_cmpstr (soup_message_headers_get_list (v6, "X-Forwarded-Proto"), ==, "https");
  g_assert_null (soup_message_headers_get_one (v6, "X-Forwarded-Host"));
  g_assert_cmpstr (soup_message_headers_get_list (v6, "Forwarded"), ==,
                   "for=192.0.2.1, for=\"[2001:db8::1]\";proto=https");
}

static void
test_forwarding_headers_quoting (void)
{
  g_autoptr(SoupMessageHeaders) quoting = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);

  sm_http_add_forwarding_headers (quoting, "192.0.2.7", TRUE, "a\"b\\c:8443");
  g_assert_cmpstr (soup_message_headers_get_list (quoting, "Forwarded"), ==,
                   "for=192.0.2.7;proto=https;host=\"a\\\"b\\\\c:8443\"");
}

static void
test_error_response_extra_fields (void)
{
  g_autoptr(SoupMessageHeaders) extra = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  g_autoptr(GString) out = g_string_new ("previous bytes");
  g_autoptr(SmHttpResponse) unavailable = NULL;
  gsize start = out->len, head_len;
  const char *body;

  soup_message_headers_append (extra, "Retry-After", "30");
  head_len = sm_http_write_error_response (503, NULL, TRUE, extra, out);
  unavailable = sm_test_http_parse_response (out->str + start, head_len, "GET");
  body = out->str + start + head_len;
  g_assert_cmpuint (unavailable->status, ==, 503);
  g_assert_cmpstr (unavailable->reason, ==, "Service Unavailable");
  g_assert_false (unavailable->keep_alive);
  g_assert_cmpstr (soup_message_headers_get_one (unavailable->headers, "Retry-After"), ==, "30");
  g_assert_cmpstr (soup_message_headers_get_one (unavailable->headers, "Content-Type"), ==,
                   "text/plain; charset=utf-8");
  g_assert_cmpstr (body, ==, "503 Service Unavailable\n");
  g_assert_cmpuint (unavailable->content_length, ==, strlen (body));
  g_assert_true (g_str_has_suffix (out->str + start, "\r\n\r\n503 Service Unavailable\n"));
}

/* With a message of our own, keeping the connection */
static void
test_error_response_message (void)
{
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(SmHttpResponse) not_found = NULL;
  gsize head_len;

  head_len = sm_http_write_error_response (404, "No service for example.com", FALSE, NULL, out);
  g_assert_cmpuint (head_len, <, out->len);
  not_found = sm_test_http_parse_response (out->str, head_len, "GET");
  g_assert_cmpuint (not_found->status, ==, 404);
  g_assert_true (not_found->keep_alive);
  g_assert_cmpint (not_found->body, ==, SM_HTTP_BODY_LENGTH);
  g_assert_cmpstr (out->str + head_len, ==, "No service for example.com\n");
  g_assert_cmpuint (not_found->content_length, ==, out->len - head_len);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/http/body/chunked", test_chunked_decoder);
  g_test_add_func ("/http/body/chunked-malformed", test_chunked_malformed);
  g_test_add_func ("/http/body/tracker-length", test_body_tracker_length);
  g_test_add_func ("/http/body/tracker-none", test_body_tracker_none);
  g_test_add_func ("/http/body/tracker-until-close", test_body_tracker_until_close);
  g_test_add_func ("/http/body/tracker-chunked", test_body_tracker_chunked);
  g_test_add_func ("/http/body/tracker-chunked-malformed", test_body_tracker_chunked_malformed);
  g_test_add_func ("/http/rewrite/hop-by-hop", test_hop_by_hop);
  g_test_add_func ("/http/rewrite/hop-by-hop-upgrade", test_hop_by_hop_upgrade);
  g_test_add_func ("/http/rewrite/hop-by-hop-framing", test_hop_by_hop_framing);
  g_test_add_func ("/http/rewrite/strip-h2c", test_strip_h2c);
  g_test_add_func ("/http/rewrite/strip-h2c-connection", test_strip_h2c_connection);
  g_test_add_func ("/http/rewrite/forwarding", test_forwarding_headers);
  g_test_add_func ("/http/rewrite/forwarding-replace", test_forwarding_headers_replace);
  g_test_add_func ("/http/rewrite/forwarding-quoting", test_forwarding_headers_quoting);
  g_test_add_func ("/http/rewrite/error-response", test_error_response_extra_fields);
  g_test_add_func ("/http/rewrite/error-response-message", test_error_response_message);

  return g_test_run ();
}
