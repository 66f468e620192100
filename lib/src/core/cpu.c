/* SPDX-License-Identifier: BSD-3-Clause */
/* What the CPU offers, asked once per process: the vector kernels and the checksum pick
 * their code at run time, since the nodes of one cluster differ. SLUICE_SIMD=sse2 forces
 * the baseline code (the tests run both on one CPU). */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#if defined(__x86_64__) && defined(__GNUC__)
static int baseline_forced(void) {
  const char *force = getenv("SLUICE_SIMD");
  return force && !strcmp(force, "sse2");
}

static int avx2 = -1, sse42 = -1;

static void ask(void) {
  if (avx2 >= 0)
    return;
  __builtin_cpu_init();
  int base = baseline_forced();
  sse42 = __builtin_cpu_supports("sse4.2") && !base;
  avx2 = __builtin_cpu_supports("avx2") && !base;
}

int sl__cpu_avx2(void) {
  ask();
  return avx2;
}

int sl__cpu_sse42(void) {
  ask();
  return sse42;
}
#else
int sl__cpu_avx2(void) {
  return 0;
}
int sl__cpu_sse42(void) {
  return 0;
}
#endif
