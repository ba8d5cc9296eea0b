/* test_raft_replication.c — the raft core's log replication, one test per rule (Raft
 * §5.3, §5.4.2) after etcd's raft_paper_test.go: appends and commit, batching,
 * bounded pipelining, probing, conflict truncation, fast backtracking, the figure-8
 * rule (commit only current-term entries by counting), the leader counting its own log
 * only once persisted, which output slot messages go in, recovery from loss,
 * duplication and reordering, and the lazy commit notice (lithair's own). */
#include "cunit_main.h"
#include "test_raft_harness.h"

static void plain(struct raft_config *c)
{
    c->pre_vote = false;
    c->check_quorum = false;
}

static void lazy(struct raft_config *c)
{
    plain(c);
    c->lazy_commit = true;
}

static void one_per_msg(struct raft_config *c)
{
    plain(c);
    c->max_msg_entries = 1;
}

/* §5.3: the leader appends a proposal to its log, replicates it, and once a majority
 * stored it, commits it; followers learn the commit and apply it too, in order. */
static void test_append_and_commit(void)
{
    struct h_net net;
    h_init(&net, 3, plain);
    h_elect(&net, 1);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "a"), 0);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "b"), 0);
    struct raft_buf bufs[2] = {{"c", 1}, {"d", 1}};
    uint64_t first = 0, term = 0;
    CU_ASSERT_EQUAL(raft_propose(h_r(&net, 1), RAFT_ENTRY_NORMAL, bufs, 2, &first, &term), 0);
    CU_ASSERT_EQUAL(first, 4);
    CU_ASSERT_EQUAL(term, 1);
    h_stabilize(&net);
    for (uint64_t id = 1; id <= 3; id++) {
        CU_ASSERT_EQUAL(h_commit(&net, id), 5);
        CU_ASSERT_EQUAL(h_node(&net, id)->applied, 5);
        CU_ASSERT_EQUAL(h_node(&net, id)->st.n, 5);
        CU_ASSERT_EQUAL(memcmp(h_node(&net, id)->st.ents[4].data.base, "d", 1), 0);
    }
    struct raft_status st = h_status(&net, 1);
    CU_ASSERT_EQUAL(st.n_progress, 3);
    for (size_t i = 0; i < st.n_progress; i++) {
        CU_ASSERT_EQUAL(st.progress[i].match, 5);
        CU_ASSERT_EQUAL(st.progress[i].state, RAFT_PROGRESS_REPLICATE);
    }
    CU_ASSERT_EQUAL(raft_propose(h_r(&net, 1), RAFT_ENTRY_NORMAL, NULL, 0, NULL, NULL), LT_EINVAL);
    h_free(&net);
}

/* The leader's appends may leave before its own fsync (msgs_early); everything a
 * follower sends waits for its persist (msgs). */
static void test_output_slots(void)
{
    struct h_net net;
    h_init(&net, 3, plain);
    h_elect(&net, 1);
    size_t e1 = h_node(&net, 1)->early_sent;
    CU_ASSERT(e1 > 0);
    CU_ASSERT_EQUAL(h_node(&net, 2)->early_sent, 0);
    CU_ASSERT(h_node(&net, 2)->late_sent > 0);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "a"), 0);
    struct raft_update up;
    raft_ready(h_r(&net, 1), &up);
    CU_ASSERT_EQUAL(up.n_entries, 1);
    CU_ASSERT_EQUAL(up.n_msgs_early, 2);
    CU_ASSERT_EQUAL(up.n_msgs, 0);
    CU_ASSERT_EQUAL(up.msgs_early[0].type, RAFT_MSG_APPEND);
    CU_ASSERT_EQUAL(up.msgs_early[0].n_entries, 1);
    CU_ASSERT_EQUAL(up.msgs_early[0].entries[0].index, 2);
    raft_advance(h_r(&net, 1));
    CU_ASSERT_FALSE(raft_has_ready(h_r(&net, 1)));
    h_free(&net);
}

