/* test_bench_engine.c — the benchmark engine (tools/client/bench_engine): closed and open
 * loop against a counting in-process operation (phases, key space, read ratio, errors by
 * code, samples, progress, coordinated-omission-free latency, early stop), then the RPC
 * operation through the real rpc_client against a fake NNG rep0 node on 127.0.0.1 that
 * answers Cluster/Ping and keeps items for Models/Create and Models/Get. */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_engine.h"
#include "cunit_main.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "rpc_client.h"
#include "testutil.h"
#include "wire.h"

/* ---- the counting operation ---- */

#define KEYS      100
#define WRITE_MAP (1u << 16)

struct counting_op {
    unsigned sleep_us;
    atomic_uint prefill_per_key[KEYS];
    atomic_uchar written[WRITE_MAP]; /* measured/warm-up write keys - KEYS */
    atomic_uint dup_writes, bad_read_keys, bad_prefill;
    atomic_uint warmup_ops, measured_ops, measured_not_found, measured_other, measured_writes;
};

static void sleep_us(unsigned us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void counting_op_fn(void *ud, const struct bench_op *op, struct bench_op_result *res)
{
    struct counting_op *c = ud;
    if (c->sleep_us)
        sleep_us(c->sleep_us);
    if (op->phase == BENCH_PHASE_PREFILL) {
        if (op->kind != BENCH_OP_WRITE || op->key >= KEYS)
            atomic_fetch_add(&c->bad_prefill, 1);
        else
            atomic_fetch_add(&c->prefill_per_key[op->key], 1);
        return;
    }
    if (op->kind == BENCH_OP_READ && op->key >= KEYS)
        atomic_fetch_add(&c->bad_read_keys, 1);
    if (op->kind == BENCH_OP_WRITE) {
        if (op->key < KEYS)
            atomic_fetch_add(&c->dup_writes, 1);
        else if (op->key - KEYS < WRITE_MAP && atomic_exchange(&c->written[op->key - KEYS], 1))
            atomic_fetch_add(&c->dup_writes, 1);
        res->bytes = op->payload_size;
    } else {
        res->bytes = 2 * op->payload_size; /* a read brings a record back: told apart */
    }
    if (op->phase == BENCH_PHASE_WARMUP) {
        atomic_fetch_add(&c->warmup_ops, 1);
        return;
    }
    if (op->phase != BENCH_PHASE_MEASURE)
        return;
    atomic_fetch_add(&c->measured_ops, 1);
    if (op->kind == BENCH_OP_WRITE)
        atomic_fetch_add(&c->measured_writes, 1);
    if (op->seq % 10 == 9) {
        res->code = LITHAIR__V1__CODE__NOT_FOUND;
        atomic_fetch_add(&c->measured_not_found, 1);
    } else if (op->seq % 50 == 7) {
        res->code = 99; /* not a status code: counted as "other" */
        atomic_fetch_add(&c->measured_other, 1);
    }
}

struct progress_log {
    pthread_mutex_t mu;
    int calls, measure_calls, done_calls;
    enum bench_phase last;
    struct bench_engine *stop_engine; /* stop once elapsed >= stop_after_ms */
    uint64_t stop_after_ms;
};

static void progress_fn(void *ud, const struct bench_progress *p)
{
    struct progress_log *l = ud;
    pthread_mutex_lock(&l->mu);
    l->calls++;
    if (p->phase == BENCH_PHASE_MEASURE)
        l->measure_calls++;
    if (p->phase == BENCH_PHASE_DONE)
        l->done_calls++;
    l->last = p->phase;
    pthread_mutex_unlock(&l->mu);
    if (l->stop_engine && p->elapsed_ms >= l->stop_after_ms)
        bench_engine_stop(l->stop_engine);
}

static void test_closed_loop_mixed(void)
{
    struct counting_op *op = calloc(1, sizeof(*op));
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    op->sleep_us = 200;
    struct progress_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct bench_config cfg = {.workload = BENCH_MIXED,
                               .read_percent = 70,
                               .concurrency = 4,
                               .duration_ms = 600,
                               .warmup_ms = 200,
                               .payload_size = 100,
                               .key_space = KEYS,
                               .seed = tu_seed("bench mixed"),
                               .op = counting_op_fn,
                               .op_ud = op,
                               .progress = progress_fn,
                               .progress_ud = &log};
    struct bench_engine *e = NULL;
    CU_ASSERT_EQUAL_FATAL(bench_engine_new(&cfg, &e), 0);
    struct bench_result r;
    uint64_t t0 = lt_now_ns();
    CU_ASSERT_EQUAL_FATAL(bench_engine_run(e, &r), 0);
    uint64_t ms = (lt_now_ns() - t0) / 1000000;
    CU_ASSERT(ms >= 800 && ms < 3000);

    /* prefill: every key once, nothing else */
    CU_ASSERT_EQUAL(r.prefill_ops, KEYS);
    CU_ASSERT_EQUAL(r.prefill_errors, 0);
    for (int k = 0; k < KEYS; k++)
        CU_ASSERT_EQUAL(atomic_load(&op->prefill_per_key[k]), 1);
    CU_ASSERT_EQUAL(atomic_load(&op->bad_prefill), 0);
    /* the bytes, split by kind (a write moves its 100-byte payload, a read 200 here) */
    CU_ASSERT_EQUAL(r.read_bytes + r.write_bytes, r.bytes);
    CU_ASSERT_EQUAL(r.read_bytes, r.reads * 200);
    CU_ASSERT_EQUAL(r.write_bytes, r.writes * 100);
    CU_ASSERT(r.read_mb_per_sec > r.write_mb_per_sec); /* 70% reads */
    /* reads hit the key space, writes use fresh keys */
    CU_ASSERT_EQUAL(atomic_load(&op->bad_read_keys), 0);
    CU_ASSERT_EQUAL(atomic_load(&op->dup_writes), 0);
    /* warm-up ran but is not counted; the result counts exactly the measured ops */
    CU_ASSERT(atomic_load(&op->warmup_ops) > 0);
    CU_ASSERT_EQUAL(r.ops, atomic_load(&op->measured_ops));
    CU_ASSERT(r.ops > 100);
    CU_ASSERT_EQUAL(r.reads + r.writes, r.ops);
    CU_ASSERT_EQUAL(r.writes, atomic_load(&op->measured_writes));
    double read_share = (double)r.reads / (double)r.ops;
    CU_ASSERT(read_share > 0.6 && read_share < 0.8);
    /* errors by code */
    CU_ASSERT_EQUAL(r.errors_by_code[LITHAIR__V1__CODE__NOT_FOUND],
                    atomic_load(&op->measured_not_found));
    CU_ASSERT_EQUAL(r.errors_by_code[BENCH_CODES - 1], atomic_load(&op->measured_other));
    CU_ASSERT_EQUAL(r.errors,
                    atomic_load(&op->measured_not_found) + atomic_load(&op->measured_other));
    CU_ASSERT_EQUAL(r.errors_by_code[0], 0);
    /* rates, bytes, latency */
    CU_ASSERT(r.duration_s > 0.55 && r.duration_s < 1.0);
    CU_ASSERT(r.ops_per_sec > 0.99 * (double)r.ops / r.duration_s &&
              r.ops_per_sec < 1.01 * (double)r.ops / r.duration_s);
    CU_ASSERT_EQUAL(r.bytes, r.writes * 100 + r.reads * 200);
    CU_ASSERT(r.mb_per_sec > 0);
    CU_ASSERT_EQUAL(r.latency.count, r.ops);
    CU_ASSERT(r.latency.p50_ns >= 200000 && r.latency.p50_ns < 100000000);
    CU_ASSERT(r.latency.p99_ns >= r.latency.p50_ns);
    CU_ASSERT_FALSE(r.stopped_early);
    /* samples and progress at 4 Hz */
    CU_ASSERT(r.n_samples >= 1 && r.n_samples <= 4);
    for (size_t i = 0; i < r.n_samples; i++) { /* each with the p99 so far: a page drawing the
                                                * series after a reload has the line too */
        CU_ASSERT(r.samples[i].ops_per_sec > 0);
        CU_ASSERT(r.samples[i].p99_ns > 0 && r.samples[i].p99_ns <= r.latency.max_ns);
    }
    CU_ASSERT(log.calls >= 3);
    CU_ASSERT(log.measure_calls >= 1);
    CU_ASSERT_EQUAL(log.done_calls, 1);
    CU_ASSERT_EQUAL(log.last, BENCH_PHASE_DONE);

    /* the JSON for the UI */
    json_object *j = bench_result_json(&r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    json_object *v, *x;
    CU_ASSERT_TRUE(json_object_object_get_ex(j, "ops", &v) &&
                   (uint64_t)json_object_get_int64(v) == r.ops);
    CU_ASSERT_TRUE(json_object_object_get_ex(j, "errorsByCode", &v) &&
                   json_object_object_get_ex(v, "not_found", &x) &&
                   (uint64_t)json_object_get_int64(x) == atomic_load(&op->measured_not_found));
    CU_ASSERT_TRUE(json_object_object_get_ex(j, "latencyUs", &v) &&
                   json_object_object_get_ex(v, "p99", &x) && json_object_get_double(x) >= 200);
    CU_ASSERT_TRUE(json_object_object_get_ex(j, "series", &v) &&
                   json_object_array_length(v) == r.n_samples);
    CU_ASSERT_TRUE(json_object_object_get_ex(j, "histogram", &v) &&
                   json_object_array_length(v) > 0);
    CU_ASSERT_TRUE(json_object_object_get_ex(j, "workload", &v) &&
                   strcmp(json_object_get_string(v), "mixed") == 0);
    json_object_put(j);

    /* an engine runs once */
    struct bench_result r2;
    CU_ASSERT_EQUAL(bench_engine_run(e, &r2), LT_EINVAL);
    bench_result_fini(&r);
    bench_engine_free(e);
    free(op);
}

static void *stop_after_500ms(void *arg)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 500000000};
    nanosleep(&ts, NULL);
    bench_engine_stop(arg);
    return NULL;
}

