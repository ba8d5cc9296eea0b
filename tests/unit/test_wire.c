/* test_wire.c — the schemas and the wire helpers: method lookup, status codes, error
 * mapping, and pack/unpack round trips of the messages every component exchanges. */
#include <string.h>

#include "cunit_main.h"
#include "lt_err.h"
#include "wire.h"

static void test_method_find(void)
{
    struct wire_method m;
    CU_ASSERT_TRUE(wire_method_find("Models/Create", &m));
    CU_ASSERT_STRING_EQUAL(m.name, "Models/Create");
    CU_ASSERT_PTR_EQUAL(m.input, &lithair__v1__create_request__descriptor);
    CU_ASSERT_PTR_EQUAL(m.output, &lithair__v1__record_reply__descriptor);
    CU_ASSERT_TRUE(wire_method_find("Cluster/Status", &m));
    CU_ASSERT_PTR_EQUAL(m.output, &lithair__v1__node_status__descriptor);
    CU_ASSERT_TRUE(wire_method_find("Rpc/Batch", &m));
    CU_ASSERT_FALSE(wire_method_find("Models/Nope", &m));
    CU_ASSERT_FALSE(wire_method_find("Model/Create", &m));
    CU_ASSERT_FALSE(wire_method_find("ModelsCreate", &m));
    CU_ASSERT_FALSE(wire_method_find("", &m));
    CU_ASSERT_FALSE(wire_method_find(NULL, &m));
}

static void test_method_enumerate(void)
{
    size_t n = wire_method_count();
    CU_ASSERT(n >= 14);
    for (size_t i = 0; i < n; i++) {
        struct wire_method a, b;
        CU_ASSERT_TRUE_FATAL(wire_method_at(i, &a));
        CU_ASSERT_TRUE(wire_method_find(a.name, &b));
        CU_ASSERT_STRING_EQUAL(a.name, b.name);
    }
    struct wire_method none;
    CU_ASSERT_FALSE(wire_method_at(n, &none));
}

static void test_codes(void)
{
    CU_ASSERT_STRING_EQUAL(wire_code_name(LITHAIR__V1__CODE__NOT_FOUND), "NOT_FOUND");
    CU_ASSERT_STRING_EQUAL(wire_code_name(999), "UNKNOWN");
    CU_ASSERT_EQUAL(wire_code_parse("unavailable"), LITHAIR__V1__CODE__UNAVAILABLE);
    CU_ASSERT_EQUAL(wire_code_parse("nonsense"), -1);
    CU_ASSERT_EQUAL(LITHAIR__V1__CODE__UNAUTHENTICATED, 16); /* gRPC's numbering */
    CU_ASSERT_EQUAL(wire_code_from_err(LT_OK), LITHAIR__V1__CODE__OK);
    CU_ASSERT_EQUAL(wire_code_from_err(LT_ECONFLICT), LITHAIR__V1__CODE__ABORTED);
    CU_ASSERT_EQUAL(wire_code_from_err(LT_ENOTLEADER), LITHAIR__V1__CODE__UNAVAILABLE);
    CU_ASSERT_EQUAL(wire_code_from_err(LT_EBUSY), LITHAIR__V1__CODE__RESOURCE_EXHAUSTED);
    CU_ASSERT_EQUAL(wire_code_from_err(-4242), LITHAIR__V1__CODE__INTERNAL);
}

