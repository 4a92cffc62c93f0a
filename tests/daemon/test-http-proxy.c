/* SPDX-License-Identifier: MIT */
/*
 * The daemon as an HTTP reverse proxy, end to end: routing per request,
 * HTTP/1.1 framing both ways, upgrades, forwarding headers, limits and
 * mode conflicts. Services are sm-test-http-service processes; clients
 * are curl or raw sockets in worker threads.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>

#include "sm-test-http-client.h"
#include "sm-test-http-responder.h"
#include "sm-test-util.h"

#define TIMEOUT_MS 60000

typedef struct {
  SmTestDaemon *daemon;
  guint16       port;
  char         *base;      /* "http://127.0.0.1:PORT" */
} Fixture;

static void
fixture_setup (Fixture            *fixture,
               const char * const *daemon_args)
{
  fixture->daemon = sm_test_http_daemon_start (30, FALSE, daemon_args);
  fixture->port = sm_test_free_port ();
  fixture->base = g_strdup_printf ("http://127.0.0.1:%u", fixture->port);
}

static void
fixture_teardown (Fixture *fixture)
{
  sm_test_daemon_stop (fixture->daemon);
  g_free (fixture->base);
}

static char *
url (Fixture    *fixture,
     const char *path)
{
  return g_strconcat (fixture->base, path, NULL);
}

/* curl @path (with Host @host if not NULL); returns "BODY|STATUS" */
static char *
curl_get (Fixture    *fixture,
          const char *path,
          const char *host)
{
  g_autofree char *target = url (fixture, path);
  g_autofree char *host_field = host != NULL ? g_strdup_printf ("Host: %s", host) : NULL;
  g_autoptr(GPtrArray) args = g_ptr_array_new ();

  g_ptr_array_add (args, (gpointer) "-w");
  g_ptr_array_add (args, (gpointer) "|%{http_code}");
  if (host_field != NULL)
    {
      g_ptr_array_add (args, (gpointer) "-H");
      g_ptr_array_add (args, host_field);
    }
  g_ptr_array_add (args, target);
  g_ptr_array_add (args, NULL);
  return sm_test_curl ((const char * const *) args->pdata);
}

static void
assert_curl_get (Fixture    *fixture,
                 const char *path,
                 const char *host,
                 const char *expected)
{
  g_autofree char *out = curl_get (fixture, path, host);

  g_assert_cmpstr (out, ==, expected);
}

/* Runs @func in a worker thread and waits for it on the main context */
static gpointer
run_in_thread (const char  *name,
               GThreadFunc  func,
               gpointer     data)
{
  return sm_test_thread_join (sm_test_thread_new (name, func, data), TIMEOUT_MS);
}

/* ---- Routing ---- */

static void
test_path_prefix (void)
{
  Fixture fixture;
  SmTestProcess *a, *b;

  fixture_setup (&fixture, NULL);
  a = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/a/", "a");
  b = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/a/b/", "b");

  assert_curl_get (&fixture, "/a/", NULL, "a GET /a/\n|200");
  assert_curl_get (&fixture, "/a/b/", NULL, "b GET /a/b/\n|200");
  assert_curl_get (&fixture, "/a/b/c?x=1", NULL, "b GET /a/b/c?x=1\n|200");
  assert_curl_get (&fixture, "/a/bc", NULL, "a GET /a/bc\n|200");
  /* Matches nothing and nothing left: at once */
  assert_curl_get (&fixture, "/b/", NULL, "404 Not Found\n|404");

  sm_test_http_service_stop (a);
  sm_test_http_service_stop (b);
  fixture_teardown (&fixture);
}

static gpointer
absolute_form_client (gpointer data)
{
  guint16 *port = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (*port);
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  /* The target's authority routes, and replaces Host (RFC 9112 §3.2.2) */
  sm_test_http_send (connection, "GET http://API.Example.com:8080/abs?q=1 HTTP/1.1\r\n"
                                 "Host: www.example.com\r\n\r\n");
  reply = sm_test_http_receive (connection, "GET", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sm_test_http_reply_text (reply), ==, "api GET /abs?q=1\n");
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "X-Seen-Host"), ==,
                   "API.Example.com:8080");
  return NULL;
}

static void
test_domain_suffix (void)
{
  Fixture fixture;
  SmTestProcess *api, *www, *catch_all;
  g_autofree char *resolve_api = NULL;
  g_autofree char *api_url = NULL;
  g_autofree char *out = NULL;

  fixture_setup (&fixture, NULL);
  api = sm_test_http_service_start (fixture.daemon, fixture.port, "api.example.com", "", "api");
  www = sm_test_http_service_start (fixture.daemon, fixture.port, "www.example.com", "", "www");
  catch_all = sm_test_http_service_start (fixture.daemon, fixture.port, ".example.com", "/",
                                          "example");

  /* The name resolved by curl itself, as a browser would */
  resolve_api = g_strdup_printf ("api.example.com:%u:127.0.0.1", fixture.port);
  api_url = g_strdup_printf ("http://api.example.com:%u/v1", fixture.port);
  {
    const char *args[] = { "-w", "|%{http_code}", "--resolve", resolve_api, api_url, NULL };

    out = sm_test_curl (args);
    g_assert_cmpstr (out, ==, "api GET /v1\n|200");
  }

  /* Host field: case and port do not matter */
  assert_curl_get (&fixture, "/", "WWW.Example.COM:8080", "www GET /\n|200");
  assert_curl_get (&fixture, "/x", "mail.example.com", "example GET /x\n|200");
  /* At a label boundary: "www.example.com" does not capture this one */
  assert_curl_get (&fixture, "/y", "evilwww.example.com", "example GET /y\n|200");
  /* Unknown host: 404 at once, not after the hold timeout */
  assert_curl_get (&fixture, "/", "other.org", "404 Not Found\n|404");
  assert_curl_get (&fixture, "/", "example.com", "404 Not Found\n|404");

  sm_test_http_service_stop (api);
  sm_test_http_service_stop (www);
  sm_test_http_service_stop (catch_all);
  fixture_teardown (&fixture);
}

