/* node.c — lithair-node's loop: the only file that calls raft/, storage/, store/,
 * transport/ and service/ together.
 *
 * Threads: NNG's callbacks (raft socket, RPC contexts) only push work onto one queue;
 * the loop thread owns the raft core, the WAL and the store's write side; the WAL writer
 * thread only writes and syncs the batches the loop hands it; the snapshot thread writes
 * the store as of a pinned index into a snapshot file while the loop goes on applying
 * (store_snapshot_begin/_stream/_end); the digest thread hashes the store pinned the same
 * way for `status --digest`; the loader thread checks, syncs and loads a snapshot received
 * from the leader (store_snapshot_prepare) while the raft input behind it waits, and the
 * loop then only swaps the store's state in. The loop does, per iteration:
 *
 *   drain the queue (raft messages → raft_recv, RPCs → service_dispatch → proposals)
 *   tick if due
 *   if the WAL writer finished a batch: send the votes and acks that waited for it,
 *     report it persisted to the core, hand the writer the next batch
 *   while the core has an update:
 *     send msgs_early (a leader's appends leave before its own fsync)
 *     install a received snapshot; append entries; save the hard state (to the WAL's
 *     buffer); the writer thread syncs it — ONE write and fdatasync for everything
 *     buffered while the previous batch was in flight (group commit); a follower whose
 *     disk is idle, or an idle leader, syncs a small batch itself instead (two thread
 *     hand-offs fewer on the path a write waits for)
 *     hold msgs (votes and acks) until their batch is durable
 *     apply committed entries, complete the RPCs that waited for them, publish events
 *     answer linearizable reads whose read index is applied
 *   expire RPCs past their deadline; publish metrics at 4 Hz
 *
 * A write is acknowledged only when its entry is applied, i.e. committed: a quorum has it
 * fsynced (the leader counts itself only once its own batch is synced). Nothing here
 * blocks on a peer, and the loop blocks on the disk only to record a snapshot (and to
 * install a received one that could not be loaded on the thread), or for a small inline
 * sync when idle (off for a while when the disk is slow). At start the newest snapshot is mapped
 * and loaded in place (the store keeps its values in the file's pages), then the WAL after it is
 * replayed. A shutdown over RPC lets the replies in flight go out first. */
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "ident.h"
#include "lt_clock.h"
#include "lt_cpu.h"
#include "lt_err.h"
#include "lt_log.h"
#include "lt_reaper.h"
#include "lt_utf8.h"
#include "nng_close.h"
#include "node_internal.h"
#include "sio.h"
#include "snap.h"

#define NODE_METRICS_NS (250ull * 1000000ull) /* 4 Hz */
/* The metrics event's fsync p99 is of the WAL batches synced in the last this many ticks
 * (2 s): a live figure. The WAL's own histogram, in wal-stats, is since the start. */
#define NODE_FSYNC_WINDOW 8
#define NODE_SLOW_IO_US   (1000u * 1000u) /* a WAL batch this slow is logged */
/* After a snapshot failed, the next automatic one waits 1 s, then 2, 4 ... up to 64 s: each
 * try rewrites the whole store until the disk says no again (a full disk made a node try on
 * every pass of its loop, one write of the store after the other). */
#define NODE_SNAP_RETRY_NS     (1000000000ull)
#define NODE_SNAP_RETRY_MAX_NS (64ull * 1000000000ull)
/* A leader's commit index travels with its next append. When no append has carried it
 * this long after it moved, empty appends do (raft_send_commit): followers apply at most
 * this late when writes stop, and a write's reply no longer waits behind two sends and
 * their two answers. */
#define NODE_COMMIT_NOTIFY_NS (1000000ull)

/* A snapshot file on its way to a follower (node_send_snapshot), sent by a thread of its
 * own at the pace the peer takes it. */
struct node_ship {
    bool running;         /* loop only: started, not joined */
    uint64_t quiet_until; /* loop only: after a transfer, no new one to that peer before (ns) */
    bool done;            /* atomic: the thread is about to return */
    bool cancel;          /* atomic: give up (the node stops) */
    int rc;               /* the thread's result, read after the join */
    uint64_t bytes, t0;   /* sent so far; start (ns) */
    struct raft_msg m;    /* the MSG_SNAPSHOT, meta as shipped */
    char path[1200];      /* the snapshot file */
    int fd;               /* ... open from the start to the end of the transfer: a newer
                           * snapshot may retire (unlink) the file meanwhile */
    struct node *n;
    pthread_t th;
};

/* Something logged at most once a period, with how often it happened since the last line. */
struct node_rare {
    uint64_t count;     /* since the last line */
    uint64_t warned_ns; /* the last line (0: none yet) */
};

/* node_rare_due counts one more occurrence at `now` and returns how many there were since
 * the last line (this one included) when a line is due — the first, then at most one per
 * period_ns — else 0. */
static uint64_t node_rare_due(struct node_rare *r, uint64_t period_ns, uint64_t now)
{
    r->count++;
    if (r->warned_ns != 0 && now - r->warned_ns < period_ns)
        return 0;
    uint64_t k = r->count;
    r->count = 0;
    r->warned_ns = now;
    return k;
}

enum qkind { Q_RAFT, Q_RPC };

struct qitem {
    enum qkind kind;
    nng_msg *msg;
    struct rpc_slot *slot;
    size_t skip; /* held raft batches: messages already handed on */
    struct qitem *next;
};

/* node_recv_one's answer that stops a batch's decoding: a received snapshot is loading,
 * and the raft input that follows it waits (node_raft_batch). */
#define NODE_HOLD 1

struct node {
    struct node_config cfg;
    struct raft *raft;
    struct wal *wal;
    char snap_dir[1100];
    struct snap_receiver *recv; /* a snapshot arriving from the leader */
    struct raft_snapshot_meta recv_meta;
    uint64_t recv_cluster; /* the cluster id stamped on the batch that began recv */
    struct store *store;
    struct raftnet *net;
    struct rpc_server *rpc;
    struct eventpub *pub;

    /* the queue from NNG threads to the loop */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct qitem *q_head, *q_tail;
    size_t q_len;
    int stop;     /* atomic; set under mu by node_stop: 1 a stop, 2 a stop without hand-over */
    bool closing; /* under mu: node_free has begun; the sockets' callbacks drop what comes */
    bool shutdown_requested;
    uint64_t stop_began_ns; /* loop only: when it saw the stop (0: not yet) */
    uint64_t handover_to;   /* loop only: the follower a stopping leader chose */
    bool handover_again;    /* loop only: it chose another after the first did not take over */
    bool stop_settled;      /* loop only: the hand-over and the writes held are done with */
    uint64_t stop_flush_ns, stop_grace_ns; /* a requested shutdown's deadlines (0: not yet) */
    int fatal;

    /* the data dir's identity (ident.h): its cluster id is stamped on raft messages */
    struct ident ident;
    struct codec_stamp batch_stamp; /* what the raft Batch being decoded says of its sender */
    bool batch_disk_due;            /* its disk report not yet recorded (node_recv_one) */
    struct {
        bool low;
        uint64_t free, at_ns;    /* at_ns: when last heard (0: never) */
    } peer_disk[RAFT_MAX_NODES]; /* members' disks as their raft batches say (cfg.members order) */
    uint64_t cluster_prop_term;  /* the term in which this leader proposed a cluster id */
    struct node_rare aliens;     /* raft batches from another cluster */

    /* loop state */
    struct node_rare bad_batches;  /* malformed raft batches */
    struct node_rare slow_batches; /* WAL batches slower than NODE_SLOW_IO_US */
    struct node_rare slow_passes;  /* loop passes longer than the election timeout */
    struct node_rare no_room;      /* received snapshots refused for want of disk space */
    struct {
        uint64_t id;
        struct node_rare rare;
    } strangers[RAFT_MAX_NODES]; /* senders of raft messages that are not members */
    uint64_t disk_free; /* free bytes on the data dir's file system, 4 Hz (node_check_disk) */
    bool disk_low;      /* disk_free < --min-free-mb: the leader refuses creates and updates */
    uint64_t start_ns;
    uint64_t next_tick_ns;
    uint64_t commit_due_ns; /* send the leader's commit index to followers then (0: none due) */
    uint64_t next_metrics_ns;
    struct op waiting;     /* sentinel: reads, transfers, snapshots waiting */
    struct op props;       /* sentinel: proposals waiting to apply, in index order */
    uint64_t props_due_ns; /* no waiting proposal's deadline is earlier (UINT64_MAX: none) */
    unsigned n_proposals;
    uint64_t next_read_ctx; /* starts at random: a restarted node's ids are new ones */
    enum raft_role role;
    uint64_t leader;
    uint64_t term;
    uint64_t applied;
    uint64_t snapshot_index;
    uint64_t snapshot_term;
    uint64_t snapshot_bytes;
    uint64_t snapshot_wall_ns;
    uint64_t truncated_at_start;
    uint64_t snapshot_map_ms;                    /* the last restore's mapping of its file */
    uint64_t hs_term, hs_vote;                   /* the hard state last handed to the WAL */
    struct raft_msg snap_failed[RAFT_MAX_NODES]; /* snapshot shipments that failed */
    size_t n_snap_failed;
    struct node_ship ships[RAFT_MAX_NODES]; /* snapshot transfers, one per member slot */
    Lithair__V1__CommittedEvent *cev;       /* committed entries not published yet */
    size_t n_cev, cap_cev;
    uint64_t cev_next_ns; /* the next CommittedBatch goes at this time at the earliest */
    uint64_t cev_last_ns; /* when entries were last committed (seen by node_committed_due) */
    bool cev_new;         /* entries committed since node_committed_due last looked */
    bool cev_lead;        /* the held entries began after a quiet spell: they go at once */
    uint64_t cev_at_ns;   /* wall clock: the end of the apply round of cev[0] (0: not yet) */
    /* the snapshot writer thread: at most one snapshot in the background */
    enum { SNAP_IDLE, SNAP_RUNNING, SNAP_JOINED } snap_state; /* loop only */
    pthread_t snap_thread;
    struct store_snap *snap; /* the store's pin, while SNAP_RUNNING */
    int snap_rc;             /* the thread's result (read after the join) */
    bool snap_done;          /* atomic: the thread is about to return */
    bool snap_cancel;        /* atomic: give up (snap_cancel_why says why) */
    const char *snap_cancel_why;
    struct raft_snapshot_meta snap_meta;
    uint64_t snap_t0;
    uint64_t snap_pin_us; /* how long pinning held the loop */
    /* automatic snapshots after one failed (a full disk): not before snap_retry_ns; the
     * wait doubles with every failure in a row (snap_fails), up to NODE_SNAP_RETRY_MAX_NS */
    uint64_t snap_retry_ns;
    unsigned snap_fails;
    /* the digest thread (status --digest): hashes the store pinned as a snapshot is (the
     * store has one pin: never while a snapshot is written); one at a time */
    bool dig_running; /* loop only */
    pthread_t dig_thread;
    struct store_snap *dig_snap;
    uint64_t dig_pin_ns;  /* when it was pinned: ops that came later wait for the next */
    uint64_t dig_index;   /* the applied index pinned */
    uint64_t dig_value;   /* the thread's result (read after the join; node_digest_info) */
    int dig_rc;           /* the thread's rc */
    bool dig_done;        /* atomic: the thread is about to return */
    bool dig_cancel;      /* atomic: give up (a received snapshot replaces the store, a stop) */
    unsigned dig_waiting; /* ops waiting for a digest */
    /* a received snapshot is loaded on a thread before the raft core hears of it; the loop
     * then only swaps the store's state in (checking and loading a 376 MB one on the loop
     * made a pass of 689 ms, Release build) */
    bool load_running;  /* loop only */
    bool load_deferred; /* loop only: running, but its thread waits for term_durable */
    bool term_durable;  /* loop only: the WAL holds a term > 0, synced (see node_load_start) */
    pthread_t load_thread;
    struct snap_receiver *load_recv; /* the received file, verified and synced by the thread */
    int load_commit_rc;              /* that step's rc */
    struct raft_msg load_msg;        /* the snapshot's message: to the core once loaded */
    struct snap_info load_info;      /* its file's header */
    struct store_prepared *loaded;   /* the loaded state, until installed or dropped */
    int load_rc;                     /* the thread's rc */
    bool load_done;                  /* atomic: the thread is about to return */
    uint64_t load_t0, load_map_ms;
    /* raft input held meanwhile, in order: the core gets the snapshot first, then what came
     * after it (the leader's appends follow its snapshot on the same socket) */
    struct qitem *rheld_head, *rheld_tail;
    size_t batch_pos, batch_skip; /* node_recv_one: messages of the batch seen, to skip */
    bool snap_after_dig;          /* a "snapshot now" waits for the digest's pin */
    /* the WAL segments a snapshot made obsolete, deleted on a thread of their own */
    pthread_t gc_thread;
    bool gc_running; /* loop only: gc_thread not joined yet */
    /* the raft log's dropped payloads, freed off the loop (100,000 per compaction: 3-7 ms) */
    struct lt_reaper *reaper;

    /* metrics */
    uint64_t event_seq;
    uint64_t applied_at_last_metrics;
    uint64_t last_metrics_ns;
    /* the WAL's fsync histogram at each of the last NODE_FSYNC_WINDOW metrics ticks */
    uint64_t fsync_ring[NODE_FSYNC_WINDOW][WAL_HIST_BUCKETS];
    unsigned fsync_ring_at, fsync_ring_n; /* the slot to write next (the oldest when full) */
    uint64_t leader_changes;

    /* reused send buffers */
    const struct raft_msg **sendv;
    size_t sendv_cap;

    /* the WAL writer thread: one batch (n->io) in flight while the loop goes on */
    pthread_t writer;
    bool writer_started;
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    bool w_job, w_stop; /* under wmu */
    bool io_done;       /* under mu: the writer finished n->io */
    bool io_busy;       /* loop only: n->io handed out, not ended */
    struct wal_io io;
    uint64_t jobs_begun;       /* batches handed to the writer so far */
    uint64_t inline_avg_ns;    /* follower syncs on the loop: their running average */
    uint64_t inline_off_until; /* no such syncs before this time (a slow disk) */
    struct held *held_head, *held_tail;
};

/* Messages (votes, acks) and a persisted mark that wait for the WAL batch `tag` to be
 * durable; kept in Ready order, released in order. */
struct held {
    uint64_t tag;
    struct raft_msg *msgs;
    size_t n;
    uint64_t last_index, last_term; /* raft_persisted() once durable; 0: nothing */
    struct held *next;
};

/* ------------------------------------------------------------------ queue */

/* node_varint reads a protobuf varint at p[*i]; false if it is cut short or too long. */
static bool node_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; *i < len && shift < 64; shift += 7) {
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* node_peek_request_id reads the id (field 2) of a serialized lithair.v1.Request without
 * allocating, for the answer to a request that could not be decoded for lack of memory.
 * 0 if it has none or is not readable. */
static uint64_t node_peek_request_id(const uint8_t *p, size_t len)
{
    uint64_t id = 0, key, v;
    size_t i = 0;
    while (i < len && node_varint(p, len, &i, &key)) {
        unsigned wt = (unsigned)(key & 7);
        if (wt == 0) { /* varint */
            if (!node_varint(p, len, &i, &v))
                break;
            if (key >> 3 == 2)
                id = v;
            continue;
        }
        if (wt == 1) /* fixed64 */
            v = 8;
        else if (wt == 5) /* fixed32 */
            v = 4;
        else if (wt != 2 || !node_varint(p, len, &i, &v)) /* length-delimited */
            break;
        if (v > len - i)
            break;
        i += (size_t)v;
    }
    return id;
}

/* node_answer_oom answers the request in `slot` with RESOURCE_EXHAUSTED when memory ran
 * out before its real answer could be made or sent. If even that answer cannot be
 * allocated, it logs one error and re-arms the context without answering: the client's
 * deadline ends the call. Any thread. */
static void node_answer_oom(struct rpc_slot *slot, uint64_t id, const char *message)
{
    Lithair__V1__Response r = LITHAIR__V1__RESPONSE__INIT;
    r.id = id;
    r.code = LITHAIR__V1__CODE__RESOURCE_EXHAUSTED;
    r.message = (char *)message;
    size_t len = lithair__v1__response__get_packed_size(&r);
    nng_msg *msg;
    if (nng_msg_alloc_send(&msg, len) == 0) {
        lithair__v1__response__pack(&r, nng_msg_body(msg));
        rpc_slot_reply(slot, msg);
        return;
    }
    lt_error("out of memory: request %llu left without an answer (%s)", (unsigned long long)id,
             message);
    rpc_slot_drop(slot);
}

static void node_enqueue(struct node *n, enum qkind kind, nng_msg *msg, struct rpc_slot *slot)
{
    struct qitem *it = malloc(sizeof(*it));
    if (!it) {
        /* Out of memory: drop. A raft message is retried by the protocol; an RPC is
         * answered RESOURCE_EXHAUSTED from here. Either way nothing acknowledged is
         * affected. */
        uint64_t id = slot ? node_peek_request_id(nng_msg_body(msg), nng_msg_len(msg)) : 0;
        nng_msg_free(msg);
        if (slot)
            node_answer_oom(slot, id, "out of memory: the request was not carried out");
        return;
    }
    it->kind = kind;
    it->msg = msg;
    it->slot = slot;
    it->next = NULL;
    pthread_mutex_lock(&n->mu);
    if (n->closing) { /* node_free runs: nobody will take it */
        pthread_mutex_unlock(&n->mu);
        nng_msg_free(msg);
        free(it);
        return;
    }
    if (n->q_tail)
        n->q_tail->next = it;
    else
        n->q_head = it;
    n->q_tail = it;
    n->q_len++;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

/* node_requeue_front puts `items` (a list the loop took and did not get to) back at the
 * front of the queue, before what came meanwhile. */
static void node_requeue_front(struct node *n, struct qitem *items)
{
    struct qitem *last = items;
    size_t count = 1;
    for (; last->next; last = last->next)
        count++;
    pthread_mutex_lock(&n->mu);
    last->next = n->q_head;
    if (!n->q_head)
        n->q_tail = last;
    n->q_head = items;
    n->q_len += count;
    pthread_mutex_unlock(&n->mu);
}

static void node_on_raft(void *arg, nng_msg *msg)
{
    node_enqueue(arg, Q_RAFT, msg, NULL);
}

static void node_on_rpc(void *arg, struct rpc_slot *slot, nng_msg *msg)
{
    node_enqueue(arg, Q_RPC, msg, slot);
}

/* ------------------------------------------------------------------ helpers */

static const struct node_member *node_member(struct node *n, uint64_t id)
{
    return node_config_member(&n->cfg, id);
}

static void node_ts(Lithair__V1__Timestamp *ts, uint64_t wall_ns)
{
    lithair__v1__timestamp__init(ts);
    ts->seconds = (int64_t)(wall_ns / 1000000000ull);
    ts->nanos = (int32_t)(wall_ns % 1000000000ull);
}

/* node_publish_at publishes `ev`, stamped `wall_ns` (Event.at). */
static void node_publish_at(struct node *n, Lithair__V1__Event *ev, uint64_t wall_ns)
{
    if (!n->pub)
        return; /* node_free closed the socket */
    Lithair__V1__Timestamp ts;
    node_ts(&ts, wall_ns);
    ev->node_id = n->cfg.id;
    ev->seq = ++n->event_seq;
    ev->at = &ts;
    uint8_t stackbuf[512];
    size_t len = lithair__v1__event__get_packed_size(ev);
    uint8_t *buf = len <= sizeof(stackbuf) ? stackbuf : malloc(len);
    if (buf) {
        lithair__v1__event__pack(ev, buf);
        eventpub_send(n->pub, buf, len);
        if (buf != stackbuf)
            free(buf);
    }
    ev->at = NULL; /* `ts` dies here: the caller's event must not keep pointing at it */
}

static void node_flush_committed(struct node *n);

/* node_publish publishes `ev` now. A role change publishes the committed entries held back
 * first (node_committed_due), so that they come before it; metrics and progress are
 * samples and do not. */
static void node_publish(struct node *n, Lithair__V1__Event *ev)
{
    if (n->n_cev && ev->kind_case == LITHAIR__V1__EVENT__KIND_ROLE)
        node_flush_committed(n);
    node_publish_at(n, ev, lt_wall_ns());
}

/* ------------------------------------------------------------------ ops and calls */

static void op_link(struct node *n, struct op *op)
{
    op->next = n->waiting.next;
    op->prev = &n->waiting;
    n->waiting.next->prev = op;
    n->waiting.next = op;
}

/* op_link_prop keeps the proposals in index order, so applying entry i completes a prefix
 * of the list: O(1) per entry however many writes are in flight. A new leader's indexes
 * may be lower than an old leadership's that were never committed: insert from the tail. */
static void op_link_prop(struct node *n, struct op *op)
{
    struct op *after = n->props.prev;
    while (after != &n->props && after->index > op->index)
        after = after->prev;
    op->prev = after;
    op->next = after->next;
    after->next->prev = op;
    after->next = op;
    if (op->deadline_ns < n->props_due_ns)
        n->props_due_ns = op->deadline_ns;
}

static void op_unlink(struct node *n, struct op *op)
{
    if (op->wait == OP_WAIT_COMMIT && --n->n_proposals == 0)
        n->props_due_ns = UINT64_MAX;
    if (op->wait == OP_WAIT_DIGEST)
        n->dig_waiting--;
    op->prev->next = op->next;
    op->next->prev = op->prev;
    op->prev = op->next = NULL;
    op->wait = OP_WAIT_NONE;
}

/* node_free_str frees a string of a Response unless it is protobuf-c's shared "". */
static void node_free_str(char *s)
{
    if (s && s != protobuf_c_empty_string)
        free(s);
}

static void call_free(struct call *c)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->ops[i].input)
            protobuf_c_message_free_unpacked(c->ops[i].input, NULL);
        free(c->resps[i].payload.data);
        node_free_str(c->resps[i].message);
        node_free_str(c->resps[i].leader_rpc_url);
        for (size_t k = 0; k < c->resps[i].n_details; k++) {
            free(c->resps[i].details[k]->field);
            free(c->resps[i].details[k]->description);
            free(c->resps[i].details[k]);
        }
        free(c->resps[i].details);
    }
    if (c->batch)
        lithair__v1__batch_request__free_unpacked(c->batch, NULL);
    if (c->req)
        lithair__v1__request__free_unpacked(c->req, NULL);
    free(c->ops);
    free(c->resps);
    free(c);
}

