/* raft.c — the core's entry points: creation and restore, the inputs (tick, recv,
 * propose, persisted, applied, compact, transfer, read_index, campaign), the
 * Ready/Advance output cycle and status. Role behaviour lives in election.c (follower,
 * candidate), replication.c (leader, and the follower's side of appends), transfer.c
 * and readindex.c; this file only validates inputs, routes them, and owns the output
 * buffers (see raft_int.h for the generation scheme). No I/O, clock or global state. */
#include <stdlib.h>
#include <string.h>

#include "lt_err.h"
#include "raft_int.h"

/* ---- small helpers ---------------------------------------------------------------- */

int raft_voter_slot(const struct raft *r, uint64_t id)
{
    for (size_t i = 0; i < r->conf.n_voters; i++)
        if (r->conf.voters[i] == id)
            return (int)i;
    return -1;
}

size_t raft_quorum(const struct raft *r)
{
    return r->conf.n_voters / 2 + 1;
}

struct raft_prog *raft_prog_of(struct raft *r, uint64_t id)
{
    int slot = raft_voter_slot(r, id);
    return slot < 0 ? NULL : &r->prog[slot];
}

/* raft_grow makes room for `want` items of `size` bytes in a grow-only array. */
static int raft_grow(void **v, size_t *cap, size_t want, size_t size)
{
    if (want <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < want)
        c *= 2;
    void *p = realloc(*v, c * size);
    if (!p)
        return LT_ENOMEM;
    *v = p;
    *cap = c;
    return 0;
}

int raft_grave_reserve(struct raft *r, size_t more)
{
    struct raft_gen *g = &r->gen[r->cur];
    return raft_grow((void **)&g->grave, &g->cap_grave, g->n_grave + more, sizeof(void *));
}

int raft_grave_add(struct raft *r, void *p)
{
    struct raft_gen *g = &r->gen[r->cur];
    if (!p)
        return 0;
    int err = raft_grow((void **)&g->grave, &g->cap_grave, g->n_grave + 1, sizeof(void *));
    if (err)
        return err;
    g->grave[g->n_grave++] = p;
    return 0;
}

static bool raft_msg_is_early(const struct raft *r, enum raft_msg_type t)
{
    if (r->role != RAFT_LEADER)
        return false;
    return t == RAFT_MSG_APPEND || t == RAFT_MSG_HEARTBEAT || t == RAFT_MSG_SNAPSHOT ||
           t == RAFT_MSG_TIMEOUT_NOW || t == RAFT_MSG_READ_INDEX_RESP || t == RAFT_MSG_DIVERGED;
}

/* raft_msg_push queues a copy of `m` (from and term filled in when zero). A message
 * that cannot be queued for lack of memory is dropped: Raft tolerates lost messages. */
static struct raft_msg *raft_msg_push(struct raft *r, const struct raft_msg *m, size_t off)
{
    struct raft_gen *g = &r->gen[r->cur];
    struct raft_msgq *q = raft_msg_is_early(r, m->type) ? &g->early : &g->late;
    if (q->n == q->cap) {
        size_t c = q->cap ? q->cap * 2 : 16;
        struct raft_msg *v = realloc(q->v, c * sizeof(*v));
        if (!v)
            return NULL;
        q->v = v;
        size_t *o = realloc(q->off, c * sizeof(*o));
        if (!o)
            return NULL;
        q->off = o;
        q->cap = c;
    }
    struct raft_msg *d = &q->v[q->n];
    q->off[q->n] = off;
    q->n++;
    *d = *m;
    if (d->from == RAFT_NONE)
        d->from = r->id;
    if (d->term == 0)
        d->term = r->term;
    d->entries = NULL;
    d->n_entries = 0;
    return d;
}

void raft_send(struct raft *r, const struct raft_msg *m)
{
    (void)raft_msg_push(r, m, 0);
}

