/* test_storage_crash.c — the WAL against a model under random operations and crashes.
 *
 * A seeded random run appends (often replacing a suffix), saves hard states and snapshot
 * markers, syncs, compacts, injects I/O faults, and "crashes": the WAL is dropped without
 * a sync and the last segment is cut at a random length — past the last sync (an
 * unsynced tail: everything synced must come back) or inside the last synced batch (a
 * torn batch: exactly the state before it must come back). After every crash the
 * recovered log, snapshot marker and hard state must equal the model's. Replay a failure
 * with LT_SEED=<seed>. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cunit_main.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "sio.h"
#include "testutil.h"
#include "wal.h"

#define MAXI 60000

struct model {
    uint64_t terms[MAXI]; /* terms[i]: term of entry i, for base < i <= last */
    uint64_t last;
    struct raft_snapshot_meta base;
    struct raft_hard_state hs;
};

static uint64_t rng;

static uint64_t rnd(uint64_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return n ? rng % n : 0;
}

static size_t entry_data(uint64_t index, uint64_t term, unsigned char *buf)
{
    size_t len = (size_t)((index * 13 + term * 3) % 211);
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(index * 17 + term * 5 + i);
    return len;
}

static char wdir[600];

static void last_segment(char *path, size_t n)
{
    DIR *d = opendir(wdir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char best[300] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".wal") == 0 && strcmp(de->d_name, best) > 0)
            snprintf(best, sizeof(best), "%s", de->d_name);
    }
    closedir(d);
    CU_ASSERT_FATAL(best[0] != 0);
    snprintf(path, n, "%s/%s", wdir, best);
}

static void check_recovered(const struct wal_recovered *rec, const struct model *m)
{
    CU_ASSERT_EQUAL_FATAL(rec->snapshot.index, m->base.index);
    CU_ASSERT_EQUAL(rec->snapshot.term, m->base.term);
    CU_ASSERT_EQUAL(rec->snapshot.conf.n_voters, m->base.conf.n_voters);
    CU_ASSERT_EQUAL_FATAL(rec->last_index, m->last);
    CU_ASSERT_EQUAL_FATAL(rec->n_entries, m->last - m->base.index);
    CU_ASSERT_EQUAL(rec->hs.term, m->hs.term);
    CU_ASSERT_EQUAL(rec->hs.vote, m->hs.vote);
    CU_ASSERT_EQUAL(rec->hs.commit, m->hs.commit);
    unsigned char buf[256];
    for (size_t k = 0; k < rec->n_entries; k++) {
        const struct raft_entry *e = &rec->entries[k];
        uint64_t i = m->base.index + 1 + k;
        CU_ASSERT_EQUAL_FATAL(e->index, i);
        CU_ASSERT_EQUAL_FATAL(e->term, m->terms[i]);
        size_t len = entry_data(i, e->term, buf);
        CU_ASSERT_EQUAL_FATAL(e->data.len, len);
        CU_ASSERT_FATAL(len == 0 || memcmp(e->data.base, buf, len) == 0);
    }
}

/* rec_matches tells whether rec equals the model (without asserting). */
static bool rec_matches(const struct wal_recovered *rec, const struct model *m)
{
    if (rec->snapshot.index != m->base.index || rec->last_index != m->last ||
        rec->hs.term != m->hs.term || rec->hs.vote != m->hs.vote ||
        rec->hs.commit != m->hs.commit || rec->n_entries != m->last - m->base.index)
        return false;
    for (size_t k = 0; k < rec->n_entries; k++) {
        if (rec->entries[k].term != m->terms[m->base.index + 1 + k])
            return false;
    }
    return true;
}

static bool same_model(const struct model *a, const struct model *b)
{
    if (a->last != b->last || a->base.index != b->base.index || a->hs.term != b->hs.term ||
        a->hs.commit != b->hs.commit || a->hs.vote != b->hs.vote)
        return false;
    for (uint64_t i = a->base.index + 1; i <= a->last; i++) {
        if (a->terms[i] != b->terms[i])
            return false;
    }
    return true;
}

static struct model cur, durable, prev, attempt;

/* The newest snapshot file: written (durable) before its WAL marker, passed at every open,
 * so a crash between the two is recovered by the WAL applying it (Raft §7). */