/* Batching: many entries per append, bounded by max_msg_entries and max_msg_bytes. */
static void test_batching(void)
{
    struct h_net net;
    h_init(&net, 3, plain);
    for (size_t i = 0; i < 3; i++)
        net.cfg[i].max_msg_entries = 100;
    for (uint64_t id = 1; id <= 3; id++) {
        h_crash(&net, id);
        h_restart(&net, id);
    }
    h_elect(&net, 1);
    static char payload[1000][8];
    struct raft_buf bufs[1000];
    for (size_t i = 0; i < 1000; i++) {
        bufs[i].base = payload[i];
        bufs[i].len = sizeof(payload[i]);
    }
    CU_ASSERT_EQUAL(raft_propose(h_r(&net, 1), RAFT_ENTRY_NORMAL, bufs, 1000, NULL, NULL), 0);
    h_readies(&net);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_APPEND, 1, 2), 10);
    for (size_t i = 0; i < net.nq; i++)
        CU_ASSERT(net.q[i].m.n_entries <= 100);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 3), 1001);
    /* now bounded by bytes: 8-byte entries, 80 bytes a message */
    h_free(&net);
    h_init(&net, 3, plain);
    for (size_t i = 0; i < 3; i++)
        net.cfg[i].max_msg_bytes = 80;
    for (uint64_t id = 1; id <= 3; id++) {
        h_crash(&net, id);
        h_restart(&net, id);
    }
    h_elect(&net, 1);
    CU_ASSERT_EQUAL(raft_propose(h_r(&net, 1), RAFT_ENTRY_NORMAL, bufs, 100, NULL, NULL), 0);
    h_readies(&net);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_APPEND, 1, 2), 10);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 2), 101);
    h_free(&net);
}

/* Pipelining: in REPLICATE a follower gets at most max_inflight appends before it
 * answers; answers free the window. */
static void test_pipeline_bounded(void)
{
    struct h_net net;
    h_init(&net, 3, one_per_msg);
    for (size_t i = 0; i < 3; i++)
        net.cfg[i].max_inflight = 3;
    for (uint64_t id = 1; id <= 3; id++) {
        h_crash(&net, id);
        h_restart(&net, id);
    }
    h_elect(&net, 1);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(h_propose(&net, 1, "x"), 0);
    h_readies(&net);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_APPEND, 1, 2), 3);
    CU_ASSERT_EQUAL(h_status(&net, 1).progress[1].inflight, 3);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 2), 11);
    h_free(&net);
}

/* PROBE: while the leader does not know where a follower's log matches, it sends one
 * append at a time and waits for the answer (or a heartbeat answer). */
static void test_probe_one_at_a_time(void)
{
    struct h_net net;
    h_init(&net, 3, plain);
    h_node(&net, 3)->down = true;
    h_elect(&net, 1);
    CU_ASSERT_EQUAL(h_status(&net, 1).progress[2].state, RAFT_PROGRESS_PROBE);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(h_propose(&net, 1, "x"), 0);
        h_readies(&net);
    }
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_APPEND, 1, 3), 0); /* the probe went at election */
    h_drop(&net);
    h_node(&net, 3)->down = false;
    h_tick(&net, 1, 1); /* heartbeat; its answer resumes probing */
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_status(&net, 1).progress[2].state, RAFT_PROGRESS_REPLICATE);
    CU_ASSERT_EQUAL(h_commit(&net, 3), 6);
    h_free(&net);
}

/* §5.3: a follower deletes a conflicting entry and all that follow it, then takes the
 * leader's; uncommitted entries of a deposed leader are overwritten. */
