"""Shared helpers of the integration tests that drive the real binary."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

_counts = {"passed": 0, "failed": 0}


def check(name, cond, info=""):
    """Records one check; prints 'ok' or 'FAIL' with the extra info."""
    if cond:
        _counts["passed"] += 1
        print(f"ok   {name}")
    else:
        _counts["failed"] += 1
        print(f"FAIL {name} {info}")


def finish():
    """Prints the closing 'N passed, N failed' line and exits non-zero on failures."""
    print(f"{_counts['passed']} passed, {_counts['failed']} failed")
    sys.exit(1 if _counts["failed"] else 0)


def chromium_flags(tmp, width, height):
    """Headless chromium for a machine without network, or None if it is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        return None
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={os.path.join(tmp, 'profile')}", f"--window-size={width},{height}"]


def run_json(snapsim, *args, schema=None):
    """Runs snapsim with --json into a private file: (process, document, text),
    document and text None unless it exited 0 or 1. With `schema`, the document
    must validate (a failed check otherwise)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        p = subprocess.run([snapsim, *args, "--json", out], capture_output=True, text=True, errors="replace",
                           timeout=600)
        if p.returncode not in (0, 1):
            return p, None, None
        with open(out) as f:
            text = f.read()
    doc = json.loads(text)
    if schema is not None:
        import jsonschema
        try:
            jsonschema.validate(doc, schema)
        except jsonschema.ValidationError as e:
            check(f"the JSON of {' '.join(args)} validates", False, e.message)
    return p, doc, text


def level(doc, quiesce):
    """The run of one quiesce level in a --json document."""
    return next(r for r in doc["runs"] if r["quiesce"] == quiesce)


def failures(run):
    """Points of a run judged lost_committed or worse."""
    return sum(v for k, v in run["verdicts"].items() if k not in ("consistent", "recovered"))