static void
test_absolute_form (void)
{
  Fixture fixture;
  SmTestProcess *api, *www;

  fixture_setup (&fixture, NULL);
  api = sm_test_http_service_start (fixture.daemon, fixture.port, "api.example.com", "", "api");
  www = sm_test_http_service_start (fixture.daemon, fixture.port, "www.example.com", "", "www");

  run_in_thread ("absolute-form", absolute_form_client, &fixture.port);

  sm_test_http_service_stop (api);
  sm_test_http_service_stop (www);
  fixture_teardown (&fixture);
}

/* ---- Keep-alive ---- */

typedef struct {
  guint16 port;
  guint   n_requests;
} AlternateContext;

static gpointer
alternate_client (gpointer data)
{
  AlternateContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);

  for (guint i = 0; i < context->n_requests; i++)
    {
      const char *service = i % 2 == 0 ? "one" : "two";
      g_autofree char *path = g_strdup_printf ("/%s/%u", service, i);
      g_autofree char *expected = g_strdup_printf ("%s GET %s\n", service, path);
      g_autoptr(SmTestHttpReply) reply = sm_test_http_get (connection, "localhost", path);

      g_assert_cmpuint (reply->status, ==, 200);
      g_assert_cmpstr (sm_test_http_reply_text (reply), ==, expected);
      g_assert_true (reply->keep_alive);
    }
  return NULL;
}

/* Services "one" on /one/ and "two" on /two/ */
static void
two_services_setup (Fixture        *fixture,
                    SmTestProcess **one,
                    SmTestProcess **two)
{
  fixture_setup (fixture, NULL);
  *one = sm_test_http_service_start (fixture->daemon, fixture->port, "", "/one/", "one");
  *two = sm_test_http_service_start (fixture->daemon, fixture->port, "", "/two/", "two");
}

static void
two_services_teardown (Fixture       *fixture,
                       SmTestProcess *one,
                       SmTestProcess *two)
{
  sm_test_http_service_stop (one);
  sm_test_http_service_stop (two);
  fixture_teardown (fixture);
}

/* curl reuses its connection across services: one connect, then none */
static void
test_keep_alive_curl (void)
{
  Fixture fixture;
  SmTestProcess *one, *two;
  g_autofree char *u1 = NULL, *u2 = NULL, *u3 = NULL, *u4 = NULL, *out = NULL;

  two_services_setup (&fixture, &one, &two);
  u1 = url (&fixture, "/one/1");
  u2 = url (&fixture, "/two/2");
  u3 = url (&fixture, "/one/3");
  u4 = url (&fixture, "/two/4");
  {
    const char *args[] = { "-w", "|%{num_connects}\n", u1, u2, u3, u4, NULL };

    out = sm_test_curl (args);
    g_assert_cmpstr (out, ==,
                     "one GET /one/1\n|1\n"
                     "two GET /two/2\n|0\n"
                     "one GET /one/3\n|0\n"
                     "two GET /two/4\n|0\n");
  }
  two_services_teardown (&fixture, one, two);
}

static void
test_keep_alive_alternating (void)
{
  Fixture fixture;
  SmTestProcess *one, *two;
  AlternateContext context;

  two_services_setup (&fixture, &one, &two);
  context.port = fixture.port;
  context.n_requests = 200;
  run_in_thread ("alternate", alternate_client, &context);
  two_services_teardown (&fixture, one, two);
}

/* ---- Framing ---- */

typedef struct {
  guint16 port;
} PortContext;

static gpointer
pipelined_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  const char *expected[] = {
    "a GET /a/1\n", "hello", "b GET /b/3\n", "a POST /a/4\n", "abcdefgh", "b GET /b/6\n",
  };

  /* Six requests in one write, three with bodies; answered in order */
  sm_test_http_send (connection,
                     "GET /a/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST /b/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                     "GET /b/3 HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST /a/4 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n0\r\n\r\n"
                     "PUT /a/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     "Trailer: X-Checksum\r\n\r\n"
                     "3;ext=1\r\nabc\r\n5\r\ndefgh\r\n0\r\nX-Checksum: 42\r\n\r\n"
                     "GET /b/6 HTTP/1.1\r\nHost: x\r\n\r\n");
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(SmTestHttpReply) reply = sm_test_http_receive (connection,
                                                               i == 1 ? "POST" : "GET", &error);

      g_assert_no_error (error);
      g_assert_cmpuint (reply->status, ==, 200);
      g_assert_cmpstr (sm_test_http_reply_text (reply), ==, expected[i]);
      /* Chunk framing and trailers go through as they are */
      if (i == 4)
        g_assert_cmpstr (reply->trailers, ==, "X-Checksum: 42\r\n");
    }
  return NULL;
}

