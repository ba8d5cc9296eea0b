/* test_raft_readindex.c — linearizable reads by ReadIndex (Raft thesis §6.4) in the raft
 * core: the leader answers only after a heartbeat round confirms its leadership with a
 * quorum, followers' requests are forwarded and answered, and a new leader delays
 * reads until it has committed an entry of its own term. */
#include "cunit_main.h"
#include "test_raft_harness.h"

/* The leader records its commit index, confirms it is still leader with a quorum by a
 * heartbeat round, then hands out the read state. */
static void test_leader_read_index(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    h_elect(&net, 1);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "a"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(raft_read_index(h_r(&net, 1), 7), 0);
    h_readies(&net);
    CU_ASSERT_EQUAL(h_node(&net, 1)->n_reads, 0);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_HEARTBEAT, 1, 0), 2);
    const struct raft_msg *hb = h_find(&net, RAFT_MSG_HEARTBEAT, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(hb);
    CU_ASSERT_NOT_EQUAL(hb->context, 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL_FATAL(h_node(&net, 1)->n_reads, 1);
    CU_ASSERT_EQUAL(h_node(&net, 1)->reads[0].context, 7);
    CU_ASSERT_EQUAL(h_node(&net, 1)->reads[0].index, 2);
    h_free(&net);
}

/* A leader cut from the others never answers: it cannot prove it is still leader. */
static void test_isolated_leader_does_not_answer(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    h_elect(&net, 1);
    h_isolate(&net, 1);
    CU_ASSERT_EQUAL(raft_read_index(h_r(&net, 1), 1), 0);
    CU_ASSERT_EQUAL(raft_read_index(h_r(&net, 1), 2), 0);
    for (int i = 0; i < 5; i++) {
        h_tick(&net, 1, 1);
        h_stabilize(&net);
    }
    CU_ASSERT_EQUAL(h_node(&net, 1)->n_reads, 0);
    /* acks of one follower are a quorum with the leader: both requests, in order */
    net.cut[1][2] = net.cut[2][1] = false;
    h_tick(&net, 1, 1);
    h_stabilize(&net);
    CU_ASSERT_EQUAL_FATAL(h_node(&net, 1)->n_reads, 2);
    CU_ASSERT_EQUAL(h_node(&net, 1)->reads[0].context, 1);
    CU_ASSERT_EQUAL(h_node(&net, 1)->reads[1].context, 2);
    h_free(&net);
}

/* A follower forwards its request to the leader and gets the read index back; it
 * serves the read once it applied up to that index. */
static void test_follower_forwarded(void)
{
    struct h_net net;
    h_init(&net, 3, NULL);
    h_elect(&net, 1);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "a"), 0);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "b"), 0);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(raft_read_index(h_r(&net, 2), 42), 0);
    h_readies(&net);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_READ_INDEX, 2, 1), 1);
    h_stabilize(&net);
    CU_ASSERT_EQUAL_FATAL(h_node(&net, 2)->n_reads, 1);
    CU_ASSERT_EQUAL(h_node(&net, 2)->reads[0].context, 42);
    CU_ASSERT_EQUAL(h_node(&net, 2)->reads[0].index, 3);
    CU_ASSERT(h_node(&net, 2)->applied >= 3);
    CU_ASSERT_EQUAL(h_node(&net, 1)->n_reads, 0);
    /* a node with no known leader refuses */
    h_free(&net);
    h_init(&net, 3, NULL);
    CU_ASSERT_EQUAL(raft_read_index(h_r(&net, 2), 1), LT_ENOTLEADER);
    CU_ASSERT_EQUAL(raft_read_index(h_r(&net, 2), 0), LT_EINVAL);
    h_free(&net);
}

/* §6.4 step 1: a new leader does not know the latest commit index until it commits an
 * entry of its own term (its no-op); reads wait for that. */
static void plain(struct raft_config *c)
{
    c->pre_vote = false;
    c->check_quorum = false;
}

static void test_waits_for_commit_in_term(void)
{
    struct h_net net;
    h_init(&net, 3, plain);
    h_elect(&net, 1);
    CU_ASSERT_EQUAL(h_propose(&net, 1, "a"), 0);
    h_stabilize(&net);
    /* 2 wins term 2 with 3's vote; its first appends are lost */
    net.cut[2][1] = true;
    CU_ASSERT_EQUAL(raft_campaign(h_r(&net, 2)), 0);
    for (int i = 0; i < 3; i++) {
        h_readies(&net);
        h_deliver(&net);
    }
    CU_ASSERT_EQUAL_FATAL(h_role(&net, 2), RAFT_LEADER);
    h_readies(&net);
    h_drop(&net);
    h_heal(&net);
    CU_ASSERT_EQUAL(h_last(&net, 2), 3);
    CU_ASSERT_EQUAL(h_commit(&net, 2), 2); /* its no-op at 3 is not committed */
    CU_ASSERT_EQUAL(raft_read_index(h_r(&net, 2), 5), 0);
    h_readies(&net);
    CU_ASSERT_EQUAL(h_count(&net, RAFT_MSG_HEARTBEAT, 2, 0), 0);
    CU_ASSERT_EQUAL(h_node(&net, 2)->n_reads, 0);
    h_tick(&net, 2, 1);
    h_stabilize(&net);
    CU_ASSERT_EQUAL(h_commit(&net, 2), 3);
    CU_ASSERT_EQUAL_FATAL(h_node(&net, 2)->n_reads, 1);
    CU_ASSERT_EQUAL(h_node(&net, 2)->reads[0].context, 5);
    CU_ASSERT_EQUAL(h_node(&net, 2)->reads[0].index, 3);
    h_free(&net);
}

/* A single-voter cluster answers at once (once its no-op committed). */
static void test_single_node(void)
{
    struct h_net net;
    h_init(&net, 1, NULL);
    CU_ASSERT_EQUAL(raft_campaign(h_r(&net, 1)), 0);
    CU_ASSERT_EQUAL(raft_read_index(h_r(&net, 1), 3), 0); /* queued: no-op not durable */
    h_readies(&net);
    h_readies(&net);
    CU_ASSERT_EQUAL(raft_read_index(h_r(&net, 1), 4), 0);
    h_readies(&net);
    CU_ASSERT_EQUAL_FATAL(h_node(&net, 1)->n_reads, 2);
    CU_ASSERT_EQUAL(h_node(&net, 1)->reads[0].context, 3);
    CU_ASSERT_EQUAL(h_node(&net, 1)->reads[0].index, 1);
    CU_ASSERT_EQUAL(h_node(&net, 1)->reads[1].context, 4);
    h_free(&net);
}

static const struct lt_test tests[] = {
    {"leader_read_index", test_leader_read_index},
    {"isolated_leader_does_not_answer", test_isolated_leader_does_not_answer},
    {"follower_forwarded", test_follower_forwarded},
    {"waits_for_commit_in_term", test_waits_for_commit_in_term},
    {"single_node", test_single_node},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"raft_readindex", NULL, NULL, tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
