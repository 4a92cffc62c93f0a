/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <locale.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "sm-access-log.h"
#include "sm-address.h"
#include "sm-control.h"
#include "sm-dbus.h"
#include "sm-error.h"
#include "sm-http-buffer.h"
#include "sm-main-private.h"
#include "sm-metrics-server.h"
#include "sm-notify.h"
#include "sm-policy.h"
#include "sm-proxy-accept.h"
#include "sm-registry.h"
#include "sm-token.h"
#include "sm-tls-terminator.h"
#include "sm-tls-workers.h"
#include "sm-upgrade-inherit.h"
#include "sm-upgrade.h"

/* How long an orderly exit waits for open streams before cutting them */
#define DEFAULT_DRAIN_TIMEOUT 30.0
/* Upper bound for --hold-timeout and --drain-timeout: one day */
#define MAX_HOLD_TIMEOUT (24.0 * 60 * 60)

/* Every public connection costs a descriptor here (services share theirs
 * through yamux); the usual soft limit of 1024 would make accept() fail
 * long before memory runs out. */
static void
raise_file_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max)
    return;

  limit.rlim_cur = limit.rlim_max;
  if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
    g_debug ("Cannot raise the open file limit: %s", g_strerror (errno));
}

/* The system bus for root (the system service), the session bus otherwise */
static gboolean
choose_bus (gboolean system_bus, gboolean session_bus, gboolean no_bus, GBusType *out_bus_type)
{
  if (system_bus + session_bus + no_bus > 1)
    return FALSE;

  if (no_bus)
    *out_bus_type = G_BUS_TYPE_NONE;
  else if (system_bus)
    *out_bus_type = G_BUS_TYPE_SYSTEM;
  else if (session_bus)
    *out_bus_type = G_BUS_TYPE_SESSION;
  else
    *out_bus_type = geteuid () == 0 ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION;

  return TRUE;
}

/* Listens on every --bind (the default TCP address when there is none).
 * Prints where, the first TCP listener first: scripts and tests wait for
 * that line. Returns what D-Bus shows as the control address, or NULL
 * after printing why not. */
static char *
listen_for_services (SmControl *control, char **binds, SmInherited *inherited)
{
  const char *const  default_binds[] = { SM_DEFAULT_CONTROL_ADDRESS, NULL };
  const char *const *listeners;
  guint              first = 0;

  if (binds == NULL || binds[0] == NULL)
    binds = (char **) default_binds;

  for (guint i = 0; binds[i] != NULL; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GInetAddress) address = NULL;
      g_autofree char *unix_path = NULL;
      g_autoptr (GSocket) socket = NULL;
      guint16 port = 0;

      if (!sm_address_parse_control_bind (binds[i], &unix_path, &address, &port, &error))
        {
          g_printerr (_ ("%s: invalid --bind address: %s\n"), g_get_prgname (), error->message);
          return NULL;
        }

      /* Handed over by the process we replace, or kept by systemd */
      socket = sm_inherited_take_control (inherited, unix_path, address, port);
      if (socket != NULL      ? !sm_control_adopt (control, socket, &error)
          : unix_path != NULL ? !sm_control_listen_unix (control, unix_path, &error)
                              : !sm_control_listen (control, address, port, &error))
        {
          g_printerr (_ ("%s: cannot listen for services: %s\n"), g_get_prgname (), error->message);
          return NULL;
        }
    }

  listeners = sm_control_get_listeners (control);
  for (guint i = g_strv_length ((char **) listeners); i-- > 0;)
    if (!g_str_has_prefix (listeners[i], "unix:"))
      first = i;
  g_print ("Listening for services on %s\n", listeners[first]);
  for (guint i = 0; listeners[i] != NULL; i++)
    if (i != first)
      g_print ("Listening for services on %s\n", listeners[i]);
  fflush (stdout);

  return g_strdup (listeners[first]);
}

/* After a burst (many connections, stalled readers) glibc keeps the freed
 * heap; this hands it back to the system once it is worth a system call */
