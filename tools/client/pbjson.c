/* pbjson.c — JSON ⇄ protobuf over protobuf-c reflection and json-c (see pbjson.h for
 * the conventions). Decoding builds the message in place with malloc, keeping it valid
 * for protobuf_c_message_free_unpacked(m, NULL) at every step (repeated counts grow one
 * element at a time, a oneof case is set only once its member is stored), so any error
 * frees the partial message through that one function. */
#include "pbjson.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lt_err.h"
#include "lt_jsonparse.h"
#include "wire.h"

/* ---- names ---- */

char *pbjson_json_name(const ProtobufCFieldDescriptor *f, char *buf, size_t n)
{
    size_t j = 0;
    bool upper = false;
    if (n == 0)
        return buf;
    for (const char *s = f->name; *s && j + 1 < n; s++) {
        if (*s == '_') {
            upper = true;
            continue;
        }
        char c = *s;
        if (upper && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        upper = false;
        buf[j++] = c;
    }
    buf[j] = '\0';
    return buf;
}

bool pbjson_raw_json_by_name(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
                             void *ud)
{
    const char *const *names = ud;
    size_t dl = strlen(d->name);
    for (size_t i = 0; names && names[i]; i++) {
        const char *s = names[i];
        if (strncmp(s, d->name, dl) == 0 && s[dl] == '.' && strcmp(s + dl + 1, f->name) == 0)
            return true;
    }
    return false;
}

static bool pbj_is_raw(const struct pbjson_opts *o, const ProtobufCMessageDescriptor *d,
                       const ProtobufCFieldDescriptor *f)
{
    return f->type == PROTOBUF_C_TYPE_STRING && o && o->is_raw_json &&
           o->is_raw_json(d, f, o->raw_ud);
}

/* pbj_timestamp_fields: whether `d` is a Timestamp (int64 seconds = 1, int32 nanos = 2). */
static bool pbj_timestamp_fields(const ProtobufCMessageDescriptor *d,
                                 const ProtobufCFieldDescriptor **sec,
                                 const ProtobufCFieldDescriptor **nan)
{
    if (strcmp(d->short_name, "Timestamp") != 0 || d->n_fields != 2)
        return false;
    const ProtobufCFieldDescriptor *s = &d->fields[0], *n = &d->fields[1];
    if (strcmp(s->name, "seconds") != 0 || s->type != PROTOBUF_C_TYPE_INT64 ||
        s->label == PROTOBUF_C_LABEL_REPEATED || strcmp(n->name, "nanos") != 0 ||
        n->type != PROTOBUF_C_TYPE_INT32 || n->label == PROTOBUF_C_LABEL_REPEATED)
        return false;
    *sec = s;
    *nan = n;
    return true;
}

/* ---- base64 ---- */

static const char pbj_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *pbjson_base64_encode(const unsigned char *data, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        out[j++] = pbj_b64[(v >> 18) & 63];
        out[j++] = pbj_b64[(v >> 12) & 63];
        out[j++] = i + 1 < len ? pbj_b64[(v >> 6) & 63] : '=';
        out[j++] = i + 2 < len ? pbj_b64[v & 63] : '=';
    }
    out[j] = '\0';
    return out;
}

