/* gw_server.c — civetweb set-up and the one dispatcher every request goes through:
 * route table (404/405 as JSON), the SSE streams, static files from --frontend (with
 * Content-Type and Cache-Control), /healthz, and the reply helpers of gw.h.
 *
 * Not here: what the routes do (gw_items.c, gw_cluster.c, gw_bench.c, gw_metrics.c). */
#include <arpa/inet.h>
#include <civetweb.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gw.h"
#include "sse.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_log.h"
#include "lt_utf8.h"
#include "pbjson.h"
#include "wire.h"

/* ------------------------------------------------------------------ replies */

/* An answer given without reading the request's body keeps the connection only if the
 * body is at most this long: civetweb reads and discards it first. */
#define GW_DRAIN_MAX 65536

/* A connection closed with a body still unread is first drained for at most this long and
 * this many bytes (a lingering close): a socket closed with unread data sends a reset,
 * which can destroy the answer before a client still sending its body reads it (a 1 MiB
 * upload would see "broken pipe" instead of its 413). A client that sends more, or more
 * slowly, than this is cut off. */
#define GW_LINGER_MS    1000
#define GW_LINGER_BYTES (8u << 20)

/* gw_keep_alive: does this connection stay open after the answer? Only if civetweb keeps it
 * too (keep-alive is enabled): with a Connection header, when one of its comma-separated
 * options is keep-alive, else under HTTP/1.1. A header that merely contains the word
 * ("keep-alivex") makes civetweb close: an answer that said keep-alive then left a
 * pipelined request unanswered. (An option civetweb alone reads as keep-alive, "keep",
 * closes here, and gw_send_response tells civetweb so.) */
static bool gw_keep_alive(struct gw_req *r)
{
    const char *h = mg_get_header(r->conn, "Connection");
    if (!h)
        return r->ri->http_version && strcmp(r->ri->http_version, "1.1") == 0;
    while (*h) {
        h += strspn(h, " \t,");
        size_t n = strcspn(h, ","), t = n;
        while (t > 0 && (h[t - 1] == ' ' || h[t - 1] == '\t'))
            t--;
        if (t == 10 && strncasecmp(h, "keep-alive", 10) == 0)
            return true;
        h += n;
    }
    return false;
}

int gw_send_response(struct gw_req *r, int status, const char *ctype, const char *cache,
                     const char *extra, const void *body, size_t len, bool send_body)
{
    /* One buffer, one write: civetweb's mg_response_header_* send every header line with
     * its own send(), and format the Date with the non-reentrant gmtime(). */
    /* The Date changes once a second: each worker thread formats it once per second. */
    static _Thread_local time_t date_at = (time_t)-1;
    static _Thread_local char date[64];
    time_t now = time(NULL);
    if (now != date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date_at = now;
    }
    char clen[48] = "";
    if (status != 204 && status != 304)
        snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", len);
    char ctl[160] = "";
    if (ctype)
        snprintf(ctl, sizeof(ctl), "Content-Type: %s\r\n", ctype);
    /* Whenever the answer says "close", civetweb must know it too: otherwise, to keep the
     * connection, it first reads and discards whatever body the client declared (after a
     * 413, gigabytes; from a client trickling a byte a second, for ever). */
    const char *te = mg_get_header(r->conn, "Transfer-Encoding");
    bool chunked = te && strcasecmp(te, "chunked") == 0;
    bool unread = !r->body_read && (chunked || r->ri->content_length > GW_DRAIN_MAX);
    /* A chunked body is never followed by another request on its connection: civetweb
     * keeps a connection only when the body ended with an empty trailer section, and closes
     * it after trailer fields (RFC 9112 7.1.2), whose bytes it leaves unread. */
    bool keep =
        gw_keep_alive(r) && !r->close && status != 408 && status != 413 && !unread && !chunked;
    if (!keep)
        mg_disable_connection_keep_alive(r->conn);
    /* closing with a body unread (or a chunked body's trailer fields): drain it first, so
     * that the close does not reset the answer (after a 408 the client stalled) */
    r->linger = !keep && status != 408 &&
                (chunked || (!r->body_read && (unread || r->ri->content_length > 0)));
    /* keeping it with a small body unread: read the rest before the next request */
    r->drain = keep && !r->body_read && r->ri->content_length > 0;
    size_t cap = 512 + (extra ? strlen(extra) : 0) + (send_body ? len : 0);
    char stackbuf[2048];
    char *buf = cap <= sizeof(stackbuf) ? stackbuf : malloc(cap);
    if (!buf)
        return -1;
    int k = snprintf(buf, cap,
                     "HTTP/1.1 %d %s\r\n%s%sCache-Control: %s\r\nDate: %s\r\n"
                     "Connection: %s\r\n%s\r\n",
                     status, gw_http_reason(status), ctl, clen, cache ? cache : "no-store", date,
                     keep ? "keep-alive" : "close", extra ? extra : "");
    size_t n = k > 0 && (size_t)k < cap ? (size_t)k : 0;
    if (send_body && len && n + len <= cap) {
        memcpy(buf + n, body, len);
        n += len;
    }
    int rc = mg_write(r->conn, buf, n) == (int)n ? 0 : -1;
    if (buf != stackbuf)
        free(buf);
    r->status = status;
    return rc;
}

int gw_reply_json(struct gw_req *r, int status, json_object *body, const char *extra_headers)
{
    const char *text = "";
    size_t len = 0;
    if (body) {
        text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
                                                        JSON_C_TO_STRING_NOSLASHESCAPE);
        len = strlen(text);
    }
    gw_send_response(r, status, body ? "application/json" : NULL, "no-store", extra_headers, text,
                     len, !r->head);
    json_object_put(body);
    r->status = status;
    return status;
}

/* gw_error_json builds the one error shape, {"code","message","details"} (details: an
 * empty array if NULL; taken over, freed on failure). NULL if out of memory. */
static json_object *gw_error_json(const char *code, const char *msg, json_object *details)
{
    json_object *o = json_object_new_object();
    if (!o) {
        json_object_put(details);
        return NULL;
    }
    /* A message may quote the request (an id, a header) or be cut to a size in the middle
     * of a character: whatever is not valid UTF-8 in it shows as '?', never as raw bytes. */
    char clean[1024];
    snprintf(clean, sizeof(clean), "%s", msg);
    lt_utf8_scrub(clean);
    json_object_object_add(o, "code", json_object_new_string(code));
    json_object_object_add(o, "message", json_object_new_string(clean));
    json_object_object_add(o, "details", details ? details : json_object_new_array());
    return o;
}

int gw_reply_error(struct gw_req *r, int status, const char *code, json_object *details,
                   const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_object *o = gw_error_json(code, msg, details);
    if (!o)
        return gw_reply_json(r, 500, NULL, NULL);
    const char *extra = NULL;
    if (status == 503 || status == 429)
        extra = "Retry-After: 1\r\n";
    else if (status == 401) /* RFC 9110 11.6.1: a 401 names the scheme that would help */
        extra = "WWW-Authenticate: Bearer realm=\"lithair\"\r\n";
    return gw_reply_json(r, status, o, extra);
}

