/* codec.c — struct raft_msg ⇄ protobuf-c Batch (see codec.h).
 *
 * Encoding builds protobuf-c structs that point at the caller's data (no payload copy)
 * and packs them once; decoding unpacks with protobuf-c and presents each message as a
 * struct raft_msg whose entries point into the unpacked buffer. */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

#include "lt_err.h"
#include "raft.pb-c.h"

/* What one encoding needs, allocated together per batch. */
struct codec_scratch {
    Lithair__Raft__V1__Message *msgs;
    Lithair__Raft__V1__Message **msg_ptrs;
    Lithair__Raft__V1__Entry *entries;
    Lithair__Raft__V1__Entry **entry_ptrs;
    Lithair__Raft__V1__SnapshotMeta *metas;
    Lithair__Raft__V1__ConfState *confs;
    Lithair__Raft__V1__Member *members;
    Lithair__Raft__V1__Member **member_ptrs;
    uint8_t (*contexts)[8];
};

static void codec_scratch_free(struct codec_scratch *s)
{
    free(s->msgs);
    free(s->msg_ptrs);
    free(s->entries);
    free(s->entry_ptrs);
    free(s->metas);
    free(s->confs);
    free(s->members);
    free(s->member_ptrs);
    free(s->contexts);
}

static void codec_put_u64(uint8_t out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t codec_get_u64(const uint8_t *in, size_t len)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len && i < 8; i++)
        v |= (uint64_t)in[i] << (8 * i);
    return v;
}

/* codec_build fills `batch` with protobuf-c structs describing the messages. */
static int codec_build(const struct raft_msg *const *msgs, const struct codec_chunk *const *chunks,
                       size_t n, struct codec_scratch *s, Lithair__Raft__V1__Batch *batch)
{
    size_t n_entries = 0, n_members = 0;
    for (size_t i = 0; i < n; i++) {
        n_entries += msgs[i]->n_entries;
        if (msgs[i]->type == RAFT_MSG_SNAPSHOT)
            n_members += msgs[i]->snapshot.conf.n_voters;
    }
    memset(s, 0, sizeof(*s));
    s->msgs = calloc(n ? n : 1, sizeof(*s->msgs));
    s->msg_ptrs = calloc(n ? n : 1, sizeof(*s->msg_ptrs));
    s->entries = calloc(n_entries ? n_entries : 1, sizeof(*s->entries));
    s->entry_ptrs = calloc(n_entries ? n_entries : 1, sizeof(*s->entry_ptrs));
    s->metas = calloc(n ? n : 1, sizeof(*s->metas));
    s->confs = calloc(n ? n : 1, sizeof(*s->confs));
    s->members = calloc(n_members ? n_members : 1, sizeof(*s->members));
    s->member_ptrs = calloc(n_members ? n_members : 1, sizeof(*s->member_ptrs));
    s->contexts = calloc(n ? n : 1, sizeof(*s->contexts));
    if (!s->msgs || !s->msg_ptrs || !s->entries || !s->entry_ptrs || !s->metas || !s->confs ||
        !s->members || !s->member_ptrs || !s->contexts) {
        codec_scratch_free(s);
        return LT_ENOMEM;
    }
    size_t e = 0, mem = 0;
    for (size_t i = 0; i < n; i++) {
        const struct raft_msg *m = msgs[i];
        Lithair__Raft__V1__Message *pm = &s->msgs[i];
        lithair__raft__v1__message__init(pm);
        pm->type = (Lithair__Raft__V1__MessageType)m->type;
        pm->from = m->from;
        pm->to = m->to;
        pm->term = m->term;
        pm->log_term = m->log_term;
        pm->index = m->index;
        pm->commit = m->commit;
        pm->reject = m->reject;
        pm->reject_hint = m->reject_hint;
        pm->hint_term = m->hint_term;
        if (m->context) {
            codec_put_u64(s->contexts[i], m->context);
            pm->context.data = s->contexts[i];
            pm->context.len = 8;
        }
        pm->n_entries = m->n_entries;
        pm->entries = m->n_entries ? &s->entry_ptrs[e] : NULL;
        for (size_t k = 0; k < m->n_entries; k++, e++) {
            Lithair__Raft__V1__Entry *pe = &s->entries[e];
            lithair__raft__v1__entry__init(pe);
            pe->term = m->entries[k].term;
            pe->index = m->entries[k].index;
            pe->type = (Lithair__Raft__V1__EntryType)m->entries[k].type;
            pe->data.data = (uint8_t *)m->entries[k].data.base;
            pe->data.len = m->entries[k].data.len;
            s->entry_ptrs[e] = pe;
        }
        if (m->type == RAFT_MSG_SNAPSHOT) {
            Lithair__Raft__V1__SnapshotMeta *meta = &s->metas[i];
            Lithair__Raft__V1__ConfState *conf = &s->confs[i];
            lithair__raft__v1__snapshot_meta__init(meta);
            lithair__raft__v1__conf_state__init(conf);
            meta->index = m->snapshot.index;
            meta->term = m->snapshot.term;
            meta->conf = conf;
            conf->n_voters = m->snapshot.conf.n_voters;
            conf->voters = conf->n_voters ? &s->member_ptrs[mem] : NULL;
            for (size_t k = 0; k < m->snapshot.conf.n_voters; k++, mem++) {
                lithair__raft__v1__member__init(&s->members[mem]);
                s->members[mem].id = m->snapshot.conf.voters[k];
                s->member_ptrs[mem] = &s->members[mem];
            }
            pm->snapshot = meta;
            const struct codec_chunk *c = chunks ? chunks[i] : NULL;
            if (c) {
                pm->snapshot_offset = c->offset;
                pm->snapshot_data.data = (uint8_t *)c->data;
                pm->snapshot_data.len = c->len;
                pm->snapshot_done = c->done;
                meta->size = c->total ? c->total : c->offset + c->len;
            }
        }
        s->msg_ptrs[i] = pm;
    }
    lithair__raft__v1__batch__init(batch);
    batch->n_messages = n;
    batch->messages = s->msg_ptrs;
    return 0;
}

