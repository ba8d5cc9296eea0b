/* gw_coalesce.c — write coalescing: concurrent creates from different HTTP threads travel
 * to the leader as one Rpc/Batch.
 *
 * Each caller appends a slot (on its own stack) to one queue and sleeps on the slot's
 * semaphore (posted without any lock held, so a woken caller does not queue on a mutex). `senders`
 * threads (GW_COALESCE_MAX_THREADS at most) each take everything queued (up to max_batch slots
 * and GW_COALESCE_MAX_BYTES),
 * send it as one Rpc/Batch, and hand every slot its own Response. So while a batch is on the
 * wire, the next one gathers: the batch size follows the load with no timer and no added latency
 * when idle (a lone request goes out at once, as a plain call from the sender thread). With two
 * senders (the gateway's default) a write that arrives just after a batch left goes with the
 * next one to leave instead of waiting for the first to come back: smaller batches, but a
 * shorter wait in the queue and less idle CPU while a batch waits on the disks.
 *
 * A slot whose inner response is "not the leader" or "unavailable", or whose batch could
 * not be sent at all without a reply, is retried by its own caller with the normal
 * rpc_call_raw (redirects, back-off, deadline): correctness never depends on batching.
 * A batch that timed out is reported as DEADLINE_EXCEEDED to every slot (outcome
 * unknown, as for any timed-out write).
 *
 * Not here: what the calls mean (gw_items.c). */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_log.h"
#include "wire.h"

#define GW_COALESCE_MAX_THREADS 16

/* A batch carries at most this many bytes of requests (one larger request goes alone): a
 * node refuses a message over 16 MiB (node/transport/rpcserver.c) by closing the
 * connection, which failed every write of the batch - other clients' among them - and
 * whatever else was in flight on that connection; and the leader's loop decodes a batch in
 * one pass (8 MiB took it past the election timeout in a sanitizer build). 256 creates of
 * 1 KiB are a quarter of it. */
#define GW_COALESCE_MAX_BYTES (1u << 20)

struct gw_slot {
    struct gw_slot *next;
    const char *method;
    const uint8_t *payload;
    size_t len;
    unsigned timeout_ms;  /* what is left of the caller's deadline when sent */
    uint64_t deadline_ns; /* the caller's deadline (lt_now_ns clock): queueing counts */
    sem_t done;           /* posted once by the sender when the outcome is in */
    bool retry;           /* the caller must send it alone */
    int rc;
    uint8_t *resp;
    size_t resp_len;
    struct rpc_status st;
};

struct gw_coalescer {
    struct gw *g;
    unsigned max_batch;
    pthread_mutex_t mu;
    pthread_cond_t work;
    struct gw_slot *head, *tail;
    bool stopping;
    pthread_t threads[GW_COALESCE_MAX_THREADS];
    size_t n_threads;
    uint64_t batches, batched; /* under mu: for /metrics */
};

/* gw_left_ms: milliseconds left before `deadline_ns`, 0 when it passed. */
static unsigned gw_left_ms(uint64_t deadline_ns)
{
    uint64_t now = lt_now_ns();
    if (now >= deadline_ns)
        return 0;
    uint64_t ms = (deadline_ns - now + 999999) / 1000000;
    return ms > UINT32_MAX ? UINT32_MAX : (unsigned)ms;
}

/* gw_slot_expired fills a slot whose deadline passed while it was queued: it was never
 * sent, so nothing was done. */
static void gw_slot_expired(struct gw_slot *s)
{
    memset(&s->st, 0, sizeof(s->st));
    s->st.code = LITHAIR__V1__CODE__DEADLINE_EXCEEDED;
    s->st.endpoint = -1;
    s->st.transport = true;
    snprintf(s->st.message, sizeof(s->st.message),
             "deadline exceeded while waiting for the write batch in flight (not sent)");
    s->rc = LT_ETIMEDOUT;
}

