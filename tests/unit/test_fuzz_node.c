/* test_fuzz_node.c — seeded, bounded mutation fuzzing of what a lithair-node takes from
 * the outside world:
 *
 *   codec  raft Batches (node/transport/codec) of every message type, mutated (bit flips,
 *          byte sets, truncations, insertions, varint extremes, splices): decoding returns
 *          0 or LT_ECORRUPT, hands out only what the codec promises, and what it decoded
 *          encodes and decodes again to the same messages;
 *   raft   a 3-node cluster of real raft cores (test_raft_harness.h) fed valid but hostile
 *          messages (absurd terms and indexes, commit past the log, strangers, wrong
 *          destinations, bad snapshots, mutated copies of real traffic, mutated bytes
 *          through the codec): each core keeps commit <= last index, a term that never goes
 *          down, one vote per term, never rewrites what it applied, settles (no endless
 *          output) and restarts from what it persisted; a rejected or stale message changes
 *          nothing; after rounds of harmless hostility the cluster still commits;
 *   store  mutated Commands applied to two fresh stores: never a crash, identical results
 *          and digests (determinism), a failed command changes nothing, every stored value
 *          decodes, snapshots of the result restore to the same digest;
 *   rpc    a real single-node lithair-node in this process (ipc:// sockets in a temporary
 *          directory) sent mutated Requests, requests with hostile strings (and mutated
 *          raft Batches): every request is answered with a well-formed Response whose
 *          strings are UTF-8, and after a restart the node's store has the same digest;
 *   slow   the same node on a disk whose fdatasync takes 1.2 s (sio_delay_arm): it says so
 *          in its log, one line for many batches.
 *
 * raft_extreme_numbers pins what the fuzzer found first in the raft core. Every fuzzing
 * case is bounded in iterations and in wall time. The seed is $LT_SEED or a fixed
 * default; every failure prints it, the case and the iteration, so a run replays exactly
 * (the rpc case also depends on thread timing and the clock, so it replays its inputs, not
 * necessarily every interleaving). */
#include <fcntl.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "config.h"
#include "cunit_main.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_log.h"
#include "lt_utf8.h"
#include "models.h"
#include "node.h"
#include "sio.h"
#include "store.h"
#include "test_raft_harness.h"
#include "testutil.h"
#include "wire.h"

#define FZ_DEFAULT_SEED 0x6c69746861697231ull
#define FZ_MAX_FAILURES 20 /* a case stops after this many failed checks */
#define FZ_MS           1000000ull

/* ---- seeded randomness, budgets and checks ---- */

static uint64_t fz_seed;     /* the run's seed */
static const char *fz_case;  /* the case running */
static size_t fz_iter;       /* its current iteration */
static unsigned fz_failures; /* failed checks in this case */
static char fz_last[256];    /* what the case did last, printed with a failure */
static uint64_t rng_state;

/* xorshift64*: a small seeded generator so a failing run can be replayed (LT_SEED). */
static uint64_t rng_next(void)
{
    return tu_rng_next(&rng_state);
}

static uint64_t rng_below(uint64_t n)
{
    return n ? rng_next() % n : 0;
}

static bool rng_chance(unsigned percent)
{
    return rng_below(100) < percent;
}

static void fz_fail(const char *what, const char *file, unsigned line)
{
    fz_failures++;
    if (fz_failures <= FZ_MAX_FAILURES)
        fprintf(stderr,
                "%s:%u: check failed: %s (case %s, iteration %zu; replay with LT_SEED=%llu)\n",
                file, line, what, fz_case, fz_iter, (unsigned long long)fz_seed);
    if (fz_failures <= FZ_MAX_FAILURES && fz_last[0])
        fprintf(stderr, "  last input: %s\n", fz_last);
    CU_assertImplementation(CU_FALSE, line, what, file, "", CU_FALSE);
}

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fz_fail(#cond, __FILE__, __LINE__);                                                    \
    } while (0)

struct fz_budget {
    size_t max_iter;
    uint64_t start_ns, deadline_ns;
};

/* fz_begin starts case `name`: its own stream of the run's seed, at most `max_iter`
 * iterations and `max_ms` milliseconds. */
static void fz_begin(struct fz_budget *b, const char *name, size_t max_iter, uint64_t max_ms)
{
    const char *env = getenv("LT_SEED");
    fz_seed = env && *env ? strtoull(env, NULL, 0) : FZ_DEFAULT_SEED;
    uint64_t salt = 0;
    for (const char *p = name; *p; p++)
        salt = salt * 131 + (unsigned char)*p;
    rng_state = (fz_seed ^ (salt * 0x9e3779b97f4a7c15ull)) | 1;
    fz_case = name;
    fz_last[0] = '\0';
    fz_iter = 0;
    fz_failures = 0;
    b->max_iter = max_iter;
    b->start_ns = lt_now_ns();
    b->deadline_ns = b->start_ns + max_ms * FZ_MS;
    fprintf(stderr, "%s: seed %llu (replay with LT_SEED=%llu)\n", name, (unsigned long long)fz_seed,
            (unsigned long long)fz_seed);
}

static bool fz_more(const struct fz_budget *b)
{
    return fz_iter < b->max_iter && lt_now_ns() < b->deadline_ns && fz_failures < FZ_MAX_FAILURES;
}

static void fz_end(const struct fz_budget *b, const char *unit, size_t extra)
{
    fprintf(stderr, "%s: %zu iterations (%zu %s) in %llu ms\n", fz_case, fz_iter, extra, unit,
            (unsigned long long)((lt_now_ns() - b->start_ns) / FZ_MS));
}

/* ---- the mutator ---- */

/* fz_mutate applies 1-4 random edits to buf[0..len) (room for `cap` bytes) and returns the
 * new length: bit flips, interesting bytes, truncation, insertion, deletion, varint
 * extremes, duplicated ranges, off-by-one lengths. */
static size_t fz_mutate(uint8_t *buf, size_t len, size_t cap)
{
    static const uint8_t bytes[] = {0x00, 0x01, 0x02, 0x08, 0x0a, 0x12, 0x7f, 0x80, 0xff};
    static const struct {
        uint8_t b[10];
        size_t n;
    } varints[] = {
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10}, /* 2^64 - 1 */
        {{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 10}, /* overlong 0 */
        {{0xff, 0xff, 0xff, 0xff, 0x07}, 5},                                /* 2^31 - 1 */
        {{0x80, 0x80, 0x80, 0x80, 0x10}, 5},                                /* 2^32 */
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 9},        /* 2^63 - 1 */
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 10}, /* too long */
    };
    unsigned ops = 1 + (unsigned)rng_below(4);
    for (unsigned k = 0; k < ops; k++) {
        size_t pos = len ? (size_t)rng_below(len) : 0;
        switch (rng_below(8)) {
        case 0: /* flip a bit */
            if (len)
                buf[pos] ^= (uint8_t)(1u << rng_below(8));
            break;
        case 1: /* set a byte */
            if (len)
                buf[pos] = rng_chance(60) ? bytes[rng_below(sizeof(bytes))] : (uint8_t)rng_next();
            break;
        case 2: /* truncate */
            len = len ? (size_t)rng_below(len) : 0;
            break;
        case 3: { /* insert random bytes */
            size_t n = 1 + (size_t)rng_below(8);
            if (len + n > cap)
                break;
            memmove(buf + pos + n, buf + pos, len - pos);
            for (size_t i = 0; i < n; i++)
                buf[pos + i] = (uint8_t)rng_next();
            len += n;
            break;
        }
        case 4: { /* delete a range */
            if (!len)
                break;
            size_t room = len - pos < 16 ? len - pos : 16;
            size_t n = 1 + (size_t)rng_below(room);
            memmove(buf + pos, buf + pos + n, len - pos - n);
            len -= n;
            break;
        }
        case 5: { /* a varint extreme, inserted or written over */
            size_t v = (size_t)rng_below(sizeof(varints) / sizeof(varints[0]));
            size_t n = varints[v].n;
            if (rng_chance(50) && len + n <= cap) {
                memmove(buf + pos + n, buf + pos, len - pos);
                len += n;
            } else if (pos + n > len) {
                break;
            }
            memcpy(buf + pos, varints[v].b, n);
            break;
        }
        case 6: { /* duplicate a range somewhere else */
            uint8_t tmp[32];
            if (!len)
                break;
            size_t room = len - pos < sizeof(tmp) ? len - pos : sizeof(tmp);
            size_t n = 1 + (size_t)rng_below(room);
            size_t at = (size_t)rng_below(len + 1);
            if (len + n > cap)
                break;
            memcpy(tmp, buf + pos, n);
            memmove(buf + at + n, buf + at, len - at);
            memcpy(buf + at, tmp, n);
            len += n;
            break;
        }
        default: /* a length off by one */
            if (len)
                buf[pos] = (uint8_t)(buf[pos] + (rng_chance(50) ? 1 : 0xff));
            break;
        }
    }
    return len;
}

/* fz_u64: an interesting 64-bit value. */
static uint64_t fz_u64(void)
{
    switch (rng_below(8)) {
    case 0:
        return 0;
    case 1:
        return 1;
    case 2:
        return rng_below(16);
    case 3:
        return rng_below(1000);
    case 4:
        return UINT64_MAX - rng_below(3);
    case 5:
        return (uint64_t)1 << rng_below(64);
    case 6:
        return rng_next();
    default:
        return rng_below(1u << 20);
    }
}

/* ---- a. the raft codec ---- */

/* One message with everything it points to owned (a generated one, or a decoded one
 * copied out of the decoder's callback). */
struct fz_msg {
    struct raft_msg m;
    struct raft_entry *ents;
    struct codec_chunk chunk;
    bool has_chunk;
};

struct fz_batch {
    struct fz_msg *v;
    size_t n, cap;
};

static void fz_msg_fini(struct fz_msg *f)
{
    for (size_t k = 0; k < f->m.n_entries; k++)
        free((void *)f->ents[k].data.base);
    free(f->ents);
    free((void *)f->chunk.data);
    memset(f, 0, sizeof(*f));
}

static void fz_batch_clear(struct fz_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        fz_msg_fini(&b->v[i]);
    b->n = 0;
}

static void fz_batch_free(struct fz_batch *b)
{
    fz_batch_clear(b);
    free(b->v);
    memset(b, 0, sizeof(*b));
}

static void *fz_memdup(const void *p, size_t len)
{
    if (!len)
        return NULL;
    void *q = malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    memcpy(q, p, len);
    return q;
}

/* fz_batch_push appends a deep copy of `m` and `c` (reading every byte they point to). */
static void fz_batch_push(struct fz_batch *b, const struct raft_msg *m, const struct codec_chunk *c)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->v = realloc(b->v, b->cap * sizeof(*b->v));
        CU_ASSERT_PTR_NOT_NULL_FATAL(b->v);
    }
    struct fz_msg *f = &b->v[b->n++];
    memset(f, 0, sizeof(*f));
    f->m = *m;
    if (m->n_entries) {
        f->ents = calloc(m->n_entries, sizeof(*f->ents));
        CU_ASSERT_PTR_NOT_NULL_FATAL(f->ents);
        for (size_t k = 0; k < m->n_entries; k++) {
            f->ents[k] = m->entries[k];
            f->ents[k].data.base = fz_memdup(m->entries[k].data.base, m->entries[k].data.len);
        }
    }
    f->m.entries = f->ents;
    if (c) {
        f->has_chunk = true;
        f->chunk = *c;
        f->chunk.data = fz_memdup(c->data, c->len);
    }
}

