/* supervisor.h — the gateway's supervisor mode: it forks and execs N lithair-node processes
 * on this host, kills (SIGKILL, or SIGTERM for a graceful stop) and restarts them on
 * request, reaps them, and reports every change of state through one callback.
 *
 * Node i (1..N) runs with --id i, --data-dir DIR/nodeI, stdout and stderr appended to
 * DIR/nodeI/node.log, and three loopback URLs tcp://127.0.0.1:PORT:
 *   - base_port B > 0: raft B+i, rpc B+100+i, events B+200+i (B = 7100 gives the
 *     playground's 7101/7201/7301);
 *   - base_port 0: free ports found by binding to port 0 once, at sup_new, and kept for
 *     the supervisor's life so a restarted node comes back on the same URLs.
 * Every node is given every member with --peer ID,RAFT,RPC,EVENTS, then the extra
 * arguments. The child sets PR_SET_PDEATHSIG(SIGKILL) before exec, so nodes die with the
 * gateway even when it is killed -9. There are no automatic restarts.
 *
 * One supervisor thread forks the children and reaps them (polling waitpid on their pids
 * only). Every function is thread-safe (HTTP handler threads call them). The callback is
 * called from that thread, with no lock held, in the order things happened (started,
 * killed, then exited or stopped); sup_restart returns after its `started` was reported.
 * The callback must be quick and must not call sup_restart, sup_start_all, sup_kill,
 * sup_stop_all or sup_free (they wait for that thread); the getters are fine.
 *
 * Not here: anything about Raft or RPCs (attach mode, Cluster/Shutdown), HTTP or JSON. */
#ifndef GW_SUPERVISOR_H
#define GW_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SUP_MAX_NODES 9
#define SUP_URL_MAX   64
#define SUP_ERROR_MAX 256

/* What happened to a node (the `state` of the SSE `node` event: sup_event_name). */
enum sup_event_kind {
    SUP_EV_STARTED, /* forked and exec'd: pid is the new process */
    SUP_EV_KILLED,  /* sup_kill sent `signal` (SIGKILL or SIGTERM) */
    SUP_EV_EXITED,  /* the process ended: exit_code >= 0, or signal > 0 if a signal ended it */
    SUP_EV_STOPPED, /* sup_stop_all ended it (after SIGTERM, SIGKILL for stragglers) */
};

struct sup_event {
    unsigned id; /* node id, 1..N */
    enum sup_event_kind kind;
    pid_t pid;
    int signal;    /* KILLED: the signal sent; EXITED/STOPPED: the signal that ended it, or 0 */
    int exit_code; /* EXITED/STOPPED: the exit status, -1 if a signal ended it; else -1 */
    /* EXITED/STOPPED: the first ERROR line the run logged, without its time, level and
     * name ("WAL fsync failed: no space left; stopping ..."), cut to fit; "" if none */
    char error[SUP_ERROR_MAX];
};

/* Called on every state change; see the file comment for the thread and locks. */
typedef void (*sup_event_fn)(void *ud, const struct sup_event *ev);

struct sup_opts {
    const char *node_bin; /* path of lithair-node */
    const char *data_dir; /* created if missing; node I uses data_dir/nodeI */
    unsigned n;           /* number of nodes, 1..SUP_MAX_NODES (the playground uses 3 or 5) */
    int base_port;        /* see the file comment; 0 = free ports */
    const char *const
        *extra_args;       /* passed to every node after the flags; NULL-ended; may be NULL */
    sup_event_fn on_event; /* may be NULL */
    void *on_event_ud;
    unsigned term_wait_ms; /* how long a graceful kill / stop_all waits before SIGKILL [5000] */
    bool pin_cpus; /* node I runs on CPU (I-1) mod K of the K this process may use (lt_cpu.h;
                      nothing when K < 2, or when extra_args carry a --cpu): passed as --cpu */
    char *errbuf;  /* may be NULL: when sup_new fails, why, naming the path and the cause */
    size_t errbuf_len;
};

/* A snapshot of one node. */
struct sup_node_info {
    unsigned id;
    bool running;       /* false as soon as sup_kill signalled it, before the reap */
    bool exiting;       /* signalled by sup_kill, not reaped yet (hung in its shutdown?) */
    pid_t pid;          /* current pid when running, else the last one (0 if never started) */
    uint64_t uptime_ms; /* since the current start; 0 when not running */
    uint64_t starts;    /* how many times it was started */
    int last_signal;    /* signal that ended the last run, 0 if none */
    int last_exit_code; /* exit status of the last run, -1 if none or signaled */
    char last_error[SUP_ERROR_MAX]; /* the last run's first ERROR line (sup_event.error) */
    char raft_url[SUP_URL_MAX];
    char rpc_url[SUP_URL_MAX];
    char events_url[SUP_URL_MAX];
    char data_dir[512];
    int cpu; /* the CPU its threads run on (--cpu), -1: not pinned */
};

struct sup;

/* sup_new checks the options, creates the data directories and chooses the ports; it
 * starts nothing. Returns 0 and *out, LT_EINVAL (bad options: no binary, n out of range,
 * a base port whose URLs would pass 65535), LT_EIO (a directory cannot be made or written,
 * or a path on the way is not a directory; no free port) or LT_ENOMEM; on failure
 * o->errbuf says why ("cannot make directory /x/node1: Permission denied"). `o` is copied
 * (strings too). */
