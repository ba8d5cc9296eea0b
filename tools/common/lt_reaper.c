/* lt_reaper.c — the reaper: a queue of pointer batches and one thread that frees them.
 * Batches are large and rare (one per log compaction), so one mutex and a condition
 * variable are all the synchronisation needed. */
#include "lt_reaper.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "lt_cpu.h"
#include "lt_err.h"

struct lt_batch {
    struct lt_batch *next;
    void **ptrs;
    size_t n;
};

struct lt_reaper {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct lt_batch *head, *tail; /* under mu */
    bool stopping;                /* under mu */
    size_t freed;                 /* the thread's own count; read after the join */
};

static void batch_free(void **ptrs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ptrs[i]);
    free(ptrs);
}

static void *reaper_main(void *arg)
{
    struct lt_reaper *rp = arg;
    (void)lt_cpu_background("reaper"); /* bulk frees: on any CPU, not a pinned node's one */
    pthread_mutex_lock(&rp->mu);
    for (;;) {
        while (!rp->head && !rp->stopping)
            pthread_cond_wait(&rp->cv, &rp->mu);
        struct lt_batch *b = rp->head;
        if (!b)
            break; /* stopping, and nothing left */
        rp->head = b->next;
        if (!rp->head)
            rp->tail = NULL;
        pthread_mutex_unlock(&rp->mu);
        batch_free(b->ptrs, b->n);
        rp->freed += b->n;
        free(b);
        pthread_mutex_lock(&rp->mu);
    }
    pthread_mutex_unlock(&rp->mu);
    return NULL;
}

int lt_reaper_start(struct lt_reaper **out)
{
    struct lt_reaper *rp = calloc(1, sizeof(*rp));
    if (!rp)
        return LT_ENOMEM;
    pthread_mutex_init(&rp->mu, NULL);
    pthread_cond_init(&rp->cv, NULL);
    if (pthread_create(&rp->thread, NULL, reaper_main, rp) != 0) {
        pthread_cond_destroy(&rp->cv);
        pthread_mutex_destroy(&rp->mu);
        free(rp);
        return LT_EIO;
    }
    *out = rp;
    return 0;
}

void lt_reaper_give(struct lt_reaper *rp, void **ptrs, size_t n)
{
    struct lt_batch *b = rp ? malloc(sizeof(*b)) : NULL;
    if (!b) {
        batch_free(ptrs, n);
        return;
    }
    b->next = NULL;
    b->ptrs = ptrs;
    b->n = n;
    pthread_mutex_lock(&rp->mu);
    if (rp->tail)
        rp->tail->next = b;
    else
        rp->head = b;
    rp->tail = b;
    pthread_cond_signal(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
}

size_t lt_reaper_stop(struct lt_reaper *rp)
{
    if (!rp)
        return 0;
    pthread_mutex_lock(&rp->mu);
    rp->stopping = true;
    pthread_cond_signal(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
    pthread_join(rp->thread, NULL);
    size_t freed = rp->freed;
    pthread_cond_destroy(&rp->cv);
    pthread_mutex_destroy(&rp->mu);
    free(rp);
    return freed;
}
