/* test_snap.c — snapshot files on real files: streaming round trip, every kind of damage
 * detected (flipped bits, truncation, bad magic, trailing bytes), interrupted writes
 * ignored and cleaned, keep-N retention, chunked shipping and receiving, injected I/O
 * faults, mapping, a writeback error reported to the writer's pacing. Each test works in a
 * fresh temporary directory that it removes. Linked with -Wl,--wrap=sync_file_range and
 * --wrap=fsync (which directories were synced). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit_main.h"
#include "lt_err.h"
#include "sio.h"
#include "snap.h"
#include "testutil.h"

static char tdir[512];

static void tdir_begin(void)
{
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(tdir, sizeof(tdir), "lt-snap"), 0);
}

static void tdir_end(void)
{
    sio_fault_arm(0, 0);
    tu_rmrf(tdir);
}

static char *sdir(const char *sub)
{
    static char p[2][600];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof(p[k]), "%s/%s", tdir, sub);
    return p[k];
}

/* data_byte is the deterministic content of a snapshot with `seed` at offset `off`. */
static unsigned char data_byte(uint64_t seed, uint64_t off)
{
    uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    x ^= x >> 29;
    return (unsigned char)(x * 0xBF58476D1CE4E5B9ull >> 56);
}

static struct raft_snapshot_meta mkmeta(uint64_t index, uint64_t term)
{
    struct raft_snapshot_meta m = {.index = index, .term = term};
    m.conf.n_voters = 3;
    for (size_t i = 0; i < 3; i++)
        m.conf.voters[i] = i + 1;
    return m;
}

/* write_snap writes `size` bytes of seeded data in pieces of irregular sizes. */
static int write_snap(const char *dir, const struct raft_snapshot_meta *m, uint64_t size,
                      uint64_t seed, unsigned keep)
{
    struct snap_writer *sw;
    int rc = snap_writer_begin(dir, m, &sw);
    if (rc)
        return rc;
    unsigned char buf[70000];
    uint64_t off = 0;
    size_t piece = 1;
    while (off < size) {
        size_t n = size - off < piece ? (size_t)(size - off) : piece;
        for (size_t i = 0; i < n; i++)
            buf[i] = data_byte(seed, off + i);
        rc = snap_writer_write(sw, buf, n);
        if (rc) {
            snap_writer_abort(sw);
            return rc;
        }
        off += n;
        piece = piece * 3 % 65521 + 1;
    }
    return snap_writer_commit(sw, keep, NULL);
}

/* stream_trusted opens `path` with snap_reader_open_trusted and streams it to the end in
 * pieces of 1..997 bytes (through the reader's buffer) and of 300 KiB (around it). */
static int stream_trusted(const char *path, uint64_t *total)
{
    struct snap_reader *sr;
    struct snap_info info;
    int rc = snap_reader_open_trusted(path, &sr, &info);
    if (rc)
        return rc;
    static unsigned char buf[300 << 10];
    uint64_t off = 0;
    for (size_t step = 0; step < 100000000; step++) {
        size_t n, want = step % 7 == 6 ? sizeof(buf) : 1 + (step * 131) % 997;
        rc = snap_reader_read(sr, buf, want, &n);
        if (rc || n == 0)
            break;
        off += n;
    }
    snap_reader_free(sr);
    *total = off;
    return rc;
}

/* read_check streams the snapshot at path and compares with the seeded data. */
static int read_check(const char *path, uint64_t size, uint64_t seed)
{
    struct snap_reader *sr;
    struct snap_info info;
    int rc = snap_reader_open(path, &sr, &info);
    if (rc)
        return rc;
    CU_ASSERT_EQUAL(info.data_size, size);
    unsigned char buf[8191];
    uint64_t off = 0;
    for (;;) {
        size_t n;
        rc = snap_reader_read(sr, buf, sizeof(buf), &n);
        if (rc || n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            if (buf[i] != data_byte(seed, off + i)) {
                rc = -100;
                break;
            }
        }
        off += n;
    }
    snap_reader_free(sr);
    if (!rc)
        CU_ASSERT_EQUAL(off, size);
    return rc;
}

