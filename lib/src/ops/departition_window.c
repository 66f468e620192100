/* SPDX-License-Identifier: BSD-3-Clause */
/* Flow's departition/4 per window (sl_flow_departition_window): the stage before ends with a
 * windowed reducer whose every trigger leaves as one tagged record (ops/window.c, the stage's
 * tag_triggers); this operator, in a stage of one partition, folds them per window with the
 * user's merge and emits the user's done once every partition has closed the window.
 *
 * A tagged record: key = [i32 partition][i32 partitions][i32 window kind][i32 closes][i64
 * window][trigger name], value = the trigger's events as a batch (the records the reducer would
 * have emitted). `closes` is 1 for the trigger that closes the window in that partition (its
 * "done"; a custom trigger may also be named "done" without closing anything). Records of one
 * sender arrive in its order, so a partition's close comes after its other triggers for that
 * window; each partition is counted once. */
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

enum { TAG_HEAD = 24 };

int sl__depart_tag(sl__part *p, const sl_trigger_info *info, int closes, sl__bytes *key) {
  size_t nl = strlen(info->trigger);
  if (nl >= 256)
    SL__FAIL(SL_ERR_INVAL,
             "stage %d '%s': trigger name of %zu bytes, at most 255 with "
             "sl_flow_departition_window",
             p->stage->index, p->stage->name, nl);
  int32_t h[4] = {info->partition, info->partitions, (int32_t)info->window_kind, !!closes};
  key->len = 0;
  SL__CHECK(sl__bytes_append(key, h, sizeof h));
  SL__CHECK(sl__bytes_append(key, &info->window, sizeof info->window));
  return sl__bytes_append(key, info->trigger, nl);
}

typedef struct dwin {
  int64_t id;
  sl_window_kind kind;
  void *acc;
  int ndone;             /* partitions that closed it */
  unsigned char *closed; /* per partition: closed it (counted once) */
} dwin;

typedef struct dstate {
  dwin *w; /* open windows, ascending id */
  int n, cap;
  int partitions; /* of the stage before (from the tags) */
  int cursor;     /* the final drain: next leftover window to close */
  char name[256]; /* the trigger name of the record being merged, NUL-terminated */
} dstate;

static dstate *ds_of(sl__part *p, int i) {
  return p->steps[i].state;
}

static int depart_create(sl__part *p, int i) {
  dstate *d = calloc(1, sizeof *d);
  SL__CHECK_ALLOC(d);
  p->steps[i].state = d;
  return SL_OK;
}

static void free_acc(sl__part *p, int i, dwin *w) {
  const sl_departition *u = &p->steps[i].step->depart;
  if (w->acc && u->destroy)
    u->destroy(w->acc, u->arg);
  w->acc = NULL;
  free(w->closed);
  w->closed = NULL;
}

static void depart_destroy(sl__part *p, int i) {
  dstate *d = ds_of(p, i);
  if (!d)
    return;
  for (int k = 0; k < d->n; k++)
    free_acc(p, i, &d->w[k]);
  free(d->w);
  free(d);
  p->steps[i].state = NULL;
}

static int find_or_add(sl__part *p, int i, dstate *d, int64_t id, sl_window_kind kind,
                       int partitions, dwin **out) {
  int k = 0;
  while (k < d->n && d->w[k].id < id)
    k++;
  if (k < d->n && d->w[k].id == id) {
    *out = &d->w[k];
    return SL_OK;
  }
  if (d->n == d->cap) {
    int cap = d->cap ? 2 * d->cap : 8;
    dwin *nw = realloc(d->w, (size_t)cap * sizeof *nw);
    SL__CHECK_ALLOC(nw);
    d->w = nw;
    d->cap = cap;
  }
  memmove(&d->w[k + 1], &d->w[k], (size_t)(d->n - k) * sizeof *d->w);
  dwin *w = &d->w[k];
  memset(w, 0, sizeof *w);
  w->id = id;
  w->kind = kind;
  w->closed = calloc((size_t)partitions, 1);
  SL__CHECK_ALLOC(w->closed);
  d->n++;
  const sl_departition *u = &p->steps[i].step->depart;
  int rc = u->init(&w->acc, u->arg);
  if (rc) {
    free(w->closed);
    d->n--;
    memmove(&d->w[k], &d->w[k + 1], (size_t)(d->n - k) * sizeof *d->w);
    return sl__callback_failed(p, i, rc);
  }
  *out = w;
  return SL_OK;
}

