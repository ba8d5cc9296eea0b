/* wal.c — the segmented write-ahead log (see wal.h for the API and its contract).
 *
 * What it is not: an entry cache (entries live in the raft core's memory; the WAL only
 * keeps the indexes and term runs it needs to check appends) nor a snapshot store
 * (snap.c). All integers are little-endian.
 *
 * Directory layout
 *   <seq:016x>-<first_index:016x>.wal   segments; seq counts up from the first segment
 *                                       ever made, first_index is the index the first
 *                                       entry appended to it would have had
 *   *.wal.tmp                           a segment being created; deleted on open
 *   LOCK                                locked (fcntl) while the WAL is open
 *
 * Segment header (40 bytes)
 *   0  magic "LITHWAL\0"      8  u32 version (1)    12  u32 header size (40)
 *   16 u64 seq                24  u64 first_index    32  u32 CRC32C of bytes [0,32)
 *   36 u32 zero
 *
 * Record (16-byte header, payload, zero padding to a multiple of 8)
 *   0  u32 crc      CRC32C of header bytes [4,16) followed by the payload
 *   4  u32 len      payload length (padding not included)
 *   8  u8  type     1 ENTRY, 2 STATE, 3 SNAPSHOT, 4 COMMIT, 5 SEAL
 *   9  u8  zero[3]
 *   12 u32 ~len     checks the length before it is trusted
 * Payloads
 *   ENTRY     u64 term, u64 index, u32 entry type, u32 zero, data[len - 24]
 *   STATE     u64 term, u64 vote, u64 commit                       (hard state)
 *   SNAPSHOT  u64 index, u64 term, u32 n_voters, u32 flags, u64 voters[n_voters]
 *             flags bit 0 KEEP: the log held index with term when the marker was written,
 *             so the entries after it stay (Raft §7); otherwise the whole log went
 *   COMMIT    u64 batch sequence number
 *   SEAL      u64 ~seq of the next segment (inverted: its last byte is never zero, so a
 *             whole SEAL is told from a torn one): the last record of a segment, written once the
 *             next segment is durable (so a SEAL in the last segment means its successor
 *             is missing: LT_ECORRUPT — a newest segment lost would otherwise go unseen)
 *
 * Batches. Every wal_sync writes its records followed by one COMMIT record with one
 * pwritev, then one fdatasync. Replay applies a batch only when its COMMIT record is
 * read, so a batch is atomic. A new segment is made only right after a successful sync
 * (created as *.tmp with the header, the current snapshot marker and hard state and a
 * COMMIT, fdatasync'ed, renamed, directory fsync'ed); then the old segment is sealed: a
 * SEAL record after its last COMMIT, cut to its exact size, fdatasync'ed. Every segment
 * but the last ends with a COMMIT record (and a SEAL, unless a crash came between the new
 * segment and the seal, or the segment predates SEAL records: then it may end in
 * preallocated zeros), and restates the state that older segments held, so compaction
 * may delete old segments whole. A batch whose write or fdatasync fails is overwritten
 * with zeros before the WAL refuses further writes (wal_void_batch), so that a restart in
 * the same boot cannot read it back from the page cache.
 *
 * Replay rules. ENTRY at index i replaces the log from i on (i <= last + 1; a gap is
 * corruption; i must be above the snapshot); terms never decrease. SNAPSHOT drops the
 * entries it covers, and the entries after it too unless it has the KEEP flag (decided
 * when it was written, so replay needs no entry that compaction may have deleted). Replay
 * may start after segments that compaction deleted: until a snapshot marker reaches the
 * entries, they may start (or be replaced from) anywhere above it, but when replay ends
 * the log must start right after the snapshot. A snapshot the caller passes to wal_open
 * that is newer than the log's marker is applied by the Raft §7 rule and then written as
 * a marker, so the log never depends on a snapshot file it does not name.
 *
 * Compaction (wal_compact) deletes the oldest segments, never the current one, whose
 * entries all lie at or below a synced snapshot marker, oldest first, the directory
 * fsync'ed after each (the segments on disk stay consecutive through any power cut).
 *
 * Torn-tail rule. Only the last segment may end badly: at the first record that is
 * incomplete, fails its CRC, is zero-filled or malformed, or at a tail of records with no
 * COMMIT, the segment is truncated back to the end of the last COMMIT record (logged and
 * counted in truncated_bytes, up to the last non-zero byte: the preallocated zeros after
 * a torn record are cut, not counted) — unless beyond the bad record lies a valid COMMIT of a
 * later batch (a higher sequence number than the damaged batch's, or a COMMIT followed
 * by another valid record): then a later batch was durable after the damaged one, so the
 * damage is corruption (LT_ECORRUPT) and the node must not start. A bad record anywhere
 * in another segment, a bad header, a missing segment or an index gap is LT_ECORRUPT.
 * Whatever replay keeps is made durable before it is returned (the last segment
 * fdatasync'ed, the directory fsync'ed): a process killed after a write and before its
 * sync leaves it in the page cache, where a restart in the same boot reads it back.
 *
 * Preallocation. The writer extends the current segment with zeros a few MiB ahead of the
 * batches (WAL_ZERO_AHEAD), so that an fdatasync seldom has a new file size to commit
 * (on ext4 that is a journal commit per sync, or without a journal, as on the development
 * machine, a synchronous inode write: measured here, p50 178 -> 124 us and p99
 * 1000 -> 400 us for 1 KiB batches). The zeros are not records: an all-zero tail of the
 * last segment is unwritten space, cut at recovery without being counted as torn (a batch
 * that never reached the disk looks the same, and was never acknowledged); a torn tail
 * in front of the zeros is counted with them. A segment is
 * cut to its exact size before the next one starts, so sealed segments have no tail. */
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_log.h"
#include "sio.h"

#define WAL_MAGIC   "LITHWAL"
#define WAL_VERSION 1u

/* The on-disk layouts, for the sizes and offsets below (encoding is done field by field). */
struct wal_disk_seg_hdr {
    char magic[8];
    uint32_t version;
    uint32_t hdr_size;
    uint64_t seq;
    uint64_t first_index;
    uint32_t crc;
    uint32_t zero;
};

struct wal_disk_rec_hdr {
    uint32_t crc;
    uint32_t len;
    uint8_t type;
    uint8_t zero[3];
    uint32_t len_inv;
};

struct wal_disk_entry {
    uint64_t term;
    uint64_t index;
    uint32_t type;
    uint32_t zero;
};

struct wal_disk_state {
    uint64_t term;
    uint64_t vote;
    uint64_t commit;
};

struct wal_disk_snapshot {
    uint64_t index;
    uint64_t term;
    uint32_t n_voters;
    uint32_t flags;
};

#define WAL_SNAP_KEEP 1u /* the entries after the snapshot stay */

#define WAL_ZERO_AHEAD   (4u << 20) /* zeros written ahead of the batches (see above) */
#define WAL_SEG_HDR_SIZE 40u
#define WAL_REC_HDR_SIZE 16u
#define WAL_ENTRY_FIXED  24u
#define WAL_STATE_SIZE   24u
#define WAL_SNAP_FIXED   24u
#define WAL_COMMIT_SIZE  8u
#define WAL_MAX_REC_LEN  (WAL_MAX_ENTRY_DATA + WAL_ENTRY_FIXED)

_Static_assert(sizeof(struct wal_disk_seg_hdr) == WAL_SEG_HDR_SIZE, "segment header size");
_Static_assert(offsetof(struct wal_disk_seg_hdr, seq) == 16, "segment header layout");
_Static_assert(offsetof(struct wal_disk_seg_hdr, crc) == 32, "segment header layout");
_Static_assert(sizeof(struct wal_disk_rec_hdr) == WAL_REC_HDR_SIZE, "record header size");
_Static_assert(offsetof(struct wal_disk_rec_hdr, type) == 8, "record header layout");
_Static_assert(offsetof(struct wal_disk_rec_hdr, len_inv) == 12, "record header layout");
_Static_assert(sizeof(struct wal_disk_entry) == WAL_ENTRY_FIXED, "entry payload size");
_Static_assert(sizeof(struct wal_disk_state) == WAL_STATE_SIZE, "state payload size");
_Static_assert(sizeof(struct wal_disk_snapshot) == WAL_SNAP_FIXED, "snapshot payload size");
_Static_assert(WAL_SEG_HDR_SIZE % 8 == 0 && WAL_REC_HDR_SIZE % 8 == 0, "8-byte alignment");
_Static_assert(WAL_MAX_REC_LEN < UINT32_MAX / 2, "record length fits in u32");

enum wal_rec_type {
    WAL_REC_ENTRY = 1,
    WAL_REC_STATE = 2,
    WAL_REC_SNAPSHOT = 3,
    WAL_REC_COMMIT = 4,
    WAL_REC_SEAL = 5,
};

struct wal_seg {
    uint64_t seq;
    uint64_t first_index;
    uint64_t max_index; /* largest entry index ever written to it; 0 if none */
    uint64_t size;      /* bytes of records (the file may be longer: zeros ahead) */
};

