/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-error.h"
#include "sm-yamux-frame.h"

static void
put_be16 (guint8 *out, guint16 value)
{
  out[0] = value >> 8;
  out[1] = value & 0xff;
}

static void
put_be32 (guint8 *out, guint32 value)
{
  out[0] = value >> 24;
  out[1] = (value >> 16) & 0xff;
  out[2] = (value >> 8) & 0xff;
  out[3] = value & 0xff;
}

static guint16
get_be16 (const guint8 *in)
{
  return (guint16) ((in[0] << 8) | in[1]);
}

static guint32
get_be32 (const guint8 *in)
{
  return ((guint32) in[0] << 24) | ((guint32) in[1] << 16) | ((guint32) in[2] << 8) |
         (guint32) in[3];
}

/**
 * sm_yamux_header_encode:
 * @header: the header to write
 * @out: the 12 bytes of the header on the wire
 *
 * Writes @header as it is, without validating it.
 */
void
sm_yamux_header_encode (const SmYamuxHeader *header, guint8 out[SM_YAMUX_HEADER_SIZE])
{
  g_return_if_fail (header != NULL);
  g_return_if_fail (out != NULL);

  out[0] = header->version;
  out[1] = header->type;
  put_be16 (out + 2, header->flags);
  put_be32 (out + 4, header->stream_id);
  put_be32 (out + 8, header->length);
}

/**
 * sm_yamux_header_decode:
 * @in: 12 bytes from the wire
 * @header: (out): the decoded fields; filled even on failure, for logs
 * @error: a #GError
 *
 * hashicorp/yamux itself is laxer than this: it ignores unknown flag bits
 * and the stream id of PING and GO_AWAY frames, and it drops DATA and
 * WINDOW_UPDATE frames for stream 0 as frames of an unknown stream. It never
 * sends any of those, so refusing them costs no compatibility and keeps a
 * confused or hostile peer from going unnoticed.
 *
 * Returns: %TRUE if the header is valid
 */
gboolean
sm_yamux_header_decode (const guint8   in[SM_YAMUX_HEADER_SIZE],
                        SmYamuxHeader *header,
                        GError       **error)
{
  g_return_val_if_fail (in != NULL, FALSE);
  g_return_val_if_fail (header != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  header->version = in[0];
  header->type = in[1];
  header->flags = get_be16 (in + 2);
  header->stream_id = get_be32 (in + 4);
  header->length = get_be32 (in + 8);

  if (header->version != SM_YAMUX_VERSION)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "unsupported yamux version %u",
                   header->version);
      return FALSE;
    }

  if (header->type > SM_YAMUX_TYPE_GO_AWAY)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "unknown yamux frame type %u", header->type);
      return FALSE;
    }

  if ((header->flags & ~SM_YAMUX_FLAGS_ALL) != 0)
    {
      g_set_error (
          error, SM_ERROR, SM_ERROR_PROTOCOL, "yamux %s frame has unknown flag bits 0x%04x",
          sm_yamux_type_to_string (header->type), (guint) (header->flags & ~SM_YAMUX_FLAGS_ALL));
      return FALSE;
    }

  switch ((SmYamuxType) header->type)
    {
    case SM_YAMUX_TYPE_DATA:
    case SM_YAMUX_TYPE_WINDOW_UPDATE:
      if (header->stream_id == 0)
        {
          g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL, "yamux %s frame for stream 0",
                       sm_yamux_type_to_string (header->type));
          return FALSE;
        }
      break;

    case SM_YAMUX_TYPE_PING:
    case SM_YAMUX_TYPE_GO_AWAY:
      if (header->stream_id != 0)
        {
          g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL,
                       "yamux %s frame for stream %u, expected stream 0",
                       sm_yamux_type_to_string (header->type), header->stream_id);
          return FALSE;
        }
      break;

    default:
      g_assert_not_reached ();
    }

  return TRUE;
}

/**
 * sm_yamux_type_to_string:
 * @type: a frame type from the wire
 *
 * Returns: a name for logs; "unknown" for types outside #SmYamuxType
 */
