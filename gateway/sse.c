/* sse.c — the SSE hub: a ring of refcounted, pre-formatted events and the streams that
 * read it (see sse.h for the contract).
 *
 * An event is formatted once, by its publisher and outside the lock, into an immutable
 * blob "event: NAME\ndata: LINE\n...\n\n" with a reference count. Publishing takes the
 * mutex only to number the event, swap its blob into the ring and broadcast: O(1). A
 * stream takes references to up to SSE_BATCH blobs under the lock, then formats and
 * writes them (each with its "id:" line) with the lock released, so a stream blocked on
 * a slow socket holds nothing anybody else needs.
 *
 * Backlog and drops: a stream's position is a cursor (the next id it needs). When the
 * ring has overwritten that id, the stream is a whole ring behind and is dropped. A
 * stream that is merely slow is usually blocked inside mg_write, where it cannot look at
 * its cursor, so publishers look for it: every capacity/8 events they scan the streams
 * (amortized O(1)) and shut down the socket of any stream the ring overtook; the blocked
 * write then fails at once. civetweb does not expose a connection's socket, so each
 * stream finds its own descriptor at the start: the connection's inode from
 * /proc/self/net/tcp (by the request's local port and peer address and port), then the
 * /proc/self/fd entry linking to that inode (the socket stays ours while the handler
 * runs). Without a descriptor the stream is still dropped as soon as
 * its write returns or times out (civetweb's request_timeout_ms).
 *
 * While idle a stream wakes every SSE_IDLE_SLICE_MS to notice a client that hung up
 * (poll POLLRDHUP on the socket) or an owner whose right to the stream expired, and after
 * ping_ms of silence sends ": ping". A stream is cut at once when its owner is revoked
 * (a logout), or when a firewall rule comes to deny its client's address (sse_hub_cut_if). */
#include "sse.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dirent.h>
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

#include "lt_clock.h"
#include "lt_err.h"
#include "lt_log.h"

#define SSE_BATCH          64
#define SSE_IDLE_SLICE_MS  500
#define SSE_DEFAULT_PING   15000
#define SSE_DEFAULT_RETRY  2000
#define SSE_MAX_CAPACITY   (1u << 20)
#define SSE_MAX_CLIENT_CAP 4096

/* One published event, shared by the ring and the streams writing it. */
struct sse_blob {
    atomic_uint refs;
    uint64_t id;
    unsigned mask;
    size_t len;
    char text[]; /* "event: NAME\ndata: ...\n\n" */
};

struct sse_client {
    bool used;
    bool dropped; /* overtaken by the ring, hub shut down, owner revoked or expired: stop */
    int fd;       /* the connection's socket, -1 if not found */
    uint64_t cursor;
    char owner[SSE_OWNER_MAX + 1]; /* who opened it (a session id); "" for nobody */
    int64_t expires_s;             /* wall-clock end of the owner's right to it; 0: none */
    char addr[48];                 /* the client's address (the firewall's view of it) */
};

#define SSE_REVOKED_MAX 64 /* revoked owners remembered (the soonest to expire goes first) */

struct sse_revoked {
    char owner[SSE_OWNER_MAX + 1];
    int64_t until_s;
};

struct sse_hub {
    pthread_mutex_t mu;
    struct sse_revoked revoked[SSE_REVOKED_MAX]; /* under mu */
    pthread_cond_t cv;                           /* new event, shutdown, a stream ended */
    unsigned capacity;
    unsigned max_clients;
    unsigned max_per_addr; /* streams one client address may run at once */
    unsigned ping_ms;
    unsigned retry_ms;
    unsigned check_every; /* publishes between scans for overtaken streams */
    bool shutdown;
    uint64_t last_id;
    struct sse_blob **ring; /* slot (id - 1) % capacity */
    struct sse_client *clients;
    unsigned n_clients;
    uint64_t served, refused, refused_addr, dropped;
};

