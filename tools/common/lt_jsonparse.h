/* lt_jsonparse.h — reading JSON strictly with json-c: the lexical pass of lt_json.h, then
 * json-c in strict mode, then nothing but whitespace after the value, and no key twice in
 * one object (json-c keeps the last copy silently; RFC 8259 leaves it to the reader, and
 * two readers that disagree on it see two different documents). The one reader of JSON
 * text for the gateway, lithair-admin (both through pbjson_parse_object) and the node (a
 * raw-JSON field). */
#ifndef LT_JSONPARSE_H
#define LT_JSONPARSE_H

#include <json-c/json.h>
#include <stddef.h>

/* lt_json_parse parses the one JSON value in text[0..len) (NUL-terminated at or after
 * len) into *out (NULL for a bare null). Returns 0; LT_EINVAL with a message in `err`
 * naming the problem and its byte; LT_ENOMEM (no tokener, or no memory to name a
 * duplicate key). */
int lt_json_parse(const char *text, size_t len, json_object **out, char *err, size_t errlen);

#endif
