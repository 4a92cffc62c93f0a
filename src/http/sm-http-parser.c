/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-http-parser.h"
#include "sm-http-private.h"

/* Parsing request and response heads (found by sm-http-head-scanner.c) */

/* g_debug() formats its message even when debug output is off, and the
 * parsers run for every message a proxy relays: ask once per process */
static gboolean
tracing (void)
{
  static gsize state = 0; /* 1: off, 2: on */

  if (g_once_init_enter (&state))
    g_once_init_leave (&state,
                       g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN) ? 1 : 2);
  return state == 2;
}

/* Common head parsing ------------------------------------------------------ */

/* The parsers take a head found by sm_http_find_head_end(), but check it
 * again so that they are safe on any input (fuzzing, misuse); the result is
 * a NUL-terminated copy with the final empty line cut off, as libsoup wants. */
static char *
copy_head (const guint8 *head, gsize head_len, gsize *out_len, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  gsize found = 0;

  if (head_len > G_MAXINT)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TOO_LARGE, "HTTP head too large");
      return NULL;
    }
  switch (sm_http_find_head_end (NULL, head, head_len, G_MAXSIZE, &found, &local_error))
    {
    case SM_HTTP_COMPLETE:
      if (found == head_len)
        break;
      G_GNUC_FALLTHROUGH;
    case SM_HTTP_NEED_MORE:
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Not exactly one HTTP head");
      return NULL;
    case SM_HTTP_ERROR:
    default:
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  /* Cut the final "\n" or "\r\n"; the last field line keeps its own */
  *out_len = head_len - (head[head_len - 2] == '\r' ? 2 : 1);
  return g_strndup ((const char *) head, *out_len);
}

static const char *
skip_empty_lines (const char *text)
{
  while (*text == '\r' || *text == '\n')
    text++;
  return text;
}

/* Parses "HTTP/1.x" at *p; FALSE with @error if absent or another version */
static gboolean
parse_version (const char **p, SoupHTTPVersion *version, guint *out_status, GError **error)
{
  const char *v = *p;

  if (strncmp (v, "HTTP/", 5) != 0 || !g_ascii_isdigit (v[5]) || v[6] != '.' ||
      !g_ascii_isdigit (v[7]))
    {
      *out_status = SOUP_STATUS_BAD_REQUEST;
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Invalid HTTP version");
      return FALSE;
    }
  if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
    {
      *out_status = SOUP_STATUS_HTTP_VERSION_NOT_SUPPORTED;
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT, "Unsupported HTTP version %.8s", v);
      return FALSE;
    }
  *version = v[7] == '0' ? SOUP_HTTP_1_0 : SOUP_HTTP_1_1;
  *p = v + 8;
  return TRUE;
}

static gboolean
is_line_end (const char *p)
{
  return p[0] == '\n' || (p[0] == '\r' && p[1] == '\n');
}

/* libsoup silently drops field lines it cannot parse, and a server behind
 * us might not: "Content-Length : 5" must be an error, not ignored. */
static gboolean
check_field_lines (const char *text, GError **error)
{
  const char *p = strchr (text, '\n') + 1;

  while (*p != '\0')
    {
      const char *name = p;

      while (sm_http_is_tchar (*p))
        p++;
      if (p == name || *p != ':')
        {
          g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL,
                       "Invalid HTTP field line (name is not a token followed by ':')");
          return FALSE;
        }
      p = strchr (p, '\n') + 1;
    }
  return TRUE;
}

typedef struct
{
  const char *name;
  guint       count;
  const char *value;
} FieldCount;

static void
count_field (const char *name, const char *value, gpointer user_data)
{
  FieldCount *field = user_data;

  if (g_ascii_strcasecmp (name, field->name) == 0)
    {
      field->count++;
      field->value = value;
    }
}

/* Each field line counts: "Content-Length: 5" twice is two values */
static FieldCount
find_field (SoupMessageHeaders *headers, const char *name)
{
  FieldCount field = { name, 0, NULL };

  soup_message_headers_foreach (headers, count_field, &field);
  return field;
}

/* Content-Length = 1*DIGIT, once: lists and repeats are refused even when
 * equal, so that what we forward can only be read one way. */
