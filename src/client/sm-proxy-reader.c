/* SPDX-License-Identifier: MIT */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "sm-error.h"
#include "sm-listener.h"
#include "sm-proxy-reader.h"

/* GObject data of a stream that came with a PROXY header */
#define CLIENT_ADDRESS_KEY "sm-listener-client-address"
#define PUBLIC_ADDRESS_KEY "sm-listener-public-address"

typedef struct
{
  SmYamuxStream *stream;
  GByteArray    *buffer; /* the header so far, taken from the stream */
  SmProxyHeader  header;
} SmProxyReader;

static void
sm_proxy_reader_free (gpointer data)
{
  SmProxyReader *reader = data;

  g_clear_object (&reader->stream);
  g_byte_array_unref (reader->buffer);
  g_free (reader);
}

static void
sm_proxy_reader_fail (GTask *task, GError *error)
{
  SmProxyReader *reader = g_task_get_task_data (task);

  g_debug ("No PROXY header on stream %u: %s", sm_yamux_stream_get_id (reader->stream),
           error->message);
  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    sm_yamux_stream_reset (reader->stream);
  g_task_return_error (task, error);
}

/* Nothing buffered: FALSE when there may be more later, else fails @task */
static gboolean
sm_proxy_reader_ended (GTask *task)
{
  SmProxyReader        *reader = g_task_get_task_data (task);
  GPollableInputStream *input =
      G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (G_IO_STREAM (reader->stream)));
  GError *error = NULL;
  guint8  byte;
  gssize  n_read;

  /* nothing was buffered, so this reads nothing: it tells why */
  n_read = g_pollable_input_stream_read_nonblocking (input, &byte, 1, NULL, &error);
  if (n_read < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    {
      g_error_free (error);
      return FALSE;
    }
  if (n_read == 0)
    error =
        g_error_new_literal (SM_ERROR, SM_ERROR_CLOSED, _ ("The stream ended before its header"));
  else if (n_read > 0) /* cannot happen: the byte is lost, so is the stream */
    error = g_error_new_literal (SM_ERROR, SM_ERROR_PROTOCOL, _ ("Unexpected data"));
  sm_proxy_reader_fail (task, error);
  return TRUE;
}

static gboolean on_readable (GObject *input, gpointer user_data);

static void
sm_proxy_reader_wait (GTask *task)
{
  SmProxyReader *reader = g_task_get_task_data (task);
  GInputStream  *input = g_io_stream_get_input_stream (G_IO_STREAM (reader->stream));
  GSource       *source;

  source = g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (input),
                                                  g_task_get_cancellable (task));
  g_source_set_callback (source, G_SOURCE_FUNC (on_readable), g_object_ref (task), g_object_unref);
  g_source_set_static_name (source, "[socketmaster] PROXY header");
  g_source_attach (source, g_task_get_context (task));
  g_source_unref (source);
}

/* Takes what arrived, up to the longest header: while the codec needs
 * more, every byte so far is the header's, so taking them all is safe */
static void
sm_proxy_reader_step (GTask *task)
{
  SmProxyReader    *reader = g_task_get_task_data (task);
  GOutputVector     vectors[8];
  GError           *error = NULL;
  gsize             before = reader->buffer->len;
  gsize             consumed = 0;
  guint             n_vectors;
  SmHandshakeResult parsed;

  n_vectors = sm_yamux_stream_peek (reader->stream, vectors, G_N_ELEMENTS (vectors));
  if (n_vectors == 0)
    {
      if (!sm_proxy_reader_ended (task))
        sm_proxy_reader_wait (task);
      return;
    }
  for (guint i = 0; i < n_vectors && reader->buffer->len < SM_PROXY_HEADER_MAX_SIZE; i++)
    g_byte_array_append (reader->buffer, vectors[i].buffer,
                         MIN (vectors[i].size, SM_PROXY_HEADER_MAX_SIZE - reader->buffer->len));

  parsed = sm_proxy_header_parse (reader->buffer->data, reader->buffer->len, &consumed,
                                  &reader->header, &error);
  if (parsed == SM_HANDSHAKE_NEED_MORE && reader->buffer->len >= SM_PROXY_HEADER_MAX_SIZE)
    {
      parsed = SM_HANDSHAKE_ERROR;
      error = g_error_new (SM_ERROR, SM_ERROR_TOO_LARGE, _ ("PROXY header over %u bytes"),
                           SM_PROXY_HEADER_MAX_SIZE);
    }
  switch (parsed)
    {
    case SM_HANDSHAKE_NEED_MORE:
      sm_yamux_stream_consume (reader->stream, reader->buffer->len - before);
      sm_proxy_reader_wait (task);
      return;

    case SM_HANDSHAKE_ERROR:
      sm_proxy_reader_fail (task, error);
      return;

    case SM_HANDSHAKE_COMPLETE:
      g_assert (consumed > before && consumed <= reader->buffer->len);
      sm_yamux_stream_consume (reader->stream, consumed - before);
      g_task_return_boolean (task, TRUE);
      return;

    default:
      g_assert_not_reached ();
    }
}

static gboolean
on_readable (GObject *input, gpointer user_data)
{
  GTask  *task = user_data;
  GError *error = NULL;

  if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task), &error))
    sm_proxy_reader_fail (task, error);
  else
    sm_proxy_reader_step (task);

  return G_SOURCE_REMOVE;
}

void
sm_proxy_reader_read_async (SmYamuxStream      *stream,
                            GCancellable       *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;
  SmProxyReader *reader;

  g_return_if_fail (SM_IS_YAMUX_STREAM (stream));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, sm_proxy_reader_read_async);
  reader = g_new0 (SmProxyReader, 1);
  reader->stream = g_object_ref (stream);
  reader->buffer = g_byte_array_sized_new (256);
  g_task_set_task_data (task, reader, sm_proxy_reader_free);

  sm_proxy_reader_step (task);
}

SmYamuxStream *
sm_proxy_reader_read_finish (GAsyncResult *result, GError **error)
{
  SmProxyReader *reader;
  SmProxyHeader *header;

  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == sm_proxy_reader_read_async,
                        NULL);

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return NULL;

  reader = g_task_get_task_data (G_TASK (result));
  header = &reader->header;
  if (!header->local)
    {
      g_object_set_data_full (G_OBJECT (reader->stream), CLIENT_ADDRESS_KEY,
                              sm_proxy_header_get_source (header), g_object_unref);
      g_object_set_data_full (G_OBJECT (reader->stream), PUBLIC_ADDRESS_KEY,
                              sm_proxy_header_get_destination (header), g_object_unref);
    }
  return g_object_ref (reader->stream);
}

/**
 * sm_listener_stream_get_client_address:
 * @stream: a stream from an #SmListener
 *
 * Returns: (transfer none) (nullable): the public client's address and
 *   port, from the PROXY header of a listener that asked for one; %NULL
 *   without one, or when the daemon did not know it (a LOCAL header)
 */
GSocketAddress *
sm_listener_stream_get_client_address (GIOStream *stream)
{
  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);

  return g_object_get_data (G_OBJECT (stream), CLIENT_ADDRESS_KEY);
}

/**
 * sm_listener_stream_get_public_address:
 * @stream: a stream from an #SmListener
 *
 * Returns: (transfer none) (nullable): the public address and port the
 *   client connected to, as for sm_listener_stream_get_client_address()
 */
GSocketAddress *
sm_listener_stream_get_public_address (GIOStream *stream)
{
  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);

  return g_object_get_data (G_OBJECT (stream), PUBLIC_ADDRESS_KEY);
}
