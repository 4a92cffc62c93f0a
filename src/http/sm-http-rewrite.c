/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-http-parser.h"
#include "sm-http-private.h"

/* Writing heads for forwarding, canned responses and route matching.
 * Heads are written for every request and response a proxy relays: plain
 * appends, no printf formatting. */

static void
write_field (const char *name, const char *value, gpointer user_data)
{
  GString *out = user_data;
  gsize    name_len = strlen (name);
  gsize    value_len = strlen (value);
  gsize    at = out->len;
  char    *p;

  /* One resize for the line, where four appends would each check */
  g_string_set_size (out, at + name_len + value_len + 4);
  p = out->str + at;
  memcpy (p, name, name_len);
  p += name_len;
  *p++ = ':';
  *p++ = ' ';
  memcpy (p, value, value_len);
  p += value_len;
  *p++ = '\r';
  *p = '\n';
}

static void
append_uint (GString *out, guint value)
{
  char  digits[16];
  gsize start = sizeof digits;

  do
    {
      digits[--start] = (char) ('0' + value % 10);
      value /= 10;
    }
  while (value > 0);
  g_string_append_len (out, digits + start, sizeof digits - start);
}

void
sm_http_request_write_head (const SmHttpRequest *request, GString *out)
{
  g_string_append (out, request->method);
  g_string_append_c (out, ' ');
  g_string_append (out, request->forward_target);
  g_string_append (out, request->version == SOUP_HTTP_1_0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  soup_message_headers_foreach (request->headers, write_field, out);
  g_string_append_len (out, "\r\n", 2);
}

void
sm_http_response_write_head (const SmHttpResponse *response, GString *out)
{
  g_string_append_len (out, "HTTP/1.1 ", 9);
  append_uint (out, response->status);
  g_string_append_c (out, ' ');
  if (response->reason != NULL)
    g_string_append (out, response->reason);
  g_string_append_len (out, "\r\n", 2);
  soup_message_headers_foreach (response->headers, write_field, out);
  g_string_append_len (out, "\r\n", 2);
}

static gboolean
is_framing_field (const char *name)
{
  return g_ascii_strcasecmp (name, "Content-Length") == 0 ||
         g_ascii_strcasecmp (name, "Transfer-Encoding") == 0 ||
         g_ascii_strcasecmp (name, "Host") == 0;
}

static const char *const hop_by_hop[] = {
  "Connection",         "Keep-Alive",          "Proxy-Connection", "TE",
  "Proxy-Authenticate", "Proxy-Authorization", "Upgrade",
};

/* One pass over the fields: most heads have none of the fields a rewrite
 * looks for, and each lookup, removal or replacement by name costs a
 * search of its own. */
static gboolean
has_any_field (SoupMessageHeaders *headers, const char *const *names, guint n_names)
{
  SoupMessageHeadersIter iter;
  const char            *name, *value;

  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      gsize name_len = strlen (name);

      /* The lengths first: cheaper than a call per name */
      for (guint i = 0; i < n_names; i++)
        {
          if (name_len == strlen (names[i]) && g_ascii_strcasecmp (name, names[i]) == 0)
            return TRUE;
        }
    }
  return FALSE;
}

void
sm_http_strip_hop_by_hop (SoupMessageHeaders *headers, gboolean upgrade)
{
  const char *connection;

  /* Fields that Connection names only count when Connection is there */
  if (!has_any_field (headers, hop_by_hop, G_N_ELEMENTS (hop_by_hop)))
    {
      if (upgrade)
        soup_message_headers_append (headers, "Connection", "upgrade");
      return;
    }

  connection = soup_message_headers_get_list (headers, "Connection");

  if (connection != NULL)
    {
      /* A copy: removing fields invalidates @connection */
      GSList *options = soup_header_parse_list (connection);

      for (GSList *l = options; l != NULL; l = l->next)
        {
          const char *option = l->data;

          if (is_framing_field (option) || !sm_http_is_token (option) ||
              (upgrade && g_ascii_strcasecmp (option, "Upgrade") == 0))
            continue;
          soup_message_headers_remove (headers, option);
        }
      soup_header_free_list (options);
    }

  for (guint i = 0; i < G_N_ELEMENTS (hop_by_hop); i++)
    {
      if (upgrade && strcmp (hop_by_hop[i], "Upgrade") == 0)
        continue;
      soup_message_headers_remove (headers, hop_by_hop[i]);
    }
  if (upgrade)
    soup_message_headers_append (headers, "Connection", "upgrade");
}

/* Rewrites the list field @name without the elements named @element
 * (ASCII case-insensitive, before any "/version" or ";parameters"); the
 * field goes when nothing is left. *out_left tells whether something is. */
static gboolean
remove_list_element (SoupMessageHeaders *headers,
                     const char         *name,
                     const char         *element,
                     gboolean           *out_left)
{
  const char *value = soup_message_headers_get_list (headers, name);
  g_autoptr (GString) kept = g_string_new (NULL);
  gboolean removed = FALSE;
  GSList  *items;

  *out_left = value != NULL;
  if (value == NULL)
    return FALSE;
  items = soup_header_parse_list (value);
  for (GSList *l = items; l != NULL; l = l->next)
    {
      const char *item = l->data;
      gsize       name_len = strcspn (item, "/; \t");

      if (name_len == strlen (element) && g_ascii_strncasecmp (item, element, name_len) == 0)
        {
          removed = TRUE;
          continue;
        }
      if (kept->len > 0)
        g_string_append_len (kept, ", ", 2);
      g_string_append (kept, item);
    }
  soup_header_free_list (items);

  if (!removed)
    return FALSE;
  *out_left = kept->len > 0;
  if (kept->len == 0)
    soup_message_headers_remove (headers, name);
  else
    soup_message_headers_replace (headers, name, kept->str);
  return TRUE;
}

