"""Documentation is part of the product: an undocumented kind, key or command fails the build."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import click
import pytest
from pydantic import BaseModel

from opsbook.checks.registry import KINDS
from opsbook.cli import cli
from opsbook.config.models import config_model
from opsbook.ops.load import kinds_info
from opsbook.plugins import REGISTRIES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _models_in(annotation: typing.Any) -> list[type[BaseModel]]:
    out: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    for arg in typing.get_args(annotation):
        out.extend(_models_in(arg))
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated or isinstance(annotation, types.UnionType):
        pass
    return out


def config_keys(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """Every key name a user can write, found by walking the pydantic models."""
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(field.alias or name)
        for sub in _models_in(field.annotation):
            if sub.__name__.endswith("Params") or sub.__name__ == "CheckConfig":
                continue  # kind params are documented on the kind's page
            keys |= config_keys(sub, seen)
    return keys


def _documented(text: str, word: str) -> bool:
    return re.search(r"`" + re.escape(word) + r"[`:( =]", text) is not None


def test_every_check_kind_has_a_page_listing_its_keys_and_observations() -> None:
    missing = []
    for name, kind in KINDS.items():
        page = DOCS / "checks" / f"{name}.md"
        if not page.exists():
            missing.append(f"docs/checks/{name}.md")
            continue
        text = page.read_text()
        for key, field in kind.Params.model_fields.items():
            if not _documented(text, field.alias or key):
                missing.append(f"docs/checks/{name}.md: key `{field.alias or key}`")
        for obs in kind.observations:
            if not _documented(text, obs):
                missing.append(f"docs/checks/{name}.md: observation `{obs}`")
    assert not missing, "undocumented:\n" + "\n".join(missing)


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.what)
def test_every_registered_kind_has_a_page_naming_it_and_its_keys(registry: typing.Any) -> None:
    # every registry (opsbook/plugins.py): an undocumented receiver or integrity type fails
    # like an undocumented check kind
    missing = []
    for name in registry:
        rel = registry.docs_page(name)
        page = DOCS / rel
        if not page.exists():
            missing.append(f"docs/{rel}")
            continue
        text = page.read_text()
        if not _documented(text, name):
            missing.append(f"docs/{rel}: {registry.what} `{name}`")
        model = registry.model(name)
        for key, field in (model.model_fields.items() if model is not None else ()):
            if not _documented(text, field.alias or key):
                missing.append(f"docs/{rel}: {name} key `{field.alias or key}`")
    assert not missing, "undocumented:\n" + "\n".join(missing)


def test_every_config_key_is_documented() -> None:
    # docs/config.md is the reference; a section with its own page (backups, integrity...) may
    # document its keys there
    text = "\n".join(p.read_text() for p in DOCS.rglob("*.md") if p.parent.name != "checks")
    keys = config_keys(config_model(kinds_info()))
    missing = sorted(k for k in keys if not _documented(text, k))
    assert not missing, f"docs/ does not mention: {missing}"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out: list[tuple[tuple[str, ...], click.Command]] = []
    for name, cmd in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, path))
        else:
            out.append((path, cmd))
    return out


@pytest.mark.parametrize(("path", "cmd"), _commands(cli), ids=lambda v: "-".join(v) if isinstance(v, tuple) else "")
def test_every_cli_command_has_a_page_with_its_options(path: tuple[str, ...], cmd: click.Command) -> None:
    page = DOCS / "commands" / f"{'-'.join(path)}.md"
    assert page.exists(), f"missing {page.relative_to(DOCS.parent)}"
    text = page.read_text()
    assert f"opsbook {' '.join(path)}" in text
    for param in cmd.params:
        if isinstance(param, click.Option):
            longest = max(param.opts, key=len)
            assert longest in text, f"{page.name} does not document {longest}"


def test_docs_index_links_every_page() -> None:
    index = (DOCS / "README.md").read_text()
    for page in sorted(DOCS.rglob("*.md")):
        rel = page.relative_to(DOCS).as_posix()
        if rel != "README.md":
            assert rel in index, f"docs/README.md does not link {rel}"
