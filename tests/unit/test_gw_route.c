/* test_gw_route.c — the gateway's pure HTTP helpers: path patterns and the route table
 * (404 vs 405 with Allow), the RPC code → HTTP status table, query strings, If-Match,
 * camelCase field names, the benchmark body parser and the health rule. */
#include <string.h>

#include "cunit_main.h"
#include "gw_bench.h"
#include "gw_cluster.h"
#include "gw_route.h"
#include "gw_security.h"
#include "lt_err.h"
#include "wire.h"

static int h_dummy(struct gw_req *r)
{
    (void)r;
    return 200;
}

static void test_path_match(void)
{
    struct gw_params p;
    CU_ASSERT_TRUE(gw_path_match("/api/items", "/api/items", &p));
    CU_ASSERT_EQUAL(p.n, 0);
    CU_ASSERT_FALSE(gw_path_match("/api/items", "/api/items/", &p));
    CU_ASSERT_FALSE(gw_path_match("/api/items", "/api/item", &p));
    CU_ASSERT_FALSE(gw_path_match("/api/items", "/api/itemsx", &p));
    CU_ASSERT_TRUE(gw_path_match("/api/items/:id", "/api/items/abc-1", &p));
    CU_ASSERT_EQUAL(p.n, 1);
    CU_ASSERT_STRING_EQUAL(gw_params_get(&p, "id"), "abc-1");
    CU_ASSERT_PTR_NULL(gw_params_get(&p, "nope"));
    CU_ASSERT_FALSE(gw_path_match("/api/items/:id", "/api/items/", &p));
    CU_ASSERT_FALSE(gw_path_match("/api/items/:id", "/api/items", &p));
    CU_ASSERT_FALSE(gw_path_match("/api/items/:id", "/api/items/a/b", &p));
    CU_ASSERT_TRUE(gw_path_match("/api/items/:id/history", "/api/items/x/history", &p));
    CU_ASSERT_STRING_EQUAL(gw_params_get(&p, "id"), "x");
    CU_ASSERT_TRUE(gw_path_match("/a/:x/b/:y", "/a/1/b/2", &p));
    CU_ASSERT_STRING_EQUAL(gw_params_get(&p, "x"), "1");
    CU_ASSERT_STRING_EQUAL(gw_params_get(&p, "y"), "2");
    char longseg[600];
    memset(longseg, 'a', sizeof(longseg));
    memcpy(longseg, "/z/", 3);
    longseg[sizeof(longseg) - 1] = '\0';
    CU_ASSERT_FALSE(gw_path_match("/z/:id", longseg, &p)); /* too long for a param */
    CU_ASSERT_TRUE(gw_path_match("/", "/", NULL));
    CU_ASSERT_FALSE(gw_path_match("/", "/x", NULL));
    /* paths arrive percent-encoded: a parameter is decoded, and a %00 (which would cut
     * the id short and name another record) or a broken escape matches nothing */
    CU_ASSERT_TRUE(gw_path_match("/api/items/:id", "/api/items/a%2Fb%20c", &p));
    CU_ASSERT_STRING_EQUAL(gw_params_get(&p, "id"), "a/b c");
    CU_ASSERT_TRUE(gw_path_match("/api/items/:id", "/api/items/a+b", &p));
    CU_ASSERT_STRING_EQUAL(gw_params_get(&p, "id"), "a+b"); /* '+' is a space only in queries */
    CU_ASSERT_FALSE(gw_path_match("/api/items/:id", "/api/items/victim%00x", &p));
    CU_ASSERT_FALSE(gw_path_match("/api/items/:id", "/api/items/%zz", &p));
    CU_ASSERT_FALSE(gw_path_match("/api/items/:id", "/api/items/%4", &p));
    char esc[64];
    CU_ASSERT_EQUAL(gw_path_escape("a/b c\r\n~x", esc, sizeof(esc)), 0);
    CU_ASSERT_STRING_EQUAL(esc, "a%2Fb%20c%0D%0A~x");
    CU_ASSERT_TRUE(gw_path_match("/api/items/:id", "/api/items/a%2Fb%20c%0D%0A~x", &p));
    CU_ASSERT_STRING_EQUAL(gw_params_get(&p, "id"), "a/b c\r\n~x"); /* round trip */
    CU_ASSERT_EQUAL(gw_path_escape("abc", esc, 3), LT_ETOOBIG);
}