static void test_open_loop(void)
{
    /* under capacity: the rate is what was asked */
    struct counting_op *op = calloc(1, sizeof(*op));
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    op->sleep_us = 100;
    struct bench_config cfg = {.workload = BENCH_WRITE,
                               .concurrency = 2,
                               .duration_ms = 500,
                               .rate = 1000,
                               .op = counting_op_fn,
                               .op_ud = op};
    struct bench_engine *e;
    CU_ASSERT_EQUAL_FATAL(bench_engine_new(&cfg, &e), 0);
    struct bench_result r;
    CU_ASSERT_EQUAL_FATAL(bench_engine_run(e, &r), 0);
    CU_ASSERT(r.ops >= 400 && r.ops <= 600);
    /* the 500 due in the measured 500 ms, none after it: each sent, or unsent at the end */
    CU_ASSERT_EQUAL(r.ops + r.unsent, 500);
    CU_ASSERT_EQUAL(r.prefill_ops, 0); /* a write workload needs no keys */
    CU_ASSERT_EQUAL(r.reads, 0);
    CU_ASSERT(r.latency.p50_ns < 20000000);
    bench_result_fini(&r);
    bench_engine_free(e);

    /* over capacity (2 workers x 2 ms = 1000 ops/s asked for 2000 ops/s): latency is
     * measured from the intended send time, so the growing backlog shows */
    memset(op, 0, sizeof(*op));
    op->sleep_us = 2000;
    cfg.rate = 2000;
    CU_ASSERT_EQUAL_FATAL(bench_engine_new(&cfg, &e), 0);
    CU_ASSERT_EQUAL_FATAL(bench_engine_run(e, &r), 0);
    CU_ASSERT(r.ops > 100 && r.ops <= 700);
    CU_ASSERT(r.latency.p99_ns >= 100000000); /* >= 100 ms, though each op takes ~2 ms */
    CU_ASSERT(r.latency.min_ns < 20000000);
    /* ... and the operations still due when the run ended (the backlog: about half of the
     * 1000 asked for) are in the latencies too, not left out as if never scheduled */
    CU_ASSERT(r.unsent >= 100 && r.unsent <= 900);
    CU_ASSERT(r.ops + r.unsent <= 1100);
    bench_result_fini(&r);
    bench_engine_free(e);

    /* the same backlog when the run is stopped early: it is counted too (it was not) */
    memset(op, 0, sizeof(*op));
    op->sleep_us = 2000;
    cfg.duration_ms = 10000;
    CU_ASSERT_EQUAL_FATAL(bench_engine_new(&cfg, &e), 0);
    pthread_t stopper;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&stopper, NULL, stop_after_500ms, e), 0);
    CU_ASSERT_EQUAL_FATAL(bench_engine_run(e, &r), 0);
    pthread_join(stopper, NULL);
    CU_ASSERT_TRUE(r.stopped_early);
    CU_ASSERT(r.ops > 100 && r.ops <= 700);
    CU_ASSERT(r.unsent >= 100 && r.ops + r.unsent <= 1300);
    bench_result_fini(&r);
    bench_engine_free(e);
    free(op);
}

