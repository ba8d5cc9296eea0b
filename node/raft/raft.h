/* raft.h — the pure Raft consensus core: the only header lithair-node needs from raft/.
 *
 * A `struct raft` is a deterministic state machine after etcd-io/raft's Ready/Advance
 * design. It does no I/O, reads no clock, starts no thread: inputs arrive as calls
 * (raft_tick, raft_recv, raft_propose, raft_persisted, raft_applied, raft_compact,
 * raft_transfer, raft_read_index), and everything the caller must do comes out of
 * raft_ready() as one `struct raft_update`:
 *
 *   1. send `msgs_early` at once (a leader's appends may leave before its own fsync);
 *   2. persist: install `snapshot` if set, write `entries` (replacing the log from
 *      entries[0].index on), write `hs` if hs_changed, then one fdatasync;
 *   3. send `msgs` (only after step 2 is durable: votes and acks must not be forgotten);
 *   4. apply `committed` in order; answer `reads` once applied >= their index;
 *   5. raft_advance(); later raft_persisted() when step 2 is durable and raft_applied().
 *
 * Everything the update points to stays valid until raft_advance(). Randomness (the
 * election timeout) comes from config.seed, time from raft_tick(), so a run replays
 * exactly from its inputs. Implements: elections with randomized timeouts, PreVote
 * and CheckQuorum (Raft thesis §9.6, §6.2), log replication with batching, pipelining
 * and fast backtracking, commit by counting in the current term only (§5.4.2), a no-op
 * entry per new term, leadership transfer (§3.10), ReadIndex (§6.4), snapshots and
 * log compaction (§7). Errors are lt_err codes (tools/common/lt_err.h). */
#ifndef RAFT_H
#define RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAFT_NONE      0 /* "no node": no vote, no leader */
#define RAFT_MAX_NODES 9 /* voters in one cluster */

/* RAFT_NUM_MAX: the largest term a peer may send, and the largest index and term a
 * snapshot from a peer may name. No cluster gets near it (2^62: a million elections or
 * entries a second for 146,000 years), so a value beyond it is corrupt or hostile;
 * refusing it keeps the core's term + 1 and index + 1 from wrapping around (a term going
 * back to 0, a log that starts at 0). */
#define RAFT_NUM_MAX (UINT64_C(1) << 62)

/* Numbering matches lithair.v1.NodeRole in rpc.proto. */
enum raft_role { RAFT_FOLLOWER = 0, RAFT_PRE_CANDIDATE = 1, RAFT_CANDIDATE = 2, RAFT_LEADER = 3 };

/* Numbering matches lithair.raft.v1.EntryType in raft.proto. */
enum raft_entry_type { RAFT_ENTRY_NORMAL = 0, RAFT_ENTRY_NOOP = 1, RAFT_ENTRY_CONF_CHANGE = 2 };

/* Numbering matches lithair.raft.v1.MessageType in raft.proto. */
enum raft_msg_type {
    RAFT_MSG_NONE = 0,
    RAFT_MSG_VOTE = 1,
    RAFT_MSG_VOTE_RESP = 2,
    RAFT_MSG_PRE_VOTE = 3,
    RAFT_MSG_PRE_VOTE_RESP = 4,
    RAFT_MSG_APPEND = 5,
    RAFT_MSG_APPEND_RESP = 6,
    RAFT_MSG_HEARTBEAT = 7,
    RAFT_MSG_HEARTBEAT_RESP = 8,
    RAFT_MSG_SNAPSHOT = 9,
    RAFT_MSG_SNAPSHOT_RESP = 10,
    RAFT_MSG_TIMEOUT_NOW = 11,
    RAFT_MSG_READ_INDEX = 12,
    RAFT_MSG_READ_INDEX_RESP = 13,
    RAFT_MSG_TRANSFER_LEADER = 14,
    RAFT_MSG_DIVERGED = 15, /* leader → a follower holding commits past its log: stop */
};

/* Numbering matches lithair.v1.FollowerProgress.State in rpc.proto. */
enum raft_progress_state {
    RAFT_PROGRESS_PROBE = 0,
    RAFT_PROGRESS_REPLICATE = 1,
    RAFT_PROGRESS_SNAPSHOT = 2
};

struct raft_buf {
    const void *base;
    size_t len;
};

struct raft_entry {
    uint64_t term;
    uint64_t index;
    enum raft_entry_type type;
    struct raft_buf data; /* in an update: owned by the core, valid until raft_advance() */
};

struct raft_hard_state {
    uint64_t term;
    uint64_t vote;   /* RAFT_NONE if none in this term */
    uint64_t commit; /* a hint: on restart commit is re-learnt, never trusted beyond the log */
};

