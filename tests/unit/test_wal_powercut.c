/* test_wal_powercut.c — the WAL against power cuts at every system call of its write
 * path, segment rollovers and compactions included.
 *
 * The file system calls of the storage layer are wrapped (-Wl,--wrap=...): the wrappers
 * keep a model of what a power cut would leave. A file's content is durable as of its
 * last successful fdatasync/fsync (a file never synced is empty); a directory's names are
 * durable as of its last fsync, and the name changes made since (create, rename, unlink)
 * survive a cut as a prefix of their order (a journaled file system, or one directory
 * block). At the k-th wrapped call the cut is taken: the durable state, and a random
 * prefix of the name changes pending, are frozen, while the process goes on. Its image is
 * then written into a fresh directory and opened: the WAL must open (no false
 * corruption) and hold every entry and the hard state that a wal_sync acknowledged
 * before the cut, with the right data. And a kill -9 at every call (the calls from there
 * on never happen), a restart in the same boot reading the page cache, then a power cut:
 * what the restart recovered (and the node would count persisted) must survive. Replay a
 * failure with LT_SEED. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cunit_main.h"
#include "lt_err.h"
#include "testutil.h"
#include "wal.h"

/* ---- the model of the disk ---- */

#define MAXF    64
#define MAXNAME 96
#define MAXOPS  256

struct dfile { /* a file's durable content, by inode */
    ino_t ino;
    unsigned char *data;
    size_t len;
};

struct dname { /* a name in the WAL directory and its inode */
    char name[MAXNAME];
    ino_t ino;
};

struct nameop { /* a name change not yet made durable by the directory's fsync */
    char name[MAXNAME];
    ino_t ino;          /* 0: removed */
    char from[MAXNAME]; /* a rename's old name ("" if none): one atomic change */
};

struct disk {
    struct dfile files[MAXF];
    size_t n_files;
    struct dname names[MAXF];
    size_t n_names;
    struct nameop ops[MAXOPS];
    size_t n_ops;
};

static char wdir[600];     /* the WAL directory watched */
static struct disk disk;   /* now */
static struct disk frozen; /* at the cut */
static bool cut_taken;
static long calls, cut_at; /* wrapped calls so far; the cut's (0: none) */
static long kill_at;       /* the call at which the process is killed (0: never) */
static uint64_t rng = 1;
static bool unordered_unlinks; /* the cut keeps every pending name change; the test picks */
static int snap_every = 9;     /* a snapshot marker and a compaction every N batches */

static uint64_t rnd(uint64_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return n ? rng % n : 0;
}

static void disk_free(struct disk *d)
{
    for (size_t i = 0; i < d->n_files; i++)
        free(d->files[i].data);
    memset(d, 0, sizeof(*d));
}

static void disk_copy(struct disk *to, const struct disk *from)
{
    disk_free(to);
    *to = *from;
    for (size_t i = 0; i < from->n_files; i++) {
        to->files[i].data = malloc(from->files[i].len + 1);
        memcpy(to->files[i].data, from->files[i].data, from->files[i].len);
    }
}

static struct dfile *dfile_of(struct disk *d, ino_t ino)
{
    for (size_t i = 0; i < d->n_files; i++)
        if (d->files[i].ino == ino)
            return &d->files[i];
    return NULL;
}

/* in_dir tells whether `path` names a file directly in the watched directory; *base is
 * its name there. */
static bool in_dir(const char *path, const char **base)
{
    size_t n = strlen(wdir);
    if (!wdir[0] || strncmp(path, wdir, n) != 0 || path[n] != '/' || strchr(path + n + 1, '/'))
        return false;
    *base = path + n + 1;
    return strlen(*base) < MAXNAME;
}

static bool fd_in_dir(int fd, ino_t *ino, bool *is_dir)
{
    char link[64], path[700];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t k = readlink(link, path, sizeof(path) - 1);
    if (k <= 0)
        return false;
    path[k] = 0;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    *ino = st.st_ino;
    *is_dir = S_ISDIR(st.st_mode);
    const char *base;
    return strcmp(path, wdir) == 0 ? *is_dir : in_dir(path, &base);
}

static void name_op(const char *name, ino_t ino, const char *from)
{
    CU_ASSERT_FATAL(disk.n_ops < MAXOPS);
    struct nameop *o = &disk.ops[disk.n_ops++];
    snprintf(o->name, sizeof(o->name), "%s", name);
    snprintf(o->from, sizeof(o->from), "%s", from);
    o->ino = ino;
}

