/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <libsoup/soup.h>
#include <nghttp2/nghttp2.h>

#include "sm-http-parser.h"

G_BEGIN_DECLS

/*
 * Translation between an HTTP/2 stream and the HTTP/1.1 message its
 * service sees: pure functions over buffers, no I/O (tested and fuzzed on
 * their own). nghttp2 has already checked the fields (names lowercase, no
 * connection-specific fields, valid characters, pseudo-fields, and the
 * DATA against Content-Length); the HTTP/1.1 head made here is parsed
 * again by the same parser as a client's, so it meets the same checks.
 */

/* The fields of a request as they arrive, and the HTTP/1.1 head they make */
typedef struct
{
  char    *method;
  char    *scheme;
  char    *authority;
  char    *path;
  GString *fields; /* "name: value\r\n" each */
  GString *cookie; /* crumbs joined (RFC 9113 §8.2.3) */
  gsize    size;   /* as counted for SETTINGS_MAX_HEADER_LIST_SIZE */
  gsize    limit;
  gboolean has_content_length;
} SmH2RequestHead;

void     sm_h2_request_head_init (SmH2RequestHead *head, gsize limit);
void     sm_h2_request_head_clear (SmH2RequestHead *head);
/* FALSE (SM_ERROR_TOO_LARGE) once the fields exceed the limit */
gboolean sm_h2_request_head_add (SmH2RequestHead *head,
                                 const guint8    *name,
                                 gsize            name_len,
                                 const guint8    *value,
                                 gsize            value_len,
                                 GError         **error);
/* Appends the HTTP/1.1 head; a body without Content-Length goes chunked
 * (*@chunked), @end_stream: the request has no body */
void     sm_h2_request_head_write (const SmH2RequestHead *head,
                                   gboolean               end_stream,
                                   GString               *out,
                                   gboolean              *chunked);

/* Header fields for nghttp2: names lowercased, owned here */
typedef struct
{
  GPtrArray *strings;
  GArray    *nv; /* nghttp2_nv */
} SmH2Fields;

void sm_h2_fields_init (SmH2Fields *fields);
void sm_h2_fields_clear (SmH2Fields *fields);
void sm_h2_fields_add (SmH2Fields *fields, const char *name, const char *value);
/* :status and the response's fields minus the hop-by-hop ones (RFC 9113
 * §8.2.2): Connection, what it names, Keep-Alive, Proxy-Connection,
 * Transfer-Encoding, Upgrade, TE */
void sm_h2_fields_set_response (SmH2Fields *fields, const SmHttpResponse *response);

/* Chunked coding undone, for a response body going out as DATA frames.
 * The exchange has already checked the framing (sm_http_body_relay_count)
 * before the bytes come here; this checks its own bounds anyway. */
typedef struct
{
  guint    state;
  guint64  remaining;
  GString *line;     /* a chunk size line being read */
  GString *trailers; /* the trailer section, as received */
} SmH2Dechunker;

void         sm_h2_dechunker_init (SmH2Dechunker *dechunker);
void         sm_h2_dechunker_clear (SmH2Dechunker *dechunker);
/* Takes bytes of @in (*@consumed) and puts the data they carry in @out
 * (*@produced, at most @out_len). COMPLETE once the last chunk and the
 * trailers are in. */
SmHttpResult sm_h2_dechunker_feed (SmH2Dechunker *dechunker,
                                   const guint8  *in,
                                   gsize          in_len,
                                   guint8        *out,
                                   gsize          out_len,
                                   gsize         *consumed,
                                   gsize         *produced,
                                   GError       **error);
/* The trailer fields received, for a HEADERS frame (none: empty) */
void         sm_h2_dechunker_get_trailers (SmH2Dechunker *dechunker, SmH2Fields *fields);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SmH2Fields, sm_h2_fields_clear)

G_END_DECLS
