/* events.c — the bridge from the nodes' pub0 event streams to the SSE hub (see events.h).
 *
 * The JSON is built field by field with json-c rather than by the generic transcoder,
 * because docs/API.md shows counters and indexes as JSON numbers (the proto3 mapping
 * would make the uint64 fields strings) and names roles "pre-candidate".
 *
 * Committed events are one per applied entry per node: under a benchmark that is tens of
 * thousands a second, far more than a browser can take (it would fall a ring behind and
 * be dropped). So `committed` is rate-limited per node by a token bucket (default
 * EVB_COMMITTED_PER_SEC a second, burst as large); what exceeds it is counted, not sent,
 * and the next `committed` that passes carries "skipped": N. Role, progress and metrics
 * events are few (on change, 4 Hz) and always pass. The limit only drops: an event that
 * passes is published at once, never held back for a token.
 *
 * Which entries pass is decided once per log index, for every node: the first node's copy
 * of an entry to arrive decides — every `stride`-th passes (index % stride == 0, the stride
 * a power of two sized every EVB_STRIDE_WINDOW_NS to the busiest node's rate, so that it
 * stays under three quarters of the limit) if the bridge's own bucket (the same limit)
 * has a token — and the decision is kept in a ring of EVB_DECISIONS indexes, which every
 * later copy of that entry follows. Each node's bucket alone would pass the first entries
 * of each of its batches, and the nodes' batches do not start at the same entries: under
 * a benchmark the page saw nearly every entry from one node only ("1/3") although all
 * three had it; a stride alone still differed wherever it changed between two nodes'
 * copies of an entry. Each node's bucket stays as the bound of what it sends, with twice
 * the limit as its burst, so that a node whose copies arrive sooner or later than usual
 * still has a token for every entry decided: only a node replaying the log much faster
 * than the limit (catching up) sends less than the others.
 *
 * Every event carries "at", the node's wall clock when it published the event (Event.at;
 * for `committed`, the end of the apply round that applied the first entry of the node's
 * batch: lithair-node --event-batch-ms), as Unix
 * milliseconds with microsecond precision, so a client on the same clock can tell how
 * long an event took to reach it (tools/bench/sse_bench.py). */
#include "events.h"

#include <json-c/json.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_clock.h"
#include "lt_err.h"
#include "lt_log.h"
#include "nng_close.h"
#include "wire.h"

#define EVB_CLOSE_MS         2000         /* longest wait for the subscriber socket to close */
#define EVB_RECV_TIMEOUT_MS  200          /* how often the receiving thread looks at `stop` */
#define EVB_AT_MAX_SECONDS   253402300799 /* 9999-12-31T23:59:59Z */
#define EVB_STRIDE_WINDOW_NS (250 * 1000000ull) /* how often the sampling stride is sized */
#define EVB_STRIDE_MAX       (1ull << 24)
#define EVB_DECISIONS        16384 /* the last decisions kept, by index: how far nodes may differ */

struct evb_node {
    struct evb_node_state st;
    double tokens;      /* committed events this node may still publish (burst: 2x the limit) */
    uint64_t refill_ns; /* when tokens were last refilled */
    uint64_t skipped;   /* committed events not published since the last one that was */
    uint64_t window;    /* committed events received in the current stride window */
};

struct evb {
    nng_socket sock;
    struct sse_hub *hub;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mu;
    unsigned committed_per_sec;
    uint64_t stride;    /* committed entries pass when index % stride == 0 (power of two) */
    uint64_t window_ns; /* when the current stride window began */
    double tokens;      /* the decisions' bucket: committed entries that may still pass */
    uint64_t refill_ns; /* when tokens were last refilled */
    struct evb_decision {
        uint64_t index; /* 0: none yet */
        bool pass;
    } * decided; /* EVB_DECISIONS slots: entry `index` is in slot index % EVB_DECISIONS */
    size_t n_nodes;
    struct evb_node nodes[EVB_MAX_NODES];
};

