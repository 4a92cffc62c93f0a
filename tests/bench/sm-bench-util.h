/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers of the benchmark tools sm-bench-tcp and sm-bench-http: status
 * lines for the driving scripts, a free port, the listening address.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <gio/gio.h>

static inline void
print_status (const char *format,
              ...) G_GNUC_PRINTF (1, 2);

/* A line on stdout, flushed at once: the scripts wait for it */
static inline void
print_status (const char *format,
              ...)
{
  va_list args;

  va_start (args, format);
  vprintf (format, args);
  va_end (args);
  putchar ('\n');
  fflush (stdout);
}

/* Prints a loopback TCP port that is free right now; errors go to stderr
 * after "@error_prefix: ". Returns the exit status. */
static inline int
print_free_port (const char *error_prefix)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_autoptr(GSocketAddress) bound = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  if (socket == NULL || !g_socket_bind (socket, any_port, FALSE, &error) ||
      (bound = g_socket_get_local_address (socket, &error)) == NULL)
    {
      g_printerr ("%s: %s\n", error_prefix, error->message);
      return EXIT_FAILURE;
    }
  print_status ("%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  return EXIT_SUCCESS;
}

/* The address to listen on: a numeric IP (--address) and a port */
static inline GSocketAddress *
listen_address_new (const char  *address,
                    int          port,
                    GError     **error)
{
  GSocketAddress *socket_address = g_inet_socket_address_new_from_string (address, (guint) port);

  if (socket_address == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad address %s", address);
  return socket_address;
}