/* A term run: the entries from `index` on (up to the next run) have `term`. */
struct wal_run {
    uint64_t index;
    uint64_t term;
};

struct wal_buf {
    unsigned char *p;
    size_t len;
    size_t cap;
};

struct wal {
    char *dir;
    struct wal_options opt;
    int fd;             /* the last segment, open for appending */
    uint64_t zeroed_to; /* the last segment's file size: zeros from segs[last].size to it */
    int lock_fd;        /* <dir>/LOCK, locked (fcntl): one process per WAL */
    struct wal_seg *segs;
    size_t n_segs;
    size_t cap_segs;

    /* the log as appended so far */
    struct raft_snapshot_meta base; /* newest snapshot marker; index 0 if none */
    uint64_t synced_base_index;     /* base.index as of the last successful sync */
    uint64_t last_index;
    struct wal_run *runs;
    size_t n_runs;
    size_t cap_runs;
    struct raft_hard_state hs;
    bool has_hs;

    struct wal_buf pending;
    struct wal_buf spare; /* the buffer of the last batch written, reused for the next */
    bool in_flight;       /* a batch handed out by wal_sync_begin awaits wal_sync_end */
    bool uncommitted;     /* records written early (max_pending) that still await their COMMIT */
    uint64_t batch_seq;
    int failed; /* the sticky error after an I/O failure; 0 if healthy */

    uint64_t fsyncs;
    uint64_t batches;
    uint64_t hist[WAL_HIST_BUCKETS];
    uint64_t fsync_max_us;
    uint64_t fsync_sum_us; /* of every latency in hist */
    uint64_t truncated_at_start;
};

/* ---- little-endian encoding ---- */

static void wal_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void wal_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t wal_get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t wal_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static size_t wal_pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* ---- the pending buffer and record encoding ---- */

static int wal_buf_reserve(struct wal_buf *b, size_t more)
{
    if (b->cap - b->len >= more)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2)
            return LT_ENOMEM;
        cap *= 2;
    }
    unsigned char *p = realloc(b->p, cap);
    if (!p)
        return LT_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static size_t wal_rec_size(size_t payload_len)
{
    return WAL_REC_HDR_SIZE + wal_pad8(payload_len);
}

/* wal_rec_put appends one record (fixed part + data) to `b`, which has room for it. */
static void wal_rec_put(struct wal_buf *b, enum wal_rec_type type, const unsigned char *fixed,
                        size_t fixed_len, const void *data, size_t data_len)
{
    size_t len = fixed_len + data_len;
    unsigned char *h = b->p + b->len;
    size_t total = wal_rec_size(len);
    memset(h, 0, total);
    wal_put32(h + 4, (uint32_t)len);
    h[8] = (unsigned char)type;
    wal_put32(h + 12, ~(uint32_t)len);
    if (fixed_len)
        memcpy(h + WAL_REC_HDR_SIZE, fixed, fixed_len);
    if (data_len)
        memcpy(h + WAL_REC_HDR_SIZE + fixed_len, data, data_len);
    wal_put32(h, crc32c(h + 4, WAL_REC_HDR_SIZE - 4 + len));
    b->len += total;
}

static void wal_rec_put_state(struct wal_buf *b, const struct raft_hard_state *hs)
{
    unsigned char f[WAL_STATE_SIZE];
    wal_put64(f, hs->term);
    wal_put64(f + 8, hs->vote);
    wal_put64(f + 16, hs->commit);
    wal_rec_put(b, WAL_REC_STATE, f, sizeof(f), NULL, 0);
}

static size_t wal_snap_len(const struct raft_snapshot_meta *m)
{
    return WAL_SNAP_FIXED + 8 * m->conf.n_voters;
}

static void wal_rec_put_snapshot(struct wal_buf *b, const struct raft_snapshot_meta *m,
                                 uint32_t flags)
{
    unsigned char f[WAL_SNAP_FIXED + 8 * RAFT_MAX_NODES];
    memset(f, 0, sizeof(f));
    wal_put64(f, m->index);
    wal_put64(f + 8, m->term);
    wal_put32(f + 16, (uint32_t)m->conf.n_voters);
    wal_put32(f + 20, flags);
    for (size_t i = 0; i < m->conf.n_voters; i++)
        wal_put64(f + WAL_SNAP_FIXED + 8 * i, m->conf.voters[i]);
    wal_rec_put(b, WAL_REC_SNAPSHOT, f, wal_snap_len(m), NULL, 0);
}

static void wal_rec_put_commit(struct wal_buf *b, uint64_t seq)
{
    unsigned char f[WAL_COMMIT_SIZE];
    wal_put64(f, seq);
    wal_rec_put(b, WAL_REC_COMMIT, f, sizeof(f), NULL, 0);
}

/* ---- record parsing ---- */

struct wal_rec {
    enum wal_rec_type type;
    const unsigned char *payload;
    size_t len;
    size_t size; /* header + padded payload */
};

/* wal_rec_parse checks the record at `off` of a segment mapped at m[0..size). Returns
 * true and fills *r if it is whole, intact and well-formed. */
static bool wal_rec_parse(const unsigned char *m, size_t size, size_t off, bool check_crc,
                          struct wal_rec *r)
{
    if (off > size || size - off < WAL_REC_HDR_SIZE)
        return false;
    const unsigned char *h = m + off;
    uint32_t len = wal_get32(h + 4);
    unsigned type = h[8];
    if (len > WAL_MAX_REC_LEN || wal_get32(h + 12) != ~len || h[9] || h[10] || h[11])
        return false;
    if (type < WAL_REC_ENTRY || type > WAL_REC_SEAL)
        return false;
    size_t total = wal_rec_size(len);
    if (size - off < total)
        return false;
    for (size_t i = WAL_REC_HDR_SIZE + len; i < total; i++) {
        if (h[i])
            return false;
    }
    if (check_crc && crc32c(h + 4, WAL_REC_HDR_SIZE - 4 + len) != wal_get32(h))
        return false;
    const unsigned char *p = h + WAL_REC_HDR_SIZE;
    switch (type) {
    case WAL_REC_ENTRY:
        if (len < WAL_ENTRY_FIXED || wal_get32(p + 16) > RAFT_ENTRY_CONF_CHANGE ||
            wal_get32(p + 20) != 0)
            return false;
        break;
    case WAL_REC_STATE:
        if (len != WAL_STATE_SIZE)
            return false;
        break;
    case WAL_REC_SNAPSHOT:
        if (len < WAL_SNAP_FIXED || wal_get32(p + 16) > RAFT_MAX_NODES ||
            len != WAL_SNAP_FIXED + 8 * wal_get32(p + 16) || wal_get32(p + 20) > WAL_SNAP_KEEP)
            return false;
        break;
    case WAL_REC_COMMIT:
    case WAL_REC_SEAL:
        if (len != WAL_COMMIT_SIZE)
            return false;
        break;
    }
    r->type = (enum wal_rec_type)type;
    r->payload = p;
    r->len = len;
    r->size = total;
    return true;
}

static void wal_snapshot_decode(const unsigned char *p, struct raft_snapshot_meta *m)
{
    memset(m, 0, sizeof(*m));
    m->index = wal_get64(p);
    m->term = wal_get64(p + 8);
    m->conf.n_voters = wal_get32(p + 16);
    for (size_t i = 0; i < m->conf.n_voters; i++)
        m->conf.voters[i] = wal_get64(p + WAL_SNAP_FIXED + 8 * i);
}

/* ---- replay: the recovered log in memory ---- */

struct wal_replay {
    struct raft_entry *e;
    size_t n;
    size_t cap;
    bool seen_entry; /* an entry record was applied (the head gap is allowed only before) */
    struct raft_snapshot_meta base;
    struct raft_hard_state hs;
    bool has_hs;
    uint64_t next_batch_seq; /* one past the last COMMIT's sequence number */
    const char *path;        /* the segment being replayed, for messages */
};

static uint64_t wal_replay_last(const struct wal_replay *st)
{
    return st->n ? st->e[st->n - 1].index : st->base.index;
}

/* wal_replay_drop frees entries [from, n) of the replayed log. */
static void wal_replay_drop(struct wal_replay *st, size_t from)
{
    for (size_t i = from; i < st->n; i++)
        free((void *)st->e[i].data.base);
    st->n = from;
}

static void wal_replay_fini(struct wal_replay *st)
{
    wal_replay_drop(st, 0);
    free(st->e);
    st->e = NULL;
    st->cap = 0;
}

