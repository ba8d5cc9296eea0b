/* service.c — the RPC handlers of lithair-node: one function per method of the
 * `service` blocks in rpc.proto, found through one table.
 *
 * A handler runs on the node loop with the request's input already unpacked. It answers
 * at once (reads of local state, errors) or proposes a Command and resumes when that
 * entry is applied, or waits for a ReadIndex before a linearizable read. Models are
 * generic: every handler works for every row of the model table (store/models.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_clock.h"
#include "lt_err.h"
#include "lt_log.h"
#include "node_internal.h"

typedef void (*svc_handler_fn)(struct node *n, struct op *op);

/* ------------------------------------------------------------------ helpers */

static const struct model *svc_model(struct node *n, struct op *op, const char *name)
{
    const struct model *m = models_find(name);
    if (!m) {
        char msg[160];
        snprintf(msg, sizeof(msg), "unknown model '%.80s'", name ? name : "");
        node_op_reply(n, op, LITHAIR__V1__CODE__NOT_FOUND, msg, NULL);
    }
    return m;
}

static void svc_record(Lithair__V1__Record *rec, const struct store_record *r)
{
    lithair__v1__record__init(rec);
    rec->value.data = (uint8_t *)r->value;
    rec->value.len = r->len;
    rec->raft_index = r->raft_index;
    rec->raft_term = r->raft_term;
}

/* svc_reply_store_err answers a failed store call or applied command. */
static void svc_reply_store_err(struct node *n, struct op *op, int code, const char *message)
{
    node_op_reply_err(n, op, code, message && *message ? message : NULL);
}

/* svc_resume_record answers a committed Create/Update/Delete with the record. */
static void svc_resume_record(struct node *n, struct op *op, const struct store_result *res)
{
    if (!res) {
        node_op_reply(n, op, LITHAIR__V1__CODE__INTERNAL, "entry applied without a result", NULL);
        return;
    }
    if (res->code != 0) {
        svc_reply_store_err(n, op, res->code, res->message);
        return;
    }
    Lithair__V1__RecordReply rr = LITHAIR__V1__RECORD_REPLY__INIT;
    Lithair__V1__Record rec;
    if (res->record) {
        svc_record(&rec, res->record);
        rr.record = &rec;
    }
    node_op_reply(n, op, LITHAIR__V1__CODE__OK, "", &rr.base);
}

static void svc_propose_prepared(struct node *n, struct op *op, int rc, struct model_prepared *p,
                                 const struct model_violations *viol)
{
    if (rc == LT_EINVAL && viol) {
        node_op_reply_violations(n, op, viol->n ? "validation failed" : "invalid value", viol);
        return;
    }
    if (rc != 0) {
        node_op_reply_err(n, op, rc, NULL);
        return;
    }
    node_op_propose(n, op, p->cmd, p->cmd_len, svc_resume_record);
    models_prepared_fini(p);
}

/* ------------------------------------------------------------------ Models */

/* svc_disk_low answers RESOURCE_EXHAUSTED when the leader's disk is nearly full and `m`'s
 * records only grow the store. Sessions pass (logging in must still work, to delete), and
 * so do deletes and purges, which free space once a snapshot compacts the log. */
static bool svc_disk_low(struct node *n, struct op *op, const struct model *m)
{
    char why[300];
    if (strcmp(m->name, "sessions") == 0 || !node_disk_low(n, why, sizeof(why)))
        return false;
    node_op_reply(n, op, LITHAIR__V1__CODE__RESOURCE_EXHAUSTED, why, NULL);
    return true;
}

static void svc_models_create(struct node *n, struct op *op)
{
    const Lithair__V1__CreateRequest *in = (const void *)op->input;
    const struct model *m = svc_model(n, op, in->model);
    if (!m || svc_disk_low(n, op, m))
        return;
    struct model_violations viol;
    memset(&viol, 0, sizeof(viol));
    struct model_prepared p;
    int rc = models_prepare_create(m, in->value.data, in->value.len, lt_wall_ns(), node_cfg(n)->id,
                                   &viol, &p);
    svc_propose_prepared(n, op, rc, &p, &viol);
}

