/* test_fuzz_gw.c — seeded, bounded mutation fuzzing of what the gateway and the client
 * library read from outside: JSON text (lt_json_parse) against an independent strict
 * RFC 8259 reader written here, the JSON ⇄ protobuf transcoder (pbjson) on the catalog's
 * models and on RPC messages with a round trip through text, strict UTF-8 (lt_utf8), the
 * gateway's pure HTTP helpers (the real route table, percent-decoding, query strings,
 * If-Match, Host, firewall CIDRs, path escaping, the benchmark body) and the events the
 * nodes publish (evb_event_json).
 *
 * Every input is a valid one mutated 0 to 4 times (bit flips, interesting bytes and
 * tokens, cuts, deleted, copied and replaced ranges, NUL bytes, deep nesting) and handed
 * over in a buffer of exactly its size, so that ASan sees any read past it. The generator
 * is xorshift64*, seeded from LT_SEED or a fixed seed; each case derives its own stream
 * from it, so "LT_SEED=N test_fuzz_gw" replays a failure, which prints the seed, the case,
 * the iteration and the input. Bounded: FUZZ_ITERS inputs per case (LT_FUZZ_SCALE
 * multiplies them) and at most FUZZ_CASE_MS of wall time per case. */
#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "catalog.h"
#include "cunit_main.h"
#include "events.h"
#include "gw.h"
#include "gw_bench.h"
#include "gw_route.h"
#include "gw_security.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_jsonparse.h"
#include "lt_utf8.h"
#include "pbjson.h"
#include "testutil.h"
#include "wire.h"

#define FUZZ_SEED_DEFAULT UINT64_C(20261127)
#define FUZZ_ITERS        60000
#define FUZZ_CASE_MS      1800
#define FUZZ_MAX_INPUT    8192
#define FUZZ_MAX_REPORTS  10

/* ------------------------------------------------------------------ generator */

/* xorshift64*: a small seeded generator so a failing run can be replayed (LT_SEED). */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    return tu_rng_next(&rng_state);
}

static size_t rng_below(size_t n)
{
    return n ? (size_t)(rng_next() % n) : 0;
}

static bool rng_chance(unsigned percent)
{
    return rng_below(100) < percent;
}

/* ------------------------------------------------------------------ the run of a case */

static uint64_t fuzz_seed;
static const char *fuzz_case;
static unsigned fuzz_iter;
static unsigned fuzz_reports;
static uint64_t fuzz_deadline_ns;
static unsigned fuzz_iters;

/* fuzz_begin starts case `name`: its own generator stream, derived from the seed and
 * `salt`, and its budget. */
static void fuzz_begin(const char *name, uint64_t salt)
{
    const char *env = getenv("LT_SEED");
    fuzz_seed = env ? strtoull(env, NULL, 0) : FUZZ_SEED_DEFAULT;
    uint64_t z = fuzz_seed + salt * UINT64_C(0x9E3779B97F4A7C15); /* splitmix64 */
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    rng_state = (z ^ (z >> 31)) | 1;
    fuzz_case = name;
    fuzz_iter = 0;
    fuzz_reports = 0;
    const char *scale = getenv("LT_FUZZ_SCALE");
    double k = scale ? atof(scale) : 1.0;
    fuzz_iters = (unsigned)(FUZZ_ITERS * (k > 0 ? k : 1.0));
    fuzz_deadline_ns = lt_now_ns() + (uint64_t)(FUZZ_CASE_MS * (k > 1 ? k : 1.0)) * 1000000u;
}

/* fuzz_more: whether to run another input. */
static bool fuzz_more(void)
{
    return fuzz_iter < fuzz_iters && ((fuzz_iter & 63) != 0 || lt_now_ns() < fuzz_deadline_ns);
}

static void fuzz_end(void)
{
    printf("\n  %s: %u inputs (seed %llu)", fuzz_case, fuzz_iter, (unsigned long long)fuzz_seed);
    CU_ASSERT(fuzz_iter >= 200); /* a case that ran almost nothing tested nothing */
}

static void fuzz_print(const char *what, const char *b, size_t len)
{
    fprintf(stderr, "  %s (%zu bytes): \"", what, len);
    for (size_t i = 0; i < len && i < 600; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c == '"' || c == '\\')
            fprintf(stderr, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, "%s\"\n", len > 600 ? "..." : "");
}

/* fuzz_check records one property: on failure it prints how to replay it and the input. */
__attribute__((format(printf, 5, 6))) static bool fuzz_check(bool ok, int line, const char *in,
                                                             size_t len, const char *fmt, ...)
{
    if (ok) {
        CU_assertImplementation(CU_TRUE, (unsigned)line, "fuzz property", __FILE__, "", CU_FALSE);
        return true;
    }
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (fuzz_reports++ < FUZZ_MAX_REPORTS) {
        fprintf(stderr,
                "\nFUZZ FAILURE at line %d: %s\n  replay: LT_SEED=%llu, case %s, iteration %u\n",
                line, what, (unsigned long long)fuzz_seed, fuzz_case, fuzz_iter);
        if (in)
            fuzz_print("input", in, len);
    }
    CU_assertImplementation(CU_FALSE, (unsigned)line, what, __FILE__, "", CU_FALSE);
    return false;
}
#define FZ_CHECK(ok, in, len, ...) fuzz_check((ok), __LINE__, (in), (len), __VA_ARGS__)

/* ------------------------------------------------------------------ the mutator */

struct fz {
    char b[FUZZ_MAX_INPUT + 1];
    size_t len;
};

static void fz_set(struct fz *f, const char *s, size_t n)
{
    f->len = n < FUZZ_MAX_INPUT ? n : FUZZ_MAX_INPUT;
    memcpy(f->b, s, f->len);
    f->b[f->len] = '\0';
}

static void fz_insert(struct fz *f, size_t at, const char *s, size_t n)
{
    if (f->len + n > FUZZ_MAX_INPUT)
        return;
    memmove(f->b + at + n, f->b + at, f->len - at);
    memcpy(f->b + at, s, n);
    f->len += n;
    f->b[f->len] = '\0';
}

static void fz_delete(struct fz *f, size_t at, size_t n)
{
    if (at + n > f->len)
        n = f->len - at;
    memmove(f->b + at, f->b + at + n, f->len - at - n);
    f->len -= n;
    f->b[f->len] = '\0';
}

/* fz_exact copies the input into a buffer of exactly len + 1 bytes (the NUL the readers
 * may rely on): a read past it is an ASan report. */
