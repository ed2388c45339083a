"""One registry pattern for every pluggable kind (check kinds, resources, receivers, integrity
types, smoke step methods, and the kinds to come).

A kind is one module holding its config model and its implementation; its registry is one
line per kind, ``name: plugin``, in the kind's ``registry.py``. A ``Registry`` is a dict of
those plugins (so ``KINDS["http"]`` and ``for name in KINDS`` read as before) that also knows
what it holds ("receiver"), each plugin's config model and its documentation page, and looks a
name up with a did-you-mean error. tests/test_docs_coverage.py walks every registry (listed in
opsbook/plugins.py): a kind without its page, or with an undocumented key, fails the build.

It imports nothing heavy: config validation builds its models from registries, so importing
one must stay cheap (a plugin imports its heavy libraries inside the functions that use them).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .errors import UsageError

if TYPE_CHECKING:
    from pydantic import BaseModel

T = TypeVar("T")


def _no_model(plugin: Any) -> type[BaseModel] | None:
    return None


class Registry(dict[str, T], Generic[T]):
    """``name -> plugin`` for one pluggable kind.

    ``what`` names one entry in messages ("check kind", "receiver kind"); ``docs`` is the page
    documenting an entry, relative to docs/, with ``{name}`` filled in ("receivers/{name}.md");
    ``model`` gets a plugin's config model (the keys a user writes under the kind's key), or
    None for kinds without one.
    """

    def __init__(self, what: str, plugins: Mapping[str, T], *, docs: str,
                 model: Callable[[T], type[BaseModel] | None] = _no_model) -> None:
        super().__init__(plugins)
        self.what = what
        self.docs = docs
        self._model = model

    def model(self, name: str) -> type[BaseModel] | None:
        return self._model(self.lookup(name))

    def models(self) -> dict[str, type[BaseModel]]:
        """Every plugin's config model, in registry order (kinds without one are left out)."""
        out = {}
        for name, plugin in self.items():
            m = self._model(plugin)
            if m is not None:
                out[name] = m
        return out

    def docs_page(self, name: str) -> str:
        return self.docs.format(name=name)

    def suggestion(self, name: str) -> str:
        """`` (did you mean 'http'?)`` when a registered name is close, else ""."""
        close = difflib.get_close_matches(name, list(self), n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""

    def lookup(self, name: str) -> T:
        """The plugin named ``name``; a UsageError naming the closest ones when there is none."""
        try:
            return self[name]
        except KeyError:
            raise UsageError(f"no {self.what} named {name!r}{self.suggestion(name)}",
                             hint=f"one of: {', '.join(self)}") from None

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {list(self)})"