static gboolean
parse_content_length (SoupMessageHeaders *headers,
                      gboolean           *present,
                      guint64            *length,
                      GError            **error)
{
  FieldCount field = find_field (headers, "Content-Length");
  guint64    value = 0;

  *present = field.count > 0;
  *length = 0;
  if (field.count == 0)
    return TRUE;
  if (field.count > 1)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "More than one Content-Length");
      return FALSE;
    }
  if (*field.value == '\0')
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Empty Content-Length");
      return FALSE;
    }
  for (const char *p = field.value; *p != '\0'; p++)
    {
      guint digit;

      if (!g_ascii_isdigit (*p))
        {
          g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Invalid Content-Length");
          return FALSE;
        }
      digit = *p - '0';
      if (value > ((guint64) G_MAXINT64 - digit) / 10)
        {
          g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Content-Length overflows");
          return FALSE;
        }
      value = value * 10 + digit;
    }
  *length = value;
  return TRUE;
}

/* Checks a Transfer-Encoding list; *chunked_final tells whether the last
 * coding is chunked, *n_codings how many named codings were read. chunked
 * anywhere else, or with parameters, is an error: a sender must apply it
 * once and last (RFC 9112 §6.1). */
static gboolean
parse_transfer_encoding (const char *value,
                         gboolean   *chunked_final,
                         guint      *n_codings,
                         GError    **error)
{
  GSList  *codings = soup_header_parse_list (value);
  gboolean ok = codings != NULL;

  *chunked_final = FALSE;
  *n_codings = 0;
  for (GSList *l = codings; l != NULL && ok; l = l->next)
    {
      const char      *coding = l->data;
      g_autofree char *name = g_strndup (coding, strcspn (coding, ";"));

      g_strchomp (name);
      if (!sm_http_is_token (name))
        {
          ok = FALSE;
          break;
        }
      if (g_ascii_strcasecmp (name, "chunked") == 0)
        ok = l->next == NULL && strcmp (name, coding) == 0;
      *chunked_final = ok && l->next == NULL && g_ascii_strcasecmp (coding, "chunked") == 0;
      (*n_codings)++;
    }
  soup_header_free_list (codings);

  if (!ok)
    g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Invalid Transfer-Encoding");
  return ok;
}

/* Connection may not name framing fields: stripping it before forwarding
 * would change how the next hop reads the message. */
