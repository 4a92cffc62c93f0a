/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>
#include <sys/un.h>

#include <gio/gunixsocketaddress.h>

#include "sm-address.h"
#include "sm-error.h"

static GInetAddress *
parse_ip_or_localhost (const char *host)
{
  if (g_ascii_strcasecmp (host, "localhost") == 0)
    return g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);

  return g_inet_address_new_from_string (host);
}

static gboolean
parse_port (const char *text, guint16 *out_port, GError **error)
{
  gsize len = strlen (text);
  guint value = 0;

  /* Digits only: no sign, no spaces, no hex */
  if (len == 0 || strspn (text, "0123456789") != len)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT, "port “%s” is not a number", text);
      return FALSE;
    }

  /* Leading zeros are harmless; stop before the value could overflow */
  for (const char *p = text; *p != '\0' && value <= G_MAXUINT16; p++)
    value = value * 10 + (guint) (*p - '0');

  if (value > G_MAXUINT16)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT, "port %s is out of range 0-65535",
                   text);
      return FALSE;
    }

  *out_port = (guint16) value;
  return TRUE;
}

gboolean
sm_address_parse_bind (const char    *text,
                       GInetAddress **out_address,
                       guint16       *out_port,
                       GError       **error)
{
  g_autofree char *host = NULL;
  g_autoptr (GInetAddress) address = NULL;
  const char *port_text;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (out_address != NULL && out_port != NULL, FALSE);

  if (text[0] == '[')
    {
      const char *close = strchr (text, ']');

      if (close == NULL || close[1] != ':')
        {
          g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                       "“%s” is not of the form [ADDRESS]:PORT", text);
          return FALSE;
        }
      host = g_strndup (text + 1, (gsize) (close - text - 1));
      port_text = close + 2;

      address = g_inet_address_new_from_string (host);
      if (address == NULL || g_inet_address_get_family (address) != G_SOCKET_FAMILY_IPV6)
        {
          g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT, "“%s” is not an IPv6 address",
                       host);
          return FALSE;
        }
    }
  else
    {
      const char *colon = strrchr (text, ':');

      if (colon == NULL)
        {
          g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                       "“%s” is not of the form ADDRESS:PORT", text);
          return FALSE;
        }
      host = g_strndup (text, (gsize) (colon - text));
      port_text = colon + 1;

      if (strchr (host, ':') != NULL)
        {
          g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                       "IPv6 addresses need brackets, as in [%s]:PORT", host);
          return FALSE;
        }

      if (host[0] != '\0' && strcmp (host, "*") != 0)
        {
          address = parse_ip_or_localhost (host);
          if (address == NULL)
            {
              g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT, "“%s” is not an IP address",
                           host);
              return FALSE;
            }
        }
    }

  if (!parse_port (port_text, out_port, error))
    return FALSE;

  *out_address = g_steal_pointer (&address);
  return TRUE;
}

gboolean
sm_address_parse_control_bind (const char    *text,
                               char         **out_unix_path,
                               GInetAddress **out_address,
                               guint16       *out_port,
                               GError       **error)
{
  struct sockaddr_un native;
  const char        *path;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (out_unix_path != NULL, FALSE);

  if (!g_str_has_prefix (text, "unix:"))
    {
      *out_unix_path = NULL;
      return sm_address_parse_bind (text, out_address, out_port, error);
    }

  path = text + strlen ("unix:");
  if (path[0] == '\0')
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                           "“unix:” needs the path of the socket, as in unix:/run/control.sock");
      return FALSE;
    }
  /* With room for the terminating NUL, as Linux will not accept a path
   * without one everywhere */
  if (strlen (path) >= sizeof native.sun_path)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                   "socket path “%s” is longer than %zu bytes", path, sizeof native.sun_path - 1);
      return FALSE;
    }

  *out_unix_path = g_strdup (path);
  return TRUE;
}

gboolean
sm_address_parse_service (const char *text, GInetAddress **out_address, GError **error)
{
  g_autoptr (GInetAddress) address = NULL;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (out_address != NULL, FALSE);

  if (text[0] == '\0')
    {
      *out_address = NULL;
      return TRUE;
    }

  address = parse_ip_or_localhost (text);
  if (address == NULL)
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                           "address must be an IP address");
      return FALSE;
    }

  *out_address = g_steal_pointer (&address);
  return TRUE;
}

char *
sm_address_to_host (GInetAddress *address)
{
  if (address == NULL)
    return g_strdup ("*");

  return g_inet_address_to_string (address);
}

char *
sm_address_format (GInetAddress *address, guint16 port)
{
  g_autofree char *host = sm_address_to_host (address);

  if (address != NULL && g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", host, port);

  return g_strdup_printf ("%s:%u", host, port);
}

char *
sm_address_format_socket (GSocketAddress *address)
{
  GInetSocketAddress *inet;

  if (G_IS_UNIX_SOCKET_ADDRESS (address))
    {
      const char *path = g_unix_socket_address_get_path (G_UNIX_SOCKET_ADDRESS (address));

      if (path == NULL || path[0] == '\0')
        return g_strdup ("unix");
      return g_strdup_printf ("unix:%s", path);
    }
  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("(unknown)");

  inet = G_INET_SOCKET_ADDRESS (address);
  return sm_address_format (g_inet_socket_address_get_address (inet),
                            g_inet_socket_address_get_port (inet));
}

char *
sm_address_source_key (GSocketAddress *address)
{
  GInetAddress *inet;
  const guint8 *bytes;
  guint8        prefix[16] = { 0 };
  g_autoptr (GInetAddress) network = NULL;
  g_autofree char *text = NULL;

  if (G_IS_UNIX_SOCKET_ADDRESS (address))
    return g_strdup ("unix");
  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("(unknown)");

  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
  if (g_inet_address_get_family (inet) != G_SOCKET_FAMILY_IPV6)
    return g_inet_address_to_string (inet);

  bytes = g_inet_address_to_bytes (inet);
  /* ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket */
  if (memcmp (bytes, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
    return g_strdup_printf ("%u.%u.%u.%u", bytes[12], bytes[13], bytes[14], bytes[15]);
  if (g_inet_address_get_is_loopback (inet))
    return g_inet_address_to_string (inet);

  /* One IPv6 host usually holds a whole /64 */
  memcpy (prefix, bytes, 8);
  network = g_inet_address_new_from_bytes (prefix, G_SOCKET_FAMILY_IPV6);
  text = g_inet_address_to_string (network);
  return g_strdup_printf ("%s/64", text);
}
