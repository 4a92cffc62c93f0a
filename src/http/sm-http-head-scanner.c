/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "sm-error.h"
#include "sm-http-parser.h"
#include "sm-http-private.h"

/* Head detection: where a request or response head ends, checked byte by
 * byte as it arrives, before any parsing */

/* Head scanner states */
enum
{
  HEAD_LEADING, /* before the start line: empty lines are skipped */
  HEAD_LEADING_CR,
  HEAD_LINE, /* inside the start line or a field line */
  HEAD_LINE_CR,
  HEAD_LINE_START, /* just after the end of a line */
  HEAD_FINAL_CR,   /* CR of the empty line that ends the head */
  HEAD_DONE,
};

void
sm_http_head_scanner_init (SmHttpHeadScanner *scanner)
{
  memset (scanner, 0, sizeof *scanner);
}

/* Eight bytes at a time past those that are field bytes other than tab
 * (no byte below 0x20, none 0x7f; bytes from 0x80 are obs-text), stopping
 * at the word that has another: the byte loop then decides. The test for
 * "a byte below n" is exact about whether there is one. */
static gsize
skip_plain_field_bytes (const guint8 *buf, gsize i, gsize end)
{
  const guint64 ones = G_GUINT64_CONSTANT (0x0101010101010101);
  const guint64 highs = G_GUINT64_CONSTANT (0x8080808080808080);

  while (end - i >= sizeof (guint64))
    {
      guint64 word, del;

      memcpy (&word, buf + i, sizeof word);
      del = word ^ (ones * 0x7f);
      if ((((word - ones * 0x20) & ~word) | ((del - ones) & ~del)) & highs)
        break;
      i += sizeof word;
    }
  return i;
}

SmHttpResult
sm_http_find_head_end (SmHttpHeadScanner *scanner,
                       const guint8      *buf,
                       gsize              len,
                       gsize              limit,
                       gsize             *head_len,
                       GError           **error)
{
  SmHttpHeadScanner one_shot = {
    0,
  };
  const char *problem = NULL;
  guint       state;
  gsize       end, i;

  if (scanner == NULL)
    scanner = &one_shot;
  g_return_val_if_fail (buf != NULL || len == 0, SM_HTTP_ERROR);
  g_return_val_if_fail (len >= scanner->offset, SM_HTTP_ERROR);

  state = scanner->state;
  end = MIN (len, limit);
  for (i = scanner->offset; i < end && state != HEAD_DONE && problem == NULL; i++)
    {
      guchar c;

      /* Most bytes are inside a line: nothing changes for them (CR and LF
       * are not field bytes) */
      if (state == HEAD_LINE)
        {
          i = skip_plain_field_bytes (buf, i, end);
          while (i < end && sm_http_is_field_byte (buf[i]))
            i++;
          if (i == end)
            break;
        }
      c = buf[i];

      switch (state)
        {
        case HEAD_LEADING:
        case HEAD_LINE:
        case HEAD_LINE_START:
          if (c == '\r')
            state = state == HEAD_LEADING ? HEAD_LEADING_CR
                    : state == HEAD_LINE  ? HEAD_LINE_CR
                                          : HEAD_FINAL_CR;
          else if (c == '\n')
            state = state == HEAD_LEADING ? HEAD_LEADING
                    : state == HEAD_LINE  ? HEAD_LINE_START
                                          : HEAD_DONE;
          else if (!sm_http_is_field_byte (c))
            problem = "control character";
          else if (state == HEAD_LINE_START && (c == ' ' || c == '\t'))
            problem = "line starting with whitespace (obs-fold)";
          else
            state = HEAD_LINE;
          break;

        case HEAD_LEADING_CR:
        case HEAD_LINE_CR:
        case HEAD_FINAL_CR:
          if (c != '\n')
            problem = "CR without LF";
          else
            state = state == HEAD_LEADING_CR ? HEAD_LEADING
                    : state == HEAD_LINE_CR  ? HEAD_LINE_START
                                             : HEAD_DONE;
          break;

        default:
          g_assert_not_reached ();
        }
    }

  if (problem != NULL)
    {
      /* Stay on the offending byte: calling again gives the same answer */
      scanner->offset = i - 1;
      scanner->state = state;
      g_set_error (error, SM_ERROR, SM_ERROR_PROTOCOL,
                   "Invalid HTTP head: %s at byte %" G_GSIZE_FORMAT, problem, i - 1);
      return SM_HTTP_ERROR;
    }

  scanner->offset = i;
  scanner->state = state;
  if (state == HEAD_DONE)
    {
      *head_len = i;
      return SM_HTTP_COMPLETE;
    }
  if (len >= limit)
    {
      g_set_error (error, SM_ERROR, SM_ERROR_TOO_LARGE,
                   "HTTP head longer than %" G_GSIZE_FORMAT " bytes", limit);
      return SM_HTTP_ERROR;
    }
  return SM_HTTP_NEED_MORE;
}
