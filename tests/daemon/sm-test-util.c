/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "sm-test-util.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#define SM_TEST_IO_TIMEOUT_S 30
#define SM_TEST_MAX_STATUS   (64 * 1024)

void
sm_test_fail_at (const char *file,
                 int         line,
                 const char *func,
                 const char *format,
                 ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_assertion_message (G_LOG_DOMAIN, file, line, func, message);
  /* g_assertion_message() only returns when assertions were made
   * non-fatal, which these tests never do */
  abort ();
}

/* ---- Waiting on the main context ---- */

static gboolean
set_flag_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
sm_test_wait_until (SmTestCondition condition,
                    gpointer        data,
                    guint           timeout_ms)
{
  gboolean timed_out = FALSE;
  guint timeout_id;

  timeout_id = g_timeout_add (timeout_ms, set_flag_cb, &timed_out);
  while (!condition (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timeout_id);
  return condition (data);
}

typedef struct {
  const gint *value;
  gint        at_least;
} IntCondition;

static gboolean
int_reached (gpointer data)
{
  IntCondition *cond = data;

  return g_atomic_int_get (cond->value) >= cond->at_least;
}

void
sm_test_wait_for_int (const gint *value,
                      gint        at_least,
                      guint       timeout_ms,
                      const char *what)
{
  IntCondition cond = { value, at_least };

  if (!sm_test_wait_until (int_reached, &cond, timeout_ms))
    sm_test_fail ("timed out after %u ms waiting for %s (%d, expected >= %d)",
                  timeout_ms, what, g_atomic_int_get (value), at_least);
}

/* ---- Worker threads ---- */

struct _SmTestThread {
  GThread    *thread;
  GThreadFunc func;
  gpointer    data;
  gpointer    result;
  gint        done;
};

void
sm_test_signal_int (gint *flag,
                    gint  value)
{
  g_atomic_int_set (flag, value);
  g_main_context_wakeup (NULL);
}

static gpointer
test_thread_main (gpointer data)
{
  SmTestThread *self = data;

  self->result = self->func (self->data);
  sm_test_signal_int (&self->done, 1);
  return NULL;
}

SmTestThread *
sm_test_thread_new (const char *name,
                    GThreadFunc func,
                    gpointer    data)
{
  SmTestThread *self = g_new0 (SmTestThread, 1);

  self->func = func;
  self->data = data;
  self->thread = g_thread_new (name, test_thread_main, self);
  return self;
}

gpointer
sm_test_thread_join (SmTestThread *self,
                     guint         timeout_ms)
{
  gpointer result;

  sm_test_wait_for_int (&self->done, 1, timeout_ms, "a worker thread");
  g_thread_join (self->thread);
  result = self->result;
  g_free (self);
  return result;
}

/* ---- Child processes ---- */

struct _SmTestProcess {
  int           ref_count;
  char         *name;
  GSubprocess  *subprocess;
  GCancellable *cancellable;
  GPtrArray    *lines;
  guint         open_pipes;
  gboolean      exited;
};

static SmTestProcess *
process_ref (SmTestProcess *self)
{
  self->ref_count++;
  return self;
}

static void
process_unref (SmTestProcess *self)
{
  if (--self->ref_count > 0)
    return;
  g_clear_object (&self->subprocess);
  g_clear_object (&self->cancellable);
  g_ptr_array_unref (self->lines);
  g_free (self->name);
  g_free (self);
}

static void
child_setup (gpointer data)
{
  /* A test that aborts must not leave daemons behind */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void read_line_cb (GObject *source, GAsyncResult *result, gpointer data);

static void
read_next_line (SmTestProcess    *self,
                GDataInputStream *input)
{
  g_data_input_stream_read_line_async (input, G_PRIORITY_DEFAULT, self->cancellable,
                                       read_line_cb, process_ref (self));
}

static void
read_line_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  SmTestProcess *self = data;
  GDataInputStream *input = G_DATA_INPUT_STREAM (source);
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;

  line = g_data_input_stream_read_line_finish_utf8 (input, result, NULL, &error);
  if (line == NULL)
    {
      if (error != NULL)
        g_test_message ("[%s] output error: %s", self->name, error->message);
      self->open_pipes--;
      g_object_unref (input);
      process_unref (self);
      return;
    }
  g_test_message ("[%s] %s", self->name, line);
  g_ptr_array_add (self->lines, g_steal_pointer (&line));
  read_next_line (self, input);
  process_unref (self);
}

static void
wait_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      data)
{
  SmTestProcess *self = data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  self->exited = TRUE;
  process_unref (self);
}

