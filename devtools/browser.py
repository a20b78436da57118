"""The headless browser of the dashboard's test (tests/e2e/test_dashboard.py): Debian's chromium.

`make test` calls `ensure_browser()` first: if /usr/bin/chromium is missing, apt-get is there
and we are root, it installs `chromium` quietly (a few minutes, the first time only), printing
progress; otherwise it says why not, and the dashboard test skips saying how to install it.
Never `playwright install`: the browser comes from the distribution's packages.

python -m devtools.browser     # the same, by hand
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CHROMIUM = "/usr/bin/chromium"


def ensure_browser() -> bool:
    """True when chromium is (now) installed."""
    if os.path.exists(CHROMIUM):
        return True
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        why = "apt-get is not available" if apt is None else "not running as root"
        print(
            f"=== browser: {CHROMIUM} missing and {why}; the dashboard test will skip "
            "(install it: apt-get install -y chromium)",
            flush=True,
        )
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for what, cmd in (
        ("updating the package lists", [apt, "update", "-qq"]),
        (
            "installing chromium (first time only)",
            [apt, "install", "-y", "-qq", "chromium"],
        ),
    ):
        print(f"=== browser: {what}", flush=True)
        result = subprocess.run(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
        )
        if result.returncode != 0:
            print(
                f"=== browser: failed ({result.stderr.strip()[-300:]}); the dashboard test will skip",
                flush=True,
            )
            return False
    print(f"=== browser: {CHROMIUM} installed", flush=True)
    return os.path.exists(CHROMIUM)


if __name__ == "__main__":
    sys.exit(0 if ensure_browser() else 1)