/* The window is done everywhere: the user's done, then forget it. */
static int close_win(sl__part *p, int i, dstate *d, int k) {
  const sl_departition *u = &p->steps[i].step->depart;
  dwin *w = &d->w[k];
  sl_trigger_info info = {0, 1, w->kind, w->id, "done"};
  int rc = u->done(w->acc, &info, &p->em[i + 1], u->arg);
  if (rc)
    rc = sl__callback_result(p, i, rc);
  free_acc(p, i, w);
  d->n--;
  memmove(&d->w[k], &d->w[k + 1], (size_t)(d->n - k) * sizeof *d->w);
  return rc;
}

static int depart_push(sl__part *p, int i, const sl_record *rec) {
  dstate *d = ds_of(p, i);
  const sl_departition *u = &p->steps[i].step->depart;
  int32_t h[4];
  int64_t id;
  if (rec->key_len < TAG_HEAD || rec->key_len - TAG_HEAD >= sizeof d->name)
    SL__FAIL(SL_ERR_INTERNAL,
             "stage %d '%s': departition_window got a record without a trigger tag (key of %zu "
             "bytes)",
             p->stage->index, p->stage->name, rec->key_len);
  memcpy(h, rec->key, sizeof h);
  memcpy(&id, (const char *)rec->key + 16, sizeof id);
  size_t nl = rec->key_len - TAG_HEAD;
  memcpy(d->name, (const char *)rec->key + TAG_HEAD, nl);
  d->name[nl] = '\0';
  if (h[1] <= 0 || h[0] < 0 || h[0] >= h[1] || (d->partitions && h[1] != d->partitions))
    SL__FAIL(SL_ERR_INTERNAL,
             "stage %d '%s': departition_window got a bad trigger tag (partition "
             "%d of %d)",
             p->stage->index, p->stage->name, (int)h[0], (int)h[1]);
  d->partitions = h[1];
  dwin *w = NULL;
  SL__CHECK(find_or_add(p, i, d, id, (sl_window_kind)h[2], h[1], &w));
  sl_trigger_info from = {h[0], h[1], (sl_window_kind)h[2], id, d->name};
  sl_batch events = {rec->value, rec->value_len, 0};
  int rc = u->merge(w->acc, &events, &from, u->arg);
  if (rc)
    return sl__callback_result(p, i, rc);
  if (h[3] && !w->closed[h[0]]) {
    w->closed[h[0]] = 1;
    if (++w->ndone >= d->partitions)
      return close_win(p, i, d, (int)(w - d->w));
  }
  return SL_OK;
}

/* The end of the input: windows some partition never closed, in window order (Flow flushes
 * them at its own "done"). */
static int depart_drain(sl__part *p, int i, int *finished) {
  dstate *d = ds_of(p, i);
  *finished = 0;
  while (d->n > 0) {
    if (sl__part_drain_blocked(p, i))
      return SL_OK;
    SL__CHECK(close_win(p, i, d, 0));
  }
  *finished = 1;
  return SL_OK;
}

/* Checkpoints: one chunk per open window: [i64 id][i32 kind][i32 ndone][i32 partitions]
 * [partitions bytes: closed][the accumulator's bytes, from the user's save hook]. */
typedef struct ck_dwin {
  int64_t id;
  int32_t kind, ndone, partitions, pad;
} ck_dwin;

