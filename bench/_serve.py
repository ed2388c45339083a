"""What the benches that start a server in a child process share."""

from __future__ import annotations

import subprocess
import time


def wait_until_up(url: str, child: subprocess.Popen[bytes], within: float = 60) -> None:
    """Poll ``url`` until it answers, the child dies, or ``within`` seconds pass."""
    import httpx

    deadline = time.monotonic() + within
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError("the server did not start") from None
            time.sleep(0.2)
