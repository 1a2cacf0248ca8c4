#!/usr/bin/env python3
"""Installing and packaging, as a vendor and a release would: `cmake --install`
into a prefix (binary, man page, headers, libraries, CMake package), a tiny
consumer project built against it with find_package(snapsim) and
snapsim::api, and the Debian package from CPack, extracted with
`dpkg-deb -x` and run on the built-in suite. The man page describes every
option the binary's --help prints.

usage: install_test.py SOURCE_DIR BUILD_DIR
"""
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from testlib import check, finish  # noqa: E402

SRC, BUILD = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="snapsim-install-")
atexit.register(shutil.rmtree, tmp, True)


def sh(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, errors="replace", timeout=900, **kw)


prefix = os.path.join(tmp, "prefix")
p = sh("cmake", "--install", BUILD, "--prefix", prefix)
check("cmake --install succeeds", p.returncode == 0, p.stderr[-500:])
for rel in ("bin/snapsim", "share/man/man1/snapsim.1", "include/snapsim/api/snapsim.h",
            "include/snapsim/cow/status.h", "lib/cmake/snapsim/snapsimConfig.cmake",
            "lib/cmake/snapsim/snapsimConfigVersion.cmake", "lib/cmake/snapsim/snapsimTargets.cmake"):
    check(f"installs {rel}", os.path.exists(os.path.join(prefix, rel)))
v = sh(os.path.join(prefix, "bin", "snapsim"), "--version")
check("the installed snapsim runs", v.returncode == 0 and v.stdout.startswith("snapsim "), v.stdout + v.stderr)

# A consumer project, as a vendor's would be.
cb = os.path.join(tmp, "consumer-build")
p = sh("cmake", "-S", os.path.join(SRC, "tests", "install", "consumer"), "-B", cb, "-G", "Ninja",
       f"-DCMAKE_PREFIX_PATH={prefix}")
check("the consumer configures with find_package(snapsim)", p.returncode == 0, (p.stdout + p.stderr)[-800:])
p = sh("cmake", "--build", cb, "-j", "2")
check("the consumer builds against snapsim::api", p.returncode == 0, (p.stdout + p.stderr)[-800:])
exe = os.path.join(cb, "consumer")
if os.path.exists(exe):
    r = sh(exe)
    levels = dict(re.findall(r"^(\w+) points=\d+ failures=(\d+)$", r.stdout, re.M))
    check("the consumer runs a workload: synchronous=off fails at none, never at app",
          r.returncode == 0 and int(levels.get("none", 0)) > 0 and levels.get("app") == "0", r.stdout + r.stderr)

# The Debian package.
pkg = os.path.join(tmp, "pkg")
p = sh("cpack", "-G", "DEB", "-B", pkg, cwd=BUILD)
debs = [f for f in os.listdir(pkg) if f.endswith(".deb")] if os.path.isdir(pkg) else []
check("cpack -G DEB makes snapsim_<version>_amd64.deb",
      p.returncode == 0 and len(debs) == 1 and re.fullmatch(r"snapsim_\d+\.\d+\.\d+_amd64\.deb", debs[0]),
      (p.stdout + p.stderr)[-800:] + str(debs))
if debs:
    deb = os.path.join(pkg, debs[0])
    dep = sh("dpkg-deb", "-f", deb, "Depends").stdout
    check("the package declares its runtime dependencies", all(d in dep for d in ("libsqlite3", "libfuse3", "fuse3")),
          dep)
    x = os.path.join(tmp, "x")
    p = sh("dpkg-deb", "-x", deb, x)
    exe = os.path.join(x, "usr", "bin", "snapsim")
    check("dpkg-deb -x extracts usr/bin/snapsim and its man page",
          p.returncode == 0 and os.path.exists(exe) and os.path.exists(os.path.join(x, "usr", "share", "man", "man1",
                                                                                  "snapsim.1")), p.stderr)
    if os.path.exists(exe):
        r = sh(exe, cwd=tmp)
        check("the packaged snapsim runs the built-in suite", r.returncode in (0, 1) and "WORKLOAD" in r.stdout and
              "invoice-sqlite" in r.stdout, r.stderr[-500:])

# The man page describes every option --help prints.
with open(os.path.join(SRC, "docs", "snapsim.1")) as f:
    man = f.read().replace("\\-", "-")
snapsim = os.path.join(BUILD, "snapsim")
for cmd in (["run"], ["replay"], ["cow-bench"], ["merge"]):
    h = sh(snapsim, *cmd, "--help").stdout
    for opt in sorted(set(re.findall(r"^\s+(?:-\w,)?(--[a-z][a-z-]*)", h, re.M)) - {"--help"}):
        check(f"snapsim.1 describes {' '.join(cmd)} {opt}", opt in man)
finish()
