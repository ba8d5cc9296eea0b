/* gw_bench.c — /_playground/benchmark/...: one benchmark at a time, run by the shared
 * engine (tools/client/bench_engine.h) in a background thread over the RPC pool, with
 * its progress published 4 Hz as the SSE `benchmark` event (and once at the end).
 *
 * The status object (docs/API.md) is built under one mutex from the last progress
 * report and, once the run ended, the engine's result JSON.
 *
 * Not here: the engine (workers, histograms, series), the SSE hub. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_engine.h"
#include "gw.h"
#include "gw_bench.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_log.h"

/* A benchmark started over HTTP (by any editor) writes its read keys into the replicated
 * store first: bounded, so that it cannot fill the nodes' memory and disks. */
#define GW_BENCH_KEYS_MAX    100000
#define GW_BENCH_PREFILL_MAX (64.0 * 1048576.0)
#include "sse.h"
#include "wire.h"

enum gw_bench_state {
    GW_BENCH_IDLE,
    GW_BENCH_RUNNING,
    GW_BENCH_DONE,
    GW_BENCH_STOPPED,
    GW_BENCH_FAILED
};

static const char *const gw_bench_state_names[] = {"idle", "running", "done", "stopped", "failed"};

struct gw_bench {
    struct gw *g;
    pthread_mutex_t mu;
    pthread_cond_t ended;
    enum gw_bench_state state;
    bool thread_live; /* a thread to join */
    pthread_t thread;
    struct bench_engine *engine; /* while running */
    unsigned cleaning;           /* clean-ups under way: no run starts meanwhile */
    bool stop_requested;
    struct gw_bench_params params;
    struct bench_progress progress;
    bool have_progress;
    json_object *result; /* after a run */
    char error[256];
    /* the status's version: `seq` grows with every published change; `epoch` (this
     * gateway's start, ms) tells a restarted gateway's seq apart. A page that holds a newer
     * status than a reply or event it gets late ignores that one (a status read in flight
     * while the run ended must not bring "running" back). */
    uint64_t seq, epoch_ms;
};

static json_object *gw_bench_ms(uint64_t ns)
{
    return json_object_new_double((double)ns / 1e6);
}

/* gw_bench_double: a number as given, in at most 15 significant digits (json-c writes 17:
 * a duration of 0.1 read 0.10000000000000001) */
static json_object *gw_bench_double(double v)
{
    char text[32];
    snprintf(text, sizeof(text), "%.15g", v);
    return json_object_new_double_s(v, text);
}

static json_object *gw_bench_config_json(const struct gw_bench_params *p)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(bench_workload_name(p->workload)));
    json_object_object_add(o, "concurrency", json_object_new_int64(p->concurrency));
    json_object_object_add(o, "duration_secs", gw_bench_double(p->duration_secs));
    json_object_object_add(o, "payload_size", json_object_new_int64((int64_t)p->payload_size));
    json_object_object_add(o, "rate", gw_bench_double(p->rate));
    json_object_object_add(o, "read_ratio", gw_bench_double(p->read_ratio));
    json_object_object_add(o, "warmup_secs", gw_bench_double(p->warmup_secs));
    json_object_object_add(o, "key_space", json_object_new_int64((int64_t)p->key_space));
    json_object_object_add(
        o, "consistency",
        json_object_new_string(p->serializable ? "serializable" : "linearizable"));
    return o;
}

