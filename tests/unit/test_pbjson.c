/* test_pbjson.c — the JSON ⇄ protobuf transcoder (tools/client/pbjson): every proto3
 * scalar type (through a hand-written descriptor, since the project's schemas do not use
 * them all), enums, repeated and nested messages, bytes, timestamps, oneofs, the raw-JSON
 * hook, defaults, round trips compared through packed bytes, and every error case with
 * its JSON path. Runs under ASan, so every decode error path is also checked for leaks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cunit_main.h"
#include "lt_err.h"
#include "pbjson.h"
#include "wire.h"

/* ---- a test message with every scalar type ---- */

struct all_types {
    ProtobufCMessage base;
    int32_t f_int32;
    int64_t f_int64;
    uint32_t f_uint32;
    uint64_t f_uint64;
    int32_t f_sint32;
    int64_t f_sint64;
    uint32_t f_fixed32;
    uint64_t f_fixed64;
    int32_t f_sfixed32;
    int64_t f_sfixed64;
    float f_float;
    double f_double;
    protobuf_c_boolean f_bool;
    char *f_string;
    ProtobufCBinaryData f_bytes;
    int f_enum;
    Lithair__V1__Timestamp *f_ts;
    size_t n_r_int64;
    int64_t *r_int64;
    size_t n_r_string;
    char **r_string;
    size_t n_r_bytes;
    ProtobufCBinaryData *r_bytes;
    size_t n_r_float;
    float *r_float;
    size_t n_r_enum;
    int *r_enum;
    size_t n_r_bool;
    protobuf_c_boolean *r_bool;
    size_t n_items;
    Lithair__V1__PlaygroundItem **items;
    protobuf_c_boolean has_opt_int32;
    int32_t opt_int32;
    size_t n_r_uint32;
    uint32_t *r_uint32;
    size_t n_r_double;
    double *r_double;
};

static void all_types_init(ProtobufCMessage *m);

#define F(name, id, label, type, q, field, desc, def)                                              \
    {                                                                                              \
        name, id, PROTOBUF_C_LABEL_##label, PROTOBUF_C_TYPE_##type, q,                             \
            offsetof(struct all_types, field), desc, def, 0, 0, NULL, NULL                         \
    }
#define S(name, id, type) F(#name, id, NONE, type, 0, name, NULL, NULL)
#define R(name, id, type, desc)                                                                    \
    F(#name, id, REPEATED, type, offsetof(struct all_types, n_##name), name, desc, NULL)

static const ProtobufCFieldDescriptor all_fields[] = {
    S(f_int32, 1, INT32),
    S(f_int64, 2, INT64),
    S(f_uint32, 3, UINT32),
    S(f_uint64, 4, UINT64),
    S(f_sint32, 5, SINT32),
    S(f_sint64, 6, SINT64),
    S(f_fixed32, 7, FIXED32),
    S(f_fixed64, 8, FIXED64),
    S(f_sfixed32, 9, SFIXED32),
    S(f_sfixed64, 10, SFIXED64),
    S(f_float, 11, FLOAT),
    S(f_double, 12, DOUBLE),
    S(f_bool, 13, BOOL),
    F("f_string", 14, NONE, STRING, 0, f_string, NULL, &protobuf_c_empty_string),
    S(f_bytes, 15, BYTES),
    F("f_enum", 16, NONE, ENUM, 0, f_enum, &lithair__v1__playground_item__status__descriptor, NULL),
    F("f_ts", 17, NONE, MESSAGE, 0, f_ts, &lithair__v1__timestamp__descriptor, NULL),
    R(r_int64, 18, INT64, NULL),
    R(r_string, 19, STRING, NULL),
    R(r_bytes, 20, BYTES, NULL),
    R(r_float, 21, FLOAT, NULL),
    R(r_enum, 22, ENUM, &lithair__v1__playground_item__status__descriptor),
    R(r_bool, 23, BOOL, NULL),
    R(items, 24, MESSAGE, &lithair__v1__playground_item__descriptor),
    F("opt_int32", 25, OPTIONAL, INT32, offsetof(struct all_types, has_opt_int32), opt_int32, NULL,
      NULL),
    R(r_uint32, 26, UINT32, NULL),
    R(r_double, 27, DOUBLE, NULL),
};
#define N_ALL (sizeof(all_fields) / sizeof(all_fields[0]))

static unsigned all_by_name[N_ALL];
static const ProtobufCIntRange all_ranges[] = {{1, 0}, {0, N_ALL}};

static const ProtobufCMessageDescriptor all_desc = {
    PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
    "test.AllTypes",
    "AllTypes",
    "AllTypes",
    "test",
    sizeof(struct all_types),
    N_ALL,
    all_fields,
    all_by_name,
    1,
    all_ranges,
    all_types_init,
    NULL,
    NULL,
    NULL,
};

static void all_types_init(ProtobufCMessage *m)
{
    memset(m, 0, sizeof(struct all_types));
    m->descriptor = &all_desc;
    ((struct all_types *)m)->f_string = (char *)protobuf_c_empty_string;
}

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp(all_fields[*(const unsigned *)a].name, all_fields[*(const unsigned *)b].name);
}

static int suite_init(void)
{
    for (unsigned i = 0; i < N_ALL; i++)
        all_by_name[i] = i;
    qsort(all_by_name, N_ALL, sizeof(unsigned), cmp_by_name);
    return 0;
}

/* ---- helpers ---- */