int gw_reply_rpc_error(struct gw_req *r, int rc, const struct rpc_status *st, bool if_match)
{
    int code = st ? st->code : LITHAIR__V1__CODE__INTERNAL;
    if (rc == LT_ENOMEM || rc == LT_ECORRUPT)
        code = LITHAIR__V1__CODE__INTERNAL;
    if (code == LITHAIR__V1__CODE__OK)
        code = LITHAIR__V1__CODE__INTERNAL;
    size_t nd = st ? st->n_details : 0;
    json_object *details = json_object_new_array();
    for (size_t i = 0; details && i < nd; i++) {
        char name[64];
        json_object *d = json_object_new_object();
        if (!d)
            break;
        json_object_object_add(
            d, "field",
            json_object_new_string(gw_camel_name(st->details[i].field, name, sizeof(name))));
        json_object_object_add(d, "description",
                               json_object_new_string(st->details[i].description));
        json_object_array_add(details, d);
    }
    int status = gw_http_status(code, nd > 0, if_match);
    const char *msg = st && st->message[0] ? st->message : lt_strerror(rc);
    if (st && st->transport && code == LITHAIR__V1__CODE__UNAVAILABLE)
        msg = "no node is reachable (the cluster may be down or electing a leader)";
    return gw_reply_error(r, status, wire_code_name(code), details, "%s", msg);
}

const char *gw_header(struct gw_req *r, const char *name)
{
    return mg_get_header(r->conn, name);
}

int gw_query(struct gw_req *r, const char *key, char *out, size_t n)
{
    return gw_query_get(r->query, key, out, n);
}

/* ------------------------------------------------------------------ read deadlines */

/* civetweb's mg_read waits until every byte asked for has arrived: its timeout is for a
 * pause alone (request_timeout_ms without a byte), so a client that sends a byte every
 * few seconds keeps one read going for as long as it likes, and a deadline looked at
 * between reads is looked at too late. The watchdog ends such a read: when a watched
 * read's deadline passes, its thread shuts the connection's receiving side down, and the
 * blocked read returns what it has. Every watch ends --request-timeout-ms after it begins:
 * so they are added in deadline order (the first is the next to expire), and the thread,
 * with nothing to watch, may sleep that long without a wake-up for a new watch. */
struct gw_watch {
    struct gw_watch *prev, *next;
    struct mg_connection *conn;
    uint64_t deadline_ns;
    bool fired; /* the deadline passed: the connection's receiving side is shut */
};

struct gw_watchdog {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* the stop */
    struct gw_watch *head, *tail;
    uint64_t timeout_ns; /* --request-timeout-ms: how long every watch lasts */
    bool stopping;
    pthread_t thread;
};

static void *gw_watchdog_main(void *arg)
{
    struct gw_watchdog *wd = arg;
    pthread_mutex_lock(&wd->mu);
    while (!wd->stopping) {
        uint64_t now = lt_now_ns();
        for (struct gw_watch *w = wd->head; w && w->deadline_ns <= now; w = w->next) {
            if (w->fired)
                continue;
            /* under mu: the request's handler waits in gw_watch_end, its socket stays
             * its own (finding it reads /proc: only for a read that outlasted its time) */
            w->fired = true;
            int fd = sse_find_fd(w->conn);
            if (fd >= 0)
                (void)shutdown(fd, SHUT_RD);
        }
        struct gw_watch *next = wd->head;
        while (next && next->fired)
            next = next->next;
        /* a watch that begins while this thread sleeps ends after it wakes */
        uint64_t wait = !next                     ? wd->timeout_ns
                        : next->deadline_ns > now ? next->deadline_ns - now
                                                  : 0;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + wait % 1000000000u;
        ts.tv_sec += (time_t)(wait / 1000000000u + ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&wd->cv, &wd->mu, &ts);
    }
    pthread_mutex_unlock(&wd->mu);
    return NULL;
}

static int gw_watchdog_start(struct gw *g)
{
    struct gw_watchdog *wd = calloc(1, sizeof(*wd));
    if (!wd)
        return LT_ENOMEM;
    pthread_mutex_init(&wd->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd->cv, &ca);
    pthread_condattr_destroy(&ca);
    wd->timeout_ns = (uint64_t)g->cfg.request_timeout_ms * 1000000u;
    if (pthread_create(&wd->thread, NULL, gw_watchdog_main, wd) != 0) {
        pthread_cond_destroy(&wd->cv);
        pthread_mutex_destroy(&wd->mu);
        free(wd);
        return LT_EIO;
    }
    g->watchdog = wd;
    return 0;
}

/* gw_watchdog_stop: after mg_stop (no request runs, no watch is left) */
static void gw_watchdog_stop(struct gw *g)
{
    struct gw_watchdog *wd = g->watchdog;
    if (!wd)
        return;
    pthread_mutex_lock(&wd->mu);
    wd->stopping = true;
    pthread_cond_signal(&wd->cv);
    pthread_mutex_unlock(&wd->mu);
    pthread_join(wd->thread, NULL);
    pthread_cond_destroy(&wd->cv);
    pthread_mutex_destroy(&wd->mu);
    free(wd);
    g->watchdog = NULL;
}

/* gw_watch_begin watches the reads of request `r` from now on (until gw_watch_end): they
 * end once `deadline_ns` has passed. */
static void gw_watch_begin(struct gw_req *r, struct gw_watch *w, uint64_t deadline_ns)
{
    struct gw_watchdog *wd = r->gw->watchdog;
    memset(w, 0, sizeof(*w));
    w->conn = r->conn;
    w->deadline_ns = deadline_ns;
    if (!wd)
        return;
    pthread_mutex_lock(&wd->mu);
    w->prev = wd->tail;
    if (wd->tail)
        wd->tail->next = w;
    else
        wd->head = w;
    wd->tail = w;
    pthread_mutex_unlock(&wd->mu);
}

/* gw_watch_end ends the watch; true if its deadline passed (the connection can no longer
 * be read: it must close). */
static bool gw_watch_end(struct gw_req *r, struct gw_watch *w)
{
    struct gw_watchdog *wd = r->gw->watchdog;
    if (!wd)
        return false;
    pthread_mutex_lock(&wd->mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        wd->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        wd->tail = w->prev;
    bool fired = w->fired;
    pthread_mutex_unlock(&wd->mu);
    return fired;
}

/* gw_read_body_loop reads a body of `cl` bytes (-1: chunked) into *bufp (*capp bytes, grown
 * for a chunked one), *np so far: 0 once it is all in, -1 if `deadline` passed first (not
 * answered: the caller says 408), else the status it answered (cut short, malformed, too
 * long, out of memory). */
static int gw_read_body_loop(struct gw_req *r, long long cl, uint64_t deadline, char **bufp,
                             size_t *capp, size_t *np)
{
    size_t max = r->gw->cfg.max_body;
    char *buf = *bufp;
    size_t cap = *capp, n = *np;
    int rc = 0;
    for (;;) {
        if (n + 1 >= cap) {
            if (cl >= 0)
                break;
            size_t ncap = cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                rc = gw_reply_error(r, 500, "INTERNAL", NULL, "out of memory");
                break;
            }
            buf = nb;
            cap = ncap;
        }
        int k = mg_read(r->conn, buf + n, cap - 1 - n);
        if (k < 0 || (k == 0 && cl >= 0 && n < (size_t)cl)) {
            /* A stalled or dropped client: a cut body must never run as if it were whole
             * (a truncated create that still parses would be committed). */
            if (lt_now_ns() >= deadline) /* a read timed out, or the watchdog ended it */
                rc = -1;
            else if (cl < 0) /* civetweb's chunk decoder: a bad chunk size, or the client left */
                rc = gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                                    "the chunked request body is malformed or was cut short "
                                    "(%zu bytes decoded): nothing was done",
                                    n);
            else
                rc = gw_reply_error(r, 408, "DEADLINE_EXCEEDED", NULL,
                                    "the request body was cut short: %zu of %lld bytes arrived", n,
                                    cl);
            break;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (lt_now_ns() > deadline && (cl < 0 || n < (size_t)cl)) {
            rc = -1;
            break;
        }
        if (n > max) {
            rc = gw_reply_error(r, 413, "INVALID_ARGUMENT", NULL,
                                "request body is over the limit of %zu bytes", max);
            break;
        }
    }
    *bufp = buf;
    *capp = cap;
    *np = n;
    return rc;
}

