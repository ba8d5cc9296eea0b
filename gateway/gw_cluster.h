/* gw_cluster.h — what gw_cluster.c offers the other gateway modules and the unit tests:
 * the cluster status as JSON, and the pure naming rules behind it. */
#ifndef GW_CLUSTER_H
#define GW_CLUSTER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

struct gw;

/* gw_cluster_fetch_status asks every node (Cluster/Status, short timeout) and returns the
 * object of GET /_playground/cluster/status (json_object_put it); NULL on OOM. */
json_object *gw_cluster_fetch_status(struct gw *g);

/* gw_role_name: "leader", "follower", "candidate", "pre-candidate" ("unknown"). */
const char *gw_role_name(int role);

/* gw_health_name: "unhealthy" (no answer), "healthy" (answers, knows a leader — the
 * cluster's, `cluster_leader`, when one answers (0: none does) —, lag <= 100 entries, and
 * not `ahead`: the leader's FollowerProgress.ahead, > 0 when the node holds entries
 * committed past the leader's log — a diverged cluster) or "desynced" (a node that follows,
 * or is, a leader deposed by a later term included). */
const char *gw_health_name(bool answered, uint64_t leader_id, uint64_t cluster_leader, uint64_t lag,
                           uint64_t ahead);

#endif
