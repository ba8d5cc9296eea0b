/* admin.c — lithair-admin, an etcdctl-like CLI that speaks the node RPCs directly.
 *
 *   lithair-admin [--endpoints URL,...] [-w table|json] [--timeout MS] COMMAND [ARGS]
 *
 * Every command prints a table (default) or JSON (-w json: the gateway's field names, and
 * proto3's JSON mapping for what the nodes report — 64-bit integers such as node ids as
 * decimal strings, hashes as 16 hex digits; README, "The CLI") and exits 0 on success; on
 * failure it prints one line "lithair-admin: ..." on stderr and exits 1 (2 for a usage
 * error). Benchmarks live in bench_cmd.c. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <locale.h>
#include <stdint.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdarg.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "admin.h"
#include "catalog.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_opt.h"
#include "lt_url.h"
#include "nng_close.h"
#include "pbjson.h"
#include "rpc_client.h"
#include "wire.h"

#define ADMIN_CLOSE_MS    2000 /* longest wait for a socket to close or NNG to finish */
#define DEFAULT_ENDPOINTS "tcp://127.0.0.1:7201,tcp://127.0.0.1:7202,tcp://127.0.0.1:7203"

/* ------------------------------------------------------------------ output */

int admin_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lithair-admin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int admin_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lithair-admin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see lithair-admin %s--help)\n", cmd ? cmd : "");
    va_end(ap);
    return 2;
}

/* admin_json_u64: a 64-bit integer as -w json writes every one, a decimal string —
 * proto3's JSON mapping, which pbjson follows for what the nodes reply (README, "The
 * CLI"): a node id or an index reads the same in every command. */
json_object *admin_json_u64(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    return json_object_new_string(buf);
}

/* admin_json_hex64: a hash or an opaque id (the store digest, the cluster id) as the
 * table, the messages, the node's log and its IDENTITY file write it: 16 hex digits. In
 * decimal, -w json's digest matched none of them (QA). */
static json_object *admin_json_hex64(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)v);
    return json_object_new_string(buf);
}