/* Open loop above capacity with a warm-up: an operation belongs to the phase it was due in
 * (its intended send time), not to the one it is sent in. The warm-up falls behind; what it
 * still owes when the measured phase begins is sent then (the load that was asked for, so
 * the measured operations wait behind it, as they would have), but as warm-up: not counted
 * in ops, not in the latencies. The measured part is exactly the operations due in the
 * measured window: each completed (ops) or still unsent at the end (unsent). The warm-up's
 * backlog was counted as measured, with latencies from send times inside the warm-up (QA). */
static void test_open_loop_warmup_backlog(void)
{
    struct counting_op *op = calloc(1, sizeof(*op));
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    op->sleep_us = 8000; /* 2 workers x 8 ms: 250 ops/s at most, asked for 400 */
    struct bench_config cfg = {.workload = BENCH_WRITE,
                               .concurrency = 2,
                               .warmup_ms = 300,
                               .duration_ms = 600,
                               .rate = 400,
                               .op = counting_op_fn,
                               .op_ud = op};
    struct bench_engine *e;
    CU_ASSERT_EQUAL_FATAL(bench_engine_new(&cfg, &e), 0);
    struct bench_result r;
    CU_ASSERT_EQUAL_FATAL(bench_engine_run(e, &r), 0);
    CU_ASSERT_FALSE(r.stopped_early);
    /* each worker is due every 5 ms: 2 x 60 in the warm-up, 2 x 120 in the measured 600 ms
     * (the schedule is exact: worker 1 is offset by half an interval) */
    CU_ASSERT_EQUAL(r.ops + r.unsent, 240);
    CU_ASSERT_EQUAL(r.latency.count, r.ops + r.unsent);
    /* the warm-up's 120 were all sent (the backlog needs ~480 ms of the 900), as warm-up;
     * only about 75 of them within the warm-up */
    CU_ASSERT_EQUAL(atomic_load(&op->warmup_ops), 120);
    CU_ASSERT_EQUAL(r.ops, atomic_load(&op->measured_ops));
    /* about 105 measured ones completed: the capacity the backlog left */
    CU_ASSERT(r.ops > 20 && r.ops < 150);
    CU_ASSERT(r.ops_per_sec > 0.99 * (double)r.ops / r.duration_s &&
              r.ops_per_sec < 1.01 * (double)r.ops / r.duration_s);
    bench_result_fini(&r);
    bench_engine_free(e);
    free(op);
}

