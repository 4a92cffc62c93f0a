/* SPDX-License-Identifier: MIT */

/* A service as users write it: only <socketmaster.h>, from the installed
 * headers (test-installed.sh builds it against them) */
#include <socketmaster.h>

int
main (void)
{
  g_autoptr (SmSocketDefinition) definition = sm_socket_definition_new (8080);
  g_autoptr (SmListener) listener = sm_listener_new ("127.0.0.1:9999", definition);
  g_autoptr (GError) error = g_error_new_literal (SM_ERROR, SM_ERROR_REJECTED, "refused");

  return listener != NULL && g_error_matches (error, SM_ERROR, SM_ERROR_REJECTED) ? 0 : 1;
}
