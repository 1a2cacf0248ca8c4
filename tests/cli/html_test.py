#!/usr/bin/env python3
"""The --html report in a real headless browser (Debian's chromium).

Usage: html_test.py SNAPSIM_BINARY
Renders the page, takes a screenshot, and asserts on the DOM chromium built.
"""
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, chromium_flags, finish  # noqa: E402

SNAPSIM = sys.argv[1]


tmp = tempfile.mkdtemp(prefix="snapsim-html-")
atexit.register(shutil.rmtree, tmp, True)
page = os.path.join(tmp, "report.html")
r = subprocess.run([SNAPSIM, "run", "invoice-flatfile", "invoice-sqlite-document", "--html", page],
                   capture_output=True, text=True, timeout=600)
check("snapsim --html exits 0", r.returncode == 0, r.stderr)
html = open(page).read()
check("page is self-contained (no network references)",
      not re.search(r"(src|href)=\"https?://", html) and "<script" not in html)

browser = shutil.which("chromium") or shutil.which("chromium-browser")
check("chromium is installed (scripts/install-deps.sh installs it)", browser is not None)
if browser:
    flags = chromium_flags(tmp, 1280, 1400)
    shot = os.path.join(tmp, "report.png")
    s = subprocess.run(flags + [f"--screenshot={shot}", "file://" + page],
                       capture_output=True, text=True, timeout=120)
    check("chromium took a screenshot", os.path.exists(shot) and os.path.getsize(shot) > 10000,
          s.stderr[-500:])
    if os.path.exists(shot):
        with open(shot, "rb") as f:
            check("screenshot is a PNG", f.read(8) == b"\x89PNG\r\n\x1a\n")
    d = subprocess.run(flags + ["--dump-dom", "file://" + page], capture_output=True, text=True,
                       timeout=120)
    dom = d.stdout
    check("browser DOM has the matrix", 'id="matrix"' in dom)
    check("matrix names both workloads", "invoice-flatfile" in dom and "invoice-sqlite-document" in dom)
    check("matrix shows failing and passing cells", 'class="fail"' in dom and 'class="ok"' in dom)
    check("one section per run (2 workloads x 3 levels)", dom.count('class="run"') == 6)
    check("timelines have snapshot points coloured by verdict",
          dom.count('class="point ') > 100 and 'class="point invariant_violation"' in dom)
    check("timelines show transactions", dom.count('class="txn"') >= 6)
    check("first failure detail and replay command are shown",
          'class="first-failure"' in dom and "snapsim replay invoice-flatfile" in dom)
    check("freeze windows are shown", "freeze window" in dom)

finish()
