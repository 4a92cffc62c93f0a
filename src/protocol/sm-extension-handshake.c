/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "sm-extension-handshake.h"
#include "sm-json-text.h"
#include "sm-socket-definition-private.h"

/* "\x80SMX", then the version as a 32-bit big-endian number */
static const guint8 extension_magic[SM_EXTENSION_MAGIC_SIZE] = {
  0x80, 'S', 'M', 'X', 0, 0, 0, SM_EXTENSION_VERSION,
};

/* Unknown keys are quoted back, cut to this many characters */
#define MAX_KEY_IN_MESSAGE 64

#define REQUEST_CONTEXT  "invalid handshake"
#define RESPONSE_CONTEXT "invalid handshake response"

typedef struct
{
  SmError     code;
  const char *wire;
} CodeEntry;

/* PROTOCOL.md §7; the first entry of a wire code is what it parses back to */
static const CodeEntry code_entries[] = {
  { SM_ERROR_INVALID_ARGUMENT, "malformed" },
  { SM_ERROR_PROTOCOL, "malformed" },
  { SM_ERROR_TOO_LARGE, "malformed" },
  { SM_ERROR_ADDRESS_NOT_AVAILABLE, "malformed" },
  { SM_ERROR_UNSUPPORTED, "unsupported" },
  { SM_ERROR_UNAUTHORIZED, "unauthorized" },
  { SM_ERROR_PERMISSION_DENIED, "permission-denied" },
  { SM_ERROR_ROUTE_OWNED, "route-owned" },
  { SM_ERROR_ADDRESS_IN_USE, "port-in-use" },
  { SM_ERROR_CONFLICT, "mode-conflict" },
  { SM_ERROR_TLS, "bad-certificate" },
  { SM_ERROR_LIMIT, "limit" },
};

/* What is left (shutting down, failing to listen for another reason): the
 * daemon cannot take the registration now, and a later try may succeed */
#define FALLBACK_CODE "limit"

gboolean
sm_extension_is_request (const guint8 *data, gsize len)
{
  g_return_val_if_fail (data != NULL && len >= 1, FALSE);

  return data[0] == extension_magic[0];
}

SmExtensionRequest *
sm_extension_request_new (SmSocketDefinition *definition)
{
  SmExtensionRequest *request;

  g_return_val_if_fail (definition != NULL, NULL);

  request = g_new0 (SmExtensionRequest, 1);
  request->definition = definition;
  return request;
}

void
sm_extension_request_free (SmExtensionRequest *request)
{
  if (request == NULL)
    return;

  g_clear_pointer (&request->definition, sm_socket_definition_free);
  g_free (request->token);
  g_free (request->name);
  g_free (request);
}

/* --- framing --- */

/* The JSON text at @offset: a 4-byte length, then that many bytes */
static SmHandshakeResult
read_frame (const guint8 *data,
            gsize         len,
            gsize         offset,
            const char   *context,
            const char  **out_text,
            gsize        *out_text_len,
            GError      **error)
{
  guint32 length = 0;

  if (len - offset < SM_EXTENSION_LENGTH_SIZE)
    return SM_HANDSHAKE_NEED_MORE;

  for (guint i = 0; i < SM_EXTENSION_LENGTH_SIZE; i++)
    length = (length << 8) | data[offset + i];
  offset += SM_EXTENSION_LENGTH_SIZE;

  if (length > SM_EXTENSION_MAX_LENGTH)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TOO_LARGE,
                   "%s: the JSON text is %" G_GUINT32_FORMAT " bytes long, limit is %d", context,
                   length, SM_EXTENSION_MAX_LENGTH);
      return SM_HANDSHAKE_ERROR;
    }
  if (len - offset < length)
    return SM_HANDSHAKE_NEED_MORE;

  *out_text = (const char *) data + offset;
  *out_text_len = length;
  return SM_HANDSHAKE_COMPLETE;
}

