/* test_node_config.c — lithair-node's command line (node/config.c): defaults, every
 * required flag, --peer parsing, and the errors a person sees for bad input. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "cunit_main.h"
#include "lt_err.h"

#define BASE                                                                                       \
    "lithair-node", "--id", "2", "--data-dir", "/tmp/x", "--raft", "tcp://127.0.0.1:7102",         \
        "--rpc", "tcp://127.0.0.1:7202", "--events", "tcp://127.0.0.1:7302"

static int parse(int argc, char **argv, struct node_config *cfg, char *err)
{
    err[0] = '\0';
    return node_config_parse(argc, argv, cfg, err, 256);
}

#define PARSE(cfg, err, ...)                                                                       \
    ({                                                                                             \
        char *av[] = {__VA_ARGS__};                                                                \
        parse((int)(sizeof(av) / sizeof(av[0])), av, cfg, err);                                    \
    })

static void test_defaults_and_self(void)
{
    struct node_config cfg;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(PARSE(&cfg, err, BASE), 0);
    CU_ASSERT_EQUAL(cfg.id, 2);
    CU_ASSERT_STRING_EQUAL(cfg.data_dir, "/tmp/x");
    CU_ASSERT_EQUAL(cfg.tick_ms, 10);
    CU_ASSERT(cfg.heartbeat_ticks < cfg.election_ticks);
    CU_ASSERT(cfg.snapshot_interval > 0);
    CU_ASSERT_EQUAL(cfg.snapshot_delay_ms, 0);
    CU_ASSERT_EQUAL(cfg.cpu, -1); /* not pinned */
    CU_ASSERT_EQUAL(cfg.min_free_bytes, 256ull << 20);
    CU_ASSERT_EQUAL(cfg.event_batch_ms, 10);
    CU_ASSERT_EQUAL_FATAL(cfg.n_members, 1); /* itself, added when not listed */
    CU_ASSERT_EQUAL(cfg.members[0].id, 2);
    CU_ASSERT_STRING_EQUAL(cfg.members[0].rpc_url, "tcp://127.0.0.1:7202");
}

static void test_peers(void)
{
    struct node_config cfg;
    char err[256];
    int rc = PARSE(&cfg, err, BASE, "--peer",
                   "1,tcp://127.0.0.1:7101,tcp://127.0.0.1:7201,tcp://127.0.0.1:7301", "--peer",
                   "2,tcp://127.0.0.1:7102,tcp://127.0.0.1:7202,tcp://127.0.0.1:7302", "--peer",
                   "3,ipc:///tmp/n3.raft,ipc:///tmp/n3.rpc,ipc:///tmp/n3.ev", "--tick-ms", "5",
                   "--election-ticks", "20", "--heartbeat-ticks", "4", "--snapshot-interval", "0",
                   "--snapshot-delay-ms", "250", "--cpu", "1", "--min-free-mb", "1024");
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(cfg.n_members, 3);
    const struct node_member *m = node_config_member(&cfg, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(m->events_url, "ipc:///tmp/n3.ev");
    CU_ASSERT_PTR_NULL(node_config_member(&cfg, 4));
    CU_ASSERT_EQUAL(cfg.tick_ms, 5);
    CU_ASSERT_EQUAL(cfg.election_ticks, 20);
    CU_ASSERT_EQUAL(cfg.snapshot_interval, 0);
    CU_ASSERT_EQUAL(cfg.snapshot_delay_ms, 250);
    CU_ASSERT_EQUAL(cfg.cpu, 1);
    CU_ASSERT_EQUAL(cfg.min_free_bytes, 1024ull << 20);
    CU_ASSERT_EQUAL_FATAL(PARSE(&cfg, err, BASE, "--min-free-mb", "0"), 0);
    CU_ASSERT_EQUAL(cfg.min_free_bytes, 0); /* no guard */
    CU_ASSERT_EQUAL_FATAL(PARSE(&cfg, err, BASE, "--event-batch-ms", "0"), 0);
    CU_ASSERT_EQUAL(cfg.event_batch_ms, 0); /* every apply round */
    CU_ASSERT_EQUAL_FATAL(PARSE(&cfg, err, BASE, "--event-batch-ms", "1000"), 0);
    CU_ASSERT_EQUAL(cfg.event_batch_ms, 1000);
}

static void expect_error(int rc, const char *err, const char *words)
{
    CU_ASSERT_EQUAL(rc, LT_EINVAL);
    if (!strstr(err, words))
        fprintf(stderr, "error '%s' lacks '%s'\n", err, words);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, words));
}