struct raft_conf {
    uint64_t voters[RAFT_MAX_NODES];
    size_t n_voters;
};

struct raft_snapshot_meta {
    uint64_t index; /* last log index the snapshot covers; 0 = no snapshot */
    uint64_t term;  /* term of that entry */
    struct raft_conf conf;
};

/* raft_snapshot_meta_is_valid: a snapshot sent between peers covers an index (at most
 * RAFT_NUM_MAX, with a term at most RAFT_NUM_MAX) and names a valid voter set (distinct
 * non-zero ids, at most RAFT_MAX_NODES), or none (the receiver's current one). raft_recv
 * refuses a MSG_SNAPSHOT whose meta is not; a node checks it before it accepts the
 * snapshot's file. */
bool raft_snapshot_meta_is_valid(const struct raft_snapshot_meta *m);

/* A message between peers. The transport encodes it (raft.proto Message) before
 * raft_advance(); `entries` point into the sender's log. Snapshot *data* never goes
 * through the core: a MSG_SNAPSHOT carries only `snapshot` (meta); the node ships the
 * snapshot file's bytes alongside and hands the core a MSG_SNAPSHOT only once the
 * receiver has the whole file. */
struct raft_msg {
    enum raft_msg_type type;
    uint64_t from;
    uint64_t to;
    uint64_t term;
    uint64_t log_term; /* append: term at `index`; vote: candidate's last log term */
    uint64_t index;    /* append: index before entries; vote: last log index; resp: acked index */
    uint64_t commit;
    bool reject;
    uint64_t reject_hint; /* append reject: a hint where the follower's log diverges */
    uint64_t hint_term;   /* append reject: term at reject_hint */
    const struct raft_entry *entries;
    size_t n_entries;
    struct raft_snapshot_meta snapshot; /* MSG_SNAPSHOT */
    /* MSG_READ_INDEX(_RESP): the requester's id; MSG_HEARTBEAT(_RESP): the leader's
     * read-index round; MSG_VOTE/PRE_VOTE: 1 = leadership transfer (passes leases);
     * MSG_TRANSFER_LEADER: the target (RAFT_NONE: the leader picks). */
    uint64_t context;
};

/* About MSG_SNAPSHOT_RESP: the receiving core acknowledges an installed snapshot with a
 * MSG_APPEND_RESP. The node may report on the receiver's behalf with a MSG_SNAPSHOT_RESP
 * (from = the receiver): reject = true when shipping the file failed (the leader
 * retries), false when the file arrived (the leader then waits for the receiver's
 * answer before sending appends). A snapshot never acknowledged is resent after five
 * election timeouts. */

/* A linearizable read may be served once the state machine has applied `index`. */
struct raft_read_state {
    uint64_t context; /* the id passed to raft_read_index() */
    uint64_t index;
};

struct raft_config {
    uint64_t id;              /* this node; non-zero */
    struct raft_conf voters;  /* initial membership (a restored snapshot's conf wins) */
    unsigned election_ticks;  /* election timeout is random in [election_ticks, 2*election_ticks) */
    unsigned heartbeat_ticks; /* leader heartbeat interval; < election_ticks */
    bool pre_vote;            /* PreVote (thesis §9.6) */
    bool check_quorum; /* leader steps down without a quorum's contact for an election timeout */
    unsigned max_inflight;  /* append messages in flight per follower (pipelining); >= 1 */
    size_t max_msg_entries; /* entries per append message; >= 1 */
    size_t max_msg_bytes;   /* data bytes per append message (at least one entry is sent) */
    bool lazy_commit;       /* a leader whose commit index moves sends no empty appends to
                             * say so: the next append or heartbeat carries it, or
                             * raft_send_commit() when the caller decides (see there) */
    uint64_t compact_keep;  /* entries kept in memory behind a snapshot for lagging followers:
                             * raft_compact keeps (index - compact_keep, index] */
    uint64_t seed;          /* randomness for the election timeout */
    /* Optional: where large batches of dropped payloads go. Compacting after a snapshot
     * drops one payload per entry (100,000 at a time under a node's default rule), and
     * freeing them takes the caller's thread milliseconds. When `release` is set, a
     * generation holding at least RAFT_RELEASE_MIN dropped payloads hands them over
     * instead: release(release_ctx, ptrs, n) then owns `ptrs` and every ptrs[i] (all from
     * malloc). Smaller batches, and everything at raft_free, are freed in place. */
    void (*release)(void *ctx, void **ptrs, size_t n);
    void *release_ctx;
};

