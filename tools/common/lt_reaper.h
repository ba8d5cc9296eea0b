/* lt_reaper.h — frees large batches of heap blocks on a thread of its own, so that the
 * thread that dropped them (a node's loop, after compacting its log) does not pause for
 * the hundreds of thousands of free() calls. */
#ifndef LT_REAPER_H
#define LT_REAPER_H

#include <stddef.h>

struct lt_reaper;

/* lt_reaper_start starts the reaper's thread. 0 or an LT_E* code. */
int lt_reaper_start(struct lt_reaper **out);

/* lt_reaper_give hands over `ptrs` (from malloc) and every ptrs[i] (from malloc, or NULL):
 * all of them are freed soon, on the reaper's thread, in the order given. It never fails:
 * with no reaper (NULL) or no memory to queue the batch, they are freed here and now. */
void lt_reaper_give(struct lt_reaper *rp, void **ptrs, size_t n);

/* lt_reaper_stop frees whatever is still queued, joins the thread and frees the reaper.
 * Returns how many ptrs[i] (NULLs included) its thread freed in all. */
size_t lt_reaper_stop(struct lt_reaper *rp);

#endif
