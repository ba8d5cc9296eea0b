/* eventpub.c — pub0 publisher for node events (see eventpub.h). */
#include "eventpub.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_err.h"
#include "nng_close.h"
#include "sendnow.h"

#define EVENTPUB_CLOSE_MS 1000 /* longest wait for the socket to close */

struct eventpub {
    nng_socket sock;
    nng_aio *aio; /* eventpub_send's (one thread publishes) */
};

int eventpub_new(const char *url, struct eventpub **out, char *errbuf, size_t errlen)
{
    struct eventpub *p = calloc(1, sizeof(*p));
    if (!p)
        return LT_ENOMEM;
    int rv = nng_aio_alloc(&p->aio, NULL, NULL);
    if (rv != 0) {
        snprintf(errbuf, errlen, "events socket %s: %s", url, nng_strerror(rv));
        free(p);
        return LT_ENOMEM;
    }
    rv = nng_pub0_open(&p->sock);
    if (rv == 0) {
        nng_socket_set_int(p->sock, NNG_OPT_SENDBUF, 1024);
        rv = nng_listen(p->sock, url, NULL, 0);
        if (rv != 0)
            nng_close(p->sock);
    }
    if (rv != 0) {
        snprintf(errbuf, errlen, "events socket %s: %s", url, nng_strerror(rv));
        nng_aio_free(p->aio);
        free(p);
        return LT_EIO;
    }
    *out = p;
    return 0;
}

int eventpub_send(struct eventpub *p, const void *buf, size_t len)
{
    nng_msg *msg;
    if (nng_msg_alloc_send(&msg, len) != 0)
        return LT_ENOMEM;
    memcpy(nng_msg_body(msg), buf, len);
    if (sendnow(p->sock, p->aio, msg) != 0) {
        nng_msg_free(msg);
        return LT_EBUSY;
    }
    return 0;
}

void eventpub_free(struct eventpub *p)
{
    if (!p)
        return;
    if (!nng_close_within(p->sock, EVENTPUB_CLOSE_MS))
        return; /* stuck (nng_close.h): the send aio may still complete: leave it */
    nng_aio_free(p->aio);
    free(p);
}
