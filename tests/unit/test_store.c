/* test_store.c — the state machine: apply create/update/delete/purge with versions and
 * conflicts, indexes that follow updates, cursor pagination (also while records are deleted
 * between pages), bounded history, snapshot round trips and corrupt snapshots, determinism
 * of random command sequences, and readers running against the applier. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu.h>
#include <urcu/rculfhash.h>
#include "urcu_tsan.h"

#include "crc32c.h"
#include "cunit_main.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "store.h"
#include "testutil.h"

#define BASE_NS 1796000000000000000ull

/* ---- helpers ---- */

static uint8_t *item_bytes(const char *id, const char *name, int status, const char *desc,
                           bool bench, size_t *len)
{
    Lithair__V1__PlaygroundItem it = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
    uint8_t *buf;
    it.id = (char *)id;
    it.name = (char *)name;
    it.status = status;
    it.description = (char *)(desc != NULL ? desc : "");
    it.benchmark = bench;
    *len = lithair__v1__playground_item__get_packed_size(&it);
    buf = malloc(*len + 1);
    lithair__v1__playground_item__pack(&it, buf);
    return buf;
}

static int apply_prepared(struct store *s, uint64_t idx, struct model_prepared *p,
                          struct store_result *out)
{
    struct store_result res;
    int rc = store_apply(s, idx, 1 + idx / 1000, p->cmd, p->cmd_len, &res);
    CU_ASSERT_EQUAL(rc, res.code);
    if (out != NULL)
        *out = res;
    else
        store_result_fini(&res);
    models_prepared_fini(p);
    return rc;
}

static int do_create(struct store *s, uint64_t idx, const char *id, const char *name, int status,
                     bool bench)
{
    struct model_prepared p = {0};
    size_t len;
    uint8_t *v = item_bytes(id, name, status, name, bench, &len);
    int rc = models_prepare_create(models_find("items"), v, len, BASE_NS + idx, 1, NULL, &p);
    free(v);
    if (rc != 0)
        return rc;
    return apply_prepared(s, idx, &p, NULL);
}

static int do_update(struct store *s, uint64_t idx, const char *id, const char *name, int status,
                     const char *desc, const char *const *mask, size_t n_mask, uint64_t expect,
                     struct store_result *res)
{
    struct model_prepared p = {0};
    size_t len;
    uint8_t *v = item_bytes("", name, status, desc, false, &len);
    int rc = models_prepare_update(models_find("items"), id, v, len, mask, n_mask, expect, NULL,
                                   BASE_NS + idx, 1, NULL, &p);
    free(v);
    if (rc != 0)
        return rc;
    return apply_prepared(s, idx, &p, res);
}

static int do_delete(struct store *s, uint64_t idx, const char *model, const char *id,
                     uint64_t expect)
{
    struct model_prepared p = {0};
    int rc =
        models_prepare_delete(models_find(model), id, expect, NULL, BASE_NS + idx, 1, NULL, &p);
    if (rc != 0)
        return rc;
    return apply_prepared(s, idx, &p, NULL);
}

static int do_purge(struct store *s, uint64_t idx, uint64_t limit, uint64_t *purged)
{
    struct model_prepared p = {0};
    struct store_result res;
    int rc = models_prepare_purge(models_find("items"), limit, BASE_NS + idx, 1, &p);
    if (rc != 0)
        return rc;
    rc = apply_prepared(s, idx, &p, &res);
    *purged = res.purged;
    store_result_fini(&res);
    return rc;
}

/* apply_raw applies a Put built by hand (what a faulty or malicious proposer could send). */
static int apply_raw(struct store *s, uint64_t idx, const char *model, const uint8_t *value,
                     size_t len, bool create, bool update, const char **fields, size_t n)
{
    Lithair__V1__Timestamp at = LITHAIR__V1__TIMESTAMP__INIT;
    Lithair__V1__Command c = LITHAIR__V1__COMMAND__INIT;
    Lithair__V1__Command__Put put = LITHAIR__V1__COMMAND__PUT__INIT;
    struct store_result res;
    uint8_t buf[4096];
    size_t clen;
    int rc;
    put.model = (char *)model;
    put.value.data = (uint8_t *)value;
    put.value.len = len;
    put.create = create;
    put.update = update;
    put.fields = (char **)fields;
    put.n_fields = n;
    c.at = &at;
    c.op_case = LITHAIR__V1__COMMAND__OP_PUT;
    c.put = &put;
    clen = lithair__v1__command__pack(&c, buf);
    rc = store_apply(s, idx, 1, buf, clen, &res);
    store_result_fini(&res);
    return rc;
}

static Lithair__V1__PlaygroundItem *get_item(struct store *s, const char *id,
                                             struct store_record **rec_out)
{
    struct store_record *rec;
    Lithair__V1__PlaygroundItem *it;
    if (store_get(s, "items", id, &rec) != 0)
        return NULL;
    it = lithair__v1__playground_item__unpack(NULL, rec->len, rec->value);
    if (rec_out != NULL)
        *rec_out = rec;
    else
        store_record_free(rec);
    return it;
}

static uint64_t count_items(struct store *s, const char *index, const char *equals, bool bench)
{
    uint64_t n = 0;
    CU_ASSERT_EQUAL(store_count(s, "items", index, equals, bench, &n), 0);
    return n;
}

static struct store *new_store(void)
{
    struct store *s = NULL;
    CU_ASSERT_EQUAL_FATAL(store_new(&s), 0);
    return s;
}

/* ---- apply ---- */

static void test_create_get(void)
{
    struct store *s = new_store();
    struct store_record *rec;
    struct model_prepared p = {0};
    struct store_result res;
    size_t len;
    uint8_t *v = item_bytes("", "lamp", 1, "a lamp", false, &len);
    CU_ASSERT_EQUAL_FATAL(
        models_prepare_create(models_find("items"), v, len, BASE_NS + 5, 1, NULL, &p), 0);
    free(v);
    char *id = strdup(p.id);
    CU_ASSERT_EQUAL(apply_prepared(s, 5, &p, &res), 0);
    CU_ASSERT_EQUAL(res.op, STORE_OP_CREATE);
    CU_ASSERT_EQUAL(res.version, 1);
    CU_ASSERT_STRING_EQUAL(res.id, id);
    CU_ASSERT_PTR_EQUAL(res.model, models_find("items"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(res.record);
    CU_ASSERT_EQUAL(res.record->raft_index, 5);
    Lithair__V1__PlaygroundItem *it = get_item(s, id, &rec);
    CU_ASSERT_PTR_NOT_NULL_FATAL(it);
    CU_ASSERT_EQUAL(rec->len, res.record->len);
    CU_ASSERT_EQUAL(memcmp(rec->value, res.record->value, rec->len), 0);
    CU_ASSERT_EQUAL(rec->version, 1);
    CU_ASSERT_EQUAL(rec->raft_index, 5);
    CU_ASSERT_EQUAL(rec->raft_term, 1);
    CU_ASSERT_EQUAL(it->version, 1);
    CU_ASSERT_STRING_EQUAL(it->name, "lamp");
    CU_ASSERT_PTR_NOT_NULL_FATAL(it->created_at);
    CU_ASSERT_PTR_NOT_NULL_FATAL(it->updated_at);
    CU_ASSERT_EQUAL(it->created_at->seconds, (int64_t)((BASE_NS + 5) / 1000000000u));
    CU_ASSERT_EQUAL(it->created_at->nanos, (int32_t)((BASE_NS + 5) % 1000000000u));
    CU_ASSERT_EQUAL(it->updated_at->nanos, it->created_at->nanos);
    lithair__v1__playground_item__free_unpacked(it, NULL);
    store_record_free(rec);
    store_result_fini(&res);
    CU_ASSERT_EQUAL(store_get(s, "items", "nope", &rec), LT_ENOTFOUND);
    CU_ASSERT_EQUAL(store_get(s, "nomodel", id, &rec), LT_EINVAL);
    CU_ASSERT_EQUAL(store_records_total(s), 1);
    uint64_t ai, at;
    store_applied(s, &ai, &at);
    CU_ASSERT_EQUAL(ai, 5);
    store_set_applied(s, 6, 2);
    store_applied(s, &ai, &at);
    CU_ASSERT_EQUAL(ai, 6);
    CU_ASSERT_EQUAL(at, 2);
    free(id);
    store_free(s);
}

static void test_create_exists(void)
{
    struct store *s = new_store();
    CU_ASSERT_EQUAL(do_create(s, 1, "k1", "one", 0, false), 0);
    uint64_t d = store_digest(s);
    CU_ASSERT_EQUAL(do_create(s, 2, "k1", "other", 1, false), LT_EEXIST);
    CU_ASSERT_EQUAL(store_digest(s), d);
    Lithair__V1__PlaygroundItem *it = get_item(s, "k1", NULL);
    CU_ASSERT_STRING_EQUAL(it->name, "one");
    lithair__v1__playground_item__free_unpacked(it, NULL);
    store_free(s);
}

static void test_update(void)
{
    struct store *s = new_store();
    struct store_result res;
    CU_ASSERT_EQUAL(do_create(s, 1, "k1", "one", 0, false), 0);
    /* full update: every mutable field */
    CU_ASSERT_EQUAL(do_update(s, 2, "k1", "two", 1, "desc2", NULL, 0, 0, &res), 0);
    CU_ASSERT_EQUAL(res.op, STORE_OP_UPDATE);
    CU_ASSERT_EQUAL(res.version, 2);
    store_result_fini(&res);
    Lithair__V1__PlaygroundItem *it = get_item(s, "k1", NULL);
    CU_ASSERT_STRING_EQUAL(it->name, "two");
    CU_ASSERT_STRING_EQUAL(it->description, "desc2");
    CU_ASSERT_EQUAL(it->status, 1);
    CU_ASSERT_EQUAL(it->version, 2);
    CU_ASSERT_EQUAL(it->created_at->nanos, (int32_t)((BASE_NS + 1) % 1000000000u));
    CU_ASSERT_EQUAL(it->updated_at->nanos, (int32_t)((BASE_NS + 2) % 1000000000u));
    CU_ASSERT_STRING_EQUAL(it->id, "k1");
    lithair__v1__playground_item__free_unpacked(it, NULL);
    /* masked update: only status changes (the value's empty name is not applied) */
    const char *mask[] = {"status"};
    CU_ASSERT_EQUAL(do_update(s, 3, "k1", "", 2, "", mask, 1, 2, NULL), 0);
    it = get_item(s, "k1", NULL);
    CU_ASSERT_STRING_EQUAL(it->name, "two");
    CU_ASSERT_STRING_EQUAL(it->description, "desc2");
    CU_ASSERT_EQUAL(it->status, 2);
    CU_ASSERT_EQUAL(it->version, 3);
    lithair__v1__playground_item__free_unpacked(it, NULL);
    /* JSON names work in masks too */
    const char *mask2[] = {"description"};
    CU_ASSERT_EQUAL(do_update(s, 4, "k1", "", 0, "d4", mask2, 1, 0, NULL), 0);
    it = get_item(s, "k1", NULL);
    CU_ASSERT_STRING_EQUAL(it->description, "d4");
    CU_ASSERT_EQUAL(it->status, 2);
    CU_ASSERT_EQUAL(it->version, 4);
    lithair__v1__playground_item__free_unpacked(it, NULL);
    store_free(s);
}

static void test_versions_and_missing(void)
{
    struct store *s = new_store();
    struct store_result res;
    CU_ASSERT_EQUAL(do_create(s, 1, "k1", "one", 0, false), 0);
    CU_ASSERT_EQUAL(do_update(s, 2, "k1", "two", 0, "", NULL, 0, 1, NULL), 0);
    uint64_t d = store_digest(s);
    CU_ASSERT_EQUAL(do_update(s, 3, "k1", "three", 0, "", NULL, 0, 1, &res), LT_ECONFLICT);
    CU_ASSERT_EQUAL(res.op, STORE_OP_NONE);
    CU_ASSERT_EQUAL(res.version, 2);
    CU_ASSERT_PTR_NULL(res.record);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.message, "expected version 1"));
    store_result_fini(&res);
    CU_ASSERT_EQUAL(do_delete(s, 4, "items", "k1", 7), LT_ECONFLICT);
    CU_ASSERT_EQUAL(store_digest(s), d);
    CU_ASSERT_EQUAL(do_update(s, 5, "nope", "x", 0, "", NULL, 0, 0, NULL), LT_ENOTFOUND);
    CU_ASSERT_EQUAL(do_delete(s, 6, "items", "nope", 0), LT_ENOTFOUND);
    CU_ASSERT_EQUAL(store_digest(s), d);
    CU_ASSERT_EQUAL(do_update(s, 7, "k1", "three", 0, "", NULL, 0, 2, NULL), 0);
    CU_ASSERT_EQUAL(do_delete(s, 8, "items", "k1", 3), 0);
    CU_ASSERT_EQUAL(store_get(s, "items", "k1", &(struct store_record *){NULL}), LT_ENOTFOUND);
    CU_ASSERT_EQUAL(count_items(s, NULL, NULL, true), 0);
    /* re-created after a delete: a new life from version 1 */
    CU_ASSERT_EQUAL(do_create(s, 9, "k1", "again", 0, false), 0);
    Lithair__V1__PlaygroundItem *it = get_item(s, "k1", NULL);
    CU_ASSERT_EQUAL(it->version, 1);
    lithair__v1__playground_item__free_unpacked(it, NULL);
    store_free(s);
}

/* ts_of: the created_at a create applied at index `idx` gets (do_create stamps BASE_NS + idx). */
static Lithair__V1__Timestamp ts_of(uint64_t idx)
{
    Lithair__V1__Timestamp ts = LITHAIR__V1__TIMESTAMP__INIT;
    ts.seconds = (int64_t)((BASE_NS + idx) / 1000000000u);
    ts.nanos = (int32_t)((BASE_NS + idx) % 1000000000u);
    return ts;
}

/* do_update_inc / do_delete_inc: an update (of the name) or a delete conditional on a
 * version (0: any) and an incarnation (NULL: any). */
static int do_update_inc(struct store *s, uint64_t idx, const char *id, const char *name,
                         uint64_t expect, const Lithair__V1__Timestamp *created,
                         struct store_result *res)
{
    struct model_prepared p = {0};
    size_t len;
    uint8_t *v = item_bytes("", name, 0, "", false, &len);
    int rc = models_prepare_update(models_find("items"), id, v, len, (const char *[]){"name"}, 1,
                                   expect, created, BASE_NS + idx, 1, NULL, &p);
    free(v);
    if (rc != 0)
        return rc;
    return apply_prepared(s, idx, &p, res);
}

static int do_delete_inc(struct store *s, uint64_t idx, const char *id, uint64_t expect,
                         const Lithair__V1__Timestamp *created, struct store_result *res)
{
    struct model_prepared p = {0};
    int rc = models_prepare_delete(models_find("items"), id, expect, created, BASE_NS + idx, 1,
                                   NULL, &p);
    if (rc != 0)
        return rc;
    return apply_prepared(s, idx, &p, res);
}

