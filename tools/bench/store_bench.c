/* store_bench.c — the state machine's own costs, without consensus, network or WAL:
 * applying N creates of 1 KiB items (the node's apply loop), writing a snapshot of the
 * store through the real snapshot file writer, and restoring a fresh store from that file
 * the way a restarting node does (map the newest file, load it in place, rebuild). It
 * prints figures and asserts nothing beyond the restored store's digest matching the original.
 *
 * Usage: store_bench [--items N] [--value-size B] [--dir DIR] [--keep]
 *                    [--restore-only [--tail N [--bulk]]]
 * What it is not: a test (tests/unit/test_store.c is), or the cluster's figures
 * (tools/bench/cluster_bench.py). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lt_clock.h"
#include "lt_err.h"
#include "model.pb-c.h"
#include "models.h"
#include "snap.h"
#include "store.h"

static int bench_snap_write(void *ctx, const void *buf, size_t len)
{
    return snap_writer_write(ctx, buf, len);
}

static double bench_secs(uint64_t t0)
{
    return (double)(lt_now_ns() - t0) / 1e9;
}

static long bench_rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib / 1024;
}

static void bench_unmap(void *map)
{
    snap_map_free(map);
}

/* bench_restore restores `s` from the newest snapshot in `dir` the way a restarting node
 * does (list the snapshots, map the newest, load it: the values stay in the mapped
 * file; its checksum is checked as it loads), prints the times and sets the restored
 * store's digest. */
static int bench_restore(const char *dir, struct store *s, uint64_t *digest, char *path,
                         size_t path_len)
{
    uint64_t t0 = lt_now_ns();
    struct snap_info *snaps = NULL;
    size_t n_snaps = 0;
    int rc = snap_list(dir, &snaps, &n_snaps);
    if (rc == 0 && n_snaps == 0)
        rc = LT_ENOTFOUND;
    double find_s = bench_secs(t0);
    if (rc == 0)
        rc = snap_path(dir, snaps[0].name, path, path_len);
    free(snaps);
    uint64_t t1 = lt_now_ns();
    struct snap_map *map = NULL;
    if (rc == 0)
        rc = snap_map_open(path, &map, NULL);
    double open_s = bench_secs(t1);
    t1 = lt_now_ns();
    if (rc == 0)
        rc = store_snapshot_load(s, snap_map_data(map), snap_map_len(map), bench_unmap, map);
    double read_s = bench_secs(t1);
    double restore_s = bench_secs(t0);
    if (rc != 0) {
        fprintf(stderr, "store_bench: restore from %s failed: %s\n", dir, lt_strerror(rc));
        return 1;
    }
    printf("  restore            %8.2f s  (list %.2f s, map %.2f s, load+rebuild "
           "%.2f s)  RSS %ld MiB\n",
           restore_s, find_s, open_s, read_s, bench_rss_mib());
    *digest = store_digest(s);
    return 0;
}

/* bench_creates prepares `count` creates of items named "<prefix>-<i % 64>-<i>" (as
 * `lithair-admin bench` names them: worker, then a counter shared by 64 workers) with
 * `value_size`-byte descriptions (the leader's work), then applies them to `s` at indexes
 * from `first` (every replica's work); it sets both phases' times. */
static int bench_creates(struct store *s, const struct model *m, uint64_t first, size_t count,
                         size_t value_size, const char *prefix, bool bulk, double *prep_s,
                         double *apply_s)
{
    char *desc = malloc(value_size + 1);
    uint8_t *pbuf = malloc(value_size + 256);
    struct model_prepared *cmds = calloc(count, sizeof(*cmds));
    if (!desc || !pbuf || !cmds) {
        fprintf(stderr, "store_bench: out of memory preparing %zu creates\n", count);
        free(desc);
        free(pbuf);
        free(cmds);
        return 1;
    }
    for (size_t i = 0; i < value_size; i++)
        desc[i] = (char)('a' + i % 26);
    desc[value_size] = '\0';
    int rc = 0;
    uint64_t t0 = lt_now_ns();
    size_t prepared = 0;
    for (; prepared < count; prepared++) {
        char name[64];
        snprintf(name, sizeof(name), "%s-%zu-%zu", prefix, prepared % 64, prepared);
        Lithair__V1__PlaygroundItem item = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
        item.name = name;
        item.description = desc;
        item.benchmark = 1;
        size_t len = lithair__v1__playground_item__get_packed_size(&item);
        lithair__v1__playground_item__pack(&item, pbuf);
        struct model_violations viol;
        memset(&viol, 0, sizeof(viol));
        if (models_prepare_create(m, pbuf, len, lt_wall_ns(), 1, &viol, &cmds[prepared]) != 0) {
            fprintf(stderr, "store_bench: prepare failed at %zu\n", prepared);
            rc = 1;
            break;
        }
    }
    *prep_s = bench_secs(t0);
    t0 = lt_now_ns();
    if (bulk && store_bulk_begin(s) != 0)
        fprintf(stderr, "store_bench: no bulk apply (applying as usual)\n");
    for (size_t i = 0; rc == 0 && i < count; i++) {
        struct store_result res;
        if (store_apply(s, first + i, 1, cmds[i].cmd, cmds[i].cmd_len, &res) != 0 ||
            res.code != 0) {
            fprintf(stderr, "store_bench: apply failed at %zu\n", i);
            rc = 1;
        }
        store_result_fini(&res);
    }
    store_bulk_end(s);
    *apply_s = bench_secs(t0);
    for (size_t i = 0; i < prepared; i++)
        models_prepared_fini(&cmds[i]);
    free(cmds);
    free(pbuf);
    free(desc);
    return rc;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: store_bench [--items N] [--value-size BYTES] [--dir DIR]\n"
                "  --items N          creates to apply (default 1000000)\n"
                "  --value-size B     description bytes per item (default 1024)\n"
                "  --dir DIR          where the snapshot file goes (default: a new dir in "
                "/tmp)\n"
                "  --keep             keep the snapshot file (and its dir) afterwards\n"
                "  --restore-only     only restore the newest snapshot in --dir (one kept\n"
                "                     by --keep): for profiling the restore alone\n"
                "  --tail N           with --restore-only: then apply N more creates, as a\n"
                "                     restarting node applies its WAL tail\n"
                "  --bulk             with --tail: as a bulk apply (store_bulk_begin), the\n"
                "                     indexes kept by a thread of their own\n");
}

