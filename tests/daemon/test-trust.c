/* SPDX-License-Identifier: MIT */
/*
 * Who may register what, end to end: the daemon as a process, services as
 * sm-test-register processes running as root and, through setpriv, as
 * nobody. Over TCP the daemon finds nobody's uid in the kernel's socket
 * table; over its Unix socket from SO_PEERCRED. Needs root (skipped
 * otherwise), as CI runs.
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sm-extension-handshake.h"
#include "sm-handshake.h"
#include "sm-test-util.h"
#include "tls-test-support.h"

#define NOBODY       "65534"
#define STATUS_WAIT  20000
#define HOLD_TIMEOUT 30.0

/* A copy of sm-test-register that nobody can run, and a directory nobody
 * can reach the daemon's Unix socket in: the build tree may be private */
static char *scratch_dir;
static char *register_program;

typedef struct
{
  SmTestDaemon *daemon;
  char         *unix_control; /* "unix:PATH" */
} Daemon;

static gboolean
is_root (void)
{
  if (geteuid () == 0)
    return TRUE;
  g_test_skip ("needs root, to run a second identity (nobody) with setpriv");
  return FALSE;
}

static Daemon *
daemon_start (const char *const *extra_args)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  static guint n_daemons;
  Daemon      *daemon = g_new0 (Daemon, 1);

  daemon->unix_control =
      g_strdup_printf ("unix:%s/control-%u-%u.sock", scratch_dir, (guint) getpid (), n_daemons++);
  g_ptr_array_add (args, g_strdup ("--bind"));
  g_ptr_array_add (args, g_strdup (daemon->unix_control));
  for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (args, g_strdup (extra_args[i]));
  g_ptr_array_add (args, NULL);

  daemon->daemon =
      sm_test_daemon_start_with_args (HOLD_TIMEOUT, (const char *const *) args->pdata);
  sm_test_daemon_wait_for_line (daemon->daemon, daemon->unix_control, STATUS_WAIT);
  return daemon;
}

static void
daemon_stop (Daemon *daemon)
{
  sm_test_daemon_stop (daemon->daemon);
  g_free (daemon->unix_control);
  g_free (daemon);
}

/* Registers, as nobody or as root; returns the process (still holding an
 * accepted registration) and its status line in *out_status */
static SmTestProcess *
register_service (gboolean            as_nobody,
                  const char         *control,
                  guint16             port,
                  const char *const  *extra,
                  const char        **out_status)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  SmTestProcess   *process;
  const char      *line;

  if (as_nobody)
    {
      g_ptr_array_add (argv, g_strdup ("setpriv"));
      g_ptr_array_add (argv, g_strdup ("--reuid=" NOBODY));
      g_ptr_array_add (argv, g_strdup ("--regid=" NOBODY));
      g_ptr_array_add (argv, g_strdup ("--clear-groups"));
    }
  g_ptr_array_add (argv, g_strdup (register_program));
  for (guint i = 0; extra != NULL && extra[i] != NULL && !g_str_has_prefix (extra[i], "@"); i++)
    g_ptr_array_add (argv, g_strdup (extra[i]));
  g_ptr_array_add (argv, g_strdup (control));
  g_ptr_array_add (argv, g_strdup_printf ("%u", port));
  /* "@DOMAIN", "PREFIX" at the end: an HTTP route */
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    if (g_str_has_prefix (extra[i], "@"))
      {
        g_ptr_array_add (argv, g_strdup (extra[i] + 1));
        g_ptr_array_add (argv, g_strdup (extra[i + 1]));
        break;
      }
  g_ptr_array_add (argv, NULL);

  process = sm_test_process_spawn (as_nobody ? "nobody" : "root",
                                   (const char *const *) argv->pdata);
  line = sm_test_process_wait_for_line (process, "STATUS *", STATUS_WAIT);
  *out_status = strstr (line, "STATUS ");
  return process;
}

/* Registers and checks the answer starts with @expected; returns the
 * process if it holds a registration, else NULL */
static SmTestProcess *
expect_status (gboolean           as_nobody,
               const char        *control,
               guint16            port,
               const char *const *extra,
               const char        *expected)
{
  g_autoptr (SmTestProcess) process = NULL;
  const char *status;

  process = register_service (as_nobody, control, port, extra, &status);
  if (!g_str_has_prefix (status, expected))
    {
      sm_test_process_dump (process);
      g_error ("expected “%s…”, got “%s”", expected, status);
    }
  if (g_str_equal (status, "STATUS OK"))
    return g_steal_pointer (&process);
  g_assert_cmpint (sm_test_process_wait_exit (process, STATUS_WAIT), ==, 0);
  return NULL;
}

