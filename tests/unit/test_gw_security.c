/* test_gw_security.c — the gateway's security layer (gw_security.c) against a fake
 * cluster: gw_security.c is compiled into this test with its RPCs sent to fake_rpc_call,
 * so that a logout can land while a lookup reads the cluster, a rule change while a reload
 * reads the rules, and the session table can hold more than a page. */
#include <string.h>

#include "cunit_main.h"

#define rpc_call fake_rpc_call
#include "../../gateway/gw_security.c"
#undef rpc_call

static struct gw fake_gw;

/* ---- the session lookup: one session record, or none (after its logout) */
static bool fake_session_exists;
static char fake_session_id[65];
static void (*fake_during_get)(void); /* runs inside the Models/Get of a session */

static int fake_session_get(const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Lithair__V1__GetRequest *g = (const Lithair__V1__GetRequest *)req;
    if (strcmp(g->model, "sessions") != 0 || !fake_session_exists ||
        strcmp(g->id, fake_session_id) != 0)
        return LT_ENOTFOUND;
    Lithair__V1__Timestamp exp = LITHAIR__V1__TIMESTAMP__INIT;
    exp.seconds = (int64_t)time(NULL) + 3600;
    Lithair__V1__Session se = LITHAIR__V1__SESSION__INIT;
    se.id = fake_session_id;
    se.user_id = "editor";
    se.role = LITHAIR__V1__ROLE__ROLE_EDITOR;
    se.expires_at = &exp;
    Lithair__V1__Record rec = LITHAIR__V1__RECORD__INIT;
    rec.value.len = lithair__v1__session__get_packed_size(&se);
    rec.value.data = malloc(rec.value.len);
    lithair__v1__session__pack(&se, rec.value.data);
    Lithair__V1__RecordReply rr = LITHAIR__V1__RECORD_REPLY__INIT;
    rr.record = &rec;
    size_t n = lithair__v1__record_reply__get_packed_size(&rr);
    uint8_t *buf = malloc(n ? n : 1);
    lithair__v1__record_reply__pack(&rr, buf);
    free(rec.value.data);
    if (fake_during_get) /* the answer is read; the logout lands before it is used */
        fake_during_get();
    *resp = protobuf_c_message_unpack(&lithair__v1__record_reply__descriptor, NULL, n, buf);
    free(buf);
    return *resp ? 0 : LT_ECORRUPT;
}

/* ---- the expired-session sweep */
#define LIVE 1000 /* live sessions: exactly one page of the sweep's List */
static bool expired_deleted;
static unsigned deletes;

static Lithair__V1__Record *session_record(const char *id, int64_t expires)
{
    Lithair__V1__Timestamp exp = LITHAIR__V1__TIMESTAMP__INIT;
    exp.seconds = expires;
    Lithair__V1__Session se = LITHAIR__V1__SESSION__INIT;
    se.id = (char *)id;
    se.user_id = "viewer";
    se.role = LITHAIR__V1__ROLE__ROLE_VIEWER;
    se.expires_at = &exp;
    Lithair__V1__Record *rec = malloc(sizeof(*rec));
    lithair__v1__record__init(rec);
    rec->value.len = lithair__v1__session__get_packed_size(&se);
    rec->value.data = malloc(rec->value.len);
    lithair__v1__session__pack(&se, rec->value.data);
    return rec;
}

/* Models/List of sessions in key order: page 1 holds LIVE live sessions ("a000"...),
 * page 2 one that expired an hour ago ("z") until it is deleted. */
static int fake_sessions_list(const Lithair__V1__ListRequest *lq, ProtobufCMessage **resp)
{
    if (strcmp(lq->model, "sessions") != 0)
        return LT_EIO;
    Lithair__V1__ListReply lr = LITHAIR__V1__LIST_REPLY__INIT;
    Lithair__V1__Record *recs[LIVE + 1];
    size_t n = 0;
    int64_t now = (int64_t)time(NULL);
    char next[8] = "";
    bool page2 = lq->cursor && strcmp(lq->cursor, "a999") == 0;
    if (!page2) {
        for (unsigned i = 0; i < LIVE && n < (lq->limit ? lq->limit : 100); i++) {
            char id[8];
            snprintf(id, sizeof(id), "a%03u", i);
            recs[n++] = session_record(id, now + 3600);
        }
        if (!expired_deleted)
            snprintf(next, sizeof(next), "a999");
    } else if (!expired_deleted) {
        recs[n++] = session_record("z", now - 3600);
    }
    lr.n_records = n;
    lr.records = recs;
    lr.next_cursor = next;
    lr.total = LIVE + !expired_deleted;
    size_t len = lithair__v1__list_reply__get_packed_size(&lr);
    uint8_t *buf = malloc(len ? len : 1);
    lithair__v1__list_reply__pack(&lr, buf);
    for (size_t i = 0; i < n; i++) {
        free(recs[i]->value.data);
        free(recs[i]);
    }
    *resp = protobuf_c_message_unpack(&lithair__v1__list_reply__descriptor, NULL, len, buf);
    free(buf);
    return *resp ? 0 : LT_ECORRUPT;
}

