/* test_gw_supervisor.c — the gateway's node supervisor (gateway/supervisor.c) with real
 * lithair-node processes: a 3-node cluster on free ports, kill -9 and the exit report,
 * restart on the same ports, the quorum rule, a graceful SIGTERM stop that exits 0,
 * stop_all leaving no child, and PR_SET_PDEATHSIG killing the nodes of a supervisor
 * whose process is killed -9; with pin_cpus, one CPU per node, round robin.
 *
 * The node binary: $LITHAIR_NODE_BIN, else ../../node/lithair-node next to this test's
 * executable (the build tree's layout: build/tests/unit/ and build/node/). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cunit_main.h"
#include "lt_clock.h"
#include "lt_cpu.h"
#include "lt_err.h"
#include "supervisor.h"
#include "testutil.h"

static char node_bin[PATH_MAX + 64];

/* A clean exit is 0. Under ThreadSanitizer the node exits 66 when TSAN reported anything
 * (today: liburcu-cds, which is not instrumented, freeing in its worker thread at
 * store_free); that is the node's report to read, not a failed stop. */
#ifdef __SANITIZE_THREAD__
#define NODE_TSAN_EXIT 66
#else
#define NODE_TSAN_EXIT 0
#endif

/* ---- events recorded by the callback ---- */

#define MAX_EVENTS 256

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv = PTHREAD_COND_INITIALIZER;
static struct sup_event events[MAX_EVENTS];
static size_t n_events;

static void on_event(void *ud, const struct sup_event *ev)
{
    (void)ud;
    pthread_mutex_lock(&ev_mu);
    if (n_events < MAX_EVENTS)
        events[n_events++] = *ev;
    pthread_cond_broadcast(&ev_cv);
    pthread_mutex_unlock(&ev_mu);
}

static void events_clear(void)
{
    pthread_mutex_lock(&ev_mu);
    n_events = 0;
    pthread_mutex_unlock(&ev_mu);
}

/* wait_event waits up to ms for an event of `kind` about node `id`; copies it to *out. */
static bool wait_event(unsigned id, enum sup_event_kind kind, unsigned ms, struct sup_event *out)
{
    uint64_t deadline = lt_now_ns() + (uint64_t)ms * 1000000u;
    bool found = false;
    pthread_mutex_lock(&ev_mu);
    while (!found) {
        for (size_t i = 0; i < n_events && !found; i++) {
            if (events[i].id == id && events[i].kind == kind) {
                *out = events[i];
                found = true;
            }
        }
        if (found || lt_now_ns() >= deadline)
            break;
        pthread_mutex_unlock(&ev_mu);
        lt_sleep_ms(10);
        pthread_mutex_lock(&ev_mu);
    }
    pthread_mutex_unlock(&ev_mu);
    return found;
}

/* event_pos returns the index of the first event of `kind` about node `id`, -1 if none. */
static int event_pos(unsigned id, enum sup_event_kind kind)
{
    int pos = -1;
    pthread_mutex_lock(&ev_mu);
    for (size_t i = 0; i < n_events && pos < 0; i++)
        if (events[i].id == id && events[i].kind == kind)
            pos = (int)i;
    pthread_mutex_unlock(&ev_mu);
    return pos;
}

/* ---- helpers ---- */

static int url_port(const char *url)
{
    const char *c = strrchr(url, ':');
    return c ? atoi(c + 1) : -1;
}

/* tcp_accepts tries to connect to 127.0.0.1:port. */
static bool tcp_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* wait_listening waits up to ms until node `id`'s rpc port accepts connections. */
static bool wait_listening(struct sup *s, unsigned id, unsigned ms)
{
    int port = url_port(sup_rpc_url(s, id));
    for (unsigned waited = 0; waited < ms; waited += 20) {
        if (tcp_accepts(port))
            return true;
        lt_sleep_ms(20);
    }
    return false;
}

static bool pid_gone(pid_t pid)
{
    return kill(pid, 0) == -1 && errno == ESRCH;
}

