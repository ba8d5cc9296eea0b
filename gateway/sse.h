/* sse.h — the gateway's Server-Sent Events hub: a ring of the last events and the
 * browser streams that read it (docs/API.md, "Live events (SSE)").
 *
 * Publishers (the event bridge, the supervisor callback, the breaker callback, the
 * benchmark) call sse_hub_publish from any thread: it copies the event into the ring
 * (capacity 4096 by default) under one mutex and wakes the streams; it never waits for a
 * client. Each event gets the next id (1, 2, 3...), a stream mask, a name and JSON text.
 *
 * sse_hub_serve runs one browser stream inside a civetweb request-handler thread: it
 * sends the headers (200, Content-Type: text/event-stream, Cache-Control: no-cache,
 * X-Accel-Buffering: no), `retry: 2000`, replays the buffered events after
 * Last-Event-ID (when that id has already left the ring it first sends an event `reset`
 * and starts from the oldest one kept), then streams new events as
 *   id: 42\nevent: committed\ndata: {...}\n\n
 * with a `: ping` comment after every ping_ms of silence (15 s by default). Each stream
 * is a cursor into the ring, so its backlog is bounded by the ring: a client that falls
 * a whole ring behind (its next event was overwritten) is dropped — its socket is shut
 * down, even while its thread is blocked writing to it — so a slow browser never slows
 * the publishers or the other streams. At most max_clients streams (64 by default) run
 * at once; one more is refused with LT_EBUSY before anything is written. One client
 * address (civetweb's remote_addr, loopback included) runs at most max_per_addr of them
 * (a quarter of max_clients by default: 16), so that one client cannot take every stream
 * and leave the other pages' live views refused; one more from it is refused with
 * LT_ENOSPACE, also before anything is written.
 *
 * Not here: routing and the HTTP error shape (the caller answers 503 on LT_EBUSY and
 * LT_ENOSPACE),
 * authentication, and where events come from (events.h, supervisor.h). */
#ifndef GW_SSE_H
#define GW_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mg_connection;

/* Stream masks: which of the /_playground/events/<stream> endpoints carry an event. */
#define SSE_STREAM_REPLICATION 0x1u
#define SSE_STREAM_CLUSTER     0x2u
#define SSE_STREAM_BENCHMARK   0x4u
#define SSE_STREAM_ALL         0x7u

#define SSE_HUB_CAPACITY    4096 /* default ring size (events kept for resume) */
#define SSE_HUB_MAX_CLIENTS 64   /* default limit of concurrent streams */
#define SSE_EVENT_NAME_MAX  32   /* an event name is at most 31 bytes */

/* Hub options; a zero field takes the default in brackets. */
struct sse_hub_opts {
    unsigned capacity;     /* events kept [SSE_HUB_CAPACITY] */
    unsigned max_clients;  /* concurrent streams [SSE_HUB_MAX_CLIENTS] */
    unsigned max_per_addr; /* concurrent streams of one client address [max_clients / 4,
                            * at least 1]; more than max_clients is LT_EINVAL */
    unsigned ping_ms;      /* `: ping` after this long without an event [15000] */
    unsigned retry_ms;     /* the `retry:` sent first [2000] */
};

/* Counters of a hub. */
struct sse_hub_stats {
    uint64_t last_id;      /* id of the last event published, 0 if none */
    uint64_t published;    /* events published */
    unsigned clients;      /* streams running now */
    uint64_t served;       /* streams accepted since the start */
    uint64_t refused;      /* streams refused (too many, in all or from one address) */
    uint64_t refused_addr; /* of those, refused for their address's share */
    uint64_t dropped;      /* streams dropped for falling behind */
};

struct sse_hub;

/* sse_hub_new makes a hub. `o` may be NULL. Returns 0 and *out, LT_EINVAL, LT_ENOMEM. */
int sse_hub_new(const struct sse_hub_opts *o, struct sse_hub **out);

/* sse_hub_shutdown makes every running sse_hub_serve return soon (their sockets are
 * shut down if they are blocked writing) and every later one return LT_ESHUTDOWN at
 * once. Publishing still works (and is ignored by nobody). Idempotent. */
void sse_hub_shutdown(struct sse_hub *h);

/* sse_hub_free shuts the hub down, waits for the running streams to return, and frees
 * it. Call it after the HTTP server stopped (mg_stop), or at least after no new
 * sse_hub_serve can start. NULL does nothing. */
void sse_hub_free(struct sse_hub *h);

