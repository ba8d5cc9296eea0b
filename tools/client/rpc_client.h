/* rpc_client.h — the client side of the node RPC protocol (rpc.proto): a pool over the
 * nodes' NNG rep0 endpoints, shared by the gateway, lithair-admin and the benchmark
 * engine.
 *
 * One NNG req0 socket per endpoint, dialed in the background (NNG reconnects by itself);
 * each call runs on its own req0 context (taken from a per-endpoint free list), so any
 * number of threads may call at once. A call:
 *   - has a deadline (timeout_ms; 0 = the pool's default) that bounds everything,
 *     retries and back-off included, and is passed to the node as Request.timeout_ms;
 *   - goes to the leader when one is known, else to a connected endpoint, rotating;
 *   - on a reply with not_leader and a leader_rpc_url from the pool, is retried at once
 *     on that leader (once per call), and the pool remembers the leader;
 *   - on UNAVAILABLE (an election, a node shutting down: the node did not carry it out)
 *     or a transport failure before the request went out, is retried on the next
 *     endpoint after an exponential back-off, while the deadline allows
 *     (rpc_call_endpoint never retries: it asks one node, once); when the connection
 *     closes after the request went out, only a read is retried (rpc_method_is_read):
 *     a write may have been carried out, so it fails as a timeout does (outcome unknown)
 *     rather than risk being done twice. A request NNG still holds in its queue (the
 *     connection busy with earlier ones) when the connection goes has not gone out: it
 *     fails at once as not sent and moves on, instead of waiting for a connection that
 *     may never come back until its deadline;
 *   - passes each endpoint's circuit breaker: CLOSED → OPEN after `breaker_failures`
 *     consecutive transport failures or timeouts; OPEN rejects calls at once until
 *     `breaker_cooldown_ms` passed, then HALF_OPEN lets exactly one probe through: its
 *     success closes the breaker, its failure opens it again. Any reply from the node,
 *     whatever its code, is a success for the breaker. A call admitted before the breaker
 *     opened that fails after the probe went out is counted but decides nothing: only the
 *     probe's own end frees its place, so a second probe never runs beside the first.
 *
 * Not here: JSON (pbjson.h), what methods mean beyond which ones only read, and
 * server-side anything. */
#ifndef RPC_CLIENT_H
#define RPC_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RPC_CLIENT_MAX_ENDPOINTS 16
#define RPC_STATUS_MAX_DETAILS   8

enum rpc_breaker_state { RPC_BREAKER_CLOSED, RPC_BREAKER_OPEN, RPC_BREAKER_HALF_OPEN };

/* Called from the calling thread when an endpoint's breaker changes, with that endpoint's
 * lock held so that changes arrive in the order they happened: keep it short, and do not
 * call the client from it. */
typedef void (*rpc_breaker_fn)(void *ud, size_t endpoint, const char *url,
                               enum rpc_breaker_state from, enum rpc_breaker_state to);

/* Pool options; a zero field takes the default in brackets. */
struct rpc_client_opts {
    unsigned default_timeout_ms;  /* deadline of a call given timeout 0 [5000] */
    unsigned breaker_failures;    /* consecutive failures that open a breaker [5] */
    unsigned breaker_cooldown_ms; /* OPEN → HALF_OPEN after this long [2000] */
    unsigned backoff_ms;          /* first retry back-off, doubled each time [10] */
    unsigned backoff_max_ms;      /* back-off ceiling [200] */
    unsigned connect_wait_ms;     /* how long a call waits for a connection [300] */
    unsigned reconnect_ms;        /* NNG reconnect interval, min [50] */
    unsigned reconnect_max_ms;    /* NNG reconnect interval, max [1000] */
    unsigned max_attempts;        /* attempts per call, redirects included [8] */
    rpc_breaker_fn on_breaker;    /* may be NULL */
    void *on_breaker_ud;
};

/* What came back. `code` is the node's status code (LITHAIR__V1__CODE__*), or for a call
 * that got no reply: DEADLINE_EXCEEDED (timed out) or UNAVAILABLE (no connection,
 * breaker open), with `transport` set. */
struct rpc_status {
    int code;
    bool transport; /* the failure was local: no reply was received */
    bool sent;      /* ... though the request went out: it may have been carried out */
    bool not_leader;
    char message[256];
    uint64_t leader_id;
    char leader_rpc_url[128];
    size_t n_details;
    struct {
        char field[64];
        char description[192];
    } details[RPC_STATUS_MAX_DETAILS];
    int endpoint;      /* index of the endpoint that answered last, -1 if none */
    unsigned attempts; /* requests sent or tried */
};

/* Per-call options beyond the simple API. */
struct rpc_call_opts {
    unsigned timeout_ms;    /* 0: the pool's default */
    int endpoint;           /* >= 0: only this endpoint, one attempt; -1: any */
    const char *auth_token; /* Request.auth_token; may be NULL */
};

