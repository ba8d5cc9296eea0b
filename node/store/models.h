/* models.h — the declarative model table: every replicated model is a protobuf message in
 * proto/model.proto plus one row here naming its primary key, indexed fields, timestamps,
 * version, immutable fields, JSON-valued fields, benchmark flag, validation rules and
 * history depth. Generic code (this module's prepare/validate step, the store, the
 * gateway's transcoder) reads the row and protobuf-c's reflection; nothing is written per
 * model.
 *
 * The prepare step runs on the leader before a change is proposed: it validates the value
 * (reporting every failing field), fills in what is not deterministic (a UUID v4 primary
 * key, the clock) and builds the lithair.v1.Command to replicate. It is not the state
 * machine: applying a Command is store.c's job, and that path never reads the clock or
 * random numbers. */
#ifndef MODELS_H
#define MODELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define MODELS_MAX_INDEXES    4
#define MODELS_MAX_VIOLATIONS 16

/* Validation rule flags. */
#define MODEL_RULE_NON_EMPTY  0x1u /* string/bytes must not be empty (a string: nor blank) */
#define MODEL_RULE_ENUM_RANGE 0x2u /* enum must be one of the declared values */
#define MODEL_RULE_KEY_CHARS                                                                       \
    0x4u /* a key: only A-Z a-z 0-9 . _ ~ - (URL-safe, so every key                                \
          * is one plain path segment), and not "." or ".." */

/* model_rule: validation of one field. */
struct model_rule {
    const char *field; /* proto field name */
    unsigned flags;    /* MODEL_RULE_* */
    uint32_t max_len;  /* strings/bytes: maximum length in bytes; 0 = unbounded */
};

/* model: one row of the descriptor table. Field names are proto (snake_case) names. */
struct model {
    const char *name; /* "items": the name in RPCs, REST paths and Commands */
    const ProtobufCMessageDescriptor *desc;
    const char *pk;   /* string field: the primary key */
    bool pk_generate; /* an empty key on create gets a UUID v7 (else it is an error) */
    const char *indexes[MODELS_MAX_INDEXES + 1]; /* secondary indexes, NULL-terminated */
    const char *version;                         /* uint64 field, set by the store */
    const char *created_at;                      /* Timestamp field, set on create */
    const char *updated_at;                      /* Timestamp field, set on every change */
    const char *immutable[4];                    /* never changed by an update (NULL-terminated) */
    const char *json_fields[4]; /* strings that must hold valid JSON if non-empty */
    const char *benchmark;      /* bool field marking purgeable benchmark data, or NULL */
    const char *hidden[4];      /* never shown to clients (e.g. password hashes) */
    const struct model_rule *rules;
    size_t n_rules;
    unsigned history_depth; /* versions kept per record (current included); 0 = none */
};

/* model_violation: one failing field, as rpc.proto's FieldViolation. */
struct model_violation {
    char field[64];        /* JSON (lowerCamelCase) name */
    char description[112]; /* "must not be empty" */
};

struct model_violations {
    struct model_violation v[MODELS_MAX_VIOLATIONS];
    size_t n; /* entries beyond MODELS_MAX_VIOLATIONS are counted in `dropped` */
    size_t dropped;
    bool oom; /* a check could not run for lack of memory (not the value's fault) */
};

/* model_prepared: a Command ready to propose. */
struct model_prepared {
    uint8_t *cmd; /* the serialized lithair.v1.Command (malloc'd) */
    size_t cmd_len;
    char *id; /* the record's primary key (malloc'd; the generated one on create) */
};

/* models_count / models_at enumerate the table. */
size_t models_count(void);
const struct model *models_at(size_t i);

/* models_find returns the model named `name` ("items"), NULL if none. */
const struct model *models_find(const char *name);

/* models_field looks up a field by proto name ("created_at") or JSON name ("createdAt").
 * Returns NULL if the model has no such field. */
const ProtobufCFieldDescriptor *models_field(const struct model *m, const char *name);

/* models_json_name writes the JSON (lowerCamelCase) name of a proto field name. */
void models_json_name(const char *proto_name, char *out, size_t n);

/* models_is_immutable is true for the primary key and the model's immutable fields. */
bool models_is_immutable(const struct model *m, const char *proto_name);

/* models_is_hidden is true for fields the service and gateway must not show to clients. */
bool models_is_hidden(const struct model *m, const char *proto_name);

