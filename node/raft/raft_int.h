/* raft_int.h — the inside of `struct raft`, shared by the core's files and by nothing
 * else: the in-memory log (log.c), follower progress (progress.c), the read-only queue
 * (readindex.c), and the prototypes the role files (election.c, replication.c,
 * transfer.c) call across. Not a public interface: node code includes raft.h only.
 *
 * Output buffering: everything the core hands out in one raft_update lives in one
 * `struct raft_gen` ("generation"). New output accumulates in the current generation;
 * raft_ready() resolves it and flips to the other one, which raft_advance() had
 * emptied. Entry payloads the log drops are freed only when the generation that might
 * still point at them is released (the "grave"), so an update stays valid until
 * raft_advance() whatever the caller steps in between. All arrays are grow-only and
 * reused: steady-state replication allocates nothing but the payload copies. */
#ifndef RAFT_INT_H
#define RAFT_INT_H

#include "raft.h"

/* ---- the in-memory log (log.c) ---------------------------------------------------- */

/* Entries start..last live in ents[head .. head+n). Entries before `start` were
 * compacted; snap describes the newest snapshot (index 0: none). start - 1 may be
 * below snap.index: compact_keep entries are kept behind a snapshot. */
struct raft_log {
    struct raft_entry *ents;
    size_t cap, head, n;
    uint64_t start;
    struct raft_snapshot_meta snap;
    uint64_t commit;    /* highest index known committed */
    uint64_t applying;  /* highest index handed out for applying */
    uint64_t applied;   /* highest index reported applied */
    uint64_t unstable;  /* first index not yet handed out for persistence */
    uint64_t persisted; /* highest index reported durable */
};

struct raft;

void raft_log_init(struct raft_log *l);
void raft_log_fini(struct raft_log *l);
uint64_t raft_log_last(const struct raft_log *l);
uint64_t raft_log_last_term(const struct raft_log *l);
/* raft_log_term: 0 and *term set when the term of `index` is known; LT_ECOMPACTED when
 * it was compacted away, LT_ENOTFOUND when it is past the end. */
int raft_log_term(const struct raft_log *l, uint64_t index, uint64_t *term);
bool raft_log_match_term(const struct raft_log *l, uint64_t index, uint64_t term);
const struct raft_entry *raft_log_at(const struct raft_log *l, uint64_t index);
bool raft_log_is_up_to_date(const struct raft_log *l, uint64_t last_index, uint64_t last_term);
/* raft_log_append appends entries (index must follow last); data are copied. */
int raft_log_append(struct raft *r, const struct raft_entry *e, size_t n);

/* raft_log_adopt appends entries like raft_log_append but takes their data buffers
 * (malloc'd) instead of copying them; on an error it takes none. */
int raft_log_adopt(struct raft *r, const struct raft_entry *e, size_t n);
/* raft_log_truncate drops entries >= index (payloads go to the grave). */
void raft_log_truncate(struct raft *r, uint64_t index);
/* raft_log_compact drops entries < index from memory. */
void raft_log_compact(struct raft *r, uint64_t index);
/* raft_log_restore resets the log to a snapshot: no entries, start = snap.index + 1. */
void raft_log_restore(struct raft *r, const struct raft_snapshot_meta *snap);
/* raft_log_find_conflict_by_term: the largest index <= `index` whose term <= `term`
 * (or the first index whose term is unknown): the fast-backtracking probe point. */
uint64_t raft_log_find_conflict_by_term(const struct raft_log *l, uint64_t index, uint64_t term);

/* ---- follower progress (progress.c) ---------------------------------------------- */

struct raft_prog {
    uint64_t id;
    uint64_t match, next;
    enum raft_progress_state state;
    bool probe_sent;       /* PROBE: one append is out, wait for its answer */
    bool recent_active;    /* heard from since the last CheckQuorum round */
    bool was_active;       /* recent_active of the round before (raft_transfer_start) */
    uint64_t pending_snap; /* SNAPSHOT: index of the snapshot sent */
    unsigned snap_elapsed; /* SNAPSHOT: ticks since it was sent */
    uint64_t *infl;        /* ring of last indexes of appends in flight */
    unsigned infl_start, infl_count, infl_cap;
    uint64_t commit_sent; /* the highest commit index sent to it (lazy_commit) */
    uint64_t ahead;       /* > 0: it holds entries committed up to here, past our log */
};

void raft_prog_reset(struct raft_prog *p, uint64_t next);
void raft_prog_become_probe(struct raft_prog *p);
void raft_prog_become_replicate(struct raft_prog *p);
void raft_prog_become_snapshot(struct raft_prog *p, uint64_t snap_index);
bool raft_prog_maybe_update(struct raft_prog *p, uint64_t index);
bool raft_prog_maybe_decr_to(struct raft_prog *p, uint64_t rejected, uint64_t match_hint);
bool raft_prog_is_paused(const struct raft_prog *p);
void raft_prog_infl_add(struct raft_prog *p, uint64_t last);
void raft_prog_infl_free_le(struct raft_prog *p, uint64_t index);
void raft_prog_infl_free_first(struct raft_prog *p);
bool raft_prog_infl_full(const struct raft_prog *p);

/* ---- read-only requests (readindex.c) --------------------------------------------- */

struct raft_read_req {
    uint64_t seq;     /* the leader's id for the heartbeat round that confirms it */
    uint64_t context; /* the requester's id */
    uint64_t from;    /* requester: this node or a follower */
    uint64_t index;   /* commit index when the request was registered */
    uint32_t acks;    /* bit i: voters[i] acknowledged */
};