/* An update or delete may name the incarnation it read (expected_created): a record deleted
 * and created again under the same key starts at version 1 again, and a writer holding the
 * old read must not take it for the one it read (ABA). */
static void test_expected_created(void)
{
    struct store *s = new_store();
    struct store_result res;
    Lithair__V1__Timestamp t1 = ts_of(1), other = ts_of(2);
    CU_ASSERT_EQUAL(do_create(s, 1, "k1", "one", 0, false), 0);
    /* the matching incarnation, with and without a version */
    CU_ASSERT_EQUAL(do_update_inc(s, 2, "k1", "two", 1, &t1, NULL), 0);
    CU_ASSERT_EQUAL(do_update_inc(s, 3, "k1", "three", 0, &t1, NULL), 0);
    /* another instant: a conflict that changes nothing, whatever the version says */
    uint64_t d = store_digest(s);
    CU_ASSERT_EQUAL(do_update_inc(s, 4, "k1", "four", 3, &other, &res), LT_ECONFLICT);
    CU_ASSERT_EQUAL(res.op, STORE_OP_NONE);
    CU_ASSERT_EQUAL(res.version, 3);
    CU_ASSERT_PTR_NULL(res.record);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.message, "deleted and created again"));
    /* both instants as RFC 3339, as the gateway's JSON shows them */
    CU_ASSERT_PTR_NOT_NULL(
        strstr(res.message, "expected version 3 created 2026-11-30T00:53:20.000000002Z"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(res.message, "now version 3 created 2026-11-30T00:53:20.000000001Z"));
    store_result_fini(&res);
    CU_ASSERT_EQUAL(do_delete_inc(s, 5, "k1", 3, &other, &res), LT_ECONFLICT);
    CU_ASSERT_EQUAL(res.op, STORE_OP_NONE);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.message, "deleted and created again"));
    store_result_fini(&res);
    /* nanos differ by one: still another instant */
    Lithair__V1__Timestamp near = t1;
    near.nanos++;
    CU_ASSERT_EQUAL(do_delete_inc(s, 6, "k1", 0, &near, NULL), LT_ECONFLICT);
    CU_ASSERT_EQUAL(store_digest(s), d);
    Lithair__V1__PlaygroundItem *it = get_item(s, "k1", NULL);
    CU_ASSERT_STRING_EQUAL(it->name, "three");
    CU_ASSERT_EQUAL(it->version, 3);
    lithair__v1__playground_item__free_unpacked(it, NULL);

    /* ABA: read at version 1 of one incarnation, deleted, created again (version 1 again) */
    CU_ASSERT_EQUAL(do_create(s, 10, "k2", "first life", 0, false), 0);
    Lithair__V1__Timestamp read = ts_of(10);
    CU_ASSERT_EQUAL(do_delete_inc(s, 11, "k2", 1, &read, NULL), 0);
    CU_ASSERT_EQUAL(do_create(s, 12, "k2", "second life", 0, false), 0);
    d = store_digest(s);
    CU_ASSERT_EQUAL(do_update_inc(s, 13, "k2", "overwrite", 1, &read, &res), LT_ECONFLICT);
    CU_ASSERT_EQUAL(res.version, 1);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(res.message, "now version 1 created 2026-11-30T00:53:20.000000012Z"));
    store_result_fini(&res);
    CU_ASSERT_EQUAL(do_delete_inc(s, 14, "k2", 1, &read, NULL), LT_ECONFLICT);
    CU_ASSERT_EQUAL(do_update_inc(s, 15, "k2", "overwrite", 0, &read, NULL), LT_ECONFLICT);
    CU_ASSERT_EQUAL(store_digest(s), d);
    it = get_item(s, "k2", NULL);
    CU_ASSERT_STRING_EQUAL(it->name, "second life");
    CU_ASSERT_EQUAL(it->version, 1);
    CU_ASSERT_EQUAL(it->created_at->nanos, ts_of(12).nanos);
    lithair__v1__playground_item__free_unpacked(it, NULL);
    /* without the field, as before: the version alone matches the new incarnation */
    CU_ASSERT_EQUAL(do_update_inc(s, 16, "k2", "by version", 1, NULL, NULL), 0);
    /* and the new incarnation's own instant matches */
    Lithair__V1__Timestamp now = ts_of(12);
    CU_ASSERT_EQUAL(do_delete_inc(s, 17, "k2", 2, &now, NULL), 0);
    CU_ASSERT_EQUAL(store_get(s, "items", "k2", &(struct store_record *){NULL}), LT_ENOTFOUND);

    /* an upsert (a Put neither create nor update) that expects an incarnation of a record
     * that does not exist is a conflict too, as an expected version is */
    size_t len;
    uint8_t *v = item_bytes("k3", "upsert", 0, "", false, &len);
    Lithair__V1__Timestamp at = ts_of(20);
    Lithair__V1__Command c = LITHAIR__V1__COMMAND__INIT;
    Lithair__V1__Command__Put put = LITHAIR__V1__COMMAND__PUT__INIT;
    put.model = (char *)"items";
    put.value.data = v;
    put.value.len = len;
    put.expected_created = &t1;
    c.at = &at;
    c.op_case = LITHAIR__V1__COMMAND__OP_PUT;
    c.put = &put;
    uint8_t buf[512];
    size_t clen = lithair__v1__command__pack(&c, buf);
    d = store_digest(s);
    CU_ASSERT_EQUAL(store_apply(s, 20, 1, buf, clen, &res), LT_ECONFLICT);
    store_result_fini(&res);
    CU_ASSERT_EQUAL(store_digest(s), d);
    put.expected_created = NULL; /* without it the upsert creates, as before */
    clen = lithair__v1__command__pack(&c, buf);
    CU_ASSERT_EQUAL(store_apply(s, 21, 1, buf, clen, &res), 0);
    CU_ASSERT_EQUAL(res.op, STORE_OP_CREATE);
    store_result_fini(&res);
    free(v);
    store_free(s);
}

static void test_apply_invalid(void)
{
    struct store *s = new_store();
    size_t len;
    uint8_t *v;
    CU_ASSERT_EQUAL(do_create(s, 1, "k1", "one", 0, false), 0);
    uint64_t d = store_digest(s);
    struct store_result res;
    uint8_t junk[] = {0x0a, 0xff, 0x01};
    CU_ASSERT_EQUAL(store_apply(s, 2, 1, junk, sizeof(junk), &res), LT_EINVAL);
    CU_ASSERT_EQUAL(res.op, STORE_OP_NONE);
    store_result_fini(&res);
    CU_ASSERT_EQUAL(store_apply(s, 3, 1, NULL, 0, &res), LT_EINVAL); /* no operation */
    store_result_fini(&res);
    v = item_bytes("k2", "two", 0, "", false, &len);
    CU_ASSERT_EQUAL(apply_raw(s, 5, "nomodel", v, len, true, false, NULL, 0), LT_EINVAL);
    CU_ASSERT_EQUAL(apply_raw(s, 6, "items", v, len, true, true, NULL, 0), LT_EINVAL);
    free(v);
    v = item_bytes("", "x", 0, "", false, &len); /* empty key */
    CU_ASSERT_EQUAL(apply_raw(s, 7, "items", v, len, true, false, NULL, 0), LT_EINVAL);
    free(v);
    v = item_bytes("k1", "x", 0, "", false, &len);
    const char *bad1[] = {"created_at"};
    const char *bad2[] = {"nope"};
    CU_ASSERT_EQUAL(apply_raw(s, 8, "items", v, len, false, true, bad1, 1), LT_EINVAL);
    CU_ASSERT_EQUAL(apply_raw(s, 9, "items", v, len, false, true, bad2, 1), LT_EINVAL);
    CU_ASSERT_EQUAL(apply_raw(s, 10, "items", junk, sizeof(junk), false, true, NULL, 0), LT_EINVAL);
    free(v);
    CU_ASSERT_EQUAL(store_digest(s), d);
    /* upsert (neither create nor update) creates, then replaces */
    v = item_bytes("k3", "three", 0, "", false, &len);
    CU_ASSERT_EQUAL(apply_raw(s, 12, "items", v, len, false, false, NULL, 0), 0);
    CU_ASSERT_EQUAL(apply_raw(s, 13, "items", v, len, false, false, NULL, 0), 0);
    free(v);
    Lithair__V1__PlaygroundItem *it = get_item(s, "k3", NULL);
    CU_ASSERT_EQUAL(it->version, 2);
    lithair__v1__playground_item__free_unpacked(it, NULL);
    store_free(s);
}

/* A committed entry is applied as it was accepted, even where today's field rules would
 * refuse it (a rule made stricter after the entry was written: strict UTF-8, duplicate JSON
 * keys): the leader checks the rules when it prepares a command, and a replay must not drop
 * what an earlier build acknowledged. Every replica gives the same result. */
static void test_apply_keeps_committed_entries(void)
{
    struct store *a = new_store(), *b = new_store();
    struct model_violations viol = {0};
    struct model_prepared p = {0};
    const char *mask[] = {"name"};
    const char *meta_mask[] = {"metadata"};
    size_t len;
    uint8_t *v = item_bytes("k1", "", 0, "", false, &len); /* empty name */
    /* the rule still holds where writes are admitted */
    CU_ASSERT_EQUAL(models_prepare_create(models_find("items"), v, len, BASE_NS, 1, &viol, &p),
                    LT_EINVAL);
    CU_ASSERT_EQUAL(viol.n, 1);
    CU_ASSERT_EQUAL(apply_raw(a, 1, "items", v, len, true, false, NULL, 0), 0);
    CU_ASSERT_EQUAL(apply_raw(b, 1, "items", v, len, true, false, NULL, 0), 0);
    free(v);
    v = item_bytes("k2", "caf\xc0\xa9", 0, "", false, &len); /* an overlong form: not UTF-8 */
    CU_ASSERT_EQUAL(apply_raw(a, 2, "items", v, len, true, false, NULL, 0), 0);
    CU_ASSERT_EQUAL(apply_raw(b, 2, "items", v, len, true, false, NULL, 0), 0);
    free(v);
    v = item_bytes("k3", "three", 0, "", false, &len);
    CU_ASSERT_EQUAL(apply_raw(a, 3, "items", v, len, true, false, NULL, 0), 0);
    CU_ASSERT_EQUAL(apply_raw(b, 3, "items", v, len, true, false, NULL, 0), 0);
    free(v);
    v = item_bytes("k3", "", 0, "", false, &len); /* a mask that empties the name */
    CU_ASSERT_EQUAL(apply_raw(a, 4, "items", v, len, false, true, mask, 1), 0);
    CU_ASSERT_EQUAL(apply_raw(b, 4, "items", v, len, false, true, mask, 1), 0);
    free(v);
    Lithair__V1__PlaygroundItem it = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
    uint8_t buf[256];
    it.id = "k3";
    it.metadata = "{\"a\":1,\"a\":2}"; /* a key twice */
    len = lithair__v1__playground_item__pack(&it, buf);
    CU_ASSERT_EQUAL(apply_raw(a, 5, "items", buf, len, false, true, meta_mask, 1), 0);
    CU_ASSERT_EQUAL(apply_raw(b, 5, "items", buf, len, false, true, meta_mask, 1), 0);
    CU_ASSERT_EQUAL(store_digest(a), store_digest(b));
    Lithair__V1__PlaygroundItem *got = get_item(a, "k2", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got->name, "caf\xc0\xa9");
    CU_ASSERT_EQUAL(got->version, 1);
    lithair__v1__playground_item__free_unpacked(got, NULL);
    got = get_item(a, "k3", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got->name, "");
    CU_ASSERT_STRING_EQUAL(got->metadata, "{\"a\":1,\"a\":2}");
    CU_ASSERT_EQUAL(got->version, 3);
    lithair__v1__playground_item__free_unpacked(got, NULL);
    CU_ASSERT_EQUAL(count_items(a, "name", "", false), 2);
    store_free(a);
    store_free(b);
}

static void test_delete_purge(void)
{
    struct store *s = new_store();
    char id[16];
    uint64_t purged = 0;
    for (int i = 0; i < 15; i++) {
        snprintf(id, sizeof(id), "k%02d", i);
        CU_ASSERT_EQUAL(do_create(s, (uint64_t)i + 1, id, id, i % 3, i % 3 == 0), 0);
    }
    CU_ASSERT_EQUAL(count_items(s, NULL, NULL, true), 15);
    CU_ASSERT_EQUAL(count_items(s, NULL, NULL, false), 10);
    CU_ASSERT_EQUAL(count_items(s, "status", "DRAFT", true), 5);
    CU_ASSERT_EQUAL(count_items(s, "status", "DRAFT", false), 0);
    struct store_page page;
    struct store_query q = {.model = "items", .include_benchmark = false};
    CU_ASSERT_EQUAL(store_list(s, &q, &page), 0);
    CU_ASSERT_EQUAL(page.n, 10);
    CU_ASSERT_EQUAL(page.total, 10);
    CU_ASSERT_PTR_NULL(page.next_cursor);
    store_page_fini(&page);
    CU_ASSERT_EQUAL(do_delete(s, 20, "items", "k01", 0), 0);
    /* a purge with a limit deletes the first benchmark records in key order (the node
     * purges in chunks): k00 and k03 of k00, k03, k06, k09, k12 */
    CU_ASSERT_EQUAL(do_purge(s, 21, 2, &purged), 0);
    CU_ASSERT_EQUAL(purged, 2);
    CU_ASSERT_EQUAL(count_items(s, NULL, NULL, true), 12);
    CU_ASSERT_EQUAL(store_get(s, "items", "k03", &(struct store_record *){NULL}), LT_ENOTFOUND);
    struct store_record *k06 = NULL;
    CU_ASSERT_EQUAL(store_get(s, "items", "k06", &k06), 0);
    store_record_free(k06);
    CU_ASSERT_EQUAL(do_purge(s, 21, 0, &purged), 0);
    CU_ASSERT_EQUAL(purged, 3);
    CU_ASSERT_EQUAL(count_items(s, NULL, NULL, true), 9);
    CU_ASSERT_EQUAL(count_items(s, "status", "DRAFT", true), 0);
    CU_ASSERT_EQUAL(store_get(s, "items", "k00", &(struct store_record *){NULL}), LT_ENOTFOUND);
    CU_ASSERT_EQUAL(do_purge(s, 22, 0, &purged), 0);
    CU_ASSERT_EQUAL(purged, 0);
    /* the benchmark flag can be cleared by an update, and counts follow */
    CU_ASSERT_EQUAL(do_create(s, 23, "b1", "b1", 1, true), 0);
    CU_ASSERT_EQUAL(count_items(s, "status", "ACTIVE", false), 4);
    CU_ASSERT_EQUAL(count_items(s, "status", "ACTIVE", true), 5);
    const char *mask[] = {"benchmark"};
    CU_ASSERT_EQUAL(do_update(s, 24, "b1", "", 0, "", mask, 1, 0, NULL), 0);
    CU_ASSERT_EQUAL(count_items(s, "status", "ACTIVE", false), 5);
    CU_ASSERT_EQUAL(count_items(s, NULL, NULL, false), 10);
    CU_ASSERT_EQUAL(do_purge(s, 25, 0, &purged), 0);
    CU_ASSERT_EQUAL(purged, 0);
    store_free(s);
}

