/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Pure yamux codec (hashicorp/yamux spec.md): the 12-byte frame header and
 * the per-stream flow-control arithmetic. No I/O, no GObject.
 */

#include <glib.h>

G_BEGIN_DECLS

#define SM_YAMUX_VERSION        0
#define SM_YAMUX_HEADER_SIZE    12
#define SM_YAMUX_INITIAL_WINDOW (256 * 1024) /* every stream starts here, both ways */

typedef enum
{
  SM_YAMUX_TYPE_DATA = 0,
  SM_YAMUX_TYPE_WINDOW_UPDATE = 1,
  SM_YAMUX_TYPE_PING = 2,
  SM_YAMUX_TYPE_GO_AWAY = 3,
} SmYamuxType;

typedef enum
{
  SM_YAMUX_FLAG_SYN = 1 << 0,
  SM_YAMUX_FLAG_ACK = 1 << 1,
  SM_YAMUX_FLAG_FIN = 1 << 2,
  SM_YAMUX_FLAG_RST = 1 << 3,
} SmYamuxFlags;

#define SM_YAMUX_FLAGS_ALL \
  (SM_YAMUX_FLAG_SYN | SM_YAMUX_FLAG_ACK | SM_YAMUX_FLAG_FIN | SM_YAMUX_FLAG_RST)

typedef enum
{
  SM_YAMUX_GO_AWAY_NORMAL = 0,
  SM_YAMUX_GO_AWAY_PROTOCOL_ERROR = 1,
  SM_YAMUX_GO_AWAY_INTERNAL_ERROR = 2,
} SmYamuxGoAwayCode;

typedef struct
{
  guint8  version;
  guint8  type;  /* SmYamuxType */
  guint16 flags; /* SmYamuxFlags */
  guint32 stream_id;
  guint32 length; /* payload bytes (DATA), window delta (WINDOW_UPDATE),
                   * opaque value (PING), error code (GO_AWAY) */
} SmYamuxHeader;

void        sm_yamux_header_encode (const SmYamuxHeader *header, guint8 out[SM_YAMUX_HEADER_SIZE]);
/* Validates version, type, flag bits and the stream id rules of the type
 * (PING and GO_AWAY use id 0, DATA and WINDOW_UPDATE never do).
 * Fails with SM_ERROR_PROTOCOL. */
gboolean    sm_yamux_header_decode (const guint8   in[SM_YAMUX_HEADER_SIZE],
                                    SmYamuxHeader *header,
                                    GError       **error);
const char *sm_yamux_type_to_string (guint8 type);

/*
 * Flow control of one stream, both directions (spec.md "Flow Control").
 *
 * Receive side: @recv_window is what the peer may still send us. Data that
 * arrives is buffered until the application reads it; we grant the peer more
 * window only for bytes the application consumed, and only in batches of at
 * least half of @window, so a slow reader stalls its own stream and nothing
 * else, and updates stay rare. Always recv_window + buffered <= window: a
 * stream never holds more than @window unread bytes.
 *
 * Window auto-tuning: @window starts at SM_YAMUX_INITIAL_WINDOW (a SYN or
 * ACK grants nothing beyond it) and grows only while the consumer keeps up,
 * by this rule, which needs no clock: when an update is due, if since the
 * previous one the peer used up its whole window (@peer_blocked: the window,
 * not our reader, was the bottleneck) and the application emptied the buffer
 * (@drained: it reads as fast as data comes), @window doubles, up to
 * @max_window. A reader that stalls or lags never empties its buffer while
 * the peer is blocked, so its window stays where it is. @window never
 * shrinks, so the peer never has more in flight than we granted, and
 * @max_window bounds what one stream can make us buffer.
 *
 * Send side: @send_window is what we may still send.
 */
typedef struct
{
  guint32 window;           /* our receive window now: SM_YAMUX_INITIAL_WINDOW..max_window */
  guint32 max_window;       /* the cap of auto-tuning, >= SM_YAMUX_INITIAL_WINDOW */
  guint32 recv_window;      /* peer may send this much more */
  guint32 buffered;         /* received, not yet consumed by the application */
  guint32 send_window;      /* we may send this much more */
  guint   peer_blocked : 1; /* recv_window reached 0 since our last update */
  guint   drained : 1;      /* the application emptied the buffer since then */
} SmYamuxFlow;

/* @max_window: the cap of the receive window, raised to
 * SM_YAMUX_INITIAL_WINDOW if smaller. */
void     sm_yamux_flow_init (SmYamuxFlow *flow, guint32 max_window);
/* The window update that opens (SYN) or accepts (ACK) a stream carries what
 * the peer may send beyond the initial window: returns that delta (0 for a
 * new stream, whose window is the initial one) and credits it to
 * @recv_window. */
guint32  sm_yamux_flow_initial_delta (SmYamuxFlow *flow);
/* Data frame of @len bytes arrived. FALSE (SM_ERROR_PROTOCOL) if the peer
 * overran the window. */
gboolean sm_yamux_flow_receive (SmYamuxFlow *flow, guint32 len, GError **error);
/* The application consumed @len buffered bytes. Returns the window delta to
 * send to the peer now (growing @window by the rule above), or 0 if no
 * update is due yet. */
guint32  sm_yamux_flow_consume (SmYamuxFlow *flow, guint32 len);
/* How much of @want may be sent now. */
guint32  sm_yamux_flow_sendable (const SmYamuxFlow *flow, gsize want);
/* @len bytes were sent (must be <= sendable). */
void     sm_yamux_flow_sent (SmYamuxFlow *flow, guint32 len);
/* Window update of @delta arrived. FALSE (SM_ERROR_PROTOCOL) if the send
 * window would overflow 32 bits. */
gboolean sm_yamux_flow_grant (SmYamuxFlow *flow, guint32 delta, GError **error);

G_END_DECLS
