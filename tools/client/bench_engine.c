/* bench_engine.c — the benchmark engine (see bench_engine.h for what it measures).
 *
 * Threads: the caller of bench_engine_run is the controller; it runs the prefill
 * workers to completion (joined: their writes happen-before every read), then starts
 * the measuring workers, switches phases by time, samples every worker's counters at
 * 4 Hz and finally joins the workers and merges their histograms. A worker's counters
 * and histogram have that worker as their only writer (relaxed atomics, no locks);
 * the controller only reads them. */
#include "bench_engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lt_clock.h"
#include "lt_err.h"
#include "rpc_client.h"
#include "wire.h"

struct bench_worker {
    struct bench_engine *e;
    unsigned index;
    pthread_t thread;
    bool started;
    uint64_t rng;
    struct lt_hist *hist;
    _Atomic uint64_t ops, bytes, read_bytes, reads, writes, unsent;
    _Atomic uint64_t errors[BENCH_CODES];
};

struct bench_engine {
    struct bench_config cfg;
    uint8_t *payload;
    struct bench_worker *w;
    _Atomic int phase;
    atomic_bool stop;
    bool ran;
    _Atomic uint64_t next_key;     /* measured writes */
    _Atomic uint64_t prefill_next; /* prefill keys handed out */
    _Atomic uint64_t prefill_ops, prefill_errors;
    uint64_t t_start_ns;
    uint64_t t_measure_ns, t_end_ns; /* set before the measuring workers start */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* wakes the controller on stop */
};

static const char *const bench_workload_names[] = {"write", "read", "mixed"};

const char *bench_workload_name(enum bench_workload w)
{
    return (unsigned)w < 3 ? bench_workload_names[w] : "?";
}

int bench_workload_parse(const char *s)
{
    for (int i = 0; s && i < 3; i++)
        if (strcasecmp(s, bench_workload_names[i]) == 0)
            return i;
    return -1;
}

static uint64_t bench_rng(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(2685821657736338717);
}

static uint64_t bench_load(const _Atomic uint64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static void bench_add(_Atomic uint64_t *a, uint64_t n)
{
    atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

int bench_engine_new(const struct bench_config *cfg, struct bench_engine **out)
{
    if (!cfg || !cfg->op || cfg->concurrency > BENCH_MAX_WORKERS || cfg->read_percent > 100 ||
        !(cfg->rate >= 0) || (unsigned)cfg->workload > BENCH_MIXED)
        return LT_EINVAL;
    struct bench_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return LT_ENOMEM;
    e->cfg = *cfg;
    struct bench_config *c = &e->cfg;
    if (c->concurrency == 0)
        c->concurrency = 4;
    if (c->duration_ms == 0)
        c->duration_ms = 10000;
    if (c->payload_size == 0)
        c->payload_size = 256;
    if (c->workload == BENCH_WRITE)
        c->key_space = 0;
    else if (c->key_space == 0)
        c->key_space = 1000;
    if (c->seed == 0)
        c->seed = 1;
    e->payload = malloc(c->payload_size);
    e->w = calloc(c->concurrency, sizeof(*e->w));
    if (!e->payload || !e->w)
        goto out_free;
    for (size_t i = 0; i < c->payload_size; i++)
        e->payload[i] = (uint8_t)('a' + i % 26); /* printable: it may travel in a string */
    for (unsigned i = 0; i < c->concurrency; i++) {
        struct bench_worker *w = &e->w[i];
        w->e = e;
        w->index = i;
        w->rng = (c->seed + i) * UINT64_C(0x9E3779B97F4A7C15) | 1;
        w->hist = lt_hist_new();
        if (!w->hist)
            goto out_free;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&e->phase, BENCH_PHASE_PREFILL);
    atomic_init(&e->next_key, c->key_space);
    *out = e;
    return 0;

out_free:
    for (unsigned i = 0; e->w && i < c->concurrency; i++)
        lt_hist_free(e->w[i].hist);
    free(e->w);
    free(e->payload);
    free(e);
    return LT_ENOMEM;
}

void bench_engine_free(struct bench_engine *e)
{
    if (!e)
        return;
    for (unsigned i = 0; i < e->cfg.concurrency; i++)
        lt_hist_free(e->w[i].hist);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e->w);
    free(e->payload);
    free(e);
}

void bench_engine_stop(struct bench_engine *e)
{
    pthread_mutex_lock(&e->mu);
    atomic_store(&e->stop, true);
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

_Static_assert(ATOMIC_BOOL_LOCK_FREE == 2, "bench_engine_stop_async needs a lock-free stop flag");

void bench_engine_stop_async(struct bench_engine *e)
{
    atomic_store(&e->stop, true);
}

static bool bench_is_over(struct bench_engine *e)
{
    return atomic_load(&e->stop) || atomic_load(&e->phase) == BENCH_PHASE_DONE;
}

static void *bench_prefill_main(void *arg)
{
    struct bench_worker *w = arg;
    struct bench_engine *e = w->e;
    uint64_t seq = 0;
    while (!atomic_load(&e->stop)) {
        uint64_t k = atomic_fetch_add(&e->prefill_next, 1);
        if (k >= e->cfg.key_space)
            break;
        struct bench_op op = {.worker = w->index,
                              .phase = BENCH_PHASE_PREFILL,
                              .kind = BENCH_OP_WRITE,
                              .key = k,
                              .seq = seq++,
                              .payload = e->payload,
                              .payload_size = e->cfg.payload_size};
        struct bench_op_result res = {0};
        e->cfg.op(e->cfg.op_ud, &op, &res);
        atomic_fetch_add(&e->prefill_ops, 1);
        if (res.code != 0)
            atomic_fetch_add(&e->prefill_errors, 1);
    }
    return NULL;
}

/* bench_sleep_until sleeps until `t_ns` (monotonic) in slices, returning early if the
 * run is over. */
static void bench_sleep_until(struct bench_engine *e, uint64_t t_ns)
{
    for (;;) {
        uint64_t now = lt_now_ns();
        if (now >= t_ns || bench_is_over(e))
            return;
        uint64_t d = t_ns - now;
        if (d > 10000000)
            d = 10000000;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)d};
        nanosleep(&ts, NULL);
    }
}

