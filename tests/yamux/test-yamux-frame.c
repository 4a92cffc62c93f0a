/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-yamux-frame.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

static const struct {
  SmYamuxHeader header;
  guint8        wire[SM_YAMUX_HEADER_SIZE];
} known_frames[] = {
  /* what opens a stream: window update, SYN, stream 1, delta 0x30000 */
  { { 0, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_SYN, 1, 0x00030000 },
    { 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00 } },
  { { 0, SM_YAMUX_TYPE_DATA, SM_YAMUX_FLAG_ACK | SM_YAMUX_FLAG_FIN, 0x01020304, 0x0a0b0c0d },
    { 0x00, 0x00, 0x00, 0x06, 0x01, 0x02, 0x03, 0x04, 0x0a, 0x0b, 0x0c, 0x0d } },
  { { 0, SM_YAMUX_TYPE_PING, SM_YAMUX_FLAG_ACK, 0, 0xdeadbeef },
    { 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef } },
  { { 0, SM_YAMUX_TYPE_GO_AWAY, 0, 0, SM_YAMUX_GO_AWAY_INTERNAL_ERROR },
    { 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02 } },
  { { 0, SM_YAMUX_TYPE_WINDOW_UPDATE, SM_YAMUX_FLAG_RST, 0xfffffffe, 0 },
    { 0x00, 0x01, 0x00, 0x08, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x00, 0x00 } },
};

static void
assert_headers_equal (const SmYamuxHeader *a,
                      const SmYamuxHeader *b)
{
  g_assert_cmpuint (a->version, ==, b->version);
  g_assert_cmpuint (a->type, ==, b->type);
  g_assert_cmpuint (a->flags, ==, b->flags);
  g_assert_cmpuint (a->stream_id, ==, b->stream_id);
  g_assert_cmpuint (a->length, ==, b->length);
}

static void
test_header_encode (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (known_frames); i++)
    {
      guint8 wire[SM_YAMUX_HEADER_SIZE];

      memset (wire, 0xaa, sizeof wire);
      sm_yamux_header_encode (&known_frames[i].header, wire);
      g_assert_cmpmem (wire, sizeof wire, known_frames[i].wire, SM_YAMUX_HEADER_SIZE);
    }
}

static void
test_header_decode (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (known_frames); i++)
    {
      g_autoptr(GError) error = NULL;
      SmYamuxHeader header;

      memset (&header, 0xaa, sizeof header);
      g_assert_true (sm_yamux_header_decode (known_frames[i].wire, &header, &error));
      g_assert_no_error (error);
      assert_headers_equal (&header, &known_frames[i].header);
    }
}

static void
test_header_round_trip (void)
{
  static const guint32 stream_ids[] = { 1, 2, 3, 0x7fffffff, 0x80000000, G_MAXUINT32 };
  static const guint32 lengths[] = { 0, 1, 0xff, 0x100, 0x10000, 0x01000000, G_MAXUINT32 };
  guint n_checked = 0;

  for (guint8 type = SM_YAMUX_TYPE_DATA; type <= SM_YAMUX_TYPE_GO_AWAY; type++)
    {
      gboolean session_frame = type == SM_YAMUX_TYPE_PING || type == SM_YAMUX_TYPE_GO_AWAY;

      for (guint16 flags = 0; flags <= SM_YAMUX_FLAGS_ALL; flags++)
        for (gsize i = 0; i < G_N_ELEMENTS (stream_ids); i++)
          for (gsize j = 0; j < G_N_ELEMENTS (lengths); j++)
            {
              SmYamuxHeader header = {
                .version = SM_YAMUX_VERSION,
                .type = type,
                .flags = flags,
                .stream_id = session_frame ? 0 : stream_ids[i],
                .length = lengths[j],
              };
              g_autoptr(GError) error = NULL;
              guint8 wire[SM_YAMUX_HEADER_SIZE];
              SmYamuxHeader decoded;

              sm_yamux_header_encode (&header, wire);
              g_assert_true (sm_yamux_header_decode (wire, &decoded, &error));
              g_assert_no_error (error);
              assert_headers_equal (&decoded, &header);
              n_checked++;
            }
    }

  g_assert_cmpuint (n_checked, ==, 4 * 16 * G_N_ELEMENTS (stream_ids) * G_N_ELEMENTS (lengths));
}