static int find_node_bin(void)
{
    const char *env = getenv("LITHAIR_NODE_BIN");
    if (env && *env) {
        snprintf(node_bin, sizeof(node_bin), "%s", env);
        return access(node_bin, X_OK);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    snprintf(node_bin, sizeof(node_bin), "%s/../../node/lithair-node", exe);
    return access(node_bin, X_OK);
}

static int suite_init(void)
{
    if (find_node_bin() != 0) {
        fprintf(stderr, "lithair-node not found (%s); set LITHAIR_NODE_BIN\n", node_bin);
        return -1;
    }
    return 0;
}

static const char *const quiet_args[] = {"--log-level", "warn", NULL};

static struct sup *make_sup(const char *dir, unsigned n)
{
    struct sup_opts o = {.node_bin = node_bin,
                         .data_dir = dir,
                         .n = n,
                         .extra_args = quiet_args,
                         .on_event = on_event,
                         .term_wait_ms = 8000};
    struct sup *s = NULL;
    CU_ASSERT_EQUAL_FATAL(sup_new(&o, &s), 0);
    return s;
}

/* ---- tests ---- */

static void test_bad_options(void)
{
    struct sup *s = NULL;
    struct sup_opts o = {.node_bin = "/bin/true", .data_dir = "/tmp/x", .n = 0};
    CU_ASSERT_EQUAL(sup_new(&o, &s), LT_EINVAL);
    o.n = SUP_MAX_NODES + 1;
    CU_ASSERT_EQUAL(sup_new(&o, &s), LT_EINVAL);
    o.n = 3;
    o.node_bin = NULL;
    CU_ASSERT_EQUAL(sup_new(&o, &s), LT_EINVAL);
    o.node_bin = "/bin/true";
    o.base_port = 65500;
    CU_ASSERT_EQUAL(sup_new(&o, &s), LT_EINVAL);
    CU_ASSERT_PTR_NULL(s);

    struct sup_event ev = {
        .id = 2, .kind = SUP_EV_EXITED, .pid = 42, .signal = SIGKILL, .exit_code = -1};
    char buf[160];
    CU_ASSERT_EQUAL(sup_event_json(&ev, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "{\"id\":2,\"state\":\"exited\",\"pid\":42,\"signal\":"
                                "\"SIGKILL\",\"exitCode\":null,\"error\":null}");
    ev.signal = 0;
    ev.exit_code = 1;
    snprintf(ev.error, sizeof(ev.error), "a \"quoted\" /path\\x");
    CU_ASSERT_EQUAL(sup_event_json(&ev, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "{\"id\":2,\"state\":\"exited\",\"pid\":42,\"signal\":null,"
                                "\"exitCode\":1,\"error\":\"a \\\"quoted\\\" /path\\\\x\"}");
    CU_ASSERT_EQUAL(sup_event_json(&ev, buf, 10), LT_ETOOBIG);
}

static void test_base_port_layout(void)
{
    char dir[256];
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(dir, sizeof(dir), "gwsup"), 0);
    struct sup_opts o = {.node_bin = node_bin, .data_dir = dir, .n = 3, .base_port = 7100};
    struct sup *s = NULL;
    CU_ASSERT_EQUAL_FATAL(sup_new(&o, &s), 0);
    CU_ASSERT_STRING_EQUAL(sup_raft_url(s, 1), "tcp://127.0.0.1:7101");
    CU_ASSERT_STRING_EQUAL(sup_rpc_url(s, 2), "tcp://127.0.0.1:7202");
    CU_ASSERT_STRING_EQUAL(sup_events_url(s, 3), "tcp://127.0.0.1:7303");
    CU_ASSERT_PTR_NULL(sup_rpc_url(s, 4));
    char eps[256];
    CU_ASSERT_EQUAL(sup_endpoints(s, false, eps, sizeof(eps)), 0);
    CU_ASSERT_STRING_EQUAL(eps, "tcp://127.0.0.1:7201,tcp://127.0.0.1:7202,tcp://127.0.0.1:7203");
    CU_ASSERT_EQUAL(sup_endpoints(s, true, eps, 30), LT_ETOOBIG);
    CU_ASSERT_EQUAL(sup_count(s), 3);
    CU_ASSERT_EQUAL(sup_quorum_needed(s), 2);
    CU_ASSERT_EQUAL(sup_running_count(s), 0);
    CU_ASSERT_FALSE(sup_kill_loses_quorum(s, 1)); /* not running */
    CU_ASSERT_EQUAL(sup_kill(s, 1, false, false), LT_EINVAL);
    CU_ASSERT_EQUAL(sup_kill(s, 9, false, false), LT_ENOTFOUND);
    CU_ASSERT_EQUAL(sup_restart(s, 0, NULL), LT_ENOTFOUND);
    sup_free(s);
    tu_rmrf(dir);
}

/* The full life of a 3-node cluster. */
static void test_cluster_life(void)
{
    char dir[256];
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(dir, sizeof(dir), "gwsup"), 0);
    events_clear();
    struct sup *s = make_sup(dir, 3);

    /* Free ports: nine distinct ones. */
    int ports[9];
    for (unsigned i = 1; i <= 3; i++) {
        ports[3 * (i - 1)] = url_port(sup_raft_url(s, i));
        ports[3 * (i - 1) + 1] = url_port(sup_rpc_url(s, i));
        ports[3 * (i - 1) + 2] = url_port(sup_events_url(s, i));
    }
    for (int i = 0; i < 9; i++) {
        CU_ASSERT(ports[i] > 0);
        for (int j = 0; j < i; j++)
            CU_ASSERT_NOT_EQUAL(ports[i], ports[j]);
    }

    CU_ASSERT_EQUAL_FATAL(sup_start_all(s), 0);
    CU_ASSERT_EQUAL(sup_running_count(s), 3);
    struct sup_event ev;
    pid_t pids[4] = {0};
    for (unsigned i = 1; i <= 3; i++) {
        CU_ASSERT_FATAL(wait_event(i, SUP_EV_STARTED, 1000, &ev));
        pids[i] = ev.pid;
        struct sup_node_info in;
        CU_ASSERT_EQUAL(sup_node_info(s, i, &in), 0);
        CU_ASSERT(in.running);
        CU_ASSERT_EQUAL(in.pid, pids[i]);
        CU_ASSERT_EQUAL(in.starts, 1);
        CU_ASSERT_FATAL(wait_listening(s, i, 15000));
    }
    char log_path[512];
    snprintf(log_path, sizeof(log_path), "%s/node1/node.log", dir);
    CU_ASSERT(tu_file_size(log_path) >= 0);
    CU_ASSERT_EQUAL(sup_restart(s, 1, NULL), LT_EEXIST);
    CU_ASSERT_FALSE(sup_kill_loses_quorum(s, 1)); /* 3 → 2 keeps a majority */

    /* kill -9 node 1: the reaper reports the signal. From the signal on, node 1 no longer
     * counts as running, before it is even reaped: a second kill of it is refused, and a
     * kill of another node that would leave 1 of 3 is refused (both decided under the
     * lock that sends the signal: concurrent kills cannot race past the quorum check). */
    events_clear();
    CU_ASSERT_EQUAL(sup_kill(s, 1, false, true), 0);
    /* "already killed, not exited yet" until the reap, "not running" after it */
    int again = sup_kill(s, 1, false, true);
    CU_ASSERT(again == LT_EEXIST || again == LT_EINVAL);
    CU_ASSERT_EQUAL(sup_kill(s, 2, false, true), LT_EBUSY);
    CU_ASSERT_EQUAL(sup_running_count(s), 2);
    CU_ASSERT(wait_event(1, SUP_EV_KILLED, 1000, &ev));
    CU_ASSERT_EQUAL(ev.signal, SIGKILL);
    CU_ASSERT_FATAL(wait_event(1, SUP_EV_EXITED, 5000, &ev));
    CU_ASSERT_EQUAL(ev.signal, SIGKILL);
    CU_ASSERT_EQUAL(ev.exit_code, -1);
    CU_ASSERT_EQUAL(ev.pid, pids[1]);
    CU_ASSERT(event_pos(1, SUP_EV_KILLED) >= 0 &&
              event_pos(1, SUP_EV_KILLED) < event_pos(1, SUP_EV_EXITED));
    CU_ASSERT_EQUAL(sup_wait_stopped(s, 1, 1000), 0);
    CU_ASSERT(pid_gone(pids[1]));
    struct sup_node_info in;
    CU_ASSERT_EQUAL(sup_node_info(s, 1, &in), 0);
    CU_ASSERT_FALSE(in.running);
    CU_ASSERT_EQUAL(in.last_signal, SIGKILL);
    CU_ASSERT_EQUAL(in.uptime_ms, 0);
    CU_ASSERT_EQUAL(sup_running_count(s), 2);
    CU_ASSERT_EQUAL(sup_kill(s, 1, false, false), LT_EINVAL);

    /* Quorum: with 2 of 3 running, killing either would leave 1 < 2. */
    CU_ASSERT(sup_kill_loses_quorum(s, 2));
    CU_ASSERT(sup_kill_loses_quorum(s, 3));
    CU_ASSERT_FALSE(sup_kill_loses_quorum(s, 1));

    /* Restart node 1 on the same URLs. */
    char rpc_before[SUP_URL_MAX];
    snprintf(rpc_before, sizeof(rpc_before), "%s", sup_rpc_url(s, 1));
    pid_t np = 0;
    CU_ASSERT_EQUAL_FATAL(sup_restart(s, 1, &np), 0);
    CU_ASSERT(np > 0 && np != pids[1]);
    CU_ASSERT(event_pos(1, SUP_EV_STARTED) > event_pos(1, SUP_EV_EXITED)); /* before return */
    CU_ASSERT(wait_event(1, SUP_EV_STARTED, 1000, &ev));
    CU_ASSERT_EQUAL(ev.pid, np);
    CU_ASSERT_STRING_EQUAL(sup_rpc_url(s, 1), rpc_before);
    CU_ASSERT(wait_listening(s, 1, 15000));
    CU_ASSERT_EQUAL(sup_node_info(s, 1, &in), 0);
    CU_ASSERT(in.running);
    CU_ASSERT_EQUAL(in.starts, 2);
    pids[1] = np;
    CU_ASSERT_FALSE(sup_kill_loses_quorum(s, 2));
    lt_sleep_ms(50);
    CU_ASSERT_EQUAL(sup_node_info(s, 1, &in), 0);
    CU_ASSERT(in.uptime_ms >= 40);

    /* Graceful stop: SIGTERM, the node exits 0. */
    events_clear();
    CU_ASSERT_EQUAL(sup_kill(s, 3, true, false), 0);
    CU_ASSERT(wait_event(3, SUP_EV_KILLED, 1000, &ev));
    CU_ASSERT_EQUAL(ev.signal, SIGTERM);
    CU_ASSERT_FATAL(wait_event(3, SUP_EV_EXITED, 1000, &ev));
    CU_ASSERT(event_pos(3, SUP_EV_KILLED) < event_pos(3, SUP_EV_EXITED));
    CU_ASSERT_EQUAL(ev.signal, 0);
    CU_ASSERT(ev.exit_code == 0 || ev.exit_code == NODE_TSAN_EXIT);
    CU_ASSERT(pid_gone(pids[3]));
    CU_ASSERT_EQUAL(sup_restart(s, 3, &np), 0);
    pids[3] = np;

    /* stop_all: every node stopped and reaped, no child left. */
    events_clear();
    sup_stop_all(s);
    CU_ASSERT_EQUAL(sup_running_count(s), 0);
    for (unsigned i = 1; i <= 3; i++) {
        CU_ASSERT(wait_event(i, SUP_EV_STOPPED, 1000, &ev));
        CU_ASSERT(pid_gone(pids[i]));
    }
    CU_ASSERT_EQUAL(waitpid(-1, NULL, WNOHANG), -1);
    CU_ASSERT_EQUAL(errno, ECHILD);

    /* The supervisor is usable again after stop_all; sup_free stops the rest. */
    CU_ASSERT_EQUAL(sup_restart(s, 2, &np), 0);
    CU_ASSERT(wait_listening(s, 2, 15000));
    sup_free(s);
    CU_ASSERT(pid_gone(np));
    tu_rmrf(dir);
}

/* node_threads_on: every thread of process `pid` may run on `cpu` only, but for its
 * background threads (named "bg:...", lt_cpu_background), which may run on any of `all`. */
static bool node_threads_on(pid_t pid, int cpu, const char *all)
{
    char dir[64], want[16];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    snprintf(want, sizeof(want), "%d", cpu);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    int pinned = 0, bad = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[384], line[256], list[200] = "", name[64] = "";
        snprintf(path, sizeof(path), "%s/%s/status", dir, e->d_name);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof(line), f)) {
            (void)(sscanf(line, "Name: %63s", name) == 1 ||
                   sscanf(line, "Cpus_allowed_list: %199s", list) == 1);
        }
        if (f)
            fclose(f);
        bool bg = strncmp(name, "bg:", 3) == 0;
        if (strcmp(list, bg ? all : want) != 0) {
            fprintf(stderr, "node %d: thread %s (%s) on CPUs %s\n", (int)pid, e->d_name, name,
                    list);
            bad++;
        }
        pinned += !bg;
    }
    closedir(d);
    return pinned > 1 && bad == 0;
}

