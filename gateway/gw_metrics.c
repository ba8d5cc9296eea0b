/* gw_metrics.c — GET /metrics in the Prometheus text format (version 0.0.4): the
 * gateway's own request counters by route and status and its request latency histogram
 * (an lt_hist), the write coalescer's batches, and per node what Cluster/Status and
 * Cluster/WalStats report (role, term, commit/applied/last index, WAL bytes, leader
 * changes seen by the gateway, fsync latency histogram) plus its circuit breaker.
 *
 * Not here: the numbers' sources (gw_cluster.c, the nodes). */
#include <civetweb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_hist.h"
#include "wire.h"

#define GW_METRICS_SERIES 256

/* Request latency is recorded without a lock: each HTTP thread has its own histogram
 * (lt_hist is single-writer), found through a thread-local pointer and listed here so a
 * scrape can merge them. Counters are atomics; a new (route, status) series is appended
 * under the mutex and published by storing n_series last. */
#define GW_METRICS_THREADS 4096

struct gw_metrics {
    pthread_mutex_t mu;
    struct {
        const char *route; /* static strings: route names */
        int status;
        uint64_t count; /* atomic */
    } series[GW_METRICS_SERIES];
    size_t n_series; /* atomic (release on append) */
    struct lt_hist *hists[GW_METRICS_THREADS];
    uint64_t sums[GW_METRICS_THREADS]; /* ns, per thread, atomic */
    size_t n_hists;                    /* atomic */
    uint64_t last_leader[GW_MAX_NODES];
    uint64_t leader_changes[GW_MAX_NODES];
};

static _Thread_local struct {
    const struct gw_metrics *owner;
    size_t slot;
} gw_tl = {NULL, 0};

