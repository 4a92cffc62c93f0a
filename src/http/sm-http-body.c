/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-http-parser.h"
#include "sm-http-private.h"

/* Chunked decoding and body framing: only counts bytes, never copies them */

enum
{
  CHUNK_SIZE_START, /* first hex digit of a chunk size */
  CHUNK_SIZE,
  CHUNK_SIZE_WS, /* whitespace after the size: only ";" may follow */
  CHUNK_EXT,     /* chunk extensions, up to CR */
  CHUNK_SIZE_LF,
  CHUNK_DATA,
  CHUNK_DATA_CR,
  CHUNK_DATA_LF,
  CHUNK_TRAILER_START, /* a trailer field line or the final CRLF */
  CHUNK_TRAILER_NAME,
  CHUNK_TRAILER_VALUE,
  CHUNK_TRAILER_LF,
  CHUNK_FINAL_LF,
  CHUNK_DONE,
  CHUNK_FAILED,
};

void
sm_http_chunked_decoder_init (SmHttpChunkedDecoder *decoder)
{
  memset (decoder, 0, sizeof *decoder);
  decoder->state = CHUNK_SIZE_START;
}

static SmHttpResult
chunked_fail (SmHttpChunkedDecoder *decoder, GError **error, SmError code, const char *problem)
{
  decoder->state = CHUNK_FAILED;
  g_set_error (error, SM_ERROR, code, "Invalid chunked body: %s", problem);
  return SM_HTTP_ERROR;
}

/* Chunk framing is forwarded as received, so unlike heads it must be exact:
 * CRLF only (a bare LF accepted here might end a line for us and not for
 * the server, or the other way round). */
SmHttpResult
sm_http_chunked_feed (SmHttpChunkedDecoder *decoder,
                      const guint8         *buf,
                      gsize                 len,
                      gsize                *consumed,
                      GError              **error)
{
  gsize i = 0;

  g_return_val_if_fail (buf != NULL || len == 0, SM_HTTP_ERROR);

  *consumed = 0;
  if (decoder->state == CHUNK_FAILED)
    return chunked_fail (decoder, error, SM_ERROR_PROTOCOL, "already failed");

  while (i < len && decoder->state != CHUNK_DONE)
    {
      guchar c = buf[i];
      guint  state = decoder->state;

      if (state == CHUNK_DATA)
        {
          gsize n = (gsize) MIN ((guint64) (len - i), decoder->remaining);

          i += n;
          decoder->remaining -= n;
          if (decoder->remaining == 0)
            decoder->state = CHUNK_DATA_CR;
          continue;
        }

      if (state <= CHUNK_SIZE_LF && ++decoder->line_len > SM_HTTP_MAX_CHUNK_LINE)
        return chunked_fail (decoder, error, SM_ERROR_TOO_LARGE, "chunk line too long");
      if (state >= CHUNK_TRAILER_START && ++decoder->trailers_len > SM_HTTP_MAX_TRAILERS)
        return chunked_fail (decoder, error, SM_ERROR_TOO_LARGE, "trailers too long");

      switch (state)
        {
        case CHUNK_SIZE_START:
        case CHUNK_SIZE:
          if (g_ascii_isxdigit (c))
            {
              if (++decoder->size_digits > SM_HTTP_MAX_SIZE_DIGITS)
                return chunked_fail (decoder, error, SM_ERROR_TOO_LARGE, "chunk size too long");
              /* 16 hex digits fit in 64 bits: no overflow possible */
              decoder->remaining = (decoder->remaining << 4) | g_ascii_xdigit_value (c);
              decoder->state = CHUNK_SIZE;
            }
          else if (state == CHUNK_SIZE_START)
            return chunked_fail (decoder, error, SM_ERROR_PROTOCOL, "missing chunk size");
          else if (c == ';')
            decoder->state = CHUNK_EXT;
          else if (c == ' ' || c == '\t')
            decoder->state = CHUNK_SIZE_WS;
          else if (c == '\r')
            decoder->state = CHUNK_SIZE_LF;
          else
            return chunked_fail (decoder, error, SM_ERROR_PROTOCOL, "invalid chunk size");
          break;

        case CHUNK_SIZE_WS:
          if (c == ';')
            decoder->state = CHUNK_EXT;
          else if (c != ' ' && c != '\t')
            return chunked_fail (decoder, error, SM_ERROR_PROTOCOL, "invalid chunk size");
          break;

        case CHUNK_EXT:
          if (c == '\r')
            decoder->state = CHUNK_SIZE_LF;
          else if (!sm_http_is_field_byte (c))
            return chunked_fail (decoder, error, SM_ERROR_PROTOCOL, "invalid chunk extension");
          break;

        case CHUNK_SIZE_LF:
          if (c != '\n')
            return chunked_fail (decoder, error, SM_ERROR_PROTOCOL, "CR without LF");
          decoder->line_len = 0;
          decoder->size_digits = 0;
          decoder->state = decoder->remaining > 0 ? CHUNK_DATA : CHUNK_TRAILER_START;
          break;

        case CHUNK_DATA_CR:
        case CHUNK_DATA_LF:
          if (c != (state == CHUNK_DATA_CR ? '\r' : '\n'))
            return chunked_fail (decoder, error, SM_ERROR_PROTOCOL, "no CRLF after chunk data");
          decoder->state = state == CHUNK_DATA_CR ? CHUNK_DATA_LF : CHUNK_SIZE_START;
          break;

        case CHUNK_TRAILER_START:
        case CHUNK_TRAILER_NAME:
          if (state == CHUNK_TRAILER_START && c == '\r')
            decoder->state = CHUNK_FINAL_LF;
          else if (sm_http_is_tchar (c))
            decoder->state = CHUNK_TRAILER_NAME;
          else if (state == CHUNK_TRAILER_NAME && c == ':')
            decoder->state = CHUNK_TRAILER_VALUE;
          else
            return chunked_fail (decoder, error, SM_ERROR_PROTOCOL, "invalid trailer field");
          break;

        case CHUNK_TRAILER_VALUE:
          if (c == '\r')
            decoder->state = CHUNK_TRAILER_LF;
          else if (!sm_http_is_field_byte (c))
            return chunked_fail (decoder, error, SM_ERROR_PROTOCOL, "invalid trailer field");
          break;

        case CHUNK_TRAILER_LF:
        case CHUNK_FINAL_LF:
          if (c != '\n')
            return chunked_fail (decoder, error, SM_ERROR_PROTOCOL, "CR without LF");
          decoder->state = state == CHUNK_TRAILER_LF ? CHUNK_TRAILER_START : CHUNK_DONE;
          break;

        default:
          g_assert_not_reached ();
        }
      i++;
    }

  *consumed = i;
  return decoder->state == CHUNK_DONE ? SM_HTTP_COMPLETE : SM_HTTP_NEED_MORE;
}

