/* main.c — lithair-node's entry point: parse flags, start the node, stop on SIGINT/SIGTERM. */
#include <nng/nng.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "lt_err.h"
#include "lt_log.h"
#include "nng_close.h"
#include "node.h"

#define NODE_FINI_MS 2000 /* longest wait for NNG to finish at exit */

static struct node *the_node;

static void on_signal(int sig)
{
    (void)sig;
    if (the_node)
        node_stop(the_node);
}

int main(int argc, char **argv)
{
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
    lt_log_init(tag, (enum lt_log_level)cfg.log_level);

    rc = node_new(&cfg, &the_node, err, sizeof(err));
    if (rc != 0) {
        lt_error("cannot start: %s", err);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = node_run(the_node);
    node_free(the_node);
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
