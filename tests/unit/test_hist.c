/* test_hist.c — the latency histogram (tools/common/lt_hist): bucket layout, percentile
 * accuracy against sorted samples, merge, reset, iteration, edge values, and a reader
 * merging while a writer records, a series recorded in bulk. */
#include <pthread.h>
#include <stdatomic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "lt_clock.h"
#include "lt_hist.h"
#include "testutil.h"

/* xorshift64*: a small seeded generator so a failing run can be replayed (LT_SEED). */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    return tu_rng_next(&rng_state);
}

static double rng_unit(void)
{
    return (double)(rng_next() >> 11) / 9007199254740992.0; /* [0, 1) */
}

static double absd(double x)
{
    return x < 0 ? -x : x;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t sorted_percentile(const uint64_t *v, size_t n, double p)
{
    if (p <= 0.0)
        return v[0];
    if (p >= 100.0)
        return v[n - 1];
    /* nearest rank, ceil(p% of n), in integers: the tests ask for p with two decimals */
    uint64_t p100 = (uint64_t)llround(p * 100.0);
    uint64_t rank = (p100 * (uint64_t)n + 9999) / 10000;
    if (rank == 0)
        rank = 1;
    return v[rank - 1];
}

static void test_bucket_layout(void)
{
    /* Buckets tile [0, LT_HIST_MAX_NS] in order, without gaps, each at most 1/128 wide. */
    uint64_t next = 0;
    for (size_t i = 0; i < LT_HIST_BUCKETS; i++) {
        uint64_t lo, hi;
        lt_hist_bucket_bounds(i, &lo, &hi);
        CU_ASSERT_EQUAL_FATAL(lo, next);
        CU_ASSERT_FATAL(hi >= lo);
        CU_ASSERT_FATAL((hi - lo) * 128 <= lo || hi == lo);
        CU_ASSERT_EQUAL_FATAL(lt_hist_bucket_index(lo), i);
        CU_ASSERT_EQUAL_FATAL(lt_hist_bucket_index(hi), i);
        next = hi + 1;
    }
    CU_ASSERT_EQUAL(next - 1, LT_HIST_MAX_NS);
    CU_ASSERT_EQUAL(lt_hist_bucket_index(UINT64_MAX), LT_HIST_BUCKETS - 1);
    CU_ASSERT(LT_HIST_MAX_NS >= UINT64_C(60000000000)); /* 60 s fits */
}

static void check_accuracy(uint64_t *v, size_t n, const char *what)
{
    struct lt_hist *h = lt_hist_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        lt_hist_record(h, v[i]);
        sum += (double)v[i];
    }
    qsort(v, n, sizeof(v[0]), cmp_u64);
    static const double ps[] = {0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};
    for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
        uint64_t want = sorted_percentile(v, n, ps[k]);
        uint64_t got = lt_hist_percentile(h, ps[k]);
        double err = absd((double)got - (double)want) / (double)(want ? want : 1);
        if (err > 0.01)
            fprintf(stderr, "%s p%g: want %llu got %llu\n", what, ps[k], (unsigned long long)want,
                    (unsigned long long)got);
        CU_ASSERT(err <= 0.01);
    }
    CU_ASSERT_EQUAL(lt_hist_count(h), n);
    CU_ASSERT_EQUAL(lt_hist_min(h), v[0]);
    CU_ASSERT_EQUAL(lt_hist_max(h), v[n - 1]);
    CU_ASSERT(absd(lt_hist_mean(h) - sum / (double)n) <= 1e-6 * sum / (double)n + 1);
    struct lt_hist_summary s;
    lt_hist_summarize(h, &s);
    CU_ASSERT_EQUAL(s.count, n);
    CU_ASSERT_EQUAL(s.p99_ns, lt_hist_percentile(h, 99));
    CU_ASSERT_EQUAL(s.p999_ns, lt_hist_percentile(h, 99.9));
    CU_ASSERT(s.p50_ns <= s.p90_ns && s.p90_ns <= s.p95_ns && s.p95_ns <= s.p99_ns &&
              s.p99_ns <= s.p999_ns && s.p999_ns <= s.max_ns);
    lt_hist_free(h);
}

