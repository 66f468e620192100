#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The numpy side of numpy_bench.sh (docs/benchmarks.md, "Against numpy (issue 14)").

Timed modes: what a scientist would write with h5py and numpy, in one process. Each reads
the whole table into memory (one h5py read of the compound dataset), computes, prints its
results or writes its output, then prints one line
  numpy_baselines MODE rows=N seconds=S read=R compute=C write=W ok
where S runs from opening the file to the end (Python's start and imports excluded: the
script times the whole process too).

  stats   FILE DSET                 per numeric field: count, min, max, mean, std (ddof 0)
                                    and np.histogram with 10 bins over [min, max] (the
                                    defaults of sluice-h5stats); the results as one JSON line
  groupby FILE DSET KEY SUMF MEANF OUT.h5 OUTDSET
                                    np.unique(return_inverse) + np.bincount: count, sum_SUMF,
                                    mean_MEANF per KEY, written with h5py (one row per key)
  sort    FILE DSET KEY OUT.h5 OUTDSET
                                    np.argsort(kind="stable") on KEY, the rows reordered and
                                    written with h5py

Checks (not timed; exit 1 with one line on a difference):
  check-stats NUMPY.json SLUICE_STDOUT [SLUICE_OUT.h5]
                                    sluice-h5stats' printed table (and, with its -o file, every
                                    histogram) against the numpy results
  check-groupby NUMPY.h5 SLUICE.h5 DSET KEY
                                    the same groups, counts equal, sums and means to 1e-9
  check-sort FILE DSET KEY SLUICE.h5 OUTDSET
                                    the output equals the input stably sorted by KEY, row for row