static void *bench_worker_main(void *arg)
{
    struct bench_worker *w = arg;
    struct bench_engine *e = w->e;
    const struct bench_config *c = &e->cfg;
    bool open_loop = c->rate > 0;
    uint64_t interval_ns = 0, next_ns = 0;
    if (open_loop) {
        double per_worker = c->rate / c->concurrency;
        double iv = 1e9 / per_worker; /* inf for a tiny rate: no (uint64_t) of it */
        interval_ns = iv >= 1e15 ? UINT64_C(1000000000000000) : iv < 1 ? 1 : (uint64_t)iv;
        /* spread the workers' schedules over one interval */
        next_ns = e->t_start_ns + (uint64_t)((double)interval_ns * w->index / c->concurrency);
    }
    for (uint64_t seq = 0; !bench_is_over(e); seq++) {
        uint64_t t0;
        int phase;
        if (open_loop) {
            bench_sleep_until(e, next_ns);
            if (bench_is_over(e))
                break;
            t0 = next_ns; /* latency counts from the intended send time */
            /* An operation belongs to the phase it was due in, not the one it is sent in
             * (a worker behind its schedule sends late): the warm-up's dues still owed
             * when the measured phase begins are sent then, as warm-up, so the measured
             * ones wait behind them as they would have, but are not measured (they were,
             * with latencies from send times inside the warm-up). Nothing due at or after
             * the end is sent: the measured part is exactly the window's dues. */
            if (t0 >= e->t_end_ns)
                break;
            phase = t0 < e->t_measure_ns ? BENCH_PHASE_WARMUP : BENCH_PHASE_MEASURE;
            next_ns += interval_ns;
        } else {
            t0 = lt_now_ns();
            phase = atomic_load(&e->phase);
        }
        struct bench_op op = {.worker = w->index,
                              .phase = (enum bench_phase)phase,
                              .seq = seq,
                              .payload = e->payload,
                              .payload_size = c->payload_size};
        bool read = c->workload == BENCH_READ ||
                    (c->workload == BENCH_MIXED && bench_rng(&w->rng) % 100 < c->read_percent);
        if (read) {
            op.kind = BENCH_OP_READ;
            op.key = c->key_space ? bench_rng(&w->rng) % c->key_space : 0;
        } else {
            op.kind = BENCH_OP_WRITE;
            op.key = atomic_fetch_add(&e->next_key, 1);
        }
        struct bench_op_result res = {0};
        c->op(c->op_ud, &op, &res);
        uint64_t t1 = lt_now_ns();
        if (phase != BENCH_PHASE_MEASURE)
            continue;
        lt_hist_record(w->hist, t1 > t0 ? t1 - t0 : 0);
        bench_add(read ? &w->reads : &w->writes, 1);
        bench_add(&w->bytes, res.bytes);
        if (read)
            bench_add(&w->read_bytes, res.bytes);
        if (res.code != 0)
            bench_add(
                &w->errors[res.code > 0 && res.code < BENCH_CODES - 1 ? res.code : BENCH_CODES - 1],
                1);
        bench_add(&w->ops, 1); /* last: a sample never counts more ops than recorded */
    }
    /* Open loop: the operations this worker was due to send in the measured phase but had
     * not sent when the run ended (it was behind its schedule: a stall) would have had the
     * largest latencies; leaving them out is coordinated omission at the end of the run.
     * Record each with the time it has waited so far (a lower bound), not as an op. A run
     * stopped early ends now: what was due before the stop counts the same way. */
    if (open_loop) {
        uint64_t now = lt_now_ns();
        uint64_t end = e->t_end_ns < now ? e->t_end_ns : now;
        if (next_ns < e->t_measure_ns) /* the warmup's dues are not measured */
            next_ns += (e->t_measure_ns - next_ns + interval_ns - 1) / interval_ns * interval_ns;
        /* counted in bulk (far behind a high rate, billions of them): the waits of the dues
         * next_ns, next_ns + interval, ..., the last before `end` */
        if (next_ns < end) {
            uint64_t n = (end - 1 - next_ns) / interval_ns + 1;
            uint64_t last = next_ns + (n - 1) * interval_ns;
            lt_hist_record_series(w->hist, now - last, interval_ns, n);
            bench_add(&w->unsent, n);
        }
    }
    return NULL;
}

