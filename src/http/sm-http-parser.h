/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * HTTP/1.1 framing codec for the reverse proxy (RFC 9110, RFC 9112): pure
 * functions over buffers, no I/O. It finds where heads and bodies end,
 * parses heads (the fields are stored by libsoup), decides the framing and
 * rewrites heads for forwarding. Bodies are never copied: the proxy forwards
 * body bytes unchanged, chunk framing included, and only asks where the
 * current message ends.
 *
 * Strictness, because a proxy and the server behind it must never disagree
 * on where a message ends (request smuggling):
 * - lines end with CRLF; a bare LF is accepted in heads (RFC 9112 §2.2: the
 *   head is re-serialised with CRLF before it is forwarded), never in chunk
 *   framing (forwarded as received);
 * - a bare CR, a NUL or any other control character except HTAB in a head,
 *   obs-fold (a line starting with whitespace) and whitespace between a
 *   field name and its colon are errors;
 * - a request with both Content-Length and Transfer-Encoding, with more than
 *   one Content-Length or with Transfer-Encoding in HTTP/1.0 is rejected
 *   (400);
 * - a request with any Transfer-Encoding but chunked alone (gzip, chunked;
 *   identity; chunked twice...) is answered 501, as nginx does.
 *
 * CONNECT requests are not supported: the request parser answers 501.
 */

#include <glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* Upper bounds of our own (chunk framing is checked as it streams by) */
#define SM_HTTP_MAX_CHUNK_LINE  (4 * 1024)  /* size + extensions + CRLF */
#define SM_HTTP_MAX_TRAILERS    (64 * 1024) /* trailer section */
#define SM_HTTP_MAX_SIZE_DIGITS 16          /* hex digits of a chunk size */

typedef enum
{
  SM_HTTP_NEED_MORE, /* everything so far is valid; feed more bytes */
  SM_HTTP_COMPLETE,  /* the head or body ended; see the out arguments */
  SM_HTTP_ERROR,     /* the input can never become valid; error set */
} SmHttpResult;

typedef enum
{
  SM_HTTP_BODY_NONE,        /* no body bytes follow the head */
  SM_HTTP_BODY_LENGTH,      /* exactly content_length bytes (never 0) */
  SM_HTTP_BODY_CHUNKED,     /* chunked coding, ends with the last chunk */
  SM_HTTP_BODY_UNTIL_CLOSE, /* responses only: ends when the server closes */
} SmHttpBodyKind;

/* Head detection ---------------------------------------------------------- */

/* Remembers how far a growing buffer was already checked, so a head that
 * arrives one byte at a time costs linear time. Zero-filled (or
 * sm_http_head_scanner_init()) means "at the start of a message"; start it
 * again for the next message. */
typedef struct
{
  /*< private >*/
  gsize offset;
  guint state;
} SmHttpHeadScanner;

void         sm_http_head_scanner_init (SmHttpHeadScanner *scanner);

/* Looks for the empty line that ends a request or response head in @buf,
 * which holds the bytes received so far (a prefix that only grows between
 * calls with the same @scanner; @scanner may be NULL to scan from the start
 * every time). Empty lines before the start line are skipped and counted in
 * the head. On COMPLETE, *head_len is the length of the head including its
 * final empty line; bytes after it belong to the body or the next message.
 * Errors: SM_ERROR_TOO_LARGE when no head ends within @limit bytes (a proxy
 * answers 431), SM_ERROR_PROTOCOL for NUL, bare CR, control characters and
 * lines starting with whitespace (400). */
SmHttpResult sm_http_find_head_end (SmHttpHeadScanner *scanner,
                                    const guint8      *buf,
                                    gsize              len,
                                    gsize              limit,
                                    gsize             *head_len,
                                    GError           **error);

/* Requests ---------------------------------------------------------------- */