"""
import json
import sys
import time

import h5py
import numpy as np


def done(mode, rows, t0, t_read, t_comp, t_end):
    print(f"numpy_baselines {mode} rows={rows} seconds={t_end - t0:.4f} read={t_read - t0:.4f} "
          f"compute={t_comp - t_read:.4f} write={t_end - t_comp:.4f} ok", flush=True)


def stats(path, dset):
    t0 = time.perf_counter()
    with h5py.File(path, "r") as f:
        d = f[dset][...]
    t_read = time.perf_counter()
    res = {}
    for name in d.dtype.names:
        if d.dtype[name].kind not in "iuf":
            continue
        x = d[name]
        counts, edges = np.histogram(x, bins=10)
        res[name] = {"count": int(x.size), "min": float(x.min()), "max": float(x.max()),
                     "mean": float(x.mean()), "std": float(x.std()),
                     "hist": counts.tolist(), "float32": x.dtype == np.float32}
    t_comp = time.perf_counter()
    print(json.dumps(res), flush=True)
    t_end = time.perf_counter()
    done("stats", d.shape[0], t0, t_read, t_comp, t_end)


def groupby(path, dset, key, sumf, meanf, out, outdset):
    t0 = time.perf_counter()
    with h5py.File(path, "r") as f:
        d = f[dset][...]
    t_read = time.perf_counter()
    keys, inv = np.unique(d[key], return_inverse=True)
    count = np.bincount(inv)
    sums = np.bincount(inv, weights=d[sumf])
    means = np.bincount(inv, weights=d[meanf]) / count
    res = np.empty(keys.size, dtype=[(key, keys.dtype), ("count", "<u8"),
                                     ("sum_" + sumf, "<f8"), ("mean_" + meanf, "<f8")])
    res[key], res["count"], res["sum_" + sumf], res["mean_" + meanf] = keys, count, sums, means
    t_comp = time.perf_counter()
    with h5py.File(out, "w") as g:
        g.create_dataset(outdset, data=res)
    t_end = time.perf_counter()
    done("groupby", d.shape[0], t0, t_read, t_comp, t_end)


def sort(path, dset, key, out, outdset):
    t0 = time.perf_counter()
    with h5py.File(path, "r") as f:
        d = f[dset][...]
    t_read = time.perf_counter()
    s = d[np.argsort(d[key], kind="stable")]
    t_comp = time.perf_counter()
    with h5py.File(out, "w") as g:
        g.create_dataset(outdset, data=s)
    t_end = time.perf_counter()
    done("sort", d.shape[0], t0, t_read, t_comp, t_end)


def fail(msg):
    print(f"numpy_baselines: check failed: {msg}", file=sys.stderr)
    sys.exit(1)


def close(a, b, rel):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def check_stats(npjson, sl_stdout, sl_h5=None):
    with open(npjson) as f:
        ref = next(json.loads(line) for line in f if line.startswith("{"))
    # sluice-h5stats prints: a header "field count nan missing min max mean std", one line
    # per field (%.9g), a blank line, then histograms
    seen = set()
    with open(sl_stdout) as f:
        lines = f.read().splitlines()
    start = next((i for i, l in enumerate(lines) if l.split()[:2] == ["field", "count"]), None)
    if start is None:
        fail(f"{sl_stdout}: no result table")
    for line in lines[start + 1:]:
        if not line.strip():
            break
        w = line.split()
        name, vals = w[0], [float(v) for v in w[1:]]
        if name not in ref:
            fail(f"sluice reports field '{name}', numpy has {sorted(ref)}")
        r = ref[name]
        rel = 1e-5 if r["float32"] else 1e-8  # numpy keeps float32 sums in float32
        if vals[0] != r["count"] or vals[1] != 0 or vals[2] != 0:
            fail(f"{name}: count/nan/missing {vals[:3]}, numpy count {r['count']}")
        for k, v in zip(("min", "max", "mean", "std"), vals[3:7]):
            if not close(v, r[k], max(rel, 1e-8)):  # printed with 9 digits
                fail(f"{name}: {k} sluice {v!r}, numpy {r[k]!r}")
        seen.add(name)
    if seen != set(ref):
        fail(f"fields: sluice {sorted(seen)}, numpy {sorted(ref)}")
    worst = 0
    if sl_h5:
        with h5py.File(sl_h5, "r") as f:
            for name, r in ref.items():
                h = f["histogram/" + name.replace("%", "%25").replace("/", "%2F")][...]
                diff = int(np.abs(h.astype(np.int64) - np.array(r["hist"], np.int64)).sum())
                # values on a bin edge may fall either side where numpy computes the edges
                # in the field's type (float32) and sluice in float64: a few per million
                if h.sum() != sum(r["hist"]) or diff > 2 + r["count"] // 100000:
                    fail(f"{name}: histogram sluice {h.tolist()}, numpy {r['hist']}")
                worst = max(worst, diff)
    print(f"check-stats: {len(seen)} fields agree"
          + (f" (histograms too: {worst} values in another bin at most)" if sl_h5 else ""))


def check_groupby(np_h5, sl_h5, dset, key):
    with h5py.File(np_h5, "r") as f:
        ref = f[dset][...]
    with h5py.File(sl_h5, "r") as f:
        got = f[dset][...]
    if got.dtype.names != ref.dtype.names:
        fail(f"fields: sluice {got.dtype.names}, numpy {ref.dtype.names}")
    got = got[np.argsort(got[key], kind="stable")]
    if got.shape != ref.shape or not np.array_equal(got[key], ref[key]):
        fail(f"groups: sluice {got.shape[0]} keys, numpy {ref.shape[0]}, or different keys")
    for name in ref.dtype.names[1:]:
        a, b = got[name], ref[name]
        if name == "count":
            ok = np.array_equal(a, b)
        else:
            ok = np.allclose(a, b, rtol=1e-9, atol=0)
        if not ok:
            i = int(np.argmax(np.abs(a.astype(np.float64) - b)))
            fail(f"{name}: key {got[key][i]}: sluice {a[i]!r}, numpy {b[i]!r}")
    print(f"check-groupby: {ref.shape[0]} groups agree")


def check_sort(path, dset, key, sl_h5, outdset):
    with h5py.File(path, "r") as f:
        d = f[dset][...]
    with h5py.File(sl_h5, "r") as f:
        got = f[outdset][...]
    want = d[np.argsort(d[key], kind="stable")]
    if got.shape != want.shape or got.dtype.names != want.dtype.names:
        fail(f"shape/fields: sluice {got.shape} {got.dtype.names}, want {want.shape} {want.dtype.names}")
    for name in want.dtype.names:
        if not np.array_equal(got[name], want[name]):
            i = int(np.argmax(got[name] != want[name]))
            fail(f"row {i}, field {name}: sluice {got[i]}, numpy {want[i]}")
    print(f"check-sort: {got.shape[0]} rows equal to the stable sort by {key}")


MODES = {"stats": (stats, 2), "groupby": (groupby, 7), "sort": (sort, 5),
         "check-stats": (check_stats, None), "check-groupby": (check_groupby, 4),
         "check-sort": (check_sort, 5)}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in MODES:
        sys.exit(__doc__)
    fn, nargs = MODES[sys.argv[1]]
    args = sys.argv[2:]
    if (nargs is not None and len(args) != nargs) or (nargs is None and len(args) not in (2, 3)):
        sys.exit(__doc__)
    fn(*args)