/* HEAD: the length of the GET, no body */
static gpointer
head_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  sm_test_http_send (connection, "HEAD /a/head HTTP/1.1\r\nHost: x\r\n\r\n");
  reply = sm_test_http_receive (connection, "HEAD", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "Content-Length"), ==, "15");
  g_assert_cmpuint (reply->body->len, ==, 0);
  return NULL;
}

/* 204 and 304 have no body either; the connection goes on */
static gpointer
no_body_status_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;

  reply = sm_test_http_get (connection, "x", "/a/status/204");
  g_assert_cmpuint (reply->status, ==, 204);
  g_assert_cmpuint (reply->body->len, ==, 0);
  g_clear_pointer (&reply, sm_test_http_reply_free);
  reply = sm_test_http_get (connection, "x", "/a/status/304");
  g_assert_cmpuint (reply->status, ==, 304);
  g_clear_pointer (&reply, sm_test_http_reply_free);
  reply = sm_test_http_get (connection, "x", "/a/after");
  g_assert_cmpstr (sm_test_http_reply_text (reply), ==, "a GET /a/after\n");
  return NULL;
}

/* 100-continue: the interim answer, then the echo */
static gpointer
continue_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autoptr(GError) error = NULL;
  const char *expected = "HTTP/1.1 100 Continue\r\n";
  char interim[64] = "";
  gsize n;

  sm_test_http_send (connection, "PUT /a/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                                 "Expect: 100-continue\r\n\r\n");
  n = sm_test_receive_exactly (connection->socket, interim, strlen (expected), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, strlen (expected));
  g_assert_cmpstr (interim, ==, expected);
  g_byte_array_append (connection->buffer, (const guint8 *) interim, (guint) n);

  sm_test_http_send (connection, "body");
  reply = sm_test_http_receive (connection, "PUT", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_cmpuint (reply->n_informational, ==, 1);
  g_assert_cmpstr (sm_test_http_reply_text (reply), ==, "body");
  return NULL;
}

/* A large response streams through */
static gpointer
large_response_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = sm_test_http_get (connection, "x", "/a/big?bytes=3000000");

  g_assert_cmpuint (reply->body->len, ==, 3000000);
  for (guint i = 0; i < reply->body->len; i += 4093)
    g_assert_cmpuint (reply->body->data[i], ==, sm_test_http_big_byte (i));
  return NULL;
}

/* The service closing its stream after a response does not close ours */
static gpointer
service_close_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = sm_test_http_get (connection, "x", "/a/close");

  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_true (reply->keep_alive);
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "X-Seen-Connection"), ==, "-");
  g_clear_pointer (&reply, sm_test_http_reply_free);
  reply = sm_test_http_get (connection, "x", "/a/after");
  g_assert_cmpstr (sm_test_http_reply_text (reply), ==, "a GET /a/after\n");
  return NULL;
}

/* A body delimited by close ends the public connection too */
static gpointer
until_close_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = sm_test_http_get (connection, "x", "/a/until-close");

  g_assert_cmpstr (sm_test_http_reply_text (reply), ==, "a GET /a/until-close\n");
  g_assert_false (reply->keep_alive);
  g_assert_true (sm_test_http_closed_by_peer (connection));
  return NULL;
}

/* Connection: close from the client */
static gpointer
client_close_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  sm_test_http_send (connection, "GET /a/bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  reply = sm_test_http_receive (connection, "GET", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "Connection"), ==, "close");
  g_assert_true (sm_test_http_closed_by_peer (connection));
  return NULL;
}

/* HTTP/1.0 keep-alive is kept; plain HTTP/1.0 closes */
static gpointer
http_1_0_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  sm_test_http_send (connection, "GET /a/old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  reply = sm_test_http_receive (connection, "GET", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sm_test_http_reply_text (reply), ==, "a GET /a/old\n");
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "Connection"), ==, "keep-alive");
  g_clear_pointer (&reply, sm_test_http_reply_free);
  sm_test_http_send (connection, "GET /a/older HTTP/1.0\r\n\r\n");
  reply = sm_test_http_receive (connection, "GET", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sm_test_http_reply_text (reply), ==, "a GET /a/older\n");
  g_assert_true (sm_test_http_closed_by_peer (connection));
  return NULL;
}

/* One client scenario, in a worker thread */
typedef struct {
  const char  *path;
  GThreadFunc  client;
} ClientCase;

static const ClientCase framing_cases[] = {
  { "/http/framing/pipelined", pipelined_client },
  { "/http/framing/head-has-no-body", head_client },
  { "/http/framing/204-304-have-no-body", no_body_status_client },
  { "/http/framing/100-continue", continue_client },
  { "/http/framing/large-response-streams", large_response_client },
  { "/http/framing/service-closing-its-stream-keeps-ours", service_close_client },
  { "/http/framing/until-close-body-closes", until_close_client },
  { "/http/framing/client-asks-to-close", client_close_client },
  { "/http/framing/http-1.0", http_1_0_client },
};

