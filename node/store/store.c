/* store.c — the state machine every replica applies committed commands to.
 *
 * Layout, per model (one `struct mstate`):
 *
 *   ht      cds_lfht: primary key → struct rec. Lookups by key in O(1) for readers.
 *   order   an RCU skip list of every record in primary-key order (lists, pagination,
 *           digests, snapshots and purge walk it).
 *   ix[i]   per indexed field: an RCU skip list ordered by (field value, primary key);
 *           the entries of one value share its count (struct ixcount), found by seeking
 *           the value's first entry (a hash table of values was as large as the store for
 *           an index like name, and its cold insert cost 1.5-2 us of every create).
 *
 * struct rec is the stable identity of one key: it lives from create to delete. Its
 * `cur` pointer names the current struct ver, an immutable version (serialized value,
 * version number, raft index/term, the index values and the benchmark flag). An update
 * builds a new ver and publishes it with rcu_assign_pointer(rec->cur): the same
 * single-pointer replacement cds_lfht_replace would do on the hash node, but it keeps the
 * rec — which the skip lists point to — stable. Older versions chain through ver->prev and
 * are the record's history: the chain is cut to history_depth versions on every update and
 * the cut-off version is freed after a grace period (call_rcu). A deleted record (rec,
 * entries, whole chain) is freed after a grace period too, so its history goes with it:
 * deleting is how the bounded history of a key ends (memory stays bounded under churn).
 *
 * Why skip lists for the secondary indexes (and for key order): ListRequest pages with a
 * cursor in a stable order, and a cursor must still work when the record it names has been
 * deleted. An ordered structure answers "first entry after (value, key)" in O(log n)
 * whatever happened in between; a hash keyed by (value, pk) has no order to resume from,
 * and per-value lists would need an O(n) scan to find the resume point. liburcu has no
 * ordered map, and a skip list with a single writer is simple under RCU: the writer
 * links a new entry bottom-up after initialising its next pointers and unlinks top-down
 * without touching the removed entry's own pointers, so a reader standing on any entry,
 * removed or not, always moves forward to larger keys through memory that a grace period
 * keeps alive. Heights come from a hash of the key, so even the layout is deterministic.
 *
 * Readers see each record atomically (one ver); a page is not a snapshot across
 * records. A record met through an index entry is checked against the searched value
 * (a concurrent update may have moved it), so a page never shows a record that no longer
 * matches.
 *
 * Snapshot format (all integers little-endian):
 *   "LTSTORE3"  u32 n_models
 *   per model:  u16 name_len, name, u16 n_indexes, per index: u16 len, field name,
 *               u64 n_records
 *     per index: n_records x u32, each record's position in that index's order (records
 *                in key order), so a restore appends instead of searching
 *     per record (increasing key order): u32 key_len, key, u32 n_versions
 *       per version, oldest first: u8 op, u8 bench, u64 version, u64 raft_index,
 *                                  u64 raft_term, u32 ix_len, u32 len,
 *                                  ix_len bytes of index values (NUL-terminated, in the
 *                                  model's index order), len value bytes
 *   u64 applied_index, u64 applied_term, u32 CRC32C of every byte before it.
 * A version is stored as it lives in memory (struct ver's data), so a restore copies it
 * back (or points at it in a mapped file) without decoding the message; only when the
 * snapshot's indexes differ from the model table's are the values decoded and the index
 * values computed again, and the indexes built by search. "LTSTORE2" is the same without
 * the positions; it is still read. */
#include "store.h"

#include <assert.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu.h>
#include <urcu/rculfhash.h>
#include <urcu/uatomic.h>

#include "crc32c.h"
#include "urcu_tsan.h"
#include "lt_cpu.h"
#include "lt_err.h"

#define SL_MAX       20 /* skip list levels: 4^20 entries before heights saturate */
#define IXVAL_MAX    512
#define LIST_DEFAULT 100
#define LIST_MAX     1000
/* A page ends before the record that would take its values past this many bytes (it holds
 * one record at least): 1000 records of the largest size (~70 KB for an item) made a reply
 * over the 64 MiB an RPC client takes, which it dropped (QA: the gateway answered 503 "no
 * node is reachable" and opened healthy nodes' circuit breakers). */
#define LIST_MAX_BYTES    (8u << 20)
#define SNAP_MAGIC        "LTSTORE3"
#define SNAP_MAGIC_V2     "LTSTORE2" /* read: no index positions */
#define SNAP_KEY_MAX      4096
#define SNAP_VALUE_MAX    (64u << 20)
#define SNAP_VERSIONS_MAX 64 /* models keep at most this many versions */
#define HISTORY_TRIES     64 /* store_history walks again after a concurrent update */

#if defined(__SANITIZE_THREAD__)
char lt_tsan_gp;
#endif

/* One immutable version of a record. */
struct ver {
    struct rcu_head rcu;
    struct ver *prev; /* older version (history), RCU-published; NULL at the end */
    uint64_t version;
    uint64_t raft_index;
    uint64_t raft_term;
    uint32_t len;    /* value bytes */
    uint32_t ix_len; /* bytes of index values (NUL-terminated, in index order) */
    uint8_t op;      /* STORE_OP_CREATE / STORE_OP_UPDATE */
    uint8_t bench;   /* the benchmark flag is set */
    uint8_t ext;     /* data holds a struct ver_ref instead of the bytes themselves */
    /* index values, then the value (or a struct ver_ref). Pointer-aligned (it costs no
     * byte: sizeof(struct ver) was padded to it already) so that a ver_ref's pointers are
     * where LeakSanitizer looks for them: the store a node leaves at exit (store_abandon)
     * is reachable, and unaligned, the mapping's store_mem looked leaked and the node's
     * sanitized build exited 1 after every clean stop that followed a restore. */
    _Alignas(void *) uint8_t data[];
};
_Static_assert(offsetof(struct ver, data) == sizeof(struct ver), "no padding after data");

/* Memory a restore borrowed instead of copying (a snapshot file mapped read-only, see
 * store_snapshot_load): every version read from it points into it and holds a reference;
 * the last one freed releases it. */
struct store_mem {
    void (*release)(void *ctx);
    void *ctx;
    unsigned long refs;
};

/* What an `ext` version's data holds (read and written with memcpy). */
struct ver_ref {
    const uint8_t *bytes; /* index values, then the value, inside mem */
    struct store_mem *mem;
};

/* One key, from create to delete. */
struct rec {
    struct cds_lfht_node node;
    union {
        struct rcu_head rcu;    /* once unlinked (call_rcu) */
        struct rec *grave_next; /* deleted while a snapshot is pinned: the model's graveyard */
    };
    struct ver *cur; /* RCU-published current version */
    char key[];
};

/* An entry of a skip list: (value, rec->key) is its sort key; the value ("" in the
 * primary order list) is stored right after next[height] (entry_val), followed by a copy
 * of the key (entry_key) so a comparison never has to load the record: a skip-list walk
 * touches one cache line per step instead of two. */
struct sl_entry {
    struct rcu_head rcu;
    struct rec *rec;
    struct ixcount *cnt; /* secondary indexes: the count of this entry's value, shared by the
                          * entries of one value (set before the entry is published) */
    uint8_t height;
    uint16_t key_off; /* entry_key(e) == entry_val(e) + key_off */
    struct sl_entry *next[];
};

struct sl {
    struct sl_entry *head[SL_MAX];
    /* The writer's finger (never read by readers): finger[i] is the last entry before the
     * most recent insert at level i (the inserted entry itself below its height), NULL for
     * the head. Keys that arrive in increasing order — generated keys are time-ordered —
     * then insert in O(1) of hot cache lines instead of O(log n) misses. Every finger entry
     * is in the list: sl_remove moves a finger off an entry it unlinks. */
    struct sl_entry *finger[SL_MAX];
};

/* Count of the records whose indexed field has one value; its entries (adjacent in the
 * index) point at it, and a lookup seeks the value's first entry (ixcount_lookup). */
struct ixcount {
    struct rcu_head rcu;
    uint64_t count;
    uint64_t bench;
    char val[];
};

struct ixstate {
    const ProtobufCFieldDescriptor *fd;
    struct sl list;
};

struct mstate {
    const struct model *def;
    const ProtobufCFieldDescriptor *pk, *version, *created_at, *updated_at;
    struct cds_lfht *ht;
    struct sl order;
    size_t n_ix;
    struct ixstate ix[MODELS_MAX_INDEXES];
    uint64_t count; /* written by the applier, read with CMM_LOAD_SHARED */
    uint64_t bench;
    size_t buckets; /* what state_resize last asked ht for */
    size_t rz_want; /* atomic: the size asked of the resizer thread */
    size_t rz_done; /* the resizer's: what it resized ht to */
    /* While a snapshot is pinned (store_snapshot_begin .. store_snapshot_end; applier
     * only): every version current at `pin` and the history_depth - 1 before it are kept,
     * and a record that existed at `pin` and is deleted goes to `grave` (RCU-published for
     * the snapshot's thread) instead of being freed. */
    bool pinned;
    uint64_t pin;
    struct rec *grave;
    struct bulk *bulk; /* during store_bulk_begin .. _end: index work goes to its thread */
};

struct state {
    size_t n;
    struct mstate m[];
};

struct store {
    struct state *st; /* RCU-published: a restore swaps the whole state */
    uint64_t applied_index;
    uint64_t applied_term;
    struct store_snap *snap; /* the pinned snapshot, if any (applier only) */
    /* The resizer thread grows the published state's hash tables (see state_resize_async);
     * rz_busy while it works on s->st, which a restore swaps only when it is not. */
    pthread_t rz_thread;
    bool rz_started;
    pthread_mutex_t rz_mu;
    pthread_cond_t rz_cv;
    bool rz_pending, rz_busy, rz_stop; /* under rz_mu */
    struct bulk *bulk;                 /* a bulk apply in progress (applier only) */
};

/* ---- allocation ----
 *
 * Every allocation goes through these so that (1) a failed decode can tell out-of-memory
 * from corrupt input — answering LT_EINVAL for an entry the other replicas accept would
 * make this replica diverge — and (2) tests can make the n-th allocation fail
 * (store_fault_inject). */

static int fault_countdown;             /* > 0: the countdown-th allocation fails */
static _Thread_local bool alloc_failed; /* an allocation failed since it was cleared */

static bool fault_hit(void) /* a restore allocates on two threads */
{
    return __atomic_load_n(&fault_countdown, __ATOMIC_RELAXED) > 0 &&
           __atomic_sub_fetch(&fault_countdown, 1, __ATOMIC_RELAXED) == 0;
}

static void *st_malloc(size_t n)
{
    void *p = fault_hit() ? NULL : malloc(n);
    if (p == NULL)
        alloc_failed = true;
    return p;
}

static void *st_realloc(void *old, size_t n)
{
    void *p = fault_hit() ? NULL : realloc(old, n);
    if (p == NULL)
        alloc_failed = true;
    return p;
}

static void *st_calloc(size_t n, size_t size)
{
    void *p = fault_hit() ? NULL : calloc(n, size);
    if (p == NULL)
        alloc_failed = true;
    return p;
}

static char *st_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = st_malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void *pb_malloc(void *data, size_t n)
{
    (void)data;
    return st_malloc(n);
}

static void pb_free(void *data, void *p)
{
    (void)data;
    free(p);
}

/* protobuf-c allocator for everything store.c decodes: plain malloc/free underneath, so
 * models_set_* (malloc) and free_unpacked mix freely. */
static ProtobufCAllocator pb_alloc = {pb_malloc, pb_free, NULL};

void store_fault_inject(int nth)
{
    __atomic_store_n(&fault_countdown, nth, __ATOMIC_RELAXED);
}

/* ---- hashing ---- */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= FNV_PRIME;
    }
    return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return fnv_bytes(h, b, 8);
}

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static unsigned long hash_str(const char *s)
{
    return (unsigned long)mix64(fnv_bytes(FNV_OFFSET, s, strlen(s)));
}

/* ---- versions and records ---- */

static void mem_unref(struct store_mem *m)
{
    if (m != NULL && uatomic_sub_return(&m->refs, 1) == 0) {
        m->release(m->ctx);
        free(m);
    }
}

static const uint8_t *ver_bytes(const struct ver *v)
{
    struct ver_ref r;
    if (!v->ext)
        return v->data;
    memcpy(&r, v->data, sizeof(r));
    return r.bytes;
}

static void ver_free(struct ver *v)
{
    if (v->ext) {
        struct ver_ref r;
        memcpy(&r, v->data, sizeof(r));
        mem_unref(r.mem);
    }
    free(v);
}

static const char *ver_ixval(const struct ver *v, size_t i)
{
    const char *p = (const char *)ver_bytes(v);
    while (i-- > 0)
        p += strlen(p) + 1;
    return p;
}

static const uint8_t *ver_value(const struct ver *v)
{
    return ver_bytes(v) + v->ix_len;
}

static void ver_free_chain(struct ver *v)
{
    while (v != NULL) {
        struct ver *prev = v->prev;
        ver_free(v);
        v = prev;
    }
}

/* ver_at: the version of the chain from `v` that was current at log index `pin` (the
 * newest with raft_index <= pin), NULL if the record did not exist yet. Versions are
 * chained newest first, so their raft indexes decrease down the chain. */
static struct ver *ver_at(struct ver *v, uint64_t pin)
{
    while (v != NULL && v->raft_index > pin)
        v = rcu_dereference(v->prev);
    return v;
}

/* hist_depth: how many versions of a record `ms` shows and writes (at least 1). */
static unsigned hist_depth(const struct mstate *ms)
{
    unsigned d = ms->def->history_depth > 0 ? ms->def->history_depth : 1;
    return d < SNAP_VERSIONS_MAX ? d : SNAP_VERSIONS_MAX;
}

static void ver_free_rcu(struct rcu_head *h)
{
    LT_TSAN_CB_BEGIN();
    ver_free(caa_container_of(h, struct ver, rcu));
    LT_TSAN_CB_END();
}

static void rec_free_rcu(struct rcu_head *h)
{
    struct rec *r = caa_container_of(h, struct rec, rcu);
    LT_TSAN_CB_BEGIN();
    ver_free_chain(r->cur);
    free(r);
    LT_TSAN_CB_END();
}

static void entry_free_rcu(struct rcu_head *h)
{
    LT_TSAN_CB_BEGIN();
    free(caa_container_of(h, struct sl_entry, rcu));
    LT_TSAN_CB_END();
}

static void ixcount_free_rcu(struct rcu_head *h)
{
    LT_TSAN_CB_BEGIN();
    free(caa_container_of(h, struct ixcount, rcu));
    LT_TSAN_CB_END();
}

static int rec_match(struct cds_lfht_node *node, const void *key)
{
    LT_TSAN_ACQUIRE(node);
    return strcmp(caa_container_of(node, struct rec, node)->key, key) == 0;
}

/* rec_lookup: call inside an RCU read-side section. */
static struct rec *rec_lookup(struct mstate *ms, const char *key)
{
    struct cds_lfht_iter it;
    struct cds_lfht_node *n;
    cds_lfht_lookup(ms->ht, hash_str(key), rec_match, key, &it);
    n = cds_lfht_iter_get_node(&it);
    return n != NULL ? caa_container_of(n, struct rec, node) : NULL;
}

static struct store_record *record_copy(const struct ver *v, enum store_op op, uint64_t index,
                                        uint64_t term)
{
    struct store_record *r = st_malloc(sizeof(*r) + v->len);
    if (r == NULL)
        return NULL;
    r->version = v->version;
    r->raft_index = index;
    r->raft_term = term;
    r->op = op;
    r->len = v->len;
    memcpy(r->value, ver_value(v), v->len);
    return r;
}

static struct store_record *record_of(const struct ver *v)
{
    return record_copy(v, (enum store_op)v->op, v->raft_index, v->raft_term);
}

void store_record_free(struct store_record *r)
{
    free(r);
}

/* ---- skip lists (one writer, RCU readers) ---- */

static const char *entry_val(const struct sl_entry *e)
{
    return (const char *)&e->next[e->height];
}

static const char *entry_key(const struct sl_entry *e)
{
    return entry_val(e) + e->key_off;
}

static int entry_cmp(const struct sl_entry *e, const char *val, const char *key)
{
    int c = strcmp(entry_val(e), val);
    return c != 0 ? c : strcmp(entry_key(e), key);
}