static void test_conflict_truncation(void)
{
    struct h_net net;
    h_init(&net, 3, plain);
    h_elect(&net, 1);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "a"), 0);
    h_stabilize(&net);
    h_isolate(&net, 1);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "x"), 0);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "y"), 0);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "z"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_last(&net, 1), 5);
    h_elect(&net, 2);
    CU_ASSERT_EQUAL(h_role(&net, 2), RAFT_LEADER);
    CU_ASSERT_EQUAL(h_propose(&net, 2, "b"), 0);
    h_stabilize(&net);
    h_heal(&net);
    h_tick(&net, 2, 1);
    h_stabilize(&net);
    struct h_store *s1 = &h_node(&net, 1)->st, *s2 = &h_node(&net, 2)->st;
    CU_ASSERT_EQUAL_FATAL(s1->n, s2->n);
    CU_ASSERT_EQUAL(s1->n, 4);
    for (size_t i = 0; i < s1->n; i++) {
        CU_ASSERT_EQUAL(s1->ents[i].term, s2->ents[i].term);
        CU_ASSERT_EQUAL(s1->ents[i].data.len, s2->ents[i].data.len);
    }
    CU_ASSERT_EQUAL(memcmp(s1->ents[3].data.base, "b", 1), 0);
    CU_ASSERT_EQUAL(h_commit(&net, 1), 4);
    CU_ASSERT_EQUAL(h_status(&net, 1).persisted_index, 4);
    h_check_applied_agree(&net);
    h_free(&net);
}

static void restore_node_at(struct h_net *net, uint64_t id, uint64_t term, const uint64_t *terms,
                            size_t n, uint64_t commit)
{
    struct h_node *nd = h_node(net, id);
    h_crash(net, id);
    h_store_free(&nd->st);
    nd->st.hs.term = term;
    nd->st.hs.commit = commit;
    for (size_t i = 0; i < n; i++) {
        struct raft_entry e = {.term = terms[i], .index = i + 1};
        if (nd->st.n == nd->st.cap) {
            nd->st.cap = nd->st.cap ? nd->st.cap * 2 : 8;
            nd->st.ents = realloc(nd->st.ents, nd->st.cap * sizeof(*nd->st.ents));
        }
        nd->st.ents[nd->st.n++] = e;
    }
    h_restart(net, id);
    nd->applied = 0;
}

static void restore_node(struct h_net *net, uint64_t id, uint64_t term, const uint64_t *terms,
                         size_t n)
{
    restore_node_at(net, id, term, terms, n, 1);
}

/* A follower whose committed entries differ from the new leader's (its WAL was from
 * another history: deleted, damaged, another cluster's) reports it and stops taking
 * appends; before, it sat silently with a log the leader could never repair. */
