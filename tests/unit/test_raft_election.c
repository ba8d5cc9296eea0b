/* test_raft_election.c — the raft core's leader election, one test per rule of the
 * Raft paper (§5.1, §5.2, §5.4.1), after etcd's raft_paper_test.go: timeouts, winning
 * with a majority, one vote per term, the election restriction, split votes, and
 * stepping down on a higher term. PreVote and CheckQuorum are in test_raft_prevote.c. */
#include "cunit_main.h"
#include "test_raft_harness.h"

static void no_prevote(struct raft_config *c)
{
    c->pre_vote = false;
    c->check_quorum = false;
}

/* §5.2: a follower that hears nothing for an election timeout becomes a candidate:
 * it increments its term, votes for itself and asks every other node for its vote. */
static void test_follower_starts_election(void)
{
    struct h_net net;
    h_init(&net, 3, no_prevote);
    struct raft *r = h_r(&net, 1);
    unsigned ticks = 0;
    while (h_role(&net, 1) == RAFT_FOLLOWER && ticks < 100) {
        raft_tick(r);
        ticks++;
    }
    CU_ASSERT(ticks >= 10 && ticks < 20); /* [election_ticks, 2 * election_ticks) */
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_CANDIDATE);
    CU_ASSERT_EQUAL(h_term(&net, 1), 1);
    CU_ASSERT_EQUAL(h_status(&net, 1).vote, 1);
    h_readies(&net);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_VOTE, 1, 2), 1);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_VOTE, 1, 3), 1);
    /* the vote is persisted before the requests leave */
    CU_ASSERT_EQUAL(h_node(&net, 1)->st.hs.term, 1);
    CU_ASSERT_EQUAL(h_node(&net, 1)->st.hs.vote, 1);
    CU_ASSERT_EQUAL(h_node(&net, 1)->early_sent, 0);
    h_free(&net);
}

/* §5.2: timeouts are randomized; different nodes (seeds) pick different ones, all in
 * [election_ticks, 2 * election_ticks). */
static void test_randomized_timeout_range(void)
{
    bool seen[20] = {false};
    for (uint64_t seed = 1; seed <= 200; seed++) {
        struct raft_conf conf = {.voters = {1, 2, 3}, .n_voters = 3};
        struct raft_config cfg;
        raft_config_default(&cfg, 1, &conf);
        cfg.pre_vote = false;
        cfg.seed = seed;
        struct raft *r;
        CU_ASSERT_EQUAL_FATAL(raft_new(&cfg, NULL, &r), 0);
        unsigned t = 0;
        struct raft_status st;
        do {
            raft_tick(r);
            t++;
            raft_status(r, &st);
        } while (st.role == RAFT_FOLLOWER && t < 100);
        CU_ASSERT(t >= 10 && t < 20);
        if (t < 20)
            seen[t] = true;
        raft_free(r);
    }
    unsigned distinct = 0;
    for (int i = 10; i < 20; i++)
        distinct += seen[i];
    CU_ASSERT(distinct >= 8);
}

/* §5.2: a candidate that receives votes from a majority becomes leader, tells the
 * others with appends, and the others follow it. */
static void test_candidate_wins_with_majority(void)
{
    struct h_net net;
    h_init(&net, 5, no_prevote);
    h_node(&net, 4)->down = true;
    h_node(&net, 5)->down = true;
    h_elect(&net, 1);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    CU_ASSERT_EQUAL(h_status(&net, 2).leader, 1);
    CU_ASSERT_EQUAL(h_status(&net, 3).leader, 1);
    /* the no-op of the new term committed on 3 of 5 */
    CU_ASSERT_EQUAL(h_commit(&net, 1), 1);
    CU_ASSERT_EQUAL(h_node(&net, 1)->app[1], 1);
    h_free(&net);
}

/* §5.2: a candidate that hears from a majority of rejections returns to follower. */
static void test_candidate_loses(void)
{
    struct h_net net;
    h_init(&net, 3, no_prevote);
    h_elect(&net, 1);
    /* node 3 campaigns at term 2 against two nodes that hold a newer log (1 no-op) */
    h_crash(&net, 3);
    h_store_truncate(&h_node(&net, 3)->st, 0);
    h_restart(&net, 3);
    h_drop(&net);
    CU_ASSERT_EQUAL(raft_campaign(h_r(&net, 3)), 0);
    h_stabilize(&net);
    CU_ASSERT_NOT_EQUAL(h_role(&net, 3), RAFT_LEADER);
    h_free(&net);
}

