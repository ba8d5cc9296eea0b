/* wal_dump.c — prints a write-ahead log directory record by record, for people debugging
 * a node that refuses to start: `wal_dump DATA_DIR/wal`. Read-only; exits 1 if recovery
 * would refuse the WAL (LT_ECORRUPT), 2 on other errors. */
#include <stdio.h>
#include <string.h>

#include "lt_err.h"
#include "wal.h"

static void usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s WAL_DIR\n\n"
            "Prints every record of a lithair-node write-ahead log (DATA_DIR/wal), segment by\n"
            "segment, and what recovery would do with a damaged tail. Read-only.\n"
            "Exit status: 0 readable, 1 recovery would refuse it (corrupt), 2 other errors.\n"
            "It reads the WAL alone: a gap between the log and the node's newest snapshot is\n"
            "only found by the node itself at start.\n",
            prog);
}

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout, argv[0]);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        usage(stderr, argv[0]);
        return 2;
    }
    int rc = wal_dump(argv[1], stdout);
    if (rc)
        fprintf(stderr, "wal_dump: %s: %s\n", argv[1], lt_strerror(rc));
    return rc == 0 ? 0 : rc == LT_ECORRUPT ? 1 : 2;
}
