/* replication.c — log replication (Raft §5.3, §5.4.2, §7): the leader's step and tick
 * (appends with batching and pipelining, heartbeats, CheckQuorum, commit by counting),
 * and the follower's handling of appends, heartbeats and snapshots. Flow control per
 * follower is in progress.c; the log itself in log.c. */
#include "lt_err.h"
#include "raft_int.h"

/* ---- leader: sending --------------------------------------------------------------- */

static void raft_send_snapshot(struct raft *r, struct raft_prog *p)
{
    const struct raft_snapshot_meta *s = &r->log.snap;
    raft_prog_become_snapshot(p, s->index);
    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT,
                         .to = p->id,
                         .index = s->index,
                         .log_term = s->term,
                         .snapshot = *s};
    raft_send(r, &m);
}

/* raft_send_append sends `p` the entries it needs from p->next on (a batch bounded by
 * max_msg_entries / max_msg_bytes), or the snapshot if they were compacted. Returns
 * whether a message was sent. */
bool raft_send_append(struct raft *r, struct raft_prog *p, bool send_if_empty)
{
    struct raft_log *l = &r->log;
    if (p->id == r->id || raft_prog_is_paused(p))
        return false;
    uint64_t last = raft_log_last(l);
    if (p->next > last + 1)
        p->next = last + 1;
    uint64_t prev_term;
    int err = raft_log_term(l, p->next - 1, &prev_term);
    if (err || p->next < l->start) {
        /* §7: the follower needs entries we compacted: send the snapshot instead. Only
         * to a follower known to be alive, so a dead one does not cost a transfer. */
        if (!p->recent_active || l->snap.index == 0)
            return false;
        raft_send_snapshot(r, p);
        return true;
    }
    if (p->next > last && !send_if_empty)
        return false;
    struct raft_msg m = {.type = RAFT_MSG_APPEND,
                         .to = p->id,
                         .index = p->next - 1,
                         .log_term = prev_term,
                         .commit = l->commit};
    int n = raft_send_entries(r, &m, p->next, r->cfg.max_msg_entries, r->cfg.max_msg_bytes);
    if (n < 0)
        return false;
    if (m.commit > p->commit_sent)
        p->commit_sent = m.commit;
    if (p->state == RAFT_PROGRESS_REPLICATE) {
        if (n > 0) {
            /* Pipelining: assume success and move on; a rejection resets next. */
            uint64_t last_sent = p->next + (uint64_t)n - 1;
            p->next = last_sent + 1;
            raft_prog_infl_add(p, last_sent);
        }
    } else {
        p->probe_sent = true;
    }
    return true;
}

void raft_bcast_append(struct raft *r, bool send_if_empty)
{
    for (size_t i = 0; i < r->conf.n_voters; i++) {
        struct raft_prog *p = &r->prog[i];
        if (p->id == r->id)
            continue;
        /* lazy_commit: an empty append only for a follower not yet told the commit */
        bool empty_ok = send_if_empty && (!r->cfg.lazy_commit || p->commit_sent < r->log.commit);
        bool sent = raft_send_append(r, p, empty_ok);
        while (sent && p->state == RAFT_PROGRESS_REPLICATE)
            sent = raft_send_append(r, p, false);
    }
}

void raft_bcast_heartbeat(struct raft *r, uint64_t context)
{
    for (size_t i = 0; i < r->conf.n_voters; i++) {
        struct raft_prog *p = &r->prog[i];
        if (p->id == r->id)
            continue;
        /* Never tell a follower to commit past what it is known to hold. */
        uint64_t commit = p->match < r->log.commit ? p->match : r->log.commit;
        struct raft_msg m = {
            .type = RAFT_MSG_HEARTBEAT, .to = p->id, .commit = commit, .context = context};
        raft_send(r, &m);
        if (commit > p->commit_sent)
            p->commit_sent = commit;
    }
}

/* ---- leader: commit ---------------------------------------------------------------- */

/* raft_maybe_commit advances the commit index to the highest index a quorum holds (the
 * leader's own log counting only up to what was reported persisted), provided that
 * entry is of the current term (§5.4.2: never commit an older term's entries by
 * counting replicas; they commit indirectly). */
bool raft_maybe_commit(struct raft *r)
{
    uint64_t m[RAFT_MAX_NODES];
    size_t n = r->conf.n_voters;
    uint64_t last = raft_log_last(&r->log);
    for (size_t i = 0; i < n; i++) {
        if (r->prog[i].id == r->id) {
            r->prog[i].match = r->log.persisted < last ? r->log.persisted : last;
        }
        m[i] = r->prog[i].match;
    }
    for (size_t i = 1; i < n; i++) { /* insertion sort, descending */
        uint64_t v = m[i];
        size_t j = i;
        for (; j > 0 && m[j - 1] < v; j--)
            m[j] = m[j - 1];
        m[j] = v;
    }
    uint64_t mci = m[raft_quorum(r) - 1];
    if (mci <= r->log.commit)
        return false;
    uint64_t t;
    if (raft_log_term(&r->log, mci, &t) != 0 || t != r->term)
        return false;
    bool first_in_term = !raft_committed_in_term(r);
    r->log.commit = mci;
    if (!r->cfg.lazy_commit) {
        r->bcast_pending = true;
        r->bcast_commit = true;
    }
    if (first_in_term)
        raft_read_release_pending(r);
    return true;
}