void admin_print_json(json_object *j)
{
    puts(json_object_to_json_string_ext(j,
                                        JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* admin_rpc_fail reports a failed call in one line, with the field errors if any. */
int admin_rpc_fail(const char *what, int rc, const struct rpc_status *st)
{
    char extra[512] = "";
    size_t off = 0;
    for (size_t i = 0; i < st->n_details && off < sizeof(extra) - 1; i++)
        off += (size_t)snprintf(extra + off, sizeof(extra) - off, "%s%s: %s", i ? "; " : " (",
                                st->details[i].field, st->details[i].description);
    if (st->n_details && off < sizeof(extra) - 1)
        snprintf(extra + off, sizeof(extra) - off, ")");
    return admin_fail("%s: %s: %s%s", what, wire_code_name(st->code),
                      st->message[0] ? st->message : lt_strerror(rc), extra);
}

static struct pbjson_opts json_opts = {.emit_defaults = true, .is_raw_json = catalog_raw_json};

const struct pbjson_opts *admin_json_opts(void)
{
    return &json_opts;
}

/* admin_parse_u64: all of `s` a decimal number in [min, max]; no sign, no wrap-around. */
static bool admin_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno == ERANGE || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* admin_urls_ok: a comma-separated list of one or more NNG URLs, each as lt_url_problem
 * wants it; else false and, in `why`, which one and what is wrong with it. */
static bool admin_urls_ok(const char *s, char *why, size_t whylen)
{
    char url[LT_URL_MAX];
    if (!s || !*s) {
        snprintf(why, whylen, "no URL");
        return false;
    }
    for (;;) {
        size_t n = strcspn(s, ",");
        const char *bad = n >= sizeof(url) ? "too long (at most 255 bytes)" : NULL;
        if (!bad) {
            memcpy(url, s, n);
            url[n] = '\0';
            bad = lt_url_problem(url);
        }
        if (bad) {
            snprintf(why, whylen, "'%.*s': %s", n > 80 ? 80 : (int)n, s, bad);
            return false;
        }
        if (!s[n])
            return true;
        s += n + 1;
    }
}

/* admin_urls_dup: the first URL that `s` (a list admin_urls_ok accepts) names twice, copied
 * into `out`; false if none. Compared as text: tcp://localhost:7201 and tcp://127.0.0.1:7201
 * are not seen as one. */
static bool admin_urls_dup(const char *s, char *out, size_t outlen)
{
    for (const char *u = s; *u;) {
        size_t n = strcspn(u, ",");
        for (const char *v = u + n; *v;) {
            v++; /* past the comma */
            size_t k = strcspn(v, ",");
            if (k == n && strncmp(u, v, n) == 0) {
                snprintf(out, outlen, "%.*s", (int)n, u);
                return true;
            }
            v += k;
        }
        u += n;
        if (*u)
            u++;
    }
    return false;
}

/* admin_stdout_check flushes standard output once, before the program ends: a command
 * whose output could not be written (a full disk, a device error) fails with one line
 * rather than exiting 0. `rc`, or 1 after the message if it was 0. */
static int admin_stdout_check(int rc)
{
    static bool checked;
    if (checked)
        return rc;
    checked = true;
    errno = 0;
    int flushed = fflush(stdout);
    int saved = errno;
    if (flushed == 0 && !ferror(stdout))
        return rc;
    if (rc != 0) /* it failed already, and said why */
        return rc;
    return admin_fail("cannot write the output: %s", flushed != 0 && saved
                                                         ? strerror(saved)
                                                         : "a write to standard output failed");
}

static _Noreturn void admin_leave(int rc);

/* admin_client connects on first use, so that a command refused for its arguments or its
 * input never opens a socket. A bad --endpoints list ends the program with a message. */
struct rpc_client *admin_client(struct admin *a)
{
    if (!a->client) {
        struct rpc_client_opts ro = {.default_timeout_ms = a->timeout_ms};
        int rc = rpc_client_new(a->endpoints, &ro, &a->client);
        if (rc != 0) {
            admin_fail("bad --endpoints '%s': expected NNG URLs such as "
                       "tcp://127.0.0.1:7201, comma-separated",
                       a->endpoints);
            admin_leave(2); /* bad usage */
        }
    }
    return a->client;
}

/* ------------------------------------------------------------------ items */

/* record_json turns a Record of `m` into the model's JSON plus raftIndex/raftTerm. */
static json_object *record_json(const struct catalog_model *m, const Lithair__V1__Record *r)
{
    ProtobufCMessage *v = protobuf_c_message_unpack(m->desc, NULL, r->value.len, r->value.data);
    json_object *j = v ? pbjson_from_message(v, &json_opts) : NULL;
    if (v)
        protobuf_c_message_free_unpacked(v, NULL);
    if (!j)
        return NULL;
    json_object_object_add(j, "raftIndex", admin_json_u64(r->raft_index));
    json_object_object_add(j, "raftTerm", admin_json_u64(r->raft_term));
    return j;
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

/* server_field_named: the index in catalog_server_fields of the first field only the
 * server sets that JSON object `j` names (by its JSON or its proto name), or
 * CATALOG_SERVER_FIELDS if none: an item's create or update refuses them. */
static size_t server_field_named(json_object *j)
{
    size_t i = 0;
    for (; i < CATALOG_SERVER_FIELDS; i++) {
        if (json_object_object_get_ex(j, catalog_server_fields[i].json, NULL) ||
            json_object_object_get_ex(j, catalog_server_fields[i].proto, NULL))
            break;
    }
    return i;
}

/* utf8_len: the length of the well-formed UTF-8 character at `s` (at most `n` bytes), 0 if
 * the bytes there are not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80                    ? 1
                 : s[0] >= 0xC2 && s[0] <= 0xDF ? 2
                 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
                 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                                : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    }
    if ((len == 3 && s[0] == 0xE0 && s[1] < 0xA0) ||  /* overlong */
        (len == 3 && s[0] == 0xED && s[1] >= 0xA0) || /* surrogate */
        (len == 4 && s[0] == 0xF0 && s[1] < 0x90) ||  /* overlong */
        (len == 4 && s[0] == 0xF4 && s[1] >= 0x90))   /* above U+10FFFF */
        return 0;
    return len;
}

/* table_cell writes `s` into `out` for a table column of `width` characters (0: as long
 * as it is, unpadded): control characters escaped as \n, \t, \r, \xHH (C1 ones as
 * \u0080..\u009f), a backslash as \\ and a byte that is not UTF-8 as \xHH, so that a
 * stored value can neither break a row nor send a terminal escape; cut after `width`
 * characters on a character boundary (an escape is never cut in two), then padded with
 * spaces. A character counts as one column. */
/* utf8_columns: how many terminal columns the well-formed UTF-8 character p[0..len) takes
 * (wcwidth in a UTF-8 locale; 1 if it says nothing). */
static size_t utf8_columns(const unsigned char *p, size_t len)
{
    static bool utf8_locale, tried;
    if (!tried) {
        tried = true; /* only character types: numbers and messages stay "C" */
        utf8_locale = setlocale(LC_CTYPE, "C.UTF-8") != NULL;
    }
    uint32_t cp = len == 2 ? (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F)
                  : len == 3
                      ? (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F)
                      : (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
                            (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
    int w = utf8_locale ? wcwidth((wchar_t)cp) : 1;
    return w < 0 ? 1 : (size_t)w;
}

static const char *table_cell(const char *s, size_t width, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), o = 0, cols = 0;
    while (n > 0) {
        char esc[8];
        size_t take = utf8_len(p, n), elen;
        if (take == 0) {
            take = 1;
            elen = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", p[0]);
        } else if (p[0] == '\n' || p[0] == '\t' || p[0] == '\r' || p[0] == '\\') {
            esc[0] = '\\';
            esc[1] = p[0] == '\n' ? 'n' : p[0] == '\t' ? 't' : p[0] == '\r' ? 'r' : '\\';
            esc[2] = '\0';
            elen = 2;
        } else if (p[0] < 0x20 || p[0] == 0x7F) {
            elen = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", p[0]);
        } else if (p[0] == 0xC2 && p[1] < 0xA0) { /* U+0080..U+009F: C1 controls (CSI...) */
            elen = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", p[1]);
        } else {
            memcpy(esc, p, take);
            elen = take;
        }
        /* a character's columns (two for most CJK, none for a combining mark), or its
         * escape's */
        size_t ecols = take > 1 && elen == take ? utf8_columns(p, take) : elen;
        if ((width && cols + ecols > width) || o + elen + 1 > outlen)
            break;
        memcpy(out + o, esc, elen);
        o += elen;
        cols += ecols;
        p += take;
        n -= take;
    }
    while (width && cols < width && o + 1 < outlen) {
        out[o++] = ' ';
        cols++;
    }
    out[o] = '\0';
    return out;
}

static void print_item_row(json_object *j, bool header)
{
    char id[1024], name[256]; /* escaped: at most 4 bytes a byte */
    if (header)
        printf("%-36s  %-24s  %-8s  %7s  %s\n", "ID", "NAME", "STATUS", "VERSION", "UPDATED");
    printf("%-36s  %s  %-8s  %7s  %s\n", table_cell(jstr(j, "id"), 0, id, sizeof(id)),
           table_cell(jstr(j, "name"), 24, name, sizeof(name)),
           *jstr(j, "status") ? jstr(j, "status") : "draft", jstr(j, "version"),
           jstr(j, "updatedAt"));
}

/* read_json_arg parses a JSON object from an argument, or stdin when it is "-". */
static json_object *read_json_arg(const char *arg, char *err, size_t errlen)
{
    char *text = NULL;
    size_t alen = strlen(arg);
    if (strcmp(arg, "-") == 0) {
        size_t cap = 0, len = 0;
        for (;;) {
            if (len + 4096 + 1 > cap) {
                cap = cap ? cap * 2 : 8192;
                if (cap > (64u << 20)) {
                    snprintf(err, errlen, "input larger than 64 MiB");
                    free(text);
                    return NULL;
                }
                char *t = realloc(text, cap);
                if (!t) {
                    free(text);
                    snprintf(err, errlen, "out of memory");
                    return NULL;
                }
                text = t;
            }
            errno = 0;
            size_t k = fread(text + len, 1, 4096, stdin);
            len += k;
            if (k == 0 && ferror(stdin)) { /* not an end: what was read is not all there is */
                snprintf(err, errlen, "cannot read standard input: %s",
                         errno ? strerror(errno) : "read error");
                free(text);
                return NULL;
            }
            if (k == 0)
                break;
        }
        text[len] = '\0';
        arg = text;
        alen = len; /* a NUL byte read from stdin is then refused, not a silent end */
    }
    /* as strictly as the gateway reads a body: what REST refuses, the CLI refuses too */
    json_object *j = NULL;
    char why[256];
    if (pbjson_parse_object(arg, alen, &j, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "bad JSON: %s", why);
        j = NULL;
    }
    free(text);
    return j;
}

#define ADMIN_PURGE_TIMEOUT_MS 600000u /* items purge without --timeout */

/* json_arg_fail reports read_json_arg's failure: JSON that does not parse is bad usage
 * (exit 2), as every other refused argument; stdin that cannot be read is a failure. */
static int json_arg_fail(const char *err)
{
    if (strncmp(err, "bad JSON", 8) == 0)
        return admin_usage_error("items ", "%s", err);
    return admin_fail("%s", err);
}

/* pack_value transcodes a JSON object into the model's serialized message. */
static int pack_value(const struct catalog_model *m, json_object *j, uint8_t **out, size_t *len,
                      char *err, size_t errlen)
{
    ProtobufCMessage *msg = NULL;
    int rc = pbjson_to_message(m->desc, j, &json_opts, &msg, err, errlen);
    if (rc != 0)
        return rc;
    *len = protobuf_c_message_get_packed_size(msg);
    *out = malloc(*len ? *len : 1);
    if (!*out) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return LT_ENOMEM;
    }
    protobuf_c_message_pack(msg, *out);
    protobuf_c_message_free_unpacked(msg, NULL);
    return 0;
}

/* items_fail reports a failed items call as admin_rpc_fail does, but for two cases:
 * NOT_FOUND of record `id` (NULL for calls that name none) reads the same whatever the
 * command, and a write (rpc_method_is_read) that timed out here, with no answer, says that
 * it may still have been applied: the node may have it, and commit it later. (A node that
 * answers DEADLINE_EXCEEDED to a write says so itself, with its reason.) */
static int items_fail(const struct admin *a, const char *what, const char *method, const char *id,
                      int rc, const struct rpc_status *st)
{
    const char *code = wire_code_name(st->code);
    if (st->code == LITHAIR__V1__CODE__NOT_FOUND && id)
        return admin_fail("%s: %s: item %s not found", what, code, id);
    if (rc == LT_ETIMEDOUT && st->transport && !rpc_method_is_read(method)) {
        if (!st->sent) /* still queued here: no node ever had it */
            return admin_fail("%s: %s: timed out after %u ms before the request went out: "
                              "the write was not applied",
                              what, code, a->timeout_ms);
        return admin_fail("%s: %s: timed out after %u ms: the write may or may not have been "
                          "applied (outcome unknown)",
                          what, code, a->timeout_ms);
    }
    return admin_rpc_fail(what, rc, st);
}

static int print_record_reply(struct admin *a, const struct catalog_model *m,
                              Lithair__V1__RecordReply *rr)
{
    if (!rr->record)
        return admin_fail("the node returned no record");
    json_object *j = record_json(m, rr->record);
    if (!j)
        return admin_fail("the node returned a record that does not decode");
    if (a->json)
        admin_print_json(j);
    else
        print_item_row(j, true);
    json_object_put(j);
    return 0;
}

/* The options of `items` subcommands, as bits: each subcommand takes only its own, so that
 * an option it would ignore (a --limit on history, a --expected-version on create) is
 * refused rather than silently dropped. */
enum {
    ITEM_OPT_EXPECTED_VERSION = 1 << 0,
    ITEM_OPT_SERIALIZABLE = 1 << 1,
    ITEM_OPT_ALL = 1 << 2,
    ITEM_OPT_INDEX = 1 << 3,
    ITEM_OPT_EQUALS = 1 << 4,
    ITEM_OPT_CURSOR = 1 << 5,
    ITEM_OPT_LIMIT = 1 << 6,
    ITEM_OPT_EXPECTED_CREATED = 1 << 7,
};

static const struct item_subcommand {
    const char *name;
    unsigned opts; /* ITEM_OPT_* it takes */
} item_subcommands[] = {
    {"create", 0},
    {"get", ITEM_OPT_SERIALIZABLE},
    {"update", ITEM_OPT_EXPECTED_VERSION | ITEM_OPT_EXPECTED_CREATED},
    {"delete", ITEM_OPT_EXPECTED_VERSION | ITEM_OPT_EXPECTED_CREATED},
    {"list", ITEM_OPT_SERIALIZABLE | ITEM_OPT_ALL | ITEM_OPT_INDEX | ITEM_OPT_EQUALS |
                 ITEM_OPT_CURSOR | ITEM_OPT_LIMIT},
    {"history", ITEM_OPT_SERIALIZABLE},
    {"purge", 0},
};

static const struct item_subcommand *item_subcommand_find(const char *name)
{
    for (size_t i = 0; i < sizeof(item_subcommands) / sizeof(item_subcommands[0]); i++) {
        if (strcmp(item_subcommands[i].name, name) == 0)
            return &item_subcommands[i];
    }
    return NULL;
}

static void items_usage(const char *model)
{
    printf(
        "Usage: lithair-admin %s COMMAND [OPTIONS]\n\n"
        "  create JSON|-                     create a record from a JSON object\n"
        "  get ID [--serializable]           read one record (linearizable by default)\n"
        "  update ID JSON|- [--expected-version N] [--expected-created TIME]\n"
        "                                    change the fields present in JSON\n"
        "  delete ID [--expected-version N] [--expected-created TIME]\n"
        "                                    delete a record\n"
        "  list [--index FIELD --equals VALUE] [--limit N] [--cursor C] [--all]\n"
        "       [--serializable]             one page of records (--all: every page);\n"
        "                                    benchmark records are left out\n"
        "  history ID [--serializable]       the record's kept versions, oldest first\n"
        "  purge                             delete every record written by benchmarks (a\n"
        "                                    deadline of 10 minutes unless --timeout)\n\n"
        "Options (a command refuses those it does not take):\n"
        "  --expected-version N   update, delete: only if the record is at version N\n"
        "                         (versions start at 1)\n"
        "  --expected-created TIME\n"
        "                         update, delete: only if the record was created at TIME,\n"
        "                         its createdAt (RFC 3339, e.g. 2026-11-30T07:57:40.123456789Z):\n"
        "                         the one read, not one deleted and created again since\n"
        "                         under the same ID, whose versions restart at 1\n"
        "  --serializable         get, list, history: served locally by the node asked\n"
        "  --index FIELD --equals VALUE\n"
        "                         list: the records whose indexed FIELD equals VALUE\n"
        "  --limit N              list: records per page, 1..1000\n"
        "  --cursor C             list: start at the page a previous list named\n"
        "  --all                  list: every page, not one\n"
        "  create and purge take no option.\n\n"
        "JSON uses the REST API's field names, e.g. {\"name\":\"Item 1\",\"status\":\"active\",\n"
        "\"metadata\":{\"k\":1}}. With -, the JSON is read from standard input. The server\n"
        "sets benchmark, version, createdAt and updatedAt: JSON naming them is refused.\n",
        model);
}

struct item_flags {
    uint64_t expected_version; /* 0: not given (versions start at 1) */
    bool has_created;          /* --expected-created given: created is the instant */
    Lithair__V1__Timestamp created;
    bool serializable;
    bool all;
    const char *index;
    const char *equals;
    const char *cursor;
    unsigned limit;
};

/* parse_item_flags reads the options of items subcommand `sc` (argv[0]); an option `sc`
 * does not take is a usage error. Returns 0, -1 for --help, or 2 after a message. */
static int parse_item_flags(const char *cmd, const struct item_subcommand *sc, int argc,
                            char **argv, struct item_flags *f, int *first_positional)
{
    static const struct option opts[] = {
        {"expected-version", required_argument, NULL, 'v'},
        {"serializable", no_argument, NULL, 's'},
        {"all", no_argument, NULL, 'a'},
        {"index", required_argument, NULL, 'i'},
        {"equals", required_argument, NULL, 'e'},
        {"cursor", required_argument, NULL, 'c'},
        {"limit", required_argument, NULL, 'l'},
        {"expected-created", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const unsigned opt_bits[] = {
        ITEM_OPT_EXPECTED_VERSION,
        ITEM_OPT_SERIALIZABLE,
        ITEM_OPT_ALL,
        ITEM_OPT_INDEX,
        ITEM_OPT_EQUALS,
        ITEM_OPT_CURSOR,
        ITEM_OPT_LIMIT,
        ITEM_OPT_EXPECTED_CREATED,
        0,
    };
    memset(f, 0, sizeof(*f));
    lithair__v1__timestamp__init(&f->created);
    optind = 0; /* 0, not 1: glibc then forgets the previous parse's "+" mode */
    opterr = 0;
    int c, li;
    while ((li = -1, c = getopt_long(argc, argv, ":h", opts, &li)) != -1) {
        if (li >= 0 && opt_bits[li] && !(sc->opts & opt_bits[li]))
            return admin_usage_error(cmd, "items %s takes no --%s option", sc->name, opts[li].name);
        switch (c) {
        case 'v':
            if (!admin_parse_u64(optarg, 1, UINT64_MAX, &f->expected_version))
                return admin_usage_error(cmd,
                                         "--expected-version needs a version from 1 to "
                                         "18446744073709551615 (versions start at 1), not '%s'",
                                         optarg);
            break;
        case 'C':
            if (pbjson_timestamp_parse(optarg, &f->created.seconds, &f->created.nanos) != 0)
                return admin_usage_error(cmd,
                                         "--expected-created needs the record's createdAt as "
                                         "RFC 3339 (e.g. 2026-11-30T07:57:40.123456789Z), not "
                                         "'%s'",
                                         optarg);
            f->has_created = true;
            break;
        case 's':
            f->serializable = true;
            break;
        case 'a':
            f->all = true;
            break;
        case 'i': /* an empty one would be sent as none: every record, --equals ignored */
            if (!*optarg)
                return admin_usage_error(cmd, "--index needs the name of an indexed field");
            f->index = optarg;
            break;
        case 'e':
            f->equals = optarg;
            break;
        case 'c':
            f->cursor = optarg;
            break;
        case 'l': {
            uint64_t v;
            if (!admin_parse_u64(optarg, 1, 1000, &v)) /* no sign, no space: "-1" never wraps */
                return admin_usage_error(cmd, "--limit needs a number from 1 to 1000");
            f->limit = (unsigned)v;
            break;
        }
        case 'h':
            return -1;
        case ':':
            return admin_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default:
            return admin_usage_error(cmd, "unknown option %s",
                                     lt_opt_refused(argc, argv, (char[3]){0}));
        }
    }
    *first_positional = optind;
    return 0;
}

static int cmd_items(struct admin *a, const char *model_name, int argc, char **argv)
{
    const struct catalog_model *m = catalog_find(model_name);
    if (argc < 2) /* bad usage: one line on stderr, as for every other (not --help's text) */
        return admin_usage_error("items ", "items needs a command: create, get, update, delete, "
                                           "list, history or purge");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        items_usage(model_name);
        return 0;
    }
    const char *sub = argv[1];
    const struct item_subcommand *sc = item_subcommand_find(sub);
    if (!sc)
        return admin_usage_error("items ", "unknown command '%s'", sub);
    struct item_flags f;
    int pos = 0;
    int rc = parse_item_flags("items ", sc, argc - 1, argv + 1, &f, &pos);
    if (rc == -1) {
        items_usage(model_name);
        return 0;
    }
    if (rc)
        return rc;
    char **args = argv + 1 + pos;
    int nargs = argc - 1 - pos;
    char err[512];
    struct rpc_status st;
    Lithair__V1__Consistency cons = f.serializable ? LITHAIR__V1__CONSISTENCY__SERIALIZABLE
                                                   : LITHAIR__V1__CONSISTENCY__LINEARIZABLE;
    /* an empty ID names no record (the server's "item  not found" said so unclearly) */
    if (strcmp(sub, "create") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "purge") != 0 &&
        nargs >= 1 && !*args[0])
        return admin_usage_error("items ", "%s: the ID is empty", sub);

    if (strcmp(sub, "create") == 0) {
        if (nargs != 1)
            return admin_usage_error("items ", "create takes one JSON object");
        json_object *j = read_json_arg(args[0], err, sizeof(err));
        if (!j)
            return json_arg_fail(err);
        /* what the server sets, refused as REST refuses it (422) rather than dropped or
         * taken: a record marked as benchmark data is deleted by `items purge` */
        size_t sfi = server_field_named(j);
        if (sfi < CATALOG_SERVER_FIELDS) {
            json_object_put(j);
            return admin_usage_error("items ", "bad JSON: %s is set by the server%s",
                                     catalog_server_fields[sfi].json,
                                     sfi == 0 ? " (only benchmarks create benchmark data)" : "");
        }
        Lithair__V1__CreateRequest req = LITHAIR__V1__CREATE_REQUEST__INIT;
        req.model = (char *)m->name;
        rc = pack_value(m, j, &req.value.data, &req.value.len, err, sizeof(err));
        json_object_put(j);
        if (rc)
            return admin_usage_error("items ", "bad JSON: %s", err);
        Lithair__V1__RecordReply *rr = NULL;
        rc = rpc_call(admin_client(a), "Models/Create", &req.base,
                      &lithair__v1__record_reply__descriptor, a->timeout_ms,
                      (ProtobufCMessage **)&rr, &st);
        free(req.value.data);
        if (rc)
            return items_fail(a, "create", "Models/Create", NULL, rc, &st);
        rc = print_record_reply(a, m, rr);
        protobuf_c_message_free_unpacked(&rr->base, NULL);
        return rc;
    }
    if (strcmp(sub, "get") == 0) {
        if (nargs != 1)
            return admin_usage_error("items ", "get takes one ID");
        Lithair__V1__GetRequest req = LITHAIR__V1__GET_REQUEST__INIT;
        req.model = (char *)m->name;
        req.id = args[0];
        req.consistency = cons;
        Lithair__V1__RecordReply *rr = NULL;
        rc = rpc_call(admin_client(a), "Models/Get", &req.base,
                      &lithair__v1__record_reply__descriptor, a->timeout_ms,
                      (ProtobufCMessage **)&rr, &st);
        if (rc)
            return items_fail(a, "get", "Models/Get", args[0], rc, &st);
        rc = print_record_reply(a, m, rr);
        protobuf_c_message_free_unpacked(&rr->base, NULL);
        return rc;
    }
    if (strcmp(sub, "update") == 0) {
        if (nargs != 2)
            return admin_usage_error("items ", "update takes an ID and a JSON object");
        json_object *j = read_json_arg(args[1], err, sizeof(err));
        if (!j)
            return json_arg_fail(err);
        Lithair__V1__UpdateRequest req = LITHAIR__V1__UPDATE_REQUEST__INIT;
        req.model = (char *)m->name;
        req.id = args[0];
        req.expected_version = f.expected_version;
        req.expected_created = f.has_created ? &f.created : NULL;
        /* refused as REST refuses them in a PUT body (422), whatever their value: the
         * key is seen here, before proto3 makes `"benchmark":false` a default value that
         * would change nothing and still bump the version */
        size_t sfi = server_field_named(j);
        if (sfi < CATALOG_SERVER_FIELDS) {
            json_object_put(j);
            return admin_usage_error("items ", "bad JSON: %s %s", catalog_server_fields[sfi].json,
                                     sfi == 0
                                         ? "is set only by the benchmark engine: it cannot be set "
                                           "by an update"
                                         : "is set by the server");
        }
        /* the primary key equal to ID names the record and changes nothing (REST takes it
         * out of the body too); another one is left for the node to refuse as immutable */
        json_object *pk;
        if (json_object_object_get_ex(j, m->pk, &pk) && json_object_is_type(pk, json_type_string) &&
            strcmp(json_object_get_string(pk), args[0]) == 0)
            json_object_object_del(j, m->pk);
        size_t nf = (size_t)json_object_object_length(j);
        if (nf == 0) {
            json_object_put(j);
            return admin_usage_error("items ", "update: the JSON names no field to change");
        }
        char **fields = calloc(nf, sizeof(*fields));
        if (!fields) {
            json_object_put(j);
            return admin_fail("out of memory");
        }
        json_object_object_foreach(j, key, val)
        {
            (void)val;
            fields[req.n_fields++] = key;
        }
        req.fields = fields;
        rc = pack_value(m, j, &req.value.data, &req.value.len, err, sizeof(err));
        if (rc) {
            free(fields);
            json_object_put(j);
            return admin_usage_error("items ", "bad JSON: %s", err);
        }
        Lithair__V1__RecordReply *rr = NULL;
        rc = rpc_call(admin_client(a), "Models/Update", &req.base,
                      &lithair__v1__record_reply__descriptor, a->timeout_ms,
                      (ProtobufCMessage **)&rr, &st);
        free(req.value.data);
        free(fields);
        json_object_put(j);
        if (rc)
            return items_fail(a, "update", "Models/Update", args[0], rc, &st);
        rc = print_record_reply(a, m, rr);
        protobuf_c_message_free_unpacked(&rr->base, NULL);
        return rc;
    }
    if (strcmp(sub, "delete") == 0) {
        if (nargs != 1)
            return admin_usage_error("items ", "delete takes one ID");
        Lithair__V1__DeleteRequest req = LITHAIR__V1__DELETE_REQUEST__INIT;
        req.model = (char *)m->name;
        req.id = args[0];
        req.expected_version = f.expected_version;
        req.expected_created = f.has_created ? &f.created : NULL;
        Lithair__V1__RecordReply *rr = NULL;
        rc = rpc_call(admin_client(a), "Models/Delete", &req.base,
                      &lithair__v1__record_reply__descriptor, a->timeout_ms,
                      (ProtobufCMessage **)&rr, &st);
        if (rc)
            return items_fail(a, "delete", "Models/Delete", args[0], rc, &st);
        if (a->json) {
            json_object *j = rr->record ? record_json(m, rr->record) : json_object_new_object();
            json_object_object_add(j, "deleted", json_object_new_boolean(1));
            admin_print_json(j);
            json_object_put(j);
        } else {
            printf("deleted %s\n", args[0]);
        }
        protobuf_c_message_free_unpacked(&rr->base, NULL);
        return 0;
    }
    if (strcmp(sub, "list") == 0) {
        if (nargs != 0)
            return admin_usage_error("items ", "list takes no arguments, only flags");
        if ((f.index == NULL) != (f.equals == NULL))
            return admin_usage_error("items ", "--index and --equals go together");
        json_object *all = json_object_new_array();
        char *cursor = f.cursor ? strdup(f.cursor) : NULL;
        uint64_t total = 0;
        bool header = true;
        int pages = 0;
        do {
            Lithair__V1__ListRequest req = LITHAIR__V1__LIST_REQUEST__INIT;
            req.model = (char *)m->name;
            req.index = (char *)(f.index ? f.index : "");
            req.equals = (char *)(f.equals ? f.equals : "");
            req.cursor = cursor ? cursor : "";
            req.limit = f.limit;
            req.consistency = cons;
            Lithair__V1__ListReply *lr = NULL;
            rc = rpc_call(admin_client(a), "Models/List", &req.base,
                          &lithair__v1__list_reply__descriptor, a->timeout_ms,
                          (ProtobufCMessage **)&lr, &st);
            free(cursor);
            cursor = NULL;
            if (rc) {
                json_object_put(all);
                return admin_rpc_fail("list", rc, &st);
            }
            total = lr->total;
            for (size_t i = 0; i < lr->n_records; i++) {
                json_object *j = record_json(m, lr->records[i]);
                if (!j)
                    continue;
                if (!a->json) {
                    print_item_row(j, header);
                    header = false;
                }
                json_object_array_add(all, j);
            }
            if (lr->next_cursor && *lr->next_cursor)
                cursor = strdup(lr->next_cursor);
            protobuf_c_message_free_unpacked(&lr->base, NULL);
            pages++;
        } while (f.all && cursor && pages < 1000000);
        if (a->json) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "items", all);
            json_object_object_add(o, "total", admin_json_u64(total));
            json_object_object_add(o, "nextCursor", json_object_new_string(cursor ? cursor : ""));
            admin_print_json(o);
            json_object_put(o);
        } else {
            printf("(%zu shown, %llu total%s%s)\n", json_object_array_length(all),
                   (unsigned long long)total, cursor ? ", next page: --cursor " : "",
                   cursor ? cursor : "");
            json_object_put(all);
        }
        free(cursor);
        return 0;
    }
    if (strcmp(sub, "history") == 0) {
        if (nargs != 1)
            return admin_usage_error("items ", "history takes one ID");
        Lithair__V1__HistoryRequest req = LITHAIR__V1__HISTORY_REQUEST__INIT;
        req.model = (char *)m->name;
        req.id = args[0];
        req.consistency = cons;
        Lithair__V1__HistoryReply *hr = NULL;
        rc = rpc_call(admin_client(a), "Models/History", &req.base,
                      &lithair__v1__history_reply__descriptor, a->timeout_ms,
                      (ProtobufCMessage **)&hr, &st);
        if (rc)
            return items_fail(a, "history", "Models/History", args[0], rc, &st);
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < hr->n_entries; i++) {
            const Lithair__V1__HistoryEntry *he = hr->entries[i];
            json_object *e = json_object_new_object();
            const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
                &lithair__v1__history_entry__op__descriptor, he->op);
            char opname[16]; /* named as REST names it: "unknown" for a value it has no name of */
            snprintf(opname, sizeof(opname), "%s", ev ? ev->name : "unknown");
            for (char *p = opname; *p; p++)
                *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            json_object_object_add(e, "op", json_object_new_string(opname));
            json_object_object_add(e, "record", he->record ? record_json(m, he->record) : NULL);
            if (!a->json) {
                json_object *r;
                json_object_object_get_ex(e, "record", &r);
                char name[1024]; /* names are at most 200 bytes; escaped, 4 bytes a byte */
                printf("%-7s version %-4s raft %-8s %s\n", opname, r ? jstr(r, "version") : "",
                       r ? jstr(r, "raftIndex") : "",
                       table_cell(r ? jstr(r, "name") : "", 0, name, sizeof(name)));
            }
            json_object_array_add(arr, e);
        }
        /* REST's shape, GET /api/items/:id/history: {"entries": [...]}, not a bare array */
        json_object *o = json_object_new_object();
        json_object_object_add(o, "entries", arr);
        if (a->json)
            admin_print_json(o);
        json_object_put(o);
        protobuf_c_message_free_unpacked(&hr->base, NULL);
        return 0;
    }
    if (strcmp(sub, "purge") == 0) {
        if (nargs != 0) /* it deletes: never on a mistyped command line */
            return admin_usage_error("items ", "purge takes no argument, not '%s'", args[0]);
        Lithair__V1__PurgeRequest req = LITHAIR__V1__PURGE_REQUEST__INIT;
        req.model = (char *)m->name;
        Lithair__V1__PurgeReply *pr = NULL;
        /* a purge of a large benchmark takes seconds (700,000 records: 11 s): its own
         * deadline unless --timeout says otherwise */
        rc = rpc_call(
            admin_client(a), "Models/Purge", &req.base, &lithair__v1__purge_reply__descriptor,
            a->timeout_set ? a->timeout_ms : ADMIN_PURGE_TIMEOUT_MS, (ProtobufCMessage **)&pr, &st);
        if (rc)
            return items_fail(a, "purge", "Models/Purge", NULL, rc, &st);
        if (a->json) { /* as every command prints its JSON (admin_print_json) */
            json_object *o = json_object_new_object();
            json_object_object_add(o, "deleted", admin_json_u64(pr->deleted));
            admin_print_json(o);
            json_object_put(o);
        } else
            printf("deleted %llu benchmark records\n", (unsigned long long)pr->deleted);
        protobuf_c_message_free_unpacked(&pr->base, NULL);
        return 0;
    }
    return admin_usage_error("items ", "unknown command '%s'", sub);
}