/* models_is_managed is true for fields the store sets itself (version, timestamps, key). */
bool models_is_managed(const struct model *m, const char *proto_name);

/* models_validate checks `msg` (a message of m->desc) against every rule and JSON field.
 * With `fields` (proto names, n_fields > 0) only those fields are checked. Every failure
 * is appended to `out` (which the caller zeroes first). Returns the number of failures. */
size_t models_validate(const struct model *m, const ProtobufCMessage *msg,
                       const char *const *fields, size_t n_fields, struct model_violations *out);

/* models_index_value writes the canonical index key of field `fd` of `msg` into `out`:
 * strings as is, enums as the value's name ("ACTIVE", or the number if undeclared),
 * booleans "true"/"false", integers in decimal. Returns LT_ETOOBIG if it does not fit. */
int models_index_value(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd, char *out,
                       size_t n);

/* models_index_normalize turns a query value for index field `fd` into its canonical key:
 * enums accept a name (any case) or a number. Returns LT_EINVAL if it names no value. */
int models_index_normalize(const ProtobufCFieldDescriptor *fd, const char *in, char *out, size_t n);

/* models_is_benchmark tells whether `msg` has its benchmark flag set. */
bool models_is_benchmark(const struct model *m, const ProtobufCMessage *msg);

/* models_prepare_create validates `value` (a serialized m->desc message) for a create and
 * builds the Put{create} Command stamped `now_ns` (wall clock, ns since the epoch) and
 * `proposer`. An empty primary key gets a time-ordered UUID v7 when m->pk_generate. Returns 0 and
 * fills `out` (free with models_prepared_fini); LT_EINVAL with the failures in `viol` (which may be
 * NULL) when the value does not decode or does not validate; LT_ENOMEM. */
int models_prepare_create(const struct model *m, const uint8_t *value, size_t len, uint64_t now_ns,
                          uint64_t proposer, struct model_violations *viol,
                          struct model_prepared *out);

/* models_prepare_update validates an update of record `id` to `value` limited to `fields`
 * (proto or JSON names; none = every mutable field) and builds the Put{update} Command,
 * conditional on `expected_version` (0: any) and `expected_created` (NULL: any; else the
 * record's created_at, the incarnation the caller read: see store_apply). A
 * field that is unknown, immutable or managed by the store, an id in `value` that differs
 * from `id`, and every failing rule of the changed fields are reported in `viol`. The
 * merge with the current record happens when the Command is applied. Returns as
 * models_prepare_create. */
int models_prepare_update(const struct model *m, const char *id, const uint8_t *value, size_t len,
                          const char *const *fields, size_t n_fields, uint64_t expected_version,
                          const Lithair__V1__Timestamp *expected_created, uint64_t now_ns,
                          uint64_t proposer, struct model_violations *viol,
                          struct model_prepared *out);

/* models_prepare_delete / models_prepare_purge build the Delete and Purge Commands (a purge
 * deletes at most `limit` benchmark records, 0 = all); a delete is conditional as an
 * update. */
int models_prepare_delete(const struct model *m, const char *id, uint64_t expected_version,
                          const Lithair__V1__Timestamp *expected_created, uint64_t now_ns,
                          uint64_t proposer, struct model_violations *viol,
                          struct model_prepared *out);
int models_prepare_purge(const struct model *m, uint64_t limit, uint64_t now_ns, uint64_t proposer,
                         struct model_prepared *out);

/* Reflection helpers over one field of an unpacked message (allocated by protobuf-c's
 * default allocator, i.e. malloc). */
const char *models_get_string(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd);
int models_set_string(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd, const char *s);
uint64_t models_get_uint64(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd);
void models_set_uint64(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd, uint64_t v);
int models_set_timestamp(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd, int64_t seconds,
                         int32_t nanos);
/* models_get_timestamp reads Timestamp field `fd` of `msg`; an unset one reads as 0, 0. */
void models_get_timestamp(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                          int64_t *seconds, int32_t *nanos);
/* models_swap_field exchanges field `fd` (value and presence/count) of two messages of the
 * same type: ownership moves with it, so both can still be freed with
 * protobuf_c_message_free_unpacked. */
void models_swap_field(ProtobufCMessage *a, ProtobufCMessage *b,
                       const ProtobufCFieldDescriptor *fd);

/* models_prepared_fini frees what a models_prepare_* call put in `p`. */
void models_prepared_fini(struct model_prepared *p);

#endif
