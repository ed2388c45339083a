"""One error tree for opsbook.

Every expected failure is an ``OpsbookError`` carrying a human message, a hint for what to
do next, a retry verdict and the exit code the CLI maps it to. Anything else reaching the
CLI is a bug and is reported as such.
"""

from __future__ import annotations

from typing import Any

# Exit codes, everywhere (PRODUCT.md): 0 passed, 1 something checked failed,
# 2 usage or config error, 3 could not run.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_COULD_NOT_RUN = 3


class OpsbookError(Exception):
    exit_code = EXIT_COULD_NOT_RUN
    retryable = False

    def __init__(self, message: str, *, hint: str = "", retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if retryable is not None:
            self.retryable = retryable

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message": self.message,
            "hint": self.hint,
            "retryable": self.retryable,
        }

    def __str__(self) -> str:
        return self.message


class UsageError(OpsbookError):
    """The command line was wrong (unknown check name, bad flag value)."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """The config file is wrong. ``path`` is the dotted YAML path, ``line``/``column`` 1-based."""

    def __init__(
        self,
        message: str,
        *,
        path: str = "",
        line: int | None = None,
        column: int | None = None,
        file: str | None = None,
        hint: str = "",
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.file = file
        where = path
        if line is not None:
            loc = f"{file or 'config'}:{line}:{column or 1}"
            where = f"{path} ({loc})" if path else loc
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.detail = message

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update({"path": self.path, "line": self.line, "column": self.column})
        return d


class ConfigErrors(UsageError):
    """Several config errors found in one pass, reported together."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {e.message}" for e in errors)
        super().__init__(
            f"{len(errors)} problem(s) in the config:\n{lines}",
            hint="fix the keys named above; `opsbook config validate` rechecks",
        )

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["errors"] = [e.to_dict() for e in self.errors]
        return d


class CouldNotRun(OpsbookError):
    """Something opsbook depends on is unreachable before anything was checked."""

    exit_code = EXIT_COULD_NOT_RUN
    retryable = True


class ProbeError(OpsbookError):
    """A check could not observe its target (connection refused, timeout, bad TLS...).

    Raised by check kinds; the runner turns it into a result with status ``error``.
    """

    retryable = True


class StoreError(CouldNotRun):
    """The result store could not be opened or written."""


class StoreDiskFull(StoreError):
    """The store's disk (or SQLite's size limit, or PostgreSQL's disk) is full. What was
    committed before is kept; the write that failed was rolled back whole."""

    def __init__(self, where: str) -> None:
        super().__init__(f"the store's disk is full: {where}",
                         hint="free space on the disk holding the store (or raise its quota) and rerun; "
                              "what was stored before is kept")


class Busy(OpsbookError):
    """The unit is running now (a scheduled or manual run holds its lease): it is not started twice."""

    retryable = True


class DeliveryError(OpsbookError):
    """A notification could not be delivered to a receiver.

    ``retryable``: 5xx, 408, 429, timeouts and connection errors are worth retrying; other 4xx
    (a wrong routing key, a missing endpoint) are not. ``retry_after`` is the receiver's own
    wish (Retry-After), in seconds. Exit code 1: the thing we tried (delivering) failed.
    """

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str = "", retryable: bool = True,
                 retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint, retryable=retryable)
        self.retry_after = retry_after
        self.status = status

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update({"retry_after": self.retry_after, "status": self.status})
        return d
