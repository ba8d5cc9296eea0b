/* ident.h — a data dir's identity: which node wrote it, among which members, in which
 * cluster. One small text file, <data dir>/IDENTITY, written atomically (temp file,
 * fsync, rename, fsync of the directory) when the data dir is first used and again once
 * the cluster's id is known; checked at every start, so that a node never runs on another
 * node's or another cluster's data, or with a --peer list other than the one its data
 * were written with — each of which can lose acknowledged writes without a word.
 *
 *   # lithair-node data dir identity: checked at every start; do not edit
 *   id 2
 *   members 1,2,3
 *   cluster 9f3c2a0b1d4e5f60
 *
 * `members` is sorted; `cluster` is 16 hex digits, 0 until the cluster has agreed on an
 * id (the first leader proposes one through the log; see node.c). Errors are lt_err
 * codes. */
#ifndef IDENT_H
#define IDENT_H

#include <stddef.h>
#include <stdint.h>

#include "raft.h"

#define IDENT_FILE "IDENTITY"

struct ident {
    uint64_t id;
    uint64_t members[RAFT_MAX_NODES]; /* sorted, no duplicates */
    size_t n_members;
    uint64_t cluster; /* 0: not agreed yet */
};

/* ident_set_members copies `n` member ids into `id`, sorted (n <= RAFT_MAX_NODES). */
void ident_set_members(struct ident *id, const uint64_t *members, size_t n);

/* ident_read reads <dir>/IDENTITY: 0; LT_ENOTFOUND if there is none; LT_ECORRUPT with a
 * description in errbuf if it does not parse; LT_EIO if it cannot be read. */
int ident_read(const char *dir, struct ident *out, char *errbuf, size_t errlen);

/* ident_write replaces <dir>/IDENTITY atomically and durably. */
int ident_write(const char *dir, const struct ident *id);

/* ident_format_members writes "1,2,3" into buf. */
void ident_format_members(const struct ident *id, char *buf, size_t len);

#endif