static const char *raw_fields[] = {"lithair.v1.PlaygroundItem.metadata", NULL};
static const struct pbjson_opts raw_opts = {.is_raw_json = pbjson_raw_json_by_name,
                                            .raw_ud = raw_fields};

/* packed_equal: two messages are equal when they pack to the same bytes. */
static bool packed_equal(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t la = protobuf_c_message_get_packed_size(a), lb = protobuf_c_message_get_packed_size(b);
    if (la != lb)
        return false;
    uint8_t *ba = malloc(la + 1), *bb = malloc(lb + 1);
    protobuf_c_message_pack(a, ba);
    protobuf_c_message_pack(b, bb);
    bool eq = memcmp(ba, bb, la) == 0;
    free(ba);
    free(bb);
    return eq;
}

/* decode_text parses JSON text and decodes it; returns the pbjson code (or -100 for bad
 * JSON text) and fills err. */
static int decode_text(const ProtobufCMessageDescriptor *d, const char *text,
                       const struct pbjson_opts *o, ProtobufCMessage **out, struct pbjson_error *e)
{
    enum json_tokener_error jerr;
    json_object *j = json_tokener_parse_verbose(text, &jerr);
    if (jerr != json_tokener_success)
        return -100;
    int rc = pbjson_decode(d, j, o, out, e);
    json_object_put(j);
    return rc;
}

/* expect_error decodes `text` and checks the error's code, path and a message fragment. */
static void expect_error(const ProtobufCMessageDescriptor *d, const char *text,
                         const struct pbjson_opts *o, const char *path, const char *fragment)
{
    ProtobufCMessage *m = NULL;
    struct pbjson_error e = {{0}, {0}};
    int rc = decode_text(d, text, o, &m, &e);
    if (rc != LT_EINVAL || strcmp(e.path, path) != 0 || !strstr(e.message, fragment))
        fprintf(stderr, "input %s: rc %d path \"%s\" message \"%s\" (want \"%s\" / \"%s\")\n", text,
                rc, e.path, e.message, path, fragment);
    CU_ASSERT_EQUAL(rc, LT_EINVAL);
    CU_ASSERT_STRING_EQUAL(e.path, path);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, fragment));
    CU_ASSERT_PTR_NULL(m); /* out untouched on failure */
}

static const char *get_str(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || json_object_get_type(v) != json_type_string)
        return "<missing>";
    return json_object_get_string(v);
}

/* ---- tests ---- */

static void fill_all(struct all_types *m, Lithair__V1__Timestamp *ts, int64_t *ri, char **rs,
                     ProtobufCBinaryData *rb, float *rf, int *re, protobuf_c_boolean *rbo,
                     Lithair__V1__PlaygroundItem **items, uint32_t *ru, double *rd)
{
    static uint8_t bytes[] = {0, 1, 2, 0xfb, 0xff};
    all_types_init(&m->base);
    m->f_int32 = INT32_MIN;
    m->f_int64 = INT64_MIN;
    m->f_uint32 = UINT32_MAX;
    m->f_uint64 = UINT64_MAX;
    m->f_sint32 = -12345;
    m->f_sint64 = -1234567890123456789LL;
    m->f_fixed32 = 4000000000u;
    m->f_fixed64 = 18000000000000000000ull;
    m->f_sfixed32 = -7;
    m->f_sfixed64 = INT64_MAX;
    m->f_float = 0.1f;
    m->f_double = 2.5e-300;
    m->f_bool = 1;
    m->f_string = "héllo \"world\"\n";
    m->f_bytes.data = bytes;
    m->f_bytes.len = sizeof(bytes);
    m->f_enum = LITHAIR__V1__PLAYGROUND_ITEM__STATUS__ARCHIVED;
    lithair__v1__timestamp__init(ts);
    ts->seconds = 1795756323;
    ts->nanos = 123456789;
    m->f_ts = ts;
    ri[0] = 0;
    ri[1] = -1;
    ri[2] = 1LL << 60;
    m->n_r_int64 = 3;
    m->r_int64 = ri;
    rs[0] = "";
    rs[1] = "two";
    m->n_r_string = 2;
    m->r_string = rs;
    rb[0].data = bytes;
    rb[0].len = 1;
    rb[1].data = NULL;
    rb[1].len = 0;
    m->n_r_bytes = 2;
    m->r_bytes = rb;
    rf[0] = 1.5f;
    rf[1] = -3.25e10f;
    m->n_r_float = 2;
    m->r_float = rf;
    re[0] = 0;
    re[1] = 1;
    re[2] = 77; /* not declared: stays a number */
    m->n_r_enum = 3;
    m->r_enum = re;
    rbo[0] = 0;
    rbo[1] = 1;
    m->n_r_bool = 2;
    m->r_bool = rbo;
    m->n_items = 2;
    m->items = items;
    m->has_opt_int32 = 1;
    m->opt_int32 = 0; /* set to its default: still emitted */
    ru[0] = 0;
    ru[1] = UINT32_MAX;
    m->n_r_uint32 = 2;
    m->r_uint32 = ru;
    rd[0] = 0.1;
    rd[1] = -0.0;
    m->n_r_double = 2;
    m->r_double = rd;
}