SmTestProcess *
sm_test_process_spawn (const char         *name,
                       const char * const *argv)
{
  return sm_test_process_spawn_with_env (name, argv, NULL);
}

SmTestProcess *
sm_test_process_spawn_with_env (const char         *name,
                                const char * const *argv,
                                const char * const *env)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *command = g_strjoinv (" ", (char **) argv);
  SmTestProcess *self;
  GInputStream *pipes[2];

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  for (const char * const *variable = env; variable != NULL && *variable != NULL; variable++)
    {
      g_auto(GStrv) pair = g_strsplit (*variable, "=", 2);

      g_subprocess_launcher_setenv (launcher, pair[0], pair[1] != NULL ? pair[1] : "", TRUE);
    }

  self = g_new0 (SmTestProcess, 1);
  self->ref_count = 1;
  self->name = g_strdup (name);
  self->lines = g_ptr_array_new_with_free_func (g_free);
  self->cancellable = g_cancellable_new ();
  g_test_message ("[%s] spawning: %s", name, command);
  self->subprocess = g_subprocess_launcher_spawnv (launcher, argv, &error);
  if (self->subprocess == NULL)
    sm_test_fail ("cannot start %s (%s): %s", name, command, error->message);

  pipes[0] = g_subprocess_get_stdout_pipe (self->subprocess);
  pipes[1] = g_subprocess_get_stderr_pipe (self->subprocess);
  for (guint i = 0; i < G_N_ELEMENTS (pipes); i++)
    {
      self->open_pipes++;
      read_next_line (self, g_data_input_stream_new (pipes[i]));
    }
  g_subprocess_wait_async (self->subprocess, self->cancellable, wait_cb, process_ref (self));
  return self;
}

static gboolean
line_matches (const char *line,
              const char *text)
{
  const char *found;
  gsize len;

  if (strchr (text, '*') != NULL)
    {
      g_autofree char *glob = g_strconcat ("*", text, NULL);
      return g_pattern_match_simple (glob, line);
    }
  len = strlen (text);
  for (found = strstr (line, text); found != NULL; found = strstr (found + 1, text))
    {
      /* A number in @text must end where the line's number ends */
      if (len == 0 || !g_ascii_isdigit (text[len - 1]) || !g_ascii_isdigit (found[len]))
        return TRUE;
    }
  return FALSE;
}

static const char *
find_nth_line (SmTestProcess *self,
               const char    *text,
               guint          n)
{
  guint seen = 0;

  for (guint i = 0; i < self->lines->len; i++)
    {
      const char *line = g_ptr_array_index (self->lines, i);

      if (line_matches (line, text) && ++seen == n)
        return line;
    }
  return NULL;
}

guint
sm_test_process_count_lines (SmTestProcess *self,
                             const char    *text)
{
  guint count = 0;

  for (guint i = 0; i < self->lines->len; i++)
    count += line_matches (g_ptr_array_index (self->lines, i), text);
  return count;
}

void
sm_test_process_dump (SmTestProcess *self)
{
  g_test_message ("---- output of %s (%u lines) ----", self->name, self->lines->len);
  for (guint i = 0; i < self->lines->len; i++)
    g_test_message ("[%s] %s", self->name, (const char *) g_ptr_array_index (self->lines, i));
  g_test_message ("---- end of output of %s ----", self->name);
}

static char *
describe_exit (SmTestProcess *self)
{
  GSubprocess *subprocess = self->subprocess;

  if (g_subprocess_get_if_signaled (subprocess))
    return g_strdup_printf ("it was killed by signal %d", g_subprocess_get_term_sig (subprocess));
  return g_strdup_printf ("it exited with status %d", g_subprocess_get_exit_status (subprocess));
}

typedef struct {
  SmTestProcess *process;
  const char    *text;
  guint          n;
} LineCondition;