static bool fz_msg_equal(const struct fz_msg *a, const struct fz_msg *b)
{
    const struct raft_msg *x = &a->m, *y = &b->m;
    if (x->type != y->type || x->from != y->from || x->to != y->to || x->term != y->term ||
        x->log_term != y->log_term || x->index != y->index || x->commit != y->commit ||
        x->reject != y->reject || x->reject_hint != y->reject_hint ||
        x->hint_term != y->hint_term || x->context != y->context || x->n_entries != y->n_entries)
        return false;
    for (size_t k = 0; k < x->n_entries; k++) {
        const struct raft_entry *e = &x->entries[k], *f = &y->entries[k];
        if (e->term != f->term || e->index != f->index || e->type != f->type ||
            e->data.len != f->data.len ||
            (e->data.len && memcmp(e->data.base, f->data.base, e->data.len) != 0))
            return false;
    }
    if (x->type != RAFT_MSG_SNAPSHOT)
        return true; /* only a snapshot message carries a meta and a chunk */
    if (x->snapshot.index != y->snapshot.index || x->snapshot.term != y->snapshot.term ||
        x->snapshot.conf.n_voters != y->snapshot.conf.n_voters)
        return false;
    for (size_t k = 0; k < x->snapshot.conf.n_voters; k++)
        if (x->snapshot.conf.voters[k] != y->snapshot.conf.voters[k])
            return false;
    if (a->has_chunk != b->has_chunk)
        return false;
    return !a->has_chunk ||
           (a->chunk.offset == b->chunk.offset && a->chunk.len == b->chunk.len &&
            a->chunk.done == b->chunk.done &&
            (!a->chunk.len || memcmp(a->chunk.data, b->chunk.data, a->chunk.len) == 0));
}

static void *fz_random_bytes(size_t len)
{
    if (!len)
        return NULL;
    uint8_t *p = malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)rng_next();
    return p;
}

static size_t fz_data_len(void)
{
    switch (rng_below(6)) {
    case 0:
    case 1:
        return 0;
    case 2:
    case 3:
        return 1 + (size_t)rng_below(64);
    case 4:
        return 64 + (size_t)rng_below(600);
    default:
        return rng_chance(10) ? 4096 + (size_t)rng_below(4096) : (size_t)rng_below(200);
    }
}

/* fz_gen_msg makes a random, well-formed message of any type into `b`. */
static void fz_gen_msg(struct fz_batch *b)
{
    struct raft_msg m;
    struct raft_entry ents[6];
    struct codec_chunk chunk;
    bool has_chunk = false;
    memset(&m, 0, sizeof(m));
    m.type = (enum raft_msg_type)(1 + rng_below(RAFT_MSG_DIVERGED));
    m.from = fz_u64();
    m.to = fz_u64();
    m.term = fz_u64();
    m.log_term = fz_u64();
    m.index = fz_u64();
    m.commit = fz_u64();
    m.reject = rng_chance(30);
    m.reject_hint = fz_u64();
    m.hint_term = fz_u64();
    m.context = rng_chance(50) ? 0 : fz_u64();
    if (m.type == RAFT_MSG_APPEND || rng_chance(10)) {
        m.n_entries = (size_t)rng_below(6);
        for (size_t k = 0; k < m.n_entries; k++) {
            ents[k].term = fz_u64();
            ents[k].index = m.index + 1 + k;
            ents[k].type = (enum raft_entry_type)rng_below(3);
            ents[k].data.len = fz_data_len();
            ents[k].data.base = fz_random_bytes(ents[k].data.len);
        }
        m.entries = m.n_entries ? ents : NULL;
    }
    if (m.type == RAFT_MSG_SNAPSHOT) {
        m.snapshot.index = fz_u64();
        m.snapshot.term = fz_u64();
        m.snapshot.conf.n_voters = (size_t)rng_below(RAFT_MAX_NODES + 1);
        for (size_t k = 0; k < m.snapshot.conf.n_voters; k++)
            m.snapshot.conf.voters[k] = fz_u64();
        if (rng_chance(70)) {
            chunk.offset = fz_u64();
            chunk.len = (size_t)rng_below(700);
            chunk.data = fz_random_bytes(chunk.len);
            chunk.done = chunk.len == 0 || rng_chance(30); /* no bytes and not done: no chunk */
            has_chunk = true;
        }
    }
    fz_batch_push(b, &m, has_chunk ? &chunk : NULL);
    for (size_t k = 0; k < m.n_entries; k++)
        free((void *)ents[k].data.base);
    if (has_chunk)
        free((void *)chunk.data);
}

