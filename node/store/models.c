/* models.c — the declarative model table and the generic code that reads it: field lookup
 * by proto or JSON name, validation with field-level errors, canonical index keys, and the
 * leader-side prepare step that turns a create/update/delete/purge request into the
 * lithair.v1.Command to replicate (generating ids and reading the clock, which the
 * replicated apply path must never do).
 *
 * Adding a model: declare its message in proto/model.proto, add one row to model_table.
 * Nothing here knows any particular model. */
#include "models.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <json-c/json.h>
#include <uuid/uuid.h>

#include "lt_err.h"
#include "lt_jsonparse.h"
#include "lt_utf8.h"
#include "wire.h"

static const struct model_rule item_rules[] = {
    {"id", MODEL_RULE_KEY_CHARS, 128}, /* empty on create: a UUID is generated */
    {"name", MODEL_RULE_NON_EMPTY, 200},  {"description", 0, 4096},
    {"status", MODEL_RULE_ENUM_RANGE, 0}, {"metadata", 0, 65536},
};

static const struct model_rule user_rules[] = {
    {"id", MODEL_RULE_NON_EMPTY | MODEL_RULE_KEY_CHARS, 64},
    {"password_hash", MODEL_RULE_NON_EMPTY, 256},
    {"role", MODEL_RULE_ENUM_RANGE, 0},
};

static const struct model_rule session_rules[] = {
    {"id", MODEL_RULE_NON_EMPTY | MODEL_RULE_KEY_CHARS, 128},
    {"user_id", MODEL_RULE_NON_EMPTY, 64},
    {"role", MODEL_RULE_ENUM_RANGE, 0},
};

static const struct model_rule firewall_rules[] = {
    {"cidr", MODEL_RULE_NON_EMPTY, 64},
    {"action", MODEL_RULE_ENUM_RANGE, 0},
    {"note", 0, 256},
};

#define N_RULES(a) (sizeof(a) / sizeof((a)[0]))

/* The table. Order is the order of models in snapshots and digests: append only. */
static const struct model model_table[] = {
    {
        .name = "items",
        .desc = &lithair__v1__playground_item__descriptor,
        .pk = "id",
        .pk_generate = true,
        .indexes = {"name", "status", NULL},
        .version = "version",
        .created_at = "created_at",
        .updated_at = "updated_at",
        .immutable = {"id", "created_at", NULL},
        .json_fields = {"metadata", NULL},
        .benchmark = "benchmark",
        .rules = item_rules,
        .n_rules = N_RULES(item_rules),
        .history_depth = 16,
    },
    {
        .name = "users",
        .desc = &lithair__v1__user__descriptor,
        .pk = "id",
        .pk_generate = false,
        .indexes = {NULL},
        .version = "version",
        .created_at = "created_at",
        .updated_at = "updated_at",
        .immutable = {"id", "created_at", NULL},
        .json_fields = {NULL},
        .benchmark = NULL,
        .hidden = {"password_hash", NULL},
        .rules = user_rules,
        .n_rules = N_RULES(user_rules),
        .history_depth = 0,
    },
    {
        .name = "sessions",
        .desc = &lithair__v1__session__descriptor,
        .pk = "id",
        .pk_generate = false,
        .indexes = {"user_id", NULL},
        .version = "version",
        .created_at = "created_at",
        .updated_at = "updated_at",
        .immutable = {"id", "created_at", NULL},
        .json_fields = {NULL},
        .benchmark = NULL,
        .rules = session_rules,
        .n_rules = N_RULES(session_rules),
        .history_depth = 0,
    },
    {
        .name = "firewall_rules",
        .desc = &lithair__v1__firewall_rule__descriptor,
        .pk = "id",
        .pk_generate = true,
        .indexes = {NULL},
        .version = "version",
        .created_at = "created_at",
        .updated_at = "updated_at",
        .immutable = {"id", "created_at", NULL},
        .json_fields = {NULL},
        .benchmark = NULL,
        .rules = firewall_rules,
        .n_rules = N_RULES(firewall_rules),
        .history_depth = 0,
    },
};

