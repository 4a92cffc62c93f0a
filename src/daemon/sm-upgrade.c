/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "sm-error.h"
#include "sm-upgrade.h"

/* sd_listen_fds(3): the first passed descriptor */
#define LISTEN_FDS_START 3

struct _SmUpgrade
{
  GObject parent_instance;

  char  **argv;
  GPid    pid;      /* the successor while it starts, else 0 */
  int     ready_fd; /* read end of its pipe, or -1 */
  guint   ready_source;
  guint   timeout_source;
  guint   child_watch;
};

enum
{
  SIGNAL_FINISHED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (SmUpgrade, sm_upgrade, G_TYPE_OBJECT)

char *
sm_upgrade_port_name (SmPort *port, guint n_routes)
{
  g_autofree char *key = g_strdup (sm_port_get_key (port));

  g_strdelimit (key, ":", '.');
  return g_strdup_printf (SM_UPGRADE_NAME_PUBLIC "%s%s/%u/%s",
                          sm_port_get_mode (port) == SM_PORT_MODE_HTTP ? "http" : "tcp",
                          sm_port_get_tls (port) ? "-tls" : "", n_routes, key);
}

gboolean
sm_upgrade_parse_name (const char *name,
                       gboolean   *out_control,
                       SmPortMode *out_mode,
                       gboolean   *out_tls,
                       guint      *out_n_routes)
{
  const char *kind;
  const char *end;
  gsize       len;
  guint64     n_routes = 0;

  *out_control = FALSE;
  *out_mode = SM_PORT_MODE_TCP;
  *out_tls = FALSE;
  *out_n_routes = 0;
  if (g_strcmp0 (name, SM_UPGRADE_NAME_CONTROL) == 0)
    {
      *out_control = TRUE;
      return TRUE;
    }
  if (name == NULL || !g_str_has_prefix (name, SM_UPGRADE_NAME_PUBLIC))
    return FALSE;

  kind = name + strlen (SM_UPGRADE_NAME_PUBLIC);
  end = strchr (kind, '/');
  if (end == NULL)
    return FALSE;
  len = (gsize) (end - kind);
  {
    g_autofree char *count = g_strndup (end + 1, strcspn (end + 1, "/"));

    if (!g_ascii_string_to_unsigned (count, 10, 0, G_MAXUINT16, &n_routes, NULL))
      return FALSE;
  }
  *out_n_routes = (guint) n_routes;
  if (len > 4 && strncmp (kind + len - 4, "-tls", 4) == 0)
    {
      *out_tls = TRUE;
      len -= 4;
    }
  if (len == 3 && strncmp (kind, "tcp", 3) == 0)
    *out_mode = SM_PORT_MODE_TCP;
  else if (len == 4 && strncmp (kind, "http", 4) == 0)
    *out_mode = SM_PORT_MODE_HTTP;
  else
    return FALSE;
  return TRUE;
}

static void
sm_upgrade_reset (SmUpgrade *self)
{
  g_clear_handle_id (&self->ready_source, g_source_remove);
  g_clear_handle_id (&self->timeout_source, g_source_remove);
  if (self->ready_fd >= 0)
    {
      close (self->ready_fd);
      self->ready_fd = -1;
    }
  self->pid = 0;
}

static void
sm_upgrade_finish (SmUpgrade *self, gboolean ready)
{
  GPid pid = self->pid;

  sm_upgrade_reset (self);
  if (ready)
    {
      g_message ("Upgrade: process %d is ready and takes over", (int) pid);
    }
  else
    {
      g_warning ("Upgrade: process %d failed to start; this one carries on", (int) pid);
      /* Ours, still starting: it must not serve beside us */
      if (pid > 0)
        kill (pid, SIGKILL);
    }
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0, ready, (guint) pid);
}

/* One byte when it is ready; end of file if it died first */
static gboolean
on_ready_readable (int fd, GIOCondition condition, gpointer user_data)
{
  SmUpgrade *self = user_data;
  char       byte = 0;
  gssize     n;

  do
    n = read (fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN)
    return G_SOURCE_CONTINUE;

  self->ready_source = 0;
  sm_upgrade_finish (self, n == 1);
  return G_SOURCE_REMOVE;
}

static gboolean
on_timeout (gpointer user_data)
{
  SmUpgrade *self = user_data;

  self->timeout_source = 0;
  sm_upgrade_finish (self, FALSE);
  return G_SOURCE_REMOVE;
}