static int pbj_b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int pbjson_base64_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen)
{
    size_t n = slen, pad = 0;
    while (n > 0 && s[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    if (n % 4 == 1 || (pad && (n + pad) % 4 != 0))
        return LT_EINVAL;
    size_t len = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    unsigned char *buf = NULL;
    if (len) {
        buf = malloc(len);
        if (!buf)
            return LT_ENOMEM;
    }
    size_t j = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = pbj_b64_value(s[i]);
        if (v < 0) {
            free(buf);
            return LT_EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[j++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out = buf;
    *outlen = j;
    return 0;
}

/* ---- timestamps ---- */

#define PBJ_TS_MIN INT64_C(-62135596800) /* 0001-01-01T00:00:00Z */
#define PBJ_TS_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

static int64_t pbj_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void pbj_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* pbj_put_digits writes v as exactly `width` decimal digits (zero-padded) at p and returns
 * the end. */
static char *pbj_put_digits(char *p, unsigned v, unsigned width)
{
    for (unsigned i = width; i-- > 0;) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

int pbjson_timestamp_format(int64_t seconds, int32_t nanos, char *buf, size_t n)
{
    if (nanos < 0 || nanos >= 1000000000) {
        int64_t carry = nanos / 1000000000;
        nanos %= 1000000000;
        if (nanos < 0) {
            nanos += 1000000000;
            carry--;
        }
        if ((carry > 0 && seconds > INT64_MAX - carry) ||
            (carry < 0 && seconds < INT64_MIN - carry))
            return LT_EINVAL;
        seconds += carry;
    }
    if (seconds < PBJ_TS_MIN || seconds > PBJ_TS_MAX)
        return LT_EINVAL;
    int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
    int64_t sod = seconds - days * 86400;
    int64_t y;
    unsigned mo, d;
    pbj_civil_from_days(days, &y, &mo, &d);
    /* Digits written by hand: every record's timestamps go through here on every answer,
     * and snprintf was a visible share of the gateway's profile. */
    unsigned frac = 0, fdigits = 0; /* 0, 3, 6 or 9 fractional digits */
    if (nanos != 0) {
        if (nanos % 1000000 == 0)
            frac = (unsigned)nanos / 1000000, fdigits = 3;
        else if (nanos % 1000 == 0)
            frac = (unsigned)nanos / 1000, fdigits = 6;
        else
            frac = (unsigned)nanos, fdigits = 9;
    }
    size_t need = 20 + (fdigits ? fdigits + 1 : 0) + 1; /* ...SSZ, ".fff", NUL */
    if (n < need)
        return LT_EINVAL;
    char *p = buf;
    p = pbj_put_digits(p, (unsigned)y, 4);
    *p++ = '-';
    p = pbj_put_digits(p, mo, 2);
    *p++ = '-';
    p = pbj_put_digits(p, d, 2);
    *p++ = 'T';
    p = pbj_put_digits(p, (unsigned)(sod / 3600), 2);
    *p++ = ':';
    p = pbj_put_digits(p, (unsigned)(sod / 60 % 60), 2);
    *p++ = ':';
    p = pbj_put_digits(p, (unsigned)(sod % 60), 2);
    if (fdigits) {
        *p++ = '.';
        p = pbj_put_digits(p, frac, fdigits);
    }
    *p++ = 'Z';
    *p = '\0';
    return 0;
}

/* pbj_digits reads exactly `n` decimal digits at s. */
static bool pbj_digits(const char *s, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

int pbjson_timestamp_parse(const char *s, int64_t *seconds, int32_t *nanos)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h, mi, se, frac = 0;
    if (!s || strlen(s) < 20)
        return LT_EINVAL;
    if (!pbj_digits(s, 4, &y) || s[4] != '-' || !pbj_digits(s + 5, 2, &mo) || s[7] != '-' ||
        !pbj_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !pbj_digits(s + 11, 2, &h) ||
        s[13] != ':' || !pbj_digits(s + 14, 2, &mi) || s[16] != ':' || !pbj_digits(s + 17, 2, &se))
        return LT_EINVAL;
    const char *p = s + 19;
    if (*p == '.') {
        int nd = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, nd++) {
            if (nd >= 9)
                return LT_EINVAL;
            frac = frac * 10 + (unsigned)(*p - '0');
        }
        if (nd == 0)
            return LT_EINVAL;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        unsigned oh, om;
        if (!pbj_digits(p + 1, 2, &oh) || p[3] != ':' || !pbj_digits(p + 4, 2, &om) || oh > 23 ||
            om > 59)
            return LT_EINVAL;
        offset = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return LT_EINVAL;
    }
    if (*p != '\0')
        return LT_EINVAL;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap ? 1u : 0u) ||
        h > 23 || mi > 59 || se > 59)
        return LT_EINVAL;
    int64_t secs = pbj_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
    if (secs < PBJ_TS_MIN || secs > PBJ_TS_MAX)
        return LT_EINVAL;
    *seconds = secs;
    *nanos = (int32_t)frac;
    return 0;
}

/* ---- decoding ---- */

struct pbj_dec {
    const struct pbjson_opts *o;
    struct pbjson_error *e;
    char path[256];
    size_t plen;
};

static size_t pbj_path_push_key(struct pbj_dec *c, const char *key)
{
    size_t old = c->plen;
    int n = snprintf(c->path + old, sizeof(c->path) - old, "%s%s", old ? "." : "", key);
    if (n > 0)
        c->plen = old + (size_t)n < sizeof(c->path) ? old + (size_t)n : sizeof(c->path) - 1;
    return old;
}

static size_t pbj_path_push_index(struct pbj_dec *c, size_t i)
{
    size_t old = c->plen;
    int n = snprintf(c->path + old, sizeof(c->path) - old, "[%zu]", i);
    if (n > 0)
        c->plen = old + (size_t)n < sizeof(c->path) ? old + (size_t)n : sizeof(c->path) - 1;
    return old;
}

static void pbj_path_pop(struct pbj_dec *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

__attribute__((format(printf, 3, 4))) static int pbj_fail(struct pbj_dec *c, int code,
                                                          const char *fmt, ...)
{
    if (c->e) {
        snprintf(c->e->path, sizeof(c->e->path), "%s", c->path);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->e->message, sizeof(c->e->message), fmt, ap);
        va_end(ap);
    }
    return code;
}

static const char *pbj_type_name(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
        return "int32";
    case PROTOBUF_C_TYPE_SINT32:
        return "sint32";
    case PROTOBUF_C_TYPE_SFIXED32:
        return "sfixed32";
    case PROTOBUF_C_TYPE_INT64:
        return "int64";
    case PROTOBUF_C_TYPE_SINT64:
        return "sint64";
    case PROTOBUF_C_TYPE_SFIXED64:
        return "sfixed64";
    case PROTOBUF_C_TYPE_UINT32:
        return "uint32";
    case PROTOBUF_C_TYPE_FIXED32:
        return "fixed32";
    case PROTOBUF_C_TYPE_UINT64:
        return "uint64";
    case PROTOBUF_C_TYPE_FIXED64:
        return "fixed64";
    case PROTOBUF_C_TYPE_FLOAT:
        return "float";
    case PROTOBUF_C_TYPE_DOUBLE:
        return "double";
    case PROTOBUF_C_TYPE_BOOL:
        return "bool";
    case PROTOBUF_C_TYPE_ENUM:
        return "enum";
    case PROTOBUF_C_TYPE_STRING:
        return "string";
    case PROTOBUF_C_TYPE_BYTES:
        return "bytes";
    case PROTOBUF_C_TYPE_MESSAGE:
        return "message";
    }
    return "?";
}

static size_t pbj_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return sizeof(uint32_t); /* 32-bit integers and enums */
    }
}