static gboolean
check_connection_options (SoupMessageHeaders *headers, GError **error)
{
  static const char *const framing[] = { "Content-Length", "Transfer-Encoding", "Host" };

  /* Each search below looks the field up again: most heads have none */
  if (soup_message_headers_get_list (headers, "Connection") == NULL)
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (framing); i++)
    {
      if (soup_message_headers_header_contains (headers, "Connection", framing[i]))
        {
          g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Connection names the %s field",
                       framing[i]);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
wants_keep_alive (SoupMessageHeaders *headers, SoupHTTPVersion version)
{
  if (soup_message_headers_get_list (headers, "Connection") == NULL)
    return version == SOUP_HTTP_1_1;
  if (soup_message_headers_header_contains (headers, "Connection", "close"))
    return FALSE;
  return version == SOUP_HTTP_1_1 ||
         soup_message_headers_header_contains (headers, "Connection", "keep-alive");
}

/* Requests ---------------------------------------------------------------- */

/* Host names as DNS has them, IPv6 literals, optional port. Stricter than
 * RFC 3986's reg-name on purpose: sub-delims and %-escapes in a name we
 * route on only invite disagreement. */
static gboolean
parse_host (const char *authority, char **out_host, GError **error)
{
  const char *p = authority;
  const char *start, *end;
  guint       port = 0, port_digits = 0;

  if (*p == '[')
    {
      start = ++p;
      while (g_ascii_isxdigit (*p) || *p == ':' || *p == '.')
        p++;
      end = p;
      if (*p++ != ']' || memchr (start, ':', end - start) == NULL)
        goto invalid;
    }
  else
    {
      start = p;
      while (g_ascii_isalnum (*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
        p++;
      end = p;
      /* "example.com." names the same host as "example.com" */
      if (end - start > 1 && end[-1] == '.')
        end--;
    }

  if (*p == ':')
    {
      if (start == end)
        goto invalid;
      for (p++; g_ascii_isdigit (*p) && port_digits < 5; p++, port_digits++)
        port = port * 10 + (*p - '0');
      if (port > 65535)
        goto invalid;
    }
  if (*p != '\0')
    goto invalid;

  *out_host = g_ascii_strdown (start, end - start);
  return TRUE;

invalid:
  g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Invalid host in HTTP request");
  return FALSE;
}

/* Fills forward_target, path and, for absolute-form, host (and Host) */
static gboolean
parse_target (SmHttpRequest *request, GError **error)
{
  const char      *target = request->target;
  const char      *authority, *authority_end;
  g_autofree char *authority_text = NULL;

  if (strchr (target, '#') != NULL)
    goto invalid;

  if (target[0] == '/')
    {
      request->forward_target = g_strdup (target);
    }
  else if (strcmp (target, "*") == 0)
    {
      if (strcmp (request->method, "OPTIONS") != 0)
        goto invalid;
      request->forward_target = g_strdup (target);
    }
  else
    {
      if (g_ascii_strncasecmp (target, "http://", 7) == 0)
        authority = target + 7;
      else if (g_ascii_strncasecmp (target, "https://", 8) == 0)
        authority = target + 8;
      else
        goto invalid;

      authority_end = authority + strcspn (authority, "/?");
      authority_text = g_strndup (authority, authority_end - authority);
      /* userinfo in an http URI is deprecated and a phishing tool
       * (RFC 9110 §4.2.4); an http URI must have a host (§4.2.1) */
      if (*authority_text == '\0' || *authority_text == ':' || strchr (authority_text, '@'))
        goto invalid;

      g_free (request->host);
      request->host = NULL;
      if (!parse_host (authority_text, &request->host, error))
        return FALSE;
      /* RFC 9112 §3.2.2: the target's authority replaces Host */
      soup_message_headers_replace (request->headers, "Host", authority_text);

      if (*authority_end == '/')
        request->forward_target = g_strdup (authority_end);
      else
        request->forward_target = g_strconcat ("/", authority_end, NULL);
    }

  request->path = g_strndup (request->forward_target, strcspn (request->forward_target, "?"));
  return TRUE;

invalid:
  g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Invalid HTTP request-target");
  return FALSE;
}

/* method SP request-target SP HTTP-version, single spaces, nothing else */
static gboolean
parse_request_line (const char *line, SmHttpRequest *request, guint *out_status, GError **error)
{
  const char *p = line;
  const char *method = p, *target;

  while (sm_http_is_tchar (*p))
    p++;
  if (p == method || *p != ' ')
    goto invalid;
  request->method = g_strndup (method, p - method);

  target = ++p;
  while (*p > 0x20 && *p < 0x7f)
    p++;
  if (p == target || *p != ' ')
    goto invalid;
  request->target = g_strndup (target, p - target);

  p++;
  if (!parse_version (&p, &request->version, out_status, error))
    return FALSE;
  if (!is_line_end (p))
    goto invalid;
  return TRUE;

invalid:
  *out_status = SOUP_STATUS_BAD_REQUEST;
  g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Invalid HTTP request line");
  return FALSE;
}

static gboolean
parse_request_framing (SmHttpRequest *request, guint *out_status, GError **error)
{
  const char *transfer_encoding;
  gboolean    has_length, chunked_final;
  guint       n_codings;

  if (!parse_content_length (request->headers, &has_length, &request->content_length, error))
    return FALSE;

  transfer_encoding = soup_message_headers_get_list (request->headers, "Transfer-Encoding");
  if (transfer_encoding != NULL)
    {
      if (request->version == SOUP_HTTP_1_0)
        {
          g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL,
                       "Transfer-Encoding in an HTTP/1.0 request");
          return FALSE;
        }
      if (has_length)
        {
          g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL,
                       "Both Content-Length and Transfer-Encoding");
          return FALSE;
        }
      /* chunked misplaced is a coding we do not implement either */
      if (!parse_transfer_encoding (transfer_encoding, &chunked_final, &n_codings, NULL) ||
          !chunked_final || n_codings != 1)
        {
          /* Only chunked alone, as nginx: a service could decode other
           * codings differently from us and frame the body otherwise */
          if (n_codings == 0)
            {
              g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Invalid Transfer-Encoding");
              return FALSE;
            }
          *out_status = SOUP_STATUS_NOT_IMPLEMENTED;
          g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                       "Transfer coding of a request other than chunked alone: %s",
                       transfer_encoding);
          return FALSE;
        }
      request->body = SM_HTTP_BODY_CHUNKED;
    }
  else
    {
      request->body = request->content_length > 0 ? SM_HTTP_BODY_LENGTH : SM_HTTP_BODY_NONE;
    }
  return TRUE;
}