/* gw_bench_status_locked builds the status object. Caller holds b->mu. */
static json_object *gw_bench_status_locked(struct gw_bench *b, bool summary)
{
    static const char *phases[] = {"prefill", "warmup", "running", "done"};
    json_object *o = json_object_new_object();
    json_object_object_add(o, "state", json_object_new_string(gw_bench_state_names[b->state]));
    json_object_object_add(o, "seq", gw_json_u64(b->seq));
    json_object_object_add(o, "epoch", gw_json_u64(b->epoch_ms));
    json_object_object_add(o, "config",
                           b->state == GW_BENCH_IDLE ? json_object_new_null()
                                                     : gw_bench_config_json(&b->params));
    json_object *p = json_object_new_object();
    const struct bench_progress *pr = &b->progress;
    /* before the engine's first report, the phase its run begins with: a prefill only for
     * a workload that reads (a write run's 202 said "prefill", QA); "idle" before any run */
    const char *first = b->params.workload != BENCH_WRITE && b->params.key_space ? "prefill"
                        : b->params.warmup_secs > 0                              ? "warmup"
                                                                                 : "running";
    json_object_object_add(p, "phase",
                           json_object_new_string(b->state == GW_BENCH_IDLE      ? "idle"
                                                  : b->state != GW_BENCH_RUNNING ? "done"
                                                  : b->have_progress && (unsigned)pr->phase < 4
                                                      ? phases[pr->phase]
                                                      : first));
    json_object_object_add(p, "elapsedMs", json_object_new_int64((int64_t)pr->elapsed_ms));
    json_object_object_add(p, "ops", json_object_new_int64((int64_t)pr->ops));
    json_object_object_add(p, "errors", json_object_new_int64((int64_t)pr->errors));
    json_object_object_add(p, "opsPerSec", json_object_new_double(pr->ops_per_sec));
    json_object_object_add(p, "mbPerSec", json_object_new_double(pr->mb_per_sec));
    json_object_object_add(p, "p50Ms", gw_bench_ms(pr->p50_ns));
    json_object_object_add(p, "p99Ms", gw_bench_ms(pr->p99_ns));
    if (b->state == GW_BENCH_RUNNING && b->have_progress && pr->phase == BENCH_PHASE_PREFILL) {
        json_object_object_add(p, "prefillDone", gw_json_u64(pr->prefill_done));
        json_object_object_add(p, "prefillTotal", gw_json_u64(pr->prefill_total));
    }
    json_object_object_add(o, "progress", p);
    json_object *res = NULL;
    if (b->result && !summary) {
        res = json_object_get(b->result);
    } else if (b->result) { /* without the big series and histogram */
        res = json_object_new_object();
        json_object_object_foreach(b->result, key, val)
        {
            if (strcmp(key, "series") != 0 && strcmp(key, "histogram") != 0)
                json_object_object_add(res, key, json_object_get(val));
        }
    }
    json_object_object_add(o, "result", res);
    if (b->error[0])
        json_object_object_add(o, "error", json_object_new_string(b->error));
    return o;
}

static void gw_bench_publish_locked(struct gw_bench *b)
{
    b->seq++; /* a change: a status read before it is older */
    if (!b->g->sse)
        return;
    /* the series and histogram are big: the event carries the summary only */
    json_object *o = gw_bench_status_locked(b, true);
    sse_hub_publish(b->g->sse, SSE_STREAM_BENCHMARK, "benchmark",
                    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), NULL);
    json_object_put(o);
}

static void gw_bench_on_progress(void *ud, const struct bench_progress *p)
{
    struct gw_bench *b = ud;
    pthread_mutex_lock(&b->mu);
    b->progress = *p;
    b->have_progress = true;
    gw_bench_publish_locked(b);
    pthread_mutex_unlock(&b->mu);
}