static void test_all_scalars_roundtrip(void)
{
    struct all_types m;
    Lithair__V1__Timestamp ts;
    int64_t ri[3];
    char *rs[2];
    ProtobufCBinaryData rb[2];
    float rf[2];
    int re[3];
    protobuf_c_boolean rbo[2];
    uint32_t ru[2];
    double rd[2];
    Lithair__V1__PlaygroundItem it[2] = {LITHAIR__V1__PLAYGROUND_ITEM__INIT,
                                         LITHAIR__V1__PLAYGROUND_ITEM__INIT};
    Lithair__V1__PlaygroundItem *items[2] = {&it[0], &it[1]};
    it[0].name = "first";
    it[1].name = "second";
    it[1].status = LITHAIR__V1__PLAYGROUND_ITEM__STATUS__ACTIVE;
    it[1].version = 3;
    fill_all(&m, &ts, ri, rs, rb, rf, re, rbo, items, ru, rd);

    json_object *j = pbjson_from_message(&m.base, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const char *text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
    json_object *v;
    /* 32-bit integers are numbers, 64-bit ones strings */
    CU_ASSERT_TRUE(json_object_object_get_ex(j, "fInt32", &v) &&
                   json_object_get_type(v) == json_type_int &&
                   json_object_get_int64(v) == INT32_MIN);
    CU_ASSERT_TRUE(json_object_object_get_ex(j, "fUint32", &v) &&
                   json_object_get_int64(v) == UINT32_MAX);
    CU_ASSERT_TRUE(json_object_object_get_ex(j, "fFixed32", &v) &&
                   json_object_get_int64(v) == 4000000000LL);
    CU_ASSERT_STRING_EQUAL(get_str(j, "fInt64"), "-9223372036854775808");
    CU_ASSERT_STRING_EQUAL(get_str(j, "fUint64"), "18446744073709551615");
    CU_ASSERT_STRING_EQUAL(get_str(j, "fSint64"), "-1234567890123456789");
    CU_ASSERT_STRING_EQUAL(get_str(j, "fFixed64"), "18000000000000000000");
    CU_ASSERT_STRING_EQUAL(get_str(j, "fSfixed64"), "9223372036854775807");
    CU_ASSERT_STRING_EQUAL(get_str(j, "fBytes"), "AAEC+/8=");
    CU_ASSERT_STRING_EQUAL(get_str(j, "fEnum"), "archived");
    CU_ASSERT_STRING_EQUAL(get_str(j, "fTs"), "2026-11-27T05:12:03.123456789Z");
    CU_ASSERT_STRING_EQUAL(get_str(j, "fString"), "héllo \"world\"\n");
    /* float prints as its shortest float spelling, not 0.10000000149011612 */
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"fFloat\":0.1,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"fDouble\":2.5e-300"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"rInt64\":[\"0\",\"-1\",\"1152921504606846976\"]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"rEnum\":[\"draft\",\"active\",77]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"rBytes\":[\"AA==\",\"\"]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"rString\":[\"\",\"two\"]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"optInt32\":0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"items\":[{\"name\":\"first\"},{\"name\":\"second\","
                                        "\"status\":\"active\",\"version\":\"3\"}]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"rDouble\":[0.1,-0.0]"));

    /* and back: the same bytes */
    ProtobufCMessage *back = NULL;
    char err[256] = "";
    int rc = pbjson_to_message(&all_desc, j, NULL, &back, err, sizeof(err));
    if (rc)
        fprintf(stderr, "decode: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_TRUE(packed_equal(&m.base, back));
    struct all_types *b = (struct all_types *)back;
    CU_ASSERT_EQUAL(b->f_float, 0.1f);
    CU_ASSERT_EQUAL(b->has_opt_int32, 1);
    CU_ASSERT_EQUAL(b->n_items, 2);
    /* and through JSON text too */
    json_object *j2 = json_tokener_parse(text);
    ProtobufCMessage *back2 = NULL;
    CU_ASSERT_EQUAL(pbjson_to_message(&all_desc, j2, NULL, &back2, err, sizeof(err)), 0);
    CU_ASSERT_TRUE(back2 && packed_equal(&m.base, back2));
    protobuf_c_message_free_unpacked(back, NULL);
    protobuf_c_message_free_unpacked(back2, NULL);
    json_object_put(j2);
    json_object_put(j);
}