static gboolean
line_seen_or_gone (gpointer data)
{
  LineCondition *cond = data;

  return find_nth_line (cond->process, cond->text, cond->n) != NULL ||
         (cond->process->exited && cond->process->open_pipes == 0);
}

const char *
sm_test_process_wait_for_lines (SmTestProcess *self,
                                const char    *text,
                                guint          n,
                                guint          timeout_ms)
{
  LineCondition cond = { self, text, n };
  const char *line;

  sm_test_wait_until (line_seen_or_gone, &cond, timeout_ms);
  line = find_nth_line (self, text, n);
  if (line == NULL)
    {
      g_autofree char *why = self->exited ? describe_exit (self)
                                          : g_strdup_printf ("within %u ms", timeout_ms);

      sm_test_process_dump (self);
      sm_test_fail ("%s: expected %u line(s) matching \"%s\", saw %u (%s)",
                    self->name, n, text, sm_test_process_count_lines (self, text), why);
    }
  return line;
}

const char *
sm_test_process_wait_for_line (SmTestProcess *self,
                               const char    *text,
                               guint          timeout_ms)
{
  return sm_test_process_wait_for_lines (self, text, 1, timeout_ms);
}

gboolean
sm_test_process_is_running (SmTestProcess *self)
{
  return !self->exited;
}

const char *
sm_test_process_get_identifier (SmTestProcess *self)
{
  return g_subprocess_get_identifier (self->subprocess);
}

void
sm_test_process_send_signal (SmTestProcess *self,
                             int            signal_num)
{
  if (!self->exited)
    g_subprocess_send_signal (self->subprocess, signal_num);
}

static gboolean
process_finished (gpointer data)
{
  SmTestProcess *self = data;

  return self->exited && self->open_pipes == 0;
}

int
sm_test_process_wait_exit (SmTestProcess *self,
                           guint          timeout_ms)
{
  if (!sm_test_wait_until (process_finished, self, timeout_ms))
    {
      sm_test_process_dump (self);
      sm_test_fail ("%s did not exit within %u ms", self->name, timeout_ms);
    }
  if (g_subprocess_get_if_signaled (self->subprocess))
    return -g_subprocess_get_term_sig (self->subprocess);
  return g_subprocess_get_exit_status (self->subprocess);
}

void
sm_test_process_terminate (SmTestProcess *self,
                           gboolean       allow_sigterm)
{
  int status;

  sm_test_process_send_signal (self, SIGTERM);
  status = sm_test_process_wait_exit (self, 30000);
  if (status == 0 || (allow_sigterm && status == -SIGTERM))
    return;
  sm_test_process_dump (self);
  if (status < 0)
    sm_test_fail ("%s was killed by signal %d", self->name, -status);
  sm_test_fail ("%s exited with status %d", self->name, status);
}

static gboolean
process_released (gpointer data)
{
  SmTestProcess *self = data;

  return self->ref_count == 1;
}

void
sm_test_process_free (SmTestProcess *self)
{
  if (self == NULL)
    return;
  if (!self->exited)
    g_subprocess_force_exit (self->subprocess);
  /* Let the output drain so the last lines (a sanitizer report, say)
   * reach the log, and the pending reads release the process */
  if (!sm_test_wait_until (process_finished, self, 30000))
    {
      g_test_message ("[%s] output still open after its exit; giving up on it", self->name);
      g_cancellable_cancel (self->cancellable);
      sm_test_wait_until (process_released, self, 30000);
    }
  process_unref (self);
}

/* ---- The daemon ---- */

SmTestDaemon *
sm_test_daemon_start (double hold_timeout)
{
  return sm_test_daemon_start_full (hold_timeout, NULL, NULL);
}

SmTestDaemon *
sm_test_daemon_start_with_args (double              hold_timeout,
                                const char * const *extra_args)
{
  return sm_test_daemon_start_full (hold_timeout, extra_args, NULL);
}

