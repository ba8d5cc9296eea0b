/* rpc_client.c — the node RPC client pool (see rpc_client.h for the behaviour).
 *
 * Locking: each endpoint has one mutex for its breaker, counters, connection count and
 * free contexts; the pool has one for the leader hint and the rotation cursor. No lock
 * is held across NNG calls, sleeps or the breaker callback. */
#include "rpc_client.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lt_clock.h"
#include "lt_err.h"
#include "nng_close.h"
#include "wire.h"

/* One reusable request slot: a req0 context and the aio that drives it. */
struct rpc_req_slot {
    nng_ctx ctx;
    nng_aio *aio;
};

/* A request handed to NNG whose send has not completed: while the connection is busy
 * carrying an earlier message, NNG queues it inside the socket. */
#define RPC_PIPES_MAX  8  /* connections to one endpoint at once (NNG dials one) */
#define RPC_PIPES_GONE 16 /* removals remembered against a late addition */

struct rpc_sending {
    nng_aio *aio;
    struct rpc_sending *prev, *next;
};

struct rpc_endpoint {
    char *url;
    nng_socket sock;
    bool open;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a pipe connects */
    int pipes;         /* connections up: n_live */
    /* The connections by NNG pipe id. NNG 1.5 may report a connection's removal before its
     * addition (both callbacks run unlocked, on different threads): a removal of an id not
     * yet added is remembered so that the late addition is ignored. */
    uint32_t live[RPC_PIPES_MAX];
    uint32_t gone[RPC_PIPES_GONE];
    unsigned n_gone_seen;
    uint64_t losses;            /* times the last connection went away */
    struct rpc_sending sending; /* list head: requests not yet on the wire */
    enum rpc_breaker_state state;
    unsigned consecutive;
    uint64_t opened_at_ns;
    /* The half-open probe: a call admitted as the probe carries probe_gen as its ticket,
     * and only the end of the call with the current ticket frees the place or re-opens
     * the breaker. A call admitted while the breaker was closed may end after the probe
     * went out: it has no ticket (0), so it cannot let a second probe through. */
    bool probe_inflight;
    uint64_t probe_gen;
    uint64_t calls, replies, failures, timeouts, rejected, opens, redirects;
    char last_failure[256]; /* why its last attempt got no answer ("" if none yet) */
    uint64_t last_failure_ns;
    struct rpc_req_slot *free_slots; /* contexts ready for reuse */
    size_t n_free, cap_free;
};

struct rpc_client {
    struct rpc_client_opts o;
    size_t n;
    struct rpc_endpoint ep[RPC_CLIENT_MAX_ENDPOINTS];
    pthread_mutex_t mu;
    int leader;
    size_t rr;
    _Atomic uint64_t next_id;
};

/* A breaker transition to report once the lock is released. */
struct rpc_transition {
    bool happened;
    enum rpc_breaker_state from, to;
};