static void test_input_spellings(void)
{
    ProtobufCMessage *m = NULL;
    struct pbjson_error e;
    /* snake_case and camelCase keys; ints as strings, numbers, exponent forms */
    int rc = decode_text(&all_desc,
                         "{\"f_int32\":\"-42\",\"fInt64\":123,\"f_uint32\":1e2,"
                         "\"fUint64\":\"18446744073709551615\",\"fSint32\":-1.0,"
                         "\"f_sint64\":\"-5\",\"fFixed32\":\"4294967295\",\"fFixed64\":7,"
                         "\"fSfixed32\":\"1e3\",\"fSfixed64\":-9223372036854775808,"
                         "\"fFloat\":\"NaN\",\"fDouble\":\"-Infinity\",\"fBool\":true,"
                         "\"fEnum\":\"ArChIvEd\",\"rEnum\":[\"ACTIVE\",2,\"draft\"],"
                         "\"fBytes\":\"-_8\",\"rBytes\":[\"Zm9v\",\"Zg\",\"Zm8=\"],"
                         "\"fTs\":\"2026-11-27T07:12:03.5+02:00\",\"rFloat\":[1,\"2.5\"],"
                         "\"rDouble\":[\"Infinity\"],\"opt_int32\":5,\"rBool\":[false]}",
                         NULL, &m, &e);
    if (rc)
        fprintf(stderr, "%s: %s\n", e.path, e.message);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    struct all_types *a = (struct all_types *)m;
    CU_ASSERT_EQUAL(a->f_int32, -42);
    CU_ASSERT_EQUAL(a->f_int64, 123);
    CU_ASSERT_EQUAL(a->f_uint32, 100);
    CU_ASSERT_EQUAL(a->f_uint64, UINT64_MAX);
    CU_ASSERT_EQUAL(a->f_sint32, -1);
    CU_ASSERT_EQUAL(a->f_sint64, -5);
    CU_ASSERT_EQUAL(a->f_fixed32, UINT32_MAX);
    CU_ASSERT_EQUAL(a->f_fixed64, 7);
    CU_ASSERT_EQUAL(a->f_sfixed32, 1000);
    CU_ASSERT_EQUAL(a->f_sfixed64, INT64_MIN);
    CU_ASSERT(a->f_float != a->f_float); /* NaN */
    CU_ASSERT(a->f_double < -1e308);
    CU_ASSERT_EQUAL(a->f_bool, 1);
    CU_ASSERT_EQUAL(a->f_enum, 2);
    CU_ASSERT_EQUAL_FATAL(a->n_r_enum, 3);
    CU_ASSERT(a->r_enum[0] == 1 && a->r_enum[1] == 2 && a->r_enum[2] == 0);
    CU_ASSERT_EQUAL_FATAL(a->f_bytes.len, 2);
    CU_ASSERT(a->f_bytes.data[0] == 0xfb && a->f_bytes.data[1] == 0xff);
    CU_ASSERT_EQUAL_FATAL(a->n_r_bytes, 3);
    CU_ASSERT(a->r_bytes[0].len == 3 && memcmp(a->r_bytes[0].data, "foo", 3) == 0);
    CU_ASSERT(a->r_bytes[1].len == 1 && a->r_bytes[1].data[0] == 'f');
    CU_ASSERT(a->r_bytes[2].len == 2 && memcmp(a->r_bytes[2].data, "fo", 2) == 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a->f_ts);
    CU_ASSERT_EQUAL(a->f_ts->seconds, 1795756323);
    CU_ASSERT_EQUAL(a->f_ts->nanos, 500000000);
    CU_ASSERT(a->n_r_float == 2 && a->r_float[0] == 1.0f && a->r_float[1] == 2.5f);
    CU_ASSERT(a->n_r_double == 1 && a->r_double[0] > 1e308);
    CU_ASSERT(a->has_opt_int32 && a->opt_int32 == 5);
    CU_ASSERT(a->n_r_bool == 1 && a->r_bool[0] == 0);
    /* NaN and infinities print as strings */
    json_object *j = pbjson_from_message(m, NULL);
    CU_ASSERT_STRING_EQUAL(get_str(j, "fFloat"), "NaN");
    CU_ASSERT_STRING_EQUAL(get_str(j, "fDouble"), "-Infinity");
    CU_ASSERT_STRING_EQUAL(get_str(j, "fTs"), "2026-11-27T05:12:03.500Z");
    json_object_put(j);
    protobuf_c_message_free_unpacked(m, NULL);

    /* null means "not set"; a timestamp may also be given as an object */
    m = NULL;
    CU_ASSERT_EQUAL_FATAL(decode_text(&all_desc,
                                      "{\"fInt32\":null,\"fString\":null,\"fTs\":{\"seconds\":"
                                      "\"-1\",\"nanos\":5},\"items\":null}",
                                      NULL, &m, &e),
                          0);
    a = (struct all_types *)m;
    CU_ASSERT_EQUAL(a->f_int32, 0);
    CU_ASSERT_STRING_EQUAL(a->f_string, "");
    CU_ASSERT(a->f_ts && a->f_ts->seconds == -1 && a->f_ts->nanos == 5);
    CU_ASSERT_EQUAL(a->n_items, 0);
    j = pbjson_from_message(m, NULL);
    CU_ASSERT_STRING_EQUAL(get_str(j, "fTs"), "1969-12-31T23:59:59.000000005Z");
    json_object_put(j);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_defaults(void)
{
    Lithair__V1__PlaygroundItem it = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
    json_object *j = pbjson_from_message(&it.base, NULL);
    CU_ASSERT_STRING_EQUAL(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN), "{}");
    json_object_put(j);
    struct pbjson_opts o = {.emit_defaults = true};
    j = pbjson_from_message(&it.base, &o);
    CU_ASSERT_STRING_EQUAL(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
                           "{\"id\":\"\",\"name\":\"\",\"description\":\"\",\"status\":\"draft\","
                           "\"metadata\":\"\",\"version\":\"0\",\"benchmark\":false}");
    json_object_put(j);
    /* a present but empty nested message is emitted; repeated empties with emit_defaults */
    Lithair__V1__Timestamp ts = LITHAIR__V1__TIMESTAMP__INIT;
    it.created_at = &ts;
    j = pbjson_from_message(&it.base, NULL);
    CU_ASSERT_STRING_EQUAL(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
                           "{\"createdAt\":\"1970-01-01T00:00:00Z\"}");
    json_object_put(j);
    Lithair__V1__ListReply lr = LITHAIR__V1__LIST_REPLY__INIT;
    j = pbjson_from_message(&lr.base, &o);
    CU_ASSERT_STRING_EQUAL(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
                           "{\"records\":[],\"nextCursor\":\"\",\"total\":\"0\"}");
    json_object_put(j);
}

