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

/* json_number_end: where the number starting at b[i] ends if it is written as RFC 8259
 * writes numbers, -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?; 0 if it is not.
 * json-c, even strict, takes "1.", "1.e5", "01.5", "-01" and "[00]", and prints "1." and
 * "01.5" back as they came: a record holding one would be invalid JSON in every answer. */
static size_t json_number_end(const char *b, size_t len, size_t i)
{
    size_t k = i + (b[i] == '-');
    if (k >= len || b[k] < '0' || b[k] > '9')
        return 0;
    if (b[k++] != '0') {
        while (k < len && b[k] >= '0' && b[k] <= '9')
            k++;
    } else if (k < len && b[k] >= '0' && b[k] <= '9') {
        return 0; /* a leading zero */
    }
    if (k < len && b[k] == '.') {
        size_t d = ++k;
        while (k < len && b[k] >= '0' && b[k] <= '9')
            k++;
        if (k == d)
            return 0;
    }
    if (k < len && (b[k] == 'e' || b[k] == 'E')) {
        k++;
        if (k < len && (b[k] == '+' || b[k] == '-'))
            k++;
        size_t d = k;
        while (k < len && b[k] >= '0' && b[k] <= '9')
            k++;
        if (k == d)
            return 0;
    }
    return k;
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
 * number not written as JSON writes numbers ("1.", "01"), a single-quoted string, a
 * \\u0000 escape, a raw control character inside a string, a \\u escape of half a surrogate
 * pair (json-c would store U+FFFD), and bytes that are not strict UTF-8 (lt_utf8.h: json-c
 * lets overlong forms, surrogates and code points past U+10FFFF through). Returns the
 * offending byte offset, or -1. */
long lt_json_lex_check(const char *b, size_t len, const char **why, size_t *members)
{
    bool in_str = false;
    size_t colons = 0;
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
                end = json_number_end(b, len, i);
                if (end == 0) {
                    *why = "not a JSON number (a leading zero, or no digit after the point or "
                           "in the exponent)";
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
            else if (c == ':')
                colons++;
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
    if (members)
        *members = colons;
    return -1;
}

/* ---- duplicate keys: a second pass, run only when a parser dropped a member ---- */

struct dk_key {
    const char *s; /* the key, decoded (the text itself when it has no escape) */
    size_t n;
    size_t off; /* its opening quote */
    bool owned;
};

struct dk {
    const char *b;
    size_t len, i;
    bool nomem;
    long dup; /* the answer so far: -1 none */
    char *key;
    size_t keylen;
};

static void dk_ws(struct dk *d)
{
    while (d->i < d->len && strchr(" \t\r\n", d->b[d->i]) && d->b[d->i])
        d->i++;
}

/* dk_string skips the string whose opening quote is at d->i; *esc says if it has escapes */
static void dk_string(struct dk *d, bool *esc)
{
    *esc = false;
    for (d->i++; d->i < d->len && d->b[d->i] != '"'; d->i++) {
        if (d->b[d->i] == '\\') {
            *esc = true;
            d->i++;
        }
    }
    d->i++;
}

static char *dk_put_utf8(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* dk_decode decodes the body s[0..n) of a string with escapes (the text was checked:
 * every escape is whole, surrogates come in pairs); NULL if out of memory. */
static char *dk_decode(const char *s, size_t n, size_t *outn)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            *o++ = s[i];
            continue;
        }
        char e = s[++i];
        if (e == 'u') {
            unsigned long cp = (unsigned long)json_hex4(s + i + 1, n - i - 1);
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < n) {
                unsigned long lo = (unsigned long)json_hex4(s + i + 3, n - i - 3);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            o = dk_put_utf8(o, cp);
        } else {
            const char *from = "bfnrt", *to = "\b\f\n\r\t", *at = strchr(from, e);
            *o++ = at && e ? to[at - from] : e; /* \" \\ \/ stand for themselves */
        }
    }
    *outn = (size_t)(o - out);
    return out;
}

