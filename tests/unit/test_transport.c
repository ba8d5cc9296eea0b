/* test_transport.c — node/transport: the raft codec (round trips, snapshot chunks,
 * corrupt input) and the real NNG sockets on 127.0.0.1 (raft push/pull between two
 * endpoints, the rpc rep0 server with many contexts and a request given up without a
 * reply, the event publisher). */
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "cunit_main.h"
#include "eventpub.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "raftnet.h"
#include "rpcserver.h"
#include "testutil.h"

/* ---- codec ---- */

struct decoded {
    struct raft_msg msgs[8];
    struct raft_entry entries[8][4];
    char data[8][4][16];
    struct codec_chunk chunks[8];
    char chunk_data[8][32];
    bool has_chunk[8];
    size_t n;
};

static int collect(void *arg, const struct raft_msg *m, const struct codec_chunk *c)
{
    struct decoded *d = arg;
    if (d->n == 8)
        return LT_ETOOBIG;
    d->msgs[d->n] = *m;
    for (size_t k = 0; k < m->n_entries && k < 4; k++) {
        d->entries[d->n][k] = m->entries[k];
        if (m->entries[k].data.len)
            memcpy(d->data[d->n][k], m->entries[k].data.base, m->entries[k].data.len);
        d->entries[d->n][k].data.base = d->data[d->n][k];
    }
    d->msgs[d->n].entries = d->entries[d->n];
    if (c) {
        d->has_chunk[d->n] = true;
        d->chunks[d->n] = *c;
        memcpy(d->chunk_data[d->n], c->data, c->len);
    }
    d->n++;
    return 0;
}

static void test_codec_roundtrip(void)
{
    struct raft_entry e[3] = {
        {.term = 2, .index = 5, .type = RAFT_ENTRY_NORMAL, .data = {"hello", 5}},
        {.term = 2, .index = 6, .type = RAFT_ENTRY_NOOP, .data = {NULL, 0}},
        {.term = 3, .index = 7, .type = RAFT_ENTRY_CONF_CHANGE, .data = {"cc", 2}},
    };
    struct raft_msg app = {.type = RAFT_MSG_APPEND,
                           .from = 1,
                           .to = 2,
                           .term = 3,
                           .log_term = 2,
                           .index = 4,
                           .commit = 4,
                           .entries = e,
                           .n_entries = 3};
    struct raft_msg rej = {.type = RAFT_MSG_APPEND_RESP,
                           .from = 2,
                           .to = 1,
                           .term = 3,
                           .reject = true,
                           .reject_hint = 3,
                           .hint_term = 1};
    struct raft_msg hb = {.type = RAFT_MSG_HEARTBEAT,
                          .from = 1,
                          .to = 2,
                          .term = 3,
                          .context = 0x1122334455667788ull};
    struct raft_msg snap = {.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 3, .term = 3};
    snap.snapshot.index = 100;
    snap.snapshot.term = 2;
    snap.snapshot.conf.n_voters = 3;
    snap.snapshot.conf.voters[0] = 1;
    snap.snapshot.conf.voters[1] = 2;
    snap.snapshot.conf.voters[2] = 3;
    struct codec_chunk chunk = {
        .offset = 4096, .data = "snapshot-bytes", .len = 14, .done = true, .total = 4110};
    const struct raft_msg *msgs[] = {&app, &rej, &hb, &snap};
    const struct codec_chunk *chunks[] = {NULL, NULL, NULL, &chunk};

    size_t len = codec_batch_size(msgs, chunks, 4);
    CU_ASSERT_FATAL(len > 0 && len < 1024);
    uint8_t buf[1024];
    CU_ASSERT_EQUAL_FATAL(codec_batch_encode(msgs, chunks, 4, buf), len);
    struct decoded d;
    memset(&d, 0, sizeof(d));
    CU_ASSERT_EQUAL_FATAL(codec_batch_decode(buf, len, collect, &d), 0);
    CU_ASSERT_EQUAL_FATAL(d.n, 4);
    CU_ASSERT_EQUAL(d.msgs[0].type, RAFT_MSG_APPEND);
    CU_ASSERT_EQUAL(d.msgs[0].index, 4);
    CU_ASSERT_EQUAL(d.msgs[0].log_term, 2);
    CU_ASSERT_EQUAL_FATAL(d.msgs[0].n_entries, 3);
    CU_ASSERT_EQUAL(d.entries[0][0].data.len, 5);
    CU_ASSERT_EQUAL(memcmp(d.data[0][0], "hello", 5), 0);
    CU_ASSERT_EQUAL(d.entries[0][1].type, RAFT_ENTRY_NOOP);
    CU_ASSERT_EQUAL(d.entries[0][2].type, RAFT_ENTRY_CONF_CHANGE);
    CU_ASSERT_EQUAL(d.entries[0][2].term, 3);
    CU_ASSERT_TRUE(d.msgs[1].reject);
    CU_ASSERT_EQUAL(d.msgs[1].reject_hint, 3);
    CU_ASSERT_EQUAL(d.msgs[1].hint_term, 1);
    CU_ASSERT_EQUAL(d.msgs[2].context, 0x1122334455667788ull);
    CU_ASSERT_FALSE(d.has_chunk[2]);
    CU_ASSERT_EQUAL(d.msgs[3].snapshot.index, 100);
    CU_ASSERT_EQUAL(d.msgs[3].snapshot.conf.n_voters, 3);
    CU_ASSERT_EQUAL(d.msgs[3].snapshot.conf.voters[2], 3);
    CU_ASSERT_TRUE_FATAL(d.has_chunk[3]);
    CU_ASSERT_EQUAL(d.chunks[3].offset, 4096);
    CU_ASSERT_TRUE(d.chunks[3].done);
    CU_ASSERT_EQUAL(d.chunks[3].total, 4110); /* the whole file's size rides every chunk */
    CU_ASSERT_EQUAL(memcmp(d.chunk_data[3], "snapshot-bytes", 14), 0);
}

