/* SPDX-License-Identifier: BSD-3-Clause */
/* --sl-log-view: a one-screen summary of a run after PETSc's -log_view. Per stage (by its
 * name): how long it was active and its share of the run, then each figure's max, average
 * and min over the ranks, max/min (imbalance) and the total, in human units. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"

enum { U_SECS, U_BYTES, U_COUNT };

static void human(double v, int unit, char *buf, size_t cap) {
  if (unit == U_BYTES) {
    sl__fmt_bytes(v > 0 ? (uint64_t)v : 0, buf, cap);
  } else if (unit == U_SECS) {
    if (v >= 100)
      snprintf(buf, cap, "%.0f s", v);
    else if (v >= 1)
      snprintf(buf, cap, "%.2f s", v);
    else if (v >= 1e-3)
      snprintf(buf, cap, "%.1f ms", v * 1e3);
    else if (v > 0)
      snprintf(buf, cap, "%.0f us", v * 1e6);
    else
      snprintf(buf, cap, "0");
  } else if (v >= 1e9) {
    snprintf(buf, cap, "%.2f G", v / 1e9);
  } else if (v >= 1e6) {
    snprintf(buf, cap, "%.2f M", v / 1e6);
  } else if (v >= 1e4) {
    snprintf(buf, cap, "%.1f k", v / 1e3);
  } else {
    snprintf(buf, cap, "%.0f", v);
  }
}

static const char *rule =
    "------------------------------------------------------------------------------------------";

static void row(FILE *f, const char *name, const sl__gathered *g, int idx, int unit, int total) {
  double mn, avg, mx;
  sl__st_over_ranks(g, idx, &mn, &avg, &mx);
  char a[32], b[32], c[32], t[32], r[16];
  human(mx, unit, a, sizeof a);
  human(avg, unit, b, sizeof b);
  human(mn, unit, c, sizeof c);
  human(avg * g->size, unit, t, sizeof t);
  if (mn > 0)
    snprintf(r, sizeof r, "%.2f", mx / mn);
  else
    snprintf(r, sizeof r, "%s", mx > 0 ? "-" : "1.00");
  fprintf(f, "  %-22s %12s %12s %12s %8s %12s\n", name, a, b, c, r, total ? t : "");
}

void sl__log_view(sl__run *run, const sl__gathered *g, FILE *f) {
  double wall = run->t_end - run->t0;
  int nhosts = 0;
  for (int r = 0; r < g->size; r++) { /* distinct hosts; ranks of a host are usually adjacent */
    int seen = 0;
    for (int q = r - 1; q >= 0 && q >= r - 64 && !seen; q--)
      seen = !strncmp(g->hosts + (size_t)r * SL__HOST_LEN, g->hosts + (size_t)q * SL__HOST_LEN,
                      SL__HOST_LEN);
    nhosts += !seen;
  }
  char w[32];
  human(wall, U_SECS, w, sizeof w);
  char label[256], name[256];
  sl__printable(run->flow->label, label, sizeof label);
  fprintf(f, "%s\nsluice log view%s%s: %d rank(s) on %d host(s), %d stage(s), %s, %s\n", rule,
          label[0] ? ", " : "", label, g->size, nhosts, g->nstages, w,
          run->status == SL_OK ? "ok" : "failed");
  fprintf(f, "%s\n  %-22s %12s %12s %12s %8s %12s\n", rule, "", "Max", "Avg", "Min", "Max/Min",
          "Total");
  row(f, "wall time", g, SL__ST_WALL, U_SECS, 0);
  row(f, "bytes read", g, SL__ST_READ, U_BYTES, 1);
  row(f, "bytes written", g, SL__ST_WRITTEN, U_BYTES, 1);
  row(f, "batch memory hwm", g, SL__ST_HWM, U_BYTES, 0);
  row(f, "reduce state hwm", g, SL__ST_STATE, U_BYTES, 0);
  row(f, "peak RSS", g, SL__ST_RSS, U_BYTES, 0);
  static const struct {
    int idx, unit, total, always;
    const char *name;
  } fig[] = {{SL__ST_WORK, U_SECS, 0, 1, "work"},
             {SL__ST_STALL, U_SECS, 0, 1, "stall (no credit)"},
             {SL__ST_REC_IN, U_COUNT, 1, 0, "records in"},
             {SL__ST_REC_OUT, U_COUNT, 1, 0, "records out"},
             {SL__ST_INPUT, U_BYTES, 1, 0, "input read"},
             {SL__ST_BYTES_SENT, U_BYTES, 1, 0, "bytes sent"},
             {SL__ST_BYTES_RECV, U_BYTES, 1, 0, "bytes received"},
             {SL__ST_BATCH_SENT, U_COUNT, 1, 0, "batches sent"},
             {SL__ST_BATCH_RECV, U_COUNT, 1, 0, "batches received"},
             {SL__ST_LATE, U_COUNT, 1, 0, "late dropped"},
             {SL__ST_TRIGGERS, U_COUNT, 1, 0, "triggers"}};
  for (int s = 0; s < g->nstages; s++) {
    const sl__stage *st = &run->flow->stages[s];
    int base = SL__ST_NRANK + s * SL__ST_NSTAGE;
    double mn, avg, mx, wmn, wavg, wmx;
    sl__st_over_ranks(g, base + SL__ST_ACTIVE, &mn, &avg, &mx);
    sl__st_over_ranks(g, base + SL__ST_WORK, &wmn, &wavg, &wmx);
    char act[32];
    human(mx, U_SECS, act, sizeof act);
    sl__printable(st->name, name, sizeof name);
    fprintf(f, "%s\nstage %d '%s': %d partition(s), active %s (%.0f%% of the run), busy %.0f%%\n",
            rule, s, name, st->partitions, act, wall > 0 ? 100.0 * mx / wall : 0.0,
            wall > 0 ? 100.0 * wavg / wall : 0.0);
    for (size_t k = 0; k < sizeof fig / sizeof fig[0]; k++) {
      double a, b2, c;
      sl__st_over_ranks(g, base + fig[k].idx, &a, &b2, &c);
      if (fig[k].always || c > 0)
        row(f, fig[k].name, g, base + fig[k].idx, fig[k].unit, fig[k].total);
    }
  }
  fprintf(f,
          "%s\nactive: first to last work of the stage (max over ranks); busy: average work / "
          "wall.\nMax/Min: 1.00 is balanced, '-' means some rank had none.\n%s\n",
          rule, rule);
  fflush(f);
}
