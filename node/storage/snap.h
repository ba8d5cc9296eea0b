/* snap.h — snapshot files: the state machine's serialized state at a log index, written
 * atomically, verified on load, shipped to followers in chunks.
 *
 * A snapshot is one file "snap-<index:016x>-<term:016x>.snap" in a directory: a 128-byte
 * header (magic, version, meta = index, term and voters, data size, CRC32C of the data,
 * CRC32C of the header) followed by the data. Files are written under a ".tmp" name,
 * fsync'ed, renamed and the directory fsync'ed, so a crash leaves either the whole new
 * snapshot or none (plus a temp file that snap_clean_tmp and every listing ignore).
 * Data streams in and out in pieces: a 1 GiB snapshot is never held in memory.
 * What it is not: the serializer (the store writes its own bytes through snap_writer)
 * nor the WAL's snapshot marker (wal_save_snapshot). Errors are lt_err codes; any
 * mismatch in a file is LT_ECORRUPT. Not thread-safe per object. */
#ifndef SNAP_H
#define SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft.h"

#define SNAP_DEFAULT_KEEP 2   /* snapshots kept by a commit when keep == 0 */
#define SNAP_HDR_SIZE     128 /* bytes before the data in every snapshot file */
#define SNAP_NAME_MAX     64

struct snap_info {
    struct raft_snapshot_meta meta;
    uint64_t data_size;       /* 0 if only the name was read (snap_list) */
    uint64_t file_size;       /* SNAP_HDR_SIZE + data_size */
    char name[SNAP_NAME_MAX]; /* file name inside the directory */
};

/* snap_path writes "<dir>/<name>" into out; LT_EINVAL if it does not fit. */
int snap_path(const char *dir, const char *name, char *out, size_t n);

/* snap_list lists the snapshot files in `dir` by name, newest (highest index) first,
 * without reading them. *out is a malloc'ed array the caller frees (NULL if n == 0). */
int snap_list(const char *dir, struct snap_info **out, size_t *n);

/* snap_verify reads the whole file at `path`, checking header, size and CRCs. */
int snap_verify(const char *path, struct snap_info *info);

/* snap_newest finds the newest snapshot in `dir` that verifies; damaged ones are logged
 * and skipped (never deleted). LT_ENOTFOUND if there is none. */
int snap_newest(const char *dir, struct snap_info *info);

/* snap_retain deletes all but the newest `keep` snapshots (keep >= 1). */
int snap_retain(const char *dir, unsigned keep);

/* snap_clean_tmp deletes the temp files of interrupted writes and receives, and syncs the
 * directory (also when there was none): run at a start before anything relies on the
 * snapshots found, it makes their names durable — a process killed between a snapshot's
 * rename and the directory's fsync left one that a power cut could still take away. */
int snap_clean_tmp(const char *dir);

/* Writing a local snapshot: begin, write the data in any number of pieces, then commit
 * (durable, then older snapshots beyond `keep` are deleted) or abort (temp removed).
 * commit and abort always free the writer; on a commit error the temp file is removed. */
struct snap_writer;
int snap_writer_begin(const char *dir, const struct raft_snapshot_meta *meta,
                      struct snap_writer **out);
int snap_writer_write(struct snap_writer *sw, const void *buf, size_t len);
int snap_writer_commit(struct snap_writer *sw, unsigned keep, struct snap_info *info);
void snap_writer_abort(struct snap_writer *sw);

/* Reading: snap_reader_open verifies the whole file first (so the caller never restores
 * from a damaged snapshot), then snap_reader_read streams the data; *n == 0 at the end.
 * The data is checksummed again while streaming; a mismatch at the end is LT_ECORRUPT. */
struct snap_reader;
int snap_reader_open(const char *path, struct snap_reader **out, struct snap_info *info);
/* snap_reader_open_trusted is snap_reader_open for a file verified moments ago
 * (snap_newest, a completed receive): header and size are checked, the data only by the
 * streaming checksum — a large snapshot is then read once instead of twice. The caller
 * must treat what it read as unusable until the last read succeeded. */
int snap_reader_open_trusted(const char *path, struct snap_reader **out, struct snap_info *info);
int snap_reader_read(struct snap_reader *sr, void *buf, size_t cap, size_t *n);
void snap_reader_free(struct snap_reader *sr);

/* Mapping: snap_map_open maps a snapshot file read-only, for a reader that keeps pointing
 * into it (store_snapshot_load) instead of copying a large snapshot into memory. Header
 * and size are checked; the data's checksum is NOT: the caller must check the data before
 * trusting any of it (the store's snapshot format ends with its own CRC32C over all of
 * it). The mapping outlives the file (a snapshot deleted by compaction stays readable, its
 * disk space held) until snap_map_free. Snapshot files are never written in place, so the
 * mapped bytes never change. */
struct snap_map;
int snap_map_open(const char *path, struct snap_map **out, struct snap_info *info);
const void *snap_map_data(const struct snap_map *m);
size_t snap_map_len(const struct snap_map *m);
void snap_map_free(struct snap_map *m);

/* snap_chunk_read reads raw file bytes (header included) at `offset` for shipping to a
 * follower: *n bytes (0 at the end), *file_size the total to send. */
int snap_chunk_read(const char *path, uint64_t offset, void *buf, size_t cap, size_t *n,
                    uint64_t *file_size);
/* snap_chunk_pread is snap_chunk_read on a file already open: a transfer opens its file
 * once, so that a newer snapshot retiring it (unlink) cannot cut the transfer short. */
int snap_chunk_pread(int fd, uint64_t offset, void *buf, size_t cap, size_t *n,
                     uint64_t *file_size);

/* Receiving a snapshot file from the leader: chunks of the raw file arrive in order
 * (a chunk already received is ignored; a gap is LT_EINVAL); with done == true the last
 * chunk is written, the file verified against `meta` (LT_ECORRUPT on any mismatch) and
 * committed like a local snapshot, keeping `keep`. snap_recv_commit does that last step
 * alone, after the last chunk was written with done == false (on another thread, say: it
 * reads the whole file and syncs it). A failed write or commit is final: every later call
 * returns its error. snap_recv_free removes an unfinished temp file. */
struct snap_receiver;
int snap_recv_begin(const char *dir, const struct raft_snapshot_meta *meta, unsigned keep,
                    struct snap_receiver **out);
int snap_recv_chunk(struct snap_receiver *rv, uint64_t offset, const void *data, size_t len,
                    bool done);
int snap_recv_commit(struct snap_receiver *rv);
/* snap_recv_info returns the committed snapshot's info (after done succeeded). */
const struct snap_info *snap_recv_info(const struct snap_receiver *rv);
void snap_recv_free(struct snap_receiver *rv);

#endif
