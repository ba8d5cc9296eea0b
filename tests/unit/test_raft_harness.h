/* test_raft_harness.h — a tiny in-test cluster for the raft core's unit suites
 * (test_raft_*.c include it; it is not a suite itself): up to H_MAX nodes, a message
 * queue delivered by hand or until quiet, cut links, a simulated durable store per
 * node (log, hard state, snapshot) so a node can be restarted from what it persisted,
 * and checks on what each node applies. Not the simulation (tests/sim): no randomness,
 * no clock, each test drives every step. */
#ifndef TEST_RAFT_HARNESS_H
#define TEST_RAFT_HARNESS_H

#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "lt_err.h"
#include "raft.h"

#define H_MAX 5

struct h_msg {
    struct raft_msg m;
    struct raft_entry *ents; /* deep copies, data included */
};

struct h_store {
    struct raft_entry *ents; /* from snap.index + 1 on; data owned */
    size_t n, cap;
    struct raft_hard_state hs;
    struct raft_snapshot_meta snap;
};

struct h_node {
    uint64_t id;
    struct raft *r;
    bool down;
    bool hold_persist; /* do not report raft_persisted() */
    struct h_store st;
    uint64_t applied;   /* last index applied */
    uint64_t app[4096]; /* app[i]: term of the entry applied at index i */
    struct raft_read_state reads[64];
    size_t n_reads;
    unsigned snapshots;
    size_t early_sent, late_sent; /* counts of messages by output slot */
    struct raft_divergence div;   /* the last one reported */
    unsigned n_div;               /* updates that reported diverged logs */
};

struct h_net {
    size_t n;
    struct h_node nodes[H_MAX];
    struct raft_config cfg[H_MAX];
    struct h_msg *q;
    size_t nq, capq;
    bool cut[H_MAX + 1][H_MAX + 1]; /* cut[a][b]: drop messages from a to b */
    size_t delivered;
    bool expect_div; /* a test of divergence: h_free does not fail on reports */
};

typedef void (*h_tweak_fn)(struct raft_config *cfg);