SmTestDaemon *
sm_test_daemon_start_full (double              hold_timeout,
                           const char * const *extra_args,
                           const char * const *env)
{
  const char *path = g_getenv ("SM_DAEMON");
  char hold[G_ASCII_DTOSTR_BUF_SIZE];
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnectable) address = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  /* Never the machine's bus (root would default to the system bus) */
  const char * const no_bus[] = { "--no-bus", NULL };
  SmTestDaemon *self;
  const char *line;
  const char *prefix = "Listening for services on ";

  if (path == NULL)
    sm_test_fail ("SM_DAEMON is not set: run the tests through meson");
  g_ascii_dtostr (hold, sizeof hold, hold_timeout);

  g_ptr_array_add (argv, (char *) path);
  g_ptr_array_add (argv, "--bind");
  g_ptr_array_add (argv, "127.0.0.1:0");
  g_ptr_array_add (argv, "--hold-timeout");
  g_ptr_array_add (argv, hold);
  if (g_test_verbose ())
    g_ptr_array_add (argv, "--verbose");
  for (const char * const *arg = extra_args != NULL ? extra_args : no_bus; *arg != NULL; arg++)
    g_ptr_array_add (argv, (char *) *arg);
  g_ptr_array_add (argv, NULL);

  self = g_new0 (SmTestDaemon, 1);
  self->process = sm_test_process_spawn_with_env ("daemon", (const char * const *) argv->pdata,
                                                  env);
  line = sm_test_process_wait_for_line (self->process, prefix, 30000);
  self->control_address = g_strdup (strstr (line, prefix) + strlen (prefix));
  g_strstrip (self->control_address);
  address = g_network_address_parse (self->control_address, 0, &error);
  if (address == NULL)
    sm_test_fail ("cannot parse the control address \"%s\": %s",
                  self->control_address, error->message);
  self->control_port = g_network_address_get_port (G_NETWORK_ADDRESS (address));
  g_assert_cmpuint (self->control_port, >, 0);
  return self;
}

const char *
sm_test_daemon_wait_for_line (SmTestDaemon *self,
                              const char   *text,
                              guint         timeout_ms)
{
  return sm_test_process_wait_for_line (self->process, text, timeout_ms);
}

void
sm_test_daemon_free (SmTestDaemon *self)
{
  sm_test_process_free (self->process);
  g_free (self->control_address);
  g_free (self);
}

void
sm_test_daemon_stop (SmTestDaemon *self)
{
  sm_test_process_terminate (self->process, FALSE);
  sm_test_daemon_free (self);
}

/* ---- Sockets ---- */

static GSocketAddress *
loopback_address (guint16 port)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);

  return g_inet_socket_address_new (loopback, port);
}

guint16
sm_test_free_port (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) any_port = loopback_address (0);
  g_autoptr(GSocketAddress) bound = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                         &error);
  g_assert_no_error (error);
  g_socket_bind (socket, any_port, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static GSocket *
connect_to (GSocketAddress *address,
            GError        **error)
{
  g_autoptr(GSocket) socket = NULL;

  socket = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, error);
  if (socket == NULL)
    return NULL;
  g_socket_set_timeout (socket, SM_TEST_IO_TIMEOUT_S);
  if (!g_socket_connect (socket, address, NULL, error))
    return NULL;
  return g_steal_pointer (&socket);
}

GSocket *
sm_test_connect (guint16  port,
                 GError **error)
{
  g_autoptr(GSocketAddress) address = loopback_address (port);

  return connect_to (address, error);
}

GSocket *
sm_test_connect_address (const char *host_and_port,
                         GError    **error)
{
  g_autoptr(GSocketAddress) address = NULL;
  g_auto(GStrv) parts = g_strsplit (host_and_port, ":", 2);
  guint64 port = 0;

  if (g_strv_length (parts) != 2 ||
      !g_ascii_string_to_unsigned (parts[1], 10, 1, G_MAXUINT16, &port, NULL))
    sm_test_fail ("not a HOST:PORT address: %s", host_and_port);
  address = g_inet_socket_address_new_from_string (parts[0], (guint) port);
  if (address == NULL)
    sm_test_fail ("not a numeric address: %s", host_and_port);
  return connect_to (address, error);
}

void
sm_test_send_all (GSocket    *socket,
                  const void *data,
                  gsize       len)
{
  const guint8 *bytes = data;

  while (len > 0)
    {
      g_autoptr(GError) error = NULL;
      gssize sent = g_socket_send (socket, (const char *) bytes, len, NULL, &error);

      g_assert_no_error (error);
      bytes += sent;
      len -= sent;
    }
}

