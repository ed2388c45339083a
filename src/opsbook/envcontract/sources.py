"""Where an environment's actual values come from: this process's environment, a dotenv file,
or a command printing JSON (an object, a list of {name, value}, fly/railway/kubectl shapes) or
dotenv. Values are held in memory only: nothing here logs, stores or puts one in an error
message (errors name the source and the variable, never a value)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import os
import re
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SourceUnreadable

MAX_BYTES = 4 * 1024 * 1024  # a dotenv file or a command's stdout larger than this is refused
__all__ = ["SourceUnreadable", "Values", "from_command", "from_dotenv", "from_process", "parse_output", "read_source"]



@dataclass(frozen=True)
class Values:
    """One environment's variables: name -> value (None: present, value not revealed)."""

    where: str  # how the source is described in messages: "dotenv .env.prod", "command `fly ...`"
    data: dict[str, str | None]


def from_process(names: list[str] | None = None) -> Values:
    env = os.environ
    data: dict[str, str | None] = dict(env) if names is None else {n: env[n] for n in names if n in env}
    return Values("the process environment", data)


def from_dotenv(path: str | Path, base_dir: Path | None = None) -> Values:
    p = Path(path)
    if base_dir is not None and not p.is_absolute():
        p = base_dir / p
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise SourceUnreadable(f"dotenv {path}: {size} bytes, more than the {MAX_BYTES} read",
                                   hint="point at the .env file itself")
        text = p.read_bytes()[:MAX_BYTES].decode("utf-8")
    except FileNotFoundError:
        raise SourceUnreadable(f"dotenv file {path} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SourceUnreadable(f"cannot read dotenv file {path}: {type(e).__name__}") from None
    return Values(f"dotenv {path}", parse_dotenv(text))


# a line python-dotenv would read as exactly KEY=VALUE: no quotes, escapes, comments, spaces or $
_PLAIN_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*)=([^\s'\"#$\\]*)")


def parse_dotenv(text: str) -> dict[str, str | None]:
    """A dotenv document's variables. Files of plain KEY=VALUE lines (and comments) are read
    directly, several times faster; anything else (quotes, export, multi-line values) by
    python-dotenv, without interpolating from our own environment."""
    plain: dict[str, str | None] = {}
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = _PLAIN_LINE.fullmatch(s)
        if m is None:
            break
        plain[m.group(1)] = m.group(2)
    else:
        return plain
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(stream=io.StringIO(text), interpolate=False).items() if k}


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_bounded(command: str, timeout: float, cwd: Path | None = None) -> bytes:
    """The stdout of ``command`` (a shell line): killed (process group) at ``timeout`` or once it
    has written more than MAX_BYTES; a non-zero exit is an error naming the exit code only
    (stderr may echo a value, so only its length is told)."""
    where = f"command `{command[:60]}`"
    try:
        proc = subprocess.Popen(command, shell=True, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        raise SourceUnreadable(f"cannot start {where}: {e.strerror}") from None
    assert proc.stdout is not None and proc.stderr is not None
    out = bytearray()
    err_bytes = 0  # stderr is drained and counted, never kept: it may echo a value
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, None)
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                _kill(proc)
                raise SourceUnreadable(f"{where} timed out after {timeout:g}s",
                                       hint="raise the source's timeout: or make the command faster")
            for key, _ in sel.select(min(left, 1.0)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                if key.data is None:
                    err_bytes += len(chunk)
                else:
                    out += chunk
                    if len(out) > MAX_BYTES:
                        _kill(proc)
                        raise SourceUnreadable(f"{where} wrote more than {MAX_BYTES} bytes",
                                               hint="print only the variables (JSON or dotenv)")
        try:
            code = proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise SourceUnreadable(f"{where} timed out after {timeout:g}s") from None
    finally:
        sel.close()
        proc.stdout.close()
        proc.stderr.close()
        if proc.poll() is None:
            _kill(proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2)
    if code != 0:
        raise SourceUnreadable(f"{where} exited {code} ({err_bytes} bytes on stderr, not shown: it may hold values)",
                               hint="run it by hand to see why")
    return bytes(out)


def from_command(command: str, timeout: float = 30.0, cwd: Path | None = None) -> Values:
    raw = run_bounded(command, timeout, cwd)
    where = f"command `{command[:60]}`"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceUnreadable(f"{where}: stdout is not UTF-8") from None
    return Values(where, parse_output(text, where))


def parse_output(text: str, where: str) -> dict[str, str | None]:
    """JSON (object, list of entries, kubectl Secret/ConfigMap/List) or, failing that, dotenv."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            doc = json.loads(stripped)
        except ValueError:
            raise SourceUnreadable(f"{where}: stdout looks like JSON but does not parse",
                                   hint="print a JSON object {NAME: value} or a list of {name, value}") from None
        return from_json(doc, where)
    return parse_dotenv(text)


def _scalar(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str | int | float):
        return str(v)
    return json.dumps(v)


def _b64(name: str, v: Any, where: str) -> str:
    try:
        return base64.b64decode(str(v), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise SourceUnreadable(f"{where}: data.{name} is not base64 of UTF-8 text") from None


def from_json(doc: Any, where: str) -> dict[str, str | None]:
    if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        out: dict[str, str | None] = {}
        for item in doc["items"]:
            out.update(from_json(item, where))
        return out
    if isinstance(doc, dict) and doc.get("kind") in ("Secret", "ConfigMap") and "apiVersion" in doc:
        secret = doc["kind"] == "Secret"
        data = doc.get("data") or {}
        res = {str(k): (_b64(str(k), v, where) if secret else _scalar(v)) for k, v in data.items()}
        res.update({str(k): _scalar(v) for k, v in (doc.get("stringData") or {}).items()})
        return res
    if isinstance(doc, dict):
        for key in ("variables", "secrets", "env"):  # wrapped shapes: {"variables": {...}}
            if len(doc) == 1 and key in doc:
                return from_json(doc[key], where)
        return {str(k): _scalar(v) for k, v in doc.items()}
    if isinstance(doc, list):
        out = {}
        for i, entry in enumerate(doc):
            if not isinstance(entry, dict):
                raise SourceUnreadable(f"{where}: entry {i} is not an object")
            name = entry.get("name", entry.get("Name", entry.get("key", entry.get("Key"))))
            if not isinstance(name, str):
                raise SourceUnreadable(f"{where}: entry {i} has no name", hint="entries look like {name, value}")
            value = entry.get("value", entry.get("Value"))
            out[name] = _scalar(value)  # fly: {Name, Digest, CreatedAt}: present, value not revealed
        return out
    raise SourceUnreadable(f"{where}: the JSON is neither an object nor a list")


def read_source(spec: Any, base_dir: Path | None = None, names: list[str] | None = None) -> Values:
    """A config ``SourceSpec`` (or CLI override) read into ``Values``."""
    if spec.command is not None:
        return from_command(spec.command, spec.timeout, base_dir)
    if spec.dotenv is not None:
        return from_dotenv(spec.dotenv, base_dir)
    return from_process(names)
