/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "sm-ctl-table.h"

#define COLUMN_GAP "  "

struct _SmCtlTable
{
  guint      n_columns;
  GPtrArray *rows; /* GStrv each; the first is the header */
};

/* Takes @text; C0 and C1 control characters become '?' */
static char *
make_printable (char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  GString         *printable = g_string_sized_new (strlen (valid));

  g_free (text);
  for (const char *c = valid; *c != '\0'; c = g_utf8_next_char (c))
    {
      gunichar u = g_utf8_get_char (c);

      if (g_unichar_iscntrl (u))
        g_string_append_c (printable, '?');
      else
        g_string_append_unichar (printable, u);
    }
  return g_string_free (printable, FALSE);
}

static char **
collect_cells (char *first, va_list args, gboolean copy)
{
  g_autoptr (GPtrArray) cells = g_ptr_array_new ();

  for (char *cell = first; cell != NULL; cell = va_arg (args, char *))
    g_ptr_array_add (cells, make_printable (copy ? g_strdup (cell) : cell));
  g_ptr_array_add (cells, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&cells), FALSE);
}

SmCtlTable *
sm_ctl_table_new (const char *first_header, ...)
{
  SmCtlTable *table;
  va_list     args;
  char      **header;

  g_return_val_if_fail (first_header != NULL, NULL);

  va_start (args, first_header);
  header = collect_cells ((char *) first_header, args, TRUE);
  va_end (args);

  table = g_new0 (SmCtlTable, 1);
  table->n_columns = g_strv_length (header);
  table->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  g_ptr_array_add (table->rows, header);
  return table;
}

void
sm_ctl_table_add_row (SmCtlTable *table, char *first_cell, ...)
{
  va_list args;
  char  **row;

  g_return_if_fail (table != NULL);

  va_start (args, first_cell);
  row = collect_cells (first_cell, args, FALSE);
  va_end (args);

  g_return_if_fail (g_strv_length (row) == table->n_columns);
  g_ptr_array_add (table->rows, row);
}

void
sm_ctl_table_print (SmCtlTable *table)
{
  g_autofree glong *widths = NULL;

  g_return_if_fail (table != NULL);

  widths = g_new0 (glong, table->n_columns);
  for (guint r = 0; r < table->rows->len; r++)
    {
      char **row = g_ptr_array_index (table->rows, r);

      for (guint c = 0; c < table->n_columns; c++)
        widths[c] = MAX (widths[c], g_utf8_strlen (row[c], -1));
    }

  for (guint r = 0; r < table->rows->len; r++)
    {
      char **row = g_ptr_array_index (table->rows, r);
      g_autoptr (GString) line = g_string_new (NULL);

      for (guint c = 0; c < table->n_columns; c++)
        {
          g_string_append (line, row[c]);
          /* No trailing blanks after the last column */
          if (c + 1 < table->n_columns)
            {
              for (glong pad = g_utf8_strlen (row[c], -1); pad < widths[c]; pad++)
                g_string_append_c (line, ' ');
              g_string_append (line, COLUMN_GAP);
            }
        }
      g_print ("%s\n", line->str);
    }
}

void
sm_ctl_table_free (SmCtlTable *table)
{
  if (table == NULL)
    return;

  g_ptr_array_unref (table->rows);
  g_free (table);
}
