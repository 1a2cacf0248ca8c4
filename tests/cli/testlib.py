"""Shared helpers of the integration tests that drive the real binary."""
import os
import shutil
import sys

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
