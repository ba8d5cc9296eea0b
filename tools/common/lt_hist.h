/* lt_hist.h — a latency histogram with log-linear buckets (HdrHistogram-like).
 *
 * Values are NANOSECONDS (uint64_t). Values below 256 ns are counted exactly; above,
 * every power of two is split into 128 linear sub-buckets, so a bucket is at most
 * 1/128 (0.78%) of its lower bound wide. A percentile is reported as the midpoint of
 * its bucket (clamped to the exact min and max), so it is within 0.4% of the true
 * sample value from 128 ns up to LT_HIST_MAX_NS (about 137 s); larger values are
 * clamped into the last bucket (and counted in `clamped`), the exact max still kept.
 *
 * Concurrency: one writer per histogram. lt_hist_record uses relaxed atomic loads and
 * stores (no lock, no read-modify-write instruction: plain increments in practice), so
 * the usual pattern is one histogram per worker thread, recorded without any lock, and
 * a reader that lt_hist_merge()s the workers' histograms into its own at any time. A
 * merge taken while workers record is a slightly fuzzy snapshot (buckets are read one
 * by one) but never torn per counter. Everything else (reset, percentile on the same
 * histogram a writer uses) is for the owner, or after the writers stopped.
 *
 * It is not a general-purpose statistics library: no negative values, no decay. */
#ifndef LT_HIST_H
#define LT_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LT_HIST_SUB_BITS 7  /* 128 sub-buckets per power of two */
#define LT_HIST_TOP_BIT  37 /* values < 2^37 ns (~137 s) are bucketed */
#define LT_HIST_MAX_NS   ((UINT64_C(1) << LT_HIST_TOP_BIT) - 1)
#define LT_HIST_BUCKETS                                                                            \
    ((size_t)(LT_HIST_TOP_BIT - LT_HIST_SUB_BITS + 1) << LT_HIST_SUB_BITS) /* 3968 */

struct lt_hist;

/* One non-empty bucket: values v with lo_ns <= v <= hi_ns were counted `count` times. */
struct lt_hist_bucket {
    uint64_t lo_ns;
    uint64_t hi_ns;
    uint64_t count;
};

/* The usual summary, every value in nanoseconds. All zero when count == 0. */
struct lt_hist_summary {
    uint64_t count;
    uint64_t min_ns;
    uint64_t max_ns;
    double mean_ns;
    uint64_t p50_ns;
    uint64_t p90_ns;
    uint64_t p95_ns;
    uint64_t p99_ns;
    uint64_t p999_ns;
};

/* lt_hist_new allocates an empty histogram (about 32 KiB); NULL if out of memory. */
struct lt_hist *lt_hist_new(void);

/* lt_hist_free frees `h`; NULL does nothing. */
void lt_hist_free(struct lt_hist *h);

/* lt_hist_record counts one value of `ns` nanoseconds. Single writer (see above). */
void lt_hist_record(struct lt_hist *h, uint64_t ns);

/* lt_hist_record_n counts `n` values of `ns` nanoseconds. Single writer. */
void lt_hist_record_n(struct lt_hist *h, uint64_t ns, uint64_t n);

/* lt_hist_record_series counts the `n` values first_ns, first_ns + step_ns, ... (past
 * UINT64_MAX: clamped like any value above LT_HIST_MAX_NS) as n calls of lt_hist_record
 * would, sum included, in at most one step per bucket: an open-loop benchmark far behind
 * its schedule counts its billions of unsent operations with it. Single writer. */
void lt_hist_record_series(struct lt_hist *h, uint64_t first_ns, uint64_t step_ns, uint64_t n);

/* lt_hist_merge adds every count of `src` into `dst` (dst owned by the caller; src may be
 * recorded into concurrently by its own single writer). */
void lt_hist_merge(struct lt_hist *dst, const struct lt_hist *src);

/* lt_hist_reset empties `h`. Only while nobody records into it. */
void lt_hist_reset(struct lt_hist *h);

/* lt_hist_count / lt_hist_min / lt_hist_max / lt_hist_mean: exact count, min, max (after
 * clamping: at most LT_HIST_MAX_NS) and mean of the recorded values; 0 when empty. */
uint64_t lt_hist_count(const struct lt_hist *h);
uint64_t lt_hist_min(const struct lt_hist *h);
uint64_t lt_hist_max(const struct lt_hist *h);
double lt_hist_mean(const struct lt_hist *h);

/* lt_hist_clamped: how many recorded values were above LT_HIST_MAX_NS. */
uint64_t lt_hist_clamped(const struct lt_hist *h);

/* lt_hist_percentile returns the value at percentile `p` (0..100): the smallest recorded
 * value v such that at least p% of the values are <= v, to the bucket's precision;
 * 0 when empty. p <= 0 gives the min, p >= 100 the max. */
uint64_t lt_hist_percentile(const struct lt_hist *h, double p);

/* lt_hist_summarize fills `out` with count, min, max, mean and p50..p99.9. */
void lt_hist_summarize(const struct lt_hist *h, struct lt_hist_summary *out);

/* lt_hist_next iterates the non-empty buckets in increasing order: start with
 * *cursor = 0; each call that returns true fills `out` and advances *cursor. */
bool lt_hist_next(const struct lt_hist *h, size_t *cursor, struct lt_hist_bucket *out);

/* lt_hist_bucket_index / lt_hist_bucket_bounds: the bucket a value falls in and the
 * inclusive value range of bucket `i` (i < LT_HIST_BUCKETS). For exporters and tests. */
size_t lt_hist_bucket_index(uint64_t ns);
void lt_hist_bucket_bounds(size_t i, uint64_t *lo_ns, uint64_t *hi_ns);

#endif