/* Open loop far behind its schedule: the operations still due at the end are counted
 * in bulk, by histogram bucket. One by one, a rate of 10^7/s met by a few thousand ops/s
 * took the end of a run 2 s per 10 s run (and the warmup's dues were walked too), an
 * hour's run minutes; asked here at 10^9/s per worker, seconds. */
static void test_open_loop_far_behind(void)
{
    struct counting_op *op = calloc(1, sizeof(*op));
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    op->sleep_us = 1000;
    struct bench_config cfg = {.workload = BENCH_WRITE,
                               .concurrency = 1,
                               .warmup_ms = 200,
                               .duration_ms = 500,
                               .rate = 1e12, /* one due per nanosecond */
                               .op = counting_op_fn,
                               .op_ud = op};
    struct bench_engine *e;
    CU_ASSERT_EQUAL_FATAL(bench_engine_new(&cfg, &e), 0);
    struct bench_result r;
    uint64_t t0 = lt_now_ns();
    CU_ASSERT_EQUAL_FATAL(bench_engine_run(e, &r), 0);
    uint64_t took_ms = (lt_now_ns() - t0) / 1000000;
    CU_ASSERT(took_ms < 200 + 500 + 1000);
    /* the measured phase's dues, 5 * 10^8, every one counted once; the warmup's not. The
     * warmup's own 2 * 10^8 dues keep the worker busy the whole measured phase: what it sent
     * then were warmup operations, so no measured one completed (they were counted) */
    CU_ASSERT_EQUAL(r.unsent, 500000000);
    CU_ASSERT_EQUAL(r.ops, 0);
    CU_ASSERT(atomic_load(&op->warmup_ops) > 100 && atomic_load(&op->measured_ops) == 0);
    CU_ASSERT_EQUAL(r.latency.count, r.ops + r.unsent);
    /* their waits spread evenly from about 0 to the 500 ms of the run */
    CU_ASSERT(r.latency.max_ns >= 450000000 && r.latency.max_ns < 1500000000);
    CU_ASSERT(r.latency.p50_ns >= 200000000 && r.latency.p50_ns <= 500000000);
    CU_ASSERT(r.latency.mean_ns >= 2e8 && r.latency.mean_ns <= 5e8);
    bench_result_fini(&r);
    bench_engine_free(e);
    free(op);
}

/* A mixed workload asked for 0% reads writes only (0 is not "the default"). */
static void test_mixed_no_reads(void)
{
    struct counting_op *op = calloc(1, sizeof(*op));
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    struct bench_config cfg = {.workload = BENCH_MIXED,
                               .read_percent = 0,
                               .concurrency = 2,
                               .duration_ms = 200,
                               .payload_size = 10,
                               .key_space = KEYS,
                               .op = counting_op_fn,
                               .op_ud = op};
    struct bench_engine *e;
    CU_ASSERT_EQUAL_FATAL(bench_engine_new(&cfg, &e), 0);
    struct bench_result r;
    CU_ASSERT_EQUAL_FATAL(bench_engine_run(e, &r), 0);
    CU_ASSERT(r.writes > 0);
    CU_ASSERT_EQUAL(r.reads, 0);
    bench_result_fini(&r);
    bench_engine_free(e);
    free(op);
}