static void test_raft_batch_roundtrip(void)
{
    Lithair__Raft__V1__Entry e[2] = {LITHAIR__RAFT__V1__ENTRY__INIT,
                                     LITHAIR__RAFT__V1__ENTRY__INIT};
    Lithair__Raft__V1__Entry *ep[2] = {&e[0], &e[1]};
    uint8_t data[3] = {1, 2, 3};
    e[0].term = 3;
    e[0].index = 10;
    e[0].data.data = data;
    e[0].data.len = 3;
    e[1].term = 3;
    e[1].index = 11;
    e[1].type = LITHAIR__RAFT__V1__ENTRY_TYPE__ENTRY_NOOP;
    Lithair__Raft__V1__Message msg = LITHAIR__RAFT__V1__MESSAGE__INIT;
    Lithair__Raft__V1__Message *mp = &msg;
    msg.type = LITHAIR__RAFT__V1__MESSAGE_TYPE__MSG_APPEND;
    msg.from = 1;
    msg.to = 2;
    msg.term = 3;
    msg.index = 9;
    msg.log_term = 2;
    msg.n_entries = 2;
    msg.entries = ep;
    msg.commit = 8;
    Lithair__Raft__V1__Batch batch = LITHAIR__RAFT__V1__BATCH__INIT;
    batch.n_messages = 1;
    batch.messages = &mp;

    size_t len = lithair__raft__v1__batch__get_packed_size(&batch);
    uint8_t buf[256];
    CU_ASSERT_FATAL(len < sizeof(buf));
    CU_ASSERT_EQUAL(lithair__raft__v1__batch__pack(&batch, buf), len);
    Lithair__Raft__V1__Batch *out = lithair__raft__v1__batch__unpack(NULL, len, buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_EQUAL_FATAL(out->n_messages, 1);
    Lithair__Raft__V1__Message *m = out->messages[0];
    CU_ASSERT_EQUAL(m->type, LITHAIR__RAFT__V1__MESSAGE_TYPE__MSG_APPEND);
    CU_ASSERT_EQUAL(m->index, 9);
    CU_ASSERT_EQUAL(m->commit, 8);
    CU_ASSERT_EQUAL_FATAL(m->n_entries, 2);
    CU_ASSERT_EQUAL(m->entries[0]->data.len, 3);
    CU_ASSERT_EQUAL(memcmp(m->entries[0]->data.data, data, 3), 0);
    CU_ASSERT_EQUAL(m->entries[1]->type, LITHAIR__RAFT__V1__ENTRY_TYPE__ENTRY_NOOP);
    lithair__raft__v1__batch__free_unpacked(out, NULL);

    /* A truncated buffer is an error, never a crash. */
    CU_ASSERT_PTR_NULL(lithair__raft__v1__batch__unpack(NULL, len - 1, buf));
}

static void test_item_roundtrip(void)
{
    Lithair__V1__Timestamp ts = LITHAIR__V1__TIMESTAMP__INIT;
    ts.seconds = 1795000000;
    ts.nanos = 5;
    Lithair__V1__PlaygroundItem item = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
    item.id = "5f0e7a7e-1111-4222-8333-444455556666";
    item.name = "Item 1";
    item.status = LITHAIR__V1__PLAYGROUND_ITEM__STATUS__ACTIVE;
    item.metadata = "{\"k\":[1,2]}";
    item.created_at = &ts;
    item.version = 7;
    uint8_t buf[256];
    size_t len = lithair__v1__playground_item__pack(&item, buf);
    Lithair__V1__PlaygroundItem *out = lithair__v1__playground_item__unpack(NULL, len, buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_STRING_EQUAL(out->id, item.id);
    CU_ASSERT_STRING_EQUAL(out->name, "Item 1");
    CU_ASSERT_STRING_EQUAL(out->description, "");
    CU_ASSERT_EQUAL(out->status, LITHAIR__V1__PLAYGROUND_ITEM__STATUS__ACTIVE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out->created_at);
    CU_ASSERT_EQUAL(out->created_at->seconds, 1795000000);
    CU_ASSERT_PTR_NULL(out->updated_at);
    CU_ASSERT_EQUAL(out->version, 7);
    lithair__v1__playground_item__free_unpacked(out, NULL);
}

static const struct lt_test wire_tests[] = {
    {"method lookup by name", test_method_find},
    {"every method enumerates and resolves", test_method_enumerate},
    {"status codes and error mapping", test_codes},
    {"raft batch round trip", test_raft_batch_roundtrip},
    {"playground item round trip", test_item_roundtrip},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"wire", NULL, NULL, wire_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
