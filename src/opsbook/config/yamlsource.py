"""Load YAML while remembering where every key and value came from.

pydantic reports errors by path (``checks.api.expect.1``); the user wants ``line:column``.
We compose the node tree ourselves and keep a map from path to the node's start mark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import ConfigError

try:  # the C loader is ~10x faster on large configs
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path = tuple[str | int, ...]


@dataclass
class Source:
    """Parsed YAML plus the positions of every node, keyed by path."""

    data: Any
    file: str
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path, tuple[int, int]] = field(default_factory=dict)  # where a key is written

    def where(self, path: Path, key: bool = False) -> tuple[int, int] | None:
        """The closest known position for ``path`` (walking up to the parent).

        ``key=True`` prefers the position of the key itself (for "unknown key" errors)."""
        p = tuple(path)
        if key and p in self.key_marks:
            return self.key_marks[p]
        while True:
            if p in self.marks:
                return self.marks[p]
            if not p:
                return None
            p = p[:-1]


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def load_yaml(text: str, file: str = "opsbook.yaml") -> Source:
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise ConfigError(
            f"YAML syntax: {e.problem or e.context}",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            file=file,
            hint="check indentation and quoting around this position",
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"YAML syntax: {e}", file=file) from None
    src = Source(data=None, file=file)
    if node is None:
        src.data = {}
        return src
    constructor = yaml.SafeLoader("")  # only used to build scalars with YAML 1.1 rules

    def build(n: yaml.Node, path: Path) -> Any:
        src.marks[path] = (n.start_mark.line + 1, n.start_mark.column + 1)
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            constructor.flatten_mapping(n)
            for k_node, v_node in n.value:
                key = constructor.construct_object(k_node, deep=True)
                if not isinstance(key, str | int | float | bool):
                    raise ConfigError(
                        "mapping keys must be plain scalars",
                        path=dotted(path),
                        line=k_node.start_mark.line + 1,
                        column=k_node.start_mark.column + 1,
                        file=file,
                    )
                key = str(key)
                if key in out:
                    raise ConfigError(
                        f"duplicate key {key!r}",
                        path=dotted((*path, key)),
                        line=k_node.start_mark.line + 1,
                        column=k_node.start_mark.column + 1,
                        file=file,
                    )
                src.key_marks[(*path, key)] = (k_node.start_mark.line + 1, k_node.start_mark.column + 1)
                out[key] = build(v_node, (*path, key))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, (*path, i)) for i, v in enumerate(n.value)]
        return constructor.construct_object(n, deep=True)

    src.data = build(node, ())
    return src