struct raft_readq {
    struct raft_read_req *v;
    size_t n, cap;
};

/* ---- output generations ------------------------------------------------------------ */

struct raft_msgq {
    struct raft_msg *v;
    size_t *off; /* entries of v[i] start at pool[off[i]] */
    size_t n, cap;
};

struct raft_gen {
    struct raft_msgq early, late;
    struct raft_entry *pool; /* copies of entry headers carried by messages */
    size_t n_pool, cap_pool;
    struct raft_entry *ents; /* copies of entries to persist */
    size_t cap_ents;
    struct raft_entry *committed; /* copies of entries to apply */
    size_t cap_committed;
    struct raft_read_state *reads;
    size_t n_reads, cap_reads;
    void **grave; /* payloads to free when this generation is released */
    size_t n_grave, cap_grave;
    struct raft_snapshot_meta snap;
};

/* ---- the core ---------------------------------------------------------------------- */

typedef void (*raft_step_fn)(struct raft *r, const struct raft_msg *m);
typedef void (*raft_tick_fn)(struct raft *r);

struct raft {
    struct raft_config cfg;
    uint64_t id;
    struct raft_conf conf;
    bool promotable; /* this node is a voter */

    /* persistent state (§5.2 figure 2) */
    uint64_t term;
    uint64_t vote;
    struct raft_log log;

    /* volatile state */
    enum raft_role role;
    uint64_t lead;
    raft_step_fn step;
    raft_tick_fn tick;
    unsigned election_elapsed;
    unsigned heartbeat_elapsed;
    unsigned randomized_timeout;
    uint64_t rng;

    /* candidate */
    uint32_t votes_granted, votes_rejected; /* bit i: voters[i] */

    /* leader */
    struct raft_prog prog[RAFT_MAX_NODES]; /* prog[i] for conf.voters[i] */
    uint64_t *infl_mem;
    uint64_t transferee;
    unsigned transfer_elapsed;  /* ticks since the transfer started */
    bool bcast_pending;         /* send appends at the next raft_ready() */
    bool bcast_commit;          /* ... even empty ones: the commit index moved */
    struct raft_readq readq;    /* registered, waiting for a quorum of acks */
    struct raft_readq pendingq; /* waiting for a commit in this term */
    uint64_t read_seq;

    /* output */
    struct raft_gen gen[2];
    unsigned cur;               /* gen[cur] accumulates; gen[cur ^ 1] is handed out */
    bool outstanding;           /* a raft_ready() awaits its raft_advance() */
    bool snap_pending;          /* hand out gen[cur].snap */
    struct raft_divergence div; /* the last divergence seen (raft.h) */
    bool div_pending;           /* hand out div */
    bool div_stopped;           /* a committed entry conflicted: appends are ignored */
    struct raft_hard_state prev_hs;
    enum raft_role prev_role;
    uint64_t prev_lead;
    uint64_t prev_term;
};

/* raft.c */
void raft_diverged(struct raft *r, const struct raft_divergence *d);
void raft_send(struct raft *r, const struct raft_msg *m);
int raft_send_entries(struct raft *r, struct raft_msg *m, uint64_t lo, size_t max_n,
                      size_t max_bytes);
int raft_grave_add(struct raft *r, void *p);
/* raft_grave_reserve makes room for `more` payloads at once (a compaction's). */
int raft_grave_reserve(struct raft *r, size_t more);
void raft_add_read_state(struct raft *r, uint64_t context, uint64_t index);
int raft_voter_slot(const struct raft *r, uint64_t id);
size_t raft_quorum(const struct raft *r);
struct raft_prog *raft_prog_of(struct raft *r, uint64_t id);

/* election.c */
void raft_become_follower(struct raft *r, uint64_t term, uint64_t lead);
void raft_become_leader(struct raft *r);
enum raft_campaign_kind { RAFT_CAMPAIGN_PRE, RAFT_CAMPAIGN_ELECTION, RAFT_CAMPAIGN_TRANSFER };
void raft_campaign_start(struct raft *r, enum raft_campaign_kind kind);
void raft_step_follower(struct raft *r, const struct raft_msg *m);
void raft_step_candidate(struct raft *r, const struct raft_msg *m);
void raft_tick_election(struct raft *r);
void raft_handle_vote(struct raft *r, const struct raft_msg *m);
void raft_step_common(struct raft *r, const struct raft_msg *m);

/* replication.c */
void raft_step_leader(struct raft *r, const struct raft_msg *m);
void raft_tick_heartbeat(struct raft *r);
bool raft_send_append(struct raft *r, struct raft_prog *p, bool send_if_empty);
void raft_bcast_append(struct raft *r, bool send_if_empty);
void raft_bcast_heartbeat(struct raft *r, uint64_t context);
bool raft_maybe_commit(struct raft *r);
void raft_handle_append(struct raft *r, const struct raft_msg *m);
void raft_handle_heartbeat(struct raft *r, const struct raft_msg *m);
void raft_handle_snapshot(struct raft *r, const struct raft_msg *m);
void raft_commit_to(struct raft *r, uint64_t index);

/* readindex.c */
bool raft_committed_in_term(const struct raft *r);
void raft_read_request(struct raft *r, uint64_t context, uint64_t from);
void raft_read_ack(struct raft *r, uint64_t from, uint64_t seq);
void raft_read_release_pending(struct raft *r);
uint64_t raft_read_last_seq(const struct raft *r);
void raft_readq_fini(struct raft_readq *q);

/* transfer.c */
void raft_transfer_start(struct raft *r, uint64_t target);
void raft_transfer_check(struct raft *r, struct raft_prog *p);

#endif
