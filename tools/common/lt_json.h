/* lt_json.h — what strict JSON (RFC 8259) refuses and json-c, even with
 * JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8, lets through or changes: NaN,
 * Infinity and numbers past a double's range, integers beyond 64 bits (json-c clamps
 * them), numbers with a leading zero or no digit after the point ("01", "1.": json-c
 * prints them back as they came), single-quoted strings, raw control characters in
 * strings, \\u0000, \\u escapes of half a surrogate pair (json-c stores U+FFFD), and bytes
 * that are not strict UTF-8 (lt_utf8.h). A lexical pass in plain C, run before json-c
 * parses: the gateway, the CLI (through pbjson_parse_object) and the node (a raw-JSON
 * field) all read JSON this way. */
#ifndef LT_JSON_H
#define LT_JSON_H

#include <stddef.h>

/* lt_json_lex_check returns the offset of the first offending byte of b[0..len) and sets
 * *why, or -1 if there is none. b must be NUL-terminated at or after len. *members (if
 * not NULL) is set to the number of object members in the text (its ':' outside strings):
 * a parser that keeps fewer dropped a duplicate key (lt_json_parse compares). */
long lt_json_lex_check(const char *b, size_t len, const char **why, size_t *members);

/* lt_json_dup_key finds a key that appears twice in one object of b[0..len), which must
 * be JSON that lt_json_lex_check and a strict parser accepted (escapes are compared
 * decoded: "a" and "\u0061" are one key). Returns the offset of the later copy's opening
 * quote and copies the key (cut to keylen - 1 bytes, control characters as '?'; keylen ≥ 1) to
 * `key`;
 * -1 if every object's keys are distinct; -2 if memory ran out (nothing known). */
long lt_json_dup_key(const char *b, size_t len, char *key, size_t keylen);

#endif
