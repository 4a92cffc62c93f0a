/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-port-waiting.h"

typedef struct
{
  SmPortWaitingFunc func;
  gpointer          user_data;
} ForeachWaiting;

static void
report_waiting_request (GSocketAddress *client,
                        const char     *host,
                        const char     *path,
                        gint64          queued_at,
                        gpointer        user_data)
{
  ForeachWaiting *foreach = user_data;
  SmPortWaiting waiting = { client, host, path, queued_at };

  foreach
    ->func (&waiting, foreach->user_data);
}

static void
report_waiting_connection (GSocketAddress *client, gint64 queued_at, gpointer user_data)
{
  report_waiting_request (client, NULL, NULL, queued_at, user_data);
}

void
sm_port_waiting_foreach (SmConnectionQueue *queued,
                         SmHttpRouter      *router,
                         SmPortWaitingFunc  func,
                         gpointer           user_data)
{
  ForeachWaiting foreach = { func, user_data };

  sm_connection_queue_foreach (queued, report_waiting_connection, &foreach);
  if (router != NULL)
    sm_http_router_foreach_waiting (router, report_waiting_request, &foreach);
}
