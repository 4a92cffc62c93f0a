/* SPDX-License-Identifier: MIT */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "sm-accept-queue.h"
#include "sm-error.h"
#include "sm-extension-handshake.h"
#include "sm-link-group.h"
#include "sm-listener.h"
#include "sm-listener-private.h"
#include "sm-proxy-reader.h"

/* Streams nobody took yet; beyond this the daemon is outpacing the service */
#define MAX_UNACCEPTED_STREAMS 256

struct _SmListener
{
  GObject        parent_instance;

  /* one registration per daemon; holds the main context, the addresses,
   * the request and the reconnect timeout */
  SmLinkGroup   *links;
  SmAcceptQueue *accept_queue;
  gboolean       closed; /* close or abort was called */
  GError        *lost_error;
  GCancellable  *cancellable; /* PROXY headers being read; cancelled at the end */

  /* construct-only properties, until constructed() */
  char          *control_address;
  char         **control_addresses;
};

enum
{
  PROP_0,
  PROP_CONTROL_ADDRESS,
  PROP_CONTROL_ADDRESSES,
  PROP_DEFINITION,
  PROP_CONNECTED,
  PROP_RECONNECT_TIMEOUT,
  PROP_TOKEN,
  PROP_NAME,
  PROP_PROXY_PROTOCOL,
  N_PROPS
};

enum
{
  SIGNAL_INCOMING,
  SIGNAL_LOST,
  N_SIGNALS
};

static GParamSpec *props[N_PROPS];
static guint       signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (SmListener, sm_listener, G_TYPE_OBJECT)

/* Hands @stream to the application: a handler, or the accept queue */
static void
sm_listener_deliver (SmListener *self, SmYamuxStream *stream)
{
  gboolean handled = FALSE;

  g_object_ref (self);
  g_signal_emit (self, signals[SIGNAL_INCOMING], 0, stream, &handled);

  if (handled)
    ;
  else if (self->closed)
    sm_yamux_stream_reset (stream); /* a handler closed us meanwhile */
  else if (!sm_accept_queue_push_stream (self->accept_queue, stream))
    {
      g_debug ("Too many connections not accepted yet, resetting a new one");
      sm_yamux_stream_reset (stream);
    }
  g_object_unref (self);
}

static void
on_proxy_header_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (SmYamuxStream) stream = NULL;
  g_autoptr (GError) error = NULL;

  /* cancelled: @user_data may be gone */
  stream = sm_proxy_reader_read_finish (result, &error);
  if (stream == NULL)
    return;

  sm_listener_deliver (SM_LISTENER (user_data), stream);
}

static void
on_link_incoming (SmYamuxStream *stream, guint proxy_protocol, gpointer owner)
{
  SmListener *self = owner;

  /* the daemon sends the header of the version asked for at registration */
  if (proxy_protocol != 0)
    sm_proxy_reader_read_async (stream, self->cancellable, on_proxy_header_read, self);
  else
    sm_listener_deliver (self, stream);
}

static void
on_link_lost (const GError *error, gpointer owner)
{
  SmListener *self = owner;

  g_clear_error (&self->lost_error);
  self->lost_error = g_error_copy (error);
  sm_accept_queue_reset_streams (self->accept_queue);
  sm_accept_queue_fail_waiting (self->accept_queue, error);

  g_signal_emit (self, signals[SIGNAL_LOST], 0, error);
}

static void
on_link_connected_changed (gpointer owner)
{
  SmListener *self = owner;

  if (sm_link_group_is_connected (self->links))
    g_clear_error (&self->lost_error); /* started again after giving up */

  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_CONNECTED]);
}

static void
on_link_session_ended (gpointer owner)
{
  SmListener *self = owner;

  /* queued streams of that session died with it; their clients are gone */
  sm_accept_queue_reset_dead_streams (self->accept_queue);
}

static const SmLinkGroupEvents link_events = {
  .incoming = on_link_incoming,
  .lost = on_link_lost,
  .connected_changed = on_link_connected_changed,
  .session_ended = on_link_session_ended,
};