static void
test_header_decode_errors (void)
{
  static const struct {
    guint8      wire[SM_YAMUX_HEADER_SIZE];
    const char *message;
  } cases[] = {
    { { 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 },
      "unsupported yamux version 1" },
    { { 0xff, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 },
      "unsupported yamux version 255" },
    { { 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 },
      "unknown yamux frame type 4" },
    { { 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 },
      "unknown yamux frame type 255" },
    { { 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 },
      "yamux data frame has unknown flag bits 0x0010" },
    { { 0x00, 0x01, 0x80, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 },
      "yamux window update frame has unknown flag bits 0x8000" },
    { { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05 },
      "yamux data frame for stream 0" },
    { { 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00 },
      "yamux window update frame for stream 0" },
    { { 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07 },
      "yamux ping frame for stream 1, expected stream 0" },
    { { 0x00, 0x03, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 },
      "yamux go away frame for stream 16777216, expected stream 0" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      SmYamuxHeader header;

      g_assert_false (sm_yamux_header_decode (cases[i].wire, &header, &error));
      g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
      g_assert_cmpstr (error->message, ==, cases[i].message);
      /* The raw fields are still there for the log */
      g_assert_cmpuint (header.version, ==, cases[i].wire[0]);
      g_assert_cmpuint (header.type, ==, cases[i].wire[1]);
    }
}

static void
test_type_to_string (void)
{
  g_assert_cmpstr (sm_yamux_type_to_string (SM_YAMUX_TYPE_DATA), ==, "data");
  g_assert_cmpstr (sm_yamux_type_to_string (SM_YAMUX_TYPE_WINDOW_UPDATE), ==, "window update");
  g_assert_cmpstr (sm_yamux_type_to_string (SM_YAMUX_TYPE_PING), ==, "ping");
  g_assert_cmpstr (sm_yamux_type_to_string (SM_YAMUX_TYPE_GO_AWAY), ==, "go away");
  g_assert_cmpstr (sm_yamux_type_to_string (4), ==, "unknown");
  g_assert_cmpstr (sm_yamux_type_to_string (255), ==, "unknown");
}

static void
assert_flow_bounded (const SmYamuxFlow *flow)
{
  /* The peer can never have more in flight and unread than the window,
   * which stays within its bounds */
  g_assert_cmpuint ((guint64) flow->recv_window + flow->buffered, <=, flow->window);
  g_assert_cmpuint (flow->window, >=, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow->window, <=, flow->max_window);
}

/* A reader that keeps up with a peer held back by the window: the peer
 * sends all it may, the application reads all of it. Returns the update. */
static guint32
flow_round_keeping_up (SmYamuxFlow *flow)
{
  guint32 before = flow->window;
  guint32 delta;

  g_assert_true (sm_yamux_flow_receive (flow, flow->recv_window, NULL));
  delta = sm_yamux_flow_consume (flow, flow->buffered);
  assert_flow_bounded (flow);
  g_assert_cmpuint (flow->window, >=, before);
  return delta;
}

static void
test_flow_init (void)
{
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 0);
  g_assert_cmpuint (flow.window, ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.max_window, ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.recv_window, ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.send_window, ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.buffered, ==, 0);

  sm_yamux_flow_init (&flow, SM_YAMUX_INITIAL_WINDOW - 1);
  g_assert_cmpuint (flow.max_window, ==, SM_YAMUX_INITIAL_WINDOW);

  /* The cap is not granted up front */
  sm_yamux_flow_init (&flow, 16 * MiB);
  g_assert_cmpuint (flow.window, ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.max_window, ==, 16 * MiB);
  g_assert_cmpuint (flow.recv_window, ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.send_window, ==, SM_YAMUX_INITIAL_WINDOW);
}