static size_t count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0, sl = strlen(suffix);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > sl && strcmp(de->d_name + len - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static void test_roundtrip(void)
{
    tdir_begin();
    const char *dir = sdir("snap");
    struct raft_snapshot_meta m = mkmeta(1234, 7);
    uint64_t size = 3u << 20;
    CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m, size, 42, 0), 0);
    struct snap_info info;
    CU_ASSERT_EQUAL_FATAL(snap_newest(dir, &info), 0);
    CU_ASSERT_EQUAL(info.meta.index, 1234);
    CU_ASSERT_EQUAL(info.meta.term, 7);
    CU_ASSERT_EQUAL(info.meta.conf.n_voters, 3);
    CU_ASSERT_EQUAL(info.meta.conf.voters[2], 3);
    CU_ASSERT_EQUAL(info.data_size, size);
    CU_ASSERT_EQUAL(info.file_size, size + SNAP_HDR_SIZE);
    char path[700];
    CU_ASSERT_EQUAL_FATAL(snap_path(dir, info.name, path, sizeof(path)), 0);
    CU_ASSERT_EQUAL(tu_file_size(path), (long long)(size + SNAP_HDR_SIZE));
    CU_ASSERT_EQUAL(read_check(path, size, 42), 0);
    CU_ASSERT_EQUAL(count_files(dir, ".tmp"), 0);
    /* an empty snapshot is valid too */
    struct raft_snapshot_meta m2 = mkmeta(2000, 8);
    CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m2, 0, 1, 0), 0);
    CU_ASSERT_EQUAL_FATAL(snap_newest(dir, &info), 0);
    CU_ASSERT_EQUAL(info.meta.index, 2000);
    CU_ASSERT_EQUAL(info.data_size, 0);
    CU_ASSERT_EQUAL_FATAL(snap_path(dir, info.name, path, sizeof(path)), 0);
    CU_ASSERT_EQUAL(read_check(path, 0, 1), 0);
    /* nothing there */
    CU_ASSERT_EQUAL(snap_newest(sdir("none"), &info), LT_ENOTFOUND);
    tdir_end();
}

static void test_corruption(void)
{
    tdir_begin();
    const char *dir = sdir("snap");
    struct raft_snapshot_meta old = mkmeta(100, 2), m = mkmeta(200, 3);
    CU_ASSERT_EQUAL_FATAL(write_snap(dir, &old, 5000, 1, 0), 0);
    CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m, 100000, 2, 0), 0);
    struct snap_info info;
    CU_ASSERT_EQUAL_FATAL(snap_newest(dir, &info), 0);
    CU_ASSERT_EQUAL(info.meta.index, 200);
    char path[700];
    CU_ASSERT_EQUAL_FATAL(snap_path(dir, info.name, path, sizeof(path)), 0);
    size_t len;
    unsigned char *orig = tu_file_read(path, &len);
    struct snap_reader *sr;
    /* flipped bits anywhere: header fields, data start, middle, end */
    size_t spots[] = {0, 9, 16, 24, 40, 112, 120, 127, 128, 5000, len / 2, len - 1};
    for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
        unsigned char *p = malloc(len);
        memcpy(p, orig, len);
        p[spots[i]] ^= (unsigned char)(1u << (i % 8));
        tu_file_write(path, p, len);
        free(p);
        CU_ASSERT_EQUAL(snap_verify(path, &info), LT_ECORRUPT);
        CU_ASSERT_EQUAL(snap_reader_open(path, &sr, &info), LT_ECORRUPT);
        /* the trusted reader refuses a bad header at once, bad data by the end */
        uint64_t total = 0;
        CU_ASSERT_EQUAL(stream_trusted(path, &total), LT_ECORRUPT);
        /* the newest valid one is picked instead */
        CU_ASSERT_EQUAL(snap_newest(dir, &info), 0);
        CU_ASSERT_EQUAL(info.meta.index, 100);
    }
    /* truncated at several lengths, including inside the header */
    size_t cuts[] = {0, 10, 127, 128, 129, len - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        tu_file_write(path, orig, cuts[i]);
        CU_ASSERT_EQUAL(snap_verify(path, &info), LT_ECORRUPT);
        CU_ASSERT_EQUAL(snap_reader_open(path, &sr, &info), LT_ECORRUPT);
        uint64_t total = 0;
        CU_ASSERT_EQUAL(stream_trusted(path, &total), LT_ECORRUPT);
    }
    /* the intact file streams whole through the trusted reader, in any piece sizes */
    {
        uint64_t total = 0;
        tu_file_write(path, orig, len);
        CU_ASSERT_EQUAL(stream_trusted(path, &total), 0);
        CU_ASSERT_EQUAL(total, len - SNAP_HDR_SIZE);
    }
    /* bad magic with a recomputed-looking header still fails; trailing bytes fail */
    unsigned char *p = malloc(len + 1);
    memcpy(p, orig, len);
    memcpy(p, "LITHSNAQ", 8);
    tu_file_write(path, p, len);
    CU_ASSERT_EQUAL(snap_verify(path, &info), LT_ECORRUPT);
    memcpy(p, orig, len);
    p[len] = 0;
    tu_file_write(path, p, len + 1);
    CU_ASSERT_EQUAL(snap_verify(path, &info), LT_ECORRUPT);
    free(p);
    /* a file whose name disagrees with its header is not trusted either */
    tu_file_write(path, orig, len);
    char old_path[700], renamed[700];
    CU_ASSERT_EQUAL_FATAL(snap_newest(dir, &info), 0);
    CU_ASSERT_EQUAL(info.meta.index, 200);
    snprintf(old_path, sizeof(old_path), "%s/snap-0000000000000064-0000000000000002.snap", dir);
    snprintf(renamed, sizeof(renamed), "%s/snap-00000000000000c8-0000000000000002.snap", dir);
    CU_ASSERT_EQUAL_FATAL(unlink(path), 0);
    CU_ASSERT_EQUAL_FATAL(rename(old_path, renamed), 0);
    CU_ASSERT_EQUAL(snap_newest(dir, &info), LT_ENOTFOUND);
    /* streaming notices a file changed after it was opened */
    tu_file_write(path, orig, len);
    CU_ASSERT_EQUAL_FATAL(snap_reader_open(path, &sr, &info), 0);
    unsigned char *q = malloc(len);
    memcpy(q, orig, len);
    q[len - 10] ^= 0x40;
    tu_file_write(path, q, len);
    free(q);
    unsigned char buf[65536];
    size_t n;
    int rc;
    int rounds = 0;
    do {
        rc = snap_reader_read(sr, buf, sizeof(buf), &n);
        rounds++;
    } while (rc == 0 && n > 0 && rounds < 100);
    CU_ASSERT_EQUAL(rc, LT_ECORRUPT);
    snap_reader_free(sr);
    snap_reader_free(NULL);
    free(orig);
    tdir_end();
}