static void test_accuracy_random(void)
{
    rng_state = tu_seed("hist accuracy") | 1;
    enum { N = 200000 };
    uint64_t *v = malloc(N * sizeof(*v));
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);

    /* log-uniform over 1 µs .. 60 s: a random octave, uniform inside it */
    for (size_t i = 0; i < N; i++) {
        uint64_t lo = UINT64_C(1000) << (rng_next() % 26); /* up to ~33.5 s */
        v[i] = lo + (uint64_t)(rng_unit() * (double)lo);
    }
    check_accuracy(v, N, "log-uniform");

    /* heavy tail (Pareto, alpha 1): 50 µs / u, capped at 60 s */
    for (size_t i = 0; i < N; i++) {
        double x = 50000.0 / (rng_unit() + 1e-9);
        v[i] = x > 60e9 ? UINT64_C(60000000000) : (uint64_t)x;
    }
    check_accuracy(v, N, "pareto");

    /* uniform 1 µs .. 2 ms */
    for (size_t i = 0; i < N; i++)
        v[i] = 1000 + rng_next() % 1999000;
    check_accuracy(v, N, "uniform");

    /* bimodal: mostly fast, a slow tail around 1 s */
    for (size_t i = 0; i < N; i++)
        v[i] = (rng_next() % 100 < 97) ? 50000 + rng_next() % 10000
                                       : 900000000 + rng_next() % 200000000;
    check_accuracy(v, N, "bimodal");

    /* small sample sizes: 1, 2, 3, 10 values */
    static const size_t small[] = {1, 2, 3, 10};
    for (size_t k = 0; k < 4; k++) {
        for (size_t i = 0; i < small[k]; i++)
            v[i] = 1000 + rng_next() % 60000000000ull;
        check_accuracy(v, small[k], "small");
    }
    free(v);
}

static bool hist_equal(const struct lt_hist *a, const struct lt_hist *b)
{
    size_t ca = 0, cb = 0;
    struct lt_hist_bucket x, y;
    for (;;) {
        bool ha = lt_hist_next(a, &ca, &x), hb = lt_hist_next(b, &cb, &y);
        if (ha != hb)
            return false;
        if (!ha)
            break;
        if (x.lo_ns != y.lo_ns || x.hi_ns != y.hi_ns || x.count != y.count)
            return false;
    }
    return lt_hist_count(a) == lt_hist_count(b) && lt_hist_min(a) == lt_hist_min(b) &&
           lt_hist_max(a) == lt_hist_max(b) && lt_hist_mean(a) == lt_hist_mean(b) &&
           lt_hist_clamped(a) == lt_hist_clamped(b);
}

static void test_merge(void)
{
    rng_state = tu_seed("hist merge") | 1;
    struct lt_hist *a = lt_hist_new(), *b = lt_hist_new(), *all = lt_hist_new(), *m = lt_hist_new();
    CU_ASSERT_FATAL(a && b && all && m);
    for (int i = 0; i < 50000; i++) {
        uint64_t x = rng_next() % 5000000000ull;
        lt_hist_record(i % 3 ? a : b, x);
        lt_hist_record(all, x);
    }
    lt_hist_record(b, UINT64_MAX); /* a clamped value travels too */
    lt_hist_record(all, UINT64_MAX);
    lt_hist_merge(m, a);
    lt_hist_merge(m, b);
    CU_ASSERT_TRUE(hist_equal(m, all));
    CU_ASSERT_EQUAL(lt_hist_percentile(m, 99), lt_hist_percentile(all, 99));
    /* merging an empty histogram changes nothing; merging into an empty one copies */
    struct lt_hist *empty = lt_hist_new();
    lt_hist_merge(m, empty);
    CU_ASSERT_TRUE(hist_equal(m, all));
    lt_hist_merge(empty, all);
    CU_ASSERT_TRUE(hist_equal(empty, all));
    /* reset empties */
    lt_hist_reset(m);
    CU_ASSERT_EQUAL(lt_hist_count(m), 0);
    CU_ASSERT_EQUAL(lt_hist_percentile(m, 50), 0);
    CU_ASSERT_EQUAL(lt_hist_min(m), 0);
    CU_ASSERT_EQUAL(lt_hist_max(m), 0);
    CU_ASSERT_EQUAL(lt_hist_mean(m), 0.0);
    size_t cur = 0;
    struct lt_hist_bucket bk;
    CU_ASSERT_FALSE(lt_hist_next(m, &cur, &bk));
    lt_hist_free(a);
    lt_hist_free(b);
    lt_hist_free(all);
    lt_hist_free(m);
    lt_hist_free(empty);
    lt_hist_free(NULL);
}

