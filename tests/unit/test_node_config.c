/* test_node_config.c — lithair-node's command line (node/config.c): defaults, every
 * required flag, --peer parsing, and the errors a person sees for bad input. */
#include <stdio.h>
#include <stdlib.h>
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
                 "--peer: bad ID 'x' (expected 1..9223372036854775807)");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1,tcp://a:1,tcp://a:2,tcp://a:3", "--peer",
                       "1,tcp://b:1,tcp://b:2,tcp://b:3"),
                 err, "listed twice");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "2,tcp://a:1,tcp://a:2,tcp://a:3"), err,
                 "differ from --raft");
    expect_error(PARSE(&cfg, err, BASE, "--heartbeat-ticks", "50"), err,
                 "--heartbeat-ticks 50 must be smaller than --election-ticks 15");
    expect_error(PARSE(&cfg, err, BASE, "--bogus"), err, "unknown option --bogus");
    /* the first of a cluster of unknown short options, not the argument before it */
    expect_error(PARSE(&cfg, err, BASE, "-xyz"), err, "unknown option -x ");
    expect_error(PARSE(&cfg, err, BASE, "--help=1"), err, "unknown option --help=1 ");
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

#define P1 "tcp://127.0.0.1:7101"
#define P2 "tcp://127.0.0.1:7201"
#define P3 "tcp://127.0.0.1:7301"

/* A --peer is exactly ID and three URLs, each checked as --raft, --rpc and --events are,
 * and no URL is any other member's (nor this node's). */
static void test_peer_urls(void)
{
    struct node_config cfg;
    char err[256];
    /* a fifth field is not part of the events URL */
    expect_error(PARSE(&cfg, err, BASE, "--peer",
                       "2,tcp://127.0.0.1:7102,tcp://127.0.0.1:7202,tcp://127.0.0.1:7302,extra"),
                 err, "--peer: expected ID,RAFT_URL,RPC_URL,EVENTS_URL, got 5 fields");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1," P1 "," P2 "," P3 ","), err, "got 5 fields");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1," P1 "," P2), err, "got 3 fields");
    expect_error(PARSE(&cfg, err, BASE, "--peer", ""), err, "got 1 field ");
    expect_error(PARSE(&cfg, err, BASE, "--peer", ",,,"), err, "--peer: bad ID ''");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "9223372036854775808," P1 "," P2 "," P3), err,
                 "--peer: bad ID '9223372036854775808' (expected 1..9223372036854775807)");
    /* each URL: scheme, host, port 1..65535, no blanks */
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1," P1 "," P2 ",tcp://127.0.0.1:99999"), err,
                 "--peer 1: events URL 'tcp://127.0.0.1:99999': port must be 1..65535");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1," P1 "," P2 "," P3 " "), err,
                 "--peer 1: events URL 'tcp://127.0.0.1:7301 ': contains a space");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1," P1 ",tcp://127.0.0.1:0," P3), err,
                 "--peer 1: rpc URL 'tcp://127.0.0.1:0': port must be 1..65535");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1,tcp://127.0.0.1," P2 "," P3), err,
                 "--peer 1: raft URL 'tcp://127.0.0.1': no port");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1,tcp://:7101," P2 "," P3), err,
                 "--peer 1: raft URL 'tcp://:7101': no host");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1,tcp://127.0.0.1:71x1," P2 "," P3), err,
                 "port must be a number");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1," P1 "," P2 ",127.0.0.1:7301"), err,
                 "--peer 1: events URL '127.0.0.1:7301': expected SCHEME://ADDRESS");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1,http://127.0.0.1:7101," P2 "," P3), err,
                 "--peer 1: raft URL 'http://127.0.0.1:7101': unknown scheme");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1,ipc://," P2 "," P3), err, "no path");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1,tcp://127.0.0.1:7101/x," P2 "," P3), err,
                 "a path after HOST:PORT");
    /* the node's own URLs: the same checks */
    expect_error(PARSE(&cfg, err, BASE, "--events", "tcp://127.0.0.1:99999"), err,
                 "--events 'tcp://127.0.0.1:99999': port must be 1..65535");
    expect_error(PARSE(&cfg, err, BASE, "--raft", "tcp://127.0.0.1:7102 "), err,
                 "--raft 'tcp://127.0.0.1:7102 ': contains a space");
    expect_error(PARSE(&cfg, err, BASE, "--rpc", "tcp://127.0.0.1"), err, "--rpc");
    /* two members sharing a URL */
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1,tcp://127.0.0.1:7102," P2 "," P3), err,
                 "--peer: this node's --raft 'tcp://127.0.0.1:7102' is also node 1's raft URL");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1," P1 "," P2 ",tcp://127.0.0.1:7302"), err,
                 "is also node 1's events URL");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1," P1 "," P2 "," P3, "--peer",
                       "3,tcp://127.0.0.1:7103,tcp://127.0.0.1:7203," P1),
                 err,
                 "--peer: node 3's events URL 'tcp://127.0.0.1:7101' is also node 1's raft URL");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1," P1 "," P1 "," P3), err,
                 "node 1's rpc URL 'tcp://127.0.0.1:7101' is also node 1's raft URL");
    expect_error(PARSE(&cfg, err, BASE, "--rpc", "tcp://127.0.0.1:7102"), err,
                 "this node's --rpc 'tcp://127.0.0.1:7102' is also this node's --raft");
    /* what is right still passes: IPv6 hosts, names, ipc paths, this node listed */
    CU_ASSERT_EQUAL(
        PARSE(&cfg, err, BASE, "--peer", "1,tcp://[::1]:7101,tcp://node1:7201,ipc:///tmp/n1.ev",
              "--peer", "2,tcp://127.0.0.1:7102,tcp://127.0.0.1:7202,tcp://127.0.0.1:7302",
              "--peer", "3,tcp://127.0.0.1:7103,tcp://127.0.0.1:7203,tcp://127.0.0.1:65535"),
        0);
    CU_ASSERT_EQUAL(cfg.n_members, 3);
    expect_error(PARSE(&cfg, err, BASE, "--peer", "1,tcp://[::1:7101," P2 "," P3), err,
                 "IPv6 address in brackets");
    expect_error(PARSE(&cfg, err, BASE, "--peer", "+1," P1 "," P2 "," P3), err,
                 "--peer: bad ID '+1'");
}

