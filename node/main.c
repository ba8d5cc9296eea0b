/* main.c — lithair-node's entry point: parse flags, start the node, stop on SIGINT/SIGTERM. */
#include <nng/nng.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "lt_err.h"
#include "lt_log.h"
#include "node.h"

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
    nng_fini(); /* NNG reaps sockets in the background: finish before exiting */
    if (rc != 0) {
        lt_error("stopped: %s", lt_strerror(rc));
        return 1;
    }
    lt_info("stopped");
    return 0;
}
