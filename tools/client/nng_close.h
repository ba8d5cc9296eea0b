/* nng_close.h — closing NNG sockets and finishing NNG without risking a hang.
 *
 * NNG 1.5 (Debian 12's libnng1) can deadlock while it tears down: its reaper thread waits
 * for a task that was prepared but never started (nanomsg/nng#1543), or for a lock no
 * live thread will release. Seen here on a sub0 socket closed while a busy event stream
 * still arrived (`lithair-admin watch` printed its events and never exited, about 1 run
 * in 30 under the sanitizers and a write load), and in nng_fini() at the end of a
 * `lithair-admin items update` that asked a node frozen with SIGSTOP (about 1 run in 50
 * of test_linearizable's paused-leader history). A program that meets it has nothing
 * left to do with NNG, so the teardown runs on a helper thread and the caller goes on
 * after a bounded wait. */
#ifndef LT_NNG_CLOSE_H
#define LT_NNG_CLOSE_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>

/* nng_msg_alloc_send is nng_msg_alloc for a message about to be handed to NNG to send.
 * NNG 1.5.2 drops without freeing a message whose pipe closes just as its send starts
 * (the TCP and inproc transports return when nni_aio_begin fails, and the callback that
 * would free it never runs; later NNG releases free it). The daemons' tests run under
 * LeakSanitizer, which reports that message as a leak of ours, about once in a few
 * dozen runs with nodes coming and going. Every sent message is allocated here, and the
 * sanitizer builds excuse leaks allocated in this function only (nng_close.c): any
 * other leak, ours or NNG's, is still reported. */
int nng_msg_alloc_send(nng_msg **msg, size_t size);

/* nng_close_within closes `s` and waits at most `ms` for the close to finish. true: closed;
 * false: the close is stuck inside NNG (it goes on on a detached thread). NNG's one reaper
 * thread is then stuck too, so any later nng_close() or nng_fini() would hang as well: the
 * caller should leave the process without them. */
bool nng_close_within(nng_socket s, unsigned ms);

/* nng_run_within runs fn(arg) — NNG teardown: closing sockets, nng_fini() — on a helper
 * thread and waits at most `ms` for it. true: it returned; false: it is stuck inside NNG
 * (it goes on on a detached thread, so `arg` must outlive the process's next steps) and
 * nng_close_stuck() says so from then on. */
bool nng_run_within(void (*fn)(void *), void *arg, unsigned ms);

/* nng_fini_within: nng_fini() with a bounded wait (nng_run_within). Skipped (false) when a
 * close is already known to be stuck. */
bool nng_fini_within(unsigned ms);

/* nng_close_stuck tells whether any bounded teardown of this process timed out. */
bool nng_close_stuck(void);

#endif