#define FIELD_PTR(msg, fd)  ((void *)((char *)(msg) + (fd)->offset))
#define QUANT_PTR(msg, fd)  ((void *)((char *)(msg) + (fd)->quantifier_offset))
#define CFIELD_PTR(msg, fd) ((const void *)((const char *)(msg) + (fd)->offset))

size_t models_count(void)
{
    return N_RULES(model_table);
}

const struct model *models_at(size_t i)
{
    return i < models_count() ? &model_table[i] : NULL;
}

const struct model *models_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < models_count(); i++) {
        if (strcmp(model_table[i].name, name) == 0)
            return &model_table[i];
    }
    return NULL;
}

void models_json_name(const char *proto_name, char *out, size_t n)
{
    size_t j = 0;
    bool upper = false;
    if (n == 0)
        return;
    for (const char *p = proto_name; *p != '\0' && j + 1 < n; p++) {
        if (*p == '_') {
            upper = true;
            continue;
        }
        out[j++] = upper ? (char)toupper((unsigned char)*p) : *p;
        upper = false;
    }
    out[j] = '\0';
}

const ProtobufCFieldDescriptor *models_field(const struct model *m, const char *name)
{
    const ProtobufCFieldDescriptor *fd;
    char json[64];
    if (m == NULL || name == NULL)
        return NULL;
    fd = protobuf_c_message_descriptor_get_field_by_name(m->desc, name);
    if (fd != NULL)
        return fd;
    for (unsigned i = 0; i < m->desc->n_fields; i++) {
        models_json_name(m->desc->fields[i].name, json, sizeof(json));
        if (strcmp(json, name) == 0)
            return &m->desc->fields[i];
    }
    return NULL;
}

static bool name_in(const char *const *list, size_t max, const char *name)
{
    for (size_t i = 0; i < max && list[i] != NULL; i++) {
        if (strcmp(list[i], name) == 0)
            return true;
    }
    return false;
}

bool models_is_immutable(const struct model *m, const char *proto_name)
{
    return strcmp(m->pk, proto_name) == 0 ||
           name_in(m->immutable, sizeof(m->immutable) / sizeof(m->immutable[0]), proto_name);
}

bool models_is_hidden(const struct model *m, const char *proto_name)
{
    return name_in(m->hidden, sizeof(m->hidden) / sizeof(m->hidden[0]), proto_name);
}

bool models_is_managed(const struct model *m, const char *proto_name)
{
    return models_is_immutable(m, proto_name) || strcmp(m->version, proto_name) == 0 ||
           strcmp(m->created_at, proto_name) == 0 || strcmp(m->updated_at, proto_name) == 0;
}

const char *models_get_string(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    const char *s = *(char *const *)CFIELD_PTR(msg, fd);
    return s != NULL ? s : "";
}

/* string_is_default: protobuf-c does not free a string equal to the field's default. */
static bool string_is_default(const ProtobufCFieldDescriptor *fd, const char *s)
{
    return s == NULL || s == protobuf_c_empty_string || s == fd->default_value;
}

int models_set_string(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd, const char *s)
{
    char **slot = FIELD_PTR(msg, fd);
    char *copy = strdup(s);
    if (copy == NULL)
        return LT_ENOMEM;
    if (!string_is_default(fd, *slot))
        free(*slot);
    *slot = copy;
    return 0;
}

uint64_t models_get_uint64(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    return *(const uint64_t *)CFIELD_PTR(msg, fd);
}

void models_set_uint64(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd, uint64_t v)
{
    *(uint64_t *)FIELD_PTR(msg, fd) = v;
}

int models_set_timestamp(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd, int64_t seconds,
                         int32_t nanos)
{
    Lithair__V1__Timestamp **slot = FIELD_PTR(msg, fd);
    if (*slot == NULL) {
        Lithair__V1__Timestamp *ts = malloc(sizeof(*ts));
        if (ts == NULL)
            return LT_ENOMEM;
        lithair__v1__timestamp__init(ts);
        *slot = ts;
    }
    (*slot)->seconds = seconds;
    (*slot)->nanos = nanos;
    return 0;
}