int raft_send_entries(struct raft *r, struct raft_msg *m, uint64_t lo, size_t max_n,
                      size_t max_bytes)
{
    struct raft_log *l = &r->log;
    uint64_t last = raft_log_last(l);
    size_t n = 0, bytes = 0;
    if (max_n > (1u << 30))
        max_n = 1u << 30; /* the count is returned as an int */
    while (lo + n <= last && n < max_n) {
        const struct raft_entry *e = raft_log_at(l, lo + n);
        if (n > 0 && bytes + e->data.len > max_bytes)
            break;
        bytes += e->data.len;
        n++;
    }
    struct raft_gen *g = &r->gen[r->cur];
    if (n > 0) {
        int err = raft_grow((void **)&g->pool, &g->cap_pool, g->n_pool + n, sizeof(*g->pool));
        if (err)
            return err;
        memcpy(g->pool + g->n_pool, raft_log_at(l, lo), n * sizeof(*g->pool));
    }
    struct raft_msg *d = raft_msg_push(r, m, g->n_pool);
    if (!d)
        return LT_ENOMEM;
    d->n_entries = n;
    g->n_pool += n;
    return (int)n;
}

void raft_add_read_state(struct raft *r, uint64_t context, uint64_t index)
{
    struct raft_gen *g = &r->gen[r->cur];
    if (raft_grow((void **)&g->reads, &g->cap_reads, g->n_reads + 1, sizeof(*g->reads)))
        return; /* dropped: the requester times out and retries */
    g->reads[g->n_reads].context = context;
    g->reads[g->n_reads].index = index;
    g->n_reads++;
}

/* ---- creation ------------------------------------------------------------------------ */

void raft_config_default(struct raft_config *cfg, uint64_t id, const struct raft_conf *voters)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->id = id;
    if (voters)
        cfg->voters = *voters;
    cfg->election_ticks = 10;
    cfg->heartbeat_ticks = 1;
    cfg->pre_vote = true;
    cfg->check_quorum = true;
    cfg->max_inflight = 256;
    cfg->max_msg_entries = 4096;
    cfg->max_msg_bytes = 4u << 20;
    cfg->compact_keep = 1024;
    cfg->seed = 0x5eed;
}

static bool raft_conf_is_valid(const struct raft_conf *c)
{
    if (c->n_voters == 0 || c->n_voters > RAFT_MAX_NODES)
        return false;
    for (size_t i = 0; i < c->n_voters; i++) {
        if (c->voters[i] == RAFT_NONE)
            return false;
        for (size_t j = 0; j < i; j++)
            if (c->voters[j] == c->voters[i])
                return false;
    }
    return true;
}

bool raft_snapshot_meta_is_valid(const struct raft_snapshot_meta *m)
{
    return m->index > 0 && m->index <= RAFT_NUM_MAX && m->term <= RAFT_NUM_MAX &&
           (m->conf.n_voters == 0 || raft_conf_is_valid(&m->conf));
}

static bool raft_config_is_valid(const struct raft_config *cfg)
{
    return cfg->id != RAFT_NONE && cfg->election_ticks >= 1 && cfg->heartbeat_ticks >= 1 &&
           cfg->heartbeat_ticks < cfg->election_ticks && cfg->max_inflight >= 1 &&
           cfg->max_msg_entries >= 1 && cfg->election_ticks <= (1u << 30);
}

/* raft_restore_log loads what the node recovered: snapshot, then the entries after it. */
static int raft_restore_log(struct raft *r, const struct raft_restore *rs)
{
    struct raft_log *l = &r->log;
    l->snap = rs->snapshot;
    l->start = rs->snapshot.index + 1;
    uint64_t prev_term = rs->snapshot.term;
    size_t n = 0;
    for (; n < rs->n_entries; n++) {
        const struct raft_entry *e = &rs->entries[n];
        if (e->index != rs->snapshot.index + 1 + n || e->term == 0 ||
            (e->data.len > 0 && !e->data.base))
            return LT_EINVAL;
        /* A tail whose terms go down (e.g. older entries left after a snapshot that was
         * saved before the write replacing them was durable) cannot follow the entries
         * before it in any leader's log: it was never committed, drop it. */
        if (e->term < prev_term)
            break;
        prev_term = e->term;
    }
    /* Entries are written in one batch with the hard state of their term, so none may be
     * of a later term than hs.term. The snapshot may: the node publishes a received
     * snapshot file before the update carrying the leader's term is durable, and after a
     * crash in between its term exceeds hs.term (raft_new then starts in the snapshot's
     * term, without a vote). */
    if (n > 0 && prev_term > rs->hs.term)
        return LT_EINVAL; /* a log entry from a term the node never reached */
    if (n > 0) {
        int err =
            rs->adopt_data ? raft_log_adopt(r, rs->entries, n) : raft_log_append(r, rs->entries, n);
        if (err)
            return err;
    }
    if (rs->adopt_data) /* nothing fails from here: the dropped tail's data are ours too */
        for (size_t i = n; i < rs->n_entries; i++)
            free((void *)rs->entries[i].data.base);
    uint64_t last = raft_log_last(l);
    /* A restarted node never trusts hs.commit beyond its own log. */
    l->commit = rs->hs.commit < last ? rs->hs.commit : last;
    if (l->commit < rs->snapshot.index)
        l->commit = rs->snapshot.index;
    l->applying = rs->snapshot.index;
    l->applied = rs->snapshot.index;
    l->unstable = last + 1;
    l->persisted = last;
    return 0;
}