gboolean
sm_http_request_parse (const guint8   *head,
                       gsize           head_len,
                       SmHttpRequest **out_request,
                       guint          *out_status,
                       GError        **error)
{
  g_autoptr (SmHttpRequest) request = g_new0 (SmHttpRequest, 1);
  g_autofree char *text = NULL;
  FieldCount       host;
  SoupHTTPVersion  soup_version;
  gsize            text_len;
  guint            status_unused, soup_status;

  if (out_status == NULL)
    out_status = &status_unused;
  *out_status = SOUP_STATUS_BAD_REQUEST;
  request->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);

  text = copy_head (head, head_len, &text_len, error);
  if (text == NULL)
    return FALSE;
  if (!parse_request_line (skip_empty_lines (text), request, out_status, error))
    return FALSE;
  if (g_ascii_strcasecmp (request->method, "CONNECT") == 0)
    {
      *out_status = SOUP_STATUS_NOT_IMPLEMENTED;
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT, "CONNECT is not supported");
      return FALSE;
    }
  if (!check_field_lines (skip_empty_lines (text), error))
    return FALSE;

  soup_status =
      soup_headers_parse_request (text, text_len, request->headers, NULL, NULL, &soup_version);
  if (soup_status == SOUP_STATUS_EXPECTATION_FAILED)
    {
      *out_status = soup_status;
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT, "Unsupported expectation");
      return FALSE;
    }
  if (soup_status != SOUP_STATUS_OK || soup_version != request->version)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Invalid HTTP request head");
      return FALSE;
    }

  /* RFC 9112 §3.2: one Host, required in HTTP/1.1 even with absolute-form */
  host = find_field (request->headers, "Host");
  if (host.count > 1 || (host.count == 0 && request->version == SOUP_HTTP_1_1))
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL,
                   host.count > 1 ? "More than one Host field" : "Missing Host field");
      return FALSE;
    }
  if (host.count == 1)
    {
      if (!parse_host (host.value, &request->host, error))
        return FALSE;
    }
  else
    {
      request->host = g_strdup ("");
    }

  if (!parse_target (request, error) || !check_connection_options (request->headers, error) ||
      !parse_request_framing (request, out_status, error))
    return FALSE;

  request->keep_alive = wants_keep_alive (request->headers, request->version);
  /* HTTP/1.0 recipients ignore both (RFC 9110 §10.1.1, RFC 9110 §7.8) */
  if (request->version == SOUP_HTTP_1_1)
    {
      const char *upgrade = soup_message_headers_get_one (request->headers, "Upgrade");

      request->expect_continue =
          soup_message_headers_header_contains (request->headers, "Expect", "100-continue");
      request->upgrade =
          soup_message_headers_header_contains (request->headers, "Connection", "upgrade") &&
          upgrade != NULL && *upgrade != '\0';
    }

  if (G_UNLIKELY (tracing ()))
    g_debug ("HTTP request %s %s host '%s' body %d", request->method, request->target,
             request->host, request->body);
  *out_status = SOUP_STATUS_OK;
  *out_request = g_steal_pointer (&request);
  return TRUE;
}

void
sm_http_request_free (SmHttpRequest *request)
{
  if (request == NULL)
    return;
  g_free (request->method);
  g_free (request->target);
  g_free (request->forward_target);
  g_free (request->path);
  g_free (request->host);
  g_clear_pointer (&request->headers, soup_message_headers_unref);
  g_free (request);
}

