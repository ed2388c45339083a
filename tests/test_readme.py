"""The README's first screen is what a new user copies: its config must load as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.helpers import load

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_config_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block = re.search(r"```yaml\n(# opsbook\.yaml\n.*?)```", README.read_text(), re.S)
    assert block, "README.md has no ```yaml block starting with '# opsbook.yaml'"
    for var in ("DATABASE_URL", "DRILL_DATABASE_URL"):
        monkeypatch.setenv(var, "postgresql://postgres@127.0.0.1:5432/postgres")
    monkeypatch.setenv("PD_ROUTING_KEY", "readme-test-key")
    cfg = load(block.group(1), tmp_path, env="production")
    assert {"api-ready", "db-ready", "cert"} <= set(cfg.checks)
    assert "api-not-ready" in cfg.model.alerts and "availability" in cfg.model.slos
