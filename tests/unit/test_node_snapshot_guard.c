/* test_node_snapshot_guard.c — a real lithair-node sent snapshots over its raft socket by
 * the test, which poses as member 2. A snapshot whose file is intact but whose meta names
 * an invalid voter set (a voter twice, voter 0) must be ignored before its file is kept:
 * kept, it would stop the node at its next start (raft_new refuses such a conf). A valid
 * one, sent the same way, is installed, and the node restarts from it.
 *
 * And a fresh node's first snapshot: the term it came in is durable before its file is
 * kept. The test kills the node the moment the file appears, five times; each restart
 * must serve (a snapshot beside a WAL without a hard state reads as a WAL whose records
 * were lost, and the node refused to start: its data dir had to be wiped again). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>

#include "codec.h"
#include "cunit_main.h"
#include "lt_clock.h"
#include "raftnet.h"
#include "snap.h"
#include "store.h"
#include "testutil.h"

#ifndef LT_NODE_BIN
#error "LT_NODE_BIN: the lithair-node binary (set by tests/unit/CMakeLists.txt)"
#endif

#define SG_TERM 5

struct sg {
    char root[256], data[300], log[300];
    char raft[4][64], rpc[4][64], events[4][64];
    pid_t pid;
};

static void sg_urls(struct sg *g)
{
    for (int i = 1; i <= 3; i++) {
        snprintf(g->raft[i], sizeof(g->raft[i]), "tcp://127.0.0.1:%d", tu_free_port());
        snprintf(g->rpc[i], sizeof(g->rpc[i]), "tcp://127.0.0.1:%d", tu_free_port());
        snprintf(g->events[i], sizeof(g->events[i]), "tcp://127.0.0.1:%d", tu_free_port());
    }
}

/* sg_start runs node 1 of {1, 2, 3}, its stderr appended to g->log. */
static pid_t sg_start(struct sg *g)
{
    char peer[3][256];
    for (int i = 0; i < 3; i++)
        snprintf(peer[i], sizeof(peer[i]), "%d,%s,%s,%s", i + 1, g->raft[i + 1], g->rpc[i + 1],
                 g->events[i + 1]);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    FILE *f = freopen(g->log, "a", stderr);
    if (f == NULL)
        _exit(127);
    /* a long election timeout: the node stays a follower at term 0 while the test talks */
    char *argv[] = {
        LT_NODE_BIN, "--id",    "1",        "--data-dir",       g->data,  "--raft", g->raft[1],
        "--rpc",     g->rpc[1], "--events", g->events[1],       "--peer", peer[0],  "--peer",
        peer[1],     "--peer",  peer[2],    "--election-ticks", "3000",   NULL};
    execv(argv[0], argv);
    _exit(127);
}

/* sg_log_has: the node's log contains `s` (at most 1 MiB read). */
static bool sg_log_has(const struct sg *g, const char *s)
{
    static char buf[1 << 20];
    FILE *f = fopen(g->log, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, s) != NULL;
}

/* sg_wait_log waits up to `ms` for `s` in the log while the node runs. */
static bool sg_wait_log(const struct sg *g, const char *s, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (sg_log_has(g, s))
            return true;
        if (waitpid(g->pid, NULL, WNOHANG) != 0)
            return false;
        lt_sleep_ms(10);
    }
    return sg_log_has(g, s);
}

/* sg_stop sends SIGTERM and reaps the node (SIGKILL after 10 s); true if it exited 0. */
static bool sg_stop(struct sg *g)
{
    int st = 0;
    kill(g->pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        if (waitpid(g->pid, &st, WNOHANG) == g->pid)
            return WIFEXITED(st) && WEXITSTATUS(st) == 0;
        lt_sleep_ms(10);
    }
    kill(g->pid, SIGKILL);
    waitpid(g->pid, &st, 0);
    return false;
}

static int sg_write(void *ctx, const void *buf, size_t len)
{
    return snap_writer_write(ctx, buf, len);
}

/* sg_snapshot builds a whole, checksummed snapshot file of an empty store for `meta` in
 * dir and returns its bytes (malloc'ed) in *out. */
