#!/bin/sh
# Set up a development environment from a fresh clone: make sure `uv` exists, then create
# .venv from the committed uv.lock. Idempotent: a second run is a fast no-op.
# POSIX sh; called by `make demo|test|lint|bench`.
set -eu

cd "$(dirname "$0")/.."

# A `pip install --user uv` lands here; make sure we find it.
PATH="$HOME/.local/bin:$PATH"
export PATH

if ! command -v uv >/dev/null 2>&1; then
    echo "setup: uv not found; installing it with pip" >&2
    if command -v python3 >/dev/null 2>&1; then
        PY=python3
    else
        PY=python
    fi
    # --user first (no root needed); fall back to a plain install (venvs, pyenv, containers),
    # and to --break-system-packages for an externally managed system Python.
    "$PY" -m pip install --quiet --user uv 2>/dev/null \
        || "$PY" -m pip install --quiet uv 2>/dev/null \
        || "$PY" -m pip install --quiet --user --break-system-packages uv
    hash -r 2>/dev/null || true
    if ! command -v uv >/dev/null 2>&1; then
        # pip may have put it next to the interpreter
        PATH="$("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
        export PATH
    fi
    command -v uv >/dev/null 2>&1 || { echo "setup: could not install uv" >&2; exit 1; }
fi

# --frozen: install exactly what uv.lock says, never re-lock. Includes the dev group.
# --compile-bytecode, and compileall for our own sources (an editable install): every command
# is a new interpreter, and where bytecode is not written on import (PYTHONDONTWRITEBYTECODE, a
# read-only checkout) each one would compile ~250 modules from source first: 0.6 s a command.
uv sync --frozen --quiet --compile-bytecode
.venv/bin/python -m compileall -q -j 0 src >/dev/null
echo "setup: ok ($(uv --version), $(.venv/bin/python --version 2>&1))"
