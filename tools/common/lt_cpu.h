/* lt_cpu.h — which CPUs this process may run on, pinning a whole process to one, and
 * keeping helper threads from preempting the one that does the work.
 *
 * A node hands every request from thread to thread (NNG's poller and task threads, its
 * loop, its WAL writer) several times. When the threads sit on different CPUs each hand-off
 * wakes the other CPU with an interrupt, which a virtual machine pays with an exit to the
 * hypervisor; on one CPU the woken thread simply runs next. Three nodes on one 2-core VM,
 * each pinned to a CPU (round robin), did 10-18% more writes than unpinned, with a lower
 * p99 (docs/BENCHMARKS.md, "One CPU per node"). Bulk background threads
 * (lt_cpu_background) keep every CPU. */
#ifndef LT_CPU_H
#define LT_CPU_H

#include <stdbool.h>
#include <stddef.h>

#define LT_CPU_MAX 1024 /* CPU numbers are 0..LT_CPU_MAX-1 */

/* lt_cpu_allowed writes the CPUs the calling thread may run on, in increasing order, to
 * cpus[0..max) and returns how many there are (possibly more than max); an LT_E* code if
 * the kernel will not say. */
int lt_cpu_allowed(int *cpus, size_t max);

/* lt_cpu_pin_process confines every thread of this process but the background ones, and
 * every thread they start from now on, to CPU `cpu`. Meant to be called once. Returns 0,
 * LT_EINVAL (not a CPU this process may use) or LT_EIO (the kernel refused; errno says
 * why). */
int lt_cpu_pin_process(int cpu);

/* lt_cpu_background marks the calling thread as bulk background work (writing a snapshot,
 * growing a hash table, freeing a compacted log) that should not take its node's one CPU:
 * it may run on every CPU the process could use before lt_cpu_pin_process, now if the
 * process is pinned already, and lt_cpu_pin_process leaves it alone if it comes later.
 * The thread is named "bg:" + name (at most 12 characters; see top -H). Call it first
 * thing in the thread. Returns 0 or LT_EIO. */
int lt_cpu_background(const char *name);

/* lt_cpu_batch_self switches the calling thread to the SCHED_BATCH policy (on) or to the
 * default SCHED_OTHER (off); threads it starts meanwhile inherit the policy and keep it. A
 * batch thread that wakes up does not preempt the thread running on its CPU (sched(7)): it
 * runs when that one blocks, or when its time slice ends. A node opens its first NNG
 * socket in batch, so that NNG's threads, which it starts then, run batch: each message
 * NNG takes off a socket wakes one of them, which as a normal thread preempted the node's
 * loop on the node's one CPU to hand the message over — 2.2 times per write on the leader,
 * 7.9 context switches of the leader per write in all against 1.8 with them batch, and
 * 9-19% more writes (docs/BENCHMARKS.md, "Session 19"); the loop now takes what has piled
 * up in one pass. Any thread may switch itself between the two policies without
 * privileges. Returns 0 or LT_EIO (errno says why). */
int lt_cpu_batch_self(bool on);

/* lt_cpu_list formats `cpus` as "0-3,6" into buf (truncated to len). Returns buf. */
char *lt_cpu_list(const int *cpus, size_t n, char *buf, size_t len);

#endif