/* Services "a" on /a/ and "b" on /b/ */
static void
test_framing (gconstpointer data)
{
  const ClientCase *scenario = data;
  Fixture fixture;
  SmTestProcess *a, *b;
  PortContext context;

  fixture_setup (&fixture, NULL);
  a = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/a/", "a");
  b = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/b/", "b");
  context.port = fixture.port;

  run_in_thread (scenario->path, scenario->client, &context);

  sm_test_http_service_stop (a);
  sm_test_http_service_stop (b);
  fixture_teardown (&fixture);
}

/* ---- A big chunked upload, echoed ---- */

#define UPLOAD_CHUNK   (64 * 1024)
#define UPLOAD_CHUNKS  1600    /* 100 MiB */

/* What the daemon may hold is bounded whatever the body size: the yamux
 * receive window of the response stream (448 KiB at most), the per-thread
 * cache of yamux buffer segments (1.25 MiB at most) and the proxy's two
 * 64 KiB buffers (measured: under 1 MiB of growth).
 * AddressSanitizer's allocator adds redzones and rounds 64 KiB segments up
 * to a larger size class, so the same buffers cost more there. */
#if defined(__SANITIZE_ADDRESS__)
#define MAX_RSS_GROWTH_KIB (16 * 1024)
#else
#define MAX_RSS_GROWTH_KIB (4 * 1024)
#endif

/* The body as sent: chunk k is its size line, UPLOAD_CHUNK pattern bytes
 * and CRLF; the service echoes the chunk framing unchanged */
static gsize
upload_chunk_bytes (guint   index,
                    guint8 *out)
{
  memcpy (out, "10000\r\n", 7);
  sm_test_fill_pattern (out + 7, UPLOAD_CHUNK, (guint64) index * UPLOAD_CHUNK, 0x5eed);
  memcpy (out + 7 + UPLOAD_CHUNK, "\r\n", 2);
  return 7 + UPLOAD_CHUNK + 2;
}

typedef struct {
  int     fd;
  guint16 port;
} UploadContext;

static gpointer
upload_sender (gpointer data)
{
  UploadContext *context = data;
  const char *head = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  g_autofree guint8 *chunk = g_malloc (UPLOAD_CHUNK + 16);

  g_assert_cmpint (send (context->fd, head, strlen (head), MSG_NOSIGNAL), ==, (int) strlen (head));
  for (guint i = 0; i <= UPLOAD_CHUNKS; i++)
    {
      gsize len = i < UPLOAD_CHUNKS ? upload_chunk_bytes (i, chunk) : 5;
      gsize sent = 0;

      if (i == UPLOAD_CHUNKS)
        memcpy (chunk, "0\r\n\r\n", 5);
      while (sent < len)
        {
          ssize_t n = send (context->fd, chunk + sent, len - sent, MSG_NOSIGNAL);

          if (n < 0 && errno == EINTR)
            continue;
          g_assert_cmpint (n, >, 0);
          sent += (gsize) n;
        }
    }
  return NULL;
}

static gboolean
receive_all (int     fd,
             guint8 *buffer,
             gsize   len)
{
  gsize received = 0;

  while (received < len)
    {
      ssize_t n = recv (fd, buffer + received, len - received, 0);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      received += (gsize) n;
    }
  return TRUE;
}

static gpointer
upload_receiver (gpointer data)
{
  UploadContext *context = data;
  g_autofree guint8 *expected = g_malloc (UPLOAD_CHUNK + 16);
  g_autofree guint8 *received = g_malloc (UPLOAD_CHUNK + 16);
  GString *head = g_string_new (NULL);
  guint64 total = 0;

  /* The head, byte by byte: the body must not be read into it */
  while (!g_str_has_suffix (head->str, "\r\n\r\n"))
    {
      guint8 byte;

      g_assert_true (receive_all (context->fd, &byte, 1));
      g_string_append_c (head, (char) byte);
      g_assert_cmpuint (head->len, <, 8192);
    }
  g_assert_true (g_str_has_prefix (head->str, "HTTP/1.1 200 "));
  g_assert_nonnull (strstr (head->str, "\r\nTransfer-Encoding: chunked\r\n"));
  g_string_free (head, TRUE);

  for (guint i = 0; i <= UPLOAD_CHUNKS; i++)
    {
      gsize len = i < UPLOAD_CHUNKS ? upload_chunk_bytes (i, expected) : 5;

      if (i == UPLOAD_CHUNKS)
        memcpy (expected, "0\r\n\r\n", 5);
      g_assert_true (receive_all (context->fd, received, len));
      if (memcmp (received, expected, len) != 0)
        sm_test_fail ("echoed body differs in chunk %u", i);
      total += len;
    }
  g_test_message ("echoed %" G_GUINT64_FORMAT " bytes intact", total);
  return NULL;
}

