/* test_gw_sse.c — the SSE hub (gateway/sse.c) behind a real civetweb server on a free
 * 127.0.0.1 port, read by a hand-written HTTP client on a plain socket: headers and
 * `retry:`, ordered ids, Last-Event-ID resume (exact replay, and `reset` when the id left
 * the ring), stream masks, heartbeats, the client limit, disconnect detection, a client
 * that stops reading being dropped while a fast one keeps every event, streams ended by
 * their owner's logout or expiry, and shutdown.
 *
 * Suite gw_events: the event bridge (gateway/events.c): Event → JSON for every kind, and
 * a real single-node lithair-node (started by the supervisor; the binary is
 * $LITHAIR_NODE_BIN or ../../node/lithair-node next to this executable) whose role,
 * metrics and committed events reach a browser stream. */
#include <arpa/inet.h>
#include <civetweb.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <limits.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "cunit_main.h"
#include "events.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "rpc_client.h"
#include "sse.h"
#include "supervisor.h"
#include "testutil.h"
#include "wire.h"

/* ---- the server ---- */

#define EVENTS_PREFIX "/_playground/events"

struct srv {
    struct mg_context *ctx;
    struct sse_hub *hub;
    int port;
};

static int srv_handler(struct mg_connection *conn, void *cbdata)
{
    struct srv *s = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    unsigned mask = sse_stream_mask(ri->local_uri + strlen(EVENTS_PREFIX));
    if (!mask) {
        mg_send_http_error(conn, 404, "%s", "no such stream");
        return 404;
    }
    /* ?owner=TAG&expires=SECONDS_FROM_NOW: the stream's owner and its right's end */
    char owner[80] = "", expires[24] = "";
    if (ri->query_string) {
        mg_get_var(ri->query_string, strlen(ri->query_string), "owner", owner, sizeof(owner));
        mg_get_var(ri->query_string, strlen(ri->query_string), "expires", expires, sizeof(expires));
    }
    int64_t exp_s = expires[0] ? (int64_t)time(NULL) + atoll(expires) : 0;
    uint64_t resume_id;
    if (sse_last_event_id(conn, &resume_id) == SSE_RESUME_BAD_QUERY) {
        mg_send_http_error(conn, 400, "%s", "lastEventId");
        return 400;
    }
    int rc = sse_hub_serve(s->hub, conn, mask, resume_id, owner, exp_s);
    if (rc == LT_EINVAL || rc == LT_EUNAUTH) {
        int code = rc == LT_EINVAL ? 400 : 401;
        mg_send_http_error(conn, code, "%s", lt_strerror(rc));
        return code;
    }
    if (rc == LT_EBUSY || rc == LT_ENOSPACE || rc == LT_ESHUTDOWN) {
        mg_send_http_error(conn, 503, "%s", lt_strerror(rc));
        return 503;
    }
    return 200;
}

static void srv_start(struct srv *s, const struct sse_hub_opts *o)
{
    memset(s, 0, sizeof(*s));
    CU_ASSERT_EQUAL_FATAL(sse_hub_new(o, &s->hub), 0);
    for (int attempt = 0; attempt < 5 && !s->ctx; attempt++) {
        s->port = tu_free_port();
        char ports[32];
        snprintf(ports, sizeof(ports), "127.0.0.1:%d", s->port);
        const char *opts[] = {"listening_ports",    ports,   "num_threads", "16",
                              "request_timeout_ms", "10000", NULL};
        struct mg_callbacks cb;
        memset(&cb, 0, sizeof(cb));
        s->ctx = mg_start(&cb, NULL, opts);
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->ctx);
    mg_set_request_handler(s->ctx, EVENTS_PREFIX, srv_handler, s);
}

static void srv_stop(struct srv *s)
{
    sse_hub_shutdown(s->hub);
    mg_stop(s->ctx);
    sse_hub_free(s->hub);
}

static void publish(struct srv *s, unsigned mask, const char *name, const char *json)
{
    CU_ASSERT_EQUAL(sse_hub_publish(s->hub, mask, name, json, NULL), 0);
}

/* wait_clients waits until the hub runs `n` streams. */
static bool wait_clients(struct srv *s, unsigned n, unsigned ms)
{
    for (unsigned waited = 0; waited <= ms; waited += 10) {
        struct sse_hub_stats st;
        sse_hub_stats(s->hub, &st);
        if (st.clients == n)
            return true;
        lt_sleep_ms(10);
    }
    return false;
}

/* ---- the client ---- */

struct cli {
    int fd;
    char *buf;
    size_t len, cap;
    bool eof;
    bool headers_done;
    char headers[2048];
    int status;
};

struct sse_ev {
    uint64_t id;
    char name[32];
    char data[9000];
    bool ping;
    unsigned retry;
};