SmListener *
sm_listener_new (const char *control_address, const SmSocketDefinition *definition)
{
  g_return_val_if_fail (definition != NULL, NULL);

  return g_object_new (SM_TYPE_LISTENER, "control-address", control_address, "definition",
                       definition, NULL);
}

SmListener *
sm_listener_new_for_addresses (const char *const        *control_addresses,
                               const SmSocketDefinition *definition)
{
  g_return_val_if_fail (definition != NULL, NULL);

  return g_object_new (SM_TYPE_LISTENER, "control-addresses", control_addresses, "definition",
                       definition, NULL);
}

/* Completes a start or close task (told apart by its source tag) with
 * the outcome of the same operation on the link */
static void
on_link_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  SmLinkGroup *links = SM_LINK_GROUP (source);
  gboolean     succeeded;

  if (g_task_get_source_tag (task) == sm_listener_start_async)
    succeeded = sm_link_group_start_finish (links, result, &error);
  else
    succeeded = sm_link_group_close_finish (links, result, &error);

  if (!succeeded)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

/* Cancellation is left to the link and the accept queue: a registration
 * that succeeded, or a stream handed out, is never reported as cancelled */
static GTask *
sm_listener_task_new (SmListener         *self,
                      GCancellable       *cancellable,
                      GAsyncReadyCallback callback,
                      gpointer            user_data,
                      gpointer            source_tag)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_set_check_cancellable (task, FALSE);
  return task;
}

