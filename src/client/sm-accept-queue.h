/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Public connections that no SmListener::incoming handler took, and the
 * sm_listener_accept_async() calls waiting for one; both served FIFO.
 * Internal to the client library.
 */

#include <gio/gio.h>
#include "sm-yamux-stream.h"

G_BEGIN_DECLS

typedef struct _SmAcceptQueue SmAcceptQueue;

SmAcceptQueue                *sm_accept_queue_new (GMainContext *context, guint max_streams);
/* Resets queued streams; no task may be waiting */
void                          sm_accept_queue_free (SmAcceptQueue *queue);

/* Completes the oldest waiting task with @stream, else keeps a reference.
 * FALSE when @max_streams are already queued: @stream was not taken. */
gboolean       sm_accept_queue_push_stream (SmAcceptQueue *queue, SmYamuxStream *stream);
/* Takes the oldest queued stream, NULL if none */
SmYamuxStream *sm_accept_queue_pop_stream (SmAcceptQueue *queue);
/* Parks @task (pointer result: a GIOStream) until a stream arrives or its
 * cancellable is cancelled. Completion happens in the queue's context. */
void           sm_accept_queue_wait (SmAcceptQueue *queue, GTask *task);
void           sm_accept_queue_fail_waiting (SmAcceptQueue *queue, const GError *error);
void           sm_accept_queue_reset_streams (SmAcceptQueue *queue);
/* Resets the queued streams whose session has ended */
void           sm_accept_queue_reset_dead_streams (SmAcceptQueue *queue);

G_END_DECLS