static void
test_chunked_upload_flat_memory (void)
{
  Fixture fixture;
  SmTestProcess *echo;
  UploadContext context;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) error = NULL;
  SmTestThread *sender, *receiver;
  guint64 rss_before, hwm_after;
  g_autofree char *warm_up = NULL;
  g_autofree char *asan_options = NULL;
  g_autofree char *daemon_asan_options = NULL;

  /* Under AddressSanitizer, freed memory waits in a quarantine (256 MiB by
   * default) before it is reused: that would measure ASan, not us */
  asan_options = g_strdup (g_getenv ("ASAN_OPTIONS"));
  daemon_asan_options = g_strconcat (asan_options != NULL ? asan_options : "",
                                     asan_options != NULL ? ":" : "", "quarantine_size_mb=0", NULL);
  g_setenv ("ASAN_OPTIONS", daemon_asan_options, TRUE);
  fixture_setup (&fixture, NULL);
  if (asan_options != NULL)
    g_setenv ("ASAN_OPTIONS", asan_options, TRUE);
  else
    g_unsetenv ("ASAN_OPTIONS");
  echo = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/", "echo");

  /* Buffers of a first connection are allocated before measuring */
  warm_up = curl_get (&fixture, "/warm-up", NULL);
  g_assert_cmpstr (warm_up, ==, "echo GET /warm-up\n|200");
  rss_before = sm_test_process_memory_kib (fixture.daemon->process, "VmRSS");

  socket = sm_test_connect (fixture.port, &error);
  g_assert_no_error (error);
  /* Plain blocking send() and recv() from two threads */
  context.fd = g_socket_get_fd (socket);
  g_assert_cmpint (fcntl (context.fd, F_SETFL, fcntl (context.fd, F_GETFL) & ~O_NONBLOCK), ==, 0);
  context.port = fixture.port;
  receiver = sm_test_thread_new ("upload-receiver", upload_receiver, &context);
  sender = sm_test_thread_new ("upload-sender", upload_sender, &context);
  sm_test_thread_join (sender, 240000);
  sm_test_thread_join (receiver, 240000);

  hwm_after = sm_test_process_memory_kib (fixture.daemon->process, "VmHWM");
  g_test_message ("daemon RSS before %" G_GUINT64_FORMAT " KiB, peak after %" G_GUINT64_FORMAT
                  " KiB", rss_before, hwm_after);
  g_assert_cmpuint (hwm_after, <, rss_before + MAX_RSS_GROWTH_KIB);

  g_socket_close (socket, NULL);
  sm_test_http_service_stop (echo);
  fixture_teardown (&fixture);
}

/* ---- Upgrade ---- */

static gpointer
upgrade_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autoptr(GError) error = NULL;
  const char *message = "raw bytes, both ways\n";
  char echoed[64] = "";
  gsize n;

  /* A plain request first: the upgrade happens on a used connection */
  reply = sm_test_http_get (connection, "x", "/ws/first");
  g_assert_cmpuint (reply->status, ==, 200);
  g_clear_pointer (&reply, sm_test_http_reply_free);

  sm_test_http_send (connection, "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                 "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  reply = sm_test_http_receive (connection, "GET", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->status, ==, 101);
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "Upgrade"), ==, "websocket");
  g_assert_true (soup_message_headers_header_contains (reply->headers, "Connection", "upgrade"));
  g_assert_cmpuint (connection->buffer->len, ==, 0);

  sm_test_http_send (connection, message);
  n = sm_test_receive_exactly (connection->socket, echoed, strlen (message), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, strlen (message));
  g_assert_cmpstr (echoed, ==, message);

  /* Our EOF passes through; the service's close comes back */
  g_socket_shutdown (connection->socket, FALSE, TRUE, &error);
  g_assert_no_error (error);
  g_assert_true (sm_test_http_closed_by_peer (connection));
  return NULL;
}

static void
test_upgrade (void)
{
  Fixture fixture;
  SmTestProcess *ws;
  PortContext context;

  fixture_setup (&fixture, NULL);
  ws = sm_test_http_service_start (fixture.daemon, fixture.port, "", "/", "ws");
  context.port = fixture.port;

  run_in_thread ("upgrade", upgrade_client, &context);

  sm_test_http_service_stop (ws);
  fixture_teardown (&fixture);
}

/* ---- Hostile requests and responses ---- */

/* Sends @request, returns the final response to it */
static SmTestHttpReply *
send_request (SmTestHttpConnection *connection,
              const char           *method,
              const char           *request)
{
  g_autoptr(GError) error = NULL;
  SmTestHttpReply *reply;

  sm_test_http_send (connection, request);
  reply = sm_test_http_receive (connection, method, &error);
  g_assert_no_error (error);
  return reply;
}

/* A transfer coding other than chunked alone: 501 and closed, as nginx
 * does; the service never sees it */
static gpointer
transfer_coding_client (gpointer data)
{
  PortContext *context = data;
  static const char * const codings[] = { "gzip, chunked", "chunked, gzip", "identity" };

  for (guint i = 0; i < G_N_ELEMENTS (codings); i++)
    {
      g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
      g_autofree char *request =
        g_strdup_printf ("POST /a/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: %s\r\n\r\n"
                         "3\r\nabc\r\n0\r\n\r\n", codings[i]);
      g_autoptr(SmTestHttpReply) reply = send_request (connection, "POST", request);

      g_assert_cmpuint (reply->status, ==, 501);
      g_assert_null (soup_message_headers_get_one (reply->headers, "X-Service"));
      g_assert_false (reply->keep_alive);
      g_assert_true (sm_test_http_closed_by_peer (connection));
    }
  return NULL;
}

/* h2c smuggling: the service sees no h2c upgrade, so it cannot switch
 * the stream to HTTP/2 behind our back; other upgrades still work */
