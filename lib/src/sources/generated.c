/* SPDX-License-Identifier: BSD-3-Clause */
/* Sources whose records are computed, not read: integer ranges, generators, in-memory
 * arrays and user callbacks, and fixed-size rows generated or read from an array a block
 * at a time (engine/rows.h). Each partition takes one contiguous equal share. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/rows.h"
#include "sluice/sl_block.h"
#include "sources/sources.h"

/* Bytes of rows a rows generator fills per call (one buffer per partition: it stays in
 * the cache while the rows are copied on). */
#define ROWS_BLOCK_BYTES (256u * 1024u)

typedef struct gen_src {
  int kind; /* 0 range, 1 generator, 2 array, 3 callback, 4 rows generator, 5 rows array */
  int64_t first, n;
  sl_generate_fn gen;
  const sl_record *records;
  sl_source_fn cb;
  void *arg;
  /* a callback's checkpoint hooks (sl_flow_checkpoint_source), or NULL */
  sl_source_save_fn cb_save;
  sl_source_restore_fn cb_restore;
  void *cb_hook_arg;
  /* rows (kinds 4 and 5) */
  sl_generate_rows_fn gen_rows;
  const char *rows;
  size_t row_size, block_rows;
  sl_h5_layout *layout; /* owned; NULL: none */
} gen_src;

typedef struct gen_state {
  const gen_src *src;
  int64_t next, end;
  int partition, partitions;
  char *buf; /* a rows generator's block: rows bfirst .. bfirst + blen - 1 */
  int64_t bfirst, blen;
} gen_state;

static int gen_open(sl__source *src, int partition, int partitions, void **state) {
  const gen_src *g = src->impl;
  gen_state *st = calloc(1, sizeof *st);
  SL__CHECK_ALLOC(st);
  st->src = g;
  st->partition = partition;
  st->partitions = partitions;
  uint64_t lo = 0, hi = 0;
  if (g->kind != 3)
    sl__share((uint64_t)g->n, partition, partitions, &lo, &hi);
  st->next = (int64_t)lo;
  st->end = (int64_t)hi;
  if (g->kind == 4 && hi > lo) {
    st->buf = malloc(g->block_rows * g->row_size);
    if (!st->buf) {
      free(st);
      SL__CHECK_ALLOC(NULL);
    }
  }
  *state = st;
  return SL_OK;
}

/* Rows a block at a time through the engine's row path: bounded work per call (one block
 * when nothing downstream is slow per row, else SL__PULL_RECORDS rows). */
static int rows_pull(gen_state *st, sl__part *part, int *done) {
  const gen_src *g = st->src;
  size_t rs = g->row_size;
  part->row_layout = g->layout;
  int64_t budget =
      sl__rows_unbounded(part) || sl__rows_to_sink(part) ? INT64_MAX : SL__PULL_RECORDS;
  for (int blocks = 0; budget > 0 && st->next < st->end;) {
    const char *base;
    int64_t avail;
    if (g->kind == 4) {
      if (st->next < st->bfirst || st->next >= st->bfirst + st->blen) {
        if (blocks++ > 0)
          break;
        int64_t k = st->end - st->next;
        if (k > (int64_t)g->block_rows)
          k = (int64_t)g->block_rows;
        int rc = g->gen_rows(st->next, (size_t)k, st->buf, g->arg);
        if (rc)
          return sl__callback_result(part, -1, rc);
        st->bfirst = st->next;
        st->blen = k;
      }
      base = st->buf + (size_t)(st->next - st->bfirst) * rs;
      avail = st->bfirst + st->blen - st->next;
    } else {
      if (blocks++ > 0)
        break;
      base = g->rows + (size_t)st->next * rs;
      avail = st->end - st->next;
      if (avail > (int64_t)g->block_rows)
        avail = (int64_t)g->block_rows;
    }
    if (avail > budget)
      avail = budget;
    size_t took = 0;
    int rc = sl__push_rows(part, base, (size_t)avail, rs, 0, (uint64_t)st->next, &took);
    st->next += (int64_t)took;
    budget -= (int64_t)took;
    SL__CHECK(rc);
    if ((int64_t)took < avail)
      break; /* blocked */
  }
  *done = st->next >= st->end;
  return SL_OK;
}

