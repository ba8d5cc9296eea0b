/* testutil.h — helpers for tests that touch real things: fresh temporary directories,
 * free loopback ports, and files. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* tu_tmpdir creates a fresh directory under $TMPDIR (or /tmp) and returns its path in
 * `out`; 0 on success. tu_rmrf removes a directory tree. */
int tu_tmpdir(char *out, size_t n, const char *prefix);
int tu_rmrf(const char *path);

/* tu_free_port returns a TCP port on 127.0.0.1 that was free when asked, drawn below the
 * kernel's ephemeral range and claimed (a lock file) from other test processes. */
int tu_free_port(void);

/* tu_file_size returns the size of a file, -1 if it cannot be read. */
long long tu_file_size(const char *path);

/* tu_file_read returns a file's bytes, malloc'd with one byte to spare (the caller frees
 * them), and their count in *len; tu_file_write replaces a file with the len bytes at p.
 * For CUnit tests: a file that cannot be read or written fails the test (CU_ASSERT_FATAL). */
unsigned char *tu_file_read(const char *path, size_t *len);
void tu_file_write(const char *path, const unsigned char *p, size_t len);

/* tu_seed returns the seed a randomized test uses: $LT_SEED if set, else from the clock;
 * it prints the seed so a failing run can be replayed. */
uint64_t tu_seed(const char *what);

/* tu_rng_next steps a seeded xorshift64* generator (*state must not be 0) and returns its
 * next 64 bits: small, fast and the same everywhere, so a seed replays a run. */
uint64_t tu_rng_next(uint64_t *state);

#endif