/* CIDR rules of the firewall (gw_security.c): parse, then match; v4 and v6 apart. */
static void test_cidr(void)
{
    int fam, ipf;
    uint8_t net[16], ip[16];
    unsigned prefix, ipp;
    CU_ASSERT_EQUAL(gw_cidr_parse("10.0.0.0/8", &fam, net, &prefix), 0);
    CU_ASSERT_EQUAL(prefix, 8);
    CU_ASSERT_EQUAL(gw_cidr_parse("10.200.3.4", &ipf, ip, &ipp), 0);
    CU_ASSERT_EQUAL(ipp, 32);
    CU_ASSERT_TRUE(gw_cidr_match(fam, net, prefix, ipf, ip));
    CU_ASSERT_EQUAL(gw_cidr_parse("11.0.0.1", &ipf, ip, &ipp), 0);
    CU_ASSERT_FALSE(gw_cidr_match(fam, net, prefix, ipf, ip));
    CU_ASSERT_EQUAL(gw_cidr_parse("192.168.1.0/23", &fam, net, &prefix), 0);
    CU_ASSERT_EQUAL(gw_cidr_parse("192.168.2.7", &ipf, ip, &ipp), 0); /* bit 23 differs */
    CU_ASSERT_FALSE(gw_cidr_match(fam, net, prefix, ipf, ip));
    CU_ASSERT_EQUAL(gw_cidr_parse("192.168.1.200", &ipf, ip, &ipp), 0);
    CU_ASSERT_TRUE(gw_cidr_match(fam, net, prefix, ipf, ip));
    CU_ASSERT_EQUAL(gw_cidr_parse("0.0.0.0/0", &fam, net, &prefix), 0); /* everything v4 */
    CU_ASSERT_TRUE(gw_cidr_match(fam, net, prefix, ipf, ip));
    CU_ASSERT_EQUAL(gw_cidr_parse("2001:db8::/32", &fam, net, &prefix), 0);
    CU_ASSERT_EQUAL(gw_cidr_parse("2001:db8:1::5", &ipf, ip, &ipp), 0);
    CU_ASSERT_TRUE(gw_cidr_match(fam, net, prefix, ipf, ip));
    CU_ASSERT_EQUAL(gw_cidr_parse("0.0.0.0/0", &fam, net, &prefix), 0);
    CU_ASSERT_FALSE(gw_cidr_match(fam, net, prefix, ipf, ip)); /* v4 rule, v6 client */
    static const char *bad[] = {
        "",           "10.0.0.0/33", "10.0.0.300",   "::1/129",     "10.0.0.0/",
        "10.0.0.0/x", "10.0.0.0/-1", "host.example", "10.0.0.0/8/8"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* refused, and nothing written ("10.0.0.0/33" reads an address before it fails) */
        int f = -7;
        unsigned pr = 77;
        uint8_t a[16];
        memset(a, 0xa5, sizeof(a));
        CU_ASSERT_EQUAL(gw_cidr_parse(bad[i], &f, a, &pr), LT_EINVAL);
        CU_ASSERT(f == -7 && pr == 77 && a[0] == 0xa5 && a[15] == 0xa5);
    }
    CU_ASSERT_EQUAL(gw_user_role_parse("Editor"), 2);
    CU_ASSERT_EQUAL(gw_user_role_parse("root"), -1);
    CU_ASSERT_STRING_EQUAL(gw_user_role_name(3), "admin");
}

