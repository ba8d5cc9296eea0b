/* test_ident.c — the data dir's identity file (node/storage/ident.c) on real files: round
 * trip with members sorted, a missing file, every kind of damage refused with a reason,
 * an atomic replace that leaves no temporary file, and an injected I/O fault. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit_main.h"
#include "ident.h"
#include "lt_err.h"
#include "sio.h"
#include "testutil.h"

static char tdir[512];

static void tdir_begin(void)
{
    CU_ASSERT_EQUAL_FATAL(tu_tmpdir(tdir, sizeof(tdir), "lt-ident"), 0);
}

static void tdir_end(void)
{
    sio_fault_arm(0, 0);
    tu_rmrf(tdir);
}

static void write_text(const char *text)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/" IDENT_FILE, tdir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static void test_round_trip(void)
{
    tdir_begin();
    struct ident in = {.id = 3, .cluster = 0x9f3c2a0b1d4e5f60ull}, out;
    const uint64_t members[] = {3, 1, 2};
    ident_set_members(&in, members, 3);
    CU_ASSERT_EQUAL(in.members[0], 1);
    CU_ASSERT_EQUAL(in.members[2], 3);
    char err[300] = "";
    CU_ASSERT_EQUAL(ident_read(tdir, &out, err, sizeof(err)), LT_ENOTFOUND);
    CU_ASSERT_EQUAL_FATAL(ident_write(tdir, &in), 0);
    CU_ASSERT_EQUAL_FATAL(ident_read(tdir, &out, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(out.id, 3);
    CU_ASSERT_EQUAL(out.n_members, 3);
    CU_ASSERT_EQUAL(out.members[0], 1);
    CU_ASSERT_EQUAL(out.members[1], 2);
    CU_ASSERT_EQUAL(out.members[2], 3);
    CU_ASSERT_EQUAL(out.cluster, 0x9f3c2a0b1d4e5f60ull);
    char m[100];
    ident_format_members(&out, m, sizeof(m));
    CU_ASSERT_STRING_EQUAL(m, "1,2,3");
    /* replaced in place, no temporary file left */
    in.cluster = 7;
    CU_ASSERT_EQUAL_FATAL(ident_write(tdir, &in), 0);
    CU_ASSERT_EQUAL_FATAL(ident_read(tdir, &out, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(out.cluster, 7);
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s/" IDENT_FILE ".tmp", tdir);
    CU_ASSERT_NOT_EQUAL(access(tmp, F_OK), 0);
    tdir_end();
}

static void test_damage_refused(void)
{
    static const char *const bad[] = {
        "",                                                /* empty */
        "id 1\nmembers 1,2,3\n",                           /* a line missing */
        "id 0\nmembers 1,2,3\ncluster 0000000000000000\n", /* id 0 */
        "id x\nmembers 1,2,3\ncluster 0000000000000000\n",
        "id 1\nmembers 1,,3\ncluster 0000000000000000\n",
        "id 1\nmembers 1,2,2\ncluster 0000000000000000\n",                /* a member twice */
        "id 1\nmembers 1,2,3,4,5,6,7,8,9,10\ncluster 0000000000000000\n", /* too many */
        "id 1\nmembers 1,2,3\ncluster 12\n",                              /* short cluster id */
        "id 1\nmembers 1,2,3\ncluster 000000000000000g\n",
        "id 1\nmembers 1,2,3\ncluster 0xde414eafb54a72\n",       /* 16 characters, 14 digits */
        "id 1\nid 2\nmembers 1,2,3\ncluster 0000000000000000\n", /* twice */
        "id 1\nmembers 1,2,3\ncluster 0000000000000000\nextra 1\n",
        "id -1\nmembers 1,2,3\ncluster 0000000000000000\n",
        "id 1\nmembers 1,2,3\ncluster 0000000000000000", /* no final newline: fine */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tdir_begin();
        write_text(bad[i]);
        struct ident out;
        char err[300] = "";
        int rc = ident_read(tdir, &out, err, sizeof(err));
        if (i + 1 == sizeof(bad) / sizeof(bad[0])) {
            CU_ASSERT_EQUAL(rc, 0);
        } else {
            CU_ASSERT_EQUAL(rc, LT_ECORRUPT);
            CU_ASSERT(strstr(err, IDENT_FILE) != NULL); /* the message names the file */
        }
        tdir_end();
    }
    /* a directory in its place */
    tdir_begin();
    {
        char dpath[600];
        snprintf(dpath, sizeof(dpath), "%s/" IDENT_FILE, tdir);
        CU_ASSERT_EQUAL_FATAL(mkdir(dpath, 0755), 0);
        struct ident o;
        char e[300] = "";
        CU_ASSERT_EQUAL(ident_read(tdir, &o, e, sizeof(e)), LT_ECORRUPT);
        CU_ASSERT(strstr(e, "not a regular file") != NULL);
    }
    tdir_end();
    /* binary junk */
    tdir_begin();
    char path[600];
    snprintf(path, sizeof(path), "%s/" IDENT_FILE, tdir);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fwrite("id 1\0\0\0", 1, 7, f);
    fclose(f);
    struct ident out;
    char err[300];
    CU_ASSERT_EQUAL(ident_read(tdir, &out, err, sizeof(err)), LT_ECORRUPT);
    tdir_end();
}

static void test_write_fault(void)
{
    tdir_begin();
    struct ident in = {.id = 1};
    const uint64_t members[] = {1};
    ident_set_members(&in, members, 1);
    CU_ASSERT_EQUAL_FATAL(ident_write(tdir, &in), 0);
    in.cluster = 42;
    sio_fault_arm(1, 5 /* EIO */); /* the first I/O step fails */
    CU_ASSERT_NOT_EQUAL(ident_write(tdir, &in), 0);
    sio_fault_arm(0, 0);
    struct ident out;
    char err[300];
    CU_ASSERT_EQUAL_FATAL(ident_read(tdir, &out, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(out.cluster, 0); /* the old file stands */
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s/" IDENT_FILE ".tmp", tdir);
    CU_ASSERT_NOT_EQUAL(access(tmp, F_OK), 0);
    tdir_end();
}

static const struct lt_test ident_tests[] = {
    {"round trip, members sorted, replaced atomically", test_round_trip},
    {"every kind of damage refused, naming the file", test_damage_refused},
    {"a failed write leaves the old file", test_write_fault},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"ident", NULL, NULL, ident_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
