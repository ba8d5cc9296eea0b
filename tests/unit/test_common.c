/* test_common.c — the error table, the log level parser, the clocks, the reaper, CPU
 * affinity and strict UTF-8 (tools/common). */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cunit_main.h"
#include "lt_clock.h"
#include "lt_cpu.h"
#include "lt_err.h"
#include "lt_json.h"
#include "lt_jsonparse.h"
#include "lt_log.h"
#include "lt_opt.h"
#include "lt_utf8.h"
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

/* lt_log_stamp_safe (for signal handlers, without gmtime_r) writes what lt_log's lines
 * begin with: compared with gmtime_r + strftime over the epoch, leap days, century years
 * and a spread of times to 2200, and truncated when short. */
static void test_log_stamp_safe(void)
{
    static const long long fixed[] = {0,          59,         86399,      86400,
                                      951782400,  951868800,  4107542399, 4107542400,
                                      1709164800, 1798761599, 1798761600, 7258118400};
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 4000; i++) {
        struct timespec ts;
        if (i < (int)(sizeof(fixed) / sizeof(fixed[0]))) {
            ts.tv_sec = (time_t)fixed[i];
        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ts.tv_sec = (time_t)(x % 7258118400ull);
        }
        ts.tv_nsec = (long)(x % 1000000000ull);
        struct tm tm;
        CU_ASSERT_PTR_NOT_NULL_FATAL(gmtime_r(&ts.tv_sec, &tm));
        char want[64], got[64];
        size_t k = strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + k, sizeof(want) - k, ".%03ldZ", ts.tv_nsec / 1000000);
        size_t n = lt_log_stamp_safe(got, sizeof(got), &ts);
        CU_ASSERT_STRING_EQUAL(got, want);
        CU_ASSERT_EQUAL(n, strlen(want));
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "%lld: got %s, want %s\n", (long long)ts.tv_sec, got, want);
            break;
        }
    }
    char small[8];
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 0};
    CU_ASSERT_EQUAL(lt_log_stamp_safe(small, sizeof(small), &ts), 7);
    CU_ASSERT_STRING_EQUAL(small, "1970-01");
}

/* lt_opt_refused: the option getopt_long refused, as the user wrote it ("-x" also as the
 * first of a cluster; a long option whole), whatever comes before or after it. */
static const char *opt_refused(int argc, char **argv)
{
    static const struct option lo[] = {
        {"all", no_argument, NULL, 'a'},
        {"limit", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    static char buf[3];
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":al:", lo, NULL)) != -1) {
        if (c == '?')
            return lt_opt_refused(argc, argv, buf);
    }
    return "(none)";
}

#define OPT_REFUSED(...)                                                                           \
    ({                                                                                             \
        char *av[] = {"prog", __VA_ARGS__};                                                        \
        opt_refused((int)(sizeof(av) / sizeof(av[0])), av);                                        \
    })

static void test_opt_refused(void)
{
    CU_ASSERT_STRING_EQUAL(OPT_REFUSED("-xyz"), "-x");                /* it named "prog" */
    CU_ASSERT_STRING_EQUAL(OPT_REFUSED("--all", "-xyz"), "-x");       /* it named "--all" */
    CU_ASSERT_STRING_EQUAL(OPT_REFUSED("--limit", "5", "-xy"), "-x"); /* it named "5" */
    CU_ASSERT_STRING_EQUAL(OPT_REFUSED("pos", "-xyz"), "-x");
    CU_ASSERT_STRING_EQUAL(OPT_REFUSED("-ax"), "-x");
    CU_ASSERT_STRING_EQUAL(OPT_REFUSED("-q"), "-q");
    CU_ASSERT_STRING_EQUAL(OPT_REFUSED("--bogus", "-a"), "--bogus");
    CU_ASSERT_STRING_EQUAL(OPT_REFUSED("--all=1", "pos"), "--all=1");
    CU_ASSERT_STRING_EQUAL(OPT_REFUSED("-a", "--all"), "(none)");
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

/* ---- CPU affinity (lt_cpu) ---- */

/* thread_cpu_lists writes the Cpus_allowed_list of every thread of this process, joined by
 * spaces, to buf. */
static void thread_cpu_lists(char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], line[256];
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof(line), f)) {
            char list[200];
            if (sscanf(line, "Cpus_allowed_list: %199s", list) == 1 && off < len)
                off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? " " : "", list);
        }
        if (f)
            fclose(f);
    }
    closedir(d);
}