int raft_new(const struct raft_config *cfg, const struct raft_restore *restore, struct raft **out)
{
    int err = LT_EINVAL;
    if (!cfg || !out || !raft_config_is_valid(cfg))
        return LT_EINVAL;
    const struct raft_conf *conf = &cfg->voters;
    if (restore && restore->snapshot.conf.n_voters > 0)
        conf = &restore->snapshot.conf;
    if (!raft_conf_is_valid(conf))
        return LT_EINVAL;
    if (restore && ((restore->n_entries > 0 && !restore->entries) ||
                    (restore->snapshot.index == 0 && restore->snapshot.term != 0)))
        return LT_EINVAL;

    struct raft *r = calloc(1, sizeof(*r));
    if (!r)
        return LT_ENOMEM;
    r->cfg = *cfg;
    r->id = cfg->id;
    r->conf = *conf;
    r->promotable = raft_voter_slot(r, r->id) >= 0;
    raft_log_init(&r->log);
    r->infl_mem = calloc((size_t)RAFT_MAX_NODES * cfg->max_inflight, sizeof(uint64_t));
    if (!r->infl_mem) {
        err = LT_ENOMEM;
        goto out_free;
    }
    for (size_t i = 0; i < RAFT_MAX_NODES; i++) {
        r->prog[i].infl = r->infl_mem + i * cfg->max_inflight;
        r->prog[i].infl_cap = cfg->max_inflight;
        r->prog[i].id = i < r->conf.n_voters ? r->conf.voters[i] : RAFT_NONE;
    }
    if (restore) {
        err = raft_restore_log(r, restore);
        if (err)
            goto out_free;
        r->term = restore->hs.term;
        r->vote = restore->hs.vote;
        if (restore->snapshot.term > r->term) {
            /* It never voted in that term: a vote is durable before it is sent. */
            r->term = restore->snapshot.term;
            r->vote = RAFT_NONE;
        }
    }
    /* splitmix64 state: differs per node even with one shared seed. */
    r->rng = cfg->seed ^ (cfg->id * 0x9e3779b97f4a7c15ull);
    raft_become_follower(r, r->term, RAFT_NONE);
    r->prev_hs.term = restore ? restore->hs.term : r->term; /* a lifted term gets saved */
    r->prev_hs.vote = r->vote;
    r->prev_hs.commit = r->log.commit;
    r->prev_role = r->role;
    r->prev_lead = r->lead;
    r->prev_term = r->term;
    *out = r;
    return 0;

out_free:
    raft_free(r);
    return err;
}

/* raft_gen_release empties a generation the caller is done with; its dropped payloads
 * are freed here or, a large batch, handed to cfg->release (NULL cfg: always here). */
static void raft_gen_release(const struct raft_config *cfg, struct raft_gen *g)
{
    if (cfg && cfg->release && g->n_grave >= RAFT_RELEASE_MIN) {
        cfg->release(cfg->release_ctx, g->grave, g->n_grave);
        g->grave = NULL;
        g->cap_grave = 0;
    } else {
        for (size_t i = 0; i < g->n_grave; i++)
            free(g->grave[i]);
    }
    g->n_grave = 0;
    g->early.n = 0;
    g->late.n = 0;
    g->n_pool = 0;
    g->n_reads = 0;
}

static void raft_gen_fini(struct raft_gen *g)
{
    raft_gen_release(NULL, g);
    free(g->early.v);
    free(g->early.off);
    free(g->late.v);
    free(g->late.off);
    free(g->pool);
    free(g->ents);
    free(g->committed);
    free(g->reads);
    free(g->grave);
}

