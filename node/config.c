/* config.c — parsing and documenting lithair-node's flags (see config.h). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_cpu.h"
#include "lt_err.h"
#include "lt_log.h"
#include "lt_opt.h"
#include "lt_url.h"

void node_config_usage(void *out)
{
    fprintf((FILE *)out,
            "Usage: lithair-node --id N --data-dir DIR --raft URL --rpc URL --events URL\n"
            "                    --peer ID,RAFT_URL,RPC_URL,EVENTS_URL [--peer ...] [options]\n"
            "\n"
            "One member of a Lithair cluster: a Raft-replicated store served over NNG.\n"
            "URLs are NNG URLs: tcp://HOST:PORT (port 1..65535), ipc:///tmp/n1.raft, ...;\n"
            "no spaces, and no two of them alike (each member has its own three).\n"
            "\n"
            "Required:\n"
            "  --id N                 this node's id (1..2^63-1, that is at most\n"
            "                         9223372036854775807), unique in the cluster\n"
            "  --data-dir DIR         write-ahead log, snapshots and IDENTITY (this node's id,\n"
            "                         the members and the cluster's id, checked at every\n"
            "                         start: a node refuses another node's data, or a --peer\n"
            "                         list other than the one its data were written with);\n"
            "                         created if missing (its parent must exist); never\n"
            "                         inside another node's data dir\n"
            "  --raft URL             where peers send raft messages (NNG pull)\n"
            "  --rpc URL              where clients send RPCs (NNG rep)\n"
            "  --events URL           where the node publishes events (NNG pub)\n"
            "Members:\n"
            "  --peer ID,RAFT,RPC,EVENTS\n"
            "                         one cluster member, repeated for every member; this\n"
            "                         node may be listed too (its URLs must then match) and\n"
            "                         is a member either way. No --peer at all: a one-node\n"
            "                         cluster. Every member must be given the same list\n"
            "                         (a node warns in its log when one not on its list\n"
            "                         sends it raft messages)\n"
            "Options:\n"
            "  --tick-ms MS           length of one raft tick (1..10000, default 10)\n"
            "  --election-ticks N     election timeout, random in [N, 2N) ticks (2..100000,\n"
            "                         default 15)\n"
            "  --heartbeat-ticks N    leader heartbeat interval in ticks (1..100000, and less\n"
            "                         than --election-ticks; default 3)\n"
            "  --snapshot-interval N  applied entries between snapshots (0..2^64-1, default\n"
            "                         100000; 0 = never): at least N and half the store's\n"
            "                         records, but at most 2N - records/8 (and at least N/2)\n"
            "                         so that a restart has little log to apply; staggered\n"
            "                         by node id (replicas do not all snapshot at once)\n"
            "  --compact-keep N       entries kept behind a snapshot for slow followers\n"
            "                         (0..2^64-1, default 5000)\n"
            "  --snapshot-delay-ms MS for tests: the snapshot thread waits this long after it\n"
            "                         pinned the store and opened its temp file (0..3600000,\n"
            "                         default 0)\n"
            "  --digest-delay-ms MS   for tests: the thread that hashes the store for a status\n"
            "                         with a digest waits this long after it pinned it\n"
            "                         (0..3600000, default 0)\n"
            "  --max-pending N        proposals in flight before refusing more (1..10000000,\n"
            "                         default 20000)\n"
            "  --rpc-contexts N       RPCs served concurrently (1..65536, default 512)\n"
            "  --timeout-ms MS        deadline of an RPC that sets none (1..3600000, default\n"
            "                         5000)\n"
            "  --event-batch-ms MS    under load, publish committed entries in one event at\n"
            "                         most every MS ms (0..1000, default 10; 0: after every\n"
            "                         apply round); after a quiet spell, at once\n"
            "  --wal-segment-mb N     write-ahead log segment size (1..4096, default 64)\n"
            "  --min-free-mb N        while any member's data dir (this one's, or another's\n"
            "                         as its raft messages say) has less free space than its\n"
            "                         limit, the leader refuses creates and updates with\n"
            "                         RESOURCE_EXHAUSTED (deletes still pass, logins too), so\n"
            "                         a filling disk stops writes before it stops the nodes,\n"
            "                         and a follower refuses a snapshot from its leader that\n"
            "                         would leave less (0..1073741824, default 256; 0 = no\n"
            "                         check)\n"
            "  --cpu N                run the serving threads on CPU N (0..%d) once the store\n"
            "                         is recovered (the recovery, and bulk background work\n"
            "                         such as writing snapshots, use every CPU). For a cluster\n"
            "                         on one machine: one CPU per node, round robin, saves the\n"
            "                         cross-CPU wake-ups of the hand-offs between a node's\n"
            "                         threads (default: not pinned; lithair-gateway --spawn\n"
            "                         pins its nodes unless told --node-cpus off)\n"
            "  --log-level LEVEL      debug, info, warn or error (default info; env LT_LOG_LEVEL)\n"
            "  -h, --help             this text\n"
            "\n"
            "SIGTERM or SIGINT stops the node. A leader first hands its leadership to the\n"
            "follower holding most of the log and waits until the writes it holds are\n"
            "answered (at most two election timeouts), so its clients see a redirect, not\n"
            "an election and errors; a Cluster/Shutdown RPC does the same. A second signal\n"
            "stops it at once.\n",
            LT_CPU_MAX - 1);
}

/* parse_u64: all of `s` decimal digits, a number in [min, max]. Nothing strtoull would
 * skip or take first: a blank or a sign (" -1" was 2^64-1, "+5" or " 5" node 5). */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9')
        return LT_EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return LT_EINVAL;
    *out = v;
    return 0;
}

