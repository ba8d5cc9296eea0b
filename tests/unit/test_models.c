/* test_models.c — the declarative model table and the leader-side prepare step: the table
 * matches the protobuf descriptors, validation reports every failing field by its JSON
 * name, and the Commands built decode to what was asked. Applying them is test_store.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "lt_err.h"
#include "models.h"

static const uint64_t NOW = 1796000000123456789ull;

static uint8_t *item_pack(const char *id, const char *name, int status, const char *metadata,
                          const char *description, size_t *len)
{
    Lithair__V1__PlaygroundItem it = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
    uint8_t *buf;
    it.id = (char *)id;
    it.name = (char *)name;
    it.status = status;
    it.metadata = (char *)metadata;
    it.description = (char *)description;
    *len = lithair__v1__playground_item__get_packed_size(&it);
    buf = malloc(*len + 1);
    lithair__v1__playground_item__pack(&it, buf);
    return buf;
}

static bool has_violation(const struct model_violations *v, const char *field, const char *text)
{
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->v[i].field, field) == 0 && strstr(v->v[i].description, text) != NULL)
            return true;
    }
    return false;
}

static const ProtobufCFieldDescriptor *field_or_null(const struct model *m, const char *name)
{
    return name != NULL ? protobuf_c_message_descriptor_get_field_by_name(m->desc, name) : NULL;
}

static void test_table_sanity(void)
{
    CU_ASSERT_TRUE_FATAL(models_count() >= 4);
    CU_ASSERT_PTR_NULL(models_at(models_count()));
    CU_ASSERT_PTR_NULL(models_find("nope"));
    CU_ASSERT_PTR_NULL(models_find(NULL));
    for (size_t i = 0; i < models_count(); i++) {
        const struct model *m = models_at(i);
        const ProtobufCFieldDescriptor *fd;
        CU_ASSERT_PTR_NOT_NULL_FATAL(m->desc);
        CU_ASSERT_PTR_EQUAL(models_find(m->name), m);
        for (size_t j = 0; j < i; j++)
            CU_ASSERT_STRING_NOT_EQUAL(models_at(j)->name, m->name);
        /* primary key: a string */
        fd = field_or_null(m, m->pk);
        CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
        CU_ASSERT_EQUAL(fd->type, PROTOBUF_C_TYPE_STRING);
        CU_ASSERT_TRUE(models_is_immutable(m, m->pk));
        /* indexes: scalar fields the store can turn into keys */
        for (size_t j = 0; j < MODELS_MAX_INDEXES && m->indexes[j] != NULL; j++) {
            fd = field_or_null(m, m->indexes[j]);
            CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
            CU_ASSERT_NOT_EQUAL(fd->label, PROTOBUF_C_LABEL_REPEATED);
            CU_ASSERT(fd->type != PROTOBUF_C_TYPE_MESSAGE && fd->type != PROTOBUF_C_TYPE_BYTES &&
                      fd->type != PROTOBUF_C_TYPE_FLOAT && fd->type != PROTOBUF_C_TYPE_DOUBLE);
        }
        CU_ASSERT_PTR_NULL(m->indexes[MODELS_MAX_INDEXES]);
        fd = field_or_null(m, m->version);
        CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
        CU_ASSERT_EQUAL(fd->type, PROTOBUF_C_TYPE_UINT64);
        fd = field_or_null(m, m->created_at);
        CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
        CU_ASSERT_PTR_EQUAL(fd->descriptor, &lithair__v1__timestamp__descriptor);
        fd = field_or_null(m, m->updated_at);
        CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
        CU_ASSERT_PTR_EQUAL(fd->descriptor, &lithair__v1__timestamp__descriptor);
        for (size_t j = 0; j < 4 && m->immutable[j] != NULL; j++)
            CU_ASSERT_PTR_NOT_NULL(field_or_null(m, m->immutable[j]));
        for (size_t j = 0; j < 4 && m->json_fields[j] != NULL; j++) {
            fd = field_or_null(m, m->json_fields[j]);
            CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
            CU_ASSERT_EQUAL(fd->type, PROTOBUF_C_TYPE_STRING);
        }
        if (m->benchmark != NULL) {
            fd = field_or_null(m, m->benchmark);
            CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
            CU_ASSERT_EQUAL(fd->type, PROTOBUF_C_TYPE_BOOL);
        }
        for (size_t j = 0; j < m->n_rules; j++) {
            fd = field_or_null(m, m->rules[j].field);
            CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
            if (m->rules[j].flags & MODEL_RULE_ENUM_RANGE)
                CU_ASSERT_EQUAL(fd->type, PROTOBUF_C_TYPE_ENUM);
            if (m->rules[j].max_len != 0 || (m->rules[j].flags & MODEL_RULE_NON_EMPTY))
                CU_ASSERT(fd->type == PROTOBUF_C_TYPE_STRING || fd->type == PROTOBUF_C_TYPE_BYTES);
        }
        for (size_t j = 0; j < 4 && m->hidden[j] != NULL; j++)
            CU_ASSERT_PTR_NOT_NULL(field_or_null(m, m->hidden[j]));
        CU_ASSERT(m->history_depth <= 64);
        /* generic code swaps singular fields: no oneofs in models */
        for (unsigned j = 0; j < m->desc->n_fields; j++)
            CU_ASSERT_EQUAL(m->desc->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF, 0);
    }
    /* the spec's declarations */
    const struct model *items = models_find("items");
    CU_ASSERT_PTR_NOT_NULL_FATAL(items);
    CU_ASSERT_PTR_EQUAL(items->desc, &lithair__v1__playground_item__descriptor);
    CU_ASSERT_STRING_EQUAL(items->indexes[0], "name");
    CU_ASSERT_STRING_EQUAL(items->indexes[1], "status");
    CU_ASSERT_EQUAL(items->history_depth, 16);
    CU_ASSERT_STRING_EQUAL(models_find("sessions")->indexes[0], "user_id");
    CU_ASSERT_PTR_NOT_NULL(models_find("users"));
    CU_ASSERT_PTR_NOT_NULL(models_find("firewall_rules"));
}