static void
stop_service (SmTestProcess *process)
{
  sm_test_process_terminate (process, FALSE);
  sm_test_process_free (process);
}

/* A port below 1024 that is free on 127.0.0.1 right now */
static guint16
free_privileged_port (void)
{
  for (guint16 port = 1023; port > 900; port--)
    {
      g_autoptr (GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                                 G_SOCKET_PROTOCOL_TCP, NULL);
      g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
      g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, port);

      if (g_socket_bind (socket, address, FALSE, NULL))
        return port;
    }
  g_error ("no free port below 1024");
}

static void
test_privileged_port (void)
{
  Daemon       *daemon;
  guint16       port;
  const char   *v2[] = { "--v2", NULL };
  SmTestProcess *root;

  if (!is_root ())
    return;

  daemon = daemon_start (NULL);
  port = free_privileged_port ();

  /* TCP with the unchanged original handshake: identity from sock_diag */
  g_assert_null (expect_status (TRUE, daemon->daemon->control_address, port, NULL,
                                "STATUS REFUSED - permission denied: port "));
  g_assert_cmpuint (sm_test_daemon_wait_for_line (daemon->daemon, "uid 65534", STATUS_WAIT) != NULL,
                    ==, TRUE);
  /* The Unix socket: identity from SO_PEERCRED; both formats */
  g_assert_null (expect_status (TRUE, daemon->unix_control, port, NULL,
                                "STATUS REFUSED - permission denied: port "));
  g_assert_null (expect_status (TRUE, daemon->unix_control, port, v2,
                                "STATUS REFUSED permission-denied permission denied: port "));

  root = expect_status (FALSE, daemon->daemon->control_address, port, NULL, "STATUS OK");
  stop_service (root);
  daemon_stop (daemon);
}

static void
test_route_ownership (void)
{
  Daemon        *daemon;
  guint16        port, tcp_port;
  SmTestProcess *owner, *disjoint, *root_shadow, *tcp_owner;
  const char    *route_a[] = { "@", "/a", NULL };
  const char    *route_a_x[] = { "@", "/a/x", NULL };
  const char    *domain_a[] = { "@example.test", "/a", NULL };
  const char    *catch_all[] = { "@", "/", NULL };
  const char    *route_b[] = { "@", "/b", NULL };

  if (!is_root ())
    return;

  daemon = daemon_start (NULL);
  port = sm_test_free_port ();
  owner = expect_status (FALSE, daemon->daemon->control_address, port, route_a, "STATUS OK");

  /* Joining, shadowing (a longer path, a longer domain) and covering it */
  g_assert_null (expect_status (TRUE, daemon->daemon->control_address, port, route_a,
                                "STATUS REFUSED - route owned: "));
  g_assert_null (expect_status (TRUE, daemon->unix_control, port, route_a_x,
                                "STATUS REFUSED - route owned: "));
  g_assert_null (expect_status (TRUE, daemon->daemon->control_address, port, domain_a,
                                "STATUS REFUSED - route owned: "));
  g_assert_null (expect_status (TRUE, daemon->daemon->control_address, port, catch_all,
                                "STATUS REFUSED - route owned: "));

  /* A disjoint route on a port >= 1024 is fine; root may shadow anyone */
  disjoint = expect_status (TRUE, daemon->daemon->control_address, port, route_b, "STATUS OK");
  root_shadow = expect_status (FALSE, daemon->unix_control, port, route_a_x, "STATUS OK");

  /* A raw TCP port belongs to its first user as a whole */
  tcp_port = sm_test_free_port ();
  tcp_owner = expect_status (FALSE, daemon->daemon->control_address, tcp_port, NULL, "STATUS OK");
  g_assert_null (expect_status (TRUE, daemon->daemon->control_address, tcp_port, NULL,
                                "STATUS REFUSED - route owned: port "));

  /* A redeploy is when it matters most: the route stays its owner's for
   * the hold timeout after the service left */
  stop_service (owner);
  sm_test_daemon_wait_for_line (daemon->daemon, "left", STATUS_WAIT);
  g_assert_null (expect_status (TRUE, daemon->daemon->control_address, port, route_a,
                                "STATUS REFUSED - route owned: "));

  stop_service (disjoint);
  stop_service (root_shadow);
  stop_service (tcp_owner);
  daemon_stop (daemon);
}

static char *
write_scratch_file (const char *name, const char *contents, int mode)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (scratch_dir, name, NULL);

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
  return path;
}

