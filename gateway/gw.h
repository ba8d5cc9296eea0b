/* gw.h — the gateway's shared state and the request/response helpers every handler uses.
 *
 * struct gw is one running gateway: the node list, the RPC client pool, the supervisor
 * (supervisor mode only), the route table, the write coalescer, the benchmark runner and
 * the request metrics. Handlers get a struct gw_req and answer with the gw_reply_*
 * helpers, so every error has the one shape {"code","message","details"} and the HTTP
 * status comes from gw_http_status (gw_route.c), in one place.
 *
 * Not here: civetweb setup (gw_server.c), the handlers (gw_items.c, gw_cluster.c,
 * gw_bench.c, gw_metrics.c), process supervision (supervisor.h), SSE (sse.h). */
#ifndef GW_H
#define GW_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_route.h"
#include "gw_security.h"
#include "rpc_client.h"

#define GW_MAX_NODES  RPC_CLIENT_MAX_ENDPOINTS
#define GW_URL_MAX    128
#define GW_MAX_ROUTES 64

struct mg_connection;
struct mg_request_info;
struct sup;
struct sse_hub;
struct evb;
struct gw_coalescer;
struct gw_bench;
struct gw_metrics;
struct gw_watchdog;

/* One node the gateway talks to; index i in gw.nodes is endpoint i of the RPC pool. */
struct gw_node {
    uint64_t id;
    char rpc_url[GW_URL_MAX];
    char events_url[GW_URL_MAX];
};

#define GW_MAX_ALLOWED_HOSTS 16

struct gw_config {
    int listen_port;
    const char *listen_addr; /* [127.0.0.1] */
    /* names API requests may give as Host when not on loopback, besides addresses,
     * localhost and this machine's name (--allowed-host) */
    const char *allowed_hosts[GW_MAX_ALLOWED_HOSTS];
    size_t n_allowed_hosts;
    const char *frontend_dir;
    size_t max_body;              /* [1 MiB] */
    unsigned threads;             /* civetweb worker threads [128] */
    unsigned request_timeout_ms;  /* [10000] */
    unsigned rpc_timeout_ms;      /* deadline of one request's RPCs [5000] */
    unsigned status_timeout_ms;   /* per-node Cluster/Status in the fan-out [500] */
    unsigned coalesce_max;        /* writes per Rpc/Batch; 0 or 1 = no coalescing [256] */
    unsigned coalesce_senders;    /* batches in flight at once [2] */
    unsigned breaker_failures;    /* consecutive failures that open a node's breaker [5] */
    unsigned breaker_cooldown_ms; /* open → half-open after this long [2000] */
};

struct gw {
    struct gw_config cfg;
    bool local_only;    /* listening on loopback: API requests must name a local Host */
    char listen_ip[64]; /* the address bound, as gw_listen_addr_parse wrote it (gw_server.c) */
    char hostname[256]; /* this machine's name (gethostname), a Host API requests may give */
    struct gw_node nodes[GW_MAX_NODES];
    size_t n_nodes;
    struct rpc_client *client;
    struct sup *sup;     /* supervisor mode; NULL in attach mode */
    struct sse_hub *sse; /* the SSE hub (sse.h) */
    struct evb *evb;     /* the nodes' event streams → the hub (events.h) */
    struct gw_route routes[GW_MAX_ROUTES];
    size_t n_routes;
    struct gw_coalescer *coalescer;
    struct gw_bench *bench;
    struct gw_metrics *metrics;
    struct mg_context *mg;
    struct gw_watchdog *watchdog; /* ends body reads that outlast --request-timeout-ms */
    struct gw_security *security; /* NULL: every request is admin (unit tests) */
    uint64_t started_ns;
    /* attach mode: when this gateway last had node i stop (Cluster/Shutdown), so that a
     * node still answering while it exits is not counted alive by the next kill */
    _Atomic uint64_t stop_sent_ns[GW_MAX_NODES];
};

/* A request being handled. */
struct gw_req {
    struct gw *gw;
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    const char *method;
    const char *path;
    const char *query; /* may be NULL */
    struct gw_params params;
    const struct gw_route *route;
    bool head;
    bool body_read;         /* gw_read_body consumed the whole body */
    bool linger;            /* answered early, closing: read some of the body first */
    bool drain;             /* answered early, keeping: read the rest of the body first */
    bool close;             /* the answer closes the connection (its framing is in doubt) */
    int status;             /* the status sent, for metrics */
    struct gw_identity who; /* set by gw_security_check before the handler runs */
};

