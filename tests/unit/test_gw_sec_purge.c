/* test_gw_sec_purge.c — the sweep of expired sessions (gw_security.c) against a fake
 * cluster: gw_security.c is compiled into this test with its RPCs sent to fake_rpc_call. */
#include <string.h>

#include "cunit_main.h"

#define rpc_call fake_rpc_call
#include "../../gateway/gw_security.c"
#undef rpc_call

#define LIVE 1000 /* live sessions: exactly one page of the sweep's List */

static struct gw fake_gw;
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
static int fake_list(const Lithair__V1__ListRequest *lq, ProtobufCMessage **resp)
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

int fake_rpc_call(struct rpc_client *c, const char *method, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc, unsigned timeout_ms,
                  ProtobufCMessage **resp, struct rpc_status *status)
{
    (void)c;
    (void)resp_desc;
    (void)timeout_ms;
    if (status)
        memset(status, 0, sizeof(*status));
    if (strcmp(method, "Models/List") == 0)
        return fake_list((const Lithair__V1__ListRequest *)req, resp);
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

/* More live sessions than one page of the sweep must not hide the expired ones behind
 * them: they are deleted all the same, and no live one is. */
static void test_purge_past_first_page(void)
{
    memset(&fake_gw, 0, sizeof(fake_gw));
    struct gw_security *s = calloc(1, sizeof(*s));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    s->g = &fake_gw;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->hash_mu, NULL);
    s->session_ttl_s = 3600;
    fake_gw.security = s;
    for (int sweep = 0; sweep < 5 && !expired_deleted; sweep++) {
        s->purged_at_ns = 0; /* a sweep is due */
        sec_purge(s);
    }
    CU_ASSERT_TRUE(expired_deleted);
    CU_ASSERT_EQUAL(deletes, 1);
    CU_ASSERT_EQUAL(s->purged, 1);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->hash_mu);
    free(s);
}

static const struct lt_test purge_tests[] = {
    {"expired sessions past the first page are deleted", test_purge_past_first_page},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"gw_sec_purge", NULL, NULL, purge_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