/* set_url copies a --raft, --rpc or --events URL after checking it. */
static int set_url(char *dst, const char *flag, const char *url, char *err, size_t errlen)
{
    const char *why = lt_url_problem(url);
    if (why) {
        snprintf(err, errlen, "%s '%s': %s", flag, url, why);
        return LT_EINVAL;
    }
    strcpy(dst, url);
    return 0;
}

static const char *const url_kinds[3] = {"raft", "rpc", "events"};

static const char *member_url(const struct node_member *m, int kind)
{
    return kind == 0 ? m->raft_url : kind == 1 ? m->rpc_url : m->events_url;
}

/* parse_member reads "ID,RAFT_URL,RPC_URL,EVENTS_URL": exactly four fields, every URL
 * checked as the node's own are. */
static int parse_member(const char *s, struct node_member *m, char *err, size_t errlen)
{
    const char *f[4];
    size_t len[4];
    size_t n = 0;
    for (const char *p = s;; p++) {
        if (*p == ',' || !*p) {
            if (n < 4) {
                f[n] = n == 0 ? s : f[n - 1] + len[n - 1] + 1;
                len[n] = (size_t)(p - f[n]);
            }
            n++;
        }
        if (!*p)
            break;
    }
    if (n != 4) {
        snprintf(err, errlen,
                 "--peer: expected ID,RAFT_URL,RPC_URL,EVENTS_URL, got %zu field%s in '%s'", n,
                 n == 1 ? "" : "s", s);
        return LT_EINVAL;
    }
    char id[32] = "";
    memset(m, 0, sizeof(*m));
    if (len[0] < sizeof(id)) {
        memcpy(id, f[0], len[0]);
        id[len[0]] = '\0';
    }
    if (!id[0] || parse_u64(id, 1, INT64_MAX, &m->id)) {
        snprintf(err, errlen, "--peer: bad ID '%.*s' (expected 1..%lld) in '%s'",
                 (int)(len[0] < 64 ? len[0] : 64), f[0], (long long)INT64_MAX, s);
        return LT_EINVAL;
    }
    char *urls[3] = {m->raft_url, m->rpc_url, m->events_url};
    for (int k = 0; k < 3; k++) {
        char *dst = urls[k];
        const char *why = len[k + 1] >= NODE_URL_MAX ? "too long (at most 255 bytes)" : NULL;
        if (!why) {
            memcpy(dst, f[k + 1], len[k + 1]);
            dst[len[k + 1]] = '\0';
            why = lt_url_problem(dst);
        }
        if (why) {
            snprintf(err, errlen, "--peer %llu: %s URL '%.*s': %s", (unsigned long long)m->id,
                     url_kinds[k], (int)(len[k + 1] < 300 ? len[k + 1] : 300), f[k + 1], why);
            return LT_EINVAL;
        }
    }
    return 0;
}

