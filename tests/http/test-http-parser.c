/* SPDX-License-Identifier: MIT */
/* Head detection, request and response parsing, head serialisation. */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-test-http.h"

#define HEAD_LIMIT (64 * 1024)

static SmHttpRequest *
parse_request (const char *head)
{
  g_autoptr(GError) error = NULL;
  SmHttpRequest *request = NULL;
  guint status = 0;
  gboolean ok;

  ok = sm_http_request_parse ((const guint8 *) head, strlen (head), &request, &status, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (request);
  return request;
}

static void
assert_request_fails_len (const char *head,
                          gsize       len,
                          guint       expected_status,
                          int         expected_code)
{
  g_autoptr(GError) error = NULL;
  SmHttpRequest *request = NULL;
  guint status = 0;

  g_test_message ("expecting %u for: %s", expected_status, head);
  g_assert_false (sm_http_request_parse ((const guint8 *) head, len, &request, &status, &error));
  g_assert_error (error, SM_ERROR, expected_code);
  g_assert_cmpuint (status, ==, expected_status);
  g_assert_null (request);
}

static void
assert_request_fails (const char *head,
                      guint       expected_status,
                      int         expected_code)
{
  assert_request_fails_len (head, strlen (head), expected_status, expected_code);
}

/* Head detection ---------------------------------------------------------- */

static void
check_head_at_every_split (const char *message,
                           gsize       expected_head_len)
{
  const guint8 *buf = (const guint8 *) message;
  gsize len = strlen (message);

  for (gsize split = 0; split <= len; split++)
    {
      SmHttpHeadScanner scanner;
      SmHttpResult result;
      gsize head_len = 0;

      /* Resumed scanning: a prefix first, then the whole message */
      sm_http_head_scanner_init (&scanner);
      result = sm_http_find_head_end (&scanner, buf, split, HEAD_LIMIT, &head_len, NULL);
      g_assert_cmpint (result, ==, split < expected_head_len ? SM_HTTP_NEED_MORE : SM_HTTP_COMPLETE);
      if (result == SM_HTTP_COMPLETE)
        g_assert_cmpuint (head_len, ==, expected_head_len);
      head_len = 0;
      result = sm_http_find_head_end (&scanner, buf, len, HEAD_LIMIT, &head_len, NULL);
      g_assert_cmpint (result, ==, SM_HTTP_COMPLETE);
      g_assert_cmpuint (head_len, ==, expected_head_len);

      /* One-shot scanning of the same prefix */
      result = sm_http_find_head_end (NULL, buf, split, HEAD_LIMIT, &head_len, NULL);
      g_assert_cmpint (result, ==, split < expected_head_len ? SM_HTTP_NEED_MORE : SM_HTTP_COMPLETE);
    }
}

static void
test_head_split_points (void)
{
  static const char crlf[] = "GET /a HTTP/1.1\r\nHost: x\r\nX-Y: z\r\n\r\n";
  static const char bare_lf[] = "GET /a HTTP/1.1\nHost: x\nX-Y: z\n\n";
  static const char leading[] = "\r\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
  g_autofree char *with_body = g_strconcat (crlf, "BODY\r\n\r\nMORE", NULL);

  check_head_at_every_split (crlf, strlen (crlf));
  check_head_at_every_split (bare_lf, strlen (bare_lf));
  check_head_at_every_split (leading, strlen (leading));
  /* Bytes after the head (body, next request) are never part of it */
  check_head_at_every_split (with_body, strlen (crlf));
}

static void
test_head_limit (void)
{
  static const char head[] = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
  const guint8 *buf = (const guint8 *) head;
  gsize len = strlen (head), head_len = 0;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *endless = g_malloc (4096);
  SmHttpHeadScanner scanner;
  SmHttpResult result = SM_HTTP_NEED_MORE;
  gsize fed;

  g_assert_cmpint (sm_http_find_head_end (NULL, buf, len, len, &head_len, NULL), ==, SM_HTTP_COMPLETE);
  g_assert_cmpuint (head_len, ==, len);
  g_assert_cmpint (sm_http_find_head_end (NULL, buf, len - 2, len - 1, &head_len, NULL), ==, SM_HTTP_NEED_MORE);
  g_assert_cmpint (sm_http_find_head_end (NULL, buf, len, len - 1, &head_len, &error), ==, SM_HTTP_ERROR);
  g_assert_error (error, SM_ERROR, SM_ERROR_TOO_LARGE);
  g_clear_error (&error);

  /* A line that never ends, arriving in pieces, fails once at the limit */
  memset (endless, 'a', 4096);
  sm_http_head_scanner_init (&scanner);
  for (fed = 100; fed <= 4096 && result == SM_HTTP_NEED_MORE; fed += 100)
    result = sm_http_find_head_end (&scanner, endless, fed, 1000, &head_len, &error);
  g_assert_cmpint (result, ==, SM_HTTP_ERROR);
  g_assert_error (error, SM_ERROR, SM_ERROR_TOO_LARGE);
  g_assert_cmpuint (fed - 100, ==, 1000);
}

/* Every byte of a long field line is looked at, wherever it falls in the
 * scanner's eight-byte steps: control bytes and DEL are refused, tab and
 * obs-text (0x80-0xff) pass */
static void
test_head_every_byte (void)
{
  static const char prefix[] = "GET / HTTP/1.1\r\nHost: x\r\nX-Long: ";
  static const char suffix[] = "\r\n\r\n";
  static const guint8 refused[] = { 0x00, 0x01, 0x0b, 0x1f, 0x7f };
  static const guint8 allowed[] = { '\t', ' ', 0x7e, 0x80, 0xff };
  const gsize value_len = 40;

  for (gsize at = 0; at < value_len; at++)
    {
      for (guint k = 0; k < G_N_ELEMENTS (refused) + G_N_ELEMENTS (allowed); k++)
        {
          gboolean ok = k >= G_N_ELEMENTS (refused);
          guint8 byte = ok ? allowed[k - G_N_ELEMENTS (refused)] : refused[k];
          g_autoptr (GByteArray) head = g_byte_array_new ();
          g_autoptr (GError) error = NULL;
          gsize head_len = 0;

          g_byte_array_append (head, (const guint8 *) prefix, sizeof prefix - 1);
          for (gsize j = 0; j < value_len; j++)
            {
              guint8 c = j == at ? byte : (guint8) ('a' + j % 26);

              g_byte_array_append (head, &c, 1);
            }
          g_byte_array_append (head, (const guint8 *) suffix, sizeof suffix - 1);

          if (ok)
            {
              g_assert_cmpint (sm_http_find_head_end (NULL, head->data, head->len, HEAD_LIMIT,
                                                      &head_len, &error), ==, SM_HTTP_COMPLETE);
              g_assert_no_error (error);
              g_assert_cmpuint (head_len, ==, head->len);
            }
          else
            {
              g_assert_cmpint (sm_http_find_head_end (NULL, head->data, head->len, HEAD_LIMIT,
                                                      &head_len, &error), ==, SM_HTTP_ERROR);
              g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
              /* It names the offending byte */
              g_assert_nonnull (strstr (error->message, "control character"));
            }
        }
    }
}

static void
test_head_invalid (void)
{
  static const struct {
    const char *bytes;
    gsize       len;
  } cases[] = {
#define CASE(s) { s, sizeof (s) - 1 }
    CASE ("GET / HT\0TP/1.1\r\nHost: x\r\n\r\n"),
    CASE ("GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n"),
    CASE ("GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n"),
    CASE ("GET / HTTP/1.1\r\n\tX-Folded: a\r\nHost: x\r\n\r\n"),
    CASE ("GET / HTTP/1.1\r\n Host: x\r\n\r\n"),
    CASE ("GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n"),
    CASE ("GET / HTTP/1.1\r\nHost: x\r\n\rX"),
    CASE ("\rGET / HTTP/1.1\r\n\r\n"),
    CASE ("GET / HTTP/1.1\r\nHost: x\x01y\r\n\r\n"),
    CASE ("GET / HTTP/1.1\r\nHost: x\x7f\r\n\r\n"),
#undef CASE
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const guint8 *buf = (const guint8 *) cases[i].bytes;
      SmHttpHeadScanner scanner;
      gsize head_len = 0;

      g_test_message ("case %u", i);
      sm_http_head_scanner_init (&scanner);
      for (guint attempt = 0; attempt < 2; attempt++)
        {
          g_autoptr(GError) error = NULL;

          /* Calling again after the error gives the same error */
          g_assert_cmpint (sm_http_find_head_end (&scanner, buf, cases[i].len, HEAD_LIMIT,
                                                  &head_len, &error), ==, SM_HTTP_ERROR);
          g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
        }
      assert_request_fails_len (cases[i].bytes, cases[i].len, 400, SM_ERROR_PROTOCOL);
    }
}

/* Requests ---------------------------------------------------------------- */

static void
test_request_basic (void)
{
  g_autoptr(SmHttpRequest) request =
    parse_request ("GET /search/results?q=a%20b&x=1 HTTP/1.1\r\n"
                   "Host: www.Example.com\r\n"
                   "User-Agent: test\r\n"
                   "X-Custom:   spaced value  \r\n"
                   "\r\n");

  g_assert_cmpstr (request->method, ==, "GET");
  g_assert_cmpstr (request->target, ==, "/search/results?q=a%20b&x=1");
  g_assert_cmpstr (request->forward_target, ==, request->target);
  g_assert_cmpstr (request->path, ==, "/search/results");
  g_assert_cmpstr (request->host, ==, "www.example.com");
  g_assert_cmpint (request->version, ==, SOUP_HTTP_1_1);
  g_assert_cmpint (request->body, ==, SM_HTTP_BODY_NONE);
  g_assert_true (request->keep_alive);
  g_assert_false (request->expect_continue);
  g_assert_false (request->upgrade);
  g_assert_cmpstr (soup_message_headers_get_one (request->headers, "x-custom"), ==, "spaced value");
  g_assert_cmpuint (sm_test_http_count_fields (request->headers), ==, 3);
}

static void
test_request_line (void)
{
  static const struct {
    const char *head;
    guint       status;
    int         code;
  } failures[] = {
    { "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, SM_ERROR_PROTOCOL },
    { "GET / http/1.1\r\nHost: a\r\n\r\n", 400, SM_ERROR_PROTOCOL },
    { "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, SM_ERROR_PROTOCOL },
    { "GET /\tx HTTP/1.1\r\nHost: a\r\n\r\n", 400, SM_ERROR_PROTOCOL },
    { "GET / HTTP/1\r\nHost: a\r\n\r\n", 400, SM_ERROR_PROTOCOL },
    { "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, SM_ERROR_PROTOCOL },
    { "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, SM_ERROR_PROTOCOL },
    { "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, SM_ERROR_PROTOCOL },
    { "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400, SM_ERROR_PROTOCOL },
    { "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, SM_ERROR_PROTOCOL },
    { "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, SM_ERROR_INVALID_ARGUMENT },
    { "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, SM_ERROR_INVALID_ARGUMENT },
    { "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, SM_ERROR_INVALID_ARGUMENT },
    { "CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\n\r\n", 501, SM_ERROR_INVALID_ARGUMENT },
    { "PUT / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 417, SM_ERROR_INVALID_ARGUMENT },
  };
  g_autoptr(SmHttpRequest) options = NULL;
  g_autoptr(SmHttpRequest) leading = NULL;
  g_autoptr(SmHttpRequest) bare_lf = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (failures); i++)
    assert_request_fails (failures[i].head, failures[i].status, failures[i].code);

  options = parse_request ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
  g_assert_cmpstr (options->forward_target, ==, "*");
  g_assert_cmpstr (options->path, ==, "*");

  leading = parse_request ("\r\n\r\nDELETE /x HTTP/1.1\r\nHost: a\r\n\r\n");
  g_assert_cmpstr (leading->method, ==, "DELETE");

  bare_lf = parse_request ("GET /lf HTTP/1.1\nHost: a\nX-A: b\n\n");
  g_assert_cmpstr (bare_lf->path, ==, "/lf");
  g_assert_cmpstr (soup_message_headers_get_one (bare_lf->headers, "X-A"), ==, "b");
}

static void
test_request_absolute_form (void)
{
  static const char * const invalid[] = {
    "GET http://user@a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n",
    "GET http:///x HTTP/1.1\r\nHost: a.com\r\n\r\n",
    "GET http://:80/x HTTP/1.1\r\nHost: a.com\r\n\r\n",
    "GET ftp://a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n",
    "GET http://a b/ HTTP/1.1\r\nHost: a.com\r\n\r\n",
    "GET http://a.com:99999/ HTTP/1.1\r\nHost: a.com\r\n\r\n",
    /* HTTP/1.1 requires Host even with an absolute-form target */
    "GET http://a.com/ HTTP/1.1\r\n\r\n",
  };
  g_autoptr(SmHttpRequest) request = NULL;
  g_autoptr(SmHttpRequest) no_path = NULL;
  g_autoptr(SmHttpRequest) query_only = NULL;

  request = parse_request ("GET HTTP://Example.COM:8080/p/q?x=1 HTTP/1.1\r\n"
                           "Host: other.org\r\n\r\n");
  g_assert_cmpstr (request->target, ==, "HTTP://Example.COM:8080/p/q?x=1");
  g_assert_cmpstr (request->forward_target, ==, "/p/q?x=1");
  g_assert_cmpstr (request->path, ==, "/p/q");
  g_assert_cmpstr (request->host, ==, "example.com");
  g_assert_cmpstr (soup_message_headers_get_one (request->headers, "Host"), ==, "Example.COM:8080");
  g_assert_cmpuint (sm_test_http_count_fields (request->headers), ==, 1);

  no_path = parse_request ("GET https://a.b HTTP/1.1\r\nHost: a.b\r\n\r\n");
  g_assert_cmpstr (no_path->forward_target, ==, "/");
  g_assert_cmpstr (no_path->path, ==, "/");

  query_only = parse_request ("GET http://a.b?x=1 HTTP/1.1\r\nHost: a.b\r\n\r\n");
  g_assert_cmpstr (query_only->forward_target, ==, "/?x=1");
  g_assert_cmpstr (query_only->path, ==, "/");

  for (guint i = 0; i < G_N_ELEMENTS (invalid); i++)
    assert_request_fails (invalid[i], 400, SM_ERROR_PROTOCOL);
}

static void
test_request_host (void)
{
  static const struct {
    const char *value;
    const char *host;
  } valid[] = {
    { "example.com", "example.com" },
    { "example.com:8080", "example.com" },
    { "EXAMPLE.Com", "example.com" },
    { "example.com.", "example.com" },
    { "[::1]:8080", "::1" },
    { "[2001:DB8::1]", "2001:db8::1" },
    { "127.0.0.1:80", "127.0.0.1" },
    { "", "" },
  };
  static const char * const invalid[] = {
    "exa mple.com", "a.com:99999", "a.com:80x", "a.com:123456", "[::1", "[::1]x",
    "[zz]", "a,b.com", "user@a.com", "a.com:1:2", ":80", "a/b",
  };
  g_autoptr(SmHttpRequest) http10 = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (valid); i++)
    {
      g_autofree char *head = g_strdup_printf ("GET / HTTP/1.1\r\nHost: %s\r\n\r\n", valid[i].value);
      g_autoptr(SmHttpRequest) request = parse_request (head);

      g_assert_cmpstr (request->host, ==, valid[i].host);
      /* The field itself is forwarded untouched */
      g_assert_cmpstr (soup_message_headers_get_one (request->headers, "Host"), ==, valid[i].value);
    }
  for (guint i = 0; i < G_N_ELEMENTS (invalid); i++)
    {
      g_autofree char *head = g_strdup_printf ("GET / HTTP/1.1\r\nHost: %s\r\n\r\n", invalid[i]);
      assert_request_fails (head, 400, SM_ERROR_PROTOCOL);
    }

  assert_request_fails ("GET / HTTP/1.1\r\n\r\n", 400, SM_ERROR_PROTOCOL);
  assert_request_fails ("GET / HTTP/1.1\r\nHost: a.com\r\nHost: a.com\r\n\r\n", 400, SM_ERROR_PROTOCOL);
  assert_request_fails ("GET / HTTP/1.1\r\nHost: a.com\r\nHOST: b.com\r\n\r\n", 400, SM_ERROR_PROTOCOL);

  http10 = parse_request ("GET / HTTP/1.0\r\n\r\n");
  g_assert_cmpstr (http10->host, ==, "");
  g_assert_cmpint (http10->version, ==, SOUP_HTTP_1_0);
}

static void
test_request_keep_alive (void)
{
  static const struct {
    const char *version;
    const char *connection;
    gboolean    keep_alive;
  } cases[] = {
    { "1.1", NULL, TRUE },
    { "1.1", "close", FALSE },
    { "1.1", "keep-alive", TRUE },
    { "1.1", "Keep-Alive, Close", FALSE },
    { "1.0", NULL, FALSE },
    { "1.0", "keep-alive", TRUE },
    { "1.0", "Keep-Alive", TRUE },
    { "1.0", "close", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *head =
        g_strdup_printf ("GET / HTTP/%s\r\nHost: a\r\n%s%s%s\r\n", cases[i].version,
                         cases[i].connection ? "Connection: " : "",
                         cases[i].connection ? cases[i].connection : "",
                         cases[i].connection ? "\r\n" : "");
      g_autoptr(SmHttpRequest) request = parse_request (head);

      g_test_message ("case %u", i);
      g_assert_cmpint (request->keep_alive, ==, cases[i].keep_alive);
    }
}

static void
test_request_framing (void)
{
  static const struct {
    const char    *fields;
    SmHttpBodyKind body;
    guint64        content_length;
  } cases[] = {
    { "", SM_HTTP_BODY_NONE, 0 },
    { "Content-Length: 5\r\n", SM_HTTP_BODY_LENGTH, 5 },
    { "Content-Length: 007\r\n", SM_HTTP_BODY_LENGTH, 7 },
    { "Content-Length: 0\r\n", SM_HTTP_BODY_NONE, 0 },
    { "Content-Length: 9223372036854775807\r\n", SM_HTTP_BODY_LENGTH, G_MAXINT64 },
    { "Transfer-Encoding: chunked\r\n", SM_HTTP_BODY_CHUNKED, 0 },
    { "Transfer-Encoding: CHUNKED\r\n", SM_HTTP_BODY_CHUNKED, 0 },
    { "Transfer-Encoding:  chunked \r\n", SM_HTTP_BODY_CHUNKED, 0 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *head = g_strdup_printf ("POST /up HTTP/1.1\r\nHost: a\r\n%s\r\n", cases[i].fields);
      g_autoptr(SmHttpRequest) request = parse_request (head);

      g_test_message ("case %u", i);
      g_assert_cmpint (request->body, ==, cases[i].body);
      g_assert_cmpuint (request->content_length, ==, cases[i].content_length);
    }
}

/* "POST /" with each of @fields fails with @expected_status */
static void
assert_posts_fail (const char * const *fields,
                   guint               n_fields,
                   guint               expected_status,
                   int                 expected_code)
{
  for (guint i = 0; i < n_fields; i++)
    {
      g_autofree char *head = g_strdup_printf ("POST / HTTP/1.1\r\nHost: a\r\n%s\r\n", fields[i]);
      assert_request_fails (head, expected_status, expected_code);
    }
}

static void
test_request_smuggling (void)
{
  static const char * const fields[] = {
    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    "Content-Length: 5\r\nContent-Length: 6\r\n",
    "Content-Length: 5\r\nContent-Length: 5\r\n",
    "Content-Length: 5, 5\r\n",
    "Content-Length: +5\r\n",
    "Content-Length: -1\r\n",
    "Content-Length: 5a\r\n",
    "Content-Length: 0x5\r\n",
    "Content-Length: 1 2\r\n",
    "Content-Length:\r\n",
    "Content-Length: 9223372036854775808\r\n",
    "Content-Length: 18446744073709551616\r\n",
    "Transfer-Encoding: \"chunked\"\r\n",
    "Transfer-Encoding: gz(ip), chunked\r\n",
    "Transfer-Encoding:\r\n",
    "Content-Length : 5\r\n",
    "Transfer-Encoding : chunked\r\n",
    "Content-Length\t: 5\r\n",
    " Content-Length: 5\r\n",
    "Content-Length 5\r\n",
    ": 5\r\n",
    "Fo(o: bar\r\n",
    "Connection: content-length\r\nContent-Length: 5\r\n",
    "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n",
    "Connection: close, host\r\n",
  };

  assert_posts_fail (fields, G_N_ELEMENTS (fields), 400, SM_ERROR_PROTOCOL);

  /* RFC 9112 §6.1: HTTP/1.0 has no chunked coding, so its framing is faulty */
  assert_request_fails ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                        400, SM_ERROR_PROTOCOL);
  assert_request_fails ("POST / HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                        400, SM_ERROR_PROTOCOL);
}

/* As nginx: any coding but chunked alone is answered 501, never forwarded,
 * so that no service decodes a body other than we framed it */
static void
test_request_transfer_codings (void)
{
  static const char * const fields[] = {
    "Transfer-Encoding: gzip, chunked\r\n",
    "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
    "Transfer-Encoding: identity, chunked\r\n",
    "Transfer-Encoding: chunked, gzip\r\n",
    "Transfer-Encoding: chunked, chunked\r\n",
    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    "Transfer-Encoding: gzip\r\n",
    "Transfer-Encoding: identity\r\n",
    "Transfer-Encoding: xchunked\r\n",
    "Transfer-Encoding: foo;q=1, chunked\r\n",
    "Transfer-Encoding: chunked;ext=1\r\n",
  };

  assert_posts_fail (fields, G_N_ELEMENTS (fields), 501, SM_ERROR_INVALID_ARGUMENT);
}

static void
test_request_expect_upgrade (void)
{
  g_autoptr(SmHttpRequest) expect = NULL;
  g_autoptr(SmHttpRequest) expect10 = NULL;
  g_autoptr(SmHttpRequest) websocket = NULL;
  g_autoptr(SmHttpRequest) no_option = NULL;
  g_autoptr(SmHttpRequest) upgrade10 = NULL;

  expect = parse_request ("PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n"
                          "Expect: 100-Continue\r\n\r\n");
  g_assert_true (expect->expect_continue);

  expect10 = parse_request ("PUT /f HTTP/1.0\r\nContent-Length: 10\r\n"
                            "Expect: 100-continue\r\n\r\n");
  g_assert_false (expect10->expect_continue);

  websocket = parse_request ("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                             "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n");
  g_assert_true (websocket->upgrade);
  g_assert_true (websocket->keep_alive);

  no_option = parse_request ("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
  g_assert_false (no_option->upgrade);

  upgrade10 = parse_request ("GET /ws HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  g_assert_false (upgrade10->upgrade);
}

/* Responses --------------------------------------------------------------- */

static void
test_response_framing (void)
{
  static const struct {
    const char    *method;
    const char    *head;
    SmHttpBodyKind body;
    guint64        content_length;
    gboolean       keep_alive;
    gboolean       informational;
    gboolean       tunnel;
  } cases[] = {
    { "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", SM_HTTP_BODY_LENGTH, 5, TRUE, FALSE, FALSE },
    { NULL, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", SM_HTTP_BODY_NONE, 0, TRUE, FALSE, FALSE },
    { "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", SM_HTTP_BODY_NONE, 5, TRUE, FALSE, FALSE },
    { "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", SM_HTTP_BODY_NONE, 0, TRUE, FALSE, FALSE },
    { "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", SM_HTTP_BODY_NONE, 5, TRUE, FALSE, FALSE },
    { "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", SM_HTTP_BODY_NONE, 100, TRUE, FALSE, FALSE },
    { "GET", "HTTP/1.1 100 Continue\r\n\r\n", SM_HTTP_BODY_NONE, 0, TRUE, TRUE, FALSE },
    { "GET", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n", SM_HTTP_BODY_NONE, 0, TRUE, TRUE, FALSE },
    { "GET", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
      SM_HTTP_BODY_NONE, 0, FALSE, FALSE, TRUE },
    { "CONNECT", "HTTP/1.1 200 Connection established\r\n\r\n", SM_HTTP_BODY_NONE, 0, FALSE, FALSE, TRUE },
    { "CONNECT", "HTTP/1.1 407 Auth\r\nContent-Length: 0\r\n\r\n", SM_HTTP_BODY_NONE, 0, TRUE, FALSE, FALSE },
    { "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", SM_HTTP_BODY_CHUNKED, 0, TRUE, FALSE, FALSE },
    { "GET", "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      SM_HTTP_BODY_CHUNKED, 0, TRUE, FALSE, FALSE },
    { "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", SM_HTTP_BODY_UNTIL_CLOSE, 0, FALSE, FALSE, FALSE },
    { "GET", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", SM_HTTP_BODY_UNTIL_CLOSE, 0, FALSE, FALSE, FALSE },
    { "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", SM_HTTP_BODY_LENGTH, 1, FALSE, FALSE, FALSE },
    { "GET", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", SM_HTTP_BODY_LENGTH, 1, FALSE, FALSE, FALSE },
    { "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", SM_HTTP_BODY_LENGTH, 1, TRUE, FALSE, FALSE },
    { "GET", "\r\nHTTP/1.1 200\r\nContent-Length: 2\r\n\r\n", SM_HTTP_BODY_LENGTH, 2, TRUE, FALSE, FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SmHttpResponse) response =
        sm_test_http_parse_response (cases[i].head, -1, cases[i].method);

      g_test_message ("case %u", i);
      g_assert_cmpint (response->body, ==, cases[i].body);
      g_assert_cmpuint (response->content_length, ==, cases[i].content_length);
      g_assert_cmpint (response->keep_alive, ==, cases[i].keep_alive);
      g_assert_cmpint (response->informational, ==, cases[i].informational);
      g_assert_cmpint (response->tunnel, ==, cases[i].tunnel);
      g_assert_cmpint (response->switching_protocols, ==, response->status == 101);
      /* Chunked wins, and the stale length must not be forwarded */
      if (response->body == SM_HTTP_BODY_CHUNKED)
        g_assert_null (soup_message_headers_get_one (response->headers, "Content-Length"));
    }
}

static void
test_response_invalid (void)
{
  static const char * const heads[] = {
    "HTTP/1.1 600 Too High\r\n\r\n",
    "HTTP/1.1 099 Too Low\r\n\r\n",
    "HTTP/1.1 20 OK\r\n\r\n",
    "HTTP/1.1 2000 OK\r\n\r\n",
    "HTTP/1.1  200 OK\r\n\r\n",
    "HTTP/2 200 OK\r\n\r\n",
    "HTTP/2.0 200 OK\r\n\r\n",
    "ICY 200 OK\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
    "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    "HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
    "HTTP/1.1 200 OK\r\n",
  };

  for (guint i = 0; i < G_N_ELEMENTS (heads); i++)
    {
      g_autoptr(GError) error = NULL;
      SmHttpResponse *response = NULL;

      g_test_message ("case %u: %s", i, heads[i]);
      g_assert_false (sm_http_response_parse ((const guint8 *) heads[i], strlen (heads[i]), "GET",
                                              &response, &error));
      g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
      g_assert_null (response);
    }
}

/* Writing heads ---------------------------------------------------------- */

static void
assert_one_head (const GString *text,
                 gsize          expected_len)
{
  gsize head_len = 0;

  g_assert_cmpint (sm_http_find_head_end (NULL, (const guint8 *) text->str, text->len, HEAD_LIMIT,
                                          &head_len, NULL), ==, SM_HTTP_COMPLETE);
  g_assert_cmpuint (head_len, ==, expected_len);
}

static void
test_write_head_request (void)
{
  g_autoptr(SmHttpRequest) request = NULL;
  g_autoptr(SmHttpRequest) again = NULL;
  g_autoptr(GString) out = g_string_new (NULL);

  request = parse_request ("POST http://Example.com/api?x=1 HTTP/1.1\r\n"
                           "Host: ignored.org\r\nContent-Length: 3\r\nConnection: X-Hop\r\n"
                           "X-Hop: 1\r\nX-A: 1\r\nX-A: 2\r\n\r\n");
  sm_http_strip_hop_by_hop (request->headers, FALSE);
  sm_http_add_forwarding_headers (request->headers, "192.0.2.9", FALSE, "Example.com");
  sm_http_request_write_head (request, out);
  g_assert_true (g_str_has_prefix (out->str, "POST /api?x=1 HTTP/1.1\r\n"));
  g_assert_true (g_str_has_suffix (out->str, "\r\n\r\n"));
  assert_one_head (out, out->len);

  again = parse_request (out->str);
  g_assert_cmpstr (again->method, ==, "POST");
  g_assert_cmpstr (again->target, ==, "/api?x=1");
  g_assert_cmpstr (again->host, ==, "example.com");
  g_assert_cmpstr (soup_message_headers_get_one (again->headers, "Host"), ==, "Example.com");
  g_assert_cmpint (again->body, ==, SM_HTTP_BODY_LENGTH);
  g_assert_cmpuint (again->content_length, ==, 3);
  g_assert_cmpstr (soup_message_headers_get_list (again->headers, "X-A"), ==, "1, 2");
  g_assert_null (soup_message_headers_get_one (again->headers, "X-Hop"));
  g_assert_null (soup_message_headers_get_one (again->headers, "Connection"));
  g_assert_cmpstr (soup_message_headers_get_one (again->headers, "X-Forwarded-For"), ==, "192.0.2.9");
  g_assert_cmpuint (sm_test_http_count_fields (again->headers), ==,
                    sm_test_http_count_fields (request->headers));
}

/* An HTTP/1.0 request goes on as HTTP/1.0 */
static void
test_write_head_request_http10 (void)
{
  g_autoptr(SmHttpRequest) http10 = NULL;
  g_autoptr(GString) out = g_string_new (NULL);

  http10 = parse_request ("GET /old HTTP/1.0\r\nUser-Agent: x\r\n\r\n");
  sm_http_request_write_head (http10, out);
  g_assert_cmpstr (out->str, ==, "GET /old HTTP/1.0\r\nUser-Agent: x\r\n\r\n");
}

static void
test_write_head_response (void)
{
  g_autoptr(SmHttpResponse) response = NULL;
  g_autoptr(SmHttpResponse) response_again = NULL;
  g_autoptr(GString) out = g_string_new (NULL);

  response = sm_test_http_parse_response ("HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\nX-Y: z\r\n\r\n", -1, "GET");
  sm_http_response_write_head (response, out);
  g_assert_true (g_str_has_prefix (out->str, "HTTP/1.1 404 Not Found\r\n"));
  assert_one_head (out, out->len);
  response_again = sm_test_http_parse_response (out->str, -1, "GET");
  g_assert_cmpuint (response_again->status, ==, 404);
  g_assert_cmpstr (response_again->reason, ==, "Not Found");
  g_assert_cmpuint (response_again->content_length, ==, 3);
  g_assert_cmpstr (soup_message_headers_get_one (response_again->headers, "X-Y"), ==, "z");
}

/* Chunked wins over Content-Length, which does not go on */
static void
test_write_head_response_chunked (void)
{
  g_autoptr(SmHttpResponse) chunked = NULL;
  g_autoptr(GString) out = g_string_new (NULL);

  chunked = sm_test_http_parse_response ("HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n", -1, "GET");
  sm_http_response_write_head (chunked, out);
  g_assert_cmpstr (out->str, ==, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
}
int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/http/head/split-points", test_head_split_points);
  g_test_add_func ("/http/head/limit", test_head_limit);
  g_test_add_func ("/http/head/invalid", test_head_invalid);
  g_test_add_func ("/http/head/every-byte", test_head_every_byte);
  g_test_add_func ("/http/request/basic", test_request_basic);
  g_test_add_func ("/http/request/request-line", test_request_line);
  g_test_add_func ("/http/request/absolute-form", test_request_absolute_form);
  g_test_add_func ("/http/request/host", test_request_host);
  g_test_add_func ("/http/request/keep-alive", test_request_keep_alive);
  g_test_add_func ("/http/request/framing", test_request_framing);
  g_test_add_func ("/http/request/smuggling", test_request_smuggling);
  g_test_add_func ("/http/request/transfer-codings", test_request_transfer_codings);
  g_test_add_func ("/http/request/expect-upgrade", test_request_expect_upgrade);
  g_test_add_func ("/http/response/framing", test_response_framing);
  g_test_add_func ("/http/response/invalid", test_response_invalid);
  g_test_add_func ("/http/write-head/request", test_write_head_request);
  g_test_add_func ("/http/write-head/request-http10", test_write_head_request_http10);
  g_test_add_func ("/http/write-head/response", test_write_head_response);
  g_test_add_func ("/http/write-head/response-chunked", test_write_head_response_chunked);

  return g_test_run ();
}
