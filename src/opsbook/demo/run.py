"""``opsbook demo``: a narrated tour running the real CLI against the bundled sample service.

Every step runs ``python -m opsbook ...`` as a subprocess and lets its output through, so what
the user sees is exactly what they would get typing the printed command.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx

READY_AFTER = 3  # seconds the service answers 503 on /readyz, so the ready gate has to wait


@dataclass
class Step:
    title: str
    args: list[str]
    expect_exit: int
    why: str = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(dest: Path, port: int, pace: dict[str, str] | None = None) -> Path:
    """The bundled demo.yaml with ``port:`` and ``base_url:`` pointing at our service, and the
    ``vars:`` named in ``pace`` (every, alert_for, rules_every) replaced."""
    text = resources.files("opsbook.demo").joinpath("demo.yaml").read_text()
    text = re.sub(r'(?m)^  port: .*$', f'  port: "{port}"', text, count=1)
    text = re.sub(r'(?m)^  base_url: .*$', f'  base_url: "http://127.0.0.1:{port}"', text,
                  count=1)
    for name, value in (pace or {}).items():
        text = re.sub(rf'(?m)^  {name}: .*$', f'  {name}: "{value}"', text, count=1)
    dest.write_text(text)
    copy_runbooks(dest.parent / "runbooks")
    return dest


def copy_runbooks(dest: Path) -> None:
    """The demo's runbooks (demo/runbooks/*.md) next to the config, as runbooks.dir expects."""
    dest.mkdir(exist_ok=True)
    for f in resources.files("opsbook.demo").joinpath("runbooks").iterdir():
        if f.name.endswith(".md"):
            (dest / f.name).write_text(f.read_text())


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _say(text: str = "") -> None:
    with contextlib.suppress(OSError):  # the terminal went away (SIGHUP): keep cleaning up regardless
        print(text, flush=True)  # flush: our lines must not overtake the subprocesses' output


def start_service(work: Path, port: int, ready_after: float = READY_AFTER,
                  fault_file: Path | None = None) -> subprocess.Popen[bytes]:
    """Start the sample service on ``port`` with its database in ``work``; wait for /health."""
    log = (work / "service.log").open("wb")
    cmd = [sys.executable, "-m", "opsbook.demo.app", "--port", str(port),
           "--db", str(work / "demo.db"), "--ready-after", str(ready_after)]
    if fault_file is not None:
        cmd += ["--fault-file", str(fault_file)]
    # its own session: a Ctrl-C in the terminal reaches us, and we stop it in order
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work,
                            start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_service(proc)
    raise RuntimeError(f"the sample service did not start; see {work / 'service.log'}")