static void test_field_names(void)
{
    const struct model *items = models_find("items");
    char buf[64];
    models_json_name("created_at", buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "createdAt");
    models_json_name("password_hash", buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "passwordHash");
    models_json_name("id", buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "id");
    CU_ASSERT_PTR_EQUAL(models_field(items, "createdAt"), models_field(items, "created_at"));
    CU_ASSERT_PTR_NOT_NULL(models_field(items, "updatedAt"));
    CU_ASSERT_PTR_NULL(models_field(items, "nope"));
    CU_ASSERT_TRUE(models_is_immutable(items, "created_at"));
    CU_ASSERT_FALSE(models_is_immutable(items, "name"));
    CU_ASSERT_TRUE(models_is_managed(items, "version"));
    CU_ASSERT_TRUE(models_is_managed(items, "updated_at"));
    CU_ASSERT_FALSE(models_is_managed(items, "benchmark"));
    CU_ASSERT_TRUE(models_is_hidden(models_find("users"), "password_hash"));
    CU_ASSERT_FALSE(models_is_hidden(models_find("users"), "role"));
    CU_ASSERT_FALSE(models_is_hidden(items, "name"));
}

static void test_index_values(void)
{
    const struct model *items = models_find("items");
    const ProtobufCFieldDescriptor *status = models_field(items, "status");
    const ProtobufCFieldDescriptor *bench = models_field(items, "benchmark");
    char out[64];
    Lithair__V1__PlaygroundItem it = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
    it.status = LITHAIR__V1__PLAYGROUND_ITEM__STATUS__ARCHIVED;
    CU_ASSERT_EQUAL(models_index_value(&it.base, status, out, sizeof(out)), 0);
    CU_ASSERT_STRING_EQUAL(out, "ARCHIVED");
    it.status = 42;
    CU_ASSERT_EQUAL(models_index_value(&it.base, status, out, sizeof(out)), 0);
    CU_ASSERT_STRING_EQUAL(out, "42");
    CU_ASSERT_EQUAL(models_index_normalize(status, "active", out, sizeof(out)), 0);
    CU_ASSERT_STRING_EQUAL(out, "ACTIVE");
    CU_ASSERT_EQUAL(models_index_normalize(status, "2", out, sizeof(out)), 0);
    CU_ASSERT_STRING_EQUAL(out, "ARCHIVED");
    CU_ASSERT_EQUAL(models_index_normalize(status, "7", out, sizeof(out)), LT_EINVAL);
    CU_ASSERT_EQUAL(models_index_normalize(status, "nope", out, sizeof(out)), LT_EINVAL);
    CU_ASSERT_EQUAL(models_index_normalize(bench, "TRUE", out, sizeof(out)), 0);
    CU_ASSERT_STRING_EQUAL(out, "true");
    it.benchmark = 1;
    CU_ASSERT_TRUE(models_is_benchmark(items, &it.base));
    CU_ASSERT_FALSE(models_is_benchmark(models_find("users"), &it.base));
}

