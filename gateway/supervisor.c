/* supervisor.c — forks, signals and reaps the lithair-node children of the gateway's
 * supervisor mode (see supervisor.h for the contract).
 *
 * One supervisor thread does both the forking and the reaping. Forking there, and not in
 * the HTTP thread that asked, matters: PR_SET_PDEATHSIG fires when the *thread* that
 * forked a child ends, so children are forked from a thread that lives exactly as long
 * as the supervisor. Requests reach it through `spawn_id` under the mutex; it polls its
 * children with waitpid(pid, WNOHANG) every SUP_POLL_MS (only our own pids: the gateway
 * may have other children that are none of our business), and anyone waiting for a
 * start or an exit sleeps on the condition variable it broadcasts.
 *
 * In the child, between fork and exec, only async-signal-safe calls run: prctl, setpgid
 * (a Ctrl-C in the gateway's terminal goes to the gateway, which stops the nodes
 * itself), open/dup2 of the log, close_range of every inherited descriptor, signal
 * dispositions reset, the mask set to the stop signals alone (held for the node), execv.
 *
 * When a node ends, the supervisor reads what that run appended to its log and reports
 * the first ERROR line with the exit: a node that stops on its own (a full disk, a corrupt
 * WAL it refuses to start from) says why where its state is shown, not only in the file. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "lt_clock.h"
#include "lt_cpu.h"
#include "lt_err.h"
#include "lt_log.h"
#include "lt_utf8.h"

#define SUP_POLL_MS        20
#define SUP_TERM_WAIT_MS   5000
#define SUP_KILL_WAIT_MS   5000
#define SUP_ALL_SECOND_MS  50 /* stopping all: the second SIGTERM after this (sup_stop_all) */
#define SUP_MAX_EXTRA_ARGS 64

struct sup_node {
    unsigned id;
    char raft_url[SUP_URL_MAX];
    char rpc_url[SUP_URL_MAX];
    char events_url[SUP_URL_MAX];
    char data_dir[512];
    char log_path[600];
    bool running;
    bool stopping; /* sup_stop_all ended it: report STOPPED, not EXITED */
    pid_t pid;
    uint64_t started_ns;
    uint64_t starts;
    int last_signal;
    int last_exit_code;
    char last_error[SUP_ERROR_MAX];
    off_t log_start; /* the log's size when the current run started: its lines come after */
    int cpu;         /* --cpu for it, -1: none */
    int kill_sig;    /* a signal sup_kill sent, not yet reported (0: none) */
    pid_t kill_pid;
    int doomed_sig; /* non-zero: sup_kill sent this process that signal: it is on its way
                     * out, not "running" for the quorum count nor for a second kill of the
                     * same strength (set and cleared under mu) */
};

struct sup {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast on every start, exit and request */
    pthread_t thread;
    bool quit;
    bool stopping_all;
    pthread_mutex_t spawn_mu; /* one spawn request at a time */
    unsigned spawn_id;        /* request for the thread: start this node (0: none) */
    int spawn_rc;
    pid_t spawn_pid;
    bool spawn_done;

    char *node_bin;
    char *data_dir;
    char **extra;
    size_t n_extra;
    unsigned term_wait_ms;
    sup_event_fn on_event;
    void *on_event_ud;
    unsigned n;
    struct sup_node nodes[SUP_MAX_NODES];
};

static void sup_emit(struct sup *s, const struct sup_event *ev)
{
    if (s->on_event)
        s->on_event(s->on_event_ud, ev);
}

static struct sup_node *sup_find(struct sup *s, unsigned id)
{
    if (id < 1 || id > s->n)
        return NULL;
    return &s->nodes[id - 1];
}

/* sup_err writes why sup_new failed into o->errbuf (when given). */
static void sup_err(const struct sup_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sup_err(const struct sup_opts *o, const char *fmt, ...)
{
    if (!o->errbuf || !o->errbuf_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->errbuf, o->errbuf_len, fmt, ap);
    va_end(ap);
}

/* sup_mkdir makes directory `path` if missing; with `last`, it must also be writable (the
 * node's own directory, or the one it is made in). */
static int sup_mkdir(const struct sup_opts *o, const char *path, bool last)
{
    struct stat st;
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        sup_err(o, "cannot make directory %s: %s", path, strerror(errno));
        return LT_EIO;
    }
    if (stat(path, &st) != 0) {
        sup_err(o, "cannot use %s: %s", path, strerror(errno));
        return LT_EIO;
    }
    if (!S_ISDIR(st.st_mode)) {
        sup_err(o, "%s exists and is not a directory", path);
        return LT_EIO;
    }
    if (last && access(path, R_OK | W_OK | X_OK) != 0) {
        sup_err(o, "cannot write in %s: %s", path, strerror(errno));
        return LT_EIO;
    }
    return 0;
}