static int wal_replay_entry(struct wal_replay *st, const struct wal_rec *r, struct wal_seg *seg)
{
    uint64_t term = wal_get64(r->payload);
    uint64_t index = wal_get64(r->payload + 8);
    uint64_t last = wal_replay_last(st);
    if (index <= st->base.index) {
        lt_error("wal: %s: entry %" PRIu64 " is covered by the snapshot at %" PRIu64 ": corrupt",
                 st->path, index, st->base.index);
        return LT_ECORRUPT;
    }
    if (st->n > 0) {
        uint64_t first = st->e[0].index;
        if (index > last + 1) {
            lt_error("wal: %s: entry %" PRIu64 " does not follow the log [%" PRIu64 ", %" PRIu64
                     "]: index gap, corrupt",
                     st->path, index, first, last);
            return LT_ECORRUPT;
        }
        /* index < first happens only while the log does not yet reach back to the
         * snapshot (its head was compacted away): the replaced head is then unknown too */
        wal_replay_drop(st, index < first ? 0 : (size_t)(index - first));
    } else if (st->seen_entry && index != st->base.index + 1) {
        lt_error("wal: %s: entry %" PRIu64 " does not follow the snapshot at %" PRIu64
                 ": index gap, corrupt",
                 st->path, index, st->base.index);
        return LT_ECORRUPT;
    }
    uint64_t prev_term = st->n ? st->e[st->n - 1].term : st->base.term;
    if (term < prev_term || term == 0) {
        lt_error("wal: %s: entry %" PRIu64 " has term %" PRIu64 " after term %" PRIu64 ": corrupt",
                 st->path, index, term, prev_term);
        return LT_ECORRUPT;
    }
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 1024;
        struct raft_entry *e = realloc(st->e, cap * sizeof(*e));
        if (!e)
            return LT_ENOMEM;
        st->e = e;
        st->cap = cap;
    }
    size_t dlen = r->len - WAL_ENTRY_FIXED;
    void *data = NULL;
    if (dlen) {
        data = malloc(dlen);
        if (!data)
            return LT_ENOMEM;
        memcpy(data, r->payload + WAL_ENTRY_FIXED, dlen);
    }
    struct raft_entry *e = &st->e[st->n++];
    e->term = term;
    e->index = index;
    e->type = (enum raft_entry_type)wal_get32(r->payload + 16);
    e->data.base = data;
    e->data.len = dlen;
    st->seen_entry = true;
    if (seg && index > seg->max_index)
        seg->max_index = index;
    return 0;
}

/* How a snapshot marker treats the entries after it. */
enum wal_keep {
    WAL_KEEP_NONE,     /* drop the whole log (an installed snapshot that did not match) */
    WAL_KEEP_SUFFIX,   /* keep the entries after the snapshot (the KEEP flag) */
    WAL_KEEP_IF_MATCH, /* decide now by the Raft §7 rule (the caller's snapshot at open) */
};

/* wal_replay_snapshot applies a snapshot marker (see the replay rules above) and tells
 * whether the entries after it were kept. */
static bool wal_replay_snapshot(struct wal_replay *st, const struct raft_snapshot_meta *m,
                                enum wal_keep keep)
{
    if (m->index <= st->base.index)
        return true;
    if (st->n > 0) {
        uint64_t first = st->e[0].index;
        uint64_t last = st->e[st->n - 1].index;
        if (keep == WAL_KEEP_IF_MATCH)
            keep = m->index >= first && m->index <= last && st->e[m->index - first].term == m->term
                       ? WAL_KEEP_SUFFIX
                   : m->index < first ? WAL_KEEP_SUFFIX
                                      : WAL_KEEP_NONE;
        if (keep == WAL_KEEP_NONE || m->index >= last) {
            wal_replay_drop(st, 0);
        } else if (m->index >= first) {
            size_t k = (size_t)(m->index - first);
            for (size_t i = 0; i <= k; i++)
                free((void *)st->e[i].data.base);
            memmove(st->e, st->e + k + 1, (st->n - k - 1) * sizeof(*st->e));
            st->n -= k + 1;
        }
        /* m->index < first with KEEP: the entries after a compacted head stay; whether
         * they reach back to the snapshot is checked when replay ends */
    }
    st->base = *m;
    return keep != WAL_KEEP_NONE;
}

/* wal_replay_batch applies the committed records in m[from, to). */
static int wal_replay_batch(struct wal_replay *st, const unsigned char *m, size_t from, size_t to,
                            struct wal_seg *seg)
{
    size_t off = from;
    while (off < to) {
        struct wal_rec r;
        bool ok = wal_rec_parse(m, to, off, false, &r);
        (void)ok;
        switch (r.type) {
        case WAL_REC_ENTRY: {
            int rc = wal_replay_entry(st, &r, seg);
            if (rc)
                return rc;
            break;
        }
        case WAL_REC_STATE:
            st->hs.term = wal_get64(r.payload);
            st->hs.vote = wal_get64(r.payload + 8);
            st->hs.commit = wal_get64(r.payload + 16);
            st->has_hs = true;
            break;
        case WAL_REC_SNAPSHOT: {
            struct raft_snapshot_meta meta;
            wal_snapshot_decode(r.payload, &meta);
            wal_replay_snapshot(st, &meta,
                                wal_get32(r.payload + 20) & WAL_SNAP_KEEP ? WAL_KEEP_SUFFIX
                                                                          : WAL_KEEP_NONE);
            break;
        }
        case WAL_REC_COMMIT:
            st->next_batch_seq = wal_get64(r.payload) + 1;
            break;
        case WAL_REC_SEAL: /* never inside a batch: wal_seg_replay takes it */
            break;
        }
        off += r.size;
    }
    return 0;
}

/* wal_later_batch_exists tells whether, past the bad record at `bad`, there is proof
 * that a batch was made durable after the damaged one: a valid COMMIT record with a
 * sequence number above `seq` (the damaged batch's own), or a valid COMMIT followed by
 * another valid record. Records are 8-byte aligned, so every aligned offset is tried. */
static bool wal_later_batch_exists(const unsigned char *m, size_t size, size_t bad, uint64_t seq)
{
    bool seen_commit = false;
    size_t off = bad + 8;
    while (off + WAL_REC_HDR_SIZE <= size) {
        struct wal_rec r;
        if (wal_rec_parse(m, size, off, true, &r)) {
            if (seen_commit)
                return true;
            if (r.type == WAL_REC_COMMIT) {
                if (wal_get64(r.payload) > seq)
                    return true;
                seen_commit = true;
            }
            off += r.size;
        } else {
            off += 8;
        }
    }
    return false;
}

/* ---- segments ---- */

static int wal_seg_path(const struct wal *w, uint64_t seq, uint64_t first, const char *suffix,
                        char *out, size_t n)
{
    int len =
        snprintf(out, n, "%s/%016" PRIx64 "-%016" PRIx64 ".wal%s", w->dir, seq, first, suffix);
    return len > 0 && (size_t)len < n ? 0 : LT_EINVAL;
}

static void wal_seg_hdr_encode(unsigned char *h, uint64_t seq, uint64_t first)
{
    memset(h, 0, WAL_SEG_HDR_SIZE);
    memcpy(h, WAL_MAGIC, 8);
    wal_put32(h + 8, WAL_VERSION);
    wal_put32(h + 12, WAL_SEG_HDR_SIZE);
    wal_put64(h + 16, seq);
    wal_put64(h + 24, first);
    wal_put32(h + 32, crc32c(h, 32));
}

static bool wal_seg_hdr_ok(const unsigned char *h, size_t size, const struct wal_seg *s)
{
    return size >= WAL_SEG_HDR_SIZE && memcmp(h, WAL_MAGIC, 8) == 0 &&
           wal_get32(h + 8) == WAL_VERSION && wal_get32(h + 12) == WAL_SEG_HDR_SIZE &&
           wal_get32(h + 32) == crc32c(h, 32) && wal_get32(h + 36) == 0 &&
           wal_get64(h + 16) == s->seq && wal_get64(h + 24) == s->first_index;
}

/* The state of a segment's header (wal_seg_hdr_problem). */
enum wal_hdr { WAL_HDR_OK, WAL_HDR_DAMAGED, WAL_HDR_OTHER_VERSION };

/* wal_seg_hdr_problem: whether segment s's header h (size bytes read) is one it was created
 * with; if not, what is wrong is written into buf. A whole header (magic and CRC32C good)
 * of another format version is said as such, not as damage: another build wrote it. */
static enum wal_hdr wal_seg_hdr_problem(const unsigned char *h, size_t size,
                                        const struct wal_seg *s, char *buf, size_t n)
{
    if (h && wal_seg_hdr_ok(h, size, s))
        return WAL_HDR_OK;
    if (h && size >= WAL_SEG_HDR_SIZE && memcmp(h, WAL_MAGIC, 8) == 0 &&
        wal_get32(h + 32) == crc32c(h, 32) && wal_get32(h + 8) != WAL_VERSION) {
        snprintf(buf, n,
                 "format version %u, this build reads version %u (written by another "
                 "lithair-node build?)",
                 wal_get32(h + 8), WAL_VERSION);
        return WAL_HDR_OTHER_VERSION;
    }
    snprintf(buf, n, "bad segment header: corrupt");
    return WAL_HDR_DAMAGED;
}

