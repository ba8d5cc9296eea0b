/* test_common.c — the error table, the log level parser, the clocks and the reaper
 * (tools/common). */
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_log.h"
#include "lt_reaper.h"

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

/* The reaper frees every block it is given, on its own thread, including batches queued
 * just before it stops (the leak checker is the other judge); without a reaper, or for
 * an empty batch, lt_reaper_give frees in place. */
static void **make_batch(size_t n)
{
    void **v = malloc((n ? n : 1) * sizeof(*v));
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    for (size_t i = 0; i < n; i++) {
        v[i] = i % 7 == 3 ? NULL : malloc(16 + i % 100); /* NULL entries are allowed */
        CU_ASSERT_TRUE_FATAL(i % 7 == 3 || v[i] != NULL);
    }
    return v;
}

static void test_reaper(void)
{
    struct lt_reaper *rp = NULL;
    CU_ASSERT_EQUAL_FATAL(lt_reaper_start(&rp), 0);
    size_t given = 0;
    for (size_t b = 0; b < 20; b++) {
        size_t n = b * 997;
        lt_reaper_give(rp, make_batch(n), n);
        given += n;
    }
    CU_ASSERT_EQUAL(lt_reaper_stop(rp), given);
    lt_reaper_give(NULL, make_batch(500), 500); /* no reaper: freed here */
    CU_ASSERT_EQUAL(lt_reaper_stop(NULL), 0);
}

static const struct lt_test common_tests[] = {
    {"error strings", test_err_strings},
    {"error codes are distinct and negative", test_err_codes_distinct},
    {"log levels parse", test_log_levels},
    {"monotonic clock advances", test_clock_monotonic},
    {"reaper frees every batch on its thread", test_reaper},
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
