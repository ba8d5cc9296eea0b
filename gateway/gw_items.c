/* gw_items.c — the public REST API of every public catalog model (/api/<model>): list,
 * create, get, update, delete and history, transcoded generically between JSON and the
 * model's protobuf message by pbjson and the catalog (proto/catalog.h). There is no
 * per-field code: a new model is a catalog row plus its name in gw_public_models.
 *
 * Not here: validation rules (the node's model table decides; its field errors come back
 * as 422 with details; the gateway runs the same table itself only when it refuses a body
 * for fields only the server sets, so that one 422 names every failing field), the write
 * coalescing itself (gw_coalesce.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog.h"
#include "gw.h"
#include "lt_err.h"
#include "models.h"
#include "pbjson.h"
#include "wire.h"

/* The catalog models served under /api/<name>. */
static const char *const gw_public_models[] = {"items", NULL};

static const struct pbjson_opts gw_out_opts = {.emit_defaults = true,
                                               .is_raw_json = catalog_raw_json};
static const struct pbjson_opts gw_in_opts = {.is_raw_json = catalog_raw_json};

/* gw_item_tag: what a record's entity-tag says: its version and, for a model with a
 * created_at, its incarnation — an item deleted and created again under the same id starts at
 * version 1 again, and only its created_at tells it from the one a client read. */
struct gw_item_tag {
    uint64_t version; /* 0: the model has no version */
    bool has_created;
    int64_t created_s;
    int32_t created_ns;
    char text[64]; /* the ETag without its quotes: "3@2026-11-30T07:57:40.123456789Z", or "3" */
};

/* gw_items_tag reads the model's `version` and `created_at` fields of `m` into *t. */
static void gw_items_tag(const ProtobufCMessage *m, struct gw_item_tag *t)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "version");
    memset(t, 0, sizeof(*t));
    if (f && f->type == PROTOBUF_C_TYPE_UINT64 && f->label != PROTOBUF_C_LABEL_REPEATED)
        t->version = *(const uint64_t *)((const char *)m + f->offset);
    int k = snprintf(t->text, sizeof(t->text), "%llu", (unsigned long long)t->version);
    f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "created_at");
    if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED ||
        f->descriptor != &lithair__v1__timestamp__descriptor)
        return;
    const Lithair__V1__Timestamp *ts =
        *(Lithair__V1__Timestamp *const *)((const char *)m + f->offset);
    if (!ts) /* never set (the store sets it on every create): the JSON says null */
        return;
    /* exactly the createdAt string the record's JSON carries (pbjson writes it so), so that
     * a page can build the tag from an item it listed */
    t->created_s = ts->seconds;
    t->created_ns = ts->nanos;
    t->text[k] = '@';
    t->has_created = pbjson_timestamp_format(t->created_s, t->created_ns, t->text + k + 1,
                                             sizeof(t->text) - (size_t)k - 1) == 0;
    if (!t->has_created)
        t->text[k] = '\0';
}

/* gw_items_tag_header writes "ETag: \"<tag>\"\r\n" into hdr[0..n); returns its length. */
static int gw_items_tag_header(const struct gw_item_tag *t, char *hdr, size_t n)
{
    int k = snprintf(hdr, n, "ETag: \"%s\"\r\n", t->text);
    return k > 0 && (size_t)k < n ? k : 0;
}

/* gw_record_json turns a Record of model `m` into its JSON (every field) plus raftIndex
 * and raftTerm; *tag (if not NULL) gets its entity-tag. NULL if it does not decode. */
static json_object *gw_record_json(const struct catalog_model *m, const Lithair__V1__Record *rec,
                                   struct gw_item_tag *tag)
{
    ProtobufCMessage *v = protobuf_c_message_unpack(m->desc, NULL, rec->value.len, rec->value.data);
    if (!v)
        return NULL;
    json_object *j = pbjson_from_message(v, &gw_out_opts);
    if (tag)
        gw_items_tag(v, tag);
    protobuf_c_message_free_unpacked(v, NULL);
    if (!j)
        return NULL;
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)rec->raft_index);
    json_object_object_add(j, "raftIndex", json_object_new_string(buf));
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)rec->raft_term);
    json_object_object_add(j, "raftTerm", json_object_new_string(buf));
    return j;
}