/* Every number's error says which values it takes; so does --help. */
static void test_ranges(void)
{
    static const struct {
        const char *flag, *value, *range;
    } cases[] = {
        {"--id", "9223372036854775808", "(expected 1..9223372036854775807)"},
        {"--id", "0", "(expected 1..9223372036854775807)"},
        {"--tick-ms", "0", "(expected 1..10000)"},
        {"--election-ticks", "1", "(expected 2..100000)"},
        {"--heartbeat-ticks", "100001", "(expected 1..100000)"},
        {"--snapshot-interval", "-1", "(expected 0..18446744073709551615)"},
        /* no blank or sign in front: strtoull takes them (" -1" wrapped to 2^64-1) */
        {"--snapshot-interval", " -1", "(expected 0..18446744073709551615)"},
        {"--compact-keep", "+5", "(expected 0..18446744073709551615)"},
        {"--id", " 5", "(expected 1..9223372036854775807)"},
        {"--id", "+5", "(expected 1..9223372036854775807)"},
        {"--compact-keep", "18446744073709551616", "(expected 0..18446744073709551615)"},
        {"--snapshot-delay-ms", "3600001", "(expected 0..3600000)"},
        {"--digest-delay-ms", "soon", "(expected 0..3600000)"},
        {"--max-pending", "0", "(expected 1..10000000)"},
        {"--rpc-contexts", "65537", "(expected 1..65536)"},
        {"--timeout-ms", "0", "(expected 1..3600000)"},
        {"--event-batch-ms", "1001", "(expected 0..1000)"},
        {"--wal-segment-mb", "4097", "(expected 1..4096)"},
        {"--min-free-mb", "99999999999", "(expected 0..1073741824)"},
        {"--cpu", "1024", "(expected 0..1023)"},
        {"--log-level", "loud", "(expected debug, info, warn or error)"},
        {"--data-dir", "", "(expected a path of 1..1023 bytes)"},
    };
    struct node_config cfg;
    char err[256], want[160];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(want, sizeof(want), "%s: bad value '%s' %s", cases[i].flag, cases[i].value,
                 cases[i].range);
        expect_error(PARSE(&cfg, err, BASE, (char *)cases[i].flag, (char *)cases[i].value), err,
                     want);
    }
    /* the ends of each range pass */
    CU_ASSERT_EQUAL(PARSE(&cfg, err, BASE, "--id", "9223372036854775807"), 0);
    CU_ASSERT_EQUAL(cfg.id, 9223372036854775807ull);
    CU_ASSERT_EQUAL(PARSE(&cfg, err, BASE, "--election-ticks", "2", "--heartbeat-ticks", "1",
                          "--min-free-mb", "1073741824", "--cpu", "1023"),
                    0);

    /* --help gives every range */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    node_config_usage(f);
    fclose(f);
    static const char *const ranges[] = {
        "(1..2^63-1",   "9223372036854775807", "(1..10000,", "(2..100000,",   "(1..100000,",
        "(0..3600000,", "(1..10000000,",       "(1..65536,", "(1..3600000,",  "(0..1000,",
        "(1..4096,",    "(0..1073741824,",     "(0..1023)",  "port 1..65535",
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        if (!strstr(text, ranges[i]))
            fprintf(stderr, "--help lacks '%s'\n", ranges[i]);
        CU_ASSERT_PTR_NOT_NULL(strstr(text, ranges[i]));
    }
    CU_ASSERT_PTR_NULL(strstr(text, "(1..2^63)"));
    free(text);
}

static const struct lt_test config_tests[] = {
    {"defaults; the node is a member of its own cluster", test_defaults_and_self},
    {"--peer lists and tuning flags", test_peers},
    {"every bad input is refused with a message naming it", test_errors},
    {"--peer: four fields, checked URLs, none shared", test_peer_urls},
    {"a bad number's error and --help name its range", test_ranges},
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