static void test_committed_conflict_reported(void)
{
    struct h_net net;
    h_init(&net, 3, plain);
    net.expect_div = true;
    static const uint64_t lost[3] = {1, 1, 1}, kept[3] = {1, 2, 2};
    restore_node_at(&net, 1, 2, lost, 3, 3); /* commit 3: entries 2 and 3 of term 1 */
    restore_node_at(&net, 2, 2, kept, 3, 1);
    restore_node_at(&net, 3, 2, kept, 3, 1);
    CU_ASSERT_EQUAL(raft_campaign(h_r(&net, 2)), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_role(&net, 2), RAFT_LEADER);
    struct h_node *f = h_node(&net, 1);
    CU_ASSERT_FATAL(f->n_div >= 1);
    CU_ASSERT_EQUAL(f->div.kind, RAFT_DIVERGED_COMMITTED);
    CU_ASSERT_EQUAL(f->div.peer, 2);
    CU_ASSERT(f->div.index >= 2 && f->div.index <= 3);
    CU_ASSERT_EQUAL(f->div.term_here, 1);
    CU_ASSERT_EQUAL(f->div.term_there, 2);
    /* its committed entries stay as they were, and it takes nothing more */
    CU_ASSERT_EQUAL(f->st.n, 3);
    CU_ASSERT_EQUAL(f->st.ents[1].term, 1);
    CU_ASSERT_EQUAL(f->st.ents[2].term, 1);
    CU_ASSERT_EQUAL(h_propose(&net, 2, "x"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(f->st.n, 3);
    CU_ASSERT_EQUAL(h_commit(&net, 3), h_last(&net, 2)); /* the others go on */
    h_free(&net);
}

/* A follower whose data dir was wiped (same id, empty log) is sent the log again by an
 * idle leader: told of commits by a heartbeat, it says it lacks them, and the leader,
 * which counted them as acknowledged, probes it from where it stands. Before, it waited
 * for the next write (and then a rejection below the acknowledged index was taken as
 * stale: it waited for good). */
static void test_wiped_follower_refilled(void)
{
    struct h_net net;
    h_init(&net, 3, plain);
    h_elect(&net, 1);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(h_propose(&net, 1, "w"), 0);
    h_stabilize(&net);
    uint64_t last = h_last(&net, 1);
    CU_ASSERT_EQUAL_FATAL(h_last(&net, 3), last);
    h_crash(&net, 3);
    struct h_node *f = h_node(&net, 3);
    h_store_free(&f->st);
    memset(&f->st, 0, sizeof(f->st));
    h_restart(&net, 3);
    f->applied = 0;
    CU_ASSERT_EQUAL(h_last(&net, 3), 0);
    for (int round = 0; round < 20 && h_last(&net, 3) < last; round++) {
        h_tick(&net, 1, 1); /* heartbeats only: nothing is proposed */
        h_stabilize(&net);
    }
    CU_ASSERT_EQUAL(h_last(&net, 3), last);
    CU_ASSERT_EQUAL(h_commit(&net, 3), h_commit(&net, 1));
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    h_check_applied_agree(&net);
    h_free(&net);
}

/* A follower that answers with a commit index past the leader's last entry holds
 * committed entries the leader lacks: the leader reports it once, and shows it in the
 * follower's progress. */
static void test_peer_ahead_reported(void)
{
    struct h_net net;
    h_init(&net, 3, plain);
    net.expect_div = true;
    h_elect(&net, 1);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "a"), 0);
    h_stabilize(&net);
    uint64_t last = h_last(&net, 1);
    struct raft_msg m = {.type = RAFT_MSG_APPEND_RESP,
                         .from = 2,
                         .to = 1,
                         .term = h_term(&net, 1),
                         .index = last + 40};
    CU_ASSERT_EQUAL(raft_recv(h_r(&net, 1), &m), 0);
    h_stabilize(&net);
    struct h_node *l = h_node(&net, 1);
    CU_ASSERT_EQUAL_FATAL(l->n_div, 1);
    CU_ASSERT_EQUAL(l->div.kind, RAFT_DIVERGED_PEER_AHEAD);
    CU_ASSERT_EQUAL(l->div.peer, 2);
    CU_ASSERT_EQUAL(l->div.index, last + 40);
    CU_ASSERT_EQUAL(l->div.last_here, last);
    struct raft_status st = h_status(&net, 1);
    bool shown = false;
    for (size_t i = 0; i < st.n_progress; i++)
        if (st.progress[i].id == 2)
            shown = st.progress[i].ahead == last + 40;
    CU_ASSERT(shown);
    /* told, the follower stops (RAFT_DIVERGED_TOLD) and takes no more appends */
    struct h_node *f = h_node(&net, 2);
    CU_ASSERT_FATAL(f->n_div >= 1);
    CU_ASSERT_EQUAL(f->div.kind, RAFT_DIVERGED_TOLD);
    CU_ASSERT_EQUAL(f->div.peer, 1);
    CU_ASSERT_EQUAL(f->div.index, last + 40);
    uint64_t f_last = h_last(&net, 2);
    m.index = last + 41; /* said again: no second report; not counted either */
    CU_ASSERT_EQUAL(raft_recv(h_r(&net, 1), &m), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(l->n_div, 1);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "b"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_last(&net, 2), f_last);            /* the stopped follower took nothing */
    CU_ASSERT_EQUAL(h_commit(&net, 1), h_last(&net, 1)); /* committed with node 3 */
    st = h_status(&net, 1);
    for (size_t i = 0; i < st.n_progress; i++)
        if (st.progress[i].id == 2)
            CU_ASSERT(st.progress[i].match <= last); /* its answers were not counted */
    h_free(&net);
}

