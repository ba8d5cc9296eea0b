/* rpcserver.h — the node's RPC endpoint: an NNG rep0 socket served by many contexts.
 *
 * Each context carries one request at a time: it receives, hands the raw request to the
 * node's callback, and sends whatever reply the node later gives it (from any thread).
 * The number of contexts bounds the requests in flight; more wait in NNG's queue. This
 * file knows nothing of what a request means. */
#ifndef RPCSERVER_H
#define RPCSERVER_H

#include <nng/nng.h>

struct rpc_server;
struct rpc_slot; /* one request in flight */

/* Called on an NNG thread for each request; the callee owns `req` and must call
 * rpc_slot_reply(slot, ...) or rpc_slot_drop(slot) exactly once, from any thread. */
typedef void (*rpc_server_fn)(void *arg, struct rpc_slot *slot, nng_msg *req);

/* rpc_server_new listens on `url` with `n_ctx` contexts. On error *out is untouched and
 * errbuf says why. */
int rpc_server_new(const char *url, unsigned n_ctx, rpc_server_fn fn, void *arg,
                   struct rpc_server **out, char *errbuf, size_t errlen);

/* rpc_slot_reply sends `resp` (owned by the server from now on) and re-arms the context. */
void rpc_slot_reply(struct rpc_slot *slot, nng_msg *resp);

/* rpc_slot_drop gives up the request without a reply (its client's deadline ends the
 * call) and re-arms the context: for when not even an error reply can be allocated. */
void rpc_slot_drop(struct rpc_slot *slot);

/* rpc_server_sending: replies given whose send has not completed yet. A node that stops
 * waits for 0 first (NNG 1.5 has no linger: closing the socket drops what is queued). */
unsigned rpc_server_sending(struct rpc_server *s);

/* rpc_server_free closes the socket. Replies given after this are dropped; the node must
 * not touch slots afterwards. */
void rpc_server_free(struct rpc_server *s);

#endif