static int dk_cmp(const void *a, const void *b)
{
    const struct dk_key *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, n);
    if (c == 0)
        c = x->n < y->n ? -1 : x->n > y->n;
    if (c == 0)
        c = x->off < y->off ? -1 : x->off > y->off;
    return c;
}

static void dk_value(struct dk *d, int depth);

/* dk_object reads the object at d->i; its keys are sorted and compared when it closes
 * (nested objects first), and the earliest later copy in it is the answer. */
static void dk_object(struct dk *d, int depth)
{
    struct dk_key *keys = NULL;
    size_t n = 0, cap = 0;
    d->i++;
    for (;;) {
        dk_ws(d);
        if (d->i >= d->len || d->b[d->i] != '"')
            break;
        size_t off = d->i;
        bool esc;
        dk_string(d, &esc);
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct dk_key *k = realloc(keys, nc * sizeof(*k));
            if (!k) {
                d->nomem = true;
                break;
            }
            keys = k;
            cap = nc;
        }
        struct dk_key *k = &keys[n];
        k->off = off;
        k->owned = esc;
        k->s = d->b + off + 1;
        k->n = d->i - off - 2;
        if (esc && !(k->s = dk_decode(d->b + off + 1, d->i - off - 2, &k->n))) {
            d->nomem = true;
            break;
        }
        n++;
        dk_ws(d); /* the ':' */
        d->i++;
        dk_value(d, depth + 1);
        if (d->nomem || d->dup >= 0)
            break;
        dk_ws(d);
        if (d->i < d->len && d->b[d->i] == ',')
            d->i++;
    }
    if (!d->nomem && d->dup < 0 && n > 1) {
        qsort(keys, n, sizeof(*keys), dk_cmp);
        size_t best = 0;
        for (size_t k = 1; k < n; k++) {
            if (keys[k].n == keys[k - 1].n && memcmp(keys[k].s, keys[k - 1].s, keys[k].n) == 0 &&
                (!best || keys[k].off < keys[best].off))
                best = k;
        }
        if (best) {
            d->dup = (long)keys[best].off;
            size_t c = keys[best].n < d->keylen - 1 ? keys[best].n : d->keylen - 1;
            for (size_t k = 0; k < c; k++) {
                unsigned char ch = (unsigned char)keys[best].s[k];
                d->key[k] = ch < 0x20 || ch == 0x7F ? '?' : (char)ch;
            }
            d->key[c] = '\0';
        }
    }
    for (size_t k = 0; k < n; k++)
        if (keys[k].owned)
            free((char *)keys[k].s);
    free(keys);
    dk_ws(d);
    d->i++; /* the '}' */
}

static void dk_value(struct dk *d, int depth)
{
    dk_ws(d);
    if (d->i >= d->len || depth > 256)
        return;
    char c = d->b[d->i];
    if (c == '{') {
        dk_object(d, depth);
    } else if (c == '[') {
        d->i++;
        for (;;) {
            dk_ws(d);
            if (d->i >= d->len || d->b[d->i] == ']')
                break;
            size_t at = d->i;
            dk_value(d, depth + 1);
            if (d->nomem || d->dup >= 0 || d->i == at)
                return;
            dk_ws(d);
            if (d->i < d->len && d->b[d->i] == ',')
                d->i++;
        }
        d->i++;
    } else if (c == '"') {
        bool esc;
        dk_string(d, &esc);
    } else { /* a number or a word */
        while (d->i < d->len && !strchr(",]} \t\r\n", d->b[d->i]) && d->b[d->i])
            d->i++;
    }
}

long lt_json_dup_key(const char *b, size_t len, char *key, size_t keylen)
{
    struct dk d = {.b = b, .len = len, .dup = -1, .key = key, .keylen = keylen};
    key[0] = '\0';
    dk_value(&d, 0);
    return d.nomem ? -2 : d.dup;
}