/* A mapped snapshot shows exactly its data; a bad header or size is refused at open (the
 * data's checksum is the caller's), and the mapping outlives the file. */
static void test_map(void)
{
    tdir_begin();
    const char *dir = sdir("snap");
    struct raft_snapshot_meta m = mkmeta(300, 4);
    uint64_t size = (1u << 20) + 77;
    CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m, size, 9, 0), 0);
    struct snap_info info;
    CU_ASSERT_EQUAL_FATAL(snap_newest(dir, &info), 0);
    char path[700];
    CU_ASSERT_EQUAL_FATAL(snap_path(dir, info.name, path, sizeof(path)), 0);
    struct snap_map *map = NULL;
    memset(&info, 0, sizeof(info));
    CU_ASSERT_EQUAL_FATAL(snap_map_open(path, &map, &info), 0);
    CU_ASSERT_EQUAL(info.meta.index, 300);
    CU_ASSERT_EQUAL(info.meta.term, 4);
    CU_ASSERT_EQUAL(info.data_size, size);
    CU_ASSERT_STRING_EQUAL(info.name, "snap-000000000000012c-0000000000000004.snap");
    CU_ASSERT_EQUAL_FATAL(snap_map_len(map), size);
    const unsigned char *d = snap_map_data(map);
    uint64_t bad = 0;
    for (uint64_t i = 0; i < size; i++)
        bad += d[i] != data_byte(9, i);
    CU_ASSERT_EQUAL(bad, 0);
    /* deleted (as compaction does): still readable through the mapping */
    CU_ASSERT_EQUAL(unlink(path), 0);
    CU_ASSERT_EQUAL(d[size - 1], data_byte(9, size - 1));
    snap_map_free(map);
    snap_map_free(NULL);

    CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m, 5000, 3, 0), 0);
    size_t len;
    unsigned char *orig = tu_file_read(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
    /* a damaged header, a short or a long file: refused */
    size_t spots[] = {0, 16, 112, 120, 124};
    for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
        orig[spots[i]] ^= 0x10;
        tu_file_write(path, orig, len);
        CU_ASSERT_EQUAL(snap_map_open(path, &map, &info), LT_ECORRUPT);
        orig[spots[i]] ^= 0x10;
    }
    size_t cuts[] = {0, 100, 128, len - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        tu_file_write(path, orig, cuts[i]);
        CU_ASSERT_EQUAL(snap_map_open(path, &map, &info), LT_ECORRUPT);
    }
    unsigned char *longer = malloc(len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(longer);
    memcpy(longer, orig, len);
    longer[len] = 0;
    tu_file_write(path, longer, len + 1);
    CU_ASSERT_EQUAL(snap_map_open(path, &map, &info), LT_ECORRUPT);
    free(longer);
    /* damaged data maps (it is the caller's to check) */
    orig[len - 1] ^= 1;
    tu_file_write(path, orig, len);
    CU_ASSERT_EQUAL_FATAL(snap_map_open(path, &map, NULL), 0);
    CU_ASSERT_EQUAL(((const unsigned char *)snap_map_data(map))[4999], orig[len - 1]);
    snap_map_free(map);
    free(orig);
    CU_ASSERT_EQUAL(snap_map_open(sdir("none/x.snap"), &map, &info), LT_ENOTFOUND);
    tdir_end();
}

