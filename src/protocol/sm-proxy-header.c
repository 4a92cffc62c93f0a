/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>

#include "sm-error.h"
#include "sm-proxy-header.h"

/* https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt */
static const guint8 v2_signature[SM_PROXY_HEADER_V2_SIGNATURE_SIZE] = {
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

#define V1_PREFIX     "PROXY "
#define V1_PREFIX_LEN 6

#define V2_VERSION       0x20
#define V2_COMMAND_LOCAL 0x00
#define V2_COMMAND_PROXY 0x01

/* Family (high nibble) and transport (low nibble) */
#define V2_UNSPEC       0x00
#define V2_TCP4         0x11
#define V2_UDP4         0x12
#define V2_TCP6         0x21
#define V2_UDP6         0x22
#define V2_UNIX_STREAM  0x31
#define V2_UNIX_DGRAM   0x32
#define V2_INET_SIZE    12
#define V2_INET6_SIZE   36
#define V2_UNIX_SIZE    216
#define V2_TLV_HEAD_LEN 3

static SmHandshakeResult fail (GError **error, gint code, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

static SmHandshakeResult
fail (GError **error, gint code, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  if (error != NULL)
    *error = g_error_new_valist (SM_ERROR, code, format, args);
  va_end (args);
  return SM_HANDSHAKE_ERROR;
}

static SmHandshakeResult
complete (gsize size, gsize *consumed, const SmProxyHeader *header, SmProxyHeader *out)
{
  if (consumed != NULL)
    *consumed = size;
  if (out != NULL)
    *out = *header;
  return SM_HANDSHAKE_COMPLETE;
}

/* --- version 1 --- */

/* One field of a v1 line: a span of the line, not NUL-terminated */
typedef struct
{
  const char *start;
  gsize       len;
} Field;

/* Splits @line on single spaces into exactly @n fields, none empty */
static gboolean
split_fields (const char *line, gsize len, Field *fields, guint n)
{
  guint count = 0;
  gsize start = 0;

  for (gsize i = 0; i <= len; i++)
    {
      if (i < len && line[i] != ' ')
        continue;
      if (i == start || count == n)
        return FALSE;
      fields[count].start = line + start;
      fields[count].len = i - start;
      count++;
      start = i + 1;
    }
  return count == n;
}

static gboolean
parse_v1_address (const Field *field, int af, guint8 *out)
{
  char text[INET6_ADDRSTRLEN];

  if (field->len >= sizeof text)
    return FALSE;
  memcpy (text, field->start, field->len);
  text[field->len] = '\0';
  return inet_pton (af, text, out) == 1;
}

/* Decimal 0 to 65535, without leading zeros */
static gboolean
parse_v1_port (const Field *field, guint16 *out)
{
  guint value = 0;

  if (field->len == 0 || field->len > 5 || (field->len > 1 && field->start[0] == '0'))
    return FALSE;
  for (gsize i = 0; i < field->len; i++)
    {
      if (!g_ascii_isdigit (field->start[i]))
        return FALSE;
      value = value * 10 + (guint) (field->start[i] - '0');
    }
  if (value > G_MAXUINT16)
    return FALSE;
  *out = (guint16) value;
  return TRUE;
}

/* @line: what follows "PROXY " up to the CR */
static gboolean
parse_v1_line (const char *line, gsize len, SmProxyHeader *header)
{
  Field fields[5];
  int   af;

  if (len >= 7 && memcmp (line, "UNKNOWN", 7) == 0 && (len == 7 || line[7] == ' '))
    {
      /* The rest of an UNKNOWN line is to be ignored */
      header->local = TRUE;
      return TRUE;
    }
  if (!split_fields (line, len, fields, G_N_ELEMENTS (fields)) || fields[0].len != 4)
    return FALSE;
  if (memcmp (fields[0].start, "TCP4", 4) == 0)
    {
      af = AF_INET;
      header->family = G_SOCKET_FAMILY_IPV4;
    }
  else if (memcmp (fields[0].start, "TCP6", 4) == 0)
    {
      af = AF_INET6;
      header->family = G_SOCKET_FAMILY_IPV6;
    }
  else
    return FALSE;

  return parse_v1_address (&fields[1], af, header->source_address) &&
         parse_v1_address (&fields[2], af, header->destination_address) &&
         parse_v1_port (&fields[3], &header->source_port) &&
         parse_v1_port (&fields[4], &header->destination_port);
}

static SmHandshakeResult
parse_v1 (const guint8 *data, gsize len, gsize *consumed, SmProxyHeader *out, GError **error)
{
  SmProxyHeader header = { .version = 1, .family = G_SOCKET_FAMILY_INVALID };
  /* The CR can be at most at 105, its LF then ends byte 107 */
  gsize         end = MIN (len, SM_PROXY_HEADER_MAX_V1 - 1);

  if (memcmp (data, V1_PREFIX, MIN (len, V1_PREFIX_LEN)) != 0)
    return fail (error, SM_ERROR_PROTOCOL, "PROXY header: bad signature");

  for (gsize i = V1_PREFIX_LEN; i < end; i++)
    {
      if (data[i] == '\r')
        {
          if (i + 1 == len)
            return SM_HANDSHAKE_NEED_MORE;
          if (data[i + 1] != '\n')
            return fail (error, SM_ERROR_PROTOCOL, "PROXY header: CR without LF");
          if (!parse_v1_line ((const char *) data + V1_PREFIX_LEN, i - V1_PREFIX_LEN, &header))
            return fail (error, SM_ERROR_PROTOCOL, "PROXY header: malformed v1 line");
          return complete (i + 2, consumed, &header, out);
        }
      if (data[i] < 0x20 || data[i] > 0x7e)
        return fail (error, SM_ERROR_PROTOCOL, "PROXY header: byte 0x%02x in a v1 line", data[i]);
    }
  if (len >= SM_PROXY_HEADER_MAX_V1 - 1)
    return fail (error, SM_ERROR_TOO_LARGE, "PROXY header: v1 line longer than %d bytes",
                 SM_PROXY_HEADER_MAX_V1);
  return SM_HANDSHAKE_NEED_MORE;
}

/* --- version 2 --- */

/* Each TLV (type, 16-bit length, value) must fit in what is left */
static gboolean
check_tlvs (const guint8 *tlv, gsize len)
{
  while (len > 0)
    {
      gsize value_len;

      if (len < V2_TLV_HEAD_LEN)
        return FALSE;
      value_len = ((gsize) tlv[1] << 8) | tlv[2];
      if (value_len > len - V2_TLV_HEAD_LEN)
        return FALSE;
      tlv += V2_TLV_HEAD_LEN + value_len;
      len -= V2_TLV_HEAD_LEN + value_len;
    }
  return TRUE;
}

/* How many address bytes a family needs; 0 for none, -1 for one we refuse */
static int
v2_address_size (guint8 family)
{
  switch (family)
    {
    case V2_UNSPEC:
      return 0;
    case V2_TCP4:
      return V2_INET_SIZE;
    case V2_TCP6:
      return V2_INET6_SIZE;
    case V2_UNIX_STREAM:
    case V2_UNIX_DGRAM:
      return V2_UNIX_SIZE;
    default:
      /* UDP has no place on a TCP connection; the rest is undefined */
      return -1;
    }
}

static void
read_v2_addresses (const guint8 *block, gsize address_len, SmProxyHeader *header)
{
  const guint8 *ports = block + 2 * address_len;

  memcpy (header->source_address, block, address_len);
  memcpy (header->destination_address, block + address_len, address_len);
  header->source_port = (guint16) ((ports[0] << 8) | ports[1]);
  header->destination_port = (guint16) ((ports[2] << 8) | ports[3]);
}

static SmHandshakeResult
parse_v2 (const guint8 *data, gsize len, gsize *consumed, SmProxyHeader *out, GError **error)
{
  SmProxyHeader header = { .version = 2, .local = TRUE, .family = G_SOCKET_FAMILY_INVALID };
  guint8        command, family;
  gsize         length;
  int           address_size;

  if (memcmp (data, v2_signature, MIN (len, sizeof v2_signature)) != 0)
    return fail (error, SM_ERROR_PROTOCOL, "PROXY header: bad signature");
  if (len > 12 && ((data[12] & 0xf0) != V2_VERSION || (data[12] & 0x0f) > V2_COMMAND_PROXY))
    return fail (error, SM_ERROR_PROTOCOL, "PROXY header: version and command 0x%02x", data[12]);
  if (len > 13 && v2_address_size (data[13]) < 0)
    return fail (error, SM_ERROR_PROTOCOL, "PROXY header: family 0x%02x", data[13]);
  if (len < SM_PROXY_HEADER_V2_FIXED_SIZE)
    return SM_HANDSHAKE_NEED_MORE;

  command = data[12] & 0x0f;
  family = data[13];
  length = ((gsize) data[14] << 8) | data[15];
  address_size = v2_address_size (family);
  if (length > SM_PROXY_HEADER_MAX_V2_LENGTH)
    return fail (error, SM_ERROR_TOO_LARGE, "PROXY header: %" G_GSIZE_FORMAT " bytes, limit is %d",
                 length, SM_PROXY_HEADER_MAX_V2_LENGTH);
  if (command == V2_COMMAND_PROXY && length < (gsize) address_size)
    return fail (error, SM_ERROR_PROTOCOL,
                 "PROXY header: %" G_GSIZE_FORMAT " bytes, too short for its addresses", length);
  if (len - SM_PROXY_HEADER_V2_FIXED_SIZE < length)
    return SM_HANDSHAKE_NEED_MORE;

  /* LOCAL, and addresses we cannot use, leave the connection's own; the
   * rest of their block is skipped unread */
  if (command == V2_COMMAND_PROXY && (family == V2_TCP4 || family == V2_TCP6))
    {
      const guint8 *block = data + SM_PROXY_HEADER_V2_FIXED_SIZE;

      if (!check_tlvs (block + address_size, length - (gsize) address_size))
        return fail (error, SM_ERROR_PROTOCOL, "PROXY header: malformed TLV");
      header.local = FALSE;
      header.family = family == V2_TCP4 ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6;
      read_v2_addresses (block, family == V2_TCP4 ? 4 : 16, &header);
    }
  return complete (SM_PROXY_HEADER_V2_FIXED_SIZE + length, consumed, &header, out);
}

SmHandshakeResult
sm_proxy_header_parse (const guint8  *data,
                       gsize          len,
                       gsize         *consumed,
                       SmProxyHeader *out,
                       GError       **error)
{
  if (consumed != NULL)
    *consumed = 0;
  if (len == 0)
    return SM_HANDSHAKE_NEED_MORE;
  if (data[0] == v2_signature[0])
    return parse_v2 (data, len, consumed, out, error);
  return parse_v1 (data, len, consumed, out, error);
}

/* --- encoding --- */

static gsize
address_len (const SmProxyHeader *header)
{
  return header->family == G_SOCKET_FAMILY_IPV4 ? 4 : 16;
}

static void
append_uint16 (GByteArray *out, guint16 value)
{
  guint8 bytes[2] = { value >> 8, value & 0xff };

  g_byte_array_append (out, bytes, sizeof bytes);
}

static void
encode_v1 (const SmProxyHeader *header, GByteArray *out)
{
  char             source[INET6_ADDRSTRLEN], destination[INET6_ADDRSTRLEN];
  int              af = header->family == G_SOCKET_FAMILY_IPV4 ? AF_INET : AF_INET6;
  g_autofree char *line = NULL;

  if (header->local)
    {
      g_byte_array_append (out, (const guint8 *) "PROXY UNKNOWN\r\n", 15);
      return;
    }
  inet_ntop (af, header->source_address, source, sizeof source);
  inet_ntop (af, header->destination_address, destination, sizeof destination);
  line = g_strdup_printf ("PROXY %s %s %s %u %u\r\n", af == AF_INET ? "TCP4" : "TCP6", source,
                          destination, header->source_port, header->destination_port);
  g_byte_array_append (out, (const guint8 *) line, strlen (line));
}

static void
encode_v2 (const SmProxyHeader *header, GByteArray *out)
{
  guint8 head[2];
  gsize  alen = address_len (header);

  g_byte_array_append (out, v2_signature, sizeof v2_signature);
  if (header->local)
    {
      head[0] = V2_VERSION | V2_COMMAND_LOCAL;
      head[1] = V2_UNSPEC;
      g_byte_array_append (out, head, sizeof head);
      append_uint16 (out, 0);
      return;
    }
  head[0] = V2_VERSION | V2_COMMAND_PROXY;
  head[1] = header->family == G_SOCKET_FAMILY_IPV4 ? V2_TCP4 : V2_TCP6;
  g_byte_array_append (out, head, sizeof head);
  append_uint16 (out, alen == 4 ? V2_INET_SIZE : V2_INET6_SIZE);
  g_byte_array_append (out, header->source_address, alen);
  g_byte_array_append (out, header->destination_address, alen);
  append_uint16 (out, header->source_port);
  append_uint16 (out, header->destination_port);
}

void
sm_proxy_header_encode (const SmProxyHeader *header, GByteArray *out)
{
  g_return_if_fail (header->version == 1 || header->version == 2);
  g_return_if_fail (header->local || header->family == G_SOCKET_FAMILY_IPV4 ||
                    header->family == G_SOCKET_FAMILY_IPV6);

  if (header->version == 1)
    encode_v1 (header, out);
  else
    encode_v2 (header, out);
}

/* --- addresses --- */

static const guint8 v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* 16 bytes of @address into @bytes, an IPv4 address mapped */
static void
address_to_v6 (GInetAddress *address, guint8 *bytes)
{
  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
    {
      memcpy (bytes, g_inet_address_to_bytes (address), 16);
      return;
    }
  memcpy (bytes, v4_mapped_prefix, sizeof v4_mapped_prefix);
  memcpy (bytes + 12, g_inet_address_to_bytes (address), 4);
}

static gboolean
is_v4_mapped (const guint8 *bytes)
{
  return memcmp (bytes, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0;
}

void
sm_proxy_header_init (SmProxyHeader  *header,
                      guint           version,
                      GSocketAddress *source,
                      GSocketAddress *destination)
{
  GInetAddress *source_address, *destination_address;

  g_return_if_fail (version == 1 || version == 2);

  memset (header, 0, sizeof *header);
  header->version = version;
  header->family = G_SOCKET_FAMILY_INVALID;
  if (!G_IS_INET_SOCKET_ADDRESS (source) || !G_IS_INET_SOCKET_ADDRESS (destination))
    {
      header->local = TRUE;
      return;
    }

  source_address = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (source));
  destination_address = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (destination));
  header->source_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (source));
  header->destination_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (destination));

  if (g_inet_address_get_family (source_address) == G_SOCKET_FAMILY_IPV4 &&
      g_inet_address_get_family (destination_address) == G_SOCKET_FAMILY_IPV4)
    {
      header->family = G_SOCKET_FAMILY_IPV4;
      memcpy (header->source_address, g_inet_address_to_bytes (source_address), 4);
      memcpy (header->destination_address, g_inet_address_to_bytes (destination_address), 4);
      return;
    }

  header->family = G_SOCKET_FAMILY_IPV6;
  address_to_v6 (source_address, header->source_address);
  address_to_v6 (destination_address, header->destination_address);
  /* A dual-stack listener sees IPv4 clients this way: say what they are */
  if (is_v4_mapped (header->source_address) && is_v4_mapped (header->destination_address))
    {
      header->family = G_SOCKET_FAMILY_IPV4;
      memmove (header->source_address, header->source_address + 12, 4);
      memmove (header->destination_address, header->destination_address + 12, 4);
      memset (header->source_address + 4, 0, 12);
      memset (header->destination_address + 4, 0, 12);
    }
}

static GSocketAddress *
socket_address (const SmProxyHeader *header, const guint8 *bytes, guint16 port)
{
  g_autoptr (GInetAddress) address = NULL;

  if (header->local)
    return NULL;
  address = g_inet_address_new_from_bytes (bytes, header->family);
  return g_inet_socket_address_new (address, port);
}

GSocketAddress *
sm_proxy_header_get_source (const SmProxyHeader *header)
{
  return socket_address (header, header->source_address, header->source_port);
}

GSocketAddress *
sm_proxy_header_get_destination (const SmProxyHeader *header)
{
  return socket_address (header, header->destination_address, header->destination_port);
}