/* SYN and ACK grant nothing beyond the initial window, whatever the cap */
static void
test_flow_initial_delta (void)
{
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 0);
  g_assert_cmpuint (sm_yamux_flow_initial_delta (&flow), ==, 0);
  g_assert_cmpuint (flow.recv_window, ==, SM_YAMUX_INITIAL_WINDOW);

  sm_yamux_flow_init (&flow, 4 * MiB);
  g_assert_cmpuint (sm_yamux_flow_initial_delta (&flow), ==, 0);
  g_assert_cmpuint (flow.recv_window, ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.send_window, ==, SM_YAMUX_INITIAL_WINDOW);
  assert_flow_bounded (&flow);
}

/* Data that arrived with the SYN, before the stream is accepted */
static void
test_flow_initial_delta_after_data (void)
{
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 1 * MiB);
  g_assert_true (sm_yamux_flow_receive (&flow, 1000, NULL));
  g_assert_cmpuint (sm_yamux_flow_initial_delta (&flow), ==, 0);
  g_assert_cmpuint (flow.recv_window, ==, SM_YAMUX_INITIAL_WINDOW - 1000);
  assert_flow_bounded (&flow);
}

/* Each round the peer used the whole window and the reader emptied the
 * buffer: the window doubles up to the cap, and each update grants it all. */
static void
test_flow_grow_keeping_up (void)
{
  const guint32 expected[] = { 512 * KiB, 1 * MiB, 2 * MiB, 2 * MiB, 2 * MiB };
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 2 * MiB);
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_assert_cmpuint (flow_round_keeping_up (&flow), ==, expected[i]);
      g_assert_cmpuint (flow.window, ==, expected[i]);
      g_assert_cmpuint (flow.recv_window, ==, expected[i]);
    }

  /* Growth is the same when the reader takes it in small steps, as long as
   * it empties the buffer before the update is due. */
  sm_yamux_flow_init (&flow, 1 * MiB);
  g_assert_true (sm_yamux_flow_receive (&flow, 100 * KiB, NULL));
  g_assert_cmpuint (sm_yamux_flow_consume (&flow, 100 * KiB), ==, 0);
  g_assert_true (sm_yamux_flow_receive (&flow, 156 * KiB, NULL));
  g_assert_cmpuint (sm_yamux_flow_consume (&flow, 28 * KiB), ==, 512 * KiB - 128 * KiB);
  g_assert_cmpuint (flow.window, ==, 512 * KiB);
  assert_flow_bounded (&flow);
}

/* A reader that stalls, or lags and never empties its buffer, keeps the
 * window it has, however long the peer pushes. */
static void
test_flow_no_growth_while_stalled (void)
{
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 4 * MiB);
  g_assert_true (sm_yamux_flow_receive (&flow, SM_YAMUX_INITIAL_WINDOW, NULL));
  g_assert_false (sm_yamux_flow_receive (&flow, 1, NULL));
  g_assert_cmpuint (flow.buffered, ==, SM_YAMUX_INITIAL_WINDOW);

  for (guint i = 0; i < 100; i++)
    {
      /* Reads half of what waits, the peer refills at once */
      g_assert_cmpuint (sm_yamux_flow_consume (&flow, flow.buffered / 2), ==, flow.window / 2);
      g_assert_cmpuint (flow.window, ==, SM_YAMUX_INITIAL_WINDOW);
      g_assert_true (sm_yamux_flow_receive (&flow, flow.recv_window, NULL));
      assert_flow_bounded (&flow);
    }
  g_assert_cmpuint (flow.buffered, ==, SM_YAMUX_INITIAL_WINDOW);

  /* A window grown earlier stays when the reader stops: nothing the peer
   * was granted is taken back, and nothing more is granted. */
  sm_yamux_flow_init (&flow, 4 * MiB);
  flow_round_keeping_up (&flow);
  g_assert_cmpuint (flow.window, ==, 512 * KiB);
  g_assert_true (sm_yamux_flow_receive (&flow, flow.recv_window, NULL));
  g_assert_cmpuint (sm_yamux_flow_consume (&flow, 0), ==, 0);
  g_assert_cmpuint (flow.window, ==, 512 * KiB);
  g_assert_cmpuint (flow.buffered, ==, 512 * KiB);
}

