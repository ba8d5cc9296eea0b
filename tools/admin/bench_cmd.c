/* bench_cmd.c — `lithair-admin bench` and `ping-bench`: the benchmark engine
 * (tools/client/bench_engine.h) driven from the command line, with a live progress line
 * on a terminal and a final report (table, or JSON with -w json).
 *
 * `ping-bench` runs the same engine on the no-op Cluster/Ping RPC: the ceiling of the
 * RPC path itself, against which the write throughput of `bench` is judged. */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "bench_engine.h"
#include "lt_err.h"
#include "lt_opt.h"
#include "wire.h"

/* The most a read or mixed run writes before it starts (key-space x payload-size): far
 * more than a playground's store is meant to hold, and minutes of writes already. */
#define BENCH_PREFILL_MAX (1024.0 * 1048576.0)

/* read by the signal handler, which may interrupt this thread anywhere, or run on another
 * thread at the same time; the engine it names is never freed */
static struct bench_engine *_Atomic running;

static void bench_on_sigint(int sig)
{
    (void)sig;
    struct bench_engine *e = atomic_load(&running);
    if (e) /* not bench_engine_stop: its mutex may be held by the thread interrupted */
        bench_engine_stop_async(e); /* NOLINT(bugprone-signal-handler): one lock-free store */
}

static void bench_usage(const char *cmd)
{
    if (strcmp(cmd, "ping-bench") == 0) {
        printf("Usage: lithair-admin ping-bench [options]\n\n"
               "Benchmark the no-op Cluster/Ping RPC: the throughput ceiling of the RPC path\n"
               "(no consensus, disk or store), to compare writes with at the same concurrency.\n\n"
               "  --concurrency N           clients, one request in flight each, 1..1024\n"
               "                            (default 16)\n"
               "  --duration SECONDS        measured time, 0.1..3600 (default 10)\n"
               "  --warmup SECONDS          unmeasured time first, 0..600 (default 1)\n"
               "  --payload-size BYTES      bytes carried by each ping, 1..1048576 (default 256)\n"
               "  --rate OPS                open loop at OPS requests/s in total (0..10000000; 0,\n"
               "                            the default: closed loop); latency is then\n"
               "                            measured from each request's intended send time, and\n"
               "                            only requests due in the measured time are measured\n"
               "                            (the warm-up's, sent late, are not)\n\n"
               "Ctrl-C stops early and prints what was measured.\n");
        return;
    }
    printf("Usage: lithair-admin %s [options]\n\n"
           "Benchmark writes and reads of items through the cluster.\n\n"
           "  --type write|read|mixed   workload (default write)\n"
           "  --concurrency N           clients, one request in flight each, 1..1024\n"
           "                            (default 16)\n"
           "  --duration SECONDS        measured time, 0.1..3600 (default 10)\n"
           "  --warmup SECONDS          unmeasured time first, 0..600 (default 1)\n"
           "  --payload-size BYTES      bytes per write, 1..4096 (default 256)\n"
           "  --rate OPS                open loop at OPS requests/s in total (0..10000000; 0,\n"
           "                            the default: closed loop); latency is then\n"
           "                            measured from each request's intended send time, and\n"
           "                            only requests due in the measured time are measured\n"
           "                            (the warm-up's, sent late, are not)\n"
           "  --read-ratio R            mixed: fraction of reads, 0..1 (default 0.5)\n"
           "  --key-space N             read, mixed: items written first so reads hit,\n"
           "                            1..10000000 (default 1000); key-space x payload-size,\n"
           "                            the bytes of that prefill, at most 1 GiB\n"
           "                            (1073741824)\n"
           "  --serializable            read, mixed: reads served locally by any node\n"
           "                            (default: linearizable)\n\n"
           "Ctrl-C stops early and prints what was measured. Items written are marked as\n"
           "benchmark data: 'lithair-admin items purge' deletes them.\n",
           cmd);
}

static int bench_parse_num(const char *cmd, const char *flag, const char *s, double min, double max,
                           double *out)
{
    char *end;
    double v = strtod(s, &end);
    /* decimal only: strtod also takes "0x10", " 4" and "infinity" */
    bool plain = *s && strspn(s, "0123456789.eE+-") == strlen(s);
    if (!plain || *end || !isfinite(v) || v < min || v > max)
        return admin_usage_error(cmd, "%s takes a number from %.15g to %.15g, not '%s'", flag, min,
                                 max, s);
    *out = v;
    return 0;
}

/* bench_parse_int: bench_parse_num for counts, which must be whole numbers. */
static int bench_parse_int(const char *cmd, const char *flag, const char *s, double min, double max,
                           double *out)
{
    int rc = bench_parse_num(cmd, flag, s, min, max, out);
    if (rc == 0 && floor(*out) != *out)
        return admin_usage_error(cmd, "%s takes a whole number from %.15g to %.15g, not '%s'", flag,
                                 min, max, s);
    return rc;
}

