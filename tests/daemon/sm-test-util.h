/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers for the integration and interop tests: child processes whose
 * output is collected line by line, the daemon, waiting on the main context
 * with a deadline, blocking public-side sockets for worker threads,
 * asynchronous echo checks, an in-process service built directly on the
 * yamux session (so a test can script exactly what the service does) and
 * the example service examples/tcp-echo as a process.
 *
 * Everything except the blocking socket helpers runs on the default main
 * context of the test thread. The blocking helpers are meant for
 * SmTestThread workers: blocking I/O in the test thread would stop the
 * in-process services and the echo checks that share its main context.
 *
 * Implemented in sm-test-util.c, sm-test-echo.c (echo checks) and
 * sm-test-service.c (the services).
 */

#include <gio/gio.h>
#include "sm-yamux-session.h"
#include "sm-yamux-stream.h"

#include "sm-extension-handshake.h"
#include "sm-test-wire.h"

G_BEGIN_DECLS

/* Fails the current test with a formatted reason (aborts, like g_assert) */
#define sm_test_fail(...) \
  sm_test_fail_at (__FILE__, __LINE__, G_STRFUNC, __VA_ARGS__)
G_NORETURN void sm_test_fail_at (const char *file,
                                 int         line,
                                 const char *func,
                                 const char *format,
                                 ...) G_GNUC_PRINTF (4, 5);

/* ---- Waiting on the main context ---- */

typedef gboolean (*SmTestCondition) (gpointer data);

/* Iterates the default main context until @condition holds. FALSE when
 * @timeout_ms passed first. */
gboolean sm_test_wait_until   (SmTestCondition condition,
                               gpointer        data,
                               guint           timeout_ms);
/* Until g_atomic_int_get (@value) >= @at_least; fails the test on timeout */
void     sm_test_wait_for_int (const gint     *value,
                               gint            at_least,
                               guint           timeout_ms,
                               const char     *what);

/* ---- Worker threads (for blocking public-side I/O) ---- */

typedef struct _SmTestThread SmTestThread;

SmTestThread *sm_test_thread_new  (const char   *name,
                                   GThreadFunc   func,
                                   gpointer      data);
/* Iterates the main context until the thread returned; fails on timeout.
 * Returns what the thread function returned. */
gpointer      sm_test_thread_join (SmTestThread *thread,
                                   guint         timeout_ms);
/* Set @flag (atomically) and wake the test thread's main context */
void          sm_test_signal_int  (gint         *flag,
                                   gint          value);

/* ---- Child processes ---- */

typedef struct _SmTestProcess SmTestProcess;

/* Spawns @argv with stdout and stderr piped; every line is collected and
 * copied into the test log prefixed with @name. The child gets SIGKILL if
 * the test process dies first. */
SmTestProcess *sm_test_process_spawn         (const char          *name,
                                              const char * const  *argv);
/* Same, with @env ("NAME=VALUE", NULL-terminated, may be NULL) added to
 * the child's environment */
SmTestProcess *sm_test_process_spawn_with_env (const char          *name,
                                               const char * const  *argv,
                                               const char * const  *env);
/*
 * Line matching (stdout and stderr alike): a line matches @text if it
 * contains @text, where a number that ends @text must end there in the
 * line too (so "...:80" does not match ":8080"); if @text contains '*',
 * the whole line must match the glob "*@text".
 */
guint          sm_test_process_count_lines   (SmTestProcess       *process,
                                              const char          *text);
/* Waits until @n lines match; returns the @n-th (owned by @process). Fails
 * the test, dumping the output, on timeout or if the process exits first. */
const char    *sm_test_process_wait_for_lines (SmTestProcess      *process,
                                               const char         *text,
                                               guint               n,
                                               guint               timeout_ms);
const char    *sm_test_process_wait_for_line (SmTestProcess       *process,
                                              const char          *text,
                                              guint                timeout_ms);
gboolean       sm_test_process_is_running    (SmTestProcess       *process);
/* The process id as text (g_subprocess_get_identifier()), NULL once exited */
const char    *sm_test_process_get_identifier (SmTestProcess      *process);
void           sm_test_process_send_signal   (SmTestProcess       *process,
                                              int                  signal_num);
