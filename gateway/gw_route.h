/* gw_route.h — the pure parts of the gateway's HTTP layer: the route table (method + path
 * pattern → handler), the one table mapping RPC status codes to HTTP statuses, query
 * string parsing and field-name conversion for error details.
 *
 * No sockets, no civetweb, no JSON here: everything is testable on its own
 * (tests/unit/test_gw_route.c). The handlers themselves live in gw_*.c. */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_ROUTE_MAX_PARAMS 4
#define GW_PARAM_MAX        256

struct gw_req;

/* A handler answers the request (it always sends a response) and returns the HTTP status
 * it sent. */
typedef int (*gw_handler_fn)(struct gw_req *r);

/* One route: `pattern` is a path whose segments are literal or ":name" (one non-empty
 * segment, captured as is: civetweb has already percent-decoded the path). `name` labels the route
 * in /metrics. */
struct gw_route {
    const char *method; /* "GET", "POST", "PUT", "DELETE" */
    const char *pattern;
    gw_handler_fn fn;
    const void *ud; /* e.g. the catalog model of a generated route */
    const char *name;
};

/* Path parameters captured by a match, in pattern order. */
struct gw_params {
    size_t n;
    struct {
        char name[32];
        char value[GW_PARAM_MAX];
    } p[GW_ROUTE_MAX_PARAMS];
};

/* gw_path_match tells whether `path` matches `pattern`, filling *params (may be NULL)
 * with the ":name" segments. A trailing "/" on the path is not ignored. */
bool gw_path_match(const char *pattern, const char *path, struct gw_params *params);

/* gw_params_get returns the value of parameter `name`, NULL if none. */
const char *gw_params_get(const struct gw_params *p, const char *name);

/* gw_routes_find looks up (method, path) in t[0..n). Returns the index of the route, or
 * -1 when no pattern matches the path (404), or -2 when patterns match but none with this
 * method (405): `allow` then lists the methods that would, comma-separated ("GET, PUT").
 * HEAD is answered by a GET route. */
int gw_routes_find(const struct gw_route *t, size_t n, const char *method, const char *path,
                   struct gw_params *params, char *allow, size_t allow_len);

/* gw_http_status maps an RPC status code (LITHAIR__V1__CODE__*) to the HTTP status of
 * docs/API.md: INVALID_ARGUMENT is 400, or 422 when it carries field details; ABORTED is
 * 409, or 412 when the request had If-Match. Unknown codes are 500. */
int gw_http_status(int code, bool has_details, bool if_match);

/* gw_http_reason: "Not Found" for 404 ... ("Unknown" for others). */
const char *gw_http_reason(int status);

/* gw_retry_after: the Retry-After seconds for an RPC code, 0 when none is sent. */
unsigned gw_retry_after(int code);

/* gw_query_get copies the percent-decoded value of `key` in the query string `qs` (may be
 * NULL) into out[0..n). Returns the value's length, LT_ENOTFOUND if the key is absent,
 * LT_ETOOBIG if it does not fit, LT_EINVAL if its encoding is bad. */
int gw_query_get(const char *qs, const char *key, char *out, size_t n);

/* gw_query_check_keys returns true when every key of `qs` is in the NULL-ended `allowed`;
 * otherwise false and the first unknown key, decoded and truncated, in bad[0..n). */
bool gw_query_check_keys(const char *qs, const char *const *allowed, char *bad, size_t n);

/* gw_parse_bool: "true"/"1" → true, "false"/"0" → false (any case). LT_EINVAL otherwise. */
int gw_parse_bool(const char *s, bool *out);

/* gw_parse_u64 parses a decimal in [min, max]. LT_EINVAL otherwise. */
int gw_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* gw_host_is_local: is `host` (a Host header, port included) an address or a name that
 * cannot be rebound to another machine: an IPv4 or IPv6 literal, localhost or
 * *.localhost? NULL or empty (no Host) counts as local. A browser page on another site
 * that points a DNS name of its own at 127.0.0.1 (DNS rebinding) sends its own name. */
bool gw_host_is_local(const char *host);

/* gw_host_named: is the name of `host` (a Host header, port included; not an IPv6
 * literal) one of names[0..n), compared without case? */
bool gw_host_named(const char *host, const char *const *names, size_t n);