static void
append_frame (GByteArray *out, const char *text, gsize text_len)
{
  guint8 length[SM_EXTENSION_LENGTH_SIZE];

  for (guint i = 0; i < SM_EXTENSION_LENGTH_SIZE; i++)
    length[i] = (text_len >> (8 * (SM_EXTENSION_LENGTH_SIZE - 1 - i))) & 0xff;

  g_byte_array_append (out, length, sizeof length);
  g_byte_array_append (out, (const guint8 *) text, text_len);
}

static void
append_object (GByteArray *out, JsonObject *object)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *text = NULL;
  gsize            text_len = 0;

  json_node_set_object (root, object);
  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, &text_len);
  append_frame (out, text, text_len);
}

static gboolean
fail_text (GError **error, const char *context, const char *why)
{
  g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "%s: %s", context, why);
  return FALSE;
}

/* --- request --- */

typedef struct
{
  const char *key;
  gsize       limit; /* strings only */
} KeyRule;

static const KeyRule top_keys[] = {
  { "port", 0 },
  { "address", SM_HANDSHAKE_MAX_STRING },
  { "http", 0 },
  { "tls", 0 },
  { "proxy_protocol", 0 },
  { "token", SM_HANDSHAKE_MAX_STRING },
  { "name", SM_HANDSHAKE_MAX_STRING },
  { NULL, 0 },
};
static const KeyRule http_keys[] = {
  { "domain_suffix", SM_HANDSHAKE_MAX_STRING },
  { "path_prefix", SM_HANDSHAKE_MAX_STRING },
  { NULL, 0 },
};
static const KeyRule tls_keys[] = {
  { "cert", SM_HANDSHAKE_MAX_PEM },
  { "key", SM_HANDSHAKE_MAX_PEM },
  { NULL, 0 },
};

static const KeyRule *
find_key (const KeyRule *rules, const char *key)
{
  for (; rules->key != NULL; rules++)
    if (strcmp (rules->key, key) == 0)
      return rules;
  return NULL;
}

/* A key we do not know is `unsupported`, whatever else is wrong: a client
 * newer than us learns that first */
static gboolean
check_keys (JsonObject *object, const KeyRule *rules, const char *where, GError **error)
{
  JsonObjectIter iter;
  const char    *key;

  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &key, NULL))
    {
      g_autofree char *shown = NULL;

      if (find_key (rules, key) != NULL)
        continue;

      shown = g_utf8_substring (key, 0, MIN (g_utf8_strlen (key, -1), MAX_KEY_IN_MESSAGE));
      g_set_error (error, SM_ERROR, SM_ERROR_UNSUPPORTED, "%s: unknown key “%s”%s", REQUEST_CONTEXT,
                   shown, where);
      return FALSE;
    }
  return TRUE;
}

/* The object under @key of @object, if any; FALSE on error */
static gboolean
get_object (JsonObject    *object,
            const char    *key,
            const KeyRule *rules,
            const char    *where,
            JsonObject   **out,
            GError       **error)
{
  JsonNode *node = json_object_get_member (object, key);

  *out = NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "%s: %s must be an object", REQUEST_CONTEXT,
                   key);
      return FALSE;
    }

  *out = json_node_get_object (node);
  return check_keys (*out, rules, where, error);
}

/* The string under @key, or @fallback when absent; FALSE on error */
static gboolean
get_string (JsonObject    *object,
            const KeyRule *rules,
            const char    *key,
            const char    *fallback,
            char         **out,
            GError       **error)
{
  JsonNode   *node = json_object_get_member (object, key);
  const char *value;
  gsize       limit = find_key (rules, key)->limit;

  if (node == NULL)
    {
      *out = g_strdup (fallback);
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "%s: %s must be a string", REQUEST_CONTEXT,
                   key);
      return FALSE;
    }

  value = json_node_get_string (node);
  if (strlen (value) > limit)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TOO_LARGE,
                   "%s: %s is %" G_GSIZE_FORMAT " bytes long, limit is %" G_GSIZE_FORMAT,
                   REQUEST_CONTEXT, key, strlen (value), limit);
      return FALSE;
    }

  *out = g_strdup (value);
  return TRUE;
}