/* ---- the firewall rule cache */
static int n_stored; /* rules in the cluster: 0, or 1 once the rule was added */
static int lists;

/* Models/List of firewall_rules. The first read takes the cluster's answer (no rule),
 * then, before it is stored, the rule is added and a second read (the add's own, on
 * another thread) runs whole and stores the new list. */
static int fake_rules_list(ProtobufCMessage **resp)
{
    int have = n_stored;
    if (++lists == 1) {
        n_stored = 1;
        CU_ASSERT_EQUAL(sec_reload_rules(fake_gw.security), 0);
    }
    Lithair__V1__FirewallRule fr = LITHAIR__V1__FIREWALL_RULE__INIT;
    fr.id = "r1";
    fr.cidr = "10.0.0.0/8";
    fr.action = LITHAIR__V1__FIREWALL_RULE__ACTION__DENY;
    Lithair__V1__Record rec = LITHAIR__V1__RECORD__INIT;
    rec.value.len = lithair__v1__firewall_rule__get_packed_size(&fr);
    rec.value.data = malloc(rec.value.len);
    lithair__v1__firewall_rule__pack(&fr, rec.value.data);
    Lithair__V1__Record *recs[1] = {&rec};
    Lithair__V1__ListReply lr = LITHAIR__V1__LIST_REPLY__INIT;
    lr.n_records = (size_t)have;
    lr.records = recs;
    size_t len = lithair__v1__list_reply__get_packed_size(&lr);
    uint8_t *buf = malloc(len ? len : 1);
    lithair__v1__list_reply__pack(&lr, buf);
    free(rec.value.data);
    *resp = protobuf_c_message_unpack(&lithair__v1__list_reply__descriptor, NULL, len, buf);
    free(buf);
    return *resp ? 0 : LT_ECORRUPT;
}

int fake_rpc_call(struct rpc_client *c, const char *method, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc, unsigned timeout_ms,
                  ProtobufCMessage **resp, struct rpc_status *status)
{
    (void)c;
    (void)resp_desc;
    (void)timeout_ms;
    if (status)
        memset(status, 0, sizeof(*status));
    if (strcmp(method, "Models/Get") == 0)
        return fake_session_get(req, resp);
    if (strcmp(method, "Models/List") == 0) {
        const Lithair__V1__ListRequest *lq = (const Lithair__V1__ListRequest *)req;
        return strcmp(lq->model, "firewall_rules") == 0 ? fake_rules_list(resp)
                                                        : fake_sessions_list(lq, resp);
    }
    if (strcmp(method, "Models/Delete") == 0) {
        const Lithair__V1__DeleteRequest *d = (const Lithair__V1__DeleteRequest *)req;
        deletes++;
        if (strcmp(d->id, "z") == 0 && !expired_deleted) {
            expired_deleted = true;
            return 0;
        }
        return LT_ENOTFOUND;
    }
    return LT_EIO;
}

static const char *token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* what sec_logout does: the record deleted in the cluster, then the tombstone here */
static void logout_now(void)
{
    fake_session_exists = false;
    struct timespec ts = {0, 2000000}; /* the logout comes strictly after the lookup began */
    nanosleep(&ts, NULL);
    sec_forget(fake_gw.security, fake_session_id);
}

/* lookup: sec_session for a client at 127.0.0.1 */
static int lookup(struct gw_security *s, const char *tok, struct sess *v)
{
    unsigned retry = 0;
    return sec_session(s, tok, "127.0.0.1", v, &retry);
}

static void setup_security(void)
{
    memset(&fake_gw, 0, sizeof(fake_gw));
    CU_ASSERT_EQUAL_FATAL(sodium_init() < 0, 0);
    struct gw_security *s = calloc(1, sizeof(*s));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    s->g = &fake_gw;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->hash_mu, NULL);
    pthread_mutex_init(&s->add_mu, NULL);
    s->session_ttl_s = 3600;
    fake_gw.security = s;
    token_hash(token, fake_session_id);
    fake_session_exists = true;
    fake_during_get = NULL;
}

