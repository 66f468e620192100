/* SPDX-License-Identifier: BSD-3-Clause */
/* The flow builder: turns sl_flow_* calls into a plan of stages and steps. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "plan/builder.h"

/* Builder errors are remembered and returned by sl_run too, so a program that ignores a
 * builder's return code still fails loudly instead of running a different flow. */
int sl__builder_fail(sl_flow *flow, int code) {
  if (flow && !flow->build_error)
    flow->build_error = code;
  return code;
}

int sl_flow_create(sl_ctx *ctx, sl_flow **flow) {
  if (!ctx || !flow)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_create: NULL argument");
  sl_flow *f = calloc(1, sizeof *f);
  SL__CHECK_ALLOC(f);
  f->ctx = ctx;
  *flow = f;
  return SL_OK;
}

int sl_flow_destroy(sl_flow **flow) {
  if (!flow || !*flow)
    return SL_OK;
  sl_flow *f = *flow;
  if (f->last && f->last_free)
    f->last_free(f->last); /* first: the run's partitions still point into the plan */
  f->last = NULL;
  for (int s = 0; s < f->nstages; s++) {
    sl__source *src = &f->stages[s].source;
    if (src->vt && src->vt->destroy)
      src->vt->destroy(src);
    free(f->stages[s].steps);
  }
  free(f->stages);
  if (f->sink.vt && f->sink.vt->destroy)
    f->sink.vt->destroy(f->sink.impl);
  free(f);
  *flow = NULL;
  return SL_OK;
}

sl__stage *sl__flow_last_stage(sl_flow *flow) {
  return flow->nstages ? &flow->stages[flow->nstages - 1] : NULL;
}

static int resolve_parts(const sl_flow *f, int partitions) {
  return partitions > 0 ? partitions : sl_size(f->ctx);
}

int sl__add_stage(sl_flow *f, sl__boundary b, int partitions, sl__stage **out) {
  if (f->nstages == f->capstages) {
    int cap = f->capstages ? 2 * f->capstages : 4;
    sl__stage *ns = realloc(f->stages, (size_t)cap * sizeof *ns);
    SL__CHECK_ALLOC(ns);
    f->stages = ns;
    f->capstages = cap;
  }
  sl__stage *s = &f->stages[f->nstages];
  memset(s, 0, sizeof *s);
  s->index = f->nstages++;
  s->boundary = b;
  s->partitions = partitions;
  s->target = -1;
  if (b != SL__BOUND_SOURCE && s->index > 0) { /* fed by the stage before it */
    sl__stage *prev = &f->stages[s->index - 1];
    s->inputs[0] = prev->index;
    s->ninputs = 1;
    prev->target = s->index;
    prev->target_slot = 0;
  }
  snprintf(s->name, sizeof s->name, "stage%d", s->index);
  *out = s;
  return SL_OK;
}

int sl__check_open(sl_flow *f, const char *what) {
  if (!f)
    return sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__, "%s: NULL flow", what);
  if (!f->nstages)
    return sl__builder_fail(
        f, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                         "%s: the flow has no source yet (call sl_flow_from_* first)", what));
  if (f->sink.vt)
    return sl__builder_fail(f, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                                             "%s: the flow already ends in a sink", what));
  if (f->ran)
    return sl__builder_fail(
        f, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__, "%s: the flow has already run", what));
  return SL_OK;
}

int sl__add_step_to(sl_flow *f, sl__stage *s, sl__step_kind kind, const struct sl__op_vt *op,
                    unsigned flags, const char *opname, void *fn, void *arg, sl__step **out) {
  if (s->nsteps == s->capsteps) {
    int cap = s->capsteps ? 2 * s->capsteps : 4;
    sl__step *ns = realloc(s->steps, (size_t)cap * sizeof *ns);
    if (!ns)
      return sl__builder_fail(f, sl__error_set(SL_ERR_NOMEM, __FILE__, __LINE__, "out of memory"));
    s->steps = ns;
    s->capsteps = cap;
  }
  sl__step *st = &s->steps[s->nsteps++];
  memset(st, 0, sizeof *st);
  st->kind = kind;
  st->op = op;
  st->flags = flags;
  st->opname = opname;
  st->fn = fn;
  st->arg = arg;
  snprintf(st->name, sizeof st->name, "%s#%d.%d", opname, s->index, s->nsteps - 1);
  if (out)
    *out = st;
  return SL_OK;
}

/* A reducer, or a join (a stage wrapper applies to both), fills the stage's one slot. */
static int stage_has_reducer(const sl__stage *s) {
  for (int i = 0; i < s->nsteps; i++)
    if (s->steps[i].flags & (SL__OPF_REDUCER | SL__OPF_WRAPPABLE))
      return 1;
  return 0;
}

int sl_flow_name(sl_flow *flow, const char *name) {
  if (!flow || !name)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_name: NULL argument");
  sl__stage *s = sl__flow_last_stage(flow);
  if (!s)
    SL__FAIL(SL_ERR_STATE, "sl_flow_name: nothing to name yet");
  if (s->nsteps)
    snprintf(s->steps[s->nsteps - 1].name, sizeof s->steps[0].name, "%s", name);
  else
    snprintf(s->name, sizeof s->name, "%s", name);
  return SL_OK;
}