/* Sums of every worker's counters at one instant. */
struct bench_totals {
    uint64_t ops, bytes, errors;
};

static struct bench_totals bench_sum(struct bench_engine *e)
{
    struct bench_totals t = {0};
    for (unsigned i = 0; i < e->cfg.concurrency; i++) {
        struct bench_worker *w = &e->w[i];
        t.ops += bench_load(&w->ops);
        t.bytes += bench_load(&w->bytes);
        for (int k = 1; k < BENCH_CODES; k++)
            t.errors += bench_load(&w->errors[k]);
    }
    return t;
}

/* bench_wait waits until `t_ns` or a stop. */
static void bench_wait(struct bench_engine *e, uint64_t t_ns)
{
    pthread_mutex_lock(&e->mu);
    while (!atomic_load(&e->stop)) {
        uint64_t now = lt_now_ns();
        if (now >= t_ns)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t d = t_ns - now;
        ts.tv_sec += (time_t)(d / 1000000000u);
        ts.tv_nsec += (long)(d % 1000000000u);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&e->cv, &e->mu, &ts);
    }
    pthread_mutex_unlock(&e->mu);
}

static int bench_start_threads(struct bench_engine *e, void *(*fn)(void *))
{
    for (unsigned i = 0; i < e->cfg.concurrency; i++) {
        if (pthread_create(&e->w[i].thread, NULL, fn, &e->w[i]) != 0)
            return LT_EIO;
        e->w[i].started = true;
    }
    return 0;
}

static void bench_join_threads(struct bench_engine *e)
{
    for (unsigned i = 0; i < e->cfg.concurrency; i++) {
        if (e->w[i].started)
            pthread_join(e->w[i].thread, NULL);
        e->w[i].started = false;
    }
}

/* bench_so_far merges the workers' histograms into scratch: *p50 and *p99 of everything
 * measured so far (0 with nothing measured). */
static void bench_so_far(struct bench_engine *e, struct lt_hist *scratch, uint64_t ops,
                         uint64_t *p50, uint64_t *p99)
{
    *p50 = *p99 = 0;
    if (!scratch || !ops)
        return;
    lt_hist_reset(scratch);
    for (unsigned i = 0; i < e->cfg.concurrency; i++)
        lt_hist_merge(scratch, e->w[i].hist);
    *p50 = lt_hist_percentile(scratch, 50);
    *p99 = lt_hist_percentile(scratch, 99);
}

/* bench_progress_report gives the progress callback the totals and the percentiles so far
 * (bench_so_far's). */