/* A reader that keeps up with a peer that never fills the window: the
 * window is not what limits the peer, so it does not grow. */
static void
test_flow_no_growth_without_need (void)
{
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 4 * MiB);
  for (guint i = 0; i < 100; i++)
    {
      g_assert_true (sm_yamux_flow_receive (&flow, 96 * KiB, NULL));
      sm_yamux_flow_consume (&flow, 96 * KiB);
      assert_flow_bounded (&flow);
    }
  g_assert_cmpuint (flow.window, ==, SM_YAMUX_INITIAL_WINDOW);
}

/* The window grows up to the cap and stops there, also for a cap that is
 * not a power of two, and not at all for the smallest cap */
static void
test_flow_grow_cap (void)
{
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 768 * KiB);
  g_assert_cmpuint (flow_round_keeping_up (&flow), ==, 512 * KiB);
  g_assert_cmpuint (flow_round_keeping_up (&flow), ==, 768 * KiB);
  for (guint i = 0; i < 10; i++)
    g_assert_cmpuint (flow_round_keeping_up (&flow), ==, 768 * KiB);
  g_assert_cmpuint (flow.window, ==, 768 * KiB);

  sm_yamux_flow_init (&flow, 0);
  for (guint i = 0; i < 10; i++)
    g_assert_cmpuint (flow_round_keeping_up (&flow), ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.window, ==, SM_YAMUX_INITIAL_WINDOW);
}

/* Random arrivals and reads: the peer never has more in flight and unread
 * than the window, which never shrinks and never passes the cap. */
static void
test_flow_invariants (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  guint n_grown = 0;

  for (guint run = 0; run < 50; run++)
    {
      guint32 cap = g_rand_int_range (rand, 0, 8 * MiB);
      guint32 granted = SM_YAMUX_INITIAL_WINDOW; /* sum of what we granted minus what came */
      SmYamuxFlow flow;

      sm_yamux_flow_init (&flow, cap);
      for (guint step = 0; step < 2000; step++)
        {
          guint32 window = flow.window;

          if (g_rand_boolean (rand))
            {
              guint32 len = g_rand_int_range (rand, 0, (gint32) flow.recv_window + 1);

              g_assert_true (sm_yamux_flow_receive (&flow, len, NULL));
              granted -= len;
            }
          else
            {
              guint32 len = g_rand_boolean (rand)
                                ? flow.buffered
                                : (guint32) g_rand_int_range (rand, 0, (gint32) flow.buffered + 1);
              guint32 delta = sm_yamux_flow_consume (&flow, len);

              g_assert_true (delta == 0 || delta >= flow.window / 2);
              granted += delta;
            }
          assert_flow_bounded (&flow);
          g_assert_cmpuint (flow.recv_window, ==, granted);
          g_assert_cmpuint (flow.window, >=, window);
        }
      n_grown += flow.window > SM_YAMUX_INITIAL_WINDOW;
    }
  /* The walk did exercise growth */
  g_assert_cmpuint (n_grown, >, 0);
}

