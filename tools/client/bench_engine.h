/* bench_engine.h — the benchmark engine the gateway and `lithair-admin bench` share.
 *
 * It drives an abstract operation callback from `concurrency` worker threads (one
 * operation in flight per thread) for a warm-up and then a measured duration, and
 * measures completed operations, errors by status code, bytes (MB/s), latency (an
 * lt_hist per worker, merged by the reader: no lock on the hot path) and an ops/s series
 * sampled at 4 Hz, reported live through a progress callback.
 *
 *   - workloads: write, read, or mixed with a read percentage;
 *   - key space: before a workload that reads, `key_space` writes with keys
 *     0..key_space-1 are issued (phase PREFILL, not measured), and every read asks for a
 *     key in that range, so reads hit existing items; measured writes use new keys from
 *     key_space upwards;
 *   - closed loop (rate 0): each worker sends its next operation when the previous one
 *     completes; open loop (rate > 0 ops/s for the whole run): each worker follows a fixed
 *     schedule and latency is measured from the INTENDED send time, so a stall shows up
 *     as the latency of every operation it delayed (no coordinated omission). An
 *     operation belongs to the phase it was DUE in: a worker behind its schedule when the
 *     warm-up ends still sends the warm-up's dues (the measured ones wait behind them),
 *     but as warm-up, unmeasured; nothing due after the end is sent. The measured part is
 *     then exactly the operations due in the measured window: `ops` + `unsent`;
 *   - latency is recorded for every completed measured operation, errors included;
 *   - bench_engine_stop() ends the run early from any thread; the result then covers
 *     what was measured so far.
 *
 * bench_rpc_* at the end is the ready-made operation over rpc_client.h: Models/Create
 * (write) and Models/Get (read) of PlaygroundItems marked `benchmark`, or Cluster/Ping. */
#ifndef BENCH_ENGINE_H
#define BENCH_ENGINE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_hist.h"

struct rpc_client;

enum bench_workload { BENCH_WRITE, BENCH_READ, BENCH_MIXED };
enum bench_phase { BENCH_PHASE_PREFILL, BENCH_PHASE_WARMUP, BENCH_PHASE_MEASURE, BENCH_PHASE_DONE };
enum bench_kind { BENCH_OP_WRITE, BENCH_OP_READ };

#define BENCH_CODES       18 /* RPC status codes 0..16, and 17 for anything else */
#define BENCH_MAX_WORKERS 1024
#define BENCH_SAMPLE_MS   250
/* an item write's payload goes into its description, which holds at most 4096 bytes
 * (node/store/models.c): a larger one would only measure refusals */
#define BENCH_ITEM_PAYLOAD_MAX 4096

/* One operation to perform. `payload` is payload_size bytes the engine owns (read-only,
 * shared by all workers); `key` is described above. */
struct bench_op {
    unsigned worker;
    enum bench_phase phase;
    enum bench_kind kind;
    uint64_t key;
    uint64_t seq; /* per worker */
    const uint8_t *payload;
    size_t payload_size;
};

/* What the operation reports: its RPC status code (0 = OK) and the payload bytes it moved
 * (for MB/s; none for a refused write, which wrote nothing). */
struct bench_op_result {
    int code;
    uint64_t bytes;
};

/* The operation: called concurrently from every worker thread. It fills `res`; a code
 * other than 0 counts as an error of that code. */
typedef void (*bench_op_fn)(void *ud, const struct bench_op *op, struct bench_op_result *res);

/* A 4 Hz sample of the measured phase. */
struct bench_sample {
    uint64_t t_ms; /* since the measured phase began */
    double ops_per_sec;
    double mb_per_sec;
    uint64_t errors; /* in this interval */
    uint64_t p99_ns; /* of everything measured so far, as the live progress says */
};

/* Live progress, given to the progress callback every BENCH_SAMPLE_MS. */
struct bench_progress {
    enum bench_phase phase;
    uint64_t elapsed_ms; /* since the start of the warm-up */
    uint64_t ops;        /* measured so far */
    uint64_t errors;
    double ops_per_sec; /* over the last interval */
    double mb_per_sec;
    uint64_t p50_ns, p99_ns;              /* of everything measured so far */
    uint64_t prefill_done, prefill_total; /* prefill writes done (errors too) and to do */
};

typedef void (*bench_progress_fn)(void *ud, const struct bench_progress *p);