/* sup_mkdir_p makes `path` and its parents. */
static int sup_mkdir_p(const struct sup_opts *o, const char *path)
{
    char tmp[512];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(tmp)) {
        sup_err(o, "data directory path of %zu bytes: at most %zu", len, sizeof(tmp) - 1);
        return LT_EINVAL;
    }
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/' && p[1] && p[-1] != '/') {
            *p = '\0';
            if (sup_mkdir(o, tmp, false))
                return LT_EIO;
            *p = '/';
        }
    }
    return sup_mkdir(o, tmp, true);
}

/* sup_bind_port binds a TCP socket to 127.0.0.1:port (0: any); the fd, or -1. */
static int sup_bind_port(int port, int *got)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    socklen_t al = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || getsockname(fd, (struct sockaddr *)&a, &al)) {
        close(fd);
        return -1;
    }
    *got = ntohs(a.sin_port);
    return fd;
}

/* sup_pick_ports finds `count` distinct free ports: each one bound at once (so they are
 * distinct), read and released. They are drawn at random from below the kernel's ephemeral
 * range (ip_local_port_range): a port from inside it, say one bind(0) gave, can be taken by
 * any outgoing connect() as its source port before the node binds it (seen once under
 * parallel tests: a node could not listen and exited). Only other explicit binds compete
 * for these, and a port one of them holds fails the bind here. */
static int sup_pick_ports(int *ports, size_t count)
{
    int fds[3 * SUP_MAX_NODES];
    size_t opened = 0;
    int eph_lo = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d", &eph_lo) != 1)
            eph_lo = 32768;
        fclose(f);
    }
    int lo = eph_lo > 12000 ? 10000 : 1024, span = eph_lo > lo ? eph_lo - lo : 0;
    uint64_t x = lt_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
    for (; opened < count; opened++) {
        int fd = -1;
        for (int tries = 0; fd < 0 && span > 0 && tries < 200; tries++) {
            x ^= x << 13; /* xorshift64 */
            x ^= x >> 7;
            x ^= x << 17;
            fd = sup_bind_port(lo + (int)(x % (uint64_t)span), &ports[opened]);
        }
        if (fd < 0) /* nothing free down there: any port */
            fd = sup_bind_port(0, &ports[opened]);
        if (fd < 0)
            break;
        fds[opened] = fd;
    }
    for (size_t i = 0; i < opened; i++)
        close(fds[i]);
    return opened == count ? 0 : LT_EIO;
}

static void sup_free_strings(struct sup *s)
{
    for (size_t i = 0; i < s->n_extra; i++)
        free(s->extra[i]);
    free(s->extra);
    free(s->node_bin);
    free(s->data_dir);
}

/* sup_build_argv makes the argv of node `nd` (malloc'd array of malloc'd strings,
 * NULL-ended). Called in the parent, before fork. */
static char **sup_build_argv(struct sup *s, const struct sup_node *nd)
{
    size_t max = 13 + 2 * (size_t)s->n + s->n_extra + 1;
    char **argv = calloc(max, sizeof(*argv));
    if (!argv)
        return NULL;
    size_t k = 0;
    char idbuf[16];
    snprintf(idbuf, sizeof(idbuf), "%u", nd->id);
    const char *fixed[] = {s->node_bin,  "--id",     idbuf,         "--data-dir",
                           nd->data_dir, "--raft",   nd->raft_url,  "--rpc",
                           nd->rpc_url,  "--events", nd->events_url};
    bool ok = true;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        ok = ok && (argv[k++] = strdup(fixed[i])) != NULL;
    for (unsigned i = 0; ok && i < s->n; i++) {
        const struct sup_node *m = &s->nodes[i];
        char peer[16 + 3 * SUP_URL_MAX];
        snprintf(peer, sizeof(peer), "%u,%s,%s,%s", m->id, m->raft_url, m->rpc_url, m->events_url);
        ok = (argv[k++] = strdup("--peer")) != NULL && (argv[k++] = strdup(peer)) != NULL;
    }
    if (ok && nd->cpu >= 0) {
        char cpubuf[16];
        snprintf(cpubuf, sizeof(cpubuf), "%d", nd->cpu);
        ok = (argv[k++] = strdup("--cpu")) != NULL && (argv[k++] = strdup(cpubuf)) != NULL;
    }
    for (size_t i = 0; ok && i < s->n_extra; i++)
        ok = (argv[k++] = strdup(s->extra[i])) != NULL;
    if (!ok) {
        for (size_t i = 0; i < max; i++)
            free(argv[i]);
        free(argv);
        return NULL;
    }
    return argv;
}