static void bench_progress_report(struct bench_engine *e, enum bench_phase phase,
                                  const struct bench_totals *t, double ops_per_sec,
                                  double mb_per_sec, uint64_t p50_ns, uint64_t p99_ns)
{
    if (!e->cfg.progress)
        return;
    struct bench_progress p = {.phase = phase,
                               .elapsed_ms = (lt_now_ns() - e->t_start_ns) / 1000000,
                               .ops = t->ops,
                               .errors = t->errors,
                               .ops_per_sec = ops_per_sec,
                               .mb_per_sec = mb_per_sec,
                               .p50_ns = p50_ns,
                               .p99_ns = p99_ns};
    e->cfg.progress(e->cfg.progress_ud, &p);
}

/* bench_last_sample ends the series at `end` (the measured phase's end): the interval since
 * the last sample (at last_ns, with totals *last; NULL: none yet) is sampled with the
 * result's totals, those of every measured operation, so that the series covers the whole
 * run. One shorter than half a tick is folded into the last sample instead (its interval
 * then starts at before_ns, totals *before): a rate over a few milliseconds says little. */
static void bench_last_sample(struct bench_engine *e, struct lt_hist *scratch,
                              struct bench_result *r, size_t cap, uint64_t end,
                              const struct bench_totals *last, uint64_t last_ns,
                              const struct bench_totals *before, uint64_t before_ns)
{
    static const struct bench_totals zero = {0};
    const struct bench_totals *from = last ? last : &zero;
    uint64_t from_ns = last_ns;
    size_t slot = r->n_samples;
    if (last && r->n_samples > 0 && end - last_ns < BENCH_SAMPLE_MS * 1000000u / 2) {
        slot = r->n_samples - 1; /* fold the short remainder into the last sample */
        from = before;
        from_ns = before_ns;
    }
    if (end <= from_ns || slot >= cap)
        return;
    double secs = (double)(end - from_ns) / 1e9;
    struct bench_sample s = {
        .t_ms = (end - e->t_measure_ns) / 1000000,
        .ops_per_sec = (double)(r->ops - from->ops) / secs,
        .mb_per_sec = (double)(r->bytes - from->bytes) / secs / 1e6,
        .errors = r->errors - from->errors,
    };
    uint64_t p50;
    bench_so_far(e, scratch, r->ops, &p50, &s.p99_ns);
    r->samples[slot] = s;
    if (slot == r->n_samples)
        r->n_samples++;
}

