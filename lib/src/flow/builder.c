/* The flow builder: turns sl_flow_* calls into a plan of stages and steps. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "flow/builder.h"
#include "sources/sources.h"

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

void sl__run_destroy(sl__run *run);

int sl_flow_destroy(sl_flow **flow) {
  if (!flow || !*flow)
    return SL_OK;
  sl_flow *f = *flow;
  sl__run_destroy(f->last); /* first: the run's partitions still point into the plan */
  f->last = NULL;
  for (int s = 0; s < f->nstages; s++) {
    sl__source *src = &f->stages[s].source;
    if (src->vt && src->vt->destroy)
      src->vt->destroy(src);
    free(f->stages[s].steps);
  }
  free(f->stages);
  free(f->sink.path);
  if (f->sink.ext && f->sink.ext->destroy)
    f->sink.ext->destroy(f->sink.ext_impl);
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
  if (f->sink.kind != SL__SINK_NONE)
    return sl__builder_fail(f, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                                             "%s: the flow already ends in a sink", what));
  if (f->ran)
    return sl__builder_fail(
        f, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__, "%s: the flow has already run", what));
  return SL_OK;
}

static const char *kind_name(sl__step_kind k) {
  static const char *names[] = {"map",         "flat_map",     "filter", "reject",
                                "each",        "map_batch",    "reduce", "reduce_by_key",
                                "combiner",    "group_by_key", "uniq",   "take_sort",
                                "sort_sample", "sort",         "join"};
  return names[k];
}

int sl__add_step_to(sl_flow *f, sl__stage *s, sl__step_kind kind, void *fn, void *arg,
                    sl__step **out) {
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
  st->fn = fn;
  st->arg = arg;
  snprintf(st->name, sizeof st->name, "%s#%d.%d", kind_name(kind), s->index, s->nsteps - 1);
  if (out)
    *out = st;
  return SL_OK;
}

int sl__add_step(sl_flow *f, sl__step_kind kind, void *fn, void *arg, sl__step **out) {
  return sl__add_step_to(f, sl__flow_last_stage(f), kind, fn, arg, out);
}

static int stage_has_reducer(const sl__stage *s) {
  for (int i = 0; i < s->nsteps; i++)
    if (sl__step_kind_is_reducer(s->steps[i].kind) || s->steps[i].kind == SL__STEP_JOIN)
      return 1;
  return 0;
}