static void sup_free_argv(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

/* The write end of the exec-report pipe in the child: a fixed descriptor, kept open by
 * close_range and closed by a successful exec (FD_CLOEXEC). */
#define SUP_EXEC_FD 3

/* sup_child runs in the forked child: async-signal-safe calls only, then exec. If the
 * exec fails, its errno goes to `report` (the supervisor reads it: sup_do_spawn). */
static void sup_child(const char *log_path, char **argv, pid_t parent, int report)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* the gateway died before prctl took effect */
        _exit(127);
    setpgid(0, 0);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, STDIN_FILENO);
    if (report != SUP_EXEC_FD && dup2(report, SUP_EXEC_FD) < 0)
        _exit(127);
    fcntl(SUP_EXEC_FD, F_SETFD, FD_CLOEXEC);
    close_range(SUP_EXEC_FD + 1, ~0u, 0);
    static const int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT, SIGUSR1};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], SIG_DFL);
    /* The node starts with its stop signals blocked (its main blocks them too, and a
     * thread of its own takes them with sigwait): a SIGTERM sent before main runs is then
     * held for it, a graceful stop, not the default action (a soak saw nodes stopped in their
     * first milliseconds die by signal 15). Every other signal is unblocked. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigprocmask(SIG_SETMASK, &stop, NULL);
    execv(argv[0], argv);
    int err = errno;
    ssize_t w;
    do
        w = write(SUP_EXEC_FD, &err, sizeof(err));
    while (w < 0 && errno == EINTR);
    _exit(127);
}

/* sup_exec_failed records that node `nd`'s exec failed with `err`: one ERROR line appended
 * to its log in lt_log's format (so the log says why, and sup_log_error finds it), and
 * that line's message in `msg`. */
static void sup_exec_failed(struct sup *s, struct sup_node *nd, int err, char *msg, size_t n)
{
    snprintf(msg, n, "cannot execute %s: %s", s->node_bin, strerror(err));
    int fd = open(nd->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    char line[SUP_ERROR_MAX + 96], ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    int k = snprintf(line, sizeof(line),
                     "%s.%03ldZ ERROR node%u %s (from the gateway's "
                     "supervisor)\n",
                     ts, now.tv_nsec / 1000000L, nd->id, msg);
    if (k > 0)
        (void)!write(fd, line, (size_t)k < sizeof(line) ? (size_t)k : sizeof(line) - 1);
    close(fd);
}

/* sup_do_spawn forks node `id`; *log_start is its log's size before. Returns 0 once the
 * child has exec'd; LT_EIO with *exec_err set (the child is reaped) when the exec failed,
 * or with *exec_err 0 when fork or pipe did. Runs on the supervisor thread, lock not held. */
static int sup_do_spawn(struct sup *s, unsigned id, pid_t *out, off_t *log_start, int *exec_err)
{
    struct sup_node *nd = &s->nodes[id - 1];
    *exec_err = 0;
    char **argv = sup_build_argv(s, nd);
    if (!argv)
        return LT_ENOMEM;
    struct stat st;
    *log_start = stat(nd->log_path, &st) == 0 ? st.st_size : 0;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        sup_free_argv(argv);
        return LT_EIO;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        sup_child(nd->log_path, argv, parent, pfd[1]);
    sup_free_argv(argv);
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        return LT_EIO;
    }
    /* the exec closes the pipe (nothing read), or the child sends its errno and exits */
    int err = 0;
    ssize_t r;
    do
        r = read(pfd[0], &err, sizeof(err));
    while (r < 0 && errno == EINTR);
    close(pfd[0]);
    if (r == (ssize_t)sizeof(err)) {
        int wst;
        while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
            ;
        *exec_err = err ? err : ENOEXEC;
        *out = pid;
        return LT_EIO;
    }
    *out = pid;
    return 0;
}

/* sup_reap_one checks node `nd` without blocking. Lock held; fills *ev and returns true
 * when the node ended. */
static bool sup_reap_one(struct sup_node *nd, struct sup_event *ev)
{
    int st;
    pid_t r = waitpid(nd->pid, &st, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR))
        return false;
    int sig = 0, code = -1;
    if (r > 0 && WIFSIGNALED(st))
        sig = WTERMSIG(st);
    else if (r > 0 && WIFEXITED(st))
        code = WEXITSTATUS(st);
    else if (r > 0)
        return false; /* stopped/continued: not an exit */
    /* r < 0 (ECHILD): someone else reaped it; it is gone, the status unknown. */
    nd->running = false;
    nd->doomed_sig = 0;
    nd->last_signal = sig;
    nd->last_exit_code = code;
    ev->id = nd->id;
    ev->kind = nd->stopping ? SUP_EV_STOPPED : SUP_EV_EXITED;
    ev->pid = nd->pid;
    ev->signal = sig;
    ev->exit_code = code;
    ev->error[0] = '\0'; /* read from its log by the caller */
    nd->stopping = false;
    return true;
}

#define SUP_LOG_TAIL (64 * 1024)