static void svc_models_update(struct node *n, struct op *op)
{
    const Lithair__V1__UpdateRequest *in = (const void *)op->input;
    const struct model *m = svc_model(n, op, in->model);
    if (!m || svc_disk_low(n, op, m))
        return;
    struct model_violations viol;
    memset(&viol, 0, sizeof(viol));
    struct model_prepared p;
    int rc = models_prepare_update(
        m, in->id, in->value.data, in->value.len, (const char *const *)in->fields, in->n_fields,
        in->expected_version, in->expected_created, lt_wall_ns(), node_cfg(n)->id, &viol, &p);
    svc_propose_prepared(n, op, rc, &p, &viol);
}

static void svc_models_delete(struct node *n, struct op *op)
{
    const Lithair__V1__DeleteRequest *in = (const void *)op->input;
    const struct model *m = svc_model(n, op, in->model);
    if (!m)
        return;
    struct model_violations viol;
    memset(&viol, 0, sizeof(viol));
    struct model_prepared p;
    int rc = models_prepare_delete(m, in->id, in->expected_version, in->expected_created,
                                   lt_wall_ns(), node_cfg(n)->id, &viol, &p);
    svc_propose_prepared(n, op, rc, &p, &viol);
}

/* A purge is proposed in chunks of at most SVC_PURGE_CHUNK records, the next once the last
 * is applied: one entry deleting 160,000 records held every replica's loop 350-600 ms, past
 * the election timeout, and the cluster changed leader. A chunk takes a few ms to apply. */
#define SVC_PURGE_CHUNK 4096

static void svc_purge_next(struct node *n, struct op *op);

static void svc_resume_purge(struct node *n, struct op *op, const struct store_result *res)
{
    if (!res || res->code != 0) {
        svc_reply_store_err(n, op, res ? res->code : LT_EIO, res ? res->message : NULL);
        return;
    }
    op->purged += res->purged;
    if (res->purged == SVC_PURGE_CHUNK) { /* a full chunk: there may be more */
        svc_purge_next(n, op);
        return;
    }
    Lithair__V1__PurgeReply pr = LITHAIR__V1__PURGE_REPLY__INIT;
    pr.deleted = op->purged;
    node_op_reply(n, op, LITHAIR__V1__CODE__OK, "", &pr.base);
}

/* svc_purge_next proposes the purge's next chunk (the op's model is checked already). */
static void svc_purge_next(struct node *n, struct op *op)
{
    const Lithair__V1__PurgeRequest *in = (const void *)op->input;
    const struct model *m = models_find(in->model);
    struct model_prepared p;
    int rc =
        m ? models_prepare_purge(m, SVC_PURGE_CHUNK, lt_wall_ns(), node_cfg(n)->id, &p) : LT_EINVAL;
    if (rc != 0) {
        node_op_reply_err(n, op, rc, NULL);
        return;
    }
    node_op_propose(n, op, p.cmd, p.cmd_len, svc_resume_purge);
    models_prepared_fini(&p);
}

static void svc_models_purge(struct node *n, struct op *op)
{
    const Lithair__V1__PurgeRequest *in = (const void *)op->input;
    if (!svc_model(n, op, in->model))
        return;
    op->purged = 0;
    svc_purge_next(n, op);
}

static void svc_do_get(struct node *n, struct op *op, const struct store_result *unused)
{
    (void)unused;
    const Lithair__V1__GetRequest *in = (const void *)op->input;
    struct store_record *r = NULL;
    int rc = store_get(node_store(n), in->model, in->id, &r);
    if (rc != 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s '%.80s' %s", in->model, in->id,
                 rc == LT_ENOTFOUND ? "does not exist" : lt_strerror(rc));
        node_op_reply_err(n, op, rc, msg);
        return;
    }
    Lithair__V1__RecordReply rr = LITHAIR__V1__RECORD_REPLY__INIT;
    Lithair__V1__Record rec;
    svc_record(&rec, r);
    rr.record = &rec;
    node_op_reply(n, op, LITHAIR__V1__CODE__OK, "", &rr.base);
    store_record_free(r);
}

