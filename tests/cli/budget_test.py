#!/usr/bin/env python3
"""--max-points through the real binary: a budget of points per level that
keeps the decisive points (syncs, renames, acknowledgements) and says what it
left out.

usage: budget_test.py SNAPSIM SCHEMA.json
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, failures, finish, level  # noqa: E402
from testlib import run_json as run_snapsim_json  # noqa: E402

SNAPSIM, SCHEMA = sys.argv[1], sys.argv[2]
with open(SCHEMA) as f:
    schema = json.load(f)


def run_json(*args):
    return run_snapsim_json(SNAPSIM, *args, schema=schema)


ARGS = ["run", "invoice-sqlite", "--quiesce", "none,fsfreeze"]
_, full, _ = run_json(*ARGS)
p, cut, text = run_json(*ARGS, "--max-points", "40")
_, cut2, text2 = run_json(*ARGS, "--max-points", "40", "--jobs", "2")
check("a budgeted run runs", full is not None and cut is not None, p.stderr[-300:])
if full and cut:
    for q in ("none", "fsfreeze"):
        a, b = level(full, q), level(cut, q)
        check(f"{q}: exactly the budget is judged", b["points"] == 40, b["points"])
        check(f"{q}: the report says how many points existed and how many were left out",
              b["budget"]["points_existing"] == a["points"] and b["budget"]["points_left_out"] == a["points"] - 40,
              b["budget"])
    a, b = level(full, "none"), level(cut, "none")
    check("the decisive points come first: the lost commits of DELETE+FULL are still found",
          a["verdicts"]["lost_committed"] > 0 and b["verdicts"]["lost_committed"] > 0, b["verdicts"])
    check("the budget is deterministic and the same with --jobs 2", text == text2)
    rp = subprocess.run([SNAPSIM] + b["first_failure"]["replay"].split()[1:], capture_output=True, text=True)
    check("a budgeted run's replay command reproduces its first failure",
          rp.returncode == 0 and b["first_failure"]["verdict"] in rp.stdout, rp.stdout[-300:] + rp.stderr[-300:])
_, big, _ = run_json(*ARGS, "--max-points", "100000")
if full and big:
    check("a budget above the points changes no verdict",
          [r["verdicts"] for r in big["runs"]] == [r["verdicts"] for r in full["runs"]] and
          all(r["budget"]["points_left_out"] == 0 for r in big["runs"]))
finish()