int sl__step_kind_is_reducer(int kind) {
  return kind == SL__STEP_REDUCE || kind == SL__STEP_REDUCE_BY_KEY || kind == SL__STEP_GROUP ||
         kind == SL__STEP_TOPK;
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

/* ---- sources ---- */
static int begin_source(sl_flow *f, int partitions, const char *what) {
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
  int rc = begin_source(flow, partitions, what);
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

int sl_flow_from_range(sl_flow *flow, int64_t first, int64_t last, int partitions) {
  SL__CHECK(begin_source(flow, partitions, "sl_flow_from_range"));
  return sl__builder_fail(flow, sl__source_range(&flow->stages[0].source, first, last));
}

int sl_flow_from_generator(sl_flow *flow, int64_t n, sl_generate_fn fn, void *arg, int partitions) {
  if (!fn)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_generator: NULL function");
  SL__CHECK(begin_source(flow, partitions, "sl_flow_from_generator"));
  return sl__builder_fail(flow, sl__source_generator(&flow->stages[0].source, n, fn, arg));
}

int sl_flow_from_array(sl_flow *flow, const sl_record *records, size_t count, int partitions) {
  if (!records && count)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_array: NULL records");
  SL__CHECK(begin_source(flow, partitions, "sl_flow_from_array"));
  return sl__builder_fail(flow, sl__source_array(&flow->stages[0].source, records, count));
}

int sl_flow_from_callback(sl_flow *flow, sl_source_fn fn, void *arg, int partitions) {
  if (!fn)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_callback: NULL function");
  SL__CHECK(begin_source(flow, partitions, "sl_flow_from_callback"));
  return sl__builder_fail(flow, sl__source_callback(&flow->stages[0].source, fn, arg));
}

int sl_flow_from_text_files(sl_flow *flow, const char *const *paths, size_t count, int partitions) {
  if (!paths && count)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_text_files: NULL paths");
  SL__CHECK(begin_source(flow, partitions, "sl_flow_from_text_files"));
  return sl__builder_fail(flow, sl__source_text(&flow->stages[0].source, paths, count));
}

/* ---- operators ---- */
static int add_op(sl_flow *f, sl__step_kind kind, void *fn, void *arg, const char *what) {
  SL__CHECK(sl__check_open(f, what));
  if (!fn)
    return sl__builder_fail(
        f, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__, "%s: NULL function", what));
  return sl__add_step(f, kind, fn, arg, NULL);
}

int sl_flow_map(sl_flow *flow, sl_map_fn fn, void *arg) {
  return add_op(flow, SL__STEP_MAP, (void *)fn, arg, "sl_flow_map");
}
int sl_flow_flat_map(sl_flow *flow, sl_flat_map_fn fn, void *arg) {
  return add_op(flow, SL__STEP_FLAT_MAP, (void *)fn, arg, "sl_flow_flat_map");
}
int sl_flow_filter(sl_flow *flow, sl_filter_fn fn, void *arg) {
  return add_op(flow, SL__STEP_FILTER, (void *)fn, arg, "sl_flow_filter");
}
int sl_flow_reject(sl_flow *flow, sl_filter_fn fn, void *arg) {
  return add_op(flow, SL__STEP_REJECT, (void *)fn, arg, "sl_flow_reject");
}
int sl_flow_each(sl_flow *flow, sl_each_fn fn, void *arg) {
  return add_op(flow, SL__STEP_EACH, (void *)fn, arg, "sl_flow_each");
}
int sl_flow_map_batch(sl_flow *flow, sl_map_batch_fn fn, void *arg) {
  SL__CHECK(sl__check_open(flow, "sl_flow_map_batch"));
  if (sl__flow_last_stage(flow)->nsteps)
    return sl__builder_fail(
        flow, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                            "sl_flow_map_batch: must be the first operator of its stage "
                            "(call sl_flow_shuffle or sl_flow_partition before it)"));
  return add_op(flow, SL__STEP_MAP_BATCH, (void *)fn, arg, "sl_flow_map_batch");
}

/* ---- repartitioning ---- */
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

/* ---- reducers ---- */
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

int sl_flow_reduce(sl_flow *flow, const sl_reducer *reducer) {
  SL__CHECK(sl__check_reducer_slot(flow, "sl_flow_reduce"));
  if (!reducer || !reducer->init || !reducer->fold || !reducer->emit)
    return sl__builder_fail(flow,
                            sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                          "sl_flow_reduce: init, fold and emit are required"));
  sl__step *st = NULL;
  SL__CHECK(sl__add_step(flow, SL__STEP_REDUCE, NULL, reducer->arg, &st));
  st->reducer = *reducer;
  return SL_OK;
}

int sl_flow_reduce_by_key(sl_flow *flow, const sl_aggregator *agg) {
  SL__CHECK(sl__check_reducer_slot(flow, "sl_flow_reduce_by_key"));
  if (!agg)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_reduce_by_key: NULL aggregator"));
  sl_aggregator a = *agg;
  if (a.kind != SL_AGG_USER) {
    a = sl_aggregator_builtin(agg->kind);
  } else if (!a.init || !a.update || !a.finalize || a.state_size == 0) {
    return sl__builder_fail(
        flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                            "sl_flow_reduce_by_key: a user aggregator needs state_size, "
                            "init, update and finalize"));
  }
  sl__stage *s = sl__flow_last_stage(flow);
  /* Combine map-side when it cannot change the result: the reducer is the first step of a
   * stage whose records are routed by key alone, and partial states can be merged. */
  int combine = a.merge && s->nsteps == 0 && s->index > 0 &&
                ((s->boundary == SL__BOUND_HASH && !s->hash) || s->boundary == SL__BOUND_SINGLE);
  /* The combiner goes at the end of every stage feeding this one (several after a merge);
   * if such a stage has a reducer after which steps follow, combining is still right (it
   * sees its output). A windowed reducer must see records one by one: no combiner. */
  if (s->windowed)
    combine = 0;
  for (int j = 0; combine && j < s->ninputs; j++) {
    sl__step *cst = NULL;
    SL__CHECK(
        sl__add_step_to(flow, &flow->stages[s->inputs[j]], SL__STEP_COMBINER, NULL, a.arg, &cst));
    cst->agg = a;
  }
  sl__step *st = NULL;
  SL__CHECK(sl__add_step(flow, SL__STEP_REDUCE_BY_KEY, NULL, a.arg, &st));
  st->agg = a;
  st->merge_input = combine;
  return SL_OK;
}

