/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Pure codec for the PROXY protocol header, versions 1 (a text line) and 2
 * (binary), as HAProxy defines it: no I/O. The daemon sends one at the
 * start of each stream to a service that asked for it (PROTOCOL.md §7) and
 * reads one from trusted balancers (--accept-proxy); the client library
 * reads it for applications.
 *
 * The parser is incremental like sm-handshake.h: call it again on the whole
 * buffer received so far. It answers NEED_MORE while the buffer is a valid
 * prefix, and ERROR as soon as a byte or a length cannot be right: a v1
 * line longer than 107 bytes, a v2 length over SM_PROXY_HEADER_MAX_V2_LENGTH,
 * known before the rest arrives. It never looks past the header, so the
 * bytes after *consumed are the connection's own.
 */

#include <gio/gio.h>

#include "sm-handshake.h"

G_BEGIN_DECLS

/* A v1 line, "PROXY " to CRLF included (the specification's limit) */
#define SM_PROXY_HEADER_MAX_V1            107
#define SM_PROXY_HEADER_V2_SIGNATURE_SIZE 12
/* The fixed part of a v2 header: signature, version and command, family,
 * length */
#define SM_PROXY_HEADER_V2_FIXED_SIZE 16
/* Ours: the v2 length field's cap (addresses and TLVs). Balancers send a
 * few dozen bytes; TLVs with TLS details a few hundred. */
#define SM_PROXY_HEADER_MAX_V2_LENGTH 2048
/* The most a header can take: what a reader must be ready to hold */
#define SM_PROXY_HEADER_MAX_SIZE (SM_PROXY_HEADER_V2_FIXED_SIZE + SM_PROXY_HEADER_MAX_V2_LENGTH)

typedef struct
{
  guint         version; /* 1 or 2 */
  /* TRUE: no addresses (v1 UNKNOWN, v2 LOCAL, or v2 with an unspecified or
   * Unix family): the connection's own endpoints apply */
  gboolean      local;
  GSocketFamily family;             /* G_SOCKET_FAMILY_IPV4 or _IPV6 unless local */
  guint8        source_address[16]; /* 4 or 16 bytes, network order */
  guint8        destination_address[16];
  guint16       source_port;
  guint16       destination_port;
} SmProxyHeader;

/* On COMPLETE, *consumed is the header's length and @out is set. On ERROR
 * an SM_ERROR_PROTOCOL (malformed) or SM_ERROR_TOO_LARGE (over a limit).
 * @consumed and @out may be NULL. */
SmHandshakeResult sm_proxy_header_parse (const guint8  *data,
                                         gsize          len,
                                         gsize         *consumed,
                                         SmProxyHeader *out,
                                         GError       **error);

/* Appends @header in its version. A local header becomes "PROXY UNKNOWN"
 * (v1) or a LOCAL command without addresses (v2). */
void              sm_proxy_header_encode (const SmProxyHeader *header, GByteArray *out);

/* Fills @header (@version 1 or 2) from two GInetSocketAddresses. Families
 * that differ are both written as IPv6 (IPv4-mapped), and two IPv4-mapped
 * IPv6 addresses as IPv4. Anything else (a Unix socket, NULL) makes a
 * local header. */
void              sm_proxy_header_init (SmProxyHeader  *header,
                                        guint           version,
                                        GSocketAddress *source,
                                        GSocketAddress *destination);

/* The addresses of a header that is not local, else NULL */
GSocketAddress   *sm_proxy_header_get_source (const SmProxyHeader *header);
GSocketAddress   *sm_proxy_header_get_destination (const SmProxyHeader *header);

G_END_DECLS
