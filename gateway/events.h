/* events.h — the bridge from the nodes' event streams to the SSE hub.
 *
 * One NNG sub0 socket (subscribed to everything) dials every node's events URL in the
 * background (NNG reconnects by itself, so a node that is down or restarting is not an
 * error). A receive thread decodes each lithair.v1.Event and publishes it on the hub as
 * docs/API.md lists it, every JSON object carrying "node" (the node id) and "at" (the
 * node's publish time, Unix milliseconds with three decimals; absent if the node sent none):
 *   committed → `committed` (replication stream)
 *     {"node","model","id","op","index","term","version","result"}
 *   progress  → `progress`  (replication) {"node","lastIndex","commit","followers":[...]}
 *   metrics   → `metrics`   (replication) {"node","appliedPerSec","commit",...}
 *   role      → `role`      (cluster)     {"node","role","term","leaderId"}
 * Counters and indexes are JSON numbers; roles and ops are lower-case names
 * ("leader", "pre-candidate", "create"), result is a Code name ("OK").
 *
 * `committed` is one event per applied entry per node, so under a benchmark it is
 * rate-limited per node (EVB_COMMITTED_PER_SEC a second by default; see
 * evb_set_committed_limit): events over the limit are not sent, and the next `committed`
 * that is sent carries "skipped": N, how many of that node's were left out before it.
 * Which entries are sent is decided once per log index, for every node's copy of it; under
 * load they are every S-th by log index (events.c).
 *
 * The bridge also keeps the last role/term/leader and metrics seen from each node, so
 * /_playground/cluster/status and /healthz can answer without a round trip.
 *
 * Not here: the hub (sse.h), the RPC client, HTTP. */
#ifndef GW_EVENTS_H
#define GW_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sse.h"

#define EVB_MAX_NODES         16
#define EVB_COMMITTED_PER_SEC 200 /* default per-node limit of `committed` events */

struct evb;

/* The latest state one node reported on its event stream. */
struct evb_node_state {
    uint64_t node_id;
    bool seen;           /* any event received from it */
    uint64_t last_at_ms; /* gateway CLOCK_MONOTONIC ms when the last event arrived */
    int role;            /* LITHAIR__V1__NODE_ROLE__*, from role and metrics events */
    uint64_t term;
    uint64_t leader_id;
    uint64_t commit;
    uint64_t applied;
    uint64_t last_index;
    uint64_t snapshot_index;
    uint64_t wal_bytes;
    uint64_t fsync_p99_us;
    double applied_per_sec;
    uint64_t events; /* events received from it */
};

/* evb_new subscribes to `urls`, a comma-separated list of the nodes' events URLs, and
 * starts the receive thread publishing to `hub` (which must outlive the bridge).
 * Returns 0 and *out, LT_EINVAL (empty list, too many URLs, a URL NNG rejects),
 * LT_ENOMEM, LT_EIO. */
int evb_new(const char *urls, struct sse_hub *hub, struct evb **out);

/* evb_free stops the thread, closes the socket and frees. NULL does nothing. */
void evb_free(struct evb *b);

/* evb_stop only stops the thread (within EVB_RECV_TIMEOUT_MS): the socket stays open and
 * the bridge allocated, for a process about to leave without NNG's teardown (main.c). NULL
 * does nothing. */
void evb_stop(struct evb *b);

/* evb_set_committed_limit sets the per-node limit of `committed` events a second
 * (0 = no limit). */
void evb_set_committed_limit(struct evb *b, unsigned per_sec);

/* evb_node_state copies what node `node_id` last reported. Returns 0, or LT_ENOTFOUND
 * if nothing was ever received from it. */
int evb_node_state(struct evb *b, uint64_t node_id, struct evb_node_state *out);

/* evb_event_json turns one packed lithair.v1.Event into the hub's event: the name
 * ("committed", ...) into name (at least SSE_EVENT_NAME_MAX bytes), the stream mask into
 * *mask, and a malloc'd JSON text into *json (the caller frees it). Returns 0,
 * LT_ECORRUPT (does not decode), LT_EUNSUPPORTED (no known kind), LT_ENOMEM. Exposed for
 * tests and for callers that receive events some other way. */
int evb_event_json(const uint8_t *buf, size_t len, char *name, unsigned *mask, char **json);

/* evb_role_name: "follower", "pre-candidate", "candidate", "leader", "unknown". */
const char *evb_role_name(int role);

#endif