/* pin_cpus: node I gets --cpu of the (I-1 mod K)th allowed CPU (none when K = 1), and every
 * thread of the running node stays there; without pin_cpus, no --cpu. */
static void test_cpu_layout(void)
{
    char dir[256];
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(dir, sizeof(dir), "gwsup"), 0);
    int cpus[LT_CPU_MAX];
    int k = lt_cpu_allowed(cpus, LT_CPU_MAX);
    CU_ASSERT_FATAL(k >= 1);
    struct sup_opts o = {
        .node_bin = node_bin, .data_dir = dir, .n = 5, .extra_args = quiet_args, .pin_cpus = true};
    struct sup *s = NULL;
    CU_ASSERT_EQUAL_FATAL(sup_new(&o, &s), 0);
    struct sup_node_info in;
    for (unsigned i = 1; i <= 5; i++) {
        CU_ASSERT_EQUAL(sup_node_info(s, i, &in), 0);
        CU_ASSERT_EQUAL(in.cpu, k >= 2 ? cpus[(i - 1) % (unsigned)k] : -1);
    }
    pid_t pid = 0;
    CU_ASSERT_EQUAL_FATAL(sup_restart(s, 2, &pid), 0);
    CU_ASSERT_FATAL(wait_listening(s, 2, 15000));
    char all[256];
    lt_cpu_list(cpus, (size_t)(k < LT_CPU_MAX ? k : LT_CPU_MAX), all, sizeof(all));
    if (k >= 2) /* pinned once recovered, before listening */
        CU_ASSERT(node_threads_on(pid, cpus[1 % k], all));
    sup_free(s);
    s = NULL;
    o.pin_cpus = false;
    CU_ASSERT_EQUAL_FATAL(sup_new(&o, &s), 0);
    for (unsigned i = 1; i <= 5; i++) {
        CU_ASSERT_EQUAL(sup_node_info(s, i, &in), 0);
        CU_ASSERT_EQUAL(in.cpu, -1);
    }
    sup_free(s);
    /* the user's own --cpu: the supervisor places nobody */
    static const char *const user_cpu[] = {"--log-level", "warn", "--cpu", "0", NULL};
    o.pin_cpus = true;
    o.extra_args = user_cpu;
    CU_ASSERT_EQUAL_FATAL(sup_new(&o, &s), 0);
    CU_ASSERT_EQUAL(sup_node_info(s, 2, &in), 0);
    CU_ASSERT_EQUAL(in.cpu, -1);
    sup_free(s);
    tu_rmrf(dir);
}

