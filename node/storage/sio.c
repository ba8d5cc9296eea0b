/* sio.c — system calls with error mapping, countdown fault injection and a slow-disk
 * delay for tests (see sio.h). */
#include "sio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lt_err.h"

static _Atomic int sio_countdown;
static _Atomic int sio_fault_code = LT_EIO;
static _Atomic unsigned sio_fired;
static _Atomic(const char *) sio_fired_op = "";
static _Atomic unsigned sio_delay_ms;

void sio_delay_arm(unsigned ms)
{
    atomic_store(&sio_delay_ms, ms);
}

void sio_fault_arm(int countdown, int err)
{
    atomic_store(&sio_fault_code, err ? err : LT_EIO);
    atomic_store(&sio_countdown, countdown > 0 ? countdown : 0);
}

unsigned sio_fault_fired(void)
{
    return atomic_load(&sio_fired);
}

const char *sio_fault_last_op(void)
{
    return atomic_load(&sio_fired_op);
}

/* sio_fault_hit returns the injected error if this operation is the one to fail, else 0. */
static int sio_fault_hit(const char *op)
{
    int c = atomic_load(&sio_countdown);
    while (c > 0) {
        if (atomic_compare_exchange_weak(&sio_countdown, &c, c - 1)) {
            if (c == 1) {
                atomic_store(&sio_fired_op, op);
                atomic_fetch_add(&sio_fired, 1);
                return atomic_load(&sio_fault_code);
            }
            return 0;
        }
    }
    return 0;
}

int sio_err(int errnum)
{
    switch (errnum) {
    case ENOSPC:
    case EDQUOT:
        return LT_ENOSPACE;
    case ENOMEM:
        return LT_ENOMEM;
    case EACCES: /* a data directory the node may not write: said so, not "I/O error" */
    case EPERM:
    case EROFS:
        return LT_EPERM;
    default:
        return LT_EIO;
    }
}

int sio_pwritev_all(int fd, const struct iovec *iov, int iovcnt, uint64_t off)
{
    int fault = sio_fault_hit("write");
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    size_t limit = fault ? total / 2 : total; /* a failing write lands half of its bytes */
    size_t done = 0;
    int i = 0;
    size_t in = 0; /* bytes of iov[i] already written */
    while (done < limit) {
        struct iovec v[64];
        int n = 0;
        size_t room = limit - done;
        for (int j = i; j < iovcnt && n < 64 && room > 0; j++) {
            size_t skip = j == i ? in : 0;
            size_t len = iov[j].iov_len - skip;
            if (len > room)
                len = room;
            if (len == 0)
                continue;
            v[n].iov_base = (char *)iov[j].iov_base + skip;
            v[n].iov_len = len;
            room -= len;
            n++;
        }
        ssize_t w = pwritev(fd, v, n, (off_t)(off + done));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return sio_err(errno);
        }
        done += (size_t)w;
        size_t adv = (size_t)w;
        while (adv > 0 && i < iovcnt) {
            size_t left = iov[i].iov_len - in;
            if (adv >= left) {
                adv -= left;
                i++;
                in = 0;
            } else {
                in += adv;
                adv = 0;
            }
        }
        while (i < iovcnt && iov[i].iov_len == in) {
            i++;
            in = 0;
        }
    }
    return fault;
}

int sio_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
    return sio_pwritev_all(fd, &v, 1, off);
}

int sio_pread_all(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return sio_err(errno);
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

int sio_fdatasync(int fd)
{
    int fault = sio_fault_hit("fdatasync");
    if (fault)
        return fault;
    unsigned delay = atomic_load(&sio_delay_ms);
    if (delay) {
        struct timespec ts = {.tv_sec = delay / 1000, .tv_nsec = (long)(delay % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    return fdatasync(fd) == 0 ? 0 : sio_err(errno);
}

int sio_fsync(int fd)
{
    int fault = sio_fault_hit("fsync");
    if (fault)
        return fault;
    return fsync(fd) == 0 ? 0 : sio_err(errno);
}

int sio_ftruncate(int fd, uint64_t len)
{
    int fault = sio_fault_hit("ftruncate");
    if (fault)
        return fault;
    return ftruncate(fd, (off_t)len) == 0 ? 0 : sio_err(errno);
}

int sio_sync_file_range(int fd, uint64_t off, uint64_t len, unsigned flags)
{
    int fault = sio_fault_hit("sync_file_range");
    if (fault)
        return fault;
    if (sync_file_range(fd, (off_t)off, (off_t)len, flags) == 0)
        return 0;
    if (errno == ENOSYS || errno == ESPIPE || errno == EOPNOTSUPP)
        return 0; /* not supported here: nothing was started or waited for */
    return sio_err(errno);
}

int sio_rename(const char *from, const char *to)
{
    int fault = sio_fault_hit("rename");
    if (fault)
        return fault;
    return rename(from, to) == 0 ? 0 : sio_err(errno);
}

int sio_unlink(const char *path)
{
    int fault = sio_fault_hit("unlink");
    if (fault)
        return fault;
    if (unlink(path) == 0 || errno == ENOENT)
        return 0;
    return sio_err(errno);
}

int sio_fsync_dir(const char *dir)
{
    int fault = sio_fault_hit("fsync_dir");
    if (fault)
        return fault;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sio_err(errno);
    int rc = fsync(fd) == 0 ? 0 : sio_err(errno);
    close(fd);
    return rc;
}

/* sio_fsync_parent fsyncs the directory that holds `dir`. */
static int sio_fsync_parent(const char *dir)
{
    char parent[4096];
    int n = snprintf(parent, sizeof(parent), "%s", dir);
    if (n <= 0 || (size_t)n >= sizeof(parent))
        return LT_EINVAL;
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof(parent), ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    return sio_fsync_dir(parent);
}

int sio_mkdir(const char *dir)
{
    if (mkdir(dir, 0755) == 0)
        return sio_fsync_parent(dir); /* make the new directory's entry durable */
    if (errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return LT_EINVAL;
        /* Synced too when it exists: a process killed between its mkdir and the parent's
         * fsync left an entry that is not durable, and what goes into it now is. A parent
         * this process may not open (no read permission: it did not create `dir` there) is
         * left as before. */
        int rc = sio_fsync_parent(dir);
        return rc == LT_EPERM ? 0 : rc;
    }
    return sio_err(errno);
}