/* call_send packs the response(s) of a finished call and hands them to its context. */
static void call_send(struct call *c)
{
    Lithair__V1__Response outer = LITHAIR__V1__RESPONSE__INIT;
    Lithair__V1__Response *resp = &c->resps[0];
    uint8_t *batch_buf = NULL;
    if (c->batch) {
        Lithair__V1__Response **rp = malloc(c->n * sizeof(*rp));
        Lithair__V1__BatchResponse br = LITHAIR__V1__BATCH_RESPONSE__INIT;
        if (rp) {
            for (size_t i = 0; i < c->n; i++)
                rp[i] = &c->resps[i];
            br.n_responses = c->n;
            br.responses = rp;
            size_t len = lithair__v1__batch_response__get_packed_size(&br);
            batch_buf = malloc(len ? len : 1);
            if (batch_buf) {
                lithair__v1__batch_response__pack(&br, batch_buf);
                outer.payload.data = batch_buf;
                outer.payload.len = len;
            }
            free(rp);
        }
        outer.id = c->req->id;
        outer.code = batch_buf ? LITHAIR__V1__CODE__OK : LITHAIR__V1__CODE__RESOURCE_EXHAUSTED;
        outer.message = batch_buf ? "" : "out of memory";
        resp = &outer;
    }
    size_t len = lithair__v1__response__get_packed_size(resp);
    nng_msg *msg;
    if (nng_msg_alloc_send(&msg, len) == 0) {
        lithair__v1__response__pack(resp, nng_msg_body(msg));
        rpc_slot_reply(c->slot, msg);
    } else {
        /* like a payload that does not fit in memory (node_op_reply) */
        node_answer_oom(c->slot, resp->id,
                        "out of memory: the answer could not be sent; a write may have been "
                        "applied");
    }
    free(batch_buf);
    call_free(c);
}

static char *node_strdup(const char *s)
{
    return strdup(s ? s : "");
}

/* node_strdup_utf8: node_strdup for a string of a Response. A message may quote the
 * request (an id, a model, a field name) or be cut to a size in the middle of a character;
 * a proto3 string must be UTF-8 (protoc's Go, Python and C++ decoders refuse a message
 * where one is not), so whatever is not shows as '?'. */
static char *node_strdup_utf8(const char *s)
{
    char *d = node_strdup(s);
    if (d)
        lt_utf8_scrub(d);
    return d;
}

/* node_warn_bad_batch: a malformed raft batch is logged at most once a second, with the
 * count since the last line: whoever can reach the raft port must not be able to flood
 * the log (the batch itself is dropped; Raft tolerates the loss). */
static void node_warn_bad_batch(struct node *n)
{
    bool first = n->bad_batches.warned_ns == 0;
    uint64_t k = node_rare_due(&n->bad_batches, 1000000000u, lt_now_ns());
    if (!k)
        return;
    if (first)
        lt_warn("dropped a malformed raft batch (more are counted: one line a second at most)");
    else
        lt_warn("dropped %llu malformed raft batch%s since the last such line",
                (unsigned long long)k, k == 1 ? "" : "es");
}

static void op_complete(struct node *n, struct op *op)
{
    if (op->done)
        return;
    if (op->prev)
        op_unlink(n, op);
    op->done = true;
    struct call *c = op->call;
    if (--c->pending == 0)
        call_send(c);
}

void node_op_reply(struct node *n, struct op *op, Lithair__V1__Code code, const char *message,
                   const ProtobufCMessage *payload)
{
    if (op->done)
        return;
    Lithair__V1__Response *r = &op->call->resps[op->slot];
    r->id = op->req->id;
    r->code = code;
    node_free_str(r->message);
    r->message = node_strdup_utf8(message);
    if (payload && code == LITHAIR__V1__CODE__OK) {
        size_t len = protobuf_c_message_get_packed_size(payload);
        r->payload.data = malloc(len ? len : 1);
        if (!r->payload.data) {
            r->code = LITHAIR__V1__CODE__RESOURCE_EXHAUSTED;
            node_free_str(r->message);
            r->message = node_strdup("out of memory");
        } else {
            protobuf_c_message_pack(payload, r->payload.data);
            r->payload.len = len;
        }
    }
    op_complete(n, op);
}

void node_op_reply_err(struct node *n, struct op *op, int err, const char *message)
{
    node_op_reply(n, op, wire_code_from_err(err), message ? message : lt_strerror(err), NULL);
}

void node_op_reply_violations(struct node *n, struct op *op, const char *message,
                              const struct model_violations *v)
{
    Lithair__V1__Response *r = &op->call->resps[op->slot];
    r->details = calloc(v->n ? v->n : 1, sizeof(*r->details));
    for (size_t i = 0; r->details && i < v->n; i++) {
        Lithair__V1__FieldViolation *fv = malloc(sizeof(*fv));
        if (!fv)
            break;
        lithair__v1__field_violation__init(fv);
        fv->field = node_strdup_utf8(v->v[i].field);
        fv->description = node_strdup_utf8(v->v[i].description);
        r->details[r->n_details++] = fv;
    }
    node_op_reply(n, op, LITHAIR__V1__CODE__INVALID_ARGUMENT, message, NULL);
}

/* node_op_not_leader answers with where the leader is, so the client can go there. */
static void node_op_not_leader(struct node *n, struct op *op)
{
    Lithair__V1__Response *r = &op->call->resps[op->slot];
    const struct node_member *m = n->leader ? node_member(n, n->leader) : NULL;
    if (n->leader && n->leader != n->cfg.id) {
        r->not_leader = true;
        r->leader_id = n->leader;
        r->leader_rpc_url = node_strdup(m ? m->rpc_url : "");
        char msg[400];
        snprintf(msg, sizeof(msg), "not the leader; the leader is node %llu at %.300s",
                 (unsigned long long)n->leader, m ? m->rpc_url : "an unknown URL");
        node_op_reply(n, op, LITHAIR__V1__CODE__UNAVAILABLE, msg, NULL);
    } else {
        node_op_reply(n, op, LITHAIR__V1__CODE__UNAVAILABLE,
                      "no leader: an election is under way, or too few nodes are up for a "
                      "majority; retry shortly",
                      NULL);
    }
}

void node_op_propose(struct node *n, struct op *op, const uint8_t *cmd, size_t len,
                     op_resume_fn resume)
{
    if (n->role != RAFT_LEADER) {
        node_op_not_leader(n, op);
        return;
    }
    if (n->n_proposals >= n->cfg.max_pending) {
        node_op_reply(n, op, LITHAIR__V1__CODE__RESOURCE_EXHAUSTED,
                      "too many writes in flight; retry with backoff", NULL);
        return;
    }
    struct raft_buf b = {cmd, len};
    uint64_t index, term;
    int rc = raft_propose(n->raft, RAFT_ENTRY_NORMAL, &b, 1, &index, &term);
    if (rc == LT_ENOTLEADER) {
        node_op_not_leader(n, op);
        return;
    }
    if (rc != 0) {
        node_op_reply_err(n, op, rc,
                          rc == LT_ETRANSFER ? "a leadership transfer is under way" : NULL);
        return;
    }
    op->index = index;
    op->term = term;
    op->resume = resume;
    op->wait = OP_WAIT_COMMIT;
    n->n_proposals++;
    op_link_prop(n, op);
}

void node_op_read(struct node *n, struct op *op, op_resume_fn resume)
{
    if (!n->leader) {
        node_op_not_leader(n, op);
        return;
    }
    op->context = ++n->next_read_ctx;
    int rc = raft_read_index(n->raft, op->context);
    if (rc != 0) {
        node_op_not_leader(n, op);
        return;
    }
    op->resume = resume;
    op->wait = OP_WAIT_READ;
    op_link(n, op);
}

void node_op_transfer(struct node *n, struct op *op, uint64_t target, op_resume_fn resume)
{
    if (target && !node_member(n, target)) {
        char msg[160];
        int w = snprintf(msg, sizeof(msg), "no node %llu in this cluster: its members are",
                         (unsigned long long)target);
        for (size_t i = 0; i < n->cfg.n_members && w > 0 && (size_t)w < sizeof(msg); i++)
            w += snprintf(msg + w, sizeof(msg) - (size_t)w, "%s %llu", i ? "," : "",
                          (unsigned long long)n->cfg.members[i].id);
        node_op_reply(n, op, LITHAIR__V1__CODE__INVALID_ARGUMENT, msg, NULL);
        return;
    }
    if (!n->leader) {
        node_op_not_leader(n, op);
        return;
    }
    if (target && target == n->leader) {
        resume(n, op, NULL); /* already there */
        return;
    }
    int rc = raft_transfer(n->raft, target);
    if (rc != 0) {
        node_op_reply_err(n, op, rc, NULL);
        return;
    }
    if (n->role == RAFT_LEADER) { /* target 0: the core chose; its answer names that one */
        struct raft_status st;
        raft_status(n->raft, &st);
        op->transferee = st.transferee;
    }
    op->target = n->leader;
    op->term = n->term;
    op->resume = resume;
    op->wait = OP_WAIT_LEADER;
    op_link(n, op);
}

/* node_handle_rpc decodes one NNG request into a call of one or more ops and dispatches
 * them. Malformed input is answered, never trusted. */
static void node_handle_rpc(struct node *n, struct rpc_slot *slot, nng_msg *msg)
{
    struct call *c = calloc(1, sizeof(*c));
    if (!c) {
        uint64_t id = node_peek_request_id(nng_msg_body(msg), nng_msg_len(msg));
        nng_msg_free(msg);
        node_answer_oom(slot, id, "out of memory: the request was not carried out");
        return;
    }
    c->slot = slot;
    c->req = lithair__v1__request__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
    nng_msg_free(msg);
    static Lithair__V1__Request bad_req = LITHAIR__V1__REQUEST__INIT;
    const Lithair__V1__Request *const *reqs = NULL;
    const Lithair__V1__Request *single = c->req ? c->req : &bad_req;
    if (c->req && strcmp(c->req->method, "Rpc/Batch") == 0) {
        c->batch =
            lithair__v1__batch_request__unpack(NULL, c->req->payload.len, c->req->payload.data);
        if (c->batch && c->batch->n_requests > 0) {
            c->n = c->batch->n_requests;
            reqs = (const Lithair__V1__Request *const *)c->batch->requests;
        }
    }
    if (!c->n)
        c->n = 1;
    c->ops = calloc(c->n, sizeof(*c->ops));
    c->resps = calloc(c->n, sizeof(*c->resps));
    if (!c->ops || !c->resps) {
        uint64_t id = c->req ? c->req->id : 0;
        c->n = 0; /* call_free walks c->ops and c->resps up to c->n */
        call_free(c);
        node_answer_oom(slot, id, "out of memory: the request was not carried out");
        return;
    }
    /* One extra reference held while dispatching, so that ops completing at once do not
     * send (and free) the call under our feet. */
    c->pending = c->n + 1;
    uint64_t now = lt_now_ns();
    for (size_t i = 0; i < c->n; i++) {
        lithair__v1__response__init(&c->resps[i]);
        struct op *op = &c->ops[i];
        op->call = c;
        op->slot = i;
        op->req = reqs ? reqs[i] : single;
        op->start_ns = now;
        uint32_t tmo = op->req->timeout_ms            ? op->req->timeout_ms
                       : c->req && c->req->timeout_ms ? c->req->timeout_ms
                                                      : n->cfg.default_timeout_ms;
        op->deadline_ns = now + (uint64_t)tmo * 1000000ull;
    }
    for (size_t i = 0; i < c->n; i++) {
        struct op *op = &c->ops[i];
        if (!c->req) {
            node_op_reply(n, op, LITHAIR__V1__CODE__INVALID_ARGUMENT,
                          "malformed request: not a lithair.v1.Request", NULL);
            continue;
        }
        if (c->req && strcmp(c->req->method, "Rpc/Batch") == 0 && !reqs) {
            node_op_reply(n, op, LITHAIR__V1__CODE__INVALID_ARGUMENT,
                          "malformed or empty Rpc/Batch payload", NULL);
            continue;
        }
        if (!wire_method_find(op->req->method, &op->method)) {
            char m[160];
            snprintf(m, sizeof(m), "unknown method '%.100s'", op->req->method);
            node_op_reply(n, op, LITHAIR__V1__CODE__UNIMPLEMENTED, m, NULL);
            continue;
        }
        if (strcmp(op->method.name, "Rpc/Batch") == 0) {
            node_op_reply(n, op, LITHAIR__V1__CODE__INVALID_ARGUMENT, "Rpc/Batch cannot be nested",
                          NULL);
            continue;
        }
        op->input = protobuf_c_message_unpack(op->method.input, NULL, op->req->payload.len,
                                              op->req->payload.data);
        if (!op->input) {
            char m[160];
            snprintf(m, sizeof(m), "malformed payload: not a %s", op->method.input->name);
            node_op_reply(n, op, LITHAIR__V1__CODE__INVALID_ARGUMENT, m, NULL);
            continue;
        }
        service_dispatch(n, op);
    }
    if (--c->pending == 0)
        call_send(c);
}

/* ------------------------------------------------------------------ raft I/O */

static void node_load_start(struct node *n, const struct raft_msg *m);

/* node_disk_avail: the free bytes on the data dir's file system, for this node's user. */
static int node_disk_avail(struct node *n, uint64_t *avail)
{
    struct statvfs sv;
    if (statvfs(n->cfg.data_dir, &sv) != 0)
        return LT_EIO;
    *avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    return 0;
}

/* node_snapshot_room: the data dir's file system has room for a received snapshot of
 * `total` bytes and --min-free-mb besides; if not, the snapshot is refused (said at most
 * every 10 s). Written anyway it would take the room the WAL needs — of every node, when
 * they share one disk as in the playground — and a WAL write that finds none stops its
 * node. */
static bool node_snapshot_room(struct node *n, const struct raft_msg *m, uint64_t total)
{
    uint64_t avail;
    if (!n->cfg.min_free_bytes || !total || node_disk_avail(n, &avail) != 0)
        return true;
    if (avail >= total + n->cfg.min_free_bytes)
        return true;
    uint64_t k = node_rare_due(&n->no_room, 10000000000u, lt_now_ns());
    if (k)
        lt_warn("no room for snapshot %llu/%llu from node %llu: %llu MiB, with %llu MiB free in "
                "%s and --min-free-mb %llu; refused until there is room, the leader sends it "
                "again (%llu refused since the last such line)",
                (unsigned long long)m->snapshot.index, (unsigned long long)m->snapshot.term,
                (unsigned long long)m->from, (unsigned long long)(total >> 20),
                (unsigned long long)(avail >> 20), n->cfg.data_dir,
                (unsigned long long)(n->cfg.min_free_bytes >> 20), (unsigned long long)k);
    return false;
}

/* node_stranger says that node `from`, not a member, sends this node raft messages: the
 * nodes were given different --peer lists. At most once per sender every 10 s (and when
 * more strangers than slots take turns, fewer lines). */
static void node_stranger(struct node *n, uint64_t from)
{
    size_t slot = 0, nslots = sizeof(n->strangers) / sizeof(n->strangers[0]);
    uint64_t now = lt_now_ns(), period = 10000000000u;
    while (slot < nslots && n->strangers[slot].id != from)
        slot++;
    if (slot == nslots) { /* a new sender: in a free slot, or the one quiet the longest */
        slot = 0;
        for (size_t i = 1; i < nslots; i++) {
            if (n->strangers[i].rare.warned_ns < n->strangers[slot].rare.warned_ns)
                slot = i;
        }
        if (n->strangers[slot].rare.warned_ns && now - n->strangers[slot].rare.warned_ns < period)
            return;
        n->strangers[slot].id = from;
        n->strangers[slot].rare = (struct node_rare){0};
    }
    uint64_t k = node_rare_due(&n->strangers[slot].rare, period, now);
    if (!k)
        return;
    char ids[RAFT_MAX_NODES * 21] = "";
    for (size_t i = 0, len = 0; i < n->cfg.n_members && len < sizeof(ids); i++)
        len += (size_t)snprintf(ids + len, sizeof(ids) - len, "%s%llu", i ? ", " : "",
                                (unsigned long long)n->cfg.members[i].id);
    lt_warn("dropped raft messages from node %llu, which is not a member (members: %s): the "
            "--peer lists must be the same on every node (%llu dropped since the last such line)",
            (unsigned long long)from, ids, (unsigned long long)k);
}

#define NODE_IDENT_MISMATCH 1 /* node_check_identity: settled once the WAL is read */
#define NODE_IDENT_NEW      2 /* node_check_identity: none yet; written once the WAL is ours */

/* node_wanted_identity: the identity this start's flags give (no cluster id yet). */
static void node_wanted_identity(const struct node_config *cfg, struct ident *want)
{
    uint64_t ids[RAFT_MAX_NODES];
    memset(want, 0, sizeof(*want));
    want->id = cfg->id;
    for (size_t i = 0; i < cfg->n_members && i < RAFT_MAX_NODES; i++)
        ids[i] = cfg->members[i].id;
    ident_set_members(want, ids, cfg->n_members);
}

/* node_check_identity reads the data dir's IDENTITY (ident.h) and refuses to start on
 * another node's data, or with other members than the data were written with; a data dir
 * without one (new, or from before it existed) gets one (NODE_IDENT_NEW), written by
 * node_new once it holds the WAL's lock: a second process started on a running node's
 * data dir must change nothing there before it is refused. A mismatch is only noted in
 * errbuf (NODE_IDENT_MISMATCH): node_new refuses once the WAL shows the dir holds any state, and
 * otherwise (a first start with a typo, corrected) writes this start's identity. */
static int node_check_identity(struct node *n, char *errbuf, size_t errlen)
{
    const struct node_config *cfg = &n->cfg;
    struct ident want;
    node_wanted_identity(cfg, &want);
    char why[600];
    int rc = ident_read(cfg->data_dir, &n->ident, why, sizeof(why));
    if (rc == LT_ENOTFOUND) {
        n->ident = want;
        return NODE_IDENT_NEW;
    }
    if (rc != 0) {
        snprintf(errbuf, errlen, "%s (refusing to start: it says whose data these are)", why);
        return rc;
    }
    if (n->ident.id != cfg->id) {
        snprintf(errbuf, errlen,
                 "the data dir %s belongs to node %llu (its " IDENT_FILE "), not to --id %llu: "
                 "each node must run on its own data",
                 cfg->data_dir, (unsigned long long)n->ident.id, (unsigned long long)cfg->id);
        return NODE_IDENT_MISMATCH;
    }
    bool same = n->ident.n_members == want.n_members;
    for (size_t i = 0; same && i < want.n_members; i++)
        same = n->ident.members[i] == want.members[i];
    if (!same) {
        char had[RAFT_MAX_NODES * 21 + 1], given[RAFT_MAX_NODES * 21 + 1];
        ident_format_members(&n->ident, had, sizeof(had));
        ident_format_members(&want, given, sizeof(given));
        snprintf(errbuf, errlen,
                 "the data in %s were written by a cluster of members %s, but --peer names "
                 "members %s: every node must be given the members its data were written with "
                 "(the cluster's membership cannot change)",
                 cfg->data_dir, had, given);
        return NODE_IDENT_MISMATCH;
    }
    return 0;
}

/* node_identity_settle: an identity mismatch (node_check_identity) on a data dir that
 * holds no state at all is a corrected first start: this start's identity replaces it.
 * On one that holds state it is refused. */