int bench_engine_run(struct bench_engine *e, struct bench_result *out)
{
    if (e->ran)
        return LT_EINVAL;
    e->ran = true;
    const struct bench_config *c = &e->cfg;
    struct bench_result r = {
        .workload = c->workload, .concurrency = c->concurrency, .rate = c->rate};
    int rc = 0;
    size_t cap = c->duration_ms / BENCH_SAMPLE_MS + 8;
    r.samples = calloc(cap, sizeof(*r.samples));
    r.hist = lt_hist_new();
    struct lt_hist *scratch = lt_hist_new();
    if (!r.samples || !r.hist || !scratch) {
        rc = LT_ENOMEM;
        goto out_free;
    }

    /* prefill: the keys reads will ask for */
    e->t_start_ns = lt_now_ns();
    if (c->key_space > 0) {
        rc = bench_start_threads(e, bench_prefill_main);
        if (rc)
            atomic_store(&e->stop, true);
        /* a large key space takes a while: say how far it got, at the sampling rate */
        uint64_t report = lt_now_ns() + BENCH_SAMPLE_MS * 1000000u;
        while (!rc && !atomic_load(&e->stop) && atomic_load(&e->prefill_ops) < c->key_space) {
            bench_wait(e, lt_now_ns() + 5000000u); /* its end is seen within 5 ms */
            if (e->cfg.progress && lt_now_ns() >= report) {
                report += BENCH_SAMPLE_MS * 1000000u;
                struct bench_progress p = {.phase = BENCH_PHASE_PREFILL,
                                           .prefill_done = atomic_load(&e->prefill_ops),
                                           .prefill_total = c->key_space};
                e->cfg.progress(e->cfg.progress_ud, &p);
            }
        }
        bench_join_threads(e);
        if (rc)
            goto out_free;
    }

    /* stopped during the prefill (or before the run): no measured part begins, so none is
     * reported (its result said "durationS": 0.0008 of a run that measured nothing, QA) */
    bool stopped = atomic_load(&e->stop);
    e->t_start_ns = lt_now_ns();
    uint64_t t_measure = e->t_start_ns + (uint64_t)c->warmup_ms * 1000000u;
    uint64_t t_end = t_measure + (uint64_t)c->duration_ms * 1000000u;
    e->t_measure_ns = t_measure;
    e->t_end_ns = t_end;
    atomic_store(&e->phase, stopped        ? BENCH_PHASE_DONE
                            : c->warmup_ms ? BENCH_PHASE_WARMUP
                                           : BENCH_PHASE_MEASURE);
    rc = stopped ? 0 : bench_start_threads(e, bench_worker_main);
    if (rc) {
        atomic_store(&e->phase, BENCH_PHASE_DONE);
        bench_join_threads(e);
        goto out_free;
    }
    uint64_t next_tick = e->t_start_ns + BENCH_SAMPLE_MS * 1000000u;
    struct bench_totals last = {0}, before = {0}; /* at the last sample, at the one before */
    uint64_t last_ns = t_measure, before_ns = t_measure;
    while (!atomic_load(&e->stop)) {
        uint64_t wake = next_tick < t_end ? next_tick : t_end;
        if (atomic_load(&e->phase) == BENCH_PHASE_WARMUP && t_measure < wake)
            wake = t_measure;
        bench_wait(e, wake);
        uint64_t now = lt_now_ns();
        if (atomic_load(&e->phase) == BENCH_PHASE_WARMUP && now >= t_measure) {
            atomic_store(&e->phase, BENCH_PHASE_MEASURE);
            last_ns = now;
        }
        if (now >= t_end || atomic_load(&e->stop))
            break;
        if (now < next_tick)
            continue;
        next_tick += BENCH_SAMPLE_MS * 1000000u;
        int phase = atomic_load(&e->phase);
        if (phase != BENCH_PHASE_MEASURE) {
            struct bench_totals zero = {0};
            bench_progress_report(e, (enum bench_phase)phase, &zero, 0, 0, 0, 0);
            continue;
        }
        if (now - last_ns < BENCH_SAMPLE_MS * 1000000u / 2) {
            /* the measure began at (or just before) this tick: too short an interval to
             * tell a rate (its sample said 0 ops/s at t = 0); the next sample covers it.
             * The progress says the phase, nothing measured yet, as in the warm-up. */
            struct bench_totals zero = {0};
            bench_progress_report(e, BENCH_PHASE_MEASURE, &zero, 0, 0, 0, 0);
            continue;
        }
        struct bench_totals t = bench_sum(e);
        double secs = (double)(now - last_ns) / 1e9;
        struct bench_sample s = {
            .t_ms = (now - t_measure) / 1000000,
            .ops_per_sec = secs > 0 ? (double)(t.ops - last.ops) / secs : 0,
            .mb_per_sec = secs > 0 ? (double)(t.bytes - last.bytes) / secs / 1e6 : 0,
            .errors = t.errors - last.errors,
        };
        uint64_t p50; /* merged once a tick, for the series and the progress alike */
        bench_so_far(e, scratch, t.ops, &p50, &s.p99_ns);
        if (r.n_samples == cap) {
            struct bench_sample *n = realloc(r.samples, 2 * cap * sizeof(*n));
            if (n) {
                r.samples = n;
                cap *= 2;
            }
        }
        if (r.n_samples < cap)
            r.samples[r.n_samples++] = s;
        before = last;
        before_ns = last_ns;
        last = t;
        last_ns = now;
        bench_progress_report(e, BENCH_PHASE_MEASURE, &t, s.ops_per_sec, s.mb_per_sec, p50,
                              s.p99_ns);
    }
    uint64_t t_stop = lt_now_ns();
    r.stopped_early = t_stop < t_end;
    int phase_at_stop = atomic_load(&e->phase);
    atomic_store(&e->phase, BENCH_PHASE_DONE);
    bench_join_threads(e);

    for (unsigned i = 0; i < c->concurrency; i++) {
        struct bench_worker *w = &e->w[i];
        lt_hist_merge(r.hist, w->hist);
        r.ops += bench_load(&w->ops);
        r.bytes += bench_load(&w->bytes);
        r.read_bytes += bench_load(&w->read_bytes);
        r.reads += bench_load(&w->reads);
        r.writes += bench_load(&w->writes);
        r.unsent += bench_load(&w->unsent);
        for (int k = 0; k < BENCH_CODES; k++) {
            uint64_t n = bench_load(&w->errors[k]);
            r.errors_by_code[k] += n;
            r.errors += n;
        }
    }
    r.prefill_ops = atomic_load(&e->prefill_ops);
    r.prefill_errors = atomic_load(&e->prefill_errors);
    if (phase_at_stop == BENCH_PHASE_MEASURE && t_stop > t_measure)
        r.duration_s = (double)((t_stop < t_end ? t_stop : t_end) - t_measure) / 1e9;
    if (r.duration_s > 0) {
        r.ops_per_sec = (double)r.ops / r.duration_s;
        r.mb_per_sec = (double)r.bytes / r.duration_s / 1e6;
    }
    r.write_bytes = r.bytes - r.read_bytes;
    if (r.duration_s > 0) {
        r.read_mb_per_sec = (double)r.read_bytes / r.duration_s / 1e6;
        r.write_mb_per_sec = (double)r.write_bytes / r.duration_s / 1e6;
    }
    lt_hist_summarize(r.hist, &r.latency);
    if (r.duration_s > 0)
        bench_last_sample(e, scratch, &r, cap, t_measure + (uint64_t)(r.duration_s * 1e9 + 0.5),
                          last_ns > t_measure ? &last : NULL, last_ns, &before, before_ns);
    if (c->progress) {
        struct bench_totals t = {.ops = r.ops, .bytes = r.bytes, .errors = r.errors};
        uint64_t p50, p99;
        bench_so_far(e, scratch, t.ops, &p50, &p99);
        bench_progress_report(e, BENCH_PHASE_DONE, &t, r.ops_per_sec, r.mb_per_sec, p50, p99);
    }
    lt_hist_free(scratch);
    *out = r;
    return 0;

out_free:
    lt_hist_free(scratch);
    lt_hist_free(r.hist);
    free(r.samples);
    return rc;
}

