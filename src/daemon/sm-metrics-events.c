/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sm-access-log.h"
#include "sm-extension-handshake.h"
#include "sm-metrics-events.h"
#include "sm-metrics.h"

guint16
sm_metrics_port_from_name (const char *port_name)
{
  const char *colon = port_name != NULL ? strrchr (port_name, ':') : NULL;
  guint64     number = 0;

  if (colon == NULL || !g_ascii_string_to_unsigned (colon + 1, 10, 0, G_MAXUINT16, &number, NULL))
    return 0;
  return (guint16) number;
}

void
sm_metrics_http_done (const SmHttpRecord *record)
{
  SmAccessLog *log = sm_access_log_get_default ();
  SmMetrics   *metrics = sm_metrics_get_default ();

  if (sm_metrics_is_collecting (metrics))
    {
      sm_metrics_count_http (metrics, record->port, record->route, record->status,
                             record->duration_us);
      sm_metrics_count_bytes (metrics, record->port, record->bytes_in, record->bytes_out);
    }
  if (log != NULL)
    sm_access_log_http (log, record);
}

void
sm_metrics_http_answered (const char          *port_name,
                          SmRoute             *route,
                          const char          *client_ip,
                          const SmHttpRequest *request,
                          const char          *version,
                          guint                status,
                          guint64              bytes_in,
                          guint64              bytes_out,
                          gint64               started_at)
{
  SmHttpRecord record = {
    .port = sm_metrics_port_from_name (port_name),
    .route = route,
    .client = client_ip,
    .status = status,
    .bytes_in = bytes_in,
    .bytes_out = bytes_out,
  };

  if (request != NULL)
    {
      record.method = request->method;
      record.host = request->host;
      record.target = request->target;
      record.version = version != NULL                     ? version
                       : request->version == SOUP_HTTP_1_0 ? "HTTP/1.0"
                                                           : "HTTP/1.1";
      record.referer = soup_message_headers_get_one (request->headers, "Referer");
      record.user_agent = soup_message_headers_get_one (request->headers, "User-Agent");
      record.duration_us = g_get_monotonic_time () - started_at;
    }
  sm_metrics_http_done (&record);
}

void
sm_metrics_tcp_done (const SmTcpRecord *record)
{
  SmAccessLog *log = sm_access_log_get_default ();
  SmMetrics   *metrics = sm_metrics_get_default ();

  if (sm_metrics_is_collecting (metrics))
    sm_metrics_count_bytes (metrics,
                            sm_socket_definition_get_port (sm_route_get_definition (record->route)),
                            record->bytes_in, record->bytes_out);
  if (log != NULL)
    sm_access_log_tcp (log, record);
}

void
sm_metrics_connection_admitted (const char *port_name, GSocketConnection *connection)
{
  SmMetrics *metrics = sm_metrics_get_default ();

  if (sm_metrics_is_collecting (metrics))
    sm_metrics_count_connection (metrics, sm_metrics_port_from_name (port_name),
                                 G_OBJECT (connection));
}

/* "HTTP domain example.com, path /api/, TLS, name api" */
static char *
describe_route (SmRoute *route)
{
  const SmSocketDefinition *definition = sm_route_get_definition (route);
  GString                  *text = g_string_new (NULL);

  if (sm_socket_definition_has_http (definition))
    {
      const char *domain = sm_socket_definition_get_domain_suffix (definition);

      g_string_append_printf (text, "HTTP domain %s, path %s", *domain != '\0' ? domain : "(any)",
                              sm_socket_definition_get_path_prefix (definition));
    }
  else
    g_string_append (text, "raw TCP");
  if (sm_socket_definition_has_tls (definition))
    g_string_append (text, ", TLS");
  if (sm_route_get_name (route) != NULL)
    g_string_append_printf (text, ", name %s", sm_route_get_name (route));
  return g_string_free (text, FALSE);
}

void
sm_metrics_route_registered (SmRoute *route, const char *port_name)
{
  g_autofree char *what = describe_route (route);
  g_autofree char *id = g_strdup_printf ("%" G_GUINT64_FORMAT, sm_route_get_id (route));
  g_autofree char *port = g_strdup_printf ("%u", sm_metrics_port_from_name (port_name));

  g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "SOCKETMASTER_PORT", port,
                    "SOCKETMASTER_ROUTE", id, "SOCKETMASTER_PEER", sm_route_get_peer (route),
                    "MESSAGE", "Service %s registered on %s (%s)", sm_route_get_peer (route),
                    port_name, what);
  sm_metrics_count_registration (sm_metrics_get_default (), "ok");
}

void
sm_metrics_registration_refused (SmRateLimit  *limit,
                                 const char   *peer,
                                 const char   *who,
                                 guint16       port,
                                 const GError *refusal)
{
  const char *code = sm_extension_error_code (refusal);
  guint       suppressed = 0;

  sm_metrics_count_registration (sm_metrics_get_default (), code);
  if (sm_rate_limit_check (limit, g_get_monotonic_time (), &suppressed))
    {
      g_autofree char *more = sm_rate_limit_describe_suppressed (suppressed);
      g_autofree char *port_text = g_strdup_printf ("%u", port);

      g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "SOCKETMASTER_PORT", port_text,
                        "SOCKETMASTER_PEER", peer, "SOCKETMASTER_REFUSAL", code, "MESSAGE",
                        "Refused service %s, %s: %s (rule: %s)%s", peer, who, refusal->message,
                        code, more);
    }
}
