/* progress.c — what a leader knows about one follower's log (etcd's tracker.Progress):
 * match/next indexes and the flow-control state machine PROBE -> REPLICATE (pipelined,
 * at most max_inflight appends in flight, counted in a ring of their last indexes) and
 * SNAPSHOT (paused until the follower acknowledges the snapshot). It sends nothing
 * itself; replication.c decides what to send from it. */
#include "raft_int.h"

void raft_prog_reset(struct raft_prog *p, uint64_t next)
{
    p->match = 0;
    p->next = next;
    p->state = RAFT_PROGRESS_PROBE;
    p->probe_sent = false;
    p->recent_active = false;
    p->was_active = false;
    p->pending_snap = 0;
    p->snap_elapsed = 0;
    p->infl_start = 0;
    p->infl_count = 0;
    p->commit_sent = 0;
    p->ahead = 0;
}

static void raft_prog_reset_state(struct raft_prog *p, enum raft_progress_state s)
{
    p->probe_sent = false;
    p->pending_snap = 0;
    p->snap_elapsed = 0;
    p->state = s;
    p->infl_start = 0;
    p->infl_count = 0;
}

/* raft_prog_become_probe: send one append at a time until the follower's log position is
 * found. Leaving SNAPSHOT, resume after the snapshot sent. */
void raft_prog_become_probe(struct raft_prog *p)
{
    uint64_t next = p->match + 1;
    if (p->state == RAFT_PROGRESS_SNAPSHOT && p->pending_snap + 1 > next)
        next = p->pending_snap + 1;
    raft_prog_reset_state(p, RAFT_PROGRESS_PROBE);
    p->next = next;
}

void raft_prog_become_replicate(struct raft_prog *p)
{
    raft_prog_reset_state(p, RAFT_PROGRESS_REPLICATE);
    p->next = p->match + 1;
}

void raft_prog_become_snapshot(struct raft_prog *p, uint64_t snap_index)
{
    raft_prog_reset_state(p, RAFT_PROGRESS_SNAPSHOT);
    p->pending_snap = snap_index;
}

/* raft_prog_maybe_update records an acknowledgement of `index`; true if match moved. */
bool raft_prog_maybe_update(struct raft_prog *p, uint64_t index)
{
    bool updated = false;
    if (p->match < index) {
        p->match = index;
        p->probe_sent = false;
        updated = true;
    }
    if (p->next < index + 1)
        p->next = index + 1;
    return updated;
}

/* raft_prog_maybe_decr_to handles a rejection of the append after `rejected`, with the
 * follower's hint of where its log may match. False if the rejection is stale. */
bool raft_prog_maybe_decr_to(struct raft_prog *p, uint64_t rejected, uint64_t match_hint)
{
    if (p->state == RAFT_PROGRESS_REPLICATE) {
        if (rejected <= p->match)
            return false;
        p->next = p->match + 1; /* the pipeline went wrong: restart right after match */
        return true;
    }
    if (p->next - 1 != rejected)
        return false; /* not the probe we are waiting for */
    if (rejected <= p->match)
        return false; /* it acknowledged more before: stale, or it lost acked data */
    uint64_t next = rejected < match_hint + 1 ? rejected : match_hint + 1;
    if (next < p->match + 1)
        next = p->match + 1;
    if (next < 1)
        next = 1;
    p->next = next;
    p->probe_sent = false;
    return true;
}

bool raft_prog_infl_full(const struct raft_prog *p)
{
    return p->infl_count >= p->infl_cap;
}

bool raft_prog_is_paused(const struct raft_prog *p)
{
    switch (p->state) {
    case RAFT_PROGRESS_PROBE:
        return p->probe_sent;
    case RAFT_PROGRESS_REPLICATE:
        return raft_prog_infl_full(p);
    default:
        return true;
    }
}

void raft_prog_infl_add(struct raft_prog *p, uint64_t last)
{
    if (raft_prog_infl_full(p))
        return;
    p->infl[(p->infl_start + p->infl_count) % p->infl_cap] = last;
    p->infl_count++;
}

/* raft_prog_infl_free_le frees every in-flight append acknowledged by `index`. */
void raft_prog_infl_free_le(struct raft_prog *p, uint64_t index)
{
    while (p->infl_count > 0 && p->infl[p->infl_start] <= index) {
        p->infl_start = (p->infl_start + 1) % p->infl_cap;
        p->infl_count--;
    }
    if (p->infl_count == 0)
        p->infl_start = 0;
}

void raft_prog_infl_free_first(struct raft_prog *p)
{
    if (p->infl_count == 0)
        return;
    p->infl_start = (p->infl_start + 1) % p->infl_cap;
    p->infl_count--;
}