const char *evb_role_name(int role)
{
    switch (role) {
    case LITHAIR__V1__NODE_ROLE__FOLLOWER:
        return "follower";
    case LITHAIR__V1__NODE_ROLE__PRE_CANDIDATE:
        return "pre-candidate";
    case LITHAIR__V1__NODE_ROLE__CANDIDATE:
        return "candidate";
    case LITHAIR__V1__NODE_ROLE__LEADER:
        return "leader";
    }
    return "unknown";
}

static const char *evb_op_name(int op)
{
    switch (op) {
    case LITHAIR__V1__COMMITTED_EVENT__OP__CREATE:
        return "create";
    case LITHAIR__V1__COMMITTED_EVENT__OP__UPDATE:
        return "update";
    case LITHAIR__V1__COMMITTED_EVENT__OP__DELETE:
        return "delete";
    case LITHAIR__V1__COMMITTED_EVENT__OP__PURGE:
        return "purge";
    case LITHAIR__V1__COMMITTED_EVENT__OP__NOOP:
        return "noop";
    case LITHAIR__V1__COMMITTED_EVENT__OP__CONF_CHANGE:
        return "conf-change";
    }
    return "unknown";
}

static const char *evb_state_name(int st)
{
    switch (st) {
    case LITHAIR__V1__FOLLOWER_PROGRESS__STATE__PROBE:
        return "probe";
    case LITHAIR__V1__FOLLOWER_PROGRESS__STATE__REPLICATE:
        return "replicate";
    case LITHAIR__V1__FOLLOWER_PROGRESS__STATE__SNAPSHOT:
        return "snapshot";
    }
    return "unknown";
}

/* evb_add adds key → value; returns false when out of memory (value freed). */
static bool evb_add(json_object *o, const char *k, json_object *v)
{
    if (!v)
        return false;
    if (json_object_object_add(o, k, v)) {
        json_object_put(v);
        return false;
    }
    return true;
}

static bool evb_add_u64(json_object *o, const char *k, uint64_t v)
{
    return evb_add(o, k, json_object_new_uint64(v));
}

static bool evb_add_str(json_object *o, const char *k, const char *v)
{
    return evb_add(o, k, json_object_new_string(v ? v : ""));
}

/* evb_add_at adds "at": the node's publish time (Event.at) as Unix milliseconds with
 * microsecond precision, a JSON number written exactly ("1795000000123.456", not the
 * nearest double's 17 digits). Absent (true, nothing added) when the node sent no time or
 * one outside 1970..9999. */
static bool evb_add_at(json_object *o, const Lithair__V1__Timestamp *at)
{
    if (!at || at->seconds < 0 || at->seconds > EVB_AT_MAX_SECONDS || at->nanos < 0 ||
        at->nanos >= 1000000000)
        return true;
    uint64_t us = (uint64_t)at->seconds * 1000000u + (uint64_t)at->nanos / 1000u;
    char text[32];
    snprintf(text, sizeof(text), "%llu.%03u", (unsigned long long)(us / 1000u),
             (unsigned)(us % 1000u));
    return evb_add(o, "at", json_object_new_double_s((double)us / 1000.0, text));
}

static bool evb_json_committed(json_object *o, const Lithair__V1__CommittedEvent *c)
{
    /* whose session or account changed is nobody else's business: the stream shows that
     * the entry committed, not which user or session it was */
    bool private = strcmp(c->model, "sessions") == 0 || strcmp(c->model, "users") == 0;
    return evb_add_str(o, "model", c->model) && evb_add_str(o, "id", private ? "" : c->id) &&
           evb_add_str(o, "op", evb_op_name(c->op)) && evb_add_u64(o, "index", c->index) &&
           evb_add_u64(o, "term", c->term) && evb_add_u64(o, "version", c->version) &&
           evb_add_str(o, "result", wire_code_name(c->result));
}