int sl_flow_name_stage(sl_flow *flow, const char *name) {
  if (!flow || !name)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_name_stage: NULL argument");
  sl__stage *s = sl__flow_last_stage(flow);
  if (!s)
    SL__FAIL(SL_ERR_STATE, "sl_flow_name_stage: no stage yet (call sl_flow_from_* first)");
  snprintf(s->name, sizeof s->name, "%s", name);
  return SL_OK;
}

int sl_flow_set_label(sl_flow *flow, const char *label) {
  if (!flow || !label)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_set_label: NULL argument");
  snprintf(flow->label, sizeof flow->label, "%s", label);
  return SL_OK;
}

/* ---- sources ---- */
int sl__flow_begin_source(sl_flow *f, int partitions, const char *what) {
  if (!f)
    SL__FAIL(SL_ERR_INVAL, "%s: NULL flow", what);
  if (f->nstages)
    return sl__builder_fail(f, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                                             "%s: a flow has exactly one source", what));
  sl__stage *s = NULL;
  SL__CHECK(sl__add_stage(f, SL__BOUND_SOURCE, resolve_parts(f, partitions), &s));
  return SL_OK;
}

int sl__flow_set_source(sl_flow *flow, int partitions, const sl__source_vt *vt, void *impl,
                        const char *what) {
  int rc = sl__flow_begin_source(flow, partitions, what);
  if (rc != SL_OK) {
    sl__source tmp = {vt, impl, 0};
    if (vt->destroy)
      vt->destroy(&tmp);
    return rc;
  }
  flow->stages[0].source.vt = vt;
  flow->stages[0].source.impl = impl;
  return SL_OK;
}

int sl_flow_partition(sl_flow *flow, int partitions, sl_hash_fn hash, void *arg) {
  SL__CHECK(sl__check_open(flow, "sl_flow_partition"));
  sl__stage *s = NULL;
  SL__CHECK(sl__add_stage(flow, SL__BOUND_HASH, resolve_parts(flow, partitions), &s));
  s->hash = hash;
  s->hash_arg = arg;
  return SL_OK;
}

int sl_flow_shuffle(sl_flow *flow, int partitions) {
  SL__CHECK(sl__check_open(flow, "sl_flow_shuffle"));
  sl__stage *s = NULL;
  return sl__add_stage(flow, SL__BOUND_SHUFFLE, resolve_parts(flow, partitions), &s);
}

int sl_flow_departition(sl_flow *flow) {
  SL__CHECK(sl__check_open(flow, "sl_flow_departition"));
  sl__stage *s = NULL;
  return sl__add_stage(flow, SL__BOUND_SINGLE, 1, &s);
}

int sl__check_reducer_slot(sl_flow *f, const char *what) {
  SL__CHECK(sl__check_open(f, what));
  if (stage_has_reducer(sl__flow_last_stage(f)))
    return sl__builder_fail(
        f, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                         "%s: this stage already has a reducer (one per stage, as in "
                         "Flow: call sl_flow_partition first)",
                         what));
  return SL_OK;
}

int sl_flow_emit(sl_flow *flow, sl_emit_mode mode) {
  SL__CHECK(sl__check_open(flow, "sl_flow_emit"));
  sl__stage *s = sl__flow_last_stage(flow);
  for (int i = s->nsteps - 1; i >= 0; i--) {
    if (s->steps[i].flags & SL__OPF_REDUCER) {
      s->steps[i].emit_mode = mode;
      return SL_OK;
    }
  }
  return sl__builder_fail(flow, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                                              "sl_flow_emit: the current stage has no reducer"));
}

/* ---- the sink ---- */
int sl__flow_set_sink(sl_flow *flow, const sl__sink_vt *vt, void *impl, const char *what) {
  int rc = sl__check_open(flow, what);
  if (rc != SL_OK) {
    if (vt->destroy)
      vt->destroy(impl);
    return rc;
  }
  flow->sink.vt = vt;
  flow->sink.impl = impl;
  return SL_OK;
}

/* ---- describe ---- */
static const char *boundary_name(sl__boundary b) {
  switch (b) {
  case SL__BOUND_SOURCE:
    return "source";
  case SL__BOUND_HASH:
    return "partition by key hash";
  case SL__BOUND_SHUFFLE:
    return "shuffle (round robin)";
  case SL__BOUND_SINGLE:
    return "departition (one partition)";
  case SL__BOUND_ROUTED:
    return "routed by its operator (e.g. a sort's sampled splitters)";
  }
  return "?";
}

