/* crc32c.c — CRC32C with a run-time choice between SSE4.2 and slicing-by-8 (see crc32c.h).
 *
 * The tables are built once, thread-safely (pthread_once); the choice of implementation
 * is made at the same time. Slicing-by-8 after Intel's "A Systematic Approach to
 * Building High Performance Software-based CRC Generators" (Kounavis, Berry, 2005). */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */

static uint32_t crc32c_table[8][256];
static bool crc32c_hw;
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc32c_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc32c_table[0][n];
        for (int t = 1; t < 8; t++) {
            c = crc32c_table[0][c & 0xff] ^ (c >> 8);
            crc32c_table[t][n] = c;
        }
    }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    crc32c_hw = __builtin_cpu_supports("sse4.2");
#endif
}

/* crc32c_sw_raw runs slicing-by-8 on a pre-inverted register. */
static uint32_t crc32c_sw_raw(uint32_t c, const unsigned char *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        c = crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        len--;
    }
    while (len >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= c;
        c = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
            crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
            crc32c_table[3][hi & 0xff] ^ crc32c_table[2][(hi >> 8) & 0xff] ^
            crc32c_table[1][(hi >> 16) & 0xff] ^ crc32c_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* crc32c_hw_raw uses the SSE4.2 crc32 instruction on a pre-inverted register. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw_raw(uint32_t c, const unsigned char *p,
                                                                size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi(c, *p++);
        len--;
    }
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc32c_once, crc32c_init);
    return ~crc32c_sw_raw(~crc, buf, len);
}

uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc32c_once, crc32c_init);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (crc32c_hw)
        return ~crc32c_hw_raw(~crc, buf, len);
#endif
    return ~crc32c_sw_raw(~crc, buf, len);
}

uint32_t crc32c(const void *buf, size_t len)
{
    return crc32c_extend(0, buf, len);
}

bool crc32c_has_hw(void)
{
    pthread_once(&crc32c_once, crc32c_init);
    return crc32c_hw;
}