/* ------------------------------------------------------------------ cluster */

static const char *role_name(int role)
{
    static const char *names[] = {"follower", "pre-candidate", "candidate", "leader"};
    return role >= 0 && role < 4 ? names[role] : "?";
}

static void human_bytes(uint64_t b, char *out, size_t n)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

#define ADMIN_MAX_AHEAD 9 /* RAFT_MAX_NODES */

/* cmd_status asks every endpoint for its status: a row each, an error row for the dead. */
static int cmd_status(struct admin *a, bool health)
{
    size_t ne = rpc_client_endpoint_count(admin_client(a));
    Lithair__V1__NodeStatus **sts = calloc(ne, sizeof(*sts));
    struct rpc_status *err = calloc(ne, sizeof(*err));
    if (!sts || !err) {
        free(sts);
        free(err);
        return admin_fail("out of memory");
    }
    uint64_t leader_id = 0;
    const Lithair__V1__NodeStatus *lead = NULL;
    int alive = 0, leaders = 0;
    struct {
        uint64_t id, index, last;
    } ahead[ADMIN_MAX_AHEAD]; /* followers the leader says hold commits past its log */
    size_t n_ahead = 0;
    for (size_t i = 0; i < ne; i++) {
        Lithair__V1__StatusRequest req = LITHAIR__V1__STATUS_REQUEST__INIT;
        req.digest = a->digest;
        if (rpc_call_endpoint(admin_client(a), i, "Cluster/Status", &req.base,
                              &lithair__v1__node_status__descriptor, a->timeout_ms,
                              (ProtobufCMessage **)&sts[i], &err[i]) != 0) {
            sts[i] = NULL;
            continue;
        }
    }
    /* Which cluster the endpoints are of: the id most of those that answered report (a tie:
     * the leader's). One of another cluster (an endpoint list that mixes two playgrounds)
     * is not counted: its "leader" or its answer says nothing of this cluster's health. */
    uint64_t cluster = wire_status_cluster((const Lithair__V1__NodeStatus *const *)sts, ne, true);
    bool *stranger = calloc(ne ? ne : 1, sizeof(*stranger));
    if (!stranger) {
        for (size_t i = 0; i < ne; i++)
            if (sts[i])
                protobuf_c_message_free_unpacked(&sts[i]->base, NULL);
        free(sts);
        free(err);
        return admin_fail("out of memory");
    }
    for (size_t i = 0; i < ne; i++) {
        if (!sts[i])
            continue;
        if (cluster && sts[i]->cluster_id && sts[i]->cluster_id != cluster) {
            stranger[i] = true;
            fprintf(stderr,
                    "lithair-admin: %s is node %llu of another cluster (%016llx, not %016llx): "
                    "not counted\n",
                    rpc_client_endpoint_url(admin_client(a), i), (unsigned long long)sts[i]->id,
                    (unsigned long long)sts[i]->cluster_id, (unsigned long long)cluster);
            continue;
        }
        alive++;
        if (sts[i]->role == LITHAIR__V1__NODE_ROLE__LEADER) {
            leaders++;
            /* the leader of the highest term: one deposed by a later election (cut off,
             * it has not noticed yet) still says it leads its older term */
            if (!lead || sts[i]->term > lead->term)
                lead = sts[i];
        }
    }
    if (lead) {
        leader_id = lead->id;
        for (size_t k = 0; k < lead->n_followers && n_ahead < ADMIN_MAX_AHEAD; k++)
            if (lead->followers[k]->ahead) { /* diverged logs (rpc.proto) */
                ahead[n_ahead].id = lead->followers[k]->id;
                ahead[n_ahead].index = lead->followers[k]->ahead;
                ahead[n_ahead++].last = lead->last_index;
            }
    }
    json_object *arr = json_object_new_array();
    if (!a->json && !health)
        printf("%-24s %4s %-13s %6s %6s %9s %9s %9s %10s %6s%s\n", "ENDPOINT", "ID", "ROLE", "TERM",
               "LEADER", "COMMIT", "APPLIED", "LAST", "WAL", "LAG",
               a->digest ? "  RECORDS  DIGEST            AT" : "");
    for (size_t i = 0; i < ne; i++) {
        const char *url = rpc_client_endpoint_url(admin_client(a), i);
        json_object *o;
        if (sts[i]) {
            o = pbjson_from_message(&sts[i]->base, &json_opts);
            if (!a->digest) { /* not computed: a 0 there would read as a real hash */
                json_object_object_del(o, "digest");
                json_object_object_del(o, "digestIndex");
            } else {
                json_object_object_add(o, "digest", admin_json_hex64(sts[i]->digest));
            }
            json_object_object_add(o, "clusterId", admin_json_hex64(sts[i]->cluster_id));
            /* as the gateway's cluster status says it (it was the leader's last index less
             * the node's applied one: the leader itself "lagged" under load) */
            uint64_t lag = lead ? wire_status_lag(lead, sts[i], NULL) : 0;
            json_object_object_add(o, "lag", admin_json_u64(lag)); /* an index difference */
            json_object_object_add(o, "healthy", json_object_new_boolean(!stranger[i]));
            if (stranger[i])
                json_object_object_add(o, "error",
                                       json_object_new_string("a node of another cluster"));
            if (!a->json && !health) {
                char wal[32];
                human_bytes(sts[i]->wal_bytes, wal, sizeof(wal));
                printf("%-24s %4llu %-13s %6llu %6llu %9llu %9llu %9llu %10s %6llu", url,
                       (unsigned long long)sts[i]->id, role_name(sts[i]->role),
                       (unsigned long long)sts[i]->term, (unsigned long long)sts[i]->leader_id,
                       (unsigned long long)sts[i]->commit, (unsigned long long)sts[i]->applied,
                       (unsigned long long)sts[i]->last_index, wal, (unsigned long long)lag);
                if (a->digest) /* equal on replicas that applied the same entries */
                    printf(" %9llu  %016llx  %llu", (unsigned long long)sts[i]->records,
                           (unsigned long long)sts[i]->digest,
                           (unsigned long long)sts[i]->digest_index);
                printf("\n");
            }
        } else {
            o = json_object_new_object();
            json_object_object_add(o, "healthy", json_object_new_boolean(0));
            json_object_object_add(o, "error", json_object_new_string(err[i].message));
            if (!a->json && !health && err[i].code == LITHAIR__V1__CODE__DEADLINE_EXCEEDED)
                printf("%-24s no answer within --timeout %u ms%s\n", url, (unsigned)a->timeout_ms,
                       a->digest ? " (hashing a large store takes longer: raise --timeout)" : "");
            else if (!a->json && !health)
                printf("%-24s unreachable: %s\n", url, err[i].message);
        }
        json_object_object_add(o, "endpoint", json_object_new_string(url));
        json_object_array_add(arr, o);
    }
    int rc = 0;
    /* A follower that holds commits past the leader's log: acknowledged writes are missing
     * somewhere (the leader logs an ERROR too). Said on stderr, and unhealthy. */
    for (size_t k = 0; k < n_ahead && !a->json; k++)
        fprintf(stderr,
                "lithair-admin: the cluster's logs diverged: node %llu holds entries committed up "
                "to %llu, past leader %llu's last entry %llu (see the nodes' logs; compare "
                "status --digest)\n",
                (unsigned long long)ahead[k].id, (unsigned long long)ahead[k].index,
                (unsigned long long)leader_id, (unsigned long long)ahead[k].last);
    if (health) {
        bool ok = alive > (int)ne / 2 && leaders == 1 && n_ahead == 0;
        const char *leaders_text = n_ahead        ? "one leader, diverged logs"
                                   : leaders == 1 ? "one leader"
                                   : leaders      ? "several leaders?"
                                                  : "no leader";
        if (a->json) {
            json_object *h = json_object_new_object();
            json_object_object_add(h, "healthy", json_object_new_boolean(ok));
            json_object_object_add(h, "reachable", json_object_new_int(alive));
            json_object_object_add(h, "endpoints", json_object_new_int((int)ne));
            json_object_object_add(h, "leader", admin_json_u64(leader_id));
            json_object_object_add(h, "nodes", json_object_get(arr));
            admin_print_json(h);
            json_object_put(h);
        } else {
            printf("%s: %d of %zu endpoints reachable, %s\n", ok ? "healthy" : "unhealthy", alive,
                   ne, leaders_text);
        }
        /* the report is on stdout; the failure, as for every command, one line on stderr */
        rc = ok ? 0
                : admin_fail("unhealthy: %d of %zu endpoints reachable, %s", alive, ne,
                             leaders_text);
    } else if (a->json) {
        admin_print_json(arr);
    }
    bool slow = true; /* every endpoint answered too late, none was out of reach */
    for (size_t i = 0; i < ne && alive == 0; i++)
        slow = slow && err[i].code == LITHAIR__V1__CODE__DEADLINE_EXCEEDED;
    if (!health && alive == 0 && slow)
        rc = admin_fail("no endpoint answered within --timeout %u ms%s", (unsigned)a->timeout_ms,
                        a->digest ? " (hashing a large store takes longer: raise --timeout)" : "");
    else if (!health && alive == 0)
        rc = admin_fail("no endpoint reachable (%s)", err[0].message);
    json_object_put(arr);
    free(stranger);
    for (size_t i = 0; i < ne; i++) /* after the rows: each row's lag reads the leader's */
        if (sts[i])
            protobuf_c_message_free_unpacked(&sts[i]->base, NULL);
    free(sts);
    free(err);
    return rc;
}