static gpointer
h2c_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;

  reply = send_request (connection, "GET", "GET /a/upgrade HTTP/1.1\r\nHost: x\r\n"
                        "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                        "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n");
  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "X-Seen-Upgrade"), ==, "-");
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "X-Seen-Connection"), ==, "-");
  g_assert_cmpstr (sm_test_http_reply_text (reply), ==, "a GET /a/upgrade\n");
  g_clear_pointer (&reply, sm_test_http_reply_free);

  /* The connection goes on, and h2c next to another protocol leaves it */
  reply = send_request (connection, "GET", "GET /a/upgrade HTTP/1.1\r\nHost: x\r\n"
                        "Connection: Upgrade\r\nUpgrade: h2c, websocket\r\n\r\n");
  g_assert_cmpuint (reply->status, ==, 101);
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "Upgrade"), ==, "websocket");
  return NULL;
}

/* Interim responses per request are bounded; past the bound the
 * response is broken: 502 */
#define N_INTERIM_OK 10

static gpointer
interim_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;

  reply = send_request (connection, "GET", "GET /bounded HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (reply->status, ==, 200);
  g_assert_cmpuint (reply->n_informational, ==, N_INTERIM_OK);
  g_clear_pointer (&reply, sm_test_http_reply_free);

  reply = send_request (connection, "GET", "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (reply->status, ==, 502);
  g_assert_cmpuint (reply->n_informational, ==, N_INTERIM_OK);
  return NULL;
}

/* Answers the next request, on a new stream, with @n_interim 103s, then
 * 200 */
static void
answer_with_interim (SmTestService *service,
                     guint          n_interim)
{
  g_autoptr(SmYamuxStream) stream = sm_test_service_next_stream (service, TIMEOUT_MS);
  g_autofree char *head = sm_test_stream_read_until (stream, "\r\n\r\n");
  g_autoptr(GString) out = g_string_new (NULL);

  g_assert_true (g_str_has_prefix (head, "GET /"));
  for (guint i = 0; i < n_interim; i++)
    g_string_append (out, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n");
  /* Not pooled: the next request comes on a new stream */
  g_string_append (out, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  sm_test_stream_write (stream, out->str);
}

static void
test_interim_responses (void)
{
  Fixture fixture;
  SmTestService *service;
  SmTestThread *client;
  PortContext context;

  fixture_setup (&fixture, NULL);
  service = sm_test_service_new_http (fixture.daemon->control_address, fixture.port, NULL, "", "");
  sm_test_service_set_mode (service, SM_TEST_SERVICE_QUEUE);
  context.port = fixture.port;

  client = sm_test_thread_new ("interim", interim_client, &context);
  answer_with_interim (service, N_INTERIM_OK);
  answer_with_interim (service, N_INTERIM_OK + 1);
  sm_test_thread_join (client, TIMEOUT_MS);

  sm_test_service_free (service);
  fixture_teardown (&fixture);
}

static const ClientCase hostile_cases[] = {
  { "/http/hostile/transfer-codings-501", transfer_coding_client },
  { "/http/hostile/h2c-upgrade-stripped", h2c_client },
};

/* ---- Forwarding headers ---- */

static gpointer
forwarding_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autoptr(GError) error = NULL;
  SoupMessageHeaders *seen;

  sm_test_http_send (connection,
                     "GET /fwd HTTP/1.1\r\nHost: app.example.com\r\n"
                     "X-Forwarded-For: 203.0.113.7\r\n"
                     "X-Forwarded-Proto: https\r\n"
                     "X-Forwarded-Host: evil.example\r\n"
                     "Connection: keep-alive, X-Secret\r\n"
                     "X-Secret: hop\r\n"
                     "Keep-Alive: timeout=5\r\n"
                     "TE: trailers\r\n"
                     "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n");
  reply = sm_test_http_receive (connection, "GET", &error);
  g_assert_no_error (error);
  seen = reply->headers;
  g_assert_cmpstr (soup_message_headers_get_one (seen, "X-Seen-X-Forwarded-For"), ==,
                   "203.0.113.7, 127.0.0.1");
  /* Set by us, not taken from the client */
  g_assert_cmpstr (soup_message_headers_get_one (seen, "X-Seen-X-Forwarded-Proto"), ==, "http");
  g_assert_cmpstr (soup_message_headers_get_one (seen, "X-Seen-X-Forwarded-Host"), ==,
                   "app.example.com");
  g_assert_cmpstr (soup_message_headers_get_one (seen, "X-Seen-Forwarded"), ==,
                   "for=127.0.0.1;proto=http;host=app.example.com");
  g_assert_cmpstr (soup_message_headers_get_one (seen, "X-Seen-Host"), ==, "app.example.com");
  /* Hop-by-hop fields stay on this hop */
  g_assert_cmpstr (soup_message_headers_get_one (seen, "X-Seen-Connection"), ==, "-");
  g_assert_cmpstr (soup_message_headers_get_one (seen, "X-Seen-Keep-Alive"), ==, "-");
  g_assert_cmpstr (soup_message_headers_get_one (seen, "X-Seen-TE"), ==, "-");
  g_assert_cmpstr (soup_message_headers_get_one (seen, "X-Seen-Proxy-Authorization"), ==, "-");
  return NULL;
}

static void
test_forwarding_headers (void)
{
  Fixture fixture;
  SmTestProcess *service;
  PortContext context;

  fixture_setup (&fixture, NULL);
  service = sm_test_http_service_start (fixture.daemon, fixture.port, "", "", "fwd");
  context.port = fixture.port;

  run_in_thread ("forwarding", forwarding_client, &context);

  sm_test_http_service_stop (service);
  fixture_teardown (&fixture);
}

/* ---- Limits ---- */

typedef struct {
  guint16 port;
  gint    stop;
  gint    n_done;
} NormalContext;

/* A well-behaved client, busy while the others misbehave */
static gpointer
normal_client (gpointer data)
{
  NormalContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);

  while (!g_atomic_int_get (&context->stop) || g_atomic_int_get (&context->n_done) < 10)
    {
      g_autoptr(SmTestHttpReply) reply = sm_test_http_get (connection, "x", "/normal");

      g_assert_cmpuint (reply->status, ==, 200);
      g_assert_cmpstr (sm_test_http_reply_text (reply), ==, "limits GET /normal\n");
      g_atomic_int_inc (&context->n_done);
    }
  return NULL;
}

static gpointer
slowloris_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  /* Half a head, then nothing: the header timeout (1 s) answers */
  sm_test_http_send (connection, "GET /slow HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n");
  reply = sm_test_http_receive (connection, "GET", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->status, ==, 408);
  g_assert_true (sm_test_http_closed_by_peer (connection));
  return NULL;
}

