/* test_raft_prevote.c — PreVote (Raft thesis §9.6) and CheckQuorum / leader lease
 * (thesis §6.2, §4.2.3) in the raft core: a partitioned node rejoining does not bump
 * the term nor depose a healthy leader; a leader cut from its quorum steps down; a
 * follower that hears from its leader ignores vote requests. */
#include "cunit_main.h"
#include "test_raft_harness.h"

static void plain(struct raft_config *c)
{
    c->pre_vote = false;
    c->check_quorum = false;
}

static void cq_only(struct raft_config *c)
{
    c->pre_vote = false;
    c->check_quorum = true;
}

static void pv_only(struct raft_config *c)
{
    c->pre_vote = true;
    c->check_quorum = false;
}

/* With PreVote a partitioned node keeps asking but never raises its term; when it
 * rejoins, the leader keeps its leadership and term. */
static void test_partitioned_node_does_not_bump_term(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    h_elect(&net, 1);
    uint64_t t = h_term(&net, 1);
    h_isolate(&net, 3);
    for (int i = 0; i < 60; i++)
        h_tick_all(&net, 1);
    CU_ASSERT_EQUAL(h_term(&net, 3), t);
    CU_ASSERT_EQUAL(h_role(&net, 3), RAFT_PRE_CANDIDATE);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    h_heal(&net);
    h_tick_all(&net, 5);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    CU_ASSERT_EQUAL(h_term(&net, 1), t);
    CU_ASSERT_EQUAL(h_role(&net, 3), RAFT_FOLLOWER);
    CU_ASSERT_EQUAL(h_status(&net, 3).leader, 1);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "ok"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 3), h_commit(&net, 1));
    h_free(&net);
}

/* The contrast: without PreVote or CheckQuorum the same rejoin deposes the leader. */
static void test_without_prevote_rejoin_disrupts(void)
{
    struct h_net net;
    h_init(&net, 3, plain);
    h_elect(&net, 1);
    uint64_t t = h_term(&net, 1);
    h_isolate(&net, 3);
    for (int i = 0; i < 60; i++)
        h_tick(&net, 3, 1);
    h_stabilize(&net);
    CU_ASSERT(h_term(&net, 3) > t);
    h_heal(&net);
    h_tick(&net, 3, 20);
    h_stabilize(&net);
    CU_ASSERT(h_term(&net, 1) > t);
    h_free(&net);
}

/* A pre-vote grant changes nothing on the voter: no term, no vote. */
static void test_prevote_records_nothing(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    struct raft_msg m = {.type = RAFT_MSG_PRE_VOTE, .from = 2, .to = 1, .term = 1};
    CU_ASSERT_EQUAL(raft_recv(h_r(&net, 1), &m), 0);
    h_handle_ready(&net, 1);
    const struct raft_msg *resp = h_find(&net, RAFT_MSG_PRE_VOTE_RESP, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
    CU_ASSERT_FALSE(resp->reject);
    CU_ASSERT_EQUAL(resp->term, 1);
    CU_ASSERT_EQUAL(h_term(&net, 1), 0);
    CU_ASSERT_EQUAL(h_status(&net, 1).vote, RAFT_NONE);
    h_free(&net);
}

/* When the leader is really gone, PreVote succeeds and the next leader is elected in
 * exactly the next term. */
static void test_prevote_elects_after_leader_loss(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    h_elect(&net, 1);
    uint64_t t = h_term(&net, 1);
    h_crash(&net, 1);
    uint64_t l = 0;
    for (int i = 0; i < 60 && !l; i++) {
        h_tick_all(&net, 1);
        l = h_role(&net, 2) == RAFT_LEADER ? 2 : h_role(&net, 3) == RAFT_LEADER ? 3 : 0;
    }
    CU_ASSERT_NOT_EQUAL_FATAL(l, 0);
    CU_ASSERT_EQUAL(h_term(&net, l), t + 1);
    h_free(&net);
}

/* CheckQuorum: a leader that has not heard from a quorum for an election timeout
 * steps down (and stops accepting proposals). */
static void test_checkquorum_leader_steps_down(void)
{
    struct h_net net;
    h_init(&net, 3, cq_only);
    h_elect(&net, 1);
    h_isolate(&net, 1);
    for (unsigned i = 0; i < net.cfg[0].election_ticks && h_role(&net, 1) == RAFT_LEADER; i++) {
        h_tick(&net, 1, 1);
        h_stabilize(&net);
    }
    /* the first CheckQuorum round only starts the count; the second one decides */
    for (unsigned i = 0; i < net.cfg[0].election_ticks && h_role(&net, 1) == RAFT_LEADER; i++) {
        h_tick(&net, 1, 1);
        h_stabilize(&net);
    }
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_FOLLOWER);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "x"), LT_ENOTLEADER);
    h_free(&net);

    /* while it hears from a quorum, it stays leader */
    h_init(&net, 3, cq_only);
    h_elect(&net, 1);
    h_node(&net, 3)->down = true;
    for (int i = 0; i < 50; i++) {
        h_tick(&net, 1, 1);
        h_tick(&net, 2, 1);
        h_stabilize(&net);
    }
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    h_free(&net);
}

/* Leader lease: a follower that heard from its leader within the election timeout
 * ignores a higher-term vote request, and keeps its term. */