/* tick counts a wrapped call and takes the cut when it is the chosen one: before the call
 * has any effect. */
static bool tick(void)
{
    if (kill_at && calls + 1 >= kill_at) {
        calls++;
        return true; /* the process is dead: the call never happens */
    }
    if (++calls == cut_at && !cut_taken) {
        disk_copy(&frozen, &disk);
        /* a prefix of the pending name changes reached the disk */
        if (!unordered_unlinks)
            frozen.n_ops = (size_t)rnd(disk.n_ops + 1);
        cut_taken = true;
    }
    return false;
}

/* sync_file records the content of the file open as fd as durable. */
static void sync_file(int fd, ino_t ino)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return;
    struct dfile *f = dfile_of(&disk, ino);
    if (!f) {
        CU_ASSERT_FATAL(disk.n_files < MAXF);
        f = &disk.files[disk.n_files++];
        f->ino = ino;
        f->data = NULL;
    }
    free(f->data);
    f->len = (size_t)st.st_size;
    f->data = malloc(f->len + 1);
    CU_ASSERT_FATAL(pread(fd, f->data, f->len, 0) == (ssize_t)f->len);
}

/* sync_dir makes the directory's current names durable. */
static void sync_dir(void)
{
    disk.n_names = 0;
    disk.n_ops = 0;
    DIR *d = opendir(wdir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strlen(de->d_name) >= MAXNAME)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
            continue;
        CU_ASSERT_FATAL(disk.n_names < MAXF);
        struct dname *n = &disk.names[disk.n_names++];
        memcpy(n->name, de->d_name, strlen(de->d_name) + 1); /* shorter than MAXNAME */
        n->ino = st.st_ino;
    }
    closedir(d);
}

/* ---- the wrappers ---- */

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);
int __real_rename(const char *from, const char *to);
int __wrap_rename(const char *from, const char *to);
int __real_unlink(const char *path);
int __wrap_unlink(const char *path);
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
int __real_fsync(int fd);
int __wrap_fsync(int fd);
ssize_t __real_pwritev(int fd, const struct iovec *iov, int n, off_t off);
ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int n, off_t off);
int __real_ftruncate(int fd, off_t len);
int __wrap_ftruncate(int fd, off_t len);

int __wrap_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    const char *base;
    bool watched = in_dir(path, &base);
    struct stat before;
    bool existed = watched && stat(path, &before) == 0;
    if (watched && (flags & O_CREAT) && tick()) {
        errno = EIO;
        return -1;
    }
    int fd = __real_open(path, flags, mode);
    struct stat st;
    if (fd >= 0 && watched && (flags & O_CREAT) && fstat(fd, &st) == 0 &&
        (!existed || before.st_ino != st.st_ino))
        name_op(base, st.st_ino, "");
    return fd;
}

int __wrap_rename(const char *from, const char *to)
{
    const char *bf, *bt;
    bool watched = in_dir(from, &bf) && in_dir(to, &bt);
    struct stat st;
    if (watched && tick()) {
        errno = EIO;
        return -1;
    }
    bool ok = watched && stat(from, &st) == 0;
    int rc = __real_rename(from, to);
    if (rc == 0 && ok)
        name_op(bt, st.st_ino, bf);
    return rc;
}

int __wrap_unlink(const char *path)
{
    const char *base;
    bool watched = in_dir(path, &base);
    if (watched && tick()) {
        errno = EIO;
        return -1;
    }
    int rc = __real_unlink(path);
    if (rc == 0 && watched)
        name_op(base, 0, "");
    return rc;
}

/* synced runs a sync call (`real`) on fd: the cut's tick first, then what it made durable. */
static int synced(int fd, int (*real)(int))
{
    ino_t ino;
    bool is_dir;
    bool watched = fd_in_dir(fd, &ino, &is_dir);
    if (watched && tick()) {
        errno = EIO;
        return -1;
    }
    int rc = real(fd);
    if (rc == 0 && watched) {
        if (is_dir)
            sync_dir();
        else
            sync_file(fd, ino);
    }
    return rc;
}

int __wrap_fdatasync(int fd)
{
    return synced(fd, __real_fdatasync);
}

int __wrap_fsync(int fd)
{
    return synced(fd, __real_fsync);
}

ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    ino_t ino;
    bool is_dir;
    if (fd_in_dir(fd, &ino, &is_dir) && tick()) {
        errno = EIO;
        return -1;
    }
    return __real_pwritev(fd, iov, n, off);
}