/* The random part of generated ids (the last 62 bits: after the variant, 14 hex digits)
 * differs between ids across several refills of the per-thread random pool (32 ids a
 * refill), and is never all zeros. */
static void test_uuid_random_bits(void)
{
    const struct model *items = models_find("items");
    size_t len;
    uint8_t *v = item_pack("", "lamp", 1, "", "", &len);
    enum { N = 200 };
    static char tails[N][18];
    for (int i = 0; i < N; i++) {
        struct model_violations viol = {0};
        struct model_prepared p = {0};
        CU_ASSERT_EQUAL_FATAL(models_prepare_create(items, v, len, NOW, 7, &viol, &p), 0);
        snprintf(tails[i], sizeof(tails[i]), "%.4s%.12s", p.id + 19, p.id + 24);
        CU_ASSERT_STRING_NOT_EQUAL(tails[i] + 1, "000000000000000");
        for (int k = 0; k < i; k++)
            CU_ASSERT_STRING_NOT_EQUAL(tails[i], tails[k]);
        models_prepared_fini(&p);
    }
    free(v);
}

/* The 12 bits after the version (rand_a) hold a counter that starts each millisecond at a
 * random value below 2048: over ids of distinct milliseconds they vary, their top bit is
 * clear, and ids of one millisecond still count up from there. */
static void test_uuid_counter_random_start(void)
{
    const struct model *items = models_find("items");
    size_t len;
    uint8_t *v = item_pack("", "lamp", 1, "", "", &len);
    enum { N = 64 };
    unsigned seen[N];
    size_t distinct = 0;
    uint64_t base = NOW + 3600ull * 1000000000u; /* past every id the other tests made */
    for (int i = 0; i < N; i++) {
        struct model_violations viol = {0};
        struct model_prepared p = {0}, q = {0};
        uint64_t at = base + (uint64_t)i * 1000000u;
        CU_ASSERT_EQUAL_FATAL(models_prepare_create(items, v, len, at, 7, &viol, &p), 0);
        CU_ASSERT_EQUAL_FATAL(models_prepare_create(items, v, len, at, 7, &viol, &q), 0);
        unsigned a = (unsigned)strtoul(p.id + 15, NULL, 16),
                 b = (unsigned)strtoul(q.id + 15, NULL, 16);
        CU_ASSERT_TRUE(a < 2048);
        CU_ASSERT_EQUAL(b, a + 1); /* the same millisecond counts on */
        CU_ASSERT_NSTRING_EQUAL(p.id, q.id, 13);
        size_t k = 0;
        while (k < distinct && seen[k] != a)
            k++;
        if (k == distinct)
            seen[distinct++] = a;
        models_prepared_fini(&p);
        models_prepared_fini(&q);
    }
    CU_ASSERT_TRUE(distinct > N / 2); /* 64 draws from 2048: a repeat or two at most */
    free(v);
}

