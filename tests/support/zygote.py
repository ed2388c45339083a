"""A warm parent for the CLI tests' `opsbook` processes.

Each `opsbook` command is a new interpreter that spends ~0.8 s importing opsbook and building
the config model's classes before it does anything; the suite runs some 350 of them. This
process does that once, then forks a child per command: the child is a real, separate process
running the real entry point (``opsbook.cli.main.main``) with the command's argv, working
directory, environment and stdin/stdout/stderr (passed over the socket as file descriptors),
and it exits with the command's exit code, so what a test sees is what `python -m opsbook`
would give. It never loads a config itself: no secret is registered, no store opened before
a fork. tests/support/clirun.py starts one per test process; OPSBOOK_TEST_SUBPROCESS=1 runs
each command as a plain subprocess instead.

Run as ``python tests/support/zygote.py SOCKET``: prints "ready" once it listens.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import sys
import traceback


def _child(conn: socket.socket) -> None:
    """In the forked child: become the command, run it, report the exit code, exit."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the command waits for its own children
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    code = 1
    try:
        head, fds, _, _ = socket.recv_fds(conn, 16, 3)
        size = int(head.decode())
        body = b""
        while len(body) < size:
            chunk = conn.recv(size - len(body))
            if not chunk:
                os._exit(1)
            body += chunk
        req = json.loads(body)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = ["opsbook", *req["args"]]
        conn.sendall(f"{os.getpid()}\n".encode())
        from opsbook.cli.main import main

        try:
            main()
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:  # what the interpreter would print for an uncaught exception
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(OSError):
            conn.sendall(f"exit {code}\n".encode())
        os._exit(code)


def serve(path: str) -> None:
    import opsbook.cli.main  # noqa: F401  (what every command imports)
    from opsbook.plugins import PLUGINS

    PLUGINS.model  # noqa: B018  (and the config model's classes, built once here)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(64)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        if os.fork() == 0:
            srv.close()
            _child(conn)
        conn.close()


if __name__ == "__main__":
    serve(sys.argv[1])