const char *rpc_breaker_state_name(enum rpc_breaker_state s)
{
    switch (s) {
    case RPC_BREAKER_CLOSED:
        return "closed";
    case RPC_BREAKER_OPEN:
        return "open";
    case RPC_BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "?";
}

int rpc_err_from_code(int code)
{
    switch (code) {
    case LITHAIR__V1__CODE__OK:
        return 0;
    case LITHAIR__V1__CODE__CANCELLED:
        return LT_ESHUTDOWN;
    case LITHAIR__V1__CODE__INVALID_ARGUMENT:
    case LITHAIR__V1__CODE__FAILED_PRECONDITION:
        return LT_EINVAL;
    case LITHAIR__V1__CODE__DEADLINE_EXCEEDED:
        return LT_ETIMEDOUT;
    case LITHAIR__V1__CODE__NOT_FOUND:
        return LT_ENOTFOUND;
    case LITHAIR__V1__CODE__ALREADY_EXISTS:
        return LT_EEXIST;
    case LITHAIR__V1__CODE__PERMISSION_DENIED:
        return LT_EPERM;
    case LITHAIR__V1__CODE__RESOURCE_EXHAUSTED:
        return LT_EBUSY;
    case LITHAIR__V1__CODE__ABORTED:
        return LT_ECONFLICT;
    case LITHAIR__V1__CODE__OUT_OF_RANGE:
        return LT_ECOMPACTED;
    case LITHAIR__V1__CODE__UNIMPLEMENTED:
        return LT_EUNSUPPORTED;
    case LITHAIR__V1__CODE__UNAVAILABLE:
        return LT_EUNAVAIL;
    case LITHAIR__V1__CODE__DATA_LOSS:
        return LT_ECORRUPT;
    case LITHAIR__V1__CODE__UNAUTHENTICATED:
        return LT_EUNAUTH;
    default:
        return LT_EIO;
    }
}

/* ---- breaker ---- */

static void rpc_breaker_set(struct rpc_endpoint *ep, enum rpc_breaker_state to,
                            struct rpc_transition *t)
{
    if (ep->state == to)
        return;
    t->happened = true;
    t->from = ep->state;
    t->to = to;
    ep->state = to;
}

/* rpc_probe_take makes the admitted call the half-open probe: its ticket. Lock held. */
static uint64_t rpc_probe_take(struct rpc_endpoint *ep)
{
    ep->probe_inflight = true;
    return ++ep->probe_gen;
}

/* rpc_breaker_allow decides whether a call may go to `ep` now. Called with ep->mu held.
 * An OPEN breaker past its cool-down turns HALF_OPEN and admits this call as the probe:
 * *probe is then its ticket for rpc_breaker_result, else 0. */
static bool rpc_breaker_allow(struct rpc_client *c, struct rpc_endpoint *ep, uint64_t now,
                              struct rpc_transition *t, uint64_t *probe)
{
    *probe = 0;
    switch (ep->state) {
    case RPC_BREAKER_CLOSED:
        return true;
    case RPC_BREAKER_OPEN:
        if (now - ep->opened_at_ns >= (uint64_t)c->o.breaker_cooldown_ms * 1000000u) {
            rpc_breaker_set(ep, RPC_BREAKER_HALF_OPEN, t);
            *probe = rpc_probe_take(ep);
            return true;
        }
        break;
    case RPC_BREAKER_HALF_OPEN:
        if (!ep->probe_inflight) {
            *probe = rpc_probe_take(ep);
            return true;
        }
        break;
    }
    ep->rejected++;
    return false;
}

/* rpc_breaker_allow_named admits a call to the node another node has just named as the
 * leader (a NOT_LEADER answer): an open breaker is tried at once, as a probe. The name is
 * fresh evidence that the node is up — its peers hear it lead — and the breaker may
 * still be open from while it was down: the leader it names would be out of reach until
 * the cool-down and a probe, and every write would fail with NOT_LEADER meanwhile (seen
 * on the page: a create just after a node restarted from a lost quorum was made leader).
 * It is the probe (*probe its ticket) unless a probe is already in flight: then it goes
 * as well, but its end decides nothing for the half-open breaker. Called with ep->mu held. */
static bool rpc_breaker_allow_named(struct rpc_endpoint *ep, struct rpc_transition *t,
                                    uint64_t *probe)
{
    *probe = 0;
    if (ep->state == RPC_BREAKER_OPEN)
        rpc_breaker_set(ep, RPC_BREAKER_HALF_OPEN, t);
    if (ep->state == RPC_BREAKER_HALF_OPEN && !ep->probe_inflight)
        *probe = rpc_probe_take(ep);
    return true;
}

/* rpc_is_probe: does ticket `probe` belong to the probe in flight now? Lock held. */
static bool rpc_is_probe(const struct rpc_endpoint *ep, uint64_t probe)
{
    return probe != 0 && ep->probe_inflight && probe == ep->probe_gen;
}

/* rpc_probe_cancel frees the probe's place when the call holding ticket `probe` ended
 * without a verdict on the node (a local error): another call may probe. Lock held. */
static void rpc_probe_cancel(struct rpc_endpoint *ep, uint64_t probe)
{
    if (rpc_is_probe(ep, probe))
        ep->probe_inflight = false;
}

/* rpc_breaker_result records the outcome of an admitted call; `probe` is its ticket from
 * rpc_breaker_allow (0: not the probe). Any reply closes the breaker. A failure counts;
 * while the breaker is half-open only the probe's own failure re-opens it: the end of a
 * call admitted before it opened is old news and must not free the probe's place (a
 * second probe would go out beside the first). Called with ep->mu held. */
static void rpc_breaker_result(struct rpc_client *c, struct rpc_endpoint *ep, uint64_t probe,
                               bool replied, bool timeout, struct rpc_transition *t)
{
    bool is_probe = rpc_is_probe(ep, probe);
    if (replied) {
        ep->replies++;
        ep->consecutive = 0;
        ep->probe_inflight = false; /* closed: the probe in flight, if any, is a plain call */
        rpc_breaker_set(ep, RPC_BREAKER_CLOSED, t);
        return;
    }
    ep->failures++;
    if (timeout)
        ep->timeouts++;
    ep->consecutive++;
    if (is_probe)
        ep->probe_inflight = false;
    if ((ep->state == RPC_BREAKER_HALF_OPEN && is_probe) ||
        (ep->state == RPC_BREAKER_CLOSED && ep->consecutive >= c->o.breaker_failures)) {
        ep->opened_at_ns = lt_now_ns();
        ep->opens++;
        rpc_breaker_set(ep, RPC_BREAKER_OPEN, t);
    }
}

/* rpc_notify reports a change with ep->mu still held: reported after the unlock, two
 * changes of one endpoint could reach the callback (and the event stream) out of order. */
static void rpc_notify(struct rpc_client *c, size_t i, const struct rpc_transition *t)
{
    if (t->happened && c->o.on_breaker)
        c->o.on_breaker(c->o.on_breaker_ud, i, c->ep[i].url, t->from, t->to);
}

/* ---- endpoints ---- */

/* rpc_pipe_remove takes `id` out of ep->live; false if it was not there. */
static bool rpc_pipe_remove(struct rpc_endpoint *ep, uint32_t id)
{
    for (int i = 0; i < ep->pipes; i++) {
        if (ep->live[i] == id) {
            ep->live[i] = ep->live[--ep->pipes];
            return true;
        }
    }
    return false;
}

static void rpc_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    struct rpc_endpoint *ep = arg;
    uint32_t id = (uint32_t)nng_pipe_id(p);
    pthread_mutex_lock(&ep->mu);
    if (ev == NNG_PIPE_EV_ADD_POST) {
        bool removed = false;
        for (unsigned i = 0; i < RPC_PIPES_GONE && !removed; i++)
            removed = ep->gone[i] == id;
        if (!removed && ep->pipes < RPC_PIPES_MAX)
            ep->live[ep->pipes++] = id;
    } else if (ev == NNG_PIPE_EV_REM_POST && !rpc_pipe_remove(ep, id)) {
        ep->gone[ep->n_gone_seen++ % RPC_PIPES_GONE] = id; /* its addition is yet to come */
    } else if (ev == NNG_PIPE_EV_REM_POST && ep->pipes == 0) {
        /* The connection is gone. NNG keeps the requests still queued for it until a new
         * one comes (after the node restarts, if ever) or their deadline: they never went
         * out, so they fail now and rpc_call_raw tries the next node. */
        ep->losses++;
        for (struct rpc_sending *q = ep->sending.next; q != &ep->sending; q = q->next)
            nng_aio_cancel(q->aio);
    }
    pthread_cond_broadcast(&ep->cv);
    pthread_mutex_unlock(&ep->mu);
}