/* ---- indexes ---- */

static size_t list_ids(struct store *s, const char *index, const char *equals, char ids[][16],
                       size_t max)
{
    struct store_page page;
    struct store_query q = {.model = "items",
                            .index = index,
                            .equals = equals,
                            .limit = 1000,
                            .include_benchmark = true};
    size_t n = 0;
    CU_ASSERT_EQUAL_FATAL(store_list(s, &q, &page), 0);
    CU_ASSERT_EQUAL(page.total, page.n);
    for (size_t i = 0; i < page.n && n < max; i++) {
        Lithair__V1__PlaygroundItem *it = lithair__v1__playground_item__unpack(
            NULL, page.records[i]->len, page.records[i]->value);
        CU_ASSERT_PTR_NOT_NULL_FATAL(it);
        snprintf(ids[n++], 16, "%s", it->id);
        lithair__v1__playground_item__free_unpacked(it, NULL);
    }
    store_page_fini(&page);
    return n;
}

static void test_indexes_follow(void)
{
    struct store *s = new_store();
    char ids[8][16];
    CU_ASSERT_EQUAL(do_create(s, 1, "a", "lamp", 0, false), 0);
    CU_ASSERT_EQUAL(do_create(s, 2, "b", "desk", 1, false), 0);
    CU_ASSERT_EQUAL(do_create(s, 3, "c", "lamp", 1, false), 0);
    CU_ASSERT_EQUAL(count_items(s, "status", "ACTIVE", true), 2);
    CU_ASSERT_EQUAL(count_items(s, "status", "1", true), 2);
    CU_ASSERT_EQUAL(count_items(s, "status", "draft", true), 1);
    CU_ASSERT_EQUAL(count_items(s, "name", "lamp", true), 2);
    CU_ASSERT_EQUAL(count_items(s, "name", "chair", true), 0);
    CU_ASSERT_EQUAL(list_ids(s, "status", "ACTIVE", ids, 8), 2);
    CU_ASSERT_STRING_EQUAL(ids[0], "b");
    CU_ASSERT_STRING_EQUAL(ids[1], "c");
    /* status change moves the record between index values */
    const char *mask[] = {"status"};
    CU_ASSERT_EQUAL(do_update(s, 4, "b", "", 2, "", mask, 1, 0, NULL), 0);
    CU_ASSERT_EQUAL(count_items(s, "status", "ACTIVE", true), 1);
    CU_ASSERT_EQUAL(count_items(s, "status", "ARCHIVED", true), 1);
    CU_ASSERT_EQUAL(list_ids(s, "status", "ACTIVE", ids, 8), 1);
    CU_ASSERT_STRING_EQUAL(ids[0], "c");
    CU_ASSERT_EQUAL(list_ids(s, "status", "ARCHIVED", ids, 8), 1);
    CU_ASSERT_STRING_EQUAL(ids[0], "b");
    /* a rename moves it in the name index; an update not touching it leaves it */
    const char *mask2[] = {"name"};
    CU_ASSERT_EQUAL(do_update(s, 5, "a", "chair", 0, "", mask2, 1, 0, NULL), 0);
    CU_ASSERT_EQUAL(list_ids(s, "name", "lamp", ids, 8), 1);
    CU_ASSERT_STRING_EQUAL(ids[0], "c");
    CU_ASSERT_EQUAL(list_ids(s, "name", "chair", ids, 8), 1);
    CU_ASSERT_EQUAL(
        do_update(s, 6, "a", "", 0, "new desc", (const char *[]){"description"}, 1, 0, NULL), 0);
    CU_ASSERT_EQUAL(list_ids(s, "name", "chair", ids, 8), 1);
    /* delete removes it from every index */
    CU_ASSERT_EQUAL(do_delete(s, 7, "items", "c", 0), 0);
    CU_ASSERT_EQUAL(list_ids(s, "name", "lamp", ids, 8), 0);
    CU_ASSERT_EQUAL(list_ids(s, "status", "ACTIVE", ids, 8), 0);
    CU_ASSERT_EQUAL(count_items(s, "status", "ACTIVE", true), 0);
    CU_ASSERT_EQUAL(list_ids(s, NULL, NULL, ids, 8), 2);
    /* bad queries */
    struct store_page page;
    struct store_query q = {.model = "items", .index = "description", .equals = "x"};
    CU_ASSERT_EQUAL(store_list(s, &q, &page), LT_EINVAL);
    q.index = "status";
    q.equals = "BOGUS";
    CU_ASSERT_EQUAL(store_list(s, &q, &page), LT_EINVAL);
    q.index = NULL;
    q.cursor = "zz";
    CU_ASSERT_EQUAL(store_list(s, &q, &page), LT_EINVAL);
    q.cursor = NULL;
    q.model = "nomodel";
    CU_ASSERT_EQUAL(store_list(s, &q, &page), LT_EINVAL);
    uint64_t n;
    CU_ASSERT_EQUAL(store_count(s, "items", "nope", "x", true, &n), LT_EINVAL);
    /* sessions are indexed by user */
    Lithair__V1__Session ses = LITHAIR__V1__SESSION__INIT;
    uint8_t buf[256];
    struct model_prepared p = {0};
    ses.id = "tok1";
    ses.user_id = "alice";
    size_t len = lithair__v1__session__pack(&ses, buf);
    CU_ASSERT_EQUAL(models_prepare_create(models_find("sessions"), buf, len, BASE_NS, 1, NULL, &p),
                    0);
    CU_ASSERT_EQUAL(apply_prepared(s, 8, &p, NULL), 0);
    CU_ASSERT_EQUAL(store_count(s, "sessions", "userId", "alice", true, &n), 0);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(store_records_total(s), 3);
    store_free(s);
}

/* ---- pagination ---- */

/* page_all walks every page (limit per page); between pages it calls `between`. Returns the
 * ids seen, in order, in `seen` (index into a pool of n ids: "p%04d"). */
static void check_pages(struct store *s, const char *index, const char *equals, uint32_t limit,
                        int n, bool delete_between, uint64_t seed)
{
    int *seen = calloc((size_t)n + 64, sizeof(int));
    bool *deleted = calloc((size_t)n + 64, sizeof(bool));
    char cursor[256] = "";
    char last[32] = "";
    uint64_t idx = 100000, rnd = seed * 2 + 1;
    int pages = 0;
    for (;;) {
        struct store_page page;
        struct store_query q = {.model = "items",
                                .index = index,
                                .equals = equals,
                                .cursor = cursor,
                                .limit = limit,
                                .include_benchmark = true};
        CU_ASSERT_EQUAL_FATAL(store_list(s, &q, &page), 0);
        CU_ASSERT_TRUE(page.n <= limit);
        for (size_t i = 0; i < page.n; i++) {
            Lithair__V1__PlaygroundItem *it = lithair__v1__playground_item__unpack(
                NULL, page.records[i]->len, page.records[i]->value);
            int k = atoi(it->id + 1);
            CU_ASSERT(strcmp(it->id, last) > 0); /* strictly increasing: no duplicates */
            snprintf(last, sizeof(last), "%s", it->id);
            if (k >= 0 && k < n + 64)
                seen[k]++;
            if (index != NULL)
                CU_ASSERT_EQUAL(it->status, atoi(equals));
            lithair__v1__playground_item__free_unpacked(it, NULL);
        }
        pages++;
        if (page.next_cursor == NULL) {
            store_page_fini(&page);
            break;
        }
        CU_ASSERT_EQUAL(page.n, limit);
        snprintf(cursor, sizeof(cursor), "%s", page.next_cursor);
        store_page_fini(&page);
        if (delete_between) {
            /* delete the record the cursor names, and two at random; create one */
            char id[16];
            int k = atoi(last + 1);
            if (!deleted[k] && do_delete(s, idx++, "items", last, 0) == 0)
                deleted[k] = true;
            for (int j = 0; j < 2; j++) {
                rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
                k = (int)((rnd >> 33) % (uint64_t)n);
                snprintf(id, sizeof(id), "p%04d", k);
                if (!deleted[k] && do_delete(s, idx++, "items", id, 0) == 0)
                    deleted[k] = true;
            }
            snprintf(id, sizeof(id), "p%04d", n + pages % 64);
            (void)do_create(s, idx++, id, id, 1, false);
        }
        CU_ASSERT_FATAL(pages < 10000);
    }
    for (int k = 0; k < n; k++) {
        bool match = index == NULL || k % 3 == atoi(equals);
        CU_ASSERT(seen[k] <= 1);
        if (match && !deleted[k])
            CU_ASSERT_EQUAL(seen[k], 1); /* existed throughout: seen exactly once */
        if (!match)
            CU_ASSERT_EQUAL(seen[k], 0);
    }
    free(seen);
    free(deleted);
}

static struct store *store_with_pool(int n)
{
    struct store *s = new_store();
    char id[16];
    for (int k = 0; k < n; k++) {
        snprintf(id, sizeof(id), "p%04d", k);
        CU_ASSERT_EQUAL(do_create(s, (uint64_t)k + 1, id, id, k % 3, false), 0);
    }
    return s;
}

static void test_pagination(void)
{
    struct store *s = store_with_pool(250);
    check_pages(s, NULL, NULL, 7, 250, false, 1);
    check_pages(s, NULL, NULL, 250, 250, false, 1);
    check_pages(s, NULL, NULL, 1000, 250, false, 1);
    check_pages(s, "status", "1", 9, 250, false, 1);
    check_pages(s, "status", "0", 1, 250, false, 1);
    /* limit 0 means 100 */
    struct store_page page;
    struct store_query q = {.model = "items", .include_benchmark = true};
    CU_ASSERT_EQUAL(store_list(s, &q, &page), 0);
    CU_ASSERT_EQUAL(page.n, 100);
    CU_ASSERT_EQUAL(page.total, 250);
    CU_ASSERT_PTR_NOT_NULL(page.next_cursor);
    store_page_fini(&page);
    store_free(s);
}

static void test_pagination_with_deletes(void)
{
    uint64_t seed = tu_seed("pagination_with_deletes");
    struct store *s = store_with_pool(300);
    check_pages(s, NULL, NULL, 10, 300, true, seed);
    store_free(s);
    s = store_with_pool(300);
    check_pages(s, "status", "2", 4, 300, true, seed + 1);
    store_free(s);
}

/* A page of large records ends at 8 MiB of values, with a cursor to the rest: 1000
 * records of ~64 KiB made a reply the gateway's RPC client dropped (over 64 MiB). Every
 * record is still listed once, in order, by following the cursors. */