/* A supervisor whose process is killed -9 takes its nodes with it (PR_SET_PDEATHSIG).
 * The test makes itself a subreaper so the orphaned node is reparented here and can be
 * reaped and checked. */
static void test_parent_death(void)
{
    char dir[256];
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(dir, sizeof(dir), "gwsup"), 0);
    CU_ASSERT_EQUAL_FATAL(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int fds[2];
    CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
    pid_t gw = fork();
    CU_ASSERT_FATAL(gw >= 0);
    if (gw == 0) {
        close(fds[0]);
        struct sup_opts o = {
            .node_bin = node_bin, .data_dir = dir, .n = 1, .extra_args = quiet_args};
        struct sup *s = NULL;
        pid_t p = -1;
        if (sup_new(&o, &s) != 0 || sup_restart(s, 1, &p) != 0)
            p = -1;
        if (write(fds[1], &p, sizeof(p)) != (ssize_t)sizeof(p))
            _exit(3);
        for (int i = 0; i < 3000; i++) /* killed long before */
            usleep(10000);
        _exit(4);
    }
    close(fds[1]);
    pid_t node = -1;
    CU_ASSERT_EQUAL(read(fds[0], &node, sizeof(node)), (ssize_t)sizeof(node));
    close(fds[0]);
    CU_ASSERT_FATAL(node > 0);
    lt_sleep_ms(200);
    CU_ASSERT_EQUAL(kill(node, 0), 0);
    kill(gw, SIGKILL);
    int st = 0;
    CU_ASSERT_EQUAL(waitpid(gw, &st, 0), gw);
    CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* The node, now our child, dies of SIGKILL. */
    pid_t r = 0;
    for (int i = 0; i < 500 && r == 0; i++) {
        r = waitpid(node, &st, WNOHANG);
        if (r == 0)
            lt_sleep_ms(10);
    }
    CU_ASSERT_EQUAL(r, node);
    CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    if (r != node) {
        kill(node, SIGKILL);
        waitpid(node, NULL, 0);
    }
    CU_ASSERT(pid_gone(node));
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    tu_rmrf(dir);
}