bool raft_commit_unsent(const struct raft *r)
{
    if (!r->cfg.lazy_commit || r->role != RAFT_LEADER)
        return false;
    for (size_t i = 0; i < r->conf.n_voters; i++) {
        const struct raft_prog *p = &r->prog[i];
        if (p->id != r->id && p->commit_sent < r->log.commit)
            return true;
    }
    return false;
}

void raft_send_commit(struct raft *r)
{
    if (raft_commit_unsent(r)) {
        r->bcast_pending = true;
        r->bcast_commit = true;
    }
}

/* ---- leader: step and tick ---------------------------------------------------------- */

/* raft_tell_diverged tells follower p, which holds commits past this leader's log, that
 * its data are not the cluster's: it stops (RAFT_DIVERGED_TOLD). Said again at each of its
 * answers, which are not counted: its acknowledgements name entries of another history. */
static void raft_tell_diverged(struct raft *r, const struct raft_prog *p)
{
    struct raft_msg out = {.type = RAFT_MSG_DIVERGED,
                           .to = p->id,
                           .index = p->ahead,
                           .commit = raft_log_last(&r->log)};
    raft_send(r, &out);
}

static void raft_handle_append_resp(struct raft *r, struct raft_prog *p, const struct raft_msg *m)
{
    if (p->ahead) {
        raft_tell_diverged(r, p);
        return;
    }
    if (m->reject && m->index <= p->match && m->reject_hint < p->match) {
        /* It rejects entries it acknowledged, and its log ends before them: it lost them
         * (its data dir wiped, or restored from a backup). Probe it from where it stands,
         * or it would wait for them forever. (A rejection older than the acknowledgement
         * looks the same; the transport keeps order, and then it costs only a resend.) */
        p->match = 0;
        raft_prog_become_probe(p);
        p->next = m->reject_hint + 1;
        (void)raft_send_append(r, p, false);
        return;
    }
    if (m->reject) {
        /* Fast backtracking: the follower's hint (its last index, or the last index of a
         * term <= ours at the probe point) lets us skip a whole term per round trip. */
        uint64_t next_probe = m->reject_hint;
        if (m->hint_term > 0)
            next_probe = raft_log_find_conflict_by_term(&r->log, m->reject_hint, m->hint_term);
        if (raft_prog_maybe_decr_to(p, m->index, next_probe)) {
            if (p->state == RAFT_PROGRESS_REPLICATE)
                raft_prog_become_probe(p);
            (void)raft_send_append(r, p, false);
        }
        return;
    }
    if (m->index > raft_log_last(&r->log)) {
        /* Only a follower's commit index can name an entry we never sent, and it never
         * passes our log (Leader Completeness): it holds committed entries we lack. */
        struct raft_divergence d = {.kind = RAFT_DIVERGED_PEER_AHEAD,
                                    .peer = p->id,
                                    .index = m->index,
                                    .last_here = raft_log_last(&r->log)};
        raft_diverged(r, &d); /* once: its later answers stop at p->ahead above */
        p->ahead = m->index;
        raft_tell_diverged(r, p);
        return;
    }
    bool was_paused = raft_prog_is_paused(p);
    if (!raft_prog_maybe_update(p, m->index))
        return;
    switch (p->state) {
    case RAFT_PROGRESS_PROBE:
        raft_prog_become_replicate(p);
        break;
    case RAFT_PROGRESS_SNAPSHOT:
        if (p->match >= p->pending_snap || p->match + 1 >= r->log.start) {
            raft_prog_become_probe(p);
            raft_prog_become_replicate(p);
        }
        break;
    case RAFT_PROGRESS_REPLICATE:
        raft_prog_infl_free_le(p, m->index);
        break;
    }
    if (!raft_maybe_commit(r) && was_paused)
        (void)raft_send_append(r, p, true); /* also tells it the commit index it missed */
    while (raft_send_append(r, p, false) && p->state == RAFT_PROGRESS_REPLICATE) {
    }
    raft_transfer_check(r, p);
}

