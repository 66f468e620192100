/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the wire format of a batch and the hash used for routing and tables.
 *
 * A batch is a sequence of records, each [uint32 key_len][uint32 value_len][key][value]
 * in native byte order (ranks of one job share an architecture). Lengths are unaligned
 * and read with memcpy. A record larger than a batch travels alone as a "big" message. */
#ifndef SLUICE_BATCH_H
#define SLUICE_BATCH_H

#include <stdint.h>
#include <string.h>

#include "sluice.h"

#define SL__REC_HDR 8u

static inline size_t sl__rec_size(size_t klen, size_t vlen) {
  return SL__REC_HDR + klen + vlen;
}

/* Append a record at buf+*len if it fits in cap; returns 1 if appended, 0 if not. */
static inline int sl__batch_append(char *buf, size_t cap, size_t *len, const void *key, size_t klen,
                                   const void *val, size_t vlen) {
  size_t need = SL__REC_HDR + klen + vlen;
  if (cap - *len < need)
    return 0;
  char *p = buf + *len;
  uint32_t k32 = (uint32_t)klen, v32 = (uint32_t)vlen;
  memcpy(p, &k32, 4);
  memcpy(p + 4, &v32, 4);
  if (klen)
    memcpy(p + SL__REC_HDR, key, klen);
  if (vlen)
    memcpy(p + SL__REC_HDR + klen, val, vlen);
  *len += need;
  return 1;
}

/* Decode the record at *pos; returns 1 and advances, 0 at end, -1 if malformed. */
static inline int sl__batch_next(const char *buf, size_t len, size_t *pos, sl_record *rec) {
  if (*pos >= len)
    return 0;
  if (len - *pos < SL__REC_HDR)
    return -1;
  const char *p = buf + *pos;
  uint32_t k32, v32;
  memcpy(&k32, p, 4);
  memcpy(&v32, p + 4, 4);
  if ((uint64_t)k32 + v32 > len - *pos - SL__REC_HDR)
    return -1;
  rec->key = p + SL__REC_HDR;
  rec->key_len = k32;
  rec->value = p + SL__REC_HDR + k32;
  rec->value_len = v32;
  *pos += SL__REC_HDR + (size_t)k32 + v32;
  return 1;
}

/* 64-bit hash of a byte string: 8 bytes per step, multiply-xorshift mixing. Fast on the
 * short keys typical of text and good enough for open addressing and routing. The same
 * on every rank, so it can route. */
static inline uint64_t sl__hash_bytes(const void *data, size_t len) {
  const unsigned char *p = (const unsigned char *)data;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (len * 0xC2B2AE3D27D4EB4Full);
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    p += 8;
    len -= 8;
  }
  if (len) { /* 1..7 bytes, with fixed-size loads (no memcpy call) */
    uint64_t w;
    if (len >= 4) {
      uint32_t a, b;
      memcpy(&a, p, 4);
      memcpy(&b, p + len - 4, 4);
      w = ((uint64_t)a << 32) | b;
    } else {
      w = ((uint64_t)p[0] << 16) | ((uint64_t)p[len >> 1] << 8) | p[len - 1];
    }
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
  }
  h ^= h >> 29;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 32;
  return h;
}

/* Partition of a hash: uses the high half, because tables index by the low bits and the
 * two must not be correlated (a partition would otherwise fill only some table slots). */
static inline int sl__hash_partition(uint64_t h, int parts) {
  return (int)(((h >> 32) * (uint64_t)parts) >> 32);
}

#endif
