#!/usr/bin/env python3
"""The vendor's own hooks and recovery through the real binary: the `hook`
quiesce level (the workload's pre-freeze hook at every step boundary on a
fork of the live run, with its timeout and failure policy) and scripts'
[recovery] (SQL with file functions, run on every restored image).

usage: hook_test.py SNAPSIM SCHEMA.json EXAMPLES_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, failures, finish, level  # noqa: E402
from testlib import run_json as run_snapsim_json  # noqa: E402

SNAPSIM, SCHEMA, EXAMPLES = sys.argv[1], sys.argv[2], sys.argv[3]
with open(SCHEMA) as f:
    schema = json.load(f)








def run_json(*args):
    return run_snapsim_json(SNAPSIM, *args, schema=schema)


# --- the flat-file app's hook variants
rows = {}
for hook in ("none", "sync", "drain"):
    p, doc, _ = run_json("run", "invoice-flatfile", "-p", f"hook={hook}", "--quiesce", "none,hook")
    check(f"invoice-flatfile hook={hook} runs", doc is not None, p.stderr[-300:])
    if doc:
        rows[hook] = level(doc, "hook")
        h = rows[hook]["hook"]
        check(f"hook={hook}: a snapshot is requested at every step boundary", h["requested"] > 20 and
              rows[hook]["points"] == h["requested"] - h["failed"], h)
        check(f"hook={hook}: the main run is unchanged by the hook (same trace as without it)",
              level(doc, "none")["trace_hash"] == rows[hook]["trace_hash"])
if len(rows) == 3:
    check("a hook that only freezes is unsafe", failures(rows["none"]) > 0, rows["none"]["verdicts"])
    check("a hook that only syncs is unsafe", failures(rows["sync"]) > 0, rows["sync"]["verdicts"])
    check("a hook that drains is safe", failures(rows["drain"]) == 0 and rows["drain"]["points"] > 20,
          rows["drain"]["verdicts"])
    check("the drain's wait is in the freeze window", rows["drain"]["freeze_window_ms"] >
          rows["none"]["freeze_window_ms"], (rows["drain"]["freeze_window_ms"], rows["none"]["freeze_window_ms"]))

p, doc, _ = run_json("run", "invoice-flatfile", "-p", "hook=drain", "-p", "hook_timeout_ms=0", "--quiesce", "hook")
check("a drain beyond its timeout runs", doc is not None, p.stderr[-300:])
if doc:
    r = level(doc, "hook")
    check("a drain beyond its timeout falls back to crash-consistent", r["hook"]["timed_out"] > 0 and
          r["hook"]["crash_consistent"] == r["hook"]["timed_out"] and r["hook"]["failed"] == 0, r["hook"])
    check("and fails again", failures(r) > 0, r["verdicts"])
    m = subprocess.run([SNAPSIM, "run", "invoice-flatfile", "-p", "hook=drain", "-p", "hook_timeout_ms=0",
                        "--quiesce", "hook"], capture_output=True, text=True)
    check("the terminal names what the hook did", "taken crash-consistent" in m.stdout and " hook " in
          m.stdout.splitlines()[0], m.stdout[:400])

# --- determinism, and --jobs equality
_, a, ta = run_json("run", "invoice-flatfile", "-p", "hook=drain", "--quiesce", "hook", "--seed", "5", "--jobs", "1")
_, b, tb = run_json("run", "invoice-flatfile", "-p", "hook=drain", "--quiesce", "hook", "--seed", "5", "--jobs", "2")
_, c, tc = run_json("run", "invoice-flatfile", "-p", "hook=drain", "--quiesce", "hook", "--seed", "5", "--jobs", "1")
check("hook results are byte-identical with --jobs 1 and 2, and run to run", ta is not None and ta == tb == tc)

# --- scripts: [quiesce] in SQL, a WAL checkpoint before the freeze
WAL = """name = "wal-hook"
[sqlite]
journal_mode = "wal"
synchronous = "full"
[setup]
sql = "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER NOT NULL); INSERT INTO t VALUES (1, 0);"
[clients]
count = 2
transactions = 3
[[transaction]]
name = "bump"
params = { n = "int(1,9)" }
steps = ["UPDATE t SET v = v + :n WHERE id = 1", "INSERT INTO t(v) VALUES (:n)"]
[quiesce]
pre_freeze = ["PRAGMA wal_checkpoint(TRUNCATE)"]
drain = DRAIN
on_failure = "POLICY"
timeout_ms = TIMEOUT
"""
with tempfile.TemporaryDirectory() as tmp:
    def script(drain="true", policy="fail", timeout="10000"):
        path = os.path.join(tmp, f"wal-{drain}-{policy}-{timeout}.toml")
        with open(path, "w") as f:
            f.write(WAL.replace("DRAIN", drain).replace("POLICY", policy).replace("TIMEOUT", timeout))
        return path

    p, doc, _ = run_json("run", script(), "--quiesce", "fsfreeze,hook")
    check("a script's [quiesce] hook runs", doc is not None, p.stderr[-300:])
    if doc:
        hk, ff = level(doc, "hook"), level(doc, "fsfreeze")
        check("fsfreeze alone leaves a WAL to replay (recovered)", ff["verdicts"]["recovered"] > 0, ff["verdicts"])
        check("a drained wal_checkpoint(TRUNCATE) hook leaves none: every point consistent, none recovered",
              hk["verdicts"]["consistent"] == hk["points"] and hk["points"] > 10, hk["verdicts"])
    p, doc, _ = run_json("run", script(timeout="0"), "--quiesce", "hook")
    if doc:
        hk = level(doc, "hook")
        check("on_failure = fail: a hook beyond its timeout is a failed snapshot, not a verdict",
              hk["hook"]["failed"] > 0 and hk["points"] == hk["hook"]["requested"] - hk["hook"]["failed"],
              hk["hook"])
    else:
        check("a timed-out hook with on_failure = fail runs", False, p.stderr[-300:])
    p, doc, _ = run_json("run", script(drain="false"), "--quiesce", "hook", "-p", "quiesce.drain=true")
    check("-p quiesce.drain overrides the script", doc is not None and failures(level(doc, "hook")) == 0,
          p.stderr[-300:])
    bad = subprocess.run([SNAPSIM, "run", script(policy="ignore"), "--quiesce", "hook"], capture_output=True,
                         text=True)
    check("a bad on_failure is one line and exit 2", bad.returncode == 2 and "on_failure" in bad.stderr and
          len(bad.stderr.strip().splitlines()) == 1, bad.stderr)

# --- the application's recovery: receipts regenerated from the database
_, plain, _ = run_json("run", os.path.join(EXAMPLES, "bank-transfer.toml"), "--quiesce", "none,fsfreeze")
_, fixed, _ = run_json("run", os.path.join(EXAMPLES, "bank-transfer-recovery.toml"), "--quiesce", "none,fsfreeze")
if plain and fixed:
    check("without a recovery, receipts written after commit are missing at `none`",
          level(plain, "none")["verdicts"]["invariant_violation"] > 0, level(plain, "none")["verdicts"])
    check("with a recovery that regenerates them, `none` is safe", failures(level(fixed, "none")) == 0 and
          failures(level(fixed, "fsfreeze")) == 0, level(fixed, "none")["verdicts"])
    check("and the points it repaired are `recovered`", level(fixed, "none")["verdicts"]["recovered"] >
          level(plain, "none")["verdicts"]["recovered"], (level(fixed, "none")["verdicts"], level(plain, "none")["verdicts"]))
    check("the same points are explored", level(fixed, "none")["points"] == level(plain, "none")["points"])
else:
    check("the bank-transfer examples run", False)
with tempfile.TemporaryDirectory() as tmp:
    base = open(os.path.join(EXAMPLES, "bank-transfer.toml")).read()
    def variant(name, extra):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(base + extra)
        return path
    for name, extra, needle in (
            ("badsql.toml", '\n[recovery]\nsql = "SELEC 1"\n', "[recovery]"),
            ("badkey.toml", '\n[recovery]\nsql = "SELECT 1"\nquery = "x"\n', "unknown key 'query' in [recovery]"),
            ("writer.toml", '\n[[invariant]]\nname = "sneaky"\nsql = "SELECT file_write(\'x\', \'y\') = 1"\n',
             "only available in [recovery]")):
        bad = subprocess.run([SNAPSIM, "run", variant(name, extra), "--quiesce", "none"], capture_output=True,
                             text=True)
        check(f"{name}: one line naming the problem, exit 2", bad.returncode == 2 and needle in bad.stderr and
              len(bad.stderr.strip().splitlines()) == 1, bad.stderr)
    orphans = variant("orphans.toml", """
