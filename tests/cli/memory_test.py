#!/usr/bin/env python3
"""Memory snapshots through the real binary (--model memory): reverting a
running VM keeps its data consistent with no recovery at any point, but its
clients lose what was acknowledged after the snapshot moment, are handed
identifiers they already hold (the invoice number), and, for SQL, wait on
the locks of sessions that died with the revert until keepalive detects
them. Deterministic, --jobs invariant, schema-valid JSON, --fail-on names,
replay, clear errors.

usage: memory_test.py SNAPSIM SCHEMA.json
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, finish  # noqa: E402
from testlib import run_json as run_snapsim_json  # noqa: E402

SNAPSIM, SCHEMA = sys.argv[1], sys.argv[2]
with open(SCHEMA) as f:
    schema = json.load(f)


def run_json(*args):
    return run_snapsim_json(SNAPSIM, *args, schema=schema)


def only(doc):
    check("one run per document", doc is not None and len(doc["runs"]) == 1)
    return doc["runs"][0]


rows = {}
for workload, params in (("invoice-sqlite", ["-p", "invoices=3"]),
                         ("invoice-sqlite", ["-p", "invoices=3", "-p", "journal_mode=wal"]),
                         ("invoice-flatfile", ["-p", "invoices=3"])):
    label = " ".join([workload] + params[1::2])
    p, doc, _ = run_json("run", workload, *params, "--model", "memory", "--jobs", "1")
    check(f"{label}: runs", doc is not None, p.stderr[-400:])
    if not doc:
        continue
    r = only(doc)
    rows[label] = r
    c = r["client_outcomes"]
    check(f"{label}: the model is memory and its level none", r["model"] == "memory" and r["quiesce"] == "none")
    check(f"{label}: every revert point restores consistent, none needs recovery",
          r["points"] > 10 and r["verdicts"]["consistent"] == r["points"], r["verdicts"])
    check(f"{label}: acknowledged work is undone at the points before the last acknowledgement",
          0 < c["reverted_acknowledged"] < r["points"] and c["reverted_acknowledgements"] >= c["reverted_acknowledged"],
          c)
    check(f"{label}: every undone invoice's number is handed out again for other content",
          c["reissued_identifier"] == c["reverted_acknowledged"] and
          c["reissued_identifiers"] == c["reverted_acknowledgements"], c)
    first = c["first"]["reissued_identifier"]
    check(f"{label}: the first reissue names the identifier and the client that holds it",
          "was acknowledged to client" in first["detail"] and "issued again" in first["detail"], first)
    if workload == "invoice-sqlite":
        check(f"{label}: a transaction caught holding the write lock blocks new clients until keepalive",
              c["blocked_session"] > 0 and c["blocked_ms_max"] > 7_000_000, c)
    else:
        check(f"{label}: the flat-file app finishes its invoice itself: no session blocks",
              c["blocked_session"] == 0 and c["blocked_ms_max"] == 0, c)
    # The replay of the first reissue shows what the clients saw.
    rp = subprocess.run([SNAPSIM] + first["replay"].split()[1:],
                        capture_output=True, text=True)
    check(f"{label}: the replay of the first reissue runs and tells it",
          rp.returncode == 0 and "reissued_identifier:" in rp.stdout and "consistent" in rp.stdout,
          rp.stdout[-500:] + rp.stderr[-300:])

# Determinism and --jobs: byte-identical documents.
texts = []
for jobs in ("1", "2", "2"):
    p, doc, text = run_json("run", "invoice-sqlite", "-p", "invoices=2", "--model", "memory", "--jobs", jobs)
    texts.append(text)
check("same seed, same config: byte-identical results, whatever --jobs", texts[0] is not None and
      texts[0] == texts[1] == texts[2])

# A revert right after the moment loses nothing acknowledged; a short
# keepalive ends the dead sessions before the clients' tolerance runs out.
p, doc, _ = run_json("run", "invoice-sqlite", "-p", "invoices=3", "--model", "memory", "--revert-after-ms", "0")
if doc:
    c = only(doc)["client_outcomes"]
    check("--revert-after-ms 0: nothing acknowledged is undone, no identifier reissued",
          c["reverted_acknowledged"] == 0 and c["reissued_identifier"] == 0 and c["revert_after_ms"] == 0, c)
p, doc, _ = run_json("run", "invoice-sqlite", "-p", "invoices=3", "--model", "memory", "--keepalive-ms", "1000")
if doc:
    c = only(doc)["client_outcomes"]
    check("--keepalive-ms 1000: the wait stays within the clients' tolerance",
          c["blocked_session"] == 0 and 0 < c["blocked_ms_max"] <= 1000 and c["keepalive_ms"] == 1000, c)

# A script names its client-visible identifier and its clients' tolerance.
with tempfile.TemporaryDirectory() as tmp:
    script = os.path.join(tmp, "tickets.toml")
    with open(script, "w") as f:
        f.write("""name = "tickets"