/* gw_items_consistency reads ?consistency=; on a bad value it answers 400, returns -1. */
static int gw_items_consistency(struct gw_req *r, Lithair__V1__Consistency *out)
{
    char v[32];
    int rc = gw_query(r, "consistency", v, sizeof(v));
    *out = LITHAIR__V1__CONSISTENCY__LINEARIZABLE;
    if (rc == LT_ENOTFOUND || (rc >= 0 && (v[0] == '\0' || strcasecmp(v, "linearizable") == 0)))
        return 0;
    if (rc >= 0 && strcasecmp(v, "serializable") == 0) {
        *out = LITHAIR__V1__CONSISTENCY__SERIALIZABLE;
        return 0;
    }
    gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                   "bad query parameter 'consistency': expected linearizable or serializable");
    return -1;
}

/* GW_ETAG_FORMS names the entity-tags an If-Match takes, for its 400s. */
#define GW_ETAG_FORMS                                                                              \
    "expected the item's ETag \"<version>@<createdAt>\" (as "                                      \
    "\"3@2026-11-30T07:57:40.123456789Z\"), "                                                      \
    "a version alone \"3\" (any incarnation of the id), or \"*\""

/* gw_items_if_match reads If-Match; returns 1 if present (*e set: a version, 0 for "*", and
 * maybe an incarnation), 0 if absent, -1 after answering 400 for a bad value or 412 for a
 * tag that never matches. */
static int gw_items_if_match(struct gw_req *r, struct gw_etag *e)
{
    const char *h = gw_header(r, "If-Match");
    memset(e, 0, sizeof(*e));
    if (!h)
        return 0;
    int rc = gw_parse_etag(h, e);
    if (rc == LT_ECONFLICT) {
        char want[64];
        int k = snprintf(want, sizeof(want), "%llu", (unsigned long long)e->version);
        if (e->has_created && k > 0 && (size_t)k < sizeof(want) - 1) {
            want[k] = '@';
            pbjson_timestamp_format(e->created_s, e->created_ns, want + k + 1,
                                    sizeof(want) - (size_t)k - 1);
        }
        gw_reply_error(r, 412, "ABORTED", NULL, "If-Match '%.90s' never matches (%s): send \"%s\"",
                       h,
                       strstr(h, "W/") ? "a weak ETag"
                                       : "ETags compare as text: a version without zeros in front, "
                                         "createdAt exactly as the item's JSON writes it",
                       want);
        return -1;
    }
    if (rc != 0) {
        if (e->bad_created)
            gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                           "bad If-Match header '%.90s': the part after @ is not an RFC 3339 "
                           "timestamp (the item's createdAt); " GW_ETAG_FORMS,
                           h);
        else
            gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                           "bad If-Match header '%.90s': " GW_ETAG_FORMS, h);
        return -1;
    }
    return 1;
}

/* gw_items_etag_differs: does If-Match's *e fail for the record tagged *t? The message (a
 * 412's) says why; an incarnation that differs is told as such. */
static bool gw_items_etag_differs(const struct gw_etag *e, const struct gw_item_tag *t, char *why,
                                  size_t n)
{
    if (e->version == 0)
        return false; /* "*" */
    if (e->has_created && t->has_created &&
        (e->created_s != t->created_s || e->created_ns != t->created_ns)) {
        snprintf(why, n,
                 "If-Match: the item was deleted and created again since; it is now version %llu "
                 "(ETag \"%s\")",
                 (unsigned long long)t->version, t->text);
        return true;
    }
    if (e->version != t->version) {
        snprintf(why, n, "If-Match: the record is at version %llu (ETag \"%s\")",
                 (unsigned long long)t->version, t->text);
        return true;
    }
    return false;
}

/* gw_items_none_match evaluates If-None-Match `h` against a record tagged `t` (RFC 9110
 * 13.1.2: a list of entity-tags compared weakly, W/"3@..." matching "3@...", or "*" for any
 * record): 1 if one matches (the condition fails), 0 if none does, -1 after answering 400
 * for a malformed list. Tags compare as text: the record's full tag ("3@<createdAt>"), or its
 * version alone ("3", as before the tags named the incarnation); "03" never matches. */