static int depart_snapshot(sl__part *p, int i, struct sl__ckpt_writer *w) {
  dstate *d = ds_of(p, i);
  sl__bytes b = {0};
  int rc = SL_OK;
  for (int k = 0; rc == SL_OK && k < d->n; k++) {
    const dwin *dw = &d->w[k];
    ck_dwin h = {dw->id, (int32_t)dw->kind, dw->ndone, d->partitions, 0};
    b.len = 0;
    rc = sl__bytes_append(&b, &h, sizeof h);
    if (rc == SL_OK)
      rc = sl__bytes_append(&b, dw->closed, (size_t)d->partitions);
    if (rc == SL_OK)
      rc = sl__acc_save(p, i, dw->acc, &b);
    if (rc == SL_OK)
      rc = sl__ckpt_put_step(w, p, i, b.p, b.len);
  }
  sl__bytes_free(&b);
  return rc;
}

static int depart_restore(sl__part *p, int i, const void *data, size_t len) {
  dstate *d = ds_of(p, i);
  ck_dwin h;
  if (len >= sizeof h)
    memcpy(&h, data, sizeof h);
  if (len < sizeof h || h.partitions <= 0 || len - sizeof h < (size_t)h.partitions ||
      (d->partitions && d->partitions != h.partitions))
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: step '%s': a damaged window", p->steps[i].step->name);
  d->partitions = h.partitions;
  dwin *dw = NULL;
  SL__CHECK(find_or_add(p, i, d, h.id, (sl_window_kind)h.kind, h.partitions, &dw));
  const char *c = (const char *)data + sizeof h;
  memcpy(dw->closed, c, (size_t)h.partitions);
  dw->ndone = h.ndone;
  c += h.partitions;
  return sl__acc_restore(p, i, &dw->acc, c, len - (size_t)(c - (const char *)data));
}

const sl__op_vt sl__op_departition_window = {.name = "departition_window",
                                             .snapshot = depart_snapshot,
                                             .restore = depart_restore,
                                             .can_snapshot = sl__acc_can_snapshot,
                                             .create = depart_create,
                                             .destroy = depart_destroy,
                                             .push = depart_push,
                                             .drain = depart_drain};

int sl_flow_departition_window(sl_flow *flow, const sl_departition *u) {
  SL__CHECK(sl__check_open(flow, "sl_flow_departition_window"));
  if (!u || !u->init || !u->merge || !u->done)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_departition_window: init, merge and "
                                                "done are required"));
  sl__stage *s = sl__flow_last_stage(flow);
  int wrapped = -1;
  for (int k = 0; k < s->nsteps && wrapped < 0; k++)
    if (s->steps[k].flags & SL__OPF_WRAPPABLE)
      wrapped = k;
  if (wrapped < 0 || wrapped != s->nsteps - 1 || !(s->steps[wrapped].flags & SL__OPF_REDUCER))
    return sl__builder_fail(
        flow, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                            "sl_flow_departition_window: the current stage must end with its "
                            "reducer (reduce, reduce_by_key, group_by_key, ...), as Flow's "
                            "departition follows a reduce"));
  if (s->on_trigger)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                                                "sl_flow_departition_window: the stage has an "
                                                "on_trigger; merge its output instead"));
  if (s->steps[wrapped].emit_mode != SL_EMIT_EVENTS)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                                                "sl_flow_departition_window: the reducer's "
                                                "sl_flow_emit mode must stay 'events' (merge "
                                                "sees each trigger's events)"));
  if (s->steps[wrapped].fold_emit) /* its records leave outside the triggers */
    return sl__builder_fail(flow, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                                                "sl_flow_departition_window: emit_and_reduce "
                                                "emits outside its triggers; use sl_flow_reduce"));
  sl__window_ensure(flow, s);
  s->tag_triggers = 1;
  SL__CHECK(sl_flow_departition(flow));
  sl__step *st = NULL;
  SL__CHECK(sl__ops_add_step(flow, SL__STEP_DEPART_WINDOW, NULL, NULL, &st));
  st->depart = *u;
  return SL_OK;
}
