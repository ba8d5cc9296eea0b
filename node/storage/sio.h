/* sio.h — the storage layer's few system calls, with error mapping and fault injection.
 *
 * Every write, fsync, rename and unlink of the WAL and of snapshots goes through here, so
 * a test can make the n-th next operation fail (sio_fault_arm) and check that the error
 * is returned and nothing is half-applied. A failing write writes about half of its bytes
 * first, like a disk that fills up mid-way. Not a general file library: internal to
 * node/storage. Errors are lt_err codes: ENOSPC/EDQUOT map to LT_ENOSPACE, everything
 * else to LT_EIO. */
#ifndef SIO_H
#define SIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* sio_fault_arm makes the `countdown`-th next I/O operation (1 = the very next) fail with
 * `err` (an lt_err code); 0 disarms. Process-wide; for tests only. */
void sio_fault_arm(int countdown, int err);

/* sio_fault_fired tells how many injected faults have fired since the process started. */
unsigned sio_fault_fired(void);

/* sio_fault_last_op names the operation the last injected fault failed ("write",
 * "fdatasync", "fsync", "ftruncate", "rename", "unlink", "fsync_dir", "sync_file_range");
 * "" if none. */
const char *sio_fault_last_op(void);

/* sio_delay_arm makes every fdatasync from now on take `ms` milliseconds longer (a slow
 * disk); 0 disarms. Process-wide; for tests only. */
void sio_delay_arm(unsigned ms);

/* sio_err maps an errno value to an lt_err code. */
int sio_err(int errnum);

int sio_pwritev_all(int fd, const struct iovec *iov, int iovcnt, uint64_t off);
int sio_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/* sio_pread_all reads up to len bytes at off; *got is short only at end of file. */
int sio_pread_all(int fd, void *buf, size_t len, uint64_t off, size_t *got);
int sio_fdatasync(int fd);
int sio_fsync(int fd);
int sio_ftruncate(int fd, uint64_t len);
/* sio_sync_file_range starts or waits for writeback of a range (sync_file_range(2)): a hint,
 * but its error is not. A writeback error is reported once per open file, to whichever call
 * waits for writeback first (sync_file_range with a WAIT flag, fsync, fdatasync): after
 * this one said it, the file's fsync returns 0 with the pages not on disk. So an error
 * here is the file's write failing. Returns 0 where the call is not supported. */
int sio_sync_file_range(int fd, uint64_t off, uint64_t len, unsigned flags);
int sio_rename(const char *from, const char *to);
int sio_unlink(const char *path);
/* sio_fsync_dir makes the directory's entries (created, renamed, deleted files) durable. */
int sio_fsync_dir(const char *dir);
/* sio_mkdir creates `dir` if missing (its parent must exist) and fsyncs the parent, also
 * when `dir` existed (its entry may be a killed process's, never synced). */
int sio_mkdir(const char *dir);

#endif