enum pbj_num { PBJ_NUM_OK, PBJ_NUM_TYPE, PBJ_NUM_FRACTION, PBJ_NUM_RANGE };

/* pbj_double_integer: an integral double as sign + magnitude. */
static enum pbj_num pbj_double_integer(double x, bool *neg, uint64_t *mag)
{
    if (x != x)
        return PBJ_NUM_FRACTION;
    double a = x < 0 ? -x : x;
    if (a >= 18446744073709551616.0)
        return PBJ_NUM_RANGE;
    uint64_t m = (uint64_t)a;
    if ((double)m != a)
        return PBJ_NUM_FRACTION;
    *neg = x < 0 && m != 0;
    *mag = m;
    return PBJ_NUM_OK;
}

/* pbj_json_integer reads a JSON number or decimal string as sign + magnitude. */
static enum pbj_num pbj_json_integer(json_object *v, bool *neg, uint64_t *mag)
{
    switch (json_object_get_type(v)) {
    case json_type_int: {
        int64_t i = json_object_get_int64(v);
        if (i < 0) {
            *neg = true;
            *mag = (uint64_t)(-(i + 1)) + 1;
        } else {
            *neg = false;
            *mag = i == INT64_MAX ? json_object_get_uint64(v) : (uint64_t)i;
        }
        return PBJ_NUM_OK;
    }
    case json_type_double:
        return pbj_double_integer(json_object_get_double(v), neg, mag);
    case json_type_string: {
        const char *s = json_object_get_string(v);
        const char *p = s;
        bool n = false;
        if (*p == '-') {
            n = true;
            p++;
        }
        if (*p >= '0' && *p <= '9') {
            const char *q = p;
            while (*q >= '0' && *q <= '9')
                q++;
            if (*q == '\0') {
                errno = 0;
                unsigned long long u = strtoull(p, NULL, 10);
                if (errno == ERANGE)
                    return PBJ_NUM_RANGE;
                *neg = n && u != 0;
                *mag = u;
                return PBJ_NUM_OK;
            }
        }
        /* "1e2", "1.0": a number in another spelling (as Google's parsers take it); not
         * hexadecimal, "inf" or "nan", which strtod reads too */
        char *end;
        errno = 0;
        if (strpbrk(s, "xXiInN") != NULL || *s == ' ')
            return PBJ_NUM_TYPE;
        double x = strtod(s, &end);
        if (end == s || *end != '\0')
            return PBJ_NUM_TYPE;
        if (errno == ERANGE)
            return PBJ_NUM_RANGE;
        return pbj_double_integer(x, neg, mag);
    }
    default:
        return PBJ_NUM_TYPE;
    }
}

