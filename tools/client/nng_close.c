/* nng_close.c — NNG teardown with a bounded wait, and the allocation of sent messages (see
 * nng_close.h). */
#include "nng_close.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct job {
    void (*fn)(void *);
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done, abandoned; /* under mu: whoever sees the other flag set frees */
};

static atomic_bool stuck;

__attribute__((noinline)) int nng_msg_alloc_send(nng_msg **msg, size_t size)
{
    return nng_msg_alloc(msg, size);
}

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer's suppressions for every program linking this file (see
 * nng_msg_alloc_send in nng_close.h): only what nng_msg_alloc_send allocated. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:nng_msg_alloc_send\n";
}
#endif

static void job_free(struct job *j)
{
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

static void *job_main(void *arg)
{
    struct job *j = arg;
    j->fn(j->arg);
    pthread_mutex_lock(&j->mu);
    j->done = true;
    bool abandoned = j->abandoned;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (abandoned)
        job_free(j);
    return NULL;
}

bool nng_run_within(void (*fn)(void *), void *arg, unsigned ms)
{
    struct job *j = calloc(1, sizeof(*j));
    pthread_condattr_t ca;
    pthread_t t;
    if (!j) {
        fn(arg); /* no memory for the helper: run here, unbounded */
        return true;
    }
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t, NULL, job_main, j) != 0) {
        job_free(j);
        fn(arg);
        return true;
    }
    pthread_detach(t);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&j->mu);
    while (!j->done && pthread_cond_timedwait(&j->cv, &j->mu, &until) == 0)
        ;
    bool done = j->done;
    j->abandoned = !done;
    pthread_mutex_unlock(&j->mu);
    if (done)
        job_free(j);
    else
        atomic_store(&stuck, true);
    return done;
}

static void close_job(void *arg)
{
    nng_close(*(nng_socket *)arg);
}

bool nng_close_within(nng_socket s, unsigned ms)
{
    /* a close already stuck holds NNG's one reaper: this one would wait its whole bound
     * for nothing (a stopping node took 2 s: two such waits) */
    if (nng_close_stuck())
        return false;
    nng_socket *copy = malloc(sizeof(*copy)); /* outlives us if the close is abandoned */
    if (!copy) {
        nng_close(s);
        return true;
    }
    *copy = s;
    bool done = nng_run_within(close_job, copy, ms);
    if (done)
        free(copy);
    return done;
}

static void fini_job(void *arg)
{
    (void)arg;
    nng_fini();
}

bool nng_fini_within(unsigned ms)
{
    return !nng_close_stuck() && nng_run_within(fini_job, NULL, ms);
}

bool nng_close_stuck(void)
{
    return atomic_load(&stuck);
}