static int sg_snapshot(const char *dir, const struct raft_snapshot_meta *meta, uint8_t **out,
                       size_t *len)
{
    struct store *s = NULL;
    struct snap_writer *sw = NULL;
    struct snap_info info;
    char path[512];
    int rc = store_new(&s);
    if (rc)
        return rc;
    store_set_applied(s, meta->index, meta->term);
    if ((rc = snap_writer_begin(dir, meta, &sw)) == 0) {
        if ((rc = store_snapshot_write(s, sg_write, sw)) != 0)
            snap_writer_abort(sw);
        else
            rc = snap_writer_commit(sw, 1, &info);
    }
    store_free(s);
    if (rc || (rc = snap_path(dir, info.name, path, sizeof(path))) != 0)
        return rc;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    *out = malloc(info.file_size);
    *len = *out ? fread(*out, 1, info.file_size, f) : 0;
    fclose(f);
    return *len == info.file_size ? 0 : -1;
}

static void sg_ignore(void *arg, nng_msg *msg)
{
    (void)arg;
    nng_msg_free(msg); /* the node's answers to member 2: not looked at */
}

/* sg_send_once ships `file` in one chunk to node 1 as member 2, the leader of term SG_TERM. */
static void sg_send_once(struct raftnet *net, const struct raft_snapshot_meta *meta,
                         const uint8_t *file, size_t len)
{
    struct raft_msg m = {
        .type = RAFT_MSG_SNAPSHOT, .from = 2, .to = 1, .term = SG_TERM, .snapshot = *meta};
    struct codec_chunk c = {.offset = 0, .data = file, .len = len, .done = true};
    const struct raft_msg *mp[] = {&m};
    const struct codec_chunk *cp[] = {&c};
    raftnet_send(net, 1, mp, cp, 1);
}

/* sg_send ships `file` in one chunk as member 2 (the leader of term SG_TERM), again every
 * 100 ms, until `line` shows in the node's log (at most 5 s; sends before the dial
 * completes are dropped). */
static bool sg_send(struct sg *g, struct raftnet *net, const struct raft_snapshot_meta *meta,
                    const uint8_t *file, size_t len, const char *line)
{
    for (int i = 0; i < 50; i++) {
        sg_send_once(net, meta, file, len);
        if (sg_wait_log(g, line, 100))
            return true;
    }
    return false;
}

/* sg_up opens the test's raft socket as member 2 and starts node 1; once it serves,
 * returns the socket. */
