/* test_raft_snapshot.c — snapshots, log compaction (Raft §7) and restart from persisted
 * state in the raft core: compaction keeps compact_keep entries behind the snapshot, a
 * lagging follower is sent the snapshot (progress SNAPSHOT until it acknowledges), a
 * follower installs a newer snapshot and ignores stale ones, and a node rebuilt from
 * its hard state, snapshot and log carries on safely. */
#include "cunit_main.h"
#include "test_raft_harness.h"

static void keep0(struct raft_config *c)
{
    c->compact_keep = 0;
}

static void keep5(struct raft_config *c)
{
    c->compact_keep = 5;
}

/* h_compact does what a node does after saving a snapshot at `index`: tells the core
 * and drops the covered entries from its store. */
static int h_compact(struct h_net *net, uint64_t id, uint64_t index)
{
    struct h_node *nd = h_node(net, id);
    struct raft_snapshot_meta meta = {.index = index};
    size_t k = 0;
    while (k < nd->st.n && nd->st.ents[k].index <= index) {
        meta.term = nd->st.ents[k].term;
        k++;
    }
    meta.conf.n_voters = net->n;
    for (size_t i = 0; i < net->n; i++)
        meta.conf.voters[i] = i + 1;
    int err = raft_compact(nd->r, &meta);
    if (err)
        return err;
    for (size_t i = 0; i < k; i++)
        free((void *)nd->st.ents[i].data.base);
    memmove(nd->st.ents, nd->st.ents + k, (nd->st.n - k) * sizeof(*nd->st.ents));
    nd->st.n -= k;
    nd->st.snap = meta;
    return 0;
}

/* §7: after a snapshot the log before it is dropped from memory, save compact_keep
 * entries kept for followers slightly behind; bad requests are refused. */
static void test_compact(void)
{
    struct h_net net;
    h_init(&net, 3, keep5);
    h_elect(&net, 1);
    for (int i = 0; i < 19; i++)
        CU_ASSERT_EQUAL(h_propose(&net, 1, "c"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_node(&net, 1)->applied, 20);
    struct raft_snapshot_meta bad = {.index = 21, .term = 1};
    CU_ASSERT_EQUAL(raft_compact(h_r(&net, 1), &bad), LT_EINVAL); /* not applied yet */
    bad.index = 15;
    bad.term = 7;
    CU_ASSERT_EQUAL(raft_compact(h_r(&net, 1), &bad), LT_EINVAL); /* wrong term */
    CU_ASSERT_EQUAL(raft_compact(h_r(&net, 1), NULL), LT_EINVAL);
    CU_ASSERT_EQUAL(h_compact(&net, 1, 15), 0);
    struct raft_status st = h_status(&net, 1);
    CU_ASSERT_EQUAL(st.snapshot.index, 15);
    CU_ASSERT_EQUAL(st.snapshot.term, 1);
    CU_ASSERT_EQUAL(st.first_index, 11);
    CU_ASSERT_EQUAL(st.last_index, 20);
    struct raft_snapshot_meta older = {.index = 10, .term = 1};
    CU_ASSERT_EQUAL(raft_compact(h_r(&net, 1), &older), 0); /* older: nothing to do */
    CU_ASSERT_EQUAL(h_status(&net, 1).snapshot.index, 15);
    /* replication goes on after compaction */
    CU_ASSERT_EQUAL(h_propose(&net, 1, "d"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 2), 21);
    h_free(&net);
}

/* A follower that needs compacted entries gets MSG_SNAPSHOT (meta only); its progress
 * stays in SNAPSHOT until it acknowledges, then replication resumes after it. */
static void test_lagging_follower_gets_snapshot(void)
{
    struct h_net net;
    h_init(&net, 3, keep0);
    h_elect(&net, 1);
    h_node(&net, 3)->down = true;
    for (int i = 0; i < 20; i++)
        CU_ASSERT_EQUAL(h_propose(&net, 1, "s"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_compact(&net, 1, 21), 0);
    CU_ASSERT_EQUAL(h_status(&net, 1).first_index, 22);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "t"), 0);
    h_stabilize(&net);
    h_node(&net, 3)->down = false;
    h_tick(&net, 1, 1);
    /* heartbeat -> answer -> probe at 2: rejected (3 has only 1) -> snapshot */
    for (int i = 0; i < 10 && h_count(&net, RAFT_MSG_SNAPSHOT, 1, 3) == 0; i++) {
        h_readies(&net);
        if (h_count(&net, RAFT_MSG_SNAPSHOT, 1, 3))
            break;
        h_deliver(&net);
    }
    const struct raft_msg *sm = h_find(&net, RAFT_MSG_SNAPSHOT, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sm);
    CU_ASSERT_EQUAL(sm->snapshot.index, 21);
    CU_ASSERT_EQUAL(sm->snapshot.term, 1);
    CU_ASSERT_EQUAL(sm->snapshot.conf.n_voters, 3);
    CU_ASSERT_EQUAL(h_status(&net, 1).progress[2].state, RAFT_PROGRESS_SNAPSHOT);
    /* paused: new entries do not go to 3 while the snapshot is on its way */
    CU_ASSERT_EQUAL(h_propose(&net, 1, "u"), 0);
    h_readies(&net);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_APPEND, 1, 3), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_node(&net, 3)->snapshots, 1);
    CU_ASSERT_EQUAL(h_node(&net, 3)->st.snap.index, 21);
    CU_ASSERT_EQUAL(h_status(&net, 1).progress[2].state, RAFT_PROGRESS_REPLICATE);
    CU_ASSERT_EQUAL(h_commit(&net, 3), 23);
    CU_ASSERT_EQUAL(h_last(&net, 3), 23);
    CU_ASSERT_EQUAL(h_node(&net, 3)->applied, 23);
    h_free(&net);
}

