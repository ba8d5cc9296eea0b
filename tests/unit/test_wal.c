/* test_wal.c — CRC32C and the write-ahead log on real files: round trips, suffix
 * replacement, torn tails at every byte offset, flipped bits, zero tails, segment
 * rollover, compaction, snapshot markers, index gaps and injected I/O faults. Each test
 * works in a fresh temporary directory that it removes. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crc32c.h"
#include "cunit_main.h"
#include "lt_err.h"
#include "sio.h"
#include "testutil.h"
#include "wal.h"

/* ---- helpers ---- */

static char tdir[512];

static void tdir_begin(void)
{
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(tdir, sizeof(tdir), "lt-wal"), 0);
}

static void tdir_end(void)
{
    sio_fault_arm(0, 0);
    tu_rmrf(tdir);
}

static char *waldir(void)
{
    static char p[600];
    snprintf(p, sizeof(p), "%s/wal", tdir);
    return p;
}

/* entry_data fills the deterministic payload of (index, term): variable length. */
static size_t entry_data(uint64_t index, uint64_t term, unsigned char *buf)
{
    size_t len = (size_t)((index * 7 + term) % 97);
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(index * 31 + term * 7 + i);
    return len;
}

static unsigned char ebuf[64][128];

/* make_entries fills e[0..n) with entries from `first` at `term`, data in ebuf. */
static void make_entries(struct raft_entry *e, uint64_t first, size_t n, uint64_t term)
{
    for (size_t i = 0; i < n; i++) {
        e[i].index = first + i;
        e[i].term = term;
        e[i].type = (first + i) % 5 == 0 ? RAFT_ENTRY_NOOP : RAFT_ENTRY_NORMAL;
        e[i].data.len = entry_data(first + i, term, ebuf[i % 64]);
        e[i].data.base = ebuf[i % 64];
    }
}

/* append_batch appends n entries from `first` at `term` (n <= 64) and syncs. */
static int append_batch(struct wal *w, uint64_t first, size_t n, uint64_t term)
{
    struct raft_entry e[64];
    CU_ASSERT_FATAL(n <= 64);
    make_entries(e, first, n, term);
    int rc = wal_append(w, e, n);
    if (rc)
        return rc;
    return wal_sync(w);
}

static int open_wal_prealloc(uint64_t seg_size, uint64_t zero_ahead, struct wal **w,
                             struct wal_recovered *rec)
{
    struct wal_options opt;
    wal_options_default(&opt);
    if (seg_size)
        opt.segment_size = seg_size;
    opt.zero_ahead = zero_ahead;
    return wal_open(waldir(), &opt, w, rec);
}

/* open_wal: no zeros ahead — the format tests count bytes; test_preallocation covers it. */
static int open_wal(uint64_t seg_size, struct wal **w, struct wal_recovered *rec)
{
    return open_wal_prealloc(seg_size, 0, w, rec);
}

/* open_with_batches opens a new WAL of 2 KiB segments holding `batches` batches of 8
 * entries of term 1 from index 1; returns the next index. */
static uint64_t open_with_batches(int batches, struct wal **w)
{
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(2048, w, &rec), 0);
    wal_recovered_fini(&rec);
    uint64_t idx = 1;
    for (int b = 0; b < batches; b++, idx += 8)
        CU_ASSERT_EQUAL_FATAL(append_batch(*w, idx, 8, 1), 0);
    return idx;
}

/* one_voter: snapshot metadata at (index, term 1) for a one-node configuration */
static struct raft_snapshot_meta one_voter(uint64_t index)
{
    struct raft_snapshot_meta meta = {.index = index, .term = 1};
    meta.conf.n_voters = 1;
    meta.conf.voters[0] = 1;
    return meta;
}

/* check_entry verifies that e is (index, term) with the deterministic payload. */
static void check_entry(const struct raft_entry *e, uint64_t index, uint64_t term)
{
    unsigned char buf[128];
    size_t len = entry_data(index, term, buf);
    CU_ASSERT_EQUAL(e->index, index);
    CU_ASSERT_EQUAL(e->term, term);
    CU_ASSERT_EQUAL(e->type, index % 5 == 0 ? RAFT_ENTRY_NOOP : RAFT_ENTRY_NORMAL);
    CU_ASSERT_EQUAL_FATAL(e->data.len, len);
    if (len)
        CU_ASSERT_EQUAL(memcmp(e->data.base, buf, len), 0);
}

/* check_log verifies rec holds [first, last] where entries < split have term t1 and the
 * rest t2. */
static void check_log(const struct wal_recovered *rec, uint64_t first, uint64_t last,
                      uint64_t split, uint64_t t1, uint64_t t2)
{
    CU_ASSERT_EQUAL(rec->first_index, first);
    CU_ASSERT_EQUAL(rec->last_index, last);
    CU_ASSERT_EQUAL_FATAL(rec->n_entries, last + 1 - first);
    for (size_t i = 0; i < rec->n_entries; i++)
        check_entry(&rec->entries[i], first + i, first + i < split ? t1 : t2);
}

/* seg_files lists the segment paths, sorted (names sort by seq). Returns the count. */
static size_t seg_files(char paths[][700], size_t max)
{
    DIR *d = opendir(waldir());
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".wal") == 0 && n < max)
            snprintf(paths[n++], 700, "%s/%s", waldir(), de->d_name);
    }
    closedir(d);
    qsort(paths, n, 700, (int (*)(const void *, const void *))strcmp);
    return n;
}

static void file_flip(const char *path, size_t off, unsigned char mask)
{
    size_t len;
    unsigned char *p = tu_file_read(path, &len);
    CU_ASSERT_FATAL(off < len);
    p[off] ^= mask;
    tu_file_write(path, p, len);
    free(p);
}

static uint64_t wal_bytes(const struct wal *w)
{
    struct wal_stats st;
    wal_stats(w, &st);
    return st.bytes;
}

/* build_five writes entries 1..5, one batch each, then a last batch (entry 6 + a hard
 * state); off[k] is the file size after batch k (off[0]: the empty segment). */
static void build_five(size_t off[7])
{
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    wal_recovered_fini(&rec);
    off[0] = wal_bytes(w);
    for (uint64_t i = 1; i <= 5; i++) {
        struct raft_hard_state hs = {.term = 1, .vote = 1, .commit = i - 1};
        CU_ASSERT_EQUAL_FATAL(wal_save_hard_state(w, &hs), 0);
        CU_ASSERT_EQUAL_FATAL(append_batch(w, i, 1, 1), 0);
        off[i] = wal_bytes(w);
    }
    struct raft_hard_state hs = {.term = 2, .vote = 3, .commit = 5};
    struct raft_entry e[1];
    make_entries(e, 6, 1, 2);
    CU_ASSERT_EQUAL_FATAL(wal_append(w, e, 1), 0);
    CU_ASSERT_EQUAL_FATAL(wal_save_hard_state(w, &hs), 0);
    CU_ASSERT_EQUAL_FATAL(wal_sync(w), 0);
    off[6] = wal_bytes(w);
    wal_free(w);
}

/* ---- CRC32C ---- */