static void sse_blob_put(struct sse_blob *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

static void sse_deadline(struct timespec *ts, uint64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int sse_hub_new(const struct sse_hub_opts *o, struct sse_hub **out)
{
    struct sse_hub_opts d = {0};
    if (o)
        d = *o;
    if (!d.capacity)
        d.capacity = SSE_HUB_CAPACITY;
    if (!d.max_clients)
        d.max_clients = SSE_HUB_MAX_CLIENTS;
    if (!d.ping_ms)
        d.ping_ms = SSE_DEFAULT_PING;
    if (!d.retry_ms)
        d.retry_ms = SSE_DEFAULT_RETRY;
    if (!d.max_per_addr)
        d.max_per_addr = d.max_clients / 4 ? d.max_clients / 4 : 1;
    if (d.capacity > SSE_MAX_CAPACITY || d.max_clients > SSE_MAX_CLIENT_CAP ||
        d.max_per_addr > d.max_clients)
        return LT_EINVAL;
    struct sse_hub *h = calloc(1, sizeof(*h));
    if (!h)
        return LT_ENOMEM;
    h->ring = calloc(d.capacity, sizeof(*h->ring));
    h->clients = calloc(d.max_clients, sizeof(*h->clients));
    if (!h->ring || !h->clients) {
        free(h->ring);
        free(h->clients);
        free(h);
        return LT_ENOMEM;
    }
    h->capacity = d.capacity;
    h->max_clients = d.max_clients;
    h->max_per_addr = d.max_per_addr;
    h->ping_ms = d.ping_ms;
    h->retry_ms = d.retry_ms;
    h->check_every = d.capacity >= 8 ? d.capacity / 8 : 1;
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = h;
    return 0;
}

/* sse_client_cut marks a stream to stop and wakes a write blocked on its socket.
 * Lock held (so the socket is still the stream's). */
static void sse_client_cut(struct sse_client *c)
{
    c->dropped = true;
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
}

void sse_hub_shutdown(struct sse_hub *h)
{
    pthread_mutex_lock(&h->mu);
    if (!h->shutdown) {
        h->shutdown = true;
        for (unsigned i = 0; i < h->max_clients; i++)
            if (h->clients[i].used)
                sse_client_cut(&h->clients[i]);
    }
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

void sse_hub_free(struct sse_hub *h)
{
    if (!h)
        return;
    sse_hub_shutdown(h);
    pthread_mutex_lock(&h->mu);
    while (h->n_clients)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    for (unsigned i = 0; i < h->capacity; i++)
        sse_blob_put(h->ring[i]);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h->ring);
    free(h->clients);
    free(h);
}

/* sse_blob_make formats "event: NAME\n" and one "data: " line per line of `json`. */
static struct sse_blob *sse_blob_make(unsigned mask, const char *name, const char *json)
{
    size_t jl = strlen(json), lines = 1;
    for (size_t i = 0; i < jl; i++)
        lines += json[i] == '\n';
    size_t nl = strlen(name);
    size_t cap = 7 + nl + 1 + jl + lines * 7 + 2;
    struct sse_blob *b = malloc(sizeof(*b) + cap);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->id = 0;
    b->mask = mask;
    char *p = b->text;
    memcpy(p, "event: ", 7);
    p += 7;
    memcpy(p, name, nl);
    p += nl;
    *p++ = '\n';
    const char *s = json;
    for (;;) {
        const char *e = strchr(s, '\n');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l && s[l - 1] == '\r')
            l--;
        memcpy(p, "data: ", 6);
        p += 6;
        memcpy(p, s, l);
        p += l;
        *p++ = '\n';
        if (!e)
            break;
        s = e + 1;
    }
    *p++ = '\n';
    b->len = (size_t)(p - b->text);
    return b;
}

int sse_hub_publish(struct sse_hub *h, unsigned mask, const char *name, const char *json,
                    uint64_t *id)
{
    size_t nl = name ? strlen(name) : 0;
    if (!(mask & SSE_STREAM_ALL) || nl == 0 || nl >= SSE_EVENT_NAME_MAX || strpbrk(name, "\r\n") ||
        !json)
        return LT_EINVAL;
    struct sse_blob *b = sse_blob_make(mask & SSE_STREAM_ALL, name, json);
    if (!b)
        return LT_ENOMEM;
    pthread_mutex_lock(&h->mu);
    uint64_t my = ++h->last_id;
    b->id = my;
    struct sse_blob **slot = &h->ring[(my - 1) % h->capacity];
    struct sse_blob *old = *slot;
    *slot = b;
    if (my % h->check_every == 0 && my > h->capacity) {
        uint64_t oldest = my - h->capacity + 1;
        for (unsigned i = 0; i < h->max_clients; i++) {
            struct sse_client *c = &h->clients[i];
            if (c->used && !c->dropped && c->cursor < oldest) {
                sse_client_cut(c);
                h->dropped++;
                lt_log(LT_LOG_WARN, "sse: a client fell %u events behind: dropped", h->capacity);
            }
        }
    }
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    sse_blob_put(old);
    if (id)
        *id = my;
    return 0;
}

/* sse_tcp_inode looks up, in /proc/self/net/tcp or tcp6, the socket inode of the
 * connection with local port `lport` and peer `peer`:`rport`. 0 if none. Reading the
 * kernel's table (not calling getsockname on every descriptor) touches no descriptor
 * that other threads own. */
static unsigned long sse_tcp_inode(const char *table, bool v6, int lport, const void *peer,
                                   int rport)
{
    FILE *f = fopen(table, "r");
    if (!f)
        return 0;
    char line[512];
    unsigned long found = 0;
    if (!fgets(line, sizeof(line), f)) /* header */
        line[0] = '\0';
    while (!found && fgets(line, sizeof(line), f)) {
        char local[64], remote[64];
        unsigned long inode;
        if (sscanf(line, " %*s %63s %63s %*s %*s %*s %*s %*s %*s %lu", local, remote, &inode) != 3)
            continue;
        char *lc = strchr(local, ':'), *rc = strchr(remote, ':');
        if (!lc || !rc || strtol(lc + 1, NULL, 16) != lport || strtol(rc + 1, NULL, 16) != rport)
            continue;
        size_t words = v6 ? 4 : 1;
        if ((size_t)(rc - remote) != words * 8)
            continue;
        uint32_t addr[4];
        for (size_t i = 0; i < words; i++) {
            char w[9];
            memcpy(w, remote + 8 * i, 8);
            w[8] = '\0';
            addr[i] = (uint32_t)strtoul(w, NULL, 16); /* the kernel prints host-order words */
        }
        if (memcmp(addr, peer, words * 4) == 0)
            found = inode;
    }
    fclose(f);
    return found;
}

int sse_find_fd(const struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (!ri)
        return -1;
    struct in_addr a4;
    struct in6_addr a6;
    unsigned long inode = 0;
    if (inet_pton(AF_INET, ri->remote_addr, &a4) == 1) {
        inode = sse_tcp_inode("/proc/self/net/tcp", false, ri->server_port, &a4, ri->remote_port);
        if (!inode) { /* an IPv4 client of a dual-stack listener */
            memset(&a6, 0, sizeof(a6));
            a6.s6_addr[10] = a6.s6_addr[11] = 0xff;
            memcpy(&a6.s6_addr[12], &a4, 4);
            inode =
                sse_tcp_inode("/proc/self/net/tcp6", true, ri->server_port, &a6, ri->remote_port);
        }
    } else if (inet_pton(AF_INET6, ri->remote_addr, &a6) == 1) {
        inode = sse_tcp_inode("/proc/self/net/tcp6", true, ri->server_port, &a6, ri->remote_port);
    }
    if (!inode)
        return -1;
    char want[48];
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int found = -1;
    struct dirent *de;
    while (found < 0 && (de = readdir(d)) != NULL) {
        char path[300], link[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        if (n <= 0)
            continue;
        link[n] = '\0';
        if (strcmp(link, want) == 0)
            found = atoi(de->d_name);
    }
    closedir(d);
    return found;
}

/* sse_client_hung_up: did the peer close its end (without blocking)? */
static bool sse_client_hung_up(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* A growable output buffer of one stream. */
struct sse_out {
    char *buf;
    size_t len, cap;
};

static int sse_out_add(struct sse_out *o, const char *s, size_t n)
{
    if (o->len + n > o->cap) {
        size_t nc = o->cap ? o->cap : 4096;
        while (nc < o->len + n)
            nc *= 2;
        char *nb = realloc(o->buf, nc);
        if (!nb)
            return LT_ENOMEM;
        o->buf = nb;
        o->cap = nc;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    return 0;
}

static bool sse_write(struct mg_connection *conn, const char *s, size_t n)
{
    return n == 0 || mg_write(conn, s, n) == (int)n;
}

/* sse_stream is the loop of one registered stream (slot `c`). */
static void sse_stream(struct sse_hub *h, struct sse_client *c, struct mg_connection *conn,
                       unsigned mask)
{
    struct sse_out out = {0};
    struct sse_blob *batch[SSE_BATCH];
    uint64_t last_write = lt_now_ns();
    bool ok = true;
    while (ok) {
        size_t n = 0;
        bool ping = false, behind = false;
        pthread_mutex_lock(&h->mu);
        for (;;) {
            if (c->expires_s && (int64_t)time(NULL) >= c->expires_s)
                c->dropped = true; /* the session it was opened with has expired */
            if (h->shutdown || c->dropped || c->cursor <= h->last_id)
                break;
            uint64_t now = lt_now_ns();
            uint64_t due = last_write + (uint64_t)h->ping_ms * 1000000u;
            if (now >= due) {
                ping = true;
                break;
            }
            uint64_t wait_ms = (due - now) / 1000000u + 1;
            if (wait_ms > SSE_IDLE_SLICE_MS)
                wait_ms = SSE_IDLE_SLICE_MS;
            struct timespec ts;
            sse_deadline(&ts, wait_ms);
            if (pthread_cond_timedwait(&h->cv, &h->mu, &ts) == ETIMEDOUT &&
                sse_client_hung_up(c->fd)) {
                c->dropped = true;
                break;
            }
        }
        uint64_t oldest = h->last_id > h->capacity ? h->last_id - h->capacity + 1 : 1;
        if (h->shutdown || c->dropped) {
            ok = false;
        } else if (c->cursor < oldest) {
            behind = true;
            ok = false;
        } else {
            while (n < SSE_BATCH && c->cursor <= h->last_id) {
                struct sse_blob *b = h->ring[(c->cursor - 1) % h->capacity];
                c->cursor++;
                if (b->mask & mask) {
                    atomic_fetch_add(&b->refs, 1);
                    batch[n++] = b;
                }
            }
        }
        if (behind)
            h->dropped++;
        pthread_mutex_unlock(&h->mu);
        if (behind)
            lt_log(LT_LOG_WARN, "sse: a client fell %u events behind: dropped", h->capacity);
        out.len = 0;
        for (size_t i = 0; i < n; i++) {
            char idl[32];
            int w = snprintf(idl, sizeof(idl), "id: %llu\n", (unsigned long long)batch[i]->id);
            if (ok && (sse_out_add(&out, idl, (size_t)w) ||
                       sse_out_add(&out, batch[i]->text, batch[i]->len)))
                ok = false;
            sse_blob_put(batch[i]);
        }
        if (ok && out.len == 0 && ping)
            ok = sse_out_add(&out, ": ping\n\n", 8) == 0;
        if (ok && out.len) {
            ok = sse_write(conn, out.buf, out.len);
            last_write = lt_now_ns();
        }
    }
    free(out.buf);
}

int sse_hub_serve(struct sse_hub *h, struct mg_connection *conn, unsigned mask,
                  uint64_t last_event_id, const char *owner, int64_t expires_s)
{
    mask &= SSE_STREAM_ALL;
    if (!mask || (owner && strlen(owner) > SSE_OWNER_MAX))
        return LT_EINVAL;
    int fd = sse_find_fd(conn);
    pthread_mutex_lock(&h->mu);
    if (h->shutdown) {
        pthread_mutex_unlock(&h->mu);
        return LT_ESHUTDOWN;
    }
    if (owner && *owner) {
        int64_t now_s = (int64_t)time(NULL);
        for (unsigned i = 0; i < SSE_REVOKED_MAX; i++) {
            if (h->revoked[i].until_s > now_s && strcmp(h->revoked[i].owner, owner) == 0) {
                pthread_mutex_unlock(&h->mu);
                return LT_EUNAUTH;
            }
        }
    }
    /* one address may not take every stream: the others' live views would be refused */
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char addr[sizeof(h->clients[0].addr)];
    snprintf(addr, sizeof(addr), "%s", ri ? ri->remote_addr : "");
    struct sse_client *c = NULL;
    unsigned same = 0;
    for (unsigned i = 0; i < h->max_clients; i++) {
        if (!h->clients[i].used)
            c = c ? c : &h->clients[i];
        else if (strcmp(h->clients[i].addr, addr) == 0)
            same++;
    }
    if (same >= h->max_per_addr) {
        h->refused++;
        h->refused_addr++;
        pthread_mutex_unlock(&h->mu);
        return LT_ENOSPACE;
    }
    if (!c) {
        h->refused++;
        pthread_mutex_unlock(&h->mu);
        return LT_EBUSY;
    }
    c->used = true;
    c->dropped = false;
    c->fd = fd;
    snprintf(c->owner, sizeof(c->owner), "%s", owner ? owner : "");
    c->expires_s = expires_s > 0 ? expires_s : 0;
    snprintf(c->addr, sizeof(c->addr), "%s", addr);
    h->n_clients++;
    h->served++;
    uint64_t oldest = h->last_id > h->capacity ? h->last_id - h->capacity + 1 : 1;
    bool reset = false;
    if (last_event_id == 0) {
        c->cursor = h->last_id + 1;
    } else if (last_event_id + 1 < oldest || last_event_id > h->last_id) {
        /* Missed events are gone (or the id is from an earlier gateway): start over. */
        reset = true;
        c->cursor = oldest;
    } else {
        c->cursor = last_event_id + 1;
    }
    uint64_t last = h->last_id;
    pthread_mutex_unlock(&h->mu);

    mg_disable_connection_keep_alive(conn);
    bool ok = mg_printf(conn,
                        "HTTP/1.1 200 OK\r\n"
                        "Content-Type: text/event-stream\r\n"
                        "Cache-Control: no-cache\r\n"
                        "X-Accel-Buffering: no\r\n"
                        "Connection: close\r\n"
                        "\r\n"
                        "retry: %u\n\n",
                        h->retry_ms) > 0;
    if (ok && reset) {
        char buf[160], asked[24] = "null"; /* null: the client's id was not a number */
        if (last_event_id != SSE_ID_UNKNOWN)
            snprintf(asked, sizeof(asked), "%llu", (unsigned long long)last_event_id);
        int w = snprintf(buf, sizeof(buf),
                         "event: reset\ndata: {\"lastEventId\":%s,\"oldestId\":%llu,"
                         "\"lastId\":%llu}\n\n",
                         asked, (unsigned long long)oldest, (unsigned long long)last);
        ok = sse_write(conn, buf, (size_t)w);
    }
    if (ok)
        sse_stream(h, c, conn, mask);

    pthread_mutex_lock(&h->mu);
    c->used = false;
    c->fd = -1;
    h->n_clients--;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

unsigned sse_hub_revoke(struct sse_hub *h, const char *owner, int64_t until_s)
{
    unsigned n = 0;
    if (!owner || !*owner || strlen(owner) > SSE_OWNER_MAX)
        return 0;
    pthread_mutex_lock(&h->mu);
    struct sse_revoked *slot = &h->revoked[0];
    for (unsigned i = 0; i < SSE_REVOKED_MAX; i++) /* the soonest to expire (or a free one) */
        if (h->revoked[i].until_s < slot->until_s)
            slot = &h->revoked[i];
    if (until_s > slot->until_s) {
        snprintf(slot->owner, sizeof(slot->owner), "%s", owner);
        slot->until_s = until_s;
    }
    for (unsigned i = 0; i < h->max_clients; i++) {
        struct sse_client *c = &h->clients[i];
        if (c->used && !c->dropped && strcmp(c->owner, owner) == 0) {
            sse_client_cut(c);
            n++;
        }
    }
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return n;
}

unsigned sse_hub_cut_if(struct sse_hub *h, sse_addr_pred_fn cut, void *ud)
{
    unsigned n = 0;
    pthread_mutex_lock(&h->mu);
    for (unsigned i = 0; i < h->max_clients; i++) {
        struct sse_client *c = &h->clients[i];
        if (c->used && !c->dropped && cut(ud, c->addr)) {
            sse_client_cut(c);
            n++;
        }
    }
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* sse_parse_u64 reads a decimal id with optional blanks around it; false if `s` is
 * anything else (a sign, a letter, a number past 2^64 - 1). */
static bool sse_parse_u64(const char *s, uint64_t *out)
{
    while (*s == ' ')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    while (*end == ' ')
        end++;
    if (errno || *end)
        return false;
    *out = (uint64_t)v;
    return true;
}

enum sse_resume sse_last_event_id(const struct mg_connection *conn, uint64_t *id)
{
    *id = 0;
    const char *hdr = mg_get_header(conn, "Last-Event-ID");
    if (hdr) {
        while (*hdr == ' ')
            hdr++;
        if (!*hdr) /* what a browser sends when no event had an id: from now */
            return SSE_RESUME_NOW;
        if (sse_parse_u64(hdr, id))
            return *id ? SSE_RESUME_AFTER : SSE_RESUME_NOW;
        *id = SSE_ID_UNKNOWN;
        return SSE_RESUME_UNKNOWN;
    }
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char v[32];
    if (!ri || !ri->query_string)
        return SSE_RESUME_NOW;
    int n = mg_get_var(ri->query_string, strlen(ri->query_string), "lastEventId", v, sizeof(v));
    if (n == -1) /* absent */
        return SSE_RESUME_NOW;
    if (n < 0 || !sse_parse_u64(v, id))
        return SSE_RESUME_BAD_QUERY;
    return *id ? SSE_RESUME_AFTER : SSE_RESUME_NOW;
}

unsigned sse_stream_mask(const char *suffix)
{
    if (!suffix || !*suffix || strcmp(suffix, "/") == 0)
        return SSE_STREAM_ALL;
    if (strcmp(suffix, "/replication") == 0)
        return SSE_STREAM_REPLICATION;
    if (strcmp(suffix, "/cluster") == 0)
        return SSE_STREAM_CLUSTER;
    if (strcmp(suffix, "/benchmark") == 0)
        return SSE_STREAM_BENCHMARK;
    return 0;
}

void sse_hub_stats(struct sse_hub *h, struct sse_hub_stats *out)
{
    pthread_mutex_lock(&h->mu);
    out->last_id = h->last_id;
    out->published = h->last_id;
    out->clients = h->n_clients;
    out->served = h->served;
    out->refused = h->refused;
    out->refused_addr = h->refused_addr;
    out->dropped = h->dropped;
    pthread_mutex_unlock(&h->mu);
}