static int gw_items_none_match(struct gw_req *r, const char *h, const struct gw_item_tag *t)
{
    char ver[24];
    int n = snprintf(ver, sizeof(ver), "%llu", (unsigned long long)t->version);
    const char *p = h;
    bool match = false;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, ",");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        const char *tg = p;
        if (len == 1 && tg[0] == '*') {
            match = true;
        } else {
            if (len > 2 && strncmp(tg, "W/", 2) == 0) {
                tg += 2;
                len -= 2;
            }
            char one[96];
            struct gw_etag e;
            int rc = LT_EINVAL;
            if (len >= 3 && len < sizeof(one) && tg[0] == '"') {
                memcpy(one, tg, len);
                one[len] = '\0';
                rc = gw_parse_etag(one, &e);
            }
            if (rc != 0 && rc != LT_ECONFLICT) {
                gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                               "bad If-None-Match header '%.90s': expected \"*\" or ETags as "
                               "\"3@2026-11-30T07:57:40.123456789Z\", \"4\"",
                               h);
                return -1;
            }
            size_t tl = strlen(t->text);
            match |= (len - 2 == tl && strncmp(tg + 1, t->text, tl) == 0) ||
                     (len - 2 == (size_t)n && strncmp(tg + 1, ver, (size_t)n) == 0);
        }
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    return match ? 1 : 0;
}

/* gw_items_call sends one Models RPC and unpacks the reply as `desc`. */
static int gw_items_call(struct gw *g, const char *method, const ProtobufCMessage *req,
                         const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                         struct rpc_status *st)
{
    if (!g->coalescer || strcmp(method, "Models/Create") != 0)
        return rpc_call(g->client, method, req, desc, g->cfg.rpc_timeout_ms, out, st);
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1), *resp = NULL;
    size_t resp_len = 0;
    if (!buf)
        return LT_ENOMEM;
    protobuf_c_message_pack(req, buf);
    int rc = gw_coalesce_call(g->coalescer, method, buf, len, g->cfg.rpc_timeout_ms, &resp,
                              &resp_len, st);
    free(buf);
    if (rc != 0)
        return rc;
    *out = protobuf_c_message_unpack(desc, NULL, resp_len, resp);
    free(resp);
    if (!*out) {
        st->code = LITHAIR__V1__CODE__INTERNAL;
        snprintf(st->message, sizeof(st->message), "the node's reply does not decode");
        return LT_ECORRUPT;
    }
    return 0;
}

/* gw_items_reply_record answers with one record: its JSON, an ETag, and for a create
 * 201 and Location. */
static int gw_items_reply_record(struct gw_req *r, const struct catalog_model *m,
                                 Lithair__V1__RecordReply *rr, int status)
{
    struct gw_item_tag tag;
    json_object *j = rr && rr->record ? gw_record_json(m, rr->record, &tag) : NULL;
    if (!j)
        return gw_reply_error(r, 500, "INTERNAL", NULL, "the node returned no decodable record");
    char hdr[512];
    int k = gw_items_tag_header(&tag, hdr, sizeof(hdr));
    if (status == 201) {
        json_object *id;
        char enc[400];
        if (json_object_object_get_ex(j, "id", &id) && k > 0 && (size_t)k < sizeof(hdr) &&
            gw_path_escape(json_object_get_string(id), enc, sizeof(enc)) == 0)
            snprintf(hdr + k, sizeof(hdr) - (size_t)k, "Location: /api/%s/%s\r\n", m->name, enc);
    }
    return gw_reply_json(r, status, j, hdr);
}

/* gw_items_decode transcodes a JSON object into the model's packed message; on failure
 * it has answered 400 naming the field and returns -1. */
static int gw_items_decode(struct gw_req *r, const struct catalog_model *m, json_object *j,
                           ProtobufCBinaryData *out)
{
    ProtobufCMessage *msg = NULL;
    struct pbjson_error e;
    int rc = pbjson_decode(m->desc, j, &gw_in_opts, &msg, &e);
    if (rc == LT_ENOMEM) {
        gw_reply_error(r, 500, "INTERNAL", NULL, "out of memory");
        return -1;
    }
    if (rc != 0) {
        if (e.path[0])
            gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "bad field '%s': %s", e.path,
                           e.message);
        else
            gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "bad body: %s", e.message);
        return -1;
    }
    out->len = protobuf_c_message_get_packed_size(msg);
    out->data = malloc(out->len ? out->len : 1);
    if (!out->data) {
        protobuf_c_message_free_unpacked(msg, NULL);
        gw_reply_error(r, 500, "INTERNAL", NULL, "out of memory");
        return -1;
    }
    protobuf_c_message_pack(msg, out->data);
    protobuf_c_message_free_unpacked(msg, NULL);
    return 0;
}

/* The record's envelope: in every Item the gateway answers, never a field of a model. */
static const char *const gw_envelope_fields[] = {"raftIndex", "raftTerm"};

