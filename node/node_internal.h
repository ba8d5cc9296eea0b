/* node_internal.h — what node.c shares with the RPC handlers in service/: the node's
 * state and the life of one request ("op") inside the loop. Not for other programs. */
#ifndef NODE_INTERNAL_H
#define NODE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "eventpub.h"
#include "lt_hist.h"
#include "raft.h"
#include "raftnet.h"
#include "rpcserver.h"
#include "store.h"
#include "wal.h"
#include "models.h"
#include "wire.h"

struct node;
struct op;

/* What an op waits for before its handler continues. */
enum op_wait {
    OP_WAIT_NONE,
    OP_WAIT_COMMIT,   /* its proposal at (index, term) to be applied */
    OP_WAIT_READ,     /* a read index for its context, then applied >= that index */
    OP_WAIT_APPLIED,  /* applied >= read_index */
    OP_WAIT_LEADER,   /* a leadership transfer to finish */
    OP_WAIT_SNAPSHOT, /* a background snapshot to finish */
    OP_WAIT_DIGEST,   /* a digest of the store begun after it came */
};

/* Called by the loop when what an op waited for happened. For OP_WAIT_COMMIT `res` is the
 * store's result of applying the entry; NULL for other waits. */
typedef void (*op_resume_fn)(struct node *n, struct op *op, const struct store_result *res);

/* One request (a Batch carries several) in flight inside the node. */
struct op {
    struct call *call;
    size_t slot; /* index in call->resps */
    const Lithair__V1__Request *req;
    struct wire_method method;
    ProtobufCMessage *input; /* the unpacked payload, freed when the op completes */
    uint64_t deadline_ns;
    uint64_t start_ns;

    enum op_wait wait;
    op_resume_fn resume;
    uint64_t index; /* OP_WAIT_COMMIT: the entry; OP_WAIT_APPLIED: the read index */
    uint64_t term;
    uint64_t context;    /* OP_WAIT_READ */
    uint64_t target;     /* OP_WAIT_LEADER: old leader (self) */
    uint64_t transferee; /* OP_WAIT_LEADER on the leader: the node asked to take over */
    uint64_t purged;     /* Models/Purge: records the chunks applied so far deleted */
    bool done;
    struct op *prev, *next; /* the node's list of waiting ops */
};

/* One NNG request: a single Request or an Rpc/Batch of them. */
struct call {
    struct rpc_slot *slot;
    Lithair__V1__Request *req;        /* the envelope as received */
    Lithair__V1__BatchRequest *batch; /* Rpc/Batch: its requests */
    size_t n;
    size_t pending;
    struct op *ops;
    Lithair__V1__Response *resps;
    Lithair__V1__FieldViolation **viol_store; /* per op, freed at the end */
};

/* service_dispatch (service/service.c) starts handling `op`: it either completes it with
 * node_op_reply*() or makes it wait with node_op_propose()/node_op_read(). */
void service_dispatch(struct node *n, struct op *op);

/* ---- what node.c offers the handlers ---- */

/* node_op_reply completes `op` with `code` and a message, and `payload` (may be NULL)
 * serialized as the method's output. */
void node_op_reply(struct node *n, struct op *op, Lithair__V1__Code code, const char *message,
                   const ProtobufCMessage *payload);

/* node_op_reply_err completes `op` with the status for lt_err `err` and its text. */
void node_op_reply_err(struct node *n, struct op *op, int err, const char *message);

/* node_op_reply_violations completes `op` with INVALID_ARGUMENT and one FieldViolation
 * per failing field. */
void node_op_reply_violations(struct node *n, struct op *op, const char *message,
                              const struct model_violations *v);

/* node_op_propose proposes `cmd` (a serialized Command) and makes `op` wait for it to be
 * applied; then resume(n, op, result). If this node cannot propose, `op` is completed
 * with NOT_LEADER / UNAVAILABLE / RESOURCE_EXHAUSTED here. */
void node_op_propose(struct node *n, struct op *op, const uint8_t *cmd, size_t len,
                     op_resume_fn resume);

/* node_op_read makes `op` wait until a linearizable read may be served (ReadIndex and
 * applied >= that index), then resume(n, op, NULL). */
void node_op_read(struct node *n, struct op *op, op_resume_fn resume);

/* node_op_transfer starts a leadership transfer to `target` (0: best follower) and makes
 * `op` wait for the new leader. */
void node_op_transfer(struct node *n, struct op *op, uint64_t target, op_resume_fn resume);

/* Facts the handlers read (loop thread only). */
struct store *node_store(struct node *n);
const struct node_config *node_cfg(struct node *n);
void node_fill_status(struct node *n, Lithair__V1__NodeStatus *st,
                      Lithair__V1__FollowerProgress *fp, Lithair__V1__FollowerProgress **fpp,
                      Lithair__Raft__V1__Member *mem, Lithair__Raft__V1__Member **memp);
void node_fill_wal_stats(struct node *n, Lithair__V1__WalStatsReply *st,
                         Lithair__V1__HistogramBucket *b, Lithair__V1__HistogramBucket **bp,
                         Lithair__V1__Timestamp *ts);
uint64_t node_leader(struct node *n);
uint64_t node_term(struct node *n);
/* node_disk_low: this node leads and its disk has less than --min-free-mb free; `msg`
 * then says so (for a RESOURCE_EXHAUSTED answer to a create or update). */
bool node_disk_low(struct node *n, char *msg, size_t len);
/* node_op_snapshot starts a snapshot in the background and makes `op` wait for it. */
void node_op_snapshot(struct node *n, struct op *op, op_resume_fn resume);
void node_snapshot_info(struct node *n, uint64_t *index, uint64_t *term, uint64_t *bytes);
/* node_op_digest makes `op` wait for a digest of the store (store_digest) taken after it
 * came, hashed on a thread of its own; then resume(n, op, NULL), and node_digest_info gives
 * the digest and the applied index it is of. */
void node_op_digest(struct node *n, struct op *op, op_resume_fn resume);
void node_digest_info(struct node *n, uint64_t *digest, uint64_t *index);
void node_request_shutdown(struct node *n);

#endif
