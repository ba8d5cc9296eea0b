/* main.c — lithair-gateway: flags, start-up in supervisor or attach mode, and a clean
 * stop on SIGINT/SIGTERM (HTTP server first, then the benchmark, the event bridge, the
 * supervisor's nodes). Everything else lives in the lithair_gw library. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "events.h"
#include "gw.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_log.h"
#include "lt_opt.h"
#include "lt_url.h"
#include "sse.h"
#include "supervisor.h"
#include "wire.h"

/* --max-body's range, as usage() states it: half of what a node takes (wire.h) */
_Static_assert(WIRE_RPC_MAX_REQUEST / 2 == 8388608, "--help states --max-body's range");

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: lithair-gateway --listen PORT --frontend DIR\n"
            "         (--spawn N --data-dir DIR [--node-bin PATH] [--node-base-port P]\n"
            "          [--node-arg ARG]... | --node ID,RPC_URL,EVENTS_URL [--node ...])\n"
            "         [options]\n\n"
            "The HTTP face of a Lithair cluster: the page, the REST API, /_playground/* and\n"
            "Server-Sent Events, translated into the nodes' NNG RPCs (docs/API.md).\n\n"
            "  --listen PORT           HTTP port (1..65535)\n"
            "  --listen-addr ADDR      IPv4 address to bind, dotted quad (default 127.0.0.1;\n"
            "                          0.0.0.0 for all); on loopback, API requests must name\n"
            "                          a local Host (DNS rebinding); elsewhere an address,\n"
            "                          localhost, this machine's name or an --allowed-host\n"
            "  --allowed-host NAME     a DNS name API requests may give as Host when the\n"
            "                          gateway listens beyond loopback (repeatable, %d at\n"
            "                          most)\n"
            "  --frontend DIR          folder of static files served under / (index.html)\n"
            "Supervisor mode (the gateway runs the nodes as child processes):\n"
            "  --spawn N               start N lithair-node processes (1..%d)\n"
            "  --data-dir DIR          node I keeps its data in DIR/nodeI\n"
            "  --node-bin PATH         lithair-node binary (default: ../node/lithair-node\n"
            "                          next to this program, else lithair-node in PATH)\n"
            "  --node-base-port P      node I listens on P+I (raft), P+100+I (rpc),\n"
            "                          P+200+I (events); 0..65000, default 0: free ports\n"
            "  --node-arg ARG          extra argument for every node (repeatable), e.g.\n"
            "                          --node-arg=--snapshot-interval --node-arg=1000\n"
            "  --node-cpus MODE        auto (default): node I runs on the (I-1 mod K)th of\n"
            "                          the K CPUs this gateway may use (lithair-node --cpu;\n"
            "                          nothing when K = 1), which spares every request the\n"
            "                          cross-CPU wake-ups between a node's threads; off: the\n"
            "                          kernel places the nodes' threads\n"
            "Attach mode (the cluster runs elsewhere):\n"
            "  --node ID,RPC_URL,EVENTS_URL   one node (repeat for each)\n"
            "Options:\n"
            "  --max-body BYTES        largest request body accepted, 1024..8388608\n"
            "                          (default 1048576; a node takes RPCs up to 16 MiB)\n"
            "  --threads N             HTTP worker threads, 2..4096 (default 128); each open\n"
            "                          connection and SSE stream holds one (an idle\n"
            "                          keep-alive connection for at most 5 s)\n"
            "  --request-timeout-ms MS a stalled client is dropped after MS, 100..3600000\n"
            "                          (default 10000)\n"
            "  --rpc-timeout-ms MS     deadline of the RPCs behind one request, 10..600000\n"
            "                          (default 5000)\n"
            "  --coalesce N            concurrent creates sent as one Rpc/Batch of up to N,\n"
            "                          1..4096 (default 256; 1 = off)\n"
            "  --coalesce-senders N    batches in flight at once (1..16, default 2)\n"
            "  --breaker-failures N    consecutive failures that open a node's circuit\n"
            "                          breaker, 1..1000 (default 5)\n"
            "  --breaker-cooldown-ms MS  an open breaker lets one probe through after MS,\n"
            "                          1..600000 (default 2000)\n"
            "  --no-events             do not subscribe to the nodes' event streams: the SSE\n"
            "                          streams then carry only gateway events (node, circuit,\n"
            "                          benchmark); saves the gateway the per-write events\n"
            "Security (see docs/API.md):\n"
            "  --anonymous-role ROLE   what a client that has not logged in may do: admin\n"
            "                          (default: the playground is open), editor, viewer,\n"
            "                          or none (log in for all but the page's files,\n"
            "                          /healthz and the login itself)\n"
            "  --rate-limit N          requests a second per client address over the API,\n"
            "                          0..1000000 (default 0: no limit); 429 with\n"
            "                          Retry-After beyond it\n"
            "  --rate-burst N          the bucket's size, 1..1000000 (default: N of\n"
            "                          --rate-limit; only with --rate-limit)\n"
            "  --session-ttl-s S       how long a login lasts, 1..2678400 (31 days; default\n"
            "                          43200: 12 h); expired sessions are deleted from the\n"
            "                          cluster\n"
            "  --log-level LEVEL       debug, info, warn or error (default info; env\n"
            "                          LT_LOG_LEVEL)\n"
            "  -h, --help              this text\n",
            GW_MAX_ALLOWED_HOSTS, SUP_MAX_NODES);
}