/* wal_seg_hdr_check_log: 0 if the header is good, else LT_ECORRUPT with the reason logged. */
static int wal_seg_hdr_check_log(const unsigned char *h, size_t size, const struct wal_seg *s,
                                 const char *path)
{
    char why[160];
    enum wal_hdr st = wal_seg_hdr_problem(h, size, s, why, sizeof(why));
    if (st == WAL_HDR_OK)
        return 0;
    lt_error("wal: %s: %s%s", path, why, st == WAL_HDR_OTHER_VERSION ? ": refusing to start" : "");
    return LT_ECORRUPT;
}

static int wal_seg_push(struct wal *w, const struct wal_seg *s)
{
    if (w->n_segs == w->cap_segs) {
        size_t cap = w->cap_segs ? w->cap_segs * 2 : 16;
        struct wal_seg *p = realloc(w->segs, cap * sizeof(*p));
        if (!p)
            return LT_ENOMEM;
        w->segs = p;
        w->cap_segs = cap;
    }
    w->segs[w->n_segs++] = *s;
    return 0;
}

static int wal_seg_cmp(const void *a, const void *b)
{
    const struct wal_seg *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* wal_lock takes <dir>/LOCK so that two processes never write one WAL (a node restarted
 * while its old process still runs): LT_EBUSY if another process holds it. A POSIX record
 * lock belongs to the process and ends with it, so a node killed with SIGKILL never keeps
 * its restarted self out. */
static int wal_lock(struct wal *w)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/LOCK", w->dir) >= (int)sizeof(path))
        return LT_EINVAL;
    w->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->lock_fd < 0)
        return sio_err(errno);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(w->lock_fd, F_SETLK, &fl) != 0) {
        int rc = errno == EACCES || errno == EAGAIN ? LT_EBUSY : sio_err(errno);
        lt_error("wal: %s: %s", w->dir,
                 rc == LT_EBUSY ? "in use by another process (LOCK is held)" : "cannot lock");
        return rc;
    }
    return 0;
}

/* wal_seg_list fills w->segs from the directory, sorted by seq; deletes *.wal.tmp if
 * `clean`. */
static int wal_seg_list(struct wal *w, bool clean)
{
    DIR *d = opendir(w->dir);
    if (!d)
        return sio_err(errno);
    int rc = 0;
    bool removed = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        if (clean && len > 8 && strcmp(name + len - 8, ".wal.tmp") == 0) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", w->dir, name);
            lt_warn("wal: removing %s (a segment whose creation was interrupted)", path);
            rc = sio_unlink(path);
            if (rc)
                break;
            removed = true;
            continue;
        }
        unsigned long long seq, first;
        char tail[8];
        if (len != 37 || sscanf(name, "%16llx-%16llx.wa%1[l]", &seq, &first, tail) != 3)
            continue;
        struct wal_seg s = {.seq = seq, .first_index = first};
        rc = wal_seg_push(w, &s);
        if (rc)
            break;
    }
    closedir(d);
    if (!rc && removed)
        rc = sio_fsync_dir(w->dir);
    if (rc)
        return rc;
    if (w->n_segs > 1)
        qsort(w->segs, w->n_segs, sizeof(*w->segs), wal_seg_cmp);
    for (size_t i = 1; i < w->n_segs; i++) {
        if (w->segs[i].seq != w->segs[i - 1].seq + 1) {
            lt_error("wal: %s: segment %" PRIu64 " follows segment %" PRIu64
                     ": a segment is missing, corrupt",
                     w->dir, w->segs[i].seq, w->segs[i - 1].seq);
            return LT_ECORRUPT;
        }
    }
    return 0;
}

/* wal_seg_create makes segment (seq, first) holding the current snapshot marker and hard
 * state, durably (tmp + fdatasync + rename + directory fsync), and makes it current. */
static int wal_seg_create(struct wal *w, uint64_t seq, uint64_t first)
{
    char path[4096], tmp[4100];
    int rc = wal_seg_path(w, seq, first, "", path, sizeof(path));
    if (rc)
        return rc;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    struct wal_buf b = {0};
    size_t need = WAL_SEG_HDR_SIZE + wal_rec_size(WAL_SNAP_FIXED + 8 * RAFT_MAX_NODES) +
                  wal_rec_size(WAL_STATE_SIZE) + wal_rec_size(WAL_COMMIT_SIZE);
    rc = wal_buf_reserve(&b, need);
    if (rc)
        return rc;
    rc = wal_seg_push(w, &(struct wal_seg){.seq = seq, .first_index = first});
    if (rc)
        goto out_free;
    w->n_segs--; /* reserved; pushed for real on success */
    wal_seg_hdr_encode(b.p, seq, first);
    b.len = WAL_SEG_HDR_SIZE;
    if (w->base.index)
        wal_rec_put_snapshot(&b, &w->base, 0); /* the log restarts: nothing to keep */
    if (w->has_hs)
        wal_rec_put_state(&b, &w->hs);
    wal_rec_put_commit(&b, w->batch_seq++);

    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = sio_err(errno);
        goto out_free;
    }
    rc = sio_pwrite_all(fd, b.p, b.len, 0);
    if (rc)
        goto out_close;
    rc = sio_fdatasync(fd);
    w->fsyncs++;
    if (rc)
        goto out_close;
    rc = sio_rename(tmp, path);
    if (rc)
        goto out_close;
    rc = sio_fsync_dir(w->dir);
    w->fsyncs++;
    if (rc) {
        /* the file exists under its final name but may not be durable: keep it current */
        lt_error("wal: fsync of %s failed: %s", w->dir, lt_strerror(rc));
    }
    if (w->fd >= 0)
        close(w->fd);
    w->fd = fd;
    w->zeroed_to = b.len;
    w->segs[w->n_segs++] = (struct wal_seg){.seq = seq, .first_index = first, .size = b.len};
    free(b.p);
    return rc;

out_close:
    close(fd);
    unlink(tmp);
out_free:
    free(b.p);
    return rc;
}

/* ---- term runs (the only per-entry knowledge kept at run time) ---- */

static int wal_runs_reserve(struct wal *w, size_t more)
{
    if (w->cap_runs - w->n_runs >= more)
        return 0;
    size_t cap = w->cap_runs ? w->cap_runs : 16;
    while (cap - w->n_runs < more)
        cap *= 2;
    struct wal_run *p = realloc(w->runs, cap * sizeof(*p));
    if (!p)
        return LT_ENOMEM;
    w->runs = p;
    w->cap_runs = cap;
    return 0;
}

/* wal_runs_push records that entry `index` (= last + 1) has `term`; room is reserved. */
static void wal_runs_push(struct wal *w, uint64_t index, uint64_t term)
{
    if (w->n_runs == 0 || w->runs[w->n_runs - 1].term != term)
        w->runs[w->n_runs++] = (struct wal_run){.index = index, .term = term};
}

/* wal_runs_truncate forgets the terms of entries >= index. */
static void wal_runs_truncate(struct wal *w, uint64_t index)
{
    while (w->n_runs > 0 && w->runs[w->n_runs - 1].index >= index)
        w->n_runs--;
}

uint64_t wal_term_at(const struct wal *w, uint64_t index)
{
    if (index == w->base.index)
        return w->base.term;
    if (index < w->base.index || index > w->last_index || w->n_runs == 0)
        return 0;
    size_t lo = 0, hi = w->n_runs; /* the last run with run.index <= index */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->runs[mid].index <= index)
            lo = mid;
        else
            hi = mid;
    }
    return w->runs[lo].term;
}

uint64_t wal_last_index(const struct wal *w)
{
    return w->last_index;
}

/* ---- open and recovery ---- */

void wal_options_default(struct wal_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->segment_size = WAL_DEFAULT_SEGMENT_SIZE;
    opt->max_pending = WAL_DEFAULT_MAX_PENDING;
    opt->zero_ahead = WAL_ZERO_AHEAD;
}

void wal_recovered_fini(struct wal_recovered *rec)
{
    if (!rec)
        return;
    for (size_t i = 0; i < rec->n_entries; i++)
        free((void *)rec->entries[i].data.base);
    free(rec->entries);
    memset(rec, 0, sizeof(*rec));
}

/* wal_seg_replay replays segment i; the last one is truncated after its last COMMIT and
 * left open as w->fd. */
/* wal_written_end: the end of the last non-zero byte of m[from, to), `from` if all of it
 * is zeros (preallocated space never written). */
static size_t wal_written_end(const unsigned char *m, size_t from, size_t to)
{
    while (to > from && !m[to - 1])
        to--;
    return to;
}

/* wal_seg_open opens segment i (its path left in `path` for messages). */
static int wal_seg_open(const struct wal *w, size_t i, int flags, char *path, size_t n, int *fd)
{
    const struct wal_seg *s = &w->segs[i];
    int rc = wal_seg_path(w, s->seq, s->first_index, "", path, n);
    if (rc)
        return rc;
    *fd = open(path, flags | O_CLOEXEC);
    return *fd < 0 ? sio_err(errno) : 0;
}

/* wal_seg_hdr_check reads segment i's header alone: LT_ECORRUPT (logged) if it is not
 * one a segment of that name was created with. */
