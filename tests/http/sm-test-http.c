/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-test-http.h"

SmHttpResponse *
sm_test_http_parse_response (const char *head,
                             gssize      len,
                             const char *request_method)
{
  g_autoptr(GError) error = NULL;
  SmHttpResponse *response = NULL;

  if (len < 0)
    len = strlen (head);
  g_assert_true (sm_http_response_parse ((const guint8 *) head, len, request_method, &response,
                                         &error));
  g_assert_no_error (error);
  return response;
}

guint
sm_test_http_count_fields (SoupMessageHeaders *headers)
{
  SoupMessageHeadersIter iter;
  const char *name, *value;
  guint count = 0;

  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    count++;
  return count;
}
