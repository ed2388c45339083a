"""opsbook installs like a real package: every direct import is a declared dependency, and the
wheel alone (templates, vendored htmx, the demo's files inside it) runs from a fresh virtualenv
outside the checkout."""

from __future__ import annotations

import ast
import http.server
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "opsbook"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _runtime_imports() -> dict[str, set[str]]:
    """Top-level names of the third-party modules src/opsbook imports at run time (not the ones
    under ``if TYPE_CHECKING:``, which only the type checker reads) -> the files importing them."""
    found: dict[str, set[str]] = {}

    def visit(node: ast.AST, path: Path) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child, path)
            return
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top != "opsbook":
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
        for child in ast.iter_child_nodes(node):
            visit(child, path)

    for path in SRC.rglob("*.py"):
        visit(ast.parse(path.read_text(), str(path)), path)
    return found


def test_every_direct_import_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_norm(re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0]) for d in project["dependencies"]}
    dists = importlib.metadata.packages_distributions()
    missing = {}
    for module, files in sorted(_runtime_imports().items()):
        owners = {_norm(d) for d in dists.get(module, [])}
        if not owners & declared:
            missing[module] = (sorted(owners), sorted(files))
    assert missing == {}, f"imported but not in [project.dependencies]: {missing}"


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    if not Path(uv).exists():
        pytest.skip("uv is not installed (make test installs it)")
    return uv


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without this checkout's virtualenv and without the variables
    `opsbook init` reads (DATABASE_URL and friends), so the starter is the plain one."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "DATABASE_URL", "POSTGRES_URL", "PG_DSN", "REDIS_URL",
            "AMQP_URL", "RABBITMQ_URL", "CLOUDAMQP_URL", "S3_BUCKET", "BASE_URL", "API_URL", "OPSBOOK_STORE",
            "OPSBOOK_CONFIG", "OPSBOOK_ENV")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env | extra


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the wheel, the bin directory of a fresh virtualenv with only that wheel and its
    dependencies installed). Dependencies are pinned to uv.lock and come from uv's cache."""
    uv = _uv()
    base = tmp_path_factory.mktemp("wheel")
    env = _clean_env()

    def run(*args: str) -> None:
        r = subprocess.run(args, cwd=base, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{' '.join(args)}\n{r.stdout}\n{r.stderr}"

    run(uv, "build", "--wheel", "--out-dir", str(base / "dist"), str(ROOT))
    wheel = next((base / "dist").glob("opsbook-*.whl"))
    run(uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--project", str(ROOT),
        "-q", "-o", str(base / "constraints.txt"))
    run(uv, "venv", "-q", "--python", sys.executable, str(base / "venv"))
    run(uv, "pip", "install", "-q", "--python", str(base / "venv" / "bin" / "python"),
        "-c", str(base / "constraints.txt"), str(wheel))
    yield wheel, base / "venv" / "bin"


@pytest.mark.slow
def test_the_wheel_holds_every_data_file(installed: tuple[Path, Path]) -> None:
    """Templates, static files, the demo's config: every file of src/opsbook that is not Python."""
    names = set(zipfile.ZipFile(installed[0]).namelist())
    on_disk = {str(p.relative_to(SRC.parent)) for p in SRC.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert on_disk - names == set()
    for needed in ("opsbook/web/static/htmx.min.js", "opsbook/web/static/style.css",
                   "opsbook/web/templates/base.html", "opsbook/demo/demo.yaml", "opsbook/store/schema.py"):
        assert needed in names


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200 if self.path in ("/health", "/readyz") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def service() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_installed_wheel_runs_outside_the_checkout(installed: tuple[Path, Path], service: str,
                                                   tmp_path: Path) -> None:
    _, bin_dir = installed
    opsbook = str(bin_dir / "opsbook")
    env = _clean_env(BASE_URL=service)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([opsbook, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    where = subprocess.run([str(bin_dir / "python"), "-c", "import opsbook; print(opsbook.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(bin_dir.parent), where.stdout + where.stderr

    r = run("--version")
    assert r.returncode == 0 and "0.1.0" in r.stdout, r.stderr
    r = run("init")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "opsbook.yaml").is_file()
    r = run("check", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is True and {x["name"] for x in doc["results"]} == {"api-live", "api-ready"}
    r = run("demo", "--help")
    assert r.returncode == 0 and "sample service" in r.stdout, r.stderr

    # the dashboard's templates and vendored htmx are served from the installed package
    port = free_port()
    proc = subprocess.Popen([opsbook, "serve", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "opsbook serve did not start"
                time.sleep(0.1)
        assert page.status_code == 200 and "<form" in page.text
        htmx = httpx.get(f"http://127.0.0.1:{port}/static/htmx.min.js", timeout=5)
        assert htmx.status_code == 200 and "htmx" in htmx.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