static int rpc_endpoint_open(struct rpc_client *c, struct rpc_endpoint *ep, const char *url,
                             size_t len)
{
    pthread_condattr_t ca;
    ep->url = strndup(url, len);
    if (!ep->url)
        return LT_ENOMEM;
    pthread_mutex_init(&ep->mu, NULL);
    ep->sending.prev = ep->sending.next = &ep->sending;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ep->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (nng_req0_open(&ep->sock) != 0)
        return LT_EIO;
    ep->open = true;
    nng_socket_set_ms(ep->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_ms(ep->sock, NNG_OPT_RECONNMINT, (nng_duration)c->o.reconnect_ms);
    nng_socket_set_ms(ep->sock, NNG_OPT_RECONNMAXT, (nng_duration)c->o.reconnect_max_ms);
    nng_socket_set_size(ep->sock, NNG_OPT_RECVMAXSZ, 64u << 20);
    if (nng_pipe_notify(ep->sock, NNG_PIPE_EV_ADD_POST, rpc_pipe_event, ep) != 0 ||
        nng_pipe_notify(ep->sock, NNG_PIPE_EV_REM_POST, rpc_pipe_event, ep) != 0)
        return LT_EIO;
    if (nng_dial(ep->sock, ep->url, NULL, NNG_FLAG_NONBLOCK) != 0)
        return LT_EINVAL;
    return 0;
}

static void rpc_endpoint_close(struct rpc_endpoint *ep)
{
    if (ep->open)
        nng_close(ep->sock); /* closes every context too */
    for (size_t i = 0; i < ep->n_free; i++)
        nng_aio_free(ep->free_slots[i].aio);
    if (ep->url) {
        pthread_mutex_destroy(&ep->mu);
        pthread_cond_destroy(&ep->cv);
    }
    free(ep->free_slots);
    free(ep->url);
}

static void rpc_defaults(struct rpc_client_opts *o)
{
#define RPC_DEFAULT(f, v)                                                                          \
    if (o->f == 0)                                                                                 \
    o->f = (v)
    RPC_DEFAULT(default_timeout_ms, 5000);
    RPC_DEFAULT(breaker_failures, 5);
    RPC_DEFAULT(breaker_cooldown_ms, 2000);
    RPC_DEFAULT(backoff_ms, 10);
    RPC_DEFAULT(backoff_max_ms, 200);
    RPC_DEFAULT(connect_wait_ms, 300);
    RPC_DEFAULT(reconnect_ms, 50);
    RPC_DEFAULT(reconnect_max_ms, 1000);
    RPC_DEFAULT(max_attempts, 8);
#undef RPC_DEFAULT
}

int rpc_client_new(const char *endpoints, const struct rpc_client_opts *opts,
                   struct rpc_client **out)
{
    if (!endpoints)
        return LT_EINVAL;
    struct rpc_client *c = calloc(1, sizeof(*c));
    if (!c)
        return LT_ENOMEM;
    if (opts)
        c->o = *opts;
    rpc_defaults(&c->o);
    pthread_mutex_init(&c->mu, NULL);
    c->leader = -1;
    atomic_init(&c->next_id, 1);
    int rc = 0;
    const char *p = endpoints;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        if (c->n == RPC_CLIENT_MAX_ENDPOINTS) {
            rc = LT_EINVAL;
            goto out_free;
        }
        rc = rpc_endpoint_open(c, &c->ep[c->n++], p, (size_t)(e - p));
        if (rc)
            goto out_free;
        p = e;
    }
    if (c->n == 0) {
        rc = LT_EINVAL;
        goto out_free;
    }
    *out = c;
    return 0;

out_free:
    rpc_client_free(c);
    return rc;
}