static void
test_flow_receive_overrun (void)
{
  g_autoptr(GError) error = NULL;
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 0);
  g_assert_false (sm_yamux_flow_receive (&flow, SM_YAMUX_INITIAL_WINDOW + 1, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_cmpuint (flow.recv_window, ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.buffered, ==, 0);

  g_assert_true (sm_yamux_flow_receive (&flow, 100 * KiB, &error));
  g_assert_true (sm_yamux_flow_receive (&flow, 0, &error));
  g_assert_true (sm_yamux_flow_receive (&flow, SM_YAMUX_INITIAL_WINDOW - 100 * KiB, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (flow.recv_window, ==, 0);
  g_assert_cmpuint (flow.buffered, ==, SM_YAMUX_INITIAL_WINDOW);

  g_assert_false (sm_yamux_flow_receive (&flow, 1, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
  g_assert_cmpuint (flow.recv_window, ==, 0);
  g_assert_cmpuint (flow.buffered, ==, SM_YAMUX_INITIAL_WINDOW);
}

static void
test_flow_consume_batched (void)
{
  const guint32 half = SM_YAMUX_INITIAL_WINDOW / 2;
  guint32 consumed = 0;
  guint n_updates = 0;
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 0);
  g_assert_true (sm_yamux_flow_receive (&flow, SM_YAMUX_INITIAL_WINDOW, NULL));

  /* Read in 1 KiB steps: one update per half window, never before */
  while (consumed < SM_YAMUX_INITIAL_WINDOW)
    {
      guint32 delta = sm_yamux_flow_consume (&flow, 1 * KiB);

      consumed += 1 * KiB;
      assert_flow_bounded (&flow);
      if (consumed % half != 0)
        {
          g_assert_cmpuint (delta, ==, 0);
          continue;
        }
      g_assert_cmpuint (delta, ==, half);
      n_updates++;
    }
  g_assert_cmpuint (n_updates, ==, 2);
  g_assert_cmpuint (flow.buffered, ==, 0);
  g_assert_cmpuint (flow.recv_window, ==, SM_YAMUX_INITIAL_WINDOW);
}

static void
test_flow_consume_large_window (void)
{
  SmYamuxFlow flow;

  /* A reader that kept up for two rounds got the whole 1 MiB */
  sm_yamux_flow_init (&flow, 1 * MiB);
  flow_round_keeping_up (&flow);
  flow_round_keeping_up (&flow);
  g_assert_cmpuint (flow.window, ==, 1 * MiB);
  g_assert_cmpuint (flow.recv_window, ==, 1 * MiB);

  g_assert_true (sm_yamux_flow_receive (&flow, 600 * KiB, NULL));
  g_assert_cmpuint (flow.recv_window, ==, 424 * KiB);

  /* 100 KiB free is under half of 1 MiB: no update yet */
  g_assert_cmpuint (sm_yamux_flow_consume (&flow, 100 * KiB), ==, 0);
  g_assert_cmpuint (flow.recv_window, ==, 424 * KiB);
  assert_flow_bounded (&flow);

  /* More data while the reader is slow: the window keeps shrinking */
  g_assert_true (sm_yamux_flow_receive (&flow, 400 * KiB, NULL));
  g_assert_cmpuint (flow.recv_window, ==, 24 * KiB);
  g_assert_cmpuint (flow.buffered, ==, 900 * KiB);

  /* 411 KiB free: still under half */
  g_assert_cmpuint (sm_yamux_flow_consume (&flow, 311 * KiB), ==, 0);
  /* 512 KiB free: exactly half, the update carries everything read */
  g_assert_cmpuint (sm_yamux_flow_consume (&flow, 101 * KiB), ==, 512 * KiB);
  g_assert_cmpuint (flow.recv_window, ==, 536 * KiB);
  g_assert_cmpuint (flow.buffered, ==, 488 * KiB);
  assert_flow_bounded (&flow);

  g_assert_cmpuint (sm_yamux_flow_consume (&flow, 488 * KiB), ==, 0);
  g_assert_cmpuint (flow.recv_window, ==, 536 * KiB);
  g_assert_cmpuint (flow.buffered, ==, 0);
}

static void
test_flow_consume_too_much (void)
{
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 0);
  g_assert_true (sm_yamux_flow_receive (&flow, 10, NULL));

  g_test_expect_message ("socketmaster-yamux", G_LOG_LEVEL_CRITICAL, "*len <= flow->buffered*");
  g_assert_cmpuint (sm_yamux_flow_consume (&flow, 11), ==, 0);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (flow.buffered, ==, 10);
}

static void
test_flow_send (void)
{
  g_autoptr(GError) error = NULL;
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 4 * MiB);
  /* Our receive window does not change what we may send */
  g_assert_cmpuint (sm_yamux_flow_sendable (&flow, G_MAXSIZE), ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (sm_yamux_flow_sendable (&flow, 10), ==, 10);
  g_assert_cmpuint (sm_yamux_flow_sendable (&flow, 0), ==, 0);

  sm_yamux_flow_sent (&flow, 1000);
  g_assert_cmpuint (sm_yamux_flow_sendable (&flow, G_MAXSIZE), ==, SM_YAMUX_INITIAL_WINDOW - 1000);
  sm_yamux_flow_sent (&flow, SM_YAMUX_INITIAL_WINDOW - 1000);
  g_assert_cmpuint (sm_yamux_flow_sendable (&flow, 1), ==, 0);

  g_assert_true (sm_yamux_flow_grant (&flow, 1000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (sm_yamux_flow_sendable (&flow, G_MAXSIZE), ==, 1000);
  g_assert_true (sm_yamux_flow_grant (&flow, 0, &error));
  g_assert_cmpuint (flow.send_window, ==, 1000);
}

/* Up to exactly 2^32 - 1 is fine, one more overflows */
static void
test_flow_grant_overflow (void)
{
  g_autoptr(GError) error = NULL;
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 4 * MiB);
  sm_yamux_flow_sent (&flow, SM_YAMUX_INITIAL_WINDOW);
  g_assert_true (sm_yamux_flow_grant (&flow, 1000, &error));
  g_assert_true (sm_yamux_flow_grant (&flow, G_MAXUINT32 - 1000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (flow.send_window, ==, G_MAXUINT32);
  g_assert_cmpuint (sm_yamux_flow_sendable (&flow, G_MAXSIZE), ==, G_MAXUINT32);

  g_assert_false (sm_yamux_flow_grant (&flow, 1, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
  g_assert_cmpuint (flow.send_window, ==, G_MAXUINT32);
  g_clear_error (&error);

  sm_yamux_flow_sent (&flow, 10);
  g_assert_false (sm_yamux_flow_grant (&flow, G_MAXUINT32, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_PROTOCOL);
  g_assert_cmpuint (flow.send_window, ==, G_MAXUINT32 - 10);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/yamux-frame/header/encode", test_header_encode);
  g_test_add_func ("/yamux-frame/header/decode", test_header_decode);
  g_test_add_func ("/yamux-frame/header/round-trip", test_header_round_trip);
  g_test_add_func ("/yamux-frame/header/decode-errors", test_header_decode_errors);
  g_test_add_func ("/yamux-frame/type-to-string", test_type_to_string);
  g_test_add_func ("/yamux-frame/flow/init", test_flow_init);
  g_test_add_func ("/yamux-frame/flow/initial-delta", test_flow_initial_delta);
  g_test_add_func ("/yamux-frame/flow/initial-delta-after-data", test_flow_initial_delta_after_data);
  g_test_add_func ("/yamux-frame/flow/grow-keeping-up", test_flow_grow_keeping_up);
  g_test_add_func ("/yamux-frame/flow/no-growth-while-stalled", test_flow_no_growth_while_stalled);
  g_test_add_func ("/yamux-frame/flow/no-growth-without-need", test_flow_no_growth_without_need);
  g_test_add_func ("/yamux-frame/flow/grow-cap", test_flow_grow_cap);
  g_test_add_func ("/yamux-frame/flow/invariants", test_flow_invariants);
  g_test_add_func ("/yamux-frame/flow/receive-overrun", test_flow_receive_overrun);
  g_test_add_func ("/yamux-frame/flow/consume-batched", test_flow_consume_batched);
  g_test_add_func ("/yamux-frame/flow/consume-large-window", test_flow_consume_large_window);
  g_test_add_func ("/yamux-frame/flow/consume-too-much", test_flow_consume_too_much);
  g_test_add_func ("/yamux-frame/flow/send", test_flow_send);
  g_test_add_func ("/yamux-frame/flow/grant-overflow", test_flow_grant_overflow);

  return g_test_run ();
}