static int pbj_decode_int(struct pbj_dec *c, const ProtobufCFieldDescriptor *f, json_object *v,
                          void *p)
{
    bool neg = false;
    uint64_t mag = 0;
    enum pbj_num r = pbj_json_integer(v, &neg, &mag);
    const char *tn = pbj_type_name(f->type);
    if (r == PBJ_NUM_TYPE)
        return pbj_fail(c, LT_EINVAL, "expected %s (a number or a decimal string)", tn);
    if (r == PBJ_NUM_FRACTION)
        return pbj_fail(c, LT_EINVAL, "expected %s, got a non-integral number", tn);
    uint64_t maxpos, maxneg; /* largest magnitude allowed for each sign */
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        maxpos = INT32_MAX;
        maxneg = UINT64_C(1) << 31;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        maxpos = UINT32_MAX;
        maxneg = 0;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        maxpos = UINT64_MAX;
        maxneg = 0;
        break;
    default:
        maxpos = INT64_MAX;
        maxneg = UINT64_C(1) << 63;
        break;
    }
    if (r == PBJ_NUM_RANGE || (neg ? mag > maxneg : mag > maxpos))
        return pbj_fail(c, LT_EINVAL, "value out of range for %s", tn);
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        *(int32_t *)p = neg ? (int32_t)(-(int64_t)(mag - 1) - 1) : (int32_t)mag;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *)p = (uint32_t)mag;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)p = mag;
        break;
    default:
        *(int64_t *)p = neg ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
        break;
    }
    return 0;
}

static int pbj_decode_float(struct pbj_dec *c, const ProtobufCFieldDescriptor *f, json_object *v,
                            void *p)
{
    double x;
    const char *tn = pbj_type_name(f->type);
    switch (json_object_get_type(v)) {
    case json_type_int:
    case json_type_double:
        x = json_object_get_double(v);
        break;
    case json_type_string: {
        const char *s = json_object_get_string(v);
        if (strcmp(s, "NaN") == 0) {
            x = __builtin_nan("");
        } else if (strcmp(s, "Infinity") == 0) {
            x = __builtin_inf();
        } else if (strcmp(s, "-Infinity") == 0) {
            x = -__builtin_inf();
        } else {
            char *end;
            errno = 0;
            x = strtod(s, &end);
            if (end == s || *end != '\0' || *s == ' ' || x != x || x - x != 0)
                return pbj_fail(c, LT_EINVAL, "expected %s (a number or a numeric string)", tn);
            if (errno == ERANGE && (x > 1 || x < -1))
                return pbj_fail(c, LT_EINVAL, "value out of range for %s", tn);
        }
        break;
    }
    default:
        return pbj_fail(c, LT_EINVAL, "expected %s (a number)", tn);
    }
    if (f->type == PROTOBUF_C_TYPE_FLOAT) {
        if (x == x && x - x == 0 && (x > FLT_MAX || x < -FLT_MAX))
            return pbj_fail(c, LT_EINVAL, "value out of range for float");
        *(float *)p = (float)x;
    } else {
        *(double *)p = x;
    }
    return 0;
}