static bool evb_json_role(json_object *o, const Lithair__V1__RoleEvent *r)
{
    return evb_add_str(o, "role", evb_role_name(r->role)) && evb_add_u64(o, "term", r->term) &&
           evb_add_u64(o, "leaderId", r->leader_id);
}

static bool evb_json_progress(json_object *o, const Lithair__V1__ProgressEvent *p)
{
    if (!evb_add_u64(o, "lastIndex", p->last_index) || !evb_add_u64(o, "commit", p->commit))
        return false;
    json_object *arr = json_object_new_array();
    if (!evb_add(o, "followers", arr))
        return false;
    for (size_t i = 0; i < p->n_followers; i++) {
        const Lithair__V1__FollowerProgress *f = p->followers[i];
        json_object *fo = json_object_new_object();
        if (!fo || json_object_array_add(arr, fo)) {
            json_object_put(fo);
            return false;
        }
        if (!evb_add_u64(fo, "id", f->id) || !evb_add_u64(fo, "match", f->match) ||
            !evb_add_u64(fo, "next", f->next) ||
            !evb_add_str(fo, "state", evb_state_name(f->state)) ||
            !evb_add_u64(fo, "lag", f->lag) || !evb_add_u64(fo, "inflight", f->inflight) ||
            !evb_add_u64(fo, "ahead", f->ahead) ||
            !evb_add(fo, "recentActive", json_object_new_boolean(f->recent_active)))
            return false;
    }
    return true;
}

static bool evb_json_metrics(json_object *o, const Lithair__V1__MetricsEvent *m)
{
    return evb_add(o, "appliedPerSec", json_object_new_double(m->applied_per_sec)) &&
           evb_add_u64(o, "commit", m->commit) && evb_add_u64(o, "applied", m->applied) &&
           evb_add_u64(o, "walBytes", m->wal_bytes) &&
           evb_add_u64(o, "fsyncP99Us", m->fsync_p99_us) && evb_add_u64(o, "term", m->term) &&
           evb_add_str(o, "role", evb_role_name(m->role)) &&
           evb_add_u64(o, "leaderId", m->leader_id) &&
           evb_add_u64(o, "pendingProposals", m->pending_proposals) &&
           evb_add_u64(o, "lastIndex", m->last_index) &&
           evb_add_u64(o, "snapshotIndex", m->snapshot_index);
}

/* evb_json builds the hub event of a decoded Event, with `skipped` when non-zero. */
static int evb_json(const Lithair__V1__Event *ev, uint64_t skipped, char *name, unsigned *mask,
                    char **json)
{
    const char *nm;
    unsigned mk;
    switch (ev->kind_case) {
    case LITHAIR__V1__EVENT__KIND_COMMITTED:
        nm = "committed";
        mk = SSE_STREAM_REPLICATION;
        break;
    case LITHAIR__V1__EVENT__KIND_ROLE:
        nm = "role";
        mk = SSE_STREAM_CLUSTER;
        break;
    case LITHAIR__V1__EVENT__KIND_PROGRESS:
        nm = "progress";
        mk = SSE_STREAM_REPLICATION;
        break;
    case LITHAIR__V1__EVENT__KIND_METRICS:
        nm = "metrics";
        mk = SSE_STREAM_REPLICATION;
        break;
    default:
        return LT_EUNSUPPORTED;
    }
    int rc = LT_ENOMEM;
    json_object *o = json_object_new_object();
    if (!o || !evb_add_u64(o, "node", ev->node_id) || !evb_add_at(o, ev->at))
        goto out_put;
    bool ok = false;
    switch (ev->kind_case) {
    case LITHAIR__V1__EVENT__KIND_COMMITTED:
        ok = evb_json_committed(o, ev->committed) &&
             (!skipped || evb_add_u64(o, "skipped", skipped));
        break;
    case LITHAIR__V1__EVENT__KIND_ROLE:
        ok = evb_json_role(o, ev->role);
        break;
    case LITHAIR__V1__EVENT__KIND_PROGRESS:
        ok = evb_json_progress(o, ev->progress);
        break;
    default:
        ok = evb_json_metrics(o, ev->metrics);
        break;
    }
    if (!ok)
        goto out_put;
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char *copy = text ? strdup(text) : NULL;
    if (!copy)
        goto out_put;
    strcpy(name, nm);
    *mask = mk;
    *json = copy;
    rc = 0;
out_put:
    json_object_put(o);
    return rc;
}