static void
test_certificates (void)
{
  Daemon          *daemon;
  guint16          tls_port, plain_port;
  SmTestProcess   *owner, *plain_owner, *other;
  g_autofree char *a_cert = write_scratch_file ("a.crt", test_pki.a.cert_pem, 0644);
  g_autofree char *a_key = write_scratch_file ("a.key", test_pki.a.key_pem, 0644);
  g_autofree char *a_new_cert = write_scratch_file ("a-new.crt", test_pki.a_new.cert_pem, 0644);
  g_autofree char *a_new_key = write_scratch_file ("a-new.key", test_pki.a_new.key_pem, 0644);
  g_autofree char *b_cert = write_scratch_file ("b.crt", test_pki.b.cert_pem, 0644);
  g_autofree char *b_key = write_scratch_file ("b.key", test_pki.b.key_pem, 0644);
  /* The extension handshake with every field it has today but proxy_protocol */
  const char      *a_with_cert[] = { "--name", "web-a", "--cert", a_cert, "--key", a_key,
                                     "@a.example.test", "/", NULL };
  const char      *b_with_a_name[] = { "--cert", a_new_cert, "--key", a_new_key,
                                       "@b.example.test", "/", NULL };
  const char      *b_with_cert[] = { "--cert", b_cert, "--key", b_key, "@b.example.test", "/", NULL };
  const char      *a_plain[] = { "@a.example.test", "/", NULL };

  if (!is_root ())
    return;

  daemon = daemon_start (NULL);
  tls_port = sm_test_free_port ();
  owner = expect_status (FALSE, daemon->daemon->control_address, tls_port, a_with_cert,
                         "STATUS OK");
  /* A certificate for a name root serves here */
  g_assert_null (expect_status (TRUE, daemon->daemon->control_address, tls_port, b_with_a_name,
                                "STATUS REFUSED - route owned: a certificate for a.example.test"));
  other = expect_status (TRUE, daemon->daemon->control_address, tls_port, b_with_cert, "STATUS OK");
  stop_service (other);

  /* Nobody cannot make root's plain port a TLS one */
  plain_port = sm_test_free_port ();
  plain_owner = expect_status (FALSE, daemon->daemon->control_address, plain_port, a_plain,
                               "STATUS OK");
  g_assert_null (expect_status (TRUE, daemon->daemon->control_address, plain_port, b_with_cert,
                                "STATUS REFUSED - permission denied: port "));

  stop_service (plain_owner);
  stop_service (owner);
  daemon_stop (daemon);
}

static void
test_allow_user (void)
{
  const char    *args[] = { "--allow-user", "root", NULL };
  Daemon        *daemon;
  guint16        port;
  SmTestProcess *root;

  if (!is_root ())
    return;

  daemon = daemon_start (args);
  port = sm_test_free_port ();
  g_assert_null (expect_status (TRUE, daemon->daemon->control_address, port, NULL,
                                "STATUS REFUSED - permission denied: uid 65534"));
  g_assert_null (expect_status (TRUE, daemon->unix_control, port, NULL,
                                "STATUS REFUSED - permission denied: uid 65534"));
  root = expect_status (FALSE, daemon->daemon->control_address, port, NULL, "STATUS OK");
  stop_service (root);
  daemon_stop (daemon);
}

static void
test_services_per_user (void)
{
  const char    *args[] = { "--max-services-per-user", "2", NULL };
  Daemon        *daemon;
  SmTestProcess *first, *second, *root;

  if (!is_root ())
    return;

  daemon = daemon_start (args);
  first = expect_status (TRUE, daemon->daemon->control_address, sm_test_free_port (), NULL,
                         "STATUS OK");
  second = expect_status (TRUE, daemon->unix_control, sm_test_free_port (), NULL, "STATUS OK");
  g_assert_null (expect_status (TRUE, daemon->daemon->control_address, sm_test_free_port (), NULL,
                                "STATUS REFUSED - limit: "));
  /* Another user still gets in */
  root = expect_status (FALSE, daemon->daemon->control_address, sm_test_free_port (), NULL,
                        "STATUS OK");

  stop_service (first);
  stop_service (second);
  stop_service (root);
  daemon_stop (daemon);
}

/* The original format over TCP to a daemon that wants a token: a non-OK
 * status arrives at once, never a hang (1 s is the socket's deadline) */