static unsigned sl_height(const char *val, const char *key)
{
    uint64_t h = mix64(fnv_bytes(fnv_bytes(FNV_OFFSET, val, strlen(val) + 1), key, strlen(key)));
    unsigned height = 1;
    while ((h & 3) == 0 && height < SL_MAX) {
        height++;
        h >>= 2;
    }
    return height;
}

static struct sl_entry *sl_entry_new(struct rec *r, const char *val)
{
    unsigned h = sl_height(val, r->key);
    size_t vlen = strlen(val) + 1, klen = strlen(r->key) + 1;
    if (vlen > UINT16_MAX)
        return NULL;
    struct sl_entry *e = st_malloc(sizeof(*e) + h * sizeof(e->next[0]) + vlen + klen);
    if (e == NULL)
        return NULL;
    e->rec = r;
    e->cnt = NULL;
    e->height = (uint8_t)h;
    e->key_off = (uint16_t)vlen;
    memcpy(&e->next[h], val, vlen);
    memcpy((char *)&e->next[h] + vlen, r->key, klen);
    return e;
}

/* sl_slot: the address of the level-i next pointer of x (NULL = the head). */
static struct sl_entry **sl_slot(struct sl *l, struct sl_entry *x, unsigned i)
{
    return x != NULL ? &x->next[i] : &l->head[i];
}

/* sl_seek_after (readers, inside an RCU read-side section): the first entry greater than
 * (val, key), NULL if none. It returns the level-0 successor it compared, never a second
 * read of that pointer: the writer may have linked (val, key) itself there in between (a
 * key deleted and created again), and a page resuming after a key would repeat it. */
static struct sl_entry *sl_seek_after(struct sl *l, const char *val, const char *key)
{
    struct sl_entry *x = NULL, *n = NULL;
    for (int i = SL_MAX - 1; i >= 0; i--) {
        for (;;) {
            n = rcu_dereference(*sl_slot(l, x, (unsigned)i));
            if (n == NULL || entry_cmp(n, val, key) > 0)
                break;
            x = n;
        }
    }
    return n;
}

static struct sl_entry *sl_next(struct sl_entry *e)
{
    return rcu_dereference(e->next[0]);
}

/* sl_preds (writer): preds[i] = last entry before (val, key) at level i. At each level
 * the walk starts from the finger instead when it is before the target and ahead of where
 * the level above left off: a walk from any entry before the target ends at the same
 * place, so the finger changes the cost, never the result. */
static void sl_preds(struct sl *l, const char *val, const char *key, struct sl_entry **preds)
{
    struct sl_entry *x = NULL;
    for (int i = SL_MAX - 1; i >= 0; i--) {
        struct sl_entry *f = l->finger[i];
        if (f != NULL && f != x && entry_cmp(f, val, key) < 0 &&
            (x == NULL || entry_cmp(f, entry_val(x), entry_key(x)) > 0))
            x = f;
        for (;;) {
            struct sl_entry *n = *sl_slot(l, x, (unsigned)i);
            if (n == NULL || entry_cmp(n, val, key) >= 0)
                break;
            x = n;
        }
        preds[i] = x;
    }
}

/* sl_link (writer) links `e` after preds (sl_preds of e's own value and key). */
static void sl_link(struct sl *l, struct sl_entry *e, struct sl_entry **preds)
{
    for (unsigned i = 0; i < e->height; i++)
        e->next[i] = *sl_slot(l, preds[i], i);
    for (unsigned i = 0; i < e->height; i++)
        rcu_assign_pointer(*sl_slot(l, preds[i], i), e);
    for (unsigned i = 0; i < SL_MAX; i++)
        l->finger[i] = i < e->height ? e : preds[i];
}

/* sl_insert (writer) links `e`. */
static void sl_insert(struct sl *l, struct sl_entry *e)
{
    struct sl_entry *preds[SL_MAX];
    sl_preds(l, entry_val(e), entry_key(e), preds);
    sl_link(l, e, preds);
}

/* sl_remove (writer) unlinks the entry (val, key) and returns it; the caller frees it after
 * a grace period. Its own next pointers stay as they are for readers standing on it. */
static struct sl_entry *sl_remove(struct sl *l, const char *val, const char *key)
{
    struct sl_entry *preds[SL_MAX];
    struct sl_entry *e;
    sl_preds(l, val, key, preds);
    e = *sl_slot(l, preds[0], 0);
    if (e == NULL || entry_cmp(e, val, key) != 0)
        return NULL;
    for (int i = (int)e->height - 1; i >= 0; i--) {
        struct sl_entry **slot = sl_slot(l, preds[i], (unsigned)i);
        if (*slot == e)
            rcu_assign_pointer(*slot, e->next[i]);
    }
    for (unsigned i = 0; i < SL_MAX; i++) {
        if (l->finger[i] == e)
            l->finger[i] = preds[i];
    }
    return e;
}

/* ---- per-value counts ---- */

/* ixcount_lookup: the count of `val` in ix (NULL: no record has it), held by the value's
 * first entry — keys are never empty, so (val, "") sorts just before it. A seek in the
 * index instead of a hash table of values: a value-per-record index (a name) would keep
 * a second table as large as the store, and pay a cold insert into it per create. Inside
 * an RCU read-side section (or the writer). */
static struct ixcount *ixcount_lookup(struct ixstate *ix, const char *val)
{
    struct sl_entry *e = sl_seek_after(&ix->list, val, "");
    return e != NULL && strcmp(entry_val(e), val) == 0 ? CMM_LOAD_SHARED(e->cnt) : NULL;
}

static struct ixcount *ixcount_new(const char *val)
{
    size_t n = strlen(val) + 1;
    struct ixcount *c = st_malloc(sizeof(*c) + n);
    if (c == NULL)
        return NULL;
    c->count = 0;
    c->bench = 0;
    memcpy(c->val, val, n);
    return c;
}

/* A hash-table insert put off until the end of a restore (see pending_flush). */
struct pend {
    unsigned long hash;
    struct cds_lfht_node *node;
};

struct pending {
    struct pend *v; /* NULL: insert at once */
    size_t n, cap;
};

/* pending_push defers adding `node` to `ht` (no room to be made: added now). */
static void pending_push(struct pending *p, struct cds_lfht *ht, unsigned long hash,
                         struct cds_lfht_node *node)
{
    if (p->v != NULL && p->n == p->cap) {
        struct pend *grown = realloc(p->v, 2 * p->cap * sizeof(*grown));
        if (grown != NULL) {
            p->v = grown;
            p->cap *= 2;
        }
    }
    if (p->v != NULL && p->n < p->cap) {
        p->v[p->n++] = (struct pend){hash, node};
    } else {
        rcu_read_lock(); /* nests in the caller's, if any */
        cds_lfht_add(ht, hash, node);
        rcu_read_unlock();
    }
}

/* ix_link (writer) links entry `e` into ix's list and counts it (bench: benchmark data).
 * Entries with one value are adjacent in the list, so the value is counted already iff a
 * neighbour of `e` has it, and the count is that neighbour's: no lookup. A value not
 * counted yet takes `*spare` as its count (a restore passes none: one is made, and without
 * memory it returns LT_ENOMEM, `e` linked but not counted: the unpublished state is
 * dropped). The count is set before `e` is published (readers find counts in entries). */
static int ix_link(struct ixstate *ix, struct sl_entry *e, bool bench, struct ixcount **spare)
{
    struct sl_entry *preds[SL_MAX];
    sl_preds(&ix->list, entry_val(e), entry_key(e), preds);
    struct sl_entry *pred = preds[0], *succ = *sl_slot(&ix->list, pred, 0);
    struct ixcount *c = NULL;
    if (pred != NULL && strcmp(entry_val(pred), entry_val(e)) == 0)
        c = pred->cnt;
    else if (succ != NULL && strcmp(entry_val(succ), entry_val(e)) == 0)
        c = succ->cnt;
    if (c == NULL) {
        c = *spare != NULL ? *spare : ixcount_new(entry_val(e));
        *spare = NULL;
        assert(c == NULL || strcmp(c->val, entry_val(e)) == 0);
    }
    e->cnt = c;
    sl_link(&ix->list, e, preds);
    if (c == NULL)
        return LT_ENOMEM;
    CMM_STORE_SHARED(c->count, c->count + 1);
    if (bench)
        CMM_STORE_SHARED(c->bench, c->bench + 1);
    return 0;
}

/* ixcount_sub (writer) takes one record (bench: benchmark data) off count `c`; the last
 * one frees it after a grace period (the entries pointing at it are gone by then). */
static void ixcount_sub(struct ixcount *c, bool bench)
{
    assert(c != NULL && c->count > 0);
    if (c == NULL)
        return;
    CMM_STORE_SHARED(c->count, c->count - 1);
    if (bench)
        CMM_STORE_SHARED(c->bench, c->bench - 1);
    if (c->count == 0)
        call_rcu(&c->rcu, ixcount_free_rcu);
}

/* ix_unlink (writer) removes (val, key) from ix's list and count; the entry is freed after
 * a grace period. */
static void ix_unlink(struct ixstate *ix, const char *val, const char *key, bool bench)
{
    struct sl_entry *gone = sl_remove(&ix->list, val, key);
    ixcount_sub(gone != NULL ? gone->cnt : ixcount_lookup(ix, val), bench);
    if (gone != NULL)
        call_rcu(&gone->rcu, entry_free_rcu);
}

/* ---- index work, done at once or by a bulk apply's index thread ---- */

/* One change to a secondary index, in log order. */
struct ixop {
    enum { IXOP_LINK, IXOP_UNLINK, IXOP_BENCH } kind;
    bool bench;            /* LINK, UNLINK: the record's benchmark flag; BENCH: the new one */
    struct ixstate *ix;    /* the index */
    struct sl_entry *e;    /* LINK: the entry, made by the applier */
    struct ixcount *cnt;   /* LINK: its spare count (freed if a neighbour has the value) */
    const char *val, *key; /* UNLINK, BENCH: in a version and a record that a grace period
                            * keeps (the index thread stays in a read-side section) */
};

static void ixop_do(const struct ixop *op)
{
    struct ixcount *spare = op->cnt, *c;
    switch (op->kind) {
    case IXOP_LINK:
        (void)ix_link(op->ix, op->e, op->bench, &spare); /* has its spare */
        free(spare);
        break;
    case IXOP_UNLINK:
        ix_unlink(op->ix, op->val, op->key, op->bench);
        break;
    case IXOP_BENCH:
        if ((c = ixcount_lookup(op->ix, op->val)) != NULL)
            CMM_STORE_SHARED(c->bench, op->bench ? c->bench + 1 : c->bench - 1);
        break;
    }
}

/* A bulk apply (store_bulk_begin): the applier queues the index work, in order, for a
 * thread that does it; ixops in a ring, handed over BULK_BATCH at a time. */
#define BULK_CAP   8192
#define BULK_BATCH 64

struct bulk {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t nonempty, nonfull, ready;
    struct ixop q[BULK_CAP];
    size_t head, n;
    bool done, locked;             /* under mu */
    struct ixop batch[BULK_BATCH]; /* the applier's, not yet handed over */
    size_t n_batch;
};

static void bulk_flush(struct bulk *b)
{
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->n_batch; i++) {
        while (b->n == BULK_CAP)
            pthread_cond_wait(&b->nonfull, &b->mu);
        b->q[(b->head + b->n++) % BULK_CAP] = b->batch[i];
    }
    pthread_cond_signal(&b->nonempty);
    pthread_mutex_unlock(&b->mu);
    b->n_batch = 0;
}

static void *bulk_main(void *arg)
{
    struct bulk *b = arg;
    struct ixop ops[BULK_BATCH];
    (void)lt_cpu_background("bulk-index"); /* a second CPU's worth of work, if there is one */
    rcu_register_thread();
    /* One read-side section for the whole bulk: what the queued ops point into (old
     * versions, deleted records) is freed after a grace period, so not before this ends. */
    rcu_read_lock();
    pthread_mutex_lock(&b->mu);
    b->locked = true;
    pthread_cond_signal(&b->ready);
    for (;;) {
        while (b->n == 0 && !b->done)
            pthread_cond_wait(&b->nonempty, &b->mu);
        if (b->n == 0)
            break;
        size_t k = 0;
        for (; k < BULK_BATCH && b->n > 0; k++, b->n--) {
            ops[k] = b->q[b->head];
            b->head = (b->head + 1) % BULK_CAP;
        }
        pthread_cond_signal(&b->nonfull);
        pthread_mutex_unlock(&b->mu);
        for (size_t i = 0; i < k; i++)
            ixop_do(&ops[i]);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    rcu_read_unlock();
    rcu_unregister_thread();
    return NULL;
}

/* ixop_run does `op` at once, or queues it for the bulk apply's index thread. */
static void ixop_run(struct mstate *ms, struct ixop op)
{
    struct bulk *b = ms->bulk;
    if (b == NULL) {
        ixop_do(&op);
        return;
    }
    b->batch[b->n_batch++] = op;
    if (b->n_batch == BULK_BATCH)
        bulk_flush(b);
}

/* ---- model states ---- */

static void mstate_destroy(struct mstate *ms)
{
    struct sl_entry *e, *next;
    if (ms->ht == NULL)
        return;
    /* No reader can reach this state any more: unlink from the hash table (which must be
     * empty to be destroyed), then free directly. */
    rcu_read_lock();
    for (e = ms->order.head[0]; e != NULL; e = e->next[0])
        cds_lfht_del(ms->ht, &e->rec->node);
    rcu_read_unlock();
    for (size_t i = 0; i < ms->n_ix; i++) {
        for (e = ms->ix[i].list.head[0]; e != NULL; e = next) {
            next = e->next[0];
            if (e->cnt != NULL && (next == NULL || next->cnt != e->cnt))
                free(e->cnt); /* a value's run ends: its count goes with its last entry */
            free(e);
        }
    }
    for (e = ms->order.head[0]; e != NULL; e = next) {
        next = e->next[0];
        ver_free_chain(e->rec->cur);
        free(e->rec);
        free(e);
    }
    for (struct rec *r = ms->grave, *rnext; r != NULL; r = rnext) { /* never pinned here */
        rnext = r->grave_next;
        ver_free_chain(r->cur);
        free(r);
    }
    ms->grave = NULL;
    {
        int rc = cds_lfht_destroy(ms->ht, NULL);
        assert(rc == 0);
        (void)rc;
    }
    ms->ht = NULL;
}

static void state_free(struct state *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->n; i++)
        mstate_destroy(&st->m[i]);
    free(st);
}

static int state_new(struct state **out)
{
    size_t n = models_count();
    struct state *st = st_calloc(1, sizeof(*st) + n * sizeof(st->m[0]));
    if (st == NULL)
        return LT_ENOMEM;
    st->n = n;
    for (size_t i = 0; i < n; i++) {
        struct mstate *ms = &st->m[i];
        const struct model *m = models_at(i);
        ms->def = m;
        ms->pk = models_field(m, m->pk);
        ms->version = models_field(m, m->version);
        ms->created_at = models_field(m, m->created_at);
        ms->updated_at = models_field(m, m->updated_at);
        assert(ms->pk != NULL && ms->version != NULL && ms->created_at != NULL &&
               ms->updated_at != NULL);
        ms->ht = cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
        ms->buckets = 64;
        if (ms->ht == NULL)
            goto fail;
        for (size_t j = 0; j < MODELS_MAX_INDEXES && m->indexes[j] != NULL; j++) {
            struct ixstate *ix = &ms->ix[ms->n_ix++];
            ix->fd = models_field(m, m->indexes[j]);
            assert(ix->fd != NULL);
        }
    }
    *out = st;
    return 0;
fail:
    state_free(st);
    return LT_ENOMEM;
}

static struct mstate *state_model(struct state *st, const char *name)
{
    const struct model *m = models_find(name);
    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < st->n; i++) {
        if (st->m[i].def == m)
            return &st->m[i];
    }
    return NULL;
}

/* ---- building versions ---- */

