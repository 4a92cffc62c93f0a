/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Copies two GIOStreams into each other until both directions ended.
 * Both must have pollable input and output streams. Each direction has one
 * bounded buffer: when it is full, reading from that side stops
 * (backpressure). EOF on one side's input becomes a half-close of the
 * other's output: g_socket_shutdown (SHUT_WR) for a GSocketConnection,
 * g_output_stream_close() otherwise (a yamux FIN). When both directions
 * are done both streams are closed. An error on either side (reset,
 * ECONNRESET) aborts both: a yamux stream is reset, other streams closed.
 */

#include <gio/gio.h>

G_BEGIN_DECLS

#define SM_SPLICE_DEFAULT_BUFFER_SIZE (64 * 1024)

typedef struct
{
  guint64 a_to_b; /* bytes read from a and written to b */
  guint64 b_to_a;
} SmSpliceCounts;

/* @buffer_size: per direction; 0 for the default */
void     sm_splice_async (GIOStream          *a,
                          GIOStream          *b,
                          gsize               buffer_size,
                          GCancellable       *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer            user_data);
/* @counts may be NULL. Counts are set on failure too. */
gboolean sm_splice_finish (GAsyncResult *result, SmSpliceCounts *counts, GError **error);

G_END_DECLS
