#!/usr/bin/env python3
"""snapsim cow-bench through the real binary: shapes, JSON schema, bad input, HTML in chromium.

Usage: cow_bench_test.py SNAPSIM_BINARY SCHEMA_JSON
"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, chromium_flags, finish  # noqa: E402

SNAPSIM, SCHEMA = sys.argv[1], sys.argv[2]


def run(*args):
    return subprocess.run([SNAPSIM, "cow-bench", *args], capture_output=True, text=True, timeout=600)


tmp = tempfile.mkdtemp(prefix="snapsim-cowbench-")
atexit.register(shutil.rmtree, tmp, True)
out, page = os.path.join(tmp, "cb.json"), os.path.join(tmp, "cb.html")
r = run("--ios", "3000", "--volume-size", "4m", "--snapshots", "0,1,2,4,8", "--policy", "copy_out,redirect_on_write",
        "--block-size", "4k,64k", "--device", "ssd,hdd", "--json", out, "--html", page)
check("cow-bench exits 0", r.returncode == 0, r.stderr)
check("cow-bench prints a table", "write" in r.stdout and "copy_out" in r.stdout and "redirect_on_write" in r.stdout)
doc = json.load(open(out))
try:
    import jsonschema
    jsonschema.validate(doc, json.load(open(SCHEMA)))
    check("JSON matches docs/cow-bench.schema.json", True)
except ImportError:
    check("python3 jsonschema is installed", False)
except Exception as e:  # noqa: BLE001
    check("JSON matches docs/cow-bench.schema.json", False, str(e).splitlines()[0])
cfg = doc["configs"]
check("one result per configuration (2 policies x 2 sizes x 2 devices x 5 counts)", len(cfg) == 40)


def pick(policy, bs, dev):
    return sorted((c for c in cfg if c["policy"] == policy and c["block_size"] == bs and c["device"] == dev),
                  key=lambda c: c["snapshots"])


co = pick("copy_out", 4096, "ssd")
row = pick("redirect_on_write", 4096, "ssd")
co_first = [c["first_write_us"] for c in co if c["snapshots"] > 0]
steps = [(b - a) / (nb - na) for (a, na), (b, nb) in zip(zip(co_first, [1, 2, 4, 8]), zip(co_first[1:], [2, 4, 8]))]
check("copy-out first-write cost grows linearly with snapshots",
      all(s > 0 for s in steps) and max(steps) - min(steps) < 0.01 * max(steps), steps)
row_first = [c["first_write_us"] for c in row if c["snapshots"] > 0]
check("redirect-on-write first-write cost stays flat", max(row_first) - min(row_first) < 1e-6, row_first)
check("a first write costs more than a rewrite", all(c["first_write_us"] > c["rewrite_us"] for c in co if c["snapshots"] > 0))
big = pick("redirect_on_write", 65536, "ssd")
check("4k writes into 64k chunks pay read-modify-write (WA 16)", all(abs(c["write_amplification"] - 16) < 1e-6 for c in big))
check("hdd takes longer than ssd for the same I/O",
      pick("copy_out", 4096, "hdd")[2]["device_time_ms"] > pick("copy_out", 4096, "ssd")[2]["device_time_ms"])
one = [c for c in row if c["snapshots"] == 1][0]
check("a snapshot's exclusive space never exceeds the source",
      one["snapshot_exclusive_blocks"][0] <= one["volume_blocks"] and
      all(b <= one["volume_blocks"] for _, b in one["space_timeline"]))

r = run("--workload", "invoice-sqlite", "--snapshots", "0,2", "--json", os.path.join(tmp, "w.json"))
check("cow-bench --workload invoice-sqlite runs", r.returncode == 0 and "block writes of workload" in r.stdout, r.stderr)

for args, needle in [(["--pattern", "zigzag"], "zigzag"), (["--policy", "dm-era"], "dm-era"),
                     (["--device", "floppy"], "floppy"), (["--block-size", "3k"], "3k"),
                     (["--io-size", "4q"], "4q"), (["--ios", "0"], "--ios"), (["--ios", "-5"], "ios"),
                     (["--snapshots", "1,x"], "x"), (["--volume-size", "8m", "--pool-size", "1m"], "pool"),
                     (["--every", "10"], "--keep"), (["--workload", "nope"], "nope")]:
    o = os.path.join(tmp, "bad.json")
    if os.path.exists(o):
        os.remove(o)
    r = run(*args, "--json", o)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    check(f"bad {' '.join(args)!r}: exit 2, one line naming it, no file",
          r.returncode == 2 and len(lines) == 1 and needle in lines[0] and not os.path.exists(o), r.stderr)

browser = shutil.which("chromium")
check("chromium is installed", browser is not None)
if browser:
    flags = chromium_flags(tmp, 1100, 1400)
    shot = os.path.join(tmp, "cb.png")
    subprocess.run(flags + [f"--screenshot={shot}", "file://" + page], capture_output=True, timeout=120)
    check("chromium screenshot of the cow-bench page", os.path.exists(shot) and os.path.getsize(shot) > 10000)
    dom = subprocess.run(flags + ["--dump-dom", "file://" + page], capture_output=True, text=True, timeout=120).stdout
    check("page has the overhead plot with a line per policy",
          'id="overhead"' in dom and dom.count('class="series"') >= 8)
    check("page has the space-growth plot", 'id="space"' in dom)
    check("page has the configuration table", 'id="configs"' in dom and dom.count("<tr>") >= 41)

finish()