static void teardown_security(void)
{
    pthread_mutex_destroy(&fake_gw.security->mu);
    pthread_mutex_destroy(&fake_gw.security->hash_mu);
    pthread_mutex_destroy(&fake_gw.security->add_mu);
    free(fake_gw.security);
    fake_gw.security = NULL;
}

/* A lookup that read the session from the cluster while it was being logged out through
 * this gateway must not bring it back: the logout wins, for that lookup and every later
 * one (here the cache's oldest free slot comes before the tombstone's). */
static void test_logout_during_lookup(void)
{
    setup_security();
    struct gw_security *s = fake_gw.security;
    uint64_t now = lt_now_ns();
    for (size_t i = 0; i < SEC_SESSION_CACHE; i++) { /* a busy cache of other sessions */
        snprintf(s->cache[i].hash, sizeof(s->cache[i].hash), "other%zu", i);
        s->cache[i].expires_s = (int64_t)time(NULL) + 3600;
        s->cache[i].cached_ns = now;
    }
    s->cache[0].cached_ns = now - 2 * SEC_CACHE_NS; /* second oldest */
    s->cache[1].cached_ns = now - 3 * SEC_CACHE_NS; /* oldest: the tombstone goes here */
    fake_during_get = logout_now;
    struct sess v;
    CU_ASSERT_EQUAL(lookup(s, token, &v), LT_ENOTFOUND);
    fake_during_get = NULL;
    CU_ASSERT_EQUAL(lookup(s, token, &v), LT_ENOTFOUND);
    teardown_security();
}

/* Without a logout the session is found, and cached. */
static void test_lookup_caches(void)
{
    setup_security();
    struct sess v;
    CU_ASSERT_EQUAL(lookup(fake_gw.security, token, &v), 0);
    CU_ASSERT_STRING_EQUAL(v.user, "editor");
    fake_session_exists = false; /* deleted through another gateway: cached for 2 s */
    CU_ASSERT_EQUAL(lookup(fake_gw.security, token, &v), 0);
    sec_forget(fake_gw.security, fake_session_id); /* a logout here ends it at once */
    CU_ASSERT_EQUAL(lookup(fake_gw.security, token, &v), LT_ENOTFOUND);
    teardown_security();
}

/* Tokens this gateway has not seen valid cost their address a lookup (two cluster
 * reads): past the burst they are refused (LT_EBUSY) without a read, another address is
 * not; a valid session's lookup is given back, and one seen valid is never refused. */
static void test_unknown_token_lookups_limited(void)
{
    setup_security();
    struct gw_security *s = fake_gw.security;
    s->lookup.rate = 0.001; /* no refill within the test */
    s->lookup.burst = 3;
    struct sess v;
    CU_ASSERT_EQUAL(lookup(s, token, &v), 0); /* valid: given back */
    CU_ASSERT_EQUAL(s->session_reads, 1);
    char made_up[32];
    for (int i = 0; i < 3; i++) {
        snprintf(made_up, sizeof(made_up), "made-up-%d", i);
        CU_ASSERT_EQUAL(lookup(s, made_up, &v), LT_ENOTFOUND);
    }
    CU_ASSERT_EQUAL(s->session_reads, 7); /* two each */
    unsigned retry = 0;
    CU_ASSERT_EQUAL(sec_session(s, "made-up-3", "127.0.0.1", &v, &retry), LT_EBUSY);
    CU_ASSERT(retry >= 1);
    CU_ASSERT_EQUAL(s->session_reads, 7); /* refused before any read */
    CU_ASSERT_EQUAL(sec_session(s, "made-up-3", "127.0.0.2", &v, &retry), LT_ENOTFOUND);
    /* the valid session, past its time in the cache: read again, not refused */
    for (size_t i = 0; i < SEC_SESSION_CACHE; i++)
        if (strcmp(s->cache[i].hash, fake_session_id) == 0)
            s->cache[i].cached_ns -= 2 * SEC_CACHE_NS;
    CU_ASSERT_EQUAL(lookup(s, token, &v), 0);
    CU_ASSERT_EQUAL(s->session_reads, 10);
    teardown_security();
}

/* More live sessions than one page of the sweep must not hide the expired ones behind
 * them: they are deleted all the same, and no live one is. */
static void test_purge_past_first_page(void)
{
    setup_security();
    struct gw_security *s = fake_gw.security;
    for (int sweep = 0; sweep < 5 && !expired_deleted; sweep++) {
        s->purged_at_ns = 0; /* a sweep is due */
        sec_purge(s);
    }
    CU_ASSERT_TRUE(expired_deleted);
    CU_ASSERT_EQUAL(deletes, 1);
    CU_ASSERT_EQUAL(s->purged, 1);
    teardown_security();
}

