/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers of the yamux tests: two sessions (client and server roles) over
 * a socketpair in the default main context, or one session facing a "raw"
 * peer, the test's own socket end, through which it reads and writes
 * hand-made frames.
 */

#include <gio/gio.h>

#include "sm-test-support.h"
#include "sm-yamux-session.h"
#include "sm-yamux-stream.h"

G_BEGIN_DECLS

/* One session and what its signals reported */
typedef struct
{
  SmYamuxSession *session;
  GPtrArray      *incoming; /* SmYamuxStream, taken by the handler */
  gboolean        take_incoming;
  gboolean        closed;
  GError         *closed_error;
  gboolean        got_go_away;
  guint           go_away_code;
  guint           n_streams_notifications;
} SmTestYamuxSide;

typedef struct
{
  SmTestYamuxSide client;
  SmTestYamuxSide server;
  GIOStream      *raw;       /* the raw peer's end, if any */
  GByteArray     *raw_input; /* read from it, not yet parsed */
} SmTestYamux;

/* The defaults, without keep-alives */
void sm_test_yamux_config_init (SmYamuxConfig *config);

/* For g_test_add (): nothing runs until one of the start functions */
void sm_test_yamux_setup (SmTestYamux *fixture, gconstpointer data);
void sm_test_yamux_teardown (SmTestYamux *fixture, gconstpointer data);
/* Adds the test @func of a fixture with those */
#define SM_TEST_YAMUX_ADD(path, func, data) \
  g_test_add ((path), SmTestYamux, (data), sm_test_yamux_setup, (func), sm_test_yamux_teardown)

/* Both sessions; NULL configs mean sm_test_yamux_config_init () */
void             sm_test_yamux_start (SmTestYamux         *fixture,
                                      const SmYamuxConfig *client_config,
                                      const SmYamuxConfig *server_config);
/* One session of @role facing the raw peer */
SmTestYamuxSide *sm_test_yamux_start_raw (SmTestYamux         *fixture,
                                          SmYamuxRole          role,
                                          const SmYamuxConfig *config);
/* A session over @connection whose signals @side records */
void             sm_test_yamux_side_start (SmTestYamuxSide     *side,
                                           GIOStream           *connection,
                                           SmYamuxRole          role,
                                           const SmYamuxConfig *config,
                                           GBytes              *initial_input);

SmYamuxStream *sm_test_yamux_open_stream (SmTestYamuxSide *side);

/* For the "incoming" signal: echoes every stream until EOF, then closes
 * it and counts it in *@n_done. */
void sm_test_yamux_echo_incoming (SmYamuxSession *session,
                                  SmYamuxStream  *stream,
                                  guint          *n_done);

/* Raw peer: frames written (blocking) and read while the loop runs */
void     sm_test_yamux_raw_send (SmTestYamux *fixture,
                                 guint8       type,
                                 guint16      flags,
                                 guint32      stream_id,
                                 guint32      length,
                                 const void  *payload,
                                 gsize        payload_len);
/* Writes @len bytes while the main loop runs (the session reads them) */
void     sm_test_yamux_raw_write_all (SmTestYamux *fixture, const void *data, gsize len);
/* Next frame from the session; its DATA payload is skipped. FALSE on EOF. */
gboolean sm_test_yamux_raw_read_frame (SmTestYamux *fixture, SmYamuxHeader *header);

G_END_DECLS
