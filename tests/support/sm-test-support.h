/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers shared by the transport tests (tests/io, tests/yamux and the
 * daemon's test-splice): waiting on the default main context with a
 * deadline, connected stream pairs, bytes whose value depends on their
 * offset, and a peer that sends and checks such bytes over any GIOStream.
 * Everything runs on the default main context of the test thread.
 */

#include <gio/gio.h>

G_BEGIN_DECLS

/* How long one wait may take before the test fails */
#define SM_TEST_TIMEOUT_SECONDS 60

/* ---- Waiting on the main context ---- */

/* A timeout source on @context (NULL: the default one) that sets
 * *@expired after SM_TEST_TIMEOUT_SECONDS; *@expired starts FALSE. */
GSource *sm_test_deadline_new (GMainContext *context, gboolean *expired);
/* Destroys and drops the deadline */
void     sm_test_deadline_clear (GSource **deadline);

/* Iterates the default context until @condition holds; fails the test if
 * that takes longer than SM_TEST_TIMEOUT_SECONDS. */
#define SM_TEST_WAIT_FOR(condition)                                         \
  G_STMT_START                                                              \
  {                                                                         \
    gboolean sm_test_expired_;                                              \
    GSource *sm_test_deadline_ = sm_test_deadline_new (NULL, &sm_test_expired_); \
                                                                            \
    while (!(condition) && !sm_test_expired_)                               \
      g_main_context_iteration (NULL, TRUE);                                \
    sm_test_deadline_clear (&sm_test_deadline_);                            \
    g_assert_false (sm_test_expired_);                                      \
  }                                                                         \
  G_STMT_END

/* Dispatches until nothing is ready, a few times over: over a socketpair
 * the kernel moves bytes at once, so afterwards nothing changes until the
 * test acts. A source that stays ready fails the test. */
void sm_test_settle (void);

/* ---- Streams ---- */

/* Two connected GSocketConnections over a Unix socketpair */
void                   sm_test_socketpair (GIOStream **a, GIOStream **b);
GPollableInputStream  *sm_test_input_of (GIOStream *stream);
GPollableOutputStream *sm_test_output_of (GIOStream *stream);

/* Blocking calls that must succeed */
void sm_test_write_all (GIOStream *stream, const char *text);
/* Reads exactly strlen (@expected) bytes and compares them */
void sm_test_assert_read (GIOStream *stream, const char *expected);
void sm_test_assert_eof (GIOStream *stream);
/* A one-byte read fails with G_IO_ERROR @code */
void sm_test_assert_read_fails (GIOStream *stream, gint code);
void sm_test_close_output (GIOStream *stream);
void sm_test_close (GIOStream *stream);

/* ---- Pattern bytes ---- */

/* Bytes whose value depends on their offset, so that a lost, duplicated
 * or reordered chunk shows up as a mismatch; @seed tells streams apart. */
void    sm_test_pattern_fill (guint8 *buffer, gsize len, guint seed, guint64 offset);
/* A new buffer of @len pattern bytes from offset 0 */
guint8 *sm_test_pattern_new (gsize len, guint seed);
/* Index of the first byte of @buffer that is not the pattern at @offset,
 * or -1 */
gssize  sm_test_pattern_find_mismatch (const guint8 *buffer, gsize len, guint seed, guint64 offset);

/* ---- A peer that sends and checks pattern bytes ---- */

#define SM_TEST_PEER_CHUNK (64 * 1024)

/* Drives one end of a GIOStream with async GIO: sends pattern bytes of
 * its own seed and checks that it receives those of the other end's.
 * Failures are recorded, not asserted, so that tests of broken
 * connections can look at them. */
typedef struct
{
  GIOStream    *stream;
  GCancellable *cancellable;
  guint         pending; /* async operations in flight */

  guint64       to_send;
  guint64       sent;
  guint8        send_seed;
  gboolean      shutdown_when_sent;
  gboolean      send_done;
  GError       *send_error;
  guint8        send_buffer[SM_TEST_PEER_CHUNK];

  guint64       received;
  guint8        recv_seed;
  guint64       first_mismatch; /* G_MAXUINT64: none */
  gboolean      got_eof;
  GError       *recv_error;
  guint8        recv_buffer[SM_TEST_PEER_CHUNK];

  /* Called once when @received reaches @notify_at */
  guint64       notify_at;
  void        (*notify) (gpointer data);
  gpointer      notify_data;
} SmTestPeer;

/* Takes @stream */
void sm_test_peer_init (SmTestPeer *peer, GIOStream *stream, guint8 seed);
/* Once nothing is in flight (cancel @cancellable and wait for @pending
 * to reach 0 to get there early) */
void sm_test_peer_clear (SmTestPeer *peer);
/* Sends @bytes, then shuts its writing side down if @shutdown_when_sent:
 * a socket's, or the output stream of anything else */
void sm_test_peer_start_send (SmTestPeer *peer, guint64 bytes, gboolean shutdown_when_sent);
void sm_test_peer_shutdown_write (SmTestPeer *peer);
/* Reads until EOF or an error, checking the pattern of @expected_seed */
void sm_test_peer_start_receive (SmTestPeer *peer, guint8 expected_seed);
void sm_test_peer_notify_at (SmTestPeer *peer,
                             guint64     received,
                             void      (*notify) (gpointer data),
                             gpointer    notify_data);
/* EOF came after exactly @expected intact bytes, without an error */
void sm_test_peer_assert_received (SmTestPeer *peer, guint64 expected);

G_END_DECLS
