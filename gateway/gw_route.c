/* gw_route.c — route matching, the RPC code → HTTP status table, query strings (see
 * gw_route.h). Pure functions: no I/O, no allocation. */
#include "gw_route.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "lt_err.h"
#include "pbjson.h"
#include "wire.h"

static int gw_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int gw_url_decode(const char *src, size_t len, bool plus_space, char *out, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return LT_EINVAL;
            int h = gw_hex(src[i + 1]), l = gw_hex(src[i + 2]);
            if (h < 0 || l < 0)
                return LT_EINVAL;
            c = (char)(h * 16 + l);
            if (c == '\0')
                return LT_EINVAL;
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (o + 1 >= n)
            return LT_ETOOBIG;
        out[o++] = c;
    }
    if (n == 0)
        return LT_ETOOBIG;
    out[o] = '\0';
    return (int)o;
}

int gw_path_escape(const char *s, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '_' || c == '~' || c == '-';
        if (o + (plain ? 1 : 3) >= n)
            return LT_ETOOBIG;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (n == 0)
        return LT_ETOOBIG;
    out[o] = '\0';
    return 0;
}

bool gw_path_match(const char *pattern, const char *path, struct gw_params *params)
{
    struct gw_params local;
    struct gw_params *pp = params ? params : &local;
    pp->n = 0;
    const char *a = pattern, *b = path;
    while (*a && *b) {
        if (*a != '/' || *b != '/')
            return false;
        a++;
        b++;
        const char *ae = strchr(a, '/'), *be = strchr(b, '/');
        size_t al = ae ? (size_t)(ae - a) : strlen(a);
        size_t bl = be ? (size_t)(be - b) : strlen(b);
        if (al > 0 && a[0] == ':') {
            if (bl == 0 || pp->n >= GW_ROUTE_MAX_PARAMS)
                return false;
            size_t nl = al - 1 < sizeof(pp->p[0].name) - 1 ? al - 1 : sizeof(pp->p[0].name) - 1;
            memcpy(pp->p[pp->n].name, a + 1, nl);
            pp->p[pp->n].name[nl] = '\0';
            /* The path arrives percent-encoded (civetweb's decode_url is off): a value is
             * decoded here, so "a%2Fb" names the id "a/b", and a %00 matches nothing. */
            if (gw_url_decode(b, bl, false, pp->p[pp->n].value, sizeof(pp->p[0].value)) <= 0)
                return false;
            pp->n++;
        } else if (al != bl || memcmp(a, b, al) != 0) {
            return false;
        }
        a += al;
        b += bl;
    }
    return *a == '\0' && *b == '\0';
}

const char *gw_params_get(const struct gw_params *p, const char *name)
{
    for (size_t i = 0; p && i < p->n; i++) {
        if (strcmp(p->p[i].name, name) == 0)
            return p->p[i].value;
    }
    return NULL;
}

int gw_routes_find(const struct gw_route *t, size_t n, const char *method, const char *path,
                   struct gw_params *params, char *allow, size_t allow_len)
{
    bool head = strcmp(method, "HEAD") == 0;
    bool path_seen = false;
    if (allow && allow_len)
        allow[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!gw_path_match(t[i].pattern, path, NULL))
            continue;
        path_seen = true;
        if (strcmp(t[i].method, method) == 0 || (head && strcmp(t[i].method, "GET") == 0)) {
            gw_path_match(t[i].pattern, path, params);
            return (int)i;
        }
    }
    if (!path_seen)
        return -1;
    /* a 405: only now list the methods the path has (most requests never get here) */
    size_t off = 0;
    for (size_t i = 0; allow && i < n && off < allow_len; i++) {
        if (!gw_path_match(t[i].pattern, path, NULL) || strstr(allow, t[i].method))
            continue;
        bool get = strcmp(t[i].method, "GET") == 0; /* a GET route answers HEAD too */
        int k = snprintf(allow + off, allow_len - off, "%s%s%s", off ? ", " : "", t[i].method,
                         get ? ", HEAD" : "");
        off += k > 0 ? (size_t)k : 0;
    }
    return -2;
}