static int gen_pull(void *state, sl__part *part, sl_emitter *out, int *done) {
  gen_state *st = state;
  const gen_src *g = st->src;
  if (g->kind == 3) {
    int d = 0;
    uint64_t before = part->emitted;
    int rc = g->cb(st->partition, st->partitions, out, &d, g->arg);
    if (rc)
      return sl__callback_result(part, -1, rc);
    *done = d;
    part->src_idle = part->emitted == before; /* waiting (an instrument, a slow reader) */
    return SL_OK;
  }
  if (g->kind >= 4)
    return rows_pull(st, part, done);
  for (int n = 0; n < SL__PULL_RECORDS && st->next < st->end; n++) {
    if (sl__part_blocked(part))
      return SL_OK;
    int64_t i = st->next++;
    int rc = SL_OK;
    if (g->kind == 0) {
      int64_t v = g->first + i;
      rc = sl_emit(out, NULL, 0, &v, sizeof v);
      if (rc)
        return rc;
    } else if (g->kind == 1) {
      rc = g->gen(i, out, g->arg);
      if (rc)
        return sl__callback_result(part, -1, rc);
    } else {
      const sl_record *r = &g->records[i];
      rc = sl_emit(out, r->key, r->key_len, r->value, r->value_len);
      if (rc)
        return rc;
    }
  }
  *done = st->next >= st->end;
  return SL_OK;
}

static void gen_close(void *state) {
  gen_state *st = state;
  if (st)
    free(st->buf);
  free(st);
}
static void gen_destroy(sl__source *src) {
  gen_src *g = src->impl;
  if (g)
    sl_h5_layout_destroy(&g->layout);
  free(g);
  src->impl = NULL;
}

/* Checkpoints: the next index of the partition's share (a callback's position is the
 * user's: it has none here, so a flow with one cannot be checkpointed). */
static int gen_snapshot(void *state, sl__bytes *out) {
  const gen_state *st = state;
  return sl__bytes_append(out, &st->next, sizeof st->next);
}

static int gen_restore(void *state, const void *data, size_t len) {
  gen_state *st = state;
  int64_t next;
  if (len != sizeof next)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: a generated source's position of %zu bytes", len);
  memcpy(&next, data, sizeof next);
  st->blen = 0; /* a rows generator fills its block again from there */
  if (next < st->next || next > st->end)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: position %lld outside the partition's share %lld..%lld",
             (long long)next, (long long)st->next, (long long)st->end);
  st->next = next;
  return SL_OK;
}

/* A callback source's position: the user's hooks. */
static int cb_snapshot(void *state, sl__bytes *out) {
  const gen_state *st = state;
  const gen_src *g = st->src;
  sl_state_out o = {out};
  int rc = g->cb_save(st->partition, st->partitions, &o, g->cb_hook_arg);
  if (rc)
    SL__FAIL(SL_ERR_CALLBACK, "partition %d: the callback source's save hook failed (returned %d)",
             st->partition, rc);
  return SL_OK;
}

static int cb_restore(void *state, const void *data, size_t len) {
  const gen_state *st = state;
  const gen_src *g = st->src;
  int rc = g->cb_restore(st->partition, st->partitions, data, len, g->cb_hook_arg);
  if (rc)
    SL__FAIL(SL_ERR_CALLBACK,
             "partition %d: the callback source's restore hook failed (returned %d)", st->partition,
             rc);
  return SL_OK;
}

#define GEN_VT(label, ...)                                                                         \
  {                                                                                                \
    .name = label, .open = gen_open, .pull = gen_pull, .close = gen_close, .destroy = gen_destroy, \
    __VA_ARGS__                                                                                    \
  }
static const sl__source_vt range_vt =
    GEN_VT("range", .snapshot = gen_snapshot, .restore = gen_restore);
static const sl__source_vt generator_vt =
    GEN_VT("generator", .snapshot = gen_snapshot, .restore = gen_restore);
static const sl__source_vt array_vt =
    GEN_VT("array", .snapshot = gen_snapshot, .restore = gen_restore);
static const sl__source_vt callback_vt =
    GEN_VT("callback", .ckpt_refusal = "cannot save its read position: give it save and restore "
                                       "hooks with sl_flow_checkpoint_source");
static const sl__source_vt callback_ckpt_vt =
    GEN_VT("callback", .snapshot = cb_snapshot, .restore = cb_restore);
static const sl__source_vt rows_gen_vt =
    GEN_VT("rows generator", .snapshot = gen_snapshot, .restore = gen_restore);
static const sl__source_vt rows_array_vt =
    GEN_VT("rows", .snapshot = gen_snapshot, .restore = gen_restore);

static int make(sl__source *src, const sl__source_vt *vt, gen_src proto) {
  gen_src *g = malloc(sizeof *g);
  SL__CHECK_ALLOC(g);
  *g = proto;
  src->vt = vt;
  src->impl = g;
  src->total_bytes = 0;
  return SL_OK;
}

int sl__source_range(sl__source *src, int64_t first, int64_t last) {
  if (last < first)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_range: last (%lld) < first (%lld)", (long long)last,
             (long long)first);
  return make(src, &range_vt, (gen_src){.kind = 0, .first = first, .n = last - first});
}

int sl__source_generator(sl__source *src, int64_t n, sl_generate_fn fn, void *arg) {
  if (n < 0)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_generator: negative count %lld", (long long)n);
  return make(src, &generator_vt, (gen_src){.kind = 1, .n = n, .gen = fn, .arg = arg});
}