/* svc_read runs `fn` now (serializable) or after a ReadIndex round (linearizable). */
static void svc_read(struct node *n, struct op *op, Lithair__V1__Consistency c, op_resume_fn fn)
{
    if (c == LITHAIR__V1__CONSISTENCY__SERIALIZABLE)
        fn(n, op, NULL);
    else
        node_op_read(n, op, fn);
}

static void svc_models_get(struct node *n, struct op *op)
{
    const Lithair__V1__GetRequest *in = (const void *)op->input;
    if (!svc_model(n, op, in->model))
        return;
    svc_read(n, op, in->consistency, svc_do_get);
}

/* svc_list_why says which part of a refused list query is wrong: the index, the cursor or
 * the value (the store only says "invalid"). */
static void svc_list_why(const Lithair__V1__ListRequest *in, char *msg, size_t n)
{
    const struct model *m = models_find(in->model);
    char names[128] = "";
    bool known = false;
    for (size_t i = 0; m && m->indexes[i]; i++) {
        size_t k = strlen(names);
        snprintf(names + k, sizeof(names) - k, "%s%s", k ? ", " : "", m->indexes[i]);
        known = known || strcmp(m->indexes[i], in->index) == 0;
    }
    bool hex = strlen(in->cursor) % 2 == 0;
    for (const char *c = in->cursor; *c && hex; c++)
        hex = (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f');
    if (in->index[0] && !known)
        snprintf(msg, n, "bad list query: no index '%.60s' (indexed fields: %s)", in->index,
                 names[0] ? names : "none");
    else if (!hex)
        snprintf(msg, n,
                 "bad list query: the cursor is not one this service gave "
                 "(pass the previous page's nextCursor)");
    else if (in->index[0])
        snprintf(msg, n, "bad list query: '%.60s' is not a value of %s", in->equals, in->index);
    else
        snprintf(msg, n, "bad list query");
}

static void svc_do_list(struct node *n, struct op *op, const struct store_result *unused)
{
    (void)unused;
    const Lithair__V1__ListRequest *in = (const void *)op->input;
    struct store_query q = {
        .model = in->model,
        .index = in->index,
        .equals = in->equals,
        .cursor = in->cursor,
        .limit = in->limit,
        .include_benchmark = in->include_benchmark,
    };
    struct store_page page;
    int rc = store_list(node_store(n), &q, &page);
    if (rc == LT_EINVAL) {
        char msg[256];
        svc_list_why(in, msg, sizeof(msg));
        node_op_reply_err(n, op, rc, msg);
        return;
    }
    if (rc != 0) {
        node_op_reply_err(n, op, rc, NULL);
        return;
    }
    Lithair__V1__ListReply lr = LITHAIR__V1__LIST_REPLY__INIT;
    Lithair__V1__Record *recs = calloc(page.n ? page.n : 1, sizeof(*recs));
    Lithair__V1__Record **rp = calloc(page.n ? page.n : 1, sizeof(*rp));
    if (!recs || !rp) {
        free(recs);
        free(rp);
        store_page_fini(&page);
        node_op_reply_err(n, op, LT_ENOMEM, NULL);
        return;
    }
    for (size_t i = 0; i < page.n; i++) {
        svc_record(&recs[i], page.records[i]);
        rp[i] = &recs[i];
    }
    lr.n_records = page.n;
    lr.records = rp;
    lr.next_cursor = page.next_cursor ? page.next_cursor : "";
    lr.total = page.total;
    node_op_reply(n, op, LITHAIR__V1__CODE__OK, "", &lr.base);
    free(recs);
    free(rp);
    store_page_fini(&page);
}

static void svc_models_list(struct node *n, struct op *op)
{
    const Lithair__V1__ListRequest *in = (const void *)op->input;
    if (!svc_model(n, op, in->model))
        return;
    svc_read(n, op, in->consistency, svc_do_list);
}

static void svc_do_history(struct node *n, struct op *op, const struct store_result *unused)
{
    (void)unused;
    const Lithair__V1__HistoryRequest *in = (const void *)op->input;
    struct store_record **recs = NULL;
    size_t count = 0;
    int rc = store_history(node_store(n), in->model, in->id, &recs, &count);
    if (rc != 0) {
        /* named as Models/Get names it (a bare "not found" said not which) */
        char msg[200];
        snprintf(msg, sizeof(msg), "%s '%.80s' %s", in->model, in->id,
                 rc == LT_ENOTFOUND ? "does not exist" : lt_strerror(rc));
        node_op_reply_err(n, op, rc, msg);
        return;
    }
    Lithair__V1__HistoryReply hr = LITHAIR__V1__HISTORY_REPLY__INIT;
    Lithair__V1__HistoryEntry *he = calloc(count ? count : 1, sizeof(*he));
    Lithair__V1__HistoryEntry **hp = calloc(count ? count : 1, sizeof(*hp));
    Lithair__V1__Record *rr = calloc(count ? count : 1, sizeof(*rr));
    if (he && hp && rr) {
        for (size_t i = 0; i < count; i++) {
            lithair__v1__history_entry__init(&he[i]);
            he[i].op = recs[i]->op <= STORE_OP_DELETE ? (Lithair__V1__HistoryEntry__Op)recs[i]->op
                                                      : LITHAIR__V1__HISTORY_ENTRY__OP__UPDATE;
            svc_record(&rr[i], recs[i]);
            he[i].record = &rr[i];
            hp[i] = &he[i];
        }
        hr.n_entries = count;
        hr.entries = hp;
        node_op_reply(n, op, LITHAIR__V1__CODE__OK, "", &hr.base);
    } else {
        node_op_reply_err(n, op, LT_ENOMEM, NULL);
    }
    free(he);
    free(hp);
    free(rr);
    for (size_t i = 0; i < count; i++)
        store_record_free(recs[i]);
    free(recs);
}

static void svc_models_history(struct node *n, struct op *op)
{
    const Lithair__V1__HistoryRequest *in = (const void *)op->input;
    if (!svc_model(n, op, in->model))
        return;
    svc_read(n, op, in->consistency, svc_do_history);
}

/* ------------------------------------------------------------------ Cluster */

static void svc_cluster_ping(struct node *n, struct op *op)
{
    const Lithair__V1__PingRequest *in = (const void *)op->input;
    Lithair__V1__PingReply pr = LITHAIR__V1__PING_REPLY__INIT;
    pr.payload = in->payload;
    pr.id = node_cfg(n)->id;
    node_op_reply(n, op, LITHAIR__V1__CODE__OK, "", &pr.base);
}

static void svc_status_reply(struct node *n, struct op *op, bool digest)
{
    Lithair__V1__NodeStatus st = LITHAIR__V1__NODE_STATUS__INIT;
    Lithair__V1__FollowerProgress fp[RAFT_MAX_NODES], *fpp[RAFT_MAX_NODES];
    Lithair__Raft__V1__Member mem[RAFT_MAX_NODES], *memp[RAFT_MAX_NODES];
    node_fill_status(n, &st, fp, fpp, mem, memp);
    if (digest)
        node_digest_info(n, &st.digest, &st.digest_index);
    node_op_reply(n, op, LITHAIR__V1__CODE__OK, "", &st.base);
}

static void svc_resume_status_digest(struct node *n, struct op *op,
                                     const struct store_result *unused)
{
    (void)unused;
    svc_status_reply(n, op, true);
}

/* With a digest, the status waits for a hash of the store taken after the call came,
 * made on a thread of the node (it is O(records)). */
static void svc_cluster_status(struct node *n, struct op *op)
{
    const Lithair__V1__StatusRequest *in = (const void *)op->input;
    if (in->digest)
        node_op_digest(n, op, svc_resume_status_digest);
    else
        svc_status_reply(n, op, false);
}

static void svc_cluster_wal_stats(struct node *n, struct op *op)
{
    Lithair__V1__WalStatsReply ws = LITHAIR__V1__WAL_STATS_REPLY__INIT;
    Lithair__V1__HistogramBucket b[WAL_HIST_BUCKETS], *bp[WAL_HIST_BUCKETS];
    Lithair__V1__Timestamp ts;
    node_fill_wal_stats(n, &ws, b, bp, &ts);
    ws.id = node_cfg(n)->id; /* the figures say whose they are (rpc.proto) */
    node_op_reply(n, op, LITHAIR__V1__CODE__OK, "", &ws.base);
}

static void svc_resume_snapshot(struct node *n, struct op *op, const struct store_result *unused)
{
    (void)unused;
    Lithair__V1__SnapshotReply sr = LITHAIR__V1__SNAPSHOT_REPLY__INIT;
    node_snapshot_info(n, &sr.index, &sr.term, &sr.bytes);
    sr.elapsed_us = (lt_now_ns() - op->start_ns) / 1000;
    sr.id = node_cfg(n)->id;
    node_op_reply(n, op, LITHAIR__V1__CODE__OK, "", &sr.base);
}

static void svc_cluster_snapshot(struct node *n, struct op *op)
{
    node_op_snapshot(n, op, svc_resume_snapshot);
}

static void svc_resume_transfer(struct node *n, struct op *op, const struct store_result *unused)
{
    (void)unused;
    Lithair__V1__TransferLeaderReply tr = LITHAIR__V1__TRANSFER_LEADER_REPLY__INIT;
    tr.leader_id = node_leader(n);
    tr.term = node_term(n);
    tr.elapsed_us = (lt_now_ns() - op->start_ns) / 1000;
    node_op_reply(n, op, LITHAIR__V1__CODE__OK, "", &tr.base);
}

static void svc_cluster_transfer(struct node *n, struct op *op)
{
    const Lithair__V1__TransferLeaderRequest *in = (const void *)op->input;
    node_op_transfer(n, op, in->target, svc_resume_transfer);
}

static void svc_cluster_shutdown(struct node *n, struct op *op)
{
    Lithair__V1__ShutdownReply sr = LITHAIR__V1__SHUTDOWN_REPLY__INIT;
    lt_info("shutdown requested over RPC");
    node_op_reply(n, op, LITHAIR__V1__CODE__OK, "", &sr.base);
    node_request_shutdown(n);
}

/* ------------------------------------------------------------------ dispatch */

static const struct {
    const char *method;
    svc_handler_fn fn;
} svc_table[] = {
    {"Models/Create", svc_models_create},       {"Models/Get", svc_models_get},
    {"Models/Update", svc_models_update},       {"Models/Delete", svc_models_delete},
    {"Models/List", svc_models_list},           {"Models/History", svc_models_history},
    {"Models/Purge", svc_models_purge},         {"Cluster/Status", svc_cluster_status},
    {"Cluster/Ping", svc_cluster_ping},         {"Cluster/TransferLeader", svc_cluster_transfer},
    {"Cluster/Snapshot", svc_cluster_snapshot}, {"Cluster/WalStats", svc_cluster_wal_stats},
    {"Cluster/Shutdown", svc_cluster_shutdown},
};

void service_dispatch(struct node *n, struct op *op)
{
    for (size_t i = 0; i < sizeof(svc_table) / sizeof(svc_table[0]); i++) {
        if (strcmp(svc_table[i].method, op->method.name) == 0) {
            svc_table[i].fn(n, op);
            return;
        }
    }
    node_op_reply(n, op, LITHAIR__V1__CODE__UNIMPLEMENTED, "method not implemented", NULL);
}