/* gw_reply_json sends `status` with `body` (consumed: put even on failure; NULL sends no
 * body) and optional extra header lines ("ETag: \"3\"\r\n..." each ending in CRLF).
 * Returns status. */
int gw_reply_json(struct gw_req *r, int status, json_object *body, const char *extra_headers);

/* gw_send_response writes a whole response in one write: status line, Content-Type (when
 * ctype is not NULL), Content-Length: len (except 204/304), Cache-Control, Date,
 * Connection, the extra header lines, and body[0..len) when send_body (a caller that
 * streams the body itself passes send_body false). Returns 0, or -1 if the write failed. */
int gw_send_response(struct gw_req *r, int status, const char *ctype, const char *cache,
                     const char *extra, const void *body, size_t len, bool send_body);

/* gw_reply_error sends {"code", "message", "details"} with `status`. `details` (consumed,
 * may be NULL → []) is an array of {"field","description"}. Returns status. */
int gw_reply_error(struct gw_req *r, int status, const char *code, json_object *details,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* gw_reply_rpc_error answers a failed RPC: the HTTP status from the code table,
 * Retry-After for 429/503, the details with field names in lowerCamelCase. */
int gw_reply_rpc_error(struct gw_req *r, int rc, const struct rpc_status *st, bool if_match);

/* gw_read_body reads the request body (at most cfg.max_body bytes) into a malloc'd
 * NUL-terminated buffer. On failure it has already answered (413, 400) and returns the
 * status sent, as a negative number. */
int gw_read_body(struct gw_req *r, char **out, size_t *len);

/* gw_read_json reads and parses the body as a JSON object (an empty body gives an empty
 * object when allow_empty). On failure it has answered (400 naming the problem, 413) and
 * returns the negated status sent. */
int gw_read_json(struct gw_req *r, bool allow_empty, json_object **out);

/* gw_query reads query parameter `key` into out; see gw_query_get. */
int gw_query(struct gw_req *r, const char *key, char *out, size_t n);

/* gw_header returns request header `name`, NULL if absent. */
const char *gw_header(struct gw_req *r, const char *name);

/* gw_node_index returns the index of node `id` in gw.nodes, -1 if none. */
int gw_node_index(const struct gw *g, uint64_t id);

/* gw_json_u64 returns a JSON number for v (json-c keeps int64). */
json_object *gw_json_u64(uint64_t v);

/* Route registration, by the modules, at start-up. Returns 0 or LT_ETOOBIG. */
int gw_route_add(struct gw *g, const char *method, const char *pattern, gw_handler_fn fn,
                 const void *ud, const char *name);

/* Each module registers its routes (and makes its state) here. */
int gw_items_register(struct gw *g);
int gw_cluster_register(struct gw *g);
int gw_bench_register(struct gw *g);
void gw_bench_free(struct gw *g);
int gw_metrics_register(struct gw *g);
void gw_metrics_free(struct gw *g);

/* gw_metrics_observe counts one answered request (route name, status, duration). */
void gw_metrics_observe(struct gw *g, const char *route, int status, uint64_t ns);

/* The write coalescer (gw_coalesce.c): concurrent Models/Create calls sent as one
 * Rpc/Batch. gw_coalesce_call has the contract of rpc_call_raw for one method. */
int gw_coalescer_new(struct gw *g, unsigned max_batch, unsigned senders, struct gw_coalescer **out);
void gw_coalescer_free(struct gw_coalescer *c);
/* gw_coalescer_stats: Rpc/Batch rounds and the calls they carried. */
void gw_coalescer_stats(struct gw_coalescer *c, uint64_t *batches, uint64_t *batched);
int gw_coalesce_call(struct gw_coalescer *c, const char *method, const uint8_t *payload, size_t len,
                     unsigned timeout_ms, uint8_t **resp, size_t *resp_len, struct rpc_status *st);

/* gw_server_can_listen: 0, or LT_EIO (logged: "cannot listen on ADDR:PORT: why") when the
 * HTTP port cannot be bound now (an IPv4 address; taken, say). Asked before anything starts,
 * so that a gateway that cannot serve spawns no node and dials nothing. */
int gw_server_can_listen(const struct gw *g);
/* gw_server_start starts civetweb with the routes registered; gw_server_stop stops it. */
int gw_server_start(struct gw *g);
void gw_server_stop(struct gw *g);

#endif