static void test_errors(void)
{
    struct node_config cfg;
    char err[256];
    expect_error(PARSE(&cfg, err, "lithair-node"), err, "missing --id");
    expect_error(PARSE(&cfg, err, "lithair-node", "--id", "1"), err, "missing --data-dir");
    expect_error(PARSE(&cfg, err, BASE, "--id", "zero"), err, "bad value 'zero'");
    expect_error(PARSE(&cfg, err, BASE, "--id", "0"), err, "--id");
    expect_error(PARSE(&cfg, err, BASE, "--tick-ms", "-5"), err, "--tick-ms");
    expect_error(PARSE(&cfg, err, BASE, "--raft", "localhost:7000"), err, "--raft");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1,tcp://a:1"), err, "expected ID,RAFT_URL");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "x,tcp://a:1,tcp://a:2,tcp://a:3"), err,
                 "expected ID,RAFT_URL");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1,tcp://a:1,tcp://a:2,tcp://a:3", "--peer",
                       "1,tcp://b:1,tcp://b:2,tcp://b:3"),
                 err, "listed twice");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "2,tcp://a:1,tcp://a:2,tcp://a:3"), err,
                 "differ from --raft");
    expect_error(PARSE(&cfg, err, BASE, "--heartbeat-ticks", "50"), err, "smaller");
    expect_error(PARSE(&cfg, err, BASE, "--bogus"), err, "unknown option --bogus");
    expect_error(PARSE(&cfg, err, BASE, "extra"), err, "unexpected argument 'extra'");
    expect_error(PARSE(&cfg, err, BASE, "--log-level", "loud"), err, "--log-level");
    expect_error(PARSE(&cfg, err, BASE, "--snapshot-delay-ms", "soon"), err, "--snapshot-delay-ms");
    expect_error(PARSE(&cfg, err, BASE, "--data-dir"), err, "needs a value");
    expect_error(PARSE(&cfg, err, BASE, "--cpu", "-1"), err, "--cpu: bad value '-1'");
    expect_error(PARSE(&cfg, err, BASE, "--cpu", "first"), err, "--cpu: bad value 'first'");
    expect_error(PARSE(&cfg, err, BASE, "--cpu", "1024"), err, "--cpu: bad value '1024'");
    expect_error(PARSE(&cfg, err, BASE, "--min-free-mb", "-1"), err, "--min-free-mb");
    expect_error(PARSE(&cfg, err, BASE, "--min-free-mb", "lots"), err, "--min-free-mb");
    expect_error(PARSE(&cfg, err, BASE, "--min-free-mb", "2000000000"), err, "--min-free-mb");
    expect_error(PARSE(&cfg, err, BASE, "--event-batch-ms", "1001"), err, "--event-batch-ms");
    expect_error(PARSE(&cfg, err, BASE, "--event-batch-ms", "-1"), err, "--event-batch-ms");
    CU_ASSERT_EQUAL(PARSE(&cfg, err, "lithair-node", "--help"), 1);
}

static const struct lt_test config_tests[] = {
    {"defaults; the node is a member of its own cluster", test_defaults_and_self},
    {"--peer lists and tuning flags", test_peers},
    {"every bad input is refused with a message naming it", test_errors},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"node_config", NULL, NULL, config_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