void rpc_client_free(struct rpc_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        rpc_endpoint_close(&c->ep[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

size_t rpc_client_endpoint_count(const struct rpc_client *c)
{
    return c->n;
}

const char *rpc_client_endpoint_url(const struct rpc_client *c, size_t i)
{
    return i < c->n ? c->ep[i].url : NULL;
}

int rpc_client_leader(struct rpc_client *c)
{
    pthread_mutex_lock(&c->mu);
    int l = c->leader;
    pthread_mutex_unlock(&c->mu);
    return l;
}

void rpc_client_set_leader(struct rpc_client *c, int i)
{
    pthread_mutex_lock(&c->mu);
    c->leader = i >= 0 && (size_t)i < c->n ? i : -1;
    pthread_mutex_unlock(&c->mu);
}

int rpc_client_stats(struct rpc_client *c, size_t i, struct rpc_endpoint_stats *out)
{
    if (i >= c->n)
        return LT_EINVAL;
    struct rpc_endpoint *ep = &c->ep[i];
    pthread_mutex_lock(&ep->mu);
    struct rpc_endpoint_stats s = {
        .url = ep->url,
        .state = ep->state,
        .connected = ep->pipes > 0,
        .consecutive_failures = ep->consecutive,
        .calls = ep->calls,
        .replies = ep->replies,
        .failures = ep->failures,
        .timeouts = ep->timeouts,
        .rejected = ep->rejected,
        .opens = ep->opens,
        .redirects = ep->redirects,
    };
    pthread_mutex_unlock(&ep->mu);
    *out = s;
    return 0;
}

/* ---- one attempt ---- */

static void rpc_status_reset(struct rpc_status *st)
{
    unsigned attempts = st->attempts;
    memset(st, 0, sizeof(*st));
    st->attempts = attempts;
    st->endpoint = -1;
}

static void rpc_status_local(struct rpc_status *st, int code, int endpoint, const char *fmt,
                             const char *url)
{
    rpc_status_reset(st);
    st->code = code;
    st->transport = true;
    st->endpoint = endpoint;
    snprintf(st->message, sizeof(st->message), fmt, url);
}

static void rpc_status_from_response(struct rpc_status *st, const Lithair__V1__Response *r,
                                     int endpoint)
{
    rpc_status_reset(st);
    st->code = (int)r->code;
    st->endpoint = endpoint;
    st->not_leader = r->not_leader;
    st->leader_id = r->leader_id;
    snprintf(st->message, sizeof(st->message), "%s", r->message ? r->message : "");
    snprintf(st->leader_rpc_url, sizeof(st->leader_rpc_url), "%s",
             r->leader_rpc_url ? r->leader_rpc_url : "");
    for (size_t k = 0; k < r->n_details && k < RPC_STATUS_MAX_DETAILS; k++) {
        snprintf(st->details[k].field, sizeof(st->details[k].field), "%s",
                 r->details[k]->field ? r->details[k]->field : "");
        snprintf(st->details[k].description, sizeof(st->details[k].description), "%s",
                 r->details[k]->description ? r->details[k]->description : "");
        st->n_details = k + 1;
    }
}

/* rpc_wait_connected waits until `ep` has a pipe or `until_ns` passes. */
static bool rpc_wait_connected(struct rpc_endpoint *ep, uint64_t until_ns)
{
    pthread_mutex_lock(&ep->mu);
    while (ep->pipes == 0) {
        uint64_t now = lt_now_ns();
        if (now >= until_ns)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t wait = until_ns - now;
        ts.tv_sec += (time_t)(wait / 1000000000u);
        ts.tv_nsec += (long)(wait % 1000000000u);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ep->cv, &ep->mu, &ts);
    }
    bool ok = ep->pipes > 0;
    pthread_mutex_unlock(&ep->mu);
    return ok;
}

static int rpc_slot_get(struct rpc_endpoint *ep, struct rpc_req_slot *out)
{
    pthread_mutex_lock(&ep->mu);
    if (ep->n_free > 0) {
        *out = ep->free_slots[--ep->n_free];
        pthread_mutex_unlock(&ep->mu);
        return 0;
    }
    pthread_mutex_unlock(&ep->mu);
    struct rpc_req_slot s;
    if (nng_aio_alloc(&s.aio, NULL, NULL) != 0)
        return LT_ENOMEM;
    if (nng_ctx_open(&s.ctx, ep->sock) != 0) {
        nng_aio_free(s.aio);
        return LT_ENOMEM;
    }
    *out = s;
    return 0;
}

static void rpc_slot_close(struct rpc_req_slot *s)
{
    nng_ctx_close(s->ctx);
    nng_aio_free(s->aio);
}

static void rpc_slot_put(struct rpc_endpoint *ep, struct rpc_req_slot s)
{
    pthread_mutex_lock(&ep->mu);
    if (ep->n_free == ep->cap_free) {
        size_t cap = ep->cap_free ? 2 * ep->cap_free : 8;
        struct rpc_req_slot *n = realloc(ep->free_slots, cap * sizeof(*n));
        if (!n) {
            pthread_mutex_unlock(&ep->mu);
            rpc_slot_close(&s);
            return;
        }
        ep->free_slots = n;
        ep->cap_free = cap;
    }
    ep->free_slots[ep->n_free++] = s;
    pthread_mutex_unlock(&ep->mu);
}

/* Outcome of one attempt. */
enum rpc_outcome {
    RPC_REPLIED,   /* *resp holds the node's Response */
    RPC_TRANSPORT, /* no reply: st says why; counted by the breaker */
    RPC_LOCAL,     /* a local error (ENOMEM): not the node's fault */
};

/* rpc_attempt sends one Request to endpoint i (already admitted by its breaker) and
 * waits for the Response until deadline_ns. */
static enum rpc_outcome rpc_attempt(struct rpc_client *c, size_t i, uint64_t probe,
                                    const char *method, const char *token, const uint8_t *payload,
                                    size_t len, uint64_t deadline_ns, Lithair__V1__Response **resp,
                                    struct rpc_status *st, int *err)
{
    struct rpc_endpoint *ep = &c->ep[i];
    struct rpc_transition t = {0};
    enum rpc_outcome outcome = RPC_TRANSPORT;
    bool timeout = false;
    uint64_t now = lt_now_ns();
    uint64_t wait_until = now + (uint64_t)c->o.connect_wait_ms * 1000000u;
    st->attempts++;
    if (!rpc_wait_connected(ep, wait_until < deadline_ns ? wait_until : deadline_ns)) {
        /* the wait is the shorter of the connection wait and the call's deadline: a node
         * that does not connect within it is down or not answering (a stopped process
         * whose kernel still accepts the TCP connection) */
        uint64_t end = wait_until < deadline_ns ? wait_until : deadline_ns;
        unsigned waited = end > now ? (unsigned)((end - now + 999999) / 1000000) : 0;
        char what[sizeof(st->message) - 17]; /* - "no connection to " */
        snprintf(what, sizeof(what), "%.180s within %u ms (the node is down or not answering)",
                 ep->url, waited);
        rpc_status_local(st, LITHAIR__V1__CODE__UNAVAILABLE, (int)i, "no connection to %s", what);
        *err = LT_EUNAVAIL;
        goto out_result;
    }
    now = lt_now_ns();
    uint64_t left_ms = deadline_ns > now ? (deadline_ns - now + 999999) / 1000000 : 1;
    Lithair__V1__Request req = LITHAIR__V1__REQUEST__INIT;
    req.method = (char *)method;
    req.id = atomic_fetch_add(&c->next_id, 1);
    req.timeout_ms = left_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)left_ms;
    req.auth_token = token ? (char *)token : (char *)protobuf_c_empty_string;
    req.payload.data = (uint8_t *)payload;
    req.payload.len = len;
    nng_msg *msg;
    size_t plen = lithair__v1__request__get_packed_size(&req);
    if (nng_msg_alloc_send(&msg, plen) != 0) {
        outcome = RPC_LOCAL;
        *err = LT_ENOMEM;
        goto out_result;
    }
    lithair__v1__request__pack(&req, nng_msg_body(msg));
    struct rpc_req_slot slot;
    if (rpc_slot_get(ep, &slot)) {
        nng_msg_free(msg);
        outcome = RPC_LOCAL;
        *err = LT_ENOMEM;
        goto out_result;
    }
    struct rpc_sending q = {.aio = slot.aio};
    pthread_mutex_lock(&ep->mu);
    ep->calls++;
    uint64_t losses = ep->losses;
    q.prev = ep->sending.prev;
    q.next = &ep->sending;
    q.prev->next = q.next->prev = &q;
    pthread_mutex_unlock(&ep->mu);
    nng_aio_set_msg(slot.aio, msg);
    nng_aio_set_timeout(slot.aio, (nng_duration)left_ms);
    nng_ctx_send(slot.ctx, slot.aio);
    /* the connection may have gone between the check above and the send: then it waits
     * in NNG's queue for one that is not coming (rpc_pipe_event cancels the others) */
    pthread_mutex_lock(&ep->mu);
    bool lost = ep->losses != losses || ep->pipes == 0;
    pthread_mutex_unlock(&ep->mu);
    if (lost)
        nng_aio_cancel(slot.aio); /* nothing if it went out already */
    nng_aio_wait(slot.aio);
    pthread_mutex_lock(&ep->mu);
    q.prev->next = q.next;
    q.next->prev = q.prev;
    pthread_mutex_unlock(&ep->mu);
    int rv = nng_aio_result(slot.aio);
    bool sent = rv == 0; /* from here the node may have the request */
    nng_msg *reply = NULL;
    if (rv != 0) {
        nng_msg_free(nng_aio_get_msg(slot.aio));
    } else {
        now = lt_now_ns();
        left_ms = deadline_ns > now ? (deadline_ns - now + 999999) / 1000000 : 1;
        nng_aio_set_timeout(slot.aio, (nng_duration)left_ms);
        nng_ctx_recv(slot.ctx, slot.aio);
        nng_aio_wait(slot.aio);
        rv = nng_aio_result(slot.aio);
        if (rv == 0)
            reply = nng_aio_get_msg(slot.aio);
    }
    if (rv == 0 || rv == NNG_ETIMEDOUT)
        rpc_slot_put(ep, slot); /* a new send on it abandons the old request */
    else
        rpc_slot_close(&slot);
    if (rv == NNG_ETIMEDOUT) {
        timeout = true;
        rpc_status_local(st, LITHAIR__V1__CODE__DEADLINE_EXCEEDED, (int)i,
                         "deadline exceeded waiting for %s", ep->url);
        st->sent = sent;
        *err = LT_ETIMEDOUT;
        goto out_result;
    }
    if (rv != 0 && sent && !rpc_method_is_read(method)) {
        /* The connection closed after the request went out (the node died or stopped
         * with it in hand): it may have been carried out. Like a timeout, the outcome is
         * unknown, and rpc_call_raw does not send it again. (A read is just unavailable.) */
        rpc_status_local(st, LITHAIR__V1__CODE__DEADLINE_EXCEEDED, (int)i,
                         "the connection to %s closed before it answered: the outcome is "
                         "unknown",
                         ep->url);
        st->sent = true;
        *err = LT_EUNAVAIL;
        goto out_result;
    }
    if (rv != 0) {
        rpc_status_local(st, LITHAIR__V1__CODE__UNAVAILABLE, (int)i, "cannot reach %s", ep->url);
        st->sent = sent;
        *err = LT_EUNAVAIL;
        goto out_result;
    }
    Lithair__V1__Response *r =
        lithair__v1__response__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
    nng_msg_free(reply);
    if (!r) {
        /* the node answered, just not sensibly: alive for the breaker */
        rpc_status_local(st, LITHAIR__V1__CODE__INTERNAL, (int)i, "undecodable reply from %s",
                         ep->url);
        st->transport = false;
        *err = LT_ECORRUPT;
        outcome = RPC_LOCAL;
        pthread_mutex_lock(&ep->mu);
        rpc_breaker_result(c, ep, probe, true, false, &t);
        rpc_notify(c, i, &t);
        pthread_mutex_unlock(&ep->mu);
        return outcome;
    }
    *resp = r;
    outcome = RPC_REPLIED;

out_result:
    pthread_mutex_lock(&ep->mu);
    if (outcome == RPC_LOCAL)
        rpc_probe_cancel(ep, probe); /* not the node's fault: let another probe through */
    else
        rpc_breaker_result(c, ep, probe, outcome == RPC_REPLIED, timeout, &t);
    if (outcome == RPC_TRANSPORT) { /* said again when its circuit is open */
        snprintf(ep->last_failure, sizeof(ep->last_failure), "%s", st->message);
        ep->last_failure_ns = lt_now_ns();
    }
    rpc_notify(c, i, &t);
    pthread_mutex_unlock(&ep->mu);
    return outcome;
}

bool rpc_method_is_read(const char *method)
{
    static const char *const reads[] = {"Models/Get",     "Models/List",  "Models/History",
                                        "Cluster/Status", "Cluster/Ping", "Cluster/WalStats"};
    for (size_t k = 0; k < sizeof(reads) / sizeof(reads[0]); k++)
        if (strcmp(method, reads[k]) == 0)
            return true;
    return false;
}

/* rpc_last_failure writes " (the last failure: ...)" for endpoint `only` (-1: the most
 * recent of any endpoint), or nothing if none failed yet: a refusal by open circuits then
 * still says why they opened (no connection, a timeout). */
static void rpc_last_failure(struct rpc_client *c, int only, char *out, size_t n)
{
    uint64_t newest = 0;
    for (size_t k = 0; k < c->n; k++) {
        if (only >= 0 && (size_t)only != k)
            continue;
        struct rpc_endpoint *ep = &c->ep[k];
        pthread_mutex_lock(&ep->mu);
        if (ep->last_failure[0] && ep->last_failure_ns >= newest) {
            newest = ep->last_failure_ns;
            snprintf(out, n, " (the last failure: %s)", ep->last_failure);
        }
        pthread_mutex_unlock(&ep->mu);
    }
}

/* rpc_pick chooses where the next attempt of a call goes: the hint (a redirect target),
 * else the leader, else the next connected endpoint in rotation, else any; each must be
 * admitted by its breaker (*probe: the probe ticket, 0 if not the probe). Returns -1 if
 * every breaker refuses. */
static int rpc_pick(struct rpc_client *c, int hint, bool named, uint64_t *probe)
{
    size_t order[RPC_CLIENT_MAX_ENDPOINTS * 2 + 2], n = 0;
    pthread_mutex_lock(&c->mu);
    int leader = c->leader;
    size_t start = c->rr++ % c->n;
    pthread_mutex_unlock(&c->mu);
    if (hint >= 0)
        order[n++] = (size_t)hint;
    if (leader >= 0 && leader != hint)
        order[n++] = (size_t)leader;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < c->n; k++) {
            size_t i = (start + k) % c->n;
            pthread_mutex_lock(&c->ep[i].mu);
            bool connected = c->ep[i].pipes > 0;
            pthread_mutex_unlock(&c->ep[i].mu);
            if ((pass == 0) == connected)
                order[n++] = i;
        }
    }
    uint64_t now = lt_now_ns();
    for (size_t k = 0; k < n; k++) {
        struct rpc_endpoint *ep = &c->ep[order[k]];
        struct rpc_transition t = {0};
        pthread_mutex_lock(&ep->mu);
        bool ok = named && k == 0 ? rpc_breaker_allow_named(ep, &t, probe)
                                  : rpc_breaker_allow(c, ep, now, &t, probe);
        rpc_notify(c, order[k], &t);
        pthread_mutex_unlock(&ep->mu);
        if (ok)
            return (int)order[k];
    }
    return -1;
}