typedef struct
{
  char               *method;
  char               *target;         /* request-target as received */
  char               *forward_target; /* origin-form to send on: absolute-form
                                         is reduced to path and query */
  char               *path;           /* forward_target without the query, not
                                         percent-decoded: used for routing */
  char               *host;           /* lowercased, without port, IPv6
                                         brackets or final dot; "" if none */
  SoupHTTPVersion     version;
  SoupMessageHeaders *headers;         /* as received, except that Host holds
                                          the authority of an absolute-form
                                          target and that in HTTP/1.0 the
                                          fields named by Connection are gone
                                          (libsoup removes them) */
  SmHttpBodyKind      body;            /* NONE, LENGTH or CHUNKED */
  guint64             content_length;  /* when body is LENGTH */
  gboolean            keep_alive;      /* HTTP/1.1 unless "Connection: close";
                                          HTTP/1.0 only with keep-alive */
  gboolean            expect_continue; /* HTTP/1.1 "Expect: 100-continue" */
  gboolean            upgrade;         /* HTTP/1.1 Connection: upgrade with an
                                          Upgrade field */
} SmHttpRequest;

/* Parses one complete head found by sm_http_find_head_end() (@head_len
 * bytes, final empty line included). On failure sets @error
 * (SM_ERROR_PROTOCOL or SM_ERROR_INVALID_ARGUMENT) and *out_status to the
 * status a proxy answers with: 400, 417 (unknown expectation), 501
 * (CONNECT, or a transfer coding other than chunked alone) or 505 (HTTP
 * version other than 1.0 and 1.1). */
gboolean sm_http_request_parse (const guint8   *head,
                                gsize           head_len,
                                SmHttpRequest **out_request,
                                guint          *out_status,
                                GError        **error);
void     sm_http_request_free (SmHttpRequest *request);

/* Appends "METHOD forward_target HTTP/1.x", the fields and the empty line.
 * The version is the client's: downgrading HTTP/1.0 requests keeps servers
 * from answering with chunked coding that an HTTP/1.0 client cannot read
 * (chunk framing is forwarded unchanged, never re-coded). */
void     sm_http_request_write_head (const SmHttpRequest *request, GString *out);

/* Responses --------------------------------------------------------------- */

typedef struct
{
  guint               status;
  char               *reason;
  SoupHTTPVersion     version;
  SoupMessageHeaders *headers; /* Content-Length removed if chunked */
  SmHttpBodyKind      body;
  guint64             content_length;      /* when body is LENGTH */
  gboolean            keep_alive;          /* FALSE when body is UNTIL_CLOSE */
  gboolean            informational;       /* 1xx other than 101: the final
                                              response head follows */
  gboolean            switching_protocols; /* 101 */
  gboolean            tunnel;              /* 101, or 2xx to CONNECT: after the
                                              head, bytes flow raw both ways */
} SmHttpResponse;

/* Parses a complete response head; the framing depends on the method of the
 * request it answers (@request_method, NULL for GET). HEAD requests, 1xx,
 * 204 and 304 have no body; chunked wins over Content-Length, which is then
 * removed; no framing means until close. Errors are SM_ERROR_PROTOCOL (a
 * proxy answers 502). */
gboolean sm_http_response_parse (const guint8    *head,
                                 gsize            head_len,
                                 const char      *request_method,
                                 SmHttpResponse **out_response,
                                 GError         **error);
void     sm_http_response_free (SmHttpResponse *response);

/* Appends "HTTP/1.1 status reason", the fields and the empty line. */
void     sm_http_response_write_head (const SmHttpResponse *response, GString *out);

/* Bodies ------------------------------------------------------------------ */

/* Finds the end of a chunked body without copying it. */
typedef struct
{
  /*< private >*/
  guint   state;
  guint   size_digits;
  guint64 remaining; /* chunk size being read, then its data left */
  gsize   line_len;
  gsize   trailers_len;
} SmHttpChunkedDecoder;

void         sm_http_chunked_decoder_init (SmHttpChunkedDecoder *decoder);