static gboolean
sm_listener_propagate_boolean (SmListener   *self,
                               GAsyncResult *result,
                               gpointer      source_tag,
                               GError      **error)
{
  g_return_val_if_fail (SM_IS_LISTENER (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
sm_listener_start_async (SmListener         *self,
                         GCancellable       *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (SM_IS_LISTENER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = sm_listener_task_new (self, cancellable, callback, user_data, sm_listener_start_async);
  if (self->closed)
    {
      g_task_return_new_error (task, SM_ERROR, SM_ERROR_CLOSED, _ ("The listener is closed"));
      return;
    }
  sm_link_group_start_async (self->links, cancellable, on_link_done, g_steal_pointer (&task));
}

gboolean
sm_listener_start_finish (SmListener *self, GAsyncResult *result, GError **error)
{
  return sm_listener_propagate_boolean (self, result, sm_listener_start_async, error);
}

static void
on_start_sync_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out_result = user_data;

  *out_result = g_object_ref (result);
}

gboolean
sm_listener_start (SmListener *self, GCancellable *cancellable, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;
  GMainContext *context;

  g_return_val_if_fail (SM_IS_LISTENER (self), FALSE);

  context = sm_link_group_get_context (self->links);
  g_main_context_push_thread_default (context);
  sm_listener_start_async (self, cancellable, on_start_sync_done, &result);
  while (result == NULL)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);

  return sm_listener_start_finish (self, result, error);
}

void
sm_listener_accept_async (SmListener         *self,
                          GCancellable       *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;
  SmYamuxStream *stream;

  g_return_if_fail (SM_IS_LISTENER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = sm_listener_task_new (self, cancellable, callback, user_data, sm_listener_accept_async);
  stream = sm_accept_queue_pop_stream (self->accept_queue);
  if (stream != NULL)
    g_task_return_pointer (task, stream, g_object_unref);
  else if (self->closed)
    g_task_return_new_error (task, SM_ERROR, SM_ERROR_CLOSED, _ ("The listener is closed"));
  else if (self->lost_error != NULL)
    g_task_return_error (task, g_error_copy (self->lost_error));
  else if (!g_task_return_error_if_cancelled (task))
    sm_accept_queue_wait (self->accept_queue, task);
}

GIOStream *
sm_listener_accept_finish (SmListener *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (SM_IS_LISTENER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == sm_listener_accept_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Nothing new is handed out once closing starts */
static void
sm_listener_mark_closed (SmListener *self)
{
  g_autoptr (GError) error = NULL;

  self->closed = TRUE;
  g_cancellable_cancel (self->cancellable);
  g_set_error_literal (&error, SM_ERROR, SM_ERROR_CLOSED, _ ("The listener is closed"));
  sm_accept_queue_reset_streams (self->accept_queue);
  sm_accept_queue_fail_waiting (self->accept_queue, error);
}

void
sm_listener_close_async (SmListener         *self,
                         GCancellable       *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (SM_IS_LISTENER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = sm_listener_task_new (self, cancellable, callback, user_data, sm_listener_close_async);
  sm_listener_mark_closed (self);
  sm_link_group_close_async (self->links, cancellable, on_link_done, g_steal_pointer (&task));
}

gboolean
sm_listener_close_finish (SmListener *self, GAsyncResult *result, GError **error)
{
  return sm_listener_propagate_boolean (self, result, sm_listener_close_async, error);
}

void
sm_listener_abort (SmListener *self)
{
  g_return_if_fail (SM_IS_LISTENER (self));

  g_object_ref (self);
  sm_listener_mark_closed (self);
  sm_link_group_abort (self->links);
  g_object_unref (self);
}

gboolean
sm_listener_is_connected (SmListener *self)
{
  g_return_val_if_fail (SM_IS_LISTENER (self), FALSE);

  return sm_link_group_is_connected (self->links);
}

const SmSocketDefinition *
sm_listener_get_definition (SmListener *self)
{
  g_return_val_if_fail (SM_IS_LISTENER (self), NULL);

  return sm_link_group_get_request (self->links)->definition;
}

const char *
sm_listener_get_control_address (SmListener *self)
{
  g_return_val_if_fail (SM_IS_LISTENER (self), NULL);

  return sm_link_group_get_control_addresses (self->links)[0];
}

const char *const *
sm_listener_get_control_addresses (SmListener *self)
{
  g_return_val_if_fail (SM_IS_LISTENER (self), NULL);

  return sm_link_group_get_control_addresses (self->links);
}

void
sm_listener_set_reconnect_timeout (SmListener *self, double seconds)
{
  g_return_if_fail (SM_IS_LISTENER (self));
  g_return_if_fail (seconds >= 0);

  if (sm_link_group_get_reconnect_timeout (self->links) == seconds)
    return;

  sm_link_group_set_reconnect_timeout (self->links, seconds);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_RECONNECT_TIMEOUT]);
}

double
sm_listener_get_reconnect_timeout (SmListener *self)
{
  g_return_val_if_fail (SM_IS_LISTENER (self), 0);

  return sm_link_group_get_reconnect_timeout (self->links);
}

/* Replaces *@field by a copy of @value; TRUE if it changed */
static gboolean
sm_listener_replace_string (char **field, const char *value)
{
  if (g_strcmp0 (*field, value) == 0)
    return FALSE;

  g_free (*field);
  *field = g_strdup (value);
  return TRUE;
}

void
sm_listener_set_token (SmListener *self, const char *token)
{
  g_return_if_fail (SM_IS_LISTENER (self));

  if (!sm_listener_replace_string (&sm_link_group_get_request (self->links)->token, token))
    return;
  sm_link_group_update_request (self->links);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_TOKEN]);
}

const char *
sm_listener_get_token (SmListener *self)
{
  g_return_val_if_fail (SM_IS_LISTENER (self), NULL);

  return sm_link_group_get_request (self->links)->token;
}

void
sm_listener_set_name (SmListener *self, const char *name)
{
  g_return_if_fail (SM_IS_LISTENER (self));

  if (!sm_listener_replace_string (&sm_link_group_get_request (self->links)->name, name))
    return;
  sm_link_group_update_request (self->links);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_NAME]);
}

const char *
sm_listener_get_name (SmListener *self)
{
  g_return_val_if_fail (SM_IS_LISTENER (self), NULL);

  return sm_link_group_get_request (self->links)->name;
}

void
sm_listener_set_proxy_protocol (SmListener *self, guint version)
{
  SmExtensionRequest *request;

  g_return_if_fail (SM_IS_LISTENER (self));
  g_return_if_fail (version <= 2);

  request = sm_link_group_get_request (self->links);
  if (request->proxy_protocol == version)
    return;
  request->proxy_protocol = version;
  sm_link_group_update_request (self->links);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_PROXY_PROTOCOL]);
}