/* Every single bit of a small snapshot file, flipped in turn, is detected. */
static void test_every_bit(void)
{
    tdir_begin();
    const char *dir = sdir("snap");
    struct raft_snapshot_meta m = mkmeta(42, 3);
    CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m, 300, 7, 0), 0);
    struct snap_info info;
    CU_ASSERT_EQUAL_FATAL(snap_newest(dir, &info), 0);
    char path[700];
    CU_ASSERT_EQUAL_FATAL(snap_path(dir, info.name, path, sizeof(path)), 0);
    size_t len;
    unsigned char *orig = tu_file_read(path, &len);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    CU_ASSERT_FATAL(fd >= 0);
    unsigned missed = 0;
    for (size_t bit = 0; bit < len * 8; bit++) { /* patched in place: no truncation */
        unsigned char c = orig[bit / 8] ^ (unsigned char)(1u << (bit % 8));
        CU_ASSERT_FATAL(pwrite(fd, &c, 1, (off_t)(bit / 8)) == 1);
        if (snap_verify(path, &info) != LT_ECORRUPT)
            missed++;
        CU_ASSERT_FATAL(pwrite(fd, &orig[bit / 8], 1, (off_t)(bit / 8)) == 1);
    }
    close(fd);
    CU_ASSERT_EQUAL(missed, 0);
    CU_ASSERT_EQUAL(snap_verify(path, &info), 0);
    free(orig);
    tdir_end();
}

static void test_tmp_files(void)
{
    tdir_begin();
    const char *dir = sdir("snap");
    struct raft_snapshot_meta m1 = mkmeta(10, 1), m2 = mkmeta(20, 1);
    CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m1, 1000, 5, 0), 0);
    /* an aborted write leaves nothing */
    struct snap_writer *sw;
    CU_ASSERT_EQUAL_FATAL(snap_writer_begin(dir, &m2, &sw), 0);
    CU_ASSERT_EQUAL(snap_writer_write(sw, "abc", 3), 0);
    CU_ASSERT_EQUAL(count_files(dir, ".tmp"), 1);
    snap_writer_abort(sw);
    snap_writer_abort(NULL);
    CU_ASSERT_EQUAL(count_files(dir, ".tmp"), 0);
    /* an interrupted write (a crash: the temp file stays) is ignored, then cleaned */
    CU_ASSERT_EQUAL_FATAL(snap_writer_begin(dir, &m2, &sw), 0);
    unsigned char big[300000];
    memset(big, 7, sizeof(big));
    CU_ASSERT_EQUAL(snap_writer_write(sw, big, sizeof(big)), 0);
    char crashed[700];
    snprintf(crashed, sizeof(crashed), "%s/snap-0000000000000030-0000000000000001.snap.tmp", dir);
    FILE *f = fopen(crashed, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fwrite(big, 1, 1000, f);
    fclose(f);
    snap_writer_abort(sw);
    CU_ASSERT_EQUAL(count_files(dir, ".tmp"), 1);
    struct snap_info info;
    CU_ASSERT_EQUAL_FATAL(snap_newest(dir, &info), 0);
    CU_ASSERT_EQUAL(info.meta.index, 10);
    struct snap_info *list;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(snap_list(dir, &list, &n), 0);
    CU_ASSERT_EQUAL(n, 1);
    free(list);
    CU_ASSERT_EQUAL(snap_clean_tmp(dir), 0);
    CU_ASSERT_EQUAL(count_files(dir, ".tmp"), 0);
    CU_ASSERT_EQUAL(count_files(dir, ".snap"), 1);
    tdir_end();
}

/* fsync, wrapped: the inode of the last file or directory synced successfully. */
int __real_fsync(int fd);
int __wrap_fsync(int fd);
static ino_t fsync_last_ino;

int __wrap_fsync(int fd)
{
    int rc = __real_fsync(fd);
    struct stat st;
    if (rc == 0 && fstat(fd, &st) == 0)
        fsync_last_ino = st.st_ino;
    return rc;
}

/* A start settles the snapshot directory before anything relies on its names: a process
 * killed between a snapshot's rename and the directory's fsync left a name that is not
 * durable, and the restarted node loads that snapshot and records it in the WAL; a power
 * cut then loses the file while the WAL names it, and the node refuses to start ("the WAL
 * refers to snapshot N"). snap_clean_tmp, which the node runs at every start, syncs the
 * directory also when it finds no temp file to delete. */
static void test_clean_tmp_syncs_dir(void)
{
    tdir_begin();
    const char *dir = sdir("snap");
    struct raft_snapshot_meta m1 = mkmeta(10, 1);
    CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m1, 1000, 5, 0), 0);
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(stat(dir, &st), 0);
    fsync_last_ino = 0;
    CU_ASSERT_EQUAL(snap_clean_tmp(dir), 0);
    CU_ASSERT_EQUAL(fsync_last_ino, st.st_ino);
    CU_ASSERT_EQUAL(count_files(dir, ".snap"), 1);
    /* a directory that does not exist yet: nothing to settle */
    CU_ASSERT_EQUAL(snap_clean_tmp(sdir("none")), 0);
    tdir_end();
}