static void h_entry_copy(struct raft_entry *d, const struct raft_entry *s)
{
    *d = *s;
    d->data.base = NULL;
    if (s->data.len) {
        void *p = malloc(s->data.len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        memcpy(p, s->data.base, s->data.len);
        d->data.base = p;
    }
}

static void h_store_truncate(struct h_store *st, uint64_t index)
{
    /* drop entries >= index */
    while (st->n > 0 && st->ents[st->n - 1].index >= index) {
        free((void *)st->ents[st->n - 1].data.base);
        st->n--;
    }
}

static uint64_t h_store_last(const struct h_store *st)
{
    return st->n ? st->ents[st->n - 1].index : st->snap.index;
}

static uint64_t h_store_last_term(const struct h_store *st)
{
    return st->n ? st->ents[st->n - 1].term : st->snap.term;
}

static void h_store_free(struct h_store *st)
{
    h_store_truncate(st, 0);
    free(st->ents);
    memset(st, 0, sizeof(*st));
}

static void h_node_boot(struct h_net *net, size_t i)
{
    struct h_node *nd = &net->nodes[i];
    struct raft_restore rs = {
        .hs = nd->st.hs, .snapshot = nd->st.snap, .entries = nd->st.ents, .n_entries = nd->st.n};
    CU_ASSERT_EQUAL_FATAL(raft_new(&net->cfg[i], &rs, &nd->r), 0);
    nd->applied = nd->st.snap.index;
    nd->down = false;
}

static void h_init(struct h_net *net, size_t n, h_tweak_fn tweak)
{
    memset(net, 0, sizeof(*net));
    net->n = n;
    struct raft_conf conf = {.n_voters = n};
    for (size_t i = 0; i < n; i++)
        conf.voters[i] = i + 1;
    for (size_t i = 0; i < n; i++) {
        raft_config_default(&net->cfg[i], i + 1, &conf);
        net->cfg[i].seed = 42;
        if (tweak)
            tweak(&net->cfg[i]);
        net->nodes[i].id = i + 1;
        h_node_boot(net, i);
    }
}

static void h_free(struct h_net *net)
{
    for (size_t i = 0; i < net->n; i++) {
        CU_ASSERT(net->expect_div || net->nodes[i].n_div == 0); /* never in a correct run */
        raft_free(net->nodes[i].r);
        h_store_free(&net->nodes[i].st);
    }
    for (size_t i = 0; i < net->nq; i++) {
        for (size_t k = 0; k < net->q[i].m.n_entries; k++)
            free((void *)net->q[i].ents[k].data.base);
        free(net->q[i].ents);
    }
    free(net->q);
}

static struct h_node *h_node(struct h_net *net, uint64_t id)
{
    return &net->nodes[id - 1];
}

static struct raft *h_r(struct h_net *net, uint64_t id)
{
    return net->nodes[id - 1].r;
}

static void h_enqueue(struct h_net *net, const struct raft_msg *m)
{
    if (net->nq == net->capq) {
        net->capq = net->capq ? net->capq * 2 : 64;
        net->q = realloc(net->q, net->capq * sizeof(*net->q));
        CU_ASSERT_PTR_NOT_NULL_FATAL(net->q);
    }
    struct h_msg *hm = &net->q[net->nq++];
    hm->m = *m;
    hm->ents = NULL;
    if (m->n_entries) {
        hm->ents = calloc(m->n_entries, sizeof(*hm->ents));
        CU_ASSERT_PTR_NOT_NULL_FATAL(hm->ents);
        for (size_t k = 0; k < m->n_entries; k++)
            h_entry_copy(&hm->ents[k], &m->entries[k]);
    }
    hm->m.entries = hm->ents;
}

/* h_handle_ready runs one Ready/Advance cycle of node `id` the way a node daemon does. */
static bool h_handle_ready(struct h_net *net, uint64_t id)
{
    struct h_node *nd = h_node(net, id);
    if (nd->down || !raft_has_ready(nd->r))
        return false;
    struct raft_update up;
    raft_ready(nd->r, &up);
    for (size_t k = 0; k < up.n_msgs_early; k++)
        h_enqueue(net, &up.msgs_early[k]);
    nd->early_sent += up.n_msgs_early;
    if (up.snapshot) {
        h_store_truncate(&nd->st, 0);
        nd->st.snap = *up.snapshot;
        nd->snapshots++;
        nd->applied = up.snapshot->index;
    }
    if (up.n_entries) {
        h_store_truncate(&nd->st, up.entries[0].index);
        CU_ASSERT_EQUAL(up.entries[0].index, h_store_last(&nd->st) + 1);
        if (nd->st.n + up.n_entries > nd->st.cap) {
            nd->st.cap = (nd->st.n + up.n_entries) * 2;
            nd->st.ents = realloc(nd->st.ents, nd->st.cap * sizeof(*nd->st.ents));
            CU_ASSERT_PTR_NOT_NULL_FATAL(nd->st.ents);
        }
        for (size_t k = 0; k < up.n_entries; k++)
            h_entry_copy(&nd->st.ents[nd->st.n++], &up.entries[k]);
    }
    if (up.hs_changed)
        nd->st.hs = up.hs;
    for (size_t k = 0; k < up.n_msgs; k++)
        h_enqueue(net, &up.msgs[k]);
    nd->late_sent += up.n_msgs;
    for (size_t k = 0; k < up.n_committed; k++) {
        const struct raft_entry *e = &up.committed[k];
        CU_ASSERT_EQUAL(e->index, nd->applied + 1);
        if (e->index < sizeof(nd->app) / sizeof(nd->app[0]))
            nd->app[e->index] = e->term;
        nd->applied = e->index;
    }
    for (size_t k = 0; k < up.n_reads && nd->n_reads < 64; k++)
        nd->reads[nd->n_reads++] = up.reads[k];
    if (up.diverged) {
        nd->div = *up.diverged;
        nd->n_div++;
    }
    bool wrote = up.n_entries || up.snapshot;
    raft_advance(nd->r);
    if (wrote && !nd->hold_persist)
        raft_persisted(nd->r, h_store_last(&nd->st), h_store_last_term(&nd->st));
    raft_applied(nd->r, nd->applied);
    return true;
}

/* h_deliver_msg hands one queued message to its destination (unless cut or down). */
static void h_deliver_msg(struct h_net *net, const struct h_msg *hm)
{
    const struct raft_msg *m = &hm->m;
    if (m->to < 1 || m->to > net->n || net->cut[m->from][m->to])
        return;
    struct h_node *nd = h_node(net, m->to);
    if (nd->down)
        return;
    CU_ASSERT_EQUAL(raft_recv(nd->r, m), 0);
    net->delivered++;
}

static void h_msg_free(struct h_msg *hm)
{
    for (size_t k = 0; k < hm->m.n_entries; k++)
        free((void *)hm->ents[k].data.base);
    free(hm->ents);
}

/* h_deliver delivers every message queued now (not those they cause); returns count. */
static size_t h_deliver(struct h_net *net)
{
    size_t n = net->nq;
    struct h_msg *batch = net->q;
    net->q = NULL;
    net->nq = net->capq = 0;
    for (size_t i = 0; i < n; i++) {
        h_deliver_msg(net, &batch[i]);
        h_msg_free(&batch[i]);
    }
    free(batch);
    return n;
}

/* h_drop empties the queue without delivering. */
static void h_drop(struct h_net *net)
{
    for (size_t i = 0; i < net->nq; i++)
        h_msg_free(&net->q[i]);
    net->nq = 0;
}

/* h_readies runs Ready/Advance on every live node until none has anything. */
static void h_readies(struct h_net *net)
{
    for (int round = 0; round < 100; round++) {
        bool any = false;
        for (size_t i = 0; i < net->n; i++)
            while (h_handle_ready(net, i + 1))
                any = true;
        if (!any)
            return;
    }
}

/* h_stabilize alternates readies and deliveries until the cluster is quiet. */
static void h_stabilize(struct h_net *net)
{
    for (int round = 0; round < 1000; round++) {
        h_readies(net);
        if (net->nq == 0)
            return;
        h_deliver(net);
    }
    CU_FAIL("cluster did not stabilize");
}

static void h_tick(struct h_net *net, uint64_t id, unsigned k)
{
    for (unsigned i = 0; i < k; i++)
        raft_tick(h_r(net, id));
}

/* h_tick_all ticks every live node k times, stabilizing after each tick. */
static void h_tick_all(struct h_net *net, unsigned k)
{
    for (unsigned t = 0; t < k; t++) {
        for (size_t i = 0; i < net->n; i++)
            if (!net->nodes[i].down)
                raft_tick(net->nodes[i].r);
        h_stabilize(net);
    }
}

/* h_elect makes `id` leader by campaigning and letting everything through. */
static void h_elect(struct h_net *net, uint64_t id)
{
    CU_ASSERT_EQUAL(raft_campaign(h_r(net, id)), 0);
    h_stabilize(net);
}

static struct raft_status h_status(struct h_net *net, uint64_t id)
{
    struct raft_status st;
    raft_status(h_r(net, id), &st);
    return st;
}

static enum raft_role h_role(struct h_net *net, uint64_t id)
{
    return h_status(net, id).role;
}

static uint64_t h_term(struct h_net *net, uint64_t id)
{
    return h_status(net, id).term;
}

static uint64_t h_commit(struct h_net *net, uint64_t id)
{
    return h_status(net, id).commit;
}

static uint64_t h_last(struct h_net *net, uint64_t id)
{
    return h_status(net, id).last_index;
}

/* h_propose proposes one entry holding `s` on node `id`; returns the raft_propose code. */
static int h_propose(struct h_net *net, uint64_t id, const char *s)
{
    struct raft_buf b = {.base = s, .len = strlen(s)};
    uint64_t idx, term;
    return raft_propose(h_r(net, id), RAFT_ENTRY_NORMAL, &b, 1, &idx, &term);
}

/* h_isolate cuts every link to and from `id`; h_heal restores all links. */
static void h_isolate(struct h_net *net, uint64_t id)
{
    for (size_t j = 1; j <= net->n; j++) {
        net->cut[id][j] = true;
        net->cut[j][id] = true;
    }
}

static void h_heal(struct h_net *net)
{
    memset(net->cut, 0, sizeof(net->cut));
}

/* h_count counts queued messages of `type` from `from` (0: any) to `to` (0: any). */
static size_t h_count(const struct h_net *net, enum raft_msg_type type, uint64_t from, uint64_t to)
{
    size_t n = 0;
    for (size_t i = 0; i < net->nq; i++) {
        const struct raft_msg *m = &net->q[i].m;
        if (m->type == type && (!from || m->from == from) && (!to || m->to == to))
            n++;
    }
    return n;
}

/* h_find returns the first queued message of `type` to `to` (0: any), or NULL. */
static const struct raft_msg *h_find(const struct h_net *net, enum raft_msg_type type, uint64_t to)
{
    for (size_t i = 0; i < net->nq; i++)
        if (net->q[i].m.type == type && (!to || net->q[i].m.to == to))
            return &net->q[i].m;
    return NULL;
}

/* h_crash stops node `id` (its un-persisted state is lost); h_restart boots it again
 * from what its store holds. */
static void h_crash(struct h_net *net, uint64_t id)
{
    struct h_node *nd = h_node(net, id);
    raft_free(nd->r);
    nd->r = NULL;
    nd->down = true;
}

static void h_restart(struct h_net *net, uint64_t id)
{
    h_node_boot(net, id - 1);
}

/* h_check_logs checks Log Matching over what the live nodes have applied. */
static void h_check_applied_agree(struct h_net *net)
{
    for (size_t i = 0; i < net->n; i++)
        for (size_t j = 0; j < net->n; j++) {
            struct h_node *a = &net->nodes[i], *b = &net->nodes[j];
            uint64_t lo = a->st.snap.index > b->st.snap.index ? a->st.snap.index : b->st.snap.index;
            uint64_t hi = a->applied < b->applied ? a->applied : b->applied;
            for (uint64_t k = lo + 1; k <= hi && k < 4096; k++)
                CU_ASSERT_EQUAL(a->app[k], b->app[k]);
        }
}

/* Silence unused-function warnings in suites that use a subset of the harness. */
static inline void h_unused(void)
{
    (void)h_free;
    (void)h_elect;
    (void)h_role;
    (void)h_term;
    (void)h_commit;
    (void)h_last;
    (void)h_propose;
    (void)h_isolate;
    (void)h_heal;
    (void)h_count;
    (void)h_find;
    (void)h_crash;
    (void)h_restart;
    (void)h_tick;
    (void)h_tick_all;
    (void)h_drop;
    (void)h_check_applied_agree;
    (void)h_store_last_term;
}

#endif
