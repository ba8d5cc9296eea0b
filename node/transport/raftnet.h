/* raftnet.h — raft messages between peers over NNG: one pull0 socket receives every
 * peer's Batches; one push0 socket per peer sends ours.
 *
 * raftnet_send never blocks: a peer that is dead or slow has a bounded send queue, and a
 * Batch that does not fit is dropped (Raft tolerates loss; the leader retries). A
 * snapshot is hundreds of MB: sent that way, its chunks filled the queue and were dropped,
 * and a large snapshot never arrived (a follower 498 MB behind had not caught up after
 * 120 s, 2026-11-28). Its chunks go through raftnet_send_wait instead, from a thread of
 * the caller's that waits for room: at the pace the peer takes them, in order with the
 * rest. Sockets reconnect by themselves when a peer comes back. */
#ifndef RAFTNET_H
#define RAFTNET_H

#include <nng/nng.h>
#include <stdint.h>

#include "codec.h"

struct raftnet;

/* Called on an NNG thread for each received Batch; the callee owns `msg`. */
typedef void (*raftnet_recv_fn)(void *arg, nng_msg *msg);

struct raftnet_peer_stats {
    uint64_t id;
    uint64_t batches_sent;
    uint64_t batches_dropped;
    uint64_t bytes_sent;
};

/* raftnet_new listens on `url` (e.g. tcp://127.0.0.1:7101). On error *out is untouched
 * and a description is written to errbuf. */
int raftnet_new(const char *url, raftnet_recv_fn fn, void *arg, struct raftnet **out, char *errbuf,
                size_t errlen);

/* raftnet_add_peer dials peer `id` at `url` in the background. */
int raftnet_add_peer(struct raftnet *n, uint64_t id, const char *url);

/* raftnet_send encodes `count` messages as one Batch to peer `to`. Returns 0 when queued,
 * LT_EBUSY when the peer's queue is full (dropped), LT_ENOTFOUND for an unknown peer.
 * One thread at a time (the node's loop): the sends share one aio. */
int raftnet_send(struct raftnet *n, uint64_t to, const struct raft_msg *const *msgs,
                 const struct codec_chunk *const *chunks, size_t count);

/* raftnet_send_wait sends one message with its chunk to peer `to`, waiting up to
 * timeout_ms for room in its queue. Returns 0, LT_ETIMEDOUT, LT_ESHUTDOWN (closed),
 * LT_ENOMEM or LT_ENOTFOUND. Any thread, beside raftnet_send on the loop; one transfer
 * per peer at a time (chunks of two would interleave). */
int raftnet_send_wait(struct raftnet *n, uint64_t to, const struct raft_msg *m,
                      const struct codec_chunk *chunk, unsigned timeout_ms);

/* raftnet_peer_stats copies the counters of peer `id`; 0 or LT_ENOTFOUND. */
int raftnet_peer_stats(const struct raftnet *n, uint64_t id, struct raftnet_peer_stats *st);

/* raftnet_set_cluster: the cluster id stamped on every Batch sent from now on (any
 * thread). */
void raftnet_set_cluster(struct raftnet *n, uint64_t cluster);

/* raftnet_set_disk: this node's disk as stamped on every Batch sent from now on (any
 * thread): below its --min-free-mb, and its free bytes. */
void raftnet_set_disk(struct raftnet *n, bool low, uint64_t free_bytes);

/* raftnet_free closes every socket; no callback runs after it returns. */
void raftnet_free(struct raftnet *n);

#endif
