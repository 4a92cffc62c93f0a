/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One yamux session over a connected GIOStream (whose input and output
 * streams must be pollable), driven by the thread-default GMainContext of
 * the thread that created it. Everything happens in that context; the
 * session is not thread-safe.
 */

#include <gio/gio.h>
#include "sm-yamux-frame.h"

G_BEGIN_DECLS

typedef struct _SmYamuxStream SmYamuxStream;

typedef enum
{
  SM_YAMUX_ROLE_CLIENT, /* opens odd stream ids: the daemon */
  SM_YAMUX_ROLE_SERVER, /* opens even stream ids: a service */
} SmYamuxRole;

typedef struct
{
  guint32 max_stream_window;       /* cap of a stream's receive window: each starts at
                                    * SM_YAMUX_INITIAL_WINDOW and grows up to this only
                                    * while its reader keeps up (see SmYamuxFlow) */
  guint   keepalive_interval_ms;   /* ping the peer this often; 0: never */
  guint   keepalive_timeout_ms;    /* no answer to a ping this long: session dies */
  guint   write_timeout_ms;        /* output blocked this long: session dies */
  guint   accept_backlog;          /* inbound streams not yet taken; more are reset
                                    * (with the "incoming" signal a stream is taken
                                    * or reset during emission, so none wait) */
  guint   max_pending_syn;         /* outbound SYNs not yet ACKed; more wait */
  gsize   write_buffer_limit;      /* queued output bytes above which streams stop being writable */
  guint   stream_close_timeout_ms; /* after our FIN, wait this long for the peer's FIN, then RST */
} SmYamuxConfig;

/* A stream whose reader stalls makes us buffer at most max_stream_window
 * bytes of its payload: with the default, 512 KiB per stalled stream (the
 * daemon and the client library set their own caps). */
#define SM_YAMUX_DEFAULT_MAX_STREAM_WINDOW    (512 * 1024)
#define SM_YAMUX_DEFAULT_KEEPALIVE_INTERVAL   30000
#define SM_YAMUX_DEFAULT_KEEPALIVE_TIMEOUT    30000
#define SM_YAMUX_DEFAULT_WRITE_TIMEOUT        30000
#define SM_YAMUX_DEFAULT_ACCEPT_BACKLOG       256
#define SM_YAMUX_DEFAULT_MAX_PENDING_SYN      256
#define SM_YAMUX_DEFAULT_WRITE_BUFFER_LIMIT   (1024 * 1024)
#define SM_YAMUX_DEFAULT_STREAM_CLOSE_TIMEOUT 300000

void sm_yamux_config_init (SmYamuxConfig *config);

typedef struct
{
  guint64 pings_sent;       /* keep-alives we sent */
  guint64 pongs_received;   /* answers to them */
  guint64 pings_received;   /* the peer's pings, each answered */
  guint64 streams_opened;   /* by us */
  guint64 streams_accepted; /* by the peer */
  guint64 bytes_sent;       /* payload only */
  guint64 bytes_received;   /* payload only */
} SmYamuxStats;

#define SM_TYPE_YAMUX_SESSION (sm_yamux_session_get_type ())
G_DECLARE_FINAL_TYPE (SmYamuxSession, sm_yamux_session, SM, YAMUX_SESSION, GObject)

/*
 * @initial_input: bytes already read from @connection after the handshake
 * (may be NULL). The session starts reading at once.
 *
 * Signals:
 *   "incoming" (SmYamuxStream *stream): the peer opened @stream (already
 *      ACKed). A handler that wants it takes a reference; whoever owns a
 *      stream must eventually close it (g_io_stream_close*) or reset it.
 *      With no handler the stream is reset.
 *   "go-away" (guint code): the peer will accept no new streams.
 *   "closed" (GError *error): the session ended; error is NULL for an
 *      orderly end (both sides went away / EOF after GoAway) and set for
 *      a protocol error, a keep-alive timeout or a broken connection.
 *      Emitted once. Every live stream then fails with
 *      G_IO_ERROR_CONNECTION_CLOSED (after any data it had received).
 *
 * Property:
 *   "n-streams" (guint, read-only): sm_yamux_session_get_n_streams();
 *      notified whenever it changes, e.g. to wait for 0 when draining.
 */
SmYamuxSession *sm_yamux_session_new (GIOStream           *connection,
                                      SmYamuxRole          role,
                                      const SmYamuxConfig *config,
                                      GBytes              *initial_input);

/* Opens a stream (SYN goes out now or, when max_pending_syn SYNs are
 * unanswered, as soon as one is). Data may be written at once.
 * Fails with SM_ERROR_CLOSED or SM_ERROR_GOING_AWAY. */
SmYamuxStream  *sm_yamux_session_open_stream (SmYamuxSession *self, GError **error);

/* Tell the peer we open/accept no more streams; live streams carry on. */
void            sm_yamux_session_go_away (SmYamuxSession *self, SmYamuxGoAwayCode code);
/* Ends the session now: queued output is flushed best-effort, the
 * connection closed, live streams fail. Emits "closed" (error NULL). */
void            sm_yamux_session_close (SmYamuxSession *self);

gboolean        sm_yamux_session_is_closed (SmYamuxSession *self);
/* TRUE once either side sent GoAway */
gboolean        sm_yamux_session_is_going_away (SmYamuxSession *self);
/* Streams not yet fully closed */
guint           sm_yamux_session_get_n_streams (SmYamuxSession *self);
SmYamuxRole     sm_yamux_session_get_role (SmYamuxSession *self);
GIOStream      *sm_yamux_session_get_connection (SmYamuxSession *self);
void            sm_yamux_session_get_stats (SmYamuxSession *self, SmYamuxStats *stats);
/* Sends one ping now (keep-alives also do this) */
void            sm_yamux_session_ping (SmYamuxSession *self);

G_END_DECLS