static int node_identity_settle(struct node *n, const struct wal_recovered *rec,
                                const struct raft_snapshot_meta *snap, char *errbuf, size_t errlen)
{
    if (rec->hs.term != 0 || rec->n_entries != 0 || snap->index != 0)
        return LT_EINVAL; /* errbuf says why already */
    const struct node_config *cfg = &n->cfg;
    struct ident want;
    node_wanted_identity(cfg, &want);
    lt_info("%s — but it holds no state yet: taking this start's identity instead", errbuf);
    int rc = ident_write(cfg->data_dir, &want);
    if (rc != 0) {
        snprintf(errbuf, errlen, "cannot write %s/" IDENT_FILE ": %s", cfg->data_dir,
                 lt_strerror(rc));
        return rc;
    }
    n->ident = want;
    errbuf[0] = '\0';
    return 0;
}

/* node_cluster_learn takes `id` as this node's cluster id if it has none yet, and keeps
 * it in the data dir's IDENTITY (synced: once in a node's life) before using it. A node
 * learns it from its log (the Cluster entry) or, when a snapshot replaces its log, from
 * the leader that sent it — never from any message's stamp: a node with data of its own
 * (from before IDENTITY, or whose Cluster entry a snapshot compacted) took another
 * cluster's id from the first stamp it saw, and so did fresh nodes given a node of another
 * cluster as a peer (QA). */
static void node_cluster_learn(struct node *n, uint64_t id, const char *how)
{
    if (id == 0 || n->ident.cluster == id)
        return;
    if (n->ident.cluster != 0) { /* a later Cluster entry: the first one in the log won */
        lt_info("ignored cluster id %016llx %s: the cluster's id is %016llx",
                (unsigned long long)id, how, (unsigned long long)n->ident.cluster);
        return;
    }
    struct ident next = n->ident;
    next.cluster = id;
    int rc = ident_write(n->cfg.data_dir, &next);
    if (rc != 0) { /* learnt again when the entry is applied at the next start */
        lt_warn("cannot record the cluster id in %s/" IDENT_FILE ": %s", n->cfg.data_dir,
                lt_strerror(rc));
        return;
    }
    n->ident = next;
    if (n->net) /* else at start: set when the socket opens */
        raftnet_set_cluster(n->net, id);
    lt_info("cluster id %016llx, %s", (unsigned long long)id, how);
}

/* node_name_cluster: a leader that knows no cluster id proposes a random one, once a
 * term; the first such entry in the log names the cluster (node_cluster_learn). */
static void node_name_cluster(struct node *n)
{
    if (n->role != RAFT_LEADER || n->ident.cluster != 0 || n->cluster_prop_term == n->term)
        return;
    uint64_t id = 0;
    for (int i = 0; i < 4 && id == 0; i++)
        if (getrandom(&id, sizeof(id), 0) != sizeof(id))
            id = 0;
    if (id == 0)
        id = lt_wall_ns() ^ ((uint64_t)getpid() << 32) ^ n->cfg.id;
    Lithair__V1__Command__Cluster cl = LITHAIR__V1__COMMAND__CLUSTER__INIT;
    cl.id = id;
    Lithair__V1__Command c = LITHAIR__V1__COMMAND__INIT;
    c.proposer = n->cfg.id;
    c.op_case = LITHAIR__V1__COMMAND__OP_CLUSTER;
    c.cluster = &cl;
    uint8_t buf[64];
    if (lithair__v1__command__get_packed_size(&c) > sizeof(buf))
        return;
    struct raft_buf b = {buf, lithair__v1__command__pack(&c, buf)};
    uint64_t index, term;
    if (raft_propose(n->raft, RAFT_ENTRY_NORMAL, &b, 1, &index, &term) != 0)
        return; /* tried again at the next pass */
    n->cluster_prop_term = n->term;
    lt_info("proposed cluster id %016llx at index %llu", (unsigned long long)id,
            (unsigned long long)index);
}

/* node_on_batch: a raft Batch stamped with another cluster's id is dropped whole — this
 * node's data dir, or the sender's, is another cluster's (a node that joined such a
 * cluster once mixed two clusters' records, QA). */
#define NODE_ALIEN 7 /* codec_batch_decode_stamped's result for a dropped batch */
static int node_on_batch(void *arg, const struct codec_stamp *stamp)
{
    struct node *n = arg;
    n->batch_stamp = *stamp;
    n->batch_disk_due = true;
    uint64_t cluster = stamp->cluster;
    if (cluster == 0 || n->ident.cluster == 0 || cluster == n->ident.cluster)
        return 0;
    uint64_t k = node_rare_due(&n->aliens, 10000000000u, lt_now_ns());
    if (k)
        lt_warn("dropped raft messages from another cluster (id %016llx; this node's cluster is "
                "%016llx): this node's data dir, or the sender's, was written by another cluster "
                "(%llu batches dropped since the last such line)",
                (unsigned long long)cluster, (unsigned long long)n->ident.cluster,
                (unsigned long long)k);
    return NODE_ALIEN;
}

/* node_stopping: a stop was asked (a signal or a Shutdown RPC), whether or not the loop saw
 * it yet. */
static bool node_stopping(const struct node *n)
{
    return n->shutdown_requested || __atomic_load_n(&n->stop, __ATOMIC_ACQUIRE);
}

static int node_recv_one(void *arg, const struct raft_msg *m, const struct codec_chunk *chunk)
{
    struct node *n = arg;
    if (++n->batch_pos <= n->batch_skip)
        return 0; /* a held batch's messages that were handed on before it was held */
    if (m->to != n->cfg.id)
        return 0; /* misdirected: ignore */
    if (!node_member(n, m->from)) {
        node_stranger(n, m->from);
        return 0; /* from a stranger: ignore (said, as the --peer lists differ) */
    }
    if (n->batch_disk_due) { /* a batch's messages are all its sender's: once a batch */
        n->batch_disk_due = false;
        for (size_t i = 0; i < n->cfg.n_members && i < RAFT_MAX_NODES; i++) {
            if (n->cfg.members[i].id == m->from) {
                n->peer_disk[i].low = n->batch_stamp.disk_low;
                n->peer_disk[i].free = n->batch_stamp.disk_free;
                n->peer_disk[i].at_ns = lt_now_ns();
            }
        }
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        if (!chunk || m->term < n->term)
            return 0; /* a deposed leader's transfer still under way: not its file */
        if (n->recv && (n->recv_meta.index != m->snapshot.index ||
                        n->recv_meta.term != m->snapshot.term || chunk->offset == 0)) {
            snap_recv_free(n->recv); /* a newer snapshot (or a restart of this one) */
            n->recv = NULL;
        }
        if (!n->recv) {
            if (chunk->offset != 0)
                return 0; /* we missed the start: wait for the leader to resend */
            if (!raft_snapshot_meta_is_valid(&m->snapshot)) {
                lt_warn("ignored a snapshot from node %llu with an invalid index or voter set",
                        (unsigned long long)m->from);
                return 0; /* its file would stop this node at its next start */
            }
            if (!node_snapshot_room(n, m, chunk->total))
                return 0; /* the leader sends it again later */
            if (snap_recv_begin(n->snap_dir, &m->snapshot, SNAP_DEFAULT_KEEP, &n->recv) != 0)
                return 0;
            n->recv_meta = m->snapshot;
            n->recv_cluster = n->batch_stamp.cluster;
        }
        /* the last one too without `done`: the loader thread verifies and syncs the file */
        int rc = snap_recv_chunk(n->recv, chunk->offset, chunk->data, chunk->len, false);
        if (rc != 0 || !chunk->done) {
            if (rc != 0) {
                lt_warn("snapshot chunk at %llu rejected: %s", (unsigned long long)chunk->offset,
                        lt_strerror(rc));
                snap_recv_free(n->recv);
                n->recv = NULL;
            }
            return 0; /* more chunks to come, or a bad one: the leader will resend */
        }
        node_load_start(n, m); /* takes n->recv; the core hears of it once it is loaded */
        return n->load_running ? NODE_HOLD : 0;
    }
    if (m->type == RAFT_MSG_TIMEOUT_NOW && node_stopping(n)) {
        /* A stopping node does not take leadership over: it would exit as leader with the
         * writes sent to it meanwhile (two nodes stopped at once: the leader chose the other,
         * whose clients then lost their writes and waited for an election). The leader
         * hands over to another after an election timeout. */
        lt_info("stopping: not taking leadership over from node %llu", (unsigned long long)m->from);
        return 0;
    }
    raft_recv(n->raft, m);
    return 0;
}

/* node_raft_batch hands the raft batch `it` to the core from its `skip`th message on, and
 * frees it; if a received snapshot is loading, or starts loading in it, it keeps `it` (the
 * rest of it) among the held raft input instead: at the back, or at the `front`. */
static void node_raft_batch(struct node *n, struct qitem *it, bool front)
{
    if (!n->load_running) {
        n->batch_pos = 0;
        n->batch_skip = it->skip;
        int rc = codec_batch_decode_stamped(nng_msg_body(it->msg), nng_msg_len(it->msg),
                                            node_on_batch, node_recv_one, n);
        n->batch_skip = 0;
        if (rc == LT_ECORRUPT)
            node_warn_bad_batch(n);
        if (rc != NODE_HOLD) {
            nng_msg_free(it->msg);
            free(it);
            return;
        }
        it->skip = n->batch_pos; /* the rest waits for the snapshot */
    }
    if (front) {
        it->next = n->rheld_head;
        n->rheld_head = it;
        if (!n->rheld_tail)
            n->rheld_tail = it;
        return;
    }
    it->next = NULL;
    if (n->rheld_tail)
        n->rheld_tail->next = it;
    else
        n->rheld_head = it;
    n->rheld_tail = it;
}

/* node_release_raft hands the held raft input to the core, in order, until all of it is
 * or another received snapshot starts loading. */
static void node_release_raft(struct node *n)
{
    while (n->rheld_head && !n->load_running) {
        struct qitem *it = n->rheld_head;
        n->rheld_head = it->next;
        if (!n->rheld_head)
            n->rheld_tail = NULL;
        node_raft_batch(n, it, true);
    }
}

/* node_snapshot_failed remembers that shipping a snapshot to a follower failed; after
 * the update is advanced the core hears it as a rejecting MSG_SNAPSHOT_RESP from that
 * follower (raft.h allows the node to answer on the receiver's behalf) and retries. */
static void node_snapshot_failed(struct node *n, const struct raft_msg *m)
{
    if (n->n_snap_failed < RAFT_MAX_NODES) {
        struct raft_msg r = {.type = RAFT_MSG_SNAPSHOT_RESP,
                             .from = m->to,
                             .to = m->from,
                             .term = m->term,
                             .reject = true,
                             .snapshot = m->snapshot};
        n->snap_failed[n->n_snap_failed++] = r;
    }
}

#define NODE_SHIP_CHUNK      (1u << 20) /* bytes of snapshot file per message */
#define NODE_SHIP_TIMEOUT_MS 10000u     /* a chunk the peer takes no room for this long: fail */
#define NODE_SHIP_STEP_MS    250u       /* the wait for room, between looks at `cancel` */

/* node_ship_main is a transfer's thread: it sends the file in chunks, each a MSG_SNAPSHOT
 * carrying part of the bytes, through the peer's raft socket, waiting for room (the peer's
 * pace; a peer that takes nothing for NODE_SHIP_TIMEOUT_MS fails the transfer). The
 * follower hands the message to its core once it has every chunk. */
static void *node_ship_main(void *arg)
{
    struct node_ship *sh = arg;
    struct node *n = sh->n;
    (void)lt_cpu_background("snap-send"); /* bulk work: any CPU */
    uint8_t *buf = malloc(NODE_SHIP_CHUNK);
    int rc = buf ? 0 : LT_ENOMEM;
    uint64_t off = 0, size = 0;
    while (rc == 0) {
        size_t len = 0;
        if ((rc = snap_chunk_pread(sh->fd, off, buf, NODE_SHIP_CHUNK, &len, &size)) != 0)
            break;
        struct codec_chunk ch = {
            .offset = off, .data = buf, .len = len, .done = off + len >= size, .total = size};
        /* wait for room in steps, so that a stopping node or a deposed leader gives up soon */
        rc = LT_ETIMEDOUT;
        for (unsigned waited = 0; rc == LT_ETIMEDOUT && waited < NODE_SHIP_TIMEOUT_MS;
             waited += NODE_SHIP_STEP_MS) {
            if (__atomic_load_n(&sh->cancel, __ATOMIC_RELAXED))
                rc = LT_ESHUTDOWN;
            else
                rc = raftnet_send_wait(n->net, sh->m.to, &sh->m, &ch, NODE_SHIP_STEP_MS);
        }
        if (rc == 0) {
            off += len;
            __atomic_store_n(&sh->bytes, off, __ATOMIC_RELAXED);
            if (ch.done)
                break;
        }
    }
    free(buf);
    close(sh->fd);
    sh->fd = -1;
    sh->rc = rc;
    pthread_mutex_lock(&n->mu);
    __atomic_store_n(&sh->done, true, __ATOMIC_RELEASE);
    pthread_cond_signal(&n->cv); /* the loop reports the outcome to the core at once */
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* node_send_snapshot starts shipping the snapshot the core names (the newest on disk if
 * that one was already retired) to a follower, on a thread. While a transfer to that
 * follower runs, the core's retries (it times a transfer out after 5 election timeouts)
 * leave it alone: a second one would restart the follower's file from the beginning. */
static void node_send_snapshot(struct node *n, const struct raft_msg *m)
{
    struct node_ship *sh = NULL;
    for (size_t i = 0; i < n->cfg.n_members; i++)
        if (n->cfg.members[i].id == m->to)
            sh = &n->ships[i];
    if (!sh) {
        node_snapshot_failed(n, m);
        return;
    }
    if (sh->running || lt_now_ns() < sh->quiet_until)
        return; /* under way, or just sent: the follower is taking it in */
    struct raft_msg cm = *m;
    struct snap_info info;
    char name[SNAP_NAME_MAX];
    snprintf(name, sizeof(name), "snap-%016llx-%016llx.snap", (unsigned long long)m->snapshot.index,
             (unsigned long long)m->snapshot.term);
    /* Opened here, read by the thread: a file retired by a newer snapshot during the
     * transfer stays readable (with chunks read by path, a soak's transfer failed "not
     * found" half-way; with snapshots taken faster than one is sent, none would finish). */
    sh->fd = snap_path(n->snap_dir, name, sh->path, sizeof(sh->path)) == 0
                 ? open(sh->path, O_RDONLY | O_CLOEXEC)
                 : -1;
    if (sh->fd < 0) {
        if (snap_newest(n->snap_dir, &info) == 0 &&
            snap_path(n->snap_dir, info.name, sh->path, sizeof(sh->path)) == 0)
            sh->fd = open(sh->path, O_RDONLY | O_CLOEXEC);
        if (sh->fd < 0) {
            lt_warn("cannot send a snapshot to node %llu: none on disk", (unsigned long long)m->to);
            node_snapshot_failed(n, m);
            return;
        }
        cm.snapshot = info.meta;
    }
    sh->m = cm;
    sh->n = n;
    sh->rc = 0;
    sh->bytes = 0;
    sh->done = false;
    sh->cancel = false;
    sh->t0 = lt_now_ns();
    if (pthread_create(&sh->th, NULL, node_ship_main, sh) != 0) {
        close(sh->fd);
        sh->fd = -1;
        node_snapshot_failed(n, m);
        return;
    }
    sh->running = true;
    lt_info("sending snapshot %llu/%llu to node %llu", (unsigned long long)cm.snapshot.index,
            (unsigned long long)cm.snapshot.term, (unsigned long long)m->to);
}

/* node_ships_poll reports a failed transfer to the core, as a rejecting MSG_SNAPSHOT_RESP
 * (it probes again and resends). A finished one is not reported: every chunk is queued,
 * not yet taken in, and the core waits for the follower's own answer (or times out and
 * asks again: ignored for a while after a transfer — 1 s and twice its duration — which
 * the follower needs to receive, check and install the file; answered "sent" at once,
 * the core probed, and a follower still installing got the same snapshot five times). */
static void node_ships_poll(struct node *n)
{
    for (size_t i = 0; i < n->cfg.n_members; i++) {
        struct node_ship *sh = &n->ships[i];
        if (!sh->running || !__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE))
            continue;
        pthread_join(sh->th, NULL);
        sh->running = false;
        uint64_t now = lt_now_ns(), ms = (now - sh->t0) / 1000000;
        if (sh->rc == 0) {
            lt_info("sent snapshot %llu/%llu to node %llu: %llu bytes in %llu ms",
                    (unsigned long long)sh->m.snapshot.index,
                    (unsigned long long)sh->m.snapshot.term, (unsigned long long)sh->m.to,
                    (unsigned long long)sh->bytes, (unsigned long long)ms);
            sh->quiet_until = now + 1000000000ull + 2 * (now - sh->t0);
            continue;
        }
        lt_warn("sending snapshot %llu to node %llu failed after %llu bytes and %llu ms: %s",
                (unsigned long long)sh->m.snapshot.index, (unsigned long long)sh->m.to,
                (unsigned long long)sh->bytes, (unsigned long long)ms, lt_strerror(sh->rc));
        struct raft_msg r = {.type = RAFT_MSG_SNAPSHOT_RESP,
                             .from = sh->m.to,
                             .to = sh->m.from,
                             .term = sh->m.term,
                             .reject = true,
                             .snapshot = sh->m.snapshot};
        raft_recv(n->raft, &r);
    }
}

/* node_ships_stop gives up every transfer and joins its thread (at most NODE_SHIP_STEP_MS
 * each; before raftnet_free). */
static void node_ships_stop(struct node *n)
{
    for (size_t i = 0; i < RAFT_MAX_NODES; i++)
        if (n->ships[i].running)
            __atomic_store_n(&n->ships[i].cancel, true, __ATOMIC_RELAXED);
    for (size_t i = 0; i < RAFT_MAX_NODES; i++) {
        if (n->ships[i].running)
            pthread_join(n->ships[i].th, NULL);
        n->ships[i].running = false;
    }
}

static void node_send(struct node *n, const struct raft_msg *msgs, size_t count)
{
    if (!n->net)
        return; /* node_free closed the socket: dropped, the peers will hear from us again */
    if (count > n->sendv_cap) {
        const struct raft_msg **v = realloc(n->sendv, count * sizeof(*v));
        if (!v)
            return; /* dropped: raft retries */
        n->sendv = v;
        n->sendv_cap = count;
    }
    /* One Batch per destination, in order. */
    for (size_t i = 0; i < count; i++) {
        uint64_t to = msgs[i].to;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = msgs[k].to == to;
        if (seen)
            continue;
        size_t nv = 0;
        for (size_t k = i; k < count; k++) {
            if (msgs[k].to != to)
                continue;
            if (msgs[k].type == RAFT_MSG_SNAPSHOT)
                node_send_snapshot(n, &msgs[k]);
            else
                n->sendv[nv++] = &msgs[k];
        }
        if (nv)
            raftnet_send(n->net, to, n->sendv, NULL, nv);
    }
}

/* ------------------------------------------------------------------ the WAL writer */

/* Group commit with one batch in flight: the loop appends to the WAL's buffer and hands a
 * batch to the writer thread, which does the write and the fdatasync while the loop keeps
 * serving (decoding RPCs, proposing, sending appends, applying what commits). Whatever
 * raft says must wait for durability (votes, acks, the persisted mark) waits in `held`
 * until the batch that carries it has been synced, and is released in order. */
static void *node_writer_main(void *arg)
{
    struct node *n = arg;
    (void)pthread_setname_np(pthread_self(), "wal-writer"); /* top -H */
    pthread_mutex_lock(&n->wmu);
    for (;;) {
        while (!n->w_job && !n->w_stop)
            pthread_cond_wait(&n->wcv, &n->wmu);
        if (!n->w_job)
            break;
        pthread_mutex_unlock(&n->wmu);
        wal_io_run(&n->io);
        /* Taken off before the loop hears of it: the loop may hand out the next batch
         * the moment it does. */
        pthread_mutex_lock(&n->wmu);
        n->w_job = false;
        pthread_mutex_unlock(&n->wmu);
        pthread_mutex_lock(&n->mu);
        n->io_done = true;
        pthread_cond_signal(&n->cv);
        pthread_mutex_unlock(&n->mu);
        pthread_mutex_lock(&n->wmu);
    }
    pthread_mutex_unlock(&n->wmu);
    return NULL;
}

/* node_release sends the held messages and reports the persisted marks of every group up
 * to `tag` (UINT64_MAX: all). */
static void node_release(struct node *n, uint64_t tag)
{
    while (n->held_head && n->held_head->tag <= tag) {
        struct held *h = n->held_head;
        n->held_head = h->next;
        if (!n->held_head)
            n->held_tail = NULL;
        node_send(n, h->msgs, h->n);
        if (h->last_index)
            raft_persisted(n->raft, h->last_index, h->last_term);
        free(h->msgs);
        free(h);
    }
}

