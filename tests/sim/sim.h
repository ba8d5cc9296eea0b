/* sim.h — a deterministic simulation of a Raft cluster built on the pure core (raft.h).
 *
 * One process runs N cores on a seeded virtual clock. Each node has a simulated disk
 * (hard state, log, snapshot meta) written by the update protocol of raft.h, a state
 * machine (a hash chain of applied entries) and a network that delays, drops,
 * duplicates and reorders messages, cuts links (both ways or one way), crashes nodes
 * (optionally losing writes not yet fsynced) and restarts them from disk. Every random
 * choice derives from the seed, so a failing seed replays exactly. Raft's invariants
 * are checked after every step; after the fault phase a calm phase checks liveness.
 *
 * It is not a model checker (it samples runs) and it never touches real files, sockets
 * or clocks. */
#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Faults the network and disks may inject during the fault phase. */
enum sim_fault {
    SIM_FAULT_DROP = 1u << 0,      /* lose messages */
    SIM_FAULT_DUP = 1u << 1,       /* deliver a message twice */
    SIM_FAULT_REORDER = 1u << 2,   /* random and sometimes long latencies */
    SIM_FAULT_PARTITION = 1u << 3, /* split the cluster, isolate nodes, heal */
    SIM_FAULT_ONEWAY = 1u << 4,    /* cut one direction of a link */
    SIM_FAULT_CRASH = 1u << 5,     /* crash and later restart nodes */
    SIM_FAULT_TORN = 1u << 6,      /* fsync is asynchronous: a crash loses unsynced writes */
    SIM_FAULT_PAUSE = 1u << 7,     /* freeze a process for a while (its clock skips) */
    SIM_FAULT_ALL = (1u << 8) - 1,
};

/* Deliberate bugs the harness plants to prove its checkers bite (--self-test). */
enum sim_inject {
    SIM_INJECT_NONE = 0,
    SIM_INJECT_APPLY,  /* one node applies a forged entry: state machine safety */
    SIM_INJECT_EARLY,  /* send every message before persisting: durability */
    SIM_INJECT_LEADER, /* report a second leader in a term: election safety */
    SIM_INJECT_READ,   /* ask a read with an impossible bound: read index */
    SIM_INJECT_LIE,    /* the disk forgets fsynced writes on a crash; with the durability
                        * checks off, a state-level check must notice the damage */
};

/* Whether the leaders run with raft_config.lazy_commit (then each tick the leader sends
 * its commit index with an even chance, as lithair-node does after 1 ms). */
enum sim_lazy {
    SIM_LAZY_MIXED = 0, /* on for half the seeds (a hash of the seed, not the random stream) */
    SIM_LAZY_OFF,       /* the core's default; the regression seeds replay as recorded */
    SIM_LAZY_ON,
};

struct sim_opts {
    uint64_t seed;
    unsigned nodes;  /* 1..RAFT_MAX_NODES */
    uint64_t steps;  /* events in the fault phase */
    unsigned faults; /* enum sim_fault bits */
    enum sim_inject inject;
    FILE *trace;         /* non-NULL: print a trace of the run there */
    unsigned calm_ticks; /* liveness bound after the fault phase; 0 = 400 + 60 timeouts */
    enum sim_lazy lazy;
};

struct sim_result {
    bool failed;
    char what[768];     /* the broken invariant and details */
    uint64_t fail_step; /* step at which it broke */
    uint64_t steps;     /* steps run in all */
    uint64_t ticks;     /* virtual time in ticks */
    uint64_t terms;     /* highest term reached */
    uint64_t leaders;   /* leaders elected */
    uint64_t committed; /* highest committed index */
    uint64_t proposals; /* proposals accepted by a leader */
    uint64_t reads;     /* read states answered */
    uint64_t msgs;      /* messages delivered */
    uint64_t crashes;
    uint64_t snapshots_sent;
    uint64_t compactions;
    uint64_t calm_ticks; /* ticks the calm phase took to converge */
};

/* sim_run runs one seed as `o` says and fills `res`. Returns 0 when the run happened
 * (whether or not an invariant broke: see res->failed), LT_ENOMEM or LT_EINVAL when
 * it could not run. */
int sim_run(const struct sim_opts *o, struct sim_result *res);

/* sim_faults_parse reads "all", "none" or a comma list of drop,dup,reorder,partition,
 * oneway,crash,torn,pause into *out; LT_EINVAL on an unknown word. */
int sim_faults_parse(const char *s, unsigned *out);

/* sim_inject_parse reads an injection name (apply, early, leader, read, lie). */
int sim_inject_parse(const char *s, enum sim_inject *out);

#endif
