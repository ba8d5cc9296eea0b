/* cunit_main.c — the shared CUnit runner (see cunit_main.h). */
#include "cunit_main.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

int lt_test_main(int argc, char **argv, const struct lt_suite *suites)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
        return 2;
    }
    for (const struct lt_suite *s = suites; s->name; s++) {
        if (only && strcmp(only, s->name) != 0)
            continue;
        CU_pSuite suite = CU_add_suite(s->name, s->init, s->cleanup);
        if (!suite) {
            fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
            CU_cleanup_registry();
            return 2;
        }
        for (const struct lt_test *t = s->tests; t->name; t++) {
            if (!CU_add_test(suite, t->name, t->fn)) {
                fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
                CU_cleanup_registry();
                return 2;
            }
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    unsigned suites_failed = CU_get_number_of_suites_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (ran == 0) {
        fprintf(stderr, "no test ran\n");
        return 1;
    }
    return (failed || suites_failed) ? 1 : 0;
}