static void test_stop_early(void)
{
    struct counting_op *op = calloc(1, sizeof(*op));
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    op->sleep_us = 500;
    struct progress_log log = {.mu = PTHREAD_MUTEX_INITIALIZER, .stop_after_ms = 300};
    struct bench_config cfg = {.workload = BENCH_READ,
                               .concurrency = 3,
                               .duration_ms = 20000,
                               .key_space = KEYS,
                               .op = counting_op_fn,
                               .op_ud = op,
                               .progress = progress_fn,
                               .progress_ud = &log};
    struct bench_engine *e;
    CU_ASSERT_EQUAL_FATAL(bench_engine_new(&cfg, &e), 0);
    log.stop_engine = e;
    struct bench_result r;
    uint64_t t0 = lt_now_ns();
    CU_ASSERT_EQUAL_FATAL(bench_engine_run(e, &r), 0);
    uint64_t ms = (lt_now_ns() - t0) / 1000000;
    CU_ASSERT(ms < 3000);
    CU_ASSERT_TRUE(r.stopped_early);
    CU_ASSERT(r.ops > 0);
    CU_ASSERT_EQUAL(r.ops, atomic_load(&op->measured_ops));
    CU_ASSERT_EQUAL(r.writes, 0);
    CU_ASSERT(r.duration_s > 0.2 && r.duration_s < 2.0);
    CU_ASSERT(r.n_samples >= 1);
    bench_result_fini(&r);
    bench_engine_free(e);

    /* stopped before it ran: an empty result at once */
    CU_ASSERT_EQUAL_FATAL(bench_engine_new(&cfg, &e), 0);
    bench_engine_stop(e);
    t0 = lt_now_ns();
    CU_ASSERT_EQUAL_FATAL(bench_engine_run(e, &r), 0);
    CU_ASSERT((lt_now_ns() - t0) / 1000000 < 1000);
    CU_ASSERT_EQUAL(r.ops, 0);
    CU_ASSERT_TRUE(r.stopped_early);
    CU_ASSERT(r.duration_s == 0); /* nothing measured: no measured time either */
    CU_ASSERT_EQUAL(r.n_samples, 0);
    bench_result_fini(&r);
    bench_engine_free(e);
    free(op);
}

static void test_config(void)
{
    struct counting_op *op = calloc(1, sizeof(*op));
    struct bench_engine *e = (struct bench_engine *)0x1;
    struct bench_config cfg = {.op = counting_op_fn, .op_ud = op};
    struct bench_config bad = cfg;
    bad.op = NULL;
    CU_ASSERT_EQUAL(bench_engine_new(&bad, &e), LT_EINVAL);
    bad = cfg;
    bad.concurrency = BENCH_MAX_WORKERS + 1;
    CU_ASSERT_EQUAL(bench_engine_new(&bad, &e), LT_EINVAL);
    bad = cfg;
    bad.read_percent = 101;
    CU_ASSERT_EQUAL(bench_engine_new(&bad, &e), LT_EINVAL);
    bad = cfg;
    bad.rate = -5;
    CU_ASSERT_EQUAL(bench_engine_new(&bad, &e), LT_EINVAL);
    CU_ASSERT_EQUAL(bench_engine_new(NULL, &e), LT_EINVAL);
    CU_ASSERT_PTR_EQUAL(e, (struct bench_engine *)0x1);
    CU_ASSERT_EQUAL(bench_workload_parse("Mixed"), BENCH_MIXED);
    CU_ASSERT_EQUAL(bench_workload_parse("write"), BENCH_WRITE);
    CU_ASSERT_EQUAL(bench_workload_parse("nope"), -1);
    CU_ASSERT_STRING_EQUAL(bench_workload_name(BENCH_READ), "read");
    bench_engine_free(NULL);
    free(op);
}

/* ---- a fake node for the RPC operation ---- */

struct fake_node {
    nng_socket sock;
    char url[64];
    atomic_bool stop;
    pthread_t thread;
    char **ids; /* items created; touched by the server thread only */
    size_t n_ids, cap_ids;
    atomic_uint creates, gets, pings, misses;
    bool refuse_creates; /* answer every create UNAVAILABLE (no leader) */
};

static void fake_reply(struct fake_node *f, Lithair__V1__Response *r)
{
    nng_msg *m;
    size_t len = lithair__v1__response__get_packed_size(r);
    if (nng_msg_alloc(&m, len) != 0)
        return;
    lithair__v1__response__pack(r, nng_msg_body(m));
    if (nng_sendmsg(f->sock, m, 0) != 0)
        nng_msg_free(m);
}