static void test_pagination_large_records(void)
{
    struct store *s = new_store();
    size_t big = 64000;
    char *meta = malloc(big + 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(meta);
    meta[0] = '"';
    memset(meta + 1, 'm', big);
    meta[big + 1] = '"';
    meta[big + 2] = '\0';
    for (uint64_t i = 0; i < 300; i++) {
        Lithair__V1__PlaygroundItem it = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
        char id[16];
        snprintf(id, sizeof(id), "r%03llu", (unsigned long long)i);
        it.id = id;
        it.name = id;
        it.metadata = meta;
        size_t len = lithair__v1__playground_item__get_packed_size(&it);
        uint8_t *v = malloc(len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v);
        lithair__v1__playground_item__pack(&it, v);
        struct model_prepared p = {0};
        int rc = models_prepare_create(models_find("items"), v, len, BASE_NS + i + 1, 1, NULL, &p);
        free(v);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT_EQUAL_FATAL(apply_prepared(s, i + 1, &p, NULL), 0);
    }
    free(meta);
    char cursor[256] = "";
    size_t seen = 0, pages = 0;
    for (; pages < 10; pages++) {
        struct store_page page;
        struct store_query q = {.model = "items", .limit = 1000, .cursor = cursor};
        CU_ASSERT_EQUAL_FATAL(store_list(s, &q, &page), 0);
        size_t bytes = 0;
        for (size_t i = 0; i < page.n; i++) {
            Lithair__V1__PlaygroundItem *it = lithair__v1__playground_item__unpack(
                NULL, page.records[i]->len, page.records[i]->value);
            CU_ASSERT_PTR_NOT_NULL_FATAL(it);
            char want[16];
            snprintf(want, sizeof(want), "r%03zu", seen + i);
            CU_ASSERT_STRING_EQUAL(it->id, want);
            lithair__v1__playground_item__free_unpacked(it, NULL);
            bytes += page.records[i]->len;
        }
        CU_ASSERT(page.n > 0);
        CU_ASSERT(bytes <= (8u << 20));
        CU_ASSERT_EQUAL(page.total, 300);
        seen += page.n;
        bool last = page.next_cursor == NULL;
        if (!last) {
            CU_ASSERT(page.n < 300);
            snprintf(cursor, sizeof(cursor), "%s", page.next_cursor);
        }
        store_page_fini(&page);
        if (last)
            break;
    }
    CU_ASSERT_EQUAL(seen, 300);
    CU_ASSERT(pages >= 2); /* 300 x 64 KB is over one page's 8 MiB */
    store_free(s);
}

/* ---- history ---- */

static void test_history(void)
{
    struct store *s = new_store();
    struct store_record **h;
    size_t n;
    char name[16];
    CU_ASSERT_EQUAL(do_create(s, 1, "k1", "v1", 0, false), 0);
    CU_ASSERT_EQUAL(store_history(s, "items", "k1", &h, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(h[0]->op, STORE_OP_CREATE);
    CU_ASSERT_EQUAL(h[0]->version, 1);
    store_record_free(h[0]);
    free(h);
    for (int i = 2; i <= 21; i++) {
        snprintf(name, sizeof(name), "v%d", i);
        CU_ASSERT_EQUAL(do_update(s, (uint64_t)i, "k1", name, 0, "", NULL, 0, 0, NULL), 0);
    }
    CU_ASSERT_EQUAL(store_history(s, "items", "k1", &h, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 16);
    for (size_t i = 0; i < n; i++) {
        Lithair__V1__PlaygroundItem *it =
            lithair__v1__playground_item__unpack(NULL, h[i]->len, h[i]->value);
        CU_ASSERT_EQUAL(h[i]->version, 6 + i); /* oldest first: 6..21 */
        CU_ASSERT_EQUAL(h[i]->raft_index, 6 + i);
        CU_ASSERT_EQUAL(h[i]->op, STORE_OP_UPDATE);
        CU_ASSERT_EQUAL(it->version, 6 + i);
        snprintf(name, sizeof(name), "v%zu", 6 + i);
        CU_ASSERT_STRING_EQUAL(it->name, name);
        lithair__v1__playground_item__free_unpacked(it, NULL);
    }
    for (size_t i = 0; i < n; i++)
        store_record_free(h[i]);
    free(h);
    /* a failed update leaves no trace */
    CU_ASSERT_EQUAL(do_update(s, 30, "k1", "x", 0, "", NULL, 0, 3, NULL), LT_ECONFLICT);
    CU_ASSERT_EQUAL(store_history(s, "items", "k1", &h, &n), 0);
    CU_ASSERT_EQUAL(n, 16);
    for (size_t i = 0; i < n; i++)
        store_record_free(h[i]);
    free(h);
    /* a deleted record's history goes with it */
    CU_ASSERT_EQUAL(do_delete(s, 31, "items", "k1", 0), 0);
    CU_ASSERT_EQUAL(store_history(s, "items", "k1", &h, &n), LT_ENOTFOUND);
    CU_ASSERT_EQUAL(store_history(s, "nomodel", "k1", &h, &n), LT_EINVAL);
    /* models without history give the current version */
    Lithair__V1__User u = LITHAIR__V1__USER__INIT;
    uint8_t buf[256];
    struct model_prepared p = {0};
    u.id = "alice";
    u.password_hash = "$argon2id$x";
    size_t len = lithair__v1__user__pack(&u, buf);
    CU_ASSERT_EQUAL(models_prepare_create(models_find("users"), buf, len, BASE_NS, 1, NULL, &p), 0);
    CU_ASSERT_EQUAL(apply_prepared(s, 40, &p, NULL), 0);
    u.role = LITHAIR__V1__ROLE__ROLE_ADMIN;
    len = lithair__v1__user__pack(&u, buf);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(models_prepare_update(models_find("users"), "alice", buf, len, NULL, 0, 0,
                                              NULL, BASE_NS, 1, NULL, &p),
                        0);
        CU_ASSERT_EQUAL(apply_prepared(s, 41 + (uint64_t)i, &p, NULL), 0);
    }
    CU_ASSERT_EQUAL(store_history(s, "users", "alice", &h, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(h[0]->version, 4);
    store_record_free(h[0]);
    free(h);
    store_free(s);
}

/* ---- snapshots ---- */

struct membuf {
    uint8_t *data;
    size_t len, cap, pos, limit;
};

static int mem_write(void *ctx, const void *buf, size_t len)
{
    struct membuf *m = ctx;
    if (m->len + len > m->cap) {
        size_t cap = (m->cap + len) * 2;
        uint8_t *d = realloc(m->data, cap);
        if (d == NULL)
            return LT_ENOMEM;
        m->data = d;
        m->cap = cap;
    }
    memcpy(m->data + m->len, buf, len);
    m->len += len;
    return 0;
}

static int mem_read(void *ctx, void *buf, size_t len)
{
    struct membuf *m = ctx;
    if (m->pos + len > m->limit)
        return LT_ECORRUPT;
    memcpy(buf, m->data + m->pos, len);
    m->pos += len;
    return 0;
}

static int fail_write(void *ctx, const void *buf, size_t len)
{
    int *left = ctx;
    return (*left)-- > 0 ? 0 : LT_EIO;
}

/* build_random_from applies `n` random commands (seeded) at log indexes first, first+1, ...
 * to `s` and, if given, to `t` (with store_apply_norecord), checking that both give the
 * same results. */
static void build_random_from(struct store *s, struct store *t, uint64_t seed, uint64_t first,
                              int n)
{
    uint64_t rnd = seed * 2 + 1;
    int codes[8] = {0};
    for (int i = 0; i < n; i++) {
        struct model_prepared p = {0};
        char id[16], name[32];
        uint64_t r;
        size_t len;
        uint8_t *v;
        int rc = 0;
        rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
        r = rnd >> 20;
        snprintf(id, sizeof(id), "r%02u", (unsigned)(r % 40));
        snprintf(name, sizeof(name), "n%u", (unsigned)((r >> 8) % 7));
        int status = (int)((r >> 12) % 3);
        bool bench = ((r >> 14) % 4) == 0;
        uint64_t expect = ((r >> 16) % 3) == 0 ? (r >> 18) % 4 : 0;
        switch ((r >> 24) % 20) {
        case 0: /* purge */
            rc = models_prepare_purge(models_find("items"), 0, BASE_NS + (uint64_t)i, 1, &p);
            break;
        case 1:
        case 2:
        case 3: /* delete */
            rc = models_prepare_delete(models_find("items"), id, expect, NULL,
                                       BASE_NS + (uint64_t)i, 1, NULL, &p);
            break;
        case 4:
        case 5:
        case 6:
        case 7: { /* masked update */
            const char *masks[][2] = {{"status", NULL}, {"name", "description"}, {"benchmark"}};
            size_t which = (r >> 30) % 3;
            /* an update may clear the benchmark flag, never set it (models_prepare_update) */
            v = item_bytes("", name, status, name, false, &len);
            rc = models_prepare_update(models_find("items"), id, v, len, masks[which],
                                       which == 1 ? 2 : 1, expect, NULL, BASE_NS + (uint64_t)i, 1,
                                       NULL, &p);
            free(v);
            break;
        }
        case 8:
        case 9:
        case 10:
            v = item_bytes("", name, status, "", false, &len);
            rc = models_prepare_update(models_find("items"), id, v, len, NULL, 0, expect, NULL,
                                       BASE_NS + (uint64_t)i, 1, NULL, &p);
            free(v);
            break;
        default:
            v = item_bytes(id, name, status, "", bench, &len);
            rc = models_prepare_create(models_find("items"), v, len, BASE_NS + (uint64_t)i, 1, NULL,
                                       &p);
            free(v);
            break;
        }
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        struct store_result a, b;
        int ra = store_apply(s, first + (uint64_t)i, 3, p.cmd, p.cmd_len, &a);
        if (t != NULL) {
            /* the replica applies without the record copy: the same outcome, no record */
            int rb = store_apply_norecord(t, first + (uint64_t)i, 3, p.cmd, p.cmd_len, &b);
            CU_ASSERT_EQUAL(ra, rb);
            CU_ASSERT_EQUAL(a.code, b.code);
            CU_ASSERT_EQUAL(a.op, b.op);
            CU_ASSERT_EQUAL(a.version, b.version);
            CU_ASSERT_EQUAL(a.purged, b.purged);
            CU_ASSERT((a.id == NULL) == (b.id == NULL));
            if (a.id && b.id)
                CU_ASSERT_STRING_EQUAL(a.id, b.id);
            CU_ASSERT_PTR_NULL(b.record);
            if (ra == 0 &&
                (a.op == STORE_OP_CREATE || a.op == STORE_OP_UPDATE || a.op == STORE_OP_DELETE))
                CU_ASSERT_PTR_NOT_NULL(a.record);
            store_result_fini(&b);
        }
        codes[-ra < 8 ? -ra : 7]++;
        store_result_fini(&a);
        models_prepared_fini(&p);
    }
    /* the mix exercises successes and every kind of failure */
    CU_ASSERT(codes[0] > 0);
    if (n >= 1000) {
        CU_ASSERT(codes[-LT_EEXIST] > 0);
        CU_ASSERT(codes[-LT_ENOTFOUND] > 0);
        CU_ASSERT(codes[-LT_ECONFLICT] > 0);
    }
}

static void build_random(struct store *s, struct store *t, uint64_t seed, int n)
{
    build_random_from(s, t, seed, 1, n);
}

static void test_snapshot_roundtrip(void)
{
    struct store *s = new_store(), *t = new_store();
    struct membuf m = {0};
    build_random(s, NULL, 42, 3000);
    for (int i = 0; i < 30; i++) /* deep histories too */
        (void)do_update(s, 5000 + (uint64_t)i, "r01", "deep", 1, "", NULL, 0, 0, NULL);
    CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &m), 0);
    m.limit = m.len;
    CU_ASSERT_EQUAL(store_snapshot_read(t, mem_read, &m), 0);
    CU_ASSERT_EQUAL(m.pos, m.len);
    CU_ASSERT_EQUAL(store_digest(t), store_digest(s));
    CU_ASSERT_EQUAL(count_items(t, "status", "ACTIVE", false),
                    count_items(s, "status", "ACTIVE", false));
    CU_ASSERT_EQUAL(count_items(t, NULL, NULL, false), count_items(s, NULL, NULL, false));
    CU_ASSERT_EQUAL(store_records_total(t), store_records_total(s));
    uint64_t i1, t1, i2, t2;
    store_applied(s, &i1, &t1);
    store_applied(t, &i2, &t2);
    CU_ASSERT_EQUAL(i1, i2);
    CU_ASSERT_EQUAL(t1, t2);
    /* both keep going identically */
    CU_ASSERT_EQUAL(do_update(s, 9000, "r01", "after", 2, "", NULL, 0, 0, NULL),
                    do_update(t, 9000, "r01", "after", 2, "", NULL, 0, 0, NULL));
    CU_ASSERT_EQUAL(store_digest(t), store_digest(s));
    /* a second snapshot of the restored store is byte-identical */
    struct membuf m2 = {0}, m3 = {0};
    CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &m2), 0);
    CU_ASSERT_EQUAL(store_snapshot_write(t, mem_write, &m3), 0);
    CU_ASSERT_EQUAL_FATAL(m2.len, m3.len);
    CU_ASSERT_EQUAL(memcmp(m2.data, m3.data, m2.len), 0);
    /* an empty store's snapshot restores to empty, replacing the content */
    struct store *e = new_store();
    struct membuf m4 = {0};
    CU_ASSERT_EQUAL(store_snapshot_write(e, mem_write, &m4), 0);
    m4.limit = m4.len;
    CU_ASSERT_EQUAL(store_snapshot_read(t, mem_read, &m4), 0);
    CU_ASSERT_EQUAL(store_digest(t), store_digest(e));
    CU_ASSERT_EQUAL(store_records_total(t), 0);
    /* a failing writer's error is returned */
    int left = 3;
    CU_ASSERT_EQUAL(store_snapshot_write(s, fail_write, &left), LT_EIO);
    free(m.data);
    free(m2.data);
    free(m3.data);
    free(m4.data);
    store_free(e);
    store_free(s);
    store_free(t);
}

static void test_snapshot_corrupt(void)
{
    struct store *s = new_store(), *t = new_store();
    struct membuf m = {0};
    build_random(s, NULL, 7, 400);
    CU_ASSERT_EQUAL(do_create(t, 1, "keep", "keep", 0, false), 0);
    uint64_t d = store_digest(t);
    CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &m), 0);
    /* truncated at many lengths */
    size_t step = m.len / 150 + 1;
    for (size_t cut = 0; cut < m.len; cut += step) {
        m.pos = 0;
        m.limit = cut;
        CU_ASSERT_EQUAL(store_snapshot_read(t, mem_read, &m), LT_ECORRUPT);
    }
    m.pos = 0;
    m.limit = m.len - 1;
    CU_ASSERT_EQUAL(store_snapshot_read(t, mem_read, &m), LT_ECORRUPT);
    /* one flipped byte anywhere */
    for (size_t at = 0; at < m.len; at += step) {
        m.data[at] ^= 0x5a;
        m.pos = 0;
        m.limit = m.len;
        CU_ASSERT_EQUAL(store_snapshot_read(t, mem_read, &m), LT_ECORRUPT);
        m.data[at] ^= 0x5a;
    }
    CU_ASSERT_EQUAL(store_digest(t), d);
    Lithair__V1__PlaygroundItem *it = get_item(t, "keep", NULL);
    CU_ASSERT_PTR_NOT_NULL(it);
    lithair__v1__playground_item__free_unpacked(it, NULL);
    /* the intact input still restores */
    m.pos = 0;
    m.limit = m.len;
    CU_ASSERT_EQUAL(store_snapshot_read(t, mem_read, &m), 0);
    CU_ASSERT_EQUAL(store_digest(t), store_digest(s));
    free(m.data);
    store_free(s);
    store_free(t);
}

/* ---- snapshots loaded in place (store_snapshot_load) ---- */

static int released; /* release callbacks seen */

static void count_release(void *ctx)
{
    CU_ASSERT_PTR_NOT_NULL(ctx);
    released++;
}

/* The memory form: versions point into the caller's memory, which is released once when
 * the last of them is gone — and at once when a load fails or keeps nothing. */
static void test_snapshot_load(void)
{
    struct store *s = new_store(), *t = new_store(), *u = new_store();
    struct membuf m = {0};
    build_random(s, u, 77, 3000);
    CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &m), 0);
    uint8_t *mem = malloc(m.len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
    memcpy(mem, m.data, m.len);

    released = 0;
    CU_ASSERT_EQUAL(store_snapshot_load(t, mem, m.len, count_release, mem), 0);
    CU_ASSERT_EQUAL(released, 0); /* the store points into it */
    CU_ASSERT_EQUAL(store_digest(t), store_digest(s));
    CU_ASSERT_EQUAL(store_records_total(t), store_records_total(s));
    const char *statuses[] = {"DRAFT", "ACTIVE", "ARCHIVED"};
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(count_items(t, "status", statuses[i], false),
                        count_items(s, "status", statuses[i], false));
        CU_ASSERT_EQUAL(count_items(t, "status", statuses[i], true),
                        count_items(s, "status", statuses[i], true));
    }
    for (int i = 0; i < 7; i++) {
        char name[8];
        snprintf(name, sizeof(name), "n%d", i);
        CU_ASSERT_EQUAL(count_items(t, "name", name, true), count_items(s, "name", name, true));
    }
    /* both go on identically (updates replace borrowed versions, deletes drop them) */
    build_random(s, t, 78, 3000);
    CU_ASSERT_EQUAL(store_digest(t), store_digest(s));
    /* a snapshot of the loaded store is the original's, byte for byte */
    struct membuf m2 = {0}, m3 = {0};
    CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &m2), 0);
    CU_ASSERT_EQUAL(store_snapshot_write(t, mem_write, &m3), 0);
    CU_ASSERT_EQUAL_FATAL(m2.len, m3.len);
    CU_ASSERT_EQUAL(memcmp(m2.data, m3.data, m2.len), 0);
    rcu_barrier();
    CU_ASSERT(released <= 1); /* 1 if every borrowed version was replaced or deleted */
    /* another restore replaces the state: the old versions go, and the memory with them */
    CU_ASSERT_EQUAL(store_snapshot_load(t, m3.data, m3.len, count_release, m3.data), 0);
    rcu_barrier(); /* versions replaced earlier are freed by call_rcu callbacks */
    CU_ASSERT_EQUAL(released, 1);
    free(mem);
    mem = NULL;
    store_free(t);
    rcu_barrier();
    CU_ASSERT_EQUAL(released, 2);

    /* truncated, longer, or one flipped byte: corrupt, unchanged, released at once */
    t = new_store();
    CU_ASSERT_EQUAL(do_create(t, 1, "keep", "keep", 0, false), 0);
    uint64_t d = store_digest(t);
    size_t step = m.len / 120 + 1;
    int cases = 0;
    released = 0;
    for (size_t cut = 0; cut < m.len; cut += step, cases++)
        CU_ASSERT_EQUAL(store_snapshot_load(t, m.data, cut, count_release, m.data), LT_ECORRUPT);
    uint8_t *longer = malloc(m.len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(longer);
    memcpy(longer, m.data, m.len);
    longer[m.len] = 0;
    CU_ASSERT_EQUAL(store_snapshot_load(t, longer, m.len + 1, count_release, longer), LT_ECORRUPT);
    cases++;
    free(longer);
    for (size_t at = 0; at < m.len; at += step, cases++) {
        m.data[at] ^= 0x5a;
        CU_ASSERT_EQUAL(store_snapshot_load(t, m.data, m.len, count_release, m.data), LT_ECORRUPT);
        m.data[at] ^= 0x5a;
    }
    rcu_barrier();
    CU_ASSERT_EQUAL(released, cases);
    CU_ASSERT_EQUAL(store_digest(t), d);

    /* out of memory at every allocation in turn: nothing changes, released every time */
    int rc = LT_ENOMEM, failures = 0;
    released = 0;
    for (int nth = 1; nth < 2000 && rc == LT_ENOMEM; nth++) {
        store_fault_inject(nth);
        rc = store_snapshot_load(t, m.data, m.len, count_release, m.data);
        store_fault_inject(0);
        if (rc == LT_ENOMEM) {
            CU_ASSERT_EQUAL(store_digest(t), d);
            failures++;
        }
    }
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(failures > 10);
    rcu_barrier();
    CU_ASSERT_EQUAL(released, failures);
    CU_ASSERT_EQUAL(store_digest(t), store_digest(u));

    /* an empty store's snapshot keeps nothing: released before the call returns */
    struct store *e = new_store();
    struct membuf me = {0};
    CU_ASSERT_EQUAL(store_snapshot_write(e, mem_write, &me), 0);
    released = 0;
    CU_ASSERT_EQUAL(store_snapshot_load(t, me.data, me.len, count_release, me.data), 0);
    rcu_barrier(); /* t's previous versions borrowed from m.data */
    CU_ASSERT_EQUAL(released, 2);
    CU_ASSERT_EQUAL(store_records_total(t), 0);
    free(me.data);
    free(m.data);
    free(m2.data);
    free(m3.data);
    store_free(e);
    store_free(t);
    store_free(u);
    store_free(s);
}

