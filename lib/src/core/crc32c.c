/* SPDX-License-Identifier: BSD-3-Clause */
/* CRC-32C (Castagnoli), the checksum of checkpoint files. Checkpoints of a sort hold
 * gigabytes, each byte checksummed when written and when read: a byte-at-a-time table
 * runs at about 0.4 GB/s, slower than the disk, while the SSE4.2 instruction computes
 * this polynomial at several GB/s. Chosen at run time (cluster nodes differ); elsewhere
 * eight tables, eight bytes a step. */
#include <string.h>

#include "core/ckpt_store.h"
#include "core/core.h"

#define POLY 0x82F63B78u /* reflected Castagnoli */

static uint32_t table[8][256];

static void make_tables(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? POLY ^ (c >> 1) : c >> 1;
    table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++)
      table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
}

uint32_t sl__crc32c_sw(uint32_t crc, const void *p, size_t n) {
  if (!table[0][1]) /* one thread per rank: a race could only write the same values */
    make_tables();
  const unsigned char *b = p;
  uint32_t c = ~crc;
  for (; n >= 8; n -= 8, b += 8) {
    uint64_t w;
    memcpy(&w, b, 8);
    w ^= c; /* little-endian: the CRC meets the first four bytes */
    c = table[7][w & 0xFF] ^ table[6][(w >> 8) & 0xFF] ^ table[5][(w >> 16) & 0xFF] ^
        table[4][(w >> 24) & 0xFF] ^ table[3][(w >> 32) & 0xFF] ^ table[2][(w >> 40) & 0xFF] ^
        table[1][(w >> 48) & 0xFF] ^ table[0][w >> 56];
  }
  while (n--)
    c = table[0][(c ^ *b++) & 0xFF] ^ (c >> 8);
  return ~c;
}

#if defined(__x86_64__) && defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const void *p, size_t n) {
  const unsigned char *b = p;
  uint64_t c = ~crc;
  for (; n >= 8; n -= 8, b += 8) {
    uint64_t w;
    memcpy(&w, b, 8);
    c = _mm_crc32_u64(c, w);
  }
  uint32_t c32 = (uint32_t)c;
  while (n--)
    c32 = _mm_crc32_u8(c32, *b++);
  return ~c32;
}

uint32_t sl__crc32c(uint32_t crc, const void *p, size_t n) {
  return sl__cpu_sse42() ? crc_hw(crc, p, n) : sl__crc32c_sw(crc, p, n);
}
#else
uint32_t sl__crc32c(uint32_t crc, const void *p, size_t n) {
  return sl__crc32c_sw(crc, p, n);
}
#endif