/* Fast backtracking: a follower with a long divergent tail is found in a few round
 * trips (its hint skips a whole term), not one per entry. */
static void test_fast_backtracking(void)
{
    struct h_net net;
    h_init(&net, 3, plain);
    static uint64_t old[200], cur[101];
    for (size_t i = 0; i < 200; i++)
        old[i] = 1;
    cur[0] = 1;
    for (size_t i = 1; i < 101; i++)
        cur[i] = 2;
    restore_node(&net, 1, 1, old, 200); /* a deposed leader's long uncommitted tail */
    restore_node(&net, 2, 2, cur, 101);
    restore_node(&net, 3, 2, cur, 101);
    CU_ASSERT_EQUAL(raft_campaign(h_r(&net, 2)), 0);
    size_t rejects = 0;
    for (int round = 0; round < 100; round++) {
        h_readies(&net);
        for (size_t i = 0; i < net.nq; i++)
            if (net.q[i].m.type == RAFT_MSG_APPEND_RESP && net.q[i].m.reject)
                rejects++;
        if (net.nq == 0)
            break;
        h_deliver(&net);
    }
    CU_ASSERT_EQUAL(h_role(&net, 2), RAFT_LEADER);
    CU_ASSERT(rejects >= 1 && rejects <= 2);
    CU_ASSERT_EQUAL(h_last(&net, 1), 102);
    CU_ASSERT_EQUAL(h_commit(&net, 1), 102);
    CU_ASSERT_EQUAL(h_node(&net, 1)->st.ents[100].term, 2);
    h_check_applied_agree(&net);
    h_free(&net);
}

/* §5.4.2 (figure 8): a leader never commits an entry of an earlier term by counting
 * replicas, even once a majority stores it; only an entry of its own term commits by
 * counting, and everything before it with it. */
static void test_figure8_commit_current_term_only(void)
{
    struct h_net net;
    h_init(&net, 5, one_per_msg);
    static const uint64_t l1[] = {1, 2}, l3[] = {1}, l5[] = {1, 3};
    restore_node(&net, 1, 3, l1, 2); /* S1 led term 2, wrote index 2 to S2 only */
    restore_node(&net, 2, 2, l1, 2);
    restore_node(&net, 3, 1, l3, 1);
    restore_node(&net, 4, 1, l3, 1);
    restore_node(&net, 5, 3, l5, 2); /* S5 led term 3, wrote index 2 locally only */
    h_node(&net, 4)->down = true;
    h_node(&net, 5)->down = true;
    h_elect(&net, 1); /* term 4 with votes from S2, S3; stabilizes fully */
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    CU_ASSERT_EQUAL(h_commit(&net, 1), 3);
    h_free(&net);

    /* Again, delivering one message at a time and checking at every step. */
    h_init(&net, 5, one_per_msg);
    restore_node(&net, 1, 3, l1, 2);
    restore_node(&net, 2, 2, l1, 2);
    restore_node(&net, 3, 1, l3, 1);
    restore_node(&net, 4, 1, l3, 1);
    restore_node(&net, 5, 3, l5, 2);
    h_node(&net, 4)->down = true;
    h_node(&net, 5)->down = true;
    CU_ASSERT_EQUAL(raft_campaign(h_r(&net, 1)), 0);
    bool saw_danger = false;
    for (int step = 0; step < 200; step++) {
        h_readies(&net);
        if (net.nq == 0)
            break;
        /* deliver only the first queued message */
        struct h_msg first = net.q[0];
        memmove(net.q, net.q + 1, (net.nq - 1) * sizeof(*net.q));
        net.nq--;
        h_deliver_msg(&net, &first);
        h_msg_free(&first);
        uint64_t c = h_commit(&net, 1);
        CU_ASSERT(c == 1 || c >= 3); /* index 2 (term 2) never commits alone */
        struct raft_status st = h_status(&net, 1);
        if (st.role == RAFT_LEADER) {
            size_t have2 = 0;
            for (size_t i = 0; i < st.n_progress; i++)
                have2 += st.progress[i].match >= 2;
            if (have2 >= 3 && c == 1)
                saw_danger = true;
        }
    }
    CU_ASSERT_TRUE(saw_danger); /* the case did arise: term-2 entry on a majority */
    CU_ASSERT_EQUAL(h_commit(&net, 1), 3);
    CU_ASSERT_EQUAL(h_node(&net, 1)->app[2], 2);
    CU_ASSERT_EQUAL(h_node(&net, 1)->app[3], 4);
    h_free(&net);
}