int gw_read_body(struct gw_req *r, char **out, size_t *len)
{
    size_t max = r->gw->cfg.max_body;
    long long cl = r->ri->content_length;
    if (cl > (long long)max)
        return -gw_reply_error(r, 413, "INVALID_ARGUMENT", NULL,
                               "request body of %lld bytes is over the limit of %zu bytes", cl,
                               max);
    /* A client that sent "Expect: 100-continue" waits for this line before the body
     * (civetweb does not send it for a handler); any other expectation is refused. */
    const char *expect = mg_get_header(r->conn, "Expect");
    if (expect != NULL) {
        if (strcasecmp(expect, "100-continue") != 0)
            return -gw_reply_error(r, 417, "INVALID_ARGUMENT", NULL,
                                   "Expect: %.60s is not understood (only 100-continue is)",
                                   expect);
        if (r->ri->http_version && strcmp(r->ri->http_version, "1.1") == 0 && cl != 0)
            mg_write(r->conn, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    size_t cap = cl >= 0 ? (size_t)cl + 1 : 8192, n = 0;
    /* one deadline for the whole body: civetweb's timeout is per read, so a client that
     * trickles a byte a second would otherwise hold this worker for as long as it likes */
    uint64_t deadline = lt_now_ns() + (uint64_t)r->gw->cfg.request_timeout_ms * 1000000u;
    char *buf = malloc(cap);
    if (!buf)
        return -gw_reply_error(r, 500, "INTERNAL", NULL, "out of memory");
    struct gw_watch watch;
    gw_watch_begin(r, &watch, deadline);
    int rc = gw_read_body_loop(r, cl, deadline, &buf, &cap, &n);
    if (gw_watch_end(r, &watch))
        r->close = true; /* its receiving side is shut: no request can follow */
    if (rc != 0) {
        free(buf);
        if (rc > 0)
            return -rc; /* answered */
        return -gw_reply_error(r, 408, "DEADLINE_EXCEEDED", NULL,
                               "the request body took longer than %u ms to arrive (%zu bytes "
                               "so far): nothing was done",
                               r->gw->cfg.request_timeout_ms, n);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    r->body_read = true;
    return 0;
}

int gw_read_json(struct gw_req *r, bool allow_empty, json_object **out)
{
    char *body = NULL;
    size_t len = 0;
    int rc = gw_read_body(r, &body, &len);
    if (rc < 0)
        return rc;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (i == len) {
        free(body);
        if (allow_empty) {
            *out = json_object_new_object();
            return 0;
        }
        return -gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                               "malformed JSON: the body is empty; expected an object");
    }
    char err[256];
    json_object *j = NULL;
    rc = pbjson_parse_object(body, len, &j, err, sizeof(err));
    free(body);
    if (rc == LT_ENOMEM)
        return -gw_reply_error(r, 500, "INTERNAL", NULL, "out of memory");
    if (rc != 0)
        return -gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "%s", err);
    *out = j;
    return 0;
}

int gw_node_index(const struct gw *g, uint64_t id)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].id == id)
            return (int)i;
    }
    return -1;
}

json_object *gw_json_u64(uint64_t v)
{
    return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

int gw_route_add(struct gw *g, const char *method, const char *pattern, gw_handler_fn fn,
                 const void *ud, const char *name)
{
    if (g->n_routes >= GW_MAX_ROUTES)
        return LT_ETOOBIG;
    g->routes[g->n_routes++] =
        (struct gw_route){.method = method, .pattern = pattern, .fn = fn, .ud = ud, .name = name};
    return 0;
}

/* ------------------------------------------------------------------ static files */

static const struct {
    const char *ext;
    const char *type;
} gw_mime[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".wasm", "application/wasm"},
};

static const char *gw_mime_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(gw_mime) / sizeof(gw_mime[0]); i++) {
        if (strcmp(dot, gw_mime[i].ext) == 0)
            return gw_mime[i].type;
    }
    return "application/octet-stream";
}

/* gw_origin_and_type_ok: what a page on another site could send is refused — a non-GET
 * whose Origin is another host (403), a body that is not typed JSON or not typed at all
 * (415) — and false returned. A bodiless POST with no Content-Type (kill) passes. */
static bool gw_origin_and_type_ok(struct gw_req *r)
{
    if (strcmp(r->method, "GET") == 0 || r->head)
        return true;
    /* Another site's page may POST here (a form, or fetch in no-cors mode, which sends
     * a body with no Content-Type at all): a browser always names the page's origin, and
     * it must be this host. Tools that send no Origin (curl, wrk) are not browsers. */
    const char *origin = mg_get_header(r->conn, "Origin");
    const char *host = mg_get_header(r->conn, "Host");
    if (origin) {
        const char *o = strstr(origin, "://");
        o = o ? o + 3 : origin;
        if (!host || strcasecmp(o, host) != 0) {
            gw_reply_error(r, 403, "PERMISSION_DENIED", NULL,
                           "cross-site request refused: Origin %.80s is not this gateway", origin);
            return false;
        }
    }
    const char *ct = mg_get_header(r->conn, "Content-Type");
    const char *te = mg_get_header(r->conn, "Transfer-Encoding");
    bool body = r->ri->content_length > 0 || (te && strcasecmp(te, "chunked") == 0);
    if (!ct && body) {
        gw_reply_error(r, 415, "INVALID_ARGUMENT", NULL,
                       "a request body needs Content-Type: application/json");
        return false;
    }
    if (!ct)
        return true;
    size_t n = strcspn(ct, "; \t");
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0) {
        /* JSON is UTF-8 (RFC 8259 8.1): a body announced in another charset is refused,
         * not read as UTF-8 regardless */
        const char *cs = strcasestr(ct + n, "charset");
        if (!cs)
            return true;
        cs += 7;
        while (*cs == ' ' || *cs == '\t')
            cs++;
        if (*cs == '=')
            cs++;
        while (*cs == ' ' || *cs == '\t' || *cs == '"')
            cs++;
        if ((strncasecmp(cs, "utf-8", 5) == 0 && strchr("\"; \t", cs[5])) ||
            (strncasecmp(cs, "utf8", 4) == 0 && strchr("\"; \t", cs[4])))
            return true;
        gw_reply_error(r, 415, "INVALID_ARGUMENT", NULL,
                       "unsupported Content-Type '%.60s': JSON is sent as UTF-8", ct);
        return false;
    }
    gw_reply_error(r, 415, "INVALID_ARGUMENT", NULL,
                   "unsupported Content-Type '%.60s': send application/json", ct);
    return false;
}