/* §5.2: each server votes for at most one candidate in a term, first come first
 * served, and remembers the vote (persisted before the answer leaves). */
static void test_vote_once_per_term(void)
{
    struct h_net net;
    h_init(&net, 3, no_prevote);
    struct raft *r = h_r(&net, 1);
    struct raft_msg v2 = {.type = RAFT_MSG_VOTE, .from = 2, .to = 1, .term = 1};
    struct raft_msg v3 = {.type = RAFT_MSG_VOTE, .from = 3, .to = 1, .term = 1};
    CU_ASSERT_EQUAL(raft_recv(r, &v2), 0);
    CU_ASSERT_EQUAL(raft_recv(r, &v3), 0);
    CU_ASSERT_EQUAL(raft_recv(r, &v2), 0); /* a repeat of the granted request */
    h_handle_ready(&net, 1);
    CU_ASSERT_EQUAL(h_node(&net, 1)->st.hs.vote, 2);
    CU_ASSERT_EQUAL(net.nq, 3);
    CU_ASSERT_FALSE(net.q[0].m.reject);
    CU_ASSERT_EQUAL(net.q[0].m.to, 2);
    CU_ASSERT_TRUE(net.q[1].m.reject);
    CU_ASSERT_EQUAL(net.q[1].m.to, 3);
    CU_ASSERT_FALSE(net.q[2].m.reject);
    /* a restart keeps the vote */
    h_drop(&net);
    h_crash(&net, 1);
    h_restart(&net, 1);
    r = h_r(&net, 1);
    CU_ASSERT_EQUAL(raft_recv(r, &v3), 0);
    h_handle_ready(&net, 1);
    CU_ASSERT_EQUAL(net.nq, 1);
    CU_ASSERT_TRUE(net.q[0].m.reject);
    h_free(&net);
}

/* §5.4.1: a voter denies its vote to a candidate whose log is less up-to-date than its
 * own: lower last term, or same last term and shorter. */
static void test_reject_stale_log(void)
{
    struct h_net net;
    h_init(&net, 3, no_prevote);
    h_elect(&net, 1);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "x"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_last(&net, 2), 2);
    struct raft *r = h_r(&net, 2);
    uint64_t t = h_term(&net, 2);
    struct raft_msg cases[] = {
        {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = t + 1, .index = 5, .log_term = 0},
        {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = t + 2, .index = 1, .log_term = t},
    };
    for (size_t i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(raft_recv(r, &cases[i]), 0);
        h_handle_ready(&net, 2);
        const struct raft_msg *resp = h_find(&net, RAFT_MSG_VOTE_RESP, 3);
        CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
        CU_ASSERT_TRUE(resp->reject);
        h_drop(&net);
    }
    /* an equally up-to-date log gets the vote */
    struct raft_msg ok = {
        .type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = t + 3, .index = 2, .log_term = t};
    CU_ASSERT_EQUAL(raft_recv(r, &ok), 0);
    h_handle_ready(&net, 2);
    const struct raft_msg *resp = h_find(&net, RAFT_MSG_VOTE_RESP, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
    CU_ASSERT_FALSE(resp->reject);
    h_free(&net);
}

/* §5.2: with a split vote nobody wins the term; randomized timeouts start a new
 * election that does elect a leader. */
static void test_split_vote_then_reelection(void)
{
    struct h_net net;
    h_init(&net, 4, no_prevote);
    /* 1 and 2 both campaign in term 1; 3 hears 1 first, 4 hears 2 first: 2 votes each */
    CU_ASSERT_EQUAL(raft_campaign(h_r(&net, 1)), 0);
    CU_ASSERT_EQUAL(raft_campaign(h_r(&net, 2)), 0);
    h_readies(&net);
    net.cut[2][3] = true;
    net.cut[1][4] = true;
    h_stabilize(&net);
    h_heal(&net);
    for (uint64_t id = 1; id <= 4; id++)
        CU_ASSERT_NOT_EQUAL(h_role(&net, id), RAFT_LEADER);
    CU_ASSERT_EQUAL(h_term(&net, 1), 1);
    /* time passes: somebody times out first and wins a later term */
    int leaders = 0;
    for (int t = 0; t < 100 && leaders == 0; t++) {
        h_tick_all(&net, 1);
        for (uint64_t id = 1; id <= 4; id++)
            leaders += h_role(&net, id) == RAFT_LEADER;
    }
    CU_ASSERT_EQUAL(leaders, 1);
    for (uint64_t id = 1; id <= 4; id++)
        CU_ASSERT(h_term(&net, id) >= 2);
    h_free(&net);
}

