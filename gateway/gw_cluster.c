/* gw_cluster.c — /_playground/cluster/...: the cluster's status (every node asked at once,
 * merged with the supervisor's process facts and the RPC pool's circuit breakers), kill
 * and restart (supervisor mode; kill is a Cluster/Shutdown RPC in attach mode), leader
 * transfer, WAL statistics and snapshots.
 *
 * Not here: process management itself (supervisor.c), live events (events.c, sse.c). */
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "gw.h"
#include "gw_cluster.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "pbjson.h"
#include "supervisor.h"
#include "wire.h"

#define GW_HEALTHY_LAG 100

/* ------------------------------------------------------------------ fan-out */

struct gw_fan {
    struct gw *g;
    size_t i;
    const char *method;
    const ProtobufCMessage *req;
    const ProtobufCMessageDescriptor *desc;
    unsigned timeout_ms;
    int rc;
    struct rpc_status st;
    ProtobufCMessage *resp;
    pthread_t thread;
    bool started;
};

static void *gw_fan_thread(void *arg)
{
    struct gw_fan *f = arg;
    f->rc = rpc_call_endpoint(f->g->client, f->i, f->method, f->req, f->desc, f->timeout_ms,
                              &f->resp, &f->st);
    return NULL;
}

/* gw_fanout calls `method` on every node at once; fans[i] holds node i's outcome. */
static void gw_fanout(struct gw *g, const char *method, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *desc, unsigned timeout_ms,
                      struct gw_fan *fans)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        fans[i] = (struct gw_fan){.g = g,
                                  .i = i,
                                  .method = method,
                                  .req = req,
                                  .desc = desc,
                                  .timeout_ms = timeout_ms,
                                  .rc = LT_EIO};
        fans[i].started = pthread_create(&fans[i].thread, NULL, gw_fan_thread, &fans[i]) == 0;
        if (!fans[i].started)
            gw_fan_thread(&fans[i]);
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (fans[i].started)
            pthread_join(fans[i].thread, NULL);
    }
}

static void gw_fan_free(struct gw *g, struct gw_fan *fans)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (fans[i].rc == 0 && fans[i].resp)
            protobuf_c_message_free_unpacked(fans[i].resp, NULL);
    }
}

/* gw_json_numbers rewrites, in `j` (the pbjson output of `m`), every 64-bit integer
 * field from a decimal string into a JSON number: fields the gateway builds are numbers
 * (docs/API.md). Nested messages and repeated fields included. */
static void gw_json_numbers(const ProtobufCMessage *m, json_object *j)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned k = 0; k < d->n_fields; k++) {
        const ProtobufCFieldDescriptor *f = &d->fields[k];
        char name[64];
        json_object *v;
        if (!json_object_object_get_ex(j, pbjson_json_name(f, name, sizeof(name)), &v))
            continue;
        const char *p = (const char *)m + f->offset;
        bool is64 = f->type == PROTOBUF_C_TYPE_UINT64 || f->type == PROTOBUF_C_TYPE_INT64 ||
                    f->type == PROTOBUF_C_TYPE_FIXED64 || f->type == PROTOBUF_C_TYPE_SINT64 ||
                    f->type == PROTOBUF_C_TYPE_SFIXED64;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)p;
                for (size_t i = 0; i < n && i < json_object_array_length(v); i++)
                    gw_json_numbers(arr[i], json_object_array_get_idx(v, i));
            } else if (is64) {
                const uint64_t *arr = *(const uint64_t *const *)p;
                for (size_t i = 0; i < n && i < json_object_array_length(v); i++)
                    json_object_array_put_idx(v, i, gw_json_u64(arr[i]));
            }
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
            if (sub && strstr(sub->descriptor->name, "Timestamp") == NULL)
                gw_json_numbers(sub, v);
        } else if (is64) {
            uint64_t u = *(const uint64_t *)p;
            json_object_object_add(j, name,
                                   f->type == PROTOBUF_C_TYPE_UINT64 ||
                                           f->type == PROTOBUF_C_TYPE_FIXED64
                                       ? gw_json_u64(u)
                                       : json_object_new_int64((int64_t)u));
        }
    }
}

/* gw_message_json: pbjson (every field) with 64-bit integers as numbers. */
static json_object *gw_message_json(const ProtobufCMessage *m)
{
    static const struct pbjson_opts o = {.emit_defaults = true};
    json_object *j = pbjson_from_message(m, &o);
    if (j)
        gw_json_numbers(m, j);
    return j;
}