#define TRIM_INTERVAL_SECONDS 10
#define TRIM_MIN_FREE_BYTES   (8 * 1024 * 1024)

static gboolean
on_trim_memory (gpointer user_data)
{
  sm_http_buffer_memory_trim ();
#ifdef __GLIBC__
  struct mallinfo2 info = mallinfo2 ();

  if (info.fordblks >= TRIM_MIN_FREE_BYTES)
    {
      g_debug ("Returning up to %zu KiB of freed heap to the system", info.fordblks / 1024);
      malloc_trim (0);
    }
#endif
  return G_SOURCE_CONTINUE;
}

/* Debug output is split by area (socketmaster-http, -control, -tls,
 * -yamux, -io, and plain socketmaster for the rest), but GLib 2.74 matches
 * G_MESSAGES_DEBUG by substring: "socketmaster-http" would show the plain
 * domain too. Debug messages pass only for domains named exactly. */
static GLogWriterOutput
log_writer (GLogLevelFlags log_level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *const *wanted = user_data;
  const char        *domain = NULL;

  if (!(log_level & G_LOG_LEVEL_DEBUG) || g_log_get_debug_enabled () ||
      g_strv_contains (wanted, "all"))
    return g_log_writer_default (log_level, fields, n_fields, NULL);

  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "GLIB_DOMAIN") && fields[i].length < 0)
      domain = fields[i].value;
  if (domain == NULL || !g_strv_contains (wanted, domain))
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (log_level, fields, n_fields, NULL);
}

/* --metrics and --access-log; FALSE after printing why not */
static gboolean
start_operations (SmRegistry       *registry,
                  const char       *metrics_address,
                  const char       *access_log,
                  const char       *access_log_format,
                  SmMetricsServer **out_metrics)
{
  g_autoptr (GError) error = NULL;
  SmAccessLogFormat format = SM_ACCESS_LOG_JSON;

  if (access_log_format != NULL && !sm_access_log_parse_format (access_log_format, &format, &error))
    {
      g_printerr ("%s: --access-log-format: %s\n", g_get_prgname (), error->message);
      return FALSE;
    }
  if (access_log != NULL)
    {
      g_autoptr (SmAccessLog) log = sm_access_log_new (access_log, format, &error);

      if (log == NULL)
        {
          g_printerr ("%s: --access-log: %s\n", g_get_prgname (), error->message);
          return FALSE;
        }
      sm_access_log_set_default (log);
    }
  if (metrics_address != NULL)
    {
      *out_metrics = sm_metrics_server_new (sm_metrics_get_default (), registry);
      if (!sm_metrics_server_listen (*out_metrics, metrics_address, &error))
        {
          g_printerr ("%s: --metrics: %s\n", g_get_prgname (), error->message);
          return FALSE;
        }
      g_message ("Serving metrics on http://%s/metrics",
                 sm_metrics_server_get_address (*out_metrics));
    }
  return TRUE;
}

/* --public-address and --accept-proxy; FALSE after printing why not */
static gboolean
set_balancing (SmRegistry *registry, const char *public_address, char **accept_proxy)
{
  g_autoptr (GPtrArray) trusted = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GInetAddress) address = NULL;
  g_autoptr (SmProxyAccept) proxy_accept = NULL;
  g_autoptr (GError) error = NULL;

  if (public_address != NULL &&
      (!sm_address_parse_service (public_address, &address, &error) || address == NULL))
    {
      g_printerr ("%s: --public-address: %s\n", g_get_prgname (),
                  error != NULL ? error->message : "an IP address is needed");
      return FALSE;
    }
  sm_registry_set_public_address (registry, address);

  for (guint i = 0; accept_proxy != NULL && accept_proxy[i] != NULL; i++)
    {
      GInetAddressMask *mask = g_inet_address_mask_new_from_string (accept_proxy[i], &error);

      if (mask == NULL)
        {
          g_printerr ("%s: --accept-proxy %s: %s\n", g_get_prgname (), accept_proxy[i],
                      error->message);
          return FALSE;
        }
      g_ptr_array_add (trusted, mask);
    }
  if (trusted->len > 0)
    proxy_accept = sm_proxy_accept_new (trusted);
  sm_registry_set_accept_proxy (registry, proxy_accept);
  return TRUE;
}