[setup]
sql = "CREATE TABLE seq(n INTEGER); INSERT INTO seq VALUES (1); CREATE TABLE ticket(id INTEGER PRIMARY KEY, who TEXT);"
[clients]
count = 2
transactions = 2
[[transaction]]
name = "issue"
params = { who = "text(12)" }
steps = [
  { sql = "SELECT n FROM seq", capture = "id", client_visible = true },
  "INSERT INTO ticket VALUES (:id, :who)",
  "UPDATE seq SET n = n + 1",
]
[[invariant]]
name = "the counter is next"
sql = "SELECT (SELECT n FROM seq) = (SELECT COUNT(*) FROM ticket) + 1"
[memory]
lock_wait_tolerance_ms = 8000000
reverted_acknowledged = "failure"
""")
    p, doc, _ = run_json("run", script, "--model", "memory")
    check("a script with client_visible and [memory] runs", doc is not None, p.stderr[-400:])
    if doc:
        r = only(doc)
        c = r["client_outcomes"]
        check("its identifier is reissued", c["reissued_identifier"] > 0 and
              c["first"]["reissued_identifier"]["detail"].startswith("id="), c)
        check("its tolerance of a 2-hour wait holds: no blocked session counted",
              c["blocked_session"] == 0 and c["blocked_ms_max"] > 7_000_000 and c["lock_wait_tolerance_ms"] == 8000000, c)
        check("its clients cannot tolerate undone acknowledgements", c["reverted_is_failure"] is True, c)
    p = subprocess.run([SNAPSIM, "run", script, "--model", "memory", "--fail-on", "reverted_acknowledged"],
                       capture_output=True, text=True)
    check("--fail-on reverted_acknowledged: exit status 1", p.returncode == 1, p.stderr[-300:])
    p = subprocess.run([SNAPSIM, "run", script, "--model", "memory", "--fail-on", "blocked_session"],
                       capture_output=True, text=True)
    check("--fail-on blocked_session with none counted: exit status 0", p.returncode == 0, p.stderr[-300:])
    with open(script) as f:
        text = f.read()
    with open(script, "w") as f:
        f.write(text.replace('reverted_acknowledged = "failure"', 'reverted_acknowledged = "sometimes"'))
    p = subprocess.run([SNAPSIM, "run", script, "--model", "memory"], capture_output=True, text=True)
    check("a bad [memory] value: exit 2 with a one-line error naming it",
          p.returncode == 2 and "reverted_acknowledged" in p.stderr and p.stderr.count("\n") == 1, p.stderr)

# JUnit: a revert that reissues identifiers fails its test case by default,
# and only the outcomes named when --fail-on names some.
with tempfile.TemporaryDirectory() as tmp:
    xml = os.path.join(tmp, "j.xml")
    p = subprocess.run([SNAPSIM, "run", "invoice-sqlite", "-p", "invoices=2", "--model", "memory", "--junit", xml],
                       capture_output=True, text=True)
    text = open(xml).read() if p.returncode == 0 else ""
    check("--junit under --model memory: reissued identifiers fail the test case",
          'failures="1"' in text and 'type="reissued_identifier"' in text and "--model memory" in text, text[-600:])
    p = subprocess.run([SNAPSIM, "run", "invoice-flatfile", "-p", "invoices=2", "--model", "memory", "--junit", xml,
                        "--fail-on", "blocked_session"], capture_output=True, text=True)
    text = open(xml).read() if p.returncode == 0 else ""
    check("--junit --fail-on blocked_session: the flat-file app passes", 'failures="0"' in text, text[-600:])

# Errors: clear, one line, exit 2.
for args, needle in ((["run", "invoice-sqlite", "--model", "memory", "--quiesce", "app"], "no quiesce level"),
                     (["run", "invoice-sqlite", "--revert-after-ms", "5"], "for --model memory"),
                     (["run", "invoice-sqlite", "--model", "memory", "--fail-on", "reissued"], "unknown verdict")):
    p = subprocess.run([SNAPSIM, *args], capture_output=True, text=True)
    check(f"{' '.join(args)}: exit 2 naming the problem",
          p.returncode == 2 and needle in p.stderr and p.stderr.count("\n") == 1, (p.returncode, p.stderr))

finish()
