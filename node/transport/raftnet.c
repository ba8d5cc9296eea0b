/* raftnet.c — NNG push/pull transport for raft Batches (see raftnet.h). */
#include "raftnet.h"

#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_err.h"
#include "lt_log.h"
#include "nng_close.h"
#include "sendnow.h"

#define RAFTNET_MAX_PEERS RAFT_MAX_NODES
/* Batches queued per peer before dropping. NNG keeps queued batches while a peer is down
 * and delivers them when it returns: keep that stale backlog small (Raft resends). */
#define RAFTNET_SEND_QUEUE 64
#define RAFTNET_MAX_MSG    (64u << 20) /* largest Batch accepted */
#define RAFTNET_CLOSE_MS   1000        /* longest wait for a socket to close */

struct raftnet_peer {
    uint64_t id;
    nng_socket sock;
    struct raftnet_peer_stats st;
};

struct raftnet {
    nng_socket pull;
    nng_aio *aio;
    nng_aio *send_aio; /* raftnet_send's (one thread sends) */
    raftnet_recv_fn fn;
    void *arg;
    struct raftnet_peer peers[RAFTNET_MAX_PEERS];
    size_t n_peers;
    /* atomics: stamped on every Batch sent (codec_batch_encode_stamped) */
    uint64_t cluster, disk_free;
    bool disk_low;
};

static void raftnet_recv_cb(void *arg)
{
    struct raftnet *n = arg;
    if (nng_aio_result(n->aio) != 0)
        return; /* closed */
    nng_msg *msg = nng_aio_get_msg(n->aio);
    n->fn(n->arg, msg);
    nng_recv_aio(n->pull, n->aio);
}

int raftnet_new(const char *url, raftnet_recv_fn fn, void *arg, struct raftnet **out, char *errbuf,
                size_t errlen)
{
    struct raftnet *n = calloc(1, sizeof(*n));
    if (!n)
        return LT_ENOMEM;
    n->fn = fn;
    n->arg = arg;
    int rv = nng_pull0_open(&n->pull);
    if (rv != 0)
        goto out_free;
    nng_socket_set_size(n->pull, NNG_OPT_RECVMAXSZ, RAFTNET_MAX_MSG);
    nng_socket_set_int(n->pull, NNG_OPT_RECVBUF, 1024);
    if ((rv = nng_listen(n->pull, url, NULL, 0)) != 0)
        goto out_close;
    if ((rv = nng_aio_alloc(&n->aio, raftnet_recv_cb, n)) != 0)
        goto out_close;
    if ((rv = nng_aio_alloc(&n->send_aio, NULL, NULL)) != 0) {
        nng_aio_free(n->aio);
        goto out_close;
    }
    nng_recv_aio(n->pull, n->aio);
    *out = n;
    return 0;
out_close:
    nng_close(n->pull);
out_free:
    snprintf(errbuf, errlen, "raft socket %s: %s", url, nng_strerror(rv));
    free(n);
    return LT_EIO;
}