void raft_free(struct raft *r)
{
    if (!r)
        return;
    raft_gen_fini(&r->gen[0]);
    raft_gen_fini(&r->gen[1]);
    raft_log_fini(&r->log);
    raft_readq_fini(&r->readq);
    raft_readq_fini(&r->pendingq);
    free(r->infl_mem);
    free(r);
}

/* ---- inputs ------------------------------------------------------------------------- */

void raft_tick(struct raft *r)
{
    r->tick(r);
}

static bool raft_msg_is_valid(const struct raft *r, const struct raft_msg *m)
{
    if (m->type <= RAFT_MSG_NONE || m->type > RAFT_MSG_DIVERGED)
        return false;
    if (m->from == RAFT_NONE || m->from == r->id || (m->to != RAFT_NONE && m->to != r->id))
        return false;
    if (m->term > RAFT_NUM_MAX)
        return false; /* would take this node's term + 1 round to 0 */
    if (m->type == RAFT_MSG_SNAPSHOT &&
        (!raft_snapshot_meta_is_valid(&m->snapshot) || m->snapshot.term > m->term))
        return false; /* a leader's snapshot, like its entries, is of its term or older */
    if (m->n_entries > 0) {
        if (!m->entries || m->type != RAFT_MSG_APPEND || m->index > UINT64_MAX - m->n_entries)
            return false;
        uint64_t prev_term = m->log_term;
        for (size_t i = 0; i < m->n_entries; i++) {
            const struct raft_entry *e = &m->entries[i];
            if (e->index != m->index + 1 + i || e->term < prev_term || e->term > m->term ||
                (e->data.len > 0 && !e->data.base))
                return false;
            prev_term = e->term;
        }
    }
    return true;
}

int raft_recv(struct raft *r, const struct raft_msg *m)
{
    if (!m || !raft_msg_is_valid(r, m))
        return LT_EINVAL;
    raft_step_common(r, m);
    return 0;
}

int raft_propose(struct raft *r, enum raft_entry_type type, const struct raft_buf *data, size_t n,
                 uint64_t *first_index, uint64_t *term)
{
    if (n == 0 ||
        (type != RAFT_ENTRY_NORMAL && type != RAFT_ENTRY_NOOP && type != RAFT_ENTRY_CONF_CHANGE))
        return LT_EINVAL;
    if (r->role != RAFT_LEADER)
        return LT_ENOTLEADER;
    if (r->transferee != RAFT_NONE)
        return LT_ETRANSFER; /* §3.10: the leader stops accepting new requests */
    /* A single voter wins its election without waiting for its new term to be durable
     * (no vote request has to leave). Until its no-op, written with that term, is
     * persisted, a crash could make it lead the same term again: refuse proposals so
     * no (index, term) is ever handed out twice. */
    if (r->conf.n_voters == 1 && !raft_committed_in_term(r))
        return LT_EBUSY;
    uint64_t first = raft_log_last(&r->log) + 1;
    for (size_t i = 0; i < n; i++) {
        struct raft_entry e = {.term = r->term, .type = type};
        if (data) {
            if (data[i].len > 0 && !data[i].base) {
                raft_log_truncate(r, first);
                return LT_EINVAL;
            }
            e.data = data[i];
        }
        int err = raft_log_append(r, &e, 1);
        if (err) {
            raft_log_truncate(r, first);
            return err;
        }
    }
    r->bcast_pending = true;
    if (first_index)
        *first_index = first;
    if (term)
        *term = r->term;
    return 0;
}

void raft_persisted(struct raft *r, uint64_t index, uint64_t term)
{
    struct raft_log *l = &r->log;
    /* Stale: past what was handed out, or the log was replaced there since. */
    if (index >= l->unstable || index <= l->persisted || !raft_log_match_term(l, index, term))
        return;
    l->persisted = index;
    if (r->role == RAFT_LEADER)
        (void)raft_maybe_commit(r);
}

void raft_applied(struct raft *r, uint64_t index)
{
    if (index > r->log.applying)
        index = r->log.applying;
    if (index > r->log.applied)
        r->log.applied = index;
}