static int cmd_ping(struct admin *a)
{
    size_t ne = rpc_client_endpoint_count(admin_client(a));
    int ok = 0;
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < ne; i++) {
        Lithair__V1__PingRequest req = LITHAIR__V1__PING_REQUEST__INIT;
        Lithair__V1__PingReply *pr = NULL;
        struct rpc_status st;
        uint64_t t0 = lt_now_ns();
        int rc = rpc_call_endpoint(admin_client(a), i, "Cluster/Ping", &req.base,
                                   &lithair__v1__ping_reply__descriptor, a->timeout_ms,
                                   (ProtobufCMessage **)&pr, &st);
        double ms = (double)(lt_now_ns() - t0) / 1e6;
        const char *url = rpc_client_endpoint_url(admin_client(a), i);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "endpoint", json_object_new_string(url));
        if (rc == 0) {
            ok++;
            json_object_object_add(o, "id", admin_json_u64(pr->id));
            char mstxt[32]; /* printed as measured, not as 0.57979700000000001 */
            snprintf(mstxt, sizeof(mstxt), "%.3f", ms);
            json_object_object_add(o, "ms", json_object_new_double_s(ms, mstxt));
            if (!a->json)
                printf("%-24s node %llu  %.3f ms\n", url, (unsigned long long)pr->id, ms);
            protobuf_c_message_free_unpacked(&pr->base, NULL);
        } else {
            json_object_object_add(o, "error", json_object_new_string(st.message));
            if (!a->json)
                printf("%-24s unreachable: %s\n", url, st.message);
        }
        json_object_array_add(arr, o);
    }
    if (a->json)
        admin_print_json(arr);
    json_object_put(arr);
    return ok == (int)ne ? 0 : admin_fail("%d of %zu endpoints did not answer", (int)ne - ok, ne);
}