/* ver_build packs `msg` into a new version with its index values and benchmark flag. */
static int ver_build(struct mstate *ms, const ProtobufCMessage *msg, enum store_op op,
                     uint64_t index, uint64_t term, struct ver **out)
{
    char vals[MODELS_MAX_INDEXES][IXVAL_MAX];
    size_t ix_len = 0;
    size_t len = protobuf_c_message_get_packed_size(msg);
    struct ver *v;
    uint8_t *p;
    if (len > UINT32_MAX)
        return LT_ETOOBIG;
    for (size_t i = 0; i < ms->n_ix; i++) {
        int rc = models_index_value(msg, ms->ix[i].fd, vals[i], sizeof(vals[i]));
        if (rc != 0)
            return LT_EINVAL;
        ix_len += strlen(vals[i]) + 1;
    }
    v = st_malloc(sizeof(*v) + ix_len + len);
    if (v == NULL)
        return LT_ENOMEM;
    v->prev = NULL;
    v->version = models_get_uint64(msg, ms->version);
    v->raft_index = index;
    v->raft_term = term;
    v->len = (uint32_t)len;
    v->ix_len = (uint32_t)ix_len;
    v->op = (uint8_t)op;
    v->bench = models_is_benchmark(ms->def, msg);
    v->ext = 0;
    p = v->data;
    for (size_t i = 0; i < ms->n_ix; i++) {
        size_t n = strlen(vals[i]) + 1;
        memcpy(p, vals[i], n);
        p += n;
    }
    protobuf_c_message_pack(msg, p);
    *out = v;
    return 0;
}

/* The allocations one put needs, made before anything changes. */
struct put_alloc {
    struct rec *rec;                              /* new key only */
    struct sl_entry *order;                       /* new key only */
    struct sl_entry *entries[MODELS_MAX_INDEXES]; /* changed index values */
    struct ixcount *counts[MODELS_MAX_INDEXES];   /* changed index values */
};

static void put_alloc_free(struct put_alloc *a)
{
    free(a->rec);
    free(a->order);
    for (size_t i = 0; i < MODELS_MAX_INDEXES; i++) {
        free(a->entries[i]);
        free(a->counts[i]);
    }
}

/* rec_prepare allocates a new key's record and key-order entry into `a` (zeroed). */
static int rec_prepare(const char *key, struct put_alloc *a)
{
    size_t klen = strlen(key) + 1;
    memset(a, 0, sizeof(*a));
    a->rec = st_malloc(sizeof(*a->rec) + klen);
    if (a->rec == NULL)
        return LT_ENOMEM;
    cds_lfht_node_init(&a->rec->node);
    memcpy(a->rec->key, key, klen);
    a->rec->cur = NULL;
    a->order = sl_entry_new(a->rec, "");
    if (a->order == NULL) {
        free(a->rec);
        a->rec = NULL;
        return LT_ENOMEM;
    }
    return 0;
}

/* put_prepare allocates what linking `v` for `key` needs: `r` and `old` are the record and
 * its current version, both NULL for a new key. */
static int put_prepare(struct mstate *ms, const char *key, struct rec *r, const struct ver *old,
                       const struct ver *v, struct put_alloc *a)
{
    memset(a, 0, sizeof(*a));
    if (r == NULL) {
        if (rec_prepare(key, a) != 0)
            return LT_ENOMEM;
        r = a->rec;
    }
    for (size_t i = 0; i < ms->n_ix; i++) {
        const char *nv = ver_ixval(v, i);
        if (old != NULL && strcmp(ver_ixval(old, i), nv) == 0)
            continue;
        a->entries[i] = sl_entry_new(r, nv);
        a->counts[i] = ixcount_new(nv);
        if (a->entries[i] == NULL || a->counts[i] == NULL)
            goto fail;
    }
    return 0;
fail:
    put_alloc_free(a);
    memset(a, 0, sizeof(*a));
    return LT_ENOMEM;
}

/* window_end: the last of the `depth` versions from `v` on (fewer if the chain ends). */
static struct ver *window_end(struct ver *v, unsigned depth)
{
    for (unsigned kept = 1; kept < depth && v->prev != NULL; kept++)
        v = v->prev;
    return v;
}

/* free_between (writer) frees, after a grace period, the versions from `from` up to and
 * excluding `to` (NULL: the end of the chain); the caller has unlinked them. Their own
 * prev pointers are left alone, so a reader standing on one still moves down the chain. */
static void free_between(struct ver *from, struct ver *to)
{
    while (from != to) {
        struct ver *prev = from->prev;
        call_rcu(&from->rcu, ver_free_rcu);
        from = prev;
    }
}

/* trim_history (writer) keeps the `depth` versions from the current one `v` on and frees
 * the rest after a grace period. While a snapshot is pinned (`ms->pinned`) it also keeps
 * the version current at the pin and the `depth` - 1 before it — what the snapshot will
 * write — and frees only what lies between the two windows or after the second. */
static void trim_history(struct mstate *ms, struct ver *v, unsigned depth)
{
    struct ver *last = window_end(v, depth);
    if (ms->pinned) {
        struct ver *at = ver_at(v, ms->pin), *x = v;
        if (at != NULL) {
            while (x != last && x != at)
                x = x->prev;
            if (x != at && last->prev != at) { /* `at` lies beyond the first window */
                struct ver *mid = last->prev;
                rcu_assign_pointer(last->prev, at);
                free_between(mid, at);
            }
            last = window_end(at, depth);
        }
    }
    if (last->prev != NULL) {
        struct ver *cut = last->prev;
        rcu_assign_pointer(last->prev, NULL);
        free_between(cut, NULL);
    }
}

/* link_new_rec (writer) publishes a new key's record with version `v` in the key order,
 * taking a->rec and a->order; the hash table (r->node) and the secondary indexes are the
 * caller's. */
static struct rec *link_new_rec(struct mstate *ms, struct ver *v, struct put_alloc *a)
{
    struct rec *r = a->rec;
    a->rec = NULL;
    rcu_assign_pointer(r->cur, v);
    sl_insert(&ms->order, a->order);
    a->order = NULL;
    CMM_STORE_SHARED(ms->count, ms->count + 1);
    if (v->bench)
        CMM_STORE_SHARED(ms->bench, ms->bench + 1);
    return r;
}

/* put_link (writer) publishes `v` for `key`; nothing can fail any more. */
static void put_link(struct mstate *ms, struct rec *r, struct ver *old, struct ver *v,
                     struct put_alloc *a)
{
    if (old == NULL) {
        r = link_new_rec(ms, v, a);
        cds_lfht_add(ms->ht, hash_str(r->key), &r->node);
    } else {
        v->prev = old;
        rcu_assign_pointer(r->cur, v);
        trim_history(ms, v, hist_depth(ms));
        if (old->bench != v->bench)
            CMM_STORE_SHARED(ms->bench, v->bench ? ms->bench + 1 : ms->bench - 1);
    }
    for (size_t i = 0; i < ms->n_ix; i++) {
        struct ixstate *ix = &ms->ix[i];
        const char *nv = ver_ixval(v, i);
        if (a->entries[i] == NULL) {
            /* Same value: only the benchmark count may move. */
            if (old != NULL && old->bench != v->bench)
                ixop_run(ms,
                         (struct ixop){.kind = IXOP_BENCH, .ix = ix, .val = nv, .bench = v->bench});
            continue;
        }
        if (old != NULL)
            ixop_run(ms, (struct ixop){.kind = IXOP_UNLINK,
                                       .ix = ix,
                                       .val = ver_ixval(old, i),
                                       .key = r->key,
                                       .bench = old->bench});
        ixop_run(ms, (struct ixop){.kind = IXOP_LINK,
                                   .ix = ix,
                                   .e = a->entries[i],
                                   .cnt = a->counts[i],
                                   .bench = v->bench});
        a->entries[i] = NULL;
        a->counts[i] = NULL;
    }
    put_alloc_free(a);
}

/* rec_unlink (writer) removes a record from every structure and frees it after a grace
 * period (its whole history with it). A record a pinned snapshot still has to write goes
 * to the model's graveyard instead — before it leaves the key order, so that the
 * snapshot's walk finds it in one place or the other — and is freed at
 * store_snapshot_end. */
static void rec_unlink(struct mstate *ms, struct rec *r)
{
    struct ver *cur = r->cur;
    struct sl_entry *e;
    bool keep = ms->pinned && ver_at(cur, ms->pin) != NULL;
    if (keep) {
        r->grave_next = ms->grave;
        rcu_assign_pointer(ms->grave, r);
    }
    cds_lfht_del(ms->ht, &r->node);
    e = sl_remove(&ms->order, "", r->key);
    if (e != NULL)
        call_rcu(&e->rcu, entry_free_rcu);
    for (size_t i = 0; i < ms->n_ix; i++)
        ixop_run(ms, (struct ixop){.kind = IXOP_UNLINK,
                                   .ix = &ms->ix[i],
                                   .val = ver_ixval(cur, i),
                                   .key = r->key,
                                   .bench = cur->bench});
    CMM_STORE_SHARED(ms->count, ms->count - 1);
    if (cur->bench)
        CMM_STORE_SHARED(ms->bench, ms->bench - 1);
    if (!keep)
        call_rcu(&r->rcu, rec_free_rcu);
}

/* ---- apply ---- */

/* fail records a failed command's code and message in `res` and returns the code. */
static int fail(struct store_result *res, int code, const char *fmt, const char *arg)
{
    res->code = code;
    res->op = STORE_OP_NONE;
    snprintf(res->message, sizeof(res->message), fmt, arg != NULL ? arg : "");
    return code;
}

/* fail_missing: an update or delete of no record, named as Models/Get and History name it
 * ("items 'x' does not exist"; a bare "x not found" said not what x was). */
static int fail_missing(struct store_result *res, const struct mstate *ms, const char *key)
{
    res->code = LT_ENOTFOUND;
    res->op = STORE_OP_NONE;
    snprintf(res->message, sizeof(res->message), "%s '%.80s' does not exist", ms->def->name, key);
    return LT_ENOTFOUND;
}

/* ts_format writes (seconds, nanos) as RFC 3339 UTC with 0, 3, 6 or 9 fractional digits,
 * as the gateway's JSON shows a createdAt, so that a message names the instant as the
 * client reads it (at most 30 characters). For messages only: none of it reaches the state. */
static void ts_format(int64_t sec, int32_t nanos, char buf[static 32])
{
    struct tm tm;
    time_t t = (time_t)sec;
    if (nanos < 0 || nanos >= 1000000000 || sec < INT64_C(-62135596800) ||
        sec > INT64_C(253402300799) || gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, 32, "(out of range)");
        return;
    }
    size_t k = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (nanos == 0)
        snprintf(buf + k, 32 - k, "Z");
    else if (nanos % 1000000 == 0)
        snprintf(buf + k, 32 - k, ".%03dZ", (int)(nanos / 1000000));
    else if (nanos % 1000 == 0)
        snprintf(buf + k, 32 - k, ".%06dZ", (int)(nanos / 1000));
    else
        snprintf(buf + k, 32 - k, ".%09dZ", (int)nanos);
}

/* check_created: when `want` is set, is `cur` (the record's current value, decoded) the
 * incarnation it names? A record deleted and created again under the same key starts at
 * version 1 again, so a writer holding an older read must be told apart by its created_at,
 * set once by the leader's clock at the create. LT_ECONFLICT with the message, or 0. */
static int check_created(struct mstate *ms, const ProtobufCMessage *cur, uint64_t version,
                         const Lithair__V1__Timestamp *want, uint64_t want_version,
                         struct store_result *res)
{
    int64_t sec;
    int32_t nanos;
    if (want == NULL)
        return 0;
    models_get_timestamp(cur, ms->created_at, &sec, &nanos);
    if (sec == want->seconds && nanos == want->nanos)
        return 0;
    char a[32], b[32], v[30] = "";
    ts_format(want->seconds, want->nanos, a);
    ts_format(sec, nanos, b);
    if (want_version != 0)
        snprintf(v, sizeof(v), "version %llu ", (unsigned long long)want_version);
    /* the text, each part at its longest (the buffers less their NULs), and a NUL */
    _Static_assert(sizeof(res->message) >= 49 + (sizeof(v) - 1) + 8 + (sizeof(a) - 1) + 14 + 20 +
                                               9 + (sizeof(b) - 1) + 1,
                   "the message fits");
    snprintf(res->message, sizeof(res->message),
             "it was deleted and created again since: expected %screated %s, now version %llu "
             "created %s",
             v, a, (unsigned long long)version, b);
    res->code = LT_ECONFLICT;
    res->op = STORE_OP_NONE;
    res->version = version;
    return LT_ECONFLICT;
}

static int result_id(struct store_result *res, const char *id)
{
    free(res->id);
    res->id = st_strdup(id);
    return res->id != NULL ? 0 : LT_ENOMEM;
}

/* merge_fields moves the fields a Put changes from `in` into `cur`. */
static int merge_fields(struct mstate *ms, ProtobufCMessage *cur, ProtobufCMessage *in,
                        const Lithair__V1__Command__Put *put, struct store_result *res)
{
    const ProtobufCMessageDescriptor *d = ms->def->desc;
    if (put->n_fields == 0) {
        for (unsigned i = 0; i < d->n_fields; i++) {
            if (!models_is_managed(ms->def, d->fields[i].name))
                models_swap_field(cur, in, &d->fields[i]);
        }
        return 0;
    }
    for (size_t i = 0; i < put->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = models_field(ms->def, put->fields[i]);
        if (fd == NULL)
            return fail(res, LT_EINVAL, "unknown field %s", put->fields[i]);
        if (models_is_managed(ms->def, fd->name))
            return fail(res, LT_EINVAL, "field %s cannot be changed", fd->name);
    }
    for (size_t i = 0; i < put->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = models_field(ms->def, put->fields[i]);
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup |= models_field(ms->def, put->fields[j]) == fd;
        if (!dup)
            models_swap_field(cur, in, fd);
    }
    return 0;
}

/* apply_put: create, update (merging by field mask) or upsert one record. Everything that
 * can fail — decoding, checks, every allocation — happens before put_link changes anything.
 *
 * The model's field rules (models_validate) are NOT checked here: they are checked once, when
 * the leader prepares the command (models_prepare_*), and a committed entry is the record of
 * what was accepted. Checking them again on apply would make a replica's state depend on the
 * rules of the build that replays the log: a build with a stricter rule (strict UTF-8 and
 * duplicate JSON keys were both added after launch) would drop, on replay or catch-up,
 * writes an earlier build acknowledged — and replicas of different builds would diverge. What
 * is checked here depends only on the entry and the store's state, the same on every
 * replica and every build: the value decodes, a key, the mask's fields, create / update /
 * expected version, and an index key the index can hold. */