/* A node that stops on its own says why: the supervisor reports the first ERROR line of
 * that run with its exit (event and node info), and a later run that logged none reports
 * none — not the earlier run's line again. */
static void test_exit_reason(void)
{
    char dir[256], wal[600], junk[700];
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(dir, sizeof(dir), "gwsupwhy"), 0);
    events_clear();
    struct sup *s = make_sup(dir, 1);
    /* a file named like a WAL segment that holds junk: the node refuses to start */
    snprintf(wal, sizeof(wal), "%s/node1/wal", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(wal, 0755), 0);
    snprintf(junk, sizeof(junk), "%s/0000000000000001-0000000000000001.wal", wal);
    FILE *f = fopen(junk, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("not a segment, not a segment, not a segment, not a segment", f);
    fclose(f);

    CU_ASSERT_EQUAL(sup_restart(s, 1, NULL), 0);
    struct sup_event ev;
    CU_ASSERT_FATAL(wait_event(1, SUP_EV_EXITED, 15000, &ev));
    CU_ASSERT(ev.exit_code > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(ev.error, junk));
    CU_ASSERT_PTR_NOT_NULL(strstr(ev.error, "corrupt"));
    CU_ASSERT_PTR_NULL(strstr(ev.error, "ERROR")); /* the message alone */
    CU_ASSERT(strncmp(ev.error, "20", 2) != 0);    /* no time stamp */
    struct sup_node_info in;
    CU_ASSERT_EQUAL(sup_node_info(s, 1, &in), 0);
    CU_ASSERT_STRING_EQUAL(in.last_error, ev.error);
    char buf[1024];
    CU_ASSERT_EQUAL(sup_event_json(&ev, buf, sizeof(buf)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"error\":\""));
    if (!strstr(ev.error, "corrupt"))
        fprintf(stderr, "exit reason: '%s'\n", ev.error);

    /* without the junk it starts; killed, it logged no error: none is reported */
    CU_ASSERT_EQUAL(unlink(junk), 0);
    events_clear();
    CU_ASSERT_EQUAL(sup_restart(s, 1, NULL), 0);
    CU_ASSERT(wait_listening(s, 1, 15000));
    CU_ASSERT_EQUAL(sup_node_info(s, 1, &in), 0);
    CU_ASSERT_STRING_EQUAL(in.last_error, ""); /* a new run clears it */
    CU_ASSERT_EQUAL(sup_kill(s, 1, false, false), 0);
    CU_ASSERT_FATAL(wait_event(1, SUP_EV_EXITED, 15000, &ev));
    CU_ASSERT_EQUAL(ev.signal, SIGKILL);
    CU_ASSERT_STRING_EQUAL(ev.error, "");
    CU_ASSERT_EQUAL(sup_node_info(s, 1, &in), 0);
    CU_ASSERT_STRING_EQUAL(in.last_error, "");
    sup_free(s);
    tu_rmrf(dir);
}

