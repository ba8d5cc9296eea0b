/* store.h — the replicated state machine: every model's records, applied from committed
 * Raft entries, readable without locks from any thread.
 *
 * One thread applies (store_apply, store_snapshot_read: "the applier"); any number of
 * threads read concurrently (store_get, store_list, store_history, store_count, ...). Readers
 * never take a lock against the applier: the tables are liburcu structures and replaced
 * memory is reclaimed after an RCU grace period.
 *
 * THREADS AND RCU. Every thread that calls any store function — the applier and every
 * reader — must be registered with liburcu (memb flavour) first: call
 * store_reader_register() once when the thread starts and store_reader_unregister() before
 * it exits. A registered thread that blocks for a long time outside store calls delays
 * reclamation only, not correctness. store_new, store_apply, store_snapshot_write,
 * store_snapshot_read, store_digest and store_free are applier-side calls: call them from
 * one thread at a time (the node loop). store_free requires that no reader uses the store
 * any more; it waits for pending reclamation (rcu_barrier), so nothing leaks.
 *
 * Determinism: store_apply reads nothing but the store and the command — no clock, no
 * random numbers — so replicas applying the same commands hold identical state, which
 * store_digest proves.
 *
 * Not here: validation with field-level reports and id generation before proposing
 * (models.h), persistence of snapshots (storage/), and the RPC encoding (service/). */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models.h"

struct store;

/* store_op: what a command did; the numbering is CommittedEvent.Op's (and HistoryEntry.Op's
 * for the first three). */
enum store_op {
    STORE_OP_CREATE = 0,
    STORE_OP_UPDATE = 1,
    STORE_OP_DELETE = 2,
    STORE_OP_PURGE = 3,
    STORE_OP_NONE = 4,
    STORE_OP_CLUSTER = 5, /* names the cluster (Command.Cluster): no record changes */
};

/* store_record: a copy of one stored version, owned by the caller (store_record_free). For
 * history entries `op` says what produced it; for a deleted record's reply it is the value
 * before the delete, stamped with the delete's raft index and term. */
struct store_record {
    uint64_t version;
    uint64_t raft_index; /* log index of the change that produced this version */
    uint64_t raft_term;
    enum store_op op;
    size_t len;
    uint8_t value[]; /* the model message, serialized (version and timestamps set) */
};

void store_record_free(struct store_record *r);

/* store_result: the outcome of one applied command. Always filled by store_apply; release
 * with store_result_fini. */
struct store_result {
    int code;                    /* 0 or LT_EEXIST, LT_ENOTFOUND, LT_ECONFLICT, LT_EINVAL */
    enum store_op op;            /* STORE_OP_NONE if the command failed */
    const struct model *model;   /* NULL if the command names no model */
    char *id;                    /* the record's key, NULL for purge or if unknown */
    uint64_t version;            /* the new version (the deleted one for a delete) */
    uint64_t purged;             /* records a purge deleted */
    uint64_t cluster;            /* STORE_OP_CLUSTER: the id it names */
    struct store_record *record; /* the new value (put) or the deleted one; NULL on failure */
    char message[192];           /* why it failed, for Response.message */
};

void store_result_fini(struct store_result *res);

/* store_reader_register / store_reader_unregister: rcu_register_thread and
 * rcu_unregister_thread, for threads that do not use liburcu otherwise. */
void store_reader_register(void);
void store_reader_unregister(void);

/* store_new creates an empty store. Returns 0 or LT_ENOMEM. */
int store_new(struct store **out);

/* store_free frees the store and everything it holds (store_free(NULL) is a no-op). */
void store_free(struct store *s);

/* store_abandon is store_free for a process about to exit: it ends the store's threads and
 * leaves its memory to the operating system. Freeing records one by one took a stopping
 * node 0.75 us each (about 0.2 s for 270,000 records, so about 0.75 s for a million). */
void store_abandon(struct store *s);

/* store_apply applies one committed lithair.v1.Command (the entry's data) at log position
 * index/term. Deterministic. Returns res->code: 0, or LT_EEXIST (create of an existing key),
 * LT_ENOTFOUND (update/delete of a missing key), LT_ECONFLICT (expected_version differs, or
 * expected_created is set and differs from the record's created_at — it was deleted and
 * created again since; nothing changed), LT_EINVAL (undecodable command, unknown model or field, or
 * a value failing validation). A failed command changes nothing. LT_ENOMEM is returned when memory
 * runs out (nothing changed either; the replica can no longer follow the log and the caller
 * should stop). */