/* ------------------------------------------------------------------ status */

const char *gw_role_name(int role)
{
    switch (role) {
    case LITHAIR__V1__NODE_ROLE__LEADER:
        return "leader";
    case LITHAIR__V1__NODE_ROLE__FOLLOWER:
        return "follower";
    case LITHAIR__V1__NODE_ROLE__CANDIDATE:
        return "candidate";
    case LITHAIR__V1__NODE_ROLE__PRE_CANDIDATE:
        return "pre-candidate";
    default:
        return "unknown";
    }
}

const char *gw_health_name(bool answered, uint64_t leader_id, uint64_t cluster_leader, uint64_t lag,
                           uint64_t ahead)
{
    if (!answered)
        return "unhealthy";
    bool follows = leader_id != 0 && (cluster_leader == 0 || leader_id == cluster_leader);
    return follows && lag <= GW_HEALTHY_LAG && ahead == 0 ? "healthy" : "desynced";
}

static const char *gw_follower_state(int s)
{
    switch (s) {
    case LITHAIR__V1__FOLLOWER_PROGRESS__STATE__PROBE:
        return "probe";
    case LITHAIR__V1__FOLLOWER_PROGRESS__STATE__REPLICATE:
        return "replicate";
    case LITHAIR__V1__FOLLOWER_PROGRESS__STATE__SNAPSHOT:
        return "snapshot";
    default:
        return "unknown";
    }
}

/* GW_STOP_PENDING_NS: how long a node this gateway stopped (attach mode) counts as gone
 * though it may still answer: it replies to Cluster/Shutdown, then exits. */
#define GW_STOP_PENDING_NS (3ull * 1000000000ull)

static bool gw_stop_pending(struct gw *g, size_t i)
{
    uint64_t t = atomic_load(&g->stop_sent_ns[i]);
    return !g->sup && t && lt_now_ns() - t < GW_STOP_PENDING_NS;
}

/* gw_fan_wrong_node turns the reply in `f`, from node `said` (its own id), into a failure
 * saying so when that is not the node this gateway was given at that URL (attach mode:
 * --node IDs swapped): its figures would be shown, and acted on, under another node's id.
 * 0 (a node too old to say) is taken at its word. */
static void gw_fan_wrong_node(struct gw *g, struct gw_fan *f, uint64_t said)
{
    if (f->rc != 0 || !said || said == g->nodes[f->i].id)
        return;
    snprintf(f->st.message, sizeof(f->st.message),
             "the node at %s is node %llu, not node %llu (check --node)", g->nodes[f->i].rpc_url,
             (unsigned long long)said, (unsigned long long)g->nodes[f->i].id);
    f->st.code = LITHAIR__V1__CODE__FAILED_PRECONDITION;
    protobuf_c_message_free_unpacked(f->resp, NULL);
    f->resp = NULL;
    f->rc = LT_EINVAL;
}

/* gw_fan_check_ids turns a Cluster/Status reply from another node than the one this
 * gateway expects at that URL (attach mode: --node IDs swapped, a URL of another cluster's
 * node) into a failure saying so: that node is not the one the page shows, kills or
 * counts. */
static void gw_fan_check_ids(struct gw *g, struct gw_fan *fans)
{
    /* the cluster most answering nodes say they are of; one of another cluster is not
     * shown as a member of this one (a --node URL of another playground) */
    const Lithair__V1__NodeStatus *said[GW_MAX_NODES];
    for (size_t i = 0; i < g->n_nodes; i++)
        said[i] = fans[i].rc == 0 ? (const void *)fans[i].resp : NULL;
    uint64_t cluster = wire_status_cluster(said, g->n_nodes, false);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Lithair__V1__NodeStatus *ns = fans[i].rc == 0 ? (const void *)fans[i].resp : NULL;
        if (!ns || !cluster || !ns->cluster_id || ns->cluster_id == cluster)
            continue;
        snprintf(fans[i].st.message, sizeof(fans[i].st.message),
                 "the node at %s is of another cluster (%016llx, not %016llx) (check --node)",
                 g->nodes[i].rpc_url, (unsigned long long)ns->cluster_id,
                 (unsigned long long)cluster);
        fans[i].st.code = LITHAIR__V1__CODE__FAILED_PRECONDITION;
        protobuf_c_message_free_unpacked(fans[i].resp, NULL);
        fans[i].resp = NULL;
        fans[i].rc = LT_EINVAL;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Lithair__V1__NodeStatus *ns = fans[i].rc == 0 ? (const void *)fans[i].resp : NULL;
        if (ns)
            gw_fan_wrong_node(g, &fans[i], ns->id);
    }
}

