"""Render the README's screenshot: `opsbook check` against the demo service with a fault injected.

    uv run python scripts/screenshot.py      # writes docs/img/opsbook-check.svg

Uses the same renderer as the CLI (render/table.py) through a recording Rich console, so the
picture is exactly what a terminal shows.
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from opsbook.demo.run import free_port, set_fault, start_service, stop_service, write_config
from opsbook.ops import check
from opsbook.ops.load import load
from opsbook.render.table import render_results

OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "opsbook-check.svg"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        config = write_config(work / "opsbook.yaml", port)
        proc = start_service(work, port)
        try:
            url = f"http://127.0.0.1:{port}"
            time.sleep(3.5)  # the demo service is not ready for its first 3 s
            set_fault(url, "down")
            cfg = load(config)
            results = asyncio.run(check.check(cfg)).results
        finally:
            stop_service(proc)
    console = Console(record=True, width=104, force_terminal=True, color_system="truecolor",
                      highlight=False, file=io.StringIO())
    console.print("[dim]$[/] opsbook check")
    render_results(console, results, title="opsbook check · env default")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    console.save_svg(str(OUT), title="opsbook check")
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
