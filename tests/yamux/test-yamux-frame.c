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
  /* The peer can never have more in flight and unread than max_window */
  g_assert_cmpuint ((guint64) flow->recv_window + flow->buffered, <=, flow->max_window);
}

static void
test_flow_init (void)
{
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 0);
  g_assert_cmpuint (flow.max_window, ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.recv_window, ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.send_window, ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.buffered, ==, 0);

  sm_yamux_flow_init (&flow, SM_YAMUX_INITIAL_WINDOW - 1);
  g_assert_cmpuint (flow.max_window, ==, SM_YAMUX_INITIAL_WINDOW);

  sm_yamux_flow_init (&flow, 16 * MiB);
  g_assert_cmpuint (flow.max_window, ==, 16 * MiB);
  g_assert_cmpuint (flow.recv_window, ==, SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.send_window, ==, SM_YAMUX_INITIAL_WINDOW);
}

static void
test_flow_initial_delta (void)
{
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 0);
  g_assert_cmpuint (sm_yamux_flow_initial_delta (&flow), ==, 0);
  g_assert_cmpuint (flow.recv_window, ==, SM_YAMUX_INITIAL_WINDOW);

  sm_yamux_flow_init (&flow, 1 * MiB);
  g_assert_cmpuint (sm_yamux_flow_initial_delta (&flow), ==, 1 * MiB - SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.recv_window, ==, 1 * MiB);
  g_assert_cmpuint (flow.send_window, ==, SM_YAMUX_INITIAL_WINDOW);
  /* Credited once only */
  g_assert_cmpuint (sm_yamux_flow_initial_delta (&flow), ==, 0);
  g_assert_cmpuint (flow.recv_window, ==, 1 * MiB);
}

/* Data that arrived with the SYN, before the stream is accepted */
static void
test_flow_initial_delta_after_data (void)
{
  SmYamuxFlow flow;

  sm_yamux_flow_init (&flow, 1 * MiB);
  g_assert_true (sm_yamux_flow_receive (&flow, 1000, NULL));
  g_assert_cmpuint (sm_yamux_flow_initial_delta (&flow), ==, 1 * MiB - SM_YAMUX_INITIAL_WINDOW);
  g_assert_cmpuint (flow.recv_window, ==, 1 * MiB - 1000);
  assert_flow_bounded (&flow);
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

  sm_yamux_flow_init (&flow, 1 * MiB);
  sm_yamux_flow_initial_delta (&flow);

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

  g_test_expect_message ("socketmaster", G_LOG_LEVEL_CRITICAL, "*len <= flow->buffered*");
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
  g_test_add_func ("/yamux-frame/flow/receive-overrun", test_flow_receive_overrun);
  g_test_add_func ("/yamux-frame/flow/consume-batched", test_flow_consume_batched);
  g_test_add_func ("/yamux-frame/flow/consume-large-window", test_flow_consume_large_window);
  g_test_add_func ("/yamux-frame/flow/consume-too-much", test_flow_consume_too_much);
  g_test_add_func ("/yamux-frame/flow/send", test_flow_send);
  g_test_add_func ("/yamux-frame/flow/grant-overflow", test_flow_grant_overflow);

  return g_test_run ();
}
