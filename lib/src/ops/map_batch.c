/* SPDX-License-Identifier: BSD-3-Clause */
/* map_batch: the user's function gets a whole batch of records at once. First in a stage
 * fed by another stage, it gets each arriving batch as it is (push_batch); fed by a source,
 * it gathers records into batches of --sl-batch-bytes first. */
#include <stdlib.h>

#include "ops/ops.h"

static int call(sl__part *p, int i, const char *data, size_t len) {
  const sl__step *s = p->steps[i].step;
  sl_batch b = {data, len, 0};
  int rc = ((sl_map_batch_fn)s->fn)(&b, &p->em[i + 1], s->arg);
  return rc ? sl__callback_result(p, i, rc) : SL_OK;
}

static int flush(sl__part *p, int i) {
  sl__bytes *b = p->steps[i].state;
  if (!b->len)
    return SL_OK;
  size_t len = b->len;
  b->len = 0;
  return call(p, i, b->p, len);
}

static int map_batch_create(sl__part *p, int i) {
  p->steps[i].state = calloc(1, sizeof(sl__bytes));
  SL__CHECK_ALLOC(p->steps[i].state);
  return SL_OK;
}

static void map_batch_destroy(sl__part *p, int i) {
  sl__bytes *b = p->steps[i].state;
  if (b)
    sl__bytes_free(b);
  free(b);
  p->steps[i].state = NULL;
}

static int map_batch_push(sl__part *p, int i, const sl_record *rec) {
  sl__bytes *b = p->steps[i].state;
  size_t cap = (size_t)p->run->ctx->opt.batch_bytes;
  if (b->len + sl__rec_size(rec->key_len, rec->value_len) > cap)
    SL__CHECK(flush(p, i));
  SL__CHECK(sl__bytes_put_record(b, rec));
  return b->len >= cap ? flush(p, i) : SL_OK;
}

static int map_batch_push_batch(sl__part *p, int i, const char *data, size_t len, uint32_t nrec) {
  (void)nrec;
  return call(p, i, data, len);
}

static int map_batch_drain(sl__part *p, int i, int *finished) {
  *finished = 1;
  return flush(p, i);
}

/* Checkpoints: the records gathered for the next call, as they are. */
static int map_batch_snapshot(sl__part *p, int i, struct sl__ckpt_writer *w) {
  const sl__bytes *b = p->steps[i].state;
  return b->len ? sl__ckpt_put_step(w, p, i, b->p, b->len) : SL_OK;
}

static int map_batch_restore(sl__part *p, int i, const void *data, size_t len) {
  return sl__bytes_append(p->steps[i].state, data, len);
}

const sl__op_vt sl__op_map_batch = {.name = "map_batch",
                                    .flags = SL__OPF_CKPT_PORTABLE,
                                    .snapshot = map_batch_snapshot,
                                    .restore = map_batch_restore,
                                    .create = map_batch_create,
                                    .destroy = map_batch_destroy,
                                    .push = map_batch_push,
                                    .drain = map_batch_drain,
                                    .push_batch = map_batch_push_batch};

int sl_flow_map_batch(sl_flow *flow, sl_map_batch_fn fn, void *arg) {
  SL__CHECK(sl__check_open(flow, "sl_flow_map_batch"));
  if (sl__flow_last_stage(flow)->nsteps)
    return sl__builder_fail(
        flow, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                            "sl_flow_map_batch: must be the first operator of its stage "
                            "(call sl_flow_shuffle or sl_flow_partition before it)"));
  return sl__ops_add_fn(flow, SL__STEP_MAP_BATCH, (void *)fn, arg, "sl_flow_map_batch");
}