/* gw_slot_from_response fills a slot's outcome from an inner Response. */
static void gw_slot_from_response(struct gw_slot *s, const Lithair__V1__Response *r)
{
    memset(&s->st, 0, sizeof(s->st));
    s->st.code = r->code;
    s->st.not_leader = r->not_leader;
    s->st.leader_id = r->leader_id;
    s->st.endpoint = -1;
    snprintf(s->st.message, sizeof(s->st.message), "%s", r->message ? r->message : "");
    snprintf(s->st.leader_rpc_url, sizeof(s->st.leader_rpc_url), "%s",
             r->leader_rpc_url ? r->leader_rpc_url : "");
    for (size_t i = 0; i < r->n_details && i < RPC_STATUS_MAX_DETAILS; i++) {
        snprintf(s->st.details[i].field, sizeof(s->st.details[i].field), "%s",
                 r->details[i]->field);
        snprintf(s->st.details[i].description, sizeof(s->st.details[i].description), "%s",
                 r->details[i]->description);
        s->st.n_details++;
    }
    if (r->code == LITHAIR__V1__CODE__UNAVAILABLE || r->not_leader) {
        s->retry = true;
        return;
    }
    s->rc = rpc_err_from_code(r->code);
    if (s->rc == 0 && r->payload.len) {
        s->resp = malloc(r->payload.len);
        if (!s->resp) {
            s->rc = LT_ENOMEM;
            return;
        }
        memcpy(s->resp, r->payload.data, r->payload.len);
        s->resp_len = r->payload.len;
    }
}

/* gw_coalesce_send sends slots[0..n) as one Rpc/Batch and fills every slot. */
static void gw_coalesce_send(struct gw_coalescer *c, struct gw_slot **slots, size_t n)
{
    Lithair__V1__BatchRequest br = LITHAIR__V1__BATCH_REQUEST__INIT;
    Lithair__V1__Request *reqs = calloc(n, sizeof(*reqs));
    Lithair__V1__Request **rp = calloc(n, sizeof(*rp));
    uint8_t *buf = NULL, *resp = NULL;
    size_t resp_len = 0;
    unsigned timeout = 0;
    struct rpc_status st;
    Lithair__V1__BatchResponse *bresp = NULL;
    if (!reqs || !rp)
        goto out_retry_all;
    for (size_t i = 0; i < n; i++) {
        lithair__v1__request__init(&reqs[i]);
        reqs[i].method = (char *)slots[i]->method;
        reqs[i].id = i + 1;
        reqs[i].timeout_ms = slots[i]->timeout_ms;
        reqs[i].payload.data = (uint8_t *)slots[i]->payload;
        reqs[i].payload.len = slots[i]->len;
        rp[i] = &reqs[i];
        if (slots[i]->timeout_ms > timeout)
            timeout = slots[i]->timeout_ms;
    }
    br.n_requests = n;
    br.requests = rp;
    size_t len = lithair__v1__batch_request__get_packed_size(&br);
    buf = malloc(len ? len : 1);
    if (!buf)
        goto out_retry_all;
    lithair__v1__batch_request__pack(&br, buf);
    struct rpc_call_opts co = {.timeout_ms = timeout, .endpoint = -1};
    int rc = rpc_call_raw(c->g->client, &co, "Rpc/Batch", buf, len, &resp, &resp_len, &st);
    if (rc != 0) {
        if (st.transport && st.code == LITHAIR__V1__CODE__UNAVAILABLE)
            goto out_retry_all; /* nothing was delivered: each caller tries alone */
        for (size_t i = 0; i < n; i++) {
            slots[i]->rc = rc;
            slots[i]->st = st;
        }
        goto out;
    }
    bresp = lithair__v1__batch_response__unpack(NULL, resp_len, resp);
    if (!bresp || bresp->n_responses != n) {
        for (size_t i = 0; i < n; i++) {
            memset(&slots[i]->st, 0, sizeof(slots[i]->st));
            slots[i]->st.code = LITHAIR__V1__CODE__INTERNAL;
            snprintf(slots[i]->st.message, sizeof(slots[i]->st.message),
                     "the node's Rpc/Batch reply does not decode");
            slots[i]->rc = LT_ECORRUPT;
        }
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        gw_slot_from_response(slots[i], bresp->responses[i]);
    goto out;
out_retry_all:
    for (size_t i = 0; i < n; i++)
        slots[i]->retry = true;
out:
    if (bresp)
        lithair__v1__batch_response__free_unpacked(bresp, NULL);
    free(resp);
    free(buf);
    free(rp);
    free(reqs);
}

static void *gw_coalesce_thread(void *arg)
{
    struct gw_coalescer *c = arg;
    struct gw_slot **slots = calloc(c->max_batch, sizeof(*slots));
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->head && !c->stopping)
            pthread_cond_wait(&c->work, &c->mu);
        if (!c->head && c->stopping)
            break;
        size_t n = 0, bytes = 0;
        while (c->head && n < c->max_batch && slots &&
               (n == 0 || bytes + c->head->len <= GW_COALESCE_MAX_BYTES)) {
            bytes += c->head->len;
            slots[n++] = c->head;
            c->head = c->head->next;
        }
        if (!c->head)
            c->tail = NULL;
        c->batches++;
        c->batched += n;
        pthread_mutex_unlock(&c->mu);
        if (!slots) {
            /* out of memory at start: this thread cannot batch; wake a caller to go alone */
            pthread_mutex_lock(&c->mu);
            struct gw_slot *s = c->head;
            if (s) {
                c->head = s->next;
                if (!c->head)
                    c->tail = NULL;
                s->retry = true;
                sem_post(&s->done);
            }
            continue;
        }
        /* What is left of each caller's deadline: time spent queued behind the previous
         * batch counts. A slot whose deadline passed is answered without being sent. */
        size_t live = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned left = gw_left_ms(slots[i]->deadline_ns);
            if (left == 0) {
                gw_slot_expired(slots[i]);
                sem_post(&slots[i]->done); /* the slot may be gone right after this */
                continue;
            }
            slots[i]->timeout_ms = left;
            slots[live++] = slots[i];
        }
        n = live;
        if (n == 0) {
            pthread_mutex_lock(&c->mu);
            continue;
        }
        if (n == 1) {
            /* alone: a plain call, still from this thread so that the next requests
             * gather in the queue meanwhile */
            struct gw_slot *s = slots[0];
            struct rpc_call_opts co = {.timeout_ms = s->timeout_ms, .endpoint = -1};
            s->rc = rpc_call_raw(c->g->client, &co, s->method, s->payload, s->len, &s->resp,
                                 &s->resp_len, &s->st);
        } else {
            gw_coalesce_send(c, slots, n);
        }
        for (size_t i = 0; i < n; i++)
            sem_post(&slots[i]->done); /* the slot may be gone right after this */
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    free(slots);
    return NULL;
}