/* gw_host_name_ok: is `name` a DNS name an --allowed-host may give (1..253 characters of
 * letters, digits, '-' and '.', no empty label, no port)? */
bool gw_host_name_ok(const char *name);

/* gw_listen_addr_parse reads a --listen-addr: an IPv4 address in dotted-quad form (four
 * decimal parts of 0..255, no leading zeros: inet_pton's form), an IPv6 literal with or
 * without brackets, or "localhost" (127.0.0.1). Writes the address in its canonical text
 * (no brackets) into out[0..n) and whether it is a loopback address (127.0.0.0/8, ::1,
 * ::ffff:127.x.y.z) into *loopback. 0, or LT_EINVAL with the out-parameters untouched:
 * a loose form ("383.0.0.1", "127.000.000.001") would otherwise be read by civetweb with
 * each part wrapped modulo 256, and bind an address nobody asked for. */
int gw_listen_addr_parse(const char *s, char *out, size_t n, bool *loopback);

/* gw_is_token_method: is `m` a syntactically valid HTTP method (RFC 9110 9.1: one or
 * more tchar), whether or not anything implements it? */
bool gw_is_token_method(const char *m);

/* gw_absolute_target: when `target` is an absolute-form request target
 * ("http://host:port/path", RFC 9112 3.2.2), copies its authority ("host:port") into
 * out[0..n) and returns true; false for any other form (or an authority that does not fit). */
bool gw_absolute_target(const char *target, char *out, size_t n);

/* gw_query_check_dups: 0 when no key of `qs` appears twice; LT_EINVAL naming the first
 * repeated key in `dup`; LT_ETOOBIG for more than GW_QUERY_MAX_PARAMS pairs. No route
 * takes a repeated parameter, and silently reading the first of two is a guess. */
#define GW_QUERY_MAX_PARAMS 64
int gw_query_check_dups(const char *qs, char *dup, size_t n);

/* gw_etag: an entity-tag of a record as this server writes it. */
struct gw_etag {
    uint64_t version;  /* 0: "*" (any record) */
    bool has_created;  /* the tag names the incarnation too: "3@<createdAt>" */
    int64_t created_s; /* with has_created: the record's created_at */
    int32_t created_ns;
    bool bad_created; /* on LT_EINVAL: the version was well formed, the part after @ was not
                       * an RFC 3339 timestamp */
};

/* gw_parse_etag parses an If-Match value: "\"3@2026-11-30T07:57:40.123456789Z\"" → version 3
 * of the record created at that instant (the ETag of an item: its version and its createdAt
 * as its JSON writes it, so that an item deleted and created again, whose version restarts
 * at 1, is not taken for the one read), "\"3\"" → version 3 of any incarnation, "*" → any
 * (version 0). *out is written in full on 0 and LT_ECONFLICT; on LT_EINVAL only its
 * bad_created tells something. LT_ECONFLICT for a tag that is well formed
 * but never matches, as tags compare strongly and as text (RFC 9110 13.1.1): a weak tag
 * ("W/\"3\""), a version with leading zeros ("\"007\"": this server writes "7"), an instant
 * written otherwise than the server writes it ("+00:00", ".500000000Z" for ".500Z").
 * LT_EINVAL for anything else (a list, an unquoted tag, a number past 2^64-1, a part after @
 * that is no RFC 3339 timestamp: then out->bad_created is set). */
int gw_parse_etag(const char *s, struct gw_etag *out);

/* gw_camel_name writes the lowerCamelCase form of a proto field name ("created_at" →
 * "createdAt") into out[0..n), truncated. Returns out. */
char *gw_camel_name(const char *proto_name, char *out, size_t n);

/* gw_url_decode decodes %XX and '+' (as a space when plus_space) from src[0..len) into
 * out[0..n). Returns the length, LT_ETOOBIG, or LT_EINVAL (bad escape or a NUL byte). */
int gw_url_decode(const char *src, size_t len, bool plus_space, char *out, size_t n);

/* gw_path_escape percent-encodes `s` as one path segment (all but A-Z a-z 0-9 . _ ~ -)
 * into out[n]: 0, or LT_ETOOBIG. What goes into a Location header never carries CR/LF. */
int gw_path_escape(const char *s, char *out, size_t n);

#endif
