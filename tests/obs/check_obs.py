#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""check_obs.py record|trace|bounded ...: the oracles of tests/obs/test_obs.sh.

record REC.jsonl RANKS IN.txt OUT.tsv JOBID ARG: the run record of obs_flow's two runs,
  parsed line by line with Python's json (the writer's escaping proven by the hostile stage
  names and command-line argument coming back exactly), against figures computed here: the
  input's lines and distinct lines, the input's and output's sizes on disk, and the
  min/avg/max of the per-rank figures.
trace TRACE.json RANKS: one track (pid) per rank with its name, spans of both runs, the
  stages' names, and spans on one thread never overlapping.
bounded TRACE.json RANKS MAX: the same, and at most MAX spans per rank.
png FILE W H: a PNG of W x H pixels (its IHDR, read here), decoded by matplotlib, with a
  picture in it: at least 2% of the pixels not the background and more than 3 colours.
Prints one line per failed check and exits 1 on any.
"""
import collections
import datetime
import json
import os
import sys

FAILS = []
STAGES = ["read \"quoted\" \\ back\nslash\ttab\x01 \u00e9t\u00e9", "count </script> \ufffd end"]


def check(cond, what):
    if not cond:
        FAILS.append(what)


def utc(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")


def spread_ok(rec, path, values):
    sp = rec
    for k in path:
        sp = sp[k]
    mn, mx, avg = min(values), max(values), sum(values) / len(values)
    check(abs(sp["min"] - mn) < 1e-9 and abs(sp["max"] - mx) < 1e-9 and abs(sp["avg"] - avg) < 1e-6 * max(1, abs(avg)),
          "%s: %r is not min/avg/max of %r" % ("/".join(map(str, path)), sp, values))


def record(path, ranks, inp, out, jobid, arg):
    ranks = int(ranks)
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    check(lines[-1] == b"", "the record does not end with a newline")
    lines = [l for l in lines if l]
    check(len(lines) == 2, "expected 2 JSON lines (one per run), found %d" % len(lines))
    recs = []
    for i, l in enumerate(lines):
        try:
            recs.append(json.loads(l.decode("utf-8")))
        except (ValueError, UnicodeDecodeError) as e:
            FAILS.append("line %d does not parse: %s" % (i + 1, e))
    if len(recs) != 2:
        return
    with open(inp, "rb") as f:
        text = f.read().split(b"\n")[:-1]
    nlines, ndistinct = len(text), len(set(text))
    for k, r in enumerate(recs):
        check(r["run"] == k + 1, "run %d: 'run' is %r" % (k + 1, r["run"]))
        check(r["label"] == "pass %d of 2" % (k + 1), "run %d: label %r" % (k + 1, r["label"]))
        check(r["job_id"] == jobid, "run %d: job_id %r, expected %r" % (k + 1, r["job_id"], jobid))
        check(arg in r["command_line"], "run %d: the hostile argument is not in the command line %r" % (k + 1, r["command_line"]))
        check(r["ranks"] == ranks and len(r["per_rank"]) == ranks, "run %d: ranks %r" % (k + 1, r["ranks"]))
        check([p["rank"] for p in r["per_rank"]] == list(range(ranks)), "run %d: per_rank order" % (k + 1))
        check(len(r["hosts"]) >= 1 and all(p["host"] in r["hosts"] for p in r["per_rank"]), "run %d: hosts" % (k + 1))
        check(r["status"] == "ok", "run %d: status %r" % (k + 1, r["status"]))
        t0, t1 = utc(r["start_utc"]), utc(r["end_utc"])
        check(t0 <= t1 and abs((t1 - t0).total_seconds() - r["wall_seconds"]) < 0.01, "run %d: times %s %s %s" % (k + 1, r["start_utc"], r["end_utc"], r["wall_seconds"]))
        check(abs((datetime.datetime.utcnow() - t1).total_seconds()) < 600, "run %d: end_utc %s is not now" % (k + 1, r["end_utc"]))
        for key in ("inflight_hwm_bytes", "reduce_state_hwm_bytes", "rss_hwm_bytes", "bytes_read", "bytes_written", "wall_seconds"):
            spread_ok(r, ["over_ranks", key], [p[key] for p in r["per_rank"]])
        for s, st in enumerate(r["stages"]):
            for key in st["over_ranks"]:
                spread_ok(r, ["stages", s, "over_ranks", key], [p["stages"][s][key] for p in r["per_rank"]])
        check(all(p["rss_hwm_bytes"] > 1e6 for p in r["per_rank"]), "run %d: rss_hwm_bytes" % (k + 1))
    r1, r2 = recs
    check([s["name"] for s in r1["stages"]][:2] == STAGES, "run 1: stage names %r, expected %r" % ([s["name"] for s in r1["stages"]][:2], STAGES))
    tot = lambda r, s, key: sum(p["stages"][s][key] for p in r["per_rank"])
    # stage 0 combines map-side (at most its lines, at least the distinct ones); nothing is
    # lost between the stages; the reducer puts out one record per distinct line
    check(ndistinct <= tot(r1, 0, "records_out") <= nlines, "run 1: stage 0 put out %r records, input %d lines, %d distinct" % (tot(r1, 0, "records_out"), nlines, ndistinct))
    check(tot(r1, 1, "records_in") == tot(r1, 0, "records_out"), "run 1: stage 1 took %r records, stage 0 sent %r" % (tot(r1, 1, "records_in"), tot(r1, 0, "records_out")))
    check(tot(r1, 1, "records_out") == ndistinct, "run 1: stage 1 put out %r records, %d distinct lines" % (tot(r1, 1, "records_out"), ndistinct))
    check(r1["over_ranks"]["bytes_read"]["total"] == os.path.getsize(inp), "run 1: bytes read %r, the input has %d" % (r1["over_ranks"]["bytes_read"]["total"], os.path.getsize(inp)))
    check(r1["over_ranks"]["bytes_written"]["total"] == os.path.getsize(out), "run 1: bytes written %r, the output has %d" % (r1["over_ranks"]["bytes_written"]["total"], os.path.getsize(out)))
    check(r2["over_ranks"]["bytes_written"]["total"] == 0 and r2["over_ranks"]["bytes_read"]["total"] == 0, "run 2 read or wrote bytes")
    check(tot(r2, 0, "records_out") == 1000, "run 2: %r records, expected 1000" % tot(r2, 0, "records_out"))
    check(utc(r1["end_utc"]) <= utc(r2["start_utc"]), "run 2 starts before run 1 ends")


def load_trace(path, ranks):
    with open(path, "rb") as f:
        t = json.loads(f.read().decode("utf-8"))
    ev = t["traceEvents"]
    spans = [e for e in ev if e.get("ph") == "X"]
    names = {e["pid"]: e["args"]["name"] for e in ev if e.get("ph") == "M" and e["name"] == "process_name"}
    check(sorted(names) == list(range(ranks)), "process names for pids %r" % sorted(names))
    check(all(names[p].startswith("rank %d " % p) for p in names), "process names %r" % names)
    check(sorted({e["pid"] for e in spans}) == list(range(ranks)), "spans on pids %r, expected one track per rank 0..%d" % (sorted({e["pid"] for e in spans}), ranks - 1))
    for e in spans:
        check(e["ts"] >= 0 and e["dur"] >= 1, "span %r" % e)
    by = collections.defaultdict(list)
    for e in spans:
        by[(e["pid"], e["tid"])].append(e)
    for key, es in by.items():
        es.sort(key=lambda e: e["ts"])
        for a, b in zip(es, es[1:]):
            check(b["ts"] >= a["ts"] + a["dur"] - 1, "overlapping spans on %r: %r %r" % (key, a, b))
    return t, spans


def trace(path, ranks):
    ranks = int(ranks)
    t, spans = load_trace(path, ranks)
    check(t["otherData"]["runs"] == 2 and t["otherData"]["ranks"] == ranks, "otherData %r" % t["otherData"])
    for p in range(ranks):
        runs = sorted(e["name"] for e in spans if e["pid"] == p and e["cat"] == "run")
        check(runs == ["run 1: pass 1 of 2", "run 2: pass 2 of 2"], "rank %d: run spans %r" % (p, runs))
    work = {e["name"] for e in spans if e["cat"] == "work"}
    check(any(n.startswith(STAGES[0]) for n in work) and any(n.startswith(STAGES[1]) for n in work), "stage spans missing: %r" % work)
    check(any(e["cat"] == "collective" for e in spans) and any(e["cat"] == "io" for e in spans), "no collective or io spans")


def bounded(path, ranks, most):
    ranks, most = int(ranks), int(most)
    t, spans = load_trace(path, ranks)
    per = collections.Counter(e["pid"] for e in spans)
    check(max(per.values()) <= most, "spans per rank %r, at most %d expected" % (dict(per), most))


def png(path, w, h):
    import struct
    w, h = int(w), int(h)
    with open(path, "rb") as f:
        head = f.read(24)
    check(head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", "%s is not a PNG" % path)
    pw, ph = struct.unpack(">II", head[16:24])
    check((pw, ph) == (w, h), "%s is %d x %d pixels, expected %d x %d" % (path, pw, ph, w, h))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image
    import numpy as np
    img = matplotlib.image.imread(path)
    check(img.shape[0] == h and img.shape[1] == w, "%s decodes to %r" % (path, img.shape))
    rgb = (img[:, :, :3] * 255).astype(np.uint8).reshape(-1, 3)
    ink = np.mean(np.any(rgb < 250, axis=1))
    ncol = len(np.unique(rgb[:: max(1, len(rgb) // 200000)], axis=0))
    check(ink > 0.02 and ncol > 3, "%s looks empty: %.1f%% ink, %d colours" % (path, 100 * ink, ncol))


if __name__ == "__main__":
    cmd = sys.argv[1]
    try:
        {"record": record, "trace": trace, "bounded": bounded, "png": png}[cmd](*sys.argv[2:])
    except (KeyError, IndexError, TypeError, ValueError, OSError) as e:
        FAILS.append("%s: %s: %r" % (cmd, type(e).__name__, e))
    for f in FAILS:
        print("FAIL: %s: %s" % (cmd, f))
    sys.exit(1 if FAILS else 0)