/* Waits for the exit and the end of its output; fails on timeout. Returns
 * the exit code, or -SIGNAL if a signal ended it. */
int            sm_test_process_wait_exit     (SmTestProcess       *process,
                                              guint                timeout_ms);
/* SIGTERM, then expect exit code 0 (or, if @allow_sigterm, death by it) */
void           sm_test_process_terminate     (SmTestProcess       *process,
                                              gboolean             allow_sigterm);
/* Kills it if still running, waits, frees */
void           sm_test_process_free          (SmTestProcess       *process);
void           sm_test_process_dump          (SmTestProcess       *process);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmTestProcess, sm_test_process_free)

/* ---- The daemon ($SM_DAEMON) ---- */

typedef struct {
  SmTestProcess *process;
  char          *control_address;  /* "127.0.0.1:PORT" */
  guint16        control_port;
} SmTestDaemon;

/* --bind 127.0.0.1:0 --hold-timeout @hold_timeout --no-bus; waits until
 * ready */
SmTestDaemon *sm_test_daemon_start         (double        hold_timeout);
/* Same, with @extra_args (NULL-terminated) after those; without any
 * (NULL) the daemon gets --no-bus, never the machine's bus */
SmTestDaemon *sm_test_daemon_start_with_args (double              hold_timeout,
                                              const char * const *extra_args);
/* Same, with @env ("NAME=VALUE", NULL-terminated, may be NULL) added to
 * the daemon's environment */
SmTestDaemon *sm_test_daemon_start_full    (double              hold_timeout,
                                            const char * const *extra_args,
                                            const char * const *env);
const char   *sm_test_daemon_wait_for_line (SmTestDaemon *daemon,
                                            const char   *text,
                                            guint         timeout_ms);
/* SIGTERM, assert exit status 0, free */
void          sm_test_daemon_stop          (SmTestDaemon *daemon);
/* For failure paths: kill and free without asserting */
void          sm_test_daemon_free          (SmTestDaemon *daemon);

/* ---- Sockets (blocking; any thread) ---- */

/* A port that was free a moment ago on 127.0.0.1 */
guint16  sm_test_free_port        (void);
/* Blocking TCP connection to 127.0.0.1:@port, 30 s I/O timeout */
GSocket *sm_test_connect          (guint16       port,
                                   GError      **error);
GSocket *sm_test_connect_address  (const char   *host_and_port,
                                   GError      **error);
void     sm_test_send_all         (GSocket      *socket,
                                   const void   *data,
                                   gsize         len);
/* Reads until @len bytes or EOF; returns the count */
gsize    sm_test_receive_exactly  (GSocket      *socket,
                                   void         *buffer,
                                   gsize         len,
                                   GError      **error);
/* Everything until EOF (at most @max bytes) */
GBytes  *sm_test_receive_to_eof   (GSocket      *socket,
                                   gsize         max,
                                   GError      **error);
/* TRUE if the peer closed (EOF) or reset the connection without sending
 * anything more; waits up to the socket timeout */
gboolean sm_test_socket_is_closed_by_peer (GSocket *socket);

/* ---- Handshake bytes, written by hand (docs/PROTOCOL.md §2-4), on
 * the primitives of sm-test-wire.h ---- */

GByteArray *sm_test_handshake_new  (const char   *address,
                                    guint64       port,
                                    guint8        flags);
/* One status string; NULL with G_IO_ERROR_CONNECTION_CLOSED if the peer
 * closed before sending one. Fails the test on a status over 64 KiB. */
char       *sm_test_read_status    (GSocket      *socket,
                                    GError      **error);

/* ---- Test data ---- */

void     sm_test_fill_pattern  (guint8       *buffer,
                                gsize         len,
                                guint64       offset,
                                guint32       seed);
/* Offset of the first byte that differs from the pattern, or -1 */
gssize   sm_test_check_pattern (const guint8 *buffer,
                                gsize         len,
                                guint64       offset,
                                guint32       seed);

/* ---- Echo checks through a public port (async, main context) ---- */

/* Connects to 127.0.0.1:@port, writes @size pattern bytes while reading
 * them back, compares. */
void     sm_test_echo_async  (guint16              port,
                              gsize                size,
                              guint32              seed,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data);