static void test_retention(void)
{
    tdir_begin();
    const char *dir = sdir("snap");
    for (uint64_t i = 1; i <= 5; i++) {
        struct raft_snapshot_meta m = mkmeta(i * 100, i);
        CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m, 100 * i, i, 0), 0);
        CU_ASSERT_EQUAL(count_files(dir, ".snap"), i < 2 ? i : 2);
    }
    struct snap_info *list;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(snap_list(dir, &list, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(list[0].meta.index, 500);
    CU_ASSERT_EQUAL(list[1].meta.index, 400);
    free(list);
    struct raft_snapshot_meta m = mkmeta(600, 6);
    CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m, 10, 6, 3), 0);
    CU_ASSERT_EQUAL(count_files(dir, ".snap"), 3);
    CU_ASSERT_EQUAL(snap_retain(dir, 1), 0);
    CU_ASSERT_EQUAL(count_files(dir, ".snap"), 1);
    CU_ASSERT_EQUAL(snap_retain(dir, 0), LT_EINVAL);
    struct snap_info info;
    CU_ASSERT_EQUAL_FATAL(snap_newest(dir, &info), 0);
    CU_ASSERT_EQUAL(info.meta.index, 600);
    tdir_end();
}

/* Deleting older snapshots is not part of publishing a new one: when the deletion fails
 * the new snapshot, already renamed and synced, is still reported written (otherwise the
 * node skips its WAL marker and never compacts, or a follower refuses every resend). */
static void test_retention_failure(void)
{
    tdir_begin();
    const char *dir = sdir("snap");
    for (uint64_t i = 1; i <= 2; i++) {
        struct raft_snapshot_meta m = mkmeta(i * 10, i);
        CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m, 100, i, 2), 0);
    }
    struct raft_snapshot_meta m3 = mkmeta(30, 3);
    struct snap_writer *sw;
    CU_ASSERT_EQUAL_FATAL(snap_writer_begin(dir, &m3, &sw), 0);
    CU_ASSERT_EQUAL_FATAL(snap_writer_write(sw, "hello", 5), 0);
    unsigned fired = sio_fault_fired();
    /* the 6th operation of the commit is the deletion of the oldest (the data's flush,
     * the header's write and fsync, the rename, the directory's fsync come first): the
     * count of files below checks that it was that one */
    sio_fault_arm(6, LT_EIO);
    int rc = snap_writer_commit(sw, 2, NULL);
    bool hit = sio_fault_fired() != fired;
    sio_fault_arm(0, 0);
    CU_ASSERT(hit);
    CU_ASSERT_EQUAL(rc, 0);
    struct snap_info info;
    CU_ASSERT_EQUAL_FATAL(snap_newest(dir, &info), 0);
    CU_ASSERT_EQUAL(info.meta.index, 30);
    CU_ASSERT_EQUAL(count_files(dir, ".snap"), 3); /* the oldest stayed */
    CU_ASSERT_EQUAL(snap_retain(dir, 2), 0);       /* and goes next time */
    CU_ASSERT_EQUAL(count_files(dir, ".snap"), 2);
    tdir_end();
}

/* ship copies the leader's snapshot file to dst in chunks of `chunk` bytes, sending
 * every chunk twice (a retransmission) and returning the last call's result. */
static int ship(const char *src_path, struct snap_receiver *rv, size_t chunk)
{
    unsigned char buf[4096];
    uint64_t off = 0, total = 0;
    int rc = 0;
    for (int guard = 0; guard < 100000; guard++) {
        size_t n;
        rc = snap_chunk_read(src_path, off, buf, chunk, &n, &total);
        if (rc)
            return rc;
        bool done = off + n == total;
        rc = snap_recv_chunk(rv, off, buf, n, false);
        if (!rc)
            rc = snap_recv_chunk(rv, off, buf, n, done); /* duplicate: ignored, then done */
        if (rc || done)
            return rc;
        off += n;
    }
    return LT_ETIMEDOUT;
}

/* ship_undone sends every chunk of `src` to rv, the last one without done; returns the
 * bytes sent (*total: the file's size). */
static uint64_t ship_undone(const char *src, struct snap_receiver *rv, uint64_t *total)
{
    unsigned char buf[4096];
    uint64_t off = 0;
    for (int guard = 0; guard < 1000; guard++) {
        size_t n;
        CU_ASSERT_EQUAL_FATAL(snap_chunk_read(src, off, buf, sizeof(buf), &n, total), 0);
        if (n == 0)
            break;
        CU_ASSERT_EQUAL_FATAL(snap_recv_chunk(rv, off, buf, n, false), 0);
        off += n;
    }
    return off;
}

