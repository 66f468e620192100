/* SPDX-License-Identifier: BSD-3-Clause */
/* The callback sink: the user's function gets every record, on the rank of its partition. */
#include <stdio.h>
#include <stdlib.h>

#include "engine/engine.h"

typedef struct callback_sink {
  sl_each_fn fn;
  void *arg;
} callback_sink;

static int callback_prepare(void *impl, sl_ctx *ctx, sl__run *run) {
  (void)impl;
  (void)ctx;
  (void)run;
  return SL_OK;
}

static int callback_push(void *impl, sl__part *p, const sl_record *rec) {
  callback_sink *c = impl;
  int rc = c->fn(rec, c->arg);
  if (rc)
    SL__FAIL(SL_ERR_CALLBACK,
             "stage %d '%s', partition %d, sink: user callback failed (returned %d)",
             p->stage->index, p->stage->name, p->index, rc);
  return SL_OK;
}

static int callback_finish(void *impl, sl_ctx *ctx, int job_failed) {
  (void)impl;
  (void)ctx;
  (void)job_failed;
  return SL_OK;
}

static const sl__sink_vt callback_vt = {.name = "callback",
                                        .prepare = callback_prepare,
                                        .push = callback_push,
                                        .finish = callback_finish,
                                        .destroy = free,
                                        /* what the callback was handed cannot be taken back */
                                        .ckpt_refusal =
                                            "hands records to the user's function, which a "
                                            "resumed run cannot take back or hand again "
                                            "exactly once: write to a file (sl_flow_to_text) "
                                            "or collect (sl_flow_to_collect)"};

int sl_flow_to_callback(sl_flow *flow, sl_each_fn fn, void *arg) {
  if (!fn)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_to_callback: NULL function");
  callback_sink *c = calloc(1, sizeof *c);
  SL__CHECK_ALLOC(c);
  *c = (callback_sink){fn, arg};
  return sl__flow_set_sink(flow, &callback_vt, c, "sl_flow_to_callback");
}
