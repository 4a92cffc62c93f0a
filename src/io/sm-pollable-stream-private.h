/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What SmPollableInputStream and SmPollableOutputStream share, written
 * once for both: @stream is one of them, and @condition says which
 * (G_IO_IN for an input stream, G_IO_OUT for an output stream).
 */

#include "sm-pollable-input-stream.h"
#include "sm-pollable-output-stream.h"

G_BEGIN_DECLS

/*
 * The blocking read_fn and write_fn: the non-blocking call until it does
 * not fail with G_IO_ERROR_WOULD_BLOCK, each time waiting for the stream's
 * own source in between, by iterating the stream's context. Fails with
 * G_IO_ERROR_CANCELLED once @cancellable is cancelled, and with
 * G_IO_ERROR_FAILED if the calling thread cannot acquire that context.
 */
gssize sm_pollable_stream_io_blocking (GObject      *stream,
                                       GIOCondition  condition,
                                       void         *buffer,
                                       gsize         count,
                                       GCancellable *cancellable,
                                       GError      **error);

/* close_async: close_fn runs now, in the calling thread, and the task
 * returns what it said */
void   sm_pollable_stream_close_async (GObject            *stream,
                                       GIOCondition        condition,
                                       int                 io_priority,
                                       GCancellable       *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer            user_data);

/* The event core's hook on a stream (set_notify() of either class): one
 * at a time; removing it takes effect only for the owner that set it,
 * since a stream handed from one watch to the next keeps the newer */
typedef struct
{
  void (*func) (gpointer user_data);
  gpointer user_data;
} SmPollableNotify;

static inline void
sm_pollable_notify_set (SmPollableNotify *notify, void (*func) (gpointer), gpointer user_data)
{
  if (func == NULL && notify->user_data != user_data)
    return;
  notify->func = func;
  notify->user_data = user_data;
}

static inline void
sm_pollable_notify_emit (const SmPollableNotify *notify)
{
  if (notify->func != NULL)
    notify->func (notify->user_data);
}

G_END_DECLS