/* The integer under @key (0 when absent) within @min..@max */
static gboolean
get_integer (JsonObject *object,
             const char *key,
             gint64      min,
             gint64      max,
             guint      *out,
             GError    **error)
{
  JsonNode *node = json_object_get_member (object, key);
  gint64    value;

  *out = 0;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "%s: %s must be an integer", REQUEST_CONTEXT,
                   key);
      return FALSE;
    }

  value = json_node_get_int (node);
  if (value < min || value > max)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                   "%s: %s %" G_GINT64_FORMAT " is out of range %" G_GINT64_FORMAT
                   "-%" G_GINT64_FORMAT,
                   REQUEST_CONTEXT, key, value, min, max);
      return FALSE;
    }

  *out = value;
  return TRUE;
}

static SmExtensionRequest *
request_from_object (JsonObject *object, guint n_members, GError **error)
{
  g_autoptr (SmExtensionRequest) request = NULL;
  JsonObject         *http = NULL;
  JsonObject         *tls = NULL;
  guint               port;
  SmSocketDefinition *def;

  if (!check_keys (object, top_keys, "", error) ||
      !get_object (object, "http", http_keys, " in http", &http, error) ||
      !get_object (object, "tls", tls_keys, " in tls", &tls, error))
    return NULL;

  /* a repeated key would leave us and a peer reading different values */
  if (n_members != json_object_get_size (object) +
                       (http != NULL ? json_object_get_size (http) : 0) +
                       (tls != NULL ? json_object_get_size (tls) : 0))
    {
      fail_text (error, REQUEST_CONTEXT, "a key is repeated");
      return NULL;
    }

  if (!json_object_has_member (object, "port"))
    {
      fail_text (error, REQUEST_CONTEXT, "port is missing");
      return NULL;
    }
  if (!get_integer (object, "port", 1, G_MAXUINT16, &port, error))
    return NULL;

  request = sm_extension_request_new (sm_socket_definition_new (port));
  def = request->definition;
  g_clear_pointer (&def->address, g_free);
  if (!get_string (object, top_keys, "address", "", &def->address, error) ||
      !get_integer (object, "proxy_protocol", 1, 2, &request->proxy_protocol, error) ||
      !get_string (object, top_keys, "token", NULL, &request->token, error) ||
      !get_string (object, top_keys, "name", NULL, &request->name, error))
    return NULL;

  if (http != NULL)
    {
      def->has_http = TRUE;
      if (!get_string (http, http_keys, "domain_suffix", "", &def->domain_suffix, error) ||
          !get_string (http, http_keys, "path_prefix", "", &def->path_prefix, error))
        return NULL;
    }

  if (tls != NULL)
    {
      if (!json_object_has_member (tls, "cert") || !json_object_has_member (tls, "key"))
        {
          fail_text (error, REQUEST_CONTEXT, "tls needs both cert and key");
          return NULL;
        }
      def->has_tls = TRUE;
      if (!get_string (tls, tls_keys, "cert", NULL, &def->tls_cert, error) ||
          !get_string (tls, tls_keys, "key", NULL, &def->tls_key, error))
        return NULL;
    }

  return g_steal_pointer (&request);
}

/* Fails on a magic that differs from ours in the bytes received so far */
static SmHandshakeResult
check_magic (const guint8 *data, gsize len, GError **error)
{
  gsize   n = MIN (len, SM_EXTENSION_MAGIC_SIZE);
  guint32 version = 0;

  /* "\x80SMX" then the version */
  if (memcmp (data, extension_magic, MIN (n, 4)) != 0)
    {
      fail_text (error, REQUEST_CONTEXT, "not an extension request (bad magic)");
      return SM_HANDSHAKE_ERROR;
    }
  if (n < SM_EXTENSION_MAGIC_SIZE)
    return SM_HANDSHAKE_NEED_MORE;

  for (guint i = 4; i < SM_EXTENSION_MAGIC_SIZE; i++)
    version = (version << 8) | data[i];
  if (version != SM_EXTENSION_VERSION)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_UNSUPPORTED,
                   "%s: extension handshake version %" G_GUINT32_FORMAT
                   " is not supported, only %d",
                   REQUEST_CONTEXT, version, SM_EXTENSION_VERSION);
      return SM_HANDSHAKE_ERROR;
    }
  return SM_HANDSHAKE_COMPLETE;
}