/* sup_log_read returns what a run appended to its log (from offset `from`; of a long run,
 * its last SUP_LOG_TAIL bytes) as a string to free; NULL if there is none or the log
 * cannot be read. */
static char *sup_log_read(const char *path, off_t from)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= from) {
        close(fd);
        return NULL;
    }
    if (st.st_size - from > SUP_LOG_TAIL)
        from = st.st_size - SUP_LOG_TAIL;
    char *buf = malloc(SUP_LOG_TAIL + 1);
    ssize_t got = buf ? pread(fd, buf, (size_t)(st.st_size - from), from) : -1;
    close(fd);
    if (got <= 0) {
        free(buf);
        return NULL;
    }
    buf[got] = 0;
    return buf;
}

/* sup_log_error copies to out the first ERROR line in what a run appended to its log,
 * without the line's time, level and name; "" if there is none or the log cannot be read. */
static void sup_log_error(const char *path, off_t from, char *out, size_t outlen)
{
    out[0] = 0;
    char *buf = sup_log_read(path, from);
    if (!buf)
        return;
    /* "2026-11-28T16:41:51.370Z ERROR node1 the message" (lt_log's format) */
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        char *lvl = strchr(line, ' ');
        if (!lvl || strncmp(lvl, " ERROR ", 7) != 0)
            continue;
        char *msg = lvl + 7;
        while (*msg == ' ')
            msg++;
        char *sp = strchr(msg, ' '); /* past the name */
        msg = sp ? sp + 1 : msg;
        snprintf(out, outlen, "%s", msg);
        for (char *c = out; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = ' ';
        lt_utf8_scrub(out); /* a sequence cut at the end, or bytes of a path */
        break;
    }
    free(buf);
}

int sup_stop_handover(struct sup *s, unsigned id, uint64_t *to)
{
    *to = 0;
    struct sup_node *nd = sup_find(s, id);
    if (!nd)
        return 0;
    char path[sizeof(nd->log_path)];
    pthread_mutex_lock(&s->mu);
    snprintf(path, sizeof(path), "%s", nd->log_path);
    off_t from = nd->log_start;
    pthread_mutex_unlock(&s->mu);
    char *buf = sup_log_read(path, from);
    if (!buf)
        return 0;
    /* lithair-node's lines (node.c, node_stop_due): the last stop's, so the last ones */
    const char *offered = NULL, *done = NULL;
    for (const char *p = buf; (p = strstr(p, "stopping: handing leadership over")); p++)
        offered = p;
    for (const char *p = offered; p && (p = strstr(p, "stopping: node ")); p++) {
        unsigned long long leader;
        int n = 0;
        if (sscanf(p, "stopping: node %llu leads now%n", &leader, &n) == 1 && n > 0) {
            *to = leader;
            done = p;
        }
    }
    int rc = !offered ? 0 : done ? 1 : -1;
    free(buf);
    return rc;
}