/* gw_cluster_status_json builds the status object; *alive_out gets the number of nodes
 * that answered (or, in supervisor mode, that run), and answered[i] (when not NULL; n_nodes
 * entries) whether node i answered its Cluster/Status. */
static json_object *gw_cluster_status_json(struct gw *g, unsigned *alive_out, bool *answered_out)
{
    struct gw_fan *fans = calloc(GW_MAX_NODES, sizeof(*fans)); /* small thread stacks */
    if (!fans)
        return NULL;
    Lithair__V1__StatusRequest req = LITHAIR__V1__STATUS_REQUEST__INIT;
    gw_fanout(g, "Cluster/Status", &req.base, &lithair__v1__node_status__descriptor,
              g->cfg.status_timeout_ms, fans);
    gw_fan_check_ids(g, fans);
    /* The leader: the answering node that says it leads, with the highest term. */
    const Lithair__V1__NodeStatus *leader = NULL;
    uint64_t term = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Lithair__V1__NodeStatus *ns = fans[i].rc == 0 ? (const void *)fans[i].resp : NULL;
        if (!ns)
            continue;
        if (ns->term > term)
            term = ns->term;
        if (ns->role == LITHAIR__V1__NODE_ROLE__LEADER && (!leader || ns->term > leader->term))
            leader = ns;
    }
    json_object *o = json_object_new_object(), *nodes = json_object_new_array();
    unsigned answered = 0, running = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Lithair__V1__NodeStatus *ns = fans[i].rc == 0 ? (const void *)fans[i].resp : NULL;
        json_object *n = json_object_new_object();
        json_object_object_add(n, "id", gw_json_u64(g->nodes[i].id));
        uint64_t lag = 0, ahead = 0;
        if (ns && !gw_stop_pending(g, i))
            answered++;
        if (answered_out)
            answered_out[i] = ns != NULL;
        if (ns) {
            if (leader)
                lag = wire_status_lag(leader, ns, &ahead);
            json_object_object_add(n, "role", json_object_new_string(gw_role_name(ns->role)));
            json_object_object_add(n, "term", gw_json_u64(ns->term));
            json_object_object_add(n, "leaderId", gw_json_u64(ns->leader_id));
            json_object_object_add(n, "commit", gw_json_u64(ns->commit));
            json_object_object_add(n, "applied", gw_json_u64(ns->applied));
            json_object_object_add(n, "firstIndex", gw_json_u64(ns->first_index));
            json_object_object_add(n, "lastIndex", gw_json_u64(ns->last_index));
            json_object_object_add(n, "lag", gw_json_u64(lag));
            /* > 0: it holds entries committed past the leader's log (a diverged cluster) */
            json_object_object_add(n, "ahead", gw_json_u64(ahead));
            json_object_object_add(n, "walBytes", gw_json_u64(ns->wal_bytes));
            json_object_object_add(n, "snapshotIndex", gw_json_u64(ns->snapshot_index));
            json_object_object_add(n, "records", gw_json_u64(ns->records));
            json_object_object_add(n, "transferring", json_object_new_boolean(ns->transferring));
        } else {
            json_object_object_add(n, "role", json_object_new_string("down"));
            json_object_object_add(n, "error",
                                   json_object_new_string(fans[i].st.message[0]
                                                              ? fans[i].st.message
                                                              : lt_strerror(fans[i].rc)));
        }
        json_object_object_add(
            n, "health",
            json_object_new_string(gw_health_name(ns != NULL, ns ? ns->leader_id : 0,
                                                  leader ? leader->id : 0, lag, ahead)));
        json_object_object_add(n, "rpcUrl", json_object_new_string(g->nodes[i].rpc_url));
        json_object_object_add(n, "eventsUrl", json_object_new_string(g->nodes[i].events_url));
        struct sup_node_info si;
        if (g->sup && sup_node_info(g->sup, (unsigned)g->nodes[i].id, &si) == 0) {
            running += si.running;
            json_object_object_add(n, "running", json_object_new_boolean(si.running));
            json_object_object_add(n, "pid", json_object_new_int64(si.pid));
            json_object_object_add(n, "uptimeMs", gw_json_u64(si.uptime_ms));
            json_object_object_add(n, "starts", gw_json_u64(si.starts));
            json_object_object_add(n, "dataDir", json_object_new_string(si.data_dir));
            json_object_object_add(n, "cpu", si.cpu >= 0 ? json_object_new_int(si.cpu) : NULL);
            /* why its last run ended, in its own words (a node that stopped on its own) */
            json_object_object_add(n, "exitError",
                                   si.last_error[0] ? json_object_new_string(si.last_error) : NULL);
        } else {
            running += ns != NULL;
            json_object_object_add(n, "running", json_object_new_boolean(ns != NULL));
            json_object_object_add(n, "pid", gw_json_u64(ns ? ns->pid : 0));
            json_object_object_add(n, "uptimeMs", gw_json_u64(ns ? ns->uptime_ms : 0));
        }
        struct rpc_endpoint_stats es;
        if (rpc_client_stats(g->client, i, &es) == 0) {
            json_object_object_add(n, "circuit",
                                   json_object_new_string(rpc_breaker_state_name(es.state)));
            json_object_object_add(n, "connected", json_object_new_boolean(es.connected));
        }
        json_object *fl = json_object_new_array();
        for (size_t k = 0; ns && k < ns->n_followers; k++) {
            const Lithair__V1__FollowerProgress *fp = ns->followers[k];
            if (fp->id == ns->id)
                continue; /* the leader's own progress */
            json_object *f = json_object_new_object();
            json_object_object_add(f, "id", gw_json_u64(fp->id));
            json_object_object_add(f, "match", gw_json_u64(fp->match));
            json_object_object_add(f, "next", gw_json_u64(fp->next));
            json_object_object_add(f, "state",
                                   json_object_new_string(gw_follower_state(fp->state)));
            json_object_object_add(f, "lag", gw_json_u64(fp->lag));
            json_object_object_add(f, "ahead", gw_json_u64(fp->ahead));
            json_object_object_add(f, "recentActive", json_object_new_boolean(fp->recent_active));
            json_object_array_add(fl, f);
        }
        json_object_object_add(n, "followers", fl);
        json_object_array_add(nodes, n);
    }
    json_object_object_add(o, "mode", json_object_new_string(g->sup ? "supervisor" : "attach"));
    json_object_object_add(o, "leaderId", gw_json_u64(leader ? leader->id : 0));
    json_object_object_add(o, "term", gw_json_u64(leader ? leader->term : term));
    /* The cluster's own membership (the leader's, else any answering node's) decides the
     * quorum: in attach mode the gateway may have been given fewer nodes than there are
     * members, and its count would make one node of three a majority. */
    const Lithair__V1__NodeStatus *said = leader;
    for (size_t i = 0; i < g->n_nodes && !said; i++)
        said = fans[i].rc == 0 && ((const Lithair__V1__NodeStatus *)fans[i].resp)->n_members
                   ? (const void *)fans[i].resp
                   : NULL;
    size_t size = g->n_nodes;
    unsigned alive = g->sup ? running : answered;
    if (said && said->n_members > 0) {
        size = said->n_members;
        json_object *missing = json_object_new_array();
        for (size_t k = 0; k < said->n_members; k++) {
            const Lithair__Raft__V1__Member *mb = said->members[k];
            if (gw_node_index(g, mb->id) < 0) {
                json_object *m = json_object_new_object();
                json_object_object_add(m, "id", gw_json_u64(mb->id));
                json_object_object_add(m, "rpcUrl", json_object_new_string(mb->rpc_url));
                json_object_object_add(m, "eventsUrl", json_object_new_string(mb->events_url));
                json_object_array_add(missing, m);
                /* up, as far as the nodes given can tell: the leader heard from it lately,
                 * or it is the leader one of them follows (else unknown: not counted) */
                bool up = false;
                for (size_t f = 0; leader && f < leader->n_followers; f++)
                    up = up || (leader->followers[f]->id == mb->id &&
                                leader->followers[f]->recent_active);
                for (size_t gi = 0; !leader && gi < g->n_nodes; gi++)
                    up = up ||
                         (fans[gi].rc == 0 &&
                          ((const Lithair__V1__NodeStatus *)fans[gi].resp)->leader_id == mb->id);
                alive += up;
            }
        }
        if (json_object_array_length(missing) > 0) {
            json_object_object_add(
                o, "warning",
                json_object_new_string("the cluster has members this gateway was not given "
                                       "(--node): they are not shown, and count in the quorum"));
            json_object_object_add(o, "missingMembers", missing);
        } else {
            json_object_put(missing);
        }
    }
    json_object *q = json_object_new_object();
    json_object_object_add(q, "size", gw_json_u64(size));
    json_object_object_add(q, "alive", gw_json_u64(alive));
    json_object_object_add(q, "needed", gw_json_u64(size / 2 + 1));
    json_object_object_add(o, "quorum", q);
    json_object_object_add(o, "nodes", nodes);
    gw_fan_free(g, fans);
    free(fans);
    if (alive_out)
        *alive_out = alive;
    return o;
}

