/* raft_sim.c — runs the Raft simulation (sim.h) over many seeds and reports failures.
 *
 *   raft_sim [--seed-start S] [--seeds N | --seed-list A,B,...] [--nodes 1..9] [--steps M]
 *            [--faults all|none|LIST] [--calm-ticks T] [--inject KIND]
 *            [--lazy-commit mixed|off|on] [--stats] [-v]
 *   raft_sim --self-test
 *
 * One line per failing seed, with everything needed to replay it, then exactly
 * "N passed, F failed". Exit status 1 if any seed failed. -v traces every seed run (use
 * it with --seeds 1). --self-test plants bugs in the harness (sim.h enum sim_inject) and
 * checks that each is caught, so a green run means something. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lt_err.h"
#include "sim.h"

#define MAX_SEED_LIST 256

struct args {
    uint64_t seed_start, seeds, steps;
    uint64_t list[MAX_SEED_LIST]; /* --seed-list: these seeds instead of a range */
    size_t n_list;
    unsigned nodes, faults, calm_ticks;
    const char *faults_name, *inject_name, *lazy_name;
    enum sim_inject inject;
    enum sim_lazy lazy;
    bool verbose, stats, self_test;
};

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: raft_sim [--seed-start S] [--seeds N | --seed-list A,B,...]\n"
                    "                [--nodes 1..9] [--steps M]\n"
                    "                [--faults all|none|drop,dup,reorder,partition,oneway,crash,"
                    "torn,pause]\n"
                    "                [--calm-ticks T] [--inject apply|early|leader|read|lie]"
                    "\n                [--lazy-commit mixed|off|on] [--stats] [-v]\n"
                    "       raft_sim --self-test\n");
}

static int args_parse(int argc, char **argv, struct args *a)
{
    a->seed_start = 1;
    a->seeds = 100;
    a->steps = 3000;
    a->nodes = 3;
    a->faults = SIM_FAULT_ALL;
    a->faults_name = "all";
    a->inject_name = "none";
    a->lazy_name = "mixed";
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(k, "-v") == 0) {
            a->verbose = true;
            continue;
        }
        if (strcmp(k, "--stats") == 0) {
            a->stats = true;
            continue;
        }
        if (strcmp(k, "--self-test") == 0) {
            a->self_test = true;
            continue;
        }
        if (!v)
            return LT_EINVAL;
        i++;
        char *end = NULL;
        if (strcmp(k, "--faults") == 0) {
            if (sim_faults_parse(v, &a->faults))
                return LT_EINVAL;
            a->faults_name = v;
            continue;
        }
        if (strcmp(k, "--seed-list") == 0) {
            const char *p = v;
            a->n_list = 0;
            while (*p) {
                char *e = NULL;
                unsigned long long x = strtoull(p, &e, 10);
                if (e == p || a->n_list == MAX_SEED_LIST || (*e && *e != ','))
                    return LT_EINVAL;
                a->list[a->n_list++] = x;
                p = *e ? e + 1 : e;
            }
            if (!a->n_list)
                return LT_EINVAL;
            a->seeds = a->n_list;
            continue;
        }
        if (strcmp(k, "--lazy-commit") == 0) {
            if (strcmp(v, "mixed") == 0)
                a->lazy = SIM_LAZY_MIXED;
            else if (strcmp(v, "off") == 0)
                a->lazy = SIM_LAZY_OFF;
            else if (strcmp(v, "on") == 0)
                a->lazy = SIM_LAZY_ON;
            else
                return LT_EINVAL;
            a->lazy_name = v;
            continue;
        }
        if (strcmp(k, "--inject") == 0) {
            if (sim_inject_parse(v, &a->inject))
                return LT_EINVAL;
            a->inject_name = v;
            continue;
        }
        unsigned long long x = strtoull(v, &end, 10);
        if (!end || *end || !*v)
            return LT_EINVAL;
        if (strcmp(k, "--seed-start") == 0)
            a->seed_start = x;
        else if (strcmp(k, "--seeds") == 0)
            a->seeds = x;
        else if (strcmp(k, "--steps") == 0)
            a->steps = x;
        else if (strcmp(k, "--nodes") == 0 && x >= 1 && x <= 9)
            a->nodes = (unsigned)x;
        else if (strcmp(k, "--calm-ticks") == 0 && x <= 1000000)
            a->calm_ticks = (unsigned)x;
        else
            return LT_EINVAL;
    }
    if (a->n_list)
        a->seeds = a->n_list;
    return 0;
}