/* cli_open_from opens a stream from source address `src` (127.0.0.x; NULL: any). */
static int cli_open_from(struct cli *c, const char *src, int port, const char *path,
                         const char *extra_header, int rcvbuf)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    if (rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (src) {
        struct sockaddr_in b = {.sin_family = AF_INET};
        if (inet_pton(AF_INET, src, &b.sin_addr) != 1 ||
            bind(c->fd, (struct sockaddr *)&b, sizeof(b)) != 0)
            return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        return -1;
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s\r\n", path,
                     extra_header ? extra_header : "", extra_header ? "\r\n" : "");
    return send(c->fd, req, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

static int cli_open(struct cli *c, int port, const char *path, const char *extra_header, int rcvbuf)
{
    return cli_open_from(c, NULL, port, path, extra_header, rcvbuf);
}

static void cli_close(struct cli *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
}

/* cli_fill reads what is there, waiting up to ms for something. */
static void cli_fill(struct cli *c, int ms)
{
    if (c->eof)
        return;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0)
        return;
    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, c->cap);
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
    if (n <= 0) {
        c->eof = true;
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
}

static void cli_consume(struct cli *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    c->buf[c->len] = '\0';
}

/* cli_next returns 1 and the next frame (event, ping or retry) within ms, 0 on timeout,
 * -1 on EOF. */
static int cli_next(struct cli *c, struct sse_ev *ev, int ms)
{
    uint64_t deadline = lt_now_ns() + (uint64_t)ms * 1000000u;
    for (;;) {
        if (!c->headers_done && c->buf) {
            char *e = strstr(c->buf, "\r\n\r\n");
            if (e) {
                size_t hl = (size_t)(e - c->buf) + 4;
                snprintf(c->headers, sizeof(c->headers), "%.*s", (int)hl, c->buf);
                sscanf(c->headers, "HTTP/1.1 %d", &c->status);
                c->headers_done = true;
                cli_consume(c, hl);
            }
        }
        if (c->headers_done && c->buf) {
            char *e = strstr(c->buf, "\n\n");
            if (e) {
                memset(ev, 0, sizeof(*ev));
                *e = '\0';
                for (char *line = c->buf; line;) {
                    char *nl = strchr(line, '\n');
                    if (nl)
                        *nl = '\0';
                    if (strncmp(line, "id: ", 4) == 0)
                        ev->id = strtoull(line + 4, NULL, 10);
                    else if (strncmp(line, "event: ", 7) == 0)
                        snprintf(ev->name, sizeof(ev->name), "%s", line + 7);
                    else if (strncmp(line, "data: ", 6) == 0)
                        snprintf(ev->data + strlen(ev->data), sizeof(ev->data) - strlen(ev->data),
                                 "%s%s", ev->data[0] ? "\n" : "", line + 6);
                    else if (strcmp(line, ": ping") == 0)
                        ev->ping = true;
                    else if (strncmp(line, "retry: ", 7) == 0)
                        ev->retry = (unsigned)atoi(line + 7);
                    line = nl ? nl + 1 : NULL;
                }
                cli_consume(c, (size_t)(e - c->buf) + 2);
                return 1;
            }
        }
        if (c->eof)
            return -1;
        uint64_t now = lt_now_ns();
        if (now >= deadline)
            return 0;
        cli_fill(c, (int)((deadline - now) / 1000000u) + 1);
    }
}

/* cli_event returns the next real event (skipping pings and retry). */
static int cli_event(struct cli *c, struct sse_ev *ev, int ms)
{
    int rc;
    while ((rc = cli_next(c, ev, ms)) == 1 && (ev->ping || ev->retry))
        ;
    return rc;
}

static bool cli_waits_ok(struct cli *c)
{
    struct sse_ev ev;
    if (cli_next(c, &ev, 3000) != 1)
        return false;
    return c->status == 200 && ev.retry > 0;
}

/* ---- tests ---- */

static void test_headers_order_ids(void)
{
    struct srv s;
    srv_start(&s, NULL);
    struct cli c;
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, s.port, EVENTS_PREFIX, NULL, 0), 0);
    struct sse_ev ev;
    CU_ASSERT_EQUAL_FATAL(cli_next(&c, &ev, 3000), 1);
    CU_ASSERT_EQUAL(c.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(c.headers, "Content-Type: text/event-stream\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.headers, "Cache-Control: no-cache\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.headers, "X-Accel-Buffering: no\r\n"));
    CU_ASSERT_EQUAL(ev.retry, 2000);
    CU_ASSERT(wait_clients(&s, 1, 2000));

    for (int i = 1; i <= 50; i++) {
        char j[64];
        snprintf(j, sizeof(j), "{\"n\":%d}", i);
        publish(&s, i % 2 ? SSE_STREAM_REPLICATION : SSE_STREAM_CLUSTER, "committed", j);
    }
    publish(&s, SSE_STREAM_BENCHMARK, "multi", "{\"a\":1,\n\"b\":2}");
    for (int i = 1; i <= 50; i++) {
        CU_ASSERT_EQUAL_FATAL(cli_event(&c, &ev, 3000), 1);
        CU_ASSERT_EQUAL(ev.id, (uint64_t)i);
        CU_ASSERT_STRING_EQUAL(ev.name, "committed");
        char j[64];
        snprintf(j, sizeof(j), "{\"n\":%d}", i);
        CU_ASSERT_STRING_EQUAL(ev.data, j);
    }
    CU_ASSERT_EQUAL_FATAL(cli_event(&c, &ev, 3000), 1);
    CU_ASSERT_EQUAL(ev.id, 51);
    CU_ASSERT_STRING_EQUAL(ev.data, "{\"a\":1,\n\"b\":2}");
    cli_close(&c);

    /* Bad names and masks are refused. */
    CU_ASSERT_EQUAL(sse_hub_publish(s.hub, 0, "x", "{}", NULL), LT_EINVAL);
    CU_ASSERT_EQUAL(sse_hub_publish(s.hub, 1, "", "{}", NULL), LT_EINVAL);
    CU_ASSERT_EQUAL(sse_hub_publish(s.hub, 1, "a\nb", "{}", NULL), LT_EINVAL);
    CU_ASSERT_EQUAL(sse_hub_publish(s.hub, 1, "x", NULL, NULL), LT_EINVAL);
    uint64_t id = 0;
    CU_ASSERT_EQUAL(sse_hub_publish(s.hub, 1, "x", "{}", &id), 0);
    CU_ASSERT_EQUAL(id, 52);
    CU_ASSERT_EQUAL(sse_stream_mask(""), SSE_STREAM_ALL);
    CU_ASSERT_EQUAL(sse_stream_mask("/"), SSE_STREAM_ALL);
    CU_ASSERT_EQUAL(sse_stream_mask("/replication"), SSE_STREAM_REPLICATION);
    CU_ASSERT_EQUAL(sse_stream_mask("/cluster"), SSE_STREAM_CLUSTER);
    CU_ASSERT_EQUAL(sse_stream_mask("/benchmark"), SSE_STREAM_BENCHMARK);
    CU_ASSERT_EQUAL(sse_stream_mask("/nope"), 0);
    srv_stop(&s);
}

static void test_resume(void)
{
    struct sse_hub_opts o = {.capacity = 16};
    struct srv s;
    srv_start(&s, &o);
    for (int i = 1; i <= 20; i++)
        publish(&s, SSE_STREAM_REPLICATION, "metrics", "{}");

    /* Within the ring: exactly the missed events, then live ones. */
    struct cli c;
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, s.port, EVENTS_PREFIX, "Last-Event-ID: 15", 0), 0);
    CU_ASSERT_FATAL(cli_waits_ok(&c));
    struct sse_ev ev;
    for (uint64_t id = 16; id <= 20; id++) {
        CU_ASSERT_EQUAL_FATAL(cli_event(&c, &ev, 3000), 1);
        CU_ASSERT_EQUAL(ev.id, id);
    }
    CU_ASSERT_EQUAL(cli_event(&c, &ev, 200), 0); /* nothing more */
    publish(&s, SSE_STREAM_REPLICATION, "metrics", "{\"live\":true}");
    CU_ASSERT_EQUAL_FATAL(cli_event(&c, &ev, 3000), 1);
    CU_ASSERT_EQUAL(ev.id, 21);
    CU_ASSERT_STRING_EQUAL(ev.data, "{\"live\":true}");
    cli_close(&c);

    /* The query parameter works too; up to date means nothing is replayed. */
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, s.port, EVENTS_PREFIX "?lastEventId=21", NULL, 0), 0);
    CU_ASSERT_FATAL(cli_waits_ok(&c));
    CU_ASSERT_EQUAL(cli_event(&c, &ev, 200), 0);
    cli_close(&c);

    /* Older than the ring (16 kept: 6..21): `reset`, then from the oldest. */
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, s.port, EVENTS_PREFIX, "Last-Event-ID: 3", 0), 0);
    CU_ASSERT_FATAL(cli_waits_ok(&c));
    CU_ASSERT_EQUAL_FATAL(cli_event(&c, &ev, 3000), 1);
    CU_ASSERT_STRING_EQUAL(ev.name, "reset");
    CU_ASSERT_EQUAL(ev.id, 0);
    for (uint64_t id = 6; id <= 21; id++) {
        CU_ASSERT_EQUAL_FATAL(cli_event(&c, &ev, 3000), 1);
        CU_ASSERT_EQUAL(ev.id, id);
    }
    cli_close(&c);

    /* An id from the future (a previous gateway): reset too. */
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, s.port, EVENTS_PREFIX, "Last-Event-ID: 999", 0), 0);
    CU_ASSERT_FATAL(cli_waits_ok(&c));
    CU_ASSERT_EQUAL_FATAL(cli_event(&c, &ev, 3000), 1);
    CU_ASSERT_STRING_EQUAL(ev.name, "reset");
    CU_ASSERT_STRING_EQUAL(ev.data, "{\"lastEventId\":999,\"oldestId\":6,\"lastId\":21}");
    cli_close(&c);

    /* An id that is not a number: the client had something, we cannot tell what; a reset
     * with a null lastEventId and the whole ring, never a silent start from now. */
    static const char *const garbled[] = {"Last-Event-ID: abc", "Last-Event-ID: -1",
                                          "Last-Event-ID: 18446744073709551616",
                                          "Last-Event-ID: 12x"};
    for (size_t g = 0; g < sizeof(garbled) / sizeof(garbled[0]); g++) {
        CU_ASSERT_EQUAL_FATAL(cli_open(&c, s.port, EVENTS_PREFIX, garbled[g], 0), 0);
        CU_ASSERT_FATAL(cli_waits_ok(&c));
        CU_ASSERT_EQUAL_FATAL(cli_event(&c, &ev, 3000), 1);
        CU_ASSERT_STRING_EQUAL(ev.name, "reset");
        CU_ASSERT_STRING_EQUAL(ev.data, "{\"lastEventId\":null,\"oldestId\":6,\"lastId\":21}");
        CU_ASSERT_EQUAL_FATAL(cli_event(&c, &ev, 3000), 1);
        CU_ASSERT_EQUAL(ev.id, 6);
        cli_close(&c);
    }

    /* Empty or 0: no event had an id yet, so new events only. */
    static const char *const none[] = {"Last-Event-ID: ", "Last-Event-ID: 0",
                                       "Last-Event-ID:  21 "};
    for (size_t n = 0; n < sizeof(none) / sizeof(none[0]); n++) {
        CU_ASSERT_EQUAL_FATAL(cli_open(&c, s.port, EVENTS_PREFIX, none[n], 0), 0);
        CU_ASSERT_FATAL(cli_waits_ok(&c));
        CU_ASSERT_EQUAL(cli_event(&c, &ev, 200), 0);
        cli_close(&c);
    }

    /* The query parameter must be a number: a 400, not a stream. */
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, s.port, EVENTS_PREFIX "?lastEventId=abc", NULL, 0), 0);
    CU_ASSERT_FALSE(cli_waits_ok(&c));
    CU_ASSERT_EQUAL(c.status, 400);
    cli_close(&c);
    srv_stop(&s);
}