/* A SIGTERM at once after a start stops the node gracefully (exit 0), never by the signal's
 * default action: the node blocks its stop signals in main, and the supervisor's child
 * execs it with them blocked already, so one sent before main is held, not fatal (a soak
 * saw 'exited: signal 15' for nodes stopped in their first milliseconds). */
static void test_stop_at_start(void)
{
    char dir[256];
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(dir, sizeof(dir), "gwsupearly"), 0);
    struct sup *s = make_sup(dir, 1);
    for (int i = 0; i < 5; i++) {
        events_clear();
        CU_ASSERT_EQUAL_FATAL(sup_restart(s, 1, NULL), 0);
        int rc = sup_kill(s, 1, true, false); /* at once: the exec has just been reported */
        CU_ASSERT_EQUAL(rc, 0);
        struct sup_event ev;
        CU_ASSERT_FATAL(wait_event(1, SUP_EV_EXITED, 15000, &ev));
        CU_ASSERT_EQUAL(ev.signal, 0);
        CU_ASSERT_EQUAL(ev.exit_code, 0);
        if (ev.signal != 0 || ev.exit_code != 0)
            fprintf(stderr, "stop %d at start: signal %d, exit code %d\n", i, ev.signal,
                    ev.exit_code);
    }
    sup_free(s);
    tu_rmrf(dir);
}