static int rpc_find_url(struct rpc_client *c, const char *url)
{
    for (size_t i = 0; url && *url && i < c->n; i++)
        if (strcmp(c->ep[i].url, url) == 0)
            return (int)i;
    return -1;
}

static void rpc_forget_leader(struct rpc_client *c, int i)
{
    pthread_mutex_lock(&c->mu);
    if (c->leader == i)
        c->leader = -1;
    pthread_mutex_unlock(&c->mu);
}

/* rpc_sleep_backoff sleeps before a retry and doubles the back-off. Returns false,
 * without sleeping, when the deadline would pass before the retry could start: a retry
 * with no time left could only time out, which is not the node's fault. */
/* rpc_not_leader_unasked: the call ends on a NOT_LEADER answer because its deadline came
 * before the leader it names could be asked (a --timeout of a few ms): say so, rather than
 * leave "not the leader" as if no leader could be found. The code stays UNAVAILABLE: the
 * request was refused, not carried out. Returns err. */
static int rpc_not_leader_unasked(struct rpc_status *st, int err, unsigned timeout_ms)
{
    if (err != LT_ENOTLEADER)
        return err;
    size_t k = strlen(st->message);
    snprintf(st->message + k, sizeof(st->message) - k,
             " (the call's %u ms deadline passed before the leader could be asked)", timeout_ms);
    return err;
}