/* Responses --------------------------------------------------------------- */

/* HTTP-version SP 3DIGIT [SP reason]; a missing reason is common enough */
static gboolean
check_status_line (const char *line, GError **error)
{
  const char     *p = line;
  SoupHTTPVersion version;
  guint           status_unused;

  if (!parse_version (&p, &version, &status_unused, NULL) || p[0] != ' ' ||
      !g_ascii_isdigit (p[1]) || !g_ascii_isdigit (p[2]) || !g_ascii_isdigit (p[3]) || p[1] < '1' ||
      p[1] > '5' || (p[4] != ' ' && !is_line_end (p + 4)))
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Invalid HTTP status line");
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_response_framing (SmHttpResponse *response, const char *request_method, GError **error)
{
  const char *transfer_encoding;
  gboolean    has_length, chunked_final;
  guint       n_codings;
  guint       status = response->status;

  if (!parse_content_length (response->headers, &has_length, &response->content_length, error))
    return FALSE;
  transfer_encoding = soup_message_headers_get_list (response->headers, "Transfer-Encoding");
  if (transfer_encoding != NULL && response->version == SOUP_HTTP_1_0)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Transfer-Encoding in an HTTP/1.0 response");
      return FALSE;
    }

  /* RFC 9112 §6.3, in order */
  response->body = SM_HTTP_BODY_NONE;
  if (g_strcmp0 (request_method, "HEAD") == 0 || status < 200 || status == 204 || status == 304)
    return TRUE;
  if (g_strcmp0 (request_method, "CONNECT") == 0 && status < 300)
    {
      response->tunnel = TRUE;
      return TRUE;
    }
  if (transfer_encoding != NULL)
    {
      if (!parse_transfer_encoding (transfer_encoding, &chunked_final, &n_codings, error))
        return FALSE;
      if (chunked_final)
        {
          /* Chunked wins; forwarding the stale length would let the next
           * hop frame the message differently */
          response->body = SM_HTTP_BODY_CHUNKED;
          response->content_length = 0;
          soup_message_headers_remove (response->headers, "Content-Length");
        }
      else
        {
          response->body = SM_HTTP_BODY_UNTIL_CLOSE;
        }
    }
  else if (has_length)
    {
      response->body = response->content_length > 0 ? SM_HTTP_BODY_LENGTH : SM_HTTP_BODY_NONE;
    }
  else
    {
      response->body = SM_HTTP_BODY_UNTIL_CLOSE;
    }
  return TRUE;
}

gboolean
sm_http_response_parse (const guint8    *head,
                        gsize            head_len,
                        const char      *request_method,
                        SmHttpResponse **out_response,
                        GError         **error)
{
  g_autoptr (SmHttpResponse) response = g_new0 (SmHttpResponse, 1);
  g_autofree char *text = NULL;
  gsize            text_len;

  response->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  text = copy_head (head, head_len, &text_len, error);
  if (text == NULL || !check_status_line (skip_empty_lines (text), error) ||
      !check_field_lines (skip_empty_lines (text), error))
    return FALSE;

  if (!soup_headers_parse_response (text, text_len, response->headers, &response->version,
                                    &response->status, &response->reason))
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "Invalid HTTP response head");
      return FALSE;
    }
  if (!check_connection_options (response->headers, error) ||
      !parse_response_framing (response, request_method, error))
    return FALSE;

  response->informational = response->status < 200 && response->status != 101;
  response->switching_protocols = response->status == 101;
  response->tunnel = response->tunnel || response->switching_protocols;
  response->keep_alive = !response->tunnel && response->body != SM_HTTP_BODY_UNTIL_CLOSE &&
                         wants_keep_alive (response->headers, response->version);

  if (G_UNLIKELY (tracing ()))
    g_debug ("HTTP response %u body %d keep-alive %d", response->status, response->body,
             response->keep_alive);
  *out_response = g_steal_pointer (&response);
  return TRUE;
}

void
sm_http_response_free (SmHttpResponse *response)
{
  if (response == NULL)
    return;
  g_free (response->reason);
  g_clear_pointer (&response->headers, soup_message_headers_unref);
  g_free (response);
}
