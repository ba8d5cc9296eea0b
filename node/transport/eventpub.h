/* eventpub.h — the node's event stream: an NNG pub0 socket carrying lithair.v1.Event
 * messages (rpc.proto) to every subscriber (gateways, `lithair-admin watch`).
 * Publishing never blocks: a slow subscriber loses messages, the node never waits. */
#ifndef EVENTPUB_H
#define EVENTPUB_H

#include <stddef.h>
#include <stdint.h>

struct eventpub;

int eventpub_new(const char *url, struct eventpub **out, char *errbuf, size_t errlen);

/* eventpub_send publishes `len` bytes (a packed Event). 0, or an lt_err code. One thread at
 * a time (the node's loop): the sends share one aio. */
int eventpub_send(struct eventpub *p, const void *buf, size_t len);

void eventpub_free(struct eventpub *p);

#endif