/* set_crc rewrites a snapshot's trailing CRC32C after a test changed its bytes. */
static void set_crc(uint8_t *data, size_t len)
{
    uint32_t crc = crc32c(data, len - 4);
    for (int i = 0; i < 4; i++)
        data[len - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
}

/* positions_at finds the first index's positions in a one-model LTSTORE3 snapshot. */
static uint8_t *positions_at(uint8_t *d, size_t len)
{
    size_t off = 8 + 4; /* magic, n_models */
    off += 2 + (size_t)(d[off] | d[off + 1] << 8);
    size_t n_ix = (size_t)(d[off] | d[off + 1] << 8);
    off += 2;
    for (size_t i = 0; i < n_ix; i++)
        off += 2 + (size_t)(d[off] | d[off + 1] << 8);
    off += 8; /* n_records */
    CU_ASSERT_FATAL(off < len);
    return d + off;
}

/* same_lists: listing every value of both indexes gives the same ids in the same order. */
static void same_lists(struct store *a, struct store *b)
{
    const char *vals[][2] = {{"status", "DRAFT"}, {"status", "ACTIVE"}, {"status", "ARCHIVED"},
                             {"name", "n0"},      {"name", "n3"},       {"name", "n6"}};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char x[64][16], y[64][16];
        size_t nx = list_ids(a, vals[i][0], vals[i][1], x, 64);
        size_t ny = list_ids(b, vals[i][0], vals[i][1], y, 64);
        CU_ASSERT_EQUAL_FATAL(nx, ny);
        for (size_t k = 0; k < nx; k++)
            CU_ASSERT_STRING_EQUAL(x[k], y[k]);
    }
}

/* restore_both restores `m` into `t` from a stream and from memory; both must agree. */
static int restore_both(struct store *t, struct membuf *m)
{
    m->pos = 0;
    m->limit = m->len;
    int rc = store_snapshot_read(t, mem_read, m);
    released = 0;
    int rc2 = store_snapshot_load(t, m->data, m->len, count_release, m->data);
    rcu_barrier();
    CU_ASSERT_EQUAL(rc, rc2);
    return rc;
}

/* v2_rebuild writes `s` in the previous format (LTSTORE2: no index positions) to *m2,
 * restores that into a new store, which builds its indexes by search, and checks that the
 * new store's snapshot equals `m`, s's own, byte for byte — positions included. Returns
 * the new store; its versions point into m2, to be freed after it. */
static struct store *v2_rebuild(struct store *s, const struct membuf *m, struct membuf *m2)
{
    struct membuf m3 = {0};
    struct store *u = new_store();
    store_snapshot_write_v2(true);
    CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, m2), 0);
    store_snapshot_write_v2(false);
    CU_ASSERT_EQUAL(memcmp(m2->data, "LTSTORE2", 8), 0);
    /* the items model's two indexes: a 4-byte position per record each */
    CU_ASSERT_EQUAL(m2->len + 2 * 4 * store_records_total(s), m->len);
    CU_ASSERT_EQUAL(restore_both(u, m2), 0);
    CU_ASSERT_EQUAL(store_digest(u), store_digest(s));
    CU_ASSERT_EQUAL(store_snapshot_write(u, mem_write, &m3), 0);
    CU_ASSERT_EQUAL_FATAL(m3.len, m->len);
    CU_ASSERT_EQUAL(memcmp(m3.data, m->data, m->len), 0);
    free(m3.data);
    return u;
}

/* The index positions of LTSTORE3 rebuild the indexes by appending; positions that are
 * not a permutation in (value, key) order are corrupt even under a good checksum, and the
 * previous format (no positions) still restores, by search. */
static void test_snapshot_positions(void)
{
    struct store *s = new_store(), *t = new_store(), *e = new_store();
    struct membuf m = {0};
    build_random(s, NULL, 5, 2500);
    uint64_t n = store_records_total(s);
    CU_ASSERT_FATAL(n >= 10);
    CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &m), 0);
    CU_ASSERT_EQUAL(memcmp(m.data, "LTSTORE3", 8), 0);
    CU_ASSERT_EQUAL(restore_both(t, &m), 0);
    CU_ASSERT_EQUAL(store_digest(t), store_digest(s));
    CU_ASSERT_EQUAL(count_items(t, "status", "ACTIVE", false),
                    count_items(s, "status", "ACTIVE", false));
    CU_ASSERT_EQUAL(count_items(t, "name", "n2", true), count_items(s, "name", "n2", true));
    same_lists(t, s);

    uint64_t d = store_digest(e);
    uint8_t *pos = positions_at(m.data, m.len);
    uint8_t save[8];
    memcpy(save, pos, 8);
    /* two records swapped: a permutation, out of order */
    memcpy(pos, save + 4, 4);
    memcpy(pos + 4, save, 4);
    set_crc(m.data, m.len);
    CU_ASSERT_EQUAL(restore_both(e, &m), LT_ECORRUPT);
    /* one position twice */
    memcpy(pos, save + 4, 4);
    memcpy(pos + 4, save + 4, 4);
    set_crc(m.data, m.len);
    CU_ASSERT_EQUAL(restore_both(e, &m), LT_ECORRUPT);
    /* out of range */
    memcpy(pos + 4, save + 4, 4);
    pos[0] = (uint8_t)n;
    pos[1] = (uint8_t)(n >> 8);
    pos[2] = (uint8_t)(n >> 16);
    pos[3] = (uint8_t)(n >> 24);
    set_crc(m.data, m.len);
    CU_ASSERT_EQUAL(restore_both(e, &m), LT_ECORRUPT);
    CU_ASSERT_EQUAL(store_digest(e), d);
    memcpy(pos, save, 8);
    set_crc(m.data, m.len);
    CU_ASSERT_EQUAL(restore_both(e, &m), 0);
    CU_ASSERT_EQUAL(store_digest(e), store_digest(s));

    /* the previous format */
    struct membuf m2 = {0};
    struct store *u = v2_rebuild(s, &m, &m2);
    CU_ASSERT_EQUAL(count_items(u, "status", "DRAFT", true),
                    count_items(s, "status", "DRAFT", true));
    same_lists(u, s);
    store_free(u);
    free(m.data);
    free(m2.data);
    store_free(e);
    store_free(t);
    store_free(s);
}

/* Index values that the positions' sort compares by their first 16 bytes (ixsort_cmp):
 * 1 to 36 bytes, sharing long prefixes, ending before, at and after bytes 8 and 16, with
 * bytes above 0x7f (UTF-8), created in an order unrelated to theirs or their keys'. The
 * restore checks the positions' order entry by entry (ix_build_ordered); a store rebuilt
 * by search from the previous format writes the same snapshot, positions included. */
static void test_snapshot_positions_long_values(void)
{
    static const char *const stems[] = {
        "a",
        "abcdefg",
        "abcdefgh",
        "abcdefghi",
        "abcdefghijklmno",
        "abcdefghijklmnop",
        "abcdefghijklmnopq",
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "abcdefghijklmnopqrstuvwxyz0123456788",
        "abcdefghijklmno\xc3\xa9",
        "abcdefghijklmnop\xc3\xa9",
        "\xc3\xa9t\xc3\xa9",
        "zz",
    };
    const size_t n_stems = sizeof(stems) / sizeof(stems[0]);
    struct store *s = new_store(), *t = new_store();
    struct membuf m = {0};
    for (unsigned i = 0; i < 600; i++) {
        char id[16], name[64];
        snprintf(id, sizeof(id), "k%05u", i * 7919u % 600u);
        if (i % 3 == 0) /* the stem alone, or with a suffix */
            snprintf(name, sizeof(name), "%s", stems[i * 5u % n_stems]);
        else
            snprintf(name, sizeof(name), "%s-%u", stems[i * 5u % n_stems], i % 4);
        CU_ASSERT_EQUAL_FATAL(do_create(s, i + 1, id, name, (int)(i % 3), i % 2 == 0), 0);
    }
    CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &m), 0);
    CU_ASSERT_EQUAL(memcmp(m.data, "LTSTORE3", 8), 0);
    CU_ASSERT_EQUAL(restore_both(t, &m), 0);
    CU_ASSERT_EQUAL(store_digest(t), store_digest(s));
    for (size_t k = 0; k < n_stems; k++) {
        char x[64][16], y[64][16];
        size_t nx = list_ids(s, "name", stems[k], x, 64);
        CU_ASSERT(nx > 0);
        CU_ASSERT_EQUAL_FATAL(list_ids(t, "name", stems[k], y, 64), nx);
        for (size_t j = 0; j < nx; j++)
            CU_ASSERT_STRING_EQUAL(x[j], y[j]);
    }
    struct membuf m2 = {0};
    store_free(v2_rebuild(s, &m, &m2));
    free(m.data);
    free(m2.data);
    store_free(t);
    store_free(s);
}

/* Enough records for the positions' radix sort (ixsort_sort, from 256 on), in three
 * shapes: values that share a prefix of 0 to 18 bytes and differ just after it (ties and
 * differences at every one of the 16 bytes sorted by, and beyond); values that differ in
 * one byte only (one pass: the result is in the scratch array and must be copied back);
 * random strings over a three-letter alphabet with a UTF-8 sequence in some. A pass
 * skipped or a tie broken wrongly puts a record out of order: the restore refuses it
 * (ix_build_ordered), and a store rebuilt by search from the previous format writes other
 * positions. */
static unsigned radix_rand(uint64_t *rng)
{
    *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(*rng >> 33);
}

static void radix_name(int shape, uint64_t *rng, char *name)
{
    static const char base[] = "abcabcabcabcabcabcabc";
    size_t len = 0;
    if (shape == 0) { /* a shared prefix, then 1 to 3 random bytes */
        size_t p = radix_rand(rng) % 19, tail = 1 + radix_rand(rng) % 3;
        memcpy(name, base, p);
        for (len = p; len < p + tail; len++)
            name[len] = "ab"[radix_rand(rng) % 2];
    } else if (shape == 1) { /* one byte differs */
        memcpy(name, "same-", 5);
        name[5] = (char)('a' + radix_rand(rng) % 26);
        len = 6;
    } else { /* random, sometimes with a two-byte UTF-8 sequence */
        len = 1 + radix_rand(rng) % 20;
        for (size_t k = 0; k < len; k++)
            name[k] = "abc"[radix_rand(rng) % 3];
        if (len >= 2 && radix_rand(rng) % 7 == 0) {
            size_t at = radix_rand(rng) % (len - 1);
            name[at] = (char)0xc3;
            name[at + 1] = (char)0xa9;
        }
    }
    name[len] = '\0';
}

static void test_snapshot_positions_radix(void)
{
    for (int shape = 0; shape < 3; shape++) {
        struct store *s = new_store(), *t = new_store();
        struct membuf m = {0}, m2 = {0};
        uint64_t rng = 12345 + (uint64_t)shape;
        for (unsigned i = 0; i < 3000; i++) {
            char id[16], name[32];
            radix_name(shape, &rng, name);
            snprintf(id, sizeof(id), "r%05u", i * 7919u % 3000u);
            CU_ASSERT_EQUAL_FATAL(do_create(s, i + 1, id, name, (int)(i % 3), i % 5 == 0), 0);
        }
        CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &m), 0);
        CU_ASSERT_EQUAL(restore_both(t, &m), 0);
        CU_ASSERT_EQUAL(store_digest(t), store_digest(s));
        same_lists(t, s);
        store_free(v2_rebuild(s, &m, &m2));
        free(m.data);
        free(m2.data);
        store_free(t);
        store_free(s);
    }
}

/* A snapshot whose index list differs from the model table's (an index renamed since it
 * was taken) restores through the slow path: values decoded, index values recomputed. */
/* ---- snapshots written while the applier goes on (store_snapshot_begin/_stream/_end) ---- */

/* deep_updates updates `id` `n` times from log index `first` on (longer than its history). */
static void deep_updates(struct store *s, const char *id, uint64_t first, int n)
{
    for (int i = 0; i < n; i++)
        (void)do_update(s, first + (uint64_t)i, id, "deep", i % 3, "", NULL, 0, 0, NULL);
}

static bool membuf_equal(const struct membuf *a, const struct membuf *b)
{
    return a->len == b->len && a->len > 0 && memcmp(a->data, b->data, a->len) == 0;
}

/* A snapshot pinned at index N and streamed after thousands more commands (updates past
 * the history depth, deletes, re-creates of deleted keys, purges) is byte for byte the
 * snapshot of a replica that stopped at N; and once unpinned, the store equals a replica
 * that applied the same commands without a pin. */