static gpointer
big_head_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *filler = g_strnfill (16 * 1024, 'x');
  g_autofree char *request = g_strdup_printf ("GET /big-head HTTP/1.1\r\nHost: x\r\n"
                                              "X-Filler: %s\r\n\r\n", filler);

  /* Over the 4 KiB limit */
  sm_test_http_send (connection, request);
  reply = sm_test_http_receive (connection, "GET", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->status, ==, 431);
  g_assert_true (sm_test_http_closed_by_peer (connection));
  return NULL;
}

static gpointer
malformed_client (gpointer data)
{
  PortContext *context = data;
  const char *bad[] = {
    "GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    "GET /x HTTP/1.1\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: x\r\nBad Field: y\r\n\r\n",
    "BREW /x HTCPCP/1.0\r\n\r\n",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
      g_autoptr(SmTestHttpReply) reply = NULL;
      g_autoptr(GError) error = NULL;

      sm_test_http_send (connection, bad[i]);
      reply = sm_test_http_receive (connection, "GET", &error);
      g_assert_no_error (error);
      g_assert_cmpuint (reply->status, ==, 400);
      g_assert_true (sm_test_http_closed_by_peer (connection));
    }
  return NULL;
}

static gpointer
idle_client (gpointer data)
{
  PortContext *context = data;
  g_autoptr(SmTestHttpConnection) connection = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = sm_test_http_get (connection, "x", "/idle");

  g_assert_cmpuint (reply->status, ==, 200);
  /* The idle timeout (1 s) closes it without a word */
  g_assert_true (sm_test_http_closed_by_peer (connection));
  return NULL;
}

static const ClientCase limits_cases[] = {
  { "/http/limits/slowloris", slowloris_client },
  { "/http/limits/big-head", big_head_client },
  { "/http/limits/malformed", malformed_client },
  { "/http/limits/idle", idle_client },
};

/* A client that goes beyond the limits is answered or closed, while a
 * well-behaved one on the same port is served */
static void
test_limits (gconstpointer data)
{
  const char *args[] = {
    "--http-header-timeout", "1", "--http-max-head-size", "4096", "--http-idle-timeout", "1",
    NULL
  };
  const ClientCase *scenario = data;
  Fixture fixture;
  SmTestProcess *service;
  PortContext context;
  NormalContext normal = { 0 };
  SmTestThread *normal_thread;

  fixture_setup (&fixture, args);
  service = sm_test_http_service_start (fixture.daemon, fixture.port, "", "", "limits");
  context.port = fixture.port;
  normal.port = fixture.port;

  normal_thread = sm_test_thread_new ("normal", normal_client, &normal);
  run_in_thread (scenario->path, scenario->client, &context);
  g_atomic_int_set (&normal.stop, 1);
  sm_test_thread_join (normal_thread, TIMEOUT_MS);
  g_test_message ("the normal client made %d requests meanwhile",
                  g_atomic_int_get (&normal.n_done));

  sm_test_http_service_stop (service);
  fixture_teardown (&fixture);
}

/* ---- Daemon shutdown ---- */

typedef struct {
  guint16 port;
  gint    waiting_sent;
} ShutdownContext;

/* An idle keep-alive connection, a tunnel and a waiting request when the
 * daemon stops: it must end them all and exit cleanly (the tunnel lasts
 * until the drain timeout, 1 s here) */
static gpointer
shutdown_client (gpointer data)
{
  ShutdownContext *context = data;
  g_autoptr(SmTestHttpConnection) idle = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpConnection) tunnel = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpConnection) waiting = sm_test_http_connect (context->port);
  g_autoptr(SmTestHttpReply) reply = NULL;
  g_autoptr(GError) error = NULL;
  char echoed[8] = "";

  reply = sm_test_http_get (idle, "x", "/idle");
  g_assert_cmpuint (reply->status, ==, 200);
  g_clear_pointer (&reply, sm_test_http_reply_free);

  sm_test_http_send (tunnel, "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                             "Upgrade: raw\r\n\r\n");
  reply = sm_test_http_receive (tunnel, "GET", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->status, ==, 101);
  g_clear_pointer (&reply, sm_test_http_reply_free);
  sm_test_http_send (tunnel, "ping");
  g_assert_cmpuint (sm_test_receive_exactly (tunnel->socket, echoed, 4, &error), ==, 4);
  g_assert_cmpstr (echoed, ==, "ping");

  sm_test_http_send (waiting, "GET /gone/1 HTTP/1.1\r\nHost: x\r\n\r\n");
  sm_test_signal_int (&context->waiting_sent, 1);

  /* The daemon stops: the waiting request gets its answer, the rest end */
  reply = sm_test_http_receive (waiting, "GET", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->status, ==, 503);
  g_assert_true (sm_test_http_closed_by_peer (idle));
  g_assert_true (sm_test_http_closed_by_peer (tunnel));
  return NULL;
}

