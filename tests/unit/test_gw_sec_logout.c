/* test_gw_sec_logout.c — the gateway's session cache (gw_security.c) against a fake cluster:
 * gw_security.c is compiled into this test with its RPCs sent to fake_rpc_call, so that
 * a logout can be made to land while a lookup reads the cluster. */
#include <string.h>

#include "cunit_main.h"

#define rpc_call fake_rpc_call
#include "../../gateway/gw_security.c"
#undef rpc_call

/* The fake cluster: one session record, or none (after its logout). */
static struct gw fake_gw;
static bool fake_session_exists;
static char fake_session_id[65];
static void (*fake_during_get)(void); /* runs inside the Models/Get of a session */

int fake_rpc_call(struct rpc_client *c, const char *method, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc, unsigned timeout_ms,
                  ProtobufCMessage **resp, struct rpc_status *status)
{
    (void)c;
    (void)resp_desc;
    (void)timeout_ms;
    if (status)
        memset(status, 0, sizeof(*status));
    if (strcmp(method, "Models/Get") != 0)
        return LT_EIO;
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

static const char *token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* what sec_logout does: the record deleted in the cluster, then the tombstone here */
static void logout_now(void)
{
    fake_session_exists = false;
    struct timespec ts = {0, 2000000}; /* the logout comes strictly after the lookup began */
    nanosleep(&ts, NULL);
    sec_forget(fake_gw.security, fake_session_id);
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
    CU_ASSERT_EQUAL(sec_session(s, token, &v), LT_ENOTFOUND);
    fake_during_get = NULL;
    CU_ASSERT_EQUAL(sec_session(s, token, &v), LT_ENOTFOUND);
    teardown_security();
}

/* Without a logout the session is found, and cached. */
static void test_lookup_caches(void)
{
    setup_security();
    struct sess v;
    CU_ASSERT_EQUAL(sec_session(fake_gw.security, token, &v), 0);
    CU_ASSERT_STRING_EQUAL(v.user, "editor");
    fake_session_exists = false; /* deleted through another gateway: cached for 2 s */
    CU_ASSERT_EQUAL(sec_session(fake_gw.security, token, &v), 0);
    sec_forget(fake_gw.security, fake_session_id); /* a logout here ends it at once */
    CU_ASSERT_EQUAL(sec_session(fake_gw.security, token, &v), LT_ENOTFOUND);
    teardown_security();
}

static const struct lt_test security_tests[] = {
    {"session lookup caches", test_lookup_caches},
    {"a logout during a session lookup wins", test_logout_during_lookup},
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