void
sm_http_body_tracker_init (SmHttpBodyTracker *tracker, SmHttpBodyKind kind, guint64 content_length)
{
  memset (tracker, 0, sizeof *tracker);
  tracker->kind = kind;
  tracker->remaining = kind == SM_HTTP_BODY_LENGTH ? content_length : 0;
  tracker->complete =
      kind == SM_HTTP_BODY_NONE || (kind == SM_HTTP_BODY_LENGTH && content_length == 0);
  sm_http_chunked_decoder_init (&tracker->chunked);
}

SmHttpResult
sm_http_body_tracker_feed (SmHttpBodyTracker *tracker,
                           const guint8      *buf,
                           gsize              len,
                           gsize             *consumed,
                           GError           **error)
{
  SmHttpResult result;

  *consumed = 0;
  if (tracker->complete)
    return SM_HTTP_COMPLETE;

  switch (tracker->kind)
    {
    case SM_HTTP_BODY_LENGTH:
      *consumed = (gsize) MIN ((guint64) len, tracker->remaining);
      tracker->remaining -= *consumed;
      tracker->complete = tracker->remaining == 0;
      return tracker->complete ? SM_HTTP_COMPLETE : SM_HTTP_NEED_MORE;

    case SM_HTTP_BODY_CHUNKED:
      result = sm_http_chunked_feed (&tracker->chunked, buf, len, consumed, error);
      tracker->complete = result == SM_HTTP_COMPLETE;
      return result;

    case SM_HTTP_BODY_UNTIL_CLOSE:
      *consumed = len;
      return SM_HTTP_NEED_MORE;

    case SM_HTTP_BODY_NONE:
    default:
      g_assert_not_reached ();
    }
}

gboolean
sm_http_body_tracker_finish (SmHttpBodyTracker *tracker, GError **error)
{
  if (tracker->complete || tracker->kind == SM_HTTP_BODY_UNTIL_CLOSE)
    {
      tracker->complete = TRUE;
      return TRUE;
    }
  g_set_error (error, SM_ERROR, SM_ERROR_CLOSED, "Connection closed before the end of the body");
  return FALSE;
}