/* The methods civetweb 1.15 parses (its http_methods table); any other, even well-formed,
 * makes it refuse the request line as a "Bad request" before any handler runs. */
static bool gw_civetweb_method(const char *m)
{
    static const char *const known[] = {"GET",     "POST",    "PUT",      "DELETE",   "HEAD",
                                        "OPTIONS", "CONNECT", "PATCH",    "PROPFIND", "MKCOL",
                                        "LOCK",    "UNLOCK",  "PROPPATCH"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(m, known[i]) == 0)
            return true;
    return false;
}

static bool gw_is_api_path(const char *p);
static int gw_reply_not_allowed(struct gw_req *r, const char *allow);

/* gw_unknown_method answers a request civetweb refused for its method alone (TRACE, FOO,
 * "post": methods are case-sensitive) as the router answers one it does not route: 405
 * with the Allow of the path (the route's methods; "GET, HEAD" for the page's files and the
 * event streams), or 404 for an API path that names nothing. civetweb parses the request
 * line (method, target, version) before it checks the method, and has parsed no header
 * then: so the answer reads the target only. Returns false (nothing sent) for anything
 * else, which civetweb's own 400 then describes. */
static bool gw_unknown_method(struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    struct gw *g = mg_get_user_data(mg_get_context(conn));
    if (!g || !ri || !ri->request_method || !ri->request_uri || !ri->http_version ||
        ri->num_headers != 0 || !gw_is_token_method(ri->request_method) ||
        gw_civetweb_method(ri->request_method) || strlen(ri->request_method) > 32)
        return false;
    const char *target = ri->request_uri;
    char auth[256];
    if (gw_absolute_target(target, auth, sizeof(auth)))
        target = strchr(target + strcspn(target, ":") + 3, '/');
    if (!target || target[0] != '/')
        return false;
    char path[1024];
    size_t len = strcspn(target, "?#");
    if (len >= sizeof(path))
        return false;
    memcpy(path, target, len);
    path[len] = '\0';
    struct mg_request_info fake = *ri; /* what gw_send_response reads: no body, no keep-alive */
    fake.content_length = 0;
    struct gw_req r = {.gw = g,
                       .conn = conn,
                       .ri = &fake,
                       .method = ri->request_method,
                       .path = path,
                       .body_read = true,
                       .close = true};
    char allow[64];
    struct gw_params params;
    int idx = gw_routes_find(g->routes, g->n_routes, r.method, path, &params, allow, sizeof(allow));
    if (idx == -2)
        gw_reply_not_allowed(&r, allow);
    else if (strncmp(path, "/_playground/events", 19) == 0 && sse_stream_mask(path + 19) != 0)
        gw_reply_not_allowed(&r, "GET, HEAD");
    else if (gw_is_api_path(path))
        gw_reply_error(&r, 404, "NOT_FOUND", NULL, "no route for %s %.200s", r.method, path);
    else
        gw_reply_not_allowed(&r, "GET, HEAD");
    gw_metrics_observe(g, "method_not_allowed", r.status, 0);
    return true;
}

/* gw_http_error answers, in the JSON error shape, the errors civetweb finds itself before
 * any handler runs (a request line or header it cannot parse, headers too large, an
 * unsupported HTTP version). The connection is closed: the request may not have been read
 * to its end. An answer to a HEAD has no body (RFC 9110 9.3.2), as every other one here. */
static int gw_http_error(struct mg_connection *conn, int status, const char *errmsg)
{
    if (status == 400 && gw_unknown_method(conn))
        return 0; /* answered 405 (or 404) */
    const char *code = status == 404                    ? "NOT_FOUND"
                       : status == 408                  ? "DEADLINE_EXCEEDED"
                       : status == 429                  ? "RESOURCE_EXHAUSTED"
                       : status == 503                  ? "UNAVAILABLE"
                       : status >= 500 && status != 505 ? "INTERNAL"
                                                        : "INVALID_ARGUMENT";
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", errmsg && *errmsg ? errmsg : gw_http_reason(status));
    for (size_t n = strlen(msg); n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'); n--)
        msg[n - 1] = '\0';
    json_object *o = gw_error_json(code, msg, NULL);
    if (!o)
        return 1; /* civetweb's own plain answer */
    size_t len;
    const char *body = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    mg_disable_connection_keep_alive(conn);
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
              status, gw_http_reason(status), len);
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (!ri || !ri->request_method || strcmp(ri->request_method, "HEAD") != 0)
        mg_write(conn, body, len);
    json_object_put(o);
    return 0;
}

/* gw_reply_not_allowed: 405 with `Allow` and the JSON error shape. */
static int gw_reply_not_allowed(struct gw_req *r, const char *allow)
{
    char hdr[96];
    snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
    char msg[256];
    snprintf(msg, sizeof(msg), "method %.20s is not allowed on %.80s; allowed: %s", r->method,
             r->path, allow);
    return gw_reply_json(r, 405, gw_error_json("INVALID_ARGUMENT", msg, NULL), hdr);
}

/* gw_servable: whether a decoded path may name one of the page's files: not a dotfile or
 * dot-directory, not what npm keeps in the folder (node_modules/, package*.json). (A file
 * of a type the page does not use, a README, is refused once the path is resolved.) */
static bool gw_servable(const char *dec)
{
    return !strstr(dec, "/.") && strncmp(dec, "/node_modules", 13) != 0 &&
           strcmp(dec, "/package.json") != 0 && strcmp(dec, "/package-lock.json") != 0;
}

static int gw_serve_static(struct gw_req *r)
{
    if (strcmp(r->method, "GET") != 0 && !r->head)
        return gw_reply_not_allowed(r, "GET, HEAD");
    char dec[2048];
    if (gw_url_decode(r->path, strlen(r->path), false, dec, sizeof(dec)) <= 0 ||
        strstr(dec, "..") || dec[0] != '/' || !gw_servable(dec))
        return gw_reply_error(r, 404, "NOT_FOUND", NULL, "no such file");
    char path[4096];
    const char *rel = strcmp(dec, "/") == 0 ? "/index.html" : dec;
    int k = snprintf(path, sizeof(path), "%s%s", r->gw->cfg.frontend_dir, rel);
    if (k < 0 || (size_t)k >= sizeof(path) - 12)
        return gw_reply_error(r, 404, "NOT_FOUND", NULL, "no such file");
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        strcat(path, path[strlen(path) - 1] == '/' ? "index.html" : "/index.html");
    int fd = strcmp(gw_mime_type(path), "application/octet-stream") != 0
                 ? open(path, O_RDONLY | O_CLOEXEC)
                 : -1;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        return gw_reply_error(r, 404, "NOT_FOUND", NULL, "no such file: %.200s", r->path);
    }
    bool vendor = strncmp(r->path, "/vendor/", 8) == 0;
    /* A validator, so that "no-cache" costs a 304 instead of the whole file: size and
     * modification time, which change whenever the file does. */
    char etag[80], hdrs[200];
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)sb.st_size,
             (unsigned long long)sb.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)sb.st_mtim.tv_nsec);
    snprintf(hdrs, sizeof(hdrs), "ETag: %s\r\nX-Content-Type-Options: nosniff\r\n", etag);
    const char *inm = mg_get_header(r->conn, "If-None-Match");
    if (inm && (strstr(inm, etag) || strcmp(inm, "*") == 0)) {
        close(fd);
        gw_send_response(r, 304, NULL, vendor ? "public, max-age=86400" : "no-cache", hdrs, NULL, 0,
                         false);
        return 304;
    }
    gw_send_response(r, 200, gw_mime_type(path), vendor ? "public, max-age=86400" : "no-cache",
                     hdrs, NULL, (size_t)sb.st_size, false);
    char *buf = r->head ? NULL : malloc(65536); /* civetweb threads have small stacks */
    ssize_t n;
    while (buf && (n = read(fd, buf, 65536)) > 0) {
        if (mg_write(r->conn, buf, (size_t)n) <= 0)
            break;
    }
    free(buf);
    close(fd);
    return 200;
}