static void test_prepare_create(void)
{
    const struct model *items = models_find("items");
    struct model_violations viol = {0};
    struct model_prepared p = {0};
    size_t len;
    uint8_t *v = item_pack("", "lamp", 1, "{\"a\": [1, 2]}", "", &len);
    CU_ASSERT_EQUAL_FATAL(models_prepare_create(items, v, len, NOW, 7, &viol, &p), 0);
    CU_ASSERT_EQUAL(viol.n, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p.id);
    CU_ASSERT_EQUAL(strlen(p.id), 36);
    CU_ASSERT_EQUAL(p.id[14], '7');                   /* UUID version 7: time-ordered */
    CU_ASSERT_TRUE(strchr("89ab", p.id[19]) != NULL); /* RFC 9562 variant */
    {
        /* The first 48 bits are NOW in milliseconds, and ids from one process increase
         * strictly, even within one millisecond and when the clock steps back. */
        char ms_hex[13];
        snprintf(ms_hex, sizeof(ms_hex), "%08x%04x", (unsigned)((NOW / 1000000u) >> 16),
                 (unsigned)((NOW / 1000000u) & 0xffff));
        CU_ASSERT_NSTRING_EQUAL(p.id, ms_hex, 8);
        CU_ASSERT_NSTRING_EQUAL(p.id + 9, ms_hex + 8, 4);
        char prev[37];
        snprintf(prev, sizeof(prev), "%s", p.id);
        uint64_t clocks[] = {NOW, NOW, NOW + 1000, NOW - 5000000000ull, NOW + 1000000};
        for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
            struct model_prepared q = {0};
            struct model_violations qv = {0};
            CU_ASSERT_EQUAL_FATAL(models_prepare_create(items, v, len, clocks[i], 7, &qv, &q), 0);
            CU_ASSERT_TRUE(strcmp(q.id, prev) > 0);
            snprintf(prev, sizeof(prev), "%s", q.id);
            models_prepared_fini(&q);
        }
    }
    Lithair__V1__Command *c = lithair__v1__command__unpack(NULL, p.cmd_len, p.cmd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->op_case, LITHAIR__V1__COMMAND__OP_PUT);
    CU_ASSERT_EQUAL(c->proposer, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->at);
    CU_ASSERT_EQUAL(c->at->seconds, (int64_t)(NOW / 1000000000u));
    CU_ASSERT_EQUAL(c->at->nanos, (int32_t)(NOW % 1000000000u));
    CU_ASSERT_STRING_EQUAL(c->put->model, "items");
    CU_ASSERT_TRUE(c->put->create);
    CU_ASSERT_FALSE(c->put->update);
    Lithair__V1__PlaygroundItem *it =
        lithair__v1__playground_item__unpack(NULL, c->put->value.len, c->put->value.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(it);
    CU_ASSERT_STRING_EQUAL(it->id, p.id);
    CU_ASSERT_STRING_EQUAL(it->name, "lamp");
    lithair__v1__playground_item__free_unpacked(it, NULL);
    lithair__v1__command__free_unpacked(c, NULL);
    models_prepared_fini(&p);
    free(v);

    /* two creates get two different ids */
    struct model_prepared a = {0}, b = {0};
    v = item_pack("", "x", 0, "", "", &len);
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, NULL, &a), 0);
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, NULL, &b), 0);
    CU_ASSERT_STRING_NOT_EQUAL(a.id, b.id);
    models_prepared_fini(&a);
    models_prepared_fini(&b);
    free(v);

    /* a given id is kept */
    v = item_pack("my-id", "x", 0, "", "", &len);
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, NULL, &a), 0);
    CU_ASSERT_STRING_EQUAL(a.id, "my-id");
    models_prepared_fini(&a);
    models_prepared_fini(NULL);
    free(v);
}

/* json_tokener_new, wrapped at link time (see CMakeLists.txt): fails while fail_tokener. */
struct json_tokener;
struct json_tokener *__real_json_tokener_new(void);
struct json_tokener *__wrap_json_tokener_new(void);
static bool fail_tokener;
struct json_tokener *__wrap_json_tokener_new(void)
{
    return fail_tokener ? NULL : __real_json_tokener_new();
}

/* A JSON field check that cannot allocate says nothing against the value: LT_ENOMEM, not
 * LT_EINVAL "invalid value" (which a client would take as its fault). A real violation
 * beside it is still reported as one. */
static void test_validation_out_of_memory(void)
{
    const struct model *items = models_find("items");
    struct model_violations viol = {0};
    struct model_prepared p = {0};
    size_t len;
    uint8_t *v = item_pack("", "fine", 0, "{\"a\":1}", "", &len);
    fail_tokener = true;
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, &viol, &p), LT_ENOMEM);
    CU_ASSERT_TRUE(viol.oom);
    CU_ASSERT_EQUAL(viol.n, 0);
    CU_ASSERT_PTR_NULL(p.cmd);
    free(v);
    memset(&viol, 0, sizeof(viol));
    v = item_pack("", "", 0, "{\"a\":1}", "", &len);
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, &viol, &p), LT_EINVAL);
    CU_ASSERT_TRUE(has_violation(&viol, "name", "must not be empty"));
    fail_tokener = false;
    memset(&viol, 0, sizeof(viol));
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, &viol, &p), LT_EINVAL);
    free(v);
    v = item_pack("", "fine", 0, "{\"a\":1}", "", &len);
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, &viol, &p), 0);
    models_prepared_fini(&p);
    free(v);
}

/* expect_create_refused: creating an item of these fields is refused (LT_EINVAL) with a
 * violation of `field` whose description holds `why`. */
