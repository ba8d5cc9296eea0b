/* rpcserver.c — rep0 socket with a pool of contexts (see rpcserver.h). */
#include "rpcserver.h"

#include <nng/protocol/reqrep0/rep.h>
#include <stdio.h>
#include <stdlib.h>

#include "lt_err.h"
#include "nng_close.h"
#include "wire.h"

#define RPCSERVER_CLOSE_MS 1000 /* longest wait for the socket to close */

enum rpc_slot_state { RPC_SLOT_RECV, RPC_SLOT_BUSY, RPC_SLOT_SEND };

struct rpc_slot {
    struct rpc_server *srv;
    nng_ctx ctx;
    nng_aio *aio;
    enum rpc_slot_state state;
};

struct rpc_server {
    nng_socket sock;
    rpc_server_fn fn;
    void *arg;
    struct rpc_slot *slots;
    unsigned n_slots;
    unsigned sending; /* atomic: replies handed to NNG whose send has not completed */
};

static void rpc_slot_cb(void *arg)
{
    struct rpc_slot *slot = arg;
    int rv = nng_aio_result(slot->aio);
    switch (slot->state) {
    case RPC_SLOT_RECV:
        if (rv != 0) {
            if (rv == NNG_ECLOSED)
                return;
            nng_ctx_recv(slot->ctx, slot->aio);
            return;
        }
        slot->state = RPC_SLOT_BUSY;
        slot->srv->fn(slot->srv->arg, slot, nng_aio_get_msg(slot->aio));
        return;
    case RPC_SLOT_SEND:
        __atomic_sub_fetch(&slot->srv->sending, 1, __ATOMIC_RELEASE);
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(slot->aio));
            if (rv == NNG_ECLOSED)
                return;
        }
        slot->state = RPC_SLOT_RECV;
        nng_ctx_recv(slot->ctx, slot->aio);
        return;
    case RPC_SLOT_BUSY:
        return;
    }
}

void rpc_slot_reply(struct rpc_slot *slot, nng_msg *resp)
{
    __atomic_add_fetch(&slot->srv->sending, 1, __ATOMIC_RELAXED);
    slot->state = RPC_SLOT_SEND;
    nng_aio_set_msg(slot->aio, resp);
    nng_ctx_send(slot->ctx, slot->aio);
}

void rpc_slot_drop(struct rpc_slot *slot)
{
    slot->state = RPC_SLOT_RECV;
    nng_ctx_recv(slot->ctx, slot->aio); /* a rep0 context's next receive forgets the last */
}

int rpc_server_new(const char *url, unsigned n_ctx, rpc_server_fn fn, void *arg,
                   struct rpc_server **out, char *errbuf, size_t errlen)
{
    struct rpc_server *s = calloc(1, sizeof(*s));
    if (!s)
        return LT_ENOMEM;
    s->fn = fn;
    s->arg = arg;
    s->slots = calloc(n_ctx, sizeof(*s->slots));
    if (!s->slots) {
        free(s);
        return LT_ENOMEM;
    }
    int rv = nng_rep0_open(&s->sock);
    if (rv != 0)
        goto out_free;
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, WIRE_RPC_MAX_REQUEST);
    for (unsigned i = 0; i < n_ctx; i++) {
        struct rpc_slot *slot = &s->slots[i];
        slot->srv = s;
        if ((rv = nng_ctx_open(&slot->ctx, s->sock)) != 0 ||
            (rv = nng_aio_alloc(&slot->aio, rpc_slot_cb, slot)) != 0)
            goto out_close;
        s->n_slots++;
    }
    if ((rv = nng_listen(s->sock, url, NULL, 0)) != 0)
        goto out_close;
    for (unsigned i = 0; i < s->n_slots; i++) {
        s->slots[i].state = RPC_SLOT_RECV;
        nng_ctx_recv(s->slots[i].ctx, s->slots[i].aio);
    }
    *out = s;
    return 0;
out_close:
    nng_close(s->sock);
    for (unsigned i = 0; i < s->n_slots; i++)
        nng_aio_free(s->slots[i].aio);
out_free:
    snprintf(errbuf, errlen, "rpc socket %s: %s", url, nng_strerror(rv));
    free(s->slots);
    free(s);
    return LT_EIO;
}

unsigned rpc_server_sending(struct rpc_server *s)
{
    return __atomic_load_n(&s->sending, __ATOMIC_ACQUIRE);
}

void rpc_server_free(struct rpc_server *s)
{
    if (!s)
        return;
    /* bounded (nng_close.h); stuck, the contexts' callbacks may still run: leave them */
    if (!nng_close_within(s->sock, RPCSERVER_CLOSE_MS))
        return;
    for (unsigned i = 0; i < s->n_slots; i++) {
        nng_aio_stop(s->slots[i].aio);
        nng_aio_free(s->slots[i].aio);
    }
    free(s->slots);
    free(s);
}