static int gw_cluster_status(struct gw_req *r)
{
    json_object *o = gw_cluster_status_json(r->gw, NULL, NULL);
    if (!o)
        return gw_reply_error(r, 500, "INTERNAL", NULL, "out of memory");
    return gw_reply_json(r, 200, o, NULL);
}

/* gw_cluster_node_id parses :id; answers 404 and returns -1 for an unknown node. */
static int gw_cluster_node_id(struct gw_req *r, uint64_t *id)
{
    const char *s = gw_params_get(&r->params, "id");
    /* "01" is no node's name (ids are written without zeros in front), as "1x" is not */
    if (!s || s[0] == '0' || gw_parse_u64(s, 1, UINT64_MAX, id) != 0 ||
        gw_node_index(r->gw, *id) < 0) {
        gw_reply_error(r, 404, "NOT_FOUND", NULL, "no node %.40s", s ? s : "");
        return -1;
    }
    return 0;
}

/* gw_cluster_flag reads a boolean query flag; answers 400 and returns -1 if bad. */
static int gw_cluster_flag(struct gw_req *r, const char *name, bool *out)
{
    char v[16];
    *out = false;
    int rc = gw_query(r, name, v, sizeof(v));
    if (rc == LT_ENOTFOUND)
        return 0;
    if (rc < 0 || gw_parse_bool(v, out) != 0) {
        gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                       "bad query parameter '%s': expected true or false", name);
        return -1;
    }
    return 0;
}