static struct raft_snapshot_meta snapfile;

/* with_snapfile returns m as recovery must see it: with the newest snapshot applied. */
static struct model *with_snapfile(const struct model *m)
{
    static struct model out;
    out = *m;
    const struct raft_snapshot_meta *s = &snapfile;
    if (s->index > out.base.index) {
        if (!(s->index <= out.last && out.terms[s->index] == s->term))
            out.last = s->index;
        out.base = *s;
    }
    return &out;
}

static void test_random_crashes(void)
{
    char tdir[512];
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(tdir, sizeof(tdir), "lt-walcrash"), 0);
    snprintf(wdir, sizeof(wdir), "%s/wal", tdir);
    rng = tu_seed("wal crash") * 2 + 1;
    struct wal_options opt;
    wal_options_default(&opt);
    /* The model locates batches by file size: no zeros ahead here (their recovery is the
     * zero-filled-tail rule, covered by test_wal's preallocation and zero-tail tests). */
    opt.zero_ahead = 0;
    opt.segment_size = 1024 + rnd(8192);
    opt.max_pending = rnd(2) ? 400 : 1u << 20;
    memset(&cur, 0, sizeof(cur));
    memset(&snapfile, 0, sizeof(snapfile));
    opt.snapshot = &snapfile;
    durable = prev = cur;
    struct wal *w;
    struct wal_recovered rec;
    CU_ASSERT_EQUAL_FATAL(wal_open(wdir, &opt, &w, &rec), 0);
    wal_recovered_fini(&rec);
    /* As a node's: a hard state of term 1 or more before any snapshot (wal_open refuses a
     * snapshot beside a log without one: its records were lost) */
    cur.hs.term = 1;
    CU_ASSERT_EQUAL_FATAL(wal_save_hard_state(w, &cur.hs), 0);
    CU_ASSERT_EQUAL_FATAL(wal_sync(w), 0);
    durable = prev = cur;
    char seg[700], prev_seg[700] = "";
    long long durable_size = 0, prev_size = -1;
    last_segment(seg, sizeof(seg));
    durable_size = tu_file_size(seg);
    bool compacted_since_prev = false;
    uint64_t cur_term = 1;
    unsigned crashes = 0, torn = 0, faults = 0;
    uint64_t deadline = lt_now_ns() + 20ull * 1000000000ull;
    struct raft_entry e[32];
    unsigned char data[32][256];

    for (int step = 0; step < 4000 && lt_now_ns() < deadline; step++) {
        unsigned op = (unsigned)rnd(100);
        if (op < 45 && cur.last + 40 < MAXI) { /* append, sometimes replacing a suffix */
            uint64_t start = cur.last + 1;
            if (rnd(5) == 0 && cur.last > cur.base.index) {
                uint64_t back = 1 + rnd(cur.last - cur.base.index);
                start = cur.last + 1 - (back < 12 ? back : 12);
                cur_term++;
            }
            size_t n = 1 + (size_t)rnd(20);
            for (size_t k = 0; k < n; k++) {
                e[k].index = start + k;
                e[k].term = cur_term;
                e[k].type = RAFT_ENTRY_NORMAL;
                e[k].data.len = entry_data(start + k, cur_term, data[k]);
                e[k].data.base = data[k];
            }
            CU_ASSERT_EQUAL_FATAL(wal_append(w, e, n), 0);
            for (size_t k = 0; k < n; k++)
                cur.terms[start + k] = cur_term;
            cur.last = start + n - 1;
        } else if (op < 55) { /* hard state */
            cur.hs.term = cur_term;
            cur.hs.vote = rnd(4);
            cur.hs.commit = cur.last;
            CU_ASSERT_EQUAL_FATAL(wal_save_hard_state(w, &cur.hs), 0);
        } else if (op < 62) { /* snapshot marker: local (matching) or installed */
            struct raft_snapshot_meta m = {0};
            m.conf.n_voters = 1 + (size_t)rnd(5);
            for (size_t k = 0; k < m.conf.n_voters; k++)
                m.conf.voters[k] = k + 1;
            if (rnd(4) != 0 && cur.last > cur.base.index) {
                m.index = cur.base.index + 1 + rnd(cur.last - cur.base.index);
                m.term = cur.terms[m.index];
            } else if (cur.last + 60 < MAXI) {
                m.index = cur.base.index + 1 + rnd(cur.last - cur.base.index + 50);
                m.term = ++cur_term;
            } else {
                continue;
            }
            snapfile = m; /* the snapshot file is durable before its marker is synced */
            CU_ASSERT_EQUAL_FATAL(wal_save_snapshot(w, &m), 0);
            if (!(m.index <= cur.last && cur.terms[m.index] == m.term))
                cur.last = m.index;
            cur.base = m;
        } else if (op < 90) { /* sync, sometimes with an injected fault */
            bool fault = rnd(12) == 0;
            attempt = cur;
            if (fault)
                sio_fault_arm(1 + (int)rnd(4), LT_EIO);
            unsigned fired = sio_fault_fired();
            int rc = wal_sync(w);
            sio_fault_arm(0, 0);
            if (rc) {
                CU_ASSERT_EQUAL_FATAL(rc, LT_EIO);
                CU_ASSERT_FATAL(sio_fault_fired() != fired);
                faults++;
                wal_free(w);
                CU_ASSERT_EQUAL_FATAL(wal_open(wdir, &opt, &w, &rec), 0);
                /* the failed batch is wholly absent or wholly present */
                struct model got = rec_matches(&rec, with_snapfile(&durable))
                                       ? *with_snapfile(&durable)
                                       : *with_snapfile(&attempt);
                check_recovered(&rec, &got);
                wal_recovered_fini(&rec);
                cur = durable = prev = got;
                CU_ASSERT_FATAL(same_model(&durable, &got));
                last_segment(seg, sizeof(seg));
                durable_size = tu_file_size(seg);
                prev_size = -1;
                continue;
            }
            prev = durable;
            durable = cur;
            last_segment(seg, sizeof(seg));
            prev_size = strcmp(seg, prev_seg) == 0 ? durable_size : -1;
            snprintf(prev_seg, sizeof(prev_seg), "%s", seg);
            durable_size = tu_file_size(seg);
            compacted_since_prev = false;
            if (rnd(3) == 0) {
                CU_ASSERT_EQUAL_FATAL(wal_compact(w, durable.base.index), 0);
                compacted_since_prev = true;
            }
        } else { /* crash */
            wal_free(w);
            crashes++;
            last_segment(seg, sizeof(seg));
            long long size = tu_file_size(seg);
            struct model *expect = &durable;
            unsigned how = (unsigned)rnd(10);
            if (how < 4 && size > durable_size) {
                CU_ASSERT_EQUAL_FATAL(
                    truncate(seg, durable_size + (long long)rnd((uint64_t)(size - durable_size))),
                    0);
            } else if (how < 7 && prev_size >= 0 && prev_size < durable_size &&
                       !compacted_since_prev) {
                CU_ASSERT_EQUAL_FATAL(
                    truncate(seg, prev_size + (long long)rnd((uint64_t)(durable_size - prev_size))),
                    0);
                expect = &prev;
                torn++;
            }
            expect = with_snapfile(expect);
            CU_ASSERT_EQUAL_FATAL(wal_open(wdir, &opt, &w, &rec), 0);
            check_recovered(&rec, expect);
            wal_recovered_fini(&rec);
            cur = durable = prev = *expect;
            cur_term = cur_term > cur.hs.term ? cur_term : cur.hs.term;
            last_segment(seg, sizeof(seg));
            snprintf(prev_seg, sizeof(prev_seg), "%s", seg);
            durable_size = tu_file_size(seg);
            prev_size = -1;
        }
    }
    wal_free(w);
    CU_ASSERT_EQUAL_FATAL(wal_open(wdir, &opt, &w, &rec), 0);
    check_recovered(&rec, with_snapfile(&durable));
    wal_recovered_fini(&rec);
    wal_free(w);
    fprintf(stderr,
            "wal crash: %u crashes (%u torn batches), %u injected faults, last index %llu\n",
            crashes, torn, faults, (unsigned long long)durable.last);
    CU_ASSERT(crashes > 10);
    tu_rmrf(tdir);
}

static const struct lt_test crash_tests[] = {
    {"random operations, crashes, torn batches and faults match the model", test_random_crashes},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"wal_crash", NULL, NULL, crash_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
