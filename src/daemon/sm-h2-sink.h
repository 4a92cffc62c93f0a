/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-http-buffer.h"

G_BEGIN_DECLS

/**
 * SmH2Sink:
 *
 * Where the HTTP/1.1 response of one HTTP/2 stream goes: the stream's
 * #SmHttpExchange writes it as to any client (its #SmHttpOutput writes to
 * this pollable stream), and the HTTP/2 stream takes it from the buffer
 * to make HEADERS and DATA frames. The buffer is bounded: a full sink
 * would block, so the exchange stops reading its service and the yamux
 * window, not our memory, holds a slow client back.
 *
 * Nothing polls it: the HTTP/2 stream runs the exchange again once it
 * took bytes out.
 */
#define SM_TYPE_H2_SINK (sm_h2_sink_get_type ())
G_DECLARE_FINAL_TYPE (SmH2Sink, sm_h2_sink, SM, H2_SINK, GOutputStream)

SmH2Sink     *sm_h2_sink_new (gsize capacity);
/* The bytes written and not taken yet */
SmHttpBuffer *sm_h2_sink_get_buffer (SmH2Sink *self);

G_END_DECLS
