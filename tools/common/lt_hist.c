/* lt_hist.c — log-linear latency histogram (see lt_hist.h).
 *
 * Bucket layout: a value v < 256 is its own bucket (index v). For v >= 256 let
 * e = floor(log2 v) and shift = e - 7: the bucket is shift * 128 + (v >> shift), where
 * v >> shift is in [128, 255]. Consecutive octaves therefore tile the index space
 * without gaps, bucket i >= 256 covers [sub << shift, (sub + 1) << shift) with
 * sub = 128 + i % 128 and shift = i / 128 - 1, and its width is at most 1/128 of its
 * lower bound.
 *
 * Every counter is a C11 atomic touched only with relaxed loads and stores by the one
 * writer, so a concurrent reader (lt_hist_merge) sees whole counters without any lock
 * or locked instruction on the recording path. */
#include "lt_hist.h"

#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

struct lt_hist {
    _Atomic uint64_t count;
    _Atomic uint64_t sum; /* of clamped values, ns; wraps after ~584 years of latency */
    _Atomic uint64_t min;
    _Atomic uint64_t max;
    _Atomic uint64_t clamped;
    _Atomic uint64_t buckets[LT_HIST_BUCKETS];
};

#define LT_HIST_SUB_COUNT (UINT64_C(1) << LT_HIST_SUB_BITS)

