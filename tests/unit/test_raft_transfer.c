/* test_raft_transfer.c — leadership transfer (Raft thesis §3.10) in the raft core: the
 * target campaigns at once (past PreVote and leader leases), a lagging target is caught
 * up first, proposals are refused meanwhile, a transfer that cannot complete aborts
 * after an election timeout, and followers forward a transfer request. */
#include "cunit_main.h"
#include "test_raft_harness.h"

/* The leader hands over to an up-to-date follower, which wins the next term even
 * though every follower is within its leader lease (CheckQuorum and PreVote on). */
static void test_transfer_success(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    h_elect(&net, 1);
    uint64_t t = h_term(&net, 1);
    CU_ASSERT_EQUAL(raft_transfer(h_r(&net, 1), 2), 0);
    CU_ASSERT_EQUAL(h_status(&net, 1).transferee, 2);
    h_readies(&net);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_TIMEOUT_NOW, 1, 2), 1);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_role(&net, 2), RAFT_LEADER);
    CU_ASSERT_EQUAL(h_term(&net, 2), t + 1);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_FOLLOWER);
    CU_ASSERT_EQUAL(h_status(&net, 1).leader, 2);
    CU_ASSERT_EQUAL(h_status(&net, 1).transferee, RAFT_NONE);
    CU_ASSERT_EQUAL(h_propose(&net, 2, "after"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 1), h_commit(&net, 2));
    /* transferring to oneself is a no-op */
    CU_ASSERT_EQUAL(raft_transfer(h_r(&net, 2), 2), 0);
    CU_ASSERT_EQUAL(h_status(&net, 2).transferee, RAFT_NONE);
    h_free(&net);
}

/* A target that is behind is first caught up; only then is it told to campaign. */
static void test_transfer_target_behind(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    h_elect(&net, 1);
    h_node(&net, 3)->down = true;
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(h_propose(&net, 1, "p"), 0);
    h_stabilize(&net);
    h_node(&net, 3)->down = false;
    CU_ASSERT(h_last(&net, 3) < h_last(&net, 1));
    CU_ASSERT_EQUAL(raft_transfer(h_r(&net, 1), 3), 0);
    h_readies(&net);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_TIMEOUT_NOW, 1, 3), 0);
    h_tick(&net, 1, 1); /* a heartbeat round resumes the paused probe */
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_role(&net, 3), RAFT_LEADER);
    CU_ASSERT_EQUAL(h_last(&net, 3), 12); /* no-op, 10 entries, its own no-op */
    CU_ASSERT_EQUAL(h_commit(&net, 3), 12);
    h_free(&net);
}

/* During a transfer the leader refuses proposals; a transfer to a target that never
 * answers aborts after an election timeout and proposals are accepted again. */
static void test_transfer_timeout_and_refused_proposals(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    h_elect(&net, 1);
    h_node(&net, 3)->down = true;
    CU_ASSERT_EQUAL(h_propose(&net, 1, "p"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(raft_transfer(h_r(&net, 1), 3), 0);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "refused"), LT_ETRANSFER);
    unsigned ticks = 0;
    while (h_status(&net, 1).transferee != RAFT_NONE && ticks < 100) {
        h_tick(&net, 1, 1);
        h_tick(&net, 2, 1);
        h_stabilize(&net);
        ticks++;
    }
    CU_ASSERT_EQUAL(ticks, net.cfg[0].election_ticks);
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "accepted"), 0);
    h_free(&net);
}

/* A follower forwards a transfer request to the leader; target 0 lets the leader
 * pick the most up-to-date follower. */
static void test_transfer_forwarded_and_auto_target(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    h_elect(&net, 1);
    CU_ASSERT_EQUAL(raft_transfer(h_r(&net, 2), 3), 0);
    h_readies(&net);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_TRANSFER_LEADER, 2, 1), 1);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_role(&net, 3), RAFT_LEADER);

    /* node 1 falls behind; "any target" picks node 2 */
    h_node(&net, 1)->down = true;
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(h_propose(&net, 3, "q"), 0);
    h_stabilize(&net);
    h_node(&net, 1)->down = false;
    CU_ASSERT_EQUAL(raft_transfer(h_r(&net, 3), RAFT_NONE), 0);
    CU_ASSERT_EQUAL(h_status(&net, 3).transferee, 2);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_role(&net, 2), RAFT_LEADER);
    h_free(&net);
}

/* t_match: the leader's match index for follower `id`. */
static uint64_t t_match(struct h_net *net, uint64_t leader, uint64_t id)
{
    struct raft_status st = h_status(net, leader);
    for (size_t i = 0; i < st.n_progress; i++)
        if (st.progress[i].id == id)
            return st.progress[i].match;
    return 0;
}

/* "Any target" passes over a follower that stopped answering, though its match is as high
 * as a live one's (it keeps the match it had): the lower id won the tie, and a transfer to
 * a dead node timed out (QA: force-election with a follower killed gave up). */
static void test_transfer_auto_target_skips_a_silent_follower(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    h_elect(&net, 1);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "p"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(t_match(&net, 1, 2), t_match(&net, 1, 3));
    h_node(&net, 2)->down = true;
    /* two CheckQuorum rounds: node 2 not heard in either, node 3 in both */
    for (unsigned i = 0; i < 2 * net.cfg[0].election_ticks + 1; i++) {
        h_tick(&net, 1, 1);
        h_tick(&net, 3, 1);
        h_stabilize(&net);
    }
    CU_ASSERT_EQUAL(h_role(&net, 1), RAFT_LEADER);
    CU_ASSERT_EQUAL(t_match(&net, 1, 2), t_match(&net, 1, 3));
    CU_ASSERT_EQUAL(raft_transfer(h_r(&net, 1), RAFT_NONE), 0);
    CU_ASSERT_EQUAL(h_status(&net, 1).transferee, 3);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_role(&net, 3), RAFT_LEADER);
    h_free(&net);
}

static const struct lt_test tests[] = {
    {"transfer_success", test_transfer_success},
    {"transfer_target_behind", test_transfer_target_behind},
    {"transfer_timeout_and_refused_proposals", test_transfer_timeout_and_refused_proposals},
    {"transfer_forwarded_and_auto_target", test_transfer_forwarded_and_auto_target},
    {"transfer_auto_target_skips_a_silent_follower",
     test_transfer_auto_target_skips_a_silent_follower},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"raft_transfer", NULL, NULL, tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
