#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""run_doc_examples.py SOURCE_DIR BUILD_DIR: run the shell examples of README.md and
docs/*.md against a build, so that the docs stay true (ctest docs.examples).

Every fenced block whose info string is `sh` is run with `bash -e -o pipefail`, in file
order, in one scratch folder that holds small inputs under the names the docs use
(corpus/*.txt, input.txt, run42.h5: a 20 000-row `sluice-gen particles` table), with the
build's apps and jobscripts/sluice-launch first on PATH, each under a timeout; it must exit
0. A block that cannot run on one machine (it needs Slurm, root, an installed prefix, a
program of the reader's, or it builds or benchmarks for minutes) is marked on the line
just before its fence:

    <!-- doc-example: skip: WHY -->

Any other fence info string (c, cmake, text, none) is not run. Prints `ok`/`skip`/`not ok`
per block and exits 1 when a block failed, or when no block ran at all.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

TIMEOUT = 60
SKIP = re.compile(r"^\s*<!--\s*doc-example:\s*skip:\s*(.+?)\s*-->\s*$")
FENCE = re.compile(r"^\s*```(\S*)\s*$")


def blocks(path):
    """(line, info, skip reason or None, text) of each fenced block of path."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        prev = lines[i - 1] if i > 0 else ""
        s = SKIP.match(prev)
        yield i + 1, m.group(1), s.group(1) if s else None, "\n".join(lines[i + 1 : j])
        i = j + 1


def fixtures(work, build, src):
    """The inputs the docs name, and a bin/ with the apps."""
    bindir = os.path.join(work, "bin")
    os.makedirs(bindir)
    for exe in glob.glob(os.path.join(build, "apps", "*", "sluice-*")):
        if os.access(exe, os.X_OK) and not os.path.isdir(exe):
            os.symlink(exe, os.path.join(bindir, os.path.basename(exe)))
    os.symlink(os.path.join(src, "jobscripts", "sluice-launch"), os.path.join(bindir, "sluice-launch"))
    os.makedirs(os.path.join(work, "corpus"))
    words = "the quick brown fox jumps over the lazy dog and the cat".split()
    for k in range(3):
        with open(os.path.join(work, "corpus", "part%d.txt" % k), "w") as f:
            for n in range(200):
                f.write(" ".join(words[(n * 7 + k + w) % len(words)] for w in range(9)) + "\n")
    shutil.copy(os.path.join(work, "corpus", "part0.txt"), os.path.join(work, "input.txt"))
    gen = os.path.join(build, "apps", "sluice-gen", "sluice-gen")
    subprocess.run([gen, "particles", "--rows", "20000", "--cells", "64", "--seed", "42",
                    "-o", os.path.join(work, "run42.h5")], check=True, timeout=TIMEOUT,
                   stdout=subprocess.DEVNULL)
    return bindir


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: run_doc_examples.py SOURCE_DIR BUILD_DIR")
    src, build = (os.path.abspath(a) for a in sys.argv[1:])
    files = [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md")))
    work = tempfile.mkdtemp(prefix="sluice-doc-examples.")
    ran = failed = 0
    try:
        env = dict(os.environ)
        env["PATH"] = fixtures(work, build, src) + os.pathsep + env.get("PATH", "")
        # mpirun as root (containers, CI) and more ranks than cores, as in the other tests
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   OMPI_MCA_rmaps_base_oversubscribe="1")
        for path in files:
            rel = os.path.relpath(path, src)
            for line, info, skip, text in blocks(path):
                if info != "sh":
                    continue
                where = "%s:%d" % (rel, line)
                if skip:
                    print("skip - %s: %s" % (where, skip))
                    continue
                ran += 1
                try:
                    r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", text], cwd=work, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       timeout=TIMEOUT)
                    rc, out = r.returncode, r.stdout.decode(errors="replace")
                except subprocess.TimeoutExpired as e:
                    rc, out = "timeout after %d s" % TIMEOUT, (e.stdout or b"").decode(errors="replace")
                if rc == 0:
                    print("ok - %s" % where)
                else:
                    failed += 1
                    print("not ok - %s: exit %s" % (where, rc))
                    for l in text.split("\n"):
                        print("#   $ " + l)
                    for l in out.splitlines()[-20:]:
                        print("#   " + l)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d run, %d failed" % (ran, failed))
    if ran == 0:
        print("not ok - no example ran")
    return 1 if failed or ran == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