int evb_event_json(const uint8_t *buf, size_t len, char *name, unsigned *mask, char **json)
{
    Lithair__V1__Event *ev = lithair__v1__event__unpack(NULL, len, buf);
    if (!ev)
        return LT_ECORRUPT;
    int rc = evb_json(ev, 0, name, mask, json);
    lithair__v1__event__free_unpacked(ev, NULL);
    return rc;
}

/* evb_node_get finds or adds node `id`'s slot. Lock held. NULL when the table is full. */
static struct evb_node *evb_node_get(struct evb *b, uint64_t id)
{
    for (size_t i = 0; i < b->n_nodes; i++)
        if (b->nodes[i].st.node_id == id)
            return &b->nodes[i];
    if (b->n_nodes == EVB_MAX_NODES)
        return NULL;
    struct evb_node *n = &b->nodes[b->n_nodes++];
    memset(n, 0, sizeof(*n));
    n->st.node_id = id;
    n->tokens = 2.0 * b->committed_per_sec;
    n->refill_ns = lt_now_ns();
    return n;
}

/* evb_stride_update (lock held) sizes the stride once a window is over: the smallest power
 * of two that brings the busiest node's committed rate in the window under 3/4 of the
 * limit (1 when every entry fits). A window that lasted over twice its length saw the
 * entries stop for a while: back to 1, so that the next write is not sampled out. */
static void evb_stride_update(struct evb *b, uint64_t now)
{
    uint64_t elapsed = now - b->window_ns;
    if (elapsed < EVB_STRIDE_WINDOW_NS)
        return;
    uint64_t most = 0;
    for (size_t i = 0; i < b->n_nodes; i++) {
        if (b->nodes[i].window > most)
            most = b->nodes[i].window;
        b->nodes[i].window = 0;
    }
    uint64_t stride = 1;
    if (elapsed <= 2 * EVB_STRIDE_WINDOW_NS) {
        double rate = (double)most * 1e9 / (double)elapsed;
        double fits = 0.75 * b->committed_per_sec;
        while (stride < EVB_STRIDE_MAX && rate / (double)stride > fits)
            stride *= 2;
    }
    b->stride = stride;
    b->window_ns = now;
}

/* evb_refill adds the tokens earned since *at at `rate` a second, at most `burst`. */
static void evb_refill(double *tokens, uint64_t *at, double rate, double burst, uint64_t now)
{
    *tokens += (double)(now - *at) / 1e9 * rate;
    if (*tokens > burst)
        *tokens = burst;
    *at = now;
}

/* evb_note records what `ev` says about its node and decides whether a committed event
 * passes the rate limit and the sampling by index; *skipped gets the count to report with
 * it. */
