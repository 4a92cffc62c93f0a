/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-pollable-source.h"

/*
 * Why not GLib's own sources: dispatching a source that is not allowed to
 * recurse blocks it, and blocking a source (with its children) takes each
 * of its file descriptors out of the context's poll set, which signals the
 * context's eventfd; unblocking puts them back and signals it again. That
 * is two write() syscalls and an extra wake-up of the next poll for every
 * readiness event of every socket. So these sources may recurse as far as
 * GLib knows, and keep themselves out of nested iterations instead: while
 * the callback runs, prepare and check say "not ready" and, only once a
 * nested iteration really prepares the source, its file descriptor leaves
 * the poll set until the callback returns. A cancellable cancelled
 * meanwhile makes the source dispatch right after the callback, as if it
 * had been blocked. A source that watches its base stream through a child
 * source (no socket under it) is left to GLib's blocking: a level-triggered
 * child would fire again and again in a nested iteration.
 */

typedef struct
{
  GSource             source;
  GObject            *stream;       /* what the callback gets, owned */
  SmPollableReadyFunc is_ready;     /* NULL: only the fd or children */
  GObject            *ready_object; /* owned */

  int                 fd; /* a base socket's, or -1 */
  GIOCondition        fd_condition;
  gpointer            fd_tag; /* NULL while kept out of the poll set */

  gboolean            dispatching;
  gboolean            missed; /* wanted to dispatch during the callback */
  gboolean            has_base_child;
} SmPollableSource;

static void
pollable_source_suspend_fd (SmPollableSource *self)
{
  if (self->fd_tag == NULL)
    return;
  g_source_remove_unix_fd ((GSource *) self, self->fd_tag);
  self->fd_tag = NULL;
}

static void
pollable_source_resume_fd (SmPollableSource *self)
{
  if (self->fd < 0 || self->fd_tag != NULL)
    return;
  self->fd_tag = g_source_add_unix_fd ((GSource *) self, self->fd, self->fd_condition);
}

static gboolean
pollable_source_is_ready (SmPollableSource *self)
{
  if (self->missed)
    return TRUE;
  return self->is_ready != NULL && self->is_ready (self->ready_object);
}

static gboolean
pollable_source_prepare (GSource *source, gint *timeout)
{
  SmPollableSource *self = (SmPollableSource *) source;

  *timeout = -1;
  /* A nested iteration inside our own callback */
  if (self->dispatching)
    {
      pollable_source_suspend_fd (self);
      return FALSE;
    }
  return pollable_source_is_ready (self);
}

/* GLib adds readiness of the file descriptor by itself. */
static gboolean
pollable_source_check (GSource *source)
{
  SmPollableSource *self = (SmPollableSource *) source;

  if (self->dispatching)
    return FALSE;
  return pollable_source_is_ready (self);
}

static gboolean
pollable_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  SmPollableSource   *self = (SmPollableSource *) source;
  GPollableSourceFunc func = (GPollableSourceFunc) (void (*) (void)) callback;
  gboolean            result;

  /* Only a child source can get us here during our callback; it is
   * handled once the callback has returned. */
  if (self->dispatching)
    {
      self->missed = TRUE;
      return G_SOURCE_CONTINUE;
    }
  self->missed = FALSE;

  if (func == NULL)
    {
      g_warning ("%s dispatched without a callback", g_source_get_name (source));
      return G_SOURCE_REMOVE;
    }

  self->dispatching = TRUE;
  result = func (self->stream, user_data);
  self->dispatching = FALSE;

  if (result == G_SOURCE_CONTINUE && !g_source_is_destroyed (source))
    pollable_source_resume_fd (self);
  return result;
}

static void
pollable_source_finalize (GSource *source)
{
  SmPollableSource *self = (SmPollableSource *) source;

  g_clear_object (&self->stream);
  g_clear_object (&self->ready_object);
}

/* Needed by g_source_set_closure() and g_source_set_dummy_callback(),
 * which libsoup calls on the sources of the streams it reads */
static gboolean
pollable_source_closure_callback (GObject *stream, gpointer data)
{
  GClosure *closure = data;
  GValue    param = G_VALUE_INIT;
  GValue    result_value = G_VALUE_INIT;
  gboolean  result;

  g_value_init (&result_value, G_TYPE_BOOLEAN);
  g_value_init (&param, G_TYPE_OBJECT);
  g_value_set_object (&param, stream);
  g_closure_invoke (closure, &result_value, 1, &param, NULL);
  result = g_value_get_boolean (&result_value);
  g_value_unset (&result_value);
  g_value_unset (&param);
  return result;
}

static GSourceFuncs pollable_source_funcs = {
  .prepare = pollable_source_prepare,
  .check = pollable_source_check,
  .dispatch = pollable_source_dispatch,
  .finalize = pollable_source_finalize,
  .closure_callback = (GSourceFunc) (void (*) (void)) pollable_source_closure_callback,
};

