/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-handshake.h"
#include "sm-socket-definition-private.h"

/* What a string field may hold; name is used in error messages */
typedef struct
{
  const char *name;
  gsize       limit;
  gboolean    must_be_utf8;
} FieldRule;

static const FieldRule address_rule = { "address", SM_HANDSHAKE_MAX_STRING, TRUE };
static const FieldRule domain_suffix_rule = { "domain suffix", SM_HANDSHAKE_MAX_STRING, TRUE };
static const FieldRule path_prefix_rule = { "path prefix", SM_HANDSHAKE_MAX_STRING, TRUE };
/* PEM is ASCII, but GnuTLS is the judge of its content; a NUL would only
 * make the C string and the wire bytes disagree, so that is all we check. */
static const FieldRule certificate_rule = { "certificate", SM_HANDSHAKE_MAX_PEM, FALSE };
static const FieldRule key_rule = { "key", SM_HANDSHAKE_MAX_PEM, FALSE };
static const FieldRule status_rule = { "status", SM_HANDSHAKE_MAX_STATUS, TRUE };

#define KNOWN_FLAGS (SM_HANDSHAKE_FLAG_HTTP | SM_HANDSHAKE_FLAG_TLS)

typedef struct
{
  const guint8 *data;
  gsize         len;
  gsize         offset;
  const char   *context; /* prefix of error messages */
} Reader;

/* A string field, pointing into the input buffer */
typedef struct
{
  const char *bytes;
  gsize       len;
} Span;

typedef struct
{
  Span    address;
  guint16 port;
  guint8  flags;
  Span    domain_suffix;
  Span    path_prefix;
  Span    certificate;
  Span    key;
} RequestFields;

static SmHandshakeResult
reader_read_byte (Reader *reader, guint8 *out)
{
  if (reader->len - reader->offset < 1)
    return SM_HANDSHAKE_NEED_MORE;

  *out = reader->data[reader->offset];
  reader->offset += 1;
  return SM_HANDSHAKE_COMPLETE;
}

static SmHandshakeResult
reader_read_uint64 (Reader *reader, guint64 *out)
{
  const guint8 *bytes;
  guint64       value = 0;

  if (reader->len - reader->offset < 8)
    return SM_HANDSHAKE_NEED_MORE;

  bytes = reader->data + reader->offset;
  for (guint i = 0; i < 8; i++)
    value = (value << 8) | bytes[i];

  *out = value;
  reader->offset += 8;
  return SM_HANDSHAKE_COMPLETE;
}

/* Checks the bytes of a string field; @complete is FALSE when only a
 * prefix of the field has arrived so far. */
static gboolean
reader_check_string (Reader          *reader,
                     const FieldRule *rule,
                     const char      *bytes,
                     gsize            len,
                     gboolean         complete,
                     GError         **error)
{
  const char *invalid;

  if (memchr (bytes, '\0', len) != NULL)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "%s: %s contains a NUL byte",
                   reader->context, rule->name);
      return FALSE;
    }

  if (!rule->must_be_utf8 || g_utf8_validate_len (bytes, len, &invalid))
    return TRUE;

  /* A prefix may end in the middle of a character that is still fine */
  if (!complete && g_utf8_get_char_validated (invalid, bytes + len - invalid) == (gunichar) -2)
    return TRUE;

  g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "%s: %s is not valid UTF-8", reader->context,
               rule->name);
  return FALSE;
}

static SmHandshakeResult
reader_read_string (Reader *reader, const FieldRule *rule, Span *out, GError **error)
{
  const char *bytes;
  guint64     length;
  gsize       available;

  if (reader_read_uint64 (reader, &length) != SM_HANDSHAKE_COMPLETE)
    return SM_HANDSHAKE_NEED_MORE;

  if (length > rule->limit)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TOO_LARGE,
                   "%s: %s is %" G_GUINT64_FORMAT " bytes long, limit is %" G_GSIZE_FORMAT,
                   reader->context, rule->name, length, rule->limit);
      return SM_HANDSHAKE_ERROR;
    }

  bytes = (const char *) reader->data + reader->offset;
  available = reader->len - reader->offset;

  if (available < length)
    {
      /* Fail on a bad prefix now rather than wait for the rest */
      if (!reader_check_string (reader, rule, bytes, available, FALSE, error))
        return SM_HANDSHAKE_ERROR;
      return SM_HANDSHAKE_NEED_MORE;
    }

  if (!reader_check_string (reader, rule, bytes, length, TRUE, error))
    return SM_HANDSHAKE_ERROR;

  out->bytes = bytes;
  out->len = length;
  reader->offset += length;
  return SM_HANDSHAKE_COMPLETE;
}

