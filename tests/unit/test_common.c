/* test_common.c — the error table, the log level parser and the clocks (tools/common). */
#include <string.h>

#include "cunit_main.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_log.h"

static void test_err_strings(void)
{
    CU_ASSERT_STRING_EQUAL(lt_strerror(LT_OK), "success");
    CU_ASSERT_STRING_EQUAL(lt_strerror(LT_ENOTLEADER), "not the leader");
    CU_ASSERT_STRING_EQUAL(lt_errname(LT_ECONFLICT), "LT_ECONFLICT");
    CU_ASSERT_STRING_EQUAL(lt_strerror(-9999), "unknown error");
    CU_ASSERT_STRING_EQUAL(lt_errname(12345), "LT_E?");
}

static void test_err_codes_distinct(void)
{
    static const int codes[] = {
#define CODE(name, value, text) value,
        LT_ERRORS(CODE)
#undef CODE
    };
    size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT(codes[i] <= 0);
        for (size_t j = i + 1; j < n; j++)
            CU_ASSERT_NOT_EQUAL(codes[i], codes[j]);
    }
}

static void test_log_levels(void)
{
    CU_ASSERT_EQUAL(lt_log_parse_level("debug"), LT_LOG_DEBUG);
    CU_ASSERT_EQUAL(lt_log_parse_level("error"), LT_LOG_ERROR);
    CU_ASSERT_EQUAL(lt_log_parse_level("loud"), -1);
    CU_ASSERT_EQUAL(lt_log_parse_level(NULL), -1);
}

static void test_clock_monotonic(void)
{
    uint64_t a = lt_now_ns();
    lt_sleep_ms(5);
    uint64_t b = lt_now_ns();
    CU_ASSERT(b - a >= 5000000ull);
    CU_ASSERT(lt_wall_ns() > 1700000000ull * 1000000000ull);
}

static const struct lt_test common_tests[] = {
    {"error strings", test_err_strings},
    {"error codes are distinct and negative", test_err_codes_distinct},
    {"log levels parse", test_log_levels},
    {"monotonic clock advances", test_clock_monotonic},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"common", NULL, NULL, common_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