static void test_chunked_receive(void)
{
    tdir_begin();
    const char *leader = sdir("leader");
    struct raft_snapshot_meta m = mkmeta(777, 4);
    uint64_t size = 200000;
    CU_ASSERT_EQUAL_FATAL(write_snap(leader, &m, size, 9, 0), 0);
    struct snap_info info;
    CU_ASSERT_EQUAL_FATAL(snap_newest(leader, &info), 0);
    char src[700];
    CU_ASSERT_EQUAL_FATAL(snap_path(leader, info.name, src, sizeof(src)), 0);

    const char *follower = sdir("follower");
    struct snap_receiver *rv;
    CU_ASSERT_EQUAL_FATAL(snap_recv_begin(follower, &m, 2, &rv), 0);
    CU_ASSERT_PTR_NULL(snap_recv_info(rv));
    unsigned char x = 0;
    CU_ASSERT_EQUAL(snap_recv_chunk(rv, 10, &x, 1, false), LT_EINVAL); /* a gap */
    CU_ASSERT_EQUAL(ship(src, rv, 3000), 0);
    const struct snap_info *got = snap_recv_info(rv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_EQUAL(got->meta.index, 777);
    CU_ASSERT_EQUAL(got->data_size, size);
    CU_ASSERT_EQUAL(snap_recv_chunk(rv, 0, &x, 1, true), LT_EINVAL); /* already committed */
    snap_recv_free(rv);
    CU_ASSERT_EQUAL_FATAL(snap_newest(follower, &info), 0);
    CU_ASSERT_EQUAL(info.meta.index, 777);
    char dst[700];
    CU_ASSERT_EQUAL_FATAL(snap_path(follower, info.name, dst, sizeof(dst)), 0);
    CU_ASSERT_EQUAL(read_check(dst, size, 9), 0);
    CU_ASSERT_EQUAL(count_files(follower, ".tmp"), 0);

    /* the file does not match the meta the leader announced */
    const char *f2 = sdir("f2");
    struct raft_snapshot_meta wrong = mkmeta(778, 4);
    CU_ASSERT_EQUAL_FATAL(snap_recv_begin(f2, &wrong, 2, &rv), 0);
    CU_ASSERT_EQUAL(ship(src, rv, 4096), LT_ECORRUPT);
    snap_recv_free(rv);
    CU_ASSERT_EQUAL(count_files(f2, ".snap"), 0);
    CU_ASSERT_EQUAL(count_files(f2, ".tmp"), 0);

    /* a chunk damaged in transit */
    CU_ASSERT_EQUAL_FATAL(snap_recv_begin(f2, &m, 2, &rv), 0);
    unsigned char buf[4096];
    uint64_t off = 0, total = 0;
    int rc = 0;
    for (int guard = 0; guard < 1000 && rc == 0; guard++) {
        size_t n;
        CU_ASSERT_EQUAL_FATAL(snap_chunk_read(src, off, buf, sizeof(buf), &n, &total), 0);
        if (off == 8192)
            buf[100] ^= 1;
        bool done = off + n == total;
        rc = snap_recv_chunk(rv, off, buf, n, done);
        off += n;
        if (done)
            break;
    }
    CU_ASSERT_EQUAL(rc, LT_ECORRUPT);
    snap_recv_free(rv);
    CU_ASSERT_EQUAL(snap_newest(f2, &info), LT_ENOTFOUND);
    CU_ASSERT_EQUAL(count_files(f2, ".tmp"), 0);

    /* the last chunk written without done, then committed on its own (the node does that
     * on a thread); committing twice, or after a damaged chunk, is refused */
    const char *f3 = sdir("f3");
    CU_ASSERT_EQUAL_FATAL(snap_recv_begin(f3, &m, 2, &rv), 0);
    off = ship_undone(src, rv, &total);
    CU_ASSERT_EQUAL(off, total);
    CU_ASSERT_PTR_NULL(snap_recv_info(rv));
    CU_ASSERT_EQUAL(count_files(f3, ".snap"), 0); /* nothing published before the commit */
    CU_ASSERT_EQUAL(snap_recv_commit(rv), 0);
    CU_ASSERT_PTR_NOT_NULL(snap_recv_info(rv));
    CU_ASSERT_EQUAL(snap_recv_commit(rv), LT_EINVAL);
    snap_recv_free(rv);
    CU_ASSERT_EQUAL_FATAL(snap_newest(f3, &info), 0);
    CU_ASSERT_EQUAL(info.meta.index, 777);
    CU_ASSERT_EQUAL_FATAL(snap_path(f3, info.name, dst, sizeof(dst)), 0);
    CU_ASSERT_EQUAL(read_check(dst, size, 9), 0);
    CU_ASSERT_EQUAL(count_files(f3, ".tmp"), 0);
    const char *f4 = sdir("f4");
    CU_ASSERT_EQUAL_FATAL(snap_recv_begin(f4, &m, 2, &rv), 0);
    CU_ASSERT_EQUAL(snap_recv_chunk(rv, 0, buf, 100, false), 0);
    CU_ASSERT_EQUAL(snap_recv_commit(rv), LT_ECORRUPT); /* a file cut short */
    CU_ASSERT_EQUAL(snap_recv_commit(rv), LT_ECORRUPT); /* and it stays failed */
    CU_ASSERT_EQUAL(snap_recv_chunk(rv, 100, buf, 100, true), LT_ECORRUPT);
    snap_recv_free(rv);
    /* a commit whose sync (or any other step) failed is never retried into a success: after
     * a failed fsync a second one returns 0 with the pages not on disk */
    int failed_commits = 0;
    for (unsigned k = 1; k <= 12; k++) {
        const char *f5 = sdir("f5");
        CU_ASSERT_EQUAL_FATAL(snap_recv_begin(f5, &m, 2, &rv), 0);
        off = ship_undone(src, rv, &total);
        unsigned fired = sio_fault_fired();
        sio_fault_arm(k, LT_EIO);
        int crc = snap_recv_commit(rv);
        bool hit = sio_fault_fired() != fired;
        sio_fault_arm(0, 0);
        if (hit) {
            CU_ASSERT_EQUAL(crc, LT_EIO);
            CU_ASSERT_EQUAL(snap_recv_commit(rv), LT_EIO);
            CU_ASSERT_PTR_NULL(snap_recv_info(rv));
            failed_commits++;
        } else {
            CU_ASSERT_EQUAL(crc, 0);
        }
        snap_recv_free(rv);
        tu_rmrf(f5);
    }
    CU_ASSERT(failed_commits >= 2); /* at least the file's fsync and the directory's */
    CU_ASSERT_EQUAL(count_files(f4, ".snap"), 0);
    CU_ASSERT_EQUAL(count_files(f4, ".tmp"), 0);

    /* an abandoned receive leaves nothing behind */
    CU_ASSERT_EQUAL_FATAL(snap_recv_begin(f2, &m, 2, &rv), 0);
    CU_ASSERT_EQUAL(snap_recv_chunk(rv, 0, buf, 100, false), 0);
    snap_recv_free(rv);
    snap_recv_free(NULL);
    CU_ASSERT_EQUAL(count_files(f2, ".tmp"), 0);

    /* reading chunks past the end */
    size_t n;
    CU_ASSERT_EQUAL(snap_chunk_read(src, total, buf, sizeof(buf), &n, &total), 0);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(snap_chunk_read(src, total + 1, buf, sizeof(buf), &n, &total), LT_EINVAL);

    /* a transfer reads an open file: a newer snapshot retiring it (unlink) half-way does not
     * cut it short (by path, the next chunk was "not found": a soak saw it) */
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    CU_ASSERT_FATAL(fd >= 0);
    const char *f5 = sdir("f5");
    CU_ASSERT_EQUAL_FATAL(snap_recv_begin(f5, &m, 2, &rv), 0);
    off = 0;
    rc = 0;
    for (int guard = 0; guard < 1000 && rc == 0; guard++) {
        CU_ASSERT_EQUAL_FATAL(snap_chunk_pread(fd, off, buf, sizeof(buf), &n, &total), 0);
        if (off == 0)
            CU_ASSERT_EQUAL_FATAL(unlink(src), 0);
        bool done = off + n == total;
        rc = snap_recv_chunk(rv, off, buf, n, done);
        off += n;
        if (done)
            break;
    }
    close(fd);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(off, total);
    CU_ASSERT(total > 2 * sizeof(buf)); /* chunks were read after the unlink */
    snap_recv_free(rv);
    CU_ASSERT_EQUAL(snap_chunk_read(src, 0, buf, sizeof(buf), &n, &total), LT_ENOTFOUND);
    CU_ASSERT_EQUAL_FATAL(snap_newest(f5, &info), 0);
    CU_ASSERT_EQUAL(info.meta.index, 777);
    CU_ASSERT_EQUAL_FATAL(snap_path(f5, info.name, dst, sizeof(dst)), 0);
    CU_ASSERT_EQUAL(read_check(dst, size, 9), 0);
    tdir_end();
}

/* Fail the k-th I/O operation of a snapshot write, for every k: the error comes back,
 * and either the new snapshot is complete and valid or the old one is still the newest. */
static void test_fault_injection(void)
{
    tdir_begin();
    const char *dir = sdir("snap");
    struct raft_snapshot_meta m1 = mkmeta(10, 1), m2 = mkmeta(20, 2);
    int failures = 0;
    for (int k = 1; k <= 10; k++) {
        tu_rmrf(dir);
        CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m1, 1000, 1, 0), 0);
        unsigned fired = sio_fault_fired();
        sio_fault_arm(k, LT_ENOSPACE);
        int rc = write_snap(dir, &m2, 600000, 2, 0);
        bool hit = sio_fault_fired() != fired;
        sio_fault_arm(0, 0);
        CU_ASSERT_EQUAL(rc, hit ? LT_ENOSPACE : 0);
        failures += rc != 0;
        struct snap_info info;
        CU_ASSERT_EQUAL_FATAL(snap_newest(dir, &info), 0);
        char path[700];
        CU_ASSERT_EQUAL_FATAL(snap_path(dir, info.name, path, sizeof(path)), 0);
        if (info.meta.index == 20) {
            CU_ASSERT_EQUAL(read_check(path, 600000, 2), 0);
        } else {
            CU_ASSERT_EQUAL(read_check(path, 1000, 1), 0);
        }
        if (rc)
            CU_ASSERT_EQUAL(count_files(dir, ".tmp"), 0);
    }
    CU_ASSERT(failures >= 4);
    tdir_end();
}

