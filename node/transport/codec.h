/* codec.h — the raft wire codec: struct raft_msg (raft.h) ⇄ lithair.raft.v1.Batch
 * (raft.proto). The only place that knows how a raft message looks on the wire.
 *
 * Snapshot data never passes through the raft core: a MSG_SNAPSHOT on the wire may carry
 * one chunk of the snapshot file (offset, bytes, done), which the codec hands to the
 * caller beside the message. */
#ifndef CODEC_H
#define CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft.h"

/* One chunk of a snapshot file travelling with a MSG_SNAPSHOT. */
struct codec_chunk {
    uint64_t offset;
    const void *data;
    size_t len;
    bool done;      /* the last chunk */
    uint64_t total; /* the whole file's size (SnapshotMeta.size), 0 if the sender did not say */
};

/* codec_batch_size returns the encoded size of `n` messages as one Batch. `chunks` may be
 * NULL, or hold one chunk per message (NULL entries for none). */
size_t codec_batch_size(const struct raft_msg *const *msgs, const struct codec_chunk *const *chunks,
                        size_t n);

/* codec_batch_encode writes the Batch into `buf` (at least codec_batch_size() bytes) and
 * returns the number of bytes written, or 0 if out of memory. */
size_t codec_batch_encode(const struct raft_msg *const *msgs,
                          const struct codec_chunk *const *chunks, size_t n, uint8_t *buf);

/* codec_batch_encode_alloc builds the Batch once, asks `alloc` for a buffer of exactly
 * its size and packs into it: the transport's one-pass path. Returns the size, or 0 if
 * out of memory or `alloc` returned NULL. */
size_t codec_batch_encode_alloc(const struct raft_msg *const *msgs,
                                const struct codec_chunk *const *chunks, size_t n,
                                uint8_t *(*alloc)(void *ud, size_t len), void *ud);

/* What a Batch says of its sender besides its messages (raft.proto's Batch). */
struct codec_stamp {
    uint64_t cluster;   /* its cluster id; 0: none yet */
    bool disk_low;      /* its disk is below its --min-free-mb */
    uint64_t disk_free; /* its data dir's free bytes (0: unknown) */
};

/* codec_batch_encode_stamped: codec_batch_encode_alloc, the Batch stamped with `stamp`. */
size_t codec_batch_encode_stamped(const struct raft_msg *const *msgs,
                                  const struct codec_chunk *const *chunks, size_t n,
                                  const struct codec_stamp *stamp,
                                  uint8_t *(*alloc)(void *ud, size_t len), void *ud);

/* Called once per decoded message; `chunk` is NULL unless the message carries snapshot
 * bytes. Everything passed is valid only during the call. A non-zero return stops the
 * decoding and is returned by codec_batch_decode. */
typedef int (*codec_msg_fn)(void *arg, const struct raft_msg *m, const struct codec_chunk *chunk);

/* codec_batch_decode decodes a Batch and calls `fn` for each message in order.
 * Returns 0, LT_ECORRUPT for bytes that are not a valid Batch, LT_ENOMEM, or fn's value. */
int codec_batch_decode(const void *buf, size_t len, codec_msg_fn fn, void *arg);

/* Called once per Batch, before its messages, with its stamp. A non-zero return skips
 * the whole Batch and is returned by codec_batch_decode_stamped. */
typedef int (*codec_batch_fn)(void *arg, const struct codec_stamp *stamp);

/* codec_batch_decode_stamped: codec_batch_decode, with `on_batch` (may be NULL) first. */
int codec_batch_decode_stamped(const void *buf, size_t len, codec_batch_fn on_batch,
                               codec_msg_fn fn, void *arg);

#endif