static void test_masks(void)
{
    struct srv s;
    srv_start(&s, NULL);
    struct cli rep, clu, all;
    CU_ASSERT_EQUAL_FATAL(cli_open(&rep, s.port, EVENTS_PREFIX "/replication", NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(cli_open(&clu, s.port, EVENTS_PREFIX "/cluster", NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(cli_open(&all, s.port, EVENTS_PREFIX, NULL, 0), 0);
    CU_ASSERT_FATAL(cli_waits_ok(&rep) && cli_waits_ok(&clu) && cli_waits_ok(&all));
    CU_ASSERT_FATAL(wait_clients(&s, 3, 2000));
    publish(&s, SSE_STREAM_REPLICATION, "committed", "{}");
    publish(&s, SSE_STREAM_CLUSTER, "role", "{}");
    publish(&s, SSE_STREAM_BENCHMARK, "benchmark", "{}");
    publish(&s, SSE_STREAM_REPLICATION, "progress", "{}");
    publish(&s, SSE_STREAM_CLUSTER, "node", "{}");
    struct sse_ev ev;
    const char *want_rep[] = {"committed", "progress"};
    const uint64_t rep_ids[] = {1, 4};
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL_FATAL(cli_event(&rep, &ev, 3000), 1);
        CU_ASSERT_STRING_EQUAL(ev.name, want_rep[i]);
        CU_ASSERT_EQUAL(ev.id, rep_ids[i]);
    }
    CU_ASSERT_EQUAL(cli_event(&rep, &ev, 200), 0);
    const char *want_clu[] = {"role", "node"};
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL_FATAL(cli_event(&clu, &ev, 3000), 1);
        CU_ASSERT_STRING_EQUAL(ev.name, want_clu[i]);
    }
    CU_ASSERT_EQUAL(cli_event(&clu, &ev, 200), 0);
    for (uint64_t id = 1; id <= 5; id++) {
        CU_ASSERT_EQUAL_FATAL(cli_event(&all, &ev, 3000), 1);
        CU_ASSERT_EQUAL(ev.id, id);
    }
    cli_close(&rep);
    cli_close(&clu);
    cli_close(&all);

    struct cli bad;
    CU_ASSERT_EQUAL_FATAL(cli_open(&bad, s.port, EVENTS_PREFIX "/nope", NULL, 0), 0);
    cli_next(&bad, &ev, 2000);
    CU_ASSERT_EQUAL(bad.status, 404);
    cli_close(&bad);
    srv_stop(&s);
}

static void test_heartbeat_and_hangup(void)
{
    struct sse_hub_opts o = {.ping_ms = 150};
    struct srv s;
    srv_start(&s, &o);
    struct cli c;
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, s.port, EVENTS_PREFIX, NULL, 0), 0);
    CU_ASSERT_FATAL(cli_waits_ok(&c));
    int pings = 0;
    uint64_t end = lt_now_ns() + 700 * 1000000ull;
    struct sse_ev ev;
    while (lt_now_ns() < end) {
        if (cli_next(&c, &ev, 50) == 1 && ev.ping)
            pings++;
    }
    CU_ASSERT(pings >= 3 && pings <= 6);
    /* An event postpones the ping. */
    publish(&s, SSE_STREAM_CLUSTER, "role", "{}");
    CU_ASSERT_EQUAL(cli_next(&c, &ev, 1000), 1);
    CU_ASSERT_EQUAL(ev.id, 1);

    /* A client that hangs up is noticed without any event or ping. */
    struct sse_hub_opts o2 = {.ping_ms = 60000};
    struct srv s2;
    srv_start(&s2, &o2);
    struct cli c2;
    CU_ASSERT_EQUAL_FATAL(cli_open(&c2, s2.port, EVENTS_PREFIX, NULL, 0), 0);
    CU_ASSERT_FATAL(cli_waits_ok(&c2));
    CU_ASSERT(wait_clients(&s2, 1, 2000));
    cli_close(&c2);
    CU_ASSERT(wait_clients(&s2, 0, 3000));
    srv_stop(&s2);
    cli_close(&c);
    srv_stop(&s);
}