/**
 * sm_extension_parse_request:
 * @data: (array length=len): every byte received so far
 * @len: length of @data
 * @consumed: (out) (optional): length of the request on
 *   %SM_HANDSHAKE_COMPLETE, 0 otherwise
 * @out_request: (out) (optional) (transfer full): set only on
 *   %SM_HANDSHAKE_COMPLETE
 * @error: set on %SM_HANDSHAKE_ERROR, with a message fit for the response
 *
 * Parses an extension request (docs/PROTOCOL.md §7). Nothing is allocated
 * until the whole JSON text has arrived.
 */
SmHandshakeResult
sm_extension_parse_request (const guint8        *data,
                            gsize                len,
                            gsize               *consumed,
                            SmExtensionRequest **out_request,
                            GError             **error)
{
  g_autoptr (JsonObject) object = NULL;
  SmExtensionRequest *request;
  SmHandshakeResult   result;
  const char         *text = NULL;
  gsize               text_len = 0;
  guint               n_members = 0;

  g_return_val_if_fail (data != NULL || len == 0, SM_HANDSHAKE_ERROR);
  g_return_val_if_fail (error == NULL || *error == NULL, SM_HANDSHAKE_ERROR);

  if (consumed != NULL)
    *consumed = 0;

  result = check_magic (data, len, error);
  if (result != SM_HANDSHAKE_COMPLETE)
    return result;
  result =
      read_frame (data, len, SM_EXTENSION_MAGIC_SIZE, REQUEST_CONTEXT, &text, &text_len, error);
  if (result != SM_HANDSHAKE_COMPLETE)
    return result;

  object = sm_json_text_parse_object (text, text_len, REQUEST_CONTEXT, &n_members, error);
  if (object == NULL)
    return SM_HANDSHAKE_ERROR;
  request = request_from_object (object, n_members, error);
  if (request == NULL)
    return SM_HANDSHAKE_ERROR;

  if (consumed != NULL)
    *consumed = SM_EXTENSION_MAGIC_SIZE + SM_EXTENSION_LENGTH_SIZE + text_len;
  if (out_request != NULL)
    *out_request = request;
  else
    sm_extension_request_free (request);
  return SM_HANDSHAKE_COMPLETE;
}

/**
 * sm_extension_encode_request:
 * @request: the request to send
 * @out: bytes are appended here
 *
 * Members that are absent or empty where that means the same (address,
 * token, name, proxy_protocol 0) are left out. A request over
 * %SM_EXTENSION_MAX_LENGTH is written anyway; the daemon refuses it.
 */
void
sm_extension_encode_request (const SmExtensionRequest *request, GByteArray *out)
{
  const SmSocketDefinition *def;
  g_autoptr (JsonObject) object = json_object_new ();

  g_return_if_fail (request != NULL && request->definition != NULL);
  g_return_if_fail (out != NULL);

  def = request->definition;
  json_object_set_int_member (object, "port", def->port);
  if (def->address[0] != '\0')
    json_object_set_string_member (object, "address", def->address);
  if (def->has_http)
    {
      JsonObject *http = json_object_new ();

      json_object_set_string_member (http, "domain_suffix", def->domain_suffix);
      json_object_set_string_member (http, "path_prefix", def->path_prefix);
      json_object_set_object_member (object, "http", http);
    }
  if (def->has_tls)
    {
      JsonObject *tls = json_object_new ();

      json_object_set_string_member (tls, "cert", def->tls_cert);
      json_object_set_string_member (tls, "key", def->tls_key);
      json_object_set_object_member (object, "tls", tls);
    }
  if (request->proxy_protocol != 0)
    json_object_set_int_member (object, "proxy_protocol", request->proxy_protocol);
  if (request->token != NULL)
    json_object_set_string_member (object, "token", request->token);
  if (request->name != NULL)
    json_object_set_string_member (object, "name", request->name);

  g_byte_array_append (out, extension_magic, sizeof extension_magic);
  append_object (out, object);
}

