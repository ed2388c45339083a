"""One error tree: every exception class opsbook defines lives in src/opsbook/errors.py.

A class named with a leading underscore is a module's private control-flow signal (caught a
few lines below where it is raised, never shown to anyone) and may stay where it is used.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import pkgutil
from pathlib import Path

import opsbook
from opsbook import errors

SRC = Path(opsbook.__file__).parent
BUILTIN_EXCEPTIONS = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


def test_every_exception_class_is_defined_in_errors() -> None:
    for mod in pkgutil.walk_packages(opsbook.__path__, "opsbook."):
        if not mod.name.endswith("__main__"):
            importlib.import_module(mod.name)
    outside = sorted({f"{c.__module__}.{c.__qualname__}" for c in _subclasses(BaseException)
                      if c.__module__.startswith("opsbook") and c.__module__ != errors.__name__
                      and not c.__name__.startswith("_")})
    assert outside == [], f"define these in src/opsbook/errors.py (one error tree): {outside}"


def test_no_exception_class_statement_outside_errors() -> None:
    """The same by reading the source: also finds a class defined inside a function."""
    tree_names = {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, BaseException)}
    known = BUILTIN_EXCEPTIONS | tree_names
    outside = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases}
            if bases & known or node.name.endswith(("Error", "Exception")):
                outside.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
    assert outside == [], f"define these in src/opsbook/errors.py (one error tree): {outside}"


def test_the_tree_has_a_verdict_for_each() -> None:
    """Every class of the tree is an OpsbookError (message, hint, retry verdict, exit code);
    the config-expression ones are also ValueError, which pydantic validators need."""
    for name, cls in vars(errors).items():
        if isinstance(cls, type) and issubclass(cls, BaseException):
            assert issubclass(cls, errors.OpsbookError), name
            assert cls.exit_code in (errors.EXIT_FAILED, errors.EXIT_USAGE, errors.EXIT_COULD_NOT_RUN), name
    assert issubclass(errors.AssertionSyntaxError, ValueError)
    assert issubclass(errors.ConditionError, ValueError)
