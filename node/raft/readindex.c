/* readindex.c — linearizable reads without log writes (Raft thesis §6.4 ReadIndex).
 * The leader records its commit index for a request, confirms it is still the leader
 * by a heartbeat round (the round's sequence number travels in the heartbeat's context
 * and comes back in the answers), and once a quorum acknowledged a round started after
 * the request, hands out a read state (its own requests) or answers the follower that
 * asked. A leader that has not yet committed an entry of its term does not know the
 * latest commit index, so requests wait until it has. Nothing here touches the log. */
#include <stdlib.h>

#include "lt_err.h"
#include "raft_int.h"

void raft_readq_fini(struct raft_readq *q)
{
    free(q->v);
    q->v = NULL;
    q->n = q->cap = 0;
}

static struct raft_read_req *raft_readq_push(struct raft_readq *q)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        struct raft_read_req *v = realloc(q->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        q->v = v;
        q->cap = cap;
    }
    return &q->v[q->n++];
}

bool raft_committed_in_term(const struct raft *r)
{
    uint64_t t;
    return raft_log_term(&r->log, r->log.commit, &t) == 0 && t == r->term;
}

uint64_t raft_read_last_seq(const struct raft *r)
{
    return r->readq.n ? r->readq.v[r->readq.n - 1].seq : 0;
}

static void raft_read_answer(struct raft *r, const struct raft_read_req *q)
{
    if (q->from == r->id) {
        raft_add_read_state(r, q->context, q->index);
    } else {
        struct raft_msg m = {.type = RAFT_MSG_READ_INDEX_RESP,
                             .to = q->from,
                             .index = q->index,
                             .context = q->context};
        raft_send(r, &m);
    }
}

static unsigned raft_bits(uint32_t v)
{
    unsigned n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

/* raft_read_release answers, in order, every request a quorum has confirmed. */
static void raft_read_release(struct raft *r)
{
    size_t k = 0;
    while (k < r->readq.n && raft_bits(r->readq.v[k].acks) >= raft_quorum(r))
        raft_read_answer(r, &r->readq.v[k++]);
    if (k == 0)
        return;
    for (size_t i = k; i < r->readq.n; i++)
        r->readq.v[i - k] = r->readq.v[i];
    r->readq.n -= k;
}

/* raft_read_register records a request at the current commit index. */
static void raft_read_register(struct raft *r, uint64_t context, uint64_t from)
{
    struct raft_read_req *q = raft_readq_push(&r->readq);
    if (!q)
        return; /* dropped: the requester times out and retries */
    int self = raft_voter_slot(r, r->id);
    q->seq = ++r->read_seq;
    q->context = context;
    q->from = from;
    q->index = r->log.commit;
    q->acks = self >= 0 ? 1u << self : 0;
}

/* raft_read_request: must be called in leader state. */
void raft_read_request(struct raft *r, uint64_t context, uint64_t from)
{
    if (!raft_committed_in_term(r)) {
        struct raft_read_req *q = raft_readq_push(&r->pendingq);
        if (q) {
            q->context = context;
            q->from = from;
        }
        return;
    }
    raft_read_register(r, context, from);
    raft_read_release(r); /* a single-voter cluster answers at once */
    if (r->readq.n)
        raft_bcast_heartbeat(r, r->read_seq);
}

/* raft_read_ack: `from` answered the heartbeat round `seq`: it still recognised us as
 * leader after every request registered up to that round. */
void raft_read_ack(struct raft *r, uint64_t from, uint64_t seq)
{
    int slot = raft_voter_slot(r, from);
    if (slot < 0)
        return;
    for (size_t i = 0; i < r->readq.n && r->readq.v[i].seq <= seq; i++)
        r->readq.v[i].acks |= 1u << slot;
    raft_read_release(r);
}

/* raft_read_release_pending registers the requests that waited for the first commit of
 * this term, and starts one heartbeat round for all of them. */
void raft_read_release_pending(struct raft *r)
{
    if (r->pendingq.n == 0)
        return;
    for (size_t i = 0; i < r->pendingq.n; i++)
        raft_read_register(r, r->pendingq.v[i].context, r->pendingq.v[i].from);
    r->pendingq.n = 0;
    raft_read_release(r);
    if (r->readq.n)
        raft_bcast_heartbeat(r, r->read_seq);
}