static void *idle_thread(void *arg)
{
    int *stop = arg;
    for (int i = 0; i < 10000 && !__atomic_load_n(stop, __ATOMIC_ACQUIRE); i++)
        usleep(2000); /* until told, at most 20 s: the child counts these threads */
    return NULL;
}

/* A background thread (lt_cpu_background): *count becomes how many CPUs it may use, once
 * it is told to look (at 1 in *go; 0: at once). */
struct bg_probe {
    int go;         /* atomic: 0 look now, 1 wait for 2, 2 look */
    int registered; /* atomic: lt_cpu_background returned */
    int count;
};

static void *background_main(void *arg)
{
    struct bg_probe *p = arg;
    int cpus[LT_CPU_MAX];
    int rc = lt_cpu_background("probe");
    __atomic_store_n(&p->registered, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 1000 && __atomic_load_n(&p->go, __ATOMIC_ACQUIRE) == 1; i++)
        usleep(1000);
    p->count = rc == 0 ? lt_cpu_allowed(cpus, LT_CPU_MAX) : -1;
    return NULL;
}

static void test_cpu(void)
{
    int cpus[LT_CPU_MAX];
    int n = lt_cpu_allowed(cpus, LT_CPU_MAX);
    CU_ASSERT_FATAL(n >= 1 && n <= LT_CPU_MAX);
    for (int i = 1; i < n; i++)
        CU_ASSERT(cpus[i] > cpus[i - 1]);
    int two[1];
    CU_ASSERT_EQUAL(lt_cpu_allowed(two, 1), n); /* the count, even past max */

    char buf[64];
    const int ranges[] = {0, 1, 2, 3, 6, 8, 9};
    CU_ASSERT_STRING_EQUAL(lt_cpu_list(ranges, 7, buf, sizeof(buf)), "0-3,6,8-9");
    CU_ASSERT_STRING_EQUAL(lt_cpu_list(ranges + 4, 1, buf, sizeof(buf)), "6");
    CU_ASSERT_STRING_EQUAL(lt_cpu_list(ranges, 0, buf, sizeof(buf)), "");
    CU_ASSERT_EQUAL(strlen(lt_cpu_list(ranges, 7, buf, 4)), 3); /* truncated, terminated */

    /* not CPUs this process may use */
    int absent = 0;
    for (int i = 0; i < n && cpus[i] == absent; i++)
        absent++;
    CU_ASSERT_EQUAL(lt_cpu_pin_process(absent), LT_EINVAL);
    CU_ASSERT_EQUAL(lt_cpu_pin_process(-1), LT_EINVAL);
    CU_ASSERT_EQUAL(lt_cpu_pin_process(LT_CPU_MAX), LT_EINVAL);

    /* In a child (the pin is for the whole process): threads started before the pin and
     * after it all end up on the CPU. */
    int want = cpus[n - 1];
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        int stop = 0;
        pthread_t before[3], after, bg_early;
        struct bg_probe early = {.go = 1};
        for (int i = 0; i < 3; i++)
            if (pthread_create(&before[i], NULL, idle_thread, &stop) != 0)
                _exit(10);
        /* a background thread from before the pin, registered before it */
        if (pthread_create(&bg_early, NULL, background_main, &early) != 0)
            _exit(10);
        for (int i = 0; i < 2000 && !__atomic_load_n(&early.registered, __ATOMIC_ACQUIRE); i++)
            usleep(1000);
        if (lt_cpu_pin_process(want) != 0)
            _exit(11);
        if (pthread_create(&after, NULL, idle_thread, &stop) != 0)
            _exit(12);
        /* the early background thread kept every CPU; the others are pinned */
        __atomic_store_n(&early.go, 2, __ATOMIC_RELEASE);
        pthread_join(bg_early, NULL);
        char lists[1024], expect[1024];
        thread_cpu_lists(lists, sizeof(lists));
        snprintf(expect, sizeof(expect), "%d %d %d %d %d", want, want, want, want, want);
        int code = strcmp(lists, expect) == 0 ? 0 : 13;
        if (code)
            fprintf(stderr, "threads on '%s', expected '%s'\n", lists, expect);
        if (code == 0 && early.count != n)
            code = 14;
        /* one started after the pin gets every CPU back; the caller stays pinned */
        struct bg_probe late = {.go = 0};
        pthread_t bg;
        if (code == 0 && (pthread_create(&bg, NULL, background_main, &late) != 0 ||
                          pthread_join(bg, NULL) != 0 || late.count != n))
            code = 15;
        if (code == 0 && lt_cpu_allowed(cpus, LT_CPU_MAX) != 1)
            code = 16;
        __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
        for (int i = 0; i < 3; i++)
            pthread_join(before[i], NULL);
        pthread_join(after, NULL);
        _exit(code);
    }
    int st = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    CU_ASSERT(WIFEXITED(st));
    CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
}