static int gw_cluster_kill(struct gw_req *r)
{
    struct gw *g = r->gw;
    uint64_t id;
    bool graceful, force;
    if (gw_cluster_node_id(r, &id) < 0 || gw_cluster_flag(r, "graceful", &graceful) < 0 ||
        gw_cluster_flag(r, "force", &force) < 0)
        return r->status;
    unsigned needed = (unsigned)g->n_nodes / 2 + 1;
    if (g->sup) {
        struct sup_node_info si;
        if (graceful && sup_node_info(g->sup, (unsigned)id, &si) == 0 && !si.running)
            return gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL,
                                  si.exiting ? "node %llu was signalled and has not exited yet "
                                               "(kill it without ?graceful to force it)"
                                             : "node %llu is not running",
                                  (unsigned long long)id);
        int rc = sup_kill(g->sup, (unsigned)id, graceful, !force);
        if (rc == LT_EEXIST)
            return gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL,
                                  "node %llu was already killed and has not exited yet",
                                  (unsigned long long)id);
        if (rc == LT_EBUSY) {
            unsigned live = sup_running_count(g->sup);
            return gw_reply_error(
                r, 409, "FAILED_PRECONDITION", NULL,
                "killing node %llu would leave %u of %zu nodes running, fewer than the %u a "
                "quorum needs: the cluster could not commit anything (use ?force=true)",
                (unsigned long long)id, live ? live - 1 : 0, g->n_nodes, needed);
        }
        if (rc == LT_EINVAL)
            return gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL, "node %llu is not running",
                                  (unsigned long long)id);
        if (rc != 0 && rc != LT_ETIMEDOUT)
            return gw_reply_error(r, 500, "INTERNAL", NULL, "kill failed: %s", lt_strerror(rc));
        if (!graceful && sup_wait_stopped(g->sup, (unsigned)id, 2000) == LT_ETIMEDOUT)
            rc = LT_ETIMEDOUT; /* SIGKILL sent, not reaped yet (a task stuck in the kernel) */
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", gw_json_u64(id));
        json_object_object_add(o, "signal",
                               json_object_new_string(graceful ? "SIGTERM" : "SIGKILL"));
        if (rc == LT_ETIMEDOUT)
            json_object_object_add(o, "stillRunning", json_object_new_boolean(true));
        uint64_t to = 0;
        int ho = graceful && rc == 0 ? sup_stop_handover(g->sup, (unsigned)id, &to) : 0;
        if (ho) /* it led: whether a follower took its leadership over before it exited */
            json_object_object_add(o, "handedOverTo",
                                   ho > 0 ? gw_json_u64(to) : json_object_new_null());
        return gw_reply_json(r, 200, o, NULL);
    }
    /* The quorum check and the stop are one step (as sup_kill makes them in supervisor
     * mode): concurrent kills are serialized, and a node stopped a moment ago is gone. */
    static pthread_mutex_t stop_mu = PTHREAD_MUTEX_INITIALIZER;
    size_t idx = (size_t)gw_node_index(g, id);
    pthread_mutex_lock(&stop_mu);
    if (gw_stop_pending(g, idx)) {
        pthread_mutex_unlock(&stop_mu);
        return gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL,
                              "node %llu was told to stop a moment ago", (unsigned long long)id);
    }
    unsigned alive = 0;
    bool answering[GW_MAX_NODES];
    json_object *st = gw_cluster_status_json(g, &alive, answering);
    if (!st) {
        pthread_mutex_unlock(&stop_mu);
        return gw_reply_error(r, 500, "INTERNAL", NULL, "out of memory");
    }
    /* a node that does not answer cannot be told to stop, whatever ?force says (and it
     * does not count among the nodes a stop would leave); nor can one that answers as
     * another node: the stop would go to that one */
    if (!answering[idx]) {
        json_object *nodes = json_object_object_get(st, "nodes");
        const char *why = json_object_get_string(
            json_object_object_get(json_object_array_get_idx(nodes, idx), "error"));
        int ret = why && strstr(why, "(check --node)")
                      ? gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL,
                                       "node %llu cannot be told to stop: %s",
                                       (unsigned long long)id, why)
                      : gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL,
                                       "node %llu is not running (it does not answer)",
                                       (unsigned long long)id);
        json_object_put(st);
        pthread_mutex_unlock(&stop_mu);
        return ret;
    }
    /* the cluster's membership, which may hold nodes this gateway was not given */
    json_object *q = json_object_object_get(st, "quorum");
    size_t members = (size_t)json_object_get_uint64(json_object_object_get(q, "size"));
    needed = (unsigned)json_object_get_uint64(json_object_object_get(q, "needed"));
    json_object_put(st);
    if (!force && alive <= needed) {
        pthread_mutex_unlock(&stop_mu);
        return gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL,
                              "stopping node %llu would leave %u of %zu nodes answering, fewer "
                              "than the %u a quorum needs (use ?force=true)",
                              (unsigned long long)id, alive ? alive - 1 : 0, members, needed);
    }
    Lithair__V1__ShutdownRequest req = LITHAIR__V1__SHUTDOWN_REQUEST__INIT;
    struct rpc_status rs;
    int rc = rpc_call_endpoint(g->client, idx, "Cluster/Shutdown", &req.base, NULL,
                               g->cfg.status_timeout_ms * 4, NULL, &rs);
    if (rc == 0)
        atomic_store(&g->stop_sent_ns[idx], lt_now_ns());
    pthread_mutex_unlock(&stop_mu);
    if (rc != 0)
        return gw_reply_rpc_error(r, rc, &rs, false);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", gw_json_u64(id));
    json_object_object_add(o, "signal", json_object_new_string("Cluster/Shutdown"));
    return gw_reply_json(r, 200, o, NULL);
}