/* fz_encode encodes `b` as one Batch into a malloc'd buffer with `slack` spare bytes. */
static uint8_t *fz_encode(const struct fz_batch *b, size_t slack, size_t *len)
{
    const struct raft_msg *msgs[16];
    const struct codec_chunk *chunks[16];
    CU_ASSERT_FATAL(b->n <= 16);
    for (size_t i = 0; i < b->n; i++) {
        msgs[i] = &b->v[i].m;
        chunks[i] = b->v[i].has_chunk ? &b->v[i].chunk : NULL;
    }
    size_t size = codec_batch_size(msgs, chunks, b->n);
    uint8_t *buf = malloc(size + slack + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    *len = codec_batch_encode(msgs, chunks, b->n, buf);
    FZ_CHECK(*len == size);
    return buf;
}

struct fz_decoded {
    struct fz_batch out;
    size_t calls;
    size_t stop_at; /* return 77 from this call (SIZE_MAX: never) */
};

/* fz_on_msg checks what codec.h promises about a decoded message and copies it out. */
static int fz_on_msg(void *arg, const struct raft_msg *m, const struct codec_chunk *c)
{
    struct fz_decoded *d = arg;
    FZ_CHECK(m->type > RAFT_MSG_NONE && m->type <= RAFT_MSG_DIVERGED);
    FZ_CHECK((m->n_entries == 0) == (m->entries == NULL));
    for (size_t k = 0; k < m->n_entries; k++) {
        FZ_CHECK(m->entries[k].type >= RAFT_ENTRY_NORMAL &&
                 m->entries[k].type <= RAFT_ENTRY_CONF_CHANGE);
        FZ_CHECK(m->entries[k].data.len == 0 || m->entries[k].data.base != NULL);
    }
    FZ_CHECK(m->snapshot.conf.n_voters <= RAFT_MAX_NODES);
    if (c) {
        FZ_CHECK(m->type == RAFT_MSG_SNAPSHOT);
        FZ_CHECK(c->len == 0 || c->data != NULL);
        FZ_CHECK(c->len > 0 || c->done);
    }
    fz_batch_push(&d->out, m, c);
    return d->calls++ == d->stop_at ? 77 : 0;
}

static int fz_decode(const uint8_t *buf, size_t len, struct fz_decoded *d, size_t stop_at)
{
    fz_batch_clear(&d->out);
    d->calls = 0;
    d->stop_at = stop_at;
    return codec_batch_decode(buf, len, fz_on_msg, d);
}

static uint8_t *fz_alloc_cb(void *ud, size_t len)
{
    uint8_t **slot = ud;
    *slot = malloc(len ? len : 1);
    return *slot;
}

static void test_codec_mutations(void)
{
    struct fz_budget bud;
    struct fz_decoded d, again;
    struct fz_batch orig;
    size_t decoded_ok = 0, corrupt = 0, mutations = 0;
    memset(&d, 0, sizeof(d));
    memset(&again, 0, sizeof(again));
    memset(&orig, 0, sizeof(orig));
    fz_begin(&bud, "codec", 15000, 3000);
    while (fz_more(&bud)) {
        size_t n = 1 + (size_t)rng_below(6), len;
        for (size_t i = 0; i < n; i++)
            fz_gen_msg(&orig);
        uint8_t *buf = fz_encode(&orig, 0, &len);
        if (fz_iter % 16 == 0) { /* the one-pass encoder writes the same bytes */
            const struct raft_msg *msgs[16];
            const struct codec_chunk *chunks[16];
            for (size_t i = 0; i < n; i++) {
                msgs[i] = &orig.v[i].m;
                chunks[i] = orig.v[i].has_chunk ? &orig.v[i].chunk : NULL;
            }
            uint8_t *one = NULL;
            size_t len1 = codec_batch_encode_alloc(msgs, chunks, n, fz_alloc_cb, &one);
            FZ_CHECK(len1 == len && one && memcmp(one, buf, len) == 0);
            free(one);
        }
        /* the batch as encoded decodes to exactly what was encoded */
        FZ_CHECK(fz_decode(buf, len, &d, SIZE_MAX) == 0);
        FZ_CHECK(d.out.n == n);
        for (size_t i = 0; i < n && i < d.out.n; i++)
            FZ_CHECK(fz_msg_equal(&orig.v[i], &d.out.v[i]));
        /* a callback's non-zero answer stops the decoding and is returned */
        size_t stop = (size_t)rng_below(n);
        FZ_CHECK(fz_decode(buf, len, &d, stop) == 77);
        FZ_CHECK(d.calls == stop + 1);

        size_t cap = len + 96;
        uint8_t *mbuf = malloc(cap);
        CU_ASSERT_PTR_NOT_NULL_FATAL(mbuf);
        for (int k = 0; k < 8; k++, mutations++) {
            size_t mlen;
            if (rng_chance(5)) { /* pure garbage */
                mlen = (size_t)rng_below(cap);
                for (size_t i = 0; i < mlen; i++)
                    mbuf[i] = (uint8_t)rng_next();
            } else {
                memcpy(mbuf, buf, len);
                mlen = fz_mutate(mbuf, len, cap);
            }
            /* exactly as long as it is: ASan sees any read past the end */
            uint8_t *exact = fz_memdup(mbuf, mlen);
            int rc = fz_decode(exact, mlen, &d, SIZE_MAX);
            free(exact);
            FZ_CHECK(rc == 0 || rc == LT_ECORRUPT);
            if (rc != 0) {
                corrupt++;
                continue;
            }
            decoded_ok++;
            /* what was decoded encodes, and decodes again to the same messages */
            for (size_t off = 0; off < d.out.n; off += 16) {
                struct fz_batch part = {.v = d.out.v + off,
                                        .n = d.out.n - off < 16 ? d.out.n - off : 16};
                size_t len2;
                uint8_t *buf2 = fz_encode(&part, 0, &len2);
                FZ_CHECK(fz_decode(buf2, len2, &again, SIZE_MAX) == 0);
                FZ_CHECK(again.out.n == part.n);
                for (size_t i = 0; i < part.n && i < again.out.n; i++)
                    FZ_CHECK(fz_msg_equal(&part.v[i], &again.out.v[i]));
                free(buf2);
            }
        }
        free(mbuf);
        free(buf);
        fz_batch_clear(&orig);
        fz_iter++;
    }
    fz_end(&bud, "mutated batches", mutations);
    fprintf(stderr, "codec: %zu mutated batches decoded, %zu refused as corrupt\n", decoded_ok,
            corrupt);
    fz_batch_free(&orig);
    fz_batch_free(&d.out);
    fz_batch_free(&again.out);
}

/* ---- b. the raft core fed valid but hostile messages ---- */

static struct h_net fz_net; /* large: kept off the stack */

/* What each node showed at the last check: nothing here may go backwards. */
struct fz_track {
    uint64_t term, commit;
    uint64_t vote_term, vote;
};
static struct fz_track fz_tr[H_MAX];
static uint64_t fz_leader_of[4096]; /* mild rounds: the leader seen in each term */
static bool fz_mild;                /* this round's hostility is harmless by construction */
static size_t fz_hostile, fz_refused;

static void fz_raft_tweak(struct raft_config *cfg)
{
    cfg->compact_keep = 2; /* lagging followers get snapshots */
    cfg->max_inflight = 4;
    cfg->max_msg_entries = 3;
    cfg->seed = rng_next();
}

/* fz_store_term: the term of `index` in what node `nd` persisted. */
static bool fz_store_term(const struct h_node *nd, uint64_t index, uint64_t *term)
{
    const struct h_store *st = &nd->st;
    if (index == st->snap.index) {
        *term = st->snap.term;
        return true;
    }
    if (index <= st->snap.index || index - st->snap.index > st->n)
        return false;
    *term = st->ents[index - st->snap.index - 1].term;
    return true;
}

/* fz_ready runs one Ready/Advance cycle of node `id` like h_handle_ready, checking the
 * update on the way. */
static bool fz_ready(struct h_net *net, uint64_t id)
{
    struct h_node *nd = h_node(net, id);
    if (nd->down || !raft_has_ready(nd->r))
        return false;
    struct raft_update up;
    raft_ready(nd->r, &up);
    for (size_t k = 0; k < up.n_msgs_early; k++)
        h_enqueue(net, &up.msgs_early[k]);
    if (up.snapshot) {
        FZ_CHECK(raft_snapshot_meta_is_valid(up.snapshot));
        FZ_CHECK(up.snapshot->index > fz_tr[id - 1].commit);
        h_store_truncate(&nd->st, 0);
        nd->st.snap = *up.snapshot;
        nd->applied = up.snapshot->index;
    }
    if (up.n_entries) {
        /* never rewrites an entry it knew committed, let alone applied */
        FZ_CHECK(up.snapshot || up.entries[0].index > fz_tr[id - 1].commit);
        FZ_CHECK(up.entries[0].index > nd->applied);
        h_store_truncate(&nd->st, up.entries[0].index);
        FZ_CHECK(up.entries[0].index == h_store_last(&nd->st) + 1);
        if (nd->st.n + up.n_entries > nd->st.cap) {
            nd->st.cap = (nd->st.n + up.n_entries) * 2;
            nd->st.ents = realloc(nd->st.ents, nd->st.cap * sizeof(*nd->st.ents));
            CU_ASSERT_PTR_NOT_NULL_FATAL(nd->st.ents);
        }
        for (size_t k = 0; k < up.n_entries; k++) {
            FZ_CHECK(up.entries[k].index == up.entries[0].index + k);
            h_entry_copy(&nd->st.ents[nd->st.n++], &up.entries[k]);
        }
    }
    if (up.hs_changed) {
        /* the durable term never goes down; the durable vote never changes in a term */
        FZ_CHECK(up.hs.term >= nd->st.hs.term);
        FZ_CHECK(up.hs.term != nd->st.hs.term || nd->st.hs.vote == RAFT_NONE ||
                 up.hs.vote == nd->st.hs.vote);
        nd->st.hs = up.hs;
    }
    for (size_t k = 0; k < up.n_msgs; k++)
        h_enqueue(net, &up.msgs[k]);
    for (size_t k = 0; k < up.n_committed; k++) {
        const struct raft_entry *e = &up.committed[k];
        uint64_t t = 0;
        FZ_CHECK(e->index == nd->applied + 1);
        /* applied only once persisted, and as persisted */
        FZ_CHECK(fz_store_term(nd, e->index, &t) && t == e->term);
        if (e->index < sizeof(nd->app) / sizeof(nd->app[0]))
            nd->app[e->index] = e->term;
        nd->applied = e->index;
    }
    bool wrote = up.n_entries || up.snapshot;
    raft_advance(nd->r);
    if (wrote)
        raft_persisted(nd->r, h_store_last(&nd->st), h_store_last_term(&nd->st));
    raft_applied(nd->r, nd->applied);
    return true;
}

static void fz_check_node(struct h_net *net, size_t i)
{
    struct h_node *nd = &net->nodes[i];
    if (nd->down)
        return;
    struct raft_status st;
    struct fz_track *t = &fz_tr[i];
    raft_status(nd->r, &st);
    FZ_CHECK(st.commit <= st.last_index);
    FZ_CHECK(st.applied <= st.commit);
    FZ_CHECK(st.persisted_index <= st.last_index);
    FZ_CHECK(st.first_index <= st.last_index + 1);
    FZ_CHECK(st.term >= t->term);
    FZ_CHECK(st.commit >= t->commit);
    if (st.vote != RAFT_NONE) {
        FZ_CHECK(t->vote_term != st.term || t->vote == st.vote); /* one vote per term */
        t->vote_term = st.term;
        t->vote = st.vote;
    }
    if (st.role == RAFT_LEADER) {
        FZ_CHECK(st.leader == st.id);
        if (fz_mild && st.term < sizeof(fz_leader_of) / sizeof(fz_leader_of[0])) {
            FZ_CHECK(fz_leader_of[st.term] == 0 || fz_leader_of[st.term] == st.id);
            fz_leader_of[st.term] = st.id;
        }
    }
    t->term = st.term;
    t->commit = st.commit;
}

/* fz_settle runs every live node's Ready cycles until it has nothing more: a core that
 * always has more to hand out would spin its node's loop for ever. */
static void fz_settle(struct h_net *net)
{
    for (size_t i = 0; i < net->n; i++) {
        struct h_node *nd = &net->nodes[i];
        if (nd->down)
            continue;
        for (unsigned k = 0; k < 64 && fz_ready(net, i + 1); k++) {
        }
        FZ_CHECK(!raft_has_ready(nd->r));
    }
    for (size_t i = 0; i < net->n; i++)
        fz_check_node(net, i);
}

/* fz_describe records message `m` to a node in state `st` as the last input. */
static void fz_describe(const char *what, const struct raft_status *st, const struct raft_msg *m)
{
    snprintf(fz_last, sizeof(fz_last),
             "%s to node %llu (%s, term %llu, last %llu, commit %llu): %s from %llu to %llu "
             "term %llu log_term %llu index %llu commit %llu entries %zu snapshot %llu/%llu "
             "voters %zu reject %d hint %llu/%llu context %llu",
             what, (unsigned long long)st->id, raft_role_name(st->role),
             (unsigned long long)st->term, (unsigned long long)st->last_index,
             (unsigned long long)st->commit, raft_msg_type_name(m->type),
             (unsigned long long)m->from, (unsigned long long)m->to, (unsigned long long)m->term,
             (unsigned long long)m->log_term, (unsigned long long)m->index,
             (unsigned long long)m->commit, m->n_entries, (unsigned long long)m->snapshot.index,
             (unsigned long long)m->snapshot.term, m->snapshot.conf.n_voters, m->reject,
             (unsigned long long)m->reject_hint, (unsigned long long)m->hint_term,
             (unsigned long long)m->context);
}

/* fz_deliver hands every queued message to its destination, dropping `drop` percent.
 * Messages between honest cores are valid, unless hostile ones took a core to the end of
 * the term or index space (RAFT_NUM_MAX): then it stays there, refused, never wraps. */
static void fz_deliver(struct h_net *net, unsigned drop)
{
    size_t n = net->nq;
    struct h_msg *batch = net->q;
    net->q = NULL;
    net->nq = net->capq = 0;
    for (size_t i = 0; i < n; i++) {
        const struct raft_msg *m = &batch[i].m;
        if (m->to >= 1 && m->to <= net->n && !net->nodes[m->to - 1].down && !rng_chance(drop)) {
            bool cliff = m->term > RAFT_NUM_MAX ||
                         (m->type == RAFT_MSG_SNAPSHOT &&
                          (m->snapshot.index > RAFT_NUM_MAX || m->snapshot.term > RAFT_NUM_MAX));
            char saved[sizeof(fz_last)];
            struct raft_status st;
            memcpy(saved, fz_last, sizeof(saved));
            raft_status(h_r(net, m->to), &st);
            fz_describe("honest", &st, m);
            FZ_CHECK(raft_recv(h_r(net, m->to), m) == 0 || (cliff && !fz_mild));
            memcpy(fz_last, saved, sizeof(saved));
        }
        h_msg_free(&batch[i]);
    }
    free(batch);
}

/* fz_restart boots node i again from what it persisted, as lithair-node does. */
static void fz_restart(struct h_net *net, size_t i)
{
    struct h_node *nd = &net->nodes[i];
    struct raft_restore rs = {
        .hs = nd->st.hs, .snapshot = nd->st.snap, .entries = nd->st.ents, .n_entries = nd->st.n};
    int rc = raft_new(&net->cfg[i], &rs, &nd->r);
    FZ_CHECK(rc == 0); /* whatever a peer sent, a node restarts from what it persisted */
    if (rc != 0) {
        nd->r = NULL;
        return; /* stays down */
    }
    nd->down = false;
    nd->applied = nd->st.snap.index;
    fz_tr[i].commit = 0; /* re-learnt from the leader */
}

static void fz_crash(struct h_net *net, size_t i)
{
    raft_free(net->nodes[i].r);
    net->nodes[i].r = NULL;
    net->nodes[i].down = true;
}

static uint64_t fz_pick_index(const struct raft_status *st)
{
    switch (rng_below(10)) {
    case 0:
        return 0;
    case 1:
        return st->commit;
    case 2:
        return st->last_index;
    case 3:
        return st->last_index + 1;
    case 4:
        return st->last_index ? st->last_index - 1 : 0;
    case 5:
        return st->snapshot.index;
    case 6:
        return st->last_index + 1 + rng_below(100);
    case 7:
        return UINT64_MAX - rng_below(3);
    case 8:
        return (uint64_t)1 << (32 + rng_below(31));
    default:
        return rng_below(st->last_index + 2);
    }
}

static uint64_t fz_pick_term(const struct raft_status *st)
{
    switch (rng_below(10)) {
    case 0:
        return 0;
    case 1:
        return st->term ? st->term - 1 : 0;
    case 2:
    case 3:
        return st->term;
    case 4:
        return st->term + 1;
    case 5:
        return st->term + 1 + rng_below(5);
    case 6:
        return UINT64_MAX - rng_below(2);
    case 7:
        return (uint64_t)1 << (32 + rng_below(31));
    default:
        return rng_below(st->term + 2);
    }
}

/* fz_expect_invalid: what raft.h says raft_recv refuses with LT_EINVAL. */
static bool fz_expect_invalid(const struct raft_msg *m, uint64_t target)
{
    if (m->type <= RAFT_MSG_NONE || m->type > RAFT_MSG_DIVERGED)
        return true;
    if (m->from == RAFT_NONE || m->from == target || (m->to != RAFT_NONE && m->to != target))
        return true;
    if (m->term > RAFT_NUM_MAX || (m->n_entries && m->index > UINT64_MAX - m->n_entries))
        return true;
    if (m->type == RAFT_MSG_SNAPSHOT &&
        (!raft_snapshot_meta_is_valid(&m->snapshot) || m->snapshot.term > m->term))
        return true;
    if (m->n_entries > 0 && m->type != RAFT_MSG_APPEND)
        return true;
    uint64_t prev = m->log_term;
    for (size_t k = 0; k < m->n_entries; k++) {
        const struct raft_entry *e = &m->entries[k];
        if (e->index != m->index + 1 + k || e->term < prev || e->term > m->term)
            return true;
        prev = e->term;
    }
    return false;
}

/* fz_is_harmless: a message a mild round may send: one raft_recv must refuse, or a stale
 * one (an older term) from a member. */
static bool fz_is_harmless(const struct h_net *net, const struct raft_msg *m, uint64_t target)
{
    if (fz_expect_invalid(m, target))
        return true;
    struct raft_status st;
    raft_status(net->nodes[target - 1].r, &st);
    return m->from >= 1 && m->from <= net->n && m->term < st.term;
}

/* fz_inject steps hostile message `m` into node `target` and checks its immediate effect:
 * a refused or stale message changes nothing. */
static void fz_inject(struct h_net *net, uint64_t target, const struct raft_msg *m)
{
    struct raft *r = h_r(net, target);
    struct raft_status before, after;
    raft_status(r, &before);
    bool had_ready = raft_has_ready(r);
    fz_describe("hostile", &before, m);
    int rc = raft_recv(r, m);
    raft_status(r, &after);
    fz_hostile++;
    FZ_CHECK(rc == 0 || rc == LT_EINVAL);
    if (fz_expect_invalid(m, target))
        FZ_CHECK(rc == LT_EINVAL);
    if (rc == LT_EINVAL) {
        fz_refused++;
        FZ_CHECK(memcmp(&before, &after, sizeof(before)) == 0);
        FZ_CHECK(raft_has_ready(r) == had_ready);
    } else if (m->term < before.term) {
        FZ_CHECK(memcmp(&before, &after, sizeof(before)) == 0); /* at most answered */
    }
}

struct fz_craft {
    struct raft_msg m;
    struct raft_entry ents[5];
    uint8_t data[5][16];
};

/* fz_craft_msg makes a hostile message for `target`: every field drawn from values that
 * matter (around its log, its commit, its term, and the extremes), sometimes broken on
 * purpose; in a mild round it is made harmless (see fz_is_harmless). */
static void fz_craft_msg(struct h_net *net, uint64_t target, struct fz_craft *c)
{
    struct raft_status st;
    struct raft_msg *m = &c->m;
    raft_status(h_r(net, target), &st);
    memset(m, 0, sizeof(*m));
    uint64_t peer = 1 + rng_below(net->n - 1);
    if (peer >= target)
        peer++;
    m->type = (enum raft_msg_type)(1 + rng_below(RAFT_MSG_DIVERGED));
    m->from = peer;
    m->to = rng_chance(80) ? target : RAFT_NONE;
    m->term = fz_pick_term(&st);
    m->log_term = fz_pick_term(&st);
    m->index = fz_pick_index(&st);
    m->commit = fz_pick_index(&st);
    m->reject = rng_chance(30);
    m->reject_hint = fz_pick_index(&st);
    m->hint_term = rng_chance(50) ? 0 : fz_pick_term(&st);
    m->context = rng_chance(40) ? 0 : rng_chance(50) ? 1 + rng_below(8) : fz_u64();
    if (m->type == RAFT_MSG_APPEND && rng_chance(60)) {
        m->n_entries = 1 + (size_t)rng_below(5);
        uint64_t t = m->log_term;
        for (size_t k = 0; k < m->n_entries; k++) {
            if (t < m->term && rng_chance(30))
                t += 1 + rng_below(m->term - t);
            c->ents[k].term = t;
            c->ents[k].index = m->index + 1 + k;
            c->ents[k].type =
                rng_chance(80) ? RAFT_ENTRY_NORMAL : (enum raft_entry_type)rng_below(3);
            c->ents[k].data.len = (size_t)rng_below(sizeof(c->data[k]) + 1);
            for (size_t i = 0; i < c->ents[k].data.len; i++)
                c->data[k][i] = (uint8_t)rng_next();
            c->ents[k].data.base = c->ents[k].data.len ? c->data[k] : NULL;
        }
        m->entries = c->ents;
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        m->snapshot.index = fz_pick_index(&st);
        m->snapshot.term = fz_pick_term(&st);
        switch (rng_below(10)) {
        case 0:
        case 1: /* the membership as it is */
            m->snapshot.conf.n_voters = net->n;
            for (size_t k = 0; k < net->n; k++)
                m->snapshot.conf.voters[k] = k + 1;
            break;
        case 2: /* a membership with strangers, duplicates or holes */
            m->snapshot.conf.n_voters = 1 + (size_t)rng_below(4);
            for (size_t k = 0; k < m->snapshot.conf.n_voters; k++)
                m->snapshot.conf.voters[k] = rng_below(6);
            break;
        default: /* none: the receiver's own */
            break;
        }
    }
    if (rng_chance(15) || fz_mild) { /* break it on purpose */
        switch (rng_below(fz_mild ? 5 : 6)) {
        case 0:
            m->from = RAFT_NONE;
            break;
        case 1:
            m->from = target;
            break;
        case 2:
            m->to = peer;
            break;
        case 3:
            if (m->n_entries)
                c->ents[rng_below(m->n_entries)].index += 1 + rng_below(3);
            else
                m->from = RAFT_NONE;
            break;
        case 4: /* stale: an older term, from a member */
            if (st.term > 0 && rng_chance(80)) {
                m->term = rng_below(st.term);
                for (size_t k = 0; k < m->n_entries; k++)
                    if (c->ents[k].term > m->term)
                        c->ents[k].term = m->term;
            } else {
                m->from = RAFT_NONE;
            }
            break;
        default: /* a stranger */
            m->from = rng_chance(50) ? 4 + rng_below(100) : UINT64_MAX;
            break;
        }
    }
}

/* fz_mutate_real takes a message honest traffic queued and delivers a copy with one or two
 * fields set to hostile values (not in mild rounds: most are neither refused nor stale). */
static void fz_mutate_real(struct h_net *net)
{
    if (!net->nq)
        return;
    struct raft_msg m = net->q[rng_below(net->nq)].m;
    if (m.to < 1 || m.to > net->n || net->nodes[m.to - 1].down)
        return;
    struct raft_status st;
    raft_status(h_r(net, m.to), &st);
    for (unsigned k = 1 + (unsigned)rng_below(2); k > 0; k--) {
        switch (rng_below(10)) {
        case 0:
            m.term = fz_pick_term(&st);
            break;
        case 1:
            m.index = fz_pick_index(&st);
            break;
        case 2:
            m.log_term = fz_pick_term(&st);
            break;
        case 3:
            m.commit = fz_pick_index(&st);
            break;
        case 4:
            m.reject = !m.reject;
            break;
        case 5:
            m.reject_hint = fz_pick_index(&st);
            m.hint_term = fz_pick_term(&st);
            break;
        case 6:
            m.context = fz_u64();
            break;
        case 7:
            m.from = 1 + rng_below(net->n);
            break;
        case 8:
            m.snapshot.index = fz_pick_index(&st);
            m.snapshot.term = fz_pick_term(&st);
            break;
        default:
            m.type = (enum raft_msg_type)(1 + rng_below(RAFT_MSG_DIVERGED));
            break;
        }
    }
    fz_inject(net, m.to, &m);
}

struct fz_codec_inject {
    struct h_net *net;
    uint64_t target;
};

static int fz_inject_decoded(void *arg, const struct raft_msg *m, const struct codec_chunk *c)
{
    struct fz_codec_inject *ci = arg;
    (void)c;
    if (!fz_mild || fz_is_harmless(ci->net, m, ci->target))
        fz_inject(ci->net, ci->target, m);
    return 0;
}

/* fz_via_codec sends a crafted message the way a peer does, with its bytes mutated. */
static void fz_via_codec(struct h_net *net, uint64_t target, const struct raft_msg *m)
{
    const struct raft_msg *msgs[] = {m};
    size_t size = codec_batch_size(msgs, NULL, 1), cap = size + 64;
    uint8_t *buf = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    size_t len = codec_batch_encode(msgs, NULL, 1, buf);
    len = fz_mutate(buf, len, cap);
    struct fz_codec_inject ci = {net, target};
    int rc = codec_batch_decode(buf, len, fz_inject_decoded, &ci);
    FZ_CHECK(rc == 0 || rc == LT_ECORRUPT);
    free(buf);
}

static uint64_t fz_leader(struct h_net *net)
{
    uint64_t lead = 0, term = 0;
    for (size_t i = 0; i < net->n; i++) {
        if (net->nodes[i].down)
            continue;
        struct raft_status st;
        raft_status(net->nodes[i].r, &st);
        if (st.role == RAFT_LEADER && st.term >= term) {
            lead = st.id;
            term = st.term;
        }
    }
    return lead;
}

/* fz_honest_step: one thing an honest cluster does (ticks, deliveries with losses,
 * proposals, compaction, reads, transfers, crashes and restarts). */
static void fz_honest_step(struct h_net *net)
{
    size_t i = (size_t)rng_below(net->n);
    struct h_node *nd = &net->nodes[i];
    switch (rng_below(12)) {
    case 0:
    case 1:
        for (size_t j = 0; j < net->n; j++)
            if (!net->nodes[j].down)
                raft_tick(net->nodes[j].r);
        break;
    case 2:
    case 3:
    case 4:
        fz_deliver(net, 5);
        break;
    case 5:
    case 6: {
        uint64_t lead = fz_leader(net);
        if (lead) {
            struct raft_buf b[2] = {{"fz-a", 4}, {"fz-bb", 5}};
            uint64_t idx, term;
            int rc =
                raft_propose(h_r(net, lead), RAFT_ENTRY_NORMAL, b, 1 + rng_below(2), &idx, &term);
            FZ_CHECK(rc == 0 || rc == LT_ETRANSFER || rc == LT_EBUSY);
        }
        break;
    }
    case 7: { /* a snapshot at what it applied, as lithair-node takes one */
        uint64_t t;
        struct raft_status st;
        if (nd->down)
            break;
        raft_status(nd->r, &st);
        if (st.applied > st.snapshot.index && fz_store_term(nd, st.applied, &t)) {
            struct raft_snapshot_meta meta = {.index = st.applied, .term = t};
            FZ_CHECK(raft_compact(nd->r, &meta) == 0);
        }
        break;
    }
    case 8:
        if (!nd->down) {
            int rc = raft_read_index(nd->r, 1 + rng_below(1000));
            FZ_CHECK(rc == 0 || rc == LT_ENOTLEADER);
        }
        break;
    case 9:
        if (!nd->down && rng_chance(30)) {
            int rc = raft_transfer(nd->r, rng_below(net->n + 1));
            FZ_CHECK(rc == 0 || rc == LT_ENOTLEADER || rc == LT_EINVAL);
        }
        break;
    case 10: { /* crash one node while the others are up; restart later */
        size_t up = 0;
        for (size_t j = 0; j < net->n; j++)
            up += !net->nodes[j].down;
        if (!nd->down && up == net->n && rng_chance(30))
            fz_crash(net, i);
        break;
    }
    default:
        if (nd->down)
            fz_restart(net, i);
        break;
    }
}

/* fz_converge: after a mild round the cluster must still elect a leader and commit. */
static void fz_converge(struct h_net *net)
{
    for (size_t i = 0; i < net->n; i++)
        if (net->nodes[i].down)
            fz_restart(net, i);
    for (size_t i = 0; i < net->n; i++)
        if (net->nodes[i].down)
            return; /* it could not boot: reported */
    uint64_t lead = 0, want = 0;
    bool proposed = false, done = false;
    unsigned failures = fz_failures;
    for (int t = 0; t < 600 && !done && fz_failures == failures; t++) {
        for (int k = 0; k < 20 && net->nq; k++) {
            fz_deliver(net, 0);
            fz_settle(net);
        }
        lead = fz_leader(net);
        if (lead && !proposed) {
            struct raft_buf b = {"fz-final", 8};
            uint64_t idx, term;
            if (raft_propose(h_r(net, lead), RAFT_ENTRY_NORMAL, &b, 1, &idx, &term) == 0) {
                proposed = true;
                want = idx;
            }
        }
        done = proposed;
        for (size_t i = 0; i < net->n && done; i++)
            done = net->nodes[i].applied >= want;
        if (!done) {
            for (size_t i = 0; i < net->n; i++)
                raft_tick(net->nodes[i].r);
            fz_settle(net);
        }
    }
    FZ_CHECK(done); /* harmless hostility left the cluster able to commit */
    for (size_t i = 0; i < net->n && !done; i++) {
        struct raft_status st = h_status(net, i + 1);
        fprintf(stderr,
                "  node %llu: %s term %llu vote %llu leader %llu last %llu commit %llu "
                "applied %llu (proposed at %llu: %d)\n",
                (unsigned long long)st.id, raft_role_name(st.role), (unsigned long long)st.term,
                (unsigned long long)st.vote, (unsigned long long)st.leader,
                (unsigned long long)st.last_index, (unsigned long long)st.commit,
                (unsigned long long)net->nodes[i].applied, (unsigned long long)want, proposed);
    }
    if (done)
        h_check_applied_agree(net);
}

static void test_raft_hostile(void)
{
    struct fz_budget bud;
    size_t mild_rounds = 0;
    fz_hostile = fz_refused = 0;
    fz_begin(&bud, "raft", 1200, 5000);
    while (fz_more(&bud)) {
        struct h_net *net = &fz_net;
        fz_mild = fz_iter % 3 == 0;
        mild_rounds += fz_mild;
        memset(fz_tr, 0, sizeof(fz_tr));
        memset(fz_leader_of, 0, sizeof(fz_leader_of));
        h_init(net, 3, fz_raft_tweak);
        net->expect_div = true; /* hostile input may well prove diverged logs */
        h_elect(net, 1 + rng_below(3));
        for (int k = 0; k < 4; k++) {
            CU_ASSERT_EQUAL(h_propose(net, fz_leader(net), "seed entry"), 0);
            h_stabilize(net);
        }
        fz_settle(net);
        for (int step = 0; step < 150 && fz_failures < FZ_MAX_FAILURES; step++) {
            uint64_t target = 1 + rng_below(net->n);
            if (rng_chance(45) && !net->nodes[target - 1].down) {
                struct fz_craft c;
                fz_craft_msg(net, target, &c);
                switch (rng_below(4)) {
                case 0:
                    fz_via_codec(net, target, &c.m);
                    break;
                case 1:
                    if (!fz_mild) {
                        fz_mutate_real(net);
                        break;
                    }
                    /* fall through */
                default:
                    if (!fz_mild || fz_is_harmless(net, &c.m, target))
                        fz_inject(net, target, &c.m);
                    break;
                }
            } else {
                fz_honest_step(net);
            }
            fz_settle(net);
        }
        if (fz_mild) {
            fz_converge(net);
        } else { /* wild: the invariants keep holding while the cluster goes on */
            for (size_t i = 0; i < net->n; i++)
                if (net->nodes[i].down)
                    fz_restart(net, i);
            for (int step = 0; step < 60 && fz_failures < FZ_MAX_FAILURES; step++) {
                fz_honest_step(net);
                fz_settle(net);
            }
        }
        h_free(net);
        fz_iter++;
    }
    fz_end(&bud, "rounds mild", mild_rounds);
    fprintf(stderr, "raft: %zu hostile messages stepped, %zu refused as invalid\n", fz_hostile,
            fz_refused);
}

/* The fuzzer's first findings, pinned: numbers at the end of their space from a member
 * (before the fix a term of 2^64 - 1 was adopted and the next campaign wrapped it to 0; a
 * snapshot at index 2^64 - 1 made the log start at 0 and raft_has_ready() true for ever;
 * a snapshot of a later term than its message left a log whose last term passed the
 * node's, so that as leader its appends were refused by everyone). */
static void test_raft_extreme_numbers(void)
{
    struct h_net *net = &fz_net;
    struct raft_status before, after;
    const uint64_t top = UINT64_MAX;
    h_init(net, 3, NULL);
    net->expect_div = true; /* extreme indexes may well prove diverged logs */
    h_elect(net, 1);
    CU_ASSERT_EQUAL(h_propose(net, 1, "x"), 0);
    h_stabilize(net);
    struct raft *r = h_r(net, 2);
    raft_status(r, &before);
    struct raft_msg hb = {.type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = top};
    CU_ASSERT_EQUAL(raft_recv(r, &hb), LT_EINVAL);
    struct raft_msg tn = {.type = RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 2, .term = top};
    CU_ASSERT_EQUAL(raft_recv(r, &tn), LT_EINVAL);
    struct raft_entry ents[2] = {{.term = 1, .index = top}, {.term = 1, .index = 0}};
    struct raft_msg ap = {.type = RAFT_MSG_APPEND,
                          .from = 1,
                          .to = 2,
                          .term = before.term,
                          .log_term = 1,
                          .index = top - 1,
                          .entries = ents,
                          .n_entries = 2};
    CU_ASSERT_EQUAL(raft_recv(r, &ap), LT_EINVAL); /* entries numbered past 2^64 - 1 */
    struct raft_msg sn = {.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = before.term};
    sn.snapshot.index = top;
    sn.snapshot.term = before.term;
    CU_ASSERT_EQUAL(raft_recv(r, &sn), LT_EINVAL);
    sn.snapshot.index = before.last_index + 10;
    sn.snapshot.term = before.term + 1; /* later than the message's term */
    CU_ASSERT_EQUAL(raft_recv(r, &sn), LT_EINVAL);
    raft_status(r, &after);
    CU_ASSERT_EQUAL(memcmp(&before, &after, sizeof(before)), 0);
    CU_ASSERT_FALSE(raft_has_ready(r));

    /* at the end of the space: accepted, and the core still settles and never wraps */
    hb.term = RAFT_NUM_MAX;
    CU_ASSERT_EQUAL(raft_recv(r, &hb), 0);
    sn.term = RAFT_NUM_MAX;
    sn.snapshot.index = RAFT_NUM_MAX;
    sn.snapshot.term = RAFT_NUM_MAX;
    CU_ASSERT_EQUAL(raft_recv(r, &sn), 0);
    for (int k = 0; k < 8 && raft_has_ready(r); k++) {
        struct raft_update up;
        raft_ready(r, &up);
        raft_advance(r);
    }
    CU_ASSERT_FALSE(raft_has_ready(r));
    tn.term = RAFT_NUM_MAX;
    CU_ASSERT_EQUAL(raft_recv(r, &tn), 0); /* campaigns at RAFT_NUM_MAX + 1 */
    raft_status(r, &after);
    CU_ASSERT(after.term > RAFT_NUM_MAX);
    CU_ASSERT(after.last_index >= RAFT_NUM_MAX && after.commit <= after.last_index);
    h_free(net);
}

/* ---- c. the store's apply path ---- */

#define FZ_BASE_NS 1796000000000000000ull

static uint8_t *fz_pack(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(*len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    protobuf_c_message_pack(msg, buf);
    return buf;
}

/* fz_hostile_str: a string a careless or hostile client or proposer might send: empty,
 * path-like, long, format directives, bytes that are not UTF-8, or an ordinary one. */
static const char *fz_hostile_str(char *buf, size_t n)
{
    static const char *const fixed[] = {"", "..", ".", "a/b", "%s%n%x", "k1", "items", "users"};
    size_t len;
    switch (rng_below(4)) {
    case 0: /* long */
        len = n - 1 < 300 ? n - 1 : 300;
        memset(buf, 'x', len);
        buf[len] = '\0';
        return buf;
    case 1: /* random bytes, no NUL */
        len = 1 + (size_t)rng_below(n - 1 < 24 ? n - 1 : 24);
        for (size_t i = 0; i < len; i++)
            buf[i] = (char)(1 + rng_below(255));
        buf[len] = '\0';
        return buf;
    default:
        return fixed[rng_below(sizeof(fixed) / sizeof(fixed[0]))];
    }
}

static const char *const fz_item_fields[] = {"name",     "description", "status",
                                             "metadata", "benchmark",   "createdAt",
                                             "version",  "id",          "nosuch"};

static uint8_t *fz_item_value(const char *id, size_t *len)
{
    static const char *const meta[] = {"", "{\"k\":1}", "[1,2,3]", "\"s\"", "{\"a\":{\"b\":null}}"};
    Lithair__V1__PlaygroundItem it = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
    char name[32], desc[48];
    snprintf(name, sizeof(name), "n%u", (unsigned)rng_below(5));
    snprintf(desc, sizeof(desc), "d%llu", (unsigned long long)rng_below(1000));
    it.id = (char *)id;
    it.name = name;
    it.description = rng_chance(50) ? desc : "";
    it.status = (Lithair__V1__PlaygroundItem__Status)rng_below(3);
    it.metadata = (char *)meta[rng_below(5)];
    it.benchmark = rng_chance(30);
    return fz_pack(&it.base, len);
}

static uint8_t *fz_other_value(const char *model, const char *id, size_t *len)
{
    Lithair__V1__Timestamp ts = LITHAIR__V1__TIMESTAMP__INIT;
    ts.seconds = 1800000000 + (int64_t)rng_below(1000);
    if (strcmp(model, "users") == 0) {
        Lithair__V1__User u = LITHAIR__V1__USER__INIT;
        u.id = (char *)id;
        u.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
        u.role = (Lithair__V1__Role)rng_below(4);
        return fz_pack(&u.base, len);
    }
    if (strcmp(model, "sessions") == 0) {
        Lithair__V1__Session s = LITHAIR__V1__SESSION__INIT;
        s.id = (char *)id;
        s.user_id = rng_chance(50) ? "alice" : "bob";
        s.role = (Lithair__V1__Role)rng_below(4);
        s.expires_at = &ts;
        return fz_pack(&s.base, len);
    }
    Lithair__V1__FirewallRule f = LITHAIR__V1__FIREWALL_RULE__INIT;
    f.id = (char *)id;
    f.cidr = rng_chance(50) ? "10.0.0.0/8" : "::1/128";
    f.action = (Lithair__V1__FirewallRule__Action)rng_below(2);
    f.note = rng_chance(50) ? "fuzz" : "";
    return fz_pack(&f.base, len);
}

/* fz_raw_put builds a Put the prepare step would not: an upsert with any field mask, both
 * create and update, or an unknown model. */
static void fz_raw_put(uint64_t now, struct model_prepared *p)
{
    Lithair__V1__Timestamp at = LITHAIR__V1__TIMESTAMP__INIT;
    Lithair__V1__Command c = LITHAIR__V1__COMMAND__INIT;
    Lithair__V1__Command__Put put = LITHAIR__V1__COMMAND__PUT__INIT;
    char id[16];
    char *fields[4];
    size_t vlen;
    snprintf(id, sizeof(id), "k%u", (unsigned)rng_below(6));
    uint8_t *v = fz_item_value(id, &vlen);
    at.seconds = (int64_t)(now / 1000000000ull);
    at.nanos = (int32_t)rng_below(2000000000u) - 500000000; /* out of range too */
    put.model = rng_chance(90) ? "items" : "nosuch";
    put.value.data = v;
    put.value.len = vlen;
    put.create = rng_chance(20);
    put.update = rng_chance(20);
    put.expected_version = rng_chance(70) ? 0 : rng_below(4);
    put.n_fields = (size_t)rng_below(4);
    for (size_t i = 0; i < put.n_fields; i++)
        fields[i] = (char *)fz_item_fields[rng_below(sizeof(fz_item_fields) / sizeof(char *))];
    put.fields = fields;
    c.at = rng_chance(90) ? &at : NULL;
    c.proposer = 1;
    c.op_case = LITHAIR__V1__COMMAND__OP_PUT;
    c.put = &put;
    memset(p, 0, sizeof(*p));
    p->cmd = fz_pack(&c.base, &p->cmd_len);
    free(v);
}

/* fz_hostile_cmd builds a Command field by field with hostile values: any model name,
 * a value of another model (or bytes), odd keys and masks, extreme versions. */
static void fz_hostile_cmd(uint64_t now, struct model_prepared *p)
{
    static const char *const models[] = {"items", "users", "sessions", "firewall_rules"};
    Lithair__V1__Timestamp at = LITHAIR__V1__TIMESTAMP__INIT;
    Lithair__V1__Command c = LITHAIR__V1__COMMAND__INIT;
    Lithair__V1__Command__Put put = LITHAIR__V1__COMMAND__PUT__INIT;
    Lithair__V1__Command__Delete del = LITHAIR__V1__COMMAND__DELETE__INIT;
    Lithair__V1__Command__Purge pur = LITHAIR__V1__COMMAND__PURGE__INIT;
    char mbuf[320], idbuf[320], fbuf[4][320];
    char *fields[4];
    uint8_t *v = NULL;
    size_t vlen = 0;
    const char *model = rng_chance(70) ? models[rng_below(4)] : fz_hostile_str(mbuf, sizeof(mbuf));
    const char *id = rng_chance(50) ? "k1" : fz_hostile_str(idbuf, sizeof(idbuf));
    at.seconds = rng_chance(80) ? (int64_t)(now / 1000000000ull) : (int64_t)fz_u64();
    at.nanos = (int32_t)fz_u64();
    c.at = rng_chance(90) ? &at : NULL;
    c.proposer = fz_u64();
    switch (rng_below(6)) {
    case 0:
    case 1:
    case 2: {
        const char *vm = models[rng_below(4)]; /* maybe not put.model's */
        if (rng_chance(10)) {
            vlen = (size_t)rng_below(40);
            v = fz_random_bytes(vlen);
        } else if (strcmp(vm, "items") == 0) {
            v = fz_item_value(id, &vlen);
        } else {
            v = fz_other_value(vm, id, &vlen);
        }
        put.model = (char *)model;
        put.value.data = v;
        put.value.len = vlen;
        put.create = rng_chance(40);
        put.update = rng_chance(40);
        put.expected_version = rng_chance(60) ? 0 : fz_u64();
        put.n_fields = (size_t)rng_below(5);
        for (size_t i = 0; i < put.n_fields; i++)
            fields[i] = rng_chance(70) ? (char *)fz_item_fields[rng_below(
                                             sizeof(fz_item_fields) / sizeof(fz_item_fields[0]))]
                                       : (char *)fz_hostile_str(fbuf[i], sizeof(fbuf[i]));
        put.fields = fields;
        c.op_case = LITHAIR__V1__COMMAND__OP_PUT;
        c.put = &put;
        break;
    }
    case 3:
    case 4:
        del.model = (char *)model;
        del.id = (char *)id;
        del.expected_version = rng_chance(60) ? 0 : fz_u64();
        c.op_case = LITHAIR__V1__COMMAND__OP_DELETE;
        c.delete_ = &del;
        break;
    default:
        pur.model = (char *)model;
        c.op_case = LITHAIR__V1__COMMAND__OP_PURGE;
        c.purge = &pur;
        break;
    }
    memset(p, 0, sizeof(*p));
    p->cmd = fz_pack(&c.base, &p->cmd_len);
    free(v);
}

/* fz_store_cmd makes one valid Command of any model and kind; 0 if it was made. */
static int fz_store_cmd(uint64_t now, struct model_prepared *p)
{
    static const char *const others[] = {"users", "sessions", "firewall_rules"};
    char id[16];
    size_t len;
    int rc;
    memset(p, 0, sizeof(*p));
    snprintf(id, sizeof(id), "k%u", (unsigned)rng_below(6));
    const struct model *items = models_find("items");
    switch (rng_below(12)) {
    case 0:
    case 1: {
        uint8_t *v = fz_item_value(rng_chance(80) ? id : "", &len);
        rc = models_prepare_create(items, v, len, now, 1, NULL, p);
        free(v);
        return rc;
    }
    case 2:
    case 3: {
        const char *mask[3];
        size_t n = (size_t)rng_below(4);
        for (size_t i = 0; i < n; i++)
            mask[i] = fz_item_fields[rng_below(5)];
        uint8_t *v = fz_item_value("", &len);
        rc = models_prepare_update(items, id, v, len, mask, n, rng_chance(60) ? 0 : rng_below(4),
                                   NULL, now, 1, NULL, p);
        free(v);
        return rc;
    }
    case 4:
        return models_prepare_delete(items, id, rng_chance(70) ? 0 : rng_below(4), NULL, now, 1,
                                     NULL, p);
    case 5:
        return models_prepare_purge(items, 0, now, 1, p);
    case 6:
    case 7:
    case 8: {
        const struct model *m = models_find(others[rng_below(3)]);
        uint8_t *v = fz_other_value(m->name, id, &len);
        if (rng_chance(70))
            rc = models_prepare_create(m, v, len, now, 1, NULL, p);
        else
            rc = models_prepare_update(m, id, v, len, NULL, 0, 0, NULL, now, 1, NULL, p);
        free(v);
        return rc;
    }
    case 9:
        return models_prepare_delete(models_find(others[rng_below(3)]), id, 0, NULL, now, 1, NULL,
                                     p);
    default:
        fz_raw_put(now, p);
        return 0;
    }
}

static bool fz_str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

struct fz_membuf {
    uint8_t *p;
    size_t len, cap, off;
};

static int fz_mem_write(void *ctx, const void *buf, size_t len)
{
    struct fz_membuf *m = ctx;
    if (m->len + len > m->cap) {
        size_t cap = (m->len + len) * 2;
        uint8_t *p = realloc(m->p, cap);
        if (!p)
            return LT_ENOMEM;
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

static int fz_mem_read(void *ctx, void *buf, size_t len)
{
    struct fz_membuf *m = ctx;
    if (len > m->len - m->off)
        return LT_ECORRUPT;
    memcpy(buf, m->p + m->off, len);
    m->off += len;
    return 0;
}

/* fz_store_same: the two stores agree on every model's record count. */
static void fz_store_same(struct store *a, struct store *b)
{
    for (size_t i = 0; i < models_count(); i++) {
        uint64_t na = 0, nb = 0;
        FZ_CHECK(store_count(a, models_at(i)->name, NULL, NULL, true, &na) == 0);
        FZ_CHECK(store_count(b, models_at(i)->name, NULL, NULL, true, &nb) == 0);
        FZ_CHECK(na == nb);
    }
    FZ_CHECK(store_digest(a) == store_digest(b));
}

static void test_store_apply(void)
{
    struct fz_budget bud;
    struct store *a = NULL, *b = NULL;
    size_t applied_ok = 0, refused = 0, mutated = 0, mutated_ok = 0;
    CU_ASSERT_EQUAL_FATAL(store_new(&a), 0);
    CU_ASSERT_EQUAL_FATAL(store_new(&b), 0);
    fz_begin(&bud, "store", 15000, 4000);
    while (fz_more(&bud)) {
        uint64_t index = fz_iter + 1, term = 1 + fz_iter / 500;
        struct model_prepared p;
        if (rng_chance(25)) {
            fz_hostile_cmd(FZ_BASE_NS + fz_iter * 1000, &p);
        } else if (fz_store_cmd(FZ_BASE_NS + fz_iter * 1000, &p) != 0) {
            models_prepared_fini(&p);
            fz_iter++;
            continue;
        }
        size_t cap = p.cmd_len + 96, len = p.cmd_len;
        uint8_t *cmd = malloc(cap);
        CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
        memcpy(cmd, p.cmd, p.cmd_len);
        bool mut = rng_chance(60);
        if (mut) {
            len = fz_mutate(cmd, len, cap);
            mutated++;
        }
        uint8_t *exact = fz_memdup(cmd, len); /* ASan sees any read past the end */
        uint64_t before = store_digest(a);
        struct store_result ra, rb;
        int rca = store_apply(a, index, term, exact, len, &ra);
        int rcb = store_apply_norecord(b, index, term, exact, len, &rb);
        free(exact);

        FZ_CHECK(rca == rcb);
        FZ_CHECK(rca == ra.code && rcb == rb.code);
        FZ_CHECK(rca == 0 || rca == LT_EEXIST || rca == LT_ENOTFOUND || rca == LT_ECONFLICT ||
                 rca == LT_EINVAL); /* never LT_ECORRUPT: what is stored always decodes */
        FZ_CHECK(ra.op == rb.op && ra.version == rb.version && ra.purged == rb.purged);
        FZ_CHECK(ra.model == rb.model);
        FZ_CHECK(fz_str_eq(ra.id, rb.id));
        FZ_CHECK(rb.record == NULL);
        uint64_t da = store_digest(a), db = store_digest(b);
        FZ_CHECK(da == db); /* determinism */
        if (rca != 0) {
            refused++;
            FZ_CHECK(ra.op == STORE_OP_NONE);
            FZ_CHECK(ra.record == NULL);
            FZ_CHECK(da == before); /* a failed command changes nothing */
        } else {
            applied_ok++;
            mutated_ok += mut;
            FZ_CHECK(ra.model != NULL);
            if (ra.op == STORE_OP_CREATE || ra.op == STORE_OP_UPDATE) {
                struct store_record *got = NULL;
                FZ_CHECK(ra.record != NULL && ra.id != NULL);
                int grc = ra.record && ra.id && ra.model ? store_get(a, ra.model->name, ra.id, &got)
                                                         : LT_EINVAL;
                FZ_CHECK(grc == 0); /* what a put wrote reads back as its result says */
                if (grc == 0) {
                    FZ_CHECK(got->version == ra.version && got->len == ra.record->len &&
                             memcmp(got->value, ra.record->value, got->len) == 0);
                    FZ_CHECK(got->raft_index == index && got->raft_term == term);
                    ProtobufCMessage *msg =
                        protobuf_c_message_unpack(ra.model->desc, NULL, got->len, got->value);
                    FZ_CHECK(msg != NULL); /* a stored value is a valid model message */
                    if (msg)
                        protobuf_c_message_free_unpacked(msg, NULL);
                    store_record_free(got);
                }
            } else if (ra.op == STORE_OP_DELETE) {
                struct store_record *got = NULL;
                FZ_CHECK(ra.id && ra.model &&
                         store_get(a, ra.model->name, ra.id, &got) == LT_ENOTFOUND);
                store_record_free(got);
            }
        }
        store_result_fini(&ra);
        store_result_fini(&rb);
        free(cmd);
        models_prepared_fini(&p);

        if (fz_iter % 500 == 499) {
            /* the content mutated commands left behind snapshots and restores exactly */
            struct fz_membuf mb = {0};
            struct store *c = NULL;
            fz_store_same(a, b);
            FZ_CHECK(store_snapshot_write(a, fz_mem_write, &mb) == 0);
            CU_ASSERT_EQUAL_FATAL(store_new(&c), 0);
            FZ_CHECK(store_snapshot_read(c, fz_mem_read, &mb) == 0);
            FZ_CHECK(store_digest(c) == store_digest(a));
            store_free(c);
            free(mb.p);
        }
        fz_iter++;
    }
    fz_store_same(a, b);
    fz_end(&bud, "mutated", mutated);
    fprintf(stderr, "store: %zu commands applied (%zu of them mutated), %zu refused\n", applied_ok,
            mutated_ok, refused);
    store_free(a);
    store_free(b);
}

/* ---- d. RPC requests through a real node in this process ---- */

struct fz_node {
    struct node_config cfg;
    struct node *n;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0 starting, 1 serving, 2 could not start, 3 stopped */
    int rc;
    char err[256];
};

static void fz_node_set(struct fz_node *fn, int state, int rc)
{
    pthread_mutex_lock(&fn->mu);
    fn->state = state;
    fn->rc = rc;
    pthread_cond_broadcast(&fn->cv);
    pthread_mutex_unlock(&fn->mu);
}

/* The node's own thread: node_new registers it with RCU, node_run is its loop. */
static void *fz_node_main(void *arg)
{
    struct fz_node *fn = arg;
    struct node *n = NULL;
    int rc = node_new(&fn->cfg, &n, fn->err, sizeof(fn->err));
    fn->n = n;
    fz_node_set(fn, rc ? 2 : 1, rc);
    if (rc)
        return NULL;
    rc = node_run(n);
    node_free(n);
    store_reader_unregister();
    fz_node_set(fn, 3, rc);
    return NULL;
}

static bool fz_node_start(struct fz_node *fn)
{
    fn->state = 0;
    fn->n = NULL;
    if (pthread_create(&fn->th, NULL, fz_node_main, fn) != 0)
        return false;
    pthread_mutex_lock(&fn->mu);
    while (fn->state == 0)
        pthread_cond_wait(&fn->cv, &fn->mu);
    int state = fn->state;
    pthread_mutex_unlock(&fn->mu);
    if (state != 1) {
        fprintf(stderr, "rpc: the node did not start: %s\n", fn->err);
        pthread_join(fn->th, NULL);
        return false;
    }
    return true;
}

static void fz_node_stop(struct fz_node *fn)
{
    node_stop(fn->n, false);
    pthread_join(fn->th, NULL);
}

/* fz_call sends request bytes and waits for the answer (NULL if none came). */
static Lithair__V1__Response *fz_call(nng_socket s, const uint8_t *req, size_t len, bool *answered)
{
    nng_msg *msg, *rep;
    *answered = false;
    if (nng_msg_alloc(&msg, len) != 0)
        return NULL;
    if (len)
        memcpy(nng_msg_body(msg), req, len);
    if (nng_sendmsg(s, msg, 0) != 0) {
        nng_msg_free(msg);
        return NULL;
    }
    if (nng_recvmsg(s, &rep, 0) != 0)
        return NULL;
    *answered = true;
    Lithair__V1__Response *r =
        lithair__v1__response__unpack(NULL, nng_msg_len(rep), nng_msg_body(rep));
    nng_msg_free(rep);
    return r;
}

struct fz_ids {
    char v[16][64];
    size_t n;
};

static const char *fz_some_id(const struct fz_ids *ids)
{
    return ids->n ? ids->v[rng_below(ids->n < 16 ? ids->n : 16)] : "nosuch";
}

/* fz_payload packs the input of one RPC and names its method (never Cluster/Shutdown,
 * which would end the case, nor Cluster/Snapshot, which is slow). */
static uint8_t *fz_payload(const struct fz_ids *ids, const char **method, size_t *len)
{
    char hb[2][320];
    const char *model = rng_chance(90) ? "items" : fz_hostile_str(hb[0], sizeof(hb[0]));
    const char *id = rng_chance(85) ? fz_some_id(ids) : fz_hostile_str(hb[1], sizeof(hb[1]));
    switch (rng_below(13)) {
    case 0: {
        Lithair__V1__PingRequest r = LITHAIR__V1__PING_REQUEST__INIT;
        uint8_t pl[32];
        for (size_t i = 0; i < sizeof(pl); i++)
            pl[i] = (uint8_t)rng_next();
        r.payload.data = pl;
        r.payload.len = (size_t)rng_below(sizeof(pl) + 1);
        *method = "Cluster/Ping";
        return fz_pack(&r.base, len);
    }
    case 1: {
        Lithair__V1__StatusRequest r = LITHAIR__V1__STATUS_REQUEST__INIT;
        r.digest = rng_chance(50);
        *method = "Cluster/Status";
        return fz_pack(&r.base, len);
    }
    case 2:
    case 3: {
        Lithair__V1__CreateRequest r = LITHAIR__V1__CREATE_REQUEST__INIT;
        size_t vlen;
        r.model = (char *)model;
        r.value.data = fz_item_value(rng_chance(70) ? "" : fz_some_id(ids), &vlen);
        r.value.len = vlen;
        *method = "Models/Create";
        uint8_t *out = fz_pack(&r.base, len);
        free(r.value.data);
        return out;
    }
    case 4: {
        Lithair__V1__GetRequest r = LITHAIR__V1__GET_REQUEST__INIT;
        r.model = (char *)model;
        r.id = (char *)id;
        r.consistency = (Lithair__V1__Consistency)rng_below(2);
        *method = "Models/Get";
        return fz_pack(&r.base, len);
    }
    case 5: {
        Lithair__V1__UpdateRequest r = LITHAIR__V1__UPDATE_REQUEST__INIT;
        char *fields[2] = {"name", "status"};
        size_t vlen;
        r.model = (char *)model;
        r.id = (char *)id;
        r.value.data = fz_item_value("", &vlen);
        r.value.len = vlen;
        r.n_fields = (size_t)rng_below(3);
        r.fields = fields;
        r.expected_version = rng_chance(70) ? 0 : rng_below(3);
        *method = "Models/Update";
        uint8_t *out = fz_pack(&r.base, len);
        free(r.value.data);
        return out;
    }
    case 6: {
        Lithair__V1__DeleteRequest r = LITHAIR__V1__DELETE_REQUEST__INIT;
        r.model = (char *)model;
        r.id = (char *)id;
        *method = "Models/Delete";
        return fz_pack(&r.base, len);
    }
    case 7: {
        Lithair__V1__ListRequest r = LITHAIR__V1__LIST_REQUEST__INIT;
        r.model = (char *)model;
        r.index = rng_chance(50)   ? ""
                  : rng_chance(50) ? "status"
                  : rng_chance(50) ? "name"
                                   : (char *)id;
        r.equals = rng_chance(50) ? "ACTIVE" : rng_chance(50) ? "n1" : (char *)id;
        r.cursor = rng_chance(70) ? "" : rng_chance(50) ? "6b31" : (char *)id;
        r.limit = rng_chance(80) ? (uint32_t)rng_below(5) : (uint32_t)fz_u64();
        r.consistency = (Lithair__V1__Consistency)rng_below(2);
        r.include_benchmark = rng_chance(50);
        *method = "Models/List";
        return fz_pack(&r.base, len);
    }
    case 8: {
        Lithair__V1__HistoryRequest r = LITHAIR__V1__HISTORY_REQUEST__INIT;
        r.model = (char *)model;
        r.id = (char *)id;
        *method = "Models/History";
        return fz_pack(&r.base, len);
    }
    case 9: {
        Lithair__V1__CreateRequest r = LITHAIR__V1__CREATE_REQUEST__INIT;
        static const char *const others[] = {"users", "sessions", "firewall_rules"};
        char uid[16];
        size_t vlen;
        snprintf(uid, sizeof(uid), "u%u", (unsigned)rng_below(8));
        r.model = (char *)others[rng_below(3)];
        r.value.data = fz_other_value(r.model, uid, &vlen);
        r.value.len = vlen;
        *method = "Models/Create";
        uint8_t *out = fz_pack(&r.base, len);
        free(r.value.data);
        return out;
    }
    case 10: {
        Lithair__V1__WalStatsRequest r = LITHAIR__V1__WAL_STATS_REQUEST__INIT;
        *method = "Cluster/WalStats";
        return fz_pack(&r.base, len);
    }
    case 11: {
        Lithair__V1__TransferLeaderRequest r = LITHAIR__V1__TRANSFER_LEADER_REQUEST__INIT;
        r.target = rng_below(3);
        *method = "Cluster/TransferLeader";
        return fz_pack(&r.base, len);
    }
    default: {
        Lithair__V1__PurgeRequest r = LITHAIR__V1__PURGE_REQUEST__INIT;
        r.model = (char *)model;
        *method = "Models/Purge";
        return fz_pack(&r.base, len);
    }
    }
}

/* fz_request packs one Request (sometimes an Rpc/Batch of several) with id `id`; with
 * `deep` the payloads are mutated before they are wrapped, so that they still reach the
 * handlers. */
static uint8_t *fz_request(const struct fz_ids *ids, uint64_t id, bool deep, size_t *len)
{
    Lithair__V1__Request r = LITHAIR__V1__REQUEST__INIT;
    uint8_t *payload;
    size_t plen;
    const char *method;
    r.id = id;
    r.timeout_ms = rng_chance(50) ? 0 : 2000;
    if (rng_chance(12)) {
        Lithair__V1__BatchRequest br = LITHAIR__V1__BATCH_REQUEST__INIT;
        Lithair__V1__Request subs[4], *sp[4];
        uint8_t *sub_payloads[4];
        br.n_requests = (size_t)rng_below(5);
        for (size_t i = 0; i < br.n_requests; i++) {
            lithair__v1__request__init(&subs[i]);
            sub_payloads[i] = fz_payload(ids, &method, &plen);
            if (deep) {
                uint8_t *grown = realloc(sub_payloads[i], plen + 64);
                CU_ASSERT_PTR_NOT_NULL_FATAL(grown);
                sub_payloads[i] = grown;
                plen = fz_mutate(grown, plen, plen + 64);
            }
            subs[i].method = (char *)method;
            subs[i].id = id * 10 + i;
            subs[i].payload.data = sub_payloads[i];
            subs[i].payload.len = plen;
            sp[i] = &subs[i];
        }
        br.requests = sp;
        payload = fz_pack(&br.base, &plen);
        for (size_t i = 0; i < br.n_requests; i++)
            free(sub_payloads[i]);
        method = "Rpc/Batch";
    } else {
        payload = fz_payload(ids, &method, &plen);
        if (deep) {
            uint8_t *grown = realloc(payload, plen + 64);
            CU_ASSERT_PTR_NOT_NULL_FATAL(grown);
            payload = grown;
            plen = fz_mutate(grown, plen, plen + 64);
        }
    }
    r.method = (char *)method;
    r.payload.data = payload;
    r.payload.len = plen;
    uint8_t *out = fz_pack(&r.base, len);
    free(payload);
    return out;
}

static bool fz_utf8(const char *s)
{
    return lt_utf8_invalid_at(s, strlen(s)) < 0;
}

/* fz_response_utf8: every string of an answer is valid UTF-8, as proto3 requires of a
 * `string` (protoc's Go, Python and C++ decoders refuse a message where one is not), even
 * where it quotes the request or was cut to a size. */
static bool fz_response_utf8(const Lithair__V1__Response *resp)
{
    bool ok = fz_utf8(resp->message) && fz_utf8(resp->leader_rpc_url);
    for (size_t i = 0; i < resp->n_details; i++)
        ok = ok && fz_utf8(resp->details[i]->field) && fz_utf8(resp->details[i]->description);
    return ok;
}

/* fz_check_reply checks the answer to request bytes `req`. */
static void fz_check_reply(const uint8_t *req, size_t len, const Lithair__V1__Response *resp,
                           bool mutated, struct fz_ids *ids)
{
    FZ_CHECK(resp != NULL);
    if (!resp)
        return;
    FZ_CHECK((int)resp->code >= 0 && (int)resp->code <= LITHAIR__V1__CODE__UNAUTHENTICATED);
    FZ_CHECK(fz_response_utf8(resp));
    Lithair__V1__Request *r = lithair__v1__request__unpack(NULL, len, req);
    if (!r) {
        FZ_CHECK(resp->code == LITHAIR__V1__CODE__INVALID_ARGUMENT);
        return;
    }
    FZ_CHECK(resp->id == r->id);
    struct wire_method wm;
    bool known = wire_method_find(r->method, &wm);
    if (!known)
        FZ_CHECK(resp->code == LITHAIR__V1__CODE__UNIMPLEMENTED);
    if (known && strcmp(r->method, "Rpc/Batch") == 0) {
        Lithair__V1__BatchRequest *br =
            lithair__v1__batch_request__unpack(NULL, r->payload.len, r->payload.data);
        if (br) { /* one answer per request, in order */
            Lithair__V1__BatchResponse *bs = NULL;
            FZ_CHECK(resp->code == LITHAIR__V1__CODE__OK);
            bs = lithair__v1__batch_response__unpack(NULL, resp->payload.len, resp->payload.data);
            FZ_CHECK(bs != NULL);
            if (bs && br->n_requests) {
                FZ_CHECK(bs->n_responses == br->n_requests);
                for (size_t i = 0; i < bs->n_responses && i < br->n_requests; i++) {
                    FZ_CHECK(bs->responses[i]->id == br->requests[i]->id);
                    FZ_CHECK(fz_response_utf8(bs->responses[i]));
                }
            } else if (bs) {
                FZ_CHECK(bs->n_responses == 1); /* an empty batch is refused once */
            }
            if (bs)
                lithair__v1__batch_response__free_unpacked(bs, NULL);
            lithair__v1__batch_request__free_unpacked(br, NULL);
        } else {
            FZ_CHECK(resp->code == LITHAIR__V1__CODE__INVALID_ARGUMENT);
        }
    } else if (known && resp->code == LITHAIR__V1__CODE__OK) {
        /* an answer carries the method's output */
        ProtobufCMessage *out =
            protobuf_c_message_unpack(wm.output, NULL, resp->payload.len, resp->payload.data);
        FZ_CHECK(out != NULL);
        if (out && strcmp(r->method, "Models/Create") == 0) {
            const Lithair__V1__RecordReply *rr = (const void *)out;
            Lithair__V1__PlaygroundItem *it =
                rr->record ? lithair__v1__playground_item__unpack(NULL, rr->record->value.len,
                                                                  rr->record->value.data)
                           : NULL;
            if (it && it->id[0] && strlen(it->id) < sizeof(ids->v[0])) {
                snprintf(ids->v[ids->n % 16], sizeof(ids->v[0]), "%s", it->id);
                ids->n++;
            }
            if (it)
                lithair__v1__playground_item__free_unpacked(it, NULL);
        }
        if (out)
            protobuf_c_message_free_unpacked(out, NULL);
    }
    if (!mutated && strcmp(r->method, "Cluster/Ping") == 0)
        FZ_CHECK(resp->code == LITHAIR__V1__CODE__OK);
    lithair__v1__request__free_unpacked(r, NULL);
}

/* fz_status asks for the node's status with the store digest. */
static bool fz_status(nng_socket s, uint64_t *applied, uint64_t *digest, int *role,
                      uint64_t *snapshot)
{
    Lithair__V1__StatusRequest sr = LITHAIR__V1__STATUS_REQUEST__INIT;
    Lithair__V1__Request r = LITHAIR__V1__REQUEST__INIT;
    size_t plen, len;
    bool answered;
    sr.digest = true;
    r.method = "Cluster/Status";
    r.id = 1;
    r.payload.data = fz_pack(&sr.base, &plen);
    r.payload.len = plen;
    uint8_t *req = fz_pack(&r.base, &len);
    Lithair__V1__Response *resp = fz_call(s, req, len, &answered);
    free(req);
    free(r.payload.data);
    bool ok = false;
    if (resp && resp->code == LITHAIR__V1__CODE__OK) {
        Lithair__V1__NodeStatus *st =
            lithair__v1__node_status__unpack(NULL, resp->payload.len, resp->payload.data);
        if (st) {
            *applied = st->applied;
            *digest = st->digest;
            *role = (int)st->role;
            *snapshot = st->snapshot_index;
            ok = true;
            lithair__v1__node_status__free_unpacked(st, NULL);
        }
    }
    if (resp)
        lithair__v1__response__free_unpacked(resp, NULL);
    return ok;
}

static bool fz_wait_leader(nng_socket s, uint64_t min_applied, uint64_t *applied, uint64_t *digest,
                           uint64_t *snapshot)
{
    int role = 0;
    for (int i = 0; i < 200; i++) {
        if (fz_status(s, applied, digest, &role, snapshot) && role == RAFT_LEADER &&
            *applied >= min_applied)
            return true;
        nng_msleep(25);
    }
    return false;
}

/* Where fz_node_config puts a single-node lithair-node: a fresh temporary directory, its
 * data dir and its sockets' ipc:// files in it. */
struct fz_urls {
    char dir[512], raft[600], rpc[600], ev[600], peer[1900], data[600];
};

/* fz_node_config readies `fn` (not started) for a single-node lithair-node in `u`. */
static bool fz_node_config(struct fz_node *fn, struct fz_urls *u)
{
    memset(fn, 0, sizeof(*fn));
    pthread_mutex_init(&fn->mu, NULL);
    pthread_cond_init(&fn->cv, NULL);
    if (tu_tmpdir(u->dir, sizeof(u->dir), "lithair-fuzz-node") != 0)
        return false;
    snprintf(u->raft, sizeof(u->raft), "ipc://%s/raft.ipc", u->dir);
    snprintf(u->rpc, sizeof(u->rpc), "ipc://%s/rpc.ipc", u->dir);
    snprintf(u->ev, sizeof(u->ev), "ipc://%s/ev.ipc", u->dir);
    snprintf(u->peer, sizeof(u->peer), "1,%s,%s,%s", u->raft, u->rpc, u->ev);
    snprintf(u->data, sizeof(u->data), "%s/data", u->dir);
    const char *flags[][2] = {
        {"--id", "1"},
        {"--data-dir", u->data},
        {"--raft", u->raft},
        {"--rpc", u->rpc},
        {"--events", u->ev},
        {"--peer", u->peer},
        {"--tick-ms", "5"},
        {"--election-ticks", "4"},
        {"--heartbeat-ticks", "1"},
        {"--compact-keep", "50"},
        {"--snapshot-interval", "300"},
        {"--rpc-contexts", "8"},
    };
    char *argv[2 * sizeof(flags) / sizeof(flags[0]) + 2], err[256];
    int argc = 0;
    argv[argc++] = "lithair-node";
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        argv[argc++] = (char *)flags[i][0];
        argv[argc++] = (char *)flags[i][1];
    }
    argv[argc] = NULL;
    if (node_config_parse(argc, argv, &fn->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "node config: %s\n", err);
        return false;
    }
    return true;
}

static void test_rpc_requests(void)
{
    struct fz_budget bud;
    struct fz_node fn;
    struct fz_ids ids = {.n = 0};
    struct fz_urls u;
    nng_socket req, push;
    size_t mutated = 0, raft_batches = 0, codes[LITHAIR__V1__CODE__UNAUTHENTICATED + 2] = {0};
    CU_ASSERT_FATAL(fz_node_config(&fn, &u));
    const char *dir = u.dir, *raft = u.raft, *rpc = u.rpc;
    lt_log_init("fuzz", LT_LOG_ERROR);
    CU_ASSERT_FATAL(fz_node_start(&fn));

    CU_ASSERT_EQUAL_FATAL(nng_req0_open(&req), 0);
    nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 10000);
    nng_socket_set_ms(req, NNG_OPT_REQ_RESENDTIME, 60000);
    CU_ASSERT_EQUAL_FATAL(nng_dial(req, rpc, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(nng_push0_open(&push), 0);
    nng_socket_set_ms(push, NNG_OPT_SENDTIMEO, 1000);
    CU_ASSERT_EQUAL_FATAL(nng_dial(push, raft, NULL, 0), 0);
    uint64_t applied0 = 0, digest0 = 0;
    uint64_t snap0 = 0;
    CU_ASSERT_FATAL(fz_wait_leader(req, 0, &applied0, &digest0, &snap0));

    /* well-formed requests whose valid UTF-8 the answer quotes, cut to a size */
    {
        char id[128], model[128];
        memset(id, 'x', 79);
        strcpy(id + 79, "\xc3\xa9"); /* e acute: bytes 80 and 81 */
        strcpy(model, "x");
        for (int i = 0; i < 50; i++)
            strcat(model, "\xc3\xa9");
        Lithair__V1__GetRequest g = LITHAIR__V1__GET_REQUEST__INIT;
        Lithair__V1__CreateRequest cr = LITHAIR__V1__CREATE_REQUEST__INIT;
        g.model = "items";
        g.id = id;
        g.consistency = LITHAIR__V1__CONSISTENCY__SERIALIZABLE;
        cr.model = model;
        const struct {
            const char *method;
            const ProtobufCMessage *in;
            Lithair__V1__Code want;
        } probes[] = {{"Models/Get", &g.base, LITHAIR__V1__CODE__NOT_FOUND},
                      {"Models/Create", &cr.base, LITHAIR__V1__CODE__NOT_FOUND}};
        for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
            Lithair__V1__Request r = LITHAIR__V1__REQUEST__INIT;
            size_t plen, len;
            bool answered;
            r.method = (char *)probes[i].method;
            r.id = 7;
            r.payload.data = fz_pack(probes[i].in, &plen);
            r.payload.len = plen;
            uint8_t *b = fz_pack(&r.base, &len);
            Lithair__V1__Response *resp = fz_call(req, b, len, &answered);
            CU_ASSERT_PTR_NOT_NULL(resp);
            if (resp) {
                CU_ASSERT_EQUAL(resp->code, probes[i].want);
                if (!fz_response_utf8(resp))
                    fprintf(stderr, "rpc: %s answered a message that is not UTF-8: %s\n",
                            probes[i].method, resp->message);
                CU_ASSERT(fz_response_utf8(resp));
                lithair__v1__response__free_unpacked(resp, NULL);
            }
            free(b);
            free(r.payload.data);
        }
    }

    fz_begin(&bud, "rpc", 5000, 4000);
    while (fz_more(&bud)) {
        uint64_t id = 1000 + fz_iter;
        unsigned how = (unsigned)rng_below(4); /* 0: as is, 1: payloads, 2-3: the envelope */
        size_t len;
        uint8_t *reqb = fz_request(&ids, id, how == 1, &len);
        if (how >= 2) {
            uint8_t *grown = realloc(reqb, len + 64);
            CU_ASSERT_PTR_NOT_NULL_FATAL(grown);
            reqb = grown;
            len = fz_mutate(reqb, len, len + 64);
        }
        mutated += how != 0;
        bool answered;
        Lithair__V1__Response *resp = fz_call(req, reqb, len, &answered);
        FZ_CHECK(answered); /* every request is answered: nothing hangs */
        if (answered)
            fz_check_reply(reqb, len, resp, how != 0, &ids);
        if (resp && (int)resp->code >= 0 && resp->code <= LITHAIR__V1__CODE__UNAUTHENTICATED)
            codes[resp->code]++;
        else
            codes[LITHAIR__V1__CODE__UNAUTHENTICATED + 1]++;
        if (resp)
            lithair__v1__response__free_unpacked(resp, NULL);
        free(reqb);
        if (rng_chance(10)) { /* mutated raft traffic: decoded, then refused or ignored */
            struct fz_batch b = {0};
            size_t blen;
            for (size_t i = 1 + (size_t)rng_below(3); i > 0; i--)
                fz_gen_msg(&b);
            if (rng_chance(50))
                b.v[0].m.to = 1;
            uint8_t *buf = fz_encode(&b, 64, &blen);
            blen = fz_mutate(buf, blen, blen + 64);
            nng_msg *msg;
            if (nng_msg_alloc(&msg, blen) == 0) {
                memcpy(nng_msg_body(msg), buf, blen);
                if (nng_sendmsg(push, msg, 0) != 0)
                    nng_msg_free(msg);
                else
                    raft_batches++;
            }
            free(buf);
            fz_batch_free(&b);
        }
        fz_iter++;
        if (!answered)
            break; /* the node is stuck or gone: the rest would only time out */
    }
    fz_end(&bud, "mutated", mutated);
    fprintf(stderr, "rpc: %zu raft batches sent; answers by code:", raft_batches);
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i])
            fprintf(stderr, " %s %zu",
                    i <= LITHAIR__V1__CODE__UNAUTHENTICATED ? wire_code_name((int)i) : "none",
                    codes[i]);
    fprintf(stderr, "\n");

    /* still serving; then the same store again after a restart (WAL and snapshot replay) */
    uint64_t applied1 = 0, digest1 = 0, applied2 = 0, digest2 = 0;
    uint64_t snap1 = 0, snap2 = 0;
    FZ_CHECK(fz_wait_leader(req, 0, &applied1, &digest1, &snap1));
    nng_close(push);
    fz_node_stop(&fn);
    FZ_CHECK(fn.rc == 0);
    FZ_CHECK(fz_node_start(&fn));
    if (fn.state == 1) {
        FZ_CHECK(fz_wait_leader(req, applied1, &applied2, &digest2, &snap2));
        FZ_CHECK(digest2 == digest1);
        fprintf(stderr,
                "rpc: restarted from snapshot %llu and the WAL up to %llu: same digest %s\n",
                (unsigned long long)snap2, (unsigned long long)applied1,
                digest2 == digest1 ? "yes" : "NO");
        fz_node_stop(&fn);
    }
    nng_close(req);
    pthread_mutex_destroy(&fn.mu);
    pthread_cond_destroy(&fn.cv);
    tu_rmrf(dir);
}

/* ---- suites ---- */

static int suite_init(void)
{
    store_reader_register(); /* this thread applies to the stores of the store case */
    return 0;
}

static int suite_cleanup(void)
{
    store_reader_unregister();
    return 0;
}

/* A slow disk is named in the log. Every fdatasync takes 1.2 s longer (sio_delay_arm):
 * a single node elects itself and syncs its first entries; each WAL batch (on the loop or
 * on the writer thread) took over a second, and the node says so, at most one line in
 * 10 s — without it, clients of a cluster whose disks stall see deadline errors and no
 * log line says why. The idle leader's sync on its loop also made one pass of the loop
 * longer than the election timeout, and that is named too, with the part that took it. */
static void test_slow_disk_logged(void)
{
    struct fz_node fn;
    struct fz_urls u;
    CU_ASSERT_FATAL(fz_node_config(&fn, &u));
    char logpath[700];
    snprintf(logpath, sizeof(logpath), "%s/stderr.log", u.dir);
    fflush(stderr);
    int saved = dup(2), fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    lt_log_init("slowdisk", LT_LOG_WARN);
    sio_delay_arm(1200);
    bool started = fz_node_start(&fn);
    if (started) {
        nng_msleep(3500); /* the election's entries, synced one batch after another */
        fz_node_stop(&fn);
    }
    sio_delay_arm(0);
    lt_log_init("fuzz", LT_LOG_ERROR);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    CU_ASSERT_FATAL(started);

    char log[8192] = "";
    FILE *f = fopen(logpath, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t got = fread(log, 1, sizeof(log) - 1, f);
    log[got] = 0;
    fclose(f);
    unsigned lines = 0;
    for (const char *p = log; (p = strstr(p, "to write and sync")) != NULL; p++)
        lines++;
    const char *w = strstr(log, "WAL: a batch of ");
    CU_ASSERT_PTR_NOT_NULL(w);
    CU_ASSERT_EQUAL(lines, 1); /* the others of the 10 s are counted, not logged */
    if (w) {
        unsigned long long ms = 0, sync_ms = 0;
        const char *t = strstr(w, " took ");
        CU_ASSERT(t && sscanf(t, " took %llu ms to write and sync (fdatasync %llu ms", &ms,
                              &sync_ms) == 2);
        CU_ASSERT(ms >= 1200 && sync_ms >= 1200 && ms >= sync_ms);
    }
    /* the idle leader synced on its loop once (then the slow disk turns that off): one
     * pass of the loop as long as the sync, logged with the part that took the time */
    unsigned passes = 0;
    for (const char *p = log; (p = strstr(p, "loop: one pass took ")) != NULL; p++)
        passes++;
    const char *lp = strstr(log, "loop: one pass took ");
    CU_ASSERT_EQUAL(passes, 1);
    if (lp) {
        unsigned long long ms = 0, update_ms = 0;
        const char *upd = strstr(lp, "the update (append, sync, apply, reply) ");
        CU_ASSERT(sscanf(lp, "loop: one pass took %llu ms", &ms) == 1);
        CU_ASSERT(upd &&
                  sscanf(upd, "the update (append, sync, apply, reply) %llu ms", &update_ms) == 1);
        CU_ASSERT(ms >= 1200 && update_ms >= 1200 && ms >= update_ms);
    }
    if (!w || lines != 1 || passes != 1)
        fprintf(stderr, "slow disk: the node logged:\n%s\n", log);
    pthread_mutex_destroy(&fn.mu);
    pthread_cond_destroy(&fn.cv);
    tu_rmrf(u.dir);
}

static const struct lt_test fuzz_tests[] = {
    {"codec_mutations", test_codec_mutations},
    {"raft_extreme_numbers", test_raft_extreme_numbers},
    {"raft_hostile", test_raft_hostile},
    {"store_apply", test_store_apply},
    {"rpc_requests", test_rpc_requests},
    {"slow_disk_logged", test_slow_disk_logged},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"fuzz_node", suite_init, suite_cleanup, fuzz_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
