/* election.c — leader election (Raft §5.2, §5.4.1; thesis §9.6 PreVote, §6.2 leases):
 * role changes (become_follower/candidate/leader), campaigns, vote granting, the message
 * checks every role shares (term comparison, stale messages) and the follower's and
 * candidate's step and tick functions. The leader's step lives in replication.c. Role
 * behaviour is selected by swapping r->step and r->tick, as etcd-io/raft does. */
#include "lt_err.h"
#include "raft_int.h"

/* raft_rand: splitmix64, seeded from cfg.seed ^ id. */
static uint64_t raft_rand(struct raft *r)
{
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* raft_reset_timeout: §5.2: election timeouts are chosen randomly, here from
 * [election_ticks, 2 * election_ticks), so split votes are rare and resolve quickly. */
static void raft_reset_timeout(struct raft *r)
{
    unsigned et = r->cfg.election_ticks;
    r->randomized_timeout = et + (unsigned)(raft_rand(r) % et);
}

static void raft_reset(struct raft *r, uint64_t term)
{
    if (r->term != term) {
        r->term = term;
        r->vote = RAFT_NONE;
    }
    r->lead = RAFT_NONE;
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    raft_reset_timeout(r);
    r->transferee = RAFT_NONE;
    r->votes_granted = 0;
    r->votes_rejected = 0;
    r->bcast_pending = false;
    r->bcast_commit = false;
    r->readq.n = 0; /* pending reads die with the leadership: requesters retry */
    r->pendingq.n = 0;
}

void raft_become_follower(struct raft *r, uint64_t term, uint64_t lead)
{
    r->step = raft_step_follower;
    r->tick = raft_tick_election;
    raft_reset(r, term);
    r->lead = lead;
    r->role = RAFT_FOLLOWER;
}

static void raft_become_pre_candidate(struct raft *r)
{
    /* PreVote (thesis §9.6): ask first whether we could win, without touching the term
     * or the vote, so a partitioned node rejoining cannot disrupt the cluster. */
    r->step = raft_step_candidate;
    r->tick = raft_tick_election;
    r->votes_granted = 0;
    r->votes_rejected = 0;
    r->lead = RAFT_NONE;
    r->transferee = RAFT_NONE;
    raft_reset_timeout(r);
    r->role = RAFT_PRE_CANDIDATE;
}

static void raft_become_candidate(struct raft *r)
{
    /* §5.2: increment the term, vote for self. */
    r->step = raft_step_candidate;
    r->tick = raft_tick_election;
    raft_reset(r, r->term + 1);
    r->vote = r->id;
    r->role = RAFT_CANDIDATE;
}

void raft_become_leader(struct raft *r)
{
    r->step = raft_step_leader;
    r->tick = raft_tick_heartbeat;
    raft_reset(r, r->term);
    r->lead = r->id;
    r->role = RAFT_LEADER;
    uint64_t last = raft_log_last(&r->log);
    for (size_t i = 0; i < r->conf.n_voters; i++) {
        struct raft_prog *p = &r->prog[i];
        p->id = r->conf.voters[i];
        raft_prog_reset(p, last + 1);
        if (p->id == r->id) {
            p->match = r->log.persisted;
            p->state = RAFT_PROGRESS_REPLICATE;
            p->recent_active = true;
        }
    }
    /* §5.4.2 / thesis §6.4: a new leader commits a no-op entry of its own term, which
     * also commits everything before it and lets ReadIndex proceed. */
    struct raft_entry noop = {.term = r->term, .type = RAFT_ENTRY_NOOP};
    (void)raft_log_append(r, &noop, 1);
    r->bcast_pending = true;
}

enum raft_poll { RAFT_POLL_PENDING, RAFT_POLL_WON, RAFT_POLL_LOST };

static unsigned raft_popcount(uint32_t v)
{
    unsigned n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

static enum raft_poll raft_poll(struct raft *r, uint64_t id, bool granted)
{
    int slot = raft_voter_slot(r, id);
    if (slot >= 0) {
        uint32_t bit = 1u << slot;
        if (!((r->votes_granted | r->votes_rejected) & bit)) {
            if (granted)
                r->votes_granted |= bit;
            else
                r->votes_rejected |= bit;
        }
    }
    size_t q = raft_quorum(r);
    if (raft_popcount(r->votes_granted) >= q)
        return RAFT_POLL_WON;
    if (raft_popcount(r->votes_rejected) > r->conf.n_voters - q)
        return RAFT_POLL_LOST;
    return RAFT_POLL_PENDING;
}

void raft_campaign_start(struct raft *r, enum raft_campaign_kind kind)
{
    if (!r->promotable || r->role == RAFT_LEADER)
        return;
    if (kind == RAFT_CAMPAIGN_PRE && !r->cfg.pre_vote)
        kind = RAFT_CAMPAIGN_ELECTION;
    enum raft_msg_type type;
    uint64_t term;
    if (kind == RAFT_CAMPAIGN_PRE) {
        raft_become_pre_candidate(r);
        type = RAFT_MSG_PRE_VOTE;
        term = r->term + 1; /* the term we would campaign in */
    } else {
        raft_become_candidate(r);
        type = RAFT_MSG_VOTE;
        term = r->term;
    }
    if (raft_poll(r, r->id, true) == RAFT_POLL_WON) {
        /* A single-voter cluster wins at once. */
        if (kind == RAFT_CAMPAIGN_PRE)
            raft_campaign_start(r, RAFT_CAMPAIGN_ELECTION);
        else
            raft_become_leader(r);
        return;
    }
    uint64_t last = raft_log_last(&r->log);
    uint64_t last_term = raft_log_last_term(&r->log);
    for (size_t i = 0; i < r->conf.n_voters; i++) {
        if (r->conf.voters[i] == r->id)
            continue;
        struct raft_msg m = {.type = type,
                             .to = r->conf.voters[i],
                             .term = term,
                             .index = last,
                             .log_term = last_term,
                             .context = kind == RAFT_CAMPAIGN_TRANSFER ? 1 : 0};
        raft_send(r, &m);
    }
}

/* raft_handle_vote answers a (pre-)vote request whose term is >= ours. §5.2: at most
 * one vote per term, first come first served; §5.4.1: only for a candidate whose log is
 * at least as up-to-date as ours. A pre-vote for a later term is answered without
 * recording anything. */
void raft_handle_vote(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PRE_VOTE;
    enum raft_msg_type resp = pre ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP;
    bool can_vote = r->vote == m->from || (r->vote == RAFT_NONE && r->lead == RAFT_NONE) ||
                    (pre && m->term > r->term);
    if (can_vote && raft_log_is_up_to_date(&r->log, m->index, m->log_term)) {
        struct raft_msg out = {.type = resp, .to = m->from, .term = m->term};
        raft_send(r, &out);
        if (!pre) {
            r->election_elapsed = 0;
            r->vote = m->from;
        }
    } else {
        struct raft_msg out = {.type = resp, .to = m->from, .term = r->term, .reject = true};
        raft_send(r, &out);
    }
}

static bool raft_msg_from_leader(enum raft_msg_type t)
{
    return t == RAFT_MSG_APPEND || t == RAFT_MSG_HEARTBEAT || t == RAFT_MSG_SNAPSHOT ||
           t == RAFT_MSG_DIVERGED;
}

/* raft_step_common applies the rules every role shares (§5.1: a higher term makes any
 * node a follower; a lower term marks a stale message) before the role's step. */
void raft_step_common(struct raft *r, const struct raft_msg *m)
{
    bool vote_req = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE;
    if (m->term > r->term) {
        if (vote_req) {
            /* Thesis §6.2/§4.2.3: a node that heard from a leader within the election
             * timeout ignores vote requests (leader lease), unless the candidate runs on
             * the leader's behalf (leadership transfer, context 1). */
            bool force = m->context == 1;
            bool in_lease = r->cfg.check_quorum && r->lead != RAFT_NONE &&
                            r->election_elapsed < r->cfg.election_ticks;
            if (!force && in_lease)
                return;
        }
        if (m->type == RAFT_MSG_PRE_VOTE) {
            /* never change our term on a pre-vote */
        } else if (m->type == RAFT_MSG_PRE_VOTE_RESP && !m->reject) {
            /* a granted pre-vote carries the future term: ours changes when we run */
        } else if (raft_msg_from_leader(m->type)) {
            raft_become_follower(r, m->term, m->from);
        } else {
            raft_become_follower(r, m->term, RAFT_NONE);
        }
    } else if (m->term < r->term) {
        if ((r->cfg.check_quorum || r->cfg.pre_vote) &&
            (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT)) {
            /* A stale leader (e.g. behind a partition that healed) learns our term and
             * steps down; without this, with PreVote or CheckQuorum a node whose term
             * rose alone could never rejoin. */
            struct raft_msg out = {.type = RAFT_MSG_APPEND_RESP, .to = m->from};
            raft_send(r, &out);
        } else if (m->type == RAFT_MSG_PRE_VOTE) {
            struct raft_msg out = {
                .type = RAFT_MSG_PRE_VOTE_RESP, .to = m->from, .term = r->term, .reject = true};
            raft_send(r, &out);
        }
        return;
    }
    if (vote_req) {
        raft_handle_vote(r, m);
        return;
    }
    r->step(r, m);
}

void raft_step_follower(struct raft *r, const struct raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_APPEND:
        r->election_elapsed = 0;
        r->lead = m->from;
        raft_handle_append(r, m);
        break;
    case RAFT_MSG_HEARTBEAT:
        r->election_elapsed = 0;
        r->lead = m->from;
        raft_handle_heartbeat(r, m);
        break;
    case RAFT_MSG_SNAPSHOT:
        r->election_elapsed = 0;
        r->lead = m->from;
        raft_handle_snapshot(r, m);
        break;
    case RAFT_MSG_TRANSFER_LEADER:
        if (r->lead != RAFT_NONE && r->lead != m->from) {
            struct raft_msg out = {
                .type = RAFT_MSG_TRANSFER_LEADER, .to = r->lead, .context = m->context};
            raft_send(r, &out);
        }
        break;
    case RAFT_MSG_DIVERGED:
        r->election_elapsed = 0;
        r->lead = m->from;
        if (!r->div_stopped) {
            struct raft_divergence d = {.kind = RAFT_DIVERGED_TOLD,
                                        .peer = m->from,
                                        .index = m->index,
                                        .last_here = m->commit};
            raft_diverged(r, &d);
        }
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        /* §3.10: the leader's chosen successor campaigns at once, without PreVote. */
        raft_campaign_start(r, RAFT_CAMPAIGN_TRANSFER);
        break;
    case RAFT_MSG_READ_INDEX:
        if (r->lead != RAFT_NONE && r->lead != m->from) {
            /* Keep the requester as sender: the leader answers it directly. */
            struct raft_msg out = {
                .type = RAFT_MSG_READ_INDEX, .from = m->from, .to = r->lead, .context = m->context};
            raft_send(r, &out);
        }
        break;
    case RAFT_MSG_READ_INDEX_RESP:
        raft_add_read_state(r, m->context, m->index);
        break;
    default:
        break;
    }
}

void raft_step_candidate(struct raft *r, const struct raft_msg *m)
{
    enum raft_msg_type my_resp =
        r->role == RAFT_PRE_CANDIDATE ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP;
    switch (m->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
        /* §5.2: a candidate that hears from a leader of its term becomes its follower. */
        raft_become_follower(r, m->term, m->from);
        raft_step_follower(r, m);
        break;
    default:
        if (m->type != my_resp)
            break;
        /* A pre-vote is granted for the term we would run in (ours + 1); a grant for any
         * other term answered an earlier round (sent while our term was lower) and says
         * nothing about this one: counting it could start a disruptive election. */
        if (r->role == RAFT_PRE_CANDIDATE && !m->reject && m->term != r->term + 1)
            break;
        switch (raft_poll(r, m->from, !m->reject)) {
        case RAFT_POLL_WON:
            if (r->role == RAFT_PRE_CANDIDATE)
                raft_campaign_start(r, RAFT_CAMPAIGN_ELECTION);
            else
                raft_become_leader(r);
            break;
        case RAFT_POLL_LOST:
            raft_become_follower(r, r->term, RAFT_NONE);
            break;
        default:
            break;
        }
        break;
    }
}

void raft_tick_election(struct raft *r)
{
    r->election_elapsed++;
    if (r->promotable && r->election_elapsed >= r->randomized_timeout) {
        r->election_elapsed = 0;
        raft_campaign_start(r, RAFT_CAMPAIGN_PRE);
    }
}