int sl_flow_group_by_key(sl_flow *flow) {
  SL__CHECK(sl__check_reducer_slot(flow, "sl_flow_group_by_key"));
  return sl__add_step(flow, SL__STEP_GROUP, NULL, NULL, NULL);
}

int sl_flow_uniq(sl_flow *flow) {
  SL__CHECK(sl__check_open(flow, "sl_flow_uniq"));
  return sl__add_step(flow, SL__STEP_UNIQ, NULL, NULL, NULL);
}

int sl_flow_uniq_by(sl_flow *flow, sl_uniq_by_fn fn, void *arg) {
  return add_op(flow, SL__STEP_UNIQ, (void *)fn, arg, "sl_flow_uniq_by");
}

int sl_flow_take_sort(sl_flow *flow, size_t k, sl_cmp_fn cmp, void *arg) {
  /* As in Flow, take_sort usually follows a reducer in the same stage: it sorts that
   * stage's output, so it does not take the stage's one reducer slot. */
  SL__CHECK(sl__check_open(flow, "sl_flow_take_sort"));
  if (!cmp)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_take_sort: NULL compare function"));
  sl__step *st = NULL;
  SL__CHECK(sl__add_step(flow, SL__STEP_TOPK, (void *)cmp, arg, &st));
  st->k = k;
  SL__CHECK(sl_flow_departition(flow));
  SL__CHECK(sl__add_step(flow, SL__STEP_TOPK, (void *)cmp, arg, &st));
  st->k = k;
  return SL_OK;
}

/* The two steps and the range boundary of a sort, ordered by cmp or by key. */
static int add_sort(sl_flow *flow, sl_cmp_fn cmp, sl_sort_key_fn key, void *arg, int descending) {
  sl__step *st = NULL;
  SL__CHECK(sl__add_step(flow, SL__STEP_SORT_SPLIT, (void *)cmp, arg, &st));
  st->descending = descending;
  st->sort_key = key;
  sl__stage *s = NULL;
  SL__CHECK(sl__add_stage(flow, SL__BOUND_RANGE, sl_size(flow->ctx), &s));
  s->range_cmp = cmp;
  s->range_key = key;
  s->range_arg = arg;
  s->range_descending = descending;
  SL__CHECK(sl__add_step(flow, SL__STEP_SORT_LOCAL, (void *)cmp, arg, &st));
  st->descending = descending;
  st->sort_key = key;
  return SL_OK;
}

int sl_flow_sort(sl_flow *flow, sl_cmp_fn cmp, void *arg, int descending) {
  SL__CHECK(sl__check_open(flow, "sl_flow_sort"));
  if (!cmp)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_sort: NULL compare function"));
  return add_sort(flow, cmp, NULL, arg, descending);
}

int sl_flow_sort_by_key(sl_flow *flow, sl_sort_key_fn key, void *arg, int descending) {
  SL__CHECK(sl__check_open(flow, "sl_flow_sort_by_key"));
  if (!key)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_sort_by_key: NULL key function"));
  return add_sort(flow, NULL, key, arg, descending);
}

int sl_flow_emit(sl_flow *flow, sl_emit_mode mode) {
  SL__CHECK(sl__check_open(flow, "sl_flow_emit"));
  sl__stage *s = sl__flow_last_stage(flow);
  for (int i = s->nsteps - 1; i >= 0; i--) {
    if (sl__step_kind_is_reducer(s->steps[i].kind)) {
      s->steps[i].emit_mode = mode;
      return SL_OK;
    }
  }
  return sl__builder_fail(flow, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                                              "sl_flow_emit: the current stage has no reducer"));
}