static int apply_put(struct mstate *ms, uint64_t index, uint64_t term,
                     const Lithair__V1__Timestamp *at, const Lithair__V1__Command__Put *put,
                     bool want_record, struct store_result *res)
{
    ProtobufCMessage *in, *cur = NULL, *msg;
    struct put_alloc alloc;
    struct ver *old, *v = NULL;
    struct rec *r;
    const char *key;
    int64_t sec = at != NULL ? at->seconds : 0;
    int32_t nanos = at != NULL ? at->nanos : 0;
    enum store_op op;
    int rc;

    if (put->create && put->update)
        return fail(res, LT_EINVAL, "put cannot both create and update%s", NULL);
    alloc_failed = false;
    in = protobuf_c_message_unpack(ms->def->desc, &pb_alloc, put->value.len, put->value.data);
    if (in == NULL && alloc_failed)
        return LT_ENOMEM;
    if (in == NULL)
        return fail(res, LT_EINVAL, "value is not a valid %s", ms->def->desc->name);
    key = models_get_string(in, ms->pk);
    if (key[0] == '\0') {
        rc = fail(res, LT_EINVAL, "%s must not be empty", ms->pk->name);
        goto out_free_in;
    }
    rc = result_id(res, key);
    if (rc != 0)
        goto out_free_in;
    r = rec_lookup(ms, key);
    old = r != NULL ? r->cur : NULL;
    if (old != NULL && put->create) {
        rc = fail(res, LT_EEXIST, "%s already exists", key);
        goto out_free_in;
    }
    if (old == NULL && put->update) {
        rc = fail_missing(res, ms, key);
        goto out_free_in;
    }
    if (old == NULL && put->expected_created != NULL) {
        /* an incarnation was expected and there is none (an upsert): as a version would */
        snprintf(res->message, sizeof(res->message),
                 "expected the record created at a given time, but %.80s does not exist", key);
        res->code = rc = LT_ECONFLICT;
        res->op = STORE_OP_NONE;
        res->version = 0;
        goto out_free_in;
    }
    if (old != NULL) {
        alloc_failed = false;
        cur = protobuf_c_message_unpack(ms->def->desc, &pb_alloc, old->len, ver_value(old));
        if (cur == NULL && alloc_failed) {
            rc = LT_ENOMEM;
            goto out_free_in;
        }
        if (cur == NULL) {
            rc = fail(res, LT_ECORRUPT, "stored %s does not decode", key);
            goto out_free_in;
        }
        /* the incarnation first: after a delete and a create the version may match too */
        rc =
            check_created(ms, cur, old->version, put->expected_created, put->expected_version, res);
        if (rc != 0)
            goto out_free_cur;
    }
    if (put->expected_version != 0 && put->expected_version != (old ? old->version : 0)) {
        snprintf(res->message, sizeof(res->message), "expected version %llu, current %llu",
                 (unsigned long long)put->expected_version,
                 (unsigned long long)(old ? old->version : 0));
        res->code = rc = LT_ECONFLICT;
        res->op = STORE_OP_NONE;
        res->version = old ? old->version : 0;
        goto out_free_cur;
    }
    if (old != NULL) {
        rc = merge_fields(ms, cur, in, put, res);
        if (rc != 0)
            goto out_free_cur;
        msg = cur;
        models_set_uint64(msg, ms->version, old->version + 1);
        op = STORE_OP_UPDATE;
    } else {
        msg = in;
        models_set_uint64(msg, ms->version, 1);
        rc = models_set_timestamp(msg, ms->created_at, sec, nanos);
        if (rc != 0)
            goto out_free_cur;
        op = STORE_OP_CREATE;
    }
    rc = models_set_timestamp(msg, ms->updated_at, sec, nanos);
    if (rc != 0)
        goto out_free_cur;
    rc = ver_build(ms, msg, op, index, term, &v);
    if (rc != 0) {
        if (rc == LT_EINVAL)
            fail(res, rc, "an indexed field is too long%s", NULL);
        goto out_free_cur;
    }
    if (want_record && (res->record = record_of(v)) == NULL) {
        rc = LT_ENOMEM;
        goto out_free_ver;
    }
    rc = put_prepare(ms, key, r, old, v, &alloc);
    if (rc != 0)
        goto out_free_record;
    put_link(ms, r, old, v, &alloc);
    res->op = op;
    res->version = v->version;
    res->code = 0;
    v = NULL;
    goto out_free_cur;
out_free_record:
    store_record_free(res->record);
    res->record = NULL;
out_free_ver:
    free(v);
out_free_cur:
    if (cur != NULL)
        protobuf_c_message_free_unpacked(cur, &pb_alloc);
out_free_in:
    protobuf_c_message_free_unpacked(in, &pb_alloc);
    return rc;
}

/* apply_delete: remove one record (and its history) after the version check. */
static int apply_delete(struct mstate *ms, uint64_t index, uint64_t term,
                        const Lithair__V1__Command__Delete *del, bool want_record,
                        struct store_result *res)
{
    struct rec *r;
    int rc = result_id(res, del->id);
    if (rc != 0)
        return rc;
    r = rec_lookup(ms, del->id);
    if (r == NULL)
        return fail_missing(res, ms, del->id);
    if (del->expected_created != NULL) {
        /* decoded only when asked: a plain delete reads no value */
        alloc_failed = false;
        ProtobufCMessage *cur =
            protobuf_c_message_unpack(ms->def->desc, &pb_alloc, r->cur->len, ver_value(r->cur));
        if (cur == NULL)
            return alloc_failed ? LT_ENOMEM
                                : fail(res, LT_ECORRUPT, "stored %s does not decode", del->id);
        rc = check_created(ms, cur, r->cur->version, del->expected_created, del->expected_version,
                           res);
        protobuf_c_message_free_unpacked(cur, &pb_alloc);
        if (rc != 0)
            return rc;
    }
    if (del->expected_version != 0 && del->expected_version != r->cur->version) {
        snprintf(res->message, sizeof(res->message), "expected version %llu, current %llu",
                 (unsigned long long)del->expected_version, (unsigned long long)r->cur->version);
        res->version = r->cur->version;
        res->op = STORE_OP_NONE;
        return res->code = LT_ECONFLICT;
    }
    if (want_record && (res->record = record_copy(r->cur, STORE_OP_DELETE, index, term)) == NULL)
        return LT_ENOMEM;
    res->version = r->cur->version;
    rec_unlink(ms, r);
    res->op = STORE_OP_DELETE;
    return res->code = 0;
}

/* apply_purge: remove the records whose benchmark flag is set, in key order, at most
 * `limit` of them (0: all); the walk stops at the last one (ms->bench counts them). */
static int apply_purge(struct mstate *ms, uint64_t limit, struct store_result *res)
{
    struct sl_entry *e = ms->order.head[0];
    uint64_t n = 0;
    while (e != NULL && ms->bench > 0 && (limit == 0 || n < limit)) {
        struct sl_entry *next = e->next[0];
        if (e->rec->cur->bench) {
            rec_unlink(ms, e->rec);
            n++;
        }
        e = next;
    }
    res->purged = n;
    res->op = STORE_OP_PURGE;
    return res->code = 0;
}

/* table_grow asks `ht` for at least `n` buckets once it holds more entries than buckets
 * (short chains: a lookup of a new key walks its whole chain, a cache miss per node). liburcu's
 * automatic (lazy, background) resize was seen to stall now and then, leaving chains that grow with
 * the table (lookups O(n)); this synchronous resize by the applier is the guarantee. Must not be
 * called inside an RCU read-side section. */
static void table_grow(struct cds_lfht *ht, size_t n, size_t *buckets)
{
    if (ht == NULL || n <= *buckets)
        return;
    size_t want = *buckets;
    while (want < n)
        want *= 2;
    cds_lfht_resize(ht, want);
    *buckets = want;
}

/* state_resize keeps every hash table of `st` at most 1 entry per bucket on average (amortized
 * O(1) per insert: each resize doubles at least). Applier only, outside read sections; for a
 * state nobody else sees yet (a restore's). */
static void state_resize(struct state *st)
{
    for (size_t i = 0; i < st->n; i++) {
        struct mstate *ms = &st->m[i];
        table_grow(ms->ht, ms->count, &ms->buckets);
    }
}

/* The published state's tables are grown by the resizer thread instead of the applier: a
 * doubling of a table of 2^19 buckets took the applier 125-130 ms — on every replica at
 * once, as they all hold the same records — and showed as a 34 ms p99 of the cluster status
 * under load. liburcu's tables take a resize concurrent with updates and lookups; until it
 * is done the chains are longer, nothing else. */

/* table_ask (applier) asks the resizer for at least `n` buckets if the table holds more
 * entries than it was asked for; true if it did. */
static bool table_ask(size_t n, size_t *buckets, size_t *rz_want)
{
    if (n <= *buckets)
        return false;
    size_t want = *buckets;
    while (want < n)
        want *= 2;
    *buckets = want;
    __atomic_store_n(rz_want, want, __ATOMIC_RELEASE);
    return true;
}

/* table_serve (resizer) grows a table to what the applier asked. */
static void table_serve(struct cds_lfht *ht, size_t *rz_want, size_t *rz_done)
{
    size_t want = __atomic_load_n(rz_want, __ATOMIC_ACQUIRE);
    if (ht != NULL && want > *rz_done) {
        cds_lfht_resize(ht, want);
        *rz_done = want;
    }
}

static void *resizer_main(void *arg)
{
    struct store *s = arg;
    /* a doubling is bulk work (2^19 buckets: 125 ms): on any CPU, not a pinned node's one
     * (liburcu's helper threads for a large resize start from here and inherit it) */
    (void)lt_cpu_background("resizer");
    rcu_register_thread();
    pthread_mutex_lock(&s->rz_mu);
    for (;;) {
        while (!s->rz_pending && !s->rz_stop)
            pthread_cond_wait(&s->rz_cv, &s->rz_mu);
        if (s->rz_stop)
            break;
        s->rz_pending = false;
        s->rz_busy = true;
        struct state *st = s->st; /* stays while rz_busy (state_swap waits) */
        pthread_mutex_unlock(&s->rz_mu);
        for (size_t i = 0; i < st->n; i++) {
            struct mstate *ms = &st->m[i];
            table_serve(ms->ht, &ms->rz_want, &ms->rz_done);
        }
        pthread_mutex_lock(&s->rz_mu);
        s->rz_busy = false;
        pthread_cond_broadcast(&s->rz_cv);
    }
    pthread_mutex_unlock(&s->rz_mu);
    rcu_unregister_thread();
    return NULL;
}

/* state_resize_async (applier) asks the resizer to grow what outgrew its table; without a
 * resizer thread (it could not start) it grows them itself. */
static void state_resize_async(struct store *s)
{
    struct state *st = s->st;
    bool any = false;
    if (!s->rz_started) {
        state_resize(st);
        return;
    }
    for (size_t i = 0; i < st->n; i++) {
        struct mstate *ms = &st->m[i];
        any |= table_ask(ms->count, &ms->buckets, &ms->rz_want);
    }
    if (any) {
        pthread_mutex_lock(&s->rz_mu);
        s->rz_pending = true;
        pthread_cond_broadcast(&s->rz_cv);
        pthread_mutex_unlock(&s->rz_mu);
    }
}

/* state_swap (applier) publishes `st` in place of the current state once the resizer is not
 * working on it, and returns the old one (for the caller to free after a grace period). */
static struct state *state_swap(struct store *s, struct state *st)
{
    struct state *old = s->st;
    if (s->rz_started) {
        pthread_mutex_lock(&s->rz_mu);
        while (s->rz_busy)
            pthread_cond_wait(&s->rz_cv, &s->rz_mu);
        rcu_assign_pointer(s->st, st);
        pthread_mutex_unlock(&s->rz_mu);
    } else {
        rcu_assign_pointer(s->st, st);
    }
    return old;
}

static int apply_cmd(struct store *s, uint64_t index, uint64_t term, const uint8_t *cmd, size_t len,
                     bool want_record, struct store_result *res)
{
    Lithair__V1__Command *c;
    struct mstate *ms;
    const char *model = NULL;
    int rc;

    memset(res, 0, sizeof(*res));
    res->op = STORE_OP_NONE;
    alloc_failed = false;
    c = lithair__v1__command__unpack(&pb_alloc, len, cmd);
    if (c == NULL && alloc_failed)
        return fail(res, LT_ENOMEM, "%s", lt_strerror(LT_ENOMEM));
    if (c == NULL)
        return fail(res, LT_EINVAL, "command does not decode%s", NULL);
    switch (c->op_case) {
    case LITHAIR__V1__COMMAND__OP_PUT:
        model = c->put->model;
        break;
    case LITHAIR__V1__COMMAND__OP_DELETE:
        model = c->delete_->model;
        break;
    case LITHAIR__V1__COMMAND__OP_PURGE:
        model = c->purge->model;
        break;
    case LITHAIR__V1__COMMAND__OP_CLUSTER: /* for the node (ident.h): no record changes */
        res->op = STORE_OP_CLUSTER;
        res->cluster = c->cluster->id;
        rc = 0;
        goto out;
    default:
        rc = fail(res, LT_EINVAL, "command has no operation%s", NULL);
        goto out;
    }
    rcu_read_lock();
    ms = state_model(s->st, model);
    if (ms == NULL) {
        rc = fail(res, LT_EINVAL, "unknown model %s", model);
        goto out_unlock;
    }
    res->model = ms->def;
    if (c->op_case == LITHAIR__V1__COMMAND__OP_PUT)
        rc = apply_put(ms, index, term, c->at, c->put, want_record, res);
    else if (c->op_case == LITHAIR__V1__COMMAND__OP_DELETE)
        rc = apply_delete(ms, index, term, c->delete_, want_record, res);
    else
        rc = apply_purge(ms, c->purge->limit, res);
    if (rc != 0 && res->code == 0) {
        res->code = rc;
        res->op = STORE_OP_NONE;
        snprintf(res->message, sizeof(res->message), "%s", lt_strerror(rc));
    }
out_unlock:
    rcu_read_unlock();
    state_resize_async(s);
out:
    s->applied_index = index;
    s->applied_term = term;
    lithair__v1__command__free_unpacked(c, &pb_alloc);
    return rc;
}

static void bulk_free(struct bulk *b)
{
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->nonempty);
    pthread_cond_destroy(&b->nonfull);
    pthread_cond_destroy(&b->ready);
    free(b);
}

int store_bulk_begin(struct store *s)
{
    if (s->bulk != NULL || s->snap != NULL)
        return LT_EBUSY;
    struct bulk *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return LT_ENOMEM;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->nonempty, NULL);
    pthread_cond_init(&b->nonfull, NULL);
    pthread_cond_init(&b->ready, NULL);
    if (pthread_create(&b->th, NULL, bulk_main, b) != 0) {
        bulk_free(b);
        return LT_ENOMEM;
    }
    /* Nothing is retired before the thread's read-side section has begun. */
    pthread_mutex_lock(&b->mu);
    while (!b->locked)
        pthread_cond_wait(&b->ready, &b->mu);
    pthread_mutex_unlock(&b->mu);
    for (size_t i = 0; i < s->st->n; i++)
        s->st->m[i].bulk = b;
    s->bulk = b;
    return 0;
}

void store_bulk_end(struct store *s)
{
    struct bulk *b = s->bulk;
    if (b == NULL)
        return;
    bulk_flush(b);
    pthread_mutex_lock(&b->mu);
    b->done = true;
    pthread_cond_signal(&b->nonempty);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->th, NULL);
    for (size_t i = 0; i < s->st->n; i++)
        s->st->m[i].bulk = NULL;
    bulk_free(b);
    s->bulk = NULL;
}

int store_apply(struct store *s, uint64_t index, uint64_t term, const uint8_t *cmd, size_t len,
                struct store_result *res)
{
    return apply_cmd(s, index, term, cmd, len, true, res);
}

int store_apply_norecord(struct store *s, uint64_t index, uint64_t term, const uint8_t *cmd,
                         size_t len, struct store_result *res)
{
    return apply_cmd(s, index, term, cmd, len, false, res);
}

void store_result_fini(struct store_result *res)
{
    if (res == NULL)
        return;
    free(res->id);
    store_record_free(res->record);
    res->id = NULL;
    res->record = NULL;
}

void store_applied(struct store *s, uint64_t *index, uint64_t *term)
{
    *index = s->applied_index;
    *term = s->applied_term;
}

void store_set_applied(struct store *s, uint64_t index, uint64_t term)
{
    s->applied_index = index;
    s->applied_term = term;
}

/* ---- life cycle ---- */

void store_reader_register(void)
{
    rcu_register_thread();
}

void store_reader_unregister(void)
{
    rcu_unregister_thread();
}

int store_new(struct store **out)
{
    struct store *s = st_calloc(1, sizeof(*s));
    int rc;
    if (s == NULL)
        return LT_ENOMEM;
    rc = state_new(&s->st);
    if (rc != 0) {
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->rz_mu, NULL);
    pthread_cond_init(&s->rz_cv, NULL);
    s->rz_started = pthread_create(&s->rz_thread, NULL, resizer_main, s) == 0;
    *out = s;
    return 0;
}

/* store_stop_threads ends the store's own threads: bulk apply's indexer, the resizer. */
static void store_stop_threads(struct store *s)
{
    store_bulk_end(s);
    if (s->rz_started) {
        pthread_mutex_lock(&s->rz_mu);
        s->rz_stop = true;
        pthread_cond_broadcast(&s->rz_cv);
        pthread_mutex_unlock(&s->rz_mu);
        pthread_join(s->rz_thread, NULL);
        s->rz_started = false;
    }
}

static struct store *store_kept; /* store_abandon's: reachable, LeakSanitizer reports none */

void store_abandon(struct store *s)
{
    if (s == NULL)
        return;
    store_stop_threads(s);
    store_kept = s;
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    store_stop_threads(s);
    pthread_mutex_destroy(&s->rz_mu);
    pthread_cond_destroy(&s->rz_cv);
    state_free(s->st);
    free(s);
    rcu_barrier(); /* run every pending reclamation: nothing is left behind */
}

/* ---- reads ---- */