/* gw_items_detail appends {"field","description"} to `details` (made on first use). */
static void gw_items_detail(json_object **details, const char *field, const char *description)
{
    if (!*details && !(*details = json_object_new_array()))
        return;
    json_object *d = json_object_new_object();
    json_object_object_add(d, "field", json_object_new_string(field));
    json_object_object_add(d, "description", json_object_new_string(description));
    json_object_array_add(*details, d);
}

/* gw_items_rule_failures appends to `details` what the model's rules say of body `j` (all
 * its fields on a create, the fields it names on an update): the node would answer these
 * too, but a body refused at the gateway never reaches it. A body that does not decode
 * adds nothing (the caller's answer already refuses it). */
static void gw_items_rule_failures(const struct catalog_model *cm, json_object *j, bool create,
                                   json_object *details)
{
    const struct model *m = models_find(cm->name);
    ProtobufCMessage *msg = NULL;
    struct pbjson_error e;
    if (!m || pbjson_decode(cm->desc, j, &gw_in_opts, &msg, &e) != 0)
        return;
    const char *fields[64];
    size_t nf = 0;
    char camel[128];
    for (unsigned i = 0; !create && i < cm->desc->n_fields && nf < 64; i++) {
        const char *pn = cm->desc->fields[i].name;
        if (json_object_object_get_ex(j, gw_camel_name(pn, camel, sizeof(camel)), NULL))
            fields[nf++] = pn;
    }
    struct model_violations *v = calloc(1, sizeof(*v));
    if (v && (create || nf > 0) && models_validate(m, msg, fields, nf, v) > 0) {
        for (size_t i = 0; i < v->n; i++)
            gw_items_detail(&details, v->v[i].field, v->v[i].description);
    }
    free(v);
    protobuf_c_message_free_unpacked(msg, NULL);
}

/* gw_items_server_fields answers 422 naming every field of `j` the server alone sets, all
 * in one answer (a client that sends back a record it read learns every field to drop):
 * `benchmark` (it marks what POST /_playground/benchmark/cleanup deletes: a user's record
 * must never be taken for benchmark data), the version and the timestamps, the envelope's
 * raftIndex / raftTerm, and on an update (`id` the path's) a primary key other than the
 * path's — plus whatever else in `j` breaks the model's rules. On an update the primary key
 * equal to the path's names the record and changes nothing: it is taken out of `j`, as
 * are the server-set fields.
 * Returns -1 if it answered. */
static int gw_items_server_fields(struct gw_req *r, const struct catalog_model *cm, json_object *j,
                                  const char *id)
{
    /* each by its JSON name and its proto name; reported by the JSON name */
    const struct catalog_field_name *names = catalog_server_fields;
    json_object *details = NULL, *pk = NULL;
    for (size_t i = 0; i < CATALOG_SERVER_FIELDS; i++) {
        if (json_object_object_get_ex(j, names[i].json, NULL) ||
            json_object_object_get_ex(j, names[i].proto, NULL))
            gw_items_detail(&details, names[i].json,
                            i == 0 ? "is set only by the benchmark engine"
                                   : "is set by the server");
        /* so that the rest decodes for its rules: a value of theirs that does not (a
         * createdAt of "x") hid every rule the rest breaks (QA) */
        json_object_object_del(j, names[i].json);
        json_object_object_del(j, names[i].proto);
    }
    for (size_t i = 0; i < sizeof(gw_envelope_fields) / sizeof(gw_envelope_fields[0]); i++) {
        if (json_object_object_get_ex(j, gw_envelope_fields[i], NULL)) {
            gw_items_detail(&details, gw_envelope_fields[i],
                            "is set by the server (the log position of the record's last write)");
            json_object_object_del(j, gw_envelope_fields[i]); /* so that the rest decodes */
        }
    }
    if (id != NULL && json_object_object_get_ex(j, cm->pk, &pk)) {
        if (json_object_is_type(pk, json_type_string) &&
            strcmp(json_object_get_string(pk), id) == 0)
            json_object_object_del(j, cm->pk);
        else
            gw_items_detail(&details, cm->pk, "is immutable: it can only be the id in the path");
    }
    if (!details)
        return 0;
    gw_items_rule_failures(cm, j, id == NULL, details);
    gw_reply_error(r, 422, "INVALID_ARGUMENT", details, "validation failed");
    return -1;
}

