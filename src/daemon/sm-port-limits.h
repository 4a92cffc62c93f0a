/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "sm-rate-limit.h"
#include "sm-route.h"

G_BEGIN_DECLS

/* Public connections open at once, all ports together. Fixed rather than
 * taken from RLIMIT_NOFILE: running out of descriptors is SmAcceptGuard's
 * job, this bounds the memory (socket buffers, proxies) public clients can
 * make the daemon hold, the same on every machine. */
#define SM_PORT_DEFAULT_MAX_CONNECTIONS 65536
/* Per port: a quarter of the total, so one flooded port leaves room to
 * the others */
#define SM_PORT_DEFAULT_MAX_CONNECTIONS_PER_PORT 16384
/* Connections (raw TCP) or requests (HTTP) waiting for a service, per port */
#define SM_PORT_DEFAULT_MAX_QUEUED 1024
/* yamux streams the daemon keeps open at once on one service's session */
#define SM_PORT_DEFAULT_MAX_STREAMS_PER_SERVICE 4096

/* Bounds of the options */
#define SM_PORT_LIMITS_MAX (16 * 1024 * 1024)

/**
 * SmPortLimits:
 * @max_connections: public connections open at once on all ports; more
 *   are closed right after accept
 * @max_connections_per_port: the same, per port
 * @max_queued_per_port: connections (raw TCP) or requests (HTTP) waiting
 *   for a service on one port; more are closed, or answered 503
 * @max_streams_per_service: streams the daemon opens on one service's
 *   session at once; past it, connections go to another route or wait
 *
 * What the public side of the ports may cost; the defaults come from
 * sm_port_limits_init().
 */
typedef struct
{
  guint max_connections;
  guint max_connections_per_port;
  guint max_queued_per_port;
  guint max_streams_per_service;
} SmPortLimits;

void     sm_port_limits_init (SmPortLimits *limits);
/* From the command line options; each must be 1 to SM_PORT_LIMITS_MAX.
 * The error message names the option out of range; *@limits changes only
 * on success. */
gboolean sm_port_limits_set (SmPortLimits *limits,
                             gint64        max_connections,
                             gint64        max_connections_per_port,
                             gint64        max_queued_per_port,
                             gint64        max_streams_per_service,
                             GError      **error);

/* How many more public connections or requests @route can take now: the
 * streams its session may still open under @max_streams, plus (HTTP) its
 * idle streams, which are reused */
guint    sm_port_limits_route_room (SmRoute *route, guint max_streams);

/*
 * SmOpenCount: public connections open now, of one port or of all.
 * Reference-counted, since connections outlive the port that accepted
 * them; each counts from sm_open_count_admit() until it is
 * finalized, whoever holds it last (a proxy, the TLS terminator, a queue).
 */
typedef struct
{
  guint       n_open;
  SmRateLimit log_limit; /* refusals: one line per interval */
} SmOpenCount;

SmOpenCount *sm_open_count_new (void);
SmOpenCount *sm_open_count_ref (SmOpenCount *count);
void         sm_open_count_unref (SmOpenCount *count);

/* Counts @connection in @port and @total if neither reached its limit.
 * Otherwise logs why (once per interval for each count; @name: the port,
 * for the message) and returns FALSE: the caller closes the connection. */
gboolean     sm_open_count_admit (SmOpenCount       *port,
                                  guint              port_max,
                                  SmOpenCount       *total,
                                  guint              total_max,
                                  GSocketConnection *connection,
                                  const char        *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmOpenCount, sm_open_count_unref)

/*
 * SmRoomWatch: calls @func from the main loop, once for a batch of events,
 * after a watched route may have gained room (one of its streams ended or
 * went idle, see sm_port_limits_route_room()) while @wanted says that
 * something waits for room. Embedded in its owner.
 */
typedef gboolean (*SmRoomWanted) (gpointer data);

typedef struct
{
  SmRoomWanted wanted;
  GSourceFunc  func;
  gpointer     data;
  guint        source;
} SmRoomWatch;

void sm_room_watch_init (SmRoomWatch *self, SmRoomWanted wanted, GSourceFunc func, gpointer data);
void sm_room_watch_add (SmRoomWatch *self, SmRoute *route);
void sm_room_watch_remove (SmRoomWatch *self, SmRoute *route);
/* Drops a call not made yet; the routes must be removed */
void sm_room_watch_clear (SmRoomWatch *self);

/*
 * SmPortCapacity: what one port needs to enforce its limits, embedded in
 * the port.
 */
typedef struct
{
  SmPortLimits limits;
  SmOpenCount *n_open; /* this port's public connections */
  SmOpenCount *total;  /* all ports' (its own until set) */
  SmRoomWatch  room;   /* for what waits for a service's streams */
} SmPortCapacity;

/* Default limits; @wanted, @func, @data: see SmRoomWatch */
void
sm_port_capacity_init (SmPortCapacity *self, SmRoomWanted wanted, GSourceFunc func, gpointer data);
void sm_port_capacity_clear (SmPortCapacity *self);
/* @total: the count shared by all ports */
void sm_port_capacity_set (SmPortCapacity *self, const SmPortLimits *limits, SmOpenCount *total);
/* sm_open_count_admit() with the port's limits */
gboolean
sm_port_capacity_admit (SmPortCapacity *self, GSocketConnection *connection, const char *name);

G_END_DECLS