static void test_routes_find(void)
{
    static const struct gw_route t[] = {
        {"GET", "/api/items", h_dummy, NULL, "list"},
        {"POST", "/api/items", h_dummy, NULL, "create"},
        {"GET", "/api/items/:id", h_dummy, NULL, "get"},
        {"PUT", "/api/items/:id", h_dummy, NULL, "update"},
        {"DELETE", "/api/items/:id", h_dummy, NULL, "delete"},
        {"POST", "/_playground/cluster/kill/:id", h_dummy, NULL, "kill"},
    };
    size_t n = sizeof(t) / sizeof(t[0]);
    struct gw_params p;
    char allow[64];
    CU_ASSERT_EQUAL(gw_routes_find(t, n, "GET", "/api/items", &p, allow, sizeof(allow)), 0);
    CU_ASSERT_EQUAL(gw_routes_find(t, n, "POST", "/api/items", &p, allow, sizeof(allow)), 1);
    CU_ASSERT_EQUAL(gw_routes_find(t, n, "HEAD", "/api/items", &p, allow, sizeof(allow)), 0);
    CU_ASSERT_EQUAL(gw_routes_find(t, n, "PUT", "/api/items/7", &p, allow, sizeof(allow)), 3);
    CU_ASSERT_STRING_EQUAL(gw_params_get(&p, "id"), "7");
    CU_ASSERT_EQUAL(gw_routes_find(t, n, "DELETE", "/api/items", &p, allow, sizeof(allow)), -2);
    CU_ASSERT_STRING_EQUAL(allow, "GET, HEAD, POST");
    CU_ASSERT_EQUAL(gw_routes_find(t, n, "POST", "/api/items/1", &p, allow, sizeof(allow)), -2);
    CU_ASSERT_STRING_EQUAL(allow, "GET, HEAD, PUT, DELETE");
    CU_ASSERT_EQUAL(
        gw_routes_find(t, n, "GET", "/_playground/cluster/kill/1", &p, allow, sizeof(allow)), -2);
    CU_ASSERT_STRING_EQUAL(allow, "POST");
    CU_ASSERT_EQUAL(gw_routes_find(t, n, "GET", "/api/nope", &p, allow, sizeof(allow)), -1);
    CU_ASSERT_EQUAL(gw_routes_find(t, n, "GET", "/api/items/1/2", &p, allow, sizeof(allow)), -1);
}

static void test_http_status(void)
{
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__OK, false, false), 200);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__INVALID_ARGUMENT, false, false), 400);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__INVALID_ARGUMENT, true, false), 422);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__NOT_FOUND, false, false), 404);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__ALREADY_EXISTS, false, false), 409);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__ABORTED, false, false), 409);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__ABORTED, false, true), 412);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__FAILED_PRECONDITION, false, false), 409);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__RESOURCE_EXHAUSTED, false, false), 429);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__UNAVAILABLE, false, false), 503);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__DEADLINE_EXCEEDED, false, false), 504);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__UNAUTHENTICATED, false, false), 401);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__PERMISSION_DENIED, false, false), 403);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__UNIMPLEMENTED, false, false), 501);
    CU_ASSERT_EQUAL(gw_http_status(LITHAIR__V1__CODE__INTERNAL, false, false), 500);
    CU_ASSERT_EQUAL(gw_http_status(999, false, false), 500);
    CU_ASSERT_EQUAL(gw_retry_after(LITHAIR__V1__CODE__UNAVAILABLE), 1);
    CU_ASSERT_EQUAL(gw_retry_after(LITHAIR__V1__CODE__RESOURCE_EXHAUSTED), 1);
    CU_ASSERT_EQUAL(gw_retry_after(LITHAIR__V1__CODE__NOT_FOUND), 0);
    CU_ASSERT_STRING_EQUAL(gw_http_reason(412), "Precondition Failed");
    CU_ASSERT_STRING_EQUAL(gw_http_reason(422), "Unprocessable Entity");
    /* every code in the schema has a row */
    for (int c = 0; c <= 16; c++)
        CU_ASSERT(gw_http_status(c, false, false) >= 200);
}