/* admin_aim_at_leader points the client at the leader when it knows none and has several
 * endpoints: only the leader can say why a transfer gave up (whether it heard from the
 * target lately, how far behind it is); a follower passes the request on and can say only
 * that no new leader came. Each endpoint is asked Cluster/Status in turn (500 ms: a frozen
 * one costs that) until one names a leader among them; on failure nothing changes. */
static void admin_aim_at_leader(struct admin *a)
{
    struct rpc_client *c = admin_client(a);
    size_t ne = rpc_client_endpoint_count(c);
    unsigned timeout_ms = a->timeout_ms < 500 ? a->timeout_ms : 500;
    for (size_t i = 0; ne > 1 && rpc_client_leader(c) < 0 && i < ne; i++) {
        Lithair__V1__StatusRequest req = LITHAIR__V1__STATUS_REQUEST__INIT;
        Lithair__V1__NodeStatus *st = NULL;
        struct rpc_status rs;
        if (rpc_call_endpoint(c, i, "Cluster/Status", &req.base,
                              &lithair__v1__node_status__descriptor, timeout_ms,
                              (ProtobufCMessage **)&st, &rs) != 0)
            continue;
        for (size_t k = 0; k < ne && st->leader_rpc_url; k++)
            if (strcmp(rpc_client_endpoint_url(c, k), st->leader_rpc_url) == 0)
                rpc_client_set_leader(c, (int)k);
        protobuf_c_message_free_unpacked(&st->base, NULL);
    }
}