static int wal_seg_hdr_check(struct wal *w, size_t i)
{
    const struct wal_seg *s = &w->segs[i];
    char path[4096];
    unsigned char h[WAL_SEG_HDR_SIZE];
    int fd;
    int rc = wal_seg_open(w, i, O_RDONLY, path, sizeof(path), &fd);
    if (rc)
        return rc;
    ssize_t n = pread(fd, h, sizeof(h), 0);
    rc = n < 0 ? sio_err(errno) : 0;
    close(fd);
    if (rc)
        return rc;
    return wal_seg_hdr_check_log(h, (size_t)n, s, path);
}

static int wal_seg_replay(struct wal *w, size_t i, struct wal_replay *st)
{
    struct wal_seg *s = &w->segs[i];
    bool is_last = i + 1 == w->n_segs;
    char path[4096];
    int fd;
    int rc = wal_seg_open(w, i, is_last ? O_RDWR : O_RDONLY, path, sizeof(path), &fd);
    if (rc)
        return rc;
    st->path = path;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        rc = sio_err(errno);
        goto out_close;
    }
    size_t size = (size_t)sb.st_size;
    const unsigned char *m = NULL;
    if (size > 0) {
        m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            rc = sio_err(errno);
            goto out_close;
        }
    }
    if ((rc = wal_seg_hdr_check_log(m, size, s, path)) != 0)
        goto out_unmap;
    size_t off = WAL_SEG_HDR_SIZE, batch = off, good_end = off;
    bool bad = false, sealed = false;
    while (off < size) {
        struct wal_rec r;
        if (!wal_rec_parse(m, size, off, true, &r) || (r.type == WAL_REC_SEAL && batch != off)) {
            bad = true; /* (a SEAL inside a batch is malformed) */
            break;
        }
        off += r.size;
        if (r.type == WAL_REC_SEAL) { /* the segment's last record */
            sealed = true;
            good_end = off;
            if (is_last) {
                lt_error("wal: %s: the segment was sealed when segment %016" PRIx64
                         " was made, and that one is missing: corrupt",
                         path, ~wal_get64(r.payload));
                rc = LT_ECORRUPT;
                goto out_unmap;
            }
            if (~wal_get64(r.payload) != w->segs[i + 1].seq) {
                lt_error("wal: %s: sealed for segment %016" PRIx64 ", followed by %016" PRIx64
                         ": a segment is missing, corrupt",
                         path, ~wal_get64(r.payload), w->segs[i + 1].seq);
                rc = LT_ECORRUPT;
                goto out_unmap;
            }
            break;
        }
        if (r.type == WAL_REC_COMMIT) {
            rc = wal_replay_batch(st, m, batch, off, s);
            if (rc)
                goto out_unmap;
            batch = good_end = off;
        }
    }
    /* Not the last segment, no SEAL, and after its last COMMIT nothing but zeros, or less
     * than a whole SEAL then zeros: the preallocated space of a segment whose successor was
     * made just before a crash (or before SEAL records existed), its SEAL unwritten or torn.
     * (A whole SEAL ends in a non-zero byte: one that fails its check is damage.) Zeros
     * after a SEAL: a crash before its cut. */
    size_t tail = good_end < size ? wal_written_end(m, good_end, size) - good_end : 0;
    bool unsealed = !is_last && !sealed && tail < wal_rec_size(WAL_COMMIT_SIZE);
    if (unsealed && tail > 0)
        lt_warn("wal: %s: a torn seal (%zu bytes at offset %zu) after a crash at rollover: "
                "ignored, the next segment follows",
                path, tail, good_end);
    if (good_end < size && !(unsealed || (sealed && tail == 0))) {
        if (sealed) {
            lt_error("wal: %s: data after the segment's seal at offset %zu: corrupt", path,
                     good_end);
            rc = LT_ECORRUPT;
            goto out_unmap;
        }
        if (!is_last) {
            /* A damaged file named like a later segment makes this one look sealed
             * without its COMMIT: name the file that is damaged, not this one. */
            for (size_t k = i + 1; k < w->n_segs; k++) {
                if ((rc = wal_seg_hdr_check(w, k)) != 0)
                    goto out_unmap;
            }
            lt_error("wal: %s: %s at offset %zu of a sealed segment: corrupt", path,
                     bad ? "bad record" : "records without a commit", bad ? off : good_end);
            rc = LT_ECORRUPT;
            goto out_unmap;
        }
        if (bad && wal_later_batch_exists(m, size, off, st->next_batch_seq)) {
            lt_error("wal: %s: bad record at offset %zu is followed by committed records: "
                     "corrupt, refusing to recover",
                     path, off);
            rc = LT_ECORRUPT;
            goto out_unmap;
        }
    }
    s->size = good_end;
    if (is_last && good_end < size) {
        /* Preallocated zeros are not damage: cut, not counted. What is counted and
         * reported ends at the last byte that was written. */
        size_t written_end = wal_written_end(m, good_end, size);
        uint64_t cut = written_end - good_end;
        bool unwritten = cut == 0;
        if (!unwritten)
            lt_warn("wal: %s: torn tail: truncating %" PRIu64 " bytes at offset %zu (%s)%s", path,
                    cut, good_end, bad ? "incomplete or damaged record" : "uncommitted batch",
                    written_end < size ? ", and the preallocated zeros after them" : "");
        rc = sio_ftruncate(fd, good_end);
        if (rc)
            goto out_unmap;
        if (!unwritten)
            w->truncated_at_start += cut;
    }
    if (is_last) {
        /* Synced whether or not it was cut: what replay read may be a dead process's writes
         * still in the page cache (killed after a batch's write, before its fdatasync), and
         * from here on it is the log, counted as persisted and acknowledged. Only the
         * truncation used to sync, so a batch that ended the file (the one that crosses a
         * segment's size, where the preallocated zeros stop; any batch without
         * preallocation) came back unsynced. */
        rc = sio_fdatasync(fd);
        w->fsyncs++;
        if (rc)
            goto out_unmap;
    }
    munmap((void *)m, size);
    if (is_last) {
        w->fd = fd;
        w->zeroed_to = good_end;
        return 0;
    }
    close(fd);
    return 0;

out_unmap:
    if (m)
        munmap((void *)m, size);
out_close:
    close(fd);
    return rc;
}

/* wal_state_from_replay sets the run-time log state from the replayed log. */
static int wal_state_from_replay(struct wal *w, const struct wal_replay *st)
{
    w->base = st->base;
    w->synced_base_index = st->base.index;
    w->hs = st->hs;
    w->has_hs = st->has_hs;
    w->last_index = wal_replay_last(st);
    w->n_runs = 0;
    for (size_t i = 0; i < st->n; i++) {
        if (w->n_runs == 0 || w->runs[w->n_runs - 1].term != st->e[i].term) {
            int rc = wal_runs_reserve(w, 1);
            if (rc)
                return rc;
            wal_runs_push(w, st->e[i].index, st->e[i].term);
        }
    }
    return 0;
}

/* A log read from disk, its snapshot not yet applied (wal_read .. wal_open_read). */
struct wal_read {
    struct wal *w;
    struct wal_replay st;
};

int wal_read(const char *dir, const struct wal_options *opt, struct wal_read **out)
{
    struct wal_read *rd = calloc(1, sizeof(*rd));
    struct wal *w = calloc(1, sizeof(*w));
    if (!rd || !w) {
        free(rd);
        free(w);
        return LT_ENOMEM;
    }
    rd->w = w;
    struct wal_replay *st = &rd->st;
    w->fd = -1;
    w->lock_fd = -1;
    if (opt)
        w->opt = *opt;
    else
        wal_options_default(&w->opt);
    if (!w->opt.segment_size)
        w->opt.segment_size = WAL_DEFAULT_SEGMENT_SIZE;
    if (!w->opt.max_pending)
        w->opt.max_pending = WAL_DEFAULT_MAX_PENDING;
    w->opt.snapshot = NULL;
    int rc = LT_ENOMEM;
    w->dir = strdup(dir);
    if (!w->dir)
        goto out_free;
    rc = sio_mkdir(dir);
    if (rc)
        goto out_free;
    rc = wal_lock(w);
    if (rc)
        goto out_free;
    rc = wal_seg_list(w, true);
    if (rc)
        goto out_free;
    for (size_t i = 0; i < w->n_segs; i++) {
        rc = wal_seg_replay(w, i, st);
        if (rc)
            goto out_free;
    }
    /* The segments' names as found, durable: a dead process may have renamed one into place
     * (the rollover's new segment) and been killed before the directory's fsync, and the log
     * now grows in that segment. */
    if (w->n_segs > 0) {
        rc = sio_fsync_dir(w->dir);
        w->fsyncs++;
        if (rc)
            goto out_free;
    }
    st->path = w->dir;
    *out = rd;
    return 0;
out_free:
    wal_read_free(rd);
    return rc;
}

void wal_read_free(struct wal_read *rd)
{
    if (!rd)
        return;
    wal_replay_fini(&rd->st);
    wal_free(rd->w);
    free(rd);
}