static SmHandshakeResult
reader_read_request (Reader *reader, RequestFields *fields, GError **error)
{
  SmHandshakeResult result;
  guint64           port;

  result = reader_read_string (reader, &address_rule, &fields->address, error);
  if (result != SM_HANDSHAKE_COMPLETE)
    return result;

  if (reader_read_uint64 (reader, &port) != SM_HANDSHAKE_COMPLETE)
    return SM_HANDSHAKE_NEED_MORE;
  if (port == 0 || port > G_MAXUINT16)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                   "%s: port %" G_GUINT64_FORMAT " is out of range 1-65535", reader->context, port);
      return SM_HANDSHAKE_ERROR;
    }
  fields->port = port;

  if (reader_read_byte (reader, &fields->flags) != SM_HANDSHAKE_COMPLETE)
    return SM_HANDSHAKE_NEED_MORE;
  if ((fields->flags & ~KNOWN_FLAGS) != 0)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT, "%s: unknown flag bits 0x%02x",
                   reader->context, (guint) (fields->flags & ~KNOWN_FLAGS));
      return SM_HANDSHAKE_ERROR;
    }

  if (fields->flags & SM_HANDSHAKE_FLAG_HTTP)
    {
      result = reader_read_string (reader, &domain_suffix_rule, &fields->domain_suffix, error);
      if (result != SM_HANDSHAKE_COMPLETE)
        return result;
      result = reader_read_string (reader, &path_prefix_rule, &fields->path_prefix, error);
      if (result != SM_HANDSHAKE_COMPLETE)
        return result;
    }

  if (fields->flags & SM_HANDSHAKE_FLAG_TLS)
    {
      result = reader_read_string (reader, &certificate_rule, &fields->certificate, error);
      if (result != SM_HANDSHAKE_COMPLETE)
        return result;
      result = reader_read_string (reader, &key_rule, &fields->key, error);
      if (result != SM_HANDSHAKE_COMPLETE)
        return result;
    }

  return SM_HANDSHAKE_COMPLETE;
}

static char *
span_dup (const Span *span)
{
  return g_strndup (span->bytes, span->len);
}

static SmSocketDefinition *
definition_new_from_fields (const RequestFields *fields)
{
  SmSocketDefinition *def = sm_socket_definition_new (fields->port);

  g_free (def->address);
  def->address = span_dup (&fields->address);

  if (fields->flags & SM_HANDSHAKE_FLAG_HTTP)
    {
      def->has_http = TRUE;
      def->domain_suffix = span_dup (&fields->domain_suffix);
      def->path_prefix = span_dup (&fields->path_prefix);
    }

  if (fields->flags & SM_HANDSHAKE_FLAG_TLS)
    {
      def->has_tls = TRUE;
      def->tls_cert = span_dup (&fields->certificate);
      def->tls_key = span_dup (&fields->key);
    }

  return def;
}

/**
 * sm_handshake_parse_request:
 * @data: (array length=len): every byte received so far
 * @len: length of @data
 * @consumed: (out) (optional): length of the request on
 *   %SM_HANDSHAKE_COMPLETE, 0 otherwise; bytes after it are not part of the
 *   handshake
 * @out_definition: (out) (optional) (transfer full): the request, set only
 *   on %SM_HANDSHAKE_COMPLETE
 * @error: set on %SM_HANDSHAKE_ERROR, with a message fit for the status
 *
 * Parses a handshake request (docs/PROTOCOL.md §3). Nothing is allocated until
 * the whole request has arrived and been checked.
 */