/* A failed snapshot (reported by the node as a rejected MSG_SNAPSHOT_RESP) is retried. */
static void test_snapshot_failure_retried(void)
{
    struct h_net net;
    h_init(&net, 3, keep0);
    h_elect(&net, 1);
    h_node(&net, 3)->down = true;
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(h_propose(&net, 1, "s"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_compact(&net, 1, 6), 0);
    h_node(&net, 3)->down = false;
    h_tick(&net, 1, 1);
    for (int i = 0; i < 10 && h_count(&net, RAFT_MSG_SNAPSHOT, 1, 3) == 0; i++) {
        h_readies(&net);
        if (h_count(&net, RAFT_MSG_SNAPSHOT, 1, 3))
            break;
        h_deliver(&net);
    }
    CU_ASSERT_EQUAL_FATAL(h_count(&net, RAFT_MSG_SNAPSHOT, 1, 3), 1);
    h_drop(&net); /* the transfer failed */
    struct raft_msg fail = {
        .type = RAFT_MSG_SNAPSHOT_RESP, .from = 3, .to = 1, .term = h_term(&net, 1), .reject = 1};
    CU_ASSERT_EQUAL(raft_recv(h_r(&net, 1), &fail), 0);
    CU_ASSERT_EQUAL(h_status(&net, 1).progress[2].state, RAFT_PROGRESS_SNAPSHOT); /* resent */
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_node(&net, 3)->snapshots, 1);
    CU_ASSERT_EQUAL(h_commit(&net, 3), 6);
    h_free(&net);
}

/* A node's "snapshot file arrived" report does not make the leader believe the follower
 * holds the snapshot: only the follower's own answer moves match (sim finding F2). If
 * the follower never installed it, the leader finds out and sends it again. */