/* sync_file_range, wrapped (-Wl,--wrap=sync_file_range): when armed, a call that waits
 * for writeback (SYNC_FILE_RANGE_WAIT_BEFORE or _AFTER) fails with EIO, as Linux reports a
 * writeback error there: file_fdatawait_range() returns it and advances the file's
 * error cursor (file_check_and_advance_wb_err), so the fsync that follows on the same file
 * returns 0 although the pages never reached the disk. Counts the waiting calls. */
int __real_sync_file_range(int fd, off_t off, off_t len, unsigned int flags);
int __wrap_sync_file_range(int fd, off_t off, off_t len, unsigned int flags);
static int sfr_fail_armed;
static unsigned sfr_waits;

int __wrap_sync_file_range(int fd, off_t off, off_t len, unsigned int flags)
{
    if (flags & (SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER)) {
        sfr_waits++;
        if (sfr_fail_armed) {
            sfr_fail_armed = 0;
            (void)__real_sync_file_range(fd, off, len, flags);
            errno = EIO;
            return -1;
        }
    }
    return __real_sync_file_range(fd, off, len, flags);
}

/* A writeback error reported while a large snapshot is paced must fail the snapshot: the
 * kernel says it once, to that call, and the commit's fsync then returns 0. Taken as
 * durable, the snapshot would get its WAL marker and the log behind it compacted away,
 * with the file's pages never on disk (found by this audit: the pacing ignored the
 * result). */