static int cmd_leader(struct admin *a, int argc, char **argv)
{
    bool help = false; /* "leader --help" and "leader transfer --help" alike */
    for (int i = 1; i < argc; i++)
        help = help || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
    if (help || argc < 2 || strcmp(argv[1], "transfer") != 0 || argc > 3) {
        if (help) {
            printf("Usage: lithair-admin leader transfer [ID]\n\n"
                   "Hand leadership to node ID, or to the most up-to-date of the followers the\n"
                   "leader heard from lately (one that stopped answering is passed over).\n");
            return 0;
        }
        return admin_usage_error("leader ", "usage: leader transfer [ID]");
    }
    Lithair__V1__TransferLeaderRequest req = LITHAIR__V1__TRANSFER_LEADER_REQUEST__INIT;
    if (argc == 3 && !admin_parse_u64(argv[2], 1, UINT64_MAX, &req.target))
        return admin_usage_error("leader ", "ID must be a node id (1 or more), not '%s'", argv[2]);
    Lithair__V1__TransferLeaderReply *tr = NULL;
    struct rpc_status st;
    admin_aim_at_leader(a);
    int rc = rpc_call(admin_client(a), "Cluster/TransferLeader", &req.base,
                      &lithair__v1__transfer_leader_reply__descriptor, a->timeout_ms,
                      (ProtobufCMessage **)&tr, &st);
    if (rc)
        return admin_rpc_fail("leader transfer", rc, &st);
    if (a->json) {
        json_object *j = pbjson_from_message(&tr->base, &json_opts);
        admin_print_json(j);
        json_object_put(j);
    } else {
        printf("node %llu leads term %llu (transfer took %.1f ms)\n",
               (unsigned long long)tr->leader_id, (unsigned long long)tr->term,
               (double)tr->elapsed_us / 1000.0);
    }
    protobuf_c_message_free_unpacked(&tr->base, NULL);
    return 0;
}