static int pbj_decode_enum(struct pbj_dec *c, const ProtobufCFieldDescriptor *f, json_object *v,
                           void *p)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    if (json_object_get_type(v) == json_type_string) {
        const char *s = json_object_get_string(v);
        for (unsigned i = 0; i < ed->n_values; i++) {
            if (strcasecmp(ed->values[i].name, s) == 0) {
                *(int32_t *)p = ed->values[i].value;
                return 0;
            }
        }
        char names[160];
        wire_enum_names(ed, names, sizeof(names));
        return pbj_fail(c, LT_EINVAL, "invalid value \"%.64s\" (expected one of %s)", s, names);
    }
    if (json_object_get_type(v) == json_type_int || json_object_get_type(v) == json_type_double)
        return pbj_decode_int(c, f, v, p);
    char names[160];
    wire_enum_names(ed, names, sizeof(names));
    return pbj_fail(c, LT_EINVAL, "expected an enum name (%s) or number", names);
}

static int pbj_decode_message(struct pbj_dec *c, const ProtobufCMessageDescriptor *d,
                              json_object *in, ProtobufCMessage **out);

static int pbj_new_message(const ProtobufCMessageDescriptor *d, ProtobufCMessage **out)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);
    if (!m)
        return LT_ENOMEM;
    d->message_init(m);
    *out = m;
    return 0;
}

/* pbj_decode_value decodes one (non-repeated, or one element of a repeated) value of
 * field `f` of message type `d` into storage p. Writes p only on success. */
static int pbj_decode_value(struct pbj_dec *c, const ProtobufCMessageDescriptor *d,
                            const ProtobufCFieldDescriptor *f, json_object *v, void *p)
{
    enum json_type jt = json_object_get_type(v);
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return pbj_decode_float(c, f, v, p);
    case PROTOBUF_C_TYPE_BOOL:
        if (jt != json_type_boolean)
            return pbj_fail(c, LT_EINVAL, "expected bool (true or false)");
        *(protobuf_c_boolean *)p = json_object_get_boolean(v) ? 1 : 0;
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        return pbj_decode_enum(c, f, v, p);
    case PROTOBUF_C_TYPE_STRING: {
        char *s;
        if (pbj_is_raw(c->o, d, f)) {
            s = strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE));
        } else {
            if (jt != json_type_string)
                return pbj_fail(c, LT_EINVAL, "expected string");
            int len = json_object_get_string_len(v);
            const char *src = json_object_get_string(v);
            if (strlen(src) != (size_t)len)
                return pbj_fail(c, LT_EINVAL, "string contains a NUL character");
            s = strdup(src);
        }
        if (!s)
            return pbj_fail(c, LT_ENOMEM, "out of memory");
        *(char **)p = s;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        if (jt != json_type_string)
            return pbj_fail(c, LT_EINVAL, "expected bytes (a base64 string)");
        unsigned char *data;
        size_t len;
        int rc = pbjson_base64_decode(json_object_get_string(v),
                                      (size_t)json_object_get_string_len(v), &data, &len);
        if (rc == LT_ENOMEM)
            return pbj_fail(c, rc, "out of memory");
        if (rc)
            return pbj_fail(c, LT_EINVAL, "invalid base64");
        ((ProtobufCBinaryData *)p)->data = data;
        ((ProtobufCBinaryData *)p)->len = len;
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *sd = f->descriptor;
        const ProtobufCFieldDescriptor *fs, *fn;
        if (jt == json_type_string && pbj_timestamp_fields(sd, &fs, &fn)) {
            int64_t secs;
            int32_t nanos;
            if (pbjson_timestamp_parse(json_object_get_string(v), &secs, &nanos))
                return pbj_fail(c, LT_EINVAL, "invalid RFC 3339 timestamp \"%.64s\"",
                                json_object_get_string(v));
            ProtobufCMessage *m;
            if (pbj_new_message(sd, &m))
                return pbj_fail(c, LT_ENOMEM, "out of memory");
            *(int64_t *)((char *)m + fs->offset) = secs;
            *(int32_t *)((char *)m + fn->offset) = nanos;
            *(ProtobufCMessage **)p = m;
            return 0;
        }
        if (jt != json_type_object)
            return pbj_fail(c, LT_EINVAL, "expected an object (%s)%s", sd->name,
                            pbj_timestamp_fields(sd, &fs, &fn) ? " or an RFC 3339 string" : "");
        ProtobufCMessage *m;
        int rc = pbj_decode_message(c, sd, v, &m);
        if (rc)
            return rc;
        /* a Timestamp as an object: nanos out of range would print as another instant
         * (pbjson_timestamp_format normalizes), so the message would not read back the same */
        int32_t nanos = pbj_timestamp_fields(sd, &fs, &fn)
                            ? *(const int32_t *)((const char *)m + fn->offset)
                            : 0;
        if (nanos < 0 || nanos > 999999999) {
            protobuf_c_message_free_unpacked(m, NULL);
            size_t old = pbj_path_push_key(c, "nanos");
            rc = pbj_fail(c, LT_EINVAL, "nanos must be from 0 to 999999999");
            pbj_path_pop(c, old);
            return rc;
        }
        *(ProtobufCMessage **)p = m;
        return 0;
    }
    default:
        return pbj_decode_int(c, f, v, p);
    }
}