SmHandshakeResult
sm_handshake_parse_request (const guint8        *data,
                            gsize                len,
                            gsize               *consumed,
                            SmSocketDefinition **out_definition,
                            GError             **error)
{
  Reader        reader = { data, len, 0, "invalid handshake" };
  RequestFields fields = {
    0,
  };
  SmHandshakeResult result;

  g_return_val_if_fail (data != NULL || len == 0, SM_HANDSHAKE_ERROR);
  g_return_val_if_fail (error == NULL || *error == NULL, SM_HANDSHAKE_ERROR);

  if (consumed != NULL)
    *consumed = 0;

  result = reader_read_request (&reader, &fields, error);
  if (result != SM_HANDSHAKE_COMPLETE)
    return result;

  if (consumed != NULL)
    *consumed = reader.offset;
  if (out_definition != NULL)
    *out_definition = definition_new_from_fields (&fields);

  return SM_HANDSHAKE_COMPLETE;
}

static void
append_uint64 (GByteArray *out, guint64 value)
{
  guint8 bytes[8];

  for (guint i = 0; i < 8; i++)
    bytes[i] = (value >> (56 - 8 * i)) & 0xff;

  g_byte_array_append (out, bytes, sizeof bytes);
}

static void
append_string (GByteArray *out, const char *string)
{
  gsize len = strlen (string);

  append_uint64 (out, len);
  g_byte_array_append (out, (const guint8 *) string, len);
}

/**
 * sm_handshake_encode_request:
 * @definition: the request to send
 * @out: bytes are appended here
 */
void
sm_handshake_encode_request (const SmSocketDefinition *definition, GByteArray *out)
{
  guint8 flags = 0;

  g_return_if_fail (definition != NULL);
  g_return_if_fail (out != NULL);

  if (definition->has_http)
    flags |= SM_HANDSHAKE_FLAG_HTTP;
  if (definition->has_tls)
    flags |= SM_HANDSHAKE_FLAG_TLS;

  append_string (out, definition->address);
  append_uint64 (out, definition->port);
  g_byte_array_append (out, &flags, 1);

  if (definition->has_http)
    {
      append_string (out, definition->domain_suffix);
      append_string (out, definition->path_prefix);
    }

  if (definition->has_tls)
    {
      append_string (out, definition->tls_cert);
      append_string (out, definition->tls_key);
    }
}

/**
 * sm_handshake_parse_status:
 * @data: (array length=len): every byte received so far
 * @len: length of @data
 * @consumed: (out) (optional): length of the response on
 *   %SM_HANDSHAKE_COMPLETE, 0 otherwise
 * @out_status: (out) (optional) (transfer full): the status, set only on
 *   %SM_HANDSHAKE_COMPLETE; may be "" (anything but "OK" is a refusal)
 * @error: set on %SM_HANDSHAKE_ERROR
 *
 * Parses a handshake response (docs/PROTOCOL.md §4).
 */
SmHandshakeResult
sm_handshake_parse_status (const guint8 *data,
                           gsize         len,
                           gsize        *consumed,
                           char        **out_status,
                           GError      **error)
{
  Reader            reader = { data, len, 0, "invalid handshake response" };
  SmHandshakeResult result;
  Span              status;

  g_return_val_if_fail (data != NULL || len == 0, SM_HANDSHAKE_ERROR);
  g_return_val_if_fail (error == NULL || *error == NULL, SM_HANDSHAKE_ERROR);

  if (consumed != NULL)
    *consumed = 0;

  result = reader_read_string (&reader, &status_rule, &status, error);
  if (result != SM_HANDSHAKE_COMPLETE)
    return result;

  if (consumed != NULL)
    *consumed = reader.offset;
  if (out_status != NULL)
    *out_status = span_dup (&status);

  return SM_HANDSHAKE_COMPLETE;
}

/**
 * sm_handshake_encode_status:
 * @status: "OK" or an error message
 * @out: bytes are appended here
 *
 * A message longer than %SM_HANDSHAKE_MAX_STATUS is cut at a character
 * boundary, so that the peer can still read why it was refused.
 */
void
sm_handshake_encode_status (const char *status, GByteArray *out)
{
  gsize len;

  g_return_if_fail (status != NULL);
  g_return_if_fail (out != NULL);

  len = strlen (status);
  if (len > SM_HANDSHAKE_MAX_STATUS)
    {
      len = SM_HANDSHAKE_MAX_STATUS;
      /* Step back over continuation bytes to the start of a character */
      while (len > 0 && ((guint8) status[len] & 0xc0) == 0x80)
        len--;
    }

  append_uint64 (out, len);
  g_byte_array_append (out, (const guint8 *) status, len);
}