int wal_open_read(struct wal_read *rd, const struct raft_snapshot_meta *snap, struct wal **out,
                  struct wal_recovered *rec)
{
    struct wal *w = rd->w;
    struct wal_replay st = rd->st;
    int rc = 0;
    free(rd);
    if (snap && snap->conf.n_voters > RAFT_MAX_NODES) {
        rc = LT_EINVAL;
        goto out_free;
    }
    if (snap && snap->index < st.base.index) {
        lt_error("wal: %s: the log records a snapshot at index %" PRIu64
                 " but the newest valid snapshot is at %" PRIu64 ": snapshot lost, corrupt",
                 w->dir, st.base.index, snap->index);
        rc = LT_ECORRUPT;
        goto out_free;
    }
    /* Every segment restates the hard state, and a node with a snapshot has voted or
     * followed in a term: a log without a hard state beside a snapshot lost its records
     * (deleted, emptied, cut to its header). Starting from the snapshot alone would serve
     * a shorter log than this node acknowledged. */
    if (snap && snap->index > 0 && st.hs.term == 0) {
        lt_error("wal: %s: no hard state in the log (%zu segment(s)), but snapshot %" PRIu64
                 "/%" PRIu64 " exists: the WAL's records are gone (deleted, emptied or cut). "
                 "Refusing to start: this node may have acknowledged entries it no longer has. "
                 "Restore the WAL; or, if this node's data are lost, delete its whole data dir "
                 "so that it rejoins empty and copies the others' state",
                 w->dir, w->n_segs, snap->index, snap->term);
        rc = LT_ECORRUPT;
        goto out_free;
    }
    /* A snapshot newer than the log's marker (a crash came between the snapshot file and
     * its marker): apply it, and record its marker below so the log stands alone. */
    bool snap_new = snap && snap->index > st.base.index;
    bool snap_keep = snap_new && wal_replay_snapshot(&st, snap, WAL_KEEP_IF_MATCH);
    if (st.n > 0 && st.e[0].index != st.base.index + 1) {
        lt_error("wal: %s: the log starts at %" PRIu64
                 " but the snapshot covers only up to %" PRIu64 ": entries missing, corrupt",
                 w->dir, st.e[0].index, st.base.index);
        rc = LT_ECORRUPT;
        goto out_free;
    }
    rc = wal_state_from_replay(w, &st);
    if (rc)
        goto out_free;
    if (w->n_segs == 0) {
        rc = wal_seg_create(w, 0, w->last_index + 1);
        if (rc)
            goto out_free;
    } else {
        w->batch_seq = st.next_batch_seq;
    }
    if (snap_new) {
        rc = wal_buf_reserve(&w->pending, wal_rec_size(wal_snap_len(snap)));
        if (rc)
            goto out_free;
        wal_rec_put_snapshot(&w->pending, snap, snap_keep ? WAL_SNAP_KEEP : 0);
        rc = wal_sync(w);
        if (rc)
            goto out_free;
    }
    if (w->truncated_at_start)
        lt_warn("wal: %s: recovered with %" PRIu64 " bytes of torn tail removed", w->dir,
                w->truncated_at_start);
    memset(rec, 0, sizeof(*rec));
    rec->hs = st.hs;
    rec->snapshot = st.base;
    rec->entries = st.e;
    rec->n_entries = st.n;
    rec->first_index = st.base.index + 1;
    rec->last_index = w->last_index;
    rec->truncated_bytes = w->truncated_at_start;
    rec->segments = (unsigned)w->n_segs;
    *out = w;
    return 0;

out_free:
    wal_replay_fini(&st);
    wal_free(w);
    return rc;
}

int wal_open(const char *dir, const struct wal_options *opt, struct wal **out,
             struct wal_recovered *rec)
{
    struct wal_read *rd = NULL;
    int rc = wal_read(dir, opt, &rd);
    return rc ? rc : wal_open_read(rd, opt ? opt->snapshot : NULL, out, rec);
}

void wal_free(struct wal *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->lock_fd >= 0)
        close(w->lock_fd);
    free(w->pending.p);
    free(w->spare.p);
    free(w->runs);
    free(w->segs);
    free(w->dir);
    free(w);
}

/* ---- appending ---- */

/* wal_fail makes `rc` sticky: after a failed write or fsync nothing more is written. */
static int wal_fail(struct wal *w, int rc, const char *what)
{
    lt_error("wal: %s: %s failed: %s; the WAL refuses further writes", w->dir, what,
             lt_strerror(rc));
    w->failed = rc;
    return rc;
}

/* wal_flush writes the pending records (no COMMIT, no fsync) to the current segment. */
static int wal_flush(struct wal *w)
{
    struct wal_seg *s = &w->segs[w->n_segs - 1];
    int rc = sio_pwrite_all(w->fd, w->pending.p, w->pending.len, s->size);
    if (rc)
        return wal_fail(w, rc, "write");
    s->size += w->pending.len;
    w->pending.len = 0;
    w->uncommitted = true;
    if (s->size > w->zeroed_to)
        w->zeroed_to = s->size;
    return 0;
}

int wal_append(struct wal *w, const struct raft_entry *e, size_t n)
{
    if (w->failed)
        return w->failed;
    if (n == 0)
        return 0;
    uint64_t i0 = e[0].index;
    if (i0 <= w->base.index || i0 > w->last_index + 1)
        return LT_EINVAL;
    uint64_t prev = wal_term_at(w, i0 - 1);
    size_t bytes = 0;
    for (size_t k = 0; k < n; k++) {
        if (e[k].index != i0 + k || e[k].term < prev || e[k].term == 0 ||
            (unsigned)e[k].type > RAFT_ENTRY_CONF_CHANGE || (e[k].data.len && !e[k].data.base))
            return LT_EINVAL;
        if (e[k].data.len > WAL_MAX_ENTRY_DATA)
            return LT_ETOOBIG;
        prev = e[k].term;
        bytes += wal_rec_size(WAL_ENTRY_FIXED + e[k].data.len);
    }
    int rc = wal_buf_reserve(&w->pending, bytes + wal_rec_size(WAL_COMMIT_SIZE));
    if (!rc)
        rc = wal_runs_reserve(w, n);
    if (rc)
        return rc;
    wal_runs_truncate(w, i0);
    for (size_t k = 0; k < n; k++) {
        unsigned char f[WAL_ENTRY_FIXED];
        wal_put64(f, e[k].term);
        wal_put64(f + 8, e[k].index);
        wal_put32(f + 16, (uint32_t)e[k].type);
        wal_put32(f + 20, 0);
        wal_rec_put(&w->pending, WAL_REC_ENTRY, f, sizeof(f), e[k].data.base, e[k].data.len);
        wal_runs_push(w, e[k].index, e[k].term);
    }
    w->last_index = e[n - 1].index;
    struct wal_seg *s = &w->segs[w->n_segs - 1];
    if (w->last_index > s->max_index)
        s->max_index = w->last_index;
    if (w->pending.len >= w->opt.max_pending && !w->in_flight)
        return wal_flush(w); /* (never beside a batch in flight: writes stay in order) */
    return 0;
}

int wal_save_hard_state(struct wal *w, const struct raft_hard_state *hs)
{
    if (w->failed)
        return w->failed;
    int rc = wal_buf_reserve(&w->pending, wal_rec_size(WAL_STATE_SIZE));
    if (rc)
        return rc;
    wal_rec_put_state(&w->pending, hs);
    w->hs = *hs;
    w->has_hs = true;
    return 0;
}

int wal_save_snapshot(struct wal *w, const struct raft_snapshot_meta *meta)
{
    if (w->failed)
        return w->failed;
    if (meta->conf.n_voters > RAFT_MAX_NODES)
        return LT_EINVAL;
    if (meta->index <= w->base.index)
        return 0;
    int rc = wal_buf_reserve(&w->pending, wal_rec_size(wal_snap_len(meta)));
    if (rc)
        return rc;
    bool keep = meta->index <= w->last_index && wal_term_at(w, meta->index) == meta->term;
    wal_rec_put_snapshot(&w->pending, meta, keep ? WAL_SNAP_KEEP : 0);
    if (keep) {
        /* keep the entries after the snapshot: drop the runs before meta->index + 1 */
        size_t k = 0;
        while (k + 1 < w->n_runs && w->runs[k + 1].index <= meta->index + 1)
            k++;
        memmove(w->runs, w->runs + k, (w->n_runs - k) * sizeof(*w->runs));
        w->n_runs -= k;
        if (w->n_runs > 0 && w->runs[0].index < meta->index + 1)
            w->runs[0].index = meta->index + 1;
        if (w->last_index == meta->index)
            w->n_runs = 0;
    } else {
        w->n_runs = 0;
        w->last_index = meta->index;
    }
    w->base = *meta;
    return 0;
}

static unsigned wal_hist_bucket(uint64_t us)
{
    unsigned b = us == 0 ? 0 : 64 - (unsigned)__builtin_clzll(us);
    return b < WAL_HIST_BUCKETS ? b : WAL_HIST_BUCKETS - 1;
}