static void
expect_original_refused (const char *control_address, guint16 port)
{
  g_autoptr (SmSocketDefinition) definition = sm_socket_definition_new (port);
  g_autoptr (GByteArray) request = g_byte_array_new ();
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *status = NULL;

  sm_handshake_encode_request (definition, request);
  socket = sm_test_connect_address (control_address, &error);
  g_assert_no_error (error);
  g_socket_set_timeout (socket, 1);
  sm_test_send_all (socket, request->data, request->len);
  status = sm_test_read_status (socket, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (status, !=, SM_HANDSHAKE_STATUS_OK);
  g_assert_true (g_str_has_prefix (status, "unauthorized: "));
}

/* The C client library (the example service) takes the token from
 * $SOCKETMASTER_TOKEN; a public connection then reaches it */
static void
expect_token_client (const char *control_address)
{
  guint16          port = sm_test_free_port ();
  g_autofree char *port_arg = g_strdup_printf ("%u", port);
  g_autofree char *ready = g_strdup_printf ("tcp-echo: serving port %u", port);
  const char      *argv[] = { SM_TEST_TCP_ECHO, "--control", control_address, "--address",
                              "127.0.0.1", "--port", port_arg, NULL };
  const char      *env[] = { "SOCKETMASTER_TOKEN=s3cret", NULL };
  g_autoptr (SmTestProcess) echo = sm_test_process_spawn_with_env ("tcp-echo", argv, env);
  g_autoptr (GSocket) client = NULL;
  g_autoptr (GError) error = NULL;
  char reply[4] = { 0 };

  sm_test_process_wait_for_line (echo, ready, STATUS_WAIT);
  client = sm_test_connect (port, &error);
  g_assert_no_error (error);
  sm_test_send_all (client, "ping", 4);
  g_assert_cmpuint (sm_test_receive_exactly (client, reply, sizeof reply, &error), ==, 4);
  g_assert_no_error (error);
  g_assert_cmpmem (reply, 4, "ping", 4);
  /* It drains open streams before it exits */
  g_socket_close (client, NULL);
  sm_test_process_terminate (echo, TRUE);
  g_clear_pointer (&echo, sm_test_process_free);

  /* A wrong token is a refusal, not a reason to retry for ever */
  env[0] = "SOCKETMASTER_TOKEN=wrong";
  echo = sm_test_process_spawn_with_env ("tcp-echo", argv, env);
  g_assert_cmpint (sm_test_process_wait_exit (echo, STATUS_WAIT), ==, 1);
  g_assert_cmpuint (sm_test_process_count_lines (echo, "unauthorized"), >, 0);
}

static void
test_token (void)
{
  g_autofree char *token_file = write_scratch_file ("token", "s3cret\n", 0600);
  g_autofree char *open_file = write_scratch_file ("token-open", "s3cret\n", 0644);
  const char      *args[] = { "--token-file", token_file, NULL };
  const char      *right[] = { "--token", "s3cret", NULL };
  const char      *wrong[] = { "--token", "s3creT", NULL };
  const char      *prefix[] = { "--token", "s3cre", NULL };
  const char      *none[] = { "--name", "no-token", NULL };
  const char      *open_args[] = { g_getenv ("SM_DAEMON"), "--no-bus", "--bind", "127.0.0.1:0",
                                     "--token-file", open_file, NULL };
  g_autoptr (SmTestProcess) refused = NULL;
  Daemon        *daemon;
  SmTestProcess *ok, *unix_ok;

  daemon = daemon_start (args);
  ok = expect_status (FALSE, daemon->daemon->control_address, sm_test_free_port (), right,
                      "STATUS OK");
  g_assert_null (expect_status (FALSE, daemon->daemon->control_address, sm_test_free_port (),
                                wrong, "STATUS REFUSED unauthorized "));
  g_assert_null (expect_status (FALSE, daemon->daemon->control_address, sm_test_free_port (),
                                prefix, "STATUS REFUSED unauthorized "));
  g_assert_null (expect_status (FALSE, daemon->daemon->control_address, sm_test_free_port (), none,
                                "STATUS REFUSED unauthorized "));
  expect_original_refused (daemon->daemon->control_address, sm_test_free_port ());
  /* Unix peers are known by uid and need none, in either format */
  unix_ok = expect_status (FALSE, daemon->unix_control, sm_test_free_port (), NULL, "STATUS OK");

  expect_token_client (daemon->daemon->control_address);

  stop_service (ok);
  stop_service (unix_ok);
  daemon_stop (daemon);

  /* A token others can read is no secret: the daemon refuses to start */
  refused = sm_test_process_spawn ("daemon", open_args);
  g_assert_cmpint (sm_test_process_wait_exit (refused, STATUS_WAIT), ==, 1);
  g_assert_cmpuint (sm_test_process_count_lines (refused, "token"), >, 0);
}

/* Sends @json as an extension request (or only a header announcing
 * @announced bytes, when @json is NULL) and returns the refusal */
static GError *
extension_refusal (const char *control_address, const char *json, guint32 announced)
{
  g_autoptr (GByteArray) request = g_byte_array_new ();
  g_autoptr (GByteArray) answer = g_byte_array_new ();
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) response = NULL;
  GError  *refusal = NULL;
  guint32  length_be;
  gsize    consumed = 0;

  g_byte_array_append (request, (const guint8 *) "\x80SMX\0\0\0\x02", 8);
  length_be = GUINT32_TO_BE (json != NULL ? (guint32) strlen (json) : announced);
  g_byte_array_append (request, (const guint8 *) &length_be, 4);
  if (json != NULL)
    g_byte_array_append (request, (const guint8 *) json, (guint) strlen (json));

  socket = sm_test_connect_address (control_address, &error);
  g_assert_no_error (error);
  sm_test_send_all (socket, request->data, request->len);
  for (;;)
    {
      guint8 chunk[4096];
      gssize n_read = g_socket_receive (socket, (char *) chunk, sizeof chunk, NULL, &error);

      g_assert_no_error (error);
      g_assert_cmpint (n_read, >, 0);
      g_byte_array_append (answer, chunk, (guint) n_read);
      if (sm_extension_parse_response (answer->data, answer->len, &consumed, &response, &refusal,
                                       &error) != SM_HANDSHAKE_NEED_MORE)
        break;
    }
  g_assert_no_error (error);
  g_assert_nonnull (refusal);
  return refusal;
}