/* node_hold queues `count` messages (and a persisted mark) behind the batch `tag`, all but
 * heartbeat answers (the caller sends those at once). The messages are copied: they carry
 * no entries (checked by the caller). */
static int node_hold(struct node *n, uint64_t tag, const struct raft_msg *msgs, size_t count,
                     uint64_t last_index, uint64_t last_term)
{
    struct held *h = calloc(1, sizeof(*h));
    if (!h)
        return LT_ENOMEM;
    if (count) {
        h->msgs = malloc(count * sizeof(*msgs));
        if (!h->msgs) {
            free(h);
            return LT_ENOMEM;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        if (msgs[i].type != RAFT_MSG_HEARTBEAT_RESP) /* sent already by the caller */
            h->msgs[k++] = msgs[i];
    }
    h->tag = tag;
    h->n = k;
    h->last_index = last_index;
    h->last_term = last_term;
    if (n->held_tail)
        n->held_tail->next = h;
    else
        n->held_head = h;
    n->held_tail = h;
    return 0;
}

/* node_wal_kick hands what the WAL has buffered to the writer unless a batch is in
 * flight already. Nothing buffered means everything appended is durable. */
static int node_wal_kick(struct node *n)
{
    if (n->io_busy)
        return 0;
    int rc = wal_sync_begin(n->wal, &n->io);
    if (rc != 0) {
        lt_error("WAL: %s; stopping (the disk cannot be trusted)", lt_strerror(rc));
        return rc;
    }
    if (n->io.len == 0) {
        node_release(n, UINT64_MAX);
        return 0;
    }
    n->io_busy = true;
    n->jobs_begun++;
    pthread_mutex_lock(&n->wmu);
    n->w_job = true;
    pthread_cond_signal(&n->wcv);
    pthread_mutex_unlock(&n->wmu);
    return 0;
}

/* node_warn_slow_batch: a WAL batch whose write and fdatasync took more than
 * NODE_SLOW_IO_US is logged (at most one line in 10 s, with the count since): every write
 * and vote of this node waited that long, and when two nodes' disks stall at once the
 * cluster commits nothing — clients see deadline errors and nothing else says why. */
static void node_warn_slow_batch(struct node *n, const struct wal_io *io)
{
    uint64_t k = node_rare_due(&n->slow_batches, 10000000000u, lt_now_ns());
    if (!k)
        return;
    lt_warn("WAL: a batch of %zu bytes took %llu ms to write and sync (fdatasync %llu ms; %llu "
            "such batch%s since the last such line): the disk is slow, writes wait for it",
            io->len, (unsigned long long)(io->io_us / 1000), (unsigned long long)(io->us / 1000),
            (unsigned long long)k, k == 1 ? "" : "es");
}

/* node_wal_finish ends a batch that was run (on the writer thread or the loop): a slow one
 * is logged, a failed one stops the node (the WAL fails on an I/O error). */
static int node_wal_finish(struct node *n, struct wal_io *io)
{
    if (io->synced && io->io_us > NODE_SLOW_IO_US)
        node_warn_slow_batch(n, io);
    int rc = wal_sync_end(n->wal, io);
    if (rc != 0)
        lt_error("WAL fsync failed: %s; stopping (the disk cannot be trusted)", lt_strerror(rc));
    return rc;
}

/* node_wal_end ends the batch the writer finished. */
static int node_wal_end(struct node *n)
{
    n->io_busy = false;
    return node_wal_finish(n, &n->io);
}

/* node_wal_complete ends the batch the writer finished, releases what waited for it and
 * starts the next batch. */
static int node_wal_complete(struct node *n)
{
    if (n->io_busy) { /* else already ended by node_wal_wait */
        int rc = node_wal_end(n);
        if (rc != 0)
            return rc;
        node_release(n, n->jobs_begun);
    }
    return node_wal_kick(n);
}

/* node_wal_wait blocks until the batch in flight (if any) is written and ended. */
static int node_wal_wait(struct node *n)
{
    if (!n->io_busy)
        return 0;
    pthread_mutex_lock(&n->mu);
    while (!n->io_done)
        pthread_cond_wait(&n->cv, &n->mu);
    n->io_done = false;
    pthread_mutex_unlock(&n->mu);
    return node_wal_end(n);
}

/* node_wal_sync_now makes everything appended durable on this thread (for the rare
 * steps that need it at once: installing or recording a snapshot) and releases all. */
static int node_wal_sync_now(struct node *n)
{
    int rc = node_wal_wait(n);
    if (rc == 0) { /* wal_sync, ended as the writer's batches are */
        struct wal_io io;
        if ((rc = wal_sync_begin(n->wal, &io)) != 0)
            lt_error("WAL fsync failed: %s; stopping (the disk cannot be trusted)",
                     lt_strerror(rc));
        else if (io.len) {
            wal_io_run(&io);
            rc = node_wal_finish(n, &io);
        }
    }
    if (rc == 0)
        node_release(n, UINT64_MAX);
    return rc;
}

/* ------------------------------------------------------------------ snapshots */

static int node_snap_write(void *ctx, const void *buf, size_t len)
{
    return snap_writer_write(ctx, buf, len);
}

static int node_snap_read(void *ctx, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        size_t k = 0;
        int rc = snap_reader_read(ctx, (uint8_t *)buf + got, len - got, &k);
        if (rc != 0)
            return rc;
        if (k == 0)
            return LT_ECORRUPT; /* the data ended early */
        got += k;
    }
    return 0;
}

/* node_snap_unmap: the store no longer refers to a snapshot file it restored from. */
static void node_snap_unmap(void *map)
{
    snap_map_free(map);
}

/* node_snap_main is the snapshot writer thread: it streams the pinned store into a new
 * snapshot file while the loop goes on applying (store_snapshot_stream). It yields the
 * CPU and the disk to the loop and the WAL (nice 10 and the idle I/O class, both per
 * thread on Linux). */
static void *node_snap_main(void *arg)
{
    struct node *n = arg;
    struct snap_writer *w;
    store_reader_register();
    /* bulk work in the background: any CPU (--cpu pins the node's serving threads only),
     * at a low priority, idle I/O */
    (void)lt_cpu_background("snapshot");
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    (void)syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, 3 << 13 /* IDLE */);
    int rc = snap_writer_begin(n->snap_dir, &n->snap_meta, &w);
    if (rc == 0) {
        /* --snapshot-delay-ms (tests): hold the pin and the temp file a while, e.g. until
         * a snapshot arrives or the node is killed. */
        for (uint64_t until = lt_now_ns() + n->cfg.snapshot_delay_ms * 1000000ull;
             lt_now_ns() < until && rc == 0;) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
            if (__atomic_load_n(&n->snap_cancel, __ATOMIC_RELAXED))
                rc = LT_ESTALE;
        }
        if (rc == 0) /* a cancel reaches it through store_snapshot_cancel */
            rc = store_snapshot_stream(n->snap, node_snap_write, w);
        if (rc != 0)
            snap_writer_abort(w);
        else
            rc = snap_writer_commit(w, SNAP_DEFAULT_KEEP, NULL);
    }
    store_reader_unregister();
    n->snap_rc = rc;
    pthread_mutex_lock(&n->mu);
    __atomic_store_n(&n->snap_done, true, __ATOMIC_RELEASE);
    pthread_cond_signal(&n->cv); /* the loop finishes the job at once */
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* node_snapshot_start starts writing a snapshot of the store as of `applied` on the
 * snapshot thread; the loop only pins the store (microseconds) and goes on serving.
 * node_snapshot_poll finishes the job when the thread is done. Returns 0 when started (or
 * when there is nothing new to save: then *started is false), LT_EBUSY while another one
 * runs, LT_ENOMEM or LT_EIO if it cannot start. */
static int node_snapshot_start(struct node *n, bool *started)
{
    *started = false;
    if (n->snap_state != SNAP_IDLE || n->dig_running) /* the store has one pin */
        return LT_EBUSY;
    if (n->applied == 0 || n->applied == n->snapshot_index)
        return 0;
    struct raft_snapshot_meta meta;
    memset(&meta, 0, sizeof(meta));
    meta.index = n->applied;
    uint64_t idx, term;
    store_applied(n->store, &idx, &term);
    meta.term = wal_term_at(n->wal, n->applied);
    if (!meta.term)
        meta.term = term;
    for (size_t i = 0; i < n->cfg.n_members; i++)
        meta.conf.voters[i] = n->cfg.members[i].id;
    meta.conf.n_voters = n->cfg.n_members;

    uint64_t t0 = lt_now_ns();
    int rc = store_snapshot_begin(n->store, &n->snap);
    if (rc != 0) {
        lt_warn("snapshot: cannot pin the store: %s", lt_strerror(rc));
        return rc;
    }
    n->snap_meta = meta;
    n->snap_rc = 0;
    n->snap_done = false;
    n->snap_cancel = false;
    if ((rc = pthread_create(&n->snap_thread, NULL, node_snap_main, n)) != 0) {
        lt_warn("snapshot: cannot start its thread: %s", strerror(rc));
        store_snapshot_end(n->store, n->snap);
        n->snap = NULL;
        return LT_EIO;
    }
    n->snap_state = SNAP_RUNNING;
    n->snap_t0 = lt_now_ns();
    n->snap_pin_us = (n->snap_t0 - t0) / 1000;
    lt_info("snapshot at %llu: writing it in the background", (unsigned long long)meta.index);
    *started = true;
    return 0;
}

/* node_snapshot_join waits for the snapshot thread (with a reason `cancel_why`, asks it to
 * give up first) and unpins the store; node_snapshot_poll then completes or reports the
 * result. */
static void node_snapshot_join(struct node *n, const char *cancel_why)
{
    if (n->snap_state != SNAP_RUNNING)
        return;
    if (cancel_why) {
        n->snap_cancel_why = cancel_why;
        __atomic_store_n(&n->snap_cancel, true, __ATOMIC_RELAXED);
        store_snapshot_cancel(n->snap); /* also while it collects, before any write */
    }
    pthread_join(n->snap_thread, NULL);
    store_snapshot_end(n->store, n->snap);
    n->snap = NULL;
    n->snap_state = SNAP_JOINED;
}

static int node_snapshot_start(struct node *n, bool *started);

/* node_reap is the raft core's `release`: a compaction's dropped payloads go to the
 * reaper's thread. */
static void node_reap(void *ctx, void **ptrs, size_t n)
{
    lt_reaper_give(ctx, ptrs, n);
}

/* node_gc_main deletes WAL segments a snapshot made obsolete: unlinking 64 MB files and
 * syncing the directory took the loop 20-30 ms (seen as 30 ms in the cluster status p99). */
static void *node_gc_main(void *arg)
{
    struct wal_gc *gc = arg;
    (void)lt_cpu_background("wal-gc"); /* background work: any CPU */
    int rc = wal_gc_run(gc);
    if (rc)
        lt_warn("WAL: old segments not deleted: %s (a restart replays and drops them)",
                lt_strerror(rc));
    wal_gc_free(gc);
    return NULL;
}

static void node_gc_join(struct node *n)
{
    if (n->gc_running)
        pthread_join(n->gc_thread, NULL);
    n->gc_running = false;
}

static void node_gc_start(struct node *n, struct wal_gc *gc)
{
    node_gc_join(n); /* the previous snapshot's, long done */
    if (pthread_create(&n->gc_thread, NULL, node_gc_main, gc) == 0)
        n->gc_running = true;
    else
        node_gc_main(gc);
}

/* node_resume_snapshot_waiters answers the "snapshot now" calls that the snapshot just
 * ended (rc 0) covers: those asked at or below the node's snapshot index. A call that came
 * while an older snapshot was being written waits for the next one, started here. */
static void node_resume_snapshot_waiters(struct node *n, int rc)
{
    bool more = false;
    for (struct op *op = n->waiting.next, *next; op != &n->waiting; op = next) {
        next = op->next;
        if (op->wait != OP_WAIT_SNAPSHOT)
            continue;
        if (rc != 0) {
            char msg[160];
            snprintf(msg, sizeof(msg), "snapshot failed: %s (the node's log says more)",
                     lt_strerror(rc));
            node_op_reply_err(n, op, rc, msg);
        } else if (op->index <= n->snapshot_index) {
            op_unlink(n, op);
            op->resume(n, op, NULL);
        } else {
            more = true;
        }
    }
    bool started = false;
    if (more && ((rc = node_snapshot_start(n, &started)) != 0 || !started))
        node_resume_snapshot_waiters(n, rc ? rc : LT_EIO); /* answers them all: rc != 0 */
}

/* node_snapshot_due: how many entries the WAL may hold behind the newest snapshot before
 * the next automatic one (0: never). Two costs pull it apart. Every snapshot rewrites the
 * whole store, so for a large store it must not come too often: wait for at least half the
 * store's size in new entries (--snapshot-interval at least). But a restart restores the
 * snapshot (about 1.1 us a record here) and then applies the WAL behind it (about 6-8 us
 * an entry), so that WAL must stay short next to a large store: at most
 * 2 x interval - records / 8 entries, and at least half the interval, which keeps a
 * restart near 2 s up to a million records. Replicas are staggered by node id (x1, x1.25, x1.5
 * ... below the cap, +1/16 at it): three writing the same large snapshot at once on one
 * machine starved the WAL's fsyncs. 2026-11-27: with only the first rule, a node of a
 * million records could hold 500,000-750,000 entries behind its snapshot; one with 1.5 M
 * records and 506,503 entries behind took 6.4 s to restart. */
static uint64_t node_snapshot_due(struct node *n)
{
    uint64_t interval = n->cfg.snapshot_interval, records = store_records_total(n->store);
    uint64_t stagger = (n->cfg.id - 1) % 8, due, cap;
    if (!interval)
        return 0;
    due = records / 2 > interval ? records / 2 : interval;
    due += due / 4 * stagger;
    cap = 2 * interval > interval / 2 + records / 8 ? 2 * interval - records / 8 : interval / 2;
    cap += cap / 16 * (stagger % 4);
    return due < cap ? due : cap;
}

/* node_snapshot_backoff: a snapshot failed (rc) or could not start; the next automatic one
 * waits, longer after each failure in a row. A requested one ("snapshot now") does not. */
static void node_snapshot_backoff(struct node *n, uint64_t index, int rc)
{
    uint64_t wait = NODE_SNAP_RETRY_NS << (n->snap_fails < 6 ? n->snap_fails : 6);
    if (wait > NODE_SNAP_RETRY_MAX_NS)
        wait = NODE_SNAP_RETRY_MAX_NS;
    n->snap_fails++;
    n->snap_retry_ns = lt_now_ns() + wait;
    lt_warn("snapshot at %llu failed: %s; the next automatic one in %llu s (%u failed in a row)",
            (unsigned long long)index, lt_strerror(rc), (unsigned long long)(wait / 1000000000ull),
            n->snap_fails);
}

/* node_snapshot_poll completes a finished snapshot: record the snapshot in the WAL,
 * let the raft core compact its log, delete WAL segments it covers. */
static int node_snapshot_poll(struct node *n, bool wait)
{
    if (n->snap_state == SNAP_RUNNING && (wait || __atomic_load_n(&n->snap_done, __ATOMIC_ACQUIRE)))
        node_snapshot_join(n, NULL);
    if (n->snap_state != SNAP_JOINED)
        return 0;
    n->snap_state = SNAP_IDLE;
    const struct raft_snapshot_meta *meta = &n->snap_meta;
    if (n->snap_rc != 0) {
        if (n->snap_cancel)
            lt_info("snapshot at %llu given up: %s", (unsigned long long)meta->index,
                    n->snap_cancel_why);
        else
            node_snapshot_backoff(n, meta->index, n->snap_rc);
        node_resume_snapshot_waiters(n, n->snap_cancel ? 0 : n->snap_rc);
        return 0;
    }
    if (meta->index <= n->snapshot_index) { /* overtaken by an installed snapshot */
        node_resume_snapshot_waiters(n, 0);
        return 0;
    }
    int rc;
    uint64_t rec_t0 = lt_now_ns();
    struct wal_gc *gc = NULL;
    if ((rc = wal_save_snapshot(n->wal, meta)) != 0 || (rc = node_wal_sync_now(n)) != 0) {
        lt_error("WAL: cannot record snapshot %llu: %s", (unsigned long long)meta->index,
                 lt_strerror(rc));
        node_resume_snapshot_waiters(n, rc);
        return rc;
    }
    if ((rc = raft_compact(n->raft, meta)) != 0)
        lt_warn("raft log not compacted at %llu/%llu: %s", (unsigned long long)meta->index,
                (unsigned long long)meta->term, lt_strerror(rc));
    uint64_t keep_from = meta->index > n->cfg.compact_keep ? meta->index - n->cfg.compact_keep : 0;
    if (keep_from > 0 && wal_compact_detach(n->wal, keep_from, &gc) == 0 && gc)
        node_gc_start(n, gc);
    char name[SNAP_NAME_MAX], path[1200];
    snprintf(name, sizeof(name), "snap-%016llx-%016llx.snap", (unsigned long long)meta->index,
             (unsigned long long)meta->term);
    struct stat stt;
    n->snapshot_bytes = snap_path(n->snap_dir, name, path, sizeof(path)) == 0 &&
                                stat(path, &stt) == 0 && stt.st_size > SNAP_HDR_SIZE
                            ? (uint64_t)stt.st_size - SNAP_HDR_SIZE
                            : 0;
    n->snapshot_index = meta->index;
    n->snapshot_term = meta->term;
    n->snapshot_wall_ns = lt_wall_ns();
    n->snap_fails = 0;
    n->snap_retry_ns = 0;
    lt_info("snapshot at %llu/%llu: %llu bytes in %llu ms (in the background; the loop paused "
            "%llu us to pin the store and %llu us to record it and compact the log)",
            (unsigned long long)meta->index, (unsigned long long)meta->term,
            (unsigned long long)n->snapshot_bytes,
            (unsigned long long)((lt_now_ns() - n->snap_t0) / 1000000),
            (unsigned long long)n->snap_pin_us,
            (unsigned long long)((lt_now_ns() - rec_t0) / 1000));
    node_resume_snapshot_waiters(n, 0);
    return 0;
}

/* ---- digests of the store (status --digest), off the loop ----
 * Hashing a store of 420,000 records took the loop 0.75 s: a leader asked for it lost its
 * leadership. Now the loop pins the store as for a snapshot (microseconds), a thread hashes
 * the pinned state (store_snapshot_digest) while the loop goes on, and the ops that came
 * before the pin are answered with it. The store has one pin: a digest waits for a
 * snapshot being written to end, and an automatic snapshot for the digest. */