/* A zero field takes the default in brackets. */
struct bench_config {
    enum bench_workload workload;
    unsigned read_percent; /* mixed only: 0..100, taken as given (0 = no reads) */
    unsigned concurrency;  /* worker threads, at most BENCH_MAX_WORKERS [4] */
    unsigned duration_ms;  /* measured phase [10000] */
    unsigned warmup_ms;    /* [0] */
    size_t payload_size;   /* [256] */
    double rate;           /* open-loop ops/s for the whole run; 0 = closed loop */
    uint64_t key_space;    /* keys written before a reading workload [1000]; ignored for write */
    uint64_t seed;         /* for the read keys and the mixed choice [1] */
    bench_op_fn op;        /* required */
    void *op_ud;
    bench_progress_fn progress; /* may be NULL */
    void *progress_ud;
};

struct bench_result {
    enum bench_workload workload;
    unsigned concurrency;
    double rate;
    uint64_t ops;    /* completed measured operations, errors included (open loop: of those
                        due in the measured phase, whenever sent) */
    uint64_t errors; /* of which failed */
    uint64_t errors_by_code[BENCH_CODES];
    uint64_t reads, writes;
    uint64_t bytes;
    uint64_t read_bytes, write_bytes; /* of which moved by reads, by writes */
    uint64_t prefill_ops, prefill_errors;
    uint64_t unsent;   /* open loop: operations due in the measured phase never sent (the
                          run ended while their worker was behind): each is in `hist` with
                          the time it had waited, not in `ops` */
    double duration_s; /* of the measured phase, as it really lasted */
    double ops_per_sec;
    double mb_per_sec;
    double read_mb_per_sec, write_mb_per_sec; /* the same, by kind */
    bool stopped_early;
    struct lt_hist_summary latency;
    struct lt_hist *hist;         /* every measured latency (owned by the result) */
    struct bench_sample *samples; /* owned by the result */
    size_t n_samples;
};

struct bench_engine;

/* bench_engine_new checks `cfg` and makes an engine for one run. Returns 0 and *out,
 * LT_EINVAL (no op, concurrency or read_percent out of range, negative rate), LT_ENOMEM. */
int bench_engine_new(const struct bench_config *cfg, struct bench_engine **out);

/* bench_engine_run runs the benchmark in the calling thread (which also samples and calls
 * the progress callback) and fills *out (release with bench_result_fini). Once only per
 * engine. Returns 0, LT_ENOMEM, LT_EIO (a thread could not start), LT_EINVAL (run twice). */
int bench_engine_run(struct bench_engine *e, struct bench_result *out);

/* bench_engine_stop asks a running benchmark to finish now; safe from any thread,
 * including the callbacks. Not from a signal handler: it takes the engine's lock. */
void bench_engine_stop(struct bench_engine *e);

/* bench_engine_stop_async is bench_engine_stop for a signal handler: it only sets the stop
 * flag (a lock-free atomic store, async-signal-safe) and wakes nobody; the run notices
 * within one sampling tick (BENCH_SAMPLE_MS). */
void bench_engine_stop_async(struct bench_engine *e);

/* bench_engine_free frees an engine that is not running. NULL does nothing. */
void bench_engine_free(struct bench_engine *e);

/* bench_result_fini frees what a result owns. */
void bench_result_fini(struct bench_result *r);

/* bench_result_json describes a result for the UI and the CLI: counts, rates, latency in
 * microseconds, errors by code name, the series and the non-empty histogram buckets.
 * NULL if out of memory. */
json_object *bench_result_json(const struct bench_result *r);

/* bench_workload_parse: "write", "read", "mixed" → workload; -1 if none. */
int bench_workload_parse(const char *s);
const char *bench_workload_name(enum bench_workload w);

/* ---- the RPC operation ---- */

enum bench_rpc_target {
    BENCH_RPC_ITEMS, /* write: Models/Create of an item; read: Models/Get of a prefilled one */
    BENCH_RPC_PING,  /* both: Cluster/Ping carrying the payload */
};

/* State of the RPC operation; pass it as op_ud with bench_rpc_op. */
struct bench_rpc {
    struct rpc_client *client;
    enum bench_rpc_target target;
    const char *model;   /* ["items"] */
    unsigned timeout_ms; /* per call [5000] */
    int serializable;    /* reads: 1 = SERIALIZABLE (local), 0 = LINEARIZABLE */
    uint64_t key_space;  /* must equal the config's */
    char **ids;          /* key → the item id its prefill write created */
};

/* bench_rpc_init prepares `r` for a run with `key_space` keys. Returns 0 or LT_ENOMEM. */
int bench_rpc_init(struct bench_rpc *r, struct rpc_client *c, enum bench_rpc_target target,
                   uint64_t key_space);

/* bench_rpc_fini frees the key table. */
void bench_rpc_fini(struct bench_rpc *r);

/* bench_rpc_op is a bench_op_fn; ud is a struct bench_rpc. */
void bench_rpc_op(void *ud, const struct bench_op *op, struct bench_op_result *res);

#endif