void models_get_timestamp(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                          int64_t *seconds, int32_t *nanos)
{
    const Lithair__V1__Timestamp *ts = *(Lithair__V1__Timestamp *const *)CFIELD_PTR(msg, fd);
    *seconds = ts != NULL ? ts->seconds : 0;
    *nanos = ts != NULL ? ts->nanos : 0;
}

/* field_value_size: bytes the C member of a singular field occupies. */
static size_t field_value_size(const ProtobufCFieldDescriptor *fd)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    }
    return 0;
}

static void swap_bytes(void *a, void *b, size_t n)
{
    unsigned char tmp[sizeof(ProtobufCBinaryData) > 8 ? sizeof(ProtobufCBinaryData) : 8];
    assert(n <= sizeof(tmp));
    memcpy(tmp, a, n);
    memcpy(a, b, n);
    memcpy(b, tmp, n);
}

void models_swap_field(ProtobufCMessage *a, ProtobufCMessage *b, const ProtobufCFieldDescriptor *fd)
{
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        swap_bytes(QUANT_PTR(a, fd), QUANT_PTR(b, fd), sizeof(size_t));
        swap_bytes(FIELD_PTR(a, fd), FIELD_PTR(b, fd), sizeof(void *));
        return;
    }
    if ((fd->label == PROTOBUF_C_LABEL_OPTIONAL ||
         (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0) &&
        fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_MESSAGE) {
        swap_bytes(QUANT_PTR(a, fd), QUANT_PTR(b, fd), sizeof(protobuf_c_boolean));
    }
    swap_bytes(FIELD_PTR(a, fd), FIELD_PTR(b, fd), field_value_size(fd));
}

static void violation_add(struct model_violations *out, const char *proto_name, const char *fmt,
                          const char *arg, unsigned long num)
{
    struct model_violation *v;
    if (out == NULL)
        return;
    if (out->n >= MODELS_MAX_VIOLATIONS) {
        out->dropped++;
        return;
    }
    v = &out->v[out->n++];
    models_json_name(proto_name, v->field, sizeof(v->field));
    if (arg != NULL)
        snprintf(v->description, sizeof(v->description), fmt, arg);
    else
        snprintf(v->description, sizeof(v->description), fmt, num);
}

/* json_check: 1 if the whole string is one JSON value, read strictly (lt_jsonparse.h:
 * whitespace around allowed, no key twice in one object), 0 if not, LT_ENOMEM if memory ran
 * out. (json-c 0.16 does not report memory failures inside the parse apart from syntax
 * errors.) Nesting deeper than json-c's default depth (32) is invalid. */
static int json_check(const char *s)
{
    char err[160];
    json_object *obj = NULL;
    int rc = lt_json_parse(s, strlen(s), &obj, err, sizeof(err));
    json_object_put(obj);
    return rc == 0 ? 1 : rc == LT_ENOMEM ? LT_ENOMEM : 0;
}

static bool filter_has(const char *const *fields, size_t n, const char *name)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fields[i], name) == 0)
            return true;
    }
    return false;
}

/* blank: `s` holds only ASCII white space (a name of spaces shows as no name at all). */
static bool blank(const char *s)
{
    for (; *s; s++) {
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\v' && *s != '\f')
            return false;
    }
    return true;
}

/* key_chars_ok: MODEL_RULE_KEY_CHARS for a non-empty key. */
static bool key_chars_ok(const char *k)
{
    if (strcmp(k, ".") == 0 || strcmp(k, "..") == 0)
        return false;
    for (; *k; k++) {
        char c = *k;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '~' || c == '-'))
            return false;
    }
    return true;
}