/* run_seeds runs the seeds `a` names; returns how many failed (or a negative lt_err). */
static long run_seeds(const struct args *a, bool quiet)
{
    long failed = 0;
    struct sim_result sum;
    memset(&sum, 0, sizeof(sum));
    uint64_t max_calm = 0;
    double t0 = now_sec();
    for (uint64_t i = 0; i < a->seeds; i++) {
        struct sim_opts o = {
            .seed = a->n_list ? a->list[i] : a->seed_start + i,
            .nodes = a->nodes,
            .steps = a->steps,
            .faults = a->faults,
            .inject = a->inject,
            .trace = a->verbose ? stdout : NULL,
            .calm_ticks = a->calm_ticks,
            .lazy = a->lazy,
        };
        struct sim_result r;
        int rc = sim_run(&o, &r);
        if (rc) {
            fprintf(stderr, "raft_sim: seed %" PRIu64 " could not run: %s\n", o.seed,
                    lt_strerror(rc));
            return rc;
        }
        if (r.failed) {
            failed++;
            if (!quiet)
                printf("FAIL seed=%" PRIu64 " nodes=%u steps=%" PRIu64
                       " faults=%s lazy-commit=%s%s%s at step "
                       "%" PRIu64 " (tick %" PRIu64 "): %s\n",
                       o.seed, o.nodes, o.steps, a->faults_name, a->lazy_name,
                       a->inject ? " inject=" : "", a->inject ? a->inject_name : "", r.fail_step,
                       r.ticks, r.what);
        }
        sum.steps += r.steps;
        sum.ticks += r.ticks;
        sum.leaders += r.leaders;
        sum.proposals += r.proposals;
        sum.committed += r.committed;
        sum.reads += r.reads;
        sum.msgs += r.msgs;
        sum.crashes += r.crashes;
        sum.snapshots_sent += r.snapshots_sent;
        sum.compactions += r.compactions;
        sum.calm_ticks += r.calm_ticks;
        if (r.calm_ticks > max_calm)
            max_calm = r.calm_ticks;
        fflush(stdout);
    }
    double dt = now_sec() - t0;
    if (a->stats && !quiet && a->seeds) {
        double n = (double)a->seeds;
        printf("# %" PRIu64 " seeds in %.2f s (%.3f ms/seed); per seed: %.0f steps, %.0f ticks, "
               "%.1f leaders, %.1f committed, %.1f proposals, %.1f reads, %.0f msgs, %.2f "
               "crashes, %.2f snapshots sent, %.2f compactions, calm converged in %.1f ticks "
               "(max %" PRIu64 ")\n",
               a->seeds, dt, 1000.0 * dt / n, (double)sum.steps / n, (double)sum.ticks / n,
               (double)sum.leaders / n, (double)sum.committed / n, (double)sum.proposals / n,
               (double)sum.reads / n, (double)sum.msgs / n, (double)sum.crashes / n,
               (double)sum.snapshots_sent / n, (double)sum.compactions / n,
               (double)sum.calm_ticks / n, max_calm);
    }
    return failed;
}

/* self_test plants each bug and expects the named invariant to catch it. */
static int self_test(void)
{
    static const struct {
        enum sim_inject inject;
        const char *name;
        const char *expect; /* prefix of the failure text; NULL: any failure */
        uint64_t seeds;     /* it must be caught in at least one of these seeds */
    } cases[] = {
        {SIM_INJECT_APPLY, "apply", "state-machine-safety", 1},
        {SIM_INJECT_EARLY, "early", "durability", 1},
        {SIM_INJECT_LEADER, "leader", "election-safety", 1},
        {SIM_INJECT_READ, "read", "read-index", 1},
        {SIM_INJECT_LIE, "lie", NULL, 300},
    };
    unsigned pass = 0, fail = 0;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        bool caught = false;
        uint64_t seed = 0;
        char what[768] = "";
        for (uint64_t sd = 1; sd <= cases[c].seeds && !caught; sd++) {
            struct sim_opts o = {
                .seed = sd,
                .nodes = 3,
                .steps = 3000,
                .faults = SIM_FAULT_ALL,
                .inject = cases[c].inject,
            };
            if (cases[c].inject == SIM_INJECT_READ || cases[c].inject == SIM_INJECT_APPLY)
                o.faults = 0; /* a quiet cluster answers reads and applies for sure */
            struct sim_result r;
            if (sim_run(&o, &r))
                return 1;
            if (r.failed && (!cases[c].expect ||
                             strncmp(r.what, cases[c].expect, strlen(cases[c].expect)) == 0)) {
                caught = true;
                seed = sd;
                snprintf(what, sizeof(what), "%s", r.what);
            }
        }
        if (caught) {
            pass++;
            printf("self-test %-6s caught at seed %" PRIu64 ": %s\n", cases[c].name, seed, what);
        } else {
            fail++;
            printf("self-test %-6s NOT caught in %" PRIu64 " seeds\n", cases[c].name,
                   cases[c].seeds);
        }
    }
    printf("%u passed, %u failed\n", pass, fail);
    return fail ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct args a;
    memset(&a, 0, sizeof(a));
    if (args_parse(argc, argv, &a)) {
        usage();
        return 2;
    }
    if (a.self_test)
        return self_test();
    long failed = run_seeds(&a, false);
    if (failed < 0)
        return 2;
    printf("%" PRIu64 " passed, %ld failed\n", a.seeds - (uint64_t)failed, failed);
    return failed ? 1 : 0;
}