/* sse_hub_publish appends an event for the streams in `mask` (SSE_STREAM_*). `name` is
 * the `event:` field (1..31 bytes, no newline); `json` is one line of JSON text (a
 * newline in it is sent as a new `data:` line, which EventSource joins back). The text
 * is copied. Returns 0 and the event's id in *id (id may be NULL), LT_EINVAL, LT_ENOMEM. */
int sse_hub_publish(struct sse_hub *h, unsigned mask, const char *name, const char *json,
                    uint64_t *id);

#define SSE_OWNER_MAX 64 /* longest owner tag of a stream */

/* sse_hub_serve streams events in `mask` to `conn` (see the file comment) and returns
 * when the client disconnects, it is dropped, its owner is revoked or expires, or the
 * hub shuts down. last_event_id is the client's Last-Event-ID (0: none, start with new
 * events only; SSE_ID_UNKNOWN: not a number, start over with a reset). `owner` tags the stream with
 * who opened it (a session id; NULL or "": nobody), `expires_s` the wall-clock second (time()) at
 * which its right to the stream ends (0: never). Returns 0 after a stream ended (whatever the
 * reason), LT_EBUSY when max_clients streams already run, LT_ENOSPACE when max_per_addr
 * streams of the same client address already run, LT_ESHUTDOWN when the hub is shutting
 * down, LT_EUNAUTH when the owner was revoked, LT_EINVAL for a zero mask or an owner longer than
 * SSE_OWNER_MAX; nothing is written in those cases, so the caller answers with an HTTP error. */
int sse_hub_serve(struct sse_hub *h, struct mg_connection *conn, unsigned mask,
                  uint64_t last_event_id, const char *owner, int64_t expires_s);

/* sse_hub_revoke ends every stream `owner` opened (a logout): each stops within its
 * current write, which fails at once. Until `until_s` (wall-clock seconds; the owner's
 * own expiry) the owner may open no new stream: sse_hub_serve answers LT_EUNAUTH (a
 * request that passed its checks just before the logout). Returns how many it ended. */
unsigned sse_hub_revoke(struct sse_hub *h, const char *owner, int64_t until_s);

/* sse_addr_pred_fn: should the stream of the client at `remote_addr` (civetweb's text of
 * it, "127.0.0.1") end? Called with the hub's lock held: it must not call into the hub. */
typedef bool (*sse_addr_pred_fn)(void *ud, const char *remote_addr);

/* sse_hub_cut_if ends every running stream whose client address `cut` picks (a firewall
 * rule that now denies it: an open stream is not a way around a new rule), as
 * sse_hub_revoke ends a session's. The client may open a new stream: the caller's checks
 * then decide. Returns how many it ended. */
unsigned sse_hub_cut_if(struct sse_hub *h, sse_addr_pred_fn cut, void *ud);

/* SSE_ID_UNKNOWN: a resume point that is not a number; sse_hub_serve answers it with a
 * `reset` event (its `lastEventId` null) and the whole buffer, as an id it no longer has. */
#define SSE_ID_UNKNOWN UINT64_MAX

enum sse_resume {
    SSE_RESUME_NOW,       /* no resume point (absent, empty or 0): new events only */
    SSE_RESUME_AFTER,     /* *id is the last event the client has */
    SSE_RESUME_UNKNOWN,   /* a Last-Event-ID header that is not a decimal id: *id is
                           * SSE_ID_UNKNOWN (a browser sends back what it was given) */
    SSE_RESUME_BAD_QUERY, /* ?lastEventId= that is not a decimal id: the caller's 400 */
};

/* sse_last_event_id reads the client's resume point into *id: the Last-Event-ID header,
 * or else a `lastEventId` query parameter (for clients that cannot set headers). */
enum sse_resume sse_last_event_id(const struct mg_connection *conn, uint64_t *id);

/* sse_stream_mask parses the part of the path after /_playground/events: "" or "/" →
 * SSE_STREAM_ALL, "/replication", "/cluster", "/benchmark" → that stream; 0 if unknown. */
unsigned sse_stream_mask(const char *suffix);

/* sse_hub_stats copies the hub's counters. */
void sse_hub_stats(struct sse_hub *h, struct sse_hub_stats *out);

/* sse_find_fd finds the descriptor of `conn`'s socket (civetweb does not expose it): the
 * connection's inode from the kernel's TCP table, then the descriptor whose /proc/self/fd
 * link names that inode. -1 if not found (e.g. not TCP). Costs a read of both tables: for
 * rare paths only (a stream's start, a lingering close). */
int sse_find_fd(const struct mg_connection *conn);

#endif
