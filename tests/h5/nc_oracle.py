#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""netCDF-4 / CF inputs and their oracle for the sluice apps (tests/h5/test_h5_netcdf.sh).

The inputs are written with netCDF4-python (the netCDF library), the bad ones and an h5py
boolean table with h5py; the expected results come from netCDF4-python's masked, unpacked
arrays (numpy.ma), never from sluice.

  nc_oracle.py make DIR
  nc_oracle.py stats FILE VAR OUT.h5 [--along DIM] [--where-gt X]   /stats of sluice-h5stats
  nc_oracle.py groupby FILE VAR OUT.h5:/DSET                          --key c0 --agg (see below)
  nc_oracle.py sort FILE VAR OUT.h5:/DSET [--descending]             --key c0
  nc_oracle.py boolgroup FILE OUT.h5:/DSET                            --key flag --agg count,sum:x,first:x,last:x
  nc_oracle.py boolsort FILE OUT.h5:/DSET                             --key flag
  nc_oracle.py plain FILE OUT.h5 DSET                                 /stats of a plain HDF5 file
  nc_oracle.py list FILE STDOUT.txt                                   sluice-h5stats --list

Exit status 0 when sluice's output agrees, 1 with one line per mismatch.
"""
import sys

import h5py
import netCDF4
import numpy as np

fails = []


def close(a, b, what, rel=1e-9):
    if (np.isnan(a) and np.isnan(b)) or a == b:
        return
    if not (abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)):
        fails.append("%s: sluice %r, netCDF4-python %r" % (what, a, b))


def make(d):
    rng = np.random.default_rng(42)
    ds = netCDF4.Dataset(d + "/cf.nc", "w")
    ds.Conventions = "CF-1.8"
    ds.createDimension("time", None)  # unlimited
    ds.createDimension("lev", 2)
    ds.createDimension("lat", 5)
    ds.createDimension("lon", 6)  # a dimension without a coordinate variable
    ds.createDimension("obs", 300)
    ds.createDimension("col", 3)
    t = ds.createVariable("time", "f8", ("time",))
    t.units = "hours since 2000-01-01"
    lat = ds.createVariable("lat", "f4", ("lat",))
    lat.units = "degrees_north"
    lat[:] = np.linspace(-40, 40, 5)
    nt = 7
    t[:] = np.arange(nt) * 6.0
    # packed int16, chunked + deflated, an explicit _FillValue and a valid_range
    tas = ds.createVariable("tas", "i2", ("time", "lat", "lon"), fill_value=-999, zlib=True,
                            chunksizes=(2, 5, 6))
    tas.set_auto_maskandscale(False)
    tas.scale_factor = 0.01
    tas.add_offset = 273.15
    tas.valid_range = np.array([-3000, 3000], "i2")
    tas.units = "K"
    tas.long_name = "air temperature"
    tas.standard_name = "air_temperature"
    raw = rng.integers(-2500, 2500, size=(nt, 5, 6)).astype("i2")
    raw[1, 2, 3] = -999
    raw[4, :, 0] = -999
    raw[5, 0, 0] = 4000  # outside valid_range
    raw[6, 4, 5] = -3500
    tas[:] = raw
    # 4-D float32: a missing_value vector and valid_min, no _FillValue: netCDF's default
    # fill applies (netCDF-4 file)
    pr = ds.createVariable("pr", "f4", ("time", "lev", "lat", "lon"), zlib=True)
    pr.set_auto_maskandscale(False)
    pr.missing_value = np.array([1e20, -1.0], "f4")
    pr.valid_min = np.float32(0.0)
    pr.units = "kg m-2 s-1"
    v = rng.random((nt, 2, 5, 6)).astype("f4") * 10
    v[0, 0, 0, :3] = 1e20
    v[2, 1, 3, 3] = -1.0
    v[3, 0, 1, 1] = -0.5  # below valid_min
    v[6, 1, :, :] = netCDF4.default_fillvals["f4"]
    pr[:] = v
    # int32 without attributes: the default fill of the type is missing
    cnt = ds.createVariable("cnt", "i4", ("time",))
    cnt.set_auto_maskandscale(False)
    cnt[:] = np.array([5, 7, netCDF4.default_fillvals["i4"], 2, 9, -3, 11], "i4")
    # a table stored as a matrix: column 0 a key with a _FillValue, columns 1-2 values
    tab = ds.createVariable("tab", "i4", ("obs", "col"), fill_value=-99)
    tab.set_auto_maskandscale(False)
    tb = np.empty((300, 3), "i4")
    tb[:, 0] = rng.integers(0, 6, 300)
    tb[:, 1] = rng.integers(-1000, 1000, 300)
    tb[:, 2] = rng.integers(0, 50, 300)
    tb[::17, 0] = -99  # missing keys
    tb[::11, 1] = -99  # missing values
    tab[:] = tb
    tab.units = "m"
    ds.close()

    # a second file whose tas is packed differently: a glob over both is refused
    ds = netCDF4.Dataset(d + "/cf_b.nc", "w")
    ds.createDimension("time", None)
    ds.createDimension("lat", 5)
    ds.createDimension("lon", 6)
    tas = ds.createVariable("tas", "i2", ("time", "lat", "lon"), fill_value=-999)
    tas.set_auto_maskandscale(False)
    tas.scale_factor = 0.02
    tas.add_offset = 273.15
    tas[0:2] = np.zeros((2, 5, 6), "i2")
    ds.close()

    # bad inputs (plain HDF5 written with h5py): one bad attribute each
    with h5py.File(d + "/bad.h5", "w") as f:
        for name in ("scale_str", "fill_type", "range_rev", "range_conflict"):
            f.create_dataset(name, data=np.arange(10, dtype="i2"))
        f["scale_str"].attrs["scale_factor"] = np.bytes_("0.5")
        f["fill_type"].attrs["_FillValue"] = np.float64(-1.0)
        f["range_rev"].attrs["valid_range"] = np.array([10, 0], "i2")
        f["range_conflict"].attrs["valid_range"] = np.array([0, 10], "i2")
        f["range_conflict"].attrs["valid_max"] = np.int16(8)
        # a plain HDF5 file: no default fill, a _FillValue applies
        f.create_dataset("plain", data=np.array([1, -32767, 3, -5, 7], "i2"))
        f["plain2"] = np.array([1, -32767, 3, -5, 7], "i2")
        f["plain2"].attrs["_FillValue"] = np.int16(-5)

    # an h5py table with a boolean column (an HDF5 enum) and a fixed-length string
    dt = np.dtype([("id", "i8"), ("flag", "?"), ("x", "f8"), ("name", "S4")])
    a = np.zeros(500, dt)
    a["id"] = np.arange(500)
    a["flag"] = rng.random(500) < 0.3
    a["x"] = rng.normal(size=500)
    a["name"] = [b"ab", b"cd", b"e", b"fgh"] * 125
    with h5py.File(d + "/bool.h5", "w") as f:
        f["t"] = a
        f["t"].attrs["title"] = "booleans"


def read_stats(out):
    with h5py.File(out, "r") as f:
        return f["/stats"][...], dict(f["/stats"].attrs)


def masked(path, var):
    ds = netCDF4.Dataset(path)
    v = ds[var][...]
    ds.close()
    return np.ma.masked_array(v).astype("f8")


def stat_row(row, m, what):
    valid = m.compressed()
    nan = int(np.isnan(valid).sum())
    fin = valid[np.isfinite(valid)]
    exp = {"count": valid.size - nan, "missing_count": int(np.ma.count_masked(m)),
           "nan_count": nan}
    for k, v in exp.items():
        if int(row[k]) != v:
            fails.append("%s %s: sluice %d, netCDF4-python %d" % (what, k, row[k], v))
    if fin.size:
        close(float(row["min"]), float(fin.min()), what + " min")
        close(float(row["max"]), float(fin.max()), what + " max")
        close(float(row["mean"]), float(fin.mean()), what + " mean")
        close(float(row["std"]), float(fin.std()), what + " std", 1e-7)


def stats(path, var, out, along=None, where_gt=None):
    m = masked(path, var)
    if where_gt is not None:
        m = np.ma.masked_array(m.filled(np.nan), mask=np.zeros(m.shape, bool))
        keep = m > where_gt  # NaN (missing) fails the condition
        m = np.ma.masked_where(~keep.filled(False), m)
        m = np.ma.masked_array(m.compressed())
    rows, attrs = read_stats(out)
    if "inputs" not in attrs or "input" in attrs:
        fails.append("/stats provenance: expected 'inputs' and no 'input', found %s" % sorted(attrs))
    ds = netCDF4.Dataset(path)
    for k in ("units", "long_name"):
        if k in ds[var].ncattrs() and attrs.get(k, b"").decode() != ds[var].getncattr(k):
            fails.append("/stats attribute %s: %r, expected %r" % (k, attrs.get(k), ds[var].getncattr(k)))
    dims = ds[var].dimensions
    coord = None
    if along is not None:
        d = dims.index(along)
        if along in ds.variables:
            coord = ds[along][...]
    ds.close()
    if along is None:
        if len(rows) != 1 or rows[0]["field"] != b"value":
            fails.append("/stats: expected one row 'value', found %d" % len(rows))
            return
        stat_row(rows[0], m, var)
        return
    n = m.shape[d]
    if len(rows) != n:
        fails.append("/stats --along %s: %d rows, expected %d" % (along, len(rows), n))
        return
    for i in range(n):
        sub = np.ma.take(m, i, axis=d)
        stat_row(rows[i], sub, "%s[%s=%d]" % (var, along, i))
        if int(rows[i]["index"]) != i:
            fails.append("row %d: index %d" % (i, rows[i]["index"]))
        if coord is not None:
            close(float(rows[i][along]), float(coord[i]), "coordinate %s[%d]" % (along, i))


def spec(s):
    f, d = s.rsplit(":/", 1)
    return f, "/" + d


def groupby(path, var, outspec):
    ds = netCDF4.Dataset(path)
    m = np.ma.masked_array(ds[var][...])
    ds.close()
    key, val = m[:, 0], m[:, 1].astype("f8")
    f, dset = spec(outspec)
    with h5py.File(f, "r") as h:
        out = h[dset][...]
        if h[dset].attrs.get("sluice_version") is None:
            fails.append("groupby output: no provenance")
    groups = sorted(set(int(k) for k in key.compressed()))
    exp = [(k, key.filled(-1) == k) for k in groups]
    if np.ma.count_masked(key):
        exp.append((None, np.ma.getmaskarray(key)))
    if len(out) != len(exp):
        fails.append("groupby: %d groups, expected %d" % (len(out), len(exp)))
        return
    for row, (k, sel) in zip(out, exp):
        what = "group %s" % k
        if int(row["missing_c0"]) != (k is None) or (k is not None and int(row["c0"]) != k):
            fails.append("%s: key %d missing %d" % (what, row["c0"], row["missing_c0"]))
        v = val[sel]
        good = v.compressed()
        if int(row["count"]) != int(sel.sum()):
            fails.append("%s count %d, expected %d" % (what, row["count"], sel.sum()))
        if good.size:
            close(float(row["sum_c1"]), float(good.sum()), what + " sum")
            close(float(row["mean_c1"]), float(good.mean()), what + " mean")
            close(float(row["min_c1"]), float(good.min()), what + " min")
            close(float(row["max_c1"]), float(good.max()), what + " max")
            close(float(row["std_c1"]), float(good.std()), what + " std", 1e-7)
            close(float(row["var_c1"]), float(good.var()), what + " var", 1e-7)
            close(float(row["first_c1"]), float(good[0]), what + " first")
            close(float(row["last_c1"]), float(good[-1]), what + " last")


def sort(path, var, outspec, descending):
    ds = netCDF4.Dataset(path)
    m = np.ma.masked_array(ds[var][...])
    units = ds[var].units
    ds.close()
    key = m[:, 0].astype("f8")
    raw = m.data
    idx = np.arange(len(raw))
    miss = np.ma.getmaskarray(key)
    kv = key.filled(0)
    # stable: by key (reversed for descending), missing last, ties by row
    order = sorted(idx, key=lambda i: (bool(miss[i]), (-kv[i] if descending else kv[i]), i))
    f, dset = spec(outspec)
    with h5py.File(f, "r") as h:
        out = h[dset][...]
        attrs = dict(h[dset].attrs)
    if out.shape != raw.shape or not np.array_equal(out, raw[order]):
        fails.append("sort: the rows differ from the stable order by decoded key (missing last)")
    if attrs.get("units", b"").decode() != units:
        fails.append("sort: units %r, expected %r" % (attrs.get("units"), units))
    if "_FillValue" not in attrs or int(attrs["_FillValue"]) != -99:
        fails.append("sort: _FillValue not carried: %r" % attrs.get("_FillValue"))
    if "DIMENSION_LIST" in attrs:
        fails.append("sort: DIMENSION_LIST carried")


def boolgroup(path, outspec):
    with h5py.File(path, "r") as h:
        a = h["t"][...]
    f, dset = spec(outspec)
    with h5py.File(f, "r") as h:
        out = h[dset][...]
    if len(out) != 2:
        fails.append("bool groups: %d, expected 2" % len(out))
        return
    for row, k in zip(out, (False, True)):
        sel = a["flag"] == k
        if int(row["flag"]) != int(k) or int(row["count"]) != int(sel.sum()):
            fails.append("bool group %s: flag %d count %d" % (k, row["flag"], row["count"]))
        close(float(row["sum_x"]), float(a["x"][sel].sum()), "bool sum", 1e-12)
        close(float(row["first_x"]), float(a["x"][sel][0]), "bool first")
        close(float(row["last_x"]), float(a["x"][sel][-1]), "bool last")


def boolsort(path, outspec):
    with h5py.File(path, "r") as h:
        a = h["t"][...]
    order = np.argsort(a["flag"], kind="stable")
    f, dset = spec(outspec)
    with h5py.File(f, "r") as h:
        out = h[dset][...]
        title = h[dset].attrs.get("title")
    if not np.array_equal(out["id"], a["id"][order]) or not np.array_equal(out["name"], a["name"][order]):
        fails.append("bool sort: rows not in stable flag order")
    if title is None or title.decode() != "booleans":
        fails.append("bool sort: attribute title not carried: %r" % title)


def plain(path, out, dset):
    # a plain HDF5 file: only the attributes decode (no netCDF default fill)
    with h5py.File(path, "r") as h:
        a = h[dset][...].astype("f8")
        fill = h[dset].attrs.get("_FillValue")
    mask = np.zeros(a.shape, bool) if fill is None else a == float(fill)
    rows, _ = read_stats(out)
    stat_row(rows[0], np.ma.masked_array(a, mask), dset)


def listing(path, txt):
    # sluice-h5stats --list against the file's netCDF variables and dimensions
    lines = {}
    for line in open(txt):
        if line.startswith("/"):
            name = line.split()[0][1:]
            lines[name] = line.rstrip("\n")
    ds = netCDF4.Dataset(path)
    for name, v in ds.variables.items():
        line = lines.get(name)
        if line is None:
            fails.append("--list: variable %s missing" % name)
            continue
        shape = ", ".join("%s=%d" % (d, n) for d, n in zip(v.dimensions, v.shape))
        if "(%s)" % shape not in line:
            fails.append("--list: %s: %r, expected (%s)" % (name, line, shape))
        is_coord = v.dimensions == (name,)
        if is_coord != line.endswith("coordinate"):
            fails.append("--list: %s: %r, coordinate: %s" % (name, line, is_coord))
    for name in ds.dimensions:
        if name not in ds.variables and not lines.get(name, "").endswith("dimension (no variable)"):
            fails.append("--list: dimension %s: %r" % (name, lines.get(name)))
    ds.close()


def main(argv):
    cmd = argv[1]
    if cmd == "make":
        make(argv[2])
        return 0
    if cmd == "stats":
        along = argv[argv.index("--along") + 1] if "--along" in argv else None
        wgt = float(argv[argv.index("--where-gt") + 1]) if "--where-gt" in argv else None
        stats(argv[2], argv[3], argv[4], along, wgt)
    elif cmd == "groupby":
        groupby(argv[2], argv[3], argv[4])
    elif cmd == "sort":
        sort(argv[2], argv[3], argv[4], "--descending" in argv)
    elif cmd == "boolgroup":
        boolgroup(argv[2], argv[3])
    elif cmd == "list":
        listing(argv[2], argv[3])
    elif cmd == "plain":
        plain(argv[2], argv[3], argv[4])
    elif cmd == "boolsort":
        boolsort(argv[2], argv[3])
    else:
        print("nc_oracle.py: unknown command %s" % cmd)
        return 2
    for f in fails[:20]:
        print("mismatch: " + f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