int raft_compact(struct raft *r, const struct raft_snapshot_meta *meta)
{
    struct raft_log *l = &r->log;
    if (!meta || meta->index == 0 || meta->index > l->applied)
        return LT_EINVAL;
    if (meta->conf.n_voters > 0 && !raft_conf_is_valid(&meta->conf))
        return LT_EINVAL;
    if (meta->index <= l->snap.index)
        return 0; /* an older snapshot than ours: nothing to do */
    uint64_t t;
    if (raft_log_term(l, meta->index, &t) == 0 && t != meta->term)
        return LT_EINVAL;
    l->snap = *meta;
    if (l->snap.conf.n_voters == 0)
        l->snap.conf = r->conf;
    /* §7: drop what the snapshot covers, but keep compact_keep entries behind it so a
     * follower only slightly behind still gets appends rather than a snapshot. */
    uint64_t keep = r->cfg.compact_keep;
    uint64_t start = meta->index + 1 > keep ? meta->index + 1 - keep : 1;
    raft_log_compact(r, start);
    return 0;
}

int raft_transfer(struct raft *r, uint64_t target)
{
    if (target != RAFT_NONE && raft_voter_slot(r, target) < 0)
        return LT_EINVAL;
    if (r->role == RAFT_LEADER) {
        if (target == RAFT_NONE && r->conf.n_voters < 2)
            return LT_EINVAL;
        raft_transfer_start(r, target);
        return 0;
    }
    if (r->lead == RAFT_NONE)
        return LT_ENOTLEADER;
    struct raft_msg m = {.type = RAFT_MSG_TRANSFER_LEADER, .to = r->lead, .context = target};
    raft_send(r, &m);
    return 0;
}

int raft_read_index(struct raft *r, uint64_t context)
{
    if (context == 0)
        return LT_EINVAL;
    if (r->role == RAFT_LEADER) {
        raft_read_request(r, context, r->id);
        return 0;
    }
    if (r->lead == RAFT_NONE)
        return LT_ENOTLEADER;
    struct raft_msg m = {.type = RAFT_MSG_READ_INDEX, .to = r->lead, .context = context};
    raft_send(r, &m);
    return 0;
}

int raft_campaign(struct raft *r)
{
    if (!r->promotable)
        return LT_EINVAL;
    if (r->role != RAFT_LEADER)
        raft_campaign_start(r, RAFT_CAMPAIGN_PRE);
    return 0;
}

/* ---- Ready / Advance ----------------------------------------------------------------- */

static struct raft_hard_state raft_hs(const struct raft *r)
{
    struct raft_hard_state hs = {.term = r->term, .vote = r->vote, .commit = r->log.commit};
    return hs;
}

/* raft_diverged records proof that the logs diverged (raft.h) for the next update; a
 * committed entry in conflict stops this node's appends for good. */
void raft_diverged(struct raft *r, const struct raft_divergence *d)
{
    r->div = *d;
    r->div_pending = true;
    if (d->kind != RAFT_DIVERGED_PEER_AHEAD)
        r->div_stopped = true;
}

bool raft_has_ready(const struct raft *r)
{
    const struct raft_gen *g = &r->gen[r->cur];
    const struct raft_log *l = &r->log;
    struct raft_hard_state hs = raft_hs(r);
    return g->early.n || g->late.n || g->n_reads || r->snap_pending || r->div_pending ||
           l->unstable <= raft_log_last(l) || l->commit > l->applying ||
           hs.term != r->prev_hs.term || hs.vote != r->prev_hs.vote ||
           hs.commit != r->prev_hs.commit || r->role != r->prev_role || r->lead != r->prev_lead ||
           (r->role == RAFT_LEADER && r->bcast_pending);
}

static void raft_msgq_resolve(struct raft_msgq *q, const struct raft_entry *pool)
{
    for (size_t i = 0; i < q->n; i++)
        if (q->v[i].n_entries > 0)
            q->v[i].entries = pool + q->off[i];
}

