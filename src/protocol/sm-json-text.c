/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-json-text.h"

/* Our schemas nest two levels; json-glib 1.6 recurses without a limit */
#define MAX_JSON_DEPTH 8
/* json-glib 1.6 wraps integers past 64 bits without an error */
#define MAX_JSON_DIGITS 18

static gboolean
fail_text (GError **error, const char *context, const char *why)
{
  g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "%s: %s", context, why);
  return FALSE;
}

/* The code unit of the \uXXXX escape at @at, or -1 */
static gint
escaped_unit (const char *text, gsize len, gsize at)
{
  gint unit = 0;

  if (len - at < 6 || text[at] != '\\' || text[at + 1] != 'u')
    return -1;
  for (gsize i = at + 2; i < at + 6; i++)
    {
      gint digit = g_ascii_xdigit_value (text[i]);

      if (digit < 0)
        return -1;
      unit = unit * 16 + digit;
    }
  return unit;
}

/* Index of the closing quote of the string opening at @start, or @len;
 * @bad_escape: an escape JSON does not have (json-glib also takes C's,
 * such as octal ones that make any byte), an escaped NUL, or a surrogate
 * out of its pair (json-glib 1.6 leaks memory on some) */
static gsize
skip_string (const char *text, gsize len, gsize start, gboolean *bad_escape)
{
  for (gsize i = start + 1; i < len; i++)
    {
      gint unit;

      if (text[i] == '"')
        return i;
      if (text[i] != '\\')
        continue;
      if (i + 1 < len && strchr ("\"\\/bfnrt", text[i + 1]) != NULL)
        {
          i++; /* the escaped character */
          continue;
        }

      unit = escaped_unit (text, len, i);
      if (unit >= 0xd800 && unit < 0xdc00)
        {
          i += 6; /* a high surrogate: its low one must follow */
          unit = escaped_unit (text, len, i);
          if (unit < 0xdc00 || unit >= 0xe000)
            unit = -1;
        }
      else if (unit >= 0xdc00 && unit < 0xe000)
        unit = -1;
      if (unit <= 0)
        {
          *bad_escape = TRUE;
          return len;
        }
      i += 5;
    }
  return len;
}

/* json-glib 1.6 accepts more than JSON (comments, single quotes, hex
 * numbers), recurses once per nesting level without a limit (a request of
 * brackets would overflow the stack), wraps integers past 64 bits, cuts a
 * string at an escaped NUL, takes C's escapes, ignores an object after the
 * first and leaks memory on some malformed text. So the text must first be
 * one plain JSON object within these bounds: outside strings only JSON's
 * punctuation, numbers and the letters of true, false and null. */
static gboolean
check_plain_json (const char *text, gsize len, const char *context, GError **error)
{
  guint    depth = 0;
  guint    digits = 0;
  gboolean bad_escape = FALSE;
  gboolean ended = FALSE;

  if (!g_utf8_validate_len (text, len, NULL))
    return fail_text (error, context, "the JSON text is not valid UTF-8");

  for (gsize i = 0; i < len; i++)
    {
      char c = text[i];

      if (ended && strchr (" \t\r\n", c) == NULL)
        return fail_text (error, context, "text follows the JSON value");
      /* only an object will do; json-glib leaks on some other values */
      if (depth == 0 && !ended && c != '{' && strchr (" \t\r\n", c) == NULL)
        return fail_text (error, context, "the JSON text is not an object");

      if (g_ascii_isdigit (c))
        {
          if (++digits > MAX_JSON_DIGITS)
            return fail_text (error, context, "a number in the JSON text is too long");
          continue;
        }
      digits = 0;

      if (c == '"')
        i = skip_string (text, len, i, &bad_escape);
      else if (c == '{' || c == '[')
        {
          if (++depth > MAX_JSON_DEPTH)
            return fail_text (error, context, "the JSON text is nested too deeply");
        }
      else if ((c == '}' || c == ']') && depth > 0)
        ended = --depth == 0;
      else if (strchr (",: \t\r\n-+.eEtrufalsn", c) == NULL || c == '\0')
        return fail_text (error, context, "the JSON text is not plain JSON");

      if (bad_escape)
        return fail_text (error, context, "a string in the JSON text has a bad escape");
    }

  return TRUE;
}

static void
on_object_member (JsonParser *parser, JsonObject *object, const char *name, guint *n_members)
{
  (*n_members)++;
}

/**
 * sm_json_text_parse_object:
 * @text: (array length=len): the JSON text, not NUL-terminated
 * @len: its length
 * @context: prefix of error messages
 * @out_n_members: (out) (optional): members of all objects as parsed,
 *   repeated keys included (compare with json_object_get_size())
 * @error: an SM_ERROR_PROTOCOL error
 *
 * Returns: (transfer full) (nullable): the object @text holds
 */
JsonObject *
sm_json_text_parse_object (const char *text,
                           gsize       len,
                           const char *context,
                           guint      *out_n_members,
                           GError    **error)
{
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GError) json_error = NULL;
  JsonNode *root;
  guint     n_members = 0;

  if (!check_plain_json (text, len, context, error))
    return NULL;

  parser = json_parser_new_immutable ();
  g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), &n_members);
  if (!json_parser_load_from_data (parser, text, len, &json_error))
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "%s: bad JSON: %s", context,
                   json_error->message);
      return NULL;
    }

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      fail_text (error, context, "the JSON text is not an object");
      return NULL;
    }

  if (out_n_members != NULL)
    *out_n_members = n_members;
  return json_object_ref (json_node_get_object (root));
}