/* ------------------------------------------------------------------ /healthz */

static int gw_healthz(struct gw_req *r)
{
    Lithair__V1__StatusRequest req = LITHAIR__V1__STATUS_REQUEST__INIT;
    Lithair__V1__NodeStatus *ns = NULL;
    struct rpc_status st;
    uint64_t leader = 0;
    int rc =
        rpc_call(r->gw->client, "Cluster/Status", &req.base, &lithair__v1__node_status__descriptor,
                 r->gw->cfg.status_timeout_ms, (ProtobufCMessage **)&ns, &st);
    if (rc == 0) {
        leader = ns->leader_id;
        protobuf_c_message_free_unpacked(&ns->base, NULL);
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status",
                           json_object_new_string(leader    ? "ok"
                                                  : rc == 0 ? "no-leader"
                                                            : "unreachable"));
    json_object_object_add(o, "leaderId", gw_json_u64(leader));
    return gw_reply_json(r, leader ? 200 : 503, o, leader ? NULL : "Retry-After: 1\r\n");
}

/* ------------------------------------------------------------------ dispatch */

static bool gw_is_api_path(const char *p)
{
    return strncmp(p, "/api/", 5) == 0 || strcmp(p, "/api") == 0 ||
           strncmp(p, "/_playground", 12) == 0 || strcmp(p, "/healthz") == 0 ||
           strcmp(p, "/metrics") == 0;
}

/* gw_drain reads and discards the rest of a small body its answer was given without, when
 * the connection stays open (the next request follows the body), within
 * --request-timeout-ms: civetweb would read it after the handler with no deadline but each
 * pause's (see the watchdog), for as long as a client trickling it liked. A client slower
 * than that, or one that leaves, loses its connection (the answer is sent). */
static void gw_drain(struct gw_req *r)
{
    char buf[4096];
    struct gw_watch watch;
    gw_watch_begin(r, &watch, lt_now_ns() + (uint64_t)r->gw->cfg.request_timeout_ms * 1000000u);
    int k;
    while ((k = mg_read(r->conn, buf, sizeof(buf))) > 0)
        ;
    if (gw_watch_end(r, &watch) || k < 0)
        mg_disable_connection_keep_alive(r->conn);
}

/* gw_linger reads and discards what the client still sends after an early answer, until
 * the client closes (it has read the answer), within GW_LINGER_MS and GW_LINGER_BYTES. It
 * reads the socket itself, with poll: civetweb's mg_read would wait up to the whole
 * request timeout for a client that sends nothing. */
static void gw_linger(struct gw_req *r)
{
    int fd = sse_find_fd(r->conn);
    if (fd < 0)
        return;
    /* the answer is complete: a client that has read it closes, which ends the wait */
    (void)shutdown(fd, SHUT_WR);
    char buf[16384];
    uint64_t end = lt_now_ns() + (uint64_t)GW_LINGER_MS * 1000000u;
    size_t total = 0;
    while (total < GW_LINGER_BYTES) {
        uint64_t now = lt_now_ns();
        if (now >= end)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int k = poll(&p, 1, (int)((end - now) / 1000000u) + 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break; /* the client is done (or gone) */
        total += (size_t)n;
    }
}

/* The query parameters each route reads; every other route reads none. (The list route
 * checks its own, filters included.) An unread parameter is a 400, not silently ignored:
 * "?forse=true" must not look like a kill that was forced. */
static const struct {
    const char *route;
    const char *keys[3];
} gw_route_query[] = {
    {"items_get", {"consistency"}},
    {"items_history", {"consistency"}},
    {"cluster_kill", {"graceful", "force"}},
    {"cluster_force_election", {"target"}},
    {"firewall_add", {"force"}},
};

/* gw_reply_bad_query answers 400 for a query string no route reads safely (a parameter
 * route `route` does not read, a key given twice, too many pairs) and returns true; false
 * if the query is fine. */
static bool gw_reply_bad_query(struct gw_req *r, const char *route)
{
    if (r->query && *r->query && strcmp(route, "items_list") != 0) {
        const char *const *keys = NULL;
        static const char *const none[] = {NULL};
        for (size_t i = 0; i < sizeof(gw_route_query) / sizeof(gw_route_query[0]); i++)
            if (strcmp(route, gw_route_query[i].route) == 0)
                keys = gw_route_query[i].keys;
        char bad[64];
        if (!gw_query_check_keys(r->query, keys ? keys : none, bad, sizeof(bad))) {
            gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                           "unknown query parameter '%s' for %s %.100s", bad, r->method, r->path);
            return true;
        }
    }
    char dup[128];
    int rc = gw_query_check_dups(r->query, dup, sizeof(dup));
    if (rc == LT_EINVAL)
        gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "query parameter '%s' is given twice",
                       dup);
    else if (rc != 0)
        gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "more than %d query parameters",
                       GW_QUERY_MAX_PARAMS);
    return rc != 0;
}

/* The routes whose handlers read a request body; every other route takes none. A body sent
 * to one of those is a 400, not silently ignored: POST .../kill/3 with {"graceful": true}
 * must not look like a graceful stop and be a SIGKILL (its options are query parameters). */
static const char *const gw_route_body[] = {
    "items_create", "items_update",  "benchmark_start",        "login",
    "firewall_add", "test_firewall", "cluster_force_election",
};

/* gw_reply_bad_body answers 400 when route `route` takes no body and the request carries
 * one, and returns true; false if there is none (a chunked body is read to know). */
static bool gw_reply_bad_body(struct gw_req *r, const char *route)
{
    for (size_t i = 0; i < sizeof(gw_route_body) / sizeof(gw_route_body[0]); i++)
        if (strcmp(route, gw_route_body[i]) == 0)
            return false;
    if (r->ri->content_length == 0)
        return false;
    if (r->ri->content_length < 0) {
        const char *te = mg_get_header(r->conn, "Transfer-Encoding");
        if (te == NULL)
            return false; /* neither a length nor chunks: no body */
        char *body = NULL;
        size_t len = 0;
        if (gw_read_body(r, &body, &len) < 0)
            return true; /* answered: too long, cut, or too slow */
        free(body);
        if (len == 0)
            return false;
    }
    bool has_query = false;
    for (size_t i = 0; i < sizeof(gw_route_query) / sizeof(gw_route_query[0]); i++)
        has_query |= strcmp(route, gw_route_query[i].route) == 0;
    gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "%s %.100s takes no request body%s", r->method,
                   r->path,
                   has_query ? ": its options are query parameters (see docs/API.md)" : "");
    return true;
}