static void test_snapshot_report_does_not_move_match(void)
{
    struct h_net net;
    h_init(&net, 3, keep0);
    h_elect(&net, 1);
    h_node(&net, 3)->down = true;
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(h_propose(&net, 1, "s"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_compact(&net, 1, 6), 0);
    h_node(&net, 3)->down = false;
    h_tick(&net, 1, 1);
    for (int i = 0; i < 10 && h_count(&net, RAFT_MSG_SNAPSHOT, 1, 3) == 0; i++) {
        h_readies(&net);
        if (h_count(&net, RAFT_MSG_SNAPSHOT, 1, 3))
            break;
        h_deliver(&net);
    }
    CU_ASSERT_EQUAL_FATAL(h_count(&net, RAFT_MSG_SNAPSHOT, 1, 3), 1);
    uint64_t match = h_status(&net, 1).progress[2].match;
    h_drop(&net); /* the file arrives, but the core of node 3 never sees MSG_SNAPSHOT */
    struct raft_msg ok = {
        .type = RAFT_MSG_SNAPSHOT_RESP, .from = 3, .to = 1, .term = h_term(&net, 1)};
    CU_ASSERT_EQUAL(raft_recv(h_r(&net, 1), &ok), 0);
    struct raft_status st = h_status(&net, 1);
    CU_ASSERT_EQUAL(st.progress[2].match, match);
    CU_ASSERT_EQUAL(st.progress[2].state, RAFT_PROGRESS_PROBE);
    h_tick(&net, 1, 1);
    h_readies(&net);
    const struct raft_msg *hb = h_find(&net, RAFT_MSG_HEARTBEAT, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(hb);
    CU_ASSERT(hb->commit <= match);
    h_stabilize(&net);
    for (int i = 0; i < 3; i++)
        h_tick_all(&net, 1);
    CU_ASSERT_EQUAL(h_node(&net, 3)->snapshots, 1);
    CU_ASSERT_EQUAL(h_commit(&net, 3), 6);
    CU_ASSERT_EQUAL(h_node(&net, 3)->applied, 6);
    h_free(&net);
}

/* A follower receiving a snapshot newer than its commit hands it out for installing,
 * resets its log to it and acknowledges after the persist step; a stale one only gets
 * an answer; one whose last entry it holds moves commit and keeps the log. */
static void test_follower_installs_snapshot(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    struct raft *r = h_r(&net, 2);
    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = 3};
    m.snapshot.index = 50;
    m.snapshot.term = 3;
    m.snapshot.conf.n_voters = 3;
    for (int i = 0; i < 3; i++)
        m.snapshot.conf.voters[i] = i + 1;
    CU_ASSERT_EQUAL(raft_recv(r, &m), 0);
    struct raft_update up;
    raft_ready(r, &up);
    CU_ASSERT_PTR_NOT_NULL_FATAL(up.snapshot);
    CU_ASSERT_EQUAL(up.snapshot->index, 50);
    CU_ASSERT_EQUAL(up.n_msgs_early, 0);
    CU_ASSERT_EQUAL_FATAL(up.n_msgs, 1);
    CU_ASSERT_EQUAL(up.msgs[0].type, RAFT_MSG_APPEND_RESP);
    CU_ASSERT_EQUAL(up.msgs[0].index, 50);
    CU_ASSERT_EQUAL(up.n_committed, 0);
    CU_ASSERT_TRUE(up.hs_changed);
    CU_ASSERT_EQUAL(up.hs.commit, 50);
    raft_advance(r);
    raft_persisted(r, 50, 3);
    struct raft_status st;
    raft_status(r, &st);
    CU_ASSERT_EQUAL(st.first_index, 51);
    CU_ASSERT_EQUAL(st.last_index, 50);
    CU_ASSERT_EQUAL(st.commit, 50);
    CU_ASSERT_EQUAL(st.applied, 50);
    CU_ASSERT_EQUAL(st.persisted_index, 50);
    CU_ASSERT_EQUAL(st.leader, 1);

    /* a stale snapshot: answered with the commit index, nothing installed */
    m.snapshot.index = 40;
    CU_ASSERT_EQUAL(raft_recv(r, &m), 0);
    raft_ready(r, &up);
    CU_ASSERT_PTR_NULL(up.snapshot);
    CU_ASSERT_EQUAL_FATAL(up.n_msgs, 1);
    CU_ASSERT_EQUAL(up.msgs[0].index, 50);
    raft_advance(r);

    /* entries after the snapshot, then a snapshot covering part of them that matches */
    struct raft_entry e[3] = {
        {.term = 3, .index = 51}, {.term = 3, .index = 52}, {.term = 3, .index = 53}};
    struct raft_msg a = {.type = RAFT_MSG_APPEND,
                         .from = 1,
                         .to = 2,
                         .term = 3,
                         .index = 50,
                         .log_term = 3,
                         .entries = e,
                         .n_entries = 3,
                         .commit = 50};
    CU_ASSERT_EQUAL(raft_recv(r, &a), 0);
    raft_ready(r, &up);
    raft_advance(r);
    m.snapshot.index = 52;
    CU_ASSERT_EQUAL(raft_recv(r, &m), 0);
    raft_ready(r, &up);
    CU_ASSERT_PTR_NULL(up.snapshot);
    CU_ASSERT_EQUAL(up.n_committed, 2);
    raft_advance(r);
    raft_status(r, &st);
    CU_ASSERT_EQUAL(st.commit, 52);
    CU_ASSERT_EQUAL(st.last_index, 53);
    h_free(&net);
}

/* A node restarted from its persisted hard state, snapshot and log keeps its term and
 * vote, never trusts hs.commit beyond its log, re-applies what follows its snapshot,
 * and the cluster carries on. */
static void test_restore(void)
{
    struct h_net net;
    h_init(&net, 3, keep0);
    h_elect(&net, 1);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(h_propose(&net, 1, "r"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_compact(&net, 2, 6), 0);
    uint64_t term = h_term(&net, 2);
    for (uint64_t id = 1; id <= 3; id++)
        h_crash(&net, id);
    for (uint64_t id = 1; id <= 3; id++)
        h_restart(&net, id);
    struct raft_status st = h_status(&net, 2);
    CU_ASSERT_EQUAL(st.term, term);
    CU_ASSERT_EQUAL(st.vote, 1);
    CU_ASSERT_EQUAL(st.snapshot.index, 6);
    CU_ASSERT_EQUAL(st.first_index, 7);
    CU_ASSERT_EQUAL(st.last_index, 11);
    CU_ASSERT_EQUAL(st.persisted_index, 11);
    CU_ASSERT_EQUAL(st.role, RAFT_FOLLOWER);
    h_readies(&net); /* committed entries after the snapshot are handed out again */
    CU_ASSERT_EQUAL(h_node(&net, 2)->applied, st.commit);
    uint64_t l = 0;
    for (int i = 0; i < 60 && !l; i++) {
        h_tick_all(&net, 1);
        for (uint64_t id = 1; id <= 3; id++)
            if (h_role(&net, id) == RAFT_LEADER)
                l = id;
    }
    CU_ASSERT_NOT_EQUAL_FATAL(l, 0);
    CU_ASSERT_EQUAL(h_propose(&net, l, "after"), 0);
    h_stabilize(&net);
    for (uint64_t id = 1; id <= 3; id++) {
        CU_ASSERT_EQUAL(h_commit(&net, id), 13);
        CU_ASSERT_EQUAL(h_node(&net, id)->applied, 13);
    }
    h_check_applied_agree(&net);

    /* hs.commit beyond the log (the tail was lost): commit is clamped */
    struct raft_conf conf = {.voters = {1, 2, 3}, .n_voters = 3};
    struct raft_config cfg;
    raft_config_default(&cfg, 1, &conf);
    struct raft_entry e[2] = {{.term = 1, .index = 1}, {.term = 1, .index = 2}};
    struct raft_restore rs = {
        .hs = {.term = 2, .vote = 1, .commit = 100}, .entries = e, .n_entries = 2};
    struct raft *r;
    CU_ASSERT_EQUAL_FATAL(raft_new(&cfg, &rs, &r), 0);
    raft_status(r, &st);
    CU_ASSERT_EQUAL(st.commit, 2);
    raft_free(r);
    /* a tail of older terms after a snapshot is stale: dropped */
    struct raft_entry t3[3] = {
        {.term = 3, .index = 6}, {.term = 2, .index = 7}, {.term = 2, .index = 8}};
    struct raft_restore rs3 = {.hs = {.term = 3, .commit = 5},
                               .snapshot = {.index = 5, .term = 3, .conf = conf},
                               .entries = t3,
                               .n_entries = 3};
    CU_ASSERT_EQUAL_FATAL(raft_new(&cfg, &rs3, &r), 0);
    raft_status(r, &st);
    CU_ASSERT_EQUAL(st.last_index, 6);
    raft_free(r);
    /* a received snapshot published before its term was durable (crash in between):
     * the node starts in the snapshot's term, with no vote */
    struct raft_restore rs4 = {.hs = {.term = 2, .vote = 2, .commit = 1},
                               .snapshot = {.index = 5, .term = 3, .conf = conf}};
    CU_ASSERT_EQUAL_FATAL(raft_new(&cfg, &rs4, &r), 0);
    raft_status(r, &st);
    CU_ASSERT_EQUAL(st.term, 3);
    CU_ASSERT_EQUAL(st.vote, RAFT_NONE);
    CU_ASSERT_EQUAL(st.commit, 5);
    raft_free(r);
    /* a gap in the restored log, or entries from a term never reached, are refused */
    rs3.hs.term = 2;
    CU_ASSERT_EQUAL(raft_new(&cfg, &rs3, &r), LT_EINVAL);
    e[1].index = 3;
    CU_ASSERT_EQUAL(raft_new(&cfg, &rs, &r), LT_EINVAL);
    h_free(&net);
}

/* restore_adopt: with adopt_data the core takes the entries' buffers instead of copying
 * them (the sanitizer's leak check and double-free check are the judges): kept entries
 * serve their data from the very buffers, a dropped stale tail's buffers are freed by the
 * core, and a refused restore takes none. */
static struct raft_entry *adopt_entries(const uint64_t *terms, size_t n, uint64_t first)
{
    struct raft_entry *e = calloc(n, sizeof(*e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    for (size_t i = 0; i < n; i++) {
        e[i].term = terms[i];
        e[i].index = first + i;
        e[i].data.len = 32;
        e[i].data.base = malloc(32);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e[i].data.base);
        snprintf((char *)e[i].data.base, 32, "entry %u", (unsigned)i);
    }
    if (n > 0) { /* a zero-length buffer is the core's too */
        e[n - 1].data.len = 0;
    }
    return e;
}

static void test_restore_adopt(void)
{
    struct raft_conf conf = {.voters = {1, 2, 3}, .n_voters = 3};
    struct raft_config cfg;
    raft_config_default(&cfg, 1, &conf);
    const uint64_t terms[5] = {3, 3, 3, 2, 2}; /* the last two are a stale tail */
    struct raft_entry *e = adopt_entries(terms, 5, 6);
    const void *first = e[0].data.base;
    struct raft_restore rs = {.hs = {.term = 3, .commit = 8},
                              .snapshot = {.index = 5, .term = 3, .conf = conf},
                              .entries = e,
                              .n_entries = 5,
                              .adopt_data = true};
    struct raft *r;
    CU_ASSERT_EQUAL_FATAL(raft_new(&cfg, &rs, &r), 0);
    free(e); /* only the array: the buffers are the core's */
    struct raft_status st;
    raft_status(r, &st);
    CU_ASSERT_EQUAL(st.last_index, 8);
    struct raft_update up;
    raft_ready(r, &up); /* entries 6..8 are committed: handed out to apply, the same bytes */
    CU_ASSERT_EQUAL_FATAL(up.n_committed, 3);
    CU_ASSERT_PTR_EQUAL(up.committed[0].data.base, first);
    CU_ASSERT_STRING_EQUAL((const char *)up.committed[1].data.base, "entry 1");
    raft_advance(r);
    raft_free(r);

    /* refused (an entry from a term the node never reached): nothing taken */
    e = adopt_entries(terms, 3, 6);
    rs.entries = e;
    rs.n_entries = 3;
    rs.hs.term = 2;
    CU_ASSERT_EQUAL(raft_new(&cfg, &rs, &r), LT_EINVAL);
    for (size_t i = 0; i < 3; i++)
        free((void *)e[i].data.base);
    free(e);
}

/* release_hook: compaction drops thousands of payloads at once; with cfg.release set,
 * a released batch of at least RAFT_RELEASE_MIN goes to the hook (the node frees it on a
 * thread), exactly the dropped buffers and once; smaller ones are freed in place. */
struct hook_seen {
    size_t calls, n;
    bool first_ok, last_ok;
    const void *want_first, *want_last;
};

static void hook_release(void *ctx, void **ptrs, size_t n)
{
    struct hook_seen *h = ctx;
    h->calls++;
    h->n = n;
    h->first_ok = n > 0 && ptrs[0] == h->want_first;
    h->last_ok = n > 0 && ptrs[n - 1] == h->want_last;
    for (size_t i = 0; i < n; i++)
        free(ptrs[i]);
    free(ptrs);
}

static void test_release_hook(void)
{
    enum { N = 3000, BIG = 2000, SMALL = 100 };
    struct raft_conf conf = {.voters = {1, 2, 3}, .n_voters = 3};
    struct raft_config cfg;
    raft_config_default(&cfg, 1, &conf);
    cfg.compact_keep = 0;
    struct hook_seen seen = {0};
    cfg.release = hook_release;
    cfg.release_ctx = &seen;
    static uint64_t terms[N];
    for (size_t i = 0; i < N; i++)
        terms[i] = 3;
    struct raft_entry *e = adopt_entries(terms, N, 6);
    seen.want_first = e[0].data.base;
    seen.want_last = e[BIG - 1].data.base;
    struct raft_restore rs = {.hs = {.term = 3, .commit = 5 + N},
                              .snapshot = {.index = 5, .term = 3, .conf = conf},
                              .entries = e,
                              .n_entries = N,
                              .adopt_data = true};
    struct raft *r;
    CU_ASSERT_EQUAL_FATAL(raft_new(&cfg, &rs, &r), 0);
    free(e);
    struct raft_update up;
    raft_ready(r, &up);
    CU_ASSERT_EQUAL(up.n_committed, N);
    raft_advance(r);
    raft_applied(r, 5 + N);

    struct raft_snapshot_meta meta = {.index = 5 + BIG, .term = 3, .conf = conf};
    CU_ASSERT_EQUAL_FATAL(raft_compact(r, &meta), 0);
    CU_ASSERT_EQUAL(seen.calls, 0); /* an update handed out before may still point at them */
    raft_ready(r, &up);
    raft_advance(r);
    CU_ASSERT_EQUAL(seen.calls, 1);
    CU_ASSERT_EQUAL(seen.n, BIG);
    CU_ASSERT_TRUE(seen.first_ok);
    CU_ASSERT_TRUE(seen.last_ok);

    meta.index += SMALL; /* below RAFT_RELEASE_MIN: freed in place */
    CU_ASSERT_EQUAL_FATAL(raft_compact(r, &meta), 0);
    raft_ready(r, &up);
    raft_advance(r);
    CU_ASSERT_EQUAL(seen.calls, 1);
    struct raft_status st;
    raft_status(r, &st);
    CU_ASSERT_EQUAL(st.last_index, 5 + N);
    raft_free(r); /* the rest, in place */
    CU_ASSERT_EQUAL(seen.calls, 1);
}

static const struct lt_test tests[] = {
    {"compact", test_compact},
    {"lagging_follower_gets_snapshot", test_lagging_follower_gets_snapshot},
    {"snapshot_failure_retried", test_snapshot_failure_retried},
    {"snapshot_report_does_not_move_match", test_snapshot_report_does_not_move_match},
    {"follower_installs_snapshot", test_follower_installs_snapshot},
    {"restore", test_restore},
    {"restore_adopt", test_restore_adopt},
    {"release_hook", test_release_hook},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"raft_snapshot", NULL, NULL, tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
