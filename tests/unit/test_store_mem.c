/* test_store_mem.c — what the store costs: heap bytes per record for 100,000 items of
 * about 1 KiB each (value, key, indexes, hash tables, skip lists), and the apply and read
 * rates while building them. Prints the figures; asserts only a generous bound on the
 * overhead so a regression (say, a copy too many per record) fails. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "store.h"

#if defined(__SANITIZE_ADDRESS__)
/* from <sanitizer/allocator_interface.h>, which gcc does not install */
size_t __sanitizer_get_current_allocated_bytes(void);
#define HEAP_KIND "ASan allocator, user bytes"
static size_t heap_bytes(void)
{
    return __sanitizer_get_current_allocated_bytes();
}
#else
#define HEAP_KIND "glibc mallinfo2, in-use bytes incl. chunk headers"
static size_t heap_bytes(void)
{
    return mallinfo2().uordblks;
}
#endif

#define N_ITEMS   100000
#define VALUE_LEN 1024

static void test_bytes_per_record(void)
{
    struct store *s = NULL;
    char *meta = malloc(VALUE_LEN);
    char id[40], name[32];
    size_t value_total = 0;
    CU_ASSERT_EQUAL_FATAL(store_new(&s), 0);
    /* metadata {"pad":"xxx..."} sized so the stored value is about 1 KiB */
    memset(meta, 'x', VALUE_LEN);
    memcpy(meta, "{\"pad\":\"", 8);
    meta[VALUE_LEN - 170] = '"';
    meta[VALUE_LEN - 169] = '}';
    meta[VALUE_LEN - 168] = '\0';
    size_t before = heap_bytes();
    uint64_t t0 = lt_now_ns();
    for (int i = 0; i < N_ITEMS; i++) {
        Lithair__V1__PlaygroundItem it = LITHAIR__V1__PLAYGROUND_ITEM__INIT;
        struct model_prepared p = {0};
        struct store_result res;
        uint8_t buf[2048];
        /* keys look like the generated ones: 36-character UUIDs */
        snprintf(id, sizeof(id), "%08x-0000-4000-8000-%012x", (unsigned)i * 2654435761u,
                 (unsigned)i);
        snprintf(name, sizeof(name), "item %d", i);
        it.id = id;
        it.name = name;
        it.description = "a playground item";
        it.status = i % 3;
        it.metadata = meta;
        size_t len = lithair__v1__playground_item__pack(&it, buf);
        CU_ASSERT_EQUAL_FATAL(models_prepare_create(models_find("items"), buf, len,
                                                    1796000000000000000ull + (uint64_t)i, 1, NULL,
                                                    &p),
                              0);
        CU_ASSERT_EQUAL_FATAL(store_apply(s, (uint64_t)i + 1, 1, p.cmd, p.cmd_len, &res), 0);
        value_total += res.record->len;
        store_result_fini(&res);
        models_prepared_fini(&p);
    }
    uint64_t t1 = lt_now_ns();
    size_t after = heap_bytes();
    /* random gets */
    unsigned seed = 1;
    for (int i = 0; i < N_ITEMS; i++) {
        struct store_record *r;
        unsigned k = (unsigned)rand_r(&seed) % N_ITEMS;
        snprintf(id, sizeof(id), "%08x-0000-4000-8000-%012x", k * 2654435761u, k);
        CU_ASSERT_EQUAL_FATAL(store_get(s, "items", id, &r), 0);
        store_record_free(r);
    }
    uint64_t t2 = lt_now_ns();
    /* a full index scan in pages of 1000 */
    struct store_page page;
    char cursor[128] = "";
    uint64_t seen = 0;
    for (int pages = 0; pages < 1000; pages++) {
        struct store_query q = {.model = "items",
                                .index = "status",
                                .equals = "ACTIVE",
                                .cursor = cursor,
                                .limit = 1000,
                                .include_benchmark = true};
        CU_ASSERT_EQUAL_FATAL(store_list(s, &q, &page), 0);
        seen += page.n;
        bool more = page.next_cursor != NULL;
        if (more)
            snprintf(cursor, sizeof(cursor), "%s", page.next_cursor);
        store_page_fini(&page);
        if (!more)
            break;
    }
    uint64_t t3 = lt_now_ns();
    CU_ASSERT_EQUAL(seen, (N_ITEMS + 1) / 3);

    double per = (double)(after - before) / N_ITEMS;
    double value = (double)value_total / N_ITEMS;
    printf("\n    %d items: %.0f heap bytes/record (%s), value %.0f bytes, overhead %.0f bytes\n",
           N_ITEMS, per, HEAP_KIND, value, per - value);
    printf("    apply %.0f creates/s (prepare+apply), get %.0f/s, index scan %.0f records/s\n",
           N_ITEMS / ((double)(t1 - t0) / 1e9), N_ITEMS / ((double)(t2 - t1) / 1e9),
           (double)seen / ((double)(t3 - t2) / 1e9));
    CU_ASSERT(value > 900 && value < 1100);
    CU_ASSERT(per - value < 700);
    free(meta);
    store_free(s);
}

static int suite_init(void)
{
    store_reader_register();
    return 0;
}

static int suite_cleanup(void)
{
    store_reader_unregister();
    return 0;
}

static const struct lt_test mem_tests[] = {
    {"bytes_per_record", test_bytes_per_record},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"store_mem", suite_init, suite_cleanup, mem_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