/* Counters of one endpoint. */
struct rpc_endpoint_stats {
    const char *url;
    enum rpc_breaker_state state;
    bool connected;
    unsigned consecutive_failures;
    uint64_t calls;     /* requests sent */
    uint64_t replies;   /* replies received */
    uint64_t failures;  /* transport failures and timeouts */
    uint64_t timeouts;  /* of which timeouts */
    uint64_t rejected;  /* calls the open breaker refused */
    uint64_t opens;     /* times the breaker opened */
    uint64_t redirects; /* not_leader replies */
};

struct rpc_client;

/* rpc_client_new makes a pool over `endpoints`, a comma-separated list of NNG URLs
 * ("tcp://127.0.0.1:7201,tcp://127.0.0.1:7202"). `opts` may be NULL. Dialing happens in
 * the background, so a node that is down is not an error. Returns 0 and *out, LT_EINVAL
 * (empty list, more than RPC_CLIENT_MAX_ENDPOINTS, a URL NNG rejects), LT_ENOMEM or
 * LT_EIO. */
int rpc_client_new(const char *endpoints, const struct rpc_client_opts *opts,
                   struct rpc_client **out);

/* rpc_client_free closes every socket. No call may be in flight. NULL does nothing. */
void rpc_client_free(struct rpc_client *c);

/* rpc_call sends `req` to "Service/Method" (wire.h names) with the retries described
 * above and, when the reply's code is OK, unpacks its payload as `resp_desc` into *resp
 * (free with protobuf_c_message_free_unpacked(*resp, NULL); with resp_desc or resp NULL
 * the payload is ignored). `status` (may be NULL) is always filled.
 * Returns 0 when the node answered OK; otherwise the code mapped by rpc_err_from_code
 * (LT_ENOTFOUND, LT_ENOTLEADER, LT_ETIMEDOUT, LT_EUNAVAIL...), LT_ECORRUPT for a reply that
 * does not decode, LT_ENOMEM. */
int rpc_call(struct rpc_client *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, unsigned timeout_ms,
             ProtobufCMessage **resp, struct rpc_status *status);

/* rpc_call_endpoint is rpc_call to endpoint `i` only: one attempt, no redirect. */
int rpc_call_endpoint(struct rpc_client *c, size_t i, const char *method,
                      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                      unsigned timeout_ms, ProtobufCMessage **resp, struct rpc_status *status);

/* rpc_call_raw is the byte-level call underneath: `payload` is the packed input message;
 * on success *resp / *resp_len hold the reply payload (malloc'd, NULL when empty; the
 * caller frees it). `co` may be NULL. */
int rpc_call_raw(struct rpc_client *c, const struct rpc_call_opts *co, const char *method,
                 const uint8_t *payload, size_t len, uint8_t **resp, size_t *resp_len,
                 struct rpc_status *status);

/* rpc_call_ex is rpc_call with per-call options. */
int rpc_call_ex(struct rpc_client *c, const struct rpc_call_opts *co, const char *method,
                const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                ProtobufCMessage **resp, struct rpc_status *status);

/* rpc_client_endpoint_count / rpc_client_endpoint_url: the pool's endpoints. */
size_t rpc_client_endpoint_count(const struct rpc_client *c);
const char *rpc_client_endpoint_url(const struct rpc_client *c, size_t i);

/* rpc_client_leader returns the index of the endpoint believed to lead, -1 if unknown. */
int rpc_client_leader(struct rpc_client *c);

/* rpc_method_is_read: whether `method` only reads (Models/Get, List, History; Cluster/
 * Status, Ping, WalStats), so that sending it twice is harmless. A call whose connection
 * closed after its request went out is retried on another endpoint only if it reads;
 * otherwise it fails with DEADLINE_EXCEEDED (outcome unknown) and status.sent set. */
bool rpc_method_is_read(const char *method);

/* rpc_client_set_leader sets (or with -1 forgets) the leader hint. */
void rpc_client_set_leader(struct rpc_client *c, int i);

/* rpc_client_stats copies endpoint `i`'s counters. Returns LT_EINVAL if no such index. */
int rpc_client_stats(struct rpc_client *c, size_t i, struct rpc_endpoint_stats *out);

/* rpc_client_probe_open sends a Cluster/Ping (deadline timeout_ms) to every endpoint whose
 * breaker is open and past its cool-down: that call is the half-open probe, so a node that
 * came back closes its breaker even when nothing else calls it (a breaker otherwise only
 * moves on a call). Returns how many endpoints it probed. Blocks up to timeout_ms each. */
size_t rpc_client_probe_open(struct rpc_client *c, unsigned timeout_ms);

/* rpc_breaker_state_name: "closed", "open", "half_open". */
const char *rpc_breaker_state_name(enum rpc_breaker_state s);

/* rpc_err_from_code maps an RPC status code to an lt_err code (OK → 0). */
int rpc_err_from_code(int code);

#endif