static int pbj_decode_field(struct pbj_dec *c, const ProtobufCMessageDescriptor *d,
                            const ProtobufCFieldDescriptor *f, json_object *v, ProtobufCMessage *m)
{
    char *base = (char *)m;
    bool raw = pbj_is_raw(c->o, d, f);
    if (v == NULL && !(raw && f->label != PROTOBUF_C_LABEL_REPEATED))
        return 0; /* null: not set */
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t set = *(uint32_t *)(base + f->quantifier_offset);
        if (set != 0 && set != f->id)
            return pbj_fail(c, LT_EINVAL, "more than one field of the same oneof is set");
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (json_object_get_type(v) != json_type_array)
            return pbj_fail(c, LT_EINVAL, "expected an array of %s", pbj_type_name(f->type));
        size_t n = json_object_array_length(v), esz = pbj_elem_size(f->type);
        size_t *count = (size_t *)(base + f->quantifier_offset);
        void **arr = (void **)(base + f->offset);
        if (n == 0)
            return 0;
        *arr = calloc(n, esz);
        if (!*arr)
            return pbj_fail(c, LT_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            json_object *ev = json_object_array_get_idx(v, i);
            size_t old = pbj_path_push_index(c, i);
            int rc = 0;
            if (ev == NULL && !raw)
                rc = pbj_fail(c, LT_EINVAL, "null is not allowed in an array");
            else
                rc = pbj_decode_value(c, d, f, ev, (char *)*arr + i * esz);
            pbj_path_pop(c, old);
            if (rc)
                return rc;
            (*count)++;
        }
        return 0;
    }
    int rc = pbj_decode_value(c, d, f, v, base + f->offset);
    if (rc)
        return rc;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)(base + f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    return 0;
}

static int pbj_find_field(const ProtobufCMessageDescriptor *d, const char *key)
{
    char jn[128];
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (strcmp(key, f->name) == 0 || strcmp(key, pbjson_json_name(f, jn, sizeof(jn))) == 0)
            return (int)i;
    }
    return -1;
}