void
sm_http_request_strip_h2c (SmHttpRequest *request)
{
  static const char *const h2c_fields[] = { "HTTP2-Settings", "Upgrade" };
  gboolean                 left;

  if (!has_any_field (request->headers, h2c_fields, G_N_ELEMENTS (h2c_fields)))
    return;
  soup_message_headers_remove (request->headers, "HTTP2-Settings");
  if (remove_list_element (request->headers, "Upgrade", "h2c", &left) && !left)
    {
      request->upgrade = FALSE;
      remove_list_element (request->headers, "Connection", "upgrade", &left);
    }
}

/* RFC 7239 §4: value = token / quoted-string */
static void
append_forwarded_value (GString *out, const char *value)
{
  if (sm_http_is_token (value))
    {
      g_string_append (out, value);
      return;
    }
  g_string_append_c (out, '"');
  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_c (out, '\\');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

/* @maybe_present: FALSE when the head is known to have no field @name,
 * which then needs no search */
static void
set_field (SoupMessageHeaders *headers, const char *name, const char *value, gboolean maybe_present)
{
  if (maybe_present)
    soup_message_headers_replace (headers, name, value);
  else
    soup_message_headers_append (headers, name, value);
}

/* @maybe_present: as for set_field() */
static void
append_to_list_field (SoupMessageHeaders *headers,
                      const char         *name,
                      const char         *element,
                      gboolean            maybe_present)
{
  const char      *existing = maybe_present ? soup_message_headers_get_list (headers, name) : NULL;
  g_autofree char *value = NULL;

  /* The usual case: the client sent none */
  if (existing == NULL)
    {
      soup_message_headers_append (headers, name, element);
      return;
    }

  if (*existing != '\0')
    value = g_strconcat (existing, ", ", element, NULL);
  else
    value = g_strdup (element);
  soup_message_headers_replace (headers, name, value);
}

void
sm_http_add_forwarding_headers (SoupMessageHeaders *headers,
                                const char         *client_ip,
                                gboolean            https,
                                const char         *host)
{
  static const char *const forwarding_fields[] = {
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "Forwarded",
  };
  const char *proto = https ? "https" : "http";
  g_autoptr (GString) element = g_string_new ("for=");
  gboolean present;

  g_return_if_fail (client_ip != NULL && *client_ip != '\0');

  /* The usual case: the client sent none, and they are only appended */
  present = has_any_field (headers, forwarding_fields, G_N_ELEMENTS (forwarding_fields));
  append_to_list_field (headers, "X-Forwarded-For", client_ip, present);
  set_field (headers, "X-Forwarded-Proto", proto, present);
  if (host != NULL && *host != '\0')
    set_field (headers, "X-Forwarded-Host", host, present);
  else if (present)
    soup_message_headers_remove (headers, "X-Forwarded-Host");

  /* RFC 7239 §6: IPv6 nodes are bracketed, which then needs quoting */
  if (strchr (client_ip, ':') != NULL)
    {
      g_autofree char *bracketed = g_strdup_printf ("[%s]", client_ip);
      append_forwarded_value (element, bracketed);
    }
  else
    {
      append_forwarded_value (element, client_ip);
    }
  g_string_append (element, ";proto=");
  g_string_append (element, proto);
  if (host != NULL && *host != '\0')
    {
      g_string_append (element, ";host=");
      append_forwarded_value (element, host);
    }
  append_to_list_field (headers, "Forwarded", element->str, present);
}

static const char *
reason_phrase (guint status)
{
  static const struct
  {
    guint       status;
    const char *phrase;
  } phrases[] = {
    { 400, "Bad Request" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 408, "Request Timeout" },
    { 411, "Length Required" },
    { 413, "Content Too Large" },
    { 414, "URI Too Long" },
    { 417, "Expectation Failed" },
    { 421, "Misdirected Request" },
    { 426, "Upgrade Required" },
    { 429, "Too Many Requests" },
    { 431, "Request Header Fields Too Large" },
    { 500, "Internal Server Error" },
    { 501, "Not Implemented" },
    { 502, "Bad Gateway" },
    { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" },
    { 505, "HTTP Version Not Supported" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (phrases); i++)
    {
      if (phrases[i].status == status)
        return phrases[i].phrase;
    }
  return "Error";
}

gsize
sm_http_write_error_response (guint               status,
                              const char         *body_text,
                              gboolean            close_connection,
                              SoupMessageHeaders *extra_headers,
                              GString            *out)
{
  const char      *phrase = reason_phrase (status);
  g_autofree char *body = NULL;
  gsize            start = out->len;
  gsize            head_len;

  g_return_val_if_fail (status >= 100 && status <= 999, 0);

  if (body_text != NULL)
    body = g_strconcat (body_text, "\n", NULL);
  else
    body = g_strdup_printf ("%u %s\n", status, phrase);

  g_string_append_printf (out,
                          "HTTP/1.1 %u %s\r\n"
                          "Content-Type: text/plain; charset=utf-8\r\n"
                          "Content-Length: %" G_GSIZE_FORMAT "\r\n",
                          status, phrase, strlen (body));
  if (close_connection)
    g_string_append (out, "Connection: close\r\n");
  if (extra_headers != NULL)
    soup_message_headers_foreach (extra_headers, write_field, out);
  g_string_append (out, "\r\n");
  head_len = out->len - start;
  g_string_append (out, body);
  return head_len;
}
