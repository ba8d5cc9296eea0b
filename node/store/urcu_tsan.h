/* urcu_tsan.h — ThreadSanitizer model of liburcu's ordering (TSan builds only).
 *
 * liburcu 0.13 publishes with volatile stores + compiler/CPU barriers in inline asm and
 * waits for grace periods with futexes and membarrier: TSan sees none of it, so every
 * access to RCU-published or RCU-reclaimed memory is reported. This header restates the
 * guarantees liburcu gives in a form TSan understands, and nothing more:
 *   rcu_assign_pointer  -> store-release         rcu_dereference -> load-acquire
 *   CMM_{LOAD,STORE}_SHARED -> relaxed atomics (same code on x86-64)
 *   read-side unlock, call_rcu        : release on one global sync object
 *   reclamation callbacks, synchronize_rcu, rcu_barrier : acquire on it
 *   cds_lfht_add(node)                : release on node; a match callback acquires node
 * A reader still inside its read-side section when memory is freed has not released yet,
 * so a real use-after-grace-period is still reported. */
#ifndef LITHAIR_URCU_TSAN_H
#define LITHAIR_URCU_TSAN_H

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>

extern char lt_tsan_gp; /* defined in store.c */

#undef rcu_dereference
#define rcu_dereference(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#undef rcu_assign_pointer
#define rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#undef CMM_LOAD_SHARED
#define CMM_LOAD_SHARED(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#undef CMM_STORE_SHARED
#define CMM_STORE_SHARED(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#undef rcu_read_unlock
#define rcu_read_unlock() (__tsan_release(&lt_tsan_gp), urcu_memb_read_unlock())
#undef call_rcu
#define call_rcu(h, f) (__tsan_release(&lt_tsan_gp), urcu_memb_call_rcu((h), (f)))
#undef synchronize_rcu
#define synchronize_rcu()                                                                          \
    (__tsan_release(&lt_tsan_gp), urcu_memb_synchronize_rcu(), __tsan_acquire(&lt_tsan_gp))
#undef rcu_barrier
#define rcu_barrier()          (urcu_memb_barrier(), __tsan_acquire(&lt_tsan_gp))
#define cds_lfht_add(ht, h, n) (__tsan_release(n), cds_lfht_add((ht), (h), (n)))
#define LT_TSAN_CB_BEGIN()     __tsan_acquire(&lt_tsan_gp)
#define LT_TSAN_CB_END()       __tsan_release(&lt_tsan_gp)
#define LT_TSAN_ACQUIRE(p)     __tsan_acquire((void *)(p))
#else
#define LT_TSAN_CB_BEGIN() ((void)0)
#define LT_TSAN_CB_END()   ((void)0)
#define LT_TSAN_ACQUIRE(p) ((void)0)
#endif

#endif