static bool rpc_sleep_backoff(unsigned *backoff, unsigned max, uint64_t deadline_ns)
{
    uint64_t now = lt_now_ns(), ms = *backoff;
    if (now + (ms + 1) * 1000000u >= deadline_ns)
        return false;
    lt_sleep_ms(ms);
    *backoff = *backoff * 2 > max ? max : *backoff * 2;
    return true;
}

int rpc_call_raw(struct rpc_client *c, const struct rpc_call_opts *co, const char *method,
                 const uint8_t *payload, size_t len, uint8_t **resp, size_t *resp_len,
                 struct rpc_status *status)
{
    struct rpc_status local;
    struct rpc_status *st = status ? status : &local;
    struct rpc_call_opts dflt = {.endpoint = -1};
    if (!co)
        co = &dflt;
    memset(st, 0, sizeof(*st));
    st->endpoint = -1;
    if (!method || (co->endpoint >= 0 && (size_t)co->endpoint >= c->n)) {
        st->code = LITHAIR__V1__CODE__INVALID_ARGUMENT;
        snprintf(st->message, sizeof(st->message), "bad method or endpoint");
        return LT_EINVAL;
    }
    unsigned timeout = co->timeout_ms ? co->timeout_ms : c->o.default_timeout_ms;
    uint64_t deadline = lt_now_ns() + (uint64_t)timeout * 1000000u;
    bool fixed = co->endpoint >= 0, redirected = false, named = false;
    unsigned backoff = c->o.backoff_ms;
    int hint = fixed ? co->endpoint : -1;
    int err = LT_EUNAVAIL;
    st->code = LITHAIR__V1__CODE__UNAVAILABLE;
    snprintf(st->message, sizeof(st->message), "no endpoint available");
    for (unsigned attempt = 0; attempt < c->o.max_attempts; attempt++) {
        if (attempt > 0 && lt_now_ns() >= deadline)
            return rpc_not_leader_unasked(st, err, timeout);
        int i;
        uint64_t probe = 0;
        if (fixed) {
            struct rpc_transition t = {0};
            struct rpc_endpoint *ep = &c->ep[hint];
            pthread_mutex_lock(&ep->mu);
            bool ok = rpc_breaker_allow(c, ep, lt_now_ns(), &t, &probe);
            rpc_notify(c, (size_t)hint, &t);
            pthread_mutex_unlock(&ep->mu);
            i = ok ? hint : -1;
        } else {
            i = rpc_pick(c, hint, named, &probe);
        }
        hint = -1;
        named = false;
        if (i < 0) {
            char what[512] = "";
            int k = snprintf(what, sizeof(what), "%s",
                             fixed ? c->ep[co->endpoint].url : "every endpoint");
            rpc_last_failure(c, fixed ? co->endpoint : -1, what + k, sizeof(what) - (size_t)k);
            rpc_status_local(st, LITHAIR__V1__CODE__UNAVAILABLE, fixed ? co->endpoint : -1,
                             "circuit open for %s", what);
            err = LT_EUNAVAIL;
            if (fixed || !rpc_sleep_backoff(&backoff, c->o.backoff_max_ms, deadline))
                return err;
            continue;
        }
        Lithair__V1__Response *r = NULL;
        enum rpc_outcome oc = rpc_attempt(c, (size_t)i, probe, method, co->auth_token, payload, len,
                                          deadline, &r, st, &err);
        if (oc == RPC_LOCAL)
            return err;
        if (oc == RPC_TRANSPORT) {
            rpc_forget_leader(c, i);
            if (fixed)
                return err;
            /* a request that may have been carried out is sent again only if it reads */
            if (err == LT_ETIMEDOUT || (st->sent && !rpc_method_is_read(method)) ||
                !rpc_sleep_backoff(&backoff, c->o.backoff_max_ms, deadline))
                return err;
            continue;
        }
        rpc_status_from_response(st, r, i);
        if (r->code == LITHAIR__V1__CODE__OK) {
            int rc = 0;
            if (resp && resp_len) {
                uint8_t *buf = NULL;
                if (r->payload.len) {
                    buf = malloc(r->payload.len);
                    if (buf)
                        memcpy(buf, r->payload.data, r->payload.len);
                    else
                        rc = LT_ENOMEM;
                }
                if (rc == 0) {
                    *resp = buf;
                    *resp_len = r->payload.len;
                }
            }
            lithair__v1__response__free_unpacked(r, NULL);
            return rc;
        }
        bool unavailable = r->code == LITHAIR__V1__CODE__UNAVAILABLE;
        bool not_leader = r->not_leader;
        lithair__v1__response__free_unpacked(r, NULL);
        err = not_leader ? LT_ENOTLEADER : rpc_err_from_code(st->code);
        if (not_leader) {
            struct rpc_endpoint *ep = &c->ep[i];
            pthread_mutex_lock(&ep->mu);
            ep->redirects++;
            pthread_mutex_unlock(&ep->mu);
            int j = rpc_find_url(c, st->leader_rpc_url);
            rpc_forget_leader(c, i);
            if (j >= 0 && j != i)
                rpc_client_set_leader(c, j);
            if (fixed)
                return err;
            if (j >= 0 && j != i && !redirected) {
                redirected = true; /* straight to the named leader, once, breaker or not */
                hint = j;
                named = true;
                continue;
            }
            hint = j != i ? j : -1;
            if (!rpc_sleep_backoff(&backoff, c->o.backoff_max_ms, deadline))
                return rpc_not_leader_unasked(st, err, timeout);
            continue;
        }
        if (!unavailable || fixed)
            return err;
        rpc_forget_leader(c, i);
        if (!rpc_sleep_backoff(&backoff, c->o.backoff_max_ms, deadline))
            return err;
    }
    return err;
}