static void fake_record_reply(struct fake_node *f, Lithair__V1__Response *r,
                              Lithair__V1__PlaygroundItem *it)
{
    size_t ilen = lithair__v1__playground_item__get_packed_size(it);
    uint8_t *ibuf = malloc(ilen + 1);
    lithair__v1__playground_item__pack(it, ibuf);
    Lithair__V1__Record rec = LITHAIR__V1__RECORD__INIT;
    rec.value.data = ibuf;
    rec.value.len = ilen;
    rec.raft_index = f->n_ids;
    rec.raft_term = 1;
    Lithair__V1__RecordReply rr = LITHAIR__V1__RECORD_REPLY__INIT;
    rr.record = &rec;
    size_t len = lithair__v1__record_reply__get_packed_size(&rr);
    uint8_t *buf = malloc(len + 1);
    lithair__v1__record_reply__pack(&rr, buf);
    r->payload.data = buf;
    r->payload.len = len;
    fake_reply(f, r);
    free(buf);
    free(ibuf);
}

static void fake_serve(struct fake_node *f, const Lithair__V1__Request *req)
{
    Lithair__V1__Response r = LITHAIR__V1__RESPONSE__INIT;
    r.id = req->id;
    if (strcmp(req->method, "Cluster/Ping") == 0) {
        atomic_fetch_add(&f->pings, 1);
        Lithair__V1__PingRequest *in =
            lithair__v1__ping_request__unpack(NULL, req->payload.len, req->payload.data);
        Lithair__V1__PingReply out = LITHAIR__V1__PING_REPLY__INIT;
        if (in)
            out.payload = in->payload;
        size_t len = lithair__v1__ping_reply__get_packed_size(&out);
        uint8_t *buf = malloc(len + 1);
        lithair__v1__ping_reply__pack(&out, buf);
        r.payload.data = buf;
        r.payload.len = len;
        fake_reply(f, &r);
        free(buf);
        lithair__v1__ping_request__free_unpacked(in, NULL);
        return;
    }
    if (strcmp(req->method, "Models/Create") == 0) {
        atomic_fetch_add(&f->creates, 1);
        Lithair__V1__CreateRequest *in =
            lithair__v1__create_request__unpack(NULL, req->payload.len, req->payload.data);
        Lithair__V1__PlaygroundItem *it =
            in ? lithair__v1__playground_item__unpack(NULL, in->value.len, in->value.data) : NULL;
        if (!it || strcmp(in->model, "items") != 0 || !it->benchmark) {
            r.code = LITHAIR__V1__CODE__INVALID_ARGUMENT;
            fake_reply(f, &r);
        } else if (f->refuse_creates) {
            r.code = LITHAIR__V1__CODE__UNAVAILABLE;
            fake_reply(f, &r);
        } else {
            char id[32];
            snprintf(id, sizeof(id), "it-%zu", f->n_ids);
            if (f->n_ids == f->cap_ids) {
                f->cap_ids = f->cap_ids ? 2 * f->cap_ids : 64;
                f->ids = realloc(f->ids, f->cap_ids * sizeof(*f->ids));
            }
            f->ids[f->n_ids++] = strdup(id);
            char *old = it->id;
            it->id = id;
            it->version = 1;
            fake_record_reply(f, &r, it);
            it->id = old;
        }
        lithair__v1__playground_item__free_unpacked(it, NULL);
        lithair__v1__create_request__free_unpacked(in, NULL);
        return;
    }
    if (strcmp(req->method, "Models/Get") == 0) {
        atomic_fetch_add(&f->gets, 1);
        Lithair__V1__GetRequest *in =
            lithair__v1__get_request__unpack(NULL, req->payload.len, req->payload.data);
        bool found = false;
        for (size_t i = 0; in && i < f->n_ids && !found; i++)
            found = strcmp(f->ids[i], in->id) == 0;
        if (found) {
            Lithair__V1__PlaygroundItem it = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
            it.id = in->id;
            it.name = "x";
            it.benchmark = 1;
            fake_record_reply(f, &r, &it);
        } else {
            atomic_fetch_add(&f->misses, 1);
            r.code = LITHAIR__V1__CODE__NOT_FOUND;
            fake_reply(f, &r);
        }
        lithair__v1__get_request__free_unpacked(in, NULL);
        return;
    }
    r.code = LITHAIR__V1__CODE__UNIMPLEMENTED;
    fake_reply(f, &r);
}

static void *fake_main(void *arg)
{
    struct fake_node *f = arg;
    while (!atomic_load(&f->stop)) {
        nng_msg *m;
        int rv = nng_recvmsg(f->sock, &m, 0);
        if (rv == NNG_ETIMEDOUT)
            continue;
        if (rv != 0)
            break;
        Lithair__V1__Request *req =
            lithair__v1__request__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
        nng_msg_free(m);
        if (req)
            fake_serve(f, req);
        lithair__v1__request__free_unpacked(req, NULL);
    }
    return NULL;
}