size_t codec_batch_size(const struct raft_msg *const *msgs, const struct codec_chunk *const *chunks,
                        size_t n)
{
    struct codec_scratch s;
    Lithair__Raft__V1__Batch batch;
    if (codec_build(msgs, chunks, n, &s, &batch) != 0)
        return 0;
    size_t len = lithair__raft__v1__batch__get_packed_size(&batch);
    codec_scratch_free(&s);
    return len;
}

size_t codec_batch_encode(const struct raft_msg *const *msgs,
                          const struct codec_chunk *const *chunks, size_t n, uint8_t *buf)
{
    struct codec_scratch s;
    Lithair__Raft__V1__Batch batch;
    if (codec_build(msgs, chunks, n, &s, &batch) != 0)
        return 0;
    size_t len = lithair__raft__v1__batch__pack(&batch, buf);
    codec_scratch_free(&s);
    return len;
}

size_t codec_batch_encode_alloc(const struct raft_msg *const *msgs,
                                const struct codec_chunk *const *chunks, size_t n,
                                uint8_t *(*alloc)(void *ud, size_t len), void *ud)
{
    return codec_batch_encode_stamped(msgs, chunks, n, NULL, alloc, ud);
}

size_t codec_batch_encode_stamped(const struct raft_msg *const *msgs,
                                  const struct codec_chunk *const *chunks, size_t n,
                                  const struct codec_stamp *stamp,
                                  uint8_t *(*alloc)(void *ud, size_t len), void *ud)
{
    struct codec_scratch s;
    Lithair__Raft__V1__Batch batch;
    if (codec_build(msgs, chunks, n, &s, &batch) != 0)
        return 0;
    if (stamp) {
        batch.cluster = stamp->cluster;
        batch.disk_low = stamp->disk_low;
        batch.disk_free = stamp->disk_free;
    }
    size_t len = lithair__raft__v1__batch__get_packed_size(&batch);
    uint8_t *buf = alloc(ud, len);
    if (buf)
        lithair__raft__v1__batch__pack(&batch, buf);
    codec_scratch_free(&s);
    return buf ? len : 0;
}