static void bench_progress(void *ud, const struct bench_progress *p)
{
    (void)ud;
    static const char *phases[] = {"prefill", "warm-up", "running", "done"};
    if (p->phase == BENCH_PHASE_PREFILL) {
        fprintf(stderr, "\rprefill  %llu of %llu keys written   ",
                (unsigned long long)p->prefill_done, (unsigned long long)p->prefill_total);
        return;
    }
    fprintf(stderr,
            "\r%-8s %6.1fs  %10llu ops  %9.0f ops/s  %7.2f MB/s  p50 %7.3f ms  p99 %7.3f ms  "
            "errors %llu   ",
            phases[p->phase], (double)p->elapsed_ms / 1000.0, (unsigned long long)p->ops,
            p->ops_per_sec, p->mb_per_sec, (double)p->p50_ns / 1e6, (double)p->p99_ns / 1e6,
            (unsigned long long)p->errors);
}

int admin_bench(struct admin *a, const char *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"type", required_argument, NULL, 't'},
        {"concurrency", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'W'},
        {"payload-size", required_argument, NULL, 'p'},
        {"rate", required_argument, NULL, 'r'},
        {"read-ratio", required_argument, NULL, 'R'},
        {"key-space", required_argument, NULL, 'k'},
        {"serializable", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool ping = strcmp(cmd, "ping-bench") == 0;
    char usage_cmd[32];
    snprintf(usage_cmd, sizeof(usage_cmd), "%s ", cmd);
    struct bench_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.workload = BENCH_WRITE;
    cfg.concurrency = 16;
    cfg.duration_ms = 10000;
    cfg.warmup_ms = 1000;
    cfg.payload_size = 256;
    cfg.read_percent = 50;
    cfg.key_space = 1000;
    cfg.seed = 1;
    bool serializable = false;
    const char *type = NULL, *read_ratio = NULL, *key_space = NULL; /* as given, NULL if not */
    optind = 0;
    opterr = 0;
    int c;
    double v = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int rc = 0;
        if (ping && (c == 't' || c == 'R' || c == 'k' || c == 's')) /* not in its --help */
            return admin_usage_error(usage_cmd, "ping-bench takes no --%s (pings read nothing)",
                                     c == 't'   ? "type"
                                     : c == 'R' ? "read-ratio"
                                     : c == 'k' ? "key-space"
                                                : "serializable");
        switch (c) {
        case 't': {
            int w = bench_workload_parse(optarg);
            if (w < 0)
                return admin_usage_error(usage_cmd, "--type takes write, read or mixed");
            cfg.workload = (enum bench_workload)w;
            type = optarg;
            break;
        }
        case 'c':
            rc = bench_parse_int(usage_cmd, "--concurrency", optarg, 1, BENCH_MAX_WORKERS, &v);
            cfg.concurrency = (unsigned)v;
            break;
        case 'd':
            rc = bench_parse_num(usage_cmd, "--duration", optarg, 0.1, 3600, &v);
            cfg.duration_ms = (unsigned)(v * 1000);
            break;
        case 'W':
            rc = bench_parse_num(usage_cmd, "--warmup", optarg, 0, 600, &v);
            cfg.warmup_ms = (unsigned)(v * 1000);
            break;
        case 'p':
            rc = bench_parse_int(usage_cmd, "--payload-size", optarg, 1,
                                 ping ? 1 << 20 : BENCH_ITEM_PAYLOAD_MAX, &v);
            cfg.payload_size = (size_t)v;
            break;
        case 'r':
            rc = bench_parse_num(usage_cmd, "--rate", optarg, 0, 1e7, &cfg.rate);
            break;
        case 'R':
            rc = bench_parse_num(usage_cmd, "--read-ratio", optarg, 0, 1, &v);
            cfg.read_percent = (unsigned)lround(v * 100);
            read_ratio = optarg;
            break;
        case 'k':
            rc = bench_parse_int(usage_cmd, "--key-space", optarg, 1, 1e7, &v);
            cfg.key_space = (uint64_t)v;
            key_space = optarg;
            break;
        case 's':
            serializable = true;
            break;
        case 'h':
            bench_usage(cmd);
            return 0;
        case ':':
            return admin_usage_error(usage_cmd, "%s needs a value", argv[optind - 1]);
        default:
            return admin_usage_error(usage_cmd, "unknown option '%s'",
                                     lt_opt_refused(argc, argv, (char[3]){0}));
        }
        if (rc)
            return rc;
    }
    if (optind < argc)
        return admin_usage_error(usage_cmd, "unexpected argument '%s'", argv[optind]);
    double prefill = (double)cfg.key_space * (double)cfg.payload_size;
    if (cfg.workload != BENCH_WRITE && prefill > BENCH_PREFILL_MAX)
        return admin_usage_error(usage_cmd,
                                 "--key-space %llu x --payload-size %zu would prefill %.0f MiB; "
                                 "at most 1 GiB (1024 MiB): a smaller --key-space or "
                                 "--payload-size",
                                 (unsigned long long)cfg.key_space, cfg.payload_size,
                                 prefill / 1048576.0);
    if (read_ratio && cfg.workload != BENCH_MIXED) /* the engine would ignore it */
        return admin_usage_error(usage_cmd, "--read-ratio %s needs --type mixed, not --type %s%s",
                                 read_ratio, type ? type : "write", type ? "" : " (the default)");
    /* nor would it read keys, or read at all, in a write run */
    if ((key_space || serializable) && cfg.workload == BENCH_WRITE)
        return admin_usage_error(usage_cmd, "%s%s needs --type read or mixed, not --type write%s",
                                 key_space ? "--key-space " : "--serializable",
                                 key_space ? key_space : "", type ? "" : " (the default)");

    struct bench_rpc op;
    int rc = bench_rpc_init(&op, admin_client(a), ping ? BENCH_RPC_PING : BENCH_RPC_ITEMS,
                            cfg.workload == BENCH_WRITE ? 0 : cfg.key_space);
    if (rc)
        return admin_fail("%s", lt_strerror(rc));
    op.timeout_ms = a->timeout_ms;
    op.serializable = serializable;
    cfg.op = bench_rpc_op;
    cfg.op_ud = &op;
    bool tty = isatty(STDERR_FILENO);
    if (tty) {
        cfg.progress = bench_progress;
        cfg.progress_ud = NULL;
    }
    struct bench_engine *e = NULL;
    if ((rc = bench_engine_new(&cfg, &e)) != 0) {
        bench_rpc_fini(&op);
        return admin_fail("bad benchmark settings: %s", lt_strerror(rc));
    }
    running = e;
    signal(SIGINT, bench_on_sigint);
    signal(SIGTERM, bench_on_sigint); /* as Ctrl-C: stop, then report what ran */
    struct bench_result res;
    rc = bench_engine_run(e, &res);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    /* The engine is not freed: a handler that began on another thread just before may
     * still use it, and nothing can wait for a handler. It stays reachable from `running`
     * until the program ends, a few lines on (lithair-admin runs one command). */
    if (tty)
        fputc('\n', stderr);
    bench_rpc_fini(&op);
    if (rc)
        return admin_fail("benchmark failed: %s", lt_strerror(rc));

    const struct lt_hist_summary *l = &res.latency;
    /* the engine's workload is its default, write, for pings: named for what ran instead */
    char title[32] = "ping benchmark";
    if (!ping)
        snprintf(title, sizeof(title), "items %s", bench_workload_name(res.workload));
    if (a->json) {
        json_object *o = bench_result_json(&res);
        if (!o) {
            bench_result_fini(&res);
            return admin_fail("out of memory");
        }
        json_object_object_add(o, "target", json_object_new_string(ping ? "ping" : "items"));
        if (ping)
            json_object_object_add(o, "workload", json_object_new_string("ping"));
        admin_print_json(o);
        json_object_put(o);
    } else {
        printf("%s: %u clients, %zu-byte payload, %.1f s%s\n", title, res.concurrency,
               cfg.payload_size, res.duration_s, res.stopped_early ? " (stopped early)" : "");
        printf("  ops          %llu (%llu errors)\n", (unsigned long long)res.ops,
               (unsigned long long)res.errors);
        if (res.prefill_errors)
            printf("  prefill      %llu of %llu writes failed: reads of their keys fail\n",
                   (unsigned long long)res.prefill_errors, (unsigned long long)res.prefill_ops);
        if (res.unsent)
            printf("  unsent       %llu operations due but not sent when the run ended "
                   "(in the latency figures)\n",
                   (unsigned long long)res.unsent);
        printf("  throughput   %.0f ops/s, %.2f MB/s\n", res.ops_per_sec, res.mb_per_sec);
        if (res.reads && res.writes)
            printf("               %.2f MB/s read, %.2f MB/s written\n", res.read_mb_per_sec,
                   res.write_mb_per_sec);
        printf("  latency ms   p50 %.3f  p90 %.3f  p95 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  "
               "mean %.3f\n",
               (double)l->p50_ns / 1e6, (double)l->p90_ns / 1e6, (double)l->p95_ns / 1e6,
               (double)l->p99_ns / 1e6, (double)l->p999_ns / 1e6, (double)l->max_ns / 1e6,
               l->mean_ns / 1e6);
        for (int k = 1; k < BENCH_CODES; k++) {
            if (res.errors_by_code[k])
                printf("  errors       %s: %llu\n",
                       k < BENCH_CODES - 1 ? wire_code_name(k) : "OTHER",
                       (unsigned long long)res.errors_by_code[k]);
        }
    }
    /* A run in which nothing succeeded measured nothing: a failure, whatever its ops/s. */
    bool failed = res.ops == res.errors;
    uint64_t n_err = res.errors, n_ops = res.ops;
    bench_result_fini(&res);
    if (failed && n_ops == 0)
        return admin_fail("no operation was measured");
    if (failed)
        return admin_fail("every one of the %llu measured operations failed",
                          (unsigned long long)n_ops);
    if (n_err)
        fprintf(stderr, "lithair-admin: %llu of %llu operations failed (counted in ops/s)\n",
                (unsigned long long)n_err, (unsigned long long)n_ops);
    return 0;
}