static void test_crc32c_vectors(void)
{
    unsigned char buf[48];
    memset(buf, 0, 32);
    CU_ASSERT_EQUAL(crc32c(buf, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
    memset(buf, 0xff, 32);
    CU_ASSERT_EQUAL(crc32c(buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    CU_ASSERT_EQUAL(crc32c(buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)(31 - i);
    CU_ASSERT_EQUAL(crc32c(buf, 32), 0x113FDB5Cu);
    static const unsigned char iscsi[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    CU_ASSERT_EQUAL(crc32c(iscsi, 48), 0xD9963A56u);
    CU_ASSERT_EQUAL(crc32c("123456789", 9), 0xE3069283u);
    CU_ASSERT_EQUAL(crc32c_portable(0, "123456789", 9), 0xE3069283u);
    CU_ASSERT_EQUAL(crc32c(NULL, 0), 0);
}

static void test_crc32c_impls_agree(void)
{
    uint64_t seed = tu_seed("crc32c");
    unsigned char *buf = malloc(5000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    for (size_t i = 0; i < 5000; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (unsigned char)(seed >> 56);
    }
    for (size_t start = 0; start < 9; start++) {
        for (size_t len = 0; len < 300; len += 1 + len / 8) {
            uint32_t a = crc32c_extend(0, buf + start, len);
            CU_ASSERT_EQUAL(a, crc32c_portable(0, buf + start, len));
            /* extending in two pieces equals one pass */
            uint32_t b = crc32c_extend(crc32c_extend(0, buf + start, len / 3),
                                       buf + start + len / 3, len - len / 3);
            CU_ASSERT_EQUAL(a, b);
        }
    }
    /* longer buffers, other alignments, a running CRC */
    for (size_t start = 0; start < 16; start += 3) {
        for (size_t len = 300; len + start <= 5000; len = len * 5 / 4 + 7) {
            CU_ASSERT_EQUAL(crc32c_extend(0x12345678u, buf + start, len),
                            crc32c_portable(0x12345678u, buf + start, len));
        }
    }
    CU_ASSERT_EQUAL(crc32c(buf, 5000), crc32c_portable(0, buf, 5000));
    free(buf);
    fprintf(stderr, "crc32c: %s\n", crc32c_has_hw() ? "SSE4.2" : "slicing-by-8");
}

/* ---- WAL ---- */

/* busy_elsewhere: true if `try` returns LT_EBUSY in another process (the WAL's lock is
 * per process). */
static bool busy_elsewhere(int (*try)(void))
{
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0)
        _exit(try() == LT_EBUSY ? 0 : 1);
    int status = -1;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int try_open_wal(void)
{
    struct wal *w;
    struct wal_recovered rec;
    return open_wal(0, &w, &rec);
}

static int try_read_wal(void)
{
    struct wal_read *rd = NULL;
    return wal_read(waldir(), NULL, &rd);
}

static void test_empty_open(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.n_entries, 0);
    CU_ASSERT_EQUAL(rec.first_index, 1);
    CU_ASSERT_EQUAL(rec.last_index, 0);
    CU_ASSERT_EQUAL(rec.hs.term, 0);
    CU_ASSERT_EQUAL(wal_sync(w), 0); /* nothing to do */
    struct wal_stats st;
    wal_stats(w, &st);
    CU_ASSERT_EQUAL(st.batches, 0);
    CU_ASSERT_EQUAL(st.segments, 1);
    wal_recovered_fini(&rec);
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.n_entries, 0);
    CU_ASSERT_EQUAL(rec.truncated_bytes, 0);
    /* one process at a time: another process is refused while this one has it open */
    CU_ASSERT(busy_elsewhere(try_open_wal));
    struct wal *w2;
    struct wal_recovered rec2;
    wal_recovered_fini(&rec);
    wal_free(w);
    wal_free(NULL);
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w2, &rec2), 0);
    wal_recovered_fini(&rec2);
    wal_free(w2);
    tdir_end();
}

static void test_roundtrip(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    wal_recovered_fini(&rec);
    uint64_t idx = 1;
    for (int b = 0; b < 100; b++) {
        size_t n = 1 + (size_t)b % 20;
        CU_ASSERT_EQUAL_FATAL(append_batch(w, idx, n, 1), 0);
        idx += n;
    }
    struct raft_hard_state hs = {.term = 7, .vote = 2, .commit = idx - 3};
    CU_ASSERT_EQUAL(wal_save_hard_state(w, &hs), 0);
    CU_ASSERT_EQUAL(wal_sync(w), 0);
    CU_ASSERT_EQUAL(wal_last_index(w), idx - 1);
    CU_ASSERT_EQUAL(wal_term_at(w, idx - 1), 1);
    CU_ASSERT_EQUAL(wal_term_at(w, idx), 0);
    struct wal_stats st;
    wal_stats(w, &st);
    CU_ASSERT_EQUAL(st.batches, 101);
    CU_ASSERT(st.fsyncs >= 101);
    CU_ASSERT_EQUAL(st.entries, idx - 1);
    CU_ASSERT_EQUAL(st.last_index, idx - 1);
    CU_ASSERT(st.fsync_p50_us <= st.fsync_p99_us);
    CU_ASSERT(st.fsync_p99_us <= st.fsync_max_us);
    uint64_t total = 0;
    for (int b = 0; b < WAL_HIST_BUCKETS; b++)
        total += st.fsync_hist[b];
    CU_ASSERT_EQUAL(total, 101);
    wal_free(w);

    for (int round = 0; round < 2; round++) {
        CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
        check_log(&rec, 1, idx - 1, UINT64_MAX, 1, 1);
        CU_ASSERT_EQUAL(rec.hs.term, 7);
        CU_ASSERT_EQUAL(rec.hs.vote, 2);
        CU_ASSERT_EQUAL(rec.hs.commit, idx - 3);
        CU_ASSERT_EQUAL(rec.truncated_bytes, 0);
        CU_ASSERT_EQUAL(rec.snapshot.index, 0);
        wal_recovered_fini(&rec);
        wal_free(w);
    }
    tdir_end();
}

static void test_suffix_replacement(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    wal_recovered_fini(&rec);
    CU_ASSERT_EQUAL(append_batch(w, 1, 20, 1), 0);
    CU_ASSERT_EQUAL(append_batch(w, 11, 5, 2), 0); /* replaces 11..20 with 11..15 */
    CU_ASSERT_EQUAL(wal_last_index(w), 15);
    CU_ASSERT_EQUAL(wal_term_at(w, 12), 2);
    CU_ASSERT_EQUAL(wal_term_at(w, 10), 1);
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    check_log(&rec, 1, 15, 11, 1, 2);
    wal_recovered_fini(&rec);
    /* replacement inside one batch, and a replacement of the very first entry */
    struct raft_entry e[8];
    make_entries(e, 14, 4, 3);
    CU_ASSERT_EQUAL(wal_append(w, e, 4), 0); /* 14..17 term 3 */
    make_entries(e, 16, 1, 4);
    CU_ASSERT_EQUAL(wal_append(w, e, 1), 0); /* 16 term 4: drops 17 */
    CU_ASSERT_EQUAL(wal_sync(w), 0);
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    CU_ASSERT_EQUAL_FATAL(rec.n_entries, 16);
    check_entry(&rec.entries[12], 13, 2);
    check_entry(&rec.entries[13], 14, 3);
    check_entry(&rec.entries[14], 15, 3);
    check_entry(&rec.entries[15], 16, 4);
    wal_recovered_fini(&rec);
    CU_ASSERT_EQUAL(append_batch(w, 1, 3, 5), 0);
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    check_log(&rec, 1, 3, 1, 5, 5);
    wal_recovered_fini(&rec);
    wal_free(w);
    tdir_end();
}

static void test_append_validation(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    wal_recovered_fini(&rec);
    CU_ASSERT_EQUAL(append_batch(w, 1, 10, 3), 0);
    struct raft_entry e[4];
    make_entries(e, 12, 2, 3); /* gap */
    CU_ASSERT_EQUAL(wal_append(w, e, 2), LT_EINVAL);
    make_entries(e, 11, 2, 2); /* term goes down */
    CU_ASSERT_EQUAL(wal_append(w, e, 2), LT_EINVAL);
    make_entries(e, 11, 3, 3);
    e[2].index = 14; /* not consecutive */
    CU_ASSERT_EQUAL(wal_append(w, e, 3), LT_EINVAL);
    make_entries(e, 0, 1, 3); /* index 0 */
    CU_ASSERT_EQUAL(wal_append(w, e, 1), LT_EINVAL);
    make_entries(e, 11, 1, 3);
    e[0].data.len = (size_t)WAL_MAX_ENTRY_DATA + 1;
    CU_ASSERT_EQUAL(wal_append(w, e, 1), LT_ETOOBIG);
    CU_ASSERT_EQUAL(wal_last_index(w), 10);
    struct wal_stats st;
    wal_stats(w, &st);
    CU_ASSERT_EQUAL(st.pending_bytes, 0); /* nothing half-buffered */
    CU_ASSERT_EQUAL(append_batch(w, 11, 2, 4), 0);
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    check_log(&rec, 1, 12, 11, 3, 4);
    wal_recovered_fini(&rec);
    wal_free(w);
    tdir_end();
}

/* written_end: where b[from, to) ends once its trailing zeros are dropped — what a torn
 * tail counts (zeros at its end are not told from preallocated space). */
static size_t written_end(const unsigned char *b, size_t from, size_t to)
{
    while (to > from && b[to - 1] == 0)
        to--;
    return to;
}

/* Cut the last segment at every length between the end of batch 5 and the end of
 * batch 6: batches 1..5 survive, batch 6 is gone, and the WAL accepts a new batch 6
 * that survives another reopen. */
static void test_torn_tail_every_offset(void)
{
    tdir_begin();
    size_t off[7];
    build_five(off);
    char segs[4][700];
    CU_ASSERT_EQUAL_FATAL(seg_files(segs, 4), 1);
    size_t len;
    unsigned char *orig = tu_file_read(segs[0], &len);
    CU_ASSERT_EQUAL_FATAL(len, off[6]);
    for (size_t cut = off[5]; cut < off[6]; cut++) {
        tu_file_write(segs[0], orig, cut);
        struct wal *w;
        struct wal_recovered rec;
        CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
        check_log(&rec, 1, 5, UINT64_MAX, 1, 1);
        CU_ASSERT_EQUAL(rec.hs.term, 1);
        CU_ASSERT_EQUAL(rec.hs.commit, 4);
        CU_ASSERT_EQUAL(rec.truncated_bytes, written_end(orig, off[5], cut) - off[5]);
        CU_ASSERT_EQUAL(tu_file_size(segs[0]), (long long)off[5]);
        wal_recovered_fini(&rec);
        struct raft_hard_state hs = {.term = 3, .vote = 0, .commit = 5};
        CU_ASSERT_EQUAL(wal_save_hard_state(w, &hs), 0);
        CU_ASSERT_EQUAL_FATAL(append_batch(w, 6, 1, 3), 0);
        wal_free(w);
        CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
        check_log(&rec, 1, 6, 6, 1, 3);
        CU_ASSERT_EQUAL(rec.hs.term, 3);
        CU_ASSERT_EQUAL(rec.truncated_bytes, 0);
        wal_recovered_fini(&rec);
        wal_free(w);
    }
    /* the whole file: everything is there */
    tu_file_write(segs[0], orig, len);
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    check_log(&rec, 1, 6, 6, 1, 2);
    CU_ASSERT_EQUAL(rec.hs.vote, 3);
    wal_recovered_fini(&rec);
    wal_free(w);
    free(orig);
    tdir_end();
}

static void test_flipped_bits(void)
{
    tdir_begin();
    size_t off[7];
    build_five(off);
    char segs[4][700];
    CU_ASSERT_EQUAL_FATAL(seg_files(segs, 4), 1);
    size_t len;
    unsigned char *orig = tu_file_read(segs[0], &len);
    struct wal *w;
    struct wal_recovered rec;
    /* any bit of the last batch: the batch is dropped, the rest recovered */
    for (size_t pos = off[5]; pos < off[6]; pos += 3) {
        tu_file_write(segs[0], orig, len);
        file_flip(segs[0], pos, (unsigned char)(1u << (pos % 8)));
        orig[pos] ^= (unsigned char)(1u << (pos % 8));
        size_t counted = written_end(orig, off[5], off[6]) - off[5];
        orig[pos] ^= (unsigned char)(1u << (pos % 8));
        CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
        check_log(&rec, 1, 5, UINT64_MAX, 1, 1);
        CU_ASSERT_EQUAL(rec.truncated_bytes, counted);
        wal_recovered_fini(&rec);
        wal_free(w);
    }
    /* any bit of a middle batch (3): later batches prove it was durable: corrupt */
    for (size_t pos = off[2]; pos < off[3]; pos += 5) {
        tu_file_write(segs[0], orig, len);
        file_flip(segs[0], pos, (unsigned char)(1u << (pos % 8)));
        CU_ASSERT_EQUAL(open_wal(0, &w, &rec), LT_ECORRUPT);
    }
    /* the segment header */
    tu_file_write(segs[0], orig, len);
    file_flip(segs[0], 3, 0x10);
    CU_ASSERT_EQUAL(open_wal(0, &w, &rec), LT_ECORRUPT);
    free(orig);
    tdir_end();
}

static void test_zero_tail(void)
{
    tdir_begin();
    size_t off[7];
    build_five(off);
    char segs[4][700];
    CU_ASSERT_EQUAL_FATAL(seg_files(segs, 4), 1);
    size_t len;
    unsigned char *orig = tu_file_read(segs[0], &len);
    unsigned char *big = calloc(1, len + 8192);
    memcpy(big, orig, len);
    /* zeros after the last batch (a file extended but never written) */
    tu_file_write(segs[0], big, len + 8192);
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    check_log(&rec, 1, 6, 6, 1, 2);
    CU_ASSERT_EQUAL(rec.truncated_bytes, 0); /* unwritten (preallocated) space, not damage */
    CU_ASSERT_EQUAL(tu_file_size(segs[0]), (long long)len); /* but cut */
    wal_recovered_fini(&rec);
    CU_ASSERT_EQUAL(append_batch(w, 7, 2, 2), 0);
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    check_log(&rec, 1, 8, 6, 1, 2);
    CU_ASSERT_EQUAL(rec.truncated_bytes, 0);
    wal_recovered_fini(&rec);
    wal_free(w);
    /* the last batch zeroed out (its pages never reached the disk) */
    memset(big + off[5], 0, len - off[5]);
    tu_file_write(segs[0], big, len + 100);
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    check_log(&rec, 1, 5, UINT64_MAX, 1, 1);
    CU_ASSERT_EQUAL(rec.truncated_bytes, 0); /* it never reached the disk: zeros only */
    CU_ASSERT_EQUAL(tu_file_size(segs[0]), (long long)off[5]);
    wal_recovered_fini(&rec);
    wal_free(w);
    /* part of the last batch written, the rest zeros: torn; what is counted ends at the
     * last byte written (the zeros after it are preallocated space), all of it is cut */
    memcpy(big, orig, len);
    memset(big + off[5] + 20, 0, len - off[5] - 20);
    big[off[5] + 19] = 0x5a; /* the last byte written */
    tu_file_write(segs[0], big, len + 100);
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    check_log(&rec, 1, 5, UINT64_MAX, 1, 1);
    CU_ASSERT_EQUAL(rec.truncated_bytes, 20);
    CU_ASSERT_EQUAL(tu_file_size(segs[0]), (long long)off[5]);
    wal_recovered_fini(&rec);
    wal_free(w);
    /* a zeroed middle batch followed by durable batches is corruption */
    memcpy(big, orig, len);
    memset(big + off[2], 0, off[3] - off[2]);
    tu_file_write(segs[0], big, len);
    CU_ASSERT_EQUAL(open_wal(0, &w, &rec), LT_ECORRUPT);
    free(big);
    free(orig);
    tdir_end();
}

static void test_uncommitted_tail(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    struct wal_options opt;
    wal_options_default(&opt);
    opt.max_pending = 512; /* big batches are written early, before their COMMIT */
    CU_ASSERT_EQUAL_FATAL(wal_open(waldir(), &opt, &w, &rec), 0);
    wal_recovered_fini(&rec);
    CU_ASSERT_EQUAL(append_batch(w, 1, 10, 1), 0);
    uint64_t synced = wal_bytes(w);
    struct raft_entry e[64];
    make_entries(e, 11, 64, 1);
    CU_ASSERT_EQUAL(wal_append(w, e, 64), 0);
    CU_ASSERT(wal_bytes(w) > synced); /* written, not committed */
    wal_free(w);                      /* crash before wal_sync */
    CU_ASSERT_EQUAL_FATAL(wal_open(waldir(), &opt, &w, &rec), 0);
    check_log(&rec, 1, 10, UINT64_MAX, 1, 1);
    CU_ASSERT(rec.truncated_bytes > 0);
    wal_recovered_fini(&rec);
    /* the same big batch, committed this time */
    CU_ASSERT_EQUAL(wal_append(w, e, 64), 0);
    CU_ASSERT_EQUAL(wal_sync(w), 0);
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(wal_open(waldir(), &opt, &w, &rec), 0);
    check_log(&rec, 1, 74, UINT64_MAX, 1, 1);
    wal_recovered_fini(&rec);
    wal_free(w);
    tdir_end();
}

static void test_rollover(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(4096, &w, &rec), 0);
    wal_recovered_fini(&rec);
    uint64_t idx = 1, term = 1;
    for (int b = 0; b < 300; b++) {
        size_t n = 1 + (size_t)b % 9;
        if (b % 50 == 49)
            term++;
        if (b % 37 == 36)
            idx -= 3; /* a suffix replacement now and then, sometimes across segments */
        struct raft_hard_state hs = {.term = term, .vote = 1, .commit = idx - 1};
        CU_ASSERT_EQUAL_FATAL(wal_save_hard_state(w, &hs), 0);
        CU_ASSERT_EQUAL_FATAL(append_batch(w, idx, n, term), 0);
        idx += n;
    }
    uint64_t last = idx - 1;
    uint64_t terms[2000];
    for (uint64_t i = 1; i <= last; i++)
        terms[i] = wal_term_at(w, i);
    struct wal_stats st;
    wal_stats(w, &st);
    CU_ASSERT(st.segments > 10);
    wal_free(w);
    char segs[200][700];
    size_t nseg = seg_files(segs, 200);
    CU_ASSERT_EQUAL(nseg, st.segments);
    for (int round = 0; round < 2; round++) {
        CU_ASSERT_EQUAL_FATAL(open_wal(4096, &w, &rec), 0);
        CU_ASSERT_EQUAL(rec.segments, nseg);
        CU_ASSERT_EQUAL(rec.last_index, last);
        CU_ASSERT_EQUAL_FATAL(rec.n_entries, last);
        for (size_t i = 0; i < rec.n_entries; i++)
            check_entry(&rec.entries[i], i + 1, terms[i + 1]);
        CU_ASSERT_EQUAL(rec.hs.term, term);
        CU_ASSERT_EQUAL(rec.hs.commit, last - (1 + 299 % 9));
        wal_recovered_fini(&rec);
        wal_free(w);
    }
    /* a flipped bit in a sealed segment is corruption even in its last records (its last
     * COMMIT, its SEAL) */
    size_t len;
    unsigned char *orig = tu_file_read(segs[nseg - 2], &len);
    file_flip(segs[nseg - 2], len - 3, 0x01);
    CU_ASSERT_EQUAL(open_wal(4096, &w, &rec), LT_ECORRUPT);
    tu_file_write(segs[nseg - 2], orig, len);
    file_flip(segs[nseg - 2], len - 24 - 3, 0x01);
    CU_ASSERT_EQUAL(open_wal(4096, &w, &rec), LT_ECORRUPT);
    tu_file_write(segs[nseg - 2], orig, len);
    /* so is a sealed segment cut into its last COMMIT */
    tu_file_write(segs[nseg - 2], orig, len - 24 - 10);
    CU_ASSERT_EQUAL(open_wal(4096, &w, &rec), LT_ECORRUPT);
    /* while a torn SEAL (a crash as it was written: its successor is there) is not */
    tu_file_write(segs[nseg - 2], orig, len - 10);
    CU_ASSERT_EQUAL_FATAL(open_wal(4096, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.last_index, last);
    wal_recovered_fini(&rec);
    wal_free(w);
    tu_file_write(segs[nseg - 2], orig, len);
    free(orig);
    /* a missing segment in the middle */
    char moved[720];
    snprintf(moved, sizeof(moved), "%s.away", segs[3]);
    CU_ASSERT_EQUAL_FATAL(rename(segs[3], moved), 0);
    CU_ASSERT_EQUAL(open_wal(4096, &w, &rec), LT_ECORRUPT);
    CU_ASSERT_EQUAL_FATAL(rename(moved, segs[3]), 0);
    /* a missing first segment with no snapshot to cover it */
    snprintf(moved, sizeof(moved), "%s.away", segs[0]);
    CU_ASSERT_EQUAL_FATAL(rename(segs[0], moved), 0);
    CU_ASSERT_EQUAL(open_wal(4096, &w, &rec), LT_ECORRUPT);
    CU_ASSERT_EQUAL_FATAL(rename(moved, segs[0]), 0);
    /* a missing newest segment: the one before it was sealed (a SEAL record) once it
     * existed, so its loss is seen (it once looked like a log ending there: entries lost
     * without a word) */
    snprintf(moved, sizeof(moved), "%s.away", segs[nseg - 1]);
    CU_ASSERT_EQUAL_FATAL(rename(segs[nseg - 1], moved), 0);
    CU_ASSERT_EQUAL(open_wal(4096, &w, &rec), LT_ECORRUPT);
    CU_ASSERT_EQUAL_FATAL(rename(moved, segs[nseg - 1]), 0);
    /* a crash after the next segment was made and before the seal: no SEAL, preallocated
     * zeros after the last COMMIT — every entry recovers */
    orig = tu_file_read(segs[nseg - 2], &len);
    CU_ASSERT_FATAL(len > 24 && orig[len - 24 + 8] == 5); /* the SEAL record's type */
    unsigned char *z = calloc(1, len + 8192);
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    memcpy(z, orig, len - 24);
    tu_file_write(segs[nseg - 2], z, len - 24 + 8192);
    CU_ASSERT_EQUAL_FATAL(open_wal(4096, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.last_index, last);
    CU_ASSERT_EQUAL(rec.n_entries, last);
    wal_recovered_fini(&rec);
    wal_free(w);
    /* a crash after the SEAL was written, before the zeros after it were cut */
    memcpy(z, orig, len);
    tu_file_write(segs[nseg - 2], z, len + 4096);
    CU_ASSERT_EQUAL_FATAL(open_wal(4096, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.last_index, last);
    wal_recovered_fini(&rec);
    wal_free(w);
    /* but anything written after a SEAL is corruption, as is a SEAL inside a batch */
    z[len + 100] = 1;
    tu_file_write(segs[nseg - 2], z, len + 4096);
    CU_ASSERT_EQUAL(open_wal(4096, &w, &rec), LT_ECORRUPT);
    tu_file_write(segs[nseg - 2], orig, len);
    free(z);
    free(orig);
    CU_ASSERT_EQUAL_FATAL(open_wal(4096, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.last_index, last);
    wal_recovered_fini(&rec);
    wal_free(w);
    tdir_end();
}

/* wal_compact_detach takes the segments out at once and leaves the files to wal_gc_run: a
 * WAL reopened before they are deleted (a crash in between) replays them and the snapshot
 * marker drops their entries; deleting them afterwards changes nothing either. */
static void test_compaction_detached(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    uint64_t idx = open_with_batches(60, &w);
    uint64_t last = idx - 1;
    struct raft_snapshot_meta meta = one_voter(300);
    CU_ASSERT_EQUAL(wal_save_snapshot(w, &meta), 0);
    CU_ASSERT_EQUAL(wal_sync(w), 0);
    char segs[200][700];
    size_t before = seg_files(segs, 200);
    struct wal_gc *gc = NULL;
    CU_ASSERT_EQUAL(wal_compact_detach(w, 299, &gc), 0); /* covered by the marker */
    CU_ASSERT_PTR_NOT_NULL_FATAL(gc);
    struct wal_stats st;
    wal_stats(w, &st);
    CU_ASSERT(st.segments < before);
    CU_ASSERT_EQUAL(seg_files(segs, 200), before); /* detached, not deleted yet */
    wal_free(w);
    /* reopened with the old files still there: the same log */
    CU_ASSERT_EQUAL_FATAL(open_wal(2048, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.snapshot.index, 300);
    CU_ASSERT_EQUAL(rec.first_index, 301);
    CU_ASSERT_EQUAL(rec.last_index, last);
    CU_ASSERT_EQUAL(rec.n_entries, last - 300);
    wal_recovered_fini(&rec);
    wal_free(w);
    /* now deleted (as the node's thread does): still the same log */
    CU_ASSERT_EQUAL(wal_gc_run(gc), 0);
    wal_gc_free(gc);
    CU_ASSERT(seg_files(segs, 200) < before);
    CU_ASSERT_EQUAL_FATAL(open_wal(2048, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.first_index, 301);
    CU_ASSERT_EQUAL(rec.last_index, last);
    wal_recovered_fini(&rec);
    /* nothing to detach: no files handed out */
    gc = (struct wal_gc *)&rec;
    CU_ASSERT_EQUAL(wal_compact_detach(w, 1, &gc), 0);
    CU_ASSERT_PTR_NULL(gc);
    wal_free(w);
    tdir_end();
}

static void test_compaction(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(2048, &w, &rec), 0);
    wal_recovered_fini(&rec);
    uint64_t idx = 1;
    for (int b = 0; b < 100; b++) {
        CU_ASSERT_EQUAL_FATAL(append_batch(w, idx, 8, 1 + (uint64_t)b / 40), 0);
        idx += 8;
    }
    uint64_t last = idx - 1, commit = last;
    struct raft_hard_state hs = {.term = 3, .vote = 2, .commit = commit};
    CU_ASSERT_EQUAL(wal_save_hard_state(w, &hs), 0);
    CU_ASSERT_EQUAL(wal_sync(w), 0);
    struct wal_stats before;
    wal_stats(w, &before);
    CU_ASSERT_EQUAL(wal_compact(w, 500), LT_EINVAL); /* no snapshot covers 500 yet */
    struct raft_snapshot_meta meta = {.index = 500, .term = wal_term_at(w, 500)};
    meta.conf.n_voters = 3;
    meta.conf.voters[0] = 1;
    meta.conf.voters[1] = 2;
    meta.conf.voters[2] = 3;
    CU_ASSERT_EQUAL(wal_save_snapshot(w, &meta), 0);
    CU_ASSERT_EQUAL(wal_compact(w, 500), LT_EINVAL); /* marker not synced yet */
    CU_ASSERT_EQUAL(wal_sync(w), 0);
    CU_ASSERT_EQUAL(wal_last_index(w), last);
    CU_ASSERT_EQUAL(wal_term_at(w, 500), meta.term);
    CU_ASSERT_EQUAL(wal_term_at(w, 499), 0);
    CU_ASSERT_EQUAL(wal_compact(w, 500), 0);
    struct wal_stats after;
    wal_stats(w, &after);
    CU_ASSERT(after.segments < before.segments);
    CU_ASSERT(after.segments > 1);
    CU_ASSERT_EQUAL(after.first_index, 501);
    CU_ASSERT_EQUAL(after.entries, last - 500);
    wal_free(w);
    /* the oldest remaining segment still holds entries > 500 only past its start: whole
     * segments were deleted, never part of one */
    char segs[200][700];
    size_t nseg = seg_files(segs, 200);
    CU_ASSERT_EQUAL(nseg, after.segments);
    unsigned long long seq, first;
    const char *base = strrchr(segs[0], '/') + 1;
    CU_ASSERT_EQUAL(sscanf(base, "%16llx-%16llx", &seq, &first), 2);
    CU_ASSERT(first <= 501);
    CU_ASSERT(seq > 0);

    for (int round = 0; round < 2; round++) {
        CU_ASSERT_EQUAL_FATAL(open_wal(2048, &w, &rec), 0);
        CU_ASSERT_EQUAL(rec.snapshot.index, 500);
        CU_ASSERT_EQUAL(rec.snapshot.term, meta.term);
        CU_ASSERT_EQUAL(rec.snapshot.conf.n_voters, 3);
        CU_ASSERT_EQUAL(rec.snapshot.conf.voters[2], 3);
        CU_ASSERT_EQUAL(rec.first_index, 501);
        CU_ASSERT_EQUAL(rec.last_index, last);
        CU_ASSERT_EQUAL_FATAL(rec.n_entries, last - 500);
        for (size_t i = 0; i < rec.n_entries; i++)
            check_entry(&rec.entries[i], 501 + i, 1 + (500 + i) / 8 / 40);
        CU_ASSERT_EQUAL(rec.hs.term, 3);
        CU_ASSERT_EQUAL(rec.hs.commit, commit);
        wal_recovered_fini(&rec);
        if (round == 0)
            CU_ASSERT_EQUAL(append_batch(w, last + 1, 4, 3), 0);
        wal_free(w);
        last += round == 0 ? 4 : 0;
    }
    /* opening with the caller's snapshot: a newer one drops more, an older one than the
     * WAL's marker means a snapshot was lost */
    struct wal_options opt;
    wal_options_default(&opt);
    opt.segment_size = 2048;
    struct raft_snapshot_meta newer = meta;
    newer.index = 700;
    newer.term = 1 + 699 / 8 / 40;
    opt.snapshot = &newer;
    CU_ASSERT_EQUAL_FATAL(wal_open(waldir(), &opt, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.first_index, 701);
    CU_ASSERT_EQUAL(rec.n_entries, last - 700);
    check_entry(&rec.entries[0], 701, 1 + 700 / 8 / 40);
    wal_recovered_fini(&rec);
    wal_free(w);
    struct raft_snapshot_meta older = meta;
    older.index = 400;
    opt.snapshot = &older;
    CU_ASSERT_EQUAL(wal_open(waldir(), &opt, &w, &rec), LT_ECORRUPT);
    tdir_end();
}

/* A compaction whose segment deletion fails half way leaves old segments on disk that the
 * WAL no longer tracks. The next compaction must delete them first: deleting only newer
 * ones would leave a hole between segment numbers, which recovery refuses ("a segment is
 * missing") - a node that lost nothing would not start. */
static void test_compaction_after_failed_delete(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    uint64_t idx = open_with_batches(40, &w);
    struct raft_snapshot_meta meta = one_voter(200);
    CU_ASSERT_EQUAL(wal_save_snapshot(w, &meta), 0);
    CU_ASSERT_EQUAL(wal_sync(w), 0);
    char segs[200][700];
    size_t n0 = seg_files(segs, 200);
    sio_fault_arm(1, LT_EIO); /* the first delete fails: every segment it detached stays */
    CU_ASSERT_NOT_EQUAL(wal_compact(w, 200), 0);
    sio_fault_arm(0, 0);
    CU_ASSERT_EQUAL(seg_files(segs, 200), n0); /* nothing deleted */
    for (int b = 0; b < 40; b++, idx += 8)
        CU_ASSERT_EQUAL_FATAL(append_batch(w, idx, 8, 1), 0);
    meta.index = 500;
    CU_ASSERT_EQUAL(wal_save_snapshot(w, &meta), 0);
    CU_ASSERT_EQUAL(wal_sync(w), 0);
    CU_ASSERT_EQUAL(wal_compact(w, 500), 0);
    wal_free(w);
    /* the segments left are consecutive, and the WAL opens with everything after 500 */
    size_t nseg = seg_files(segs, 200);
    CU_ASSERT(nseg >= 1 && nseg < n0);
    unsigned long long prev = 0, seq, first;
    for (size_t i = 0; i < nseg; i++) {
        CU_ASSERT_EQUAL(sscanf(strrchr(segs[i], '/') + 1, "%16llx-%16llx", &seq, &first), 2);
        CU_ASSERT(i == 0 || seq == prev + 1);
        prev = seq;
    }
    CU_ASSERT_EQUAL_FATAL(open_wal(2048, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.snapshot.index, 500);
    CU_ASSERT_EQUAL(rec.first_index, 501);
    CU_ASSERT_EQUAL(rec.last_index, idx - 1);
    wal_recovered_fini(&rec);
    wal_free(w);
    tdir_end();
}

static void test_snapshot_marker(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    wal_recovered_fini(&rec);
    CU_ASSERT_EQUAL(append_batch(w, 1, 30, 2), 0);
    /* an installed snapshot whose term does not match: the whole log goes */
    struct raft_snapshot_meta m = {.index = 20, .term = 5};
    CU_ASSERT_EQUAL(wal_save_snapshot(w, &m), 0);
    CU_ASSERT_EQUAL(wal_last_index(w), 20);
    CU_ASSERT_EQUAL(wal_term_at(w, 20), 5);
    struct raft_entry e[4];
    make_entries(e, 22, 1, 5);
    CU_ASSERT_EQUAL(wal_append(w, e, 1), LT_EINVAL); /* must follow the snapshot */
    make_entries(e, 20, 1, 5);
    CU_ASSERT_EQUAL(wal_append(w, e, 1), LT_EINVAL); /* covered by the snapshot */
    make_entries(e, 21, 3, 5);
    CU_ASSERT_EQUAL(wal_append(w, e, 3), 0);
    CU_ASSERT_EQUAL(wal_sync(w), 0);
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.snapshot.index, 20);
    check_log(&rec, 21, 23, 0, 5, 5);
    wal_recovered_fini(&rec);
    /* a matching snapshot keeps the entries after it; an older marker is ignored */
    m.index = 22;
    CU_ASSERT_EQUAL(wal_save_snapshot(w, &m), 0);
    m.index = 21;
    CU_ASSERT_EQUAL(wal_save_snapshot(w, &m), 0);
    CU_ASSERT_EQUAL(wal_last_index(w), 23);
    CU_ASSERT_EQUAL(wal_sync(w), 0);
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.snapshot.index, 22);
    check_log(&rec, 23, 23, 0, 5, 5);
    wal_recovered_fini(&rec);
    /* a snapshot beyond the log */
    m.index = 100;
    m.term = 6;
    CU_ASSERT_EQUAL(wal_save_snapshot(w, &m), 0);
    CU_ASSERT_EQUAL(wal_sync(w), 0);
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.snapshot.index, 100);
    CU_ASSERT_EQUAL(rec.n_entries, 0);
    CU_ASSERT_EQUAL(rec.last_index, 100);
    wal_recovered_fini(&rec);
    CU_ASSERT_EQUAL(append_batch(w, 101, 2, 6), 0);
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    check_log(&rec, 101, 102, 0, 6, 6);
    wal_recovered_fini(&rec);
    wal_free(w);
    tdir_end();
}

/* write_forty leaves a closed log of entries 1..40 in term 2 in the test dir. */
static void write_forty(void)
{
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    wal_recovered_fini(&rec);
    struct raft_hard_state hs = {.term = 2, .vote = 1}; /* a node's log always has one */
    CU_ASSERT_EQUAL(wal_save_hard_state(w, &hs), 0);
    CU_ASSERT_EQUAL(append_batch(w, 1, 40, 2), 0);
    wal_free(w);
}

/* A snapshot beside a log whose records are gone — the WAL deleted, its segments
 * deleted, its only segment cut to its header — is refused: starting from the snapshot
 * alone would serve a shorter log than the node acknowledged (QA: a node did, and formed
 * a majority without 50 acknowledged writes). Without a snapshot an empty log is a new
 * node's. */
static void test_snapshot_without_log(void)
{
    struct wal *w;
    struct wal_recovered rec;
    struct wal_options opt;
    wal_options_default(&opt);
    struct raft_snapshot_meta s = {.index = 30, .term = 2};
    opt.snapshot = &s;
    for (int how = 0; how < 3; how++) {
        tdir_begin();
        write_forty();
        char segs[8][700];
        size_t n = seg_files(segs, 8);
        CU_ASSERT_EQUAL_FATAL(n, 1);
        if (how == 0) { /* the WAL directory deleted */
            tu_rmrf(waldir());
        } else if (how == 1) { /* every segment deleted */
            CU_ASSERT_EQUAL(unlink(segs[0]), 0);
        } else { /* the only segment cut to its 40-byte header */
            CU_ASSERT_EQUAL(truncate(segs[0], 40), 0);
        }
        CU_ASSERT_EQUAL(wal_open(waldir(), &opt, &w, &rec), LT_ECORRUPT);
        CU_ASSERT_EQUAL(wal_open(waldir(), &opt, &w, &rec), LT_ECORRUPT); /* and stays so */
        CU_ASSERT_EQUAL_FATAL(wal_open(waldir(), NULL, &w, &rec), 0);     /* no snapshot: new */
        CU_ASSERT_EQUAL(rec.n_entries, 0);
        wal_recovered_fini(&rec);
        wal_free(w);
        tdir_end();
    }
}

/* The caller's snapshot at open: newer ones are applied (Raft §7) and recorded in the
 * log; a zeroed one while the log knows a snapshot means a snapshot file was lost. */
static void test_open_with_snapshot(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    write_forty();
    struct wal_options opt;
    wal_options_default(&opt);
    struct raft_snapshot_meta s = {.index = 30, .term = 2}; /* matches: 31..40 stay */
    opt.snapshot = &s;
    CU_ASSERT_EQUAL_FATAL(wal_open(waldir(), &opt, &w, &rec), 0);
    check_log(&rec, 31, 40, 0, 2, 2);
    wal_recovered_fini(&rec);
    wal_free(w);
    s.index = 35;
    s.term = 9; /* an installed snapshot that does not match: nothing stays */
    CU_ASSERT_EQUAL_FATAL(wal_open(waldir(), &opt, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.n_entries, 0);
    CU_ASSERT_EQUAL(rec.last_index, 35);
    wal_recovered_fini(&rec);
    CU_ASSERT_EQUAL(append_batch(w, 36, 2, 9), 0);
    wal_free(w);
    /* recorded: the log stands alone without the caller's snapshot */
    CU_ASSERT_EQUAL_FATAL(open_wal(0, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.snapshot.index, 35);
    CU_ASSERT_EQUAL(rec.snapshot.term, 9);
    check_log(&rec, 36, 37, 0, 9, 9);
    wal_recovered_fini(&rec);
    wal_free(w);
    struct raft_snapshot_meta none = {0};
    opt.snapshot = &none;
    CU_ASSERT_EQUAL(wal_open(waldir(), &opt, &w, &rec), LT_ECORRUPT);
    tdir_end();
}

/* test_two_step_open: wal_read holds the lock and reads without the snapshot; the caller
 * names the snapshot afterwards (a node restores its snapshot meanwhile), and a read that
 * is never opened (the snapshot could not be restored) releases the lock when freed. */
static void test_two_step_open(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    write_forty();

    struct wal_options opt;
    wal_options_default(&opt);
    struct raft_snapshot_meta bad = {.index = 35, .term = 9};
    opt.snapshot = &bad; /* ignored by wal_read: nothing may be dropped before the restore */
    struct wal_read *rd = NULL;
    CU_ASSERT_EQUAL_FATAL(wal_read(waldir(), &opt, &rd), 0);
    CU_ASSERT(busy_elsewhere(try_read_wal)); /* the lock is held from the read on */
    wal_read_free(rd);                       /* never opened: the log is untouched and unlocked */
    wal_read_free(NULL);

    CU_ASSERT_EQUAL_FATAL(wal_read(waldir(), NULL, &rd), 0);
    struct raft_snapshot_meta s = {.index = 30, .term = 2}; /* matches: 31..40 stay */
    CU_ASSERT_EQUAL_FATAL(wal_open_read(rd, &s, &w, &rec), 0);
    check_log(&rec, 31, 40, 0, 2, 2);
    wal_recovered_fini(&rec);
    wal_free(w);

    /* the checks of wal_open apply: a snapshot older than the log's marker is refused,
     * and the read is consumed all the same (the lock is free afterwards) */
    CU_ASSERT_EQUAL_FATAL(wal_read(waldir(), NULL, &rd), 0);
    struct raft_snapshot_meta old = {.index = 10, .term = 2};
    CU_ASSERT_EQUAL(wal_open_read(rd, &old, &w, &rec), LT_ECORRUPT);
    CU_ASSERT_EQUAL_FATAL(wal_read(waldir(), NULL, &rd), 0);
    CU_ASSERT_EQUAL_FATAL(wal_open_read(rd, NULL, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.snapshot.index, 30);
    check_log(&rec, 31, 40, 0, 2, 2);
    wal_recovered_fini(&rec);
    wal_free(w);
    tdir_end();
}

/* Remove batch 3's bytes from the file: batch 4 then follows batch 2, an index gap. */
static void test_index_gap(void)
{
    tdir_begin();
    size_t off[7];
    build_five(off);
    char segs[4][700];
    CU_ASSERT_EQUAL_FATAL(seg_files(segs, 4), 1);
    size_t len;
    unsigned char *p = tu_file_read(segs[0], &len);
    memmove(p + off[2], p + off[3], len - off[3]);
    tu_file_write(segs[0], p, len - (off[3] - off[2]));
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL(open_wal(0, &w, &rec), LT_ECORRUPT);
    free(p);
    tdir_end();
}

/* One flipped bit anywhere in any segment: recovery either refuses (LT_ECORRUPT) or, if
 * the bit is in the last batch, returns exactly the state before that batch. Never
 * anything else. */
static void test_random_bit_flips(void)
{
    tdir_begin();
    uint64_t seed = tu_seed("wal bit flips");
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(700, &w, &rec), 0);
    wal_recovered_fini(&rec);
    uint64_t idx = 1;
    for (int b = 0; b < 24; b++) {
        struct raft_hard_state hs = {.term = 1, .vote = 2, .commit = idx - 1};
        CU_ASSERT_EQUAL_FATAL(wal_save_hard_state(w, &hs), 0);
        CU_ASSERT_EQUAL_FATAL(append_batch(w, idx, 3, 1), 0);
        idx += 3;
    }
    char segs[64][700];
    size_t nseg = seg_files(segs, 64);
    long long before_last = tu_file_size(segs[nseg - 1]);
    struct raft_hard_state hs = {.term = 1, .vote = 2, .commit = idx - 1};
    CU_ASSERT_EQUAL_FATAL(wal_save_hard_state(w, &hs), 0);
    CU_ASSERT_EQUAL_FATAL(append_batch(w, idx, 3, 1), 0); /* the last batch */
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(seg_files(segs, 64), nseg); /* no rollover in the last batch */
    CU_ASSERT_FATAL(nseg >= 4);
    unsigned char *orig[64];
    size_t len[64], total = 0;
    for (size_t i = 0; i < nseg; i++) {
        orig[i] = tu_file_read(segs[i], &len[i]);
        total += len[i];
    }
    unsigned corrupt = 0, torn = 0;
    for (int t = 0; t < 400; t++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t at = (size_t)((seed >> 20) % total), s = 0;
        while (at >= len[s]) {
            at -= len[s];
            s++;
        }
        file_flip(segs[s], at, (unsigned char)(1u << ((seed >> 8) % 8)));
        int rc = open_wal(700, &w, &rec);
        bool in_last = s == nseg - 1 && (long long)at >= before_last;
        if (in_last) {
            CU_ASSERT_EQUAL_FATAL(rc, 0);
            check_log(&rec, 1, idx - 1, UINT64_MAX, 1, 1);
            CU_ASSERT_EQUAL(rec.hs.commit, idx - 4);
            wal_recovered_fini(&rec);
            wal_free(w);
            torn++;
        } else {
            CU_ASSERT_EQUAL(rc, LT_ECORRUPT);
            if (rc != LT_ECORRUPT) {
                fprintf(stderr, "flip at %zu of segment %zu/%zu (%zu bytes) not refused\n", at, s,
                        nseg, len[s]);
                if (rc == 0) {
                    wal_recovered_fini(&rec);
                    wal_free(w);
                }
            }
            corrupt++;
        }
        for (size_t i = 0; i < nseg; i++) /* the pristine files, for the next flip */
            tu_file_write(segs[i], orig[i], len[i]);
    }
    CU_ASSERT(corrupt > 0);
    for (size_t i = 0; i < nseg; i++)
        free(orig[i]);
    fprintf(stderr, "bit flips: %u refused as corrupt, %u cut as a torn last batch\n", corrupt,
            torn);
    tdir_end();
}

/* wal_dump prints the records and says what recovery would do, without changing files. */
static void test_dump(void)
{
    tdir_begin();
    size_t off[7];
    build_five(off);
    char segs[4][700];
    CU_ASSERT_EQUAL_FATAL(seg_files(segs, 4), 1);
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    CU_ASSERT_EQUAL(wal_dump(waldir(), f), 0);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "ENTRY    index 6 term 2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "STATE    term 2 vote 3 commit 5"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "COMMIT"));
    free(text);
    /* a torn last batch */
    file_flip(segs[0], off[5] + 20, 0x04);
    f = open_memstream(&text, &tlen);
    CU_ASSERT_EQUAL(wal_dump(waldir(), f), 0);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "torn tail"));
    free(text);
    file_flip(segs[0], off[5] + 20, 0x04);
    /* a damaged middle batch */
    file_flip(segs[0], off[2] + 20, 0x04);
    f = open_memstream(&text, &tlen);
    CU_ASSERT_EQUAL(wal_dump(waldir(), f), LT_ECORRUPT);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "CORRUPT"));
    free(text);
    CU_ASSERT_EQUAL(tu_file_size(segs[0]), (long long)off[6]); /* read-only */
    file_flip(segs[0], off[2] + 20, 0x04);
    /* a whole header of another format version: named as such, not as damage */
    unsigned char hdr[40];
    FILE *sf = fopen(segs[0], "r+b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sf);
    CU_ASSERT_EQUAL_FATAL(fread(hdr, 1, sizeof(hdr), sf), sizeof(hdr));
    CU_ASSERT_EQUAL(hdr[8], 1);
    hdr[8] = 2;
    uint32_t crc = crc32c(hdr, 32);
    for (int i = 0; i < 4; i++)
        hdr[32 + i] = (unsigned char)(crc >> (8 * i));
    CU_ASSERT_EQUAL_FATAL(fseek(sf, 0, SEEK_SET), 0);
    CU_ASSERT_EQUAL_FATAL(fwrite(hdr, 1, sizeof(hdr), sf), sizeof(hdr));
    CU_ASSERT_EQUAL_FATAL(fclose(sf), 0);
    f = open_memstream(&text, &tlen);
    CU_ASSERT_EQUAL(wal_dump(waldir(), f), LT_ECORRUPT);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "format version 2, this build reads version 1"));
    CU_ASSERT_PTR_NULL(strstr(text, "bad segment header"));
    free(text);
    tdir_end();
}

/* A batch whose fdatasync failed must not come back at the next open, even though its
 * bytes reached the page cache (a real disk error leaves them there, marked clean): nobody
 * was told it is durable, and a restart in the same boot would otherwise replay it. With
 * and without preallocated zeros ahead. */
static void test_failed_fdatasync_voids_batch(void)
{
    tdir_begin();
    int seen = 0;
    for (int prealloc = 0; prealloc < 2; prealloc++) {
        for (int k = 1; k <= 6; k++) {
            tu_rmrf(waldir());
            struct wal *w;
            struct wal_recovered rec;
            CU_ASSERT_EQUAL_FATAL(open_wal_prealloc(1 << 20, prealloc ? 65536 : 0, &w, &rec), 0);
            wal_recovered_fini(&rec);
            CU_ASSERT_EQUAL_FATAL(append_batch(w, 1, 12, 1), 0);
            unsigned fired = sio_fault_fired();
            sio_fault_arm(k, LT_EIO);
            int rc = append_batch(w, 13, 20, 2);
            bool hit = sio_fault_fired() != fired;
            sio_fault_arm(0, 0);
            bool sync_failed = hit && strcmp(sio_fault_last_op(), "fdatasync") == 0;
            CU_ASSERT_EQUAL(rc, hit ? LT_EIO : 0);
            wal_free(w);
            CU_ASSERT_EQUAL_FATAL(open_wal_prealloc(1 << 20, prealloc ? 65536 : 0, &w, &rec), 0);
            if (sync_failed) {
                seen++;
                check_log(&rec, 1, 12, UINT64_MAX, 1, 1); /* the batch is gone */
            } else if (!hit) {
                check_log(&rec, 1, 32, 13, 1, 2);
            }
            wal_recovered_fini(&rec);
            /* and the WAL goes on from there */
            CU_ASSERT_EQUAL(append_batch(w, rec.last_index + 1, 1, 3), 0);
            wal_free(w);
        }
    }
    CU_ASSERT_EQUAL(seen, 2); /* one fdatasync per batch, with and without zeros ahead */
    tdir_end();
}

/* Make the k-th I/O operation of one batch fail, for every k: the call fails, the WAL
 * stays failed, and on reopen the batch is either wholly absent or wholly present. */
static void test_fault_injection(void)
{
    tdir_begin();
    int failures = 0;
    for (int k = 1; k <= 12; k++) {
        tu_rmrf(waldir());
        struct wal *w;
        struct wal_recovered rec;
        CU_ASSERT_EQUAL_FATAL(open_wal(1024, &w, &rec), 0);
        wal_recovered_fini(&rec);
        CU_ASSERT_EQUAL_FATAL(append_batch(w, 1, 12, 1), 0);
        unsigned fired = sio_fault_fired();
        sio_fault_arm(k, LT_EIO);
        struct raft_hard_state hs = {.term = 2, .vote = 1, .commit = 12};
        struct raft_entry e[20];
        make_entries(e, 13, 20, 2);
        int rc = wal_append(w, e, 20);
        if (!rc)
            rc = wal_save_hard_state(w, &hs);
        if (!rc)
            rc = wal_sync(w);
        bool hit = sio_fault_fired() != fired;
        sio_fault_arm(0, 0);
        CU_ASSERT_EQUAL(rc, hit ? LT_EIO : 0);
        if (rc) {
            failures++;
            CU_ASSERT_EQUAL(wal_sync(w), LT_EIO); /* sticky */
            CU_ASSERT_EQUAL(append_batch(w, 33, 1, 2), LT_EIO);
        }
        wal_free(w);
        CU_ASSERT_EQUAL_FATAL(open_wal(1024, &w, &rec), 0);
        CU_ASSERT(rec.last_index == 12 || rec.last_index == 32);
        if (rec.last_index == 12) {
            check_log(&rec, 1, 12, UINT64_MAX, 1, 1);
            CU_ASSERT_EQUAL(rec.hs.term, 0);
        } else {
            check_log(&rec, 1, 32, 13, 1, 2);
            CU_ASSERT_EQUAL(rec.hs.term, 2);
        }
        if (rc && k == 1)
            CU_ASSERT_EQUAL(rec.last_index, 12); /* the write itself failed */
        wal_recovered_fini(&rec);
        CU_ASSERT_EQUAL(append_batch(w, rec.last_index + 1, 1, 3), 0);
        wal_free(w);
    }
    CU_ASSERT(failures >= 3); /* write, fdatasync and the rollover's steps */
    tdir_end();
}

static void *io_thread(void *arg)
{
    wal_io_run(arg);
    return NULL;
}

/* Asynchronous sync: batches written by another thread while the owner keeps appending,
 * across segment rollovers; a batch handed out but never run is lost whole on a crash,
 * and everything synced before it survives. */
static void test_async_sync(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal(4096, &w, &rec), 0);
    wal_recovered_fini(&rec);
    uint64_t idx = 1, durable = 0, in_flight_last = 0;
    struct wal_io io;
    bool flying = false;
    pthread_t th;
    for (int round = 0; round < 400; round++) {
        size_t n = 1 + (size_t)round % 7;
        struct raft_entry e[64];
        make_entries(e, idx, n, 1);
        CU_ASSERT_EQUAL_FATAL(wal_append(w, e, n), 0);
        idx += n;
        if (!flying) {
            CU_ASSERT_EQUAL_FATAL(wal_sync_begin(w, &io), 0);
            CU_ASSERT_FATAL(io.len > 0);
            in_flight_last = idx - 1;
            CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, io_thread, &io), 0);
            flying = true;
            struct wal_io other;
            CU_ASSERT_EQUAL(wal_sync_begin(w, &other), LT_EBUSY);
            CU_ASSERT_EQUAL(wal_sync(w), LT_EBUSY);
        } else if (round % 3 == 0) {
            CU_ASSERT_EQUAL_FATAL(pthread_join(th, NULL), 0);
            CU_ASSERT_EQUAL_FATAL(wal_sync_end(w, &io), 0);
            durable = in_flight_last;
            flying = false;
        }
    }
    if (flying) {
        CU_ASSERT_EQUAL_FATAL(pthread_join(th, NULL), 0);
        CU_ASSERT_EQUAL_FATAL(wal_sync_end(w, &io), 0);
        durable = in_flight_last;
    }
    struct wal_stats st;
    wal_stats(w, &st);
    CU_ASSERT(st.segments > 5);
    CU_ASSERT(durable > 0 && durable < idx - 1); /* the last appends were never synced */
    /* one more batch handed out and never written: the crash */
    CU_ASSERT_EQUAL_FATAL(wal_sync_begin(w, &io), 0);
    CU_ASSERT_FATAL(io.len > 0);
    free(io.buf);
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(open_wal(4096, &w, &rec), 0);
    CU_ASSERT(rec.last_index >= durable);
    CU_ASSERT_EQUAL(rec.last_index, durable); /* nothing beyond the last ended batch */
    CU_ASSERT_EQUAL_FATAL(rec.n_entries, durable);
    for (uint64_t i = 1; i <= durable; i++)
        check_entry(&rec.entries[i - 1], i, 1);
    wal_recovered_fini(&rec);
    /* and the synchronous path still works after it */
    CU_ASSERT_EQUAL(append_batch(w, durable + 1, 3, 2), 0);
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(open_wal(4096, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.last_index, durable + 3);
    wal_recovered_fini(&rec);
    wal_free(w);
    tdir_end();
}

/* Preallocation: the current segment is extended with zeros ahead of its records, which
 * recovery cuts without calling it torn; sealed segments end at their last record; a
 * damaged record in front of the zeros is still a torn tail (counted without the zeros),
 * and a batch after damage is still corruption. */
static void test_preallocation(void)
{
    tdir_begin();
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(open_wal_prealloc(16 << 10, 4 << 10, &w, &rec), 0);
    wal_recovered_fini(&rec);
    uint64_t idx = 1;
    for (int b = 0; b < 200; b++) { /* several 16 KiB segments of small batches */
        CU_ASSERT_EQUAL_FATAL(append_batch(w, idx, 1 + (size_t)b % 5, 1), 0);
        idx += 1 + (uint64_t)b % 5;
    }
    uint64_t last = idx - 1;
    struct wal_stats st;
    wal_stats(w, &st);
    CU_ASSERT(st.segments >= 3);
    wal_free(w);
    char segs[64][700];
    size_t n = seg_files(segs, 64);
    CU_ASSERT_EQUAL_FATAL(n, st.segments);
    /* the current segment carries zeros ahead; the sealed ones end with their SEAL (naming
     * the next segment, inverted: its last byte is not zero), no zeros after it */
    size_t len;
    unsigned char *cur = tu_file_read(segs[n - 1], &len);
    CU_ASSERT_FATAL(len > 0);
    CU_ASSERT_EQUAL(cur[len - 1], 0);
    size_t data_end = len;
    while (data_end > 0 && cur[data_end - 1] == 0)
        data_end--;
    CU_ASSERT(len - data_end >= (1u << 10)); /* zeros ahead (up to the segment size) */
    for (size_t i = 0; i + 1 < n; i++) {
        size_t sl;
        unsigned char *sealed = tu_file_read(segs[i], &sl);
        CU_ASSERT(sl > 24 && sealed[sl - 24 + 8] == 5 && sealed[sl - 1] == 0xff);
        CU_ASSERT(tu_file_size(segs[i]) <= (16 << 10) + 4096);
        free(sealed);
    }
    /* recovery: everything back, the zeros cut quietly */
    CU_ASSERT_EQUAL_FATAL(open_wal_prealloc(16 << 10, 4 << 10, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.last_index, last);
    CU_ASSERT_EQUAL(rec.truncated_bytes, 0);
    for (uint64_t i = 1; i <= last; i++)
        check_entry(&rec.entries[i - 1], i, 1);
    wal_recovered_fini(&rec);
    /* more batches after the reopen extend ahead again */
    CU_ASSERT_EQUAL_FATAL(append_batch(w, last + 1, 3, 2), 0);
    last += 3;
    wal_free(w);
    free(cur);
    n = seg_files(segs, 64);
    cur = tu_file_read(segs[n - 1], &len);
    data_end = len;
    while (data_end > 0 && cur[data_end - 1] == 0)
        data_end--;
    CU_ASSERT(len > data_end);
    /* garbage among the zeros (past the last record's zero padding): a torn tail, counted
     * up to its last byte; the batches before it stay */
    CU_ASSERT_FATAL(data_end + 32 + 37 <= len);
    for (size_t i = data_end + 32; i < data_end + 32 + 37; i++)
        cur[i] = 0x5a;
    tu_file_write(segs[n - 1], cur, len);
    CU_ASSERT_EQUAL_FATAL(open_wal_prealloc(16 << 10, 4 << 10, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.last_index, last);
    CU_ASSERT(rec.truncated_bytes >= 37 && rec.truncated_bytes <= 37 + 32); /* not the zeros */
    wal_recovered_fini(&rec);
    wal_free(w);
    free(cur);
    tdir_end();
}

/* sio_err: what the node reports when its files fail (a permission problem is named as
 * one, a full disk as one; the rest is an I/O error). As root the permission case cannot
 * be made real here, so the mapping itself is checked. */
static void test_sio_err_names_causes(void)
{
    CU_ASSERT_EQUAL(sio_err(EACCES), LT_EPERM);
    CU_ASSERT_EQUAL(sio_err(EPERM), LT_EPERM);
    CU_ASSERT_EQUAL(sio_err(EROFS), LT_EPERM);
    CU_ASSERT_EQUAL(sio_err(ENOSPC), LT_ENOSPACE);
    CU_ASSERT_EQUAL(sio_err(EDQUOT), LT_ENOSPACE);
    CU_ASSERT_EQUAL(sio_err(ENOMEM), LT_ENOMEM);
    CU_ASSERT_EQUAL(sio_err(EIO), LT_EIO);
    CU_ASSERT_STRING_EQUAL(lt_strerror(sio_err(EACCES)), "permission denied");
}

static const struct lt_test crc_tests[] = {
    {"RFC 3720 vectors", test_crc32c_vectors},
    {"SSE4.2 and slicing-by-8 agree", test_crc32c_impls_agree},
    {NULL, NULL},
};

static const struct lt_test wal_tests[] = {
    {"empty WAL opens twice", test_empty_open},
    {"file errors are named by their cause", test_sio_err_names_causes},
    {"round trip: entries and hard state survive reopen", test_roundtrip},
    {"suffix replacement persists", test_suffix_replacement},
    {"bad appends are refused whole", test_append_validation},
    {"torn tail at every byte offset of the last batch", test_torn_tail_every_offset},
    {"flipped bits: last batch truncated, middle batch corrupt", test_flipped_bits},
    {"zero-filled tail", test_zero_tail},
    {"uncommitted early-written batch is dropped", test_uncommitted_tail},
    {"segment rollover, missing and damaged segments", test_rollover},
    {"compaction deletes whole segments; recovery starts after the snapshot", test_compaction},
    {"compaction detached from the deletion of its files", test_compaction_detached},
    {"a compaction after one whose deletes failed leaves no hole",
     test_compaction_after_failed_delete},
    {"snapshot markers (Raft section 7)", test_snapshot_marker},
    {"opening with the caller's snapshot", test_open_with_snapshot},
    {"a snapshot beside a log without its records", test_snapshot_without_log},
    {"two-step open: read, then the snapshot", test_two_step_open},
    {"index gap is corruption", test_index_gap},
    {"one flipped bit anywhere: refused, or the last batch cut", test_random_bit_flips},
    {"fault injection: errors returned, batches atomic", test_fault_injection},
    {"a batch whose fdatasync failed does not come back", test_failed_fdatasync_voids_batch},
    {"wal_dump shows records and verdicts", test_dump},
    {"asynchronous sync on another thread, across rollovers", test_async_sync},
    {"preallocation: zeros ahead, cut quietly; sealed segments exact", test_preallocation},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"crc32c", NULL, NULL, crc_tests},
    {"wal", NULL, NULL, wal_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
