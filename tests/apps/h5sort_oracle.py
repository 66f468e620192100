#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Inputs and a numpy oracle for sluice-h5sort's key order (tests/apps/test_h5sort_oracle.sh).

  h5sort_oracle.py make FILE.h5                 write the test inputs with h5py
  h5sort_oracle.py check IN.h5 /DSET OUT.h5 /DSET FIELD [desc]

check computes the expected order independently of sluice, with numpy stable sorts:
numbers ascending (descending with desc; -0.0 equal to 0.0), then NaN, then missing values
(CF: _FillValue, missing_value, outside valid_min/valid_max/valid_range, tested in the
stored type; packed values compared unpacked), fixed-length strings bytewise; ties in input
order. The output must be the input rows in that order, byte for byte (in native byte
order). Exit status 0 when it is, 1 with one line per mismatch.
"""
import sys

import h5py
import numpy as np

N = 3000


def make(path):
    rng = np.random.default_rng(14)
    pick = lambda vals: np.array(vals)[rng.integers(0, len(vals), N)]
    f64 = pick([np.nan, -0.0, 0.0, 1.5, -1.5, np.inf, -np.inf, 2.0, 1e300, -1e-300, 7.25])
    t = np.dtype([
        ("f64", "<f8"), ("f32", "<f4"), ("i8", "i1"), ("i16", "<i2"), ("i32", "<i4"),
        ("i64", "<i8"), ("u8", "u1"), ("u64", "<u8"), ("f64be", ">f8"), ("i32be", ">i4"),
        ("u16be", ">u2"), ("flag", "?"), ("s5", "S5"), ("s60", "S60"), ("row", "<i8")])
    a = np.zeros(N, t)
    a["f64"] = f64
    a["f32"] = pick([np.nan, -0.0, 0.0, 0.5, -3.25, 1e30, np.inf])
    a["i8"] = pick([-128, -1, 0, 1, 127])
    a["i16"] = rng.integers(-5, 5, N)
    a["i32"] = pick([-2**31, -7, 0, 7, 2**31 - 1])
    a["i64"] = pick([-2**63, -2**40, -1, 0, 1, 2**40, 2**63 - 1])
    a["u8"] = pick([0, 1, 200, 255])
    a["u64"] = np.array([0, 1, 2**63, 2**63 - 1, 2**64 - 1], dtype="u8")[rng.integers(0, 5, N)]
    a["f64be"] = pick([np.nan, -0.0, 0.0, 3.0, -3.0, 1e-310])
    a["i32be"] = pick([-2**31, -1, 0, 5, 2**31 - 1])
    a["u16be"] = pick([0, 1, 256, 65535])
    a["flag"] = rng.integers(0, 2, N).astype(bool)
    a["s5"] = pick([b"", b"a", b"ab", b"abcde", b"b", b"\xff\x01"])
    a["s60"] = pick([b"x" * 59 + b"a", b"x" * 59 + b"b", b"x", b""])
    a["row"] = np.arange(N)
    with h5py.File(path, "w") as h:
        h.create_dataset("t", data=a, chunks=(512,))
        # packed int16 with a negative scale: descending by stored value is ascending unpacked
        d = h.create_dataset("cfpacked", data=rng.integers(-20, 20, N).astype("i2"))
        d.attrs["_FillValue"] = np.int16(-20)
        d.attrs["missing_value"] = np.array([19, 7], "i2")
        d.attrs["valid_range"] = np.array([-18, 18], "i2")
        d.attrs["scale_factor"] = np.float32(-0.5)
        d.attrs["add_offset"] = np.float32(3)
        # int64 with a fill value and valid_min, not packed: a word for missing
        d = h.create_dataset("cfint64", data=pick([-2**63, -5, 0, 5, 2**63 - 1]).astype(">i8"))
        d.attrs["_FillValue"] = np.array(5, ">i8")
        d.attrs["valid_min"] = np.array(-2**62, ">i8")  # exact as a double, as sluice reads it
        # unsigned bytes with a fill value
        d = h.create_dataset("cfu8", data=pick([0, 1, 254, 255]).astype("u1"))
        d.attrs["_FillValue"] = np.uint8(255)
        # floats: NaN as missing_value (so NaN is missing), a fill value, valid_max
        d = h.create_dataset("cff32", data=pick([np.nan, -0.0, 0.0, 1.0, -999.0, 50.0, 2.5]).astype("f4"))
        d.attrs["_FillValue"] = np.float32(-999)
        d.attrs["missing_value"] = np.float32(np.nan)
        d.attrs["valid_max"] = np.float32(10)
        # doubles with only a valid range (NaN stays NaN: not missing)
        d = h.create_dataset("cff64", data=pick([np.nan, -0.0, 0.0, -100.0, 1.0, 100.0]).astype("<f8"))
        d.attrs["valid_range"] = np.array([-50, 50], "<f8")


def same(v, x):
    """Equal in the stored type; NaN equals NaN (sluice's cmp_stored)."""
    x = np.array(x, dtype=v.dtype)
    if v.dtype.kind == "f":
        return (v == x) | (np.isnan(v) & np.isnan(x))
    return v == x


def decode(v, attrs):
    """(missing mask, decoded values as float64 or the integers themselves)."""
    miss = np.zeros(len(v), bool)
    if "_FillValue" in attrs:
        miss |= same(v, np.asarray(attrs["_FillValue"]).ravel()[0])
    for m in np.asarray(attrs.get("missing_value", [])).ravel():
        miss |= same(v, m)
    lo = hi = None
    if "valid_range" in attrs:
        lo, hi = np.asarray(attrs["valid_range"]).ravel()
    lo = np.asarray(attrs["valid_min"]).ravel()[0] if "valid_min" in attrs else lo
    hi = np.asarray(attrs["valid_max"]).ravel()[0] if "valid_max" in attrs else hi
    with np.errstate(invalid="ignore"):
        if lo is not None:
            miss |= v < np.array(lo, dtype=v.dtype)
        if hi is not None:
            miss |= v > np.array(hi, dtype=v.dtype)
    if "scale_factor" in attrs or "add_offset" in attrs:
        s = float(np.asarray(attrs.get("scale_factor", 1.0)).ravel()[0])
        o = float(np.asarray(attrs.get("add_offset", 0.0)).ravel()[0])
        return miss, v.astype("f8") * s + o
    return miss, v


def expected_order(v, miss, descending):
    cls = np.zeros(len(v), np.int64)  # 0 number, 1 NaN, 2 missing
    if v.dtype.kind == "f":
        cls[np.isnan(v)] = 1
    cls[miss] = 2
    num = cls == 0
    rank = np.zeros(len(v), np.int64)
    if num.any():  # ranks of the values: equal values (-0.0 and 0.0 too) share one
        rank[num] = np.unique(v[num], return_inverse=True)[1].ravel()
    if descending:
        rank = -rank
    order = np.argsort(rank, kind="stable")
    return order[np.argsort(cls[order], kind="stable")]


def native(a):
    return a.astype(a.dtype.newbyteorder("="))


def check(inp, ind, out, outd, field, descending):
    with h5py.File(inp, "r") as h:
        a = h[ind][...]
        attrs = dict(h[ind].attrs)
    with h5py.File(out, "r") as h:
        b = h[outd][...]
    if a.dtype.names:
        v, miss = native(a[field]), np.zeros(len(a), bool)
        if v.dtype.kind == "b":
            v = v.astype("i1")
    else:
        miss, v = decode(native(a), attrs)
    order = expected_order(v, miss, descending)
    want = native(a[order])
    got = native(b)
    if got.shape != want.shape:
        return ["rows: %d, expected %d" % (len(got), len(want))]
    if got.tobytes() != want.astype(got.dtype).tobytes():
        bad = np.nonzero(got.view(np.uint8).reshape(len(got), -1) !=
                         want.astype(got.dtype).view(np.uint8).reshape(len(want), -1))[0]
        return ["%s: %d rows differ from numpy's stable order, first at output row %d" %
                (field, len(np.unique(bad)), bad[0])]
    return []


def main(argv):
    if len(argv) >= 3 and argv[1] == "make":
        make(argv[2])
        return 0
    if len(argv) >= 7 and argv[1] == "check":
        fails = check(argv[2], argv[3], argv[4], argv[5], argv[6], len(argv) > 7)
        for f in fails:
            print(f)
        return 1 if fails else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