[recovery]
sql = "SELECT file_delete(value) FROM json_each(file_list('receipt-*.txt'))"
""")
    _, doc, _ = run_json("run", orphans, "--quiesce", "app")
    check("a recovery that deletes every receipt breaks the receipts invariant (it ran and file_list saw them)",
          doc is not None and level(doc, "app")["verdicts"]["invariant_violation"] > 0, doc and level(doc, "app"))

# --- files per transaction, file check modes, business rollbacks
SHOP = """name = "shop"
[sqlite]
journal_mode = "wal"
[setup]
sql = "CREATE TABLE stock(id INTEGER PRIMARY KEY, n INTEGER NOT NULL CHECK (n >= 0)); INSERT INTO stock VALUES (1, 5); CREATE TABLE log(id INTEGER PRIMARY KEY, kind TEXT NOT NULL);"
[clients]
count = 2
transactions = 6
[[transaction]]
name = "order"
params = { qty = "int(1,3)" }
steps = [ORDER_STEP, { sql = "INSERT INTO log(kind) VALUES ('order') RETURNING id", capture = "id" }]
[[transaction]]
name = "restock"
steps = ["UPDATE stock SET n = n + 1 WHERE id = 1", { sql = "INSERT INTO log(kind) VALUES ('restock') RETURNING id", capture = "id" }]
INVARIANT
[[file]]
name = "note-{id}.txt"
content = "order {id}\\n"
FILE_EXTRA
"""
ROLLBACK_STEP = '{ sql = "UPDATE stock SET n = n - :qty WHERE id = 1", on_error = "rollback" }'
PLAIN_STEP = '"UPDATE stock SET n = n - :qty WHERE id = 1"'
with tempfile.TemporaryDirectory() as tmp:
    NOTES = """[[invariant]]