static void test_snapshot_pinned(void)
{
    for (uint64_t seed = 1; seed <= 6; seed++) {
        struct store *s = new_store(), *ref = new_store(), *back = new_store();
        struct membuf want = {0}, got = {0}, again = {0}, a2 = {0}, b2 = {0};
        struct store_snap *sn = NULL, *other = NULL;
        build_random_from(s, ref, seed, 1, 2000);
        deep_updates(s, "r01", 2001, 30);
        deep_updates(ref, "r01", 2001, 30);
        CU_ASSERT_EQUAL(store_snapshot_write(ref, mem_write, &want), 0);

        CU_ASSERT_EQUAL_FATAL(store_snapshot_begin(s, &sn), 0);
        CU_ASSERT_EQUAL(store_snapshot_begin(s, &other), LT_EBUSY);
        CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &again), LT_EBUSY);
        want.pos = 0;
        want.limit = want.len;
        CU_ASSERT_EQUAL(store_snapshot_read(s, mem_read, &want), LT_EBUSY);
        uint64_t before = store_digest(s);
        build_random_from(s, NULL, seed + 100, 2031, 3000);
        deep_updates(s, "r01", 5031, 40);
        deep_updates(s, "r02", 5071, 40);
        CU_ASSERT_NOT_EQUAL(store_digest(s), before);
        CU_ASSERT_EQUAL(store_snapshot_stream(sn, mem_write, &got), 0);
        CU_ASSERT(membuf_equal(&got, &want));
        CU_ASSERT_EQUAL(store_snapshot_stream(sn, mem_write, &again), LT_EINVAL);
        build_random_from(s, NULL, seed + 200, 5111, 500); /* still pinned, streamed */
        store_snapshot_end(s, sn);

        /* the pinned snapshot restores to the replica at N */
        got.limit = got.len;
        CU_ASSERT_EQUAL(store_snapshot_read(back, mem_read, &got), 0);
        CU_ASSERT_EQUAL(store_digest(back), store_digest(ref));

        /* unpinned, the store is the one a replica without a pin has */
        build_random_from(ref, NULL, seed + 100, 2031, 3000);
        deep_updates(ref, "r01", 5031, 40);
        deep_updates(ref, "r02", 5071, 40);
        build_random_from(ref, NULL, seed + 200, 5111, 500);
        CU_ASSERT_EQUAL(store_digest(s), store_digest(ref));
        struct store_record **h1 = NULL, **h2 = NULL;
        size_t n1 = 0, n2 = 0;
        if (store_history(s, "items", "r01", &h1, &n1) == 0 &&
            store_history(ref, "items", "r01", &h2, &n2) == 0) {
            CU_ASSERT_EQUAL(n1, n2);
            CU_ASSERT(n1 <= 16);
            for (size_t i = 0; i < n1 && i < n2; i++)
                CU_ASSERT_EQUAL(h1[i]->version, h2[i]->version);
        }
        for (size_t i = 0; i < n1; i++)
            store_record_free(h1[i]);
        for (size_t i = 0; i < n2; i++)
            store_record_free(h2[i]);
        free(h1);
        free(h2);
        build_random_from(s, ref, seed + 300, 5611, 400);
        CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &a2), 0);
        CU_ASSERT_EQUAL(store_snapshot_write(ref, mem_write, &b2), 0);
        CU_ASSERT(membuf_equal(&a2, &b2));
        free(want.data);
        free(got.data);
        free(again.data);
        free(a2.data);
        free(b2.data);
        store_free(s);
        store_free(ref);
        store_free(back);
    }
}

/* churn applies `n` deterministic commands (seeded) on the keys b00000..b<keys-1> from log
 * index `first` on: updates that move index values, deletes, creates (also of existing
 * keys) and, rarely, a purge of the benchmark records. */
static void churn(struct store *s, uint64_t seed, uint64_t first, int n, int keys)
{
    uint64_t rnd = seed * 2 + 1;
    for (int i = 0; i < n; i++) {
        char id[16], name[16];
        rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = rnd >> 16, idx = first + (uint64_t)i;
        snprintf(id, sizeof(id), "b%05u", (unsigned)(r % (uint64_t)keys));
        snprintf(name, sizeof(name), "n%u", (unsigned)((r >> 20) % 50));
        unsigned what = (unsigned)((r >> 32) % 1000);
        if (what < 600)
            (void)do_update(s, idx, id, name, (int)((r >> 40) % 3), name, NULL, 0, 0, NULL);
        else if (what < 800)
            (void)do_delete(s, idx, "items", id, 0);
        else if (what < 999)
            (void)do_create(s, idx, id, name, (int)((r >> 40) % 3), (r >> 44) % 4 == 0);
        else {
            uint64_t purged;
            (void)do_purge(s, idx, (r >> 48) % 4, &purged); /* 0: all */
        }
    }
}

struct stream_job {
    struct store_snap *sn;
    int (*write)(void *ctx, const void *buf, size_t len); /* called with the job */
    struct membuf out;
    int rc;
    atomic_bool done;
};

static int slow_write(void *ctx, const void *buf, size_t len)
{
    struct stream_job *j = ctx;
    if ((j->out.len >> 16) != ((j->out.len + len) >> 16)) /* every 64 KiB: let the applier run */
        sched_yield();
    return mem_write(&j->out, buf, len);
}

static void *stream_main(void *arg)
{
    struct stream_job *j = arg;
    store_reader_register();
    j->rc = store_snapshot_stream(j->sn, j->write, j);
    store_reader_unregister();
    atomic_store(&j->done, true);
    return NULL;
}

/* The snapshot thread streams while this thread (the applier) keeps applying: the bytes
 * are those of a replica stopped at the pin, round after round. Under the sanitizers this
 * also proves the thread never reads memory the applier freed. */
static void test_snapshot_concurrent(void)
{
    enum { KEYS = 6000, ROUNDS = 4, MAX_CMDS = 200000 };
    struct store *s = new_store(), *ref = new_store();
    uint64_t seed = tu_seed("pinned snapshot concurrency"), idx = 1;
    for (int k = 0; k < KEYS; k++) {
        char id[16];
        snprintf(id, sizeof(id), "b%05d", k);
        CU_ASSERT_EQUAL(do_create(s, idx, id, "n0", k % 3, k % 5 == 0), 0);
        CU_ASSERT_EQUAL(do_create(ref, idx, id, "n0", k % 3, k % 5 == 0), 0);
        idx++;
    }
    long applied_while_streaming = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct stream_job j = {.write = slow_write};
        struct membuf want = {0};
        pthread_t th;
        atomic_init(&j.done, false);
        CU_ASSERT_EQUAL(store_snapshot_write(ref, mem_write, &want), 0);
        CU_ASSERT_EQUAL_FATAL(store_snapshot_begin(s, &j.sn), 0);
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, stream_main, &j), 0);
        uint64_t first = idx, deadline = lt_now_ns() + 20000000000ull;
        int n = 0;
        while (!atomic_load(&j.done) && n < MAX_CMDS && lt_now_ns() < deadline) {
            churn(s, seed + (uint64_t)round * 7919 + (uint64_t)n, idx++, 1, KEYS);
            n++;
        }
        pthread_join(th, NULL);
        store_snapshot_end(s, j.sn);
        applied_while_streaming += n;
        CU_ASSERT_EQUAL(j.rc, 0);
        CU_ASSERT(membuf_equal(&j.out, &want));
        for (int i = 0; i < n; i++) /* the replica catches up with the same commands */
            churn(ref, seed + (uint64_t)round * 7919 + (uint64_t)i, first + (uint64_t)i, 1, KEYS);
        CU_ASSERT_EQUAL(store_digest(s), store_digest(ref));
        free(want.data);
        free(j.out.data);
    }
    printf("\n    pinned snapshots: %ld commands applied while %d snapshots streamed\n",
           applied_while_streaming, ROUNDS);
    CU_ASSERT(applied_while_streaming > 0);
    store_free(s);
    store_free(ref);
}

static int sleepy_write(void *ctx, const void *buf, size_t len)
{
    struct stream_job *j = ctx;
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL); /* 0.2 ms a call: a slow disk */
    return mem_write(&j->out, buf, len);
}

/* store_snapshot_cancel stops a stream early, whether it is collecting or writing, and the
 * store takes the next snapshot as if nothing happened. */
static void test_snapshot_cancel(void)
{
    struct store *s = new_store();
    struct membuf want = {0}, got = {0};
    struct store_snap *sn;
    churn(s, 5, 1, 8000, 4000);
    CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &want), 0);
    /* cancelled before it starts: it stops after the first section of the walk */
    CU_ASSERT_EQUAL_FATAL(store_snapshot_begin(s, &sn), 0);
    store_snapshot_cancel(sn);
    CU_ASSERT_EQUAL(store_snapshot_stream(sn, mem_write, &got), LT_ESTALE);
    CU_ASSERT_EQUAL(got.len, 0);
    store_snapshot_end(s, sn);
    /* cancelled while it writes on another thread, the applier going on meanwhile */
    struct stream_job j = {.write = sleepy_write};
    pthread_t th;
    atomic_init(&j.done, false);
    CU_ASSERT_EQUAL_FATAL(store_snapshot_begin(s, &j.sn), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, stream_main, &j), 0);
    uint64_t deadline = lt_now_ns() + 10000000000ull, idx = 8001;
    while (!atomic_load(&j.done) && lt_now_ns() < deadline && idx < 8201)
        churn(s, 6 + idx, idx, 1, 4000), idx++; /* 200 commands, then the cancel */
    store_snapshot_cancel(j.sn);
    uint64_t t0 = lt_now_ns();
    pthread_join(th, NULL);
    double ms = (double)(lt_now_ns() - t0) / 1e6;
    store_snapshot_end(s, j.sn);
    CU_ASSERT(j.rc == LT_ESTALE || (j.rc == 0 && j.out.len == want.len));
    CU_ASSERT(ms < 2000);
    printf("\n    cancelled stream: %s after %zu bytes, joined %.1f ms after the cancel\n",
           j.rc == LT_ESTALE ? "gave up" : "had finished", j.out.len, ms);
    /* a snapshot after it is whole */
    struct membuf again = {0};
    struct store *t = new_store();
    CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &again), 0);
    again.limit = again.len;
    CU_ASSERT_EQUAL(store_snapshot_read(t, mem_read, &again), 0);
    CU_ASSERT_EQUAL(store_digest(t), store_digest(s));
    free(want.data);
    free(got.data);
    free(j.out.data);
    free(again.data);
    store_free(t);
    store_free(s);
}

struct digest_job {
    struct store_snap *sn;
    uint64_t digest;
    int rc;
    atomic_bool done;
};

static void *digest_main(void *arg)
{
    struct digest_job *j = arg;
    store_reader_register();
    j->rc = store_snapshot_digest(j->sn, &j->digest);
    store_reader_unregister();
    atomic_store(&j->done, true);
    return NULL;
}

/* store_snapshot_digest gives the digest the store had at the pin, whatever was applied
 * since (updates past the history depth, deletes, re-creates, purges), on the applier's
 * thread after the fact or on another thread while the applier goes on; once, and it gives
 * up when cancelled. */
static void test_snapshot_digest(void)
{
    for (uint64_t seed = 1; seed <= 4; seed++) {
        struct store *s = new_store();
        struct store_snap *sn = NULL;
        uint64_t d = 0;
        build_random_from(s, NULL, seed, 1, 2000);
        deep_updates(s, "r01", 2001, 30);
        uint64_t before = store_digest(s);
        CU_ASSERT_EQUAL_FATAL(store_snapshot_begin(s, &sn), 0);
        build_random_from(s, NULL, seed + 100, 2031, 3000);
        deep_updates(s, "r01", 5031, 40);
        churn(s, seed, 5071, 3000, 200);
        CU_ASSERT_NOT_EQUAL(store_digest(s), before);
        CU_ASSERT_EQUAL(store_snapshot_digest(sn, &d), 0);
        CU_ASSERT_EQUAL(d, before);
        CU_ASSERT_EQUAL(store_snapshot_digest(sn, &d), LT_EINVAL);
        store_snapshot_end(s, sn);
        store_free(s);
    }

    enum { KEYS = 6000, ROUNDS = 3, MAX_CMDS = 200000 };
    struct store *s = new_store();
    uint64_t seed = tu_seed("digest of a pinned store"), idx = 1;
    churn(s, seed, idx, 20000, KEYS);
    idx += 20000;
    long applied_meanwhile = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct digest_job j = {0};
        pthread_t th;
        atomic_init(&j.done, false);
        uint64_t want = store_digest(s);
        CU_ASSERT_EQUAL_FATAL(store_snapshot_begin(s, &j.sn), 0);
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, digest_main, &j), 0);
        uint64_t deadline = lt_now_ns() + 20000000000ull;
        for (int n = 0; !atomic_load(&j.done) && n < MAX_CMDS && lt_now_ns() < deadline; n++) {
            churn(s, seed + idx, idx, 1, KEYS);
            idx++;
            applied_meanwhile++;
        }
        pthread_join(th, NULL);
        store_snapshot_end(s, j.sn);
        CU_ASSERT_EQUAL(j.rc, 0);
        CU_ASSERT_EQUAL(j.digest, want);
    }
    printf("\n    pinned digests: %ld commands applied while %d digests ran\n", applied_meanwhile,
           ROUNDS);
    CU_ASSERT(applied_meanwhile > 0);
    struct store_snap *sn;
    uint64_t d = 42;
    CU_ASSERT_EQUAL_FATAL(store_snapshot_begin(s, &sn), 0);
    store_snapshot_cancel(sn);
    CU_ASSERT_EQUAL(store_snapshot_digest(sn, &d), LT_ESTALE);
    CU_ASSERT_EQUAL(d, 42);
    store_snapshot_end(s, sn);
    store_free(s);
}

struct prep_job {
    const void *data;
    size_t len;
    struct store_prepared *p;
    int rc;
    atomic_bool done;
};

static void *prep_main(void *arg)
{
    struct prep_job *j = arg;
    store_reader_register();
    j->rc = store_snapshot_prepare(j->data, j->len, count_release, (void *)j->data, &j->p);
    store_reader_unregister();
    atomic_store(&j->done, true);
    return NULL;
}

/* store_snapshot_prepare loads a snapshot on another thread while the applier goes on
 * with its own state; store_snapshot_install then makes the store the snapshot's, as
 * store_snapshot_load would (not while pinned); a prepared state never installed, or a
 * corrupt snapshot, gives its memory back. */
