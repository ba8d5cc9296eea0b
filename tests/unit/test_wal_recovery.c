/* test_wal_recovery.c — what recovery reads, it makes durable before it returns it.
 *
 * A node killed with SIGKILL and restarted in the same boot finds in the page cache what its
 * dead process wrote but never synced: a whole batch written just before its fdatasync, a
 * segment renamed into place before its directory's fsync. Recovery replays that as the
 * log, the node then counts it persisted and acknowledges it to the leader, while a power
 * cut would still take it away. So wal_open must sync the last segment and the directory
 * (PostgreSQL syncs its whole data directory after a crash for the same reason).
 *
 * fdatasync and fsync are wrapped (-Wl,--wrap=fdatasync,--wrap=fsync): the wrappers
 * record which files and directories (device, inode) were synced successfully. Each test
 * works in a fresh temporary directory that it removes. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit_main.h"
#include "lt_err.h"
#include "sio.h"
#include "testutil.h"
#include "wal.h"

/* ---- the synced files, recorded by the wrappers ---- */

#define MAX_SYNCED 256
static struct {
    dev_t dev;
    ino_t ino;
} synced[MAX_SYNCED];
static size_t n_synced;

static void synced_note(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && n_synced < MAX_SYNCED) {
        synced[n_synced].dev = st.st_dev;
        synced[n_synced].ino = st.st_ino;
        n_synced++;
    }
}

/* was_synced tells whether the file or directory at `path` was synced since the record
 * was last cleared. */
static bool was_synced(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    for (size_t i = 0; i < n_synced; i++) {
        if (synced[i].dev == st.st_dev && synced[i].ino == st.st_ino)
            return true;
    }
    return false;
}

int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
int __real_fsync(int fd);
int __wrap_fsync(int fd);

int __wrap_fdatasync(int fd)
{
    int rc = __real_fdatasync(fd);
    if (rc == 0)
        synced_note(fd);
    return rc;
}

int __wrap_fsync(int fd)
{
    int rc = __real_fsync(fd);
    if (rc == 0)
        synced_note(fd);
    return rc;
}

/* ---- helpers ---- */

static char tdir[512], wdir[600];

static void tdir_begin(void)
{
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(tdir, sizeof(tdir), "lt-walrec"), 0);
    snprintf(wdir, sizeof(wdir), "%s/wal", tdir);
}

static void tdir_end(void)
{
    sio_fault_arm(0, 0);
    tu_rmrf(tdir);
}

/* last_segment writes the path of the newest segment file into `path`. */
static void last_segment(char *path, size_t n)
{
    DIR *d = opendir(wdir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char best[300] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len == 37 && strcmp(de->d_name + len - 4, ".wal") == 0 && strcmp(de->d_name, best) > 0)
            snprintf(best, sizeof(best), "%s", de->d_name);
    }
    closedir(d);
    CU_ASSERT_FATAL(best[0] != 0);
    snprintf(path, n, "%s/%s", wdir, best);
}

static unsigned char payload[300];

static void make_entries(struct raft_entry *e, uint64_t first, size_t n, uint64_t term)
{
    for (size_t i = 0; i < n; i++) {
        e[i].index = first + i;
        e[i].term = term;
        e[i].type = RAFT_ENTRY_NORMAL;
        e[i].data.base = payload;
        e[i].data.len = sizeof(payload);
    }
}

/* write_unsynced does what the WAL writer does for one batch (wal_io_run) up to its
 * fdatasync, and stops there: the process is killed before the sync. The WAL is dropped
 * as a killed process drops it. */
static void write_unsynced(struct wal *w, uint64_t first, size_t n, uint64_t term)
{
    struct raft_entry e[16];
    CU_ASSERT_FATAL(n <= 16);
    make_entries(e, first, n, term);
    CU_ASSERT_EQUAL_FATAL(wal_append(w, e, n), 0);
    struct wal_io io;
    CU_ASSERT_EQUAL_FATAL(wal_sync_begin(w, &io), 0);
    CU_ASSERT_FATAL(io.len > 0);
    static const unsigned char zeros[4096];
    for (uint64_t done = 0; done < io.zero_len;) {
        size_t k =
            io.zero_len - done < sizeof(zeros) ? (size_t)(io.zero_len - done) : sizeof(zeros);
        CU_ASSERT_EQUAL_FATAL(pwrite(io.fd, zeros, k, (off_t)(io.zero_off + done)), (ssize_t)k);
        done += k;
    }
    CU_ASSERT_EQUAL_FATAL(pwrite(io.fd, io.buf, io.len, (off_t)io.off), (ssize_t)io.len);
    free(io.buf); /* the batch's buffer is the writer's until wal_sync_end */
    wal_free(w);
}

/* reopen opens the WAL with the record of synced files cleared and checks the recovered
 * log is 1..last. */
static void reopen(const struct wal_options *opt, uint64_t last)
{
    struct wal *w;
    struct wal_recovered rec;
    n_synced = 0;
    CU_ASSERT_EQUAL_FATAL(wal_open(wdir, opt, &w, &rec), 0);
    CU_ASSERT_EQUAL(rec.last_index, last);
    CU_ASSERT_EQUAL(rec.n_entries, last);
    wal_recovered_fini(&rec);
    wal_free(w);
}

/* open_in_term1 opens the WAL with `opt` and saves a hard state of term 1 in it. */
static struct wal *open_in_term1(const struct wal_options *opt)
{
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(wal_open(wdir, opt, &w, &rec), 0);
    wal_recovered_fini(&rec);
    struct raft_hard_state hs = {.term = 1, .vote = 1, .commit = 0};
    CU_ASSERT_EQUAL_FATAL(wal_save_hard_state(w, &hs), 0);
    return w;
}

