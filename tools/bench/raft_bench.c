/* raft_bench.c — throughput of the pure Raft core alone: a 3-node cluster in one
 * process with zero-latency delivery and instant "persistence", the leader proposing
 * 256-byte entries in batches. Prints committed entries/s (median of several runs) and
 * the allocations per committed entry in steady state, counted across the whole
 * cluster by wrapping malloc/calloc/realloc (-Wl,--wrap on this program only). It
 * measures the core's CPU cost, not disks or networks (see wal_bench for the disk).
 *
 *   raft_bench [--entries N] [--batch B] [--size BYTES] [--runs R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_clock.h"
#include "raft.h"

/* ---- allocation counting (linked with -Wl,--wrap=malloc,--wrap=calloc,...) ---------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static unsigned long long bench_allocs;

void *__wrap_malloc(size_t n)
{
    bench_allocs++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    bench_allocs++;
    return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    bench_allocs++;
    return __real_realloc(p, n);
}

/* ---- the cluster ------------------------------------------------------------------- */

#define BENCH_NODES 3

struct bench {
    struct raft *r[BENCH_NODES];
    uint64_t applied[BENCH_NODES];
    uint64_t snap_index[BENCH_NODES];
    uint64_t applied_term[BENCH_NODES];
};

static int bench_init(struct bench *b)
{
    struct raft_conf conf = {.voters = {1, 2, 3}, .n_voters = BENCH_NODES};
    memset(b, 0, sizeof(*b));
    for (int i = 0; i < BENCH_NODES; i++) {
        struct raft_config cfg;
        raft_config_default(&cfg, (uint64_t)i + 1, &conf);
        cfg.compact_keep = 4096;
        if (raft_new(&cfg, NULL, &b->r[i]) != 0)
            return -1;
    }
    return 0;
}

static void bench_fini(struct bench *b)
{
    for (int i = 0; i < BENCH_NODES; i++)
        raft_free(b->r[i]);
}

static void bench_deliver(struct bench *b, const struct raft_msg *m, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (m[k].to >= 1 && m[k].to <= BENCH_NODES)
            (void)raft_recv(b->r[m[k].to - 1], &m[k]);
}

/* bench_ready runs one Ready/Advance cycle of node i, as a node daemon would with an
 * instant disk; returns whether there was anything. */
static bool bench_ready(struct bench *b, int i)
{
    struct raft *r = b->r[i];
    if (!raft_has_ready(r))
        return false;
    struct raft_update up;
    raft_ready(r, &up);
    bench_deliver(b, up.msgs_early, up.n_msgs_early);
    uint64_t last = 0, last_term = 0;
    if (up.snapshot) {
        last = up.snapshot->index;
        last_term = up.snapshot->term;
    }
    if (up.n_entries) {
        last = up.entries[up.n_entries - 1].index;
        last_term = up.entries[up.n_entries - 1].term;
    }
    bench_deliver(b, up.msgs, up.n_msgs);
    if (up.n_committed) {
        b->applied[i] = up.committed[up.n_committed - 1].index;
        b->applied_term[i] = up.committed[up.n_committed - 1].term;
    }
    if (up.snapshot) {
        b->applied[i] = up.snapshot->index;
        b->applied_term[i] = up.snapshot->term;
    }
    raft_advance(r);
    if (last)
        raft_persisted(r, last, last_term);
    raft_applied(r, b->applied[i]);
    /* a snapshot every 64k entries keeps memory bounded, as a node would */
    if (b->applied[i] >= b->snap_index[i] + 65536) {
        struct raft_snapshot_meta meta = {.index = b->applied[i], .term = b->applied_term[i]};
        if (raft_compact(r, &meta) == 0)
            b->snap_index[i] = b->applied[i];
    }
    return true;
}

static void bench_pump(struct bench *b)
{
    for (int round = 0; round < 1000; round++) {
        bool any = false;
        for (int i = 0; i < BENCH_NODES; i++)
            any |= bench_ready(b, i);
        if (!any)
            return;
    }
}

struct bench_result {
    double eps;
    double allocs_per_entry;
};

static int bench_run(uint64_t n_entries, size_t batch, size_t size, struct bench_result *res)
{
    struct bench b;
    if (bench_init(&b) != 0)
        return -1;
    (void)raft_campaign(b.r[0]);
    bench_pump(&b);
    struct raft_status st;
    raft_status(b.r[0], &st);
    if (st.role != RAFT_LEADER) {
        bench_fini(&b);
        return -1;
    }
    char *payload = malloc(size);
    struct raft_buf *bufs = malloc(batch * sizeof(*bufs));
    if (!payload || !bufs) {
        free(payload);
        free(bufs);
        bench_fini(&b);
        return -1;
    }
    memset(payload, 'x', size);
    for (size_t i = 0; i < batch; i++) {
        bufs[i].base = payload;
        bufs[i].len = size;
    }
    uint64_t base = b.applied[0];
    uint64_t target = base + n_entries;
    uint64_t proposed = base;
    uint64_t warm = base + n_entries / 5; /* steady state after the first fifth */
    unsigned long long allocs0 = 0;
    uint64_t warm_at = 0;
    uint64_t t0 = lt_now_ns();
    while (b.applied[0] < target || b.applied[1] < target || b.applied[2] < target) {
        /* keep a few batches in flight, as many concurrent clients would */
        if (proposed < target && proposed - b.applied[0] < 4 * batch) {
            size_t n = batch;
            if (target - proposed < n)
                n = (size_t)(target - proposed);
            if (raft_propose(b.r[0], RAFT_ENTRY_NORMAL, bufs, n, NULL, NULL) != 0)
                break;
            proposed += n;
        }
        bench_pump(&b);
        if (!warm_at && b.applied[0] >= warm) {
            warm_at = b.applied[0];
            allocs0 = bench_allocs;
        }
    }
    uint64_t t1 = lt_now_ns();
    unsigned long long allocs = bench_allocs - allocs0;
    res->eps = (double)(b.applied[0] - base) / ((double)(t1 - t0) / 1e9);
    res->allocs_per_entry = (double)allocs / (double)(b.applied[0] - warm_at);
    free(payload);
    free(bufs);
    bench_fini(&b);
    return b.applied[0] >= target ? 0 : -1;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    uint64_t entries = 2000000;
    size_t batch = 1000, size = 256;
    int runs = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--entries"))
            entries = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--batch"))
            batch = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--size"))
            size = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: raft_bench [--entries N] [--batch B] [--size BYTES] "
                            "[--runs R]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 100 || batch < 1 || entries < 10) {
        fprintf(stderr, "raft_bench: bad arguments\n");
        return 2;
    }
    double eps[100], apes[100];
    for (int i = 0; i < runs; i++) {
        struct bench_result res;
        if (bench_run(entries, batch, size, &res) != 0) {
            fprintf(stderr, "raft_bench: run %d failed\n", i + 1);
            return 1;
        }
        eps[i] = res.eps;
        apes[i] = res.allocs_per_entry;
        printf("run %d: %.0f entries/s, %.3f allocations per committed entry\n", i + 1, res.eps,
               res.allocs_per_entry);
    }
    qsort(eps, (size_t)runs, sizeof(eps[0]), bench_cmp);
    qsort(apes, (size_t)runs, sizeof(apes[0]), bench_cmp);
    printf("raft_bench: 3 nodes, %zu-byte entries, batches of %zu: median %.0f entries/s, "
           "%.3f allocations per committed entry (cluster-wide, steady state; %.3f per node)\n",
           size, batch, eps[runs / 2], apes[runs / 2], apes[runs / 2] / BENCH_NODES);
    return 0;
}
