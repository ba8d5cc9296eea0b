/* main.c — lithair-node's entry point: parse flags, start the node, stop on SIGINT/SIGTERM. */
#include <nng/nng.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "lt_err.h"
#include "lt_log.h"
#include "nng_close.h"
#include "node.h"

/* longest wait for NNG to finish at exit: everything of ours is closed and synced by then,
 * and NNG 1.5 sometimes never finishes (nng_close.h): a stop that met it took 2 s more */
#define NODE_FINI_MS 500

static struct node *the_node;
static sigset_t stop_sigs;
static int exiting; /* atomic: main wakes the signal thread to end it */

/* SIGINT/SIGTERM are blocked in every thread and taken here, so node_stop runs in a thread
 * of its own: a handler could run on any thread (NNG's, the WAL writer's), in the middle of
 * a pthread_cond_* call on the loop's own condition variable, and race node_free. The first
 * signal stops the node gracefully (a leader hands its leadership over first); a second
 * stops it at once. */
static void *on_signal_main(void *arg)
{
    (void)arg;
    for (unsigned k = 0;; k++) {
        int sig;
        while (sigwait(&stop_sigs, &sig) != 0)
            ;
        if (__atomic_load_n(&exiting, __ATOMIC_ACQUIRE))
            return NULL;
        if (k == 1)
            lt_info("second stop signal: stopping at once");
        node_stop(the_node, k > 0);
    }
}

/* on_sigbus: a read of a memory-mapped file failed. The kernel's answer is SIGBUS, which
 * would end the node without a word: say what happened (async-signal-safe calls only) and
 * let the default action end the process (SA_RESETHAND: the faulting read runs again and
 * raises it). The node never serves on from a file it could not read. */
static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)uctx;
    char addr[2 + 16 + 1];
    uintptr_t a = (uintptr_t)si->si_addr;
    addr[0] = '0';
    addr[1] = 'x';
    for (int i = 0; i < 16; i++)
        addr[2 + i] = "0123456789abcdef"[(a >> (60 - 4 * i)) & 15];
    addr[18] = '\0';
    const char *parts[] = {
        "SIGBUS at ", addr,
        ": a read of a memory-mapped file failed (the WAL replayed at start, or a snapshot whose "
        "values the store keeps mapped): the disk returned an I/O error, or something truncated "
        "the file; stopping"};
    lt_log_error_in_signal(parts, 3);
}

int main(int argc, char **argv)
{
    /* First of all, and before node_new starts any thread (every thread inherits the
     * mask): SIGINT and SIGTERM are taken by the signal thread's sigwait, never by their
     * default action — one that arrives while the node starts is held until then (the
     * gateway's supervisor execs nodes with them blocked already, for the time before
     * main). */
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct node_config cfg;
    char err[512] = "";
    int rc = node_config_parse(argc, argv, &cfg, err, sizeof(err));
    if (rc == 1) {
        node_config_usage(stdout);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "lithair-node: %s\n", err);
        return 2;
    }
    char tag[32];
    snprintf(tag, sizeof(tag), "node%llu", (unsigned long long)cfg.id);
    lt_log_init(tag, cfg.log_level);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);

    rc = node_new(&cfg, &the_node, err, sizeof(err));
    if (rc != 0) {
        lt_error("cannot start: %s", err);
        return 1;
    }
    pthread_t sig_thread;
    bool sig_started = pthread_create(&sig_thread, NULL, on_signal_main, NULL) == 0;
    if (!sig_started)
        lt_warn("no signal thread: SIGINT/SIGTERM are not taken");

    rc = node_run(the_node);
    if (sig_started) { /* wake it to end it, and wait until it no longer uses the node */
        __atomic_store_n(&exiting, 1, __ATOMIC_RELEASE);
        pthread_kill(sig_thread, SIGTERM);
        pthread_join(sig_thread, NULL);
    }
    node_free_at_exit(the_node);
    the_node = NULL;
    /* NNG reaps sockets in the background: finish before exiting, within a bound (NNG 1.5
     * can hang there, nng_close.h; everything of ours is closed and synced by now; the
     * closes inside node_free are not bounded) */
    bool finished = nng_fini_within(NODE_FINI_MS);
    if (!finished)
        lt_warn("leaving without finishing NNG (it is stuck tearing down)");
    if (rc != 0)
        lt_error("stopped: %s", lt_strerror(rc));
    else
        lt_info("stopped");
    if (!finished)
        _exit(rc != 0 ? 1 : 0); /* exit's teardown could meet the stuck reaper */
    return rc != 0 ? 1 : 0;
}
