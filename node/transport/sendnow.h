/* sendnow.h — a non-blocking send on a socket through an aio its caller keeps, for the
 * transport's hot paths. nng_sendmsg(NNG_FLAG_NONBLOCK) allocates and frees an aio per
 * call, and NNG 1.5 picks each new aio's expiry queue with a getrandom() system call:
 * per raft Batch and per event that was the loop's most frequent system call. */
#ifndef LT_SENDNOW_H
#define LT_SENDNOW_H

#include <nng/nng.h>

/* sendnow queues `msg` on `sock` if there is room at once, using `aio` (no callback, not
 * in use by anyone else). On success NNG owns msg; on failure the caller still does.
 * Returns NNG's result: 0, NNG_ETIMEDOUT when the send queue is full, NNG_ECLOSED... */
static inline int sendnow(nng_socket sock, nng_aio *aio, nng_msg *msg)
{
    nng_aio_set_timeout(aio, NNG_DURATION_ZERO);
    nng_aio_set_msg(aio, msg);
    nng_send_aio(sock, aio);
    nng_aio_wait(aio);
    int rv = nng_aio_result(aio);
    nng_aio_set_msg(aio, NULL);
    return rv;
}

#endif
