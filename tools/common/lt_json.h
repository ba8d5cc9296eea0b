/* lt_json.h — what strict JSON (RFC 8259) refuses and json-c, even with
 * JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8, lets through or changes: NaN,
 * Infinity and numbers past a double's range, integers beyond 64 bits (json-c clamps
 * them), single-quoted strings, raw control characters in strings, \\u0000, \\u escapes of
 * half a surrogate pair (json-c stores U+FFFD), and bytes that are not strict UTF-8
 * (lt_utf8.h). A lexical pass in plain C, run before json-c parses: the gateway, the CLI
 * (through pbjson_parse_object) and the node (a raw-JSON field) all read JSON this way. */
#ifndef LT_JSON_H
#define LT_JSON_H

#include <stddef.h>

/* lt_json_lex_check returns the offset of the first offending byte of b[0..len) and sets
 * *why, or -1 if there is none. b must be NUL-terminated at or after len. */
long lt_json_lex_check(const char *b, size_t len, const char **why);

#endif
