/* SPDX-License-Identifier: MIT */
#pragma once

/* Character classes of RFC 9110 shared by the HTTP codec's files */

#include <string.h>
#include <glib.h>

G_BEGIN_DECLS

static inline gboolean
sm_http_is_tchar (guchar c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-.^_`|~", c) != NULL);
}

static inline gboolean
sm_http_is_token (const char *text)
{
  if (*text == '\0')
    return FALSE;
  for (; *text != '\0'; text++)
    {
      if (!sm_http_is_tchar (*text))
        return FALSE;
    }
  return TRUE;
}

/* Field value bytes: HTAB, SP, VCHAR and obs-text; never CR, LF or NUL */
static inline gboolean
sm_http_is_field_byte (guchar c)
{
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

G_END_DECLS
