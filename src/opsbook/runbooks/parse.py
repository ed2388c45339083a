"""PLACEHOLDER (helper rbr) until the parser helper lands: the lead replaces this file. Enough of
the format (docs/runbooks.md) for the runner's tests: front matter, ``kind {attrs}`` fences,
task-list items, ``## Rollback``."""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from ..durations import parse_duration
from ..errors import RunbookFormatError
from .model import Checklist, Item, Param, Prose, Runbook, Section, Step

_FENCE = re.compile(r"^(`{3,})\s*([A-Za-z_][\w-]*)?\s*(\{.*\})?\s*$")
_TASK = re.compile(r"^\s*[-*] \[[ xX]\] (.+)$")


def _attrs(text: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in shlex.split(text.strip()[1:-1]) if "=" in p)


def parse(text: str, path: Path) -> Runbook:
    lines = text.splitlines()
    meta: dict[str, Any] = {}
    start = 0
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if end is None:
            raise RunbookFormatError("front matter is not closed by ---", file=str(path), line=1)
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
        start = end + 1
    items: dict[Section, list[Item]] = {"main": [], "rollback": []}
    section: Section = "main"
    n_steps = n_checks = 0
    i = start
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = "rollback" if line[3:].strip().lower() == "rollback" else "main"
        m = _FENCE.match(line)
        if m:
            close = next((j for j in range(i + 1, len(lines)) if lines[j].startswith(m.group(1))), len(lines))
            body = "\n".join(lines[i + 1:close]) + "\n"
            kind, attrs = m.group(2), _attrs(m.group(3)) if m.group(3) else {}
            if kind and (m.group(3) or kind in ("sh", "bash")):
                n_steps += 1
                items[section].append(Step(
                    attrs.get("name", f"step-{n_steps}"), "sh" if kind == "bash" else kind, body, i + 1, section,
                    attrs, attrs.get("mutates") == "true", attrs.get("confirm") == "true",
                    parse_duration(attrs["timeout"]) if "timeout" in attrs else None, int(attrs.get("retries", 0)),
                    tuple(e.strip() for e in attrs["expect"].split(";")) if "expect" in attrs else (),
                    tuple((s.split("=", 1)[0].strip(), s.split("=", 1)[1].strip() if "=" in s else "")
                          for s in attrs["save"].split(",")) if "save" in attrs else (),
                    attrs.get("when"), attrs.get("continue_on_error") == "true"))
            else:
                items[section].append(Prose(body, i + 1, section))
            i = close + 1
            continue
        t = _TASK.match(line)
        if t:
            n_checks += 1
            items[section].append(Checklist(f"check-{n_checks}", t.group(1).strip(), i + 1, section))
        elif line.strip():
            items[section].append(Prose(line, i + 1, section))
        i += 1
    params = []
    for name, spec in (meta.get("params") or {}).items():
        spec = spec if isinstance(spec, dict) else {"default": spec}
        params.append(Param(name, spec.get("type", "str"), spec.get("default"), tuple(spec.get("choices", ())),
                            bool(spec.get("required", False)), bool(spec.get("secret", False)),
                            spec.get("description", "")))
    return Runbook(path.stem, path, meta.get("title", path.stem), hashlib.sha256(text.encode()).hexdigest(),
                   meta.get("description", ""), tuple(params), tuple(meta.get("env") or ()), meta.get("lock"),
                   meta.get("schedule"), meta.get("owner"), tuple(items["main"]), tuple(items["rollback"]))