/* The options that say who may register what */
typedef struct
{
  char  *privileged_group;
  char **allow_users;
  char **allow_groups;
  char  *token_file;
  gint   max_services;
  gint   max_services_per_user;
} PolicyOptions;

static SmPolicy *
make_policy (const PolicyOptions *options, GError **error)
{
  g_autoptr (SmPolicy) policy = sm_policy_new ();

  if (options->max_services < 1 || options->max_services_per_user < 1)
    {
      g_set_error_literal (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT,
                           _ ("--max-services and --max-services-per-user must be at least 1"));
      return NULL;
    }
  sm_policy_set_max_services (policy, (guint) options->max_services,
                              (guint) options->max_services_per_user);

  if (options->privileged_group != NULL)
    sm_policy_set_privileged_group (policy, options->privileged_group);
  for (guint i = 0; options->allow_users != NULL && options->allow_users[i] != NULL; i++)
    if (!sm_policy_allow_user (policy, options->allow_users[i], error))
      return NULL;
  for (guint i = 0; options->allow_groups != NULL && options->allow_groups[i] != NULL; i++)
    if (!sm_policy_allow_group (policy, options->allow_groups[i], error))
      return NULL;

  if (options->token_file != NULL)
    {
      g_autoptr (GBytes) token = sm_token_load (options->token_file, error);

      if (token == NULL)
        return NULL;
      sm_policy_set_token (policy, token);
    }

  return g_steal_pointer (&policy);
}

static void
policy_options_clear (PolicyOptions *options)
{
  g_free (options->privileged_group);
  g_strfreev (options->allow_users);
  g_strfreev (options->allow_groups);
  g_free (options->token_file);
}