int wal_sync_begin(struct wal *w, struct wal_io *io)
{
    memset(io, 0, sizeof(*io));
    io->fd = -1;
    if (w->failed)
        return w->failed;
    if (w->in_flight)
        return LT_EBUSY;
    if (w->pending.len == 0 && !w->uncommitted)
        return 0;
    int rc = wal_buf_reserve(&w->pending, wal_rec_size(WAL_COMMIT_SIZE));
    if (rc)
        return rc;
    wal_rec_put_commit(&w->pending, w->batch_seq++);
    struct wal_seg *s = &w->segs[w->n_segs - 1];
    io->fd = w->fd;
    io->buf = w->pending.p;
    io->len = w->pending.len;
    io->cap = w->pending.cap;
    io->off = s->size;
    io->base_index = w->base.index;
    s->size += w->pending.len; /* the batch's place in the segment, reserved */
    if (s->size > w->zeroed_to)
        w->zeroed_to = s->size;
    if (w->opt.zero_ahead && w->zeroed_to < s->size + w->opt.zero_ahead / 2 &&
        w->zeroed_to < w->opt.segment_size) {
        /* Extend the file ahead with zeros, in the same write and sync as this batch. */
        uint64_t to = s->size + w->opt.zero_ahead;
        if (to > w->opt.segment_size)
            to = w->opt.segment_size;
        if (to > w->zeroed_to) {
            io->zero_off = w->zeroed_to;
            io->zero_len = to - w->zeroed_to;
            w->zeroed_to = to;
        }
    }
    w->pending = w->spare;
    w->pending.len = 0;
    w->spare = (struct wal_buf){0};
    w->in_flight = true;
    return 0;
}

void wal_io_run(struct wal_io *io)
{
    static const unsigned char zeros[64 << 10];
    if (io->len == 0)
        return;
    uint64_t start = lt_now_ns();
    for (uint64_t done = 0; done < io->zero_len && !io->rc;) {
        size_t k =
            io->zero_len - done < sizeof(zeros) ? (size_t)(io->zero_len - done) : sizeof(zeros);
        io->rc = sio_pwrite_all(io->fd, zeros, k, io->zero_off + done);
        done += k;
    }
    if (io->rc) {
        io->what = "write";
        return;
    }
    io->rc = sio_pwrite_all(io->fd, io->buf, io->len, io->off);
    if (io->rc) {
        io->what = "write";
        return;
    }
    uint64_t t0 = lt_now_ns();
    io->rc = sio_fdatasync(io->fd);
    uint64_t end = lt_now_ns();
    io->us = (end - t0) / 1000;
    io->io_us = (end - start) / 1000;
    io->synced = true;
    if (io->rc)
        io->what = "fdatasync";
}

/* wal_void_batch makes a batch whose write or fdatasync failed read back as never
 * written. Its bytes may still be in the page cache although they never reached the disk:
 * Linux keeps the pages whose writeback failed and marks them clean, so a restart in the
 * same boot would read the batch back, replay it as durable and count it towards a
 * majority. Nobody was told it is durable, so it must not come back: its place is
 * overwritten with zeros (what an unwritten place in a preallocated segment holds, a tail
 * recovery truncates), and if even that fails the range is dropped from the page cache.
 * Best effort: the disk is failing. */
static void wal_void_batch(const struct wal *w, const struct wal_io *io)
{
    static const uint8_t zeros[4096];
    int rc = 0;
    for (uint64_t done = 0; done < io->len && !rc;) {
        size_t k = io->len - done < sizeof(zeros) ? (size_t)(io->len - done) : sizeof(zeros);
        rc = sio_pwrite_all(io->fd, zeros, k, io->off + done);
        done += k;
    }
    if (rc)
        (void)posix_fadvise(io->fd, (off_t)io->off, (off_t)io->len, POSIX_FADV_DONTNEED);
    lt_error("wal: %s: the failed batch (%zu bytes at offset %llu) was %s", w->dir, io->len,
             (unsigned long long)io->off,
             rc ? "dropped from the page cache" : "overwritten with zeros in the page cache");
}

/* wal_seal appends a SEAL record naming segment next_seq after the last record of segment
 * `s` (open as fd), cuts the preallocated zeros after it and syncs. */
static int wal_seal(struct wal *w, int fd, struct wal_seg *s, uint64_t next_seq)
{
    unsigned char f[WAL_COMMIT_SIZE], rec[WAL_REC_HDR_SIZE + WAL_COMMIT_SIZE];
    struct wal_buf b = {.p = rec, .cap = sizeof(rec)};
    wal_put64(f, ~next_seq);
    wal_rec_put(&b, WAL_REC_SEAL, f, sizeof(f), NULL, 0);
    int rc = sio_pwrite_all(fd, b.p, b.len, s->size);
    if (!rc)
        rc = sio_ftruncate(fd, s->size + b.len);
    if (!rc)
        rc = sio_fdatasync(fd);
    w->fsyncs++;
    if (!rc)
        s->size += b.len;
    return rc;
}

int wal_sync_end(struct wal *w, struct wal_io *io)
{
    if (io->len == 0)
        return w->failed;
    w->in_flight = false;
    /* keep the buffer for the next batch unless a huge batch made it huge */
    if (io->cap <= 2 * w->opt.max_pending && !w->spare.p)
        w->spare = (struct wal_buf){io->buf, 0, io->cap};
    else
        free(io->buf);
    io->buf = NULL;
    if (io->synced)
        w->fsyncs++;
    if (io->rc) {
        int rc = wal_fail(w, io->rc, io->what);
        wal_void_batch(w, io);
        return rc;
    }
    if (w->failed)
        return w->failed;
    w->batches++;
    w->hist[wal_hist_bucket(io->us)]++;
    w->fsync_sum_us += io->us;
    if (io->us > w->fsync_max_us)
        w->fsync_max_us = io->us;
    w->uncommitted = false;
    w->synced_base_index = io->base_index;
    if (w->pending.cap > 2 * w->opt.max_pending && w->pending.len == 0) {
        free(w->pending.p); /* do not keep a huge batch's buffer forever */
        w->pending = (struct wal_buf){0};
    }
    struct wal_seg *s = &w->segs[w->n_segs - 1];
    if (s->size >= w->opt.segment_size) {
        /* Records appended while the batch was in flight belong to this segment (a batch
         * never spans two): write them now as a batch of their own, which rolls over. */
        if (w->pending.len > 0 || w->uncommitted)
            return wal_sync(w);
        /* the next segment first, then the seal of this one: a SEAL promises a successor */
        int old_fd = dup(w->fd); /* wal_seg_create closes w->fd */
        if (old_fd < 0)
            return wal_fail(w, sio_err(errno), "segment rollover");
        size_t old = w->n_segs - 1;
        uint64_t next_seq = s->seq + 1;
        int rc = wal_seg_create(w, next_seq, w->last_index + 1);
        if (!rc)
            rc = wal_seal(w, old_fd, &w->segs[old], next_seq);
        close(old_fd);
        if (rc)
            return wal_fail(w, rc, "segment rollover");
    }
    return 0;
}

int wal_sync(struct wal *w)
{
    struct wal_io io;
    int rc = wal_sync_begin(w, &io);
    if (rc || io.len == 0)
        return rc;
    wal_io_run(&io);
    return wal_sync_end(w, &io);
}

/* A compaction's files. wal_gc_run deletes every segment file in the directory below
 * `below_seq` (the first segment the WAL keeps), oldest first, not only the ones this
 * compaction detached: a segment left behind by an earlier wal_gc_run that failed half
 * way is deleted before any newer one, and each deletion is durable before the next, so
 * the segments on disk always stay consecutive (a hole between them is "a segment is
 * missing" to recovery: the node would not start). */
struct wal_gc {
    char *dir;
    uint64_t below_seq;
};

void wal_gc_free(struct wal_gc *gc)
{
    if (!gc)
        return;
    free(gc->dir);
    free(gc);
}

int wal_compact_detach(struct wal *w, uint64_t index, struct wal_gc **out)
{
    *out = NULL;
    if (w->failed)
        return w->failed;
    if (index > w->synced_base_index)
        return LT_EINVAL;
    size_t k = 0;
    while (k + 1 < w->n_segs && w->segs[k].max_index <= index)
        k++;
    if (k == 0)
        return 0;
    struct wal_gc *gc = calloc(1, sizeof(*gc));
    if (gc && !(gc->dir = strdup(w->dir))) {
        wal_gc_free(gc);
        gc = NULL;
    }
    if (!gc)
        return LT_ENOMEM; /* nothing detached: the segments stay until the next compaction */
    gc->below_seq = w->segs[k].seq;
    memmove(w->segs, w->segs + k, (w->n_segs - k) * sizeof(*w->segs));
    w->n_segs -= k;
    w->fsyncs++; /* the directory's, in wal_gc_run */
    *out = gc;
    return 0;
}