static int pbj_decode_message(struct pbj_dec *c, const ProtobufCMessageDescriptor *d,
                              json_object *in, ProtobufCMessage **out)
{
    if (json_object_get_type(in) != json_type_object)
        return pbj_fail(c, LT_EINVAL, "expected an object (%s)", d->name);
    ProtobufCMessage *m;
    if (pbj_new_message(d, &m))
        return pbj_fail(c, LT_ENOMEM, "out of memory");
    int rc = 0;
    unsigned char *seen = calloc(d->n_fields ? d->n_fields : 1, 1);
    if (!seen) {
        rc = pbj_fail(c, LT_ENOMEM, "out of memory");
        goto out_free_message;
    }
    struct json_object_iterator it = json_object_iter_begin(in), end = json_object_iter_end(in);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        const char *key = json_object_iter_peek_name(&it);
        json_object *v = json_object_iter_peek_value(&it);
        size_t old = pbj_path_push_key(c, key);
        int i = pbj_find_field(d, key);
        if (i < 0) {
            if (!(c->o && c->o->ignore_unknown))
                rc = pbj_fail(c, LT_EINVAL, "unknown field \"%.64s\" in %s", key, d->name);
        } else if (seen[i]) {
            rc = pbj_fail(c, LT_EINVAL, "field \"%.64s\" given twice", d->fields[i].name);
        } else {
            seen[i] = 1;
            rc = pbj_decode_field(c, d, &d->fields[i], v, m);
        }
        pbj_path_pop(c, old);
        if (rc)
            goto out_free_seen;
    }
    free(seen);
    *out = m;
    return 0;

out_free_seen:
    free(seen);
out_free_message:
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int pbjson_decode(const ProtobufCMessageDescriptor *d, json_object *in, const struct pbjson_opts *o,
                  ProtobufCMessage **out, struct pbjson_error *e)
{
    struct pbj_dec c = {.o = o, .e = e};
    ProtobufCMessage *m = NULL;
    int rc = pbj_decode_message(&c, d, in, &m);
    if (rc)
        return rc;
    *out = m;
    return 0;
}

int pbjson_to_message(const ProtobufCMessageDescriptor *d, json_object *in,
                      const struct pbjson_opts *o, ProtobufCMessage **out, char *err, size_t errlen)
{
    struct pbjson_error e = {{0}, {0}};
    int rc = pbjson_decode(d, in, o, out, &e);
    if (rc && err && errlen) {
        if (e.path[0])
            snprintf(err, errlen, "%s: %s", e.path, e.message);
        else
            snprintf(err, errlen, "%s", e.message);
    }
    return rc;
}

/* ---- encoding ---- */

static json_object *pbj_new_float(double x, bool single)
{
    if (x != x)
        return json_object_new_string("NaN");
    if (x - x != 0)
        return json_object_new_string(x > 0 ? "Infinity" : "-Infinity");
    if (x == 0 && __builtin_signbit(x))
        return json_object_new_double_s(x, "-0.0"); /* "-0" would read back as integer 0 */
    char buf[40];
    /* the shortest spelling that reads back as the same value */
    for (int prec = single ? 6 : 15; prec <= (single ? 9 : 17); prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, x);
        if (single ? strtof(buf, NULL) == (float)x : strtod(buf, NULL) == x)
            break;
    }
    return json_object_new_double_s(x, buf);
}

static json_object *pbj_new_u64(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    return json_object_new_string(buf);
}

static json_object *pbj_new_i64(int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    return json_object_new_string(buf);
}

static json_object *pbj_encode_message(const ProtobufCMessage *m, const struct pbjson_opts *o);

/* pbj_encode_value encodes one value at p into *out (NULL is JSON null). Returns 0 or
 * LT_ENOMEM. */