void gw_metrics_observe(struct gw *g, const char *route, int status, uint64_t ns)
{
    struct gw_metrics *m = g->metrics;
    if (!m)
        return;
    size_t n = __atomic_load_n(&m->n_series, __ATOMIC_ACQUIRE), i = 0;
    for (; i < n; i++) {
        if (m->series[i].status == status && strcmp(m->series[i].route, route) == 0)
            break;
    }
    if (i == n) {
        pthread_mutex_lock(&m->mu);
        n = m->n_series;
        for (i = 0; i < n; i++) {
            if (m->series[i].status == status && strcmp(m->series[i].route, route) == 0)
                break;
        }
        if (i == n && n < GW_METRICS_SERIES) {
            m->series[i].route = route;
            m->series[i].status = status;
            m->series[i].count = 0;
            __atomic_store_n(&m->n_series, n + 1, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&m->mu);
    }
    if (i < GW_METRICS_SERIES)
        __atomic_fetch_add(&m->series[i].count, 1, __ATOMIC_RELAXED);
    if (gw_tl.owner != m) {
        struct lt_hist *h = lt_hist_new();
        pthread_mutex_lock(&m->mu);
        if (h && m->n_hists < GW_METRICS_THREADS) {
            m->hists[m->n_hists] = h;
            gw_tl.slot = m->n_hists;
            gw_tl.owner = m;
            __atomic_store_n(&m->n_hists, m->n_hists + 1, __ATOMIC_RELEASE);
            h = NULL;
        }
        pthread_mutex_unlock(&m->mu);
        lt_hist_free(h);
        if (gw_tl.owner != m)
            return;
    }
    lt_hist_record(m->hists[gw_tl.slot], ns);
    __atomic_fetch_add(&m->sums[gw_tl.slot], ns, __ATOMIC_RELAXED);
}

/* A growing text buffer. */
struct gw_buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void gw_buf_printf(struct gw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void gw_buf_printf(struct gw_buf *b, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !b->oom; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (k < 0)
            return;
        if ((size_t)k < b->cap - b->len) {
            b->len += (size_t)k;
            return;
        }
        size_t ncap = (b->cap + (size_t)k + 1) * 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

/* gw_hist_prom writes an lt_hist (ns) as a Prometheus histogram in seconds. */
static void gw_hist_prom(struct gw_buf *b, const char *name, const char *labels,
                         const struct lt_hist *h, double sum_s)
{
    static const double les[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
    uint64_t cum[sizeof(les) / sizeof(les[0])] = {0};
    size_t cur = 0;
    struct lt_hist_bucket bk;
    while (lt_hist_next(h, &cur, &bk)) {
        for (size_t i = 0; i < sizeof(les) / sizeof(les[0]); i++) {
            if ((double)bk.hi_ns <= les[i] * 1e9)
                cum[i] += bk.count;
        }
    }
    for (size_t i = 0; i < sizeof(les) / sizeof(les[0]); i++)
        gw_buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, *labels ? "," : "",
                      les[i], (unsigned long long)cum[i]);
    gw_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, *labels ? "," : "",
                  (unsigned long long)lt_hist_count(h));
    /* no labels: no braces ("name{}" is outside the format's grammar) */
    const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    gw_buf_printf(b, "%s_sum%s%s%s %.6f\n", name, open, labels, close, sum_s);
    gw_buf_printf(b, "%s_count%s%s%s %llu\n", name, open, labels, close,
                  (unsigned long long)lt_hist_count(h));
}

static int gw_metrics_get(struct gw_req *r)
{
    struct gw *g = r->gw;
    struct gw_metrics *m = g->metrics;
    struct gw_buf b = {.p = malloc(16384), .cap = 16384};
    if (!b.p)
        return gw_reply_error(r, 500, "INTERNAL", NULL, "out of memory");
    b.p[0] = '\0';
    struct lt_hist *snap = lt_hist_new();

    /* per node: Cluster/Status and Cluster/WalStats, one node at a time, short timeout;
     * gathered first, then written one metric family at a time (the format wants each
     * family's samples together, after its TYPE line) */
    Lithair__V1__NodeStatus *nss[GW_MAX_NODES] = {0};
    Lithair__V1__WalStatsReply *wss[GW_MAX_NODES] = {0};
    uint64_t changes[GW_MAX_NODES] = {0};
    struct rpc_status *st = malloc(sizeof(*st)); /* big: civetweb threads have small stacks */
    for (size_t i = 0; st && i < g->n_nodes; i++) {
        Lithair__V1__StatusRequest sreq = LITHAIR__V1__STATUS_REQUEST__INIT;
        Lithair__V1__WalStatsRequest wreq = LITHAIR__V1__WAL_STATS_REQUEST__INIT;
        if (rpc_call_endpoint(g->client, i, "Cluster/Status", &sreq.base,
                              &lithair__v1__node_status__descriptor, g->cfg.status_timeout_ms,
                              (ProtobufCMessage **)&nss[i], st) != 0) {
            nss[i] = NULL;
            continue;
        }
        /* Another node than --node named at that URL (attach mode, ids swapped): not up,
         * as the cluster status shows it; its figures under this id would be the other's. */
        if (nss[i]->id != g->nodes[i].id) {
            protobuf_c_message_free_unpacked(&nss[i]->base, NULL);
            nss[i] = NULL;
            continue;
        }
        pthread_mutex_lock(&m->mu);
        if (nss[i]->leader_id && m->last_leader[i] && nss[i]->leader_id != m->last_leader[i])
            m->leader_changes[i]++;
        if (nss[i]->leader_id)
            m->last_leader[i] = nss[i]->leader_id;
        changes[i] = m->leader_changes[i];
        pthread_mutex_unlock(&m->mu);
        if (rpc_call_endpoint(g->client, i, "Cluster/WalStats", &wreq.base,
                              &lithair__v1__wal_stats_reply__descriptor, g->cfg.status_timeout_ms,
                              (ProtobufCMessage **)&wss[i], st) != 0)
            wss[i] = NULL;
        else if (wss[i]->id && wss[i]->id != g->nodes[i].id) { /* moved since the status */
            protobuf_c_message_free_unpacked(&wss[i]->base, NULL);
            wss[i] = NULL;
        }
    }
    free(st);
    static const struct {
        const char *name, *type, *help;
        size_t off; /* of the uint64 in NodeStatus; SIZE_MAX: special */
    } fams[] = {
        {"lithair_node_term", "gauge", "Raft term.", offsetof(Lithair__V1__NodeStatus, term)},
        {"lithair_node_leader_id", "gauge", "The leader the node knows (0: none).",
         offsetof(Lithair__V1__NodeStatus, leader_id)},
        {"lithair_node_commit_index", "gauge", "Commit index.",
         offsetof(Lithair__V1__NodeStatus, commit)},
        {"lithair_node_applied_index", "gauge", "Applied index.",
         offsetof(Lithair__V1__NodeStatus, applied)},
        {"lithair_node_last_index", "gauge", "Last log index.",
         offsetof(Lithair__V1__NodeStatus, last_index)},
        {"lithair_node_wal_bytes", "gauge", "Bytes in the write-ahead log.",
         offsetof(Lithair__V1__NodeStatus, wal_bytes)},
        {"lithair_node_snapshot_index", "gauge", "Index of the newest snapshot.",
         offsetof(Lithair__V1__NodeStatus, snapshot_index)},
        {"lithair_node_records", "gauge", "Records in the store, all models.",
         offsetof(Lithair__V1__NodeStatus, records)},
    };
    gw_buf_printf(&b, "# HELP lithair_node_up Whether the node answered Cluster/Status.\n"
                      "# TYPE lithair_node_up gauge\n");
    for (size_t i = 0; i < g->n_nodes; i++)
        gw_buf_printf(&b, "lithair_node_up{node=\"%llu\"} %d\n", (unsigned long long)g->nodes[i].id,
                      nss[i] != NULL);
    static const char *roles[] = {"follower", "pre-candidate", "candidate", "leader"};
    gw_buf_printf(&b, "# HELP lithair_node_role 1 for the node's current role.\n"
                      "# TYPE lithair_node_role gauge\n");
    for (size_t i = 0; i < g->n_nodes; i++) {
        for (int k = 0; nss[i] && k < 4; k++)
            gw_buf_printf(&b, "lithair_node_role{node=\"%llu\",role=\"%s\"} %d\n",
                          (unsigned long long)g->nodes[i].id, roles[k], (int)nss[i]->role == k);
    }
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        gw_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", fams[f].name, fams[f].help, fams[f].name,
                      fams[f].type);
        for (size_t i = 0; i < g->n_nodes; i++) {
            if (nss[i])
                gw_buf_printf(
                    &b, "%s{node=\"%llu\"} %llu\n", fams[f].name,
                    (unsigned long long)g->nodes[i].id,
                    (unsigned long long)*(const uint64_t *)((const char *)nss[i] + fams[f].off));
        }
    }
    gw_buf_printf(&b, "# HELP lithair_node_leader_changes_total Leader changes the gateway saw "
                      "(between scrapes).\n# TYPE lithair_node_leader_changes_total counter\n");
    for (size_t i = 0; i < g->n_nodes; i++)
        gw_buf_printf(&b, "lithair_node_leader_changes_total{node=\"%llu\"} %llu\n",
                      (unsigned long long)g->nodes[i].id, (unsigned long long)changes[i]);
    gw_buf_printf(&b, "# HELP lithair_node_fsync_seconds WAL fdatasync latency.\n"
                      "# TYPE lithair_node_fsync_seconds histogram\n");
    for (size_t i = 0; i < g->n_nodes; i++) {
        const Lithair__V1__WalStatsReply *ws = wss[i];
        unsigned long long id = (unsigned long long)g->nodes[i].id;
        if (!ws)
            continue;
        /* the same buckets for every node and every scrape (16 µs .. 16.8 s, powers of
         * two, as the node counts them), cumulative; _count and _sum of the same batches */
        uint64_t cum = 0, total = 0;
        for (size_t k = 0; k < ws->n_fsync_histogram; k++)
            total += ws->fsync_histogram[k]->count;
        for (unsigned e = 4; e <= 24; e++) {
            uint64_t le = 1ull << e;
            cum = 0;
            for (size_t k = 0; k < ws->n_fsync_histogram; k++)
                if (ws->fsync_histogram[k]->le_us <= le)
                    cum += ws->fsync_histogram[k]->count;
            /* the bound exactly, 2^e us in seconds: %g's 6 digits wrote 2^21 us as
             * 2.09715, below the bucket's true bound */
            gw_buf_printf(&b,
                          "lithair_node_fsync_seconds_bucket{node=\"%llu\",le=\"%llu.%06llu\"} "
                          "%llu\n",
                          id, (unsigned long long)(le / 1000000u),
                          (unsigned long long)(le % 1000000u), (unsigned long long)cum);
        }
        gw_buf_printf(&b, "lithair_node_fsync_seconds_bucket{node=\"%llu\",le=\"+Inf\"} %llu\n", id,
                      (unsigned long long)total);
        gw_buf_printf(&b, "lithair_node_fsync_seconds_sum{node=\"%llu\"} %.6f\n", id,
                      (double)ws->fsync_sum_us / 1e6);
        gw_buf_printf(&b, "lithair_node_fsync_seconds_count{node=\"%llu\"} %llu\n", id,
                      (unsigned long long)total);
    }
    struct rpc_endpoint_stats es[GW_MAX_NODES];
    bool have_es[GW_MAX_NODES];
    for (size_t i = 0; i < g->n_nodes; i++)
        have_es[i] = rpc_client_stats(g->client, i, &es[i]) == 0;
    static const char *efams[] = {"lithair_gateway_circuit_open", "lithair_gateway_rpc_calls_total",
                                  "lithair_gateway_rpc_failures_total"};
    static const char *ehelp[] = {"1 while the node's circuit breaker is open or half-open.",
                                  "RPCs the gateway sent to the node.",
                                  "RPCs to the node that failed."};
    for (int f = 0; f < 3; f++) {
        gw_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", efams[f], ehelp[f], efams[f],
                      f == 0 ? "gauge" : "counter");
        for (size_t i = 0; i < g->n_nodes; i++) {
            if (!have_es[i])
                continue;
            unsigned long long v = f == 0 ? (unsigned long long)(es[i].state != RPC_BREAKER_CLOSED)
                                   : f == 1 ? (unsigned long long)es[i].calls
                                            : (unsigned long long)es[i].failures;
            gw_buf_printf(&b, "%s{node=\"%llu\"} %llu\n", efams[f],
                          (unsigned long long)g->nodes[i].id, v);
        }
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (nss[i])
            protobuf_c_message_free_unpacked(&nss[i]->base, NULL);
        if (wss[i])
            protobuf_c_message_free_unpacked(&wss[i]->base, NULL);
    }
    if (g->coalescer) {
        uint64_t batches, batched;
        gw_coalescer_stats(g->coalescer, &batches, &batched);
        gw_buf_printf(&b,
                      "# HELP lithair_gateway_write_batches_total Rpc/Batch calls of the "
                      "write coalescer.\n"
                      "# TYPE lithair_gateway_write_batches_total counter\n"
                      "lithair_gateway_write_batches_total %llu\n"
                      "# HELP lithair_gateway_batched_writes_total Writes sent in those "
                      "batches.\n"
                      "# TYPE lithair_gateway_batched_writes_total counter\n"
                      "lithair_gateway_batched_writes_total %llu\n",
                      (unsigned long long)batches, (unsigned long long)batched);
    }
    gw_buf_printf(&b, "# HELP lithair_gateway_requests_total HTTP requests answered.\n"
                      "# TYPE lithair_gateway_requests_total counter\n");
    double sum_s = 0;
    size_t ns_ = __atomic_load_n(&m->n_series, __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < ns_; i++)
        gw_buf_printf(&b, "lithair_gateway_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                      m->series[i].route, m->series[i].status,
                      (unsigned long long)__atomic_load_n(&m->series[i].count, __ATOMIC_RELAXED));
    size_t nh = __atomic_load_n(&m->n_hists, __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < nh; i++) {
        if (snap)
            lt_hist_merge(snap, m->hists[i]);
        sum_s += (double)__atomic_load_n(&m->sums[i], __ATOMIC_RELAXED) / 1e9;
    }
    if (snap) {
        gw_buf_printf(&b, "# HELP lithair_gateway_request_duration_seconds Time to answer.\n"
                          "# TYPE lithair_gateway_request_duration_seconds histogram\n");
        gw_hist_prom(&b, "lithair_gateway_request_duration_seconds", "", snap, sum_s);
    }
    gw_buf_printf(
        &b,
        "# HELP lithair_gateway_uptime_seconds Seconds since the gateway started.\n"
        "# TYPE lithair_gateway_uptime_seconds gauge\nlithair_gateway_uptime_seconds %.3f\n",
        (double)(lt_now_ns() - g->started_ns) / 1e9);
    lt_hist_free(snap);
    if (b.oom) {
        free(b.p);
        return gw_reply_error(r, 500, "INTERNAL", NULL, "out of memory");
    }
    gw_send_response(r, 200, "text/plain; version=0.0.4; charset=utf-8", "no-store", NULL, b.p,
                     b.len, !r->head);
    free(b.p);
    return 200;
}

int gw_metrics_register(struct gw *g)
{
    struct gw_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return LT_ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    g->metrics = m;
    return gw_route_add(g, "GET", "/metrics", gw_metrics_get, NULL, "metrics");
}

void gw_metrics_free(struct gw *g)
{
    struct gw_metrics *m = g->metrics;
    if (!m)
        return;
    for (size_t i = 0; i < m->n_hists; i++)
        lt_hist_free(m->hists[i]);
    pthread_mutex_destroy(&m->mu);
    free(m);
    g->metrics = NULL;
}