#define RAFT_RELEASE_MIN 1024

/* raft_config_default fills sensible defaults for `id`, `voters`: election 10 ticks,
 * heartbeat 1, PreVote and CheckQuorum on, 256 inflight, 4096 entries and 4 MiB a message. */
void raft_config_default(struct raft_config *cfg, uint64_t id, const struct raft_conf *voters);

/* What the node recovered from disk at start. All fields zero for a brand-new node. */
struct raft_restore {
    struct raft_hard_state hs;
    struct raft_snapshot_meta snapshot;
    const struct raft_entry *entries; /* consecutive, starting at snapshot.index + 1; copied */
    size_t n_entries;
    /* Instead of copying: raft_new takes every entries[i].data.base (malloc'd) if it
     * succeeds — the caller then frees only the array — and none if it fails. */
    bool adopt_data;
};

/* raft_divergence: proof that the cluster's logs diverged, which Raft's guarantees rule
 * out: entries a majority acknowledged are missing or different somewhere — a node's WAL
 * deleted or damaged, a data dir from another cluster, --peer lists that differ. */
enum raft_divergence_kind {
    /* This follower's committed entry `index` (term `term_here`) differs from leader
     * `peer`'s (term `term_there`, 0 if the leader's message only implied it). This node
     * must stop: what it applied contradicts the leader's log. The core ignores appends
     * from then on. */
    RAFT_DIVERGED_COMMITTED = 1,
    /* Follower `peer` says it holds entries committed up to `index`, past this leader's
     * last entry `last_here`: this leader's log lacks committed entries (or the follower's
     * data are another cluster's). Reported once per follower and leadership. */
    RAFT_DIVERGED_PEER_AHEAD = 2,
    /* Leader `peer` says this node holds entries committed up to `index`, past the
     * leader's last entry `last_here`: this node's data are not the cluster's (the leader
     * will not count its acknowledgements). This node must stop, like COMMITTED. */
    RAFT_DIVERGED_TOLD = 3,
};

struct raft_divergence {
    enum raft_divergence_kind kind;
    uint64_t peer;
    uint64_t index;
    uint64_t term_here, term_there; /* RAFT_DIVERGED_COMMITTED */
    uint64_t last_here;             /* RAFT_DIVERGED_PEER_AHEAD */
};

struct raft_update {
    /* soft state: what the UI shows */
    bool role_changed;
    enum raft_role role;
    uint64_t leader; /* RAFT_NONE if unknown */
    uint64_t term;

    /* 1. messages that may be sent before the persist step */
    const struct raft_msg *msgs_early;
    size_t n_msgs_early;

    /* 2. to persist, in this order, then fdatasync */
    const struct raft_snapshot_meta *snapshot; /* non-NULL: install the received snapshot;
                                                * it replaces the whole log (drop every
                                                * entry); `entries` then follow it */
    const struct raft_entry *entries;          /* replace the log from entries[0].index */
    size_t n_entries;
    bool hs_changed;
    struct raft_hard_state hs;

    /* 3. messages to send once step 2 is durable */
    const struct raft_msg *msgs;
    size_t n_msgs;

    /* 4. committed entries to apply, in order */
    const struct raft_entry *committed;
    size_t n_committed;
    const struct raft_read_state *reads;
    size_t n_reads;

    /* 5. non-NULL: this node saw the cluster's logs diverge (struct raft_divergence);
     * never in a correct cluster. Say so loudly; stop on RAFT_DIVERGED_COMMITTED. */
    const struct raft_divergence *diverged;
};

struct raft_progress {
    uint64_t id;
    uint64_t match;
    uint64_t next;
    enum raft_progress_state state;
    unsigned inflight;
    bool recent_active;
    uint64_t ahead; /* > 0: it said it holds entries committed up to here, past our log */
};

struct raft_status {
    uint64_t id;
    enum raft_role role;
    uint64_t term;
    uint64_t vote;
    uint64_t leader;
    uint64_t commit;
    uint64_t applied;     /* as reported by raft_applied() */
    uint64_t first_index; /* first entry in memory; snapshot.index + 1 when compacted */
    uint64_t last_index;
    uint64_t persisted_index;
    struct raft_snapshot_meta snapshot;
    uint64_t transferee; /* RAFT_NONE unless a leadership transfer is under way */
    struct raft_progress progress[RAFT_MAX_NODES]; /* leader only: one per voter, self included */
    size_t n_progress;
};

struct raft;

/* raft_new creates a core from `cfg` and what was recovered from disk (NULL for a new
 * node). On success *out is set and 0 returned; on error nothing is allocated. */