void bench_result_fini(struct bench_result *r)
{
    lt_hist_free(r->hist);
    free(r->samples);
    r->hist = NULL;
    r->samples = NULL;
    r->n_samples = 0;
}

/* ---- JSON ---- */

static int bench_json_add(json_object *o, const char *k, json_object *v)
{
    if (!v)
        return -1;
    if (json_object_object_add(o, k, v)) {
        json_object_put(v);
        return -1;
    }
    return 0;
}

static json_object *bench_json_us(uint64_t ns)
{
    return json_object_new_double((double)(ns / 100) / 10.0); /* 0.1 µs resolution */
}

json_object *bench_result_json(const struct bench_result *r)
{
    json_object *o = json_object_new_object(), *lat = json_object_new_object(),
                *errs = json_object_new_object(), *series = json_object_new_array(),
                *hist = json_object_new_array();
    int bad = !o || !lat || !errs || !series || !hist;
    if (bad)
        goto out_fail;
    bad |= bench_json_add(o, "workload", json_object_new_string(bench_workload_name(r->workload)));
    bad |= bench_json_add(o, "concurrency", json_object_new_int64(r->concurrency));
    bad |= bench_json_add(o, "rate", json_object_new_double(r->rate));
    bad |= bench_json_add(o, "ops", json_object_new_int64((int64_t)r->ops));
    bad |= bench_json_add(o, "errors", json_object_new_int64((int64_t)r->errors));
    bad |= bench_json_add(o, "reads", json_object_new_int64((int64_t)r->reads));
    bad |= bench_json_add(o, "writes", json_object_new_int64((int64_t)r->writes));
    bad |= bench_json_add(o, "bytes", json_object_new_int64((int64_t)r->bytes));
    bad |= bench_json_add(o, "prefillOps", json_object_new_int64((int64_t)r->prefill_ops));
    bad |= bench_json_add(o, "prefillErrors", json_object_new_int64((int64_t)r->prefill_errors));
    bad |= bench_json_add(o, "unsent", json_object_new_int64((int64_t)r->unsent));
    bad |= bench_json_add(o, "durationS", json_object_new_double(r->duration_s));
    bad |= bench_json_add(o, "opsPerSec", json_object_new_double(r->ops_per_sec));
    bad |= bench_json_add(o, "mbPerSec", json_object_new_double(r->mb_per_sec));
    bad |= bench_json_add(o, "readBytes", json_object_new_int64((int64_t)r->read_bytes));
    bad |= bench_json_add(o, "writeBytes", json_object_new_int64((int64_t)r->write_bytes));
    bad |= bench_json_add(o, "readMbPerSec", json_object_new_double(r->read_mb_per_sec));
    bad |= bench_json_add(o, "writeMbPerSec", json_object_new_double(r->write_mb_per_sec));
    bad |= bench_json_add(o, "stoppedEarly", json_object_new_boolean(r->stopped_early));
    for (int k = 0; k < BENCH_CODES; k++) {
        if (!r->errors_by_code[k])
            continue;
        char name[32];
        const char *n = k < BENCH_CODES - 1 ? wire_code_name(k) : "OTHER";
        size_t i = 0;
        for (; n[i] && i + 1 < sizeof(name); i++)
            name[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] - 'A' + 'a' : n[i]);
        name[i] = '\0';
        bad |= bench_json_add(errs, name, json_object_new_int64((int64_t)r->errors_by_code[k]));
    }
    const struct lt_hist_summary *l = &r->latency;
    bad |= bench_json_add(lat, "count", json_object_new_int64((int64_t)l->count));
    bad |= bench_json_add(lat, "min", bench_json_us(l->min_ns));
    bad |= bench_json_add(lat, "mean", json_object_new_double(l->mean_ns / 1000.0));
    bad |= bench_json_add(lat, "p50", bench_json_us(l->p50_ns));
    bad |= bench_json_add(lat, "p90", bench_json_us(l->p90_ns));
    bad |= bench_json_add(lat, "p95", bench_json_us(l->p95_ns));
    bad |= bench_json_add(lat, "p99", bench_json_us(l->p99_ns));
    bad |= bench_json_add(lat, "p999", bench_json_us(l->p999_ns));
    bad |= bench_json_add(lat, "max", bench_json_us(l->max_ns));
    for (size_t i = 0; i < r->n_samples && !bad; i++) {
        json_object *s = json_object_new_object();
        if (!s || json_object_array_add(series, s)) {
            json_object_put(s);
            bad = 1;
            break;
        }
        bad |= bench_json_add(s, "tMs", json_object_new_int64((int64_t)r->samples[i].t_ms));
        bad |= bench_json_add(s, "opsPerSec", json_object_new_double(r->samples[i].ops_per_sec));
        bad |= bench_json_add(s, "mbPerSec", json_object_new_double(r->samples[i].mb_per_sec));
        bad |= bench_json_add(s, "errors", json_object_new_int64((int64_t)r->samples[i].errors));
        bad |= bench_json_add(s, "p99Us", bench_json_us(r->samples[i].p99_ns));
    }
    size_t cur = 0;
    struct lt_hist_bucket b;
    while (r->hist && !bad && lt_hist_next(r->hist, &cur, &b)) {
        json_object *s = json_object_new_object();
        if (!s || json_object_array_add(hist, s)) {
            json_object_put(s);
            bad = 1;
            break;
        }
        bad |= bench_json_add(s, "leUs", bench_json_us(b.hi_ns + 1));
        bad |= bench_json_add(s, "count", json_object_new_int64((int64_t)b.count));
    }
    bad |= bench_json_add(o, "errorsByCode", errs);
    errs = NULL;
    bad |= bench_json_add(o, "latencyUs", lat);
    lat = NULL;
    bad |= bench_json_add(o, "series", series);
    series = NULL;
    bad |= bench_json_add(o, "histogram", hist);
    hist = NULL;
    if (!bad)
        return o;