/* parse_uint: all of `s` decimal digits, a number in [min, max] — not what strtoul also
 * takes: a blank or a sign in front (" -1" was ULONG_MAX), or an overflow (clamped to
 * ULONG_MAX, which --node's ID allows). */
static int parse_uint(const char *flag, const char *s, unsigned long min, unsigned long max,
                      unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || errno || *end || v < min || v > max) {
        fprintf(stderr, "lithair-gateway: %s takes a number from %lu to %lu, not '%s'\n", flag, min,
                max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static struct gw gw;

static void on_sup_event(void *ud, const struct sup_event *ev)
{
    struct gw *g = ud;
    char buf[1024]; /* the error (SUP_ERROR_MAX) may double when escaped */
    if (g->sse && sup_event_json(ev, buf, sizeof(buf)) == 0)
        sse_hub_publish(g->sse, SSE_STREAM_CLUSTER, "node", buf, NULL);
}

static void on_breaker(void *ud, size_t endpoint, const char *url, enum rpc_breaker_state from,
                       enum rpc_breaker_state to)
{
    struct gw *g = ud;
    char buf[256];
    uint64_t id = endpoint < g->n_nodes ? g->nodes[endpoint].id : 0;
    snprintf(buf, sizeof(buf), "{\"node\":%llu,\"url\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"}",
             (unsigned long long)id, url, rpc_breaker_state_name(from), rpc_breaker_state_name(to));
    if (g->sse)
        sse_hub_publish(g->sse, SSE_STREAM_CLUSTER, "circuit", buf, NULL);
}

static int add_node_arg(const char *arg)
{
    if (gw.n_nodes >= GW_MAX_NODES) {
        fprintf(stderr, "lithair-gateway: at most %d nodes\n", GW_MAX_NODES);
        return -1;
    }
    struct gw_node *n = &gw.nodes[gw.n_nodes];
    const char *c1 = strchr(arg, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
    char idbuf[24];
    unsigned long id;
    if (!c1 || !c2 || (size_t)(c1 - arg) >= sizeof(idbuf) ||
        (size_t)(c2 - c1 - 1) >= sizeof(n->rpc_url) || strlen(c2 + 1) >= sizeof(n->events_url) ||
        c2 == c1 + 1 || !c2[1]) {
        fprintf(stderr, "lithair-gateway: --node takes ID,RPC_URL,EVENTS_URL, not '%s'\n", arg);
        return -1;
    }
    memcpy(idbuf, arg, (size_t)(c1 - arg));
    idbuf[c1 - arg] = '\0';
    if (parse_uint("--node ID", idbuf, 1, ULONG_MAX, &id))
        return -1;
    n->id = id;
    memcpy(n->rpc_url, c1 + 1, (size_t)(c2 - c1 - 1));
    n->rpc_url[c2 - c1 - 1] = '\0';
    snprintf(n->events_url, sizeof(n->events_url), "%s", c2 + 1);
    const char *why = lt_url_problem(n->rpc_url);
    if (why || (why = lt_url_problem(n->events_url)) != NULL) {
        bool rpc = lt_url_problem(n->rpc_url) != NULL;
        fprintf(stderr, "lithair-gateway: --node %lu: the %s URL '%s': %s\n", id,
                rpc ? "RPC" : "events", rpc ? n->rpc_url : n->events_url, why);
        return -1;
    }
    if (gw_node_index(&gw, id) >= 0) {
        fprintf(stderr, "lithair-gateway: node %lu given twice\n", id);
        return -1;
    }
    /* each node has URLs of its own (compared as text): a URL given twice made one node
     * two, its events bridged twice */
    const char *mine[2] = {n->rpc_url, n->events_url};
    if (strcmp(mine[0], mine[1]) == 0) {
        fprintf(stderr, "lithair-gateway: --node %lu: the RPC and events URLs are both %s\n", id,
                mine[0]);
        return -1;
    }
    for (size_t i = 0; i < gw.n_nodes; i++) {
        const char *theirs[2] = {gw.nodes[i].rpc_url, gw.nodes[i].events_url};
        for (int k = 0; k < 4; k++) {
            if (strcmp(mine[k / 2], theirs[k % 2]) == 0) {
                fprintf(stderr, "lithair-gateway: --node %lu: %s is also node %llu's %s URL\n", id,
                        mine[k / 2], (unsigned long long)gw.nodes[i].id, k % 2 ? "events" : "RPC");
                return -1;
            }
        }
    }
    gw.n_nodes++;
    return 0;
}

/* gw_exe_problem: why `path` cannot be run by execv, NULL if it can. */
static const char *gw_exe_problem(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return strerror(errno);
    if (!S_ISREG(sb.st_mode))
        return "not a regular file";
    return access(path, X_OK) != 0 ? strerror(errno) : NULL;
}

/* gw_find_node_bin: the lithair-node to run — `given` (--node-bin), else ../node/lithair-node
 * next to this program, else lithair-node in PATH — as a path execv can run (it does not
 * search PATH), written into buf when it is not `given`. NULL, after saying why on stderr,
 * when it is missing, not a regular file or not executable: found at start, not as nodes
 * that exit 127 one by one. */
static const char *gw_find_node_bin(const char *given, char *buf, size_t n)
{
    if (given) {
        const char *why = gw_exe_problem(given);
        if (why) {
            fprintf(stderr, "lithair-gateway: --node-bin %s: %s\n", given, why);
            return NULL;
        }
        return given;
    }
    char self[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (k > 0) {
        self[k] = '\0';
        snprintf(buf, n, "%s/../node/lithair-node", dirname(self));
        if (!gw_exe_problem(buf))
            return buf;
    }
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t len = strcspn(path, ":");
        if (len > 0 && (size_t)snprintf(buf, n, "%.*s/lithair-node", (int)len, path) < n &&
            !gw_exe_problem(buf))
            return buf;
        path += len + (path[len] == ':');
    }
    fprintf(stderr, "lithair-gateway: no lithair-node to run: none next to this program "
                    "(../node/lithair-node) nor in PATH; give --node-bin PATH\n");
    return NULL;
}

/* gw_leave ends the gateway once its own threads are stopped and its nodes reaped, without
 * NNG's teardown. NNG 1.5 (Debian 12) has none that is safe here: closing a socket whose
 * dialers are still (re)connecting, or nng_fini(), has destroyed a lock under an NNG task
 * thread still running (an NNG panic, "pthread_mutex_lock: Invalid argument", status -6,
 * right after "HTTP server stopped": seen in test_gateway on 2026-11-30, and once before),
 * and can hang (nng_close.h). Nothing is left to finish: the RPC and event
 * sockets only ever read, and _exit() ends every thread at once. The sanitizer builds first
 * run LeakSanitizer's check (exit's hook, which _exit skips), with NNG's state still
 * reachable from its open sockets and ours from `gw`. lithair-admin leaves the same way. */
static _Noreturn void gw_leave(int code)
{
    fflush(NULL);
#if defined(__SANITIZE_ADDRESS__)
    __lsan_do_leak_check();
#endif
    _exit(code);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"listen-addr", required_argument, NULL, 'A'},
        {"allowed-host", required_argument, NULL, 'H'},
        {"frontend", required_argument, NULL, 'f'},
        {"spawn", required_argument, NULL, 's'},
        {"data-dir", required_argument, NULL, 'd'},
        {"node-bin", required_argument, NULL, 'b'},
        {"node-base-port", required_argument, NULL, 'p'},
        {"node-arg", required_argument, NULL, 'a'},
        {"node-cpus", required_argument, NULL, 'P'},
        {"node", required_argument, NULL, 'n'},
        {"nodes", required_argument, NULL, 'N'}, /* DESIGN.md's spelling: pointed to --node */
        {"max-body", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 't'},
        {"request-timeout-ms", required_argument, NULL, 'T'},
        {"rpc-timeout-ms", required_argument, NULL, 'R'},
        {"coalesce", required_argument, NULL, 'c'},
        {"coalesce-senders", required_argument, NULL, 'S'},
        {"breaker-failures", required_argument, NULL, 'F'},
        {"breaker-cooldown-ms", required_argument, NULL, 'C'},
        {"log-level", required_argument, NULL, 'L'},
        {"anonymous-role", required_argument, NULL, 'O'},
        {"rate-limit", required_argument, NULL, 'r'},
        {"rate-burst", required_argument, NULL, 'B'},
        {"session-ttl-s", required_argument, NULL, 'X'},
        {"no-events", no_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned long v = 0, spawn = 0, base_port = 0;
    const char *data_dir = NULL, *node_bin = NULL;
    const char *node_args[64];
    size_t n_node_args = 0;
    int level = -1; /* none given: $LT_LOG_LEVEL, else info (lt_log_init) */
    bool no_events = false, pin_cpus = true;
    const char *sup_flag = NULL; /* a flag of supervisor mode given, for attach mode's error */
    int anon_role = 3;           /* admin */
    unsigned long rate = 0, burst = 0, ttl = 43200;
    gw.cfg = (struct gw_config){.listen_port = 0,
                                .max_body = 1u << 20,
                                .threads = 128,
                                .request_timeout_ms = 10000,
                                .rpc_timeout_ms = 5000,
                                .status_timeout_ms = 500,
                                .coalesce_max = 256,
                                /* two batches in flight: a write that arrives just after a
                                 * batch left waits for the next one to leave, not for it to
                                 * come back (HTTP p99 12.09 -> 8.89 ms, writes/s +7%:
                                 * docs/BENCHMARKS.md, "Session 21") */
                                .coalesce_senders = 2,
                                .breaker_failures = 5,
                                .breaker_cooldown_ms = 2000};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'l':
            bad = parse_uint("--listen", optarg, 1, 65535, &v);
            gw.cfg.listen_port = (int)v;
            break;
        case 'H':
            if (!gw_host_name_ok(optarg)) {
                fprintf(stderr,
                        "lithair-gateway: --allowed-host: bad name '%s' (a DNS name: letters, "
                        "digits, '-' and '.', at most 253 characters, no port)\n",
                        optarg);
                return 2;
            }
            if (gw.cfg.n_allowed_hosts >= GW_MAX_ALLOWED_HOSTS) {
                fprintf(stderr, "lithair-gateway: too many --allowed-host (%d at most)\n",
                        GW_MAX_ALLOWED_HOSTS);
                return 2;
            }
            gw.cfg.allowed_hosts[gw.cfg.n_allowed_hosts++] = optarg;
            break;
        case 'A': {
            static char addr[64];
            bool loopback;
            if (gw_listen_addr_parse(optarg, addr, sizeof(addr), &loopback) != 0) {
                fprintf(stderr,
                        "lithair-gateway: --listen-addr: bad address '%s' (expected an IPv4 "
                        "address in dotted-quad form such as 127.0.0.1 or 0.0.0.0, each part "
                        "0..255 without leading zeros)\n",
                        optarg);
                return 2;
            }
            gw.cfg.listen_addr = addr;
            break;
        }
        case 'f':
            gw.cfg.frontend_dir = optarg;
            break;
        case 's':
            bad = parse_uint("--spawn", optarg, 1, SUP_MAX_NODES, &spawn);
            break;
        case 'd':
            data_dir = optarg;
            sup_flag = "--data-dir";
            break;
        case 'b':
            node_bin = optarg;
            sup_flag = "--node-bin";
            break;
        case 'p':
            bad = parse_uint("--node-base-port", optarg, 0, 65000, &base_port);
            sup_flag = "--node-base-port";
            break;
        case 'a':
            sup_flag = "--node-arg";
            if (n_node_args + 1 >= sizeof(node_args) / sizeof(node_args[0])) {
                fprintf(stderr, "lithair-gateway: too many --node-arg\n");
                return 2;
            }
            node_args[n_node_args++] = optarg;
            break;
        case 'n':
            bad = add_node_arg(optarg);
            break;
        case 'P':
            sup_flag = "--node-cpus";
            if (strcmp(optarg, "auto") == 0 || strcmp(optarg, "off") == 0) {
                pin_cpus = strcmp(optarg, "auto") == 0;
            } else {
                fprintf(stderr, "lithair-gateway: --node-cpus: expected auto or off, got '%s'\n",
                        optarg);
                bad = 1;
            }
            break;
        case 'm':
            bad = parse_uint("--max-body", optarg, 1024, WIRE_RPC_MAX_REQUEST / 2, &v);
            gw.cfg.max_body = v;
            break;
        case 't':
            bad = parse_uint("--threads", optarg, 2, 4096, &v);
            gw.cfg.threads = (unsigned)v;
            break;
        case 'T':
            bad = parse_uint("--request-timeout-ms", optarg, 100, 3600000, &v);
            gw.cfg.request_timeout_ms = (unsigned)v;
            break;
        case 'R':
            bad = parse_uint("--rpc-timeout-ms", optarg, 10, 600000, &v);
            gw.cfg.rpc_timeout_ms = (unsigned)v;
            break;
        case 'c':
            bad = parse_uint("--coalesce", optarg, 1, 4096, &v);
            gw.cfg.coalesce_max = (unsigned)v;
            break;
        case 'S':
            bad = parse_uint("--coalesce-senders", optarg, 1, 16, &v);
            gw.cfg.coalesce_senders = (unsigned)v;
            break;
        case 'F':
            bad = parse_uint("--breaker-failures", optarg, 1, 1000, &v);
            gw.cfg.breaker_failures = (unsigned)v;
            break;
        case 'C':
            bad = parse_uint("--breaker-cooldown-ms", optarg, 1, 600000, &v);
            gw.cfg.breaker_cooldown_ms = (unsigned)v;
            break;
        case 'E':
            no_events = true;
            break;
        case 'O':
            anon_role = gw_user_role_parse(optarg);
            if (anon_role < 0) {
                fprintf(stderr, "lithair-gateway: --anonymous-role takes admin, editor, viewer or "
                                "none\n");
                return 2;
            }
            break;
        case 'r':
            bad = parse_uint("--rate-limit", optarg, 0, 1000000, &rate);
            break;
        case 'B':
            bad = parse_uint("--rate-burst", optarg, 1, 1000000, &burst);
            break;
        case 'X':
            bad = parse_uint("--session-ttl-s", optarg, 1, 31u * 24 * 3600, &ttl);
            break;
        case 'L':
            level = lt_log_parse_level(optarg);
            if (level < 0) {
                fprintf(stderr, "lithair-gateway: --log-level takes debug, info, warn or error\n");
                return 2;
            }
            break;
        case 'N':
            fprintf(stderr,
                    "lithair-gateway: attach mode names each node with its own --node "
                    "ID,RPC_URL,EVENTS_URL (repeat it), not --nodes '%s'\n",
                    optarg);
            return 2;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "lithair-gateway: %s needs a value (see --help)\n", argv[optind - 1]);
            return 2;
        default: /* lt_opt.h: also the first of a cluster such as -xyz */
            fprintf(stderr, "lithair-gateway: unknown option '%s' (see --help)\n",
                    lt_opt_refused(argc, argv, (char[3]){0}));
            return 2;
        }
        if (bad)
            return 2;
    }
    node_args[n_node_args] = NULL;
    if (optind < argc) {
        fprintf(stderr, "lithair-gateway: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (!gw.cfg.listen_port || !gw.cfg.frontend_dir) {
        fprintf(stderr, "lithair-gateway: --listen and --frontend are required (see --help)\n");
        return 2;
    }
    if ((spawn != 0) == (gw.n_nodes != 0)) {
        fprintf(stderr, "lithair-gateway: give either --spawn N (with --data-dir) or --node "
                        "ID,RPC_URL,EVENTS_URL (see --help)\n");
        return 2;
    }
    if (!spawn && sup_flag) { /* it would be ignored: the nodes run elsewhere */
        fprintf(stderr,
                "lithair-gateway: %s is for --spawn (supervisor mode); with --node the nodes "
                "run elsewhere (see --help)\n",
                sup_flag);
        return 2;
    }
    if (spawn && !data_dir) {
        fprintf(stderr, "lithair-gateway: --spawn needs --data-dir\n");
        return 2;
    }
    if (burst && !rate) {
        fprintf(stderr, "lithair-gateway: --rate-burst needs --rate-limit (without a limit "
                        "there is no bucket)\n");
        return 2;
    }
    struct stat sb;
    const char *bad_front = NULL;
    if (stat(gw.cfg.frontend_dir, &sb) != 0)
        bad_front = strerror(errno);
    else if (!S_ISDIR(sb.st_mode))
        bad_front = "not a directory";
    else if (access(gw.cfg.frontend_dir, R_OK | X_OK) != 0)
        bad_front = strerror(errno);
    if (bad_front) {
        fprintf(stderr, "lithair-gateway: --frontend %s: %s\n", gw.cfg.frontend_dir, bad_front);
        return 2;
    }
    char default_bin[PATH_MAX];
    if (spawn && (node_bin = gw_find_node_bin(node_bin, default_bin, sizeof(default_bin))) == NULL)
        return 2;
    lt_log_init("gateway", level);

    /* Signals are taken by sigwait below; block them before any thread starts. */
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc, exit_code = 1;
    char endpoints[GW_MAX_NODES * (GW_URL_MAX + 1)], events[GW_MAX_NODES * (GW_URL_MAX + 1)];
    gw.started_ns = lt_now_ns();
    /* A port taken is said before any node is spawned or dialed: found only by civetweb's
     * start, after the nodes had started, it cost their start and stop, and a gateway that
     * exited with its event dialers still connecting met NNG's teardown race (a leak report
     * under ASan that pushed "cannot listen" out of the log's last lines). civetweb's start
     * still says so if another process takes the port in between. */
    if (gw_server_can_listen(&gw) != 0)
        return 1;
    if ((rc = sse_hub_new(NULL, &gw.sse)) != 0) {
        lt_error("cannot make the SSE hub: %s", lt_strerror(rc));
        return 1;
    }
    if (spawn) {
        char why[600] = "";
        struct sup_opts so = {.node_bin = node_bin,
                              .data_dir = data_dir,
                              .n = (unsigned)spawn,
                              .base_port = (int)base_port,
                              .extra_args = node_args,
                              .pin_cpus = pin_cpus,
                              .on_event = on_sup_event,
                              .on_event_ud = &gw,
                              .errbuf = why,
                              .errbuf_len = sizeof(why)};
        if ((rc = sup_new(&so, &gw.sup)) != 0) {
            lt_error("cannot set up %lu nodes: %s", spawn, why[0] ? why : lt_strerror(rc));
            goto out;
        }
        for (unsigned i = 1; i <= spawn; i++) {
            struct gw_node *n = &gw.nodes[gw.n_nodes++];
            n->id = i;
            snprintf(n->rpc_url, sizeof(n->rpc_url), "%s", sup_rpc_url(gw.sup, i));
            snprintf(n->events_url, sizeof(n->events_url), "%s", sup_events_url(gw.sup, i));
        }
    }
    size_t eo = 0, vo = 0;
    for (size_t i = 0; i < gw.n_nodes; i++) {
        eo += (size_t)snprintf(endpoints + eo, sizeof(endpoints) - eo, "%s%s", i ? "," : "",
                               gw.nodes[i].rpc_url);
        vo += (size_t)snprintf(events + vo, sizeof(events) - vo, "%s%s", i ? "," : "",
                               gw.nodes[i].events_url);
    }
    struct rpc_client_opts ro = {.default_timeout_ms = gw.cfg.rpc_timeout_ms,
                                 .breaker_failures = gw.cfg.breaker_failures,
                                 .breaker_cooldown_ms = gw.cfg.breaker_cooldown_ms,
                                 .on_breaker = on_breaker,
                                 .on_breaker_ud = &gw};
    if ((rc = rpc_client_new(endpoints, &ro, &gw.client)) != 0) {
        lt_error("bad node RPC URLs '%s': %s", endpoints, lt_strerror(rc));
        if (!gw.sup && rc == LT_EINVAL)
            exit_code = 2; /* given by --node: a usage error */
        goto out;
    }
    if (!no_events && (rc = evb_new(events, gw.sse, &gw.evb)) != 0) {
        lt_error("bad node events URLs '%s': %s", events, lt_strerror(rc));
        if (!gw.sup && rc == LT_EINVAL)
            exit_code = 2;
        goto out;
    }
    /* Start the nodes only now: the event bridge is already dialing their event URLs, so
     * it sees the first election. */
    if (gw.sup && (rc = sup_start_all(gw.sup)) != 0)
        lt_warn("not every node started: %s", lt_strerror(rc));
    if (gw.cfg.coalesce_max > 1 &&
        (rc = gw_coalescer_new(&gw, gw.cfg.coalesce_max, gw.cfg.coalesce_senders, &gw.coalescer)) !=
            0) {
        lt_error("cannot start the write coalescer: %s", lt_strerror(rc));
        goto out;
    }
    if ((rc = gw_security_new(&gw, anon_role, (double)rate, (double)burst, (unsigned)ttl)) != 0) {
        lt_error("cannot set up the security layers: %s", lt_strerror(rc));
        goto out;
    }
    if ((rc = gw_items_register(&gw)) != 0 || (rc = gw_cluster_register(&gw)) != 0 ||
        (rc = gw_bench_register(&gw)) != 0 || (rc = gw_metrics_register(&gw)) != 0) {
        lt_error("cannot register the routes: %s", lt_strerror(rc));
        goto out;
    }
    if (gw_server_start(&gw) != 0)
        goto out;
    lt_info("%s mode, %zu nodes", gw.sup ? "supervisor" : "attach", gw.n_nodes);

    /* Wait for SIGINT/SIGTERM; twice a second, probe the breakers that are open, so that
     * the page sees a restarted node's circuit close without anyone calling it. */
    int sig = -1;
    struct timespec tick = {.tv_sec = 0, .tv_nsec = 500 * 1000000L};
    while (sig != SIGINT && sig != SIGTERM) {
        sig = sigtimedwait(&stop_sigs, NULL, &tick);
        if (sig < 0 && gw.client) {
            rpc_client_probe_open(gw.client, 300);
            gw_security_tick(&gw);
        }
    }
    lt_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    exit_code = 0;
out:
    if (gw.sse)
        sse_hub_shutdown(gw.sse);
    gw_server_stop(&gw);
    gw_bench_free(&gw);
    gw_security_free(&gw);
    gw_coalescer_free(gw.coalescer);
    evb_stop(gw.evb); /* its socket stays open: gw_leave */
    sup_free(gw.sup); /* stops the nodes */
    gw_leave(exit_code);
}