/* --- response --- */

/**
 * sm_extension_encode_response:
 * @refusal: (nullable): why the request is refused; %NULL for "ok"
 * @extra: (nullable): members to add, for information; "status", "code" and
 *   "message" in it are ignored
 * @out: bytes are appended here
 *
 * A message longer than %SM_HANDSHAKE_MAX_STATUS is cut at a character
 * boundary, as in the original format.
 */
void
sm_extension_encode_response (const GError *refusal, JsonObject *extra, GByteArray *out)
{
  g_autoptr (JsonObject) object = json_object_new ();
  JsonObjectIter iter;
  const char    *key;
  JsonNode      *value;

  g_return_if_fail (out != NULL);

  if (refusal == NULL)
    json_object_set_string_member (object, "status", "ok");
  else
    {
      gsize            len = strlen (refusal->message);
      g_autofree char *message = NULL;

      if (len > SM_HANDSHAKE_MAX_STATUS)
        {
          const char *end = refusal->message + SM_HANDSHAKE_MAX_STATUS;

          if (((guint8) *end & 0xc0) == 0x80)
            end = g_utf8_find_prev_char (refusal->message, end);
          len = end - refusal->message;
        }
      message = g_utf8_make_valid (refusal->message, len);

      json_object_set_string_member (object, "status", "error");
      json_object_set_string_member (object, "code", sm_extension_error_code (refusal));
      json_object_set_string_member (object, "message", message);
    }

  if (extra != NULL)
    {
      json_object_iter_init (&iter, extra);
      while (json_object_iter_next (&iter, &key, &value))
        if (!json_object_has_member (object, key) && strcmp (key, "code") != 0 &&
            strcmp (key, "message") != 0)
          json_object_set_member (object, key, json_node_copy (value));
    }

  append_object (out, object);
}