int store_apply(struct store *s, uint64_t index, uint64_t term, const uint8_t *cmd, size_t len,
                struct store_result *res);

/* store_apply_norecord is store_apply with res->record left NULL (everything else the
 * same): for a replica no client waits on, as copying the value is a tenth of a create. */
int store_apply_norecord(struct store *s, uint64_t index, uint64_t term, const uint8_t *cmd,
                         size_t len, struct store_result *res);

/* store_bulk_begin .. store_bulk_end: a bulk apply, for a restart's committed WAL tail
 * before anything reads the store. The secondary indexes are kept by a thread of their
 * own, in log order, while store_apply does the rest, so that the two halves of an apply
 * run on two cores; store_bulk_end waits until the indexes have caught up. Meanwhile
 * results are as always, but reads may find the indexes behind; snapshots and restores
 * are refused (LT_EBUSY). store_bulk_begin returns LT_EBUSY during a bulk apply or a
 * pinned snapshot, LT_ENOMEM without a thread (store_apply then works as always). */
int store_bulk_begin(struct store *s);
void store_bulk_end(struct store *s);

/* store_applied reports the raft index and term of the last command applied (or restored). */
void store_applied(struct store *s, uint64_t *index, uint64_t *term);

/* store_set_applied records a position the store did not apply itself (a no-op or
 * configuration entry), so that snapshots carry the node's applied position. Applier-side. */
void store_set_applied(struct store *s, uint64_t index, uint64_t term);

/* store_get copies the current version of `id`. Returns 0, LT_ENOTFOUND, LT_EINVAL (unknown
 * model) or LT_ENOMEM. */
int store_get(struct store *s, const char *model, const char *id, struct store_record **out);

/* store_query: one page of a model's records, in primary-key order, or with `index` the
 * records whose indexed field equals `equals` (in primary-key order as well). */
struct store_query {
    const char *model;
    const char *index;  /* indexed field (proto or JSON name); NULL/"" = all records */
    const char *equals; /* with index: the value (enums by name or number) */
    const char *cursor; /* NULL/"" = first page; else a previous page's next_cursor */
    uint32_t limit; /* 0 = 100; at most 1000, and at most 8 MiB of values (one record at least) */
    bool include_benchmark;
};

/* store_page: the result of store_list; release with store_page_fini. */
struct store_page {
    struct store_record **records;
    size_t n;
    char *next_cursor; /* NULL on the last page */
    uint64_t total;    /* records matching the filter now */
};

/* store_list fills `out` with the records after the cursor, up to the limit. The cursor is
 * the last key returned, so paging is complete and duplicate-free for records that exist
 * throughout, whatever is created or deleted between pages. Returns 0, LT_EINVAL (unknown
 * model or index, bad cursor, bad enum value) or LT_ENOMEM. */
int store_list(struct store *s, const struct store_query *q, struct store_page *out);
void store_page_fini(struct store_page *p);

/* store_history copies the kept versions of `id`, oldest first (at most the model's
 * history_depth; models without history give the current version only). A deleted record's
 * history is dropped with it. Free each entry and the array. Returns 0, LT_ENOTFOUND,
 * LT_EINVAL or LT_ENOMEM. */
int store_history(struct store *s, const char *model, const char *id, struct store_record ***out,
                  size_t *n);

/* store_count counts a model's records, or with `index` those whose field equals
 * `equals`. Returns 0 or LT_EINVAL. */
int store_count(struct store *s, const char *model, const char *index, const char *equals,
                bool include_benchmark, uint64_t *out);

/* store_records_total: records in the store, all models. */
uint64_t store_records_total(struct store *s);

/* store_snapshot_write streams the whole state (every model's records with their versions,
 * raft positions and history, and the applied position) to `write`, which returns 0 or a
 * negative lt_err that aborts the snapshot and is returned. Applier-side call; LT_EBUSY
 * while a snapshot is pinned. */
int store_snapshot_write(struct store *s, int (*write)(void *ctx, const void *buf, size_t len),
                         void *ctx);