static char *fz_exact(const struct fz *f)
{
    char *p = malloc(f->len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memcpy(p, f->b, f->len);
    p[f->len] = '\0';
    return p;
}

static const unsigned char fz_bytes[] = {
    0x00, 0x01, 0x09, 0x0a, 0x0d, 0x1f, 0x20, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed,
    0xef, 0xf0, 0xf4, 0xf5, 0xff, '"',  '\\', '{',  '}',  '[',  ']',  ',',  ':',  '-',  '+',  '.',
    '0',  '9',  'e',  'E',  'u',  '/',  '%',  '&',  '=',  '?',  '#',  ';',  ' ',  '\''};

/* Tokens for JSON documents: escapes, UTF-8 good and bad, numbers at every limit, words,
 * structure, the models' keys and values. */
static const char *const fz_json_tokens[] = {"\\u0000",
                                             "\\ud800",
                                             "\\udc00",
                                             "\\ud83d\\ude00",
                                             "\\u00e9",
                                             "\\uDBFF\\uDFFF",
                                             "\\ud800\\u0041",
                                             "\\\"",
                                             "\\\\",
                                             "\\/",
                                             "\\x",
                                             "\\u12",
                                             "\xc3\xa9",
                                             "\xf0\x9f\x98\x80",
                                             "\xed\xa0\x80",
                                             "\xc0\xaf",
                                             "\xe0\x80\xaf",
                                             "\xf4\x90\x80\x80",
                                             "\xf8\x88\x80\x80\x80",
                                             "\xc3",
                                             "\xff",
                                             "\x80",
                                             "\xef\xbb\xbf",
                                             "0",
                                             "-0",
                                             "1.",
                                             ".5",
                                             "00",
                                             "-01",
                                             "01.5",
                                             "1.e5",
                                             "1e400",
                                             "-1e400",
                                             "1e-400",
                                             "1.5e308",
                                             "2e308",
                                             "4.9e-324",
                                             "1E+2",
                                             "1e",
                                             "-",
                                             "0.0e0",
                                             "9223372036854775807",
                                             "9223372036854775808",
                                             "-9223372036854775808",
                                             "-9223372036854775809",
                                             "18446744073709551615",
                                             "18446744073709551616",
                                             "123456789012345678901234567890",
                                             "1.0",
                                             "3.4028235e38",
                                             "3.4028234e38",
                                             "2147483647",
                                             "2147483648",
                                             "-2147483649",
                                             "4294967296",
                                             "NaN",
                                             "Infinity",
                                             "-Infinity",
                                             "inf",
                                             "true",
                                             "false",
                                             "null",
                                             "nul",
                                             "True",
                                             "{}",
                                             "[]",
                                             "{",
                                             "}",
                                             "[",
                                             "]",
                                             ",",
                                             ":",
                                             "\"",
                                             "'",
                                             "\"\"",
                                             "/*c*/",
                                             " ",
                                             "\t",
                                             "\n",
                                             "\r",
                                             "\f",
                                             "\"name\"",
                                             "\"metadata\"",
                                             "\"status\"",
                                             "\"id\"",
                                             "\"description\"",
                                             "\"createdAt\"",
                                             "\"created_at\"",
                                             "\"updatedAt\"",
                                             "\"version\"",
                                             "\"benchmark\"",
                                             "\"nanos\"",
                                             "\"seconds\"",
                                             "\"active\"",
                                             "\"ARCHIVED\"",
                                             "\"2026-11-27T05:12:03.123Z\"",
                                             "\"0001-01-01T00:00:00Z\"",
                                             "\"9999-12-31T23:59:59.999999999Z\"",
                                             "\"2024-02-29T23:59:60Z\"",
                                             "\"2024-02-30T00:00:00+25:00\"",
                                             "\"AAEC/w==\"",
                                             "\"-_8\"",
                                             "\"Q\"",
                                             "\"NaN\"",
                                             "\"-Infinity\"",
                                             "\"1e2\"",
                                             "\" 1\"",
                                             "\"0x10\"",
                                             "\"-0\"",
                                             "\"k\":1,",
                                             ",\"k\":1",
                                             "{\"seconds\":\"1\",\"nanos\":-1}",
                                             "[[[[[[[[",
                                             "]]]]]]]]",
                                             "{\"a\":{\"a\":{\"a\":",
                                             "}}}"};
#define FZ_N_JSON_TOKENS (sizeof(fz_json_tokens) / sizeof(fz_json_tokens[0]))

/* Numbers at the limits of the types they may land in. */
static const char *const fz_numbers[] = {"0",
                                         "-0",
                                         "1",
                                         "-1",
                                         "7",
                                         "127",
                                         "255",
                                         "65535",
                                         "999999999",
                                         "1000000000",
                                         "-1000000000",
                                         "2147483647",
                                         "2147483648",
                                         "-2147483648",
                                         "-2147483649",
                                         "4294967295",
                                         "4294967296",
                                         "9223372036854775807",
                                         "-9223372036854775808",
                                         "18446744073709551615",
                                         "0.5",
                                         "-1.5",
                                         "1e2",
                                         "1e-7",
                                         "3.5e38",
                                         "1e308",
                                         "2.5e-320"};

/* fz_mutate applies one random mutation, with tokens from dict[0..n). */
static void fz_mutate(struct fz *f, const char *const *dict, size_t n)
{
    size_t at = rng_below(f->len + 1);
    switch (rng_below(12)) {
    case 10: { /* the next number from here replaced by another */
        size_t i = at;
        while (i < f->len && !(f->b[i] >= '0' && f->b[i] <= '9'))
            i++;
        if (i == f->len)
            break;
        if (i > 0 && f->b[i - 1] == '-')
            i--;
        size_t e = i + 1;
        while (e < f->len && strchr("0123456789.eE+-", f->b[e]) && f->b[e])
            e++;
        const char *t = fz_numbers[rng_below(sizeof(fz_numbers) / sizeof(fz_numbers[0]))];
        fz_delete(f, i, e - i);
        fz_insert(f, i, t, strlen(t));
        break;
    }
    case 0: /* flip a bit */
        if (f->len)
            f->b[rng_below(f->len)] ^= (char)(1u << rng_below(8));
        break;
    case 1: /* an interesting byte */
        if (f->len)
            f->b[rng_below(f->len)] = (char)fz_bytes[rng_below(sizeof(fz_bytes))];
        break;
    case 2:
    case 3: { /* a token */
        const char *t = dict[rng_below(n)];
        fz_insert(f, at, t, strlen(t));
        break;
    }
    case 4: { /* replace a range with a token */
        const char *t = dict[rng_below(n)];
        fz_delete(f, at, 1 + rng_below(12));
        fz_insert(f, at < f->len ? at : f->len, t, strlen(t));
        break;
    }
    case 5: /* delete a range */
        fz_delete(f, at, 1 + rng_below(rng_chance(80) ? 8 : 64));
        break;
    case 6: { /* copy a range elsewhere (a key twice, a member repeated) */
        if (!f->len)
            break;
        size_t from = rng_below(f->len),
               len = 1 + rng_below(f->len - from < 40 ? f->len - from : 40);
        char tmp[64];
        memcpy(tmp, f->b + from, len);
        fz_insert(f, rng_below(f->len + 1), tmp, len);
        break;
    }
    case 7: /* cut short */
        f->len = at;
        f->b[f->len] = '\0';
        break;
    case 8: { /* a NUL or a control byte */
        char c = rng_chance(50) ? '\0' : (char)(1 + rng_below(31));
        fz_insert(f, at, &c, 1);
        break;
    }
    case 9: { /* one byte, any value */
        char c = (char)rng_below(256);
        fz_insert(f, at, &c, 1);
        break;
    }
    default: { /* nesting around a point: k openers here, k closers later */
        size_t k = 1 + rng_below(40);
        bool obj = rng_chance(30);
        char open[41 * 6], close[41];
        size_t o = 0;
        for (size_t i = 0; i < k; i++) {
            if (obj) {
                memcpy(open + o, "{\"a\":", 5);
                o += 5;
            } else {
                open[o++] = '[';
            }
            close[i] = obj ? '}' : ']';
        }
        size_t end = at + rng_below(f->len - at + 1);
        fz_insert(f, end, close, k);
        fz_insert(f, at, open, o);
        break;
    }
    }
}

/* fz_next starts an input from one of the seeds and mutates it 0..4 times. */
static void fz_next(struct fz *f, const char *const *seeds, size_t nseeds, const char *const *dict,
                    size_t ndict)
{
    const char *s = seeds[rng_below(nseeds)];
    fz_set(f, s, strlen(s));
    size_t k = rng_chance(8) ? 0 : 1 + rng_below(4);
    for (size_t i = 0; i < k; i++)
        fz_mutate(f, dict, ndict);
    if (rng_chance(3)) { /* splice: the head of this one, the tail of another */
        const char *t = seeds[rng_below(nseeds)];
        size_t tl = strlen(t), from = rng_below(tl + 1);
        f->len = rng_below(f->len + 1);
        f->b[f->len] = '\0';
        fz_insert(f, f->len, t + from, tl - from);
    }
}

/* ------------------------------------------------------------------ the reference reader */

/* An RFC 8259 reader, written apart from lt_json.c and json-c, with the project's extra
 * rules (docs/API.md): strict UTF-8, no \u0000, no half surrogate pair, no integer beyond
 * 64 bits, no number past a double's range, no key twice in one object (compared
 * decoded), and json-c's depth limit: a value inside 32 arrays or objects is too deep
 * (an empty 32nd one is not). */
#define OJ_MAX_DEPTH 32

struct oj {
    const unsigned char *b;
    size_t len, i;
    int depth;
};

static void oj_ws(struct oj *p)
{
    while (p->i < p->len &&
           (p->b[p->i] == ' ' || p->b[p->i] == '\t' || p->b[p->i] == '\n' || p->b[p->i] == '\r'))
        p->i++;
}

/* oj_utf8: the code point of the strict UTF-8 sequence at b[i], moving past it; -1 if
 * the bytes there are not one. */
static long oj_utf8(const unsigned char *b, size_t len, size_t *i)
{
    unsigned char c = b[*i];
    size_t n;
    long cp, min;
    if (c < 0x80) {
        (*i)++;
        return c;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    if (*i + n > len)
        return -1;
    for (size_t k = 1; k < n; k++) {
        unsigned char d = b[*i + k];
        if ((d & 0xC0) != 0x80)
            return -1;
        cp = cp << 6 | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *i += n;
    return cp;
}

static long oj_hex4(struct oj *p)
{
    if (p->i + 4 > p->len)
        return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        char c = (char)p->b[p->i + (size_t)k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    p->i += 4;
    return v;
}

/* oj_string reads a string at b[i] (its quote), appending its decoded code points to
 * out[0..*n) as 32-bit values when out is not NULL (enough room: one per input byte). */
static bool oj_string(struct oj *p, uint32_t *out, size_t *n)
{
    p->i++;
    for (;;) {
        if (p->i >= p->len)
            return false;
        unsigned char c = p->b[p->i];
        long cp;
        if (c == '"') {
            p->i++;
            return true;
        } else if (c < 0x20) {
            return false;
        } else if (c == '\\') {
            if (++p->i >= p->len)
                return false;
            char e = (char)p->b[p->i++];
            const char *esc = "\"\\/bfnrt", *val = "\"\\/\b\f\n\r\t";
            const char *at = e ? strchr(esc, e) : NULL;
            if (at) {
                cp = (unsigned char)val[at - esc];
            } else if (e == 'u') {
                cp = oj_hex4(p);
                if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
                    return false;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (p->i + 2 > p->len || p->b[p->i] != '\\' || p->b[p->i + 1] != 'u')
                        return false;
                    p->i += 2;
                    long lo = oj_hex4(p);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return false;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
            } else {
                return false;
            }
        } else {
            cp = oj_utf8(p->b, p->len, &p->i);
            if (cp < 0)
                return false;
        }
        if (out)
            out[(*n)++] = (uint32_t)cp;
    }
}

static bool oj_digits(struct oj *p)
{
    size_t s = p->i;
    while (p->i < p->len && p->b[p->i] >= '0' && p->b[p->i] <= '9')
        p->i++;
    return p->i > s;
}

static bool oj_number(struct oj *p)
{
    size_t s = p->i;
    bool neg = p->b[p->i] == '-', integer = true;
    if (neg)
        p->i++;
    size_t ds = p->i;
    if (p->i < p->len && p->b[p->i] == '0')
        p->i++;
    else if (!oj_digits(p))
        return false;
    size_t de = p->i;
    if (p->i < p->len && p->b[p->i] == '.') {
        p->i++;
        integer = false;
        if (!oj_digits(p))
            return false;
    }
    if (p->i < p->len && (p->b[p->i] == 'e' || p->b[p->i] == 'E')) {
        p->i++;
        integer = false;
        if (p->i < p->len && (p->b[p->i] == '+' || p->b[p->i] == '-'))
            p->i++;
        if (!oj_digits(p))
            return false;
    }
    if (integer) { /* json-c would clamp an integer beyond 64 bits */
        const char *lim = neg ? "9223372036854775808" : "18446744073709551615";
        size_t nd = de - ds, nl = strlen(lim);
        if (nd > nl || (nd == nl && memcmp(p->b + ds, lim, nl) > 0))
            return false;
    }
    char *text = strndup((const char *)p->b + s, p->i - s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    bool finite = isfinite(strtod(text, NULL));
    free(text);
    return finite;
}

static bool oj_value(struct oj *p);

static bool oj_object(struct oj *p)
{
    struct {
        uint32_t *s;
        size_t n;
    } keys[256];
    size_t nk = 0;
    bool ok = false;
    p->i++;
    oj_ws(p);
    if (p->i < p->len && p->b[p->i] == '}') {
        p->i++;
        return true;
    }
    for (;;) {
        oj_ws(p);
        if (p->i >= p->len || p->b[p->i] != '"' || nk == 256)
            goto out;
        uint32_t *k = malloc(sizeof(uint32_t) * (p->len - p->i + 1));
        CU_ASSERT_PTR_NOT_NULL_FATAL(k);
        size_t kn = 0;
        if (!oj_string(p, k, &kn)) {
            free(k);
            goto out;
        }
        for (size_t j = 0; j < nk; j++) {
            if (keys[j].n == kn && memcmp(keys[j].s, k, kn * sizeof(uint32_t)) == 0) {
                free(k);
                goto out; /* a key twice */
            }
        }
        keys[nk].s = k;
        keys[nk++].n = kn;
        oj_ws(p);
        if (p->i >= p->len || p->b[p->i] != ':')
            goto out;
        p->i++;
        if (!oj_value(p))
            goto out;
        oj_ws(p);
        if (p->i < p->len && p->b[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->len && p->b[p->i] == '}') {
            p->i++;
            ok = true;
        }
        goto out;
    }
out:
    for (size_t j = 0; j < nk; j++)
        free(keys[j].s);
    return ok;
}

static bool oj_array(struct oj *p)
{
    p->i++;
    oj_ws(p);
    if (p->i < p->len && p->b[p->i] == ']') {
        p->i++;
        return true;
    }
    for (;;) {
        if (!oj_value(p))
            return false;
        oj_ws(p);
        if (p->i < p->len && p->b[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->len && p->b[p->i] == ']') {
            p->i++;
            return true;
        }
        return false;
    }
}

static bool oj_word(struct oj *p, const char *w)
{
    size_t n = strlen(w);
    if (p->i + n > p->len || memcmp(p->b + p->i, w, n) != 0)
        return false;
    p->i += n;
    return true;
}

static bool oj_value(struct oj *p)
{
    oj_ws(p);
    if (p->i >= p->len)
        return false;
    unsigned char c = p->b[p->i];
    bool ok;
    if (++p->depth > OJ_MAX_DEPTH)
        ok = false;
    else if (c == '{')
        ok = oj_object(p);
    else if (c == '[')
        ok = oj_array(p);
    else if (c == '"')
        ok = oj_string(p, NULL, NULL);
    else if (c == '-' || (c >= '0' && c <= '9'))
        ok = oj_number(p);
    else
        ok = oj_word(p, "true") || oj_word(p, "false") || oj_word(p, "null");
    p->depth--;
    return ok;
}

/* oj_valid: whether b[0..len) is one JSON value by the rules above; *object says whether
 * it is an object. */
static bool oj_valid(const char *b, size_t len, bool *object)
{
    struct oj p = {.b = (const unsigned char *)b, .len = len};
    oj_ws(&p);
    if (object)
        *object = p.i < len && b[p.i] == '{';
    if (!oj_value(&p))
        return false;
    oj_ws(&p);
    return p.i == len;
}

/* ------------------------------------------------------------------ a. lt_json_parse */

static const char *const json_seeds[] = {
    "{\"name\":\"first\",\"status\":\"active\",\"metadata\":{\"k\":[1,2]}}",
    "{\"id\":\"abc-1._~\",\"name\":\"caf\\u00e9 \\ud83d\\ude00 \xc3\xa9\",\"description\":"
    "\"a\\tb\\n\\u0001\\\"\\\\\\/\",\"status\":\"ARCHIVED\",\"metadata\":{\"nested\":{\"deep\":"
    "[[[{\"x\":null}]]]},\"n\":-9223372036854775808,\"u\":18446744073709551615,\"d\":1.5e308,"
    "\"e\":-1e-300,\"z\":-0.0,\"s\":\"\\u00e9\\/\",\"t\":true,\"f\":false}}",
    "{\"name\":\"x\",\"metadata\":[1,\"two\",3.0,{\"a\":{}},[],0,-0,1E+2,4.9e-324],\"status\":2}",
    "{\"description\":\"only\",\"version\":\"18446744073709551615\",\"benchmark\":false}",
    "{\"created_at\":\"2026-11-27T05:12:03.123456789Z\","
    "\"updatedAt\":\"9999-12-31T23:59:59+00:00\",\"name\":\"ts\"}",
    "{\"createdAt\":{\"seconds\":\"1795756323\",\"nanos\":123},\"name\":\"obj-ts\"}",
    "{\"name\":\"dup\",\"metadata\":{\"k\":1,\"\\u006b\":2}}",
    "{\"metadata\":null,\"name\":\"n\"}",
    "{\"name\":\"deep\",\"metadata\":"
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
    " \t\r\n[ 1 , -2.5e-3 , \"s\" , true , false , null , { } , [ ] ] \n",
    "\"a bare string \\ud83d\\ude00\"",
    "-12.5e+10",
    "null",
    "{\"type\":\"mixed\",\"concurrency\":100,\"duration_secs\":2.5,\"payload_size\":1024,"
    "\"read_ratio\":0.9,\"consistency\":\"serializable\",\"key_space\":50,\"rate\":0,"
    "\"warmup_secs\":1}",
};
#define N_JSON_SEEDS (sizeof(json_seeds) / sizeof(json_seeds[0]))

static void test_json_parse(void)
{
    fuzz_begin("lt_json_parse vs a reference reader", 1);
    struct fz f;
    unsigned accepted = 0;
    for (; fuzz_more(); fuzz_iter++) {
        fz_next(&f, json_seeds, N_JSON_SEEDS, fz_json_tokens, FZ_N_JSON_TOKENS);
        char *in = fz_exact(&f);
        bool want = oj_valid(in, f.len, NULL);
        json_object *j = (json_object *)&f; /* must be left alone on failure */
        char err[128];
        memset(err, 'x', sizeof(err));
        int rc = lt_json_parse(in, f.len, &j, err, sizeof(err));
        FZ_CHECK(rc == 0 || rc == LT_EINVAL, in, f.len, "lt_json_parse returned %d", rc);
        FZ_CHECK((rc == 0) == want, in, f.len, "lt_json_parse says %s, the reference says %s",
                 rc == 0 ? "valid" : err, want ? "valid" : "invalid");
        if (rc != 0) {
            FZ_CHECK(memchr(err, '\0', sizeof(err)) && strncmp(err, "malformed JSON", 14) == 0 &&
                         j == (json_object *)&f,
                     in, f.len, "a refusal says what: \"%.100s\", *out untouched", err);
        } else {
            accepted++;
            /* what json-c prints back is JSON by the same rules, and prints the same again */
            const char *t1 = j ? json_object_to_json_string_ext(
                                     j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                               : "null";
            char *s1 = strdup(t1);
            json_object *j2 = NULL;
            int rc2 = lt_json_parse(s1, strlen(s1), &j2, err, sizeof(err));
            FZ_CHECK(rc2 == 0 && oj_valid(s1, strlen(s1), NULL), s1, strlen(s1),
                     "json-c's text of an accepted value is not read back: %s",
                     rc2 ? err : "the reference refuses it");
            if (rc2 == 0) {
                const char *t2 =
                    j2 ? json_object_to_json_string_ext(j2, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE)
                       : "null";
                FZ_CHECK(strcmp(s1, t2) == 0, in, f.len, "printed twice differently: %s / %s", s1,
                         t2);
            }
            json_object_put(j2);
            free(s1);
            json_object_put(j);
        }
        free(in);
    }
    printf("\n  (%u accepted)", accepted);
    CU_ASSERT(accepted > 0);
    fuzz_end();
}

/* ------------------------------------------------------------------ a. pbjson */

static const char *const item_seeds[] = {
    "{\"name\":\"first\",\"status\":\"active\",\"metadata\":{\"k\":[1,2]}}",
    "{\"id\":\"abc-1._~\",\"name\":\"caf\\u00e9 \\ud83d\\ude00\",\"description\":\"a\\tb\","
    "\"status\":\"ARCHIVED\",\"metadata\":{\"n\":-9223372036854775808,\"u\":18446744073709551615,"
    "\"d\":1.5e308,\"e\":-1e-300,\"z\":-0.0,\"s\":\"\\u00e9\\/\",\"a\":[true,false,null,{}]}}",
    "{\"name\":\"x\",\"metadata\":\"just a string\",\"status\":2,\"benchmark\":true}",
    "{\"description\":\"only\",\"version\":\"18446744073709551615\",\"benchmark\":false}",
    "{\"created_at\":\"2026-11-27T05:12:03.123456789Z\","
    "\"updatedAt\":\"9999-12-31T23:59:59+00:00\",\"name\":\"ts\",\"version\":7}",
    "{\"createdAt\":{\"seconds\":\"1795756323\",\"nanos\":123},\"name\":\"obj-ts\"}",
    "{\"metadata\":null,\"name\":\"n\",\"status\":null}",
    "{\"name\":\"deep\",\"metadata\":"
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
    "{\"name\":\"n\",\"metadata\":123456789.25e-3,\"version\":1e2}",
};

static const char *const user_seeds[] = {
    "{\"id\":\"admin\",\"passwordHash\":\"$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA\","
    "\"role\":\"ROLE_ADMIN\",\"createdAt\":\"2026-01-01T00:00:00Z\",\"version\":\"3\"}",
    "{\"id\":\"v\",\"role\":1}",
};

static const char *const rule_seeds[] = {
    "{\"id\":\"r1\",\"cidr\":\"10.0.0.0/8\",\"action\":\"allow\",\"note\":\"office \xc3\xa9\"}",
    "{\"cidr\":\"::ffff:10.0.0.0/"
    "104\",\"action\":\"DENY\",\"updated_at\":\"2026-11-27T05:12:03Z\"}",
};

static const char *const event_seeds[] = {
    "{\"nodeId\":\"1\",\"seq\":\"42\",\"at\":\"2026-11-27T05:12:03.123456Z\",\"committed\":"
    "{\"model\":\"items\",\"id\":\"a\",\"op\":\"update\",\"index\":\"7\",\"term\":\"2\","
    "\"version\":\"3\",\"result\":\"ABORTED\"}}",
    "{\"node_id\":2,\"role\":{\"role\":\"pre_candidate\",\"term\":\"9\",\"leaderId\":\"0\"}}",
    "{\"nodeId\":\"3\",\"metrics\":{\"appliedPerSec\":1234.5,\"commit\":\"1\",\"role\":3,"
    "\"pendingProposals\":4294967295,\"walBytes\":\"18446744073709551615\"}}",
    "{\"nodeId\":\"3\",\"metrics\":{\"appliedPerSec\":\"NaN\"}}",
    "{\"nodeId\":\"3\",\"metrics\":{\"appliedPerSec\":\"-Infinity\"}}",
    "{\"nodeId\":\"3\",\"metrics\":{\"appliedPerSec\":4.9e-324}}",
    "{\"progress\":{\"followers\":[{\"id\":\"2\",\"match\":\"5\",\"next\":\"6\",\"state\":"
    "\"replicate\",\"inflight\":3,\"recentActive\":true,\"lag\":\"0\"},{}],\"lastIndex\":\"6\"}}",
    "{\"committedBatch\":{\"entries\":[{\"model\":\"items\",\"op\":\"create\"},{\"op\":77}]}}",
    "{\"role\":{},\"metrics\":{}}",
};

static const char *const batch_seeds[] = {
    "{\"requests\":[{\"method\":\"Models/Create\",\"id\":\"18446744073709551615\",\"timeoutMs\":"
    "5000,\"authToken\":\"t\",\"payload\":\"CgVpdGVtcxIDAQID\"},{\"payload\":\"-_8\"},{}]}",
    "{\"requests\":[{\"payload\":\"QQ\"},{\"payload\":\"QUJD\"},{\"payload\":\"\"}]}",
};

static const char *const command_seeds[] = {
    "{\"at\":\"2026-11-27T05:12:03Z\",\"proposer\":\"1\",\"put\":{\"model\":\"items\",\"value\":"
    "\"AAEC/w==\",\"create\":true,\"expectedVersion\":\"9\",\"fields\":[\"name\",\"\","
    "\"description\"]}}",
    "{\"delete\":{\"model\":\"items\",\"id\":\"x\",\"expected_version\":1}}",
    "{\"purge\":{\"model\":\"items\"},\"at\":{\"seconds\":\"-62135596800\",\"nanos\":0}}",
    "{\"put\":{\"fields\":[]},\"delete\":{}}",
};

static const char *const status_seeds[] = {
    "{\"id\":\"1\",\"role\":\"LEADER\",\"term\":\"3\",\"leaderId\":\"1\",\"leaderRpcUrl\":"
    "\"tcp://127.0.0.1:7201\",\"followers\":[{\"id\":\"2\",\"state\":\"PROBE\",\"inflight\":0}],"
    "\"members\":[{}],\"transferring\":true,\"pid\":\"4242\"}",
};

static const struct pb_target {
    const ProtobufCMessageDescriptor *d;
    const char *const *seeds;
    size_t n;
} pb_targets[] = {
    {&lithair__v1__playground_item__descriptor, item_seeds, sizeof(item_seeds) / sizeof(char *)},
    {&lithair__v1__user__descriptor, user_seeds, sizeof(user_seeds) / sizeof(char *)},
    {&lithair__v1__firewall_rule__descriptor, rule_seeds, sizeof(rule_seeds) / sizeof(char *)},
    {&lithair__v1__event__descriptor, event_seeds, sizeof(event_seeds) / sizeof(char *)},
    {&lithair__v1__batch_request__descriptor, batch_seeds, sizeof(batch_seeds) / sizeof(char *)},
    {&lithair__v1__command__descriptor, command_seeds, sizeof(command_seeds) / sizeof(char *)},
    {&lithair__v1__node_status__descriptor, status_seeds, sizeof(status_seeds) / sizeof(char *)},
};
#define N_PB_TARGETS (sizeof(pb_targets) / sizeof(pb_targets[0]))

static uint8_t *pb_pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    protobuf_c_message_pack(m, b);
    return b;
}

/* pb_round_trip: message `a` (decoded from the input) printed as the gateway prints it is
 * strict JSON, with and without the defaults; read back it decodes to the same bytes. */
static void pb_round_trip(const char *in, size_t inlen, const ProtobufCMessage *a)
{
    size_t alen, blen;
    uint8_t *abytes = pb_pack(a, &alen);
    for (int emit = 0; emit < 2; emit++) {
        struct pbjson_opts o = {.emit_defaults = emit == 1, .is_raw_json = catalog_raw_json};
        json_object *j = pbjson_from_message(a, &o);
        if (!FZ_CHECK(j != NULL, in, inlen, "pbjson_from_message failed"))
            break;
        const char *t = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
        size_t tlen = strlen(t);
        char err[256];
        json_object *back = NULL;
        int rc = pbjson_parse_object(t, tlen, &back, err, sizeof(err));
        FZ_CHECK(rc == 0, in, inlen, "the printed message is not strict JSON: %s in %.300s",
                 rc ? err : "", t);
        if (rc == 0 && !emit) {
            ProtobufCMessage *b = NULL;
            rc = pbjson_to_message(a->descriptor, back, &o, &b, err, sizeof(err));
            FZ_CHECK(rc == 0, in, inlen, "the printed message does not decode: %s in %.300s",
                     rc ? err : "", t);
            if (rc == 0) {
                uint8_t *bbytes = pb_pack(b, &blen);
                FZ_CHECK(
                    alen == blen && memcmp(abytes, bbytes, alen) == 0, in, inlen,
                    "json -> pb -> json -> pb changed the message (%zu / %zu bytes) via %.300s",
                    alen, blen, t);
                free(bbytes);
                protobuf_c_message_free_unpacked(b, NULL);
            }
        }
        json_object_put(back);
        json_object_put(j);
    }
    free(abytes);
}

static void test_pbjson(void)
{
    fuzz_begin("pbjson: decode, print, round trip", 2);
    struct fz f;
    unsigned decoded = 0, refused = 0;
    for (; fuzz_more(); fuzz_iter++) {
        const struct pb_target *t = &pb_targets[rng_below(N_PB_TARGETS)];
        fz_next(&f, t->seeds, t->n, fz_json_tokens, FZ_N_JSON_TOKENS);
        char *in = fz_exact(&f);
        bool object = false, want = oj_valid(in, f.len, &object) && object;
        json_object *j = NULL;
        char err[256];
        int rc = pbjson_parse_object(in, f.len, &j, err, sizeof(err));
        FZ_CHECK((rc == 0) == want, in, f.len, "pbjson_parse_object says %s, the reference %s",
                 rc == 0 ? "an object" : err, want ? "an object" : "not one");
        if (rc != 0) {
            FZ_CHECK(rc == LT_EINVAL && strncmp(err, "malformed JSON", 14) == 0, in, f.len,
                     "parse refusal %d \"%s\"", rc, err);
            free(in);
            continue;
        }
        struct pbjson_opts o = {.ignore_unknown = rng_chance(20), .is_raw_json = catalog_raw_json};
        ProtobufCMessage *m = NULL;
        if (rng_chance(30)) { /* the formatted error, into a buffer of any size */
            size_t n = rng_below(48);
            char *e = malloc(n + 1);
            CU_ASSERT_PTR_NOT_NULL_FATAL(e);
            rc = pbjson_to_message(t->d, j, &o, &m, n ? e : NULL, n);
            FZ_CHECK(rc != 0 || m != NULL, in, f.len, "success without a message");
            if (rc != 0 && n)
                FZ_CHECK(memchr(e, '\0', n) != NULL, in, f.len, "error not terminated");
            free(e);
        } else {
            struct pbjson_error e;
            memset(&e, 'x', sizeof(e));
            rc = pbjson_decode(t->d, j, &o, &m, &e);
            if (rc != 0)
                FZ_CHECK(memchr(e.path, '\0', sizeof(e.path)) &&
                             memchr(e.message, '\0', sizeof(e.message)) && e.message[0],
                         in, f.len, "a decode error says what, terminated");
        }
        FZ_CHECK(rc == 0 || rc == LT_EINVAL, in, f.len, "pbjson_decode returned %d", rc);
        if (rc == 0) {
            decoded++;
            pb_round_trip(in, f.len, m);
            protobuf_c_message_free_unpacked(m, NULL);
        } else {
            refused++;
            FZ_CHECK(m == NULL, in, f.len, "*out written on failure");
        }
        json_object_put(j);
        free(in);
    }
    printf("\n  (%u decoded, %u refused by the transcoder)", decoded, refused);
    CU_ASSERT(decoded > 0 && refused > 0);
    fuzz_end();
}

/* ------------------------------------------------------------------ strict UTF-8 */

static const char *const utf8_seeds[] = {
    "plain ascii",
    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xef\xbf\xbf",
    "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80",
};
static const char *const utf8_tokens[] = {"\xc0\x80",
                                          "\xc1\xbf",
                                          "\xe0\x9f\xbf",
                                          "\xed\xa0\x80",
                                          "\xed\xbf\xbf",
                                          "\xf0\x8f\xbf\xbf",
                                          "\xf4\x90\x80\x80",
                                          "\xf5\x80\x80\x80",
                                          "\xff",
                                          "\xfe",
                                          "\x80",
                                          "\xbf",
                                          "\xc3",
                                          "\xe2\x82",
                                          "\xf0\x9f\x98",
                                          "\xc3\xa9",
                                          "\xf0\x9f\x98\x80",
                                          "\x7f",
                                          "a"};

static void test_utf8(void)
{
    fuzz_begin("lt_utf8 vs a reference decoder", 3);
    struct fz f;
    for (; fuzz_more(); fuzz_iter++) {
        fz_next(&f, utf8_seeds, sizeof(utf8_seeds) / sizeof(char *), utf8_tokens,
                sizeof(utf8_tokens) / sizeof(char *));
        char *in = fz_exact(&f);
        long want = -1;
        for (size_t i = 0; i < f.len;) {
            if (oj_utf8((const unsigned char *)in, f.len, &i) < 0) {
                want = (long)i;
                break;
            }
        }
        long got = lt_utf8_invalid_at(in, f.len);
        FZ_CHECK(got == want, in, f.len, "lt_utf8_invalid_at %ld, the reference %ld", got, want);
        size_t sl = strlen(in);
        lt_utf8_scrub(in);
        FZ_CHECK(strlen(in) == sl && lt_utf8_invalid_at(in, sl) == -1, in, sl,
                 "scrubbed text is valid UTF-8 of the same length");
        free(in);
    }
    fuzz_end();
}

/* ------------------------------------------------------------------ b. the route table */

static int h_fuzz(struct gw_req *r)
{
    (void)r;
    return 200;
}

static const char *const path_seeds[] = {
    "/api/items",
    "/api/items/abc-1",
    "/api/items/a%2Fb%20c/history",
    "/api/items/%7E/history",
    "/_playground/cluster/kill/2",
    "/_playground/cluster/status",
    "/_playground/cluster/force-election",
    "/_playground/benchmark/start",
    "/_playground/security/firewall/r1",
    "/_playground/auth/login",
    "/healthz",
    "/metrics",
    "/",
    "/index.html",
    "/vendor/lib.css",
};
static const char *const path_tokens[] = {
    "/",
    "//",
    "%",
    "%2",
    "%00",
    "%2F",
    "%2f",
    "%zz",
    "%FF",
    "%C3%A9",
    "%25",
    "+",
    "..",
    ".",
    ":id",
    "?",
    "#",
    ";",
    "\xff",
    "\xc3\xa9",
    "items",
    "api",
    "history",
    "_playground",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41",
};
static const char *const methods[] = {"GET",     "HEAD",  "POST", "PUT", "DELETE",
                                      "OPTIONS", "PATCH", "get",  "",    "GETS"};

/* ref_decode: %XX-decoding of s[0..n) into out (cap bytes with the NUL), no '+' rule, no
 * NUL produced; the length or -1. */
static long ref_decode(const char *s, size_t n, bool plus, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            unsigned v;
            char hex[3] = {0};
            if (i + 2 >= n)
                return -1;
            hex[0] = s[i + 1];
            hex[1] = s[i + 2];
            if (!strchr("0123456789abcdefABCDEF", hex[0]) || !hex[0] ||
                !strchr("0123456789abcdefABCDEF", hex[1]) || !hex[1] ||
                sscanf(hex, "%2x", &v) != 1 || v == 0)
                return -1;
            c = (char)v;
            i += 2;
        } else if (plus && c == '+') {
            c = ' ';
        }
        if (o + 1 >= cap)
            return -2;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

/* ref_match: does `path` match `pattern` (segments literal or ":name", one parameter at
 * most here); the decoded parameter into value. */
static bool ref_match(const char *pattern, const char *path, char *value)
{
    if (pattern[0] != '/' || path[0] != '/')
        return false;
    const char *a = pattern + 1, *b = path + 1;
    for (;;) {
        size_t al = strcspn(a, "/"), bl = strcspn(b, "/");
        if (a[0] == ':' && al > 0) {
            if (bl == 0 || ref_decode(b, bl, false, value, GW_PARAM_MAX) <= 0)
                return false;
        } else if (al != bl || memcmp(a, b, al) != 0) {
            return false;
        }
        a += al;
        b += bl;
        if (!*a || !*b)
            return !*a && !*b;
        a++;
        b++;
    }
}

static void test_routes(void)
{
    static struct gw g;
    memset(&g, 0, sizeof(g));
    CU_ASSERT_EQUAL_FATAL(gw_items_register(&g), 0);
    CU_ASSERT_EQUAL_FATAL(gw_cluster_register(&g), 0);
    CU_ASSERT_EQUAL_FATAL(gw_bench_register(&g), 0);
    CU_ASSERT_EQUAL_FATAL(gw_metrics_register(&g), 0);
    /* the routes gw_security_new and gw_server_start add (they need a running gateway) */
    gw_route_add(&g, "GET", "/healthz", h_fuzz, NULL, "healthz");
    gw_route_add(&g, "POST", "/_playground/auth/login", h_fuzz, NULL, "auth_login");
    gw_route_add(&g, "GET", "/_playground/security/firewall", h_fuzz, NULL, "fw_list");
    gw_route_add(&g, "DELETE", "/_playground/security/firewall/:id", h_fuzz, NULL, "fw_delete");
    fuzz_begin("route table, path parameters, path escaping", 4);
    struct fz f;
    unsigned found = 0, not_allowed = 0;
    for (; fuzz_more(); fuzz_iter++) {
        fz_next(&f, path_seeds, sizeof(path_seeds) / sizeof(char *), path_tokens,
                sizeof(path_tokens) / sizeof(char *));
        f.len = strlen(f.b); /* a path is a C string */
        char *path = fz_exact(&f);
        const char *method = methods[rng_below(sizeof(methods) / sizeof(methods[0]))];
        /* the reference: the first route whose pattern and method fit, else 405 or 404 */
        int want = -1;
        char want_value[GW_PARAM_MAX] = "";
        char want_allow[64] = "";
        for (size_t i = 0; i < g.n_routes; i++) {
            char v[GW_PARAM_MAX] = "";
            if (!ref_match(g.routes[i].pattern, path, v))
                continue;
            bool fits = strcmp(g.routes[i].method, method) == 0 ||
                        (strcmp(method, "HEAD") == 0 && strcmp(g.routes[i].method, "GET") == 0);
            if (fits && want < 0) {
                want = (int)i;
                memcpy(want_value, v, sizeof(v));
            }
            if (want == -1)
                want = -2;
            if (want == -2 && !strstr(want_allow, g.routes[i].method)) {
                size_t o = strlen(want_allow);
                snprintf(want_allow + o, sizeof(want_allow) - o, "%s%s%s", o ? ", " : "",
                         g.routes[i].method, strcmp(g.routes[i].method, "GET") ? "" : ", HEAD");
            }
        }
        struct gw_params p;
        char allow[64];
        size_t alen = 1 + rng_below(sizeof(allow));
        int got = gw_routes_find(g.routes, g.n_routes, method, path, &p, allow, alen);
        FZ_CHECK(got == want, path, f.len, "%s: gw_routes_find %d, the reference %d", method, got,
                 want);
        if (got >= 0 && got == want) {
            found++;
            const char *pat = g.routes[got].pattern, *colon = strchr(pat, ':');
            if (colon) {
                char name[32];
                snprintf(name, sizeof(name), "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
                const char *v = gw_params_get(&p, name);
                FZ_CHECK(v && strcmp(v, want_value) == 0 && strlen(v) < GW_PARAM_MAX, path, f.len,
                         "parameter %s: \"%s\", the reference \"%s\"", name, v ? v : "(none)",
                         want_value);
                /* escaped again, the value names the same record */
                char esc[3 * GW_PARAM_MAX + 1], again[4 * GW_PARAM_MAX];
                struct gw_params p2;
                if (v && gw_path_escape(v, esc, sizeof(esc)) == 0) {
                    snprintf(again, sizeof(again), "%.*s%s%s", (int)(colon - pat), pat, esc,
                             colon + 1 + strcspn(colon + 1, "/"));
                    FZ_CHECK(strspn(esc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                         "0123456789._~-%") == strlen(esc) &&
                                 gw_path_match(pat, again, &p2) &&
                                 strcmp(gw_params_get(&p2, name), v) == 0,
                             path, f.len, "escaped value %s does not match back", esc);
                }
            }
        } else if (got == -2 && want == -2) {
            not_allowed++;
            char cut[64];
            snprintf(cut, alen, "%s", want_allow);
            FZ_CHECK(strcmp(allow, cut) == 0, path, f.len,
                     "Allow \"%s\" (buffer %zu), the reference \"%s\"", allow, alen, cut);
        }
        free(path);
    }
    printf("\n  (%u matched, %u with another method)", found, not_allowed);
    CU_ASSERT(found > 0 && not_allowed > 0);
    fuzz_end();
    gw_bench_free(&g);
    gw_metrics_free(&g);
}

/* ------------------------------------------------------------------ b. query strings */

static const char *const query_seeds[] = {
    "limit=10&cursor=abc",
    "status=active&includeBenchmark=true&consistency=serializable",
    "name=a%20b+c&limit=1000",
    "force=true&graceful=1",
    "target=2",
    "lastEventId=42",
    "",
    "a&b&&c=&=d",
    "x=%C3%A9&y=%2B%26%3D",
};
static const char *const query_tokens[] = {
    "&",
    "=",
    "%",
    "%0",
    "%00",
    "%zz",
    "%2B",
    "+",
    "%26",
    "%3D",
    "%6c",
    "limit",
    "cursor",
    "name",
    "force",
    "x",
    "\xff",
    "==",
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
    "&k1=1&k2=2&k3=3&k4=4&k5=5&k6=6&k7=7&k8=8&k9=9&k10&k11&k12&k13&k14&k15&k16&k17&k18&k19",
};

/* ref_pairs splits qs into pairs, as the gateway reads them (empty pieces skipped). */
struct ref_pair {
    const char *k, *v;
    size_t kl, vl;
};

static size_t ref_pairs(const char *qs, struct ref_pair *out, size_t max)
{
    size_t n = 0;
    while (qs && *qs && n < max) {
        size_t len = strcspn(qs, "&");
        if (len) {
            const char *eq = memchr(qs, '=', len);
            out[n].k = qs;
            out[n].kl = eq ? (size_t)(eq - qs) : len;
            out[n].v = eq ? eq + 1 : qs + len;
            out[n].vl = eq ? len - out[n].kl - 1 : 0;
            n++;
        }
        qs += len + (qs[len] == '&');
    }
    return n;
}

/* ref_copy: s cut to n - 1 bytes, as snprintf(out, n, "%s", s) cuts it. */
static void ref_copy(char *out, size_t n, const char *s)
{
    size_t l = strlen(s) < n - 1 ? strlen(s) : n - 1;
    memcpy(out, s, l);
    out[l] = '\0';
}

static void test_query(void)
{
    fuzz_begin("query strings", 5);
    static const char *const allowed[] = {"limit", "cursor", "name", "status", NULL};
    static const char *const keys[] = {"limit", "cursor", "name", "force", "x", "a", "", "k1"};
    struct fz f;
    struct ref_pair pr[512];
    for (; fuzz_more(); fuzz_iter++) {
        fz_next(&f, query_seeds, sizeof(query_seeds) / sizeof(char *), query_tokens,
                sizeof(query_tokens) / sizeof(char *));
        f.len = strlen(f.b);
        char *qs = fz_exact(&f);
        size_t np = ref_pairs(qs, pr, 512);
        /* gw_query_get: the first pair whose key decodes (to at most 127 bytes) to `key` */
        const char *key = keys[rng_below(sizeof(keys) / sizeof(keys[0]))];
        size_t n = rng_below(40);
        char *out = malloc(n ? n : 1), want[FUZZ_MAX_INPUT + 1];
        CU_ASSERT_PTR_NOT_NULL_FATAL(out);
        long wrc = LT_ENOTFOUND;
        for (size_t i = 0; i < np; i++) {
            char name[128];
            if (ref_decode(pr[i].k, pr[i].kl, true, name, sizeof(name)) < 0 ||
                strcmp(name, key) != 0)
                continue;
            wrc = ref_decode(pr[i].v, pr[i].vl, true, want, n ? n : 1);
            wrc = wrc == -1 ? LT_EINVAL : wrc == -2 || n == 0 ? LT_ETOOBIG : wrc;
            break;
        }
        int rc = gw_query_get(qs, key, out, n);
        FZ_CHECK(rc == wrc && (rc < 0 || strcmp(out, want) == 0), qs, f.len,
                 "gw_query_get(%s, %zu bytes): %d, the reference %ld", key, n, rc, wrc);
        if (rc >= 0)
            FZ_CHECK(strlen(out) == (size_t)rc, qs, f.len, "the length returned is the value's");
        free(out);
        /* gw_query_check_keys: every key (decoded, else as sent) among the allowed */
        char bad[24], want_bad[64] = "";
        bool wok = true;
        for (size_t i = 0; i < np && wok; i++) {
            char name[128];
            if (ref_decode(pr[i].k, pr[i].kl, true, name, sizeof(name)) < 0)
                snprintf(name, sizeof(name), "%.*s", (int)(pr[i].kl < 64 ? pr[i].kl : 64), pr[i].k);
            bool in = false;
            for (const char *const *a = allowed; *a; a++)
                in = in || strcmp(*a, name) == 0;
            if (!in) {
                wok = false;
                ref_copy(want_bad, sizeof(bad), name);
            }
        }
        bool ok = gw_query_check_keys(qs, allowed, bad, sizeof(bad));
        FZ_CHECK(ok == wok && (ok || strcmp(bad, want_bad) == 0), qs, f.len,
                 "gw_query_check_keys %d \"%s\", the reference %d \"%s\"", ok, ok ? "" : bad, wok,
                 want_bad);
        /* gw_query_check_dups: more than 64 pairs; else the first key that comes again */
        char dup[16], want_dup[128] = "";
        int wd = np > GW_QUERY_MAX_PARAMS ? LT_ETOOBIG : 0;
        for (size_t i = 0; i < np && wd == 0; i++) {
            char a[128], b[128];
            if (ref_decode(pr[i].k, pr[i].kl, true, a, sizeof(a)) < 0)
                continue;
            for (size_t k = i + 1; k < np && wd == 0; k++) {
                if (ref_decode(pr[k].k, pr[k].kl, true, b, sizeof(b)) >= 0 && strcmp(a, b) == 0) {
                    wd = LT_EINVAL;
                    ref_copy(want_dup, sizeof(dup), a);
                }
            }
        }
        int d = gw_query_check_dups(qs, dup, sizeof(dup));
        FZ_CHECK(d == wd && (d != LT_EINVAL || strcmp(dup, want_dup) == 0), qs, f.len,
                 "gw_query_check_dups %d, the reference %d (\"%s\")", d, wd, want_dup);
        free(qs);
    }
    fuzz_end();
}

/* ------------------------------------------------------------------ b. header values */

static const char *const value_seeds[] = {"\"3\"",
                                          "\"3@2026-11-30T07:57:40.123456789Z\"",
                                          "W/\"1@2026-11-30T07:57:40Z\"",
                                          "\"2@2026-11-30T08:57:40.5+01:00\"",
                                          "W/\"12\"",
                                          "*",
                                          " \"7\" ",
                                          "\"18446744073709551615\"",
                                          "\"1\", \"2\"",
                                          "127.0.0.1:8080",
                                          "localhost",
                                          "app.localhost:80",
                                          "[::1]:8080",
                                          "evil.example",
                                          "10.0.0.0/8",
                                          "192.168.1.0/23",
                                          "::1/128",
                                          "::ffff:10.0.0.0/104",
                                          "203.0.113.7",
                                          "0.0.0.0/0",
                                          "fe80::1/64",
                                          "100",
                                          "0",
                                          "18446744073709551615"};
static const char *const value_tokens[] = {"\"",
                                           "@",
                                           "2026-11-30T07:57:40Z",
                                           ".000000001",
                                           "W/",
                                           " ",
                                           ",",
                                           "*",
                                           "0",
                                           "9",
                                           "-",
                                           "+",
                                           "18446744073709551616",
                                           "99999999999999999999",
                                           ":",
                                           "[",
                                           "]",
                                           "::",
                                           ".",
                                           "/",
                                           "/0",
                                           "/32",
                                           "/33",
                                           "/128",
                                           "/129",
                                           "/08",
                                           "/-1",
                                           "%eth0",
                                           "localhost",
                                           ".localhost",
                                           "ffff:",
                                           "1.2.3.4",
                                           "\xff",
                                           "\t"};

static void test_header_values(void)
{
    fuzz_begin("If-Match, numbers, Host, CIDR", 6);
    struct fz f;
    unsigned etags = 0, cidrs = 0;
    for (; fuzz_more(); fuzz_iter++) {
        fz_next(&f, value_seeds, sizeof(value_seeds) / sizeof(char *), value_tokens,
                sizeof(value_tokens) / sizeof(char *));
        f.len = strlen(f.b);
        char *s = fz_exact(&f);
        /* If-Match: a version is a quoted decimal 1..2^64-1, maybe followed by @ and an
         * RFC 3339 instant; "*" is any (0), W/ never matches, nor does a version with zeros
         * in front or an instant not written as the server writes it; what is accepted
         * prints back to itself */
        struct gw_etag tag = {.version = 12345};
        int rc = gw_parse_etag(s, &tag);
        uint64_t v = tag.version;
        FZ_CHECK(rc == 0 || rc == LT_EINVAL || rc == LT_ECONFLICT, s, f.len, "etag rc %d", rc);
        if (rc == 0 || rc == LT_ECONFLICT) {
            etags++;
            /* the quoted digits, leading zeros aside, are the version ("012" is 12, and
             * never matches: this server writes "12"), then '"' or '@' */
            char q[40], *star = strchr(s, '*'), *open = strchr(s, '"');
            snprintf(q, sizeof(q), "%llu", (unsigned long long)v);
            while (open && open[1] == '0' && open[2] != '"' && open[2] != '@')
                open++;
            size_t ql = strlen(q);
            FZ_CHECK(v == 0 ? star != NULL && rc == 0 && !tag.has_created
                            : open != NULL && strncmp(open + 1, q, ql) == 0 &&
                                  (open[1 + ql] == '"' || open[1 + ql] == '@') &&
                                  (open[1 + ql] == '@') == tag.has_created,
                     s, f.len, "etag %llu", (unsigned long long)v);
            bool zeros = open != NULL && strchr(s, '"')[1] == '0';
            char canon[48] = "", t[64];
            bool other = false; /* the instant written otherwise than the server writes it */
            if (tag.has_created) {
                CU_ASSERT_EQUAL(
                    pbjson_timestamp_format(tag.created_s, tag.created_ns, canon, sizeof(canon)),
                    0);
                const char *a = strchr(s, '@');
                size_t cl = strlen(canon);
                other = strncmp(a + 1, canon, cl) != 0 || a[1 + cl] != '"';
            }
            FZ_CHECK((rc == LT_ECONFLICT) == (strstr(s, "W/\"") != NULL || zeros || other), s,
                     f.len, "weak tag, zeros in front or another spelling");
            snprintf(t, sizeof(t), "\"%llu%s%s\"", (unsigned long long)v,
                     tag.has_created ? "@" : "", canon);
            struct gw_etag e2 = {0};
            FZ_CHECK(v == 0 || (gw_parse_etag(t, &e2) == 0 && e2.version == v &&
                                e2.has_created == tag.has_created &&
                                e2.created_s == tag.created_s && e2.created_ns == tag.created_ns),
                     s, f.len, "etag again");
        }
        /* a decimal in range, and nothing else */
        uint64_t u = 77;
        rc = gw_parse_u64(s, 1, 1000000, &u);
        bool digits = f.len > 0 && strspn(s, "0123456789") == f.len;
        unsigned long long ref = digits && f.len <= 20 ? strtoull(s, NULL, 10) : 0;
        bool wok = digits && f.len <= 20 && ref >= 1 && ref <= 1000000;
        FZ_CHECK((rc == 0) == wok && (rc != 0 || u == ref), s, f.len, "gw_parse_u64 %d", rc);
        FZ_CHECK(rc == 0 || u == 77, s, f.len, "*out written on failure");
        /* Host: local names only */
        bool local = gw_host_is_local(s);
        if (local && f.len) {
            char name[256] = "";
            if (s[0] == '[') {
                const char *e = strchr(s, ']');
                struct in6_addr a6;
                FZ_CHECK(e && (e[1] == '\0' || e[1] == ':') && (size_t)(e - s) < sizeof(name), s,
                         f.len, "a local bracketed Host is [addr] or [addr]:port");
                if (e && (size_t)(e - s) < sizeof(name)) {
                    snprintf(name, sizeof(name), "%.*s", (int)(e - s - 1), s + 1);
                    FZ_CHECK(inet_pton(AF_INET6, name, &a6) == 1, s, f.len, "an IPv6 literal");
                }
            } else {
                struct in_addr a4;
                snprintf(name, sizeof(name), "%.*s", (int)strcspn(s, ":"), s);
                size_t nl = strlen(name);
                FZ_CHECK(inet_pton(AF_INET, name, &a4) == 1 || strcasecmp(name, "localhost") == 0 ||
                             (nl > 10 && strcasecmp(name + nl - 10, ".localhost") == 0),
                         s, f.len, "Host \"%s\" called local", name);
            }
        }
        /* a firewall rule: what parses prints back to the same network and contains itself */
        int fam = -1;
        uint8_t net[16];
        unsigned prefix = 999;
        rc = gw_cidr_parse(s, &fam, net, &prefix);
        FZ_CHECK(rc == 0 || rc == LT_EINVAL, s, f.len, "cidr rc %d", rc);
        if (rc == 0) {
            cidrs++;
            FZ_CHECK((fam == AF_INET && prefix <= 32) || (fam == AF_INET6 && prefix <= 128), s,
                     f.len, "family %d prefix %u", fam, prefix);
            char text[INET6_ADDRSTRLEN + 8];
            int fam2;
            uint8_t net2[16];
            unsigned prefix2;
            if (inet_ntop(fam, net, text, INET6_ADDRSTRLEN)) {
                size_t tl = strlen(text);
                snprintf(text + tl, sizeof(text) - tl, "/%u", prefix);
                FZ_CHECK(gw_cidr_parse(text, &fam2, net2, &prefix2) == 0 && fam2 == fam &&
                             prefix2 == prefix && memcmp(net, net2, 16) == 0,
                         s, f.len, "printed as %s it reads back otherwise", text);
            }
            FZ_CHECK(gw_cidr_match(fam, net, prefix, fam, net), s, f.len,
                     "a network contains its own address");
        }
        free(s);
    }
    printf("\n  (%u If-Match accepted, %u CIDR accepted)", etags, cidrs);
    CU_ASSERT(etags > 0 && cidrs > 0);
    fuzz_end();
}

/* ------------------------------------------------------------------ b. bodies and names */

static void test_bench_body(void)
{
    fuzz_begin("benchmark start bodies, field names", 7);
    struct fz f;
    unsigned ok_n = 0;
    static const char *const seeds[] = {json_seeds[N_JSON_SEEDS - 1], "{}",
                                        "{\"type\":\"read\",\"concurrency\":1024,\"rate\":1e7}",
                                        "{\"duration_secs\":0.1,\"key_space\":100000,\"payload_size"
                                        "\":4096,\"type\":\"write\",\"consistency\":null}"};
    for (; fuzz_more(); fuzz_iter++) {
        fz_next(&f, seeds, sizeof(seeds) / sizeof(char *), fz_json_tokens, FZ_N_JSON_TOKENS);
        char *in = fz_exact(&f);
        json_object *j = NULL;
        char err[64];
        if (pbjson_parse_object(in, f.len, &j, err, sizeof(err)) == 0) {
            struct gw_bench_params p;
            memset(err, 'x', sizeof(err));
            size_t n = 1 + rng_below(sizeof(err));
            int rc = gw_bench_parse(j, &p, err, n);
            if (rc == 0) {
                ok_n++;
                FZ_CHECK(p.concurrency >= 1 && p.concurrency <= BENCH_MAX_WORKERS &&
                             p.duration_secs >= 0.1 && p.duration_secs <= 3600 &&
                             p.payload_size >= 1 && p.payload_size <= (1u << 20) && p.rate >= 0 &&
                             p.rate <= 1e7 && p.read_ratio >= 0 && p.read_ratio <= 1 &&
                             p.warmup_secs >= 0 && p.warmup_secs <= 600 && p.key_space >= 1 &&
                             p.key_space <= 10000000,
                         in, f.len, "accepted parameters out of their ranges");
            } else {
                FZ_CHECK(rc == LT_EINVAL && memchr(err, '\0', n) &&
                             (n < 16 || strchr(err, '\'') != NULL),
                         in, f.len, "a refusal names the field: %d \"%.60s\"", rc, err);
            }
            json_object_put(j);
        }
        /* camelCase names: bounded, no '_' left */
        size_t n = rng_below(24);
        char *camel = malloc(n ? n : 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(camel);
        gw_camel_name(in, camel, n);
        FZ_CHECK(n == 0 || (memchr(camel, '\0', n) && !strchr(camel, '_')), in, f.len,
                 "gw_camel_name");
        free(camel);
        free(in);
    }
    printf("\n  (%u bodies accepted)", ok_n);
    CU_ASSERT(ok_n > 0);
    fuzz_end();
}

static void test_path_escape(void)
{
    fuzz_begin("gw_path_escape round trip", 8);
    struct fz f;
    for (; fuzz_more(); fuzz_iter++) {
        fz_next(&f, path_seeds, sizeof(path_seeds) / sizeof(char *), path_tokens,
                sizeof(path_tokens) / sizeof(char *));
        f.len = strlen(f.b);
        char *s = fz_exact(&f);
        size_t n = rng_below(3 * f.len + 2);
        char *esc = malloc(n ? n : 1), *dec = malloc(f.len + 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(esc);
        CU_ASSERT_PTR_NOT_NULL_FATAL(dec);
        int rc = gw_path_escape(s, esc, n);
        if (FZ_CHECK(rc == 0 || rc == LT_ETOOBIG, s, f.len, "rc %d", rc) && rc == 0) {
            size_t el = strlen(esc);
            int dl = gw_url_decode(esc, el, false, dec, f.len + 1);
            FZ_CHECK(el < n && !strpbrk(esc, "/?#&+\r\n \"") && (f.len == 0 || dl == (int)f.len) &&
                         (f.len == 0 || memcmp(dec, s, f.len) == 0),
                     s, f.len, "escaped as %s, decoded back %d bytes", esc, dl);
        }
        free(esc);
        free(dec);
        free(s);
    }
    fuzz_end();
}

/* ------------------------------------------------------------------ the nodes' events */

/* ev_printable: whether an event carries only what a node really sends (strict UTF-8
 * strings, a finite rate): then the JSON the page receives must be strict JSON. */
static bool ev_printable(const uint8_t *b, size_t len)
{
    Lithair__V1__Event *ev = lithair__v1__event__unpack(NULL, len, b);
    if (!ev)
        return false;
    bool ok = true;
    if (ev->kind_case == LITHAIR__V1__EVENT__KIND_COMMITTED)
        ok = lt_utf8_invalid_at(ev->committed->model, strlen(ev->committed->model)) < 0 &&
             lt_utf8_invalid_at(ev->committed->id, strlen(ev->committed->id)) < 0;
    if (ev->kind_case == LITHAIR__V1__EVENT__KIND_METRICS)
        ok = isfinite(ev->metrics->applied_per_sec);
    lithair__v1__event__free_unpacked(ev, NULL);
    return ok;
}

static void test_events(void)
{
    /* one packed event of each kind, from the JSON seeds (decoded by pbjson) */
    uint8_t *packed[sizeof(event_seeds) / sizeof(char *)];
    size_t plen[sizeof(event_seeds) / sizeof(char *)], np = 0;
    for (size_t i = 0; i < sizeof(event_seeds) / sizeof(char *); i++) {
        json_object *j = NULL;
        ProtobufCMessage *m = NULL;
        char err[128];
        if (pbjson_parse_object(event_seeds[i], strlen(event_seeds[i]), &j, err, sizeof(err)) ||
            pbjson_to_message(&lithair__v1__event__descriptor, j, NULL, &m, err, sizeof(err))) {
            json_object_put(j);
            continue;
        }
        packed[np] = pb_pack(m, &plen[np]);
        np++;
        protobuf_c_message_free_unpacked(m, NULL);
        json_object_put(j);
    }
    CU_ASSERT_FATAL(np >= 6);
    fuzz_begin("evb_event_json on mutated packed events", 9);
    struct fz f;
    unsigned shown = 0;
    static const char *const no_tokens[] = {"\x08\x01", "\x52\x00", "\x0a\x02\xc3\x28", "\xff"};
    for (; fuzz_more(); fuzz_iter++) {
        size_t k = rng_below(np);
        fz_set(&f, (const char *)packed[k], plen[k]);
        size_t nm = rng_chance(10) ? 0 : 1 + rng_below(3);
        for (size_t i = 0; i < nm; i++)
            fz_mutate(&f, no_tokens, sizeof(no_tokens) / sizeof(char *));
        char *in = fz_exact(&f);
        char name[64] = "";
        unsigned mask = 0;
        char *json = NULL;
        int rc = evb_event_json((const uint8_t *)in, f.len, name, &mask, &json);
        FZ_CHECK(rc == 0 || rc == LT_ECORRUPT || rc == LT_EUNSUPPORTED, in, f.len, "rc %d", rc);
        if (rc == 0) {
            shown++;
            FZ_CHECK(json && name[0] && mask != 0, in, f.len, "an event has a name and a stream");
            if (json && ev_printable((const uint8_t *)in, f.len)) {
                json_object *j = NULL;
                char err[128];
                int prc = lt_json_parse(json, strlen(json), &j, err, sizeof(err));
                FZ_CHECK(prc == 0, in, f.len, "event %s is not strict JSON: %s: %.200s", name,
                         prc ? err : "", json);
                json_object_put(j);
            }
        } else {
            FZ_CHECK(json == NULL, in, f.len, "*json written on failure");
        }
        free(json);
        free(in);
    }
    printf("\n  (%u shown)", shown);
    CU_ASSERT(shown > 0);
    for (size_t i = 0; i < np; i++)
        free(packed[i]);
    fuzz_end();
}

static const struct lt_test fuzz_tests[] = {
    {"lt_json_parse agrees with a strict reference reader", test_json_parse},
    {"pbjson decodes or refuses, and round-trips", test_pbjson},
    {"strict UTF-8 agrees with a reference decoder", test_utf8},
    {"the route table agrees with a reference matcher", test_routes},
    {"query strings agree with a reference reader", test_query},
    {"If-Match, numbers, Host and CIDR values", test_header_values},
    {"benchmark bodies and field names", test_bench_body},
    {"path escaping round-trips", test_path_escape},
    {"node events print as strict JSON", test_events},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"fuzz_gw", NULL, NULL, fuzz_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