static struct fake_node *fake_start(void)
{
    struct fake_node *f = calloc(1, sizeof(*f));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL_FATAL(nng_rep0_open(&f->sock), 0);
    nng_socket_set_ms(f->sock, NNG_OPT_RECVTIMEO, 20);
    int rv = -1;
    for (int tries = 0; tries < 20 && rv != 0; tries++) {
        snprintf(f->url, sizeof(f->url), "tcp://127.0.0.1:%d", tu_free_port());
        rv = nng_listen(f->sock, f->url, NULL, 0);
    }
    CU_ASSERT_EQUAL_FATAL(rv, 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&f->thread, NULL, fake_main, f), 0);
    return f;
}

static void fake_stop(struct fake_node *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    nng_close(f->sock);
    for (size_t i = 0; i < f->n_ids; i++)
        free(f->ids[i]);
    free(f->ids);
    free(f);
}

/* rpc_write_run runs a closed-loop write benchmark of `target` RPCs against fake node `f`
 * (timeout_ms 0: the client's default) into *r. */
static void rpc_write_run(struct fake_node *f, enum bench_rpc_target target, unsigned timeout_ms,
                          unsigned concurrency, unsigned duration_ms, size_t payload,
                          struct bench_result *r)
{
    struct rpc_client *c;
    CU_ASSERT_EQUAL_FATAL(rpc_client_new(f->url, NULL, &c), 0);
    struct bench_rpc op;
    CU_ASSERT_EQUAL_FATAL(bench_rpc_init(&op, c, target, 0), 0);
    if (timeout_ms)
        op.timeout_ms = timeout_ms;
    struct bench_config cfg = {.workload = BENCH_WRITE,
                               .concurrency = concurrency,
                               .duration_ms = duration_ms,
                               .payload_size = payload,
                               .op = bench_rpc_op,
                               .op_ud = &op};
    struct bench_engine *e;
    CU_ASSERT_EQUAL_FATAL(bench_engine_new(&cfg, &e), 0);
    CU_ASSERT_EQUAL_FATAL(bench_engine_run(e, r), 0);
    bench_engine_free(e);
    bench_rpc_fini(&op);
    rpc_client_free(c);
}

static void test_rpc_ping(void)
{
    struct fake_node *f = fake_start();
    struct bench_result r;
    rpc_write_run(f, BENCH_RPC_PING, 0, 4, 400, 64, &r);
    CU_ASSERT(r.ops > 50);
    CU_ASSERT_EQUAL(r.errors, 0);
    CU_ASSERT_EQUAL(r.bytes, r.ops * 128); /* 64 out, 64 back */
    CU_ASSERT(r.mb_per_sec > 0);
    CU_ASSERT(atomic_load(&f->pings) >= r.ops);
    CU_ASSERT(r.latency.p50_ns > 0);
    bench_result_fini(&r);
    fake_stop(f);
}

static void test_rpc_items_mixed(void)
{
    struct fake_node *f = fake_start();
    struct rpc_client *c;
    CU_ASSERT_EQUAL_FATAL(rpc_client_new(f->url, NULL, &c), 0);
    enum { KS = 50 };
    struct bench_rpc op;
    CU_ASSERT_EQUAL_FATAL(bench_rpc_init(&op, c, BENCH_RPC_ITEMS, KS), 0);
    struct bench_config cfg = {.workload = BENCH_MIXED,
                               .read_percent = 50,
                               .concurrency = 4,
                               .duration_ms = 400,
                               .warmup_ms = 100,
                               .payload_size = 200,
                               .key_space = KS,
                               .op = bench_rpc_op,
                               .op_ud = &op};
    struct bench_engine *e;
    CU_ASSERT_EQUAL_FATAL(bench_engine_new(&cfg, &e), 0);
    struct bench_result r;
    CU_ASSERT_EQUAL_FATAL(bench_engine_run(e, &r), 0);
    CU_ASSERT_EQUAL(r.prefill_ops, KS);
    CU_ASSERT_EQUAL(r.prefill_errors, 0);
    for (int k = 0; k < KS; k++)
        CU_ASSERT_PTR_NOT_NULL(op.ids[k]);
    CU_ASSERT(r.reads > 10 && r.writes > 10);
    CU_ASSERT_EQUAL(r.errors, 0); /* every read asked for an item that exists */
    CU_ASSERT_EQUAL(atomic_load(&f->misses), 0);
    CU_ASSERT(atomic_load(&f->creates) >= KS + r.writes);
    CU_ASSERT(r.bytes > r.writes * 200);
    bench_result_fini(&r);
    bench_engine_free(e);
    bench_rpc_fini(&op);
    rpc_client_free(c);
    fake_stop(f);
}