/* ---- sinks ---- */
static int set_sink(sl_flow *f, sl__sink_kind kind, const char *what) {
  SL__CHECK(sl__check_open(f, what));
  f->sink.kind = kind;
  return SL_OK;
}

int sl_flow_to_count(sl_flow *flow, uint64_t *count) {
  if (!count)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_to_count: NULL count");
  SL__CHECK(set_sink(flow, SL__SINK_COUNT, "sl_flow_to_count"));
  flow->sink.count_out = count;
  return SL_OK;
}

int sl_flow_to_collect(sl_flow *flow, sl_collection **out) {
  if (!out)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_to_collect: NULL output");
  SL__CHECK(sl__check_open(flow, "sl_flow_to_collect"));
  if (sl__flow_last_stage(flow)->partitions != 1 || sl_size(flow->ctx) > 1)
    if (!(sl__flow_last_stage(flow)->partitions == 1 &&
          sl__flow_last_stage(flow)->boundary == SL__BOUND_SINGLE))
      SL__CHECK(sl_flow_departition(flow));
  SL__CHECK(set_sink(flow, SL__SINK_COLLECT, "sl_flow_to_collect"));
  flow->sink.collect_out = out;
  *out = NULL;
  return SL_OK;
}

int sl_flow_to_callback(sl_flow *flow, sl_each_fn fn, void *arg) {
  if (!fn)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_to_callback: NULL function");
  SL__CHECK(set_sink(flow, SL__SINK_CALLBACK, "sl_flow_to_callback"));
  flow->sink.fn = fn;
  flow->sink.arg = arg;
  return SL_OK;
}

int sl_flow_to_text(sl_flow *flow, const char *path, sl_format_fn fmt, void *arg, int overwrite) {
  if (!path)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_to_text: NULL path (use \"-\" for stdout)");
  SL__CHECK(sl__check_open(flow, "sl_flow_to_text"));
  int to_stdout = strcmp(path, "-") == 0;
  if (to_stdout) {
    const sl__stage *s = sl__flow_last_stage(flow);
    if (!(s->partitions == 1 && s->boundary == SL__BOUND_SINGLE))
      SL__CHECK(sl_flow_departition(flow));
  }
  SL__CHECK(set_sink(flow, SL__SINK_TEXT, "sl_flow_to_text"));
  flow->sink.fmt = fmt ? fmt : sl_format_value;
  flow->sink.fmt_arg = arg;
  flow->sink.overwrite = overwrite;
  if (!to_stdout) {
    flow->sink.path = strdup(path);
    SL__CHECK_ALLOC(flow->sink.path);
  }
  return SL_OK;
}

int sl__flow_set_ext_sink(sl_flow *flow, const sl__sink_vt *vt, void *impl, const char *what) {
  int rc = sl__check_open(flow, what);
  if (rc != SL_OK) {
    if (vt->destroy)
      vt->destroy(impl);
    return rc;
  }
  flow->sink.kind = SL__SINK_EXT;
  flow->sink.ext = vt;
  flow->sink.ext_impl = impl;
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
  case SL__BOUND_RANGE:
    return "range partition by sampled splitters (sort)";
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
      fprintf(out, "    step %d: %s (%s)\n", i, st->steps[i].name, kind_name(st->steps[i].kind));
    fprintf(out, "    placement:");
    int shown = st->partitions < 16 ? st->partitions : 16;
    for (int p = 0; p < shown; p++)
      fprintf(out, " p%d@r%d", p, p % size);
    if (shown < st->partitions)
      fprintf(out, " ... (partition p on rank p mod %d)", size);
    fprintf(out, "\n");
  }
  static const char *sinks[] = {"none",     "count", "collect to rank 0",
                                "callback", "text",  "external"};
  if (flow->sink.kind == SL__SINK_EXT) {
    fprintf(out, "  sink: %s\n", flow->sink.ext->name);
    return SL_OK;
  }
  fprintf(out, "  sink: %s%s%s\n", sinks[flow->sink.kind],
          flow->sink.kind == SL__SINK_TEXT ? " -> " : "",
          flow->sink.kind == SL__SINK_TEXT ? (flow->sink.path ? flow->sink.path : "stdout") : "");
  return SL_OK;
}