/* The leader counts its own log toward the quorum only up to what it persisted. */
static void test_leader_counts_own_log_once_persisted(void)
{
    struct h_net net;
    h_init(&net, 3, plain);
    h_elect(&net, 1);
    h_node(&net, 3)->down = true;
    h_node(&net, 1)->hold_persist = true;
    CU_ASSERT_EQUAL(h_propose(&net, 1, "a"), 0);
    h_stabilize(&net);
    struct raft_status st = h_status(&net, 1);
    CU_ASSERT_EQUAL(st.progress[1].match, 2); /* node 2 holds it */
    CU_ASSERT_EQUAL(st.persisted_index, 1);
    CU_ASSERT_EQUAL(st.commit, 1);      /* 1 of 3 is not a majority */
    raft_persisted(h_r(&net, 1), 2, 0); /* wrong term: stale, ignored */
    CU_ASSERT_EQUAL(h_commit(&net, 1), 1);
    raft_persisted(h_r(&net, 1), 2, 1);
    CU_ASSERT_EQUAL(h_commit(&net, 1), 2);
    h_node(&net, 1)->hold_persist = false;
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 2), 2);
    h_free(&net);
}

/* Duplicated and reordered appends never make a follower drop entries it already
 * acknowledged; every node ends with the same log. */
static void test_duplicate_and_reorder(void)
{
    struct h_net net;
    h_init(&net, 3, one_per_msg);
    h_elect(&net, 1);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(h_propose(&net, 1, "d"), 0);
    h_readies(&net);
    /* deliver every queued message twice, last first */
    size_t n = net.nq;
    struct h_msg *batch = net.q;
    net.q = NULL;
    net.nq = net.capq = 0;
    for (size_t k = 0; k < 2; k++)
        for (size_t i = n; i-- > 0;)
            h_deliver_msg(&net, &batch[i]);
    for (size_t i = 0; i < n; i++)
        h_msg_free(&batch[i]);
    free(batch);
    h_stabilize(&net);
    h_tick_all(&net, 3);
    for (uint64_t id = 1; id <= 3; id++) {
        CU_ASSERT_EQUAL(h_last(&net, id), 6);
        CU_ASSERT_EQUAL(h_commit(&net, id), 6);
    }
    h_check_applied_agree(&net);
    h_free(&net);
}

/* Lost appends and answers stall nothing for good: heartbeats revive the pipeline. */
static void test_loss_recovery(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    h_elect(&net, 1);
    for (int round = 0; round < 20; round++) {
        CU_ASSERT_EQUAL(h_propose(&net, 1, "l"), 0);
        h_readies(&net);
        h_drop(&net); /* everything lost */
    }
    CU_ASSERT_EQUAL(h_commit(&net, 1), 1);
    for (int t = 0; t < 5; t++) {
        h_tick(&net, 1, 1);
        h_stabilize(&net);
    }
    for (uint64_t id = 1; id <= 3; id++)
        CU_ASSERT_EQUAL(h_commit(&net, id), 21);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    h_free(&net);
}

/* An update stays valid until raft_advance() whatever the caller steps meanwhile: here
 * the leader is deposed, its uncommitted tail truncated and its log compacted between
 * raft_ready() and raft_advance() (AddressSanitizer checks the reads). */
static void plain_keep0(struct raft_config *c)
{
    plain(c);
    c->compact_keep = 0;
}