int __wrap_ftruncate(int fd, off_t len)
{
    ino_t ino;
    bool is_dir;
    if (fd_in_dir(fd, &ino, &is_dir) && tick()) {
        errno = EIO;
        return -1;
    }
    return __real_ftruncate(fd, len);
}

/* ---- the image after the cut ---- */

/* image_write writes the frozen state into `dir` (created): the durable names with the
 * name changes that reached the disk, each with its durable content (empty if never
 * synced). */
static void image_write(const char *dir)
{
    struct dname names[MAXF];
    size_t n = frozen.n_names;
    memcpy(names, frozen.names, n * sizeof(*names));
    for (size_t k = 0; k < frozen.n_ops; k++) {
        const struct nameop *o = &frozen.ops[k];
        size_t i = 0;
        if (o->from[0]) { /* a rename: the old name goes in the same change */
            while (i < n && strcmp(names[i].name, o->from) != 0)
                i++;
            if (i < n)
                names[i] = names[--n];
            i = 0;
        }
        while (i < n && strcmp(names[i].name, o->name) != 0)
            i++;
        if (o->ino == 0) {
            if (i < n)
                names[i] = names[--n];
        } else if (i < n) {
            names[i].ino = o->ino;
        } else {
            CU_ASSERT_FATAL(n < MAXF);
            snprintf(names[n].name, sizeof(names[n].name), "%s", o->name);
            names[n++].ino = o->ino;
        }
    }
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
    for (size_t i = 0; i < n; i++) {
        char p[800];
        int k = snprintf(p, sizeof(p), "%s/%s", dir, names[i].name);
        CU_ASSERT_FATAL(k > 0 && (size_t)k < sizeof(p));
        FILE *f = fopen(p, "wb");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        const struct dfile *df = dfile_of(&frozen, names[i].ino);
        if (df && df->len)
            CU_ASSERT_FATAL(fwrite(df->data, 1, df->len, f) == df->len);
        fclose(f);
    }
}

/* ---- the workload ---- */

static unsigned char payload[256];

static size_t entry_len(uint64_t index)
{
    return (size_t)(index * 37 % 200);
}

static void fill(uint64_t index)
{
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (unsigned char)(index * 13 + i);
}

struct acked {
    uint64_t last;    /* entries 1..last acknowledged (minus what a snapshot covers) */
    uint64_t hs_term; /* the hard state acknowledged */
    uint64_t snap;    /* the snapshot marker acknowledged */
    long at;          /* calls when it was acknowledged */
};

/* STEP runs a WAL call of the workload: it must succeed, unless the process is to be
 * killed (kill_at), when a failure ends the workload (every call from the kill on fails). */
#define STEP(call)                                                                                 \
    do {                                                                                           \
        int step_rc_ = (call);                                                                     \
        if (kill_at && step_rc_ != 0)                                                              \
            goto out;                                                                              \
        CU_ASSERT_EQUAL_FATAL(step_rc_, 0);                                                        \
    } while (0)

static void wal_opts(struct wal_options *opt)
{
    wal_options_default(opt);
    opt->segment_size = 4096; /* a rollover every few batches */
    opt->zero_ahead = 2048;
}

/* run does a workload with a cut at call `cut` (0: none), or killed at call `kill` (0:
 * never), and returns the number of wrapped calls it made; *ack is what was
 * acknowledged before the cut. */
static long run(const char *root, long cut, long kill, struct acked *ack)
{
    snprintf(wdir, sizeof(wdir), "%s/wal", root);
    disk_free(&disk);
    disk_free(&frozen);
    cut_taken = false;
    calls = 0;
    cut_at = cut;
    kill_at = kill;
    memset(ack, 0, sizeof(*ack));
    struct wal_options opt;
    wal_opts(&opt);
    struct wal *w = NULL;
    struct wal_recovered rec;
    STEP(wal_open(wdir, &opt, &w, &rec));
    wal_recovered_fini(&rec);
    uint64_t next = 1, term = 1;
    for (int b = 0; b < 40; b++) {
        struct raft_entry e[4];
        size_t n = 1 + (size_t)(b % 4);
        fill(0);
        for (size_t i = 0; i < n; i++) {
            e[i].index = next + i;
            e[i].term = term;
            e[i].type = RAFT_ENTRY_NORMAL;
            e[i].data.base = payload;
            e[i].data.len = entry_len(next + i);
        }
        STEP(wal_append(w, e, n));
        uint64_t bterm = term; /* the term of this batch's entries */
        next += n;
        if (b % 7 == 3) {
            term++;
            struct raft_hard_state hs = {.term = term, .vote = 1, .commit = next - 1};
            STEP(wal_save_hard_state(w, &hs));
        }
        bool snap = b % snap_every == snap_every - 1;
        struct raft_snapshot_meta m = {.index = next - 1, .term = bterm};
        m.conf.n_voters = 1;
        m.conf.voters[0] = 1;
        if (snap)
            STEP(wal_save_snapshot(w, &m));
        STEP(wal_sync(w));
        if (!cut_taken) {
            ack->last = next - 1;
            ack->hs_term = term > 1 ? term : 0;
            if (snap)
                ack->snap = m.index;
            ack->at = calls;
        }
        if (snap && !kill_at)
            CU_ASSERT_EQUAL(wal_compact(w, m.index - 2), 0);
        if (snap && kill_at)
            STEP(wal_compact(w, m.index - 2));
    }
out:
    wal_free(w);
    kill_at = 0;
    return calls;
}

