/* SPDX-License-Identifier: MIT */
/*
 * sm-h2-codec: HTTP/2 request fields to an HTTP/1.1 head, responses to
 * HTTP/2 fields, and chunked bodies undone, on buffers.
 */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-h2-codec.h"

static void
add (SmH2RequestHead *head, const char *name, const char *value)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (sm_h2_request_head_add (head, (const guint8 *) name, strlen (name),
                                         (const guint8 *) value, strlen (value), &error));
  g_assert_no_error (error);
}

static void
test_request_head (void)
{
  SmH2RequestHead head;
  g_autoptr (GString) out = g_string_new (NULL);
  SmHttpRequest *request = NULL;
  guint          status = 0;
  gboolean       chunked = TRUE;

  sm_h2_request_head_init (&head, 4096);
  add (&head, ":method", "GET");
  add (&head, ":scheme", "https");
  add (&head, ":authority", "API.example.com:8443");
  add (&head, ":path", "/a/b?c=d");
  add (&head, "cookie", "a=1");
  add (&head, "host", "other.example");
  add (&head, "te", "trailers");
  add (&head, "accept", "*/*");
  add (&head, "cookie", "b=2");
  sm_h2_request_head_write (&head, TRUE, out, &chunked);
  g_assert_false (chunked);
  /* :authority wins over host; crumbs joined; TE is hop-by-hop */
  g_assert_cmpstr (out->str, ==,
                   "GET /a/b?c=d HTTP/1.1\r\nHost: API.example.com:8443\r\naccept: */*\r\n"
                   "Cookie: a=1; b=2\r\n\r\n");
  g_assert_true (
      sm_http_request_parse ((const guint8 *) out->str, out->len, &request, &status, NULL));
  g_assert_cmpstr (request->host, ==, "api.example.com");
  g_assert_cmpstr (request->path, ==, "/a/b");
  g_assert_cmpint (request->body, ==, SM_HTTP_BODY_NONE);
  sm_http_request_free (request);
  sm_h2_request_head_clear (&head);
}

static void
test_request_body_framing (void)
{
  SmH2RequestHead head;
  g_autoptr (GString) out = g_string_new (NULL);
  gboolean chunked = FALSE;

  /* A body of unknown length goes chunked */
  sm_h2_request_head_init (&head, 4096);
  add (&head, ":method", "POST");
  add (&head, ":path", "/up");
  add (&head, ":authority", "a");
  sm_h2_request_head_write (&head, FALSE, out, &chunked);
  g_assert_true (chunked);
  g_assert_nonnull (strstr (out->str, "Transfer-Encoding: chunked\r\n"));
  sm_h2_request_head_clear (&head);

  /* With Content-Length it keeps it */
  g_string_truncate (out, 0);
  sm_h2_request_head_init (&head, 4096);
  add (&head, ":method", "POST");
  add (&head, ":path", "/up");
  add (&head, ":authority", "a");
  add (&head, "content-length", "5");
  sm_h2_request_head_write (&head, FALSE, out, &chunked);
  g_assert_false (chunked);
  g_assert_null (strstr (out->str, "Transfer-Encoding"));
  sm_h2_request_head_clear (&head);
}

static void
test_request_head_limit (void)
{
  SmH2RequestHead  head;
  g_autofree char *value = g_strnfill (100, 'v');
  g_autoptr (GError) error = NULL;
  guint i;

  sm_h2_request_head_init (&head, 1024);
  /* 32 bytes of overhead per field, as SETTINGS_MAX_HEADER_LIST_SIZE counts */
  for (i = 0; i < 100; i++)
    if (!sm_h2_request_head_add (&head, (const guint8 *) "x-f", 3, (const guint8 *) value, 100,
                                 &error))
      break;
  g_assert_cmpuint (i, ==, 1024 / 135);
  g_assert_error (error, SM_ERROR, SM_ERROR_TOO_LARGE);
  sm_h2_request_head_clear (&head);
}

static const char *
nv_value (SmH2Fields *fields, const char *name)
{
  for (guint i = 0; i < fields->nv->len; i++)
    {
      nghttp2_nv *nv = &g_array_index (fields->nv, nghttp2_nv, i);

      if (nv->namelen == strlen (name) && memcmp (nv->name, name, nv->namelen) == 0)
        return (const char *) nv->value;
    }
  return NULL;
}