/* A thread that reports its kernel id and waits until told. */
struct tid_probe {
    int tid;  /* atomic: set once running */
    int stop; /* atomic */
};

static void *tid_main(void *arg)
{
    struct tid_probe *p = arg;
    __atomic_store_n(&p->tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
    for (int i = 0; i < 10000 && !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE); i++)
        usleep(2000); /* at most 20 s */
    return NULL;
}

static int start_probe(pthread_t *th, struct tid_probe *p)
{
    if (pthread_create(th, NULL, tid_main, p) != 0)
        return -1;
    for (int k = 0; k < 2000 && !__atomic_load_n(&p->tid, __ATOMIC_ACQUIRE); k++)
        usleep(1000);
    return p->tid;
}

/* lt_cpu_batch_self: the caller switches to SCHED_BATCH and back; a thread started in
 * between keeps SCHED_BATCH, one started before or after has the default. */
static void test_cpu_batch_self(void)
{
    struct tid_probe before = {0}, during = {0}, after = {0};
    pthread_t tb, td, ta;
    CU_ASSERT_EQUAL(lt_cpu_batch_self(false), 0);
    CU_ASSERT_FATAL(start_probe(&tb, &before) > 0);
    CU_ASSERT_EQUAL(lt_cpu_batch_self(true), 0);
    CU_ASSERT_EQUAL(sched_getscheduler(0), SCHED_BATCH);
    CU_ASSERT_FATAL(start_probe(&td, &during) > 0);
    CU_ASSERT_EQUAL(lt_cpu_batch_self(false), 0);
    CU_ASSERT_EQUAL(sched_getscheduler(0), SCHED_OTHER);
    CU_ASSERT_FATAL(start_probe(&ta, &after) > 0);
    CU_ASSERT_EQUAL(sched_getscheduler(before.tid), SCHED_OTHER);
    CU_ASSERT_EQUAL(sched_getscheduler(during.tid), SCHED_BATCH);
    CU_ASSERT_EQUAL(sched_getscheduler(after.tid), SCHED_OTHER);
    struct tid_probe *all[] = {&before, &during, &after};
    pthread_t ths[] = {tb, td, ta};
    for (size_t i = 0; i < 3; i++) {
        __atomic_store_n(&all[i]->stop, 1, __ATOMIC_RELEASE);
        pthread_join(ths[i], NULL);
    }
}

/* ref_utf8: the length of the valid sequence at p by the definition — decode the bits,
 * then refuse an overlong form, a surrogate or a code point past U+10FFFF. */