static void
on_child_exited (GPid pid, gint status, gpointer user_data)
{
  g_debug ("Upgrade: process %d exited (status %d)", (int) pid, status);
  g_spawn_close_pid (pid);
}

static void
sm_upgrade_dispose (GObject *object)
{
  SmUpgrade *self = SM_UPGRADE (object);

  sm_upgrade_reset (self);
  /* A successor outlives us; only its watch goes */
  g_clear_handle_id (&self->child_watch, g_source_remove);
  G_OBJECT_CLASS (sm_upgrade_parent_class)->dispose (object);
}

static void
sm_upgrade_finalize (GObject *object)
{
  SmUpgrade *self = SM_UPGRADE (object);

  g_strfreev (self->argv);
  G_OBJECT_CLASS (sm_upgrade_parent_class)->finalize (object);
}

static void
sm_upgrade_class_init (SmUpgradeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sm_upgrade_dispose;
  object_class->finalize = sm_upgrade_finalize;

  signals[SIGNAL_FINISHED] =
      g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                    G_TYPE_NONE, 2, G_TYPE_BOOLEAN, G_TYPE_UINT);
}

static void
sm_upgrade_init (SmUpgrade *self)
{
  self->ready_fd = -1;
}

SmUpgrade *
sm_upgrade_new (const char *const *argv)
{
  SmUpgrade *self;

  g_return_val_if_fail (argv != NULL && argv[0] != NULL, NULL);

  self = g_object_new (SM_TYPE_UPGRADE, NULL);
  self->argv = g_strdupv ((char **) argv);
  return self;
}

/* The binary installed now: after a package upgrade /proc/self/exe names
 * the deleted old file, and its path is where the new one is */
static char *
find_executable (void)
{
  g_autofree char *target = g_file_read_link ("/proc/self/exe", NULL);

  if (target != NULL && g_str_has_suffix (target, " (deleted)"))
    target[strlen (target) - strlen (" (deleted)")] = '\0';
  if (target != NULL && g_file_test (target, G_FILE_TEST_IS_EXECUTABLE))
    return g_steal_pointer (&target);
  return g_strdup ("/proc/self/exe");
}

typedef struct
{
  GPtrArray *names; /* char * */
  GArray    *fds;   /* int, borrowed from their sockets */
} Listeners;

static void
collect (SmControl *control, SmRegistry *registry, Listeners *listeners)
{
  GPtrArray *sockets = sm_control_get_sockets (control);
  g_autoptr (GList) ports = sm_registry_get_ports (registry);

  for (guint i = 0; i < sockets->len; i++)
    {
      int fd = g_socket_get_fd (g_ptr_array_index (sockets, i));

      /* Both processes accept until we hand over: whoever loses the race
       * for a connection must get EAGAIN, not wait in accept() */
      g_socket_set_blocking (g_ptr_array_index (sockets, i), FALSE);

      g_ptr_array_add (listeners->names, g_strdup (SM_UPGRADE_NAME_CONTROL));
      g_array_append_val (listeners->fds, fd);
    }
  for (GList *l = ports; l != NULL; l = l->next)
    {
      GSocket *socket = sm_port_get_listen_socket (l->data);
      int      fd;

      if (socket == NULL)
        continue;
      g_socket_set_blocking (socket, FALSE);
      fd = g_socket_get_fd (socket);
      g_ptr_array_add (listeners->names,
                       sm_upgrade_port_name (l->data, sm_port_get_routes (l->data)->len));
      g_array_append_val (listeners->fds, fd);
    }
}

/* Decimal digits of @value into @out, async-signal-safe (after fork) */
static void
format_pid (char *out, pid_t value)
{
  char  digits[24];
  gsize n = 0;

  do
    {
      digits[n++] = (char) ('0' + value % 10);
      value /= 10;
    }
  while (value > 0 && n < sizeof digits);
  while (n > 0)
    *out++ = digits[--n];
  *out = '\0';
}

