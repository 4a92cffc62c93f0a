/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* g_debug() formats its message even when debug output is off, and the
 * HTTP path traces every request: only format what can be seen. @self
 * has a gboolean "tracing", asked once per connection with
 * sm_http_trace_enabled(). */
#define SM_HTTP_DEBUG(self, ...)      \
  G_STMT_START                        \
  {                                   \
    if (G_UNLIKELY ((self)->tracing)) \
      g_debug (__VA_ARGS__);          \
  }                                   \
  G_STMT_END

static inline gboolean
sm_http_trace_enabled (void)
{
  return !g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);
}

G_END_DECLS