static int gw_cluster_restart(struct gw_req *r)
{
    struct gw *g = r->gw;
    uint64_t id;
    if (gw_cluster_node_id(r, &id) < 0)
        return r->status;
    if (!g->sup)
        return gw_reply_error(r, 501, "UNIMPLEMENTED", NULL,
                              "restart needs supervisor mode: this gateway is attached to a "
                              "cluster it does not run");
    pid_t pid = 0;
    int rc = sup_restart(g->sup, (unsigned)id, &pid);
    if (rc == LT_EEXIST)
        return gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL, "node %llu is running",
                              (unsigned long long)id);
    if (rc == LT_EBUSY)
        return gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL,
                              "node %llu was signalled and has not exited yet: kill it (without "
                              "?graceful) to force it, then restart it",
                              (unsigned long long)id);
    struct sup_node_info si;
    if (rc == LT_EIO && sup_node_info(g->sup, (unsigned)id, &si) == 0 && si.last_error[0])
        return gw_reply_error(r, 500, "INTERNAL", NULL, "node %llu could not be started: %s",
                              (unsigned long long)id, si.last_error);
    if (rc != 0)
        return gw_reply_error(r, rc == LT_ESHUTDOWN ? 503 : 500,
                              rc == LT_ESHUTDOWN ? "UNAVAILABLE" : "INTERNAL", NULL,
                              "restart failed: %s", lt_strerror(rc));
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", gw_json_u64(id));
    json_object_object_add(o, "pid", json_object_new_int64(pid));
    return gw_reply_json(r, 200, o, NULL);
}