static void
test_response_fields (void)
{
  static const char head[] = "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n"
                             "Connection: close, X-Private\r\nX-Private: 1\r\nKeep-Alive: 5\r\n"
                             "Transfer-Encoding: chunked\r\nUpgrade: foo\r\nX-Kept: yes\r\n\r\n";
  SmHttpResponse   *response = NULL;
  g_auto (SmH2Fields) fields = { NULL, NULL };

  g_assert_true (
      sm_http_response_parse ((const guint8 *) head, sizeof head - 1, "GET", &response, NULL));
  sm_h2_fields_init (&fields);
  sm_h2_fields_set_response (&fields, response);
  g_assert_cmpstr (nv_value (&fields, ":status"), ==, "201");
  g_assert_cmpstr (nv_value (&fields, "content-type"), ==, "text/plain");
  g_assert_cmpstr (nv_value (&fields, "x-kept"), ==, "yes");
  /* RFC 9113 §8.2.2: nothing connection-specific */
  g_assert_null (nv_value (&fields, "connection"));
  g_assert_null (nv_value (&fields, "x-private"));
  g_assert_null (nv_value (&fields, "keep-alive"));
  g_assert_null (nv_value (&fields, "transfer-encoding"));
  g_assert_null (nv_value (&fields, "upgrade"));
  sm_http_response_free (response);
}

/* Feeds @body @step bytes at a time into an output of @room bytes */
static SmHttpResult
dechunk (const char *body, gsize step, gsize room, GString *data, SmH2Fields *trailers)
{
  SmH2Dechunker dechunker;
  gsize         len = strlen (body);
  gsize         offset = 0;
  SmHttpResult  result = SM_HTTP_NEED_MORE;
  guint8        out[64];

  g_assert_cmpuint (room, <=, sizeof out);
  sm_h2_dechunker_init (&dechunker);
  while (offset < len && result == SM_HTTP_NEED_MORE)
    {
      gsize consumed = 0;
      gsize produced = 0;

      result =
          sm_h2_dechunker_feed (&dechunker, (const guint8 *) body + offset,
                                MIN (step, len - offset), out, room, &consumed, &produced, NULL);
      g_assert_true (consumed > 0 || produced > 0 || result != SM_HTTP_NEED_MORE);
      g_string_append_len (data, (const char *) out, (gssize) produced);
      offset += consumed;
    }
  if (result == SM_HTTP_COMPLETE)
    sm_h2_dechunker_get_trailers (&dechunker, trailers);
  sm_h2_dechunker_clear (&dechunker);
  return result;
}

static void
test_dechunker (void)
{
  static const char body[] = "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                             "0\r\nX-Sum: 42\r\nConnection: x\r\n\r\n";

  for (gsize step = 1; step <= sizeof body; step++)
    for (gsize room = 1; room <= 40; room += 13)
      {
        g_autoptr (GString) data = g_string_new (NULL);
        g_auto (SmH2Fields) trailers = { NULL, NULL };

        sm_h2_fields_init (&trailers);
        g_assert_cmpint (dechunk (body, step, room, data, &trailers), ==, SM_HTTP_COMPLETE);
        g_assert_cmpstr (data->str, ==, "helloabcdefghijklmnopqrstuvwxyz");
        /* Trailers pass, hop-by-hop ones do not */
        g_assert_cmpuint (trailers.nv->len, ==, 1);
        g_assert_cmpstr (nv_value (&trailers, "x-sum"), ==, "42");
      }
}

static void
test_dechunker_errors (void)
{
  static const char *const bad[] = { "zz\r\n", "5\r\nhelloXX", "12345678901234567\r\n" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GString) data = g_string_new (NULL);
      g_auto (SmH2Fields) trailers = { NULL, NULL };

      g_assert_cmpint (dechunk (bad[i], 64, 64, data, &trailers), ==, SM_HTTP_ERROR);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/h2-codec/request-head", test_request_head);
  g_test_add_func ("/h2-codec/request-body-framing", test_request_body_framing);
  g_test_add_func ("/h2-codec/request-head-limit", test_request_head_limit);
  g_test_add_func ("/h2-codec/response-fields", test_response_fields);
  g_test_add_func ("/h2-codec/dechunker", test_dechunker);
  g_test_add_func ("/h2-codec/dechunker-errors", test_dechunker_errors);
  return g_test_run ();
}
