/* test_gw_sec_rules.c — the firewall rule cache (gw_security.c) against a fake cluster:
 * gw_security.c is compiled into this test with its RPCs sent to fake_rpc_call. */
#include <string.h>

#include "cunit_main.h"

#define rpc_call fake_rpc_call
#include "../../gateway/gw_security.c"
#undef rpc_call

static struct gw fake_gw;
static int n_stored; /* rules in the cluster: 0, or 1 once the rule was added */
static int lists;

/* Models/List of firewall_rules. The first read takes the cluster's answer (no rule),
 * then, before it is stored, the rule is added and a second read (the add's own, on
 * another thread) runs whole and stores the new list. */
int fake_rpc_call(struct rpc_client *c, const char *method, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc, unsigned timeout_ms,
                  ProtobufCMessage **resp, struct rpc_status *status)
{
    (void)c;
    (void)req;
    (void)resp_desc;
    (void)timeout_ms;
    if (status)
        memset(status, 0, sizeof(*status));
    if (strcmp(method, "Models/List") != 0)
        return LT_EIO;
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

/* A reload that read the rules before a change must not overwrite the rules a later
 * reload stored after it: a new rule is in force on the next request. */
static void test_stale_reload_loses(void)
{
    memset(&fake_gw, 0, sizeof(fake_gw));
    struct gw_security *s = calloc(1, sizeof(*s));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    s->g = &fake_gw;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->hash_mu, NULL);
    fake_gw.security = s;
    CU_ASSERT_EQUAL(sec_reload_rules(s), 0); /* the tick's, slow */
    CU_ASSERT_EQUAL(lists, 2);
    CU_ASSERT_EQUAL(s->n_rules, 1);
    CU_ASSERT_EQUAL(atomic_load(&s->n_rules_hint), 1);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->hash_mu);
    free(s);
}

static const struct lt_test rules_tests[] = {
    {"a stale reload does not undo a newer one", test_stale_reload_loses},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"gw_sec_rules", NULL, NULL, rules_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