static void sup_deadline(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *sup_thread_main(void *arg)
{
    struct sup *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        /* Every event is emitted from this thread, in the order things happened:
         * started, then killed, then exited. */
        struct sup_event evs[3 * SUP_MAX_NODES];
        size_t n_ev = 0;
        bool spawned = false;
        if (s->spawn_id) {
            unsigned id = s->spawn_id;
            s->spawn_id = 0;
            pthread_mutex_unlock(&s->mu);
            pid_t pid = 0;
            off_t log_start = 0;
            int exec_err = 0;
            int rc = sup_do_spawn(s, id, &pid, &log_start, &exec_err);
            char why[SUP_ERROR_MAX] = "";
            if (exec_err)
                sup_exec_failed(s, &s->nodes[id - 1], exec_err, why, sizeof(why));
            pthread_mutex_lock(&s->mu);
            if (exec_err) { /* never ran: its state says why, and one event reports it */
                struct sup_node *nd = &s->nodes[id - 1];
                nd->pid = pid;
                nd->last_signal = 0;
                nd->last_exit_code = 127;
                memcpy(nd->last_error, why, sizeof(nd->last_error));
                struct sup_event *e = &evs[n_ev++];
                *e = (struct sup_event){
                    .id = id, .kind = SUP_EV_EXITED, .pid = pid, .exit_code = 127};
                memcpy(e->error, why, sizeof(e->error));
            }
            if (rc == 0) {
                struct sup_node *nd = &s->nodes[id - 1];
                nd->log_start = log_start;
                nd->last_error[0] = 0;
                nd->running = true;
                nd->stopping = false;
                nd->doomed_sig = 0;
                nd->kill_sig = 0;
                nd->pid = pid;
                nd->started_ns = lt_now_ns();
                nd->starts++;
                evs[n_ev++] = (struct sup_event){
                    .id = id, .kind = SUP_EV_STARTED, .pid = pid, .exit_code = -1};
            }
            s->spawn_rc = rc;
            s->spawn_pid = pid;
            spawned = true;
        }
        for (unsigned i = 0; i < s->n; i++) {
            struct sup_node *nd = &s->nodes[i];
            if (nd->kill_sig) {
                evs[n_ev++] = (struct sup_event){.id = nd->id,
                                                 .kind = SUP_EV_KILLED,
                                                 .pid = nd->kill_pid,
                                                 .signal = nd->kill_sig,
                                                 .exit_code = -1};
                nd->kill_sig = 0;
            }
        }
        bool reaped = false;
        for (unsigned i = 0; i < s->n; i++) {
            if (s->nodes[i].running && sup_reap_one(&s->nodes[i], &evs[n_ev])) {
                n_ev++;
                reaped = true;
            }
        }
        if (n_ev) {
            pthread_mutex_unlock(&s->mu);
            for (size_t i = 0; i < n_ev; i++) {
                struct sup_event *e = &evs[i];
                if ((e->kind == SUP_EV_EXITED || e->kind == SUP_EV_STOPPED) && !e->error[0]) {
                    /* log_path and log_start change only on this thread */
                    struct sup_node *nd = &s->nodes[e->id - 1];
                    sup_log_error(nd->log_path, nd->log_start, e->error, sizeof(e->error));
                    pthread_mutex_lock(&s->mu);
                    memcpy(nd->last_error, e->error, sizeof(nd->last_error));
                    pthread_mutex_unlock(&s->mu);
                }
                if (e->kind == SUP_EV_STARTED)
                    lt_log(LT_LOG_INFO, "node %u started: pid %d", e->id, (int)e->pid);
                else if (e->kind == SUP_EV_KILLED)
                    lt_log(LT_LOG_INFO, "node %u (pid %d): sent %s", e->id, (int)e->pid,
                           sup_signal_name(e->signal));
                else
                    lt_log(e->error[0] ? LT_LOG_WARN : LT_LOG_INFO,
                           "node %u (pid %d) %s: exit code %d, signal %d%s%s", e->id, (int)e->pid,
                           sup_event_name(e->kind), e->exit_code, e->signal,
                           e->error[0] ? "; it said: " : "", e->error);
                sup_emit(s, e);
            }
            pthread_mutex_lock(&s->mu);
        }
        if (spawned)
            s->spawn_done = true;
        if (spawned || reaped)
            pthread_cond_broadcast(&s->cv);
        if (n_ev || spawned)
            continue;
        bool any_running = false;
        for (unsigned i = 0; i < s->n; i++)
            any_running = any_running || s->nodes[i].running;
        if (s->quit && !any_running)
            break;
        if (s->spawn_id)
            continue;
        struct timespec ts;
        sup_deadline(&ts, SUP_POLL_MS);
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int sup_new(const struct sup_opts *o, struct sup **out)
{
    if (!o || !o->node_bin || !*o->node_bin || !o->data_dir || !*o->data_dir || o->n < 1 ||
        o->n > SUP_MAX_NODES || o->base_port < 0 || o->base_port + 200 + (int)o->n > 65535)
        return LT_EINVAL;
    size_t n_extra = 0;
    while (o->extra_args && o->extra_args[n_extra]) {
        if (++n_extra > SUP_MAX_EXTRA_ARGS)
            return LT_EINVAL;
    }
    int rc = LT_ENOMEM;
    struct sup *s = calloc(1, sizeof(*s));
    if (!s)
        return LT_ENOMEM;
    s->n = o->n;
    s->n_extra = n_extra;
    s->term_wait_ms = o->term_wait_ms ? o->term_wait_ms : SUP_TERM_WAIT_MS;
    s->on_event = o->on_event;
    s->on_event_ud = o->on_event_ud;
    s->node_bin = strdup(o->node_bin);
    s->data_dir = strdup(o->data_dir);
    s->extra = calloc(n_extra + 1, sizeof(*s->extra));
    if (!s->node_bin || !s->data_dir || !s->extra)
        goto out_free;
    for (size_t i = 0; i < n_extra; i++)
        if (!(s->extra[i] = strdup(o->extra_args[i])))
            goto out_free;

    int ports[3 * SUP_MAX_NODES];
    if (o->base_port == 0) {
        rc = sup_pick_ports(ports, 3 * (size_t)o->n);
        if (rc) {
            sup_err(o, "no %u free TCP ports on 127.0.0.1 for the nodes", 3 * o->n);
            goto out_free;
        }
    } else {
        for (unsigned i = 0; i < o->n; i++) {
            ports[3 * i] = o->base_port + (int)i + 1;
            ports[3 * i + 1] = o->base_port + 100 + (int)i + 1;
            ports[3 * i + 2] = o->base_port + 200 + (int)i + 1;
        }
    }
    rc = sup_mkdir_p(o, o->data_dir);
    if (rc)
        goto out_free;
    /* a --cpu among the extra arguments is the user's placement: then none of ours (the
     * status would report a CPU the node does not use) */
    bool user_cpu = false;
    for (size_t i = 0; i < n_extra; i++)
        user_cpu = user_cpu || strcmp(o->extra_args[i], "--cpu") == 0 ||
                   strncmp(o->extra_args[i], "--cpu=", 6) == 0;
    int cpus[LT_CPU_MAX];
    int n_cpus = o->pin_cpus && !user_cpu ? lt_cpu_allowed(cpus, LT_CPU_MAX) : 0;
    if (n_cpus > LT_CPU_MAX)
        n_cpus = LT_CPU_MAX;
    for (unsigned i = 0; i < o->n; i++) {
        struct sup_node *nd = &s->nodes[i];
        nd->id = i + 1;
        nd->last_exit_code = -1;
        nd->cpu = n_cpus >= 2 ? cpus[i % (unsigned)n_cpus] : -1;
        snprintf(nd->raft_url, SUP_URL_MAX, "tcp://127.0.0.1:%d", ports[3 * i]);
        snprintf(nd->rpc_url, SUP_URL_MAX, "tcp://127.0.0.1:%d", ports[3 * i + 1]);
        snprintf(nd->events_url, SUP_URL_MAX, "tcp://127.0.0.1:%d", ports[3 * i + 2]);
        int w = snprintf(nd->data_dir, sizeof(nd->data_dir), "%s/node%u", o->data_dir, nd->id);
        rc = LT_EINVAL;
        if (w < 0 || (size_t)w >= sizeof(nd->data_dir)) {
            sup_err(o, "data directory path %s/nodeN is too long", o->data_dir);
            goto out_free;
        }
        memcpy(nd->log_path, nd->data_dir, (size_t)w);
        memcpy(nd->log_path + w, "/node.log", sizeof("/node.log"));
        rc = sup_mkdir(o, nd->data_dir, true);
        if (rc)
            goto out_free;
    }
    rc = LT_EIO;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->spawn_mu, NULL);
    if (pthread_create(&s->thread, NULL, sup_thread_main, s)) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        pthread_mutex_destroy(&s->spawn_mu);
        goto out_free;
    }
    *out = s;
    return 0;

out_free:
    sup_free_strings(s);
    free(s);
    return rc;
}

