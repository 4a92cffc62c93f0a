/* SPDX-License-Identifier: MIT */
#include "sm-error.h"
#include "sm-tls-workers.h"

struct _SmTlsWorkers
{
  GObject      parent_instance;

  GThreadPool *pool;
  guint        n_threads;
  guint        n_jobs_run; /* atomic */
};

/* Where a job is. Moved with atomics: besides the queue's and the
 * context's locks, which already order the hand-overs, they make them
 * visible to ThreadSanitizer, which does not see through GLib's
 * futex-based locks. */
typedef enum
{
  JOB_QUEUED,
  JOB_WORKED,
  JOB_DONE,
} JobStage;

/* One job, from sm_tls_workers_run() until its completion ran or was
 * dropped */
typedef struct
{
  SmTlsWorkFunc  work;
  GSourceFunc    done;
  gpointer       data;
  GDestroyNotify data_free;
  GMainContext  *context;
  int            stage; /* JobStage, atomic */
} Job;

G_DEFINE_FINAL_TYPE (SmTlsWorkers, sm_tls_workers, G_TYPE_OBJECT)

static SmTlsWorkers *default_workers;

static void
job_free (Job *job)
{
  if (g_atomic_int_get (&job->stage) != JOB_DONE && job->data_free != NULL)
    job->data_free (job->data);
  g_main_context_unref (job->context);
  g_free (job);
}

static gboolean
job_done_cb (gpointer user_data)
{
  Job *job = user_data;

  g_warn_if_fail (g_atomic_int_get (&job->stage) == JOB_WORKED);
  g_atomic_int_set (&job->stage, JOB_DONE);
  job->done (job->data);
  return G_SOURCE_REMOVE;
}

/* In a worker thread */
static void
run_job (gpointer item, gpointer user_data)
{
  SmTlsWorkers *self = user_data;
  Job          *job = item;
  GMainContext *context;
  GSource      *source;

  g_warn_if_fail (g_atomic_int_get (&job->stage) == JOB_QUEUED);
  context = job->context;
  job->work (job->data);
  g_atomic_int_inc (&self->n_jobs_run);
  g_atomic_int_set (&job->stage, JOB_WORKED);

  /* the job is the context's now: it may be done and freed at once */
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, job_done_cb, job, (GDestroyNotify) job_free);
  g_source_set_static_name (source, "[socketmaster] TLS work done");
  g_source_attach (source, context);
  g_source_unref (source);
}

static void
sm_tls_workers_finalize (GObject *object)
{
  SmTlsWorkers *self = SM_TLS_WORKERS (object);

  /* lets every job submitted run: each one posts its completion */
  if (self->pool != NULL)
    g_thread_pool_free (self->pool, FALSE, TRUE);

  G_OBJECT_CLASS (sm_tls_workers_parent_class)->finalize (object);
}

static void
sm_tls_workers_class_init (SmTlsWorkersClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sm_tls_workers_finalize;
}

static void
sm_tls_workers_init (SmTlsWorkers *self)
{
}

SmTlsWorkers *
sm_tls_workers_new (guint n_threads, GError **error)
{
  g_autoptr (SmTlsWorkers) self = NULL;
  g_autoptr (GError) pool_error = NULL;

  g_return_val_if_fail (n_threads >= 1 && n_threads <= SM_TLS_MAX_WORKERS, NULL);

  self = g_object_new (SM_TYPE_TLS_WORKERS, NULL);
  self->n_threads = n_threads;
  /* exclusive: the threads start now and stay, so a handshake never waits
   * for one to be spawned */
  self->pool = g_thread_pool_new (run_job, self, (int) n_threads, TRUE, &pool_error);
  if (self->pool == NULL)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "could not start %u TLS worker threads: %s",
                   n_threads, pool_error->message);
      return NULL;
    }

  g_debug ("%u TLS worker thread(s) started", n_threads);
  return g_steal_pointer (&self);
}

guint
sm_tls_workers_get_n_threads (SmTlsWorkers *self)
{
  g_return_val_if_fail (SM_IS_TLS_WORKERS (self), 0);
  return self->n_threads;
}

guint
sm_tls_workers_get_n_jobs_run (SmTlsWorkers *self)
{
  g_return_val_if_fail (SM_IS_TLS_WORKERS (self), 0);
  return (guint) g_atomic_int_get (&self->n_jobs_run);
}

void
sm_tls_workers_run (SmTlsWorkers  *self,
                    SmTlsWorkFunc  work,
                    GSourceFunc    done,
                    gpointer       data,
                    GDestroyNotify data_free,
                    GMainContext  *context)
{
  Job *job;

  g_return_if_fail (SM_IS_TLS_WORKERS (self));
  g_return_if_fail (work != NULL && done != NULL);

  job = g_new0 (Job, 1);
  job->work = work;
  job->done = done;
  job->data = data;
  job->data_free = data_free;
  job->context = g_main_context_ref (context != NULL ? context : g_main_context_default ());
  g_atomic_int_set (&job->stage, JOB_QUEUED);
  /* only fails for an exclusive pool that could not start a thread, which
   * sm_tls_workers_new() already refused */
  g_thread_pool_push (self->pool, job, NULL);
}

SmTlsWorkers *
sm_tls_workers_get_default (void)
{
  return default_workers;
}

void
sm_tls_workers_set_default (SmTlsWorkers *workers)
{
  g_return_if_fail (workers == NULL || SM_IS_TLS_WORKERS (workers));

  if (workers != NULL)
    g_object_ref (workers);
  g_clear_object (&default_workers);
  default_workers = workers;
}
