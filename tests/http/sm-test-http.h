/* SPDX-License-Identifier: MIT */
#pragma once

/* Helpers of the HTTP codec tests */

#include "sm-http-parser.h"

G_BEGIN_DECLS

/* Parses a response head that must be valid; @len -1: up to the NUL */
SmHttpResponse *sm_test_http_parse_response (const char *head,
                                             gssize      len,
                                             const char *request_method);
/* How many fields @headers holds, repeated names counted each time */
guint           sm_test_http_count_fields (SoupMessageHeaders *headers);

G_END_DECLS