/* §5.1: a leader (any node) that sees a higher term reverts to follower. */
static void test_higher_term_makes_leader_step_down(void)
{
    struct h_net net;
    h_init(&net, 3, no_prevote);
    h_elect(&net, 1);
    uint64_t t = h_term(&net, 1);
    struct raft_msg m = {.type = RAFT_MSG_APPEND_RESP, .from = 2, .to = 1, .term = t + 5};
    CU_ASSERT_EQUAL(raft_recv(h_r(&net, 1), &m), 0);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_FOLLOWER);
    CU_ASSERT_EQUAL(h_term(&net, 1), t + 5);
    CU_ASSERT_EQUAL(h_status(&net, 1).leader, RAFT_NONE);
    CU_ASSERT_EQUAL(raft_propose(h_r(&net, 1), RAFT_ENTRY_NORMAL, NULL, 1, NULL, NULL),
                    LT_ENOTLEADER);
    h_free(&net);
}

/* §5.1: a message with a stale term is rejected; the stale leader learns the newer term
 * (from the answer to its append) and steps down, and its entry never commits. */
static void test_stale_leader_rejected(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    h_elect(&net, 1);
    h_isolate(&net, 1);
    /* 2 and 3 stop hearing from 1; once their leases expire one of them wins */
    uint64_t l = 0;
    for (int t = 0; t < 100 && !l; t++) {
        h_tick(&net, 2, 1);
        h_tick(&net, 3, 1);
        h_stabilize(&net);
        l = h_role(&net, 2) == RAFT_LEADER ? 2 : h_role(&net, 3) == RAFT_LEADER ? 3 : 0;
    }
    CU_ASSERT_NOT_EQUAL_FATAL(l, 0);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER); /* does not know yet */
    CU_ASSERT_EQUAL(h_propose(&net, 1, "stale"), 0);
    h_readies(&net);
    h_heal(&net);
    h_tick(&net, l, 1); /* a heartbeat reaches 1; 1's stale append is answered */
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_FOLLOWER);
    CU_ASSERT_EQUAL(h_term(&net, 1), h_term(&net, l));
    CU_ASSERT_EQUAL(h_propose(&net, l, "fresh"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 1), h_commit(&net, l));
    CU_ASSERT_EQUAL(h_node(&net, 1)->applied, h_node(&net, l)->applied);
    h_check_applied_agree(&net);
    for (uint64_t k = 1; k <= h_node(&net, 1)->applied; k++)
        CU_ASSERT_NOT_EQUAL(h_node(&net, 1)->app[k], 0);
    h_free(&net);
}

/* A single-voter cluster elects itself at once and commits on its own persist; it takes
 * proposals only once its term is durable (sim finding F1). */
static void test_single_node(void)
{
    struct h_net net;
    h_init(&net, 1, NULL);
    CU_ASSERT_EQUAL(raft_campaign(h_r(&net, 1)), 0);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    /* its new term is not durable yet: a crash now could make it lead term 1 again */
    CU_ASSERT_EQUAL(h_propose(&net, 1, "a"), LT_EBUSY);
    h_crash(&net, 1);
    h_restart(&net, 1);
    CU_ASSERT_EQUAL(h_term(&net, 1), 0);
    CU_ASSERT_EQUAL(raft_campaign(h_r(&net, 1)), 0);
    h_readies(&net); /* term and no-op persisted together */
    CU_ASSERT_EQUAL(h_commit(&net, 1), 1);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "a"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 1), 2);
    CU_ASSERT_EQUAL(h_node(&net, 1)->applied, 2);
    h_free(&net);
}

