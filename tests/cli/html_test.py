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
check("page is self-contained (no network references, no script from elsewhere)",
      not re.search(r"(src|href)=\"https?://", html) and "<script src" not in html)
check("the page opens with a conclusion per workload",
      html.index('id="conclusions"') < html.index('id="matrix"') and "safe at <code>app</code>" in html, html[:2000])

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
    # The timeline the script draws: lanes, axis, names, acknowledgements,
    # the first failure, tooltips with verdict, detail and replay.
    check("timelines label the client lanes", "client 0</text>" in dom and "client 1</text>" in dom)
    check("the axis gives trace positions and simulated milliseconds",
          re.search(r'class="tick".*?event \d+ \u00b7 [\d.]+ ms', dom) is not None)
    check("transactions carry their names and acknowledgement markers",
          dom.count('class="txn-name"') >= 6 and dom.count('class="ack"') >= 6)
    check("the first failure is highlighted once per failing run",
          len(re.findall(r'class="point [a-z_]+ first-failure-marker"', dom)) ==
          sum(1 for sec in dom.split('class="run"')[1:] if 'class="first-failure"' in sec) > 0)
    check("a point's tooltip has its verdict, detail and replay command",
          re.search(r"<title>point \d+ \(snapshot, [\d.]+ ms\): invariant_violation: [^<]+\nreplay: snapsim replay "
                    r"invoice-flatfile [^<]*--point \d+", dom) is not None)
    z = subprocess.run(flags + ["--dump-dom", "file://" + page + "#zoom=0.2,0.4"], capture_output=True, text=True,
                       timeout=120).stdout
    check("#zoom=A,B opens the timelines zoomed: fewer points drawn",
          0 < z.count('class="point ') < dom.count('class="point ') // 2, (z.count('class="point '),
                                                                           dom.count('class="point ')))

    # 10,000 points: the page stays small and the browser draws every point.
    big = os.path.join(tmp, "big.html")
    r = subprocess.run([SNAPSIM, "run", "invoice-sqlite", "-p", "invoices=130", "--quiesce", "none", "--html", big],
                       capture_output=True, text=True, timeout=600)
    check("a 10,000-point run writes its page", r.returncode in (0, 1) and os.path.exists(big), r.stderr)
    if os.path.exists(big):
        check("the 10,000-point page stays under 3 MB", os.path.getsize(big) < 3 << 20, os.path.getsize(big))
        shot = os.path.join(tmp, "big.png")
        subprocess.run(flags + [f"--screenshot={shot}", "file://" + big], capture_output=True, timeout=180)
        check("chromium renders the 10,000-point page", os.path.exists(shot) and os.path.getsize(shot) > 10000)
        bd = subprocess.run(flags + ["--dump-dom", "file://" + big], capture_output=True, text=True,
                            timeout=180).stdout
        check("every one of the 10,000 points is drawn with its tooltip",
              bd.count('class="point ') >= 10000 and bd.count("<title>point ") >= 10000, bd.count('class="point '))

    # A crash-model page shows crash points and no freeze window.
    cpage = os.path.join(tmp, "crash.html")
    subprocess.run([SNAPSIM, "run", "invoice-sqlite", "-p", "synchronous=off", "--model", "crash", "--html", cpage],
                   capture_output=True, timeout=600)
    cd = subprocess.run(flags + ["--dump-dom", "file://" + cpage], capture_output=True, text=True, timeout=120).stdout
    sec = cd.split('class="run"', 1)[-1]
    check("a crash run is drawn as crash points, without a freeze window",
          "crash images" in sec and "crash points</text>" in sec and "freeze window" not in sec and
          "(crash image, " in sec, sec[:600])

finish()