int store_get(struct store *s, const char *model, const char *id, struct store_record **out)
{
    struct mstate *ms;
    struct rec *r;
    struct store_record *copy = NULL;
    int rc = 0;
    if (id == NULL)
        return LT_EINVAL;
    rcu_read_lock();
    ms = state_model(rcu_dereference(s->st), model);
    if (ms == NULL) {
        rc = LT_EINVAL;
        goto out;
    }
    r = rec_lookup(ms, id);
    if (r == NULL) {
        rc = LT_ENOTFOUND;
        goto out;
    }
    copy = record_of(rcu_dereference(r->cur));
    if (copy == NULL)
        rc = LT_ENOMEM;
out:
    rcu_read_unlock();
    if (rc == 0)
        *out = copy;
    return rc;
}

static int cursor_decode(const char *in, char *out, size_t n)
{
    size_t len = strlen(in);
    if (len % 2 != 0 || len / 2 + 1 > n || len == 0)
        return LT_EINVAL;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = in[2 * i + (size_t)k];
            v <<= 4;
            if (ch >= '0' && ch <= '9')
                v |= (unsigned)(ch - '0');
            else if (ch >= 'a' && ch <= 'f')
                v |= (unsigned)(ch - 'a' + 10);
            else
                return LT_EINVAL;
        }
        if (v == 0)
            return LT_EINVAL;
        out[i] = (char)v;
    }
    out[len / 2] = '\0';
    return 0;
}