static void raft_handle_heartbeat_resp(struct raft *r, struct raft_prog *p,
                                       const struct raft_msg *m)
{
    if (p->ahead) {
        raft_tell_diverged(r, p);
        if (m->context != 0) /* it answers for the leadership all the same */
            raft_read_ack(r, p->id, m->context);
        return;
    }
    p->probe_sent = false;
    /* Appends or their answers may have been lost: free a slot so the pipeline
     * cannot stall for good; a gap is then found by the follower's rejection. */
    if (p->state == RAFT_PROGRESS_REPLICATE && raft_prog_infl_full(p))
        raft_prog_infl_free_first(p);
    if (p->match < raft_log_last(&r->log))
        (void)raft_send_append(r, p, true);
    if (m->context != 0)
        raft_read_ack(r, p->id, m->context);
}

/* raft_handle_snapshot_resp: the node's report on shipping a snapshot file. Success
 * says only that the file arrived, not that the receiver's core installed it (it may
 * refuse it, or crash before the install is durable): match moves only on the
 * receiver's own MSG_APPEND_RESP (sim finding F2; etcd's ReportSnapshot). */
static void raft_handle_snapshot_resp(struct raft *r, struct raft_prog *p, const struct raft_msg *m)
{
    if (p->state != RAFT_PROGRESS_SNAPSHOT)
        return;
    if (m->reject)
        p->pending_snap = 0; /* failed: probe again from match */
    raft_prog_become_probe(p);
    /* On success wait for the receiver to answer a heartbeat or an append before
     * probing: the snapshot may still be being installed. */
    p->probe_sent = !m->reject;
    if (m->reject)
        (void)raft_send_append(r, p, false);
}

void raft_step_leader(struct raft *r, const struct raft_msg *m)
{
    struct raft_prog *p = raft_prog_of(r, m->from);
    switch (m->type) {
    case RAFT_MSG_APPEND_RESP:
        if (p) {
            p->recent_active = true;
            raft_handle_append_resp(r, p, m);
        }
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        if (p) {
            p->recent_active = true;
            raft_handle_heartbeat_resp(r, p, m);
        }
        break;
    case RAFT_MSG_SNAPSHOT_RESP:
        if (p) {
            p->recent_active = true;
            raft_handle_snapshot_resp(r, p, m);
        }
        break;
    case RAFT_MSG_READ_INDEX:
        if (m->context != 0)
            raft_read_request(r, m->context, m->from);
        break;
    case RAFT_MSG_TRANSFER_LEADER:
        raft_transfer_start(r, m->context);
        break;
    default:
        break;
    }
}

static bool raft_quorum_active(struct raft *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->conf.n_voters; i++)
        if (r->prog[i].id == r->id || r->prog[i].recent_active)
            n++;
    return n >= raft_quorum(r);
}

void raft_tick_heartbeat(struct raft *r)
{
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    /* A snapshot that was never acknowledged (lost, or the node gave up shipping it)
     * is retried after a while rather than pausing the follower for ever. */
    for (size_t i = 0; i < r->conf.n_voters; i++) {
        struct raft_prog *p = &r->prog[i];
        if (p->state == RAFT_PROGRESS_SNAPSHOT && ++p->snap_elapsed >= 5 * r->cfg.election_ticks) {
            p->pending_snap = 0;
            raft_prog_become_probe(p);
        }
    }
    if (r->election_elapsed >= r->cfg.election_ticks) {
        r->election_elapsed = 0;
        if (r->cfg.check_quorum) {
            /* Thesis §6.2: a leader that has not heard from a quorum within an
             * election timeout steps down, so clients find the real leader. */
            if (!raft_quorum_active(r)) {
                raft_become_follower(r, r->term, RAFT_NONE);
                return;
            }
            for (size_t i = 0; i < r->conf.n_voters; i++) {
                if (r->prog[i].id != r->id) {
                    r->prog[i].was_active = r->prog[i].recent_active;
                    r->prog[i].recent_active = false;
                }
            }
        }
    }
    /* §3.10: a transfer that did not complete within an election timeout aborts. */
    if (r->transferee != RAFT_NONE && ++r->transfer_elapsed >= r->cfg.election_ticks)
        r->transferee = RAFT_NONE;
    if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
        r->heartbeat_elapsed = 0;
        raft_bcast_heartbeat(r, raft_read_last_seq(r));
    }
}

/* ---- follower side ------------------------------------------------------------------- */

void raft_commit_to(struct raft *r, uint64_t index)
{
    uint64_t last = raft_log_last(&r->log);
    if (index > last)
        index = last;
    if (index > r->log.commit)
        r->log.commit = index;
}

/* raft_committed_conflict: a leader's log holds every committed entry (Leader
 * Completeness), so an entry of its at or below our commit index with another term than
 * ours proves the logs diverged (raft.h): recorded, and true. */
