/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * What an HTTP connection writes to its client: heads and answers of our
 * own are queued, then go out before any byte passed on after them (a
 * response body), in the same write when they can. The connection owns
 * it; its exchange queues response heads and writes bodies through it.
 */
typedef struct
{
  GPollableOutputStream *stream;
  GString               *queue;   /* heads and answers of our own */
  gsize                  sent;    /* bytes of the queue written */
  gboolean               blocked; /* the last write would have blocked: watch for room */
} SmHttpOutput;

void     sm_http_output_init (SmHttpOutput *self, GPollableOutputStream *stream);
void     sm_http_output_clear (SmHttpOutput *self);

/* Between requests: gives back memory of a queue that grew */
void     sm_http_output_trim (SmHttpOutput *self);

/* Whether queued bytes are still unwritten */
gboolean sm_http_output_pending (SmHttpOutput *self);

/* Writes what is queued, then up to @len bytes of @data (@len 0: only
 * what is queued), without blocking. Returns the bytes that moved, 0 if
 * none could (->blocked is set then), or -1 when the client is gone;
 * *@data_written: how many of @data. */
gssize   sm_http_output_write (SmHttpOutput *self,
                               const guint8 *data,
                               gsize         len,
                               gsize        *data_written,
                               GError      **error);

G_END_DECLS