/* Consumes bytes of a chunked body. NEED_MORE: all @len bytes belong to the
 * body. COMPLETE: the first *consumed bytes end it (last chunk, trailers and
 * final CRLF); the rest belongs to the next message. Errors:
 * SM_ERROR_PROTOCOL for malformed framing, SM_ERROR_TOO_LARGE for a size or
 * chunk line or trailer section over our limits. */
SmHttpResult sm_http_chunked_feed (SmHttpChunkedDecoder *decoder,
                                   const guint8         *buf,
                                   gsize                 len,
                                   gsize                *consumed,
                                   GError              **error);

/* Tells, for any framing, how many bytes belong to the current body. */
typedef struct
{
  /*< private >*/
  SmHttpBodyKind       kind;
  guint64              remaining;
  gboolean             complete;
  SmHttpChunkedDecoder chunked;
} SmHttpBodyTracker;

void
sm_http_body_tracker_init (SmHttpBodyTracker *tracker, SmHttpBodyKind kind, guint64 content_length);
/* Same contract as sm_http_chunked_feed(); a NONE body is COMPLETE at once
 * with 0 bytes consumed, UNTIL_CLOSE always wants more. */
SmHttpResult sm_http_body_tracker_feed (SmHttpBodyTracker *tracker,
                                        const guint8      *buf,
                                        gsize              len,
                                        gsize             *consumed,
                                        GError           **error);
/* The peer closed: TRUE if that ends the body properly (UNTIL_CLOSE or a
 * body already complete), else SM_ERROR_CLOSED. */
gboolean     sm_http_body_tracker_finish (SmHttpBodyTracker *tracker, GError **error);

/* Rewriting heads for forwarding ------------------------------------------- */

/* Removes the fields that concern only one connection: Connection, every
 * field it names, Keep-Alive, Proxy-Connection, TE, Proxy-Authenticate,
 * Proxy-Authorization and Upgrade. With @upgrade, Upgrade stays and
 * Connection becomes "upgrade". Transfer-Encoding and Trailer stay: chunk
 * framing and trailers are forwarded unchanged, so they stay accurate.
 * Content-Length, Transfer-Encoding and Host are never removed because
 * Connection names them (the parsers reject such heads anyway). */
void         sm_http_strip_hop_by_hop (SoupMessageHeaders *headers, gboolean upgrade);

/* Removes h2c from the Upgrade list and every HTTP2-Settings field (h2c
 * smuggling: a service that upgrades to HTTP/2 over our tunnel would take
 * requests we never see). When no protocol is left, Upgrade and the upgrade
 * option of Connection go and @request->upgrade becomes FALSE. Call it
 * before sm_http_strip_hop_by_hop(). */
void         sm_http_request_strip_h2c (SmHttpRequest *request);

/* Appends @client_ip to X-Forwarded-For and an RFC 7239 element
 * (for=...;proto=...;host=...) to Forwarded; sets X-Forwarded-Proto, and
 * X-Forwarded-Host to @host (the Host field as received; removed when
 * NULL): forwarding fields from clients must not be trusted for those. */
void         sm_http_add_forwarding_headers (SoupMessageHeaders *headers,
                                             const char         *client_ip,
                                             gboolean            https,
                                             const char         *host);

/* Appends a complete short text/plain response: status line with the
 * standard reason phrase, Content-Type, Content-Length, "Connection: close"
 * if @close_connection, the fields of @extra_headers (e.g. Retry-After, may be NULL)
 * and a body made of @body_text (the status line's text if NULL) and a
 * newline. Returns the length of the head part: an answer to a HEAD request
 * keeps only that many of the appended bytes. */
gsize        sm_http_write_error_response (guint               status,
                                           const char         *body_text,
                                           gboolean            close_connection,
                                           SoupMessageHeaders *extra_headers,
                                           GString            *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmHttpRequest, sm_http_request_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmHttpResponse, sm_http_response_free)

G_END_DECLS