static void
test_shutdown_with_open_connections (void)
{
  const char *args[] = { "--drain-timeout", "1", NULL };
  SmTestDaemon *daemon = sm_test_http_daemon_start (30, TRUE, args);
  ShutdownContext context = { sm_test_free_port (), 0 };
  SmTestProcess *service, *gone;
  SmTestThread *client;

  service = sm_test_http_service_start (daemon, context.port, "", "/", "service");
  gone = sm_test_http_service_start (daemon, context.port, "", "/gone/", "gone");
  sm_test_http_service_stop (gone);
  sm_test_daemon_wait_for_line (daemon, "left 127.0.0.1:", TIMEOUT_MS);

  client = sm_test_thread_new ("shutdown", shutdown_client, &context);
  sm_test_wait_for_int (&context.waiting_sent, 1, TIMEOUT_MS, "the waiting request");
  sm_test_daemon_wait_for_line (daemon, "waits for a service", TIMEOUT_MS);

  sm_test_daemon_stop (daemon);
  sm_test_thread_join (client, TIMEOUT_MS);
  sm_test_http_service_stop (service);
}

/* ---- Modes ---- */

static void
test_mode_conflict (void)
{
  Fixture fixture;
  SmTestProcess *http, *refused;
  g_autoptr(SmTestService) raw = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GByteArray) handshake = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *status = NULL;
  g_autofree char *port_text = NULL;
  guint16 tcp_port = sm_test_free_port ();

  fixture_setup (&fixture, NULL);

  /* An HTTP port refuses a raw TCP service */
  http = sm_test_http_service_start (fixture.daemon, fixture.port, "", "", "http");
  socket = sm_test_connect_address (fixture.daemon->control_address, &error);
  g_assert_no_error (error);
  handshake = sm_test_handshake_new ("127.0.0.1", fixture.port, 0);
  sm_test_send_all (socket, handshake->data, handshake->len);
  status = sm_test_read_status (socket, &error);
  g_assert_no_error (error);
  port_text = g_strdup_printf ("port %u serves HTTP; a service asking for raw TCP cannot join it",
                               fixture.port);
  g_assert_cmpstr (status, ==, port_text);
  g_clear_pointer (&port_text, g_free);

  /* A raw TCP port refuses an HTTP service */
  raw = sm_test_service_new (fixture.daemon->control_address, tcp_port, NULL);
  port_text = g_strdup_printf ("%u", tcp_port);
  {
    const char *argv[] = {
      SM_TEST_HTTP_SERVICE, "--control", fixture.daemon->control_address, "--port", port_text,
      "--name", "refused", NULL
    };

    refused = sm_test_process_spawn ("refused", argv);
  }
  sm_test_process_wait_for_line (refused, "refused: *port * serves raw TCP; a service asking for "
                                 "HTTP routing cannot join it", 30000);
  g_assert_cmpint (sm_test_process_wait_exit (refused, 30000), ==, 2);
  sm_test_process_free (refused);

  /* Both ports still work in their modes */
  assert_curl_get (&fixture, "/still", NULL, "http GET /still\n|200");
  sm_test_echo_many (tcp_port, 1, 1000, TIMEOUT_MS);

  sm_test_http_service_stop (http);
  fixture_teardown (&fixture);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/http/routing/path-prefix", test_path_prefix);
  g_test_add_func ("/http/routing/domain-suffix", test_domain_suffix);
  g_test_add_func ("/http/routing/absolute-form-target", test_absolute_form);
  g_test_add_func ("/http/keep-alive/curl-reuses-its-connection", test_keep_alive_curl);
  g_test_add_func ("/http/keep-alive/alternating-services", test_keep_alive_alternating);
  for (guint i = 0; i < G_N_ELEMENTS (framing_cases); i++)
    g_test_add_data_func (framing_cases[i].path, &framing_cases[i], test_framing);
  g_test_add_func ("/http/framing/chunked-upload-100mib-flat-memory",
                   test_chunked_upload_flat_memory);
  g_test_add_func ("/http/upgrade/raw-tunnel", test_upgrade);
  for (guint i = 0; i < G_N_ELEMENTS (hostile_cases); i++)
    g_test_add_data_func (hostile_cases[i].path, &hostile_cases[i], test_framing);
  g_test_add_func ("/http/hostile/interim-responses-bounded", test_interim_responses);
  g_test_add_func ("/http/forwarding-headers", test_forwarding_headers);
  for (guint i = 0; i < G_N_ELEMENTS (limits_cases); i++)
    g_test_add_data_func (limits_cases[i].path, &limits_cases[i], test_limits);
  g_test_add_func ("/http/mode-conflict", test_mode_conflict);
  g_test_add_func ("/http/shutdown-with-open-connections", test_shutdown_with_open_connections);

  return g_test_run ();
}
