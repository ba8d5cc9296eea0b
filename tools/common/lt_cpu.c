/* lt_cpu.c — CPU affinity of a whole process, and the scheduling policy of its helper
 * threads (see lt_cpu.h). */
#include "lt_cpu.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
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

/* Under g_mu: the mask the process had before lt_cpu_pin_process (NULL until then), and
 * the background threads, which keep it. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static cpu_set_t *g_before;
static pid_t g_background[64];
static size_t g_n_background;

static bool is_background(pid_t tid)
{
    for (size_t i = 0; i < g_n_background; i++)
        if (g_background[i] == tid)
            return true;
    return false;
}

int lt_cpu_background(const char *name)
{
    char comm[16]; /* the kernel keeps 15 characters */
    snprintf(comm, sizeof(comm), "bg:%.12s", name ? name : "");
    (void)pthread_setname_np(pthread_self(), comm);
    pid_t tid = (pid_t)syscall(SYS_gettid);
    pthread_mutex_lock(&g_mu);
    if (g_n_background < sizeof(g_background) / sizeof(g_background[0]))
        g_background[g_n_background++] = tid;
    int rc = 0;
    if (g_before && sched_setaffinity(0, CPU_ALLOC_SIZE(LT_CPU_MAX), g_before) != 0)
        rc = LT_EIO;
    pthread_mutex_unlock(&g_mu);
    return rc;
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
        bool known = is_background(tid);
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
    size_t size = CPU_ALLOC_SIZE(LT_CPU_MAX);
    cpu_set_t *set = CPU_ALLOC(LT_CPU_MAX);
    cpu_set_t *before = CPU_ALLOC(LT_CPU_MAX);
    if (!set || !before || sched_getaffinity(0, size, before) != 0) {
        int rc = set && before ? LT_EIO : LT_ENOMEM;
        CPU_FREE(set);
        CPU_FREE(before);
        return rc;
    }
    CPU_ZERO_S(size, set);
    CPU_SET_S(cpu, size, set);
    pthread_mutex_lock(&g_mu); /* no background thread registers meanwhile */
    if (!g_before)
        g_before = before; /* kept for the life of the process */
    else
        CPU_FREE(before);
    /* this thread first: whatever it starts from now on inherits the mask */
    int rc = sched_setaffinity(0, size, set) == 0 ? 0 : LT_EIO;
    pid_t seen[256];
    size_t n_seen = 0, changed = 1;
    for (int pass = 0; rc == 0 && changed && pass < 8; pass++)
        rc = pin_tasks(set, size, seen, &n_seen, sizeof(seen) / sizeof(seen[0]), &changed);
    if (rc == 0 && changed) /* threads kept appearing: one of them may have escaped */
        rc = LT_EIO;
    pthread_mutex_unlock(&g_mu);
    CPU_FREE(set);
    return rc;
}

int lt_cpu_batch_self(bool on)
{
    struct sched_param sp = {.sched_priority = 0};
    return sched_setscheduler(0, on ? SCHED_BATCH : SCHED_OTHER, &sp) == 0 ? 0 : LT_EIO;
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