static size_t ref_utf8(const unsigned char *p, size_t avail)
{
    unsigned n = p[0] < 0x80             ? 1
                 : (p[0] & 0xE0) == 0xC0 ? 2
                 : (p[0] & 0xF0) == 0xE0 ? 3
                 : (p[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    static const unsigned long min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (n == 0 || n > avail)
        return 0;
    unsigned long cp = n == 1 ? p[0] : p[0] & (0x7Fu >> n);
    for (unsigned i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min[n] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return 0;
    return n;
}

static void test_utf8(void)
{
    unsigned char b[4];
    /* every one-, two- and three-byte sequence; four-byte ones over every lead and second
     * byte with a few continuations */
    for (unsigned a = 0; a < 256; a++) {
        b[0] = (unsigned char)a;
        CU_ASSERT_EQUAL_FATAL(lt_utf8_seq(b, 1), ref_utf8(b, 1));
        for (unsigned c = 0; c < 256; c++) {
            b[1] = (unsigned char)c;
            CU_ASSERT_EQUAL_FATAL(lt_utf8_seq(b, 2), ref_utf8(b, 2));
            for (unsigned d = 0; d < 256; d++) {
                b[2] = (unsigned char)d;
                if (lt_utf8_seq(b, 3) != ref_utf8(b, 3))
                    CU_FAIL_FATAL("three-byte sequence differs from the definition");
                static const unsigned char last[] = {0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xFF};
                for (unsigned k = 0;
                     a >= 0xF0 && (d == 0x80 || d == 0xBF || d == 0x7F) && k < sizeof(last); k++) {
                    b[3] = last[k];
                    CU_ASSERT_EQUAL_FATAL(lt_utf8_seq(b, 4), ref_utf8(b, 4));
                }
            }
        }
    }
    /* named cases */
    CU_ASSERT_EQUAL(lt_utf8_invalid_at("plain", 5), -1);
    CU_ASSERT_EQUAL(lt_utf8_invalid_at("\xc3\xa9t\xc3\xa9", 5), -1); /* été */
    CU_ASSERT_EQUAL(lt_utf8_invalid_at("\xf0\x9f\x98\x80", 4), -1);  /* U+1F600 */
    CU_ASSERT_EQUAL(lt_utf8_invalid_at("\xf4\x8f\xbf\xbf", 4), -1);  /* U+10FFFF */
    CU_ASSERT_EQUAL(lt_utf8_invalid_at("ab\xc0\xaf", 4), 2);         /* overlong / */
    CU_ASSERT_EQUAL(lt_utf8_invalid_at("a\xed\xa0\x80", 4), 1);      /* U+D800 */
    CU_ASSERT_EQUAL(lt_utf8_invalid_at("\xf4\x90\x80\x80", 4), 0);   /* > U+10FFFF */
    CU_ASSERT_EQUAL(lt_utf8_invalid_at("\xe0\x80\xaf", 3), 0);       /* overlong */
    CU_ASSERT_EQUAL(lt_utf8_invalid_at("\xc3", 1), 0);               /* cut short */
    CU_ASSERT_EQUAL(lt_utf8_invalid_at("ok\xe2\x82", 4), 2);         /* cut short */
    CU_ASSERT_EQUAL(lt_utf8_invalid_at("\xff", 1), 0);
    /* ASCII is checked 8 bytes at a time: a bad byte or a good sequence at every offset of
     * a run, and the run cut anywhere */
    char run[40];
    for (size_t at = 0; at + 2 <= sizeof(run); at++) {
        memset(run, 'x', sizeof(run));
        run[at] = (char)0xC3;
        run[at + 1] = (char)0xA9; /* é */
        CU_ASSERT_EQUAL(lt_utf8_invalid_at(run, sizeof(run)), -1);
        CU_ASSERT_EQUAL(lt_utf8_invalid_at(run, at + 1), (long)at); /* cut inside it */
        run[at + 1] = 'x';                                          /* é's first byte alone */
        CU_ASSERT_EQUAL(lt_utf8_invalid_at(run, sizeof(run)), (long)at);
        run[at] = (char)0x80; /* a lone continuation byte */
        CU_ASSERT_EQUAL(lt_utf8_invalid_at(run, sizeof(run)), (long)at);
        CU_ASSERT_EQUAL(lt_utf8_invalid_at(run, at), -1);
    }
    char s[] = "a\xc3\xa9\xff\xc3"
               "b\xe2\x82";
    lt_utf8_scrub(s);
    CU_ASSERT_STRING_EQUAL(s, "a\xc3\xa9??"
                              "b??");
}

/* lt_json_lex_check: what strict JSON refuses before json-c sees it, with the offset */
static void test_json_lex(void)
{
    static const struct {
        const char *text;
        long at;         /* -1: nothing to refuse */
        const char *why; /* a word of the reason */
    } cases[] = {
        {"{\"a\":[true,false,null,1,-2.5e3,\"NaN\",\"Infinity\"]}", -1, NULL},
        {"{\"a\":18446744073709551615,\"b\":-9223372036854775808}", -1, NULL},
        {"{\"a\":\"\\ud83d\\ude00 \\u00e9 \\n\"}", -1, NULL},
        {"{\"a\":\"caf\xc3\xa9\"}", -1, NULL},
        {"{\"a\":NaN}", 5, "NaN"},
        {"{\"a\":nan}", 5, "NaN"},
        {"{\"a\":Infinity}", 5, "NaN"},
        {"{\"a\":-Infinity}", 5, "NaN"},
        {"{\"a\":1e400}", 5, "NaN"},
        {"{\"a\":-1E999}", 5, "NaN"},
        {"{\"a\":18446744073709551616}", 5, "64 bits"},
        {"{\"a\":-9223372036854775809}", 5, "64 bits"},
        {"{'a':1}", 1, "single-quoted"},
        {"{\"a\":\"x\ty\"}", 7, "control"},
        {"{\"a\":\"\\u0000\"}", 6, "NUL"},
        {"{\"a\":\"\\ud800\"}", 6, "high surrogate"},
        {"{\"a\":\"\\ud800\\u0041\"}", 6, "high surrogate"},
        {"{\"a\":\"\\udc00\"}", 6, "low surrogate"},
        {"{\"a\":\"\xc0\xaf\"}", 6, "UTF-8"},
        {"{\"a\":\"\xed\xa0\x80\"}", 6, "UTF-8"},
        /* numbers as RFC 8259 writes them: json-c takes these, and prints "1." back */
        {"[0,-0,0.5,-0.5e-3,0e0,1E+2,10,-10.25]", -1, NULL},
        {"{\"a\":1.}", 5, "JSON number"},
        {"{\"a\":-12.}", 5, "JSON number"},
        {"[1.e5]", 1, "JSON number"},
        {"[00]", 1, "JSON number"},
        {"{\"a\":-01}", 5, "JSON number"},
        {"[0,01.5]", 3, "JSON number"},
        {"[1e]", 1, "JSON number"},
        {"[-]", 1, "JSON number"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = NULL;
        long at = lt_json_lex_check(cases[i].text, strlen(cases[i].text), &why, NULL);
        CU_ASSERT_EQUAL(at, cases[i].at);
        if (at != cases[i].at)
            fprintf(stderr, "case %zu (%s): at %ld, want %ld\n", i, cases[i].text, at, cases[i].at);
        if (cases[i].why)
            CU_ASSERT(why != NULL && strstr(why, cases[i].why) != NULL);
    }
}

/* lt_json_lex_check counts object members; lt_json_dup_key finds a key twice in one
 * object, escapes decoded, at any depth, and names it */
static void test_json_dup_key(void)
{
    size_t members = 99;
    const char *why = NULL;
    const char *t = "{\"a\":{\"b:\":[1,{\"c\":2}]},\"d\":\"x:y\"}";
    CU_ASSERT_EQUAL(lt_json_lex_check(t, strlen(t), &why, &members), -1);
    CU_ASSERT_EQUAL(members, 4); /* a, b:, c, d; the ':' inside strings do not count */
    static const struct {
        const char *text;
        long at; /* -1: no key twice */
        const char *key;
    } cases[] = {
        {"{\"a\":1,\"b\":2}", -1, ""},
        {"{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}]}", -1, ""}, /* other objects */
        {"[1,\"a\",{},[]]", -1, ""},
        {"{\"ab\":1,\"a\":2,\"abc\":3}", -1, ""},
        {"{\"a\":1,\"b\":2,\"a\":3}", 13, "a"},
        {"{ \"name\" : 1 , \"name\" : 2 }", 15, "name"},
        {"{\"x\":[{\"k\":1,\"k\":2}]}", 13, "k"}, /* nested, in an array */
        {"{\"\\u0061\":1,\"a\":2}", 12, "a"},     /* escapes decoded */
        {"{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}", 18, "\xf0\x9f\x98\x80"}, /* a pair */
        {"{\"t\\n\":1,\"t\\u000a\":2}", 9, "t?"},       /* shown without control */
        {"{\"z\":1,\"y\":1,\"z\":1,\"y\":1}", 13, "z"}, /* the earliest repeat */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char key[64];
        long at = lt_json_dup_key(cases[i].text, strlen(cases[i].text), key, sizeof(key));
        CU_ASSERT_EQUAL(at, cases[i].at);
        CU_ASSERT_STRING_EQUAL(key, cases[i].key);
        if (at != cases[i].at)
            fprintf(stderr, "case %zu (%s): at %ld, want %ld\n", i, cases[i].text, at, cases[i].at);
    }
    char small[3]; /* cut to fit */
    CU_ASSERT_EQUAL(lt_json_dup_key("{\"long\":1,\"long\":2}", 19, small, sizeof(small)), 10);
    CU_ASSERT_STRING_EQUAL(small, "lo");
}

/* lt_json_parse: one strict reader; a duplicate key is refused with its name and byte */
static void test_json_parse(void)
{
    char err[200];
    json_object *j = NULL;
    CU_ASSERT_EQUAL(lt_json_parse("{\"a\":[1,2],\"b\":{\"c\":null}} ", 27, &j, err, sizeof(err)),
                    0);
    CU_ASSERT_PTR_NOT_NULL(j);
    json_object_put(j);
    j = NULL;
    CU_ASSERT_EQUAL(lt_json_parse("null", 4, &j, err, sizeof(err)), 0);
    CU_ASSERT_PTR_NULL(j);
    const char *dup = "{\"name\":\"a\",\"meta\":{},\"name\":\"b\"}";
    CU_ASSERT_EQUAL(lt_json_parse(dup, strlen(dup), &j, err, sizeof(err)), LT_EINVAL);
    CU_ASSERT_PTR_NULL(j);
    CU_ASSERT(strstr(err, "byte 22") && strstr(err, "\"name\" appears twice"));
    /* the later copy's value drops a whole object: still found */
    const char *deep = "{\"a\":{\"x\":1,\"y\":2},\"a\":3}";
    CU_ASSERT_EQUAL(lt_json_parse(deep, strlen(deep), &j, err, sizeof(err)), LT_EINVAL);
    CU_ASSERT(strstr(err, "\"a\" appears twice") != NULL);
    CU_ASSERT_EQUAL(lt_json_parse("{\"a\":1} x", 10, &j, err, sizeof(err)), LT_EINVAL);
    CU_ASSERT(strstr(err, "byte 8") != NULL); /* text after the value */
    CU_ASSERT_EQUAL(lt_json_parse("{\"a\":NaN}", 9, &j, err, sizeof(err)), LT_EINVAL);
    CU_ASSERT(strstr(err, "byte 5") != NULL);
    CU_ASSERT_EQUAL(lt_json_parse("{\"a\":", 5, &j, err, sizeof(err)), LT_EINVAL);
    CU_ASSERT(strstr(err, "byte 5") != NULL); /* cut short */
}

static const struct lt_test common_tests[] = {
    {"error strings", test_err_strings},
    {"error codes are distinct and negative", test_err_codes_distinct},
    {"log levels parse", test_log_levels},
    {"log stamp without gmtime (signal handlers)", test_log_stamp_safe},
    {"a refused option is named as written", test_opt_refused},
    {"monotonic clock advances", test_clock_monotonic},
    {"reaper frees every batch on its thread", test_reaper},
    {"CPU affinity: the allowed list, its text, pinning every thread", test_cpu},
    {"SCHED_BATCH for the caller and the threads it starts meanwhile", test_cpu_batch_self},
    {"strict UTF-8 against its definition", test_utf8},
    {"the lexical pass of strict JSON", test_json_lex},
    {"a key twice in one object", test_json_dup_key},
    {"strict JSON reading", test_json_parse},
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