static void test_snapshot_prepare(void)
{
    struct store *src = new_store(), *t = new_store();
    struct membuf m = {0};
    build_random(src, NULL, 91, 3000);
    CU_ASSERT_EQUAL(store_snapshot_write(src, mem_write, &m), 0);
    build_random(t, NULL, 92, 500);
    released = 0;
    struct prep_job j = {.data = m.data, .len = m.len};
    pthread_t th;
    atomic_init(&j.done, false);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, prep_main, &j), 0);
    uint64_t idx = 501, deadline = lt_now_ns() + 20000000000ull;
    while (!atomic_load(&j.done) && idx < 200000 && lt_now_ns() < deadline)
        churn(t, idx, idx, 1, 300), idx++; /* the applier goes on meanwhile */
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL_FATAL(j.rc, 0);
    CU_ASSERT_EQUAL(released, 0); /* the prepared state points into the snapshot */
    uint64_t pi, pt, si, stm, ti, tt;
    store_prepared_position(j.p, &pi, &pt);
    store_applied(src, &si, &stm);
    CU_ASSERT(pi == si && pt == stm);
    struct store_snap *sn;
    CU_ASSERT_EQUAL_FATAL(store_snapshot_begin(t, &sn), 0);
    CU_ASSERT_EQUAL(store_snapshot_install(t, j.p), LT_EBUSY); /* pinned: p stays ours */
    store_snapshot_end(t, sn);
    CU_ASSERT_EQUAL(store_snapshot_install(t, j.p), 0);
    CU_ASSERT_EQUAL(store_digest(t), store_digest(src));
    store_applied(t, &ti, &tt);
    CU_ASSERT(ti == si && tt == stm);
    build_random(src, t, 93, 1000); /* both go on identically */
    CU_ASSERT_EQUAL(store_digest(t), store_digest(src));

    /* prepared and dropped: the memory is released */
    uint8_t *copy = malloc(m.len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    memcpy(copy, m.data, m.len);
    struct store_prepared *q = NULL;
    int before = released;
    CU_ASSERT_EQUAL_FATAL(store_snapshot_prepare(copy, m.len, count_release, copy, &q), 0);
    store_prepared_free(q);
    rcu_barrier();
    CU_ASSERT_EQUAL(released, before + 1);
    /* corrupt: refused, the memory released, nothing else */
    copy[m.len / 2] ^= 0x40;
    q = NULL;
    CU_ASSERT_EQUAL(store_snapshot_prepare(copy, m.len, count_release, copy, &q), LT_ECORRUPT);
    CU_ASSERT_PTR_NULL(q);
    rcu_barrier();
    CU_ASSERT_EQUAL(released, before + 2);
    CU_ASSERT_EQUAL(store_digest(t), store_digest(src));
    free(copy);
    store_free(t); /* it still points into m */
    store_free(src);
    free(m.data);
}

/* Out of memory anywhere in a stream: LT_ENOMEM, nothing leaks, the store is unchanged and
 * the next snapshot succeeds. */
static void test_snapshot_stream_oom(void)
{
    struct store *s = new_store();
    struct membuf want = {0};
    bool failed = false, succeeded = false;
    build_random(s, NULL, 9, 1500);
    churn(s, 3, 2000, 3000, 3000);
    CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &want), 0);
    uint64_t d = store_digest(s);
    for (int nth = 1; nth <= 40 && !succeeded; nth++) {
        struct store_snap *sn;
        struct membuf got = {0};
        CU_ASSERT_EQUAL_FATAL(store_snapshot_begin(s, &sn), 0);
        store_fault_inject(nth);
        int rc = store_snapshot_stream(sn, mem_write, &got);
        store_fault_inject(0);
        store_snapshot_end(s, sn);
        CU_ASSERT(rc == 0 || rc == LT_ENOMEM);
        failed |= rc == LT_ENOMEM;
        if (rc == 0) {
            succeeded = true;
            CU_ASSERT(membuf_equal(&got, &want));
        }
        CU_ASSERT_EQUAL(store_digest(s), d);
        free(got.data);
    }
    CU_ASSERT(failed);
    CU_ASSERT(succeeded);
    free(want.data);
    store_free(s);
}

static void test_snapshot_other_indexes(void)
{
    struct store *s = new_store(), *t = new_store();
    struct membuf m = {0};
    build_random(s, NULL, 11, 600);
    CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &m), 0);
    CU_ASSERT_FATAL(m.len > 16);
    /* the first index name after the model name "items" */
    uint8_t *items = memmem(m.data, m.len < 200 ? m.len : 200, "items", 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(items);
    uint8_t *ixname = memmem(items, 64, "status", 6);
    if (ixname == NULL)
        ixname = memmem(items, 64, "name", 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ixname);
    ixname[1] ^= 0x20; /* "status" -> "sTatus": same length, another field */
    set_crc(m.data, m.len);
    m.limit = m.len;
    CU_ASSERT_EQUAL(store_snapshot_read(t, mem_read, &m), 0);
    CU_ASSERT_EQUAL(store_digest(t), store_digest(s));
    CU_ASSERT_EQUAL(count_items(t, "status", "ACTIVE", false),
                    count_items(s, "status", "ACTIVE", false));
    CU_ASSERT_EQUAL(count_items(t, "name", "n3", false), count_items(s, "name", "n3", false));
    /* and a snapshot of it is the normal one again */
    struct membuf m2 = {0};
    ixname[1] ^= 0x20;
    CU_ASSERT_EQUAL(store_snapshot_write(t, mem_write, &m2), 0);
    CU_ASSERT_EQUAL_FATAL(m2.len, m.len);
    CU_ASSERT_EQUAL(memcmp(m2.data, m.data, m.len - 4), 0);
    free(m.data);
    free(m2.data);
    store_free(s);
    store_free(t);
}

/* test_bulk_apply: a bulk apply (the indexes kept by a thread of their own) ends in the
 * same store as applying one by one — records, histories, index lists, counts and the
 * snapshot's bytes — on a fresh store and on one restored from a snapshot (a restart's
 * WAL tail), with creates, updates past the history depth, deletes and purges; snapshots
 * and restores are refused meanwhile. */
static void check_same_store(struct store *a, struct store *b)
{
    CU_ASSERT_EQUAL(store_digest(a), store_digest(b));
    same_lists(a, b);
    const char *vals[][2] = {{"status", "DRAFT"}, {"status", "ACTIVE"}, {"status", "ARCHIVED"},
                             {"name", "n0"},      {"name", "n2"},       {"name", "n5"},
                             {NULL, NULL}};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        CU_ASSERT_EQUAL(count_items(a, vals[i][0], vals[i][1], true),
                        count_items(b, vals[i][0], vals[i][1], true));
        CU_ASSERT_EQUAL(count_items(a, vals[i][0], vals[i][1], false),
                        count_items(b, vals[i][0], vals[i][1], false));
    }
    struct membuf x = {0}, y = {0};
    CU_ASSERT_EQUAL(store_snapshot_write(a, mem_write, &x), 0);
    CU_ASSERT_EQUAL(store_snapshot_write(b, mem_write, &y), 0);
    CU_ASSERT(membuf_equal(&x, &y));
    free(x.data);
    free(y.data);
}

static void test_bulk_apply(void)
{
    uint64_t seed = tu_seed("store bulk apply");
    for (int round = 0; round < 3; round++) {
        struct store *s = new_store(), *t = new_store();
        CU_ASSERT_EQUAL_FATAL(store_bulk_begin(t), 0);
        CU_ASSERT_EQUAL(store_bulk_begin(t), LT_EBUSY);
        struct store_snap *sn = NULL;
        CU_ASSERT_EQUAL(store_snapshot_begin(t, &sn), LT_EBUSY);
        build_random(s, t, seed + (uint64_t)round, 4000);
        deep_updates(t, "r07", 9000, 20); /* past the history depth, in bulk */
        store_bulk_end(t);
        store_bulk_end(t); /* a second end does nothing */
        deep_updates(s, "r07", 9000, 20);
        check_same_store(s, t);

        /* a restart: both restore the same snapshot, then apply more, one in bulk */
        struct membuf m = {0};
        CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &m), 0);
        struct store *u = new_store(), *v = new_store();
        CU_ASSERT_EQUAL_FATAL(restore_both(u, &m), 0);
        CU_ASSERT_EQUAL_FATAL(restore_both(v, &m), 0);
        CU_ASSERT_EQUAL_FATAL(store_bulk_begin(v), 0);
        m.pos = 0;
        m.limit = m.len;
        CU_ASSERT_EQUAL(store_snapshot_read(v, mem_read, &m), LT_EBUSY);
        build_random_from(u, v, seed + 100 + (uint64_t)round, 9100, 3000);
        store_bulk_end(v);
        check_same_store(u, v);
        free(m.data);
        store_free(s);
        store_free(t);
        store_free(u);
        store_free(v);
    }
    /* freeing a store in the middle of a bulk apply ends it first */
    struct store *w = new_store();
    CU_ASSERT_EQUAL_FATAL(store_bulk_begin(w), 0);
    build_random(w, NULL, seed, 500);
    store_free(w);
}

static void test_determinism(void)
{
    uint64_t seed = tu_seed("store determinism");
    struct store *s = new_store(), *t = new_store(), *u = new_store();
    build_random(s, t, seed, 4000);
    CU_ASSERT_EQUAL(store_digest(s), store_digest(t));
    /* a different sequence gives a different digest */
    build_random(u, NULL, seed + 1, 4000);
    CU_ASSERT_NOT_EQUAL(store_digest(s), store_digest(u));
    store_free(s);
    store_free(t);
    store_free(u);
}

/* ---- out of memory ---- */

/* test_oom: every allocation of every kind of apply, read and restore fails in turn; each
 * failure returns LT_ENOMEM, changes nothing and leaks nothing, and the final state equals
 * a store that never failed. */
static void test_oom(void)
{
    struct store *s = new_store(), *ref = new_store();
    struct model_prepared cmds[7];
    size_t len;
    uint8_t *v;
    for (int i = 0; i < 6; i++) {
        char id[8];
        snprintf(id, sizeof(id), "k%d", i);
        CU_ASSERT_EQUAL(do_create(s, (uint64_t)i + 1, id, id, i % 3, i >= 4), 0);
        CU_ASSERT_EQUAL(do_create(ref, (uint64_t)i + 1, id, id, i % 3, i >= 4), 0);
    }
    const struct model *items = models_find("items");
    v = item_bytes("new", "new", 1, "", false, &len);
    CU_ASSERT_EQUAL(models_prepare_create(items, v, len, BASE_NS, 1, NULL, &cmds[0]), 0);
    free(v);
    v = item_bytes("", "renamed", 2, "d", false, &len);
    CU_ASSERT_EQUAL(
        models_prepare_update(items, "k1", v, len, NULL, 0, 1, NULL, BASE_NS, 1, NULL, &cmds[1]),
        0);
    CU_ASSERT_EQUAL(models_prepare_update(items, "k1", v, len, (const char *[]){"status"}, 1, 0,
                                          NULL, BASE_NS, 1, NULL, &cmds[2]),
                    0);
    free(v);
    CU_ASSERT_EQUAL(models_prepare_delete(items, "k2", 0, NULL, BASE_NS, 1, NULL, &cmds[3]), 0);
    CU_ASSERT_EQUAL(models_prepare_purge(items, 0, BASE_NS, 1, &cmds[4]), 0);
    v = item_bytes("k3", "upsert", 0, "[1]", true, &len);
    Lithair__V1__Command c = LITHAIR__V1__COMMAND__INIT;
    Lithair__V1__Command__Put put = LITHAIR__V1__COMMAND__PUT__INIT;
    put.model = (char *)"items";
    put.value.data = v;
    put.value.len = len;
    c.op_case = LITHAIR__V1__COMMAND__OP_PUT;
    c.put = &put;
    cmds[5].cmd_len = lithair__v1__command__get_packed_size(&c);
    cmds[5].cmd = malloc(cmds[5].cmd_len);
    cmds[5].id = NULL;
    lithair__v1__command__pack(&c, cmds[5].cmd);
    free(v);
    CU_ASSERT_EQUAL(models_prepare_delete(items, "k3", 0, NULL, BASE_NS, 1, NULL, &cmds[6]), 0);

    for (size_t k = 0; k < 7; k++) {
        int failures = 0, rc = LT_ENOMEM;
        struct store_result res;
        for (int nth = 1; nth < 1000 && rc == LT_ENOMEM; nth++) {
            uint64_t d = store_digest(s);
            store_fault_inject(nth);
            rc = store_apply(s, 100 + k, 2, cmds[k].cmd, cmds[k].cmd_len, &res);
            store_fault_inject(0);
            if (rc == LT_ENOMEM) {
                CU_ASSERT_EQUAL(res.code, LT_ENOMEM);
                CU_ASSERT_EQUAL(res.op, STORE_OP_NONE);
                CU_ASSERT_EQUAL(store_digest(s), d);
                failures++;
            }
            store_result_fini(&res);
        }
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT(failures > 0);
        CU_ASSERT_EQUAL(store_apply(ref, 100 + k, 2, cmds[k].cmd, cmds[k].cmd_len, &res), 0);
        store_result_fini(&res);
        CU_ASSERT_EQUAL(store_digest(s), store_digest(ref));
        models_prepared_fini(&cmds[k]);
    }

    /* reads */
    int rc = LT_ENOMEM;
    for (int nth = 1; nth < 100 && rc == LT_ENOMEM; nth++) {
        struct store_page page;
        struct store_query q = {.model = "items", .limit = 2, .include_benchmark = true};
        store_fault_inject(nth);
        rc = store_list(s, &q, &page);
        store_fault_inject(0);
        if (rc == 0)
            store_page_fini(&page);
    }
    CU_ASSERT_EQUAL(rc, 0);
    rc = LT_ENOMEM;
    for (int nth = 1; nth < 100 && rc == LT_ENOMEM; nth++) {
        struct store_record **h;
        size_t n;
        store_fault_inject(nth);
        rc = store_history(s, "items", "k1", &h, &n);
        store_fault_inject(0);
        if (rc == 0) {
            CU_ASSERT_EQUAL(n, 3);
            for (size_t i = 0; i < n; i++)
                store_record_free(h[i]);
            free(h);
        }
    }
    CU_ASSERT_EQUAL(rc, 0);

    /* restore */
    struct membuf m = {0};
    CU_ASSERT_EQUAL(store_snapshot_write(s, mem_write, &m), 0);
    struct store *t = new_store();
    CU_ASSERT_EQUAL(do_create(t, 1, "keep", "keep", 0, false), 0);
    uint64_t d = store_digest(t);
    int failures = 0;
    rc = LT_ENOMEM;
    for (int nth = 1; nth < 1000 && rc == LT_ENOMEM; nth++) {
        m.pos = 0;
        m.limit = m.len;
        store_fault_inject(nth);
        rc = store_snapshot_read(t, mem_read, &m);
        store_fault_inject(0);
        if (rc == LT_ENOMEM) {
            CU_ASSERT_EQUAL(store_digest(t), d);
            failures++;
        }
    }
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(failures > 10);
    CU_ASSERT_EQUAL(store_digest(t), store_digest(s));
    free(m.data);
    store_free(t);
    store_free(s);
    store_free(ref);
}

/* ---- concurrency ---- */

#define CONC_KEYS 64

struct conc {
    struct store *s;
    atomic_bool stop;
    atomic_long reads;
    atomic_long errors;
    _Atomic(const char *) first_error; /* what the first error was */
    atomic_uint seed;                  /* each reader takes the next one */
};