/* append_synced appends entries first..first+3 of term 1 as one synced batch. */
static void append_synced(struct wal *w, uint64_t first)
{
    struct raft_entry e[4];
    make_entries(e, first, 4, 1);
    CU_ASSERT_EQUAL_FATAL(wal_append(w, e, 4), 0);
    CU_ASSERT_EQUAL_FATAL(wal_sync(w), 0);
}

/* ---- tests ---- */

/* The batch that fills a segment: the preallocated zeros stop at the segment's size, so
 * the batch that crosses it ends the file. Killed before its fdatasync, it is found whole,
 * with nothing to truncate after it (the only case where recovery used to sync). */
static void test_unsynced_batch_at_segment_end(void)
{
    tdir_begin();
    struct wal_options opt;
    wal_options_default(&opt);
    opt.segment_size = 64u << 10;
    struct wal *w = open_in_term1(&opt);
    uint64_t next = 1;
    struct wal_stats st;
    /* synced batches of 4 entries (about 1.3 KiB) until the next would cross the end */
    for (int i = 0; i < 1000; i++) {
        wal_stats(w, &st);
        if (st.bytes + 2 * 1400 > opt.segment_size)
            break;
        append_synced(w, next);
        next += 4;
    }
    wal_stats(w, &st);
    CU_ASSERT_EQUAL_FATAL(st.segments, 1);
    CU_ASSERT_FATAL(st.bytes + 2 * 1400 > opt.segment_size);
    /* the crossing batch, killed before its fdatasync */
    write_unsynced(w, next, 8, 1);
    char seg[700];
    last_segment(seg, sizeof(seg));
    CU_ASSERT_FATAL(tu_file_size(seg) > (long long)opt.segment_size); /* it ends the file */

    reopen(&opt, next + 7);
    /* recovered and so about to be counted as persisted: it must be on disk now */
    CU_ASSERT(was_synced(seg));
    CU_ASSERT(was_synced(wdir));
    tdir_end();
}

/* With no preallocation (zero_ahead 0) every batch ends the file: the same for any batch. */
static void test_unsynced_batch_no_prealloc(void)
{
    tdir_begin();
    struct wal_options opt;
    wal_options_default(&opt);
    opt.zero_ahead = 0;
    struct wal *w = open_in_term1(&opt);
    append_synced(w, 1);
    write_unsynced(w, 5, 4, 1);

    char seg[700];
    last_segment(seg, sizeof(seg));
    reopen(&opt, 8);
    CU_ASSERT(was_synced(seg));
    CU_ASSERT(was_synced(wdir));
    tdir_end();
}

/* A segment renamed into place whose directory fsync never ran (killed between the two in
 * wal_seg_create): its name is not durable, yet recovery appends to it. The directory must
 * be synced at open. Made here by renaming a synced segment under the next name, with the
 * directory left unsynced, as the rollover would leave it. */
static void test_unsynced_rename_of_segment(void)
{
    tdir_begin();
    struct wal_options opt;
    wal_options_default(&opt);
    opt.segment_size = 4096; /* a rollover every few batches */
    struct wal *w = open_in_term1(&opt);
    uint64_t next = 1;
    struct wal_stats st;
    for (int i = 0; i < 100; i++) {
        append_synced(w, next);
        next += 4;
        wal_stats(w, &st);
        if (st.segments >= 3)
            break;
    }
    CU_ASSERT_FATAL(st.segments >= 3);
    wal_free(w);

    /* the directory as the rollover leaves it before its fsync: the newest name is new */
    char seg[700], moved[720];
    last_segment(seg, sizeof(seg));
    snprintf(moved, sizeof(moved), "%s.tmp", seg);
    CU_ASSERT_EQUAL_FATAL(rename(seg, moved), 0);
    CU_ASSERT_EQUAL_FATAL(rename(moved, seg), 0);

    reopen(&opt, next - 1);
    CU_ASSERT(was_synced(wdir));
    CU_ASSERT(was_synced(seg));
    tdir_end();
}

/* The WAL's directory made by a process killed between its mkdir and the fsync of its
 * parent: its entry in the data dir is not durable, and a restart finds it (EEXIST) and
 * fills it with segments. wal_open must sync the parent then too (sio_mkdir). */
static void test_unsynced_mkdir_of_wal_dir(void)
{
    tdir_begin();
    CU_ASSERT_EQUAL_FATAL(mkdir(wdir, 0755), 0); /* and killed before the parent's fsync */
    struct wal *w;
    struct wal_recovered rec;
    n_synced = 0;
    CU_ASSERT_EQUAL_FATAL(wal_open(wdir, NULL, &w, &rec), 0);
    CU_ASSERT(was_synced(tdir)); /* the parent: the data dir */
    CU_ASSERT(was_synced(wdir));
    wal_recovered_fini(&rec);
    wal_free(w);
    tdir_end();
}

static const struct lt_test recovery_tests[] = {
    {"an unsynced batch at a segment's end is synced by recovery",
     test_unsynced_batch_at_segment_end},
    {"without preallocation: an unsynced last batch is synced by recovery",
     test_unsynced_batch_no_prealloc},
    {"a segment's unsynced name is synced by recovery", test_unsynced_rename_of_segment},
    {"the WAL directory's unsynced entry in its parent is synced at open",
     test_unsynced_mkdir_of_wal_dir},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"wal_recovery", NULL, NULL, recovery_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
