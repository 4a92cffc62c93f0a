/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A small pool of threads for the CPU-heavy part of TLS: the handshake
 * steps (key exchange, private-key signatures), so that several cores sign
 * while the event loop keeps moving bytes. An SmTlsStream given a pool runs
 * each gnutls_handshake() call in it (see sm_tls_stream_set_workers()).
 *
 * Work is handed to the threads in order; each job's completion runs in
 * the main context it was submitted from. Dropping the last reference
 * waits for the jobs already submitted to run (each is one non-blocking
 * step, so that is short); their completions are still dispatched by their
 * contexts afterwards, or released if such a context goes away first.
 */

#include <glib-object.h>

G_BEGIN_DECLS

/* More would only add threads competing for the same cores */
#define SM_TLS_MAX_WORKERS 64

#define SM_TYPE_TLS_WORKERS (sm_tls_workers_get_type ())
G_DECLARE_FINAL_TYPE (SmTlsWorkers, sm_tls_workers, SM, TLS_WORKERS, GObject)

/* Runs in a worker thread */
typedef void (*SmTlsWorkFunc) (gpointer data);

/* @n_threads: 1 to SM_TLS_MAX_WORKERS; fails with SM_ERROR_FAILED if the
 * threads cannot be started */
SmTlsWorkers *sm_tls_workers_new (guint n_threads, GError **error);
guint         sm_tls_workers_get_n_threads (SmTlsWorkers *self);
/* Jobs whose work has run so far (tracing and tests) */
guint         sm_tls_workers_get_n_jobs_run (SmTlsWorkers *self);

/* Runs @work (@data) in a worker thread, then @done (@data) in @context
 * (NULL: the global default context); @data_free (@data), if set, only
 * when @done could not run because @context went away first. */
void          sm_tls_workers_run (SmTlsWorkers  *self,
                                  SmTlsWorkFunc  work,
                                  GSourceFunc    done,
                                  gpointer       data,
                                  GDestroyNotify data_free,
                                  GMainContext  *context);

/* The pool SmTlsTerminator gives its handshakes; NULL (the default): they
 * run on the event loop. Main thread only. */
SmTlsWorkers *sm_tls_workers_get_default (void);
void          sm_tls_workers_set_default (SmTlsWorkers *workers);

G_END_DECLS
