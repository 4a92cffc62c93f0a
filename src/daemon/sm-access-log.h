/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-metrics-events.h"

G_BEGIN_DECLS

typedef enum
{
  SM_ACCESS_LOG_JSON,     /* one JSON object per line */
  SM_ACCESS_LOG_COMBINED, /* Apache/nginx "combined" */
} SmAccessLogFormat;

/* "json" or "combined" */
gboolean sm_access_log_parse_format (const char *text, SmAccessLogFormat *format, GError **error);

/*
 * SmAccessLog: --access-log, one line per HTTP request and per closed raw
 * TCP connection. Lines go to a bounded in-memory queue written out
 * asynchronously, so a slow disk never blocks the event loop; when the
 * queue is full, lines are dropped and the drops logged and counted
 * (socketmaster_access_log_dropped_total).
 */
#define SM_TYPE_ACCESS_LOG (sm_access_log_get_type ())
G_DECLARE_FINAL_TYPE (SmAccessLog, sm_access_log, SM, ACCESS_LOG, GObject)

/* Most bytes waiting to be written; more lines are dropped */
#define SM_ACCESS_LOG_MAX_QUEUED (1024 * 1024)

/* Opens @path for appending ("-": standard output) */
SmAccessLog *sm_access_log_new (const char *path, SmAccessLogFormat format, GError **error);
/* Opens the file again (after logrotate moved it); lines go on to the
 * old one if it cannot be opened */
gboolean     sm_access_log_reopen (SmAccessLog *self, GError **error);
void         sm_access_log_http (SmAccessLog *self, const SmHttpRecord *record);
void         sm_access_log_tcp (SmAccessLog *self, const SmTcpRecord *record);
/* Writes out everything queued, blocking (at exit) */
void         sm_access_log_flush (SmAccessLog *self);
guint64      sm_access_log_get_dropped (SmAccessLog *self);

/* The daemon's (NULL: none), which the hooks write to */
SmAccessLog *sm_access_log_get_default (void);
void         sm_access_log_set_default (SmAccessLog *log);

/* Pure: one line, with its newline, for @time */
char *
sm_access_log_format_http (SmAccessLogFormat format, GDateTime *time, const SmHttpRecord *record);
char *
sm_access_log_format_tcp (SmAccessLogFormat format, GDateTime *time, const SmTcpRecord *record);

G_END_DECLS