int rpc_call_ex(struct rpc_client *c, const struct rpc_call_opts *co, const char *method,
                const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                ProtobufCMessage **resp, struct rpc_status *status)
{
    uint8_t stackbuf[512], *buf = stackbuf;
    size_t len = req ? protobuf_c_message_get_packed_size(req) : 0;
    if (len > sizeof(stackbuf)) {
        buf = malloc(len);
        if (!buf) {
            if (status) {
                memset(status, 0, sizeof(*status));
                status->endpoint = -1;
                status->code = LITHAIR__V1__CODE__RESOURCE_EXHAUSTED;
                snprintf(status->message, sizeof(status->message), "out of memory");
            }
            return LT_ENOMEM;
        }
    }
    if (req)
        protobuf_c_message_pack(req, buf);
    uint8_t *out = NULL;
    size_t out_len = 0;
    bool want = resp && resp_desc;
    int rc = rpc_call_raw(c, co, method, req ? buf : NULL, len, want ? &out : NULL,
                          want ? &out_len : NULL, status);
    if (buf != stackbuf)
        free(buf);
    if (rc || !want)
        return rc;
    ProtobufCMessage *m = protobuf_c_message_unpack(resp_desc, NULL, out_len, out);
    free(out);
    if (!m) {
        if (status) {
            status->code = LITHAIR__V1__CODE__INTERNAL;
            snprintf(status->message, sizeof(status->message), "reply is not a valid %s",
                     resp_desc->name);
        }
        return LT_ECORRUPT;
    }
    *resp = m;
    return 0;
}