/* url_owner names the `kind` URL of member `m` for an error: this node's flag, or a peer's. */
static void url_owner(const struct node_config *cfg, const struct node_member *m, int kind,
                      char *out, size_t outlen)
{
    if (m->id == cfg->id)
        snprintf(out, outlen, "this node's --%s", url_kinds[kind]);
    else
        snprintf(out, outlen, "node %llu's %s URL", (unsigned long long)m->id, url_kinds[kind]);
}

/* shared_url refuses two URLs alike among the members (this node included): each member
 * listens on its own three. */
static int shared_url(const struct node_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->n_members; i++) {
        for (int k = 0; k < 3; k++) {
            const char *url = member_url(&cfg->members[i], k);
            for (size_t j = 0; j <= i; j++) {
                for (int l = 0; l < (j == i ? k : 3); l++) {
                    if (strcmp(url, member_url(&cfg->members[j], l)) != 0)
                        continue;
                    char a[64], b[64];
                    url_owner(cfg, &cfg->members[i], k, a, sizeof(a));
                    url_owner(cfg, &cfg->members[j], l, b, sizeof(b));
                    bool peer = cfg->members[i].id != cfg->id || cfg->members[j].id != cfg->id;
                    snprintf(err, errlen,
                             "%s%s '%s' is also %s (every member needs URLs of its own)",
                             peer ? "--peer: " : "", a, url, b);
                    return LT_EINVAL;
                }
            }
        }
    }
    return 0;
}

const struct node_member *node_config_member(const struct node_config *cfg, uint64_t id)
{
    for (size_t i = 0; i < cfg->n_members; i++) {
        if (cfg->members[i].id == id)
            return &cfg->members[i];
    }
    return NULL;
}

enum {
    OPT_ID = 256,
    OPT_DATA,
    OPT_RAFT,
    OPT_RPC,
    OPT_EVENTS,
    OPT_PEER,
    OPT_TICK,
    OPT_ELECTION,
    OPT_HEARTBEAT,
    OPT_SNAP,
    OPT_KEEP,
    OPT_SNAP_DELAY,
    OPT_DIGEST_DELAY,
    OPT_PENDING,
    OPT_CTX,
    OPT_TIMEOUT,
    OPT_EVENT_BATCH,
    OPT_SEGMENT,
    OPT_MIN_FREE,
    OPT_LOG,
    OPT_CPU,
};

