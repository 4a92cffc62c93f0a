/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * HTTP clients for the HTTP proxy tests: curl in a child process (waited
 * for on the main context), and a blocking raw client for worker threads
 * (SmTestThread) that writes requests by hand and parses responses with
 * the daemon's own codec. Also the daemon and service processes these
 * tests use.
 */

#include <gio/gio.h>
#include <libsoup/soup.h>

#include "sm-test-util.h"

G_BEGIN_DECLS

/* ---- Processes ---- */

/* The daemon with --no-bus and @extra_args (may be NULL); @verbose for
 * the tests that wait for its debug lines */
SmTestDaemon  *sm_test_http_daemon_start   (double              hold_timeout,
                                            gboolean            verbose,
                                            const char * const *extra_args);
/* VmRSS or VmHWM ("VmRSS", "VmHWM") of a process, in KiB */
guint64        sm_test_process_memory_kib  (SmTestProcess      *process,
                                            const char         *field);

/* sm-test-http-service registering 127.0.0.1:@port with an HTTP
 * definition; waits until it serves */
SmTestProcess *sm_test_http_service_start  (SmTestDaemon       *daemon,
                                            guint16             port,
                                            const char         *domain_suffix,
                                            const char         *path_prefix,
                                            const char         *name);
/* Same, registering the certificate and key in these PEM files too (NULL:
 * none) */
SmTestProcess *sm_test_http_service_start_tls (SmTestDaemon       *daemon,
                                               guint16             port,
                                               const char         *domain_suffix,
                                               const char         *path_prefix,
                                               const char         *name,
                                               const char         *cert_file,
                                               const char         *key_file);
/* SIGTERM: graceful stop; waits for its exit (status 0) and frees */
void           sm_test_http_service_stop   (SmTestProcess      *service);

/* ---- curl ---- */

typedef struct _SmTestCurl SmTestCurl;

/* curl --silent --show-error --noproxy '*' @args... */
SmTestCurl *sm_test_curl_spawn       (const char * const *args);
gboolean    sm_test_curl_is_done     (SmTestCurl         *curl);
/* Waits for the exit; fails the test after @timeout_ms. Returns stdout
 * (owned by @curl); fails the test unless curl exited with 0. */
const char *sm_test_curl_wait        (SmTestCurl         *curl,
                                      guint               timeout_ms);
void        sm_test_curl_free        (SmTestCurl         *curl);
/* Spawn, wait, return stdout (free it) */
char       *sm_test_curl             (const char * const *args);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmTestCurl, sm_test_curl_free)

/* ---- Raw client (blocking; for worker threads) ---- */

typedef struct {
  GSocket    *socket;
  GByteArray *buffer;      /* received and not parsed yet */
} SmTestHttpConnection;

typedef struct {
  guint               status;
  SoupMessageHeaders *headers;
  GByteArray         *body;            /* chunk framing removed */
  char               *trailers;        /* chunked: the trailer section as
                                          received ("" if none) */
  guint               n_informational; /* 1xx heads before it */
  gboolean            keep_alive;
} SmTestHttpReply;

SmTestHttpConnection *sm_test_http_connect         (guint16               port);
void                  sm_test_http_connection_free (SmTestHttpConnection *connection);
void                  sm_test_http_send            (SmTestHttpConnection *connection,
                                                    const char           *text);
/* One final response to a @method request; NULL with @error if the
 * connection ended (or broke) before it was complete */
SmTestHttpReply      *sm_test_http_receive         (SmTestHttpConnection *connection,
                                                    const char           *method,
                                                    GError              **error);
/* TRUE if the server closed (or reset) without sending anything more */
gboolean              sm_test_http_closed_by_peer  (SmTestHttpConnection *connection);
void                  sm_test_http_reply_free      (SmTestHttpReply      *reply);
/* The body as a NUL-terminated string (owned by @reply) */
const char           *sm_test_http_reply_text      (SmTestHttpReply      *reply);

/* "GET @path HTTP/1.1" with Host @host, then its response; fails the
 * test if none comes */
SmTestHttpReply      *sm_test_http_get             (SmTestHttpConnection *connection,
                                                    const char           *host,
                                                    const char           *path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmTestHttpConnection, sm_test_http_connection_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmTestHttpReply, sm_test_http_reply_free)

G_END_DECLS