static bool evb_note(struct evb *b, const Lithair__V1__Event *ev, uint64_t *skipped)
{
    bool pass = true;
    *skipped = 0;
    pthread_mutex_lock(&b->mu);
    struct evb_node *n = evb_node_get(b, ev->node_id);
    if (n) {
        struct evb_node_state *st = &n->st;
        uint64_t now = lt_now_ns();
        st->seen = true;
        st->last_at_ms = now / 1000000u;
        st->events++;
        switch (ev->kind_case) {
        case LITHAIR__V1__EVENT__KIND_ROLE:
            st->role = ev->role->role;
            st->term = ev->role->term;
            st->leader_id = ev->role->leader_id;
            break;
        case LITHAIR__V1__EVENT__KIND_METRICS: {
            const Lithair__V1__MetricsEvent *m = ev->metrics;
            st->role = m->role;
            st->term = m->term;
            st->leader_id = m->leader_id;
            st->commit = m->commit;
            st->applied = m->applied;
            st->last_index = m->last_index;
            st->snapshot_index = m->snapshot_index;
            st->wal_bytes = m->wal_bytes;
            st->fsync_p99_us = m->fsync_p99_us;
            st->applied_per_sec = m->applied_per_sec;
            break;
        }
        case LITHAIR__V1__EVENT__KIND_COMMITTED:
            if (b->committed_per_sec) {
                double rate = b->committed_per_sec;
                uint64_t index = ev->committed->index;
                evb_stride_update(b, now);
                n->window++;
                evb_refill(&n->tokens, &n->refill_ns, rate, 2 * rate, now);
                evb_refill(&b->tokens, &b->refill_ns, rate, rate, now);
                struct evb_decision *d = &b->decided[index % EVB_DECISIONS];
                bool chosen;
                if (d->index == index && index != 0) {
                    chosen = d->pass; /* another node's copy of this entry came first */
                } else {
                    chosen = index % b->stride == 0 && b->tokens >= 1.0;
                    if (chosen)
                        b->tokens -= 1.0;
                    if (d->index < index) /* else far behind the others: not recorded */
                        *d = (struct evb_decision){index, chosen};
                }
                if (chosen && n->tokens >= 1.0) {
                    n->tokens -= 1.0;
                    *skipped = n->skipped;
                    n->skipped = 0;
                } else {
                    n->skipped++;
                    pass = false;
                }
            }
            break;
        default:
            break;
        }
    }
    pthread_mutex_unlock(&b->mu);
    return pass;
}

/* evb_dispatch records one event and publishes it to the hub unless rate-limited. */
static void evb_dispatch(struct evb *b, const Lithair__V1__Event *ev)
{
    uint64_t skipped;
    if (!evb_note(b, ev, &skipped))
        return;
    char name[SSE_EVENT_NAME_MAX];
    unsigned mask;
    char *json;
    if (evb_json(ev, skipped, name, &mask, &json) == 0) {
        sse_hub_publish(b->hub, mask, name, json, NULL);
        free(json);
    }
}

static void *evb_main(void *arg)
{
    struct evb *b = arg;
    /* One aio for every receive: nng_recvmsg would allocate one per event, each costing
     * NNG 1.5 a getrandom() system call. */
    nng_aio *aio;
    if (nng_aio_alloc(&aio, NULL, NULL) != 0) {
        lt_log(LT_LOG_ERROR, "events: out of memory: no events from the nodes");
        return NULL;
    }
    nng_aio_set_timeout(aio, EVB_RECV_TIMEOUT_MS);
    while (!atomic_load(&b->stop)) {
        nng_recv_aio(b->sock, aio);
        nng_aio_wait(aio);
        int rv = nng_aio_result(aio);
        if (rv == NNG_ECLOSED)
            break;
        if (rv)
            continue; /* NNG_ETIMEDOUT: check stop */
        nng_msg *m = nng_aio_get_msg(aio);
        Lithair__V1__Event *ev = lithair__v1__event__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
        nng_msg_free(m);
        if (!ev) {
            lt_log(LT_LOG_WARN, "events: an event that does not decode was ignored");
            continue;
        }
        if (ev->kind_case == LITHAIR__V1__EVENT__KIND_COMMITTED_BATCH) {
            /* A node's apply round: each entry goes through the same path as a single
             * committed event (state, rate limit, one SSE event each). */
            Lithair__V1__Event one = *ev;
            one.kind_case = LITHAIR__V1__EVENT__KIND_COMMITTED;
            for (size_t i = 0; ev->committed_batch && i < ev->committed_batch->n_entries; i++) {
                one.committed = ev->committed_batch->entries[i];
                evb_dispatch(b, &one);
            }
        } else {
            evb_dispatch(b, ev);
        }
        lithair__v1__event__free_unpacked(ev, NULL);
    }
    nng_aio_free(aio);
    return NULL;
}

