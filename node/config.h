/* config.h — lithair-node's command line: every flag, its default, and --help.
 * Parsing is separate from the daemon so it can be unit-tested. */
#ifndef NODE_CONFIG_H
#define NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_url.h"
#include "raft.h"

#define NODE_URL_MAX LT_URL_MAX

struct node_member {
    uint64_t id;
    char raft_url[NODE_URL_MAX];
    char rpc_url[NODE_URL_MAX];
    char events_url[NODE_URL_MAX];
};

struct node_config {
    uint64_t id;
    char data_dir[1024];
    char raft_url[NODE_URL_MAX];
    char rpc_url[NODE_URL_MAX];
    char events_url[NODE_URL_MAX];
    struct node_member members[RAFT_MAX_NODES]; /* every voter, this node included */
    size_t n_members;
    unsigned tick_ms;        /* one raft tick */
    unsigned election_ticks; /* election timeout: [e, 2e) ticks */
    unsigned heartbeat_ticks;
    uint64_t snapshot_interval;  /* applied entries between automatic snapshots; 0 = never */
    uint64_t compact_keep;       /* entries kept behind a snapshot for lagging followers */
    unsigned snapshot_delay_ms;  /* tests: the snapshot thread waits before writing */
    unsigned digest_delay_ms;    /* tests: the digest thread waits before hashing */
    unsigned max_pending;        /* proposals waiting to commit before RESOURCE_EXHAUSTED */
    unsigned rpc_contexts;       /* concurrent RPCs served */
    unsigned default_timeout_ms; /* deadline of an RPC that names none */
    unsigned event_batch_ms;     /* committed entries published at most this often (0: every
                                    apply round) */
    uint64_t wal_segment_bytes;
    uint64_t min_free_bytes; /* below this much free disk the leader refuses creates and
                                updates (deletes pass); 0 = no check */
    int log_level;
    int cpu; /* run on this CPU once recovered; -1: not pinned */
};

/* node_config_parse fills `cfg` from argv. On a bad or missing flag it writes one line
 * to `err` and returns LT_EINVAL; with --help it returns 1 and prints nothing. */
int node_config_parse(int argc, char **argv, struct node_config *cfg, char *err, size_t errlen);

/* node_config_usage prints --help to `out`. */
void node_config_usage(void *out);

/* node_config_member returns the member with `id`, NULL if none. */
const struct node_member *node_config_member(const struct node_config *cfg, uint64_t id);

#endif
