/* wal.h — the segmented write-ahead log of one node: raft entries, the hard state and
 * snapshot markers, durable with one fdatasync per batch (group commit).
 *
 * Use per batch (one raft_update): wal_save_snapshot() if the update installs a
 * snapshot, wal_append() its entries (they replace the log from entries[0].index on),
 * wal_save_hard_state() if it changed, then ONE wal_sync(); only after wal_sync() returns
 * 0 is the batch durable. A batch is atomic on disk: after a crash either all of it or
 * none of it is recovered. After a local snapshot: wal_save_snapshot(), wal_sync(), then
 * wal_compact() to delete whole segments the snapshot covers.
 *
 * Recovery (wal_open) replays every segment, truncates a torn tail of the last segment
 * (logged and counted) and refuses with LT_ECORRUPT any damage that is not a torn tail.
 * It syncs the last segment and the directory before it returns the log: after a kill -9
 * the page cache may hold writes the dead process never synced.
 * After an I/O error in wal_sync/wal_append the WAL is failed: every later call returns
 * the same error and the node must restart and recover from disk (after a failed fsync
 * the page cache cannot be trusted). Not thread-safe: one owner (the node loop), except
 * wal_io_run (below), which may run on any thread.
 * The byte format is documented at the top of wal.c. */
#ifndef WAL_H
#define WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "raft.h"

#define WAL_DEFAULT_SEGMENT_SIZE (64ull << 20)
#define WAL_DEFAULT_MAX_PENDING  (16u << 20)
#define WAL_MAX_ENTRY_DATA       (64u << 20) /* larger entries are refused: LT_ETOOBIG */
#define WAL_HIST_BUCKETS         32          /* bucket b holds latencies in [2^(b-1), 2^b) µs */

struct wal_options {
    uint64_t segment_size; /* roll over to a new segment once this size is reached; 0: default */
    size_t max_pending;    /* buffered bytes written early (no fsync) past this; 0: default */
    uint64_t zero_ahead;   /* preallocation: zeros kept this far ahead of the records by the
                            * asynchronous sync (wal.c, "Preallocation"); 0: none */
    /* The newest valid snapshot the caller loaded before opening (NULL: none). Applied after
     * replay like a snapshot marker: entries it covers are dropped from the recovered log. */
    const struct raft_snapshot_meta *snapshot;
};

/* wal_options_default fills defaults: 64 MiB segments, 16 MiB pending, 4 MiB of zeros
 * ahead, no snapshot. */
void wal_options_default(struct wal_options *opt);

/* What wal_open recovered. The caller owns it and releases it with wal_recovered_fini. */
struct wal_recovered {
    struct raft_hard_state hs;          /* zero if never saved */
    struct raft_snapshot_meta snapshot; /* newest snapshot marker (or opt->snapshot); 0: none */
    struct raft_entry *entries;         /* snapshot.index + 1 .. last_index, consecutive */
    size_t n_entries;
    uint64_t first_index;     /* snapshot.index + 1 */
    uint64_t last_index;      /* snapshot.index if there are no entries */
    uint64_t truncated_bytes; /* bytes of a torn or uncommitted tail cut from the last segment */
    unsigned segments;
};

/* wal_recovered_fini frees the entries and zeroes `rec`. */
void wal_recovered_fini(struct wal_recovered *rec);

struct wal_stats {
    uint64_t bytes; /* on disk, all segments */
    unsigned segments;
    uint64_t entries;
    uint64_t first_index;
    uint64_t last_index;
    uint64_t snapshot_index;
    uint64_t fsyncs;                       /* every fdatasync/fsync of a WAL file or directory */
    uint64_t batches;                      /* wal_sync calls that wrote something */
    uint64_t fsync_hist[WAL_HIST_BUCKETS]; /* per-batch fdatasync latency, µs, log2 buckets */
    uint64_t fsync_p50_us;                 /* upper bound of the bucket holding the median */
    uint64_t fsync_p99_us;
    uint64_t fsync_max_us;
    uint64_t fsync_sum_us; /* the sum of the latencies counted in fsync_hist */
    uint64_t truncated_bytes_at_start;
    uint64_t pending_bytes; /* buffered, not yet written */
};

struct wal;

/* wal_open opens (creating if needed) the WAL in `dir` (the directory is created if
 * missing; its parent must exist), replays it into *rec and returns the WAL ready to
 * append after the last recovered entry. `opt` may be NULL for defaults. On success *out
 * and *rec are set; on error neither is touched. Errors: LT_ECORRUPT (damage that is not
 * a torn tail: a bad record followed by later batches, a bad record in a non-last
 * segment, a missing segment, an index gap; the message is logged), LT_EBUSY (another
 * process has this WAL open), LT_EIO, LT_ENOMEM. */
int wal_open(const char *dir, const struct wal_options *opt, struct wal **out,
             struct wal_recovered *rec);

/* wal_open in two steps, so that a node reads its log while its snapshot restores (the
 * snapshot that restores is known only at the end: a damaged one is skipped for an older).
 * wal_read locks `dir`, reads and checks every segment and cuts a torn tail — everything
 * that does not depend on the snapshot — with wal_open's errors; opt->snapshot is
 * ignored. wal_open_read then takes the snapshot the caller restored (NULL: none), with
 * wal_open's checks and results, and consumes `rd` whatever it returns; wal_read_free
 * releases an `rd` not given to it (and the lock). */