static void test_lease_rejects_votes(void)
{
    struct h_net net;
    h_init(&net, 3, cq_only);
    h_elect(&net, 1);
    uint64_t t = h_term(&net, 1);
    h_isolate(&net, 3);
    for (int i = 0; i < 40; i++)
        h_tick(&net, 3, 1);
    h_stabilize(&net);
    CU_ASSERT(h_term(&net, 3) > t); /* without PreVote its term went up alone */
    h_heal(&net);
    /* 3 campaigns again, now heard by 1 and 2, who both are within their lease */
    h_tick(&net, 1, 1);
    h_tick(&net, 2, 1);
    CU_ASSERT_EQUAL(raft_campaign(h_r(&net, 3)), 0);
    h_readies(&net);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_VOTE, 3, 0), 2);
    h_deliver(&net);
    h_readies(&net);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_VOTE_RESP, 0, 3), 0);
    CU_ASSERT_EQUAL(h_term(&net, 2), t);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    CU_ASSERT_EQUAL(h_term(&net, 1), t);
    h_free(&net);
}

/* The lease does not stop a transfer campaign: a vote request with context 1 (sent by
 * the target of MSG_TIMEOUT_NOW) is answered even within the lease. */
static void test_lease_lets_transfer_through(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    h_elect(&net, 1);
    uint64_t t = h_term(&net, 1);
    uint64_t last = h_last(&net, 2);
    struct raft_msg v = {.type = RAFT_MSG_VOTE,
                         .from = 3,
                         .to = 2,
                         .term = t + 1,
                         .index = last,
                         .log_term = t,
                         .context = 0};
    CU_ASSERT_EQUAL(raft_recv(h_r(&net, 2), &v), 0);
    CU_ASSERT_EQUAL(h_term(&net, 2), t); /* ignored: within the lease */
    v.context = 1;
    CU_ASSERT_EQUAL(raft_recv(h_r(&net, 2), &v), 0);
    CU_ASSERT_EQUAL(h_term(&net, 2), t + 1);
    h_handle_ready(&net, 2);
    const struct raft_msg *resp = h_find(&net, RAFT_MSG_VOTE_RESP, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
    CU_ASSERT_FALSE(resp->reject);
    CU_ASSERT_EQUAL(h_status(&net, 2).vote, 3);
    h_free(&net);
}

/* A granted pre-vote answers one round only: a grant for term t (asked while at t - 1)
 * that arrives late, once the node is back at t asking about t + 1, must not count.
 * Otherwise a node no quorum would pre-vote for runs a real election and, without the
 * CheckQuorum lease, deposes a healthy leader: what PreVote (§9.6) is there to stop. */
static void test_stale_prevote_grant_not_counted(void)
{
    struct h_net net;
    h_init(&net, 3, pv_only);
    /* n3 asks at term 0 (for term 1); n2 grants; the answer is delayed. */
    CU_ASSERT_EQUAL(raft_campaign(h_r(&net, 3)), 0);
    h_readies(&net);
    const struct raft_msg *pv = h_find(&net, RAFT_MSG_PRE_VOTE, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pv);
    struct raft_msg req = *pv;
    h_drop(&net);
    CU_ASSERT_EQUAL(raft_recv(h_r(&net, 2), &req), 0);
    h_readies(&net);
    const struct raft_msg *g = h_find(&net, RAFT_MSG_PRE_VOTE_RESP, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_FALSE(g->reject);
    struct raft_msg stale = *g;
    h_drop(&net);
    /* n1 is elected in term 1; n3 follows it. */
    h_elect(&net, 1);
    uint64_t t = h_term(&net, 1);
    CU_ASSERT_EQUAL(t, stale.term);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    CU_ASSERT_EQUAL(h_status(&net, 3).leader, 1);
    /* n3 misses heartbeats and pre-campaigns for t + 1; its requests are lost. */
    h_tick(&net, 3, 2 * net.cfg[2].election_ticks);
    CU_ASSERT_EQUAL(h_role(&net, 3), RAFT_PRE_CANDIDATE);
    h_readies(&net);
    h_drop(&net);
    /* The old grant arrives: it says nothing about term t + 1. */
    CU_ASSERT_EQUAL(raft_recv(h_r(&net, 3), &stale), 0);
    CU_ASSERT_EQUAL(h_role(&net, 3), RAFT_PRE_CANDIDATE);
    CU_ASSERT_EQUAL(h_term(&net, 3), t);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    CU_ASSERT_EQUAL(h_term(&net, 1), t);
    h_free(&net);
}

static const struct lt_test tests[] = {
    {"partitioned_node_does_not_bump_term", test_partitioned_node_does_not_bump_term},
    {"without_prevote_rejoin_disrupts", test_without_prevote_rejoin_disrupts},
    {"prevote_records_nothing", test_prevote_records_nothing},
    {"prevote_elects_after_leader_loss", test_prevote_elects_after_leader_loss},
    {"checkquorum_leader_steps_down", test_checkquorum_leader_steps_down},
    {"lease_rejects_votes", test_lease_rejects_votes},
    {"lease_lets_transfer_through", test_lease_lets_transfer_through},
    {"stale_prevote_grant_not_counted", test_stale_prevote_grant_not_counted},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"raft_prevote", NULL, NULL, tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
