/* sim.c — the deterministic Raft cluster simulation (see sim.h).
 *
 * Time is virtual: SIM_TICK units make one raft tick. Everything that happens is an
 * event in one heap ordered by (time, sequence): a node's tick, a message delivery, an
 * fsync completing, a client action, a fault. One event is one step; the invariants are
 * checked after each. The harness drives each core by raft.h's update protocol:
 * msgs_early go out at once; snapshot, entries and hard state are written to the
 * simulated disk (at once, or by an fsync that completes later when torn writes are on);
 * msgs leave only once that write is durable; committed entries are applied; then
 * raft_advance, raft_persisted and raft_applied.
 *
 * What is checked, where (names as printed on failure):
 *  election-safety       at most one leader per term over the whole run, and a node
 *                        follows only its term's real leader
 *  leader-append-only    a leader never rewrites its log during its term
 *  log-matching          an entry (index, term) always has the same payload and the same
 *                        predecessor term, so equal entries mean equal prefixes
 *  leader-completeness   a leader of term T holds every entry committed in a term < T
 *  state-machine-safety  every node applies the same entry at an index, in order
 *  commit-durability     a committed entry is on the durable disks of a majority
 *  committed-kept        a node never drops or rewrites an entry it knows is committed
 *  durability            a vote or an ack leaves only once what it promises is durable
 *  double-vote           a node grants at most one vote per term, across restarts
 *  monotonic             terms and commit indexes never decrease within a life
 *  read-index            a read index covers every commit observed before the request
 *  proposal              a proposal commits where raft_propose said, or is lost
 *  snapshot              snapshots carry committed state some node really saved
 *  api                   results and the update stream agree with raft.h's contract
 *  diverged              no core reports diverged logs (raft.h's raft_divergence: its
 *                        proof of a violation the core can see from where it stands)
 *  liveness              after the faults end a leader emerges, proposals commit on
 *                        every node and a read is answered, with no message storm */
#include "sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lt_err.h"
#include "raft.h"

#define SIM_TICK        100 /* virtual time units per raft tick */
#define SIM_CALM_REQS   8   /* proposals the calm phase must see committed everywhere */
#define SIM_CALM_BASE   400 /* default liveness bound: this many ticks plus... */
#define SIM_CALM_PER_ET 60  /* ...this many election timeouts */
#define SIM_READY_LIMIT 10000
#define SIM_MAX_BURST   64                    /* entries in one raft_propose */
#define SIM_H0          0x6a09e667f3bcc908ULL /* state machine hash before any entry */

/* ---- randomness: splitmix64, one stream per run ------------------------------------ */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---- the simulated log: terms and payload ids, no bytes ---------------------------- */

struct sent {
    uint64_t term;
    uint64_t id; /* payload id of a normal entry, 0 for a no-op */
    uint32_t type;
};

struct slog {
    uint64_t snap_index; /* entries start at snap_index + 1 */
    uint64_t snap_term;
    struct sent *v;
    size_t n, cap;
};

static uint64_t slog_last(const struct slog *l)
{
    return l->snap_index + l->n;
}

static const struct sent *slog_at(const struct slog *l, uint64_t i)
{
    if (i <= l->snap_index || i > slog_last(l))
        return NULL;
    return &l->v[i - l->snap_index - 1];
}

static bool slog_term(const struct slog *l, uint64_t i, uint64_t *term)
{
    if (i == l->snap_index) {
        *term = l->snap_term;
        return true;
    }
    const struct sent *e = slog_at(l, i);
    if (!e)
        return false;
    *term = e->term;
    return true;
}

static int slog_push(struct slog *l, const struct sent *e)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct sent *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return LT_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *e;
    return 0;
}

/* slog_truncate keeps the entries before index `from` (> snap_index). */
static void slog_truncate(struct slog *l, uint64_t from)
{
    if (from <= l->snap_index)
        l->n = 0;
    else if (from - l->snap_index - 1 < l->n)
        l->n = from - l->snap_index - 1;
}

static void slog_reset(struct slog *l, uint64_t index, uint64_t term)
{
    l->snap_index = index;
    l->snap_term = term;
    l->n = 0;
}

/* slog_compact drops the entries up to `index`, which becomes the snapshot point. */
static void slog_compact(struct slog *l, uint64_t index, uint64_t term)
{
    if (index <= l->snap_index)
        return;
    if (index >= slog_last(l)) {
        slog_reset(l, index, term);
        return;
    }
    size_t drop = index - l->snap_index;
    memmove(l->v, l->v + drop, (l->n - drop) * sizeof(*l->v));
    l->n -= drop;
    l->snap_index = index;
    l->snap_term = term;
}

static int slog_copy(struct slog *dst, const struct slog *src)
{
    slog_reset(dst, src->snap_index, src->snap_term);
    for (size_t i = 0; i < src->n; i++) {
        if (slog_push(dst, &src->v[i]))
            return LT_ENOMEM;
    }
    return 0;
}

/* ---- payloads: an id and padding derived from it, so copies can be verified -------- */

static size_t payload_len(uint64_t id)
{
    return 8 + (size_t)(mix64(id) >> 58); /* 8..71 bytes */
}

static void payload_fill(uint64_t id, uint8_t *p)
{
    size_t len = payload_len(id);
    for (int k = 0; k < 8; k++)
        p[k] = (uint8_t)(id >> (8 * k));
    for (size_t k = 8; k < len; k++)
        p[k] = (uint8_t)(id * 31 + k * 7);
}

/* payload_decode reads the id of a normal entry; false if the bytes are damaged. */
static bool payload_decode(const struct raft_buf *b, uint64_t *id)
{
    if (b->len < 8 || !b->base)
        return false;
    const uint8_t *p = b->base;
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v |= (uint64_t)p[k] << (8 * k);
    if (v == 0 || b->len != payload_len(v))
        return false;
    for (size_t k = 8; k < b->len; k++) {
        if (p[k] != (uint8_t)(v * 31 + k * 7))
            return false;
    }
    *id = v;
    return true;
}

/* ---- messages in flight: one allocation holding the message, entries and bytes ----- */

struct wmsg {
    struct raft_msg m;
    uint64_t sent_at;
};

static struct wmsg *wmsg_copy(const struct raft_msg *m, uint64_t now)
{
    size_t bytes = 0;
    for (size_t k = 0; k < m->n_entries; k++)
        bytes += m->entries[k].data.len;
    struct wmsg *w = malloc(sizeof(*w) + m->n_entries * sizeof(struct raft_entry) + bytes);
    if (!w)
        return NULL;
    w->m = *m;
    w->sent_at = now;
    struct raft_entry *ents = (struct raft_entry *)(w + 1);
    uint8_t *p = (uint8_t *)(ents + m->n_entries);
    for (size_t k = 0; k < m->n_entries; k++) {
        ents[k] = m->entries[k];
        if (m->entries[k].data.len) {
            memcpy(p, m->entries[k].data.base, m->entries[k].data.len);
            ents[k].data.base = p;
            p += m->entries[k].data.len;
        } else {
            ents[k].data.base = NULL;
        }
    }
    w->m.entries = m->n_entries ? ents : NULL;
    return w;
}

/* ---- events ------------------------------------------------------------------------ */

enum ev_kind { EV_TICK, EV_DELIVER, EV_FSYNC, EV_CLIENT, EV_FAULT, EV_RESTART, EV_REPORT };

struct event {
    uint64_t at, seq;
    struct wmsg *msg;
    uint64_t gen;
    uint32_t kind, node;
};

/* ---- a write waiting for its fsync (torn mode) ------------------------------------- */

struct batch {
    struct batch *next;
    bool has_snap;
    struct raft_snapshot_meta snap;
    bool hs_changed;
    struct raft_hard_state hs;
    bool wrote;
    uint64_t first;
    struct sent *ents;
    size_t n_ents;
    struct wmsg **msgs;
    size_t n_msgs;
    struct capp *apps; /* committed entries to apply once the write is durable */
    size_t n_apps;
};

struct node {
    unsigned idx;
    uint64_t id;
    bool up;
    uint64_t gen;
    unsigned lives;
    struct raft *r;
    /* durable disk */
    struct raft_hard_state dhs;
    struct raft_snapshot_meta dsnap;
    struct slog dlog;
    /* the core's log as handed out: disk plus pending writes */
    struct slog mlog;
    struct batch *pend_head, *pend_tail;
    uint64_t fsync_at;
    uint64_t tick_len;     /* this life's tick period: clocks drift apart */
    uint64_t fsync_max;    /* this life's slowest fsync (torn mode) */
    uint64_t paused_until; /* a paused process handles nothing before then */
    /* state machine */
    uint64_t applied, reported_applied, sm_hash;
    uint64_t handed; /* last index handed out to apply (or installed), maybe not applied yet */
    /* observations within this life */
    struct raft_hard_state hs;
    uint64_t term, commit, leader_term;
    enum raft_role role;
    /* votes granted on the wire, by term, over all lives */
    uint64_t *votes;
    size_t n_votes;
};

/* What the run knows about one log index once it is committed. */
struct cinfo {
    uint64_t term, id, commit_term, hash, snap_hash;
    uint64_t claim; /* first proposal id raft_propose placed here (list through prop.next) */
    uint32_t type;
    uint32_t flags;
};
#define CI_KNOWN  1u /* term/id known (committed) */
#define CI_HASH   2u /* hash of the state after applying it known */
#define CI_SNAP   4u /* some node saved a snapshot here */
#define CI_DURCHK 8u /* commit durability checked */

struct ident {
    uint64_t index, term, id, prev_term;
    uint32_t type, used;
};

struct prop {
    uint64_t index, term;
    uint64_t next; /* next proposal placed at the same index */
    int32_t req;   /* calm request it serves, -1 if none */
    uint8_t state; /* 0 pending, 1 committed, 2 lost */
};

struct rread {
    uint64_t bound;
    uint32_t node;
    uint32_t answered;
};

struct creq {
    uint64_t id, index;
    int state; /* 0 to propose, 1 in flight, 2 committed */
};

struct sim {
    struct sim_opts o;
    struct sim_result *res;
    uint64_t rng;
    uint64_t now, seq, step;
    bool failed;
    int err;
    struct raft_config cfg;
    struct node nodes[RAFT_MAX_NODES];
    unsigned n;
    bool cut[RAFT_MAX_NODES][RAFT_MAX_NODES]; /* [from][to] */
    unsigned drop_pm, dup_pm;
    bool calm, torn;
    uint64_t calm_start, calm_deadline, calm_step;
    /* event heap */
    struct event *heap;
    size_t n_heap, cap_heap;
    /* knowledge */
    struct cinfo *ci;
    size_t cap_ci;
    uint64_t g_commit;
    uint64_t *leaders; /* leaders[term] = id */
    size_t cap_leaders;
    struct ident *im;
    size_t cap_im, n_im;
    struct prop *props;
    size_t cap_props;
    uint64_t next_id;
    struct rread *reads;
    size_t cap_reads;
    uint64_t next_ctx;
    struct creq creqs[SIM_CALM_REQS];
    uint64_t calm_ctx_from; /* reads asked in the calm phase have ids from here */
    bool calm_read_ok;      /* one of them was answered */
    bool injected;
};