/* A reload that read the rules before a change must not overwrite the rules a later
 * reload stored after it: a new rule is in force on the next request. */
static void test_stale_reload_loses(void)
{
    setup_security();
    struct gw_security *s = fake_gw.security;
    CU_ASSERT_EQUAL(sec_reload_rules(s), 0); /* the tick's, slow */
    CU_ASSERT_EQUAL(lists, 2);
    CU_ASSERT_EQUAL(s->n_rules, 1);
    CU_ASSERT_EQUAL(atomic_load(&s->n_rules_hint), 1);
    teardown_security();
}

/* fw_rule_of fills `r` with the rule `cidr` (which must parse). */
static void fw_rule_of(struct fw_rule *r, const char *cidr, bool allow)
{
    memset(r, 0, sizeof(*r));
    CU_ASSERT_EQUAL_FATAL(gw_cidr_parse(cidr, &r->family, r->addr, &r->prefix), 0);
    snprintf(r->cidr, sizeof(r->cidr), "%s", cidr);
    r->allow = allow;
}

/* fw_verdict: "allow", "deny" or "none" (no rule matches) for address `ip`. */
static const char *fw_verdict(const struct fw_rule *rules, size_t n, const char *ip)
{
    int fam;
    uint8_t a[16];
    unsigned prefix;
    CU_ASSERT_EQUAL_FATAL(gw_cidr_parse(ip, &fam, a, &prefix), 0);
    const struct fw_rule *r = fw_decide_in(rules, n, fam, a);
    return !r ? "none" : r->allow ? "allow" : "deny";
}

/* IPv6 rules and IPv4 clients: an IPv6 network that holds ::ffff:a.b.c.d holds a.b.c.d
 * (::/0 matched no IPv4 client, while the ::ffff:0:0/96 inside it matched all of them),
 * and rules of both families compare by how specific they are (an IPv4 /n is an IPv6
 * /(96+n)): a /95 had won over every IPv4 rule. */
static void test_v6_rules_hold_v4_clients(void)
{
    struct fw_rule r[3];
    fw_rule_of(&r[0], "::/0", false);
    CU_ASSERT_STRING_EQUAL(fw_verdict(r, 1, "203.0.113.9"), "deny");
    CU_ASSERT_STRING_EQUAL(fw_verdict(r, 1, "2001:db8::1"), "deny");
    fw_rule_of(&r[1], "10.0.0.0/8", true); /* more specific than ::/0 */
    CU_ASSERT_STRING_EQUAL(fw_verdict(r, 2, "10.1.2.3"), "allow");
    CU_ASSERT_STRING_EQUAL(fw_verdict(r, 2, "11.1.2.3"), "deny");
    fw_rule_of(&r[0], "::fffe:0:0/95", true);  /* holds every ::ffff:a.b.c.d */
    fw_rule_of(&r[1], "0.0.0.0/0", false);     /* ::ffff:0:0/96: more specific */
    fw_rule_of(&r[2], "2001:db8::/32", false); /* holds no IPv4 address */
    CU_ASSERT_STRING_EQUAL(fw_verdict(r, 1, "198.51.100.1"), "allow");
    CU_ASSERT_STRING_EQUAL(fw_verdict(r, 2, "198.51.100.1"), "deny");
    CU_ASSERT_STRING_EQUAL(fw_verdict(&r[2], 1, "198.51.100.1"), "none");
    fw_rule_of(&r[0], "::ffff:0:0/96", true); /* the same network as 0.0.0.0/0: deny wins */
    CU_ASSERT_STRING_EQUAL(fw_verdict(r, 2, "198.51.100.1"), "deny");
    CU_ASSERT_EQUAL(fw_span(AF_INET, 8), 104);
    CU_ASSERT_EQUAL(fw_span(AF_INET6, 95), 95);
}

static const struct lt_test security_tests[] = {
    {"IPv6 rules hold the IPv4 clients they name", test_v6_rules_hold_v4_clients},
    {"session lookup caches", test_lookup_caches},
    {"unknown token lookups are limited per address", test_unknown_token_lookups_limited},
    {"a logout during a session lookup wins", test_logout_during_lookup},
    {"expired sessions past the first page are deleted", test_purge_past_first_page},
    {"a stale reload does not undo a newer one", test_stale_reload_loses},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"gw_security", NULL, NULL, security_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