void sup_free(struct sup *s)
{
    if (!s)
        return;
    sup_stop_all(s);
    pthread_mutex_lock(&s->mu);
    s->quit = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->spawn_mu);
    sup_free_strings(s);
    free(s);
}

int sup_restart(struct sup *s, unsigned id, pid_t *pid)
{
    struct sup_node *nd = sup_find(s, id);
    if (!nd)
        return LT_ENOTFOUND;
    pthread_mutex_lock(&s->spawn_mu);
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->stopping_all || s->quit)
        rc = LT_ESHUTDOWN;
    else if (nd->running)
        rc = nd->doomed_sig ? LT_EBUSY : LT_EEXIST;
    if (rc) {
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_unlock(&s->spawn_mu);
        return rc;
    }
    s->spawn_id = id;
    s->spawn_done = false;
    pthread_cond_broadcast(&s->cv);
    while (!s->spawn_done)
        pthread_cond_wait(&s->cv, &s->mu);
    rc = s->spawn_rc;
    pid_t p = s->spawn_pid;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->spawn_mu);
    if (rc)
        return rc;
    if (pid)
        *pid = p;
    return 0;
}

int sup_start_all(struct sup *s)
{
    int first = 0;
    for (unsigned id = 1; id <= s->n; id++) {
        pthread_mutex_lock(&s->mu);
        bool running = s->nodes[id - 1].running;
        pthread_mutex_unlock(&s->mu);
        if (running)
            continue;
        int rc = sup_restart(s, id, NULL);
        if (rc && rc != LT_EEXIST && !first)
            first = rc;
    }
    return first;
}

/* sup_wait_reaped waits (lock held) until node `nd` is not running or the deadline. */
static bool sup_wait_reaped(struct sup *s, struct sup_node *nd, const struct timespec *dl)
{
    while (nd->running) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, dl) == ETIMEDOUT)
            return !nd->running;
    }
    return true;
}

int sup_wait_stopped(struct sup *s, unsigned id, unsigned timeout_ms)
{
    struct sup_node *nd = sup_find(s, id);
    if (!nd)
        return LT_ENOTFOUND;
    struct timespec dl;
    sup_deadline(&dl, timeout_ms);
    pthread_mutex_lock(&s->mu);
    bool ok = sup_wait_reaped(s, nd, &dl);
    pthread_mutex_unlock(&s->mu);
    return ok ? 0 : LT_ETIMEDOUT;
}