static void *node_dig_main(void *arg)
{
    struct node *n = arg;
    store_reader_register();
    (void)lt_cpu_background("digest"); /* bulk work: any CPU, low priority */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    n->dig_rc = 0;
    for (uint64_t until = lt_now_ns() + n->cfg.digest_delay_ms * 1000000ull;
         lt_now_ns() < until && n->dig_rc == 0;) { /* --digest-delay-ms (tests) */
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        if (__atomic_load_n(&n->dig_cancel, __ATOMIC_RELAXED))
            n->dig_rc = LT_ESTALE;
    }
    if (n->dig_rc == 0)
        n->dig_rc = store_snapshot_digest(n->dig_snap, &n->dig_value);
    store_reader_unregister();
    pthread_mutex_lock(&n->mu);
    __atomic_store_n(&n->dig_done, true, __ATOMIC_RELEASE);
    pthread_cond_signal(&n->cv); /* the loop answers at once */
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* node_digest_answer answers the digest ops that came by `before_ns` with rc (0: the
 * digest made; LT_ESTALE: none, they wait for the next). */
static void node_digest_answer(struct node *n, uint64_t before_ns, int rc)
{
    for (struct op *op = n->waiting.next, *next; op != &n->waiting; op = next) {
        next = op->next;
        if (op->wait != OP_WAIT_DIGEST || op->start_ns > before_ns || rc == LT_ESTALE)
            continue;
        if (rc != 0) {
            node_op_reply_err(n, op, rc, "cannot hash the store");
        } else {
            op_unlink(n, op);
            op->resume(n, op, NULL);
        }
    }
}

/* node_digest_kick starts a digest if an op waits for one and the store's pin is free. */
static void node_digest_kick(struct node *n)
{
    if (n->dig_running || n->snap_state != SNAP_IDLE || !n->dig_waiting)
        return;
    uint64_t now = lt_now_ns();
    int rc = store_snapshot_begin(n->store, &n->dig_snap);
    if (rc != 0) {
        node_digest_answer(n, now, rc);
        return;
    }
    n->dig_pin_ns = now;
    n->dig_index = n->applied;
    n->dig_done = false;
    n->dig_cancel = false;
    if ((rc = pthread_create(&n->dig_thread, NULL, node_dig_main, n)) != 0) {
        store_snapshot_end(n->store, n->dig_snap);
        n->dig_snap = NULL;
        node_digest_answer(n, now, LT_EIO);
        return;
    }
    n->dig_running = true;
    lt_info("digest at %llu: hashing the store in the background",
            (unsigned long long)n->dig_index);
}

/* node_digest_poll finishes a digest whose thread is done (wait: or waits for it; cancel:
 * asks it to give up first — a received snapshot replaces the store, or the node stops),
 * answers the ops it covers and starts the next one if more wait. */
static void node_digest_poll(struct node *n, bool wait, bool cancel)
{
    if (n->dig_running && (wait || __atomic_load_n(&n->dig_done, __ATOMIC_ACQUIRE))) {
        if (cancel) {
            __atomic_store_n(&n->dig_cancel, true, __ATOMIC_RELAXED);
            store_snapshot_cancel(n->dig_snap);
        }
        pthread_join(n->dig_thread, NULL);
        store_snapshot_end(n->store, n->dig_snap);
        n->dig_snap = NULL;
        n->dig_running = false;
        uint64_t ms = (lt_now_ns() - n->dig_pin_ns) / 1000000;
        if (n->dig_rc == 0)
            lt_info("digest at %llu: %016llx in %llu ms", (unsigned long long)n->dig_index,
                    (unsigned long long)n->dig_value, (unsigned long long)ms);
        else if (n->dig_rc == LT_ESTALE)
            lt_info("digest at %llu given up after %llu ms", (unsigned long long)n->dig_index,
                    (unsigned long long)ms);
        else
            lt_warn("digest at %llu failed: %s", (unsigned long long)n->dig_index,
                    lt_strerror(n->dig_rc));
        node_digest_answer(n, n->dig_pin_ns, n->dig_rc);
    }
    if (cancel) /* a received snapshot is about to replace the store: nothing may pin it */
        return;
    if (n->snap_after_dig && !n->dig_running && n->snap_state == SNAP_IDLE) {
        n->snap_after_dig = false;
        node_resume_snapshot_waiters(n, 0); /* the "snapshot now" calls start one */
    }
    node_digest_kick(n);
}

void node_op_digest(struct node *n, struct op *op, op_resume_fn resume)
{
    op->resume = resume;
    op->wait = OP_WAIT_DIGEST;
    op_link(n, op);
    n->dig_waiting++;
    node_digest_kick(n);
}

void node_digest_info(struct node *n, uint64_t *digest, uint64_t *index)
{
    *digest = n->dig_value; /* called by the ops node_digest_answer resumes */
    *index = n->dig_index;
}

/* node_snapshot_restored: the store now holds snapshot `meta`, from the file at `path`. */
static void node_snapshot_restored(struct node *n, const struct raft_snapshot_meta *meta,
                                   const struct snap_info *info, const char *path)
{
    n->snapshot_bytes = info->data_size;
    n->applied = meta->index;
    n->snapshot_index = meta->index;
    n->snapshot_term = meta->term;
    /* when it was written (here, or received from the leader): its file's modification
     * time; wal-stats' snapshotAt was empty after a restart */
    struct stat sb;
    if (path[0] && stat(path, &sb) == 0)
        n->snapshot_wall_ns =
            (uint64_t)sb.st_mtim.tv_sec * 1000000000ull + (uint64_t)sb.st_mtim.tv_nsec;
}

/* node_restore_snapshot replaces the store with the snapshot `meta` from disk. */
static int node_restore_snapshot(struct node *n, const struct raft_snapshot_meta *meta,
                                 struct raft_snapshot_meta *got)
{
    char name[SNAP_NAME_MAX], path[1200];
    snprintf(name, sizeof(name), "snap-%016llx-%016llx.snap", (unsigned long long)meta->index,
             (unsigned long long)meta->term);
    if (snap_path(n->snap_dir, name, path, sizeof(path)) != 0)
        return LT_EINVAL;
    /* Mapped, not copied: the store's versions keep pointing into the file's pages (a
     * store of 1 GB restores without allocating and copying 1 GB); the store checks its own
     * CRC32C over every byte and publishes nothing unless all is good. Without the address
     * space for a mapping, the file is streamed instead (read once: its CRC32C checked as
     * it streams). */
    struct snap_info info;
    struct snap_map *map = NULL;
    struct snap_reader *rd = NULL;
    uint64_t t0 = lt_now_ns();
    int rc = snap_map_open(path, &map, &info);
    n->snapshot_map_ms = (lt_now_ns() - t0) / 1000000; /* long when the file is not cached */
    if (rc == LT_ENOMEM)
        rc = snap_reader_open_trusted(path, &rd, &info);
    if (rc == 0 && (info.meta.index != meta->index || info.meta.term != meta->term))
        rc = LT_ECORRUPT; /* a file whose name disagrees with its header */
    if (rc == 0 && map) {
        rc = store_snapshot_load(n->store, snap_map_data(map), snap_map_len(map), node_snap_unmap,
                                 map);
        map = NULL; /* the store's now: it unmaps it */
    } else if (rc == 0) {
        rc = store_snapshot_read(n->store, node_snap_read, rd);
    }
    snap_map_free(map);
    snap_reader_free(rd);
    if (rc != 0)
        return rc;
    node_snapshot_restored(n, meta, &info, path);
    if (got)
        *got = info.meta;
    return 0;
}

/* ---- a received snapshot, loaded off the loop ----
 * The last chunk in, a thread maps the file and builds the store's state from it
 * (store_snapshot_prepare) while the loop goes on serving; then the raft core is given the
 * snapshot message, and when it installs it the loop swaps the state in
 * (node_install_snapshot). If the load fails, or the core wants another snapshot, the loop
 * restores from the file itself as before (node_restore_snapshot). */

static void *node_load_main(void *arg)
{
    struct node *n = arg;
    char name[SNAP_NAME_MAX], path[1200];
    struct snap_map *map = NULL;
    store_reader_register();
    (void)lt_cpu_background("snap-load"); /* any CPU: the loop keeps its own */
    snprintf(name, sizeof(name), "snap-%016llx-%016llx.snap",
             (unsigned long long)n->load_msg.snapshot.index,
             (unsigned long long)n->load_msg.snapshot.term);
    uint64_t t0 = lt_now_ns();
    int rc = n->load_commit_rc = snap_recv_commit(n->load_recv); /* reads, checks, syncs */
    snap_recv_free(n->load_recv);
    n->load_recv = NULL;
    if (rc == 0)
        rc = snap_path(n->snap_dir, name, path, sizeof(path));
    if (rc == 0)
        rc = snap_map_open(path, &map, &n->load_info);
    n->load_map_ms = (lt_now_ns() - t0) / 1000000;
    if (rc == 0 && (n->load_info.meta.index != n->load_msg.snapshot.index ||
                    n->load_info.meta.term != n->load_msg.snapshot.term))
        rc = LT_ECORRUPT; /* a file whose name disagrees with its header */
    if (rc == 0) {
        rc = store_snapshot_prepare(snap_map_data(map), snap_map_len(map), node_snap_unmap, map,
                                    &n->loaded);
        map = NULL; /* the prepared state's now (or released on failure) */
    }
    snap_map_free(map);
    n->load_rc = rc;
    store_reader_unregister();
    pthread_mutex_lock(&n->mu);
    __atomic_store_n(&n->load_done, true, __ATOMIC_RELEASE);
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* node_load_drop frees a loaded state the core did not install. */
static void node_load_drop(struct node *n)
{
    if (n->loaded) {
        store_prepared_free(n->loaded);
        n->loaded = NULL;
    }
}

/* node_load_thread starts the thread that checks, syncs and loads n->load_recv, the
 * receiver of n->load_msg; with no thread, it does it here (the loop then restores the file
 * itself) and hands the core the message at once. */
static void node_load_thread(struct node *n)
{
    n->load_commit_rc = 0;
    n->load_done = false;
    n->load_rc = 0;
    n->load_t0 = lt_now_ns();
    n->load_running = true;
    if (pthread_create(&n->load_thread, NULL, node_load_main, n) == 0)
        return;
    n->load_running = false;
    struct snap_receiver *rv = n->load_recv;
    n->load_recv = NULL;
    int rc = snap_recv_commit(rv);
    snap_recv_free(rv);
    if (rc == 0)
        raft_recv(n->raft, &n->load_msg);
    else
        lt_warn("received snapshot %llu/%llu rejected: %s",
                (unsigned long long)n->load_msg.snapshot.index,
                (unsigned long long)n->load_msg.snapshot.term, lt_strerror(rc));
}

/* node_load_start takes the receiver of snapshot `m`, complete but for its last check,
 * to a thread that checks and syncs the file, then loads it.
 *
 * The file is kept (renamed into place) before the core hears of the snapshot and makes
 * its term durable. A snapshot beside a WAL without a hard state reads, at the next start,
 * as a WAL whose records were lost, and the node refuses to start (wal_open_read). So until
 * the WAL holds a term, synced, the thread waits: the loop first saves the hard state
 * (the leader's term, no vote, if the core has never handed one) and syncs it at its next
 * safe point (node_load_poll; here, mid-batch, a batch the writer finished may already
 * have been taken off). It happens once, for a node's first received snapshot. */
static void node_load_start(struct node *n, const struct raft_msg *m)
{
    /* never while one loads: the raft input that could bring another waits meanwhile */
    node_load_drop(n);
    n->load_recv = n->recv;
    n->recv = NULL;
    n->load_msg = *m;
    n->load_msg.entries = NULL; /* a snapshot message carries none */
    n->load_msg.n_entries = 0;
    if (!n->term_durable) {
        n->load_deferred = true;
        n->load_running = true; /* the raft input after it is held from now on */
        return;
    }
    node_load_thread(n);
}

/* node_term_sync makes a term durable before a received snapshot's file is kept (see
 * node_load_start): the hard state handed last, or, if the core never handed one, the
 * snapshot's sender's term with no vote. The core takes that term as the snapshot reaches
 * it, and writes a vote of that term only after this record. */
static int node_term_sync(struct node *n, uint64_t term)
{
    int rc = 0;
    if (n->hs_term == 0) {
        struct raft_hard_state hs = {.term = term, .vote = RAFT_NONE, .commit = 0};
        if ((rc = wal_save_hard_state(n->wal, &hs)) != 0)
            return rc;
        n->hs_term = term;
        n->hs_vote = RAFT_NONE;
    }
    if ((rc = node_wal_sync_now(n)) == 0)
        n->term_durable = true;
    return rc;
}

/* node_load_poll hands a loaded snapshot's message to the core (wait: waits for the
 * thread; the node is stopping, and nothing is handed on). */
static void node_load_poll(struct node *n, bool wait)
{
    if (n->load_deferred) {
        n->load_deferred = false;
        int rc = wait ? 0 : node_term_sync(n, n->load_msg.term);
        if (wait || rc != 0) { /* stopping, or the disk failed: the file is not kept */
            n->load_running = false;
            snap_recv_free(n->load_recv);
            n->load_recv = NULL;
            if (rc != 0) {
                lt_error("WAL: cannot save the term before a received snapshot: %s; stopping",
                         lt_strerror(rc));
                n->fatal = rc;
            }
            return;
        }
        node_load_thread(n);
        if (!n->load_running) /* done here: what came after it, in order */
            node_release_raft(n);
        return;
    }
    if (!n->load_running || !(wait || __atomic_load_n(&n->load_done, __ATOMIC_ACQUIRE)))
        return;
    pthread_join(n->load_thread, NULL);
    n->load_running = false;
    if (wait)
        return;
    if (n->load_commit_rc != 0) { /* as a bad chunk: the leader will send it again */
        lt_warn("received snapshot %llu/%llu rejected: %s",
                (unsigned long long)n->load_msg.snapshot.index,
                (unsigned long long)n->load_msg.snapshot.term, lt_strerror(n->load_commit_rc));
        node_release_raft(n);
        return;
    }
    lt_info("received snapshot %llu/%llu from node %llu",
            (unsigned long long)n->load_msg.snapshot.index,
            (unsigned long long)n->load_msg.snapshot.term, (unsigned long long)n->load_msg.from);
    if (n->load_rc == 0)
        lt_info("loaded snapshot %llu/%llu in %llu ms on a thread (%llu ms to map it)",
                (unsigned long long)n->load_msg.snapshot.index,
                (unsigned long long)n->load_msg.snapshot.term,
                (unsigned long long)((lt_now_ns() - n->load_t0) / 1000000),
                (unsigned long long)n->load_map_ms);
    else
        lt_warn("snapshot %llu/%llu not loaded on a thread: %s (the loop restores it itself)",
                (unsigned long long)n->load_msg.snapshot.index,
                (unsigned long long)n->load_msg.snapshot.term, lt_strerror(n->load_rc));
    raft_recv(n->raft, &n->load_msg);
    node_release_raft(n); /* what came after it, in order */
}

/* node_install_snapshot makes the store the snapshot `meta`'s: the state loaded on the
 * thread if it is that snapshot, else restored from the file here. */
static int node_install_snapshot(struct node *n, const struct raft_snapshot_meta *meta)
{
    if (!n->loaded || n->load_info.meta.index != meta->index ||
        n->load_info.meta.term != meta->term)
        return node_restore_snapshot(n, meta, NULL);
    int rc = store_snapshot_install(n->store, n->loaded);
    if (rc != 0)
        return rc;
    n->loaded = NULL; /* the store's now */
    char path[1200];
    if (snap_path(n->snap_dir, n->load_info.name, path, sizeof(path)) != 0)
        path[0] = 0;
    node_snapshot_restored(n, meta, &n->load_info, path);
    return 0;
}

/* ------------------------------------------------------------------ apply */

#define NODE_EVENT_BATCH_MAX 1024 /* committed entries per published event */

/* node_flush_committed publishes the committed entries held back as CommittedBatch events
 * (one, unless more than NODE_EVENT_BATCH_MAX), stamped with the end of the apply round of
 * the first: `at` is never later than any of its entries' commit on this node. */
static void node_flush_committed(struct node *n)
{
    uint64_t at = n->cev_at_ns ? n->cev_at_ns : lt_wall_ns();
    for (size_t off = 0; off < n->n_cev; off += NODE_EVENT_BATCH_MAX) {
        size_t k = n->n_cev - off < NODE_EVENT_BATCH_MAX ? n->n_cev - off : NODE_EVENT_BATCH_MAX;
        Lithair__V1__CommittedEvent *ptrs[NODE_EVENT_BATCH_MAX];
        for (size_t i = 0; i < k; i++)
            ptrs[i] = &n->cev[off + i];
        Lithair__V1__CommittedBatch cb = LITHAIR__V1__COMMITTED_BATCH__INIT;
        cb.n_entries = k;
        cb.entries = ptrs;
        Lithair__V1__Event ev = LITHAIR__V1__EVENT__INIT;
        ev.kind_case = LITHAIR__V1__EVENT__KIND_COMMITTED_BATCH;
        ev.committed_batch = &cb;
        node_publish_at(n, &ev, at);
    }
    for (size_t i = 0; i < n->n_cev; i++) {
        if (n->cev[i].id != protobuf_c_empty_string)
            free(n->cev[i].id);
    }
    n->n_cev = 0;
    n->cev_at_ns = 0;
    n->cev_lead = false;
}

/* node_committed_due (the loop, after an apply round and after each pass) publishes the
 * committed entries held back once they may go: at once if they began after a quiet spell
 * (no entry committed for --event-batch-ms: a lone write is not delayed), else
 * --event-batch-ms after the previous CommittedBatch. Under load a node applies a round
 * every 2 ms or so, and every event message costs the node and each subscriber a send, a
 * receive, thread hand-offs and a decode: through the gateway at 12,000-13,700 writes/s,
 * 1,258-1,533 CommittedBatch messages a second from the three nodes with one a round,
 * 279-284 with batches of 10 ms (2026-11-29). The quiet spell is measured from the last
 * commit, not the last CommittedBatch: two entries committed together after a leader's
 * election sent the second out a full interval later, and a write that came after a
 * quiet spell but within that interval of it waited too (test_committed_events_batched,
 * with an interval of 1 s). */
static void node_committed_due(struct node *n, uint64_t now)
{
    uint64_t interval = (uint64_t)n->cfg.event_batch_ms * 1000000ull;
    if (n->cev_new) {
        n->cev_new = false;
        if (now - n->cev_last_ns >= interval)
            n->cev_lead = true;
        n->cev_last_ns = now;
    }
    if (n->n_cev == 0)
        return;
    if (!n->cev_at_ns)
        n->cev_at_ns = lt_wall_ns();
    if (now < n->cev_next_ns && n->n_cev < NODE_EVENT_BATCH_MAX && !n->cev_lead)
        return;
    node_flush_committed(n);
    n->cev_next_ns = now + interval;
}

/* node_event_committed records one applied entry for the next CommittedBatch. */
static void node_event_committed(struct node *n, const struct raft_entry *e,
                                 const struct store_result *res)
{
    if (n->n_cev == n->cap_cev) {
        size_t cap = n->cap_cev ? n->cap_cev * 2 : 256;
        Lithair__V1__CommittedEvent *grown = realloc(n->cev, cap * sizeof(*grown));
        if (!grown)
            return; /* an event lost for lack of memory; the data is applied all the same */
        n->cev = grown;
        n->cap_cev = cap;
    }
    Lithair__V1__CommittedEvent *ce = &n->cev[n->n_cev];
    lithair__v1__committed_event__init(ce);
    ce->index = e->index;
    ce->term = e->term;
    if (res) {
        ce->model = res->model ? (char *)res->model->name : "";
        ce->id = res->id ? strdup(res->id) : NULL;
        if (!ce->id)
            ce->id = (char *)protobuf_c_empty_string;
        ce->op = res->code != 0                ? LITHAIR__V1__COMMITTED_EVENT__OP__UPDATE
                 : res->op == STORE_OP_CLUSTER ? LITHAIR__V1__COMMITTED_EVENT__OP__NOOP
                                               : (Lithair__V1__CommittedEvent__Op)res->op;
        ce->version = res->version;
        ce->result = wire_code_from_err(res->code);
    } else {
        ce->op = e->type == RAFT_ENTRY_CONF_CHANGE ? LITHAIR__V1__COMMITTED_EVENT__OP__CONF_CHANGE
                                                   : LITHAIR__V1__COMMITTED_EVENT__OP__NOOP;
    }
    n->n_cev++;
    n->cev_new = true;
}

/* A proposal whose entry was replaced by another leader's never committed: the client may
 * safely send it again (clients retry UNAVAILABLE). */
static void node_reply_lost(struct node *n, struct op *op)
{
    node_op_reply(n, op, LITHAIR__V1__CODE__UNAVAILABLE,
                  "leadership changed before the write committed; it was not applied, retry", NULL);
}

/* A proposal this node cannot match to an applied entry (a snapshot replaced its log
 * there) may have committed under another leader: its outcome is unknown, answered like a
 * write that timed out (DEADLINE_EXCEEDED: clients never send a write again on it). */
static void node_reply_unknown(struct node *n, struct op *op)
{
    node_op_reply(n, op, LITHAIR__V1__CODE__DEADLINE_EXCEEDED,
                  "outcome unknown: a snapshot replaced this node's log before the write was "
                  "applied here; it may have been applied",
                  NULL);
}

/* node_resolve_proposals completes the proposals at `index` or before it: the one whose
 * entry this is succeeds with `res`; one with another term at its index was overwritten by
 * another leader's entry and never committed; one whose index was skipped is unknown. */
static void node_resolve_proposals(struct node *n, const struct raft_entry *e,
                                   const struct store_result *res)
{
    while (n->props.next != &n->props && n->props.next->index <= e->index) {
        struct op *op = n->props.next;
        if (op->index == e->index && op->term == e->term) {
            op_unlink(n, op);
            op->resume(n, op, res);
        } else if (op->index == e->index) {
            node_reply_lost(n, op);
        } else {
            node_reply_unknown(n, op);
        }
    }
}

/* node_resolve_snapshot_proposals answers the proposals an installed snapshot `s` covers:
 * their entries were not applied here one by one. A proposal of a later term than the
 * snapshot's cannot be in it (terms never decrease along a log): lost; any other may be. */
static void node_resolve_snapshot_proposals(struct node *n, const struct raft_snapshot_meta *s)
{
    while (n->props.next != &n->props && n->props.next->index <= s->index) {
        struct op *op = n->props.next;
        if (op->term > s->term)
            node_reply_lost(n, op);
        else
            node_reply_unknown(n, op);
    }
}

static void node_resume_reads(struct node *n)
{
    struct op *op = n->waiting.next;
    while (op != &n->waiting) {
        struct op *next = op->next;
        if (op->wait == OP_WAIT_APPLIED && op->index <= n->applied) {
            op_unlink(n, op);
            op->resume(n, op, NULL);
        }
        op = next;
    }
}

static int node_apply(struct node *n, const struct raft_entry *e)
{
    if (e->index <= n->applied)
        return 0;
    if (e->type == RAFT_ENTRY_NORMAL) {
        struct store_result res;
        /* The value is copied into the result only for a client waiting on this node. */
        bool waited = false;
        for (struct op *op = n->props.next; op != &n->props && op->index <= e->index; op = op->next)
            waited |= op->index == e->index;
        int rc = waited ? store_apply(n->store, e->index, e->term, e->data.base, e->data.len, &res)
                        : store_apply_norecord(n->store, e->index, e->term, e->data.base,
                                               e->data.len, &res);
        if (rc == LT_ENOMEM) {
            store_result_fini(&res);
            return rc; /* cannot follow the log any more */
        }
        n->applied = e->index;
        if (res.op == STORE_OP_CLUSTER)
            node_cluster_learn(n, res.cluster, "from the log");
        node_event_committed(n, e, &res);
        node_resolve_proposals(n, e, &res);
        store_result_fini(&res);
    } else {
        n->applied = e->index;
        node_event_committed(n, e, NULL);
        node_resolve_proposals(n, e, NULL);
    }
    return 0;
}

/* node_apply_recovered applies the WAL's committed entries after the snapshot at start,
 * before any socket opens — nothing reads the store yet — as a bulk apply (the secondary
 * indexes kept on a second core, store_bulk_begin). The raft core hands these entries
 * again once running; node_apply skips them. Their committed events are not published:
 * they were when the entries were first applied. */
static int node_apply_recovered(struct node *n, const struct wal_recovered *rec)
{
    uint64_t upto = rec->hs.commit < rec->last_index ? rec->hs.commit : rec->last_index;
    uint64_t from = n->applied;
    if (upto <= from)
        return 0;
    bool bulk = store_bulk_begin(n->store) == 0;
    int rc = 0;
    for (size_t i = 0; i < rec->n_entries && rc == 0; i++) {
        const struct raft_entry *e = &rec->entries[i];
        if (e->index <= n->applied)
            continue;
        if (e->index > upto)
            break;
        if (e->type == RAFT_ENTRY_NORMAL) {
            struct store_result res;
            rc = store_apply_norecord(n->store, e->index, e->term, e->data.base, e->data.len, &res);
            if (res.op == STORE_OP_CLUSTER)
                node_cluster_learn(n, res.cluster, "from the log");
            store_result_fini(&res);
            if (rc != LT_ENOMEM)
                rc = 0; /* a refused command is an outcome, the same on every replica */
        }
        if (rc == 0)
            n->applied = e->index;
    }
    if (bulk)
        store_bulk_end(n->store);
    lt_info("applied the WAL tail: %llu entries (%llu ms after start)",
            (unsigned long long)(n->applied - from),
            (unsigned long long)((lt_now_ns() - n->start_ns) / 1000000));
    return rc;
}

/* ------------------------------------------------------------------ role and reads */

static void node_role_changed(struct node *n, const struct raft_update *up)
{
    bool leader_changed = up->leader != n->leader, term_changed = up->term != n->term;
    if (up->role != n->role || term_changed || leader_changed) {
        lt_info("%s in term %llu, leader %llu", raft_role_name(up->role),
                (unsigned long long)up->term, (unsigned long long)up->leader);
        if (leader_changed)
            n->leader_changes++;
        n->role = up->role;
        n->term = up->term;
        n->leader = up->leader;
        /* snapshots this node was sending as leader: a new leader sends its own, and the
         * two would restart each other's file at the follower */
        for (size_t i = 0; i < RAFT_MAX_NODES; i++)
            if (n->ships[i].running && (up->role != RAFT_LEADER || term_changed))
                __atomic_store_n(&n->ships[i].cancel, true, __ATOMIC_RELAXED);
        Lithair__V1__RoleEvent re = LITHAIR__V1__ROLE_EVENT__INIT;
        re.role = (Lithair__V1__NodeRole)up->role;
        re.term = up->term;
        re.leader_id = up->leader;
        Lithair__V1__Event ev = LITHAIR__V1__EVENT__INIT;
        ev.kind_case = LITHAIR__V1__EVENT__KIND_ROLE;
        ev.role = &re;
        node_publish(n, &ev);
    }
    /* Reads waiting for a read index from a leadership that is gone will never get one
     * (a leader re-elected in a new term dropped its queue too when it stepped down). */
    struct op *op = n->waiting.next;
    while (op != &n->waiting) {
        struct op *next = op->next;
        if (op->wait == OP_WAIT_READ && (leader_changed || term_changed)) {
            node_op_not_leader(n, op);
        } else if (op->wait == OP_WAIT_LEADER && n->leader && n->leader != op->target) {
            op_unlink(n, op);
            op->resume(n, op, NULL);
        }
        op = next;
    }
}

static void node_reads_ready(struct node *n, const struct raft_read_state *rs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        for (struct op *op = n->waiting.next; op != &n->waiting; op = op->next) {
            if (op->wait == OP_WAIT_READ && op->context == rs[i].context) {
                op->wait = OP_WAIT_APPLIED;
                op->index = rs[i].index;
                break;
            }
        }
    }
    node_resume_reads(n);
}

/* ------------------------------------------------------------------ the update */

#define NODE_INLINE_SYNC_MAX   8 /* entries a follower syncs on the loop when its disk is idle */
#define NODE_INLINE_LEADER_MAX 2 /* a leader does too when no more proposals than this wait */
#define NODE_INLINE_SLOW_NS    (2 * 1000000ull)    /* an average inline sync this slow ... */
#define NODE_INLINE_OFF_NS     (1000 * 1000000ull) /* ... stops them for this long */

/* node_inline_sync_took keeps the average of inline syncs: a slow disk must not hold the
 * loop (heartbeat answers, reads), so above NODE_INLINE_SLOW_NS the writer thread takes
 * every batch again for a while. */
static void node_inline_sync_took(struct node *n, uint64_t ns)
{
    n->inline_avg_ns = (7 * n->inline_avg_ns + ns) / 8;
    if (n->inline_avg_ns > NODE_INLINE_SLOW_NS) {
        n->inline_off_until = lt_now_ns() + NODE_INLINE_OFF_NS;
        n->inline_avg_ns = 0;
    }
}

/* node_diverged says what the core saw: proof that the cluster's logs diverged (raft.h's
 * raft_divergence), which Raft rules out unless a node lost or replaced its data. True
 * when this node must stop: its own committed entries contradict the leader's log. */
static bool node_diverged(const struct raft_divergence *d)
{
    if (d->kind == RAFT_DIVERGED_COMMITTED) {
        lt_error("the cluster's logs diverged: entry %llu, committed here in term %llu, is of "
                 "term %llu in the log of leader %llu. Entries a majority acknowledged are "
                 "missing somewhere: a WAL deleted, damaged or restored from a backup, a data "
                 "dir from another cluster, or --peer lists that differ. Stopping, so as not "
                 "to serve data the cluster does not have; compare the nodes' data "
                 "(lithair-admin status --digest) before deleting any",
                 (unsigned long long)d->index, (unsigned long long)d->term_here,
                 (unsigned long long)d->term_there, (unsigned long long)d->peer);
        return true;
    }
    if (d->kind == RAFT_DIVERGED_TOLD) {
        lt_error("the cluster's logs diverged: leader %llu says this node holds entries "
                 "committed up to %llu, past its last entry %llu: this node's data are not the "
                 "cluster's (a WAL deleted, damaged or restored from a backup somewhere, or a "
                 "data dir from another cluster). Stopping, so as not to serve them; its data "
                 "dir is kept as it is: compare the nodes' data (lithair-admin status --digest) "
                 "before deleting any",
                 (unsigned long long)d->peer, (unsigned long long)d->index,
                 (unsigned long long)d->last_here);
        return true;
    }
    lt_error("the cluster's logs diverged: node %llu says it holds entries committed up to "
             "%llu, past this leader's last entry %llu. Entries a majority acknowledged are "
             "missing from this node's log (its WAL deleted, damaged or restored from a "
             "backup?), or node %llu holds another cluster's data. Its progress shows ahead "
             "%llu, its acknowledgements are not counted, and it is told to stop; compare the "
             "nodes' data (lithair-admin status --digest)",
             (unsigned long long)d->peer, (unsigned long long)d->index,
             (unsigned long long)d->last_here, (unsigned long long)d->peer,
             (unsigned long long)d->index);
    return false;
}

static int node_process_ready(struct node *n)
{
    for (int rounds = 0; rounds < 64 && raft_has_ready(n->raft); rounds++) {
        struct raft_update up;
        raft_ready(n->raft, &up);
        if (up.diverged && node_diverged(up.diverged))
            return LT_ECORRUPT; /* stop: nothing of this update is written or applied */
        if (up.role_changed || up.leader != n->leader || up.term != n->term)
            node_role_changed(n, &up);

        node_send(n, up.msgs_early, up.n_msgs_early);

        bool dirty = false, sync_now = false;
        int rc = 0;
        if (up.snapshot) {
            /* Rare and heavy: everything before it durable first, then all at once. A
             * snapshot of our own being written is given up (the store it pins goes). */
            node_snapshot_join(n, "a received snapshot replaces the store");
            node_digest_poll(n, true, true); /* its ops wait for a digest of the new store */
            if ((rc = node_wal_wait(n)) != 0)
                return rc;
            sync_now = true;
            rc = node_install_snapshot(n, up.snapshot);
            if (rc == 0 && up.snapshot->index == n->recv_meta.index &&
                up.snapshot->term == n->recv_meta.term)
                node_cluster_learn(n, n->recv_cluster, "from the leader's snapshot");
            if (rc == 0)
                node_resolve_snapshot_proposals(n, up.snapshot);
            if (rc == 0)
                rc = wal_save_snapshot(n->wal, up.snapshot);
            if (rc != 0) {
                lt_error("cannot install snapshot %llu: %s", (unsigned long long)up.snapshot->index,
                         lt_strerror(rc));
                return rc;
            }
            dirty = true;
        }
        if (up.n_entries) {
            if ((rc = wal_append(n->wal, up.entries, up.n_entries)) != 0) {
                lt_error("WAL append failed: %s", lt_strerror(rc));
                return rc;
            }
            dirty = true;
        }
        if (up.hs_changed) {
            if ((rc = wal_save_hard_state(n->wal, &up.hs)) != 0)
                return rc;
            /* A new term or vote must be durable before we answer; a commit index alone
             * need not (it is re-learnt from the leader), so it rides with the next sync. */
            if (up.hs.term != n->hs_term || up.hs.vote != n->hs_vote)
                dirty = true;
            n->hs_term = up.hs.term;
            n->hs_vote = up.hs.vote;
        }
        uint64_t last_index = 0, last_term = 0;
        if (up.n_entries) {
            last_index = up.entries[up.n_entries - 1].index;
            last_term = up.entries[up.n_entries - 1].term;
        } else if (up.snapshot) {
            last_index = up.snapshot->index;
            last_term = up.snapshot->term;
        }
        /* Messages after the persist step never carry entries (they are votes and acks);
         * if one ever did, it could not wait past raft_advance(): sync on this thread. */
        for (size_t i = 0; i < up.n_msgs && !sync_now; i++)
            sync_now = up.msgs[i].n_entries > 0;
        /* A follower whose disk is idle syncs on this thread: the leader waits for its
         * ack, and two thread hand-offs (to the writer and back) cost about as much as the
         * fdatasync itself. Under load a batch is in flight and the writer does it. So
         * does an idle leader (at most two proposals waiting; its appends have already
         * left): one client's write p50 0.52 -> 0.50 ms (0.60 -> 0.57 ms on a fresh
         * cluster) in interleaved runs; with more waiting, the loop must not block. */
        bool idle_role = n->role == RAFT_FOLLOWER ||
                         (n->role == RAFT_LEADER && n->n_proposals <= NODE_INLINE_LEADER_MAX);
        bool inline_sync = dirty && !sync_now && !n->io_busy && !n->held_head && idle_role &&
                           up.n_entries <= NODE_INLINE_SYNC_MAX &&
                           lt_now_ns() >= n->inline_off_until;
        bool persisted_now = false;
        if (dirty && (sync_now || inline_sync)) {
            uint64_t t0 = lt_now_ns();
            if ((rc = node_wal_sync_now(n)) != 0)
                return rc;
            if (inline_sync)
                node_inline_sync_took(n, lt_now_ns() - t0);
            node_send(n, up.msgs, up.n_msgs);
            persisted_now = true;
        } else if (dirty || n->held_head) {
            /* Behind the batch that will carry this update's records (the next one to
             * start); a clean update's messages queue behind earlier held ones. */
            uint64_t tag = dirty ? n->jobs_begun + 1 : n->held_tail->tag;
            /* A heartbeat's answer says nothing about the log (it is liveness and the
             * ReadIndex round): it goes at once, so a slow disk never makes the leader
             * believe it lost its quorum. node_hold keeps the rest. */
            for (size_t i = 0; i < up.n_msgs; i++) {
                if (up.msgs[i].type == RAFT_MSG_HEARTBEAT_RESP)
                    node_send(n, &up.msgs[i], 1);
            }
            if ((rc = node_hold(n, tag, up.msgs, up.n_msgs, dirty ? last_index : 0, last_term)) !=
                0)
                return rc;
            if (dirty && (rc = node_wal_kick(n)) != 0)
                return rc;
        } else {
            node_send(n, up.msgs, up.n_msgs);
        }

        for (size_t i = 0; i < up.n_committed; i++) {
            if ((rc = node_apply(n, &up.committed[i])) != 0)
                return rc;
        }
        node_committed_due(n, lt_now_ns());
        node_resume_reads(n);
        node_reads_ready(n, up.reads, up.n_reads);

        raft_advance(n->raft);
        for (size_t i = 0; i < n->n_snap_failed; i++)
            raft_recv(n->raft, &n->snap_failed[i]);
        n->n_snap_failed = 0;
        if (persisted_now && last_index)
            raft_persisted(n->raft, last_index, last_term);
        raft_applied(n->raft, n->applied);
    }
    /* load_running first: until the join, n->loaded is the load thread's to write */
    if (!n->load_running && n->loaded)
        node_load_drop(n); /* handed to the core before this update: it did not install it */
    int rc = node_snapshot_poll(n, false);
    if (rc != 0)
        return rc;
    node_digest_poll(n, false, false); /* before the next automatic snapshot takes the pin */
    uint64_t due = node_snapshot_due(n);
    if (due && n->snap_state == SNAP_IDLE && !n->dig_running &&
        n->applied - n->snapshot_index >= due &&
        (!n->snap_retry_ns || lt_now_ns() >= n->snap_retry_ns)) {
        bool started;
        if ((rc = node_snapshot_start(n, &started)) != 0)
            node_snapshot_backoff(n, n->applied, rc);
    }
    return 0;
}

/* ------------------------------------------------------------------ deadlines, metrics */

static uint64_t node_expire_list(struct node *n, struct op *head, uint64_t now);

/* node_expire answers ops past their deadline, every tick. The proposals may be many: they
 * are looked at only once n->props_due_ns has passed. That bound may be early (the op it
 * came from may have completed since), never late; each look sets it again exactly. */
static void node_expire(struct node *n, uint64_t now)
{
    node_expire_list(n, &n->waiting, now);
    if (now >= n->props_due_ns)
        n->props_due_ns = node_expire_list(n, &n->props, now);
}

/* node_election_timeout_ns: the shortest election timeout (--election-ticks x --tick-ms). */
static uint64_t node_election_timeout_ns(const struct node *n)
{
    return (uint64_t)n->cfg.election_ticks * n->cfg.tick_ms * 1000000ull;
}

/* node_heard_ns: when this node last received a raft batch from member `id` (0: never since
 * its start). Unlike the core's recent_active, which every CheckQuorum round clears, it
 * does not read as silent for a heartbeat after each round. */
static uint64_t node_heard_ns(const struct node *n, uint64_t id)
{
    for (size_t i = 0; i < n->cfg.n_members && i < RAFT_MAX_NODES; i++)
        if (n->cfg.members[i].id == id)
            return n->peer_disk[i].at_ns;
    return 0;
}

/* node_transfer_gave_up writes what a leader whose transfer to op->transferee gave up
 * knows of it into msg: whether it heard from that node within the last election timeout
 * (the raft batches it sent: peer_disk's at_ns) and, if so, how far behind its log is. The
 * core's recent_active says much the same but is cleared at every CheckQuorum round, so a
 * node that answers every heartbeat reads as silent for a heartbeat after each round. */
static void node_transfer_gave_up(struct node *n, const struct op *op, const struct raft_status *st,
                                  uint64_t now, char *msg, size_t len)
{
    unsigned long long to = op->transferee, self = n->cfg.id;
    uint64_t heard = node_heard_ns(n, op->transferee);
    uint64_t timeout_ns = node_election_timeout_ns(n);
    unsigned long long ago = heard && now > heard ? (now - heard) / 1000000 : 0;
    /* what reaches a stalled node stays in its socket: resumed, it may still take over */
    const char *stalled = "it is down, starting or stalled (if the hand-over reached it, it "
                          "may still take over when it resumes)";
    if (!to) {
        snprintf(msg, len,
                 "leadership transfer gave up: the target did not take over in time "
                 "(it may be down, stalled or behind; one that got the hand-over may still "
                 "take over when it resumes)");
    } else if (!heard) {
        snprintf(msg, len,
                 "leadership transfer gave up: node %llu did not take over, and the leader "
                 "(node %llu) has heard nothing from it since the leader's own start: %s",
                 to, self, stalled);
    } else if (now - heard > timeout_ns) {
        snprintf(msg, len,
                 "leadership transfer gave up: node %llu did not take over, and the leader "
                 "(node %llu) has heard nothing from it for %llu ms: %s",
                 to, self, ago, stalled);
    } else {
        uint64_t match = st->last_index;
        for (size_t i = 0; i < st->n_progress; i++)
            if (st->progress[i].id == op->transferee)
                match = st->progress[i].match;
        unsigned long long behind = st->last_index > match ? st->last_index - match : 0;
        if (behind)
            snprintf(msg, len,
                     "leadership transfer gave up: node %llu answers the leader (node %llu; "
                     "last heard %llu ms ago) but did not take over in time: it is %llu entries "
                     "behind the leader's log",
                     to, self, ago, behind);
        else
            snprintf(msg, len,
                     "leadership transfer gave up: node %llu answers the leader (node %llu; "
                     "last heard %llu ms ago) and has the leader's whole log, but did not "
                     "take over in time",
                     to, self, ago);
    }
}

/* node_expire_list returns the earliest deadline of the ops it left waiting (UINT64_MAX:
 * none). */
static uint64_t node_expire_list(struct node *n, struct op *head, uint64_t now)
{
    uint64_t due = UINT64_MAX;
    struct op *op = head->next;
    while (op != head) {
        struct op *next = op->next;
        if (now >= op->deadline_ns) {
            const char *msg = op->wait == OP_WAIT_COMMIT
                                  ? "deadline exceeded before the write committed; it may "
                                    "still commit"
                                  : "deadline exceeded";
            node_op_reply(n, op, LITHAIR__V1__CODE__DEADLINE_EXCEEDED, msg, NULL);
            op = next;
            continue;
        }
        if (op->deadline_ns < due)
            due = op->deadline_ns;
        if (op->wait == OP_WAIT_LEADER && now - op->start_ns > 2 * node_election_timeout_ns(n)) {
            /* The core gives up a transfer after an election timeout. (Right after the
             * TimeoutNow it may also forget the transferee while we still lead for a moment:
             * hence waiting two timeouts before calling it aborted.) A follower passed the
             * request on to its leader and cannot see the leader give up: after the same
             * two timeouts without a new leader, neither will there be one. */
            struct raft_status st;
            raft_status(n->raft, &st);
            if (n->role != RAFT_LEADER)
                node_op_reply(n, op, LITHAIR__V1__CODE__ABORTED,
                              "leadership transfer gave up: no new leader within two election "
                              "timeouts (the target may be down or behind)",
                              NULL);
            else if (!st.transferee) { /* the core sent its TimeoutNow as soon as the
                                          target caught up, and cannot tell if it arrived */
                char msg[256];         /* what rpc_status carries */
                node_transfer_gave_up(n, op, &st, now, msg, sizeof(msg));
                node_op_reply(n, op, LITHAIR__V1__CODE__ABORTED, msg, NULL);
            }
        }
        op = next;
    }
    return due;
}

/* node_progress fills the wire form of the leader's per-follower progress (RAFT_MAX_NODES
 * slots) and returns how many. recent_active: heard from within the last election timeout
 * (node_heard_ns), or so says the core; the core's flag alone, cleared at every
 * CheckQuorum round, showed followers that answer every heartbeat as silent for a
 * heartbeat several times a second. */
static size_t node_progress(const struct node *n, const struct raft_status *st,
                            Lithair__V1__FollowerProgress *fp, Lithair__V1__FollowerProgress **fpp)
{
    uint64_t now = lt_now_ns();
    size_t k = 0;
    for (size_t i = 0; i < st->n_progress && i < RAFT_MAX_NODES; i++, k++) {
        const struct raft_progress *p = &st->progress[i];
        lithair__v1__follower_progress__init(&fp[k]);
        fp[k].id = p->id;
        fp[k].match = p->match;
        fp[k].next = p->next;
        fp[k].state = (Lithair__V1__FollowerProgress__State)p->state;
        fp[k].inflight = p->inflight;
        uint64_t heard = node_heard_ns(n, p->id);
        fp[k].recent_active = p->recent_active ||
                              (heard && now >= heard && now - heard < node_election_timeout_ns(n));
        fp[k].lag = st->last_index > p->match ? st->last_index - p->match : 0;
        fp[k].ahead = p->ahead;
        fpp[k] = &fp[k];
    }
    return k;
}

/* node_check_disk reads the free space of the data dir's file system (4 Hz, with the
 * metrics) and stamps it on this node's raft batches. While any member's disk is below its
 * --min-free-mb the leader refuses creates and updates, so that a filling disk stops the
 * writes before a WAL write fails and stops a node (test_disk_full): etcd's NOSPACE alarm
 * is cluster-wide too. */
static void node_check_disk(struct node *n)
{
    if (node_disk_avail(n, &n->disk_free) != 0)
        return;
    bool low = n->cfg.min_free_bytes && n->disk_free < n->cfg.min_free_bytes;
    if (low && !n->disk_low)
        lt_warn("disk: %llu MiB free in %s, below --min-free-mb %llu: the leader refuses "
                "creates and updates until there is room (deletes still pass)",
                (unsigned long long)(n->disk_free >> 20), n->cfg.data_dir,
                (unsigned long long)(n->cfg.min_free_bytes >> 20));
    else if (!low && n->disk_low)
        lt_info("disk: %llu MiB free again in %s: writes accepted",
                (unsigned long long)(n->disk_free >> 20), n->cfg.data_dir);
    n->disk_low = low;
    if (n->net)
        raftnet_set_disk(n->net, low, n->disk_free);
}

/* A member's disk report older than this is not counted: it is down, or cut off. */
#define NODE_PEER_DISK_NS (3 * 1000000000ull)

bool node_disk_low(struct node *n, char *msg, size_t len)
{
    if (n->role != RAFT_LEADER)
        return false;
    uint64_t id = n->cfg.id, free_bytes = n->disk_free;
    bool low = n->disk_low;
    uint64_t now = lt_now_ns();
    for (size_t i = 0; !low && i < n->cfg.n_members && i < RAFT_MAX_NODES; i++) {
        if (n->peer_disk[i].low && n->peer_disk[i].at_ns &&
            now - n->peer_disk[i].at_ns < NODE_PEER_DISK_NS) {
            low = true;
            id = n->cfg.members[i].id;
            free_bytes = n->peer_disk[i].free;
        }
    }
    if (!low)
        return false;
    snprintf(msg, len,
             "node %llu's disk is nearly full (%llu MiB free, below its --min-free-mb): creates "
             "and updates are refused until there is room, so that no node stops; deletes "
             "still pass",
             (unsigned long long)id, (unsigned long long)(free_bytes >> 20));
    return true;
}

/* node_recent_fsync_p99: the p99 of the WAL batches synced since the oldest histogram
 * the ring holds (since the start, before it has filled), then records `ws`'s. 0: none. */
static uint64_t node_recent_fsync_p99(struct node *n, const struct wal_stats *ws)
{
    uint64_t win[WAL_HIST_BUCKETS];
    const uint64_t *then =
        n->fsync_ring_n == NODE_FSYNC_WINDOW ? n->fsync_ring[n->fsync_ring_at] : NULL;
    for (unsigned b = 0; b < WAL_HIST_BUCKETS; b++) {
        if (then != NULL && ws->fsync_hist[b] < then[b]) { /* not the same WAL: all of it */
            memcpy(win, ws->fsync_hist, sizeof(win));
            break;
        }
        win[b] = ws->fsync_hist[b] - (then != NULL ? then[b] : 0);
    }
    memcpy(n->fsync_ring[n->fsync_ring_at], ws->fsync_hist, sizeof(ws->fsync_hist));
    n->fsync_ring_at = (n->fsync_ring_at + 1) % NODE_FSYNC_WINDOW;
    if (n->fsync_ring_n < NODE_FSYNC_WINDOW)
        n->fsync_ring_n++;
    return wal_hist_pct_of(win, 990, ws->fsync_max_us);
}

static void node_publish_metrics(struct node *n, uint64_t now)
{
    node_check_disk(n);
    struct raft_status st;
    raft_status(n->raft, &st);
    struct wal_stats ws;
    wal_stats(n->wal, &ws);
    double secs = n->last_metrics_ns ? (double)(now - n->last_metrics_ns) / 1e9 : 0;
    Lithair__V1__MetricsEvent me = LITHAIR__V1__METRICS_EVENT__INIT;
    me.applied_per_sec = secs > 0 ? (double)(n->applied - n->applied_at_last_metrics) / secs : 0;
    me.commit = st.commit;
    me.applied = n->applied;
    me.wal_bytes = ws.bytes;
    me.fsync_p99_us = node_recent_fsync_p99(n, &ws);
    me.term = st.term;
    me.role = (Lithair__V1__NodeRole)st.role;
    me.leader_id = st.leader;
    me.pending_proposals = n->n_proposals;
    me.last_index = st.last_index;
    me.snapshot_index = n->snapshot_index;
    Lithair__V1__Event ev = LITHAIR__V1__EVENT__INIT;
    ev.kind_case = LITHAIR__V1__EVENT__KIND_METRICS;
    ev.metrics = &me;
    node_publish(n, &ev);
    n->applied_at_last_metrics = n->applied;
    n->last_metrics_ns = now;

    if (st.role == RAFT_LEADER) {
        Lithair__V1__FollowerProgress fp[RAFT_MAX_NODES], *fpp[RAFT_MAX_NODES];
        Lithair__V1__ProgressEvent pe = LITHAIR__V1__PROGRESS_EVENT__INIT;
        pe.n_followers = node_progress(n, &st, fp, fpp);
        pe.followers = fpp;
        pe.last_index = st.last_index;
        pe.commit = st.commit;
        Lithair__V1__Event pev = LITHAIR__V1__EVENT__INIT;
        pev.kind_case = LITHAIR__V1__EVENT__KIND_PROGRESS;
        pev.progress = &pe;
        node_publish(n, &pev);
    }
}

/* ------------------------------------------------------------------ the loop */

#define NODE_STOP_FLUSH_NS (500 * 1000000ull) /* a stop waits this long at most for replies */
#define NODE_STOP_GRACE_NS (20 * 1000000ull)  /* ... then this, for the last TCP writes */

static bool node_replies_flushed(struct node *n, uint64_t now);

/* node_hand_over: a leader asked to stop first hands its leadership to the follower that
 * holds most of the log among those it heard from within an election timeout (any, if none),
 * as a force-election does; `skip` (0: none) is one that did not take over. Its clients then
 * get a redirect, not an election timeout's wait and writes of unknown outcome. Returns the
 * follower chosen, 0 when there is nothing to do. */
static uint64_t node_hand_over(struct node *n, uint64_t skip, uint64_t now)
{
    if (n->role != RAFT_LEADER)
        return 0;
    struct raft_status st;
    raft_status(n->raft, &st);
    uint64_t timeout_ns = node_election_timeout_ns(n);
    uint64_t best = 0, best_match = 0;
    bool best_heard = false;
    for (size_t i = 0; i < st.n_progress; i++) {
        const struct raft_progress *p = &st.progress[i];
        if (p->id == n->cfg.id || p->id == skip)
            continue;
        uint64_t at = node_heard_ns(n, p->id);
        bool heard = at && now - at <= timeout_ns;
        if (!best || (heard && !best_heard) || (heard == best_heard && p->match > best_match)) {
            best = p->id;
            best_match = p->match;
            best_heard = heard;
        }
    }
    if (!best) /* a cluster of one, or of two whose other did not take over */
        return 0;
    int rc = raft_transfer(n->raft, best);
    if (rc != 0) {
        lt_warn("stopping: cannot hand leadership over to node %llu: %s", (unsigned long long)best,
                lt_strerror(rc));
        return 0;
    }
    if (skip)
        lt_info("stopping: node %llu did not take over; handing leadership to node %llu instead",
                (unsigned long long)skip, (unsigned long long)best);
    else
        lt_info("stopping: handing leadership over to node %llu first%s", (unsigned long long)best,
                best_heard ? "" : " (no follower was heard from lately)");
    return best;
}

/* node_stop_due: the loop's part of a stop (a signal, or a Shutdown RPC). A leader hands its
 * leadership over (node_hand_over; to another follower if the first has not taken over after
 * an election timeout, the time the core gives a transfer: it may have stalled just before).
 * Any node then stays until the writes it holds are answered — the new leader commits them;
 * a leader that stepped down just before the stop holds some too —, all within two election
 * timeouts; then the replies in flight go out (node_replies_flushed). Returns true when the
 * loop may end. */
static bool node_stop_due(struct node *n, uint64_t now)
{
    uint64_t timeout = node_election_timeout_ns(n);
    if (!n->stop_began_ns) {
        n->stop_began_ns = now;
        n->handover_to = node_hand_over(n, 0, now);
    }
    if (!n->stop_settled) {
        if (n->handover_to && n->role == RAFT_LEADER && !n->handover_again &&
            now >= n->stop_began_ns + timeout) {
            n->handover_again = true;
            uint64_t next = node_hand_over(n, n->handover_to, now);
            if (next)
                n->handover_to = next;
        }
        /* after a hand-over, the new leader known too: the redirects meanwhile name it */
        bool done =
            n->n_proposals == 0 && (!n->handover_to || (n->role != RAFT_LEADER && n->leader));
        if (!done && now < n->stop_began_ns + 2 * timeout)
            return false;
        n->stop_settled = true;
        unsigned long long ms = (now - n->stop_began_ns) / 1000000;
        if (n->handover_to && n->role == RAFT_LEADER)
            lt_warn("stopping: node %llu did not take over within %llu ms; stopping as leader "
                    "(the others elect one after an election timeout)",
                    (unsigned long long)n->handover_to, ms);
        else if (n->n_proposals)
            lt_warn("stopping: %u writes were not answered within %llu ms (they may still "
                    "commit; leader now: node %llu)",
                    n->n_proposals, ms, (unsigned long long)n->leader);
        else if (n->handover_to && n->leader)
            lt_info("stopping: node %llu leads now (%llu ms)", (unsigned long long)n->leader, ms);
        else if (n->handover_to) /* stepped down (a higher term), no winner heard of yet */
            lt_info("stopping: no longer leader, and no new leader known yet (%llu ms)", ms);
    }
    return node_replies_flushed(n, now);
}

/* node_replies_flushed: a shutdown over RPC must not drop replies in flight, its own
 * included (the caller would see the node vanish without an answer): the loop goes on
 * until NNG completed every send, then a short grace for the socket writes behind them. */
static bool node_replies_flushed(struct node *n, uint64_t now)
{
    if (!n->stop_flush_ns)
        n->stop_flush_ns = now + NODE_STOP_FLUSH_NS;
    if (rpc_server_sending(n->rpc) > 0 && now < n->stop_flush_ns)
        return false;
    if (!n->stop_grace_ns)
        n->stop_grace_ns = now + NODE_STOP_GRACE_NS;
    return now >= n->stop_grace_ns;
}

/* Where one pass of the loop spent its time (ns), for node_warn_slow_pass. */
struct node_pass {
    uint64_t start, drain, wal, tick, ready;
    size_t n_raft, n_rpc;
};

/* node_warn_slow_pass: one pass of the loop that took longer than the election timeout is
 * logged (at most one line in 10 s, with the count since). Nothing else reads the raft
 * messages meanwhile: a leader sends no heartbeat, so its followers may elect another, and
 * every write and read on this node waits. The line says which part of the pass took the
 * time. */
static void node_warn_slow_pass(struct node *n, const struct node_pass *p, uint64_t end)
{
    uint64_t k = node_rare_due(&n->slow_passes, 10000000000u, end);
    if (!k)
        return;
    lt_warn("loop: one pass took %llu ms, longer than the election timeout (%u ms): draining "
            "%zu raft batches and %zu RPCs %llu ms, ending the WAL batch %llu ms, the tick %llu "
            "ms, the update (append, sync, apply, reply) %llu ms, the rest %llu ms (%llu such "
            "pass%s since the last such line)",
            (unsigned long long)((end - p->start) / 1000000),
            n->cfg.election_ticks * n->cfg.tick_ms, p->n_raft, p->n_rpc,
            (unsigned long long)((p->drain - p->start) / 1000000),
            (unsigned long long)((p->wal - p->drain) / 1000000),
            (unsigned long long)((p->tick - p->wal) / 1000000),
            (unsigned long long)((p->ready - p->tick) / 1000000),
            (unsigned long long)((end - p->ready) / 1000000), (unsigned long long)k,
            k == 1 ? "" : "es");
}

int node_run(struct node *n)
{
    uint64_t slow_pass_ns = node_election_timeout_ns(n);
    uint64_t tick_ns = (uint64_t)n->cfg.tick_ms * 1000000ull;
    node_check_disk(n);
    n->next_tick_ns = lt_now_ns() + tick_ns;
    n->next_metrics_ns = lt_now_ns() + NODE_METRICS_NS;
    lt_info("serving: raft %s, rpc %s, events %s (%llu ms after start)", n->cfg.raft_url,
            n->cfg.rpc_url, n->cfg.events_url,
            (unsigned long long)((lt_now_ns() - n->start_ns) / 1000000));
    while (__atomic_load_n(&n->stop, __ATOMIC_ACQUIRE) < 2 && !n->fatal) {
        /* 1. wait for work or the next tick (a stop just asked: at once) */
        pthread_mutex_lock(&n->mu);
        if (!n->q_head && !n->io_done &&
            !(__atomic_load_n(&n->stop, __ATOMIC_RELAXED) && !n->stop_began_ns)) {
            uint64_t deadline = n->next_tick_ns;
            if (n->commit_due_ns && n->commit_due_ns < deadline)
                deadline = n->commit_due_ns;
            if (n->n_cev && n->cev_next_ns < deadline)
                deadline = n->cev_next_ns;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
            if (deadline > now) {
                uint64_t wake = deadline;
                ts.tv_sec = (time_t)(wake / 1000000000ull);
                ts.tv_nsec = (long)(wake % 1000000000ull);
                pthread_cond_timedwait(&n->cv, &n->mu, &ts);
            }
        }
        struct qitem *items = n->q_head;
        n->q_head = n->q_tail = NULL;
        n->q_len = 0;
        bool io_done = n->io_done;
        n->io_done = false;
        pthread_mutex_unlock(&n->mu);
        struct node_pass pass = {.start = lt_now_ns()};

        /* 2. drain: raft messages and RPCs (proposals pile up for one fsync), for a quarter
         * of an election timeout at most: the rest goes back to the front of the queue for
         * the next pass, so that the tick, a durable WAL batch and the update are not held
         * behind a flood (92 snapshot chunks written on a follower's loop under a loaded
         * machine made one pass of 473 ms) */
        uint64_t drain_until = pass.start + slow_pass_ns / 4;
        while (items) {
            if (pass.n_raft + pass.n_rpc > 0 && lt_now_ns() > drain_until) {
                node_requeue_front(n, items);
                break;
            }
            struct qitem *it = items;
            items = it->next;
            if (it->kind == Q_RAFT) {
                pass.n_raft++;
                it->skip = 0;
                node_raft_batch(n, it, false); /* it frees or holds `it` */
                continue;
            }
            pass.n_rpc++;
            node_handle_rpc(n, it->slot, it->msg);
            free(it);
        }
        node_ships_poll(n);
        pass.drain = lt_now_ns();

        /* a WAL batch became durable: release what waited for it, start the next */
        if (io_done && (n->fatal = node_wal_complete(n)) != 0)
            break;
        pass.wal = lt_now_ns();

        node_load_poll(n, false); /* a received snapshot loaded: the core hears of it now */

        /* 3. time */
        uint64_t now = pass.wal;
        if (now >= n->next_tick_ns) {
            /* its raft input is held: no election timeout either; a stopping follower does
             * not campaign (it would exit as leader: node_recv_one), a stopping leader ticks
             * on (heartbeats, its hand-over's timeout) */
            if (!n->load_running && (n->role == RAFT_LEADER || !node_stopping(n)))
                raft_tick(n->raft);
            n->next_tick_ns += tick_ns;
            if (n->next_tick_ns < now) /* we fell behind (a long fsync): don't burst */
                n->next_tick_ns = now + tick_ns;
            node_expire(n, now);
        }
        pass.tick = lt_now_ns();

        /* 4. the update */
        if (n->commit_due_ns && now >= n->commit_due_ns) {
            raft_send_commit(n->raft);
            n->commit_due_ns = 0;
        }
        node_name_cluster(n);
        int rc = node_process_ready(n);
        if (rc != 0) {
            n->fatal = rc;
            break;
        }
        pass.ready = lt_now_ns();
        node_committed_due(n, pass.ready);
        if (!raft_commit_unsent(n->raft))
            n->commit_due_ns = 0;
        else if (!n->commit_due_ns)
            n->commit_due_ns = now + NODE_COMMIT_NOTIFY_NS;
        if (now >= n->next_metrics_ns) {
            node_publish_metrics(n, now);
            n->next_metrics_ns = now + NODE_METRICS_NS;
        }
        uint64_t end = lt_now_ns();
        if (end - pass.start > slow_pass_ns)
            node_warn_slow_pass(n, &pass, end);
        if (node_stopping(n) && node_stop_due(n, end))
            break;
    }
    if (n->n_cev)
        node_flush_committed(n);
    return n->fatal; /* a node_stop still signalling under mu: node_free's first lock waits */
}

void node_stop(struct node *n, bool at_once)
{
    pthread_mutex_lock(&n->mu);
    __atomic_store_n(&n->stop, at_once ? 2 : 1, __ATOMIC_RELEASE);
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

/* ------------------------------------------------------------------ facts for handlers */

struct store *node_store(struct node *n)
{
    return n->store;
}

const struct node_config *node_cfg(struct node *n)
{
    return &n->cfg;
}

uint64_t node_leader(struct node *n)
{
    return n->leader;
}

uint64_t node_term(struct node *n)
{
    return n->term;
}

void node_request_shutdown(struct node *n)
{
    n->shutdown_requested = true;
}

void node_op_snapshot(struct node *n, struct op *op, op_resume_fn resume)
{
    bool started = false;
    int rc = node_snapshot_start(n, &started);
    if (rc != 0 && rc != LT_EBUSY) {
        node_op_reply_err(n, op, rc, "cannot start a snapshot");
        return;
    }
    if (rc == 0 && !started) {
        resume(n, op, NULL); /* nothing new since the last one */
        return;
    }
    op->resume = resume;
    op->wait = OP_WAIT_SNAPSHOT;
    op->index = n->applied; /* answered by a snapshot at least this recent */
    op_link(n, op);
    if (n->dig_running && n->snap_state == SNAP_IDLE)
        n->snap_after_dig = true; /* started when the digest ends (node_digest_poll) */
}

void node_snapshot_info(struct node *n, uint64_t *index, uint64_t *term, uint64_t *bytes)
{
    *index = n->snapshot_index;
    *term = n->snapshot_term;
    *bytes = n->snapshot_bytes;
}

void node_fill_status(struct node *n, Lithair__V1__NodeStatus *s, Lithair__V1__FollowerProgress *fp,
                      Lithair__V1__FollowerProgress **fpp, Lithair__Raft__V1__Member *mem,
                      Lithair__Raft__V1__Member **memp)
{
    struct raft_status st;
    raft_status(n->raft, &st);
    struct wal_stats ws;
    wal_stats(n->wal, &ws);
    s->id = n->cfg.id;
    s->role = (Lithair__V1__NodeRole)st.role;
    s->term = st.term;
    s->leader_id = st.leader;
    const struct node_member *lm = st.leader ? node_member(n, st.leader) : NULL;
    s->leader_rpc_url = lm ? (char *)lm->rpc_url : "";
    s->commit = st.commit;
    s->applied = n->applied;
    s->first_index = st.first_index;
    s->last_index = st.last_index;
    s->wal_bytes = ws.bytes;
    s->snapshot_index = n->snapshot_index;
    s->snapshot_term = n->snapshot_term;
    s->uptime_ms = (lt_now_ns() - n->start_ns) / 1000000ull;
    s->records = store_records_total(n->store);
    s->transferring = st.transferee != 0;
    s->pid = (uint64_t)getpid();
    s->cluster_id = n->ident.cluster;
    s->n_followers = 0;
    if (st.role == RAFT_LEADER) {
        s->n_followers = node_progress(n, &st, fp, fpp);
        s->followers = fpp;
    }
    for (size_t i = 0; i < n->cfg.n_members; i++) {
        lithair__raft__v1__member__init(&mem[i]);
        mem[i].id = n->cfg.members[i].id;
        mem[i].raft_url = n->cfg.members[i].raft_url;
        mem[i].rpc_url = n->cfg.members[i].rpc_url;
        mem[i].events_url = n->cfg.members[i].events_url;
        memp[i] = &mem[i];
    }
    s->n_members = n->cfg.n_members;
    s->members = memp;
}

void node_fill_wal_stats(struct node *n, Lithair__V1__WalStatsReply *s,
                         Lithair__V1__HistogramBucket *b, Lithair__V1__HistogramBucket **bp,
                         Lithair__V1__Timestamp *ts)
{
    struct wal_stats ws;
    wal_stats(n->wal, &ws);
    s->bytes = ws.bytes;
    s->disk_free_bytes = n->disk_free;
    s->min_free_bytes = n->cfg.min_free_bytes;
    s->segments = ws.segments;
    s->entries = ws.entries;
    s->first_index = ws.first_index;
    s->last_index = ws.last_index;
    s->fsyncs = ws.fsyncs;
    s->fsync_p50_us = ws.fsync_p50_us;
    s->fsync_p99_us = ws.fsync_p99_us;
    s->fsync_max_us = ws.fsync_max_us;
    s->fsync_sum_us = ws.fsync_sum_us;
    s->n_fsync_histogram = 0;
    for (unsigned i = 0; i < WAL_HIST_BUCKETS; i++) {
        if (!ws.fsync_hist[i])
            continue;
        lithair__v1__histogram_bucket__init(&b[s->n_fsync_histogram]);
        b[s->n_fsync_histogram].le_us = 1ull << i;
        b[s->n_fsync_histogram].count = ws.fsync_hist[i];
        bp[s->n_fsync_histogram] = &b[s->n_fsync_histogram];
        s->n_fsync_histogram++;
    }
    s->fsync_histogram = bp;
    s->snapshot_index = n->snapshot_index;
    s->snapshot_term = n->snapshot_term;
    s->snapshot_bytes = n->snapshot_bytes;
    if (n->snapshot_wall_ns) {
        node_ts(ts, n->snapshot_wall_ns);
        s->snapshot_at = ts;
    }
    s->truncated_bytes_at_start = n->truncated_at_start;
}

/* ------------------------------------------------------------------ start and stop */

static int node_mkdir(const char *path, char *errbuf, size_t errlen)
{
    /* sio_mkdir fsyncs the parent of a new directory: without it a power cut can lose the
     * data directory (or snap/) of a node that has already voted and acknowledged
     * entries, and it restarts empty. */
    int rc = sio_mkdir(path);
    if (rc != 0) {
        int e = errno; /* of the call that failed */
        snprintf(errbuf, errlen, "cannot create %s: %s", path,
                 rc == LT_EINVAL ? "it exists and is not a directory" : strerror(e));
    }
    return rc;
}

/* node_check_nesting refuses a data dir inside another node's (a directory above it holds an
 * IDENTITY): inside that node's wal/ or snap/ its files would sit among the other's
 * segments and snapshots, which that node's recovery reads and its compaction deletes (QA
 * started one in another's wal/). The nearest existing ancestor is resolved, so that a
 * path through a symbolic link is caught too. Returns 0 or LT_EINVAL with errbuf set. */
static int node_check_nesting(const char *dir, char *errbuf, size_t errlen)
{
    char path[PATH_MAX], real[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return 0; /* too long to resolve: node_mkdir says so */
    char *cut;
    while (!realpath(path, real)) { /* not there yet: try its parent */
        if ((cut = strrchr(path, '/')) == path)
            path[1] = '\0'; /* "/x": "/" */
        else if (cut)
            *cut = '\0';
        else if (strcmp(path, "."))
            snprintf(path, sizeof(path), ".");
        else
            return 0;
    }
    bool self = strcmp(path, dir) == 0; /* `real` is the data dir itself, not a parent */
    for (;;) {
        if (!self) {
            char id[PATH_MAX + sizeof("/" IDENT_FILE)];
            struct stat st;
            snprintf(id, sizeof(id), "%s/" IDENT_FILE, real);
            if (stat(id, &st) == 0) {
                snprintf(errbuf, errlen,
                         "data dir %s is inside another node's data dir %s (it holds %s); "
                         "refusing to serve: give each node a directory of its own",
                         dir, real, id);
                return LT_EINVAL;
            }
        }
        self = false;
        if (!(cut = strrchr(real, '/')))
            return 0;
        if (cut == real) {
            if (!real[1])
                return 0; /* "/" looked at */
            real[1] = '\0';
        } else {
            *cut = '\0';
        }
    }
}

/* A start's WAL read, on a thread of its own while the snapshot restores. */
struct node_wal_reading {
    pthread_t th;
    bool started;
    char dir[1200];
    struct wal_options wo;
    struct wal_read *rd; /* the result: NULL and rc set on an error */
    int rc;
};

static void *node_wal_read_main(void *arg)
{
    struct node_wal_reading *wr = arg;
    wr->rc = wal_read(wr->dir, &wr->wo, &wr->rd);
    return NULL;
}

/* node_wal_read_join waits for the read (or does it here if its thread could not start)
 * and returns its error. */
static int node_wal_read_join(struct node_wal_reading *wr)
{
    if (wr->started) {
        pthread_join(wr->th, NULL);
        wr->started = false;
    } else {
        node_wal_read_main(wr);
    }
    return wr->rc;
}

int node_new(const struct node_config *cfg, struct node **out, char *errbuf, size_t errlen)
{
    struct node *n = calloc(1, sizeof(*n));
    if (!n)
        return LT_ENOMEM;
    n->cfg = *cfg;
    n->start_ns = lt_now_ns();
    n->waiting.next = n->waiting.prev = &n->waiting;
    n->props.next = n->props.prev = &n->props;
    n->props_due_ns = UINT64_MAX;
    /* A leader may still answer a read this node asked for before it restarted: that
     * answer must not match one of the new run's reads. */
    if (getrandom(&n->next_read_ctx, sizeof(n->next_read_ctx), 0) != sizeof(n->next_read_ctx))
        n->next_read_ctx = lt_now_ns() ^ ((uint64_t)getpid() << 40);
    n->next_read_ctx &= ~(1ull << 63); /* room to count up; never 0 */
    n->next_read_ctx |= 1ull << 62;
    pthread_mutex_init(&n->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&n->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&n->wmu, NULL);
    pthread_cond_init(&n->wcv, NULL);

    struct node_wal_reading wr = {.started = false};
    int rc = node_check_nesting(cfg->data_dir, errbuf, errlen);
    if (!rc)
        rc = node_mkdir(cfg->data_dir, errbuf, errlen);
    if (rc)
        goto out_free;
    int ident_rc = node_check_identity(n, errbuf, errlen);
    if (ident_rc != 0 && ident_rc != NODE_IDENT_MISMATCH && ident_rc != NODE_IDENT_NEW) {
        rc = ident_rc;
        goto out_free;
    }
    store_reader_register();
    if ((rc = store_new(&n->store)) != 0)
        goto out_free;

    /* 1. the newest valid snapshot, then the WAL after it. The WAL is read on a thread
     * meanwhile (a long tail is 100-200 ms of reading and checking); what it recovered is
     * matched with the snapshot that restored once both are done. */
    wal_options_default(&wr.wo);
    wr.wo.segment_size = cfg->wal_segment_bytes;
    snprintf(wr.dir, sizeof(wr.dir), "%s/wal", cfg->data_dir);
    snprintf(n->snap_dir, sizeof(n->snap_dir), "%s/snap", cfg->data_dir);
    if ((rc = node_mkdir(n->snap_dir, errbuf, errlen)) != 0)
        goto out_free;
    wr.started = pthread_create(&wr.th, NULL, node_wal_read_main, &wr) == 0;
    struct raft_snapshot_meta snap;
    memset(&snap, 0, sizeof(snap));
    /* Newest first, each loaded once (checksums verified on the way, nothing published
     * unless all good); a damaged one is skipped for the next. */
    struct snap_info *snaps = NULL;
    size_t n_snaps = 0;
    if ((rc = snap_list(n->snap_dir, &snaps, &n_snaps)) != 0) {
        snprintf(errbuf, errlen, "snapshots in %s: %s", n->snap_dir, lt_strerror(rc));
        goto out_free;
    }
    for (size_t i = 0; i < n_snaps; i++) {
        uint64_t t0 = lt_now_ns();
        rc = node_restore_snapshot(n, &snaps[i].meta, &snap);
        if (rc == 0) {
            lt_info("restored snapshot %llu/%llu (%llu bytes) in %llu ms (%llu ms to map it)",
                    (unsigned long long)snap.index, (unsigned long long)snap.term,
                    (unsigned long long)n->snapshot_bytes,
                    (unsigned long long)((lt_now_ns() - t0) / 1000000),
                    (unsigned long long)n->snapshot_map_ms);
            break;
        }
        if (rc != LT_ECORRUPT) {
            snprintf(errbuf, errlen, "snapshot %llu in %s is unusable: %s",
                     (unsigned long long)snaps[i].meta.index, n->snap_dir, lt_strerror(rc));
            free(snaps);
            goto out_free;
        }
        lt_warn("snap: %s/%s: damaged snapshot skipped", n->snap_dir, snaps[i].name);
        memset(&snap, 0, sizeof(snap));
    }
    free(snaps);
    struct wal_recovered rec;
    rc = node_wal_read_join(&wr);
    /* The WAL's lock is ours from here: another process on this data dir (a node still
     * running) was refused, before it could delete the temp file of a snapshot being
     * written or received there, or write an IDENTITY of its own (a node's restart then
     * refused "belongs to node N"). The snapshot directory is synced too before the WAL
     * may record the snapshot that loaded (a name left undurable by a process killed
     * between its rename and the directory's fsync, lost to a power cut, would leave a WAL
     * naming a snapshot that is gone: "snapshot lost", the node stopped). */
    int snap_rc = rc == 0 ? snap_clean_tmp(n->snap_dir) : 0;
    if (rc == 0 && snap_rc != 0) {
        snprintf(errbuf, errlen, "snapshots in %s: cannot clean or sync the directory: %s",
                 n->snap_dir, lt_strerror(snap_rc));
        wal_read_free(wr.rd);
        wr.rd = NULL;
        rc = snap_rc;
        goto out_free;
    }
    if (rc == 0)
        rc = wal_open_read(wr.rd, snap.index ? &snap : NULL, &n->wal, &rec);
    wr.rd = NULL;
    if (rc == LT_EBUSY) /* wal_lock: LOCK is held ("too busy, try again" hid that) */
        snprintf(errbuf, errlen,
                 "write-ahead log in %s is in use by another process (a node still running on "
                 "this data dir?); refusing to serve",
                 wr.dir);
    else if (rc != 0)
        snprintf(errbuf, errlen, "write-ahead log in %s: %s (refusing to serve)", wr.dir,
                 lt_strerror(rc));
    if (rc != 0) {
        goto out_free;
    }
    if (ident_rc == NODE_IDENT_NEW && (rc = ident_write(cfg->data_dir, &n->ident)) != 0) {
        snprintf(errbuf, errlen, "cannot write %s/" IDENT_FILE ": %s", cfg->data_dir,
                 lt_strerror(rc));
        wal_recovered_fini(&rec);
        goto out_free;
    }
    if (ident_rc == NODE_IDENT_MISMATCH &&
        (rc = node_identity_settle(n, &rec, &snap, errbuf, errlen))) {
        wal_recovered_fini(&rec);
        goto out_free;
    }
    n->truncated_at_start = rec.truncated_bytes;
    n->hs_term = rec.hs.term;
    n->hs_vote = rec.hs.vote;
    n->term_durable = rec.hs.term > 0;
    if (rec.truncated_bytes)
        lt_warn("cut a torn tail of %llu bytes from the WAL",
                (unsigned long long)rec.truncated_bytes);
    if (rec.snapshot.index > snap.index) {
        /* The WAL knows a newer snapshot than the files we could load: one was lost. */
        snprintf(errbuf, errlen,
                 "the WAL refers to snapshot %llu but the newest valid one is %llu (missing "
                 "or damaged: refusing to serve from a shorter log)",
                 (unsigned long long)rec.snapshot.index, (unsigned long long)snap.index);
        wal_recovered_fini(&rec);
        rc = LT_ECORRUPT;
        goto out_free;
    }

    /* 1b. the committed WAL after the snapshot, before anything can read the store */
    if ((rc = node_apply_recovered(n, &rec)) != 0) {
        snprintf(errbuf, errlen, "applying the WAL after snapshot %llu: %s",
                 (unsigned long long)snap.index, lt_strerror(rc));
        wal_recovered_fini(&rec);
        goto out_free;
    }

    /* 2. the raft core from what was recovered */
    struct raft_conf voters;
    memset(&voters, 0, sizeof(voters));
    for (size_t i = 0; i < cfg->n_members; i++)
        voters.voters[voters.n_voters++] = cfg->members[i].id;
    struct raft_config rc_cfg;
    raft_config_default(&rc_cfg, cfg->id, &voters);
    rc_cfg.election_ticks = cfg->election_ticks;
    rc_cfg.heartbeat_ticks = cfg->heartbeat_ticks;
    rc_cfg.compact_keep = cfg->compact_keep;
    rc_cfg.lazy_commit = true; /* node_run sends the commit when no append did (1 ms) */
    rc_cfg.seed = lt_wall_ns() ^ ((uint64_t)getpid() << 20) ^ cfg->id;
    if (lt_reaper_start(&n->reaper) == 0) { /* else the core frees in place */
        rc_cfg.release = node_reap;
        rc_cfg.release_ctx = n->reaper;
    }
    struct raft_restore restore = {
        .hs = rec.hs,
        .snapshot = snap,
        .entries = rec.entries,
        .n_entries = rec.n_entries,
        .adopt_data = true, /* no copy of a long tail (70 MB: 60 ms) */
    };
    rc = raft_new(&rc_cfg, &restore, &n->raft);
    if (rc == 0)
        rec.n_entries = 0; /* their data are the core's now: only the array is freed */
    if (rc == 0 && snap.term > rec.hs.term) /* raft_new lifted it: say so */
        lt_warn("the WAL's hard state (term %llu) is older than snapshot %llu/%llu: starting in "
                "term %llu with no vote (a received snapshot whose term was not yet durable, or "
                "a damaged WAL)",
                (unsigned long long)rec.hs.term, (unsigned long long)snap.index,
                (unsigned long long)snap.term, (unsigned long long)snap.term);
    lt_info("recovered: term %llu, vote %llu, entries %llu..%llu, snapshot %llu",
            (unsigned long long)(snap.term > rec.hs.term ? snap.term : rec.hs.term),
            (unsigned long long)(snap.term > rec.hs.term ? 0 : rec.hs.vote),
            (unsigned long long)rec.first_index, (unsigned long long)rec.last_index,
            (unsigned long long)snap.index);
    wal_recovered_fini(&rec);
    if (rc != 0) {
        snprintf(errbuf, errlen, "raft: %s", lt_strerror(rc));
        goto out_free;
    }

    /* 3. one CPU for every thread (lt_cpu.h), then the WAL writer, then the sockets:
     * threads started from here on inherit the mask */
    if (cfg->cpu >= 0) {
        rc = lt_cpu_pin_process(cfg->cpu);
        if (rc != 0) {
            int cpus[LT_CPU_MAX];
            char list[256] = "?";
            int k = lt_cpu_allowed(cpus, LT_CPU_MAX);
            if (k > 0)
                lt_cpu_list(cpus, (size_t)(k < LT_CPU_MAX ? k : LT_CPU_MAX), list, sizeof(list));
            snprintf(errbuf, errlen, "--cpu %d: %s (this process may use CPUs %s)", cfg->cpu,
                     rc == LT_EINVAL ? "not a CPU this process may use" : "the kernel refused",
                     list);
            rc = LT_EINVAL;
            goto out_free;
        }
        lt_info("serving threads run on CPU %d (background ones on any)", cfg->cpu);
    }
    if (pthread_create(&n->writer, NULL, node_writer_main, n) != 0) {
        snprintf(errbuf, errlen, "cannot start the WAL writer thread");
        rc = LT_ENOMEM;
        goto out_free;
    }
    n->writer_started = true;
    /* NNG starts its threads when the first socket opens: they inherit SCHED_BATCH, and so
     * hand what arrives to the loop without preempting it (lt_cpu.h). A policy someone
     * started the node with (chrt) is left to every thread. */
    bool batch = sched_getscheduler(0) == SCHED_OTHER;
    if (batch && lt_cpu_batch_self(true) != 0) {
        lt_warn("NNG's threads keep the default scheduling policy: %s", strerror(errno));
        batch = false;
    }
    rc = raftnet_new(cfg->raft_url, node_on_raft, n, &n->net, errbuf, errlen);
    if (batch && lt_cpu_batch_self(false) != 0)
        lt_warn("the loop stays SCHED_BATCH: %s", strerror(errno));
    if (rc != 0)
        goto out_free;
    raftnet_set_cluster(n->net, n->ident.cluster);
    raftnet_set_disk(n->net, n->disk_low, n->disk_free);
    for (size_t i = 0; i < cfg->n_members; i++) {
        if (cfg->members[i].id != cfg->id &&
            (rc = raftnet_add_peer(n->net, cfg->members[i].id, cfg->members[i].raft_url)) != 0) {
            snprintf(errbuf, errlen, "peer %llu: bad raft URL %s",
                     (unsigned long long)cfg->members[i].id, cfg->members[i].raft_url);
            goto out_free;
        }
    }
    if ((rc = eventpub_new(cfg->events_url, &n->pub, errbuf, errlen)) != 0)
        goto out_free;
    if ((rc = rpc_server_new(cfg->rpc_url, cfg->rpc_contexts, node_on_rpc, n, &n->rpc, errbuf,
                             errlen)) != 0)
        goto out_free;
    *out = n;
    return 0;
out_free:
    if (wr.started)
        node_wal_read_join(&wr);
    wal_read_free(wr.rd);
    node_free(n);
    return rc ? rc : LT_EIO;
}

static void node_free_store(struct node *n, bool abandon);

void node_free(struct node *n)
{
    node_free_store(n, false);
}

void node_free_at_exit(struct node *n)
{
    node_free_store(n, true);
}

static void node_free_store(struct node *n, bool abandon)
{
    if (!n)
        return;
    /* Stop the producers first so nothing enqueues while we tear down. Their closes are
     * bounded: if NNG is stuck closing one (nng_close.h), its callbacks may still run, so
     * they drop what they get, and the node's memory is not freed at the end. */
    pthread_mutex_lock(&n->mu);
    n->closing = true;
    pthread_mutex_unlock(&n->mu);
    rpc_server_free(n->rpc);
    node_ships_stop(n); /* before the sockets its threads send on go */
    raftnet_free(n->net);
    eventpub_free(n->pub);
    /* A snapshot that finished before the join below is still recorded (node_snapshot_poll):
     * its WAL sync releases the held raft messages, which node_send now drops. */
    n->net = NULL;
    n->pub = NULL;
    while (n->q_head) {
        struct qitem *it = n->q_head;
        n->q_head = it->next;
        nng_msg_free(it->msg);
        free(it);
    }
    /* Calls still waiting are dropped with their sockets; free their memory. */
    while (n->props.next != &n->props || n->waiting.next != &n->waiting) {
        struct op *op = n->props.next != &n->props ? n->props.next : n->waiting.next;
        op_unlink(n, op);
        op->done = true;
        if (--op->call->pending == 0)
            call_free(op->call);
    }
    /* A snapshot still being written is given up: the WAL holds everything it would. */
    node_snapshot_join(n, "the node is stopping");
    node_snapshot_poll(n, true);
    node_digest_poll(n, true, true);
    node_load_poll(n, true);
    node_load_drop(n);
    while (n->rheld_head) {
        struct qitem *it = n->rheld_head;
        n->rheld_head = it->next;
        nng_msg_free(it->msg);
        free(it);
    }
    node_gc_join(n);
    if (n->wal && node_wal_wait(n) == 0)
        wal_sync(n->wal);
    if (n->writer_started) {
        pthread_mutex_lock(&n->wmu);
        n->w_stop = true;
        pthread_cond_signal(&n->wcv);
        pthread_mutex_unlock(&n->wmu);
        pthread_join(n->writer, NULL);
    }
    while (n->held_head) { /* never sent: the peers will hear from us again */
        struct held *h = n->held_head;
        n->held_head = h->next;
        free(h->msgs);
        free(h);
    }
    wal_free(n->wal);
    raft_free(n->raft);
    lt_reaper_stop(n->reaper);
    if (abandon)
        store_abandon(n->store);
    else
        store_free(n->store);
    snap_recv_free(n->recv);
    for (size_t i = 0; i < n->n_cev; i++) { /* gathered, never published: an error stop */
        if (n->cev[i].id != protobuf_c_empty_string)
            free(n->cev[i].id);
    }
    free(n->cev);
    free(n->sendv);
    if (nng_close_stuck())
        return; /* a stuck socket's callbacks may still take n->mu: the process ends soon */
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->wmu);
    pthread_cond_destroy(&n->wcv);
    free(n);
}