GSource *
sm_pollable_source_new (GObject            *stream,
                        SmPollableReadyFunc is_ready,
                        GObject            *ready_object,
                        GCancellable       *cancellable)
{
  GSource          *source;
  SmPollableSource *self;

  g_return_val_if_fail (G_IS_POLLABLE_INPUT_STREAM (stream) || G_IS_POLLABLE_OUTPUT_STREAM (stream),
                        NULL);
  g_return_val_if_fail (ready_object == NULL || G_IS_OBJECT (ready_object), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);

  source = g_source_new (&pollable_source_funcs, sizeof (SmPollableSource));
  self = (SmPollableSource *) source;
  self->stream = g_object_ref (stream);
  self->is_ready = is_ready;
  self->ready_object = ready_object != NULL ? g_object_ref (ready_object) : NULL;
  self->fd = -1;
  g_source_set_static_name (source, "[socketmaster] pollable stream");
  /* See the top of this file: we keep out of nested iterations ourselves. */
  g_source_set_can_recurse (source, TRUE);

  /* As g_pollable_source_new_full(): a cancelled cancellable makes the
   * child ready, which dispatches the parent. It fires once, so it cannot
   * spin in a nested iteration. */
  if (cancellable != NULL)
    {
      GSource *cancellable_source = g_cancellable_source_new (cancellable);

      g_source_set_dummy_callback (cancellable_source);
      g_source_add_child_source (source, cancellable_source);
      g_source_unref (cancellable_source);
    }

  return source;
}

GSocket *
sm_stream_get_socket (GObject *stream)
{
  const char *type_name = G_OBJECT_TYPE_NAME (stream);
  GSocket    *socket = NULL;

  /* GIO keeps these types private; their names are stable since 2.22.
   * Exact names, so that wrappers (a GTcpWrapperConnection's TLS streams)
   * never have their socket read behind their back. */
  if (strcmp (type_name, "GSocketInputStream") != 0 &&
      strcmp (type_name, "GSocketOutputStream") != 0)
    return NULL;

  g_object_get (stream, "socket", &socket, NULL);
  /* The stream holds the socket for as long as it lives. */
  g_object_unref (socket);
  return socket;
}

static void
pollable_source_watch_socket (SmPollableSource *self, GSocket *socket, GIOCondition condition)
{
  self->fd = g_socket_get_fd (socket);
  self->fd_condition = condition;
  self->fd_tag = g_source_add_unix_fd ((GSource *) self, self->fd, condition);
}

/* The source of @stream's own for @condition (G_IO_IN or G_IO_OUT) */
static GSource *
stream_create_own_source (GObject *stream, GIOCondition condition, GCancellable *cancellable)
{
  if (condition == G_IO_IN)
    return g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (stream), cancellable);
  return g_pollable_output_stream_create_source (G_POLLABLE_OUTPUT_STREAM (stream), cancellable);
}

void
sm_pollable_source_add_base (GSource *source, GObject *base_stream, GIOCondition condition)
{
  SmPollableSource *self = (SmPollableSource *) source;
  GSocket          *socket;
  GSource          *child;

  g_return_if_fail (source->source_funcs == &pollable_source_funcs);
  g_return_if_fail (g_source_get_context (source) == NULL);
  g_return_if_fail (condition == G_IO_IN || condition == G_IO_OUT);
  g_return_if_fail (self->fd < 0 && !self->has_base_child);

  socket = sm_stream_get_socket (base_stream);
  if (socket != NULL)
    {
      pollable_source_watch_socket (self, socket, condition);
      return;
    }

  child = stream_create_own_source (base_stream, condition, NULL);
  g_source_set_dummy_callback (child);
  g_source_add_child_source (source, child);
  g_source_unref (child);
  self->has_base_child = TRUE;
  /* See the top of this file */
  g_source_set_can_recurse (source, FALSE);
}

static GSource *
stream_create_source (GObject *stream, GIOCondition condition, GCancellable *cancellable)
{
  GSocket *socket = sm_stream_get_socket (stream);
  GSource *source;

  if (socket == NULL)
    return stream_create_own_source (stream, condition, cancellable);

  source = sm_pollable_source_new (stream, NULL, NULL, cancellable);
  pollable_source_watch_socket ((SmPollableSource *) source, socket, condition);
  g_source_set_static_name (source, condition == G_IO_IN ? "[socketmaster] socket readable"
                                                         : "[socketmaster] socket writable");
  return source;
}

GSource *
sm_stream_create_read_source (GPollableInputStream *stream, GCancellable *cancellable)
{
  g_return_val_if_fail (G_IS_POLLABLE_INPUT_STREAM (stream), NULL);

  return stream_create_source (G_OBJECT (stream), G_IO_IN, cancellable);
}

GSource *
sm_stream_create_write_source (GPollableOutputStream *stream, GCancellable *cancellable)
{
  g_return_val_if_fail (G_IS_POLLABLE_OUTPUT_STREAM (stream), NULL);

  return stream_create_source (G_OBJECT (stream), G_IO_OUT, cancellable);
}

void
sm_source_clear (GSource **source)
{
  if (*source == NULL)
    return;

  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}