int gw_coalesce_call(struct gw_coalescer *c, const char *method, const uint8_t *payload, size_t len,
                     unsigned timeout_ms, uint8_t **resp, size_t *resp_len, struct rpc_status *st)
{
    struct gw_slot s;
    memset(&s, 0, sizeof(s));
    s.method = method;
    s.payload = payload;
    s.len = len;
    s.timeout_ms = timeout_ms;
    s.deadline_ns = lt_now_ns() + (uint64_t)timeout_ms * 1000000u;
    sem_init(&s.done, 0, 0);
    pthread_mutex_lock(&c->mu);
    bool alone = c->stopping;
    if (!alone) {
        if (c->tail)
            c->tail->next = &s;
        else
            c->head = &s;
        c->tail = &s;
        pthread_cond_signal(&c->work);
    }
    pthread_mutex_unlock(&c->mu);
    while (!alone && sem_wait(&s.done) != 0)
        ; /* EINTR */
    sem_destroy(&s.done);
    if (alone || s.retry) {
        unsigned left = alone ? timeout_ms : gw_left_ms(s.deadline_ns);
        if (left == 0) {
            gw_slot_expired(&s);
            if (st)
                *st = s.st;
            return s.rc;
        }
        struct rpc_call_opts co = {.timeout_ms = left, .endpoint = -1};
        return rpc_call_raw(c->g->client, &co, method, payload, len, resp, resp_len, st);
    }
    if (st)
        *st = s.st;
    if (s.rc == 0) {
        *resp = s.resp;
        *resp_len = s.resp_len;
    } else {
        free(s.resp);
    }
    return s.rc;
}

int gw_coalescer_new(struct gw *g, unsigned max_batch, unsigned senders, struct gw_coalescer **out)
{
    struct gw_coalescer *c = calloc(1, sizeof(*c));
    if (!c)
        return LT_ENOMEM;
    c->g = g;
    c->max_batch = max_batch;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->work, NULL);
    if (senders == 0)
        senders = 1;
    for (size_t i = 0; i < senders && i < GW_COALESCE_MAX_THREADS; i++) {
        if (pthread_create(&c->threads[i], NULL, gw_coalesce_thread, c) != 0)
            break;
        c->n_threads++;
    }
    if (c->n_threads == 0) {
        gw_coalescer_free(c);
        return LT_EIO;
    }
    *out = c;
    return 0;
}

void gw_coalescer_stats(struct gw_coalescer *c, uint64_t *batches, uint64_t *batched)
{
    pthread_mutex_lock(&c->mu);
    *batches = c->batches;
    *batched = c->batched;
    pthread_mutex_unlock(&c->mu);
}

void gw_coalescer_free(struct gw_coalescer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_broadcast(&c->work);
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < c->n_threads; i++)
        pthread_join(c->threads[i], NULL);
    pthread_cond_destroy(&c->work);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