int sl__source_array(sl__source *src, const sl_record *records, size_t count) {
  return make(src, &array_vt, (gen_src){.kind = 2, .n = (int64_t)count, .records = records});
}

int sl__source_callback(sl__source *src, sl_source_fn fn, void *arg) {
  return make(src, &callback_vt, (gen_src){.kind = 3, .cb = fn, .arg = arg});
}

/* ---- builders ---- */
int sl_flow_from_range(sl_flow *flow, int64_t first, int64_t last, int partitions) {
  SL__CHECK(sl__flow_begin_source(flow, partitions, "sl_flow_from_range"));
  return sl__builder_fail(flow, sl__source_range(&flow->stages[0].source, first, last));
}

int sl_flow_from_generator(sl_flow *flow, int64_t n, sl_generate_fn fn, void *arg, int partitions) {
  if (!fn)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_generator: NULL function");
  SL__CHECK(sl__flow_begin_source(flow, partitions, "sl_flow_from_generator"));
  return sl__builder_fail(flow, sl__source_generator(&flow->stages[0].source, n, fn, arg));
}

int sl_flow_from_array(sl_flow *flow, const sl_record *records, size_t count, int partitions) {
  if (!records && count)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_array: NULL records");
  SL__CHECK(sl__flow_begin_source(flow, partitions, "sl_flow_from_array"));
  return sl__builder_fail(flow, sl__source_array(&flow->stages[0].source, records, count));
}

/* The rows sources: a layout (copied) of the rows' size, the block size. */
static int rows_source(sl_flow *flow, const char *what, const sl__source_vt *vt, gen_src proto,
                       const sl_h5_layout *layout, int partitions) {
  if (proto.row_size == 0)
    SL__FAIL(SL_ERR_INVAL, "%s: row size 0", what);
  if (proto.n < 0)
    SL__FAIL(SL_ERR_INVAL, "%s: negative count %lld", what, (long long)proto.n);
  if (layout && sl_h5_layout_row_size(layout) != proto.row_size)
    SL__FAIL(SL_ERR_INVAL, "%s: the layout's rows have %zu bytes, not %zu", what,
             sl_h5_layout_row_size(layout), proto.row_size);
  proto.block_rows = ROWS_BLOCK_BYTES / proto.row_size;
  if (proto.block_rows < 1)
    proto.block_rows = 1;
  SL__CHECK(sl__flow_begin_source(flow, partitions, what));
  sl_h5_layout *copy = NULL;
  if (layout)
    SL__CHECK(sl__builder_fail(flow, sl_h5_layout_copy(layout, &copy)));
  proto.layout = copy;
  int rc = make(&flow->stages[0].source, vt, proto);
  if (rc)
    sl_h5_layout_destroy(&copy);
  return sl__builder_fail(flow, rc);
}

int sl_flow_from_rows_generator(sl_flow *flow, int64_t nrows, size_t row_size,
                                const sl_h5_layout *layout, sl_generate_rows_fn fn, void *arg,
                                int partitions) {
  if (!fn)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_rows_generator: NULL function");
  return rows_source(
      flow, "sl_flow_from_rows_generator", &rows_gen_vt,
      (gen_src){.kind = 4, .n = nrows, .gen_rows = fn, .arg = arg, .row_size = row_size}, layout,
      partitions);
}

int sl_flow_from_rows(sl_flow *flow, const void *rows, size_t nrows, size_t row_size,
                      const sl_h5_layout *layout, int partitions) {
  if (!rows && nrows)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_rows: NULL rows");
  if (nrows > (size_t)INT64_MAX)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_rows: %zu rows", nrows);
  return rows_source(flow, "sl_flow_from_rows", &rows_array_vt,
                     (gen_src){.kind = 5, .n = (int64_t)nrows, .rows = rows, .row_size = row_size},
                     layout, partitions);
}

int sl_flow_from_callback(sl_flow *flow, sl_source_fn fn, void *arg, int partitions) {
  if (!fn)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_callback: NULL function");
  SL__CHECK(sl__flow_begin_source(flow, partitions, "sl_flow_from_callback"));
  return sl__builder_fail(flow, sl__source_callback(&flow->stages[0].source, fn, arg));
}

int sl_flow_checkpoint_source(sl_flow *flow, sl_source_save_fn save, sl_source_restore_fn restore,
                              void *arg) {
  SL__CHECK(sl__check_open(flow, "sl_flow_checkpoint_source"));
  sl__source *src = flow->nstages ? &flow->stages[0].source : NULL;
  if (!save || !restore)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_checkpoint_source: NULL save or restore"));
  if (!src || src->vt != &callback_vt)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                                                "sl_flow_checkpoint_source: the flow's source "
                                                "must be sl_flow_from_callback"));
  gen_src *g = src->impl;
  g->cb_save = save;
  g->cb_restore = restore;
  g->cb_hook_arg = arg;
  src->vt = &callback_ckpt_vt;
  return SL_OK;
}