static int gw_cluster_force_election(struct gw_req *r)
{
    struct gw *g = r->gw;
    uint64_t target = 0;
    bool given = false; /* a target named: 0 is then no node, not "the best follower" */
    char v[32];
    int rc = gw_query(r, "target", v, sizeof(v));
    if (rc != LT_ENOTFOUND) {
        /* a node's id as the paths write it: "04" names no node (kill/04 is a 404 too) */
        if (rc < 0 || (v[0] == '0' && v[1]) || gw_parse_u64(v, 0, UINT64_MAX, &target) != 0)
            return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                                  "bad query parameter 'target': expected a node id");
        given = true;
    }
    json_object *j = NULL, *t;
    if (gw_read_json(r, true, &j) < 0)
        return r->status;
    json_object_object_foreach(j, key, val)
    {
        (void)val;
        if (strcmp(key, "target") != 0) {
            gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "unknown field '%.60s'", key);
            json_object_put(j);
            return r->status;
        }
    }
    if (json_object_object_get_ex(j, "target", &t) && !json_object_is_type(t, json_type_null)) {
        /* read unsigned: json-c holds 2^63..2^64-1 as such, and int64 would clamp */
        int64_t x = json_object_get_int64(t);
        if (!json_object_is_type(t, json_type_int) || x < 0) {
            json_object_put(j);
            return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                                  "bad field 'target': expected a node id");
        }
        uint64_t body_target = json_object_get_uint64(t);
        if (given && body_target != target) {
            json_object_put(j);
            return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                                  "two targets: %llu in the query, %llu in the body",
                                  (unsigned long long)target, (unsigned long long)body_target);
        }
        target = body_target;
        given = true;
    }
    json_object_put(j);
    if (given && gw_node_index(g, target) < 0)
        return gw_reply_error(r, 404, "NOT_FOUND", NULL, "no node %llu",
                              (unsigned long long)target);
    struct sup_node_info si;
    if (target && g->sup && sup_node_info(g->sup, (unsigned)target, &si) == 0 && !si.running)
        return gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL,
                              "node %llu is not running: it cannot take the leadership",
                              (unsigned long long)target);
    Lithair__V1__TransferLeaderRequest req = LITHAIR__V1__TRANSFER_LEADER_REQUEST__INIT;
    req.target = target;
    Lithair__V1__TransferLeaderReply *tr = NULL;
    struct rpc_status st;
    uint64_t t0 = lt_now_ns();
    rc = rpc_call(g->client, "Cluster/TransferLeader", &req.base,
                  &lithair__v1__transfer_leader_reply__descriptor, g->cfg.rpc_timeout_ms,
                  (ProtobufCMessage **)&tr, &st);
    /* The leader says what it knows of the target (whether it heard from it lately); a
     * supervisor also knows whether its process runs, and since when: one that runs but
     * was not heard from is starting or stalled, not down. */
    if (rc != 0 && st.code == LITHAIR__V1__CODE__ABORTED && target && g->sup &&
        sup_node_info(g->sup, (unsigned)target, &si) == 0 && si.running)
        return gw_reply_error(r, gw_http_status(st.code, false, false), "ABORTED", NULL,
                              "%s; node %llu's process is running (pid %d, started %.1f s ago)",
                              st.message, (unsigned long long)target, (int)si.pid,
                              (double)si.uptime_ms / 1000.0);
    if (rc != 0)
        return gw_reply_rpc_error(r, rc, &st, false);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "leaderId", gw_json_u64(tr->leader_id));
    json_object_object_add(o, "term", gw_json_u64(tr->term));
    double ms = tr->elapsed_us ? (double)tr->elapsed_us / 1000.0 : (double)(lt_now_ns() - t0) / 1e6;
    char mstxt[32];
    snprintf(mstxt, sizeof(mstxt), "%.3f", ms); /* printed as measured, not as 0.00400000001 */
    json_object_object_add(o, "elapsedMs", json_object_new_double_s(ms, mstxt));
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    int idx = gw_node_index(g, json_object_get_int64(json_object_object_get(o, "leaderId")));
    if (idx >= 0)
        rpc_client_set_leader(g->client, idx);
    return gw_reply_json(r, 200, o, NULL);
}

