#!/usr/bin/env python3
"""Process workloads through the real binary: real programs on a FUSE mount
of the simulated disk, recorded, replayed and judged by their own check.

usage: process_test.py SNAPSIM EXAMPLES_DIR
Needs /dev/fuse (CI has it): without it every run fails with exit status 2
and a message naming /dev/fuse, which this test reports as failures.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, failures, finish, level  # noqa: E402
from testlib import run_json as run_snapsim_json  # noqa: E402

SNAPSIM, EXAMPLES = sys.argv[1], sys.argv[2]
RENAME = os.path.join(EXAMPLES, "process", "rename-durability", "rename-durability.toml")
RENAME_DIR = os.path.join(EXAMPLES, "process", "rename-durability", "rename-durability-fsync-dir.toml")
SQLITE3 = os.path.join(EXAMPLES, "process", "sqlite3-invoice.toml")


def run(*args, timeout=600):
    return subprocess.run([SNAPSIM, *args], capture_output=True, text=True, errors="replace", timeout=timeout)








def run_json(*args):
    return run_snapsim_json(SNAPSIM, *args)


def bad_input(name, args, needle, files=None):
    """Runs a mistake: exit 2, one line on stderr naming the problem, no results file."""
    with tempfile.TemporaryDirectory() as tmp:
        for fname, content in (files or {}).items():
            with open(os.path.join(tmp, fname), "w") as f:
                f.write(content)
        out = os.path.join(tmp, "out.json")
        p = run(*[a.replace("TMP", tmp) for a in args], "--json", out)
        lines = p.stderr.strip().splitlines()
        check(f"{name}: exit 2", p.returncode == 2, f"rc={p.returncode} stderr={p.stderr[-300:]}")
        check(f"{name}: one line naming the problem", len(lines) == 1 and needle in lines[0], p.stderr[-300:])
        check(f"{name}: no results file", not os.path.exists(out))


# --- rename durability: what a FUSE tool that applies renames to the host cannot show
p, doc, _ = run_json("run", RENAME, "--quiesce", "none,fsfreeze,app")
check("rename-durability runs", doc is not None, p.stderr[-400:])
if doc:
    none = level(doc, "none")
    check("without a directory fsync, acknowledged saves are lost at `none`", none["verdicts"]["lost_committed"] > 0,
          none["verdicts"])
    check("the first failure is a lost save", (none["first_failure"] or {}).get("verdict") == "lost_committed")
    check("`app` is clean", failures(level(doc, "app")) == 0, level(doc, "app")["verdicts"])
    check("the run names its file system", none["fs"] == "ext4")
    replay = none["first_failure"]["replay"].split()
    rp = run(*replay[1:])
    check("the first failure's replay command reproduces it", rp.returncode == 0 and "lost_committed" in rp.stdout,
          rp.stdout[-300:] + rp.stderr[-300:])
p, doc, _ = run_json("run", RENAME_DIR, "--quiesce", "none")
check("rename-durability-fsync-dir runs", doc is not None, p.stderr[-400:])
if doc:
    none = level(doc, "none")
    check("with the directory fsynced, no save is lost at `none` (ext4)", failures(none) == 0, none["verdicts"])
    check("and every point was judged", none["points"] > 20, none["points"])

# --- a saved recording: explored again, byte for byte; any configuration
with tempfile.TemporaryDirectory() as tmp:
    trace = os.path.join(tmp, "rename.trace")
    p1, doc1, text1 = run_json("run", RENAME, "--quiesce", "none,fsfreeze", "--save-trace", trace)
    check("--save-trace writes the recording", os.path.exists(trace) and doc1 is not None, p1.stderr[-300:])
    if doc1:
        check("replays of a saved run name the trace", level(doc1, "none")["first_failure"]["replay"].count(trace) == 1,
              level(doc1, "none")["first_failure"])
        rp = run(*level(doc1, "none")["first_failure"]["replay"].split()[1:])
        check("a saved run's replay command reproduces its first failure", rp.returncode == 0 and
              "lost_committed" in rp.stdout, rp.stdout[-300:] + rp.stderr[-300:])
    p2, doc2, text2 = run_json("run", trace, "--quiesce", "none,fsfreeze")
    p3, doc3, text3 = run_json("run", trace, "--quiesce", "none,fsfreeze", "--jobs", "2")
    check("a trace explores again", doc2 is not None, p2.stderr[-300:])
    if doc1 and doc2:
        check("the same recording gives the same verdicts", [r["verdicts"] for r in doc1["runs"]] ==
              [r["verdicts"] for r in doc2["runs"]])
    check("the same trace and seed give byte-identical results (--jobs 1 and 2)", text2 is not None and text2 == text3)
    p4, doc4, _ = run_json("run", trace, "--quiesce", "none", "--fs", "nojournal", "--writeback", "lazy",
                           "--seed", "9")
    check("one recording serves another file system, writeback and seed", doc4 is not None and
          level(doc4, "none")["fs"] == "nojournal", p4.stderr[-300:])
    p5, doc5, _ = run_json("run", trace, "--model", "crash")
    check("the crash model explores a recording", doc5 is not None and doc5["runs"][0]["model"] == "crash" and
          doc5["runs"][0]["points"] > 0, p5.stderr[-300:])
    shown = run("trace", trace)
    check("snapsim trace prints the recording", shown.returncode == 0 and "txn-begin client 0" in shown.stdout
          and " rename " in shown.stdout, shown.stderr[-200:])
    check("a trace is small", os.path.getsize(trace) < 64 * 1024, os.path.getsize(trace))
    export = os.path.join(tmp, "export")
    ex = run("replay", trace, "--quiesce", "none", "--point", "3", "--export", export)
    check("replay --export writes a recorded image", ex.returncode == 0 and
          os.path.exists(os.path.join(export, "disk0", "doc.txt")), ex.stdout[-300:] + ex.stderr[-300:])
    bad_input("-p on a trace", ["run", trace, "-p", "clients=3"], "parameters are fixed")
    with open(os.path.join(tmp, "junk.trace"), "wb") as f:
        f.write(b"not a trace at all, just some bytes")
    bad_input("a file that is not a trace", ["run", os.path.join(tmp, "junk.trace")], "not a usable snapsim trace")
    with open(trace, "rb") as f:
        head = f.read()
    with open(os.path.join(tmp, "cut.trace"), "wb") as f:
        f.write(head[: len(head) // 2])
    bad_input("a truncated trace", ["run", os.path.join(tmp, "cut.trace")], "not a usable snapsim trace")

# --- the sqlite3 shell against the in-process invoice application
COMBOS = [(jm, sync) for jm in ("delete", "truncate", "persist", "memory", "wal", "off")
          for sync in ("off", "normal", "full", "extra")]
for jm, sync in COMBOS:
    _, proc, _ = run_json("run", SQLITE3, "-p", f"journal_mode={jm}", "-p", f"synchronous={sync}", "--quiesce", "none")
    _, inproc, _ = run_json("run", "invoice-sqlite", "-p", f"journal_mode={jm}", "-p", f"synchronous={sync}",
                            "-p", "clients=2", "-p", "invoices=2", "--quiesce", "none")
    if proc is None or inproc is None:
        check(f"sqlite3-invoice {jm}/{sync} runs", False)
        continue
    a, b = proc["runs"][0]["verdicts"], inproc["runs"][0]["verdicts"]
    worse = ("torn_transaction", "invariant_violation", "corrupt", "unrecoverable")
    check(f"sqlite3 shell and in-process agree on lost commits ({jm}/{sync})",
          (a["lost_committed"] > 0) == (b["lost_committed"] > 0), f"{a} vs {b}")
    check(f"sqlite3 shell and in-process agree on corruption ({jm}/{sync})",
          (sum(a[k] for k in worse) > 0) == (sum(b[k] for k in worse) > 0), f"{a} vs {b}")

# --- a long-running server: ready polled, kept open files, stopped at the end
SERVICE = os.path.join(EXAMPLES, "process", "order-service.toml")
p, doc, _ = run_json("run", SERVICE, "--quiesce", "none,app")
check("a server workload runs", doc is not None, p.stderr[-400:])
if doc:
    check("a service that fsyncs before answering loses no order", failures(level(doc, "none")) == 0 and
          level(doc, "none")["points"] > 10, level(doc, "none"))
p, doc, _ = run_json("run", SERVICE, "-p", "sync=none", "--quiesce", "none")
check("a var changes the program (-p sync=none)", doc is not None and doc["runs"][0]["params"]["sync"] == "none",
      p.stderr[-300:])
if doc:
    check("a service that answers before fsync loses acknowledged orders", level(doc, "none")["verdicts"]
          ["lost_committed"] > 0, level(doc, "none")["verdicts"])

# --- every results writer and sharding work for a process workload
with tempfile.TemporaryDirectory() as tmp:
    db, junit, html = (os.path.join(tmp, n) for n in ("r.db", "r.xml", "r.html"))
    p = run("run", RENAME, "--quiesce", "none", "--db", db, "--junit", junit, "--html", html)
    check("--db, --junit and --html write for a process workload", p.returncode == 0 and
          all(os.path.getsize(f) > 0 for f in (db, junit, html)), p.stderr[-300:])
    shards = [os.path.join(tmp, f"s{k}.db") for k in (1, 2)]
    for k, out in enumerate(shards, 1):
        run("run", RENAME, "--quiesce", "none", "--shard", f"{k}/2", "--db", out)
    merged = os.path.join(tmp, "m.json")
    m = run("merge", os.path.join(tmp, "merged.db"), *shards, "--json", merged)
    _, whole, _ = run_json("run", RENAME, "--quiesce", "none")
    if m.returncode == 0 and whole:
        with open(merged) as f:
            mdoc = json.load(f)
        check("two shards merge to the whole run's verdicts", mdoc["runs"][0]["verdicts"] ==
              whole["runs"][0]["verdicts"], f"{mdoc['runs'][0]['verdicts']} vs {whole['runs'][0]['verdicts']}")
    else:
        check("two shards merge", False, m.stderr[-300:])

# --- a program run as another user on the mount (PostgreSQL runs as postgres)
if os.geteuid() == 0:
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        script = os.path.join(tmp, "user.toml")
        with open(script, "w") as f:
            f.write('name = "as-nobody"\n[process]\nuser = "nobody"\nsetup = "mkdir -m 700 data && echo 0 > data/n"\n'
                    '[clients]\ntransactions = 2\n[[transaction]]\nrun = "test $(id -un) = nobody && '
                    'echo 1 > data/n && sync data/n"\n'
                    '[check]\nrun = "test $(id -un) = nobody && test -O data && cat data/n"\n')
        p, doc, _ = run_json("run", script, "--quiesce", "none,app")
        check("commands run as process.user, own what they make, and the check can read it", doc is not None and
              failures(level(doc, "app")) == 0 and failures(level(doc, "none")) == 0, p.stderr[-300:])

# --- the check's own verdict, its timeout, and the committed count
CHECKS = {
    "torn.toml": """name = "torn"