static int wal_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int wal_gc_run(struct wal_gc *gc)
{
    DIR *d = opendir(gc->dir);
    if (!d)
        return sio_err(errno);
    uint64_t *seqs = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long long seq, first;
        char tail[8];
        if (strlen(de->d_name) != 37 ||
            sscanf(de->d_name, "%16llx-%16llx.wa%1[l]", &seq, &first, tail) != 3 ||
            seq >= gc->below_seq)
            continue;
        if (n == cap) {
            size_t c = cap ? 2 * cap : 16;
            uint64_t *p = realloc(seqs, 2 * c * sizeof(*p));
            if (!p) {
                rc = LT_ENOMEM;
                break;
            }
            seqs = p;
            cap = c;
        }
        seqs[2 * n] = seq; /* (seq, first) pairs, sorted by seq below */
        seqs[2 * n + 1] = first;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(seqs, n, 2 * sizeof(*seqs), wal_u64_cmp);
    /* Each removal is made durable before the next: a file system that keeps no order among
     * a directory's changes (ext4 without a journal, as on this machine; ext2) could
     * otherwise keep a newer removal and lose an older one to a power cut, and the segment
     * left behind before a hole reads as "a segment is missing" (the node would not start).
     * One directory fsync per segment of 64 MiB, on the compaction's background thread. */
    for (size_t i = 0; i < n && !rc; i++) {
        char path[4096];
        int len = snprintf(path, sizeof(path), "%s/%016" PRIx64 "-%016" PRIx64 ".wal", gc->dir,
                           seqs[2 * i], seqs[2 * i + 1]);
        rc = len > 0 && (size_t)len < sizeof(path) ? sio_unlink(path) : LT_EINVAL;
        if (!rc)
            rc = sio_fsync_dir(gc->dir);
    }
    free(seqs);
    return rc;
}

int wal_compact(struct wal *w, uint64_t index)
{
    struct wal_gc *gc;
    int rc = wal_compact_detach(w, index, &gc);
    if (rc == 0 && gc)
        rc = wal_gc_run(gc);
    wal_gc_free(gc);
    return rc;
}

uint64_t wal_hist_pct_of(const uint64_t hist[WAL_HIST_BUCKETS], unsigned permille, uint64_t max_us)
{
    uint64_t total = 0;
    for (unsigned b = 0; b < WAL_HIST_BUCKETS; b++)
        total += hist[b];
    if (total == 0)
        return 0;
    uint64_t want = (total * permille + 999) / 1000, seen = 0;
    for (unsigned b = 0; b < WAL_HIST_BUCKETS; b++) {
        seen += hist[b];
        if (seen >= want) {
            uint64_t upper = b == 0 ? 1 : (1ull << b) - 1;
            return upper < max_us ? upper : max_us;
        }
    }
    return max_us;
}

/* wal_hist_pct: the p-th per-mille fsync latency since the WAL was opened. */
static uint64_t wal_hist_pct(const struct wal *w, unsigned permille)
{
    return wal_hist_pct_of(w->hist, permille, w->fsync_max_us);
}

void wal_stats(const struct wal *w, struct wal_stats *st)
{
    memset(st, 0, sizeof(*st));
    for (size_t i = 0; i < w->n_segs; i++)
        st->bytes += w->segs[i].size;
    st->segments = (unsigned)w->n_segs;
    st->first_index = w->base.index + 1;
    st->last_index = w->last_index;
    st->entries = w->last_index - w->base.index;
    st->snapshot_index = w->base.index;
    st->fsyncs = w->fsyncs;
    st->batches = w->batches;
    memcpy(st->fsync_hist, w->hist, sizeof(st->fsync_hist));
    st->fsync_p50_us = wal_hist_pct(w, 500);
    st->fsync_p99_us = wal_hist_pct(w, 990);
    st->fsync_max_us = w->fsync_max_us;
    st->fsync_sum_us = w->fsync_sum_us;
    st->truncated_bytes_at_start = w->truncated_at_start;
    st->pending_bytes = w->pending.len;
}

/* ---- inspection ---- */

static const char *wal_rec_type_name(enum wal_rec_type t)
{
    switch (t) {
    case WAL_REC_ENTRY:
        return "ENTRY";
    case WAL_REC_STATE:
        return "STATE";
    case WAL_REC_SNAPSHOT:
        return "SNAPSHOT";
    case WAL_REC_COMMIT:
        return "COMMIT";
    case WAL_REC_SEAL:
        return "SEAL";
    }
    return "?";
}

/* wal_dump_seg prints one segment's records; returns LT_ECORRUPT if it is damaged in a way
 * recovery would refuse. *seq tracks the expected batch sequence number. */
static int wal_dump_seg(const struct wal *w, size_t i, FILE *out, uint64_t *seq)
{
    const struct wal_seg *s = &w->segs[i];
    bool is_last = i + 1 == w->n_segs;
    char path[4096];
    int fd;
    int rc = wal_seg_open(w, i, O_RDONLY, path, sizeof(path), &fd);
    if (rc)
        return rc;
    struct stat sb;
    unsigned char *m = NULL;
    size_t size = 0;
    /* Read, not mapped: a running node may truncate the segment meanwhile (the zeros ahead
     * of its records, at rollover), and a mapped page past the new end is SIGBUS. */
    if (fstat(fd, &sb) == 0 && sb.st_size > 0 && (m = malloc((size_t)sb.st_size)) != NULL &&
        (sio_pread_all(fd, m, (size_t)sb.st_size, 0, &size) != 0 || size == 0)) {
        free(m);
        m = NULL;
        size = 0;
    }
    close(fd);
    fprintf(out, "segment %s: seq %" PRIu64 ", first index %" PRIu64 ", %zu bytes\n", path, s->seq,
            s->first_index, size);
    char why[160];
    if (wal_seg_hdr_problem(m, size, s, why, sizeof(why)) != WAL_HDR_OK) {
        fprintf(out, "  %s\n", why);
        free(m);
        return LT_ECORRUPT;
    }
    size_t off = WAL_SEG_HDR_SIZE, good_end = off;
    while (off < size) {
        struct wal_rec r;
        if (!wal_rec_parse(m, size, off, true, &r)) {
            if (off == good_end && wal_written_end(m, off, size) == off) {
                fprintf(out, "  %8zu  unwritten (preallocated) space: %zu zero bytes, %s\n", off,
                        size - off, is_last ? "cut quietly" : "left (a crash at rollover)");
                break;
            }
            bool corrupt = !is_last || wal_later_batch_exists(m, size, off, *seq);
            fprintf(out, "  %8zu  bad record: %s; %zu bytes from the last commit (offset %zu) on\n",
                    off, corrupt ? "CORRUPT, recovery refuses" : "torn tail, recovery cuts it",
                    size - good_end, good_end);
            rc = corrupt ? LT_ECORRUPT : 0;
            break;
        }
        const unsigned char *p = r.payload;
        fprintf(out, "  %8zu  %-8s", off, wal_rec_type_name(r.type));
        switch (r.type) {
        case WAL_REC_ENTRY:
            fprintf(out, " index %" PRIu64 " term %" PRIu64 " type %u, %zu bytes", wal_get64(p + 8),
                    wal_get64(p), wal_get32(p + 16), r.len - WAL_ENTRY_FIXED);
            break;
        case WAL_REC_STATE:
            fprintf(out, " term %" PRIu64 " vote %" PRIu64 " commit %" PRIu64, wal_get64(p),
                    wal_get64(p + 8), wal_get64(p + 16));
            break;
        case WAL_REC_SNAPSHOT:
            fprintf(out, " index %" PRIu64 " term %" PRIu64 " voters %u%s", wal_get64(p),
                    wal_get64(p + 8), wal_get32(p + 16),
                    wal_get32(p + 20) & WAL_SNAP_KEEP ? " keep" : "");
            break;
        case WAL_REC_COMMIT:
            fprintf(out, " batch %" PRIu64, wal_get64(p));
            *seq = wal_get64(p) + 1;
            break;
        case WAL_REC_SEAL:
            fprintf(out, " next segment %016" PRIx64 "%s", ~wal_get64(p),
                    is_last ? ": CORRUPT, that segment is missing" : "");
            if (is_last)
                rc = LT_ECORRUPT;
            break;
        }
        fputc('\n', out);
        off += r.size;
        if (r.type == WAL_REC_COMMIT || r.type == WAL_REC_SEAL)
            good_end = off;
    }
    if (!rc && good_end < size && off >= size) {
        fprintf(out, "  %zu bytes after the last commit: %s\n", size - good_end,
                is_last ? "an unfinished batch, recovery cuts it" : "CORRUPT, recovery refuses");
        if (!is_last)
            rc = LT_ECORRUPT;
    }
    free(m);
    return rc;
}

int wal_dump(const char *dir, FILE *out)
{
    struct wal w;
    memset(&w, 0, sizeof(w));
    w.dir = (char *)dir;
    w.fd = w.lock_fd = -1;
    int rc = wal_seg_list(&w, false);
    uint64_t seq = 0;
    for (size_t i = 0; i < w.n_segs && rc != LT_EIO; i++) {
        int r = wal_dump_seg(&w, i, out, &seq);
        if (r && !rc)
            rc = r;
    }
    free(w.segs);
    return rc;
}