/* gw_cluster_each answers {"nodes": [...]}: `method` on every node, each reply as JSON
 * with its id. The reply's own node id (the uint64 at `id_off` in it) must be the one
 * --node gave: the reply of another node is a failure naming it, never shown under the
 * wrong id (gw_fan_wrong_node). A node that did not answer is {"id", "error", "code"}: in
 * "nodes" when `failed_apart` is false, else in a separate "failed" array. */
static int gw_cluster_each(struct gw_req *r, const char *method, const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *desc, size_t id_off,
                           unsigned timeout_ms, bool failed_apart)
{
    struct gw *g = r->gw;
    struct gw_fan *fans = calloc(GW_MAX_NODES, sizeof(*fans)); /* small thread stacks */
    if (!fans)
        return gw_reply_error(r, 500, "INTERNAL", NULL, "out of memory");
    gw_fanout(g, method, req, desc, timeout_ms, fans);
    for (size_t i = 0; i < g->n_nodes; i++)
        if (fans[i].rc == 0)
            gw_fan_wrong_node(g, &fans[i],
                              *(const uint64_t *)((const char *)fans[i].resp + id_off));
    json_object *o = json_object_new_object(), *arr = json_object_new_array(),
                *failed = json_object_new_array();
    for (size_t i = 0; i < g->n_nodes; i++) {
        json_object *n = fans[i].rc == 0 ? gw_message_json(fans[i].resp) : json_object_new_object();
        json_object_object_add(n, "id", gw_json_u64(g->nodes[i].id));
        if (fans[i].rc != 0) {
            json_object_object_add(n, "error",
                                   json_object_new_string(fans[i].st.message[0]
                                                              ? fans[i].st.message
                                                              : lt_strerror(fans[i].rc)));
            json_object_object_add(n, "code",
                                   json_object_new_string(wire_code_name(fans[i].st.code)));
        }
        json_object_array_add(fans[i].rc != 0 && failed_apart ? failed : arr, n);
    }
    gw_fan_free(g, fans);
    free(fans);
    json_object_object_add(o, "nodes", arr);
    if (failed_apart)
        json_object_object_add(o, "failed", failed);
    else
        json_object_put(failed);
    return gw_reply_json(r, 200, o, NULL);
}

static int gw_cluster_wal_stats(struct gw_req *r)
{
    Lithair__V1__WalStatsRequest req = LITHAIR__V1__WAL_STATS_REQUEST__INIT;
    return gw_cluster_each(
        r, "Cluster/WalStats", &req.base, &lithair__v1__wal_stats_reply__descriptor,
        offsetof(Lithair__V1__WalStatsReply, id), r->gw->cfg.status_timeout_ms * 2, false);
}

static int gw_cluster_snapshot(struct gw_req *r)
{
    Lithair__V1__SnapshotRequest req = LITHAIR__V1__SNAPSHOT_REQUEST__INIT;
    return gw_cluster_each(
        r, "Cluster/Snapshot", &req.base, &lithair__v1__snapshot_reply__descriptor,
        offsetof(Lithair__V1__SnapshotReply, id), r->gw->cfg.rpc_timeout_ms, true);
}

int gw_cluster_register(struct gw *g)
{
    int rc;
    if ((rc = gw_route_add(g, "GET", "/_playground/cluster/status", gw_cluster_status, NULL,
                           "cluster_status")) ||
        (rc = gw_route_add(g, "POST", "/_playground/cluster/kill/:id", gw_cluster_kill, NULL,
                           "cluster_kill")) ||
        (rc = gw_route_add(g, "POST", "/_playground/cluster/restart/:id", gw_cluster_restart, NULL,
                           "cluster_restart")) ||
        (rc = gw_route_add(g, "POST", "/_playground/cluster/force-election",
                           gw_cluster_force_election, NULL, "cluster_force_election")) ||
        (rc = gw_route_add(g, "GET", "/_playground/cluster/wal-stats", gw_cluster_wal_stats, NULL,
                           "cluster_wal_stats")) ||
        (rc = gw_route_add(g, "POST", "/_playground/cluster/snapshot", gw_cluster_snapshot, NULL,
                           "cluster_snapshot")))
        return rc;
    return 0;
}

/* gw_cluster_fetch_status is gw_cluster_status_json for other modules (/metrics). */
json_object *gw_cluster_fetch_status(struct gw *g)
{
    return gw_cluster_status_json(g, NULL, NULL);
}