static void *gw_bench_thread(void *arg)
{
    struct gw_bench *b = arg;
    struct gw_bench_params p = b->params;
    struct bench_rpc op;
    struct bench_result res;
    struct bench_engine *e = NULL;
    json_object *result = NULL;
    char err[256] = "";
    int rc = bench_rpc_init(&op, b->g->client, BENCH_RPC_ITEMS,
                            p.workload == BENCH_WRITE ? 0 : p.key_space);
    if (rc != 0) {
        snprintf(err, sizeof(err), "%s", lt_strerror(rc));
        goto out;
    }
    op.timeout_ms = b->g->cfg.rpc_timeout_ms;
    op.serializable = p.serializable;
    struct bench_config cfg = {
        .workload = p.workload,
        .read_percent = (unsigned)lround(p.read_ratio * 100),
        .concurrency = p.concurrency,
        .duration_ms = (unsigned)(p.duration_secs * 1000),
        .warmup_ms = (unsigned)(p.warmup_secs * 1000),
        .payload_size = p.payload_size,
        .rate = p.rate,
        .key_space = p.key_space,
        .seed = 1,
        .op = bench_rpc_op,
        .op_ud = &op,
        .progress = gw_bench_on_progress,
        .progress_ud = b,
    };
    if (cfg.duration_ms == 0)
        cfg.duration_ms = 1;
    if ((rc = bench_engine_new(&cfg, &e)) != 0) {
        snprintf(err, sizeof(err), "bad benchmark settings: %s", lt_strerror(rc));
        goto out_fini_op;
    }
    pthread_mutex_lock(&b->mu);
    b->engine = e;
    if (b->stop_requested)
        bench_engine_stop(e);
    pthread_mutex_unlock(&b->mu);
    rc = bench_engine_run(e, &res);
    pthread_mutex_lock(&b->mu);
    b->engine = NULL;
    pthread_mutex_unlock(&b->mu);
    bench_engine_free(e);
    if (rc != 0) {
        snprintf(err, sizeof(err), "benchmark failed: %s", lt_strerror(rc));
        goto out_fini_op;
    }
    result = bench_result_json(&res);
    bench_result_fini(&res);
out_fini_op:
    bench_rpc_fini(&op);
out:
    pthread_mutex_lock(&b->mu);
    json_object_put(b->result);
    b->result = result;
    snprintf(b->error, sizeof(b->error), "%s", err);
    b->state = err[0] ? GW_BENCH_FAILED : b->stop_requested ? GW_BENCH_STOPPED : GW_BENCH_DONE;
    gw_bench_publish_locked(b);
    pthread_cond_broadcast(&b->ended);
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* gw_bench_num reads a number field; answers 400 and returns -1 when it is not a number
 * in [min, max]. Absent or null keeps *out. */
static int gw_bench_num(struct gw_req *r, json_object *j, const char *key, double min, double max,
                        bool integer, double *out, char *err, size_t n)
{
    json_object *v;
    if (!json_object_object_get_ex(j, key, &v) || json_object_is_type(v, json_type_null))
        return 0;
    double x = json_object_get_double(v);
    bool num = json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
    if (!num || !isfinite(x) || x < min || x > max || (integer && floor(x) != x)) {
        /* %.15g: the bounds as written ("10000000"), not "1e+07" */
        snprintf(err, n, "bad field '%s': expected %s from %.15g to %.15g", key,
                 integer ? "an integer" : "a number", min, max);
        return -1;
    }
    *out = x;
    return 0;
}

/* gw_bench_set: the start request names `key` (null counts as not named). */
static bool gw_bench_set(json_object *j, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(j, key, &v) && !json_object_is_type(v, json_type_null);
}

int gw_bench_parse(json_object *j, struct gw_bench_params *p, char *err, size_t n)
{
    static const char *known[] = {"type",        "concurrency", "duration_secs", "payload_size",
                                  "rate",        "read_ratio",  "warmup_secs",   "key_space",
                                  "consistency", NULL};
    *p = (struct gw_bench_params){.workload = BENCH_WRITE,
                                  .concurrency = 16,
                                  .duration_secs = 10,
                                  .payload_size = 256,
                                  .read_ratio = 0.5,
                                  .warmup_secs = 0,
                                  .key_space = 1000};
    json_object_object_foreach(j, key, val)
    {
        (void)val;
        bool ok = false;
        for (const char **k = known; *k && !ok; k++)
            ok = strcmp(*k, key) == 0;
        if (!ok) {
            snprintf(err, n, "unknown field '%.60s'", key);
            return LT_EINVAL;
        }
    }
    json_object *v;
    if (json_object_object_get_ex(j, "type", &v) && !json_object_is_type(v, json_type_null)) {
        int w = json_object_is_type(v, json_type_string)
                    ? bench_workload_parse(json_object_get_string(v))
                    : -1;
        if (w < 0) {
            snprintf(err, n, "bad field 'type': expected write, read or mixed");
            return LT_EINVAL;
        }
        p->workload = (enum bench_workload)w;
    }
    if (json_object_object_get_ex(j, "consistency", &v) &&
        !json_object_is_type(v, json_type_null)) {
        const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
        if (strcmp(s, "serializable") == 0)
            p->serializable = true;
        else if (strcmp(s, "linearizable") != 0) {
            snprintf(err, n, "bad field 'consistency': expected linearizable or serializable");
            return LT_EINVAL;
        }
    }
    double c = p->concurrency, ps = (double)p->payload_size, ks = (double)p->key_space;
    if (gw_bench_num(NULL, j, "concurrency", 1, BENCH_MAX_WORKERS, true, &c, err, n) ||
        gw_bench_num(NULL, j, "duration_secs", 0.1, 3600, false, &p->duration_secs, err, n) ||
        gw_bench_num(NULL, j, "payload_size", 1, BENCH_ITEM_PAYLOAD_MAX, true, &ps, err, n) ||
        gw_bench_num(NULL, j, "rate", 0, 1e7, false, &p->rate, err, n) ||
        gw_bench_num(NULL, j, "read_ratio", 0, 1, false, &p->read_ratio, err, n) ||
        gw_bench_num(NULL, j, "warmup_secs", 0, 600, false, &p->warmup_secs, err, n) ||
        gw_bench_num(NULL, j, "key_space", 1, GW_BENCH_KEYS_MAX, true, &ks, err, n))
        return LT_EINVAL;
    /* a mixed run reads in whole percent: the config says the ratio that runs (0.004
     * asked for reads and ran none, while the echo said 0.004) */
    p->read_ratio = (double)lround(p->read_ratio * 100) / 100.0;
    p->concurrency = (unsigned)c;
    p->payload_size = (size_t)ps;
    p->key_space = (uint64_t)ks;
    /* Settings the run would ignore are refused, as lithair-admin bench refuses them: a
     * read share is a mixed run's; keys to prefill and a read consistency are for runs that
     * read (QA: a write run took all three and echoed them in its config). */
    const char *ignored = gw_bench_set(j, "read_ratio") && p->workload != BENCH_MIXED
                              ? "read_ratio' is for type mixed"
                          : gw_bench_set(j, "key_space") && p->workload == BENCH_WRITE
                              ? "key_space' is for type read or mixed"
                          : gw_bench_set(j, "consistency") && p->workload == BENCH_WRITE
                              ? "consistency' is for type read or mixed"
                              : NULL;
    if (ignored) {
        snprintf(err, n, "bad field '%s, not %s (the run would ignore it)", ignored,
                 bench_workload_name(p->workload));
        return LT_EINVAL;
    }
    if (p->workload != BENCH_WRITE && ks * ps > GW_BENCH_PREFILL_MAX) {
        snprintf(err, n,
                 "bad field 'key_space': %.0f keys of %.0f bytes would prefill %.0f MiB; at most "
                 "%u MiB (a smaller key_space or payload_size)",
                 ks, ps, ks * ps / 1048576.0, (unsigned)(GW_BENCH_PREFILL_MAX / 1048576));
        return LT_EINVAL;
    }
    return 0;
}

static int gw_bench_start(struct gw_req *r)
{
    struct gw_bench *b = r->gw->bench;
    json_object *j = NULL;
    if (gw_read_json(r, true, &j) < 0)
        return r->status;
    struct gw_bench_params p;
    char err[256];
    int rc = gw_bench_parse(j, &p, err, sizeof(err));
    json_object_put(j);
    if (rc != 0)
        return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "%s", err);
    pthread_mutex_lock(&b->mu);
    if (b->state == GW_BENCH_RUNNING) {
        pthread_mutex_unlock(&b->mu);
        return gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL,
                              "a benchmark is already running: stop it first");
    }
    if (b->cleaning) { /* the purge would delete what the run writes (its prefill: QA) */
        pthread_mutex_unlock(&b->mu);
        return gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL,
                              "the benchmark data are being cleaned up: start once the "
                              "clean-up has ended");
    }
    if (b->thread_live) {
        pthread_join(b->thread, NULL); /* it ended: state is not RUNNING */
        b->thread_live = false;
    }
    b->params = p;
    b->state = GW_BENCH_RUNNING;
    b->stop_requested = false;
    b->have_progress = false;
    memset(&b->progress, 0, sizeof(b->progress));
    json_object_put(b->result);
    b->result = NULL;
    b->error[0] = '\0';
    if (pthread_create(&b->thread, NULL, gw_bench_thread, b) != 0) {
        b->state = GW_BENCH_FAILED;
        snprintf(b->error, sizeof(b->error), "cannot start a thread");
        gw_bench_publish_locked(b);
        pthread_mutex_unlock(&b->mu);
        return gw_reply_error(r, 500, "INTERNAL", NULL, "cannot start the benchmark thread");
    }
    b->thread_live = true;
    gw_bench_publish_locked(b); /* first: the reply carries the new seq */
    json_object *o = gw_bench_status_locked(b, false);
    pthread_mutex_unlock(&b->mu);
    return gw_reply_json(r, 202, o, NULL);
}