int main(int argc, char **argv)
{
    size_t items = 1000000, value_size = 1024;
    const char *dir = NULL;
    size_t tail = 0;
    bool keep = false, restore_only = false, bulk = false;
    static const struct option opts[] = {{"items", required_argument, NULL, 'n'},
                                         {"value-size", required_argument, NULL, 'v'},
                                         {"dir", required_argument, NULL, 'd'},
                                         {"keep", no_argument, NULL, 'k'},
                                         {"restore-only", no_argument, NULL, 'r'},
                                         {"tail", required_argument, NULL, 't'},
                                         {"bulk", no_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "n:v:d:krt:bh", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            items = strtoul(optarg, NULL, 10);
            break;
        case 'v':
            value_size = strtoul(optarg, NULL, 10);
            break;
        case 'd':
            dir = optarg;
            break;
        case 'k':
            keep = true;
            break;
        case 'r':
            restore_only = true;
            break;
        case 't':
            tail = strtoul(optarg, NULL, 10);
            break;
        case 'b':
            bulk = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (items == 0 || value_size == 0 || value_size > (1u << 20)) {
        fprintf(stderr, "store_bench: --items and --value-size must be positive (value ≤ 1 MiB)\n");
        return 2;
    }
    if (restore_only && !dir) {
        fprintf(stderr, "store_bench: --restore-only needs --dir (a dir kept by --keep)\n");
        return 2;
    }
    char tmpl[] = "/tmp/store_bench-XXXXXX";
    if (!dir && !(dir = mkdtemp(tmpl))) {
        perror("store_bench: mkdtemp");
        return 1;
    }
    store_reader_register();
    const struct model *m = models_find("items");
    struct store *s = NULL, *s2 = NULL;
    if (!m || store_new(&s) != 0 || store_new(&s2) != 0) {
        fprintf(stderr, "store_bench: cannot set up the store\n");
        return 1;
    }
    if (restore_only) {
        uint64_t d = 0;
        char path[4200];
        int rc = bench_restore(dir, s2, &d, path, sizeof(path));
        if (rc == 0)
            printf("  digest             %016llx\n", (unsigned long long)d);
        if (rc == 0 && tail) {
            /* a restarting node's WAL tail: creates applied to the freshly restored store */
            uint64_t at = 0, term = 0;
            double prep_s = 0, apply_s = 0;
            store_applied(s2, &at, &term);
            rc = bench_creates(s2, m, at + 1, tail, value_size, "bench", bulk, &prep_s, &apply_s);
            if (rc == 0)
                printf(
                    "  tail after restore %8.0f creates/s  (%.2f s, %.2f us each)  RSS %ld MiB\n",
                    (double)tail / apply_s, apply_s, apply_s * 1e6 / (double)tail, bench_rss_mib());
        }
        store_free(s);
        store_free(s2);
        store_reader_unregister();
        return rc;
    }
    double prep_s = 0, apply_s = 0;
    if (bench_creates(s, m, 1, items, value_size, "bench", false, &prep_s, &apply_s) != 0)
        return 1;
    long rss = bench_rss_mib();
    printf("store_bench: %zu items, %zu-byte descriptions\n", items, value_size);
    printf("  prepare (leader)   %8.0f creates/s  (%.2f s)\n", (double)items / prep_s, prep_s);
    printf("  apply   (replica)  %8.0f creates/s  (%.2f s, %.2f us each)  RSS %ld MiB\n",
           (double)items / apply_s, apply_s, apply_s * 1e6 / (double)items, rss);

    /* 2. snapshot to a file */
    struct raft_snapshot_meta meta;
    memset(&meta, 0, sizeof(meta));
    meta.index = items;
    meta.term = 1;
    meta.conf.n_voters = 1;
    meta.conf.voters[0] = 1;
    struct snap_writer *w;
    struct snap_info info;
    uint64_t t0 = lt_now_ns();
    if (snap_writer_begin(dir, &meta, &w) != 0 ||
        store_snapshot_write(s, bench_snap_write, w) != 0 || snap_writer_commit(w, 1, &info) != 0) {
        fprintf(stderr, "store_bench: snapshot write failed in %s\n", dir);
        return 1;
    }
    double write_s = bench_secs(t0);
    printf("  snapshot write     %8.2f s  (%.0f MB, %.0f MB/s, fsync included)\n", write_s,
           (double)info.file_size / 1e6, (double)info.file_size / 1e6 / write_s);

    /* 3. restore like a restarting node (with only the restored store in memory) */
    uint64_t d1 = store_digest(s);
    store_free(s);
    s = NULL;
    uint64_t d2 = 0;
    char path[4200];
    if (bench_restore(dir, s2, &d2, path, sizeof(path)) != 0)
        return 1;
    printf("  digest             %s\n", d1 == d2 ? "restored store matches" : "MISMATCH");
    if (!keep)
        unlink(path);
    if (dir == tmpl && !keep)
        rmdir(dir);
    store_free(s2);
    store_reader_unregister();
    return d1 == d2 ? 0 : 1;
}
