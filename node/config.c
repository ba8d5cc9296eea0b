/* config.c — parsing and documenting lithair-node's flags (see config.h). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_cpu.h"
#include "lt_err.h"
#include "lt_log.h"

void node_config_usage(void *out)
{
    fprintf((FILE *)out,
            "Usage: lithair-node --id N --data-dir DIR --raft URL --rpc URL --events URL\n"
            "                    --peer ID,RAFT_URL,RPC_URL,EVENTS_URL [--peer ...] [options]\n"
            "\n"
            "One member of a Lithair cluster: a Raft-replicated store served over NNG.\n"
            "URLs are NNG URLs: tcp://127.0.0.1:7101, ipc:///tmp/n1.raft, ...\n"
            "\n"
            "Required:\n"
            "  --id N                 this node's id (1..2^63), unique in the cluster\n"
            "  --data-dir DIR         write-ahead log and snapshots (created if missing)\n"
            "  --raft URL             where peers send raft messages (NNG pull)\n"
            "  --rpc URL              where clients send RPCs (NNG rep)\n"
            "  --events URL           where the node publishes events (NNG pub)\n"
            "Members:\n"
            "  --peer ID,RAFT,RPC,EVENTS\n"
            "                         one cluster member, repeated for every member; this\n"
            "                         node may be listed too (its URLs must then match) and\n"
            "                         is a member either way. No --peer at all: a one-node\n"
            "                         cluster. Every member must be given the same list\n"
            "Options:\n"
            "  --tick-ms MS           length of one raft tick (default 10)\n"
            "  --election-ticks N     election timeout, random in [N, 2N) ticks (default 15)\n"
            "  --heartbeat-ticks N    leader heartbeat interval in ticks (default 3)\n"
            "  --snapshot-interval N  applied entries between snapshots (default 100000; 0 =\n"
            "                         never): at least N and half the store's records, but at\n"
            "                         most 2N - records/8 (and at least N/2) so that a restart\n"
            "                         has little log to apply; staggered by node id (replicas\n"
            "                         do not all snapshot at once)\n"
            "  --compact-keep N       entries kept behind a snapshot for slow followers (default "
            "5000)\n"
            "  --snapshot-delay-ms MS for tests: the snapshot thread waits this long after it\n"
            "                         pinned the store and opened its temp file (default 0)\n"
            "  --digest-delay-ms MS   for tests: the thread that hashes the store for a status\n"
            "                         with a digest waits this long after it pinned it\n"
            "                         (default 0)\n"
            "  --max-pending N        proposals in flight before refusing more (default 20000)\n"
            "  --rpc-contexts N       RPCs served concurrently (default 512)\n"
            "  --timeout-ms MS        deadline of an RPC that sets none (default 5000)\n"
            "  --event-batch-ms MS    under load, publish committed entries in one event at\n"
            "                         most every MS ms (default 10, at most 1000; 0: after\n"
            "                         every apply round); after a quiet spell, at once\n"
            "  --wal-segment-mb N     write-ahead log segment size (default 64)\n"
            "  --min-free-mb N        while the data dir's file system has less free space,\n"
            "                         the leader refuses creates and updates with\n"
            "                         RESOURCE_EXHAUSTED (deletes still pass, logins too), so\n"
            "                         a filling disk stops writes before it stops the nodes,\n"
            "                         and a follower refuses a snapshot from its leader that\n"
            "                         would leave less (default 256; 0 = no check)\n"
            "  --cpu N                run the serving threads on CPU N once the store is\n"
            "                         recovered (the recovery, and bulk background work such\n"
            "                         as writing snapshots, use every CPU). For a cluster on\n"
            "                         one machine: one CPU per node, round robin, saves the\n"
            "                         cross-CPU wake-ups of the hand-offs between a node's\n"
            "                         threads (default: not pinned; lithair-gateway --spawn\n"
            "                         pins its nodes unless told --node-cpus off)\n"
            "  --log-level LEVEL      debug, info, warn or error (default info; env LT_LOG_LEVEL)\n"
            "  -h, --help             this text\n");
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        return LT_EINVAL;
    *out = v;
    return 0;
}

static int copy_url(char *dst, const char *src, size_t len)
{
    if (len == 0 || len >= NODE_URL_MAX)
        return LT_EINVAL;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return strstr(dst, "://") ? 0 : LT_EINVAL;
}

/* parse_member reads "ID,RAFT_URL,RPC_URL,EVENTS_URL". */
static int parse_member(const char *s, struct node_member *m)
{
    const char *f[4];
    size_t len[4];
    const char *p = s;
    for (int i = 0; i < 4; i++) {
        const char *comma = i < 3 ? strchr(p, ',') : NULL;
        if (i < 3 && !comma)
            return LT_EINVAL;
        f[i] = p;
        len[i] = comma ? (size_t)(comma - p) : strlen(p);
        p = comma ? comma + 1 : p + len[i];
    }
    char id[32];
    if (len[0] == 0 || len[0] >= sizeof(id))
        return LT_EINVAL;
    memcpy(id, f[0], len[0]);
    id[len[0]] = '\0';
    memset(m, 0, sizeof(*m));
    if (parse_u64(id, 1, INT64_MAX, &m->id) || copy_url(m->raft_url, f[1], len[1]) ||
        copy_url(m->rpc_url, f[2], len[2]) || copy_url(m->events_url, f[3], len[3]))
        return LT_EINVAL;
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
    cfg->log_level = LT_LOG_INFO;
    cfg->cpu = -1;

    optind = 1;
    opterr = 0;
    int c;
    int li = -1;
    while ((c = getopt_long(argc, argv, ":h", opts, &li)) != -1) {
        uint64_t v = 0;
        int rc = 0;
        char name[48];
        if (c >= OPT_ID && li >= 0)
            snprintf(name, sizeof(name), "--%s", opts[li].name);
        else
            snprintf(name, sizeof(name), "%s",
                     optind > 1 && optind <= argc ? argv[optind - 1] : "?");
        li = -1;
        switch (c) {
        case 'h':
            return 1;
        case OPT_ID:
            rc = parse_u64(optarg, 1, INT64_MAX, &cfg->id);
            break;
        case OPT_DATA:
            if (strlen(optarg) == 0 || strlen(optarg) >= sizeof(cfg->data_dir))
                rc = LT_EINVAL;
            else
                strcpy(cfg->data_dir, optarg);
            break;
        case OPT_RAFT:
            rc = copy_url(cfg->raft_url, optarg, strlen(optarg));
            break;
        case OPT_RPC:
            rc = copy_url(cfg->rpc_url, optarg, strlen(optarg));
            break;
        case OPT_EVENTS:
            rc = copy_url(cfg->events_url, optarg, strlen(optarg));
            break;
        case OPT_PEER: {
            struct node_member m;
            if (parse_member(optarg, &m) != 0) {
                snprintf(err, errlen, "--peer %s: expected ID,RAFT_URL,RPC_URL,EVENTS_URL", optarg);
                return LT_EINVAL;
            }
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
            rc = parse_u64(optarg, 1, 10000, &v);
            cfg->tick_ms = (unsigned)v;
            break;
        case OPT_ELECTION:
            rc = parse_u64(optarg, 2, 100000, &v);
            cfg->election_ticks = (unsigned)v;
            break;
        case OPT_HEARTBEAT:
            rc = parse_u64(optarg, 1, 100000, &v);
            cfg->heartbeat_ticks = (unsigned)v;
            break;
        case OPT_SNAP:
            rc = parse_u64(optarg, 0, UINT64_MAX, &cfg->snapshot_interval);
            break;
        case OPT_KEEP:
            rc = parse_u64(optarg, 0, UINT64_MAX, &cfg->compact_keep);
            break;
        case OPT_SNAP_DELAY:
            rc = parse_u64(optarg, 0, 3600000, &v);
            cfg->snapshot_delay_ms = (unsigned)v;
            break;
        case OPT_DIGEST_DELAY:
            rc = parse_u64(optarg, 0, 3600000, &v);
            cfg->digest_delay_ms = (unsigned)v;
            break;
        case OPT_MIN_FREE:
            rc = parse_u64(optarg, 0, 1ull << 30, &v);
            cfg->min_free_bytes = v << 20;
            break;
        case OPT_PENDING:
            rc = parse_u64(optarg, 1, 10000000, &v);
            cfg->max_pending = (unsigned)v;
            break;
        case OPT_CTX:
            rc = parse_u64(optarg, 1, 65536, &v);
            cfg->rpc_contexts = (unsigned)v;
            break;
        case OPT_TIMEOUT:
            rc = parse_u64(optarg, 1, 3600000, &v);
            cfg->default_timeout_ms = (unsigned)v;
            break;
        case OPT_EVENT_BATCH:
            rc = parse_u64(optarg, 0, 1000, &v);
            cfg->event_batch_ms = (unsigned)v;
            break;
        case OPT_SEGMENT:
            rc = parse_u64(optarg, 1, 4096, &v);
            cfg->wal_segment_bytes = v << 20;
            break;
        case OPT_LOG:
            cfg->log_level = lt_log_parse_level(optarg);
            rc = cfg->log_level < 0 ? LT_EINVAL : 0;
            break;
        case OPT_CPU:
            rc = parse_u64(optarg, 0, LT_CPU_MAX - 1, &v);
            cfg->cpu = (int)v;
            break;
        case ':':
            snprintf(err, errlen, "%s needs a value (see --help)", name);
            return LT_EINVAL;
        default:
            snprintf(err, errlen, "unknown option %s (see --help)", name);
            return LT_EINVAL;
        }
        if (rc) {
            snprintf(err, errlen, "%s: bad value '%s' (see --help)", name, optarg ? optarg : "");
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
        snprintf(err, errlen, "--heartbeat-ticks must be smaller than --election-ticks");
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
    return 0;
}