void raft_ready(struct raft *r, struct raft_update *up)
{
    if (r->outstanding)
        raft_advance(r); /* a second raft_ready() implies the first was done */
    if (r->role == RAFT_LEADER && r->bcast_pending)
        raft_bcast_append(r, r->bcast_commit);
    r->bcast_pending = false;
    r->bcast_commit = false;

    struct raft_gen *g = &r->gen[r->cur];
    struct raft_log *l = &r->log;
    memset(up, 0, sizeof(*up));

    up->role_changed = r->role != r->prev_role;
    up->role = r->role;
    up->leader = r->lead;
    up->term = r->term;
    r->prev_role = r->role;
    r->prev_lead = r->lead;
    r->prev_term = r->term;

    raft_msgq_resolve(&g->early, g->pool);
    raft_msgq_resolve(&g->late, g->pool);
    up->msgs_early = g->early.v;
    up->n_msgs_early = g->early.n;
    up->msgs = g->late.v;
    up->n_msgs = g->late.n;

    if (r->snap_pending) {
        up->snapshot = &g->snap;
        r->snap_pending = false;
    }

    uint64_t last = raft_log_last(l);
    if (l->unstable <= last) {
        size_t k = (size_t)(last - l->unstable + 1);
        if (raft_grow((void **)&g->ents, &g->cap_ents, k, sizeof(*g->ents)) == 0) {
            memcpy(g->ents, raft_log_at(l, l->unstable), k * sizeof(*g->ents));
            up->entries = g->ents;
            up->n_entries = k;
            l->unstable = last + 1;
        }
    }

    struct raft_hard_state hs = raft_hs(r);
    up->hs = hs;
    up->hs_changed =
        hs.term != r->prev_hs.term || hs.vote != r->prev_hs.vote || hs.commit != r->prev_hs.commit;
    r->prev_hs = hs;

    /* Committed entries are at most the last one handed out for persisting: the
     * caller persists (step 2) before it applies (step 4). */
    uint64_t hi = l->commit < l->unstable - 1 ? l->commit : l->unstable - 1;
    if (hi > l->applying) {
        size_t k = (size_t)(hi - l->applying);
        if (raft_grow((void **)&g->committed, &g->cap_committed, k, sizeof(*g->committed)) == 0) {
            memcpy(g->committed, raft_log_at(l, l->applying + 1), k * sizeof(*g->committed));
            up->committed = g->committed;
            up->n_committed = k;
            l->applying = hi;
        }
    }

    up->reads = g->reads;
    up->n_reads = g->n_reads;

    if (r->div_pending) {
        up->diverged = &r->div; /* stays as it is until the next raft_diverged() */
        r->div_pending = false;
    }

    r->outstanding = true;
    r->cur ^= 1;
}

void raft_advance(struct raft *r)
{
    if (!r->outstanding)
        return;
    raft_gen_release(&r->cfg, &r->gen[r->cur ^ 1]);
    r->outstanding = false;
}

/* ---- status ------------------------------------------------------------------------- */

void raft_status(const struct raft *r, struct raft_status *st)
{
    const struct raft_log *l = &r->log;
    memset(st, 0, sizeof(*st));
    st->id = r->id;
    st->role = r->role;
    st->term = r->term;
    st->vote = r->vote;
    st->leader = r->lead;
    st->commit = l->commit;
    st->applied = l->applied;
    st->first_index = l->start;
    st->last_index = raft_log_last(l);
    st->persisted_index = l->persisted;
    st->snapshot = l->snap;
    st->transferee = r->transferee;
    if (r->role != RAFT_LEADER)
        return;
    for (size_t i = 0; i < r->conf.n_voters; i++) {
        const struct raft_prog *p = &r->prog[i];
        struct raft_progress *o = &st->progress[st->n_progress++];
        o->id = r->conf.voters[i];
        if (o->id == r->id) {
            o->match = l->persisted;
            o->next = raft_log_last(l) + 1;
            o->state = RAFT_PROGRESS_REPLICATE;
            o->recent_active = true;
            continue;
        }
        o->match = p->match;
        o->next = p->next;
        o->state = p->state;
        o->inflight = p->state == RAFT_PROGRESS_PROBE ? (p->probe_sent ? 1 : 0) : p->infl_count;
        o->recent_active = p->recent_active;
        o->ahead = p->ahead;
    }
}

const char *raft_role_name(enum raft_role role)
{
    switch (role) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_PRE_CANDIDATE:
        return "pre-candidate";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    }
    return "unknown";
}

const char *raft_msg_type_name(enum raft_msg_type type)
{
    static const char *const names[] = {
        "none",          "vote",        "vote_resp",  "pre_vote",        "pre_vote_resp",
        "append",        "append_resp", "heartbeat",  "heartbeat_resp",  "snapshot",
        "snapshot_resp", "timeout_now", "read_index", "read_index_resp", "transfer_leader",
    };
    if ((unsigned)type < sizeof(names) / sizeof(names[0]))
        return names[type];
    return "unknown";
}