/* sup_live_locked: nodes running and not doomed. Under mu. */
static unsigned sup_live_locked(const struct sup *s)
{
    unsigned k = 0;
    for (unsigned i = 0; i < s->n; i++)
        k += s->nodes[i].running && !s->nodes[i].doomed_sig;
    return k;
}

int sup_kill(struct sup *s, unsigned id, bool graceful, bool keep_quorum)
{
    struct sup_node *nd = sup_find(s, id);
    if (!nd)
        return LT_ENOTFOUND;
    int sig = graceful ? SIGTERM : SIGKILL;
    pthread_mutex_lock(&s->mu);
    /* A node that a SIGTERM did not end (hung in its shutdown) may still get a SIGKILL:
     * it is already out of the quorum count, so no quorum check. */
    bool escalate = nd->running && nd->doomed_sig == SIGTERM && sig == SIGKILL;
    if (!nd->running || (nd->doomed_sig && !escalate)) {
        pthread_mutex_unlock(&s->mu);
        return nd->running ? LT_EEXIST : LT_EINVAL;
    }
    /* The check and the signal under one lock: two concurrent kills cannot both see the
     * other node still alive and take the cluster below a majority together. */
    if (!escalate && keep_quorum && sup_live_locked(s) - 1 < sup_quorum_needed(s)) {
        pthread_mutex_unlock(&s->mu);
        return LT_EBUSY;
    }
    /* The pid is still ours: it is only reaped under this lock. */
    pid_t pid = nd->pid;
    kill(pid, sig);
    nd->doomed_sig = sig;
    /* The supervisor thread reports it (sup_thread_main), before the exit it will reap:
     * emitted from here, the "killed" event could follow the "exited" one. */
    nd->kill_sig = sig;
    nd->kill_pid = pid;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (!graceful)
        return 0;
    return sup_wait_stopped(s, id, s->term_wait_ms);
}

void sup_stop_all(struct sup *s)
{
    pthread_mutex_lock(&s->spawn_mu); /* no start in flight */
    pthread_mutex_lock(&s->mu);
    s->stopping_all = true;
    for (unsigned i = 0; i < s->n; i++) {
        struct sup_node *nd = &s->nodes[i];
        if (nd->running) {
            nd->stopping = true;
            kill(nd->pid, SIGTERM);
        }
    }
    /* A leader asked to stop hands its leadership to a follower first (lithair-node --help),
     * but every follower is stopping too and refuses it: the leader would try one, then
     * another, for two election timeouts. A second SIGTERM, once the first was taken,
     * stops a node at once: with every node going there is no one to hand over to. */
    struct timespec dl;
    sup_deadline(&dl, SUP_ALL_SECOND_MS);
    for (unsigned i = 0; i < s->n; i++)
        sup_wait_reaped(s, &s->nodes[i], &dl);
    for (unsigned i = 0; i < s->n; i++)
        if (s->nodes[i].running)
            kill(s->nodes[i].pid, SIGTERM);
    sup_deadline(&dl, s->term_wait_ms);
    for (unsigned i = 0; i < s->n; i++)
        sup_wait_reaped(s, &s->nodes[i], &dl);
    for (unsigned i = 0; i < s->n; i++) {
        struct sup_node *nd = &s->nodes[i];
        if (nd->running) {
            lt_log(LT_LOG_WARN, "node %u (pid %d) ignored SIGTERM: SIGKILL", nd->id, (int)nd->pid);
            kill(nd->pid, SIGKILL);
        }
    }
    sup_deadline(&dl, SUP_KILL_WAIT_MS);
    for (unsigned i = 0; i < s->n; i++)
        if (!sup_wait_reaped(s, &s->nodes[i], &dl))
            lt_log(LT_LOG_ERROR, "node %u (pid %d) survived SIGKILL", s->nodes[i].id,
                   (int)s->nodes[i].pid);
    s->stopping_all = false;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->spawn_mu);
}

unsigned sup_count(const struct sup *s)
{
    return s->n;
}

unsigned sup_running_count(struct sup *s)
{
    pthread_mutex_lock(&s->mu);
    unsigned k = sup_live_locked(s);
    pthread_mutex_unlock(&s->mu);
    return k;
}

unsigned sup_quorum_needed(const struct sup *s)
{
    return s->n / 2 + 1;
}

bool sup_kill_loses_quorum(struct sup *s, unsigned id)
{
    struct sup_node *nd = sup_find(s, id);
    if (!nd)
        return false;
    pthread_mutex_lock(&s->mu);
    bool live = nd->running && !nd->doomed_sig;
    unsigned k = sup_live_locked(s);
    pthread_mutex_unlock(&s->mu);
    return live && k - 1 < sup_quorum_needed(s);
}