static void test_query(void)
{
    char v[32];
    CU_ASSERT_EQUAL(gw_query_get("a=1&b=two", "b", v, sizeof(v)), 3);
    CU_ASSERT_STRING_EQUAL(v, "two");
    CU_ASSERT_EQUAL(gw_query_get("a=1&b=two", "a", v, sizeof(v)), 1);
    CU_ASSERT_EQUAL(gw_query_get("a=1&b=two", "c", v, sizeof(v)), LT_ENOTFOUND);
    CU_ASSERT_EQUAL(gw_query_get(NULL, "c", v, sizeof(v)), LT_ENOTFOUND);
    CU_ASSERT_EQUAL(gw_query_get("name=a%20b+c", "name", v, sizeof(v)), 5);
    CU_ASSERT_STRING_EQUAL(v, "a b c");
    CU_ASSERT_EQUAL(gw_query_get("name=%zz", "name", v, sizeof(v)), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_query_get("name=%4", "name", v, sizeof(v)), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_query_get("name=%00", "name", v, sizeof(v)), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_query_get("flag", "flag", v, sizeof(v)), 0);
    CU_ASSERT_STRING_EQUAL(v, "");
    CU_ASSERT_EQUAL(gw_query_get("&&x=1&", "x", v, sizeof(v)), 1);
    CU_ASSERT_EQUAL(gw_query_get("x=0123456789", "x", v, 5), LT_ETOOBIG);
    static const char *allowed[] = {"limit", "cursor", NULL};
    char bad[16];
    CU_ASSERT_TRUE(gw_query_check_keys("limit=1&cursor=x", allowed, bad, sizeof(bad)));
    CU_ASSERT_TRUE(gw_query_check_keys(NULL, allowed, bad, sizeof(bad)));
    CU_ASSERT_FALSE(gw_query_check_keys("limit=1&sort=name", allowed, bad, sizeof(bad)));
    CU_ASSERT_STRING_EQUAL(bad, "sort");
    /* a Host that no other site's DNS can point at this gateway */
    CU_ASSERT_TRUE(gw_host_is_local(NULL));
    CU_ASSERT_TRUE(gw_host_is_local("127.0.0.1:8080"));
    CU_ASSERT_TRUE(gw_host_is_local("192.168.1.7"));
    CU_ASSERT_TRUE(gw_host_is_local("localhost:8080"));
    CU_ASSERT_TRUE(gw_host_is_local("LocalHost"));
    CU_ASSERT_TRUE(gw_host_is_local("app.localhost:8080"));
    CU_ASSERT_TRUE(gw_host_is_local("[::1]:8080"));
    CU_ASSERT_TRUE(gw_host_is_local("[::1]"));
    CU_ASSERT_FALSE(gw_host_is_local("evil.example:8080"));
    CU_ASSERT_FALSE(gw_host_is_local("localhost.evil.example"));
    CU_ASSERT_FALSE(gw_host_is_local("127.0.0.1.nip.io:8080"));
    CU_ASSERT_FALSE(gw_host_is_local("[::1"));
    CU_ASSERT_FALSE(gw_host_is_local("[::1]x"));
    CU_ASSERT_FALSE(gw_host_is_local("[evil]:80"));
    CU_ASSERT_FALSE(gw_host_is_local(":8080"));
    CU_ASSERT_FALSE(gw_host_is_local(".localhost"));
    /* a key given twice is named, however it is spelled */
    char dup[16] = "";
    CU_ASSERT_EQUAL(gw_query_check_dups("limit=1&cursor=x", dup, sizeof(dup)), 0);
    CU_ASSERT_EQUAL(gw_query_check_dups(NULL, dup, sizeof(dup)), 0);
    CU_ASSERT_EQUAL(gw_query_check_dups("a=1&limit=1&b&limit=2", dup, sizeof(dup)), LT_EINVAL);
    CU_ASSERT_STRING_EQUAL(dup, "limit");
    CU_ASSERT_EQUAL(gw_query_check_dups("force&%66orce=true", dup, sizeof(dup)), LT_EINVAL);
    CU_ASSERT_STRING_EQUAL(dup, "force");
    CU_ASSERT_EQUAL(gw_query_check_dups("x=1&&x", dup, sizeof(dup)), LT_EINVAL);
    char many[1024];
    size_t o = 0;
    for (int i = 0; i <= GW_QUERY_MAX_PARAMS; i++)
        o += (size_t)snprintf(many + o, sizeof(many) - o, "k%d=1&", i);
    CU_ASSERT_EQUAL(gw_query_check_dups(many, dup, sizeof(dup)), LT_ETOOBIG);
    many[o - 1] = '\0';
    *strrchr(many, '&') = '\0'; /* exactly the limit */
    CU_ASSERT_EQUAL(gw_query_check_dups(many, dup, sizeof(dup)), 0);
}

