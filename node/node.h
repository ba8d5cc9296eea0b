/* node.h — lithair-node's daemon: the one loop that owns a member's state.
 *
 * node.c is the only file that calls every part: the raft core (raft/), the write-ahead
 * log and snapshots (storage/), the state machine (store/), the sockets (transport/) and
 * the RPC handlers (service/). RPC contexts and the raft socket hand work to the loop
 * through one queue; the loop steps raft, persists with one fdatasync per batch, sends,
 * applies, completes waiting RPCs and publishes events. */
#ifndef NODE_H
#define NODE_H

#include "config.h"

struct node;

/* node_new recovers the data directory and opens every socket. On error nothing is left
 * open and errbuf says why (a corrupt WAL or snapshot is such an error). */
int node_new(const struct node_config *cfg, struct node **out, char *errbuf, size_t errlen);

/* node_run runs the loop until node_stop() or a Cluster/Shutdown RPC. Returns 0, or an
 * lt_err code if the node had to stop (e.g. the disk failed). */
int node_run(struct node *n);

/* node_stop asks the loop to stop; from any thread, never from a signal handler (it takes
 * the loop's mutex: main.c calls it from a sigwait thread). A leader first hands its
 * leadership over and lets the writes it holds be answered (at most two election timeouts),
 * unless at_once; a node flushes its replies in flight (at most 0.5 s) either way, unless
 * at_once. */
void node_stop(struct node *n, bool at_once);

void node_free(struct node *n);

/* node_free_at_exit is node_free for a process about to exit: the store's records are left
 * to the operating system instead of freed one by one (store_abandon). */
void node_free_at_exit(struct node *n);

#endif
