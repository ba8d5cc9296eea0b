/* wal_dump.c — prints a write-ahead log directory record by record, for people debugging
 * a node that refuses to start: `wal_dump DATA_DIR/wal`. Read-only; exits 1 if recovery
 * would refuse the WAL (LT_ECORRUPT), 2 on other errors. */
#include <stdio.h>

#include "lt_err.h"
#include "wal.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s WAL_DIR\n", argv[0]);
        return 2;
    }
    int rc = wal_dump(argv[1], stdout);
    if (rc)
        fprintf(stderr, "wal_dump: %s\n", lt_strerror(rc));
    return rc == 0 ? 0 : rc == LT_ECORRUPT ? 1 : 2;
}