struct wal_read;
int wal_read(const char *dir, const struct wal_options *opt, struct wal_read **out);
int wal_open_read(struct wal_read *rd, const struct raft_snapshot_meta *snap, struct wal **out,
                  struct wal_recovered *rec);
void wal_read_free(struct wal_read *rd);

/* wal_append buffers `n` consecutive entries. entries[0].index must be in
 * (snapshot index, last index + 1]; entries from entries[0].index on are replaced.
 * Terms must not decrease. The data is copied. Errors: LT_EINVAL (bad indexes or terms;
 * nothing is buffered), LT_ETOOBIG, LT_ENOMEM, or the failed WAL's error. */
int wal_append(struct wal *w, const struct raft_entry *e, size_t n);

/* wal_save_hard_state buffers the hard state. */
int wal_save_hard_state(struct wal *w, const struct raft_hard_state *hs);

/* wal_save_snapshot buffers a snapshot marker: a snapshot covering meta->index exists.
 * As in the Raft paper §7: if the log holds meta->index with meta->term, the entries
 * after it are kept; otherwise the whole log is discarded. Entries up to meta->index are
 * dropped. A marker not newer than the current one is ignored. */
int wal_save_snapshot(struct wal *w, const struct raft_snapshot_meta *meta);

/* wal_sync writes everything buffered with one pwritev, then one fdatasync; it returns 0
 * only when the batch is durable. Nothing buffered: returns 0 at once. May roll over to a
 * new segment afterwards (extra fsyncs, once per segment). */
int wal_sync(struct wal *w);

/* Asynchronous sync: wal_sync in three steps, so that the write and fdatasync can run on
 * another thread while the owner keeps appending (group commit with one batch in flight).
 *   wal_sync_begin takes everything buffered, with its COMMIT record, into `io`
 *     (io->len == 0: nothing was buffered, everything appended so far is durable);
 *   wal_io_run writes and syncs it: the one step that may run on another thread, and it
 *     touches nothing but `io`;
 *   wal_sync_end accounts for it (an error fails the WAL) and rolls the segment over when
 *     full (writing what was appended meanwhile as a batch of its own first).
 * The batch is durable only when wal_sync_end returns 0. While a batch is in flight,
 * appends only buffer, and wal_sync and wal_sync_begin return LT_EBUSY. */
struct wal_io {
    int fd;
    unsigned char *buf;
    size_t len, cap;
    uint64_t off;
    uint64_t base_index;
    uint64_t zero_off, zero_len; /* zeros written ahead of the records (preallocation) */
    int rc;
    const char *what; /* the failed step */
    bool synced;      /* an fdatasync was attempted */
    uint64_t us;      /* its latency */
    uint64_t io_us;   /* the whole batch's: zeros, write and fdatasync */
};
int wal_sync_begin(struct wal *w, struct wal_io *io);
void wal_io_run(struct wal_io *io);
int wal_sync_end(struct wal *w, struct wal_io *io);

/* wal_compact deletes the oldest segments whose entries are all <= index. `index` must be
 * covered by a snapshot marker already synced (else LT_EINVAL). The current segment is
 * never deleted. */
int wal_compact(struct wal *w, uint64_t index);

/* wal_compact in two steps, so that the slow part (unlinking large files and syncing the
 * directory: 20-30 ms on this machine's ext4) runs off the thread that owns the WAL.
 * wal_compact_detach takes the same segments out of the WAL at once (no I/O) and returns
 * their files in *gc (NULL when there are none); wal_gc_run deletes them and fsyncs the
 * directory, on any thread, and wal_gc_free frees *gc. The WAL is correct whether or not
 * the files are ever deleted: a restart replays them and the snapshot marker drops their
 * entries, as after a crash between the snapshot and its compaction. */
struct wal_gc;
int wal_compact_detach(struct wal *w, uint64_t index, struct wal_gc **gc);
int wal_gc_run(struct wal_gc *gc);
void wal_gc_free(struct wal_gc *gc);

/* wal_last_index / wal_term_at: the log as appended so far (synced or not). wal_term_at
 * returns 0 for an index outside (snapshot index, last index]; the snapshot's term for
 * its index. */
uint64_t wal_last_index(const struct wal *w);
uint64_t wal_term_at(const struct wal *w, uint64_t index);

/* wal_stats fills counters for the UI and /metrics. */
void wal_stats(const struct wal *w, struct wal_stats *st);

/* wal_hist_pct_of: the upper bound of the bucket of `hist` (as wal_stats.fsync_hist) that
 * holds the p-th per-mille latency, at most max_us; 0 for an empty histogram. */
uint64_t wal_hist_pct_of(const uint64_t hist[WAL_HIST_BUCKETS], unsigned permille, uint64_t max_us);

/* wal_dump prints every segment and record of the WAL in `dir` to `out`, read-only and
 * without locking (a running node's WAL can be inspected), and says where recovery would
 * cut a torn tail or refuse. Returns LT_ECORRUPT if recovery would refuse. */
int wal_dump(const char *dir, FILE *out);

/* wal_free closes the WAL without syncing what is buffered. wal_free(NULL) does nothing. */
void wal_free(struct wal *w);

#endif