out_fail:
    json_object_put(o);
    json_object_put(lat);
    json_object_put(errs);
    json_object_put(series);
    json_object_put(hist);
    return NULL;
}

/* ---- the RPC operation ---- */

int bench_rpc_init(struct bench_rpc *r, struct rpc_client *c, enum bench_rpc_target target,
                   uint64_t key_space)
{
    struct bench_rpc n = {.client = c,
                          .target = target,
                          .model = "items",
                          .timeout_ms = 5000,
                          .key_space = key_space};
    if (target == BENCH_RPC_ITEMS && key_space) {
        n.ids = calloc(key_space, sizeof(*n.ids));
        if (!n.ids)
            return LT_ENOMEM;
    }
    *r = n;
    return 0;
}

void bench_rpc_fini(struct bench_rpc *r)
{
    for (uint64_t i = 0; r->ids && i < r->key_space; i++)
        free(r->ids[i]);
    free(r->ids);
    r->ids = NULL;
}

static void bench_rpc_ping(struct bench_rpc *r, const struct bench_op *op,
                           struct bench_op_result *res)
{
    Lithair__V1__PingRequest req = LITHAIR__V1__PING_REQUEST__INIT;
    req.payload.data = (uint8_t *)op->payload;
    req.payload.len = op->payload_size;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;
    rpc_call(r->client, "Cluster/Ping", &req.base, &lithair__v1__ping_reply__descriptor,
             r->timeout_ms, &resp, &st);
    res->code = st.code;
    if (resp) {
        res->bytes = op->payload_size + ((Lithair__V1__PingReply *)resp)->payload.len;
        protobuf_c_message_free_unpacked(resp, NULL);
    }
}

