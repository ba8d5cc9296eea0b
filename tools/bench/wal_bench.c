/* wal_bench.c — group-commit throughput of the write-ahead log: 1 KiB entries appended in
 * batches of 1, 16 and 256 with one wal_sync (one pwritev + one fdatasync) per batch.
 * Prints entries/s, MB/s and the p50/p99 latency of wal_sync (write + fdatasync), and the
 * time to recover (wal_open) what was written, each the median over several runs in a
 * fresh directory. A program that prints figures, not
 * a test.
 *
 *   wal_bench [--dir DIR] [--runs N] [--seconds S] [--size BYTES] [--batches 1,16,256]
 *
 * DIR (default $TMPDIR or /tmp) must be on the disk being measured; tmpfs would measure
 * memory. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_clock.h"
#include "lt_err.h"
#include "wal.h"

struct run_result {
    double entries_per_s;
    double mb_per_s;
    double p50_us;
    double p99_us;
    double max_us;
    double replay_ms; /* wal_open (recovery) of everything written, page cache warm */
    double replay_mb;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* bench_run appends batches of `batch` entries of `size` bytes for `seconds`. */
static int bench_run(const char *base, size_t batch, size_t size, double seconds,
                     struct run_result *res)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/lithair-walbench-XXXXXX", base);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "wal_bench: mkdtemp in %s: %s\n", base, strerror(errno));
        return LT_EIO;
    }
    struct wal *w = NULL;
    struct wal_recovered rec;
    unsigned char *data = malloc(size);
    struct raft_entry *e = calloc(batch, sizeof(*e));
    size_t cap = 1 << 20, n_lat = 0;
    double *lat = malloc(cap * sizeof(*lat));
    int rc = LT_ENOMEM;
    if (!data || !e || !lat)
        goto out;
    for (size_t i = 0; i < size; i++)
        data[i] = (unsigned char)(i * 131 + 7);
    rc = wal_open(dir, NULL, &w, &rec);
    if (rc)
        goto out;
    wal_recovered_fini(&rec);
    uint64_t index = 1, start = lt_now_ns(), deadline = start + (uint64_t)(seconds * 1e9);
    uint64_t now = start;
    while (now < deadline && n_lat < cap) {
        for (size_t i = 0; i < batch; i++) {
            e[i].index = index + i;
            e[i].term = 1;
            e[i].type = RAFT_ENTRY_NORMAL;
            e[i].data.base = data;
            e[i].data.len = size;
        }
        rc = wal_append(w, e, batch);
        if (rc)
            goto out;
        struct raft_hard_state hs = {.term = 1, .vote = 1, .commit = index};
        rc = wal_save_hard_state(w, &hs);
        if (rc)
            goto out;
        uint64_t t0 = lt_now_ns();
        rc = wal_sync(w);
        now = lt_now_ns();
        if (rc)
            goto out;
        lat[n_lat++] = (double)(now - t0) / 1e3;
        index += batch;
    }
    double secs = (double)(now - start) / 1e9;
    uint64_t entries = index - 1;
    res->entries_per_s = (double)entries / secs;
    res->mb_per_s = (double)entries * (double)size / secs / 1e6;
    qsort(lat, n_lat, sizeof(*lat), cmp_double);
    /* nearest rank, as lt_hist: the ceil(p * n)-th value (index one less) */
    res->p50_us = lat[(n_lat + 1) / 2 - 1];
    res->p99_us = lat[(n_lat * 99 + 99) / 100 - 1];
    res->max_us = lat[n_lat - 1];
    struct wal_stats st;
    wal_stats(w, &st);
    res->replay_mb = (double)st.bytes / 1e6;
    wal_free(w);
    w = NULL;
    uint64_t t0 = lt_now_ns();
    rc = wal_open(dir, NULL, &w, &rec);
    res->replay_ms = (double)(lt_now_ns() - t0) / 1e6;
    if (rc)
        goto out;
    if (rec.last_index != entries)
        rc = LT_ECORRUPT;
    wal_recovered_fini(&rec);
out:
    if (rc)
        fprintf(stderr, "wal_bench: %s\n", lt_strerror(rc));
    wal_free(w);
    free(lat);
    free(e);
    free(data);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

int main(int argc, char **argv)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    int runs = 5;
    double seconds = 1.0;
    size_t size = 1024;
    char batches_arg[256] = "1,16,256";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--dir") == 0 && v)
            base = v, i++;
        else if (strcmp(a, "--runs") == 0 && v)
            runs = atoi(v), i++;
        else if (strcmp(a, "--seconds") == 0 && v)
            seconds = atof(v), i++;
        else if (strcmp(a, "--size") == 0 && v)
            size = (size_t)strtoull(v, NULL, 0), i++;
        else if (strcmp(a, "--batches") == 0 && v)
            snprintf(batches_arg, sizeof(batches_arg), "%s", v), i++;
        else {
            fprintf(stderr,
                    "usage: %s [--dir DIR] [--runs N] [--seconds S] [--size BYTES] "
                    "[--batches 1,16,256]\n",
                    argv[0]);
            return 2;
        }
    }
    if (runs < 1 || runs > 100 || seconds <= 0 || size == 0 || size > WAL_MAX_ENTRY_DATA) {
        fprintf(stderr, "wal_bench: bad arguments\n");
        return 2;
    }
    printf("wal_bench: %zu-byte entries, one wal_sync (pwritev + fdatasync) per batch, "
           "%d runs of %.1f s in %s, median of runs\n",
           size, runs, seconds, base);
    printf("%8s %12s %10s %12s %12s %12s %14s\n", "batch", "entries/s", "MB/s", "sync_p50_us",
           "sync_p99_us", "sync_max_us", "replay_ms(MB)");
    char *save = NULL;
    for (char *tok = strtok_r(batches_arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t batch = (size_t)strtoull(tok, NULL, 0);
        if (batch == 0 || batch > 65536)
            continue;
        double eps[100], mbs[100], p50[100], p99[100], mx[100], rms[100], rmb[100];
        for (int r = 0; r < runs; r++) {
            struct run_result res;
            if (bench_run(base, batch, size, seconds, &res))
                return 1;
            eps[r] = res.entries_per_s;
            mbs[r] = res.mb_per_s;
            p50[r] = res.p50_us;
            p99[r] = res.p99_us;
            mx[r] = res.max_us;
            rms[r] = res.replay_ms;
            rmb[r] = res.replay_mb;
        }
        printf("%8zu %12.0f %10.1f %12.0f %12.0f %12.0f %7.1f(%5.1f)\n", batch,
               median(eps, (size_t)runs), median(mbs, (size_t)runs), median(p50, (size_t)runs),
               median(p99, (size_t)runs), median(mx, (size_t)runs), median(rms, (size_t)runs),
               median(rmb, (size_t)runs));
        fflush(stdout);
    }
    return 0;
}
