/* gw_bench.h — the benchmark endpoints' request parsing, exposed for unit tests. */
#ifndef GW_BENCH_H
#define GW_BENCH_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_engine.h"

/* The body of POST /_playground/benchmark/start (docs/API.md), with defaults applied. */
struct gw_bench_params {
    enum bench_workload workload; /* type [write] */
    unsigned concurrency;         /* 1..BENCH_MAX_WORKERS [16] */
    double duration_secs;         /* 0.1..3600 [10] */
    size_t payload_size;          /* 1..BENCH_ITEM_PAYLOAD_MAX (4096) [256] */
    double rate;                  /* ops/s, 0..1e7, 0 = closed loop [0] */
    double read_ratio;            /* 0..1 [0.5] */
    double warmup_secs;           /* 0..600 [0] */
    uint64_t key_space;           /* 1..GW_BENCH_KEYS_MAX (100,000) [1000] */
    bool serializable;            /* consistency [linearizable] */
};

/* gw_bench_parse reads a start body. Returns 0, or LT_EINVAL with a message naming the
 * field ("bad field 'concurrency': ...", "unknown field 'x'") in err. */
int gw_bench_parse(json_object *j, struct gw_bench_params *p, char *err, size_t n);

#endif