/* The one table: RPC status code → HTTP status (docs/API.md "Errors"). */
static const struct {
    int code;
    int http;
    unsigned retry_after;
} gw_code_table[] = {
    {LITHAIR__V1__CODE__OK, 200, 0},
    {LITHAIR__V1__CODE__CANCELLED, 499, 0},
    {LITHAIR__V1__CODE__UNKNOWN, 500, 0},
    {LITHAIR__V1__CODE__INVALID_ARGUMENT, 400, 0},
    {LITHAIR__V1__CODE__DEADLINE_EXCEEDED, 504, 0},
    {LITHAIR__V1__CODE__NOT_FOUND, 404, 0},
    {LITHAIR__V1__CODE__ALREADY_EXISTS, 409, 0},
    {LITHAIR__V1__CODE__PERMISSION_DENIED, 403, 0},
    {LITHAIR__V1__CODE__RESOURCE_EXHAUSTED, 429, 1},
    {LITHAIR__V1__CODE__FAILED_PRECONDITION, 409, 0},
    {LITHAIR__V1__CODE__ABORTED, 409, 0},
    {LITHAIR__V1__CODE__OUT_OF_RANGE, 400, 0},
    {LITHAIR__V1__CODE__UNIMPLEMENTED, 501, 0},
    {LITHAIR__V1__CODE__INTERNAL, 500, 0},
    {LITHAIR__V1__CODE__UNAVAILABLE, 503, 1},
    {LITHAIR__V1__CODE__DATA_LOSS, 500, 0},
    {LITHAIR__V1__CODE__UNAUTHENTICATED, 401, 0},
};

int gw_http_status(int code, bool has_details, bool if_match)
{
    if (code == LITHAIR__V1__CODE__INVALID_ARGUMENT && has_details)
        return 422;
    if (code == LITHAIR__V1__CODE__ABORTED && if_match)
        return 412;
    for (size_t i = 0; i < sizeof(gw_code_table) / sizeof(gw_code_table[0]); i++) {
        if (gw_code_table[i].code == code)
            return gw_code_table[i].http;
    }
    return 500;
}

unsigned gw_retry_after(int code)
{
    for (size_t i = 0; i < sizeof(gw_code_table) / sizeof(gw_code_table[0]); i++) {
        if (gw_code_table[i].code == code)
            return gw_code_table[i].retry_after;
    }
    return 0;
}

const char *gw_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 411:
        return "Length Required";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 505:
        return "HTTP Version Not Supported";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

/* gw_query_next splits the next "key=value" pair off *qs. */
static bool gw_query_next(const char **qs, const char **k, size_t *kl, const char **v, size_t *vl)
{
    const char *s = *qs;
    while (s && *s == '&')
        s++;
    if (!s || !*s)
        return false;
    const char *e = strchr(s, '&');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    const char *eq = memchr(s, '=', len);
    *k = s;
    *kl = eq ? (size_t)(eq - s) : len;
    *v = eq ? eq + 1 : s + len;
    *vl = eq ? len - *kl - 1 : 0;
    *qs = s + len;
    return true;
}

int gw_query_get(const char *qs, const char *key, char *out, size_t n)
{
    const char *k, *v;
    size_t kl, vl;
    char name[128];
    while (gw_query_next(&qs, &k, &kl, &v, &vl)) {
        if (gw_url_decode(k, kl, true, name, sizeof(name)) < 0 || strcmp(name, key) != 0)
            continue;
        return gw_url_decode(v, vl, true, out, n);
    }
    return LT_ENOTFOUND;
}

