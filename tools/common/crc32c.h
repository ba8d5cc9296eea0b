/* crc32c.h — CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every
 * WAL record, snapshot file and store snapshot stream.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run time) and a
 * portable slicing-by-8 table otherwise; both give identical results (RFC 3720 B.4
 * vectors in tests/unit/test_wal.c). Not a cryptographic hash: it detects accidental
 * corruption (torn writes, flipped bits), not tampering. */
#ifndef CRC32C_H
#define CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* crc32c_extend returns the CRC32C of the bytes already summed into `crc` followed by
 * `buf[0..len)`. Start with crc = 0: crc32c_extend(crc32c_extend(0, a, n), b, m) equals
 * the CRC of a||b. Thread-safe. */
uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t len);

/* crc32c computes the CRC32C of one buffer (crc32c_extend(0, buf, len)). */
uint32_t crc32c(const void *buf, size_t len);

/* crc32c_portable is the table-driven implementation, for tests and comparison. */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len);

/* crc32c_has_hw tells whether the SSE4.2 implementation is in use. */
bool crc32c_has_hw(void);

#endif