/* civetweb keeps this many header lines of a request and silently drops the rest */
#define GW_MAX_HEADERS                                                                             \
    ((int)(sizeof(((struct mg_request_info *)0)->http_headers) /                                   \
           sizeof(((struct mg_request_info *)0)->http_headers[0])))

/* civetweb reads a request's line and header lines into a buffer of this many bytes (its
 * max_request_size, passed as such to mg_start) */
#define GW_REQUEST_BUF 16384

/* gw_line_ends_reading: does a header line that starts with byte `c` end civetweb's reading
 * of the header lines? Its parse_http_headers takes a line that does not start with a
 * name's character for the end of them: a blank (an obsolete line folding, RFC 9112 5.2), a
 * ':', a byte past ASCII. (A tab or another control byte is refused as malformed.) */
static bool gw_line_ends_reading(unsigned char c)
{
    return c == ' ' || c == ':' || c >= 0x80;
}

/* gw_header_lines_cut: did civetweb stop reading the request's header lines before their
 * end? It then drops the lines after that one without a word, an If-Match, a Content-Length
 * or an Origin among them (QA: a DELETE whose failing If-Match came after " folded" deleted
 * the record). civetweb 1.15 (parse_http_request, parse_http_headers) parses the request in
 * place, in its buffer: it writes a NUL over the CR or LF that ends each header line and
 * over the LF after a CR, and over the last LF of the header block; the block holds no other
 * NUL (a control byte in it is refused first). So after the last value read come the NULs
 * of its line's end, then the first byte of the next line: the blank line's CR (or its LF,
 * a NUL), or the byte at which the reading stopped. One case is ambiguous: two NULs are a
 * CR LF or the line's LF and the block's last one; the byte after them is looked at only
 * when every line before ended with CR LF (a client that sends CR LF except on the last
 * header line and the blank line, each a bare LF, could be refused wrongly). After the
 * request line civetweb turns every blank into a NUL too. */
static bool gw_header_lines_cut(const struct mg_request_info *ri)
{
    int n = ri->num_headers;
    if (!ri->http_version || !ri->request_method)
        return false;
    const char *vend = ri->http_version + strlen(ri->http_version);
    if (n <= 0) /* after a bare LF, the byte that stopped it (CR LF: see gw_headers_bad) */
        return vend[1] != '\0' && gw_line_ends_reading((unsigned char)vend[1]);
    const char *v = ri->http_headers[n - 1].value;
    const char *end = v + strlen(v); /* was the CR or LF that ended the last line read */
    if (end[1] != '\0')              /* a bare LF: the next line starts here */
        return gw_line_ends_reading((unsigned char)end[1]);
    bool crlf = ri->http_headers[0].name - vend == 2;
    for (int i = 1; i < n && crlf; i++) {
        const char *prev = ri->http_headers[i - 1].value;
        crlf = ri->http_headers[i].name - (prev + strlen(prev)) == 2;
    }
    /* end[2] is in the block if the line ended with CR LF; never read past the buffer */
    if (!crlf || end + 2 - ri->request_method >= GW_REQUEST_BUF - 64)
        return false;
    return gw_line_ends_reading((unsigned char)end[2]);
}

/* gw_headers_bad: why the request's header lines cannot be trusted as parsed, or NULL.
 * A request with as many lines as civetweb keeps may have had more (dropped: an If-Match,
 * Origin or Host among them would be ignored); two Content-Length values that differ, or
 * two Host lines, are ambiguous (RFC 7230 3.3.2, 5.4: request smuggling), and so is a
 * Content-Length beside a Transfer-Encoding (RFC 9112 6.1: a server may answer it only if it
 * closes the connection after; the gateway refuses it, and closes), and two lines of a
 * header read as one value (If-Match, Authorization, ...: which one counts?). */
static const char *gw_headers_bad(const struct mg_request_info *ri)
{
    if (ri->num_headers >= GW_MAX_HEADERS)
        return "too many header lines: at most 63 are read";
    if (gw_header_lines_cut(ri))
        return "a header line starts with a blank (an obsolete line folding), a ':' or a byte "
               "that is not ASCII: the header lines after it would be lost";
    /* headers the gateway reads with mg_get_header, which returns the first of several */
    static const struct {
        const char *name, *why;
    } once[] = {
        {"Host", "more than one Host header"},
        {"If-Match", "more than one If-Match header"},
        {"If-None-Match", "more than one If-None-Match header"},
        {"Authorization", "more than one Authorization header"},
        {"Origin", "more than one Origin header"},
        {"Content-Type", "more than one Content-Type header"},
        {"Transfer-Encoding", "more than one Transfer-Encoding header"},
    };
    bool seen[sizeof(once) / sizeof(once[0])] = {false};
    const char *clen = NULL, *te = NULL;
    for (int i = 0; i < ri->num_headers; i++) {
        const char *n = ri->http_headers[i].name, *v = ri->http_headers[i].value;
        if (strcasecmp(n, "Content-Length") == 0) {
            /* 1*DIGIT (RFC 9110 8.6; civetweb keeps the blanks after a value): civetweb
             * reads the leading digits alone ("2, 40" as 2, "0x20" as 0, "+2" as 2), and the
             * rest of the body would be read as the next request */
            size_t d = strspn(v, "0123456789");
            if (d == 0 || v[d + strspn(v + d, " \t")] != '\0')
                return "a Content-Length that is not a decimal number";
            if (clen != NULL && strcmp(clen, v) != 0)
                return "two Content-Length headers with different values";
            clen = v;
            continue;
        }
        if (!strchr("HhIiAaOoCcTt", n[0]) || !n[0])
            continue; /* most lines (User-Agent, Accept...): no comparison at all */
        if (strcasecmp(n, "Transfer-Encoding") == 0)
            te = v;
        for (size_t k = 0; k < sizeof(once) / sizeof(once[0]); k++) {
            if (strcasecmp(n, once[k].name) == 0) {
                if (seen[k])
                    return once[k].why;
                seen[k] = true;
            }
        }
    }
    if (clen != NULL && seen[sizeof(once) / sizeof(once[0]) - 1]) /* Transfer-Encoding */
        return "both Content-Length and Transfer-Encoding: the body's length is ambiguous";
    /* RFC 9112 6.3: a body's length is known only when chunked is the last coding, and the
     * gateway decodes no other (civetweb took "identity" for no body at all, and the body
     * for the next request) */
    if (te != NULL && strcasecmp(te, "chunked") != 0)
        return "a Transfer-Encoding other than chunked: the body's length cannot be known";
    /* RFC 9112 3.2 (a server MUST answer 400); also every header line of such a request may
     * have been dropped after a CR LF (gw_header_lines_cut cannot tell that case apart) */
    if (!seen[0] && ri->http_version && strcmp(ri->http_version, "1.1") == 0)
        return "an HTTP/1.1 request needs a Host header";
    return NULL;
}