static void expect_create_refused(const char *name, const char *meta, const char *desc,
                                  const char *field, const char *why)
{
    struct model_violations viol = {0};
    struct model_prepared p = {0};
    size_t len;
    uint8_t *v = item_pack("", name, 0, meta, desc, &len);
    CU_ASSERT_EQUAL(models_prepare_create(models_find("items"), v, len, NOW, 1, &viol, &p),
                    LT_EINVAL);
    CU_ASSERT_TRUE(has_violation(&viol, field, why));
    free(v);
}

static void test_prepare_create_violations(void)
{
    const struct model *items = models_find("items");
    struct model_violations viol = {0};
    struct model_prepared p = {0};
    char *longdesc = malloc(5000);
    size_t len;
    memset(longdesc, 'd', 4999);
    longdesc[4999] = '\0';
    uint8_t *v = item_pack("", "", 99, "{not json", longdesc, &len);
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, &viol, &p), LT_EINVAL);
    CU_ASSERT_PTR_NULL(p.cmd);
    CU_ASSERT_EQUAL(viol.n, 4);
    CU_ASSERT_TRUE(has_violation(&viol, "name", "must not be empty"));
    CU_ASSERT_TRUE(has_violation(&viol, "status", "must be one of draft, active, archived"));
    CU_ASSERT_TRUE(has_violation(&viol, "metadata", "valid JSON"));
    CU_ASSERT_TRUE(has_violation(&viol, "description", "at most 4096 bytes"));
    free(v);

    /* a name of spaces only is no name */
    expect_create_refused(" \t  ", "", "", "name", "must not be blank");
    v = item_pack("", " x ", 0, "", "", &len); /* spaces around a name are its own business */
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, NULL, &p), 0);
    models_prepared_fini(&p);
    free(v);

    /* strings must be strict UTF-8: an overlong "/", a surrogate, beyond U+10FFFF, cut
     * short; each field named; valid multi-byte text passes */
    static const char *const bad_utf8[] = {"\xc0\xaf", "a\xed\xa0\x80", "\xf4\x90\x80\x80",
                                           "ok\xc3"};
    for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
        memset(&viol, 0, sizeof(viol));
        v = item_pack("", bad_utf8[i], 0, "", bad_utf8[i], &len);
        CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, &viol, &p), LT_EINVAL);
        CU_ASSERT_EQUAL(viol.n, 2);
        CU_ASSERT_TRUE(has_violation(&viol, "name", "must be valid UTF-8"));
        CU_ASSERT_TRUE(has_violation(&viol, "description", "must be valid UTF-8"));
        free(v);
    }
    memset(&viol, 0, sizeof(viol));
    v = item_pack("", "caf\xc3\xa9 \xf0\x9f\x98\x80", 0, "{\"k\":\"\xc3\xa9\"}", "\xf4\x8f\xbf\xbf",
                  &len);
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, &viol, &p), 0);
    models_prepared_fini(&p);
    free(v);
    expect_create_refused("x", "{\"k\":\"\xed\xa0\x80\"}", "", "metadata", "must be valid UTF-8");

    /* name too long: 201 bytes */
    char name[202];
    memset(name, 'n', 201);
    name[201] = '\0';
    memset(&viol, 0, sizeof(viol));
    v = item_pack("", name, 0, "", "", &len);
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, &viol, &p), LT_EINVAL);
    CU_ASSERT_EQUAL(viol.n, 1);
    CU_ASSERT_TRUE(has_violation(&viol, "name", "at most 200 bytes"));
    free(v);
    name[200] = '\0'; /* exactly 200: fine */
    v = item_pack("", name, 0, "", "", &len);
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, NULL, &p), 0);
    models_prepared_fini(&p);
    free(v);

    /* JSON: one whole value, whitespace around allowed */
    static const char *good[] = {"{}", "[1,2]", " 3 ", "\"s\"", "null", "{\"a\":{\"b\":[true]}}"};
    static const char *bad[] = {"{",
                                "{} x",
                                "nul",
                                "[1,]",
                                "{\"a\" 1}",
                                "1 2",
                                "{\"a\":1,\"a\":1}", /* a key twice, here or deeper */
                                "[{\"k\":{},\"\\u006b\":2}]"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = item_pack("", "x", 0, good[i], "", &len);
        CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, NULL, &p), 0);
        models_prepared_fini(&p);
        free(v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&viol, 0, sizeof(viol));
        v = item_pack("", "x", 0, bad[i], "", &len);
        CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, &viol, &p), LT_EINVAL);
        CU_ASSERT_TRUE(has_violation(&viol, "metadata", "valid JSON"));
        free(v);
    }

    /* a key given by the client is one plain URL path segment, or refused */
    static const char *good_ids[] = {"a", "A-z_0.9~", "...", "x.y"};
    static const char *bad_ids[] = {".",           "..",  "a/b", "sp ace",
                                    "inj\r\nX: 1", "q?x", "%41", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof(good_ids) / sizeof(good_ids[0]); i++) {
        v = item_pack(good_ids[i], "x", 0, "", "", &len);
        CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, NULL, &p), 0);
        models_prepared_fini(&p);
        free(v);
    }
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        memset(&viol, 0, sizeof(viol));
        v = item_pack(bad_ids[i], "x", 0, "", "", &len);
        CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, &viol, &p), LT_EINVAL);
        CU_ASSERT_TRUE(has_violation(&viol, "id", "only letters, digits"));
        free(v);
    }
    char longid[130];
    memset(longid, 'k', 129);
    longid[129] = '\0';
    memset(&viol, 0, sizeof(viol));
    v = item_pack(longid, "x", 0, "", "", &len);
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, NOW, 1, &viol, &p), LT_EINVAL);
    CU_ASSERT_TRUE(has_violation(&viol, "id", "at most 128 bytes"));
    free(v);

    /* not a message at all */
    uint8_t junk[] = {0xff, 0xff, 0xff};
    memset(&viol, 0, sizeof(viol));
    CU_ASSERT_EQUAL(models_prepare_create(items, junk, sizeof(junk), NOW, 1, &viol, &p), LT_EINVAL);
    CU_ASSERT_TRUE(has_violation(&viol, "value", "not a valid"));

    /* users: the key is the user name, never generated */
    Lithair__V1__User u = LITHAIR__V1__USER__INIT;
    uint8_t ubuf[64];
    u.role = 9;
    len = lithair__v1__user__pack(&u, ubuf);
    memset(&viol, 0, sizeof(viol));
    CU_ASSERT_EQUAL(models_prepare_create(models_find("users"), ubuf, len, NOW, 1, &viol, &p),
                    LT_EINVAL);
    CU_ASSERT_EQUAL(viol.n, 3);
    CU_ASSERT_TRUE(has_violation(&viol, "id", "must not be empty"));
    CU_ASSERT_TRUE(has_violation(&viol, "passwordHash", "must not be empty"));
    CU_ASSERT_TRUE(has_violation(&viol, "role", "role_admin"));
    free(longdesc);
}