static int gw_bench_status(struct gw_req *r)
{
    struct gw_bench *b = r->gw->bench;
    pthread_mutex_lock(&b->mu);
    json_object *o = gw_bench_status_locked(b, false);
    pthread_mutex_unlock(&b->mu);
    return gw_reply_json(r, 200, o, NULL);
}

/* gw_bench_stop_wait asks a running benchmark to stop and waits up to wait_ms for it. */
static void gw_bench_stop_wait(struct gw_bench *b, unsigned wait_ms)
{
    pthread_mutex_lock(&b->mu);
    if (b->state == GW_BENCH_RUNNING) {
        b->stop_requested = true;
        if (b->engine)
            bench_engine_stop(b->engine);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (b->state == GW_BENCH_RUNNING) {
            if (b->engine)
                bench_engine_stop(b->engine); /* it may have been made after the first stop */
            if (pthread_cond_timedwait(&b->ended, &b->mu, &ts) != 0)
                break;
        }
    }
    pthread_mutex_unlock(&b->mu);
}

static int gw_bench_stop(struct gw_req *r)
{
    struct gw_bench *b = r->gw->bench;
    gw_bench_stop_wait(b, 5000);
    return gw_bench_status(r);
}

static int gw_bench_cleanup(struct gw_req *r)
{
    struct gw_bench *b = r->gw->bench;
    pthread_mutex_lock(&b->mu);
    bool running = b->state == GW_BENCH_RUNNING;
    if (!running)
        b->cleaning++;
    pthread_mutex_unlock(&b->mu);
    if (running)
        return gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL,
                              "a benchmark is running: stop it before cleaning up");
    Lithair__V1__PurgeRequest req = LITHAIR__V1__PURGE_REQUEST__INIT;
    req.model = "items";
    Lithair__V1__PurgeReply *pr = NULL;
    struct rpc_status st;
    int rc =
        rpc_call(r->gw->client, "Models/Purge", &req.base, &lithair__v1__purge_reply__descriptor,
                 r->gw->cfg.rpc_timeout_ms * 4, (ProtobufCMessage **)&pr, &st);
    pthread_mutex_lock(&b->mu);
    b->cleaning--;
    pthread_mutex_unlock(&b->mu);
    if (rc != 0)
        return gw_reply_rpc_error(r, rc, &st, false);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "deleted", gw_json_u64(pr->deleted));
    protobuf_c_message_free_unpacked(&pr->base, NULL);
    return gw_reply_json(r, 200, o, NULL);
}

