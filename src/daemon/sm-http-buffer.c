/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-http-buffer.h"

gssize
sm_http_buffer_fill (SmHttpBuffer *buffer, GPollableInputStream *input, GError **error)
{
  gssize n = g_pollable_input_stream_read_nonblocking (input, buffer->data + buffer->end,
                                                       buffer->capacity - buffer->end, NULL, error);

  if (n > 0)
    buffer->end += (gsize) n;
  else if (n == 0)
    buffer->eof = TRUE;
  return n;
}

void
sm_http_body_relay_init (SmHttpBodyRelay *relay, SmHttpBodyKind kind, guint64 content_length)
{
  sm_http_body_tracker_init (&relay->tracker, kind, content_length);
  relay->complete = kind == SM_HTTP_BODY_NONE;
  relay->pending = 0;
  relay->done = FALSE;
}

SmHttpRelayStep
sm_http_body_relay_count (SmHttpBodyRelay *relay, SmHttpBuffer *buffer, GError **error)
{
  gsize consumed = 0;

  if (relay->complete)
    {
      relay->done = TRUE;
      return SM_HTTP_RELAY_PROGRESS;
    }
  if (sm_http_buffer_length (buffer) == 0)
    return buffer->eof ? SM_HTTP_RELAY_EOF : SM_HTTP_RELAY_WAIT;

  switch (sm_http_body_tracker_feed (&relay->tracker, sm_http_buffer_peek (buffer),
                                     sm_http_buffer_length (buffer), &consumed, error))
    {
    case SM_HTTP_ERROR:
      return SM_HTTP_RELAY_ERROR;
    case SM_HTTP_COMPLETE:
      relay->complete = TRUE;
      break;
    case SM_HTTP_NEED_MORE:
    default:
      break;
    }
  relay->pending = consumed;
  return SM_HTTP_RELAY_PROGRESS;
}