int sl_flow_describe(const sl_flow *flow, FILE *out) {
  if (!flow || !out)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_describe: NULL argument");
  int size = sl_size(flow->ctx);
  fprintf(out, "flow: %d stage(s) on %d rank(s)\n", flow->nstages, size);
  for (int s = 0; s < flow->nstages; s++) {
    const sl__stage *st = &flow->stages[s];
    fprintf(out, "  stage %d '%s': %d partition(s), input: %s%s%s", s, st->name, st->partitions,
            boundary_name(st->boundary), st->source.vt ? " " : "",
            st->source.vt ? st->source.vt->name : "");
    if (st->ninputs) {
      fprintf(out, " from stage%s", st->ninputs > 1 ? "s" : "");
      for (int j = 0; j < st->ninputs; j++)
        fprintf(out, " %d", st->inputs[j]);
    }
    if (st->windowed)
      fprintf(out, ", window: %s",
              (const char *[]){"global", "count", "fixed", "periodic"}[st->window.kind]);
    fprintf(out, "\n");
    for (int i = 0; i < st->nsteps; i++)
      fprintf(out, "    step %d: %s (%s)\n", i, st->steps[i].name, st->steps[i].opname);
    fprintf(out, "    placement:");
    int shown = st->partitions < 16 ? st->partitions : 16;
    for (int p = 0; p < shown; p++)
      fprintf(out, " p%d@r%d", p, p % size);
    if (shown < st->partitions)
      fprintf(out, " ... (partition p on rank p mod %d)", size);
    fprintf(out, "\n");
  }
  fprintf(out, "  sink: ");
  if (!flow->sink.vt)
    fprintf(out, "none");
  else if (flow->sink.vt->describe)
    flow->sink.vt->describe(flow->sink.impl, out);
  else
    fprintf(out, "%s", flow->sink.vt->name);
  fprintf(out, "\n");
  return SL_OK;
}

/* Every rank must have built the same plan; compare a fingerprint. */
uint64_t sl__plan_fingerprint(const sl_flow *f) {
  uint64_t h = 1469598103934665603ull;
#define MIX(v) (h = (h ^ (uint64_t)(v)) * 1099511628211ull)
  MIX(f->nstages);
  for (const char *c = f->sink.vt ? f->sink.vt->name : ""; *c; c++)
    MIX(*c);
  for (int s = 0; s < f->nstages; s++) {
    MIX(f->stages[s].partitions);
    MIX(f->stages[s].boundary);
    MIX(f->stages[s].target);
    MIX(f->stages[s].wrap != NULL);
    MIX(f->stages[s].window.kind);
    MIX(f->stages[s].nsteps);
    for (int i = 0; i < f->stages[s].nsteps; i++) {
      MIX(f->stages[s].steps[i].kind);
      for (const char *c = f->stages[s].steps[i].opname; c && *c; c++)
        MIX(*c); /* operators outside the registry share one kind */
    }
  }
#undef MIX
  return h;
}

/* ---- questions other modules ask about the plan ---- */
int sl__plan_ordered_output(const sl_flow *flow) {
  if (!flow->nstages)
    return 1;
  const sl__stage *last = &flow->stages[flow->nstages - 1];
  for (int i = 0; i < last->nsteps; i++)
    if (last->steps[i].flags & SL__OPF_ORDERED)
      return 1;
  for (int s = 0; s < flow->nstages; s++)
    if (flow->stages[s].source.vt && (flow->stages[s].source.vt->caps & SL__SRC_ORDERED))
      return 1;
  return 0;
}

int sl__plan_collective_sources(const sl_flow *flow) {
  int n = 0;
  for (int s = 0; s < flow->nstages; s++) {
    const sl__source *src = &flow->stages[s].source;
    if (src->vt && src->vt->collective && src->vt->collective(src))
      n++;
  }
  return n;
}

size_t sl__plan_inputs(const sl_flow *flow, char *buf, size_t cap) {
  size_t pos = 0;
  if (cap)
    buf[0] = 0;
  for (int s = 0; s < flow->nstages; s++) {
    const sl__source *src = &flow->stages[s].source;
    if (!src->vt || !src->vt->inputs)
      continue;
    if (pos) { /* one input a line */
      if (pos + 1 < cap) {
        buf[pos] = '\n';
        buf[pos + 1] = 0;
      }
      pos++;
    }
    pos += src->vt->inputs(src, pos < cap ? buf + pos : NULL, pos < cap ? cap - pos : 0);
  }
  return pos;
}

int sl__plan_check(const sl_flow *flow) {
  for (int s = 0; s < flow->nstages; s++) {
    const sl__stage *st = &flow->stages[s];
    int wrappable = 0;
    for (int i = 0; i < st->nsteps; i++)
      wrappable |= (st->steps[i].flags & SL__OPF_WRAPPABLE) != 0;
    if (st->wrap && !wrappable)
      SL__FAIL(SL_ERR_STATE,
               "stage %d '%s' has a window or on_trigger but no reducer to apply it to (add "
               "sl_flow_reduce, reduce_by_key, group_by_key, take_sort or a join to the "
               "stage)",
               st->index, st->name);
    if (st->boundary == SL__BOUND_ROUTED && (s == 0 || !st->ninputs))
      SL__FAIL(SL_ERR_INTERNAL, "stage %d '%s': a routed boundary without a stage before it",
               st->index, st->name);
  }
  return SL_OK;
}