const char *
sm_yamux_type_to_string (guint8 type)
{
  switch (type)
    {
    case SM_YAMUX_TYPE_DATA:
      return "data";
    case SM_YAMUX_TYPE_WINDOW_UPDATE:
      return "window update";
    case SM_YAMUX_TYPE_PING:
      return "ping";
    case SM_YAMUX_TYPE_GO_AWAY:
      return "go away";
    default:
      return "unknown";
    }
}

/**
 * sm_yamux_flow_init:
 * @flow: the flow state of a new stream
 * @max_window: the cap of the receive window; raised to
 *   %SM_YAMUX_INITIAL_WINDOW if smaller
 */
void
sm_yamux_flow_init (SmYamuxFlow *flow, guint32 max_window)
{
  g_return_if_fail (flow != NULL);

  *flow = (SmYamuxFlow){
    .window = SM_YAMUX_INITIAL_WINDOW,
    .max_window = MAX (max_window, SM_YAMUX_INITIAL_WINDOW),
    .recv_window = SM_YAMUX_INITIAL_WINDOW,
    .send_window = SM_YAMUX_INITIAL_WINDOW,
  };
}

/* Everything the peer may have in flight or we hold stays within window:
 * recv_window + buffered <= window. Both functions below top recv_window up
 * to that bound, as hashicorp's sendWindowUpdate does. */
static guint32
flow_missing_window (const SmYamuxFlow *flow)
{
  return (flow->window - flow->buffered) - flow->recv_window;
}

/**
 * sm_yamux_flow_initial_delta:
 * @flow: the flow state
 *
 * Returns: the window not yet granted, now credited to the peer: 0 for a
 *   new stream. Data received before this call does not change it, as long
 *   as none was consumed yet.
 */
guint32
sm_yamux_flow_initial_delta (SmYamuxFlow *flow)
{
  guint32 delta;

  g_return_val_if_fail (flow != NULL, 0);

  delta = flow_missing_window (flow);
  flow->recv_window += delta;
  return delta;
}

gboolean
sm_yamux_flow_receive (SmYamuxFlow *flow, guint32 len, GError **error)
{
  g_return_val_if_fail (flow != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (len > flow->recv_window)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL,
                   "yamux peer sent %u bytes, its window was %u bytes", len, flow->recv_window);
      return FALSE;
    }

  flow->recv_window -= len;
  flow->buffered += len;
  if (flow->recv_window == 0)
    flow->peer_blocked = TRUE;
  return TRUE;
}

guint32
sm_yamux_flow_consume (SmYamuxFlow *flow, guint32 len)
{
  guint32 delta;

  g_return_val_if_fail (flow != NULL, 0);
  g_return_val_if_fail (len <= flow->buffered, 0);

  flow->buffered -= len;
  if (flow->buffered == 0 && len > 0)
    flow->drained = TRUE;

  delta = flow_missing_window (flow);
  if (delta < flow->window / 2)
    return 0;

  /* The consumer keeps up and the window held the peer back: grow it. The
   * delta grants the whole new window, so it stays >= window / 2. */
  if (flow->peer_blocked && flow->drained && flow->window < flow->max_window)
    {
      guint32 grown = flow->window <= flow->max_window / 2 ? flow->window * 2 : flow->max_window;

      delta += grown - flow->window;
      flow->window = grown;
    }
  flow->peer_blocked = FALSE;
  flow->drained = FALSE;

  flow->recv_window += delta;
  return delta;
}

guint32
sm_yamux_flow_sendable (const SmYamuxFlow *flow, gsize want)
{
  g_return_val_if_fail (flow != NULL, 0);

  return MIN (want, flow->send_window);
}

void
sm_yamux_flow_sent (SmYamuxFlow *flow, guint32 len)
{
  g_return_if_fail (flow != NULL);
  g_return_if_fail (len <= flow->send_window);

  flow->send_window -= len;
}

gboolean
sm_yamux_flow_grant (SmYamuxFlow *flow, guint32 delta, GError **error)
{
  g_return_val_if_fail (flow != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (delta > G_MAXUINT32 - flow->send_window)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL,
                   "yamux window update of %u bytes overflows the send window of %u bytes", delta,
                   flow->send_window);
      return FALSE;
    }

  flow->send_window += delta;
  return TRUE;
}
