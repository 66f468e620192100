/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the checkpoint store (core/ckpt_store.c): part files read back section by
 * section, the manifest committed by one rename, an interrupted commit leaving the previous
 * checkpoint whole, damaged files refused with a line naming the file, and a changed run
 * named by its first differing key. CRC-32 against its published check value. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ckpt_store.h"
#include "core/core.h"
#include "unit.h"

static char dir[256], parent[256];

static void setup_dir(void) {
  char t[] = "/tmp/sl-ckpt-test.XXXXXX";
  CU_ASSERT_FATAL(mkdtemp(t) != NULL);
  snprintf(parent, sizeof parent, "%s", t);
  snprintf(dir, sizeof dir, "%s/ck", t); /* not there yet: the store makes it */
}

static int exists(const char *fmt, unsigned long long n) {
  char p[512], q[256];
  snprintf(q, sizeof q, fmt, n);
  snprintf(p, sizeof p, "%s/%s", dir, q);
  struct stat st;
  return stat(p, &st) == 0;
}

/* Write epoch e's part for rank 0: three sections, one of them 3 MiB (past the buffer). */
static void write_part(uint64_t e, uint64_t *bytes) {
  sl__ckpt_writer *w = NULL;
  EXPECT_INT(sl__ckpt_part_create(dir, e, 0, &w), SL_OK);
  CU_ASSERT_FATAL(w != NULL);
  EXPECT_INT(sl__ckpt_put(w, 1, 0, 0, -1, "pos=42", 6), SL_OK);
  EXPECT_INT(sl__ckpt_put(w, 2, 1, 3, 0, NULL, 0), SL_OK);
  size_t big = 3u << 20;
  char *p = malloc(big);
  for (size_t i = 0; i < big; i++)
    p[i] = (char)(i * 7 + e);
  EXPECT_INT(sl__ckpt_put(w, 3, 1, 3, 1, p, big), SL_OK);
  free(p);
  EXPECT_INT(sl__ckpt_part_finish(w, bytes), SL_OK);
}

static void commit(uint64_t e, uint64_t bytes, const char *input_size) {
  sl__ckpt_manifest m = {.epoch = e};
  EXPECT_INT(sl__ckpt_manifest_add(&m, "command", "sluice-wordcount -o out.tsv\nin.txt"), SL_OK);
  EXPECT_INT(sl__ckpt_manifest_add(&m, "input.0.size", "%s", input_size), SL_OK);
  EXPECT_INT(sl__ckpt_manifest_add(&m, "part.0", "%llu", (unsigned long long)bytes), SL_OK);
  EXPECT_INT(sl__ckpt_commit(dir, &m), SL_OK);
  sl__ckpt_manifest_free(&m);
}

static void read_back(uint64_t e) {
  sl__ckpt_manifest m = {0};
  int found = 0;
  EXPECT_INT(sl__ckpt_load(dir, &m, &found), SL_OK);
  EXPECT_INT(found, 1);
  EXPECT_U64(m.epoch, e);
  /* a newline in a value became a space: one line a key */
  EXPECT_STR(sl__ckpt_manifest_get(&m, "command"), "sluice-wordcount -o out.tsv in.txt");
  sl__ckpt_reader *r = NULL;
  EXPECT_INT(sl__ckpt_part_open(dir, e, 0, &r), SL_OK);
  CU_ASSERT_FATAL(r != NULL);
  sl__ckpt_section s;
  int more = 0;
  EXPECT_INT(sl__ckpt_next(r, &s, &more), SL_OK);
  EXPECT_INT(more, 1);
  EXPECT_INT(s.tag, 1);
  EXPECT_INT(s.stage, 0);
  EXPECT_INT(s.step, -1);
  CU_ASSERT(s.len == 6 && !memcmp(s.data, "pos=42", 6));
  EXPECT_INT(sl__ckpt_next(r, &s, &more), SL_OK);
  CU_ASSERT(more == 1 && s.tag == 2 && s.part == 3 && s.len == 0);
  EXPECT_INT(sl__ckpt_next(r, &s, &more), SL_OK);
  CU_ASSERT(more == 1 && s.tag == 3 && s.len == 3u << 20);
  int same = 1;
  for (size_t i = 0; i < s.len && same; i++)
    same = s.data[i] == (char)(i * 7 + e);
  CU_ASSERT(same);
  EXPECT_INT(sl__ckpt_next(r, &s, &more), SL_OK);
  EXPECT_INT(more, 0);
  sl__ckpt_part_close(r);
  sl__ckpt_manifest_free(&m);
}

