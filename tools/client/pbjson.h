/* pbjson.h — the generic JSON ⇄ protobuf transcoder: any protobuf-c message descriptor,
 * json-c values, proto3 JSON conventions.
 *
 * Output (pbjson_from_message):
 *   - field names in lowerCamelCase ("created_at" → "createdAt");
 *   - enums as their value name in lower case ("active"); a number not declared in the
 *     enum as a number;
 *   - int64/uint64/sint64/fixed64/sfixed64 as decimal strings, 32-bit integers as numbers;
 *   - float/double as numbers, NaN and infinities as "NaN", "Infinity", "-Infinity";
 *   - bytes as standard base64 with padding;
 *   - repeated fields as arrays, messages as objects;
 *   - any message named *.Timestamp with int64 seconds / int32 nanos (lithair.v1.Timestamp,
 *     google.protobuf.Timestamp) as an RFC 3339 UTC string with 0, 3, 6 or 9 fractional
 *     digits: "2026-11-27T05:12:03.123456789Z";
 *   - fields at their default (0, "", false, empty bytes/array, first enum value) are
 *     omitted unless opts->emit_defaults; absent messages are always omitted; a set oneof
 *     member and a set proto3 `optional` field are always emitted;
 *   - a string field the raw-JSON hook marks is embedded as the JSON value it holds (a
 *     string that is not valid JSON is emitted as a plain string; an empty one, never
 *     set, as null).
 * Input (pbjson_to_message):
 *   - keys by lowerCamelCase or original snake_case name; an unknown key is an error
 *     unless opts->ignore_unknown; a key given twice (e.g. both spellings) is an error;
 *   - JSON null for a field means "not set" (its default), except for raw-JSON fields;
 *   - integers as numbers (an integral double such as 1e2 is accepted) or decimal strings,
 *     range-checked against the field's type (json-c itself saturates integer literals
 *     beyond 64 bits; as strings they are rejected);
 *   - enums as names (case-insensitive) or integers;
 *   - bytes as base64, standard or URL-safe, padding optional;
 *   - timestamps as RFC 3339 with "Z" or a numeric offset ("+02:00"), 0-9 digits of fraction,
 *     or as an object {"seconds", "nanos"} with nanos from 0 to 999999999;
 *   - a raw-JSON field takes any JSON value, stored as compact JSON text.
 *   - maps are not special-cased (protobuf-c exposes them as repeated entry messages).
 * Every error names the JSON path of the offending value: "name", "items[2].name",
 * "createdAt".
 *
 * Memory: pbjson_to_message builds the message directly with malloc, exactly as
 * protobuf_c_message_unpack with the default allocator would (strings and bytes malloc'd,
 * defaults pointing to protobuf_c_empty_string), so the caller frees the result with
 * protobuf_c_message_free_unpacked(msg, NULL).
 *
 * Not here: validation of model rules (non-empty names...), which belongs to the model
 * table; JSON text parsing/printing, which is json-c's. */
#ifndef PBJSON_H
#define PBJSON_H

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

/* A hook saying whether string field `f` of message type `d` holds raw JSON text. */
typedef bool (*pbjson_raw_fn)(const ProtobufCMessageDescriptor *d,
                              const ProtobufCFieldDescriptor *f, void *ud);

struct pbjson_opts {
    bool emit_defaults;  /* output: also fields at their default value */
    bool ignore_unknown; /* input: skip unknown keys instead of failing */
    pbjson_raw_fn is_raw_json;
    void *raw_ud; /* passed to is_raw_json */
};

/* The first error found while decoding. */
struct pbjson_error {
    char path[256];    /* JSON path of the offending value, "" for the top level */
    char message[256]; /* what is wrong, e.g. "expected a string" */
};

/* pbjson_decode builds a message of type `d` from the JSON object `in`. On success
 * returns 0 and stores the message in *out (free with protobuf_c_message_free_unpacked
 * (m, NULL)). Returns LT_EINVAL for bad input (details in *e when e is not NULL) and
 * LT_ENOMEM when out of memory. `o` may be NULL (all options off). */
int pbjson_decode(const ProtobufCMessageDescriptor *d, json_object *in, const struct pbjson_opts *o,
                  ProtobufCMessage **out, struct pbjson_error *e);

/* pbjson_to_message is pbjson_decode with the error formatted into `err` as
 * "<path>: <message>" (just "<message>" at the top level). `err` may be NULL. */
int pbjson_to_message(const ProtobufCMessageDescriptor *d, json_object *in,
                      const struct pbjson_opts *o, ProtobufCMessage **out, char *err,
                      size_t errlen);

/* pbjson_parse_object parses text[0..len) (NUL-terminated at len) as one JSON object,
 * strictly: lt_json_lex_check first (what json-c lets through or changes), then json-c
 * in strict mode, nothing but white space after the object. Returns 0 and *out (release
 * with json_object_put), LT_EINVAL with a message in err ("malformed JSON at byte N: ...")
 * or LT_ENOMEM. The gateway reads request bodies and the CLI its arguments this way. */
int pbjson_parse_object(const char *text, size_t len, json_object **out, char *err, size_t errlen);

/* pbjson_from_message returns a new JSON object for `m` (release with json_object_put),
 * NULL when out of memory. `o` may be NULL. */
json_object *pbjson_from_message(const ProtobufCMessage *m, const struct pbjson_opts *o);

/* pbjson_raw_json_by_name is a ready-made is_raw_json hook: `ud` is a NULL-terminated
 * array of "full.message.Name.field" strings, e.g.
 *   static const char *raw[] = {"lithair.v1.PlaygroundItem.metadata", NULL};
 * and a string field is raw JSON when its full name is in the array. */
bool pbjson_raw_json_by_name(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
                             void *ud);

/* pbjson_json_name writes the lowerCamelCase name of `f` into buf (truncated to n - 1
 * characters) and returns buf. */
char *pbjson_json_name(const ProtobufCFieldDescriptor *f, char *buf, size_t n);

/* pbjson_base64_encode / pbjson_base64_decode: standard base64 with padding out; on input
 * standard or URL-safe, padding optional. Encode returns a malloc'd NUL-terminated
 * string (NULL on OOM). Decode returns 0 and a malloc'd buffer (NULL when empty) and its
 * length, LT_EINVAL if `s` is not base64, LT_ENOMEM. */
char *pbjson_base64_encode(const unsigned char *data, size_t len);
int pbjson_base64_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen);

/* pbjson_timestamp_format writes RFC 3339 UTC for (seconds, nanos) into buf (at least
 * 40 bytes); nanos outside [0, 1e9) are normalized into seconds. Returns 0, or
 * LT_EINVAL when the instant is outside years 0001..9999.
 * pbjson_timestamp_parse is its inverse, accepting "Z" or "±HH:MM" offsets. */
int pbjson_timestamp_format(int64_t seconds, int32_t nanos, char *buf, size_t n);
int pbjson_timestamp_parse(const char *s, int64_t *seconds, int32_t *nanos);

#endif
