/* SPDX-License-Identifier: BSD-3-Clause */
/* The collect sink: the records of a flow's one last partition, in memory on rank 0 (for
 * small results: sl_flow_to_collect departitions the flow first). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "plan/builder.h"

struct sl_collection {
  sl__bytes data; /* the records, batch-encoded */
  size_t n;
  size_t *offs;
};

typedef struct collect_sink {
  sl_collection **out;
  sl__bytes data;
  size_t n, capoffs;
  size_t *offs;
} collect_sink;

static int collect_prepare(void *impl, sl_ctx *ctx, sl__run *run) {
  (void)impl;
  (void)ctx;
  (void)run;
  return SL_OK;
}

static int collect_push(void *impl, sl__part *part, const sl_record *rec) {
  collect_sink *c = impl;
  (void)part;
  if (c->n == c->capoffs) {
    size_t cap = c->capoffs ? 2 * c->capoffs : 256;
    size_t *n = realloc(c->offs, cap * sizeof *n);
    SL__CHECK_ALLOC(n);
    c->offs = n;
    c->capoffs = cap;
  }
  c->offs[c->n++] = c->data.len;
  return sl__bytes_put_record(&c->data, rec);
}

static int collect_finish(void *impl, sl_ctx *ctx, int job_failed) {
  collect_sink *c = impl;
  (void)ctx;
  if (job_failed)
    return SL_OK;
  sl_collection *r = calloc(1, sizeof *r);
  SL__CHECK_ALLOC(r);
  r->data = c->data;
  r->n = c->n;
  r->offs = c->offs;
  c->data = (sl__bytes){0};
  c->offs = NULL;
  c->n = c->capoffs = 0;
  *c->out = r;
  return SL_OK;
}

static void collect_destroy(void *impl) {
  collect_sink *c = impl;
  if (!c)
    return;
  sl__bytes_free(&c->data);
  free(c->offs);
  free(c);
}

static void collect_describe(const void *impl, FILE *out) {
  (void)impl;
  fprintf(out, "collect to rank 0");
}

/* Checkpoints: the records so far (a small result, held on the last stage's rank), in one
 * chunk in the batch encoding; restored by pushing them again. */
static int collect_snapshot(void *impl, sl__run *run, struct sl__ckpt_writer *w) {
  collect_sink *c = impl;
  (void)run;
  return c->n ? sl__ckpt_put_sink(w, c->data.p, c->data.len) : SL_OK;
}

static int collect_restore(void *impl, sl__run *run, const void *data, size_t len) {
  (void)run;
  size_t pos = 0;
  sl_record r;
  int more;
  while ((more = sl__batch_next(data, len, &pos, &r)) > 0)
    SL__CHECK(collect_push(impl, NULL, &r));
  if (more < 0 || pos != len)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: the collect sink's records are damaged");
  return SL_OK;
}

static const sl__sink_vt collect_vt = {.name = "collect",
                                       .snapshot = collect_snapshot,
                                       .restore = collect_restore,
                                       .prepare = collect_prepare,
                                       .push = collect_push,
                                       .finish = collect_finish,
                                       .destroy = collect_destroy,
                                       .describe = collect_describe};

int sl_flow_to_collect(sl_flow *flow, sl_collection **out) {
  if (!out)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_to_collect: NULL output");
  SL__CHECK(sl__check_open(flow, "sl_flow_to_collect"));
  const sl__stage *s = sl__flow_last_stage(flow);
  if ((s->partitions != 1 || sl_size(flow->ctx) > 1) &&
      !(s->partitions == 1 && s->boundary == SL__BOUND_SINGLE))
    SL__CHECK(sl_flow_departition(flow));
  collect_sink *c = calloc(1, sizeof *c);
  SL__CHECK_ALLOC(c);
  c->out = out;
  *out = NULL;
  return sl__flow_set_sink(flow, &collect_vt, c, "sl_flow_to_collect");
}

size_t sl_collection_count(const sl_collection *c) {
  return c ? c->n : 0;
}

int sl_collection_get(const sl_collection *c, size_t i, sl_record *rec) {
  if (!c || !rec || i >= c->n)
    return SL_ERR_INVAL;
  size_t pos = c->offs[i];
  return sl__batch_next(c->data.p, c->data.len, &pos, rec) == 1 ? SL_OK : SL_ERR_INTERNAL;
}

void sl_collection_destroy(sl_collection **c) {
  if (!c || !*c)
    return;
  sl__bytes_free(&(*c)->data);
  free((*c)->offs);
  free(*c);
  *c = NULL;
}