int gw_bench_register(struct gw *g)
{
    struct gw_bench *b = calloc(1, sizeof(*b));
    if (!b)
        return LT_ENOMEM;
    b->g = g;
    b->epoch_ms = lt_wall_ns() / 1000000u;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->ended, NULL);
    g->bench = b;
    int rc;
    if ((rc = gw_route_add(g, "POST", "/_playground/benchmark/start", gw_bench_start, NULL,
                           "benchmark_start")) ||
        (rc = gw_route_add(g, "GET", "/_playground/benchmark/status", gw_bench_status, NULL,
                           "benchmark_status")) ||
        (rc = gw_route_add(g, "POST", "/_playground/benchmark/stop", gw_bench_stop, NULL,
                           "benchmark_stop")) ||
        (rc = gw_route_add(g, "POST", "/_playground/benchmark/cleanup", gw_bench_cleanup, NULL,
                           "benchmark_cleanup")))
        return rc;
    return 0;
}

void gw_bench_free(struct gw *g)
{
    struct gw_bench *b = g->bench;
    if (!b)
        return;
    gw_bench_stop_wait(b, 60000);
    if (b->thread_live)
        pthread_join(b->thread, NULL);
    json_object_put(b->result);
    pthread_cond_destroy(&b->ended);
    pthread_mutex_destroy(&b->mu);
    free(b);
    g->bench = NULL;
}