size_t models_validate(const struct model *m, const ProtobufCMessage *msg,
                       const char *const *fields, size_t n_fields, struct model_violations *out)
{
    size_t failures = 0;
    for (size_t i = 0; i < m->n_rules; i++) {
        const struct model_rule *r = &m->rules[i];
        const ProtobufCFieldDescriptor *fd = models_field(m, r->field);
        size_t len = 0;
        if (fd == NULL || !filter_has(fields, n_fields, fd->name))
            continue;
        if (fd->type == PROTOBUF_C_TYPE_STRING) {
            len = strlen(models_get_string(msg, fd));
        } else if (fd->type == PROTOBUF_C_TYPE_BYTES) {
            len = ((const ProtobufCBinaryData *)CFIELD_PTR(msg, fd))->len;
        } else if (fd->type == PROTOBUF_C_TYPE_ENUM && (r->flags & MODEL_RULE_ENUM_RANGE)) {
            int v = *(const int *)CFIELD_PTR(msg, fd);
            if (protobuf_c_enum_descriptor_get_value(fd->descriptor, v) == NULL) {
                char names[80];
                wire_enum_names(fd->descriptor, names, sizeof(names));
                violation_add(out, fd->name, "must be one of %s", names, 0);
                failures++;
            }
            continue;
        }
        if ((r->flags & MODEL_RULE_NON_EMPTY) && len == 0) {
            violation_add(out, fd->name, "must not be empty", NULL, 0);
            failures++;
        } else if ((r->flags & MODEL_RULE_NON_EMPTY) && fd->type == PROTOBUF_C_TYPE_STRING &&
                   blank(models_get_string(msg, fd))) {
            violation_add(out, fd->name, "must not be blank (only spaces)", NULL, 0);
            failures++;
        }
        if ((r->flags & MODEL_RULE_KEY_CHARS) && fd->type == PROTOBUF_C_TYPE_STRING && len > 0 &&
            !key_chars_ok(models_get_string(msg, fd))) {
            violation_add(out, fd->name,
                          "may hold only letters, digits and . _ ~ - (and is not . or ..)", NULL,
                          0);
            failures++;
        }
        if (r->max_len != 0 && len > r->max_len) {
            violation_add(out, fd->name, "must be at most %lu bytes", NULL, r->max_len);
            failures++;
        }
    }
    /* Every string must be strict UTF-8 (lt_utf8.h): proto3 requires it, protobuf-c does
     * not check it, and one bad record would make every JSON page listing it unreadable. */
    for (unsigned i = 0; i < m->desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &m->desc->fields[i];
        if (fd->type != PROTOBUF_C_TYPE_STRING || !filter_has(fields, n_fields, fd->name))
            continue;
        size_t n = 1;
        char *const *v = CFIELD_PTR(msg, fd);
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)((const char *)msg + fd->quantifier_offset) != fd->id)
            continue; /* another member of its oneof is set: the memory is not this one's */
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)((const char *)msg + fd->quantifier_offset);
            v = *(char *const *const *)CFIELD_PTR(msg, fd);
        }
        for (size_t k = 0; k < n; k++) {
            if (v[k] != NULL && lt_utf8_invalid_at(v[k], strlen(v[k])) >= 0) {
                violation_add(out, fd->name, "must be valid UTF-8", NULL, 0);
                failures++;
                break;
            }
        }
    }
    for (size_t i = 0; i < sizeof(m->json_fields) / sizeof(m->json_fields[0]); i++) {
        const ProtobufCFieldDescriptor *fd;
        const char *s;
        if (m->json_fields[i] == NULL)
            break;
        fd = models_field(m, m->json_fields[i]);
        if (fd == NULL || fd->type != PROTOBUF_C_TYPE_STRING ||
            !filter_has(fields, n_fields, fd->name))
            continue;
        s = models_get_string(msg, fd);
        if (s[0] != '\0') {
            int ok = json_check(s);
            if (ok == LT_ENOMEM && out != NULL) {
                out->oom = true;
                failures++;
            } else if (ok != 1) {
                violation_add(out, fd->name, "must be valid JSON", NULL, 0);
                failures++;
            }
        }
    }
    return failures;
}

