/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Pure helpers for the addresses the daemon deals with: the --bind option,
 * the address a service asks for, and how both are shown in messages.
 * No I/O and no name resolution: only IP literals and "localhost".
 */

#include <gio/gio.h>

G_BEGIN_DECLS

/* "HOST:PORT", "[IPV6]:PORT", ":PORT" or "*:PORT" (all interfaces).
 * HOST is an IP literal or "localhost". PORT may be 0 (ephemeral).
 * *out_address is set to NULL for all interfaces. */
gboolean sm_address_parse_bind (const char    *text,
                                GInetAddress **out_address,
                                guint16       *out_port,
                                GError       **error);

/* A control --bind: "unix:PATH" sets *out_unix_path (owned) and leaves the
 * rest alone; anything else is parsed by sm_address_parse_bind() and sets
 * *out_unix_path to NULL. PATH must not be empty and must fit a
 * sockaddr_un. */
gboolean sm_address_parse_control_bind (const char    *text,
                                        char         **out_unix_path,
                                        GInetAddress **out_address,
                                        guint16       *out_port,
                                        GError       **error);

/* The Address field of a SocketDefinition: "" (all interfaces), an IP
 * literal or "localhost" (127.0.0.1). *out_address is NULL for "". */
gboolean sm_address_parse_service (const char *text, GInetAddress **out_address, GError **error);

/* "*" for NULL (all interfaces), otherwise the canonical literal */
char    *sm_address_to_host (GInetAddress *address);

/* "*:8000", "127.0.0.1:8000", "[::1]:8000" */
char    *sm_address_format (GInetAddress *address, guint16 port);

/* Same, for a connected or bound socket's address; "unix:PATH" for a
 * Unix socket ("unix" for an unnamed one, as a connected peer is) */
char    *sm_address_format_socket (GSocketAddress *address);

/* Whom a connection from @address counts against when limiting pending
 * handshakes per source: the IPv4 address (also when mapped into IPv6),
 * "::1", or the /64 of any other IPv6 address ("2001:db8::/64"). Unix
 * peers all share "unix" here: SmControl keys them by uid instead. */
char    *sm_address_source_key (GSocketAddress *address);

G_END_DECLS
