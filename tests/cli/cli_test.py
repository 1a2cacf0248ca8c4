#!/usr/bin/env python3
"""Integration tests through the real snapsim binary.

Usage: cli_test.py SNAPSIM_BINARY SCHEMA_JSON
Each check prints one line; the script ends with 'N passed, N failed'.
"""
import atexit
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, chromium_flags, finish  # noqa: E402

SNAPSIM, SCHEMA = sys.argv[1], sys.argv[2]


def run(*args, cwd=None):
    return subprocess.run([SNAPSIM, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def failures(run_obj):
    v = run_obj["verdicts"]
    return sum(v[k] for k in ("lost_committed", "torn_transaction", "invariant_violation",
                              "corrupt", "unrecoverable"))


def by_level(doc):
    return {r["quiesce"]: r for r in doc["runs"]}


def validate(doc):
    try:
        import jsonschema
    except ImportError:
        return "python3 jsonschema is not installed (scripts/install-deps.sh installs it)"
    try:
        jsonschema.validate(doc, json.load(open(SCHEMA)))
    except jsonschema.ValidationError as e:
        return str(e).splitlines()[0]
    return None


tmp = tempfile.mkdtemp(prefix="snapsim-cli-")
atexit.register(shutil.rmtree, tmp, True)

# The naive flat-file app fails under none and fsfreeze, never under app.
for seed in ("1", "7"):
    out = os.path.join(tmp, f"flat{seed}.json")
    r = run("run", "invoice-flatfile", "--seed", seed, "--json", out)
    check(f"flatfile seed {seed} exits 0", r.returncode == 0, r.stderr)
    doc = json.load(open(out))
    err = validate(doc)
    check(f"flatfile seed {seed} JSON matches the schema", err is None, err)
    lv = by_level(doc)
    check(f"flatfile seed {seed} fails under none", failures(lv["none"]) > 0)
    check(f"flatfile seed {seed} fails under fsfreeze", failures(lv["fsfreeze"]) > 0)
    check(f"flatfile seed {seed} has no failure under app", failures(lv["app"]) == 0)
    kinds = lv["none"]["verdicts"]
    check(f"flatfile seed {seed} none failures are torn or invariant violations",
          kinds["torn_transaction"] + kinds["invariant_violation"] > 0)
    ff = lv["none"]["first_failure"]
    check(f"flatfile seed {seed} first failure has a replay command",
          ff is not None and ff["replay"].startswith("snapsim replay invoice-flatfile"))
    # The replay command reproduces the verdict.
    rep = run(*ff["replay"].split()[1:])
    check(f"flatfile seed {seed} replay exits 0", rep.returncode == 0, rep.stderr)
    check(f"flatfile seed {seed} replay names the transaction in flight",
          "in flight at the snapshot: client" in rep.stdout, rep.stdout[:400])
    check(f"flatfile seed {seed} replay shows the last writes before the snapshot",
          "block_write" in rep.stdout)
    check(f"flatfile seed {seed} replay shows the same verdict",
          f"): {ff['verdict']}" in rep.stdout and ff["detail"] in rep.stdout, rep.stdout[:400])

# The journaled app is safe under none and shows recovered points.
out = os.path.join(tmp, "journaled.json")
r = run("run", "invoice-flatfile-journaled", "--quiesce", "none", "--schedules", "3", "--json", out)
doc = json.load(open(out))
lv = by_level(doc)
check("journaled has no failure under none", failures(lv["none"]) == 0, json.dumps(lv["none"]["verdicts"]))
check("journaled has recovered points under none", lv["none"]["verdicts"]["recovered"] > 0)
check("journaled first_failure is null", lv["none"]["first_failure"] is None)
check("journaled explored 3 schedules", lv["none"]["schedules_run"] == 3)

# Determinism: same seed and configuration, byte-identical JSON.
a, b = os.path.join(tmp, "a.json"), os.path.join(tmp, "b.json")
run("run", "invoice-flatfile", "--seed", "42", "--schedules", "2", "--json", a)
run("run", "invoice-flatfile", "--seed", "42", "--schedules", "2", "--json", b)
check("same seed gives byte-identical JSON", open(a, "rb").read() == open(b, "rb").read())
c = os.path.join(tmp, "c.json")
run("run", "invoice-flatfile", "--seed", "43", "--schedules", "2", "--json", c)
ha = {r["trace_hash"] for r in json.load(open(a))["runs"]}
hc = {r["trace_hash"] for r in json.load(open(c))["runs"]}
check("different seed gives a different trace", ha != hc)

# The built-in suite with no arguments.
r = run()
check("snapsim with no arguments exits 0", r.returncode == 0, r.stderr)
check("suite matrix names both flat-file workloads",
      "invoice-flatfile " in r.stdout and "invoice-flatfile-journaled" in r.stdout)
check("suite prints a conclusion per workload", r.stdout.count("safe at `app`") >= 1)
r = run("list")
check("list names the workloads and parameters", "invoice-flatfile" in r.stdout and "-p clients=" in r.stdout)

# Bad input: one line naming the problem, exit 2, no results file.
bad_cases = [
    (["run", "no-such-workload"], "no-such-workload"),
    (["run", "invoice-flatfile", "-p", "colour=red"], "colour"),
    (["run", "invoice-flatfile", "-p", "clients=many"], "clients"),
    (["run", "invoice-flatfile", "--quiesce", "none,sometimes"], "sometimes"),
    (["run", "invoice-flatfile", "--writeback", "never"], "never"),
    (["run", "invoice-flatfile", "--schedules", "0"], "schedules"),
    (["run", "invoice-flatfile", "--fail-on", "bad_verdict"], "bad_verdict"),
    (["run", "invoice-flatfile", "--no-such-flag"], "no-such-flag"),
    (["run", "invoice-flatfile", "--pool-blocks", "4"], "pool"),
    (["replay", "invoice-flatfile", "--quiesce", "none", "--point", "999999"], "999999"),
    (["run", "invoice-sqlite", "--model", "meteor"], "meteor"),
    (["run", "invoice-sqlite", "--fs", "zfs"], "--fs"),
    (["run", "invoice-sqlite", "--model", "crash", "--quiesce", "app"], "quiesce"),
    (["run", "invoice-sqlite", "--model", "crash", "--crash-states", "0"], "--crash-states"),
    (["run", "invoice-sqlite", "--model", "crash", "--sector-size", "1000"], "--sector-size"),
    (["run", "invoice-flatfile", "--seed", "-1"], "--seed"),
    (["run", "invoice-flatfile", "--seed", "18446744073709551616"], "--seed"),
    (["run", "invoice-flatfile", "--jobs", "-2"], "--jobs"),
    (["run", tempfile.mkdtemp(prefix="snapsim-dir-", suffix=".toml", dir=tmp)], "is a directory"),
    (["run", tempfile.mkdtemp(prefix="snapsim-dir-", dir=tmp)], "is a directory"),
]
for args, needle in bad_cases:
    out = os.path.join(tmp, "bad.json")
    if os.path.exists(out):
        os.remove(out)
    r = run(*args, "--json", out) if args[0] == "run" else run(*args)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    check(f"bad input {' '.join(args[1:])!r} exits 2", r.returncode == 2, f"rc={r.returncode}")
    check(f"bad input {' '.join(args[1:])!r} says one line naming it",
          len(lines) == 1 and needle in lines[0], r.stderr)
    check(f"bad input {' '.join(args[1:])!r} writes no results file", not os.path.exists(out))

# --fail-on gates CI: 1 when a listed verdict was found, 0 otherwise.
r = run("run", "invoice-flatfile", "--quiesce", "none",
        "--fail-on", "torn_transaction,invariant_violation,corrupt,unrecoverable")
check("--fail-on with failures exits 1", r.returncode == 1, f"rc={r.returncode}")
r = run("run", "invoice-flatfile", "--quiesce", "app",
        "--fail-on", "torn_transaction,invariant_violation,corrupt,unrecoverable")
check("--fail-on without failures exits 0", r.returncode == 0, f"rc={r.returncode}")

# --schedules all enumerates every order of 2 clients x 2 invoices.
out = os.path.join(tmp, "all.json")
r = run("run", "invoice-flatfile", "-p", "invoices=2", "--schedules", "all", "--quiesce", "app", "--json", out)
doc = json.load(open(out))
check("--schedules all runs 6 interleavings", doc["runs"][0]["schedules_run"] == 6, doc["runs"][0]["schedules_run"])

# SQLite workloads through the binary.
def level_runs(args, name):
    out = os.path.join(tmp, name + ".json")
    r = run("run", *args, "--json", out)
    check(f"{name} exits 0", r.returncode == 0, r.stderr)
    return by_level(json.load(open(out)))

worse_than_lost = ("torn_transaction", "invariant_violation", "corrupt", "unrecoverable")
lv = level_runs(["invoice-sqlite", "-p", "journal_mode=delete", "-p", "synchronous=full",
                 "--quiesce", "none", "--schedules", "2"], "sqlite-delete-full")
v = lv["none"]["verdicts"]
check("invoice-sqlite delete/full: nothing worse than lost_committed under none",
      sum(v[k] for k in worse_than_lost) == 0, json.dumps(v))
check("invoice-sqlite delete/full: has recovered points", v["recovered"] > 0, json.dumps(v))
for seed in ("1", "2"):
    lv = level_runs(["invoice-sqlite", "-p", "synchronous=extra", "--seed", seed], f"sqlite-extra-{seed}")
    check(f"invoice-sqlite synchronous=extra seed {seed}: no failure at any level",
          all(failures(r) == 0 for r in lv.values()))
# A document written after the commit: nojournal writes it back in any
# order, so an invoice can survive without its document.
lv = level_runs(["invoice-sqlite-document", "--quiesce", "none,app", "--fs", "nojournal"], "document")
check("invoice-sqlite-document fails under none on nojournal", failures(lv["none"]) > 0)
check("invoice-sqlite-document has no failure under app", failures(lv["app"]) == 0)
atomic = level_runs(["invoice-multidisk", "-p", "group=atomic", "--quiesce", "none"], "md-atomic")
seq = level_runs(["invoice-multidisk", "-p", "group=sequential", "--quiesce", "none"], "md-seq")
check("invoice-multidisk group=atomic has no failure", failures(atomic["none"]) == 0)
check("invoice-multidisk group=sequential fails", failures(seq["none"]) > 0)
a, b = os.path.join(tmp, "sa.json"), os.path.join(tmp, "sb.json")
run("run", "invoice-sqlite", "-p", "journal_mode=wal", "--seed", "9", "--json", a)
run("run", "invoice-sqlite", "-p", "journal_mode=wal", "--seed", "9", "--json", b)
check("invoice-sqlite: same seed gives byte-identical JSON", open(a, "rb").read() == open(b, "rb").read())
r = run("run", "invoice-sqlite", "-p", "device=teleport")
check("bad device flag exits 2 naming it", r.returncode == 2 and "teleport" in r.stderr, r.stderr)

# --fs: the guest file system's mode is in the JSON and the replay command,
# and the replay on that mode reproduces the verdict.
for fs in ("ext4", "nojournal"):
    lv = level_runs(["invoice-sqlite", "-p", "journal_mode=delete", "-p", "synchronous=off", "--fs", fs,
                     "--quiesce", "none"], f"fs-{fs}")
    run0 = lv["none"]
    check(f"--fs {fs} is in the JSON", run0.get("fs") == fs, run0.get("fs"))
    ff = run0["first_failure"]
    check(f"--fs {fs}: synchronous=off fails", ff is not None)
    if ff:
        check(f"--fs {fs} is in the replay command", f"--fs {fs}" in ff["replay"], ff["replay"])
        rep = run(*ff["replay"].split()[1:])
        check(f"--fs {fs} replay shows the same verdict", f"): {ff['verdict']}" in rep.stdout, rep.stdout[:400])

# A script names its file system in [fs]; --fs overrides it; a bad mode is
# one line naming the key.
bank = open(os.path.join(os.path.dirname(SCHEMA), "..", "examples", "bank-transfer.toml")).read()
fs_script = os.path.join(tmp, "bank-nojournal.toml")
open(fs_script, "w").write(bank + '\n[fs]\nmode = "nojournal"\ndata = "writeback"\ndisk_mb = 64\n')
lv = level_runs([fs_script, "--quiesce", "none"], "script-fs")
check("[fs] mode reaches the run", lv["none"].get("fs") == "nojournal" and lv["none"].get("fs_data") == "writeback",
      (lv["none"].get("fs"), lv["none"].get("fs_data")))
lv = level_runs([fs_script, "--quiesce", "none", "--fs", "ext4", "--fs-data", "ordered"], "script-fs-override")
check("--fs overrides [fs]", lv["none"].get("fs") == "ext4" and lv["none"].get("fs_data") == "ordered", lv["none"].get("fs"))
bad_fs = os.path.join(tmp, "bank-badfs.toml")
open(bad_fs, "w").write(bank + '\n[fs]\nmode = "btrfs"\n')
r = run("run", bad_fs)
check("a bad [fs] mode exits 2 naming it", r.returncode == 2 and "btrfs" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
      r.stderr)
r = run("run", fs_script, "-p", "fs.mode=ext4", "--quiesce", "none", "--json", os.path.join(tmp, "fsp.json"))
check("-p fs.mode overrides the script", json.load(open(os.path.join(tmp, "fsp.json")))["runs"][0]["fs"] == "ext4")

# replay --export writes the restored files; the sqlite3 shell opens them.
lv = level_runs(["invoice-sqlite", "-p", "journal_mode=delete", "-p", "synchronous=off",
                 "--quiesce", "none", "--seed", "1"], "sqlite-off")
ff = lv["none"]["first_failure"]
check("synchronous=off has a first failure to replay", ff is not None)
if ff:
    exp = os.path.join(tmp, "export")
    rep = run(*ff["replay"].split()[1:], "--export", exp)
    check("replay --export exits 0", rep.returncode == 0, rep.stderr)
    db = os.path.join(exp, "disk0", "invoice.db")
    check("replay --export wrote the database", os.path.exists(db))
    if shutil.which("sqlite3") and os.path.exists(db):
        q = subprocess.run(["sqlite3", db, "PRAGMA integrity_check; SELECT COUNT(*) FROM invoice;"],
                           capture_output=True, text=True)
        shown = (q.stdout + q.stderr).strip()
        check("the sqlite3 shell opens the exported database", len(shown) > 0, shown)

# The conclusions: one line per row first, named by the parameters that
# distinguish it (those given), then the details.
r = run("run", "invoice-sqlite", "-p", "synchronous=off")
lines = r.stdout.splitlines()
summary = [ln for ln in lines if ln.startswith("  invoice-sqlite") and ": " in ln]
check("the conclusion names a row by its given parameters only",
      len(summary) >= 1 and summary[0].startswith("  invoice-sqlite synchronous=off: ") and
      "page_size" not in summary[0], summary[:2])
first_detail = next((i for i, ln in enumerate(lines) if ln == "details:"), -1)
last_summary = max((i for i, ln in enumerate(lines) if ln.startswith("  invoice-") and (": safe" in ln or ": not" in ln)),
                   default=-1)
check("every summary line comes before the details, which hold the replay",
      0 <= last_summary < first_detail and any("replay: snapsim replay" in ln for ln in lines[first_detail:]),
      r.stdout[-800:])

# Progress when stderr is not a terminal (a CI log): --progress prints a
# plain line every 2 s with points judged, the rate and the time left.
r = run("run", "invoice-sqlite", "-p", "invoices=600", "--quiesce", "none", "--jobs", "1", "--progress")
prog = [ln for ln in r.stderr.splitlines() if ln.startswith("progress: ")]
check("--progress prints plain lines with points judged, rate and time left",
      r.returncode in (0, 1) and len(prog) >= 1 and
      all(re.match(r"progress: invoice-sqlite: schedule 1/1, \d+ points judged, \d+/s, about \d+ (s|min) left$", ln)
          for ln in prog) and "\r" not in r.stderr, r.stderr[-500:])

# --max-memory: a run that would grow past the limit stops with one line
# naming it and what the run holds, exit 2, no results file.
mm = os.path.join(tmp, "mm.json")
r = run("run", "invoice-sqlite", "-p", "invoices=300", "--quiesce", "none", "--max-memory", "40m", "--json", mm)
# (A slow build may print progress lines first: a log gets one every 10 s.)
err = [ln for ln in r.stderr.strip().splitlines() if not ln.startswith("progress: ")]
check("--max-memory stops a run that would exceed it, in one line, exit 2, no results file",
      r.returncode == 2 and len(err) == 1 and "--max-memory 40 MiB" in err[0] and "point(s)" in err[0] and
      not os.path.exists(mm), r.stderr[-400:])
# 64 clients x 3000 transactions: stopped early with what the whole run would take.
big = os.path.join(tmp, "t64.toml")
with open(big, "w") as f:
    f.write('name = "t64"\n[setup]\nsql = "CREATE TABLE a(id INTEGER PRIMARY KEY, b INTEGER NOT NULL); '
            'INSERT INTO a VALUES (1, 100), (2, 100);"\n[clients]\ncount = 64\ntransactions = 3000\n'
            '[[transaction]]\nname = "t"\nparams = { x = "int(1,5)" }\n'
            'steps = ["UPDATE a SET b = b - :x WHERE id = 1", "UPDATE a SET b = b + :x WHERE id = 2"]\n'
            '[[invariant]]\nname = "conserved"\nsql = "SELECT SUM(b) = 200 FROM a"\n')
r = run("run", big, "--quiesce", "none", "--max-memory", "200m")
check("64 clients x 3000 transactions stops at --max-memory with the size the whole run would take",
      r.returncode == 2 and re.search(r"of 192000 planned: the whole run would hold about \d+ points and \d+ MiB",
                                      r.stderr) is not None, r.stderr[-400:])
r = run("run", "invoice-sqlite", "--max-memory", "3x")
check("a bad --max-memory is one line and exit 2", r.returncode == 2 and "--max-memory must be" in r.stderr, r.stderr)

# --junit and --db, cross-checked with --json.
import xml.etree.ElementTree as ET
j, x, d = (os.path.join(tmp, n) for n in ("rep.json", "rep.xml", "rep.db"))
r = run("run", "invoice-flatfile", "invoice-flatfile-journaled", "--json", j, "--junit", x, "--db", d)
check("run with --json --junit --db exits 0", r.returncode == 0, r.stderr)
doc = json.load(open(j))
root = ET.parse(x).getroot()
cases = root.findall(".//testcase")
check("JUnit has one test case per run", len(cases) == len(doc["runs"]) == 6)
failing = [c for c in cases if c.find("failure") is not None]
check("JUnit fails exactly the runs with failures",
      len(failing) == sum(1 for run_ in doc["runs"] if failures(run_) > 0))
check("JUnit failure carries the replay command",
      all("snapsim replay" in (c.find("failure").text or "") for c in failing))
check("JUnit totals agree", root.get("tests") == "6" and root.get("failures") == str(len(failing)))
con = sqlite3.connect(d)
rows = con.execute("SELECT workload, quiesce, points, consistent + recovered + lost_committed + "
                   "torn_transaction + invariant_violation + corrupt + unrecoverable FROM run").fetchall()
check("results db has one row per run", len(rows) == 6)
check("results db verdict counts add up to points", all(p == t for _, _, p, t in rows))
per_run = con.execute("SELECT r.points, COUNT(p.point) FROM run r JOIN point p ON p.run_id = r.id "
                      "GROUP BY r.id").fetchall()
check("results db has every point of every run", all(a == b for a, b in per_run) and len(per_run) == 6)
jpts = {(rr["workload"], rr["quiesce"]): rr["points"] for rr in doc["runs"]}
check("results db agrees with the JSON",
      all(jpts[(w, q)] == p for w, q, p, _ in rows))
check("results db records acked/issued per point",
      con.execute("SELECT COUNT(*) FROM point WHERE acked > issued").fetchone()[0] == 0 and
      con.execute("SELECT MAX(issued) FROM point").fetchone()[0] > 0)
summary = con.execute("SELECT workload, quiesce, result, failures, points FROM summary").fetchall()
check("results db summary view: one row per configuration and level, as the JSON",
      sorted(summary) == sorted((rr["workload"], rr["quiesce"], "FAIL" if failures(rr) else "ok", failures(rr),
                                 rr["points"]) for rr in doc["runs"]), summary)
check("results db summary has both results", {r[2] for r in summary} == {"ok", "FAIL"}, summary)
con.close()
q = subprocess.run(["sqlite3", d, "SELECT verdict, COUNT(*) FROM point GROUP BY verdict ORDER BY 1"],
                   capture_output=True, text=True)
check("results db is queryable with the sqlite3 shell", q.returncode == 0 and "consistent|" in q.stdout, q.stderr)

# --shrink finds a smaller failing configuration with a replay command.
r = run("run", "invoice-flatfile", "-p", "clients=3", "-p", "invoices=3", "--quiesce", "none", "--shrink")
m = re.search(r"shrunk invoice-flatfile to clients=(\d+) invoices=(\d+) lines=(\d+): still fails", r.stdout)
check("--shrink reports a smaller failing configuration",
      m is not None and int(m.group(1)) * int(m.group(2)) < 9, r.stdout[-600:])
rline = [l.strip() for l in r.stdout.splitlines() if l.strip().startswith("replay: snapsim replay") and "clients=1" in l]
check("--shrink prints the replay of the shrunk configuration", len(rline) > 0)
if rline:
    rep = run(*rline[-1].split()[2:])
    check("the shrunk replay reproduces a failure", rep.returncode == 0 and "invariant_violation" in rep.stdout
          or "torn_transaction" in rep.stdout or "corrupt" in rep.stdout, rep.stdout[:300])
# A short run prints no progress when stderr is not a terminal (a log gets
# a line only every 10 s of a long run, or with --progress).
r = run("run", "invoice-flatfile", "--schedules", "20")
check("no progress output from a short run when stderr is not a terminal", r.stderr == "", r.stderr[:200])

# Scripts through the binary, and their errors.
r = run("run", os.path.join(os.path.dirname(SCHEMA), "..", "examples", "bank-transfer.toml"), "--quiesce", "app")
check("the example script runs through the binary", r.returncode == 0, r.stderr)
bad = os.path.join(tmp, "bad.toml")
open(bad, "w").write('name = "x"\n[clients]\ncount = "two"\n')
r = run("run", bad)
check("a bad script exits 2 with file:line", r.returncode == 2 and "bad.toml:3" in r.stderr, r.stderr)
r = run("run", os.path.join(tmp, "missing.toml"))
check("a missing script exits 2", r.returncode == 2 and "missing.toml" in r.stderr, r.stderr)

# The crash model through the binary: power loss, level none only, a schema-valid
# document that says so, identical for 1 and 2 workers, and a replay that
# reproduces the first failure and says which writes persisted.
crash_docs = []
for jobs in ("1", "2"):
    out = os.path.join(tmp, f"crash{jobs}.json")
    r = run("run", "invoice-sqlite", "-p", "synchronous=off", "--model", "crash", "--jobs", jobs,
            "--json", out)
    check(f"--model crash runs (jobs {jobs})", r.returncode == 0, r.stderr)
    crash_docs.append(open(out).read())
check("--model crash: --jobs 1 and 2 give identical JSON", crash_docs[0] == crash_docs[1])
doc = json.loads(crash_docs[0])
check("--model crash JSON validates against the schema", validate(doc) is None, validate(doc))
check("--model crash runs level none only, model crash",
      [(x["quiesce"], x["model"]) for x in doc["runs"]] == [("none", "crash")], str(doc["runs"])[:300])
ff = doc["runs"][0]["first_failure"]
check("synchronous=off does not survive power loss", ff is not None)
if ff:
    check("the crash replay command carries --model crash", "--model crash" in ff["replay"], ff["replay"])
    rep = run(*ff["replay"].split()[1:])
    check("the crash replay reproduces the verdict",
          rep.returncode == 0 and f": {ff['verdict']}" in rep.stdout.splitlines()[0], rep.stdout[:400])
    check("the crash replay says which writes persisted", "power lost on disk 0" in rep.stdout, rep.stdout[:600])
r = run("run", "invoice-sqlite", "-p", "synchronous=extra", "--model", "crash")
check("DELETE+EXTRA survives power loss (matrix says so)",
      r.returncode == 0 and "survives power loss" in r.stdout and "[crash]" in r.stdout, r.stdout[-600:])

# Scripts that outgrow their limits: exit 2, one line naming the limit to raise.
many = os.path.join(tmp, "many-files.toml")
open(many, "w").write('''name = "many-files"
[setup]
sql = "CREATE TABLE t(id INTEGER PRIMARY KEY);"
[clients]
count = 2
transactions = 40
[[transaction]]
name = "add"
steps = [ { sql = "INSERT INTO t DEFAULT VALUES RETURNING id", capture = "id" } ]
[[file]]
name = "doc-{id}.txt"
content = "doc {id}"
''')
r = run("run", many, "--quiesce", "none")
lines = [l for l in r.stderr.splitlines() if l.strip()]
check("a script creating too many files exits 2 naming [limits] max_files",
      r.returncode == 2 and len(lines) == 1 and "max_files" in lines[0]
      and lines[0].count("many-files:") == 1, r.stderr)
rb = os.path.join(tmp, "rollback-inside.toml")
open(rb, "w").write('''name = "rollback-inside"
[setup]
sql = "CREATE TABLE t(x);"
[clients]
count = 1
transactions = 1
[[transaction]]
name = "v"
steps = [ "INSERT INTO t VALUES (1)", "ROLLBACK" ]
''')
r = run("run", rb, "--quiesce", "none")
check("a step that ends its own transaction exits 2 saying so",
      r.returncode == 2 and "ended the transaction" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
      r.stderr)
r = run("run", many, "--quiesce", "none", "-p", "limits.max_files=128")
check("... and runs once max_files is raised", r.returncode == 0, r.stderr)
r = run("run", "invoice-sqlite", "--quiesce", "none", "--pool-blocks", "700", "--writeback", "eager",
        "-p", "invoices=20")
check("a full pool under SQLite says why and which flag to raise",
      r.returncode == 2 and "database or disk is full (write needs" in r.stderr
      and "--pool-blocks" in r.stderr, r.stderr)

# --jobs: identical JSON and results databases for 1 and 2 workers (big
# enough that the workers are forked: a small batch is inspected in place).
outs = {}
for jobs in ("1", "2"):
    jj, dd = os.path.join(tmp, f"jobs{jobs}.json"), os.path.join(tmp, f"jobs{jobs}.db")
    r = run("run", "invoice-sqlite", "invoice-flatfile", "-p", "invoices=100", "--schedules", "2", "--jobs", jobs,
            "--json", jj, "--db", dd)
    check(f"--jobs {jobs} exits 0", r.returncode == 0, r.stderr)
    outs[jobs] = (open(jj, "rb").read(), open(dd, "rb").read())
check("--jobs 1 and --jobs 2 give byte-identical JSON", outs["1"][0] == outs["2"][0])
check("--jobs 1 and --jobs 2 give byte-identical results databases", outs["1"][1] == outs["2"][1])

# Shards: the union of 1/3, 2/3, 3/3 merged equals the unsharded run.
whole = os.path.join(tmp, "whole.db")
run("run", "invoice-sqlite", "-p", "journal_mode=wal", "--schedules", "2", "--db", whole)
parts = []
for k in (1, 2, 3):
    part = os.path.join(tmp, f"shard{k}.db")
    r = run("run", "invoice-sqlite", "-p", "journal_mode=wal", "--schedules", "2", "--shard", f"{k}/3", "--db", part)
    check(f"shard {k}/3 exits 0", r.returncode == 0, r.stderr)
    parts.append(part)
merged = os.path.join(tmp, "merged.db")
mj = os.path.join(tmp, "merged.json")
r = run("merge", merged, *parts, "--json", mj)
check("merge exits 0", r.returncode == 0, r.stderr)
def rows(path, table):
    con = sqlite3.connect(path)
    out = con.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
    con.close()
    return out
check("merged runs equal the unsharded runs", rows(merged, "run") == rows(whole, "run"))
check("merged points equal the unsharded points", rows(merged, "point") == rows(whole, "point"))
shard_points = [rows(p, "run")[0][11] for p in parts]
check("each shard judged about a third", all(0 < n < rows(whole, "run")[0][11] for n in shard_points))
# A malformed or foreign shard file is bad input (exit 2, one line), never a crash.
import shutil  # noqa: E402
data = open(parts[0], "rb").read()
trunc = os.path.join(tmp, "truncated.db")
open(trunc, "wb").write(data[: len(data) // 3])
r = run("merge", os.path.join(tmp, "t.db"), trunc)
check("merging a truncated shard file is exit 2 with one line",
      r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "truncated.db" in r.stderr, r.stderr)
for column, value in (("model", "meteor"), ("first_failure_verdict", "bogus"), ("trace_hash", "zz"),
                      ("quiesce", "sometimes")):
    tampered = os.path.join(tmp, f"tampered-{column}.db")
    shutil.copy(parts[0], tampered)
    con = sqlite3.connect(tampered)
    con.execute(f"UPDATE run SET {column} = ?", (value,))
    con.execute("UPDATE run SET first_failure_point = 0 WHERE first_failure_verdict IS NOT NULL")
    con.commit()
    con.close()
    r = run("merge", os.path.join(tmp, "t.db"), tampered)
    check(f"merging a shard with a tampered {column} is exit 2 naming it",
          r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and value in r.stderr, r.stderr)
tampered = os.path.join(tmp, "tampered-point.db")
shutil.copy(parts[0], tampered)
con = sqlite3.connect(tampered)
con.execute("UPDATE point SET verdict = 'bogus' WHERE point = (SELECT MIN(point) FROM point)")
con.commit()
con.close()
r = run("merge", os.path.join(tmp, "t.db"), tampered)
check("merging a shard with a tampered point verdict is exit 2", r.returncode == 2 and "verdict" in r.stderr, r.stderr)
foreign = os.path.join(tmp, "foreign.db")
con = sqlite3.connect(foreign)
con.execute("CREATE TABLE t(x)")
con.commit()
con.close()
r = run("merge", os.path.join(tmp, "t.db"), foreign)
check("merging a foreign SQLite file is exit 2", r.returncode == 2 and "not a snapsim results database" in r.stderr,
      r.stderr)
r = run("merge", os.path.join(tmp, "dup.db"), parts[0], parts[0])
check("merging overlapping shards is exit 2", r.returncode == 2 and "overlap" in r.stderr, r.stderr)
env = dict(os.environ, JOB_COMPLETION_INDEX="2")
r = subprocess.run([SNAPSIM, "run", "invoice-flatfile", "--shard-count", "3", "--json", os.path.join(tmp, "k8s.json")],
                   capture_output=True, text=True, env=env)
check("JOB_COMPLETION_INDEX with --shard-count runs shard 3/3",
      r.returncode == 0 and json.load(open(os.path.join(tmp, "k8s.json")))["runs"][0]["shard"] == "3/3", r.stderr)
env = dict(os.environ, SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="2")
r = subprocess.run([SNAPSIM, "run", "invoice-flatfile", "--json", os.path.join(tmp, "slurm.json")],
                   capture_output=True, text=True, env=env)
check("SLURM_ARRAY_TASK_ID/COUNT select shard 2/2",
      r.returncode == 0 and json.load(open(os.path.join(tmp, "slurm.json")))["runs"][0]["shard"] == "2/2", r.stderr)
for bad in ("0/3", "4/3", "x/3", "1/0", "3"):
    r = run("run", "invoice-flatfile", "--shard", bad)
    check(f"bad shard spec {bad!r} is exit 2 naming it", r.returncode == 2 and "--shard" in r.stderr, r.stderr)
env = dict(os.environ, JOB_COMPLETION_INDEX="0")
r = subprocess.run([SNAPSIM, "run", "invoice-flatfile"], capture_output=True, text=True, env=env)
check("JOB_COMPLETION_INDEX without --shard-count is exit 2", r.returncode == 2 and "--shard-count" in r.stderr)

# Model truth (issue: verdicts at every size).
# The final commit is checked: a snapshot right after it returns. DELETE+FULL
# has not made the journal's unlink durable; WAL+NORMAL has not synced the
# commit frame. Lazy writeback keeps both in the page cache.
for jm, sync in (("delete", "full"), ("wal", "normal")):
    out, db = os.path.join(tmp, f"final-{jm}.json"), os.path.join(tmp, f"final-{jm}.db")
    r = run("run", "invoice-sqlite", "-p", "clients=1", "-p", "invoices=1", "-p", f"journal_mode={jm}",
            "-p", f"synchronous={sync}", "--quiesce", "none", "--writeback", "lazy", "--json", out, "--db", db)
    doc = json.load(open(out))
    v = doc["runs"][0]["verdicts"]
    check(f"1x1 {jm}+{sync} lazy: the final commit can be lost", v["lost_committed"] > 0, json.dumps(v))
    con = sqlite3.connect(db)
    last = con.execute("SELECT acked, issued FROM point ORDER BY point DESC LIMIT 1").fetchone()
    con.close()
    check(f"1x1 {jm}+{sync}: the last point is after the acknowledgement", last == (1, 1), last)
r = run("run", "invoice-sqlite", "-p", "clients=1", "-p", "invoices=1", "-p", "synchronous=extra",
        "--quiesce", "none", "--writeback", "lazy", "--json", os.path.join(tmp, "final-extra.json"))
v = json.load(open(os.path.join(tmp, "final-extra.json")))["runs"][0]["verdicts"]
check("1x1 delete+extra lazy: nothing lost", failures({"verdicts": v}) == 0, json.dumps(v))
r = run("run", "invoice-sqlite", "--quiesce", "none", "--writeback", "lazy", "--shrink")
check("--shrink reaches 1x1 for a lost commit",
      re.search(r"shrunk invoice-sqlite to clients=1 invoices=1 .*lost_committed", r.stdout) is not None,
      r.stdout[-600:])

# Each schedule is its own world: one client, 4 schedules, 4 executions.
out = os.path.join(tmp, "worlds.json")
r = run("run", "invoice-sqlite", "-p", "clients=1", "--quiesce", "none", "--schedules", "4", "--json", out)
doc = json.load(open(out))
check("one client --schedules 4 runs 4 distinct traces", doc["runs"][0]["distinct_traces"] == 4,
      doc["runs"][0].get("distinct_traces"))
check("--schedules 4 JSON matches the schema", validate(doc) is None, validate(doc))
# One client with lazy writeback: the I/O never varies, and the run says so.
r = run("run", "invoice-sqlite", "-p", "clients=1", "--quiesce", "none", "--schedules", "3", "--writeback", "lazy")
check("repeated worlds are reported", "note: 3 schedules ran 1 distinct execution" in r.stdout, r.stdout[-400:])

# Power loss never builds a state ext4's data=ordered excludes: DELETE+FULL
# at 48 invoices, and two databases over ATTACH at 24, never corrupt.
for args, name in ((["invoice-sqlite", "-p", "invoices=48"], "delete+full x48"),
                   (["invoice-two-db", "-p", "invoices=24"], "two-db attach x24")):
    out, cdb = os.path.join(tmp, "crash-size.json"), os.path.join(tmp, "crash-size.db")
    r = run("run", *args, "--model", "crash", "--json", out, "--db", cdb)
    doc = json.load(open(out))
    con = sqlite3.connect(cdb)
    stored = json.loads(con.execute("SELECT crash_coverage FROM run").fetchone()[0])
    con.close()
    check(f"crash {name}: the results db keeps the crash coverage", stored == doc["runs"][0]["crash_coverage"],
          stored)
    v = doc["runs"][0]["verdicts"]
    check(f"crash {name}: nothing worse than lost_committed",
          v["torn_transaction"] + v["invariant_violation"] + v["corrupt"] + v["unrecoverable"] == 0, json.dumps(v))
    cov = doc["runs"][0].get("crash_coverage", {})
    check(f"crash {name}: coverage is reported", cov.get("points", 0) > 0 and cov.get("states_explored", 0) > 0, cov)
    check(f"crash {name}: JSON matches the schema", validate(doc) is None, validate(doc))

# Crash points after acknowledgements: a WAL+NORMAL run with few FLUSHes
# grows its crash images with its size, and a sampled point is a warning.
sizes = []
for n in ("4", "16"):
    out = os.path.join(tmp, f"walq{n}.json")
    r = run("run", "invoice-sqlite", "-p", "journal_mode=wal", "-p", "synchronous=normal", "-p", f"invoices={n}",
            "--model", "crash", "--writeback", "lazy", "--json", out)
    sizes.append(json.load(open(out))["runs"][0]["crash_coverage"]["points"])
check("WAL+NORMAL crash points grow with the workload", sizes[1] > 2 * sizes[0], sizes)
r = run("run", "invoice-sqlite", "-p", "journal_mode=wal", "-p", "synchronous=normal", "-p", "invoices=16",
        "--model", "crash")
check("a sampled crash point prints a warning", "warning:" in r.stdout and "sampled" in r.stdout, r.stdout[-600:])
r = run("run", "invoice-sqlite", "-p", "clients=1", "-p", "invoices=1", "-p", "journal_mode=wal", "-p", "synchronous=full",
        "--fs", "nojournal", "--model", "crash", "--crash-states", "4096", "--sector-size", "4096", "--writeback", "lazy")
check("an enumerated run says so", "every state enumerated" in r.stdout, r.stdout[-600:])

# JUnit follows --fail-on and carries the simulated run time.
junit = os.path.join(tmp, "gate.xml")
r = run("run", "invoice-sqlite", "--quiesce", "none", "--junit", junit, "--fail-on", "corrupt")
root = ET.parse(junit).getroot()
case = root.find(".//testcase")
check("JUnit: lost commits alone do not fail a --fail-on corrupt gate",
      case.find("failure") is None and root.get("failures") == "0", ET.tostring(case)[:300])
check("JUnit: test cases carry the simulated run time", float(case.get("time")) > 0, case.get("time"))
r = run("run", "invoice-sqlite", "--quiesce", "none", "--junit", junit, "--fail-on", "lost_committed")
case = ET.parse(junit).getroot().find(".//testcase")
check("JUnit: a --fail-on lost_committed gate fails with a lost commit",
      case.find("failure") is not None and case.find("failure").get("type") == "lost_committed")
r = run("run", "invoice-sqlite", "--quiesce", "none", "--junit", junit)
case = ET.parse(junit).getroot().find(".//testcase")
check("JUnit: without --fail-on every failure verdict fails", case.find("failure") is not None)

# Every failed invariant is named.
out = os.path.join(tmp, "invs.json")
r = run("run", "invoice-sqlite-document", "-p", "document=after", "--quiesce", "fsfreeze", "--json", out)
ff = json.load(open(out))["runs"][0]["first_failure"]
check("every failed invariant is named in the detail", ff and "more)" not in ff["detail"] and
      (ff["verdict"] != "invariant_violation" or ff["detail"].count("invariant '") >= 1), ff)
multi = None
for seed in range(1, 12):
    r = run("run", "invoice-flatfile", "--quiesce", "fsfreeze", "--seed", str(seed), "--json", out)
    ff = json.load(open(out))["runs"][0]["first_failure"]
    if ff and "; " in ff["detail"]:
        multi = ff
        break
check("a state breaking several invariants lists them all", multi is not None and "more)" not in multi["detail"])
if multi:
    rep = run(*multi["replay"].split()[1:])
    named = [l for l in rep.stdout.splitlines() if l.strip().startswith("invariant failed:")]
    check("replay names each failed invariant on its own line", len(named) == multi["detail"].count("; ") + 1,
          rep.stdout[:800])

# Matrix rows name their parameters.
r = run("run", "invoice-two-db", "-p", "attach=false", "--quiesce", "none")
check("a matrix row names its parameters", "invoice-two-db attach=false" in r.stdout, r.stdout[:300])

# --- per-key invariants through the real binary: the same verdicts as the
# same check written over the whole table, on a run whose invariant fails and
# recovers as it goes (orders committed before their items), and a wrong
# declaration is one line and exit 2 with no results file.
ORDERS = """name = "orders"
[sqlite]
journal_mode = "delete"
synchronous = "off"
[setup]
sql = "CREATE TABLE orders(id INTEGER PRIMARY KEY, total INTEGER NOT NULL); CREATE TABLE item(id INTEGER PRIMARY KEY, ord INTEGER, amount INTEGER NOT NULL);"
[clients]
count = 2
transactions = 10
[[transaction]]
name = "order"
params = { amt = "int(1,9)" }
steps = [{ sql = "INSERT INTO orders(total) VALUES (:amt) RETURNING id", capture = "o" }]
[[transaction]]
name = "items"
steps = ["INSERT INTO item(ord, amount) SELECT id, total FROM orders WHERE id NOT IN (SELECT ord FROM item)"]
[[invariant]]
name = "order total equals its items"
INVARIANT
"""
keyed = ORDERS.replace("INVARIANT", 'per = "orders.id"\nalso = ["item.ord"]\n'
                       'check = "total = (SELECT COALESCE(SUM(amount), 0) FROM item WHERE item.ord = orders.id)"')
whole = ORDERS.replace("INVARIANT", 'sql = "SELECT COUNT(*) = 0 FROM orders WHERE total != '
                       '(SELECT COALESCE(SUM(amount), 0) FROM item WHERE item.ord = orders.id)"')
docs = {}
for name, text in (("keyed", keyed), ("whole", whole)):
    path = os.path.join(tmp, f"orders-{name}.toml")
    open(path, "w").write(text)
    out = os.path.join(tmp, f"orders-{name}.json")
    r = run("run", path, "--json", out)
    check(f"orders with a {name} invariant exits 0", r.returncode == 0, r.stderr)
    docs[name] = json.load(open(out)) if r.returncode == 0 else None
if docs["keyed"] and docs["whole"]:
    def verdicts(doc):
        return [(x["quiesce"], x["verdicts"], (x["first_failure"] or {}).get("detail")) for x in doc["runs"]]
    check("a per-key invariant gives the verdicts of the whole-table check",
          verdicts(docs["keyed"]) == verdicts(docs["whole"]), json.dumps(verdicts(docs["keyed"]))[:400])
    check("the orders run has invariant violations to find",
          by_level(docs["keyed"])["none"]["verdicts"]["invariant_violation"] > 0)
    check("the per-key JSON validates", validate(docs["keyed"]) is None, validate(docs["keyed"]))
bad = keyed.replace('also = ["item.ord"]\n', "")
path = os.path.join(tmp, "orders-bad.toml")
open(path, "w").write(bad)
out = os.path.join(tmp, "orders-bad.json")
r = run("run", path, "--json", out)
check("a per-key check reading an undeclared table exits 2 with one line naming it",
      r.returncode == 2 and "reads table 'item'" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr)
check("and writes no results file", not os.path.exists(out))

# --- --version: version, git revision, SQLite and libfuse versions
import re  # noqa: E402
v = run("--version")
check("--version prints one line with the version, the git revision, SQLite's and libfuse's",
      v.returncode == 0 and re.fullmatch(r"snapsim \d+\.\d+\.\d+ \(git ([0-9a-f]+|unknown), SQLite 3\.\d+\.\d+, "
                                         r"libfuse 3\.\d+\.\d+\)\n", v.stdout) is not None,
      v.stdout + v.stderr)
finish()