int raftnet_add_peer(struct raftnet *n, uint64_t id, const char *url)
{
    if (n->n_peers == RAFTNET_MAX_PEERS)
        return LT_ENOSPACE;
    struct raftnet_peer *p = &n->peers[n->n_peers];
    int rv = nng_push0_open(&p->sock);
    if (rv != 0)
        return LT_EIO;
    nng_socket_set_int(p->sock, NNG_OPT_SENDBUF, RAFTNET_SEND_QUEUE);
    nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, 20);
    nng_socket_set_ms(p->sock, NNG_OPT_RECONNMAXT, 250);
    nng_socket_set_ms(p->sock, NNG_OPT_SENDTIMEO, 0);
    if ((rv = nng_dial(p->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
        lt_error("raft peer %llu at %s: %s", (unsigned long long)id, url, nng_strerror(rv));
        nng_close(p->sock);
        return LT_EINVAL;
    }
    p->id = id;
    p->st.id = id;
    n->n_peers++;
    return 0;
}

static struct raftnet_peer *raftnet_find(const struct raftnet *n, uint64_t id)
{
    for (size_t i = 0; i < n->n_peers; i++) {
        if (n->peers[i].id == id)
            return (struct raftnet_peer *)&n->peers[i];
    }
    return NULL;
}

static void raftnet_stamp(struct raftnet *n, struct codec_stamp *s)
{
    s->cluster = __atomic_load_n(&n->cluster, __ATOMIC_RELAXED);
    s->disk_low = __atomic_load_n(&n->disk_low, __ATOMIC_RELAXED);
    s->disk_free = __atomic_load_n(&n->disk_free, __ATOMIC_RELAXED);
}

/* raftnet_msg_alloc gives the codec an nng_msg body of the Batch's size. */
static uint8_t *raftnet_msg_alloc(void *ud, size_t len)
{
    nng_msg **msg = ud;
    if (len > RAFTNET_MAX_MSG || nng_msg_alloc_send(msg, len) != 0) {
        *msg = NULL;
        return NULL;
    }
    return nng_msg_body(*msg);
}

int raftnet_send(struct raftnet *n, uint64_t to, const struct raft_msg *const *msgs,
                 const struct codec_chunk *const *chunks, size_t count)
{
    struct raftnet_peer *p = raftnet_find(n, to);
    if (!p)
        return LT_ENOTFOUND;
    nng_msg *msg = NULL;
    struct codec_stamp stamp;
    raftnet_stamp(n, &stamp);
    size_t len = codec_batch_encode_stamped(msgs, chunks, count, &stamp, raftnet_msg_alloc, &msg);
    if (len == 0 && count > 0) {
        if (msg)
            nng_msg_free(msg);
        return LT_ENOMEM;
    }
    if (sendnow(p->sock, n->send_aio, msg) != 0) {
        nng_msg_free(msg);
        p->st.batches_dropped++;
        return LT_EBUSY;
    }
    p->st.batches_sent++;
    p->st.bytes_sent += len;
    return 0;
}

int raftnet_send_wait(struct raftnet *n, uint64_t to, const struct raft_msg *m,
                      const struct codec_chunk *chunk, unsigned timeout_ms)
{
    struct raftnet_peer *p = raftnet_find(n, to);
    if (!p)
        return LT_ENOTFOUND;
    nng_msg *msg = NULL;
    const struct raft_msg *mp = m;
    const struct codec_chunk *cp = chunk;
    struct codec_stamp stamp;
    raftnet_stamp(n, &stamp);
    size_t len = codec_batch_encode_stamped(&mp, &cp, 1, &stamp, raftnet_msg_alloc, &msg);
    if (len == 0) {
        if (msg)
            nng_msg_free(msg);
        return LT_ENOMEM;
    }
    nng_aio *aio;
    if (nng_aio_alloc(&aio, NULL, NULL) != 0) {
        nng_msg_free(msg);
        return LT_ENOMEM;
    }
    nng_aio_set_timeout(aio, (nng_duration)timeout_ms);
    nng_aio_set_msg(aio, msg);
    nng_send_aio(p->sock, aio);
    nng_aio_wait(aio);
    int rv = nng_aio_result(aio);
    if (rv != 0)
        nng_msg_free(nng_aio_get_msg(aio));
    nng_aio_free(aio);
    (void)len; /* not in the peer's counters: those are the loop's alone */
    return rv == 0 ? 0 : rv == NNG_ETIMEDOUT ? LT_ETIMEDOUT : LT_ESHUTDOWN;
}

void raftnet_set_cluster(struct raftnet *n, uint64_t cluster)
{
    __atomic_store_n(&n->cluster, cluster, __ATOMIC_RELAXED);
}

void raftnet_set_disk(struct raftnet *n, bool low, uint64_t free_bytes)
{
    __atomic_store_n(&n->disk_low, low, __ATOMIC_RELAXED);
    __atomic_store_n(&n->disk_free, free_bytes, __ATOMIC_RELAXED);
}

int raftnet_peer_stats(const struct raftnet *n, uint64_t id, struct raftnet_peer_stats *st)
{
    struct raftnet_peer *p = raftnet_find(n, id);
    if (!p)
        return LT_ENOTFOUND;
    *st = p->st;
    return 0;
}

void raftnet_free(struct raftnet *n)
{
    if (!n)
        return;
    /* Bounded closes (nng_close.h): NNG 1.5 can hang closing a socket whose peer is
     * being dialed. Stuck, the sockets' callbacks may still run: leave their memory. */
    bool closed = nng_close_within(n->pull, RAFTNET_CLOSE_MS);
    for (size_t i = 0; i < n->n_peers; i++)
        closed = closed && nng_close_within(n->peers[i].sock, RAFTNET_CLOSE_MS);
    if (!closed)
        return;
    nng_aio_stop(n->aio);
    nng_aio_free(n->aio);
    nng_aio_free(n->send_aio);
    free(n);
}