static void
test_extension (void)
{
  SmTestDaemon    *daemon = sm_test_daemon_start (HOLD_TIMEOUT);
  g_autofree char *unknown = g_strdup_printf ("{\"port\": %u, \"colour\": \"blue\"}",
                                              sm_test_free_port ());
  g_autofree char *wrong_type = g_strdup_printf ("{\"port\": \"%u\"}", sm_test_free_port ());
  /* The PROXY protocol is for raw TCP ports only */
  g_autofree char *proxy = g_strdup_printf (
      "{\"port\": %u, \"http\": {}, \"proxy_protocol\": 2}", sm_test_free_port ());
  g_autoptr (GError) refusal = NULL;

  refusal = extension_refusal (daemon->control_address, unknown, 0);
  g_assert_error (refusal, SM_ERROR, SM_ERROR_UNSUPPORTED);
  g_clear_error (&refusal);

  refusal = extension_refusal (daemon->control_address, wrong_type, 0);
  g_assert_cmpstr (sm_extension_error_code (refusal), ==, "malformed");
  g_clear_error (&refusal);

  refusal = extension_refusal (daemon->control_address, proxy, 0);
  g_assert_error (refusal, SM_ERROR, SM_ERROR_UNSUPPORTED);
  g_clear_error (&refusal);

  /* Refused from the length alone: the 2 MiB never have to be sent */
  refusal = extension_refusal (daemon->control_address, NULL, 2 * 1024 * 1024);
  g_assert_cmpstr (sm_extension_error_code (refusal), ==, "malformed");

  sm_test_daemon_stop (daemon);
}

static void
copy_register_program (void)
{
  g_autoptr (GFile) source = g_file_new_for_path (SM_TEST_REGISTER);
  g_autoptr (GFile) target = NULL;
  g_autoptr (GError) error = NULL;

  scratch_dir = g_dir_make_tmp ("sm-test-trust-XXXXXX", &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (scratch_dir, 0755), ==, 0);
  register_program = g_build_filename (scratch_dir, "sm-test-register", NULL);
  target = g_file_new_for_path (register_program);
  g_file_copy (source, target, G_FILE_COPY_NONE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (register_program, 0755), ==, 0);
}

static void
remove_scratch (void)
{
  g_autoptr (GDir) dir = g_dir_open (scratch_dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (scratch_dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (scratch_dir);
  g_free (scratch_dir);
  g_free (register_program);
}

int
main (int argc, char *argv[])
{
  int result;

  g_test_init (&argc, &argv, NULL);
  copy_register_program ();
  test_pki_make ();

  g_test_add_func ("/trust/privileged-port", test_privileged_port);
  g_test_add_func ("/trust/route-ownership", test_route_ownership);
  g_test_add_func ("/trust/certificates", test_certificates);
  g_test_add_func ("/trust/allow-user", test_allow_user);
  g_test_add_func ("/trust/services-per-user", test_services_per_user);
  g_test_add_func ("/trust/token", test_token);
  g_test_add_func ("/trust/extension", test_extension);

  result = g_test_run ();
  test_pki_free ();
  remove_scratch ();
  return result;
}
