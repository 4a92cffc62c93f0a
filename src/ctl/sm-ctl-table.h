/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * SmCtlTable:
 *
 * A text table for a terminal: a header row, then rows whose columns are
 * padded to the widest cell. Cells come from the daemon, and some (an HTTP
 * request's host or path) from anyone on the network: control characters
 * are shown as '?' so they cannot drive the terminal.
 */
typedef struct _SmCtlTable SmCtlTable;

SmCtlTable                *sm_ctl_table_new (const char *first_header, ...) G_GNUC_NULL_TERMINATED;
/* Takes the cells (allocated strings), one per header */
void sm_ctl_table_add_row (SmCtlTable *table, char *first_cell, ...) G_GNUC_NULL_TERMINATED;
void sm_ctl_table_print (SmCtlTable *table);
void sm_ctl_table_free (SmCtlTable *table);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmCtlTable, sm_ctl_table_free)

G_END_DECLS
