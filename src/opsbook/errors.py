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
EXIT_INCONCLUSIVE = 4  # the canary gate held for a human: neither promote nor roll back
EXIT_ABORTED = 143  # the canary gate was stopped by SIGTERM (128 + 15): nothing promoted


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


class SourceUnreadable(CouldNotRun):
    """An environment contract's source (dotenv file, command) could not be read: exit 3.
    The message names the source, never a value it held."""


class ProbeError(OpsbookError):
    """A check could not observe its target (connection refused, timeout, bad TLS...).

    Raised by check kinds; the runner turns it into a result with status ``error``.
    """

    retryable = True


class ReportUnavailable(CouldNotRun):
    """An ``opsbook db`` report that cannot run here: a missing extension or privilege. The report
    says which (``needs``) and how to fix it (the hint); the other reports still run."""

    retryable = False

    def __init__(self, message: str, needs: str, fix: str = "") -> None:
        super().__init__(message, hint=fix)
        self.needs = needs


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


class NotFound(UsageError):
    """What was named (a rollout id, a run id) does not exist: exit 2 like any wrong argument,
    HTTP 404."""

    status = 404


class InvalidTransition(UsageError):
    """An incident cannot go from its status to the one asked for (close an open incident,
    resolve a closed one): the message names the current status and the allowed next ones."""


class IncidentConflict(OpsbookError):
    """The incident changed under you (another operator moved it first): the compare-and-set
    found a different row. Exit 1: nothing was changed; look again and retry if still needed."""

    exit_code = EXIT_FAILED


class PostmortemMissing(OpsbookError):
    """`incident close` refused: the incident's severity requires a post-mortem and none was
    written. Exit 1 like a gate refusing: the input was right, the incident is not ready; write
    it (or close with --without-postmortem REASON) and retry. HTTP 409: the state refuses it."""

    exit_code = EXIT_FAILED
    status = 409


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


# -- config: expressions parsed inside pydantic validators ---------------------------------
# Also ValueError: pydantic turns a ValueError raised in a validator into an error naming the
# key, so these reach the user as a ConfigError with the YAML path.


class AssertionSyntaxError(UsageError, ValueError):
    """An assertion (``status == 200``) does not parse; the message points at the column."""

    def __init__(self, message: str, expr: str, pos: int) -> None:
        pointer = f"{expr}\n{' ' * pos}^"
        super().__init__(f"{message} at column {pos + 1}:\n{pointer}")
        self.pos = pos


class ConditionError(UsageError, ValueError):
    """An alert rule's ``when:`` condition (``check api failing for 5m``) does not parse."""


# -- checks ------------------------------------------------------------------------------------

READ_ONLY = "opsbook runs read-only queries here"
READ_ONLY_HINT = (
    "write one statement that only reads (a SELECT); writes, DDL, VACUUM, ALTER SYSTEM, "
    "transaction control and several statements separated by ';' are refused"
)


class ReadOnlyRefused(ProbeError):
    """The server refused a user's statement because opsbook runs it read-only."""

    retryable = False

    def __init__(self, detail: str) -> None:
        super().__init__(f"{READ_ONLY}: {detail}", hint=READ_ONLY_HINT)


class NotJsonError(ProbeError):
    """``parse_json: true`` and stdout is not JSON; keeps the exit code and stderr's end."""

    retryable = False

    def __init__(self, message: str, exit_code: int | None, stderr: str, *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.exit_code_seen = exit_code
        self.stderr_tail = stderr

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "exit_code": self.exit_code_seen, "stderr": self.stderr_tail}


# -- jobs: backups and drills ------------------------------------------------------------------


class BackupFailed(OpsbookError):
    """The backup or drill started and then failed; nothing is listed as a good backup."""

    exit_code = EXIT_FAILED


class VerifyFailed(OpsbookError):
    """A stored backup is not what its manifest says (checksum, size, decryption, archive)."""

    exit_code = EXIT_FAILED


class QueryFailed(OpsbookError):
    """A drill's query against the restored database failed; the message is what the report shows."""

    exit_code = EXIT_FAILED


class IdentityMismatch(UsageError):
    """The age identity given cannot decrypt this backup."""


class StorageError(CouldNotRun):
    """The destination could not be reached or written; safe to retry."""


# -- smoke suites --------------------------------------------------------------------------------


class UndefinedVariable(OpsbookError):
    """A step uses ``${x}`` that is neither a config var nor saved by an earlier step."""


# -- integrity and migrate ---------------------------------------------------------------------