static void test_parse(void)
{
    bool b;
    CU_ASSERT_EQUAL(gw_parse_bool("true", &b), 0);
    CU_ASSERT_TRUE(b);
    CU_ASSERT_EQUAL(gw_parse_bool("FALSE", &b), 0);
    CU_ASSERT_FALSE(b);
    CU_ASSERT_EQUAL(gw_parse_bool("1", &b), 0);
    CU_ASSERT_TRUE(b);
    CU_ASSERT_EQUAL(gw_parse_bool("maybe", &b), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_parse_bool("", &b), LT_EINVAL); /* "?force=" overrides nothing */
    CU_ASSERT_EQUAL(gw_parse_bool("yes", &b), LT_EINVAL);
    uint64_t u = 42;
    CU_ASSERT_EQUAL(gw_parse_u64("100", 1, 1000, &u), 0);
    CU_ASSERT_EQUAL(u, 100);
    CU_ASSERT_EQUAL(gw_parse_u64("0", 1, 1000, &u), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_parse_u64("1001", 1, 1000, &u), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_parse_u64("-1", 0, 1000, &u), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_parse_u64("12x", 0, 1000, &u), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_parse_u64("", 0, 1000, &u), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_parse_u64("99999999999999999999999", 0, UINT64_MAX, &u), LT_EINVAL);
    CU_ASSERT_EQUAL(u, 100);
    struct gw_etag e;
    CU_ASSERT_EQUAL(gw_parse_etag("\"3\"", &e), 0);
    CU_ASSERT_EQUAL(e.version, 3);
    CU_ASSERT_FALSE(e.has_created);
    CU_ASSERT_EQUAL(gw_parse_etag("W/\"12\"", &e), LT_ECONFLICT); /* weak: never matches */
    CU_ASSERT_EQUAL(e.version, 12);
    CU_ASSERT_EQUAL(gw_parse_etag("\"99999999999999999999\"", &e), LT_EINVAL); /* > 2^64-1 */
    CU_ASSERT_EQUAL(gw_parse_etag("\"1\", \"2\"", &e), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_parse_etag("7", &e), LT_EINVAL); /* an entity-tag is quoted */
    CU_ASSERT_EQUAL(gw_parse_etag("\"7", &e), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_parse_etag("W/7", &e), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_parse_etag(" \"7\" ", &e), 0);
    CU_ASSERT_EQUAL(e.version, 7);
    CU_ASSERT_EQUAL(gw_parse_etag("*", &e), 0);
    CU_ASSERT_EQUAL(e.version, 0);
    CU_ASSERT_FALSE(e.has_created);
    CU_ASSERT_EQUAL(gw_parse_etag("\"abc\"", &e), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_parse_etag("\"\"", &e), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_parse_etag("\"0\"", &e), LT_EINVAL);
    CU_ASSERT_EQUAL(gw_parse_etag("\"007\"", &e), LT_ECONFLICT); /* "7" as text: never */
    CU_ASSERT_EQUAL(e.version, 7);
    /* version and incarnation: the item's createdAt as its JSON writes it */
    CU_ASSERT_EQUAL(gw_parse_etag("\"3@2026-11-30T07:57:40.123456789Z\"", &e), 0);
    CU_ASSERT_EQUAL(e.version, 3);
    CU_ASSERT_TRUE(e.has_created);
    CU_ASSERT_EQUAL(e.created_s, 1796025460);
    CU_ASSERT_EQUAL(e.created_ns, 123456789);
    CU_ASSERT_EQUAL(gw_parse_etag("\"1@2026-11-30T07:57:40Z\"", &e), 0);
    CU_ASSERT_EQUAL(e.created_ns, 0);
    CU_ASSERT_EQUAL(gw_parse_etag("\"1@2026-11-30T07:57:40.5Z\"", &e), LT_ECONFLICT); /* ".500Z" */
    CU_ASSERT_TRUE(e.has_created);
    CU_ASSERT_EQUAL(e.created_ns, 500000000);
    CU_ASSERT_EQUAL(gw_parse_etag("\"1@2026-11-30T08:57:40+01:00\"", &e), LT_ECONFLICT);
    CU_ASSERT_EQUAL(e.created_s, 1796025460);
    CU_ASSERT_EQUAL(gw_parse_etag("W/\"1@2026-11-30T07:57:40Z\"", &e), LT_ECONFLICT);
    CU_ASSERT_EQUAL(gw_parse_etag("\"01@2026-11-30T07:57:40Z\"", &e), LT_ECONFLICT);
    /* a malformed timestamp part: LT_EINVAL saying so */
    CU_ASSERT_EQUAL(gw_parse_etag("\"1@yesterday\"", &e), LT_EINVAL);
    CU_ASSERT_TRUE(e.bad_created);
    CU_ASSERT_EQUAL(gw_parse_etag("\"1@\"", &e), LT_EINVAL);
    CU_ASSERT_TRUE(e.bad_created);
    CU_ASSERT_EQUAL(gw_parse_etag("\"1@2026-11-30T07:57:40Z@2026-11-30T07:57:40Z\"", &e),
                    LT_EINVAL);
    CU_ASSERT_EQUAL(gw_parse_etag("\"1@2026-13-30T07:57:40Z\"", &e), LT_EINVAL);
    CU_ASSERT_TRUE(e.bad_created);
    /* the version part is what is wrong: not a timestamp complaint */
    CU_ASSERT_EQUAL(gw_parse_etag("\"@2026-11-30T07:57:40Z\"", &e), LT_EINVAL);
    CU_ASSERT_FALSE(e.bad_created);
    CU_ASSERT_EQUAL(gw_parse_etag("\"x@2026-11-30T07:57:40Z\"", &e), LT_EINVAL);
    CU_ASSERT_FALSE(e.bad_created);
    char name[32];
    CU_ASSERT_STRING_EQUAL(gw_camel_name("created_at", name, sizeof(name)), "createdAt");
    CU_ASSERT_STRING_EQUAL(gw_camel_name("name", name, sizeof(name)), "name");
    CU_ASSERT_STRING_EQUAL(gw_camel_name("a_b_c", name, sizeof(name)), "aBC");
    CU_ASSERT_STRING_EQUAL(gw_camel_name("_x", name, sizeof(name)), "x");
    CU_ASSERT_STRING_EQUAL(gw_camel_name("created_at", name, 4), "cre");
}