int codec_batch_decode(const void *buf, size_t len, codec_msg_fn fn, void *arg)
{
    return codec_batch_decode_stamped(buf, len, NULL, fn, arg);
}

int codec_batch_decode_stamped(const void *buf, size_t len, codec_batch_fn on_batch,
                               codec_msg_fn fn, void *arg)
{
    Lithair__Raft__V1__Batch *batch = lithair__raft__v1__batch__unpack(NULL, len, buf);
    if (!batch)
        return LT_ECORRUPT;
    struct codec_stamp stamp = {
        .cluster = batch->cluster, .disk_low = batch->disk_low, .disk_free = batch->disk_free};
    int rc = on_batch ? on_batch(arg, &stamp) : 0;
    struct raft_entry *entries = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < batch->n_messages && rc == 0; i++) {
        const Lithair__Raft__V1__Message *pm = batch->messages[i];
        struct raft_msg m;
        memset(&m, 0, sizeof(m));
        if ((int)pm->type <= 0 || (int)pm->type > (int)RAFT_MSG_DIVERGED) {
            rc = LT_ECORRUPT;
            break;
        }
        m.type = (enum raft_msg_type)pm->type;
        m.from = pm->from;
        m.to = pm->to;
        m.term = pm->term;
        m.log_term = pm->log_term;
        m.index = pm->index;
        m.commit = pm->commit;
        m.reject = pm->reject;
        m.reject_hint = pm->reject_hint;
        m.hint_term = pm->hint_term;
        m.context = codec_get_u64(pm->context.data, pm->context.len);
        if (pm->n_entries > cap) {
            struct raft_entry *grown = realloc(entries, pm->n_entries * sizeof(*grown));
            if (!grown) {
                rc = LT_ENOMEM;
                break;
            }
            entries = grown;
            cap = pm->n_entries;
        }
        for (size_t k = 0; k < pm->n_entries; k++) {
            const Lithair__Raft__V1__Entry *pe = pm->entries[k];
            if ((int)pe->type < 0 || (int)pe->type > (int)RAFT_ENTRY_CONF_CHANGE) {
                rc = LT_ECORRUPT;
                break;
            }
            entries[k].term = pe->term;
            entries[k].index = pe->index;
            entries[k].type = (enum raft_entry_type)pe->type;
            entries[k].data.base = pe->data.data;
            entries[k].data.len = pe->data.len;
        }
        if (rc)
            break;
        m.entries = pm->n_entries ? entries : NULL;
        m.n_entries = pm->n_entries;
        struct codec_chunk chunk, *cp = NULL;
        if (pm->snapshot) {
            m.snapshot.index = pm->snapshot->index;
            m.snapshot.term = pm->snapshot->term;
            const Lithair__Raft__V1__ConfState *conf = pm->snapshot->conf;
            if (conf) {
                if (conf->n_voters > RAFT_MAX_NODES) {
                    rc = LT_ECORRUPT;
                    break;
                }
                for (size_t k = 0; k < conf->n_voters; k++)
                    m.snapshot.conf.voters[k] = conf->voters[k]->id;
                m.snapshot.conf.n_voters = conf->n_voters;
            }
            if (m.type == RAFT_MSG_SNAPSHOT && (pm->snapshot_data.len || pm->snapshot_done)) {
                chunk.offset = pm->snapshot_offset;
                chunk.data = pm->snapshot_data.data;
                chunk.len = pm->snapshot_data.len;
                chunk.done = pm->snapshot_done;
                chunk.total = pm->snapshot ? pm->snapshot->size : 0;
                cp = &chunk;
            }
        }
        rc = fn(arg, &m, cp);
    }
    free(entries);
    lithair__raft__v1__batch__free_unpacked(batch, NULL);
    return rc;
}