/* ---- failure and tracing ----------------------------------------------------------- */

static void sim_trace(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sim_trace(struct sim *s, const char *fmt, ...)
{
    if (!s->o.trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(s->o.trace, "[%6" PRIu64 " t=%" PRIu64 ".%02" PRIu64 "] ", s->step, s->now / SIM_TICK,
            s->now % SIM_TICK);
    vfprintf(s->o.trace, fmt, ap);
    fputc('\n', s->o.trace);
    va_end(ap);
}

static void sim_fail(struct sim *s, const char *inv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sim_fail(struct sim *s, const char *inv, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = true;
    char detail[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    snprintf(s->res->what, sizeof(s->res->what), "%s: %s", inv, detail);
    s->res->fail_step = s->step;
    sim_trace(s, "VIOLATION %s", s->res->what);
}

static void sim_oom(struct sim *s)
{
    if (!s->err)
        s->err = LT_ENOMEM;
    sim_fail(s, "harness", "out of memory");
}

static uint64_t sim_rand(struct sim *s)
{
    s->rng += 0x9e3779b97f4a7c15ULL;
    return mix64(s->rng);
}

static uint64_t sim_below(struct sim *s, uint64_t n)
{
    return n ? sim_rand(s) % n : 0;
}

static uint64_t sim_range(struct sim *s, uint64_t lo, uint64_t hi)
{
    return lo + sim_below(s, hi - lo + 1);
}

static bool sim_chance(struct sim *s, unsigned permille)
{
    return sim_below(s, 1000) < permille;
}

static const char *role_str(enum raft_role r)
{
    return raft_role_name(r);
}

/* ---- growable tables --------------------------------------------------------------- */

static bool grow(void **v, size_t *cap, size_t need, size_t elem)
{
    if (need < *cap)
        return true;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 <= need)
        cap2 *= 2;
    void *p = realloc(*v, cap2 * elem);
    if (!p)
        return false;
    memset((char *)p + *cap * elem, 0, (cap2 - *cap) * elem);
    *v = p;
    *cap = cap2;
    return true;
}

static struct cinfo *sim_ci(struct sim *s, uint64_t i)
{
    if (!grow((void **)&s->ci, &s->cap_ci, i, sizeof(*s->ci))) {
        sim_oom(s);
        return NULL;
    }
    return &s->ci[i];
}

static uint64_t *node_vote_slot(struct sim *s, struct node *n, uint64_t term)
{
    if (!grow((void **)&n->votes, &n->n_votes, term, sizeof(*n->votes))) {
        sim_oom(s);
        return NULL;
    }
    return &n->votes[term];
}

/* ident_check holds log matching: (index, term) always names the same entry with the
 * same predecessor term; by induction equal entries have equal prefixes. */
static void ident_check(struct sim *s, struct node *n, uint64_t index, uint64_t term,
                        const struct sent *e, uint64_t prev_term)
{
    if (s->n_im * 2 >= s->cap_im) {
        size_t cap = s->cap_im ? s->cap_im * 2 : 1024;
        struct ident *v = calloc(cap, sizeof(*v));
        if (!v) {
            sim_oom(s);
            return;
        }
        for (size_t i = 0; i < s->cap_im; i++) {
            if (!s->im[i].used)
                continue;
            size_t h = mix64(s->im[i].index * 1000003u ^ s->im[i].term) & (cap - 1);
            while (v[h].used)
                h = (h + 1) & (cap - 1);
            v[h] = s->im[i];
        }
        free(s->im);
        s->im = v;
        s->cap_im = cap;
    }
    size_t h = mix64(index * 1000003u ^ term) & (s->cap_im - 1);
    while (s->im[h].used) {
        struct ident *x = &s->im[h];
        if (x->index == index && x->term == term) {
            if (x->id != e->id || x->type != e->type || x->prev_term != prev_term)
                sim_fail(s, "log-matching",
                         "n%" PRIu64 " wrote entry %" PRIu64 "/t%" PRIu64 " id=%" PRIu64
                         " type=%u prev_term=%" PRIu64 " but it was id=%" PRIu64
                         " type=%u prev_term=%" PRIu64 " elsewhere",
                         n->id, index, term, e->id, e->type, prev_term, x->id, x->type,
                         x->prev_term);
            return;
        }
        h = (h + 1) & (s->cap_im - 1);
    }
    s->im[h] = (struct ident){index, term, e->id, prev_term, e->type, 1};
    s->n_im++;
}

/* ---- event heap -------------------------------------------------------------------- */

static bool ev_less(const struct event *a, const struct event *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void ev_push(struct sim *s, uint64_t at, uint32_t kind, uint32_t node, uint64_t gen,
                    struct wmsg *msg)
{
    if (s->n_heap == s->cap_heap) {
        size_t cap = s->cap_heap ? s->cap_heap * 2 : 256;
        struct event *v = realloc(s->heap, cap * sizeof(*v));
        if (!v) {
            free(msg);
            sim_oom(s);
            return;
        }
        s->heap = v;
        s->cap_heap = cap;
    }
    struct event e = {at, s->seq++, msg, gen, kind, node};
    size_t i = s->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(&e, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = e;
}

static struct event ev_pop(struct sim *s)
{
    struct event top = s->heap[0];
    struct event last = s->heap[--s->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->n_heap)
            break;
        if (c + 1 < s->n_heap && ev_less(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!ev_less(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->n_heap)
        s->heap[i] = last;
    return top;
}

/* ---- durability queries ------------------------------------------------------------ */

/* disk_has tells whether node n's durable disk holds entry (i, term). A snapshot at or
 * beyond i holds it (snapshots are checked to carry committed state). */
static bool disk_has(const struct node *n, uint64_t i, uint64_t term)
{
    if (i <= n->dlog.snap_index)
        return true;
    const struct sent *e = slog_at(&n->dlog, i);
    return e && e->term == term;
}

static bool mlog_has(const struct node *n, uint64_t i, uint64_t term)
{
    if (i <= n->mlog.snap_index)
        return true;
    const struct sent *e = slog_at(&n->mlog, i);
    return e && e->term == term;
}

static struct node *node_by_id(struct sim *s, uint64_t id)
{
    if (id == 0 || id > s->n)
        return NULL;
    return &s->nodes[id - 1];
}

/* ---- commits, leaders, completeness ------------------------------------------------ */

static void check_contains(struct sim *s, struct node *l, uint64_t i, const struct cinfo *c)
{
    if (!mlog_has(l, i, c->term)) {
        uint64_t t = 0;
        bool has = slog_term(&l->mlog, i, &t);
        sim_fail(s, "leader-completeness",
                 "leader n%" PRIu64 " of term %" PRIu64 " lacks entry %" PRIu64 "/t%" PRIu64
                 " committed in term <= %" PRIu64 " (its log: %s t%" PRIu64 ", last %" PRIu64
                 ", snap %" PRIu64 ")",
                 l->id, l->leader_term, i, c->term, c->commit_term, has ? "has" : "lacks", t,
                 slog_last(&l->mlog), l->mlog.snap_index);
    }
}

/* note_role tracks roles: election safety, and leader completeness when a node becomes
 * leader of a term. */
static void note_role(struct sim *s, struct node *n, enum raft_role role, uint64_t term)
{
    if (role != n->role)
        sim_trace(s, "n%" PRIu64 " %s -> %s term %" PRIu64, n->id, role_str(n->role),
                  role_str(role), term);
    n->role = role;
    if (role != RAFT_LEADER) {
        n->leader_term = 0;
        return;
    }
    if (n->leader_term == term)
        return;
    if (!grow((void **)&s->leaders, &s->cap_leaders, term, sizeof(*s->leaders))) {
        sim_oom(s);
        return;
    }
    if (s->leaders[term] && s->leaders[term] != n->id) {
        sim_fail(s, "election-safety", "n%" PRIu64 " and n%" PRIu64 " both lead term %" PRIu64,
                 s->leaders[term], n->id, term);
        return;
    }
    if (!s->leaders[term])
        s->res->leaders++;
    s->leaders[term] = n->id;
    n->leader_term = term;
    sim_trace(s, "n%" PRIu64 " LEADER of term %" PRIu64 " (log last %" PRIu64 ")", n->id, term,
              slog_last(&n->mlog));
    for (uint64_t i = n->mlog.snap_index + 1; i <= s->g_commit && !s->failed; i++) {
        if (s->ci[i].commit_term < term)
            check_contains(s, n, i, &s->ci[i]);
    }
}

static void prop_on_commit(struct sim *s, uint64_t index, uint64_t term, uint64_t id);
static void props_on_index(struct sim *s, uint64_t index, uint64_t term, uint64_t id);

/* note_known records (or checks) the committed entry at index i. */
static bool note_known(struct sim *s, struct node *n, uint64_t i, uint64_t term, uint64_t id,
                       uint32_t type, const char *how)
{
    struct cinfo *c = sim_ci(s, i);
    if (!c)
        return false;
    if (!(c->flags & CI_KNOWN)) {
        c->flags |= CI_KNOWN;
        c->term = term;
        c->id = id;
        c->type = type;
        c->commit_term = UINT64_MAX;
        if (type == RAFT_ENTRY_NORMAL)
            prop_on_commit(s, i, term, id);
        props_on_index(s, i, term, id);
        return !s->failed;
    }
    if (c->term != term || c->id != id || c->type != type) {
        sim_fail(s, "state-machine-safety",
                 "n%" PRIu64 " %s entry %" PRIu64 " as t%" PRIu64 " id=%" PRIu64
                 " type=%u, but it committed as t%" PRIu64 " id=%" PRIu64 " type=%u",
                 n->id, how, i, term, id, type, c->term, c->id, c->type);
        return false;
    }
    return true;
}

static void check_commit_durable(struct sim *s, uint64_t i, struct cinfo *c)
{
    if ((c->flags & CI_DURCHK) || s->o.inject == SIM_INJECT_LIE)
        return;
    c->flags |= CI_DURCHK;
    unsigned have = 0;
    for (unsigned k = 0; k < s->n; k++)
        have += disk_has(&s->nodes[k], i, c->term);
    if (have < s->n / 2 + 1)
        sim_fail(s, "commit-durability",
                 "entry %" PRIu64 "/t%" PRIu64 " committed but durable on only %u of %u disks", i,
                 c->term, have, s->n);
}

/* observe_commit takes a node's commit index (from its status) into the run's
 * knowledge: entries newly seen committed are recorded with the term that committed
 * them (the leader's term; a follower's term is an upper bound), checked for durability
 * and checked against every current leader of a later term. */
static void observe_commit(struct sim *s, struct node *n, uint64_t commit, uint64_t term)
{
    for (uint64_t i = s->g_commit + 1; i <= commit && !s->failed; i++) {
        const struct sent *e = slog_at(&n->mlog, i);
        struct cinfo *c = sim_ci(s, i);
        if (!c)
            return;
        if (e) {
            if (!note_known(s, n, i, e->term, e->id, e->type, "commits"))
                return;
        } else if (!(c->flags & CI_KNOWN)) {
            sim_fail(s, "api",
                     "n%" PRIu64 " commit %" PRIu64 " covers index %" PRIu64
                     " which is not in its log (snap %" PRIu64 ", last %" PRIu64 ")",
                     n->id, commit, i, n->mlog.snap_index, slog_last(&n->mlog));
            return;
        }
        if (term < c->commit_term)
            c->commit_term = term;
        check_commit_durable(s, i, c);
        for (unsigned k = 0; k < s->n && !s->failed; k++) {
            struct node *l = &s->nodes[k];
            if (l->up && l->leader_term > c->commit_term)
                check_contains(s, l, i, c);
        }
        s->g_commit = i;
        s->res->committed = i;
    }
}

/* ---- the state machine ------------------------------------------------------------- */

static uint64_t sm_chain(uint64_t h, uint64_t index, uint64_t term, uint64_t id, uint32_t type)
{
    return mix64(h ^ mix64(index * 0x100000001b3ULL ^ term ^ (id << 2) ^ type));
}

static void prop_on_commit(struct sim *s, uint64_t index, uint64_t term, uint64_t id)
{
    if (id == 0 || id >= s->next_id) {
        if (id)
            sim_fail(s, "proposal", "entry %" PRIu64 " carries id %" PRIu64 " never proposed",
                     index, id);
        return;
    }
    struct prop *p = &s->props[id];
    if (p->index != index || p->term != term)
        sim_fail(s, "proposal",
                 "id %" PRIu64 " was placed at %" PRIu64 "/t%" PRIu64 " but committed at %" PRIu64
                 "/t%" PRIu64,
                 id, p->index, p->term, index, term);
    if (p->state == 2)
        sim_fail(s, "proposal", "id %" PRIu64 " committed at %" PRIu64 " after it was lost", id,
                 index);
    p->state = 1;
    if (p->req >= 0 && s->creqs[p->req].state != 2) {
        s->creqs[p->req].state = 2;
        s->creqs[p->req].index = index;
    }
}

/* A committed index reveals which proposals placed there were lost. */
static void props_on_index(struct sim *s, uint64_t index, uint64_t term, uint64_t id)
{
    for (uint64_t k = s->ci[index].claim; k && !s->failed; k = s->props[k].next) {
        struct prop *p = &s->props[k];
        if (k == id || p->state != 0)
            continue;
        if (p->term == term) {
            sim_fail(s, "proposal",
                     "ids %" PRIu64 " and %" PRIu64 " both placed at %" PRIu64 "/t%" PRIu64, k, id,
                     index, term);
            return;
        }
        p->state = 2;
        if (p->req >= 0 && s->creqs[p->req].id == k && s->creqs[p->req].state == 1)
            s->creqs[p->req].state = 0;
    }
}

/* A committed entry handed out for the state machine, decoded. */
struct capp {
    uint64_t index, term, id;
    uint32_t type;
};

/* decode_committed checks a committed entry's payload when the core hands it out. */
static bool decode_committed(struct sim *s, struct node *n, const struct raft_entry *e,
                             struct capp *out)
{
    uint64_t id = 0;
    if (e->type == RAFT_ENTRY_NORMAL) {
        if (!payload_decode(&e->data, &id)) {
            sim_fail(s, "api", "n%" PRIu64 " applies entry %" PRIu64 " with damaged payload", n->id,
                     e->index);
            return false;
        }
    } else if (e->type != RAFT_ENTRY_NOOP) {
        sim_fail(s, "api", "n%" PRIu64 " applies entry %" PRIu64 " of unexpected type %d", n->id,
                 e->index, (int)e->type);
        return false;
    }
    *out = (struct capp){e->index, e->term, id, (uint32_t)e->type};
    return true;
}

static void apply_entry(struct sim *s, struct node *n, const struct capp *e)
{
    uint64_t id = e->id;
    if (s->o.inject == SIM_INJECT_APPLY && !s->injected && n->idx == 1 && id && e->index > 3) {
        s->injected = true;
        id ^= 0x5a5a;
        sim_trace(s, "INJECT n%" PRIu64 " applies a forged entry at %" PRIu64, n->id, e->index);
    }
    if (e->index != n->applied + 1) {
        sim_fail(s, "state-machine-safety",
                 "n%" PRIu64 " applies %" PRIu64 " after %" PRIu64 " (out of order)", n->id,
                 e->index, n->applied);
        return;
    }
    const struct sent *own = slog_at(&n->mlog, e->index);
    if (own && (own->term != e->term || own->id != id || own->type != e->type)) {
        sim_fail(s, "state-machine-safety",
                 "n%" PRIu64 " applies %" PRIu64 "/t%" PRIu64 " id=%" PRIu64
                 " but its log holds t%" PRIu64 " id=%" PRIu64,
                 n->id, e->index, e->term, id, own->term, own->id);
        return;
    }
    struct cinfo *c = sim_ci(s, e->index);
    if (!c)
        return;
    bool first = !(c->flags & CI_KNOWN);
    if (!note_known(s, n, e->index, e->term, id, e->type, "applies"))
        return;
    n->sm_hash = sm_chain(n->sm_hash, e->index, e->term, id, e->type);
    if (!(c->flags & CI_HASH)) {
        c->flags |= CI_HASH;
        c->hash = n->sm_hash;
    } else if (c->hash != n->sm_hash) {
        sim_fail(s, "state-machine-safety",
                 "n%" PRIu64 " state after %" PRIu64 " differs from other nodes' state", n->id,
                 e->index);
        return;
    }
    n->applied = e->index;
    if (first) {
        sim_trace(s,
                  "COMMIT %" PRIu64 "/t%" PRIu64 " id=%" PRIu64 " (first applied on n%" PRIu64 ")",
                  e->index, e->term, id, n->id);
    }
}

/* ---- disk -------------------------------------------------------------------------- */

static void disk_write(struct sim *s, struct node *n, const struct raft_snapshot_meta *snap,
                       uint64_t first, const struct sent *ents, size_t n_ents,
                       const struct raft_hard_state *hs)
{
    if (snap) {
        if (snap->index > n->dlog.snap_index) {
            n->dsnap = *snap;
            slog_reset(&n->dlog, snap->index, snap->term);
        } else {
            slog_truncate(&n->dlog, n->dlog.snap_index + 1);
        }
    }
    size_t k = 0;
    while (k < n_ents && first + k <= n->dlog.snap_index)
        k++;
    if (k < n_ents) {
        uint64_t from = first + k;
        if (from > slog_last(&n->dlog) + 1) {
            sim_fail(s, "api", "n%" PRIu64 " write at %" PRIu64 " leaves a gap after %" PRIu64,
                     n->id, from, slog_last(&n->dlog));
            return;
        }
        slog_truncate(&n->dlog, from);
        for (; k < n_ents; k++) {
            if (slog_push(&n->dlog, &ents[k])) {
                sim_oom(s);
                return;
            }
        }
    }
    if (hs)
        n->dhs = *hs;
}

static void disk_persisted_point(const struct node *n, uint64_t *index, uint64_t *term)
{
    *index = slog_last(&n->dlog);
    slog_term(&n->dlog, *index, term);
}

/* ---- sending ----------------------------------------------------------------------- */

static uint64_t net_latency(struct sim *s)
{
    if (!(s->o.faults & SIM_FAULT_REORDER) || s->calm)
        return 20;
    if (sim_chance(s, 3))
        return sim_range(s, 30 * SIM_TICK, 150 * SIM_TICK); /* a very stale message */
    if (sim_chance(s, 15))
        return sim_range(s, 200, 2000);
    return sim_range(s, 2, 150);
}

static bool msg_wellformed(struct sim *s, struct node *n, const struct raft_msg *m)
{
    if (m->from != n->id || !node_by_id(s, m->to) || m->to == n->id || m->type <= RAFT_MSG_NONE ||
        m->type > RAFT_MSG_DIVERGED) {
        sim_fail(s, "api",
                 "n%" PRIu64 " sends a malformed message type %d from %" PRIu64 " to %" PRIu64,
                 n->id, (int)m->type, m->from, m->to);
        return false;
    }
    return true;
}

/* check_content holds a message the core hands out to the sender's log (called once the
 * update's own entries are in the mirror). */
static void check_content(struct sim *s, struct node *n, const struct raft_msg *m)
{
    if (!msg_wellformed(s, n, m))
        return;
    if (m->type == RAFT_MSG_APPEND) {
        uint64_t t;
        if (slog_term(&n->mlog, m->index, &t) && t != m->log_term) {
            sim_fail(s, "api",
                     "n%" PRIu64 " appends after %" PRIu64 "/t%" PRIu64 " but its log has t%" PRIu64
                     " there",
                     n->id, m->index, m->log_term, t);
            return;
        }
        for (size_t k = 0; k < m->n_entries; k++) {
            const struct raft_entry *e = &m->entries[k];
            uint64_t id = 0;
            if (e->index != m->index + 1 + k ||
                (e->type == RAFT_ENTRY_NORMAL && !payload_decode(&e->data, &id))) {
                sim_fail(s, "api",
                         "n%" PRIu64 " sends a bad entry %" PRIu64 " (slot %zu after %" PRIu64 ")",
                         n->id, e->index, k, m->index);
                return;
            }
            const struct sent *own = slog_at(&n->mlog, e->index);
            if (!own || own->term != e->term || own->id != id) {
                sim_fail(s, "api",
                         "n%" PRIu64 " sends entry %" PRIu64 "/t%" PRIu64 " id=%" PRIu64
                         " that is not in its log (%s t%" PRIu64 " id=%" PRIu64 ")",
                         n->id, e->index, e->term, id, own ? "has" : "lacks", own ? own->term : 0,
                         own ? own->id : 0);
                return;
            }
        }
    } else if (m->type == RAFT_MSG_SNAPSHOT) {
        const struct cinfo *c = m->snapshot.index < s->cap_ci ? &s->ci[m->snapshot.index] : NULL;
        if (!c || !(c->flags & CI_SNAP) || !(c->flags & CI_KNOWN) || c->term != m->snapshot.term)
            sim_fail(s, "snapshot",
                     "n%" PRIu64 " sends a snapshot at %" PRIu64 "/t%" PRIu64
                     " that no node saved as committed state",
                     n->id, m->snapshot.index, m->snapshot.term);
        else
            s->res->snapshots_sent++;
    }
}

/* check_send holds a vote or an ack to what the sender's disk says when it leaves. */
static void check_send(struct sim *s, struct node *n, const struct raft_msg *m)
{
    if (s->o.inject == SIM_INJECT_LIE)
        return; /* the lying disk must be caught by its effects, not at the source */
    switch (m->type) {
    case RAFT_MSG_VOTE:
        if (n->dhs.term != m->term || n->dhs.vote != n->id)
            sim_fail(s, "durability",
                     "n%" PRIu64 " asks votes for term %" PRIu64 " but its disk says term %" PRIu64
                     " vote %" PRIu64,
                     n->id, m->term, n->dhs.term, n->dhs.vote);
        break;
    case RAFT_MSG_VOTE_RESP:
        if (m->reject)
            break;
        if (n->dhs.term != m->term || n->dhs.vote != m->to) {
            sim_fail(s, "durability",
                     "n%" PRIu64 " grants its vote to n%" PRIu64 " in term %" PRIu64
                     " but its disk says term %" PRIu64 " vote %" PRIu64,
                     n->id, m->to, m->term, n->dhs.term, n->dhs.vote);
            break;
        }
        {
            uint64_t *slot = node_vote_slot(s, n, m->term);
            if (!slot)
                break;
            if (*slot && *slot != m->to)
                sim_fail(s, "double-vote",
                         "n%" PRIu64 " voted for n%" PRIu64 " and n%" PRIu64 " in term %" PRIu64,
                         n->id, *slot, m->to, m->term);
            *slot = m->to;
        }
        break;
    case RAFT_MSG_APPEND_RESP:
    case RAFT_MSG_SNAPSHOT_RESP:
        if (!m->reject && m->index > slog_last(&n->dlog))
            sim_fail(s, "durability",
                     "n%" PRIu64 " acks index %" PRIu64 " in term %" PRIu64
                     " but its disk ends at %" PRIu64 " (snap %" PRIu64 ")",
                     n->id, m->index, m->term, slog_last(&n->dlog), n->dlog.snap_index);
        break;
    default:
        break;
    }
}

/* snap_report: the sender's node learns whether a snapshot file reached its receiver
 * and tells its core on the receiver's behalf (raft.h, MSG_SNAPSHOT_RESP), sometimes. */
static void snap_report(struct sim *s, const struct raft_msg *m, bool arrived)
{
    if (m->type != RAFT_MSG_SNAPSHOT || !sim_chance(s, 600))
        return;
    struct raft_msg r;
    memset(&r, 0, sizeof(r));
    r.type = RAFT_MSG_SNAPSHOT_RESP;
    r.from = m->to;
    r.to = m->from;
    r.term = m->term;
    r.index = m->snapshot.index;
    r.reject = !arrived;
    struct wmsg *w = wmsg_copy(&r, s->now);
    if (!w) {
        sim_oom(s);
        return;
    }
    struct node *src = &s->nodes[m->from - 1];
    ev_push(s, s->now + net_latency(s), EV_REPORT, src->idx, src->gen, w);
}

static void net_enqueue(struct sim *s, struct wmsg *w)
{
    const struct raft_msg *m = &w->m;
    if (s->cut[m->from - 1][m->to - 1]) {
        sim_trace(s, "  drop(cut) %s n%" PRIu64 "->n%" PRIu64, raft_msg_type_name(m->type), m->from,
                  m->to);
        snap_report(s, m, false);
        free(w);
        return;
    }
    if (!s->calm && (s->o.faults & SIM_FAULT_DROP) && sim_chance(s, s->drop_pm)) {
        sim_trace(s, "  drop %s n%" PRIu64 "->n%" PRIu64, raft_msg_type_name(m->type), m->from,
                  m->to);
        snap_report(s, m, false);
        free(w);
        return;
    }
    if (!s->calm && (s->o.faults & SIM_FAULT_DUP) && sim_chance(s, s->dup_pm)) {
        struct wmsg *d = wmsg_copy(m, s->now);
        if (!d) {
            sim_oom(s);
        } else {
            sim_trace(s, "  dup %s n%" PRIu64 "->n%" PRIu64, raft_msg_type_name(m->type), m->from,
                      m->to);
            ev_push(s, s->now + net_latency(s), EV_DELIVER, (uint32_t)(m->to - 1), 0, d);
        }
    }
    ev_push(s, s->now + net_latency(s), EV_DELIVER, (uint32_t)(m->to - 1), 0, w);
}

static void net_send(struct sim *s, struct node *n, const struct raft_msg *m)
{
    if (!msg_wellformed(s, n, m))
        return;
    check_send(s, n, m);
    if (s->failed)
        return;
    sim_trace(s,
              "  n%" PRIu64 "->n%" PRIu64 " %s term=%" PRIu64 " idx=%" PRIu64 " lt=%" PRIu64
              " commit=%" PRIu64 " n=%zu%s",
              m->from, m->to, raft_msg_type_name(m->type), m->term, m->index, m->log_term,
              m->commit, m->n_entries, m->reject ? " REJECT" : "");
    struct wmsg *w = wmsg_copy(m, s->now);
    if (!w) {
        sim_oom(s);
        return;
    }
    net_enqueue(s, w);
}

/* ---- the update protocol ----------------------------------------------------------- */

static void batch_free(struct batch *b)
{
    if (!b)
        return;
    for (size_t k = 0; k < b->n_msgs; k++)
        free(b->msgs[k]);
    free(b->msgs);
    free(b->ents);
    free(b->apps);
    free(b);
}

static void batch_flush(struct sim *s, struct node *n, struct batch *b)
{
    disk_write(s, n, b->has_snap ? &b->snap : NULL, b->first, b->ents, b->n_ents,
               b->hs_changed ? &b->hs : NULL);
}

static void batch_send(struct sim *s, struct node *n, struct batch *b)
{
    for (size_t k = 0; k < b->n_msgs && !s->failed; k++) {
        check_send(s, n, &b->msgs[k]->m);
        if (s->failed)
            return;
        sim_trace(s, "  n%" PRIu64 "->n%" PRIu64 " %s term=%" PRIu64 " idx=%" PRIu64 "%s (synced)",
                  b->msgs[k]->m.from, b->msgs[k]->m.to, raft_msg_type_name(b->msgs[k]->m.type),
                  b->msgs[k]->m.term, b->msgs[k]->m.index, b->msgs[k]->m.reject ? " REJECT" : "");
        struct wmsg *w = b->msgs[k];
        b->msgs[k] = NULL;
        net_enqueue(s, w);
    }
}

static void sm_install(struct sim *s, struct node *n, const struct raft_snapshot_meta *m);

/* batch_apply runs step 4 once the write is durable: the snapshot's state, then the
 * committed entries, in order. */
static void batch_apply(struct sim *s, struct node *n, struct batch *b)
{
    if (b->has_snap && !s->failed)
        sm_install(s, n, &b->snap);
    for (size_t k = 0; k < b->n_apps && !s->failed; k++)
        apply_entry(s, n, &b->apps[k]);
}

static void check_entries(struct sim *s, struct node *n, const struct raft_update *up,
                          struct sent *out)
{
    uint64_t first = up->entries[0].index;
    uint64_t last = slog_last(&n->mlog);
    if (first <= n->mlog.snap_index || first > last + 1) {
        sim_fail(s, "api",
                 "n%" PRIu64 " writes entries from %" PRIu64 " onto a log of snap %" PRIu64
                 " last %" PRIu64,
                 n->id, first, n->mlog.snap_index, last);
        return;
    }
    bool leading = up->role == RAFT_LEADER && n->leader_term == up->term && up->term;
    if (leading && first <= last) {
        sim_fail(s, "leader-append-only",
                 "leader n%" PRIu64 " of term %" PRIu64 " rewrites its log from %" PRIu64
                 " (last %" PRIu64 ")",
                 n->id, up->term, first, last);
        return;
    }
    /* "replace the log from entries[0].index on": every entry the node itself knows is
     * committed (<= its commit index) must come back unchanged. (An entry committed by a
     * quorum the node was not part of may be replaced by a stale leader's append while
     * the node lags in term: that is legal, and later leaders carry the committed one.) */
    uint64_t new_last = first + up->n_entries - 1;
    uint64_t top = last < n->commit ? last : n->commit;
    for (uint64_t i = first; i <= top; i++) {
        const struct sent *old = slog_at(&n->mlog, i);
        if (!old || old->term != s->ci[i].term)
            continue; /* a stale entry there: replacing it is the point */
        if (i > new_last || up->entries[i - first].term != old->term) {
            sim_fail(s, "committed-kept",
                     "n%" PRIu64 " replaces its log from %" PRIu64 " to %" PRIu64
                     " and so drops committed entry %" PRIu64 "/t%" PRIu64 " (its last was %" PRIu64
                     ")",
                     n->id, first, new_last, i, old->term, last);
            return;
        }
    }
    uint64_t prev = 0;
    slog_term(&n->mlog, first - 1, &prev);
    for (size_t k = 0; k < up->n_entries; k++) {
        const struct raft_entry *e = &up->entries[k];
        uint64_t id = 0;
        if (e->index != first + k || e->term < prev || e->term == 0 || e->term > up->term ||
            (e->type != RAFT_ENTRY_NORMAL && e->type != RAFT_ENTRY_NOOP) ||
            (e->type == RAFT_ENTRY_NORMAL && !payload_decode(&e->data, &id))) {
            sim_fail(s, "api",
                     "n%" PRIu64 " writes a bad entry %" PRIu64 "/t%" PRIu64
                     " type %d (slot %zu from %" PRIu64 ", prev term %" PRIu64
                     ", node term %" PRIu64 ")",
                     n->id, e->index, e->term, (int)e->type, k, first, prev, up->term);
            return;
        }
        if (leading && e->term != up->term) {
            sim_fail(s, "leader-append-only",
                     "leader n%" PRIu64 " of term %" PRIu64 " appends entry %" PRIu64
                     " of term %" PRIu64,
                     n->id, up->term, e->index, e->term);
            return;
        }
        out[k] = (struct sent){e->term, id, (uint32_t)e->type};
        ident_check(s, n, e->index, e->term, &out[k], prev);
        if (s->failed)
            return;
        prev = e->term;
    }
}

static void check_hs(struct sim *s, struct node *n, const struct raft_hard_state *hs)
{
    if (hs->term < n->hs.term)
        sim_fail(s, "monotonic", "n%" PRIu64 " hard state term goes %" PRIu64 " -> %" PRIu64, n->id,
                 n->hs.term, hs->term);
    else if (hs->term == n->hs.term && n->hs.vote && hs->vote != n->hs.vote)
        sim_fail(s, "double-vote",
                 "n%" PRIu64 " changes its vote in term %" PRIu64 " from n%" PRIu64 " to n%" PRIu64,
                 n->id, hs->term, n->hs.vote, hs->vote);
    n->hs = *hs;
}

static void install_snapshot(struct sim *s, struct node *n, const struct raft_snapshot_meta *m)
{
    const struct cinfo *c = m->index < s->cap_ci ? &s->ci[m->index] : NULL;
    if (!c || !(c->flags & CI_SNAP) || !(c->flags & CI_KNOWN) || c->term != m->term) {
        sim_fail(s, "snapshot",
                 "n%" PRIu64 " installs a snapshot at %" PRIu64 "/t%" PRIu64
                 " that no node saved as committed state",
                 n->id, m->index, m->term);
        return;
    }
    if (m->index <= n->handed) {
        sim_fail(s, "snapshot",
                 "n%" PRIu64 " installs a snapshot at %" PRIu64 " behind what it applied (%" PRIu64
                 ")",
                 n->id, m->index, n->handed);
        return;
    }
    if (n->leader_term) {
        sim_fail(s, "leader-append-only", "leader n%" PRIu64 " installs a snapshot", n->id);
        return;
    }
    sim_trace(s, "n%" PRIu64 " installs snapshot %" PRIu64 "/t%" PRIu64, n->id, m->index, m->term);
    slog_reset(&n->mlog, m->index, m->term);
    n->handed = m->index;
}

/* sm_install loads the state saved with snapshot `m` (once its install is durable). */
static void sm_install(struct sim *s, struct node *n, const struct raft_snapshot_meta *m)
{
    if (m->index <= n->applied) {
        sim_fail(s, "snapshot",
                 "n%" PRIu64 " installs a snapshot at %" PRIu64 " behind what it applied (%" PRIu64
                 ")",
                 n->id, m->index, n->applied);
        return;
    }
    n->applied = m->index;
    n->sm_hash = s->ci[m->index].snap_hash;
}

static void check_read(struct sim *s, struct node *n, const struct raft_read_state *rs)
{
    if (rs->context == 0 || rs->context >= s->next_ctx || s->reads[rs->context].node != n->idx) {
        sim_fail(s, "read-index", "n%" PRIu64 " answers unknown read %" PRIu64, n->id, rs->context);
        return;
    }
    struct rread *r = &s->reads[rs->context];
    if (rs->index < r->bound) {
        sim_fail(s, "read-index",
                 "n%" PRIu64 " read %" PRIu64 " at index %" PRIu64 " but %" PRIu64
                 " was committed before it was asked",
                 n->id, rs->context, rs->index, r->bound);
        return;
    }
    if (!r->answered)
        s->res->reads++;
    if (s->calm && rs->context >= s->calm_ctx_from)
        s->calm_read_ok = true;
    r->answered++;
    sim_trace(s, "n%" PRIu64 " read %" PRIu64 " ready at %" PRIu64 " (bound %" PRIu64 ")", n->id,
              rs->context, rs->index, r->bound);
}

static void handle_update(struct sim *s, struct node *n, const struct raft_update *up, bool *wrote)
{
    note_role(s, n, up->role, up->term);
    if (s->failed)
        return;
    if (up->diverged) { /* proof of a safety violation, which the other checks must have missed */
        sim_fail(s, "diverged",
                 "n%" PRIu64 " reports diverged logs: kind %d, peer n%" PRIu64 ", index %" PRIu64
                 " (term here %" PRIu64 ", there %" PRIu64 ", last here %" PRIu64 ")",
                 n->id, (int)up->diverged->kind, up->diverged->peer, up->diverged->index,
                 up->diverged->term_here, up->diverged->term_there, up->diverged->last_here);
        return;
    }
    bool early_all = s->o.inject == SIM_INJECT_EARLY;
    for (size_t k = 0; k < up->n_msgs_early && !s->failed; k++)
        net_send(s, n, &up->msgs_early[k]);
    if (early_all) {
        for (size_t k = 0; k < up->n_msgs && !s->failed; k++)
            net_send(s, n, &up->msgs[k]);
    }
    if (s->failed)
        return;

    /* 2. the write */
    struct batch *b = calloc(1, sizeof(*b));
    if (!b) {
        sim_oom(s);
        return;
    }
    if (up->snapshot) {
        install_snapshot(s, n, up->snapshot);
        b->has_snap = true;
        b->snap = *up->snapshot;
    }
    if (up->n_entries && !s->failed) {
        b->ents = malloc(up->n_entries * sizeof(*b->ents));
        if (!b->ents) {
            batch_free(b);
            sim_oom(s);
            return;
        }
        b->n_ents = up->n_entries;
        b->first = up->entries[0].index;
        check_entries(s, n, up, b->ents);
        if (!s->failed) {
            slog_truncate(&n->mlog, b->first);
            for (size_t k = 0; k < b->n_ents; k++) {
                if (slog_push(&n->mlog, &b->ents[k])) {
                    sim_oom(s);
                    break;
                }
            }
        }
    }
    if (up->hs_changed && !s->failed) {
        check_hs(s, n, &up->hs);
        b->hs_changed = true;
        b->hs = up->hs;
    }
    b->wrote = up->snapshot || up->n_entries || up->hs_changed;
    *wrote = b->wrote;
    for (size_t k = 0; k < up->n_msgs_early && !s->failed; k++)
        check_content(s, n, &up->msgs_early[k]);
    for (size_t k = 0; k < up->n_msgs && !s->failed; k++)
        check_content(s, n, &up->msgs[k]);
    if (s->failed) {
        batch_free(b);
        return;
    }
    if (up->n_committed) {
        b->apps = malloc(up->n_committed * sizeof(*b->apps));
        if (!b->apps) {
            batch_free(b);
            sim_oom(s);
            return;
        }
        for (size_t k = 0; k < up->n_committed; k++) {
            if (!decode_committed(s, n, &up->committed[k], &b->apps[k])) {
                batch_free(b);
                return;
            }
            b->n_apps++;
        }
        n->handed = b->apps[b->n_apps - 1].index;
    }
    if (!early_all && up->n_msgs) {
        b->msgs = malloc(up->n_msgs * sizeof(*b->msgs));
        if (!b->msgs) {
            batch_free(b);
            sim_oom(s);
            return;
        }
        for (size_t k = 0; k < up->n_msgs; k++) {
            b->msgs[k] = wmsg_copy(&up->msgs[k], s->now);
            if (!b->msgs[k]) {
                batch_free(b);
                sim_oom(s);
                return;
            }
            b->n_msgs++;
        }
    }
    if (!s->torn || (!b->wrote && !n->pend_head)) {
        batch_flush(s, n, b);
        batch_send(s, n, b);
        batch_apply(s, n, b);
        batch_free(b);
    } else if (!b->wrote && !b->n_msgs && !b->n_apps) {
        batch_free(b);
    } else {
        uint64_t at = s->now + sim_range(s, 5, n->fsync_max);
        if (at < n->fsync_at)
            at = n->fsync_at;
        n->fsync_at = at;
        if (n->pend_tail)
            n->pend_tail->next = b;
        else
            n->pend_head = b;
        n->pend_tail = b;
        ev_push(s, at, EV_FSYNC, n->idx, n->gen, NULL);
    }
    if (s->failed)
        return;

    /* 4. reads (checked at once; the node answers them once applied >= index) */
    for (size_t k = 0; k < up->n_reads && !s->failed; k++)
        check_read(s, n, &up->reads[k]);
}

/* node_drain runs the update protocol until the core has nothing more to hand out. */
static void node_drain(struct sim *s, struct node *n)
{
    for (unsigned round = 0; n->up && !s->failed && raft_has_ready(n->r); round++) {
        if (round == SIM_READY_LIMIT) {
            sim_fail(s, "api", "n%" PRIu64 " keeps having updates (%u rounds)", n->id, round);
            return;
        }
        struct raft_update up;
        memset(&up, 0, sizeof(up));
        raft_ready(n->r, &up);
        bool wrote = false;
        handle_update(s, n, &up, &wrote);
        raft_advance(n->r);
        if (s->failed)
            return;
        if (!s->torn && wrote) {
            uint64_t idx, term = 0;
            disk_persisted_point(n, &idx, &term);
            raft_persisted(n->r, idx, term);
        }
        if (n->applied != n->reported_applied) {
            raft_applied(n->r, n->applied);
            n->reported_applied = n->applied;
        }
    }
}

/* ---- node lives -------------------------------------------------------------------- */

static void node_config(struct sim *s, struct node *n, struct raft_config *cfg)
{
    *cfg = s->cfg;
    cfg->id = n->id;
    cfg->seed = mix64(s->o.seed ^ (n->id << 32) ^ ((uint64_t)n->lives << 48) ^ 0x5eed);
}

static int node_start(struct sim *s, struct node *n)
{
    struct raft_config cfg;
    node_config(s, n, &cfg);
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.hs = n->dhs;
    rs.snapshot = n->dsnap;
    struct raft_entry *ents = NULL;
    uint8_t *bytes = NULL;
    int rc = 0;
    if (n->dlog.n) {
        size_t total = 0;
        for (size_t k = 0; k < n->dlog.n; k++)
            total += n->dlog.v[k].type == RAFT_ENTRY_NORMAL ? payload_len(n->dlog.v[k].id) : 0;
        ents = calloc(n->dlog.n, sizeof(*ents));
        bytes = malloc(total ? total : 1);
        if (!ents || !bytes) {
            rc = LT_ENOMEM;
            goto out_free;
        }
        uint8_t *p = bytes;
        for (size_t k = 0; k < n->dlog.n; k++) {
            const struct sent *e = &n->dlog.v[k];
            ents[k].term = e->term;
            ents[k].index = n->dlog.snap_index + 1 + k;
            ents[k].type = (enum raft_entry_type)e->type;
            if (e->type == RAFT_ENTRY_NORMAL) {
                payload_fill(e->id, p);
                ents[k].data.base = p;
                ents[k].data.len = payload_len(e->id);
                p += ents[k].data.len;
            }
        }
        rs.entries = ents;
        rs.n_entries = n->dlog.n;
    }
    struct raft *r = NULL;
    bool fresh = n->lives == 0;
    rc = raft_new(&cfg, fresh ? NULL : &rs, &r);
    if (rc) {
        sim_fail(s, "api", "raft_new for n%" PRIu64 " (life %u) failed: %s", n->id, n->lives,
                 lt_errname(rc));
        rc = 0;
        goto out_free;
    }
    n->r = r;
    n->up = true;
    n->gen++;
    n->lives++;
    if (slog_copy(&n->mlog, &n->dlog)) {
        rc = LT_ENOMEM;
        goto out_free;
    }
    n->applied = n->reported_applied = n->handed = n->dlog.snap_index;
    n->sm_hash = n->dlog.snap_index ? s->ci[n->dlog.snap_index].snap_hash : SIM_H0;
    n->hs = n->dhs;
    n->term = n->commit = n->leader_term = 0;
    n->role = RAFT_FOLLOWER;
    n->fsync_at = 0;
    n->paused_until = 0;
    n->tick_len = s->o.faults ? sim_range(s, SIM_TICK * 9 / 10, SIM_TICK * 11 / 10) : SIM_TICK;
    /* now and then a slow disk, still well inside the election timeout (Raft's timing
     * requirement: broadcast time << election timeout) */
    n->fsync_max = 120;
    if (sim_chance(s, 125) && s->cfg.election_ticks * SIM_TICK / 2 > n->fsync_max)
        n->fsync_max = s->cfg.election_ticks * SIM_TICK / 2;
    struct raft_status st;
    raft_status(r, &st);
    if (st.term != n->dhs.term || st.last_index != slog_last(&n->dlog) ||
        st.snapshot.index != n->dlog.snap_index)
        sim_fail(s, "api",
                 "n%" PRIu64 " restarts with term %" PRIu64 " last %" PRIu64 " snap %" PRIu64
                 " from a disk of term %" PRIu64 " last %" PRIu64 " snap %" PRIu64,
                 n->id, st.term, st.last_index, st.snapshot.index, n->dhs.term, slog_last(&n->dlog),
                 n->dlog.snap_index);
    sim_trace(s,
              "n%" PRIu64 " STARTS (life %u) term %" PRIu64 " vote %" PRIu64 " log %" PRIu64
              "..%" PRIu64,
              n->id, n->lives, n->dhs.term, n->dhs.vote, n->dlog.snap_index, slog_last(&n->dlog));
    ev_push(s, s->now + sim_range(s, 1, SIM_TICK), EV_TICK, n->idx, n->gen, NULL);
out_free:
    free(ents);
    free(bytes);
    return rc;
}

static void node_crash(struct sim *s, struct node *n)
{
    size_t pending = 0;
    for (struct batch *b = n->pend_head; b; b = b->next)
        pending++;
    size_t keep = pending ? (size_t)sim_below(s, pending + 1) : 0;
    size_t k = 0;
    while (n->pend_head) {
        struct batch *b = n->pend_head;
        n->pend_head = b->next;
        if (k++ < keep)
            batch_flush(s, n, b); /* reached the disk, though no one was told */
        batch_free(b);
    }
    n->pend_tail = NULL;
    if (s->o.inject == SIM_INJECT_LIE) {
        uint64_t lose = sim_range(s, 1, 3);
        uint64_t last = slog_last(&n->dlog);
        slog_truncate(&n->dlog,
                      last > n->dlog.snap_index + lose ? last - lose + 1 : n->dlog.snap_index + 1);
        n->dhs.vote = RAFT_NONE;
    }
    raft_free(n->r);
    n->r = NULL;
    n->up = false;
    n->gen++;
    n->leader_term = 0;
    n->role = RAFT_FOLLOWER;
    s->res->crashes++;
    sim_trace(s, "n%" PRIu64 " CRASH (%zu of %zu pending writes survive)", n->id, keep, pending);
}

/* ---- per-step checks --------------------------------------------------------------- */

static void check_step(struct sim *s)
{
    for (unsigned k = 0; k < s->n && !s->failed; k++) {
        struct node *n = &s->nodes[k];
        if (!n->up)
            continue;
        struct raft_status st;
        raft_status(n->r, &st);
        if (st.term < n->term)
            sim_fail(s, "monotonic", "n%" PRIu64 " term goes %" PRIu64 " -> %" PRIu64, n->id,
                     n->term, st.term);
        else if (st.commit < n->commit)
            sim_fail(s, "monotonic", "n%" PRIu64 " commit goes %" PRIu64 " -> %" PRIu64, n->id,
                     n->commit, st.commit);
        else if (st.last_index != slog_last(&n->mlog) || st.commit > st.last_index)
            sim_fail(s, "api",
                     "n%" PRIu64 " status says last %" PRIu64 " commit %" PRIu64
                     " but the handed-out log ends at %" PRIu64,
                     n->id, st.last_index, st.commit, slog_last(&n->mlog));
        if (s->failed)
            return;
        n->term = st.term;
        n->commit = st.commit;
        note_role(s, n, st.role, st.term);
        if (!s->failed && st.leader != RAFT_NONE &&
            (st.term >= s->cap_leaders || s->leaders[st.term] != st.leader))
            sim_fail(s, "election-safety",
                     "n%" PRIu64 " follows n%" PRIu64 " in term %" PRIu64 ", which n%" PRIu64
                     " leads",
                     n->id, st.leader, st.term, st.term < s->cap_leaders ? s->leaders[st.term] : 0);
        if (st.commit > s->g_commit)
            observe_commit(s, n, st.commit, st.term);
        if (st.term > s->res->terms)
            s->res->terms = st.term;
    }
    if (s->o.inject == SIM_INJECT_LEADER && !s->injected && !s->failed) {
        for (unsigned k = 0; k < s->n; k++) {
            struct node *l = &s->nodes[k];
            if (l->up && l->leader_term) {
                struct node *o = &s->nodes[(k + 1) % s->n];
                s->injected = true;
                sim_trace(s, "INJECT n%" PRIu64 " claims term %" PRIu64, o->id, l->leader_term);
                o->leader_term = 0;
                note_role(s, o, RAFT_LEADER, l->leader_term);
                break;
            }
        }
    }
}

/* ---- clients, faults --------------------------------------------------------------- */

static struct node *find_leader(struct sim *s)
{
    struct node *best = NULL;
    for (unsigned k = 0; k < s->n; k++) {
        struct node *n = &s->nodes[k];
        if (n->up && n->paused_until <= s->now && n->role == RAFT_LEADER &&
            (!best || n->term > best->term))
            best = n;
    }
    return best;
}

static struct node *random_up(struct sim *s)
{
    unsigned up = 0;
    for (unsigned k = 0; k < s->n; k++)
        up += s->nodes[k].up && s->nodes[k].paused_until <= s->now;
    if (!up)
        return NULL;
    unsigned pick = (unsigned)sim_below(s, up);
    for (unsigned k = 0; k < s->n; k++) {
        if (s->nodes[k].up && s->nodes[k].paused_until <= s->now && pick-- == 0)
            return &s->nodes[k];
    }
    return NULL;
}

/* client_propose proposes `count` new payloads on n; req >= 0 ties them to a calm request. */
static void client_propose(struct sim *s, struct node *n, size_t count, int req)
{
    uint8_t bytes[SIM_MAX_BURST][72];
    struct raft_buf bufs[SIM_MAX_BURST];
    uint64_t ids[SIM_MAX_BURST];
    for (size_t k = 0; k < count; k++) {
        ids[k] = s->next_id + k;
        payload_fill(ids[k], bytes[k]);
        bufs[k].base = bytes[k];
        bufs[k].len = payload_len(ids[k]);
    }
    if (!grow((void **)&s->props, &s->cap_props, s->next_id + count, sizeof(*s->props))) {
        sim_oom(s);
        return;
    }
    uint64_t last_before = slog_last(&n->mlog);
    uint64_t first = 0, term = 0;
    int rc = raft_propose(n->r, RAFT_ENTRY_NORMAL, bufs, count, &first, &term);
    if (rc == LT_ENOTLEADER || rc == LT_ETRANSFER || rc == LT_EBUSY)
        return;
    if (rc) {
        sim_fail(s, "api", "raft_propose on n%" PRIu64 " (%s) failed: %s", n->id, role_str(n->role),
                 lt_errname(rc));
        return;
    }
    if (first != last_before + 1 || term == 0) {
        sim_fail(s, "api",
                 "raft_propose on n%" PRIu64 " placed at %" PRIu64 "/t%" PRIu64
                 " but its log ended at %" PRIu64,
                 n->id, first, term, last_before);
        return;
    }
    for (size_t k = 0; k < count; k++) {
        struct prop *p = &s->props[ids[k]];
        struct cinfo *c = sim_ci(s, first + k);
        if (!c)
            return;
        p->index = first + k;
        p->term = term;
        p->req = k == 0 ? req : -1;
        p->state = 0;
        p->next = c->claim;
        c->claim = ids[k];
    }
    if (req >= 0) {
        s->creqs[req].id = ids[0];
        s->creqs[req].state = 1;
    }
    for (size_t k = 0; k < count; k++) {
        /* a deposed leader may place a proposal where an entry already committed */
        const struct cinfo *c = &s->ci[first + k];
        if ((c->flags & CI_KNOWN) && c->id != ids[k]) {
            s->props[ids[k]].state = 2;
            if (k == 0 && req >= 0)
                s->creqs[req].state = 0;
        }
    }
    s->next_id += count;
    s->res->proposals += count;
    sim_trace(s, "n%" PRIu64 " PROPOSE ids %" PRIu64 "..%" PRIu64 " at %" PRIu64 "/t%" PRIu64,
              n->id, ids[0], ids[count - 1], first, term);
    node_drain(s, n);
}

static void client_read(struct sim *s, struct node *n)
{
    if (!grow((void **)&s->reads, &s->cap_reads, s->next_ctx, sizeof(*s->reads))) {
        sim_oom(s);
        return;
    }
    uint64_t ctx = s->next_ctx;
    int rc = raft_read_index(n->r, ctx);
    if (rc == LT_ENOTLEADER || rc == LT_ETRANSFER || rc == LT_EBUSY)
        return;
    if (rc) {
        sim_fail(s, "api", "raft_read_index on n%" PRIu64 " failed: %s", n->id, lt_errname(rc));
        return;
    }
    s->next_ctx++;
    s->reads[ctx].bound = s->g_commit;
    s->reads[ctx].node = n->idx;
    if (s->o.inject == SIM_INJECT_READ && !s->injected) {
        s->injected = true;
        s->reads[ctx].bound = s->g_commit + 1000000;
    }
    sim_trace(s, "n%" PRIu64 " READ_INDEX %" PRIu64 " (commit known %" PRIu64 ")", n->id, ctx,
              s->g_commit);
    node_drain(s, n);
}

static void client_transfer(struct sim *s, struct node *n)
{
    uint64_t target = sim_chance(s, 200) ? RAFT_NONE : sim_range(s, 1, s->n);
    int rc = raft_transfer(n->r, target);
    sim_trace(s, "n%" PRIu64 " TRANSFER to %" PRIu64 ": %s", n->id, target, lt_errname(rc));
    if (rc && rc != LT_ENOTLEADER && rc != LT_EINVAL && rc != LT_ETRANSFER && rc != LT_EBUSY) {
        sim_fail(s, "api", "raft_transfer on n%" PRIu64 " failed: %s", n->id, lt_errname(rc));
        return;
    }
    node_drain(s, n);
}

static void client_compact(struct sim *s, struct node *n)
{
    uint64_t i = n->applied;
    if (i <= n->dlog.snap_index + 2)
        return;
    struct cinfo *c = &s->ci[i];
    struct raft_snapshot_meta meta;
    memset(&meta, 0, sizeof(meta));
    meta.index = i;
    meta.term = c->term;
    meta.conf = s->cfg.voters;
    if ((c->flags & CI_SNAP) && c->snap_hash != n->sm_hash) {
        sim_fail(s, "state-machine-safety",
                 "n%" PRIu64 " snapshot at %" PRIu64 " differs from another node's", n->id, i);
        return;
    }
    c->flags |= CI_SNAP;
    c->snap_hash = n->sm_hash;
    int rc = raft_compact(n->r, &meta);
    if (rc) {
        sim_fail(s, "api", "raft_compact on n%" PRIu64 " at %" PRIu64 " (applied) failed: %s",
                 n->id, i, lt_errname(rc));
        return;
    }
    n->dsnap = meta;
    slog_compact(&n->dlog, i, meta.term);
    s->res->compactions++;
    sim_trace(s, "n%" PRIu64 " COMPACT at %" PRIu64 "/t%" PRIu64, n->id, i, meta.term);
    node_drain(s, n);
}

static void calm_client(struct sim *s)
{
    struct node *l = find_leader(s);
    if (!l)
        return;
    for (int k = 0; k < SIM_CALM_REQS && !s->failed; k++) {
        struct creq *q = &s->creqs[k];
        if (q->state == 1) {
            /* the leader of a later term lacks the attempt: try again there (the old
             * attempt may still commit; whichever commits first serves the request) */
            const struct prop *p = &s->props[q->id];
            bool has = p->index <= l->mlog.snap_index ? s->ci[p->index].id == q->id
                                                      : mlog_has(l, p->index, p->term);
            if (p->term < l->term && !has)
                q->state = 0;
        }
        if (q->state == 0) {
            client_propose(s, l, 1, k);
            break;
        }
    }
    if (!s->failed && (!s->calm_read_ok || sim_chance(s, 300)))
        client_read(s, l);
}

static void on_client(struct sim *s)
{
    ev_push(s, s->now + sim_range(s, 10, 300), EV_CLIENT, 0, 0, NULL);
    if (s->calm) {
        calm_client(s);
        return;
    }
    struct node *n;
    unsigned op = (unsigned)sim_below(s, 100);
    struct node *l = find_leader(s);
    if (op < 55) {
        n = l && sim_chance(s, 800) ? l : random_up(s);
        size_t count = sim_chance(s, 30) ? (size_t)sim_range(s, 16, SIM_MAX_BURST)
                                         : (size_t)sim_range(s, 1, 4);
        /* clients bound their outstanding writes: no proposals to a node sitting on a
         * long uncommitted tail (a leader cut off from its quorum) */
        if (n && slog_last(&n->mlog) < n->commit + 256)
            client_propose(s, n, count, -1);
    } else if (op < 72) {
        n = l && sim_chance(s, 600) ? l : random_up(s);
        if (n)
            client_read(s, n);
    } else if (op < 75) {
        n = random_up(s);
        if (n)
            client_transfer(s, n);
    } else if (op < 90) {
        n = random_up(s);
        if (n)
            client_compact(s, n);
    } else if (op < 91) {
        n = random_up(s);
        if (n) {
            int rc = raft_campaign(n->r);
            sim_trace(s, "n%" PRIu64 " CAMPAIGN: %s", n->id, lt_errname(rc));
            node_drain(s, n);
        }
    }
}

static void heal_all(struct sim *s)
{
    memset(s->cut, 0, sizeof(s->cut));
}

static void on_fault(struct sim *s)
{
    if (s->calm)
        return;
    ev_push(s, s->now + sim_range(s, 2 * SIM_TICK, 30 * SIM_TICK), EV_FAULT, 0, 0, NULL);
    unsigned f = s->o.faults;
    unsigned kind = (unsigned)sim_below(s, 9);
    switch (kind) {
    case 0: /* partition into two sides */
        if (!(f & SIM_FAULT_PARTITION) || s->n < 2)
            return;
        {
            unsigned side = (unsigned)sim_range(s, 1, (1u << s->n) - 2);
            heal_all(s);
            for (unsigned a = 0; a < s->n; a++)
                for (unsigned b = 0; b < s->n; b++)
                    s->cut[a][b] = ((side >> a) & 1) != ((side >> b) & 1);
            sim_trace(s, "FAULT partition mask %#x", side);
        }
        break;
    case 1: /* isolate one node */
        if (!(f & SIM_FAULT_PARTITION))
            return;
        {
            unsigned x = (unsigned)sim_below(s, s->n);
            for (unsigned b = 0; b < s->n; b++)
                s->cut[x][b] = s->cut[b][x] = b != x;
            sim_trace(s, "FAULT isolate n%u", x + 1);
        }
        break;
    case 2: /* one-way cut */
        if (!(f & SIM_FAULT_ONEWAY) || s->n < 2)
            return;
        {
            unsigned a = (unsigned)sim_below(s, s->n);
            unsigned b = (a + 1 + (unsigned)sim_below(s, s->n - 1)) % s->n;
            s->cut[a][b] = true;
            sim_trace(s, "FAULT cut n%u -> n%u", a + 1, b + 1);
        }
        break;
    case 3:
    case 4: /* heal */
        if (!(f & (SIM_FAULT_PARTITION | SIM_FAULT_ONEWAY)))
            return;
        heal_all(s);
        sim_trace(s, "FAULT heal");
        break;
    case 5:
    case 6: /* crash */
        if (!(f & SIM_FAULT_CRASH))
            return;
        {
            struct node *n = sim_chance(s, 400) ? find_leader(s) : NULL;
            if (!n)
                n = random_up(s);
            if (!n)
                return;
            node_crash(s, n);
            ev_push(s, s->now + sim_range(s, SIM_TICK, 40 * SIM_TICK), EV_RESTART, n->idx, n->gen,
                    NULL);
        }
        break;
    case 8: /* pause a process (a long GC, a stopped VM): state kept, time lost */
        if (!(f & SIM_FAULT_PAUSE))
            return;
        {
            struct node *n = sim_chance(s, 500) ? find_leader(s) : NULL;
            if (!n)
                n = random_up(s);
            if (!n)
                return;
            n->paused_until = s->now + sim_range(s, SIM_TICK, 40 * SIM_TICK);
            sim_trace(s, "FAULT pause n%" PRIu64 " for %" PRIu64 " ticks", n->id,
                      (n->paused_until - s->now) / SIM_TICK);
        }
        break;
    case 7: /* weather */
        if (f & SIM_FAULT_DROP)
            s->drop_pm = (unsigned)sim_below(s, 200);
        if (f & SIM_FAULT_DUP)
            s->dup_pm = (unsigned)sim_below(s, 60);
        sim_trace(s, "FAULT drop %u/1000 dup %u/1000", s->drop_pm, s->dup_pm);
        break;
    }
}

/* calm_bound: ticks the calm phase may take (--calm-ticks, else scaled by the timeout) */
static unsigned calm_bound(const struct sim *s)
{
    if (s->o.calm_ticks)
        return s->o.calm_ticks;
    return SIM_CALM_BASE + SIM_CALM_PER_ET * s->cfg.election_ticks;
}

static void enter_calm(struct sim *s)
{
    s->calm = true;
    heal_all(s);
    s->drop_pm = s->dup_pm = 0;
    for (unsigned k = 0; k < s->n; k++)
        s->nodes[k].paused_until = 0;
    s->calm_start = s->now;
    s->calm_step = s->step;
    s->calm_ctx_from = s->next_ctx;
    s->calm_deadline = s->now + (uint64_t)calm_bound(s) * SIM_TICK;
    sim_trace(s, "CALM: heal, restart, no more faults");
    for (unsigned k = 0; k < s->n && !s->failed; k++) {
        if (!s->nodes[k].up) {
            int rc = node_start(s, &s->nodes[k]);
            if (rc) {
                s->err = rc;
                sim_fail(s, "harness", "restart failed: %s", lt_errname(rc));
                return;
            }
            node_drain(s, &s->nodes[k]);
        }
    }
}

static bool calm_done(struct sim *s)
{
    uint64_t top = 0;
    for (int k = 0; k < SIM_CALM_REQS; k++) {
        if (s->creqs[k].state != 2)
            return false;
        if (s->creqs[k].index > top)
            top = s->creqs[k].index;
    }
    if (!find_leader(s) || !s->calm_read_ok)
        return false;
    for (unsigned k = 0; k < s->n; k++) {
        if (!s->nodes[k].up || s->nodes[k].applied < top)
            return false;
    }
    return true;
}

static void liveness_fail(struct sim *s)
{
    char buf[400];
    size_t off = 0;
    for (unsigned k = 0; k < s->n && off < sizeof(buf); k++) {
        const struct node *n = &s->nodes[k];
        off += (size_t)snprintf(buf + off, sizeof(buf) - off,
                                " n%" PRIu64 ":%s/t%" PRIu64 "/c%" PRIu64 "/a%" PRIu64 "/l%" PRIu64,
                                n->id, role_str(n->role), n->term, n->commit, n->applied,
                                slog_last(&n->mlog));
    }
    unsigned done = 0;
    for (int k = 0; k < SIM_CALM_REQS; k++)
        done += s->creqs[k].state == 2;
    sim_fail(s, "liveness",
             "no convergence %u ticks after the faults ended (%u/%d proposals, read %s; %s)",
             (unsigned)((s->now - s->calm_start) / SIM_TICK), done, SIM_CALM_REQS,
             s->calm_read_ok ? "answered" : "unanswered", buf);
}

/* ---- the run ----------------------------------------------------------------------- */

static void sim_config(struct sim *s)
{
    struct raft_conf voters;
    memset(&voters, 0, sizeof(voters));
    for (unsigned k = 0; k < s->n; k++)
        voters.voters[k] = k + 1;
    voters.n_voters = s->n;
    raft_config_default(&s->cfg, 1, &voters);
    static const unsigned inflight[] = {1, 2, 4, 256};
    static const size_t ents[] = {1, 3, 16, 4096};
    static const size_t bytes[] = {1, 100, 1000, 4u << 20};
    static const uint64_t keep[] = {0, 2, 10, 100};
    /* mostly sane timeouts; one run in eight has very short ones (elections race
     * heartbeats and message delays) */
    if (sim_chance(s, 125)) {
        s->cfg.election_ticks = (unsigned)sim_range(s, 2, 4);
        s->cfg.heartbeat_ticks = 1;
    } else {
        s->cfg.election_ticks = (unsigned)sim_range(s, 5, 15);
        s->cfg.heartbeat_ticks = (unsigned)sim_range(s, 1, 3);
    }
    s->cfg.pre_vote = sim_chance(s, 750);
    s->cfg.check_quorum = sim_chance(s, 750);
    s->cfg.max_inflight = inflight[sim_below(s, 4)];
    s->cfg.max_msg_entries = ents[sim_below(s, 4)];
    s->cfg.max_msg_bytes = bytes[sim_below(s, 4)];
    s->cfg.compact_keep = keep[sim_below(s, 4)];
    /* not drawn from the stream: the draws above and after stay what they were */
    uint64_t h = s->o.seed * 0x9e3779b97f4a7c15ull;
    s->cfg.lazy_commit = s->o.lazy == SIM_LAZY_ON || (s->o.lazy == SIM_LAZY_MIXED && (h >> 63));
}

static void sim_free(struct sim *s)
{
    for (unsigned k = 0; k < s->n; k++) {
        struct node *n = &s->nodes[k];
        raft_free(n->r);
        while (n->pend_head) {
            struct batch *b = n->pend_head;
            n->pend_head = b->next;
            batch_free(b);
        }
        free(n->dlog.v);
        free(n->mlog.v);
        free(n->votes);
    }
    for (size_t i = 0; i < s->n_heap; i++)
        free(s->heap[i].msg);
    free(s->heap);
    free(s->ci);
    free(s->leaders);
    free(s->im);
    free(s->props);
    free(s->reads);
}

static void on_event(struct sim *s, struct event *e)
{
    struct node *n = e->kind == EV_CLIENT || e->kind == EV_FAULT ? NULL : &s->nodes[e->node];
    switch (e->kind) {
    case EV_TICK:
        if (raft_commit_unsent(n->r) && sim_chance(s, 500))
            raft_send_commit(n->r);
        raft_tick(n->r);
        node_drain(s, n);
        ev_push(s, s->now + n->tick_len + sim_below(s, 5) - 2, EV_TICK, n->idx, n->gen, NULL);
        break;
    case EV_DELIVER: {
        struct wmsg *w = e->msg;
        e->msg = NULL;
        if (!n->up || s->cut[w->m.from - 1][w->m.to - 1]) {
            sim_trace(s, "  lost %s n%" PRIu64 "->n%" PRIu64 " (%s)", raft_msg_type_name(w->m.type),
                      w->m.from, w->m.to, n->up ? "cut" : "down");
            snap_report(s, &w->m, false);
            free(w);
            break;
        }
        sim_trace(s,
                  "  deliver %s n%" PRIu64 "->n%" PRIu64 " term=%" PRIu64 " idx=%" PRIu64 " n=%zu",
                  raft_msg_type_name(w->m.type), w->m.from, w->m.to, w->m.term, w->m.index,
                  w->m.n_entries);
        snap_report(s, &w->m, true);
        int rc = raft_recv(n->r, &w->m);
        if (rc)
            sim_trace(s, "  raft_recv: %s", lt_errname(rc));
        free(w);
        s->res->msgs++;
        node_drain(s, n);
        break;
    }
    case EV_FSYNC: {
        struct batch *b = n->pend_head;
        n->pend_head = b->next;
        if (!n->pend_head)
            n->pend_tail = NULL;
        batch_flush(s, n, b);
        if (!s->failed)
            batch_send(s, n, b);
        if (!s->failed)
            batch_apply(s, n, b);
        if (!s->failed && b->wrote) {
            uint64_t idx, term = 0;
            disk_persisted_point(n, &idx, &term);
            raft_persisted(n->r, idx, term);
        }
        if (!s->failed && n->applied != n->reported_applied) {
            raft_applied(n->r, n->applied);
            n->reported_applied = n->applied;
        }
        batch_free(b);
        node_drain(s, n);
        break;
    }
    case EV_REPORT: {
        struct wmsg *w = e->msg;
        e->msg = NULL;
        sim_trace(s, "  n%" PRIu64 " reports snapshot %" PRIu64 " to n%" PRIu64 " %s", n->id,
                  w->m.index, w->m.from, w->m.reject ? "FAILED" : "arrived");
        int rc = raft_recv(n->r, &w->m);
        if (rc)
            sim_trace(s, "  raft_recv: %s", lt_errname(rc));
        free(w);
        node_drain(s, n);
        break;
    }
    case EV_CLIENT:
        on_client(s);
        break;
    case EV_FAULT:
        on_fault(s);
        break;
    case EV_RESTART:
        if (s->calm)
            break;
        if (node_start(s, n)) {
            sim_oom(s);
            break;
        }
        node_drain(s, n);
        break;
    }
}

static bool ev_stale(struct sim *s, const struct event *e)
{
    if (e->kind == EV_TICK || e->kind == EV_FSYNC || e->kind == EV_REPORT)
        return !s->nodes[e->node].up || s->nodes[e->node].gen != e->gen;
    if (e->kind == EV_RESTART)
        return s->nodes[e->node].up || s->nodes[e->node].gen != e->gen;
    return false;
}

int sim_run(const struct sim_opts *o, struct sim_result *res)
{
    if (!o || !res || o->nodes == 0 || o->nodes > RAFT_MAX_NODES)
        return LT_EINVAL;
    memset(res, 0, sizeof(*res));
    struct sim *s = calloc(1, sizeof(*s));
    if (!s)
        return LT_ENOMEM;
    s->o = *o;
    s->res = res;
    s->rng = mix64(o->seed ^ 0x243f6a8885a308d3ULL);
    s->n = o->nodes;
    s->next_id = 1;
    s->next_ctx = 1;
    s->torn = (o->faults & SIM_FAULT_TORN) != 0;
    if (o->inject == SIM_INJECT_LIE)
        s->o.faults |= SIM_FAULT_CRASH;
    sim_config(s);
    s->drop_pm = (o->faults & SIM_FAULT_DROP) ? (unsigned)sim_below(s, 100) : 0;
    s->dup_pm = (o->faults & SIM_FAULT_DUP) ? (unsigned)sim_below(s, 30) : 0;
    sim_trace(s,
              "seed %" PRIu64 ": %u nodes, election %u heartbeat %u prevote %d checkquorum %d "
              "inflight %u entries %zu bytes %zu keep %" PRIu64 " torn %d lazy %d",
              o->seed, s->n, s->cfg.election_ticks, s->cfg.heartbeat_ticks, s->cfg.pre_vote,
              s->cfg.check_quorum, s->cfg.max_inflight, s->cfg.max_msg_entries,
              s->cfg.max_msg_bytes, s->cfg.compact_keep, s->torn, s->cfg.lazy_commit);
    int rc = 0;
    if (!sim_ci(s, 0))
        goto out;
    s->ci[0].flags = CI_KNOWN | CI_HASH | CI_SNAP | CI_DURCHK;
    s->ci[0].hash = s->ci[0].snap_hash = SIM_H0;
    for (unsigned k = 0; k < s->n; k++) {
        s->nodes[k].idx = k;
        s->nodes[k].id = k + 1;
        s->nodes[k].sm_hash = SIM_H0;
    }
    for (unsigned k = 0; k < s->n && !s->failed; k++) {
        rc = node_start(s, &s->nodes[k]);
        if (rc)
            goto out;
    }
    for (int k = 0; k < SIM_CALM_REQS; k++)
        s->creqs[k].state = 0;
    ev_push(s, sim_range(s, 1, 300), EV_CLIENT, 0, 0, NULL);
    if (o->faults)
        ev_push(s, sim_range(s, 5 * SIM_TICK, 30 * SIM_TICK), EV_FAULT, 0, 0, NULL);
    if (o->steps == 0)
        enter_calm(s);
    while (!s->failed && s->n_heap) {
        struct event e = ev_pop(s);
        if (ev_stale(s, &e)) {
            free(e.msg);
            continue;
        }
        if ((e.kind == EV_TICK || e.kind == EV_DELIVER || e.kind == EV_FSYNC ||
             e.kind == EV_REPORT) &&
            s->nodes[e.node].up && s->nodes[e.node].paused_until > e.at) {
            /* the paused process handles it when it wakes; its ticks are lost */
            if (e.kind == EV_TICK)
                ev_push(s, s->nodes[e.node].paused_until + sim_below(s, SIM_TICK), e.kind, e.node,
                        e.gen, NULL);
            else
                ev_push(s, s->nodes[e.node].paused_until + sim_below(s, 10), e.kind, e.node, e.gen,
                        e.msg);
            continue;
        }
        s->now = e.at;
        s->step++;
        on_event(s, &e);
        free(e.msg);
        if (!s->failed)
            check_step(s);
        if (s->failed)
            break;
        if (!s->calm && s->step >= o->steps)
            enter_calm(s);
        if (s->calm && !s->failed) {
            if (calm_done(s)) {
                res->calm_ticks = (s->now - s->calm_start) / SIM_TICK;
                break;
            }
            if (s->now > s->calm_deadline) {
                liveness_fail(s);
                break;
            }
            /* a calm cluster needs a few dozen events per tick; far more is a storm */
            uint64_t calm_ticks = calm_bound(s);
            if (s->step - s->calm_step > calm_ticks * s->n * 40) {
                liveness_fail(s);
                snprintf(s->res->what + strlen(s->res->what),
                         sizeof(s->res->what) - strlen(s->res->what),
                         " [message storm: %" PRIu64 " steps in %" PRIu64 " ticks]",
                         s->step - s->calm_step, (s->now - s->calm_start) / SIM_TICK);
                break;
            }
        }
    }
    rc = s->err;
out:
    res->failed = s->failed;
    res->steps = s->step;
    res->ticks = s->now / SIM_TICK;
    sim_free(s);
    free(s);
    return rc;
}

int sim_faults_parse(const char *str, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {
        {"all", SIM_FAULT_ALL},         {"none", 0},
        {"drop", SIM_FAULT_DROP},       {"dup", SIM_FAULT_DUP},
        {"reorder", SIM_FAULT_REORDER}, {"partition", SIM_FAULT_PARTITION},
        {"oneway", SIM_FAULT_ONEWAY},   {"crash", SIM_FAULT_CRASH},
        {"torn", SIM_FAULT_TORN},       {"pause", SIM_FAULT_PAUSE},
    };
    unsigned bits = 0;
    const char *p = str;
    while (p && *p) {
        size_t len = strcspn(p, ",");
        bool found = false;
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            if (strlen(names[k].name) == len && strncmp(p, names[k].name, len) == 0) {
                bits |= names[k].bit;
                found = true;
            }
        }
        if (!found)
            return LT_EINVAL;
        p += len;
        if (*p == ',')
            p++;
    }
    if (!str)
        return LT_EINVAL;
    *out = bits;
    return 0;
}

int sim_inject_parse(const char *str, enum sim_inject *out)
{
    static const char *names[] = {"none", "apply", "early", "leader", "read", "lie"};
    for (size_t k = 0; str && k < sizeof(names) / sizeof(names[0]); k++) {
        if (strcmp(str, names[k]) == 0) {
            *out = (enum sim_inject)k;
            return 0;
        }
    }
    return LT_EINVAL;
}
