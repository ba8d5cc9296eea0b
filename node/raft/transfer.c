/* transfer.c — leadership transfer (Raft thesis §3.10): the leader stops taking
 * proposals, brings the target's log up to date, then tells it to campaign at once
 * (MSG_TIMEOUT_NOW); the target's vote requests carry context 1 so followers' leader
 * leases let them through. The transfer aborts after an election timeout (see
 * raft_tick_heartbeat) or when the leader steps down. */
#include "lt_err.h"
#include "raft_int.h"

static void raft_send_timeout_now(struct raft *r, uint64_t to)
{
    struct raft_msg m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = to};
    raft_send(r, &m);
}

/* raft_transfer_start: must be called in leader state. target RAFT_NONE picks the
 * follower with the longest matching log among those heard from in this CheckQuorum round,
 * else in the one before, else among all: a follower that went down keeps the match it
 * had, and on a tie with a live one it was picked, by the lower id, and the transfer timed
 * out (QA: a force-election with one follower killed gave up, the other one up to date). */
void raft_transfer_start(struct raft *r, uint64_t target)
{
    if (target == RAFT_NONE) {
        uint64_t best_match = 0;
        int best_rank = -1;
        for (size_t i = 0; i < r->conf.n_voters; i++) {
            const struct raft_prog *p = &r->prog[i];
            int rank = p->recent_active ? 2 : p->was_active ? 1 : 0;
            if (p->id != r->id &&
                (rank > best_rank || (rank == best_rank && p->match > best_match))) {
                target = p->id;
                best_match = p->match;
                best_rank = rank;
            }
        }
    }
    if (target == RAFT_NONE || target == r->id)
        return;
    struct raft_prog *p = raft_prog_of(r, target);
    if (!p || r->transferee == target)
        return;
    r->transferee = target;
    r->transfer_elapsed = 0; /* the transfer has one election timeout to complete */
    if (p->match == raft_log_last(&r->log))
        raft_send_timeout_now(r, target);
    else
        (void)raft_send_append(r, p, false);
}

/* raft_transfer_check: the target may have just caught up. */
void raft_transfer_check(struct raft *r, struct raft_prog *p)
{
    if (r->transferee == p->id && p->match == raft_log_last(&r->log))
        raft_send_timeout_now(r, p->id);
}