/* cmd_on_each runs a Cluster method on every reachable endpoint and prints the replies. */
static int cmd_on_each(struct admin *a, const char *method, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *out)
{
    size_t ne = rpc_client_endpoint_count(admin_client(a));
    json_object *arr = json_object_new_array();
    int ok = 0;
    char first[300] = ""; /* the first failure, for the one line on stderr */
    for (size_t i = 0; i < ne; i++) {
        ProtobufCMessage *resp = NULL;
        struct rpc_status st;
        const char *url = rpc_client_endpoint_url(admin_client(a), i);
        int rc = rpc_call_endpoint(admin_client(a), i, method, req, out, a->timeout_ms, &resp, &st);
        json_object *o;
        if (rc == 0) {
            ok++;
            o = pbjson_from_message(resp, &json_opts);
            protobuf_c_message_free_unpacked(resp, NULL);
        } else {
            o = json_object_new_object();
            json_object_object_add(o, "error", json_object_new_string(st.message));
            if (!first[0])
                snprintf(first, sizeof(first), "%s: %s", url,
                         st.message[0] ? st.message : lt_strerror(rc));
        }
        json_object_object_add(o, "endpoint", json_object_new_string(url));
        if (!a->json) {      /* one field a line; nested values (histograms) as compact JSON */
            json_object *id; /* the answering node's own id (rpc.proto), by its URL */
            if (json_object_object_get_ex(o, "id", &id))
                printf("%s  node %s\n", url, json_object_get_string(id));
            else
                printf("%s\n", url);
            json_object_object_foreach(o, key, val)
            {
                if (strcmp(key, "endpoint") == 0 || strcmp(key, "id") == 0)
                    continue;
                bool plain = json_object_is_type(val, json_type_string) ||
                             json_object_is_type(val, json_type_int) ||
                             json_object_is_type(val, json_type_boolean) ||
                             json_object_is_type(val, json_type_double);
                printf("  %-22s %s\n", key,
                       plain ? json_object_get_string(val)
                             : json_object_to_json_string_ext(
                                   val, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
            }
        }
        json_object_array_add(arr, o);
    }
    if (a->json)
        admin_print_json(arr);
    json_object_put(arr);
    /* every node was asked: one that failed (down, or answering an error) fails the
     * command, and the line says which and why */
    if ((size_t)ok == ne)
        return 0;
    return admin_fail("%s: %zu of %zu endpoints failed (%s)", method, ne - (size_t)ok, ne, first);
}

/* ------------------------------------------------------------------ watch */

/* set by the handler, which may run on any thread (NNG's too): a lock-free atomic */
static atomic_bool watch_stop;
_Static_assert(ATOMIC_BOOL_LOCK_FREE == 2, "the SIGINT handler needs a lock-free flag");

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&watch_stop, true);
}

#define WATCH_QUIET_MS 2000 /* a watch that received nothing for this long says so */

static int cmd_watch(struct admin *a, int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("Usage: lithair-admin watch [--events URL,...] [--count N]\n\n"
               "Print every event the nodes publish until Ctrl-C (or N events).\n"
               "Event URLs default to each status reply's member list. Every node publishes\n"
               "4 events a second: after 2 s without one, a line on stderr says that no node\n"
               "publishes at those URLs, and the watch goes on trying.\n");
        return 0;
    }
    long max = 0;
    const char *urls = NULL;
    for (int i = 1; i < argc; i++) {
        uint64_t v;
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            if (!admin_parse_u64(argv[++i], 1, LONG_MAX, &v))
                return admin_usage_error("watch ", "--count needs a number of 1 or more, not '%s'",
                                         argv[i]);
            max = (long)v;
        } else if (strcmp(argv[i], "--events") == 0 && i + 1 < argc) {
            urls = argv[++i];
            char why[200];
            if (!admin_urls_ok(urls, why, sizeof(why)))
                return admin_usage_error(
                    "watch ", "bad --events '%s' (NNG URLs, comma-separated): %s", urls, why);
            char dup[256]; /* dialled twice, every event of that node would print twice */
            if (admin_urls_dup(urls, dup, sizeof(dup)))
                return admin_usage_error("watch ", "--events names %s twice: give each node once",
                                         dup);
        } else if (strcmp(argv[i], "--count") == 0 || strcmp(argv[i], "--events") == 0) {
            return admin_usage_error("watch ", "%s needs a value", argv[i]);
        } else {
            return admin_usage_error("watch ", "unknown argument '%s'", argv[i]);
        }
    }
    char *found = NULL; /* the members' event URLs, as long as they are (9 x 255 bytes) */
    if (!urls) {
        /* Ask any node for the members' event URLs. */
        Lithair__V1__StatusRequest req = LITHAIR__V1__STATUS_REQUEST__INIT;
        Lithair__V1__NodeStatus *st = NULL;
        struct rpc_status rs;
        if (rpc_call(admin_client(a), "Cluster/Status", &req.base,
                     &lithair__v1__node_status__descriptor, a->timeout_ms, (ProtobufCMessage **)&st,
                     &rs) != 0)
            return admin_rpc_fail("watch", LT_EUNAVAIL, &rs);
        size_t need = 1;
        for (size_t i = 0; i < st->n_members; i++)
            need += strlen(st->members[i]->events_url) + 1;
        found = malloc(need);
        if (!found) {
            protobuf_c_message_free_unpacked(&st->base, NULL);
            return admin_fail("out of memory");
        }
        size_t off = 0;
        found[0] = '\0';
        for (size_t i = 0; i < st->n_members; i++)
            off += (size_t)snprintf(found + off, need - off, "%s%s", i ? "," : "",
                                    st->members[i]->events_url);
        protobuf_c_message_free_unpacked(&st->base, NULL);
        urls = found;
    }
    nng_socket sub;
    if (nng_sub0_open(&sub) != 0) {
        free(found);
        return admin_fail("cannot open a subscriber socket");
    }
    nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "", 0);
    nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 200);
    /* A dial in the background (a node not up yet is retried); one NNG refuses outright
     * (an unknown scheme, a port out of range) is reported, and with none left there is
     * nothing to wait for. */
    char *copy = strdup(urls);
    /* for the note on a silence (below): the URLs as given, cut to one line's worth */
    char said[160];
    snprintf(said, sizeof(said), "%s", urls);
    if (strlen(urls) >= sizeof(said))
        memcpy(said + sizeof(said) - 4, "...", 4);
    free(found);
    int dialled = 0, refused = 0;
    for (char *save = NULL, *u = copy ? strtok_r(copy, ",", &save) : NULL; u;
         u = strtok_r(NULL, ",", &save)) {
        int rc = nng_dial(sub, u, NULL, NNG_FLAG_NONBLOCK);
        if (rc == 0) {
            dialled++;
        } else {
            refused++;
            fprintf(stderr, "lithair-admin: watch: cannot dial %s: %s\n", u, nng_strerror(rc));
        }
    }
    free(copy);
    if (dialled == 0) {
        nng_close_within(sub, ADMIN_CLOSE_MS);
        return refused > 0 ? admin_usage_error("watch ", "no event URL could be dialled")
                           : admin_fail("out of memory");
    }
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    long seen = 0;
    int rc = 0;
    /* Every node publishes a metrics event 4 times a second: two seconds without any means
     * no node answers at these URLs (a wrong port, nodes down). The dials go on, as a node
     * may still start; but the silence is said once, rather than left to look like a wait
     * for something to happen (QA: 'watch --events tcp://127.0.0.1:1' printed nothing). */
    uint64_t quiet_since = lt_now_ns();
    bool quiet_said = false;
    while (!atomic_load(&watch_stop) && (max <= 0 || seen < max)) {
        char *buf = NULL;
        size_t len = 0;
        if (nng_recv(sub, &buf, &len, NNG_FLAG_ALLOC) != 0) {
            if (seen == 0 && !quiet_said &&
                lt_now_ns() - quiet_since >= (uint64_t)WATCH_QUIET_MS * 1000000) {
                quiet_said = true;
                fprintf(stderr,
                        "lithair-admin: watch: no event in %d s from %s: no node publishes "
                        "there (down, or another URL?); still trying, Ctrl-C to stop\n",
                        WATCH_QUIET_MS / 1000, said);
            }
            continue;
        }
        Lithair__V1__Event *ev = lithair__v1__event__unpack(NULL, len, (uint8_t *)buf);
        nng_free(buf, len);
        if (!ev)
            continue;
        json_object *j = pbjson_from_message(&ev->base, &json_opts);
        puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
        errno = 0;
        bool written = fflush(stdout) == 0 && !ferror(stdout);
        int saved = errno;
        json_object_put(j);
        lithair__v1__event__free_unpacked(ev, NULL);
        seen++;
        if (!written) { /* nobody reads what comes next: stop now, not at --count or Ctrl-C */
            rc = admin_fail("watch: cannot write the output: %s",
                            saved ? strerror(saved) : "a write to standard output failed");
            break;
        }
    }
    if (!nng_close_within(sub, ADMIN_CLOSE_MS))
        fprintf(stderr,
                "lithair-admin: the event socket did not close within %d ms (an NNG 1.5 "
                "bug); exiting all the same\n",
                ADMIN_CLOSE_MS);
    return rc;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: lithair-admin [--endpoints URL,...] [-w table|json] [--timeout MS] COMMAND\n"
            "\n"
            "Talks to lithair-node processes over their NNG RPC endpoints.\n"
            "\n"
            "Commands:\n"
            "  status [--digest]        every endpoint: id, role, term, leader, indexes, WAL, lag\n"
            "  health                   exit 0 if a majority answers, there is one leader and\n"
            "                           the logs have not diverged\n"
            "  ping                     round trip to every endpoint\n"
            "  items create|get|update|delete|list|history|purge ...\n"
            "                           the replicated items (see 'items --help')\n"
            "  leader transfer [ID]     hand leadership to node ID (default: the best follower)\n"
            "  snapshot                 every node takes a snapshot now and compacts its log\n"
            "  wal-stats                write-ahead log figures of every node\n"
            "  watch                    print events as they happen, until Ctrl-C\n"
            "  bench                    benchmark writes/reads (see 'bench --help')\n"
            "  ping-bench               benchmark the no-op ping RPC: the RPC path's ceiling\n"
            "\n"
            "Options:\n"
            "  --endpoints URL,...      node RPC URLs (default $LITHAIR_ENDPOINTS, else\n"
            "                           " DEFAULT_ENDPOINTS ")\n"
            "  -w, --write-out FORMAT   table (default) or json\n"
            "  --timeout MS             deadline of each call, 1..3600000 (default 5000)\n"
            "  -h, --help               this text; COMMAND --help for a command's\n"
            "\n"
            "Exit status: 0 on success, 1 on failure (one line on stderr), 2 on bad usage.\n");
}