static void test_update_valid_until_advance(void)
{
    struct h_net net;
    h_init(&net, 3, plain_keep0);
    h_elect(&net, 1);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "committed"), 0);
    h_stabilize(&net);
    h_isolate(&net, 1);
    for (int i = 0; i < 50; i++)
        CU_ASSERT_EQUAL(h_propose(&net, 1, "doomed-entry"), 0);
    struct raft *r = h_r(&net, 1);
    struct raft_update up;
    raft_ready(r, &up);
    CU_ASSERT_EQUAL_FATAL(up.n_entries, 50);
    CU_ASSERT_EQUAL_FATAL(up.n_msgs_early, 2);
    /* a new leader of term 2 overwrites 3.. on node 1 */
    struct raft_entry e[60];
    for (size_t i = 0; i < 60; i++) {
        e[i].term = 2;
        e[i].index = 3 + i;
        e[i].type = RAFT_ENTRY_NORMAL;
        e[i].data.base = "new";
        e[i].data.len = 3;
    }
    struct raft_msg m = {.type = RAFT_MSG_APPEND,
                         .from = 2,
                         .to = 1,
                         .term = 2,
                         .index = 2,
                         .log_term = 1,
                         .entries = e,
                         .n_entries = 60,
                         .commit = 40};
    CU_ASSERT_EQUAL(raft_recv(r, &m), 0);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_FOLLOWER);
    CU_ASSERT_EQUAL(h_last(&net, 1), 62);
    raft_applied(r, 2);
    struct raft_snapshot_meta meta = {.index = 2, .term = 1};
    CU_ASSERT_EQUAL(raft_compact(r, &meta), 0);
    CU_ASSERT_EQUAL(h_status(&net, 1).first_index, 3);
    for (size_t i = 0; i < up.n_entries; i++) {
        CU_ASSERT_EQUAL(up.entries[i].term, 1);
        CU_ASSERT_EQUAL(up.entries[i].data.len, 12);
        CU_ASSERT_EQUAL(memcmp(up.entries[i].data.base, "doomed-entry", 12), 0);
    }
    for (size_t k = 0; k < up.n_msgs_early; k++)
        for (size_t i = 0; i < up.msgs_early[k].n_entries; i++)
            CU_ASSERT_EQUAL(memcmp(up.msgs_early[k].entries[i].data.base, "doomed-entry", 12), 0);
    raft_advance(r);
    raft_ready(r, &up);
    CU_ASSERT_EQUAL(up.n_entries, 60);
    CU_ASSERT_EQUAL(up.entries[0].index, 3);
    CU_ASSERT_EQUAL(up.n_committed, 38);
    raft_advance(r);
    h_free(&net);
}

/* lazy_commit: a leader's commit that moves sends nothing by itself; the next append
 * carries it, a heartbeat carries it (up to what the follower holds), and
 * raft_send_commit sends empty appends to exactly the followers not yet told. */
