#!/usr/bin/env python3
"""The built-in suite's results, byte for byte, under every failure model.

Usage: golden_test.py SNAPSIM_BINARY GOLDEN_DIR
A refactoring must not change behaviour: the suite's --json output (verdict
counts, points, first failures, trace hashes) must equal the files kept in
tests/golden/. When a change is meant to move the numbers, regenerate them
with scripts/update-golden.sh and say in the commit which rows moved and why.
"""
import atexit
import shutil
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from testlib import check, finish  # noqa: E402

SNAPSIM, GOLDEN = sys.argv[1], sys.argv[2]
# name -> the suite's flags (also in scripts/update-golden.sh)
CASES = {
    "suite-snapshot.json": [],
    "suite-crash.json": ["--model", "crash"],
}
tmp = tempfile.mkdtemp(prefix="snapsim-golden-")
atexit.register(shutil.rmtree, tmp, True)
for name, flags in CASES.items():
    out = os.path.join(tmp, name)
    r = subprocess.run([SNAPSIM, *flags, "--jobs", "2", "--json", out], capture_output=True, text=True, timeout=900)
    check(f"{name}: the suite runs", r.returncode == 0, r.stderr)
    if r.returncode != 0:
        continue
    want = open(os.path.join(GOLDEN, name), "rb").read()
    got = open(out, "rb").read()
    same = want == got
    info = ""
    if not same:
        a, b = json.loads(want)["runs"], json.loads(got)["runs"]
        moved = []
        for x, y in zip(a, b):
            if x != y:
                keys = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
                moved.append(f"{x['workload']} {x['params'].get('journal_mode', '')} "
                             f"{x['params'].get('synchronous', '')} {x['quiesce']}: {', '.join(keys)}")
        if len(a) != len(b):
            moved.append(f"{len(a)} runs expected, {len(b)} produced")
        info = "; ".join(moved[:8]) + (f" and {len(moved) - 8} more" if len(moved) > 8 else "")
    check(f"{name}: byte-identical to tests/golden/{name}", same, info)
finish()