int sup_new(const struct sup_opts *o, struct sup **out);

/* sup_free stops every node (sup_stop_all), joins the reaper and frees. NULL does nothing. */
void sup_free(struct sup *s);

/* sup_start_all starts every node that is not running. Returns 0, or the first error of
 * sup_restart (the others are still attempted). */
int sup_start_all(struct sup *s);

/* sup_restart starts node `id`. Returns 0 (and *pid when pid is not NULL), LT_ENOTFOUND
 * (no such node), LT_EEXIST (it is running), LT_EBUSY (a kill signalled it and it has not
 * exited yet), LT_ESHUTDOWN (stop_all under way) or LT_EIO (fork failed, or the exec of the
 * node binary failed). The child tells an exec failure to the supervisor through a
 * close-on-exec pipe: the node is then not running, its last_error says why ("cannot
 * execute /x/lithair-node: No such file or directory"; written to its node.log too),
 * last_exit_code is 127, and an EXITED event with that error is reported. */
int sup_restart(struct sup *s, unsigned id, pid_t *pid);

/* sup_kill signals node `id`: SIGKILL, or SIGTERM when `graceful`. With keep_quorum it
 * refuses, atomically with sending, when fewer than a majority would be left running. A
 * graceful kill waits up to term_wait_ms for the node to exit. Returns 0 (the signal was
 * sent; with graceful, the node also exited in time), LT_ENOTFOUND (no such node),
 * LT_EINVAL (not running), LT_EEXIST (already signalled by sup_kill and not exited yet;
 * a SIGKILL after a SIGTERM is allowed: it escalates), LT_EBUSY (keep_quorum and
 * it would lose the majority), LT_ETIMEDOUT (graceful and still running after the wait:
 * the caller may SIGKILL). On return 0 with !graceful, the process may not be reaped yet;
 * sup_wait_stopped waits. */
int sup_kill(struct sup *s, unsigned id, bool graceful, bool keep_quorum);

/* sup_wait_stopped waits up to timeout_ms for node `id` to be reaped. Returns 0 when it
 * is not running, LT_ETIMEDOUT, LT_ENOTFOUND. */
int sup_wait_stopped(struct sup *s, unsigned id, unsigned timeout_ms);

/* sup_stop_all: SIGTERM to every running node, a second one 50 ms later to those still
 * running (stop at once: none is left to take a leader's hand-over), wait up to
 * term_wait_ms, SIGKILL the
 * stragglers, reap all of them (no orphan, no zombie). Afterwards sup_restart works
 * again. Each node that was running reports SUP_EV_STOPPED. */
void sup_stop_all(struct sup *s);

/* sup_stop_handover says what node `id`'s last run wrote of its last stop (lithair-node's
 * log lines): 1 it led and handed its leadership to node *to; -1 it led and no follower
 * took over before it exited; 0 it did not lead (or its log says nothing). */
int sup_stop_handover(struct sup *s, unsigned id, uint64_t *to);

/* sup_count: the number of nodes N. sup_running_count: how many run now (a node sup_kill
 * signalled no longer counts, even before it is reaped). */
unsigned sup_count(const struct sup *s);
unsigned sup_running_count(struct sup *s);

/* sup_kill_loses_quorum: would stopping node `id` leave fewer than a majority
 * (N/2 + 1) of the N nodes running? False when `id` is not running or unknown. */
bool sup_kill_loses_quorum(struct sup *s, unsigned id);

/* sup_quorum_needed: N/2 + 1. */
unsigned sup_quorum_needed(const struct sup *s);

/* sup_node_info copies node `id`'s state. Returns 0 or LT_ENOTFOUND. */
int sup_node_info(struct sup *s, unsigned id, struct sup_node_info *out);

/* sup_rpc_url / sup_events_url / sup_raft_url: node `id`'s URLs (fixed for the life of
 * `s`, so the pointers stay valid until sup_free), NULL for an unknown id. */
const char *sup_rpc_url(const struct sup *s, unsigned id);
const char *sup_events_url(const struct sup *s, unsigned id);
const char *sup_raft_url(const struct sup *s, unsigned id);

/* sup_endpoints writes "rpc1,rpc2,..." (the rpc_client_new list, node order) or, with
 * events, the events URLs, into buf. Returns 0, LT_ETOOBIG if it does not fit. */
int sup_endpoints(const struct sup *s, bool events, char *buf, size_t n);

/* sup_event_name: "started", "killed", "exited", "stopped". */
const char *sup_event_name(enum sup_event_kind k);

/* sup_signal_name: "SIGKILL", "SIGTERM", ... ("SIG<n>" for others) into a static string;
 * NULL for 0. */
const char *sup_signal_name(int sig);

/* sup_event_json writes the SSE `node` event's data for `ev` into buf:
 * {"id":1,"state":"exited","pid":4242,"signal":"SIGKILL","exitCode":null,"error":null}
 * (signal null when 0; exitCode null when -1; error null when ""). Returns 0, LT_ETOOBIG
 * or LT_ENOMEM. */
int sup_event_json(const struct sup_event *ev, char *buf, size_t n);

#endif