int evb_new(const char *urls, struct sse_hub *hub, struct evb **out)
{
    if (!urls || !*urls || !hub)
        return LT_EINVAL;
    struct evb *b = calloc(1, sizeof(*b));
    if (!b)
        return LT_ENOMEM;
    b->hub = hub;
    b->committed_per_sec = EVB_COMMITTED_PER_SEC;
    b->stride = 1;
    b->window_ns = lt_now_ns();
    b->tokens = b->committed_per_sec;
    b->refill_ns = b->window_ns;
    b->decided = calloc(EVB_DECISIONS, sizeof(*b->decided));
    if (!b->decided) {
        free(b);
        return LT_ENOMEM;
    }
    atomic_init(&b->stop, false);
    int rc = LT_EIO;
    if (nng_sub0_open(&b->sock))
        goto out_free;
    /* A restarted node's first events (its role, its first metrics) go out before this
     * socket has dialled it again: at most the redial interval is lost. It backs off from
     * 50 ms to at most 250 ms (it was 1 s: a node down a few seconds was heard again up to
     * a second after it served); a dial of a closed port on loopback costs nothing. */
    if (nng_socket_set(b->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0) ||
        nng_socket_set_ms(b->sock, NNG_OPT_RECONNMINT, 50) ||
        nng_socket_set_ms(b->sock, NNG_OPT_RECONNMAXT, 250) ||
        nng_socket_set_int(b->sock, NNG_OPT_RECVBUF, 1024))
        goto out_close;
    rc = LT_ENOMEM;
    char *list = strdup(urls);
    if (!list)
        goto out_close;
    rc = 0;
    size_t count = 0;
    char *save = NULL;
    for (char *u = strtok_r(list, ",", &save); u && !rc; u = strtok_r(NULL, ",", &save)) {
        if (++count > EVB_MAX_NODES || nng_dial(b->sock, u, NULL, NNG_FLAG_NONBLOCK))
            rc = LT_EINVAL;
    }
    free(list);
    if (!rc && count == 0)
        rc = LT_EINVAL;
    if (rc)
        goto out_close;
    rc = LT_EIO;
    pthread_mutex_init(&b->mu, NULL);
    if (pthread_create(&b->thread, NULL, evb_main, b)) {
        pthread_mutex_destroy(&b->mu);
        goto out_close;
    }
    *out = b;
    return 0;

out_close:
    nng_close(b->sock);
out_free:
    free(b->decided);
    free(b);
    return rc;
}

void evb_stop(struct evb *b)
{
    if (!b || atomic_exchange(&b->stop, true))
        return;
    pthread_join(b->thread, NULL); /* its receive times out: it sees `stop` */
}

void evb_free(struct evb *b)
{
    if (!b)
        return;
    atomic_store(&b->stop, true);
    /* A sub0 socket closed under a busy stream can hang in NNG 1.5 (nng_close.h); its
     * receive is aborted all the same, so the thread ends. */
    if (!nng_close_within(b->sock, EVB_CLOSE_MS))
        lt_log(LT_LOG_WARN,
               "events: the subscriber socket did not close within %d ms (an NNG "
               "1.5 bug); going on",
               EVB_CLOSE_MS);
    pthread_join(b->thread, NULL);
    pthread_mutex_destroy(&b->mu);
    free(b->decided);
    free(b);
}

void evb_set_committed_limit(struct evb *b, unsigned per_sec)
{
    pthread_mutex_lock(&b->mu);
    b->committed_per_sec = per_sec;
    b->tokens = per_sec;
    for (size_t i = 0; i < b->n_nodes; i++)
        b->nodes[i].tokens = 2.0 * per_sec;
    pthread_mutex_unlock(&b->mu);
}

int evb_node_state(struct evb *b, uint64_t node_id, struct evb_node_state *out)
{
    int rc = LT_ENOTFOUND;
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->n_nodes; i++) {
        if (b->nodes[i].st.node_id == node_id && b->nodes[i].st.seen) {
            *out = b->nodes[i].st;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}