gsize
sm_test_receive_exactly (GSocket *socket,
                         void    *buffer,
                         gsize    len,
                         GError **error)
{
  gsize done = 0;

  while (done < len)
    {
      gssize n = g_socket_receive (socket, (char *) buffer + done, len - done, NULL, error);

      if (n < 0)
        return done;
      if (n == 0)
        break;
      done += n;
    }
  return done;
}

GBytes *
sm_test_receive_to_eof (GSocket *socket,
                        gsize    max,
                        GError **error)
{
  g_autoptr(GByteArray) data = g_byte_array_new ();
  guint8 buffer[4096];

  for (;;)
    {
      gssize n = g_socket_receive (socket, (char *) buffer, sizeof buffer, NULL, error);

      if (n < 0)
        return NULL;
      if (n == 0)
        return g_byte_array_free_to_bytes (g_steal_pointer (&data));
      g_byte_array_append (data, buffer, n);
      if (data->len > max)
        sm_test_fail ("more than %zu bytes before EOF", max);
    }
}

gboolean
sm_test_socket_is_closed_by_peer (GSocket *socket)
{
  g_autoptr(GError) error = NULL;
  char byte;
  gssize n = g_socket_receive (socket, &byte, 1, NULL, &error);

  if (n == 0)
    return TRUE;
  if (n > 0)
    return FALSE;
  g_test_message ("read after close: %s", error->message);
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
}

/* ---- Handshake bytes ---- */

GByteArray *
sm_test_handshake_new (const char *address,
                       guint64     port,
                       guint8      flags)
{
  GByteArray *out = g_byte_array_new ();

  sm_test_append_string (out, address);
  sm_test_append_u64 (out, port);
  g_byte_array_append (out, &flags, 1);
  return out;
}

char *
sm_test_read_status (GSocket *socket,
                     GError **error)
{
  guint64 length_be;
  guint64 length;
  g_autofree char *status = NULL;
  gsize got;

  got = sm_test_receive_exactly (socket, &length_be, sizeof length_be, error);
  if (error != NULL && *error != NULL)
    return NULL;
  if (got < sizeof length_be)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                   "closed after %zu bytes of a status", got);
      return NULL;
    }
  length = GUINT64_FROM_BE (length_be);
  if (length > SM_TEST_MAX_STATUS)
    sm_test_fail ("status length %" G_GUINT64_FORMAT " is over 64 KiB", length);
  status = g_malloc0 (length + 1);
  got = sm_test_receive_exactly (socket, status, length, error);
  if (error != NULL && *error != NULL)
    return NULL;
  if (got < length)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                   "status truncated at %zu of %" G_GUINT64_FORMAT " bytes", got, length);
      return NULL;
    }
  return g_steal_pointer (&status);
}

/* ---- Test data ---- */

/* Each 8-byte block of the stream is a hash of its index, so data that
 * arrives shifted, repeated or reordered does not match. */
static guint64
pattern_block (guint32 seed,
               guint64 block)
{
  guint64 x = block ^ ((guint64) seed << 40) ^ 0x5bd1e995u;

  x ^= x >> 33;
  x *= G_GUINT64_CONSTANT (0xff51afd7ed558ccd);
  x ^= x >> 33;
  x *= G_GUINT64_CONSTANT (0xc4ceb9fe1a85ec53);
  x ^= x >> 33;
  return x;
}

void
sm_test_fill_pattern (guint8 *buffer,
                      gsize   len,
                      guint64 offset,
                      guint32 seed)
{
  guint64 block = pattern_block (seed, offset / 8);

  for (gsize i = 0; i < len; i++)
    {
      guint64 position = offset + i;

      if (position % 8 == 0)
        block = pattern_block (seed, position / 8);
      buffer[i] = block >> ((position % 8) * 8);
    }
}

gssize
sm_test_check_pattern (const guint8 *buffer,
                       gsize         len,
                       guint64       offset,
                       guint32       seed)
{
  guint8 expected[4096];

  for (gsize done = 0; done < len; done += sizeof expected)
    {
      gsize n = MIN (sizeof expected, len - done);

      sm_test_fill_pattern (expected, n, offset + done, seed);
      for (gsize i = 0; i < n; i++)
        if (buffer[done + i] != expected[i])
          return done + i;
    }
  return -1;
}