static int gw_items_create(struct gw_req *r)
{
    const struct catalog_model *m = r->route->ud;
    json_object *j = NULL;
    if (gw_read_json(r, false, &j) < 0)
        return r->status;
    if (gw_items_server_fields(r, m, j, NULL) < 0) {
        json_object_put(j);
        return r->status;
    }
    Lithair__V1__CreateRequest req = LITHAIR__V1__CREATE_REQUEST__INIT;
    req.model = (char *)m->name;
    int rc = gw_items_decode(r, m, j, &req.value);
    json_object_put(j);
    if (rc < 0)
        return r->status;
    Lithair__V1__RecordReply *rr = NULL;
    struct rpc_status st;
    memset(&st, 0, sizeof(st));
    rc = gw_items_call(r->gw, "Models/Create", &req.base, &lithair__v1__record_reply__descriptor,
                       (ProtobufCMessage **)&rr, &st);
    free(req.value.data);
    if (rc != 0)
        return gw_reply_rpc_error(r, rc, &st, false);
    gw_items_reply_record(r, m, rr, 201);
    protobuf_c_message_free_unpacked(&rr->base, NULL);
    return r->status;
}

/* gw_items_current reads record `id`'s tag (linearizably), for a precondition the node
 * does not evaluate itself: 0 and *cur, or -1 after answering (404, 503...). */
static int gw_items_current(struct gw_req *r, const struct catalog_model *m, const char *id,
                            struct gw_item_tag *cur)
{
    Lithair__V1__GetRequest req = LITHAIR__V1__GET_REQUEST__INIT;
    req.model = (char *)m->name;
    req.id = (char *)id;
    Lithair__V1__RecordReply *rr = NULL;
    struct rpc_status st;
    int rc = gw_items_call(r->gw, "Models/Get", &req.base, &lithair__v1__record_reply__descriptor,
                           (ProtobufCMessage **)&rr, &st);
    if (rc != 0) {
        gw_reply_rpc_error(r, rc, &st, false);
        return -1;
    }
    ProtobufCMessage *v = rr->record
                              ? protobuf_c_message_unpack(m->desc, NULL, rr->record->value.len,
                                                          rr->record->value.data)
                              : NULL;
    memset(cur, 0, sizeof(*cur));
    if (v) {
        gw_items_tag(v, cur);
        protobuf_c_message_free_unpacked(v, NULL);
    }
    protobuf_c_message_free_unpacked(&rr->base, NULL);
    if (!cur->version) {
        gw_reply_error(r, 500, "INTERNAL", NULL, "the node returned no decodable record");
        return -1;
    }
    return 0;
}

/* gw_items_if_none_match, for an update or a delete: If-None-Match (absent: 0) holds for
 * the record as it is now, read first; a match is a 412. When it holds, the write is made
 * conditional on that version and incarnation (*expected and *created, unless If-Match set
 * them already; `created_buf` holds the instant), so that a change in between — a delete and
 * a create too — is a 412 as well. Returns -1 if it answered. */
static int gw_items_if_none_match(struct gw_req *r, const struct catalog_model *m,
                                  uint64_t *expected, Lithair__V1__Timestamp **created,
                                  Lithair__V1__Timestamp *created_buf)
{
    const char *h = gw_header(r, "If-None-Match");
    struct gw_item_tag cur;
    if (!h)
        return 0;
    if (gw_items_current(r, m, gw_params_get(&r->params, "id"), &cur) < 0)
        return -1;
    int match = gw_items_none_match(r, h, &cur);
    if (match < 0)
        return -1;
    if (match) {
        gw_reply_error(r, 412, "ABORTED", NULL,
                       "If-None-Match '%.90s' matches the record (version %llu, ETag \"%s\")", h,
                       (unsigned long long)cur.version, cur.text);
        return -1;
    }
    if (*expected == 0)
        *expected = cur.version;
    if (*created == NULL && cur.has_created) {
        created_buf->seconds = cur.created_s;
        created_buf->nanos = cur.created_ns;
        *created = created_buf;
    }
    return 0;
}

/* gw_items_expect reads If-Match (gw_items_if_match, whose result it returns) into a write's
 * conditions: the version, and the incarnation (in *buf) when the tag names it. */
static int gw_items_expect(struct gw_req *r, uint64_t *version, Lithair__V1__Timestamp **created,
                           Lithair__V1__Timestamp *buf)
{
    struct gw_etag e;
    int rc = gw_items_if_match(r, &e);
    *version = e.version;
    *created = NULL;
    if (rc > 0 && e.version != 0 && e.has_created) {
        buf->seconds = e.created_s;
        buf->nanos = e.created_ns;
        *created = buf;
    }
    return rc;
}