static void test_client_limit_and_shutdown(void)
{
    struct sse_hub_opts o = {.max_clients = 2, .max_per_addr = 2}; /* both from 127.0.0.1 */
    struct srv s;
    srv_start(&s, &o);
    struct cli a, b, x;
    CU_ASSERT_EQUAL_FATAL(cli_open(&a, s.port, EVENTS_PREFIX, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(cli_open(&b, s.port, EVENTS_PREFIX, NULL, 0), 0);
    CU_ASSERT_FATAL(cli_waits_ok(&a) && cli_waits_ok(&b));
    CU_ASSERT_EQUAL_FATAL(cli_open(&x, s.port, EVENTS_PREFIX, NULL, 0), 0);
    struct sse_ev ev;
    cli_next(&x, &ev, 2000);
    CU_ASSERT_EQUAL(x.status, 503);
    cli_close(&x);
    struct sse_hub_stats st;
    sse_hub_stats(s.hub, &st);
    CU_ASSERT_EQUAL(st.clients, 2);
    CU_ASSERT_EQUAL(st.refused, 1);
    CU_ASSERT_EQUAL(st.served, 2);

    /* Shutdown ends the streams: the clients see the end of the stream. */
    sse_hub_shutdown(s.hub);
    CU_ASSERT(wait_clients(&s, 0, 3000));
    int rc;
    while ((rc = cli_next(&a, &ev, 2000)) == 1)
        ;
    CU_ASSERT_EQUAL(rc, -1);
    cli_close(&a);
    cli_close(&b);
    srv_stop(&s);
}

/* A stream ends with its owner: revoking an owner (a logout) cuts its streams at once and
 * no other, and refuses the owner new ones while the revocation lasts; a stream whose
 * right expires ends within the idle slice; an unowned stream cannot be revoked; an
 * owner tag longer than SSE_OWNER_MAX is refused. */
/* One client address may not take every stream: past max_per_addr its next one is
 * refused (LT_ENOSPACE, a 503 here) while other addresses still get theirs. */
static void test_per_address_limit(void)
{
    struct sse_hub_opts bad = {.max_clients = 4, .max_per_addr = 5};
    struct sse_hub *h = NULL;
    CU_ASSERT_EQUAL(sse_hub_new(&bad, &h), LT_EINVAL);
    struct sse_hub_opts o = {.max_clients = 4, .max_per_addr = 2};
    struct srv s;
    srv_start(&s, &o);
    struct cli a, b, x, y;
    struct sse_ev ev;
    CU_ASSERT_EQUAL_FATAL(cli_open_from(&a, "127.0.0.1", s.port, EVENTS_PREFIX, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(cli_open_from(&b, "127.0.0.1", s.port, EVENTS_PREFIX, NULL, 0), 0);
    CU_ASSERT_FATAL(cli_waits_ok(&a) && cli_waits_ok(&b));
    CU_ASSERT_EQUAL_FATAL(cli_open_from(&x, "127.0.0.1", s.port, EVENTS_PREFIX, NULL, 0), 0);
    cli_next(&x, &ev, 2000);
    CU_ASSERT_EQUAL(x.status, 503);
    cli_close(&x);
    CU_ASSERT_EQUAL_FATAL(cli_open_from(&y, "127.0.0.2", s.port, EVENTS_PREFIX, NULL, 0), 0);
    CU_ASSERT(cli_waits_ok(&y));
    CU_ASSERT(wait_clients(&s, 3, 2000));
    struct sse_hub_stats st;
    sse_hub_stats(s.hub, &st);
    CU_ASSERT_EQUAL(st.refused, 1);
    CU_ASSERT_EQUAL(st.refused_addr, 1);
    /* a stream of the address ends: its place is free again */
    cli_close(&a);
    CU_ASSERT(wait_clients(&s, 2, 3000));
    CU_ASSERT_EQUAL_FATAL(cli_open_from(&x, "127.0.0.1", s.port, EVENTS_PREFIX, NULL, 0), 0);
    CU_ASSERT(cli_waits_ok(&x));
    cli_close(&x);
    cli_close(&b);
    cli_close(&y);
    srv_stop(&s);
}

static void test_owner_revoke_and_expiry(void)
{
    struct srv s;
    srv_start(&s, NULL);
    struct cli a1, a2, b, anon, late, bad;
    CU_ASSERT_EQUAL_FATAL(cli_open(&a1, s.port, EVENTS_PREFIX "?owner=alice", NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(cli_open(&a2, s.port, EVENTS_PREFIX "/cluster?owner=alice", NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(cli_open(&b, s.port, EVENTS_PREFIX "?owner=bob", NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(cli_open(&anon, s.port, EVENTS_PREFIX, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(cli_open(&late, s.port, EVENTS_PREFIX "?owner=carol&expires=1", NULL, 0),
                          0);
    CU_ASSERT_FATAL(cli_waits_ok(&a1) && cli_waits_ok(&a2) && cli_waits_ok(&b) &&
                    cli_waits_ok(&anon) && cli_waits_ok(&late));
    uint64_t t0 = lt_now_ns();
    int64_t later = (int64_t)time(NULL) + 60;
    CU_ASSERT_EQUAL(sse_hub_revoke(s.hub, "alice", later), 2);
    CU_ASSERT_EQUAL(sse_hub_revoke(s.hub, "nobody", later), 0);
    CU_ASSERT_EQUAL(sse_hub_revoke(s.hub, "", later), 0); /* unowned streams are nobody's */
    CU_ASSERT_EQUAL(sse_hub_revoke(s.hub, "dave", (int64_t)time(NULL) - 1), 0);
    struct sse_ev ev;
    int rc;
    while ((rc = cli_event(&a1, &ev, 2000)) == 1)
        ;
    CU_ASSERT_EQUAL(rc, -1);
    while ((rc = cli_event(&a2, &ev, 2000)) == 1)
        ;
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT((lt_now_ns() - t0) / 1000000u < 1000); /* cut, not left to time out */
    CU_ASSERT(wait_clients(&s, 3, 2000));

    /* the others still get events; carol's right ends after about a second */
    publish(&s, SSE_STREAM_ALL, "e", "{\"n\":1}");
    CU_ASSERT_EQUAL(cli_event(&b, &ev, 2000), 1);
    CU_ASSERT_STRING_EQUAL(ev.data, "{\"n\":1}");
    CU_ASSERT_EQUAL(cli_event(&anon, &ev, 2000), 1);
    while ((rc = cli_event(&late, &ev, 4000)) == 1)
        ;
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT((lt_now_ns() - t0) / 1000000u < 3500);
    CU_ASSERT(wait_clients(&s, 2, 2000));

    /* a revoked owner opens no new stream until its revocation ends (a request checked
     * just before the logout); one whose revocation has ended may */
    struct cli again, dave;
    CU_ASSERT_EQUAL_FATAL(cli_open(&again, s.port, EVENTS_PREFIX "?owner=alice", NULL, 0), 0);
    cli_next(&again, &ev, 2000);
    CU_ASSERT_EQUAL(again.status, 401);
    cli_close(&again);
    CU_ASSERT_EQUAL_FATAL(cli_open(&dave, s.port, EVENTS_PREFIX "?owner=dave", NULL, 0), 0);
    CU_ASSERT_TRUE(cli_waits_ok(&dave));
    cli_close(&dave);

    char path[160];
    snprintf(path, sizeof(path), EVENTS_PREFIX "?owner=%0*d", SSE_OWNER_MAX + 1, 7);
    CU_ASSERT_EQUAL_FATAL(cli_open(&bad, s.port, path, NULL, 0), 0);
    cli_next(&bad, &ev, 2000);
    CU_ASSERT_EQUAL(bad.status, 400);
    cli_close(&bad);

    cli_close(&a1);
    cli_close(&a2);
    cli_close(&b);
    cli_close(&anon);
    cli_close(&late);
    srv_stop(&s);
}

/* The fast reader of test_slow_client: reads everything, records the last id. */
struct fast_reader {
    struct cli c;
    atomic_ullong last_id;
    atomic_bool in_order;
    atomic_bool stop;
    pthread_t thread;
};

static void *fast_main(void *arg)
{
    struct fast_reader *f = arg;
    static struct sse_ev ev;
    uint64_t expect = 1;
    while (!atomic_load(&f->stop)) {
        int rc = cli_event(&f->c, &ev, 100);
        if (rc < 0)
            break;
        if (rc == 1) {
            if (ev.id != expect)
                atomic_store(&f->in_order, false);
            expect = ev.id + 1;
            atomic_store(&f->last_id, ev.id);
        }
    }
    return NULL;
}

static void test_slow_client(void)
{
    struct sse_hub_opts o = {.capacity = 64};
    struct srv s;
    srv_start(&s, &o);
    struct cli slow;
    CU_ASSERT_EQUAL_FATAL(cli_open(&slow, s.port, EVENTS_PREFIX, NULL, 4096), 0);
    CU_ASSERT_FATAL(cli_waits_ok(&slow));
    struct fast_reader *f = calloc(1, sizeof(*f));
    atomic_init(&f->in_order, true);
    CU_ASSERT_EQUAL_FATAL(cli_open(&f->c, s.port, EVENTS_PREFIX, NULL, 0), 0);
    CU_ASSERT_FATAL(cli_waits_ok(&f->c));
    CU_ASSERT_FATAL(wait_clients(&s, 2, 2000));
    CU_ASSERT_EQUAL_FATAL(pthread_create(&f->thread, NULL, fast_main, f), 0);

    /* 8 KiB events in bursts of 16, each burst waiting for the fast reader, until the
     * slow one (which reads nothing) has been dropped: bounded to 64 MiB and 60 s. */
    char *payload = malloc(8200);
    memset(payload, 'x', 8192);
    payload[0] = '"';
    payload[8190] = '"';
    payload[8191] = '\0';
    uint64_t deadline = lt_now_ns() + 60ull * 1000000000ull;
    uint64_t published = 0;
    struct sse_hub_stats st = {0};
    uint64_t publish_start = lt_now_ns(), max_publish_ns = 0;
    while (published < 8192 && lt_now_ns() < deadline) {
        for (int i = 0; i < 16; i++) {
            uint64_t t0 = lt_now_ns();
            CU_ASSERT_EQUAL(
                sse_hub_publish(s.hub, SSE_STREAM_BENCHMARK, "benchmark", payload, NULL), 0);
            uint64_t dt = lt_now_ns() - t0;
            if (dt > max_publish_ns)
                max_publish_ns = dt;
            published++;
        }
        while (atomic_load(&f->last_id) < published && lt_now_ns() < deadline)
            lt_sleep_ms(1);
        sse_hub_stats(s.hub, &st);
        if (st.dropped >= 1 && published > 200)
            break;
    }
    printf(
        "\n  slow client dropped after %llu events (%.1f MiB) in %.2f s; slowest publish %.3f ms\n",
        (unsigned long long)published, published * 8200.0 / 1048576.0,
        (double)(lt_now_ns() - publish_start) / 1e9, max_publish_ns / 1e6);
    CU_ASSERT_EQUAL(st.dropped, 1);
    CU_ASSERT(wait_clients(&s, 1, 3000));
    /* The fast reader got every event, in order, and keeps receiving. */
    publish(&s, SSE_STREAM_CLUSTER, "role", "{}");
    for (int i = 0; i < 300 && atomic_load(&f->last_id) < published + 1; i++)
        lt_sleep_ms(10);
    CU_ASSERT_EQUAL(atomic_load(&f->last_id), published + 1);
    CU_ASSERT(atomic_load(&f->in_order));
    /* The slow client's stream ends once it drains what was buffered. */
    int rc;
    struct sse_ev *ev = malloc(sizeof(*ev));
    for (int i = 0; i < 100000 && (rc = cli_next(&slow, ev, 2000)) == 1; i++)
        ;
    CU_ASSERT_EQUAL(rc, -1);
    free(ev);
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    cli_close(&f->c);
    cli_close(&slow);
    free(f);
    free(payload);
    srv_stop(&s);
}

/* ---- gw_events ---- */

/* pack_event packs `ev` into a malloc'd buffer. */
static uint8_t *pack_event(const Lithair__V1__Event *ev, size_t *len)
{
    *len = lithair__v1__event__get_packed_size(ev);
    uint8_t *buf = malloc(*len ? *len : 1);
    lithair__v1__event__pack(ev, buf);
    return buf;
}

/* event_json converts and parses; NULL on failure. */
static json_object *event_json(const Lithair__V1__Event *ev, const char *want_name,
                               unsigned want_mask)
{
    size_t len;
    uint8_t *buf = pack_event(ev, &len);
    char name[SSE_EVENT_NAME_MAX];
    unsigned mask = 0;
    char *json = NULL;
    int rc = evb_event_json(buf, len, name, &mask, &json);
    free(buf);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc)
        return NULL;
    CU_ASSERT_STRING_EQUAL(name, want_name);
    CU_ASSERT_EQUAL(mask, want_mask);
    json_object *o = json_tokener_parse(json);
    free(json);
    CU_ASSERT_PTR_NOT_NULL(o);
    return o;
}

static void expect_u64(json_object *o, const char *k, uint64_t v)
{
    json_object *f = NULL;
    CU_ASSERT_FATAL(json_object_object_get_ex(o, k, &f));
    CU_ASSERT(json_object_is_type(f, json_type_int));
    CU_ASSERT_EQUAL(json_object_get_uint64(f), v);
}

static void expect_str(json_object *o, const char *k, const char *v)
{
    json_object *f = NULL;
    CU_ASSERT_FATAL(json_object_object_get_ex(o, k, &f));
    CU_ASSERT(json_object_is_type(f, json_type_string));
    CU_ASSERT_STRING_EQUAL(json_object_get_string(f), v);
}

static void test_event_json(void)
{
    Lithair__V1__Event ev = LITHAIR__V1__EVENT__INIT;
    ev.node_id = 3;
    ev.seq = 9;

    Lithair__V1__CommittedEvent ce = LITHAIR__V1__COMMITTED_EVENT__INIT;
    ce.model = "items";
    ce.id = "abc";
    ce.op = LITHAIR__V1__COMMITTED_EVENT__OP__UPDATE;
    ce.index = 12345678901234ull;
    ce.term = 7;
    ce.version = 2;
    ce.result = LITHAIR__V1__CODE__ABORTED;
    ev.kind_case = LITHAIR__V1__EVENT__KIND_COMMITTED;
    ev.committed = &ce;
    json_object *o = event_json(&ev, "committed", SSE_STREAM_REPLICATION);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    expect_u64(o, "node", 3);
    expect_str(o, "model", "items");
    expect_str(o, "id", "abc");
    expect_str(o, "op", "update");
    expect_u64(o, "index", 12345678901234ull);
    expect_u64(o, "term", 7);
    expect_u64(o, "version", 2);
    expect_str(o, "result", "ABORTED");
    CU_ASSERT_FALSE(json_object_object_get_ex(o, "at", NULL)); /* the node sent no time */
    json_object_put(o);

    /* "at": the node's publish time in Unix ms, exactly three decimals, no float noise */
    {
        Lithair__V1__Timestamp ts = LITHAIR__V1__TIMESTAMP__INIT;
        ts.seconds = 1795000000;
        ts.nanos = 123456789;
        ev.at = &ts;
        size_t len;
        uint8_t *buf = pack_event(&ev, &len);
        char name[SSE_EVENT_NAME_MAX];
        unsigned mask = 0;
        char *json = NULL;
        CU_ASSERT_EQUAL_FATAL(evb_event_json(buf, len, name, &mask, &json), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"at\":1795000000123.456"));
        free(json);
        free(buf);
        ev.at = NULL;
    }

    Lithair__V1__RoleEvent re = LITHAIR__V1__ROLE_EVENT__INIT;
    re.role = LITHAIR__V1__NODE_ROLE__PRE_CANDIDATE;
    re.term = 4;
    re.leader_id = 0;
    ev.kind_case = LITHAIR__V1__EVENT__KIND_ROLE;
    ev.role = &re;
    o = event_json(&ev, "role", SSE_STREAM_CLUSTER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    expect_u64(o, "node", 3);
    expect_str(o, "role", "pre-candidate");
    expect_u64(o, "term", 4);
    expect_u64(o, "leaderId", 0);
    json_object_put(o);

    Lithair__V1__FollowerProgress fp[2] = {LITHAIR__V1__FOLLOWER_PROGRESS__INIT,
                                           LITHAIR__V1__FOLLOWER_PROGRESS__INIT};
    Lithair__V1__FollowerProgress *fps[2] = {&fp[0], &fp[1]};
    fp[0].id = 1;
    fp[0].match = 10;
    fp[0].next = 11;
    fp[0].state = LITHAIR__V1__FOLLOWER_PROGRESS__STATE__REPLICATE;
    fp[0].lag = 2;
    fp[1].id = 2;
    fp[1].state = LITHAIR__V1__FOLLOWER_PROGRESS__STATE__PROBE;
    Lithair__V1__ProgressEvent pe = LITHAIR__V1__PROGRESS_EVENT__INIT;
    pe.n_followers = 2;
    pe.followers = fps;
    pe.last_index = 12;
    pe.commit = 11;
    ev.kind_case = LITHAIR__V1__EVENT__KIND_PROGRESS;
    ev.progress = &pe;
    o = event_json(&ev, "progress", SSE_STREAM_REPLICATION);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    expect_u64(o, "lastIndex", 12);
    expect_u64(o, "commit", 11);
    json_object *arr = NULL;
    CU_ASSERT_FATAL(json_object_object_get_ex(o, "followers", &arr));
    CU_ASSERT_EQUAL_FATAL(json_object_array_length(arr), 2);
    json_object *f0 = json_object_array_get_idx(arr, 0);
    expect_u64(f0, "id", 1);
    expect_u64(f0, "match", 10);
    expect_u64(f0, "next", 11);
    expect_str(f0, "state", "replicate");
    expect_u64(f0, "lag", 2);
    expect_str(json_object_array_get_idx(arr, 1), "state", "probe");
    json_object_put(o);

    Lithair__V1__MetricsEvent me = LITHAIR__V1__METRICS_EVENT__INIT;
    me.applied_per_sec = 12.5;
    me.commit = 100;
    me.applied = 99;
    me.wal_bytes = 4096;
    me.fsync_p99_us = 850;
    me.term = 5;
    me.role = LITHAIR__V1__NODE_ROLE__LEADER;
    me.leader_id = 3;
    me.pending_proposals = 7;
    me.last_index = 101;
    me.snapshot_index = 50;
    ev.kind_case = LITHAIR__V1__EVENT__KIND_METRICS;
    ev.metrics = &me;
    o = event_json(&ev, "metrics", SSE_STREAM_REPLICATION);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    json_object *aps = NULL;
    CU_ASSERT(json_object_object_get_ex(o, "appliedPerSec", &aps));
    CU_ASSERT_DOUBLE_EQUAL(json_object_get_double(aps), 12.5, 1e-9);
    expect_u64(o, "commit", 100);
    expect_u64(o, "applied", 99);
    expect_u64(o, "walBytes", 4096);
    expect_u64(o, "fsyncP99Us", 850);
    expect_u64(o, "term", 5);
    expect_str(o, "role", "leader");
    expect_u64(o, "leaderId", 3);
    expect_u64(o, "pendingProposals", 7);
    expect_u64(o, "lastIndex", 101);
    expect_u64(o, "snapshotIndex", 50);
    json_object_put(o);

    /* No kind, and bytes that are no Event. */
    ev.kind_case = LITHAIR__V1__EVENT__KIND__NOT_SET;
    size_t len;
    uint8_t *buf = pack_event(&ev, &len);
    char name[SSE_EVENT_NAME_MAX];
    unsigned mask;
    char *json = NULL;
    CU_ASSERT_EQUAL(evb_event_json(buf, len, name, &mask, &json), LT_EUNSUPPORTED);
    free(buf);
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    CU_ASSERT_EQUAL(evb_event_json(junk, sizeof(junk), name, &mask, &json), LT_ECORRUPT);
    CU_ASSERT_PTR_NULL(json);
    CU_ASSERT_STRING_EQUAL(evb_role_name(LITHAIR__V1__NODE_ROLE__CANDIDATE), "candidate");

    struct evb *b = NULL;
    struct sse_hub *hub = NULL;
    CU_ASSERT_EQUAL_FATAL(sse_hub_new(NULL, &hub), 0);
    CU_ASSERT_EQUAL(evb_new("", hub, &b), LT_EINVAL);
    CU_ASSERT_EQUAL(evb_new("nope://x", hub, &b), LT_EINVAL);
    CU_ASSERT_PTR_NULL(b);
    sse_hub_free(hub);
}

static void pub_event(nng_socket pub, const Lithair__V1__Event *ev)
{
    size_t len;
    uint8_t *buf = pack_event(ev, &len);
    CU_ASSERT_EQUAL(nng_send(pub, buf, len, 0), 0);
    free(buf);
}

/* fake_node_pub opens a pub socket listening on a free loopback port, as a node's events
 * socket, and writes its URL to `url`: 0 or NNG's error. */
static int fake_node_pub(nng_socket *pub, char *url, size_t len)
{
    int rv = nng_pub0_open(pub);
    if (rv != 0)
        return rv;
    nng_socket_set_int(*pub, NNG_OPT_SENDBUF, 1024);
    rv = -1;
    for (int i = 0; i < 5 && rv != 0; i++) {
        snprintf(url, len, "tcp://127.0.0.1:%d", tu_free_port());
        rv = nng_listen(*pub, url, NULL, 0);
    }
    return rv;
}

/* A bridge from fake nodes' event sockets (`urls`) to a hub with one SSE client reading
 * the events stream, `committed` limited to `limit` a second. */
struct evfix {
    struct srv s;
    struct cli c;
    struct evb *b;
    struct sse_ev *se; /* the client's last event */
};

static void evfix_start(struct evfix *f, const char *urls, unsigned limit)
{
    srv_start(&f->s, NULL);
    CU_ASSERT_EQUAL_FATAL(cli_open(&f->c, f->s.port, EVENTS_PREFIX, NULL, 0), 0);
    CU_ASSERT_FATAL(cli_waits_ok(&f->c));
    f->b = NULL;
    CU_ASSERT_EQUAL_FATAL(evb_new(urls, f->s.hub, &f->b), 0);
    evb_set_committed_limit(f->b, limit);
    f->se = malloc(sizeof(*f->se));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->se);
}

/* follower_event makes `ev` node `id`'s role event "follower in term 1", with `re`. */
static void follower_event(Lithair__V1__Event *ev, Lithair__V1__RoleEvent *re, uint64_t id)
{
    lithair__v1__event__init(ev);
    lithair__v1__role_event__init(re);
    ev->node_id = id;
    re->role = LITHAIR__V1__NODE_ROLE__FOLLOWER;
    re->term = 1;
    ev->kind_case = LITHAIR__V1__EVENT__KIND_ROLE;
    ev->role = re;
}

static void evfix_stop(struct evfix *f)
{
    free(f->se);
    evb_free(f->b);
    cli_close(&f->c);
    srv_stop(&f->s);
}

/* A fake node's pub socket feeding the bridge: 300 committed events at once are cut to
 * the per-node limit, and the next one that passes reports how many were skipped. */
static void test_committed_rate_limit(void)
{
    nng_socket pub;
    char url[64];
    CU_ASSERT_EQUAL_FATAL(fake_node_pub(&pub, url, sizeof(url)), 0);
    struct evfix fx;
    evfix_start(&fx, url, 20);
    struct cli *cp = &fx.c;

    /* Until the subscription is up, role events are lost: send them until one arrives. */
    Lithair__V1__Event ev;
    Lithair__V1__RoleEvent re;
    follower_event(&ev, &re, 5);
    struct sse_ev *se = fx.se;
    bool up = false;
    for (int i = 0; i < 100 && !up; i++) {
        pub_event(pub, &ev);
        up = cli_event(cp, se, 100) == 1;
    }
    CU_ASSERT_FATAL(up);
    while (cli_event(cp, se, 200) == 1) /* late duplicates */
        ;

    Lithair__V1__CommittedEvent ce = LITHAIR__V1__COMMITTED_EVENT__INIT;
    ce.model = "items";
    ce.id = "x";
    ev.kind_case = LITHAIR__V1__EVENT__KIND_COMMITTED;
    ev.committed = &ce;
    struct evb_node_state ns;
    CU_ASSERT_EQUAL(evb_node_state(fx.b, 5, &ns), 0);
    uint64_t before = ns.events;
    for (int i = 1; i <= 300; i++) {
        ce.index = (uint64_t)i;
        pub_event(pub, &ev);
    }
    /* A pause, as the bridge sees it, so that the next entry is not sampled out
     * (evb_stride_update): on a loaded machine the bridge may still be taking the 300 in
     * when the test's clock says they were sent, so the pause starts once it has them. */
    for (int i = 0; i < 200 && ns.events < before + 300; i++) {
        lt_sleep_ms(50);
        CU_ASSERT_EQUAL(evb_node_state(fx.b, 5, &ns), 0);
    }
    CU_ASSERT_EQUAL(ns.events, before + 300);
    lt_sleep_ms(600);
    ce.index = 301;
    pub_event(pub, &ev);

    uint64_t delivered = 0, skipped = 0, last_index = 0;
    while (last_index < 301 && cli_event(cp, se, 3000) == 1) {
        CU_ASSERT_STRING_EQUAL(se->name, "committed");
        json_object *o = json_tokener_parse(se->data);
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        json_object *f = NULL;
        if (json_object_object_get_ex(o, "skipped", &f))
            skipped += json_object_get_uint64(f);
        CU_ASSERT(json_object_object_get_ex(o, "index", &f));
        last_index = json_object_get_uint64(f);
        delivered++;
        json_object_put(o);
    }
    CU_ASSERT_EQUAL(last_index, 301);
    CU_ASSERT(delivered >= 20 && delivered <= 40);
    CU_ASSERT_EQUAL(delivered + skipped, 301);
    printf("\n  301 committed events: %llu delivered, %llu reported skipped\n",
           (unsigned long long)delivered, (unsigned long long)skipped);
    CU_ASSERT_EQUAL(evb_node_state(fx.b, 5, &ns), 0);
    CU_ASSERT(ns.events >= 302);
    evfix_stop(&fx);
    nng_close(pub);
}

/* Two fake nodes publish the same entries in batches that start at different entries, at
 * 2,500 a second for 1.5 s, with a limit of 20 a second, the second node 40 batches
 * (about 0.4 s, more than a stride window) behind the first: the entries that pass are
 * exactly the same from both nodes, so a page sees them replicated on both. Each node's
 * bucket alone passed the first entries of its own batches: different ones; a stride alone
 * differed where it changed between the two copies of an entry (the first entries). */
static void test_committed_sampled_alike(void)
{
    nng_socket pub[2];
    char urls[2][64], list[160];
    for (int k = 0; k < 2; k++)
        CU_ASSERT_EQUAL_FATAL(fake_node_pub(&pub[k], urls[k], sizeof(urls[k])), 0);
    snprintf(list, sizeof(list), "%s,%s", urls[0], urls[1]);
    struct evfix fx;
    evfix_start(&fx, list, 20);
    struct cli *cp = &fx.c;

    /* both subscriptions up: role events from each until one of each arrives */
    Lithair__V1__Event ev;
    Lithair__V1__RoleEvent re;
    follower_event(&ev, &re, 5);
    struct sse_ev *se = fx.se;
    bool up[2] = {false, false};
    for (int i = 0; i < 100 && !(up[0] && up[1]); i++) {
        for (int k = 0; k < 2; k++) {
            ev.node_id = 5 + (uint64_t)k;
            pub_event(pub[k], &ev);
        }
        while (cli_event(cp, se, 100) == 1) {
            json_object *o = json_tokener_parse(se->data), *f = NULL;
            if (o && json_object_object_get_ex(o, "node", &f)) {
                uint64_t id = json_object_get_uint64(f);
                if (id == 5 || id == 6)
                    up[id - 5] = true;
            }
            json_object_put(o);
        }
    }
    CU_ASSERT_FATAL(up[0] && up[1]);

    enum { TOTAL = 3750, BATCH = 25 };
    Lithair__V1__CommittedEvent *ces = calloc(TOTAL, sizeof(*ces));
    Lithair__V1__CommittedEvent **ptrs = calloc(TOTAL, sizeof(*ptrs));
    CU_ASSERT_FATAL(ces && ptrs);
    for (int i = 0; i < TOTAL; i++) {
        lithair__v1__committed_event__init(&ces[i]);
        ces[i].model = "items";
        ces[i].id = "x";
        ces[i].index = (uint64_t)i + 1;
        ptrs[i] = &ces[i];
    }
    /* node 5's batches start at entries 1, 26, 51 ...; node 6's at 1, 14, 39, 64 ...,
     * from round LAG on */
    enum { LAG = 40 };
    int next[2] = {0, 0};
    uint64_t t0 = lt_now_ns(), t_last = t0;
    for (int round = 0; round < 1000 && (next[0] < TOTAL || next[1] < TOTAL); round++) {
        for (int k = 0; k < 2; k++) {
            if (k == 1 && round < LAG)
                continue;
            int n = k == 1 && round == LAG ? 13 : BATCH;
            if (next[k] + n > TOTAL)
                n = TOTAL - next[k];
            if (n <= 0)
                continue;
            Lithair__V1__CommittedBatch cb = LITHAIR__V1__COMMITTED_BATCH__INIT;
            cb.n_entries = (size_t)n;
            cb.entries = &ptrs[next[k]];
            ev.node_id = 5 + (uint64_t)k;
            ev.kind_case = LITHAIR__V1__EVENT__KIND_COMMITTED_BATCH;
            ev.committed_batch = &cb;
            pub_event(pub[k], &ev);
            next[k] += n;
        }
        lt_sleep_ms(10);
    }
    /* what passed, per node */
    bool seen[2][TOTAL + 1];
    memset(seen, 0, sizeof(seen));
    uint64_t got[2] = {0, 0};
    while (cli_event(cp, se, 1000) == 1) {
        if (strcmp(se->name, "committed") != 0)
            continue;
        json_object *o = json_tokener_parse(se->data), *f = NULL;
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        uint64_t id = json_object_object_get_ex(o, "node", &f) ? json_object_get_uint64(f) : 0;
        uint64_t idx = json_object_object_get_ex(o, "index", &f) ? json_object_get_uint64(f) : 0;
        json_object_put(o);
        if ((id == 5 || id == 6) && idx >= 1 && idx <= TOTAL) {
            seen[id - 5][idx] = true;
            got[id - 5]++;
            t_last = lt_now_ns();
        }
    }
    uint64_t both = 0;
    for (int i = 1; i <= TOTAL; i++)
        both += seen[0][i] && seen[1][i];
    /* the decisions' bucket: 20 a second with a burst of 20, over the time the entries took
     * (1.5 s when the machine keeps up; longer on a loaded one, whose 10 ms sleeps run late) */
    double secs = (double)(t_last - t0) / 1e9;
    uint64_t most = 20 + (uint64_t)(20.0 * secs) + 10;
    printf("\n  entries 1..%d that passed in %.2f s (at most %llu): node 5 %llu, node 6 %llu, "
           "both %llu\n",
           TOTAL, secs, (unsigned long long)most, (unsigned long long)got[0],
           (unsigned long long)got[1], (unsigned long long)both);
    CU_ASSERT(got[0] >= 25 && got[0] <= most);
    CU_ASSERT_EQUAL(got[1], got[0]);
    CU_ASSERT_EQUAL(both, got[0]);
    free(ptrs);
    free(ces);
    evfix_stop(&fx);
    for (int k = 0; k < 2; k++)
        nng_close(pub[k]);
}

static char node_bin[PATH_MAX + 64];

static bool find_node_bin(void)
{
    const char *env = getenv("LITHAIR_NODE_BIN");
    if (env && *env) {
        snprintf(node_bin, sizeof(node_bin), "%s", env);
        return access(node_bin, X_OK) == 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = '\0';
    snprintf(node_bin, sizeof(node_bin), "%s/../../node/lithair-node", exe);
    return access(node_bin, X_OK) == 0;
}

/* create_item creates an item named `name` through the RPC client; its id into id. */
static int create_item(const char *rpc_url, const char *name, char *id, size_t idlen)
{
    struct rpc_client *c = NULL;
    int rc = rpc_client_new(rpc_url, NULL, &c);
    if (rc)
        return rc;
    Lithair__V1__PlaygroundItem item = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
    item.name = (char *)name;
    uint8_t buf[256];
    Lithair__V1__CreateRequest req = LITHAIR__V1__CREATE_REQUEST__INIT;
    req.model = "items";
    req.value.len = lithair__v1__playground_item__pack(&item, buf);
    req.value.data = buf;
    Lithair__V1__RecordReply *rr = NULL;
    struct rpc_status st;
    rc = rpc_call(c, "Models/Create", &req.base, &lithair__v1__record_reply__descriptor, 10000,
                  (ProtobufCMessage **)&rr, &st);
    if (rc == 0) {
        Lithair__V1__PlaygroundItem *got = NULL;
        if (rr->record)
            got = lithair__v1__playground_item__unpack(NULL, rr->record->value.len,
                                                       rr->record->value.data);
        if (got) {
            snprintf(id, idlen, "%s", got->id);
            lithair__v1__playground_item__free_unpacked(got, NULL);
        } else {
            rc = LT_ECORRUPT;
        }
        protobuf_c_message_free_unpacked(&rr->base, NULL);
    }
    rpc_client_free(c);
    return rc;
}

static bool json_str_is(json_object *o, const char *k, const char *v)
{
    json_object *f = NULL;
    return json_object_object_get_ex(o, k, &f) && json_object_is_type(f, json_type_string) &&
           strcmp(json_object_get_string(f), v) == 0;
}

static void test_live_node(void)
{
    CU_ASSERT_FATAL(find_node_bin());
    char dir[256];
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(dir, sizeof(dir), "gwev"), 0);
    /* A long election timeout (1-2 s) so the bridge is connected before the node's
     * first role change. */
    static const char *const args[] = {"--election-ticks", "100", "--log-level", "warn", NULL};
    struct sup_opts so = {.node_bin = node_bin, .data_dir = dir, .n = 1, .extra_args = args};
    struct sup *sup = NULL;
    CU_ASSERT_EQUAL_FATAL(sup_new(&so, &sup), 0);

    struct srv s;
    srv_start(&s, NULL);
    struct cli c;
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, s.port, EVENTS_PREFIX, NULL, 0), 0);
    CU_ASSERT_FATAL(cli_waits_ok(&c));
    struct evb *b = NULL;
    CU_ASSERT_EQUAL_FATAL(evb_new(sup_events_url(sup, 1), s.hub, &b), 0);
    CU_ASSERT_EQUAL(evb_node_state(b, 1, &(struct evb_node_state){0}), LT_ENOTFOUND);
    CU_ASSERT_EQUAL_FATAL(sup_restart(sup, 1, NULL), 0);

    /* Role (on the cluster stream) and metrics with role leader. */
    struct sse_ev *ev = malloc(sizeof(*ev));
    bool saw_role_leader = false, saw_metrics_leader = false;
    uint64_t deadline = lt_now_ns() + 20ull * 1000000000ull;
    while (!(saw_role_leader && saw_metrics_leader) && lt_now_ns() < deadline) {
        if (cli_event(&c, ev, 500) != 1)
            continue;
        json_object *o = json_tokener_parse(ev->data);
        if (!o)
            continue;
        json_object *node = NULL;
        CU_ASSERT(json_object_object_get_ex(o, "node", &node) && json_object_get_uint64(node) == 1);
        if (strcmp(ev->name, "role") == 0 && json_str_is(o, "role", "leader"))
            saw_role_leader = true;
        if (strcmp(ev->name, "metrics") == 0 && json_str_is(o, "role", "leader"))
            saw_metrics_leader = true;
        json_object_put(o);
    }
    CU_ASSERT(saw_role_leader);
    CU_ASSERT(saw_metrics_leader);
    struct evb_node_state ns;
    CU_ASSERT_EQUAL(evb_node_state(b, 1, &ns), 0);
    CU_ASSERT(ns.seen);
    CU_ASSERT_EQUAL(ns.role, LITHAIR__V1__NODE_ROLE__LEADER);
    CU_ASSERT_EQUAL(ns.leader_id, 1);
    CU_ASSERT(ns.term >= 1);

    /* A create through the RPC client: its `committed` event. */
    char id[128] = "";
    int rc = -1;
    for (int i = 0; i < 50 && rc != 0; i++) {
        rc = create_item(sup_rpc_url(sup, 1), "from test_gw_sse", id, sizeof(id));
        if (rc)
            lt_sleep_ms(100);
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    bool saw_committed = false;
    deadline = lt_now_ns() + 10ull * 1000000000ull;
    while (!saw_committed && lt_now_ns() < deadline) {
        if (cli_event(&c, ev, 500) != 1 || strcmp(ev->name, "committed") != 0)
            continue;
        json_object *o = json_tokener_parse(ev->data);
        if (o && json_str_is(o, "id", id)) {
            saw_committed = true;
            CU_ASSERT(json_str_is(o, "model", "items"));
            CU_ASSERT(json_str_is(o, "op", "create"));
            CU_ASSERT(json_str_is(o, "result", "OK"));
            json_object *f = NULL;
            CU_ASSERT(json_object_object_get_ex(o, "index", &f) &&
                      json_object_is_type(f, json_type_int) && json_object_get_uint64(f) >= 1);
            CU_ASSERT(json_object_object_get_ex(o, "version", &f) &&
                      json_object_get_uint64(f) == 1);
        }
        json_object_put(o);
    }
    CU_ASSERT(saw_committed);
    free(ev);
    evb_free(b);
    sup_free(sup);
    cli_close(&c);
    srv_stop(&s);
    tu_rmrf(dir);
}

static int suite_init(void)
{
    mg_init_library(0);
    return 0;
}

static int suite_cleanup(void)
{
    mg_exit_library();
    return 0;
}

static const struct lt_test sse_tests[] = {
    {"headers_order_ids", test_headers_order_ids},
    {"resume", test_resume},
    {"masks", test_masks},
    {"heartbeat_and_hangup", test_heartbeat_and_hangup},
    {"client_limit_and_shutdown", test_client_limit_and_shutdown},
    {"per_address_limit", test_per_address_limit},
    {"owner_revoke_and_expiry", test_owner_revoke_and_expiry},
    {"slow_client", test_slow_client},
    {NULL, NULL},
};

static const struct lt_test events_tests[] = {
    {"event_json", test_event_json},
    {"committed_rate_limit", test_committed_rate_limit},
    {"committed_sampled_alike", test_committed_sampled_alike},
    {"live_node", test_live_node},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"gw_sse", suite_init, suite_cleanup, sse_tests},
    {"gw_events", suite_init, suite_cleanup, events_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
