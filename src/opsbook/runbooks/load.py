"""Find and parse the runbook files of a config: ``runbooks.dir`` (relative to the config file's
directory), one runbook per ``*.md`` file named by its stem. README.md there is documentation,
not a runbook.

Parsed files are cached per process by (path, mtime, size, kinds): the daemon and the dashboard
list runbooks often and a file only changes when someone edits it.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.references import missing
from ..errors import RunbookFormatError, UsageError
from .model import Runbook
from .parse import display_path, parse

if TYPE_CHECKING:
    from ..config.load import Config

_CACHE: dict[Path, tuple[tuple[int, int, frozenset[str]], Runbook]] = {}


def runbook_dir(cfg: Config) -> Path:
    return (cfg.base_dir / cfg.model.runbooks.dir).resolve()


def kind_names() -> list[str]:
    """The registered step kind names (importing the registry only here keeps parse.py cheap)."""
    from .steps.registry import STEPS

    return list(STEPS)


def files(cfg: Config) -> list[Path]:
    d = runbook_dir(cfg)
    if not d.is_dir():
        return []
    return sorted(p for p in d.glob("*.md") if p.is_file() and p.name.lower() != "readme.md")


def load_file(path: Path, kinds: Collection[str] | None = None) -> Runbook:
    """One file, parsed (from the cache when it has not changed since)."""
    names = frozenset(kind_names() if kinds is None else kinds)
    try:
        st = path.stat()
        key = (st.st_mtime_ns, st.st_size, names)
        hit = _CACHE.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise RunbookFormatError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=display_path(path)) from None
    except OSError as e:
        raise RunbookFormatError(f"cannot read: {e.strerror}", file=display_path(path)) from None
    rb = parse(text, path, names)
    _CACHE[path] = (key, rb)
    return rb


def load_all_with_errors(cfg: Config, kinds: Collection[str] | None = None
                         ) -> tuple[dict[str, Runbook], dict[str, RunbookFormatError]]:
    """Every runbook that parses, and the error of every file that does not (by name)."""
    ok: dict[str, Runbook] = {}
    bad: dict[str, RunbookFormatError] = {}
    for path in files(cfg):
        try:
            ok[path.stem] = load_file(path, kinds)
        except RunbookFormatError as e:
            bad[path.stem] = e
    return ok, bad


def load_all(cfg: Config, kinds: Collection[str] | None = None) -> dict[str, Runbook]:
    """Every runbook by name (sorted); the first file that does not parse raises."""
    return {path.stem: load_file(path, kinds) for path in files(cfg)}


def find(cfg: Config, name: str, kinds: Collection[str] | None = None) -> Runbook:
    """The runbook ``name``; a UsageError with the closest names when there is none."""
    stems = {p.stem: p for p in files(cfg)}
    if name not in stems:
        message, hint = missing("runbook", name, stems, f"runbooks in {display_path(runbook_dir(cfg))}")
        raise UsageError(message, hint=hint)
    return load_file(stems[name], kinds)