int
main (int argc, char *argv[])
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autoptr (SmRegistry) registry = NULL;
  g_autoptr (SmControl) control = NULL;
  g_auto (GStrv) binds = NULL;
  g_autofree char *bound = NULL;
  g_autoptr (SmNotify) notify = NULL;
  g_autoptr (SmUpgrade) upgrade = NULL;
  g_autoptr (SmInherited) inherited = NULL;
  g_auto (GStrv) original_argv = g_strdupv (argv);
  g_autoptr (SmMetricsServer) metrics = NULL;
  g_autofree char *metrics_address = NULL;
  g_autofree char *access_log = NULL;
  g_autofree char *access_log_format = NULL;
  g_autofree char *public_address = NULL;
  g_auto (GStrv) accept_proxy = NULL;
  double           hold_timeout = 30.0;
  gint64           http_max_head_size = SM_HTTP_DEFAULT_MAX_HEAD_SIZE;
  double           http_header_timeout = SM_HTTP_DEFAULT_HEADER_TIMEOUT;
  double           http_idle_timeout = SM_HTTP_DEFAULT_IDLE_TIMEOUT;
  double           http_body_timeout = SM_HTTP_DEFAULT_BODY_TIMEOUT;
  double           http_response_timeout = SM_HTTP_DEFAULT_RESPONSE_TIMEOUT;
  double           drain_timeout = DEFAULT_DRAIN_TIMEOUT;
  ExitState        exit_state = { NULL, 0, NULL, NULL, NULL, FALSE };
  g_autofree char *tls_priority = NULL;
  char             bind_help[512] = "";
  char             tls_priority_help[512] = "";
  char             privileged_group_help[512] = "";
  int              tls_handshake_timeout = SM_TLS_DEFAULT_HANDSHAKE_TIMEOUT;
  int              tls_workers = G_MININT; /* not given: the number of processors */
  SmHttpLimits     http_limits;
  gint64           max_connections = SM_PORT_DEFAULT_MAX_CONNECTIONS;
  gint64           max_connections_per_port = SM_PORT_DEFAULT_MAX_CONNECTIONS_PER_PORT;
  gint64           max_queued_per_port = SM_PORT_DEFAULT_MAX_QUEUED;
  gint64           max_streams_per_service = SM_PORT_DEFAULT_MAX_STREAMS_PER_SERVICE;
  SmPortLimits     port_limits;
  gboolean         verbose = FALSE;
  gboolean         version = FALSE;
  gboolean         system_bus = FALSE;
  gboolean         session_bus = FALSE;
  gboolean         no_bus = FALSE;
  gboolean         replace = FALSE;
  GBusType         bus_type = G_BUS_TYPE_NONE;
  g_autoptr (SmDbus) dbus = NULL;
  g_autoptr (SmPolicy) policy = NULL;
  g_autoptr (SmTlsWorkers) workers = NULL;
  PolicyOptions policy_options = {
    .max_services = SM_POLICY_DEFAULT_MAX_SERVICES,
    .max_services_per_user = SM_POLICY_DEFAULT_MAX_SERVICES_PER_USER,
  };
  guint              sigint_source, sigterm_source, sighup_source, sigusr2_source, trim_source;
  guint              n_adopted;
  const GOptionEntry entries[] = {
    { "bind", 'b', 0, G_OPTION_ARG_STRING_ARRAY, &binds, bind_help, N_ ("ADDRESS:PORT") },
    { "hold-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &hold_timeout,
      N_ ("Seconds a public port keeps waiting connections and stays open "
          "without services (default: 30)"),
      N_ ("SECONDS") },
    { "http-max-head-size", 0, 0, G_OPTION_ARG_INT64, &http_max_head_size,
      N_ ("Largest HTTP request head accepted; larger ones get 431 (default: 65536)"),
      N_ ("BYTES") },
    { "http-header-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &http_header_timeout,
      N_ ("Seconds a client has to send a complete HTTP request head; then 408 "
          "(default: 30)"),
      N_ ("SECONDS") },
    { "http-idle-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &http_idle_timeout,
      N_ ("Seconds an idle HTTP keep-alive connection stays open (default: 75)"), N_ ("SECONDS") },
    { "http-body-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &http_body_timeout,
      N_ ("Longest time between request body bytes from an HTTP client; then 408 "
          "(default: 60)"),
      N_ ("SECONDS") },
    { "http-response-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &http_response_timeout,
      N_ ("Seconds a service has to start answering an HTTP request; then 504 (default: 60)"),
      N_ ("SECONDS") },
    { "drain-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &drain_timeout,
      N_ ("Seconds SIGTERM, SIGINT or an upgrade (SIGUSR2) waits for requests in flight "
          "before exiting (default: 30)"),
      N_ ("SECONDS") },
    { "tls-priority", 0, 0, G_OPTION_ARG_STRING, &tls_priority, tls_priority_help, N_ ("STRING") },
    { "tls-handshake-timeout", 0, 0, G_OPTION_ARG_INT, &tls_handshake_timeout,
      N_ ("Seconds a client has to complete its TLS handshake (default: 10)"), N_ ("SECONDS") },
    { "tls-workers", 0, 0, G_OPTION_ARG_INT, &tls_workers,
      N_ ("Threads that run TLS handshakes; 0 runs them in the main thread (default: the "
          "number of processors)"),
      N_ ("N") },
    { "public-address", 0, 0, G_OPTION_ARG_STRING, &public_address,
      N_ ("Open every public port on this address, whatever the service asked for"),
      N_ ("ADDRESS") },
    { "accept-proxy", 0, 0, G_OPTION_ARG_STRING_ARRAY, &accept_proxy,
      N_ ("Public connections from this network (a load balancer) start with a PROXY "
          "protocol header naming the client, within --http-header-timeout; repeatable"),
      N_ ("CIDR") },
    { "max-connections", 0, 0, G_OPTION_ARG_INT64, &max_connections,
      N_ ("Public connections open at once on all ports; more are closed (default: 65536)"),
      N_ ("N") },
    { "max-connections-per-port", 0, 0, G_OPTION_ARG_INT64, &max_connections_per_port,
      N_ ("Public connections open at once on one port; more are closed (default: 16384)"),
      N_ ("N") },
    { "max-queued-per-port", 0, 0, G_OPTION_ARG_INT64, &max_queued_per_port,
      N_ ("Connections or HTTP requests waiting for a service on one port; more are closed "
          "or get 503 (default: 1024)"),
      N_ ("N") },
    { "max-streams-per-service", 0, 0, G_OPTION_ARG_INT64, &max_streams_per_service,
      N_ ("Streams open at once to one service; more connections wait (default: 4096)"), N_ ("N") },
    { "privileged-group", 0, 0, G_OPTION_ARG_STRING, &policy_options.privileged_group,
      privileged_group_help, N_ ("GROUP") },
    { "allow-user", 0, 0, G_OPTION_ARG_STRING_ARRAY, &policy_options.allow_users,
      N_ ("Only this user (and those given by other --allow-user or --allow-group "
          "options) may register services; repeatable"),
      N_ ("USER") },
    { "allow-group", 0, 0, G_OPTION_ARG_STRING_ARRAY, &policy_options.allow_groups,
      N_ ("Only members of this group (and other allowed users and groups) may register "
          "services; repeatable"),
      N_ ("GROUP") },
    { "token-file", 0, 0, G_OPTION_ARG_FILENAME, &policy_options.token_file,
      N_ ("Services connecting over TCP must present the token in this file (mode 0600 "
          "or stricter)"),
      N_ ("FILE") },
    { "max-services", 0, 0, G_OPTION_ARG_INT, &policy_options.max_services,
      N_ ("Registered services at most, in total (default: 4096)"), N_ ("N") },
    { "max-services-per-user", 0, 0, G_OPTION_ARG_INT, &policy_options.max_services_per_user,
      N_ ("Registered services at most per user (default: 512)"), N_ ("N") },
    { "metrics", 0, 0, G_OPTION_ARG_STRING, &metrics_address,
      N_ ("Serve Prometheus metrics at http://ADDRESS:PORT/metrics"), N_ ("ADDRESS:PORT") },
    { "access-log", 0, 0, G_OPTION_ARG_FILENAME, &access_log,
      N_ ("Log every HTTP request and raw TCP connection to FILE (\"-\": standard output); "
          "reopened on SIGHUP"),
      N_ ("FILE") },
    { "access-log-format", 0, 0, G_OPTION_ARG_STRING, &access_log_format,
      N_ ("json (one object per line, the default) or combined (Apache/nginx)"), N_ ("FORMAT") },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_ ("Log every connection"), NULL },
    { "system-bus", 0, 0, G_OPTION_ARG_NONE, &system_bus,
      N_ ("Publish the state on the system bus (default when run as root)"), NULL },
    { "session-bus", 0, 0, G_OPTION_ARG_NONE, &session_bus,
      N_ ("Publish the state on the session bus (default otherwise)"), NULL },
    { "no-bus", 0, 0, G_OPTION_ARG_NONE, &no_bus, N_ ("Do not use D-Bus"), NULL },
    { "replace", 0, 0, G_OPTION_ARG_NONE, &replace,
      N_ ("Take the bus name over from a running daemon"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_ ("Print the version and exit"), NULL },
    { NULL }
  };

  /* Writes to vanished peers must fail, not kill the daemon */
  signal (SIGPIPE, SIG_IGN);

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* Descriptions that name a default from a macro, which xgettext would not
   * see in N_ (): formatted into the buffers the entries point to */
  g_snprintf (bind_help, sizeof bind_help,
              _ ("Address to listen on for services, repeatable: ADDRESS:PORT or unix:PATH "
                 "(default: %s)"),
              SM_DEFAULT_CONTROL_ADDRESS);
  g_snprintf (tls_priority_help, sizeof tls_priority_help,
              _ ("GnuTLS priority string for TLS ports (default: %s)"), SM_TLS_DEFAULT_PRIORITY);
  g_snprintf (privileged_group_help, sizeof privileged_group_help,
              _ ("Group whose members may take ports below 1024, besides root and the daemon's "
                 "own user (default: %s)"),
              SM_POLICY_DEFAULT_PRIVILEGED_GROUP);

  context = g_option_context_new (NULL);
  g_option_context_set_summary (
      context, _ ("Zero-configuration reverse proxy: services connect to it "
                  "and receive the connections of the public ports they ask for."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s: %s\n", g_get_prgname (), error->message);
      return EXIT_FAILURE;
    }

  if (version)
    {
      g_print ("socketmaster %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }

  if (argc > 1)
    {
      g_printerr (_ ("%s: unexpected argument “%s”\n"), g_get_prgname (), argv[1]);
      return EXIT_FAILURE;
    }

  if (!isfinite (hold_timeout) || hold_timeout <= 0 || hold_timeout > MAX_HOLD_TIMEOUT)
    {
      g_printerr (_ ("%s: --hold-timeout must be more than 0 and at most %.0f seconds\n"),
                  g_get_prgname (), MAX_HOLD_TIMEOUT);
      return EXIT_FAILURE;
    }

  if (!isfinite (drain_timeout) || drain_timeout < 0 || drain_timeout > MAX_HOLD_TIMEOUT)
    {
      g_printerr (_ ("%s: --drain-timeout must be at least 0 and at most %.0f seconds\n"),
                  g_get_prgname (), MAX_HOLD_TIMEOUT);
      return EXIT_FAILURE;
    }

  if (!sm_http_limits_set (&http_limits, http_max_head_size, http_header_timeout, http_idle_timeout,
                           &error) ||
      !sm_http_limits_set_exchange_timeouts (&http_limits, http_body_timeout, http_response_timeout,
                                             &error) ||
      !sm_port_limits_set (&port_limits, max_connections, max_connections_per_port,
                           max_queued_per_port, max_streams_per_service, &error))
    {
      g_printerr ("%s: %s\n", g_get_prgname (), error->message);
      return EXIT_FAILURE;
    }

  /* Keep stdout for the one line that says where we listen */
  g_log_writer_default_set_use_stderr (TRUE);
  if (g_getenv ("G_MESSAGES_DEBUG") != NULL)
    g_log_set_writer_func (log_writer, g_strsplit_set (g_getenv ("G_MESSAGES_DEBUG"), " ,", -1),
                           (GDestroyNotify) g_strfreev);
  if (verbose)
    g_log_set_debug_enabled (TRUE);

  raise_file_limit ();

  /* Listeners from the process we replace, or from systemd */
  inherited = sm_inherited_take ();

  if (!choose_bus (system_bus, session_bus, no_bus, &bus_type))
    {
      g_printerr (_ ("%s: --system-bus, --session-bus and --no-bus exclude each other\n"),
                  g_get_prgname ());
      return EXIT_FAILURE;
    }

  policy = make_policy (&policy_options, &error);
  policy_options_clear (&policy_options);
  if (policy == NULL)
    {
      g_printerr ("%s: %s\n", g_get_prgname (), error->message);
      return EXIT_FAILURE;
    }

  registry = sm_registry_new (hold_timeout);
  sm_registry_set_policy (registry, policy);
  sm_registry_set_http_limits (registry, &http_limits);
  sm_registry_set_port_limits (registry, &port_limits);
  if (!sm_registry_set_tls_options (registry, tls_priority, tls_handshake_timeout, &error))
    {
      g_printerr ("%s: %s\n", g_get_prgname (), error->message);
      return EXIT_FAILURE;
    }
  if (tls_workers == G_MININT)
    tls_workers = (int) MIN (g_get_num_processors (), SM_TLS_MAX_WORKERS);
  if (tls_workers < 0 || tls_workers > SM_TLS_MAX_WORKERS)
    {
      g_printerr (_ ("%s: --tls-workers must be at least 0 and at most %d\n"), g_get_prgname (),
                  SM_TLS_MAX_WORKERS);
      return EXIT_FAILURE;
    }
  if (tls_workers > 0)
    {
      workers = sm_tls_workers_new ((guint) tls_workers, &error);
      if (workers == NULL)
        {
          g_printerr (_ ("%s: cannot start the TLS worker threads: %s\n"), g_get_prgname (),
                      error->message);
          return EXIT_FAILURE;
        }
      sm_tls_workers_set_default (workers);
    }
  if (!start_operations (registry, metrics_address, access_log, access_log_format, &metrics))
    return EXIT_FAILURE;
  if (!set_balancing (registry, public_address, accept_proxy))
    return EXIT_FAILURE;
  /* Before anyone is told we are up ("Listening for services", systemd,
   * a predecessor, the bus): a SIGTERM from then on must drain, not kill.
   * The handlers run from the loop, once exit_state is complete. */
  sigint_source = g_unix_signal_add (SIGINT, sm_main_on_exit_signal, &exit_state);
  sigterm_source = g_unix_signal_add (SIGTERM, sm_main_on_exit_signal, &exit_state);
  sighup_source = g_unix_signal_add (SIGHUP, sm_main_on_hangup_signal, NULL);
  sigusr2_source = g_unix_signal_add (SIGUSR2, sm_main_on_upgrade_signal, &exit_state);
  control = sm_control_new (registry);
  bound = listen_for_services (control, binds, inherited);
  if (bound == NULL)
    return EXIT_FAILURE;
  n_adopted = sm_inherited_adopt_ports (inherited, registry);
  if (n_adopted > 0)
    g_message ("Took over %u public ports; they wait for their services", n_adopted);
  notify = sm_notify_new (registry);
  if (sm_inherited_is_upgrade (inherited))
    sm_notify_set_upgraded (notify);
  sm_notify_ready (notify);
  sm_notify_store_listeners (notify, sm_control_get_sockets (control));

  loop = g_main_loop_new (NULL, FALSE);
  upgrade = sm_upgrade_new ((const char *const *) original_argv);
  exit_state.loop = loop;
  exit_state.upgrade = upgrade;
  exit_state.control = control;
  exit_state.registry = registry;
  g_signal_connect (upgrade, "finished", G_CALLBACK (sm_main_on_upgrade_finished), &exit_state);

  /* Inspection, and Route.Drain and Manager.Upgrade: the proxy runs the
   * same with or without a bus. A successor takes the name over. */
  dbus = sm_dbus_new (registry, bound);
  sm_dbus_set_upgrade_func (dbus, sm_main_start_upgrade, &exit_state);
  if (bus_type != G_BUS_TYPE_NONE)
    sm_dbus_own_name (dbus, bus_type, replace || sm_inherited_is_upgrade (inherited));

  /* We accept now: the predecessor may stop */
  sm_inherited_ready (inherited);
  g_clear_pointer (&inherited, sm_inherited_free);
  trim_source = g_timeout_add_seconds (TRIM_INTERVAL_SECONDS, on_trim_memory, NULL);

  g_main_loop_run (loop);

  if (exit_state.handing_over)
    sm_notify_hand_over (notify);
  else
    sm_notify_stopping (notify);
  sm_main_shut_down (control, registry, drain_timeout, &exit_state);
  g_source_remove (sigint_source);
  g_source_remove (sigterm_source);
  g_source_remove (sighup_source);
  g_source_remove (sigusr2_source);
  g_signal_handlers_disconnect_by_data (upgrade, &exit_state);
  g_source_remove (trim_source);

  g_clear_object (&dbus);
  g_clear_object (&metrics);
  g_clear_object (&notify);
  g_clear_object (&upgrade);
  g_clear_object (&control);
  g_clear_object (&registry);
  /* waits for handshake steps in flight; their ends are dispatched below */
  sm_tls_workers_set_default (NULL);
  g_clear_object (&workers);
  sm_main_run_pending_work ();
  if (sm_access_log_get_default () != NULL)
    sm_access_log_flush (sm_access_log_get_default ());
  sm_access_log_set_default (NULL);

  return EXIT_SUCCESS;
}