static void bench_rpc_create(struct bench_rpc *r, const struct bench_op *op,
                             struct bench_op_result *res)
{
    char name[64];
    snprintf(name, sizeof(name), "bench-%u-%llu", op->worker, (unsigned long long)op->key);
    char *desc = malloc(op->payload_size + 1);
    if (!desc) {
        res->code = LITHAIR__V1__CODE__RESOURCE_EXHAUSTED;
        return;
    }
    memcpy(desc, op->payload, op->payload_size);
    desc[op->payload_size] = '\0';
    Lithair__V1__PlaygroundItem item = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
    item.name = name;
    item.description = desc;
    item.benchmark = 1;
    size_t len = lithair__v1__playground_item__get_packed_size(&item);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        free(desc);
        res->code = LITHAIR__V1__CODE__RESOURCE_EXHAUSTED;
        return;
    }
    lithair__v1__playground_item__pack(&item, buf);
    free(desc);
    Lithair__V1__CreateRequest req = LITHAIR__V1__CREATE_REQUEST__INIT;
    req.model = (char *)r->model;
    req.value.data = buf;
    req.value.len = len;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;
    rpc_call(r->client, "Models/Create", &req.base, &lithair__v1__record_reply__descriptor,
             r->timeout_ms, &resp, &st);
    free(buf);
    res->code = st.code;
    /* a refused write (no leader, a full queue, ...) wrote nothing: its bytes are no MB/s
     * (a run of refusals said "0.01 MB/s, 4.3 KiB written", QA) */
    res->bytes = st.code == 0 ? len : 0;
    if (!resp)
        return;
    Lithair__V1__RecordReply *rr = (Lithair__V1__RecordReply *)resp;
    if (r->ids && op->key < r->key_space && rr->record) {
        Lithair__V1__PlaygroundItem *got = lithair__v1__playground_item__unpack(
            NULL, rr->record->value.len, rr->record->value.data);
        if (got && got->id && *got->id) {
            free(r->ids[op->key]);
            r->ids[op->key] = strdup(got->id);
        }
        lithair__v1__playground_item__free_unpacked(got, NULL);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
}

static void bench_rpc_get(struct bench_rpc *r, const struct bench_op *op,
                          struct bench_op_result *res)
{
    Lithair__V1__GetRequest req = LITHAIR__V1__GET_REQUEST__INIT;
    req.model = (char *)r->model;
    const char *id = r->ids && op->key < r->key_space ? r->ids[op->key] : NULL;
    req.id = (char *)(id ? id : "missing");
    req.consistency = r->serializable ? LITHAIR__V1__CONSISTENCY__SERIALIZABLE
                                      : LITHAIR__V1__CONSISTENCY__LINEARIZABLE;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;
    rpc_call(r->client, "Models/Get", &req.base, &lithair__v1__record_reply__descriptor,
             r->timeout_ms, &resp, &st);
    res->code = st.code;
    if (!resp)
        return;
    Lithair__V1__RecordReply *rr = (Lithair__V1__RecordReply *)resp;
    res->bytes = rr->record ? rr->record->value.len : 0;
    protobuf_c_message_free_unpacked(resp, NULL);
}

void bench_rpc_op(void *ud, const struct bench_op *op, struct bench_op_result *res)
{
    struct bench_rpc *r = ud;
    if (r->target == BENCH_RPC_PING)
        bench_rpc_ping(r, op, res);
    else if (op->kind == BENCH_OP_WRITE)
        bench_rpc_create(r, op, res);
    else
        bench_rpc_get(r, op, res);
}