/* check_image writes the frozen state as `img`/wal, opens it and checks it holds entries
 * up to at least `last`, a marker at least `snap` and a term at least `term`, with their
 * data; prints what went wrong (`what`) and returns false if not. */
static bool check_image(const char *img, uint64_t last, uint64_t snap, uint64_t term,
                        const char *what)
{
    CU_ASSERT_EQUAL_FATAL(mkdir(img, 0755), 0);
    char iw[800];
    snprintf(iw, sizeof(iw), "%s/wal", img);
    image_write(iw);
    struct wal *w;
    struct wal_recovered rec;
    int rc = wal_open(iw, NULL, &w, &rec);
    bool ok = rc == 0;
    uint64_t got_last = 0, got_snap = 0, got_term = 0;
    if (ok) {
        got_last = rec.last_index;
        got_snap = rec.snapshot.index;
        got_term = rec.hs.term;
        ok = rec.last_index >= last && rec.snapshot.index >= snap && rec.hs.term >= term;
        for (size_t k = 0; ok && k < rec.n_entries; k++) {
            const struct raft_entry *e = &rec.entries[k];
            ok = e->index == rec.snapshot.index + 1 + k && e->data.len == entry_len(e->index) &&
                 (e->data.len == 0 || memcmp(e->data.base, payload, e->data.len) == 0);
        }
        wal_recovered_fini(&rec);
        wal_free(w);
    }
    if (!ok)
        printf("\n  %s (must hold last %llu, snapshot %llu, term %llu): open %d, recovered last "
               "%llu snapshot %llu term %llu\n",
               what, (unsigned long long)last, (unsigned long long)snap, (unsigned long long)term,
               rc, (unsigned long long)got_last, (unsigned long long)got_snap,
               (unsigned long long)got_term);
    tu_rmrf(img);
    return ok;
}

/* check_unordered checks every image a cut can leave on a file system that keeps no order
 * among removals (ext4 without a journal, ext2): a prefix of the pending name changes,
 * plus any subset of the removals after it. frozen holds every pending change. */
static bool check_unordered(const char *img_base, const struct acked *ack, const char *what)
{
    struct nameop all[MAXOPS];
    size_t n = frozen.n_ops;
    memcpy(all, frozen.ops, n * sizeof(all[0]));
    bool ok = true;
    for (size_t keep = 0; keep <= n && ok; keep++) {
        size_t unl[6], nu = 0;
        for (size_t i = keep; i < n && nu < 6; i++)
            if (all[i].ino == 0 && !all[i].from[0])
                unl[nu++] = i;
        for (unsigned mask = 0; mask < (1u << nu) && ok; mask++) {
            if (mask && nu == 0)
                break;
            frozen.n_ops = keep;
            memcpy(frozen.ops, all, keep * sizeof(all[0]));
            for (size_t j = 0; j < nu; j++)
                if (mask & (1u << j))
                    frozen.ops[frozen.n_ops++] = all[unl[j]];
            char img[800], w[300];
            snprintf(img, sizeof(img), "%s-%zu-%u", img_base, keep, mask);
            snprintf(w, sizeof(w), "%s, the first %zu name changes and removals %#x of the rest",
                     what, keep, mask);
            ok = check_image(img, ack->last, ack->snap, ack->hs_term, w);
        }
    }
    return ok;
}

/* begin seeds the random stream (tu_seed(seed_name)), makes root (a temporary directory
 * named after prefix, 512 bytes) and run_dir in it (600 bytes), and runs the workload once
 * without a cut: returns its number of wrapped calls. */