gboolean sm_test_echo_finish (GAsyncResult        *result,
                              GError             **error);
/* An echo check that sets @done to 1 once it succeeded, for
 * sm_test_wait_for_int(); a failed one fails the test */
void     sm_test_echo_start  (guint16              port,
                              gsize                size,
                              guint32              seed,
                              gint                *done);
/* @n_connections concurrent echo checks; fails the test if any fails */
void     sm_test_echo_many   (guint16              port,
                              guint                n_connections,
                              gsize                size,
                              guint                timeout_ms);

/* Echo checks back to back until stopped */
typedef struct _SmTestEchoLoop SmTestEchoLoop;
SmTestEchoLoop *sm_test_echo_loop_start (guint16         port,
                                         gsize           size);
/* Waits for the check in flight, fails the test if any failed; returns
 * the number of successful checks */
guint           sm_test_echo_loop_stop  (SmTestEchoLoop *loop);

/* ---- An in-process service on the raw yamux session ---- */

typedef struct _SmTestService SmTestService;

typedef enum {
  SM_TEST_SERVICE_ECHO,   /* echo every stream (after writing the tag) */
  SM_TEST_SERVICE_QUEUE,  /* keep streams for sm_test_service_next_stream() */
} SmTestServiceMode;

/* Registers 127.0.0.1:@port with the daemon (hand-written handshake);
 * fails the test unless the status is OK. @tag, if not NULL, is written
 * first on every echoed stream. */
SmTestService *sm_test_service_new          (const char        *control_address,
                                             guint16            port,
                                             const char        *tag);
/* Same through the extension handshake (docs/PROTOCOL.md §7), for what
 * only it can ask (proxy_protocol, ...); @request's address as given */
SmTestService *sm_test_service_new_extension (const char               *control_address,
                                              const SmExtensionRequest *request,
                                              const char               *tag);
/* Same with a TLS definition: the port terminates TLS with this
 * certificate (PEM chain) and key */
SmTestService *sm_test_service_new_tls      (const char        *control_address,
                                             guint16            port,
                                             const char        *tag,
                                             const char        *cert_pem,
                                             const char        *key_pem);
/* Same with an HTTP definition: requests for @domain_suffix and
 * @path_prefix ("" for any) */
SmTestService *sm_test_service_new_http     (const char        *control_address,
                                             guint16            port,
                                             const char        *tag,
                                             const char        *domain_suffix,
                                             const char        *path_prefix);
void           sm_test_service_set_mode     (SmTestService     *service,
                                             SmTestServiceMode  mode);
/* QUEUE mode: waits for the next stream; the caller owns it */
SmYamuxStream *sm_test_service_next_stream  (SmTestService     *service,
                                             guint              timeout_ms);
/* Echo @stream (takes a reference) like ECHO mode does */
void           sm_test_service_echo_stream  (SmTestService     *service,
                                             SmYamuxStream     *stream);
/* Our end of the control connection as the daemon sees it, "127.0.0.1:N":
 * the Peer of the service's route */
const char    *sm_test_service_get_peer     (SmTestService     *service);
guint          sm_test_service_get_n_accepted (SmTestService   *service);
gboolean       sm_test_service_saw_go_away  (SmTestService     *service);
gboolean       sm_test_service_is_closed    (SmTestService     *service);
/* Closes the session (the daemon sees the service leave) and frees */
void           sm_test_service_free         (SmTestService     *service);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmTestService, sm_test_service_free)

/* Blocking I/O on a service's stream in the test thread (allowed: the
 * stream iterates the main context while it waits); fails the test on an
 * error. Reads one byte at a time, so nothing after @end is consumed;
 * @end NULL reads to EOF. At most 64 KiB. */
char          *sm_test_stream_read_until    (SmYamuxStream     *stream,
                                             const char        *end);
void           sm_test_stream_write         (SmYamuxStream     *stream,
                                             const char        *text);

/* ---- The example service (examples/tcp-echo, the client library) ---- */

/* Serves 127.0.0.1:@port through the daemon at @control_address; returns
 * once it says so. @name prefixes its output in the log. */
SmTestProcess *sm_test_tcp_echo_start       (const char        *control_address,
                                             guint16            port,
                                             const char        *name);

G_END_DECLS