guint
sm_listener_get_proxy_protocol (SmListener *self)
{
  g_return_val_if_fail (SM_IS_LISTENER (self), 0);

  return sm_link_group_get_request (self->links)->proxy_protocol;
}

gboolean
sm_listener_error_is_refusal (const GError *error)
{
  if (error == NULL || error->domain != SM_ERROR)
    return FALSE;

  /* the codes a wire code parses back to (PROTOCOL.md §7), and no other */
  return error->code == SM_ERROR_REJECTED ||
         (SmError) error->code == sm_extension_error_from_code (sm_extension_error_code (error));
}

void
sm_listener_get_yamux_stats (SmListener *self, SmYamuxStats *stats)
{
  g_return_if_fail (SM_IS_LISTENER (self));

  sm_link_group_get_yamux_stats (self->links, stats);
}

/* Construct-only: before the links exist, which copy it */
static void
sm_listener_set_definition (SmListener *self, const SmSocketDefinition *definition)
{
  SmExtensionRequest *request = sm_link_group_get_request (self->links);

  g_clear_pointer (&request->definition, sm_socket_definition_free);
  if (definition != NULL)
    request->definition = sm_socket_definition_copy (definition);
}

static void
sm_listener_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  SmListener *self = SM_LISTENER (object);

  switch (prop_id)
    {
    case PROP_CONTROL_ADDRESS:
      g_value_set_string (value, sm_listener_get_control_address (self));
      break;
    case PROP_CONTROL_ADDRESSES:
      g_value_set_boxed (value, sm_listener_get_control_addresses (self));
      break;
    case PROP_DEFINITION:
      g_value_set_boxed (value, sm_listener_get_definition (self));
      break;
    case PROP_CONNECTED:
      g_value_set_boolean (value, sm_listener_is_connected (self));
      break;
    case PROP_RECONNECT_TIMEOUT:
      g_value_set_double (value, sm_listener_get_reconnect_timeout (self));
      break;
    case PROP_TOKEN:
      g_value_set_string (value, sm_listener_get_token (self));
      break;
    case PROP_NAME:
      g_value_set_string (value, sm_listener_get_name (self));
      break;
    case PROP_PROXY_PROTOCOL:
      g_value_set_uint (value, sm_listener_get_proxy_protocol (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sm_listener_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  SmListener *self = SM_LISTENER (object);

  switch (prop_id)
    {
    case PROP_CONTROL_ADDRESS:
      self->control_address = g_value_dup_string (value);
      break;
    case PROP_CONTROL_ADDRESSES:
      self->control_addresses = g_value_dup_boxed (value);
      break;
    case PROP_DEFINITION:
      sm_listener_set_definition (self, g_value_get_boxed (value));
      break;
    case PROP_RECONNECT_TIMEOUT:
      sm_listener_set_reconnect_timeout (self, g_value_get_double (value));
      break;
    case PROP_TOKEN:
      sm_listener_set_token (self, g_value_get_string (value));
      break;
    case PROP_NAME:
      sm_listener_set_name (self, g_value_get_string (value));
      break;
    case PROP_PROXY_PROTOCOL:
      sm_listener_set_proxy_protocol (self, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sm_listener_constructed (GObject *object)
{
  SmListener *self = SM_LISTENER (object);

  G_OBJECT_CLASS (sm_listener_parent_class)->constructed (object);

  /* the list, else the one address, else the environment's list */
  if (self->control_addresses != NULL && self->control_addresses[0] != NULL)
    sm_link_group_set_control_addresses (self->links,
                                         (const char *const *) self->control_addresses);
  else
    sm_link_group_set_control_addresses (self->links,
                                         (const char *const[]){ self->control_address, NULL });
  g_clear_pointer (&self->control_address, g_free);
  g_clear_pointer (&self->control_addresses, g_strfreev);
}

static void
sm_listener_dispose (GObject *object)
{
  SmListener *self = SM_LISTENER (object);

  /* tasks hold a reference to us: none is pending here, so nothing
   * calls back into user code (headers being read are cancelled) */
  g_cancellable_cancel (self->cancellable);
  sm_link_group_disown (self->links);
  sm_accept_queue_reset_streams (self->accept_queue);

  G_OBJECT_CLASS (sm_listener_parent_class)->dispose (object);
}

static void
sm_listener_finalize (GObject *object)
{
  SmListener *self = SM_LISTENER (object);

  g_clear_object (&self->links);
  g_clear_pointer (&self->accept_queue, sm_accept_queue_free);
  g_clear_error (&self->lost_error);
  g_clear_object (&self->cancellable);
  g_free (self->control_address);
  g_strfreev (self->control_addresses);

  G_OBJECT_CLASS (sm_listener_parent_class)->finalize (object);
}

static void
sm_listener_class_init (SmListenerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  /* The library's messages come in the user's language, whatever the
   * program's own text domain */
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");

  object_class->get_property = sm_listener_get_property;
  object_class->set_property = sm_listener_set_property;
  object_class->constructed = sm_listener_constructed;
  object_class->dispose = sm_listener_dispose;
  object_class->finalize = sm_listener_finalize;

  /**
   * SmListener:control-address:
   *
   * The first daemon's control address (see sm_listener_new()).
   */
  props[PROP_CONTROL_ADDRESS] =
      g_param_spec_string ("control-address", NULL, NULL, NULL,
                           G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * SmListener:control-addresses:
   *
   * The control address of each daemon (see sm_listener_new_for_addresses()).
   */
  props[PROP_CONTROL_ADDRESSES] =
      g_param_spec_boxed ("control-addresses", NULL, NULL, G_TYPE_STRV,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * SmListener:definition:
   *
   * The public listener asked for.
   */
  props[PROP_DEFINITION] =
      g_param_spec_boxed ("definition", NULL, NULL, SM_TYPE_SOCKET_DEFINITION,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * SmListener:connected:
   *
   * Whether the listener is registered with at least one daemon.
   */
  props[PROP_CONNECTED] =
      g_param_spec_boolean ("connected", NULL, NULL, FALSE,
                            G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * SmListener:reconnect-timeout:
   *
   * Seconds to keep retrying after losing the daemon; 0 for never.
   */
  props[PROP_RECONNECT_TIMEOUT] =
      g_param_spec_double ("reconnect-timeout", NULL, NULL, 0, G_MAXDOUBLE, 30,
                           G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * SmListener:token:
   *
   * The daemon's token (see sm_listener_set_token()).
   */
  props[PROP_TOKEN] =
      g_param_spec_string ("token", NULL, NULL, NULL,
                           G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * SmListener:name:
   *
   * A label for the daemon's logs and D-Bus (see sm_listener_set_name()).
   */
  props[PROP_NAME] =
      g_param_spec_string ("name", NULL, NULL, NULL,
                           G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * SmListener:proxy-protocol:
   *
   * The PROXY protocol version asked for (see sm_listener_set_proxy_protocol()).
   */
  props[PROP_PROXY_PROTOCOL] =
      g_param_spec_uint ("proxy-protocol", NULL, NULL, 0, 2, 0,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);

  /**
   * SmListener::incoming:
   * @self: the listener
   * @stream: a new public connection
   *
   * Return %TRUE to take @stream (keep a reference, close it when done);
   * otherwise it waits for sm_listener_accept_async().
   *
   * Returns: %TRUE if the handler took @stream
   */
  signals[SIGNAL_INCOMING] = g_signal_new ("incoming", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                           0, g_signal_accumulator_true_handled, NULL, NULL,
                                           G_TYPE_BOOLEAN, 1, G_TYPE_IO_STREAM);

  /**
   * SmListener::lost:
   * @self: the listener
   * @error: why the last reconnection attempt failed
   *
   * Reconnecting took longer than #SmListener:reconnect-timeout. The
   * listener stays disconnected and pending accepts fail with @error.
   */
  signals[SIGNAL_LOST] = g_signal_new ("lost", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
sm_listener_init (SmListener *self)
{
  self->links = sm_link_group_new (&link_events, self);
  self->accept_queue =
      sm_accept_queue_new (sm_link_group_get_context (self->links), MAX_UNACCEPTED_STREAMS);
  self->cancellable = g_cancellable_new ();
}