/* An update may clear the benchmark flag, never set it: a user's record marked as
 * benchmark data would be deleted by the next cleanup. */
static void test_update_cannot_mark_benchmark(void)
{
    const struct model *items = models_find("items");
    Lithair__V1__PlaygroundItem it = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
    uint8_t buf[256];
    it.name = "x";
    static const char *const mask_bench[] = {"benchmark"};
    static const char *const mask_name[] = {"name"};
    for (int flag = 0; flag < 2; flag++) {
        it.benchmark = flag;
        size_t len = lithair__v1__playground_item__pack(&it, buf);
        /* masked on the flag, and a whole replacement: refused when it sets it */
        for (int masked = 0; masked < 2; masked++) {
            struct model_violations viol = {0};
            struct model_prepared p = {0};
            int rc = models_prepare_update(items, "r1", buf, len, masked ? mask_bench : NULL,
                                           masked ? 1 : 0, 0, NULL, NOW, 1, &viol, &p);
            if (flag) {
                CU_ASSERT_EQUAL(rc, LT_EINVAL);
                CU_ASSERT_TRUE(has_violation(&viol, "benchmark", "cannot be set by an update"));
            } else {
                CU_ASSERT_EQUAL(rc, 0);
                models_prepared_fini(&p);
            }
        }
        /* a mask that leaves the flag out does not change it, whatever the value holds */
        struct model_prepared p = {0};
        CU_ASSERT_EQUAL(
            models_prepare_update(items, "r1", buf, len, mask_name, 1, 0, NULL, NOW, 1, NULL, &p),
            0);
        models_prepared_fini(&p);
    }
}

