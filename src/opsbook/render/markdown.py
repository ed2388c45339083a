"""What every Markdown report (post-mortem, db report, rollout, migration, integrity) shares."""

from __future__ import annotations

from typing import Any


def cell(v: Any) -> str:
    """``v`` as a table cell: a pipe would end the cell and a newline the row."""
    return str(v).replace("|", "\\|").replace("\n", " ")
