/* log.c — the core's in-memory Raft log: a contiguous array of entries with a snapshot
 * offset, appended at the tail, truncated on conflict (§5.3) and compacted at the head
 * after a snapshot (§7). It knows nothing about roles or messages, and never touches a
 * disk: what must be persisted is handed out by raft_ready() from `unstable` on.
 *
 * Each entry's payload is one malloc'd copy owned by the log; dropped payloads go to the
 * core's grave (raft.c) so that updates and messages handed out stay valid. */
#include <stdlib.h>
#include <string.h>

#include "lt_err.h"
#include "raft_int.h"

void raft_log_init(struct raft_log *l)
{
    memset(l, 0, sizeof(*l));
    l->start = 1;
    l->unstable = 1;
}

void raft_log_fini(struct raft_log *l)
{
    for (size_t i = 0; i < l->n; i++)
        free((void *)l->ents[l->head + i].data.base);
    free(l->ents);
    memset(l, 0, sizeof(*l));
}

uint64_t raft_log_last(const struct raft_log *l)
{
    return l->start + l->n - 1;
}

const struct raft_entry *raft_log_at(const struct raft_log *l, uint64_t index)
{
    if (index < l->start || index > raft_log_last(l))
        return NULL;
    return &l->ents[l->head + (index - l->start)];
}

int raft_log_term(const struct raft_log *l, uint64_t index, uint64_t *term)
{
    if (index == l->snap.index) {
        *term = l->snap.term;
        return 0;
    }
    if (index > raft_log_last(l))
        return LT_ENOTFOUND;
    if (index < l->start)
        return index == 0 ? (*term = 0, 0) : LT_ECOMPACTED;
    *term = l->ents[l->head + (index - l->start)].term;
    return 0;
}

uint64_t raft_log_last_term(const struct raft_log *l)
{
    uint64_t t = 0;
    (void)raft_log_term(l, raft_log_last(l), &t);
    return t;
}

bool raft_log_match_term(const struct raft_log *l, uint64_t index, uint64_t term)
{
    uint64_t t;
    return raft_log_term(l, index, &t) == 0 && t == term;
}

/* raft_log_is_up_to_date: the election restriction (§5.4.1): a candidate's log is at
 * least as up-to-date as ours if its last term is higher, or equal with an index at
 * least as long. */
bool raft_log_is_up_to_date(const struct raft_log *l, uint64_t last_index, uint64_t last_term)
{
    uint64_t my_term = raft_log_last_term(l);
    return last_term > my_term || (last_term == my_term && last_index >= raft_log_last(l));
}

/* raft_log_reserve makes room for `k` more entries at the tail. The array is moved or
 * grown freely: updates hold copies of the entry headers, never pointers into it. */
static int raft_log_reserve(struct raft_log *l, size_t k)
{
    if (l->head + l->n + k <= l->cap)
        return 0;
    if (l->head > 0 && l->n + k <= l->cap / 2) {
        memmove(l->ents, l->ents + l->head, l->n * sizeof(*l->ents));
        l->head = 0;
        return 0;
    }
    size_t cap = l->cap ? l->cap : 64;
    while (cap < l->n + k)
        cap *= 2;
    if (cap < l->cap)
        cap = l->cap;
    struct raft_entry *v;
    if (l->head == 0) {
        v = realloc(l->ents, cap * sizeof(*v));
        if (!v)
            return LT_ENOMEM;
    } else {
        v = malloc(cap * sizeof(*v));
        if (!v)
            return LT_ENOMEM;
        if (l->n)
            memcpy(v, l->ents + l->head, l->n * sizeof(*v));
        free(l->ents);
    }
    l->ents = v;
    l->cap = cap;
    l->head = 0;
    return 0;
}

int raft_log_append(struct raft *r, const struct raft_entry *e, size_t n)
{
    struct raft_log *l = &r->log;
    int err = raft_log_reserve(l, n);
    if (err)
        return err;
    size_t done = 0;
    for (; done < n; done++) {
        struct raft_entry *d = &l->ents[l->head + l->n + done];
        *d = e[done];
        d->index = raft_log_last(l) + 1 + done;
        if (e[done].data.len > 0) {
            void *p = malloc(e[done].data.len);
            if (!p) {
                err = LT_ENOMEM;
                break;
            }
            memcpy(p, e[done].data.base, e[done].data.len);
            d->data.base = p;
        } else {
            d->data.base = NULL;
            d->data.len = 0;
        }
    }
    if (err) {
        for (size_t i = 0; i < done; i++)
            free((void *)l->ents[l->head + l->n + i].data.base);
        return err;
    }
    l->n += n;
    return 0;
}

int raft_log_adopt(struct raft *r, const struct raft_entry *e, size_t n)
{
    struct raft_log *l = &r->log;
    int err = raft_log_reserve(l, n);
    if (err)
        return err;
    for (size_t i = 0; i < n; i++) {
        struct raft_entry *d = &l->ents[l->head + l->n + i];
        *d = e[i];
        d->index = raft_log_last(l) + 1 + i;
        if (d->data.len == 0) {
            free((void *)d->data.base); /* ours as well, and nothing to keep */
            d->data.base = NULL;
        }
    }
    l->n += n;
    return 0;
}

static void raft_log_bury(struct raft *r, struct raft_entry *e)
{
    if (e->data.base && raft_grave_add(r, (void *)e->data.base) != 0) {
        /* Out of memory for the grave: leak rather than risk a dangling pointer. */
    }
    e->data.base = NULL;
}

void raft_log_truncate(struct raft *r, uint64_t index)
{
    struct raft_log *l = &r->log;
    if (index < l->start)
        index = l->start;
    uint64_t last = raft_log_last(l);
    if (index > last)
        return;
    for (uint64_t i = index; i <= last; i++)
        raft_log_bury(r, &l->ents[l->head + (i - l->start)]);
    l->n = index - l->start;
    if (l->unstable > index)
        l->unstable = index;
    if (l->persisted >= index)
        l->persisted = index - 1;
}

void raft_log_compact(struct raft *r, uint64_t index)
{
    struct raft_log *l = &r->log;
    uint64_t last = raft_log_last(l);
    if (index > last + 1)
        index = last + 1;
    if (index <= l->start)
        return;
    (void)raft_grave_reserve(r, index - l->start); /* on failure the adds below say so */
    for (uint64_t i = l->start; i < index; i++)
        raft_log_bury(r, &l->ents[l->head + (i - l->start)]);
    size_t k = index - l->start;
    l->head += k;
    l->n -= k;
    l->start = index;
    if (l->n == 0)
        l->head = 0;
}

void raft_log_restore(struct raft *r, const struct raft_snapshot_meta *snap)
{
    struct raft_log *l = &r->log;
    raft_log_truncate(r, l->start);
    l->head = 0;
    l->n = 0;
    l->snap = *snap;
    l->start = snap->index + 1;
    l->unstable = snap->index + 1;
    if (l->persisted > snap->index)
        l->persisted = snap->index;
    l->commit = snap->index;
    l->applying = snap->index;
    l->applied = snap->index; /* installing the snapshot applies it */
}

uint64_t raft_log_find_conflict_by_term(const struct raft_log *l, uint64_t index, uint64_t term)
{
    uint64_t last = raft_log_last(l);
    if (index > last)
        index = last;
    for (;;) {
        uint64_t t;
        if (raft_log_term(l, index, &t) != 0 || t <= term)
            return index;
        if (index == 0)
            return 0;
        index--;
    }
}