static void test_crc(void) {
  /* the check value of CRC-32C (RFC 3720's polynomial) */
  EXPECT_INT(sl__crc32c(0, "123456789", 9), 0xE3069283u);
  EXPECT_INT(sl__crc32c_sw(0, "123456789", 9), 0xE3069283u);
  /* in pieces, the same */
  EXPECT_INT(sl__crc32c(sl__crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
  /* RFC 3720 B.4: 32 bytes of zeros, and of 0xFF */
  unsigned char z[32];
  memset(z, 0, sizeof z);
  EXPECT_INT(sl__crc32c(0, z, sizeof z), 0x8A9136AAu);
  memset(z, 0xFF, sizeof z);
  EXPECT_INT(sl__crc32c(0, z, sizeof z), 0x62A8AB43u);
  /* the instruction and the tables agree at every length and alignment */
  unsigned char buf[1000];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (unsigned char)(i * 131 + 7);
  int same = 1;
  for (size_t off = 0; off < 9; off++)
    for (size_t n = 0; n + off <= sizeof buf; n += 37)
      same &= sl__crc32c(5, buf + off, n) == sl__crc32c_sw(5, buf + off, n);
  EXPECT_INT(same, 1);
}

static void test_commit_and_interrupt(void) {
  setup_dir();
  sl__ckpt_manifest m = {0};
  int found = 1;
  EXPECT_INT(sl__ckpt_load(dir, &m, &found), SL_OK); /* no directory yet: no checkpoint */
  EXPECT_INT(found, 0);
  uint64_t b1, b2;
  write_part(1, &b1);
  commit(1, b1, "1000");
  read_back(1);
  /* epoch 2 interrupted before its commit: its part written, a half manifest.tmp left */
  write_part(2, &b2);
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s/manifest.tmp", dir);
  FILE *f = fopen(tmp, "w");
  fputs("sluice-checkpoint 1\nepoch 2\ncomm", f);
  fclose(f);
  read_back(1); /* the previous checkpoint is whole and still the one */
  CU_ASSERT(exists("epoch-%llu", 1));
  /* the retried commit of epoch 2 replaces it and removes epoch 1's files */
  commit(2, b2, "1000");
  read_back(2);
  CU_ASSERT(!exists("epoch-%llu", 1));
  CU_ASSERT(!exists("manifest.tmp%.0llu", 0));
  /* the same run again matches; a changed input is named */
  sl__ckpt_manifest want = {0};
  char why[256] = "";
  EXPECT_INT(sl__ckpt_manifest_add(&want, "input.0.size", "1000"), SL_OK);
  EXPECT_INT(sl__ckpt_load(dir, &m, &found), SL_OK);
  EXPECT_INT(sl__ckpt_manifest_diff(&m, &want, why, sizeof why), 0);
  sl__ckpt_manifest_free(&want);
  EXPECT_INT(sl__ckpt_manifest_add(&want, "input.0.size", "1001"), SL_OK);
  EXPECT_INT(sl__ckpt_manifest_diff(&m, &want, why, sizeof why), 1);
  EXPECT_STR(why, "input.0.size was '1000', now '1001'");
  sl__ckpt_manifest_free(&want);
  sl__ckpt_manifest_free(&m);
  EXPECT_INT(sl__ckpt_remove(dir), SL_OK);
  CU_ASSERT(access(dir, F_OK) != 0);
  rmdir(parent);
}

static void test_damage(void) {
  setup_dir();
  uint64_t b;
  write_part(1, &b);
  commit(1, b, "5");
  char p[512];
  /* a flipped byte in the part file */
  snprintf(p, sizeof p, "%s/epoch-1/rank-0.part", dir);
  FILE *f = fopen(p, "r+");
  fseek(f, 100, SEEK_SET);
  fputc(0x55, f);
  fclose(f);
  sl__ckpt_reader *r = NULL;
  sl__error_clear();
  CU_ASSERT(sl__ckpt_part_open(dir, 1, 0, &r) == SL_ERR_FORMAT && r == NULL);
  EXPECT_CONTAINS(sl__error_message(), "rank-0.part' is damaged: its CRC");
  sl__error_clear();
  /* cut short (a kill while writing) */
  EXPECT_INT(truncate(p, (off_t)b - 5), 0);
  CU_ASSERT(sl__ckpt_part_open(dir, 1, 0, &r) == SL_ERR_FORMAT && r == NULL);
  EXPECT_CONTAINS(sl__error_message(), "is damaged: its trailer");
  sl__error_clear();
  /* a manifest cut short, then one with a changed line, then a foreign file */
  snprintf(p, sizeof p, "%s/manifest", dir);
  sl__ckpt_manifest m = {0};
  int found = 0;
  EXPECT_INT(truncate(p, 30), 0);
  EXPECT_INT(sl__ckpt_load(dir, &m, &found), SL_ERR_FORMAT);
  EXPECT_CONTAINS(sl__error_message(), "incomplete");
  sl__error_clear();
  commit(1, b, "5");
  f = fopen(p, "r+");
  fseek(f, 30, SEEK_SET);
  fputc('#', f);
  fclose(f);
  EXPECT_INT(sl__ckpt_load(dir, &m, &found), SL_ERR_FORMAT);
  EXPECT_CONTAINS(sl__error_message(), "damaged");
  sl__error_clear();
  f = fopen(p, "w");
  fputs("hello\n", f);
  fclose(f);
  EXPECT_INT(sl__ckpt_load(dir, &m, &found), SL_ERR_FORMAT);
  EXPECT_CONTAINS(sl__error_message(), "not a sluice checkpoint manifest");
  sl__error_clear();
  EXPECT_INT(found, 0);
  EXPECT_INT(sl__ckpt_remove(dir), SL_OK);
  EXPECT_INT(rmdir(parent), 0); /* nothing left behind */
}

int main(void) {
  static const sl_test tests[] = {
      {"crc32", test_crc},
      {"commit, interrupted commit, diff", test_commit_and_interrupt},
      {"damaged files", test_damage},
      {NULL, NULL},
  };
  return sl_test_main("ckpt_store", tests);
}