static void test_bench_parse(void)
{
    struct gw_bench_params p;
    char err[256];
    json_object *j = json_tokener_parse("{}");
    CU_ASSERT_EQUAL(gw_bench_parse(j, &p, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(p.workload, BENCH_WRITE);
    CU_ASSERT_EQUAL(p.concurrency, 16);
    json_object_put(j);
    j = json_tokener_parse("{\"type\":\"mixed\",\"concurrency\":100,\"duration_secs\":2.5,"
                           "\"payload_size\":1024,\"read_ratio\":0.9,\"consistency\":"
                           "\"serializable\",\"key_space\":50,\"rate\":0,\"warmup_secs\":1}");
    CU_ASSERT_EQUAL(gw_bench_parse(j, &p, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(p.workload, BENCH_MIXED);
    CU_ASSERT_EQUAL(p.concurrency, 100);
    CU_ASSERT_DOUBLE_EQUAL(p.duration_secs, 2.5, 1e-9);
    CU_ASSERT_EQUAL(p.payload_size, 1024);
    CU_ASSERT_TRUE(p.serializable);
    CU_ASSERT_EQUAL(p.key_space, 50);
    json_object_put(j);
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"type\":\"delete\"}", "'type'"},
        {"{\"concurrency\":0}", "'concurrency'"},
        {"{\"concurrency\":1.5}", "'concurrency'"},
        {"{\"concurrency\":\"8\"}", "'concurrency'"},
        {"{\"duration_secs\":-1}", "'duration_secs'"},
        {"{\"payload_size\":99999999}", "'payload_size'"},
        {"{\"read_ratio\":2}", "'read_ratio'"},
        {"{\"consistency\":\"strong\"}", "'consistency'"},
        {"{\"bogus\":1}", "'bogus'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        j = json_tokener_parse(bad[i].body);
        CU_ASSERT_PTR_NOT_NULL_FATAL(j);
        err[0] = '\0';
        CU_ASSERT_EQUAL(gw_bench_parse(j, &p, err, sizeof(err)), LT_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].field));
        json_object_put(j);
    }
    /* settings a run would ignore are refused, with the type that ignores them */
    static const struct {
        const char *body, *said;
    } ignored[] = {
        {"{\"read_ratio\":0.5}",
         "bad field 'read_ratio' is for type mixed, not write (the run would ignore it)"},
        {"{\"type\":\"read\",\"read_ratio\":0.5}",
         "bad field 'read_ratio' is for type mixed, not read (the run would ignore it)"},
        {"{\"type\":\"write\",\"key_space\":10}",
         "bad field 'key_space' is for type read or mixed, not write (the run would ignore it)"},
        {"{\"consistency\":\"serializable\"}",
         "bad field 'consistency' is for type read or mixed, not write (the run would ignore "
         "it)"},
    };
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        j = json_tokener_parse(ignored[i].body);
        CU_ASSERT_PTR_NOT_NULL_FATAL(j);
        err[0] = '\0';
        CU_ASSERT_EQUAL(gw_bench_parse(j, &p, err, sizeof(err)), LT_EINVAL);
        CU_ASSERT_STRING_EQUAL(err, ignored[i].said);
        json_object_put(j);
    }
    /* null names nothing; a read run takes its keys and consistency */
    j = json_tokener_parse("{\"type\":\"write\",\"read_ratio\":null,\"key_space\":null,"
                           "\"consistency\":null}");
    CU_ASSERT_EQUAL(gw_bench_parse(j, &p, err, sizeof(err)), 0);
    json_object_put(j);
    j = json_tokener_parse("{\"type\":\"read\",\"key_space\":10,\"consistency\":"
                           "\"serializable\"}");
    CU_ASSERT_EQUAL(gw_bench_parse(j, &p, err, sizeof(err)), 0);
    CU_ASSERT_TRUE(p.serializable);
    json_object_put(j);
    /* the bounds are said as numbers are written, not in %g's exponent form */
    j = json_tokener_parse("{\"rate\":-5}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(gw_bench_parse(j, &p, err, sizeof(err)), LT_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "bad field 'rate': expected a number from 0 to 10000000");
    json_object_put(j);
    j = json_tokener_parse("{\"duration_secs\":0}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(gw_bench_parse(j, &p, err, sizeof(err)), LT_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "bad field 'duration_secs': expected a number from 0.1 to 3600");
    json_object_put(j);
}

static void test_health(void)
{
    CU_ASSERT_STRING_EQUAL(gw_health_name(false, 1, 1, 0, 0), "unhealthy");
    CU_ASSERT_STRING_EQUAL(gw_health_name(true, 1, 1, 0, 0), "healthy");
    CU_ASSERT_STRING_EQUAL(gw_health_name(true, 1, 1, 100, 0), "healthy");
    CU_ASSERT_STRING_EQUAL(gw_health_name(true, 1, 1, 101, 0), "desynced");
    CU_ASSERT_STRING_EQUAL(gw_health_name(true, 0, 1, 0, 0), "desynced");
    /* a follower that holds entries committed past the leader's log (FollowerProgress.ahead):
     * a diverged cluster, whatever its lag says */
    CU_ASSERT_STRING_EQUAL(gw_health_name(true, 1, 1, 0, 1), "desynced");
    CU_ASSERT_STRING_EQUAL(gw_health_name(true, 1, 1, 0, 12345), "desynced");
    CU_ASSERT_STRING_EQUAL(gw_health_name(false, 1, 1, 0, 7), "unhealthy");
    /* no answering leader: the leader a node knows is taken at its word */
    CU_ASSERT_STRING_EQUAL(gw_health_name(true, 2, 0, 0, 0), "healthy");
    /* a node that is, or follows, another leader than the cluster's (one deposed by a later
     * term, cut off, that has not noticed yet): not in sync, whatever its lag says */
    CU_ASSERT_STRING_EQUAL(gw_health_name(true, 3, 1, 0, 0), "desynced");
    CU_ASSERT_STRING_EQUAL(gw_role_name(LITHAIR__V1__NODE_ROLE__PRE_CANDIDATE), "pre-candidate");
    CU_ASSERT_STRING_EQUAL(gw_role_name(LITHAIR__V1__NODE_ROLE__LEADER), "leader");
}

static void test_allowed_hosts(void)
{
    const char *const names[] = {"Playground.Example", "host-2"};
    CU_ASSERT(gw_host_named("playground.example", names, 2));
    CU_ASSERT(gw_host_named("PLAYGROUND.EXAMPLE:8080", names, 2));
    CU_ASSERT(gw_host_named("host-2", names, 2));
    CU_ASSERT(!gw_host_named("playground.example.evil", names, 2));
    CU_ASSERT(!gw_host_named("playground", names, 2));
    CU_ASSERT(!gw_host_named("host-2", names, 1));
    CU_ASSERT(!gw_host_named("[::1]:80", names, 2));
    CU_ASSERT(!gw_host_named("", names, 2));
    CU_ASSERT(!gw_host_named(NULL, names, 2));
    CU_ASSERT(gw_host_name_ok("a"));
    CU_ASSERT(gw_host_name_ok("my-host.example.org"));
    const char *const bad[] = {"", ".a", "a.", "a..b", "a:80", "a b", "[::1]", "a/b", "é"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT(!gw_host_name_ok(bad[i]));
    CU_ASSERT(!gw_host_name_ok(NULL));
    char longest[256];
    memset(longest, 'x', 253);
    longest[253] = '\0';
    CU_ASSERT(gw_host_name_ok(longest));
    longest[253] = 'x';
    longest[254] = '\0';
    CU_ASSERT(!gw_host_name_ok(longest));
}

static void test_listen_addr(void)
{
    char out[64] = "untouched";
    bool lo = false;
    static const struct {
        const char *in, *out;
        bool lo;
    } good[] = {
        {"127.0.0.1", "127.0.0.1", true},
        {"127.5.6.7", "127.5.6.7", true},
        {"0.0.0.0", "0.0.0.0", false},
        {"192.0.2.2", "192.0.2.2", false},
        {"localhost", "127.0.0.1", true},
        {"::1", "::1", true},
        {"[::1]", "::1", true},
        {"::", "::", false},
        {"10.0.0.10", "10.0.0.10", false},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CU_ASSERT_EQUAL(gw_listen_addr_parse(good[i].in, out, sizeof(out), &lo), 0);
        CU_ASSERT_STRING_EQUAL(out, good[i].out);
        CU_ASSERT_EQUAL(lo, good[i].lo);
    }
    /* the QA's: civetweb read each part modulo 256 (383 -> 127: loopback, yet the Host
     * check was off; 999.1.1.1 -> 231.1.1.1, a multicast address) */
    static const char *const bad[] = {"383.0.0.1",   "127.000.000.001", "999.1.1.1", "127.1",
                                      "01.2.3.4",    "127.0.0.01",      "1.2.3.4 ",  " 1.2.3.4",
                                      "1.2.3.4.5",   "256.0.0.0",       "",          "example.com",
                                      "[127.0.0.1]", "0x7f.0.0.1",      "1.2.3.-4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(out, sizeof(out), "untouched");
        lo = true;
        CU_ASSERT_EQUAL(gw_listen_addr_parse(bad[i], out, sizeof(out), &lo), LT_EINVAL);
        CU_ASSERT_STRING_EQUAL(out, "untouched");
        CU_ASSERT_TRUE(lo);
    }
}

static void test_methods_and_targets(void)
{
    CU_ASSERT_TRUE(gw_is_token_method("TRACE"));
    CU_ASSERT_TRUE(gw_is_token_method("FOO"));
    CU_ASSERT_TRUE(gw_is_token_method("post"));
    CU_ASSERT_TRUE(gw_is_token_method("M-SEARCH"));
    CU_ASSERT_FALSE(gw_is_token_method(""));
    CU_ASSERT_FALSE(gw_is_token_method("G(ET"));
    CU_ASSERT_FALSE(gw_is_token_method("GE T"));
    CU_ASSERT_FALSE(gw_is_token_method("G\x80T"));
    char auth[64];
    CU_ASSERT_TRUE(gw_absolute_target("http://127.0.0.1:8080/healthz", auth, sizeof(auth)));
    CU_ASSERT_STRING_EQUAL(auth, "127.0.0.1:8080");
    CU_ASSERT_TRUE(gw_absolute_target("HTTP://Example.com/x?y", auth, sizeof(auth)));
    CU_ASSERT_STRING_EQUAL(auth, "Example.com");
    CU_ASSERT_FALSE(gw_absolute_target("/healthz", auth, sizeof(auth)));
    CU_ASSERT_FALSE(gw_absolute_target("*", auth, sizeof(auth)));
    CU_ASSERT_FALSE(gw_absolute_target("ftp://x/", auth, sizeof(auth)));
}

static const struct lt_test route_tests[] = {
    {"path patterns and params", test_path_match},
    {"route table: 404 vs 405 and Allow", test_routes_find},
    {"RPC code to HTTP status table", test_http_status},
    {"query strings", test_query},
    {"bool, number, If-Match, camelCase", test_parse},
    {"firewall CIDR rules and role names", test_cidr},
    {"benchmark body parser names the bad field", test_bench_parse},
    {"health and role names", test_health},
    {"--listen-addr is read strictly, loopback from the address", test_listen_addr},
    {"--allowed-host names: matched without case or port, checked when given", test_allowed_hosts},
    {"token methods, absolute-form targets", test_methods_and_targets},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"gw_route", NULL, NULL, route_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