def stop_service(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_step(step: Step, config: Path, work: Path) -> bool:
    _say()
    _say(f"== {step.title}")
    if step.why:
        _say(f"   {step.why}")
    args = [*step.args, "--config", _shown(config)]
    _say(f"$ opsbook {shlex.join(args)}")
    rc = subprocess.run([sys.executable, "-m", "opsbook", *step.args, "--config", str(config)],
                        cwd=Path.cwd(), check=False).returncode
    ok = rc == step.expect_exit
    note = "as expected" if ok else f"expected exit {step.expect_exit}"
    _say(f"   -> exit {rc} ({note})")
    return ok


def _wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


def set_fault(url: str, mode: str) -> None:
    _say(f"$ curl -X POST {url}/admin/fault -d '{{\"mode\": \"{mode}\"}}'")
    httpx.post(url + "/admin/fault", json={"mode": mode}, timeout=5).raise_for_status()


def run_demo(workdir: Path | None = None, keep_running: bool = False, *, tour: bool = True,
             serve: bool = False, fault_after: float = 60.0, linger: float | None = 0.0,
             fast: bool = False) -> int:
    """Run the tour, then (``serve``) the live part: `opsbook serve` with its dashboard, a fault
    after ``fault_after`` s, the alert firing, notifying and resolving (demo/live.py); ``linger``
    keeps the daemon running afterwards (None: until Ctrl-C). 0 when everything behaved as
    expected (the tour's fault step exits 1), else 1."""
    if workdir is None:
        base = Path.cwd() / ".opsbook-demo"
        base.mkdir(exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    else:
        work = workdir.resolve()
        work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    from .live import FAST, run_live

    config = write_config(work / "opsbook.yaml", port, FAST if fast else None)
    _say(f"opsbook demo: work directory {_shown(work)}")
    _say(f"starting the sample service on {url} (not ready for its first {READY_AFTER}s)")
    ok = True
    proc = start_service(work, port)
    try:
        if tour:
            ok &= _tour(config, work, url)
        else:
            _wait_ready(url)  # the daemon must start on a healthy service, or it alerts too early
        if serve:
            ok &= run_live(config, work, url, free_port(), fault_after=fault_after, linger=linger, fast=fast,
                           set_fault=set_fault, shown=_shown)
        if keep_running:
            _say(f"\nthe service keeps running on {url}; press Ctrl-C to stop it")
            while proc.poll() is None:
                time.sleep(0.5)
    except KeyboardInterrupt:
        _say("\ninterrupted")
        ok = False
    finally:
        stop_service(proc)
        _say("stopped the sample service")
    _say("demo: every step behaved as expected" if ok else "demo: some step did not behave as expected")
    return 0 if ok else 1


def _tour(config: Path, work: Path, url: str) -> bool:
    """The scripted CLI tour: gate, checks, smoke, integrity, backup, drill, a fault and its failure."""
    ok = True
    ok &= run_step(Step("Wait for readiness, as a deploy pipeline would",
                        ["gate", "ready", "api-ready", "--timeout", "30s", "--interval", "1s"],
                        0, "polls /readyz until it answers 200 'ready'"), config, work)
    ok &= run_step(Step("Run every check once", ["check"], 0,
                        "http, tcp, sqlite and command checks from one YAML file"),
                   config, work)
    ok &= run_step(Step("Run the login smoke suite", ["smoke", "login", "--base-url", url], 0,
                        "the saved access token is reused and shown only as ***"),
                   config, work)
    ok &= run_step(Step("Validate the data: the integrity suite", ["integrity", "run", "core"], 0,
                        "unique, not_null, references, range and row_count as set-based SQL"),
                   config, work)
    ok &= run_step(Step("Back up the database", ["backup", "run", "nightly"], 0,
                        "SQLite online backup -> zstd, with a manifest of row counts"),
                   config, work)
    ok &= run_step(Step("Prove the backup restores: a drill", ["drill", "run", "restore-test"], 0,
                        "restore to a temp file, integrity_check, row counts vs the manifest, "
                        "the integrity suite, RTO; writes a drill log"), config, work)
    ok &= run_step(Step("Run a runbook: readiness gate, an HTTP read, a shell step, all recorded",
                        ["runbook", "run", "verify-service", "-p", f"base_url={url}", "--yes", "--as", "demo"], 0,
                        "runbooks/verify-service.md is the procedure; each step leaves an immutable record"),
                   config, work)
    ok &= run_step(Step("Its record, as Markdown for a ticket", ["runbook", "record", "1"], 0), config, work)
    _say()
    _say("== Break the service: the database 'goes down'")
    set_fault(url, "down")
    ok &= run_step(Step("Check again: readiness fails, naming the failing assertion",
                        ["check"], 1), config, work)
    _say()
    _say("== Repair it")
    set_fault(url, "none")
    _say()
    _say("Try next:")
    for line in (
        f"opsbook check --config {_shown(config)} --json",
        f"opsbook check api-ready --config {_shown(config)}",
        f"opsbook smoke login --config {_shown(config)} --junit smoke.xml",
        f"opsbook backup list nightly --config {_shown(config)}",
        f"opsbook runbook show verify-service --config {_shown(config)}",
        f"opsbook history api-ready --config {_shown(config)}",
        f"python -m opsbook.demo.app --port 8080 --db {_shown(work / 'demo.db')}",
        "opsbook demo --no-tour --serve    # the daemon + dashboard: watch an alert fire, notify, resolve",
    ):
        _say(f"  $ {line}")
    return ok


if __name__ == "__main__":
    sys.exit(run_demo())
