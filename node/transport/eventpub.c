/* eventpub.c — pub0 publisher for node events (see eventpub.h). */
#include "eventpub.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <stdio.h>
#include <stdlib.h>

#include "lt_err.h"

struct eventpub {
    nng_socket sock;
};

int eventpub_new(const char *url, struct eventpub **out, char *errbuf, size_t errlen)
{
    struct eventpub *p = calloc(1, sizeof(*p));
    if (!p)
        return LT_ENOMEM;
    int rv = nng_pub0_open(&p->sock);
    if (rv == 0) {
        nng_socket_set_int(p->sock, NNG_OPT_SENDBUF, 1024);
        rv = nng_listen(p->sock, url, NULL, 0);
        if (rv != 0)
            nng_close(p->sock);
    }
    if (rv != 0) {
        snprintf(errbuf, errlen, "events socket %s: %s", url, nng_strerror(rv));
        free(p);
        return LT_EIO;
    }
    *out = p;
    return 0;
}

int eventpub_send(struct eventpub *p, const void *buf, size_t len)
{
    return nng_send(p->sock, (void *)buf, len, NNG_FLAG_NONBLOCK) == 0 ? 0 : LT_EBUSY;
}

void eventpub_free(struct eventpub *p)
{
    if (!p)
        return;
    nng_close(p->sock);
    free(p);
}
