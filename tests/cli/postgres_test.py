#!/usr/bin/env python3
"""PostgreSQL through the real binary: the seed's invoice application on the
real server (examples/process/postgres-invoice.toml), one recording per
setting, each explored under small point budgets. Every row is what
PostgreSQL documents for that setting:

  defaults (fsync, synchronous_commit, full_page_writes on): every snapshot
      point and every crash image recovers, no acknowledged invoice lost
  synchronous_commit=off: consistent, but acknowledged invoices can be lost
  fsync=off: power loss can corrupt the cluster
  full_page_writes=off, torn 512-byte sectors (--model crash): torn pages
      PostgreSQL cannot repair
  `app` (drained clients, frozen): clean, except with synchronous_commit=off
      (acknowledged commits still in the server's WAL buffers are lost)
  the vendor's hook (drain + CHECKPOINT in the live server): clean in every
      setting

usage: postgres_test.py SNAPSIM SCHEMA EXAMPLES_DIR
Needs /dev/fuse and Debian's postgresql (scripts/install-deps.sh installs it).
"""
import atexit
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, failures, finish, level, run_json  # noqa: E402

SNAPSIM, SCHEMA, EXAMPLES = sys.argv[1], sys.argv[2], sys.argv[3]
PG = os.path.join(EXAMPLES, "process", "postgres-invoice.toml")
PG_HOOK = os.path.join(EXAMPLES, "process", "postgres-invoice-hook.toml")
with open(SCHEMA) as f:
    schema = json.load(f)
tmp = tempfile.mkdtemp(prefix="snapsim-pg-")
atexit.register(shutil.rmtree, tmp, True)
BAD = ("torn_transaction", "invariant_violation", "corrupt", "unrecoverable")


def run(*args):
    p, doc, text = run_json(SNAPSIM, *args, schema=schema)
    check(f"runs: {' '.join(os.path.basename(a) for a in args)}", doc is not None, p.stderr[-500:])
    return doc, text


def damaged(run_):
    return sum(run_["verdicts"][k] for k in BAD)


def record(name, *params, app_loses=False):
    """Records the workload with -p params, explores `none` and `app` with a
    budget, keeps the trace. `app` (drained, frozen) is clean, except that
    with synchronous_commit=off a commit record can still be in the server's
    WAL buffers, not in any file, when the client has its answer."""
    trace = os.path.join(tmp, name + ".trace")
    args = [a for p in params for a in ("-p", p)]
    doc, _ = run("run", PG, *args, "--save-trace", trace, "--quiesce", "none,app", "--max-points", "10")
    if doc:
        app = level(doc, "app")
        if app_loses:
            check(f"{name}: `app` (drained, frozen) stays consistent", damaged(app) == 0 and app["points"] > 0,
                  app["verdicts"])
        else:
            check(f"{name}: `app` (drained, frozen) is clean", failures(app) == 0 and app["points"] > 0,
                  app["verdicts"])
    return trace, doc


# --- defaults: PostgreSQL's documented guarantee
trace, doc = record("defaults")
if doc:
    none = level(doc, "none")
    check("defaults: no `none` point fails", failures(none) == 0, none["verdicts"])
    check("defaults: the budget is reported", none["budget"]["points_existing"] > none["points"] == 10, none["budget"])
    check("defaults: WAL recovery ran on restored images", none["verdicts"]["recovered"] > 0, none["verdicts"])
doc, _ = run("run", trace, "--model", "crash", "--max-points", "24")
if doc:
    crash = level(doc, "none")
    check("defaults: every crash image recovers, no acknowledged invoice lost", failures(crash) == 0 and
          crash["points"] == 24, crash["verdicts"])

# --- synchronous_commit=off: the documented window of lost acknowledged commits
trace, doc = record("sync-off", "synchronous_commit=off", app_loses=True)
if doc:
    none = level(doc, "none")
    check("synchronous_commit=off: acknowledged invoices are lost", none["verdicts"]["lost_committed"] > 0,
          none["verdicts"])
    check("synchronous_commit=off: but the cluster stays consistent", damaged(none) == 0, none["verdicts"])

# --- fsync=off: power loss corrupts
trace, doc = record("fsync-off", "fsync=off")
doc, _ = run("run", trace, "--model", "crash")
if doc:
    crash = level(doc, "none")
    check("fsync=off: power loss corrupts the cluster or leaves it unrecoverable",
          crash["verdicts"]["corrupt"] + crash["verdicts"]["unrecoverable"] > 0, crash["verdicts"])
# Determinism and --jobs: the same recording gives byte-identical results.
_, a = run("run", trace, "--model", "crash", "--max-points", "12", "--jobs", "1")
_, b = run("run", trace, "--model", "crash", "--max-points", "12", "--jobs", "2")
_, c = run("run", trace, "--model", "crash", "--max-points", "12", "--jobs", "2")
check("fsync=off: --jobs 1 and --jobs 2 give byte-identical results, twice", a is not None and a == b == c)

# --- full_page_writes=off: a torn 8 KiB page cannot be repaired
trace, doc = record("fpw-off", "full_page_writes=off")
doc, _ = run("run", trace, "--model", "crash", "--sector-size", "512")
if doc:
    crash = level(doc, "none")
    check("full_page_writes=off: torn pages PostgreSQL cannot repair (corrupt or unrecoverable)",
          crash["verdicts"]["corrupt"] + crash["verdicts"]["unrecoverable"] > 0, crash["verdicts"])
    first = (crash.get("first_failure") or {}).get("detail", "")
    check("full_page_writes=off: the detail names the damaged page, with no timestamp or PID",
          ("invalid page" in first or "checksum" in first or "amcheck" in first or "could not" in first)
          and "UTC" not in first, first)

# --- the vendor's hook: drain the clients, CHECKPOINT in the live server.
# Clean with every setting off at once (the WAL buffers are written, the
# freeze writes the page cache, no page is torn in a snapshot).
doc, _ = run("run", PG_HOOK, "-p", "fsync=off", "-p", "synchronous_commit=off", "-p", "full_page_writes=off",
             "--quiesce", "hook", "--max-points", "12")
if doc:
    hook = level(doc, "hook")
    check("hook (drain + CHECKPOINT): clean with fsync, synchronous_commit and full_page_writes off",
          failures(hook) == 0 and hook["points"] == 12, hook["verdicts"])
    check("hook: snapshots requested, none failed", hook["hook"]["requested"] > 0 and hook["hook"]["failed"] == 0,
          hook["hook"])

finish()