int sup_node_info(struct sup *s, unsigned id, struct sup_node_info *out)
{
    struct sup_node *nd = sup_find(s, id);
    if (!nd)
        return LT_ENOTFOUND;
    struct sup_node_info in;
    memset(&in, 0, sizeof(in));
    pthread_mutex_lock(&s->mu);
    in.id = nd->id;
    in.running = nd->running && !nd->doomed_sig; /* signalled by sup_kill: on its way out */
    in.exiting = nd->running && nd->doomed_sig;
    in.pid = nd->pid;
    in.cpu = nd->cpu;
    in.uptime_ms = nd->running ? (lt_now_ns() - nd->started_ns) / 1000000u : 0;
    in.starts = nd->starts;
    in.last_signal = nd->last_signal;
    in.last_exit_code = nd->last_exit_code;
    memcpy(in.last_error, nd->last_error, sizeof(in.last_error));
    pthread_mutex_unlock(&s->mu);
    memcpy(in.raft_url, nd->raft_url, SUP_URL_MAX);
    memcpy(in.rpc_url, nd->rpc_url, SUP_URL_MAX);
    memcpy(in.events_url, nd->events_url, SUP_URL_MAX);
    snprintf(in.data_dir, sizeof(in.data_dir), "%s", nd->data_dir);
    *out = in;
    return 0;
}

const char *sup_rpc_url(const struct sup *s, unsigned id)
{
    return id >= 1 && id <= s->n ? s->nodes[id - 1].rpc_url : NULL;
}

const char *sup_events_url(const struct sup *s, unsigned id)
{
    return id >= 1 && id <= s->n ? s->nodes[id - 1].events_url : NULL;
}

const char *sup_raft_url(const struct sup *s, unsigned id)
{
    return id >= 1 && id <= s->n ? s->nodes[id - 1].raft_url : NULL;
}

int sup_endpoints(const struct sup *s, bool events, char *buf, size_t n)
{
    size_t off = 0;
    for (unsigned i = 0; i < s->n; i++) {
        const char *u = events ? s->nodes[i].events_url : s->nodes[i].rpc_url;
        int w = snprintf(buf + off, n > off ? n - off : 0, "%s%s", i ? "," : "", u);
        if (w < 0 || off + (size_t)w >= n)
            return LT_ETOOBIG;
        off += (size_t)w;
    }
    return 0;
}

const char *sup_event_name(enum sup_event_kind k)
{
    switch (k) {
    case SUP_EV_STARTED:
        return "started";
    case SUP_EV_KILLED:
        return "killed";
    case SUP_EV_EXITED:
        return "exited";
    case SUP_EV_STOPPED:
        return "stopped";
    }
    return "unknown";
}

const char *sup_signal_name(int sig)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {{SIGKILL, "SIGKILL"}, {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},
                 {SIGSEGV, "SIGSEGV"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},
                 {SIGFPE, "SIGFPE"},   {SIGILL, "SIGILL"},   {SIGHUP, "SIGHUP"},
                 {SIGQUIT, "SIGQUIT"}, {SIGPIPE, "SIGPIPE"}, {SIGUSR1, "SIGUSR1"},
                 {SIGUSR2, "SIGUSR2"}, {SIGALRM, "SIGALRM"}};
    static const char *const numbered[] = {
        "SIG0",  "SIG1",  "SIG2",  "SIG3",  "SIG4",  "SIG5",  "SIG6",  "SIG7",
        "SIG8",  "SIG9",  "SIG10", "SIG11", "SIG12", "SIG13", "SIG14", "SIG15",
        "SIG16", "SIG17", "SIG18", "SIG19", "SIG20", "SIG21", "SIG22", "SIG23",
        "SIG24", "SIG25", "SIG26", "SIG27", "SIG28", "SIG29", "SIG30", "SIG31"};
    if (sig <= 0)
        return NULL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].sig == sig)
            return names[i].name;
    return sig < 32 ? numbered[sig] : "SIGRT";
}

int sup_event_json(const struct sup_event *ev, char *buf, size_t n)
{
    json_object *o = json_object_new_object();
    if (!o)
        return LT_ENOMEM;
    const char *sn = sup_signal_name(ev->signal);
    json_object_object_add(o, "id", json_object_new_int64(ev->id));
    json_object_object_add(o, "state", json_object_new_string(sup_event_name(ev->kind)));
    json_object_object_add(o, "pid", json_object_new_int64(ev->pid));
    json_object_object_add(o, "signal", sn ? json_object_new_string(sn) : NULL);
    json_object_object_add(o, "exitCode",
                           ev->exit_code >= 0 ? json_object_new_int(ev->exit_code) : NULL);
    json_object_object_add(o, "error", ev->error[0] ? json_object_new_string(ev->error) : NULL);
    const char *text =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc = text && strlen(text) < n ? 0 : LT_ETOOBIG;
    if (rc == 0)
        memcpy(buf, text, strlen(text) + 1);
    json_object_put(o);
    return rc;
}