/* admin_leave ends the program once everything is printed, without tearing NNG down.
 * NNG 1.5 (Debian 12) has no safe teardown for a program whose calls may have left work
 * behind (an answer still arriving from a node that lost the race, a pipe being reaped):
 * nng_close() or nng_fini() can hang (nng_close.h), and both exit()'s teardown and
 * nng_fini() have destroyed a lock under an NNG thread still running (an NNG panic and
 * status -6 after the command had printed its answer; seen once each in the tests'
 * thousands of runs). A command-line program has nothing to finish: _exit() ends every
 * thread at once. The sanitizer builds first run LeakSanitizer's check (exit's hook,
 * which _exit skips), with NNG's state still reachable from its open sockets. */
static _Noreturn void admin_leave(int rc)
{
    rc = admin_stdout_check(rc);
    fflush(stderr);
#if defined(__SANITIZE_ADDRESS__)
    __lsan_do_leak_check();
#endif
    _exit(rc);
}

static int admin_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"endpoints", required_argument, NULL, 'e'},
        {"write-out", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct admin a;
    memset(&a, 0, sizeof(a));
    a.timeout_ms = 5000;
    const char *endpoints = getenv("LITHAIR_ENDPOINTS");
    if (!endpoints || !*endpoints)
        endpoints = DEFAULT_ENDPOINTS;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+:w:h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            endpoints = optarg;
            a.endpoints = optarg;
            break;
        case 'w':
            if (strcmp(optarg, "json") == 0)
                a.json = true;
            else if (strcmp(optarg, "table") != 0)
                return admin_usage_error(NULL, "-w takes table or json, not '%s'", optarg);
            break;
        case 't': {
            uint64_t v;
            if (!admin_parse_u64(optarg, 1, 3600000, &v)) /* no sign: "-1" never wraps */
                return admin_usage_error(NULL, "--timeout takes milliseconds (1..3600000)");
            a.timeout_ms = (unsigned)v;
            a.timeout_set = true;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            return admin_usage_error(NULL, "%s needs a value", argv[optind - 1]);
        default:
            return admin_usage_error(NULL, "unknown option '%s'",
                                     lt_opt_refused(argc, argv, (char[3]){0}));
        }
    }
    a.endpoints = endpoints;
    const char *source =
        endpoints == getenv("LITHAIR_ENDPOINTS") ? "$LITHAIR_ENDPOINTS" : "--endpoints";
    char why[200];
    if (!admin_urls_ok(endpoints, why, sizeof(why)))
        return admin_usage_error(NULL, "bad %s '%s' (NNG URLs, comma-separated): %s", source,
                                 endpoints, why);
    /* a node named twice would be counted twice (health: a majority, "several leaders") */
    char dup[256];
    if (admin_urls_dup(endpoints, dup, sizeof(dup)))
        return admin_usage_error(NULL, "%s names %s twice: give each node once", source, dup);
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    char **cargv = argv + optind;
    int cargc = argc - optind;
    const char *cmd = cargv[0];
    bool known = strcmp(cmd, "status") == 0 || strcmp(cmd, "health") == 0 ||
                 strcmp(cmd, "ping") == 0 || strcmp(cmd, "items") == 0 ||
                 strcmp(cmd, "leader") == 0 || strcmp(cmd, "snapshot") == 0 ||
                 strcmp(cmd, "wal-stats") == 0 || strcmp(cmd, "watch") == 0 ||
                 strcmp(cmd, "bench") == 0 || strcmp(cmd, "ping-bench") == 0;
    if (!known)
        return admin_usage_error(NULL, "unknown command '%s'", cmd);
    bool help = cargc > 1 && (strcmp(cargv[1], "--help") == 0 || strcmp(cargv[1], "-h") == 0);
    if (help &&
        (strcmp(cmd, "status") == 0 || strcmp(cmd, "health") == 0 || strcmp(cmd, "ping") == 0 ||
         strcmp(cmd, "snapshot") == 0 || strcmp(cmd, "wal-stats") == 0)) {
        if (strcmp(cmd, "status") == 0)
            printf(
                "Usage: lithair-admin status [--digest]\n\n"
                "A row per endpoint: id, role, term, leader, commit, applied and last index,\n"
                "WAL size, lag behind the leader (of the highest term, when a deposed one still\n"
                "says it leads): the entries of its log the node is not known to hold, as the\n"
                "gateway's cluster status says it. --digest also hashes each store as it was\n"
                "at one applied index, shown in AT: replicas at the same AT show the same\n"
                "DIGEST (RECORDS is counted at the reply). A node hashes on a thread of its\n"
                "own while it goes on serving, about 2 s for a million records of 1 KiB; raise\n"
                "--timeout (default 5000 ms) for larger stores.\n");
        else if (strcmp(cmd, "health") == 0)
            printf("Usage: lithair-admin health\n\nExit 0 if a majority of the endpoints answers "
                   "and exactly one of them leads, else 1.\n");
        else if (strcmp(cmd, "ping") == 0)
            printf("Usage: lithair-admin ping\n\nThe round trip of a no-op RPC to every "
                   "endpoint, with its node id.\n");
        else if (strcmp(cmd, "snapshot") == 0)
            printf("Usage: lithair-admin snapshot\n\nEvery node writes a snapshot of its store "
                   "now and compacts its log.\n");
        else
            printf("Usage: lithair-admin wal-stats\n\nEvery node's write-ahead log: bytes, "
                   "segments, entries, fsync latency histogram, last snapshot.\n");
        return 0;
    }
    bool no_args = strcmp(cmd, "health") == 0 || strcmp(cmd, "ping") == 0 ||
                   strcmp(cmd, "snapshot") == 0 || strcmp(cmd, "wal-stats") == 0;
    if (no_args && cargc > 1) /* refused before anything is done: snapshot acts on every node */
        return admin_usage_error(NULL, "%s takes no argument, not '%s'", cmd, cargv[1]);
    int rc;
    if (strcmp(cmd, "status") == 0) {
        for (int i = 1; i < cargc; i++) {
            if (strcmp(cargv[i], "--digest") == 0)
                a.digest = true;
            else
                return admin_usage_error("status ", "unknown argument '%s'", cargv[i]);
        }
        rc = cmd_status(&a, false);
    } else if (strcmp(cmd, "health") == 0)
        rc = cmd_status(&a, true);
    else if (strcmp(cmd, "ping") == 0)
        rc = cmd_ping(&a);
    else if (strcmp(cmd, "items") == 0)
        rc = cmd_items(&a, "items", cargc, cargv);
    else if (strcmp(cmd, "leader") == 0)
        rc = cmd_leader(&a, cargc, cargv);
    else if (strcmp(cmd, "snapshot") == 0) {
        Lithair__V1__SnapshotRequest req = LITHAIR__V1__SNAPSHOT_REQUEST__INIT;
        rc = cmd_on_each(&a, "Cluster/Snapshot", &req.base,
                         &lithair__v1__snapshot_reply__descriptor);
    } else if (strcmp(cmd, "wal-stats") == 0) {
        Lithair__V1__WalStatsRequest req = LITHAIR__V1__WAL_STATS_REQUEST__INIT;
        rc = cmd_on_each(&a, "Cluster/WalStats", &req.base,
                         &lithair__v1__wal_stats_reply__descriptor);
    } else if (strcmp(cmd, "watch") == 0)
        rc = cmd_watch(&a, cargc, cargv);
    else
        rc = admin_bench(&a, cmd, cargc, cargv);
    admin_leave(rc);
}

int main(int argc, char **argv)
{
    /* every way out, --help and usage errors too, checks that the output was written */
    return admin_stdout_check(admin_main(argc, argv));
}