static void test_edges_and_iterate(void)
{
    struct lt_hist *h = lt_hist_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    struct lt_hist_summary s;
    lt_hist_summarize(h, &s);
    CU_ASSERT_EQUAL(s.count, 0);
    CU_ASSERT_EQUAL(s.p50_ns, 0);

    lt_hist_record(h, 0);
    CU_ASSERT_EQUAL(lt_hist_percentile(h, 50), 0);
    CU_ASSERT_EQUAL(lt_hist_min(h), 0);
    lt_hist_record(h, UINT64_MAX);
    lt_hist_record(h, LT_HIST_MAX_NS + 1);
    CU_ASSERT_EQUAL(lt_hist_clamped(h), 2);
    CU_ASSERT_EQUAL(lt_hist_max(h), LT_HIST_MAX_NS);
    CU_ASSERT_EQUAL(lt_hist_percentile(h, 100), LT_HIST_MAX_NS);
    CU_ASSERT_EQUAL(lt_hist_percentile(h, 0), 0);
    lt_hist_record_n(h, 1000, 5);
    lt_hist_record_n(h, 7, 0); /* nothing */
    CU_ASSERT_EQUAL(lt_hist_count(h), 8);

    size_t cur = 0, n = 0;
    uint64_t total = 0, prev_hi = 0;
    struct lt_hist_bucket b;
    while (lt_hist_next(h, &cur, &b) && n < 100) {
        if (n > 0)
            CU_ASSERT(b.lo_ns > prev_hi);
        prev_hi = b.hi_ns;
        total += b.count;
        n++;
    }
    CU_ASSERT_EQUAL(n, 3); /* 0, 1000, the last bucket */
    CU_ASSERT_EQUAL(total, 8);
    CU_ASSERT_EQUAL(prev_hi, LT_HIST_MAX_NS);
    CU_ASSERT_FALSE(lt_hist_next(h, &cur, &b)); /* stays at the end */
    lt_hist_free(h);
}

/* A writer records while a reader merges: the merged counts only grow and the final
 * merge after the writer stops equals what was recorded (no lock anywhere). */
struct writer_arg {
    struct lt_hist *h;
    atomic_bool done;
};

static void *writer_main(void *p)
{
    struct writer_arg *w = p;
    for (uint64_t i = 0; i < 300000; i++)
        lt_hist_record(w->h, 1000 + (i % 5000) * 100);
    atomic_store(&w->done, true);
    return NULL;
}

static void test_concurrent_merge(void)
{
    struct writer_arg w = {.h = lt_hist_new()};
    struct lt_hist *snap = lt_hist_new();
    CU_ASSERT_FATAL(w.h && snap);
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, writer_main, &w), 0);
    uint64_t last = 0;
    for (int i = 0; i < 10000 && !atomic_load(&w.done); i++) {
        lt_hist_reset(snap);
        lt_hist_merge(snap, w.h);
        uint64_t c = lt_hist_count(snap);
        CU_ASSERT(c >= last);
        last = c;
    }
    pthread_join(t, NULL);
    lt_hist_reset(snap);
    lt_hist_merge(snap, w.h);
    CU_ASSERT_EQUAL(lt_hist_count(snap), 300000);
    CU_ASSERT_TRUE(hist_equal(snap, w.h));
    lt_hist_free(w.h);
    lt_hist_free(snap);
}

/* Nearest rank on exact counts: p * n / 100 computed in doubles is 999.0000000000001 for
 * 99.9% of 1000, which made p99.9 of 1000 values the maximum. */
static void test_rank_exact(void)
{
    for (uint64_t n = 1000; n <= 100000; n *= 10) {
        struct lt_hist *h = lt_hist_new();
        CU_ASSERT_PTR_NOT_NULL_FATAL(h);
        for (uint64_t i = 0; i < n - 1; i++)
            lt_hist_record(h, 1000000); /* 1 ms */
        lt_hist_record(h, 500000000);   /* one of 500 ms: only the max may be it */
        uint64_t p999 = lt_hist_percentile(h, 99.9), p99 = lt_hist_percentile(h, 99.0);
        CU_ASSERT(p999 >= 990000 && p999 <= 1010000);
        CU_ASSERT(p99 >= 990000 && p99 <= 1010000);
        CU_ASSERT_EQUAL(lt_hist_percentile(h, 100.0), 500000000);
        lt_hist_free(h);
    }
}

