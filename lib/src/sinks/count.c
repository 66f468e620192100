/* SPDX-License-Identifier: BSD-3-Clause */
/* The count sink: the number of records that reach the end of the flow, on every rank. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

typedef struct count_sink {
  uint64_t *out;
  uint64_t n; /* this rank's */
} count_sink;

static int count_prepare(void *impl, sl_ctx *ctx, sl__run *run) {
  (void)ctx;
  (void)run;
  ((count_sink *)impl)->n = 0;
  return SL_OK;
}

static int count_push(void *impl, sl__part *part, const sl_record *rec) {
  (void)part;
  (void)rec;
  ((count_sink *)impl)->n++;
  return SL_OK;
}

static int count_rows(void *impl, sl__part *part, size_t n) {
  (void)part;
  ((count_sink *)impl)->n += n;
  return 1;
}

static int count_finish(void *impl, sl_ctx *ctx, int job_failed) {
  count_sink *c = impl;
  uint64_t total = 0;
  SL__CHECK_MPI(MPI_Allreduce(&c->n, &total, 1, MPI_UINT64_T, MPI_SUM, sl_comm(ctx)));
  if (!job_failed)
    *c->out = total;
  return SL_OK;
}

/* Checkpoints: this rank's count so far. */
static int count_snapshot(void *impl, sl__run *run, struct sl__ckpt_writer *w) {
  (void)run;
  return sl__ckpt_put_sink(w, &((count_sink *)impl)->n, sizeof(uint64_t));
}

static int count_restore(void *impl, sl__run *run, const void *data, size_t len) {
  (void)run;
  if (len != sizeof(uint64_t))
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: a count of %zu bytes", len);
  uint64_t n; /* added: a resume on fewer ranks gives one rank the counts of several */
  memcpy(&n, data, len);
  ((count_sink *)impl)->n += n;
  return SL_OK;
}

static const sl__sink_vt count_vt = {.name = "count",
                                     .snapshot = count_snapshot,
                                     .restore = count_restore,
                                     .ckpt_portable = 1,
                                     .prepare = count_prepare,
                                     .push = count_push,
                                     .finish = count_finish,
                                     .destroy = free,
                                     .count_rows = count_rows};

int sl_flow_to_count(sl_flow *flow, uint64_t *count) {
  if (!count)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_to_count: NULL count");
  count_sink *c = calloc(1, sizeof *c);
  SL__CHECK_ALLOC(c);
  c->out = count;
  return sl__flow_set_sink(flow, &count_vt, c, "sl_flow_to_count");
}
