/* lt_cpu.c — CPU affinity of a whole process (see lt_cpu.h). */
#include "lt_cpu.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "lt_err.h"

int lt_cpu_allowed(int *cpus, size_t max)
{
    cpu_set_t *set = CPU_ALLOC(LT_CPU_MAX);
    if (!set)
        return LT_ENOMEM;
    size_t size = CPU_ALLOC_SIZE(LT_CPU_MAX);
    CPU_ZERO_S(size, set);
    if (sched_getaffinity(0, size, set) != 0) {
        CPU_FREE(set);
        return LT_EIO;
    }
    int n = 0;
    for (int c = 0; c < LT_CPU_MAX; c++) {
        if (CPU_ISSET_S(c, size, set)) {
            if ((size_t)n < max)
                cpus[n] = c;
            n++;
        }
    }
    CPU_FREE(set);
    return n;
}

/* pin_tasks sets the affinity of every thread listed in /proc/self/task; *changed counts
 * the threads it set. Threads started meanwhile inherit their creator's mask, which may
 * still have been the old one: the caller repeats until a pass finds nothing new. */
static int pin_tasks(cpu_set_t *set, size_t size, pid_t *seen, size_t *n_seen, size_t cap,
                     size_t *changed)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return LT_EIO;
    int rc = 0;
    struct dirent *e;
    *changed = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        bool known = false;
        for (size_t i = 0; i < *n_seen && !known; i++)
            known = seen[i] == tid;
        if (known)
            continue;
        if (sched_setaffinity(tid, size, set) != 0 && errno != ESRCH) { /* ESRCH: it ended */
            rc = LT_EIO;
            break;
        }
        if (*n_seen < cap)
            seen[(*n_seen)++] = tid;
        (*changed)++;
    }
    closedir(d);
    return rc;
}

/* The mask the process had before lt_cpu_pin_process, for lt_cpu_unpin_thread. */
static cpu_set_t *g_before;
static pthread_once_t g_before_once = PTHREAD_ONCE_INIT;

static void save_before(void)
{
    cpu_set_t *set = CPU_ALLOC(LT_CPU_MAX);
    size_t size = CPU_ALLOC_SIZE(LT_CPU_MAX);
    if (!set)
        return;
    CPU_ZERO_S(size, set);
    if (sched_getaffinity(0, size, set) != 0) {
        CPU_FREE(set);
        return;
    }
    g_before = set; /* kept for the life of the process */
}

int lt_cpu_unpin_thread(void)
{
    if (!__atomic_load_n(&g_before, __ATOMIC_ACQUIRE))
        return 0;
    return sched_setaffinity(0, CPU_ALLOC_SIZE(LT_CPU_MAX), g_before) == 0 ? 0 : LT_EIO;
}

int lt_cpu_pin_process(int cpu)
{
    int allowed[LT_CPU_MAX];
    int n = lt_cpu_allowed(allowed, LT_CPU_MAX);
    if (n < 0)
        return n;
    bool ok = false;
    for (int i = 0; i < n && !ok; i++)
        ok = allowed[i] == cpu;
    if (!ok)
        return LT_EINVAL;
    pthread_once(&g_before_once, save_before);
    cpu_set_t *set = CPU_ALLOC(LT_CPU_MAX);
    if (!set)
        return LT_ENOMEM;
    size_t size = CPU_ALLOC_SIZE(LT_CPU_MAX);
    CPU_ZERO_S(size, set);
    CPU_SET_S(cpu, size, set);
    /* this thread first: whatever it starts from now on inherits the mask */
    int rc = sched_setaffinity(0, size, set) == 0 ? 0 : LT_EIO;
    pid_t seen[256];
    size_t n_seen = 0, changed = 1;
    for (int pass = 0; rc == 0 && changed && pass < 8; pass++)
        rc = pin_tasks(set, size, seen, &n_seen, sizeof(seen) / sizeof(seen[0]), &changed);
    CPU_FREE(set);
    return rc;
}

char *lt_cpu_list(const int *cpus, size_t n, char *buf, size_t len)
{
    size_t off = 0;
    if (len)
        buf[0] = '\0';
    for (size_t i = 0; i < n && off < len; i++) {
        size_t j = i;
        while (j + 1 < n && cpus[j + 1] == cpus[j] + 1)
            j++;
        int w = j > i ? snprintf(buf + off, len - off, "%s%d-%d", off ? "," : "", cpus[i], cpus[j])
                      : snprintf(buf + off, len - off, "%s%d", off ? "," : "", cpus[i]);
        if (w < 0)
            break;
        off += (size_t)w;
        i = j;
    }
    return buf;
}