static int gw_items_get(struct gw_req *r)
{
    const struct catalog_model *m = r->route->ud;
    Lithair__V1__GetRequest req = LITHAIR__V1__GET_REQUEST__INIT;
    if (gw_items_consistency(r, &req.consistency) < 0)
        return r->status;
    struct gw_etag want;
    int if_match = gw_items_if_match(r, &want);
    if (if_match < 0)
        return r->status;
    req.model = (char *)m->name;
    req.id = (char *)gw_params_get(&r->params, "id");
    Lithair__V1__RecordReply *rr = NULL;
    struct rpc_status st;
    int rc = gw_items_call(r->gw, "Models/Get", &req.base, &lithair__v1__record_reply__descriptor,
                           (ProtobufCMessage **)&rr, &st);
    if (rc != 0)
        return gw_reply_rpc_error(r, rc, &st, false);
    /* conditional GET (RFC 9110 13.1): If-Match first, then If-None-Match */
    const char *inm = gw_header(r, "If-None-Match");
    if (if_match <= 0 && !inm) {
        gw_items_reply_record(r, m, rr, 200);
        protobuf_c_message_free_unpacked(&rr->base, NULL);
        return r->status;
    }
    struct gw_item_tag tag;
    char why[200];
    json_object *j = rr->record ? gw_record_json(m, rr->record, &tag) : NULL;
    int match = 0;
    if (!j) {
        gw_reply_error(r, 500, "INTERNAL", NULL, "the node returned no decodable record");
    } else if (if_match > 0 && gw_items_etag_differs(&want, &tag, why, sizeof(why))) {
        gw_reply_error(r, 412, "ABORTED", NULL, "%s", why);
    } else if (inm && (match = gw_items_none_match(r, inm, &tag)) < 0) {
        ; /* answered 400 */
    } else if (match) {
        char hdr[96];
        gw_items_tag_header(&tag, hdr, sizeof(hdr));
        gw_send_response(r, 304, NULL, "no-store", hdr, NULL, 0, false);
        r->status = 304;
    } else {
        gw_items_reply_record(r, m, rr, 200);
    }
    json_object_put(j);
    protobuf_c_message_free_unpacked(&rr->base, NULL);
    return r->status;
}

static int gw_items_update(struct gw_req *r)
{
    const struct catalog_model *m = r->route->ud;
    Lithair__V1__UpdateRequest req = LITHAIR__V1__UPDATE_REQUEST__INIT;
    Lithair__V1__Timestamp created = LITHAIR__V1__TIMESTAMP__INIT;
    int if_match = gw_items_expect(r, &req.expected_version, &req.expected_created, &created);
    if (if_match < 0)
        return r->status;
    json_object *j = NULL;
    if (gw_read_json(r, false, &j) < 0)
        return r->status;
    if (gw_items_if_none_match(r, m, &req.expected_version, &req.expected_created, &created) < 0) {
        json_object_put(j);
        return r->status;
    }
    if_match |= gw_header(r, "If-None-Match") != NULL; /* a conflict is then a 412 too */
    if (gw_items_server_fields(r, m, j, gw_params_get(&r->params, "id")) < 0) {
        json_object_put(j);
        return r->status;
    }
    size_t nf = (size_t)json_object_object_length(j);
    if (nf == 0) {
        json_object_put(j);
        return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                              "the body names no field to change");
    }
    char **fields = calloc(nf, sizeof(*fields));
    if (!fields) {
        json_object_put(j);
        return gw_reply_error(r, 500, "INTERNAL", NULL, "out of memory");
    }
    json_object_object_foreach(j, key, val)
    {
        (void)val;
        fields[req.n_fields++] = key;
    }
    req.fields = fields;
    req.model = (char *)m->name;
    req.id = (char *)gw_params_get(&r->params, "id");
    Lithair__V1__RecordReply *rr = NULL;
    struct rpc_status st;
    int rc = gw_items_decode(r, m, j, &req.value);
    if (rc == 0) {
        rc = gw_items_call(r->gw, "Models/Update", &req.base,
                           &lithair__v1__record_reply__descriptor, (ProtobufCMessage **)&rr, &st);
        free(req.value.data);
        if (rc != 0)
            gw_reply_rpc_error(r, rc, &st, if_match > 0);
        else
            gw_items_reply_record(r, m, rr, 200);
        if (rr)
            protobuf_c_message_free_unpacked(&rr->base, NULL);
    }
    free(fields);
    json_object_put(j);
    return r->status;
}

