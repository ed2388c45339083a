"""The command line: ``opsbook = "opsbook.cli:main"``. A thin surface over the operations layer
(opsbook.ops): each command parses its options, calls one operation and renders its result."""

from .main import cli, main

__all__ = ["cli", "main"]