static char *cursor_encode(const char *key)
{
    static const char hex[] = "0123456789abcdef";
    size_t len = strlen(key);
    char *out = st_malloc(2 * len + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[(unsigned char)key[i] >> 4];
        out[2 * i + 1] = hex[(unsigned char)key[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

/* find_index resolves an index name and query value to the index and canonical value. */
static int find_index(struct mstate *ms, const char *index, const char *equals, struct ixstate **ix,
                      char *val, size_t n)
{
    const ProtobufCFieldDescriptor *fd = models_field(ms->def, index);
    for (size_t i = 0; fd != NULL && i < ms->n_ix; i++) {
        if (ms->ix[i].fd == fd) {
            *ix = &ms->ix[i];
            return models_index_normalize(fd, equals != NULL ? equals : "", val, n) == 0
                       ? (int)i
                       : LT_EINVAL;
        }
    }
    return LT_EINVAL;
}

static uint64_t count_of(struct mstate *ms, struct ixstate *ix, const char *val, bool bench)
{
    uint64_t count, b;
    if (ix == NULL) {
        count = CMM_LOAD_SHARED(ms->count);
        b = CMM_LOAD_SHARED(ms->bench);
    } else {
        struct ixcount *c = ixcount_lookup(ix, val);
        count = c != NULL ? CMM_LOAD_SHARED(c->count) : 0;
        b = c != NULL ? CMM_LOAD_SHARED(c->bench) : 0;
    }
    return bench ? count : (count >= b ? count - b : 0);
}

int store_list(struct store *s, const struct store_query *q, struct store_page *out)
{
    struct store_page page = {0};
    struct mstate *ms;
    struct ixstate *ix = NULL;
    struct sl_entry *e;
    char val[IXVAL_MAX] = "";
    char *after = NULL;
    size_t limit = q->limit == 0 ? LIST_DEFAULT : q->limit > LIST_MAX ? LIST_MAX : q->limit;
    int ixno = -1;
    bool more = false;
    size_t bytes = 0; /* of the records' values in the page */
    int rc = 0;

    if (q->cursor != NULL && q->cursor[0] != '\0') {
        size_t n = strlen(q->cursor) / 2 + 1;
        after = st_malloc(n);
        if (after == NULL)
            return LT_ENOMEM;
        if (cursor_decode(q->cursor, after, n) != 0) {
            free(after);
            return LT_EINVAL;
        }
    }
    page.records = st_calloc(limit, sizeof(page.records[0]));
    if (page.records == NULL) {
        free(after);
        return LT_ENOMEM;
    }
    rcu_read_lock();
    ms = state_model(rcu_dereference(s->st), q->model);
    if (ms == NULL) {
        rc = LT_EINVAL;
        goto out;
    }
    if (q->index != NULL && q->index[0] != '\0') {
        ixno = find_index(ms, q->index, q->equals, &ix, val, sizeof(val));
        if (ixno < 0) {
            rc = LT_EINVAL;
            goto out;
        }
    }
    page.total = count_of(ms, ix, val, q->include_benchmark);
    e = sl_seek_after(ix != NULL ? &ix->list : &ms->order, val, after != NULL ? after : "");
    for (; e != NULL; e = sl_next(e)) {
        struct ver *v;
        if (strcmp(entry_val(e), val) != 0)
            break;
        v = rcu_dereference(e->rec->cur);
        if (!q->include_benchmark && v->bench)
            continue;
        if (ix != NULL && strcmp(ver_ixval(v, (size_t)ixno), val) != 0)
            continue; /* moved by a concurrent update */
        if (page.n == limit || (page.n > 0 && bytes + v->len > LIST_MAX_BYTES)) {
            more = true; /* the page ends at the last key returned */
            break;
        }
        page.records[page.n] = record_of(v);
        if (page.records[page.n] == NULL) {
            rc = LT_ENOMEM;
            goto out;
        }
        bytes += v->len;
        page.n++;
        free(after);
        after = st_strdup(e->rec->key);
        if (after == NULL) {
            rc = LT_ENOMEM;
            goto out;
        }
    }
    if (page.total < page.n)
        page.total = page.n; /* counted before the walk: a create may land in between */
    if (more) {
        page.next_cursor = cursor_encode(after);
        if (page.next_cursor == NULL)
            rc = LT_ENOMEM;
    }
out:
    rcu_read_unlock();
    free(after);
    if (rc != 0) {
        store_page_fini(&page);
        return rc;
    }
    *out = page;
    return 0;
}

void store_page_fini(struct store_page *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        store_record_free(p->records[i]);
    free(p->records);
    free(p->next_cursor);
    memset(p, 0, sizeof(*p));
}

int store_history(struct store *s, const char *model, const char *id, struct store_record ***out,
                  size_t *n)
{
    struct store_record **list = NULL;
    struct mstate *ms;
    struct rec *r;
    struct ver *v;
    size_t count = 0, cap;
    int rc = 0;
    if (id == NULL)
        return LT_EINVAL;
    rcu_read_lock();
    ms = state_model(rcu_dereference(s->st), model);
    if (ms == NULL) {
        rc = LT_EINVAL;
        goto out;
    }
    r = rec_lookup(ms, id);
    if (r == NULL) {
        rc = LT_ENOTFOUND;
        goto out;
    }
    cap = hist_depth(ms); /* a pinned snapshot may keep more for itself */
    list = st_calloc(cap, sizeof(*list));
    if (list == NULL) {
        rc = LT_ENOMEM;
        goto out;
    }
    /* The applier rewrites prev pointers inside the window a reader of the previous r->cur
     * is walking (trim_history: last->prev = NULL, or = the pinned version while a snapshot
     * is pinned), so a walk that raced with an update may come out short or with a gap.
     * Walk again until r->cur did not change meanwhile; a version whose successor is not
     * the next version number (a gap: versions are consecutive within a record's life)
     * ends the walk in any case. */
    for (unsigned tries = 0;; tries++) {
        struct ver *top = rcu_dereference(r->cur);
        for (v = top; v != NULL && count < cap; v = rcu_dereference(v->prev)) {
            if (count > 0 && v->version + 1 != list[count - 1]->version)
                break; /* relinked under us */
            list[count] = record_of(v);
            if (list[count] == NULL) {
                rc = LT_ENOMEM;
                goto out;
            }
            count++;
        }
        cmm_smp_rmb(); /* the prev pointers read before r->cur again */
        if (rcu_dereference(r->cur) == top || tries >= HISTORY_TRIES)
            break;
        while (count > 0)
            store_record_free(list[--count]);
    }
    for (size_t i = 0; i < count / 2; i++) {
        struct store_record *t = list[i];
        list[i] = list[count - 1 - i];
        list[count - 1 - i] = t;
    }
out:
    rcu_read_unlock();
    if (rc != 0) {
        for (size_t i = 0; i < count; i++)
            store_record_free(list[i]);
        free(list);
        return rc;
    }
    *out = list;
    *n = count;
    return 0;
}

int store_count(struct store *s, const char *model, const char *index, const char *equals,
                bool include_benchmark, uint64_t *out)
{
    struct mstate *ms;
    struct ixstate *ix = NULL;
    char val[IXVAL_MAX] = "";
    int rc = 0;
    rcu_read_lock();
    ms = state_model(rcu_dereference(s->st), model);
    if (ms == NULL) {
        rc = LT_EINVAL;
        goto out;
    }
    if (index != NULL && index[0] != '\0' &&
        find_index(ms, index, equals, &ix, val, sizeof(val)) < 0) {
        rc = LT_EINVAL;
        goto out;
    }
    *out = count_of(ms, ix, val, include_benchmark);
out:
    rcu_read_unlock();
    return rc;
}

uint64_t store_records_total(struct store *s)
{
    struct state *st;
    uint64_t n = 0;
    rcu_read_lock();
    st = rcu_dereference(s->st);
    for (size_t i = 0; i < st->n; i++)
        n += CMM_LOAD_SHARED(st->m[i].count);
    rcu_read_unlock();
    return n;
}

/* ---- digest ---- */

static uint64_t digest_model(uint64_t h, const struct mstate *ms, uint64_t count)
{
    h = fnv_bytes(h, ms->def->name, strlen(ms->def->name) + 1);
    return fnv_u64(h, count);
}

/* digest_record hashes one record: its key and its versions from `v` back, at most
 * `depth` of them. It reads no `prev` past the last one it hashes: behind a pinned
 * snapshot's window the applier may be cutting the chain meanwhile. */
static uint64_t digest_record(uint64_t h, const char *key, struct ver *v, size_t depth)
{
    struct ver *chain[SNAP_VERSIONS_MAX];
    size_t n = 0;
    while (v != NULL && n < depth && n < SNAP_VERSIONS_MAX) {
        chain[n++] = v;
        if (n < depth)
            v = rcu_dereference(v->prev);
    }
    h = fnv_bytes(h, key, strlen(key) + 1);
    h = fnv_u64(h, n);
    for (size_t i = 0; i < n; i++) {
        h = fnv_u64(h, chain[i]->op);
        h = fnv_u64(h, chain[i]->version);
        h = fnv_u64(h, chain[i]->raft_index);
        h = fnv_u64(h, chain[i]->raft_term);
        h = fnv_u64(h, chain[i]->len);
        h = fnv_bytes(h, ver_value(chain[i]), chain[i]->len);
    }
    return h;
}

uint64_t store_digest(struct store *s)
{
    uint64_t h = FNV_OFFSET;
    struct state *st;
    rcu_read_lock();
    st = rcu_dereference(s->st);
    for (size_t i = 0; i < st->n; i++) {
        struct mstate *ms = &st->m[i];
        size_t depth = hist_depth(ms);
        h = digest_model(h, ms, ms->count);
        for (struct sl_entry *e = ms->order.head[0]; e != NULL; e = e->next[0])
            h = digest_record(h, e->rec->key, e->rec->cur, depth);
    }
    rcu_read_unlock();
    return mix64(h);
}

/* ---- snapshots ---- */

struct snap_out {
    int (*write)(void *ctx, const void *buf, size_t len);
    void *ctx;
    uint32_t crc;
    int rc;
};

static void snap_put(struct snap_out *o, const void *buf, size_t len)
{
    if (o->rc != 0 || len == 0)
        return;
    o->crc = crc32c_extend(o->crc, buf, len);
    o->rc = o->write(o->ctx, buf, len);
}

static void le_put(uint8_t *b, uint64_t v, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_get(const uint8_t *b, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void snap_put_uint(struct snap_out *o, uint64_t v, size_t bytes)
{
    uint8_t b[8];
    le_put(b, v, bytes);
    snap_put(o, b, bytes);
}

#define SNAP_VER_HDR 34 /* op, bench, version, raft_index, raft_term, ix_len, len */

static bool snap_write_v2; /* tests: write the previous format */

void store_snapshot_write_v2(bool on)
{
    snap_write_v2 = on;
}

/* Writing a snapshot does not stop the applier. store_snapshot_begin pins the state at
 * the applied index (every model's `pin`); from then on the applier keeps what the
 * snapshot needs (see trim_history and rec_unlink) and store_snapshot_stream, on any
 * thread, writes the state as it was at the pin:
 *
 *   1. collect: walk each model's key order in short RCU read-side sections (resuming
 *      after the last key seen, so grace periods go on), taking each record's version as
 *      of the pin (ver_at) and skipping records created since; then add the graveyard —
 *      records deleted since the pin, which the walk may have missed — by merging it in
 *      key order. Only one record per key existed at the pin, so equal keys are one
 *      record seen twice.
 *   2. positions: per index, sort the collected records by (index value, key) as of the
 *      pin — the index's own order then — to write each record's position.
 *   3. write the records in key order, each with its history as of the pin.
 *
 * Everything collected stays valid after its read-side section ends: the versions from
 * the pinned one on are not freed while pinned, nor are deleted records. */

struct snap_item {
    struct rec *r;
    struct ver *v; /* the version current at the pin */
};

struct snap_items {
    struct snap_item *v;
    size_t n, cap;
};

struct store_snap {
    struct state *st;
    uint64_t pin;
    uint64_t applied_index, applied_term;
    bool streamed;
    bool cancelled; /* atomic: store_snapshot_cancel */
};

static bool snap_cancelled(const struct store_snap *sn)
{
    return __atomic_load_n(&sn->cancelled, __ATOMIC_RELAXED);
}

void store_snapshot_cancel(struct store_snap *sn)
{
    __atomic_store_n(&sn->cancelled, true, __ATOMIC_RELAXED);
}

#define SNAP_WALK_STEP 1024 /* records per read-side section of the walk */
#define IXSORT_AHEAD   8    /* prefetch distance of the positions' version reads */

static int items_push(struct snap_items *a, struct rec *r, struct ver *v)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 1024;
        struct snap_item *grown = st_realloc(a->v, cap * sizeof(*grown));
        if (grown == NULL)
            return LT_ENOMEM;
        a->v = grown;
        a->cap = cap;
    }
    a->v[a->n++] = (struct snap_item){r, v};
    return 0;
}

static int item_key_cmp(const void *a, const void *b)
{
    return strcmp(((const struct snap_item *)a)->r->key, ((const struct snap_item *)b)->r->key);
}

/* snap_walk appends the records of ms's key order that existed at `pin`, in key order. */
static int snap_walk(const struct store_snap *sn, struct mstate *ms, uint64_t pin,
                     struct snap_items *out)
{
    char *last = NULL; /* the last key seen, NULL before the first section */
    size_t last_cap = 0;
    int rc = 0;
    for (;;) {
        struct sl_entry *e, *prev = NULL;
        rcu_read_lock();
        e = last == NULL ? rcu_dereference(ms->order.head[0]) : sl_seek_after(&ms->order, "", last);
        for (unsigned k = 0; e != NULL && k < SNAP_WALK_STEP && rc == 0; k++) {
            struct ver *v = ver_at(rcu_dereference(e->rec->cur), pin);
            if (v != NULL)
                rc = items_push(out, e->rec, v);
            prev = e;
            e = sl_next(e);
        }
        if (e != NULL && rc == 0) { /* more to come: remember where to resume */
            size_t len = strlen(entry_key(prev)) + 1;
            if (len > last_cap) {
                char *grown = st_realloc(last, len);
                if (grown == NULL)
                    rc = LT_ENOMEM;
                else {
                    last = grown;
                    last_cap = len;
                }
            }
            if (rc == 0)
                memcpy(last, entry_key(prev), len);
        }
        rcu_read_unlock();
        if (e == NULL || rc != 0)
            break;
        if (snap_cancelled(sn)) {
            rc = LT_ESTALE;
            break;
        }
    }
    free(last);
    return rc;
}

/* snap_collect fills `out` with the records of `ms` as they were at `pin`, in key order
 * (step 1 above). */
static int snap_collect(const struct store_snap *sn, struct mstate *ms, uint64_t pin,
                        struct snap_items *out)
{
    struct snap_items walked = {0}, grave = {0};
    int rc = snap_walk(sn, ms, pin, &walked);
    for (struct rec *r = rcu_dereference(ms->grave); r != NULL && rc == 0; r = r->grave_next) {
        struct ver *v = ver_at(r->cur, pin);
        if (v != NULL)
            rc = items_push(&grave, r, v);
    }
    if (rc == 0 && grave.n == 0) {
        *out = walked;
        return 0;
    }
    if (rc == 0) {
        qsort(grave.v, grave.n, sizeof(grave.v[0]), item_key_cmp);
        out->cap = walked.n + grave.n;
        out->v = st_malloc(out->cap * sizeof(out->v[0]));
        if (out->v == NULL)
            rc = LT_ENOMEM;
    }
    for (size_t i = 0, j = 0; rc == 0 && (i < walked.n || j < grave.n);) {
        int c = i == walked.n ? 1 : j == grave.n ? -1 : item_key_cmp(&walked.v[i], &grave.v[j]);
        out->v[out->n++] = c <= 0 ? walked.v[i] : grave.v[j];
        i += c <= 0;
        j += c >= 0; /* equal keys: the same record, walked before it was deleted */
    }
    free(walked.v);
    free(grave.v);
    return rc;
}

/* One record in an index's sort: the first 16 bytes of its value as two big-endian words
 * (zero after the value's end), so that most comparisons are two integer ones instead of a
 * strcmp through a pointer into a version somewhere in memory — with a million records
 * that sort took a third of a snapshot's CPU (docs/BENCHMARKS.md, "Session 20"). */
struct ixsort {
    uint64_t hi, lo;
    const char *val; /* read past the first 16 bytes only when both are equal and full */
    uint32_t ord;    /* the record's position in key order */
};

static uint64_t be_word(const char *p, size_t avail)
{
    uint64_t w = 0;
    for (size_t k = 0; k < 8; k++)
        w = w << 8 | (k < avail ? (unsigned char)p[k] : 0);
    return w;
}

static void ixsort_set(struct ixsort *x, const char *val, uint32_t ord)
{
    size_t n = strnlen(val, 16);
    x->hi = be_word(val, n);
    x->lo = n > 8 ? be_word(val + 8, n - 8) : 0;
    x->val = val;
    x->ord = ord;
}

/* ixsort_cmp orders by (value, key) as strcmp would: the words compare bytes in the same
 * order, and equal words hold either the whole of both values (a zero byte is in them:
 * equal values) or the first 16 bytes of both, the rest compared with strcmp. */
static int ixsort_cmp(const void *a, const void *b)
{
    const struct ixsort *x = a, *y = b;
    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    if ((x->lo & 0xff) != 0) { /* 16 bytes and no end yet: both go on */
        int c = strcmp(x->val + 16, y->val + 16);
        if (c != 0)
            return c;
    }
    return (x->ord > y->ord) - (x->ord < y->ord);
}

/* The radix sort's digits: the 16 bytes of (hi, lo), least significant first. */
#define IXSORT_RADIX_MIN 256 /* fewer records: qsort */
static unsigned ixsort_digit(const struct ixsort *x, unsigned d)
{
    return (unsigned)((d < 8 ? x->lo >> (8 * d) : x->hi >> (8 * (d - 8))) & 0xff);
}

/* ixsort_sort sorts x[0..n) as qsort with ixsort_cmp would, `tmp` (n entries) its scratch.
 * Records come in key order (x[k].ord == k), so a stable LSD radix sort on the 16 bytes of
 * (hi, lo) leaves equal words in key order — ixsort_cmp's order for values that end within
 * them; only runs of values equal in all 16 bytes and longer go through ixsort_cmp. A
 * byte that is the same in every record (a common prefix, the zeros past short values)
 * costs no pass. qsort's merge sort, with a call per comparison, took about 0.5 s of the
 * 1.7 s that writing a snapshot of a million records took; this, about 0.1 s
 * (docs/BENCHMARKS.md, "Session 21"). */
static void ixsort_sort(struct ixsort *x, struct ixsort *tmp, size_t n)
{
    if (n < IXSORT_RADIX_MIN || tmp == NULL) {
        qsort(x, n, sizeof(*x), ixsort_cmp);
        return;
    }
    uint32_t count[16][256];
    memset(count, 0, sizeof(count));
    for (size_t k = 0; k < n; k++)
        for (unsigned d = 0; d < 16; d++)
            count[d][ixsort_digit(&x[k], d)]++;
    struct ixsort *src = x, *dst = tmp;
    for (unsigned d = 0; d < 16; d++) {
        if (count[d][ixsort_digit(&src[0], d)] == n)
            continue; /* one value of this byte: the order stays */
        uint32_t at[256], sum = 0;
        for (unsigned b = 0; b < 256; b++) {
            at[b] = sum;
            sum += count[d][b];
        }
        for (size_t k = 0; k < n; k++)
            dst[at[ixsort_digit(&src[k], d)]++] = src[k];
        struct ixsort *t = src;
        src = dst;
        dst = t;
    }
    if (src != x)
        memcpy(x, src, n * sizeof(*x));
    for (size_t a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && x[b].hi == x[a].hi && x[b].lo == x[a].lo; b++)
            ;
        if (b - a > 1 && (x[a].lo & 0xff) != 0) /* 16 bytes equal, none the end */
            qsort(x + a, b - a, sizeof(*x), ixsort_cmp);
    }
}

/* snap_put_positions writes, per index of `ms`, every record's position in that index's
 * order (value, then key), records in key order: a restore then rebuilds the index by
 * appending instead of searching (see the format above). */
static int snap_put_positions(const struct store_snap *sn, struct snap_out *o, struct mstate *ms,
                              const struct snap_items *it)
{
    uint8_t buf[4096];
    struct ixsort *sorted;
    uint32_t *pos;
    if (it->n > UINT32_MAX)
        return LT_EINVAL;
    if (ms->n_ix == 0 || it->n == 0)
        return o->rc;
    sorted = st_malloc(it->n * sizeof(*sorted));
    pos = st_malloc(it->n * sizeof(*pos));
    if (sorted == NULL || pos == NULL) {
        free(sorted);
        free(pos);
        return LT_ENOMEM;
    }
    /* the radix sort's scratch; without it, qsort (slower, no memory) */
    struct ixsort *tmp = it->n >= IXSORT_RADIX_MIN ? st_malloc(it->n * sizeof(*tmp)) : NULL;
    for (size_t i = 0; i < ms->n_ix && o->rc == 0; i++) {
        size_t n = 0;
        if (snap_cancelled(sn)) {
            o->rc = LT_ESTALE;
            break;
        }
        for (size_t k = 0; k < it->n; k++) {
            if (k + IXSORT_AHEAD < it->n) /* versions lie anywhere: fetch a few ahead */
                __builtin_prefetch(it->v[k + IXSORT_AHEAD].v);
            ixsort_set(&sorted[k], ver_ixval(it->v[k].v, i), (uint32_t)k);
        }
        ixsort_sort(sorted, tmp, it->n);
        for (size_t k = 0; k < it->n; k++)
            pos[sorted[k].ord] = (uint32_t)k;
        for (size_t k = 0; k < it->n; k++) {
            le_put(buf + n, pos[k], 4);
            if ((n += 4) == sizeof(buf)) {
                snap_put(o, buf, n);
                n = 0;
            }
        }
        snap_put(o, buf, n);
    }
    free(tmp);
    free(sorted);
    free(pos);
    return o->rc;
}

/* snap_put_record writes one record with its history as of the pin: `at` and the versions
 * before it, at most the model's depth, oldest first. */
static void snap_put_record(struct snap_out *o, const struct mstate *ms, const struct snap_item *it)
{
    struct ver *chain[SNAP_VERSIONS_MAX];
    size_t n = 0, depth = hist_depth(ms);
    for (struct ver *v = it->v; v != NULL;) {
        chain[n++] = v;
        if (n == depth)
            break; /* past the window the applier may be cutting: not even read */
        v = rcu_dereference(v->prev);
    }
    snap_put_uint(o, strlen(it->r->key), 4);
    snap_put(o, it->r->key, strlen(it->r->key));
    snap_put_uint(o, n, 4);
    while (n-- > 0) {
        struct ver *v = chain[n];
        uint8_t h[SNAP_VER_HDR];
        h[0] = v->op;
        h[1] = v->bench;
        le_put(h + 2, v->version, 8);
        le_put(h + 10, v->raft_index, 8);
        le_put(h + 18, v->raft_term, 8);
        le_put(h + 26, v->ix_len, 4);
        le_put(h + 30, v->len, 4);
        snap_put(o, h, sizeof(h));
        snap_put(o, ver_bytes(v), (size_t)v->ix_len + v->len);
    }
}

/* snapshot_pin (applier) pins the state at `pin`; the caller checked that none is pinned. */
static struct store_snap *snapshot_pin(struct store *s, uint64_t pin)
{
    struct store_snap *sn = st_calloc(1, sizeof(*sn));
    if (sn == NULL)
        return NULL;
    sn->st = s->st;
    sn->pin = pin;
    sn->applied_index = s->applied_index;
    sn->applied_term = s->applied_term;
    for (size_t i = 0; i < sn->st->n; i++) {
        sn->st->m[i].pinned = true;
        sn->st->m[i].pin = pin;
    }
    s->snap = sn;
    return sn;
}

int store_snapshot_begin(struct store *s, struct store_snap **out)
{
    if (s->snap != NULL || s->bulk != NULL)
        return LT_EBUSY;
    *out = snapshot_pin(s, s->applied_index);
    return *out != NULL ? 0 : LT_ENOMEM;
}

int store_snapshot_stream(struct store_snap *sn,
                          int (*write)(void *ctx, const void *buf, size_t len), void *ctx)
{
    struct snap_out o = {write, ctx, 0, 0};
    struct state *st = sn->st;
    struct snap_items *items;
    int rc = 0;
    if (sn->streamed)
        return LT_EINVAL;
    sn->streamed = true;
    items = st_calloc(st->n, sizeof(*items));
    if (items == NULL)
        return LT_ENOMEM;
    for (size_t i = 0; i < st->n && rc == 0; i++)
        rc = snap_collect(sn, &st->m[i], sn->pin, &items[i]);
    if (rc == 0 && snap_cancelled(sn))
        rc = LT_ESTALE;
    if (rc == 0) {
        snap_put(&o, snap_write_v2 ? SNAP_MAGIC_V2 : SNAP_MAGIC, 8);
        snap_put_uint(&o, st->n, 4);
    }
    for (size_t i = 0; i < st->n && rc == 0 && o.rc == 0; i++) {
        struct mstate *ms = &st->m[i];
        snap_put_uint(&o, strlen(ms->def->name), 2);
        snap_put(&o, ms->def->name, strlen(ms->def->name));
        snap_put_uint(&o, ms->n_ix, 2);
        for (size_t k = 0; k < ms->n_ix; k++) {
            snap_put_uint(&o, strlen(ms->ix[k].fd->name), 2);
            snap_put(&o, ms->ix[k].fd->name, strlen(ms->ix[k].fd->name));
        }
        snap_put_uint(&o, items[i].n, 8);
        if (!snap_write_v2 && o.rc == 0)
            rc = snap_put_positions(sn, &o, ms, &items[i]);
        for (size_t k = 0; k < items[i].n && rc == 0 && o.rc == 0; k++) {
            if (k % SNAP_WALK_STEP == 0 && snap_cancelled(sn))
                rc = LT_ESTALE;
            else
                snap_put_record(&o, ms, &items[i].v[k]);
        }
    }
    if (rc == 0) {
        snap_put_uint(&o, sn->applied_index, 8);
        snap_put_uint(&o, sn->applied_term, 8);
        snap_put_uint(&o, o.crc, 4);
        rc = o.rc;
    }
    for (size_t i = 0; i < st->n; i++)
        free(items[i].v);
    free(items);
    return rc;
}

int store_snapshot_digest(struct store_snap *sn, uint64_t *out)
{
    struct state *st = sn->st;
    uint64_t h = FNV_OFFSET;
    int rc = 0;
    if (sn->streamed)
        return LT_EINVAL;
    sn->streamed = true;
    for (size_t i = 0; i < st->n && rc == 0; i++) {
        struct mstate *ms = &st->m[i];
        struct snap_items it = {0};
        size_t depth = hist_depth(ms);
        rc = snap_collect(sn, ms, sn->pin, &it);
        if (rc == 0)
            h = digest_model(h, ms, it.n);
        for (size_t k = 0; k < it.n && rc == 0; k++) {
            if (k % SNAP_WALK_STEP == 0 && snap_cancelled(sn))
                rc = LT_ESTALE;
            else
                h = digest_record(h, it.v[k].r->key, it.v[k].v, depth);
        }
        free(it.v);
    }
    if (rc == 0)
        *out = mix64(h);
    return rc;
}

void store_snapshot_end(struct store *s, struct store_snap *sn)
{
    if (sn == NULL)
        return;
    for (size_t i = 0; i < sn->st->n; i++) {
        struct mstate *ms = &sn->st->m[i];
        struct rec *r = ms->grave, *next;
        ms->pinned = false;
        ms->grave = NULL;
        for (; r != NULL; r = next) {
            next = r->grave_next; /* shares memory with r->rcu */
            call_rcu(&r->rcu, rec_free_rcu);
        }
    }
    if (s->snap == sn)
        s->snap = NULL;
    free(sn);
}

int store_snapshot_write(struct store *s, int (*write)(void *ctx, const void *buf, size_t len),
                         void *ctx)
{
    struct store_snap *sn;
    int rc;
    if (s->snap != NULL || s->bulk != NULL)
        return LT_EBUSY;
    /* Nothing applies meanwhile: every current version is the one to write, whatever the
     * indexes it was applied at. */
    sn = snapshot_pin(s, UINT64_MAX);
    if (sn == NULL)
        return LT_ENOMEM;
    rc = store_snapshot_stream(sn, write, ctx);
    store_snapshot_end(s, sn);
    return rc;
}

struct snap_in {
    int (*read)(void *ctx, void *buf, size_t len); /* NULL: the snapshot is in memory */
    void *ctx;
    uint32_t crc;
    /* In memory: [mem, mem + mem_len), read up to pos, checksummed up to crc_pos;
     * versions borrow their bytes from it and reference `owner`. */
    const uint8_t *mem;
    size_t mem_len, pos, crc_pos;
    struct store_mem *owner;
    bool crc_elsewhere; /* in memory: a restore's index thread checksums meanwhile */
};

#define SNAP_CRC_STEP (256u << 10) /* in memory: checksum what was read every 256 KiB */

/* snap_crc_catch_up (in memory) extends the checksum over what was read: every
 * SNAP_CRC_STEP bytes, while they are still in cache, or now with `all`. */
static void snap_crc_catch_up(struct snap_in *in, bool all)
{
    if (in->read == NULL && !in->crc_elsewhere && (all || in->pos - in->crc_pos >= SNAP_CRC_STEP)) {
        in->crc = crc32c_extend(in->crc, in->mem + in->crc_pos, in->pos - in->crc_pos);
        in->crc_pos = in->pos;
    }
}

/* snap_borrow (in memory) points *p at the next `len` bytes. */
static int snap_borrow(struct snap_in *in, size_t len, const uint8_t **p)
{
    if (len > in->mem_len - in->pos)
        return LT_ECORRUPT;
    *p = in->mem + in->pos;
    in->pos += len;
    snap_crc_catch_up(in, false);
    return 0;
}

static int snap_get(struct snap_in *in, void *buf, size_t len)
{
    int rc;
    if (len == 0)
        return 0;
    if (in->read == NULL) {
        const uint8_t *p;
        if ((rc = snap_borrow(in, len, &p)) == 0)
            memcpy(buf, p, len);
        return rc;
    }
    rc = in->read(in->ctx, buf, len);
    if (rc != 0)
        return rc == LT_ENOMEM || rc == LT_EIO || rc == LT_EPERM ? rc : LT_ECORRUPT;
    in->crc = crc32c_extend(in->crc, buf, len);
    return 0;
}

static int snap_get_uint(struct snap_in *in, size_t bytes, uint64_t *out)
{
    uint8_t b[8];
    int rc = snap_get(in, b, bytes);
    if (rc != 0)
        return rc;
    *out = le_get(b, bytes);
    return 0;
}

/* ix_layout_ok tells whether `ix_len` bytes at p are exactly ms->n_ix index values, each
 * NUL-terminated and shorter than IXVAL_MAX. */
static bool ix_layout_ok(const struct mstate *ms, const uint8_t *p, size_t ix_len)
{
    size_t off = 0;
    for (size_t i = 0; i < ms->n_ix; i++) {
        const uint8_t *nul = off < ix_len ? memchr(p + off, '\0', ix_len - off) : NULL;
        if (nul == NULL || (size_t)(nul - (p + off)) >= IXVAL_MAX)
            return false;
        off = (size_t)(nul - p) + 1;
    }
    return off == ix_len;
}

/* snap_decode_version builds a version from its serialized value when the snapshot's
 * indexes differ from the model table's: decoded, checked against the key and version, its
 * index values computed for today's table. */
static int snap_decode_version(struct mstate *ms, const char *key, const uint8_t *value, size_t len,
                               const uint8_t *h, struct ver **out)
{
    alloc_failed = false;
    ProtobufCMessage *msg = protobuf_c_message_unpack(ms->def->desc, &pb_alloc, len, value);
    if (msg == NULL)
        return alloc_failed ? LT_ENOMEM : LT_ECORRUPT;
    int rc =
        strcmp(models_get_string(msg, ms->pk), key) == 0 &&
                models_get_uint64(msg, ms->version) == le_get(h + 2, 8)
            ? ver_build(ms, msg, (enum store_op)h[0], le_get(h + 10, 8), le_get(h + 18, 8), out)
            : LT_ECORRUPT;
    protobuf_c_message_free_unpacked(msg, &pb_alloc);
    return rc == 0 || rc == LT_ENOMEM ? rc : LT_ECORRUPT;
}

/* snap_read_version reads one version of `key`. With `same_ix` (the snapshot's indexes are
 * the model's) it is taken as it was in memory: copied from a stream, or borrowed in place
 * from a snapshot in memory; otherwise it is decoded (snap_decode_version). */
static int snap_read_version(struct snap_in *in, struct mstate *ms, bool same_ix, const char *key,
                             struct ver **out)
{
    uint8_t h[SNAP_VER_HDR];
    const uint8_t *bytes = NULL;
    int rc = snap_get(in, h, sizeof(h));
    if (rc != 0)
        return rc;
    uint64_t op = h[0], bench = h[1], ix_len = le_get(h + 26, 4), len = le_get(h + 30, 4);
    if (op > STORE_OP_UPDATE || bench > 1 || len > SNAP_VALUE_MAX ||
        ix_len > (uint64_t)MODELS_MAX_INDEXES * IXVAL_MAX)
        return LT_ECORRUPT;
    bool borrow = in->read == NULL;
    if (borrow && (rc = snap_borrow(in, ix_len + len, &bytes)) != 0)
        return rc;
    if (borrow && in->mem_len - in->pos >= 128) {
        /* the next record's header and key: the value between is not read here, so the
         * hardware prefetcher does not see this stride */
        __builtin_prefetch(in->mem + in->pos);
        __builtin_prefetch(in->mem + in->pos + 64);
    }
    if (borrow && !same_ix)
        return snap_decode_version(ms, key, bytes + ix_len, len, h, out);
    struct ver *v = st_malloc(sizeof(*v) + (borrow ? sizeof(struct ver_ref) : ix_len + len));
    if (v == NULL)
        return LT_ENOMEM;
    if (borrow) {
        struct ver_ref ref = {bytes, in->owner};
        memcpy(v->data, &ref, sizeof(ref));
    } else if ((rc = snap_get(in, v->data, ix_len + len)) != 0) {
        free(v);
        return rc;
    }
    if (!borrow && !same_ix) {
        rc = snap_decode_version(ms, key, v->data + ix_len, len, h, out);
        free(v);
        return rc;
    }
    if (!ix_layout_ok(ms, borrow ? bytes : v->data, ix_len)) {
        free(v);
        return LT_ECORRUPT;
    }
    v->prev = NULL;
    v->version = le_get(h + 2, 8);
    v->raft_index = le_get(h + 10, 8);
    v->raft_term = le_get(h + 18, 8);
    v->len = (uint32_t)len;
    v->ix_len = (uint32_t)ix_len;
    v->op = (uint8_t)op;
    v->bench = (uint8_t)bench;
    v->ext = borrow;
    if (borrow)
        uatomic_inc(&in->owner->refs);
    *out = v;
    return 0;
}

#define SNAP_RESIZE_EVERY 65536 /* records read between hash-table resizes */

/* ---- restore ----
 *
 * Records arrive in key order, which is random hash order: adding each to its hash table
 * at once costs two cache misses (its bucket, the node after it). So a restore collects
 * (hash, node) pairs and adds them at the end in bucket order, where consecutive adds touch
 * neighbouring memory (pending_flush).
 *
 * The reading thread links each record into the key order (keys append at the tail) and
 * hands (record, its number, benchmark flag) in batches to an index thread; the
 * structures the two touch are disjoint (ht and order vs. ix[].list and the counts), and
 * nothing is published until both are done. The index thread makes the record's index
 * entries and either
 *   - ordered (LTSTORE3, the snapshot's indexes are the model's): puts each entry in its
 *     slot, at the position the snapshot gives; at the end each index is built by
 *     appending its slots in order (checked to be increasing) and counting runs of equal
 *     values: no search at all (ix_build_ordered); or
 *   - searched (LTSTORE2, or other indexes): inserts each entry into its list, the count
 *     found through its neighbours (ix_link).
 * Without a thread the reader does the index work itself. The index side's first error
 * (no memory, bad positions) is returned at the end (restore_end). */
#define IXB_AHEAD       8 /* prefetch distance of the index side's random accesses */
#define IXB_BATCH       64
#define IXB_CAP         (16 * IXB_BATCH)
#define PEND_FLUSH_LOCK 4096 /* adds per read-side section in pending_flush */

#define PEND_CAP_FIRST 65536

/* pending_init makes room for deferred inserts, about `n` (it grows on demand; when it
 * cannot, they are done at once). */
static int pending_init(struct pending *p, uint64_t n)
{
    p->n = 0;
    p->cap = n < PEND_CAP_FIRST ? (size_t)n + 1 : PEND_CAP_FIRST;
    p->v = st_malloc(p->cap * sizeof(*p->v));
    return p->v != NULL ? 0 : LT_ENOMEM;
}

/* pending_sort orders v by (hash & mask), an LSD radix sort 11 bits at a time. */
static void pending_sort(struct pend *v, struct pend *tmp, size_t n, unsigned long mask)
{
    struct pend *from = v, *to = tmp;
    for (unsigned shift = 0; shift < 64 && (mask >> shift) != 0; shift += 11) {
        size_t at[2049] = {0};
        for (size_t i = 0; i < n; i++)
            at[(((from[i].hash & mask) >> shift) & 2047) + 1]++;
        for (size_t d = 1; d <= 2048; d++)
            at[d] += at[d - 1];
        for (size_t i = 0; i < n; i++)
            to[at[((from[i].hash & mask) >> shift) & 2047]++] = from[i];
        struct pend *t = from;
        from = to;
        to = t;
    }
    if (from != v)
        memcpy(v, from, n * sizeof(*v));
}

/* pending_flush adds the deferred nodes to `ht` (grown first to hold `total` entries) in
 * bucket order, and frees the list. Outside read sections; the table's only writer. */
static void pending_flush(struct pending *p, struct cds_lfht *ht, size_t total, size_t *buckets)
{
    if (p->v == NULL)
        return;
    table_grow(ht, total, buckets);
    struct pend *tmp = p->n > 1 ? malloc(p->n * sizeof(*tmp)) : NULL;
    if (tmp != NULL)
        pending_sort(p->v, tmp, p->n, (unsigned long)*buckets - 1);
    free(tmp); /* without it the adds are only slower */
    for (size_t i = 0; i < p->n; i += PEND_FLUSH_LOCK) {
        rcu_read_lock();
        for (size_t k = i; k < p->n && k < i + PEND_FLUSH_LOCK; k++)
            cds_lfht_add(ht, p->v[k].hash, p->v[k].node);
        rcu_read_unlock();
    }
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

struct ixb_job {
    struct rec *r;
    uint64_t ord;    /* the record's number in key order */
    size_t crc_upto; /* in memory: the input read when it was queued */
    bool bench;
};

/* One model's restore. */
struct restore {
    struct mstate *ms;
    struct snap_in *in; /* in memory with a thread: the index thread checksums it behind the
                           reader (in->crc, in->crc_pos are its until restore_end) */
    uint64_t n_records;
    struct pending recs; /* the hash table's */
    /* ordered: per index, every record's position (u32 LE, from the snapshot) and the
     * entries by position (low bit: the record's benchmark flag) */
    bool ordered;
    const uint8_t *pos[MODELS_MAX_INDEXES];
    uintptr_t *slot[MODELS_MAX_INDEXES];
    int err;                         /* the index side's first error while linking */
    int ierr[MODELS_MAX_INDEXES];    /* building index i at the end */
    struct ixb_job batch[IXB_BATCH]; /* the reader's, not queued yet */
    size_t n_batch;
    bool threaded; /* the index thread runs */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t nonempty, nonfull;
    struct ixb_job q[IXB_CAP];
    size_t head, n;
    bool busy; /* working on jobs it took off the queue */
    bool done;
};

/* ixb_do does the index work for one record (the index thread, or the reader without
 * one). After an error it does nothing more. */
static void ixb_do(struct restore *rs, const struct ixb_job *j)
{
    struct mstate *ms = rs->ms;
    const struct ver *v = j->r->cur;
    for (size_t i = 0; i < ms->n_ix && rs->err == 0; i++) {
        struct sl_entry *e = sl_entry_new(j->r, ver_ixval(v, i));
        if (e == NULL) {
            rs->err = LT_ENOMEM;
        } else if (rs->ordered) {
            uint64_t p = le_get(rs->pos[i] + 4 * j->ord, 4);
            if (p >= rs->n_records || rs->slot[i][p] != 0) {
                free(e);
                rs->err = LT_ECORRUPT; /* not a permutation */
            } else {
                rs->slot[i][p] = (uintptr_t)e | j->bench;
            }
        } else {
            struct ixcount *none = NULL;
            rcu_read_lock();
            rs->err = ix_link(&ms->ix[i], e, j->bench, &none);
            rcu_read_unlock();
        }
    }
}

/* ix_build_ordered builds index i of an ordered restore from its slots: entries appended
 * in position order, which must be increasing (value, key) order, and counts made for
 * each run of one value. Consumed slots are cleared (restore_end frees what is left). */
static int ix_build_ordered(struct restore *rs, size_t i)
{
    struct ixstate *ix = &rs->ms->ix[i];
    struct sl_entry *last[SL_MAX] = {NULL}, *prev = NULL;
    struct ixcount *c = NULL;
    for (uint64_t p = 0; p < rs->n_records; p++) {
        uintptr_t sv = rs->slot[i][p];
        struct sl_entry *e = (struct sl_entry *)(sv & ~(uintptr_t)1);
        if (p + IXB_AHEAD < rs->n_records) /* entries lie anywhere: fetch a few ahead */
            __builtin_prefetch((void *)(rs->slot[i][p + IXB_AHEAD] & ~(uintptr_t)1), 1);
        if (e == NULL)
            return LT_ECORRUPT;
        int cv = prev != NULL ? strcmp(entry_val(prev), entry_val(e)) : -1;
        if (cv > 0 || (cv == 0 && strcmp(entry_key(prev), entry_key(e)) >= 0))
            return LT_ECORRUPT; /* out of order */
        if (cv != 0) {
            if ((c = ixcount_new(entry_val(e))) == NULL)
                return LT_ENOMEM;
        }
        rs->slot[i][p] = 0;
        for (unsigned k = 0; k < e->height; k++) {
            e->next[k] = NULL;
            *sl_slot(&ix->list, last[k], k) = e;
            last[k] = e;
        }
        e->cnt = c;
        c->count++;
        c->bench += sv & 1;
        prev = e;
    }
    memcpy(ix->list.finger, last, sizeof(last));
    return 0;
}

/* ixb_finish_index finishes index i (built if ordered and nothing failed while linking).
 * The index thread and the reader may finish different indexes at once: each writes only
 * ierr[i]. */
static void ixb_finish_index(struct restore *rs, size_t i)
{
    if (rs->ordered && rs->err == 0)
        rs->ierr[i] = ix_build_ordered(rs, i);
}

static void *ixb_main(void *arg)
{
    struct restore *rs = arg;
    struct ixb_job jobs[IXB_BATCH];
    (void)lt_cpu_background("restore-ix"); /* a snapshot installed at run time too */
    rcu_register_thread();
    pthread_mutex_lock(&rs->mu);
    for (;;) {
        while (rs->n == 0 && !rs->done)
            pthread_cond_wait(&rs->nonempty, &rs->mu);
        if (rs->n == 0)
            break;
        size_t k = 0;
        for (; k < IXB_BATCH && rs->n > 0; k++) {
            jobs[k] = rs->q[rs->head];
            rs->head = (rs->head + 1) % IXB_CAP;
            rs->n--;
        }
        rs->busy = true;
        pthread_cond_signal(&rs->nonfull);
        pthread_mutex_unlock(&rs->mu);
        for (size_t x = 0; x < k; x++) {
            if (rs->ordered && x + IXB_AHEAD < k) /* the slots a later job will fill */
                for (size_t i = 0; i < rs->ms->n_ix; i++)
                    __builtin_prefetch(
                        &rs->slot[i][le_get(rs->pos[i] + 4 * jobs[x + IXB_AHEAD].ord, 4) %
                                     rs->n_records],
                        1);
            ixb_do(rs, &jobs[x]);
        }
        struct snap_in *in = rs->in;
        if (in != NULL && jobs[k - 1].crc_upto > in->crc_pos) {
            in->crc =
                crc32c_extend(in->crc, in->mem + in->crc_pos, jobs[k - 1].crc_upto - in->crc_pos);
            in->crc_pos = jobs[k - 1].crc_upto;
        }
        pthread_mutex_lock(&rs->mu);
        rs->busy = false;
        if (rs->n == 0)
            pthread_cond_signal(&rs->nonfull); /* ixb_drain waits for this too */
    }
    pthread_mutex_unlock(&rs->mu);
    /* Every index but the last (the reader finishes that one beside the record table). */
    for (size_t i = 0; i + 1 < rs->ms->n_ix; i++)
        ixb_finish_index(rs, i);
    rcu_unregister_thread();
    return NULL;
}

/* ixb_push queues the reader's batch (waiting for room), or does it here without a thread. */
static void ixb_push(struct restore *rs)
{
    if (!rs->threaded) {
        for (size_t x = 0; x < rs->n_batch; x++)
            ixb_do(rs, &rs->batch[x]);
        rs->n_batch = 0;
        return;
    }
    pthread_mutex_lock(&rs->mu);
    for (size_t x = 0; x < rs->n_batch; x++) {
        while (rs->n == IXB_CAP)
            pthread_cond_wait(&rs->nonfull, &rs->mu);
        rs->q[(rs->head + rs->n) % IXB_CAP] = rs->batch[x];
        rs->n++;
    }
    pthread_cond_signal(&rs->nonempty);
    pthread_mutex_unlock(&rs->mu);
    rs->n_batch = 0;
}

/* ixb_drain hands over the reader's batch and waits until the index thread has done
 * everything queued and is idle, so the reader may resize every table (outside its read
 * section). */
static void ixb_drain(struct restore *rs)
{
    ixb_push(rs);
    if (!rs->threaded)
        return;
    pthread_mutex_lock(&rs->mu);
    while (rs->n > 0 || rs->busy)
        pthread_cond_wait(&rs->nonfull, &rs->mu);
    pthread_mutex_unlock(&rs->mu);
}

/* restore_begin prepares the restore of `n_records` records of `ms` (about `presize` as
 * far as the input can tell; ordered when `pos` gives each index's positions, which must
 * outlive the restore, and n_records is then known true), with an index thread if one can
 * start. LT_ENOMEM: nothing to end. */
static int restore_begin(struct restore *rs, struct snap_in *in, struct mstate *ms,
                         uint64_t n_records, uint64_t presize, const uint8_t **pos)
{
    memset(rs, 0, sizeof(*rs));
    rs->ms = ms;
    rs->n_records = n_records;
    rs->ordered = pos != NULL && ms->n_ix > 0;
    int rc = pending_init(&rs->recs, presize);
    for (size_t i = 0; i < ms->n_ix && rc == 0 && rs->ordered; i++) {
        rs->pos[i] = pos[i];
        rs->slot[i] = n_records > 0 ? calloc(n_records, sizeof(rs->slot[i][0])) : NULL;
        if (n_records > 0 && rs->slot[i] == NULL)
            rc = LT_ENOMEM;
    }
    if (rc != 0) {
        free(rs->recs.v);
        for (size_t i = 0; i < ms->n_ix; i++)
            free(rs->slot[i]);
        return rc;
    }
    if (ms->n_ix == 0)
        return 0;
    pthread_mutex_init(&rs->mu, NULL);
    pthread_cond_init(&rs->nonempty, NULL);
    pthread_cond_init(&rs->nonfull, NULL);
    if (in->read == NULL) {
        snap_crc_catch_up(in, true);
        rs->in = in;
        in->crc_elsewhere = true; /* before the thread starts: it reads rs->in */
    }
    rs->threaded = pthread_create(&rs->th, NULL, ixb_main, rs) == 0;
    if (!rs->threaded) {
        rs->in = NULL;
        in->crc_elsewhere = false;
    }
    return 0;
}

/* restore_link links a restored record (a new key) with number `ord`: into the key order
 * here, into the hash table at the end (restore_end), into the secondary indexes on the
 * index side. In a read section. */
static void restore_link(struct restore *rs, struct ver *v, struct put_alloc *a, uint64_t ord)
{
    struct rec *r = link_new_rec(rs->ms, v, a);
    pending_push(&rs->recs, rs->ms->ht, hash_str(r->key), &r->node);
    if (rs->ms->n_ix == 0)
        return;
    rs->batch[rs->n_batch++] = (struct ixb_job){r, ord, rs->in != NULL ? rs->in->pos : 0, v->bench};
    if (rs->n_batch == IXB_BATCH)
        ixb_push(rs);
}

/* restore_end finishes a model's restore, successful (`rc` == 0) or not: the deferred
 * inserts are done (so that a failed restore's state frees like any other), the indexes
 * built, the index thread joined, unused slots freed. Returns `rc` or the index side's
 * error. Outside read sections. */
static int restore_end(struct restore *rs, int rc)
{
    struct mstate *ms = rs->ms;
    ixb_drain(rs); /* the index side is idle now: err and the checksum are the reader's */
    if (rs->in != NULL) {
        rs->in->crc_elsewhere = false;
        rs->in = NULL;
    }
    if (rc != 0 && rs->err == 0)
        rs->err = rc; /* nothing to build */
    if (rs->threaded) {
        pthread_mutex_lock(&rs->mu);
        rs->done = true;
        pthread_cond_signal(&rs->nonempty);
        pthread_mutex_unlock(&rs->mu);
    }
    pending_flush(&rs->recs, ms->ht, ms->count, &ms->buckets);
    if (!rs->threaded) {
        for (size_t i = 0; i + 1 < ms->n_ix; i++)
            ixb_finish_index(rs, i);
    }
    if (ms->n_ix > 0)
        ixb_finish_index(rs, ms->n_ix - 1);
    if (rs->threaded)
        pthread_join(rs->th, NULL);
    rc = rs->err;
    for (size_t i = 0; i < ms->n_ix; i++) {
        if (rc == 0)
            rc = rs->ierr[i];
        for (uint64_t p = 0; rs->slot[i] != NULL && p < rs->n_records; p++)
            free((void *)(rs->slot[i][p] & ~(uintptr_t)1));
        free(rs->slot[i]);
    }
    if (ms->n_ix > 0) {
        pthread_mutex_destroy(&rs->mu);
        pthread_cond_destroy(&rs->nonempty);
        pthread_cond_destroy(&rs->nonfull);
    }
    return rc;
}

/* snap_read_record reads record number `ord` of the model and links it into the
 * (unpublished) state. `prev_key` holds the previous key (keys must increase). */
static int snap_read_record(struct snap_in *in, struct restore *rs, bool same_ix, char *key,
                            char *prev_key, uint64_t ord)
{
    struct mstate *ms = rs->ms;
    unsigned depth = ms->def->history_depth > 0 ? ms->def->history_depth : 1;
    struct ver *chain = NULL;
    uint64_t klen, n;
    int rc;

    if ((rc = snap_get_uint(in, 4, &klen)) != 0)
        return rc;
    if (klen == 0 || klen >= SNAP_KEY_MAX)
        return LT_ECORRUPT;
    if ((rc = snap_get(in, key, klen)) != 0)
        return rc;
    key[klen] = '\0';
    if (strlen(key) != klen || (prev_key[0] != '\0' && strcmp(prev_key, key) >= 0))
        return LT_ECORRUPT;
    if ((rc = snap_get_uint(in, 4, &n)) != 0)
        return rc;
    if (n == 0 || n > SNAP_VERSIONS_MAX)
        return LT_ECORRUPT;
    for (uint64_t i = 0; i < n; i++) {
        struct ver *v;
        if ((rc = snap_read_version(in, ms, same_ix, key, &v)) != 0)
            goto fail;
        v->prev = chain;
        chain = v;
    }
    /* A snapshot taken with a deeper history (the table changed) keeps the newest. */
    for (struct ver *v = chain; v != NULL; v = v->prev) {
        if (--depth == 0) {
            ver_free_chain(v->prev);
            v->prev = NULL;
            break;
        }
    }
    {
        struct put_alloc alloc;
        if ((rc = rec_prepare(key, &alloc)) != 0)
            goto fail;
        restore_link(rs, chain, &alloc, ord);
    }
    memcpy(prev_key, key, klen + 1);
    return 0;
fail:
    ver_free_chain(chain);
    return rc;
}

/* snap_read_positions reads the index positions of a model's `n_records` records
 * (n_ix of them, the snapshot's indexes): into pos[] when `keep` (borrowed in memory,
 * else copied into pos_owned[], the caller's to free), skipped otherwise. */
static int snap_read_positions(struct snap_in *in, uint64_t n_ix, uint64_t n_records, bool keep,
                               const uint8_t **pos, uint8_t **pos_owned)
{
    if (n_records > UINT32_MAX)
        return LT_ECORRUPT;
    for (uint64_t i = 0; i < n_ix; i++) {
        uint64_t left = 4 * n_records;
        int rc;
        if (in->read == NULL) {
            if ((rc = snap_borrow(in, (size_t)left, &pos[i])) != 0)
                return rc;
            continue;
        }
        /* streamed: copied in growing pieces, so a corrupt count fails at the end of the
         * input instead of allocating for it */
        uint8_t *buf = NULL, scratch[4096];
        size_t have = 0, cap = 0;
        while (left > 0) {
            size_t k = left < sizeof(scratch) ? (size_t)left : sizeof(scratch);
            if (keep && have + k > cap) {
                size_t ncap = cap ? 2 * cap : 65536;
                while (ncap < have + k)
                    ncap *= 2;
                uint8_t *grown = realloc(buf, ncap);
                if (grown == NULL) {
                    free(buf);
                    return LT_ENOMEM;
                }
                buf = grown;
                cap = ncap;
            }
            if ((rc = snap_get(in, keep ? buf + have : scratch, k)) != 0) {
                free(buf);
                return rc;
            }
            have += keep ? k : 0;
            left -= k;
        }
        pos_owned[i] = buf;
        pos[i] = buf;
    }
    return 0;
}

/* snap_read_indexes reads a model's index list (*n_ix of them) and tells whether it is the
 * model's own. */
static int snap_read_indexes(struct snap_in *in, const struct mstate *ms, bool *same,
                             uint64_t *n_ix)
{
    uint64_t n, len;
    char name[128];
    int rc = snap_get_uint(in, 2, &n);
    if (rc != 0)
        return rc;
    if (n > MODELS_MAX_INDEXES)
        return LT_ECORRUPT;
    *same = n == ms->n_ix;
    *n_ix = n;
    for (uint64_t k = 0; k < n; k++) {
        if ((rc = snap_get_uint(in, 2, &len)) != 0)
            return rc;
        if (len == 0 || len >= sizeof(name))
            return LT_ECORRUPT;
        if ((rc = snap_get(in, name, len)) != 0)
            return rc;
        name[len] = '\0';
        if (*same && strcmp(name, ms->ix[k].fd->name) != 0)
            *same = false;
    }
    return 0;
}

/* A corrupt record count must not allocate a huge table: the presize is bounded by what
 * the input can hold (in memory) or by SNAP_PRESIZE_MAX (streamed; the table grows as
 * records come if there are more). */
#define SNAP_PRESIZE_MAX  (1u << 20)
#define SNAP_RECORD_BYTES (4 + 1 + 4 + SNAP_VER_HDR) /* the least a record takes */

static uint64_t snap_presize(const struct snap_in *in, uint64_t n_records)
{
    uint64_t most =
        in->read == NULL ? (in->mem_len - in->pos) / SNAP_RECORD_BYTES : SNAP_PRESIZE_MAX;
    return n_records < most ? n_records : most;
}

/* snap_read_state reads a snapshot into the unpublished state `st`. Called outside any
 * RCU read-side section: it enters one to link records and leaves it now and then to grow
 * the hash tables (which must happen outside), so a large store restores in O(n). */
static int snap_read_state(struct snap_in *in, struct state *st, uint64_t *applied_index,
                           uint64_t *applied_term)
{
    char magic[8];
    char name[65];
    char *key = st_malloc(SNAP_KEY_MAX), *prev = st_malloc(SNAP_KEY_MAX);
    uint64_t n_models, nlen, n_records, sum;
    int rc = LT_ENOMEM;
    if (key == NULL || prev == NULL)
        goto out;
    if ((rc = snap_get(in, magic, 8)) != 0)
        goto out;
    rc = LT_ECORRUPT;
    bool v2 = memcmp(magic, SNAP_MAGIC_V2, 8) == 0;
    if (!v2 && memcmp(magic, SNAP_MAGIC, 8) != 0)
        goto out;
    if ((rc = snap_get_uint(in, 4, &n_models)) != 0)
        goto out;
    rc = LT_ECORRUPT;
    if (n_models > st->n)
        goto out;
    for (uint64_t i = 0; i < n_models; i++) {
        struct mstate *ms;
        bool same_ix;
        uint64_t n_ix;
        if ((rc = snap_get_uint(in, 2, &nlen)) != 0)
            goto out;
        rc = LT_ECORRUPT;
        if (nlen == 0 || nlen >= sizeof(name))
            goto out;
        if ((rc = snap_get(in, name, nlen)) != 0)
            goto out;
        name[nlen] = '\0';
        ms = state_model(st, name);
        rc = LT_ECORRUPT;
        if (ms == NULL || ms->count != 0 || ms->order.head[0] != NULL)
            goto out;
        if ((rc = snap_read_indexes(in, ms, &same_ix, &n_ix)) != 0 ||
            (rc = snap_get_uint(in, 8, &n_records)) != 0)
            goto out;
        /* The positions (LTSTORE3): kept when the indexes are the model's, else skipped. */
        const uint8_t *pos[MODELS_MAX_INDEXES] = {NULL};
        uint8_t *pos_owned[MODELS_MAX_INDEXES] = {NULL};
        if (!v2 && (rc = snap_read_positions(in, n_ix, n_records, same_ix, pos, pos_owned)) != 0)
            goto out_pos;
        prev[0] = '\0';
        /* Size the record table for what is coming. */
        table_grow(ms->ht, snap_presize(in, n_records), &ms->buckets);
        struct restore *rs = st_malloc(sizeof(*rs));
        rc = rs != NULL ? restore_begin(rs, in, ms, n_records, snap_presize(in, n_records),
                                        !v2 && same_ix ? pos : NULL)
                        : LT_ENOMEM;
        if (rc != 0) {
            free(rs);
            goto out_pos;
        }
        rcu_read_lock();
        for (uint64_t r = 0; r < n_records && rc == 0; r++) {
            rc = snap_read_record(in, rs, same_ix, key, prev, r);
            if (rc == 0 && (r + 1) % SNAP_RESIZE_EVERY == 0) {
                rcu_read_unlock();
                ixb_drain(rs); /* its tables must be still while they grow */
                state_resize(st);
                rcu_read_lock();
            }
        }
        rcu_read_unlock();
        rc = restore_end(rs, rc);
        free(rs);
    out_pos:
        for (size_t k = 0; k < MODELS_MAX_INDEXES; k++)
            free(pos_owned[k]);
        if (rc != 0)
            goto out;
    }
    if ((rc = snap_get_uint(in, 8, applied_index)) != 0 ||
        (rc = snap_get_uint(in, 8, applied_term)) != 0)
        goto out;
    {
        snap_crc_catch_up(in, true);
        uint32_t expect = in->crc;
        if ((rc = snap_get_uint(in, 4, &sum)) != 0)
            goto out;
        rc = sum == expect && (in->read != NULL || in->pos == in->mem_len) ? 0 : LT_ECORRUPT;
    }
out:
    free(key);
    free(prev);
    return rc;
}

struct store_prepared {
    struct state *st;
    uint64_t index, term;
};

/* snapshot_prepare builds the state a snapshot holds, published nowhere yet: any thread
 * registered with liburcu (the state is its own, as are its allocations' failures). */
static int snapshot_prepare(struct snap_in *in, struct store_prepared **out)
{
    struct store_prepared *p = st_calloc(1, sizeof(*p));
    int rc = p != NULL ? state_new(&p->st) : LT_ENOMEM;
    if (rc == 0)
        rc = snap_read_state(in, p->st, &p->index, &p->term);
    if (rc != 0) {
        store_prepared_free(p);
        return rc;
    }
    state_resize(p->st);
    *out = p;
    return 0;
}

/* snapshot_publish (applier) puts the prepared state in place of the current one. */
static void snapshot_publish(struct store *s, struct store_prepared *p)
{
    struct state *old = state_swap(s, p->st);
    synchronize_rcu(); /* no reader still walks the old state */
    state_free(old);
    s->applied_index = p->index;
    s->applied_term = p->term;
    free(p);
}

/* snapshot_install reads a snapshot through `in` into a new state and publishes it in
 * place of the old one; on any error nothing changes. */
static int snapshot_install(struct store *s, struct snap_in *in)
{
    struct store_prepared *p;
    int rc = snapshot_prepare(in, &p);
    if (rc == 0)
        snapshot_publish(s, p);
    return rc;
}

void store_prepared_free(struct store_prepared *p)
{
    if (p == NULL)
        return;
    state_free(p->st);
    free(p);
}

int store_snapshot_install(struct store *s, struct store_prepared *p)
{
    if (s->snap != NULL || s->bulk != NULL)
        return LT_EBUSY; /* as in store_snapshot_read; p stays the caller's */
    snapshot_publish(s, p);
    return 0;
}

void store_prepared_position(const struct store_prepared *p, uint64_t *index, uint64_t *term)
{
    *index = p->index;
    *term = p->term;
}

int store_snapshot_read(struct store *s, int (*read)(void *ctx, void *buf, size_t len), void *ctx)
{
    struct snap_in in = {.read = read, .ctx = ctx};
    if (s->snap != NULL || s->bulk != NULL)
        return LT_EBUSY; /* the pinned snapshot (the bulk's queued work) refers to the state a
                          * restore would free */
    return snapshot_install(s, &in);
}

int store_snapshot_load(struct store *s, const void *data, size_t len, void (*release)(void *ctx),
                        void *ctx)
{
    if (s->snap != NULL || s->bulk != NULL) { /* as in store_snapshot_read */
        release(ctx);
        return LT_EBUSY;
    }
    struct store_prepared *p;
    int rc = store_snapshot_prepare(data, len, release, ctx, &p);
    if (rc == 0)
        snapshot_publish(s, p);
    return rc;
}

int store_snapshot_prepare(const void *data, size_t len, void (*release)(void *ctx), void *ctx,
                           struct store_prepared **out)
{
    struct store_mem *m = st_malloc(sizeof(*m));
    if (m == NULL) {
        release(ctx);
        return LT_ENOMEM;
    }
    m->release = release;
    m->ctx = ctx;
    m->refs = 1; /* this load's own, dropped below */
    struct snap_in in = {.mem = data, .mem_len = len, .owner = m};
    int rc = snapshot_prepare(&in, out);
    mem_unref(m);
    return rc;
}