static int gw_items_delete(struct gw_req *r)
{
    const struct catalog_model *m = r->route->ud;
    Lithair__V1__DeleteRequest req = LITHAIR__V1__DELETE_REQUEST__INIT;
    Lithair__V1__Timestamp created = LITHAIR__V1__TIMESTAMP__INIT;
    int if_match = gw_items_expect(r, &req.expected_version, &req.expected_created, &created);
    if (if_match < 0)
        return r->status;
    if (gw_items_if_none_match(r, m, &req.expected_version, &req.expected_created, &created) < 0)
        return r->status;
    if_match |= gw_header(r, "If-None-Match") != NULL; /* a conflict is then a 412 too */
    req.model = (char *)m->name;
    req.id = (char *)gw_params_get(&r->params, "id");
    Lithair__V1__RecordReply *rr = NULL;
    struct rpc_status st;
    int rc = gw_items_call(r->gw, "Models/Delete", &req.base,
                           &lithair__v1__record_reply__descriptor, (ProtobufCMessage **)&rr, &st);
    if (rc != 0)
        return gw_reply_rpc_error(r, rc, &st, if_match > 0);
    protobuf_c_message_free_unpacked(&rr->base, NULL);
    return gw_reply_json(r, 204, NULL, NULL);
}

static int gw_items_history(struct gw_req *r)
{
    const struct catalog_model *m = r->route->ud;
    Lithair__V1__HistoryRequest req = LITHAIR__V1__HISTORY_REQUEST__INIT;
    if (gw_items_consistency(r, &req.consistency) < 0)
        return r->status;
    req.model = (char *)m->name;
    req.id = (char *)gw_params_get(&r->params, "id");
    Lithair__V1__HistoryReply *hr = NULL;
    struct rpc_status st;
    int rc = gw_items_call(r->gw, "Models/History", &req.base,
                           &lithair__v1__history_reply__descriptor, (ProtobufCMessage **)&hr, &st);
    if (rc != 0)
        return gw_reply_rpc_error(r, rc, &st, false);
    static const char *ops[] = {"create", "update", "delete"};
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    for (size_t i = 0; arr && i < hr->n_entries; i++) {
        Lithair__V1__HistoryEntry *e = hr->entries[i];
        json_object *ej = json_object_new_object();
        json_object_object_add(
            ej, "op", json_object_new_string((unsigned)e->op < 3 ? ops[e->op] : "unknown"));
        json_object *rec = e->record ? gw_record_json(m, e->record, NULL) : NULL;
        json_object_object_add(ej, "record", rec ? rec : json_object_new_null());
        json_object_array_add(arr, ej);
    }
    json_object_object_add(o, "entries", arr);
    protobuf_c_message_free_unpacked(&hr->base, NULL);
    return gw_reply_json(r, 200, o, NULL);
}

/* gw_items_enum_ok: is `v` a value name (any case) of enum field `f`? */
static bool gw_items_enum_ok(const ProtobufCFieldDescriptor *f, const char *v, char *names,
                             size_t n)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    size_t off = 0;
    names[0] = '\0';
    for (unsigned i = 0; i < ed->n_values; i++) {
        if (strcasecmp(ed->values[i].name, v) == 0)
            return true;
        char low[64];
        size_t k = 0;
        for (const char *p = ed->values[i].name; *p && k + 1 < sizeof(low); p++)
            low[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        low[k] = '\0';
        int w = snprintf(names + off, n - off, "%s%s", i ? ", " : "", low);
        if (w > 0 && (size_t)w < n - off)
            off += (size_t)w;
    }
    return false;
}