int gw_listen_addr_parse(const char *s, char *out, size_t n, bool *loopback)
{
    char buf[64];
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len >= sizeof(buf))
        return LT_EINVAL;
    if (strcasecmp(s, "localhost") == 0)
        s = "127.0.0.1";
    else if (s[0] == '[' && s[len - 1] == ']') { /* [::1] */
        memcpy(buf, s + 1, len - 2);
        buf[len - 2] = '\0';
        s = buf;
    }
    struct in_addr a4;
    struct in6_addr a6;
    char text[INET6_ADDRSTRLEN];
    bool lo;
    if (s != buf && inet_pton(AF_INET, s, &a4) == 1) {
        lo = (ntohl(a4.s_addr) >> 24) == 127;
        inet_ntop(AF_INET, &a4, text, sizeof(text));
    } else if (inet_pton(AF_INET6, s, &a6) == 1) {
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        lo = IN6_IS_ADDR_LOOPBACK(&a6) ||
             (memcmp(a6.s6_addr, v4mapped, 12) == 0 && a6.s6_addr[12] == 127);
        inet_ntop(AF_INET6, &a6, text, sizeof(text));
    } else {
        return LT_EINVAL;
    }
    if (strlen(text) >= n)
        return LT_EINVAL;
    memcpy(out, text, strlen(text) + 1);
    *loopback = lo;
    return 0;
}

bool gw_is_token_method(const char *m)
{
    /* tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" /
     * "|" / "~" / DIGIT / ALPHA */
    if (!m || !*m)
        return false;
    for (const char *p = m; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c && strchr("!#$%&'*+-.^_`|~", c))))
            return false;
    }
    return true;
}

bool gw_host_named(const char *host, const char *const *names, size_t n)
{
    if (!host || !*host || host[0] == '[')
        return false;
    size_t len = strcspn(host, ":");
    for (size_t i = 0; i < n; i++) {
        if (names[i] && strlen(names[i]) == len && strncasecmp(host, names[i], len) == 0)
            return true;
    }
    return false;
}

bool gw_host_name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > 253 || name[0] == '.' || name[len - 1] == '.' || strstr(name, ".."))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

bool gw_absolute_target(const char *target, char *out, size_t n)
{
    size_t skip = strncasecmp(target, "http://", 7) == 0    ? 7
                  : strncasecmp(target, "https://", 8) == 0 ? 8
                                                            : 0;
    if (!skip)
        return false;
    const char *host = target + skip;
    size_t len = strcspn(host, "/?#");
    if (len >= n)
        return false;
    memcpy(out, host, len);
    out[len] = '\0';
    return true;
}

bool gw_host_is_local(const char *host)
{
    if (!host || !*host)
        return true; /* HTTP/1.0 without Host: not a browser */
    char name[256];
    size_t n;
    if (host[0] == '[') { /* an IPv6 literal, [::1]:8080 */
        const char *e = strchr(host, ']');
        if (!e || (e[1] && e[1] != ':'))
            return false;
        n = (size_t)(e - host - 1);
        if (n >= sizeof(name))
            return false;
        memcpy(name, host + 1, n);
        name[n] = '\0';
        struct in6_addr a6;
        return inet_pton(AF_INET6, name, &a6) == 1;
    }
    n = strcspn(host, ":");
    if (n == 0 || n >= sizeof(name))
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    struct in_addr a4;
    if (inet_pton(AF_INET, name, &a4) == 1)
        return true;
    size_t sfx = strlen(".localhost");
    return strcasecmp(name, "localhost") == 0 ||
           (n > sfx && strcasecmp(name + n - sfx, ".localhost") == 0);
}

bool gw_query_check_keys(const char *qs, const char *const *allowed, char *bad, size_t n)
{
    const char *k, *v;
    size_t kl, vl;
    char name[128];
    while (gw_query_next(&qs, &k, &kl, &v, &vl)) {
        if (gw_url_decode(k, kl, true, name, sizeof(name)) < 0)
            snprintf(name, sizeof(name), "%.*s", (int)(kl < 64 ? kl : 64), k);
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, name) == 0;
        if (!ok) {
            if (n)
                snprintf(bad, n, "%s", name);
            return false;
        }
    }
    return true;
}