int node_config_parse(int argc, char **argv, struct node_config *cfg, char *err, size_t errlen)
{
    static const struct option opts[] = {
        {"id", required_argument, NULL, OPT_ID},
        {"data-dir", required_argument, NULL, OPT_DATA},
        {"raft", required_argument, NULL, OPT_RAFT},
        {"rpc", required_argument, NULL, OPT_RPC},
        {"events", required_argument, NULL, OPT_EVENTS},
        {"peer", required_argument, NULL, OPT_PEER},
        {"tick-ms", required_argument, NULL, OPT_TICK},
        {"election-ticks", required_argument, NULL, OPT_ELECTION},
        {"heartbeat-ticks", required_argument, NULL, OPT_HEARTBEAT},
        {"snapshot-interval", required_argument, NULL, OPT_SNAP},
        {"compact-keep", required_argument, NULL, OPT_KEEP},
        {"snapshot-delay-ms", required_argument, NULL, OPT_SNAP_DELAY},
        {"digest-delay-ms", required_argument, NULL, OPT_DIGEST_DELAY},
        {"max-pending", required_argument, NULL, OPT_PENDING},
        {"rpc-contexts", required_argument, NULL, OPT_CTX},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"event-batch-ms", required_argument, NULL, OPT_EVENT_BATCH},
        {"wal-segment-mb", required_argument, NULL, OPT_SEGMENT},
        {"min-free-mb", required_argument, NULL, OPT_MIN_FREE},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"cpu", required_argument, NULL, OPT_CPU},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(cfg, 0, sizeof(*cfg));
    cfg->tick_ms = 10;
    cfg->election_ticks = 15;
    cfg->heartbeat_ticks = 3;
    cfg->snapshot_interval = 100000;
    cfg->compact_keep = 5000;
    cfg->max_pending = 20000;
    cfg->rpc_contexts = 512;
    cfg->default_timeout_ms = 5000;
    cfg->event_batch_ms = 10;
    cfg->wal_segment_bytes = 64ull << 20;
    cfg->min_free_bytes = 256ull << 20;
    cfg->log_level = -1; /* none given: $LT_LOG_LEVEL, else info (lt_log_init) */
    cfg->cpu = -1;

    /* 0, not 1: glibc then forgets a previous parse (a cluster such as -xyz half read) */
    optind = 0;
    opterr = 0;
    int c;
    int li = -1;
    while ((c = getopt_long(argc, argv, ":h", opts, &li)) != -1) {
        uint64_t v = 0;
        uint64_t lo = 0, hi = 0;     /* a number's range, for its error (hi 0: not a number) */
        const char *expected = NULL; /* what else is allowed, for the error */
        int rc = 0;
        char name[48];
        if (c >= OPT_ID && li >= 0)
            snprintf(name, sizeof(name), "--%s", opts[li].name);
        else if (c == '?') /* lt_opt.h: also the first of a cluster such as -xyz */
            snprintf(name, sizeof(name), "%s", lt_opt_refused(argc, argv, (char[3]){0}));
        else
            snprintf(name, sizeof(name), "%s",
                     optind > 1 && optind <= argc ? argv[optind - 1] : "?");
        li = -1;
        switch (c) {
        case 'h':
            return 1;
        case OPT_ID:
            lo = 1, hi = INT64_MAX;
            rc = parse_u64(optarg, lo, hi, &cfg->id);
            break;
        case OPT_DATA:
            expected = "a path of 1..1023 bytes";
            if (strlen(optarg) == 0 || strlen(optarg) >= sizeof(cfg->data_dir))
                rc = LT_EINVAL;
            else
                strcpy(cfg->data_dir, optarg);
            break;
        case OPT_RAFT:
            if (set_url(cfg->raft_url, name, optarg, err, errlen))
                return LT_EINVAL;
            break;
        case OPT_RPC:
            if (set_url(cfg->rpc_url, name, optarg, err, errlen))
                return LT_EINVAL;
            break;
        case OPT_EVENTS:
            if (set_url(cfg->events_url, name, optarg, err, errlen))
                return LT_EINVAL;
            break;
        case OPT_PEER: {
            struct node_member m;
            if (parse_member(optarg, &m, err, errlen) != 0)
                return LT_EINVAL;
            if (node_config_member(cfg, m.id)) {
                snprintf(err, errlen, "--peer: node %llu is listed twice",
                         (unsigned long long)m.id);
                return LT_EINVAL;
            }
            if (cfg->n_members == RAFT_MAX_NODES) {
                snprintf(err, errlen, "--peer: at most %d members", RAFT_MAX_NODES);
                return LT_EINVAL;
            }
            cfg->members[cfg->n_members++] = m;
            break;
        }
        case OPT_TICK:
            lo = 1, hi = 10000;
            rc = parse_u64(optarg, lo, hi, &v);
            cfg->tick_ms = (unsigned)v;
            break;
        case OPT_ELECTION:
            lo = 2, hi = 100000;
            rc = parse_u64(optarg, lo, hi, &v);
            cfg->election_ticks = (unsigned)v;
            break;
        case OPT_HEARTBEAT:
            lo = 1, hi = 100000;
            rc = parse_u64(optarg, lo, hi, &v);
            cfg->heartbeat_ticks = (unsigned)v;
            break;
        case OPT_SNAP:
            lo = 0, hi = UINT64_MAX;
            rc = parse_u64(optarg, lo, hi, &cfg->snapshot_interval);
            break;
        case OPT_KEEP:
            lo = 0, hi = UINT64_MAX;
            rc = parse_u64(optarg, lo, hi, &cfg->compact_keep);
            break;
        case OPT_SNAP_DELAY:
            lo = 0, hi = 3600000;
            rc = parse_u64(optarg, lo, hi, &v);
            cfg->snapshot_delay_ms = (unsigned)v;
            break;
        case OPT_DIGEST_DELAY:
            lo = 0, hi = 3600000;
            rc = parse_u64(optarg, lo, hi, &v);
            cfg->digest_delay_ms = (unsigned)v;
            break;
        case OPT_MIN_FREE:
            lo = 0, hi = 1ull << 30;
            rc = parse_u64(optarg, lo, hi, &v);
            cfg->min_free_bytes = v << 20;
            break;
        case OPT_PENDING:
            lo = 1, hi = 10000000;
            rc = parse_u64(optarg, lo, hi, &v);
            cfg->max_pending = (unsigned)v;
            break;
        case OPT_CTX:
            lo = 1, hi = 65536;
            rc = parse_u64(optarg, lo, hi, &v);
            cfg->rpc_contexts = (unsigned)v;
            break;
        case OPT_TIMEOUT:
            lo = 1, hi = 3600000;
            rc = parse_u64(optarg, lo, hi, &v);
            cfg->default_timeout_ms = (unsigned)v;
            break;
        case OPT_EVENT_BATCH:
            lo = 0, hi = 1000;
            rc = parse_u64(optarg, lo, hi, &v);
            cfg->event_batch_ms = (unsigned)v;
            break;
        case OPT_SEGMENT:
            lo = 1, hi = 4096;
            rc = parse_u64(optarg, lo, hi, &v);
            cfg->wal_segment_bytes = v << 20;
            break;
        case OPT_LOG:
            expected = "debug, info, warn or error";
            cfg->log_level = lt_log_parse_level(optarg);
            rc = cfg->log_level < 0 ? LT_EINVAL : 0;
            break;
        case OPT_CPU:
            lo = 0, hi = LT_CPU_MAX - 1;
            rc = parse_u64(optarg, lo, hi, &v);
            cfg->cpu = (int)v;
            break;
        case ':':
            snprintf(err, errlen, "%s needs a value (see --help)", name);
            return LT_EINVAL;
        default:
            snprintf(err, errlen, "unknown option %s (see --help)", name);
            return LT_EINVAL;
        }
        if (rc && hi) {
            snprintf(err, errlen, "%s: bad value '%s' (expected %llu..%llu)", name, optarg,
                     (unsigned long long)lo, (unsigned long long)hi);
            return LT_EINVAL;
        }
        if (rc) {
            snprintf(err, errlen, "%s: bad value '%s' (expected %s)", name, optarg,
                     expected ? expected : "see --help");
            return LT_EINVAL;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
        return LT_EINVAL;
    }
    const char *missing = !cfg->id              ? "--id"
                          : !cfg->data_dir[0]   ? "--data-dir"
                          : !cfg->raft_url[0]   ? "--raft"
                          : !cfg->rpc_url[0]    ? "--rpc"
                          : !cfg->events_url[0] ? "--events"
                                                : NULL;
    if (missing) {
        snprintf(err, errlen, "missing %s (see --help)", missing);
        return LT_EINVAL;
    }
    if (cfg->heartbeat_ticks >= cfg->election_ticks) {
        snprintf(err, errlen, "--heartbeat-ticks %u must be smaller than --election-ticks %u",
                 cfg->heartbeat_ticks, cfg->election_ticks);
        return LT_EINVAL;
    }
    /* This node is a member with its own URLs, whether listed or not. */
    const struct node_member *self = node_config_member(cfg, cfg->id);
    if (self) {
        if (strcmp(self->raft_url, cfg->raft_url) || strcmp(self->rpc_url, cfg->rpc_url) ||
            strcmp(self->events_url, cfg->events_url)) {
            snprintf(err, errlen, "--peer %llu: URLs differ from --raft/--rpc/--events",
                     (unsigned long long)cfg->id);
            return LT_EINVAL;
        }
    } else {
        if (cfg->n_members == RAFT_MAX_NODES) {
            snprintf(err, errlen, "--peer: at most %d members", RAFT_MAX_NODES);
            return LT_EINVAL;
        }
        struct node_member *m = &cfg->members[cfg->n_members++];
        m->id = cfg->id;
        strcpy(m->raft_url, cfg->raft_url);
        strcpy(m->rpc_url, cfg->rpc_url);
        strcpy(m->events_url, cfg->events_url);
    }
    return shared_url(cfg, err, errlen);
}