static int gw_mg_handler(struct mg_connection *conn, void *cbdata)
{
    struct gw *g = cbdata;
    uint64_t t0 = lt_now_ns();
    const struct mg_request_info *ri = mg_get_request_info(conn);
    struct gw_req r = {
        .gw = g,
        .conn = conn,
        .ri = ri,
        .method = ri->request_method,
        .path = ri->local_uri ? ri->local_uri : "/",
        .query = ri->query_string,
        .head = strcmp(ri->request_method, "HEAD") == 0,
    };
    const char *route_name = "static";
    char allow[64];
    int idx =
        gw_routes_find(g->routes, g->n_routes, r.method, r.path, &r.params, allow, sizeof(allow));
    /* a route's request is first checked for what a browser on another site could send
     * (Origin, body type), then by the security layers, then handled */
    const char *hbad = gw_headers_bad(ri);
    /* An absolute-form target names the host itself, and then the Host header does not
     * count (RFC 9112 3.2.2): civetweb has checked its port, the host is checked here. */
    char authority[256];
    bool absolute =
        ri->request_uri && gw_absolute_target(ri->request_uri, authority, sizeof(authority));
    const char *host = absolute ? authority : mg_get_header(conn, "Host");
    if (hbad != NULL) {
        route_name = "refused";
        r.close = true;
        if (ri->num_headers >= GW_MAX_HEADERS)
            gw_reply_error(&r, 431, "INVALID_ARGUMENT", NULL, "%s", hbad);
        else
            gw_reply_error(&r, 400, "INVALID_ARGUMENT", NULL, "%s", hbad);
    } else if (absolute && g->local_only && !gw_host_is_local(authority)) {
        /* not a proxy: a target on another host is not ours to fetch */
        route_name = "refused";
        r.close = true;
        gw_reply_error(&r, 400, "INVALID_ARGUMENT", NULL,
                       "the request target names host %.80s, not this gateway (it listens on "
                       "loopback only, and is no proxy)",
                       authority);
    } else if (g->local_only && gw_is_api_path(r.path) && !gw_host_is_local(host)) {
        /* DNS rebinding: another site's page whose name now points at 127.0.0.1 */
        route_name = "refused";
        gw_reply_error(&r, 403, "PERMISSION_DENIED", NULL,
                       "Host %.80s is not this gateway's: it listens on loopback only; open "
                       "it as localhost or 127.0.0.1",
                       host);
    } else if (!g->local_only && gw_is_api_path(r.path) && !gw_host_is_local(host) &&
               !gw_host_named(host, g->cfg.allowed_hosts, g->cfg.n_allowed_hosts) &&
               !gw_host_named(host, (const char *const[]){g->hostname}, g->hostname[0] ? 1 : 0)) {
        /* DNS rebinding on an address others reach: a page on another site whose name
         * now points at this machine sends that name (and Origin equals it) */
        route_name = "refused";
        gw_reply_error(&r, 403, "PERMISSION_DENIED", NULL,
                       "Host %.80s is not a name this gateway answers to: open it by its "
                       "address, localhost or %.80s, or start it with --allowed-host and "
                       "that name",
                       host, g->hostname[0] ? g->hostname : "this machine's name");
    } else if (idx >= 0 && !gw_origin_and_type_ok(&r)) {
        route_name = "refused";
    } else if (!gw_security_check(&r, &r.who)) {
        route_name = "refused";
    } else if (idx >= 0 && (gw_reply_bad_query(&r, g->routes[idx].name) ||
                            gw_reply_bad_body(&r, g->routes[idx].name))) {
        route_name = g->routes[idx].name;
    } else if (idx >= 0) {
        r.route = &g->routes[idx];
        route_name = r.route->name;
        r.route->fn(&r);
    } else if (idx == -2) {
        route_name = "method_not_allowed";
        gw_reply_not_allowed(&r, allow);
    } else if (strncmp(r.path, "/_playground/events", 19) == 0 && g->sse &&
               sse_stream_mask(r.path + 19) != 0) {
        static const char *const sse_query_keys[] = {"lastEventId", NULL};
        char qbad[64];
        int qrc;
        uint64_t resume_id = 0;
        route_name = "events";
        /* a HEAD is checked as the GET would be, then answers what it would start with */
        if (strcmp(r.method, "GET") != 0 && !r.head) {
            gw_reply_not_allowed(&r, "GET, HEAD");
        } else if (!gw_query_check_keys(r.query, sse_query_keys, qbad, sizeof(qbad))) {
            gw_reply_error(&r, 400, "INVALID_ARGUMENT", NULL,
                           "unknown query parameter '%s' for %s %.100s (the one a stream reads "
                           "is lastEventId)",
                           qbad, r.method, r.path);
        } else if ((qrc = gw_query_check_dups(r.query, qbad, sizeof(qbad))) != 0) {
            /* as on every route: which of the two would count? */
            if (qrc == LT_EINVAL)
                gw_reply_error(&r, 400, "INVALID_ARGUMENT", NULL,
                               "query parameter '%s' is given twice", qbad);
            else
                gw_reply_error(&r, 400, "INVALID_ARGUMENT", NULL, "more than %d query parameters",
                               GW_QUERY_MAX_PARAMS);
        } else if (sse_last_event_id(conn, &resume_id) == SSE_RESUME_BAD_QUERY) {
            gw_reply_error(&r, 400, "INVALID_ARGUMENT", NULL,
                           "lastEventId must be the decimal id of the last event received "
                           "(0 or absent: new events only)");
        } else if (r.head) { /* no stream */
            mg_disable_connection_keep_alive(conn);
            mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                            "Cache-Control: no-cache\r\nConnection: close\r\n\r\n");
            r.status = 200;
        } else {
            /* a stream opened with a session ends with it (logout or expiry) */
            int rc = sse_hub_serve(g->sse, conn, sse_stream_mask(r.path + 19), resume_id,
                                   r.who.anonymous ? NULL : r.who.session,
                                   r.who.anonymous ? 0 : r.who.expires_s);
            if (rc == 0)
                r.status = 200;
            else if (rc == LT_EUNAUTH) /* checked just before its session's logout */
                gw_reply_error(&r, 401, "UNAUTHENTICATED", NULL,
                               "the session this stream was asked with has ended: log in");
            else {
                r.close = true; /* a refusal must not hold a worker for the keep-alive */
                gw_reply_error(&r, 503, "UNAVAILABLE", NULL, "event stream refused: %s",
                               rc == LT_EBUSY      ? "too many streams"
                               : rc == LT_ENOSPACE ? "too many streams from your address"
                                                   : lt_strerror(rc));
            }
        }
    } else if (gw_is_api_path(r.path)) {
        route_name = "not_found";
        gw_reply_error(&r, 404, "NOT_FOUND", NULL, "no route for %s %.200s", r.method, r.path);
    } else {
        gw_serve_static(&r);
    }
    if (r.status <= 0)
        r.status = 500;
    if (r.linger)
        gw_linger(&r);
    else if (r.drain)
        gw_drain(&r);
    gw_metrics_observe(g, route_name, r.status, lt_now_ns() - t0);
    return r.status;
}

/* gw_mg_authorized lets every request reach gw_mg_handler: the gateway uses no civetweb
 * password files. Without it civetweb looks for an htpasswd file beside each request's
 * path: a stat() system call per request. */
static int gw_mg_authorized(struct mg_connection *conn, void *cbdata)
{
    (void)conn;
    (void)cbdata;
    return 1;
}

