/* bench_cmd.c — `lithair-admin bench` and `ping-bench`: the benchmark engine
 * (tools/client/bench_engine.h) driven from the command line. */
#include <stdio.h>

#include "admin.h"

int admin_bench(struct admin *a, const char *cmd, int argc, char **argv)
{
    (void)a;
    (void)argc;
    (void)argv;
    return admin_fail("%s: the benchmark engine is not built yet", cmd);
}