int gw_query_check_dups(const char *qs, char *dup, size_t n)
{
    const char *k, *v, *k2, *v2;
    size_t kl, vl, kl2, vl2, count = 0;
    char a[128], b[128];
    for (const char *p = qs; gw_query_next(&p, &k, &kl, &v, &vl);)
        if (++count > GW_QUERY_MAX_PARAMS)
            return LT_ETOOBIG; /* and the pairwise check below stays small */
    while (gw_query_next(&qs, &k, &kl, &v, &vl)) {
        if (gw_url_decode(k, kl, true, a, sizeof(a)) < 0)
            continue; /* a name that does not decode is refused by whoever reads it */
        const char *rest = qs;
        while (gw_query_next(&rest, &k2, &kl2, &v2, &vl2)) {
            if (gw_url_decode(k2, kl2, true, b, sizeof(b)) >= 0 && strcmp(a, b) == 0) {
                if (n)
                    snprintf(dup, n, "%s", a);
                return LT_EINVAL;
            }
        }
    }
    return 0;
}

int gw_parse_bool(const char *s, bool *out)
{
    /* No bare "?force" or "?force=yes": a flag that overrides a safety check is spelled. */
    static const char *yes[] = {"true", "1"}, *no[] = {"false", "0"};
    for (size_t i = 0; i < 2; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
    }
    for (size_t i = 0; i < 2; i++) {
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return LT_EINVAL;
}

int gw_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9' || strlen(s) > 20)
        return LT_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno == ERANGE || v < min || v > max) /* 2^64 and beyond do not clamp */
        return LT_EINVAL;
    *out = v;
    return 0;
}

int gw_parse_etag(const char *s, struct gw_etag *out)
{
    char buf[80];
    struct gw_etag e = {0};
    while (*s == ' ')
        s++;
    *out = e;
    if (strcmp(s, "*") == 0)
        return 0;
    bool weak = strncmp(s, "W/", 2) == 0;
    if (weak)
        s += 2;
    size_t len = strlen(s);
    while (len && s[len - 1] == ' ')
        len--;
    if (len < 2 || s[0] != '"' || s[len - 1] != '"') /* an entity-tag is quoted */
        return LT_EINVAL;
    s++;
    len -= 2;
    if (len == 0 || len >= sizeof(buf))
        return LT_EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *at = strchr(buf, '@');
    if (at)
        *at = '\0';
    int rc = gw_parse_u64(buf, 1, UINT64_MAX, &e.version);
    if (rc != 0)
        return rc;
    /* "007" is a well-formed tag, but not one this server writes ("7"): tags compare as
     * text, so it never matches, like a weak one */
    bool never = weak || buf[0] == '0';
    if (at) {
        char canon[40];
        if (pbjson_timestamp_parse(at + 1, &e.created_s, &e.created_ns) != 0) {
            out->bad_created = true;
            return LT_EINVAL;
        }
        e.has_created = true;
        /* another spelling of the instant ("+00:00", ".500000000") is not the text this
         * server writes either */
        never |= pbjson_timestamp_format(e.created_s, e.created_ns, canon, sizeof(canon)) != 0 ||
                 strcmp(canon, at + 1) != 0;
    }
    *out = e;
    return never ? LT_ECONFLICT : 0;
}

char *gw_camel_name(const char *proto_name, char *out, size_t n)
{
    size_t o = 0;
    bool up = false;
    for (const char *p = proto_name; *p && o + 1 < n; p++) {
        if (*p == '_') {
            up = o > 0;
            continue;
        }
        out[o++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        up = false;
    }
    if (n)
        out[o] = '\0';
    return out;
}
