/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include <nghttp2/nghttp2.h>

#include "sm-h2-codec.h"
#include "sm-http-parser.h"

/*
 * What an HTTP/2 client sends, and what comes back from a service:
 *  - an input whose first byte is even is the client's side after the
 *    preface: fed to an nghttp2 server session set up as SmH2Connection
 *    sets up its own, whose callbacks do what SmH2Stream does with fields
 *    (sm-h2-codec: the HTTP/1.1 head, parsed again by the daemon's
 *    parser) and answer each request with fields made by the codec;
 *  - an odd one is a service's HTTP/1.1 response: its head becomes
 *    HTTP/2 fields and a chunked body goes through the dechunker in
 *    pieces of every size, trailers included.
 */

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

#define LIMIT (16 * 1024)

static void
head_free (gpointer data)
{
  sm_h2_request_head_clear (data);
  g_free (data);
}

/* @user_data: the heads of the streams still open (nghttp2_session_del()
 * closes streams without callbacks) */
static int
on_begin_headers (nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
  SmH2RequestHead *head;

  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  head = g_new0 (SmH2RequestHead, 1);
  sm_h2_request_head_init (head, LIMIT);
  g_ptr_array_add (user_data, head);
  nghttp2_session_set_stream_user_data (session, frame->hd.stream_id, head);
  return 0;
}

static int
on_header (nghttp2_session     *session,
           const nghttp2_frame *frame,
           const guint8        *name,
           gsize                name_len,
           const guint8        *value,
           gsize                value_len,
           guint8               flags,
           void                *user_data)
{
  SmH2RequestHead *head = nghttp2_session_get_stream_user_data (session, frame->hd.stream_id);

  if (head == NULL || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  if (!sm_h2_request_head_add (head, name, name_len, value, value_len, NULL))
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return 0;
}

static int
on_frame_recv (nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
  SmH2RequestHead *head;
  SmHttpRequest   *request = NULL;
  SmHttpResponse  *response = NULL;
  g_auto (SmH2Fields) fields = { NULL, NULL };
  g_autoptr (GString) text = NULL;
  static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: x, close\r\n"
                               "X: 1\r\nKeep-Alive: 5\r\n\r\n";
  guint             status;
  gboolean          chunked;

  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  head = nghttp2_session_get_stream_user_data (session, frame->hd.stream_id);
  if (head == NULL)
    return 0;

  text = g_string_new (NULL);
  sm_h2_request_head_write (head, (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0, text, &chunked);
  if (sm_http_request_parse ((const guint8 *) text->str, text->len, &request, &status, NULL))
    sm_http_request_free (request);

  g_assert_true (
      sm_http_response_parse ((const guint8 *) answer, sizeof answer - 1, "GET", &response, NULL));
  sm_h2_fields_init (&fields);
  sm_h2_fields_set_response (&fields, response);
  nghttp2_submit_response (session, frame->hd.stream_id,
                           (const nghttp2_nv *) (gconstpointer) fields.nv->data, fields.nv->len,
                           NULL);
  sm_http_response_free (response);
  return 0;
}

static int
on_data_chunk_recv (nghttp2_session *session,
                    guint8           flags,
                    gint32           stream_id,
                    const guint8    *data,
                    gsize            len,
                    void            *user_data)
{
  nghttp2_session_consume (session, stream_id, len);
  return 0;
}

static int
on_stream_close (nghttp2_session *session, gint32 stream_id, guint32 error_code, void *user_data)
{
  SmH2RequestHead *head = nghttp2_session_get_stream_user_data (session, stream_id);

  if (head != NULL)
    {
      g_ptr_array_remove_fast (user_data, head);
      nghttp2_session_set_stream_user_data (session, stream_id, NULL);
    }
  return 0;
}

static void
fuzz_frames (const guint8 *data, size_t size)
{
  static const char          preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  nghttp2_session_callbacks *callbacks = NULL;
  nghttp2_option            *option = NULL;
  nghttp2_session           *session = NULL;
  g_autoptr (GPtrArray) heads = g_ptr_array_new_with_free_func (head_free);
  nghttp2_settings_entry settings[] = {
    { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 },
    { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, LIMIT },
  };

  nghttp2_session_callbacks_new (&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback (callbacks, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback (callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback (callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback (callbacks, on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback (callbacks, on_stream_close);
  nghttp2_option_new (&option);
  nghttp2_option_set_no_auto_window_update (option, 1);
  nghttp2_option_set_max_outbound_ack (option, 1000);
  nghttp2_option_set_max_settings (option, 32);
  g_assert_cmpint (nghttp2_session_server_new2 (&session, callbacks, heads, option), ==, 0);
  nghttp2_option_del (option);
  nghttp2_session_callbacks_del (callbacks);
  nghttp2_submit_settings (session, NGHTTP2_FLAG_NONE, settings, G_N_ELEMENTS (settings));

  if (nghttp2_session_mem_recv (session, (const guint8 *) preface, sizeof preface - 1) >= 0)
    {
      /* In two reads, as a socket may cut it */
      gsize half = size / 2;

      if (nghttp2_session_mem_recv (session, data, half) >= 0)
        nghttp2_session_mem_recv (session, data + half, size - half);
    }
  for (;;)
    {
      const guint8 *out;

      if (nghttp2_session_mem_send (session, &out) <= 0)
        break;
    }
  nghttp2_session_del (session);
}

static void
fuzz_response (const guint8 *data, size_t size)
{
  SmHttpResponse *response = NULL;
  SmH2Dechunker   dechunker;
  g_auto (SmH2Fields) fields = { NULL, NULL };
  g_auto (SmH2Fields) trailers = { NULL, NULL };
  gsize  head_len = 0;
  guint8 out[97];
  gsize  offset;
  gsize  piece = 1;

  if (sm_http_find_head_end (NULL, data, size, 64 * 1024, &head_len, NULL) != SM_HTTP_COMPLETE ||
      !sm_http_response_parse (data, head_len, "GET", &response, NULL))
    return;
  sm_h2_fields_init (&fields);
  sm_h2_fields_set_response (&fields, response);

  sm_h2_dechunker_init (&dechunker);
  for (offset = head_len; offset < size;)
    {
      gsize        consumed = 0;
      gsize        produced = 0;
      gsize        len = MIN (piece, size - offset);
      SmHttpResult result =
          sm_h2_dechunker_feed (&dechunker, data + offset, len, out, (piece % sizeof out) + 1,
                                &consumed, &produced, NULL);

      g_assert_cmpuint (consumed, <=, len);
      g_assert_cmpuint (produced, <=, (piece % sizeof out) + 1);
      offset += consumed;
      piece = piece * 3 + 1;
      if (result != SM_HTTP_NEED_MORE)
        break;
      /* No room was the only reason to stop short */
      if (consumed == 0 && produced == 0)
        break;
    }
  sm_h2_fields_init (&trailers);
  sm_h2_dechunker_get_trailers (&dechunker, &trailers);
  sm_h2_dechunker_clear (&dechunker);
  sm_http_response_free (response);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  if (size == 0)
    return 0;
  if (data[0] % 2 == 0)
    fuzz_frames (data + 1, size - 1);
  else
    fuzz_response (data + 1, size - 1);
  return 0;
}