static uint64_t lt_hist_load(const _Atomic uint64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static void lt_hist_store(_Atomic uint64_t *a, uint64_t v)
{
    atomic_store_explicit(a, v, memory_order_relaxed);
}

/* lt_hist_add: single-writer increment (a load and a store, no locked instruction). */
static void lt_hist_add(_Atomic uint64_t *a, uint64_t n)
{
    lt_hist_store(a, lt_hist_load(a) + n);
}

size_t lt_hist_bucket_index(uint64_t ns)
{
    if (ns > LT_HIST_MAX_NS)
        ns = LT_HIST_MAX_NS;
    if (ns < 2 * LT_HIST_SUB_COUNT)
        return (size_t)ns;
    unsigned e = 63u - (unsigned)__builtin_clzll(ns);
    unsigned shift = e - LT_HIST_SUB_BITS;
    return ((size_t)shift << LT_HIST_SUB_BITS) + (size_t)(ns >> shift);
}

void lt_hist_bucket_bounds(size_t i, uint64_t *lo_ns, uint64_t *hi_ns)
{
    assert(i < LT_HIST_BUCKETS);
    if (i < 2 * LT_HIST_SUB_COUNT) {
        *lo_ns = i;
        *hi_ns = i;
        return;
    }
    unsigned shift = (unsigned)(i >> LT_HIST_SUB_BITS) - 1;
    uint64_t sub = LT_HIST_SUB_COUNT + (i & (LT_HIST_SUB_COUNT - 1));
    *lo_ns = sub << shift;
    *hi_ns = *lo_ns + (UINT64_C(1) << shift) - 1;
}

struct lt_hist *lt_hist_new(void)
{
    struct lt_hist *h = calloc(1, sizeof(*h));
    if (h)
        lt_hist_reset(h);
    return h;
}

void lt_hist_free(struct lt_hist *h)
{
    free(h);
}

void lt_hist_reset(struct lt_hist *h)
{
    for (size_t i = 0; i < LT_HIST_BUCKETS; i++)
        lt_hist_store(&h->buckets[i], 0);
    lt_hist_store(&h->count, 0);
    lt_hist_store(&h->sum, 0);
    lt_hist_store(&h->min, UINT64_MAX);
    lt_hist_store(&h->max, 0);
    lt_hist_store(&h->clamped, 0);
}

void lt_hist_record_n(struct lt_hist *h, uint64_t ns, uint64_t n)
{
    if (n == 0)
        return;
    if (ns > LT_HIST_MAX_NS) {
        ns = LT_HIST_MAX_NS;
        lt_hist_add(&h->clamped, n);
    }
    lt_hist_add(&h->buckets[lt_hist_bucket_index(ns)], n);
    lt_hist_add(&h->sum, ns * n);
    if (ns < lt_hist_load(&h->min))
        lt_hist_store(&h->min, ns);
    if (ns > lt_hist_load(&h->max))
        lt_hist_store(&h->max, ns);
    /* count last: a concurrent merge never sees more values than bucketed ones */
    lt_hist_add(&h->count, n);
}

void lt_hist_record_series(struct lt_hist *h, uint64_t first_ns, uint64_t step_ns, uint64_t n)
{
    while (n > 0) {
        if (step_ns == 0 || first_ns > LT_HIST_MAX_NS) { /* one value, or all clamped */
            lt_hist_record_n(h, first_ns, n);
            return;
        }
        /* the k values in first_ns's bucket: the first and the last as they are (min and
         * max stay exact), the m between them at their mean (first + last) / 2 — an
         * integer when m is odd; when it is not, half below and half above it */
        uint64_t lo, hi;
        lt_hist_bucket_bounds(lt_hist_bucket_index(first_ns), &lo, &hi);
        uint64_t k = (hi - first_ns) / step_ns + 1;
        if (k > n)
            k = n;
        uint64_t last = first_ns + (k - 1) * step_ns; /* <= hi: no overflow */
        lt_hist_record_n(h, first_ns, 1);
        if (k >= 2)
            lt_hist_record_n(h, last, 1);
        if (k >= 3) {
            uint64_t m = k - 2, s = first_ns + last;
            uint64_t below = (s & 1) ? m / 2 : m;
            lt_hist_record_n(h, s / 2, below);
            lt_hist_record_n(h, s / 2 + 1, m - below);
        }
        n -= k;
        if (n > 0 && step_ns > UINT64_MAX - last) { /* the rest lies past UINT64_MAX */
            lt_hist_record_n(h, UINT64_MAX, n);
            return;
        }
        first_ns = last + step_ns;
    }
}

void lt_hist_record(struct lt_hist *h, uint64_t ns)
{
    lt_hist_record_n(h, ns, 1);
}

void lt_hist_merge(struct lt_hist *dst, const struct lt_hist *src)
{
    uint64_t n = 0;
    for (size_t i = 0; i < LT_HIST_BUCKETS; i++) {
        uint64_t c = lt_hist_load(&src->buckets[i]);
        if (c) {
            lt_hist_add(&dst->buckets[i], c);
            n += c;
        }
    }
    if (n == 0)
        return;
    /* Count what was bucketed, so percentiles always agree with the buckets. */
    lt_hist_add(&dst->count, n);
    lt_hist_add(&dst->sum, lt_hist_load(&src->sum));
    lt_hist_add(&dst->clamped, lt_hist_load(&src->clamped));
    uint64_t mn = lt_hist_load(&src->min), mx = lt_hist_load(&src->max);
    if (mn < lt_hist_load(&dst->min))
        lt_hist_store(&dst->min, mn);
    if (mx > lt_hist_load(&dst->max))
        lt_hist_store(&dst->max, mx);
}

uint64_t lt_hist_count(const struct lt_hist *h)
{
    return lt_hist_load(&h->count);
}

uint64_t lt_hist_min(const struct lt_hist *h)
{
    return lt_hist_count(h) ? lt_hist_load(&h->min) : 0;
}

uint64_t lt_hist_max(const struct lt_hist *h)
{
    return lt_hist_load(&h->max);
}

uint64_t lt_hist_clamped(const struct lt_hist *h)
{
    return lt_hist_load(&h->clamped);
}

double lt_hist_mean(const struct lt_hist *h)
{
    uint64_t n = lt_hist_count(h);
    return n ? (double)lt_hist_load(&h->sum) / (double)n : 0.0;
}

uint64_t lt_hist_percentile(const struct lt_hist *h, double p)
{
    uint64_t total = 0;
    for (size_t i = 0; i < LT_HIST_BUCKETS; i++)
        total += lt_hist_load(&h->buckets[i]);
    if (total == 0)
        return 0;
    uint64_t mn = lt_hist_load(&h->min), mx = lt_hist_load(&h->max);
    if (p <= 0.0)
        return mn;
    if (p >= 100.0)
        return mx;
    /* Nearest rank: ceil(p% of total). p / 100.0 * total is inexact (99.9 / 100 * 1000 is
     * 999.0000000000001, which made p99.9 of 1000 values the max): a p given with a few
     * decimals puts p * total / 100 on a multiple of 1e-4 or more, so a difference of
     * less than 1e-6 above an integer is rounding, not a fraction of a rank. */
    double want = p * (double)total / 100.0 - 1e-6;
    uint64_t rank = want <= 1.0 ? 1 : (uint64_t)ceil(want);
    if (rank > total)
        rank = total;
    uint64_t seen = 0;
    for (size_t i = 0; i < LT_HIST_BUCKETS; i++) {
        seen += lt_hist_load(&h->buckets[i]);
        if (seen >= rank) {
            uint64_t lo, hi;
            lt_hist_bucket_bounds(i, &lo, &hi);
            uint64_t v = lo + (hi - lo) / 2;
            if (v < mn)
                v = mn;
            if (v > mx)
                v = mx;
            return v;
        }
    }
    return mx;
}

void lt_hist_summarize(const struct lt_hist *h, struct lt_hist_summary *out)
{
    struct lt_hist_summary s = {0};
    s.count = lt_hist_count(h);
    if (s.count) {
        s.min_ns = lt_hist_min(h);
        s.max_ns = lt_hist_max(h);
        s.mean_ns = lt_hist_mean(h);
        s.p50_ns = lt_hist_percentile(h, 50.0);
        s.p90_ns = lt_hist_percentile(h, 90.0);
        s.p95_ns = lt_hist_percentile(h, 95.0);
        s.p99_ns = lt_hist_percentile(h, 99.0);
        s.p999_ns = lt_hist_percentile(h, 99.9);
    }
    *out = s;
}

bool lt_hist_next(const struct lt_hist *h, size_t *cursor, struct lt_hist_bucket *out)
{
    for (size_t i = *cursor; i < LT_HIST_BUCKETS; i++) {
        uint64_t c = lt_hist_load(&h->buckets[i]);
        if (c) {
            lt_hist_bucket_bounds(i, &out->lo_ns, &out->hi_ns);
            out->count = c;
            *cursor = i + 1;
            return true;
        }
    }
    *cursor = LT_HIST_BUCKETS;
    return false;
}