static void test_raw_json_hook(void)
{
    Lithair__V1__PlaygroundItem it = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
    it.id = "0b7c";
    it.name = "widget";
    it.status = LITHAIR__V1__PLAYGROUND_ITEM__STATUS__ACTIVE;
    it.metadata = "{\"color\": \"red\", \"tags\": [1, 2]}";
    it.version = 12;
    json_object *j = pbjson_from_message(&it.base, &raw_opts);
    CU_ASSERT_STRING_EQUAL(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
                           "{\"id\":\"0b7c\",\"name\":\"widget\",\"status\":\"active\","
                           "\"metadata\":{\"color\":\"red\",\"tags\":[1,2]},\"version\":\"12\"}");
    json_object_put(j);
    /* without the hook it is just a string */
    j = pbjson_from_message(&it.base, NULL);
    CU_ASSERT_STRING_EQUAL(get_str(j, "metadata"), "{\"color\": \"red\", \"tags\": [1, 2]}");
    json_object_put(j);
    /* never set (no text at all): null when defaults are emitted, not "" */
    it.metadata = "";
    struct pbjson_opts raw_defaults = raw_opts;
    raw_defaults.emit_defaults = true;
    j = pbjson_from_message(&it.base, &raw_defaults);
    json_object *mv0 = (json_object *)1;
    CU_ASSERT_TRUE(json_object_object_get_ex(j, "metadata", &mv0));
    CU_ASSERT_PTR_NULL(mv0);
    CU_ASSERT_EQUAL(json_object_get_type(json_object_object_get(j, "description")),
                    json_type_string); /* a plain string field stays "" */
    json_object_put(j);
    /* text that is not JSON is emitted as a string */
    it.metadata = "not json {";
    j = pbjson_from_message(&it.base, &raw_opts);
    CU_ASSERT_STRING_EQUAL(get_str(j, "metadata"), "not json {");
    json_object_put(j);

    /* input: any JSON value, stored as compact text */
    static const char *const in[][2] = {
        {"{\"metadata\":{\"a\": [1, {\"b\": null}], \"u\": \"x/y\"}}",
         "{\"a\":[1,{\"b\":null}],\"u\":\"x/y\"}"},
        {"{\"metadata\":[1,2,3]}", "[1,2,3]"},
        {"{\"metadata\":\"plain\"}", "\"plain\""},
        {"{\"metadata\":42}", "42"},
        {"{\"metadata\":true}", "true"},
        {"{\"metadata\":null}", "null"},
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        ProtobufCMessage *m = NULL;
        struct pbjson_error e;
        CU_ASSERT_EQUAL_FATAL(
            decode_text(&lithair__v1__playground_item__descriptor, in[i][0], &raw_opts, &m, &e), 0);
        CU_ASSERT_STRING_EQUAL(((Lithair__V1__PlaygroundItem *)m)->metadata, in[i][1]);
        /* and out again as the same JSON value */
        j = pbjson_from_message(m, &raw_opts);
        json_object *want = json_tokener_parse(in[i][0]);
        json_object *mv = NULL, *wv = NULL;
        json_object_object_get_ex(j, "metadata", &mv);
        json_object_object_get_ex(want, "metadata", &wv);
        CU_ASSERT_TRUE(json_object_equal(mv, wv));
        json_object_put(want);
        json_object_put(j);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    /* without the hook an object for a string is a type error */
    expect_error(&lithair__v1__playground_item__descriptor, "{\"metadata\":{}}", NULL, "metadata",
                 "expected string");
}

static void test_oneof_nested(void)
{
    Lithair__V1__Command cmd = LITHAIR__V1__COMMAND__INIT;
    Lithair__V1__Command__Purge purge = LITHAIR__V1__COMMAND__PURGE__INIT;
    Lithair__V1__Timestamp at = LITHAIR__V1__TIMESTAMP__INIT;
    at.seconds = 951825600;
    at.nanos = 1000;
    cmd.at = &at;
    cmd.proposer = 2;
    cmd.op_case = LITHAIR__V1__COMMAND__OP_PURGE;
    cmd.purge = &purge; /* empty, yet the chosen member is emitted */
    json_object *j = pbjson_from_message(&cmd.base, NULL);
    CU_ASSERT_STRING_EQUAL(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
                           "{\"at\":\"2000-02-29T12:00:00.000001Z\",\"proposer\":\"2\","
                           "\"purge\":{}}");
    ProtobufCMessage *back = NULL;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(
        pbjson_to_message(&lithair__v1__command__descriptor, j, NULL, &back, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(((Lithair__V1__Command *)back)->op_case, LITHAIR__V1__COMMAND__OP_PURGE);
    CU_ASSERT_TRUE(packed_equal(&cmd.base, back));
    protobuf_c_message_free_unpacked(back, NULL);
    json_object_put(j);

    /* a put with bytes and repeated strings inside the oneof */
    ProtobufCMessage *m = NULL;
    struct pbjson_error e;
    CU_ASSERT_EQUAL_FATAL(decode_text(&lithair__v1__command__descriptor,
                                      "{\"put\":{\"model\":\"items\",\"value\":\"AQID\","
                                      "\"create\":true,\"fields\":[\"name\",\"status\"],"
                                      "\"expectedVersion\":\"9\"}}",
                                      NULL, &m, &e),
                          0);
    Lithair__V1__Command *c = (Lithair__V1__Command *)m;
    CU_ASSERT_EQUAL(c->op_case, LITHAIR__V1__COMMAND__OP_PUT);
    CU_ASSERT_STRING_EQUAL(c->put->model, "items");
    CU_ASSERT_EQUAL(c->put->value.len, 3);
    CU_ASSERT_EQUAL(c->put->n_fields, 2);
    CU_ASSERT_STRING_EQUAL(c->put->fields[1], "status");
    CU_ASSERT_EQUAL(c->put->expected_version, 9);
    /* the same message packs and unpacks */
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *u =
        protobuf_c_message_unpack(&lithair__v1__command__descriptor, NULL, len, buf);
    CU_ASSERT_TRUE(u && packed_equal(m, u));
    protobuf_c_message_free_unpacked(u, NULL);
    free(buf);
    protobuf_c_message_free_unpacked(m, NULL);

    /* two members of one oneof */
    expect_error(&lithair__v1__command__descriptor, "{\"put\":{},\"purge\":{}}", NULL, "purge",
                 "oneof");

    /* a deep round trip: NodeStatus with repeated nested messages */
    Lithair__Raft__V1__Member mem[2] = {LITHAIR__RAFT__V1__MEMBER__INIT,
                                        LITHAIR__RAFT__V1__MEMBER__INIT};
    Lithair__Raft__V1__Member *mp[2] = {&mem[0], &mem[1]};
    mem[0].id = 1;
    mem[0].rpc_url = "tcp://127.0.0.1:7201";
    mem[1].id = 2;
    mem[1].raft_url = "tcp://127.0.0.1:7102";
    Lithair__V1__FollowerProgress fp = LITHAIR__V1__FOLLOWER_PROGRESS__INIT;
    Lithair__V1__FollowerProgress *fpp = &fp;
    fp.id = 2;
    fp.state = LITHAIR__V1__FOLLOWER_PROGRESS__STATE__REPLICATE;
    fp.inflight = 4;
    fp.recent_active = 1;
    Lithair__V1__NodeStatus st = LITHAIR__V1__NODE_STATUS__INIT;
    st.id = 1;
    st.role = LITHAIR__V1__NODE_ROLE__LEADER;
    st.term = 7;
    st.n_members = 2;
    st.members = mp;
    st.n_followers = 1;
    st.followers = &fpp;
    j = pbjson_from_message(&st.base, NULL);
    CU_ASSERT_STRING_EQUAL(get_str(j, "role"), "leader");
    CU_ASSERT_PTR_NOT_NULL(strstr(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
                                  "\"followers\":[{\"id\":\"2\",\"state\":\"replicate\","
                                  "\"inflight\":4,\"recentActive\":true}]"));
    back = NULL;
    CU_ASSERT_EQUAL_FATAL(
        pbjson_to_message(&lithair__v1__node_status__descriptor, j, NULL, &back, err, sizeof(err)),
        0);
    CU_ASSERT_TRUE(packed_equal(&st.base, back));
    protobuf_c_message_free_unpacked(back, NULL);
    json_object_put(j);
}

static void test_errors(void)
{
    const ProtobufCMessageDescriptor *item = &lithair__v1__playground_item__descriptor;
    /* unknown fields, at the top and deep */
    expect_error(item, "{\"name\":\"x\",\"bogus\":1}", NULL, "bogus", "unknown field \"bogus\"");
    expect_error(&all_desc, "{\"items\":[{},{},{\"nope\":1}]}", NULL, "items[2].nope",
                 "unknown field");
    /* ... ignored on request */
    ProtobufCMessage *m = NULL;
    struct pbjson_error e;
    struct pbjson_opts ign = {.ignore_unknown = true};
    CU_ASSERT_EQUAL(decode_text(item, "{\"name\":\"x\",\"bogus\":{\"a\":1}}", &ign, &m, &e), 0);
    CU_ASSERT_STRING_EQUAL(((Lithair__V1__PlaygroundItem *)m)->name, "x");
    protobuf_c_message_free_unpacked(m, NULL);
    /* wrong types name the field and the expected type */
    expect_error(item, "{\"name\":5}", NULL, "name", "expected string");
    expect_error(&all_desc, "{\"items\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":[]}]}", NULL,
                 "items[2].name", "expected string");
    expect_error(item, "{\"version\":true}", NULL, "version", "expected uint64");
    expect_error(item, "{\"version\":\"12abc\"}", NULL, "version", "expected uint64");
    expect_error(item, "{\"version\":\"0x10\"}", NULL, "version", "expected uint64");
    expect_error(item, "{\"version\":\"inf\"}", NULL, "version", "expected uint64");
    expect_error(item, "{\"version\":\"NaN\"}", NULL, "version", "expected uint64");
    expect_error(item, "{\"benchmark\":\"true\"}", NULL, "benchmark", "expected bool");
    expect_error(item, "{\"createdAt\":5}", NULL, "createdAt", "expected an object");
    expect_error(&all_desc, "{\"items\":{}}", NULL, "items", "expected an array");
    expect_error(&all_desc, "{\"rInt64\":[1,null]}", NULL, "rInt64[1]", "null");
    expect_error(&all_desc, "{\"fBytes\":7}", NULL, "fBytes", "base64");
    expect_error(&all_desc, "{\"fFloat\":\"fast\"}", NULL, "fFloat", "expected float");
    expect_error(&all_desc, "{\"fEnum\":{}}", NULL, "fEnum", "enum");
    expect_error(&all_desc, "{\"fInt32\":1.5}", NULL, "fInt32", "non-integral");
    /* out of range integers */
    expect_error(&all_desc, "{\"fInt32\":2147483648}", NULL, "fInt32", "out of range for int32");
    expect_error(&all_desc, "{\"fInt32\":-2147483649}", NULL, "fInt32", "out of range");
    expect_error(&all_desc, "{\"fUint32\":-1}", NULL, "fUint32", "out of range for uint32");
    expect_error(&all_desc, "{\"fFixed32\":4294967296}", NULL, "fFixed32", "out of range");
    expect_error(&all_desc, "{\"fUint64\":\"-1\"}", NULL, "fUint64", "out of range for uint64");
    expect_error(&all_desc, "{\"fUint64\":\"18446744073709551616\"}", NULL, "fUint64",
                 "out of range");
    expect_error(&all_desc, "{\"fInt64\":\"9223372036854775808\"}", NULL, "fInt64",
                 "out of range for int64");
    expect_error(&all_desc, "{\"fSint64\":1e19}", NULL, "fSint64", "out of range");
    expect_error(&all_desc, "{\"rUint32\":[1,2,-3]}", NULL, "rUint32[2]", "out of range");
    expect_error(&all_desc, "{\"fFloat\":1e39}", NULL, "fFloat", "out of range for float");
    expect_error(&all_desc, "{\"fEnum\":3000000000}", NULL, "fEnum", "out of range");
    /* invalid enum names */
    expect_error(item, "{\"status\":\"shiny\"}", NULL, "status",
                 "invalid value \"shiny\" (expected one of draft, active, archived)");
    expect_error(item, "{\"status\":true}", NULL, "status",
                 "expected an enum name (draft, active, archived) or number");
    expect_error(&all_desc, "{\"rEnum\":[\"active\",\"nope\"]}", NULL, "rEnum[1]", "invalid value");
    /* invalid base64 */
    expect_error(&all_desc, "{\"fBytes\":\"ab$d\"}", NULL, "fBytes", "invalid base64");
    expect_error(&all_desc, "{\"fBytes\":\"a\"}", NULL, "fBytes", "invalid base64");
    expect_error(&all_desc, "{\"rBytes\":[\"AA==\",\"A===\"]}", NULL, "rBytes[1]",
                 "invalid base64");
    /* invalid timestamps */
    static const char *const bad_ts[] = {
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-11-27 05:12:03Z",
        "2026-11-27T05:12:03",
        "2026-11-27T24:00:00Z",
        "2026-11-27T05:12:03.Z",
        "2026-11-27T05:12:03.1234567891Z",
        "2026-11-27T05:12:03+2:00",
        "0000-12-31T23:59:59Z",
        "yesterday",
        "2026-11-27T05:12:03Zjunk",
        "",
    };
    for (size_t i = 0; i < sizeof(bad_ts) / sizeof(bad_ts[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "{\"createdAt\":\"%s\"}", bad_ts[i]);
        expect_error(item, text, NULL, "createdAt", "invalid RFC 3339 timestamp");
    }
    /* a timestamp as an object: nanos out of range would print as another instant */
    expect_error(item, "{\"createdAt\":{\"seconds\":\"1\",\"nanos\":-1}}", NULL, "createdAt.nanos",
                 "nanos must be from 0 to 999999999");
    expect_error(&all_desc, "{\"items\":[{\"updatedAt\":{\"nanos\":1000000000}}]}", NULL,
                 "items[0].updatedAt.nanos", "nanos must be");
    /* the same field twice (both spellings) */
    expect_error(item, "{\"created_at\":\"2026-11-27T05:12:03Z\",\"createdAt\":null}", NULL,
                 "createdAt", "given twice");
    /* not an object at the top */
    expect_error(item, "[1,2]", NULL, "", "expected an object");
    m = NULL;
    CU_ASSERT_EQUAL(pbjson_decode(item, NULL, NULL, &m, NULL), LT_EINVAL); /* JSON null */
    CU_ASSERT_PTR_NULL(m);
    /* pbjson_to_message formats "path: message" */
    char err[128];
    json_object *j = json_tokener_parse("{\"items\":[{\"name\":1}]}");
    CU_ASSERT_EQUAL(pbjson_to_message(&all_desc, j, NULL, &m, err, sizeof(err)), LT_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "items[0].name: expected string");
    json_object_put(j);
    /* errors after partial work leak nothing (ASan checks): a bad value late in the input */
    expect_error(&all_desc,
                 "{\"fString\":\"s\",\"fBytes\":\"AAAA\",\"rString\":[\"a\",\"b\"],\"fTs\":"
                 "\"2026-11-27T05:12:03Z\",\"items\":[{\"name\":\"n\",\"createdAt\":\"2026-11-"
                 "27T05:12:03Z\"},{\"name\":\"m\",\"status\":\"weird\"}]}",
                 NULL, "items[1].status", "invalid value");
}

static void test_timestamps_base64(void)
{
    char buf[48];
    CU_ASSERT_EQUAL(pbjson_timestamp_format(0, 0, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "1970-01-01T00:00:00Z");
    CU_ASSERT_EQUAL(pbjson_timestamp_format(1795756323, 123000000, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "2026-11-27T05:12:03.123Z");
    CU_ASSERT_EQUAL(pbjson_timestamp_format(1795756323, 123456000, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "2026-11-27T05:12:03.123456Z");
    CU_ASSERT_EQUAL(pbjson_timestamp_format(-62135596800LL, 0, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "0001-01-01T00:00:00Z");
    CU_ASSERT_EQUAL(pbjson_timestamp_format(253402300799LL, 999999999, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "9999-12-31T23:59:59.999999999Z");
    CU_ASSERT_EQUAL(pbjson_timestamp_format(253402300800LL, 0, buf, sizeof(buf)), LT_EINVAL);
    CU_ASSERT_EQUAL(pbjson_timestamp_format(0, -1, buf, sizeof(buf)), 0); /* normalized */
    CU_ASSERT_STRING_EQUAL(buf, "1969-12-31T23:59:59.999999999Z");
    int64_t s;
    int32_t n;
    CU_ASSERT_EQUAL(pbjson_timestamp_parse("2026-11-27T05:12:03.123456789Z", &s, &n), 0);
    CU_ASSERT(s == 1795756323 && n == 123456789);
    CU_ASSERT_EQUAL(pbjson_timestamp_parse("2026-11-27t00:12:03-05:00", &s, &n), 0);
    CU_ASSERT(s == 1795756323 && n == 0);
    CU_ASSERT_EQUAL(pbjson_timestamp_parse("2000-02-29T12:00:00.1z", &s, &n), 0);
    CU_ASSERT(s == 951825600 && n == 100000000);
    CU_ASSERT_EQUAL(pbjson_timestamp_parse("0001-01-01T00:30:00+01:00", &s, &n), LT_EINVAL);
    /* every day of a few years round trips */
    for (int64_t t = -86400LL * 800; t < 86400LL * 800; t += 86400 + 3601) {
        CU_ASSERT_EQUAL_FATAL(pbjson_timestamp_format(t, 7, buf, sizeof(buf)), 0);
        CU_ASSERT_EQUAL_FATAL(pbjson_timestamp_parse(buf, &s, &n), 0);
        CU_ASSERT_FATAL(s == t && n == 7);
    }
    /* against the C library's calendar, each precision, across 1900..2100 */
    for (int64_t t = -2208988800LL; t < 4102444800LL; t += 86400LL * 37 + 3607) {
        static const int32_t ns[] = {0, 5000000, 5000, 5};
        static const char *const frac[] = {"", ".005", ".000005", ".000000005"};
        for (int k = 0; k < 4; k++) {
            time_t tt = (time_t)t;
            struct tm tm;
            char want[64];
            CU_ASSERT_PTR_NOT_NULL_FATAL(gmtime_r(&tt, &tm));
            size_t w = strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
            snprintf(want + w, sizeof(want) - w, "%sZ", frac[k]);
            CU_ASSERT_EQUAL_FATAL(pbjson_timestamp_format(t, ns[k], buf, sizeof(buf)), 0);
            CU_ASSERT_STRING_EQUAL_FATAL(buf, want);
            /* the exact size fits; one byte less is refused, nothing written past it */
            size_t len = strlen(want);
            char small[48];
            memset(small, '#', sizeof(small));
            CU_ASSERT_EQUAL_FATAL(pbjson_timestamp_format(t, ns[k], small, len + 1), 0);
            CU_ASSERT_STRING_EQUAL_FATAL(small, want);
            memset(small, '#', sizeof(small));
            CU_ASSERT_EQUAL_FATAL(pbjson_timestamp_format(t, ns[k], small, len), LT_EINVAL);
            CU_ASSERT_EQUAL_FATAL(small[len], '#');
        }
    }

    static const char *const vec[][2] = {{"", ""},
                                         {"f", "Zg=="},
                                         {"fo", "Zm8="},
                                         {"foo", "Zm9v"},
                                         {"foob", "Zm9vYg=="},
                                         {"fooba", "Zm9vYmE="},
                                         {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        char *e = pbjson_base64_encode((const unsigned char *)vec[i][0], strlen(vec[i][0]));
        CU_ASSERT_STRING_EQUAL(e, vec[i][1]);
        free(e);
        unsigned char *d = NULL;
        size_t len = 99;
        CU_ASSERT_EQUAL(pbjson_base64_decode(vec[i][1], strlen(vec[i][1]), &d, &len), 0);
        CU_ASSERT_EQUAL(len, strlen(vec[i][0]));
        CU_ASSERT(len == 0 || memcmp(d, vec[i][0], len) == 0);
        free(d);
    }
    unsigned char *d;
    size_t len;
    CU_ASSERT_EQUAL(pbjson_base64_decode("Zm9vYg", 6, &d, &len), 0); /* no padding */
    CU_ASSERT(len == 4 && memcmp(d, "foob", 4) == 0);
    free(d);
    CU_ASSERT_EQUAL(pbjson_base64_decode("Zm9vY", 5, &d, &len), LT_EINVAL);
    CU_ASSERT_EQUAL(pbjson_base64_decode("Zm9=vYg", 7, &d, &len), LT_EINVAL);
    CU_ASSERT_EQUAL(pbjson_base64_decode("Zg=", 3, &d, &len), LT_EINVAL);

    char jn[32];
    CU_ASSERT_STRING_EQUAL(
        pbjson_json_name(&lithair__v1__wal_stats_reply__descriptor.fields[14], jn, sizeof(jn)),
        "truncatedBytesAtStart");
}

static const struct lt_test pbjson_tests[] = {
    {"all_scalars_roundtrip", test_all_scalars_roundtrip},
    {"input_spellings", test_input_spellings},
    {"defaults", test_defaults},
    {"raw_json_hook", test_raw_json_hook},
    {"oneof_nested", test_oneof_nested},
    {"errors", test_errors},
    {"timestamps_base64", test_timestamps_base64},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"pbjson", suite_init, NULL, pbjson_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