static long begin(const char *seed_name, const char *prefix, char *root, char *run_dir,
                  struct acked *ack)
{
    uint64_t seed = tu_seed(seed_name);
    rng = seed ? seed : 1;
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(root, 512, prefix), 0);
    snprintf(run_dir, 600, "%s/run", root);
    CU_ASSERT_EQUAL_FATAL(mkdir(run_dir, 0755), 0);
    long total = run(run_dir, 0, 0, ack);
    CU_ASSERT_FATAL(total > 100);
    return total;
}

static void powercut_everywhere(const char *seed_name)
{
    char root[512], run_dir[600], img[700], what[200];
    struct acked ack;
    long total = begin(seed_name, "lt-walcut", root, run_dir, &ack);
    long failures = 0;
    for (long cut = 1; cut <= total && failures < 5; cut++) {
        tu_rmrf(run_dir);
        CU_ASSERT_EQUAL_FATAL(mkdir(run_dir, 0755), 0);
        run(run_dir, cut, 0, &ack);
        CU_ASSERT_FATAL(cut_taken);
        wdir[0] = 0; /* nothing watched from here on */
        snprintf(img, sizeof(img), "%s/img%ld", root, cut);
        snprintf(what, sizeof(what), "cut at call %ld of %ld (acknowledged at %ld)", cut, total,
                 ack.at);
        bool ok = unordered_unlinks ? check_unordered(img, &ack, what)
                                    : check_image(img, ack.last, ack.snap, ack.hs_term, what);
        failures += !ok;
        CU_ASSERT(ok);
    }
    disk_free(&disk);
    disk_free(&frozen);
    tu_rmrf(root);
}

static void test_powercut_everywhere(void)
{
    powercut_everywhere("wal_powercut");
}

/* The same where a compaction removes several segments at once, and the removals reach the
 * disk in any order: one left behind after an older one removed must not read as a segment
 * missing from the log (a false "corrupt": the node would refuse to start). */
static void test_powercut_unordered_unlinks(void)
{
    unordered_unlinks = true;
    snap_every = 20;
    powercut_everywhere("wal_powercut_unordered");
    unordered_unlinks = false;
    snap_every = 9;
}

/* kill -9 at every call, a restart in the same boot (the page cache still holds what the
 * dead process wrote), then a power cut right after the restart's wal_open: what that open
 * recovered, the node counts persisted and acknowledges, so the cut must leave it all. */
static void test_kill_restart_powercut(void)
{
    char root[512], run_dir[600], img[700], what[200];
    struct acked ack;
    long total = begin("wal_kill_restart_powercut", "lt-walkill", root, run_dir, &ack);
    long failures = 0;
    for (long kill = 1; kill <= total && failures < 5; kill++) {
        tu_rmrf(run_dir);
        CU_ASSERT_EQUAL_FATAL(mkdir(run_dir, 0755), 0);
        run(run_dir, 0, kill, &ack); /* killed: wdir stays watched, the model goes on */
        struct wal_options opt;
        wal_opts(&opt);
        struct wal *w;
        struct wal_recovered rec;
        CU_ASSERT_EQUAL_FATAL(wal_open(wdir, &opt, &w, &rec), 0); /* the restart */
        uint64_t last = rec.last_index, snap = rec.snapshot.index, term = rec.hs.term;
        wal_recovered_fini(&rec);
        disk_copy(&frozen, &disk); /* the cut, right after the restart's open */
        frozen.n_ops = (size_t)rnd(disk.n_ops + 1);
        wal_free(w);
        wdir[0] = 0;
        snprintf(img, sizeof(img), "%s/img%ld", root, kill);
        snprintf(what, sizeof(what), "killed at call %ld of %ld, restarted, cut", kill, total);
        bool ok = check_image(img, last, snap, term, what);
        failures += !ok;
        CU_ASSERT(ok);
    }
    disk_free(&disk);
    disk_free(&frozen);
    tu_rmrf(root);
}

static const struct lt_test powercut_tests[] = {
    {"a power cut at every call: nothing acknowledged lost, no false corruption",
     test_powercut_everywhere},
    {"the removals of a compaction reaching the disk in any order: no false corruption",
     test_powercut_unordered_unlinks},
    {"kill -9 at every call, restart, power cut: what the restart recovered survives",
     test_kill_restart_powercut},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"wal_powercut", NULL, NULL, powercut_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
