/* testutil.c — temporary directories, free ports, files and seeds for tests (see testutil.h). */
#include "testutil.h"

#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int tu_tmpdir(char *out, size_t n, const char *prefix)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/%s-XXXXXX", base && *base ? base : "/tmp",
             prefix ? prefix : "lithair");
    if (!mkdtemp(tmpl))
        return -1;
    snprintf(out, n, "%s", tmpl);
    return 0;
}

static int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int tu_rmrf(const char *path)
{
    return nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* tu_claim_port takes an exclusive lock on a file named after `port`, shared by every test
 * process on the machine (tests/integration/harness.py's _claim_port takes the same ones):
 * a port given to one is not given to another while the first lives. The lock's descriptor
 * stays open until the process exits. True if taken (or no lock dir: the bind check alone). */
static bool tu_claim_port(int port)
{
    const char *base = getenv("TMPDIR");
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/lithair-test-ports", base && *base ? base : "/tmp");
    (void)mkdir(dir, 0777);
    snprintf(path, sizeof(path), "%s/%d.lock", dir, port);
    int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0666);
    if (fd < 0)
        return true;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return false;
    }
    return true;
}

/* tu_port_binds: `port` on 127.0.0.1 can be bound now. */
static bool tu_port_binds(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

int tu_free_port(void)
{
    /* Drawn at random below the kernel's ephemeral range, as harness.py's free_port: a port
     * from inside it (what a bind to 0 gives) can become the source port of any outgoing
     * connection before the node meant to listen on it binds it, which a test running
     * beside one that opens many connections made happen (test_node_snapshot_guard beside
     * test_gw_sse: the node could not bind, twice in one run). */
    int lo = 10000, hi = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        int a = 0, b = 0;
        if (fscanf(f, "%d %d", &a, &b) == 2 && a > lo)
            hi = a;
        fclose(f);
    }
    static unsigned seed;
    if (seed == 0)
        seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
    for (int i = 0; i < 200 && hi > lo; i++) {
        int port = lo + (int)(rand_r(&seed) % (unsigned)(hi - lo));
        if (tu_claim_port(port) && tu_port_binds(port))
            return port;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

long long tu_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

unsigned char *tu_file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    CU_ASSERT_FATAL(fread(p, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

void tu_file_write(const char *path, const unsigned char *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_FATAL(fwrite(p, 1, len, f) == len);
    fclose(f);
}

uint64_t tu_rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(2685821657736338717);
}

uint64_t tu_seed(const char *what)
{
    const char *env = getenv("LT_SEED");
    uint64_t seed =
        env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    fprintf(stderr, "%s: seed %llu (replay with LT_SEED=%llu)\n", what ? what : "test",
            (unsigned long long)seed, (unsigned long long)seed);
    return seed;
}