static void test_pacing_writeback_error(void)
{
    tdir_begin();
    const char *dir = sdir("snap");
    struct raft_snapshot_meta m1 = mkmeta(10, 1), m2 = mkmeta(20, 2);
    CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m1, 1000, 1, 0), 0);

    /* an 8 MiB snapshot is paced (2 MiB pieces): its waits for writeback happen */
    sfr_waits = 0;
    CU_ASSERT_EQUAL_FATAL(write_snap(dir, &m2, 8u << 20, 2, 0), 0);
    CU_ASSERT_FATAL(sfr_waits >= 2);

    /* the same with the first wait failing: refused, the older snapshot still the newest,
     * no file of the failed one left */
    struct raft_snapshot_meta m3 = mkmeta(30, 2);
    sfr_waits = 0;
    sfr_fail_armed = 1;
    int rc = write_snap(dir, &m3, 8u << 20, 3, 0);
    CU_ASSERT_FATAL(sfr_waits >= 1);
    CU_ASSERT_EQUAL(sfr_fail_armed, 0);
    sfr_fail_armed = 0;
    CU_ASSERT_EQUAL(rc, LT_EIO);
    struct snap_info info;
    CU_ASSERT_EQUAL_FATAL(snap_newest(dir, &info), 0);
    CU_ASSERT_EQUAL(info.meta.index, 20);
    CU_ASSERT_EQUAL(count_files(dir, ".tmp"), 0);
    CU_ASSERT_EQUAL(count_files(dir, ".snap"), 2);

    /* and the next snapshot, with no error, is written whole */
    CU_ASSERT_EQUAL(write_snap(dir, &m3, 8u << 20, 3, 0), 0);
    CU_ASSERT_EQUAL_FATAL(snap_newest(dir, &info), 0);
    CU_ASSERT_EQUAL(info.meta.index, 30);
    char path[700];
    CU_ASSERT_EQUAL_FATAL(snap_path(dir, info.name, path, sizeof(path)), 0);
    CU_ASSERT_EQUAL(read_check(path, 8u << 20, 3), 0);
    tdir_end();
}

static const struct lt_test snap_tests[] = {
    {"streaming round trip", test_roundtrip},
    {"damage is LT_ECORRUPT; the newest valid one is picked", test_corruption},
    {"every flipped bit is detected", test_every_bit},
    {"mapping: the data in place, damage refused at open", test_map},
    {"temp files of interrupted writes ignored and cleaned", test_tmp_files},
    {"the start's clean-up syncs the directory", test_clean_tmp_syncs_dir},
    {"keep-N retention", test_retention},
    {"a failed deletion of older snapshots does not fail the new one", test_retention_failure},
    {"chunked shipping and receiving", test_chunked_receive},
    {"fault injection in the write path", test_fault_injection},
    {"a writeback error reported to the pacing fails the snapshot", test_pacing_writeback_error},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"snap", NULL, NULL, snap_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
