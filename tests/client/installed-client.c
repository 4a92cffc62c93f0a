/* SPDX-License-Identifier: MIT */

/* A service as users write it: only <socketmaster.h>, from the installed
 * headers (test-installed.sh builds it against them): SM_ERROR codes from
 * sm-error.h, several daemons, the PROXY protocol */
#include <socketmaster.h>

static gboolean
on_incoming (SmListener *listener, GIOStream *stream, gpointer user_data)
{
  GSocketAddress *client = sm_listener_stream_get_client_address (stream);

  return client != NULL && sm_listener_stream_get_public_address (stream) != NULL;
}

int
main (void)
{
  const char *const daemons[] = { "127.0.0.2:9999", "127.0.0.3:9999", NULL };
  g_autoptr (SmSocketDefinition) definition = sm_socket_definition_new (8080);
  g_autoptr (SmListener) listener = sm_listener_new ("127.0.0.1:9999", definition);
  g_autoptr (SmListener) scaled = sm_listener_new_for_addresses (daemons, definition);
  g_autoptr (GError) error = g_error_new_literal (SM_ERROR, SM_ERROR_REJECTED, "refused");

  sm_listener_set_proxy_protocol (scaled, 2);
  g_signal_connect (scaled, "incoming", G_CALLBACK (on_incoming), NULL);

  return listener != NULL && g_error_matches (error, SM_ERROR, SM_ERROR_REJECTED) &&
                 sm_listener_error_is_refusal (error) &&
                 g_strv_length ((char **) sm_listener_get_control_addresses (scaled)) == 2 &&
                 sm_listener_get_proxy_protocol (scaled) == 2
             ? 0
             : 1;
}