/* item_consistent: the writer always sets description = name = "n<version>", status =
 * version % 3: a torn or stale mix of two versions fails this. */
static bool item_consistent(const struct store_record *r, int want_status)
{
    Lithair__V1__PlaygroundItem *it = lithair__v1__playground_item__unpack(NULL, r->len, r->value);
    char expect[32];
    bool ok;
    if (it == NULL)
        return false;
    snprintf(expect, sizeof(expect), "n%llu", (unsigned long long)it->version);
    ok = it->version == r->version && strcmp(it->name, expect) == 0 &&
         strcmp(it->description, expect) == 0 && (int)it->status == (int)(it->version % 3) &&
         (want_status < 0 || (int)it->status == want_status);
    lithair__v1__playground_item__free_unpacked(it, NULL);
    return ok;
}

/* conc_error counts a reader's error and keeps the first one's description. */
static void conc_error(struct conc *c, const char *what)
{
    const char *none = NULL;
    atomic_compare_exchange_strong(&c->first_error, &none, what);
    atomic_fetch_add(&c->errors, 1);
}

static void *reader_main(void *arg)
{
    struct conc *c = arg;
    unsigned seed = atomic_fetch_add(&c->seed, 1);
    static const char *statuses[] = {"DRAFT", "ACTIVE", "ARCHIVED"};
    store_reader_register();
    while (!atomic_load(&c->stop)) {
        char id[16];
        struct store_record *r;
        int k = rand_r(&seed) % CONC_KEYS;
        snprintf(id, sizeof(id), "c%03d", k);
        int rc = store_get(c->s, "items", id, &r);
        if (rc == 0) {
            if (!item_consistent(r, -1))
                conc_error(c, "get: inconsistent record");
            store_record_free(r);
        } else if (rc != LT_ENOTFOUND) {
            conc_error(c, "get: unexpected error");
        }
        /* page through one status */
        int st = rand_r(&seed) % 3;
        char cursor[128] = "";
        char last[32] = "";
        for (int pages = 0; pages < 100; pages++) {
            struct store_page page;
            struct store_query q = {.model = "items",
                                    .index = "status",
                                    .equals = statuses[st],
                                    .cursor = cursor,
                                    .limit = 5,
                                    .include_benchmark = true};
            if (store_list(c->s, &q, &page) != 0) {
                conc_error(c, "list by status: failed");
                break;
            }
            for (size_t i = 0; i < page.n; i++) {
                Lithair__V1__PlaygroundItem *it = lithair__v1__playground_item__unpack(
                    NULL, page.records[i]->len, page.records[i]->value);
                if (!item_consistent(page.records[i], st) || it == NULL ||
                    strcmp(it->id, last) <= 0)
                    conc_error(c, "list by status: inconsistent or out of order");
                if (it != NULL)
                    snprintf(last, sizeof(last), "%s", it->id);
                lithair__v1__playground_item__free_unpacked(it, NULL);
            }
            bool more = page.next_cursor != NULL;
            if (more)
                snprintf(cursor, sizeof(cursor), "%s", page.next_cursor);
            store_page_fini(&page);
            if (!more)
                break;
        }
        struct store_record **h;
        size_t n;
        if (store_history(c->s, "items", id, &h, &n) == 0) {
            for (size_t i = 0; i < n; i++) {
                if (!item_consistent(h[i], -1) || (i > 0 && h[i]->version != h[i - 1]->version + 1))
                    conc_error(c, "history: inconsistent or versions not consecutive");
            }
            for (size_t i = 0; i < n; i++)
                store_record_free(h[i]);
            free(h);
        }
        /* the first pages in key order */
        struct store_page kp;
        struct store_query kq = {.model = "items", .limit = 16, .include_benchmark = true};
        if (store_list(c->s, &kq, &kp) == 0) {
            for (size_t i = 0; i < kp.n; i++) {
                if (!item_consistent(kp.records[i], -1))
                    conc_error(c, "list by key: inconsistent record");
            }
            if (kp.n != 16 || kp.total > CONC_KEYS || kp.total < kp.n ||
                store_records_total(c->s) > CONC_KEYS)
                conc_error(c, "list by key: wrong count or total");
            store_page_fini(&kp);
        } else {
            conc_error(c, "list by key: failed");
        }
        uint64_t cnt;
        if (store_count(c->s, "items", "status", "ACTIVE", true, &cnt) != 0 || cnt > CONC_KEYS)
            conc_error(c, "count: failed or too large");
        atomic_fetch_add(&c->reads, 1);
    }
    store_reader_unregister();
    return NULL;
}

static void test_concurrent_readers(void)
{
    struct conc c = {.s = new_store()};
    pthread_t th[3];
    uint64_t idx = 1, versions[CONC_KEYS] = {0};
    unsigned seed = (unsigned)tu_seed("store concurrency");
    long writes = 0;
    char id[16], name[32];
    atomic_init(&c.stop, false);
    atomic_init(&c.reads, 0);
    atomic_init(&c.errors, 0);
    atomic_init(&c.first_error, NULL);
    atomic_init(&c.seed, seed);
    for (int k = 0; k < CONC_KEYS; k++) {
        snprintf(id, sizeof(id), "c%03d", k);
        CU_ASSERT_EQUAL(do_create(c.s, idx++, id, "n1", 1, false), 0);
        versions[k] = 1;
    }
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, reader_main, &c), 0);
    }
    uint64_t end = lt_now_ns() + 1000000000ull;
    while (lt_now_ns() < end) {
        int k = rand_r(&seed) % CONC_KEYS;
        snprintf(id, sizeof(id), "c%03d", k);
        if (rand_r(&seed) % 10 == 0) {
            /* delete and re-create: the record's life starts again */
            CU_ASSERT_EQUAL(do_delete(c.s, idx++, "items", id, versions[k]), 0);
            CU_ASSERT_EQUAL(do_create(c.s, idx++, id, "n1", 1, false), 0);
            versions[k] = 1;
        } else {
            uint64_t v = versions[k] + 1;
            snprintf(name, sizeof(name), "n%llu", (unsigned long long)v);
            CU_ASSERT_EQUAL(
                do_update(c.s, idx++, id, name, (int)(v % 3), name, NULL, 0, versions[k], NULL), 0);
            versions[k] = v;
        }
        writes++;
    }
    atomic_store(&c.stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    printf("\n    concurrent: %ld writes, %ld reader rounds in 1 s\n", writes,
           (long)atomic_load(&c.reads));
    if (atomic_load(&c.errors) != 0)
        fprintf(stderr, "    %ld reader errors, the first: %s\n", (long)atomic_load(&c.errors),
                atomic_load(&c.first_error));
    CU_ASSERT_EQUAL(atomic_load(&c.errors), 0);
    CU_ASSERT(writes > 100);
    CU_ASSERT(atomic_load(&c.reads) > 10);
    store_free(c.s);
}

/* A page that resumes after key k while k is deleted and created again (a new index
 * entry for k, linked just where the reader stands) must still start after k. */
struct reinsert {
    struct store *s;
    const char *cursor; /* the cursor after key "r1" */
    atomic_bool stop;
    atomic_long reads, errors;
};

static void *reinsert_reader(void *arg)
{
    struct reinsert *c = arg;
    store_reader_register();
    while (!atomic_load(&c->stop)) {
        const char *index = (atomic_load(&c->reads) & 1) ? "status" : NULL;
        struct store_query q = {.model = "items",
                                .index = index,
                                .equals = index ? "ACTIVE" : NULL,
                                .cursor = c->cursor,
                                .limit = 1};
        struct store_page page;
        if (store_list(c->s, &q, &page) != 0) {
            atomic_fetch_add(&c->errors, 1);
            break;
        }
        Lithair__V1__PlaygroundItem *it =
            page.n == 1 ? lithair__v1__playground_item__unpack(NULL, page.records[0]->len,
                                                               page.records[0]->value)
                        : NULL;
        if (it == NULL || strcmp(it->id, "r2") != 0)
            atomic_fetch_add(&c->errors, 1);
        lithair__v1__playground_item__free_unpacked(it, NULL);
        store_page_fini(&page);
        atomic_fetch_add(&c->reads, 1);
    }
    store_reader_unregister();
    return NULL;
}

static void test_resume_after_reinserted_key(void)
{
    struct reinsert c = {.s = new_store()};
    struct store_page first;
    pthread_t th[2];
    uint64_t idx = 1;
    long rounds = 0;
    atomic_init(&c.stop, false);
    atomic_init(&c.reads, 0);
    atomic_init(&c.errors, 0);
    CU_ASSERT_EQUAL(do_create(c.s, idx++, "r0", "n1", 1, false), 0);
    CU_ASSERT_EQUAL(do_create(c.s, idx++, "r1", "n1", 1, false), 0);
    CU_ASSERT_EQUAL(do_create(c.s, idx++, "r2", "n1", 1, false), 0);
    struct store_query q = {.model = "items", .limit = 2};
    CU_ASSERT_EQUAL_FATAL(store_list(c.s, &q, &first), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first.next_cursor);
    c.cursor = first.next_cursor;
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, reinsert_reader, &c), 0);
    uint64_t end = lt_now_ns() + 500000000ull;
    while (lt_now_ns() < end && rounds < 2000000) {
        CU_ASSERT_EQUAL(do_delete(c.s, idx++, "items", "r1", 1), 0);
        CU_ASSERT_EQUAL(do_create(c.s, idx++, "r1", "n1", 1, false), 0);
        rounds++;
    }
    atomic_store(&c.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    printf("\n    %ld deletes and creates of r1, %ld pages read after it\n", rounds,
           (long)atomic_load(&c.reads));
    CU_ASSERT_EQUAL(atomic_load(&c.errors), 0);
    CU_ASSERT(rounds > 100);
    CU_ASSERT(atomic_load(&c.reads) > 100);
    store_page_fini(&first);
    store_free(c.s);
}

/* store_history while the applier updates the record: trim_history rewrites a prev
 * pointer inside the window of a reader that read the previous r->cur (last->prev = the
 * pinned version while a snapshot is pinned, NULL otherwise). The versions a reader gets
 * must still be consecutive, and all 16 kept ones. */
struct histrace {
    struct store *s;
    atomic_bool stop;
    atomic_long reads, gaps, shorts;
};

static void *histrace_reader(void *arg)
{
    struct histrace *c = arg;
    store_reader_register();
    while (!atomic_load(&c->stop)) {
        struct store_record **h;
        size_t n;
        if (store_history(c->s, "items", "h1", &h, &n) != 0) {
            atomic_fetch_add(&c->gaps, 1);
            break;
        }
        for (size_t i = 1; i < n; i++) {
            if (h[i]->version != h[i - 1]->version + 1) {
                atomic_fetch_add(&c->gaps, 1);
                break;
            }
        }
        if (n != 16)
            atomic_fetch_add(&c->shorts, 1);
        for (size_t i = 0; i < n; i++)
            store_record_free(h[i]);
        free(h);
        atomic_fetch_add(&c->reads, 1);
    }
    store_reader_unregister();
    return NULL;
}

static void test_history_while_updated(void)
{
    struct histrace c = {.s = new_store()};
    struct store_snap *sn = NULL;
    pthread_t th[2];
    uint64_t idx = 1;
    long rounds = 0;
    char name[32];
    atomic_init(&c.stop, false);
    atomic_init(&c.reads, 0);
    atomic_init(&c.gaps, 0);
    atomic_init(&c.shorts, 0);
    CU_ASSERT_EQUAL(do_create(c.s, idx++, "h1", "n1", 1, false), 0);
    for (uint64_t v = 2; v <= 40; v++) {
        snprintf(name, sizeof(name), "n%llu", (unsigned long long)v);
        CU_ASSERT_EQUAL(do_update(c.s, idx++, "h1", name, 1, name, NULL, 0, 0, NULL), 0);
    }
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, histrace_reader, &c), 0);
    for (int pinned = 1; pinned >= 0; pinned--) {
        if (pinned)
            CU_ASSERT_EQUAL_FATAL(store_snapshot_begin(c.s, &sn), 0);
        uint64_t end = lt_now_ns() + 300000000ull;
        while (lt_now_ns() < end && rounds < 2000000) {
            snprintf(name, sizeof(name), "n%llu", (unsigned long long)idx);
            CU_ASSERT_EQUAL(do_update(c.s, idx++, "h1", name, 1, name, NULL, 0, 0, NULL), 0);
            rounds++;
        }
        if (pinned)
            store_snapshot_end(c.s, sn);
    }
    atomic_store(&c.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    printf("\n    %ld updates of h1, %ld histories read (%ld with a gap, %ld short)\n", rounds,
           (long)atomic_load(&c.reads), (long)atomic_load(&c.gaps), (long)atomic_load(&c.shorts));
    CU_ASSERT_EQUAL(atomic_load(&c.gaps), 0);
    CU_ASSERT_EQUAL(atomic_load(&c.shorts), 0);
    CU_ASSERT(rounds > 100);
    CU_ASSERT(atomic_load(&c.reads) > 100);
    store_free(c.s);
}

/* The applier (this thread) must be registered with RCU for the whole suite. */
static int suite_init(void)
{
    store_reader_register();
    return 0;
}

static int suite_cleanup(void)
{
    store_reader_unregister();
    return 0;
}

static const struct lt_test store_tests[] = {
    {"create_get", test_create_get},
    {"bulk_apply", test_bulk_apply},
    {"create_exists", test_create_exists},
    {"update", test_update},
    {"versions_and_missing", test_versions_and_missing},
    {"expected_created", test_expected_created},
    {"apply_invalid", test_apply_invalid},
    {"apply_keeps_committed_entries", test_apply_keeps_committed_entries},
    {"delete_purge", test_delete_purge},
    {"indexes_follow", test_indexes_follow},
    {"pagination", test_pagination},
    {"pagination_with_deletes", test_pagination_with_deletes},
    {"pagination_large_records", test_pagination_large_records},
    {"history", test_history},
    {"snapshot_roundtrip", test_snapshot_roundtrip},
    {"snapshot_corrupt", test_snapshot_corrupt},
    {"snapshot_other_indexes", test_snapshot_other_indexes},
    {"snapshot_load", test_snapshot_load},
    {"snapshot_positions", test_snapshot_positions},
    {"snapshot_positions_long_values", test_snapshot_positions_long_values},
    {"snapshot_positions_radix", test_snapshot_positions_radix},
    {"snapshot_pinned", test_snapshot_pinned},
    {"snapshot_concurrent", test_snapshot_concurrent},
    {"snapshot_stream_oom", test_snapshot_stream_oom},
    {"snapshot_cancel", test_snapshot_cancel},
    {"snapshot_digest", test_snapshot_digest},
    {"snapshot_prepare", test_snapshot_prepare},
    {"determinism", test_determinism},
    {"oom", test_oom},
    {"concurrent_readers", test_concurrent_readers},
    {"resume_after_reinserted_key", test_resume_after_reinserted_key},
    {"history_while_updated", test_history_while_updated},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"store", suite_init, suite_cleanup, store_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
