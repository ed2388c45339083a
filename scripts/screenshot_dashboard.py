"""Render the README's dashboard screenshot from the real demo.

    uv run python scripts/screenshot_dashboard.py     # writes docs/img/dashboard.png

Starts `opsbook demo --no-tour --serve` (the sample service, the daemon and the
dashboard), waits until the injected fault has failed a check, and photographs the overview
with Debian's Chromium (no browser is downloaded).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "dashboard.png"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsbook", "demo", "--no-tour", "--serve", "--fault-after", "20s",
             "--duration", "90s", "--workdir", tmp],
            stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert proc.stdout is not None
        url = None
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                m = re.search(r"dashboard:\s+(http://\S+?)/\s", line)
                if m:
                    url = m.group(1)
                if "pass -> fail" in line:
                    break
            if url is None:
                print("the demo printed no dashboard URL", file=sys.stderr)
                return 1
            time.sleep(7)  # the overview is rebuilt at most every 5 s
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                page = browser.new_page(viewport={"width": 1200, "height": 640})
                page.goto(url + "/")
                page.screenshot(path=str(OUT))
                browser.close()
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