/* Bad configurations and messages are errors, not crashes. */
static void test_bad_input(void)
{
    struct raft_conf conf = {.voters = {1, 2, 3}, .n_voters = 3};
    struct raft_config cfg;
    struct raft *r = NULL;
    raft_config_default(&cfg, 0, &conf);
    CU_ASSERT_EQUAL(raft_new(&cfg, NULL, &r), LT_EINVAL);
    raft_config_default(&cfg, 1, &conf);
    cfg.heartbeat_ticks = cfg.election_ticks;
    CU_ASSERT_EQUAL(raft_new(&cfg, NULL, &r), LT_EINVAL);
    struct raft_conf dup = {.voters = {1, 1}, .n_voters = 2};
    raft_config_default(&cfg, 1, &dup);
    CU_ASSERT_EQUAL(raft_new(&cfg, NULL, &r), LT_EINVAL);
    CU_ASSERT_PTR_NULL(r);
    raft_config_default(&cfg, 1, &conf);
    CU_ASSERT_EQUAL_FATAL(raft_new(&cfg, NULL, &r), 0);
    struct raft_msg m = {.type = 99, .from = 2, .to = 1};
    CU_ASSERT_EQUAL(raft_recv(r, &m), LT_EINVAL);
    m.type = RAFT_MSG_APPEND;
    m.to = 3;
    CU_ASSERT_EQUAL(raft_recv(r, &m), LT_EINVAL);
    struct raft_entry e = {.term = 1, .index = 7};
    m.to = 1;
    m.term = 1;
    m.entries = &e;
    m.n_entries = 1;
    m.index = 0; /* entry index does not follow */
    CU_ASSERT_EQUAL(raft_recv(r, &m), LT_EINVAL);
    CU_ASSERT_EQUAL(raft_propose(r, RAFT_ENTRY_NORMAL, NULL, 1, NULL, NULL), LT_ENOTLEADER);
    CU_ASSERT_EQUAL(raft_read_index(r, 5), LT_ENOTLEADER);
    CU_ASSERT_EQUAL(raft_transfer(r, 2), LT_ENOTLEADER);
    CU_ASSERT_EQUAL(raft_transfer(r, 9), LT_EINVAL);
    /* A snapshot must cover an index and name a valid voter set (or none: the current) */
    struct raft_msg sm = {.type = RAFT_MSG_SNAPSHOT,
                          .from = 2,
                          .to = 1,
                          .term = 1,
                          .snapshot = {.index = 10, .term = 1, .conf = {{2, 2, 3}, 3}}};
    CU_ASSERT_EQUAL(raft_recv(r, &sm), LT_EINVAL); /* a voter twice */
    sm.snapshot.conf.voters[1] = RAFT_NONE;
    CU_ASSERT_EQUAL(raft_recv(r, &sm), LT_EINVAL); /* voter 0 */
    sm.snapshot.conf.n_voters = RAFT_MAX_NODES + 1;
    CU_ASSERT_EQUAL(raft_recv(r, &sm), LT_EINVAL);
    sm.snapshot.conf = conf;
    sm.snapshot.index = 0;
    CU_ASSERT_EQUAL(raft_recv(r, &sm), LT_EINVAL); /* covers nothing */
    struct raft_status st;
    raft_status(r, &st);
    CU_ASSERT_EQUAL(st.term, 0); /* none of them was looked at */
    CU_ASSERT_FALSE(raft_snapshot_meta_is_valid(&sm.snapshot));
    sm.snapshot.index = 10;
    CU_ASSERT_TRUE(raft_snapshot_meta_is_valid(&sm.snapshot));
    sm.snapshot.conf.n_voters = 0; /* none: the receiver's own */
    CU_ASSERT_TRUE(raft_snapshot_meta_is_valid(&sm.snapshot));
    sm.snapshot.conf = conf;
    CU_ASSERT_EQUAL(raft_recv(r, &sm), 0);
    struct raft_update up;
    raft_ready(r, &up);
    CU_ASSERT_PTR_NOT_NULL_FATAL(up.snapshot);
    CU_ASSERT_EQUAL(up.snapshot->index, 10);
    CU_ASSERT_EQUAL(up.snapshot->conf.n_voters, 3);
    raft_advance(r);
    CU_ASSERT_STRING_EQUAL(raft_role_name(RAFT_LEADER), "leader");
    CU_ASSERT_STRING_EQUAL(raft_msg_type_name(RAFT_MSG_TIMEOUT_NOW), "timeout_now");
    raft_free(r);
    raft_free(NULL);
}

static const struct lt_test tests[] = {
    {"follower_starts_election", test_follower_starts_election},
    {"randomized_timeout_range", test_randomized_timeout_range},
    {"candidate_wins_with_majority", test_candidate_wins_with_majority},
    {"candidate_loses", test_candidate_loses},
    {"vote_once_per_term", test_vote_once_per_term},
    {"reject_stale_log", test_reject_stale_log},
    {"split_vote_then_reelection", test_split_vote_then_reelection},
    {"higher_term_makes_leader_step_down", test_higher_term_makes_leader_step_down},
    {"stale_leader_rejected", test_stale_leader_rejected},
    {"single_node", test_single_node},
    {"bad_input", test_bad_input},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"raft_election", NULL, NULL, tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