/* Writes the cluster refuses (no leader) wrote nothing: they are errors, and their bytes
 * count in no MB/s (a run of refusals reported "0.01 MB/s, 4.3 KiB written"). */
static void test_rpc_refused_writes(void)
{
    struct fake_node *f = fake_start();
    f->refuse_creates = true; /* before the client sends anything */
    struct bench_result r;
    rpc_write_run(f, BENCH_RPC_ITEMS, 200, 2, 300, 100, &r);
    CU_ASSERT(r.ops > 0);
    CU_ASSERT_EQUAL(r.errors, r.ops);
    CU_ASSERT_EQUAL(r.errors_by_code[LITHAIR__V1__CODE__UNAVAILABLE], r.ops);
    CU_ASSERT_EQUAL(r.bytes, 0);
    CU_ASSERT_EQUAL(r.write_bytes, 0);
    CU_ASSERT(r.mb_per_sec == 0 && r.write_mb_per_sec == 0);
    bench_result_fini(&r);
    fake_stop(f);
}

/* The series covers the whole measured run, interval by interval: each sample's rate is of
 * the time since the previous one (or since the measured phase began), none of an empty
 * interval, and together they count every measured operation. A warm-up of whole sampling
 * ticks made the first sample the instant the measure began ("0 ops/s" at t = 0), and the
 * interval that ended the run was never sampled (a 1 s run: 25% of its operations missing
 * from the series). Also when the run is stopped early, between two ticks. */
static void check_series_covers(const struct bench_result *r)
{
    CU_ASSERT_FATAL(r->n_samples >= 1);
    double counted = 0;
    uint64_t prev = 0;
    for (size_t i = 0; i < r->n_samples; i++) {
        const struct bench_sample *s = &r->samples[i];
        CU_ASSERT(s->t_ms > prev);
        CU_ASSERT(s->ops_per_sec > 0);
        counted += s->ops_per_sec * (double)(s->t_ms - prev) / 1000.0;
        prev = s->t_ms;
    }
    /* t_ms is whole milliseconds: a little rounding per sample */
    CU_ASSERT(counted > 0.97 * (double)r->ops && counted < 1.03 * (double)r->ops);
    CU_ASSERT((double)prev >= r->duration_s * 1000.0 - 1.0 &&
              (double)prev <= r->duration_s * 1000.0 + 1.0);
}

static void test_series_covers_the_run(void)
{
    struct counting_op *op = calloc(1, sizeof(*op));
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    op->sleep_us = 300;
    struct progress_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct bench_config cfg = {.workload = BENCH_WRITE,
                               .concurrency = 2,
                               .duration_ms = 1000,
                               .warmup_ms = 2 * BENCH_SAMPLE_MS,
                               .payload_size = 10,
                               .op = counting_op_fn,
                               .op_ud = op,
                               .progress = progress_fn,
                               .progress_ud = &log};
    struct bench_engine *e = NULL;
    CU_ASSERT_EQUAL_FATAL(bench_engine_new(&cfg, &e), 0);
    struct bench_result r;
    CU_ASSERT_EQUAL_FATAL(bench_engine_run(e, &r), 0);
    CU_ASSERT_FALSE(r.stopped_early);
    CU_ASSERT(r.ops > 100);
    check_series_covers(&r);
    bench_result_fini(&r);
    bench_engine_free(e);

    /* stopped between two ticks */
    memset(op, 0, sizeof(*op));
    op->sleep_us = 300;
    log.stop_after_ms = 3 * BENCH_SAMPLE_MS;
    cfg.duration_ms = 20000;
    cfg.warmup_ms = 0;
    CU_ASSERT_EQUAL_FATAL(bench_engine_new(&cfg, &e), 0);
    log.stop_engine = e;
    CU_ASSERT_EQUAL_FATAL(bench_engine_run(e, &r), 0);
    CU_ASSERT_TRUE(r.stopped_early);
    check_series_covers(&r);
    bench_result_fini(&r);
    bench_engine_free(e);
    free(op);
}

static const struct lt_test bench_tests[] = {
    {"closed_loop_mixed", test_closed_loop_mixed},
    {"open_loop", test_open_loop},
    {"open_loop_far_behind", test_open_loop_far_behind},
    {"open_loop_warmup_backlog", test_open_loop_warmup_backlog},
    {"mixed_no_reads", test_mixed_no_reads},
    {"stop_early", test_stop_early},
    {"series_covers_the_run", test_series_covers_the_run},
    {"config", test_config},
    {"rpc_ping", test_rpc_ping},
    {"rpc_items_mixed", test_rpc_items_mixed},
    {"rpc_refused_writes", test_rpc_refused_writes},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"bench_engine", NULL, NULL, bench_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