static int count_only(void *arg, const struct raft_msg *m, const struct codec_chunk *c)
{
    (void)m;
    (void)c;
    (*(int *)arg)++;
    return 0;
}

static void test_codec_corrupt(void)
{
    struct raft_msg hb = {.type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 9};
    const struct raft_msg *msgs[] = {&hb};
    uint8_t buf[128];
    size_t len = codec_batch_encode(msgs, NULL, 1, buf);
    CU_ASSERT_FATAL(len > 2);
    int n = 0;
    /* Every truncation either decodes fewer whole messages or is rejected; never a crash. */
    for (size_t cut = 0; cut < len; cut++) {
        int rc = codec_batch_decode(buf, cut, count_only, &n);
        CU_ASSERT(rc == 0 || rc == LT_ECORRUPT);
    }
    uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    CU_ASSERT_EQUAL(codec_batch_decode(junk, sizeof(junk), count_only, &n), LT_ECORRUPT);
    /* An unknown message type is rejected. */
    struct raft_msg bad = {.type = (enum raft_msg_type)99, .from = 1, .to = 2};
    const struct raft_msg *bm[] = {&bad};
    len = codec_batch_encode(bm, NULL, 1, buf);
    CU_ASSERT_EQUAL(codec_batch_decode(buf, len, count_only, &n), LT_ECORRUPT);
}

/* ---- raftnet over real sockets ---- */

struct inbox {
    pthread_mutex_t mu;
    int batches;
    uint64_t last_term;
};

static int inbox_msg(void *arg, const struct raft_msg *m, const struct codec_chunk *c)
{
    (void)c;
    struct inbox *in = arg;
    in->last_term = m->term;
    return 0;
}

static void inbox_recv(void *arg, nng_msg *msg)
{
    struct inbox *in = arg;
    pthread_mutex_lock(&in->mu);
    if (codec_batch_decode(nng_msg_body(msg), nng_msg_len(msg), inbox_msg, in) == 0)
        in->batches++;
    pthread_mutex_unlock(&in->mu);
    nng_msg_free(msg);
}

