/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SM_HTTP_DEFAULT_MAX_HEAD_SIZE    (64 * 1024)
#define SM_HTTP_DEFAULT_HEADER_TIMEOUT   30.0
#define SM_HTTP_DEFAULT_IDLE_TIMEOUT     75.0
#define SM_HTTP_DEFAULT_BODY_TIMEOUT     60.0
#define SM_HTTP_DEFAULT_RESPONSE_TIMEOUT 60.0

/* Bounds of the options */
#define SM_HTTP_MIN_MAX_HEAD_SIZE 1024
#define SM_HTTP_MAX_MAX_HEAD_SIZE (1024 * 1024)
#define SM_HTTP_MAX_TIMEOUT       (24.0 * 60 * 60)

/**
 * SmHttpLimits:
 * @max_head_size: bytes a request head may take; more gets 431
 * @header_timeout_ms: time to send a complete request head, counted from
 *   the connection or the first byte of the request; then 408 and close
 * @idle_timeout_ms: how long a keep-alive connection may wait for its next
 *   request; then it is closed
 * @body_timeout_ms: longest time between request body bytes from the
 *   client; then 408 (or close, once a response is on its way)
 * @response_timeout_ms: time a service has to start answering; then 504
 *   and its stream is reset
 *
 * What one public HTTP connection may cost; the defaults come from
 * sm_http_limits_init().
 */
typedef struct
{
  gsize max_head_size;
  guint header_timeout_ms;
  guint idle_timeout_ms;
  guint body_timeout_ms;
  guint response_timeout_ms;
} SmHttpLimits;

void     sm_http_limits_init (SmHttpLimits *limits);

/* From the command line options (timeouts in seconds); the error message
 * names the option that is out of range */
gboolean sm_http_limits_set (SmHttpLimits *limits,
                             gint64        max_head_size,
                             double        header_timeout,
                             double        idle_timeout,
                             GError      **error);
/* The timeouts of the exchange with a service, also in seconds; the other
 * limits stay */
gboolean sm_http_limits_set_exchange_timeouts (SmHttpLimits *limits,
                                               double        body_timeout,
                                               double        response_timeout,
                                               GError      **error);

G_END_DECLS
