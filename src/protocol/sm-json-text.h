/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One JSON object from the network, parsed by json-glib once the text is
 * known to be plain JSON within bounds json-glib 1.6 does not enforce
 * (nesting depth, integer size, escaped NUL, text after the object).
 * Pure: no I/O.
 */

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

JsonObject *sm_json_text_parse_object (const char *text,
                                       gsize       len,
                                       const char *context,
                                       guint      *out_n_members,
                                       GError    **error);

G_END_DECLS