static void test_prepare_update(void)
{
    const struct model *items = models_find("items");
    struct model_violations viol = {0};
    struct model_prepared p = {0};
    size_t len;
    uint8_t *v = item_pack("", "", 2, "", "", &len);
    const char *mask[] = {"status"};
    /* only the masked field is validated: the empty name is not changed */
    CU_ASSERT_EQUAL_FATAL(
        models_prepare_update(items, "k1", v, len, mask, 1, 3, NULL, NOW, 2, &viol, &p), 0);
    Lithair__V1__Command *c = lithair__v1__command__unpack(NULL, p.cmd_len, p.cmd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_TRUE(c->put->update);
    CU_ASSERT_FALSE(c->put->create);
    CU_ASSERT_EQUAL(c->put->expected_version, 3);
    CU_ASSERT_PTR_NULL(c->put->expected_created); /* none given: any incarnation */
    CU_ASSERT_EQUAL_FATAL(c->put->n_fields, 1);
    CU_ASSERT_STRING_EQUAL(c->put->fields[0], "status");
    CU_ASSERT_STRING_EQUAL(p.id, "k1");
    Lithair__V1__PlaygroundItem *it =
        lithair__v1__playground_item__unpack(NULL, c->put->value.len, c->put->value.data);
    CU_ASSERT_STRING_EQUAL(it->id, "k1");
    lithair__v1__playground_item__free_unpacked(it, NULL);
    lithair__v1__command__free_unpacked(c, NULL);
    models_prepared_fini(&p);

    /* JSON names in the mask become proto names */
    const char *mask2[] = {"metadata", "description"};
    free(v);
    v = item_pack("k1", "x", 0, "[]", "", &len);
    CU_ASSERT_EQUAL(models_prepare_update(items, "k1", v, len, mask2, 2, 0, NULL, NOW, 2, NULL, &p),
                    0);
    models_prepared_fini(&p);

    /* every failing field is reported */
    const char *bad[] = {"id", "createdAt", "version", "nope", "name", "metadata"};
    free(v);
    v = item_pack("other", "", 0, "{", "", &len);
    memset(&viol, 0, sizeof(viol));
    CU_ASSERT_EQUAL(models_prepare_update(items, "k1", v, len, bad, 6, 0, NULL, NOW, 2, &viol, &p),
                    LT_EINVAL);
    CU_ASSERT_PTR_NULL(p.cmd);
    CU_ASSERT_TRUE(has_violation(&viol, "id", "immutable"));
    CU_ASSERT_TRUE(has_violation(&viol, "createdAt", "immutable"));
    CU_ASSERT_TRUE(has_violation(&viol, "version", "set by the store"));
    CU_ASSERT_TRUE(has_violation(&viol, "nope", "not a field"));
    CU_ASSERT_TRUE(has_violation(&viol, "name", "must not be empty"));
    CU_ASSERT_TRUE(has_violation(&viol, "metadata", "valid JSON"));
    /* the id named and different: one entry for it, not two */
    CU_ASSERT_FALSE(has_violation(&viol, "id", "does not match"));
    CU_ASSERT_EQUAL(viol.n, 6);

    /* not named but different (a whole-record update): it does not match */
    memset(&viol, 0, sizeof(viol));
    free(v);
    v = item_pack("other", "x", 0, "", "", &len);
    CU_ASSERT_EQUAL(models_prepare_update(items, "k1", v, len, NULL, 0, 0, NULL, NOW, 2, &viol, &p),
                    LT_EINVAL);
    CU_ASSERT_EQUAL(viol.n, 1);
    CU_ASSERT_TRUE(has_violation(&viol, "id", "does not match"));

    /* the record's own id in the mask names the record and changes nothing: dropped */
    const char *own[] = {"id", "name"};
    free(v);
    v = item_pack("k1", "renamed", 0, "", "", &len);
    CU_ASSERT_EQUAL_FATAL(
        models_prepare_update(items, "k1", v, len, own, 2, 0, NULL, NOW, 2, NULL, &p), 0);
    c = lithair__v1__command__unpack(NULL, p.cmd_len, p.cmd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL_FATAL(c->put->n_fields, 1);
    CU_ASSERT_STRING_EQUAL(c->put->fields[0], "name");
    lithair__v1__command__free_unpacked(c, NULL);
    models_prepared_fini(&p);
    /* ... and a mask of the id alone is refused: an empty mask would replace every field */
    memset(&viol, 0, sizeof(viol));
    CU_ASSERT_EQUAL(models_prepare_update(items, "k1", v, len, own, 1, 0, NULL, NOW, 2, &viol, &p),
                    LT_EINVAL);
    CU_ASSERT_PTR_NULL(p.cmd);
    CU_ASSERT_EQUAL(viol.n, 1);
    CU_ASSERT_TRUE(has_violation(&viol, "id", "changes nothing"));

    /* an empty mask replaces every mutable field: all are validated */
    memset(&viol, 0, sizeof(viol));
    free(v);
    v = item_pack("", "", 0, "", "", &len);
    CU_ASSERT_EQUAL(models_prepare_update(items, "k1", v, len, NULL, 0, 0, NULL, NOW, 2, &viol, &p),
                    LT_EINVAL);
    CU_ASSERT_EQUAL(viol.n, 1);
    CU_ASSERT_TRUE(has_violation(&viol, "name", "must not be empty"));
    memset(&viol, 0, sizeof(viol));
    CU_ASSERT_EQUAL(models_prepare_update(items, "", v, len, mask, 1, 0, NULL, NOW, 2, &viol, &p),
                    LT_EINVAL);
    CU_ASSERT_TRUE(has_violation(&viol, "id", "must not be empty"));
    free(v);
}

static void test_prepare_delete_purge(void)
{
    const struct model *items = models_find("items");
    struct model_prepared p = {0};
    struct model_violations viol = {0};
    CU_ASSERT_EQUAL(models_prepare_delete(items, "", 0, NULL, NOW, 1, &viol, &p), LT_EINVAL);
    CU_ASSERT_EQUAL(viol.n, 1);
    Lithair__V1__Timestamp created = LITHAIR__V1__TIMESTAMP__INIT;
    created.seconds = 1796000000;
    created.nanos = 7;
    CU_ASSERT_EQUAL_FATAL(models_prepare_delete(items, "k9", 4, &created, NOW, 1, NULL, &p), 0);
    Lithair__V1__Command *c = lithair__v1__command__unpack(NULL, p.cmd_len, p.cmd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->op_case, LITHAIR__V1__COMMAND__OP_DELETE);
    CU_ASSERT_STRING_EQUAL(c->delete_->id, "k9");
    CU_ASSERT_EQUAL(c->delete_->expected_version, 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->delete_->expected_created);
    CU_ASSERT_EQUAL(c->delete_->expected_created->seconds, 1796000000);
    CU_ASSERT_EQUAL(c->delete_->expected_created->nanos, 7);
    lithair__v1__command__free_unpacked(c, NULL);
    models_prepared_fini(&p);
    /* an update carries it the same way */
    size_t len;
    uint8_t *v = item_pack("", "n", 0, "", "", &len);
    CU_ASSERT_EQUAL_FATAL(
        models_prepare_update(items, "k9", v, len, NULL, 0, 0, &created, NOW, 1, NULL, &p), 0);
    free(v);
    c = lithair__v1__command__unpack(NULL, p.cmd_len, p.cmd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->put->expected_created);
    CU_ASSERT_EQUAL(c->put->expected_created->seconds, 1796000000);
    CU_ASSERT_EQUAL(c->put->expected_created->nanos, 7);
    lithair__v1__command__free_unpacked(c, NULL);
    models_prepared_fini(&p);
    CU_ASSERT_EQUAL_FATAL(models_prepare_purge(items, 0, NOW, 1, &p), 0);
    c = lithair__v1__command__unpack(NULL, p.cmd_len, p.cmd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->op_case, LITHAIR__V1__COMMAND__OP_PURGE);
    CU_ASSERT_STRING_EQUAL(c->purge->model, "items");
    lithair__v1__command__free_unpacked(c, NULL);
    models_prepared_fini(&p);
}

static const struct lt_test model_tests[] = {
    {"table_sanity", test_table_sanity},
    {"field_names", test_field_names},
    {"index_values", test_index_values},
    {"prepare_create", test_prepare_create},
    {"uuid_random_bits", test_uuid_random_bits},
    {"uuid_counter_random_start", test_uuid_counter_random_start},
    {"prepare_create_violations", test_prepare_create_violations},
    {"validation_out_of_memory", test_validation_out_of_memory},
    {"prepare_update", test_prepare_update},
    {"prepare_delete_purge", test_prepare_delete_purge},
    {"an update cannot mark a record as benchmark data", test_update_cannot_mark_benchmark},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"models", NULL, NULL, model_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
