/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A fake socketmaster daemon for the client library's tests: a
 * GSocketService on 127.0.0.1 (or a Unix socket) that reads each handshake,
 * original or extension (PROTOCOL.md §7), answers the status the test chose
 * in the same format and then runs the yamux client role, opening streams to
 * the service like the real daemon does for public connections. Plus stream
 * I/O helpers that wait on the default main context, so the fake daemon and
 * the listener under test both keep running.
 */

#include <gio/gio.h>
#include "sm-error.h"
#include "sm-yamux-session.h"
#include "sm-yamux-stream.h"

G_BEGIN_DECLS

#define SM_FAKE_WAIT_TIMEOUT_S 20

gboolean sm_fake_wait_timeout (gpointer what);

/* Iterates the default main context until @condition holds; aborts the
 * test after SM_FAKE_WAIT_TIMEOUT_S seconds */
#define WAIT_UNTIL(condition) \
  G_STMT_START { \
    guint guard_id_ = g_timeout_add_seconds (SM_FAKE_WAIT_TIMEOUT_S, \
                                             sm_fake_wait_timeout, \
                                             (gpointer) #condition); \
    while (!(condition)) \
      g_main_context_iteration (NULL, TRUE); \
    g_source_remove (guard_id_); \
  } G_STMT_END

typedef struct {
  GSocketService *service;
  char           *address;     /* "127.0.0.1:PORT" or "unix:PATH" */
  char           *answer;      /* status to send; NULL: never answer */
  SmError         refusal_code; /* code of an extension refusal (an answer
                                 * other than "OK"); PERMISSION_DENIED */
  gboolean        original_only; /* like a daemon without version 2: reads
                                  * the magic as an Address length and
                                  * refuses in the original format */
  guint           n_drop;      /* the next handshakes get no answer: the
                                * connection is closed (a busy daemon) */
  GPtrArray      *requests;    /* GBytes: each handshake as received */
  GPtrArray      *extension_requests; /* SmExtensionRequest, or NULL for an
                                       * original one: each as parsed */
  SmYamuxSession *session;     /* the current registration */
  GPtrArray      *old_sessions; /* replaced after their GoAway, still open */
  guint           n_go_away;   /* GoAways the sessions received */
  guint           n_closed;    /* sessions that ended */
} SmFakeDaemon;

SmFakeDaemon  *sm_fake_daemon_new            (void);
/* On 127.0.0.1:@port, e.g. that of a daemon that stopped: it is back */
SmFakeDaemon  *sm_fake_daemon_new_on_port    (guint16       port);
/* Listens on a Unix socket at @path instead */
SmFakeDaemon  *sm_fake_daemon_new_unix       (const char   *path);
void           sm_fake_daemon_free           (SmFakeDaemon *daemon);
/* Nothing listens on the control port any more */
void           sm_fake_daemon_stop_listening (SmFakeDaemon *daemon);
/* The control connection breaks, as when the daemon dies */
void           sm_fake_daemon_drop_session   (SmFakeDaemon *daemon);
/* Closes the sessions replaced after their GoAway */
void           sm_fake_daemon_drop_old_sessions (SmFakeDaemon *daemon);
void           sm_fake_daemon_set_answer     (SmFakeDaemon *daemon,
                                              const char   *answer);
SmYamuxStream *sm_fake_daemon_open_stream    (SmFakeDaemon *daemon);

void           sm_fake_stream_write          (GIOStream    *stream,
                                              const char   *text);
void           sm_fake_stream_write_bytes    (GIOStream    *stream,
                                              const void   *data,
                                              gsize         len);
/* Reads strlen (@expected) bytes and compares; "" expects EOF */
void           sm_fake_stream_expect         (GIOStream    *stream,
                                              const char   *expected);
/* Reads until an error, which it returns */
GError        *sm_fake_stream_read_error     (GIOStream    *stream);
void           sm_fake_stream_close          (GIOStream    *stream);

/* The id of @stream, an SmYamuxStream */
guint32        sm_fake_stream_id             (gpointer      stream);

/* Result of an async call: pass sm_fake_async_done and the struct, then
 * WAIT_UNTIL (wait.done); unref wait.result after finishing the call */
typedef struct {
  gboolean      done;
  GAsyncResult *result;
} SmFakeAsyncWait;

void           sm_fake_async_done            (GObject      *source,
                                              GAsyncResult *result,
                                              gpointer      user_data);

G_END_DECLS