int rpc_call(struct rpc_client *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, unsigned timeout_ms,
             ProtobufCMessage **resp, struct rpc_status *status)
{
    struct rpc_call_opts co = {.timeout_ms = timeout_ms, .endpoint = -1};
    return rpc_call_ex(c, &co, method, req, resp_desc, resp, status);
}

int rpc_call_endpoint(struct rpc_client *c, size_t i, const char *method,
                      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                      unsigned timeout_ms, ProtobufCMessage **resp, struct rpc_status *status)
{
    if (i >= c->n)
        return LT_EINVAL;
    struct rpc_call_opts co = {.timeout_ms = timeout_ms, .endpoint = (int)i};
    return rpc_call_ex(c, &co, method, req, resp_desc, resp, status);
}

size_t rpc_client_probe_open(struct rpc_client *c, unsigned timeout_ms)
{
    size_t probed = 0;
    uint64_t now = lt_now_ns();
    for (size_t i = 0; i < c->n; i++) {
        struct rpc_endpoint *ep = &c->ep[i];
        pthread_mutex_lock(&ep->mu);
        bool due = ep->state == RPC_BREAKER_OPEN &&
                   now - ep->opened_at_ns >= (uint64_t)c->o.breaker_cooldown_ms * 1000000u;
        pthread_mutex_unlock(&ep->mu);
        if (!due)
            continue;
        /* the call itself is the half-open probe: rpc_breaker_allow admits it */
        Lithair__V1__PingRequest req = LITHAIR__V1__PING_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct rpc_status st;
        if (rpc_call_endpoint(c, i, "Cluster/Ping", &req.base, &lithair__v1__ping_reply__descriptor,
                              timeout_ms, &resp, &st) == 0)
            protobuf_c_message_free_unpacked(resp, NULL);
        probed++;
    }
    return probed;
}
