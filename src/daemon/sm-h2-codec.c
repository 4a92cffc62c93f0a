/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-h2-codec.h"

/* Request ------------------------------------------------------------------ */

void
sm_h2_request_head_init (SmH2RequestHead *head, gsize limit)
{
  memset (head, 0, sizeof *head);
  head->fields = g_string_new (NULL);
  head->cookie = g_string_new (NULL);
  head->limit = limit;
}

void
sm_h2_request_head_clear (SmH2RequestHead *head)
{
  g_clear_pointer (&head->method, g_free);
  g_clear_pointer (&head->scheme, g_free);
  g_clear_pointer (&head->authority, g_free);
  g_clear_pointer (&head->path, g_free);
  if (head->fields != NULL)
    g_string_free (g_steal_pointer (&head->fields), TRUE);
  if (head->cookie != NULL)
    g_string_free (g_steal_pointer (&head->cookie), TRUE);
}

static gboolean
name_is (const guint8 *name, gsize name_len, const char *literal)
{
  return name_len == strlen (literal) && memcmp (name, literal, name_len) == 0;
}

/* A pseudo-field's value; nghttp2 lets each through once */
static void
set_pseudo (char **field, const guint8 *value, gsize value_len)
{
  g_free (*field);
  *field = g_strndup ((const char *) value, value_len);
}

gboolean
sm_h2_request_head_add (SmH2RequestHead *head,
                        const guint8    *name,
                        gsize            name_len,
                        const guint8    *value,
                        gsize            value_len,
                        GError         **error)
{
  /* Counted as RFC 9113 §6.5.2 says */
  head->size += name_len + value_len + 32;
  if (head->size > head->limit)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TOO_LARGE,
                   "request header fields larger than %" G_GSIZE_FORMAT " bytes", head->limit);
      return FALSE;
    }

  if (name_len > 0 && name[0] == ':')
    {
      if (name_is (name, name_len, ":method"))
        set_pseudo (&head->method, value, value_len);
      else if (name_is (name, name_len, ":scheme"))
        set_pseudo (&head->scheme, value, value_len);
      else if (name_is (name, name_len, ":authority"))
        set_pseudo (&head->authority, value, value_len);
      else if (name_is (name, name_len, ":path"))
        set_pseudo (&head->path, value, value_len);
      return TRUE;
    }

  if (name_is (name, name_len, "cookie"))
    {
      if (head->cookie->len > 0)
        g_string_append (head->cookie, "; ");
      g_string_append_len (head->cookie, (const char *) value, (gssize) value_len);
      return TRUE;
    }
  /* :authority is the request's authority; TE is hop-by-hop */
  if ((name_is (name, name_len, "host") && head->authority != NULL) ||
      name_is (name, name_len, "te"))
    return TRUE;
  if (name_is (name, name_len, "content-length"))
    head->has_content_length = TRUE;

  g_string_append_len (head->fields, (const char *) name, (gssize) name_len);
  g_string_append (head->fields, ": ");
  g_string_append_len (head->fields, (const char *) value, (gssize) value_len);
  g_string_append (head->fields, "\r\n");
  return TRUE;
}

void
sm_h2_request_head_write (const SmH2RequestHead *head,
                          gboolean               end_stream,
                          GString               *out,
                          gboolean              *chunked)
{
  /* A missing :method or :path never gets here (nghttp2 resets the
   * stream); the parser answers a CONNECT with 501 */
  g_string_append_printf (out, "%s %s HTTP/1.1\r\n", head->method != NULL ? head->method : "GET",
                          head->path != NULL ? head->path : "/");
  if (head->authority != NULL)
    g_string_append_printf (out, "Host: %s\r\n", head->authority);
  g_string_append_len (out, head->fields->str, (gssize) head->fields->len);
  if (head->cookie->len > 0)
    g_string_append_printf (out, "Cookie: %s\r\n", head->cookie->str);

  *chunked = !end_stream && !head->has_content_length;
  if (*chunked)
    g_string_append (out, "Transfer-Encoding: chunked\r\n");
  g_string_append (out, "\r\n");
}

/* Fields ------------------------------------------------------------------- */

void
sm_h2_fields_init (SmH2Fields *fields)
{
  fields->strings = g_ptr_array_new_with_free_func (g_free);
  fields->nv = g_array_new (FALSE, TRUE, sizeof (nghttp2_nv));
}

void
sm_h2_fields_clear (SmH2Fields *fields)
{
  g_clear_pointer (&fields->strings, g_ptr_array_unref);
  g_clear_pointer (&fields->nv, g_array_unref);
}

void
sm_h2_fields_add (SmH2Fields *fields, const char *name, const char *value)
{
  char      *lower = g_ascii_strdown (name, -1);
  char      *copy = g_strdup (value);
  nghttp2_nv nv = {
    .name = (guint8 *) lower,
    .value = (guint8 *) copy,
    .namelen = strlen (lower),
    .valuelen = strlen (copy),
    .flags = NGHTTP2_NV_FLAG_NONE, /* copied: the fields go after submitting */
  };

  g_ptr_array_add (fields->strings, lower);
  g_ptr_array_add (fields->strings, copy);
  g_array_append_val (fields->nv, nv);
}

static gboolean
is_hop_by_hop (const char *name, const char *connection)
{
  static const char *const fields[] = { "Connection", "Keep-Alive",        "Proxy-Connection",
                                        "TE",         "Transfer-Encoding", "Upgrade" };

  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    if (g_ascii_strcasecmp (name, fields[i]) == 0)
      return TRUE;
  return connection != NULL && soup_header_contains (connection, name);
}