/* Two histograms hold the same values: every bucket, count, sum, min, max, clamped. */
static bool hist_same(const struct lt_hist *a, const struct lt_hist *b)
{
    if (lt_hist_count(a) != lt_hist_count(b) || lt_hist_min(a) != lt_hist_min(b) ||
        lt_hist_max(a) != lt_hist_max(b) || lt_hist_clamped(a) != lt_hist_clamped(b) ||
        lt_hist_mean(a) != lt_hist_mean(b))
        return false;
    size_t ca = 0, cb = 0;
    struct lt_hist_bucket ba, bb;
    for (;;) {
        bool ma = lt_hist_next(a, &ca, &ba), mb = lt_hist_next(b, &cb, &bb);
        if (ma != mb)
            return false;
        if (!ma)
            return true;
        if (ba.lo_ns != bb.lo_ns || ba.count != bb.count)
            return false;
    }
}

/* lt_hist_record_series (n values first, first + step, ...) against the same values
 * recorded one by one: the same histogram exactly, the sum included. Steps from 0 to past
 * 2^64's end, starts on both sides of LT_HIST_MAX_NS. */
static void test_series(void)
{
    rng_state = tu_seed("hist series") | 1;
    static const uint64_t steps[] = {
        0,         1, 3, 100, 1000, 65537, 1000000, 123456789, UINT64_C(1) << 40, UINT64_MAX / 3,
        UINT64_MAX};
    struct lt_hist *one = lt_hist_new(), *bulk = lt_hist_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(one);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bulk);
    int bad = 0;
    for (int round = 0; round < 400; round++) {
        uint64_t first = rng_next() >> (rng_next() % 64);
        if (round % 10 == 0)
            first = LT_HIST_MAX_NS - rng_next() % 1000;
        if (round % 40 == 1)
            first = LT_HIST_MAX_NS; /* the last value bucketed: the next ones are clamped */
        uint64_t step = round % 3 ? steps[rng_next() % (sizeof(steps) / sizeof(steps[0]))]
                                  : rng_next() >> (rng_next() % 64);
        uint64_t n = 1 + rng_next() % (round % 4 ? 3000 : 20);
        lt_hist_reset(one);
        lt_hist_reset(bulk);
        uint64_t v = first;
        for (uint64_t i = 0; i < n; i++) {
            lt_hist_record(one, v);
            v = step > UINT64_MAX - v ? UINT64_MAX : v + step; /* past the end: clamped */
        }
        lt_hist_record_series(bulk, first, step, n);
        if (!hist_same(one, bulk) && bad++ < 5)
            fprintf(stderr, "series first %llu step %llu n %llu differs\n",
                    (unsigned long long)first, (unsigned long long)step, (unsigned long long)n);
    }
    CU_ASSERT_EQUAL(bad, 0);

    /* a billion values at once: a bounded number of steps, the mean exact */
    lt_hist_reset(bulk);
    uint64_t t0 = lt_now_ns();
    lt_hist_record_series(bulk, 1000, 1, 1000000000);
    CU_ASSERT(lt_now_ns() - t0 < 1000000000); /* one by one: seconds */
    CU_ASSERT_EQUAL(lt_hist_count(bulk), 1000000000);
    CU_ASSERT_EQUAL(lt_hist_min(bulk), 1000);
    CU_ASSERT_EQUAL(lt_hist_max(bulk), 1000 + 999999999);
    CU_ASSERT_DOUBLE_EQUAL(lt_hist_mean(bulk), 1000 + 999999999 / 2.0, 1e-3);
    uint64_t p50 = lt_hist_percentile(bulk, 50.0);
    CU_ASSERT(p50 >= 496000000 && p50 <= 504000000);
    lt_hist_free(one);
    lt_hist_free(bulk);
}

static const struct lt_test hist_tests[] = {
    {"rank_exact", test_rank_exact},
    {"bucket_layout", test_bucket_layout},
    {"accuracy_random", test_accuracy_random},
    {"merge_reset", test_merge},
    {"edges_iterate", test_edges_and_iterate},
    {"concurrent_merge", test_concurrent_merge},
    {"series", test_series},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"hist", NULL, NULL, hist_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