static struct raftnet *sg_up(struct sg *g)
{
    char err[128];
    struct raftnet *net = NULL;
    CU_ASSERT_EQUAL_FATAL(raftnet_new(g->raft[2], sg_ignore, NULL, &net, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL_FATAL(raftnet_add_peer(net, 1, g->raft[1]), 0);
    g->pid = sg_start(g);
    CU_ASSERT_FATAL(g->pid > 0);
    CU_ASSERT_FATAL(sg_wait_log(g, "serving:", 10000));
    return net;
}

static size_t sg_snapshots(const struct sg *g)
{
    char dir[320];
    struct snap_info *l = NULL;
    size_t n = 0;
    snprintf(dir, sizeof(dir), "%s/snap", g->data);
    if (snap_list(dir, &l, &n) != 0)
        return (size_t)-1;
    free(l);
    return n;
}

static void test_invalid_snapshot_meta_is_not_kept(void)
{
    struct sg g = {0};
    char bad_dir[300], good_dir[300];
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(g.root, sizeof(g.root), "snapguard"), 0);
    snprintf(g.data, sizeof(g.data), "%s/n1", g.root);
    snprintf(g.log, sizeof(g.log), "%s/n1.log", g.root);
    snprintf(bad_dir, sizeof(bad_dir), "%s/bad", g.root);
    snprintf(good_dir, sizeof(good_dir), "%s/good", g.root);
    sg_urls(&g);

    /* Both files intact; the first names voter 1 twice and voter 0. */
    struct raft_snapshot_meta bad = {.index = 60, .term = SG_TERM, .conf = {{1, 1, 0}, 3}};
    struct raft_snapshot_meta good = {.index = 50, .term = SG_TERM, .conf = {{1, 2, 3}, 3}};
    uint8_t *bad_file = NULL, *good_file = NULL;
    size_t bad_len = 0, good_len = 0;
    CU_ASSERT_EQUAL_FATAL(sg_snapshot(bad_dir, &bad, &bad_file, &bad_len), 0);
    CU_ASSERT_EQUAL_FATAL(sg_snapshot(good_dir, &good, &good_file, &good_len), 0);

    struct raftnet *net = sg_up(&g);

    CU_ASSERT(sg_send(&g, net, &bad, bad_file, bad_len,
                      "ignored a snapshot from node 2 with an invalid index or voter set"));
    CU_ASSERT_EQUAL(sg_snapshots(&g), 0);
    CU_ASSERT_FALSE(sg_log_has(&g, "received snapshot 60/"));

    /* the same path with a valid voter set installs it: the refusal above was the meta's */
    CU_ASSERT(sg_send(&g, net, &good, good_file, good_len, "received snapshot 50/5 from node 2"));
    CU_ASSERT_EQUAL(sg_snapshots(&g), 1);
    CU_ASSERT(sg_stop(&g));

    /* and the node starts again from what it kept (a log of its own) */
    snprintf(g.log, sizeof(g.log), "%s/n1-restart.log", g.root);
    g.pid = sg_start(&g);
    CU_ASSERT_FATAL(g.pid > 0);
    CU_ASSERT(sg_wait_log(&g, "restored snapshot 50/5", 10000));
    CU_ASSERT(sg_wait_log(&g, "serving:", 10000));
    CU_ASSERT(sg_stop(&g));

    raftnet_free(net);
    free(bad_file);
    free(good_file);
    tu_rmrf(g.root);
}

/* sg_kill_when_kept sends `file` as member 2 and SIGKILLs the node the moment a snapshot
 * file shows in its snap dir (polled every 0.2 ms; the send repeated every 100 ms, at most
 * 5 s in all); true if it showed. */
static bool sg_kill_when_kept(struct sg *g, struct raftnet *net,
                              const struct raft_snapshot_meta *meta, const uint8_t *file,
                              size_t len)
{
    for (int i = 0; i < 50; i++) {
        sg_send_once(net, meta, file, len);
        uint64_t until = lt_now_ns() + 100000000ull;
        while (lt_now_ns() < until) {
            if (sg_snapshots(g) >= 1) {
                kill(g->pid, SIGKILL);
                waitpid(g->pid, NULL, 0);
                return true;
            }
            usleep(200);
        }
    }
    kill(g->pid, SIGKILL);
    waitpid(g->pid, NULL, 0);
    return false;
}

static void test_first_snapshot_term_durable(void)
{
    struct raft_snapshot_meta meta = {.index = 50, .term = SG_TERM, .conf = {{1, 2, 3}, 3}};
    char src[300];
    for (int round = 0; round < 5; round++) {
        struct sg g = {0};
        CU_ASSERT_EQUAL_FATAL(tu_tmpdir(g.root, sizeof(g.root), "snapterm"), 0);
        snprintf(g.data, sizeof(g.data), "%s/n1", g.root);
        snprintf(g.log, sizeof(g.log), "%s/n1.log", g.root);
        snprintf(src, sizeof(src), "%s/src", g.root);
        sg_urls(&g);
        uint8_t *file = NULL;
        size_t len = 0;
        CU_ASSERT_EQUAL_FATAL(sg_snapshot(src, &meta, &file, &len), 0);
        struct raftnet *net = sg_up(&g);
        CU_ASSERT(sg_kill_when_kept(&g, net, &meta, file, len));

        snprintf(g.log, sizeof(g.log), "%s/n1-restart.log", g.root);
        g.pid = sg_start(&g);
        CU_ASSERT_FATAL(g.pid > 0);
        CU_ASSERT(sg_wait_log(&g, "serving:", 10000));
        CU_ASSERT_FALSE(sg_log_has(&g, "records are gone"));
        CU_ASSERT(sg_log_has(&g, "snapshot 50"));
        CU_ASSERT(sg_stop(&g));
        raftnet_free(net);
        free(file);
        tu_rmrf(g.root);
    }
}

static const struct lt_test guard_tests[] = {
    {"a snapshot with an invalid voter set is ignored, a valid one installed",
     test_invalid_snapshot_meta_is_not_kept},
    {"a fresh node killed as it keeps its first snapshot starts again",
     test_first_snapshot_term_durable},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"node_snapshot_guard", NULL, NULL, guard_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