name = "one note per order"
sql = "SELECT (SELECT COUNT(*) FROM log WHERE kind = 'order') = file_count('note-*.txt')"
"""

    def shop(name, step, extra, invariant=NOTES):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(SHOP.replace("ORDER_STEP", step).replace("FILE_EXTRA", extra).replace("INVARIANT", invariant))
        return path
    p, doc, _ = run_json("run", shop("rb.toml", ROLLBACK_STEP, 'transaction = "order"'), "--quiesce", "app,none")
    check("on_error = rollback: an order that finds no stock rolls back and the run goes on", doc is not None and
          failures(level(doc, "app")) == 0, p.stderr[-300:])
    bad = subprocess.run([SNAPSIM, "run", shop("plain.toml", PLAIN_STEP, 'transaction = "order"'), "--quiesce", "app"],
                         capture_output=True, text=True)
    check("without on_error the same failing statement stops the run (exit 2, naming it)",
          bad.returncode == 2 and "CHECK constraint failed" in bad.stderr, bad.stderr[-300:])
    _, every, _ = run_json("run", shop("every.toml", ROLLBACK_STEP, ""), "--quiesce", "app")
    check("[[file]] transaction = ...: without it every transaction writes the note (the invariant breaks)",
          every is not None and level(every, "app")["verdicts"]["invariant_violation"] > 0,
          every and level(every, "app")["verdicts"])
    # Without the invariant, only the commit oracle sees the notes.
    _, exact_doc, _ = run_json("run", shop("exact.toml", ROLLBACK_STEP, 'transaction = "order"', ""), "--quiesce", "none")
    _, none_doc, _ = run_json("run", shop("none.toml", ROLLBACK_STEP,
                                          'transaction = "order"\ncheck = "none"\nfsync_dir = true', ""),
                              "--quiesce", "none")
    if none_doc and exact_doc:
        a, b = level(exact_doc, "none")["verdicts"], level(none_doc, "none")["verdicts"]
        check("a note written after commit is out of step with the database at `none` (check = exact)",
              a["torn_transaction"] > 0, a)
        check("check = none leaves the note out of the commit oracle (no torn state from it)",
              b["torn_transaction"] == 0 and a["torn_transaction"] > 0, f"{a} vs {b}")
    else:
        check("check = none runs", False)
    bad = subprocess.run([SNAPSIM, "run", shop("badcheck.toml", ROLLBACK_STEP, 'check = "roughly"'), "--quiesce", "app"],
                         capture_output=True, text=True)
    check("a bad file.check is one line and exit 2", bad.returncode == 2 and "file.check" in bad.stderr, bad.stderr)
    bad = subprocess.run([SNAPSIM, "run", shop("badtx.toml", ROLLBACK_STEP, 'transaction = "refund"'), "--quiesce", "app"],
                         capture_output=True, text=True)
    check("a file of an unknown transaction is one line and exit 2", bad.returncode == 2 and "refund" in bad.stderr,
          bad.stderr)

bad = subprocess.run([SNAPSIM, "run", "invoice-sqlite", "--quiesce", "hook"], capture_output=True, text=True)
check("--quiesce hook on a workload without a hook is one line and exit 2", bad.returncode == 2 and
      "declares none" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr)
finish()
