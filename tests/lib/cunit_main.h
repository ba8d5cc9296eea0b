/* cunit_main.h — the one runner every CUnit suite program uses.
 *
 * A test file defines its suites as a table and calls lt_test_main() from main().
 * The runner uses CUnit's basic interface (its "Run Summary" is what ctest shows),
 * and exits non-zero if any assertion failed or any suite could not be set up. */
#ifndef CUNIT_MAIN_H
#define CUNIT_MAIN_H

#include <CUnit/CUnit.h>

struct lt_test {
    const char *name;
    CU_TestFunc fn;
};

struct lt_suite {
    const char *name;
    CU_InitializeFunc init;
    CU_CleanupFunc cleanup;
    const struct lt_test *tests; /* terminated by {NULL, NULL} */
};

/* lt_test_main runs `suites` (terminated by a zeroed entry). With argv[1] it runs only
 * the suite of that name. Returns the process exit code. */
int lt_test_main(int argc, char **argv, const struct lt_suite *suites);

#endif