gboolean
sm_upgrade_start (SmUpgrade *self, SmControl *control, SmRegistry *registry, GError **error)
{
  Listeners listeners = { g_ptr_array_new_with_free_func (g_free),
                          g_array_new (FALSE, FALSE, sizeof (int)) };
  g_autoptr (GPtrArray) names = listeners.names;
  g_autoptr (GArray) fds = listeners.fds;
  g_autoptr (GArray) high = g_array_new (FALSE, FALSE, sizeof (int));
  g_autofree char  *executable = find_executable ();
  g_autofree char  *joined = NULL;
  g_autofree char **env_ptrs = NULL;
  g_auto (GStrv) env = NULL;
  char  listen_pid[64] = "LISTEN_PID=";
  char *pid_digits = listen_pid + strlen (listen_pid);
  int   pipe_fds[2] = { -1, -1 };
  int   ready_target;
  guint n_env;
  pid_t pid;
  int   saved_errno;

  g_return_val_if_fail (SM_IS_UPGRADE (self), FALSE);

  if (self->pid != 0)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_GOING_AWAY, "process %d is starting to take over",
                   (int) self->pid);
      return FALSE;
    }

  collect (control, registry, &listeners);
  ready_target = LISTEN_FDS_START + (int) fds->len;

  if (!g_unix_open_pipe (pipe_fds, FD_CLOEXEC, error))
    return FALSE;

  /* Above every target number, so no dup2() in the child overwrites a
   * descriptor it still has to move */
  for (guint i = 0; i <= fds->len; i++)
    {
      int source = i < fds->len ? g_array_index (fds, int, i) : pipe_fds[1];
      int copy = fcntl (source, F_DUPFD_CLOEXEC, ready_target + 1);

      if (copy < 0)
        {
          saved_errno = errno;
          for (guint j = 0; j < high->len; j++)
            close (g_array_index (high, int, j));
          close (pipe_fds[0]);
          close (pipe_fds[1]);
          g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "cannot pass the listeners on: %s",
                       g_strerror (saved_errno));
          return FALSE;
        }
      g_array_append_val (high, copy);
    }
  close (pipe_fds[1]);

  g_ptr_array_add (names, NULL);
  joined = g_strjoinv (":", (char **) names->pdata);
  env = g_get_environ ();
  env = g_environ_unsetenv (env, "LISTEN_PID");
  {
    g_autofree char *n = g_strdup_printf ("%u", fds->len);
    g_autofree char *ready = g_strdup_printf ("%d", ready_target);

    env = g_environ_setenv (env, "LISTEN_FDS", n, TRUE);
    env = g_environ_setenv (env, "LISTEN_FDNAMES", joined, TRUE);
    env = g_environ_setenv (env, SM_UPGRADE_READY_ENV, ready, TRUE);
  }
  /* LISTEN_PID is the child's own, known only after fork(): its slot is
   * filled in there, without allocating */
  n_env = g_strv_length (env);
  env_ptrs = g_new0 (char *, n_env + 2);
  memcpy (env_ptrs, env, n_env * sizeof (char *));
  env_ptrs[n_env] = listen_pid;

  g_debug ("Upgrade: starting %s with %u listeners: %s", executable, fds->len, joined);
  pid = fork ();
  if (pid == 0)
    {
      format_pid (pid_digits, getpid ());
      for (guint i = 0; i < high->len; i++)
        if (dup2 (g_array_index (high, int, i), LISTEN_FDS_START + (int) i) < 0)
          _exit (127);
      execve (executable, self->argv, env_ptrs);
      _exit (127);
    }
  saved_errno = errno;
  for (guint i = 0; i < high->len; i++)
    close (g_array_index (high, int, i));
  if (pid < 0)
    {
      close (pipe_fds[0]);
      g_set_error (error, SM_ERROR, SM_ERROR_FAILED, "cannot start a new process: %s",
                   g_strerror (saved_errno));
      return FALSE;
    }

  g_message ("Upgrade: started process %d with %u listeners", (int) pid, fds->len);
  self->pid = pid;
  self->ready_fd = pipe_fds[0];
  g_unix_set_fd_nonblocking (self->ready_fd, TRUE, NULL);
  self->ready_source =
      g_unix_fd_add (self->ready_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_ready_readable, self);
  self->timeout_source = g_timeout_add_seconds (SM_UPGRADE_TIMEOUT_SECONDS, on_timeout, self);
  g_clear_handle_id (&self->child_watch, g_source_remove);
  self->child_watch = g_child_watch_add (pid, on_child_exited, NULL);
  return TRUE;
}

gboolean
sm_upgrade_is_running (SmUpgrade *self)
{
  g_return_val_if_fail (SM_IS_UPGRADE (self), FALSE);
  return self->pid != 0;
}
