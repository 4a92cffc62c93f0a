/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <math.h>

#include "sm-error.h"
#include "sm-http-limits.h"

void
sm_http_limits_init (SmHttpLimits *limits)
{
  g_return_if_fail (limits != NULL);

  limits->max_head_size = SM_HTTP_DEFAULT_MAX_HEAD_SIZE;
  limits->header_timeout_ms = (guint) (SM_HTTP_DEFAULT_HEADER_TIMEOUT * 1000);
  limits->idle_timeout_ms = (guint) (SM_HTTP_DEFAULT_IDLE_TIMEOUT * 1000);
  limits->body_timeout_ms = (guint) (SM_HTTP_DEFAULT_BODY_TIMEOUT * 1000);
  limits->response_timeout_ms = (guint) (SM_HTTP_DEFAULT_RESPONSE_TIMEOUT * 1000);
}

static gboolean
check_timeout (const char *option, double seconds, guint *out_ms, GError **error)
{
  if (!isfinite (seconds) || seconds <= 0 || seconds > SM_HTTP_MAX_TIMEOUT)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                   "%s must be more than 0 and at most %.0f seconds", option, SM_HTTP_MAX_TIMEOUT);
      return FALSE;
    }
  /* At least 1 ms: a zero timeout would fire at once */
  *out_ms = MAX (1, (guint) (seconds * 1000));
  return TRUE;
}

gboolean
sm_http_limits_set (SmHttpLimits *limits,
                    gint64        max_head_size,
                    double        header_timeout,
                    double        idle_timeout,
                    GError      **error)
{
  SmHttpLimits checked;

  g_return_val_if_fail (limits != NULL, FALSE);

  /* The other limits keep their defaults */
  sm_http_limits_init (&checked);
  if (max_head_size < SM_HTTP_MIN_MAX_HEAD_SIZE || max_head_size > SM_HTTP_MAX_MAX_HEAD_SIZE)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                   "--http-max-head-size must be between %d and %d bytes",
                   SM_HTTP_MIN_MAX_HEAD_SIZE, SM_HTTP_MAX_MAX_HEAD_SIZE);
      return FALSE;
    }
  checked.max_head_size = (gsize) max_head_size;

  if (!check_timeout ("--http-header-timeout", header_timeout, &checked.header_timeout_ms, error) ||
      !check_timeout ("--http-idle-timeout", idle_timeout, &checked.idle_timeout_ms, error))
    return FALSE;

  *limits = checked;
  return TRUE;
}

gboolean
sm_http_limits_set_exchange_timeouts (SmHttpLimits *limits,
                                      double        body_timeout,
                                      double        response_timeout,
                                      GError      **error)
{
  guint body_ms, response_ms;

  g_return_val_if_fail (limits != NULL, FALSE);

  if (!check_timeout ("--http-body-timeout", body_timeout, &body_ms, error) ||
      !check_timeout ("--http-response-timeout", response_timeout, &response_ms, error))
    return FALSE;

  limits->body_timeout_ms = body_ms;
  limits->response_timeout_ms = response_ms;
  return TRUE;
}