static const char *
get_optional_string (JsonObject *object, const char *key)
{
  JsonNode *node = json_object_get_member (object, key);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* An answer from a daemon without version 2: an original status (§4) */
static SmHandshakeResult
parse_original_response (const guint8 *data,
                         gsize         len,
                         gsize        *consumed,
                         GError      **out_refusal,
                         GError      **error)
{
  g_autofree char  *status = NULL;
  SmHandshakeResult result;

  result = sm_handshake_parse_status (data, len, consumed, &status, error);
  if (result != SM_HANDSHAKE_COMPLETE)
    return result;

  if (strcmp (status, SM_HANDSHAKE_STATUS_OK) == 0)
    {
      if (consumed != NULL)
        *consumed = 0;
      fail_text (error, RESPONSE_CONTEXT, "an original-format OK to an extension request");
      return SM_HANDSHAKE_ERROR;
    }

  if (out_refusal != NULL)
    *out_refusal = g_error_new_literal (SM_ERROR, SM_ERROR_REJECTED, status);
  return SM_HANDSHAKE_COMPLETE;
}

/**
 * sm_extension_parse_response:
 * @data: (array length=len): every byte received so far
 * @len: length of @data
 * @consumed: (out) (optional): length of the response on
 *   %SM_HANDSHAKE_COMPLETE, 0 otherwise
 * @out_response: (out) (optional) (transfer full): the JSON object, set
 *   only on %SM_HANDSHAKE_COMPLETE, and to %NULL for an original status
 * @out_refusal: (out) (optional) (transfer full): set on
 *   %SM_HANDSHAKE_COMPLETE when the daemon refused
 * @error: set on %SM_HANDSHAKE_ERROR
 *
 * Parses the daemon's answer to an extension request (docs/PROTOCOL.md §7,
 * including the note on daemons without version 2).
 */
SmHandshakeResult
sm_extension_parse_response (const guint8 *data,
                             gsize         len,
                             gsize        *consumed,
                             JsonObject  **out_response,
                             GError      **out_refusal,
                             GError      **error)
{
  static const guint8 original_prefix[SM_EXTENSION_LENGTH_SIZE] = { 0 };
  g_autoptr (JsonObject) object = NULL;
  SmHandshakeResult result;
  const char       *text = NULL;
  const char       *status;
  const char       *code;
  const char       *message;
  gsize             text_len = 0;

  g_return_val_if_fail (data != NULL || len == 0, SM_HANDSHAKE_ERROR);
  g_return_val_if_fail (error == NULL || *error == NULL, SM_HANDSHAKE_ERROR);

  if (consumed != NULL)
    *consumed = 0;
  if (out_response != NULL)
    *out_response = NULL;
  if (out_refusal != NULL)
    *out_refusal = NULL;

  if (len < SM_EXTENSION_LENGTH_SIZE)
    return SM_HANDSHAKE_NEED_MORE;
  if (memcmp (data, original_prefix, sizeof original_prefix) == 0)
    return parse_original_response (data, len, consumed, out_refusal, error);

  result = read_frame (data, len, 0, RESPONSE_CONTEXT, &text, &text_len, error);
  if (result != SM_HANDSHAKE_COMPLETE)
    return result;

  object = sm_json_text_parse_object (text, text_len, RESPONSE_CONTEXT, NULL, error);
  if (object == NULL)
    return SM_HANDSHAKE_ERROR;

  status = get_optional_string (object, "status");
  code = get_optional_string (object, "code");
  message = get_optional_string (object, "message");
  if (g_strcmp0 (status, "error") == 0 && code != NULL)
    {
      if (out_refusal != NULL)
        *out_refusal = g_error_new_literal (SM_ERROR, sm_extension_error_from_code (code),
                                            message != NULL ? message : code);
    }
  else if (g_strcmp0 (status, "ok") != 0)
    {
      fail_text (error, RESPONSE_CONTEXT, "status is neither “ok” nor an error with a code");
      return SM_HANDSHAKE_ERROR;
    }

  if (consumed != NULL)
    *consumed = SM_EXTENSION_LENGTH_SIZE + text_len;
  if (out_response != NULL)
    *out_response = g_steal_pointer (&object);
  return SM_HANDSHAKE_COMPLETE;
}

/* --- codes --- */

/**
 * sm_extension_error_code:
 * @error: a refusal
 *
 * Returns: the wire code for @error (PROTOCOL.md §7): errors of the request
 *   are `malformed`, the daemon's own failures `limit`
 */
const char *
sm_extension_error_code (const GError *error)
{
  g_return_val_if_fail (error != NULL, FALLBACK_CODE);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
    return "port-in-use";
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
    return "permission-denied";
  if (error->domain != SM_ERROR)
    return FALLBACK_CODE;

  for (guint i = 0; i < G_N_ELEMENTS (code_entries); i++)
    if (code_entries[i].code == (SmError) error->code)
      return code_entries[i].wire;
  return FALLBACK_CODE;
}

/**
 * sm_extension_error_from_code:
 * @code: a wire code
 *
 * Returns: the #SmError for @code; %SM_ERROR_REJECTED for a code this side
 *   does not know
 */
SmError
sm_extension_error_from_code (const char *code)
{
  g_return_val_if_fail (code != NULL, SM_ERROR_REJECTED);

  for (guint i = 0; i < G_N_ELEMENTS (code_entries); i++)
    if (strcmp (code_entries[i].wire, code) == 0)
      return code_entries[i].code;
  return SM_ERROR_REJECTED;
}