static int gw_items_list(struct gw_req *r)
{
    const struct catalog_model *m = r->route->ud;
    const char *allowed[16] = {"limit", "cursor", "includeBenchmark", "consistency"};
    char jnames[8][64];
    size_t na = 4, ni = 0;
    for (const char *const *ix = m->indexes; *ix && ni < 8; ix++, ni++)
        allowed[na++] = gw_camel_name(*ix, jnames[ni], sizeof(jnames[ni]));
    allowed[na] = NULL;
    char bad[64];
    if (!gw_query_check_keys(r->query, allowed, bad, sizeof(bad)))
        return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "unknown query parameter '%s'",
                              bad);
    Lithair__V1__ListRequest req = LITHAIR__V1__LIST_REQUEST__INIT;
    req.model = (char *)m->name;
    if (gw_items_consistency(r, &req.consistency) < 0)
        return r->status;
    char v[GW_PARAM_MAX], cursor[GW_PARAM_MAX], eq[GW_PARAM_MAX];
    int rc = gw_query(r, "limit", v, sizeof(v));
    uint64_t limit = 100;
    if (rc != LT_ENOTFOUND && (rc < 0 || gw_parse_u64(v, 1, 1000, &limit) != 0))
        return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                              "bad query parameter 'limit': expected 1 to 1000");
    req.limit = (uint32_t)limit;
    rc = gw_query(r, "cursor", cursor, sizeof(cursor));
    if (rc >= 0)
        req.cursor = cursor;
    else if (rc != LT_ENOTFOUND)
        return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "bad query parameter 'cursor'");
    rc = gw_query(r, "includeBenchmark", v, sizeof(v));
    bool ib = false;
    if (rc != LT_ENOTFOUND && (rc < 0 || gw_parse_bool(v, &ib) != 0))
        return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                              "bad query parameter 'includeBenchmark': expected true or false");
    req.include_benchmark = ib;
    for (size_t i = 0; i < ni; i++) {
        rc = gw_query(r, jnames[i], eq, sizeof(eq));
        if (rc == LT_ENOTFOUND || (rc >= 0 && eq[0] == '\0'))
            continue;
        if (rc < 0)
            return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "bad query parameter '%s'",
                                  jnames[i]);
        if (req.index && req.index[0])
            return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                                  "bad query parameter '%s': filter on one field at a time",
                                  jnames[i]);
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(m->desc, m->indexes[i]);
        char names[256];
        if (f && f->type == PROTOBUF_C_TYPE_ENUM && !gw_items_enum_ok(f, eq, names, sizeof(names)))
            return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                                  "bad query parameter '%s': expected one of %s", jnames[i], names);
        req.index = (char *)m->indexes[i];
        req.equals = eq;
    }
    Lithair__V1__ListReply *lr = NULL;
    struct rpc_status st;
    rc = gw_items_call(r->gw, "Models/List", &req.base, &lithair__v1__list_reply__descriptor,
                       (ProtobufCMessage **)&lr, &st);
    if (rc != 0) {
        if (st.code == LITHAIR__V1__CODE__INVALID_ARGUMENT && req.cursor)
            return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                                  "bad query parameter 'cursor': %s", st.message);
        return gw_reply_rpc_error(r, rc, &st, false);
    }
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    for (size_t i = 0; arr && i < lr->n_records; i++) {
        json_object *rec = gw_record_json(m, lr->records[i], NULL);
        if (rec)
            json_object_array_add(arr, rec);
    }
    json_object_object_add(o, m->name, arr);
    json_object_object_add(o, "total", gw_json_u64(lr->total));
    json_object_object_add(o, "nextCursor", json_object_new_string(lr->next_cursor));
    protobuf_c_message_free_unpacked(&lr->base, NULL);
    return gw_reply_json(r, 200, o, NULL);
}

int gw_items_register(struct gw *g)
{
    static char patterns[8][3][96];
    int rc = 0;
    for (size_t i = 0; i < 8 && gw_public_models[i] && rc == 0; i++) {
        const struct catalog_model *m = catalog_find(gw_public_models[i]);
        if (!m)
            return LT_EINVAL;
        snprintf(patterns[i][0], sizeof(patterns[i][0]), "/api/%s", m->name);
        snprintf(patterns[i][1], sizeof(patterns[i][1]), "/api/%s/:id", m->name);
        snprintf(patterns[i][2], sizeof(patterns[i][2]), "/api/%s/:id/history", m->name);
        if ((rc = gw_route_add(g, "GET", patterns[i][0], gw_items_list, m, "items_list")) ||
            (rc = gw_route_add(g, "POST", patterns[i][0], gw_items_create, m, "items_create")) ||
            (rc = gw_route_add(g, "GET", patterns[i][1], gw_items_get, m, "items_get")) ||
            (rc = gw_route_add(g, "PUT", patterns[i][1], gw_items_update, m, "items_update")) ||
            (rc = gw_route_add(g, "DELETE", patterns[i][1], gw_items_delete, m, "items_delete")) ||
            (rc = gw_route_add(g, "GET", patterns[i][2], gw_items_history, m, "items_history")))
            break;
    }
    return rc;
}
