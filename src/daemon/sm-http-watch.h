/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-pollable-source.h"

G_BEGIN_DECLS

/*
 * The HTTP path watches its streams only while it waits for them: *@watch
 * is made and attached when @wanted, for @stream (a GPollableInputStream
 * if @condition is G_IO_IN, else a GPollableOutputStream) to call
 * @callback (a GPollableSourceFunc) with @user_data; it is destroyed when
 * not. A watch is kept while wanted: sources cost more to make than to
 * keep.
 */
static inline void
sm_http_watch_update (GSource    **watch,
                      gboolean     wanted,
                      gpointer     stream,
                      GIOCondition condition,
                      GCallback    callback,
                      gpointer     user_data,
                      const char  *name)
{
  if (!wanted)
    {
      sm_source_clear (watch);
      return;
    }
  if (*watch != NULL)
    return;

  *watch = condition == G_IO_IN ? sm_stream_create_read_source (stream, NULL)
                                : sm_stream_create_write_source (stream, NULL);
  g_source_set_callback (*watch, G_SOURCE_FUNC (callback), user_data, NULL);
  g_source_set_static_name (*watch, name);
  g_source_attach (*watch, NULL);
}

G_END_DECLS
