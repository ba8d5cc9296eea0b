/* nng_close.c — nng_close() with a bounded wait (see nng_close.h). */
#include "nng_close.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct closer {
    nng_socket s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done, abandoned; /* under mu: whoever sees the other flag set frees */
};

static atomic_bool stuck;

static void closer_free(struct closer *c)
{
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void *closer_main(void *arg)
{
    struct closer *c = arg;
    nng_close(c->s);
    pthread_mutex_lock(&c->mu);
    c->done = true;
    bool abandoned = c->abandoned;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (abandoned)
        closer_free(c);
    return NULL;
}

bool nng_close_within(nng_socket s, unsigned ms)
{
    struct closer *c = calloc(1, sizeof(*c));
    pthread_condattr_t ca;
    pthread_t t;
    if (!c) {
        nng_close(s); /* no memory for the helper: close here, unbounded */
        return true;
    }
    c->s = s;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t, NULL, closer_main, c) != 0) {
        closer_free(c);
        nng_close(s);
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
    pthread_mutex_lock(&c->mu);
    while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
        ;
    bool done = c->done;
    c->abandoned = !done;
    pthread_mutex_unlock(&c->mu);
    if (done)
        closer_free(c);
    else
        atomic_store(&stuck, true);
    return done;
}

bool nng_close_stuck(void)
{
    return atomic_load(&stuck);
}