int raft_new(const struct raft_config *cfg, const struct raft_restore *restore, struct raft **out);

/* raft_free releases everything. raft_free(NULL) does nothing. */
void raft_free(struct raft *r);

/* raft_tick advances logical time by one tick (elections, heartbeats, CheckQuorum,
 * transfer timeout). */
void raft_tick(struct raft *r);

/* raft_recv steps a message received from a peer. The message is copied as needed.
 * LT_EINVAL for a malformed message (unknown type, from = 0 or this node, `to` another
 * node, a term beyond RAFT_NUM_MAX, entries not numbered index+1, index+2, ... up to
 * 2^64 - 1, entries or a snapshot of a later term than the message's); stale or
 * unexpected messages are dropped silently (0), as Raft tolerates loss. */
int raft_recv(struct raft *r, const struct raft_msg *m);

/* raft_propose appends `n` entries of `type` with the given data to the leader's log.
 * On success *first_index and *term tell where they went (the i-th at first_index + i):
 * the caller learns the outcome when an entry at that index commits with that term (or
 * a different term: the proposal was lost). Errors: LT_ENOTLEADER, LT_ETRANSFER (a
 * leadership transfer is under way), LT_EBUSY (a single-voter leader whose new term is
 * not durable yet: retry after the next persist), LT_EINVAL, LT_ENOMEM. */
int raft_propose(struct raft *r, enum raft_entry_type type, const struct raft_buf *data, size_t n,
                 uint64_t *first_index, uint64_t *term);

/* raft_persisted reports that the log up to `index` (whose entry has `term`) and the
 * hard state handed out with it are durable. A stale report (the log was replaced since)
 * is ignored. */
void raft_persisted(struct raft *r, uint64_t index, uint64_t term);

/* raft_applied reports that the state machine has applied every entry up to `index`. */
void raft_applied(struct raft *r, uint64_t index);

/* raft_compact reports that the application saved a snapshot covering `meta->index`
 * (<= applied). Entries up to index - compact_keep are dropped from memory; followers
 * that need them will be sent this snapshot (meta.conf empty: the current voters).
 * An older snapshot than the current one is ignored (0). Errors: LT_EINVAL (index 0 or
 * beyond applied, or a term that contradicts the log). */
int raft_compact(struct raft *r, const struct raft_snapshot_meta *meta);

/* raft_transfer starts a leadership transfer to `target` (RAFT_NONE: the most
 * up-to-date follower). On a follower it is forwarded to the leader. Errors:
 * LT_ENOTLEADER (no leader known), LT_EINVAL (unknown target). */
int raft_transfer(struct raft *r, uint64_t target);

/* raft_read_index asks for a linearizable read index for request `context` (non-zero,
 * unique among this node's pending requests). The answer comes in a later update's
 * `reads` (after a heartbeat round confirms the leadership; a new leader first commits
 * its no-op). Requests pending when leadership is lost are never answered: time them
 * out. Errors: LT_ENOTLEADER when no leader is known, LT_EINVAL for context 0. */
int raft_read_index(struct raft *r, uint64_t context);

/* raft_campaign starts an election now (with PreVote if configured; a no-op on the
 * leader). Testing and bootstrap only. LT_EINVAL if this node is not a voter. */
int raft_campaign(struct raft *r);

/* With config.lazy_commit: raft_commit_unsent tells whether some follower has not yet
 * been sent the leader's commit index; raft_send_commit has the next raft_ready() send
 * it to those, in empty appends. Each committed write otherwise costs an empty append and
 * its answer per follower, on the path of the write's reply; a caller sends them when no
 * new append has carried the commit for a while (lithair-node: 1 ms). No-ops on a
 * follower, and without lazy_commit. */
bool raft_commit_unsent(const struct raft *r);
void raft_send_commit(struct raft *r);

/* raft_has_ready tells whether raft_ready() has anything to hand out. */
bool raft_has_ready(const struct raft *r);

/* raft_ready fills `up` with everything to do since the last raft_advance(). Calling
 * it again before raft_advance() implies raft_advance() for the previous update. */
void raft_ready(struct raft *r, struct raft_update *up);

/* raft_advance releases what the last raft_ready() handed out. */
void raft_advance(struct raft *r);

/* raft_status fills a snapshot of the core's state for status RPCs and the UI. */
void raft_status(const struct raft *r, struct raft_status *st);

/* Names for logs and JSON. */
const char *raft_role_name(enum raft_role role);
const char *raft_msg_type_name(enum raft_msg_type type);

#endif