/* A binary that cannot be executed: the restart fails (no process that dies at once
 * reported as started), the node says why (exitError), and its node.log has the line. */
static void test_exec_failure(void)
{
    char dir[256], bin[400], log[600];
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(dir, sizeof(dir), "gwsupexec"), 0);
    snprintf(bin, sizeof(bin), "%s/no-such-node", dir);
    events_clear();
    struct sup_opts o = {.node_bin = bin, .data_dir = dir, .n = 1, .on_event = on_event};
    struct sup *s = NULL;
    CU_ASSERT_EQUAL_FATAL(sup_new(&o, &s), 0);
    pid_t pid = 0;
    CU_ASSERT_EQUAL(sup_restart(s, 1, &pid), LT_EIO);
    struct sup_event ev;
    CU_ASSERT_FATAL(wait_event(1, SUP_EV_EXITED, 5000, &ev));
    CU_ASSERT_EQUAL(ev.exit_code, 127);
    CU_ASSERT_PTR_NOT_NULL(strstr(ev.error, "cannot execute"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ev.error, bin));
    CU_ASSERT_PTR_NOT_NULL(strstr(ev.error, "No such file or directory"));
    struct sup_node_info in;
    CU_ASSERT_EQUAL(sup_node_info(s, 1, &in), 0);
    CU_ASSERT_FALSE(in.running);
    CU_ASSERT_EQUAL(in.last_exit_code, 127);
    CU_ASSERT_STRING_EQUAL(in.last_error, ev.error);
    CU_ASSERT_EQUAL(sup_running_count(s), 0);
    snprintf(log, sizeof(log), "%s/node1/node.log", dir);
    FILE *f = fopen(log, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[512] = "";
    CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof(line), f));
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, " ERROR node1 cannot execute"));
    /* a file that is there but not executable: EACCES */
    f = fopen(bin, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    events_clear();
    CU_ASSERT_EQUAL(sup_restart(s, 1, NULL), LT_EIO);
    CU_ASSERT_FATAL(wait_event(1, SUP_EV_EXITED, 5000, &ev));
    CU_ASSERT_PTR_NOT_NULL(strstr(ev.error, "Permission denied"));
    sup_free(s);
    tu_rmrf(dir);
}

/* sup_new names the data directory it cannot use, and why. */
static void test_data_dir_errors(void)
{
    char dir[256], path[400], err[600];
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(dir, sizeof(dir), "gwsupdir"), 0);
    snprintf(path, sizeof(path), "%s/afile", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    struct sup_opts o = {.node_bin = "/bin/true",
                         .data_dir = path,
                         .n = 1,
                         .errbuf = err,
                         .errbuf_len = sizeof(err)};
    struct sup *s = NULL;
    err[0] = '\0';
    CU_ASSERT_EQUAL(sup_new(&o, &s), LT_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a directory"));
    snprintf(path, sizeof(path), "%s/afile/sub", dir); /* a file on the way: named */
    err[0] = '\0';
    CU_ASSERT_EQUAL(sup_new(&o, &s), LT_EIO);
    char on_the_way[420];
    snprintf(on_the_way, sizeof(on_the_way), "%s/afile exists and is not a directory", dir);
    CU_ASSERT_STRING_EQUAL(err, on_the_way);
    if (geteuid() != 0) { /* root may write anywhere */
        snprintf(path, sizeof(path), "%s/ro", dir);
        CU_ASSERT_EQUAL(mkdir(path, 0555), 0);
        snprintf(path, sizeof(path), "%s/ro/data", dir);
        err[0] = '\0';
        CU_ASSERT_EQUAL(sup_new(&o, &s), LT_EIO);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "Permission denied"));
        snprintf(path, sizeof(path), "%s/ro", dir);
        chmod(path, 0755);
    }
    CU_ASSERT_PTR_NULL(s);
    tu_rmrf(dir);
}

static const struct lt_test sup_tests[] = {
    {"bad_options", test_bad_options},         {"base_port_layout", test_base_port_layout},
    {"parent_death", test_parent_death},       {"cluster_life", test_cluster_life},
    {"cpu_layout", test_cpu_layout},           {"exit_reason", test_exit_reason},
    {"stop_at_start", test_stop_at_start},     {"exec_failure", test_exec_failure},
    {"data_dir_errors", test_data_dir_errors}, {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"gw_supervisor", suite_init, NULL, sup_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