static void test_raftnet_exchange(void)
{
    char url_a[64], url_b[64], err[128];
    snprintf(url_a, sizeof(url_a), "tcp://127.0.0.1:%d", tu_free_port());
    snprintf(url_b, sizeof(url_b), "tcp://127.0.0.1:%d", tu_free_port());
    struct inbox in_a = {.mu = PTHREAD_MUTEX_INITIALIZER}, in_b = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct raftnet *a = NULL, *b = NULL;
    CU_ASSERT_EQUAL_FATAL(raftnet_new(url_a, inbox_recv, &in_a, &a, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL_FATAL(raftnet_new(url_b, inbox_recv, &in_b, &b, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(raftnet_add_peer(a, 2, url_b), 0);
    CU_ASSERT_EQUAL(raftnet_add_peer(b, 1, url_a), 0);

    struct raft_msg m = {.type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 7};
    const struct raft_msg *mp[] = {&m};
    CU_ASSERT_EQUAL(raftnet_send(a, 3, mp, NULL, 1), LT_ENOTFOUND);
    /* Sends before the dial completes may be queued or dropped; keep sending until one
     * arrives, for at most 5 s. */
    int got = 0;
    for (int i = 0; i < 500 && !got; i++) {
        raftnet_send(a, 2, mp, NULL, 1);
        lt_sleep_ms(10);
        pthread_mutex_lock(&in_b.mu);
        got = in_b.batches;
        pthread_mutex_unlock(&in_b.mu);
    }
    CU_ASSERT(got > 0);
    CU_ASSERT_EQUAL(in_b.last_term, 7);
    struct raftnet_peer_stats st;
    CU_ASSERT_EQUAL(raftnet_peer_stats(a, 2, &st), 0);
    CU_ASSERT(st.batches_sent >= 1);

    /* A peer that is down never blocks the sender: sends return at once. */
    raftnet_free(b);
    uint64_t t0 = lt_now_ns();
    for (int i = 0; i < 2000; i++)
        raftnet_send(a, 2, mp, NULL, 1);
    CU_ASSERT(lt_now_ns() - t0 < 2000000000ull);
    CU_ASSERT_EQUAL(raftnet_peer_stats(a, 2, &st), 0);
    CU_ASSERT(st.batches_dropped > 0);
    raftnet_free(a);
}

/* ---- rpc server over real sockets ---- */

static void echo_fn(void *arg, struct rpc_slot *slot, nng_msg *req)
{
    (void)arg;
    nng_msg_append(req, "!", 1);
    rpc_slot_reply(slot, req);
}

struct client_arg {
    const char *url;
    int ok;
};

static void *client_thread(void *p)
{
    struct client_arg *ca = p;
    nng_socket s;
    if (nng_req0_open(&s) != 0)
        return NULL;
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
    if (nng_dial(s, ca->url, NULL, 0) == 0) {
        for (int i = 0; i < 50; i++) {
            char out[32];
            int len = snprintf(out, sizeof(out), "req-%d", i);
            char *in = NULL;
            size_t inlen = 0;
            if (nng_send(s, out, (size_t)len, 0) != 0 ||
                nng_recv(s, &in, &inlen, NNG_FLAG_ALLOC) != 0)
                break;
            if (inlen == (size_t)len + 1 && memcmp(in, out, (size_t)len) == 0 && in[len] == '!')
                ca->ok++;
            nng_free(in, inlen);
        }
    }
    nng_close(s);
    return NULL;
}

static void test_rpcserver_concurrent(void)
{
    char url[64], err[128];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", tu_free_port());
    struct rpc_server *srv = NULL;
    CU_ASSERT_EQUAL_FATAL(rpc_server_new(url, 8, echo_fn, NULL, &srv, err, sizeof(err)), 0);
    struct rpc_server *dup = NULL;
    CU_ASSERT_EQUAL(rpc_server_new(url, 2, echo_fn, NULL, &dup, err, sizeof(err)), LT_EIO);
    CU_ASSERT_PTR_NULL(dup);
    CU_ASSERT(strstr(err, url) != NULL);
    pthread_t th[6];
    struct client_arg ca[6];
    for (int i = 0; i < 6; i++) {
        ca[i] = (struct client_arg){.url = url};
        pthread_create(&th[i], NULL, client_thread, &ca[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(ca[i].ok, 50);
    }
    rpc_server_free(srv);
}

/* drop_fn gives up requests starting with "drop" (as the node does when not even an error
 * reply can be allocated) and echoes the others. */
static void drop_fn(void *arg, struct rpc_slot *slot, nng_msg *req)
{
    (void)arg;
    if (nng_msg_len(req) >= 4 && memcmp(nng_msg_body(req), "drop", 4) == 0) {
        nng_msg_free(req);
        rpc_slot_drop(slot);
        return;
    }
    echo_fn(NULL, slot, req);
}

static void test_rpcserver_drop_rearms(void)
{
    char url[64], err[128];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", tu_free_port());
    struct rpc_server *srv = NULL;
    /* one context: a dropped request that kept it would leave nothing to serve the next */
    CU_ASSERT_EQUAL_FATAL(rpc_server_new(url, 1, drop_fn, NULL, &srv, err, sizeof(err)), 0);
    nng_socket s;
    CU_ASSERT_EQUAL_FATAL(nng_req0_open(&s), 0);
    CU_ASSERT_EQUAL_FATAL(nng_dial(s, url, NULL, 0), 0);
    for (int round = 0; round < 3; round++) {
        char *in = NULL;
        size_t inlen = 0;
        nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 200);
        CU_ASSERT_EQUAL(nng_send(s, "drop", 4, 0), 0);
        CU_ASSERT_EQUAL(nng_recv(s, &in, &inlen, NNG_FLAG_ALLOC), NNG_ETIMEDOUT);
        nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
        CU_ASSERT_EQUAL_FATAL(nng_send(s, "ping", 4, 0), 0);
        CU_ASSERT_EQUAL_FATAL(nng_recv(s, &in, &inlen, NNG_FLAG_ALLOC), 0);
        CU_ASSERT(inlen == 5 && memcmp(in, "ping!", 5) == 0);
        nng_free(in, inlen);
    }
    nng_close(s);
    rpc_server_free(srv);
}

static void test_eventpub(void)
{
    char url[64], err[128];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", tu_free_port());
    struct eventpub *p = NULL;
    CU_ASSERT_EQUAL_FATAL(eventpub_new(url, &p, err, sizeof(err)), 0);
    nng_socket sub;
    CU_ASSERT_EQUAL_FATAL(nng_sub0_open(&sub), 0);
    nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "", 0);
    nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 20);
    CU_ASSERT_EQUAL_FATAL(nng_dial(sub, url, NULL, 0), 0);
    int got = 0;
    for (int i = 0; i < 250 && !got; i++) { /* at most ~5 s */
        CU_ASSERT_EQUAL(eventpub_send(p, "evt", 3), 0);
        char *buf = NULL;
        size_t len = 0;
        if (nng_recv(sub, &buf, &len, NNG_FLAG_ALLOC) == 0) {
            got = len == 3 && memcmp(buf, "evt", 3) == 0;
            nng_free(buf, len);
        }
    }
    CU_ASSERT_TRUE(got);
    nng_close(sub);
    eventpub_free(p);
}

static const struct lt_test codec_tests[] = {
    {"batch round trip with entries, hints, context, snapshot chunk", test_codec_roundtrip},
    {"truncated and corrupt batches are rejected", test_codec_corrupt},
    {NULL, NULL},
};

static const struct lt_test socket_tests[] = {
    {"raft batches between two endpoints; dead peer never blocks", test_raftnet_exchange},
    {"rpc server answers concurrent clients on many contexts", test_rpcserver_concurrent},
    {"a request given up without a reply frees its context", test_rpcserver_drop_rearms},
    {"event publisher reaches a subscriber", test_eventpub},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"codec", NULL, NULL, codec_tests},
    {"sockets", NULL, NULL, socket_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