int models_index_value(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd, char *out,
                       size_t n)
{
    const void *p = CFIELD_PTR(msg, fd);
    int w;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
        w = snprintf(out, n, "%s", models_get_string(msg, fd));
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(fd->descriptor, *(const int *)p);
        if (ev != NULL)
            w = snprintf(out, n, "%s", ev->name);
        else
            w = snprintf(out, n, "%d", *(const int *)p);
        break;
    }
    case PROTOBUF_C_TYPE_BOOL:
        w = snprintf(out, n, "%s", *(const protobuf_c_boolean *)p ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        w = snprintf(out, n, "%" PRId32, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        w = snprintf(out, n, "%" PRIu32, *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        w = snprintf(out, n, "%" PRId64, *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        w = snprintf(out, n, "%" PRIu64, *(const uint64_t *)p);
        break;
    default:
        return LT_EUNSUPPORTED;
    }
    if (w < 0 || (size_t)w >= n)
        return LT_ETOOBIG;
    return 0;
}

int models_index_normalize(const ProtobufCFieldDescriptor *fd, const char *in, char *out, size_t n)
{
    if (fd->type == PROTOBUF_C_TYPE_ENUM) {
        const ProtobufCEnumDescriptor *ed = fd->descriptor;
        char *end;
        long v;
        for (unsigned i = 0; i < ed->n_values; i++) {
            if (strcasecmp(ed->values[i].name, in) == 0) {
                snprintf(out, n, "%s", ed->values[i].name);
                return 0;
            }
        }
        v = strtol(in, &end, 10);
        if (in[0] == '\0' || *end != '\0')
            return LT_EINVAL;
        for (unsigned i = 0; i < ed->n_values; i++) {
            if (ed->values[i].value == v) {
                snprintf(out, n, "%s", ed->values[i].name);
                return 0;
            }
        }
        return LT_EINVAL;
    }
    if (fd->type == PROTOBUF_C_TYPE_BOOL) {
        if (strcasecmp(in, "true") == 0 || strcmp(in, "1") == 0)
            snprintf(out, n, "true");
        else if (strcasecmp(in, "false") == 0 || strcmp(in, "0") == 0)
            snprintf(out, n, "false");
        else
            return LT_EINVAL;
        return 0;
    }
    if ((size_t)snprintf(out, n, "%s", in) >= n)
        return LT_ETOOBIG;
    return 0;
}

bool models_is_benchmark(const struct model *m, const ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *fd;
    if (m->benchmark == NULL)
        return false;
    fd = models_field(m, m->benchmark);
    return fd != NULL && *(const protobuf_c_boolean *)CFIELD_PTR(msg, fd);
}

/* rule_requires: the table has a non_empty rule for `field`. */
static bool rule_requires(const struct model *m, const char *field)
{
    for (size_t i = 0; i < m->n_rules; i++) {
        if (strcmp(m->rules[i].field, field) == 0 && (m->rules[i].flags & MODEL_RULE_NON_EMPTY))
            return true;
    }
    return false;
}

/* command_pack serializes `c` into a fresh buffer. */
static int command_pack(const Lithair__V1__Command *c, struct model_prepared *out)
{
    size_t len = lithair__v1__command__get_packed_size(c);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return LT_ENOMEM;
    lithair__v1__command__pack(c, buf);
    out->cmd = buf;
    out->cmd_len = len;
    return 0;
}

static void timestamp_from_ns(Lithair__V1__Timestamp *ts, uint64_t now_ns)
{
    ts->seconds = (int64_t)(now_ns / 1000000000u);
    ts->nanos = (int32_t)(now_ns % 1000000000u);
}

/* prepare_put packs `msg` into a Put Command and fills `out`. */
static int prepare_put(const struct model *m, ProtobufCMessage *msg, bool create,
                       const char *const *fields, size_t n_fields, uint64_t expected_version,
                       const Lithair__V1__Timestamp *expected_created, uint64_t now_ns,
                       uint64_t proposer, struct model_prepared *out)
{
    Lithair__V1__Timestamp at = LITHAIR__V1__TIMESTAMP__INIT;
    Lithair__V1__Command c = LITHAIR__V1__COMMAND__INIT;
    Lithair__V1__Command__Put put = LITHAIR__V1__COMMAND__PUT__INIT;
    struct model_prepared p = {0};
    size_t vlen = protobuf_c_message_get_packed_size(msg);
    uint8_t *value = malloc(vlen > 0 ? vlen : 1);
    int rc = LT_ENOMEM;
    if (value == NULL)
        goto out;
    protobuf_c_message_pack(msg, value);
    timestamp_from_ns(&at, now_ns);
    put.model = (char *)m->name;
    put.value.data = value;
    put.value.len = vlen;
    put.create = create;
    put.update = !create;
    put.expected_version = expected_version;
    put.expected_created = (Lithair__V1__Timestamp *)expected_created;
    put.fields = (char **)fields;
    put.n_fields = n_fields;
    c.at = &at;
    c.proposer = proposer;
    c.op_case = LITHAIR__V1__COMMAND__OP_PUT;
    c.put = &put;
    p.id = strdup(models_get_string(msg, models_field(m, m->pk)));
    if (p.id == NULL)
        goto out_free_value;
    rc = command_pack(&c, &p);
    if (rc != 0) {
        free(p.id);
        goto out_free_value;
    }
    *out = p;
out_free_value:
    free(value);
out:
    return rc;
}

/* random_bytes fills buf (at most RANDOM_POOL bytes) from a per-thread pool of the kernel's
 * random bytes, refilled by one getrandom() per RANDOM_POOL bytes: libuuid's
 * uuid_generate_random makes six system calls per id (getrandom, then getpid, getuid,
 * gettid, getppid to stir random()), which on the leader's loop cost more than the rest of
 * making the key. Returns -1 if the kernel gives no bytes (the caller falls back). */
#define RANDOM_POOL 512
static int random_bytes(uint8_t *buf, size_t n)
{
    static _Thread_local uint8_t pool[RANDOM_POOL];
    static _Thread_local size_t left;
    if (left < n) {
        ssize_t got = getrandom(pool, sizeof(pool), 0);
        if (got != (ssize_t)sizeof(pool))
            return -1;
        left = sizeof(pool);
    }
    memcpy(buf, pool + sizeof(pool) - left, n);
    left -= n; /* a byte is handed out once */
    return 0;
}

/* models_uuid7 writes a time-ordered UUID (RFC 9562 version 7): 48 bits of Unix
 * milliseconds, a 12-bit counter that keeps ids from this process strictly increasing
 * within a millisecond (and across a clock step back), 62 random bits. The counter starts
 * each new millisecond at a random value below 2048 (RFC 9562 6.2, method 1, with its
 * rollover guard bit clear): so the 12 bits carry randomness too, and 2048 more ids fit in
 * the millisecond before it borrows from the next. Increasing keys matter beyond looks:
 * the store's ordered lists insert them at their tail in O(1). */
static void models_uuid7(uint64_t now_ns, char text[37])
{
    uuid_t u;
    if (random_bytes(u, sizeof(u)) != 0)
        uuid_generate_random(u);  /* the random bits; version and variant are set below */
    static _Atomic uint64_t last; /* (ms << 12) | counter of the last id handed out */
    uint64_t start = ((uint64_t)(u[6] & 0x07) << 8) | u[7]; /* 0..2047 */
    uint64_t want = ((now_ns / 1000000u) << 12) | start, prev = atomic_load(&last), next;
    do
        next = want >> 12 > prev >> 12 ? want : prev + 1;
    while (!atomic_compare_exchange_weak(&last, &prev, next));
    uint64_t ms = next >> 12;
    for (int i = 0; i < 6; i++)
        u[i] = (uint8_t)(ms >> (8 * (5 - i)));
    u[6] = (uint8_t)(0x70 | ((next >> 8) & 0x0f));
    u[7] = (uint8_t)(next & 0xff);
    u[8] = (uint8_t)(0x80 | (u[8] & 0x3f));
    uuid_unparse_lower(u, text);
}

int models_prepare_create(const struct model *m, const uint8_t *value, size_t len, uint64_t now_ns,
                          uint64_t proposer, struct model_violations *viol,
                          struct model_prepared *out)
{
    const ProtobufCFieldDescriptor *pk = models_field(m, m->pk);
    ProtobufCMessage *msg = protobuf_c_message_unpack(m->desc, NULL, len, value);
    size_t bad = 0;
    int rc = LT_EINVAL;
    if (msg == NULL) {
        violation_add(viol, "value", "is not a valid %s message", m->desc->name, 0);
        goto out;
    }
    if (models_get_string(msg, pk)[0] == '\0' && m->pk_generate) {
        char text[37];
        models_uuid7(now_ns, text);
        rc = models_set_string(msg, pk, text);
        if (rc != 0)
            goto out_free_msg;
    } else if (models_get_string(msg, pk)[0] == '\0' && !rule_requires(m, pk->name)) {
        violation_add(viol, pk->name, "must not be empty", NULL, 0);
        bad++;
    }
    bad += models_validate(m, msg, NULL, 0, viol);
    if (bad > 0) {
        /* a check that only ran out of memory says nothing against the value */
        rc = viol && viol->oom && viol->n == 0 ? LT_ENOMEM : LT_EINVAL;
        goto out_free_msg;
    }
    rc = prepare_put(m, msg, true, NULL, 0, 0, NULL, now_ns, proposer, out);
out_free_msg:
    protobuf_c_message_free_unpacked(msg, NULL);
out:
    return rc;
}

int models_prepare_update(const struct model *m, const char *id, const uint8_t *value, size_t len,
                          const char *const *fields, size_t n_fields, uint64_t expected_version,
                          const Lithair__V1__Timestamp *expected_created, uint64_t now_ns,
                          uint64_t proposer, struct model_violations *viol,
                          struct model_prepared *out)
{
    const ProtobufCFieldDescriptor *pk = models_field(m, m->pk);
    ProtobufCMessage *msg = NULL;
    const char **names = NULL;
    size_t bad = 0;
    int rc = LT_EINVAL;
    if (id == NULL || id[0] == '\0') {
        violation_add(viol, pk->name, "must not be empty", NULL, 0);
        bad++;
    }
    msg = protobuf_c_message_unpack(m->desc, NULL, len, value);
    if (msg == NULL) {
        violation_add(viol, "value", "is not a valid %s message", m->desc->name, 0);
        goto out;
    }
    if (n_fields > 0) {
        names = calloc(n_fields, sizeof(*names));
        if (names == NULL) {
            rc = LT_ENOMEM;
            goto out_free_msg;
        }
    }
    bool pk_named = false;
    size_t kept = 0;
    for (size_t i = 0; i < n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = models_field(m, fields[i]);
        if (fd == NULL) {
            violation_add(viol, fields[i], "is not a field of %s", m->name, 0);
            bad++;
            names[kept++] = "";
            continue;
        }
        if (fd == pk && id != NULL && strcmp(models_get_string(msg, pk), id) == 0)
            continue; /* the record's own id: it names the record and changes nothing */
        pk_named |= fd == pk;
        names[kept++] = fd->name;
        if (models_is_immutable(m, fd->name)) {
            violation_add(viol, fd->name, "is immutable", NULL, 0);
            bad++;
        } else if (models_is_managed(m, fd->name)) {
            violation_add(viol, fd->name, "is set by the store", NULL, 0);
            bad++;
        }
    }
    if (n_fields > 0 && kept == 0) {
        /* an empty mask would mean "replace every field": the caller named only the id */
        violation_add(viol, pk->name,
                      "names the record and changes nothing: name a field to change", NULL, 0);
        bad++;
    }
    n_fields = kept;
    /* An update may clear the benchmark flag but never set it: a user's record marked as
     * benchmark data would be deleted by the next cleanup. Only creates set it. */
    if (m->benchmark != NULL && models_is_benchmark(m, msg)) {
        bool named = n_fields == 0;
        for (size_t i = 0; i < n_fields; i++)
            named |= names[i][0] != '\0' && strcmp(names[i], m->benchmark) == 0;
        if (named) {
            violation_add(viol, m->benchmark,
                          "cannot be set by an update (a benchmark's creates set it)", NULL, 0);
            bad++;
        }
    }
    if (id != NULL && id[0] != '\0') {
        const char *in = models_get_string(msg, pk);
        if (in[0] != '\0' && strcmp(in, id) != 0) {
            if (!pk_named) /* else it is already reported as immutable */
                violation_add(viol, pk->name, "does not match the record's id", NULL, 0);
            bad++;
        } else {
            rc = models_set_string(msg, pk, id);
            if (rc != 0)
                goto out_free_names;
        }
    }
    bad += models_validate(m, msg, names, n_fields, viol);
    if (bad > 0) {
        rc = viol && viol->oom && viol->n == 0 ? LT_ENOMEM : LT_EINVAL;
        goto out_free_names;
    }
    rc = prepare_put(m, msg, false, names, n_fields, expected_version, expected_created, now_ns,
                     proposer, out);
out_free_names:
    free(names);
out_free_msg:
    protobuf_c_message_free_unpacked(msg, NULL);
out:
    return rc;
}

int models_prepare_delete(const struct model *m, const char *id, uint64_t expected_version,
                          const Lithair__V1__Timestamp *expected_created, uint64_t now_ns,
                          uint64_t proposer, struct model_violations *viol,
                          struct model_prepared *out)
{
    Lithair__V1__Timestamp at = LITHAIR__V1__TIMESTAMP__INIT;
    Lithair__V1__Command c = LITHAIR__V1__COMMAND__INIT;
    Lithair__V1__Command__Delete del = LITHAIR__V1__COMMAND__DELETE__INIT;
    struct model_prepared p = {0};
    int rc;
    if (id == NULL || id[0] == '\0') {
        violation_add(viol, m->pk, "must not be empty", NULL, 0);
        return LT_EINVAL;
    }
    timestamp_from_ns(&at, now_ns);
    del.model = (char *)m->name;
    del.id = (char *)id;
    del.expected_version = expected_version;
    del.expected_created = (Lithair__V1__Timestamp *)expected_created;
    c.at = &at;
    c.proposer = proposer;
    c.op_case = LITHAIR__V1__COMMAND__OP_DELETE;
    c.delete_ = &del;
    p.id = strdup(id);
    if (p.id == NULL)
        return LT_ENOMEM;
    rc = command_pack(&c, &p);
    if (rc != 0) {
        free(p.id);
        return rc;
    }
    *out = p;
    return 0;
}

int models_prepare_purge(const struct model *m, uint64_t limit, uint64_t now_ns, uint64_t proposer,
                         struct model_prepared *out)
{
    Lithair__V1__Timestamp at = LITHAIR__V1__TIMESTAMP__INIT;
    Lithair__V1__Command c = LITHAIR__V1__COMMAND__INIT;
    Lithair__V1__Command__Purge purge = LITHAIR__V1__COMMAND__PURGE__INIT;
    struct model_prepared p = {0};
    int rc;
    timestamp_from_ns(&at, now_ns);
    purge.model = (char *)m->name;
    purge.limit = limit;
    c.at = &at;
    c.proposer = proposer;
    c.op_case = LITHAIR__V1__COMMAND__OP_PURGE;
    c.purge = &purge;
    rc = command_pack(&c, &p);
    if (rc != 0)
        return rc;
    *out = p;
    return 0;
}

void models_prepared_fini(struct model_prepared *p)
{
    if (p == NULL)
        return;
    free(p->cmd);
    free(p->id);
    p->cmd = NULL;
    p->id = NULL;
    p->cmd_len = 0;
}
