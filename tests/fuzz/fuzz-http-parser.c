/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sm-error.h"
#include "sm-http-parser.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

#define HEAD_LIMIT (16 * 1024)

/* Any head the parser accepts must survive the proxy's rewriting and
 * re-serialisation and be read back with the same framing. */
static void
check_request (const guint8 *head,
               gsize         head_len)
{
  g_autoptr(SmHttpRequest) request = NULL;
  g_autoptr(SmHttpRequest) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  gsize written_len = 0;
  guint status = 0;

  if (!sm_http_request_parse (head, head_len, &request, &status, &error))
    {
      if (error == NULL || error->domain != SM_ERROR || request != NULL || status < 400)
        abort ();
      return;
    }
  if (error != NULL || status != 200 || request->host == NULL || request->path == NULL)
    abort ();

  sm_http_strip_hop_by_hop (request->headers, request->upgrade);
  sm_http_add_forwarding_headers (request->headers, "2001:db8::1", TRUE, request->host);
  sm_http_request_write_head (request, out);
  if (sm_http_find_head_end (NULL, (const guint8 *) out->str, out->len, G_MAXSIZE,
                             &written_len, NULL) != SM_HTTP_COMPLETE ||
      written_len != out->len)
    abort ();
  if (!sm_http_request_parse ((const guint8 *) out->str, out->len, &again, NULL, NULL))
    abort ();
  if (strcmp (again->method, request->method) != 0 ||
      strcmp (again->target, request->forward_target) != 0 ||
      strcmp (again->host, request->host) != 0 ||
      again->body != request->body ||
      again->content_length != request->content_length ||
      again->upgrade != request->upgrade)
    abort ();

}

static void
check_response (const guint8 *head,
                gsize         head_len,
                const char   *method)
{
  g_autoptr(SmHttpResponse) response = NULL;
  g_autoptr(SmHttpResponse) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) out = g_string_new (NULL);

  if (!sm_http_response_parse (head, head_len, method, &response, &error))
    {
      if (error == NULL || error->domain != SM_ERROR || response != NULL)
        abort ();
      return;
    }
  if (response->status < 100 || response->status > 599)
    abort ();

  sm_http_strip_hop_by_hop (response->headers, response->switching_protocols);
  sm_http_response_write_head (response, out);
  if (!sm_http_response_parse ((const guint8 *) out->str, out->len, method, &again, NULL))
    abort ();
  if (again->status != response->status || again->body != response->body ||
      again->content_length != response->content_length)
    abort ();
}

/* Feeding in pieces never changes where a chunked body ends */
static void
check_chunked (const guint8 *data,
               gsize         size,
               gsize         split)
{
  SmHttpChunkedDecoder whole, pieces;
  SmHttpResult whole_result, result;
  gsize whole_consumed = 0, consumed = 0, total;

  sm_http_chunked_decoder_init (&whole);
  whole_result = sm_http_chunked_feed (&whole, data, size, &whole_consumed, NULL);
  if (whole_consumed > size)
    abort ();

  sm_http_chunked_decoder_init (&pieces);
  result = sm_http_chunked_feed (&pieces, data, split, &consumed, NULL);
  total = consumed;
  if (result == SM_HTTP_NEED_MORE)
    {
      if (consumed != split)
        abort ();
      result = sm_http_chunked_feed (&pieces, data + split, size - split, &consumed, NULL);
      total += consumed;
    }
  if (result != whole_result || (result == SM_HTTP_COMPLETE && total != whole_consumed))
    abort ();
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  static const char * const methods[] = { "GET", "HEAD", "CONNECT", NULL };
  SmHttpHeadScanner scanner;
  SmHttpResult whole, resumed;
  gsize head_len = 0, resumed_len = 0, split;

  if (size < 1)
    return 0;
  split = data[0] % size;
  data++;
  size--;

  check_chunked (data, size, split);

  /* Resumed scanning agrees with scanning in one go */
  whole = sm_http_find_head_end (NULL, data, size, HEAD_LIMIT, &head_len, NULL);
  sm_http_head_scanner_init (&scanner);
  resumed = sm_http_find_head_end (&scanner, data, split, HEAD_LIMIT, &resumed_len, NULL);
  if (resumed == SM_HTTP_NEED_MORE)
    resumed = sm_http_find_head_end (&scanner, data, size, HEAD_LIMIT, &resumed_len, NULL);
  if (resumed != whole || (whole == SM_HTTP_COMPLETE && resumed_len != head_len))
    abort ();

  if (whole == SM_HTTP_COMPLETE)
    {
      check_request (data, head_len);
      check_response (data, head_len, methods[split % G_N_ELEMENTS (methods)]);
    }
  return 0;
}