static void test_lazy_commit(void)
{
    struct h_net net;
    h_init(&net, 3, lazy);
    h_elect(&net, 1);
    struct raft *l = h_r(&net, 1);
    CU_ASSERT_EQUAL(h_commit(&net, 1), 1); /* the leader's no-op */
    CU_ASSERT_EQUAL(h_commit(&net, 2), 0);
    CU_ASSERT_EQUAL(h_commit(&net, 3), 1);
    CU_ASSERT_TRUE(raft_commit_unsent(l));
    CU_ASSERT_FALSE(raft_commit_unsent(h_r(&net, 2))); /* a follower has nothing to send */
    raft_send_commit(h_r(&net, 2));
    CU_ASSERT_FALSE(raft_has_ready(h_r(&net, 2)));
    raft_send_commit(l);
    CU_ASSERT_TRUE(raft_has_ready(l));
    h_readies(&net);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_APPEND, 1, 2), 1);
    /* node 3 was told during the election (asserted above): no empty append for it */
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_APPEND, 1, 3), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 2), 1);
    CU_ASSERT_EQUAL(h_commit(&net, 3), 1);
    CU_ASSERT_FALSE(raft_commit_unsent(l));
    raft_send_commit(l); /* nothing to say: nothing sent */
    CU_ASSERT_FALSE(raft_has_ready(l));

    /* A write: two appends and two answers, no empty append after its commit. */
    size_t before = net.delivered;
    CU_ASSERT_EQUAL(h_propose(&net, 1, "a"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(net.delivered - before, 4);
    CU_ASSERT_EQUAL(h_commit(&net, 1), 2);
    CU_ASSERT_EQUAL(h_commit(&net, 2), 1);
    CU_ASSERT_TRUE(raft_commit_unsent(l));

    /* The next write's appends carry the previous commit. */
    CU_ASSERT_EQUAL(h_propose(&net, 1, "b"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 1), 3);
    CU_ASSERT_EQUAL(h_commit(&net, 2), 2);
    CU_ASSERT_EQUAL(h_node(&net, 3)->applied, 2);

    /* A heartbeat carries it too. One that is lost is not sent again (nor is a lost empty
     * append without lazy_commit): that follower learns at the next heartbeat. */
    h_isolate(&net, 2);
    h_tick(&net, 1, net.cfg[0].heartbeat_ticks);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 3), 3);
    CU_ASSERT_EQUAL(h_commit(&net, 2), 2);
    CU_ASSERT_FALSE(raft_commit_unsent(l));
    h_heal(&net);
    h_tick(&net, 1, net.cfg[0].heartbeat_ticks);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 2), 3);
    CU_ASSERT_FALSE(raft_commit_unsent(l));

    /* raft_send_commit after an entry one follower (3) missed: both get an empty append
     * (the leader pipelines: it believes 3 has the entry); 2 commits, 3 refuses and is
     * sent the entry. */
    h_isolate(&net, 3);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "c"), 0);
    h_stabilize(&net);
    h_heal(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 1), 4);
    CU_ASSERT_EQUAL(h_commit(&net, 2), 3);
    CU_ASSERT_EQUAL(h_last(&net, 3), 3);
    raft_send_commit(l);
    h_readies(&net);
    const struct raft_msg *m = h_find(&net, RAFT_MSG_APPEND, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_APPEND, 1, 2), 1);
    CU_ASSERT_EQUAL(m->n_entries, 0);
    CU_ASSERT_EQUAL(m->commit, 4);
    m = h_find(&net, RAFT_MSG_APPEND, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_APPEND, 1, 3), 1);
    CU_ASSERT_EQUAL(m->n_entries, 0);
    h_stabilize(&net);
    for (uint64_t id = 1; id <= 3; id++) {
        CU_ASSERT_EQUAL(h_node(&net, id)->applied, 4);
        CU_ASSERT_EQUAL(h_last(&net, id), 4);
    }
    CU_ASSERT_FALSE(raft_commit_unsent(l));
    h_free(&net);
}

static const struct lt_test tests[] = {
    {"append_and_commit", test_append_and_commit},
    {"output_slots", test_output_slots},
    {"batching", test_batching},
    {"pipeline_bounded", test_pipeline_bounded},
    {"probe_one_at_a_time", test_probe_one_at_a_time},
    {"conflict_truncation", test_conflict_truncation},
    {"fast_backtracking", test_fast_backtracking},
    {"figure8_commit_current_term_only", test_figure8_commit_current_term_only},
    {"leader_counts_own_log_once_persisted", test_leader_counts_own_log_once_persisted},
    {"duplicate_and_reorder", test_duplicate_and_reorder},
    {"loss_recovery", test_loss_recovery},
    {"update_valid_until_advance", test_update_valid_until_advance},
    {"lazy_commit", test_lazy_commit},
    {"committed_conflict_reported", test_committed_conflict_reported},
    {"peer_ahead_reported", test_peer_ahead_reported},
    {"wiped_follower_refilled", test_wiped_follower_refilled},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"raft_replication", NULL, NULL, tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