class SqlError(OpsbookError):
    """An integrity statement failed; ``message`` is the server's primary message, without the
    DSN. The engine turns it into that check's ``error`` outcome; a lost connection is worth
    retrying, a wrong statement is not."""

    def __init__(self, message: str, *, lost: bool = False, hint: str = "") -> None:
        super().__init__(message, hint=hint, retryable=lost)
        self.lost = lost  # the connection is gone: later statements will fail too


class MigrationFailed(OpsbookError):
    """The migration ran and something did not hold (refused audit, rejected data)."""

    exit_code = EXIT_FAILED


# -- store -------------------------------------------------------------------------------------


class IntegrityViolation(StoreError):
    """A unique/primary key collision, whatever the driver calls it. The store's compare-and-set
    writes catch it (another writer was first); one that escapes is a store error."""


# -- rules -------------------------------------------------------------------------------------


class SourceError(CouldNotRun):
    """A rule's source could not be read (Prometheus down, bad query)."""


class MeasurementError(SourceError):
    """A canary metric could not be measured (target down, provider unreachable, no such value):
    counted against the metric's consecutive_error_limit, never a pass."""
class LogSourceUnreachable(CouldNotRun):
    """A log source could not be read: no file matches, a file cannot be opened, the command is
    missing, failed or timed out (exit 3, with the hint)."""


# -- web: every API error is one envelope (web/envelope.py) with one of these types --------------

HTTP_ERROR_TYPES = {400: "BadRequest", 401: "AuthError", 403: "Forbidden", 404: "NotFound",
                    405: "MethodNotAllowed", 409: "Conflict", 413: "PayloadTooLarge", 422: "Unprocessable",
                    429: "TooManyRequests", 500: "InternalError", 503: "Unavailable"}


class ApiError(OpsbookError):
    """An HTTP error with a status code, raised by handlers."""

    def __init__(self, status: int, message: str, *, hint: str = "", retryable: bool | None = None,
                 type_: str | None = None) -> None:
        super().__init__(message, hint=hint, retryable=retryable)
        self.status = status
        self._type = type_ or HTTP_ERROR_TYPES.get(status, "Error")

    @property
    def type(self) -> str:
        return self._type


class BodyTooLarge(ApiError):
    """The request body is over ``api.max_body`` (HTTP 413), refused before any handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes",
                         hint="send a smaller body (api.max_body sets the limit)", type_="PayloadTooLarge")


class Throttled(ApiError):
    """Too many failed authentications from one address (HTTP 429)."""

    def __init__(self, retry_after: int, failures_per_minute: int) -> None:
        super().__init__(429, f"too many failed authentications from this address; retry in {retry_after}s",
                         hint="check the token; the address is refused for up to a minute after "
                              f"{failures_per_minute} failures", retryable=True, type_="TooManyRequests")
        self.headers = {"Retry-After": str(retry_after)}


class AuthError(OpsbookError):
    """No valid credentials (HTTP 401)."""

    status = 401


class Forbidden(OpsbookError):
    """Valid credentials, not enough role (HTTP 403)."""

    status = 403


class CsrfError(OpsbookError):
    """A cookie-authenticated write without the session's CSRF token (HTTP 403)."""

    status = 403


class RunbookFormatError(UsageError):
    """A runbook file is malformed (front matter, an info string, an unknown step kind, an
    undefined ``${param}``, a duplicate step name). The message starts with ``file:line``."""

    def __init__(self, message: str, *, file: str, line: int | None = None, hint: str = "") -> None:
        self.file = file
        self.line = line
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}", hint=hint)
        self.detail = message

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "file": self.file, "line": self.line}


class RunbookLocked(OpsbookError):
    """Another run holds the runbook's ``lock:``; the message names the holder (run id, operator,
    since). Exit 1: nothing ran. HTTP 409: the state refuses it for now."""

    exit_code = EXIT_FAILED
    retryable = True
    status = 409


class ReleaseConflict(OpsbookError):
    """A rollback found the release it starts from no longer current (another rollback claimed it
    first, or a new release went out): the compare-and-set lost. HTTP 409, exit 1."""

    exit_code = EXIT_FAILED
    status = 409


class RunbookRunConflict(OpsbookError):
    """The run is not in a state that allows this (resume a succeeded run, approve a step nobody
    is waiting on, approve your own run): the compare-and-set found another state. Exit 1,
    HTTP 409."""

    exit_code = EXIT_FAILED
    status = 409


class ReplayConflict(OpsbookError):
    """A replay run is not in a state that allows this (resume a finished run, resume a run whose
    runner is alive): the compare-and-set found another state. Exit 1."""

    exit_code = EXIT_FAILED


class ReplayHeaderRefused(OpsbookError):
    """An event field would put a line break into a request header (the idempotency key): that
    event is recorded failed and never sent."""

    exit_code = EXIT_FAILED
