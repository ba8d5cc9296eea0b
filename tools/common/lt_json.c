/* lt_json.c — the lexical pass of strict JSON reading (see lt_json.h). */
#include "lt_json.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lt_utf8.h"

/* json_int_fits: false if the number starting at b[i] is an integer json-c cannot hold
 * (it would silently clamp it to the 64-bit limit); *end is where its digits end. */
static bool json_int_fits(const char *b, size_t len, size_t i, size_t *end)
{
    size_t k = i + (b[i] == '-'), d = k;
    while (d < len && b[d] >= '0' && b[d] <= '9')
        d++;
    *end = d;
    bool integer = d == len || (b[d] != '.' && b[d] != 'e' && b[d] != 'E');
    const char *lim = b[i] == '-' ? "9223372036854775808" : "18446744073709551615";
    size_t nd = d - k, nl = strlen(lim);
    return !(integer && nd > 0 && b[k] != '0' &&
             (nd > nl || (nd == nl && memcmp(b + k, lim, nl) > 0)));
}

/* json_hex4 reads the four hex digits of a \\u escape at b (len bytes left); -1 if not. */
static long json_hex4(const char *b, size_t len)
{
    long v = 0;
    if (len < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        char c = b[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* lt_json_lex_check (see lt_json.h): what json-c accepts even in strict mode but JSON
 * (RFC 8259) does not, or what would be cut short in C strings: NaN and infinities, a
 * single-quoted string, a \\u0000
 * escape, a raw control character inside a string, a \\u escape of half a surrogate
 * pair (json-c would store U+FFFD), and bytes that are not strict UTF-8 (lt_utf8.h: json-c
 * lets overlong forms, surrogates and code points past U+10FFFF through). Returns the
 * offending byte offset, or -1. */
long lt_json_lex_check(const char *b, size_t len, const char **why)
{
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = b[i];
        if ((unsigned char)c >= 0x80) {
            size_t n = lt_utf8_seq((const unsigned char *)b + i, len - i);
            if (n == 0) {
                *why = "invalid UTF-8";
                return (long)i;
            }
            i += n - 1;
            continue;
        }
        if (!in_str) {
            if ((c == '-' || (c >= '0' && c <= '9')) &&
                (i == 0 || b[i - 1] == '\0' || !strchr("0123456789.eE+-", b[i - 1]))) {
                size_t end;
                if (!json_int_fits(b, len, i, &end)) {
                    *why = "an integer beyond 64 bits (send it as a string, or as 1.5e30)";
                    return (long)i;
                }
                if (!isfinite(strtod(b + i, NULL))) { /* 1e400: json-c reads it as inf */
                    *why = "NaN and infinite numbers are not JSON (a number past a double's range)";
                    return (long)i;
                }
                i = end - 1;
                continue;
            }
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
                size_t w = i;
                while (w < len && ((b[w] >= 'A' && b[w] <= 'Z') || (b[w] >= 'a' && b[w] <= 'z')))
                    w++;
                if ((w - i == 3 && strncasecmp(b + i, "nan", 3) == 0) ||
                    (w - i == 8 && strncasecmp(b + i, "infinity", 8) == 0) ||
                    (w - i == 3 && strncasecmp(b + i, "inf", 3) == 0)) {
                    *why = "NaN and infinite numbers are not JSON";
                    return (long)i;
                }
                i = w - 1; /* true, false, null; another word json-c refuses */
                continue;
            }
            if (c == '"')
                in_str = true;
            else if (c == '\'') {
                *why = "single-quoted strings are not JSON";
                return (long)i;
            }
        } else if ((unsigned char)c < 0x20) {
            *why = "a control character inside a string must be escaped (\\n, \\t, \\u0001)";
            return (long)i;
        } else if (c == '\\') {
            if (i + 1 < len && b[i + 1] == 'u') {
                long u = json_hex4(b + i + 2, len - i - 2);
                if (u == 0) {
                    *why = "a \\u0000 (NUL) character is not allowed";
                    return (long)i;
                }
                if (u >= 0xDC00 && u <= 0xDFFF) {
                    *why = "a \\u escape of a lone low surrogate";
                    return (long)i;
                }
                if (u >= 0xD800 && u <= 0xDBFF) {
                    long lo = i + 7 < len && b[i + 6] == '\\' && b[i + 7] == 'u'
                                  ? json_hex4(b + i + 8, len - i - 8)
                                  : -1;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        *why = "a \\u escape of a high surrogate without its low half";
                        return (long)i;
                    }
                    i += 6; /* the low half is checked here; skip its backslash */
                }
            }
            i++; /* the escaped character */
        } else if (c == '"') {
            in_str = false;
        }
    }
    return -1;
}
