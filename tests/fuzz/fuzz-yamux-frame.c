/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sm-error.h"
#include "sm-yamux-frame.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
check_header (const guint8 *wire)
{
  g_autoptr(GError) error = NULL;
  guint8 encoded[SM_YAMUX_HEADER_SIZE];
  SmYamuxHeader header;

  if (!sm_yamux_header_decode (wire, &header, &error))
    {
      if (error == NULL || !g_error_matches (error, SM_ERROR, SM_ERROR_PROTOCOL))
        abort ();
      return;
    }

  if (error != NULL || header.version != SM_YAMUX_VERSION ||
      header.type > SM_YAMUX_TYPE_GO_AWAY || (header.flags & ~SM_YAMUX_FLAGS_ALL) != 0)
    abort ();
  sm_yamux_header_encode (&header, encoded);
  if (memcmp (encoded, wire, SM_YAMUX_HEADER_SIZE) != 0)
    abort ();
}

static guint32
read_u32 (const guint8 *bytes)
{
  return ((guint32) bytes[0] << 24) | ((guint32) bytes[1] << 16) |
         ((guint32) bytes[2] << 8) | bytes[3];
}

/* Drives one stream's flow control with operations taken from the input
 * (one opcode byte, one 32-bit operand each) and checks its invariants. */
static void
check_flow (const guint8 *data,
            size_t        size)
{
  SmYamuxFlow flow;

  if (size < 4)
    return;
  sm_yamux_flow_init (&flow, read_u32 (data));
  data += 4;
  size -= 4;

  for (; size >= 5; data += 5, size -= 5)
    {
      guint32 operand = read_u32 (data + 1);
      SmYamuxFlow before = flow;
      g_autoptr(GError) error = NULL;

      switch (data[0] % 5)
        {
        case 0:
          {
            guint32 delta = sm_yamux_flow_initial_delta (&flow);

            if (flow.recv_window != before.recv_window + delta)
              abort ();
          }
          break;

        case 1:
          if (sm_yamux_flow_receive (&flow, operand, &error) != (operand <= before.recv_window))
            abort ();
          break;

        case 2:
          {
            guint32 len = operand % ((guint64) flow.buffered + 1);
            guint32 delta = sm_yamux_flow_consume (&flow, len);

            if (flow.buffered != before.buffered - len ||
                flow.recv_window != before.recv_window + delta ||
                (delta != 0 && delta < before.window / 2))
              abort ();
          }
          break;

        case 3:
          {
            guint32 len = sm_yamux_flow_sendable (&flow, operand);

            if (len > operand || len > flow.send_window)
              abort ();
            sm_yamux_flow_sent (&flow, len);
          }
          break;

        case 4:
          if (sm_yamux_flow_grant (&flow, operand, &error) !=
              ((guint64) before.send_window + operand <= G_MAXUINT32))
            abort ();
          break;

        default:
          g_assert_not_reached ();
        }

      /* The window only grows, up to its cap, and bounds what is granted */
      if ((guint64) flow.recv_window + flow.buffered > flow.window ||
          flow.window > flow.max_window || flow.window < before.window ||
          flow.max_window != before.max_window)
        abort ();
    }
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  for (size_t offset = 0; offset + SM_YAMUX_HEADER_SIZE <= size; offset += SM_YAMUX_HEADER_SIZE)
    check_header (data + offset);

  check_flow (data, size);
  return 0;
}
