/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A small HTTP/1.1 server for the HTTP proxy tests, serving the streams a
 * service receives (in the test process or in sm-test-http-service). It
 * answers by path, so a test asks for the behaviour it wants:
 *
 *   /echo...         streams the request body back as it arrives, same
 *                    framing (chunk framing copied as is); sends
 *                    "100 Continue" first if asked to
 *   /upgrade...      with an Upgrade request: 101, then echoes raw bytes
 *   /close...        answers with "Connection: close", then closes
 *   /until-close...  answers with a body delimited by closing the stream
 *   /slow?ms=N       answers after N milliseconds
 *   /status/NNN      answers status NNN (no body for 1xx, 204, 304)
 *   /big?bytes=N     answers N bytes of a known pattern
 *   anything else    200, body "NAME METHOD TARGET\n"
 *
 * Every response carries "X-Service: NAME" and, as X-Seen-* fields, the
 * forwarding and hop-by-hop fields the request arrived with ("-" when
 * absent), so tests can check what the proxy passed on. A response head
 * and a short body go out in one write. Request bodies of other paths are
 * read and dropped before the answer.
 */

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _SmTestHttpResponder SmTestHttpResponder;

SmTestHttpResponder *sm_test_http_responder_new          (const char          *name);
/* Serves @stream until the peer closes it (takes a reference) */
void                 sm_test_http_responder_serve        (SmTestHttpResponder *self,
                                                          GIOStream           *stream);
guint                sm_test_http_responder_get_n_requests (SmTestHttpResponder *self);
/* Streams being served */
guint                sm_test_http_responder_get_n_streams  (SmTestHttpResponder *self);
/* Resets every stream being served and frees; streams still closing
 * finish on their own */
void                 sm_test_http_responder_free         (SmTestHttpResponder *self);

/* The bytes of /big: simple, so that a client can check any range */
static inline guint8
sm_test_http_big_byte (guint64 offset)
{
  return (guint8) "0123456789abcdef"[offset % 16];
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmTestHttpResponder, sm_test_http_responder_free)

G_END_DECLS