static bool raft_committed_conflict(struct raft *r, uint64_t from, uint64_t index, uint64_t term)
{
    uint64_t ours = 0;
    if (index == 0 || index > r->log.commit || raft_log_term(&r->log, index, &ours) != 0 ||
        ours == term)
        return false;
    struct raft_divergence d = {.kind = RAFT_DIVERGED_COMMITTED,
                                .peer = from,
                                .index = index,
                                .term_here = ours,
                                .term_there = term};
    raft_diverged(r, &d);
    return true;
}

/* raft_handle_append: §5.3 AppendEntries receiver rules. Reply false if our log has no
 * entry at m->index with term m->log_term; delete conflicting entries and all that
 * follow; append new ones; advance commit to min(leader commit, last new entry). */
void raft_handle_append(struct raft *r, const struct raft_msg *m)
{
    struct raft_log *l = &r->log;
    struct raft_msg out = {.type = RAFT_MSG_APPEND_RESP, .to = m->from};
    if (r->div_stopped)
        return; /* our committed log contradicts the leader's: nothing left to agree on */
    if (raft_committed_conflict(r, m->from, m->index, m->log_term))
        return;
    if (m->index < l->commit) {
        /* everything up to commit matches: what the message shows of it must too */
        for (size_t i = 0; i < m->n_entries && m->entries[i].index <= l->commit; i++)
            if (raft_committed_conflict(r, m->from, m->entries[i].index, m->entries[i].term))
                return;
        out.index = l->commit;
        raft_send(r, &out);
        return;
    }
    if (!raft_log_match_term(l, m->index, m->log_term)) {
        uint64_t last = raft_log_last(l);
        uint64_t hint = m->index < last ? m->index : last;
        hint = raft_log_find_conflict_by_term(l, hint, m->log_term);
        uint64_t hint_term = 0;
        (void)raft_log_term(l, hint, &hint_term);
        out.index = m->index;
        out.reject = true;
        out.reject_hint = hint;
        out.hint_term = hint_term;
        raft_send(r, &out);
        return;
    }
    size_t i = 0;
    for (; i < m->n_entries; i++)
        if (!raft_log_match_term(l, m->entries[i].index, m->entries[i].term))
            break;
    if (i < m->n_entries) {
        uint64_t conflict = m->entries[i].index;
        if (conflict <= l->commit) { /* it would rewrite a committed entry */
            (void)raft_committed_conflict(r, m->from, conflict, m->entries[i].term);
            return;
        }
        raft_log_truncate(r, conflict);
        if (raft_log_append(r, m->entries + i, m->n_entries - i) != 0)
            return; /* out of memory: as if the message was lost */
    }
    uint64_t last_new = m->index + m->n_entries;
    raft_commit_to(r, m->commit < last_new ? m->commit : last_new);
    out.index = last_new;
    raft_send(r, &out);
}

void raft_handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
    uint64_t last = raft_log_last(&r->log);
    if (m->commit > last && !r->div_stopped) {
        /* The leader only tells a follower of commits it holds: this node lost entries it
         * acknowledged (its data dir wiped or restored). Ask for them as a rejected append
         * does, or an idle leader would never send them. */
        struct raft_msg rej = {.type = RAFT_MSG_APPEND_RESP,
                               .to = m->from,
                               .index = m->commit,
                               .reject = true,
                               .reject_hint = last};
        (void)raft_log_term(&r->log, last, &rej.hint_term);
        raft_send(r, &rej);
    }
    raft_commit_to(r, m->commit);
    struct raft_msg out = {.type = RAFT_MSG_HEARTBEAT_RESP, .to = m->from, .context = m->context};
    raft_send(r, &out);
}

/* raft_handle_snapshot: §7 InstallSnapshot receiver. A snapshot at or below our commit
 * is stale; one whose last entry our log already holds only moves commit forward
 * (the log is kept); otherwise the log is replaced by the snapshot, handed out in the
 * next update, and acknowledged once it is durable. */
void raft_handle_snapshot(struct raft *r, const struct raft_msg *m)
{
    struct raft_log *l = &r->log;
    const struct raft_snapshot_meta *s = &m->snapshot;
    struct raft_msg out = {.type = RAFT_MSG_APPEND_RESP, .to = m->from};
    if (r->div_stopped || raft_committed_conflict(r, m->from, s->index, s->term))
        return;
    if (s->index <= l->commit) {
        out.index = l->commit;
    } else if (raft_log_match_term(l, s->index, s->term)) {
        raft_commit_to(r, s->index);
        out.index = l->commit;
    } else {
        raft_log_restore(r, s);
        if (s->conf.n_voters > 0) { /* valid: raft_recv checked it */
            r->conf = s->conf;
            r->promotable = raft_voter_slot(r, r->id) >= 0;
        }
        r->gen[r->cur].snap = *s;
        r->snap_pending = true;
        out.index = raft_log_last(l);
    }
    raft_send(r, &out);
}