/* gw_thread_init runs first on every civetweb thread: it makes the thread's locale glibc's
 * own "C" object. json-c switches to the "C" numeric locale around every parse
 * (duplocale, newlocale, uselocale, freelocale); from the global locale those take glibc's
 * process-wide locale lock for writing, which 64 workers contend for. From the "C" object
 * they return at once. The locale's meaning is unchanged: the gateway never calls setlocale. */
static void *gw_thread_init(const struct mg_context *ctx, int thread_type)
{
    (void)ctx;
    (void)thread_type;
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c != (locale_t)0)
        uselocale(c);
    return NULL;
}

/* An idle keep-alive connection holds a worker thread until this passes: short, so that
 * a client holding many idle connections cannot keep the workers from everyone else for
 * long (browsers reopen a closed connection without a fuss). */
#define GW_KEEP_ALIVE_MS "5000"

/* gw_bind_error: why an IPv4 `addr`:`port` cannot be listened on (an errno: EADDRINUSE,
 * EACCES, EADDRNOTAVAIL), 0 if a bind of our own works. civetweb says why only into a log
 * the gateway does not keep: after its start failed, a bind as it makes one (with
 * SO_REUSEADDR) finds the reason. */
static int gw_bind_error(const char *addr, int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &a.sin_addr) != 1)
        return 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int one = 1, err = 0;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1) != 0)
        err = errno;
    close(fd);
    return err;
}

int gw_server_can_listen(const struct gw *g)
{
    char addr[64];
    bool loopback;
    if (gw_listen_addr_parse(g->cfg.listen_addr ? g->cfg.listen_addr : "127.0.0.1", addr,
                             sizeof(addr), &loopback) != 0)
        return 0; /* gw_server_start says what is wrong with it */
    int err = strchr(addr, ':') ? 0 : gw_bind_error(addr, g->cfg.listen_port);
    if (err)
        lt_error("cannot listen on %s:%d: %s", addr, g->cfg.listen_port, strerror(err));
    return err ? LT_EIO : 0;
}

int gw_server_start(struct gw *g)
{
    int rc = gw_route_add(g, "GET", "/healthz", gw_healthz, NULL, "healthz");
    if (rc != 0) {
        lt_error("cannot add the /healthz route: %s", lt_strerror(rc));
        return rc;
    }
    char port[96], threads[16], tmo[16];
    /* read strictly (main checked it already): civetweb reads each part of a loose IPv4
     * form modulo 256 ("383.0.0.1" binds 127.0.0.1), and the Host check must be decided
     * from the address actually bound */
    char addr[64];
    bool loopback;
    if (gw_listen_addr_parse(g->cfg.listen_addr ? g->cfg.listen_addr : "127.0.0.1", addr,
                             sizeof(addr), &loopback) != 0) {
        lt_error("bad address '%s' to listen on", g->cfg.listen_addr);
        return LT_EINVAL;
    }
    g->local_only = loopback;
    if (gethostname(g->hostname, sizeof(g->hostname)) != 0)
        g->hostname[0] = '\0';
    g->hostname[sizeof(g->hostname) - 1] = '\0';
    snprintf(g->listen_ip, sizeof(g->listen_ip), "%s", addr); /* the stop pokes it */
    /* an IPv6 address goes in brackets, as civetweb's listening_ports wants it */
    snprintf(port, sizeof(port), strchr(addr, ':') && addr[0] != '[' ? "[%s]:%d" : "%s:%d", addr,
             g->cfg.listen_port);
    snprintf(threads, sizeof(threads), "%u", g->cfg.threads);
    snprintf(tmo, sizeof(tmo), "%u", g->cfg.request_timeout_ms);
    char reqbuf[16];
    snprintf(reqbuf, sizeof(reqbuf), "%d", GW_REQUEST_BUF);
    const char *opts[] = {"listening_ports", port, "num_threads", threads, "request_timeout_ms",
                          tmo, "max_request_size", reqbuf, "enable_keep_alive", "yes",
                          "keep_alive_timeout_ms", GW_KEEP_ALIVE_MS, "listen_backlog", "1024",
                          "tcp_nodelay", "1",
                          /* paths stay percent-encoded: the router decodes each parameter
                           * itself (an id may hold "/", and "%00" must not cut it short) */
                          "decode_url", "no",
                          /* an absolute-form target ("GET http://127.0.0.1:8080/healthz")
                           * reaches the handler when it names this port, whatever its host
                           * (civetweb would otherwise compare the host with its
                           * authentication_domain, "mydomain.com", and close the connection
                           * without a word); the handler checks the host itself */
                          "enable_auth_domain_check", "no", NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.init_thread = gw_thread_init;
    cb.http_error = gw_http_error;
    mg_init_library(0);
    if ((rc = gw_watchdog_start(g)) != 0) {
        lt_error("cannot start the request watchdog: %s", lt_strerror(rc));
        return rc;
    }
    g->mg = mg_start(&cb, g, opts);
    if (!g->mg) {
        gw_watchdog_stop(g);
        int err = strchr(addr, ':') ? 0 : gw_bind_error(addr, g->cfg.listen_port);
        lt_error("cannot listen on %s%s%s", port,
                 strchr(addr, ':') && !mg_check_feature(8)
                     ? " (this civetweb is built without IPv6: use an IPv4 address)"
                 : err ? ": "
                       : "",
                 err ? strerror(err) : "");
        return LT_EIO;
    }
    mg_set_request_handler(g->mg, "**", gw_mg_handler, g);
    mg_set_auth_handler(g->mg, "**", gw_mg_authorized, NULL);
    lt_info("listening on http://%s, serving %s", port, g->cfg.frontend_dir);
    return 0;
}

/* The stop's poke: civetweb's listening thread sees mg_stop's flag only when its poll of
 * the listening socket returns, after up to a second with nothing coming; every gateway stop
 * (a Ctrl-C, each test's) waited that second. A connection to our own port wakes it: made
 * every 20 ms (at most 100 times) until mg_stop returns, so that one made before the flag
 * was set is not the only one. */
struct gw_poke {
    struct sockaddr_in to;
    int done; /* atomic */
};

static void *gw_poke_main(void *arg)
{
    struct gw_poke *p = arg;
    for (int i = 0; i < 100 && !__atomic_load_n(&p->done, __ATOMIC_ACQUIRE); i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            (void)connect(fd, (const struct sockaddr *)&p->to, sizeof(p->to));
            close(fd);
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

void gw_server_stop(struct gw *g)
{
    if (!g->mg)
        return;
    struct gw_poke poke = {
        .to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g->cfg.listen_port)}};
    const char *ip = strcmp(g->listen_ip, "0.0.0.0") ? g->listen_ip : "127.0.0.1";
    pthread_t th;
    bool poking = inet_pton(AF_INET, ip, &poke.to.sin_addr) == 1 && /* IPv6: no poke */
                  pthread_create(&th, NULL, gw_poke_main, &poke) == 0;
    uint64_t t0 = lt_now_ns();
    mg_stop(g->mg);
    g->mg = NULL;
    gw_watchdog_stop(g); /* no request runs now */
    if (poking) {
        __atomic_store_n(&poke.done, 1, __ATOMIC_RELEASE);
        pthread_join(th, NULL);
    }
    lt_info("HTTP server stopped (%llu ms)", (unsigned long long)((lt_now_ns() - t0) / 1000000));
}