static int pbj_encode_value(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
                            const void *p, const struct pbjson_opts *o, json_object **out)
{
    json_object *v = NULL;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        v = json_object_new_int(*(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        v = json_object_new_int64(*(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        v = pbj_new_i64(*(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        v = pbj_new_u64(*(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        v = pbj_new_float(*(const float *)p, true);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        v = pbj_new_float(*(const double *)p, false);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        v = json_object_new_boolean(*(const protobuf_c_boolean *)p ? 1 : 0);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t e = *(const int32_t *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, e);
        if (ev) {
            char low[128];
            size_t i = 0;
            for (; ev->name[i] && i + 1 < sizeof(low); i++)
                low[i] = (char)(ev->name[i] >= 'A' && ev->name[i] <= 'Z' ? ev->name[i] - 'A' + 'a'
                                                                         : ev->name[i]);
            low[i] = '\0';
            v = json_object_new_string(low);
        } else {
            v = json_object_new_int(e);
        }
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        if (!s)
            s = "";
        if (pbj_is_raw(o, d, f) && !*s) {
            *out = NULL; /* never set: JSON text is never empty, so this is "no value" */
            return 0;
        }
        if (pbj_is_raw(o, d, f)) {
            enum json_tokener_error jerr = json_tokener_success;
            json_object *j = json_tokener_parse_verbose(s, &jerr);
            if (jerr == json_tokener_success) {
                *out = j; /* may be NULL: the JSON text "null" */
                return 0;
            }
        }
        v = json_object_new_string(s);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        char *s = pbjson_base64_encode(b->data, b->len);
        if (!s)
            return LT_ENOMEM;
        v = json_object_new_string(s);
        free(s);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sm = *(const ProtobufCMessage *const *)p;
        const ProtobufCFieldDescriptor *fs, *fn;
        if (!sm) {
            v = json_object_new_object(); /* a NULL element of a repeated field */
            break;
        }
        if (pbj_timestamp_fields(sm->descriptor, &fs, &fn)) {
            char buf[48];
            int64_t secs = *(const int64_t *)((const char *)sm + fs->offset);
            int32_t nanos = *(const int32_t *)((const char *)sm + fn->offset);
            if (pbjson_timestamp_format(secs, nanos, buf, sizeof(buf)) == 0) {
                v = json_object_new_string(buf);
                break;
            }
        }
        v = pbj_encode_message(sm, o);
        break;
    }
    }
    if (!v)
        return LT_ENOMEM;
    *out = v;
    return 0;
}

static bool pbj_is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)p == 0;
    case PROTOBUF_C_TYPE_FLOAT: {
        float x = *(const float *)p;
        return x == 0 && !__builtin_signbit(x);
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double x = *(const double *)p;
        return x == 0 && !__builtin_signbit(x);
    }
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)p == 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        return !s || !*s;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(const ProtobufCMessage *const *)p == NULL;
    default:
        return *(const uint32_t *)p == 0;
    }
}

static json_object *pbj_encode_message(const ProtobufCMessage *m, const struct pbjson_opts *o)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    bool defaults = o && o->emit_defaults;
    json_object *obj = json_object_new_object();
    if (!obj)
        return NULL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *p = base + f->offset;
        json_object *v = NULL;
        char jn[128];
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
                continue;
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            if (n == 0 && !defaults)
                continue;
            v = json_object_new_array_ext((int)n);
            if (!v)
                goto out_put;
            size_t esz = pbj_elem_size(f->type);
            const char *arr = *(const char *const *)p;
            for (size_t k = 0; k < n; k++) {
                json_object *ev;
                if (pbj_encode_value(d, f, arr + k * esz, o, &ev) || json_object_array_add(v, ev)) {
                    json_object_put(v);
                    goto out_put;
                }
            }
            if (json_object_object_add(obj, pbjson_json_name(f, jn, sizeof(jn)), v)) {
                json_object_put(v);
                goto out_put;
            }
            continue;
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (*(const ProtobufCMessage *const *)p == NULL)
                continue;
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING) {
            if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
                continue;
        } else if (!defaults && pbj_is_default(f, p)) {
            continue;
        }
        if (pbj_encode_value(d, f, p, o, &v))
            goto out_put;
        if (json_object_object_add(obj, pbjson_json_name(f, jn, sizeof(jn)), v)) {
            json_object_put(v);
            goto out_put;
        }
    }
    return obj;

out_put:
    json_object_put(obj);
    return NULL;
}

json_object *pbjson_from_message(const ProtobufCMessage *m, const struct pbjson_opts *o)
{
    return pbj_encode_message(m, o);
}

/* ---- strict parsing ---- */

int pbjson_parse_object(const char *text, size_t len, json_object **out, char *err, size_t errlen)
{
    json_object *j = NULL;
    int rc = lt_json_parse(text, len, &j, err, errlen);
    if (rc != 0)
        return rc;
    if (!json_object_is_type(j, json_type_object)) { /* NULL: a bare null */
        json_object_put(j);
        snprintf(err, errlen, "malformed JSON: expected an object");
        return LT_EINVAL;
    }
    *out = j;
    return 0;
}