void
sm_h2_fields_set_response (SmH2Fields *fields, const SmHttpResponse *response)
{
  const char            *connection;
  SoupMessageHeadersIter iter;
  const char            *name;
  const char            *value;
  char                   status[4];

  g_snprintf (status, sizeof status, "%03u", MIN (response->status, 999));
  sm_h2_fields_add (fields, ":status", status);

  connection = soup_message_headers_get_list (response->headers, "Connection");
  soup_message_headers_iter_init (&iter, response->headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    if (!is_hop_by_hop (name, connection))
      sm_h2_fields_add (fields, name, value);
}

/* Chunked coding ----------------------------------------------------------- */

enum
{
  DECHUNK_SIZE,
  DECHUNK_DATA,
  DECHUNK_DATA_END,
  DECHUNK_TRAILERS,
  DECHUNK_DONE,
};

void
sm_h2_dechunker_init (SmH2Dechunker *dechunker)
{
  dechunker->state = DECHUNK_SIZE;
  dechunker->remaining = 0;
  dechunker->line = g_string_new (NULL);
  dechunker->trailers = g_string_new (NULL);
}

void
sm_h2_dechunker_clear (SmH2Dechunker *dechunker)
{
  if (dechunker->line != NULL)
    g_string_free (g_steal_pointer (&dechunker->line), TRUE);
  if (dechunker->trailers != NULL)
    g_string_free (g_steal_pointer (&dechunker->trailers), TRUE);
}

static gboolean
parse_size_line (SmH2Dechunker *dechunker, GError **error)
{
  const char *p = dechunker->line->str;
  guint64     size = 0;
  guint       digits = 0;

  for (; g_ascii_isxdigit (*p); p++)
    {
      if (++digits > SM_HTTP_MAX_SIZE_DIGITS)
        break;
      size = size * 16 + (guint64) g_ascii_xdigit_value (*p);
    }
  if (digits == 0 || digits > SM_HTTP_MAX_SIZE_DIGITS)
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_PROTOCOL, "bad chunk size");
      return FALSE;
    }
  g_string_truncate (dechunker->line, 0);
  dechunker->remaining = size;
  dechunker->state = size > 0 ? DECHUNK_DATA : DECHUNK_TRAILERS;
  return TRUE;
}

/* The trailer section ends with an empty line */
static gboolean
trailers_complete (SmH2Dechunker *dechunker)
{
  GString *t = dechunker->trailers;

  return (t->len == 1 && t->str[0] == '\n') || (t->len == 2 && memcmp (t->str, "\r\n", 2) == 0) ||
         g_str_has_suffix (t->str, "\n\r\n") || g_str_has_suffix (t->str, "\n\n");
}

SmHttpResult
sm_h2_dechunker_feed (SmH2Dechunker *dechunker,
                      const guint8  *in,
                      gsize          in_len,
                      guint8        *out,
                      gsize          out_len,
                      gsize         *consumed,
                      gsize         *produced,
                      GError       **error)
{
  gsize i = 0;
  gsize o = 0;

  while (i < in_len && dechunker->state != DECHUNK_DONE)
    {
      guint8 c = in[i];

      switch (dechunker->state)
        {
        case DECHUNK_SIZE:
          i++;
          if (c == '\n')
            {
              if (!parse_size_line (dechunker, error))
                goto failed;
            }
          else if (dechunker->line->len >= SM_HTTP_MAX_CHUNK_LINE)
            {
              g_set_error_literal (error, SM_ERROR, SM_ERROR_TOO_LARGE, "chunk line too long");
              goto failed;
            }
          else
            g_string_append_c (dechunker->line, (char) c);
          break;

        case DECHUNK_DATA:
          {
            gsize n = (gsize) MIN (dechunker->remaining, (guint64) MIN (in_len - i, out_len - o));

            if (n == 0)
              goto out; /* no room left in @out */
            memcpy (out + o, in + i, n);
            i += n;
            o += n;
            dechunker->remaining -= n;
            if (dechunker->remaining == 0)
              dechunker->state = DECHUNK_DATA_END;
          }
          break;

        case DECHUNK_DATA_END:
          i++;
          if (c == '\n')
            dechunker->state = DECHUNK_SIZE;
          else if (c != '\r')
            {
              g_set_error_literal (error, SM_ERROR, SM_ERROR_PROTOCOL, "bad chunk end");
              goto failed;
            }
          break;

        case DECHUNK_TRAILERS:
        default:
          i++;
          if (dechunker->trailers->len >= SM_HTTP_MAX_TRAILERS)
            {
              g_set_error_literal (error, SM_ERROR, SM_ERROR_TOO_LARGE, "trailers too large");
              goto failed;
            }
          g_string_append_c (dechunker->trailers, (char) c);
          if (c == '\n' && trailers_complete (dechunker))
            dechunker->state = DECHUNK_DONE;
          break;
        }
    }

out:
  *consumed = i;
  *produced = o;
  return dechunker->state == DECHUNK_DONE ? SM_HTTP_COMPLETE : SM_HTTP_NEED_MORE;

failed:
  *consumed = i;
  *produced = o;
  return SM_HTTP_ERROR;
}

void
sm_h2_dechunker_get_trailers (SmH2Dechunker *dechunker, SmH2Fields *fields)
{
  g_auto (GStrv) lines = g_strsplit (dechunker->trailers->str, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strchomp (lines[i]);
      char *colon = strchr (line, ':');

      /* Hop-by-hop fields have no place in trailers either */
      if (colon == NULL || colon == line)
        continue;
      *colon = '\0';
      if (strpbrk (line, " \t") != NULL || is_hop_by_hop (line, NULL))
        continue;
      sm_h2_fields_add (fields, line, g_strstrip (colon + 1));
    }
}