[process]
setup = "echo 0 > n"
[clients]
transactions = 1
[[transaction]]
run = "echo 1 > n && sync n"
[check]
run = "if [ \\"$(cat n)\\" = 1 ]; then echo 'verdict: torn_transaction half an order'; fi; exit 0"
""",
    "slow.toml": """name = "slow"
[process]
setup = "echo 0 > n"
[clients]
transactions = 1
[[transaction]]
run = "echo 1 > n && sync n"
[check]
run = "if [ \\"$(cat n)\\" = 1 ]; then sleep 5; fi"
timeout_ms = 300
""",
    "braces.toml": """name = "braces"
[process]
setup = "true"
[clients]
transactions = 1
[[transaction]]
run = "echo {{txn}} > lit && sync lit && echo '{a,b}' | awk '{print $1}' > awk.txt && sync awk.txt"
[check]
run = "test ! -e lit || { test \\"$(cat lit)\\" = '{{txn}}' && test \\"$(cat awk.txt)\\" = '{a,b}'; }"
""",
    "count.toml": """name = "count"
[process]
setup = "echo 0 > n && sync n"
vars = { extra = "" }
[clients]
count = 2
transactions = 2
[[transaction]]
params = { x = "int(1,9)" }
run = "echo $(( $(cat n) + 1 )) > n.tmp && sync n.tmp && mv n.tmp n && sync . {extra}"
[check]
run = "test -f n"
committed = "cat n"
""",
}
with tempfile.TemporaryDirectory() as tmp:
    for name, text in CHECKS.items():
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    _, doc, _ = run_json("run", os.path.join(tmp, "torn.toml"), "--quiesce", "fsfreeze")
    check("a check's 'verdict: NAME detail' line is the verdict", doc is not None and
          doc["runs"][0]["verdicts"]["torn_transaction"] > 0 and
          (doc["runs"][0]["first_failure"] or {}).get("detail") == "half an order", doc and doc["runs"][0])
    _, doc, _ = run_json("run", os.path.join(tmp, "slow.toml"), "--quiesce", "fsfreeze")
    check("a check that times out is unrecoverable", doc is not None and
          doc["runs"][0]["verdicts"]["unrecoverable"] > 0 and "timed out" in
          (doc["runs"][0]["first_failure"] or {}).get("detail", ""), doc and doc["runs"][0])
    p, doc, _ = run_json("run", os.path.join(tmp, "braces.toml"), "--quiesce", "app")
    check("'{{' and '}}' are literal braces, and shell braces around no name stay", doc is not None and
          failures(doc["runs"][0]) == 0 and doc["runs"][0]["points"] == 2, p.stderr[-300:] + str(doc and doc["runs"][0]))
    _, doc, _ = run_json("run", os.path.join(tmp, "count.toml"), "--quiesce", "none,app")
    check("committed feeds the commit oracle: a synced rename loses nothing", doc is not None and
          failures(level(doc, "none")) == 0, doc and level(doc, "none")["verdicts"])
    check("a process run reports its vars and clients", doc is not None and
          doc["runs"][0]["params"].get("clients") == "2" and "extra" in doc["runs"][0]["params"])

# --- the application's own recovery before the check
RECOVER = """name = "recover"
[process]
setup = "echo 0 > n && sync n"
[clients]
transactions = 2
[[transaction]]
run = "echo partial > junk && echo 1 > n && sync n"
[check]
recover = "RECOVER"
run = "test ! -e junk"
"""
with tempfile.TemporaryDirectory() as tmp:
    for name, cmd in (("fix", "rm -f junk"), ("broken", "echo cannot repair; exit 4")):
        with open(os.path.join(tmp, name + ".toml"), "w") as f:
            f.write(RECOVER.replace("RECOVER", cmd))
    _, doc, _ = run_json("run", os.path.join(tmp, "fix.toml"), "--quiesce", "fsfreeze")
    check("a recover command that repairs the image makes its points `recovered`", doc is not None and
          doc["runs"][0]["verdicts"]["recovered"] > 0 and failures(doc["runs"][0]) == 0, doc and doc["runs"][0])
    p = run("run", os.path.join(tmp, "broken.toml"), "--quiesce", "fsfreeze")
    check("a recover command that fails on the initial image is one line and exit 2", p.returncode == 2 and
          "the application's recovery failed (exit status 4): cannot repair" in p.stderr, p.stderr[-300:])

# --- the program's own pre-freeze hook (--quiesce hook): commands, drained
HOOKED = os.path.join(EXAMPLES, "process", "sqlite3-invoice-hook.toml")
with tempfile.TemporaryDirectory() as tmp:
    trace = os.path.join(tmp, "hook.trace")
    p, doc, text = run_json("run", HOOKED, "--quiesce", "fsfreeze,hook", "--save-trace", trace)
    check("a process workload's hook runs", doc is not None, p.stderr[-300:])
    if doc:
        hk, ff = level(doc, "hook"), level(doc, "fsfreeze")
        check("fsfreeze alone leaves the WAL to replay (recovered)", ff["verdicts"]["recovered"] > 0, ff["verdicts"])
        check("the drained wal_checkpoint(TRUNCATE) hook leaves nothing to replay: every point consistent",
              hk["points"] > 20 and hk["verdicts"]["consistent"] == hk["points"], hk["verdicts"])
        check("every step boundary requested a snapshot, none failed", hk["hook"]["requested"] == hk["points"] and
              hk["hook"]["timed_out"] == 0, hk["hook"])
        _, again, text2 = run_json("run", trace, "--quiesce", "fsfreeze,hook")
        _, again2, text3 = run_json("run", trace, "--quiesce", "fsfreeze,hook", "--jobs", "2")
        check("the saved trace keeps the hook: the same results, byte for byte (--jobs 1 and 2)",
              text2 is not None and text2 == text3 and [r["verdicts"] for r in again["runs"]] ==
              [r["verdicts"] for r in doc["runs"]])
    base = open(HOOKED).read()
    for name, change, needle in (
            ("nodrain.toml", ("drain = true", "drain = false"), "needs 'quiesce.drain = true'"),):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(base.replace(*change))
        bad = run("run", os.path.join(tmp, name), "--quiesce", "hook")
        check(f"{name}: one line and exit 2", bad.returncode == 2 and needle in bad.stderr and
              len(bad.stderr.strip().splitlines()) == 1, bad.stderr[-300:])
    shutil.copytree(os.path.join(EXAMPLES, "process", "sqlite3-invoice"), os.path.join(tmp, "sqlite3-invoice"))
    for policy, field in (("fail", "failed"), ("crash_consistent", "crash_consistent")):
        path = os.path.join(tmp, f"hookfail-{policy}.toml")
        with open(path, "w") as f:
            f.write(base.replace("pre_freeze = [", "pre_freeze = [\"echo locked; exit 3\", ")
                    .replace("timeout_ms = 10000", f'timeout_ms = 10000\non_failure = "{policy}"'))
        p, doc, _ = run_json("run", path, "--quiesce", "hook")
        hk = level(doc, "hook") if doc else None
        check(f"a failing hook command with on_failure = {policy}: every snapshot {field}", hk is not None and
              hk["hook"][field] == hk["hook"]["requested"] > 0 and hk["hook"]["timed_out"] == hk["hook"]["requested"],
              hk and hk["hook"])

# --- git on the simulated disk: fsck and the branch's commits judge each image
GIT = os.path.join(EXAMPLES, "process", "git-commits.toml")
for fsync in ("committed", "all"):
    p, doc, _ = run_json("run", GIT, "-p", f"fsync={fsync}", "-p", "transactions=2", "--quiesce", "none,app")
    check(f"git core.fsync={fsync} runs", doc is not None, p.stderr[-300:])
    if doc:
        check(f"git core.fsync={fsync}: `app` is clean", failures(level(doc, "app")) == 0, level(doc, "app")["verdicts"])
        check(f"git core.fsync={fsync}: no directory fsync, so an acknowledged commit can be lost at `none` (ext4)",
              level(doc, "none")["verdicts"]["lost_committed"] > 0, level(doc, "none")["verdicts"])

# --- hostile output: bytes that are not UTF-8, control characters, megabytes
HOSTILE = """name = "hostile"
[process]
setup = "echo 0 > n && sync n"
[clients]
transactions = 1
[[transaction]]
run = "echo 1 > n && sync n"
[check]
run = "if [ \\"$(cat n)\\" = 1 ]; then head -c 3000000 /dev/zero | tr '\\\\0' x; printf '\\\\n\\\\377\\\\376 bad\\\\033[31m bytes\\\\n'; exit 1; fi"
"""
with tempfile.TemporaryDirectory() as tmp:
    with open(os.path.join(tmp, "hostile.toml"), "w") as f:
        f.write(HOSTILE)
    p, doc, _ = run_json("run", os.path.join(tmp, "hostile.toml"), "--quiesce", "app")
    detail = (doc["runs"][0]["first_failure"] or {}).get("detail", "") if doc else ""
    check("a check's non-UTF-8 and control bytes still give valid JSON with a readable detail",
          doc is not None and "? bad?[31m bytes" in detail, p.stderr[-300:] + detail)
    check("and the terminal shows them as '?'", "\ufffd" not in p.stdout and "? bad?[31m bytes" in p.stdout,
          p.stdout[-300:])

# --- mistakes are one line and exit 2
bad_input("a missing file", ["run", "TMP/s.toml"], "process.files names 'nope.sql'",
          {"s.toml": 'name = "s"\n[process]\nfiles = ["nope.sql"]\n[[transaction]]\nrun = "true"\n[check]\nrun = "true"\n'})
bad_input("a setup that fails", ["run", "TMP/s.toml"], "the setup command failed (exit status 3)",
          {"s.toml": 'name = "s"\n[process]\nsetup = "echo broken; exit 3"\n[[transaction]]\nrun = "true"\n'
                     '[check]\nrun = "true"\n'})
bad_input("a command not found", ["run", "TMP/s.toml"], "command not found",
          {"s.toml": 'name = "s"\n[process]\n[[transaction]]\nrun = "no-such-program-here x"\n[check]\nrun = "true"\n'})
bad_input("a check that fails before any transaction", ["run", "TMP/s.toml"],
          "the check fails on the image before any transaction",
          {"s.toml": 'name = "s"\n[process]\n[[transaction]]\nrun = "true"\n[check]\nrun = "test -f missing"\n'})
bad_input("an unknown key", ["run", "TMP/s.toml"], "unknown key 'stup' in [process]",
          {"s.toml": 'name = "s"\n[process]\nstup = "x"\n[[transaction]]\nrun = "true"\n[check]\nrun = "true"\n'})
bad_input("no check", ["run", "TMP/s.toml"], "needs a [check] table",
          {"s.toml": 'name = "s"\n[process]\n[[transaction]]\nrun = "true"\n'})
bad_input("an unknown template", ["run", "TMP/s.toml"], "'{qty}'",
          {"s.toml": 'name = "s"\n[process]\n[[transaction]]\nrun = "echo {qty}"\n[check]\nrun = "true"\n'})
bad_input("--save-trace of an SQL workload", ["run", "invoice-sqlite", "--save-trace", "TMP/x.trace"],
          "no process workload")
finish()