/* Snapshots without stopping the applier, in three steps:
 *
 * store_snapshot_begin (applier-side) pins the state as of the applied position: from then
 * on the applier keeps, besides what it always keeps, every record's version current at
 * the pin (with its history) and the records deleted since. O(models), no copying.
 * Returns 0, LT_EBUSY if a snapshot is pinned already, or LT_ENOMEM.
 *
 * store_snapshot_stream (any one thread registered with liburcu, once, while the applier
 * goes on) writes the pinned state to `write` exactly as store_snapshot_write would have
 * at the pin. Returns what store_snapshot_write returns, or LT_EINVAL on a second call.
 *
 * store_snapshot_cancel (any thread, while the stream may run) makes the stream give up
 * soon, with LT_ESTALE, between records (it checks about every thousand records).
 *
 * store_snapshot_end (applier-side, after the stream returned or if it never ran) unpins
 * and frees what only the snapshot kept. While pinned, store_snapshot_read, _load and
 * _write answer LT_EBUSY; end a snapshot before store_free. */
struct store_snap;
int store_snapshot_begin(struct store *s, struct store_snap **out);
int store_snapshot_stream(struct store_snap *sn,
                          int (*write)(void *ctx, const void *buf, size_t len), void *ctx);
void store_snapshot_cancel(struct store_snap *sn);
/* store_snapshot_digest (instead of store_snapshot_stream: any one thread registered with
 * liburcu, once, while the applier goes on) sets *out to what store_digest returned at the
 * pin. Returns 0, LT_ENOMEM, LT_ESTALE if cancelled, LT_EINVAL on a second call. */
int store_snapshot_digest(struct store_snap *sn, uint64_t *out);
void store_snapshot_end(struct store *s, struct store_snap *sn);

/* store_snapshot_read replaces the whole state with a snapshot read through `read`, which
 * fills exactly `len` bytes and returns 0, or returns LT_ECORRUPT at the end of input or
 * another negative lt_err. Corrupt or truncated input gives LT_ECORRUPT and leaves the store
 * unchanged; so does any other failure (LT_EBUSY while a snapshot is pinned). Applier-side
 * call. */
int store_snapshot_read(struct store *s, int (*read)(void *ctx, void *buf, size_t len), void *ctx);

/* store_snapshot_load is store_snapshot_read for a snapshot lying in memory at [data,
 * data + len), typically a file mapped read-only: the values stay where they are and the
 * store's versions point into that memory, so a large store restores without copying it.
 * `release(ctx)` is called exactly once, when nothing refers to the memory any more: when
 * the last version read from it is freed (by an update, a delete, another restore or
 * store_free; possibly on another thread), or before this returns when it failed or kept
 * nothing. Until then the memory must stay readable and unchanged. Applier-side call. */
int store_snapshot_load(struct store *s, const void *data, size_t len, void (*release)(void *ctx),
                        void *ctx);

/* A snapshot loaded off the applier, published in O(1) later (a follower installing a
 * large snapshot from its leader keeps serving meanwhile):
 *
 * store_snapshot_prepare (any thread registered with liburcu; no store needed) builds the
 * state held in memory at [data, len) with the checks and the ownership of the data
 * store_snapshot_load has (`release(ctx)` once nothing refers to the data, also when it
 * fails). Returns 0, LT_ECORRUPT or LT_ENOMEM.
 *
 * store_snapshot_install (applier-side) puts the prepared state in place of the store's
 * whole state, as store_snapshot_load would have, and takes `p`; LT_EBUSY while a snapshot
 * is pinned or a bulk apply runs (then `p` stays the caller's). store_prepared_position
 * gives the applied position it holds; store_prepared_free drops one never installed. */
struct store_prepared;
int store_snapshot_prepare(const void *data, size_t len, void (*release)(void *ctx), void *ctx,
                           struct store_prepared **out);
int store_snapshot_install(struct store *s, struct store_prepared *p);
void store_prepared_position(const struct store_prepared *p, uint64_t *index, uint64_t *term);
void store_prepared_free(struct store_prepared *p);

/* store_snapshot_write_v2 (tests) makes store_snapshot_write write the previous format
 * (LTSTORE2: no index positions), to check that it is still read. */
void store_snapshot_write_v2(bool on);

/* store_digest hashes the whole content (every record, version, raft position and history
 * entry, in key order): equal stores give equal digests on every machine. */
uint64_t store_digest(struct store *s);

/* store_fault_inject (tests only): the nth allocation the store makes from now on fails
 * (0 = none). Not thread-safe: use with no concurrent readers. */
void store_fault_inject(int nth);

#endif
